/* serve.c - the resource handlers of ota-server: GET /fota, POST /report,
 * GET /stats, and the one structured log line per request outcome.
 *
 * Sections: 1. peers and the request log, 2. rendering answers,
 * 3. GET /fota, 4. POST /report, 5. GET /stats, 6. registration.
 * Order of work for a request, cheapest refusal first: per-source rate
 * (limit.h, 5.03 + Max-Age) -> the decision (fota.c) -> the transfer cap
 * for a block answer (5.03 + Max-Age) -> rendering. A block answer formats
 * no text and takes no lock or allocation beyond libcoap's PDU: the
 * package selection is remembered (memo.h) and the block is copied from
 * the package bytes in memory. Log lines go through a token bucket
 * ([server] log_rate) and are only formatted when the bucket allows.
 */
#include "log.h"

#include "srv.h"

#include "fota.h"
#include "report.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SRV_PEER_MAX 64
#define SRV_OPT_ROOM 64 /* token and options next to a block payload, bytes */

/* ---- 1. peers and the request log ---------------------------------------- */

static void srv_peer(coap_session_t *sess, char out[SRV_PEER_MAX])
{
    const coap_address_t *a = coap_session_get_addr_remote(sess);
    out[0] = '\0';
    if (!a || coap_print_addr(a, (unsigned char *)out, SRV_PEER_MAX) == 0)
        memcpy(out, "?", 2);
}

/* 1 if a request log line may be written now; counts the ones dropped. */
static int srv_log_allow(struct srv *s)
{
    if (log_get_level() < LOG_L_INFO)
        return 0;
    double rate = s->cfg.log_rate;
    if (rate > 0 && !srv_bucket_take(&s->log_bucket, rate, rate, srv_now_ms(), NULL)) {
        s->st.log_suppressed++;
        s->log_suppressed_pending++;
        return 0;
    }
    return 1;
}

void srv_log_flush(struct srv *s)
{
    if (!s->log_suppressed_pending)
        return;
    log_msg(LOG_L_INFO, "req suppressed=%llu log_rate=%d/s",
            (unsigned long long)s->log_suppressed_pending, s->cfg.log_rate);
    s->log_suppressed_pending = 0;
}

/* "req peer=... res=... st=... code=c.dd pc=N" and the caller's tail. */
static void srv_log_req(struct srv *s, coap_session_t *sess, const char *res, enum srv_status st,
                        const char *tail)
{
    char peer[SRV_PEER_MAX];
    const struct srv_status_info *info = srv_status_info(st);
    unsigned sti = (unsigned)st < SRV_ST__COUNT ? st : SRV_ST_INTERNAL;
    enum srv_resource r = srv_resource_of(res);
    s->st.by_status[sti]++;
    if (r < SRV_RES__COUNT)
        s->st.by_resource[r][sti]++;
    if (!srv_log_allow(s))
        return;
    srv_peer(sess, peer);
    log_msg(LOG_L_INFO, "req peer=%s res=%s st=%s code=%u.%02u pc=%d %s", peer, res, info->name,
            info->coap / 100, info->coap % 100, info->platform, tail);
}

/* ---- 2. rendering ------------------------------------------------------- */

static void srv_reply_diag(coap_pdu_t *resp, enum srv_status st, const char *msg,
                           unsigned max_age)
{
    uint8_t cf[4], ma[4];
    char json[256];
    const struct srv_status_info *info = srv_status_info(st);
    size_t n = srv_status_json(st, msg, json, sizeof json);
    coap_pdu_set_code(resp, COAP_RESPONSE_CODE(info->coap));
    if (n)
        coap_add_option(resp, COAP_OPTION_CONTENT_FORMAT,
                        coap_encode_var_safe(cf, sizeof cf, COAP_MEDIATYPE_APPLICATION_JSON), cf);
    if (max_age) /* option 14 after Content-Format 12 */
        coap_add_option(resp, COAP_OPTION_MAXAGE, coap_encode_var_safe(ma, sizeof ma, max_age),
                        ma);
    if (n)
        coap_add_data(resp, n, (const uint8_t *)json);
}

/* Options in ascending number: ETag 4, Content-Format 12, Block2 23,
 * Size2 28; then the slice, copied out of the package bytes. */
