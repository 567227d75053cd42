/* net.c - block requests and reports over libcoap 4.3.1 (see net.h).
 *
 * Sections: libcoap setup and logging; address and URL; the response
 * handler (copies one answer into the caller's struct dev_block, tagged
 * with the id from its token); sending; the dl.h link and the report.
 */
#include "log.h"

#include <coap3/coap.h>

#include "net.h"

#include <errno.h>
#include <linux/errqueue.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DEV_REPORT_ATTEMPTS 3

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
                                int *secure, char *msg)
{
    coap_uri_t u;
    if (coap_split_uri((const uint8_t *)url, strlen(url), &u) < 0)
        return ota_fail(msg, OTA_E_INVAL, "server URL %s: not a CoAP URI", url);
    if (u.scheme != COAP_URI_SCHEME_COAP && u.scheme != COAP_URI_SCHEME_COAPS)
        return ota_fail(msg, OTA_E_INVAL, "server URL %s: only coap:// and coaps:// are "
                                          "supported", url);
    *secure = u.scheme == COAP_URI_SCHEME_COAPS;
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
    if ((o = coap_check_option(p, COAP_OPTION_MAXAGE, &it)) != NULL)
        b->max_age = coap_decode_var_bytes(coap_opt_value(o), coap_opt_length(o));
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
    n->answered |= b->code == 205;
    n->last_answer_at = dev_now();
    n->parse_err = dev_net_options(p, b, n->parse_msg);
    if (coap_get_data(p, &len, &data) && len > 0) {
        b->truncated = len > DEV_BLOCK_MAX;
        b->len = b->truncated ? DEV_BLOCK_MAX : len;
        memcpy(b->data, data, b->len);
    }
}

/* Our tokens: 4 bytes of this run's random base, then the request id. */
static int dev_net_token_id(const struct dev_net *n, coap_bin_const_t tok, uint32_t *id)
{
    if (tok.length != 8 || memcmp(tok.s, n->token_base, 4) != 0)
        return 0;
    *id = (uint32_t)tok.s[4] << 24 | (uint32_t)tok.s[5] << 16 | (uint32_t)tok.s[6] << 8 | tok.s[7];
    return 1;
}

/* A /fota 2.05 with an ETag turns the short exchange on for its package. */
static void dev_net_short_learn(struct dev_net *n, const struct dev_block *b)
{
    if (!n->short_ok || b->code != 205 || b->etag_len != DEV_ETAG_MAX || !b->has_block2)
        return;
    ota_hex(b->etag, b->etag_len, n->short_path);
    n->short_szx = b->szx;
    n->short_on = 1;
}

/* An answer to a short request: its block's request id from the map, or
 * 0 (ignored) for a refusal, which turns the short exchange off: the
 * blocks are asked again on /fota when their timers fire, and the next
 * /fota 2.05 turns it on again (a new package, another gateway). */
static uint32_t dev_net_short_id(struct dev_net *n, const struct dev_block *b)
{
    uint32_t slot = b->num % DEV_NET_SHORT_MAP;
    if (b->code == 205 && b->has_block2 && b->szx == n->short_szx &&
        n->map_num[slot] == b->num && n->map_id[slot])
        return n->map_id[slot];
    if (b->code != 205 || (b->has_block2 && b->szx != n->short_szx)) {
        n->short_fallbacks += n->short_on;
        n->short_on = 0;
        log_msg(LOG_L_DEBUG, "net: /p/%s answered %u.%02u: back to /fota", n->short_path,
                b->code / 100, b->code % 100);
    }
    return 0;
}

