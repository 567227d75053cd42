/* delta_enc.c - delta encoder: suffix-array matching, records, deflate.
 *
 * Runs on the cache host only (pkg_build, cache/diff.c), so it allocates
 * freely: a suffix array of the old image (libdivsufsort), the record list,
 * the payload, the zlib output. Matching follows bsdiff's approximate-match
 * scan (a new region is coded as old bytes plus a difference, the rest as
 * literal "extra" bytes). What makes one zlib stream beat bsdiff's three
 * bzip2 streams is the coding of the differences (common/DELTA.md): sparse
 * run pairs instead of raw zeros, and differences taken as little-endian
 * words (1, 2 or 4 bytes, per stream or per record) so relocated pointers
 * and Thumb branch fields repeat exactly; the encoder deflates each
 * candidate and keeps the smallest. Sections: growable buffer, suffix
 * search, payload, match scan, deflate, entry point.
 */
#include "delta.h"

#include "cur.h"

#include <divsufsort.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ---- growable buffer ---- */

struct enc_buf {
    uint8_t *p;
    size_t len, cap;
    int oom;
};

static int buf_reserve(struct enc_buf *b, size_t n)
{
    if (b->oom)
        return 0;
    if (n <= b->cap - b->len)
        return 1;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < n) {
        if (cap > SIZE_MAX / 2) {
            b->oom = 1;
            return 0;
        }
        cap *= 2;
    }
    uint8_t *p = realloc(b->p, cap);
    if (!p) {
        b->oom = 1;
        return 0;
    }
    b->p = p;
    b->cap = cap;
    return 1;
}

