/* project.h - the projects one gateway serves, each with its own fleet.
 *
 * A configuration holds one or more projects (cfg.h: ota.ini's own and one
 * file each in [projects] dir). Per project the server keeps its allowlist
 * and rollout (fleet.h) and its check-rate table, so one project's
 * devices never spend another's budget. The table is sorted by project
 * name like the configuration's, and found per request by binary search
 * (a gateway with hundreds of projects pays O(log n) string compares).
 * A reload stages a complete new table next to the running one (a check
 * table whose project and interval are unchanged is carried over) and
 * swaps it in only when every project loaded: all or nothing.
 * Single-threaded like the rest of the CoAP side.
 */
#ifndef SRV_PROJECT_H
#define SRV_PROJECT_H

#include "cfg.h"
#include "fleet.h"
#include "rollout.h"

struct srv_project {
    const struct cfg_ota *cfg; /* the project's configuration (srv_projects_bind) */
    struct srv_fleet fleet;
    struct srv_rollout_watch rollout; /* [fleet] rollout_file, written by the console */
    struct srv_checks checks;
    int checks_carried;        /* checks belong to the running table until commit */
};

struct srv_projects {
    struct srv_project *v;     /* sorted by name */
    size_t n;
};

/* Build the table for cfg's projects; old (may be NULL) is the running
 * table, whose check tables are carried over where project and
 * check_interval are unchanged. On error nothing is left allocated. */
enum ota_err srv_projects_stage(struct srv_projects *p, const struct cfg_ota *cfg,
                                const struct srv_projects *old, char *msg);
/* Replace old by the staged p (old is freed, carried tables move to p). */
void srv_projects_commit(struct srv_projects *p, struct srv_projects *old);
/* Point every entry at its project in cfg (after cfg was copied). */
void srv_projects_bind(struct srv_projects *p, const struct cfg_ota *cfg);
void srv_projects_close(struct srv_projects *p);

/* The project called name, NULL if the gateway does not serve it. */
struct srv_project *srv_projects_find(const struct srv_projects *p, const char *name);

/* Once a second: reload changed allowlists and rollout files (each
 * logged on its own). */
void srv_projects_refresh(struct srv_projects *p);

/* Sum of every project's allowlist and whether any has one / a rollout,
 * for /stats and /metrics (one project: exactly its own figures). */
void srv_projects_fleet_gauges(const struct srv_projects *p, int *has_allowlist,
                               int *has_rollout, size_t *imeis, uint32_t *rollout_bp);

#endif
