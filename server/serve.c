/* serve.c - the resource handlers of ota-server: GET /fota, POST /report,
 * GET /stats, /.well-known/core, and the log lines of request outcomes.
 *
 * Sections: 1. peers and the request log, 2. rendering answers,
 * 3. GET /fota, 4. POST /report, 5. GET /stats, 6. registration.
 * Order of work for a request, cheapest refusal first: per-source rate
 * (limit.h, 5.03 + Max-Age) -> the decision (fota.c) -> the transfer cap
 * for a block answer (5.03 + Max-Age) -> rendering. A block answer formats
 * no text and takes no lock or allocation beyond libcoap's PDU: the
 * package selection is remembered (memo.h) and the block is copied from
 * the package bytes in memory.
 * Log lines (log.h budgets per kind, [server] log_rate): one line per
 * download start (block 0) and end (last block), per refusal and per
 * report at info; per-block lines at debug; lines are only formatted when
 * the budget allows.
 * Amplification: an answer to a source that is not verified (plain
 * coap://; a DTLS peer proved its address in the cookie exchange) is at
 * most 3x the request's size (RFC 7252 section 11.3, RFC 9175 section
 * 2.4): diagnostics are cut or reduced to {"code":N}, answers above the
 * rate limit carry none, and /.well-known/core lists bare paths. Block
 * answers are exempt: they need a full valid query with the product key
 * (README, "Threat model").
 */
#include "log.h"

#include "srv.h"

#include "fota.h"
#include "report.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SRV_PEER_MAX 64
#define SRV_OPT_ROOM 64 /* token and options next to a block payload, bytes */
#define SRV_AMP_FACTOR 3 /* answer bytes per request byte for unverified sources */
#define SRV_TALLY_SLOTS 4096
#define SRV_IDENTITY_MAX (VER_PROJECT_MAX + CFG_IMEI_MAX) /* PROJECT/IMEI */

/* ---- 1. peers and the request log ---------------------------------------- */

static void srv_peer(coap_session_t *sess, char out[SRV_PEER_MAX])
{
    const coap_address_t *a = coap_session_get_addr_remote(sess);
    out[0] = '\0';
    if (!a || coap_print_addr(a, (unsigned char *)out, SRV_PEER_MAX) == 0)
        memcpy(out, "?", 2);
}

/* The source's table key (address and port); 0 if it is not IP. */
static int srv_sess_key(coap_session_t *sess, struct srv_peer_key *k)
{
    const coap_address_t *a = coap_session_get_addr_remote(sess);
    return a && srv_peer_key(&a->addr.sa, k) == OTA_OK;
}

void srv_log_flush(struct srv *s)
{
    log_set_rate((unsigned)s->cfg.log_rate); /* picks up a SIGHUP within a second */
    log_flush();
}

/* "req peer=... res=... st=... code=c.dd pc=N" and the caller's tail. */
static void srv_log_line(coap_session_t *sess, enum log_level lvl, const char *res,
                         enum srv_status st, const char *tail)
{
    char peer[SRV_PEER_MAX];
    const struct srv_status_info *info = srv_status_info(st);
    srv_peer(sess, peer);
    log_write(lvl, "req peer=%s res=%s st=%s code=%u.%02u pc=%d %s", peer, res, info->name,
              info->coap / 100, info->coap % 100, info->platform, tail);
}

/* Count the outcome; write its line if the kind's budget allows. */
static void srv_log_req(struct srv *s, coap_session_t *sess, enum log_kind kind,
                        enum log_level lvl, const char *res, enum srv_status st,
                        const char *tail)
{
    unsigned sti = (unsigned)st < SRV_ST__COUNT ? st : SRV_ST_INTERNAL;
    enum srv_resource r = srv_resource_of(res);
    s->st.by_status[sti]++;
    if (r < SRV_RES__COUNT)
        s->st.by_resource[r][sti]++;
    if (log_allow(kind, lvl))
        srv_log_line(sess, lvl, res, st, tail);
}

