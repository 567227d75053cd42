/* short_serve.c - the libcoap handler of GET /p/<ETag hex> (short.h).
 *
 * Order of work, cheapest refusal first: per-source rate (5.03, as for
 * /fota) -> path and options (bare 4.04 / 4.00) -> the package by ETag
 * (bare 4.04) -> the source holds a transfer of it (bare 4.03) -> the
 * slices (bare 4.02 if all are past the end) -> the burst. Refusals carry
 * no payload, so an answer to a forged source is never larger than its
 * request. The burst: every block but the last goes out as its own NON
 * 2.05 with the request's token (coap_send, in order), the last one is
 * the handler's response, so the wire order is the order asked.
 */
#include "log.h"

#include "srv.h"

#include <stdio.h>
#include <string.h>

#define SRV_SHORT_OPTS_MAX (SRV_SHORT_BURST_MAX + 8)

/* The options the parser needs, in order; 0 if there are too many. */
static size_t srv_short_options(const coap_pdu_t *req, struct srv_short_opt *out)
{
    coap_opt_iterator_t it;
    coap_opt_t *o;
    size_t n = 0;
    coap_option_iterator_init(req, &it, COAP_OPT_ALL);
    while ((o = coap_option_next(&it)) != NULL) {
        if (it.number != COAP_OPTION_URI_PATH && it.number != SRV_OPTION_Q_BLOCK2 &&
            it.number != COAP_OPTION_BLOCK2)
            continue;
        if (n == SRV_SHORT_OPTS_MAX)
            return 0;
        out[n++] = (struct srv_short_opt){it.number, coap_opt_value(o), coap_opt_length(o)};
    }
    return n;
}

static void srv_short_refuse(struct srv *s, coap_session_t *sess, coap_pdu_t *resp,
                             enum srv_status st, uint64_t *ctr, const char *why)
{
    const struct srv_status_info *info = srv_status_info(st);
    coap_pdu_set_code(resp, COAP_RESPONSE_CODE(info->coap));
    (*ctr)++;
    s->st.by_status[st]++;
    if (log_allow(LOG_K_REFUSAL, LOG_L_INFO)) {
        char peer[64] = "?";
        const coap_address_t *a = coap_session_get_addr_remote(sess);
        if (a)
            coap_print_addr(a, (unsigned char *)peer, sizeof peer);
        log_write(LOG_L_INFO, "req peer=%s res=p st=%s code=%u.%02u %s", peer, info->name,
                  info->coap / 100, info->coap % 100, why);
    }
}

/* Does src hold a transfer of this package (a full /fota answer of it
 * within transfer_idle)? */
static int srv_short_admitted(const struct srv_src *src, const struct srv_pkg *pkg)
{
    return src && (src->xfer || src->done) &&
           memcmp(src->etag, pkg->hash, SRV_LIMIT_ETAG_LEN) == 0;
}

/* One block as its own NON answer with the request's token. */
static int srv_short_send_extra(coap_session_t *sess, const coap_pdu_t *req,
                                const struct srv_pkg *pkg, const struct srv_slice *sl)
{
    coap_pdu_t *p = coap_pdu_init(COAP_MESSAGE_NON, COAP_RESPONSE_CODE(205),
                                  coap_new_message_id(sess), coap_session_max_pdu_size(sess));
    coap_bin_const_t tok = coap_pdu_get_token(req);
    if (!p)
        return 0;
    if (!coap_add_token(p, tok.length, tok.s) || !srv_block_pdu(sess, p, pkg, sl)) {
        coap_delete_pdu(p);
        return 0;
    }
    return coap_send(sess, p) != COAP_INVALID_MID;
}

static void srv_short_end_line(struct srv *s, coap_session_t *sess, const struct srv_pkg *pkg)
{
    char peer[64] = "?";
    const coap_address_t *a = coap_session_get_addr_remote(sess);
    if (!log_allow(LOG_K_DOWNLOAD, LOG_L_INFO))
        return;
    if (a)
        coap_print_addr(a, (unsigned char *)peer, sizeof peer);
    log_write(LOG_L_INFO, "download end peer=%s pkg=%s bytes=%zu via=short result=complete",
              peer, pkg->name, pkg->len);
}

