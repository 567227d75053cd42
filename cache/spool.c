/* spool.c - the on-demand builder: build requests ota-server leaves in
 * [cache] spool_dir (drop.h).
 *
 * A device on an archived core with no package makes ota-server write
 * "<PROJECT>+<Core>+<x.y.z>.req" (once per pair, however many devices ask).
 * Each request gets the package set `ota-cache build` makes for one
 * shipped core (core+script delta, core-only if configured) against the
 * current archived release, built niced (nice 10) on one thread, one
 * request at a time, under the archive lock. A built request is removed
 * (a package already there is "unchanged": the request is just removed);
 * a failed one becomes "<same>.failed" with "error=<reason>" appended, so
 * the server stops asking and an operator sees why. At most
 * DROP_SPOOL_PASS requests per pass keep one pass bounded.
 */
#include "drop.h"

#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define DROP_SPOOL_PASS 64
#define DROP_SPOOL_NICE 10

static void drop_spool_on_package(void *ctx, const struct pkg_header *h, const char *path,
                                  int skipped)
{
    (void)h;
    log_msg(LOG_L_INFO, "build: %s %s", skipped ? "unchanged" : "built", path);
    *(int *)ctx += !skipped;
}

/* Build what request q needs from the current release. */
static enum ota_err drop_spool_build(const struct cfg_ota *all, const struct drop_request *q,
                                     char *msg)
{
    const struct cfg_ota *c = cfg_project_find(all, q->project);
    static struct cfg_ota nc;
    struct drop_release cur;
    struct cache_old_core old;
    char path[CFG_PATH_MAX], core[VER_CORE_STR_MAX];
    int found, built = 0;
    ver_core_format(&q->core, core);
    if (!c)
        return ota_fail(msg, OTA_E_INVAL, "project %s is not configured", q->project);
    enum ota_err e = drop_archive_release(c, &cur, &found, msg);
    if (e == OTA_OK && !found)
        e = ota_fail(msg, OTA_E_NOTFOUND, "no archived release (publish a drop first)");
    if (e != OTA_OK)
        return e;
    if (!ver_core_same_line(&q->core, &cur.core) || q->core.number > cur.core.number)
        return ota_fail(msg, OTA_E_VERSION, "core %s is not an older core of the release's "
                        "line", core);
    if (q->core.number == cur.core.number)
        return OTA_OK; /* the script-only package came with the release */
    if ((e = drop_archive_find_core(c, &q->core, path, msg)) != OTA_OK ||
        (e = drop_build_cfg(c, &cur, &nc, msg)) != OTA_OK)
        return e;
    nc.jobs = 1;
    old.path = path;
    old.number = q->core.number;
    struct cache_build_set set = {&old, 1, 1};
    return cache_build_set(&nc, &set, drop_spool_on_package, &built, NULL, msg);
}

/* Keep the request with its reason as NAME-without-.req + ".failed". */
static void drop_spool_fail(const char *dir, const char *name, const char *text, size_t len,
                            const char *why)
{
    char path[CFG_PATH_MAX + 300], body[DROP_INI_MAX + OTA_MSG_LEN + 16], msg[OTA_MSG_LEN];
    size_t n = strlen(name);
    int k = snprintf(body, sizeof body, "%.*s%s", (int)(len < DROP_INI_MAX ? len : DROP_INI_MAX),
                     text, len && text[len - 1] != '\n' ? "\n" : "");
    snprintf(body + k, sizeof body - (size_t)k, "error=%s\n", why);
    snprintf(path, sizeof path, "%s/%.*s.failed", dir, (int)(n - 4), name);
    if (io_file_write_all(path, body, strlen(body), 0644, msg) != OTA_OK)
        log_msg(LOG_L_ERROR, "spool: %s", msg);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
}

/* One request file: 1 built (or nothing to do), 0 failed. */
static int drop_spool_one(const struct cfg_ota *c, const char *name)
{
    char path[CFG_PATH_MAX + 300], msg[OTA_MSG_LEN];
    struct drop_request q;
    uint8_t *text = NULL;
    size_t len = 0;
    int lock = -1;
    snprintf(path, sizeof path, "%s/%s", c->spool_dir, name);
    enum ota_err e = io_file_read_all(path, DROP_INI_MAX, &text, &len, msg);
    if (e == OTA_E_NOTFOUND || (e == OTA_E_IO && access(path, F_OK) != 0))
        return 1; /* taken by another builder */
    if (e == OTA_OK)
        e = drop_request_parse(name, (const char *)text, len, &q, msg);
    if (e == OTA_OK && (e = drop_archive_lock(c, &lock, msg)) == OTA_OK) {
        e = drop_spool_build(c, &q, msg);
        drop_archive_unlock(lock);
    }
    if (e == OTA_OK) {
        log_msg(LOG_L_INFO, "spool: %s done", name);
        unlink(path);
    } else {
        log_msg(LOG_L_WARN, "spool: %s failed: %s", name, msg);
        drop_spool_fail(c->spool_dir, name, text ? (const char *)text : "", len, msg);
    }
    free(text);
    return e == OTA_OK;
}

static int drop_spool_wanted(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' && n > 4 && n < 256 && !strcmp(name + n - 4, ".req");
}

static int drop_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

enum ota_err drop_spool_run(const struct cfg_ota *c, int *done, int *failed, char *msg)
{
    char *names[DROP_SPOOL_PASS];
    int n = 0;
    struct dirent *de;
    *done = *failed = 0;
    DIR *d = opendir(c->spool_dir);
    if (!d)
        return errno == ENOENT ? OTA_OK
                               : ota_fail(msg, OTA_E_IO, "%s: %s", c->spool_dir, strerror(errno));
    while (n < DROP_SPOOL_PASS && (de = readdir(d)) != NULL)
        if (drop_spool_wanted(de->d_name) && (names[n] = strdup(de->d_name)) != NULL)
            n++;
    closedir(d);
    if (n && getpriority(PRIO_PROCESS, 0) < DROP_SPOOL_NICE)
        (void)setpriority(PRIO_PROCESS, 0, DROP_SPOOL_NICE); /* serving comes first */
    qsort(names, (size_t)n, sizeof names[0], drop_name_cmp);
    for (int i = 0; i < n; i++) {
        if (drop_spool_one(c, names[i]))
            ++*done;
        else
            ++*failed;
        free(names[i]);
    }
    return OTA_OK;
}
