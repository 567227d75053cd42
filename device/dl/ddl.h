/* ddl.h - the device's windowed Block2 download engine and CoAP link.
 *
 * A port of ota-client's client/dl.c (see its header for the rules: RFC
 * 7959 block checks, adaptive window with TCP Vegas queue estimate, RFC
 * 6298 timers with Karn's rule, fast retransmit, resume bitmap, restarts
 * on a replaced package, SZX renumbering, 5.03/4.29 waits, head check)
 * plus the link of client/net.c (GET /fota with the query, tokens carrying
 * request ids, the short exchange GET /p/<ETag hex> with up to DDL_BATCH
 * Q-Block2 options once a /fota 2.05 gave the ETag, POST /report),
 * rewritten for a microcontroller: time in uint32_t milliseconds (wrap
 * safe), the window in 1/256 blocks, round trips in 1/8 ms, no doubles,
 * no allocation, datagrams built and parsed with dcoap in the two buffers
 * of struct ddl.
 *
 * Flash (ODEV_AREA_DOWNLOAD, NOR semantics): a block is written at its
 * offset as it arrives; before that, the erase blocks it touches are
 * erased unless another stored block shares them (then they were erased
 * in this attempt already). That rule is only sound if "a stored block
 * shares the erase block" implies "erased in this attempt", so a resume
 * forgets every stored block whose erase block is not completely stored:
 * such an erase block may hold blocks written after the last checkpoint,
 * which cannot be written again without an erase (NOR writes only clear
 * bits). Every DDL_CHECKPOINT_BYTES the area is synced and then the
 * journal records prefix + bitmap: the journal never claims bytes that
 * are not durable.
 *
 * Request ids travel in 8-byte tokens: 4 bytes of a per-run base, then
 * the id. Top bits of an id: 00 a window block, 110 a single request
 * (check), 111 a report, 101 a short request (whose token is 5 bytes: the
 * base and one byte, 101 and the request count's low 5 bits).
 */
#include "odev.h"

#ifndef DDL_H
#define DDL_H

#include "coap/dcoap.h"
#include "journal/djournal.h"

#define DDL_SPAN DJOURNAL_SPAN     /* requests stay this many blocks from the prefix */
#define DDL_BATCH 8                /* Q-Block2 options per short request */
#define DDL_QUERY_MAX 320          /* the GET /fota query, NUL-separated fields */
#define DDL_TX_MAX 512             /* largest request (GET /fota + query, POST /report) */
#define DDL_ACK_TIMEOUT_MS 2000u   /* RFC 7252 ACK_TIMEOUT */
#define DDL_MAX_RETRANSMIT 4
#define DDL_WINDOW_INIT 4
#define DDL_RTO_MIN_MS 300u
#define DDL_RTO_MAX_MS 32000u
#define DDL_DUP_THRESH 3
#define DDL_TIMEOUT_MS 93000u      /* give up on one block (RFC 7252 EXCHANGE_LIFETIME-ish) */
#define DDL_CHECKPOINT_BYTES 16384u
#define DDL_BUSY_WAIT_MAX_MS 300000u
#define DDL_BUSY_RETRIES 20
#define DDL_RESTARTS 3             /* replaced packages tolerated per download */
#define DDL_PROBES 3               /* 4.02 inside a package with an unchanged ETag */
#define DDL_REPORT_ATTEMPTS 3

/* One answer, parsed: data points into struct ddl's receive buffer. */
struct ddl_block {
    unsigned code;              /* class*100+detail */
    uint8_t has_block2, more, szx, has_size2;
    uint32_t num;
    uint32_t size2;
    uint32_t max_age;           /* seconds; 0 = none */
    uint8_t etag_len;           /* 0 = no ETag */
    uint8_t etag[ODEV_ETAG_MAX];
    const uint8_t *data;
    size_t len;
};

/* One block request in flight (client/dl.c's dev_slot). */
struct ddl_slot {
    uint32_t num, id, seq, burst;
    uint32_t first, sent, due, rto0; /* ms on the port clock */
    uint8_t used, tx, later, probe, pos, rpos, heard;
};

/* Window and timers. cwnd and ssthresh in 1/256 blocks; round trips and
 * gap in 1/8 ms; backoff a multiplier. */
