/* drop.c - `ota-cache publish`: check a release drop, archive it, build
 * and sign its packages, make it the current release (drop.h).
 *
 * Order, so that nothing is half-published:
 *   1. describe the drop (release.ini, or the platform's file names) and
 *      check it against the project and its current release: project
 *      known, core of the project's line, core >= current, script >=
 *      current, something newer; read the images (size, optional sha256)
 *      and the vendor manifest. Any failure here is a refused drop.
 *   2. first publish of a project: import today's [release] (core image,
 *      script image, shipped_dir cores) into the archive so existing
 *      setups keep building deltas from the cores they shipped;
 *   3. archive the images (content-addressed, never rewritten);
 *   4. build every package from the archived cores in the field into the
 *      cache (cache_build_set: temp, fsync, rename each), copy vendor
 *      packages; on failure remove exactly the files this publish wrote;
 *   5. write <archive>/<project>/release.ini atomically: the commit point;
 *   6. prune the previous release's packages. ota-server holds a package
 *      it serves in memory with a reference (server/index.c), so a device
 *      mid-download finishes from those bytes; its next check gets the new
 *      release.
 * Publish and the on-demand builder take the archive lock, so a publish
 * never runs beside a build of the release it replaces.
 */
#include "drop.h"

#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct drop_image {
    uint8_t *data;
    size_t len;
};

/* Files this publish put into the cache (removed again on failure). */
struct drop_written {
    char (*path)[CFG_PATH_MAX];
    int n, cap, unchanged;
};

static void drop_on_package(void *ctx, const struct pkg_header *h, const char *path,
                            int skipped)
{
    struct drop_written *w = ctx;
    char name[256];
    pkg_file_name(h, name, sizeof name);
    if (skipped) {
        w->unchanged++;
        return;
    }
    if (w->n < w->cap)
        ota_strlcpy(w->path[w->n++], path, CFG_PATH_MAX);
    log_msg(LOG_L_INFO, "publish: built %s", name);
}

static void drop_written_remove(struct drop_written *w)
{
    for (int i = w->n - 1; i >= 0; i--) /* a vendor manifest before its bytes */
        if (unlink(w->path[i]) == 0)
            log_msg(LOG_L_INFO, "publish: removed %s again", w->path[i]);
    w->n = 0;
}

/* ---- 1. describe and check ---------------------------------------------- */

/* A drop without release.ini: one script and at most one core in the
 * platform's names, agreeing on project and version. */
static enum ota_err drop_describe_platform(const char *dir, struct drop_release *r, char *msg)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int ncore = 0, nscript = 0;
    if (!d)
        return ota_fail(msg, OTA_E_NOTFOUND, "%s: %s", dir, strerror(errno));
    memset(r, 0, sizeof *r);
    while ((de = readdir(d)) != NULL) {
        struct drop_platform_name p;
        if (de->d_name[0] == '.' || drop_platform_name_parse(de->d_name, &p, NULL) != OTA_OK)
            continue;
        int first = ncore + nscript == 0;
        if (!first && (strcmp(p.project, r->project) || ver_script_cmp(&p.script, &r->script))) {
            closedir(d);
            return ota_fail(msg, OTA_E_INVAL, "%s: names another project or version than "
                            "the other files", de->d_name);
        }
        ota_strlcpy(r->project, p.project, sizeof r->project);
        r->script = p.script;
        if (p.is_script && nscript++ == 0)
            ota_strlcpy(r->script_image, de->d_name, DROP_NAME_MAX);
        else if (!p.is_script && ncore++ == 0) {
            ota_strlcpy(r->core_image, de->d_name, DROP_NAME_MAX);
            r->core = p.core;
        }
    }
    closedir(d);
    if (nscript != 1 || ncore > 1)
        return ota_fail(msg, OTA_E_INVAL, "no release.ini, and %d script / %d core files in "
                        "the platform's names (want 1 script, 0 or 1 core: "
                        "<PROJECT>_<x.y.z>_script.bin, <PROJECT>_<x.y.z>_<Core>.bin)",
                        nscript, ncore);
    return OTA_OK;
}

static enum ota_err drop_describe(const char *dir, struct drop_release *r, char *msg)
{
    char path[CFG_PATH_MAX + 16], detail[OTA_MSG_LEN];
    uint8_t *text;
    size_t len;
    snprintf(path, sizeof path, "%s/release.ini", dir);
    if (access(path, F_OK) != 0)
        return drop_describe_platform(dir, r, msg);
    enum ota_err e = io_file_read_all(path, DROP_INI_MAX, &text, &len, detail);
    if (e == OTA_OK) {
        e = drop_release_parse((const char *)text, len, r, detail);
        free(text);
    }
    return e == OTA_OK ? OTA_OK : ota_fail(msg, e, "%s", detail);
}

