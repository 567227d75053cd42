/* dgram.c - connected UDP socket, DTLS-PSK over OpenSSL (see dgram.h).
 *
 * Sections: clock and URL; the socket and its ICMP errors; DTLS (PSK
 * callback, the record watcher that spots a refused key, the bounded
 * handshake); send and receive.
 */
#include "dgram.h"

#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/errqueue.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DGRAM_POLL_MAX_MS 250 /* longest sleep inside a handshake between checks */
#define DGRAM_COAP_205 0x45   /* CoAP code byte of 2.05 Content */

/* --- clock and URL ------------------------------------------------------ */

uint32_t dgram_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint32_t)((uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u);
}

static uint32_t dgram_since(uint32_t t0)
{
    return dgram_now_ms() - t0;
}

/* Now as a time stamp where 0 means "not set": 0 itself becomes the
 * millisecond before it (a stamp must never lie in the future). */
static uint32_t dgram_stamp(void)
{
    uint32_t t = dgram_now_ms();
    return t ? t : UINT32_MAX;
}

static uint32_t dgram_rtt(const struct dgram *g)
{
    if (g->rtt_ms.srtt)
        return (uint32_t)g->rtt_ms.srtt;
    return g->hs_rtt_ms ? g->hs_rtt_ms : DGRAM_RTT_INIT_MS;
}

/* One retransmission timeout: the longest a live peer takes to answer. */
static uint32_t dgram_rto(const struct dgram *g)
{
    uint32_t rto = g->rtt_ms.srtt ? (uint32_t)rtt_rto(&g->rtt_ms) : 2 * dgram_rtt(g);
    return rto > DGRAM_REMOVE_MIN_MS ? rto : DGRAM_REMOVE_MIN_MS;
}

/* After a move with nothing heard since: the next one comes at the RTO
 * pace, DGRAM_REMOVES times in a row (see dgram.h). */
static int dgram_moving_fast(const struct dgram *g)
{
    return g->moves_unanswered > 0 && g->moves_unanswered <= DGRAM_REMOVES;
}

/* How long a request may go unanswered before the link moves. */
static uint32_t dgram_move_after(const struct dgram *g)
{
    return dgram_moving_fast(g) ? dgram_rto(g) : DGRAM_SILENT_MS + 4 * dgram_rtt(g);
}

static enum ota_err dgram_url_port(const char *url, const char *p, uint16_t *port, const char **end,
                                   char *msg)
{
    unsigned long v = 0;
    const char *q = p;
    while (*q >= '0' && *q <= '9' && v <= 65535)
        v = v * 10 + (unsigned long)(*q++ - '0');
    if (q == p || v == 0 || v > 65535)
        return ota_fail(msg, OTA_E_INVAL, "server URL %s: bad port", url);
    *port = (uint16_t)v;
    *end = q;
    return OTA_OK;
}

enum ota_err dgram_url(const char *url, char *host, size_t hostlen, uint16_t *port, int *secure,
                       char *msg)
{
    const char *p, *h, *he;
    if (!strncmp(url, "coap://", 7))
        *secure = 0, p = url + 7;
    else if (!strncmp(url, "coaps://", 8))
        *secure = 1, p = url + 8;
    else
        return ota_fail(msg, OTA_E_INVAL, "server URL %s: only coap:// and coaps:// are "
                                          "supported", url);
    *port = *secure ? DGRAM_PORT_COAPS : DGRAM_PORT_COAP;
    if (*p == '[') { /* [IPv6] */
        h = p + 1;
        he = strchr(h, ']');
        if (!he)
            return ota_fail(msg, OTA_E_INVAL, "server URL %s: bad host", url);
        p = he + 1;
    } else {
        h = p;
        he = p + strcspn(p, ":/?#");
        p = he;
    }
    if (he == h || (size_t)(he - h) >= hostlen)
        return ota_fail(msg, OTA_E_INVAL, "server URL %s: bad host", url);
    if (*p == ':' && dgram_url_port(url, p + 1, port, &p, msg) != OTA_OK)
        return OTA_E_INVAL;
    if (*p && strcmp(p, "/") && strcmp(p, "/fota"))
        return ota_fail(msg, OTA_E_INVAL, "server URL %s: path must be empty or /fota", url);
    memcpy(host, h, (size_t)(he - h));
    host[he - h] = '\0';
    return OTA_OK;
}

