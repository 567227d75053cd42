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

/* Check one package: header, signature (when pub is non-NULL), and the
 * script and full-core hashes by extracting them. *sig_checked tells the
 * caller whether the signature was part of the check. */
enum ota_err cache_verify(const char *path, const uint8_t *pub, struct pkg_header *h,
                          char *msg);

/* One row per *.pkg in dir, sorted by name; bad files come back with
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

#endif
