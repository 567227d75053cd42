/* drop.h - release drops: parse, check, archive, build, publish; the
 * on-demand builder's spool; the watch service.
 *
 * A drop is a folder holding a core image, a script image and either a
 * release.ini or names in the platform's pattern (README "Publishing a
 * release drop"). drop_publish() checks it against the project's current
 * release, stores the images in the content-addressed archive
 * (<archive_dir>/<project>/core|script/<version>-<16 hex>.bin, never
 * rewritten), builds and signs the packages into the cache, writes
 * <archive_dir>/<project>/release.ini last and then retires the previous
 * release's packages. Any failure before release.ini removes the packages
 * this publish wrote, so the cache is as it was.
 *
 * Per-project logic takes the project's struct cfg_ota (today: the one
 * project of ota.ini). Parsers (drop_parse.c) take bytes and are fuzzed by
 * tests/fuzz/fuzz_drop.c. Nothing here prints: log_msg and messages.
 */
#ifndef DROP_H
#define DROP_H

#include "cache.h"

#define DROP_INI_MAX 4096     /* release.ini, request, vendor.ini: bytes */
#define DROP_MANIFEST_MAX 65536 /* vendor.manifest bytes */
#define DROP_VENDOR_MAX 32    /* packages in one vendor.manifest */
#define DROP_IMAGE_MIN 64     /* a smaller image is a truncated copy */
#define DROP_NAME_MAX 128     /* an image path in release.ini */

/* release.ini of a drop, and of the archive (image paths then relative to
 * <archive_dir>/<project>/). core_image "" = a script-only release whose
 * core is already archived. */
struct drop_release {
    char project[VER_PROJECT_MAX];
    struct ver_core core;
    struct ver_script script;
    char core_image[DROP_NAME_MAX];
    char script_image[DROP_NAME_MAX];
    uint8_t core_sha256[CRYPTO_HASH_LEN], script_sha256[CRYPTO_HASH_LEN];
    int has_core_sha256, has_script_sha256;
};

/* Same core version (line and number). */
int drop_core_equal(const struct ver_core *a, const struct ver_core *b);

/* v is an older core of line's line than line. */
int drop_core_older(const struct ver_core *v, const struct ver_core *line);

/* Strict: [release] first, known keys once each, every value checked; the
 * message names the line. */
enum ota_err drop_release_parse(const char *text, size_t len, struct drop_release *r, char *msg);
/* The text drop_release_parse reads back (archive release.ini). */
void drop_release_format(const struct drop_release *r, char *out, size_t n);

/* The platform's file names: "<PROJECT>_<x.y.z>_<Name>_V<nnnn>_<Chip>.bin"
 * (core, x.y.z = the release's script version) and
 * "<PROJECT>_<x.y.z>_script.bin"; split from the right because project
 * names hold underscores. */
struct drop_platform_name {
    char project[VER_PROJECT_MAX];
    struct ver_script script;
    struct ver_core core;
    int is_script;
};
enum ota_err drop_platform_name_parse(const char *name, struct drop_platform_name *out,
                                      char *msg);

/* vendor.manifest: one package per line,
 *   FILE PROJECT FROM_CORE TO_CORE SCRIPT SHA256
 * FROM_CORE a full core name or "any"; '#' starts a comment line. */
struct drop_vendor_item {
    char file[DROP_NAME_MAX];
    char project[VER_PROJECT_MAX];
    struct ver_core from, to;
    int from_any;
    struct ver_script script;
    uint8_t sha256[CRYPTO_HASH_LEN];
};
enum ota_err drop_vendor_manifest_parse(const char *text, size_t len, struct drop_vendor_item *out,
                                        int max, int *n, char *msg);

/* A build request "<PROJECT>+<Core>+<x.y.z>.req" and its content
 * (project=, core=, script= lines), which must agree. */
struct drop_request {
    char project[VER_PROJECT_MAX];
    struct ver_core core;
    struct ver_script script;
};
enum ota_err drop_request_parse(const char *name, const char *text, size_t len,
                                struct drop_request *out, char *msg);

/* ---- archive (archive.c) ------------------------------------------------ */