/* The log kind of a refusal: overload limits apart, so a flood of 5.03
 * cannot hide a wrong key. */
static enum log_kind srv_refusal_kind(enum srv_status st)
{
    return st == SRV_ST_UNAVAILABLE || st == SRV_ST_TOO_MANY ? LOG_K_LIMIT : LOG_K_REFUSAL;
}

/* ---- 2. rendering ------------------------------------------------------- */

/* The request's size on the wire: header, token, options, payload. */
static size_t srv_req_size(const coap_pdu_t *req)
{
    coap_opt_iterator_t it;
    coap_opt_t *o;
    size_t len = 0, n = 4 + coap_pdu_get_token(req).length;
    const uint8_t *data;
    coap_option_iterator_init(req, &it, COAP_OPT_ALL);
    while ((o = coap_option_next(&it)) != NULL)
        n += coap_opt_size(o);
    if (coap_get_data(req, &len, &data) && len)
        n += 1 + len;
    return n;
}

/* Most bytes an answer may take: unbounded for a DTLS peer (its address
 * is proven), SRV_AMP_FACTOR x the request otherwise. */
static size_t srv_budget(coap_session_t *sess, const coap_pdu_t *req)
{
    if (coap_session_get_proto(sess) == COAP_PROTO_DTLS)
        return (size_t)-1;
    return SRV_AMP_FACTOR * srv_req_size(req);
}

