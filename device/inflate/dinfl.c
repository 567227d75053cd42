/* dinfl.c - streaming inflate (RFC 1951) with the zlib wrapper (RFC 1950), written for the device.
 *
 * A state machine that stops wherever input runs out or output fills:
 * bits are pulled one byte at a time and only when the current step needs
 * them, so a step either completes or leaves the state untouched, fewer
 * than 8 bits are left over after each step, and *in_used is exact at the
 * end of the stream. Huffman codes are decoded canonically, one bit at a
 * time, from per-length counts (RFC 1951 3.2.2) - slower than zlib's
 * lookup tables, but the tables are 700 bytes instead of kilobytes.
 * Every output byte also goes to the window, which back-references read.
 * Sections: bits and bytes, codes, block headers, the state machine.
 */
#include "dinfl.h"

#include <string.h>

enum dinfl_mode {
    M_ZHEAD, M_BLOCK, M_STORED_LEN, M_STORED, M_DYN_COUNTS, M_DYN_CLEN, M_DYN_LENS,
    M_SYM, M_LEN_EXTRA, M_DIST, M_DIST_EXTRA, M_COPY, M_TRAILER, M_DONE, M_ERROR,
};

#define ADLER_MOD 65521u
#define NEED_INPUT (-1)   /* huff_decode: the code is longer than the bits at hand */
#define NO_SUCH_CODE (-2)

struct dinfl_io {
    const uint8_t *in;
    size_t in_len, in_pos;
    uint8_t *out;
    size_t out_cap, out_pos;
};

/* ---- bits and bytes ---- */

static int bits_pull(struct dinfl *st, struct dinfl_io *io)
{
    if (io->in_pos == io->in_len)
        return 0;
    st->bitbuf |= (uint32_t)io->in[io->in_pos++] << st->bitcnt;
    st->bitcnt += 8;
    st->total_in++;
    return 1;
}

/* 1 when n bits are at hand (n <= 24, or 32 on a byte boundary), pulling bytes as needed */
static int bits_need(struct dinfl *st, struct dinfl_io *io, unsigned n)
{
    while (st->bitcnt < n)
        if (!bits_pull(st, io))
            return 0;
    return 1;
}

static uint32_t bits_take(struct dinfl *st, unsigned n)
{
    uint32_t v = st->bitbuf & ((1u << n) - 1);
    st->bitbuf >>= n;
    st->bitcnt = (uint8_t)(st->bitcnt - n);
    return v;
}

static void out_put(struct dinfl *st, struct dinfl_io *io, uint8_t b)
{
    uint32_t a = (st->adler & 0xffff) + b, s = st->adler >> 16;
    if (a >= ADLER_MOD)
        a -= ADLER_MOD;
    s += a;
    if (s >= ADLER_MOD)
        s -= ADLER_MOD;
    st->adler = s << 16 | a;
    io->out[io->out_pos++] = b;
    st->win[st->wpos] = b;
    st->wpos = (st->wpos + 1) & st->wmask;
    if (st->whave <= st->wmask)
        st->whave++;
    st->total_out++;
}

/* ---- codes ---- */

/* Counts and sorts n code lengths. Refuses over-subscribed codes and
 * incomplete ones, except what zlib also takes for literal/length and
 * distance codes (sparse_ok): no code at all, or a single 1-bit code. */
static int huff_build(uint16_t *count, uint16_t *sym, const uint8_t *lens, unsigned n, int sparse_ok)
{
    uint16_t next[16];
    int left = 1;
    unsigned longest = 0;
    memset(count, 0, 16 * sizeof *count);
    for (unsigned i = 0; i < n; i++)
        count[lens[i]]++;
    next[0] = next[1] = 0;
    for (unsigned len = 1; len < 16; len++) {
        left = 2 * left - count[len];
        if (left < 0)
            return -1;
        if (count[len])
            longest = len;
        if (len < 15)
            next[len + 1] = (uint16_t)(next[len] + count[len]);
    }
    if (left > 0 && !(sparse_ok && longest <= 1))
        return -1;
    for (unsigned i = 0; i < n; i++)
        if (lens[i])
            sym[next[lens[i]]++] = (uint16_t)i;
    count[0] = (uint16_t)(next[15] + count[15]);
    return 0;
}

/* The next symbol without taking its bits (*used says how many it has),
 * NEED_INPUT or NO_SUCH_CODE. A code is known to be missing as soon as
 * no longer code exists, after at least one bit, as zlib reports it. */
