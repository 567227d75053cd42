/* srv.h - ota-server's private state, shared by server.c and serve.c.
 *
 * server.c owns the lifecycle (start, loop, SIGHUP reload, stop);
 * serve.c owns the resource handlers. Both run on libcoap's one thread:
 * handlers run inside coap_io_process, everything else between two calls,
 * so nothing here is locked. The one exception is metrics.snap, the copy
 * of the counters that the admin HTTP thread reads (metrics.h).
 */
#ifndef SRV_SRV_H
#define SRV_SRV_H

#include <coap3/coap.h>

#include "dtls.h"
#include "fleet.h"
#include "index.h"
#include "limit.h"
#include "memo.h"
#include "metrics.h"
#include "server.h"
#include "stats.h"

struct srv {
    struct cfg_ota cfg;
    const struct srv_ctl *ctl;
    struct srv_index idx;
    struct srv_limit lim;
    struct srv_memo memo;
    struct srv_stats st;
    struct srv_admin admin;
    struct srv_fleet fleet;
    struct srv_checks checks;
    struct srv_dtls *dtls;          /* NULL unless [dtls] listen is set */
    struct srv_bucket log_bucket;   /* request log lines */
    uint64_t log_suppressed_pending; /* reported once a second */
    coap_context_t *ctx;
    int coap_started;
    int report_fd;                  /* -1 if report_log is empty or cannot be opened */
    int report_unsynced;            /* lines written since the last fsync */
    uint64_t last_fsync_ms, start_ms, last_second_ms;
    /* last: its large snapshot stays off the cache lines of the hot fields */
    struct srv_metrics metrics;     /* [admin] listener and its snapshot */
};

uint64_t srv_now_ms(void);

/* Register /fota, /report and /stats on s->ctx. */
enum ota_err srv_resources_add(struct srv *s, char *msg);

/* fsync the report log if lines are pending (force: regardless of the
 * report_fsync interval). */
void srv_report_sync(struct srv *s, uint64_t now_ms, int force);

/* Once a second: the count of request log lines dropped by log_rate. */
void srv_log_flush(struct srv *s);

#endif
