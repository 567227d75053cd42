/* ondemand.h - packages made on demand for archived cores (issue 11.3).
 *
 * When selection finds no package for a device's core (SRV_PICK_NO_BASE)
 * but the project's archive holds that exact core
 * (ARCHIVE/<PROJECT>/core/<CoreName_Vnnnn_Chip>-<hash>.bin), the device
 * is told "the server is making your package, retry" (5.03, platform code
 * 43, Max-Age SRV_ONDEMAND_MAX_AGE) and a build request is left in the
 * spool for `ota-cache watch`:
 *   SPOOL/<PROJECT>+<CoreName_Vnnnn_Chip>+<x.y.z>.req
 *   project=...\ncore=...\nscript=...\n
 * written to a temporary name, fsynced, then link()ed to its name, so a
 * request is complete when it appears and an existing one means "already
 * asked". One request per pair however many devices ask: the pair's state
 * in the census table (census_table.h) remembers it, and the disk (link
 * fails with EEXIST) catches the rest (a full table, a restart).
 * The builder removes the request when the packages are in the cache (the
 * index sees them and the next ask is served), or renames it .failed:
 * then devices get 4.04 code 44 again until the operator removes the
 * .failed file (and sends SIGHUP). A request the builder removed without
 * the index serving the pair within SRV_ONDEMAND_GRACE_MS also falls back
 * to 4.04 code 44 (logged once), so no device waits forever.
 * Cost per request: the archive listing is cached per project and its
 * directory is stat()ed at most every SRV_ARCHIVE_RECHECK_MS (re-read only
 * when its mtime changed); the spool is touched once per pair, and then
 * only every SRV_ONDEMAND_RECHECK_MS to see whether the request is gone.
 */
#ifndef SRV_ONDEMAND_H
#define SRV_ONDEMAND_H

#include "cfg.h"
#include "census_table.h"

#include <time.h>

#define SRV_ONDEMAND_MAX_AGE 30u         /* s: the platform's "retry" for code 43 */
#ifndef SRV_ARCHIVE_RECHECK_MS
#define SRV_ARCHIVE_RECHECK_MS 2000u
#endif
#ifndef SRV_ONDEMAND_RECHECK_MS
#define SRV_ONDEMAND_RECHECK_MS 1000u
#endif
#ifndef SRV_ONDEMAND_GRACE_MS
#define SRV_ONDEMAND_GRACE_MS 60000u
#endif
#ifndef SRV_ARCHIVE_PROJECTS_MAX
#define SRV_ARCHIVE_PROJECTS_MAX 1024
#endif
#ifndef SRV_ARCHIVE_CORES_MAX
#define SRV_ARCHIVE_CORES_MAX 65536
#endif

/* The cached listing of ARCHIVE/<project>/core. */
struct srv_archive {
    char project[VER_PROJECT_MAX];
    struct ver_core *cores; /* sorted */
    size_t n;
    struct timespec mtime;  /* of the directory when read; 0 = missing */
    uint64_t checked_ms;
};

struct srv_ondemand {
    char archive_dir[CFG_PATH_MAX]; /* "" = off */
    char spool_dir[CFG_PATH_MAX];   /* "" = off */
    struct srv_archive *arch;
    size_t narch;
    unsigned seq;                   /* temporary-name counter */
    uint64_t requests;              /* request files written */
    uint64_t waits;                 /* 5.03 code 43 answers given for a build */
};

/* Paths from the config (also at SIGHUP: a changed archive_dir drops the
 * cached listings). */
void srv_ondemand_configure(struct srv_ondemand *od, const struct cfg_ota *cfg);
void srv_ondemand_free(struct srv_ondemand *od);

/* Is core in project's archive? now_ms decides whether to stat again. */
int srv_ondemand_archived(struct srv_ondemand *od, const char *project,
                          const struct ver_core *core, uint64_t now_ms);

/* A device of pair p (NULL: not in the census; then the disk alone
 * deduplicates) has no package; the release is (target_core,
 * target_script). 1 = answer 5.03 code 43 (a build is asked or under
 * way), 0 = answer as before (4.04 code 44); why (OTA_MSG_LEN) says
 * which. */
int srv_ondemand_ask(struct srv_ondemand *od, struct srv_census_pair *p,
                     const struct census_entry *who, uint32_t target_core,
                     const struct ver_script *target_script, uint64_t now_ms, char *why);

/* "<CoreName_Vnnnn_Chip>-<16 hex>.bin" -> 1 and the core; 0 if name is
 * not an archived core image. */
int srv_ondemand_archive_name(const char *name, struct ver_core *core);

/* "SPOOL/<PROJECT>+<core>+<script>" + suffix into out (CFG_PATH_MAX). */
enum ota_err srv_ondemand_request_path(const char *spool_dir, const struct census_entry *who,
                                       const char *suffix, char *out);

#endif
