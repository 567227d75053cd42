/* ddelta.c - streaming delta decoder with fixed working memory (formats 1 to 4).
 *
 * An explicit state machine (enum ddelta_phase) consumes inflated bytes in
 * DDELTA_BUF pieces, so a record may span any number of feed calls. Every
 * rule of common/DELTA.md "Validity" is checked before the bytes it guards
 * are used. Positions are 32-bit: the header bounds both images by
 * DDELTA_IMAGE_MAX (1 GiB), and varints are range-checked in 64 bits
 * before they are narrowed. Sections: header, start (old image check),
 * records, inflate loop, entry points.
 */
#include "ddelta.h"

#include <string.h>

#include "odev.h"

#define DD_RUN_BITS 2 /* a run pair: zero_run << 2 | min(lit_run, 3) */
#define DD_RUN_MAX 3u
#define DD_ADJ_UNIT 4 /* an ADRP */
#define DD_ADJ_MASK 0x1FFFFFu
#define DD_XF_ARM64 4

static uint32_t dd_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- header ---- */

const char ddelta_why_version[] = "delta header: unknown format version";

int ddelta_header_parse(const uint8_t *buf, size_t len, struct ddelta_info *info,
                        const char **why)
{
    if (len < DDELTA_HEADER_LEN)
        *why = "delta header: truncated";
    else if (memcmp(buf, DDELTA_MAGIC, 4) != 0)
        *why = "delta header: bad magic";
    else if (buf[4] < DDELTA_VERSION_MIN || buf[4] > DDELTA_VERSION_MAX)
        *why = ddelta_why_version;
    else if (buf[5] < DDELTA_WBITS_MIN || buf[5] > DDELTA_WBITS_MAX)
        *why = "delta header: window bits out of 9..15";
    /* versions 2 to 4 keep their transform kind in the flags byte, 4 its
     * control stream's window in the reserved one */
    else if ((buf[4] == 1 && buf[6] != 0) || buf[6] >= DDELTA_XF_COUNT ||
             buf[7] != (buf[4] == DDELTA_VERSION_SPLIT ? ddelta_ctl_wbits(buf[5]) : 0))
        *why = "delta header: unknown flags";
    else if (dd_be32(buf + 8) || dd_be32(buf + 12) > DDELTA_IMAGE_MAX || dd_be32(buf + 16) ||
             dd_be32(buf + 20) > DDELTA_IMAGE_MAX)
        *why = "delta header: image size above 1 GiB";
    else
        *why = NULL;
    if (*why)
        return ODEV_E_CORRUPT;
    info->version = buf[4];
    info->wbits = buf[5];
    info->xf = buf[6];
    info->old_size = dd_be32(buf + 12);
    info->new_size = dd_be32(buf + 20);
    memcpy(info->old_hash, buf + 24, DSHA256_LEN);
    memcpy(info->new_hash, buf + 56, DSHA256_LEN);
    return ODEV_OK;
}

static int dd_fail(struct ddelta *d, int err, const char *why)
{
    d->phase = DDELTA_PH_FAILED;
    d->err = err;
    d->why = why;
    return err;
}

/* ---- start: header, old image, inflater ---- */

static int dd_check_old(struct ddelta *d)
{
    struct dsha256 h;
    uint8_t got[DSHA256_LEN];
    if (d->old_len != d->info.old_size)
        return dd_fail(d, ODEV_E_AUTH, "delta: old image size differs from the stream's");
    dsha256_init(&h);
    for (uint32_t off = 0; off < d->old_len;) {
        size_t n = d->old_len - off < sizeof d->oldbuf ? d->old_len - off : sizeof d->oldbuf;
        int e = dio_read(&d->old, off, d->oldbuf, n);
        if (e != ODEV_OK)
            return dd_fail(d, e, "delta: reading the old image failed");
        dsha256_update(&h, d->oldbuf, n);
        off += (uint32_t)n;
    }
    dsha256_final(&h, got);
    if (memcmp(got, d->info.old_hash, DSHA256_LEN) != 0)
        return dd_fail(d, ODEV_E_AUTH, "delta: old image SHA-256 differs from the stream's");
    return ODEV_OK;
}

