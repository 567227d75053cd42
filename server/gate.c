/* gate.c - datagram screens in front of libcoap (gate.h).
 */
#include "gate.h"

#include "log.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#define SRV_GATE_BURST 256    /* datagrams dropped per socket per loop turn at most */
#define SRV_GATE_FD_SCAN 4096 /* descriptors looked at for the endpoint sockets */
#define SRV_GATE_PEEK 1280    /* a request's options fit; longer ones are cut (passed) */

static enum ota_err srv_gate_ports(struct srv_gate *g, const char (*list)[CFG_ADDR_MAX], int n,
                                   int secure, char *msg)
{
    for (int i = 0; i < n && g->nports < SRV_GATE_SOCKETS_MAX; i++) {
        char host[CFG_ADDR_MAX];
        uint16_t port;
        enum ota_err e = cfg_split_hostport(list[i], host, sizeof host, &port,
                                            secure ? 5684 : 5683, msg);
        if (e != OTA_OK)
            return e;
        g->port_secure[g->nports] = secure;
        g->ports[g->nports++] = htons(port);
    }
    return OTA_OK;
}

enum ota_err srv_gate_init(struct srv_gate *g, const struct cfg_ota *cfg, struct srv_dtls *dtls,
                           char *msg)
{
    memset(g, 0, sizeof *g);
    g->dtls = dtls;
    enum ota_err e = cfg->dtls_only ? OTA_OK
                                    : srv_gate_ports(g, cfg->listen, cfg->nlisten, 0, msg);
    if (e == OTA_OK && dtls)
        e = srv_gate_ports(g, cfg->dtls_listen, cfg->ndtls_listen, 1, msg);
    return e;
}

/* ---- the coap:// screen ----------------------------------------------------- */

/* Critical options libcoap 4.3.1 and the handlers know: If-Match, Uri-Host,
 * If-None-Match, Uri-Port, Uri-Path, Uri-Query, Accept, Q-Block2 (short.h;
 * registered with libcoap), Block2, Block1. */
static int srv_gate_known_critical(unsigned num)
{
    static const unsigned known[] = {1, 3, 5, 7, 11, 15, 17, 19, 23, 27};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (known[i] == num)
            return 1;
    return 0;
}

/* An option header's delta or length nibble with its extension bytes;
 * -1 if reserved (15) or cut off. */
static long srv_gate_ext(unsigned nib, const uint8_t *p, size_t n, size_t *at)
{
    if (nib < 13)
        return nib;
    if (nib == 13 && *at + 1 <= n)
        return 13 + p[(*at)++];
    if (nib == 14 && *at + 2 <= n) {
        long v = 269 + ((long)p[*at] << 8) + p[*at + 1];
        *at += 2;
        return v;
    }
    return -1;
}

enum srv_gate_verdict srv_gate_screen(const uint8_t *p, size_t n)
{
    if (n < 4 || (p[0] >> 6) != 1)
        return SRV_GATE_PASS; /* not CoAP 1: libcoap resets or drops it */
    unsigned type = (p[0] >> 4) & 3, tkl = p[0] & 15;
    if (type > 1 || p[1] == 0 || (p[1] >> 5) != 0 || tkl > 8 || 4u + tkl > n)
        return SRV_GATE_PASS; /* not a request */
    size_t at = 4 + tkl;
    unsigned long num = 0;
    while (at < n && p[at] != 0xff) {
        unsigned d = p[at] >> 4, l = p[at] & 15;
        at++;
        long delta = srv_gate_ext(d, p, n, &at), len = srv_gate_ext(l, p, n, &at);
        if (delta < 0 || len < 0 || at + (size_t)len > n)
            return SRV_GATE_PASS; /* malformed: libcoap answers with a 4-byte RST */
        num += (unsigned long)delta;
        at += (size_t)len;
        enum srv_gate_verdict v = num == COAP_OPTION_PROXY_URI || num == COAP_OPTION_PROXY_SCHEME
                                      ? SRV_GATE_NO_PROXY
                                  : (num & 1) && !srv_gate_known_critical((unsigned)num)
                                      ? SRV_GATE_BAD_OPTION
                                      : SRV_GATE_PASS;
        if (v != SRV_GATE_PASS)
            return type == 0 ? v : SRV_GATE_IGNORE;
    }
    return SRV_GATE_PASS;
}

