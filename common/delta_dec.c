/* delta_dec.c - streaming delta decoder with fixed working memory.
 *
 * The device path: pkg.c feeds the core section of a package through it,
 * cache/diff.c a standalone patch. An explicit state machine (phases in
 * delta.h) consumes inflated bytes in DELTA_DEC_BUF pieces, so a record
 * may span any number of feed calls. zlib allocates only from the caller's
 * arena through dec_zalloc. Sections: arena allocator, start (header, old
 * image check), records, inflate loop, public entry points.
 */
#include "delta.h"

#include <stdlib.h>
#include <string.h>

/* ---- arena allocator: a bump pointer, freed all at once ---- */

static voidpf dec_zalloc(voidpf opaque, uInt items, uInt size)
{
    struct delta_dec *d = opaque;
    size_t n;
    if (__builtin_mul_overflow((size_t)items, (size_t)size, &n) || n > SIZE_MAX - 15)
        return Z_NULL;
    n = (n + 15) & ~(size_t)15;
    if (n > d->arena_len - d->arena_used)
        return Z_NULL;
    void *p = d->arena + d->arena_used;
    d->arena_used += n;
    if (d->arena_used > d->arena_peak)
        d->arena_peak = d->arena_used;
    return p;
}

static void dec_zfree(voidpf opaque, voidpf p)
{
    /* memory returns when the decode ends; zlib frees only at inflateEnd */
    (void)opaque;
    (void)p;
}

static enum ota_err dec_fail(struct delta_dec *d, enum ota_err e)
{
    d->phase = DELTA_PH_FAILED;
    d->err = e;
    return e;
}

/* ---- start: header, old image, zlib ---- */

static enum ota_err dec_check_old(struct delta_dec *d, const uint8_t *want, char *msg)
{
    struct crypto_sha256 h;
    uint8_t got[CRYPTO_HASH_LEN];
    if (d->old.size != d->info.old_size)
        return ota_fail(msg, OTA_E_AUTH, "delta: old image is %llu bytes, stream expects %llu",
                        (unsigned long long)d->old.size, (unsigned long long)d->info.old_size);
    crypto_sha256_begin(&h);
    for (uint64_t off = 0; off < d->old.size;) {
        size_t n = d->old.size - off < sizeof d->oldbuf ? (size_t)(d->old.size - off)
                                                        : sizeof d->oldbuf;
        enum ota_err e = io_read_at(&d->old, off, d->oldbuf, n);
        if (e != OTA_OK)
            return ota_fail(msg, e, "delta: reading old image at %llu", (unsigned long long)off);
        crypto_sha256_add(&h, d->oldbuf, n);
        off += n;
    }
    crypto_sha256_end(&h, got);
    if (memcmp(got, want, CRYPTO_HASH_LEN) != 0)
        return ota_fail(msg, OTA_E_AUTH, "delta: old image SHA-256 differs from the stream's");
    return OTA_OK;
}

static enum ota_err dec_start(struct delta_dec *d, char *msg)
{
    uint8_t old_hash[CRYPTO_HASH_LEN];
    enum ota_err e = delta_info_parse(d->hdr, sizeof d->hdr, &d->info, old_hash, d->new_hash, msg);
    if (e != OTA_OK)
        return e;
    size_t need = delta_dec_arena_size(d->info.window_bits);
    if (d->arena_len < need)
        return ota_fail(msg, OTA_E_LIMIT, "delta: window %d needs a %zu-byte arena, have %zu",
                        d->info.window_bits, need, d->arena_len);
    e = dec_check_old(d, old_hash, msg);
    if (e != OTA_OK)
        return e;
    memset(&d->zs, 0, sizeof d->zs);
    d->zs.zalloc = dec_zalloc;
    d->zs.zfree = dec_zfree;
    d->zs.opaque = d;
    if (inflateInit2(&d->zs, d->info.window_bits) != Z_OK)
        return ota_fail(msg, OTA_E_NOMEM, "delta: inflateInit2 failed in a %zu-byte arena",
                        d->arena_len);
    d->z_live = 1;
    crypto_sha256_begin(&d->hash);
    d->phase = DELTA_PH_CTRL;
    return OTA_OK;
}