static void buf_varint(struct enc_buf *b, uint64_t v)
{
    if (!buf_reserve(b, 10))
        return;
    while (v >= 0x80) {
        b->p[b->len++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b->p[b->len++] = (uint8_t)v;
}

/* ---- suffix search ---- */

struct enc_rec {
    size_t new_off, old_off, diff_len, extra_len;
};

/* One way to serialise the records. */
struct enc_cand {
    unsigned width; /* diff words, 0 = per record */
    enum delta_xf xf;
    int adj;
};

#define ENC_CANDS_MAX 8 /* candidates enc_streams deflates at most */

struct enc_ctx {
    const uint8_t *old, *nw;
    size_t oldn, newn;
    saidx_t *sa;
    uint32_t *bucket; /* sa index of the first suffix of each 2-byte prefix, 65537 entries */
    struct enc_rec *rec;
    size_t nrec, caprec;
    unsigned width;  /* diff word width for this payload */
    size_t old_cur;  /* the decoder's old position after the records so far */
    enum delta_xf xf; /* address transform of the stream (format v2), or none */
    int adj;          /* records may move old ADRP pages (format v3) */
    size_t adj_used;  /* records of the last payload that do */
    struct enc_buf pay, tmp, tmp2, xa, xb;
    struct enc_buf best_pay; /* payload of the best candidate so far */
    struct enc_cand tried[ENC_CANDS_MAX];
    size_t ntried;
    int adj_unused; /* a candidate with moves had none that paid */
    /* both sides of every record's span through transform xfc_kind, at the
     * record's new offset (enc_xf_cache), shared read-only by the halves */
    uint8_t *xfc_new, *xfc_old;
    enum delta_xf xfc_kind;
};

static size_t match_len(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
    size_t n = an < bn ? an : bn, i = 0;
    while (i < n && a[i] == b[i])
        i++;
    return i;
}

/* Longest prefix of nw[scan..] found in old; position in *pos. */
static size_t enc_search(const struct enc_ctx *c, size_t scan, size_t *pos)
{
    const uint8_t *q = c->nw + scan;
    size_t qn = c->newn - scan, lo = 0, hi = c->oldn - 1;
    if (c->bucket && qn >= 2) { /* only suffixes sharing q's first two bytes can be nearest */
        unsigned b = (unsigned)q[0] << 8 | q[1];
        lo = c->bucket[b] > 0 ? c->bucket[b] - 1 : 0;
        hi = c->bucket[b + 1] < c->oldn ? c->bucket[b + 1] : c->oldn - 1;
    }
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2, off = (size_t)c->sa[mid];
        /* both possible next probes are fetched while this one compares:
         * the search mostly waited for suffix array entries */
        __builtin_prefetch(&c->sa[lo + (mid - lo) / 2]);
        __builtin_prefetch(&c->sa[mid + (hi - mid) / 2]);
        size_t n = c->oldn - off < qn ? c->oldn - off : qn;
        if (memcmp(c->old + off, q, n) < 0)
            lo = mid;
        else
            hi = mid;
    }
    size_t a = match_len(c->old + c->sa[lo], c->oldn - (size_t)c->sa[lo], q, qn);
    size_t b = match_len(c->old + c->sa[hi], c->oldn - (size_t)c->sa[hi], q, qn);
    *pos = (size_t)(a >= b ? c->sa[lo] : c->sa[hi]);
    return a >= b ? a : b;
}

/* ---- payload ---- */

/* Diff bytes of one record: new minus old as little-endian words of
 * c->width bytes aligned on the new offset (the borrow runs inside a word),
 * so a pointer moved by a constant gives the same bytes wherever it sits. */
/* Whether 8 bytes at p and q are equal (one compare, not eight). */
static int eq8(const uint8_t *p, const uint8_t *q)
{
    uint64_t a, b;
    memcpy(&a, p, 8);
    memcpy(&b, q, 8);
    return a == b;
}

static const uint8_t zero8[8];

/* Eight bytes at p as one little-endian word, and back. */
static uint64_t le64_get(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static void le64_put(uint8_t *p, uint64_t v)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    memcpy(p, &v, 8);
}

/* a - b in every lane of a word (lanes of 1, 2, 4 or 8 bytes, `high` the
 * top bit of each): no borrow crosses a lane, as in diff_words. */
static uint64_t sub_lanes(uint64_t a, uint64_t b, uint64_t high)
{
    return ((a | high) - (b & ~high)) ^ ((a ^ ~b) & high);
}

static void diff_words(const uint8_t *nw, const uint8_t *old, unsigned width, size_t new_off,
                       size_t n, uint8_t *o)
{
    static const uint64_t lane_high[4] = {0x8080808080808080u, 0x8000800080008000u,
                                          0x8000000080000000u, 0x8000000000000000u};
    uint64_t high = lane_high[__builtin_ctz(width)];
    unsigned borrow = 0, mask = width - 1;
    for (size_t i = 0; i < n;) {
        /* eight bytes that start a word hold whole words: one subtraction
         * for all of them (bytes at a time took a tenth of the encode) */
        if (((new_off + i) & mask) == 0 && i + 8 <= n) {
            uint64_t a = le64_get(nw + i), b = le64_get(old + i);
            le64_put(o + i, a == b ? 0 : sub_lanes(a, b, high));
            borrow = 0;
            i += 8;
            continue;
        }
        if (((new_off + i) & mask) == 0)
            borrow = 0;
        unsigned a = nw[i], b = old[i] + borrow;
        o[i] = (uint8_t)(a - b);
        borrow = a < b;
        i++;
    }
}

static void diff_bytes(const struct enc_ctx *c, unsigned width, size_t new_off, size_t old_off,
                       size_t n, uint8_t *o)
{
    diff_words(c->nw + new_off, c->old + old_off, width, new_off, n, o);
}

/* A record's two spans in its transform's domain (xf set: through `kind`,
 * each side from its own start, as the decoder does), into *na and *ob:
 * the images themselves without a transform, the cache (enc_xf_cache)
 * when it holds the kind, else transformed copies in c->xa and c->xb. */
static int mode_spans(struct enc_ctx *c, enum delta_xf kind, int xf, const struct enc_rec *r,
                      const uint8_t **na, const uint8_t **ob)
{
    size_t n = r->diff_len;
    *na = c->nw + r->new_off;
    *ob = c->old + r->old_off;
    if (!xf)
        return 1;
    if (c->xfc_new && c->xfc_kind == kind) {
        *na = c->xfc_new + r->new_off;
        *ob = c->xfc_old + r->new_off;
        return 1;
    }
    c->xa.len = c->xb.len = 0;
    if (!buf_reserve(&c->xa, n) || !buf_reserve(&c->xb, n))
        return 0;
    memcpy(c->xa.p, *na, n);
    memcpy(c->xb.p, *ob, n);
    delta_xf_run(kind, c->xa.p, n, r->new_off, 0, 1);
    delta_xf_old_run(kind, 1, 0, c->xb.p, n, r->old_off, 1);
    *na = c->xa.p;
    *ob = c->xb.p;
    return 1;
}

/* Diff bytes of a record in its transform's domain whose old ADRPs move by
 * adj pages (v3) after the transform, as the decoder does (both go unit by
 * unit over the same 4-byte grid, so the move can follow the whole span's
 * transform). */
static int diff_bytes_mode(struct enc_ctx *c, enum delta_xf kind, int xf, uint32_t adj,
                           unsigned width, const struct enc_rec *r, uint8_t *o)
{
    const uint8_t *na, *ob;
    if (!mode_spans(c, kind, xf, r, &na, &ob))
        return 0;
    if (adj) {
        if (ob != c->xb.p) {
            c->xb.len = 0;
            if (!buf_reserve(&c->xb, r->diff_len))
                return 0;
            memcpy(c->xb.p, ob, r->diff_len);
        }
        delta_xf_old_run(kind, 0, adj, c->xb.p, r->diff_len, r->old_off, 1);
        ob = c->xb.p;
    }
    diff_words(na, ob, width, r->new_off, r->diff_len, o);
    return 1;
}

static int diff_bytes_xf(struct enc_ctx *c, enum delta_xf kind, unsigned width,
                         const struct enc_rec *r, uint8_t *o)
{
    return diff_bytes_mode(c, kind, 1, 0, width, r, o);
}

/* Every record's spans through the transform once, for all the candidates
 * that use it (each used to transform them again: a tenth of the encode
 * time on Thumb pairs). Without the memory, each candidate transforms. */
static void enc_xf_cache(struct enc_ctx *c, enum delta_xf kind)
{
    if (kind == DELTA_XF_NONE || c->newn == 0)
        return;
    c->xfc_new = malloc(c->newn);
    c->xfc_old = malloc(c->newn);
    if (!c->xfc_new || !c->xfc_old) {
        free(c->xfc_new);
        free(c->xfc_old);
        c->xfc_new = c->xfc_old = NULL;
        return;
    }
    c->xfc_kind = kind;
    for (size_t i = 0; i < c->nrec; i++) {
        const struct enc_rec *r = &c->rec[i];
        uint8_t *a = c->xfc_new + r->new_off, *b = c->xfc_old + r->new_off;
        memcpy(a, c->nw + r->new_off, r->diff_len);
        memcpy(b, c->old + r->old_off, r->diff_len);
        delta_xf_run(kind, a, r->diff_len, r->new_off, 0, 1);
        delta_xf_old_run(kind, 1, 0, b, r->diff_len, r->old_off, 1);
    }
}

static int adrp_page(const uint8_t *p, uint32_t *page)
{
    uint32_t w = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                 (uint32_t)p[3] << 24;
    if ((w & 0x9F000000u) != 0x90000000u)
        return 0;
    *page = ((w >> 5) & 0x7FFFFu) << 2 | ((w >> 29) & 3u);
    return 1;
}

/* The page move most ADRPs of a record share (old and new ADRP at the same
 * place, in the domain the record's diff uses: the spans na/ob from
 * mode_spans), or 0 when no move is shared by at least two of them. A
 * majority vote: one pass, no table. */
static uint32_t adj_pick(const struct enc_rec *r, const uint8_t *na, const uint8_t *ob)
{
    size_t n = r->diff_len, start = (size_t)((4 - r->old_off % 4) % 4);
    uint32_t cand = 0, votes = 0, count = 0, po, pn;
    for (int pass = 0; pass < 2; pass++) {
        for (size_t j = start; j + 4 <= n; j += 4) {
            if (!adrp_page(ob + j, &po) || !adrp_page(na + j, &pn) || po == pn)
                continue;
            uint32_t k = (pn - po) & DELTA_ADJ_MASK;
            if (pass == 1) {
                count += k == cand;
            } else if (votes == 0) {
                cand = k;
                votes = 1;
            } else {
                votes += k == cand ? 1 : (uint32_t)-1;
            }
        }
    }
    return count >= 2 ? cand : 0;
}

/* Diff bytes as (zero run, literal run, literal bytes) triples: deflate
 * codes sparse differences much better this way than as raw zeros. */
static void emit_runs(struct enc_ctx *c, const uint8_t *o, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t j = i, k;
        while (j + 8 <= n && eq8(o + j, zero8))
            j += 8;
        while (j < n && o[j] == 0)
            j++;
        for (k = j; k < n && o[k] != 0;)
            k++;
        size_t lit = k - j;
        buf_varint(&c->pay, (uint64_t)(j - i) << DELTA_RUN_BITS |
                                (lit < DELTA_RUN_MAX ? lit : DELTA_RUN_MAX));
        if (lit >= DELTA_RUN_MAX)
            buf_varint(&c->pay, lit - DELTA_RUN_MAX);
        if (!buf_reserve(&c->pay, k - j))
            return;
        memcpy(c->pay.p + c->pay.len, o + j, k - j);
        c->pay.len += k - j;
        i = k;
    }
}

