/* ondemand.c - archive listing cache and build requests (ondemand.h).
 *
 * Sections: 1. the archive listing, 2. request files, 3. the decision.
 * Runs on the CoAP thread; the only file system work on a request path
 * is a stat() every few seconds per project, and a few small syscalls
 * once per pair (request written) or once a second per waiting pair.
 */
#include "ondemand.h"

#include "io.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- 1. the archive listing ------------------------------------------------ */

void srv_ondemand_free(struct srv_ondemand *od)
{
    for (size_t i = 0; i < od->narch; i++)
        free(od->arch[i].cores);
    free(od->arch);
    od->arch = NULL;
    od->narch = 0;
}

void srv_ondemand_configure(struct srv_ondemand *od, const struct cfg_ota *cfg)
{
    if (strcmp(od->archive_dir, cfg->archive_dir) != 0)
        srv_ondemand_free(od);
    ota_strlcpy(od->archive_dir, cfg->archive_dir, sizeof od->archive_dir);
    ota_strlcpy(od->spool_dir, cfg->spool_dir, sizeof od->spool_dir);
}

static int srv_core_cmp(const void *a, const void *b)
{
    const struct ver_core *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (!c)
        c = strcmp(x->chip, y->chip);
    return c ? c : (x->number > y->number) - (x->number < y->number);
}

int srv_ondemand_archive_name(const char *name, struct ver_core *core)
{
    char head[VER_CORE_STR_MAX];
    size_t len = strlen(name);
    const char *dash = strrchr(name, '-');
    if (!dash || len < 4 || strcmp(name + len - 4, ".bin") != 0 ||
        (size_t)(name + len - 4 - (dash + 1)) != 16 ||
        strspn(dash + 1, "0123456789abcdef") != 16 || (size_t)(dash - name) >= sizeof head)
        return 0;
    memcpy(head, name, (size_t)(dash - name));
    head[dash - name] = '\0';
    return ver_core_parse(head, core, NULL) == OTA_OK;
}

/* Re-read the directory into a->cores (sorted); a missing one is empty. */
static void srv_archive_read(struct srv_archive *a, const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    size_t cap = 0;
    a->n = 0;
    while (d && (de = readdir(d)) != NULL && a->n < SRV_ARCHIVE_CORES_MAX) {
        struct ver_core core;
        if (!srv_ondemand_archive_name(de->d_name, &core))
            continue;
        if (a->n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct ver_core *nc = realloc(a->cores, ncap * sizeof *nc);
            if (!nc)
                break;
            a->cores = nc;
            cap = ncap;
        }
        a->cores[a->n++] = core;
    }
    if (d)
        closedir(d);
    if (a->n)
        qsort(a->cores, a->n, sizeof *a->cores, srv_core_cmp);
}

static struct srv_archive *srv_archive_of(struct srv_ondemand *od, const char *project)
{
    for (size_t i = 0; i < od->narch; i++)
        if (strcmp(od->arch[i].project, project) == 0)
            return &od->arch[i];
    if (od->narch == SRV_ARCHIVE_PROJECTS_MAX)
        return NULL;
    struct srv_archive *na = realloc(od->arch, (od->narch + 1) * sizeof *na);
    if (!na)
        return NULL;
    od->arch = na;
    struct srv_archive *a = &od->arch[od->narch++];
    memset(a, 0, sizeof *a);
    ota_strlcpy(a->project, project, sizeof a->project);
    a->checked_ms = UINT64_MAX; /* never checked */
    return a;
}

/* stat() at most every SRV_ARCHIVE_RECHECK_MS; re-read on a new mtime. */
static void srv_archive_refresh(struct srv_ondemand *od, struct srv_archive *a, uint64_t now_ms)
{
    char dir[CFG_PATH_MAX];
    struct stat st;
    if (a->checked_ms != UINT64_MAX && now_ms - a->checked_ms < SRV_ARCHIVE_RECHECK_MS)
        return;
    a->checked_ms = now_ms;
    if (snprintf(dir, sizeof dir, "%s/%s/core", od->archive_dir, a->project) >= (int)sizeof dir)
        return;
    struct timespec m = {0, 0};
    if (stat(dir, &st) == 0)
        m = st.st_mtim;
    if (m.tv_sec == a->mtime.tv_sec && m.tv_nsec == a->mtime.tv_nsec)
        return;
    a->mtime = m;
    srv_archive_read(a, dir);
}

