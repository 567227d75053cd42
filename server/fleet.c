/* fleet.c - allowlist file and staged rollout (see fleet.h).
 *
 * The allowlist is parsed into a sorted array of fixed-size IMEI strings
 * and searched with bsearch: 16 bytes per device, O(log n) per request.
 */
#include "fleet.h"

#include "crypto.h"

#include <sodium.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int srv_fleet_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Parse the allowlist text into a sorted array. */
static enum ota_err srv_fleet_parse(const char *path, char *text, size_t len,
                                    char (**out)[CFG_IMEI_MAX], size_t *count, char *msg)
{
    size_t cap = 0, n = 0;
    char(*list)[CFG_IMEI_MAX] = NULL;
    int line = 0;
    for (char *p = text, *next; p < text + len; p = next) {
        next = memchr(p, '\n', (size_t)(text + len - p));
        next = next ? next + 1 : text + len;
        line++;
        size_t l = (size_t)(next - p);
        while (l > 0 && (p[l - 1] == '\n' || p[l - 1] == '\r' || p[l - 1] == ' ' ||
                         p[l - 1] == '\t'))
            l--;
        while (l > 0 && (*p == ' ' || *p == '\t'))
            p++, l--;
        if (l == 0 || *p == '#')
            continue;
        char imei[CFG_IMEI_MAX] = "";
        if (l < sizeof imei)
            memcpy(imei, p, l);
        if (l >= sizeof imei || cfg_check_imei(imei, NULL) != OTA_OK || n == SRV_ALLOWLIST_MAX) {
            free(list);
            return ota_fail(msg, n == SRV_ALLOWLIST_MAX ? OTA_E_LIMIT : OTA_E_INVAL,
                            "%s:%d: %s", path, line,
                            n == SRV_ALLOWLIST_MAX ? "too many IMEIs" : "not a 15-digit IMEI");
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 256;
            void *bigger = realloc(list, cap * sizeof *list);
            if (!bigger) {
                free(list);
                return ota_fail(msg, OTA_E_NOMEM, "%s: out of memory", path);
            }
            list = bigger;
        }
        memcpy(list[n++], imei, sizeof imei);
    }
    if (n)
        qsort(list, n, sizeof *list, srv_fleet_cmp);
    *out = list;
    *count = n;
    return OTA_OK;
}

static enum ota_err srv_fleet_load(struct srv_fleet *f, const struct stat *st, char *msg)
{
    uint8_t *text;
    size_t len, n = 0;
    char(*list)[CFG_IMEI_MAX] = NULL;
    enum ota_err e = io_file_read_all(f->path, (size_t)SRV_ALLOWLIST_MAX * 20, &text, &len, msg);
    if (e != OTA_OK)
        return e;
    e = srv_fleet_parse(f->path, (char *)text, len, &list, &n, msg);
    free(text);
    if (e != OTA_OK)
        return e;
    free(f->imeis);
    f->imeis = list;
    f->n = n;
    srv_fleet_stamp_take(&f->loaded, st);
    return OTA_OK;
}

enum ota_err srv_fleet_init(struct srv_fleet *f, const char *path, uint32_t rollout_bp,
                            char *msg)
{
    struct stat st;
    memset(f, 0, sizeof *f);
    f->has_rollout = rollout_bp <= SRV_ROLLOUT_ALL;
    f->rollout_bp = f->has_rollout ? rollout_bp : SRV_ROLLOUT_ALL;
    if (!path || !path[0])
        return OTA_OK;
    f->has_allowlist = 1;
    if (ota_strlcpy(f->path, path, sizeof f->path) != OTA_OK)
        return ota_fail(msg, OTA_E_LIMIT, "allowlist path too long");
    if (stat(path, &st) != 0)
        return ota_fail(msg, OTA_E_NOTFOUND, "%s: %s", path, strerror(errno));
    return srv_fleet_load(f, &st, msg);
}

void srv_fleet_free(struct srv_fleet *f)
{
    free(f->imeis);
    f->imeis = NULL;
    f->n = 0;
}

