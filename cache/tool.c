/* tool.c - inspect packages: verify one file, list a cache directory.
 *
 * Used by `ota-cache verify` and `ota-cache list`; the same checks a device
 * makes (header, signature, section hashes), run on the host so an operator
 * can vet a release drop before it reaches the gateway.
 */
#include "cache.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* A writer that discards: extraction here only checks sizes and hashes. */
static enum ota_err cache_discard(void *ctx, const void *buf, size_t len)
{
    (void)ctx;
    (void)buf;
    (void)len;
    return OTA_OK;
}

static enum ota_err cache_check_file(const struct io_reader *r, const uint8_t *pub,
                                     struct pkg_header *h, char *msg)
{
    struct io_writer sink = {cache_discard, NULL};
    uint8_t buf[PKG_HEADER_LEN];
    enum ota_err e;
    if (pub) {
        const uint8_t(*keys)[CRYPTO_PUB_LEN] = (const uint8_t(*)[CRYPTO_PUB_LEN])pub;
        e = pkg_verify(r, keys, 1, h, msg);
    } else if (r->size < PKG_HEADER_LEN) {
        e = ota_fail(msg, OTA_E_CORRUPT, "pkg: %llu bytes, shorter than a header",
                     (unsigned long long)r->size);
    } else if ((e = io_read_at(r, 0, buf, sizeof buf)) == OTA_OK) {
        e = pkg_header_parse(buf, sizeof buf, r->size, h, msg);
    }
    if (e == OTA_OK && (h->flags & PKG_F_SCRIPT))
        e = pkg_script_extract(r, h, &sink, msg);
    if (e == OTA_OK && (h->flags & PKG_F_CORE_FULL))
        e = pkg_core_extract(r, h, NULL, &sink, msg);
    return e;
}

enum ota_err cache_verify(const char *path, const uint8_t *pub, struct pkg_header *h, char *msg)
{
    struct io_reader r;
    enum ota_err e = io_file_reader_open(&r, path, msg);
    if (e != OTA_OK)
        return e;
    e = cache_check_file(&r, pub, h, msg);
    io_file_reader_close(&r);
    return e;
}

static int cache_name_cmp(const void *a, const void *b)
{
    return strcmp(((const struct cache_entry *)a)->name, ((const struct cache_entry *)b)->name);
}

static void cache_entry_load(const char *dir, struct cache_entry *ce)
{
    char path[CFG_PATH_MAX + 256];
    struct io_reader r;
    uint8_t buf[PKG_HEADER_LEN];
    snprintf(path, sizeof path, "%s/%s", dir, ce->name);
    ce->err = io_file_reader_open(&r, path, ce->detail);
    if (ce->err != OTA_OK)
        return;
    ce->size = r.size;
    if (r.size < PKG_HEADER_LEN)
        ce->err = ota_fail(ce->detail, OTA_E_CORRUPT, "shorter than a header");
    else if ((ce->err = io_read_at(&r, 0, buf, sizeof buf)) == OTA_OK)
        ce->err = pkg_header_parse(buf, sizeof buf, r.size, &ce->h, ce->detail);
    io_file_reader_close(&r);
}

enum ota_err cache_list(const char *dir, cache_list_cb cb, void *ctx, char *msg)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    struct cache_entry *list = NULL;
    size_t n = 0, cap = 0;
    if (!d)
        return ota_fail(msg, OTA_E_NOTFOUND, "%s: %s", dir, strerror(errno));
    while ((de = readdir(d)) != NULL) {
        size_t len = strlen(de->d_name);
        if (len < 5 || len >= sizeof list->name || strcmp(de->d_name + len - 4, ".pkg"))
            continue;
        if (n == cap) {
            struct cache_entry *bigger = realloc(list, (cap = cap ? 2 * cap : 16) * sizeof *list);
            if (!bigger) {
                free(list);
                closedir(d);
                return ota_fail(msg, OTA_E_NOMEM, "listing %s", dir);
            }
            list = bigger;
        }
        memset(&list[n], 0, sizeof list[n]);
        memcpy(list[n++].name, de->d_name, len + 1);
    }
    closedir(d);
    qsort(list, n, sizeof *list, cache_name_cmp);
    for (size_t i = 0; i < n; i++) {
        cache_entry_load(dir, &list[i]);
        cb(ctx, &list[i]);
    }
    free(list);
    return OTA_OK;
}
