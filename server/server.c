/* server.c - ota-server over libcoap 4.3.1: start-up, loop, reload, stop.
 *
 * Sections: 1. the libcoap log bridge and clock, 2. start-up and shutdown
 * (endpoints, session bounds, resources from serve.c), 3. SIGHUP reload,
 * 4. the event loop.
 * All decisions live in fota.c, select.c, block.c, report.c, limit.c;
 * the handlers are in serve.c. libcoap's block mode is never enabled:
 * Block2 is done by hand per request (block.h), so every block answer is
 * independent of every other (DESIGN.md section 4). libcoap is
 * single-threaded: handlers run inside coap_io_process, and the cache
 * index, limits and config are changed only between two calls.
 * Per-client state is bounded twice: ours in limit.c (max_sources slots),
 * libcoap's sessions (one per client endpoint, created even for NON
 * requests) by coap_context_set_max_idle_sessions (max_sessions; the
 * least recently used idle session is freed when a new one would exceed
 * it) and coap_context_set_session_timeout (session_timeout).
 */
#include "log.h"

#include "srv.h"

#include "devhttp.h"
#include "report.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SRV_TICK_MS 100 /* longest wait in coap_io_process: flag and index checks */

/* ---- 1. log bridge and clock --------------------------------------------- */

static void srv_coap_log(coap_log_t level, const char *message)
{
    size_t n = strlen(message);
    while (n > 0 && (message[n - 1] == '\n' || message[n - 1] == '\r'))
        n--;
    enum log_level l = level <= LOG_ERR       ? LOG_L_ERROR
                       : level == LOG_WARNING ? LOG_L_WARN
                       : level < LOG_DEBUG    ? LOG_L_INFO
                                              : LOG_L_DEBUG;
    log_kmsg(LOG_K_COAP, l, "coap: %.*s", (int)n, message);
}

/* libcoap is quiet (errors only) unless we log at debug. */
static void srv_coap_log_setup(void)
{
    coap_log_t lvl = log_get_level() >= LOG_L_DEBUG ? LOG_WARNING : LOG_ERR;
    coap_set_log_handler(srv_coap_log);
    coap_set_log_level(lvl);
    coap_dtls_set_log_level(lvl);
}

uint64_t srv_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- 2. start-up and shutdown ------------------------------------------- */

