/* net.h - the client's CoAP link: a dl.h fetcher over libcoap 4.3.1.
 *
 * libcoap's own block mode is never enabled: its client-side Block2 state
 * expires ~93 s after a transfer starts (DESIGN.md section 9), which an
 * NB-IoT download outlives. Each block is its own GET /fota carrying the
 * full query plus an explicit Block2 option, so any server instance can
 * answer it.
 *
 * Reliability: requests are NON-confirmable and retransmitted by our own
 * timer (RFC 7252 schedule: DEV_ACK_TIMEOUT_MS x random 1..1.5, doubling,
 * at most DEV_MAX_RETRANSMIT retransmissions, never beyond the caller's
 * timeout). A retransmission reuses the token, so a late answer to an
 * earlier copy is just as good; answers are matched by token and then
 * checked by Block2 number in dl.c. We chose NON over CON so the timers are
 * ours: issue 5's RTT-derived timeouts and window of requests in flight
 * need no libcoap NSTART or retransmission-queue behaviour.
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
    double timeout_s;
    uint64_t token_seq;
    uint8_t token[8];
    int waiting, got, nack;
    enum ota_err parse_err;
    char parse_msg[OTA_MSG_LEN];
    struct dev_block *out;
    const char *body; /* POST /report payload while it is being sent */
    size_t body_len;
    struct dev_block answer; /* the report's answer */
    unsigned report_code;    /* its code, 0 = none */
};

/* url is coap://host[:port] (path empty or "/fota"); coaps is not yet
 * supported. The query is built from d. */
enum ota_err dev_net_open(struct dev_net *n, const char *url, const struct cfg_device *d,
                          double timeout_s, char *msg);
void dev_net_fetcher(struct dev_net *n, struct dev_fetcher *f);
/* POST /report with a JSON body; two short attempts, best effort. */
enum ota_err dev_net_report(struct dev_net *n, const char *json, size_t len, char *msg);
void dev_net_close(struct dev_net *n);

#endif