/* Set top bits of a word's bytes (no others set): a multiply sums them
 * in the top byte (no popcount instruction needed). */
static size_t flags_count(uint64_t flags)
{
    return (size_t)(((flags >> 7) * 0x0101010101010101u) >> 56);
}

/* Rough coded size of diff bytes: literal bytes plus run headers (a
 * nonzero byte costs 1, 3 where a run of them starts). Eight bytes at a
 * time: a flag per nonzero byte, and per run start. */
static size_t runs_cost(const uint8_t *o, size_t n)
{
    const uint64_t low7 = 0x7F7F7F7F7F7F7F7Fu, top = 0x8080808080808080u;
    size_t cost = 0, i = 0;
    uint64_t prev = 0; /* the previous byte was nonzero */
    for (; i + 8 <= n; i += 8) {
        uint64_t x = le64_get(o + i);
        if (x == 0) {
            prev = 0;
            continue;
        }
        uint64_t nz = (((x & low7) + low7) | x) & top, before = nz << 8 | prev << 7;
        cost += flags_count(nz) + 2 * flags_count(nz & ~before);
        prev = nz >> 63;
    }
    for (; i < n; i++) {
        cost += o[i] == 0 ? 0 : prev ? 1 : 3;
        prev = o[i] != 0;
    }
    return cost;
}

/* A record's plain diff bytes into c->tmp (reserved by the caller) at the
 * stream's width, or per record at the width whose bytes look cheapest
 * (each tried into c->tmp2, the cheapest kept in c->tmp, not computed
 * again). Returns the width; the run cost into *cost, SIZE_MAX when not
 * measured (a fixed width and nothing to compare it with). */
static unsigned diff_plain(struct enc_ctx *c, const struct enc_rec *r, int compare, size_t *cost)
{
    unsigned best = 1;
    *cost = SIZE_MAX;
    if (c->width) {
        diff_bytes(c, c->width, r->new_off, r->old_off, r->diff_len, c->tmp.p);
        if (compare)
            *cost = runs_cost(c->tmp.p, r->diff_len);
        return c->width;
    }
    for (unsigned w = 1; w <= 8 && *cost > 0; w *= 2) { /* a tie keeps the narrower */
        diff_bytes(c, w, r->new_off, r->old_off, r->diff_len, c->tmp2.p);
        size_t t = runs_cost(c->tmp2.p, r->diff_len);
        if (t < *cost) {
            struct enc_buf b = c->tmp;
            c->tmp = c->tmp2;
            c->tmp2 = b;
            *cost = t;
            best = w;
        }
    }
    return best;
}

/* One record: the old position moves to old_off, then diff_len bytes of
 * new-minus-old, then extra_len literal bytes. The seek is relative to
 * where the previous record left the decoder (c->old_cur). */
static uint64_t zigzag(int64_t v)
{
    return v < 0 ? ((uint64_t)(-(v + 1)) << 1) | 1 : (uint64_t)v << 1;
}

/* With the record's diff bytes in *diff (their run cost `cost`, mode bits
 * in *mode), try moving its old ADRPs by the page move most of them share;
 * keep it where the differences get sparser. Returns the move, or 0. */
static uint32_t adj_try(struct enc_ctx *c, const struct enc_rec *r, unsigned width,
                        const uint8_t **diff, size_t cost, unsigned *mode)
{
    int xf = (*mode & 4) != 0;
    uint8_t *alt = *diff == c->tmp.p ? c->tmp2.p : c->tmp.p;
    const uint8_t *na, *ob;
    if (!mode_spans(c, c->xf, xf, r, &na, &ob))
        return 0;
    uint32_t k = adj_pick(r, na, ob);
    if (k == 0 || !diff_bytes_mode(c, c->xf, xf, k, width, r, alt) ||
        runs_cost(alt, r->diff_len) + 2 >= cost)
        return 0;
    *diff = alt;
    *mode |= 8;
    return k;
}

static void emit_record(struct enc_ctx *c, const struct enc_rec *r)
{
    int64_t seek = r->diff_len ? (int64_t)r->old_off - (int64_t)c->old_cur : 0;
    unsigned width = c->width ? c->width : 1, mode_bits = c->adj ? 4 : c->xf ? 3 : 2;
    unsigned mode = (unsigned)__builtin_ctz(width);
    const uint8_t *diff = NULL;
    uint32_t adj = 0;
    if (r->diff_len) {
        size_t cost;
        c->old_cur = r->old_off + r->diff_len;
        if (!buf_reserve(&c->tmp, r->diff_len) || !buf_reserve(&c->tmp2, r->diff_len))
            return;
        width = diff_plain(c, r, c->xf || c->adj, &cost);
        diff = c->tmp.p;
        mode = (unsigned)__builtin_ctz(width);
        /* the transform where it makes the differences sparser; nothing
         * is sparser than no difference (identical spans: most records of
         * a small delta) */
        if (c->xf && cost > 0 && diff_bytes_xf(c, c->xf, width, r, c->tmp2.p)) {
            size_t xf_cost = runs_cost(c->tmp2.p, r->diff_len);
            if (xf_cost < cost) {
                diff = c->tmp2.p;
                cost = xf_cost;
                mode |= 4;
            }
        }
        if (c->adj && cost > 0)
            adj = adj_try(c, r, width, &diff, cost, &mode);
    }
    c->adj_used += adj != 0;
    buf_varint(&c->pay, (uint64_t)r->diff_len << mode_bits | mode);
    buf_varint(&c->pay, r->extra_len);
    buf_varint(&c->pay, zigzag(seek));
    if (adj) /* pages as a signed move, modulo the 21-bit field */
        buf_varint(&c->pay, zigzag((int64_t)(int32_t)(adj << 11) >> 11));
    if (diff)
        emit_runs(c, diff, r->diff_len);
    if (!buf_reserve(&c->pay, r->extra_len))
        return;
    memcpy(c->pay.p + c->pay.len, c->nw + r->new_off + r->diff_len, r->extra_len);
    c->pay.len += r->extra_len;
}

static void add_record(struct enc_ctx *c, size_t new_off, size_t old_off, size_t diff_len,
                       size_t extra_len)
{
    if (diff_len == 0 && extra_len == 0)
        return;
    if (c->nrec == c->caprec) {
        size_t cap = c->caprec ? c->caprec * 2 : 256;
        struct enc_rec *r = realloc(c->rec, cap * sizeof *r);
        if (!r) {
            c->pay.oom = 1;
            return;
        }
        c->rec = r;
        c->caprec = cap;
    }
    c->rec[c->nrec++] = (struct enc_rec){new_off, old_off, diff_len, extra_len};
}

