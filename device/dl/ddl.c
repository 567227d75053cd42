/* ddl.c - windowed Block2 download over dcoap and the port (see ddl.h).
 *
 * Sections: clock, log and answers; the link (tokens, requests, the short
 * exchange, receiving); single requests (check, report); the window
 * (timers, congestion); block checks and storage (erase rules); the
 * transfer loop; entry point. The logic follows client/dl.c function by
 * function (same names without the dev_ prefix) so a fix in one is easy
 * to carry to the other.
 */
#include "dl/ddl.h"

#include "dhex.h"

#include <string.h>

#define DDL_QUEUE_LOW (2u << 8)  /* Vegas thresholds, blocks queued (1/256) */
#define DDL_QUEUE_HIGH (4u << 8)
#define DDL_ID_KIND 0xE0000000u
#define DDL_ID_SINGLE 0xC0000000u
#define DDL_ID_REPORT 0xE0000000u
#define DDL_ID_SHORT 0xA0000000u

/* --- clock, log and answers --------------------------------------------- */

static uint32_t ddl_now(const struct ddl *d)
{
    return d->port->now_ms(d->port->ctx);
}

/* a is later than b on the wrapping clock */
static int ddl_after(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) > 0;
}

static void ddl_event(const struct ddl *d, enum odev_log_level l, enum odev_event ev,
                      const char *msg)
{
    if (d->port->log)
        d->port->log(d->port->ctx, l, ev, msg);
}

static void ddl_log(const struct ddl *d, enum odev_log_level l, const char *msg)
{
    ddl_event(d, l, ODEV_EV_TEXT, msg);
}

static enum odev_err ddl_fail(const char **why, enum odev_err e, const char *reason)
{
    *why = reason;
    return e;
}

int ddl_diag_code(const uint8_t *p, size_t len)
{
    static const char key[] = "\"code\"";
    size_t i = 0;
    if (len == 0 || p[0] != '{')
        return -1;
    for (; i + sizeof key - 1 <= len; i++)
        if (memcmp(p + i, key, sizeof key - 1) == 0)
            break;
    for (i += sizeof key - 1; i < len && (p[i] == ' ' || p[i] == ':'); i++)
        ;
    int v = -1;
    for (; i < len && p[i] >= '0' && p[i] <= '9' && v < 100000; i++)
        v = (v < 0 ? 0 : v * 10) + (p[i] - '0');
    return v;
}

enum odev_err ddl_fail_response(const struct ddl_block *b, struct odev_result *r,
                                const char **why)
{
    r->coap_code = b->code;
    r->srv_code = ddl_diag_code(b->data, b->len);
    if (b->code == 404 && r->srv_code == 27) {
        r->status = ODEV_S_NO_UPDATE;
        return ddl_fail(why, ODEV_E_NOTFOUND, "nothing newer (4.04)");
    }
    if (b->code == 429 || b->code >= 500 || b->code < 400) {
        r->status = ODEV_S_NET;
        return ddl_fail(why, ODEV_E_NET, b->code >= 500 ? "server 5.xx"
                                         : b->code == 429 ? "server 4.29"
                                                          : "unexpected code");
    }
    r->status = ODEV_S_REJECTED;
    *why = "server 4.xx";
    return b->code == 400 ? ODEV_E_INVAL : b->code == 404 ? ODEV_E_NOTFOUND : ODEV_E_AUTH;
}

static enum odev_err ddl_proto_fail(struct odev_result *r, enum odev_err e)
{
    r->status = ODEV_S_NET;
    return e;
}

enum odev_err ddl_check_first(struct ddl *d, const struct ddl_block *b, struct odev_result *r,
                              const char **why)
{
    if (b->code != 205)
        return ddl_fail_response(b, r, why);
    r->coap_code = 205;
    if (b->has_block2 && b->num != 0)
        return ddl_proto_fail(r, ddl_fail(why, ODEV_E_CORRUPT, "wrong block"));
    if (b->has_size2 && b->size2 > d->area.size)
        return ddl_proto_fail(r, ddl_fail(why, ODEV_E_LIMIT, "package too large"));
    r->pkg_size = b->has_size2 ? b->size2 : 0;
    return ODEV_OK;
}

/* xorshift32: jitter for RFC 7252's ACK_RANDOM_FACTOR and token bases. */
static uint32_t ddl_rand(struct ddl *d)
{
    uint32_t s = d->rng ? d->rng : 2463534242u;
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    return d->rng = s;
}

/* ACK_TIMEOUT x random(1 .. 1.5) */
static uint32_t ddl_ack_timeout(struct ddl *d)
{
    return DDL_ACK_TIMEOUT_MS + DDL_ACK_TIMEOUT_MS * (ddl_rand(d) % 500u) / 1000u;
}

void ddl_init(struct ddl *d, const struct odev_port *p, const struct odev_config *c,
              uint16_t boot, uint8_t run)
{
    memset(d, 0, sizeof *d);
    d->port = p;
    d->szx = (uint8_t)(c->szx > DCOAP_SZX_MAX ? DCOAP_SZX_MAX : c->szx);
    while ((16u << d->szx) > ODEV_BLOCK_MAX)
        d->szx--;
    d->window = c->window;
    d->timeout_ms = c->block_timeout_ms ? c->block_timeout_ms : DDL_TIMEOUT_MS;
    d->max_wait_ms = c->max_wait_ms ? c->max_wait_ms : DDL_BUSY_WAIT_MAX_MS;
    d->short_ok = !c->fota_only;
    d->area = c->area[ODEV_AREA_DOWNLOAD];
    /* Without the port's random hook, the clock and the IMEI seed the
     * jitter and the last byte of the token base; the boot counter and the
     * run number fill the rest, so a clock that starts at the same value
     * every boot does not bring back an earlier run's base (whose late
     * answers would then pass the token filter). */
    if (!p->random || p->random(p->ctx, (uint8_t *)&d->rng, sizeof d->rng) != ODEV_OK) {
        d->rng = p->now_ms(p->ctx) * 2654435761u + 1u;
        for (const char *s = c->imei; *s; s++)
            d->rng = d->rng * 31u + (uint8_t)*s;
    }
    d->token_base[0] = (uint8_t)(boot >> 8);
    d->token_base[1] = (uint8_t)boot;
    d->token_base[2] = run;
    d->token_base[3] = (uint8_t)ddl_rand(d);
    d->mid = (uint16_t)ddl_rand(d);
}

enum odev_err ddl_query_add(struct ddl *d, const char *key, const char *value)
{
    size_t kl = strlen(key), vl = strlen(value);
    if (vl == 0)
        return ODEV_OK;
    if (d->query_len + kl + vl + 2 > DDL_QUERY_MAX)
        return ODEV_E_LIMIT;
    char *q = d->query + d->query_len;
    memcpy(q, key, kl);
    q[kl] = '=';
    memcpy(q + kl + 1, value, vl);
    q[kl + 1 + vl] = '\0';
    d->query_len = (uint16_t)(d->query_len + kl + vl + 2);
    return ODEV_OK;
}