static int srv_reply_block(coap_session_t *sess, coap_pdu_t *resp, const struct srv_fota_out *o)
{
    uint8_t cf[4], sz[4], b2[3];
    if (o->slice.len + SRV_OPT_ROOM > coap_session_max_pdu_size(sess))
        return 0;
    size_t b2len = srv_block_encode(&o->slice.blk, b2);
    coap_pdu_set_code(resp, COAP_RESPONSE_CODE(205));
    coap_add_option(resp, COAP_OPTION_ETAG, SRV_ETAG_LEN, o->pkg->hash);
    coap_add_option(resp, COAP_OPTION_CONTENT_FORMAT,
                    coap_encode_var_safe(cf, sizeof cf,
                                         COAP_MEDIATYPE_APPLICATION_OCTET_STREAM), cf);
    coap_add_option(resp, COAP_OPTION_BLOCK2, b2len, b2);
    coap_add_option(resp, COAP_OPTION_SIZE2,
                    coap_encode_var_safe(sz, sizeof sz, (unsigned)o->pkg->len), sz);
    return coap_add_data(resp, o->slice.len, o->pkg->map + o->slice.off);
}

/* ---- 3. GET /fota --------------------------------------------------------- */

static enum srv_status srv_limited(struct srv *s, enum srv_verdict v, char *msg)
{
    static const char *const why[] = {"", "request rate of this source over rate_limit",
                                      "max_transfers downloads running",
                                      "no room for another source"};
    uint64_t *ctr[] = {NULL, &s->st.limited_rate, &s->st.limited_transfers,
                       &s->st.limited_sources};
    (*ctr[v])++;
    snprintf(msg, OTA_MSG_LEN, "overloaded: %s, retry later", why[v]);
    return SRV_ST_UNAVAILABLE;
}

/* Rate check of the requesting source; SRV_ST_CONTENT = go on. */
static enum srv_status srv_admit(struct srv *s, coap_session_t *sess, struct srv_src **src,
                                 unsigned *max_age, char *msg)
{
    struct srv_peer_key k;
    const coap_address_t *a = coap_session_get_addr_remote(sess);
    s->st.requests++;
    *src = NULL;
    if (!a || srv_peer_key(&a->addr.sa, &k) != OTA_OK)
        return SRV_ST_CONTENT; /* not IP: nothing to key on */
    enum srv_verdict v = srv_limit_request(&s->lim, &k, srv_now_ms(), src, max_age);
    return v == SRV_V_OK ? SRV_ST_CONTENT : srv_limited(s, v, msg);
}

static void srv_log_fota(struct srv *s, coap_session_t *sess, const struct srv_fota_out *o)
{
    char tail[OTA_MSG_LEN + 160], from[VER_SCRIPT_STR_MAX];
    const char *imei = o->parsed ? o->q.imei : "-";
    if (o->st != SRV_ST_CONTENT) {
        snprintf(tail, sizeof tail, "imei=%s msg=\"%s\"", imei, o->msg);
    } else {
        uint64_t bsize = 16u << o->slice.blk.szx;
        ver_script_format(&o->q.script, from);
        snprintf(tail, sizeof tail, "imei=%s from=%04u/%s pkg=%s block=%u/%llu size=%u", imei,
                 (unsigned)o->q.core.number, from, o->pkg->name, (unsigned)o->slice.blk.num,
                 (unsigned long long)((o->pkg->len + bsize - 1) / bsize), (unsigned)bsize);
    }
    srv_log_req(s, sess, "fota", o->st, tail);
}

/* The transfer cap, for a block about to be sent. */
static void srv_fota_cap(struct srv *s, struct srv_src *src, struct srv_fota_out *out,
                         unsigned *max_age)
{
    if (!src)
        return;
    uint64_t before = s->lim.started;
    enum srv_verdict v = srv_limit_transfer(&s->lim, src, out->pkg->hash, !out->slice.blk.more,
                                            srv_now_ms(), max_age);
    s->st.transfers_started += s->lim.started - before;
    if (v != SRV_V_OK)
        out->st = srv_limited(s, v, out->msg);
}

