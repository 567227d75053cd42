/* gate.h - a look at every datagram before libcoap reads it.
 *
 * libcoap 4.3.1 owns the sockets and reads one datagram per ready socket
 * per coap_io_process call; the server drives the loop, so it can peek
 * (MSG_PEEK) at the datagram libcoap is about to read and drop it first.
 * Two screens use this:
 *  - coaps:// sockets: a ClientHello from a new peer of an address that has
 *    too many handshakes in progress (dtls.h, srv_dtls_screen);
 *  - coap:// sockets: requests libcoap itself would answer with a reason
 *    phrase or echoed options larger than 3x the request (RFC 7252 section
 *    11.3): Proxy-Uri/Proxy-Scheme (libcoap: 5.05 "Proxying Not
 *    Supported", 3.9x a 7-byte request) and unknown critical options
 *    (4.02 "Bad Option" with the option echoed, 3.2x). A confirmable one is
 *    answered here with the bare code (an ACK no larger than the request),
 *    a non-confirmable one is ignored.
 * The sockets are found once, by their bound port, among the process's
 * UDP sockets. If libcoap has no epoll descriptor to wait on, the gate is
 * off and coap_io_process runs as usual (logged once).
 */
#ifndef SRV_GATE_H
#define SRV_GATE_H

#include <pthread.h>

#include <coap3/coap.h>

#include "cfg.h"
#include "dtls.h"

#define SRV_GATE_SOCKETS_MAX (2 * CFG_LISTEN_MAX)

struct srv_gate {
    struct srv_dtls *dtls; /* NULL: no coaps:// */
    uint16_t ports[SRV_GATE_SOCKETS_MAX]; /* network order */
    int port_secure[SRV_GATE_SOCKETS_MAX];
    int nports;
    int fds[SRV_GATE_SOCKETS_MAX];
    int fd_secure[SRV_GATE_SOCKETS_MAX];
    int nfds, scanned;
    uint64_t answered; /* requests answered or ignored here */
    pthread_mutex_t *lock; /* held around coap_io_process (its handlers); NULL = none */
};

/* The listen ports of cfg (coap:// unless dtls_only, and coaps://). */
enum ota_err srv_gate_init(struct srv_gate *g, const struct cfg_ota *cfg, struct srv_dtls *dtls,
                           char *msg);
/* One turn of the event loop instead of coap_io_process(ctx, wait_ms). */
int srv_gate_io(struct srv_gate *g, coap_context_t *ctx, unsigned wait_ms);

enum srv_gate_verdict {
    SRV_GATE_PASS = 0, /* libcoap's */
    SRV_GATE_BAD_OPTION, /* CON request with an unknown critical option: bare 4.02 */
    SRV_GATE_NO_PROXY,   /* CON request with Proxy-Uri/Proxy-Scheme: bare 5.05 */
    SRV_GATE_IGNORE,     /* the same as a NON request: dropped */
};
/* The screen of a plain coap:// datagram (pure; fuzzed). */
enum srv_gate_verdict srv_gate_screen(const uint8_t *p, size_t n);

#endif