static enum ota_err drop_check_versions(const struct cfg_ota *c, const struct drop_release *d,
                                        const struct drop_release *cur, char *msg)
{
    char core[VER_CORE_STR_MAX], was[VER_CORE_STR_MAX], s1[VER_SCRIPT_STR_MAX],
        s2[VER_SCRIPT_STR_MAX];
    const struct ver_core *line = cur ? &cur->core : c->has_release ? &c->core : NULL;
    ver_core_format(&d->core, core);
    if (strcmp(d->project, c->project) != 0)
        return ota_fail(msg, OTA_E_INVAL, "project %s is not configured (this is %s)",
                        d->project, c->project);
    if (line && !ver_core_same_line(&d->core, line))
        return ota_fail(msg, OTA_E_VERSION, "core %s is not of the project's line %s_*_%s",
                        core, line->name, line->chip);
    if (!cur)
        return OTA_OK;
    ver_core_format(&cur->core, was);
    ver_script_format(&d->script, s1);
    ver_script_format(&cur->script, s2);
    if (d->core.number < cur->core.number)
        return ota_fail(msg, OTA_E_VERSION, "core %s is older than the current %s", core, was);
    if (ver_script_cmp(&d->script, &cur->script) < 0)
        return ota_fail(msg, OTA_E_VERSION, "script %s is older than the current %s (a "
                        "script is never downgraded)", s1, s2);
    if (d->core.number == cur->core.number && !ver_script_cmp(&d->script, &cur->script))
        return ota_fail(msg, OTA_E_VERSION, "core %s with script %s is already the current "
                        "release", core, s1);
    return OTA_OK;
}

/* Read an image of the drop: bounded, not truncated, sha256 if given. */
static enum ota_err drop_load_image(const char *what, const char *path, const uint8_t *sha,
                                    int has_sha, struct drop_image *img, char *msg)
{
    char detail[OTA_MSG_LEN];
    uint8_t h[CRYPTO_HASH_LEN];
    enum ota_err e = io_file_read_all(path, PKG_IMAGE_MAX, &img->data, &img->len, detail);
    if (e != OTA_OK)
        return ota_fail(msg, e, "%s: %s", what, detail);
    if (img->len < DROP_IMAGE_MIN)
        return ota_fail(msg, OTA_E_CORRUPT, "%s %s: %zu bytes, a truncated copy? (at least %d)",
                        what, path, img->len, DROP_IMAGE_MIN);
    crypto_sha256(img->data, img->len, h);
    if (has_sha && memcmp(h, sha, sizeof h) != 0)
        return ota_fail(msg, OTA_E_AUTH, "%s %s: SHA-256 differs from release.ini (truncated "
                        "or damaged copy)", what, path);
    return OTA_OK;
}

/* ---- 2. migration ------------------------------------------------------- */

int drop_release_from_cfg(const struct cfg_ota *c, struct drop_release *r)
{
    memset(r, 0, sizeof *r);
    if (!c->has_release)
        return 0;
    ota_strlcpy(r->project, c->project, sizeof r->project);
    r->core = c->core;
    r->script = c->script;
    return 1;
}

static void drop_import_file(const struct cfg_ota *c, const char *kind, const char *version,
                             const char *path)
{
    char msg[OTA_MSG_LEN], rel[DROP_NAME_MAX];
    uint8_t *data;
    size_t len;
    if (io_file_read_all(path, PKG_IMAGE_MAX, &data, &len, msg) != OTA_OK) {
        log_msg(LOG_L_WARN, "archive: not importing %s: %s", path, msg);
        return;
    }
    if (drop_archive_put(c, kind, version, data, len, rel, msg) != OTA_OK)
        log_msg(LOG_L_WARN, "archive: not importing %s: %s", path, msg);
    free(data);
}

/* Today's [release] into the archive (idempotent: same bytes, same name). */
static void drop_migrate(const struct cfg_ota *c)
{
    char core[VER_CORE_STR_MAX], script[VER_SCRIPT_STR_MAX], path[CFG_PATH_MAX + 300];
    struct dirent *de;
    if (!c->has_release)
        return;
    ver_core_format(&c->core, core);
    ver_script_format(&c->script, script);
    drop_import_file(c, "core", core, c->core_image);
    drop_import_file(c, "script", script, c->script_image);
    DIR *d = c->shipped_dir[0] ? opendir(c->shipped_dir) : NULL;
    while (d && (de = readdir(d)) != NULL) {
        struct ver_core v;
        if (!cache_core_file_name(de->d_name, 0, &v) || !drop_core_older(&v, &c->core))
            continue;
        ver_core_format(&v, core);
        snprintf(path, sizeof path, "%s/%s", c->shipped_dir, de->d_name);
        drop_import_file(c, "core", core, path);
    }
    if (d)
        closedir(d);
}

