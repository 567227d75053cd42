/* devhttp.c - the device HTTP API (devhttp.h).
 *
 * Sections: 1. one answer's state and its end, 2. the decision under
 * s->lock, 3. rendering, 4. listener start and stop.
 */
#include "devhttp.h"

#include "srv.h"

#include "fota.h"
#include "http.h"
#include "log.h"
#include "range.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SRV_DEVHTTP_PEER_MAX 48

/* ---- 1. one answer carrying a package ---------------------------------------- */

/* Lives from the decision to the end of the answer (srv_devhttp_done). */
struct srv_devhttp_dl {
    struct srv *s;
    struct srv_pkg *pkg;   /* a reference of its own */
    struct srv_peer_key key;
    int has_key;
    uint64_t first, len;   /* the bytes of the answer */
    int started;           /* the answer began a transfer (srv_transfer_cap) */
    uint64_t start_ms;
    char imei[CFG_IMEI_MAX];
    char peer[SRV_DEVHTTP_PEER_MAX];
};

/* libmicrohttpd no longer needs the body bytes. */
static void srv_devhttp_release(void *ctx)
{
    srv_pkg_unref(ctx);
}

/* The answer ended: its transfer slot is free; counted and logged. */
static void srv_devhttp_done(void *ctx, int complete)
{
    struct srv_devhttp_dl *d = ctx;
    struct srv *s = d->s;
    int last = complete && d->first + d->len == d->pkg->len;
    uint64_t now = srv_now_ms();
    pthread_mutex_lock(&s->lock);
    if (d->has_key)
        srv_limit_end(&s->lim, &d->key, d->pkg->hash, now);
    if (complete) {
        s->st.block_bytes += d->len;
        s->st.transfers_completed += last;
    }
    if (complete || d->started) /* a download begun counts even if it broke */
        srv_pkg_count_block(d->pkg, complete ? (size_t)d->len : 0, d->started, last);
    if (log_allow(LOG_K_DOWNLOAD, LOG_L_INFO))
        log_write(LOG_L_INFO, "http download end peer=%s imei=%s pkg=%s bytes=%llu "
                  "duration_ms=%llu result=%s", d->peer, d->imei, d->pkg->name,
                  (unsigned long long)(complete ? d->len : 0),
                  (unsigned long long)(now - d->start_ms), complete ? "complete" : "broken");
    pthread_mutex_unlock(&s->lock);
    srv_pkg_unref(d->pkg);
    free(d);
}

/* ---- 2. the decision ---------------------------------------------------------- */

struct srv_devhttp_ans {
    enum srv_status st;
    char msg[OTA_MSG_LEN];
    unsigned retry_after;
    uint64_t total;             /* the package's length (416's Content-Range) */
    int partial;                /* 206 */
    struct srv_range rg;
    struct srv_devhttp_dl *dl;  /* SRV_ST_CONTENT: the answer's state */
    char location[SRV_HTTP_HDR_VALUE_MAX]; /* non-empty: 302 */
};

/* The raw query has the parameter key=value (values are never decoded:
 * query.h refuses '%'). */
static int srv_devhttp_param_is(const char *q, size_t n, const char *kv)
{
    size_t k = strlen(kv);
    for (size_t i = 0; i < n;) {
        const char *amp = memchr(q + i, '&', n - i);
        size_t len = amp ? (size_t)(amp - (q + i)) : n - i;
        if (len == k && memcmp(q + i, kv, k) == 0)
            return 1;
        i += len + 1;
    }
    return 0;
}

static void srv_devhttp_etag(const struct srv_pkg *p, char out[2 * SRV_ETAG_LEN + 3])
{
    out[0] = '"';
    for (int i = 0; i < SRV_ETAG_LEN; i++)
        snprintf(out + 1 + 2 * i, 3, "%02x", p->hash[i]);
    memcpy(out + 1 + 2 * SRV_ETAG_LEN, "\"", 2);
}