static coap_response_t dev_net_on_response(coap_session_t *s, const coap_pdu_t *sent,
                                           const coap_pdu_t *rcv, const coap_mid_t mid)
{
    struct dev_net *n = coap_get_app_data(coap_session_get_context(s));
    uint32_t id;
    if (!n || !dev_net_token_id(n, coap_pdu_get_token(rcv), &id)) {
        log_msg(LOG_L_DEBUG, "net: ignoring an answer that is not for this run");
        return COAP_RESPONSE_OK;
    }
    if (n->out && !n->got && (id & DEV_NET_ID_KIND) == DEV_NET_SHORT_ID) {
        dev_net_take(n, rcv);
        id = dev_net_short_id(n, n->out);
        if (!id || n->parse_err != OTA_OK)
            return COAP_RESPONSE_OK; /* not delivered: the wait goes on */
        n->got = 1;
        n->got_id = id;
        return COAP_RESPONSE_OK;
    }
    if (!n->out || n->got) {
        /* One answer per wait; a second one in the same poll is lost
         * like a dropped datagram and its request is resent. */
        n->dropped++;
        return COAP_RESPONSE_OK;
    }
    dev_net_take(n, rcv);
    if (n->parse_err == OTA_OK && (id & DEV_NET_ID_KIND) != DEV_NET_REPORT_ID)
        dev_net_short_learn(n, n->out);
    n->got = 1;
    n->got_id = id;
    return COAP_RESPONSE_OK;
}

/* A failed or closed DTLS session would otherwise look like silence and
 * cost the whole block timeout. Before the first 2.05 it ends the run;
 * after it, libcoap handshakes again on the next request, so it is loss. */
static int dev_net_on_event(coap_session_t *s, const coap_event_t ev)
{
    struct dev_net *n = coap_get_app_data(coap_session_get_context(s));
    if (n && (ev == COAP_EVENT_DTLS_ERROR || ev == COAP_EVENT_DTLS_CLOSED)) {
        n->dtls_failed = !n->answered;
        log_msg(LOG_L_DEBUG, "net: DTLS session %s", ev == COAP_EVENT_DTLS_ERROR ? "failed"
                                                                                 : "closed");
    }
    return 0;
}

static void dev_net_on_nack(coap_session_t *s, const coap_pdu_t *sent,
                            const coap_nack_reason_t reason, const coap_mid_t mid)
{
    struct dev_net *n = coap_get_app_data(coap_session_get_context(s));
    if (n && n->out && (reason == COAP_NACK_RST || reason == COAP_NACK_ICMP_ISSUE ||
                        reason == COAP_NACK_NOT_DELIVERABLE))
        n->nack = (int)reason + 1;
}

/* --- sending ------------------------------------------------------- */

static coap_pdu_t *dev_net_pdu(struct dev_net *n, coap_pdu_code_t code, const char *path,
                               uint32_t id)
{
    uint8_t tok[8];
    memcpy(tok, n->token_base, 4);
    for (int i = 0; i < 4; i++)
        tok[4 + i] = (uint8_t)(id >> (24 - 8 * i));
    coap_pdu_t *p = coap_new_pdu(COAP_MESSAGE_NON, code, n->sess);
    if (!p)
        return NULL;
    if (!coap_add_token(p, sizeof tok, tok) ||
        !coap_add_option(p, COAP_OPTION_URI_PATH, strlen(path), (const uint8_t *)path)) {
        coap_delete_pdu(p);
        return NULL;
    }
    return p;
}

