/* build.c - turn a release drop described by ota.ini into signed packages.
 *
 * Order of work, so a bad drop never leaves a partial result in the cache:
 *   1. read the target core, the script, the signing key and every shipped
 *      core (a missing or unreadable file is named and stops the build);
 *   2. plan the packages (see cache.h for the variants);
 *   3. for each: skip it if the cache already holds an identical package,
 *      else build it to a temp name in the cache directory, fsync, rename.
 *      Shipped cores are built in parallel (ota.ini jobs), and the delta of
 *      a shipped core is computed once for its core+script and core-only
 *      packages.
 * The shipped-core directory holds old cores named "<core version>.bin",
 * e.g. Luat_V0017_RDA8910.bin; other files are ignored.
 */
#include "cache.h"

#include "log.h"

#include <dirent.h>
#include <pthread.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef CACHE_SHIPPED_MAX
#define CACHE_SHIPPED_MAX 64
#endif

struct cache_image {
    uint8_t *data;
    size_t len;
};

struct cache_release {
    struct cache_image core, script;
    struct cache_image shipped[CACHE_SHIPPED_MAX];
    uint32_t shipped_num[CACHE_SHIPPED_MAX];
    int nshipped;
    uint8_t sec[CRYPTO_SEC_LEN];
};

static void cache_release_free(struct cache_release *r)
{
    free(r->core.data);
    free(r->script.data);
    for (int i = 0; i < r->nshipped; i++)
        free(r->shipped[i].data);
    sodium_memzero(r->sec, sizeof r->sec);
}

static enum ota_err cache_read_image(const char *what, const char *path, struct cache_image *img,
                                     char *msg)
{
    char detail[OTA_MSG_LEN];
    enum ota_err e = io_file_read_all(path, PKG_IMAGE_MAX, &img->data, &img->len, detail);
    if (e != OTA_OK)
        return ota_fail(msg, e, "%s: %s", what, detail);
    return OTA_OK;
}

/* Insert a shipped core keeping the list sorted by number. */
static void cache_shipped_insert(struct cache_release *r, uint32_t num, struct cache_image img)
{
    int i = r->nshipped++;
    for (; i > 0 && r->shipped_num[i - 1] > num; i--) {
        r->shipped_num[i] = r->shipped_num[i - 1];
        r->shipped[i] = r->shipped[i - 1];
    }
    r->shipped_num[i] = num;
    r->shipped[i] = img;
}

int cache_core_file_name(const char *name, size_t tail_len, struct ver_core *v)
{
    char stem[VER_CORE_STR_MAX + 8];
    size_t n = strlen(name);
    if (n < tail_len + 5 || n - tail_len - 4 >= sizeof stem || strcmp(name + n - 4, ".bin") != 0)
        return 0;
    memcpy(stem, name, n - tail_len - 4);
    stem[n - tail_len - 4] = '\0';
    return ver_core_parse(stem, v, NULL) == OTA_OK;
}

/* Should this directory entry be read as a shipped core? */
static int cache_shipped_wanted(const struct cfg_ota *c, const char *name, struct ver_core *v)
{
    size_t n = strlen(name);
    if (n < 5 || n >= VER_CORE_STR_MAX + 8 || strcmp(name + n - 4, ".bin") != 0)
        return 0; /* not an image: no warning */
    if (!cache_core_file_name(name, 0, v)) {
        log_msg(LOG_L_WARN, "shipped_dir: ignoring %s (not named <core version>.bin)", name);
        return 0;
    }
    if (!ver_core_same_line(v, &c->core) || v->number >= c->core.number) {
        log_msg(LOG_L_WARN, "shipped_dir: ignoring %s (not an older %s/%s core)", name,
                c->core.name, c->core.chip);
        return 0;
    }
    return 1;
}

