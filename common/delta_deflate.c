/* delta_deflate.c - a deflate encoder that parses for size, for delta payloads.
 *
 * zlib's level 9 chooses matches greedily with one step of lazy look-ahead
 * and cuts blocks where its symbol buffer fills; on a delta payload (varints,
 * sparse difference bytes, literal code) that leaves several per cent on the
 * table. This encoder writes an ordinary zlib stream (RFC 1950/1951), so
 * every inflate, including the device's bounded-RAM one, reads it unchanged;
 * only the host pays: it finds all useful matches once (binary trees, within
 * the stream's window), then picks the cheapest path through them by dynamic
 * programming with bit costs taken from the previous pass's statistics,
 * several passes, and finally cuts the symbols into blocks where separate
 * Huffman tables pay for their headers. Sections: tables, bit writer,
 * Huffman code lengths, match finder, parse, blocks, entry point.
 */
#include "delta.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define DFL_MIN_MATCH 3
#define DFL_MAX_MATCH 258
#define DFL_NLIT 286 /* literals, end of block, length codes */
#define DFL_NDIST 30
#define DFL_NCL 19 /* code length alphabet */
#define DFL_HASH_BITS 15
/* Nodes a match search descends at most (dfl_bt). Measured on the bench
 * pairs: 64 gives 441,867 B, 128 and 256 441,776 B (hash chains of 1024
 * candidates gave 441,892 B in four times the time). */
#define DFL_BT_DEPTH 128
/* A position whose longest match reaches DFL_PARSE_NICE bytes takes it in
 * the parse: the positions it covers are not parsed (zlib's nice_length
 * idea). Small deltas are long runs of such matches, each costing the
 * parse a loop over every length; measured: +67 B over the bench pairs,
 * the parse of pybv11 1f5d945af->dirty a third shorter. */
#define DFL_PARSE_NICE 128
#define DFL_SPLIT_TRY 12 /* split points tried per range and round */
#define DFL_MIN_BLOCK 256 /* symbols: smaller ranges are not split further */

/* ---- tables (RFC 1951, 3.2.5) ---- */

static const uint16_t dfl_len_base[29] = {3,  4,  5,  6,  7,  8,  9,  10,  11,  13,
                                          15, 17, 19, 23, 27, 31, 35, 43,  51,  59,
                                          67, 83, 99, 115, 131, 163, 195, 227, 258};
static const uint8_t dfl_len_extra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                                          2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const uint16_t dfl_dist_base[30] = {1,    2,    3,    4,    5,    7,     9,     13,
                                           17,   25,   33,   49,   65,   97,    129,   193,
                                           257,  385,  513,  769,  1025, 1537,  2049,  3073,
                                           4097, 6145, 8193, 12289, 16385, 24577};
static const uint8_t dfl_dist_extra[30] = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                                           6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};
static const uint8_t dfl_cl_order[DFL_NCL] = {16, 17, 18, 0, 8,  7, 9,  6, 10, 5,
                                              11, 4,  12, 3, 13, 2, 14, 1, 15};

static unsigned dfl_log2(unsigned x)
{
    return 31u - (unsigned)__builtin_clz(x);
}

/* Length 3..258 to its code 0..28 (symbol 257 + code). */
static unsigned dfl_len_code(unsigned len)
{
    unsigned x = len - 3, b;
    if (len == DFL_MAX_MATCH)
        return 28;
    if (x < 8)
        return x;
    b = dfl_log2(x);
    return 4 * (b - 1) + ((x >> (b - 2)) & 3);
}

/* Distance 1..32768 to its code 0..29. */
static unsigned dfl_dist_code(unsigned dist)
{
    unsigned x = dist - 1, b;
    if (dist <= 4)
        return x;
    b = dfl_log2(x);
    return 2 * b + ((x >> (b - 1)) & 1);
}

/* ---- bit writer (least significant bit first) ---- */

struct dfl_out {
    uint8_t *p;
    size_t len, cap;
    uint64_t acc;
    unsigned nacc;
    int oom;
};

static void dfl_put(struct dfl_out *o, uint32_t v, unsigned n)
{
    o->acc |= (uint64_t)v << o->nacc;
    o->nacc += n;
    while (o->nacc >= 8) {
        if (o->len == o->cap) {
            size_t cap = o->cap ? o->cap * 2 : 4096;
            uint8_t *p = o->oom ? NULL : realloc(o->p, cap);
            if (!p) {
                o->oom = 1;
                o->len = 0; /* keep writing nowhere; the caller sees oom */
            } else {
                o->p = p;
                o->cap = cap;
            }
        }
        if (!o->oom)
            o->p[o->len++] = (uint8_t)o->acc;
        o->acc >>= 8;
        o->nacc -= 8;
    }
}

