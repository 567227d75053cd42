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
 * NAME is "<PROJECT>_<x.y.z>_<from nnnn|any>-<to nnnn>", like a .pkg.
 * TODO(merge): the projects side may bring cache/vendor.c with a
 * vendor_publish(); this writer is then replaced by it.
 */
#include "drop.h"

#include "log.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DROP_VENDOR_BYTES_MAX ((size_t)PKG_IMAGE_MAX * 2)

static void drop_vendor_name(const struct drop_vendor_item *it, char *out, size_t n)
{
    char script[VER_SCRIPT_STR_MAX], from[8];
    ver_script_format(&it->script, script);
    if (it->from_any)
        snprintf(from, sizeof from, "any");
    else
        snprintf(from, sizeof from, "%04u", (unsigned)it->from.number);
    snprintf(out, n, "%s_%s_%s-%04u", it->project, script, from, (unsigned)it->to.number);
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

static void drop_vendor_ini(const struct drop_vendor_item *it, size_t len, char *out, size_t n)
{
    char from[VER_CORE_STR_MAX] = "any", to[VER_CORE_STR_MAX], script[VER_SCRIPT_STR_MAX],
        hex[2 * CRYPTO_HASH_LEN + 1];
    if (!it->from_any)
        ver_core_format(&it->from, from);
    ver_core_format(&it->to, to);
    ver_script_format(&it->script, script);
    ota_hex(it->sha256, CRYPTO_HASH_LEN, hex);
    snprintf(out, n, "; vendor package copied by ota-cache publish from %s\nproject = %s\n"
             "from_core = %s\nto_core = %s\nscript_version = %s\nsha256 = %s\nsize = %zu\n",
             it->file, it->project, from, to, script, hex, len);
}

static enum ota_err drop_vendor_write_one(const struct cfg_ota *c, const char *dir,
                                          const struct drop_vendor_item *it,
                                          char written[][CFG_PATH_MAX], int *nwritten, char *msg)
{
    char name[128], text[DROP_INI_MAX];
    uint8_t *data;
    size_t len;
    enum ota_err e = drop_vendor_read(dir, it, &data, &len, msg);
    if (e != OTA_OK)
        return e;
    drop_vendor_name(it, name, sizeof name);
    snprintf(written[*nwritten], CFG_PATH_MAX, "%s/%s.vendor", c->cache_dir, name);
    e = io_file_write_all(written[*nwritten], data, len, 0644, msg);
    free(data);
    if (e != OTA_OK)
        return e;
    ++*nwritten;
    drop_vendor_ini(it, len, text, sizeof text);
    snprintf(written[*nwritten], CFG_PATH_MAX, "%s/%s.vendor.ini", c->cache_dir, name);
    if ((e = io_file_write_all(written[*nwritten], text, strlen(text), 0644, msg)) != OTA_OK)
        return e;
    ++*nwritten;
    log_msg(LOG_L_INFO, "publish: vendor package %s -> %s.vendor", it->file, name);
    return OTA_OK;
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
    char project[VER_PROJECT_MAX];
    struct ver_core to;
    struct ver_script script;
    uint8_t *text;
    size_t len;
    if (io_file_read_all(path, DROP_INI_MAX, &text, &len, NULL) != OTA_OK)
        return 0;
    enum ota_err e = drop_vendor_ini_target((const char *)text, len, project, &to, &script, NULL);
    free(text);
    return e == OTA_OK && !strcmp(project, c->project) &&
           (!drop_core_equal(&to, &rel->core) || ver_script_cmp(&script, &rel->script));
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
