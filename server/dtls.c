/* dtls.c - DTLS-PSK for ota-server and new-peer admission (see dtls.h).
 *
 * libcoap 4.3.1 calls srv_dtls_key_for with the client's identity during
 * every handshake; the returned key is copied into the session, so one
 * buffer in struct srv_dtls serves all handshakes (libcoap is
 * single-threaded).
 * Sections: 1. keys, 2. handshakes in progress (session events),
 * 3. the ClientHello screen (run by gate.c before libcoap reads), 4. identity
 * and wipe.
 */
#include "dtls.h"

#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* ---- 1. keys ------------------------------------------------------------ */

static void srv_dtls_secrets_free(struct srv_dtls_secret *v, size_t n)
{
    if (v)
        sodium_memzero(v, n * sizeof *v);
    free(v);
}

static enum ota_err srv_dtls_secrets_load(const struct cfg_ota *cfg, struct srv_dtls_secret **out,
                                          size_t *nout, char *msg)
{
    size_t n = 0, want = cfg_psk_project_count(cfg);
    struct srv_dtls_secret *v = want ? calloc(want, sizeof *v) : NULL;
    enum ota_err e = OTA_OK;
    if (!want)
        return ota_fail(msg, OTA_E_INVAL, "[dtls] listen needs a [project] psk_secret");
    if (!v)
        return ota_fail(msg, OTA_E_NOMEM, "dtls: out of memory");
    for (size_t i = 0; i < cfg_project_count(cfg) && e == OTA_OK; i++) {
        const struct cfg_ota *p = cfg_project_at(cfg, i);
        if (!p->psk_secret[0])
            continue;
        ota_strlcpy(v[n].project, p->project, sizeof v[n].project);
        e = crypto_load_psk_secret(p->psk_secret, v[n].secret, &v[n].len, msg);
        n++;
    }
    if (e != OTA_OK) {
        srv_dtls_secrets_free(v, want);
        return e;
    }
    *out = v; /* in cfg's order: sorted by project */
    *nout = n;
    return OTA_OK;
}

enum ota_err srv_dtls_init(struct srv_dtls *d, const struct cfg_ota *cfg, char *msg)
{
    memset(d, 0, sizeof *d);
    if (!coap_dtls_is_supported())
        return ota_fail(msg, OTA_E_INVAL, "this libcoap has no DTLS support");
    return srv_dtls_secrets_load(cfg, &d->secrets, &d->nsecrets, msg);
}

enum ota_err srv_dtls_reload(struct srv_dtls *d, const struct cfg_ota *cfg, char *msg)
{
    struct srv_dtls_secret *v;
    size_t n;
    enum ota_err e = srv_dtls_secrets_load(cfg, &v, &n, msg);
    if (e != OTA_OK)
        return e;
    if ((n > 1) != (d->nsecrets > 1))
        log_msg(LOG_L_WARN, "dtls: %zu project(s) with psk_secret now: the identity is %s", n,
                n > 1 ? "PROJECT/IMEI (a bare IMEI is refused)" : "IMEI or PROJECT/IMEI");
    srv_dtls_secrets_free(d->secrets, d->nsecrets);
    d->secrets = v;
    d->nsecrets = n;
    return OTA_OK;
}

static int srv_dtls_secret_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const struct srv_dtls_secret *)elem)->project);
}

/* The secret for an identity and the IMEI in it; NULL if none. */
static const struct srv_dtls_secret *srv_dtls_secret_of(const struct srv_dtls *d, const char *id,
                                                        const char **imei)
{
    char project[VER_PROJECT_MAX];
    const char *slash = strchr(id, '/');
    *imei = slash ? slash + 1 : id;
    if (!slash)
        return d->nsecrets == 1 ? &d->secrets[0] : NULL;
    size_t n = (size_t)(slash - id);
    if (n >= sizeof project)
        return NULL;
    memcpy(project, id, n);
    project[n] = '\0';
    return bsearch(project, d->secrets, d->nsecrets, sizeof *d->secrets, srv_dtls_secret_cmp);
}

