/* pkg.c - package format v1: header codec, build, verify, extract.
 *
 * Sections:
 *   1. header encode / parse (every field validated against the file size)
 *   2. names
 *   3. build (cache host: compress sections in memory, sign while writing)
 *   4. verify and extract: the device library's (device/pkg/dpkg.c) over
 *      zlib and libsodium, in the host's shapes
 * The byte layout is documented in common/FORMAT.md; keep the two in step.
 */
#include "pkg.h"

#include "cur.h"
#include "dback_host.h"
#include "delta.h"
#include "dpkg.h"
#include "odev.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

/* ---- 1. header ---------------------------------------------------------- */

static void pkg_put_str(uint8_t *dst, const char *s, size_t field)
{
    memset(dst, 0, field);
    memcpy(dst, s, strnlen(s, field - 1));
}

void pkg_header_encode(const struct pkg_header *h, uint8_t out[PKG_HEADER_LEN])
{
    memset(out, 0, PKG_HEADER_LEN);
    memcpy(out, PKG_MAGIC, 4);
    cur_put_be16(out + 4, PKG_FORMAT_VERSION);
    cur_put_be16(out + 6, PKG_HEADER_LEN);
    cur_put_be32(out + 8, h->flags);
    cur_put_be32(out + 12, h->from_core);
    cur_put_be32(out + 16, h->to_core);
    cur_put_be32(out + 20, h->script.major);
    cur_put_be32(out + 24, h->script.minor);
    cur_put_be32(out + 28, h->script.patch);
    pkg_put_str(out + 32, h->project, VER_PROJECT_MAX);
    pkg_put_str(out + 64, h->core_name, VER_NAME_MAX);
    pkg_put_str(out + 80, h->chip, VER_CHIP_MAX);
    memcpy(out + 96, h->key_id, CRYPTO_KEYID_LEN);
    cur_put_be64(out + 104, h->core_len);
    cur_put_be64(out + 112, h->core_size);
    cur_put_be64(out + 120, h->old_core_size);
    cur_put_be64(out + 128, h->script_len);
    cur_put_be64(out + 136, h->script_size);
    cur_put_be32(out + 144, h->core_mem);
    out[148] = (uint8_t)h->window_bits;
    memcpy(out + 152, h->old_core_hash, CRYPTO_HASH_LEN);
    memcpy(out + 184, h->core_hash, CRYPTO_HASH_LEN);
    memcpy(out + 216, h->script_hash, CRYPTO_HASH_LEN);
    cur_put_be64(out + 248, h->created);
}

_Static_assert(VER_PROJECT_MAX == DPKG_PROJECT_MAX && VER_NAME_MAX == DPKG_NAME_MAX &&
                   VER_CHIP_MAX == DPKG_CHIP_MAX && CRYPTO_KEYID_LEN == DPKG_KEYID_LEN,
               "pkg.h and dpkg.h disagree on the header's fields");

/* The device's parse (one implementation of the rules, device/pkg/dpkg.c)
 * in the host's shapes: 64-bit sizes, OTA_E_VERSION for a format version
 * this build does not read. */
enum ota_err pkg_header_parse(const uint8_t *buf, size_t len, uint64_t file_size,
                              struct pkg_header *h, char *msg)
{
    struct dpkg_header d;
    const char *why = "pkg header: sections do not match the file size";
    memset(h, 0, sizeof *h);
    if (file_size > UINT32_MAX || dpkg_header_parse(buf, len, (uint32_t)file_size, &d, &why))
        return ota_fail(msg, why == dpkg_why_version ? OTA_E_VERSION : OTA_E_CORRUPT,
                        "%s (file of %llu bytes)", why, (unsigned long long)file_size);
    h->format = PKG_FORMAT_VERSION;
    h->flags = d.flags;
    memcpy(h->project, d.project, sizeof h->project);
    memcpy(h->core_name, d.core_name, sizeof h->core_name);
    memcpy(h->chip, d.chip, sizeof h->chip);
    h->from_core = d.from_core;
    h->to_core = d.to_core;
    h->script = (struct ver_script){d.script[0], d.script[1], d.script[2]};
    memcpy(h->key_id, d.key_id, sizeof h->key_id);
    h->core_len = d.core_len;
    h->core_size = d.core_size;
    h->old_core_size = d.old_core_size;
    h->script_len = d.script_len;
    h->script_size = d.script_size;
    h->core_mem = d.core_mem;
    h->window_bits = d.window_bits;
    memcpy(h->old_core_hash, d.old_core_hash, CRYPTO_HASH_LEN);
    memcpy(h->core_hash, d.core_hash, CRYPTO_HASH_LEN);
    memcpy(h->script_hash, d.script_hash, CRYPTO_HASH_LEN);
    h->created = d.created;
    return OTA_OK;
}