/* ---- records ---- */

static enum ota_err dec_emit(struct delta_dec *d, const uint8_t *p, size_t n, char *msg)
{
    enum ota_err e = io_write(&d->out, p, n);
    if (e != OTA_OK)
        return ota_fail(msg, e, "delta: writing new image at %llu",
                        (unsigned long long)d->new_pos);
    crypto_sha256_add(&d->hash, p, n);
    d->new_pos += n;
    return OTA_OK;
}

/* Validate the record in ctrl[] against both images before any byte of it
 * is used: the seek lands inside old, the diff bytes read inside old, the
 * record ends within the declared new size. */
static enum ota_err dec_record_start(struct delta_dec *d, char *msg)
{
    /* version 2 adds the record's transform bit above the width code,
     * version 3 its ADRP adjust bit above that */
    unsigned mode_bits = (unsigned)d->info.version + 1;
    uint64_t diff = d->ctrl[0] >> mode_bits, extra = d->ctrl[1], z = d->ctrl[2];
    int rec_xf = mode_bits >= 3 && (d->ctrl[0] & 4), rec_adj = mode_bits == 4 && (d->ctrl[0] & 8);
    uint64_t room = d->info.new_size - d->new_pos, mag = (z >> 1) + (z & 1);
    if (diff == 0 && extra == 0)
        return ota_fail(msg, OTA_E_CORRUPT, "delta: empty record at new offset %llu",
                        (unsigned long long)d->new_pos);
    if (rec_xf && (d->info.xf == DELTA_XF_NONE || diff == 0))
        return ota_fail(msg, OTA_E_CORRUPT, "delta: record at new offset %llu asks for a "
                        "transform the stream has not got", (unsigned long long)d->new_pos);
    if (rec_adj && ((d->info.xf != DELTA_XF_NONE && d->info.xf != DELTA_XF_ARM64) || diff == 0))
        return ota_fail(msg, OTA_E_CORRUPT, "delta: record at new offset %llu adjusts ADRPs "
                        "in a stream of transform %d or without diff bytes",
                        (unsigned long long)d->new_pos, d->info.xf);
    if (diff > room || extra > room - diff)
        return ota_fail(msg, OTA_E_CORRUPT, "delta: record of %llu+%llu bytes at %llu passes "
                        "new size %llu", (unsigned long long)diff, (unsigned long long)extra,
                        (unsigned long long)d->new_pos, (unsigned long long)d->info.new_size);
    if (z & 1 ? mag > d->old_pos : mag > d->info.old_size - d->old_pos)
        return ota_fail(msg, OTA_E_CORRUPT, "delta: seek %s%llu from old offset %llu leaves "
                        "the old image", z & 1 ? "-" : "+", (unsigned long long)mag,
                        (unsigned long long)d->old_pos);
    uint64_t at = z & 1 ? d->old_pos - mag : d->old_pos + mag;
    if (diff > d->info.old_size - at)
        return ota_fail(msg, OTA_E_CORRUPT, "delta: record reads %llu old bytes at %llu, past "
                        "old size %llu", (unsigned long long)diff, (unsigned long long)at,
                        (unsigned long long)d->info.old_size);
    d->old_pos = at;
    d->old_end = at + diff;
    d->rec_xf = rec_xf;
    /* zigzag pages, modulo the 21-bit field */
    d->rec_adj = rec_adj ? (uint32_t)((d->ctrl[3] >> 1) ^ (0 - (d->ctrl[3] & 1))) & DELTA_ADJ_MASK
                         : 0;    d->xo_tail_len = d->xn_hold_len = 0;
    d->diff_left = diff;
    d->extra_left = extra;
    d->width = 1u << (d->ctrl[0] & 3);
    if (rec_adj && d->rec_adj == 0)
        return ota_fail(msg, OTA_E_CORRUPT, "delta: record at new offset %llu adjusts ADRPs "
                        "by 0 pages", (unsigned long long)d->new_pos);
    d->carry = 0;
    d->phase = diff ? DELTA_PH_RUNS : DELTA_PH_EXTRA;
    return OTA_OK;
}

