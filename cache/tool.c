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
#include <sys/stat.h>
#include <unistd.h>

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

static int cache_is_vendor_name(const char *name)
{
    size_t n = strlen(name), k = strlen(VENDOR_MANIFEST_SUFFIX);
    return n > k && !strcmp(name + n - k, VENDOR_MANIFEST_SUFFIX);
}

static void cache_entry_load(const char *dir, struct cache_entry *ce)
{
    char path[CFG_PATH_MAX + 256];
    struct io_reader r;
    uint8_t buf[PKG_HEADER_LEN];
    snprintf(path, sizeof path, "%s/%s", dir, ce->name);
    if (cache_is_vendor_name(ce->name)) {
        struct vendor_manifest m;
        ce->err = cache_vendor_check(path, &m, ce->detail);
        if (ce->err == OTA_OK) {
            vendor_header(&m, &ce->h);
            ce->size = m.size;
        }
        return;
    }
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
        if (len < 5 || len >= sizeof list->name || de->d_name[0] == '.' ||
            (strcmp(de->d_name + len - 4, ".pkg") && !cache_is_vendor_name(de->d_name)))
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

enum ota_err cache_public_key_arg(const char *arg, uint8_t pub[CRYPTO_PUB_LEN], char *msg)
{
    struct stat st;
    if (stat(arg, &st) == 0)
        return crypto_load_public(arg, pub, msg);
    if (strlen(arg) != 2 * CRYPTO_PUB_LEN || ota_unhex(arg, pub, CRYPTO_PUB_LEN) != OTA_OK)
        return ota_fail(msg, OTA_E_INVAL, "-k %s: neither a key file nor %d hex digits", arg,
                        2 * CRYPTO_PUB_LEN);
    return OTA_OK;
}

enum ota_err cache_psk_secret_create(const char *path, int force, char *msg)
{
    uint8_t secret[32];
    char hex[2 * sizeof secret + 2];
    struct stat st;
    if (!force && lstat(path, &st) == 0)
        return ota_fail(msg, OTA_E_INVAL, "%s: already exists; devices provisioned from it "
                        "would lose their keys (use -f to replace it)", path);
    randombytes_buf(secret, sizeof secret);
    ota_hex(secret, sizeof secret, hex);
    hex[2 * sizeof secret] = '\n';
    enum ota_err e = io_file_write_all(path, hex, 2 * sizeof secret + 1, 0600, msg);
    sodium_memzero(secret, sizeof secret);
    sodium_memzero(hex, sizeof hex);
    return e;
}

/* Is this package's target the release c describes? */
static int cache_is_current(const struct cfg_ota *c, const struct pkg_header *h)
{
    return h->to_core == c->core.number && !strcmp(h->core_name, c->core.name) &&
           !strcmp(h->chip, c->core.chip) && !ver_script_cmp(&h->script, &c->script);
}

struct cache_prune_run {
    const struct cfg_ota *c;
    int dry_run;
    cache_prune_cb cb;
    void *ctx;
    enum ota_err err;
    char msg[OTA_MSG_LEN];
};

/* NAME.vendor of a manifest path; a failure leaves only unreferenced bytes. */
static void cache_vendor_unlink_bytes(const char *manifest)
{
    char data[CFG_PATH_MAX + 256];
    size_t n = strlen(manifest) - 4;
    memcpy(data, manifest, n);
    data[n] = '\0';
    unlink(data);
}

static void cache_prune_one(void *ctx, const struct cache_entry *e)
{
    struct cache_prune_run *p = ctx;
    char path[CFG_PATH_MAX + 256];
    enum cache_prune_action a = CACHE_PRUNE_KEPT;
    if (e->err == OTA_OK && !strcmp(e->h.project, p->c->project) &&
        !cache_is_current(p->c, &e->h)) {
        a = p->dry_run ? CACHE_PRUNE_WOULD_REMOVE : CACHE_PRUNE_REMOVED;
        snprintf(path, sizeof path, "%s/%s", p->c->cache_dir, e->name);
        if (!p->dry_run && unlink(path) != 0) {
            a = CACHE_PRUNE_KEPT;
            if (p->err == OTA_OK)
                p->err = ota_fail(p->msg, OTA_E_IO, "%s: %s", path, strerror(errno));
        } else if (!p->dry_run && cache_is_vendor_name(e->name)) {
            cache_vendor_unlink_bytes(path); /* after its manifest: never live without bytes */
        }
    }
    if (p->cb)
        p->cb(p->ctx, e, a);
}

enum ota_err cache_prune(const struct cfg_ota *c, int dry_run, cache_prune_cb cb, void *ctx,
                         char *msg)
{
    struct cache_prune_run p = {c, dry_run, cb, ctx, OTA_OK, ""};
    if (!c->has_release)
        return ota_fail(msg, OTA_E_INVAL, "no [release] section: nothing says which release "
                        "is current");
    enum ota_err e = cache_list(c->cache_dir, cache_prune_one, &p, msg);
    if (e == OTA_OK && p.err != OTA_OK)
        e = ota_fail(msg, p.err, "%s", p.msg);
    return e;
}