/* ---- 2. names ----------------------------------------------------------- */

const char *pkg_contents_name(uint32_t flags)
{
    int script = (flags & PKG_F_SCRIPT) != 0;
    if (flags & PKG_F_CORE_DELTA)
        return script ? "delta+script" : "delta";
    if (flags & PKG_F_CORE_FULL)
        return script ? "full+script" : "full";
    return "script";
}

void pkg_file_name(const struct pkg_header *h, char *out, size_t n)
{
    char script[VER_SCRIPT_STR_MAX], from[8];
    int core = (h->flags & (PKG_F_CORE_DELTA | PKG_F_CORE_FULL)) != 0;
    const char *suffix = !core ? "_script" : (h->flags & PKG_F_SCRIPT) ? "" : "_core";
    ver_script_format(&h->script, script);
    if (h->from_core == PKG_FROM_ANY)
        snprintf(from, sizeof from, "any");
    else
        snprintf(from, sizeof from, "%04u", (unsigned)(h->from_core % 10000));
    snprintf(n ? out : NULL, n, "%s_%s_%s-%04u%s.pkg", h->project, script, from,
             (unsigned)(h->to_core % 10000), suffix);
}

/* ---- 3. build ----------------------------------------------------------- */

/* zlib-compress a whole buffer with a bounded window, so a device can
 * inflate it with (1 << bits) bytes of window. */
static enum ota_err pkg_deflate(const uint8_t *in, size_t len, int bits, uint8_t **out,
                                size_t *out_len, char *msg)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 9, Z_DEFLATED, bits, 9, Z_DEFAULT_STRATEGY) != Z_OK)
        return ota_fail(msg, OTA_E_NOMEM, "deflateInit2 failed");
    uLong cap = deflateBound(&z, (uLong)len);
    uint8_t *buf = malloc(cap ? cap : 1);
    if (!buf) {
        deflateEnd(&z);
        return ota_fail(msg, OTA_E_NOMEM, "cannot allocate %lu bytes", (unsigned long)cap);
    }
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)len;
    z.next_out = buf;
    z.avail_out = (uInt)cap;
    int rc = deflate(&z, Z_FINISH);
    *out_len = z.total_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(buf);
        return ota_fail(msg, OTA_E_NOMEM, "deflate failed (%d)", rc);
    }
    *out = buf;
    return OTA_OK;
}

static int pkg_window(const struct pkg_build_input *in)
{
    return in->window_bits ? in->window_bits : 15;
}

enum ota_err pkg_core_section(const struct pkg_build_input *in, uint8_t **sec, size_t *sec_len,
                              uint32_t *mem, char *msg)
{
    int bits = pkg_window(in);
    if (in->tmpl.flags & PKG_F_CORE_FULL) {
        *mem = (uint32_t)(sizeof(z_stream) + DBACK_ZLIB_ARENA(bits));
        return pkg_deflate(in->new_core, in->new_core_len, bits, sec, sec_len, msg);
    }
    struct delta_params p;
    struct delta_info info;
    delta_params_default(&p);
    p.window_bits = bits;
    enum ota_err e = delta_encode(in->old_core, in->old_core_len, in->new_core,
                                  in->new_core_len, &p, sec, sec_len, &info, msg);
    if (e == OTA_OK)
        *mem = info.mem;
    return e;
}