/* A zero run and a literal run inside the diff bytes of a record. */
static enum ota_err dec_runs_start(struct delta_dec *d, char *msg)
{
    uint64_t z = d->ctrl[0] >> DELTA_RUN_BITS, l = d->ctrl[0] & DELTA_RUN_MAX;
    if (l == DELTA_RUN_MAX && d->ctrl[1] > UINT64_MAX - DELTA_RUN_MAX)
        return ota_fail(msg, OTA_E_CORRUPT, "delta: literal run overflows at new offset %llu",
                        (unsigned long long)d->new_pos);
    if (l == DELTA_RUN_MAX)
        l += d->ctrl[1];
    if ((z == 0 && l == 0) || z > d->diff_left || l > d->diff_left - z)
        return ota_fail(msg, OTA_E_CORRUPT, "delta: diff runs %llu+%llu at new offset %llu "
                        "exceed the record's %llu diff bytes", (unsigned long long)z,
                        (unsigned long long)l, (unsigned long long)d->new_pos,
                        (unsigned long long)d->diff_left);
    d->zero_left = z;
    d->lit_left = l;
    d->phase = z ? DELTA_PH_ZERO : DELTA_PH_LIT;
    return OTA_OK;
}

/* Varints in a record header (3, plus the adjust of a version 3 record
 * with its bit set), or in a pair of runs: one, plus one for a literal run
 * of DELTA_RUN_MAX bytes or more. */
static int dec_varints_needed(const struct delta_dec *d)
{
    if (d->phase == DELTA_PH_CTRL)
        return d->info.version == DELTA_FORMAT_VERSION_ADJ && d->ctrl_idx >= 1 &&
                       (d->ctrl[0] & 8)
                   ? 4
                   : 3;
    return d->ctrl_idx >= 1 && (d->ctrl[0] & DELTA_RUN_MAX) == DELTA_RUN_MAX ? 2 : 1;
}

/* Control varints. */
static enum ota_err dec_varint_byte(struct delta_dec *d, uint8_t b, char *msg)
{
    if (d->phase == DELTA_PH_CTRL && d->new_pos == d->info.new_size)
        return ota_fail(msg, OTA_E_CORRUPT, "delta: data after the last record at %llu",
                        (unsigned long long)d->new_pos);
    if (d->ctrl_shift > 63 || (d->ctrl_shift == 63 && (b & 0x7e)))
        return ota_fail(msg, OTA_E_CORRUPT, "delta: varint overflow at new offset %llu",
                        (unsigned long long)d->new_pos);
    d->ctrl[d->ctrl_idx] |= (uint64_t)(b & 0x7f) << d->ctrl_shift;
    if (b & 0x80) {
        d->ctrl_shift += 7;
        return OTA_OK;
    }
    d->ctrl_shift = 0;
    if (++d->ctrl_idx < dec_varints_needed(d))
        return OTA_OK;
    d->ctrl_idx = 0;
    enum ota_err e = d->phase == DELTA_PH_CTRL ? dec_record_start(d, msg) : dec_runs_start(d, msg);
    memset(d->ctrl, 0, sizeof d->ctrl);
    return e;
}

/* The next n old bytes of the record into oldbuf + DELTA_DEC_HEAD, in the
 * transformed domain when the record asks: a unit that starts before n is
 * transformed whole (reading ahead up to its end), and its bytes past n are
 * kept in xo_tail for the next call, which resumes the pass after them. */