static coap_pdu_t *dev_net_get_block(struct dev_net *n, uint32_t num, unsigned szx, uint32_t id)
{
    uint8_t b2[3];
    coap_pdu_t *p = dev_net_pdu(n, COAP_REQUEST_CODE_GET, "fota", id);
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

/* GET /p/<ETag hex> for the pending blocks: one Q-Block2 each. */
static coap_pdu_t *dev_net_get_short(struct dev_net *n, uint32_t id)
{
    uint8_t qb[3];
    coap_pdu_t *p = dev_net_pdu(n, COAP_REQUEST_CODE_GET, "p", id);
    int ok = p && coap_add_option(p, COAP_OPTION_URI_PATH, strlen(n->short_path),
                                  (const uint8_t *)n->short_path) != 0;
    for (int i = 0; ok && i < n->npend; i++)
        ok = coap_add_option(p, DEV_NET_Q_BLOCK2,
                             dev_block2_encode(n->pend_num[i], 0, n->short_szx, qb), qb) != 0;
    if (!ok && p) {
        coap_delete_pdu(p);
        p = NULL;
    }
    return p;
}

/* Send the pending blocks as one short request; they stay mapped to
 * their ids so the burst's answers find their requests. */
static enum ota_err dev_net_flush(struct dev_net *n, char *msg)
{
    if (n->npend == 0)
        return OTA_OK;
    for (int i = 0; i < n->npend; i++) {
        n->map_num[n->pend_num[i] % DEV_NET_SHORT_MAP] = n->pend_num[i];
        n->map_id[n->pend_num[i] % DEV_NET_SHORT_MAP] = n->pend_id[i];
    }
    coap_pdu_t *p = dev_net_get_short(n, DEV_NET_SHORT_ID | (++n->short_seq & 0x1FFFFFFFu));
    int count = n->npend;
    n->npend = 0;
    n->short_requests++;
    if (!p)
        return ota_fail(msg, OTA_E_NOMEM, "%d blocks: cannot build the request", count);
    if (coap_send(n->sess, p) == COAP_INVALID_MID)
        return ota_fail(msg, OTA_E_IO, "%d blocks: send failed", count);
    return OTA_OK;
}

/* --- failing fast before the first answer -------------------------- */

/* libcoap 4.3.1 reports an ICMP error on its connected UDP socket only in
 * its log (and, for DTLS, by closing the session), and gives no access to
 * the socket. So the client finds the socket by its peer address and asks
 * the kernel to queue ICMP errors (IP_RECVERR): libcoap's recv still
 * consumes the error, the queued copy tells us which ICMP it was. */
static int dev_net_same_peer(const struct sockaddr_storage *a, const coap_address_t *b)
{
    const struct sockaddr *sb = &b->addr.sa;
    if (a->ss_family != sb->sa_family)
        return 0;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)sb;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)sb;
    return a->ss_family == AF_INET6 && x->sin6_port == y->sin6_port &&
           !memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr);
}

static void dev_net_watch_icmp(struct dev_net *n, const coap_address_t *dst)
{
    int on = 1;
    n->fd = -1;
    for (int fd = 3; fd < DEV_NET_FD_SCAN; fd++) {
        struct sockaddr_storage peer;
        socklen_t len = sizeof peer;
        int type = 0;
        socklen_t tlen = sizeof type;
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) != 0 || type != SOCK_DGRAM ||
            getpeername(fd, (struct sockaddr *)&peer, &len) != 0 || !dev_net_same_peer(&peer, dst))
            continue;
        int v6 = peer.ss_family == AF_INET6;
        if (setsockopt(fd, v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_RECVERR : IP_RECVERR, &on,
                       sizeof on) == 0)
            n->fd = fd;
        break;
    }
    if (n->fd < 0)
        log_msg(LOG_L_DEBUG, "net: socket to %s not found; ICMP errors look like loss", n->peer);
}

/* Drain the queued ICMP errors; the first one before any 2.05 is kept. */
static void dev_net_read_icmp(struct dev_net *n)
{
    for (;;) {
        char ctl[512];
        uint8_t data[64];
        struct iovec iov = {data, sizeof data};
        struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
                           .msg_controllen = sizeof ctl};
        if (n->fd < 0 || recvmsg(n->fd, &m, MSG_ERRQUEUE | MSG_DONTWAIT) < 0)
            return;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
            struct sock_extended_err ee;
            if (!((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR) ||
                  (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_RECVERR)))
                continue;
            memcpy(&ee, CMSG_DATA(c), sizeof ee);
            if (ee.ee_origin != SO_EE_ORIGIN_ICMP && ee.ee_origin != SO_EE_ORIGIN_ICMP6)
                continue;
            log_msg(LOG_L_DEBUG, "net: ICMP type %u code %u from %s%s", ee.ee_type, ee.ee_code,
                    n->peer, n->answered ? " (counted as loss)" : "");
            if (!n->answered && !n->icmp_errno) {
                n->icmp_errno = (int)ee.ee_errno;
                n->icmp_port = ee.ee_origin == SO_EE_ORIGIN_ICMP ? ee.ee_type == 3 && ee.ee_code == 3
                                                                 : ee.ee_type == 1 && ee.ee_code == 4;
            }
        }
    }
}

