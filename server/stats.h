/* stats.h - counters of ota-server, GET /stats rendering, admin check.
 *
 * Counters are plain integers bumped by the handlers (libcoap runs them
 * on one thread). GET /stats answers only sources whose address is in the
 * configured admin list ([server] admin; addresses, no ports), with a
 * one-datagram JSON object: outcomes by status, blocks and bytes sent,
 * refusals by limit, reports, suppressed log lines, and gauges the caller
 * fills in (running transfers, tracked sources, packages, memory).
 * Pure: no libcoap, no I/O, so it is unit-tested directly.
 */
#ifndef SRV_STATS_H
#define SRV_STATS_H

#include "cfg.h"
#include "status.h"

#include <sys/socket.h>

#define SRV_STATS_JSON_MAX 1024   /* CoAP: one datagram */
#define SRV_STATS_HTTP_MAX 4096   /* the admin listener: always the full form */

/* CoAP resources, for requests counted by resource and outcome. */
enum srv_resource { SRV_RES_FOTA = 0, SRV_RES_REPORT, SRV_RES_STATS, SRV_RES__COUNT };

struct srv_stats {
    uint64_t requests;               /* every request that reached a handler */
    uint64_t by_status[SRV_ST__COUNT];
    uint64_t blocks, block_bytes;    /* 2.05 block answers */
    uint64_t transfers_started;
    uint64_t limited_rate, limited_transfers, limited_sources, limited_address, limited_reserved;
    uint64_t reports_stored, reports_not_stored;
    uint64_t reports_limited, reports_capped; /* report_rate/interval; report_max_bytes */
    uint64_t dtls_handshakes, dtls_refused, dtls_failed, dtls_gated;
    uint64_t dtls_pending;           /* gauge: handshakes in progress */
    uint64_t screened;               /* proxy or unknown-critical requests answered bare (gate.h) */
    uint64_t log_suppressed;
    uint64_t rescans, reloads;
    /* read by the admin listener through a snapshot (metrics.h) */
    uint64_t by_resource[SRV_RES__COUNT][SRV_ST__COUNT];
    uint64_t transfers_completed;     /* last block of a package answered */
    uint64_t reports_success, reports_failure; /* accepted reports by device result */
    uint64_t rescans_failed, reloads_failed;
    /* issue 11.3, copied in by srv_stats_gather */
    uint64_t census_pairs;           /* gauge: pairs in the census table */
    uint64_t census_dropped;         /* checks of new pairs that found the table full */
    uint64_t build_requests;         /* request files written to spool_dir */
    uint64_t build_waits;            /* 5.03 code 43 answers: a package being made */
    /* issue 13: GET /p/<ETag> (short.h) */
    uint64_t short_requests, short_blocks; /* requests, and the block answers of their bursts */
    uint64_t short_unknown, short_refused, short_bad; /* bare 4.04, 4.03, 4.00/4.02 */
};

struct srv_gauges {
    uint64_t uptime_s;
    uint64_t transfers;              /* downloads past block 0, not finished */
    uint64_t transfer_slots;         /* what max_transfers counts: also update
                                      * checks (block 0), until transfer_idle */
    uint64_t sources, packages, packages_rejected;
    uint64_t rss_kib, hwm_kib;       /* 0 if unknown */
    int has_allowlist, has_rollout; /* fleet control in force ... */
    uint64_t allowlist_imeis, rollout_bp; /* ... and its size, percentage x 100 */
};

/* "fota", "report", "stats"; NULL for an unknown resource. */
const char *srv_resource_name(enum srv_resource r);
/* The resource named res; SRV_RES__COUNT if none. */
enum srv_resource srv_resource_of(const char *res);

/* VmRSS and VmHWM of this process in KiB (0 if /proc is unavailable). */
void srv_stats_mem(uint64_t *rss_kib, uint64_t *hwm_kib);
/* The same for process pid (ota-load watches the server); 0 = this one. */
void srv_stats_mem_of(long pid, uint64_t *rss_kib, uint64_t *hwm_kib);

/* The JSON object; returns its length, 0 if it does not fit n bytes even
 * without its zero counters (the compact form it falls back to). */
size_t srv_stats_json(const struct srv_stats *s, const struct srv_gauges *g, char *out,
                      size_t n);

/* Admin addresses in binary form, parsed from cfg->admin. */
struct srv_admin {
    int n;
    struct {
        int family;
        uint8_t addr[16];
    } a[CFG_ADMIN_MAX];
};

/* An address list (admin, trusted_proxies) in binary form; OTA_E_INVAL
 * naming the entry if one is not a numeric IPv4/IPv6 address. */
enum ota_err srv_addrs_parse(const char (*list)[CFG_ADDR_MAX], int n, struct srv_admin *out,
                             char *msg);
/* OTA_E_INVAL naming the entry if one is not a numeric IPv4/IPv6 address. */
enum ota_err srv_admin_parse(const struct cfg_ota *cfg, struct srv_admin *out, char *msg);
/* 1 if sa's address (any port) is an admin address; IPv4-mapped IPv6
 * addresses match their IPv4 form. */
int srv_admin_match(const struct srv_admin *adm, const struct sockaddr *sa);

#endif