static void dfl_flush_byte(struct dfl_out *o)
{
    if (o->nacc % 8)
        dfl_put(o, 0, 8 - o->nacc % 8);
}

/* ---- Huffman code lengths ---- */

/* Sort m keys (frequency above, symbol below, so ties stay in symbol
 * order; all distinct) ascending, a byte at a time from the lowest,
 * skipping bytes all keys share (qsort's calls were a twentieth of the
 * encode: the block splitter plans thousands of codes). */
static void dfl_sort_keys(uint64_t *key, unsigned m)
{
    uint64_t tmp[DFL_NLIT], all_or = 0, all_and = ~(uint64_t)0, *src = key, *dst = tmp;
    for (unsigned i = 0; i < m; i++) {
        all_or |= key[i];
        all_and &= key[i];
    }
    for (unsigned sh = 0; sh < 64; sh += 8) {
        if ((((all_or ^ all_and) >> sh) & 0xFF) == 0)
            continue;
        unsigned count[257] = {0};
        for (unsigned i = 0; i < m; i++)
            count[((src[i] >> sh) & 0xFF) + 1]++;
        for (unsigned b = 0; b < 256; b++)
            count[b + 1] += count[b];
        for (unsigned i = 0; i < m; i++)
            dst[count[(src[i] >> sh) & 0xFF]++] = src[i];
        uint64_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != key)
        memcpy(key, src, m * sizeof *key);
}

/* Lengths of an optimal prefix code for freq[0..n), none longer than limit;
 * symbols of frequency 0 get 0. At least two symbols must be used (the
 * callers see to it), so the code is always complete, as inflate wants. */
static void dfl_lengths(const uint32_t *freq, unsigned n, unsigned limit, uint8_t *len)
{
    unsigned sym[DFL_NLIT], m = 0;
    uint64_t w[2 * DFL_NLIT], key[DFL_NLIT];
    unsigned parent[2 * DFL_NLIT], depth[2 * DFL_NLIT];
    memset(len, 0, n);
    for (unsigned i = 0; i < n; i++)
        if (freq[i])
            key[m++] = (uint64_t)freq[i] << 16 | i;
    dfl_sort_keys(key, m);
    for (unsigned i = 0; i < m; i++)
        sym[i] = (unsigned)(key[i] & 0xFFFF);
    for (unsigned i = 0; i < m; i++)
        w[i] = freq[sym[i]];
    /* two queues: sorted leaves, internal nodes in order of creation */
    unsigned leaf = 0, node = m, next = m;
    for (unsigned k = 0; k + 1 < m; k++) {
        unsigned pick[2];
        for (int t = 0; t < 2; t++) {
            if (leaf < m && (node == next || w[leaf] <= w[node]))
                pick[t] = leaf++;
            else
                pick[t] = node++;
        }
        w[next] = w[pick[0]] + w[pick[1]];
        parent[pick[0]] = parent[pick[1]] = next++;
    }
    depth[next - 1] = 0;
    for (unsigned x = next - 1; x-- > 0;)
        depth[x] = depth[parent[x]] + 1;
    uint64_t kraft = 0, full = (uint64_t)1 << limit;
    for (unsigned i = 0; i < m; i++) {
        unsigned d = depth[i] > limit ? limit : depth[i];
        len[sym[i]] = (uint8_t)(d ? d : 1);
        kraft += full >> len[sym[i]];
    }
    /* clamping oversubscribed the code: lengthen the rarest short symbols */
    while (kraft > full) {
        unsigned best = n;
        for (unsigned i = 0; i < m; i++)
            if (len[sym[i]] < limit && (best == n || freq[sym[i]] < freq[best]))
                best = sym[i];
        len[best]++;
        kraft -= full >> len[best];
    }
    /* and may have left it incomplete: shorten the most frequent that fit */
    while (kraft < full) {
        unsigned best = n;
        for (unsigned i = 0; i < m; i++) {
            unsigned s = sym[i];
            if (len[s] > 1 && (full >> len[s]) <= full - kraft &&
                (best == n || freq[s] > freq[best]))
                best = s;
        }
        kraft += full >> len[best];
        len[best]--;
    }
}

