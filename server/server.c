/* server.c - ota-server over libcoap 4.3.1: endpoints, resources, loop.
 *
 * Sections: 1. state and the libcoap log bridge, 2. rendering answers,
 * 3. resource handlers (/fota, /report; /.well-known/core is libcoap's),
 * 4. start-up and shutdown, 5. the event loop.
 * All decisions live in fota.c, select.c, block.c, report.c; this file
 * only moves bytes between them and libcoap. libcoap's block mode is never
 * enabled: Block2 is done by hand per request (block.h), so every block
 * answer is independent of every other (DESIGN.md section 4). libcoap is
 * single-threaded: handlers run inside coap_io_process, and the cache index
 * is swapped only between two coap_io_process calls, so a block copied
 * from a mapping inside a handler always reads a live mapping.
 */
#include <coap3/coap.h>

#include "log.h"

#include "server.h"

#include "fota.h"
#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SRV_TICK_MS 100   /* longest wait in coap_io_process: flag and index checks */
#define SRV_PEER_MAX 64
#define SRV_OPT_ROOM 64   /* token and options next to a block payload, bytes */

/* ---- 1. state and log bridge -------------------------------------------- */

struct srv {
    struct cfg_ota cfg;
    struct srv_index idx;
    coap_context_t *ctx;
    int coap_started;
    int report_fd; /* -1 if report_log is empty or cannot be opened */
};

static void srv_coap_log(coap_log_t level, const char *message)
{
    size_t n = strlen(message);
    while (n > 0 && (message[n - 1] == '\n' || message[n - 1] == '\r'))
        n--;
    enum log_level l = level <= LOG_ERR             ? LOG_L_ERROR
                       : level == LOG_WARNING       ? LOG_L_WARN
                       : level < LOG_DEBUG   ? LOG_L_INFO
                                                    : LOG_L_DEBUG;
    log_msg(l, "coap: %.*s", (int)n, message);
}

/* libcoap is quiet (errors only) unless we log at debug. */
static void srv_coap_log_setup(void)
{
    coap_log_t lvl = log_get_level() >= LOG_L_DEBUG ? LOG_WARNING : LOG_ERR;
    coap_set_log_handler(srv_coap_log);
    coap_set_log_level(lvl);
    coap_dtls_set_log_level(lvl);
}

static void srv_peer(coap_session_t *sess, char out[SRV_PEER_MAX])
{
    const coap_address_t *a = coap_session_get_addr_remote(sess);
    out[0] = '\0';
    if (!a || coap_print_addr(a, (unsigned char *)out, SRV_PEER_MAX) == 0)
        memcpy(out, "?", 2);
}

/* ---- 2. rendering ------------------------------------------------------- */

static void srv_reply_diag(coap_pdu_t *resp, enum srv_status st, const char *msg)
{
    uint8_t cf[4];
    char json[256];
    const struct srv_status_info *info = srv_status_info(st);
    size_t n = srv_status_json(st, msg, json, sizeof json);
    coap_pdu_set_code(resp, COAP_RESPONSE_CODE(info->coap));
    if (n == 0)
        return;
    coap_add_option(resp, COAP_OPTION_CONTENT_FORMAT,
                    coap_encode_var_safe(cf, sizeof cf, COAP_MEDIATYPE_APPLICATION_JSON), cf);
    coap_add_data(resp, n, (const uint8_t *)json);
}

/* Options in ascending number: ETag 4, Content-Format 12, Block2 23,
 * Size2 28; then the slice, copied out of the mapping. */
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

static void srv_log_fota(coap_session_t *sess, const struct srv_fota_out *o)
{
    char peer[SRV_PEER_MAX], from[VER_SCRIPT_STR_MAX], to[VER_SCRIPT_STR_MAX];
    const struct srv_status_info *info = srv_status_info(o->st);
    const char *imei = o->parsed ? o->q.imei : "-";
    srv_peer(sess, peer);
    if (o->st != SRV_ST_CONTENT) {
        log_msg(LOG_L_INFO, "fota %s imei=%s -> %u.%02u %s (%d): %s", peer, imei,
                info->coap / 100, info->coap % 100, info->name, info->platform, o->msg);
        return;
    }
    /* A download is hundreds of blocks: first and last at info, the rest
     * at debug, so the info log has two lines per download. */
    uint64_t bsize = 16u << o->slice.blk.szx;
    uint64_t nblocks = (o->pkg->len + bsize - 1) / bsize;
    int edge = o->slice.blk.num == 0 || !o->slice.blk.more;
    ver_script_format(&o->q.script, from);
    ver_script_format(&o->pkg->h.script, to);
    log_msg(edge ? LOG_L_INFO : LOG_L_DEBUG,
            "fota %s imei=%s from=%04u/%s to=%04u/%s pkg=%s block=%u/%llu size=%u -> 2.05",
            peer, imei, (unsigned)o->q.core.number, from, (unsigned)o->pkg->h.to_core, to,
            o->pkg->name, (unsigned)o->slice.blk.num, (unsigned long long)nblocks,
            (unsigned)bsize);
}

