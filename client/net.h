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

#define DEV_NET_FD_SCAN 1024 /* descriptors searched for libcoap's socket */
#define DEV_NET_ICMP 100     /* n->nack value: an ICMP error (beyond libcoap's reasons) */
#define DEV_DTLS_REFUSALS 2  /* server hello records after our Finished ... */
#define DEV_DTLS_GRACE_S 2.0 /* ... and this long + 4 round trips without its Finished */
/* An established coaps:// session silent this long + 4 handshake round
 * trips is presumed lost (its gateway died and a load balancer moved the
 * device to another one, which has no such session): handshake again. */
#define DEV_DTLS_SILENT_S 3.0
/* The short exchange (issue 13): after a 2.05 from /fota, block requests
 * go to /p/<ETag hex> without the query, with one Q-Block2 option per
 * block, at most DEV_NET_BATCH blocks per request. */
#define DEV_NET_BATCH 8
#define DEV_NET_Q_BLOCK2 19
/* Top bits of a token id: 000 or 001 a block (dl.c), 110 dl.c's single
 * request, 111 a report, 101 a short request (this | sequence). */
#define DEV_NET_ID_KIND 0xE0000000u
#define DEV_NET_SHORT_ID 0xA0000000u
#define DEV_NET_REPORT_ID 0xE0000000u
#define DEV_NET_SHORT_MAP 128        /* block number -> request id, > window + span */

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
    char imei[CFG_IMEI_MAX];
    /* Failing fast: before the first 2.05 of this run (answered = 0) an
     * ICMP error or a failed DTLS handshake ends the wait; after it they
     * count as loss (a gateway may be failing over). */
    int answered;            /* a 2.05 came back */
    int dtls_failed;         /* the DTLS session failed or closed before that */
    int fd;                  /* libcoap's socket, watched for ICMP errors; -1 = unknown */
    int icmp_errno, icmp_port; /* first ICMP error before a 2.05; port unreachable? */
    double hs_hello_at, hs_finished_at, hs_rtt; /* DTLS handshake timeline */
    int hs_refusals;         /* server hello records after our Finished */
    int hs_heard;            /* any DTLS record came from the server */
    double last_answer_at;   /* for DEV_DTLS_SILENT_S; also the last new session */
    const struct cfg_device *dev; /* identity and key for a new DTLS session */
    unsigned rehandshakes;   /* new DTLS sessions after silence */
    char psk_identity[VER_PROJECT_MAX + CFG_IMEI_MAX]; /* IMEI or PROJECT/IMEI */
    /* The short exchange: on while short_ok and a /fota 2.05 gave the ETag;
     * a refusal on /p/ (4.xx) turns it off until the next /fota 2.05. */
    int short_ok, short_on;
    char short_path[2 * DEV_ETAG_MAX + 1];
    unsigned short_szx;
    int npend;                       /* blocks waiting for the next request */
    uint32_t pend_num[DEV_NET_BATCH], pend_id[DEV_NET_BATCH];
    uint32_t short_seq;
    uint32_t map_num[DEV_NET_SHORT_MAP], map_id[DEV_NET_SHORT_MAP]; /* id 0 = none */
    unsigned long short_requests, short_fallbacks;
};

/* url is coap://host[:port] or coaps://host[:port] (path empty or "/fota");
 * coaps:// uses DTLS-PSK with identity = IMEI (PROJECT/IMEI when device.ini
 * says psk_identity = project) and device.ini's psk as key;
 * supported. The query is built from d. */
enum ota_err dev_net_open(struct dev_net *n, const char *url, const struct cfg_device *d,
                          char *msg);
void dev_net_fetcher(struct dev_net *n, struct dev_fetcher *f);
/* POST /report with a JSON body; a few short attempts, best effort. */
enum ota_err dev_net_report(struct dev_net *n, const char *json, size_t len, char *msg);
void dev_net_close(struct dev_net *n);

#endif