int srv_ondemand_archived(struct srv_ondemand *od, const char *project,
                          const struct ver_core *core, uint64_t now_ms)
{
    if (!od->archive_dir[0])
        return 0;
    struct srv_archive *a = srv_archive_of(od, project);
    if (!a)
        return 0;
    srv_archive_refresh(od, a, now_ms);
    return a->n && bsearch(core, a->cores, a->n, sizeof *a->cores, srv_core_cmp) != NULL;
}

/* ---- 2. request files ------------------------------------------------------- */

enum ota_err srv_ondemand_request_path(const char *spool_dir, const struct census_entry *who,
                                       const char *suffix, char *out)
{
    char core[VER_CORE_STR_MAX], script[VER_SCRIPT_STR_MAX];
    ver_core_format(&who->core, core);
    ver_script_format(&who->script, script);
    int n = snprintf(out, CFG_PATH_MAX, "%s/%s+%s+%s%s", spool_dir, who->project, core, script,
                     suffix);
    return n > 0 && n < CFG_PATH_MAX ? OTA_OK : OTA_E_LIMIT;
}

static int srv_exists(const char *path)
{
    return access(path, F_OK) == 0;
}

/* The builder gave up on this pair: X.req.failed or X.failed. */
static int srv_request_failed(const struct srv_ondemand *od, const struct census_entry *who)
{
    char path[CFG_PATH_MAX];
    return (srv_ondemand_request_path(od->spool_dir, who, ".req.failed", path) == OTA_OK &&
            srv_exists(path)) ||
           (srv_ondemand_request_path(od->spool_dir, who, ".failed", path) == OTA_OK &&
            srv_exists(path));
}

/* The content into a new temporary file, fsynced. */
static enum ota_err srv_request_tmp(const char *tmp, const struct census_entry *who, char *msg)
{
    char core[VER_CORE_STR_MAX], script[VER_SCRIPT_STR_MAX], body[160];
    ver_core_format(&who->core, core);
    ver_script_format(&who->script, script);
    int len = snprintf(body, sizeof body, "project=%s\ncore=%s\nscript=%s\n", who->project, core,
                       script);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return ota_fail(msg, OTA_E_IO, "%s: %s", tmp, strerror(errno));
    int ok = write(fd, body, (size_t)len) == len && fsync(fd) == 0;
    int err = errno;
    close(fd);
    if (!ok) {
        unlink(tmp);
        return ota_fail(msg, OTA_E_IO, "%s: %s", tmp, strerror(err));
    }
    return OTA_OK;
}

/* Leave the request: 1 written now, 0 it was already there, -1 error. */
static int srv_request_write(struct srv_ondemand *od, const struct census_entry *who, char *msg)
{
    char path[CFG_PATH_MAX], tmp[CFG_PATH_MAX];
    if (srv_ondemand_request_path(od->spool_dir, who, ".req", path) != OTA_OK ||
        snprintf(tmp, sizeof tmp, "%s/.tmp.%ld.%u", od->spool_dir, (long)getpid(), ++od->seq) >=
            (int)sizeof tmp) {
        ota_fail(msg, OTA_E_LIMIT, "spool_dir: path too long");
        return -1;
    }
    if (srv_exists(path))
        return 0;
    if (io_mkdirs(od->spool_dir, 0755, msg) != OTA_OK || srv_request_tmp(tmp, who, msg) != OTA_OK)
        return -1;
    int rc = link(tmp, path), err = errno;
    unlink(tmp);
    if (rc != 0 && err != EEXIST) {
        ota_fail(msg, OTA_E_IO, "%s: %s", path, strerror(err));
        return -1;
    }
    if (rc == 0 && io_sync_parent(path, msg) != OTA_OK)
        log_kmsg(LOG_K_OTHER, LOG_L_WARN, "build request: %s", msg);
    return rc == 0;
}

/* ---- 3. the decision --------------------------------------------------------- */

