/* net.h - the client's CoAP link: a dl.h fetcher over libcoap 4.3.1.
 *
 * libcoap's own block mode is never enabled: its client-side Block2 state
 * expires ~93 s after a transfer starts (DESIGN.md section 9), which an
 * NB-IoT download outlives. Each block is its own GET /fota carrying the
 * full query plus an explicit Block2 option, so any server instance can
 * answer it.
 *
 * Reliability: requests are NON-confirmable; timers, retransmissions and
 * the window of requests in flight belong to dl.c, which tags every block
 * request with an id. The id travels in the token (4 random bytes per run
 * + the 32-bit id), so a retransmission reuses the token, a late answer to
 * an earlier copy is just as good, and answers to another run's requests
 * do not match. Tokens are not keyed on message ids (those wrap).
 * POST /report uses the same path with its own ids and the RFC 7252
 * schedule, a few attempts, best effort.
 *
 * One struct dev_net per run; not thread-safe (libcoap's context isn't).
 */
#ifndef NET_H
#define NET_H

#include "dl.h"
#include "proto.h"

struct coap_context_t;
struct coap_session_t;

struct dev_net {
    struct coap_context_t *ctx;
    struct coap_session_t *sess;
    struct dev_query q;
    char peer[CFG_URL_MAX]; /* "host:port" for messages */
    uint8_t token_base[4];  /* random per run */
    uint32_t report_seq;
    /* the answer being waited for */
    struct dev_block *out;
    int got, nack;
    uint32_t got_id;
    enum ota_err parse_err;
    char parse_msg[OTA_MSG_LEN];
    unsigned long dropped; /* answers that arrived while one was pending */
    const char *body;      /* POST /report payload while it is being sent */
    size_t body_len;
    struct dev_block answer; /* the report's answer */
    unsigned report_code;    /* its code, 0 = none */
    int secure;              /* coaps:// */
    int dtls_warned;         /* the incomplete handshake was logged */
    char imei[CFG_IMEI_MAX];
    int dtls_failed;         /* sticky: the DTLS session failed or closed */
};

/* url is coap://host[:port] or coaps://host[:port] (path empty or "/fota");
 * coaps:// uses DTLS-PSK with identity = IMEI and device.ini's psk as key;
 * supported. The query is built from d. */
enum ota_err dev_net_open(struct dev_net *n, const char *url, const struct cfg_device *d,
                          char *msg);
void dev_net_fetcher(struct dev_net *n, struct dev_fetcher *f);
/* POST /report with a JSON body; a few short attempts, best effort. */
enum ota_err dev_net_report(struct dev_net *n, const char *json, size_t len, char *msg);
void dev_net_close(struct dev_net *n);

#endif
