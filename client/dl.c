/* dl.c - the windowed Block2 download driver (see dl.h).
 *
 * One transfer = one first request alone (it tells the block size, Size2
 * and ETag, and on a resume checks the ETag against the journal), then a
 * window of requests. Every answer is checked, written at its offset and
 * marked in a bitmap relative to the first missing block ("base"). Every
 * DEV_CHECKPOINT_BYTES the data is fsynced and then the journal records
 * base and the bitmap, so after a power cut the journal never claims bytes
 * that are not on the flash. A changed ETag or Size2 restarts from zero;
 * answers to requests of the abandoned attempt are then ignored because
 * their ids are no longer in the window. Whether an answer still belongs
 * to our package (ETag, Size2) is decided before anything else is checked
 * against what we know of that package: an answer from a replacement is
 * not a protocol violation of the old one.
 *
 * Sections: helpers and response classification; the window (timers,
 * congestion); block checks and storage; the transfer loop; entry points.
 */
#include "dl.h"

#include "log.h"
#include "proto.h"

#include <math.h>
#include <string.h>

/* Vegas thresholds: blocks queued in the link below which the window
 * grows and above which it shrinks. */
#define DEV_QUEUE_LOW 2.0
#define DEV_QUEUE_HIGH 4.0
/* A package that changes under us more often than this is not converging;
 * as many 4.02 answers inside a package whose ETag did not change are a
 * server fault, not a replacement. */
#define DEV_DL_RESTARTS 3
#define DEV_DL_PROBES 3
/* Request ids of dev_fetch_one, disjoint from the window's (1, 2, ...). */
#define DEV_ID_SINGLE 0xC0000000u

struct dev_xfer {
    uint64_t size;       /* Size2; 0 = not announced (then one block at a time) */
    uint32_t nblocks;    /* blocks in the package; 0 = unknown yet */
    uint32_t base, next; /* first block not stored; next block never requested */
    uint64_t bitmap;     /* bit i: block base+i stored (bit 0 never set) */
    unsigned szx;
    int first;           /* no answer accepted yet in this attempt */
    int resume;          /* the first answer must match the journal */
    int probe;           /* after a 4.02: only block 0 is asked, for its ETag */
    int head_done;       /* head_check ran in this attempt */
    int restarts, probes;
    int busy_waits;      /* 5.03 waits at the first request (dev_busy_wait) */
    uint64_t stored, since_sync; /* bytes on the flash; since the last checkpoint */
    double t0;
};

/* --- helpers and response classification -------------------------------- */

static uint64_t dev_bs(const struct dev_xfer *x)
{
    return 16u << x->szx;
}

/* Printable copy of a non-JSON diagnostic payload. */
static void dev_copy_text(const uint8_t *p, size_t len, char *out, size_t n)
{
    size_t w = 0;
    for (size_t i = 0; i < len && w + 1 < n; i++)
        out[w++] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
    out[w] = '\0';
}

enum ota_err dev_dl_fail_response(const struct dev_block *b, struct dev_result *r, char *msg)
{
    r->coap_code = b->code;
    if (dev_diag_parse(b->data, b->len, &r->srv_code, r->srv_msg, sizeof r->srv_msg) != OTA_OK) {
        r->srv_code = -1;
        dev_copy_text(b->data, b->len, r->srv_msg, sizeof r->srv_msg);
    }
    r->status = dev_status_from_response(b->code, r->srv_code);
    ota_fail(msg, OTA_E_NET, "server answered %u.%02u, code %d: %s", b->code / 100,
             b->code % 100, r->srv_code, r->srv_msg[0] ? r->srv_msg : "(no message)");
    switch (r->status) {
    case DEV_S_NO_UPDATE:
        return OTA_E_NOTFOUND;
    case DEV_S_REJECTED:
        return b->code == 400 ? OTA_E_INVAL : b->code == 404 ? OTA_E_NOTFOUND : OTA_E_AUTH;
    default:
        return OTA_E_NET;
    }
}

static enum ota_err dev_proto_fail(struct dev_result *r, enum ota_err e)
{
    r->status = DEV_S_NET;
    return e;
}

enum ota_err dev_dl_check_first(const struct dev_block *b, struct dev_result *r, char *msg)
{
    if (b->code != 205)
        return dev_dl_fail_response(b, r, msg);
    r->coap_code = 205;
    if (b->truncated)
        return dev_proto_fail(r, ota_fail(msg, OTA_E_CORRUPT, "block payload larger than %d bytes",
                                          DEV_BLOCK_MAX));
    if (b->has_block2 && b->num != 0)
        return dev_proto_fail(r, ota_fail(msg, OTA_E_CORRUPT, "asked for block 0, got block %u",
                                          b->num));
    if (b->has_size2 && b->size2 > DEV_PKG_MAX)
        return dev_proto_fail(r, ota_fail(msg, OTA_E_LIMIT, "package of %llu bytes exceeds %u",
                                          (unsigned long long)b->size2, DEV_PKG_MAX));
    r->pkg_size = b->has_size2 ? b->size2 : 0;
    return OTA_OK;
}

/* xorshift32 for RFC 7252's ACK_RANDOM_FACTOR; quality is irrelevant. */
static double dev_jitter(uint32_t *s)
{
    if (*s == 0)
        *s = 2463534242u;
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return 1.0 + 0.5 * (double)(*s % 1000u) / 1000.0;
}

enum ota_err dev_fetch_one(const struct dev_fetcher *f, uint32_t num, unsigned szx,
                           double timeout_s, struct dev_block *out, char *msg)
{
    uint32_t rng = (uint32_t)(f->now(f->ctx) * 1e6), id = 0;
    double start = f->now(f->ctx), wait_s = DEV_ACK_TIMEOUT_MS / 1000.0 * dev_jitter(&rng);
    if (timeout_s <= 0)
        timeout_s = DEV_NET_TIMEOUT_S;
    for (int i = 0; i <= DEV_MAX_RETRANSMIT; i++, wait_s *= 2) {
        enum ota_err e = f->send(f->ctx, num, szx, DEV_ID_SINGLE, msg);
        if (e == OTA_E_NET)
            return e;
        double end = f->now(f->ctx) + wait_s;
        if (end > start + timeout_s)
            end = start + timeout_s;
        for (double now = f->now(f->ctx); now < end; now = f->now(f->ctx)) {
            e = f->recv(f->ctx, end - now, out, &id, msg);
            if (e == OTA_OK && id == DEV_ID_SINGLE)
                return OTA_OK;
            if (e != OTA_OK && e != OTA_E_NOTFOUND)
                return e;
        }
        if (f->now(f->ctx) - start >= timeout_s)
            break;
    }
    return ota_fail(msg, OTA_E_NET, "no answer to block %u after %.0f s", num,
                    f->now(f->ctx) - start);
}

