/* rtt.h - round-trip smoothing (RFC 6298 SRTT/RTTVAR) and the timeout it gives.
 *
 * Unit-free: the caller feeds samples in one unit (ota-client's link in
 * milliseconds, ota-load in microseconds) and reads results in that unit.
 * Karn's rule (no samples from retransmitted requests) is the caller's.
 */
#ifndef RTT_H
#define RTT_H

#include <stdint.h>

struct rtt {
    uint64_t srtt;   /* smoothed round trip; 0 = no sample yet */
    uint64_t rttvar; /* smoothed deviation */
};

/* Folds one round trip r into the estimate. */
void rtt_sample(struct rtt *e, uint64_t r);

/* SRTT + 4 RTTVAR: the longest a live peer takes to answer; 0 before the
 * first sample, so the caller picks its own fallback and floor. */
uint64_t rtt_rto(const struct rtt *e);

#endif