/* A wrong PSK, as 4.3.1 with OpenSSL shows it: the server silently drops
 * our Finished (bad MAC, RFC 6347 4.1.2.7) and keeps sending its hello
 * flight (epoch 0 handshake records) instead of its own Finished. The
 * handshake would only time out, so watch the records: hello records
 * after our Finished, well past a few round trips (measured from our
 * second ClientHello, the one with the cookie, to the server's answer;
 * the first left before this callback was set), mean the key was
 * refused. */
static void dev_net_on_tls_msg(int write_p, int version, int type, const void *buf, size_t len,
                               SSL *ssl, void *arg)
{
    struct dev_net *n = arg;
    const uint8_t *b = buf;
    (void)version;
    (void)ssl;
    if (write_p && type == SSL3_RT_HANDSHAKE && len > 0) {
        if (b[0] == SSL3_MT_CLIENT_HELLO && n->hs_hello_at == 0)
            n->hs_hello_at = dev_now();
        if (b[0] == SSL3_MT_FINISHED && n->hs_finished_at == 0)
            n->hs_finished_at = dev_now();
    } else if (!write_p && type == SSL3_RT_HEADER && len >= DTLS1_RT_HEADER_LENGTH) {
        n->hs_heard = 1;
        if (n->hs_rtt < 0 && n->hs_hello_at > 0)
            n->hs_rtt = dev_now() - n->hs_hello_at;
        if (n->hs_finished_at > 0 && b[0] == SSL3_RT_HANDSHAKE && b[3] == 0 && b[4] == 0)
            n->hs_refusals++;
    }
}

static void dev_net_watch_dtls(struct dev_net *n)
{
    coap_tls_library_t lib;
    SSL *ssl = coap_session_get_tls(n->sess, &lib);
    n->hs_rtt = -1;
    if (ssl && lib == COAP_TLS_LIBRARY_OPENSSL) {
        SSL_set_msg_callback(ssl, dev_net_on_tls_msg);
        SSL_set_msg_callback_arg(ssl, n);
    }
}

static int dev_net_psk_refused(const struct dev_net *n)
{
    if (n->answered || n->hs_finished_at <= 0 || n->hs_refusals < DEV_DTLS_REFUSALS ||
        coap_session_get_state(n->sess) == COAP_SESSION_STATE_ESTABLISHED)
        return 0;
    return dev_now() - n->hs_finished_at > DEV_DTLS_GRACE_S + 4 * (n->hs_rtt > 0 ? n->hs_rtt : 0);
}

/* Sticky reasons to stop waiting before the first 2.05 (0 = none). */
static int dev_net_fatal(struct dev_net *n)
{
    dev_net_read_icmp(n);
    if (n->answered)
        return 0;
    if (n->icmp_errno)
        return DEV_NET_ICMP;
    /* The ClientHello leaves inside session creation, before the socket
     * is watched: a session closed without one record from the server was
     * closed by libcoap on that first ICMP error. */
    if (n->dtls_failed && !n->hs_heard)
        return COAP_NACK_ICMP_ISSUE + 1;
    if (n->dtls_failed || (n->secure && dev_net_psk_refused(n)))
        return COAP_NACK_TLS_FAILED + 1;
    return 0;
}