/* Code, Max-Age if any, and the diagnostic cut to the budget. */
static void srv_reply_diag(coap_pdu_t *resp, enum srv_status st, const char *msg,
                           unsigned max_age, size_t budget)
{
    uint8_t cf[4], ma[4];
    char json[256];
    const struct srv_status_info *info = srv_status_info(st);
    /* header, token, Content-Format (2), Max-Age (at most 6), marker (1) */
    size_t fixed = 4 + coap_pdu_get_token(resp).length + 2 + (max_age ? 6 : 0) + 1;
    size_t room = budget > fixed ? budget - fixed : 0;
    size_t n = srv_status_json(st, msg, json, room < sizeof json ? room : sizeof json);
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

/* Above the rate limit: 5.03 and Max-Age, nothing to amplify. */
void srv_reply_overload(coap_pdu_t *resp, unsigned max_age)
{
    srv_reply_diag(resp, SRV_ST_UNAVAILABLE, NULL, max_age, 0);
}

/* Options in ascending number: ETag 4, Content-Format 12, Block2 23,
 * Size2 28; then the slice, copied out of the package bytes. */
int srv_block_pdu(coap_session_t *sess, coap_pdu_t *resp, const struct srv_pkg *pkg,
                  const struct srv_slice *slice)
{
    uint8_t cf[4], sz[4], b2[3];
    if (slice->len + SRV_OPT_ROOM > coap_session_max_pdu_size(sess))
        return 0;
    size_t b2len = srv_block_encode(&slice->blk, b2);
    coap_pdu_set_code(resp, COAP_RESPONSE_CODE(205));
    coap_add_option(resp, COAP_OPTION_ETAG, SRV_ETAG_LEN, pkg->hash);
    coap_add_option(resp, COAP_OPTION_CONTENT_FORMAT,
                    coap_encode_var_safe(cf, sizeof cf,
                                         COAP_MEDIATYPE_APPLICATION_OCTET_STREAM), cf);
    coap_add_option(resp, COAP_OPTION_BLOCK2, b2len, b2);
    coap_add_option(resp, COAP_OPTION_SIZE2,
                    coap_encode_var_safe(sz, sizeof sz, (unsigned)pkg->len), sz);
    return coap_add_data(resp, slice->len, pkg->map + slice->off);
}

static int srv_reply_block(coap_session_t *sess, coap_pdu_t *resp, const struct srv_fota_out *o)
{
    return srv_block_pdu(sess, resp, o->pkg, &o->slice);
}

/* ---- 3. GET /fota --------------------------------------------------------- */

enum srv_status srv_limited(struct srv *s, enum srv_verdict v, char *msg)
{
    static const char *const why[] = {"", "request rate of this source over rate_limit",
                                      "max_transfers downloads running",
                                      "no room for another source",
                                      "max_transfers_per_address downloads from this address",
                                      "the free download slots are kept for coaps:// devices"};
    uint64_t *ctr[] = {NULL, &s->st.limited_rate, &s->st.limited_transfers,
                       &s->st.limited_sources, &s->st.limited_address,
                       &s->st.limited_reserved};
    (*ctr[v])++;
    snprintf(msg, OTA_MSG_LEN, "overloaded: %s, retry later", why[v]);
    return SRV_ST_UNAVAILABLE;
}

/* Rate check of the requesting source; SRV_ST_CONTENT = go on. */
enum srv_status srv_admit(struct srv *s, coap_session_t *sess, struct srv_src **src,
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

/* "download start" at block 0 and "download end" at the last block. A
 * download is many stateless requests: its start time is kept per source
 * in a small table (s->downloads) only for the end line's duration. */
static void srv_log_download(struct srv *s, coap_session_t *sess, const struct srv_fota_out *o,
                             const char *from, unsigned long long nblk, unsigned bsize)
{
    struct srv_peer_key k;
    struct srv_tally_slot *t = NULL;
    uint64_t now = srv_now_ms();
    int first = o->slice.blk.num == 0, last = !o->slice.blk.more;
    if (srv_sess_key(sess, &k))
        t = first ? srv_tally_get(&s->downloads, &k, now) : srv_tally_find(&s->downloads, &k);
    if (t && first)
        t->start_ms = now;
    if (log_allow(LOG_K_DOWNLOAD, LOG_L_INFO)) {
        char peer[SRV_PEER_MAX], dur[32] = "?";
        srv_peer(sess, peer);
        if (t)
            snprintf(dur, sizeof dur, "%llu", (unsigned long long)(now - t->start_ms));
        if (!last)
            log_write(LOG_L_INFO, "download start peer=%s imei=%s from=%04u/%s pkg=%s "
                      "bytes=%zu blocks=%llu size=%u", peer, o->q.imei,
                      (unsigned)o->q.core.number, from, o->pkg->name, o->pkg->len, nblk, bsize);
        else
            log_write(LOG_L_INFO, "download end peer=%s imei=%s pkg=%s bytes=%zu blocks=%llu "
                      "duration_ms=%s result=complete", peer, o->q.imei, o->pkg->name,
                      o->pkg->len, nblk, dur);
    }
    if (t && last)
        srv_tally_drop(t);
}

/* A block answer: counted; a debug line; the download's start or end line.
 * Blocks in between format no text unless the level is debug. */
static void srv_log_block(struct srv *s, coap_session_t *sess, const struct srv_fota_out *o)
{
    char tail[OTA_MSG_LEN + 160], from[VER_SCRIPT_STR_MAX];
    int edge = o->slice.blk.num == 0 || !o->slice.blk.more;
    s->st.by_status[SRV_ST_CONTENT]++;
    s->st.by_resource[SRV_RES_FOTA][SRV_ST_CONTENT]++;
    int debug = log_allow(LOG_K_REQ, LOG_L_DEBUG);
    if (!edge && !debug)
        return;
    unsigned bsize = 16u << o->slice.blk.szx;
    unsigned long long nblk = (unsigned long long)((o->pkg->len + bsize - 1) / bsize);
    ver_script_format(&o->q.script, from);
    if (debug) {
        snprintf(tail, sizeof tail, "imei=%s from=%04u/%s pkg=%s block=%u/%llu size=%u",
                 o->q.imei, (unsigned)o->q.core.number, from, o->pkg->name,
                 (unsigned)o->slice.blk.num, nblk, bsize);
        srv_log_line(sess, LOG_L_DEBUG, "fota", SRV_ST_CONTENT, tail);
    }
    if (edge)
        srv_log_download(s, sess, o, from, nblk, bsize);
}

static void srv_log_fota(struct srv *s, coap_session_t *sess, const struct srv_fota_out *o)
{
    char tail[OTA_MSG_LEN + 40];
    if (o->st == SRV_ST_CONTENT) {
        srv_log_block(s, sess, o);
        return;
    }
    snprintf(tail, sizeof tail, "imei=%s msg=\"%s\"", o->parsed ? o->q.imei : "-", o->msg);
    srv_log_req(s, sess, srv_refusal_kind(o->st), LOG_L_INFO, "fota", o->st, tail);
}

enum srv_status srv_transfer_cap(struct srv *s, struct srv_src *src,
                                 const struct sockaddr *peer, const struct srv_pkg *pkg,
                                 unsigned flags, int last, unsigned *max_age, char *msg,
                                 int *started)
{
    if (started)
        *started = 0;
    if (!src)
        return SRV_ST_CONTENT;
    if (peer && srv_admin_match(&s->proxies, peer))
        flags |= SRV_XF_TRUSTED;
    uint64_t before = s->lim.started;
    enum srv_verdict v = srv_limit_transfer(&s->lim, src, pkg->hash, last, flags, srv_now_ms(),
                                            max_age);
    s->st.transfers_started += s->lim.started - before;
    if (started)
        *started = s->lim.started != before;
    return v == SRV_V_OK ? SRV_ST_CONTENT : srv_limited(s, v, msg);
}

/* The transfer caps, for a block about to be sent; verified = coaps://
 * and the query's IMEI is the DTLS identity (fota.c checked it). 1 if the
 * block starts a transfer (counted per package). */
static int srv_fota_cap(struct srv *s, coap_session_t *sess, struct srv_src *src,
                        int verified, struct srv_fota_out *out, unsigned *max_age)
{
    const coap_address_t *a = coap_session_get_addr_remote(sess);
    unsigned flags = verified ? SRV_XF_VERIFIED : 0;
    if (out->slice.blk.num == 0)
        flags |= SRV_XF_FIRST;
    int started;
    out->st = srv_transfer_cap(s, src, a ? &a->addr.sa : NULL, out->pkg, flags,
                               !out->slice.blk.more, max_age, out->msg, &started);
    return started;
}

/* A coaps:// session's identity as PROJECT/IMEI (dtls.h); "-" (matches no
 * query) when it is not one. 0 for plain coap://, else 1 (secure). */
static int srv_session_identity(struct srv *s, coap_session_t *sess, char *out, size_t n)
{
    char raw[SRV_IDENTITY_MAX];
    int secure = s->dtls ? srv_dtls_identity(sess, raw, sizeof raw) : 0;
    if (secure == 0)
        return 0;
    if (secure < 0 || !srv_dtls_full_identity(s->dtls, raw, out, n))
        snprintf(out, n, "-");
    return 1;
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
        srv_reply_overload(resp, max_age);
        snprintf(tail, sizeof tail, "imei=- msg=\"%s\"", msg);
        srv_log_req(s, sess, LOG_K_LIMIT, LOG_L_INFO, "fota", SRV_ST_UNAVAILABLE, tail);
        return;
    }
    coap_opt_t *b2 = coap_check_option(req, COAP_OPTION_BLOCK2, &it);
    if (b2) {
        in.has_block2 = 1;
        in.block2 = coap_opt_value(b2);
        in.block2_len = coap_opt_length(b2);
    }
    char identity[SRV_IDENTITY_MAX];
    int secure = srv_session_identity(s, sess, identity, sizeof identity);
    in.dtls_identity = secure ? identity : NULL;
    in.projects = &s->projects;
    in.peer = src ? &src->key : NULL;
    in.now_ms = srv_now_ms();
    in.census = &s->census;
    in.ondemand = &s->ondemand;
    in.now_s = (int64_t)time(NULL);
    srv_fota_decide(&s->cfg, &s->idx, &in, &out);
    int started = 0;
    if (out.st == SRV_ST_CONTENT)
        started = srv_fota_cap(s, sess, src, secure > 0, &out, &max_age);
    if (out.st == SRV_ST_CONTENT && !srv_reply_block(sess, resp, &out)) {
        out.st = SRV_ST_INTERNAL;
        snprintf(out.msg, sizeof out.msg, "block of %zu bytes does not fit the PDU",
                 out.slice.len);
    }
    if (out.st == SRV_ST_CONTENT) {
        s->st.blocks++;
        s->st.block_bytes += out.slice.len;
        s->st.transfers_completed += !out.slice.blk.more;
        srv_pkg_count_block(out.pkg, out.slice.len, started, !out.slice.blk.more);
    } else {
        srv_reply_diag(resp, out.st, out.msg,
                       out.st == SRV_ST_UNAVAILABLE ? (out.building ? out.max_age : max_age)
                       : out.st == SRV_ST_TOO_MANY  ? out.max_age
                                                    : 0,
                       srv_budget(sess, req));
    }
    if (out.check)
        srv_console_seen_check(s, &out);
    srv_log_fota(s, sess, &out);
}

/* ---- 4. POST /report ------------------------------------------------------ */

/* A report over coaps:// must be about the session's own device: its
 * imei is the DTLS identity (4.03 otherwise, as for GET /fota), and the
 * stored line carries the verified identity. Plain coap:// reports are
 * unverified (README, "Threat model"). */
static enum srv_status srv_report_identity(struct srv *s, coap_session_t *sess,
                                           struct srv_report *rep, char *msg)
{
    char id[SRV_IDENTITY_MAX];
    if (!srv_session_identity(s, sess, id, sizeof id))
        return SRV_ST_CONTENT;
    /* PROJECT/IMEI: the IMEI must be the report's, and so must the
     * project when the report names one. */
    const char *slash = strchr(id, '/');
    size_t pl = slash ? (size_t)(slash - id) : 0;
    if (!slash || strcmp(slash + 1, rep->imei) != 0 ||
        (rep->project[0] && (strlen(rep->project) != pl || memcmp(id, rep->project, pl)))) {
        snprintf(msg, OTA_MSG_LEN, "report: imei %s is not this DTLS session's identity",
                 rep->imei);
        return SRV_ST_FORBIDDEN;
    }
    ota_strlcpy(rep->identity, slash + 1, sizeof rep->identity);
    return SRV_ST_CONTENT;
}

/* report_interval applies from the next report after a SIGHUP. */
static struct srv_checks *srv_report_checks(struct srv *s)
{
    char msg[OTA_MSG_LEN];
    if (s->report_interval_now != s->cfg.report_interval) {
        srv_checks_free(&s->report_checks);
        s->report_interval_now = s->cfg.report_interval;
        if (srv_checks_init(&s->report_checks, (unsigned)s->cfg.report_interval, msg) != OTA_OK)
            log_kmsg(LOG_K_REPORT, LOG_L_ERROR, "report_interval not enforced: %s", msg);
    }
    return &s->report_checks;
}

/* Reports per address (report_rate a minute) and per IMEI (one each
 * report_interval): 4.29 with Max-Age, counted. */
static enum srv_status srv_report_admit(struct srv *s, coap_session_t *sess,
                                        const struct srv_report *rep, unsigned *max_age,
                                        char *msg)
{
    struct srv_peer_key k, host;
    uint64_t now = srv_now_ms(), wait_ms = 0;
    double per_s = s->cfg.report_rate / 60.0;
    int have_key = srv_sess_key(sess, &k);
    if (per_s > 0 && have_key) {
        srv_peer_key_host(&k, &host);
        struct srv_tally_slot *t = srv_tally_get(&s->report_hosts, &host, now);
        if (t && !ota_bucket_take(&t->bucket, per_s, s->cfg.report_rate, now, &wait_ms)) {
            *max_age = (unsigned)((wait_ms + 999) / 1000);
            snprintf(msg, OTA_MSG_LEN, "report: over report_rate (%d a minute) from this "
                     "address", s->cfg.report_rate);
            s->st.reports_limited++;
            return SRV_ST_TOO_MANY;
        }
    }
    /* The same budgets as update checks: a coap:// report naming an IMEI
     * cannot spend the budget of the device that owns it. */
    struct srv_check_req who = {rep->imei, rep->identity[0] != 0, have_key ? &k : NULL, 1};
    *max_age = srv_checks_hit(srv_report_checks(s), &who, now);
    if (*max_age) {
        snprintf(msg, OTA_MSG_LEN, "report: imei %s reported less than report_interval (%d s) "
                 "ago", rep->imei, s->cfg.report_interval);
        s->st.reports_limited++;
        return SRV_ST_TOO_MANY;
    }
    return SRV_ST_CONTENT;
}

/* Append the line unless the log is at report_max_bytes (logrotate
 * renames it; the server never does) or cannot be written (disk full):
 * both are 5.03 with Max-Age, so devices keep the report and retry. */
static enum srv_status srv_report_write(struct srv *s, const char *line, size_t n,
                                        unsigned *max_age, char *msg)
{
    struct stat sb;
    int sync = s->cfg.report_fsync == 0;
    if (n == 0) {
        snprintf(msg, OTA_MSG_LEN, "report: line does not fit %d bytes", SRV_REPORT_LINE_MAX);
        return SRV_ST_INTERNAL;
    }
    *max_age = (unsigned)s->cfg.retry_after;
    if (s->cfg.report_max_bytes > 0 && fstat(s->report_fd, &sb) == 0 &&
        (uint64_t)sb.st_size + n > (uint64_t)s->cfg.report_max_bytes) {
        s->st.reports_capped++;
        snprintf(msg, OTA_MSG_LEN, "report log at report_max_bytes (%d), not stored",
                 s->cfg.report_max_bytes);
        return SRV_ST_UNAVAILABLE;
    }
    if (srv_report_append(s->report_fd, line, n, sync, msg) != OTA_OK) {
        s->st.reports_not_stored++;
        return SRV_ST_UNAVAILABLE;
    }
    *max_age = 0;
    s->report_unsynced = !sync;
    s->st.reports_stored++;
    return SRV_ST_CHANGED;
}

static enum srv_status srv_report_store(struct srv *s, coap_session_t *sess,
                                        const coap_pdu_t *req, struct srv_report *rep,
                                        unsigned *max_age, char *msg)
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
    enum srv_status st = srv_report_identity(s, sess, rep, msg);
    if (st == SRV_ST_CONTENT)
        st = srv_report_admit(s, sess, rep, max_age, msg);
    if (st != SRV_ST_CONTENT)
        return st;
    if (s->report_fd < 0)
        return SRV_ST_CHANGED; /* no report_log configured: logged only */
    srv_peer(sess, peer);
    return srv_report_write(s, line, srv_report_line(rep, peer, time(NULL), line, sizeof line),
                            max_age, msg);
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
    if (st != SRV_ST_CONTENT) {
        srv_reply_overload(resp, max_age);
        snprintf(tail, sizeof tail, "msg=\"%s\"", msg);
        srv_log_req(s, sess, LOG_K_LIMIT, LOG_L_INFO, "report", st, tail);
        return;
    }
    st = srv_report_store(s, sess, req, &rep, &max_age, msg);
    if (st == SRV_ST_CHANGED) {
        coap_pdu_set_code(resp, COAP_RESPONSE_CODE(204));
        s->st.reports_success += rep.result == 0;
        s->st.reports_failure += rep.result != 0;
        snprintf(tail, sizeof tail, "imei=%s from=%s/%s to=%s/%s result=%ld", rep.imei,
                 rep.from_core, rep.from_script, rep.to_core, rep.to_script, rep.result);
    } else {
        srv_reply_diag(resp, st, msg, max_age, srv_budget(sess, req));
        snprintf(tail, sizeof tail, "imei=%s msg=\"%s\"", rep.imei[0] ? rep.imei : "-", msg);
    }
    srv_log_req(s, sess, LOG_K_REPORT,
                st == SRV_ST_UNAVAILABLE || st == SRV_ST_INTERNAL ? LOG_L_ERROR : LOG_L_INFO,
                "report", st, tail);
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

/* Counters kept outside s->st (the logger's, the gate's, the DTLS
 * module's) copied in, and the gauges only this thread can compute; memory
 * is left to the caller. CoAP /stats and the admin snapshot share it, so
 * the two JSON answers are the same. */
void srv_stats_gather(struct srv *s, struct srv_gauges *g)
{
    s->st.log_suppressed = log_suppressed_total();
    s->st.screened = s->gate.answered;
    s->st.census_pairs = s->census.n;
    s->st.census_dropped = s->census.dropped;
    s->st.build_requests = s->ondemand.requests;
    s->st.build_waits = s->ondemand.waits;
    if (s->dtls) {
        s->st.dtls_handshakes = s->dtls->handshakes;
        s->st.dtls_refused = s->dtls->refused;
        s->st.dtls_failed = s->dtls->failed;
        s->st.dtls_gated = s->dtls->gated;
        s->st.dtls_pending = s->dtls->pending;
    }
    *g = (struct srv_gauges){.uptime_s = (srv_now_ms() - s->start_ms) / 1000u,
                             .transfers = s->lim.nmoving,
                             .transfer_slots = s->lim.nxfer,
                             .sources = s->lim.nsrc,
                             .packages = s->idx.n,
                             .packages_rejected = s->idx.nall - s->idx.n,
};
    size_t imeis;
    uint32_t bp;
    srv_projects_fleet_gauges(&s->projects, &g->has_allowlist, &g->has_rollout, &imeis, &bp);
    g->allowlist_imeis = imeis;
    g->rollout_bp = bp;
}

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
    if (st != SRV_ST_CONTENT) {
        srv_reply_overload(resp, max_age);
        srv_log_req(s, sess, LOG_K_LIMIT, LOG_L_INFO, "stats", st, msg);
        return;
    }
    if (!a || !srv_admin_match(&s->admin, &a->addr.sa)) {
        st = SRV_ST_FORBIDDEN;
        snprintf(msg, sizeof msg, "stats: not an admin address");
    }
    struct srv_gauges g;
    srv_stats_gather(s, &g);
    srv_stats_mem(&g.rss_kib, &g.hwm_kib);
    size_t n = st == SRV_ST_CONTENT ? srv_stats_json(&s->st, &g, json, sizeof json) : 0;
    if (st == SRV_ST_CONTENT && n == 0) {
        st = SRV_ST_INTERNAL;
        snprintf(msg, sizeof msg, "stats: do not fit one datagram");
    }
    if (st != SRV_ST_CONTENT) {
        srv_reply_diag(resp, st, msg, 0, srv_budget(sess, req));
    } else {
        coap_pdu_set_code(resp, COAP_RESPONSE_CODE(205));
        coap_add_option(resp, COAP_OPTION_CONTENT_FORMAT,
                        coap_encode_var_safe(cf, sizeof cf, COAP_MEDIATYPE_APPLICATION_JSON), cf);
        coap_add_data(resp, n, (const uint8_t *)json);
    }
    srv_log_req(s, sess, st == SRV_ST_CONTENT ? LOG_K_REQ : LOG_K_REFUSAL, LOG_L_INFO, "stats",
                st, msg[0] ? msg : "-");
}