static int dd_start(struct ddelta *d)
{
    const char *why;
    int e = ddelta_header_parse(d->hdr, sizeof d->hdr, &d->info, &why);
    if (e != ODEV_OK)
        return dd_fail(d, e, why);
    if ((e = dd_check_old(d)) != ODEV_OK)
        return e;
    if ((e = d->inf.start(d->inf.ctx, d->info.wbits)) != ODEV_OK)
        return dd_fail(d, e, "delta: the stream's window exceeds the inflater's");
    if (d->info.version == DDELTA_VERSION_SPLIT) {
        if (!d->ctl_inf.start ||
            d->ctl_inf.start(d->ctl_inf.ctx, (int)ddelta_ctl_wbits(d->info.wbits)) != ODEV_OK)
            return dd_fail(d, ODEV_E_LIMIT, "delta: format 4 needs the stream at offsets and "
                                            "its control window");
        d->ctl_len = d->skip_left = dd_be32(d->hdr + DDELTA_CTL_LEN_AT);
        /* the data stream follows: the control stream cannot reach the end */
        if (d->ctl_len == 0 || (uint64_t)d->ctl_len + DDELTA_PREFIX_MAX >= d->src_len)
            return dd_fail(d, ODEV_E_CORRUPT, "delta: control length 0 or past the data");
    }
    dsha256_init(&d->hash);
    d->phase = DDELTA_PH_CTRL;
    return ODEV_OK;
}

/* ---- records ---- */

static int dd_emit(struct ddelta *d, const uint8_t *p, size_t n)
{
    int e = dio_write(&d->out, p, n);
    if (e != ODEV_OK)
        return dd_fail(d, e, "delta: writing the new image failed");
    dsha256_update(&d->hash, p, n);
    d->new_pos += (uint32_t)n;
    return ODEV_OK;
}

/* Validate the record in ctrl[] against both images before any byte of it
 * is used: the seek lands inside old, the diff bytes read inside old, the
 * record ends within the declared new size. */
static int dd_record_start(struct ddelta *d)
{
    /* version 2 adds the record's transform bit above the width code,
     * version 3 its ADRP adjust bit above that */
    unsigned mode_bits = (d->info.version < 3 ? d->info.version : 3u) + 1u;
    uint64_t diff = d->ctrl[0] >> mode_bits, extra = d->ctrl[1], z = d->ctrl[2];
    int rec_xf = mode_bits >= 3 && (d->ctrl[0] & 4), rec_adj = mode_bits == 4 && (d->ctrl[0] & 8);
    uint64_t room = d->info.new_size - d->new_pos, mag = (z >> 1) + (z & 1);
    if (diff == 0 && extra == 0)
        return dd_fail(d, ODEV_E_CORRUPT, "delta: empty record");
    if (rec_xf && (d->info.xf == 0 || diff == 0))
        return dd_fail(d, ODEV_E_CORRUPT, "delta: record asks for a transform the stream has not got");
    if (rec_adj && ((d->info.xf != 0 && d->info.xf != DD_XF_ARM64) || diff == 0))
        return dd_fail(d, ODEV_E_CORRUPT, "delta: record moves ADRPs of a non-AArch64 stream or "
                                          "without diff bytes");
    if (diff > room || extra > room - diff)
        return dd_fail(d, ODEV_E_CORRUPT, "delta: record passes the new size");
    if (z & 1 ? mag > d->old_pos : mag > d->info.old_size - d->old_pos)
        return dd_fail(d, ODEV_E_CORRUPT, "delta: seek leaves the old image");
    uint32_t at = z & 1 ? d->old_pos - (uint32_t)mag : d->old_pos + (uint32_t)mag;
    if (diff > d->info.old_size - at)
        return dd_fail(d, ODEV_E_CORRUPT, "delta: record reads past the old image");
    /* zigzag pages, modulo the 21-bit field */
    d->rec_adj = rec_adj ? (uint32_t)((d->ctrl[3] >> 1) ^ (0 - (d->ctrl[3] & 1))) & DD_ADJ_MASK : 0;
    if (rec_adj && d->rec_adj == 0)
        return dd_fail(d, ODEV_E_CORRUPT, "delta: record moves ADRPs by 0 pages");
    d->old_pos = at;
    d->old_end = at + (uint32_t)diff;
    d->rec_xf = (uint8_t)rec_xf;
    d->xo_tail_len = d->xn_hold_len = 0;
    d->diff_left = (uint32_t)diff;
    d->extra_left = (uint32_t)extra;
    d->width = (uint8_t)(1u << (d->ctrl[0] & 3));
    d->carry = 0;
    d->phase = diff ? DDELTA_PH_RUNS : DDELTA_PH_EXTRA;
    return ODEV_OK;
}

