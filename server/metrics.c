/* metrics.c - /metrics, /healthz and /stats of the [admin] listener
 * (see metrics.h for the threading rules).
 *
 * Metric names follow Prometheus conventions: ota_ prefix, counters end
 * in _total, sizes in bytes, times in seconds; process_* are the standard
 * process collector names so existing dashboards work. Every label set is
 * fixed except package, which is bounded by SRV_METRICS_PKG_MAX. The
 * README section "Metrics and health" lists them all.
 */
#include "metrics.h"

#include "console.h"
#include "log.h"
#include "srv.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#ifndef OTA_VERSION
#define OTA_VERSION "unknown"
#endif

/* ---- 1. rendering --------------------------------------------------------- */

void srv_text_add(struct srv_text *t, const char *fmt, ...)
{
    va_list ap;
    for (int tries = 0; tries < 2 && !t->oom; tries++) {
        va_start(ap, fmt);
        int k = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (k < 0) {
            t->oom = 1;
        } else if ((size_t)k < t->cap - t->len) {
            t->len += (size_t)k;
            return;
        } else {
            size_t cap = (t->cap + (size_t)k) * 2;
            char *np = realloc(t->p, cap);
            if (!np)
                t->oom = 1;
            else
                t->p = np, t->cap = cap;
        }
    }
}