/* Let wait_s pass on the link's clock; answers arriving meanwhile (late
 * copies of the one just answered) are dropped. */
static enum ota_err dev_idle(const struct dev_fetcher *f, double wait_s, struct dev_block *scratch,
                             char *msg)
{
    uint32_t id;
    double end = f->now(f->ctx) + wait_s;
    for (double now = f->now(f->ctx); now < end; now = f->now(f->ctx)) {
        enum ota_err e = f->recv(f->ctx, end - now, scratch, &id, msg);
        if (e != OTA_OK && e != OTA_E_NOTFOUND)
            return e;
    }
    return OTA_OK;
}

enum ota_err dev_fetch_first(const struct dev_fetcher *f, unsigned szx, double timeout_s,
                             double max_wait_s, struct dev_block *out, char *msg)
{
    for (int waits = 0;; waits++) {
        enum ota_err e = dev_fetch_one(f, 0, szx, timeout_s, out, msg);
        double wait = e == OTA_OK ? dev_busy_wait(out, max_wait_s, waits) : 0;
        if (wait <= 0)
            return e;
        if ((e = dev_idle(f, wait, out, msg)) != OTA_OK)
            return e;
    }
}

/* --- the window: timers and congestion --------------------------------- */

static int dev_strict(const struct dev_win *w)
{
    return w->max <= 1;
}

static void dev_win_reset(struct dev_win *w, int max)
{
    memset(w->slot, 0, sizeof w->slot);
    w->inflight = 0;
    if (w->backoff < 1)
        w->backoff = 1;
    w->max = max < 1 ? 1 : max > DEV_WINDOW_MAX ? DEV_WINDOW_MAX : max;
    w->cwnd = w->max < DEV_WINDOW_INIT ? w->max : DEV_WINDOW_INIT;
    if (w->cwnd > w->cwnd_peak)
        w->cwnd_peak = w->cwnd;
    w->ssthresh = w->max;
    w->recover_seq = w->seq;
}

/* RFC 6298 section 2, with the variance term at least half the smoothed
 * round trip: over a steady link RTTVAR shrinks to a few ms, and then one
 * more block in the window (one more serialization time queued, 87 ms on
 * nb2) fires a timer that was not needed. */
static double dev_rto(const struct dev_win *w)
{
    if (w->srtt <= 0)
        return DEV_ACK_TIMEOUT_MS / 1000.0;
    double rto = w->srtt + fmax(w->srtt / 2, 4 * w->rttvar);
    return rto < DEV_RTO_MIN_S ? DEV_RTO_MIN_S : rto > DEV_RTO_MAX_S ? DEV_RTO_MAX_S : rto;
}

static void dev_rtt_sample(struct dev_win *w, double r)
{
    w->backoff = 1; /* RFC 6298 5.7: a valid sample ends the backoff */
    if (w->srtt <= 0) {
        w->srtt = w->rtt_fast = w->rtt_min = r;
        w->rttvar = r / 2;
    } else {
        w->rttvar = 0.75 * w->rttvar + 0.25 * fabs(w->srtt - r);
        w->srtt = 0.875 * w->srtt + 0.125 * r;
        w->rtt_fast = 0.75 * w->rtt_fast + 0.25 * r;
        if (r < w->rtt_min)
            w->rtt_min = r;
    }
}

/* Blocks waiting in the link's queue, estimated from how much the round
 * trip exceeds the smallest one seen (TCP Vegas): cwnd x (1 - min/rtt). */
static double dev_queued(const struct dev_win *w)
{
    if (w->rtt_fast <= 0)
        return 0;
    return w->cwnd * (1.0 - w->rtt_min / w->rtt_fast);
}

/* Grow while the queue is short: one block per answer (slow start), then
 * one per round trip; above DEV_QUEUE_HIGH blocks queued, shrink by one
 * per round trip. A full link needs only a block or two queued; more just
 * adds delay, and a drop-tail queue that overflows loses a whole burst. */
static void dev_win_grow(struct dev_win *w)
{
    if (dev_strict(w))
        return;
    double q = dev_queued(w);
    if (w->cwnd < w->ssthresh) {
        if (q < DEV_QUEUE_LOW)
            w->cwnd += 1.0;
        else
            w->ssthresh = w->cwnd;
    } else if (q < DEV_QUEUE_LOW) {
        w->cwnd += 1.0 / w->cwnd;
    } else if (q > DEV_QUEUE_HIGH && w->cwnd > 2) {
        w->cwnd -= 1.0 / w->cwnd;
    }
    if (w->cwnd > w->max)
        w->cwnd = w->max;
    if (w->cwnd > w->cwnd_peak)
        w->cwnd_peak = w->cwnd;
}

/* How a loss was found (dev_win_loss). */
enum dev_loss {
    DEV_LOSS_LATER,   /* by later answers: the radio's unless the queue is long */
    DEV_LOSS_TIMEOUT, /* by the timer */
    DEV_LOSS_TAIL     /* the end of a request, found by a later request's answer */
};

/* A loss: shrink once per round trip (only for a transmission sent after
 * the last cut, as TCP's recovery does). A loss found by later answers
 * while the queue is short is the radio's, not congestion: resend without
 * shrinking, or a 1 % loss rate would keep the window below the link.
 * The end of a request lost while a later request is answered is what a
 * full drop-tail queue does to a burst (on `poor` the queue holds under
 * 4 answers, so the queue estimate never reads long): shrink by 0.7. */
