/* pkg.c - package format v1: header codec, build, verify, extract.
 *
 * Sections:
 *   1. header encode / parse (every field validated against the file size)
 *   2. names
 *   3. build (cache host: compress sections in memory, sign while writing)
 *   4. verify (one pass over the package through an io_reader)
 *   5. extract (inflate or delta-decode into an io_writer, hash as we go)
 * The byte layout is documented in common/FORMAT.md; keep the two in step.
 */
#include "pkg.h"

#include "cur.h"
#include "delta.h"
#include "dpkg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#define PKG_CHUNK 4096

/* The delta decoder's state and zlib arena, sized at compile time for the
 * largest window so applying a delta allocates nothing. Static because the
 * device applies one package at a time; a build that needs concurrency
 * would pass a workspace instead. */
static struct delta_dec pkg_dec;
static uint8_t pkg_dec_arena[DELTA_ARENA_MAX];
static size_t pkg_dec_peak;

/* Plain inflate (script, full core) borrows the same arena: zlib's state
 * plus a window of 1 << bits, from a bump allocator that never frees. */
#define PKG_INFLATE_STATE (DELTA_ZLIB_STATE_BYTES + 32u)
static size_t pkg_arena_used;

static voidpf pkg_zalloc(voidpf opaque, uInt items, uInt size)
{
    size_t n, at = (pkg_arena_used + 15u) & ~(size_t)15u;
    (void)opaque;
    if (__builtin_mul_overflow((size_t)items, (size_t)size, &n) || n > sizeof pkg_dec_arena - at)
        return Z_NULL;
    pkg_arena_used = at + n;
    return pkg_dec_arena + at;
}

static void pkg_zfree(voidpf opaque, voidpf p)
{
    (void)opaque;
    (void)p;
}

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
        *mem = (uint32_t)(sizeof(z_stream) + PKG_INFLATE_STATE + (1u << bits));
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

/* ---- 4. verify ---------------------------------------------------------- */

enum ota_err pkg_verify(const struct io_reader *pkg, const uint8_t (*keys)[CRYPTO_PUB_LEN],
                        size_t nkeys, struct pkg_header *h, char *msg)
{
    uint8_t buf[PKG_CHUNK], sig[CRYPTO_SIG_LEN], id[CRYPTO_KEYID_LEN];
    if (pkg->size < PKG_HEADER_LEN)
        return ota_fail(msg, OTA_E_CORRUPT, "pkg: %llu bytes, shorter than a header",
                        (unsigned long long)pkg->size);
    if (io_read_at(pkg, 0, buf, PKG_HEADER_LEN) != OTA_OK)
        return ota_fail(msg, OTA_E_IO, "pkg: cannot read header");
    enum ota_err e = pkg_header_parse(buf, PKG_HEADER_LEN, pkg->size, h, msg);
    if (e != OTA_OK)
        return e;
    const uint8_t *key = NULL;
    for (size_t i = 0; i < nkeys && !key; i++) {
        crypto_key_id(keys[i], id);
        if (memcmp(id, h->key_id, sizeof id) == 0)
            key = keys[i];
    }
    if (!key) {
        char hex[2 * CRYPTO_KEYID_LEN + 1];
        ota_hex(h->key_id, CRYPTO_KEYID_LEN, hex);
        return ota_fail(msg, OTA_E_AUTH, "pkg: signed by unknown key id %s", hex);
    }
    struct crypto_signer s;
    crypto_sign_begin(&s);
    uint64_t end = pkg_sig_offset(h);
    for (uint64_t off = 0; off < end;) {
        size_t n = end - off < sizeof buf ? (size_t)(end - off) : sizeof buf;
        if (io_read_at(pkg, off, buf, n) != OTA_OK)
            return ota_fail(msg, OTA_E_IO, "pkg: read failed at offset %llu",
                            (unsigned long long)off);
        crypto_sign_add(&s, buf, n);
        off += n;
    }
    if (io_read_at(pkg, end, sig, sizeof sig) != OTA_OK)
        return ota_fail(msg, OTA_E_IO, "pkg: cannot read signature");
    if (crypto_verify_end(&s, sig, key) != OTA_OK)
        return ota_fail(msg, OTA_E_AUTH, "pkg: signature does not verify");
    return OTA_OK;
}

/* ---- 5. extract --------------------------------------------------------- */

/* Writer wrapper that counts and hashes what passes through, refusing to
 * go past the size the header declared. */
struct pkg_sink {
    const struct io_writer *out;
    struct crypto_sha256 h;
    uint64_t written, limit;
};

static enum ota_err pkg_sink_write(void *ctx, const void *buf, size_t len)
{
    struct pkg_sink *s = ctx;
    if (len > s->limit - s->written)
        return OTA_E_CORRUPT;
    crypto_sha256_add(&s->h, buf, len);
    s->written += len;
    return io_write(s->out, buf, len);
}

static enum ota_err pkg_sink_check(struct pkg_sink *s, const uint8_t hash[CRYPTO_HASH_LEN],
                                   const char *what, char *msg)
{
    uint8_t got[CRYPTO_HASH_LEN];
    if (s->written != s->limit)
        return ota_fail(msg, OTA_E_CORRUPT, "pkg: %s is %llu bytes, header says %llu", what,
                        (unsigned long long)s->written, (unsigned long long)s->limit);
    crypto_sha256_end(&s->h, got);
    if (memcmp(got, hash, CRYPTO_HASH_LEN) != 0)
        return ota_fail(msg, OTA_E_AUTH, "pkg: %s hash mismatch", what);
    return OTA_OK;
}