/* A zero run and a literal run inside the diff bytes of a record. */
static int dd_runs_start(struct ddelta *d)
{
    uint64_t z = d->ctrl[0] >> DD_RUN_BITS, l = d->ctrl[0] & DD_RUN_MAX;
    if (l == DD_RUN_MAX && d->ctrl[1] > UINT64_MAX - DD_RUN_MAX)
        return dd_fail(d, ODEV_E_CORRUPT, "delta: literal run overflows");
    if (l == DD_RUN_MAX)
        l += d->ctrl[1];
    if ((z == 0 && l == 0) || z > d->diff_left || l > d->diff_left - z)
        return dd_fail(d, ODEV_E_CORRUPT, "delta: diff runs exceed the record's diff bytes");
    d->zero_left = (uint32_t)z;
    d->lit_left = (uint32_t)l;
    d->phase = z ? DDELTA_PH_ZERO : DDELTA_PH_LIT;
    return ODEV_OK;
}

/* Varints in a record header (3, plus the pages of a version 3 record
 * with its adjust bit), or in a pair of runs (1, plus one for a literal
 * run of DD_RUN_MAX bytes or more). */
static unsigned dd_varints_needed(const struct ddelta *d)
{
    if (d->phase == DDELTA_PH_CTRL)
        return d->info.version >= 3 && d->ctrl_idx >= 1 && (d->ctrl[0] & 8) ? 4 : 3;
    return d->ctrl_idx >= 1 && (d->ctrl[0] & DD_RUN_MAX) == DD_RUN_MAX ? 2 : 1;
}

static int dd_varint_byte(struct ddelta *d, uint8_t b)
{
    if (d->phase == DDELTA_PH_CTRL && d->new_pos == d->info.new_size)
        return dd_fail(d, ODEV_E_CORRUPT, "delta: data after the last record");
    if (d->ctrl_shift > 63 || (d->ctrl_shift == 63 && (b & 0x7e)))
        return dd_fail(d, ODEV_E_CORRUPT, "delta: varint overflow");
    d->ctrl[d->ctrl_idx] |= (uint64_t)(b & 0x7f) << d->ctrl_shift;
    if (b & 0x80) {
        d->ctrl_shift += 7;
        return ODEV_OK;
    }
    d->ctrl_shift = 0;
    if (++d->ctrl_idx < dd_varints_needed(d))
        return ODEV_OK;
    d->ctrl_idx = 0;
    int e = d->phase == DDELTA_PH_CTRL ? dd_record_start(d) : dd_runs_start(d);
    memset(d->ctrl, 0, sizeof d->ctrl);
    return e;
}

/* The next n old bytes of the record into oldbuf + DDELTA_HEAD, in the
 * transformed domain when the record asks: a unit that starts before n is
 * transformed whole (reading ahead up to its end), and its bytes past n are
 * kept in xo_tail for the next call, which resumes the pass after them. */
