/* dl.h - windowed Block2 download driver over a "send / receive block" link.
 *
 * The driver owns the RFC 7959 rules: block numbers and sizes (a server may
 * answer with a smaller SZX, never a larger one), the More bit, the ETag
 * that must be the same on every block, Size2 that must stay the same and
 * equal the total, and the order of durable writes (data fsynced before the
 * journal claims it). It also owns the congestion and timer logic, so that
 * it is the same over libcoap (net.c) and over the in-memory fake links of
 * the unit tests (which run on a virtual clock through now()):
 *
 * - several block requests in flight (random access by block number), an
 *   adaptive window: slow start, then +1 block per round trip while the
 *   round trip shows fewer than 2 blocks queued in the link, -1 above 4
 *   (TCP Vegas); a request overtaken by three later answers is resent at
 *   once ("fast retransmit") and shrinks the window x0.7 only when the
 *   queue is long (else the loss was the radio's); a timeout halves it;
 *   at most one cut per round trip;
 * - retransmission timers from measured round trips (RFC 6298: SRTT,
 *   RTTVAR, RTO = SRTT + 4 RTTVAR, Karn's rule, per-request doubling);
 * - window 1 is strict RFC 7252 NSTART=1: one request at a time, fixed
 *   ACK_TIMEOUT x random(1..1.5), doubling, MAX_RETRANSMIT;
 * - blocks are written at their offset as they arrive, in any order; the
 *   journal records the durable contiguous prefix plus a bitmap of the
 *   DEV_JOURNAL_SPAN blocks after it, so a resume fetches only the holes.
 *   Requests never run further than that span ahead of the prefix;
 * - a smaller SZX from the server, in the first answer or any later one
 *   (its block_size lowered by a SIGHUP), renumbers the prefix, the bitmap
 *   and the requests in flight in the new size; nothing stored is lost
 *   except bitmap blocks that no longer fit the span (fetched again);
 * - the package may be replaced on the server at any instant: an answer
 *   with another ETag or Size2 restarts from block 0 (at most
 *   DEV_DL_RESTARTS times), and a 4.02 (Block2 past the end) for a block
 *   inside the package we know asks block 0 alone whether the package
 *   changed (shorter now) before anything else is concluded;
 * - once the first head_len bytes are stored, head_check may refuse the
 *   package from its header (unknown signing key, wrong project or core)
 *   before the rest is fetched.
 *
 * A link only moves datagrams: it tags each request with an id chosen here
 * and hands back answers with the id of the request they answer. All state
 * is in struct dev_dl (no allocation per block).
 */
#ifndef DL_H
#define DL_H

#include "dev.h"
#include "flash.h"
#include "journal.h"

/* Largest package head handed to dev_dl.head_check. */
#define DEV_HEAD_MAX 256

/* One answer to a block request, as the link received it. */
struct dev_block {
    unsigned code; /* class*100+detail: 205, 404, ... */
    int has_block2, more;
    uint32_t num;
    unsigned szx;
    int has_size2;
    uint64_t size2;
    size_t etag_len; /* 0 = no ETag option */
    uint8_t etag[DEV_ETAG_MAX];
    size_t len;      /* payload bytes in data */
    int truncated;   /* the payload was longer than DEV_BLOCK_MAX */
    uint32_t max_age; /* Max-Age option in seconds, 0 = none (5.03/4.29 retry hint) */
    uint8_t data[DEV_BLOCK_MAX];
};

/* The link. send: transmit a GET for block num of size 16<<szx tagged id
 * (a retransmission reuses the id; an error here is treated like a lost
 * datagram unless it is OTA_E_NET). recv: wait up to wait_s seconds for one
 * answer; OTA_OK with *out and *id filled, OTA_E_NOTFOUND when nothing came
 * (not an error), OTA_E_NET when the link failed (server unreachable),
 * OTA_E_CORRUPT for an answer that is not valid CoAP. now: a monotonic
 * clock in seconds (tests pass a virtual one). */
struct dev_fetcher {
    enum ota_err (*send)(void *ctx, uint32_t num, unsigned szx, uint32_t id, char *msg);
    enum ota_err (*recv)(void *ctx, double wait_s, struct dev_block *out, uint32_t *id,
                         char *msg);
    double (*now)(void *ctx);
    void *ctx;
    /* Blocks the link puts in one request now (NULL or 1: one each; net.c
     * batches the sends made between two recv calls into requests of up
     * to this many, answered by a burst). The driver then opens the window
     * that many blocks at a time, samples round trips only from the first
     * block of a burst and gives later ones their place in it
     * (w.gap per block) before their timers fire. */
    int (*batch)(void *ctx);
};