/* Inflate [off, off+len) of the package into sink. */
static enum ota_err pkg_inflate(const struct io_reader *pkg, uint64_t off, uint64_t len,
                                int bits, struct io_writer *sink, const char *what, char *msg)
{
    uint8_t in[PKG_CHUNK], out[PKG_CHUNK];
    z_stream z;
    int rc = Z_OK;
    memset(&z, 0, sizeof z);
    z.zalloc = pkg_zalloc;
    z.zfree = pkg_zfree;
    pkg_arena_used = 0;
    if (inflateInit2(&z, bits) != Z_OK)
        return ota_fail(msg, OTA_E_NOMEM, "inflateInit2 failed");
    enum ota_err e = OTA_OK;
    while (rc != Z_STREAM_END && e == OTA_OK) {
        if (z.avail_in == 0 && len > 0) {
            size_t n = len < sizeof in ? (size_t)len : sizeof in;
            if ((e = io_read_at(pkg, off, in, n)) != OTA_OK)
                break;
            off += n;
            len -= n;
            z.next_in = in;
            z.avail_in = (uInt)n;
        }
        z.next_out = out;
        z.avail_out = sizeof out;
        rc = inflate(&z, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END && !(rc == Z_BUF_ERROR && z.avail_in == 0 && len))
            e = OTA_E_CORRUPT;
        else if (rc == Z_BUF_ERROR && len == 0 && z.avail_in == 0)
            e = OTA_E_CORRUPT;
        else
            e = io_write(sink, out, sizeof out - z.avail_out);
    }
    if (e == OTA_OK && (len != 0 || z.avail_in != 0))
        e = OTA_E_CORRUPT; /* trailing bytes after the stream */
    inflateEnd(&z);
    if (e != OTA_OK)
        return ota_fail(msg, e, "pkg: %s section %s", what,
                        e == OTA_E_CORRUPT ? "is corrupt or overruns its size" : "write failed");
    return OTA_OK;
}

enum ota_err pkg_script_extract(const struct io_reader *pkg, const struct pkg_header *h,
                                const struct io_writer *out, char *msg)
{
    struct pkg_sink s = {.out = out, .limit = h->script_size};
    struct io_writer w = {pkg_sink_write, &s};
    if (!(h->flags & PKG_F_SCRIPT))
        return ota_fail(msg, OTA_E_INVAL, "pkg: no script section");
    crypto_sha256_begin(&s.h);
    enum ota_err e = pkg_inflate(pkg, pkg_script_offset(h), h->script_len,
                                 (int)h->window_bits, &w, "script", msg);
    return e != OTA_OK ? e : pkg_sink_check(&s, h->script_hash, "script", msg);
}

/* Stream the core section through the delta decoder. */
static enum ota_err pkg_delta_apply(const struct io_reader *pkg, const struct pkg_header *h,
                                    const struct io_reader *old_core, struct io_writer *out,
                                    char *msg)
{
    uint8_t buf[PKG_CHUNK];
    size_t arena = delta_dec_arena_size((int)h->window_bits);
    if (arena > sizeof pkg_dec_arena || h->core_mem > delta_dec_mem(DELTA_WINDOW_BITS_MAX))
        return ota_fail(msg, OTA_E_LIMIT, "pkg: delta needs %u bytes of working memory, this "
                        "build has %u", h->core_mem, delta_dec_mem(DELTA_WINDOW_BITS_MAX));
    enum ota_err e = delta_dec_init(&pkg_dec, old_core, out, pkg_dec_arena, arena, msg);
    uint64_t off = pkg_core_offset(h), left = h->core_len;
    while (e == OTA_OK && left > 0) {
        size_t n = left < sizeof buf ? (size_t)left : sizeof buf;
        if ((e = io_read_at(pkg, off, buf, n)) != OTA_OK)
            return ota_fail(msg, e, "pkg: cannot read core section at offset %llu",
                            (unsigned long long)off);
        e = delta_dec_feed(&pkg_dec, buf, n, msg);
        off += n;
        left -= n;
    }
    if (e == OTA_OK)
        e = delta_dec_finish(&pkg_dec, msg);
    pkg_dec_peak = sizeof pkg_dec + delta_dec_arena_peak(&pkg_dec);
    return e;
}

size_t pkg_apply_mem_peak(void)
{
    return pkg_dec_peak;
}

enum ota_err pkg_core_extract(const struct io_reader *pkg, const struct pkg_header *h,
                              const struct io_reader *old_core, const struct io_writer *out,
                              char *msg)
{
    struct pkg_sink s = {.out = out, .limit = h->core_size};
    struct io_writer w = {pkg_sink_write, &s};
    enum ota_err e;
    crypto_sha256_begin(&s.h);
    if (h->flags & PKG_F_CORE_FULL) {
        e = pkg_inflate(pkg, pkg_core_offset(h), h->core_len, (int)h->window_bits, &w, "core",
                        msg);
    } else if (h->flags & PKG_F_CORE_DELTA) {
        if (!old_core || old_core->size != h->old_core_size)
            return ota_fail(msg, OTA_E_AUTH, "pkg: running core is not the delta's base");
        e = pkg_delta_apply(pkg, h, old_core, &w, msg);
    } else {
        return ota_fail(msg, OTA_E_INVAL, "pkg: no core section");
    }
    return e != OTA_OK ? e : pkg_sink_check(&s, h->core_hash, "core", msg);
}
