/* rollout.c - the rollout state file (see rollout.h).
 *
 * The file is read by kv_parse (inih, kv.h): "percent" required, "paused"
 * optional, each once, no sections; what the console writes
 * (srv_rollout_format) always parses back.
 */
#include "rollout.h"

#include "io.h"
#include "kv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const srv_rollout_keys[] = {"percent", "paused", NULL};

static enum ota_err srv_rollout_value(void *user, int key, const char *val, char *msg)
{
    struct srv_rollout_state *s = user;
    if (key == 0 && !strcmp(val, "none")) {
        s->bp = SRV_ROLLOUT_NONE;
        return OTA_OK;
    }
    if (key == 0)
        return cfg_percent_bp(val, &s->bp) == 0
                   ? OTA_OK : ota_fail(msg, OTA_E_INVAL, "expected 0..100 (2 decimals) or none");
    s->paused = !strcmp(val, "yes") ? 1 : !strcmp(val, "no") ? 0 : -1;
    return s->paused >= 0 ? OTA_OK : ota_fail(msg, OTA_E_INVAL, "expected yes or no");
}

enum ota_err srv_rollout_parse(const char *buf, size_t len, const char *name,
                               struct srv_rollout_state *out, char *msg)
{
    const struct kv_spec spec = {
        .name = name, .max = SRV_ROLLOUT_FILE_MAX, .keys = srv_rollout_keys, .required = 1,
        .syntax = "expected 'percent = 0..100|none' or 'paused = yes|no'"};
    out->bp = SRV_ROLLOUT_NONE;
    out->paused = 0;
    return kv_parse(buf, len, &spec, srv_rollout_value, out, msg);
}

void srv_rollout_percent(uint32_t bp, char out[SRV_ROLLOUT_PCT_MAX])
{
    if (bp > SRV_ROLLOUT_ALL)
        snprintf(out, SRV_ROLLOUT_PCT_MAX, "none");
    else
        snprintf(out, SRV_ROLLOUT_PCT_MAX, "%u.%02u", bp / 100, bp % 100);
}

size_t srv_rollout_format(const struct srv_rollout_state *s, char *out, size_t n)
{
    char pct[SRV_ROLLOUT_PCT_MAX];
    srv_rollout_percent(s->bp, pct);
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
    if (w->has_loaded && srv_fleet_stamp_same(&w->loaded, &st))
        return OTA_OK;
    if (w->has_bad && srv_fleet_stamp_same(&w->bad, &st))
        return OTA_OK;
    enum ota_err e = srv_rollout_load(w->path, &s, msg);
    if (e != OTA_OK) {
        srv_fleet_stamp_take(&w->bad, &st);
        w->has_bad = 1;
        return e;
    }
    srv_fleet_stamp_take(&w->loaded, &st);
    w->has_loaded = 1;
    srv_rollout_apply(f, &s, changed);
    return OTA_OK;
}
