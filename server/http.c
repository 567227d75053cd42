/* http.c - HTTP listeners over libmicrohttpd (see http.h).
 *
 * Sections: 1. token files, 2. the request path (method, token, route,
 * handler), 3. listener start and stop.
 * libmicrohttpd calls srv_http_access on the listener's own thread; the
 * only state shared with the thread that started the listener is the
 * token set (swapped on SIGHUP under tokens_lock) and the route table
 * (static). The refusal log bucket is shared by a pool's threads, under
 * tokens_lock too. Each request carries a srv_http_call from the moment
 * its request line is read (the URI callback keeps the raw query, which
 * libmicrohttpd would otherwise only hand out decoded) to the moment it
 * ends (the completion callback runs the handler's done and frees it).
 */
#include "http.h"

#include "crypto.h"
#include "io.h"
#include "limit.h"
#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sodium.h>

#include "cfg.h"

struct srv_http {
    struct MHD_Daemon *d;
    char name[16];
    const struct srv_http_route *routes;
    size_t nroutes;
    void *ctx;
    pthread_mutex_t tokens_lock;
    struct srv_http_tokens tokens;
    struct ota_bucket log_bucket; /* refusal log lines; listener thread only */
    uint64_t log_dropped;
};

/* ---- 1. token files --------------------------------------------------- */

static int srv_http_name_ok(const char *s, size_t n)
{
    if (n == 0 || n >= SRV_HTTP_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return 0;
    }
    return 1;
}

static int srv_http_token_ok(const char *s, size_t n)
{
    if (n < SRV_HTTP_TOKEN_MIN || n > SRV_HTTP_TOKEN_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
            return 0;
    return 1;
}

/* One line (no newline): blank, comment, or name:token. */
static enum ota_err srv_http_token_line(const char *p, size_t n, const char *file, int line,
                                        struct srv_http_tokens *out, char *msg)
{
    while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    if (n == 0 || p[0] == '#')
        return OTA_OK;
    const char *colon = memchr(p, ':', n);
    size_t nl = colon ? (size_t)(colon - p) : 0;
    if (!colon || !srv_http_name_ok(p, nl))
        return ota_fail(msg, OTA_E_INVAL, "%s:%d: expected name:token, name [A-Za-z0-9_.-]{1,32}",
                        file, line);
    if (!srv_http_token_ok(colon + 1, n - nl - 1))
        return ota_fail(msg, OTA_E_INVAL, "%s:%d: token of '%.*s' must be %d..%d visible ASCII "
                        "characters", file, line, (int)nl, p, SRV_HTTP_TOKEN_MIN,
                        SRV_HTTP_TOKEN_MAX);
    for (int i = 0; i < out->n; i++)
        if (strlen(out->t[i].name) == nl && !memcmp(out->t[i].name, p, nl))
            return ota_fail(msg, OTA_E_INVAL, "%s:%d: duplicate name '%.*s'", file, line,
                            (int)nl, p);
    if (out->n == SRV_HTTP_TOKENS_MAX)
        return ota_fail(msg, OTA_E_INVAL, "%s:%d: more than %d tokens", file, line,
                        SRV_HTTP_TOKENS_MAX);
    memcpy(out->t[out->n].name, p, nl);
    out->t[out->n].name[nl] = '\0';
    crypto_sha256(colon + 1, n - nl - 1, out->t[out->n].digest);
    out->n++;
    return OTA_OK;
}

enum ota_err srv_http_tokens_parse(const char *buf, size_t len, const char *file,
                                   struct srv_http_tokens *out, char *msg)
{
    enum ota_err e = OTA_OK;
    size_t pos = 0;
    memset(out, 0, sizeof *out);
    for (int line = 1; pos < len && e == OTA_OK; line++) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (buf + pos)) : len - pos;
        if (memchr(buf + pos, '\0', n))
            return ota_fail(msg, OTA_E_INVAL, "%s:%d: NUL byte", file, line);
        e = srv_http_token_line(buf + pos, n, file, line, out, msg);
        pos += n + 1;
    }
    if (e == OTA_OK && out->n == 0)
        e = ota_fail(msg, OTA_E_INVAL, "%s: no name:token line", file);
    if (e != OTA_OK)
        sodium_memzero(out, sizeof *out);
    return e;
}

