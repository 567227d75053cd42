/* short.c - the short resource's parsing and package table (short.h).
 *
 * Pure: no libcoap, no I/O. The handler is in short_serve.c.
 */
#include "short.h"

#include <stdlib.h>
#include <string.h>

#define SRV_OPT_URI_PATH 11
#define SRV_OPT_BLOCK2 23

/* ---- 1. parsing ------------------------------------------------------------ */

static int srv_short_seg_is(const struct srv_short_opt *o, const char *s)
{
    size_t n = strlen(s);
    return o->num == SRV_OPT_URI_PATH && o->len == n && memcmp(o->val, s, n) == 0;
}

int srv_short_is_ours(const struct srv_short_opt *opts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (opts[i].num == SRV_OPT_URI_PATH)
            return srv_short_seg_is(&opts[i], SRV_SHORT_SEGMENT);
    return 0;
}

static enum ota_err srv_short_etag(const struct srv_short_opt *o, uint8_t etag[SRV_ETAG_LEN],
                                   char *msg)
{
    if (o->len != 2 * SRV_ETAG_LEN)
        return ota_fail(msg, OTA_E_NOTFOUND, "short path: ETag of %zu characters, not %d",
                        o->len, 2 * SRV_ETAG_LEN);
    char hex[2 * SRV_ETAG_LEN + 1];
    memcpy(hex, o->val, 2 * SRV_ETAG_LEN);
    hex[2 * SRV_ETAG_LEN] = '\0';
    if (ota_unhex(hex, etag, SRV_ETAG_LEN) != OTA_OK)
        return ota_fail(msg, OTA_E_NOTFOUND, "short path: ETag is not hex");
    return OTA_OK;
}

/* One Q-Block2 or Block2 value; all blocks of a request share one size. */
static enum ota_err srv_short_block(struct srv_short_req *r, const struct srv_short_opt *o,
                                    char *msg)
{
    struct srv_block b;
    if (r->n >= SRV_SHORT_BURST_MAX)
        return ota_fail(msg, OTA_E_INVAL, "short: more than %d blocks asked",
                        SRV_SHORT_BURST_MAX);
    if (r->more_after)
        return ota_fail(msg, OTA_E_INVAL, "short: a block after one with the M bit");
    if (srv_block_parse(o->val, o->len, &b, msg) != OTA_OK)
        return OTA_E_INVAL;
    if (r->n && b.szx != r->blk[0].szx)
        return ota_fail(msg, OTA_E_INVAL, "short: blocks of different sizes");
    /* RFC 7959: M is meaningless in a Block2 request; in Q-Block2 it asks
     * for the following blocks too (RFC 9177 section 4.4). */
    r->more_after = o->num == SRV_OPTION_Q_BLOCK2 && b.more;
    b.more = 0;
    r->blk[r->n++] = b;
    return OTA_OK;
}

enum ota_err srv_short_parse(const struct srv_short_opt *opts, size_t n,
                             struct srv_short_req *r, char *msg)
{
    unsigned segs = 0, plain = 0;
    memset(r, 0, sizeof *r);
    for (size_t i = 0; i < n; i++) {
        const struct srv_short_opt *o = &opts[i];
        enum ota_err e = OTA_OK;
        if (o->num == SRV_OPT_URI_PATH) {
            if (segs == 0 && !srv_short_seg_is(o, SRV_SHORT_SEGMENT))
                return ota_fail(msg, OTA_E_NOTFOUND, "short path: not /p/");
            if (segs == 1)
                e = srv_short_etag(o, r->etag, msg);
            else if (segs > 1)
                return ota_fail(msg, OTA_E_NOTFOUND, "short path: more than two segments");
            segs++;
        } else if (o->num == SRV_OPTION_Q_BLOCK2 || o->num == SRV_OPT_BLOCK2) {
            plain += o->num == SRV_OPT_BLOCK2;
            e = srv_short_block(r, o, msg);
        }
        if (e != OTA_OK)
            return e;
    }
    if (segs != 2)
        return ota_fail(msg, OTA_E_NOTFOUND, "short path: not /p/<ETag hex>");
    if (plain && r->n != plain)
        return ota_fail(msg, OTA_E_INVAL, "short: Block2 mixed with Q-Block2, or repeated");
    if (r->n == 0) /* no option: block 0 at the server's size */
        r->n = 1, r->blk[0].szx = SRV_SZX_MAX;
    return OTA_OK;
}