int srv_dtls_full_identity(const struct srv_dtls *d, const char *id, char *out, size_t n)
{
    const char *imei;
    const struct srv_dtls_secret *sec = srv_dtls_secret_of(d, id, &imei);
    if (!sec)
        return 0;
    int k = snprintf(out, n, "%s/%s", sec->project, imei);
    return k > 0 && (size_t)k < n;
}

static const coap_bin_const_t *srv_dtls_key_for(coap_bin_const_t *identity,
                                                coap_session_t *session, void *arg)
{
    struct srv_dtls *d = arg;
    char id[VER_PROJECT_MAX + CFG_IMEI_MAX];
    const char *imei = NULL;
    const struct srv_dtls_secret *sec = NULL;
    (void)session;
    if (identity && identity->length < sizeof id) {
        memcpy(id, identity->s, identity->length);
        id[identity->length] = '\0';
        sec = srv_dtls_secret_of(d, id, &imei);
    }
    if (!sec || cfg_check_imei(imei, NULL) != OTA_OK) {
        d->refused++;
        log_kmsg(LOG_K_DTLS, LOG_L_INFO, "dtls: refused handshake: identity is not %s",
                 d->nsecrets > 1 ? "PROJECT/IMEI of a project with psk_secret"
                                 : "an IMEI (or PROJECT/IMEI)");
        return NULL;
    }
    crypto_psk_derive(sec->secret, sec->len, imei, strlen(imei), d->key);
    d->key_bin.s = d->key;
    d->key_bin.length = sizeof d->key;
    d->handshakes++;
    return &d->key_bin;
}

/* ---- 2. handshakes in progress ------------------------------------------ */

/* A session's peer key and its address-only key; 0 if not IP. */
static int srv_dtls_keys(const coap_session_t *session, struct srv_peer_key *peer,
                         struct srv_peer_key *host)
{
    const coap_address_t *a = coap_session_get_addr_remote(session);
    if (!a || srv_peer_key(&a->addr.sa, peer) != OTA_OK)
        return 0;
    srv_peer_key_host(peer, host);
    return 1;
}

/* A new session is a handshake in progress until it connects or is
 * freed; the session's app data marks it as counted. */
static void srv_dtls_pending_add(struct srv_dtls *d, coap_session_t *session)
{
    struct srv_peer_key peer, host;
    if (!srv_dtls_keys(session, &peer, &host))
        return;
    uint64_t seq = d->handshakes + d->refused + d->failed + d->gated + 1; /* recency */
    struct srv_tally_slot *p = srv_tally_get(&d->pending_peer, &peer, seq);
    if (!p || p->n)
        return;
    p->n = 1;
    struct srv_tally_slot *h = srv_tally_get(&d->pending_host, &host, seq);
    if (h)
        h->n++;
    d->pending++;
    coap_session_set_app_data(session, d);
}

static void srv_dtls_pending_del(struct srv_dtls *d, coap_session_t *session)
{
    struct srv_peer_key peer, host;
    if (coap_session_get_app_data(session) != d)
        return;
    coap_session_set_app_data(session, NULL);
    d->pending--;
    if (!srv_dtls_keys(session, &peer, &host))
        return;
    struct srv_tally_slot *p = srv_tally_find(&d->pending_peer, &peer);
    struct srv_tally_slot *h = srv_tally_find(&d->pending_host, &host);
    if (p)
        srv_tally_drop(p);
    if (h && h->n > 1)
        h->n--;
    else if (h)
        srv_tally_drop(h);
}

/* libcoap may signal one failure twice (error, then closed): the peer's
 * slot remembers that it was counted (n = 2). */
static void srv_dtls_failed(struct srv_dtls *d, coap_session_t *session)
{
    struct srv_peer_key peer, host;
    struct srv_tally_slot *p = srv_dtls_keys(session, &peer, &host)
                                   ? srv_tally_find(&d->pending_peer, &peer) : NULL;
    if (!p || p->n != 1)
        return;
    p->n = 2;
    d->failed++;
    if (log_allow(LOG_K_DTLS, LOG_L_INFO))
        log_write(LOG_L_INFO, "dtls: handshake failed: %s", coap_session_str(session));
}