static void dev_win_loss(struct dev_win *w, const struct dev_slot *s, enum dev_loss how)
{
    int timeout = how == DEV_LOSS_TIMEOUT;
    if (dev_strict(w) || s->seq <= w->recover_seq)
        return;
    if (how == DEV_LOSS_LATER && dev_queued(w) <= DEV_QUEUE_HIGH)
        return;
    w->cwnd *= timeout ? 0.5 : 0.7;
    if (w->cwnd < 1)
        w->cwnd = 1;
    w->ssthresh = w->cwnd < 2 ? 2 : w->cwnd;
    w->recover_seq = w->seq;
    w->cuts++;
}

static enum ota_err dev_slot_send(struct dev_dl *d, struct dev_slot *s, unsigned szx, double now,
                                  char *msg)
{
    struct dev_win *w = &d->w;
    static uint32_t rng;
    char m[OTA_MSG_LEN];
    if (s->tx == 0) {
        s->first = now;
        s->rto0 = dev_strict(w) ? DEV_ACK_TIMEOUT_MS / 1000.0 * dev_jitter(&rng)
                                : fmin(dev_rto(w) * w->backoff, DEV_RTO_MAX_S);
    } else {
        w->retx++;
    }
    s->tx++;
    s->seq = ++w->seq;
    s->sent = now;
    s->later = 0;
    double t = s->rto0 * (double)(1u << (s->tx - 1 < 10 ? s->tx - 1 : 10));
    s->due = now + (dev_strict(w) || t < DEV_RTO_MAX_S ? t : DEV_RTO_MAX_S);
    w->sent++;
    s->pos = w->burst_pos++;
    s->rpos = w->req_fill++ % (w->link_batch > 1 ? w->link_batch : 1);
    if (s->rpos == 0)
        w->burst++; /* where the link starts another request */
    s->burst = w->burst;
    s->heard = 0;
    /* later in a burst, later answered: its place x the time between
     * answers (before a measure, an eighth of the round trip) */
    s->due += s->pos * (w->gap > 0 ? w->gap : w->srtt / 8);
    enum ota_err e = d->f->send(d->f->ctx, s->num, szx, s->id, m);
    if (e == OTA_E_NET)
        return ota_fail(msg, e, "%s", m);
    if (e != OTA_OK) /* like a lost datagram: the timer will resend it */
        log_msg(LOG_L_DEBUG, "download: block %u: %s", s->num, m);
    return OTA_OK;
}

static struct dev_slot *dev_slot_new(struct dev_win *w, uint32_t num)
{
    for (int i = 0; i < w->max; i++) {
        struct dev_slot *s = &w->slot[i];
        if (s->used)
            continue;
        memset(s, 0, sizeof *s);
        s->used = 1;
        s->num = num;
        s->id = ++w->next_id & 0x3FFFFFFFu;
        if (s->id == 0)
            s->id = w->next_id = 1;
        w->inflight++;
        return s;
    }
    return NULL;
}

static void dev_slot_free(struct dev_win *w, struct dev_slot *s)
{
    s->used = 0;
    w->inflight--;
}

static struct dev_slot *dev_slot_find(struct dev_win *w, uint32_t id)
{
    for (int i = 0; i < w->max; i++)
        if (w->slot[i].used && w->slot[i].id == id)
            return &w->slot[i];
    return NULL;
}

/* Is block num requested already? (after a block size change, the
 * renumbered requests in flight are not all behind x->next) */
static int dev_slot_busy(const struct dev_win *w, uint32_t num)
{
    for (int i = 0; i < w->max; i++)
        if (w->slot[i].used && w->slot[i].num == num)
            return 1;
    return 0;
}

/* --- block checks and storage ----------------------------------------- */

static int dev_is_stored(const struct dev_xfer *x, uint32_t num)
{
    if (num < x->base)
        return 1;
    return num - x->base < 64 && ((x->bitmap >> (num - x->base)) & 1u);
}

static void dev_mark(struct dev_xfer *x, uint32_t num)
{
    x->bitmap |= (uint64_t)1 << (num - x->base);
    while (x->bitmap & 1u) {
        x->bitmap >>= 1;
        x->base++;
    }
}

/* Requests stay inside the span the journal's bitmap can describe. */
static uint32_t dev_limit(const struct dev_xfer *x)
{
    uint32_t lim = x->base + DEV_JOURNAL_SPAN;
    return x->nblocks && x->nblocks < lim ? x->nblocks : lim;
}

static void dev_count_blocks(struct dev_xfer *x)
{
    x->nblocks = x->size ? (uint32_t)((x->size + dev_bs(x) - 1) / dev_bs(x)) : 0;
}

static uint64_t dev_block_len(const struct dev_xfer *x, uint32_t num)
{
    uint64_t off = (uint64_t)num * dev_bs(x), bs = dev_bs(x);
    if (!x->size)
        return bs;
    return off >= x->size ? 0 : x->size - off < bs ? x->size - off : bs;
}

/* Bytes that the prefix and the bitmap hold: what the progress counts. */
static uint64_t dev_stored_bytes(const struct dev_xfer *x)
{
    uint64_t n = (uint64_t)x->base * dev_bs(x);
    if (x->size && n > x->size)
        n = x->size;
    for (uint32_t i = 1; i < DEV_JOURNAL_SPAN; i++)
        if ((x->bitmap >> i) & 1u)
            n += dev_block_len(x, x->base + i);
    return n;
}

/* Renumber everything in the smaller blocks of 16 << szx: the prefix
 * exactly; each bitmap block as the small blocks it holds, as far as the
 * span reaches (the rest is fetched again and no longer counted as
 * stored); each request in flight as the first small block at its offset,
 * which is what the server answers it with. */