/* ---- 3. handlers --------------------------------------------------------- */

static void srv_hnd_fota(coap_resource_t *r, coap_session_t *sess, const coap_pdu_t *req,
                         const coap_string_t *query, coap_pdu_t *resp)
{
    struct srv *s = coap_resource_get_userdata(r);
    struct srv_fota_in in = {query ? query->s : NULL, query ? query->length : 0, 0, NULL, 0};
    struct srv_fota_out out;
    coap_opt_iterator_t it;
    coap_opt_t *b2 = coap_check_option(req, COAP_OPTION_BLOCK2, &it);
    if (b2) {
        in.has_block2 = 1;
        in.block2 = coap_opt_value(b2);
        in.block2_len = coap_opt_length(b2);
    }
    srv_fota_decide(&s->cfg, &s->idx, &in, &out);
    if (out.st == SRV_ST_CONTENT && !srv_reply_block(sess, resp, &out)) {
        out.st = SRV_ST_INTERNAL;
        snprintf(out.msg, sizeof out.msg, "block of %zu bytes does not fit the PDU",
                 out.slice.len);
    }
    if (out.st != SRV_ST_CONTENT)
        srv_reply_diag(resp, out.st, out.msg);
    srv_log_fota(sess, &out);
}

static enum srv_status srv_report_store(struct srv *s, coap_session_t *sess,
                                        const coap_pdu_t *req, char *msg)
{
    size_t len = 0;
    const uint8_t *data = NULL;
    char peer[SRV_PEER_MAX], line[SRV_REPORT_LINE_MAX];
    struct srv_report rep;
    coap_opt_iterator_t it;
    coap_get_data(req, &len, &data);
    if (len > SRV_REPORT_MAX || coap_check_option(req, COAP_OPTION_BLOCK1, &it)) {
        snprintf(msg, OTA_MSG_LEN, "report: payload over %d bytes", SRV_REPORT_MAX);
        return SRV_ST_TOO_LARGE;
    }
    if (srv_report_parse(data, len, &rep, msg) != OTA_OK)
        return SRV_ST_BAD_FIELD;
    srv_peer(sess, peer);
    size_t n = srv_report_line(&rep, peer, time(NULL), line, sizeof line);
    log_msg(LOG_L_INFO, "report %s imei=%s from=%s/%s to=%s/%s result=%ld", peer, rep.imei,
            rep.from_core, rep.from_script, rep.to_core, rep.to_script, rep.result);
    if (s->report_fd >= 0 && (n == 0 || srv_report_append(s->report_fd, line, n, msg) != OTA_OK))
        return SRV_ST_INTERNAL;
    return SRV_ST_CHANGED;
}

static void srv_hnd_report(coap_resource_t *r, coap_session_t *sess, const coap_pdu_t *req,
                           const coap_string_t *query, coap_pdu_t *resp)
{
    struct srv *s = coap_resource_get_userdata(r);
    char msg[OTA_MSG_LEN] = "";
    enum srv_status st = srv_report_store(s, sess, req, msg);
    if (st == SRV_ST_CHANGED) {
        coap_pdu_set_code(resp, COAP_RESPONSE_CODE(204));
        return;
    }
    if (st == SRV_ST_INTERNAL)
        log_msg(LOG_L_ERROR, "report: not stored: %s", msg);
    else
        log_msg(LOG_L_INFO, "report rejected: %s", msg);
    srv_reply_diag(resp, st, msg);
}

/* ---- 4. start-up and shutdown ------------------------------------------- */