static enum ota_err dec_old_read(struct delta_dec *d, size_t n, char *msg)
{
    uint8_t *o = d->oldbuf + DELTA_DEC_HEAD;
    uint64_t left = d->old_end - d->old_pos;
    size_t ext = n;
    int units = d->rec_xf || d->rec_adj;
    if (units) {
        size_t ahead = (d->rec_adj ? DELTA_ADJ_UNIT : delta_xf_unit_len(d->info.xf)) - 1;
        ext = left - n < ahead ? (size_t)left : n + ahead;
    }
    enum ota_err e = io_read_at(&d->old, d->old_pos, o, ext);
    if (e != OTA_OK)
        return ota_fail(msg, e, "delta: reading old image at %llu",
                        (unsigned long long)d->old_pos);
    if (!units)
        return OTA_OK;
    size_t t = d->xo_tail_len;
    memcpy(o, d->xo_tail, t);
    size_t s = t + delta_xf_old_run(d->info.xf, d->rec_xf, d->rec_adj, o + t, ext - t,
                                    d->old_pos + t, ext == left);
    d->xo_tail_len = (unsigned)(s - n);
    memcpy(d->xo_tail, o + n, s - n);
    return OTA_OK;
}

/* Output n bytes of the record's diff span from p (which has DELTA_DEC_HEAD
 * spare bytes in front): restored from the transformed domain when the
 * record asks, holding back a unit that may continue in the next call. */
static enum ota_err dec_emit_diff(struct delta_dec *d, uint8_t *p, size_t n, char *msg)
{
    if (!d->rec_xf)
        return dec_emit(d, p, n, msg);
    p -= d->xn_hold_len;
    memcpy(p, d->xn_hold, d->xn_hold_len);
    n += d->xn_hold_len;
    size_t s = delta_xf_run(d->info.xf, p, n, d->new_pos, 1, d->diff_left == 0);
    d->xn_hold_len = (unsigned)(n - s);
    memcpy(d->xn_hold, p + s, n - s);
    return dec_emit(d, p, s, msg);
}

/* dst = old + diff (diff NULL: zeros) over n old bytes, with the carry of
 * little-endian words of d->width bytes aligned on the new offset. */
static enum ota_err dec_old_plus(struct delta_dec *d, uint8_t *dst, const uint8_t *diff, size_t n,
                                 char *msg)
{
    const uint8_t *o = d->oldbuf + DELTA_DEC_HEAD;
    enum ota_err e = dec_old_read(d, n, msg);
    if (e != OTA_OK)
        return e;
    if (d->width == 1) {
        for (size_t i = 0; diff && i < n; i++) /* zeros: dst is o already */
            dst[i] = (uint8_t)(o[i] + diff[i]);
    } else {
        unsigned c = d->carry, mask = d->width - 1;
        uint64_t at = d->new_pos + d->xn_hold_len;
        for (size_t i = 0; i < n; i++) {
            if (((at + i) & mask) == 0)
                c = 0;
            unsigned sum = o[i] + (diff ? diff[i] : 0u) + c;
            dst[i] = (uint8_t)sum;
            c = sum >> 8;
        }
        d->carry = c;
    }
    d->old_pos += n;
    d->diff_left -= n;
    return dec_emit_diff(d, dst, n, msg);
}

static enum ota_err dec_zero(struct delta_dec *d, char *msg)
{
    size_t k = d->zero_left < DELTA_DEC_BUF ? (size_t)d->zero_left : DELTA_DEC_BUF;
    d->zero_left -= k;
    return dec_old_plus(d, d->oldbuf + DELTA_DEC_HEAD, NULL, k, msg);
}

static void dec_record_step(struct delta_dec *d)
{
    if (d->phase == DELTA_PH_ZERO && d->zero_left == 0)
        d->phase = DELTA_PH_LIT;
    if (d->phase == DELTA_PH_LIT && d->lit_left == 0)
        d->phase = DELTA_PH_RUNS;
    if (d->phase == DELTA_PH_RUNS && d->diff_left == 0)
        d->phase = DELTA_PH_EXTRA;
    if (d->phase == DELTA_PH_EXTRA && d->extra_left == 0)
        d->phase = DELTA_PH_CTRL;
}