/* Range and If-Range against the chosen package. */
static enum srv_status srv_devhttp_range(const struct srv_http_req *q, const struct srv_pkg *p,
                                         struct srv_devhttp_ans *a)
{
    char etag[2 * SRV_ETAG_LEN + 3];
    srv_devhttp_etag(p, etag);
    a->total = p->len;
    a->rg.first = 0;
    a->rg.last = p->len - 1;
    if (!srv_range_if_range(srv_http_req_header(q, "If-Range"), etag))
        return SRV_ST_CONTENT; /* another package than the module started on: all of it */
    switch (srv_range_parse(srv_http_req_header(q, "Range"), p->len, &a->rg)) {
    case SRV_RANGE_NONE:
        return SRV_ST_CONTENT;
    case SRV_RANGE_OK:
        a->partial = 1;
        return SRV_ST_CONTENT;
    case SRV_RANGE_UNSAT:
        snprintf(a->msg, sizeof a->msg, "Range: past the end of the package (%zu bytes)",
                 p->len);
        return SRV_ST_BLOCK_RANGE;
    case SRV_RANGE_BAD:
        break;
    }
    snprintf(a->msg, sizeof a->msg, "Range: expected bytes=N- (one range)");
    return SRV_ST_BAD_FIELD;
}

static void srv_devhttp_redirect(const struct srv *s, const struct srv_pkg *p,
                                 struct srv_devhttp_ans *a)
{
    const char *base = s->cfg.http_redirect_base;
    size_t n = strlen(base);
    snprintf(a->location, sizeof a->location, "%s%s%s", base,
             n && base[n - 1] == '/' ? "" : "/", p->name);
}

/* The answer's state, with a reference for it and one for the body. */
static enum srv_status srv_devhttp_start_dl(struct srv *s, const struct srv_fota_out *o,
                                            const struct srv_peer_key *key, int has_key,
                                            const char *peer, struct srv_devhttp_ans *a)
{
    struct srv_devhttp_dl *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(a->msg, sizeof a->msg, "out of memory");
        return SRV_ST_UNAVAILABLE;
    }
    d->s = s;
    d->pkg = (struct srv_pkg *)(uintptr_t)o->pkg;
    srv_pkg_ref(d->pkg);
    srv_pkg_ref(d->pkg);
    d->key = *key;
    d->has_key = has_key;
    d->first = a->rg.first;
    d->len = a->rg.last - a->rg.first + 1;
    d->start_ms = srv_now_ms();
    memcpy(d->imei, o->q.imei, sizeof d->imei);
    snprintf(d->peer, sizeof d->peer, "%s", peer);
    a->dl = d;
    return SRV_ST_CONTENT;
}

/* The "resume" hint of fota.h: a Range that starts past byte 0. */
static int srv_devhttp_resumes(const struct srv_http_req *q)
{
    struct srv_range rg;
    return srv_range_parse(srv_http_req_header(q, "Range"), UINT64_MAX, &rg) == SRV_RANGE_OK &&
           rg.first > 0;
}

/* After the decision: redirect, Range, caps, the answer's state. */
static enum srv_status srv_devhttp_content(struct srv *s, const struct srv_http_req *q,
                                           struct srv_src *src, const struct srv_fota_out *o,
                                           const char *peer, struct srv_devhttp_ans *a)
{
    enum srv_status st;
    if (s->cfg.http_redirect_base[0] &&
        srv_devhttp_param_is(q->query, q->query_len, "need_oss_url=1")) {
        srv_devhttp_redirect(s, o->pkg, a);
        return SRV_ST_CONTENT;
    }
    if ((st = srv_devhttp_range(q, o->pkg, a)) != SRV_ST_CONTENT)
        return st;
    /* an HTTP source is never verified (no DTLS); its answer is not the
     * package's last block: srv_devhttp_done ends the transfer */
    int started = 0;
    if ((st = srv_transfer_cap(s, src, q->peer, o->pkg, a->rg.first == 0 ? SRV_XF_FIRST : 0, 0,
                               &a->retry_after, a->msg, &started)) != SRV_ST_CONTENT)
        return st;
    st = srv_devhttp_start_dl(s, o, src ? &src->key : &(struct srv_peer_key){0}, src != NULL,
                              peer, a);
    if (a->dl)
        a->dl->started = started;
    return st;
}