/* One block request in flight. */
struct dev_slot {
    int used;
    uint32_t num, id;
    uint32_t seq;       /* send order of its latest transmission */
    int tx;             /* transmissions so far */
    int later;          /* answers to requests sent after this one */
    double first, sent, due; /* first and latest transmission, next deadline */
    double rto0;        /* timeout of the first transmission */
    int probe;          /* block 0 asked to see whether the package changed */
    int pos;            /* place in the burst of sends it went out with (0 = first) */
    uint32_t burst;     /* the request its latest transmission went in (w.burst) */
    int rpos;           /* its place in that request */
    int heard;          /* an answer to that request came (first transmissions only) */
};

/* Window and timer state; see the top of this file. */
struct dev_win {
    struct dev_slot slot[DEV_WINDOW_MAX];
    int inflight, max;
    double cwnd, ssthresh;
    double srtt, rttvar; /* srtt 0 = no sample yet */
    double rtt_fast, rtt_min; /* quick average and minimum, for the queue estimate */
    double backoff;      /* timer multiplier after timeouts, until a valid sample */
    uint32_t seq, next_id, recover_seq;
    int burst_pos;       /* sends since the last receive */
    int link_batch;      /* blocks the link puts in one request (fetcher batch) */
    int req_fill;        /* sends since the link last sent its pending requests (recv) */
    uint32_t burst;      /* requests so far, as the link groups the sends */
    uint32_t heard_seq;  /* latest send order known answered (first transmissions) */
    double gap, last_rx; /* time between answers of one burst (smoothed); last answer */
    /* statistics, for logs and tests */
    unsigned long sent, retx, fast, timeouts, dups, cuts, busy;
    unsigned long bursts_lost, gaps; /* whole requests lost (one timeout each); gaps in a burst */
    double cwnd_peak;
};

struct dev_dl {
    const struct dev_fetcher *f;
    struct dev_flash *flash;
    unsigned szx;      /* the device's preferred block size */
    int window;        /* max blocks in flight; 1 = strict NSTART=1 */
    double timeout_s;  /* give up on a block after this long; 0 = DEV_NET_TIMEOUT_S */
    double max_wait_s; /* cap on a 5.03 wait at the first request; 0 = DEV_BUSY_WAIT_MAX_S */
    dev_progress_fn progress;
    void *progress_ctx;
    /* Called once per attempt when the first head_len bytes of the package
     * (all of it if shorter) are stored, with the announced size (0 =
     * unknown); an error stops the download with r->status DEV_S_VERIFY.
     * NULL = no early check. */
    enum ota_err (*head_check)(void *ctx, const uint8_t *head, size_t len, uint64_t size,
                               char *msg);
    void *head_ctx;
    size_t head_len; /* at most DEV_HEAD_MAX */
    struct dev_block blk; /* the one receive buffer */
    struct dev_win w;
};

/* Fill r->coap_code/srv_code/srv_msg/status from a non-2.05 answer and
 * return the error to pass up (message in msg). */
enum ota_err dev_dl_fail_response(const struct dev_block *b, struct dev_result *r, char *msg);

/* Check a first answer: 2.05 with Block2 (or a whole body), sane Size2. */
enum ota_err dev_dl_check_first(const struct dev_block *b, struct dev_result *r, char *msg);

/* One request, RFC 7252 retransmissions, until an answer or timeout_s.
 * OTA_E_NET when nothing came back. */
enum ota_err dev_fetch_one(const struct dev_fetcher *f, uint32_t num, unsigned szx,
                           double timeout_s, struct dev_block *out, char *msg);

/* What `check` uses: dev_fetch_one of block 0, waiting out a 5.03 as
 * dev.h says (DEV_BUSY_RETRIES, Max-Age capped at max_wait_s). */
enum ota_err dev_fetch_first(const struct dev_fetcher *f, unsigned szx, double timeout_s,
                             double max_wait_s, struct dev_block *out, char *msg);

/* Seconds to wait after a 5.03 answer b at the first request (Max-Age, 1
 * if absent, capped at max_wait_s or DEV_BUSY_WAIT_MAX_S); 0 if b is not
 * a 5.03 or waits (those already made) reached DEV_BUSY_RETRIES. */
double dev_busy_wait(const struct dev_block *b, double max_wait_s, int waits);

/* Download into download.pkg, resuming from *j when it says downloading
 * and the server's ETag is unchanged. On success j is "downloaded" and
 * saved; r->bytes and r->pkg_size are set. */
enum ota_err dev_download(struct dev_dl *d, struct dev_journal *j, struct dev_result *r,
                          char *msg);

#endif