/* Canonical codes (RFC 1951, 3.2.2), bit-reversed for the LSB-first writer. */
static void dfl_codes(const uint8_t *len, unsigned n, uint16_t *code)
{
    unsigned count[16] = {0}, next[16];
    for (unsigned i = 0; i < n; i++)
        count[len[i]]++;
    count[0] = 0;
    next[0] = 0;
    for (unsigned b = 1, c = 0; b < 16; b++) {
        c = (c + count[b - 1]) << 1;
        next[b] = c;
    }
    for (unsigned i = 0; i < n; i++) {
        unsigned l = len[i], c = l ? next[l]++ : 0, r = 0;
        for (unsigned b = 0; b < l; b++)
            r |= ((c >> b) & 1u) << (l - 1 - b);
        code[i] = (uint16_t)r;
    }
}

/* ---- match finder ---- */

struct dfl_match {
    uint16_t len, dist;
};

/* Per position, the shortest distance for every match length as a
 * staircase: entries of strictly increasing length, each the nearest
 * occurrence reaching it. */
struct dfl_matches {
    struct dfl_match *m;
    uint32_t *first; /* entries of position i: m[first[i] .. first[i + 1]) */
    size_t len, cap;
};

/* Multiplicative hash of 3 bytes: every input bit reaches the index (the
 * shift-and-xor hash before dropped the first byte's top bits, which
 * varints set, so those chains mixed unrelated strings). */
static unsigned dfl_hash(const uint8_t *p)
{
    uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
    return (v * 2654435761u) >> (32 - DFL_HASH_BITS);
}

/* One more match of the current position; 0 when out of memory. */
static int dfl_push(struct dfl_matches *mf, size_t len, size_t dist)
{
    if (mf->len == UINT32_MAX - 1) /* first[] indexes are 32-bit */
        return 0;
    if (mf->len == mf->cap) {
        size_t cap = mf->cap ? mf->cap * 2 : 65536;
        struct dfl_match *p = realloc(mf->m, cap * sizeof *p);
        if (!p)
            return 0;
        mf->m = p;
        mf->cap = cap;
    }
    mf->m[mf->len++] = (struct dfl_match){(uint16_t)len, (uint16_t)dist};
    return 1;
}

/* Matches of position i from the binary tree of earlier positions
 * (LZMA's bt idea): the tree of a hash bucket holds its positions ordered
 * by the bytes that follow them, most recent at the root, so one descent
 * towards position i meets, for each length, the nearest position reaching
 * it, and moves i to the root. Hash chains walked up to 1024 candidates
 * on the repetitive payloads of small deltas (most of the deflate's time);
 * the descent stops after DFL_BT_DEPTH nodes. son[2p] and son[2p + 1] are
 * the subtrees of position p (bytes smaller, larger). Returns 0 when out
 * of memory. */
static int dfl_bt(const uint8_t *in, size_t n, size_t i, unsigned wsize, int32_t *head,
                  int32_t *son, struct dfl_matches *mf)
{
    size_t maxl = n - i < DFL_MAX_MATCH ? n - i : DFL_MAX_MATCH, best = DFL_MIN_MATCH - 1;
    size_t len_small = 0, len_large = 0; /* bytes known equal on either side */
    unsigned h = dfl_hash(in + i);
    int32_t cand = head[h], *small = &son[2 * i], *large = &son[2 * i + 1];
    head[h] = (int32_t)i;
    for (unsigned depth = 0;; depth++) {
        if (cand < 0 || i - (size_t)cand > wsize || depth == DFL_BT_DEPTH) {
            *small = *large = -1;
            return 1;
        }
        const uint8_t *a = in + cand, *b = in + i;
        size_t l = len_small < len_large ? len_small : len_large;
        while (l < maxl && a[l] == b[l])
            l++;
        if (l > best) {
            if (!dfl_push(mf, l, i - (size_t)cand))
                return 0;
            best = l;
        }
        if (l == maxl) { /* cand's place goes to i, which matches as far */
            *small = son[2 * cand];
            *large = son[2 * cand + 1];
            return 1;
        }
        if (a[l] < b[l]) {
            *small = cand;
            small = &son[2 * cand + 1];
            len_small = l;
        } else {
            *large = cand;
            large = &son[2 * cand];
            len_large = l;
        }
        cand = *(a[l] < b[l] ? small : large);
    }
}