static void srv_pair_set(struct srv_census_pair *p, enum srv_build_state st, uint64_t now_ms)
{
    p->build = (uint8_t)st;
    p->build_ms = now_ms;
}

/* No request yet: write one (or find the builder's verdict). */
static void srv_ondemand_start(struct srv_ondemand *od, struct srv_census_pair *p,
                               const struct census_entry *who, uint64_t now_ms)
{
    char msg[OTA_MSG_LEN], core[VER_CORE_STR_MAX];
    if (srv_request_failed(od, who)) {
        srv_pair_set(p, SRV_BUILD_FAILED, now_ms);
        return;
    }
    int rc = srv_request_write(od, who, msg);
    if (rc < 0) {
        log_kmsg(LOG_K_OTHER, LOG_L_ERROR, "build request not written: %s", msg);
        srv_pair_set(p, SRV_BUILD_FAILED, now_ms);
        return;
    }
    od->requests += rc;
    if (rc) {
        ver_core_format(&who->core, core);
        log_kmsg(LOG_K_OTHER, LOG_L_INFO, "build requested: project %s core %s (archived, no "
                 "package)", who->project, core);
    }
    srv_pair_set(p, SRV_BUILD_ASKED, now_ms);
}

/* A request in the spool: is it still there (once a second)? */
static void srv_ondemand_poll(struct srv_ondemand *od, struct srv_census_pair *p,
                              const struct census_entry *who, uint64_t now_ms)
{
    char path[CFG_PATH_MAX];
    if (now_ms - p->build_ms < SRV_ONDEMAND_RECHECK_MS)
        return;
    p->build_ms = now_ms;
    if (srv_ondemand_request_path(od->spool_dir, who, ".req", path) == OTA_OK && srv_exists(path))
        return;
    srv_pair_set(p, srv_request_failed(od, who) ? SRV_BUILD_FAILED : SRV_BUILD_DONE, now_ms);
}

static int srv_ondemand_verdict(const struct srv_census_pair *p, uint64_t now_ms, char *why)
{
    switch ((enum srv_build_state)p->build) {
    case SRV_BUILD_ASKED:
        snprintf(why, OTA_MSG_LEN, "the server is making the package for this core, retry in "
                 "%u s", SRV_ONDEMAND_MAX_AGE);
        return 1;
    case SRV_BUILD_DONE:
        if (now_ms - p->build_ms < SRV_ONDEMAND_GRACE_MS) {
            snprintf(why, OTA_MSG_LEN, "the package for this core is being published, retry "
                     "in %u s", SRV_ONDEMAND_MAX_AGE);
            return 1;
        }
        snprintf(why, OTA_MSG_LEN, "no package for this core: the build finished without one");
        return 0;
    case SRV_BUILD_FAILED:
        snprintf(why, OTA_MSG_LEN, "no package for this core: its build failed (see spool_dir)");
        return 0;
    case SRV_BUILD_NONE:
        break;
    }
    return 0;
}

int srv_ondemand_ask(struct srv_ondemand *od, struct srv_census_pair *p,
                     const struct census_entry *who, uint32_t target_core,
                     const struct ver_script *target_script, uint64_t now_ms, char *why)
{
    struct srv_census_pair scratch;
    if (!od->spool_dir[0] || !srv_ondemand_archived(od, who->project, &who->core, now_ms))
        return 0;
    if (!p) { /* not in the census (table full): the disk deduplicates */
        memset(&scratch, 0, sizeof scratch);
        p = &scratch;
    }
    /* A new release since the last verdict: ask again. */
    if (p->build != SRV_BUILD_NONE && p->build != SRV_BUILD_ASKED &&
        (p->target_core != target_core || ver_script_cmp(&p->target_script, target_script)))
        p->build = SRV_BUILD_NONE;
    if (p->build == SRV_BUILD_NONE) {
        p->target_core = target_core;
        p->target_script = *target_script;
        srv_ondemand_start(od, p, who, now_ms);
    } else if (p->build == SRV_BUILD_ASKED) {
        srv_ondemand_poll(od, p, who, now_ms);
    }
    int wait = srv_ondemand_verdict(p, now_ms, why);
    od->waits += wait;
    return wait;
}