/* Fill the core fields of h and produce (or borrow) the core section. */
static enum ota_err pkg_build_core(const struct pkg_build_input *in, struct pkg_header *h,
                                   uint8_t **owned, const uint8_t **sec, size_t *sec_len,
                                   char *msg)
{
    crypto_sha256(in->new_core, in->new_core_len, h->core_hash);
    h->core_size = in->new_core_len;
    if (h->flags & PKG_F_CORE_DELTA) {
        crypto_sha256(in->old_core, in->old_core_len, h->old_core_hash);
        h->old_core_size = in->old_core_len;
    }
    if (in->core_section) {
        *sec = in->core_section;
        *sec_len = in->core_section_len;
        h->core_mem = in->core_mem;
        return OTA_OK;
    }
    enum ota_err e = pkg_core_section(in, owned, sec_len, &h->core_mem, msg);
    *sec = *owned;
    return e;
}

static enum ota_err pkg_build_check(const struct pkg_build_input *in, char *msg)
{
    uint32_t f = in->tmpl.flags;
    if (f & PKG_F_CORE_DELTA && !in->old_core)
        return ota_fail(msg, OTA_E_INVAL, "pkg build: delta package without an old core");
    if (f & (PKG_F_CORE_DELTA | PKG_F_CORE_FULL) && !in->new_core)
        return ota_fail(msg, OTA_E_INVAL, "pkg build: core package without a new core");
    if (f & PKG_F_SCRIPT && !in->script)
        return ota_fail(msg, OTA_E_INVAL, "pkg build: script package without a script");
    if (in->new_core_len > PKG_IMAGE_MAX || in->old_core_len > PKG_IMAGE_MAX ||
        in->script_len > PKG_IMAGE_MAX)
        return ota_fail(msg, OTA_E_LIMIT, "pkg build: image larger than %u bytes",
                        PKG_IMAGE_MAX);
    if (in->window_bits && (in->window_bits < 9 || in->window_bits > 15))
        return ota_fail(msg, OTA_E_INVAL, "pkg build: window bits %d not in 9..15",
                        in->window_bits);
    return OTA_OK;
}

/* Write buf to w and feed it to the signer. */
static enum ota_err pkg_emit(const struct io_writer *w, struct crypto_signer *s,
                             const void *buf, size_t len, char *msg)
{
    crypto_sign_add(s, buf, len);
    if (io_write(w, buf, len) != OTA_OK)
        return ota_fail(msg, OTA_E_IO, "pkg build: write failed");
    return OTA_OK;
}