static int dfl_find_matches(const uint8_t *in, size_t n, unsigned wsize, struct dfl_matches *mf)
{
    int32_t *head = malloc(sizeof *head << DFL_HASH_BITS), *son = malloc((2 * n + 2) * sizeof *son);
    int ok = 1;
    mf->first = malloc((n + 1) * sizeof *mf->first);
    if (!head || !son || !mf->first) {
        free(head);
        free(son);
        return 0;
    }
    for (size_t i = 0; i < (size_t)1 << DFL_HASH_BITS; i++)
        head[i] = -1;
    for (size_t i = 0; ok && i < n; i++) {
        mf->first[i] = (uint32_t)mf->len;
        if (n - i >= DFL_MIN_MATCH)
            ok = dfl_bt(in, n, i, wsize, head, son, mf);
    }
    mf->first[n] = (uint32_t)mf->len;
    free(head);
    free(son);
    return ok;
}

/* ---- parse ---- */

/* A symbol: a literal byte (dist 0) or a match. */
struct dfl_sym {
    uint16_t len, dist;
};

struct dfl_costs {
    float lit[DFL_NLIT];   /* bits of a literal byte or length symbol */
    float dist[DFL_NDIST]; /* bits of a distance symbol */
    float len_bits[DFL_MAX_MATCH + 1], dist_bits[DFL_NDIST];
};

/* Bit costs of each symbol from counts of a previous parse: -log2 of its
 * share (unseen symbols a little dearer than the rarest), plus extra bits. */
static void dfl_costs_from(struct dfl_costs *c, const uint32_t *lf, const uint32_t *df)
{
    double lt = 0, dt = 0;
    for (unsigned i = 0; i < DFL_NLIT; i++)
        lt += lf[i];
    for (unsigned i = 0; i < DFL_NDIST; i++)
        dt += df[i];
    for (unsigned i = 0; i < DFL_NLIT; i++)
        c->lit[i] = lf[i] ? (float)log2(lt / lf[i]) : (float)log2(lt + 2) + 1;
    for (unsigned i = 0; i < DFL_NDIST; i++)
        c->dist[i] = df[i] ? (float)log2(dt / df[i]) : (float)log2(dt + 2) + 1;
    for (unsigned l = DFL_MIN_MATCH; l <= DFL_MAX_MATCH; l++) {
        unsigned code = dfl_len_code(l);
        c->len_bits[l] = c->lit[257 + code] + dfl_len_extra[code];
    }
    for (unsigned d = 0; d < DFL_NDIST; d++)
        c->dist_bits[d] = c->dist[d] + dfl_dist_extra[d];
}

/* Cheapest path through in[a..b) under the costs, matches cut at b;
 * symbols into syms (b - a + 1 slots), count into *nsym. cost, step are
 * b - a + 1 scratch entries. */
static void dfl_parse(const uint8_t *in, size_t a, size_t b, const struct dfl_matches *mf,
                      const struct dfl_costs *c, float *cost, struct dfl_sym *step,
                      struct dfl_sym *syms, size_t *nsym)
{
    size_t n = b - a;
    for (size_t i = 1; i <= n; i++)
        cost[i] = INFINITY;
    cost[0] = 0;
    for (size_t i = 0; i < n; i++) {
        float base = cost[i];
        if (base + c->lit[in[a + i]] < cost[i + 1]) {
            cost[i + 1] = base + c->lit[in[a + i]];
            step[i + 1] = (struct dfl_sym){1, 0};
        }
        unsigned from = DFL_MIN_MATCH;
        uint32_t k0 = mf->first[a + i], k1 = mf->first[a + i + 1];
        size_t jump = 0; /* the longest match is the last one */
        if (k1 > k0 && mf->m[k1 - 1].len >= DFL_PARSE_NICE && mf->m[k1 - 1].len <= n - i)
            jump = mf->m[k1 - 1].len;
        for (uint32_t k = k0; k < k1 && from <= n - i; k++) {
            const struct dfl_match *m = &mf->m[k];
            float dc = base + c->dist_bits[dfl_dist_code(m->dist)];
            unsigned top = m->len < n - i ? m->len : (unsigned)(n - i);
            for (unsigned l = from; l <= top; l++) {
                float t = dc + c->len_bits[l];
                if (t < cost[i + l]) {
                    cost[i + l] = t;
                    step[i + l] = (struct dfl_sym){(uint16_t)l, m->dist};
                }
            }
            from = m->len + 1u;
        }
        if (jump)
            i += jump - 1;
    }
    size_t k = 0;
    for (size_t i = n; i > 0; i -= step[i].len)
        syms[k++] = step[i];
    for (size_t x = 0, y = k; x + 1 < y; x++, y--) { /* reverse into order */
        struct dfl_sym t = syms[x];
        syms[x] = syms[y - 1];
        syms[y - 1] = t;
    }
    for (size_t i = 0, pos = a; i < k; i++) {
        size_t adv = syms[i].len;
        if (syms[i].dist == 0)
            syms[i].len = in[pos];
        pos += adv;
    }
    *nsym = k;
}