/* n <= DELTA_DEC_BUF, p inside d->buf (diff bytes are added in place).
 * Zero runs need no input, so they are flushed even when n is 0. */
static enum ota_err dec_consume(struct delta_dec *d, uint8_t *p, size_t n, char *msg)
{
    for (;;) {
        enum ota_err e;
        size_t k = 0;
        if (d->phase == DELTA_PH_ZERO) {
            e = dec_zero(d, msg);
        } else if (n == 0) {
            return OTA_OK;
        } else if (d->phase == DELTA_PH_CTRL || d->phase == DELTA_PH_RUNS) {
            k = 1;
            e = dec_varint_byte(d, *p, msg);
        } else if (d->phase == DELTA_PH_LIT) {
            k = d->lit_left < n ? (size_t)d->lit_left : n;
            d->lit_left -= k;
            e = dec_old_plus(d, p, p, k, msg);
        } else {
            k = d->extra_left < n ? (size_t)d->extra_left : n;
            d->extra_left -= k;
            e = dec_emit(d, p, k, msg);
        }
        if (e != OTA_OK)
            return e;
        dec_record_step(d);
        p += k;
        n -= k;
    }
}

/* ---- inflate loop ---- */

static enum ota_err dec_inflate(struct delta_dec *d, char *msg)
{
    for (;;) {
        d->zs.next_out = d->buf + DELTA_DEC_HEAD;
        d->zs.avail_out = DELTA_DEC_BUF;
        int zr = inflate(&d->zs, Z_NO_FLUSH);
        size_t got = DELTA_DEC_BUF - d->zs.avail_out;
        if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR)
            return ota_fail(msg, zr == Z_MEM_ERROR ? OTA_E_NOMEM : OTA_E_CORRUPT,
                            "delta: zlib: %s after %lu stream bytes",
                            d->zs.msg ? d->zs.msg : "error", d->zs.total_in);
        enum ota_err e = dec_consume(d, d->buf + DELTA_DEC_HEAD, got, msg);
        if (e != OTA_OK)
            return e;
        if (zr == Z_STREAM_END) {
            d->z_end = 1;
            if (d->zs.avail_in > 0)
                return ota_fail(msg, OTA_E_CORRUPT, "delta: %u bytes after the zlib stream",
                                d->zs.avail_in);
            return OTA_OK;
        }
        if (got == 0 && (d->zs.avail_in == 0 || zr == Z_BUF_ERROR))
            return OTA_OK;
    }
}

/* ---- public entry points ---- */

enum ota_err delta_dec_init(struct delta_dec *d, const struct io_reader *old,
                            const struct io_writer *out, void *arena, size_t arena_len,
                            char *msg)
{
    memset(d, 0, sizeof *d);
    if (!old || !out || (!arena && arena_len))
        return dec_fail(d, ota_fail(msg, OTA_E_INVAL, "delta: missing reader, writer or arena"));
    d->old = *old;
    d->out = *out;
    d->arena = arena;
    d->arena_len = arena_len;
    d->phase = DELTA_PH_HEADER;
    return OTA_OK;
}

static enum ota_err dec_feed_header(struct delta_dec *d, const uint8_t **p, size_t *len, char *msg)
{
    size_t take = DELTA_HEADER_LEN - d->hdr_len;
    if (take > *len)
        take = *len;
    memcpy(d->hdr + d->hdr_len, *p, take);
    d->hdr_len += take;
    *p += take;
    *len -= take;
    return d->hdr_len < DELTA_HEADER_LEN ? OTA_OK : dec_start(d, msg);
}

