/* vendor.c - vendor packages on the cache side: publish and check.
 *
 * cache_vendor_publish is the one writer of NAME.vendor + NAME.vendor.ini
 * (ota-cache vendor-add, and release drops carrying vendor packages):
 * the bytes first, then the manifest, each through a temporary name,
 * fsync and rename, so the manifest that makes a package live only ever
 * names complete bytes. cache_vendor_check is what `list` and `verify`
 * use: the manifest parsed, the bytes' size and SHA-256 compared.
 */
#include "cache.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Manifest path -> path of its bytes (".ini" dropped). */
static enum ota_err cache_vendor_data_path(const char *manifest, char *out, size_t n, char *msg)
{
    size_t len = strlen(manifest), k = strlen(VENDOR_MANIFEST_SUFFIX);
    if (len <= k || strcmp(manifest + len - k, VENDOR_MANIFEST_SUFFIX) != 0 || len - 4 >= n)
        return ota_fail(msg, OTA_E_INVAL, "%s: not a NAME%s manifest", manifest,
                        VENDOR_MANIFEST_SUFFIX);
    memcpy(out, manifest, len - 4);
    out[len - 4] = '\0';
    return OTA_OK;
}

enum ota_err cache_vendor_check(const char *manifest, struct vendor_manifest *m, char *msg)
{
    char data[CFG_PATH_MAX + 256];
    uint8_t *text, *bytes, hash[CRYPTO_HASH_LEN];
    size_t len;
    enum ota_err e = cache_vendor_data_path(manifest, data, sizeof data, msg);
    if (e == OTA_OK)
        e = io_file_read_all(manifest, VENDOR_MANIFEST_MAX, &text, &len, msg);
    if (e != OTA_OK)
        return e;
    e = vendor_manifest_parse((const char *)text, len, manifest, m, msg);
    free(text);
    if (e != OTA_OK || (e = io_file_read_all(data, VENDOR_SIZE_MAX, &bytes, &len, msg)) != OTA_OK)
        return e;
    crypto_sha256(bytes, len, hash);
    free(bytes);
    if (len != m->size)
        return ota_fail(msg, OTA_E_CORRUPT, "%s: %zu bytes, the manifest says %llu", data, len,
                        (unsigned long long)m->size);
    if (memcmp(hash, m->sha256, sizeof hash) != 0)
        return ota_fail(msg, OTA_E_CORRUPT, "%s: SHA-256 differs from the manifest's", data);
    return OTA_OK;
}

enum ota_err cache_vendor_publish(const char *cache_dir, const char *name, const uint8_t *data,
                                  size_t len, struct vendor_manifest *m, char *out_path,
                                  char *msg)
{
    char stem[256], path[CFG_PATH_MAX + 256], text[VENDOR_MANIFEST_MAX];
    uint8_t hash[CRYPTO_HASH_LEN];
    crypto_sha256(data, len, hash);
    if (m->size && (m->size != len || memcmp(hash, m->sha256, sizeof hash) != 0))
        return ota_fail(msg, OTA_E_CORRUPT, "vendor package: %zu bytes, SHA-256 or size differs "
                        "from the manifest's", len);
    if (len == 0 || len > VENDOR_SIZE_MAX)
        return ota_fail(msg, OTA_E_LIMIT, "vendor package: %zu bytes not in 1..%llu", len,
                        (unsigned long long)VENDOR_SIZE_MAX);
    m->size = len;
    memcpy(m->sha256, hash, sizeof hash);
    if (name)
        ota_strlcpy(stem, name, sizeof stem);
    else
        vendor_stem(m, stem, sizeof stem);
    if (!vendor_name_ok(stem))
        return ota_fail(msg, OTA_E_INVAL, "vendor package name '%s': use [A-Za-z0-9._-], at "
                        "most 200 characters, no leading dot", stem);
    size_t tn = vendor_manifest_format(m, text, sizeof text);
    if (snprintf(path, sizeof path, "%s/%s%s", cache_dir, stem, VENDOR_MANIFEST_SUFFIX) >=
        (int)sizeof path)
        return ota_fail(msg, OTA_E_LIMIT, "%s: path too long", cache_dir);
    path[strlen(path) - 4] = '\0'; /* NAME.vendor first */
    enum ota_err e = io_file_write_all(path, data, len, 0644, msg);
    if (e != OTA_OK)
        return e;
    path[strlen(path)] = '.'; /* back to NAME.vendor.ini */
    if (out_path)
        ota_strlcpy(out_path, path, CFG_PATH_MAX + 256);
    return io_file_write_all(path, text, tn, 0644, msg);
}

enum ota_err cache_vendor_add(const struct cfg_ota *c, const char *file, const char *name,
                              struct vendor_manifest *m, char *out_path, char *msg)
{
    uint8_t *bytes;
    size_t len;
    if (strcmp(m->project, c->project) != 0)
        ota_strlcpy(m->project, c->project, sizeof m->project);
    enum ota_err e = io_file_read_all(file, VENDOR_SIZE_MAX, &bytes, &len, msg);
    if (e != OTA_OK)
        return e;
    e = cache_vendor_publish(c->cache_dir, name, bytes, len, m, out_path, msg);
    free(bytes);
    return e;
}