static void dev_resize(struct dev_dl *d, struct dev_xfer *x, unsigned szx)
{
    unsigned shift = x->szx - szx;
    uint32_t k = 1u << shift;
    uint64_t bits = 0, group = k >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << k) - 1;
    for (uint32_t i = 1; i * k < DEV_JOURNAL_SPAN; i++)
        if ((x->bitmap >> i) & 1u)
            bits |= group << (i * k);
    x->szx = szx;
    x->base <<= shift;
    x->bitmap = bits;
    for (int i = 0; i < d->w.max; i++)
        if (d->w.slot[i].used)
            d->w.slot[i].num <<= shift;
    dev_count_blocks(x);
    if (x->size) { /* the last old block may hold fewer small blocks than k */
        uint32_t left = x->nblocks > x->base ? x->nblocks - x->base : 0;
        if (left < DEV_JOURNAL_SPAN)
            x->bitmap &= ((uint64_t)1 << left) - 1;
    }
    x->next = x->base;
    x->stored = dev_stored_bytes(x);
}

/* A smaller SZX than ours is adopted in any answer (RFC 7959 2.4; a server
 * whose block_size a SIGHUP lowered answers so in mid-download). A larger
 * one than we ever asked for, or in the first answer, is an error; else it
 * is the late answer to a request sent before we adopted the smaller size,
 * and *stale says to ignore it (the request is resent in the new size). */
static enum ota_err dev_check_szx(struct dev_dl *d, struct dev_xfer *x, const struct dev_block *b,
                                  int *stale, char *msg)
{
    *stale = 0;
    if (!b->has_block2 || b->szx == x->szx)
        return OTA_OK;
    if (b->szx < x->szx) {
        log_msg(LOG_L_INFO, "download: server answers in %d-byte blocks, not %d, from byte %llu",
                16 << b->szx, 16 << x->szx, (unsigned long long)x->base * dev_bs(x));
        dev_resize(d, x, b->szx);
        return OTA_OK;
    }
    if (x->first || b->szx > d->szx)
        return ota_fail(msg, OTA_E_CORRUPT, "server raised block size from %d to %d",
                        16 << x->szx, 16 << b->szx);
    *stale = 1;
    return OTA_OK;
}

/* Block2 numbering, size and More against what we asked and Size2. */
static enum ota_err dev_check_block(const struct dev_block *b, struct dev_xfer *x,
                                   const struct dev_slot *s, char *msg)
{
    uint64_t bs = dev_bs(x), off = (uint64_t)s->num * bs;
    if (b->truncated)
        return ota_fail(msg, OTA_E_CORRUPT, "block payload larger than %d bytes", DEV_BLOCK_MAX);
    if (!b->has_block2)
        return x->first && s->num == 0 && b->len <= DEV_BLOCK_MAX
                   ? OTA_OK
                   : ota_fail(msg, OTA_E_CORRUPT, "answer at offset %llu has no Block2 option",
                              (unsigned long long)off);
    if (b->szx != x->szx)
        return ota_fail(msg, OTA_E_CORRUPT, "server changed block size from %d to %d",
                        16 << x->szx, 16 << b->szx);
    if (b->num != s->num)
        return ota_fail(msg, OTA_E_CORRUPT, "expected the block at offset %llu, got block %u of %d",
                        (unsigned long long)off, b->num, 16 << b->szx);
    if ((b->more && b->len != bs) || b->len > bs)
        return ota_fail(msg, OTA_E_CORRUPT, "block %u: %zu bytes for block size %llu%s", b->num,
                        b->len, (unsigned long long)bs, b->more ? " with More set" : "");
    if (x->size && (b->more ? off + bs >= x->size : off + b->len != x->size))
        return ota_fail(msg, OTA_E_CORRUPT, "block %u (%zu bytes%s) does not fit Size2 %llu",
                        b->num, b->len, b->more ? ", More set" : ", last",
                        (unsigned long long)x->size);
    if (off + b->len > DEV_PKG_MAX)
        return ota_fail(msg, OTA_E_LIMIT, "package exceeds %u bytes", DEV_PKG_MAX);
    return OTA_OK;
}

/* ETag and Size2: is this still the package of the journal? 1 = changed.
 * The first answer of a fresh attempt has nothing to compare with. */
static int dev_package_changed(const struct dev_block *b, const struct dev_xfer *x,
                               const struct dev_journal *j)
{
    if (x->first && !x->resume)
        return 0;
    return b->etag_len != j->etag_len || memcmp(b->etag, j->etag, b->etag_len) != 0 ||
           (b->has_size2 && x->size && b->size2 != x->size);
}

static enum ota_err dev_checkpoint(struct dev_dl *d, struct dev_xfer *x, struct dev_journal *j,
                                   char *msg)
{
    dev_flash_step(d->flash);
    enum ota_err e = dev_part_sync(d->flash, msg);
    if (e != OTA_OK)
        return e;
    uint64_t off = (uint64_t)x->base * dev_bs(x);
    j->phase = DEV_J_DOWNLOADING;
    j->offset = x->size && off > x->size ? x->size : off;
    j->bitmap = x->bitmap;
    j->size = x->size;
    j->block_size = (uint16_t)dev_bs(x);
    x->since_sync = 0;
    dev_flash_step(d->flash);
    return dev_journal_save(dev_flash_path(d->flash, DEV_F_JOURNAL), j, msg);
}

static void dev_dl_progress(struct dev_dl *d, const struct dev_xfer *x, int finished)
{
    double now = d->f->now(d->f->ctx);
    struct dev_progress p = {DEV_P_DOWNLOAD, x->stored, x->size, now - x->t0, finished};
    if (d->progress)
        d->progress(d->progress_ctx, &p);
}

/* Once the head of the package is stored (all of it when shorter), let
 * head_check refuse the package before the rest is fetched. */
static enum ota_err dev_head(struct dev_dl *d, struct dev_xfer *x, struct dev_result *r,
                             char *msg)
{
    uint8_t head[DEV_HEAD_MAX];
    uint64_t have = (uint64_t)x->base * dev_bs(x);
    size_t want = d->head_len < DEV_HEAD_MAX ? d->head_len : DEV_HEAD_MAX;
    if (x->size || (x->nblocks && x->base >= x->nblocks)) { /* the total is known */
        have = have < x->size ? have : x->size;
        want = want < x->size ? want : (size_t)x->size;
    }
    if (!d->head_check || x->head_done || have < want)
        return OTA_OK;
    x->head_done = 1;
    enum ota_err e = dev_part_read(d->flash, 0, head, want, msg);
    if (e == OTA_OK && (e = d->head_check(d->head_ctx, head, want, x->size, msg)) != OTA_OK)
        r->status = DEV_S_VERIFY;
    return e;
}