/* --- the socket --------------------------------------------------------- */

/* A fresh socket connected to g->addr (a new source port: a load
 * balancer in front of the gateways sees a new peer). */
static enum ota_err dgram_socket(struct dgram *g, char *msg)
{
    int on = 1, v6 = g->addr.ss_family == AF_INET6;
    int fd = socket(g->addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 || connect(fd, (const struct sockaddr *)&g->addr, g->alen) != 0 ||
        setsockopt(fd, v6 ? IPPROTO_IPV6 : IPPROTO_IP, v6 ? IPV6_RECVERR : IP_RECVERR, &on,
                   sizeof on) != 0) {
        int err = errno;
        if (fd >= 0)
            close(fd);
        return ota_fail(msg, OTA_E_NET, "%s: socket: %s", g->peer, strerror(err));
    }
    if (g->fd >= 0) /* kept until the new one works: a failed move stays on the old port */
        close(g->fd);
    g->fd = fd;
    return OTA_OK;
}

static enum ota_err dgram_connect(struct dgram *g, const char *host, uint16_t port, char *msg)
{
    struct addrinfo hints, *res = NULL;
    char service[8];
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_DGRAM;
    snprintf(service, sizeof service, "%u", (unsigned)port);
    int rc = getaddrinfo(host, service, &hints, &res);
    if (rc != 0 || !res)
        return ota_fail(msg, OTA_E_NET, "resolve %s: %s", host, gai_strerror(rc));
    if (res->ai_addrlen > sizeof g->addr) {
        freeaddrinfo(res);
        return ota_fail(msg, OTA_E_NET, "resolve %s: address too long", host);
    }
    memcpy(&g->addr, res->ai_addr, res->ai_addrlen);
    g->alen = (socklen_t)res->ai_addrlen;
    freeaddrinfo(res);
    return dgram_socket(g, msg);
}

/* Drain the queued ICMP errors (which also clears the socket's pending
 * error, so the next send/recv is not refused for an old one). Before any
 * 2.05 the first one ends the link: 1 returned, g->why says why. */
static int dgram_icmp(struct dgram *g)
{
    int fatal = 0;
    for (;;) {
        char ctl[512];
        uint8_t data[64];
        struct iovec iov = {data, sizeof data};
        struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
                           .msg_controllen = sizeof ctl};
        if (recvmsg(g->fd, &m, MSG_ERRQUEUE | MSG_DONTWAIT) < 0)
            return fatal;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
            struct sock_extended_err ee;
            if (!((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR) ||
                  (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_RECVERR)))
                continue;
            memcpy(&ee, CMSG_DATA(c), sizeof ee);
            if (ee.ee_origin != SO_EE_ORIGIN_ICMP && ee.ee_origin != SO_EE_ORIGIN_ICMP6)
                continue;
            log_msg(LOG_L_DEBUG, "net: ICMP type %u code %u from %s%s", ee.ee_type, ee.ee_code,
                    g->peer, g->answered ? " (counted as loss)" : "");
            if (g->answered || fatal)
                continue;
            fatal = g->failed = 1;
            int port = ee.ee_origin == SO_EE_ORIGIN_ICMP ? ee.ee_type == 3 && ee.ee_code == 3
                                                         : ee.ee_type == 1 && ee.ee_code == 4;
            if (port)
                snprintf(g->why, sizeof g->why, "%s: server unreachable: connection refused "
                         "(ICMP port unreachable)", g->peer);
            else
                snprintf(g->why, sizeof g->why, "%s: server unreachable: %s (ICMP)", g->peer,
                         strerror((int)ee.ee_errno));
        }
    }
}