/* --- the link ------------------------------------------------------------ */

/* The token: the run's 4-byte base, then the id. A short request's
 * answers are matched by block number, so its id carries only the kind:
 * one byte (101 + 5 bits of the request count), 3 uplink bytes less per
 * request; the base still keeps an earlier run's answers out. */
static void ddl_request(struct ddl *d, struct dcoap_builder *b, uint8_t code, uint32_t id)
{
    uint8_t tok[8];
    size_t n = (id & DDL_ID_KIND) == DDL_ID_SHORT ? 5 : 8;
    memcpy(tok, d->token_base, 4);
    for (size_t i = 4; i < n; i++)
        tok[i] = (uint8_t)(id >> (8 * (n - 1 - i)));
    if (n == 5)
        tok[4] = (uint8_t)(DDL_ID_SHORT >> 24 | (id & 0x1Fu));
    dcoap_begin(b, d->tx, sizeof d->tx, DCOAP_NON, code, ++d->mid, tok, n);
}

static enum odev_err ddl_transmit(struct ddl *d, struct dcoap_builder *b)
{
    size_t len;
    enum odev_err e = dcoap_end(b, &len);
    return e != ODEV_OK ? e : (enum odev_err)d->port->send(d->port->ctx, d->tx, len);
}

static enum odev_err ddl_send_fota(struct ddl *d, uint32_t num, unsigned szx, uint32_t id)
{
    struct dcoap_builder b;
    struct dcoap_block blk = {num, 0, (uint8_t)szx};
    ddl_request(d, &b, DCOAP_GET, id);
    dcoap_opt_str(&b, DCOAP_OPT_URI_PATH, "fota");
    for (size_t i = 0; i < d->query_len; i += strlen(d->query + i) + 1)
        dcoap_opt_str(&b, DCOAP_OPT_URI_QUERY, d->query + i);
    dcoap_opt_block(&b, DCOAP_OPT_BLOCK2, &blk);
    return ddl_transmit(d, &b);
}

/* The pending blocks as one GET /p/<ETag hex> with a Q-Block2 each. */
static enum odev_err ddl_flush(struct ddl *d)
{
    char path[2 * ODEV_ETAG_MAX + 1];
    struct dcoap_builder b;
    if (d->npend == 0)
        return ODEV_OK;
    dhex_put(path, d->short_etag, ODEV_ETAG_MAX, 0);
    path[2 * ODEV_ETAG_MAX] = '\0';
    ddl_request(d, &b, DCOAP_GET, DDL_ID_SHORT | (++d->short_seq & 0x1FFFFFFFu));
    dcoap_opt_str(&b, DCOAP_OPT_URI_PATH, "p");
    dcoap_opt_str(&b, DCOAP_OPT_URI_PATH, path);
    for (int i = 0; i < d->npend; i++) {
        struct dcoap_block blk = {d->pend_num[i], 0, d->short_szx};
        dcoap_opt_block(&b, DCOAP_OPT_Q_BLOCK2, &blk);
    }
    d->npend = 0;
    return ddl_transmit(d, &b);
}

/* One block request: batched into a short request once the short
 * exchange is on (block 0 always goes to /fota: it is the check). */
static enum odev_err ddl_link_send(struct ddl *d, uint32_t num, unsigned szx, uint32_t id)
{
    if (d->short_on && szx == d->short_szx && num > 0) {
        enum odev_err e = d->npend == DDL_BATCH ? ddl_flush(d) : ODEV_OK;
        d->pend_num[d->npend] = num;
        d->pend_id[d->npend++] = id;
        return e;
    }
    return ddl_send_fota(d, num, szx, id);
}

static enum odev_err ddl_take_options(const struct dcoap_msg *m, struct ddl_block *b)
{
    unsigned it = 0;
    const struct dcoap_opt *o;
    struct dcoap_block blk;
    if ((o = dcoap_find(m, DCOAP_OPT_BLOCK2, &it)) != NULL) {
        if (dcoap_block_decode(o, &blk) != ODEV_OK)
            return ODEV_E_CORRUPT;
        b->has_block2 = 1;
        b->num = blk.num;
        b->more = blk.more;
        b->szx = blk.szx;
    }
    it = 0;
    if ((o = dcoap_find(m, DCOAP_OPT_SIZE2, &it)) != NULL) {
        b->has_size2 = 1;
        if (dcoap_uint(o, 4, &b->size2) != ODEV_OK)
            return ODEV_E_CORRUPT;
    }
    it = 0;
    if ((o = dcoap_find(m, DCOAP_OPT_MAX_AGE, &it)) != NULL && dcoap_uint(o, 4, &b->max_age))
        return ODEV_E_CORRUPT;
    it = 0;
    if ((o = dcoap_find(m, DCOAP_OPT_ETAG, &it)) != NULL) {
        if (o->len < 1 || o->len > ODEV_ETAG_MAX)
            return ODEV_E_CORRUPT;
        b->etag_len = (uint8_t)o->len;
        memcpy(b->etag, o->val, o->len);
    }
    return ODEV_OK;
}

/* A /fota 2.05 with an 8-byte ETag turns the short exchange on. */
static void ddl_short_learn(struct ddl *d, const struct ddl_block *b)
{
    if (!d->short_ok || b->code != 205 || b->etag_len != ODEV_ETAG_MAX || !b->has_block2)
        return;
    memcpy(d->short_etag, b->etag, ODEV_ETAG_MAX);
    d->short_szx = b->szx;
    d->short_on = 1;
}

/* The window's request for a short answer's block; 0 = ignore it (a
 * refusal turns the short exchange off: the blocks go to /fota when their
 * timers fire, and the next /fota 2.05 turns it on again). */
static uint32_t ddl_short_id(struct ddl *d, const struct ddl_block *b)
{
    if (b->code == 205 && b->has_block2 && b->szx == d->short_szx) {
        for (int i = 0; i < d->w.max; i++)
            if (d->w.slot[i].used && d->w.slot[i].num == b->num && !d->w.slot[i].probe)
                return d->w.slot[i].id;
        d->w.dups++; /* a late or duplicated copy of a block already taken */
        return 0;
    }
    if (b->code != 205 || (b->has_block2 && b->szx != d->short_szx)) {
        d->short_on = 0;
        ddl_log(d, ODEV_LOG_DEBUG, "/p/ refused");
    }
    return 0;
}

/* Parse the datagram in rx: 1 = an answer of ours (id set), 0 = not ours
 * or ignored, <0 = -(error) for an answer of ours with bad options. */
