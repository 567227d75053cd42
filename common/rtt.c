/* rtt.c - RFC 6298 round-trip smoothing shared by ota-client's link and ota-load. */
#include "rtt.h"

void rtt_sample(struct rtt *e, uint64_t r)
{
    if (!e->srtt) {
        e->srtt = r ? r : 1;
        e->rttvar = r / 2;
        return;
    }
    uint64_t dev = e->srtt > r ? e->srtt - r : r - e->srtt;
    e->rttvar = (3 * e->rttvar + dev) / 4;
    e->srtt = (7 * e->srtt + r) / 8;
    /* 0 means "no sample": a run of zero-length round trips must not reset it */
    if (!e->srtt)
        e->srtt = 1;
}

uint64_t rtt_rto(const struct rtt *e)
{
    return e->srtt ? e->srtt + 4 * e->rttvar : 0;
}