static int srv_dtls_on_event(coap_session_t *session, const coap_event_t event)
{
    struct srv_dtls *d = coap_get_app_data(coap_session_get_context(session));
    if (!d || coap_session_get_proto(session) != COAP_PROTO_DTLS)
        return 0;
    if (event == COAP_EVENT_SERVER_SESSION_NEW) {
        srv_dtls_pending_add(d, session);
    } else if (event == COAP_EVENT_DTLS_CONNECTED || event == COAP_EVENT_SERVER_SESSION_DEL) {
        srv_dtls_pending_del(d, session);
    } else if ((event == COAP_EVENT_DTLS_ERROR || event == COAP_EVENT_DTLS_CLOSED) &&
               coap_session_get_app_data(session) == d) {
        srv_dtls_failed(d, session);
    }
    return 0;
}

enum ota_err srv_dtls_attach(struct srv_dtls *d, coap_context_t *ctx, const struct cfg_ota *cfg,
                             char *msg)
{
    coap_dtls_spsk_t setup;
    size_t slots = 2 * (size_t)cfg->dtls_max_handshakes;
    memset(&setup, 0, sizeof setup);
    setup.version = COAP_DTLS_SPSK_SETUP_VERSION;
    setup.validate_id_call_back = srv_dtls_key_for;
    setup.id_call_back_arg = d;
    /* A default key is required by the API; an unguessable one that no
     * identity maps to means "no callback key, no session". */
    crypto_psk_derive(d->secrets[0].secret, d->secrets[0].len, "", 0, d->key);
    setup.psk_info.key.s = d->key;
    setup.psk_info.key.length = sizeof d->key;
    if (!coap_context_set_psk2(ctx, &setup))
        return ota_fail(msg, OTA_E_INVAL, "coap: cannot set up DTLS-PSK");
    enum ota_err e = srv_tally_init(&d->pending_peer, slots, msg);
    if (e == OTA_OK)
        e = srv_tally_init(&d->pending_host, slots, msg);
    if (e != OTA_OK)
        return e;
    d->per_address = (unsigned)cfg->dtls_per_address;
    coap_context_set_max_handshake_sessions(ctx, (unsigned)cfg->dtls_max_handshakes);
    coap_set_app_data(ctx, d);
    coap_register_event_handler(ctx, srv_dtls_on_event);
    return OTA_OK;
}

/* ---- 3. the ClientHello screen ------------------------------------------------- */

int srv_dtls_is_hello(const uint8_t *p, size_t n)
{
    return n >= 14 && p[0] == 22 && p[13] == 1;
}

int srv_dtls_screen(struct srv_dtls *d, int fd)
{
    uint8_t head[14];
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    struct srv_peer_key peer, host;
    ssize_t n = recvfrom(fd, head, sizeof head, MSG_PEEK | MSG_DONTWAIT, (struct sockaddr *)&ss,
                         &sl);
    if (n < 0 || !srv_dtls_is_hello(head, (size_t)n) ||
        srv_peer_key((const struct sockaddr *)&ss, &peer) != OTA_OK ||
        srv_tally_find(&d->pending_peer, &peer))
        return 0;
    srv_peer_key_host(&peer, &host);
    const struct srv_tally_slot *h = srv_tally_find(&d->pending_host, &host);
    if (!h || h->n < d->per_address)
        return 0;
    if (recv(fd, head, sizeof head, MSG_DONTWAIT) < 0)
        return 0;
    d->gated++;
    if (log_allow(LOG_K_DTLS, LOG_L_INFO)) {
        coap_address_t a;
        unsigned char text[64] = "?";
        coap_address_init(&a);
        a.size = sl <= sizeof a.addr ? sl : sizeof a.addr;
        memcpy(&a.addr, &ss, a.size);
        coap_print_addr(&a, text, sizeof text);
        log_write(LOG_L_INFO, "dtls: ClientHello from %s dropped: %u handshakes of this address "
                  "in progress (handshakes_per_address)", (const char *)text, h->n);
    }
    return 1;
}

/* ---- 4. identity and wipe --------------------------------------------------- */

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
    srv_tally_free(&d->pending_peer);
    srv_tally_free(&d->pending_host);
    srv_dtls_secrets_free(d->secrets, d->nsecrets);
    sodium_memzero(d, sizeof *d);
}