/* Wait up to wait_s for one answer into out; 1 = got it, 0 = timed out,
 * -1 = error (n->nack says which). */
static int dev_net_wait(struct dev_net *n, double wait_s, struct dev_block *out)
{
    double end = dev_now() + wait_s;
    n->out = out;
    n->got = n->nack = 0;
    n->parse_err = OTA_OK;
    for (;;) {
        double left = end - dev_now();
        uint32_t ms = left <= 0 ? COAP_IO_NO_WAIT : (uint32_t)(left * 1000.0) + 1;
        if (coap_io_process(n->ctx, ms > 250 && ms != COAP_IO_NO_WAIT ? 250 : ms) < 0) {
            n->out = NULL;
            return -1;
        }
        if (!n->got)
            n->nack = dev_net_fatal(n);
        if (n->got || n->nack || left <= 0)
            break;
    }
    n->out = NULL;
    return n->got ? 1 : n->nack ? -1 : 0;
}

static const char *dev_nack_text(const struct dev_net *n, char *buf, size_t len)
{
    switch (n->nack - 1) {
    case COAP_NACK_RST:
        return "the server reset the request";
    case DEV_NET_ICMP - 1:
        if (n->icmp_port)
            return "server unreachable: connection refused (ICMP port unreachable)";
        snprintf(buf, len, "server unreachable: %s (ICMP)", strerror(n->icmp_errno));
        return buf;
    case COAP_NACK_ICMP_ISSUE:
    case COAP_NACK_NOT_DELIVERABLE:
        return "server unreachable (ICMP error, no DTLS answer)";
    case COAP_NACK_TLS_FAILED:
        return "DTLS handshake failed: wrong PSK? (the server does not accept this IMEI's psk, "
               "or has no coaps:// there)";
    default:
        return "I/O error on the socket";
    }
}

static double dev_net_clock(void *ctx)
{
    (void)ctx;
    return dev_now();
}

static enum ota_err dev_net_send(void *ctx, uint32_t num, unsigned szx, uint32_t id, char *msg)
{
    struct dev_net *n = ctx;
    if (n->short_on && szx == n->short_szx && num > 0) {
        enum ota_err e = n->npend == DEV_NET_BATCH ? dev_net_flush(n, msg) : OTA_OK;
        n->pend_num[n->npend] = num;
        n->pend_id[n->npend++] = id;
        return e;
    }
    coap_pdu_t *p = dev_net_get_block(n, num, szx, id);
    if (!p)
        return ota_fail(msg, OTA_E_NOMEM, "block %u: cannot build the request", num);
    if (coap_send(n->sess, p) == COAP_INVALID_MID)
        return ota_fail(msg, OTA_E_IO, "block %u: send failed", num);
    return OTA_OK;
}

static coap_session_t *dev_net_psk_session(struct dev_net *n, const coap_address_t *dst,
                                           const struct cfg_device *d);

/* After DEV_DTLS_SILENT_S of silence on an established coaps:// session
 * (a 2.05 came before), replace it: the fetcher's resends then go out in
 * the new session once it is up. Plain coap:// needs nothing of this: any
 * gateway answers any block. */
static void dev_net_rehandshake(struct dev_net *n)
{
    double rtt = n->hs_rtt > 0 ? n->hs_rtt : 0;
    if (!n->secure || !n->answered || !n->dev ||
        dev_now() - n->last_answer_at < DEV_DTLS_SILENT_S + 4 * rtt)
        return;
    coap_address_t dst = *coap_session_get_addr_remote(n->sess);
    coap_session_t *fresh = dev_net_psk_session(n, &dst, n->dev);
    if (!fresh)
        return;
    coap_session_release(n->sess);
    n->sess = fresh;
    n->rehandshakes++;
    n->last_answer_at = dev_now();
    log_msg(LOG_L_INFO, "net: %s silent for %.1f s: new DTLS session (%u), the gateway may have "
            "failed over", n->peer, DEV_DTLS_SILENT_S + 4 * rtt, n->rehandshakes);
    dev_net_watch_icmp(n, &dst);
    dev_net_watch_dtls(n);
}

