/* limit.h - overload control: per-source request rate and a cap on
 * concurrent transfers, in a fixed-size table.
 *
 * ota-server answers every block on its own (stateless Block2), so the
 * only per-client state it keeps is here, and it is bounded: one entry
 * per source endpoint (address and port, because devices behind a
 * carrier NAT share addresses) in an open-addressing table of
 * max_sources slots, allocated once. An entry holds a token bucket
 * (rate requests/s, burst) and, while the source downloads, the ETag of
 * its package. A transfer starts with the first block a source gets of a
 * package and ends when the last block is sent or after transfer_idle_s
 * without a request. A finished transfer keeps its ETag until the source
 * goes idle, so a block the client asks for again after the last one (an
 * answer lost in a window of requests) is part of it: served, never
 * refused, not counted again. Block 0 is the exception: it starts a new
 * transfer (a device downloading the package again, or a new device that
 * got a recycled source port), so a recycled port gets no free pass. When max_transfers are running, a block
 * request that would start a new transfer is refused (5.03 with
 * Max-Age), while running transfers go on, so admitted devices finish.
 * Two finer caps protect the slots from one host (issue 18.2): at most
 * max_per_address transfers per address (IPv4 address or IPv6 /64, any
 * port; a trusted proxy is exempt), and the last `reserve` slots of
 * max_transfers go to verified (coaps://) devices only. Running transfers
 * per address live in a second table of the same size.
 * srv_limit_tick (about once a second) expires idle entries; a full probe
 * window evicts the least recently seen source that has no transfer,
 * so spoofed sources cannot lock out real ones for long. Lookups are
 * O(SRV_LIMIT_PROBE) with a keyed hash (SipHash, random key per process)
 * so crafted ports cannot pile up in one chain.
 * Pure bookkeeping: no I/O, no libcoap; times are monotonic milliseconds.
 */
#ifndef SRV_LIMIT_H
#define SRV_LIMIT_H

#include "ota.h"

#include <sodium.h>
#include <sys/socket.h>

#define SRV_LIMIT_PROBE 32
#define SRV_PEER_KEY_MAX 19 /* family, port, IPv6 address */
#define SRV_LIMIT_ETAG_LEN 8

/* Address and port of a source as a short byte string. */
struct srv_peer_key {
    uint8_t len; /* 0 = empty slot */
    uint8_t b[SRV_PEER_KEY_MAX];
};

/* OTA_E_INVAL for an address family other than IPv4/IPv6. An IPv4-mapped
 * IPv6 address (a dual-stack listener) is keyed as the IPv4 address. */
enum ota_err srv_peer_key(const struct sockaddr *sa, struct srv_peer_key *k);

struct srv_src {
    struct srv_peer_key key;
    uint8_t xfer;     /* 1 while counted as a running transfer */
    uint8_t done;     /* the transfer of etag sent its last block */
    uint8_t per_addr; /* the transfer is counted in its address's entry */
    uint8_t moving;   /* the transfer got a block other than 0: a download, not a check */
    uint8_t etag[SRV_LIMIT_ETAG_LEN];
    struct ota_bucket rate;
    uint64_t seen_ms;
};

struct srv_limit_cfg {
    unsigned max_sources;   /* table slots (rounded up to a power of two) */
    unsigned max_transfers; /* 0 = no cap */
    unsigned transfer_idle_s;
    unsigned rate;          /* requests per second per source, 0 = no limit */
    unsigned burst;
    unsigned retry_after_s; /* Max-Age when the transfer cap is hit */
    unsigned max_per_address; /* running transfers per address, 0 = no cap */
    unsigned reserve;       /* of max_transfers, slots only verified sources take */
};

/* Running transfers of one address (IPv6: its /64), port bytes zero. */
struct srv_addr_count {
    struct srv_peer_key key;
    uint32_t xfers;
};

/* How srv_limit_transfer treats the source. */
#define SRV_XF_VERIFIED 1u /* coaps://, its IMEI checked against the DTLS identity */
#define SRV_XF_TRUSTED 2u  /* a trusted proxy: no per-address cap */
#define SRV_XF_FIRST 4u    /* the request is for block 0 */

enum srv_verdict {
    SRV_V_OK = 0,
    SRV_V_RATE,      /* the source exceeded its request rate */
    SRV_V_TRANSFERS, /* max_transfers running, this would be a new one */
    SRV_V_SOURCES,   /* no slot for a new source (all busy with transfers) */
    SRV_V_ADDRESS,   /* max_per_address transfers running from this address */
    SRV_V_RESERVED,  /* the free slots are reserved for verified devices */
};

struct srv_limit {
    struct srv_limit_cfg c;
    struct srv_src *tab;
    struct srv_addr_count *addrs; /* cap slots too */
    size_t cap;
    size_t nsrc, nxfer;
    size_t nmoving; /* of nxfer, those past block 0 (an update check holds a
                     * slot until transfer_idle; it is not a running download) */
    uint64_t started; /* transfers ever started, for /stats */
    uint64_t last_sweep_ms;
    unsigned char seed[crypto_shorthash_KEYBYTES];
};

/* Allocate the table (OTA_E_NOMEM) and pick the hash key. */
enum ota_err srv_limit_init(struct srv_limit *l, const struct srv_limit_cfg *c, char *msg);
void srv_limit_free(struct srv_limit *l);
/* A new table for parameters c holding l's live entries, running
 * transfers first (a smaller table keeps what fits); l is not changed, so
 * a reload prepares this and then commits by swapping, or frees it. */
enum ota_err srv_limit_prepare(const struct srv_limit *l, const struct srv_limit_cfg *c,
                               struct srv_limit *out, char *msg);
/* srv_limit_prepare and the swap in one step; on error l is unchanged. */
enum ota_err srv_limit_reconfigure(struct srv_limit *l, const struct srv_limit_cfg *c,
                                   char *msg);

/* Account one request of source k. On SRV_V_OK *src is its entry, valid
 * until the next srv_limit_tick; otherwise *max_age is the retry hint in
 * seconds (>= 1). */
enum srv_verdict srv_limit_request(struct srv_limit *l, const struct srv_peer_key *k,
                                   uint64_t now_ms, struct srv_src **src, unsigned *max_age);

/* Source s is about to be sent a block of the package with this ETag;
 * last = it is the package's last block; flags are SRV_XF_*. */
enum srv_verdict srv_limit_transfer(struct srv_limit *l, struct srv_src *s,
                                    const uint8_t etag[SRV_LIMIT_ETAG_LEN], int last,
                                    unsigned flags, uint64_t now_ms, unsigned *max_age);

/* The transfer of source k with this ETag is over (an HTTP answer that
 * streamed the package ended, in full or not): its slot is free, and the
 * source's next request starts a new transfer. No-op if k has no such
 * transfer (it went idle and was swept meanwhile). */
void srv_limit_end(struct srv_limit *l, const struct srv_peer_key *k,
                   const uint8_t etag[SRV_LIMIT_ETAG_LEN], uint64_t now_ms);

/* Expire idle transfers and sources; cheap to call often (sweeps at most
 * once a second). */
void srv_limit_tick(struct srv_limit *l, uint64_t now_ms);

#endif