/* # HELP and # TYPE lines of one family. */
static void srv_text_family(struct srv_text *t, const char *name, const char *type,
                            const char *help)
{
    srv_text_add(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void srv_text_one(struct srv_text *t, const char *name, const char *type,
                         const char *help, uint64_t v)
{
    srv_text_family(t, name, type, help);
    srv_text_add(t, "%s %llu\n", name, (unsigned long long)v);
}

/* A label value: \ " and newline escaped as the format requires; other
 * bytes outside printable ASCII written as the text \xHH so a value stays
 * valid UTF-8 and distinct. */
static void srv_text_label(struct srv_text *t, const char *v)
{
    for (; *v; v++) {
        unsigned char c = (unsigned char)*v;
        if (c == '\\' || c == '"')
            srv_text_add(t, "\\%c", c);
        else if (c == '\n')
            srv_text_add(t, "\\n");
        else if (c < 0x20 || c > 0x7e)
            srv_text_add(t, "\\\\x%02x", c);
        else
            srv_text_add(t, "%c", c);
    }
}

static void srv_render_requests(struct srv_text *t, const struct srv_stats *st)
{
    srv_text_family(t, "ota_requests_total", "counter",
                    "CoAP requests by resource and outcome (CoAP code, platform code).");
    for (int r = 0; r < SRV_RES__COUNT; r++)
        for (int o = 0; o < SRV_ST__COUNT; o++) {
            const struct srv_status_info *i = srv_status_info((enum srv_status)o);
            srv_text_add(t, "ota_requests_total{resource=\"%s\",outcome=\"%s\",code=\"%u.%02u\","
                         "platform_code=\"%d\"} %llu\n", srv_resource_name((enum srv_resource)r),
                         i->name, i->coap / 100, i->coap % 100, i->platform,
                         (unsigned long long)st->by_resource[r][o]);
        }
}

static void srv_render_packages(struct srv_text *t, const struct srv_metrics_snap *m)
{
    static const char *const fam[4][2] = {
        {"ota_package_block_answers_total", "Block answers (2.05) by package file."},
        {"ota_package_block_answer_bytes_total", "Payload bytes of block answers by package "
                                                 "file."},
        {"ota_package_downloads_started_total", "Transfers started (block 0 admitted) by "
                                                "package file."},
        {"ota_package_downloads_completed_total", "Last blocks answered by package file."}};
    for (int f = 0; f < 4; f++) {
        srv_text_family(t, fam[f][0], "counter", fam[f][1]);
        for (size_t i = 0; i < m->npkg; i++) {
            const struct srv_metrics_pkg *p = &m->pkg[i];
            uint64_t v = f == 0 ? p->blocks : f == 1 ? p->bytes : f == 2 ? p->started
                                                                         : p->completed;
            srv_text_add(t, "%s{package=\"", fam[f][0]);
            srv_text_label(t, p->name);
            srv_text_add(t, "\"} %llu\n", (unsigned long long)v);
        }
    }
}

/* name{label="a"} x, name{label="b"} y: a family with one two-valued label. */
static void srv_text_pair(struct srv_text *t, const char *name, const char *type,
                          const char *help, const char *label, const char *a, uint64_t x,
                          const char *b, uint64_t y)
{
    srv_text_family(t, name, type, help);
    srv_text_add(t, "%s{%s=\"%s\"} %llu\n%s{%s=\"%s\"} %llu\n", name, label, a,
                 (unsigned long long)x, name, label, b, (unsigned long long)y);
}

static void srv_render_refusals(struct srv_text *t, const struct srv_stats *st)
{
    srv_text_family(t, "ota_overload_responses_total", "counter",
                    "5.03 and 4.29 answers by reason (limit hit).");
    static const char *const reason[] = {"rate_limit", "max_transfers", "max_sources",
                                         "max_transfers_per_address", "verified_reserve",
                                         "report_max_bytes"};
    const uint64_t n503[] = {st->limited_rate, st->limited_transfers, st->limited_sources,
                             st->limited_address, st->limited_reserved, st->reports_capped};
    for (size_t i = 0; i < sizeof n503 / sizeof n503[0]; i++)
        srv_text_add(t, "ota_overload_responses_total{code=\"5.03\",reason=\"%s\"} %llu\n",
                     reason[i], (unsigned long long)n503[i]);
    /* 4.29: update checks over check_interval; reports over report_rate or
     * report_interval (both also answered 4.29). */
    uint64_t too_many = st->by_status[SRV_ST_TOO_MANY];
    uint64_t checks = too_many > st->reports_limited ? too_many - st->reports_limited : 0;
    srv_text_add(t, "ota_overload_responses_total{code=\"4.29\",reason=\"check_interval\"} %llu\n"
                 "ota_overload_responses_total{code=\"4.29\",reason=\"report_rate\"} %llu\n",
                 (unsigned long long)checks, (unsigned long long)st->reports_limited);
}

/* The short exchange (issue 13): GET /p/<ETag hex>, its bursts' block
 * answers (also in ota_block_answers_total) and its bare refusals. */
static void srv_render_short(struct srv_text *t, const struct srv_stats *st)
{
    srv_text_one(t, "ota_short_requests_total", "counter",
                 "GET /p/<ETag> requests (short exchange, several blocks per request).",
                 st->short_requests);
    srv_text_one(t, "ota_short_block_answers_total", "counter",
                 "Block answers (2.05) of /p/ bursts (also counted in ota_block_answers_total).",
                 st->short_blocks);
    srv_text_family(t, "ota_short_refusals_total", "counter",
                    "Bare /p/ refusals by reason (4.04 ETag not held, 4.03 source without a "
                    "/fota transfer of it, 4.00/4.02 malformed path or options or past the end).");
    static const char *const reason[] = {"unknown_etag", "no_transfer", "malformed"};
    const uint64_t n[] = {st->short_unknown, st->short_refused, st->short_bad};
    for (size_t i = 0; i < sizeof n / sizeof n[0]; i++)
        srv_text_add(t, "ota_short_refusals_total{reason=\"%s\"} %llu\n", reason[i],
                     (unsigned long long)n[i]);
}

static void srv_render_coap(struct srv_text *t, const struct srv_metrics_snap *m)
{
    const struct srv_stats *st = &m->st;
    srv_render_requests(t, st);
    srv_text_one(t, "ota_block_answers_total", "counter", "Block answers (2.05), all packages.",
                 st->blocks);
    srv_text_one(t, "ota_block_answer_bytes_total", "counter",
                 "Payload bytes of block answers, all packages.", st->block_bytes);
    srv_render_packages(t, m);
    srv_render_short(t, st);
    srv_text_one(t, "ota_transfers_running", "gauge",
                 "Downloads in progress (past block 0, last block not yet sent).", m->transfers);
    srv_text_one(t, "ota_transfer_slots", "gauge",
                 "Transfer slots held (max_transfers counts these; an update check holds one "
                 "until transfer_idle).", m->slots);
    srv_text_one(t, "ota_transfers_started_total", "counter", "Downloads started.",
                 st->transfers_started);
    srv_text_one(t, "ota_transfers_completed_total", "counter",
                 "Last blocks of a package answered.", st->transfers_completed);
    srv_render_refusals(t, st);
    srv_text_one(t, "ota_sources_tracked", "gauge", "Source addresses in the limiter table.",
                 m->sources);
    srv_text_pair(t, "ota_dtls_handshakes_total", "counter",
                  "DTLS-PSK handshakes (ok: identity accepted and key derived; failed: identity "
                  "refused or handshake failed).",
                  "result", "ok", st->dtls_handshakes, "failed",
                  st->dtls_refused + st->dtls_failed);
    srv_text_one(t, "ota_dtls_hellos_dropped_total", "counter",
                 "ClientHellos of new peers dropped by handshakes_per_address.", st->dtls_gated);
    srv_text_one(t, "ota_dtls_handshakes_pending", "gauge", "DTLS handshakes in progress.",
                 st->dtls_pending);
    srv_text_pair(t, "ota_reports_total", "counter",
                  "Device reports accepted, by the device's result (0 = success).", "result",
                  "success", st->reports_success, "failure", st->reports_failure);
    srv_text_one(t, "ota_report_store_failures_total", "counter",
                 "Reports that could not be written to the report log.", st->reports_not_stored);
}

static void srv_render_server(struct srv_text *t, const struct srv_metrics_snap *m)
{
    const struct srv_stats *st = &m->st;
    srv_text_pair(t, "ota_packages", "gauge", "Package files in the cache by state.", "state",
                  "loaded", m->packages, "rejected", m->rejected);
    srv_text_pair(t, "ota_cache_rescans_total", "counter", "Cache directory rescans.", "result",
                  "ok", st->rescans - st->rescans_failed, "failed", st->rescans_failed);
    srv_text_pair(t, "ota_config_reloads_total", "counter", "SIGHUP configuration reloads.",
                  "result", "ok", st->reloads - st->reloads_failed, "failed",
                  st->reloads_failed);
    srv_text_one(t, "ota_log_lines_suppressed_total", "counter",
                 "Request log lines dropped by log_rate.", st->log_suppressed);
    srv_text_one(t, "ota_census_pairs", "gauge",
                 "(project, core, script) pairs in the census table.", st->census_pairs);
    srv_text_one(t, "ota_census_dropped_total", "counter",
                 "Checks of new pairs not counted: the census table was full (max_pairs).",
                 st->census_dropped);
    srv_text_one(t, "ota_build_requests_total", "counter",
                 "On-demand build requests written to spool_dir.", st->build_requests);
    srv_text_one(t, "ota_build_wait_responses_total", "counter",
                 "5.03 code 43 answers: the package for an archived core is being made.",
                 st->build_waits);
}

static void srv_render_process(struct srv_text *t, const struct srv_metrics_proc *p)
{
    srv_text_family(t, "ota_build_info", "gauge", "Versions of ota-server and libcoap.");
    srv_text_add(t, "ota_build_info{version=\"");
    srv_text_label(t, p->version);
    srv_text_add(t, "\",libcoap=\"");
    srv_text_label(t, p->libcoap);
    srv_text_add(t, "\"} 1\n");
    srv_text_one(t, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
                 p->rss_bytes);
    srv_text_one(t, "ota_process_peak_resident_memory_bytes", "gauge",
                 "Peak resident memory size in bytes.", p->hwm_bytes);
    srv_text_one(t, "process_open_fds", "gauge", "Number of open file descriptors.",
                 p->open_fds);
    srv_text_one(t, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
                 p->max_fds);
    srv_text_family(t, "process_start_time_seconds", "gauge",
                    "Start time of the process since unix epoch in seconds.");
    srv_text_add(t, "process_start_time_seconds %.3f\n", p->start_time_s);
}

char *srv_metrics_render(const struct srv_metrics_snap *m, const struct srv_metrics_proc *p,
                         size_t *len)
{
    struct srv_text t = {malloc(16384), 0, 16384, 0};
    if (!t.p)
        return NULL;
    srv_render_coap(&t, m);
    srv_render_server(&t, m);
    srv_render_process(&t, p);
    if (t.oom) {
        free(t.p);
        return NULL;
    }
    *len = t.len;
    return t.p;
}

unsigned srv_metrics_health(const struct srv_metrics_snap *m, uint64_t now_ms, char *why,
                            size_t n)
{
    if (m->seq == 0)
        return snprintf(why, n, "starting\n"), 503;
    if (m->stopping)
        return snprintf(why, n, "shutting down\n"), 503;
    if (now_ms - m->published_ms > SRV_METRICS_STALL_MS)
        return snprintf(why, n, "CoAP loop stalled for %llu ms\n",
                        (unsigned long long)(now_ms - m->published_ms)), 503;
    if (m->packages == 0)
        return snprintf(why, n, "no valid package in the cache (%llu rejected)\n",
                        (unsigned long long)m->rejected), 503;
    snprintf(why, n, "ok: serving %llu package(s)\n", (unsigned long long)m->packages);
    return 200;
}

/* ---- 2. publishing (CoAP thread) ------------------------------------------ */

void srv_metrics_publish(struct srv *s, uint64_t now_ms, int force)
{
    struct srv_metrics *m = &s->metrics;
    if (!m->http || (!force && now_ms - m->last_ms < SRV_METRICS_PUBLISH_MS))
        return;
    /* Never wait for a scrape in progress: try again on the next turn. */
    if (force ? pthread_mutex_lock(&m->lock) != 0 : pthread_mutex_trylock(&m->lock) != 0)
        return;
    m->last_ms = now_ms;
    size_t npkg = s->idx.n < SRV_METRICS_PKG_MAX ? s->idx.n : SRV_METRICS_PKG_MAX;
    int names = m->names_gen != s->idx.gen || m->snap.npkg != npkg;
    srv_stats_gather(s, &m->snap.g);
    m->snap.st = s->st;
    m->snap.transfers = s->lim.nmoving;
    m->snap.slots = s->lim.nxfer;
    m->snap.sources = s->lim.nsrc;
    m->snap.packages = s->idx.n;
    m->snap.rejected = s->idx.nall - s->idx.n;
    for (size_t i = 0; i < npkg; i++) {
        if (names)
            memcpy(m->snap.pkg[i].name, s->idx.pkgs[i]->name, SRV_NAME_MAX);
        m->snap.pkg[i].blocks = s->idx.pkgs[i]->sent_blocks;
        m->snap.pkg[i].bytes = s->idx.pkgs[i]->sent_bytes;
        m->snap.pkg[i].started = s->idx.pkgs[i]->downloads_started;
        m->snap.pkg[i].completed = s->idx.pkgs[i]->downloads_completed;
    }
    m->snap.npkg = npkg;
    m->snap.published_ms = now_ms;
    m->snap.seq++;
    pthread_mutex_unlock(&m->lock);
    m->names_gen = s->idx.gen;
}

void srv_metrics_stopping(struct srv *s)
{
    struct srv_metrics *m = &s->metrics;
    if (!m->http)
        return;
    pthread_mutex_lock(&m->lock);
    m->snap.stopping = 1;
    pthread_mutex_unlock(&m->lock);
}

/* ---- 3. handlers (HTTP thread) --------------------------------------------- */

/* A private copy of the snapshot; NULL if out of memory. */
static struct srv_metrics_snap *srv_metrics_copy(struct srv_metrics *m)
{
    struct srv_metrics_snap *c = malloc(sizeof *c);
    if (!c)
        return NULL;
    pthread_mutex_lock(&m->lock);
    memcpy(c, &m->snap, offsetof(struct srv_metrics_snap, pkg) +
                            m->snap.npkg * sizeof m->snap.pkg[0]);
    pthread_mutex_unlock(&m->lock);
    return c;
}

static int srv_reply_oom(struct srv_http_reply *r, void *body)
{
    if (body)
        return 0;
    r->status = 500;
    return 1;
}

static uint64_t srv_open_fds(void)
{
    uint64_t n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n ? n - 1 : 0; /* the directory stream's own descriptor */
}

/* The version of the libcoap in use: "libcoap 4.3.1" -> "4.3.1". */
static const char *srv_libcoap_version(void)
{
    const char *v = coap_package_version();
    return strncmp(v, "libcoap ", 8) == 0 ? v + 8 : v;
}

static void srv_hnd_metrics(void *ctx, struct srv_http_reply *r)
{
    struct srv_metrics *m = ctx;
    struct srv_metrics_snap *c = srv_metrics_copy(m);
    struct srv_metrics_proc p = {0, 0, srv_open_fds(), 0, m->start_time_s, OTA_VERSION,
                                 srv_libcoap_version()};
    struct rlimit rl;
    uint64_t rss, hwm;
    if (srv_reply_oom(r, c))
        return;
    srv_stats_mem(&rss, &hwm);
    p.rss_bytes = rss * 1024;
    p.hwm_bytes = hwm * 1024;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
        p.max_fds = rl.rlim_cur;
    r->body = srv_metrics_render(c, &p, &r->len);
    r->content_type = "text/plain; version=0.0.4; charset=utf-8";
    srv_reply_oom(r, r->body);
    free(c);
}

void srv_metrics_head(struct srv_metrics *m, struct srv_metrics_snap *head)
{
    pthread_mutex_lock(&m->lock);
    memcpy(head, &m->snap, offsetof(struct srv_metrics_snap, pkg));
    pthread_mutex_unlock(&m->lock);
    head->npkg = 0;
}

static void srv_hnd_healthz(void *ctx, struct srv_http_reply *r)
{
    struct srv_metrics *m = ctx;
    uint64_t now = srv_now_ms();
    struct srv_metrics_snap head;
    srv_metrics_head(m, &head);
    r->body = malloc(160);
    if (srv_reply_oom(r, r->body))
        return;
    r->status = srv_metrics_health(&head, now, r->body, 160);
    r->len = strlen(r->body);
}

/* The same JSON as CoAP GET /stats, from the snapshot. */
static void srv_hnd_stats_json(void *ctx, struct srv_http_reply *r)
{
    struct srv_metrics *m = ctx;
    struct srv_metrics_snap *c = srv_metrics_copy(m);
    if (srv_reply_oom(r, c))
        return;
    struct srv_gauges g = c->g;
    g.uptime_s = (srv_now_ms() - m->start_ms) / 1000u;
    srv_stats_mem(&g.rss_kib, &g.hwm_kib);
    r->body = malloc(SRV_STATS_HTTP_MAX);
    if (!srv_reply_oom(r, r->body)) {
        r->len = srv_stats_json(&c->st, &g, r->body, SRV_STATS_HTTP_MAX);
        r->content_type = "application/json";
        r->status = r->len ? 200 : 500;
    }
    free(c);
}

static const struct srv_http_route srv_metrics_routes[] = {
    {"/metrics", srv_hnd_metrics, NULL, 0},
    {"/healthz", srv_hnd_healthz, NULL, 0},
    {"/stats", srv_hnd_stats_json, NULL, 0},
};
#define SRV_METRICS_NROUTES (sizeof srv_metrics_routes / sizeof srv_metrics_routes[0])
/* These and the console's (console.h), filled at start: one listener per
 * process, and the table is only read once the listener runs. */
static struct srv_http_route srv_admin_routes[SRV_METRICS_NROUTES + 32];

/* ---- 4. start and stop ------------------------------------------------------ */

enum ota_err srv_metrics_start(struct srv *s, char *msg)
{
    struct srv_metrics *m = &s->metrics;
    struct srv_http_tokens tokens;
    struct timespec now;
    if (!s->cfg.admin_listen[0])
        return OTA_OK;
    memset(&tokens, 0, sizeof tokens);
    if (s->cfg.admin_token_file[0]) {
        enum ota_err e = srv_http_tokens_load(s->cfg.admin_token_file, &tokens, msg);
        if (e != OTA_OK)
            return e;
    }
    size_t nroutes = SRV_METRICS_NROUTES + srv_console_nroutes;
    if (nroutes > sizeof srv_admin_routes / sizeof srv_admin_routes[0])
        return ota_fail(msg, OTA_E_LIMIT, "admin: too many routes");
    memcpy(srv_admin_routes, srv_metrics_routes, sizeof srv_metrics_routes);
    memcpy(srv_admin_routes + SRV_METRICS_NROUTES, srv_console_routes,
           srv_console_nroutes * sizeof srv_console_routes[0]);
    enum ota_err ce = srv_console_init(&m->console, msg);
    if (ce != OTA_OK)
        return ce;
    pthread_mutex_init(&m->lock, NULL);
    m->lock_ready = 1;
    m->start_ms = s->start_ms;
    clock_gettime(CLOCK_REALTIME, &now);
    m->start_time_s = (double)now.tv_sec - (double)(srv_now_ms() - s->start_ms) / 1000.0 +
                      (double)now.tv_nsec / 1e9;
    struct srv_http_cfg hc = {"admin", s->cfg.admin_listen, CFG_ADMIN_PORT,
                              (unsigned)s->cfg.admin_timeout,
                              (unsigned)s->cfg.admin_max_connections, srv_admin_routes,
                              nroutes, m, &tokens, 1};
    ota_strlcpy(m->listen, s->cfg.admin_listen, sizeof m->listen);
    /* The console has its paths before the first request. */
    srv_console_publish(s, 1);
    enum ota_err e = srv_http_start(&hc, &m->http, msg);
    sodium_memzero(&tokens, sizeof tokens);
    return e;
}

void srv_metrics_reload(struct srv *s)
{
    struct srv_metrics *m = &s->metrics;
    struct srv_http_tokens tokens;
    char msg[OTA_MSG_LEN];
    if (!m->http)
        return;
    if (strcmp(m->listen, s->cfg.admin_listen) != 0)
        log_msg(LOG_L_WARN, "reload: [admin] listen changes only on restart");
    if (!s->cfg.admin_token_file[0]) {
        srv_http_set_tokens(m->http, NULL);
        log_msg(LOG_L_WARN, "reload: [admin] token_file unset: no token required");
        return;
    }
    if (srv_http_tokens_load(s->cfg.admin_token_file, &tokens, msg) != OTA_OK) {
        log_msg(LOG_L_ERROR, "reload: [admin] token file refused, keeping the old tokens: %s",
                msg);
        return;
    }
    srv_http_set_tokens(m->http, &tokens);
    sodium_memzero(&tokens, sizeof tokens);
}

void srv_metrics_stop(struct srv *s)
{
    struct srv_metrics *m = &s->metrics;
    srv_http_stop(m->http);
    m->http = NULL;
    srv_console_free(m->console);
    m->console = NULL;
    if (m->lock_ready)
        pthread_mutex_destroy(&m->lock);
    m->lock_ready = 0;
}