/* ---- 6. registration -------------------------------------------------------- */

/* /.well-known/core: bare paths, so the answer to this 21-byte request
 * stays within 3x (libcoap's own listing with titles is 4.9x). */
static void srv_hnd_wkc(coap_resource_t *r, coap_session_t *sess, const coap_pdu_t *req,
                        const coap_string_t *query, coap_pdu_t *resp)
{
    static const char links[] = "</fota>,</report>,</stats>";
    uint8_t cf[4];
    coap_pdu_set_code(resp, COAP_RESPONSE_CODE(205));
    coap_add_option(resp, COAP_OPTION_CONTENT_FORMAT,
                    coap_encode_var_safe(cf, sizeof cf, COAP_MEDIATYPE_APPLICATION_LINK_FORMAT),
                    cf);
    coap_add_data(resp, sizeof links - 1, (const uint8_t *)links);
}

/* Unknown paths and methods: the bare code, no reason phrase. */
static void srv_hnd_not_found(coap_resource_t *r, coap_session_t *sess, const coap_pdu_t *req,
                              const coap_string_t *query, coap_pdu_t *resp)
{
    coap_pdu_set_code(resp, COAP_RESPONSE_CODE(404));
}

static void srv_hnd_bad_method(coap_resource_t *r, coap_session_t *sess, const coap_pdu_t *req,
                               const coap_string_t *query, coap_pdu_t *resp)
{
    coap_pdu_set_code(resp, COAP_RESPONSE_CODE(405));
}

