/* dtls.h - coaps:// with DTLS-PSK, keys derived per handshake.
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
 */
#ifndef SRV_DTLS_H
#define SRV_DTLS_H

#include <coap3/coap.h>

#include "cfg.h"

struct srv_dtls {
    uint8_t secret[CRYPTO_PSK_SECRET_MAX];
    size_t secret_len;
    uint8_t key[CRYPTO_PSK_LEN]; /* last derived key, copied by libcoap */
    coap_bin_const_t key_bin;
    unsigned long handshakes, refused;
};

/* Load the product secret (refused if other users can read the file). */
enum ota_err srv_dtls_init(struct srv_dtls *d, const char *secret_path, char *msg);
/* Install the PSK callback on ctx; endpoints of COAP_PROTO_DTLS use it. */
enum ota_err srv_dtls_attach(struct srv_dtls *d, coap_context_t *ctx, char *msg);
/* The PSK identity of a DTLS session as a string into out (n bytes);
 * returns 0 for a plain coap:// session, -1 if it does not fit. */
int srv_dtls_identity(const coap_session_t *session, char *out, size_t n);
void srv_dtls_wipe(struct srv_dtls *d);

#endif