static int ddl_take(struct ddl *d, size_t len, uint32_t *id)
{
    struct dcoap_msg m;
    struct ddl_block *b = &d->blk;
    if (dcoap_parse(d->rx, len, &m) != ODEV_OK || (m.tkl != 8 && m.tkl != 5) ||
        memcmp(m.token, d->token_base, 4) != 0 || m.type == DCOAP_CON)
        return 0; /* not CoAP, not ours (another run), or a request */
    if (m.tkl == 5 && (m.token[4] & 0xE0u) != DDL_ID_SHORT >> 24)
        return 0;
    *id = m.tkl == 5 ? DDL_ID_SHORT | (m.token[4] & 0x1Fu)
                     : (uint32_t)m.token[4] << 24 | (uint32_t)m.token[5] << 16 |
                           (uint32_t)m.token[6] << 8 | m.token[7];
    memset(b, 0, sizeof *b);
    b->code = DCOAP_CODE_NUM(m.code);
    b->data = m.payload;
    b->len = m.payload_len;
    if (b->len > (16u << DCOAP_SZX_MAX))
        return -(int)ODEV_E_CORRUPT;
    if (ddl_take_options(&m, b) != ODEV_OK)
        return (*id & DDL_ID_KIND) == DDL_ID_SHORT ? 0 : -(int)ODEV_E_CORRUPT;
    if ((*id & DDL_ID_KIND) == DDL_ID_SHORT)
        return (*id = ddl_short_id(d, b)) != 0;
    if ((*id & DDL_ID_KIND) != DDL_ID_REPORT)
        ddl_short_learn(d, b);
    return 1;
}

/* Send what is pending, then wait up to wait_ms for an answer of ours:
 * OK (id, d->blk), ODEV_E_TIMEOUT, ODEV_E_NET, ODEV_E_CORRUPT. */
static enum odev_err ddl_recv(struct ddl *d, uint32_t wait_ms, uint32_t *id)
{
    uint32_t end = ddl_now(d) + wait_ms;
    if (ddl_flush(d) == ODEV_E_NET) /* else like a lost datagram: timers resend */
        return ODEV_E_NET;
    for (;;) {
        uint32_t now = ddl_now(d);
        size_t len = 0;
        int rc = d->port->recv(d->port->ctx, d->rx, sizeof d->rx, &len,
                               ddl_after(end, now) ? end - now : 0);
        if (rc != ODEV_OK)
            return (enum odev_err)rc;
        rc = ddl_take(d, len, id);
        if (rc != 0)
            return rc > 0 ? ODEV_OK : (enum odev_err)-rc;
        if (!ddl_after(end, ddl_now(d)))
            return ODEV_E_TIMEOUT;
    }
}

/* --- single requests: check and report ---------------------------------- */

/* Until end for the answer to want (0: none): OK, ODEV_E_TIMEOUT,
 * ODEV_E_NET, ODEV_E_CORRUPT (an answer of ours with bad options). */
static enum odev_err ddl_await(struct ddl *d, uint32_t end, uint32_t want)
{
    uint32_t got = 0;
    while (ddl_after(end, ddl_now(d))) {
        enum odev_err e = ddl_recv(d, end - ddl_now(d), &got);
        if (e == ODEV_OK && got == want)
            return ODEV_OK;
        if (e == ODEV_E_NET || e == ODEV_E_CORRUPT)
            return e;
    }
    return ODEV_E_TIMEOUT;
}

/* One request, RFC 7252 retransmissions, until an answer or timeout_ms. */
static enum odev_err ddl_fetch_one(struct ddl *d, uint32_t num, const char **why)
{
    uint32_t start = ddl_now(d), wait = ddl_ack_timeout(d);
    for (int i = 0; i <= DDL_MAX_RETRANSMIT; i++, wait *= 2) {
        enum odev_err e = ddl_send_fota(d, num, d->szx, DDL_ID_SINGLE);
        if (e == ODEV_E_NET)
            return ddl_fail(why, e, "link down");
        uint32_t end = ddl_now(d) + wait;
        if (ddl_after(end, start + d->timeout_ms))
            end = start + d->timeout_ms;
        e = ddl_await(d, end, DDL_ID_SINGLE);
        if (e != ODEV_E_TIMEOUT)
            return e == ODEV_OK ? e : ddl_fail(why, e, e == ODEV_E_NET ? "link down"
                                                                        : "malformed answer");
        if (ddl_now(d) - start >= d->timeout_ms)
            break;
    }
    return ddl_fail(why, ODEV_E_NET, "no answer");
}

/* Milliseconds to wait after a 5.03 at the first request; 0 = not one, or
 * too many waits already. */
static uint32_t ddl_busy_wait(const struct ddl *d, const struct ddl_block *b, int waits)
{
    uint32_t wait = b->max_age ? b->max_age : 1u;
    if (b->code != 503 || waits >= DDL_BUSY_RETRIES)
        return 0;
    wait = wait < d->max_wait_ms / 1000u ? wait * 1000u : d->max_wait_ms;
    ddl_log(d, ODEV_LOG_INFO, "5.03: waiting");
    return wait;
}

/* Let wait_ms pass; answers meanwhile (late copies) are dropped. */
static enum odev_err ddl_idle(struct ddl *d, uint32_t wait_ms)
{
    uint32_t end = ddl_now(d) + wait_ms;
    enum odev_err e;
    do
        e = ddl_await(d, end, 0);
    while (e == ODEV_E_CORRUPT);
    return e == ODEV_E_NET ? e : ODEV_OK;
}

enum odev_err ddl_fetch_first(struct ddl *d, const struct ddl_block **out, const char **why)
{
    *out = &d->blk;
    for (int waits = 0;; waits++) {
        enum odev_err e = ddl_fetch_one(d, 0, why);
        uint32_t wait = e == ODEV_OK ? ddl_busy_wait(d, &d->blk, waits) : 0;
        if (wait == 0)
            return e;
        if (ddl_idle(d, wait) != ODEV_OK)
            return ddl_fail(why, ODEV_E_NET, "link down");
    }
}

enum odev_err ddl_report(struct ddl *d, const char *body, size_t len, unsigned *code,
                         const char **why)
{
    uint32_t id = DDL_ID_REPORT | (uint32_t)(d->mid + 1u), wait = ddl_ack_timeout(d);
    *code = 0;
    for (int i = 0; i < DDL_REPORT_ATTEMPTS; i++, wait *= 2) {
        struct dcoap_builder b;
        ddl_request(d, &b, DCOAP_POST, id);
        dcoap_opt_str(&b, DCOAP_OPT_URI_PATH, "report");
        dcoap_opt_uint(&b, DCOAP_OPT_CONTENT_FORMAT, DCOAP_CF_JSON);
        dcoap_payload(&b, body, len);
        enum odev_err e = ddl_transmit(d, &b);
        if (e == ODEV_E_LIMIT || e == ODEV_E_INVAL)
            return ddl_fail(why, e, "report too long");
        uint32_t end = ddl_now(d) + wait;
        do
            e = ddl_await(d, end, id);
        while (e == ODEV_E_CORRUPT);
        if (e == ODEV_E_NET)
            return ddl_fail(why, e, "link down");
        if (e == ODEV_OK) {
            *code = d->blk.code;
            return d->blk.code / 100 == 2 ? ODEV_OK
                                          : ddl_fail(why, ODEV_E_NET, "report refused");
        }
    }
    return ddl_fail(why, ODEV_E_NET, "no answer");
}