static enum ota_err cache_read_shipped(const struct cfg_ota *c, struct cache_release *r,
                                       char *msg)
{
    DIR *d = opendir(c->shipped_dir);
    struct dirent *de;
    enum ota_err e = OTA_OK;
    if (!d)
        return ota_fail(msg, OTA_E_NOTFOUND, "shipped_dir %s: %s", c->shipped_dir,
                        strerror(errno));
    while (e == OTA_OK && (de = readdir(d)) != NULL) {
        struct ver_core v;
        struct cache_image img;
        char path[CFG_PATH_MAX + 256];
        if (!cache_shipped_wanted(c, de->d_name, &v))
            continue;
        if (r->nshipped == CACHE_SHIPPED_MAX) {
            e = ota_fail(msg, OTA_E_LIMIT, "shipped_dir: more than %d cores", CACHE_SHIPPED_MAX);
            break;
        }
        snprintf(path, sizeof path, "%s/%s", c->shipped_dir, de->d_name);
        if ((e = cache_read_image("shipped core", path, &img, msg)) == OTA_OK)
            cache_shipped_insert(r, v.number, img);
    }
    closedir(d);
    return e;
}

/* The old cores a caller names (the archive) instead of c->shipped_dir. */
static enum ota_err cache_read_old(const struct cache_build_set *set, struct cache_release *r,
                                   char *msg)
{
    if (set->nold > CACHE_SHIPPED_MAX)
        return ota_fail(msg, OTA_E_LIMIT, "%d old cores, at most %d", set->nold,
                        CACHE_SHIPPED_MAX);
    for (int i = 0; i < set->nold; i++) {
        struct cache_image img;
        enum ota_err e = cache_read_image("old core", set->old[i].path, &img, msg);
        if (e != OTA_OK)
            return e;
        cache_shipped_insert(r, set->old[i].number, img);
    }
    return OTA_OK;
}

static enum ota_err cache_read_release(const struct cfg_ota *c, const struct cache_build_set *set,
                                       struct cache_release *r, char *msg)
{
    char detail[OTA_MSG_LEN];
    enum ota_err e;
    if (!c->has_release)
        return ota_fail(msg, OTA_E_INVAL, "no [release] section in the configuration");
    if (!c->signing_key[0])
        return ota_fail(msg, OTA_E_INVAL, "[cache] signing_key is not set");
    if ((e = cache_read_image("core_image", c->core_image, &r->core, msg)) != OTA_OK ||
        (e = cache_read_image("script_image", c->script_image, &r->script, msg)) != OTA_OK)
        return e;
    if ((e = crypto_load_secret(c->signing_key, r->sec, detail)) != OTA_OK)
        return ota_fail(msg, e, "signing_key: %s", detail);
    if (set)
        return cache_read_old(set, r, msg);
    if (c->shipped_dir[0] && (e = cache_read_shipped(c, r, msg)) != OTA_OK)
        return e;
    return OTA_OK;
}

/* Is there already a package at path built from the same inputs and key? */
static int cache_same_package(const char *path, const struct pkg_header *want,
                              const struct pkg_build_input *in, struct pkg_header *found)
{
    struct io_reader r;
    uint8_t buf[PKG_HEADER_LEN];
    struct pkg_header h;
    uint8_t old_hash[CRYPTO_HASH_LEN] = {0}, core_hash[CRYPTO_HASH_LEN] = {0},
            script_hash[CRYPTO_HASH_LEN] = {0}, pub[CRYPTO_PUB_LEN], id[CRYPTO_KEYID_LEN];
    if (io_file_reader_open(&r, path, NULL) != OTA_OK)
        return 0;
    int ok = io_read_at(&r, 0, buf, sizeof buf) == OTA_OK &&
             pkg_header_parse(buf, sizeof buf, r.size, &h, NULL) == OTA_OK;
    io_file_reader_close(&r);
    if (!ok)
        return 0;
    if (want->flags & PKG_F_CORE_DELTA)
        crypto_sha256(in->old_core, in->old_core_len, old_hash);
    if (want->flags & (PKG_F_CORE_DELTA | PKG_F_CORE_FULL))
        crypto_sha256(in->new_core, in->new_core_len, core_hash);
    if (want->flags & PKG_F_SCRIPT)
        crypto_sha256(in->script, in->script_len, script_hash);
    crypto_secret_to_public(in->secret_key, pub);
    crypto_key_id(pub, id);
    *found = h;
    return h.flags == want->flags && h.from_core == want->from_core &&
           h.to_core == want->to_core && h.window_bits == (uint32_t)in->window_bits &&
           !memcmp(h.key_id, id, sizeof id) && !memcmp(h.old_core_hash, old_hash, 32) &&
           !memcmp(h.core_hash, core_hash, 32) && !memcmp(h.script_hash, script_hash, 32) &&
           !strcmp(h.project, want->project) && !strcmp(h.core_name, want->core_name) &&
           !strcmp(h.chip, want->chip) && !ver_script_cmp(&h.script, &want->script);
}