void srv_fleet_stamp_take(struct srv_fleet_stamp *t, const struct stat *st)
{
    t->mtime = st->st_mtim;
    t->ino = st->st_ino;
    t->size = (uint64_t)st->st_size;
}

int srv_fleet_stamp_same(const struct srv_fleet_stamp *t, const struct stat *st)
{
    return st->st_ino == t->ino && (uint64_t)st->st_size == t->size &&
           st->st_mtim.tv_sec == t->mtime.tv_sec && st->st_mtim.tv_nsec == t->mtime.tv_nsec;
}

enum ota_err srv_fleet_refresh(struct srv_fleet *f, int *reloaded, char *msg)
{
    struct stat st;
    *reloaded = 0;
    if (!f->has_allowlist)
        return OTA_OK;
    if (stat(f->path, &st) != 0) {
        if (f->missing_told) /* said once; said again when it is back and bad */
            return OTA_OK;
        f->missing_told = 1;
        return ota_fail(msg, OTA_E_NOTFOUND, "%s: %s (keeping %zu IMEIs)", f->path,
                        strerror(errno), f->n);
    }
    f->missing_told = 0;
    /* The loaded file, or a bad edit already reported: nothing new to say. */
    if (srv_fleet_stamp_same(&f->loaded, &st) ||
        (f->has_bad && srv_fleet_stamp_same(&f->bad, &st)))
        return OTA_OK;
    enum ota_err e = srv_fleet_load(f, &st, msg);
    f->has_bad = e != OTA_OK;
    if (e != OTA_OK)
        srv_fleet_stamp_take(&f->bad, &st);
    *reloaded = e == OTA_OK;
    return e;
}

uint32_t srv_fleet_bucket(const char *imei)
{
    uint8_t h[CRYPTO_HASH_LEN];
    crypto_sha256(imei, strlen(imei), h);
    uint32_t v = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
    return v % SRV_ROLLOUT_ALL;
}

/* The allowlist is a gate, the rollout stages the release within it:
 * both must let the device through (README, "Fleet control"). */
enum srv_fleet_verdict srv_fleet_explain(const struct srv_fleet *f, const char *imei,
                                         char *why, size_t n)
{
    uint32_t bucket = srv_fleet_bucket(imei);
    int listed = f->has_allowlist && f->n &&
                 bsearch(imei, f->imeis, f->n, sizeof *f->imeis, srv_fleet_cmp) != NULL;
    if (f->has_allowlist && !listed) {
        if (why)
            snprintf(why, n, "not in the allowlist (%zu IMEIs)", f->n);
        return SRV_FLEET_NOT_ALLOWED;
    }
    enum srv_fleet_verdict v = !f->has_rollout || bucket < f->rollout_bp ? SRV_FLEET_ALLOWED
                                                                         : SRV_FLEET_NOT_YET;
    if (!why)
        return v;
    char stage[80] = "no rollout set";
    if (f->has_rollout)
        snprintf(stage, sizeof stage, "%s the rollout (bucket %s %u = %u.%02u %%)",
                 v == SRV_FLEET_ALLOWED ? "inside" : "outside",
                 v == SRV_FLEET_ALLOWED ? "<" : ">=", (unsigned)f->rollout_bp,
                 (unsigned)(f->rollout_bp / 100), (unsigned)(f->rollout_bp % 100));
    snprintf(why, n, "%s%s", f->has_allowlist ? "in the allowlist, " : "", stage);
    return v;
}

enum srv_fleet_verdict srv_fleet_check(const struct srv_fleet *f, const char *imei)
{
    return srv_fleet_explain(f, imei, NULL, 0);
}

void srv_fleet_describe(const struct srv_fleet *f, char *out, size_t n)
{
    char allow[48] = "no allowlist";
    if (f->has_allowlist)
        snprintf(allow, sizeof allow, "allowlist %zu IMEIs", f->n);
    if (f->has_rollout)
        snprintf(out, n, "%s, rollout %u.%02u %%", allow, (unsigned)(f->rollout_bp / 100),
                 (unsigned)(f->rollout_bp % 100));
    else
        snprintf(out, n, "%s, no rollout", allow);
    if (f->paused)
        snprintf(out + strlen(out), n - strlen(out), ", paused");
}