enum ota_err delta_dec_feed(struct delta_dec *d, const void *chunk, size_t len, char *msg)
{
    const uint8_t *p = chunk;
    enum ota_err e;
    if (d->phase == DELTA_PH_FAILED || d->phase == DELTA_PH_DONE)
        return ota_fail(msg, OTA_E_STATE, "delta: decoder %s",
                        d->phase == DELTA_PH_DONE ? "already finished" : "failed earlier");
    if (d->phase == DELTA_PH_HEADER && (e = dec_feed_header(d, &p, &len, msg)) != OTA_OK)
        return dec_fail(d, e);
    while (len > 0) {
        if (d->z_end)
            return dec_fail(d, ota_fail(msg, OTA_E_CORRUPT,
                                        "delta: %zu bytes after the zlib stream", len));
        uInt n = len > (1u << 30) ? (1u << 30) : (uInt)len;
        d->zs.next_in = (Bytef *)(uintptr_t)p;
        d->zs.avail_in = n;
        if ((e = dec_inflate(d, msg)) != OTA_OK)
            return dec_fail(d, e);
        p += n;
        len -= n;
    }
    return OTA_OK;
}

enum ota_err delta_dec_finish(struct delta_dec *d, char *msg)
{
    uint8_t got[CRYPTO_HASH_LEN];
    if (d->phase == DELTA_PH_FAILED || d->phase == DELTA_PH_DONE)
        return ota_fail(msg, OTA_E_STATE, "delta: decoder %s",
                        d->phase == DELTA_PH_DONE ? "already finished" : "failed earlier");
    if (d->phase == DELTA_PH_HEADER)
        return dec_fail(d, ota_fail(msg, OTA_E_CORRUPT, "delta: truncated header (%zu bytes)",
                                    d->hdr_len));
    if (!d->z_end || d->phase != DELTA_PH_CTRL || d->ctrl_idx || d->ctrl_shift)
        return dec_fail(d, ota_fail(msg, OTA_E_CORRUPT, "delta: stream truncated after %lu "
                                    "bytes, %llu of %llu bytes written", d->zs.total_in,
                                    (unsigned long long)d->new_pos,
                                    (unsigned long long)d->info.new_size));
    if (d->new_pos != d->info.new_size)
        return dec_fail(d, ota_fail(msg, OTA_E_CORRUPT, "delta: stream ended at %llu of %llu "
                                    "bytes", (unsigned long long)d->new_pos,
                                    (unsigned long long)d->info.new_size));
    crypto_sha256_end(&d->hash, got);
    if (memcmp(got, d->new_hash, CRYPTO_HASH_LEN) != 0)
        return dec_fail(d, ota_fail(msg, OTA_E_AUTH, "delta: new image SHA-256 differs from "
                                    "the stream's"));
    inflateEnd(&d->zs);
    d->z_live = 0;
    d->phase = DELTA_PH_DONE;
    return OTA_OK;
}

size_t delta_dec_arena_peak(const struct delta_dec *d)
{
    return d->arena_peak;
}

enum ota_err delta_decode_reader(const uint8_t *delta, size_t delta_len,
                                 const struct io_reader *old, const struct io_writer *out,
                                 char *msg)
{
    struct delta_info info;
    enum ota_err e = delta_info_parse(delta, delta_len, &info, NULL, NULL, msg);
    if (e != OTA_OK)
        return e;
    size_t alen = delta_dec_arena_size(info.window_bits);
    struct delta_dec *d = malloc(sizeof *d);
    void *arena = malloc(alen);
    if (!d || !arena) {
        free(d);
        free(arena);
        return ota_fail(msg, OTA_E_NOMEM, "delta: %zu bytes for the decoder", alen + sizeof *d);
    }
    e = delta_dec_init(d, old, out, arena, alen, msg);
    if (e == OTA_OK)
        e = delta_dec_feed(d, delta, delta_len, msg);
    if (e == OTA_OK)
        e = delta_dec_finish(d, msg);
    free(arena);
    free(d);
    return e;
}