/* ---- match scan (bsdiff's) ---- */

/* An approximate match is extended while more than EXTEND_NUM / EXTEND_DEN
 * of its bytes agree (bsdiff: 1/2). Difference bytes coded as sparse runs,
 * in words and through transforms, cost less than the literal bytes they
 * replace, so spans that agree on 40 % pay: measured over the bench pairs,
 * 1/2 gives 468,842 B, 2/5 467,872 B, 1/3 468,725 B, 1/4 470,159 B. */
#define EXTEND_NUM 2
#define EXTEND_DEN 5

struct scan_state {
    size_t lastscan, lastpos;
    ptrdiff_t lastoffset;
};

static size_t extend_forward(const struct enc_ctx *c, const struct scan_state *s, size_t scan)
{
    ptrdiff_t sc = 0, best = 0;
    size_t lenf = 0;
    for (size_t i = 0; s->lastscan + i < scan && s->lastpos + i < c->oldn;) {
        if (c->old[s->lastpos + i] == c->nw[s->lastscan + i])
            sc++;
        i++;
        if ((sc - best) * EXTEND_DEN > ((ptrdiff_t)i - (ptrdiff_t)lenf) * EXTEND_NUM) {
            best = sc;
            lenf = i;
        }
    }
    return lenf;
}

static size_t extend_backward(const struct enc_ctx *c, const struct scan_state *s, size_t scan,
                              size_t pos)
{
    ptrdiff_t sc = 0, best = 0;
    size_t lenb = 0;
    if (scan >= c->newn)
        return 0;
    for (size_t i = 1; scan >= s->lastscan + i && pos >= i; i++) {
        if (c->old[pos - i] == c->nw[scan - i])
            sc++;
        if ((sc - best) * EXTEND_DEN > ((ptrdiff_t)i - (ptrdiff_t)lenb) * EXTEND_NUM) {
            best = sc;
            lenb = i;
        }
    }
    return lenb;
}

static void resolve_overlap(const struct enc_ctx *c, const struct scan_state *s, size_t scan,
                            size_t pos, size_t *lenf, size_t *lenb)
{
    if (s->lastscan + *lenf <= scan - *lenb)
        return;
    size_t overlap = (s->lastscan + *lenf) - (scan - *lenb), lens = 0;
    ptrdiff_t sc = 0, best = 0;
    for (size_t i = 0; i < overlap; i++) {
        if (c->nw[s->lastscan + *lenf - overlap + i] == c->old[s->lastpos + *lenf - overlap + i])
            sc++;
        if (c->nw[scan - *lenb + i] == c->old[pos - *lenb + i])
            sc--;
        if (sc > best) {
            best = sc;
            lens = i + 1;
        }
    }
    *lenf += lens - overlap;
    *lenb -= lens;
}

static int old_eq(const struct enc_ctx *c, size_t scan, ptrdiff_t off)
{
    ptrdiff_t o = (ptrdiff_t)scan + off;
    return o >= 0 && (size_t)o < c->oldn && c->old[o] == c->nw[scan];
}

static void scan_matches(struct enc_ctx *c)
{
    struct scan_state s = {0, 0, 0};
    size_t scan = 0, len = 0, pos = 0;
    while (scan < c->newn) {
        ptrdiff_t oldscore = 0;
        size_t scsc;
        for (scsc = scan += len; scan < c->newn; scan++) {
            len = c->oldn ? enc_search(c, scan, &pos) : 0;
            for (; scsc < scan + len; scsc++)
                oldscore += old_eq(c, scsc, s.lastoffset);
            if (((ptrdiff_t)len == oldscore && len != 0) || (ptrdiff_t)len > oldscore + 8)
                break;
            if (old_eq(c, scan, s.lastoffset))
                oldscore--;
        }
        if ((ptrdiff_t)len == oldscore && scan != c->newn)
            continue;
        size_t lenf = extend_forward(c, &s, scan);
        size_t lenb = extend_backward(c, &s, scan, pos);
        resolve_overlap(c, &s, scan, pos, &lenf, &lenb);
        add_record(c, s.lastscan, s.lastpos, lenf, (scan - lenb) - (s.lastscan + lenf));
        s.lastscan = scan - lenb;
        s.lastpos = pos - lenb;
        s.lastoffset = (ptrdiff_t)pos - (ptrdiff_t)scan;
    }
}

/* ---- deflate ---- */

/* zlib level that ranks the candidate payloads: when the size-parsing
 * deflate codes the winner anyway, level 6 ranks them almost as level 9
 * does in half the time, and level 5 (hash chains of 32 instead of 128)
 * exactly as level 6 on all 15 bench pairs at windows 15 and 9, in a few
 * per cent less of the encode; level 4 costs 199 B of the total. */
#define RANK_LEVEL 5

static enum ota_err enc_deflate(const struct enc_buf *pay, const struct delta_params *p,
                                struct enc_buf *out, char *msg)
{
    z_stream zs;
    int level = p->passes > 0 && p->level > RANK_LEVEL ? RANK_LEVEL : p->level;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, level, Z_DEFLATED, p->window_bits, 9, Z_DEFAULT_STRATEGY) != Z_OK)
        return ota_fail(msg, OTA_E_NOMEM, "delta: deflateInit2 failed");
    size_t bound = deflateBound(&zs, (uLong)pay->len);
    if (!buf_reserve(out, bound)) {
        deflateEnd(&zs);
        return ota_fail(msg, OTA_E_NOMEM, "delta: %zu bytes for the zlib output", bound);
    }
    zs.next_in = pay->p;
    zs.avail_in = (uInt)pay->len;
    zs.next_out = out->p + out->len;
    zs.avail_out = (uInt)(out->cap - out->len);
    int zr = deflate(&zs, Z_FINISH);
    out->len += zs.total_out;
    deflateEnd(&zs);
    if (zr != Z_STREAM_END)
        return ota_fail(msg, OTA_E_NOMEM, "delta: deflate failed (%d)", zr);
    return OTA_OK;
}

/* ---- entry point ---- */