/* Wait until the socket is readable, has an error queued, or ms pass:
 * 1 readable, 0 nothing, -1 the link failed (g->why). */
static int dgram_wait(struct dgram *g, uint32_t ms)
{
    struct pollfd p = {g->fd, POLLIN, 0};
    int n = poll(&p, 1, (int)ms);
    if (n < 0)
        return errno == EINTR ? 0 : -1;
    if (n > 0 && (p.revents & POLLERR) && dgram_icmp(g))
        return -1;
    return n > 0 && (p.revents & POLLIN) ? 1 : 0;
}

/* --- DTLS --------------------------------------------------------------- */

static unsigned dgram_psk_cb(SSL *ssl, const char *hint, char *identity, unsigned max_identity,
                             unsigned char *psk, unsigned max_psk)
{
    const struct dgram *g = SSL_get_app_data(ssl);
    size_t n = g ? strlen(g->identity) : 0;
    (void)hint;
    if (!g || n + 1 > max_identity || sizeof g->key > max_psk)
        return 0;
    memcpy(identity, g->identity, n + 1);
    memcpy(psk, g->key, sizeof g->key);
    return sizeof g->key;
}

/* The handshake timeline, and hello records that keep coming after our
 * Finished (see dgram.h). */
static void dgram_on_record(int write_p, int version, int type, const void *buf, size_t len,
                            SSL *ssl, void *arg)
{
    struct dgram *g = arg;
    const uint8_t *b = buf;
    (void)version;
    (void)ssl;
    if (write_p && type == SSL3_RT_HANDSHAKE && len > 0) {
        if (b[0] == SSL3_MT_CLIENT_HELLO && !g->hs_hello_ms)
            g->hs_hello_ms = dgram_stamp();
        if (b[0] == SSL3_MT_FINISHED && !g->hs_finished_ms)
            g->hs_finished_ms = dgram_stamp();
    } else if (!write_p && type == SSL3_RT_HEADER && len >= DTLS1_RT_HEADER_LENGTH) {
        g->hs_heard = 1;
        if (!g->hs_rtt_ms && g->hs_hello_ms)
            g->hs_rtt_ms = dgram_since(g->hs_hello_ms) + 1; /* +1: measured, not 0 */
        if (g->hs_finished_ms && b[0] == SSL3_RT_HANDSHAKE && b[3] == 0 && b[4] == 0)
            g->hs_refusals++;
    }
}

static int dgram_psk_refused(const struct dgram *g)
{
    return !g->answered && g->hs_finished_ms && g->hs_refusals >= DGRAM_REFUSALS &&
           dgram_since(g->hs_finished_ms) > DGRAM_GRACE_MS + 4 * g->hs_rtt_ms;
}

static enum ota_err dgram_ssl_fail(struct dgram *g, const char *what, char *msg)
{
    unsigned long e = ERR_get_error();
    ERR_clear_error();
    return ota_fail(msg, OTA_E_NET, "%s: %s%s%s", g->peer, what, e ? ": " : "",
                    e ? ERR_reason_error_string(e) : "");
}

/* OpenSSL reads and writes records through this BIO on our socket. A
 * socket error (the ICMP error of a dead gateway surfaces as ECONNREFUSED
 * on a connected socket) would make OpenSSL end the session; the BIO turns
 * it into what it is on UDP: a lost datagram, after dgram_icmp has read
 * the error (fatal before the first 2.05: dgram_wait finds g->why set). */
static int dgram_bio_write(BIO *b, const char *buf, int len)
{
    struct dgram *g = BIO_get_data(b);
    ssize_t n = send(g->fd, buf, (size_t)len, 0);
    BIO_clear_retry_flags(b);
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ENOBUFS)
        dgram_icmp(g);
    return len; /* sent, or lost like any datagram */
}