static void srv_hnd_fota(coap_resource_t *r, coap_session_t *sess, const coap_pdu_t *req,
                         const coap_string_t *query, coap_pdu_t *resp)
{
    struct srv *s = coap_resource_get_userdata(r);
    struct srv_fota_in in = {.query = query ? query->s : NULL,
                             .query_len = query ? query->length : 0,
                             .memo = &s->memo};
    struct srv_fota_out out;
    struct srv_src *src;
    unsigned max_age = 0;
    coap_opt_iterator_t it;
    char msg[OTA_MSG_LEN];
    if (srv_admit(s, sess, &src, &max_age, msg) != SRV_ST_CONTENT) {
        char tail[OTA_MSG_LEN + 16];
        srv_reply_diag(resp, SRV_ST_UNAVAILABLE, msg, max_age);
        snprintf(tail, sizeof tail, "imei=- msg=\"%s\"", msg);
        srv_log_req(s, sess, "fota", SRV_ST_UNAVAILABLE, tail);
        return;
    }
    coap_opt_t *b2 = coap_check_option(req, COAP_OPTION_BLOCK2, &it);
    if (b2) {
        in.has_block2 = 1;
        in.block2 = coap_opt_value(b2);
        in.block2_len = coap_opt_length(b2);
    }
    char identity[CFG_IMEI_MAX + 1];
    int secure = s->dtls ? srv_dtls_identity(sess, identity, sizeof identity) : 0;
    if (secure < 0)
        snprintf(identity, sizeof identity, "-"); /* not an IMEI: never matches */
    in.dtls_identity = secure ? identity : NULL;
    in.fleet = &s->fleet;
    in.checks = &s->checks;
    in.now_ms = srv_now_ms();
    srv_fota_decide(&s->cfg, &s->idx, &in, &out);
    if (out.st == SRV_ST_CONTENT)
        srv_fota_cap(s, src, &out, &max_age);
    if (out.st == SRV_ST_CONTENT && !srv_reply_block(sess, resp, &out)) {
        out.st = SRV_ST_INTERNAL;
        snprintf(out.msg, sizeof out.msg, "block of %zu bytes does not fit the PDU",
                 out.slice.len);
    }
    if (out.st == SRV_ST_CONTENT) {
        s->st.blocks++;
        s->st.block_bytes += out.slice.len;
        s->st.transfers_completed += !out.slice.blk.more;
        srv_pkg_count_block(out.pkg, out.slice.len);
    } else {
        srv_reply_diag(resp, out.st, out.msg, out.st == SRV_ST_UNAVAILABLE ? max_age
                                              : out.st == SRV_ST_TOO_MANY    ? out.max_age
                                                                             : 0);
    }
    srv_log_fota(s, sess, &out);
}

/* ---- 4. POST /report ------------------------------------------------------ */

static enum srv_status srv_report_store(struct srv *s, coap_session_t *sess,
                                        const coap_pdu_t *req, struct srv_report *rep,
                                        char *msg)
{
    size_t len = 0;
    const uint8_t *data = NULL;
    char peer[SRV_PEER_MAX], line[SRV_REPORT_LINE_MAX];
    coap_opt_iterator_t it;
    coap_get_data(req, &len, &data);
    if (len > SRV_REPORT_MAX || coap_check_option(req, COAP_OPTION_BLOCK1, &it)) {
        snprintf(msg, OTA_MSG_LEN, "report: payload over %d bytes", SRV_REPORT_MAX);
        return SRV_ST_TOO_LARGE;
    }
    if (srv_report_parse(data, len, rep, msg) != OTA_OK)
        return SRV_ST_BAD_FIELD;
    srv_peer(sess, peer);
    size_t n = srv_report_line(rep, peer, time(NULL), line, sizeof line);
    if (s->report_fd < 0)
        return SRV_ST_CHANGED; /* no report_log configured: logged only */
    int sync = s->cfg.report_fsync == 0;
    if (n == 0 || srv_report_append(s->report_fd, line, n, sync, msg) != OTA_OK) {
        s->st.reports_failed++;
        return SRV_ST_INTERNAL;
    }
    s->report_unsynced = !sync;
    s->st.reports_stored++;
    return SRV_ST_CHANGED;
}

static void srv_hnd_report(coap_resource_t *r, coap_session_t *sess, const coap_pdu_t *req,
                           const coap_string_t *query, coap_pdu_t *resp)
{
    struct srv *s = coap_resource_get_userdata(r);
    char msg[OTA_MSG_LEN] = "", tail[OTA_MSG_LEN + 200];
    struct srv_report rep;
    struct srv_src *src;
    unsigned max_age = 0;
    enum srv_status st = srv_admit(s, sess, &src, &max_age, msg);
    memset(&rep, 0, sizeof rep);
    if (st == SRV_ST_CONTENT)
        st = srv_report_store(s, sess, req, &rep, msg);
    if (st == SRV_ST_CHANGED) {
        coap_pdu_set_code(resp, COAP_RESPONSE_CODE(204));
        s->st.reports_success += rep.result == 0;
        s->st.reports_failure += rep.result != 0;
        snprintf(tail, sizeof tail, "imei=%s from=%s/%s to=%s/%s result=%ld", rep.imei,
                 rep.from_core, rep.from_script, rep.to_core, rep.to_script, rep.result);
    } else {
        if (st == SRV_ST_INTERNAL)
            log_msg(LOG_L_ERROR, "report: not stored: %s", msg);
        srv_reply_diag(resp, st, msg, st == SRV_ST_UNAVAILABLE ? max_age : 0);
        snprintf(tail, sizeof tail, "msg=\"%s\"", msg);
    }
    srv_log_req(s, sess, "report", st, tail);
}

