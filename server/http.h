/* http.h - ota-server's HTTP listeners over libmicrohttpd (DESIGN.md 10).
 *
 * One listener = one address, one route table, an optional set of bearer
 * tokens. The [admin] listener (metrics.h: /metrics, /healthz, /stats) is
 * the first user; the device API ([http]) is meant to be a second
 * srv_http_start with its own routes, so nothing here knows about routes'
 * meaning. Each listener runs libmicrohttpd's internal polling thread
 * (epoll), never the CoAP thread: handlers run on that thread and must
 * only read data published for them (metrics.h explains how).
 * Hostile clients are bounded by libmicrohttpd: a connection idle for
 * timeout_s is closed (a half-sent request, a slow sender), at most
 * max_conns connections are open (more wait in the listen queue), and a request's headers must fit
 * SRV_HTTP_CONN_MEMORY bytes (else 431 or a closed connection). Only GET
 * and HEAD without a body are served (405 for another method, 400 for a
 * body, both answered as soon as the headers are in, then the connection
 * is closed); answers keep the connection alive. With tokens, every request must
 * carry "Authorization: Bearer TOKEN" (401 otherwise), compared in
 * constant time against the SHA-256 of each token. Refusals are logged
 * with the client address, at most SRV_HTTP_LOG_RATE lines a second; an
 * accepted request logs the token's name at debug.
 * Routes may be public (no token) or writes (POST, JSON body, refused
 * cross-site and without a token file): see SRV_HTTP_POST below.
 * The device API ([http], devhttp.h) is the second listener: a pool of
 * threads, request handlers that read the raw query and headers, and
 * package bodies sent by reference.
 */
#ifndef SRV_HTTP_H
#define SRV_HTTP_H

#include "ota.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define SRV_HTTP_TOKENS_MAX 16
#define SRV_HTTP_NAME_MAX 33       /* token name [A-Za-z0-9_.-]{1,32}, incl. NUL */
#define SRV_HTTP_TOKEN_MIN 16      /* a token is 16..256 visible ASCII characters */
#define SRV_HTTP_TOKEN_MAX 256
#define SRV_HTTP_TOKEN_FILE_MAX 65536
#define SRV_HTTP_CONN_MEMORY 8192  /* per-connection buffer: bounds request headers */
#define SRV_HTTP_LOG_RATE 5        /* refusal log lines per second (burst 10) */

/* The tokens of a token file: only names and SHA-256 digests are kept. */
struct srv_http_tokens {
    int n;
    struct {
        char name[SRV_HTTP_NAME_MAX];
        uint8_t digest[32];
    } t[SRV_HTTP_TOKENS_MAX];
};

/* Parse "name:token" lines ('#' comments and blank lines skipped; CR LF
 * accepted). OTA_E_INVAL naming "file:line" for a bad name or token, a
 * duplicate name, more than SRV_HTTP_TOKENS_MAX tokens, or none at all. */
enum ota_err srv_http_tokens_parse(const char *buf, size_t len, const char *file,
                                   struct srv_http_tokens *out, char *msg);
/* Read and parse path; OTA_E_AUTH ("insecure permissions") unless it is a
 * regular file that neither group nor others may access (chmod 600). */
enum ota_err srv_http_tokens_load(const char *path, struct srv_http_tokens *out, char *msg);
/* Index of the token equal to tok[0..len-1], -1 if none. Every token is
 * compared, in constant time, whatever matches. */
int srv_http_tokens_match(const struct srv_http_tokens *t, const char *tok, size_t len);

/* A handler fills status (200 unless set), content type and a malloc'd
 * body that the listener frees; body NULL = empty. Or, instead of body,
 * ref: len bytes the handler keeps alive until release(release_ctx) runs,
 * sent without a copy. hdrs are added to the answer; done(done_ctx,
 * complete) runs once the request is over (complete = the answer went
 * out in full), on the listener's thread. */
