/* dtls.c - DTLS-PSK for ota-server (see dtls.h).
 *
 * libcoap 4.3.1 calls srv_dtls_key_for with the client's identity during
 * every handshake; the returned key is copied into the session, so one
 * buffer in struct srv_dtls serves all handshakes (libcoap is
 * single-threaded).
 */
#include "dtls.h"

#include "log.h"

#include <string.h>

enum ota_err srv_dtls_init(struct srv_dtls *d, const char *secret_path, char *msg)
{
    memset(d, 0, sizeof *d);
    if (!coap_dtls_is_supported())
        return ota_fail(msg, OTA_E_INVAL, "this libcoap has no DTLS support");
    return crypto_load_psk_secret(secret_path, d->secret, &d->secret_len, msg);
}

static const coap_bin_const_t *srv_dtls_key_for(coap_bin_const_t *identity,
                                                coap_session_t *session, void *arg)
{
    struct srv_dtls *d = arg;
    char imei[CFG_IMEI_MAX];
    (void)session;
    if (!identity || identity->length >= sizeof imei) {
        d->refused++;
        log_msg(LOG_L_INFO, "dtls: refused handshake: identity is not an IMEI");
        return NULL;
    }
    memcpy(imei, identity->s, identity->length);
    imei[identity->length] = '\0';
    if (cfg_check_imei(imei, NULL) != OTA_OK) {
        d->refused++;
        log_msg(LOG_L_INFO, "dtls: refused handshake: identity is not an IMEI");
        return NULL;
    }
    crypto_psk_derive(d->secret, d->secret_len, imei, identity->length, d->key);
    d->key_bin.s = d->key;
    d->key_bin.length = sizeof d->key;
    d->handshakes++;
    return &d->key_bin;
}

enum ota_err srv_dtls_attach(struct srv_dtls *d, coap_context_t *ctx, char *msg)
{
    coap_dtls_spsk_t setup;
    memset(&setup, 0, sizeof setup);
    setup.version = COAP_DTLS_SPSK_SETUP_VERSION;
    setup.validate_id_call_back = srv_dtls_key_for;
    setup.id_call_back_arg = d;
    /* A default key is required by the API; an unguessable one that no
     * identity maps to means "no callback key, no session". */
    crypto_psk_derive(d->secret, d->secret_len, "", 0, d->key);
    setup.psk_info.key.s = d->key;
    setup.psk_info.key.length = sizeof d->key;
    if (!coap_context_set_psk2(ctx, &setup))
        return ota_fail(msg, OTA_E_INVAL, "coap: cannot set up DTLS-PSK");
    return OTA_OK;
}

int srv_dtls_identity(const coap_session_t *session, char *out, size_t n)
{
    if (coap_session_get_proto(session) != COAP_PROTO_DTLS)
        return 0;
    const coap_bin_const_t *id = coap_session_get_psk_identity(session);
    if (!id || id->length >= n)
        return -1;
    memcpy(out, id->s, id->length);
    out[id->length] = '\0';
    return 1;
}

void srv_dtls_wipe(struct srv_dtls *d)
{
    sodium_memzero(d, sizeof *d);
}