static int dgram_bio_read(BIO *b, char *buf, int len)
{
    struct dgram *g = BIO_get_data(b);
    ssize_t n = recv(g->fd, buf, (size_t)len, 0);
    BIO_clear_retry_flags(b);
    if (n > 0)
        return (int)n;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        dgram_icmp(g);
    BIO_set_retry_read(b); /* nothing (more) to read now */
    return -1;
}

static long dgram_bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)b;
    (void)num;
    (void)ptr;
    switch (cmd) {
    case BIO_CTRL_FLUSH:
    case BIO_CTRL_DGRAM_SET_NEXT_TIMEOUT:
        return 1;
    case BIO_CTRL_DGRAM_GET_MTU_OVERHEAD:
        return 28; /* IPv4 + UDP headers */
    default:
        return 0; /* no pending bytes, no MTU queries (SSL_set_mtu sets it) */
    }
}

static BIO_METHOD *dgram_bio_method(void)
{
    static BIO_METHOD *m;
    if (!m && (m = BIO_meth_new(BIO_TYPE_SOURCE_SINK | BIO_get_new_index(), "ota-dgram")) != NULL) {
        BIO_meth_set_write(m, dgram_bio_write);
        BIO_meth_set_read(m, dgram_bio_read);
        BIO_meth_set_ctrl(m, dgram_bio_ctrl);
    }
    return m;
}

static enum ota_err dgram_ssl_new(struct dgram *g, char *msg)
{
    if (g->ssl)
        SSL_free(g->ssl);
    g->established = 0;
    g->hs_hello_ms = g->hs_finished_ms = 0;
    g->hs_refusals = g->hs_heard = 0;
    g->ssl = SSL_new(g->ctx);
    BIO *bio = g->ssl && dgram_bio_method() ? BIO_new(dgram_bio_method()) : NULL;
    if (!bio)
        return dgram_ssl_fail(g, "cannot create a DTLS session", msg);
    BIO_set_data(bio, g);
    BIO_set_init(bio, 1);
    SSL_set_bio(g->ssl, bio, bio);
    SSL_set_options(g->ssl, SSL_OP_NO_QUERY_MTU);
    SSL_set_mtu(g->ssl, DGRAM_MTU);
    SSL_set_app_data(g->ssl, g);
    SSL_set_msg_callback(g->ssl, dgram_on_record);
    SSL_set_msg_callback_arg(g->ssl, g);
    SSL_set_connect_state(g->ssl);
    return OTA_OK;
}

static enum ota_err dgram_ctx(struct dgram *g, const struct cfg_device *d, char *msg)
{
    if (d->psk_identity_project)
        snprintf(g->identity, sizeof g->identity, "%s/%s", d->project, d->imei);
    else
        snprintf(g->identity, sizeof g->identity, "%s", d->imei);
    memcpy(g->key, d->psk, sizeof g->key);
    g->ctx = SSL_CTX_new(DTLS_client_method());
    if (!g->ctx || !SSL_CTX_set_min_proto_version(g->ctx, DTLS1_2_VERSION) ||
        !SSL_CTX_set_max_proto_version(g->ctx, DTLS1_2_VERSION) ||
        !SSL_CTX_set_cipher_list(g->ctx, DGRAM_CIPHERS))
        return dgram_ssl_fail(g, "cannot set up DTLS", msg);
    SSL_CTX_set_psk_client_callback(g->ctx, dgram_psk_cb);
    return OTA_OK;
}

static const char *dgram_refused_text(const struct dgram *g)
{
    if (!g->hs_heard)
        return "DTLS handshake failed: no answer from the server";
    return "DTLS handshake failed: wrong PSK? (the server does not accept this IMEI's psk, or has "
           "no coaps:// there)";
}