static void dfl_count(const struct dfl_sym *s, size_t a, size_t b, uint32_t *lf, uint32_t *df)
{
    memset(lf, 0, DFL_NLIT * sizeof *lf);
    memset(df, 0, DFL_NDIST * sizeof *df);
    for (size_t i = a; i < b; i++) {
        if (s[i].dist == 0) {
            lf[s[i].len]++;
        } else {
            lf[257 + dfl_len_code(s[i].len)]++;
            df[dfl_dist_code(s[i].dist)]++;
        }
    }
    lf[256]++;
}

/* ---- blocks ---- */

/* A dynamic block's code lengths and their run-length coded header. */
struct dfl_block {
    uint8_t ll[DFL_NLIT], dl[DFL_NDIST], cl[DFL_NCL];
    unsigned hlit, hdist, hclen;
    uint8_t rle[DFL_NLIT + DFL_NDIST], rle_extra[DFL_NLIT + DFL_NDIST];
    unsigned nrle;
    uint64_t bits; /* whole block, header included */
};

static void dfl_rle_add(struct dfl_block *b, unsigned sym, unsigned extra)
{
    b->rle[b->nrle] = (uint8_t)sym;
    b->rle_extra[b->nrle++] = (uint8_t)extra;
}

/* Code lengths of both trees as code-length symbols 0..18 (16 repeats the
 * previous length 3..6 times, 17 and 18 give 3..10 and 11..138 zeros). */
static void dfl_rle(struct dfl_block *b)
{
    uint8_t all[DFL_NLIT + DFL_NDIST];
    unsigned n = b->hlit + b->hdist;
    memcpy(all, b->ll, b->hlit);
    memcpy(all + b->hlit, b->dl, b->hdist);
    b->nrle = 0;
    for (unsigned i = 0; i < n;) {
        unsigned v = all[i], run = 1;
        while (i + run < n && all[i + run] == v)
            run++;
        i += run;
        if (v == 0) {
            for (; run >= 11; run -= run < 138 ? run : 138)
                dfl_rle_add(b, 18, (run < 138 ? run : 138) - 11);
            if (run >= 3) {
                dfl_rle_add(b, 17, run - 3);
                run = 0;
            }
        } else {
            dfl_rle_add(b, v, 0);
            for (run--; run >= 3; run -= run < 6 ? run : 6)
                dfl_rle_add(b, 16, (run < 6 ? run : 6) - 3);
        }
        for (; run > 0; run--)
            dfl_rle_add(b, v, 0);
    }
}

/* inflate wants complete codes: give unused symbols a count until at
 * least two are in use (one is in every literal/length code: end of block). */
static void dfl_two_used(uint32_t *freq, unsigned n)
{
    unsigned used = 0;
    for (unsigned i = 0; i < n; i++)
        used += freq[i] != 0;
    for (unsigned i = 0; used < 2 && i < n; i++)
        if (freq[i] == 0) {
            freq[i] = 1;
            used++;
        }
}

/* Plan a dynamic block for the symbol counts: code lengths, header, size. */
static void dfl_plan(struct dfl_block *b, const uint32_t *lf_in, const uint32_t *df_in)
{
    static const unsigned cl_extra[DFL_NCL] = {[16] = 2, [17] = 3, [18] = 7};
    uint32_t lf[DFL_NLIT], df[DFL_NDIST], cf[DFL_NCL] = {0};
    memcpy(lf, lf_in, sizeof lf);
    memcpy(df, df_in, sizeof df);
    dfl_two_used(lf, DFL_NLIT);
    dfl_two_used(df, DFL_NDIST);
    dfl_lengths(lf, DFL_NLIT, 15, b->ll);
    dfl_lengths(df, DFL_NDIST, 15, b->dl);
    for (b->hlit = DFL_NLIT; b->ll[b->hlit - 1] == 0;)
        b->hlit--;
    for (b->hdist = DFL_NDIST; b->dl[b->hdist - 1] == 0;)
        b->hdist--;
    dfl_rle(b);
    for (unsigned i = 0; i < b->nrle; i++)
        cf[b->rle[i]]++;
    dfl_two_used(cf, DFL_NCL);
    dfl_lengths(cf, DFL_NCL, 7, b->cl);
    for (b->hclen = DFL_NCL; b->hclen > 4 && b->cl[dfl_cl_order[b->hclen - 1]] == 0;)
        b->hclen--;
    uint64_t bits = 3 + 5 + 5 + 4 + 3 * (uint64_t)b->hclen;
    for (unsigned i = 0; i < b->nrle; i++)
        bits += b->cl[b->rle[i]] + cl_extra[b->rle[i]];
    for (unsigned i = 0; i < DFL_NLIT; i++)
        bits += (uint64_t)lf_in[i] * (b->ll[i] + (i > 256 ? dfl_len_extra[i - 257] : 0));
    for (unsigned i = 0; i < DFL_NDIST; i++)
        bits += (uint64_t)df_in[i] * (b->dl[i] + dfl_dist_extra[i]);
    b->bits = bits;
}