/* ---- 4. build ----------------------------------------------------------- */

enum ota_err drop_build_cfg(const struct cfg_ota *c, const struct drop_release *r,
                            struct cfg_ota *out, char *msg)
{
    char dir[CFG_PATH_MAX];
    enum ota_err e = drop_archive_dir(c, dir, msg);
    if (e != OTA_OK)
        return e;
    *out = *c;
    out->core = r->core;
    out->script = r->script;
    out->has_release = 1;
    out->shipped_dir[0] = '\0';
    if (snprintf(out->core_image, CFG_PATH_MAX, "%s/%s", dir, r->core_image) >= CFG_PATH_MAX ||
        snprintf(out->script_image, CFG_PATH_MAX, "%s/%s", dir, r->script_image) >= CFG_PATH_MAX)
        return ota_fail(msg, OTA_E_LIMIT, "archive path too long");
    return OTA_OK;
}

static enum ota_err drop_build(const struct cfg_ota *c, const struct drop_release *r,
                               struct drop_written *w, char *msg)
{
    static struct cfg_ota nc;
    struct cache_old_core old[64];
    struct cache_build_set set = {old, 0, 0};
    char *block;
    enum ota_err e = drop_build_cfg(c, r, &nc, msg);
    if (e == OTA_OK)
        e = drop_archive_old_cores(c, &r->core, old, 64, &set.nold, &block, msg);
    if (e == OTA_OK) {
        e = cache_build_set(&nc, &set, drop_on_package, w, NULL, msg);
        free(block);
    }
    return e;
}

/* ---- the whole publish -------------------------------------------------- */

struct drop_job {
    const struct cfg_ota *c;
    const char *dir;
    struct drop_release d, cur;
    int has_cur;
    struct drop_image core, script;
    struct drop_vendor_item vendor[DROP_VENDOR_MAX];
    int nvendor;
};

static enum ota_err drop_read_vendor(struct drop_job *j, char *msg)
{
    char path[CFG_PATH_MAX + 32];
    uint8_t *text;
    size_t len;
    snprintf(path, sizeof path, "%s/vendor.manifest", j->dir);
    if (access(path, F_OK) != 0)
        return OTA_OK;
    enum ota_err e = io_file_read_all(path, DROP_MANIFEST_MAX, &text, &len, msg);
    if (e != OTA_OK)
        return e;
    e = drop_vendor_manifest_parse((const char *)text, len, j->vendor, DROP_VENDOR_MAX,
                                   &j->nvendor, msg);
    free(text);
    return e != OTA_OK ? e : drop_vendor_check(j->dir, &j->d, j->vendor, j->nvendor, msg);
}

/* Step 1: everything that can refuse the drop, before anything is written. */
static enum ota_err drop_check(struct drop_job *j, char *msg)
{
    char path[CFG_PATH_MAX + DROP_NAME_MAX], arch[CFG_PATH_MAX];
    enum ota_err e = drop_describe(j->dir, &j->d, msg);
    if (e != OTA_OK)
        return e;
    /* From here on, the drop's project (with several projects configured,
     * the drop names which one it belongs to). */
    const struct cfg_ota *pc = cfg_project_find(j->c, j->d.project);
    if (!pc)
        return ota_fail(msg, OTA_E_INVAL, "project %s is not configured in %s", j->d.project,
                        j->c->source[0] ? j->c->source : "ota.ini");
    j->c = pc;
    if ((e = drop_archive_release(j->c, &j->cur, &j->has_cur, msg)) != OTA_OK)
        return e;
    if (!j->has_cur)
        j->has_cur = drop_release_from_cfg(j->c, &j->cur);
    if ((e = drop_check_versions(j->c, &j->d, j->has_cur ? &j->cur : NULL, msg)) != OTA_OK)
        return e;
    if (j->d.core_image[0]) {
        snprintf(path, sizeof path, "%s/%s", j->dir, j->d.core_image);
    } else if (drop_archive_find_core(j->c, &j->d.core, arch, NULL) == OTA_OK) {
        snprintf(path, sizeof path, "%s", arch);
    } else if (j->c->has_release && drop_core_equal(&j->c->core, &j->d.core)) {
        snprintf(path, sizeof path, "%s", j->c->core_image); /* migrates in step 2 */
    } else {
        return ota_fail(msg, OTA_E_NOTFOUND, "no core_image, and core %s_V%04u_%s is not "
                        "archived", j->d.core.name, (unsigned)j->d.core.number, j->d.core.chip);
    }
    if ((e = drop_load_image("core image", path, j->d.core_sha256, j->d.has_core_sha256,
                             &j->core, msg)) != OTA_OK)
        return e;
    snprintf(path, sizeof path, "%s/%s", j->dir, j->d.script_image);
    if ((e = drop_load_image("script image", path, j->d.script_sha256, j->d.has_script_sha256,
                             &j->script, msg)) != OTA_OK)
        return e;
    return drop_read_vendor(j, msg);
}