static enum ota_err dev_store(struct dev_dl *d, struct dev_xfer *x, struct dev_journal *j,
                              struct dev_result *r, uint32_t num, char *msg)
{
    const struct dev_block *b = &d->blk;
    enum ota_err e = dev_part_write(d->flash, (uint64_t)num * dev_bs(x), b->data, b->len, msg);
    if (e != OTA_OK)
        return e;
    int was_first = x->first;
    dev_mark(x, num);
    x->first = 0;
    x->stored += b->len;
    x->since_sync += b->len;
    r->bytes += b->len;
    dev_dl_progress(d, x, 0);
    if ((e = dev_head(d, x, r, msg)) != OTA_OK)
        return e;
    if (was_first || x->since_sync >= DEV_CHECKPOINT_BYTES)
        return dev_checkpoint(d, x, j, msg);
    return OTA_OK;
}

/* --- the transfer loop ------------------------------------------------- */

/* An attempt from block 0 of whatever the server offers now. */
static void dev_xfer_fresh(struct dev_dl *d, struct dev_xfer *x)
{
    x->base = x->next = 0;
    x->bitmap = 0;
    x->size = 0;
    x->nblocks = 0;
    x->szx = d->szx;
    x->first = 1;
    x->resume = x->probe = x->head_done = 0;
    x->probes = 0;
    x->stored = x->since_sync = 0;
}

static enum ota_err dev_restart(struct dev_dl *d, struct dev_xfer *x, const char *why, char *msg)
{
    if (++x->restarts > DEV_DL_RESTARTS)
        return ota_fail(msg, OTA_E_NET, "package keeps changing on the server (%s)", why);
    log_msg(LOG_L_INFO, "download: %s, restarting from 0", why);
    dev_win_reset(&d->w, d->w.max); /* answers to the old requests are now ignored */
    dev_xfer_fresh(d, x);
    uint64_t keep = 0;
    return dev_part_open(d->flash, &keep, msg);
}

/* A 4.02 (Block2 past the end) for a block after block 0 of the package we
 * know: most likely the package was replaced by a shorter one. Abandon
 * the requests in flight and ask block 0 alone: another ETag restarts the
 * download, the same one means the server erred (then go on; after
 * DEV_DL_PROBES such answers, a network error that keeps the download). */
static enum ota_err dev_probe(struct dev_dl *d, struct dev_xfer *x, struct dev_result *r,
                              uint32_t num, char *msg)
{
    char m[OTA_MSG_LEN];
    if (++x->probes > DEV_DL_PROBES) {
        dev_dl_fail_response(&d->blk, r, m);
        r->status = DEV_S_NET;
        return ota_fail(msg, OTA_E_NET, "%s (block %u; block 0 still has the same ETag)", m, num);
    }
    log_msg(LOG_L_INFO, "download: 4.02 for block %u: asking block 0 whether the package changed",
            num);
    dev_win_reset(&d->w, d->w.max);
    x->probe = 1;
    return OTA_OK;
}

/* Learn Size2 from the first answer (or the end from a last block). */
static void dev_learn_size(struct dev_xfer *x, const struct dev_block *b, uint32_t num)
{
    if (x->first && b->has_size2 && b->size2 > 0) {
        x->size = b->size2;
        dev_count_blocks(x);
    }
    if (!b->has_block2 || !b->more) {
        x->size = (uint64_t)num * dev_bs(x) + b->len;
        x->nblocks = num + 1;
    }
}

/* Tell requests sent before the answered one that they were overtaken;
 * three times overtaken = lost: resend now instead of waiting for a timer.
 * With several blocks per request (the short exchange), the answer to a
 * first transmission (sure to answer the request it names) overtaking
 * one from an earlier request is enough: the link keeps datagrams in
 * order (nbsim's profiles; NB-IoT's RLC in acknowledged mode), so that
 * request or answer was lost; on a link that reorders, this costs a
 * needless resend, never a wrong block. (`poor`: 5 % of requests lost, a
 * window of 6 to 10 blocks in 2 to 4 requests: three later answers came
 * too late, after the timer.) */
static enum ota_err dev_overtaken(struct dev_dl *d, struct dev_xfer *x, uint32_t seq,
                                  uint32_t burst, double now, char *msg)
{
    struct dev_win *w = &d->w;
    int sure = burst != 0 && w->link_batch > 1;
    for (int i = 0; i < w->max && !dev_strict(w); i++) {
        struct dev_slot *s = &w->slot[i];
        if (!s->used || s->seq >= seq || s->probe)
            continue;
        int early = ++s->later < DEV_DUP_THRESH;
        if (early && !(sure && s->burst < burst))
            continue;
        w->fast++;
        dev_win_loss(w, s, early ? DEV_LOSS_TAIL : DEV_LOSS_LATER);
        enum ota_err e = dev_slot_send(d, s, x->szx, now, msg);
        if (e != OTA_OK)
            return e;
    }
    return OTA_OK;
}

/* An answer to the first transmission of s (the short exchange, several
 * blocks per request): its request arrived, so its other blocks were not
 * lost with it; and the server answers a burst in the order asked, so a
 * block asked before s in that request and still unanswered lost its
 * answer: resend it now, not at its timer (on a link that reorders, this
 * costs a needless resend, never a wrong block). A later transmission's
 * answer may belong to an earlier request: it tells nothing. */
static enum ota_err dev_burst_heard(struct dev_dl *d, struct dev_xfer *x, const struct dev_slot *s,
                                    double now, char *msg)
{
    struct dev_win *w = &d->w;
    if (s->tx != 1 || w->link_batch <= 1)
        return OTA_OK;
    if (s->seq > w->heard_seq)
        w->heard_seq = s->seq;
    for (int i = 0; i < w->max; i++) {
        struct dev_slot *t = &w->slot[i];
        if (!t->used || t == s || t->burst != s->burst || t->probe)
            continue;
        t->heard = 1;
        if (t->rpos > s->rpos)
            continue;
        w->gaps++;
        dev_win_loss(w, t, DEV_LOSS_LATER);
        enum ota_err e = dev_slot_send(d, t, x->szx, now, msg);
        if (e != OTA_OK)
            return e;
    }
    return OTA_OK;
}