static uint64_t dfl_range_bits(const struct dfl_sym *s, size_t a, size_t b, struct dfl_block *blk)
{
    uint32_t lf[DFL_NLIT], df[DFL_NDIST];
    dfl_count(s, a, b, lf, df);
    dfl_plan(blk, lf, df);
    return blk->bits;
}

/* Symbol counts before every DFL_GRAIN-th symbol, so that the split search
 * counts any range of whole grains in one subtraction instead of a pass. */
struct dfl_hist {
    uint32_t *h;   /* grain k: DFL_NLIT + DFL_NDIST counts of symbols before it */
    size_t ngrain; /* grains, the last one possibly short */
    size_t nsym;
};

#define DFL_GRAIN 64
#define DFL_NH (DFL_NLIT + DFL_NDIST)

static int dfl_hist_build(struct dfl_hist *hi, const struct dfl_sym *s, size_t nsym)
{
    hi->nsym = nsym;
    hi->ngrain = (nsym + DFL_GRAIN - 1) / DFL_GRAIN;
    hi->h = calloc((hi->ngrain + 1) * DFL_NH, sizeof *hi->h);
    if (!hi->h)
        return 0;
    for (size_t k = 0; k < hi->ngrain; k++) {
        uint32_t *cur = hi->h + k * DFL_NH, *nx = cur + DFL_NH;
        memcpy(nx, cur, DFL_NH * sizeof *cur);
        size_t end = (k + 1) * DFL_GRAIN < nsym ? (k + 1) * DFL_GRAIN : nsym;
        for (size_t i = k * DFL_GRAIN; i < end; i++) {
            if (s[i].dist == 0) {
                nx[s[i].len]++;
            } else {
                nx[257 + dfl_len_code(s[i].len)]++;
                nx[DFL_NLIT + dfl_dist_code(s[i].dist)]++;
            }
        }
    }
    return 1;
}

static size_t dfl_grain_sym(const struct dfl_hist *hi, size_t k)
{
    return k * DFL_GRAIN < hi->nsym ? k * DFL_GRAIN : hi->nsym;
}

/* Bits of one dynamic block over grains [ka, kb). */
static uint64_t dfl_grain_bits(const struct dfl_hist *hi, size_t ka, size_t kb,
                               struct dfl_block *blk)
{
    uint32_t c[DFL_NH];
    const uint32_t *x = hi->h + ka * DFL_NH, *y = hi->h + kb * DFL_NH;
    for (unsigned i = 0; i < DFL_NH; i++)
        c[i] = y[i] - x[i];
    c[256]++;
    dfl_plan(blk, c, c + DFL_NLIT);
    return blk->bits;
}

/* Split grains [a, b) where two blocks cost fewer bits than one: try
 * evenly spaced points, then narrow around the best, recursively. Block
 * starts (symbol indices) go into cuts, sorted by construction. */
