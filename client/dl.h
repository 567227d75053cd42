/* dl.h - Block2 download driver over a "fetch block N" interface.
 *
 * The driver owns the RFC 7959 rules: block numbers and sizes (a server may
 * answer with a smaller SZX, never a larger one), the More bit, the ETag
 * that must be the same on every block, Size2 that must stay the same and
 * equal the total, and the order of durable writes (data fsynced before the
 * journal claims it). A fetcher only moves one request and its answer:
 * net.c does it over libcoap, tests do it from memory. Issue 5's window of
 * blocks in flight belongs behind the same interface (a fetcher that
 * pipelines), the driver's checks stay as they are.
 */
#ifndef DL_H
#define DL_H

#include "dev.h"
#include "flash.h"
#include "journal.h"

/* One answer to a block request, as the fetcher received it. */
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
    uint8_t data[DEV_BLOCK_MAX];
};

/* Send GET for block num of size 16<<szx and wait for its answer. Returns
 * OTA_OK when any answer arrived (whatever its code), OTA_E_NET when none
 * did within the fetcher's timeout, OTA_E_CORRUPT for an answer that is not
 * valid CoAP for this request. */
struct dev_fetcher {
    enum ota_err (*fetch)(void *ctx, uint32_t num, unsigned szx, struct dev_block *out,
                          char *msg);
    void *ctx;
};

struct dev_dl {
    const struct dev_fetcher *f;
    struct dev_flash *flash;
    unsigned szx; /* the device's preferred block size */
    dev_progress_fn progress;
    void *progress_ctx;
    struct dev_block blk; /* the one receive buffer */
};

/* Fill r->coap_code/srv_code/srv_msg/status from a non-2.05 answer and
 * return the error to pass up (message in msg). */
enum ota_err dev_dl_fail_response(const struct dev_block *b, struct dev_result *r, char *msg);

/* Check a first answer: 2.05 with Block2 (or a whole body), sane Size2. */
enum ota_err dev_dl_check_first(const struct dev_block *b, struct dev_result *r, char *msg);

/* Download into download.pkg, resuming from *j when it says downloading
 * and the server's ETag is unchanged. On success j is "downloaded" and
 * saved; r->bytes and r->pkg_size are set. */
enum ota_err dev_download(struct dev_dl *d, struct dev_journal *j, struct dev_result *r,
                          char *msg);

#endif