static enum ota_err enc_check(size_t old_len, size_t new_len, const struct delta_params *p,
                              char *msg)
{
    if (p->window_bits < DELTA_WINDOW_BITS_MIN || p->window_bits > DELTA_WINDOW_BITS_MAX)
        return ota_fail(msg, OTA_E_INVAL, "delta: window bits %d out of %d..%d", p->window_bits,
                        DELTA_WINDOW_BITS_MIN, DELTA_WINDOW_BITS_MAX);
    if (p->xf < DELTA_XF_AUTO || p->xf >= DELTA_XF_COUNT)
        return ota_fail(msg, OTA_E_INVAL, "delta: transform %d out of %d..%d", p->xf,
                        DELTA_XF_AUTO, DELTA_XF_COUNT - 1);
    if (p->passes < 0 || p->passes > DELTA_PASSES_MAX)
        return ota_fail(msg, OTA_E_INVAL, "delta: %d deflate passes out of 0..%d", p->passes,
                        DELTA_PASSES_MAX);
    if (p->threads < 1 || p->threads > DELTA_THREADS_MAX)
        return ota_fail(msg, OTA_E_INVAL, "delta: %d threads out of 1..%d", p->threads,
                        DELTA_THREADS_MAX);
    if (p->level < 0 || p->level > 9)
        return ota_fail(msg, OTA_E_INVAL, "delta: zlib level %d out of 0..9", p->level);
    if (old_len > DELTA_IMAGE_MAX || new_len > DELTA_IMAGE_MAX || new_len > (uInt)-1 / 2)
        return ota_fail(msg, OTA_E_LIMIT, "delta: image of %zu/%zu bytes exceeds %llu", old_len,
                        new_len, (unsigned long long)DELTA_IMAGE_MAX);
    return OTA_OK;
}

/* Where each 2-byte prefix starts in the suffix array, so that a search
 * bisects a few entries instead of the whole array (measured: most of the
 * match scan's time was memcmp in the bisection). Without the table (no
 * memory), the search bisects it all. The one-byte suffix (the last
 * byte, X) sorts first among those starting with X, so it counts in the
 * bucket of X followed by 0. */
static void enc_buckets(struct enc_ctx *c)
{
    c->bucket = calloc(65537, sizeof *c->bucket);
    if (!c->bucket)
        return;
    for (size_t i = 0; i + 1 < c->oldn; i++)
        c->bucket[(unsigned)c->old[i] << 8 | c->old[i + 1]]++;
    if (c->oldn > 0)
        c->bucket[(unsigned)c->old[c->oldn - 1] << 8]++;
    uint32_t at = 0;
    for (unsigned b = 0; b < 65536; b++) {
        uint32_t n = c->bucket[b];
        c->bucket[b] = at;
        at += n;
    }
    c->bucket[65536] = at;
}

static enum ota_err enc_match(struct enc_ctx *c, char *msg)
{
    if (c->oldn > 0) {
        c->sa = malloc(c->oldn * sizeof *c->sa);
        if (!c->sa)
            return ota_fail(msg, OTA_E_NOMEM, "delta: suffix array for %zu bytes", c->oldn);
        if (divsufsort(c->old, c->sa, (saidx_t)c->oldn) != 0)
            return ota_fail(msg, OTA_E_NOMEM, "delta: divsufsort failed");
        enc_buckets(c);
    }
    scan_matches(c);
    if (c->pay.oom)
        return ota_fail(msg, OTA_E_NOMEM, "delta: record list");
    return OTA_OK;
}

/* Run cost each address transform saves over records [from, to), added
 * into gain[kind]: per record, the plain cost once, then each kind's. */
static void enc_xf_gains(struct enc_ctx *c, size_t from, size_t to, size_t *gain)
{
    for (size_t i = from; i < to; i++) { /* records outside: the plain cost once */
        const struct enc_rec *r = &c->rec[i];
        if (r->diff_len == 0 || !buf_reserve(&c->tmp, r->diff_len) ||
            !buf_reserve(&c->tmp2, r->diff_len))
            continue;
        diff_bytes(c, 1, r->new_off, r->old_off, r->diff_len, c->tmp.p);
        size_t plain = runs_cost(c->tmp.p, r->diff_len);
        for (int k = DELTA_XF_NONE + 1; plain > 0 && k < DELTA_XF_COUNT; k++) {
            if (!diff_bytes_xf(c, (enum delta_xf)k, 1, r, c->tmp2.p))
                continue;
            size_t xf = runs_cost(c->tmp2.p, r->diff_len);
            gain[k] += plain > xf ? plain - xf : 0;
        }
    }
}

/* The second half of the records' gains, on a scratch context of its own. */
struct enc_gains {
    struct enc_ctx c;
    size_t from, gain[DELTA_XF_COUNT];
};

static void *enc_gains_run(void *arg)
{
    struct enc_gains *g = arg;
    enc_xf_gains(&g->c, g->from, g->c.nrec, g->gain);
    return NULL;
}

/* The address transform whose per-record use saves most run cost, or none
 * (then the stream stays format version 1, for decoders without v2). With
 * two threads the second half of the records is measured on the second:
 * the sums, and so the pick, do not depend on it. */
static enum delta_xf enc_pick_xf(struct enc_ctx *c, int threads)
{
    enum delta_xf best = DELTA_XF_NONE;
    size_t best_gain = 0, gain[DELTA_XF_COUNT] = {0};
    struct enc_gains g = {.c = {.old = c->old, .nw = c->nw, .oldn = c->oldn, .newn = c->newn,
                                .rec = c->rec, .nrec = c->nrec},
                          .from = c->nrec / 2};
    pthread_t th;
    int threaded = threads > 1 && pthread_create(&th, NULL, enc_gains_run, &g) == 0;
    enc_xf_gains(c, 0, threaded ? g.from : c->nrec, gain);
    if (threaded) {
        pthread_join(th, NULL);
        for (int k = 0; k < DELTA_XF_COUNT; k++)
            gain[k] += g.gain[k];
    }
    free(g.c.tmp.p);
    free(g.c.tmp2.p);
    free(g.c.xa.p);
    free(g.c.xb.p);
    for (int k = DELTA_XF_NONE + 1; k < DELTA_XF_COUNT; k++)
        if (gain[k] > best_gain) {
            best_gain = gain[k];
            best = (enum delta_xf)k;
        }
    return best;
}

/* Serialise the records with diff words of `width` bytes and deflate them
 * after the header into out (reset to the header first). */
static enum ota_err enc_payload(struct enc_ctx *c, unsigned width, char *msg)
{
    c->width = width;
    c->old_cur = 0;
    c->adj_used = 0;
    c->pay.len = 0;
    for (size_t i = 0; i < c->nrec; i++)
        emit_record(c, &c->rec[i]);
    if (c->pay.oom || c->tmp.oom || c->tmp2.oom || c->xa.oom || c->xb.oom)
        return ota_fail(msg, OTA_E_NOMEM, "delta: record payload");
    return OTA_OK;
}

/* The size-parsing deflate of one payload (too slow to run on every
 * candidate), on the caller's thread or a second one. */
struct enc_reparse_job {
    const uint8_t *in;
    size_t n, zlen;
    int window_bits, passes;
    uint8_t *z;
    enum ota_err e;
    char msg[OTA_MSG_LEN];
};