/* Every method on r: h for `method` (0 = none), other for the rest. */
static void srv_methods(coap_resource_t *r, coap_request_t method, coap_method_handler_t h,
                        coap_method_handler_t other)
{
    for (int m = COAP_REQUEST_GET; m <= COAP_REQUEST_IPATCH; m++)
        coap_register_request_handler(r, (coap_request_t)m, m == (int)method ? h : other);
}

static enum ota_err srv_resource(struct srv *s, const char *path, coap_request_t method,
                                 coap_method_handler_t h, char *msg)
{
    coap_resource_t *r = coap_resource_init(coap_make_str_const(path), 0);
    if (!r)
        return ota_fail(msg, OTA_E_NOMEM, "coap: cannot create resource %s", path);
    srv_methods(r, method, h, srv_hnd_bad_method);
    coap_resource_set_userdata(r, s);
    coap_add_resource(s->ctx, r);
    return OTA_OK;
}

enum ota_err srv_resources_add(struct srv *s, char *msg)
{
    log_set_rate((unsigned)s->cfg.log_rate);
    enum ota_err e = srv_tally_init(&s->downloads, SRV_TALLY_SLOTS, msg);
    if (e == OTA_OK)
        e = srv_tally_init(&s->report_hosts, SRV_TALLY_SLOTS, msg);
    if (e == OTA_OK)
        e = srv_short_init(&s->shortres, msg);
    coap_register_option(s->ctx, SRV_OPTION_Q_BLOCK2); /* else libcoap refuses it: 4.02 */
    if (e == OTA_OK)
        e = srv_resource(s, "fota", COAP_REQUEST_GET, srv_hnd_fota, msg);
    if (e == OTA_OK)
        e = srv_resource(s, "report", COAP_REQUEST_POST, srv_hnd_report, msg);
    if (e == OTA_OK)
        e = srv_resource(s, "stats", COAP_REQUEST_GET, srv_hnd_stats, msg);
    if (e == OTA_OK)
        e = srv_resource(s, ".well-known/core", COAP_REQUEST_GET, srv_hnd_wkc, msg);
    coap_resource_t *unknown = e == OTA_OK ? coap_resource_unknown_init(srv_hnd_not_found) : NULL;
    if (e == OTA_OK && !unknown)
        e = ota_fail(msg, OTA_E_NOMEM, "coap: cannot create the unknown-path resource");
    if (unknown) {
        /* GET /p/<ETag hex> (short.h) has no fixed path: it is an unknown one */
        srv_methods(unknown, COAP_REQUEST_GET, srv_hnd_short, srv_hnd_not_found);
        coap_resource_set_userdata(unknown, s);
        coap_add_resource(s->ctx, unknown);
    }
    return e;
}

void srv_resources_free(struct srv *s)
{
    srv_tally_free(&s->downloads);
    srv_tally_free(&s->report_hosts);
    srv_short_free(&s->shortres);
    srv_checks_free(&s->report_checks);
}
