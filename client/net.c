/* net.c - block requests and reports over libcoap 4.3.1 (see net.h).
 *
 * Sections: libcoap setup and logging; address and URL; the response
 * handler (copies one answer into the caller's struct dev_block); sending
 * with our retransmission timer; the fetcher and the report.
 */
#include "log.h"

#include <coap3/coap.h>

#include "net.h"

#include <math.h>
#include <netdb.h>
#include <string.h>
#include <time.h>

#define DEV_REPORT_ATTEMPTS 2

/* --- setup and logging ---------------------------------------------- */

static void dev_net_log(coap_log_t level, const char *message)
{
    /* libcoap's complaints (ICMP errors, retransmits) are diagnostics for
     * -v; what matters to the user comes back as our own error. */
    log_msg(LOG_L_DEBUG, "libcoap[%d]: %s", (int)level, message);
}

static void dev_net_startup(void)
{
    static int started;
    if (!started) {
        coap_startup();
        started = 1;
    }
    coap_set_log_handler(dev_net_log);
    coap_set_log_level(log_get_level() >= LOG_L_DEBUG ? LOG_INFO : LOG_WARNING);
}

static double dev_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* --- address and URL ------------------------------------------------ */

static enum ota_err dev_net_resolve(const char *host, uint16_t port, coap_address_t *a, char *msg)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    int rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0 || !res)
        return ota_fail(msg, OTA_E_NET, "resolve %s: %s", host, gai_strerror(rc));
    coap_address_init(a);
    if (res->ai_addrlen > sizeof a->addr) {
        freeaddrinfo(res);
        return ota_fail(msg, OTA_E_NET, "resolve %s: address too long", host);
    }
    a->size = res->ai_addrlen;
    memcpy(&a->addr, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    coap_address_set_port(a, port);
    return OTA_OK;
}

static enum ota_err dev_net_url(const char *url, char *host, size_t hostlen, uint16_t *port,
                                char *msg)
{
    coap_uri_t u;
    if (coap_split_uri((const uint8_t *)url, strlen(url), &u) < 0)
        return ota_fail(msg, OTA_E_INVAL, "server URL %s: not a CoAP URI", url);
    if (u.scheme != COAP_URI_SCHEME_COAP)
        return ota_fail(msg, OTA_E_INVAL, "server URL %s: only coap:// is supported", url);
    if (u.query.length || (u.path.length && !(u.path.length == 4 && !memcmp(u.path.s, "fota", 4))))
        return ota_fail(msg, OTA_E_INVAL, "server URL %s: path must be empty or /fota", url);
    if (u.host.length == 0 || u.host.length >= hostlen)
        return ota_fail(msg, OTA_E_INVAL, "server URL %s: bad host", url);
    memcpy(host, u.host.s, u.host.length);
    host[u.host.length] = '\0';
    *port = u.port;
    return OTA_OK;
}

/* --- receiving ------------------------------------------------------- */

static unsigned dev_code_number(coap_pdu_code_t c)
{
    return (unsigned)(c >> 5) * 100 + (c & 31);
}

static enum ota_err dev_net_options(const coap_pdu_t *p, struct dev_block *b, char *msg)
{
    coap_opt_iterator_t it;
    coap_opt_t *o;
    if ((o = coap_check_option(p, COAP_OPTION_BLOCK2, &it)) != NULL) {
        b->has_block2 = 1;
        if (dev_block2_decode(coap_opt_value(o), coap_opt_length(o), &b->num, &b->more, &b->szx,
                              msg) != OTA_OK)
            return OTA_E_CORRUPT;
    }
    if ((o = coap_check_option(p, COAP_OPTION_SIZE2, &it)) != NULL) {
        b->has_size2 = 1;
        if (dev_uint_decode(coap_opt_value(o), coap_opt_length(o), 4, &b->size2) != OTA_OK)
            return ota_fail(msg, OTA_E_CORRUPT, "Size2 option of %u bytes", coap_opt_length(o));
    }
    if ((o = coap_check_option(p, COAP_OPTION_ETAG, &it)) != NULL) {
        b->etag_len = coap_opt_length(o);
        if (b->etag_len < 1 || b->etag_len > DEV_ETAG_MAX)
            return ota_fail(msg, OTA_E_CORRUPT, "ETag option of %zu bytes", b->etag_len);
        memcpy(b->etag, coap_opt_value(o), b->etag_len);
    }
    return OTA_OK;
}

static void dev_net_take(struct dev_net *n, const coap_pdu_t *p)
{
    struct dev_block *b = n->out;
    const uint8_t *data = NULL;
    size_t len = 0;
    memset(b, 0, offsetof(struct dev_block, data));
    b->code = dev_code_number(coap_pdu_get_code(p));
    n->parse_err = dev_net_options(p, b, n->parse_msg);
    if (coap_get_data(p, &len, &data) && len > 0) {
        b->truncated = len > DEV_BLOCK_MAX;
        b->len = b->truncated ? DEV_BLOCK_MAX : len;
        memcpy(b->data, data, b->len);
    }
}