static void *enc_reparse_run(void *arg)
{
    struct enc_reparse_job *j = arg;
    j->z = NULL;
    j->e = delta_deflate_opt(j->in, j->n, j->window_bits, j->passes, &j->z, &j->zlen, j->msg);
    return NULL;
}

/* The job's stream replaces best's zlib stream when it is smaller. It is
 * only an improvement: when it could not get its memory (it needs about
 * 30 bytes per payload byte), the zlib stream stands. */
static enum ota_err enc_reparse_keep(struct enc_reparse_job *j, struct enc_buf *best, char *msg)
{
    if (j->e == OTA_OK && j->zlen < best->len - DELTA_HEADER_LEN) {
        memcpy(best->p + DELTA_HEADER_LEN, j->z, j->zlen);
        best->len = DELTA_HEADER_LEN + j->zlen;
    }
    free(j->z);
    j->z = NULL;
    if (j->e == OTA_OK || j->e == OTA_E_NOMEM)
        return OTA_OK;
    return ota_fail(msg, j->e, "%s", j->msg);
}

static void enc_reparse_job_init(struct enc_reparse_job *j, const struct enc_buf *pay,
                                 const struct delta_params *p)
{
    *j = (struct enc_reparse_job){.in = pay->p, .n = pay->len, .window_bits = p->window_bits,
                                  .passes = p->passes};
}

/* The chosen payload (kept in c->best_pay) once more through the
 * size-parsing deflate, kept when smaller. */
static enum ota_err enc_reparse(struct enc_ctx *c, const struct delta_params *p,
                                struct enc_buf *best, char *msg)
{
    struct enc_reparse_job j;
    enc_reparse_job_init(&j, &c->best_pay, p);
    enc_reparse_run(&j);
    return enc_reparse_keep(&j, best, msg);
}

/* Format version a candidate's stream has. */
static int cand_version(struct enc_cand cand)
{
    return cand.adj  ? DELTA_FORMAT_VERSION_ADJ
           : cand.xf ? DELTA_FORMAT_VERSION_XF
                     : DELTA_FORMAT_VERSION;
}

/* Whether the candidate was deflated already (then it was ranked already);
 * if not, it is noted as tried. */
static int cand_tried(struct enc_ctx *c, struct enc_cand cand)
{
    for (size_t i = 0; i < c->ntried; i++)
        if (c->tried[i].width == cand.width && c->tried[i].xf == cand.xf &&
            c->tried[i].adj == cand.adj)
            return 1;
    if (c->ntried < ENC_CANDS_MAX)
        c->tried[c->ntried++] = cand;
    return 0;
}

/* Serialise and deflate one candidate into best (the first) or cur, and
 * keep the smaller in best, on a tie the older format version. A
 * candidate with ADRP moves that no record uses is the same candidate
 * without them, and one seen before is not deflated again. */
static enum ota_err enc_try_cand(struct enc_ctx *c, struct enc_cand cand,
                                 const struct delta_params *p, struct enc_buf *best,
                                 struct enc_buf *cur, struct enc_cand *best_cand, char *msg)
{
    struct enc_buf *dst = best->len == 0 ? best : cur;
    if (!buf_reserve(dst, DELTA_HEADER_LEN))
        return ota_fail(msg, OTA_E_NOMEM, "delta: output buffer");
    enum ota_err e = OTA_OK;
    int built = 0;
    c->xf = cand.xf;
    c->adj = cand.adj = cand.adj && !c->adj_unused;
    if (cand.adj) { /* only the payload tells whether any record moves pages */
        e = enc_payload(c, cand.width, msg);
        built = c->adj_used != 0;
        if (e == OTA_OK && !built) {
            /* none does: the same records without the mode bit, and other
             * widths are not tried with moves either (the vote that picks
             * a record's move does not depend on the width) */
            cand.adj = c->adj = 0;
            c->adj_unused = 1;
        }
    }
    /* a candidate seen before is not serialised again either */
    if (e != OTA_OK || cand_tried(c, cand))
        return e;
    if (!built && (e = enc_payload(c, cand.width, msg)) != OTA_OK)
        return e;
    dst->len = DELTA_HEADER_LEN;
    if ((e = enc_deflate(&c->pay, p, dst, msg)) != OTA_OK)
        return e;
    if (dst == best || cur->len < best->len ||
        (cur->len == best->len && cand_version(cand) < cand_version(*best_cand))) {
        if (dst == cur) {
            struct enc_buf t = *best;
            *best = *cur;
            *cur = t;
        }
        struct enc_buf t = c->best_pay;
        c->best_pay = c->pay;
        c->pay = t;
        *best_cand = cand;
    }
    return OTA_OK;
}

/* One half of the word-width candidates, ranked on a context of its own
 * (the records are shared, read only; the scratch buffers are not), so the
 * two halves can run on two threads. Both halves always run on their own
 * contexts, so the result is the same with one thread or two. */
struct enc_half {
    struct enc_ctx c;
    const struct delta_params *p;
    struct enc_cand cands[2];
    struct enc_buf best, cur;
    struct enc_cand best_cand;
    enum ota_err e;
    char msg[OTA_MSG_LEN];
};

static void *enc_half_run(void *arg)
{
    struct enc_half *h = arg;
    h->e = OTA_OK;
    for (size_t i = 0; h->e == OTA_OK && i < 2; i++)
        h->e = enc_try_cand(&h->c, h->cands[i], h->p, &h->best, &h->cur, &h->best_cand, h->msg);
    return NULL;
}

static void enc_half_free(struct enc_half *h)
{
    free(h->c.pay.p);
    free(h->c.tmp.p);
    free(h->c.tmp2.p);
    free(h->c.xa.p);
    free(h->c.xb.p);
    free(h->c.best_pay.p);
    free(h->best.p);
    free(h->cur.p);
}

/* Widths 1, per record | 2, 4 in two halves of about equal work (per
 * record tries every width on every record); a tie goes to the width
 * earlier in the order 1, 2, 4, per record, as in one pass over the four.
 * The winner's output, payload and context state go to c and best. */