enum ota_err srv_checks_init(struct srv_checks *c, unsigned interval_s, char *msg)
{
    c->interval_ms = (uint64_t)interval_s * 1000u;
    c->slots = NULL;
    randombytes_buf(c->seed, sizeof c->seed);
    if (!interval_s)
        return OTA_OK;
    c->slots = calloc(SRV_CHECK_SLOTS, sizeof *c->slots);
    if (!c->slots)
        return ota_fail(msg, OTA_E_NOMEM, "check_interval: cannot allocate %u slots",
                        SRV_CHECK_SLOTS);
    return OTA_OK;
}

void srv_checks_free(struct srv_checks *c)
{
    free(c->slots);
    c->slots = NULL;
}

static uint64_t srv_checks_hash(const struct srv_checks *c, const uint8_t *b, size_t n)
{
    uint64_t h;
    crypto_shorthash((unsigned char *)&h, b, n, c->seed);
    return h ? h : 1; /* 0 marks an empty slot */
}

/* The budget: "v" + IMEI when verified, else "u" + IMEI + the source
 * address (family and address bytes of the peer key, no port). */
static uint64_t srv_checks_owner(const struct srv_checks *c, const struct srv_check_req *r)
{
    uint8_t b[1 + CFG_IMEI_MAX + SRV_PEER_KEY_MAX];
    size_t n = strnlen(r->imei, CFG_IMEI_MAX - 1);
    b[0] = r->verified ? 'v' : 'u';
    memcpy(b + 1, r->imei, n);
    n++;
    if (!r->verified && r->peer && r->peer->len >= 3) {
        b[n++] = r->peer->b[0];
        memcpy(b + n, r->peer->b + 3, r->peer->len - 3u);
        n += r->peer->len - 3u;
    }
    return srv_checks_hash(c, b, n);
}

unsigned srv_checks_hit(struct srv_checks *c, const struct srv_check_req *r, uint64_t now_ms)
{
    if (!c->slots)
        return 0;
    uint64_t key = srv_checks_owner(c, r);
    uint64_t endpoint = r->peer ? srv_checks_hash(c, r->peer->b, r->peer->len) : 0;
    size_t at = (size_t)(key % SRV_CHECK_SLOTS);
    struct srv_check_slot *reuse = NULL, *oldest = NULL;
    for (unsigned i = 0; i < SRV_CHECK_PROBE; i++) {
        struct srv_check_slot *sl = &c->slots[(at + i) % SRV_CHECK_SLOTS];
        if (sl->key == key) {
            uint64_t since = now_ms - sl->last_ms;
            if (since >= c->interval_ms) {
                reuse = sl;
                break;
            }
            if (endpoint && !r->no_resends && sl->endpoint == endpoint &&
                sl->resends < SRV_CHECK_RESENDS) {
                sl->resends++; /* the same client asking again: not a new check */
                return 0;
            }
            return (unsigned)((c->interval_ms - since + 999) / 1000);
        }
        if (!reuse && (sl->key == 0 || now_ms - sl->last_ms >= c->interval_ms))
            reuse = sl;
        if (!oldest || sl->last_ms < oldest->last_ms)
            oldest = sl;
    }
    struct srv_check_slot *victim = reuse ? reuse : oldest;
    victim->key = key;
    victim->last_ms = now_ms;
    victim->endpoint = endpoint;
    victim->resends = 0;
    return 0;
}

void srv_checks_refund(struct srv_checks *c, const struct srv_check_req *r, uint64_t now_ms)
{
    if (!c->slots)
        return;
    uint64_t key = srv_checks_owner(c, r);
    size_t at = (size_t)(key % SRV_CHECK_SLOTS);
    for (unsigned i = 0; i < SRV_CHECK_PROBE; i++) {
        struct srv_check_slot *sl = &c->slots[(at + i) % SRV_CHECK_SLOTS];
        if (sl->key != key)
            continue;
        if (sl->resends > 0)
            sl->resends--; /* it was counted as a resend */
        else if (sl->last_ms == now_ms)
            sl->key = 0; /* it was recorded as a new check */
        return;
    }
}
