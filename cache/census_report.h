/* census_report.h - `ota-cache census`: the server's census with, per pair,
 * what the operator needs to know about it.
 *
 * Reads [census] file (common/census.h), the cache's package headers and
 * the archive listing ([cache] archive_dir) of ota.ini; writes nothing.
 * Per (project, core, script) pair: its count and first/last seen, whether
 * the core is archived (ARCHIVE/<PROJECT>/core/<core>-<hash>.bin), whether
 * the cache holds the package the server would send such a device
 * (server selection rules, select.h), and whether the core is in the
 * precompute set (census_core_in_field with [census] keep_days).
 */
#ifndef CACHE_CENSUS_REPORT_H
#define CACHE_CENSUS_REPORT_H

#include "census.h"
#include "cfg.h"

struct cache_census_row {
    struct census_entry e;
    int archived;   /* the core's image is in the archive */
    int packaged;   /* a package in the cache would be sent to such a device */
    int in_field;   /* the core is in the precompute set (keep_days) */
};

typedef void (*cache_census_cb)(void *ctx, const struct cache_census_row *r);

/* One call of cb per pair, sorted by project, core, script; project NULL =
 * every project. A missing census file is an empty census. */
enum ota_err cache_census(const struct cfg_ota *c, const char *project, int64_t now,
                          cache_census_cb cb, void *ctx, char *msg);

#endif