struct ddl_win {
    struct ddl_slot slot[ODEV_INFLIGHT_MAX];
    int inflight, max;
    uint32_t cwnd, ssthresh, cwnd_peak;
    uint32_t srtt, rttvar, rtt_fast, rtt_min, gap; /* srtt 0 = no sample yet */
    uint32_t backoff;
    uint32_t seq, next_id, recover_seq, burst, heard_seq;
    uint32_t last_rx; /* ms */
    int burst_pos, link_batch, req_fill;
    /* statistics */
    uint32_t sent, retx, fast, timeouts, dups, cuts, busy;
};

/* One transfer attempt. */
struct ddl_xfer {
    uint32_t size;          /* Size2; 0 = unknown */
    uint32_t nblocks;       /* 0 = unknown */
    uint32_t base, next;    /* first block not stored; next never requested */
    uint64_t bitmap;        /* bit i: block base+i stored (bit 0 never set) */
    uint8_t szx, first, resume, probe, head_done, restarts, probes, busy_waits;
    uint32_t stored, since_sync;
};

struct ddl {
    const struct odev_port *port;
    /* settings (ddl_init from the config; may be changed before a call) */
    uint8_t szx;
    int window;
    uint32_t timeout_ms, max_wait_ms;
    int short_ok;
    struct odev_geometry area; /* of ODEV_AREA_DOWNLOAD */
    /* Once the first head_len bytes (all, if shorter) are stored: may
     * refuse the package (reading ODEV_AREA_DOWNLOAD itself);
     * an error stops with r->status ODEV_S_VERIFY. NULL = none. */
    int (*head_check)(void *ctx, uint32_t have, uint32_t size, const char **why);
    void *head_ctx;
    uint32_t head_len;
    /* link */
    uint8_t token_base[4];
    uint16_t mid;
    uint32_t rng;
    char query[DDL_QUERY_MAX];
    uint16_t query_len;
    uint8_t short_on, short_szx, npend;
    uint8_t short_etag[ODEV_ETAG_MAX];
    uint32_t pend_num[DDL_BATCH], pend_id[DDL_BATCH];
    uint32_t short_seq;
    /* state */
    struct ddl_block blk;
    struct ddl_win w;
    struct ddl_xfer x;
    uint8_t rx[ODEV_DGRAM_MAX];
    uint8_t tx[DDL_TX_MAX];
};

/* Settings from c; the token base is boot (2 bytes), run, and a byte of
 * the port's random hook (or of the clock and IMEI without one). */
void ddl_init(struct ddl *d, const struct odev_port *p, const struct odev_config *c,
              uint16_t boot, uint8_t run);
/* Append "key=value" to the /fota query (skipped when value is "").
 * ODEV_E_LIMIT when it does not fit. */
enum odev_err ddl_query_add(struct ddl *d, const char *key, const char *value);

/* Block 0 alone (RFC 7252 retransmissions), waiting out 5.03 answers
 * (Max-Age capped at max_wait_ms, DDL_BUSY_RETRIES times). OK with *out
 * filled (any code); ODEV_E_NET when nothing came. */
enum odev_err ddl_fetch_first(struct ddl *d, const struct ddl_block **out, const char **why);
/* r from a non-2.05 answer; returns the error to pass up. */
enum odev_err ddl_fail_response(const struct ddl_block *b, struct odev_result *r,
                                const char **why);
/* A first answer: 2.05, block 0, Size2 within the area. */
enum odev_err ddl_check_first(struct ddl *d, const struct ddl_block *b, struct odev_result *r,
                              const char **why);
/* Download into ODEV_AREA_DOWNLOAD, resuming from j when it says
 * downloading and the ETag is unchanged; j is saved through the port at
 * every checkpoint and ends "downloaded". r->bytes, pkg_size, retx set. */
enum odev_err ddl_download(struct ddl *d, struct djournal *j, struct odev_result *r,
                           const char **why);
/* POST /report with a JSON body, RFC 7252 schedule, DDL_REPORT_ATTEMPTS.
 * *code = the answer's class*100+detail. */
enum odev_err ddl_report(struct ddl *d, const char *body, size_t len, unsigned *code,
                         const char **why);
/* The platform code of a {"code":N,...} diagnostic payload; -1 if none. */
int ddl_diag_code(const uint8_t *p, size_t len);

#endif
