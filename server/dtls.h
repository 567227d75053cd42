/* dtls.h - coaps:// with DTLS-PSK, keys derived per handshake, and the
 * admission of new DTLS peers.
 *
 * A device's PSK identity is its IMEI and its key is
 * HMAC-SHA256(product secret, IMEI) (crypto_psk_derive), so the server
 * holds one secret and no per-device key database: libcoap asks for the
 * key of each identity during the handshake and gets it derived on the
 * spot. A handshake with an identity that is not an IMEI, or with the
 * wrong key, never completes, so such a client gets no data at all.
 * After the handshake, fota.c compares the query's imei with the session's
 * identity (4.03 when they differ), so one device cannot fetch as another.
 * Only server.c calls this; the secret never leaves this module.
 *
 * New-peer admission (issue 18 item 1). libcoap 4.3.1 makes a "hello"
 * session for any datagram from a new peer whose byte 0 is 22 and byte 13
 * is 1, before the cookie exchange proves the peer's address; such a
 * session lives 30 s (freed one per later new-peer datagram), and past
 * max_handshakes of them every new peer is ignored. So 14-byte forged
 * records could lock devices out. The server therefore:
 *  - sets libcoap's cap deliberately ([dtls] max_handshakes, default 1024);
 *  - counts handshakes in progress per source address (hello and
 *    handshaking sessions, from libcoap's session events) and reads each
 *    coaps:// datagram's first bytes before libcoap does (gate.h,
 *    MSG_PEEK): a ClientHello from a new peer of an address that already
 *    has handshakes_per_address (default 8) in progress is dropped, so
 *    one address cannot take more than its share of the cap and a device
 *    on another address always finds room. Datagrams of peers with a
 *    session, and everything else, go to libcoap untouched.
 * The 30 s life of a hello session is a compile-time constant of 4.3.1
 * (COAP_PARTIAL_SESSION_TIMEOUT_TICKS), and no public call frees a server
 * session early (coap_session_release frees client sessions only; the
 * idle reaper skips hello sessions), so the server bounds how many one
 * address can hold instead of reaping them. Idle established sessions
 * follow [server] session_timeout and max_sessions (server.c); CSM and
 * ping timeouts are for CoAP over TCP and do not apply.
 * Failed handshakes are counted (and logged within the log budget), as are
 * the ClientHellos dropped here; /stats shows both.
 */
#ifndef SRV_DTLS_H
#define SRV_DTLS_H

#include <coap3/coap.h>

#include "cfg.h"
#include "tally.h"

/* One project's product secret. */
struct srv_dtls_secret {
    char project[VER_PROJECT_MAX];
    uint8_t secret[CRYPTO_PSK_SECRET_MAX];
    size_t len;
};

struct srv_dtls {
    struct srv_dtls_secret *secrets; /* the projects with psk_secret, sorted by name */
    size_t nsecrets;
    uint8_t key[CRYPTO_PSK_LEN]; /* last derived key, copied by libcoap */
    coap_bin_const_t key_bin;
    unsigned long handshakes, refused, failed, gated;
    unsigned long pending;       /* handshakes in progress now */
    unsigned per_address;        /* [dtls] handshakes_per_address */
    struct srv_tally pending_peer; /* address+port -> 1 while its handshake is in progress */
    struct srv_tally pending_host; /* address -> handshakes in progress */
};

/* Load the product secret (refused if other users can read the file). */
/* Every project's psk_secret of cfg (at least one). The identity a
 * device sends is PROJECT/IMEI, which picks the project's secret, or a
 * bare IMEI, accepted only while exactly one project has a secret (a
 * one-project gateway keeps working as before); the key is
 * HMAC-SHA256(secret, IMEI) either way. */
enum ota_err srv_dtls_init(struct srv_dtls *d, const struct cfg_ota *cfg, char *msg);
/* SIGHUP: load cfg's secrets (all or nothing) and swap them in. */
enum ota_err srv_dtls_reload(struct srv_dtls *d, const struct cfg_ota *cfg, char *msg);
/* A session identity as PROJECT/IMEI (a bare IMEI gets the one project
 * with a secret); 0 if it names no project with a secret. */
int srv_dtls_full_identity(const struct srv_dtls *d, const char *id, char *out, size_t n);
/* Install the PSK callback, the handshake bounds and the session event
 * handler on ctx; endpoints of COAP_PROTO_DTLS use them. */
enum ota_err srv_dtls_attach(struct srv_dtls *d, coap_context_t *ctx, const struct cfg_ota *cfg,
                             char *msg);
/* Look at the datagram at the head of coaps:// socket fd (MSG_PEEK) and
 * drop it if it is a ClientHello of a new peer whose address has
 * handshakes_per_address in progress. 1 = one was dropped (look again),
 * 0 = the head is libcoap's (or there is none). gate.c calls it. */
int srv_dtls_screen(struct srv_dtls *d, int fd);
/* The PSK identity of a DTLS session as a string into out (n bytes);
 * returns 0 for a plain coap:// session, -1 if it does not fit. */
int srv_dtls_identity(const coap_session_t *session, char *out, size_t n);
/* 1 if a datagram's first n bytes are what libcoap 4.3.1 takes for a
 * ClientHello (record type 22, handshake type 1 at byte 13). */
int srv_dtls_is_hello(const uint8_t *p, size_t n);
void srv_dtls_wipe(struct srv_dtls *d);

#endif