/* One step of the handshake loop: 1 done, 0 go on, -1 failed (msg). */
static int dgram_handshake_step(struct dgram *g, uint32_t t0, char *msg)
{
    ERR_clear_error();
    int rc = SSL_do_handshake(g->ssl);
    if (g->failed) { /* the BIO met an ICMP error */
        ota_fail(msg, OTA_E_NET, "%s", g->why);
        return -1;
    }
    if (rc == 1)
        return 1;
    int err = SSL_get_error(g->ssl, rc);
    if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
        int refused = err == SSL_ERROR_SYSCALL && errno == ECONNREFUSED;
        if (dgram_icmp(g))
            ota_fail(msg, OTA_E_NET, "%s", g->why);
        else if (refused)
            ota_fail(msg, OTA_E_NET, "%s: server unreachable: connection refused", g->peer);
        else
            dgram_ssl_fail(g, "DTLS handshake failed", msg);
        return -1;
    }
    uint32_t limit = g->answered && g->hs_limit_ms > DGRAM_REHANDSHAKE_MS ? DGRAM_REHANDSHAKE_MS
                                                                          : g->hs_limit_ms;
    if (g->answered && !g->hs_heard && dgram_moving_fast(g))
        limit = dgram_rto(g); /* nobody there: likely the dead gateway again */
    if (dgram_psk_refused(g) || dgram_since(t0) >= limit) {
        ota_fail(msg, OTA_E_NET, "%s: %s", g->peer, dgram_refused_text(g));
        return -1;
    }
    struct timeval tv = {0, 0};
    uint32_t ms = DGRAM_POLL_MAX_MS;
    if (DTLSv1_get_timeout(g->ssl, &tv) == 1) {
        uint64_t t = (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
        ms = t < ms ? (uint32_t)t : ms;
    }
    int w = dgram_wait(g, ms);
    if (w < 0) {
        ota_fail(msg, OTA_E_NET, "%s", g->why);
        return -1;
    }
    if (w == 0 && DTLSv1_handle_timeout(g->ssl) < 0) {
        dgram_ssl_fail(g, "DTLS handshake failed", msg);
        return -1;
    }
    return 0;
}

/* A new session, bounded by g->hs_limit_ms. After silence it starts from
 * a new socket (fresh), as libcoap's new session did: a load balancer then
 * sees a new peer and picks a gateway that is alive, where the old source
 * port stays pinned to the dead one until its session idles out. After
 * the session ended with an error (an alert: someone answered on this
 * port) it stays on the socket, as libcoap's reconnect did. */
static enum ota_err dgram_handshake(struct dgram *g, int fresh, char *msg)
{
    uint32_t t0 = dgram_now_ms();
    enum ota_err e = fresh ? dgram_socket(g, msg) : OTA_OK;
    if (e == OTA_OK)
        e = dgram_ssl_new(g, msg);
    int rc = 0;
    while (e == OTA_OK && rc == 0)
        rc = dgram_handshake_step(g, t0, msg);
    g->fresh_next = e != OTA_OK || rc < 0; /* the next try starts from a new socket */
    if (g->fresh_next)
        return OTA_E_NET;
    g->established = 1;
    g->handshakes++;
    g->waiting_since = 0;
    g->moves_unanswered = 0; /* a gateway that is alive */
    log_msg(LOG_L_DEBUG, "net: DTLS session with %s up in %u ms (%s, identity %s)", g->peer,
            (unsigned)dgram_since(t0), SSL_get_cipher_name(g->ssl), g->identity);
    return OTA_OK;
}

/* Move to a new socket (source port) and handshake there; a handshake
 * that hears nothing within an RTO (the dead gateway again) moves again,
 * as long as the fast pace lasts. A failure is more loss: the next send
 * tries from a new socket. */
static void dgram_move_dtls(struct dgram *g)
{
    char m[OTA_MSG_LEN];
    while (dgram_handshake(g, 1, m) != OTA_OK) {
        log_msg(LOG_L_INFO, "net: %s", m);
        g->established = 0;
        if (g->hs_heard || !dgram_moving_fast(g))
            return;
        g->moves++;
        g->moves_unanswered++;
    }
}

/* coap://: a new socket, and the last request again from it (the
 * library's own timers may be backed off by now). */