static int huff_decode(struct dinfl *st, struct dinfl_io *io, const uint16_t *count,
                       const uint16_t *sym, unsigned *used)
{
    unsigned code = 0, first = 0, index = 0;
    for (unsigned len = 1; len < 16; len++) {
        if (st->bitcnt < len && !bits_pull(st, io))
            return NEED_INPUT;
        code |= st->bitbuf >> (len - 1) & 1;
        if (code - first < count[len]) {
            *used = len;
            return sym[index + code - first];
        }
        index += count[len];
        if (index >= count[0])
            return NO_SUCH_CODE;
        first = (first + count[len]) << 1;
        code <<= 1;
    }
    return NO_SUCH_CODE;
}

/* RFC 1951 3.2.5: base and extra bits of length symbols 257..285 and distance symbols 0..29 */
static void len_base(unsigned s, uint16_t *base, unsigned *extra)
{
    s -= 257;
    if (s == 28) {
        *base = 258, *extra = 0;
    } else if (s < 4) {
        *base = (uint16_t)(s + 3), *extra = 0;
    } else {
        *extra = s / 4 - 1;
        *base = (uint16_t)(((4 + (s & 3)) << *extra) + 3);
    }
}

static void dist_base(unsigned s, uint16_t *base, unsigned *extra)
{
    if (s < 4) {
        *base = (uint16_t)(s + 1), *extra = 0;
    } else {
        *extra = s / 2 - 1;
        *base = (uint16_t)(((2 + (s & 1)) << *extra) + 1);
    }
}

/* ---- block headers ---- */

/* After a block: the next header, or the trailer, which starts on a byte boundary. */
static void end_block(struct dinfl *st)
{
    if (st->last)
        bits_take(st, st->bitcnt);
    st->mode = st->last ? M_TRAILER : M_BLOCK;
}

static void build_fixed(struct dinfl *st)
{
    for (unsigned i = 0; i < 288; i++)
        st->lens[i] = i < 144 ? 8 : i < 256 ? 9 : i < 280 ? 7 : 8;
    memset(st->lens + 288, 5, 32);
    huff_build(st->lit_count, st->lit_sym, st->lens, 288, 1);
    huff_build(st->dst_count, st->dst_sym, st->lens + 288, 32, 1);
}

static enum dinfl_status zlib_header(struct dinfl *st)
{
    uint32_t cmf = bits_take(st, 8), flg = bits_take(st, 8);
    if ((cmf << 8 | flg) % 31 != 0 || (cmf & 15) != 8 || (cmf >> 4) + 8 > st->wbits ||
        (flg & 0x20))
        return DINFL_E_HEADER;
    st->mode = M_BLOCK;
    return DINFL_MORE;
}

static enum dinfl_status block_header(struct dinfl *st)
{
    st->last = (uint8_t)bits_take(st, 1);
    switch (bits_take(st, 2)) {
    case 0:
        bits_take(st, st->bitcnt);   /* stored blocks start on a byte boundary */
        st->mode = M_STORED_LEN;
        break;
    case 1:
        build_fixed(st);
        st->mode = M_SYM;
        break;
    case 2:
        st->mode = M_DYN_COUNTS;
        break;
    default:
        return DINFL_E_BLOCK;
    }
    return DINFL_MORE;
}

static enum dinfl_status stored_len(struct dinfl *st)
{
    uint32_t v = bits_take(st, 16), check = bits_take(st, 16);
    if ((v ^ check) != 0xffff)
        return DINFL_E_BLOCK;
    st->len = (uint16_t)v;
    st->mode = M_STORED;
    return DINFL_MORE;
}

static enum dinfl_status dyn_counts(struct dinfl *st)
{
    st->nlen = (uint16_t)(bits_take(st, 5) + 257);
    st->ndist = (uint16_t)(bits_take(st, 5) + 1);
    st->ncode = (uint16_t)(bits_take(st, 4) + 4);
    if (st->nlen > 286 || st->ndist > 30)
        return DINFL_E_CODES;
    memset(st->lens, 0, 19);
    st->idx = 0;
    st->mode = M_DYN_CLEN;
    return DINFL_MORE;
}