static int dd_old_read(struct ddelta *d, size_t n)
{
    uint8_t *o = d->oldbuf + DDELTA_HEAD;
    uint32_t left = d->old_end - d->old_pos;
    size_t ext = n;
    int units = d->rec_xf || d->rec_adj;
    if (units) {
        size_t ahead = (d->rec_adj ? DD_ADJ_UNIT : ddelta_xf_unit_len(d->info.xf)) - 1;
        ext = left - n < ahead ? left : n + ahead;
    }
    int e = dio_read(&d->old, d->old_pos, o, ext);
    if (e != ODEV_OK)
        return dd_fail(d, e, "delta: reading the old image failed");
    if (!units)
        return ODEV_OK;
    size_t t = d->xo_tail_len;
    memcpy(o, d->xo_tail, t);
    size_t s = t + ddelta_xf_old_run(d->info.xf, d->rec_xf, d->rec_adj, o + t, ext - t,
                                     d->old_pos + (uint32_t)t, ext == left);
    d->xo_tail_len = (uint8_t)(s - n);
    memcpy(d->xo_tail, o + n, s - n);
    return ODEV_OK;
}

/* Output n bytes of the record's diff span from p (which has DDELTA_HEAD
 * spare bytes in front): restored from the transformed domain when the
 * record asks, holding back a unit that may continue in the next call. */
static int dd_emit_diff(struct ddelta *d, uint8_t *p, size_t n)
{
    if (!d->rec_xf)
        return dd_emit(d, p, n);
    p -= d->xn_hold_len;
    memcpy(p, d->xn_hold, d->xn_hold_len);
    n += d->xn_hold_len;
    size_t s = ddelta_xf_run(d->info.xf, p, n, d->new_pos, 1, d->diff_left == 0);
    d->xn_hold_len = (uint8_t)(n - s);
    memcpy(d->xn_hold, p + s, n - s);
    return dd_emit(d, p, s);
}

/* dst = old + diff (diff NULL: zeros) over n old bytes, with the carry of
 * little-endian words of d->width bytes aligned on the new offset. */
static int dd_old_plus(struct ddelta *d, uint8_t *dst, const uint8_t *diff, size_t n)
{
    const uint8_t *o = d->oldbuf + DDELTA_HEAD;
    int e = dd_old_read(d, n);
    if (e != ODEV_OK)
        return e;
    unsigned c = d->carry, mask = d->width - 1u;
    uint32_t at = d->new_pos + d->xn_hold_len;
    for (size_t i = 0; i < n; i++) {
        if (((at + i) & mask) == 0)
            c = 0;
        unsigned sum = o[i] + (diff ? diff[i] : 0u) + c;
        dst[i] = (uint8_t)sum;
        c = sum >> 8;
    }
    d->carry = (uint8_t)c;
    d->old_pos += (uint32_t)n;
    d->diff_left -= (uint32_t)n;
    return dd_emit_diff(d, dst, n);
}

static int dd_zero(struct ddelta *d)
{
    size_t k = d->zero_left < DDELTA_BUF ? d->zero_left : DDELTA_BUF;
    d->zero_left -= (uint32_t)k;
    return dd_old_plus(d, d->oldbuf + DDELTA_HEAD, NULL, k);
}

static void dd_record_step(struct ddelta *d)
{
    if (d->phase == DDELTA_PH_ZERO && d->zero_left == 0)
        d->phase = DDELTA_PH_LIT;
    if (d->phase == DDELTA_PH_LIT && d->lit_left == 0)
        d->phase = DDELTA_PH_RUNS;
    if (d->phase == DDELTA_PH_RUNS && d->diff_left == 0)
        d->phase = DDELTA_PH_EXTRA;
    if (d->phase == DDELTA_PH_EXTRA && d->extra_left == 0)
        d->phase = DDELTA_PH_CTRL;
}

/* The next byte of a version 4 control stream, inflated DDELTA_CTL_BUF
 * bytes at a time from compressed bytes read at the stream's offset (what
 * the inflater leaves unused is read again next time). */