static void dgram_move_udp(struct dgram *g)
{
    char m[OTA_MSG_LEN];
    if (dgram_socket(g, m) != OTA_OK) {
        log_msg(LOG_L_INFO, "net: %s (kept the old port)", m);
        return;
    }
    if (g->last_len && send(g->fd, g->last_req, g->last_len, 0) == (ssize_t)g->last_len)
        g->waiting_since = dgram_stamp(); /* the next move's clock starts with this request */
}

/* A request unanswered for dgram_move_after(): a new source port, i.e. a
 * new load balancer session hashed afresh (see dgram.h). */
static void dgram_move(struct dgram *g)
{
    uint32_t after = dgram_move_after(g);
    if (!g->answered || !g->waiting_since || dgram_since(g->waiting_since) < after ||
        (g->secure && !g->established))
        return;
    g->moves++;
    g->moves_unanswered++;
    g->waiting_since = 0; /* the next request starts the clock again */
    log_msg(LOG_L_INFO, "net: %s silent for %.1f s: %s (move %u), the gateway may have failed "
            "over", g->peer, after / 1000.0, g->secure ? "new DTLS session from a new source "
            "port" : "new source port", g->moves);
    if (g->secure)
        dgram_move_dtls(g);
    else
        dgram_move_udp(g);
}

/* --- send and receive ---------------------------------------------------- */

enum ota_err dgram_open(struct dgram *g, const char *url, const struct cfg_device *d,
                        uint32_t hs_limit_ms, char *msg)
{
    char host[CFG_URL_MAX];
    uint16_t port = 0;
    memset(g, 0, sizeof *g);
    g->fd = -1;
    g->hs_limit_ms = hs_limit_ms;
    enum ota_err e = dgram_url(url, host, sizeof host, &port, &g->secure, msg);
    if (e == OTA_OK && g->secure && !d->has_psk)
        e = ota_fail(msg, OTA_E_INVAL, "server URL %s: coaps:// needs psk in device.ini", url);
    if (e != OTA_OK)
        return e;
    snprintf(g->peer, sizeof g->peer, strchr(host, ':') ? "[%s]:%u" : "%s:%u", host,
             (unsigned)port);
    e = dgram_connect(g, host, port, msg);
    if (e == OTA_OK && g->secure)
        e = dgram_ctx(g, d, msg);
    if (e != OTA_OK)
        dgram_close(g);
    return e;
}

/* A send or recv error: the socket's pending ICMP error, or another. */
static enum ota_err dgram_io_fail(struct dgram *g, const char *what, char *msg)
{
    int err = errno;
    if (dgram_icmp(g))
        return ota_fail(msg, OTA_E_NET, "%s", g->why);
    if (err == ECONNREFUSED && g->answered)
        return OTA_OK; /* loss */
    if (err == ECONNREFUSED)
        return ota_fail(msg, OTA_E_NET, "%s: server unreachable: connection refused", g->peer);
    return ota_fail(msg, OTA_E_NET, "%s: %s: %s", g->peer, what, strerror(err));
}

static enum ota_err dgram_send_dtls(struct dgram *g, const uint8_t *buf, size_t len, char *msg)
{
    if (!g->established && dgram_handshake(g, g->fresh_next, msg) != OTA_OK) {
        if (!g->answered)
            return OTA_E_NET;
        log_msg(LOG_L_INFO, "net: %s", msg); /* loss: resent when the timers fire */
        return OTA_OK;
    }
    ERR_clear_error();
    int n = SSL_write(g->ssl, buf, (int)len);
    if (g->failed)
        return ota_fail(msg, OTA_E_NET, "%s", g->why);
    if (n > 0)
        return OTA_OK;
    g->established = 0; /* a new session on the next send */
    if (dgram_icmp(g) && !g->answered)
        return ota_fail(msg, OTA_E_NET, "%s", g->why);
    if (!g->answered)
        return dgram_ssl_fail(g, "DTLS send failed", msg);
    ERR_clear_error();
    return OTA_OK;
}

