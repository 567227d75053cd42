/* memo.h - remembered package selections, so a block request does not
 * scan the package headers again.
 *
 * Every block request of a download carries the same query, so the same
 * device tuple (core name, chip, number, script, dfota) asks the same
 * question hundreds of times. srv_select is linear in the number of
 * packages; the memo answers repeats in O(1) from a direct-mapped table
 * of SRV_MEMO_SLOTS entries keyed by a hash of the tuple. An entry is
 * valid only for the index generation it was computed from: any change of
 * the cache directory bumps the generation (index.h) and so invalidates
 * every entry at once, and the project is fixed per configuration
 * (srv_memo_clear on reload). A miss or collision just recomputes.
 * Fixed size (a few tens of KiB), no allocation.
 */
#ifndef SRV_MEMO_H
#define SRV_MEMO_H

#include "select.h"

#ifndef SRV_MEMO_SLOTS
#define SRV_MEMO_SLOTS 512
#endif

struct srv_memo_ent {
    uint64_t gen; /* 0 = empty */
    struct ver_core core;
    struct ver_script script;
    int allow_delta;
    int vendor;
    char project[VER_PROJECT_MAX]; /* several projects may share a core line */
    struct srv_selection sel;
};

struct srv_memo {
    struct srv_memo_ent e[SRV_MEMO_SLOTS];
    uint64_t hits, misses;
};

void srv_memo_clear(struct srv_memo *m);

/* The selection for d over index generation gen (>= 1): from the memo, or
 * computed with srv_select and remembered. */
void srv_memo_select(struct srv_memo *m, uint64_t gen, const struct pkg_header *const *pkgs,
                     size_t n, const struct srv_device *d, struct srv_selection *out);

#endif