enum ota_err pkg_build(const struct pkg_build_input *in, const struct io_writer *w,
                       struct pkg_header *out, char *msg)
{
    struct pkg_header h = in->tmpl;
    uint8_t *owned = NULL, *script = NULL, hdr[PKG_HEADER_LEN], pub[CRYPTO_PUB_LEN];
    const uint8_t *core = NULL;
    size_t core_len = 0, script_len = 0;
    enum ota_err e = pkg_build_check(in, msg);
    if (e != OTA_OK)
        return e;
    h.format = PKG_FORMAT_VERSION;
    h.window_bits = (uint32_t)pkg_window(in);
    h.created = (uint64_t)time(NULL);
    h.core_len = h.core_size = h.old_core_size = h.script_len = h.script_size = 0;
    h.core_mem = 0;
    memset(h.old_core_hash, 0, sizeof h.old_core_hash);
    memset(h.core_hash, 0, sizeof h.core_hash);
    memset(h.script_hash, 0, sizeof h.script_hash);
    crypto_secret_to_public(in->secret_key, pub);
    crypto_key_id(pub, h.key_id);
    if (h.flags & (PKG_F_CORE_DELTA | PKG_F_CORE_FULL)) {
        if ((e = pkg_build_core(in, &h, &owned, &core, &core_len, msg)) != OTA_OK)
            goto done;
    }
    if (h.flags & PKG_F_SCRIPT) {
        crypto_sha256(in->script, in->script_len, h.script_hash);
        h.script_size = in->script_len;
        if ((e = pkg_deflate(in->script, in->script_len, (int)h.window_bits, &script,
                             &script_len, msg)) != OTA_OK)
            goto done;
    }
    h.core_len = core_len;
    h.script_len = script_len;
    pkg_header_encode(&h, hdr);
    /* Parse what we wrote: a build must never emit a header a device rejects. */
    if ((e = pkg_header_parse(hdr, sizeof hdr, pkg_total_size(&h), out, msg)) != OTA_OK)
        goto done;
    struct crypto_signer s;
    uint8_t sig[CRYPTO_SIG_LEN];
    crypto_sign_begin(&s);
    if ((e = pkg_emit(w, &s, hdr, sizeof hdr, msg)) != OTA_OK ||
        (e = pkg_emit(w, &s, core, core_len, msg)) != OTA_OK ||
        (e = pkg_emit(w, &s, script, script_len, msg)) != OTA_OK)
        goto done;
    crypto_sign_end(&s, in->secret_key, sig);
    if (io_write(w, sig, sizeof sig) != OTA_OK)
        e = ota_fail(msg, OTA_E_IO, "pkg build: write failed");
done:
    free(owned);
    free(script);
    return e;
}

/* ---- 4. verify and extract -------------------------------------------- */

/* The device library's working memory with zlib and libsodium bound in
 * place of its own inflater and verifier, and the host's readers and
 * writer behind dio.h. Static, as on a device (struct odev holds one):
 * nothing is allocated; the lock keeps a threaded host to one package at
 * a time. */
static struct pkg_work {
    struct dpkg_work w;
    struct dback_zlib z;
    struct dback_sodium s;
    struct dback_io pkg, old, out;
    enum ota_err io_err;
    struct dpkg_header d;
    uint8_t arena[DELTA_ARENA_MAX];
} pkg_work;
static pthread_mutex_t pkg_work_lock = PTHREAD_MUTEX_INITIALIZER;
static size_t pkg_dec_peak;

/* h as the device sees it: encoded and parsed again by the one parser,
 * so a header the host was handed (not parsed) is checked all the same. */
static enum ota_err pkg_device_header(const struct pkg_header *h, struct dpkg_header *d,
                                      char *msg)
{
    uint8_t buf[PKG_HEADER_LEN];
    uint64_t total = pkg_total_size(h);
    const char *why = "pkg header: sections do not match the file size";
    pkg_header_encode(h, buf);
    if (total > UINT32_MAX || dpkg_header_parse(buf, sizeof buf, (uint32_t)total, d, &why))
        return ota_fail(msg, OTA_E_CORRUPT, "%s", why);
    return OTA_OK;
}

/* Take the work area for h's package read through pkg. */
static struct pkg_work *pkg_work_open(const struct io_reader *pkg, const struct pkg_header *h,
                                      struct dio_reader *pr, char *msg)
{
    struct pkg_work *k = &pkg_work;
    pthread_mutex_lock(&pkg_work_lock);
    if (pkg_device_header(h, &k->d, msg) != OTA_OK) {
        pthread_mutex_unlock(&pkg_work_lock);
        return NULL;
    }
    dpkg_work_init(&k->w);
    dback_zlib_bind(&k->w.inflate, &k->z, k->arena, sizeof k->arena);
    dback_sodium_bind(&k->w.verify, &k->s);
    k->io_err = OTA_OK;
    dback_io_reader(&k->pkg, pkg, &k->io_err, pr);
    return k;
}