static enum ota_err dev_net_recv(void *ctx, double wait_s, struct dev_block *out, uint32_t *id,
                                 char *msg)
{
    struct dev_net *n = ctx;
    char text[OTA_MSG_LEN];
    enum ota_err e = dev_net_flush(n, msg);
    if (e != OTA_OK)
        log_msg(LOG_L_DEBUG, "net: %s", msg); /* like a lost datagram: timers resend */
    int rc = dev_net_wait(n, wait_s, out);
    if (rc == 0)
        dev_net_rehandshake(n);
    if (rc == 0)
        return OTA_E_NOTFOUND;
    if (rc < 0)
        return ota_fail(msg, OTA_E_NET, "%s: %s", n->peer, dev_nack_text(n, text, sizeof text));
    *id = n->got_id;
    if (n->parse_err != OTA_OK)
        return ota_fail(msg, n->parse_err, "%s", n->parse_msg);
    return OTA_OK;
}

/* --- fetcher and report ---------------------------------------------- */

static int dev_net_batch(void *ctx)
{
    const struct dev_net *n = ctx;
    return n->short_on ? DEV_NET_BATCH : 1;
}

void dev_net_fetcher(struct dev_net *n, struct dev_fetcher *f)
{
    f->send = dev_net_send;
    f->recv = dev_net_recv;
    f->batch = dev_net_batch;
    f->now = dev_net_clock;
    f->ctx = n;
}

static coap_pdu_t *dev_net_post_report(struct dev_net *n, uint32_t id)
{
    uint8_t cf[2];
    coap_pdu_t *p = dev_net_pdu(n, COAP_REQUEST_CODE_POST, "report", id);
    if (p && (!coap_add_option(p, COAP_OPTION_CONTENT_FORMAT,
                               coap_encode_var_safe(cf, sizeof cf, COAP_MEDIATYPE_APPLICATION_JSON),
                               cf) ||
              !coap_add_data(p, n->body_len, (const uint8_t *)n->body))) {
        coap_delete_pdu(p);
        p = NULL;
    }
    return p;
}

/* RFC 7252 schedule: ACK_TIMEOUT x random(1..1.5), doubling. */
static enum ota_err dev_net_report_exchange(struct dev_net *n, uint32_t id, char *msg)
{
    uint8_t r;
    char text[OTA_MSG_LEN];
    coap_prng(&r, 1);
    double wait_s = DEV_ACK_TIMEOUT_MS / 1000.0 * (1.0 + r / 510.0);
    for (int i = 0; i < DEV_REPORT_ATTEMPTS; i++, wait_s *= 2) {
        coap_pdu_t *p = dev_net_post_report(n, id);
        if (!p)
            return ota_fail(msg, OTA_E_NOMEM, "report: cannot build the request");
        if (coap_send(n->sess, p) == COAP_INVALID_MID)
            log_msg(LOG_L_DEBUG, "net: report: send failed, will retry");
        double end = dev_now() + wait_s;
        while (dev_now() < end) {
            int rc = dev_net_wait(n, end - dev_now(), &n->answer);
            if (rc < 0)
                return ota_fail(msg, OTA_E_NET, "%s: report: %s", n->peer,
                                dev_nack_text(n, text, sizeof text));
            if (rc > 0 && n->got_id == id)
                return OTA_OK;
        }
    }
    return ota_fail(msg, OTA_E_NET, "%s: no answer to the report", n->peer);
}