/* --- the window: timers and congestion ---------------------------------- */

static int ddl_strict(const struct ddl_win *w)
{
    return w->max <= 1;
}

static void ddl_win_reset(struct ddl_win *w, int max)
{
    memset(w->slot, 0, sizeof w->slot);
    w->inflight = 0;
    if (w->backoff < 1)
        w->backoff = 1;
    w->max = max < 1 ? 1 : max > ODEV_INFLIGHT_MAX ? ODEV_INFLIGHT_MAX : max;
    w->cwnd = (uint32_t)(w->max < DDL_WINDOW_INIT ? w->max : DDL_WINDOW_INIT) << 8;
    if (w->cwnd > w->cwnd_peak)
        w->cwnd_peak = w->cwnd;
    w->ssthresh = (uint32_t)w->max << 8;
    w->recover_seq = w->seq;
}

/* RFC 6298 2, the variance term at least half the smoothed round trip
 * (see client/dl.c dev_rto). Milliseconds. */
static uint32_t ddl_rto(const struct ddl_win *w)
{
    if (w->srtt == 0)
        return DDL_ACK_TIMEOUT_MS;
    uint32_t var = 4 * w->rttvar > w->srtt / 2 ? 4 * w->rttvar : w->srtt / 2;
    uint32_t rto = (w->srtt + var) / 8;
    return rto < DDL_RTO_MIN_MS ? DDL_RTO_MIN_MS : rto > DDL_RTO_MAX_MS ? DDL_RTO_MAX_MS : rto;
}

static void ddl_rtt_sample(struct ddl_win *w, uint32_t ms)
{
    uint32_t r = (ms > (1u << 24) ? 1u << 24 : ms) * 8; /* 1/8 ms */
    w->backoff = 1; /* RFC 6298 5.7: a valid sample ends the backoff */
    if (w->srtt == 0) {
        w->srtt = w->rtt_fast = w->rtt_min = r ? r : 1;
        w->rttvar = r / 2;
        return;
    }
    uint32_t dev = w->srtt > r ? w->srtt - r : r - w->srtt;
    w->rttvar = (3 * w->rttvar + dev) / 4;
    w->srtt = (7 * w->srtt + r) / 8;
    w->rtt_fast = (3 * w->rtt_fast + r) / 4;
    if (r < w->rtt_min)
        w->rtt_min = r;
    if (w->srtt == 0)
        w->srtt = 1;
}

/* Blocks queued in the link (1/256): cwnd x (1 - min/rtt), TCP Vegas. */
static uint32_t ddl_queued(const struct ddl_win *w)
{
    if (w->rtt_fast == 0)
        return 0;
    uint32_t ratio = (w->rtt_min << 8) / w->rtt_fast;
    return ratio >= 256 ? 0 : (w->cwnd * (256 - ratio)) >> 8;
}

static void ddl_win_grow(struct ddl_win *w)
{
    if (ddl_strict(w))
        return;
    uint32_t q = ddl_queued(w);
    if (w->cwnd < w->ssthresh) {
        if (q < DDL_QUEUE_LOW)
            w->cwnd += 256;
        else
            w->ssthresh = w->cwnd;
    } else if (q < DDL_QUEUE_LOW) {
        w->cwnd += 65536u / w->cwnd;
    } else if (q > DDL_QUEUE_HIGH && w->cwnd > 512) {
        w->cwnd -= 65536u / w->cwnd;
    }
    if (w->cwnd > (uint32_t)w->max << 8)
        w->cwnd = (uint32_t)w->max << 8;
    if (w->cwnd > w->cwnd_peak)
        w->cwnd_peak = w->cwnd;
}

enum ddl_loss { DDL_LOSS_LATER, DDL_LOSS_TIMEOUT, DDL_LOSS_TAIL };

/* Shrink once per round trip; a loss found by later answers with a short
 * queue is the radio's: no cut (see client/dl.c dev_win_loss). */
static void ddl_win_loss(struct ddl_win *w, const struct ddl_slot *s, enum ddl_loss how)
{
    if (ddl_strict(w) || s->seq <= w->recover_seq)
        return;
    if (how == DDL_LOSS_LATER && ddl_queued(w) <= DDL_QUEUE_HIGH)
        return;
    w->cwnd = how == DDL_LOSS_TIMEOUT ? w->cwnd / 2 : w->cwnd * 179u / 256u; /* x0.5, x0.7 */
    if (w->cwnd < 256)
        w->cwnd = 256;
    w->ssthresh = w->cwnd < 512 ? 512 : w->cwnd;
    w->recover_seq = w->seq;
    w->cuts++;
}

static enum odev_err ddl_slot_send(struct ddl *d, struct ddl_slot *s, unsigned szx, uint32_t now)
{
    struct ddl_win *w = &d->w;
    if (s->tx == 0) {
        uint32_t rto = ddl_rto(w) * w->backoff;
        s->first = now;
        s->rto0 = ddl_strict(w) ? ddl_ack_timeout(d) : rto < DDL_RTO_MAX_MS ? rto
                                                                              : DDL_RTO_MAX_MS;
    } else {
        w->retx++;
    }
    if (s->tx < 255)
        s->tx++;
    s->seq = ++w->seq;
    s->sent = now;
    s->later = 0;
    uint32_t t = s->rto0 << (s->tx - 1 < 10 ? s->tx - 1 : 10);
    s->due = now + (ddl_strict(w) || t < DDL_RTO_MAX_MS ? t : DDL_RTO_MAX_MS);
    w->sent++;
    s->pos = (uint8_t)w->burst_pos++;
    s->rpos = (uint8_t)(w->req_fill++ % (w->link_batch > 1 ? w->link_batch : 1));
    if (s->rpos == 0)
        w->burst++;
    s->burst = w->burst;
    s->heard = 0;
    /* later in a burst: its place x the time between answers */
    s->due += s->pos * (w->gap ? w->gap : w->srtt / 8) / 8;
    enum odev_err e = ddl_link_send(d, s->num, szx, s->id);
    return e == ODEV_E_NET ? e : ODEV_OK; /* else like a lost datagram */
}