enum ota_err srv_http_tokens_load(const char *path, struct srv_http_tokens *out, char *msg)
{
    uint8_t *buf;
    size_t len;
    enum ota_err e = io_file_check_private(path, msg);
    if (e == OTA_OK)
        e = io_file_read_all(path, SRV_HTTP_TOKEN_FILE_MAX, &buf, &len, msg);
    if (e != OTA_OK)
        return e;
    e = srv_http_tokens_parse((const char *)buf, len, path, out, msg);
    sodium_memzero(buf, len);
    free(buf);
    return e;
}

int srv_http_tokens_match(const struct srv_http_tokens *t, const char *tok, size_t len)
{
    uint8_t d[32];
    int found = -1;
    crypto_sha256(tok, len, d);
    for (int i = 0; i < t->n; i++) {
        int eq = sodium_memcmp(d, t->t[i].digest, sizeof d) == 0;
        found = eq ? i : found;
    }
    return found;
}

/* ---- 2. the request path ---------------------------------------------- */

void srv_http_addr_str(const struct sockaddr *sa, char *out, size_t n)
{
    snprintf(out, n, "?");
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
                  (socklen_t)n);
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
                  (socklen_t)n);
}

static void srv_http_peer(struct MHD_Connection *conn, char *out, size_t n)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    srv_http_addr_str(ci ? ci->client_addr : NULL, out, n);
}

static uint64_t srv_http_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A client's string for a log line: cut to n-1 bytes, bytes outside
 * printable ASCII (terminal escapes, decoded %xx) shown as '?'. */