static void cache_template(const struct cfg_ota *c, struct pkg_header *t, uint32_t flags,
                           uint32_t from)
{
    memset(t, 0, sizeof *t);
    ota_strlcpy(t->project, c->project, sizeof t->project);
    ota_strlcpy(t->core_name, c->core.name, sizeof t->core_name);
    ota_strlcpy(t->chip, c->core.chip, sizeof t->chip);
    t->flags = flags;
    t->from_core = from;
    t->to_core = c->core.number;
    t->script = c->script;
}

/* One unit of parallel work: packages that share one core section (the
 * core+script and core-only packages of a shipped core share its delta). */
struct cache_job {
    struct pkg_header tmpl[2];
    int ntmpl;
    const struct cache_image *old; /* delta base, or NULL */
};

struct cache_run {
    const struct cfg_ota *c;
    const struct cache_release *r;
    struct cache_job jobs[CACHE_SHIPPED_MAX + 2];
    int njobs, next;
    enum ota_err err;
    char msg[OTA_MSG_LEN];
    pthread_mutex_t mu;
    cache_package_cb cb;
    void *ctx;
};

static void cache_report(struct cache_run *run, const struct pkg_header *h, const char *path,
                         int skipped)
{
    if (!run->cb)
        return;
    pthread_mutex_lock(&run->mu);
    run->cb(run->ctx, h, path, skipped);
    pthread_mutex_unlock(&run->mu);
}

static enum ota_err cache_write_package(struct cache_run *run, const char *path,
                                        const struct pkg_build_input *in, char *msg)
{
    struct pkg_header h;
    struct io_atomic a;
    struct io_writer w;
    enum ota_err e = io_atomic_open(&a, path, 0644, msg);
    if (e != OTA_OK)
        return e;
    io_atomic_writer(&w, &a);
    if ((e = pkg_build(in, &w, &h, msg)) != OTA_OK) {
        io_atomic_abort(&a);
        return e;
    }
    if ((e = io_atomic_commit(&a, msg)) == OTA_OK)
        cache_report(run, &h, path, 0);
    return e;
}

static void cache_job_input(const struct cache_run *run, const struct cache_job *job,
                            struct pkg_build_input *in)
{
    memset(in, 0, sizeof *in);
    in->new_core = run->r->core.data;
    in->new_core_len = run->r->core.len;
    in->script = run->r->script.data;
    in->script_len = run->r->script.len;
    in->window_bits = run->c->window_bits;
    in->secret_key = run->r->sec;
    if (job->old) {
        in->old_core = job->old->data;
        in->old_core_len = job->old->len;
    }
}

/* Skip what is already there, compute the shared core section once, then
 * write the rest. */
static enum ota_err cache_run_job(struct cache_run *run, const struct cache_job *job, char *msg)
{
    struct pkg_build_input in;
    char path[2][CFG_PATH_MAX + 256], name[256];
    int todo[2] = {0, 0}, need_core = 0;
    uint8_t *sec = NULL;
    enum ota_err e = OTA_OK;
    cache_job_input(run, job, &in);
    for (int i = 0; i < job->ntmpl; i++) {
        struct pkg_header found;
        pkg_file_name(&job->tmpl[i], name, sizeof name);
        snprintf(path[i], sizeof path[i], "%s/%s", run->c->cache_dir, name);
        in.tmpl = job->tmpl[i];
        if (cache_same_package(path[i], &job->tmpl[i], &in, &found)) {
            cache_report(run, &found, path[i], 1);
            continue;
        }
        todo[i] = 1;
        need_core |= (job->tmpl[i].flags & (PKG_F_CORE_DELTA | PKG_F_CORE_FULL)) != 0;
    }
    if (need_core) {
        in.tmpl = job->tmpl[0];
        e = pkg_core_section(&in, &sec, &in.core_section_len, &in.core_mem, msg);
        in.core_section = sec;
    }
    for (int i = 0; e == OTA_OK && i < job->ntmpl; i++)
        if (todo[i]) {
            in.tmpl = job->tmpl[i];
            e = cache_write_package(run, path[i], &in, msg);
        }
    free(sec);
    return e;
}