void srv_report_sync(struct srv *s, uint64_t now_ms, int force)
{
    uint64_t every = (uint64_t)s->cfg.report_fsync * 1000u;
    if (s->report_fd < 0 || !s->report_unsynced || (!force && now_ms - s->last_fsync_ms < every))
        return;
    if (fsync(s->report_fd) != 0)
        log_msg(LOG_L_ERROR, "report log: fsync failed; reports may be lost on a crash");
    s->report_unsynced = 0;
    s->last_fsync_ms = now_ms;
}

/* ---- 5. GET /stats ---------------------------------------------------------- */

static void srv_hnd_stats(coap_resource_t *r, coap_session_t *sess, const coap_pdu_t *req,
                          const coap_string_t *query, coap_pdu_t *resp)
{
    struct srv *s = coap_resource_get_userdata(r);
    const coap_address_t *a = coap_session_get_addr_remote(sess);
    char json[SRV_STATS_JSON_MAX], msg[OTA_MSG_LEN] = "";
    uint8_t cf[4];
    struct srv_src *src;
    unsigned max_age = 0;
    enum srv_status st = srv_admit(s, sess, &src, &max_age, msg);
    if (st == SRV_ST_CONTENT && (!a || !srv_admin_match(&s->admin, &a->addr.sa))) {
        st = SRV_ST_FORBIDDEN;
        snprintf(msg, sizeof msg, "stats: not an admin address");
    }
    struct srv_gauges g = {(srv_now_ms() - s->start_ms) / 1000u, s->lim.nxfer, s->lim.nsrc,
                           s->idx.n, 0, 0};
    srv_stats_mem(&g.rss_kib, &g.hwm_kib);
    size_t n = st == SRV_ST_CONTENT ? srv_stats_json(&s->st, &g, json, sizeof json) : 0;
    if (st == SRV_ST_CONTENT && n == 0) {
        st = SRV_ST_INTERNAL;
        snprintf(msg, sizeof msg, "stats: do not fit one datagram");
    }
    if (st != SRV_ST_CONTENT) {
        srv_reply_diag(resp, st, msg, st == SRV_ST_UNAVAILABLE ? max_age : 0);
    } else {
        coap_pdu_set_code(resp, COAP_RESPONSE_CODE(205));
        coap_add_option(resp, COAP_OPTION_CONTENT_FORMAT,
                        coap_encode_var_safe(cf, sizeof cf, COAP_MEDIATYPE_APPLICATION_JSON), cf);
        coap_add_data(resp, n, (const uint8_t *)json);
    }
    srv_log_req(s, sess, "stats", st, msg[0] ? msg : "-");
}

/* ---- 6. registration -------------------------------------------------------- */

static enum ota_err srv_resource(struct srv *s, const char *path, coap_request_t method,
                                 coap_method_handler_t h, const char *title, char *msg)
{
    coap_resource_t *r = coap_resource_init(coap_make_str_const(path), 0);
    if (!r)
        return ota_fail(msg, OTA_E_NOMEM, "coap: cannot create resource %s", path);
    coap_register_request_handler(r, method, h);
    coap_add_attr(r, coap_make_str_const("title"), coap_make_str_const(title), 0);
    coap_resource_set_userdata(r, s);
    coap_add_resource(s->ctx, r);
    return OTA_OK;
}

enum ota_err srv_resources_add(struct srv *s, char *msg)
{
    enum ota_err e = srv_resource(s, "fota", COAP_REQUEST_GET, srv_hnd_fota,
                                  "\"firmware update\"", msg);
    if (e == OTA_OK)
        e = srv_resource(s, "report", COAP_REQUEST_POST, srv_hnd_report, "\"update report\"",
                         msg);
    if (e == OTA_OK)
        e = srv_resource(s, "stats", COAP_REQUEST_GET, srv_hnd_stats, "\"server counters\"",
                         msg);
    return e;
}