static enum ota_err srv_report_open(struct srv *s, char *msg)
{
    if (s->report_fd >= 0)
        close(s->report_fd);
    s->report_fd = -1;
    if (!s->cfg.report_log[0])
        return OTA_OK;
    s->report_fd = open(s->cfg.report_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (s->report_fd < 0)
        return ota_fail(msg, OTA_E_IO, "report log %s: %s", s->cfg.report_log, strerror(errno));
    return OTA_OK;
}

static enum ota_err srv_listen_one(coap_context_t *ctx, const char *spec, char *msg)
{
    char host[CFG_ADDR_MAX], port_s[8];
    uint16_t port;
    struct addrinfo hints, *ai = NULL;
    enum ota_err e = cfg_split_hostport(spec, host, sizeof host, &port, 5683, msg);
    if (e != OTA_OK)
        return e;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(port_s, sizeof port_s, "%u", (unsigned)port);
    int rc = getaddrinfo(host, port_s, &hints, &ai);
    if (rc != 0)
        return ota_fail(msg, OTA_E_NET, "listen %s: %s", spec, gai_strerror(rc));
    coap_address_t addr;
    coap_address_init(&addr);
    addr.size = ai->ai_addrlen;
    memcpy(&addr.addr, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    if (!coap_new_endpoint(ctx, &addr, COAP_PROTO_UDP))
        return ota_fail(msg, OTA_E_NET, "listen %s: cannot bind (address in use or not local?)",
                        spec);
    log_msg(LOG_L_INFO, "listening on coap://%s", spec);
    return OTA_OK;
}

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

static enum ota_err srv_coap_start(struct srv *s, char *msg)
{
    enum ota_err e = OTA_OK;
    coap_startup();
    s->coap_started = 1;
    srv_coap_log_setup();
    s->ctx = coap_new_context(NULL);
    if (!s->ctx)
        return ota_fail(msg, OTA_E_NOMEM, "coap: cannot create context");
    for (int i = 0; i < s->cfg.nlisten && e == OTA_OK; i++)
        e = srv_listen_one(s->ctx, s->cfg.listen[i], msg);
    if (e == OTA_OK)
        e = srv_resource(s, "fota", COAP_REQUEST_GET, srv_hnd_fota, "\"firmware update\"", msg);
    if (e == OTA_OK)
        e = srv_resource(s, "report", COAP_REQUEST_POST, srv_hnd_report, "\"update report\"",
                         msg);
    return e;
}

static enum ota_err srv_start(struct srv *s, char *msg)
{
    uint8_t pub[CRYPTO_PUB_LEN];
    enum ota_err e = crypto_init(msg);
    if (e == OTA_OK)
        e = crypto_load_public(s->cfg.public_key, pub, msg);
    /* Bind before the (slower) first scan so a busy port fails at once;
     * no request is handled before the loop starts. */
    if (e == OTA_OK)
        e = srv_coap_start(s, msg);
    if (e == OTA_OK)
        e = srv_index_open(&s->idx, s->cfg.cache_dir, pub, msg);
    if (e == OTA_OK)
        e = srv_report_open(s, msg);
    return e;
}

static void srv_stop(struct srv *s)
{
    if (s->ctx)
        coap_free_context(s->ctx);
    s->ctx = NULL;
    if (s->coap_started)
        coap_cleanup();
    srv_index_close(&s->idx);
    if (s->report_fd >= 0)
        close(s->report_fd);
    s->report_fd = -1;
}

/* ---- 5. event loop ------------------------------------------------------- */

static uint64_t srv_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void srv_on_hup(struct srv *s)
{
    char msg[OTA_MSG_LEN];
    log_msg(LOG_L_INFO, "SIGHUP: rescanning %s, reopening the report log", s->cfg.cache_dir);
    if (srv_index_rescan(&s->idx, msg) != OTA_OK)
        log_msg(LOG_L_WARN, "index: rescan failed, keeping the previous index: %s", msg);
    if (srv_report_open(s, msg) != OTA_OK)
        log_msg(LOG_L_ERROR, "%s; reports are logged but not stored", msg);
}

static enum ota_err srv_loop(struct srv *s, const struct srv_ctl *ctl, char *msg)
{
    while (!*ctl->stop) {
        if (coap_io_process(s->ctx, SRV_TICK_MS) < 0 && errno != EINTR)
            return ota_fail(msg, OTA_E_NET, "coap: event loop failed: %s", strerror(errno));
        if (ctl->hup && *ctl->hup) {
            *ctl->hup = 0;
            srv_on_hup(s);
        }
        srv_index_tick(&s->idx, srv_now_ms());
    }
    return OTA_OK;
}

enum ota_err srv_run(const struct cfg_ota *cfg, const struct srv_ctl *ctl, char *msg)
{
    struct srv s;
    memset(&s, 0, sizeof s);
    s.cfg = *cfg;
    s.report_fd = -1;
    s.idx.inotify_fd = -1; /* srv_stop may run before srv_index_open */
    enum ota_err e = srv_start(&s, msg);
    if (e == OTA_OK) {
        log_msg(LOG_L_INFO, "ota-server: project %s, %zu package(s), block size %d", cfg->project,
                s.idx.n, cfg->block_size);
        e = srv_loop(&s, ctl, msg);
        log_msg(LOG_L_INFO, "ota-server: stopping");
    }
    srv_stop(&s);
    return e;
}
