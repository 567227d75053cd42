/* console.h - the operator console on the [admin] listener: a page (/),
 * its script, style and icon, Debian's chart.js, and the JSON API behind
 * them (/api/...; the README section "Operator console" is the reference).
 *
 * Threading, as for /metrics (metrics.h): the handlers run on the admin
 * listener's thread and never touch the CoAP thread's index, fleet or
 * census. They read
 *  - a snapshot the CoAP loop publishes once a second (srv_console_publish,
 *    under lock; the package list is copied only when the index changed):
 *    packages, the rollout and allowlist in force, the paths of the files
 *    below, downloads started per day;
 *  - the last update check of recent IMEIs (a fixed table the CoAP thread
 *    writes per check with trylock only: a check never waits for a reader;
 *    a check that finds the table busy is not recorded);
 *  - files the server writes anyway: the census ([census] file, as last
 *    saved), the report log (its last SRV_CONSOLE_REPORT_SCAN bytes), the
 *    refused drops (drop_dir/.rejected/NAME/REASON), the audit log.
 * Write actions never cross threads in memory: the handler writes a state
 * file atomically (the rollout file, rollout.h, or the allowlist file) and
 * the CoAP loop's watcher applies it within a second, as it does for a
 * hand edit. Each write appends one JSON line to [admin] audit_log: time,
 * the token's name, the peer, what changed. Writes are one at a time
 * (write_lock) and need a token file (http.h, SRV_HTTP_POST).
 */
#ifndef SRV_CONSOLE_H
#define SRV_CONSOLE_H

#include "cfg.h"
#include "http.h"
#include "index.h"
#include "ver.h"

#include <pthread.h>

#define SRV_CONSOLE_PKG_MAX 512
#define SRV_CONSOLE_PROJECTS_MAX 64
#define SRV_CONSOLE_DAYS 30           /* downloads started per day, kept in memory */
#define SRV_CONSOLE_SEEN_SLOTS 16384  /* last checks remembered (by IMEI hash) */
#define SRV_CONSOLE_REPORT_SCAN (32u << 20) /* bytes of the report log's tail read */
#define SRV_CONSOLE_FILE_MAX (4u << 20)     /* a static file served */
#define SRV_CONSOLE_ALLOWLIST_SHOW 5000     /* IMEIs listed by GET /api/allowlist */

struct srv_console_pkg {
    char name[SRV_NAME_MAX];
    int ok;
    struct pkg_header h;
    uint64_t size;
    int64_t mtime;
    uint64_t started, completed;
};

struct srv_console_day {
    int64_t day;          /* unix day number */
    uint64_t started;     /* downloads started that day (since the server started) */
};

/* One project's fleet control in force and its files. */
struct srv_console_project {
    char name[VER_PROJECT_MAX];
    char allowlist[CFG_PATH_MAX], rollout_file[CFG_PATH_MAX];
    int has_allowlist, has_rollout, paused;
    size_t allowlist_n;
    uint32_t rollout_bp;
};

struct srv_console_snap {
    uint64_t seq;         /* 0 = nothing published yet */
    char audit_log[CFG_PATH_MAX];
    char census_file[CFG_PATH_MAX], report_log[CFG_PATH_MAX], drop_dir[CFG_PATH_MAX];
    char console_dir[CFG_PATH_MAX], javascript_dir[CFG_PATH_MAX];
    size_t nprojects;     /* the first SRV_CONSOLE_PROJECTS_MAX, sorted by name */
    struct srv_console_project projects[SRV_CONSOLE_PROJECTS_MAX];
    uint64_t started_base; /* transfers_started when days[ndays-1] began */
    size_t ndays;
    struct srv_console_day days[SRV_CONSOLE_DAYS];
    size_t npkg;
    struct srv_console_pkg pkg[SRV_CONSOLE_PKG_MAX];
};

struct srv_console_seen {
    char imei[CFG_IMEI_MAX];
    int64_t at;           /* unix s */
    struct ver_core core; /* as sent: formatted by the reader, not per check */
    struct ver_script script;
    int status;           /* enum srv_status of the answer */
};

struct srv_console {
    pthread_mutex_t lock;      /* snap */
    struct srv_console_snap snap;
    uint64_t pkg_gen;          /* CoAP thread: index generation of snap.pkg */
    pthread_mutex_t seen_lock; /* seen */
    struct srv_console_seen seen[SRV_CONSOLE_SEEN_SLOTS];
    pthread_mutex_t write_lock; /* one write at a time; the live sample */
    uint64_t live_ms, live_blocks, live_busy;
    double live_blocks_s, live_busy_s;
};

struct srv;
struct srv_fota_out;

enum ota_err srv_console_init(struct srv_console **out, char *msg);
void srv_console_free(struct srv_console *c);
/* CoAP thread, once a second: publish the snapshot (all: the package list
 * too even if the index generation did not change, e.g. the first scan). */
void srv_console_publish(struct srv *s, int all);
/* CoAP thread, per update check: remember the IMEI's last check. */
void srv_console_seen_check(struct srv *s, const struct srv_fota_out *out);

/* The routes, added to the admin listener's own (metrics.c); handlers
 * take the struct srv_metrics of the listener as ctx. */
extern const struct srv_http_route srv_console_routes[];
extern const size_t srv_console_nroutes;

#endif
