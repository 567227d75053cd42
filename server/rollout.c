/* rollout.c - the rollout state file (see rollout.h).
 */
#include "rollout.h"

#include "io.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* One "key = value" line, trimmed; 1 if it was one, 0 if blank/comment,
 * -1 if malformed. */
static int srv_rollout_line(const char *p, size_t n, char *key, size_t kn, char *val,
                            size_t vn)
{
    while (n && (p[n - 1] == '\r' || p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    while (n && (*p == ' ' || *p == '\t'))
        p++, n--;
    if (n == 0 || *p == '#')
        return 0;
    const char *eq = memchr(p, '=', n);
    if (!eq)
        return -1;
    size_t k = (size_t)(eq - p), v0 = k + 1;
    while (k && (p[k - 1] == ' ' || p[k - 1] == '\t'))
        k--;
    while (v0 < n && (p[v0] == ' ' || p[v0] == '\t'))
        v0++;
    if (k == 0 || k >= kn || n - v0 >= vn)
        return -1;
    memcpy(key, p, k);
    key[k] = '\0';
    memcpy(val, p + v0, n - v0);
    val[n - v0] = '\0';
    return 1;
}

static int srv_rollout_value(const char *key, const char *val, struct srv_rollout_state *s)
{
    if (!strcmp(key, "percent")) {
        if (!strcmp(val, "none")) {
            s->bp = SRV_ROLLOUT_NONE;
            return 0;
        }
        return cfg_percent_bp(val, &s->bp);
    }
    if (!strcmp(key, "paused")) {
        s->paused = !strcmp(val, "yes") ? 1 : !strcmp(val, "no") ? 0 : -1;
        return s->paused < 0 ? -1 : 0;
    }
    return -1;
}

enum ota_err srv_rollout_parse(const char *buf, size_t len, const char *name,
                               struct srv_rollout_state *out, char *msg)
{
    char key[16], val[32];
    int seen_percent = 0, seen_paused = 0, line = 0;
    size_t pos = 0;
    out->bp = SRV_ROLLOUT_NONE;
    out->paused = 0;
    if (memchr(buf, '\0', len))
        return ota_fail(msg, OTA_E_INVAL, "%s: NUL byte", name);
    while (pos < len) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (buf + pos)) : len - pos;
        line++;
        int k = srv_rollout_line(buf + pos, n, key, sizeof key, val, sizeof val);
        pos += n + 1;
        if (k == 0)
            continue;
        int *seen = k > 0 && !strcmp(key, "percent") ? &seen_percent
                    : k > 0 && !strcmp(key, "paused") ? &seen_paused
                                                       : NULL;
        if (!seen || *seen || srv_rollout_value(key, val, out) != 0)
            return ota_fail(msg, OTA_E_INVAL, "%s:%d: %s", name, line,
                            !seen ? "expected 'percent = 0..100|none' or 'paused = yes|no'"
                            : *seen ? "key given twice" : "bad value");
        *seen = 1;
    }
    if (!seen_percent)
        return ota_fail(msg, OTA_E_INVAL, "%s: no 'percent =' line", name);
    return OTA_OK;
}

size_t srv_rollout_format(const struct srv_rollout_state *s, char *out, size_t n)
{
    char pct[16];
    if (s->bp > SRV_ROLLOUT_ALL)
        snprintf(pct, sizeof pct, "none");
    else
        snprintf(pct, sizeof pct, "%u.%02u", s->bp / 100, s->bp % 100);
    int k = snprintf(out, n, "# ota rollout v1 (written by the ota-server console)\n"
                             "percent = %s\npaused = %s\n", pct, s->paused ? "yes" : "no");
    return k < 0 || (size_t)k >= n ? 0 : (size_t)k;
}

enum ota_err srv_rollout_load(const char *path, struct srv_rollout_state *out, char *msg)
{
    uint8_t *buf;
    size_t len;
    enum ota_err e = io_file_read_all(path, SRV_ROLLOUT_FILE_MAX, &buf, &len, msg);
    if (e != OTA_OK)
        return e;
    e = srv_rollout_parse((const char *)buf, len, path, out, msg);
    free(buf);
    return e;
}

enum ota_err srv_rollout_save(const char *path, const struct srv_rollout_state *s, char *msg)
{
    char text[256];
    size_t n = srv_rollout_format(s, text, sizeof text);
    if (n == 0)
        return ota_fail(msg, OTA_E_LIMIT, "rollout: state does not format");
    return io_file_write_all(path, text, n, 0644, msg);
}

void srv_rollout_watch_init(struct srv_rollout_watch *w, const char *path, uint32_t base_bp)
{
    memset(w, 0, sizeof *w);
    ota_strlcpy(w->path, path ? path : "", sizeof w->path);
    w->base_bp = base_bp <= SRV_ROLLOUT_ALL ? base_bp : SRV_ROLLOUT_NONE;
}

static int srv_rollout_same(const struct srv_fleet_stamp *t, const struct stat *st)
{
    return st->st_ino == t->ino && (uint64_t)st->st_size == t->size &&
           st->st_mtim.tv_sec == t->mtime.tv_sec && st->st_mtim.tv_nsec == t->mtime.tv_nsec;
}

static void srv_rollout_stamp(struct srv_fleet_stamp *t, const struct stat *st)
{
    t->mtime = st->st_mtim;
    t->ino = st->st_ino;
    t->size = (uint64_t)st->st_size;
}

static void srv_rollout_apply(struct srv_fleet *f, const struct srv_rollout_state *s,
                              int *changed)
{
    int has = s->bp <= SRV_ROLLOUT_ALL;
    uint32_t bp = has ? s->bp : SRV_ROLLOUT_ALL;
    *changed = f->has_rollout != has || f->rollout_bp != bp || f->paused != s->paused;
    f->has_rollout = has;
    f->rollout_bp = bp;
    f->paused = s->paused;
}

enum ota_err srv_rollout_refresh(struct srv_rollout_watch *w, struct srv_fleet *f,
                                 int *changed, char *msg)
{
    struct stat st;
    struct srv_rollout_state s = {w->base_bp, 0};
    *changed = 0;
    if (!w->path[0])
        return OTA_OK;
    if (stat(w->path, &st) != 0) {
        if (errno != ENOENT)
            return OTA_OK; /* unreadable for now: keep what is in force */
        if (w->has_loaded)
            srv_rollout_apply(f, &s, changed); /* removed: back to ota.ini */
        w->has_loaded = 0;
        return OTA_OK;
    }
    if (w->has_loaded && srv_rollout_same(&w->loaded, &st))
        return OTA_OK;
    if (w->has_bad && srv_rollout_same(&w->bad, &st))
        return OTA_OK;
    enum ota_err e = srv_rollout_load(w->path, &s, msg);
    if (e != OTA_OK) {
        srv_rollout_stamp(&w->bad, &st);
        w->has_bad = 1;
        return e;
    }
    srv_rollout_stamp(&w->loaded, &st);
    w->has_loaded = 1;
    srv_rollout_apply(f, &s, changed);
    return OTA_OK;
}