static enum ota_err enc_widths(struct enc_ctx *c, struct enc_cand first,
                               const struct delta_params *p, struct enc_buf *best,
                               struct enc_cand *best_cand, char *msg)
{
    static const unsigned widths[] = {1, 0, 2, 4}, order[] = {0, 3, 1, 2};
    struct enc_half h[2];
    pthread_t th;
    for (int k = 0; k < 2; k++) {
        h[k] = (struct enc_half){.c = {.old = c->old, .nw = c->nw, .oldn = c->oldn, .newn = c->newn,
                                       .rec = c->rec, .nrec = c->nrec, .xfc_new = c->xfc_new,
                                       .xfc_old = c->xfc_old, .xfc_kind = c->xfc_kind},
                                 .p = p, .best_cand = first};
        for (int i = 0; i < 2; i++)
            h[k].cands[i] = (struct enc_cand){widths[2 * k + i], first.xf, first.adj};
    }
    int threaded = p->threads > 1 && pthread_create(&th, NULL, enc_half_run, &h[1]) == 0;
    enc_half_run(&h[0]);
    if (threaded)
        pthread_join(th, NULL);
    else
        enc_half_run(&h[1]);
    enum ota_err e = h[0].e != OTA_OK ? h[0].e : h[1].e;
    if (e != OTA_OK) {
        ota_fail(msg, e, "%s", h[0].e != OTA_OK ? h[0].msg : h[1].msg);
    } else {
        size_t rank[2];
        for (int k = 0; k < 2; k++)
            rank[k] = order[2 * k + (h[k].best_cand.width != widths[2 * k])];
        int second = h[1].best.len < h[0].best.len ||
                     (h[1].best.len == h[0].best.len && rank[1] < rank[0]);
        struct enc_half *w = &h[second], *l = &h[!second];
        struct enc_buf t = *best;
        *best = w->best;
        w->best = t;
        t = c->best_pay;
        c->best_pay = w->c.best_pay;
        w->c.best_pay = t;
        *best_cand = w->best_cand;
        c->ntried = 0;
        for (int k = 0; k < 2; k++)
            for (size_t i = 0; i < h[k].c.ntried; i++)
                c->tried[c->ntried++] = h[k].c.tried[i];
        c->adj_unused = w->c.adj_unused || l->c.adj_unused;
    }
    enc_half_free(&h[0]);
    enc_half_free(&h[1]);
    return e;
}

/* Pick the diff word width that deflates smallest: bytes suit code whose
 * changes are not aligned, 4-byte words pointer tables moved by a constant.
 * With a transform picked, the best width is tried once more without it;
 * then the winner without its ADRP moves and without its transform, kept
 * on a tie (run cost is only a proxy), so a stream is of a newer format
 * version only when that makes it smaller. */
static enum ota_err enc_streams(struct enc_ctx *c, const struct delta_params *p,
                                struct enc_buf *best, char *msg)
{
    struct enc_buf cur = {0};
    enum delta_xf xf = c->xf;
    int adj = p->adj && (xf == DELTA_XF_NONE || xf == DELTA_XF_ARM64);
    struct enc_cand best_cand = {1, xf, adj};
    struct enc_buf spec = {0};
    struct enc_reparse_job job;
    pthread_t th;
    int spec_on = 0;
    enc_xf_cache(c, xf);
    enum ota_err e = enc_widths(c, best_cand, p, best, &best_cand, msg);
    if (e == OTA_OK && p->passes > 0 && p->threads > 1) {
        /* the widths' winner usually stays the winner: its size-parsing
         * deflate starts on the second thread while the last candidates are
         * ranked on this one. The payload leaves c->best_pay, which a new
         * winner would overwrite; an empty c->best_pay afterwards means
         * that none came. */
        spec = c->best_pay;
        c->best_pay = (struct enc_buf){0};
        enc_reparse_job_init(&job, &spec, p);
        spec_on = pthread_create(&th, NULL, enc_reparse_run, &job) == 0;
        if (!spec_on) {
            c->best_pay = spec;
            spec = (struct enc_buf){0};
        }
    }
    if (e == OTA_OK && xf != DELTA_XF_NONE)
        e = enc_try_cand(c, (struct enc_cand){best_cand.width, DELTA_XF_NONE, p->adj != 0}, p,
                         best, &cur, &best_cand, msg);
    if (e == OTA_OK && best_cand.adj)
        e = enc_try_cand(c, (struct enc_cand){best_cand.width, best_cand.xf, 0}, p, best, &cur,
                         &best_cand, msg);
    if (e == OTA_OK && best_cand.xf != DELTA_XF_NONE)
        e = enc_try_cand(c, (struct enc_cand){best_cand.width, DELTA_XF_NONE, 0}, p, best, &cur,
                         &best_cand, msg);
    c->xf = best_cand.xf;
    c->adj = best_cand.adj;
    free(cur.p);
    if (spec_on) {
        pthread_join(th, NULL);
        if (c->best_pay.p == NULL) { /* the speculation held */
            c->best_pay = spec;
            spec = (struct enc_buf){0};
            enum ota_err ek = enc_reparse_keep(&job, best, msg);
            return e != OTA_OK ? e : ek;
        }
        free(job.z);
        free(spec.p);
    }
    if (e == OTA_OK && p->passes > 0)
        e = enc_reparse(c, p, best, msg);
    return e;
}

/* ---- format version 4: control and data bytes in two streams ---- */

/* Next varint of a payload the encoder wrote (so well formed), copied to
 * to when not NULL. */
static uint64_t pay_varint(const struct enc_buf *pay, size_t *i, struct enc_buf *to)
{
    uint64_t v = 0;
    unsigned shift = 0;
    uint8_t b;
    do {
        b = pay->p[(*i)++];
        v |= (uint64_t)(b & 0x7f) << shift;
        shift += 7;
    } while (b & 0x80);
    if (to)
        buf_varint(to, v);
    return v;
}

static void pay_bytes(const struct enc_buf *pay, size_t *i, uint64_t n, struct enc_buf *to)
{
    /* an empty run before any data byte: to->p may still be NULL */
    if (n > 0 && buf_reserve(to, (size_t)n)) {
        memcpy(to->p + to->len, pay->p + *i, (size_t)n);
        to->len += (size_t)n;
    }
    *i += (size_t)n;
}

/* A version 1-3 payload as version 4's control part (record and run
 * varints, record mode bits widened to version 3's four) and data part
 * (literal difference and extra bytes). */
static void split_payload(const struct enc_buf *pay, int version, struct enc_buf *ctl,
                          struct enc_buf *dat)
{
    unsigned mode_bits = (unsigned)version + 1;
    for (size_t i = 0; i < pay->len;) {
        uint64_t c0 = pay_varint(pay, &i, NULL), diff = c0 >> mode_bits;
        buf_varint(ctl, diff << 4 | (c0 & ((1u << mode_bits) - 1)));
        uint64_t extra = pay_varint(pay, &i, ctl);
        pay_varint(pay, &i, ctl);
        if (version == DELTA_FORMAT_VERSION_ADJ && (c0 & 8))
            pay_varint(pay, &i, ctl);
        while (diff > 0) {
            uint64_t r = pay_varint(pay, &i, ctl), lit = r & DELTA_RUN_MAX;
            if (lit == DELTA_RUN_MAX)
                lit += pay_varint(pay, &i, ctl);
            pay_bytes(pay, &i, lit, dat);
            diff -= (r >> DELTA_RUN_BITS) + lit;
        }
        pay_bytes(pay, &i, extra, dat);
    }
}