/* Give the work area back; the host's code and message for the result. */
static enum ota_err pkg_work_close(struct pkg_work *k, int e, const char *why, const char *what,
                                   char *msg)
{
    enum ota_err r = dback_err(e, why, k->io_err);
    uint32_t made = k->w.made, limit = k->w.limit;
    char id[2 * CRYPTO_KEYID_LEN + 1];
    dback_zlib_end(&k->z);
    ota_hex(k->d.key_id, CRYPTO_KEYID_LEN, id);
    pthread_mutex_unlock(&pkg_work_lock);
    if (r == OTA_OK)
        return OTA_OK;
    why = why ? why : "pkg: failed";
    if (!what)
        return ota_fail(msg, r, "%s (key id %s)", why, id);
    return ota_fail(msg, r, "%s (%s: %u of %u bytes made)", why, what, made, limit);
}

enum ota_err pkg_verify(const struct io_reader *pkg, const uint8_t (*keys)[CRYPTO_PUB_LEN],
                        size_t nkeys, struct pkg_header *h, char *msg)
{
    uint8_t buf[PKG_HEADER_LEN];
    struct dio_reader pr;
    const char *why = NULL;
    if (pkg->size < PKG_HEADER_LEN)
        return ota_fail(msg, OTA_E_CORRUPT, "pkg: %llu bytes, shorter than a header",
                        (unsigned long long)pkg->size);
    if (io_read_at(pkg, 0, buf, PKG_HEADER_LEN) != OTA_OK)
        return ota_fail(msg, OTA_E_IO, "pkg: cannot read header");
    enum ota_err e = pkg_header_parse(buf, PKG_HEADER_LEN, pkg->size, h, msg);
    struct pkg_work *k = e == OTA_OK ? pkg_work_open(pkg, h, &pr, msg) : NULL;
    if (!k)
        return e != OTA_OK ? e : OTA_E_CORRUPT;
    int r = dpkg_verify(&k->w, &pr, &k->d, keys, nkeys > INT_MAX ? INT_MAX : (int)nkeys, &why);
    return pkg_work_close(k, r, why, NULL, msg);
}

enum ota_err pkg_script_extract(const struct io_reader *pkg, const struct pkg_header *h,
                                const struct io_writer *out, char *msg)
{
    struct dio_reader pr;
    struct dio_writer ow;
    const char *why = NULL;
    if (!(h->flags & PKG_F_SCRIPT))
        return ota_fail(msg, OTA_E_INVAL, "pkg: no script section");
    struct pkg_work *k = pkg_work_open(pkg, h, &pr, msg);
    if (!k)
        return OTA_E_CORRUPT;
    dback_io_writer(&k->out, out, &k->io_err, &ow);
    int e = dpkg_extract_script(&k->w, &pr, &k->d, &ow, &why);
    return pkg_work_close(k, e, why, "script", msg);
}

size_t pkg_apply_mem_peak(void)
{
    return pkg_dec_peak;
}

enum ota_err pkg_core_extract(const struct io_reader *pkg, const struct pkg_header *h,
                              const struct io_reader *old_core, const struct io_writer *out,
                              char *msg)
{
    struct dio_reader pr, orr;
    struct dio_writer ow;
    const char *why = NULL;
    if (!(h->flags & (PKG_F_CORE_FULL | PKG_F_CORE_DELTA)))
        return ota_fail(msg, OTA_E_INVAL, "pkg: no core section");
    struct pkg_work *k = pkg_work_open(pkg, h, &pr, msg);
    if (!k)
        return OTA_E_CORRUPT;
    dback_io_writer(&k->out, out, &k->io_err, &ow);
    /* an old image too large for the format can only mismatch */
    uint32_t old_len = !old_core ? 0 : old_core->size > UINT32_MAX ? UINT32_MAX
                                                                  : (uint32_t)old_core->size;
    if (old_core)
        dback_io_reader(&k->old, old_core, &k->io_err, &orr);
    int e = dpkg_extract_core(&k->w, &pr, &k->d, old_core ? &orr : NULL, old_len, &ow, &why);
    if (h->flags & PKG_F_CORE_DELTA)
        pkg_dec_peak = sizeof k->w.u.apply.dd + sizeof k->w.in + k->z.peak;
    return pkg_work_close(k, e, why, "core", msg);
}