static void srv_devhttp_log(const struct srv_fota_out *o, const struct srv_devhttp_ans *a,
                            const char *peer, const char *method)
{
    if (a->st == SRV_ST_CONTENT && a->dl) {
        if (log_allow(LOG_K_DOWNLOAD, LOG_L_INFO))
            log_write(LOG_L_INFO, "http download start peer=%s imei=%s pkg=%s bytes=%llu-%llu/%zu",
                      peer, o->q.imei, o->pkg->name, (unsigned long long)a->rg.first,
                      (unsigned long long)a->rg.last, o->pkg->len);
        return;
    }
    const struct srv_status_info *info = srv_status_info(a->st);
    enum log_kind kind = a->st == SRV_ST_UNAVAILABLE || a->st == SRV_ST_TOO_MANY
                             ? LOG_K_LIMIT : LOG_K_REFUSAL;
    if (a->st == SRV_ST_CONTENT) /* a redirect */
        kind = LOG_K_DOWNLOAD;
    if (log_allow(kind, LOG_L_INFO))
        log_write(LOG_L_INFO, "http req peer=%s method=%s st=%s pc=%d imei=%s msg=\"%s\"%s%s",
                  peer, method, a->st == SRV_ST_CONTENT ? "redirect" : info->name,
                  a->st == SRV_ST_CONTENT ? 0 : info->platform, o->parsed ? o->q.imei : "-",
                  a->msg, a->location[0] ? " location=" : "", a->location);
}

/* Everything that reads or changes the server's state; s->lock held. */
static void srv_devhttp_decide(struct srv *s, const struct srv_http_req *q, const char *peer,
                               struct srv_devhttp_ans *a)
{
    struct srv_peer_key key, host;
    struct srv_src *src = NULL;
    struct srv_fota_out out;
    int has_key = q->peer && srv_peer_key(q->peer, &key) == OTA_OK;
    uint64_t now = srv_now_ms();
    memset(&out, 0, sizeof out);
    s->st.requests++;
    enum srv_verdict v = has_key ? srv_limit_request(&s->lim, &key, now, &src, &a->retry_after)
                                 : SRV_V_OK;
    if (v != SRV_V_OK) {
        a->st = srv_limited(s, v, a->msg);
    } else {
        /* check_interval per IMEI and address: a TCP peer's address is
         * proven, and a module's every connection has a new port. */
        srv_peer_key_host(&key, &host);
        struct srv_fota_in in = {.query = (const uint8_t *)q->query, .query_len = q->query_len,
                                 .memo = &s->memo, .projects = &s->projects,
                                 .peer = has_key ? &host : NULL, .now_ms = now,
                                 .census = &s->census, .ondemand = &s->ondemand,
                                 .now_s = (int64_t)time(NULL),
                                 .no_slice = 1, .resume = srv_devhttp_resumes(q)};
        srv_fota_decide(&s->cfg, &s->idx, &in, &out);
        a->st = out.st;
        memcpy(a->msg, out.msg, sizeof a->msg);
        if (out.max_age)
            a->retry_after = out.max_age;
        if (a->st == SRV_ST_CONTENT)
            a->st = srv_devhttp_content(s, q, src, &out, peer, a);
    }
    if (a->st == SRV_ST_UNAVAILABLE && !a->retry_after)
        a->retry_after = s->cfg.retry_after > 0 ? (unsigned)s->cfg.retry_after : 30;
    unsigned sti = (unsigned)a->st < SRV_ST__COUNT ? a->st : SRV_ST_INTERNAL;
    s->st.by_status[sti]++;
    s->st.by_resource[SRV_RES_FOTA][sti]++;
    srv_devhttp_log(&out, a, peer, q->method);
}

/* ---- 3. rendering --------------------------------------------------------------- */

/* HTTP status of a refusal: the CoAP code's number, but 416 for a range
 * past the end. */
static unsigned srv_devhttp_status(enum srv_status st)
{
    if (st == SRV_ST_BLOCK_RANGE)
        return 416;
    unsigned c = srv_status_info(st)->coap;
    return c >= 400 && c < 600 ? c : 500;
}