static struct ddl_slot *ddl_slot_new(struct ddl_win *w, uint32_t num)
{
    for (int i = 0; i < w->max; i++) {
        struct ddl_slot *s = &w->slot[i];
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

static void ddl_slot_free(struct ddl_win *w, struct ddl_slot *s)
{
    s->used = 0;
    w->inflight--;
}

static struct ddl_slot *ddl_slot_find(struct ddl_win *w, uint32_t id)
{
    for (int i = 0; i < w->max; i++)
        if (w->slot[i].used && w->slot[i].id == id)
            return &w->slot[i];
    return NULL;
}

static int ddl_slot_busy(const struct ddl_win *w, uint32_t num)
{
    for (int i = 0; i < w->max; i++)
        if (w->slot[i].used && w->slot[i].num == num)
            return 1;
    return 0;
}

/* --- block checks and storage -------------------------------------------- */

static uint32_t ddl_bs(const struct ddl_xfer *x)
{
    return 16u << x->szx;
}

/* Bit i of a 64-bit map, set: one place for the 64-bit shifts, which
 * cost a dozen instructions each on a 32-bit core. */
static int ddl_bit(uint64_t m, uint32_t i)
{
    uint32_t w = i < 32 ? (uint32_t)m : (uint32_t)(m >> 32);
    return i < 64 && ((w >> (i & 31u)) & 1u);
}

static void ddl_bit_set(uint64_t *m, uint32_t i)
{
    if (i < 64)
        *m |= (uint64_t)1 << i;
}

static int ddl_is_stored(const struct ddl_xfer *x, uint32_t num)
{
    return num < x->base || ddl_bit(x->bitmap, num - x->base);
}

/* Move base past the stored blocks at the start of the map. */
static void ddl_advance(struct ddl_xfer *x)
{
    while (x->bitmap & 1u) {
        x->bitmap >>= 1;
        x->base++;
    }
}

static void ddl_mark(struct ddl_xfer *x, uint32_t num)
{
    ddl_bit_set(&x->bitmap, num - x->base);
    ddl_advance(x);
}

static uint32_t ddl_limit(const struct ddl_xfer *x)
{
    uint32_t lim = x->base + DDL_SPAN;
    return x->nblocks && x->nblocks < lim ? x->nblocks : lim;
}

static void ddl_count_blocks(struct ddl_xfer *x)
{
    x->nblocks = x->size ? (x->size + ddl_bs(x) - 1) >> (x->szx + 4) : 0;
}

static uint32_t ddl_block_len(const struct ddl_xfer *x, uint32_t num)
{
    uint32_t off = num << (x->szx + 4), bs = ddl_bs(x);
    if (!x->size)
        return bs;
    return off >= x->size ? 0 : x->size - off < bs ? x->size - off : bs;
}

static uint32_t ddl_stored_bytes(const struct ddl_xfer *x)
{
    uint32_t n = x->base << (x->szx + 4);
    if (x->size && n > x->size)
        n = x->size;
    for (uint32_t i = 1; i < DDL_SPAN; i++)
        if (ddl_bit(x->bitmap, i))
            n += ddl_block_len(x, x->base + i);
    return n;
}

/* Blocks per erase block (1 when an erase block is no larger). */
static uint32_t ddl_group(const struct ddl *d)
{
    uint32_t bs = ddl_bs(&d->x);
    return d->area.erase > bs ? d->area.erase / bs : 1;
}

/* A resume may keep only erase blocks that are completely stored (see
 * ddl.h): any other may hold blocks written after the last checkpoint.
 * Renumbers base down to its erase block's first block and clears the
 * bits of every incomplete erase block in the span. */
static void ddl_resume_trim(struct ddl *d)
{
    struct ddl_xfer *x = &d->x;
    uint32_t k = ddl_group(d), g0 = x->base - x->base % k;
    uint64_t bits = 0;
    if (k == 1)
        return;
    for (uint32_t g = 0; g < DDL_SPAN; g += k) {
        uint32_t end = g + k, i = g;
        if (x->nblocks && g0 + end > x->nblocks)
            end = x->nblocks > g0 + g ? x->nblocks - g0 : g;
        while (i < end && ddl_is_stored(x, g0 + i))
            i++;
        if (i < end || end > DDL_SPAN)
            continue;
        for (i = g; i < end; i++)
            ddl_bit_set(&bits, i);
    }
    x->base = g0;
    x->bitmap = bits;
    ddl_advance(x);
}

/* Erase before the first write: the erase blocks of block num, unless a
 * stored block shares them (then this attempt erased them already). */
static enum odev_err ddl_erase_for(struct ddl *d, uint32_t num)
{
    const struct ddl_xfer *x = &d->x;
    uint32_t k = ddl_group(d), g = num - num % k, e = d->area.erase, bs = ddl_bs(x);
    if (e <= 1)
        return ODEV_OK;
    for (uint32_t i = g; i < g + k && i < x->base + DDL_SPAN; i++)
        if (i != num && ddl_is_stored(x, i))
            return ODEV_OK;
    uint32_t off = g * bs, len = k > 1 ? e : (bs + e - 1) & ~(e - 1);
    if (off + len > d->area.size)
        len = d->area.size - off;
    return (enum odev_err)d->port->erase(d->port->ctx, ODEV_AREA_DOWNLOAD, off, len);
}

/* Renumber in smaller blocks (see client/dl.c dev_resize). */
static void ddl_resize(struct ddl *d, unsigned szx)
{
    struct ddl_xfer *x = &d->x;
    unsigned shift = x->szx - szx;
    uint32_t k = 1u << shift, left;
    uint64_t bits = 0;
    x->szx = (uint8_t)szx;
    x->base <<= shift;
    ddl_count_blocks(x);
    left = x->size && x->nblocks > x->base ? x->nblocks - x->base : x->size ? 0 : DDL_SPAN;
    for (uint32_t i = k; i < DDL_SPAN && i < left; i++)
        if (ddl_bit(x->bitmap, i / k))
            ddl_bit_set(&bits, i);
    x->bitmap = bits;
    for (int i = 0; i < d->w.max; i++)
        if (d->w.slot[i].used)
            d->w.slot[i].num <<= shift;
    x->next = x->base;
    x->stored = ddl_stored_bytes(x);
}

static enum odev_err ddl_check_szx(struct ddl *d, const struct ddl_block *b, int *stale,
                                   const char **why)
{
    struct ddl_xfer *x = &d->x;
    *stale = 0;
    if (!b->has_block2 || b->szx == x->szx)
        return ODEV_OK;
    if (b->szx < x->szx) {
        ddl_event(d, ODEV_LOG_INFO, ODEV_EV_SMALLER_BLOCKS, "smaller blocks");
        ddl_resize(d, b->szx);
        return ODEV_OK;
    }
    if (x->first || b->szx > d->szx)
        return ddl_fail(why, ODEV_E_CORRUPT, "block size changed");
    *stale = 1;
    return ODEV_OK;
}

static enum odev_err ddl_check_block(const struct ddl *d, const struct ddl_block *b,
                                     const struct ddl_slot *s, const char **why)
{
    const struct ddl_xfer *x = &d->x;
    uint32_t bs = ddl_bs(x), off = s->num << (x->szx + 4);
    if (!b->has_block2)
        return x->first && s->num == 0 && b->len <= bs
                   ? ODEV_OK
                   : ddl_fail(why, ODEV_E_CORRUPT, "no Block2");
    if (b->szx != x->szx)
        return ddl_fail(why, ODEV_E_CORRUPT, "block size changed");
    if (b->num != s->num)
        return ddl_fail(why, ODEV_E_CORRUPT, "wrong block");
    if ((b->more && b->len != bs) || b->len > bs)
        return ddl_fail(why, ODEV_E_CORRUPT, "bad block length");
    if (x->size && (b->more ? off + bs >= x->size : off + b->len != x->size))
        return ddl_fail(why, ODEV_E_CORRUPT, "bad block length");
    if (off + b->len > d->area.size)
        return ddl_fail(why, ODEV_E_LIMIT, "package too large");
    return ODEV_OK;
}

/* ETag and Size2: still the package of the journal? */
static int ddl_package_changed(const struct ddl *d, const struct ddl_block *b,
                               const struct djournal *j)
{
    const struct ddl_xfer *x = &d->x;
    if (x->first && !x->resume)
        return 0;
    return b->etag_len != j->etag_len || memcmp(b->etag, j->etag, b->etag_len) != 0 ||
           (b->has_size2 && x->size && b->size2 != x->size);
}

static enum odev_err ddl_journal_save(struct ddl *d, const struct djournal *j)
{
    uint8_t rec[ODEV_JOURNAL_LEN];
    djournal_encode(j, rec);
    return (enum odev_err)d->port->journal_save(d->port->ctx, rec);
}

/* Sync the data, then let the journal claim it. */
static enum odev_err ddl_checkpoint(struct ddl *d, struct djournal *j, const char **why)
{
    struct ddl_xfer *x = &d->x;
    if (d->port->sync(d->port->ctx, ODEV_AREA_DOWNLOAD) != ODEV_OK)
        return ddl_fail(why, ODEV_E_IO, "sync failed");
    uint32_t off = x->base << (x->szx + 4);
    j->phase = DJ_DOWNLOADING;
    j->offset = x->size && off > x->size ? x->size : off;
    j->bitmap = x->bitmap;
    j->size = x->size;
    j->block_size = (uint16_t)ddl_bs(x);
    x->since_sync = 0;
    if (ddl_journal_save(d, j) != ODEV_OK)
        return ddl_fail(why, ODEV_E_IO, "journal save failed");
    return ODEV_OK;
}

static enum odev_err ddl_head(struct ddl *d, struct odev_result *r, const char **why)
{
    struct ddl_xfer *x = &d->x;
    uint32_t have = x->base << (x->szx + 4), want = d->head_len;
    if (x->size) {
        have = have < x->size ? have : x->size;
        want = want < x->size ? want : x->size;
    }
    if (!d->head_check || x->head_done || have < want)
        return ODEV_OK;
    x->head_done = 1;
    enum odev_err e = (enum odev_err)d->head_check(d->head_ctx, have, x->size, why);
    if (e != ODEV_OK)
        r->status = ODEV_S_VERIFY;
    return e;
}

static enum odev_err ddl_store(struct ddl *d, struct djournal *j, struct odev_result *r,
                               uint32_t num, const char **why)
{
    struct ddl_xfer *x = &d->x;
    const struct ddl_block *b = &d->blk;
    if (b->len && (ddl_erase_for(d, num) != ODEV_OK ||
                   d->port->write(d->port->ctx, ODEV_AREA_DOWNLOAD, num << (x->szx + 4), b->data,
                                  b->len)))
        return ddl_fail(why, ODEV_E_IO, "flash write failed");
    int was_first = x->first;
    ddl_mark(x, num);
    x->first = 0;
    x->stored += (uint32_t)b->len;
    x->since_sync += (uint32_t)b->len;
    r->bytes += (uint32_t)b->len;
    enum odev_err e = ddl_head(d, r, why);
    if (e != ODEV_OK)
        return e;
    if (was_first || x->since_sync >= DDL_CHECKPOINT_BYTES)
        return ddl_checkpoint(d, j, why);
    return ODEV_OK;
}

/* --- the transfer loop ----------------------------------------------------- */

static void ddl_xfer_fresh(struct ddl *d)
{
    struct ddl_xfer *x = &d->x;
    uint8_t restarts = x->restarts, busy = x->busy_waits;
    memset(x, 0, sizeof *x);
    x->szx = d->szx;
    x->first = 1;
    x->restarts = restarts;
    x->busy_waits = busy;
}

static enum odev_err ddl_restart(struct ddl *d, const char **why)
{
    if (++d->x.restarts > DDL_RESTARTS)
        return ddl_fail(why, ODEV_E_NET, "package keeps changing");
    ddl_event(d, ODEV_LOG_INFO, ODEV_EV_PKG_CHANGED, "package changed");
    ddl_win_reset(&d->w, d->w.max); /* answers to the old requests are now ignored */
    ddl_xfer_fresh(d);
    return ODEV_OK;
}

/* A 4.02 past block 0: ask block 0 alone whether the package changed. */
static enum odev_err ddl_probe(struct ddl *d, struct odev_result *r, const char **why)
{
    if (++d->x.probes > DDL_PROBES) {
        ddl_fail_response(&d->blk, r, why);
        r->status = ODEV_S_NET;
        return ddl_fail(why, ODEV_E_NET, "4.02 mid-package");
    }
    ddl_event(d, ODEV_LOG_INFO, ODEV_EV_PROBE_402, "4.02: probing block 0");
    ddl_win_reset(&d->w, d->w.max);
    d->x.probe = 1;
    return ODEV_OK;
}

static void ddl_learn_size(struct ddl_xfer *x, const struct ddl_block *b, uint32_t num)
{
    if (x->first && b->has_size2 && b->size2 > 0) {
        x->size = b->size2;
        ddl_count_blocks(x);
    }
    if (!b->has_block2 || !b->more) {
        x->size = (num << (x->szx + 4)) + (uint32_t)b->len;
        x->nblocks = num + 1;
    }
}

static enum odev_err ddl_overtaken(struct ddl *d, uint32_t seq, uint32_t burst, uint32_t now)
{
    struct ddl_win *w = &d->w;
    int sure = burst != 0 && w->link_batch > 1;
    for (int i = 0; i < w->max && !ddl_strict(w); i++) {
        struct ddl_slot *s = &w->slot[i];
        if (!s->used || s->seq >= seq || s->probe)
            continue;
        int early = ++s->later < DDL_DUP_THRESH;
        if (early && !(sure && s->burst < burst))
            continue;
        w->fast++;
        /* A request none of whose answers came was lost on the way up
         * (the radio's, as a lost block below): only the end of a burst
         * is what a full queue drops. */
        ddl_win_loss(w, s, early && s->heard ? DDL_LOSS_TAIL : DDL_LOSS_LATER);
        if (ddl_slot_send(d, s, d->x.szx, now) != ODEV_OK)
            return ODEV_E_NET;
    }
    return ODEV_OK;
}

static enum odev_err ddl_burst_heard(struct ddl *d, const struct ddl_slot *s, uint32_t now)
{
    struct ddl_win *w = &d->w;
    if (s->tx != 1 || w->link_batch <= 1)
        return ODEV_OK;
    if (s->seq > w->heard_seq)
        w->heard_seq = s->seq;
    for (int i = 0; i < w->max; i++) {
        struct ddl_slot *t = &w->slot[i];
        if (!t->used || t == s || t->burst != s->burst || t->probe)
            continue;
        t->heard = 1;
        if (t->rpos > s->rpos)
            continue;
        ddl_win_loss(w, t, DDL_LOSS_LATER);
        if (ddl_slot_send(d, t, d->x.szx, now) != ODEV_OK)
            return ODEV_E_NET;
    }
    return ODEV_OK;
}

static enum odev_err ddl_timeout(struct ddl *d, struct ddl_slot *s, uint32_t now)
{
    struct ddl_win *w = &d->w;
    int bursts = w->link_batch > 1 && !ddl_strict(w) && !s->probe;
    int whole = bursts && !s->heard, delivering = whole && w->heard_seq > s->seq;
    uint32_t burst = s->burst;
    w->timeouts++;
    ddl_win_loss(w, s, delivering ? DDL_LOSS_LATER : DDL_LOSS_TIMEOUT);
    if (!delivering) { /* RFC 6298 5.5, 5.7: backed-off timers until a sample */
        uint32_t b = 1u << (s->tx < 5 ? s->tx : 5);
        w->backoff = w->backoff > b ? w->backoff : b;
    }
    for (int i = 0; i < w->max; i++) {
        struct ddl_slot *t = &w->slot[i];
        if (t != s && (!whole || !t->used || t->burst != burst || t->probe))
            continue;
        if (ddl_slot_send(d, t, d->x.szx, now) != ODEV_OK)
            return ODEV_E_NET;
    }
    return ODEV_OK;
}

/* Mid-download 5.03 / 4.29: shrink and ask this block again after
 * Max-Age, as long as its give-up time allows. 1 = handled. */
static int ddl_busy_backoff(struct ddl *d, struct ddl_slot *s, uint32_t now)
{
    const struct ddl_block *b = &d->blk;
    uint32_t wait = (b->max_age ? b->max_age : 1u) * 1000u;
    if ((b->code != 503 && b->code != 429) || now + wait - s->first >= d->timeout_ms)
        return 0;
    d->w.busy++;
    ddl_win_loss(&d->w, s, DDL_LOSS_TIMEOUT);
    s->due = now + wait;
    return 1;
}

/* A 5.03 to the first request: ask again after the wait as a new request. */
static int ddl_first_busy(struct ddl *d, struct ddl_slot *s, uint32_t now)
{
    uint32_t wait = ddl_busy_wait(d, &d->blk, d->x.busy_waits);
    if (wait == 0)
        return 0;
    d->x.busy_waits++;
    d->w.busy++;
    s->tx = 0;
    s->due = s->first = now + wait;
    return 1;
}

static enum odev_err ddl_on_error(struct ddl *d, struct odev_result *r, struct ddl_slot *s,
                                  uint32_t now, const char **why)
{
    if (d->x.first ? ddl_first_busy(d, s, now) : ddl_busy_backoff(d, s, now))
        return ODEV_OK;
    if (d->blk.code == 402 && s->num > 0 && !s->probe)
        return ddl_probe(d, r, why);
    return ddl_fail_response(&d->blk, r, why);
}

/* The answer's round-trip sample (Karn: first transmissions only). */
static void ddl_rtt_learn(struct ddl_win *w, const struct ddl_slot *s, uint32_t now)
{
    if (s->tx == 1 && s->pos == 0) {
        ddl_rtt_sample(w, now - s->sent);
    } else if (s->tx == 1 && ddl_after(w->last_rx, s->sent) && w->srtt > 0) {
        uint32_t g = (now - w->last_rx) * 8;
        w->gap = (7 * w->gap + (g < w->srtt ? g : w->srtt)) / 8;
    }
    w->last_rx = now;
}

static enum odev_err ddl_accept(struct ddl *d, struct djournal *j, struct odev_result *r,
                                struct ddl_slot *s, uint32_t now, const char **why)
{
    struct ddl_xfer *x = &d->x;
    struct ddl_win *w = &d->w;
    const struct ddl_block *b = &d->blk;
    int stale;
    enum odev_err e = ddl_check_szx(d, b, &stale, why);
    if (e != ODEV_OK)
        return ddl_proto_fail(r, e);
    if (stale) {
        w->dups++;
        return ODEV_OK;
    }
    if ((e = ddl_check_block(d, b, s, why)) != ODEV_OK)
        return ddl_proto_fail(r, e);
    if (x->first) {
        j->etag_len = b->etag_len;
        memcpy(j->etag, b->etag, b->etag_len);
    }
    ddl_rtt_learn(w, s, now);
    if (ddl_burst_heard(d, s, now) != ODEV_OK)
        return ddl_fail(why, ODEV_E_NET, "link down");
    uint32_t num = s->num, seq = s->seq, burst = s->tx == 1 ? s->burst : 0;
    ddl_slot_free(w, s);
    if (ddl_is_stored(x, num) || num - x->base >= DDL_SPAN) {
        w->dups++;
        return ODEV_OK;
    }
    ddl_learn_size(x, b, num);
    if (x->size > d->area.size)
        return ddl_proto_fail(r, ddl_fail(why, ODEV_E_LIMIT, "package too large"));
    if (x->first && x->size)
        r->pkg_size = x->size;
    if ((e = ddl_store(d, j, r, num, why)) != ODEV_OK)
        return e;
    ddl_win_grow(w);
    return ddl_overtaken(d, seq, burst, now) == ODEV_OK ? ODEV_OK
                                                        : ddl_fail(why, ODEV_E_NET, "link down");
}

static enum odev_err ddl_on_answer(struct ddl *d, struct djournal *j, struct odev_result *r,
                                   uint32_t id, uint32_t now, const char **why)
{
    struct ddl_slot *s = ddl_slot_find(&d->w, id);
    if (!s) { /* a late copy, or an answer to an abandoned attempt */
        d->w.dups++;
        return ODEV_OK;
    }
    if (d->blk.code != 205)
        return ddl_on_error(d, r, s, now, why);
    if (ddl_package_changed(d, &d->blk, j))
        return ddl_restart(d, why);
    if (s->probe) { /* the same package: the 4.02 was not a replacement */
        ddl_slot_free(&d->w, s);
        d->x.probe = 0;
        d->x.next = d->x.base;
        return ODEV_OK;
    }
    return ddl_accept(d, j, r, s, now, why);
}

static enum odev_err ddl_timers(struct ddl *d, uint32_t now, const char **why)
{
    struct ddl_win *w = &d->w;
    for (int i = 0; i < w->max; i++) {
        struct ddl_slot *s = &w->slot[i];
        if (s->used && now - s->first >= d->timeout_ms && !ddl_after(s->first, now))
            return ddl_fail(why, ODEV_E_NET, "no answer");
        if (!s->used || ddl_after(s->due, now))
            continue;
        if (ddl_strict(w) && s->tx > DDL_MAX_RETRANSMIT)
            return ddl_fail(why, ODEV_E_NET, "no answer");
        if (ddl_timeout(d, s, now) != ODEV_OK)
            return ddl_fail(why, ODEV_E_NET, "link down");
    }
    return ODEV_OK;
}

static enum odev_err ddl_fill(struct ddl *d, uint32_t now, const char **why)
{
    struct ddl_win *w = &d->w;
    struct ddl_xfer *x = &d->x;
    int room = x->first || !x->nblocks ? 1 : (int)(w->cwnd >> 8);
    uint32_t lim = ddl_limit(x);
    int batch = d->short_on ? DDL_BATCH : 1;
    w->link_batch = batch;
    batch = batch < (int)(w->cwnd >> 9) ? batch : (int)(w->cwnd >> 9);
    if (batch > 1 && w->inflight > 0 && room - w->inflight < (batch + 1) / 2 &&
        x->next + (uint32_t)batch < lim)
        return ODEV_OK;
    if (x->probe) {
        struct ddl_slot *s = w->inflight ? NULL : ddl_slot_new(w, 0);
        if (s)
            s->probe = 1;
        return s ? ddl_slot_send(d, s, x->szx, now) : ODEV_OK;
    }
    while (w->inflight < room) {
        while (x->next < lim && (ddl_is_stored(x, x->next) || ddl_slot_busy(w, x->next)))
            x->next++;
        if (x->next >= lim || (x->first && w->inflight > 0))
            return ODEV_OK;
        if (x->next > DCOAP_BLOCK_NUM_MAX)
            return ddl_fail(why, ODEV_E_LIMIT, "block number too large");
        struct ddl_slot *s = ddl_slot_new(w, x->next++);
        if (!s)
            return ODEV_OK;
        if (ddl_slot_send(d, s, x->szx, now) != ODEV_OK)
            return ddl_fail(why, ODEV_E_NET, "link down");
    }
    return ODEV_OK;
}

static uint32_t ddl_next_due(const struct ddl *d, uint32_t now)
{
    uint32_t due = now + DDL_RTO_MAX_MS;
    for (int i = 0; i < d->w.max; i++) {
        const struct ddl_slot *s = &d->w.slot[i];
        if (s->used && ddl_after(due, s->due))
            due = s->due;
        if (s->used && ddl_after(due, s->first + d->timeout_ms))
            due = s->first + d->timeout_ms;
    }
    return due;
}

static enum odev_err ddl_step(struct ddl *d, struct djournal *j, struct odev_result *r,
                              const char **why)
{
    uint32_t id = 0, now = ddl_now(d);
    d->w.burst_pos = 0;
    enum odev_err e = ddl_fill(d, now, why);
    if (e != ODEV_OK)
        return ddl_proto_fail(r, e);
    if (d->w.inflight == 0)
        return ddl_fail(why, ODEV_E_STATE, "nothing to request");
    uint32_t due = ddl_next_due(d, now);
    e = ddl_recv(d, ddl_after(due, now) ? due - now : 0, &id);
    d->w.req_fill = 0;
    now = ddl_now(d);
    if (e == ODEV_OK)
        e = ddl_on_answer(d, j, r, id, now, why);
    else if (e != ODEV_E_TIMEOUT)
        return ddl_proto_fail(r, ddl_fail(why, e, e == ODEV_E_NET ? "link down"
                                                                   : "malformed answer"));
    else
        e = ODEV_OK;
    if (e == ODEV_OK && (e = ddl_timers(d, now, why)) != ODEV_OK)
        ddl_proto_fail(r, e);
    return e;
}

static enum odev_err ddl_finish(struct ddl *d, struct djournal *j, struct odev_result *r,
                                const char **why)
{
    if (d->port->sync(d->port->ctx, ODEV_AREA_DOWNLOAD) != ODEV_OK)
        return ddl_fail(why, ODEV_E_IO, "sync failed");
    j->phase = DJ_DOWNLOADED;
    j->offset = j->size = r->pkg_size = d->x.size;
    j->bitmap = 0;
    if (ddl_journal_save(d, j) != ODEV_OK)
        return ddl_fail(why, ODEV_E_IO, "journal save failed");
    return ODEV_OK;
}

/* --- entry point ----------------------------------------------------------- */

/* The journal's prefix and bitmap, renumbered into our block size when
 * ours is smaller, then trimmed to whole erase blocks. */
static void ddl_resume_point(struct ddl *d, const struct djournal *j)
{
    struct ddl_xfer *x = &d->x;
    unsigned jszx = 0;
    while (jszx <= DCOAP_SZX_MAX && (16u << jszx) != j->block_size)
        jszx++;
    x->size = j->size;
    if (jszx > DCOAP_SZX_MAX || (16u << jszx) > ODEV_BLOCK_MAX) {
        x->base = j->offset >> (d->szx + 4);
        ddl_count_blocks(x);
    } else {
        x->szx = (uint8_t)jszx;
        x->base = j->offset >> (jszx + 4);
        x->bitmap = j->bitmap;
        ddl_count_blocks(x);
        if (jszx > d->szx)
            ddl_resize(d, d->szx);
    }
    ddl_resume_trim(d);
    x->stored = ddl_stored_bytes(x);
}

enum odev_err ddl_download(struct ddl *d, struct djournal *j, struct odev_result *r,
                           const char **why)
{
    struct ddl_xfer *x = &d->x;
    enum odev_err e = ODEV_OK;
    memset(x, 0, sizeof *x);
    ddl_xfer_fresh(d);
    memset(&d->w, 0, sizeof d->w);
    ddl_win_reset(&d->w, d->window ? d->window : ODEV_INFLIGHT_MAX);
    x->resume = j->phase == DJ_DOWNLOADING && j->etag_len > 0 && (j->offset > 0 || j->bitmap);
    if (x->resume) {
        ddl_resume_point(d, j);
        x->resume = x->base > 0 || x->bitmap;
    }
    if (!x->resume) {
        ddl_xfer_fresh(d);
        j->offset = j->size = 0;
        j->bitmap = 0;
        j->etag_len = 0;
    } else {
        ddl_event(d, ODEV_LOG_INFO, ODEV_EV_RESUME, "resuming");
    }
    x->next = x->base;
    while (e == ODEV_OK && !(x->nblocks && x->base >= x->nblocks))
        e = ddl_step(d, j, r, why);
    if (e == ODEV_OK)
        e = ddl_finish(d, j, r, why);
    /* Link trouble is not power loss: record what we have. */
    if (e != ODEV_OK && e != ODEV_E_IO && !x->first && x->since_sync > 0 &&
        r->status != ODEV_S_VERIFY) {
        const char *w2;
        if (ddl_checkpoint(d, j, &w2) != ODEV_OK)
            ddl_log(d, ODEV_LOG_WARN, w2);
    }
    r->retx = d->w.retx;
    if (e != ODEV_OK && r->status == ODEV_S_LOCAL && e != ODEV_E_IO && e != ODEV_E_STATE)
        r->status = ODEV_S_NET;
    return e;
}
