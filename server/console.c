/* console.c - the operator console's page and JSON API (see console.h).
 *
 * Sections: 1. JSON output, 2. publishing (CoAP thread), 3. static files,
 * 4. reading views (fleet, releases, rollout, allowlist, device, live,
 * audit), 5. writes (rollout, allowlist) and the audit log, 6. routes.
 * Every handler answers JSON (errors too: {"error":"..."}), except the
 * static files.
 */
#include "console.h"

#include "census.h"
#include "fota.h"
#include "io.h"
#include "jbody.h"
#include "log.h"
#include "metrics.h"
#include "rollout.h"

/* ota-cache's report log reader (the name report.h is also server/'s writer) */
#include "../cache/report.h"
#include "srv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- 1. JSON output ------------------------------------------------------- */

/* A JSON string: quotes, backslash and control bytes escaped; bytes
 * outside ASCII shown as '?' so the answer stays valid UTF-8. */
static void srv_json_str(struct srv_text *t, const char *s)
{
    srv_text_add(t, "\"");
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            srv_text_add(t, "\\%c", c);
        else if (c < 0x20)
            srv_text_add(t, "\\u%04x", c);
        else
            srv_text_add(t, "%c", c >= 0x7f ? '?' : c);
    }
    srv_text_add(t, "\"");
}

/* "key": "value" with a leading comma unless first. */
static void srv_json_kv(struct srv_text *t, int first, const char *key, const char *value)
{
    srv_text_add(t, "%s\"%s\":", first ? "" : ",", key);
    srv_json_str(t, value);
}

/* Hand the text to the reply (500 if it ran out of memory). */
static void srv_json_reply(struct srv_http_reply *r, struct srv_text *t, unsigned status)
{
    r->content_type = "application/json";
    if (t->oom || !t->p) {
        free(t->p);
        r->status = 500;
        return;
    }
    r->status = status;
    r->body = t->p;
    r->len = t->len;
}

