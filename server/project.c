/* project.c - per-project fleet and check tables (project.h).
 */
#include "project.h"

#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void srv_project_free(struct srv_project *pr)
{
    srv_fleet_free(&pr->fleet);
    if (!pr->checks_carried)
        srv_checks_free(&pr->checks);
}

/* Apply the console's rollout file if it changed (rollout.h). */
static void srv_project_rollout(struct srv_project *pr, const char *who)
{
    char msg[OTA_MSG_LEN], fleet[96];
    int changed;
    if (srv_rollout_refresh(&pr->rollout, &pr->fleet, &changed, msg) != OTA_OK) {
        log_msg(LOG_L_WARN, "rollout: %s%s; keeping the rollout in force", who, msg);
    } else if (changed) {
        srv_fleet_describe(&pr->fleet, fleet, sizeof fleet);
        log_msg(LOG_L_INFO, "rollout: %s%s applied: %s", who, pr->rollout.path, fleet);
    }
}

static enum ota_err srv_project_open(struct srv_project *pr, const struct cfg_ota *c,
                                     const struct srv_projects *old, char *msg)
{
    const struct srv_project *was = old ? srv_projects_find(old, c->project) : NULL;
    pr->cfg = c;
    enum ota_err e = srv_fleet_init(&pr->fleet, c->allowlist, c->rollout_bp, msg);
    if (e != OTA_OK)
        return ota_fail(msg, e, "project %s: %s", c->project, msg);
    srv_rollout_watch_init(&pr->rollout, c->rollout_file, c->rollout_bp);
    srv_project_rollout(pr, "");
    if (was && was->cfg->check_interval == c->check_interval) {
        pr->checks = was->checks;
        pr->checks_carried = 1;
        return OTA_OK;
    }
    if ((e = srv_checks_init(&pr->checks, (unsigned)c->check_interval, msg)) != OTA_OK)
        srv_fleet_free(&pr->fleet);
    return e;
}

enum ota_err srv_projects_stage(struct srv_projects *p, const struct cfg_ota *cfg,
                                const struct srv_projects *old, char *msg)
{
    size_t n = cfg_project_count(cfg);
    enum ota_err e = OTA_OK;
    p->n = 0;
    p->v = calloc(n, sizeof *p->v);
    if (!p->v)
        return ota_fail(msg, OTA_E_NOMEM, "projects: out of memory");
    for (size_t i = 0; i < n && e == OTA_OK; i++)
        if ((e = srv_project_open(&p->v[i], cfg_project_at(cfg, i), old, msg)) == OTA_OK)
            p->n++;
    if (e != OTA_OK)
        srv_projects_close(p);
    return e;
}

void srv_projects_commit(struct srv_projects *p, struct srv_projects *old)
{
    for (size_t i = 0; i < p->n; i++) {
        if (!p->v[i].checks_carried)
            continue;
        struct srv_project *was = srv_projects_find(old, p->v[i].cfg->project);
        if (was)
            was->checks_carried = 1; /* now p's */
        p->v[i].checks_carried = 0;
    }
    srv_projects_close(old);
    *old = *p;
    memset(p, 0, sizeof *p);
}

void srv_projects_bind(struct srv_projects *p, const struct cfg_ota *cfg)
{
    for (size_t i = 0; i < p->n && i < cfg_project_count(cfg); i++)
        p->v[i].cfg = cfg_project_at(cfg, i);
}

void srv_projects_close(struct srv_projects *p)
{
    for (size_t i = 0; i < p->n; i++)
        srv_project_free(&p->v[i]);
    free(p->v);
    p->v = NULL;
    p->n = 0;
}

static int srv_project_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const struct srv_project *)elem)->cfg->project);
}

struct srv_project *srv_projects_find(const struct srv_projects *p, const char *name)
{
    if (!p->n)
        return NULL;
    return bsearch(name, p->v, p->n, sizeof *p->v, srv_project_cmp);
}

void srv_projects_refresh(struct srv_projects *p)
{
    for (size_t i = 0; i < p->n; i++) {
        char msg[OTA_MSG_LEN], who[VER_PROJECT_MAX + 16] = "";
        int reloaded;
        struct srv_project *pr = &p->v[i];
        if (p->n > 1) /* one project logs exactly as before projects existed */
            snprintf(who, sizeof who, "project %s: ", pr->cfg->project);
        if (srv_fleet_refresh(&pr->fleet, &reloaded, msg) != OTA_OK)
            log_msg(LOG_L_WARN, "allowlist: %s%s; keeping the previous list", who, msg);
        else if (reloaded)
            log_msg(LOG_L_INFO, "allowlist: %sreloaded, %zu IMEIs (rollout unchanged)", who,
                    pr->fleet.n);
        srv_project_rollout(pr, who);
    }
}

void srv_projects_fleet_gauges(const struct srv_projects *p, int *has_allowlist,
                               int *has_rollout, size_t *imeis, uint32_t *rollout_bp)
{
    *has_allowlist = *has_rollout = 0;
    *imeis = 0;
    *rollout_bp = SRV_ROLLOUT_ALL;
    for (size_t i = 0; i < p->n; i++) {
        const struct srv_fleet *f = &p->v[i].fleet;
        *has_allowlist |= f->has_allowlist;
        *imeis += f->n;
        if (f->has_rollout && !*has_rollout)
            *rollout_bp = f->rollout_bp; /* the first project's stage */
        *has_rollout |= f->has_rollout;
    }
}
