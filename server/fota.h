/* fota.h - GET /fota decided without libcoap: query + Block2 -> answer.
 *
 * The libcoap handler in server.c only collects the raw query and the raw
 * Block2 option value, calls srv_fota_decide, and renders the answer. The
 * order of checks is fixed so that a request is refused as early and as
 * cheaply as possible, and nothing from it reaches the index before it has
 * passed: query syntax (4.00) -> product key in constant time and project
 * (4.03) -> package selection (4.04 / 4.03) -> Block2 option and range
 * (4.00 / 4.02) -> 2.05 with the slice to send.
 * Overload control (issue 4) sits around this decision, in serve.c: the
 * per-source rate check before it, the transfer cap after it (it needs
 * the chosen package's ETag); both answer 5.03 code 43 with Max-Age.
 * Issue 6 slots its checks (per-device 4.29, rollout/allowlist 4.03 code
 * 21) in between the key check and selection.
 * in->memo (optional) remembers selections per device tuple and index
 * generation (memo.h), so block requests skip the header scan.
 * Issue 11.3: every check (block 0 or no Block2) that passed the product
 * key counts once in in->census, whatever the later answer; a device whose
 * core has no package but is archived gets SRV_ST_UNAVAILABLE (5.03 code
 * 43) with max_age SRV_ONDEMAND_MAX_AGE and out->building set, while a
 * build is requested (ondemand.h); such a check is not charged to
 * check_interval. An HTTP front end renders the same outcome as 503 +
 * Retry-After: max_age.
 * The device HTTP API (devhttp.h) makes the same decision without Block2
 * (no_slice): its Range is applied by the caller to the chosen package.
 */
#ifndef SRV_FOTA_H
#define SRV_FOTA_H

#include "block.h"
#include "fleet.h"
#include "index.h"
#include "memo.h"
#include "ondemand.h"
#include "project.h"
#include "query.h"
#include "select.h"
#include "status.h"

struct srv_fota_in {
    const uint8_t *query; /* Uri-Query options joined by '&', may be NULL */
    size_t query_len;
    int has_block2;
    const uint8_t *block2; /* raw Block2 option value (may be empty) */
    size_t block2_len;
    struct srv_memo *memo; /* remembered selections; NULL = always select */
    const char *dtls_identity;      /* PSK identity of a coaps:// session, else NULL */
    const struct srv_fleet *fleet;  /* allowlist / rollout; NULL = everyone */
    struct srv_checks *checks;      /* per-device check rate; NULL = no limit */
    const struct srv_peer_key *peer; /* the source, for the check rate; may be NULL */
    uint64_t now_ms;
    /* issue 11.3: census and on-demand builds (census_table.h, ondemand.h) */
    struct srv_census *census;       /* counts checks; NULL = no census */
    struct srv_ondemand *ondemand;   /* 43 + build request for archived cores; NULL = off */
    int64_t now_s;                   /* wall clock (unix s) for the census */
    /* The gateway's projects: the query's firmware_name picks one, whose
     * product key, package_format, fleet and check table then apply (fleet
     * and checks above are ignored). NULL = cfg's own project only. */
    const struct srv_projects *projects;
    int no_slice;  /* HTTP: the answer is a byte range (range.h), not a Block2 slice */
    int resume;    /* HTTP: the Range starts past byte 0, a download going on: not a check */
};

struct srv_fota_out {
    enum srv_status st;
    char msg[OTA_MSG_LEN];  /* why, for the log and the diagnostic payload */
    int parsed;             /* q is valid */
    struct srv_query q;
    struct srv_selection sel;
    const struct srv_pkg *pkg; /* SRV_ST_CONTENT only */
    struct srv_slice slice;    /* SRV_ST_CONTENT only */
    unsigned max_age;          /* SRV_ST_TOO_MANY / SRV_ST_UNAVAILABLE: seconds to wait */
    int building;              /* SRV_ST_UNAVAILABLE: the package is being made (code 43) */
    int check;                 /* an update check (block 0) of a parsed query */
    const struct cfg_ota *project; /* the device's project once known, else NULL */
};

/* project, product_key, package_format and block_size of cfg are used
 * (of the device's project when in->projects is set). The DTLS identity
 * is an IMEI or PROJECT/IMEI (both parts must then match the query). */
void srv_fota_decide(const struct cfg_ota *cfg, const struct srv_index *idx,
                     const struct srv_fota_in *in, struct srv_fota_out *out);

#endif