enum ota_err dgram_send(struct dgram *g, const uint8_t *buf, size_t len, char *msg)
{
    if (!g->waiting_since)
        g->waiting_since = dgram_stamp();
    if (dgram_icmp(g))
        return ota_fail(msg, OTA_E_NET, "%s", g->why);
    if (g->secure)
        return dgram_send_dtls(g, buf, len, msg);
    if (len <= sizeof g->last_req) {
        memcpy(g->last_req, buf, len);
        g->last_len = len;
    }
    if (send(g->fd, buf, len, 0) == (ssize_t)len)
        return OTA_OK;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
        return OTA_OK; /* like a lost datagram */
    return dgram_io_fail(g, "send", msg);
}

/* Read what is there: 1 a datagram in buf, 0 none (or not application
 * data), -1 the link failed (msg). */
static int dgram_read(struct dgram *g, uint8_t *buf, size_t cap, size_t *len, char *msg)
{
    if (!g->secure) {
        ssize_t n = recv(g->fd, buf, cap, 0);
        if (n >= 0) {
            *len = (size_t)n;
            return n > 0;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return 0;
        return dgram_io_fail(g, "recv", msg) == OTA_OK ? 0 : -1;
    }
    if (!g->established) {
        uint8_t junk[64]; /* records of a dead session: nothing to read them with */
        while (recv(g->fd, junk, sizeof junk, 0) >= 0)
            ;
        return 0;
    }
    ERR_clear_error();
    int n = SSL_read(g->ssl, buf, (int)cap);
    if (g->failed) {
        ota_fail(msg, OTA_E_NET, "%s", g->why);
        return -1;
    }
    if (n > 0) {
        *len = (size_t)n;
        return 1;
    }
    int err = SSL_get_error(g->ssl, n);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
        return 0;
    g->established = 0;
    if (dgram_icmp(g) || !g->answered) {
        if (!g->why[0])
            dgram_ssl_fail(g, "DTLS session closed", g->why);
        ota_fail(msg, OTA_E_NET, "%s", g->why);
        return -1;
    }
    unsigned long reason = ERR_get_error();
    log_msg(LOG_L_INFO, "net: DTLS session with %s ended (%s): a new one on the next request",
            g->peer, err == SSL_ERROR_ZERO_RETURN ? "closed by the server"
                     : reason ? ERR_reason_error_string(reason) : "error");
    ERR_clear_error();
    return 0;
}

enum ota_err dgram_recv(struct dgram *g, uint8_t *buf, size_t cap, size_t *len, uint32_t wait_ms,
                        char *msg)
{
    uint32_t t0 = dgram_now_ms();
    *len = 0;
    for (;;) {
        int rc = dgram_read(g, buf, cap, len, msg);
        if (rc < 0)
            return OTA_E_NET;
        if (rc > 0) {
            if (g->waiting_since)
                /* RFC 6298 over the link: a sample inflated by a loss only makes the bounds longer */
                rtt_sample(&g->rtt_ms, dgram_since(g->waiting_since));
            g->waiting_since = 0;
            g->moves_unanswered = 0;
            g->answered |= *len >= 4 && buf[1] == DGRAM_COAP_205;
            return OTA_OK;
        }
        *len = 0;
        uint32_t spent = dgram_since(t0);
        if (spent >= wait_ms)
            return OTA_OK;
        dgram_move(g);
        uint32_t left = wait_ms - spent;
        if (dgram_wait(g, left < DGRAM_POLL_MAX_MS ? left : DGRAM_POLL_MAX_MS) < 0)
            return ota_fail(msg, OTA_E_NET, "%s", g->why);
    }
}

void dgram_close(struct dgram *g)
{
    if (g->ssl)
        SSL_free(g->ssl);
    if (g->ctx)
        SSL_CTX_free(g->ctx);
    if (g->fd >= 0)
        close(g->fd);
    g->ssl = NULL;
    g->ctx = NULL;
    g->fd = -1;
}
