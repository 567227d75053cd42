/* cache.h - the cache tool's library: build packages from a release drop,
 * verify and list packages.
 *
 * ota-cache's main.c parses arguments and calls these; they never print.
 * Progress and listings come back through callbacks so the tool decides how
 * to show them (table on a terminal, plain lines in CI).
 */
#ifndef CACHE_H
#define CACHE_H

#include "cfg.h"
#include "pkg.h"
#include "vendor.h"

/* Called once per package: built, or skipped because an identical package
 * (same inputs, same key) is already in the cache. */
typedef void (*cache_package_cb)(void *ctx, const struct pkg_header *h, const char *path,
                                 int skipped);

/* Build every package the release in c describes into c->cache_dir:
 * per shipped core a core+script package and (if core_only) a core-only
 * package; a script-only package (if script_only); a full-core fallback
 * (if full_core_fallback). All inputs are read and checked before the
 * first package is written; each package is written atomically. */
enum ota_err cache_build(const struct cfg_ota *c, cache_package_cb cb, void *ctx, char *msg);
/* The same; *bad_input (may be NULL) is set when the failure is a file the
 * configuration names (missing, unreadable, bad key), so the tool can tell
 * a configuration error from a failed write. */
enum ota_err cache_build_checked(const struct cfg_ota *c, cache_package_cb cb, void *ctx,
                                 int *bad_input, char *msg);

/* The same for a release whose old cores come from the archive (drop.h):
 * set (may be NULL = c->shipped_dir) names each old core's file and number;
 * old_only builds only the packages from those cores (an on-demand build),
 * not the script-only and full-core ones. Not thread-safe (one build at a
 * time per process, as before). */
struct cache_old_core {
    const char *path;
    uint32_t number;
};
struct cache_build_set {
    const struct cache_old_core *old;
    int nold;
    int old_only;
};
enum ota_err cache_build_set(const struct cfg_ota *c, const struct cache_build_set *set,
                             cache_package_cb cb, void *ctx, int *bad_input, char *msg);

/* A file named "<core version><tail>.bin" (tail "" in shipped_dir,
 * "-<16 hex>" in the archive, tail_len its length): 1 with *v filled,
 * else 0. */
int cache_core_file_name(const char *name, size_t tail_len, struct ver_core *v);

/* Check one package: header, signature (when pub is non-NULL), and the
 * script and full-core hashes by extracting them. *sig_checked tells the
 * caller whether the signature was part of the check. */
enum ota_err cache_verify(const char *path, const uint8_t *pub, struct pkg_header *h,
                          char *msg);

/* Vendor packages (vendor.h). Publish data as NAME.vendor and then its
 * manifest NAME.vendor.ini into cache_dir, each atomically (temp, fsync,
 * rename): the manifest, written last, makes the package live. name NULL
 * = vendor_stem(m). m's project, cores and script are the caller's; its
 * size and sha256 are set from data, and when m->size is non-zero on
 * entry (a drop's manifest) size and SHA-256 must match data first.
 * out_path (CFG_PATH_MAX + 256 bytes, may be NULL) gets the manifest's path. */
enum ota_err cache_vendor_publish(const char *cache_dir, const char *name, const uint8_t *data,
                                  size_t len, struct vendor_manifest *m, char *out_path,
                                  char *msg);
/* ota-cache vendor-add: FILE's bytes published for c's project. */
enum ota_err cache_vendor_add(const struct cfg_ota *c, const char *file, const char *name,
                              struct vendor_manifest *m, char *out_path, char *msg);
/* A manifest path NAME.vendor.ini: parsed into m, and NAME.vendor's size
 * and SHA-256 checked against it (OTA_E_CORRUPT). */
enum ota_err cache_vendor_check(const char *manifest, struct vendor_manifest *m, char *msg);

/* One row per *.pkg and *.vendor.ini in dir, sorted by name (a vendor
 * package's header is vendor_header's, flag PKG_F_VENDOR); bad files come back with
 * err != OTA_OK and the reason in detail. */
struct cache_entry {
    char name[256];
    uint64_t size;
    enum ota_err err;
    char detail[OTA_MSG_LEN];
    struct pkg_header h;
};
typedef void (*cache_list_cb)(void *ctx, const struct cache_entry *e);
enum ota_err cache_list(const char *dir, cache_list_cb cb, void *ctx, char *msg);

/* A public key given on the command line: a file holding 64 hex digits,
 * or the 64 hex digits themselves (when no such file exists). */
enum ota_err cache_public_key_arg(const char *arg, uint8_t pub[CRYPTO_PUB_LEN], char *msg);

/* Write a new DTLS-PSK product secret: 32 random bytes as 64 hex digits
 * and a newline (the loader strips one trailing newline), mode 0600,
 * temp + fsync + rename. An existing file is kept unless force. */
enum ota_err cache_psk_secret_create(const char *path, int force, char *msg);

/* Retire old releases: every valid package in c->cache_dir whose target
 * (project, core line, core number, script version) is not c's release is
 * unlinked (the server's directory watcher drops it), or only reported
 * when dry_run. Invalid files and other projects' packages are left
 * alone and reported as kept. */
enum cache_prune_action { CACHE_PRUNE_KEPT, CACHE_PRUNE_REMOVED, CACHE_PRUNE_WOULD_REMOVE };
typedef void (*cache_prune_cb)(void *ctx, const struct cache_entry *e,
                               enum cache_prune_action a);
enum ota_err cache_prune(const struct cfg_ota *c, int dry_run, cache_prune_cb cb, void *ctx,
                         char *msg);

/* Copy the *.pkg files of dir to every destination (rsync: a local path
 * or HOST:PATH over ssh), each file switching atomically; cb gets each
 * destination and rsync's exit status (0 ok, -1 could not run). OTA_E_IO
 * if any destination failed (the others are still done). */
typedef void (*cache_sync_cb)(void *ctx, const char *dest, int status);
enum ota_err cache_sync(const char *dir, const char *const *dests, int ndest,
                        cache_sync_cb cb, void *ctx, char *msg);

#endif