/* Block s timed out. With several blocks per request (the short
 * exchange), a request none of whose blocks was answered is one loss
 * event, not one timeout per block, and its blocks go out again together,
 * in one request. When requests sent after s's were answered, the link is
 * delivering and the radio lost s's request or answer (5 % each way on
 * `poor`): resend without the timeout's halving and backoff (dev_win_loss
 * still cuts when the queue is long), as for a loss found by later
 * answers. Per-block requests keep RFC 6298's timeout. */
static enum ota_err dev_timeout(struct dev_dl *d, struct dev_xfer *x, struct dev_slot *s,
                                double now, char *msg)
{
    struct dev_win *w = &d->w;
    int bursts = w->link_batch > 1 && !dev_strict(w) && !s->probe;
    int whole = bursts && !s->heard, delivering = whole && w->heard_seq > s->seq;
    uint32_t burst = s->burst;
    w->timeouts++;
    w->bursts_lost += (unsigned long)whole;
    dev_win_loss(w, s, delivering ? DEV_LOSS_LATER : DEV_LOSS_TIMEOUT);
    /* Keep the backed-off timer for new requests too until a sample
     * comes (RFC 6298 5.5, 5.7); else, on a link slower than the first
     * guess, every first copy times out and Karn's rule never lets a
     * sample through. */
    if (!delivering)
        w->backoff = fmax(w->backoff, (double)(1u << (s->tx < 5 ? s->tx : 5)));
    log_msg(LOG_L_DEBUG, "download: block %u: no answer after %.2f s, resending%s", s->num,
            now - s->sent, whole ? " with its request's other blocks" : "");
    for (int i = 0; i < w->max; i++) {
        struct dev_slot *t = &w->slot[i];
        if (t != s && (!whole || !t->used || t->burst != burst || t->probe))
            continue;
        enum ota_err e = dev_slot_send(d, t, x->szx, now, msg);
        if (e != OTA_OK)
            return e;
    }
    return OTA_OK;
}

/* Mid-download, 5.03 (overloaded) and 4.29 (too many requests) ask the
 * device to slow down, not to give up: halve the window and ask for this
 * block again after Max-Age (1 s if absent), as long as the block's
 * give-up time allows. Returns 1 when the answer was handled so. */
static int dev_busy_backoff(struct dev_dl *d, struct dev_slot *s, const struct dev_block *b,
                            double now)
{
    double wait = b->max_age ? (double)b->max_age : 1.0;
    if ((b->code != 503 && b->code != 429) || now + wait - s->first >= d->timeout_s)
        return 0;
    d->w.busy++;
    dev_win_loss(&d->w, s, DEV_LOSS_TIMEOUT);
    s->due = now + wait;
    log_msg(LOG_L_DEBUG, "download: block %u: server busy (%u.%02u), again in %.0f s", s->num,
            b->code / 100, b->code % 100, wait);
    return 1;
}

double dev_busy_wait(const struct dev_block *b, double max_wait_s, int waits)
{
    double cap = max_wait_s > 0 ? max_wait_s : DEV_BUSY_WAIT_MAX_S;
    double wait = b->max_age ? (double)b->max_age : 1.0;
    if (b->code != 503 || waits >= DEV_BUSY_RETRIES)
        return 0;
    wait = wait < cap ? wait : cap;
    log_msg(LOG_L_INFO, "server busy at the first request (5.03%s), asking again in %.1f s "
            "(%d/%d)", b->max_age == 30 ? ", the package may be being made" : "",
            wait, waits + 1, DEV_BUSY_RETRIES);
    return wait;
}

/* A 5.03 to the first request: ask again after the wait, as a new request
 * (its give-up time starts when it is sent). */
static int dev_first_busy(struct dev_dl *d, struct dev_xfer *x, struct dev_slot *s,
                          const struct dev_block *b, double now)
{
    double wait = dev_busy_wait(b, d->max_wait_s, x->busy_waits);
    if (wait <= 0)
        return 0;
    x->busy_waits++;
    d->w.busy++;
    s->tx = 0;
    s->due = s->first = now + wait;
    return 1;
}

/* A non-2.05 answer: 5.03 and 4.29 slow us down (a 5.03 before the first
 * block is waited out), a 4.02 past block 0 may be a shorter replacement
 * package; anything else ends it. */
static enum ota_err dev_on_error(struct dev_dl *d, struct dev_xfer *x, struct dev_result *r,
                                 struct dev_slot *s, double now, char *msg)
{
    const struct dev_block *b = &d->blk;
    if (x->first ? dev_first_busy(d, x, s, b, now) : dev_busy_backoff(d, s, b, now))
        return OTA_OK;
    if (b->code == 402 && s->num > 0 && !s->probe)
        return dev_probe(d, x, r, s->num, msg);
    return dev_dl_fail_response(b, r, msg);
}

static const char *dev_change_reason(const struct dev_xfer *x, const struct dev_slot *s)
{
    if (s->probe)
        return "4.02 past the end: the package got shorter, ETag changed during the download";
    return x->first ? "ETag differs from the interrupted download"
                    : "ETag or Size2 changed during the download";
}

