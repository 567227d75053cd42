/* short.h - the short, content-addressed block resource GET /p/<ETag hex>
 * (issue 13: a tenth of the uplink).
 *
 * After its first answer from GET /fota a device asks for the rest of the
 * package at /p/<16 hex digits of the ETag>, without the query, and for
 * several blocks per request: one Q-Block2 option (RFC 9177, number 19)
 * per block wanted, answered by one NON 2.05 per block (a bounded burst,
 * at most SRV_SHORT_BURST_MAX). A Q-Block2 with its M bit set asks for
 * that block and the ones after it, up to the burst cap. A plain Block2
 * (one block) is accepted too. Answers carry ETag, Block2 and Size2 like
 * /fota's, so a client checks them the same way.
 *
 * Who gets blocks: a source (address and port) whose limiter entry
 * (limit.h) holds a transfer of that ETag, i.e. that passed a full /fota
 * check (product key, fleet rules) and has kept asking within
 * transfer_idle. Anyone else gets a bare 4.03: no amplification toward a
 * forged source, and no per-device state beyond the limiter's bounded,
 * expiring entry. An ETag the server does not hold gets a bare 4.04; the
 * device then checks /fota again.
 *
 * Packages: the current index (index.h), and the packages it replaced,
 * held by reference in struct srv_short for [server] short_grace seconds
 * after they left the index, so a release published mid-download does
 * not restart devices. Bound: at most short_grace_mib MiB of retired
 * packages (the oldest retired go first) and SRV_INDEX_FILES_MAX entries.
 *
 * Sections: 1. parsing (pure, fuzzed: tests/fuzz/fuzz_short.c),
 * 2. the package table, 3. the libcoap handler (srv_hnd_short).
 */
#ifndef SRV_SHORT_H
#define SRV_SHORT_H

#include "block.h"
#include "index.h"

#define SRV_SHORT_SEGMENT "p"        /* first Uri-Path segment */
#define SRV_SHORT_BURST_MAX 16       /* blocks answered per request */
#define SRV_OPTION_Q_BLOCK2 19       /* RFC 9177 */

/* One request option as the parser sees it. */
struct srv_short_opt {
    unsigned num;
    const uint8_t *val;
    size_t len;
};

struct srv_short_req {
    uint8_t etag[SRV_ETAG_LEN];
    unsigned n;                               /* blocks asked for, in order */
    struct srv_block blk[SRV_SHORT_BURST_MAX];
    int more_after;                           /* the last one had M set: and the following */
};

/* Is the request for the short resource (first Uri-Path segment "p")? */
int srv_short_is_ours(const struct srv_short_opt *opts, size_t n);

/* Uri-Path "p"/<16 hex>, Q-Block2 options (or one Block2), in option
 * order. OTA_E_NOTFOUND: the path is not p/<16 hex> (4.04);
 * OTA_E_INVAL: a malformed, mixed-size or too long option, or more than
 * SRV_SHORT_BURST_MAX blocks (4.00). */
enum ota_err srv_short_parse(const struct srv_short_opt *opts, size_t n,
                             struct srv_short_req *r, char *msg);

/* The slices to send of a package of `total` bytes, at most the server's
 * szx: r's blocks, an M bit expanded up to SRV_SHORT_BURST_MAX; blocks
 * past the end are left out. OTA_E_LIMIT when none is inside. */
enum ota_err srv_short_slices(const struct srv_short_req *r, uint64_t total, unsigned max_szx,
                              struct srv_slice out[SRV_SHORT_BURST_MAX], unsigned *nout,
                              char *msg);

/* ---- 2. packages ---------------------------------------------------------- */

struct srv_short_kept {
    struct srv_pkg *pkg; /* one reference held */
    uint64_t retired_ms; /* 0 while in the index; else when it left */
};

struct srv_short {
    struct srv_short_kept *tab;
    size_t n, cap;
    uint64_t gen;            /* index generation last synced */
    uint64_t retired_bytes;  /* of the entries with retired_ms != 0 */
    uint64_t dropped;        /* retired early by the byte bound */
};

enum ota_err srv_short_init(struct srv_short *sh, char *msg);
void srv_short_free(struct srv_short *sh);
/* Hold every package of idx, retire those that left it, drop the retired
 * after grace_s or beyond max_bytes (oldest first). */
void srv_short_sync(struct srv_short *sh, const struct srv_index *idx, uint64_t now_ms,
                    unsigned grace_s, uint64_t max_bytes);
/* The package with this ETag: in idx, else a retired one; NULL if none. */
const struct srv_pkg *srv_short_find(const struct srv_short *sh, const struct srv_index *idx,
                                     const uint8_t etag[SRV_ETAG_LEN]);

#endif