static void srv_http_printable(const char *s, char *out, size_t n)
{
    size_t i = 0;
    for (; s[i] && i + 1 < n; i++)
        out[i] = (unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e ? '?' : s[i];
    out[i] = '\0';
}

/* "http admin: refused peer=... method=... path=... why=..." within the
 * log rate; the lines dropped meanwhile are counted in the next one. */
static void srv_http_log_refusal(struct srv_http *h, struct MHD_Connection *conn,
                                 const char *method, const char *url, const char *why)
{
    char peer[INET6_ADDRSTRLEN], m[17], path[65];
    unsigned long long dropped;
    pthread_mutex_lock(&h->tokens_lock); /* a pool's threads share the bucket */
    int ok = ota_bucket_take(&h->log_bucket, SRV_HTTP_LOG_RATE, 2 * SRV_HTTP_LOG_RATE,
                             srv_http_now_ms(), NULL);
    dropped = h->log_dropped;
    h->log_dropped = ok ? 0 : h->log_dropped + 1;
    pthread_mutex_unlock(&h->tokens_lock);
    if (!ok)
        return;
    srv_http_peer(conn, peer, sizeof peer);
    srv_http_printable(method, m, sizeof m);
    srv_http_printable(url, path, sizeof path);
    log_msg(LOG_L_WARN, "http %s: refused peer=%s method=%s path=%s why=%s dropped=%llu",
            h->name, peer, m, path, why, dropped);
}

static struct MHD_Response *srv_http_response(struct srv_http_reply *r)
{
    if (r->ref)
        return MHD_create_response_from_buffer_with_free_callback_cls(
            r->len, (void *)(uintptr_t)r->ref, r->release, r->release_ctx);
    return MHD_create_response_from_buffer(r->len, r->body ? r->body : (void *)"",
                                           r->body ? MHD_RESPMEM_MUST_FREE
                                                   : MHD_RESPMEM_PERSISTENT);
}

static enum MHD_Result srv_http_send(struct MHD_Connection *conn, struct srv_http_reply *r,
                                     const char *hdr, const char *hdr_value)
{
    struct MHD_Response *resp = srv_http_response(r);
    if (!resp) {
        if (r->ref && r->release)
            r->release(r->release_ctx);
        else
            free(r->body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            r->content_type ? r->content_type : "text/plain; charset=utf-8");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    for (int i = 0; i < r->nhdrs; i++)
        MHD_add_response_header(resp, r->hdrs[i].name, r->hdrs[i].value);
    if (hdr)
        MHD_add_response_header(resp, hdr, hdr_value);
    enum MHD_Result ret = MHD_queue_response(conn, r->status ? r->status : 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

int srv_http_reply_header(struct srv_http_reply *r, const char *name, const char *fmt, ...)
{
    va_list ap;
    if (r->nhdrs >= SRV_HTTP_HDRS_MAX)
        return 0;
    va_start(ap, fmt);
    int n = vsnprintf(r->hdrs[r->nhdrs].value, sizeof r->hdrs[r->nhdrs].value, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof r->hdrs[r->nhdrs].value)
        return 0;
    r->hdrs[r->nhdrs++].name = name;
    return 1;
}

static enum MHD_Result srv_http_error(struct MHD_Connection *conn, unsigned status,
                                      const char *text, const char *hdr, const char *hdr_value)
{
    struct srv_http_reply r;
    memset(&r, 0, sizeof r);
    r.status = status;
    r.body = strdup(text);
    r.len = strlen(text);
    if (!r.body)
        return MHD_NO;
    return srv_http_send(conn, &r, hdr, hdr_value);
}

/* Name of the token presented, "-" if none is configured, NULL if refused.
 * *configured tells whether the listener has tokens at all. */
static const char *srv_http_auth(struct srv_http *h, struct MHD_Connection *conn, char *name,
                                 int *configured)
{
    static const char scheme[] = "Bearer ";
    const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
                                                MHD_HTTP_HEADER_AUTHORIZATION);
    int found = -1;
    pthread_mutex_lock(&h->tokens_lock);
    *configured = h->tokens.n > 0;
    if (h->tokens.n == 0) {
        pthread_mutex_unlock(&h->tokens_lock);
        return "-";
    }
    if (v && !strncasecmp(v, scheme, sizeof scheme - 1))
        found = srv_http_tokens_match(&h->tokens, v + sizeof scheme - 1,
                                      strlen(v + sizeof scheme - 1));
    if (found >= 0)
        memcpy(name, h->tokens.t[found].name, SRV_HTTP_NAME_MAX);
    pthread_mutex_unlock(&h->tokens_lock);
    return found >= 0 ? name : NULL;
}

static const char *srv_http_header(struct MHD_Connection *conn, const char *name)
{
    return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

/* The request announces a body (none is read: GET and HEAD only). */
static int srv_http_has_body(struct MHD_Connection *conn)
{
    const char *cl = srv_http_header(conn, MHD_HTTP_HEADER_CONTENT_LENGTH);
    return (cl && strcmp(cl, "0") != 0) ||
           srv_http_header(conn, MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL;
}

const char *srv_http_req_header(const struct srv_http_req *q, const char *name)
{
    return srv_http_header(q->conn, name);
}

const char *srv_http_req_arg(const struct srv_http_req *q, const char *name)
{
    return MHD_lookup_connection_value(q->conn, MHD_GET_ARGUMENT_KIND, name);
}

/* One request, from its request line to its end. */
struct srv_http_call {
    int headers_seen;
    const struct srv_http_route *route; /* NULL: unknown path */
    char *body;        /* POST routes: Content-Length + 1 bytes; else 1 */
    size_t len, cap;
    int too_big;
    void (*done)(void *ctx, int complete);
    void *done_ctx;
    size_t path_len;   /* the raw path: uri[0..path_len) */
    const char *query; /* raw, after '?', NUL-terminated; "" if none */
    size_t query_len;
    char uri[];
};

/* The request line is in: keep the raw query (NULL = out of memory, the
 * connection is closed). */
static void *srv_http_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    size_t n = strlen(uri);
    struct srv_http_call *c = calloc(1, sizeof *c + n + 1);
    if (!c)
        return NULL;
    memcpy(c->uri, uri, n);
    const char *q = strchr(c->uri, '?');
    c->path_len = q ? (size_t)(q - c->uri) : n;
    c->query = q ? q + 1 : c->uri + n;
    c->query_len = strlen(c->query);
    return c;
}

static void srv_http_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                               enum MHD_RequestTerminationCode toe)
{
    struct srv_http_call *c = *con_cls;
    if (!c)
        return;
    if (c->done)
        c->done(c->done_ctx, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK);
    free(c->body);
    free(c);
    *con_cls = NULL;
}

/* The route of path and method (a path may have a GET and a POST route);
 * else any route of the path (answered 405), else NULL. Routes match the
 * path as sent: libmicrohttpd decodes %xx in url, so "/x%00" or "/x%2f"
 * would otherwise reach the route for "/x". */
static const struct srv_http_route *srv_http_find(const struct srv_http *h, const char *url,
                                                  const char *method,
                                                  const struct srv_http_call *c)
{
    const struct srv_http_route *any = NULL;
    int post = !strcmp(method, MHD_HTTP_METHOD_POST);
    if (c->path_len != strlen(url) || memcmp(c->uri, url, c->path_len) != 0)
        return NULL;
    for (size_t i = 0; i < h->nroutes; i++) {
        if (strcmp(url, h->routes[i].path) != 0)
            continue;
        if (!(h->routes[i].flags & SRV_HTTP_POST) == !post)
            return &h->routes[i];
        any = any ? any : &h->routes[i];
    }
    return any;
}

/* Why a write (POST route) is refused before its body is read, with the
 * HTTP status in *status; NULL if it may go on. */
static const char *srv_http_write_refusal(struct MHD_Connection *conn, unsigned *status,
                                          size_t *len)
{
    const char *cl = srv_http_header(conn, MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *ct = srv_http_header(conn, MHD_HTTP_HEADER_CONTENT_TYPE);
    const char *site = srv_http_header(conn, "Sec-Fetch-Site");
    const char *origin = srv_http_header(conn, "Origin");
    const char *host = srv_http_header(conn, MHD_HTTP_HEADER_HOST);
    char *end;
    *status = MHD_HTTP_FORBIDDEN;
    if (site && strcmp(site, "same-origin") != 0 && strcmp(site, "none") != 0)
        return "cross-site request refused (Sec-Fetch-Site)\n";
    if (origin && (!host || strncmp(origin, "http://", 7) != 0 || strcmp(origin + 7, host) != 0))
        return "cross-site request refused (Origin is not this host)\n";
    *status = MHD_HTTP_UNSUPPORTED_MEDIA_TYPE;
    if (!ct || strncasecmp(ct, "application/json", 16) != 0 ||
        (ct[16] != '\0' && ct[16] != ';' && ct[16] != ' '))
        return "Content-Type must be application/json\n";
    *status = MHD_HTTP_LENGTH_REQUIRED;
    if (!cl || srv_http_header(conn, MHD_HTTP_HEADER_TRANSFER_ENCODING))
        return "Content-Length required\n";
    *status = MHD_HTTP_CONTENT_TOO_LARGE;
    errno = 0;
    unsigned long long n = strtoull(cl, &end, 10);
    if (errno || *end || end == cl || n > SRV_HTTP_BODY_MAX)
        return "body too large\n";
    *len = (size_t)n;
    return NULL;
}

/* The headers are in: refuse at once (and close) or prepare the call. */
static enum MHD_Result srv_http_begin(struct srv_http *h, struct MHD_Connection *conn,
                                      const char *url, const char *method,
                                      struct srv_http_call *c)
{
    const struct srv_http_route *rt = srv_http_find(h, url, method, c);
    int post = rt && (rt->flags & SRV_HTTP_POST);
    int get = !strcmp(method, MHD_HTTP_METHOD_GET) || !strcmp(method, MHD_HTTP_METHOD_HEAD);
    unsigned status;
    size_t cap = 0;
    if (post ? strcmp(method, MHD_HTTP_METHOD_POST) != 0 : !get) {
        srv_http_log_refusal(h, conn, method, url, "method");
        return srv_http_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                              post ? "only POST\n" : "only GET and HEAD\n",
                              MHD_HTTP_HEADER_ALLOW, post ? "POST" : "GET, HEAD");
    }
    if (!post && srv_http_has_body(conn)) {
        srv_http_log_refusal(h, conn, method, url, "body");
        return srv_http_error(conn, MHD_HTTP_BAD_REQUEST, "no body expected\n", NULL, NULL);
    }
    const char *why = post ? srv_http_write_refusal(conn, &status, &cap) : NULL;
    if (why) {
        srv_http_log_refusal(h, conn, method, url, "write");
        return srv_http_error(conn, status, why, NULL, NULL);
    }
    if (!(c->body = malloc(cap + 1)))
        return MHD_NO;
    c->route = rt;
    c->cap = cap;
    return MHD_YES;
}

static enum MHD_Result srv_http_answer(struct srv_http *h, struct MHD_Connection *conn,
                                       const char *method, const char *url,
                                       struct srv_http_call *c)
{
    char name_buf[SRV_HTTP_NAME_MAX], realm[64];
    int configured = 0;
    const struct srv_http_route *rt = c->route;
    const char *who = srv_http_auth(h, conn, name_buf, &configured);
    if (!who && (!rt || !(rt->flags & SRV_HTTP_PUBLIC))) {
        srv_http_log_refusal(h, conn, method, url, "token");
        snprintf(realm, sizeof realm, "Bearer realm=\"ota-%s\"", h->name);
        return srv_http_error(conn, MHD_HTTP_UNAUTHORIZED, "bearer token required\n",
                              MHD_HTTP_HEADER_WWW_AUTHENTICATE, realm);
    }
    if (!rt) {
        srv_http_log_refusal(h, conn, method, url, "path");
        return srv_http_error(conn, MHD_HTTP_NOT_FOUND, "not found\n", NULL, NULL);
    }
    if ((rt->flags & SRV_HTTP_POST) && !configured) {
        srv_http_log_refusal(h, conn, method, url, "write");
        return srv_http_error(conn, MHD_HTTP_FORBIDDEN, "write endpoints are off: no [admin] "
                              "token_file\n", NULL, NULL);
    }
    if (c->too_big)
        return srv_http_error(conn, MHD_HTTP_CONTENT_TOO_LARGE, "body too large\n", NULL, NULL);
    struct srv_http_reply r;
    memset(&r, 0, sizeof r);
    r.status = 200;
    log_msg(LOG_L_DEBUG, "http %s: %s %s token=%s", h->name, method, rt->path, who ? who : "none");
    if (rt->fn_req) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        c->body[c->len] = '\0';
        struct srv_http_req q = {method, c->query, c->query_len, ci ? ci->client_addr : NULL,
                                 conn, c->body, c->len, configured ? who : NULL, configured};
        rt->fn_req(h->ctx, &q, &r);
    } else {
        rt->fn(h->ctx, &r);
    }
    c->done = r.done;
    c->done_ctx = r.done_ctx;
    return srv_http_send(conn, &r, NULL, NULL);
}

static enum MHD_Result srv_http_access(void *cls, struct MHD_Connection *conn, const char *url,
                                       const char *method, const char *version,
                                       const char *upload_data, size_t *upload_data_size,
                                       void **con_cls)
{
    struct srv_http *h = cls;
    struct srv_http_call *c = *con_cls;
    if (!c)
        return MHD_NO;
    /* Refusals on the first call (headers in) answer at once and close;
     * answers wait for the last call (request complete), which is what
     * lets libmicrohttpd keep the connection alive for the next scrape. */
    if (!c->headers_seen) {
        c->headers_seen = 1;
        return srv_http_begin(h, conn, url, method, c);
    }
    if (*upload_data_size != 0) {
        size_t n = *upload_data_size;
        if (n > c->cap - c->len) {
            c->too_big = 1; /* a body longer than its Content-Length: not kept */
            n = c->cap - c->len;
        }
        memcpy(c->body + c->len, upload_data, n);
        c->len += n;
        *upload_data_size = 0;
        return MHD_YES;
    }
    return srv_http_answer(h, conn, method, url, c);
}

/* libmicrohttpd's own messages (malformed requests, limits) at debug. */
static void srv_http_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    struct srv_http *h = cls;
    vsnprintf(line, sizeof line, fmt, ap);
    log_msg(LOG_L_DEBUG, "http %s: libmicrohttpd: %s", h->name, line);
}

/* ---- 3. listener start and stop ---------------------------------------- */

enum ota_err srv_http_start(const struct srv_http_cfg *c, struct srv_http **out, char *msg)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    sigset_t all, old;
    *out = NULL;
    enum ota_err e = cfg_resolve(c->listen, c->default_port, SOCK_STREAM, &ss, &sslen, msg);
    if (e != OTA_OK)
        return e;
    struct srv_http *h = calloc(1, sizeof *h);
    if (!h)
        return ota_fail(msg, OTA_E_NOMEM, "http %s: out of memory", c->name);
    snprintf(h->name, sizeof h->name, "%s", c->name);
    h->routes = c->routes;
    h->nroutes = c->nroutes;
    h->ctx = c->ctx;
    if (c->tokens)
        h->tokens = *c->tokens;
    pthread_mutex_init(&h->tokens_lock, NULL);
    unsigned flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* The listener thread inherits a full signal mask: SIGTERM and SIGHUP
     * stay with the CoAP loop, which polls the flags main.c sets. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    h->d = MHD_start_daemon(flags, 0, NULL, NULL, srv_http_access, h,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                            MHD_OPTION_CONNECTION_TIMEOUT, c->timeout_s,
                            MHD_OPTION_CONNECTION_LIMIT, c->max_conns,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)SRV_HTTP_CONN_MEMORY,
                            MHD_OPTION_EXTERNAL_LOGGER, srv_http_mhd_log, h,
                            MHD_OPTION_URI_LOG_CALLBACK, srv_http_uri, h,
                            MHD_OPTION_NOTIFY_COMPLETED, srv_http_completed, h,
                            MHD_OPTION_THREAD_POOL_SIZE, c->threads > 1 ? c->threads : 0u,
                            MHD_OPTION_END);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!h->d) {
        pthread_mutex_destroy(&h->tokens_lock);
        sodium_memzero(h, sizeof *h);
        free(h);
        return ota_fail(msg, OTA_E_NET, "[%s] listen %s: cannot bind (address in use or not "
                        "local?)", c->name, c->listen);
    }
    log_msg(LOG_L_INFO, "listening on http://%s (%s%s)", c->listen, c->name,
            h->tokens.n ? ", bearer token required" : "");
    *out = h;
    return OTA_OK;
}

void srv_http_set_tokens(struct srv_http *h, const struct srv_http_tokens *t)
{
    pthread_mutex_lock(&h->tokens_lock);
    if (t)
        h->tokens = *t;
    else
        memset(&h->tokens, 0, sizeof h->tokens);
    pthread_mutex_unlock(&h->tokens_lock);
}

void srv_http_stop(struct srv_http *h)
{
    if (!h)
        return;
    MHD_stop_daemon(h->d);
    pthread_mutex_destroy(&h->tokens_lock);
    sodium_memzero(h, sizeof *h);
    free(h);
}
