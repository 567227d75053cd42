/* census_table.c - the server's census table (census_table.h).
 *
 * Pairs live in one array of max entries; slots[] is a linear-probing
 * index into it. Removal (expiry before a save) compacts the array and
 * rebuilds the index: it runs at most once per save_interval, never on a
 * request.
 */
#include "census_table.h"

#include "log.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum ota_err srv_census_init(struct srv_census *c, size_t max_pairs, char *msg)
{
    memset(c, 0, sizeof *c);
    c->max = max_pairs;
    c->nslots = 16;
    while (c->nslots < 2 * max_pairs)
        c->nslots *= 2;
    c->pairs = calloc(max_pairs ? max_pairs : 1, sizeof *c->pairs);
    c->slots = calloc(c->nslots, sizeof *c->slots);
    if (!c->pairs || !c->slots) {
        srv_census_free(c);
        return ota_fail(msg, OTA_E_NOMEM, "census: cannot allocate %zu pairs", max_pairs);
    }
    randombytes_buf(c->seed, sizeof c->seed);
    return OTA_OK;
}

void srv_census_free(struct srv_census *c)
{
    free(c->pairs);
    free(c->slots);
    c->pairs = NULL;
    c->slots = NULL;
    c->n = 0;
}

/* The pair's fields as one byte string, hashed with the table's key. */
static size_t srv_census_slot_of(const struct srv_census *c, const char *project,
                                 const struct ver_core *core, const struct ver_script *script)
{
    uint8_t b[VER_PROJECT_MAX + VER_NAME_MAX + VER_CHIP_MAX + 4 * 4];
    uint64_t h;
    size_t n = 0;
    memset(b, 0, sizeof b);
    memcpy(b, project, strnlen(project, VER_PROJECT_MAX - 1));
    n += VER_PROJECT_MAX;
    memcpy(b + n, core->name, strnlen(core->name, VER_NAME_MAX - 1));
    n += VER_NAME_MAX;
    memcpy(b + n, core->chip, strnlen(core->chip, VER_CHIP_MAX - 1));
    n += VER_CHIP_MAX;
    uint32_t nums[4] = {core->number, script->major, script->minor, script->patch};
    memcpy(b + n, nums, sizeof nums);
    crypto_shorthash((unsigned char *)&h, b, sizeof b, c->seed);
    return (size_t)(h & (c->nslots - 1));
}

static int srv_census_is(const struct census_entry *e, const char *project,
                         const struct ver_core *core, const struct ver_script *script)
{
    return e->core.number == core->number && ver_script_cmp(&e->script, script) == 0 &&
           strcmp(e->core.name, core->name) == 0 && strcmp(e->core.chip, core->chip) == 0 &&
           strcmp(e->project, project) == 0;
}

/* The slot holding the pair, or the empty slot where it would go. */
static uint32_t *srv_census_find(const struct srv_census *c, const char *project,
                                 const struct ver_core *core, const struct ver_script *script)
{
    size_t at = srv_census_slot_of(c, project, core, script);
    for (;;) {
        uint32_t *sl = &c->slots[at];
        if (*sl == 0 || srv_census_is(&c->pairs[*sl - 1].e, project, core, script))
            return sl;
        at = (at + 1) & (c->nslots - 1); /* nslots >= 2 max: an empty slot exists */
    }
}

static struct srv_census_pair *srv_census_add(struct srv_census *c, uint32_t *sl,
                                              const struct census_entry *e)
{
    if (c->n == c->max) {
        c->dropped++;
        return NULL;
    }
    struct srv_census_pair *p = &c->pairs[c->n];
    memset(p, 0, sizeof *p);
    p->e = *e;
    *sl = (uint32_t)++c->n;
    c->dirty = 1;
    return p;
}

struct srv_census_pair *srv_census_count(struct srv_census *c, const char *project,
                                         const struct ver_core *core,
                                         const struct ver_script *script, int64_t now_s)
{
    if (!c->slots)
        return NULL;
    uint32_t *sl = srv_census_find(c, project, core, script);
    c->dirty = 1;
    if (*sl) {
        struct srv_census_pair *p = &c->pairs[*sl - 1];
        p->e.count++;
        if (now_s > p->e.last_seen)
            p->e.last_seen = now_s;
        return p;
    }
    struct census_entry e;
    memset(&e, 0, sizeof e);
    ota_strlcpy(e.project, project, sizeof e.project);
    e.core = *core;
    e.script = *script;
    e.count = 1;
    e.first_seen = e.last_seen = now_s;
    return srv_census_add(c, sl, &e);
}

