/* vendor.h - vendor packages: opaque update files for a device's own engine.
 *
 * A vendor package (e.g. a module platform's .dfota.bin) lives in the
 * flat cache as two files: NAME.vendor, the bytes served unchanged, and
 * NAME.vendor.ini, its manifest, written last (its presence makes the
 * package live):
 *   project = DEMOPROJ
 *   from_core = Luat_V0017_RDA8910      ; or "any" for a full image
 *   to_core = Luat_V0020_RDA8910
 *   script_version = 1.2.0
 *   sha256 = <64 hex digits of NAME.vendor>
 *   size = <bytes of NAME.vendor>
 * No signature of ours: the server checks size and SHA-256 at load and
 * builds a pkg_header equivalent (flag PKG_F_VENDOR) so the selection
 * rules apply unchanged; a device's project (package_format) says which
 * kind it may be offered. Parsing is bounded and strict (every key once
 * at most, all required, core names of one line).
 */
#ifndef VENDOR_H
#define VENDOR_H

#include "crypto.h"
#include "pkg.h"
#include "ver.h"

#define VENDOR_SUFFIX ".vendor"
#define VENDOR_MANIFEST_SUFFIX ".vendor.ini"
#define VENDOR_MANIFEST_MAX 4096 /* bytes of a manifest file */
#define VENDOR_SIZE_MAX ((uint64_t)PKG_IMAGE_MAX * 2)

struct vendor_manifest {
    char project[VER_PROJECT_MAX];
    int from_any;              /* a full image for any core */
    struct ver_core from_core; /* unless from_any */
    struct ver_core to_core;
    struct ver_script script;
    uint8_t sha256[CRYPTO_HASH_LEN];
    uint64_t size;
};

/* text need not be NUL-terminated; name is used in messages
 * ("name:line: reason"). */
enum ota_err vendor_manifest_parse(const char *text, size_t len, const char *name,
                                   struct vendor_manifest *m, char *msg);
/* The manifest text for m; 0 if it does not fit n bytes. */
size_t vendor_manifest_format(const struct vendor_manifest *m, char *out, size_t n);
/* The header the selection sees: project, line and numbers of the cores,
 * script; flags PKG_F_VENDOR plus script, and a full core (from any), a
 * core delta (from another core) or nothing (script only, from == to). */
void vendor_header(const struct vendor_manifest *m, struct pkg_header *h);
/* Default file stem for m, like package names: PROJECT_x.y.z_FROM-TO. */
void vendor_stem(const struct vendor_manifest *m, char *out, size_t n);
/* Is s a name for NAME in the cache: [A-Za-z0-9._-], no leading dot,
 * at most 200 characters? */
int vendor_name_ok(const char *s);

#endif