/* Send the slices; counted like /fota's block answers. */
static void srv_short_burst(struct srv *s, coap_session_t *sess, const coap_pdu_t *req,
                            coap_pdu_t *resp, const struct srv_pkg *pkg,
                            const struct srv_slice *sl, unsigned n)
{
    int last = 0;
    for (unsigned i = 0; i < n; i++) {
        int ok = i + 1 < n ? srv_short_send_extra(sess, req, pkg, &sl[i])
                           : srv_block_pdu(sess, resp, pkg, &sl[i]);
        if (!ok)
            continue;
        s->st.blocks++;
        s->st.short_blocks++;
        s->st.block_bytes += sl[i].len;
        s->st.by_status[SRV_ST_CONTENT]++;
        last |= !sl[i].blk.more;
        srv_pkg_count_block(pkg, sl[i].len, 0, !sl[i].blk.more);
    }
    if (last) {
        s->st.transfers_completed++;
        srv_short_end_line(s, sess, pkg);
    }
}

void srv_short_tick(struct srv *s, uint64_t now_ms)
{
    srv_short_sync(&s->shortres, &s->idx, now_ms, (unsigned)s->cfg.short_grace,
                   (uint64_t)s->cfg.short_grace_mib << 20);
}

void srv_hnd_short(coap_resource_t *r, coap_session_t *sess, const coap_pdu_t *req,
                   const coap_string_t *query, coap_pdu_t *resp)
{
    struct srv *s = coap_resource_get_userdata(r);
    struct srv_short_opt opts[SRV_SHORT_OPTS_MAX];
    struct srv_short_req q;
    struct srv_slice sl[SRV_SHORT_BURST_MAX];
    struct srv_src *src;
    unsigned max_age = 0, n;
    char msg[OTA_MSG_LEN];
    size_t nopt = srv_short_options(req, opts);
    if (!s || !srv_short_is_ours(opts, nopt)) { /* any other unknown path */
        coap_pdu_set_code(resp, COAP_RESPONSE_CODE(404));
        return;
    }
    s->st.short_requests++;
    if (srv_admit(s, sess, &src, &max_age, msg) != SRV_ST_CONTENT) {
        srv_reply_overload(resp, max_age);
        s->st.by_status[SRV_ST_UNAVAILABLE]++;
        return;
    }
    enum ota_err e = nopt ? srv_short_parse(opts, nopt, &q, msg)
                          : ota_fail(msg, OTA_E_INVAL, "short: too many options");
    if (e != OTA_OK) {
        srv_short_refuse(s, sess, resp, e == OTA_E_NOTFOUND ? SRV_ST_NO_UPDATE : SRV_ST_BAD_BLOCK,
                         &s->st.short_bad, msg);
        return;
    }
    /* s->shortres is synced by srv_tick right after every index change
     * (srv_short_tick), and the current index is searched first: nothing
     * to sync per request. */
    const struct srv_pkg *pkg = srv_short_find(&s->shortres, &s->idx, q.etag);
    if (!pkg) {
        srv_short_refuse(s, sess, resp, SRV_ST_NO_UPDATE, &s->st.short_unknown,
                         "msg=\"unknown or expired ETag\"");
        return;
    }
    if (!srv_short_admitted(src, pkg)) {
        srv_short_refuse(s, sess, resp, SRV_ST_FORBIDDEN, &s->st.short_refused,
                         "msg=\"no /fota check of this package from this source\"");
        return;
    }
    int szx = srv_block_szx((unsigned)s->cfg.block_size);
    if (srv_short_slices(&q, pkg->len, szx < 0 ? SRV_SZX_MAX : (unsigned)szx, sl, &n, msg) !=
        OTA_OK) {
        srv_short_refuse(s, sess, resp, SRV_ST_BLOCK_RANGE, &s->st.short_bad, msg);
        return;
    }
    int last = 0;
    for (unsigned i = 0; i < n; i++)
        last |= !sl[i].blk.more;
    unsigned flags = coap_session_get_proto(sess) == COAP_PROTO_DTLS ? SRV_XF_VERIFIED : 0;
    srv_limit_transfer(&s->lim, src, pkg->hash, last, flags, srv_now_ms(),
                       &max_age); /* the same package: never refused */
    srv_short_burst(s, sess, req, resp, pkg, sl, n);
}