static enum ota_err dev_on_answer(struct dev_dl *d, struct dev_xfer *x, struct dev_journal *j,
                                  struct dev_result *r, uint32_t id, double now, char *msg)
{
    struct dev_win *w = &d->w;
    const struct dev_block *b = &d->blk;
    struct dev_slot *s = dev_slot_find(w, id);
    enum ota_err e;
    int stale;
    if (!s) { /* a late copy, or an answer to an abandoned attempt */
        w->dups++;
        return OTA_OK;
    }
    if (b->code != 205)
        return dev_on_error(d, x, r, s, now, msg);
    /* Which package first: nothing else of ours applies to another one. */
    if (dev_package_changed(b, x, j))
        return dev_restart(d, x, dev_change_reason(x, s), msg);
    if (s->probe) { /* the same package: the 4.02 was not a replacement */
        dev_slot_free(w, s);
        x->probe = 0;
        x->next = x->base;
        return OTA_OK;
    }
    if ((e = dev_check_szx(d, x, b, &stale, msg)) != OTA_OK)
        return dev_proto_fail(r, e);
    if (stale) {
        w->dups++;
        return OTA_OK;
    }
    if ((e = dev_check_block(b, x, s, msg)) != OTA_OK)
        return dev_proto_fail(r, e);
    if (x->first) {
        j->etag_len = b->etag_len;
        memcpy(j->etag, b->etag, b->etag_len);
    }
    if (s->tx == 1 && s->pos == 0)
        dev_rtt_sample(w, now - s->sent); /* Karn: only unambiguous samples */
    else if (s->tx == 1 && w->last_rx > s->sent && w->srtt > 0) /* queued behind its burst */
        w->gap = 0.875 * w->gap + 0.125 * fmin(now - w->last_rx, w->srtt);
    w->last_rx = now;
    log_msg(LOG_L_DEBUG, "download: block %u after %.3f s (tx %d), window %.1f, queued %.1f",
            s->num, now - s->sent, s->tx, w->cwnd, dev_queued(w));
    if ((e = dev_burst_heard(d, x, s, now, msg)) != OTA_OK)
        return e;
    uint32_t num = s->num, seq = s->seq, burst = s->tx == 1 ? s->burst : 0;
    dev_slot_free(w, s);
    /* (a request renumbered by a smaller block size may lie past the span) */
    if (dev_is_stored(x, num) || num - x->base >= DEV_JOURNAL_SPAN) {
        w->dups++;
        return OTA_OK;
    }
    dev_learn_size(x, b, num);
    if (x->first && x->size > DEV_PKG_MAX)
        return ota_fail(msg, OTA_E_LIMIT, "package of %llu bytes exceeds %u",
                        (unsigned long long)x->size, DEV_PKG_MAX);
    if (x->first && x->size)
        r->pkg_size = x->size;
    if ((e = dev_store(d, x, j, r, num, msg)) != OTA_OK)
        return e;
    dev_win_grow(w);
    return dev_overtaken(d, x, seq, burst, now, msg);
}

/* Retransmit what is due; give up on a block after timeout_s (or, strict,
 * after MAX_RETRANSMIT retransmissions). */
static enum ota_err dev_timers(struct dev_dl *d, struct dev_xfer *x, double now, char *msg)
{
    struct dev_win *w = &d->w;
    for (int i = 0; i < w->max; i++) {
        struct dev_slot *s = &w->slot[i];
        if (s->used && now - s->first >= d->timeout_s)
            return ota_fail(msg, OTA_E_NET, "no answer to block %u after %.0f s (%d requests)",
                            s->num, now - s->first, s->tx);
        if (!s->used || s->due > now)
            continue;
        if (dev_strict(w) && s->tx > DEV_MAX_RETRANSMIT)
            return ota_fail(msg, OTA_E_NET, "no answer to block %u after %.0f s (%d requests)",
                            s->num, now - s->first, s->tx);
        enum ota_err e = dev_timeout(d, x, s, now, msg);
        if (e != OTA_OK)
            return e;
    }
    return OTA_OK;
}

/* Open the window as far as it allows; one request while the first answer
 * (block size, Size2) or the total is still unknown. */
static enum ota_err dev_fill(struct dev_dl *d, struct dev_xfer *x, double now, char *msg)
{
    struct dev_win *w = &d->w;
    int room = x->first || !x->nblocks ? 1 : (int)w->cwnd;
    uint32_t lim = dev_limit(x);
    int batch = d->f->batch ? d->f->batch(d->f->ctx) : 1;
    w->link_batch = batch;
    batch = batch < (int)(w->cwnd / 2) ? batch : (int)(w->cwnd / 2);
    /* Half a burst at a time at least, unless the window is empty or the
     * end is near: requests of 4 to 8 blocks, while the window never
     * drains further below cwnd than that (a full burst at a time left the
     * link idle, nb2 85 % instead of 90 %). */
    if (batch > 1 && w->inflight > 0 && room - w->inflight < (batch + 1) / 2 &&
        x->next + (uint32_t)batch < lim)
        return OTA_OK;
    if (x->probe) {
        struct dev_slot *s = w->inflight ? NULL : dev_slot_new(w, 0);
        if (s)
            s->probe = 1;
        return s ? dev_slot_send(d, s, x->szx, now, msg) : OTA_OK;
    }
    while (w->inflight < room) {
        while (x->next < lim && (dev_is_stored(x, x->next) || dev_slot_busy(w, x->next)))
            x->next++;
        if (x->next >= lim || (x->first && w->inflight > 0))
            return OTA_OK;
        if (x->next > DEV_BLOCK_NUM_MAX)
            return ota_fail(msg, OTA_E_LIMIT, "block number %u exceeds the Block2 range", x->next);
        struct dev_slot *s = dev_slot_new(w, x->next++);
        if (!s)
            return OTA_OK;
        enum ota_err e = dev_slot_send(d, s, x->szx, now, msg);
        if (e != OTA_OK)
            return e;
    }
    return OTA_OK;
}

/* The next retransmission or give-up deadline. */
static double dev_next_due(const struct dev_win *w, double timeout_s, double now)
{
    double due = now + DEV_RTO_MAX_S;
    for (int i = 0; i < w->max; i++) {
        const struct dev_slot *s = &w->slot[i];
        if (s->used && s->due < due)
            due = s->due;
        if (s->used && s->first + timeout_s < due)
            due = s->first + timeout_s;
    }
    return due;
}