/* the code-length code's lengths, 3 bits each, in this order (RFC 1951 3.2.7) */
static enum dinfl_status dyn_clen(struct dinfl *st, struct dinfl_io *io)
{
    static const uint8_t order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
    for (; st->idx < st->ncode; st->idx++) {
        if (!bits_need(st, io, 3))
            return DINFL_MORE;
        st->lens[order[st->idx]] = (uint8_t)bits_take(st, 3);
    }
    if (huff_build(st->dst_count, st->dst_sym, st->lens, 19, 0) != 0)
        return DINFL_E_CODES;
    st->idx = 0;
    st->mode = M_DYN_LENS;
    return DINFL_MORE;
}

/* literal/length and distance code lengths, run-length coded */
static enum dinfl_status dyn_lens(struct dinfl *st, struct dinfl_io *io)
{
    unsigned total = st->nlen + st->ndist;
    while (st->idx < total) {
        unsigned used, extra, rep;
        int s = huff_decode(st, io, st->dst_count, st->dst_sym, &used);
        if (s == NEED_INPUT)
            return DINFL_MORE;
        if (s == NO_SUCH_CODE)
            return DINFL_E_CODES;
        extra = s < 16 ? 0 : s == 16 ? 2 : s == 17 ? 3 : 7;
        if (!bits_need(st, io, used + extra))
            return DINFL_MORE;
        bits_take(st, used);
        rep = bits_take(st, extra);
        if (s < 16) {
            st->lens[st->idx++] = (uint8_t)s;
            continue;
        }
        uint8_t value = 0;
        rep += s == 16 ? 3 : s == 17 ? 3 : 11;
        if (s == 16) {
            if (st->idx == 0)
                return DINFL_E_CODES;
            value = st->lens[st->idx - 1];
        }
        if (rep > total - st->idx)
            return DINFL_E_CODES;
        memset(st->lens + st->idx, value, rep);
        st->idx = (uint16_t)(st->idx + rep);
    }
    if (st->lens[256] == 0 ||
        huff_build(st->lit_count, st->lit_sym, st->lens, st->nlen, 1) != 0 ||
        huff_build(st->dst_count, st->dst_sym, st->lens + st->nlen, st->ndist, 1) != 0)
        return DINFL_E_CODES;
    st->mode = M_SYM;
    return DINFL_MORE;
}

/* ---- the state machine ---- */

static enum dinfl_status do_symbol(struct dinfl *st, struct dinfl_io *io)
{
    unsigned used;
    int s = huff_decode(st, io, st->lit_count, st->lit_sym, &used);
    if (s == NEED_INPUT || (s < 256 && s >= 0 && io->out_pos == io->out_cap))
        return DINFL_MORE;   /* the end of a block needs no output space: decode first */
    if (s == NO_SUCH_CODE || s > 285)
        return DINFL_E_SYMBOL;
    bits_take(st, used);
    if (s < 256)
        out_put(st, io, (uint8_t)s);
    else if (s == 256)
        end_block(st);
    else {
        st->dist = (uint16_t)s;   /* the symbol, until M_LEN_EXTRA reads its extra bits */
        st->mode = M_LEN_EXTRA;
    }
    return DINFL_MORE;
}

static enum dinfl_status do_extra(struct dinfl *st, struct dinfl_io *io, int distance)
{
    uint16_t base;
    unsigned extra;
    if (distance)
        dist_base(st->dist, &base, &extra);
    else
        len_base(st->dist, &base, &extra);
    if (!bits_need(st, io, extra))
        return DINFL_MORE;
    base = (uint16_t)(base + bits_take(st, extra));
    if (!distance) {
        st->len = base;
        st->mode = M_DIST;
        return DINFL_MORE;
    }
    if (base > st->whave)
        return DINFL_E_DIST;
    st->dist = base;
    st->mode = M_COPY;
    return DINFL_MORE;
}

static enum dinfl_status do_distance(struct dinfl *st, struct dinfl_io *io)
{
    unsigned used;
    int s = huff_decode(st, io, st->dst_count, st->dst_sym, &used);
    if (s == NEED_INPUT)
        return DINFL_MORE;
    if (s == NO_SUCH_CODE || s > 29)
        return DINFL_E_SYMBOL;
    bits_take(st, used);
    st->dist = (uint16_t)s;
    st->mode = M_DIST_EXTRA;
    return DINFL_MORE;
}

/* a back-reference or a stored block, as far as input and output allow */
static void do_copy(struct dinfl *st, struct dinfl_io *io)
{
    int stored = st->mode == M_STORED;
    while (st->len > 0 && io->out_pos < io->out_cap) {
        if (stored && io->in_pos == io->in_len)
            return;
        out_put(st, io, stored ? io->in[io->in_pos++]
                               : st->win[(st->wpos - st->dist) & st->wmask]);
        st->total_in += (uint32_t)stored;
        st->len--;
    }
    if (st->len == 0 && stored)
        end_block(st);
    else if (st->len == 0)
        st->mode = M_SYM;
}