static void srv_json_error(struct srv_http_reply *r, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void srv_json_error(struct srv_http_reply *r, unsigned status, const char *fmt, ...)
{
    char why[OTA_MSG_LEN];
    va_list ap;
    struct srv_text t = {NULL, 0, 0, 0};
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    srv_text_add(&t, "{\"error\":");
    srv_json_str(&t, why);
    srv_text_add(&t, "}\n");
    srv_json_reply(r, &t, status);
}

static void srv_iso_time(int64_t at, char out[32])
{
    struct tm tm;
    time_t tt = (time_t)at;
    gmtime_r(&tt, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- 2. publishing (CoAP thread) ------------------------------------------ */

enum ota_err srv_console_init(struct srv_console **out, char *msg)
{
    struct srv_console *c = calloc(1, sizeof *c);
    if (!c)
        return ota_fail(msg, OTA_E_NOMEM, "console: out of memory");
    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_init(&c->seen_lock, NULL);
    pthread_mutex_init(&c->write_lock, NULL);
    *out = c;
    return OTA_OK;
}

void srv_console_free(struct srv_console *c)
{
    if (!c)
        return;
    pthread_mutex_destroy(&c->lock);
    pthread_mutex_destroy(&c->seen_lock);
    pthread_mutex_destroy(&c->write_lock);
    free(c);
}

static void srv_console_paths(struct srv_console_snap *p, const struct cfg_ota *cfg)
{
    ota_strlcpy(p->audit_log, cfg->admin_audit_log, sizeof p->audit_log);
    ota_strlcpy(p->census_file, cfg->census_file, sizeof p->census_file);
    ota_strlcpy(p->report_log, cfg->report_log, sizeof p->report_log);
    ota_strlcpy(p->drop_dir, cfg->drop_dir, sizeof p->drop_dir);
    ota_strlcpy(p->console_dir, cfg->admin_console_dir, sizeof p->console_dir);
    ota_strlcpy(p->javascript_dir, cfg->admin_javascript_dir, sizeof p->javascript_dir);
}

/* Downloads started per day: a new day starts a new entry. */
static void srv_console_days(struct srv_console_snap *p, uint64_t started, int64_t now)
{
    int64_t day = now / 86400;
    if (p->ndays == 0 || p->days[p->ndays - 1].day != day) {
        if (p->ndays == SRV_CONSOLE_DAYS) {
            memmove(p->days, p->days + 1, (SRV_CONSOLE_DAYS - 1) * sizeof p->days[0]);
            p->ndays--;
        }
        p->days[p->ndays].day = day;
        p->days[p->ndays].started = 0;
        p->ndays++;
        p->started_base = started;
    }
    p->days[p->ndays - 1].started = started - p->started_base;
}

static void srv_console_pkgs(struct srv_console_snap *p, const struct srv_index *x)
{
    size_t n = x->nall < SRV_CONSOLE_PKG_MAX ? x->nall : SRV_CONSOLE_PKG_MAX;
    for (size_t i = 0; i < n; i++) {
        const struct srv_pkg *k = x->all[i];
        struct srv_console_pkg *o = &p->pkg[i];
        memcpy(o->name, k->name, sizeof o->name);
        o->ok = k->ok;
        o->h = k->h;
        o->size = (uint64_t)k->size;
        o->mtime = (int64_t)k->mtime.tv_sec;
        o->started = k->downloads_started;
        o->completed = k->downloads_completed;
    }
    p->npkg = n;
}

static void srv_console_projects(struct srv_console_snap *p, const struct srv_projects *v)
{
    p->nprojects = v->n < SRV_CONSOLE_PROJECTS_MAX ? v->n : SRV_CONSOLE_PROJECTS_MAX;
    for (size_t i = 0; i < p->nprojects; i++) {
        const struct srv_project *pr = &v->v[i];
        struct srv_console_project *o = &p->projects[i];
        ota_strlcpy(o->name, pr->cfg->project, sizeof o->name);
        ota_strlcpy(o->allowlist, pr->cfg->allowlist, sizeof o->allowlist);
        ota_strlcpy(o->rollout_file, pr->cfg->rollout_file, sizeof o->rollout_file);
        o->has_allowlist = pr->fleet.has_allowlist;
        o->allowlist_n = pr->fleet.n;
        o->has_rollout = pr->fleet.has_rollout;
        o->rollout_bp = pr->fleet.rollout_bp;
        o->paused = pr->fleet.paused;
    }
}

void srv_console_publish(struct srv *s, int all)
{
    struct srv_console *c = s->metrics.console;
    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    struct srv_console_snap *p = &c->snap;
    srv_console_paths(p, &s->cfg);
    srv_console_projects(p, &s->projects);
    srv_console_days(p, s->st.transfers_started, (int64_t)time(NULL));
    if (all || c->pkg_gen != s->idx.gen) {
        srv_console_pkgs(p, &s->idx);
        c->pkg_gen = s->idx.gen;
    }
    p->seq++;
    pthread_mutex_unlock(&c->lock);
}

static size_t srv_console_slot(const char *imei)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a: spreads IMEIs, not a defence */
    for (; *imei; imei++)
        h = (h ^ (unsigned char)*imei) * 1099511628211ull;
    return (size_t)(h % SRV_CONSOLE_SEEN_SLOTS);
}

void srv_console_seen_check(struct srv *s, const struct srv_fota_out *out)
{
    struct srv_console *c = s->metrics.console;
    if (!c || !out->parsed || pthread_mutex_trylock(&c->seen_lock) != 0)
        return;
    struct srv_console_seen *e = &c->seen[srv_console_slot(out->q.imei)];
    ota_strlcpy(e->imei, out->q.imei, sizeof e->imei);
    e->at = (int64_t)time(NULL);
    e->core = out->q.core;
    e->script = out->q.script;
    e->status = (int)out->st;
    pthread_mutex_unlock(&c->seen_lock);
}

/* A private copy of the snapshot, NULL (and the reply set) if none yet or
 * out of memory. */
static struct srv_console_snap *srv_console_copy(struct srv_console *c,
                                                 struct srv_http_reply *r)
{
    struct srv_console_snap *p = malloc(sizeof *p);
    if (!p) {
        srv_json_error(r, 500, "out of memory");
        return NULL;
    }
    pthread_mutex_lock(&c->lock);
    memcpy(p, &c->snap, offsetof(struct srv_console_snap, pkg) +
                            c->snap.npkg * sizeof c->snap.pkg[0]);
    pthread_mutex_unlock(&c->lock);
    if (p->seq == 0) {
        free(p);
        srv_json_error(r, 503, "starting");
        return NULL;
    }
    return p;
}

/* The project a request names (?project=), or the first one (a gateway
 * with one project needs no argument); NULL and a 404 if unknown. */
static const struct srv_console_project *srv_console_pick(const struct srv_console_snap *p,
                                                          const struct srv_http_req *q,
                                                          struct srv_http_reply *r)
{
    const char *name = srv_http_req_arg(q, "project");
    for (size_t i = 0; i < p->nprojects; i++)
        if (!name || !strcmp(name, p->projects[i].name))
            return &p->projects[i];
    srv_json_error(r, 404, "project: %s is not served here", name ? name : "(none)");
    return NULL;
}

/* The snapshot and the request's project, or NULL with the reply set. */
static struct srv_console_snap *srv_console_for(struct srv_console *c,
                                                const struct srv_http_req *q,
                                                struct srv_http_reply *r,
                                                const struct srv_console_project **pj)
{
    struct srv_console_snap *p = srv_console_copy(c, r);
    if (p && !(*pj = srv_console_pick(p, q, r))) {
        free(p);
        return NULL;
    }
    return p;
}

/* ---- 3. static files ----------------------------------------------------- */

static void srv_console_file(struct srv_metrics *m, struct srv_http_reply *r, int js_lib,
                             const char *name, const char *type)
{
    char path[CFG_PATH_MAX + 64], msg[OTA_MSG_LEN];
    uint8_t *buf;
    size_t len;
    pthread_mutex_lock(&m->console->lock);
    snprintf(path, sizeof path, "%s/%s",
             js_lib ? m->console->snap.javascript_dir : m->console->snap.console_dir, name);
    pthread_mutex_unlock(&m->console->lock);
    if (io_file_read_all(path, SRV_CONSOLE_FILE_MAX, &buf, &len, msg) != OTA_OK) {
        log_msg(LOG_L_WARN, "console: %s", msg);
        r->status = 404;
        r->body = strdup(js_lib ? "not found (is libjs-chart.js installed?)\n" : "not found\n");
        r->len = r->body ? strlen(r->body) : 0;
        return;
    }
    r->body = (char *)buf;
    r->len = len;
    r->content_type = type;
}

static void srv_hnd_page(void *ctx, struct srv_http_reply *r)
{
    srv_console_file(ctx, r, 0, "index.html", "text/html; charset=utf-8");
}

static void srv_hnd_script(void *ctx, struct srv_http_reply *r)
{
    srv_console_file(ctx, r, 0, "console.js", "text/javascript; charset=utf-8");
}

static void srv_hnd_style(void *ctx, struct srv_http_reply *r)
{
    srv_console_file(ctx, r, 0, "console.css", "text/css; charset=utf-8");
}

static void srv_hnd_icon(void *ctx, struct srv_http_reply *r)
{
    srv_console_file(ctx, r, 0, "favicon.svg", "image/svg+xml");
}

static void srv_hnd_chartjs(void *ctx, struct srv_http_reply *r)
{
    srv_console_file(ctx, r, 1, "chart.js/chart.min.js", "text/javascript; charset=utf-8");
}

/* ---- 4. reading views ------------------------------------------------------ */

typedef void (*srv_console_line_cb)(void *ctx, const char *line);

/* Each complete line of the last SRV_CONSOLE_REPORT_SCAN bytes of path
 * (a line cut by the start of the window, or longer than the buffer, is
 * skipped); *scanned is the byte count looked at, *cut whether the file
 * is longer. A missing file has no lines. */
static void srv_console_tail(const char *path, size_t window, srv_console_line_cb cb, void *ctx,
                             uint64_t *scanned, int *cut)
{
    char line[CACHE_REPORT_LINE_MAX];
    struct stat st;
    *scanned = 0;
    *cut = 0;
    FILE *fp = path[0] ? fopen(path, "r") : NULL;
    if (!fp)
        return;
    if (fstat(fileno(fp), &st) == 0 && (uint64_t)st.st_size > window) {
        *cut = 1;
        fseeko(fp, st.st_size - (off_t)window, SEEK_SET);
    }
    int skip = *cut; /* the first line of a window is probably partial */
    while (fgets(line, sizeof line, fp)) {
        size_t n = strlen(line);
        *scanned += n;
        int whole = n > 0 && line[n - 1] == '\n';
        if (!skip && whole)
            cb(ctx, line);
        skip = !whole; /* the rest of an over-long line follows */
    }
    fclose(fp);
}

struct srv_report_day {
    char day[11]; /* YYYY-MM-DD */
    uint64_t updated, failed;
};

#define SRV_CONSOLE_REPORT_DAYS 400

struct srv_report_days {
    const char *project;
    struct srv_report_day d[SRV_CONSOLE_REPORT_DAYS];
    size_t n;
    uint64_t lines, used;
};

static void srv_report_day_line(void *ctx, const char *line)
{
    struct srv_report_days *a = ctx;
    char stamp[32], project[VER_PROJECT_MAX];
    double result;
    a->lines++;
    if (cache_report_json_string(line, "time", stamp, sizeof stamp) != 0 || strlen(stamp) < 10 ||
        cache_report_json_number(line, "result", &result) != 0)
        return;
    if (cache_report_json_string(line, "project", project, sizeof project) == 0 &&
        project[0] && strcmp(project, a->project) != 0)
        return;
    stamp[10] = '\0';
    size_t i = a->n;
    while (i > 0 && strcmp(a->d[i - 1].day, stamp) != 0)
        i--;
    if (i == 0) { /* a new day: logs are in time order, so mostly the last */
        if (a->n == SRV_CONSOLE_REPORT_DAYS)
            return;
        memset(&a->d[a->n], 0, sizeof a->d[0]);
        memcpy(a->d[a->n].day, stamp, 11);
        i = ++a->n;
    }
    a->used++;
    if (result == 0)
        a->d[i - 1].updated++;
    else
        a->d[i - 1].failed++;
}

static int srv_report_day_cmp(const void *a, const void *b)
{
    return strcmp(((const struct srv_report_day *)a)->day, ((const struct srv_report_day *)b)->day);
}

/* The newest release of the project among the loaded packages. */
static int srv_console_target(const struct srv_console_snap *p, const char *project,
                              struct ver_core *core, struct ver_script *script)
{
    int found = 0;
    for (size_t i = 0; i < p->npkg; i++) {
        const struct pkg_header *h = &p->pkg[i].h;
        if (!p->pkg[i].ok || strcmp(h->project, project) != 0)
            continue;
        if (!found || h->to_core > core->number ||
            (h->to_core == core->number && ver_script_cmp(&h->script, script) > 0)) {
            memcpy(core->name, h->core_name, sizeof core->name);
            memcpy(core->chip, h->chip, sizeof core->chip);
            core->number = h->to_core;
            *script = h->script;
            found = 1;
        }
    }
    return found;
}

static void srv_fleet_pairs(struct srv_text *t, const char *project,
                            const struct census_entry *e, size_t n, const struct ver_core *core,
                            const struct ver_script *script, int has_target)
{
    char cs[VER_CORE_STR_MAX], ss[VER_SCRIPT_STR_MAX];
    uint64_t on = 0, all = 0;
    srv_text_add(t, ",\"pairs\":[");
    for (size_t i = 0, k = 0; i < n; i++) {
        if (strcmp(e[i].project, project) != 0)
            continue;
        int at = has_target && ver_core_same_line(&e[i].core, core) &&
                 e[i].core.number == core->number &&
                 ver_script_cmp(&e[i].script, script) == 0;
        ver_core_format(&e[i].core, cs);
        ver_script_format(&e[i].script, ss);
        srv_text_add(t, "%s{", k++ ? "," : "");
        srv_json_kv(t, 1, "core", cs);
        srv_json_kv(t, 0, "script", ss);
        srv_text_add(t, ",\"count\":%llu,\"first_seen\":%lld,\"last_seen\":%lld,"
                     "\"on_target\":%s}", (unsigned long long)e[i].count,
                     (long long)e[i].first_seen, (long long)e[i].last_seen,
                     at ? "true" : "false");
        on += at ? e[i].count : 0;
        all += e[i].count;
    }
    srv_text_add(t, "],\"checks_on_target\":%llu,\"checks_total\":%llu",
                 (unsigned long long)on, (unsigned long long)all);
}

static void srv_fleet_days(struct srv_text *t, const struct srv_console_snap *p,
                           struct srv_report_days *a)
{
    qsort(a->d, a->n, sizeof a->d[0], srv_report_day_cmp);
    size_t from = a->n > SRV_CONSOLE_DAYS ? a->n - SRV_CONSOLE_DAYS : 0;
    srv_text_add(t, ",\"days\":[");
    for (size_t i = from; i < a->n; i++)
        srv_text_add(t, "%s{\"day\":\"%s\",\"updated\":%llu,\"failed\":%llu}", i > from ? "," : "",
                     a->d[i].day, (unsigned long long)a->d[i].updated,
                     (unsigned long long)a->d[i].failed);
    srv_text_add(t, "],\"offered\":[");
    for (size_t i = 0; i < p->ndays; i++) {
        char day[32];
        srv_iso_time(p->days[i].day * 86400, day);
        day[10] = '\0';
        srv_text_add(t, "%s{\"day\":\"%s\",\"downloads_started\":%llu}", i ? "," : "", day,
                     (unsigned long long)p->days[i].started);
    }
    srv_text_add(t, "]");
}

static void srv_hnd_fleet(void *ctx, const struct srv_http_req *q, struct srv_http_reply *r)
{
    struct srv_metrics *m = ctx;
    const struct srv_console_project *pj = NULL;
    struct srv_console_snap *p = srv_console_for(m->console, q, r, &pj);
    struct census_entry *e = NULL;
    struct srv_report_days *a = calloc(1, sizeof *a);
    struct srv_text t = {NULL, 0, 0, 0};
    char msg[OTA_MSG_LEN] = "", cs[VER_CORE_STR_MAX], ss[VER_SCRIPT_STR_MAX];
    size_t n = 0;
    uint64_t scanned;
    int cut;
    if (!p || !a) {
        if (p)
            srv_json_error(r, 500, "out of memory");
        free(p);
        free(a);
        return;
    }
    if (p->census_file[0] && census_load(p->census_file, &e, &n, msg) != OTA_OK)
        log_msg(LOG_L_WARN, "console: %s", msg);
    struct ver_core core;
    struct ver_script script;
    int has_target = srv_console_target(p, pj->name, &core, &script);
    srv_text_add(&t, "{");
    srv_json_kv(&t, 1, "project", pj->name);
    srv_json_kv(&t, 0, "census_error", msg);
    if (has_target) {
        ver_core_format(&core, cs);
        ver_script_format(&script, ss);
        srv_text_add(&t, ",\"target\":{");
        srv_json_kv(&t, 1, "core", cs);
        srv_json_kv(&t, 0, "script", ss);
        srv_text_add(&t, "}");
    } else {
        srv_text_add(&t, ",\"target\":null");
    }
    srv_fleet_pairs(&t, pj->name, e, n, &core, &script, has_target);
    a->project = pj->name;
    srv_console_tail(p->report_log, SRV_CONSOLE_REPORT_SCAN, srv_report_day_line, a, &scanned,
                     &cut);
    srv_fleet_days(&t, p, a);
    srv_text_add(&t, ",\"reports\":{\"lines\":%llu,\"counted\":%llu,\"bytes_read\":%llu,"
                 "\"older_not_read\":%s}}\n", (unsigned long long)a->lines,
                 (unsigned long long)a->used, (unsigned long long)scanned, cut ? "true" : "false");
    srv_json_reply(r, &t, 200);
    census_free(e);
    free(a);
    free(p);
}

static const char *srv_pkg_kind(const struct pkg_header *h)
{
    if (h->from_core == PKG_FROM_ANY)
        return "full";
    if (h->core_len == 0)
        return "script";
    return h->script_len == 0 ? "core" : "delta";
}

static void srv_release_pkg(struct srv_text *t, const struct srv_console_pkg *k, int first)
{
    const struct pkg_header *h = &k->h;
    char from[VER_CORE_STR_MAX], to[VER_CORE_STR_MAX], ss[VER_SCRIPT_STR_MAX], key[17];
    struct ver_core c;
    memcpy(c.name, h->core_name, sizeof c.name);
    memcpy(c.chip, h->chip, sizeof c.chip);
    c.number = h->to_core;
    ver_core_format(&c, to);
    c.number = h->from_core;
    if (h->from_core == PKG_FROM_ANY)
        snprintf(from, sizeof from, "any");
    else
        ver_core_format(&c, from);
    ver_script_format(&h->script, ss);
    ota_hex(h->key_id, sizeof h->key_id, key);
    uint64_t full = h->core_size + h->script_size;
    srv_text_add(t, "%s{", first ? "" : ",");
    srv_json_kv(t, 1, "name", k->name);
    srv_text_add(t, ",\"ok\":%s", k->ok ? "true" : "false");
    if (k->ok) {
        srv_json_kv(t, 0, "project", h->project);
        srv_json_kv(t, 0, "from", from);
        srv_json_kv(t, 0, "to", to);
        srv_json_kv(t, 0, "script", ss);
        srv_json_kv(t, 0, "kind", srv_pkg_kind(h));
        srv_json_kv(t, 0, "key_id", key);
        srv_text_add(t, ",\"full_size\":%llu,\"share\":%.4f,\"downloads_started\":%llu,"
                     "\"downloads_completed\":%llu", (unsigned long long)full,
                     full ? (double)k->size / (double)full : 0.0,
                     (unsigned long long)k->started, (unsigned long long)k->completed);
    }
    srv_text_add(t, ",\"size\":%llu,\"published\":%lld}", (unsigned long long)k->size,
                 (long long)k->mtime);
}

struct srv_drop_seen {
    char name[256];
    int64_t at;
};

static int srv_drop_cmp(const void *a, const void *b)
{
    int64_t x = ((const struct srv_drop_seen *)a)->at, y = ((const struct srv_drop_seen *)b)->at;
    return x < y ? 1 : x > y ? -1 : 0;
}

#define SRV_CONSOLE_DROPS_MAX 256
#define SRV_CONSOLE_DROPS_SHOW 50

/* The reason file of a refused drop, first line(s), at most 400 bytes. */
static void srv_drop_reason(const char *dir, const char *name, char *out, size_t n)
{
    char path[CFG_PATH_MAX + 300];
    snprintf(path, sizeof path, "%s/.rejected/%s/REASON", dir, name);
    out[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return;
    ssize_t k = read(fd, out, n - 1);
    close(fd);
    out[k > 0 ? k : 0] = '\0';
}

static void srv_release_drops(struct srv_text *t, const char *drop_dir)
{
    char path[CFG_PATH_MAX + 16], reason[401];
    struct srv_drop_seen *d = calloc(SRV_CONSOLE_DROPS_MAX, sizeof *d);
    size_t n = 0;
    snprintf(path, sizeof path, "%s/.rejected", drop_dir);
    DIR *dir = drop_dir[0] && d ? opendir(path) : NULL;
    for (struct dirent *e; dir && (e = readdir(dir)) && n < SRV_CONSOLE_DROPS_MAX;) {
        struct stat st;
        if (e->d_name[0] == '.' || fstatat(dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        ota_strlcpy(d[n].name, e->d_name, sizeof d[n].name);
        d[n++].at = (int64_t)st.st_mtim.tv_sec;
    }
    if (dir)
        closedir(dir);
    qsort(d, n, sizeof *d, srv_drop_cmp);
    srv_text_add(t, ",\"refused_drops\":[");
    for (size_t i = 0; i < n && i < SRV_CONSOLE_DROPS_SHOW; i++) {
        srv_drop_reason(drop_dir, d[i].name, reason, sizeof reason);
        srv_text_add(t, "%s{", i ? "," : "");
        srv_json_kv(t, 1, "name", d[i].name);
        srv_json_kv(t, 0, "reason", reason);
        srv_text_add(t, ",\"time\":%lld}", (long long)d[i].at);
    }
    srv_text_add(t, "],\"refused_drops_total\":%zu", n);
    free(d);
}

static void srv_hnd_releases(void *ctx, const struct srv_http_req *q,
                             struct srv_http_reply *r)
{
    struct srv_metrics *m = ctx;
    const struct srv_console_project *pj = NULL;
    struct srv_console_snap *p = srv_console_for(m->console, q, r, &pj);
    struct srv_text t = {NULL, 0, 0, 0};
    if (!p)
        return;
    srv_text_add(&t, "{");
    srv_json_kv(&t, 1, "project", pj->name);
    srv_text_add(&t, ",\"packages\":[");
    /* the project's packages, and the rejected ones (no project known) */
    for (size_t i = 0, k = 0; i < p->npkg; i++)
        if (!p->pkg[i].ok || !strcmp(p->pkg[i].h.project, pj->name))
            srv_release_pkg(&t, &p->pkg[i], k++ == 0);
    srv_text_add(&t, "]");
    srv_release_drops(&t, p->drop_dir);
    srv_text_add(&t, "}\n");
    srv_json_reply(r, &t, 200);
    free(p);
}

static void srv_rollout_json(struct srv_text *t, const char *key, int has, uint32_t bp,
                             int paused)
{
    char pct[SRV_ROLLOUT_PCT_MAX];
    srv_rollout_percent(has ? bp : SRV_ROLLOUT_NONE, pct);
    srv_text_add(t, ",\"%s\":{\"percent\":\"%s\",\"paused\":%s}", key, pct,
                 paused ? "true" : "false");
}

static void srv_hnd_rollout_get(void *ctx, const struct srv_http_req *q,
                                struct srv_http_reply *r)
{
    struct srv_metrics *m = ctx;
    const struct srv_console_project *pj = NULL;
    struct srv_console_snap *p = srv_console_for(m->console, q, r, &pj);
    struct srv_text t = {NULL, 0, 0, 0};
    struct srv_rollout_state file;
    char msg[OTA_MSG_LEN];
    if (!p)
        return;
    srv_text_add(&t, "{");
    srv_json_kv(&t, 1, "project", pj->name);
    srv_text_add(&t, ",\"projects\":[");
    for (size_t i = 0; i < p->nprojects; i++) {
        srv_text_add(&t, "%s", i ? "," : "");
        srv_json_str(&t, p->projects[i].name);
    }
    srv_text_add(&t, "]");
    srv_rollout_json(&t, "in_force", pj->has_rollout, pj->rollout_bp, pj->paused);
    srv_json_kv(&t, 0, "rollout_file", pj->rollout_file);
    enum ota_err e = pj->rollout_file[0] ? srv_rollout_load(pj->rollout_file, &file, msg)
                                        : OTA_E_NOTFOUND;
    if (e == OTA_OK)
        srv_rollout_json(&t, "file", file.bp <= SRV_ROLLOUT_ALL, file.bp, file.paused);
    else
        srv_json_kv(&t, 0, "file_error", e == OTA_E_NOTFOUND ? "" : msg);
    srv_text_add(&t, ",\"allowlist\":{\"set\":%s,\"count\":%zu",
                 pj->has_allowlist ? "true" : "false", pj->allowlist_n);
    srv_json_kv(&t, 0, "path", pj->allowlist);
    srv_text_add(&t, "},\"writes\":%s", q->token ? "true" : "false");
    srv_json_kv(&t, 0, "token", q->token ? q->token : "");
    srv_text_add(&t, "}\n");
    srv_json_reply(r, &t, 200);
    free(p);
}

/* The allowlist file as a sorted fleet (rollout ignored). */
static enum ota_err srv_console_allowlist(const char *path, struct srv_fleet *f, char *msg)
{
    if (!path[0])
        return ota_fail(msg, OTA_E_STATE, "no [fleet] allowlist is configured");
    return srv_fleet_init(f, path, SRV_ROLLOUT_NONE, msg);
}

static void srv_hnd_allowlist_get(void *ctx, const struct srv_http_req *q,
                                  struct srv_http_reply *r)
{
    struct srv_metrics *m = ctx;
    const struct srv_console_project *pj = NULL;
    struct srv_console_snap *p = srv_console_for(m->console, q, r, &pj);
    struct srv_fleet f;
    struct srv_text t = {NULL, 0, 0, 0};
    char msg[OTA_MSG_LEN];
    if (!p)
        return;
    enum ota_err e = srv_console_allowlist(pj->allowlist, &f, msg);
    if (e != OTA_OK) {
        srv_json_error(r, e == OTA_E_STATE ? 409 : 500, "%s", msg);
        free(p);
        return;
    }
    srv_text_add(&t, "{");
    srv_json_kv(&t, 1, "project", pj->name);
    srv_json_kv(&t, 0, "path", pj->allowlist);
    srv_text_add(&t, ",\"count\":%zu,\"imeis\":[", f.n);
    for (size_t i = 0; i < f.n && i < SRV_CONSOLE_ALLOWLIST_SHOW; i++)
        srv_text_add(&t, "%s\"%s\"", i ? "," : "", f.imeis[i]);
    srv_text_add(&t, "],\"truncated\":%s}\n", f.n > SRV_CONSOLE_ALLOWLIST_SHOW ? "true" : "false");
    srv_json_reply(r, &t, 200);
    srv_fleet_free(&f);
    free(p);
}

struct srv_last_report {
    const char *imei;
    char line[CACHE_REPORT_LINE_MAX];
    int found;
};

static void srv_last_report_line(void *ctx, const char *line)
{
    struct srv_last_report *l = ctx;
    char imei[CFG_IMEI_MAX + 1];
    if (cache_report_json_string(line, "imei", imei, sizeof imei) == 0 &&
        strcmp(imei, l->imei) == 0) {
        ota_strlcpy(l->line, line, sizeof l->line);
        l->found = 1;
    }
}

static void srv_device_report(struct srv_text *t, const char *report_log, const char *imei)
{
    static const char *const keys[] = {"time", "from_core", "to_core", "from_script",
                                       "to_script", "reason"};
    struct srv_last_report *l = calloc(1, sizeof *l);
    uint64_t scanned;
    int cut;
    double result;
    char v[CACHE_REPORT_REASON_MAX];
    if (l) {
        l->imei = imei;
        srv_console_tail(report_log, SRV_CONSOLE_REPORT_SCAN, srv_last_report_line, l, &scanned,
                         &cut);
    }
    if (!l || !l->found) {
        srv_text_add(t, ",\"last_report\":null");
        free(l);
        return;
    }
    srv_text_add(t, ",\"last_report\":{");
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (cache_report_json_string(l->line, keys[i], v, sizeof v) != 0)
            v[0] = '\0';
        srv_json_kv(t, i == 0, keys[i], v);
    }
    if (cache_report_json_number(l->line, "result", &result) == 0)
        srv_text_add(t, ",\"result\":%ld", (long)result);
    srv_text_add(t, "}");
    free(l);
}

static void srv_device_check(struct srv_text *t, struct srv_console *c, const char *imei)
{
    struct srv_console_seen e;
    pthread_mutex_lock(&c->seen_lock);
    e = c->seen[srv_console_slot(imei)];
    pthread_mutex_unlock(&c->seen_lock);
    if (strcmp(e.imei, imei) != 0) {
        srv_text_add(t, ",\"last_check\":null");
        return;
    }
    char at[32], cs[VER_CORE_STR_MAX], ss[VER_SCRIPT_STR_MAX];
    const struct srv_status_info *i = srv_status_info((enum srv_status)e.status);
    srv_iso_time(e.at, at);
    ver_core_format(&e.core, cs);
    ver_script_format(&e.script, ss);
    srv_text_add(t, ",\"last_check\":{");
    srv_json_kv(t, 1, "time", at);
    srv_json_kv(t, 0, "core", cs);
    srv_json_kv(t, 0, "script", ss);
    srv_json_kv(t, 0, "answer", i->name);
    srv_text_add(t, ",\"code\":\"%u.%02u\",\"platform_code\":%d}", i->coap / 100, i->coap % 100,
                 i->platform);
}

static void srv_hnd_device(void *ctx, const struct srv_http_req *q, struct srv_http_reply *r)
{
    struct srv_metrics *m = ctx;
    const char *imei = srv_http_req_arg(q, "imei");
    char msg[OTA_MSG_LEN], why[160];
    struct srv_fleet f;
    if (!imei || strlen(imei) >= CFG_IMEI_MAX || cfg_check_imei(imei, msg) != OTA_OK) {
        srv_json_error(r, 400, "imei: expected ?imei= and 15 digits");
        return;
    }
    const struct srv_console_project *pj = NULL;
    struct srv_console_snap *p = srv_console_for(m->console, q, r, &pj);
    if (!p)
        return;
    enum ota_err e = pj->has_allowlist ? srv_console_allowlist(pj->allowlist, &f, msg)
                                      : srv_fleet_init(&f, NULL, SRV_ROLLOUT_NONE, msg);
    if (e != OTA_OK) {
        srv_json_error(r, 500, "%s", msg);
        free(p);
        return;
    }
    f.has_rollout = pj->has_rollout;
    f.rollout_bp = pj->rollout_bp;
    enum srv_fleet_verdict v = srv_fleet_explain(&f, imei, why, sizeof why);
    uint32_t bucket = srv_fleet_bucket(imei);
    int listed = v != SRV_FLEET_NOT_ALLOWED && f.has_allowlist;
    struct srv_text t = {NULL, 0, 0, 0};
    srv_text_add(&t, "{");
    srv_json_kv(&t, 1, "imei", imei);
    srv_json_kv(&t, 0, "project", pj->name);
    srv_text_add(&t, ",\"bucket\":%u,\"bucket_percent\":\"%u.%02u\"", bucket, bucket / 100,
                 bucket % 100);
    srv_text_add(&t, ",\"allowlist\":{\"set\":%s,\"listed\":%s}", f.has_allowlist ? "true"
                 : "false", listed ? "true" : "false");
    srv_rollout_json(&t, "rollout", pj->has_rollout, pj->rollout_bp, pj->paused);
    srv_json_kv(&t, 0, "verdict", v == SRV_FLEET_ALLOWED ? (pj->paused ? "paused" : "offered")
                                  : v == SRV_FLEET_NOT_YET ? "not yet" : "not allowed");
    srv_json_kv(&t, 0, "why", why);
    srv_device_check(&t, m->console, imei);
    srv_device_report(&t, p->report_log, imei);
    srv_text_add(&t, "}\n");
    srv_json_reply(r, &t, 200);
    srv_fleet_free(&f);
    free(p);
}

/* Rates over at least a second between two samples, kept for every caller. */
static void srv_live_rates(struct srv_console *c, const struct srv_metrics_snap *h)
{
    uint64_t busy = h->st.by_status[SRV_ST_UNAVAILABLE];
    if (c->live_ms && h->published_ms > c->live_ms &&
        h->published_ms - c->live_ms < 1000)
        return;
    if (c->live_ms && h->published_ms > c->live_ms) {
        double dt = (double)(h->published_ms - c->live_ms) / 1000.0;
        c->live_blocks_s = (double)(h->st.blocks - c->live_blocks) / dt;
        c->live_busy_s = (double)(busy - c->live_busy) / dt;
    }
    c->live_ms = h->published_ms;
    c->live_blocks = h->st.blocks;
    c->live_busy = busy;
}

static void srv_hnd_live(void *ctx, struct srv_http_reply *r)
{
    struct srv_metrics *m = ctx;
    struct srv_metrics_snap h;
    struct srv_text t = {NULL, 0, 0, 0};
    srv_metrics_head(m, &h);
    if (h.seq == 0) {
        srv_json_error(r, 503, "starting");
        return;
    }
    pthread_mutex_lock(&m->console->write_lock);
    srv_live_rates(m->console, &h);
    double bs = m->console->live_blocks_s, us = m->console->live_busy_s;
    pthread_mutex_unlock(&m->console->write_lock);
    const uint64_t *by = h.st.by_status;
    srv_text_add(&t, "{\"transfers_running\":%llu,\"transfer_slots\":%llu,\"sources\":%llu,"
                 "\"block_answers\":%llu,\"block_answers_per_s\":%.1f,\"busy_answers\":%llu,"
                 "\"busy_answers_per_s\":%.1f,\"held_back\":%llu,\"not_allowed\":%llu,"
                 "\"too_many\":%llu,\"transfers_started\":%llu,\"transfers_completed\":%llu,"
                 "\"reports_success\":%llu,\"reports_failure\":%llu,\"packages\":%llu,"
                 "\"uptime_s\":%llu}\n",
                 (unsigned long long)h.transfers, (unsigned long long)h.slots,
                 (unsigned long long)h.sources, (unsigned long long)h.st.blocks, bs,
                 (unsigned long long)by[SRV_ST_UNAVAILABLE], us,
                 (unsigned long long)by[SRV_ST_HELD_BACK], (unsigned long long)by[SRV_ST_REFUSED],
                 (unsigned long long)by[SRV_ST_TOO_MANY],
                 (unsigned long long)h.st.transfers_started,
                 (unsigned long long)h.st.transfers_completed,
                 (unsigned long long)h.st.reports_success, (unsigned long long)h.st.reports_failure,
                 (unsigned long long)h.packages,
                 (unsigned long long)((srv_now_ms() - m->start_ms) / 1000u));
    srv_json_reply(r, &t, 200);
}

struct srv_audit_tail {
    struct srv_text *t;
    size_t n;
};

static void srv_audit_line(void *ctx, const char *line)
{
    struct srv_audit_tail *a = ctx;
    char copy[CACHE_REPORT_LINE_MAX];
    ota_strlcpy(copy, line, sizeof copy);
    copy[strcspn(copy, "\n")] = '\0';
    srv_text_add(a->t, "%s", a->n++ ? "," : "");
    srv_json_str(a->t, copy);
}

static void srv_hnd_audit(void *ctx, struct srv_http_reply *r)
{
    struct srv_metrics *m = ctx;
    struct srv_console_snap *p = srv_console_copy(m->console, r);
    struct srv_text t = {NULL, 0, 0, 0};
    uint64_t scanned;
    int cut;
    if (!p)
        return;
    struct srv_audit_tail a = {&t, 0};
    srv_text_add(&t, "{");
    srv_json_kv(&t, 1, "audit_log", p->audit_log);
    srv_text_add(&t, ",\"lines\":[");
    srv_console_tail(p->audit_log, 16384, srv_audit_line, &a, &scanned, &cut);
    srv_text_add(&t, "]}\n");
    srv_json_reply(r, &t, 200);
    free(p);
}

/* ---- 5. writes and the audit log ------------------------------------------ */

/* Open the audit log for one append (before the change, so a change is
 * never made that cannot be audited); -1 and msg if it cannot be. With
 * no audit_log configured, 0 and *fd = -1. */
static int srv_audit_open(const char *path, int *fd, char *msg)
{
    *fd = -1;
    if (!path[0])
        return 0;
    *fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (*fd < 0) {
        ota_fail(msg, OTA_E_IO, "audit log %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* {"time":...,"token":...,"action":...,<what>} as one write, fsynced. */
static void srv_audit_write(int fd, const char *token, const char *action, const char *what)
{
    struct srv_text t = {NULL, 0, 0, 0};
    char at[32];
    srv_iso_time((int64_t)time(NULL), at);
    srv_text_add(&t, "{");
    srv_json_kv(&t, 1, "time", at);
    srv_json_kv(&t, 0, "token", token);
    srv_json_kv(&t, 0, "action", action);
    srv_text_add(&t, ",%s}\n", what);
    log_msg(LOG_L_INFO, "console: %s by token %s: %s", action, token, what);
    if (fd >= 0 && !t.oom && t.p) {
        ssize_t k = write(fd, t.p, t.len);
        if (k < 0 || (size_t)k != t.len || fsync(fd) != 0)
            log_msg(LOG_L_ERROR, "console: audit log write failed: %s", strerror(errno));
    }
    free(t.p);
    if (fd >= 0)
        close(fd);
}

/* The rollout request: {"percent": 0..100 | null | "none", "paused": bool}. */
static int srv_rollout_request(const struct srv_jbody *j, struct srv_rollout_state *s,
                               char *why, size_t n)
{
    int seen = 0;
    for (int i = 0; i < j->n; i++) {
        const struct srv_jbody_field *f = &j->f[i];
        if (!strcmp(f->key, "percent")) {
            double bp = f->num * 100.0;
            if (f->type == SRV_JB_NULL ||
                (f->type == SRV_JB_STRING && f->len == 4 && !memcmp(j->buf + f->off, "none", 4)))
                s->bp = SRV_ROLLOUT_NONE;
            else if (f->type != SRV_JB_NUMBER || bp < 0 || bp > 10000 ||
                     bp - (double)(uint32_t)(bp + 0.5) > 1e-6 ||
                     (double)(uint32_t)(bp + 0.5) - bp > 1e-6)
                return snprintf(why, n, "percent: a number 0..100 with at most two decimals, "
                                "or null"), -1;
            else
                s->bp = (uint32_t)(bp + 0.5);
        } else if (!strcmp(f->key, "paused")) {
            if (f->type != SRV_JB_TRUE && f->type != SRV_JB_FALSE)
                return snprintf(why, n, "paused: true or false"), -1;
            s->paused = f->type == SRV_JB_TRUE;
        } else {
            return snprintf(why, n, "unknown key '%s' (percent, paused)", f->key), -1;
        }
        seen++;
    }
    return seen ? 0 : (snprintf(why, n, "nothing to change: give percent and/or paused"), -1);
}

static void srv_rollout_text(const struct srv_rollout_state *s, char *out, size_t n)
{
    char pct[SRV_ROLLOUT_PCT_MAX];
    srv_rollout_percent(s->bp, pct);
    snprintf(out, n, "{\"percent\":\"%s\",\"paused\":%s}", pct, s->paused ? "true" : "false");
}

static void srv_hnd_rollout_set(void *ctx, const struct srv_http_req *q,
                                struct srv_http_reply *r)
{
    struct srv_metrics *m = ctx;
    struct srv_jbody j;
    char msg[OTA_MSG_LEN], before[64], after[64], what[200];
    int fd;
    if (srv_jbody_parse(q->body, q->body_len, &j, msg) != OTA_OK)
        return srv_json_error(r, 400, "%s", msg);
    const struct srv_console_project *pj = NULL;
    struct srv_console_snap *p = srv_console_for(m->console, q, r, &pj);
    if (!p)
        return;
    struct srv_rollout_state old = {pj->has_rollout ? pj->rollout_bp : SRV_ROLLOUT_NONE,
                                    pj->paused};
    pthread_mutex_lock(&m->console->write_lock);
    if (pj->rollout_file[0] && srv_rollout_load(pj->rollout_file, &old, msg) != OTA_OK)
        old = (struct srv_rollout_state){pj->has_rollout ? pj->rollout_bp : SRV_ROLLOUT_NONE,
                                         pj->paused}; /* missing or hand-broken: in force */
    struct srv_rollout_state s = old;
    if (!pj->rollout_file[0])
        srv_json_error(r, 409, "no [fleet] rollout_file is configured");
    else if (srv_rollout_request(&j, &s, msg, sizeof msg) != 0)
        srv_json_error(r, 400, "%s", msg);
    else if (srv_audit_open(p->audit_log, &fd, msg) != 0)
        srv_json_error(r, 500, "%s; nothing changed", msg);
    else if (srv_rollout_save(pj->rollout_file, &s, msg) != OTA_OK)
        srv_json_error(r, 500, "%s", msg), close(fd);
    else {
        struct srv_text t = {NULL, 0, 0, 0};
        srv_rollout_text(&old, before, sizeof before);
        srv_rollout_text(&s, after, sizeof after);
        snprintf(what, sizeof what, "\"project\":\"%s\",\"before\":%s,\"after\":%s",
                 pj->name, before, after);
        srv_audit_write(fd, q->token, "rollout", what);
        srv_text_add(&t, "{\"ok\":true,%s,\"applies_within_s\":1}\n", what);
        srv_json_reply(r, &t, 200);
    }
    pthread_mutex_unlock(&m->console->write_lock);
    free(p);
}

static int srv_imei_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

typedef char srv_imei_t[CFG_IMEI_MAX];

/* The IMEIs of an array field appended to (*list, *n); -1 and why for a
 * bad one. */
static int srv_allow_items(const struct srv_jbody *j, const struct srv_jbody_field *f,
                           srv_imei_t **list, size_t *n, char *why, size_t wn)
{
    const char *s;
    size_t len, pos = 0;
    if (f->type != SRV_JB_ARRAY)
        return snprintf(why, wn, "%s: an array of IMEIs", f->key), -1;
    srv_imei_t *more = realloc(*list, (*n + f->nitems + 1) * sizeof **list);
    if (!more)
        return snprintf(why, wn, "out of memory"), -1;
    *list = more;
    while (srv_jbody_item(j, f, &pos, &s, &len)) {
        char imei[CFG_IMEI_MAX] = "";
        if (len < sizeof imei)
            memcpy(imei, s, len);
        if (len >= sizeof imei || cfg_check_imei(imei, NULL) != OTA_OK)
            return snprintf(why, wn, "%s: '%.*s' is not a 15-digit IMEI", f->key,
                            (int)(len > 20 ? 20 : len), s), -1;
        memcpy((*list)[(*n)++], imei, sizeof imei);
    }
    return 0;
}

/* Sort and drop duplicates. */
static size_t srv_imeis_unique(srv_imei_t *l, size_t n)
{
    size_t k = 0;
    if (n)
        qsort(l, n, sizeof *l, srv_imei_cmp);
    for (size_t i = 0; i < n; i++)
        if (k == 0 || strcmp(l[k - 1], l[i]) != 0)
            memmove(l[k++], l[i], sizeof *l);
    return k;
}

struct srv_allow_edit {
    srv_imei_t *add, *del;
    size_t nadd, ndel;
    int replace;
};

static int srv_allow_request(const struct srv_jbody *j, struct srv_allow_edit *ed, char *why,
                             size_t n)
{
    for (int i = 0; i < j->n; i++) {
        const struct srv_jbody_field *f = &j->f[i];
        int add = !strcmp(f->key, "add") || !strcmp(f->key, "replace");
        if (!add && strcmp(f->key, "remove") != 0)
            return snprintf(why, n, "unknown key '%s' (add, remove, replace)", f->key), -1;
        ed->replace |= !strcmp(f->key, "replace");
        if (add ? srv_allow_items(j, f, &ed->add, &ed->nadd, why, n)
                : srv_allow_items(j, f, &ed->del, &ed->ndel, why, n))
            return -1;
    }
    if (ed->replace && j->n != 1)
        return snprintf(why, n, "replace goes alone (no add or remove with it)"), -1;
    if (j->n == 0)
        return snprintf(why, n, "nothing to change: give add, remove or replace"), -1;
    ed->nadd = srv_imeis_unique(ed->add, ed->nadd);
    ed->ndel = srv_imeis_unique(ed->del, ed->ndel);
    return 0;
}

/* new = (replace ? add : old + add) - del, sorted, unique. */
static srv_imei_t *srv_allow_apply(const struct srv_fleet *old, const struct srv_allow_edit *ed,
                                   size_t *n)
{
    size_t base = ed->replace ? 0 : old->n, k = 0;
    srv_imei_t *l = malloc((base + ed->nadd + 1) * sizeof *l);
    if (!l)
        return NULL;
    if (base)
        memcpy(l, old->imeis, base * sizeof *l);
    if (ed->nadd)
        memcpy(l + base, ed->add, ed->nadd * sizeof *l);
    size_t all = srv_imeis_unique(l, base + ed->nadd);
    for (size_t i = 0; i < all; i++)
        if (!ed->ndel || !bsearch(l[i], ed->del, ed->ndel, sizeof *ed->del, srv_imei_cmp))
            memmove(l[k++], l[i], sizeof *l);
    *n = k;
    return l;
}

/* Entries of a (sorted) not in b (sorted). */
static size_t srv_imeis_minus(const srv_imei_t *a, size_t na, const srv_imei_t *b, size_t nb)
{
    size_t k = 0;
    for (size_t i = 0; i < na; i++)
        k += !nb || !bsearch(a[i], b, nb, sizeof *b, srv_imei_cmp);
    return k;
}

static enum ota_err srv_allow_save(const char *path, const srv_imei_t *l, size_t n,
                                   const char *token, char *msg)
{
    struct srv_text t = {NULL, 0, 0, 0};
    srv_text_add(&t, "# IMEIs allowed to update ([fleet] allowlist), one per line.\n"
                     "# Written by the ota-server console (last change by token %s).\n", token);
    for (size_t i = 0; i < n; i++)
        srv_text_add(&t, "%s\n", l[i]);
    if (t.oom || !t.p) {
        free(t.p);
        return ota_fail(msg, OTA_E_NOMEM, "allowlist: out of memory");
    }
    enum ota_err e = io_file_write_all(path, t.p, t.len, 0644, msg);
    free(t.p);
    return e;
}

static void srv_allow_commit(struct srv_http_reply *r, const struct srv_console_snap *p,
                             const struct srv_console_project *pj,
                             const struct srv_allow_edit *ed, const char *token)
{
    struct srv_fleet old;
    char msg[OTA_MSG_LEN], what[160];
    size_t n = 0;
    int fd;
    enum ota_err e = srv_console_allowlist(pj->allowlist, &old, msg);
    if (e == OTA_E_STATE)
        return srv_json_error(r, 409, "%s", msg);
    if (e != OTA_OK && !ed->replace)
        return srv_json_error(r, 409, "the allowlist file does not load (%s): fix it or "
                              "send replace", msg);
    if (e != OTA_OK)
        memset(&old, 0, sizeof old);
    srv_imei_t *l = srv_allow_apply(&old, ed, &n);
    if (!l)
        srv_json_error(r, 500, "out of memory");
    else if (srv_audit_open(p->audit_log, &fd, msg) != 0)
        srv_json_error(r, 500, "%s; nothing changed", msg);
    else if (srv_allow_save(pj->allowlist, l, n, token, msg) != OTA_OK)
        srv_json_error(r, 500, "%s", msg), close(fd);
    else {
        struct srv_text t = {NULL, 0, 0, 0};
        snprintf(what, sizeof what, "\"project\":\"%s\",\"added\":%zu,\"removed\":%zu,"
                 "\"count\":%zu", pj->name, srv_imeis_minus(l, n, (const srv_imei_t *)old.imeis, old.n),
                 srv_imeis_minus((const srv_imei_t *)old.imeis, old.n, l, n), n);
        srv_audit_write(fd, token, ed->replace ? "allowlist replace" : "allowlist edit", what);
        srv_text_add(&t, "{\"ok\":true,%s,\"applies_within_s\":1}\n", what);
        srv_json_reply(r, &t, 200);
    }
    free(l);
    srv_fleet_free(&old);
}

static void srv_hnd_allowlist_set(void *ctx, const struct srv_http_req *q,
                                  struct srv_http_reply *r)
{
    struct srv_metrics *m = ctx;
    struct srv_jbody j;
    struct srv_allow_edit ed;
    char msg[OTA_MSG_LEN];
    memset(&ed, 0, sizeof ed);
    if (srv_jbody_parse(q->body, q->body_len, &j, msg) != OTA_OK)
        srv_json_error(r, 400, "%s", msg);
    else if (srv_allow_request(&j, &ed, msg, sizeof msg) != 0)
        srv_json_error(r, 400, "%s", msg);
    else {
        const struct srv_console_project *pj = NULL;
        struct srv_console_snap *p = srv_console_for(m->console, q, r, &pj);
        if (p) {
            pthread_mutex_lock(&m->console->write_lock);
            srv_allow_commit(r, p, pj, &ed, q->token);
            pthread_mutex_unlock(&m->console->write_lock);
        }
        free(p);
    }
    free(ed.add);
    free(ed.del);
}

/* Public: does the page need a token, and is the one sent good? (Lets
 * the page ask for a token without provoking a 401.) */
static void srv_hnd_hello(void *ctx, const struct srv_http_req *q, struct srv_http_reply *r)
{
    struct srv_text t = {NULL, 0, 0, 0};
    srv_text_add(&t, "{\"token_required\":%s,\"token_ok\":%s}\n",
                 q->tokens_set ? "true" : "false", q->token ? "true" : "false");
    srv_json_reply(r, &t, 200);
}

/* ---- 6. routes ------------------------------------------------------------- */

const struct srv_http_route srv_console_routes[] = {
    {"/", srv_hnd_page, NULL, SRV_HTTP_PUBLIC},
    {"/console.js", srv_hnd_script, NULL, SRV_HTTP_PUBLIC},
    {"/console.css", srv_hnd_style, NULL, SRV_HTTP_PUBLIC},
    {"/favicon.svg", srv_hnd_icon, NULL, SRV_HTTP_PUBLIC},
    {"/favicon.ico", srv_hnd_icon, NULL, SRV_HTTP_PUBLIC},
    {"/js/chart.min.js", srv_hnd_chartjs, NULL, SRV_HTTP_PUBLIC},
    {"/api/hello", NULL, srv_hnd_hello, SRV_HTTP_PUBLIC},
    {"/api/fleet", NULL, srv_hnd_fleet, 0},
    {"/api/releases", NULL, srv_hnd_releases, 0},
    {"/api/rollout", NULL, srv_hnd_rollout_get, 0},
    {"/api/rollout", NULL, srv_hnd_rollout_set, SRV_HTTP_POST},
    {"/api/allowlist", NULL, srv_hnd_allowlist_get, 0},
    {"/api/allowlist", NULL, srv_hnd_allowlist_set, SRV_HTTP_POST},
    {"/api/device", NULL, srv_hnd_device, 0},
    {"/api/live", srv_hnd_live, NULL, 0},
    {"/api/audit", srv_hnd_audit, NULL, 0},
};
const size_t srv_console_nroutes = sizeof srv_console_routes / sizeof srv_console_routes[0];
