/* drop_vendor.c - vendor packages arriving in a release drop (drop.h).
 *
 * A drop's vendor.manifest lists ready-made packages for a device's own
 * update engine (e.g. the platform's .dfota.bin). Each is checked against
 * the manifest (size, SHA-256) and the release (same project, TO_CORE and
 * SCRIPT are the release's), then copied into the cache as NAME.vendor
 * (opaque bytes) and NAME.vendor.ini (its manifest: project, from_core,
 * to_core, script_version, sha256, size), bytes first and the manifest
 * last, each temp + fsync + rename: the manifest's presence makes the
 * package live for ota-server, which checks size and SHA-256 at load.
 * NAME is vendor_stem(): "<PROJECT>_<x.y.z>_<from nnnn|any>-<to nnnn>",
 * like a .pkg. The writing and the manifest format are cache/vendor.c's
 * and common/vendor.c's, shared with `ota-cache vendor-add`.
 */
#include "cache.h"
#include "drop.h"
#include "vendor.h"

#include "log.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DROP_VENDOR_BYTES_MAX ((size_t)PKG_IMAGE_MAX * 2)

/* The cache manifest of a drop's item (size 0: set from the bytes). */
static void drop_vendor_manifest(const struct drop_vendor_item *it, struct vendor_manifest *m)
{
    memset(m, 0, sizeof *m);
    ota_strlcpy(m->project, it->project, sizeof m->project);
    m->from_any = it->from_any;
    if (!it->from_any)
        m->from_core = it->from;
    m->to_core = it->to;
    m->script = it->script;
}

static enum ota_err drop_vendor_read(const char *dir, const struct drop_vendor_item *it,
                                     uint8_t **data, size_t *len, char *msg)
{
    char path[CFG_PATH_MAX + DROP_NAME_MAX], detail[OTA_MSG_LEN];
    uint8_t h[CRYPTO_HASH_LEN];
    snprintf(path, sizeof path, "%s/%s", dir, it->file);
    enum ota_err e = io_file_read_all(path, DROP_VENDOR_BYTES_MAX, data, len, detail);
    if (e != OTA_OK)
        return ota_fail(msg, e, "vendor package %s: %s", it->file, detail);
    crypto_sha256(*data, *len, h);
    if (*len == 0 || memcmp(h, it->sha256, sizeof h) != 0) {
        free(*data);
        return ota_fail(msg, OTA_E_AUTH, "vendor package %s: %zu bytes, SHA-256 differs from "
                        "vendor.manifest (truncated or damaged copy)", it->file, *len);
    }
    return OTA_OK;
}

enum ota_err drop_vendor_check(const char *dir, const struct drop_release *rel,
                               const struct drop_vendor_item *items, int n, char *msg)
{
    for (int i = 0; i < n; i++) {
        const struct drop_vendor_item *it = &items[i];
        uint8_t *data;
        size_t len;
        if (strcmp(it->project, rel->project) != 0 || !drop_core_equal(&it->to, &rel->core) ||
            ver_script_cmp(&it->script, &rel->script) != 0)
            return ota_fail(msg, OTA_E_VERSION, "vendor package %s: project, TO_CORE or SCRIPT "
                            "is not this release's", it->file);
        enum ota_err e = drop_vendor_read(dir, it, &data, &len, msg);
        if (e != OTA_OK)
            return e;
        free(data);
    }
    return OTA_OK;
}

static enum ota_err drop_vendor_write_one(const struct cfg_ota *c, const char *dir,
                                          const struct drop_vendor_item *it,
                                          char written[][CFG_PATH_MAX], int *nwritten, char *msg)
{
    char name[128];
    struct vendor_manifest m;
    uint8_t *data;
    size_t len;
    enum ota_err e = drop_vendor_read(dir, it, &data, &len, msg);
    if (e != OTA_OK)
        return e;
    drop_vendor_manifest(it, &m);
    vendor_stem(&m, name, sizeof name);
    /* both names first: a failure between the two files is rolled back */
    snprintf(written[*nwritten], CFG_PATH_MAX, "%s/%s" VENDOR_SUFFIX, c->cache_dir, name);
    snprintf(written[*nwritten + 1], CFG_PATH_MAX, "%s/%s" VENDOR_MANIFEST_SUFFIX, c->cache_dir,
             name);
    *nwritten += 2;
    e = cache_vendor_publish(c->cache_dir, name, data, len, &m, NULL, msg);
    free(data);
    if (e == OTA_OK)
        log_msg(LOG_L_INFO, "publish: vendor package %s -> %s" VENDOR_SUFFIX, it->file, name);
    return e;
}

enum ota_err drop_vendor_write(const struct cfg_ota *c, const char *dir,
                               const struct drop_vendor_item *items, int n,
                               char written[][CFG_PATH_MAX], int *nwritten, char *msg)
{
    enum ota_err e = OTA_OK;
    *nwritten = 0;
    for (int i = 0; e == OTA_OK && i < n; i++)
        e = drop_vendor_write_one(c, dir, &items[i], written, nwritten, msg);
    return e;
}

/* Is cache entry name (a .vendor.ini) this project's and not rel? */
static int drop_vendor_stale(const struct cfg_ota *c, const char *path,
                             const struct drop_release *rel)
{
    struct vendor_manifest m;
    uint8_t *text;
    size_t len;
    char msg[OTA_MSG_LEN];
    if (io_file_read_all(path, VENDOR_MANIFEST_MAX, &text, &len, NULL) != OTA_OK)
        return 0;
    enum ota_err e = vendor_manifest_parse((const char *)text, len, path, &m, msg);
    free(text);
    return e == OTA_OK && !strcmp(m.project, c->project) &&
           (!drop_core_equal(&m.to_core, &rel->core) || ver_script_cmp(&m.script, &rel->script));
}

int drop_vendor_prune(const struct cfg_ota *c, const struct drop_release *rel)
{
    DIR *d = opendir(c->cache_dir);
    struct dirent *de;
    int n = 0;
    while (d && (de = readdir(d)) != NULL) {
        char path[CFG_PATH_MAX + 256];
        size_t len = strlen(de->d_name);
        if (len < 12 || strcmp(de->d_name + len - 11, ".vendor.ini") != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", c->cache_dir, de->d_name);
        if (!drop_vendor_stale(c, path, rel) || unlink(path) != 0)
            continue;
        path[strlen(path) - 4] = '\0'; /* the bytes, after their manifest */
        unlink(path);
        n++;
        log_msg(LOG_L_INFO, "publish: removed vendor package %s", de->d_name);
    }
    if (d)
        closedir(d);
    return n;
}