#define SRV_HTTP_HDRS_MAX 6
#define SRV_HTTP_HDR_VALUE_MAX 600
struct srv_http_reply {
    unsigned status;
    const char *content_type;
    char *body;
    size_t len;
    const void *ref;
    void (*release)(void *ctx);
    void *release_ctx;
    void (*done)(void *ctx, int complete);
    void *done_ctx;
    int nhdrs;
    struct {
        const char *name;
        char value[SRV_HTTP_HDR_VALUE_MAX];
    } hdrs[SRV_HTTP_HDRS_MAX];
};
typedef void (*srv_http_handler)(void *ctx, struct srv_http_reply *r);

/* What a request handler (fn_req) sees of a request. */
struct srv_http_req {
    const char *method;
    const char *query;  /* raw, after '?', not URL-decoded; "" if none */
    size_t query_len;
    const struct sockaddr *peer; /* NULL if unknown */
    void *conn;         /* libmicrohttpd's connection, for srv_http_req_header */
    const char *body;   /* SRV_HTTP_POST routes: the body, NUL-terminated; else "" */
    size_t body_len;
    const char *token;  /* the token's name; NULL when no token file is set, or
                           when a public route was asked without a valid token */
    int tokens_set;     /* the listener has a token file */
};
typedef void (*srv_http_req_handler)(void *ctx, const struct srv_http_req *q,
                                     struct srv_http_reply *r);
/* A client address without its port, "?" if not IPv4/IPv6. */
void srv_http_addr_str(const struct sockaddr *sa, char *out, size_t n);
/* A request header's value (name case-insensitive), NULL if absent. */
const char *srv_http_req_header(const struct srv_http_req *q, const char *name);
/* A query argument, URL-decoded by libmicrohttpd; NULL if absent. */
const char *srv_http_req_arg(const struct srv_http_req *q, const char *name);
/* Append a header to r; 0 if r has no room for it. */
int srv_http_reply_header(struct srv_http_reply *r, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Route flags. PUBLIC: served without a token (the console's page, its
 * script and icon: no data in them). POST: the route takes POST (only)
 * with a body of at most SRV_HTTP_BODY_MAX bytes, and is a write:
 *  - refused with 403 unless the listener has tokens (writes are off
 *    without a token file: every change must have a name in the audit);
 *  - Content-Type must be application/json (415): a cross-site form
 *    cannot send it without a CORS preflight, which is never answered;
 *  - Sec-Fetch-Site, when the browser sends it, must be same-origin or
 *    none, and Origin, when sent, must be http://<Host> (403);
 *  - Content-Length is required (411) and bounded (413). */
#define SRV_HTTP_PUBLIC 1u
#define SRV_HTTP_POST 2u
#define SRV_HTTP_BODY_MAX (256u * 1024u)

struct srv_http_route {
    const char *path; /* exact match, no query */
    srv_http_handler fn;
    srv_http_req_handler fn_req; /* instead of fn: the handler reads the request */
    unsigned flags;
};

struct srv_http_cfg {
    const char *name;                    /* "admin": log prefix, realm */
    const char *listen;                  /* host:port or [v6]:port */
    uint16_t default_port;
    unsigned timeout_s, max_conns;
    const struct srv_http_route *routes; /* kept by reference: static tables */
    size_t nroutes;
    void *ctx;                           /* passed to every handler */
    const struct srv_http_tokens *tokens; /* copied; NULL or none = no token needed */
    unsigned threads;                    /* 0 or 1: one thread; more: a pool, each with its epoll */
};

struct srv_http;

/* Bind and start the listener's thread; OTA_E_NET if the address cannot
 * be bound. Signals stay with the calling thread. */
enum ota_err srv_http_start(const struct srv_http_cfg *c, struct srv_http **out, char *msg);
/* Swap the tokens (SIGHUP); requests in progress finish with the old set. */
void srv_http_set_tokens(struct srv_http *h, const struct srv_http_tokens *t);
/* Close the socket, end every connection, join the thread; NULL is a no-op. */
void srv_http_stop(struct srv_http *h);

#endif