static coap_response_t dev_net_on_response(coap_session_t *s, const coap_pdu_t *sent,
                                           const coap_pdu_t *rcv, const coap_mid_t mid)
{
    struct dev_net *n = coap_get_app_data(coap_session_get_context(s));
    coap_bin_const_t tok = coap_pdu_get_token(rcv);
    if (!n || !n->waiting || tok.length != sizeof n->token ||
        memcmp(tok.s, n->token, sizeof n->token) != 0) {
        log_msg(LOG_L_DEBUG, "net: ignoring an answer for an earlier request");
        return COAP_RESPONSE_OK;
    }
    dev_net_take(n, rcv);
    n->got = 1;
    n->waiting = 0;
    return COAP_RESPONSE_OK;
}

static void dev_net_on_nack(coap_session_t *s, const coap_pdu_t *sent,
                            const coap_nack_reason_t reason, const coap_mid_t mid)
{
    struct dev_net *n = coap_get_app_data(coap_session_get_context(s));
    if (n && n->waiting && (reason == COAP_NACK_RST || reason == COAP_NACK_ICMP_ISSUE ||
                            reason == COAP_NACK_NOT_DELIVERABLE))
        n->nack = (int)reason + 1;
}

/* --- sending ------------------------------------------------------- */

static void dev_net_new_token(struct dev_net *n)
{
    /* Random base + counter: unique for the run, never wraps in practice,
     * and unguessable enough that an off-path answer will not match. */
    if (n->token_seq == 0)
        coap_prng(&n->token_seq, sizeof n->token_seq);
    n->token_seq++;
    for (int i = 0; i < 8; i++)
        n->token[i] = (uint8_t)(n->token_seq >> (56 - 8 * i));
}

static coap_pdu_t *dev_net_pdu(struct dev_net *n, coap_pdu_code_t code, const char *path)
{
    coap_pdu_t *p = coap_new_pdu(COAP_MESSAGE_NON, code, n->sess);
    if (!p)
        return NULL;
    if (!coap_add_token(p, sizeof n->token, n->token) ||
        !coap_add_option(p, COAP_OPTION_URI_PATH, strlen(path), (const uint8_t *)path)) {
        coap_delete_pdu(p);
        return NULL;
    }
    return p;
}

static coap_pdu_t *dev_net_get_block(struct dev_net *n, uint32_t num, unsigned szx)
{
    uint8_t b2[3];
    coap_pdu_t *p = dev_net_pdu(n, COAP_REQUEST_CODE_GET, "fota");
    int ok = p != NULL;
    for (int i = 0; ok && i < n->q.n; i++)
        ok = coap_add_option(p, COAP_OPTION_URI_QUERY, n->q.len[i],
                             (const uint8_t *)n->q.field[i]) != 0;
    if (ok)
        ok = coap_add_option(p, COAP_OPTION_BLOCK2, dev_block2_encode(num, 0, szx, b2), b2) != 0;
    /* Size2 = 0 in the first request asks the server for the total size. */
    if (ok && num == 0)
        ok = coap_add_option(p, COAP_OPTION_SIZE2, 0, b2) != 0;
    if (!ok && p) {
        coap_delete_pdu(p);
        p = NULL;
    }
    return p;
}

/* Wait up to wait_s for the answer; 1 = got it, 0 = timed out, -1 = error. */
static int dev_net_wait(struct dev_net *n, double wait_s)
{
    double end = dev_now() + wait_s;
    while (!n->got && !n->nack) {
        double left = end - dev_now();
        if (left <= 0)
            return 0;
        uint32_t ms = (uint32_t)(left * 1000.0) + 1;
        if (coap_io_process(n->ctx, ms > 1000 ? 1000 : ms) < 0)
            return -1;
    }
    return n->got ? 1 : -1;
}

static const char *dev_nack_text(int nack)
{
    switch (nack - 1) {
    case COAP_NACK_RST:
        return "the server reset the request";
    case COAP_NACK_ICMP_ISSUE:
    case COAP_NACK_NOT_DELIVERABLE:
        return "server unreachable";
    default:
        return "I/O error on the socket";
    }
}

/* Send build() until an answer arrives; RFC 7252 backoff, capped by the
 * caller's timeout and the retransmission count. */