enum ota_err srv_short_slices(const struct srv_short_req *r, uint64_t total, unsigned max_szx,
                              struct srv_slice out[SRV_SHORT_BURST_MAX], unsigned *nout,
                              char *msg)
{
    unsigned k = 0;
    *nout = 0;
    for (unsigned i = 0; i < r->n && k < SRV_SHORT_BURST_MAX; i++) {
        struct srv_block b = r->blk[i];
        int extend = i + 1 == r->n && r->more_after;
        do {
            if (srv_block_slice(total, &b, max_szx, &out[k], NULL) != OTA_OK)
                break;
            k++;
            /* the following block, in the size asked for */
            if (!out[k - 1].blk.more || b.num >= SRV_BLOCK_NUM_MAX)
                break;
            b.num++;
        } while (extend && k < SRV_SHORT_BURST_MAX);
    }
    *nout = k;
    if (k == 0)
        return ota_fail(msg, OTA_E_LIMIT, "short: block %u is past the end (%llu bytes)",
                        (unsigned)r->blk[0].num, (unsigned long long)total);
    return OTA_OK;
}

/* ---- 2. packages ------------------------------------------------------------ */

enum ota_err srv_short_init(struct srv_short *sh, char *msg)
{
    memset(sh, 0, sizeof *sh);
    sh->cap = SRV_INDEX_FILES_MAX;
    sh->tab = calloc(sh->cap, sizeof *sh->tab);
    if (!sh->tab)
        return ota_fail(msg, OTA_E_NOMEM, "short: no memory for %zu package entries", sh->cap);
    return OTA_OK;
}

static void srv_short_drop(struct srv_short *sh, size_t i)
{
    if (sh->tab[i].retired_ms)
        sh->retired_bytes -= sh->tab[i].pkg->len;
    srv_pkg_unref(sh->tab[i].pkg);
    sh->tab[i] = sh->tab[--sh->n];
}

void srv_short_free(struct srv_short *sh)
{
    while (sh->tab && sh->n)
        srv_short_drop(sh, sh->n - 1);
    free(sh->tab);
    memset(sh, 0, sizeof *sh);
}

static int srv_short_in_index(const struct srv_index *idx, const struct srv_pkg *p)
{
    for (size_t i = 0; i < idx->n; i++)
        if (idx->pkgs[i] == p)
            return 1;
    return 0;
}

static int srv_short_held(const struct srv_short *sh, const struct srv_pkg *p)
{
    for (size_t i = 0; i < sh->n; i++)
        if (sh->tab[i].pkg == p)
            return 1;
    return 0;
}

/* The oldest retired entry, or -1. */
static long srv_short_oldest(const struct srv_short *sh)
{
    long best = -1;
    for (size_t i = 0; i < sh->n; i++)
        if (sh->tab[i].retired_ms &&
            (best < 0 || sh->tab[i].retired_ms < sh->tab[(size_t)best].retired_ms))
            best = (long)i;
    return best;
}

/* Mark what left the index; drop what is past its grace. */
static void srv_short_retire(struct srv_short *sh, const struct srv_index *idx, uint64_t now_ms,
                             unsigned grace_s)
{
    for (size_t i = 0; i < sh->n;) {
        struct srv_short_kept *k = &sh->tab[i];
        if (srv_short_in_index(idx, k->pkg)) {
            if (k->retired_ms)
                sh->retired_bytes -= k->pkg->len;
            k->retired_ms = 0;
        } else if (!k->retired_ms) {
            k->retired_ms = now_ms ? now_ms : 1;
            sh->retired_bytes += k->pkg->len;
        }
        if (k->retired_ms && now_ms - k->retired_ms >= (uint64_t)grace_s * 1000u) {
            srv_short_drop(sh, i);
            continue;
        }
        i++;
    }
}

void srv_short_sync(struct srv_short *sh, const struct srv_index *idx, uint64_t now_ms,
                    unsigned grace_s, uint64_t max_bytes)
{
    if (!sh->tab)
        return;
    srv_short_retire(sh, idx, now_ms, grace_s);
    long old;
    while (sh->retired_bytes > max_bytes && (old = srv_short_oldest(sh)) >= 0) {
        srv_short_drop(sh, (size_t)old);
        sh->dropped++;
    }
    for (size_t i = 0; i < idx->n; i++) {
        if (srv_short_held(sh, idx->pkgs[i]))
            continue;
        if (sh->n == sh->cap && (old = srv_short_oldest(sh)) >= 0)
            srv_short_drop(sh, (size_t)old);
        if (sh->n == sh->cap)
            break; /* the index alone fills the table: its packages are found there */
        srv_pkg_ref(idx->pkgs[i]);
        sh->tab[sh->n++] = (struct srv_short_kept){idx->pkgs[i], 0};
    }
    sh->gen = idx->gen;
}

const struct srv_pkg *srv_short_find(const struct srv_short *sh, const struct srv_index *idx,
                                     const uint8_t etag[SRV_ETAG_LEN])
{
    for (size_t i = 0; i < idx->n; i++)
        if (memcmp(idx->pkgs[i]->hash, etag, SRV_ETAG_LEN) == 0)
            return idx->pkgs[i];
    for (size_t i = 0; i < sh->n; i++)
        if (sh->tab[i].retired_ms && memcmp(sh->tab[i].pkg->hash, etag, SRV_ETAG_LEN) == 0)
            return sh->tab[i].pkg;
    return NULL;
}