static enum ota_err srv_report_open(struct srv *s, char *msg)
{
    if (s->report_fd >= 0) {
        srv_report_sync(s, srv_now_ms(), 1);
        close(s->report_fd);
    }
    s->report_fd = -1;
    if (!s->cfg.report_log[0])
        return OTA_OK;
    s->report_fd = open(s->cfg.report_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (s->report_fd < 0)
        return ota_fail(msg, OTA_E_IO, "report log %s: %s", s->cfg.report_log, strerror(errno));
    return OTA_OK;
}

/* libcoap 4.3.1 sets SO_REUSEADDR on its UDP sockets, and on Linux a
 * second such socket may bind an address in use: a second ota-server would
 * start and take the traffic. A socket without SO_REUSEADDR cannot bind an
 * address any socket holds, so one is bound first (dual-stack like
 * libcoap's) and closed. Serving one port from several processes is not
 * supported. */
static enum ota_err srv_probe_bind(const struct sockaddr *sa, socklen_t len, const char *spec,
                                   char *msg)
{
    int off = 0, fd = socket(sa->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return ota_fail(msg, OTA_E_NET, "listen %s: %s", spec, strerror(errno));
    if (sa->sa_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
    int rc = bind(fd, sa, len), err = errno;
    close(fd);
    if (rc == 0)
        return OTA_OK;
    return ota_fail(msg, OTA_E_NET, "listen %s: %s", spec,
                    err == EADDRINUSE ? "address in use (another server on this port?)"
                                      : strerror(err));
}

static enum ota_err srv_listen_one(coap_context_t *ctx, const char *spec, coap_proto_t proto,
                                   char *msg)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int secure = proto == COAP_PROTO_DTLS;
    enum ota_err e = cfg_resolve(spec, secure ? 5684 : 5683, SOCK_DGRAM, &ss, &len, msg);
    if (e != OTA_OK)
        return e;
    coap_address_t addr;
    coap_address_init(&addr);
    addr.size = len;
    memcpy(&addr.addr, &ss, len);
    if ((e = srv_probe_bind((const struct sockaddr *)&ss, len, spec, msg)) != OTA_OK)
        return e;
    if (!coap_new_endpoint(ctx, &addr, proto))
        return ota_fail(msg, OTA_E_NET, "listen %s: cannot bind (address in use or not local?)",
                        spec);
    log_msg(LOG_L_INFO, "listening on %s://%s", secure ? "coaps" : "coap", spec);
    return OTA_OK;
}

static void srv_limit_cfg(const struct cfg_ota *c, struct srv_limit_cfg *l)
{
    l->max_sources = (unsigned)c->max_sources;
    l->max_transfers = (unsigned)c->max_transfers;
    l->transfer_idle_s = (unsigned)c->transfer_idle;
    l->rate = (unsigned)c->rate_limit;
    l->burst = (unsigned)c->rate_burst;
    l->retry_after_s = (unsigned)c->retry_after;
    l->max_per_address = (unsigned)c->max_transfers_per_address;
    /* Rounded down, so a tiny cap keeps a slot for coap:// devices; no
     * reserve without coaps:// listeners, where it would only waste slots. */
    l->reserve = c->ndtls_listen ? (unsigned)((long)c->max_transfers * c->verified_reserve / 100)
                                 : 0;
}

/* admin and trusted_proxies in binary form. */
static enum ota_err srv_addr_lists(const struct cfg_ota *c, struct srv_admin *admin,
                                   struct srv_admin *proxies, char *msg)
{
    enum ota_err e = srv_admin_parse(c, admin, msg);
    if (e == OTA_OK &&
        (e = srv_addrs_parse((const char(*)[CFG_ADDR_MAX])c->trusted_proxies,
                             c->ntrusted_proxies, proxies, msg)) != OTA_OK)
        e = ota_fail(msg, e, "trusted_proxies: an entry is not an IP address");
    return e;
}

static void srv_sessions_bound(struct srv *s)
{
    if (s->cfg.max_sessions > 0)
        coap_context_set_max_idle_sessions(s->ctx, (unsigned)s->cfg.max_sessions);
    coap_context_set_session_timeout(s->ctx, (unsigned)s->cfg.session_timeout);
}

/* coaps:// endpoints; the PSK secret is checked (not readable by others)
 * before anything listens. */
static enum ota_err srv_dtls_start(struct srv *s, char *msg)
{
    s->dtls = calloc(1, sizeof *s->dtls);
    if (!s->dtls)
        return ota_fail(msg, OTA_E_NOMEM, "dtls: out of memory");
    enum ota_err e = srv_dtls_init(s->dtls, &s->cfg, msg);
    if (e == OTA_OK)
        e = srv_dtls_attach(s->dtls, s->ctx, &s->cfg, msg);
    for (int i = 0; i < s->cfg.ndtls_listen && e == OTA_OK; i++)
        e = srv_listen_one(s->ctx, s->cfg.dtls_listen[i], COAP_PROTO_DTLS, msg);
    return e;
}

static enum ota_err srv_coap_start(struct srv *s, char *msg)
{
    enum ota_err e = OTA_OK;
    coap_startup();
    s->coap_started = 1;
    srv_coap_log_setup();
    s->ctx = coap_new_context(NULL);
    if (!s->ctx)
        return ota_fail(msg, OTA_E_NOMEM, "coap: cannot create context");
    srv_sessions_bound(s);
    for (int i = 0; i < s->cfg.nlisten && !s->cfg.dtls_only && e == OTA_OK; i++)
        e = srv_listen_one(s->ctx, s->cfg.listen[i], COAP_PROTO_UDP, msg);
    if (e == OTA_OK && s->cfg.ndtls_listen)
        e = srv_dtls_start(s, msg);
    if (e == OTA_OK)
        e = srv_resources_add(s, msg);
    if (e == OTA_OK)
        e = srv_gate_init(&s->gate, &s->cfg, s->dtls, msg);
    return e;
}

static enum ota_err srv_start(struct srv *s, char *msg)
{
    uint8_t pub[CRYPTO_PUB_LEN];
    struct srv_limit_cfg lc;
    srv_limit_cfg(&s->cfg, &lc);
    enum ota_err e = crypto_init(msg);
    if (e == OTA_OK)
        e = crypto_load_public(s->cfg.public_key, pub, msg);
    if (e == OTA_OK)
        e = srv_addr_lists(&s->cfg, &s->admin, &s->proxies, msg);
    if (e == OTA_OK)
        e = srv_limit_init(&s->lim, &lc, msg);
    if (e == OTA_OK)
        e = srv_projects_stage(&s->projects, &s->cfg, NULL, msg);
    /* Bind before the (slower) first scan so a busy port fails at once;
     * no request is handled before the loop starts. */
    if (e == OTA_OK)
        e = srv_coap_start(s, msg);
    if (e == OTA_OK)
        e = srv_metrics_start(s, msg);
    if (e == OTA_OK)
        e = srv_index_open(&s->idx, s->cfg.cache_dir, pub, msg);
    if (e == OTA_OK)
        e = srv_report_open(s, msg);
    if (e == OTA_OK)
        e = srv_census_open(&s->census, &s->cfg, msg);
    srv_ondemand_configure(&s->ondemand, &s->cfg);
    s->gate.lock = &s->lock;
    /* Last: its threads decide from the index as soon as it listens. */
    if (e == OTA_OK)
        e = srv_devhttp_start(s, msg);
    return e;
}

static void srv_stop(struct srv *s)
{
    srv_devhttp_stop(s); /* first: join the HTTP threads before anything is freed */
    srv_metrics_stop(s);
    if (s->ctx)
        coap_free_context(s->ctx);
    s->ctx = NULL;
    srv_resources_free(s);
    if (s->coap_started)
        coap_cleanup();
    srv_index_close(&s->idx);
    srv_census_flush(&s->census, &s->cfg, srv_now_ms(), 1);
    srv_census_free(&s->census);
    srv_ondemand_free(&s->ondemand);
    srv_limit_free(&s->lim);
    srv_projects_close(&s->projects);
    if (s->dtls) {
        srv_dtls_wipe(s->dtls);
        free(s->dtls);
        s->dtls = NULL;
    }
    if (s->report_fd >= 0) {
        srv_report_sync(s, srv_now_ms(), 1);
        close(s->report_fd);
    }
    s->report_fd = -1;
}

/* ---- 3. SIGHUP reload ----------------------------------------------------- */

/* Everything a reload replaces, built completely before any of it is
 * used: a reload is all or nothing (issue 16.3). */
struct srv_staged {
    struct srv_admin admin, proxies;
    struct srv_limit lim;    /* the running entries carried over */
    struct srv_projects projects; /* fleets and check tables (unchanged ones carried) */
    struct srv_index idx;
    int new_idx;             /* else the running index is rescanned */
    int have_lim, have_projects;
};

static void srv_staged_free(struct srv_staged *g)
{
    if (g->have_lim)
        srv_limit_free(&g->lim);
    if (g->have_projects)
        srv_projects_close(&g->projects);
    if (g->new_idx)
        srv_index_close(&g->idx);
}

/* A new cache directory or public key gets a new index; the same ones
 * are rescanned at commit. */
static enum ota_err srv_stage_index(const struct srv *s, const struct cfg_ota *nc,
                                    struct srv_staged *g, char *msg)
{
    uint8_t pub[CRYPTO_PUB_LEN];
    if (!strcmp(nc->cache_dir, s->cfg.cache_dir) && !strcmp(nc->public_key, s->cfg.public_key))
        return OTA_OK;
    enum ota_err e = crypto_load_public(nc->public_key, pub, msg);
    if (e == OTA_OK)
        e = srv_index_open(&g->idx, nc->cache_dir, pub, msg);
    g->new_idx = e == OTA_OK;
    return e;
}

static enum ota_err srv_stage(const struct srv *s, const struct cfg_ota *nc,
                              struct srv_staged *g, char *msg)
{
    struct srv_limit_cfg lc;
    enum ota_err e = srv_addr_lists(nc, &g->admin, &g->proxies, msg);
    if (e == OTA_OK) {
        e = srv_projects_stage(&g->projects, nc, &s->projects, msg);
        g->have_projects = e == OTA_OK;
    }
    srv_limit_cfg(nc, &lc);
    if (e == OTA_OK) {
        e = srv_limit_prepare(&s->lim, &lc, &g->lim, msg);
        g->have_lim = e == OTA_OK;
    }
    if (e == OTA_OK)
        e = srv_stage_index(s, nc, g, msg);
    return e;
}

/* Swap the staged state in; nothing here can fail but the rescan of an
 * unchanged cache directory, which keeps the previous index. */
static void srv_commit(struct srv *s, struct srv_staged *g)
{
    char msg[OTA_MSG_LEN];
    srv_limit_free(&s->lim);
    s->lim = g->lim;
    srv_projects_commit(&g->projects, &s->projects);
    if (g->new_idx) {
        g->idx.gen = s->idx.gen + 1; /* never reuse a generation the memo knows */
        srv_index_close(&s->idx);
        s->idx = g->idx;
    } else if (srv_index_rescan(&s->idx, msg) != OTA_OK) {
        log_msg(LOG_L_WARN, "index: rescan failed, keeping the previous index: %s", msg);
    }
    s->admin = g->admin;
    s->proxies = g->proxies;
}

static enum ota_err srv_reload_cfg(struct srv *s, struct cfg_ota *nc, char *msg)
{
    struct srv_staged g;
    memset(&g, 0, sizeof g);
    enum ota_err e = cfg_ota_load(s->ctl->config_path, nc, msg);
    if (e == OTA_OK && (e = srv_stage(s, nc, &g, msg)) != OTA_OK)
        srv_staged_free(&g);
    /* Last of the stage: the secrets swap in at once, so nothing may fail after. */
    if (e == OTA_OK && s->dtls && (e = srv_dtls_reload(s->dtls, nc, msg)) != OTA_OK)
        srv_staged_free(&g);
    if (e != OTA_OK)
        return e;
    srv_commit(s, &g);
    if (nc->ndtls_listen != s->cfg.ndtls_listen || nc->dtls_only != s->cfg.dtls_only ||
        memcmp(nc->dtls_listen, s->cfg.dtls_listen, sizeof nc->dtls_listen) != 0)
        log_msg(LOG_L_WARN, "reload: [dtls] listen and only change only on restart");
    if (nc->nlisten != s->cfg.nlisten ||
        memcmp(nc->listen, s->cfg.listen, sizeof nc->listen) != 0)
        log_msg(LOG_L_WARN, "reload: listen addresses change only on restart");
    memcpy(nc->listen, s->cfg.listen, sizeof nc->listen); /* incl. -l overrides */
    nc->nlisten = s->cfg.nlisten;
    cfg_ota_free(&s->cfg);
    s->cfg = *nc; /* the project table moves with it */
    nc->projects = NULL;
    srv_projects_bind(&s->projects, &s->cfg);
    srv_memo_clear(&s->memo); /* the project or key may have changed */
    srv_sessions_bound(s);
    log_set_level((enum log_level)(s->ctl->log_level >= 0 ? s->ctl->log_level
                                                           : s->cfg.log_level));
    return OTA_OK;
}

static void srv_on_hup(struct srv *s)
{
    char msg[OTA_MSG_LEN];
    struct cfg_ota *nc = calloc(1, sizeof *nc);
    s->st.reloads++;
    if (!s->ctl->config_path) {
        log_msg(LOG_L_INFO, "SIGHUP: rescanning %s, reopening the report log", s->cfg.cache_dir);
        if (srv_index_rescan(&s->idx, msg) != OTA_OK)
            log_msg(LOG_L_WARN, "index: rescan failed, keeping the previous index: %s", msg);
    } else if (!nc || srv_reload_cfg(s, nc, msg) != OTA_OK) {
        if (nc)
            cfg_ota_free(nc);
        s->st.reloads_failed++;
        log_msg(LOG_L_ERROR, "SIGHUP: reload failed, keeping the running configuration: %s",
                nc ? msg : "out of memory");
    } else {
        char fleet[96];
        srv_fleet_describe(&s->projects.v[0].fleet, fleet, sizeof fleet);
        log_msg(LOG_L_INFO, "SIGHUP: reloaded %s: %zu project(s), %zu package(s), "
                "max_transfers %d, rate_limit %d/s, %s%s", s->ctl->config_path, s->projects.n,
                s->idx.n, s->cfg.max_transfers, s->cfg.rate_limit,
                s->projects.n > 1 ? "first project: " : "", fleet);
    }
    free(nc);
    /* The census is saved at every SIGHUP (operators and tests read it
     * then); builds are asked again (the operator may have fixed one). */
    srv_census_flush(&s->census, &s->cfg, srv_now_ms(), 1);
    srv_census_builds_reset(&s->census);
    srv_ondemand_configure(&s->ondemand, &s->cfg);
    srv_metrics_reload(s);
    srv_devhttp_reload(s);
    if (srv_report_open(s, msg) != OTA_OK)
        log_msg(LOG_L_ERROR, "%s; reports are logged but not stored", msg);
}

/* ---- 4. event loop ---------------------------------------------------------- */

static void srv_tick(struct srv *s)
{
    uint64_t now = srv_now_ms();
    int scanned = srv_index_tick(&s->idx, now);
    s->st.rescans += scanned != 0;
    s->st.rescans_failed += scanned < 0;
    srv_limit_tick(&s->lim, now);
    if (now - s->last_second_ms >= 1000 || s->shortres.gen != s->idx.gen)
        srv_short_tick(s, now);
    srv_report_sync(s, now, 0);
    srv_notify_tick(&s->notify, now, s->idx.n, s->lim.nxfer);
    srv_metrics_publish(s, now, 0);
    if (now - s->last_second_ms >= 1000) {
        s->last_second_ms = now;
        srv_log_flush(s);
        srv_census_flush(&s->census, &s->cfg, now, 0);
        srv_projects_refresh(&s->projects);
        srv_console_publish(s, 0);
    }
}

static enum ota_err srv_loop(struct srv *s, char *msg)
{
    while (!*s->ctl->stop) {
        if (srv_gate_io(&s->gate, s->ctx, SRV_TICK_MS) < 0 && errno != EINTR)
            return ota_fail(msg, OTA_E_NET, "coap: event loop failed: %s", strerror(errno));
        pthread_mutex_lock(&s->lock);
        if (s->ctl->hup && *s->ctl->hup) {
            *s->ctl->hup = 0;
            srv_notify_reloading(&s->notify);
            srv_on_hup(s);
            srv_notify_ready(&s->notify, s->idx.n, s->lim.nxfer);
        }
        srv_tick(s);
        pthread_mutex_unlock(&s->lock);
    }
    return OTA_OK;
}

enum ota_err srv_run(const struct cfg_ota *cfg, const struct srv_ctl *ctl, char *msg)
{
    struct srv *s = calloc(1, sizeof *s);
    if (!s)
        return ota_fail(msg, OTA_E_NOMEM, "server: out of memory");
    s->cfg = *cfg;
    s->ctl = ctl;
    if (cfg_ota_own(&s->cfg, msg) != OTA_OK) { /* reloads replace it; the caller keeps cfg */
        free(s);
        return OTA_E_NOMEM;
    }
    s->report_fd = -1;
    s->idx.inotify_fd = -1; /* srv_stop may run before srv_index_open */
    s->start_ms = srv_now_ms();
    pthread_mutex_init(&s->lock, NULL);
    enum ota_err e = srv_start(s, msg);
    if (e == OTA_OK) {
        char who[VER_PROJECT_MAX + 16];
        if (s->projects.n > 1)
            snprintf(who, sizeof who, "%zu projects", s->projects.n);
        else
            snprintf(who, sizeof who, "project %s", cfg->project);
        log_msg(LOG_L_INFO, "ota-server: %s, %zu package(s), block size %d, "
                "max_transfers %d, rate_limit %d/s per source", who, s->idx.n, cfg->block_size,
                cfg->max_transfers, cfg->rate_limit);
        /* Ready only now: the cache is indexed and every socket is bound. */
        pthread_mutex_lock(&s->lock);
        srv_metrics_publish(s, srv_now_ms(), 1);
        srv_console_publish(s, 1);
        pthread_mutex_unlock(&s->lock);
        srv_notify_init(&s->notify);
        srv_notify_ready(&s->notify, s->idx.n, s->lim.nxfer);
        e = srv_loop(s, msg);
        srv_notify_stopping(&s->notify);
        srv_metrics_stopping(s);
        log_msg(LOG_L_INFO, "ota-server: stopping");
    }
    srv_log_flush(s);
    srv_stop(s);
    cfg_ota_free(&s->cfg);
    pthread_mutex_destroy(&s->lock);
    free(s);
    return e;
}