static enum ota_err dev_step(struct dev_dl *d, struct dev_xfer *x, struct dev_journal *j,
                             struct dev_result *r, char *msg)
{
    uint32_t id = 0;
    double now = d->f->now(d->f->ctx);
    d->w.burst_pos = 0;
    enum ota_err e = dev_fill(d, x, now, msg);
    if (e != OTA_OK)
        return dev_proto_fail(r, e);
    if (d->w.inflight == 0)
        return ota_fail(msg, OTA_E_STATE, "download: nothing to request at block %u", x->base);
    double wait = dev_next_due(&d->w, d->timeout_s, now) - now;
    e = d->f->recv(d->f->ctx, wait > 0 ? wait : 0, &d->blk, &id, msg);
    d->w.req_fill = 0; /* the link sent what was pending as its requests */
    now = d->f->now(d->f->ctx);
    if (e == OTA_OK)
        e = dev_on_answer(d, x, j, r, id, now, msg);
    else if (e != OTA_E_NOTFOUND)
        return dev_proto_fail(r, e);
    else
        e = OTA_OK;
    if (e == OTA_OK && (e = dev_timers(d, x, now, msg)) != OTA_OK)
        dev_proto_fail(r, e);
    return e;
}

static enum ota_err dev_finish(struct dev_dl *d, struct dev_xfer *x, struct dev_journal *j,
                               struct dev_result *r, char *msg)
{
    dev_flash_step(d->flash);
    enum ota_err e = dev_part_finish(d->flash, msg);
    if (e != OTA_OK)
        return e;
    j->phase = DEV_J_DOWNLOADED;
    j->offset = j->size = r->pkg_size = x->size;
    j->bitmap = 0;
    dev_dl_progress(d, x, 1);
    dev_flash_step(d->flash);
    return dev_journal_save(dev_flash_path(d->flash, DEV_F_JOURNAL), j, msg);
}

/* --- entry point -------------------------------------------------------- */

/* Where a resume starts: the journal's prefix and bitmap in its block size,
 * renumbered into ours when ours is smaller (a journal without a valid
 * block size: its prefix in our size, no bitmap). Returns the bytes of
 * download.part that must be kept. */
static uint64_t dev_resume_point(struct dev_dl *d, struct dev_xfer *x, const struct dev_journal *j)
{
    unsigned jszx;
    x->size = j->size;
    if (dev_szx_from_size(j->block_size, &jszx, NULL) != OTA_OK) {
        x->base = (uint32_t)(j->offset >> (d->szx + 4));
        dev_count_blocks(x);
    } else {
        x->szx = jszx;
        x->base = (uint32_t)(j->offset >> (jszx + 4));
        x->bitmap = j->bitmap;
        dev_count_blocks(x);
        if (jszx > d->szx)
            dev_resize(d, x, d->szx);
    }
    uint64_t top = x->bitmap ? 64 - (uint64_t)__builtin_clzll(x->bitmap) : 0;
    uint64_t keep = ((uint64_t)x->base + top) << (x->szx + 4);
    return keep > j->size ? j->size : keep;
}

static void dev_xfer_init(struct dev_dl *d, struct dev_xfer *x, struct dev_journal *j)
{
    memset(x, 0, sizeof *x);
    x->t0 = d->f->now(d->f->ctx);
    x->szx = d->szx;
    x->first = 1;
    if (d->timeout_s <= 0)
        d->timeout_s = DEV_NET_TIMEOUT_S;
    memset(&d->w, 0, sizeof d->w);
    dev_win_reset(&d->w, d->window ? d->window : DEV_WINDOW_DEFAULT);
    x->resume = j->phase == DEV_J_DOWNLOADING && j->etag_len > 0 && (j->offset > 0 || j->bitmap);
    if (!x->resume)
        dev_journal_init(j);
}

enum ota_err dev_download(struct dev_dl *d, struct dev_journal *j, struct dev_result *r,
                          char *msg)
{
    struct dev_xfer x;
    uint64_t keep = 0;
    dev_xfer_init(d, &x, j);
    if (x.resume)
        keep = dev_resume_point(d, &x, j);
    enum ota_err e = dev_part_open(d->flash, &keep, msg);
    if (keep == 0) {
        dev_xfer_fresh(d, &x);
    } else {
        x.stored = dev_stored_bytes(&x);
        log_msg(LOG_L_INFO, "download: resuming at byte %llu of %llu (%d more blocks held)",
                (unsigned long long)((uint64_t)x.base * dev_bs(&x)), (unsigned long long)j->size,
                __builtin_popcountll(x.bitmap));
    }
    x.next = x.base;
    while (e == OTA_OK && !(x.nblocks && x.base >= x.nblocks))
        e = dev_step(d, &x, j, r, msg);
    if (e == OTA_OK)
        e = dev_finish(d, &x, j, r, msg);
    /* Link trouble is not power loss: record what we have so the next run
     * resumes from here rather than from the last periodic checkpoint. */
    if (e != OTA_OK && e != OTA_E_IO && !x.first && x.since_sync > 0 &&
        r->status != DEV_S_VERIFY) {
        char m[OTA_MSG_LEN];
        if (dev_checkpoint(d, &x, j, m) != OTA_OK)
            log_msg(LOG_L_WARN, "download: %s", m);
    }
    dev_part_close(d->flash);
    r->window = d->w.max;
    r->cwnd_peak = d->w.cwnd_peak;
    r->retx = d->w.retx;
    log_msg(LOG_L_INFO, "download: window max %d peak %.1f end %.1f, %lu requests, %lu resent "
            "(%lu overtaken, %lu gaps in a burst, %lu timeouts of which %lu whole requests), %lu cuts, "
            "%lu duplicate answers, %lu busy, rtt min %.0f srtt %.0f ms", d->w.max, d->w.cwnd_peak,
            d->w.cwnd, d->w.sent, d->w.retx, d->w.fast, d->w.gaps, d->w.timeouts,
            d->w.bursts_lost, d->w.cuts, d->w.dups, d->w.busy,
            d->w.rtt_min * 1000, d->w.srtt * 1000);
    /* Anything but local I/O that stops a transfer is the link's or the
     * server's fault: retrying later can help. */
    if (e != OTA_OK && r->status == DEV_S_LOCAL && e != OTA_E_IO && e != OTA_E_STATE)
        r->status = DEV_S_NET;
    return e;
}
