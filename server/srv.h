/* srv.h - ota-server's private state, shared by server.c and serve.c.
 *
 * server.c owns the lifecycle (start, loop, SIGHUP reload, stop);
 * serve.c owns the resource handlers. Both run on libcoap's one thread:
 * handlers run inside coap_io_process, everything else between two calls,
 * so nothing here is locked. The one exception is metrics.snap, the copy
 * of the counters that the admin HTTP thread reads (metrics.h).
 * With [http] listen, the device HTTP API (devhttp.h) decides on its own
 * threads: lock is held by them around a decision and by the CoAP thread
 * around coap_io_process (gate.c), its ticks and reloads.
 */
#ifndef SRV_SRV_H
#define SRV_SRV_H

#include <coap3/coap.h>
#include <pthread.h>

#include "census_table.h"
#include "console.h"
#include "dtls.h"
#include "fleet.h"
#include "gate.h"
#include "index.h"
#include "limit.h"
#include "memo.h"
#include "notify.h"
#include "ondemand.h"
#include "rollout.h"
#include "project.h"
#include "metrics.h"
#include "server.h"
#include "short.h"
#include "stats.h"
#include "tally.h"

struct srv {
    struct cfg_ota cfg;
    const struct srv_ctl *ctl;
    struct srv_index idx;
    struct srv_limit lim;
    struct srv_memo memo;
    struct srv_stats st;
    struct srv_admin admin;
    struct srv_admin proxies;       /* trusted_proxies */
    struct srv_projects projects;   /* per project: fleet and check table (project.h) */
    struct srv_dtls *dtls;          /* NULL unless [dtls] listen is set */
    struct srv_gate gate;           /* screens datagrams before libcoap reads them */
    struct srv_tally downloads;     /* start time of a download per source, for its end line */
    struct srv_tally report_hosts;  /* report_rate bucket per address */
    struct srv_checks report_checks; /* report_interval per IMEI */
    int report_interval_now;        /* the interval report_checks was made with */
    coap_context_t *ctx;
    int coap_started;
    int report_fd;                  /* -1 if report_log is empty or cannot be opened */
    int report_unsynced;            /* lines written since the last fsync */
    uint64_t last_fsync_ms, start_ms, last_second_ms;
    struct srv_notify notify;       /* systemd: ready, reloading, watchdog */
    struct srv_census census;       /* (project, core, script) of every check (issue 11.3) */
    struct srv_ondemand ondemand;   /* archive listing, build requests */
    pthread_mutex_t lock;           /* see above: the device HTTP threads vs the CoAP thread */
    struct srv_http *devhttp;       /* NULL unless [http] listen is set */
    char devhttp_listen[CFG_ADDR_MAX]; /* as bound: a reload does not move it */
    struct srv_short shortres;      /* packages /p/<ETag> serves, with the replaced ones (issue 13) */
    /* last: its large snapshot stays off the cache lines of the hot fields */
    struct srv_metrics metrics;     /* [admin] listener and its snapshot */
};

uint64_t srv_now_ms(void);

/* Count an overload verdict and say why in msg: 5.03 / HTTP 503, code 43. */
enum srv_status srv_limited(struct srv *s, enum srv_verdict v, char *msg);
/* The transfer caps (limit.h) for an answer about to carry pkg's bytes to
 * src (NULL: not IP, not capped), for CoAP /fota and the device HTTP API:
 * a trusted proxy's peer is exempt from the per-address cap, a transfer
 * started is counted. flags: SRV_XF_VERIFIED, SRV_XF_FIRST; last: the
 * answer ends the package. SRV_ST_CONTENT, or srv_limited's 5.03 with msg
 * and *max_age; *started (may be NULL) tells whether the answer starts a transfer. */
enum srv_status srv_transfer_cap(struct srv *s, struct srv_src *src,
                                 const struct sockaddr *peer, const struct srv_pkg *pkg,
                                 unsigned flags, int last, unsigned *max_age, char *msg,
                                 int *started);

/* Register /fota, /report, /stats, /.well-known/core and the unknown-path
 * answer on s->ctx, with the handlers' tables. */
enum ota_err srv_resources_add(struct srv *s, char *msg);
/* The handlers' tables (after coap_free_context). */
void srv_resources_free(struct srv *s);

/* fsync the report log if lines are pending (force: regardless of the
 * report_fsync interval). */
void srv_report_sync(struct srv *s, uint64_t now_ms, int force);

/* Outside counters into s->st, and the gauges (not memory) into g. */
void srv_stats_gather(struct srv *s, struct srv_gauges *g);

/* Shared by the handlers of serve.c and short_serve.c: the per-source
 * rate check (SRV_ST_CONTENT = go on, else msg and *max_age say why),
 * the bare 5.03 + Max-Age above it, and one block answer (0 if it does
 * not fit the session's PDU). */
enum srv_status srv_admit(struct srv *s, coap_session_t *sess, struct srv_src **src,
                          unsigned *max_age, char *msg);
void srv_reply_overload(coap_pdu_t *resp, unsigned max_age);
int srv_block_pdu(coap_session_t *sess, coap_pdu_t *resp, const struct srv_pkg *pkg,
                  const struct srv_slice *slice);

/* GET on an unknown path: /p/<ETag hex> (short.h), else a bare 4.04. */
void srv_hnd_short(coap_resource_t *r, coap_session_t *sess, const coap_pdu_t *req,
                   const coap_string_t *query, coap_pdu_t *resp);
/* Sync the short resource's packages with the index and expire the
 * grace (once a second and at an index change). */
void srv_short_tick(struct srv *s, uint64_t now_ms);

/* Once a second: the log budget from the config and the "suppressed" line. */
void srv_log_flush(struct srv *s);

#endif