/* <archive_dir>/<project>; OTA_E_LIMIT if too long. */
enum ota_err drop_archive_dir(const struct cfg_ota *c, char out[CFG_PATH_MAX], char *msg);
/* Path of the archived image of core; OTA_E_NOTFOUND if none. */
enum ota_err drop_archive_find_core(const struct cfg_ota *c, const struct ver_core *core,
                                    char out[CFG_PATH_MAX], char *msg);
/* Store an image (kind "core"/"script", version its file-name stem) unless
 * the same bytes are there; a version archived with other bytes is
 * OTA_E_AUTH. rel gets the path relative to the project's archive. */
enum ota_err drop_archive_put(const struct cfg_ota *c, const char *kind, const char *version,
                              const uint8_t *data, size_t len, char rel[DROP_NAME_MAX],
                              char *msg);
/* The archived cores of core's line older than core, oldest first; *n at
 * most max; paths are malloc'd in one block (*block, freed by the caller). */
enum ota_err drop_archive_old_cores(const struct cfg_ota *c, const struct ver_core *core,
                                    struct cache_old_core *out, int max, int *n, char **block,
                                    char *msg);
/* The current release: *found 0 when the archive has none yet. */
enum ota_err drop_archive_release(const struct cfg_ota *c, struct drop_release *r, int *found,
                                  char *msg);
enum ota_err drop_archive_release_save(const struct cfg_ota *c, const struct drop_release *r,
                                       char *msg);
/* An exclusive lock on <archive_dir>/.lock (publish and builder never
 * interleave); *fd for drop_archive_unlock. */
enum ota_err drop_archive_lock(const struct cfg_ota *c, int *fd, char *msg);
void drop_archive_unlock(int fd);

/* ---- publish (drop.c) --------------------------------------------------- */

struct drop_result {
    int refused;          /* the drop itself is bad (vs. an I/O failure) */
    int built, unchanged, vendor, pruned;
    struct drop_release rel;
};
enum ota_err drop_publish(const struct cfg_ota *c, const char *dir, struct drop_result *res,
                          char *msg);
/* Release c's config describes in a drop_release (migration source); 0 if
 * c has no [release]. */
int drop_release_from_cfg(const struct cfg_ota *c, struct drop_release *r);
/* The cfg a build for release r uses: c with r's versions and images. */
enum ota_err drop_build_cfg(const struct cfg_ota *c, const struct drop_release *r,
                            struct cfg_ota *out, char *msg);

/* ---- vendor packages (drop_vendor.c) ------------------------------------ */

/* Check every item of a drop's vendor.manifest against its file and the
 * release; then copy: bytes as NAME.vendor, then NAME.vendor.ini by rename
 * (its presence makes the package live). written[] gets the paths made. */
enum ota_err drop_vendor_check(const char *dir, const struct drop_release *rel,
                               const struct drop_vendor_item *items, int n, char *msg);
enum ota_err drop_vendor_write(const struct cfg_ota *c, const char *dir,
                               const struct drop_vendor_item *items, int n,
                               char written[][CFG_PATH_MAX], int *nwritten, char *msg);
/* Remove this project's vendor packages whose target is not rel. */
int drop_vendor_prune(const struct cfg_ota *c, const struct drop_release *rel);

/* ---- spool (spool.c) ---------------------------------------------------- */

/* One pass over [cache] spool_dir: each request is built (one at a time,
 * niced) and removed, or renamed to .failed with "error=" appended.
 * *done / *failed count them. */
enum ota_err drop_spool_run(const struct cfg_ota *c, int *done, int *failed, char *msg);

/* ---- watch (watch.c) ---------------------------------------------------- */

/* Serve until *stop: publish settled drops of [cache] drop_dir (moved to
 * .done/ or .rejected/<name>-<time>/ with REASON) and run the spool, on
 * inotify events and every backstop seconds. */
enum ota_err drop_watch(const struct cfg_ota *c, volatile int *stop, int backstop, char *msg);
/* Is the drop folder ready: a release.ini, a platform pair or a .done
 * marker, no dot-file (an rsync temp), nothing modified for settle s? */
int drop_settled(const char *dir, int settle, long long now);

#endif