/* Steps 3-5; refused set for an archive conflict. */
static enum ota_err drop_commit(struct drop_job *j, struct drop_written *w, int *refused,
                                char *msg)
{
    char core[VER_CORE_STR_MAX], script[VER_SCRIPT_STR_MAX];
    struct drop_release *r = &j->d;
    ver_core_format(&r->core, core);
    ver_script_format(&r->script, script);
    enum ota_err e = drop_archive_put(j->c, "core", core, j->core.data, j->core.len,
                                      r->core_image, msg);
    if (e == OTA_OK)
        e = drop_archive_put(j->c, "script", script, j->script.data, j->script.len,
                             r->script_image, msg);
    *refused = e == OTA_E_AUTH;
    if (e != OTA_OK)
        return e;
    crypto_sha256(j->core.data, j->core.len, r->core_sha256);
    crypto_sha256(j->script.data, j->script.len, r->script_sha256);
    r->has_core_sha256 = r->has_script_sha256 = 1;
    int nw = 0;
    if ((e = drop_build(j->c, r, w, msg)) == OTA_OK)
        e = drop_vendor_write(j->c, j->dir, j->vendor, j->nvendor, w->path + w->n, &nw, msg);
    w->n += nw;
    if (e == OTA_OK)
        e = drop_archive_release_save(j->c, r, msg);
    return e;
}

static void drop_count_pruned(void *ctx, const struct cache_entry *e, enum cache_prune_action a)
{
    (void)e;
    *(int *)ctx += a == CACHE_PRUNE_REMOVED;
}

/* Step 6; a failure here only leaves old packages behind: logged. */
static int drop_prune(const struct cfg_ota *c, const struct drop_release *r)
{
    static struct cfg_ota nc;
    char msg[OTA_MSG_LEN];
    int n = 0;
    if (drop_build_cfg(c, r, &nc, msg) != OTA_OK ||
        cache_prune(&nc, 0, drop_count_pruned, &n, msg) != OTA_OK)
        log_msg(LOG_L_WARN, "publish: pruning the previous release: %s", msg);
    return n + drop_vendor_prune(c, r);
}

enum ota_err drop_publish(const struct cfg_ota *c, const char *dir, struct drop_result *res,
                          char *msg)
{
    static struct drop_job j;
    struct drop_written w = {NULL, 0, 2 * 64 + 2 + 2 * DROP_VENDOR_MAX, 0};
    int lock = -1;
    memset(res, 0, sizeof *res);
    memset(&j, 0, sizeof j);
    j.c = c;
    j.dir = dir;
    enum ota_err e = drop_archive_lock(c, &lock, msg);
    if (e == OTA_OK && !(w.path = calloc((size_t)w.cap, sizeof *w.path)))
        e = ota_fail(msg, OTA_E_NOMEM, "publish");
    if (e == OTA_OK) {
        e = drop_check(&j, msg);
        res->refused = e != OTA_OK;
    }
    if (e == OTA_OK) {
        int archived = 0;
        if (drop_archive_release(j.c, &j.cur, &archived, NULL) == OTA_OK && !archived)
            drop_migrate(j.c);
        e = drop_commit(&j, &w, &res->refused, msg);
        if (e != OTA_OK)
            drop_written_remove(&w);
    }
    if (e == OTA_OK) {
        res->rel = j.d;
        res->built = w.n - 2 * j.nvendor;
        res->vendor = j.nvendor;
        res->unchanged = w.unchanged;
        res->pruned = drop_prune(j.c, &j.d);
    }
    free(w.path);
    free(j.core.data);
    free(j.script.data);
    drop_archive_unlock(lock);
    return e;
}