static void srv_census_reindex(struct srv_census *c)
{
    memset(c->slots, 0, c->nslots * sizeof *c->slots);
    for (size_t i = 0; i < c->n; i++) {
        const struct census_entry *e = &c->pairs[i].e;
        *srv_census_find(c, e->project, &e->core, &e->script) = (uint32_t)(i + 1);
    }
}

static int srv_census_newer_first(const void *a, const void *b)
{
    const struct census_entry *x = a, *y = b;
    return (x->last_seen < y->last_seen) - (x->last_seen > y->last_seen);
}

enum ota_err srv_census_load(struct srv_census *c, const char *path, char *msg)
{
    struct census_entry *e;
    size_t n;
    enum ota_err err = census_load(path, &e, &n, msg);
    if (err != OTA_OK)
        return err;
    if (n > c->max) /* keep the pairs seen last */
        qsort(e, n, sizeof *e, srv_census_newer_first);
    for (size_t i = 0; i < n; i++) {
        uint32_t *sl = srv_census_find(c, e[i].project, &e[i].core, &e[i].script);
        if (!*sl)
            srv_census_add(c, sl, &e[i]);
    }
    census_free(e);
    c->dirty = 0;
    return OTA_OK;
}

/* Drop pairs unseen for keep_days; compacts the array. */
static void srv_census_expire(struct srv_census *c, int keep_days, int64_t now_s)
{
    if (keep_days <= 0)
        return;
    int64_t since = now_s - (int64_t)keep_days * CENSUS_DAY_S;
    size_t kept = 0;
    for (size_t i = 0; i < c->n; i++)
        if (c->pairs[i].e.last_seen >= since)
            c->pairs[kept++] = c->pairs[i];
    if (kept == c->n)
        return;
    c->n = kept;
    srv_census_reindex(c);
}

enum ota_err srv_census_save(struct srv_census *c, const char *path, int keep_days,
                             int64_t now_s, char *msg)
{
    srv_census_expire(c, keep_days, now_s);
    struct census_entry *e = malloc((c->n ? c->n : 1) * sizeof *e);
    if (!e)
        return ota_fail(msg, OTA_E_NOMEM, "census: out of memory saving %zu pairs", c->n);
    for (size_t i = 0; i < c->n; i++)
        e[i] = c->pairs[i].e;
    enum ota_err err = census_save(path, e, c->n, msg);
    free(e);
    if (err == OTA_OK)
        c->dirty = 0;
    return err;
}

void srv_census_builds_reset(struct srv_census *c)
{
    for (size_t i = 0; i < c->n; i++)
        c->pairs[i].build = SRV_BUILD_NONE;
}

/* ---- lifecycle: load at start, save from the loop ------------------------- */

enum ota_err srv_census_open(struct srv_census *c, const struct cfg_ota *cfg, char *msg)
{
    char why[OTA_MSG_LEN], aside[CFG_PATH_MAX + 8];
    enum ota_err e = srv_census_init(c, (size_t)cfg->census_max_pairs, msg);
    if (e != OTA_OK || !cfg->census_file[0])
        return e;
    e = srv_census_load(c, cfg->census_file, why);
    if (e == OTA_OK) {
        log_msg(LOG_L_INFO, "census: %zu pair(s) from %s", c->n, cfg->census_file);
        return OTA_OK;
    }
    if (e == OTA_E_NOMEM)
        return ota_fail(msg, e, "census: %s", why);
    snprintf(aside, sizeof aside, "%s.bad", cfg->census_file);
    if (rename(cfg->census_file, aside) != 0)
        aside[0] = '\0';
    log_msg(LOG_L_WARN, "census: %s; starting with an empty census%s%s", why,
            aside[0] ? ", the file is kept as " : "", aside);
    return OTA_OK;
}

void srv_census_flush(struct srv_census *c, const struct cfg_ota *cfg, uint64_t now_ms,
                      int force)
{
    char msg[OTA_MSG_LEN];
    if (!c->slots || !cfg->census_file[0] || !c->dirty)
        return;
    if (!force && now_ms - c->saved_ms < (uint64_t)cfg->census_save_interval * 1000u)
        return;
    c->saved_ms = now_ms;
    if (srv_census_save(c, cfg->census_file, cfg->census_keep_days, (int64_t)time(NULL), msg) !=
        OTA_OK)
        log_msg(LOG_L_ERROR, "census: not saved: %s", msg);
}