static void srv_devhttp_refusal(const struct srv_devhttp_ans *a, struct srv_http_reply *r)
{
    char json[SRV_DEVHTTP_JSON_MAX + 1];
    size_t n = srv_status_json(a->st, a->msg, json, sizeof json);
    r->status = srv_devhttp_status(a->st);
    r->content_type = "application/json";
    r->body = n ? strndup(json, n) : NULL;
    r->len = r->body ? n : 0;
    if (a->st == SRV_ST_UNAVAILABLE || a->st == SRV_ST_TOO_MANY)
        srv_http_reply_header(r, "Retry-After", "%u", a->retry_after ? a->retry_after : 1);
    if (a->st == SRV_ST_BLOCK_RANGE)
        srv_http_reply_header(r, "Content-Range", "bytes */%llu", (unsigned long long)a->total);
}

static void srv_devhttp_package(const struct srv_devhttp_ans *a, struct srv_http_reply *r)
{
    char etag[2 * SRV_ETAG_LEN + 3];
    struct srv_devhttp_dl *d = a->dl;
    srv_devhttp_etag(d->pkg, etag);
    r->status = a->partial ? 206 : 200;
    r->content_type = "application/octet-stream";
    r->ref = d->pkg->map + d->first;
    r->len = (size_t)d->len;
    r->release = srv_devhttp_release;
    r->release_ctx = d->pkg;
    r->done = srv_devhttp_done;
    r->done_ctx = d;
    srv_http_reply_header(r, "ETag", "%s", etag);
    srv_http_reply_header(r, "Accept-Ranges", "bytes");
    if (a->partial)
        srv_http_reply_header(r, "Content-Range", "bytes %llu-%llu/%zu",
                              (unsigned long long)a->rg.first, (unsigned long long)a->rg.last,
                              d->pkg->len);
}

static void srv_devhttp_fota(void *ctx, const struct srv_http_req *q, struct srv_http_reply *r)
{
    struct srv *s = ctx;
    struct srv_devhttp_ans a;
    char peer[SRV_DEVHTTP_PEER_MAX];
    memset(&a, 0, sizeof a);
    srv_http_addr_str(q->peer, peer, sizeof peer);
    pthread_mutex_lock(&s->lock);
    srv_devhttp_decide(s, q, peer, &a);
    pthread_mutex_unlock(&s->lock);
    if (a.st != SRV_ST_CONTENT) {
        srv_devhttp_refusal(&a, r);
    } else if (a.location[0]) {
        r->status = 302;
        srv_http_reply_header(r, "Location", "%s", a.location);
    } else {
        srv_devhttp_package(&a, r);
    }
}

/* ---- 4. listener ---------------------------------------------------------------- */

static const struct srv_http_route srv_devhttp_routes[] = {
    {SRV_DEVHTTP_PATH, NULL, srv_devhttp_fota, SRV_HTTP_PUBLIC}, /* devices carry no token */
};

enum ota_err srv_devhttp_start(struct srv *s, char *msg)
{
    if (!s->cfg.http_listen[0])
        return OTA_OK;
    struct srv_http_cfg hc = {"device", s->cfg.http_listen, CFG_HTTP_PORT,
                              (unsigned)s->cfg.http_timeout,
                              (unsigned)s->cfg.http_max_connections, srv_devhttp_routes,
                              sizeof srv_devhttp_routes / sizeof srv_devhttp_routes[0], s, NULL,
                              (unsigned)s->cfg.http_threads};
    ota_strlcpy(s->devhttp_listen, s->cfg.http_listen, sizeof s->devhttp_listen);
    enum ota_err e = srv_http_start(&hc, &s->devhttp, msg);
    if (e == OTA_E_NET)
        return ota_fail(msg, e, "[http] listen %s: cannot bind (address in use or not local?)",
                        s->cfg.http_listen);
    return e;
}

void srv_devhttp_reload(struct srv *s)
{
    if (strcmp(s->devhttp_listen, s->cfg.http_listen) != 0)
        log_msg(LOG_L_WARN, "reload: [http] listen, timeout, max_connections and threads "
                "change only on restart");
}

void srv_devhttp_stop(struct srv *s)
{
    srv_http_stop(s->devhttp);
    s->devhttp = NULL;
}