static int dd_ctl_byte(struct ddelta *d, uint8_t *b)
{
    uint8_t in[DDELTA_CTL_IN];
    while (d->ctl_pos == d->ctl_n) {
        size_t n = d->ctl_len - d->ctl_used, used = 0, got = 0;
        n = n < sizeof in ? n : sizeof in;
        if (d->ctl_end || n == 0)
            return dd_fail(d, ODEV_E_CORRUPT, "delta: control stream ends inside a record");
        int e = dio_read(&d->src, d->src_base + DDELTA_PREFIX_MAX + d->ctl_used, in, n);
        if (e != ODEV_OK)
            return dd_fail(d, e, "delta: reading the control stream failed");
        int zr = d->ctl_inf.run(d->ctl_inf.ctx, in, n, &used, d->ctl_buf, sizeof d->ctl_buf, &got);
        if (zr < 0 || (zr != DINFL_DONE && used == 0 && got == 0))
            return dd_fail(d, ODEV_E_CORRUPT, "delta: the control stream is corrupt");
        d->ctl_used += (uint32_t)used;
        d->ctl_end = zr == DINFL_DONE;
        d->ctl_pos = 0;
        d->ctl_n = (uint8_t)got;
    }
    *b = d->ctl_buf[d->ctl_pos++];
    return ODEV_OK;
}

/* n <= DDELTA_BUF, p inside d->buf (diff bytes are added in place). Zero
 * runs need no input, so they are flushed even when n is 0. */
static int dd_consume(struct ddelta *d, uint8_t *p, size_t n)
{
    for (;;) {
        int e;
        size_t k = 0;
        int ctl = d->phase == DDELTA_PH_CTRL || d->phase == DDELTA_PH_RUNS;
        uint8_t b;
        if (d->phase == DDELTA_PH_ZERO) {
            e = dd_zero(d);
        } else if (ctl && d->info.version == DDELTA_VERSION_SPLIT) {
            /* control bytes come from their own stream; data after the
             * last record is invalid */
            if (d->phase == DDELTA_PH_CTRL && d->new_pos == d->info.new_size)
                return n ? dd_fail(d, ODEV_E_CORRUPT, "delta: data after the last record")
                         : ODEV_OK;
            e = dd_ctl_byte(d, &b);
            if (e == ODEV_OK)
                e = dd_varint_byte(d, b);
        } else if (n == 0) {
            return ODEV_OK;
        } else if (d->phase == DDELTA_PH_CTRL || d->phase == DDELTA_PH_RUNS) {
            k = 1;
            e = dd_varint_byte(d, *p);
        } else if (d->phase == DDELTA_PH_LIT) {
            k = d->lit_left < n ? d->lit_left : n;
            d->lit_left -= (uint32_t)k;
            e = dd_old_plus(d, p, p, k);
        } else {
            k = d->extra_left < n ? d->extra_left : n;
            d->extra_left -= (uint32_t)k;
            e = dd_emit(d, p, k);
        }
        if (e != ODEV_OK)
            return e;
        dd_record_step(d);
        p += k;
        n -= k;
    }
}

/* ---- inflate loop ---- */

static int dd_inflate(struct ddelta *d, const uint8_t *in, size_t len)
{
    for (;;) {
        size_t used = 0, got = 0;
        int zr = d->inf.run(d->inf.ctx, in, len, &used, d->buf + DDELTA_HEAD, DDELTA_BUF, &got);
        if (zr < 0)
            return dd_fail(d, ODEV_E_CORRUPT, "delta: the zlib stream is corrupt");
        in += used;
        len -= used;
        int e = dd_consume(d, d->buf + DDELTA_HEAD, got);
        if (e != ODEV_OK)
            return e;
        if (zr == DINFL_DONE) {
            d->z_end = 1;
            return len ? dd_fail(d, ODEV_E_CORRUPT, "delta: bytes after the zlib stream")
                       : ODEV_OK;
        }
        if (got == 0 && (len == 0 || used == 0))
            return ODEV_OK;
    }
}

/* ---- entry points ---- */