static void dfl_split(const struct dfl_hist *hi, size_t a, size_t b, struct dfl_block *blk,
                      size_t *cuts, size_t *ncut, size_t maxcut)
{
    const size_t min_grains = DFL_MIN_BLOCK / DFL_GRAIN;
    if (b - a < 2 * min_grains || *ncut >= maxcut)
        return;
    uint64_t whole = dfl_grain_bits(hi, a, b, blk), best = whole;
    size_t lo = a + min_grains, hi_k = b - min_grains, at = 0;
    while (hi_k >= lo) {
        size_t step = (hi_k - lo) / DFL_SPLIT_TRY + 1, best_here = lo;
        uint64_t bb = UINT64_MAX;
        for (size_t p = lo; p <= hi_k; p += step) {
            uint64_t t = dfl_grain_bits(hi, a, p, blk) + dfl_grain_bits(hi, p, b, blk);
            if (t < bb) {
                bb = t;
                best_here = p;
            }
        }
        if (bb < best) {
            best = bb;
            at = best_here;
        }
        if (step == 1)
            break;
        lo = best_here > lo + step ? best_here - step : lo;
        hi_k = best_here + step < hi_k ? best_here + step : hi_k;
    }
    if (at == 0 || best + 64 > whole) /* a block header is worth a few bytes */
        return;
    dfl_split(hi, a, at, blk, cuts, ncut, maxcut);
    if (*ncut < maxcut)
        cuts[(*ncut)++] = dfl_grain_sym(hi, at);
    dfl_split(hi, at, b, blk, cuts, ncut, maxcut);
}

static void dfl_put_sym(struct dfl_out *o, const uint16_t *code, const uint8_t *len, unsigned s)
{
    dfl_put(o, code[s], len[s]);
}

static void dfl_emit_block(struct dfl_out *o, const struct dfl_sym *s, size_t a, size_t b,
                           int last, struct dfl_block *blk)
{
    uint16_t lc[DFL_NLIT], dc[DFL_NDIST], cc[DFL_NCL];
    dfl_range_bits(s, a, b, blk);
    dfl_codes(blk->ll, DFL_NLIT, lc);
    dfl_codes(blk->dl, DFL_NDIST, dc);
    dfl_codes(blk->cl, DFL_NCL, cc);
    dfl_put(o, last ? 1u : 0u, 1);
    dfl_put(o, 2, 2); /* dynamic Huffman codes */
    dfl_put(o, blk->hlit - 257, 5);
    dfl_put(o, blk->hdist - 1, 5);
    dfl_put(o, blk->hclen - 4, 4);
    for (unsigned i = 0; i < blk->hclen; i++)
        dfl_put(o, blk->cl[dfl_cl_order[i]], 3);
    for (unsigned i = 0; i < blk->nrle; i++) {
        unsigned r = blk->rle[i];
        dfl_put_sym(o, cc, blk->cl, r);
        if (r >= 16)
            dfl_put(o, blk->rle_extra[i], r == 16 ? 2 : r == 17 ? 3 : 7);
    }
    for (size_t i = a; i < b; i++) {
        if (s[i].dist == 0) {
            dfl_put_sym(o, lc, blk->ll, s[i].len);
            continue;
        }
        unsigned l = dfl_len_code(s[i].len), d = dfl_dist_code(s[i].dist);
        dfl_put_sym(o, lc, blk->ll, 257 + l);
        dfl_put(o, s[i].len - dfl_len_base[l], dfl_len_extra[l]);
        dfl_put_sym(o, dc, blk->dl, d);
        dfl_put(o, s[i].dist - dfl_dist_base[d], dfl_dist_extra[d]);
    }
    dfl_put_sym(o, lc, blk->ll, 256);
}

/* ---- entry point ---- */

/* Scratch of the parses: costs and steps of one byte range. */
struct dfl_work {
    float *cost;
    struct dfl_sym *step, *cur;
};

/* Parses of in[a..b) of increasing quality, each with the costs the
 * previous one's symbols imply (the first with those of lf/df), into best;
 * the one whose block plans smallest is kept. Returns its bits. */
static uint64_t dfl_best_parse(const uint8_t *in, size_t a, size_t b,
                               const struct dfl_matches *mf, int passes, uint32_t *lf,
                               uint32_t *df, struct dfl_work *w, struct dfl_sym *best,
                               size_t *nbest)
{
    struct dfl_costs c;
    struct dfl_block blk;
    uint64_t best_bits = UINT64_MAX;
    for (int pass = 0; pass < passes; pass++) {
        size_t ncur;
        dfl_costs_from(&c, lf, df);
        dfl_parse(in, a, b, mf, &c, w->cost, w->step, w->cur, &ncur);
        dfl_count(w->cur, 0, ncur, lf, df);
        dfl_plan(&blk, lf, df);
        if (blk.bits < best_bits) {
            best_bits = blk.bits;
            memcpy(best, w->cur, ncur * sizeof *w->cur);
            *nbest = ncur;
        }
    }
    return best_bits;
}

/* The whole input parsed with one set of statistics, cut into blocks, and
 * each block parsed again with its own statistics (kept where it plans
 * smaller). Symbols into syms, block starts into cuts[0..*ncut]. */