/* Append in's zlib stream with window 2^wbits to out: the size-parsing
 * deflate when the params ask for it, zlib's otherwise. */
static enum ota_err split_deflate(const struct enc_buf *in, int wbits, const struct delta_params *p,
                                  struct enc_buf *out, char *msg)
{
    struct delta_params q = *p;
    uint8_t *z;
    size_t zlen;
    q.window_bits = wbits;
    if (p->passes == 0)
        return enc_deflate(in, &q, out, msg);
    enum ota_err e = delta_deflate_opt(in->p, in->len, wbits, p->passes, &z, &zlen, msg);
    if (e == OTA_OK && !buf_reserve(out, zlen))
        e = ota_fail(msg, OTA_E_NOMEM, "delta: %zu bytes for a split stream", zlen);
    if (e == OTA_OK) {
        memcpy(out->p + out->len, z, zlen);
        out->len += zlen;
    }
    if (e == OTA_OK)
        free(z);
    return e;
}

/* The chosen payload (c->best_pay, of format version `version`) as a
 * version 4 stream; it replaces res (header slot included) when smaller.
 * Only an improvement: without the memory for it, res stands. */
/* Version 4's data stream, deflated while the control stream is (on the
 * second thread with two: the two deflates are independent). */
struct split_job {
    const struct enc_buf *in;
    const struct delta_params *p;
    struct enc_buf out;
    enum ota_err e;
    char msg[OTA_MSG_LEN];
};

static void *split_job_run(void *arg)
{
    struct split_job *j = arg;
    j->e = split_deflate(j->in, j->p->window_bits, j->p, &j->out, j->msg);
    return NULL;
}

static enum ota_err enc_split(struct enc_ctx *c, const struct delta_params *p, int version,
                              struct enc_buf *res, int *split, char *msg)
{
    struct enc_buf ctl = {0}, dat = {0}, out = {0};
    struct split_job job = {.in = &dat, .p = p, .e = OTA_OK};
    enum ota_err e = OTA_OK;
    *split = 0;
    split_payload(&c->best_pay, version, &ctl, &dat);
    if (ctl.oom || dat.oom || !buf_reserve(&out, DELTA_HEADER_LEN + 4))
        e = OTA_E_NOMEM;
    else {
        pthread_t th;
        int threaded = p->threads > 1 && pthread_create(&th, NULL, split_job_run, &job) == 0;
        out.len = DELTA_HEADER_LEN + 4;
        e = split_deflate(&ctl, (int)ddelta_ctl_wbits((unsigned)p->window_bits), p, &out, msg);
        if (threaded)
            pthread_join(th, NULL);
        else
            split_job_run(&job);
        if (e == OTA_OK && job.e != OTA_OK)
            e = ota_fail(msg, job.e, "%s", job.msg);
    }
    size_t ctl_len = out.len - DELTA_HEADER_LEN - 4;
    if (e == OTA_OK && !buf_reserve(&out, job.out.len))
        e = OTA_E_NOMEM;
    if (e == OTA_OK) {
        memcpy(out.p + out.len, job.out.p, job.out.len);
        out.len += job.out.len;
    }
    if (e == OTA_OK && out.len < res->len) {
        cur_put_be32(out.p + DELTA_HEADER_LEN, (uint32_t)ctl_len);
        struct enc_buf t = *res;
        *res = out;
        out = t;
        *split = 1;
    }
    free(ctl.p);
    free(dat.p);
    free(out.p);
    free(job.out.p);
    return e == OTA_E_NOMEM ? OTA_OK : e;
}

/* Both images' SHA-256 for the header: with two threads, on the second
 * while the suffix sort runs (it needs nothing the encoder computes). */
struct enc_hashes {
    const uint8_t *old;
    size_t old_len;
    const uint8_t *nw;
    size_t new_len;
    uint8_t *oh, *nh;
};

static void *enc_hash_run(void *arg)
{
    struct enc_hashes *h = arg;
    crypto_sha256(h->old, h->old_len, h->oh);
    crypto_sha256(h->nw, h->new_len, h->nh);
    return NULL;
}

enum ota_err delta_encode(const uint8_t *old, size_t old_len, const uint8_t *new_, size_t new_len,
                          const struct delta_params *p, uint8_t **out, size_t *out_len,
                          struct delta_info *info, char *msg)
{
    struct delta_params def;
    struct delta_info inf;
    struct enc_ctx c = {.old = old, .nw = new_, .oldn = old_len, .newn = new_len};
    struct enc_buf res = {0};
    uint8_t oh[CRYPTO_HASH_LEN], nh[CRYPTO_HASH_LEN];
    if (!p) {
        delta_params_default(&def);
        p = &def;
    }
    enum ota_err e = enc_check(old_len, new_len, p, msg);
    struct enc_hashes hs = {old, old_len, new_, new_len, oh, nh};
    pthread_t th;
    int hashed = e == OTA_OK && p->threads > 1 && pthread_create(&th, NULL, enc_hash_run, &hs) == 0;
    if (e == OTA_OK)
        e = enc_match(&c, msg);
    free(c.sa);
    free(c.bucket);
    if (e == OTA_OK)
        c.xf = p->xf == DELTA_XF_AUTO ? enc_pick_xf(&c, p->threads) : (enum delta_xf)p->xf;
    if (e == OTA_OK)
        e = enc_streams(&c, p, &res, msg);
    int version = c.adj ? DELTA_FORMAT_VERSION_ADJ
                : c.xf  ? DELTA_FORMAT_VERSION_XF
                        : DELTA_FORMAT_VERSION;
    int split = 0;
    if (e == OTA_OK && p->split)
        e = enc_split(&c, p, version, &res, &split, msg);
    free(c.rec);
    free(c.pay.p);
    free(c.best_pay.p);
    free(c.xfc_new);
    free(c.xfc_old);
    free(c.tmp.p);
    free(c.tmp2.p);
    free(c.xa.p);
    free(c.xb.p);
    if (hashed)
        pthread_join(th, NULL);
    if (e != OTA_OK) {
        free(res.p);
        return e;
    }
    if (!hashed)
        enc_hash_run(&hs);
    inf = (struct delta_info){old_len, new_len, p->window_bits, delta_dec_mem(p->window_bits),
                              split ? DELTA_FORMAT_VERSION_SPLIT : version, (int)c.xf};
    delta_header_encode(&inf, oh, nh, res.p);
    *out = res.p;
    *out_len = res.len;
    if (info)
        *info = inf;
    return OTA_OK;
}
