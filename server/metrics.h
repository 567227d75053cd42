/* metrics.h - the [admin] HTTP listener's resources: GET /metrics
 * (Prometheus text format 0.0.4), GET /healthz, GET /stats.
 *
 * Threading (DESIGN.md 10, "One HTTP layer"): the counters in struct
 * srv_stats and struct srv_pkg stay plain integers bumped by the CoAP
 * thread alone, so a block answer costs no atomic and takes no lock. The
 * CoAP loop publishes a copy of them, with the gauges only it can compute
 * (running transfers, tracked sources, packages), into a snapshot at most
 * every SRV_METRICS_PUBLISH_MS under a mutex that no request handler
 * takes, and only with trylock (a scrape copying the snapshot delays the
 * publication, never the loop); the HTTP thread copies it under the same mutex and
 * renders from its copy. Figures are thus at most SRV_METRICS_PUBLISH_MS
 * old. Process figures (RSS, open fds) are read from /proc by the HTTP
 * thread. Per-package counters cover the first SRV_METRICS_PKG_MAX
 * loaded packages by file name; the totals cover every package.
 * /healthz is 503 before the first snapshot, after the CoAP loop stops,
 * when no snapshot came for SRV_METRICS_STALL_MS (loop stuck), and while
 * no valid package is loaded; 200 otherwise.
 * Sections of metrics.c: 1. rendering (pure, unit-tested), 2. publishing
 * (CoAP thread), 3. handlers (HTTP thread), 4. start and stop.
 */
#ifndef SRV_METRICS_H
#define SRV_METRICS_H

#include "http.h"
#include "index.h"
#include "stats.h"

#include <pthread.h>

#define SRV_METRICS_PKG_MAX 512
#define SRV_METRICS_PUBLISH_MS 100
#define SRV_METRICS_STALL_MS 5000

struct srv_metrics_pkg {
    char name[SRV_NAME_MAX];
    uint64_t blocks, bytes, started, completed;
};

/* A growing text (NUL-terminated) for the renderers; oom is sticky. */
struct srv_text {
    char *p;
    size_t len, cap;
    int oom;
};
void srv_text_add(struct srv_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* What the CoAP loop publishes. */
struct srv_metrics_snap {
    uint64_t seq;          /* publications so far; 0 = none yet */
    uint64_t published_ms; /* monotonic clock */
    int stopping;          /* the CoAP loop has ended */
    struct srv_stats st;
    struct srv_gauges g;   /* as CoAP /stats has them; memory filled by the reader */
    uint64_t transfers, slots, sources, packages, rejected;
    size_t npkg;
    struct srv_metrics_pkg pkg[SRV_METRICS_PKG_MAX];
};

/* Figures of the process and the build, gathered by the renderer's caller. */
struct srv_metrics_proc {
    uint64_t rss_bytes, hwm_bytes, open_fds, max_fds;
    double start_time_s; /* Unix time */
    const char *version, *libcoap;
};

/* The Prometheus text of m and p, malloc'd, *len bytes (NUL-terminated);
 * NULL if out of memory. */
char *srv_metrics_render(const struct srv_metrics_snap *m, const struct srv_metrics_proc *p,
                         size_t *len);

/* 200, or 503 with the reason in why (n bytes). */
unsigned srv_metrics_health(const struct srv_metrics_snap *m, uint64_t now_ms, char *why,
                            size_t n);

struct srv;
struct srv_console;

struct srv_metrics {
    pthread_mutex_t lock;        /* guards snap */
    struct srv_metrics_snap snap;
    int lock_ready;
    uint64_t last_ms;            /* CoAP thread only */
    uint64_t names_gen;          /* index generation of the names in snap.pkg */
    uint64_t start_ms;           /* set before the listener starts */
    double start_time_s;
    char listen[CFG_ADDR_MAX];   /* as bound: a reload does not move it */
    struct srv_http *http;       /* NULL unless [admin] listen is set */
    struct srv_console *console; /* the operator console's state (console.h) */
};

/* The snapshot without its per-package part (HTTP thread). */
void srv_metrics_head(struct srv_metrics *m, struct srv_metrics_snap *head);

/* With [admin] listen: load the token file (refused unless 0600), bind
 * (OTA_E_NET if it cannot) and start the listener thread. No-op without. */
enum ota_err srv_metrics_start(struct srv *s, char *msg);
/* Publish the counters if SRV_METRICS_PUBLISH_MS passed (or force). */
void srv_metrics_publish(struct srv *s, uint64_t now_ms, int force);
/* After SIGHUP: reread the token file; a bad one is logged, the old kept. */
void srv_metrics_reload(struct srv *s);
/* The CoAP loop has ended: /healthz answers 503 from now on. */
void srv_metrics_stopping(struct srv *s);
/* Stop the listener (joins its thread); safe if never started. */
void srv_metrics_stop(struct srv *s);

#endif