static void dfl_parse_blocks(const uint8_t *in, size_t n, const struct dfl_matches *mf,
                             int passes, struct dfl_work *w, struct dfl_sym *syms, size_t *nsym,
                             struct dfl_sym *tmp, size_t *cuts, size_t *ncut, size_t maxcut,
                             struct dfl_block *blk)
{
    uint32_t lf[DFL_NLIT], df[DFL_NDIST];
    for (unsigned i = 0; i < DFL_NLIT; i++)
        lf[i] = i < 144 ? 4 : i < 256 ? 2 : 8;
    for (unsigned i = 0; i < DFL_NDIST; i++)
        df[i] = 1;
    dfl_best_parse(in, 0, n, mf, passes, lf, df, w, syms, nsym);
    struct dfl_hist hist;
    *ncut = 0;
    cuts[(*ncut)++] = 0;
    if (dfl_hist_build(&hist, syms, *nsym)) /* without it: one block */
        dfl_split(&hist, 0, hist.ngrain, blk, cuts, ncut, maxcut);
    free(hist.h);
    cuts[*ncut] = *nsym;
    size_t ntmp = 0, pos = 0;
    for (size_t k = 0; k < *ncut; k++) {
        size_t s0 = cuts[k], s1 = cuts[k + 1], start = pos, got;
        for (size_t i = s0; i < s1; i++)
            pos += syms[i].dist ? syms[i].len : 1;
        dfl_count(syms, s0, s1, lf, df);
        dfl_plan(blk, lf, df);
        uint64_t before = blk->bits;
        cuts[k] = ntmp;
        if (*ncut > 1 && dfl_best_parse(in, start, pos, mf, passes, lf, df, w, tmp + ntmp, &got) <
                             before) {
            ntmp += got;
            continue;
        }
        memcpy(tmp + ntmp, syms + s0, (s1 - s0) * sizeof *syms);
        ntmp += s1 - s0;
    }
    memcpy(syms, tmp, ntmp * sizeof *syms);
    *nsym = ntmp;
    cuts[*ncut] = ntmp;
}

enum ota_err delta_deflate_opt(const uint8_t *in, size_t n, int window_bits, int passes,
                               uint8_t **out, size_t *out_len, char *msg)
{
    struct dfl_matches mf = {0};
    struct dfl_out o = {0};
    struct dfl_sym *syms = malloc((n + 1) * sizeof *syms), *tmp = malloc((n + 1) * sizeof *tmp);
    size_t nsym = 0, maxcut = n / DFL_MIN_BLOCK + 1, ncut = 0;
    size_t *cuts = malloc((maxcut + 1) * sizeof *cuts);
    struct dfl_block *blk = malloc(sizeof *blk);
    struct dfl_work w = {malloc((n + 1) * sizeof *w.cost), malloc((n + 1) * sizeof *w.step),
                         malloc((n + 1) * sizeof *w.cur)};
    int ok = n < INT32_MAX && syms && tmp && cuts && blk && w.cost && w.step && w.cur &&
             window_bits >= 8 && window_bits <= 15 && passes > 0 &&
             dfl_find_matches(in, n, 1u << window_bits, &mf);
    if (ok)
        dfl_parse_blocks(in, n, &mf, passes, &w, syms, &nsym, tmp, cuts, &ncut, maxcut, blk);
    free(mf.m);
    free(mf.first);
    free(tmp);
    free(w.cost);
    free(w.step);
    free(w.cur);
    if (ok) {
        unsigned cmf = (unsigned)(window_bits - 8) << 4 | 8, flg = 3u << 6;
        flg += 31 - (cmf * 256 + flg) % 31;
        dfl_put(&o, cmf, 8);
        dfl_put(&o, flg, 8);
        for (size_t k = 0; k < ncut; k++)
            dfl_emit_block(&o, syms, cuts[k], cuts[k + 1], k + 1 == ncut, blk);
        dfl_flush_byte(&o);
        uint32_t ad = (uint32_t)adler32(adler32(0, Z_NULL, 0), in, (uInt)n);
        for (int sh = 24; sh >= 0; sh -= 8)
            dfl_put(&o, (ad >> sh) & 0xFF, 8);
        ok = !o.oom;
    }
    free(syms);
    free(cuts);
    free(blk);
    if (!ok) {
        free(o.p);
        return ota_fail(msg, OTA_E_NOMEM, "delta: optimal deflate of %zu bytes", n);
    }
    *out = o.p;
    *out_len = o.len;
    return OTA_OK;
}