enum ota_err dev_net_report(struct dev_net *n, const char *json, size_t len, char *msg)
{
    n->body = json;
    n->body_len = len;
    uint32_t id = DEV_NET_REPORT_ID | (++n->report_seq & 0xFFFFu);
    enum ota_err e = dev_net_report_exchange(n, id, msg);
    n->body = NULL;
    n->report_code = e == OTA_OK ? n->answer.code : 0;
    if (e == OTA_OK && n->answer.code / 100 != 2)
        e = ota_fail(msg, OTA_E_NET, "report: server answered %u.%02u", n->answer.code / 100,
                     n->answer.code % 100);
    return e;
}

/* DTLS-PSK: identity = IMEI, or PROJECT/IMEI with psk_identity = project
 * (a gateway serving several projects with psk secrets needs it to pick
 * the secret); key = HMAC-SHA256(product secret, IMEI) either way, as
 * provisioned into device.ini by `ota-cache psk`. */
static coap_session_t *dev_net_psk_session(struct dev_net *n, const coap_address_t *dst,
                                           const struct cfg_device *d)
{
    coap_dtls_cpsk_t setup;
    memset(&setup, 0, sizeof setup);
    setup.version = COAP_DTLS_CPSK_SETUP_VERSION;
    if (d->psk_identity_project)
        snprintf(n->psk_identity, sizeof n->psk_identity, "%s/%s", d->project, d->imei);
    else
        snprintf(n->psk_identity, sizeof n->psk_identity, "%s", d->imei);
    setup.psk_info.identity.s = (const uint8_t *)n->psk_identity;
    setup.psk_info.identity.length = strlen(n->psk_identity);
    setup.psk_info.key.s = d->psk;
    setup.psk_info.key.length = sizeof d->psk;
    return coap_new_client_session_psk2(n->ctx, NULL, dst, COAP_PROTO_DTLS, &setup);
}

enum ota_err dev_net_open(struct dev_net *n, const char *url, const struct cfg_device *d,
                          char *msg)
{
    char host[CFG_URL_MAX];
    uint16_t port = 0;
    int secure = 0;
    coap_address_t dst;
    memset(n, 0, sizeof *n);
    enum ota_err e = dev_query_build(d, &n->q, msg);
    if (e == OTA_OK)
        e = dev_net_url(url, host, sizeof host, &port, &secure, msg);
    if (e == OTA_OK && secure && !d->has_psk)
        e = ota_fail(msg, OTA_E_INVAL, "server URL %s: coaps:// needs psk in device.ini", url);
    if (e == OTA_OK && secure && !coap_dtls_is_supported())
        e = ota_fail(msg, OTA_E_INVAL, "this libcoap has no DTLS support");
    if (e == OTA_OK)
        e = dev_net_resolve(host, port, &dst, msg);
    if (e != OTA_OK)
        return e;
    snprintf(n->peer, sizeof n->peer, "%s:%u", host, (unsigned)port);
    dev_net_startup();
    n->ctx = coap_new_context(NULL);
    if (!n->ctx)
        return ota_fail(msg, OTA_E_NOMEM, "libcoap: cannot create a context");
    coap_prng(n->token_base, sizeof n->token_base);
    coap_set_app_data(n->ctx, n);
    coap_register_response_handler(n->ctx, dev_net_on_response);
    coap_register_nack_handler(n->ctx, dev_net_on_nack);
    coap_register_event_handler(n->ctx, dev_net_on_event);
    n->secure = secure;
    n->dev = d;
    ota_strlcpy(n->imei, d->imei, sizeof n->imei);
    n->sess = secure ? dev_net_psk_session(n, &dst, d)
                     : coap_new_client_session(n->ctx, NULL, &dst, COAP_PROTO_UDP);
    if (!n->sess) {
        dev_net_close(n);
        return ota_fail(msg, OTA_E_NET, "%s: cannot create a %s session", n->peer,
                        secure ? "DTLS" : "UDP");
    }
    dev_net_watch_icmp(n, &dst);
    if (secure)
        dev_net_watch_dtls(n);
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
