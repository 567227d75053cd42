/* tally.h - small bounded tables of per-peer facts, keyed by address and
 * port or by address alone.
 *
 * Used where the server must remember a little about a peer without
 * letting peers grow its memory: reports per address (a token bucket),
 * the start time of a download (for its end line), and pending DTLS
 * handshakes per address and per peer (dtls.c). A table has a fixed
 * number of slots allocated once; a lookup scans a window of
 * SRV_TALLY_PROBE slots from a keyed hash (SipHash, random key per table)
 * so crafted addresses cannot aim at one window; when a window is full,
 * its least recently seen slot is reused, so the worst a flood of new
 * peers does is make the table forget old ones.
 * Pure bookkeeping: no I/O; times are monotonic milliseconds.
 */
#ifndef SRV_TALLY_H
#define SRV_TALLY_H

#include "limit.h"

#define SRV_TALLY_PROBE 16

struct srv_tally_slot {
    struct srv_peer_key key; /* len 0 = free */
    uint32_t n;              /* a count the user keeps */
    uint64_t seen_ms;        /* last srv_tally_get */
    uint64_t start_ms;       /* when the slot was taken */
    struct ota_bucket bucket;
};

struct srv_tally {
    struct srv_tally_slot *tab;
    size_t cap; /* power of two */
    unsigned char seed[crypto_shorthash_KEYBYTES];
};

/* At least `slots` slots (rounded up to a power of two, minimum 64). */
enum ota_err srv_tally_init(struct srv_tally *t, size_t slots, char *msg);
void srv_tally_free(struct srv_tally *t);
/* The slot of k, or NULL. */
struct srv_tally_slot *srv_tally_find(const struct srv_tally *t, const struct srv_peer_key *k);
/* The slot of k, taken (zeroed, start_ms = now) if absent; never NULL
 * once initialised. */
struct srv_tally_slot *srv_tally_get(struct srv_tally *t, const struct srv_peer_key *k,
                                     uint64_t now_ms);
/* Free a slot. */
void srv_tally_drop(struct srv_tally_slot *s);
/* The key of a peer's address alone (port zeroed): per-address tables. */
void srv_peer_key_host(const struct srv_peer_key *k, struct srv_peer_key *host);

#endif