/* The bare answer: ACK, the code, the request's message ID and token. */
static void srv_gate_answer(int fd, const uint8_t *req, enum srv_gate_verdict v,
                            const struct sockaddr *to, socklen_t tl)
{
    uint8_t ack[12];
    unsigned tkl = req[0] & 15;
    ack[0] = (uint8_t)(0x60 | tkl);
    ack[1] = v == SRV_GATE_NO_PROXY ? COAP_RESPONSE_CODE(505) : COAP_RESPONSE_CODE(402);
    memcpy(ack + 2, req + 2, 2 + tkl);
    (void)sendto(fd, ack, 4 + tkl, MSG_DONTWAIT, to, tl);
}

/* 1 if the head datagram of a coap:// socket was handled here. */
static int srv_gate_plain(struct srv_gate *g, int fd)
{
    uint8_t buf[SRV_GATE_PEEK];
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    ssize_t n = recvfrom(fd, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT, (struct sockaddr *)&ss,
                         &sl);
    enum srv_gate_verdict v = n > 0 ? srv_gate_screen(buf, (size_t)n) : SRV_GATE_PASS;
    if (v == SRV_GATE_PASS || recv(fd, buf, 1, MSG_DONTWAIT) < 0)
        return 0;
    if (v != SRV_GATE_IGNORE)
        srv_gate_answer(fd, buf, v, (const struct sockaddr *)&ss, sl);
    g->answered++;
    return 1;
}

/* ---- sockets and the loop ------------------------------------------------------ */

/* The port a UDP socket is bound to (network order), 0 if fd is not one. */
static uint16_t srv_gate_udp_port(int fd)
{
    struct stat sb;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int type = 0;
    socklen_t tl = sizeof type;
    if (fstat(fd, &sb) != 0 || !S_ISSOCK(sb.st_mode) ||
        getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 || type != SOCK_DGRAM ||
        getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
        return 0;
    return ss.ss_family == AF_INET    ? ((struct sockaddr_in *)&ss)->sin_port
           : ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                      : 0;
}

/* libcoap keeps its endpoint sockets to itself: find them by port. */
static void srv_gate_find_sockets(struct srv_gate *g)
{
    g->scanned = 1;
    for (int fd = 0; fd < SRV_GATE_FD_SCAN && g->nfds < SRV_GATE_SOCKETS_MAX; fd++) {
        uint16_t port = srv_gate_udp_port(fd);
        for (int i = 0; port && i < g->nports; i++)
            if (port == g->ports[i]) {
                g->fd_secure[g->nfds] = g->port_secure[i];
                g->fds[g->nfds++] = fd;
                break;
            }
    }
    if (g->nfds < g->nports)
        log_msg(LOG_L_WARN, "gate: %d of %d listening sockets found; the others are not "
                "screened", g->nfds, g->nports);
}

/* libcoap's turn under g->lock: its handlers share the server's state with
 * the device HTTP threads (srv.h). */
static int srv_gate_process(struct srv_gate *g, coap_context_t *ctx, unsigned wait_ms)
{
    if (g->lock)
        pthread_mutex_lock(g->lock);
    int rc = coap_io_process(ctx, wait_ms);
    if (g->lock)
        pthread_mutex_unlock(g->lock);
    return rc;
}

int srv_gate_io(struct srv_gate *g, coap_context_t *ctx, unsigned wait_ms)
{
    int efd = coap_context_get_coap_fd(ctx);
    if (!g->scanned) {
        srv_gate_find_sockets(g);
        if (efd < 0)
            log_msg(LOG_L_WARN, "gate: this libcoap has no epoll descriptor; datagrams are not "
                    "screened (amplification and ClientHello limits off)");
    }
    /* Without an epoll descriptor to wait on, libcoap waits with the lock
     * held: device HTTP decisions then wait up to wait_ms (logged above). */
    if (efd < 0 || g->nfds == 0)
        return srv_gate_process(g, ctx, wait_ms);
    /* libcoap's epoll descriptor is readable when any of its sockets or
     * its timer is; libcoap then reads one datagram per ready socket: the
     * one screened here. */
    struct pollfd pf = {.fd = efd, .events = POLLIN};
    if (poll(&pf, 1, (int)wait_ms) < 0 && errno != EINTR)
        return -1;
    for (int i = 0; i < g->nfds; i++)
        for (int k = 0; k < SRV_GATE_BURST; k++)
            if (!(g->fd_secure[i] ? srv_dtls_screen(g->dtls, g->fds[i])
                                  : srv_gate_plain(g, g->fds[i])))
                break;
    return srv_gate_process(g, ctx, COAP_IO_NO_WAIT);
}
