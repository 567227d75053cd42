/* devsrv.h - an in-process fake ota-server for the device library tests.
 *
 * Speaks the protocol of README.md "Protocol" through dcoap: GET /fota
 * with Block2 (ETag, Size2, 4.02 past the end, 4.04 code 27 when told
 * there is nothing newer, 5.03 code 43 + Max-Age when told to be busy),
 * GET /p/<ETag hex> with Q-Block2 bursts (one 2.05 per block asked),
 * POST /report (2.04, body kept). Answers go into a queue with a delivery
 * time on a virtual clock; the memory port (devmem.h) reads the clock and
 * advances it while it waits. Loss (both ways) and reordering come from a
 * seeded PRNG, so a run is deterministic.
 */
#ifndef DEVSRV_H
#define DEVSRV_H

#include "odev.h"

#define DEVSRV_QUEUE 64
#define DEVSRV_REPORT_MAX 512

struct devsrv_dgram {
    uint32_t at; /* delivery time, ms */
    size_t len;
    uint8_t buf[ODEV_DGRAM_MAX];
};

struct devsrv {
    uint32_t now;                 /* the virtual clock, ms */
    const uint8_t *pkg;           /* the package offered (NULL = nothing newer) */
    size_t pkg_len;
    uint8_t etag[ODEV_ETAG_MAX];
    /* replacement: from the replace_at-th block answer on, pkg2 is served */
    const uint8_t *pkg2;
    size_t pkg2_len;
    long replace_at;              /* -1 = never */
    unsigned szx_max;             /* largest block size served (6 = 1024) */
    int busy;                     /* this many 5.03 answers to /fota first */
    uint32_t max_age;             /* of those, seconds */
    int no_short;                 /* answer /p/ with 4.04 */
    uint32_t delay_ms;            /* one way */
    uint32_t seed;                /* PRNG; loss and reordering */
    int loss_pct, reorder_pct;
    long drop_after;              /* answers after this many are dropped (-1 = never): a link cut */
    unsigned long drop_short;     /* the n-th GET /p/ (from 1) is lost on the way up; 0 = none */
    /* statistics */
    unsigned long requests, fota, shorts, reports, answers, lost;
    unsigned long short_bytes;    /* datagram bytes of the GET /p/ requests */
    unsigned short_tkl;           /* token length of the last GET /p/ */
    char report[DEVSRV_REPORT_MAX];
    size_t report_len;
    struct devsrv_dgram q[DEVSRV_QUEUE];
    int nq;
};

void devsrv_init(struct devsrv *s, const uint8_t *pkg, size_t len);
/* Switch to another package (new ETag) now, or after n more block answers. */
void devsrv_replace(struct devsrv *s, const uint8_t *pkg, size_t len, long after);
/* A request from the device at s->now. */
void devsrv_input(struct devsrv *s, const uint8_t *buf, size_t len);
/* The earliest answer due by s->now + wait_ms: 1 with it copied (the clock
 * moved to its time), 0 when none (the clock moved by wait_ms). */
int devsrv_output(struct devsrv *s, uint8_t *buf, size_t cap, size_t *len, uint32_t wait_ms);

#endif
