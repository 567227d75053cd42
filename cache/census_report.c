/* census_report.c - `ota-cache census` rows (census_report.h).
 *
 * Package headers are read once (cache_list) and every pair is matched
 * with the server's own selection (srv_select), so "package" here means
 * exactly what ota-server would answer 2.05 with.
 */
#include "census_report.h"

#include "cache.h"
#include "drop.h"
#include "ondemand.h"
#include "select.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct cache_census_pkgs {
    struct pkg_header *h;
    const struct pkg_header **ptr;
    size_t n, cap;
    int nomem;
};

static void cache_census_collect(void *ctx, const struct cache_entry *e)
{
    struct cache_census_pkgs *p = ctx;
    if (e->err != OTA_OK || p->nomem)
        return;
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 32;
        struct pkg_header *h = realloc(p->h, cap * sizeof *h);
        if (!h) {
            p->nomem = 1;
            return;
        }
        p->h = h;
        p->cap = cap;
    }
    p->h[p->n++] = e->h;
}

/* Archived, and when (newest mtime of its images; 0 = not archived). */
static int64_t cache_census_archived_at(const struct cfg_ota *c, const struct census_entry *e)
{
    char dir[CFG_PATH_MAX], path[CFG_PATH_MAX + 300];
    struct dirent *de;
    struct stat st;
    int64_t at = 0;
    if (!c->archive_dir[0] ||
        snprintf(dir, sizeof dir, "%s/%s/core", c->archive_dir, e->project) >= (int)sizeof dir)
        return 0;
    DIR *d = opendir(dir);
    while (d && (de = readdir(d)) != NULL) {
        struct ver_core core;
        if (!srv_ondemand_archive_name(de->d_name, &core) || !drop_core_equal(&core, &e->core))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (stat(path, &st) == 0 && (int64_t)st.st_mtime > at)
            at = (int64_t)st.st_mtime;
    }
    if (d)
        closedir(d);
    return at;
}

static int cache_census_packaged(const struct cfg_ota *c, const struct cache_census_pkgs *p,
                                 const struct census_entry *e)
{
    const struct cfg_ota *pc = cfg_project_find(c, e->project);
    struct srv_device dev = {e->project, e->core, e->script, 1,
                             pc && pc->package_format == CFG_FORMAT_VENDOR};
    struct srv_selection sel;
    srv_select(p->ptr, p->n, &dev, &sel);
    return sel.pick == SRV_PICK_PACKAGE;
}

enum ota_err cache_census(const struct cfg_ota *c, const char *project, int64_t now,
                          cache_census_cb cb, void *ctx, char *msg)
{
    struct census_entry *e = NULL;
    struct cache_census_pkgs p;
    size_t n = 0;
    memset(&p, 0, sizeof p);
    if (!c->census_file[0])
        return ota_fail(msg, OTA_E_INVAL, "[census] file is empty: the server keeps no census");
    enum ota_err err = census_load(c->census_file, &e, &n, msg);
    if (err == OTA_OK && cache_list(c->cache_dir, cache_census_collect, &p, msg) != OTA_OK)
        p.n = 0; /* no cache directory yet: nothing is packaged */
    if (err == OTA_OK && p.nomem)
        err = ota_fail(msg, OTA_E_NOMEM, "census: out of memory reading package headers");
    if (err == OTA_OK && p.n && !(p.ptr = calloc(p.n, sizeof *p.ptr)))
        err = ota_fail(msg, OTA_E_NOMEM, "census: out of memory");
    for (size_t i = 0; err == OTA_OK && i < p.n; i++)
        p.ptr[i] = &p.h[i];
    for (size_t i = 0; err == OTA_OK && i < n; i++) {
        if (project && strcmp(e[i].project, project) != 0)
            continue;
        struct cache_census_row r = {.e = e[i]};
        int64_t at = cache_census_archived_at(c, &e[i]);
        r.archived = at != 0;
        r.packaged = cache_census_packaged(c, &p, &e[i]);
        r.in_field = census_core_in_field(e, n, e[i].project, &e[i].core, now,
                                          c->census_keep_days, at);
        cb(ctx, &r);
    }
    free(p.ptr);
    free(p.h);
    census_free(e);
    return err;
}
