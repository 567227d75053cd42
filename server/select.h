/* select.h - choose the package for a device from the package headers.
 *
 * Pure function over an array of validated package headers (the index
 * keeps one per package in the cache); only header fields count, never
 * file names. The device runs core C (name, chip, number) and script S.
 * Packages of other projects are ignored, and so are packages of the
 * other kind: a vendor device (package_format = vendor) sees only vendor
 * packages (PKG_F_VENDOR, index.h), an ota device only signed ones. Among the packages whose
 * project, core name and chip equal the device's:
 *   T = the highest to_core, V = the highest script version among the
 *   packages that reach T (the current release).
 * Only packages with to_core == T and script == V are candidates:
 *   C >  T           -> SRV_PICK_DEVICE_NEWER (device ahead of the release)
 *   C == T, S >= V   -> SRV_PICK_UP_TO_DATE (a newer script is never
 *                       downgraded)
 *   C == T, S <  V   -> script-only package (from == to == T, no core
 *                       section), or a full core + script from any core
 *   C <  T, S <  V   -> core + script, from C or full from any core
 *   C <  T, S == V   -> core with or without script, from C or any
 *   C <  T, S >  V   -> core without script only, from C or any; none ->
 *                       SRV_PICK_SCRIPT_DOWNGRADE
 * A core delta is a candidate only if the device can apply deltas
 * (dfota=1). Among candidates the smallest package wins (bytes on the air
 * are what a device pays for); ties go to the lower array index, so the
 * choice is deterministic. No candidate -> SRV_PICK_NO_BASE. No package
 * for the project at all -> SRV_PICK_NO_RELEASE; packages for the project
 * but none for the device's core name and chip -> SRV_PICK_OTHER_LINE.
 */
#ifndef SRV_SELECT_H
#define SRV_SELECT_H

#include "pkg.h"

struct srv_device {
    const char *project;
    struct ver_core core;
    struct ver_script script;
    int allow_delta;
    int vendor;          /* the project's package_format is vendor */
};

enum srv_pick {
    SRV_PICK_PACKAGE,
    SRV_PICK_UP_TO_DATE,
    SRV_PICK_DEVICE_NEWER,
    SRV_PICK_SCRIPT_DOWNGRADE,
    SRV_PICK_NO_BASE,
    SRV_PICK_NO_RELEASE,
    SRV_PICK_OTHER_LINE,
};

struct srv_selection {
    enum srv_pick pick;
    size_t index;               /* into the array, valid for SRV_PICK_PACKAGE */
    uint32_t target_core;       /* T, valid unless NO_RELEASE / OTHER_LINE */
    struct ver_script target_script; /* V, same */
};

void srv_select(const struct pkg_header *const *pkgs, size_t n, const struct srv_device *dev,
                struct srv_selection *out);

/* Fixed phrase for a pick, for log lines and diagnostic payloads. */
const char *srv_pick_name(enum srv_pick p);

#endif