void ddelta_init(struct ddelta *d, const struct dio_reader *old, uint32_t old_len,
                 const struct dio_writer *out, const struct dback_inflate *inf)
{
    memset(d, 0, sizeof *d);
    d->old = *old;
    d->out = *out;
    d->inf = *inf;
    d->old_len = old_len;
    d->phase = DDELTA_PH_HEADER;
}

void ddelta_set_source(struct ddelta *d, const struct dio_reader *src, uint32_t base,
                       uint32_t len, const struct dback_inflate *ctl)
{
    d->src = *src;
    d->src_base = base;
    d->src_len = len;
    d->ctl_inf = *ctl;
}

/* After DONE or FAILED every call is refused; *why keeps the first reason. */
static int dd_refused(const struct ddelta *d, const char **why)
{
    *why = d->phase == DDELTA_PH_DONE ? "delta: decoder already finished" : d->why;
    return ODEV_E_STATE;
}

/* The plain bytes before the zlib stream: the header, and a version 4
 * header's control stream length (known once the version byte is in). */
static size_t dd_prefix_len(const struct ddelta *d)
{
    return d->hdr_len > 4 && d->hdr[4] == DDELTA_VERSION_SPLIT ? DDELTA_PREFIX_MAX
                                                               : DDELTA_HEADER_LEN;
}

int ddelta_feed(struct ddelta *d, const void *chunk, size_t len, const char **why)
{
    const uint8_t *p = chunk;
    int e = ODEV_OK;
    if (d->phase == DDELTA_PH_FAILED || d->phase == DDELTA_PH_DONE)
        return dd_refused(d, why);
    while (d->phase == DDELTA_PH_HEADER && len > 0 && e == ODEV_OK) {
        size_t take = dd_prefix_len(d) - d->hdr_len < len ? dd_prefix_len(d) - d->hdr_len : len;
        memcpy(d->hdr + d->hdr_len, p, take);
        d->hdr_len += (uint32_t)take;
        p += take;
        len -= take;
        if (d->hdr_len == dd_prefix_len(d))
            e = dd_start(d);
    }
    /* the control stream is read at its offset: skip it in the push */
    size_t skip = d->skip_left < len ? d->skip_left : len;
    d->skip_left -= (uint32_t)skip;
    p += skip;
    len -= skip;
    if (e == ODEV_OK && len > 0)
        e = d->z_end ? dd_fail(d, ODEV_E_CORRUPT, "delta: bytes after the zlib stream")
                     : dd_inflate(d, p, len);
    *why = d->why;
    return e;
}

int ddelta_finish(struct ddelta *d, const char **why)
{
    uint8_t got[DSHA256_LEN];
    int e = ODEV_OK;
    if (d->phase == DDELTA_PH_FAILED || d->phase == DDELTA_PH_DONE)
        return dd_refused(d, why);
    if (d->phase == DDELTA_PH_HEADER)
        e = dd_fail(d, ODEV_E_CORRUPT, "delta: truncated header");
    else if (!d->z_end || d->phase != DDELTA_PH_CTRL || d->ctrl_idx || d->ctrl_shift)
        e = dd_fail(d, ODEV_E_CORRUPT, "delta: stream truncated");
    else if (d->info.version == DDELTA_VERSION_SPLIT &&
             (!d->ctl_end || d->ctl_used != d->ctl_len || d->ctl_pos != d->ctl_n))
        e = dd_fail(d, ODEV_E_CORRUPT, "delta: control stream does not end at its length");
    else if (d->new_pos != d->info.new_size)
        e = dd_fail(d, ODEV_E_CORRUPT, "delta: stream ended before the new size");
    if (e == ODEV_OK) {
        dsha256_final(&d->hash, got);
        if (memcmp(got, d->info.new_hash, DSHA256_LEN) != 0)
            e = dd_fail(d, ODEV_E_AUTH, "delta: new image SHA-256 differs from the stream's");
        else
            d->phase = DDELTA_PH_DONE;
    }
    *why = d->why;
    return e;
}
