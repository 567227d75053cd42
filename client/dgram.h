/* dgram.h - the Linux port's datagram link: one connected UDP socket, with
 * DTLS 1.2 PSK over OpenSSL for coaps://.
 *
 * What the device library sees as port send/recv (odev.h). The CoAP inside
 * the datagrams is the library's; this module only peeks at the code byte
 * of what arrives to know whether the server has answered 2.05 yet,
 * because the link's failures mean different things before and after that:
 *
 *   before the first 2.05  an ICMP error (port unreachable: ECONNREFUSED on
 *                          a connected socket) or a refused DTLS handshake
 *                          ends the run at once (dgram_send/recv fail with
 *                          OTA_E_NET and a message saying which);
 *   after it               they are loss (a gateway failing over): logged,
 *                          and the library's timers resend. A request
 *                          left unanswered for DGRAM_SILENT_MS + 4 round
 *                          trips (counted from the first request after the
 *                          last datagram that came, so a pause of the
 *                          library's own timers is not silence) means the
 *                          gateway behind a load balancer died: the link
 *                          moves to a new socket (source port), a new
 *                          balancer session hashed afresh. coap:// sends
 *                          its last request again from there; coaps://
 *                          handshakes there first (the new gateway has no
 *                          session of ours).
 *   after a move           it may have landed on the dead gateway again
 *                          (the balancer has not marked it down yet): a
 *                          request sent since the move and unanswered for
 *                          one retransmission timeout (RTO = SRTT +
 *                          4 RTTVAR of the link's round trips, at least
 *                          DGRAM_REMOVE_MIN_MS) moves again, up to
 *                          DGRAM_REMOVES times in a row; then the silence
 *                          bound again (a link that is down altogether
 *                          does not churn ports).
 *
 * The DTLS handshake runs inside the first dgram_send (and after silence),
 * bounded by the handshake limit given to dgram_open; OpenSSL's own timers
 * retransmit its flights (DTLSv1_get_timeout / DTLSv1_handle_timeout).
 * A wrong PSK, as a libcoap 4.3.1 server shows it: the server silently
 * drops our Finished (bad MAC, RFC 6347 4.1.2.7) and keeps repeating its
 * hello flight; DGRAM_REFUSALS of those, DGRAM_GRACE_MS + 4 round trips
 * after our Finished, mean refused.
 */
#ifndef DGRAM_H
#define DGRAM_H

#include "cfg.h"
#include "ota.h"
#include "rtt.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define DGRAM_REFUSALS 2      /* server hello records after our Finished ... */
#define DGRAM_GRACE_MS 2000   /* ... and this long + 4 round trips without its Finished */
#define DGRAM_SILENT_MS 3000  /* a request unanswered this long: the session is presumed lost */
#define DGRAM_REMOVE_MIN_MS 500 /* after a move: the shortest wait before the next one */
#define DGRAM_REMOVES 3       /* moves in a row at the RTO pace, then DGRAM_SILENT_MS again */
#define DGRAM_RTT_INIT_MS 1000 /* the round trip assumed before one is measured */
#define DGRAM_RESEND_MAX 512  /* coap://: the last request kept to send again after a move */
/* A new session after a 2.05 (failover) gives up sooner than the first:
 * the library's timers go on resending, and the next send tries again. */
#define DGRAM_REHANDSHAKE_MS 15000
#define DGRAM_MTU 1280        /* DTLS record size limit (IPv6 minimum MTU) */
#define DGRAM_CIPHERS "PSK"   /* what libcoap 4.3.1's OpenSSL server offers for PSK */
#define DGRAM_PORT_COAP 5683
#define DGRAM_PORT_COAPS 5684

struct ssl_ctx_st;
struct ssl_st;

struct dgram {
    int fd;
    struct sockaddr_storage addr; /* the server */
    socklen_t alen;
    int secure;                 /* coaps:// */
    char peer[CFG_URL_MAX];     /* "host:port" for messages */
    uint32_t hs_limit_ms;       /* one handshake at most this long */
    int answered;               /* a 2.05 came back */
    int established;            /* the DTLS session is up */
    uint32_t waiting_since;     /* first request since the last datagram came; 0 = none */
    struct rtt rtt_ms;          /* from waiting_since to the next datagram, in ms */
    unsigned moves;             /* to a new source port after silence (coaps: + a handshake) */
    unsigned moves_unanswered;  /* moves in a row with nothing heard since */
    uint8_t last_req[DGRAM_RESEND_MAX]; /* coap://: the last request sent */
    size_t last_len;
    unsigned handshakes;        /* completed, the first included */
    int fresh_next;             /* the last handshake failed: the next one from a new socket */
    /* DTLS */
    struct ssl_ctx_st *ctx;
    struct ssl_st *ssl;
    char identity[VER_PROJECT_MAX + CFG_IMEI_MAX]; /* IMEI or PROJECT/IMEI */
    uint8_t key[CRYPTO_PSK_LEN];
    uint32_t hs_hello_ms, hs_finished_ms, hs_rtt_ms; /* handshake timeline, 0 = not yet */
    int hs_refusals;            /* server hello records after our Finished */
    int hs_heard;               /* any record came from the server */
    int failed;                 /* an ICMP error before the first 2.05 ended the link */
    char why[OTA_MSG_LEN];      /* the failure that ended the link */
};

/* url: coap://host[:port] or coaps://host[:port], path empty or /fota;
 * host a name, an IPv4 address or [IPv6]. coaps:// needs d->has_psk;
 * identity = IMEI, or PROJECT/IMEI when device.ini says psk_identity =
 * project. hs_limit_ms bounds each DTLS handshake. */
enum ota_err dgram_open(struct dgram *g, const char *url, const struct cfg_device *d,
                        uint32_t hs_limit_ms, char *msg);
/* One datagram; OTA_E_NET (text in msg) when the link failed. */
enum ota_err dgram_send(struct dgram *g, const uint8_t *buf, size_t len, char *msg);
/* Wait up to wait_ms for one datagram: OTA_OK with *len > 0, or *len = 0
 * when nothing came; OTA_E_NET when the link failed. */
enum ota_err dgram_recv(struct dgram *g, uint8_t *buf, size_t cap, size_t *len, uint32_t wait_ms,
                        char *msg);
void dgram_close(struct dgram *g);
/* Monotonic milliseconds (wraps after 49 days; compare differences). */
uint32_t dgram_now_ms(void);
/* Split a coap:// or coaps:// URL (exposed for the unit test). */
enum ota_err dgram_url(const char *url, char *host, size_t hostlen, uint16_t *port, int *secure,
                       char *msg);

#endif