/* Adler-32, most significant byte first; bits_need(32) was met */
static enum dinfl_status do_trailer(struct dinfl *st)
{
    uint32_t check = 0;
    for (unsigned i = 0; i < 4 * st->wrap; i++)
        check = check << 8 | bits_take(st, 8);
    if (check != st->adler * st->wrap)
        return DINFL_E_CHECK;
    st->mode = M_DONE;
    return DINFL_DONE;
}

enum dinfl_status dinfl_init(struct dinfl *st, uint8_t *window, int wbits)
{
    memset(st, 0, sizeof *st);
    int bits = wbits < 0 ? -wbits : wbits;
    if (!window || bits < DINFL_WBITS_MIN || bits > DINFL_WBITS_MAX) {
        st->mode = M_ERROR;
        st->err = DINFL_E_PARAM;
        return DINFL_E_PARAM;
    }
    st->win = window;
    st->wbits = (uint8_t)bits;
    st->wmask = (1u << bits) - 1;
    st->wrap = wbits > 0;
    st->adler = 1;
    st->mode = st->wrap ? M_ZHEAD : M_BLOCK;
    return DINFL_MORE;
}

/* bits a mode needs before its handler runs; 0: the handler pulls its own */
static unsigned mode_bits(const struct dinfl *st)
{
    switch (st->mode) {
    case M_ZHEAD: return 16;
    case M_BLOCK: return 3;
    case M_STORED_LEN: return 32;
    case M_DYN_COUNTS: return 14;
    case M_TRAILER: return 32u * st->wrap;
    default: return 0;
    }
}

static enum dinfl_status step(struct dinfl *st, struct dinfl_io *io)
{
    unsigned need = mode_bits(st);
    if (need && !bits_need(st, io, need))
        return DINFL_MORE;
    switch (st->mode) {
    case M_ZHEAD: return zlib_header(st);
    case M_BLOCK: return block_header(st);
    case M_STORED_LEN: return stored_len(st);
    case M_DYN_COUNTS: return dyn_counts(st);
    case M_DYN_CLEN: return dyn_clen(st, io);
    case M_DYN_LENS: return dyn_lens(st, io);
    case M_SYM: return do_symbol(st, io);
    case M_LEN_EXTRA: return do_extra(st, io, 0);
    case M_DIST: return do_distance(st, io);
    case M_DIST_EXTRA: return do_extra(st, io, 1);
    case M_STORED:
    case M_COPY: do_copy(st, io); return DINFL_MORE;
    case M_TRAILER: return do_trailer(st);
    case M_DONE: return DINFL_DONE;
    default: return DINFL_E_PARAM;
    }
}

enum dinfl_status dinfl_run(struct dinfl *st, const uint8_t *in, size_t in_len, size_t *in_used,
                            uint8_t *out, size_t out_cap, size_t *out_made)
{
    struct dinfl_io io = {in, in ? in_len : 0, 0, out, out ? out_cap : 0, 0};
    enum dinfl_status r = st->mode == M_ERROR ? (enum dinfl_status)st->err : DINFL_MORE;
    while (r == DINFL_MORE) {
        unsigned mode = st->mode;
        size_t in_pos = io.in_pos, out_pos = io.out_pos;
        r = step(st, &io);
        if (r == DINFL_MORE && mode == st->mode && in_pos == io.in_pos && out_pos == io.out_pos)
            break;   /* no progress: input used up or output full */
    }
    if (r < 0) {
        st->mode = M_ERROR;
        st->err = (int8_t)r;
    }
    *in_used = io.in_pos;
    *out_made = io.out_pos;
    return r;
}

const char *dinfl_reason(enum dinfl_status s)
{
    switch (s) {
    case DINFL_MORE: return "more input or output space needed";
    case DINFL_DONE: return "end of stream";
    case DINFL_E_PARAM: return "bad window or state";
    case DINFL_E_HEADER: return "bad zlib header";
    case DINFL_E_BLOCK: return "bad block type or stored length";
    case DINFL_E_CODES: return "bad code lengths";
    case DINFL_E_SYMBOL: return "invalid literal/length or distance code";
    case DINFL_E_DIST: return "distance too far back";
    case DINFL_E_CHECK: return "Adler-32 mismatch";
    }
    return "unknown";
}