static enum ota_err dev_net_exchange(struct dev_net *n, coap_pdu_t *(*build)(struct dev_net *,
                                                                           uint32_t, unsigned),
                                     uint32_t num, unsigned szx, int attempts,
                                     const char *what, char *msg)
{
    double start = dev_now(), wait_s;
    uint8_t r;
    coap_prng(&r, 1);
    wait_s = DEV_ACK_TIMEOUT_MS / 1000.0 * (1.0 + r / 510.0);
    n->got = n->nack = 0;
    n->parse_err = OTA_OK;
    for (int i = 0; i < attempts; i++, wait_s *= 2) {
        coap_pdu_t *p = build(n, num, szx);
        if (!p)
            return ota_fail(msg, OTA_E_NOMEM, "%s: cannot build the request", what);
        n->waiting = 1;
        if (coap_send(n->sess, p) == COAP_INVALID_MID)
            log_msg(LOG_L_DEBUG, "net: %s: send failed, will retry", what);
        double left = n->timeout_s - (dev_now() - start);
        int rc = dev_net_wait(n, wait_s < left ? wait_s : left);
        n->waiting = 0;
        if (rc > 0)
            return n->parse_err == OTA_OK ? OTA_OK
                                           : ota_fail(msg, n->parse_err, "%s", n->parse_msg);
        if (rc < 0)
            return ota_fail(msg, OTA_E_NET, "%s: %s: %s", n->peer, what, dev_nack_text(n->nack));
        if (dev_now() - start >= n->timeout_s)
            break;
        log_msg(LOG_L_DEBUG, "net: %s: no answer after %.1f s, retransmitting", what, wait_s);
    }
    return ota_fail(msg, OTA_E_NET, "%s: no answer to %s after %.0f s", n->peer, what,
                    dev_now() - start);
}

/* --- fetcher and report ---------------------------------------------- */

static enum ota_err dev_net_fetch(void *ctx, uint32_t num, unsigned szx, struct dev_block *out,
                                  char *msg)
{
    struct dev_net *n = ctx;
    char what[32];
    snprintf(what, sizeof what, "block %u", num);
    n->out = out;
    dev_net_new_token(n);
    return dev_net_exchange(n, dev_net_get_block, num, szx, 1 + DEV_MAX_RETRANSMIT, what, msg);
}

void dev_net_fetcher(struct dev_net *n, struct dev_fetcher *f)
{
    f->fetch = dev_net_fetch;
    f->ctx = n;
}

static coap_pdu_t *dev_net_post_report(struct dev_net *n, uint32_t num, unsigned szx)
{
    uint8_t cf[2];
    coap_pdu_t *p = dev_net_pdu(n, COAP_REQUEST_CODE_POST, "report");
    if (p && (!coap_add_option(p, COAP_OPTION_CONTENT_FORMAT,
                               coap_encode_var_safe(cf, sizeof cf, COAP_MEDIATYPE_APPLICATION_JSON),
                               cf) ||
              !coap_add_data(p, n->body_len, (const uint8_t *)n->body))) {
        coap_delete_pdu(p);
        p = NULL;
    }
    return p;
}

enum ota_err dev_net_report(struct dev_net *n, const char *json, size_t len, char *msg)
{
    n->body = json;
    n->body_len = len;
    n->out = &n->answer;
    dev_net_new_token(n);
    enum ota_err e = dev_net_exchange(n, dev_net_post_report, 0, 0, DEV_REPORT_ATTEMPTS,
                                      "report", msg);
    n->body = NULL;
    n->report_code = e == OTA_OK ? n->answer.code : 0;
    if (e == OTA_OK && n->answer.code / 100 != 2)
        e = ota_fail(msg, OTA_E_NET, "report: server answered %u.%02u", n->answer.code / 100,
                     n->answer.code % 100);
    return e;
}

enum ota_err dev_net_open(struct dev_net *n, const char *url, const struct cfg_device *d,
                          double timeout_s, char *msg)
{
    char host[CFG_URL_MAX];
    uint16_t port = 0;
    coap_address_t dst;
    memset(n, 0, sizeof *n);
    n->timeout_s = timeout_s > 0 ? timeout_s : DEV_NET_TIMEOUT_S;
    enum ota_err e = dev_query_build(d, &n->q, msg);
    if (e == OTA_OK)
        e = dev_net_url(url, host, sizeof host, &port, msg);
    if (e == OTA_OK)
        e = dev_net_resolve(host, port, &dst, msg);
    if (e != OTA_OK)
        return e;
    snprintf(n->peer, sizeof n->peer, "%s:%u", host, (unsigned)port);
    dev_net_startup();
    n->ctx = coap_new_context(NULL);
    if (!n->ctx)
        return ota_fail(msg, OTA_E_NOMEM, "libcoap: cannot create a context");
    coap_set_app_data(n->ctx, n);
    coap_register_response_handler(n->ctx, dev_net_on_response);
    coap_register_nack_handler(n->ctx, dev_net_on_nack);
    n->sess = coap_new_client_session(n->ctx, NULL, &dst, COAP_PROTO_UDP);
    if (!n->sess) {
        dev_net_close(n);
        return ota_fail(msg, OTA_E_NET, "%s: cannot create a UDP session", n->peer);
    }
    return OTA_OK;
}

void dev_net_close(struct dev_net *n)
{
    if (n->sess)
        coap_session_release(n->sess);
    if (n->ctx)
        coap_free_context(n->ctx);
    n->sess = NULL;
    n->ctx = NULL;
}