static void *cache_worker(void *arg)
{
    struct cache_run *run = arg;
    char msg[OTA_MSG_LEN];
    for (;;) {
        pthread_mutex_lock(&run->mu);
        int i = run->err == OTA_OK && run->next < run->njobs ? run->next++ : -1;
        pthread_mutex_unlock(&run->mu);
        if (i < 0)
            return NULL;
        enum ota_err e = cache_run_job(run, &run->jobs[i], msg);
        pthread_mutex_lock(&run->mu);
        if (e != OTA_OK && run->err == OTA_OK) {
            run->err = e;
            memcpy(run->msg, msg, sizeof msg);
        }
        pthread_mutex_unlock(&run->mu);
    }
}

static void cache_plan(struct cache_run *run, int old_only)
{
    const struct cfg_ota *c = run->c;
    const struct cache_release *r = run->r;
    for (int i = 0; i < r->nshipped; i++) {
        struct cache_job *j = &run->jobs[run->njobs++];
        j->old = &r->shipped[i];
        cache_template(c, &j->tmpl[j->ntmpl++], PKG_F_CORE_DELTA | PKG_F_SCRIPT,
                       r->shipped_num[i]);
        if (c->core_only)
            cache_template(c, &j->tmpl[j->ntmpl++], PKG_F_CORE_DELTA, r->shipped_num[i]);
    }
    if (old_only)
        return;
    if (c->script_only) {
        struct cache_job *j = &run->jobs[run->njobs++];
        cache_template(c, &j->tmpl[j->ntmpl++], PKG_F_SCRIPT, c->core.number);
    }
    if (c->full_core_fallback) {
        struct cache_job *j = &run->jobs[run->njobs++];
        cache_template(c, &j->tmpl[j->ntmpl++], PKG_F_CORE_FULL | PKG_F_SCRIPT, PKG_FROM_ANY);
    }
}

/* Run the planned jobs on up to c->jobs threads (0 = one per CPU). The
 * encoder is pure computation over shared read-only inputs, so threads
 * need no locking beyond the job counter and the callback. */
static enum ota_err cache_run_all(struct cache_run *run, char *msg)
{
    pthread_t tid[16];
    long n = run->c->jobs ? run->c->jobs : sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    if (n > run->njobs)
        n = run->njobs;
    if (n > (long)(sizeof tid / sizeof tid[0]))
        n = sizeof tid / sizeof tid[0];
    int started = 0;
    for (; started < n - 1; started++)
        if (pthread_create(&tid[started], NULL, cache_worker, run) != 0)
            break;
    cache_worker(run); /* the calling thread works too */
    for (int i = 0; i < started; i++)
        pthread_join(tid[i], NULL);
    if (run->err != OTA_OK)
        return ota_fail(msg, run->err, "%s", run->msg);
    return OTA_OK;
}

enum ota_err cache_build(const struct cfg_ota *c, cache_package_cb cb, void *ctx, char *msg)
{
    return cache_build_checked(c, cb, ctx, NULL, msg);
}

enum ota_err cache_build_checked(const struct cfg_ota *c, cache_package_cb cb, void *ctx,
                                 int *bad_input, char *msg)
{
    return cache_build_set(c, NULL, cb, ctx, bad_input, msg);
}

enum ota_err cache_build_set(const struct cfg_ota *c, const struct cache_build_set *set,
                             cache_package_cb cb, void *ctx, int *bad_input, char *msg)
{
    static struct cache_release r;
    static struct cache_run run;
    memset(&r, 0, sizeof r);
    memset(&run, 0, sizeof run);
    enum ota_err e = cache_read_release(c, set, &r, msg);
    if (bad_input)
        *bad_input = e != OTA_OK;
    if (e == OTA_OK) {
        run.c = c;
        run.r = &r;
        run.cb = cb;
        run.ctx = ctx;
        e = io_mkdirs(c->cache_dir, 0755, msg);
        pthread_mutex_init(&run.mu, NULL);
        cache_plan(&run, set && set->old_only);
        if (e == OTA_OK)
            e = cache_run_all(&run, msg);
        pthread_mutex_destroy(&run.mu);
    }
    cache_release_free(&r);
    return e;
}
