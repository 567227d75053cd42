/* index.c - scan, verify, map and watch the package cache (index.h).
 *
 * Sections: 1. one package (load, ref/unref), 2. directory scan,
 * 3. inotify watch and the periodic tick.
 * A scan builds complete new arrays and swaps them in only at the end, so a
 * failure half-way (out of memory, unreadable directory) leaves the
 * previous index serving.
 */
#include "index.h"

#include "log.h"
#include "vendor.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

/* Two full images plus slack: anything bigger cannot be a valid package. */
#define SRV_PKG_SIZE_MAX ((uint64_t)PKG_IMAGE_MAX * 2 + (1u << 20))

/* ---- 1. one package ------------------------------------------------------ */

static int srv_name_is_vendor(const char *name)
{
    size_t n = strlen(name), k = strlen(VENDOR_MANIFEST_SUFFIX);
    return n > k && strcmp(name + n - k, VENDOR_MANIFEST_SUFFIX) == 0;
}

void srv_pkg_count_block(const struct srv_pkg *p, size_t len, int started, int last)
{
    struct srv_pkg *w = (struct srv_pkg *)(uintptr_t)p;
    w->sent_blocks++;
    w->sent_bytes += len;
    w->downloads_started += started != 0;
    w->downloads_completed += last != 0;
}

/* Atomic: the device HTTP thread drops its reference when an answer that
 * streamed the package ends, while the CoAP thread may rescan. */
void srv_pkg_ref(struct srv_pkg *p)
{
    __atomic_fetch_add(&p->refs, 1u, __ATOMIC_RELAXED);
}

void srv_pkg_unref(struct srv_pkg *p)
{
    if (!p || __atomic_sub_fetch(&p->refs, 1u, __ATOMIC_ACQ_REL) > 0)
        return;
    free((void *)(uintptr_t)p->map);
    free(p);
}

static int srv_same_file(const struct srv_pkg *p, const struct stat *st)
{
    return p->dev == st->st_dev && p->ino == st->st_ino && p->size == st->st_size &&
           p->mtime.tv_sec == st->st_mtim.tv_sec && p->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

/* Read size bytes of fd into a new buffer with pread (a short read is an
 * error). */
static enum ota_err srv_fd_read(int fd, size_t size, uint8_t **out, char *msg)
{
    uint8_t *buf = malloc(size ? size : 1);
    size_t got = 0;
    if (!buf)
        return ota_fail(msg, OTA_E_NOMEM, "%zu bytes: out of memory", size);
    while (got < size) {
        ssize_t k = pread(fd, buf + got, size - got, (off_t)got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            free(buf);
            return ota_fail(msg, OTA_E_IO, "read at %zu: %s", got,
                            k < 0 ? strerror(errno) : "file shrank while being read");
        }
        got += (size_t)k;
    }
    *out = buf;
    return OTA_OK;
}

static enum ota_err srv_pkg_read(struct srv_pkg *p, int fd, char *msg)
{
    uint8_t *buf;
    enum ota_err e = srv_fd_read(fd, (size_t)p->size, &buf, msg);
    if (e != OTA_OK)
        return e;
    p->map = buf;
    p->len = (size_t)p->size;
    return OTA_OK;
}

/* NAME.vendor for the manifest NAME.vendor.ini. */
static void srv_vendor_data_name(const char *manifest, char *out)
{
    size_t n = strlen(manifest) - 4; /* ".ini" */
    memcpy(out, manifest, n);
    out[n] = '\0';
}

static void srv_pkg_data_identity(struct srv_pkg *p, const struct stat *st)
{
    p->data_dev = st->st_dev;
    p->data_ino = st->st_ino;
    p->data_size = st->st_size;
    p->data_mtime = st->st_mtim;
}

/* Is the vendor package's NAME.vendor the file that was loaded? */
static int srv_same_data(const struct srv_pkg *p, int dfd)
{
    char data[SRV_NAME_MAX];
    struct stat st;
    srv_vendor_data_name(p->name, data);
    return fstatat(dfd, data, &st, 0) == 0 && p->data_dev == st.st_dev &&
           p->data_ino == st.st_ino && p->data_size == st.st_size &&
           p->data_mtime.tv_sec == st.st_mtim.tv_sec &&
           p->data_mtime.tv_nsec == st.st_mtim.tv_nsec;
}

/* The bytes of NAME.vendor, which must have the manifest's size and hash. */
static enum ota_err srv_vendor_data(struct srv_pkg *p, int dfd, const struct vendor_manifest *m,
                                    char *msg)
{
    char data[SRV_NAME_MAX];
    struct stat st;
    uint8_t *buf = NULL;
    srv_vendor_data_name(p->name, data);
    int fd = openat(dfd, data, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    enum ota_err e = OTA_OK;
    if (fd < 0 || fstat(fd, &st) != 0)
        e = ota_fail(msg, OTA_E_IO, "%s: %s", data, strerror(errno));
    else if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != m->size)
        e = ota_fail(msg, OTA_E_CORRUPT, "%s: %lld bytes, the manifest says %llu", data,
                     (long long)st.st_size, (unsigned long long)m->size);
    else if ((e = srv_fd_read(fd, (size_t)m->size, &buf, msg)) == OTA_OK)
        crypto_sha256(buf, (size_t)m->size, p->hash);
    if (fd >= 0)
        close(fd);
    if (e == OTA_OK && memcmp(p->hash, m->sha256, CRYPTO_HASH_LEN) != 0)
        e = ota_fail(msg, OTA_E_CORRUPT, "%s: SHA-256 differs from the manifest's", data);
    if (e != OTA_OK) {
        free(buf);
        return e;
    }
    srv_pkg_data_identity(p, &st);
    p->map = buf;
    p->len = (size_t)m->size;
    return OTA_OK;
}

/* A vendor manifest (fd) and the bytes it describes. */
static enum ota_err srv_vendor_verify(struct srv_pkg *p, int fd, int dfd, char *msg)
{
    struct vendor_manifest m;
    uint8_t *text;
    if (p->size > VENDOR_MANIFEST_MAX)
        return ota_fail(msg, OTA_E_LIMIT, "manifest over %d bytes", VENDOR_MANIFEST_MAX);
    enum ota_err e = srv_fd_read(fd, (size_t)p->size, &text, msg);
    if (e != OTA_OK)
        return e;
    e = vendor_manifest_parse((const char *)text, (size_t)p->size, p->name, &m, msg);
    free(text);
    if (e == OTA_OK)
        e = srv_vendor_data(p, dfd, &m, msg);
    if (e != OTA_OK)
        return e;
    vendor_header(&m, &p->h);
    p->ok = 1;
    return OTA_OK;
}

/* Load p's file and verify it; on failure p stays with ok == 0 and no
 * bytes. The bytes are a private copy, not a shared mapping: a file
 * rewritten or truncated in place (cp over it) can then neither change
 * the bytes served under an old ETag nor fault (SIGBUS) the server; the
 * next scan picks the new contents up as a new package. */
static enum ota_err srv_pkg_verify(struct srv_pkg *p, int fd, const uint8_t *pub, char *msg)
{
    struct io_reader r;
    if (p->size < PKG_HEADER_LEN + PKG_SIG_LEN || (uint64_t)p->size > SRV_PKG_SIZE_MAX)
        return ota_fail(msg, OTA_E_CORRUPT, "size %lld is not that of a package",
                        (long long)p->size);
    enum ota_err e = srv_pkg_read(p, fd, msg);
    if (e != OTA_OK)
        return e;
    io_mem_reader(&r, p->map, p->len);
    e = pkg_verify(&r, (const uint8_t(*)[CRYPTO_PUB_LEN])pub, 1, &p->h, msg);
    if (e != OTA_OK) {
        free((void *)(uintptr_t)p->map);
        p->map = NULL;
        return e;
    }
    crypto_sha256(p->map, p->len, p->hash);
    p->ok = 1;
    return OTA_OK;
}

static void srv_pkg_identity(struct srv_pkg *p, const struct stat *st)
{
    p->dev = st->st_dev;
    p->ino = st->st_ino;
    p->size = st->st_size;
    p->mtime = st->st_mtim;
}

/* A new entry for dir/name, whose stat the caller took (so that a file we
 * cannot open is not retried and logged on every scan); NULL only when out
 * of memory. The identity kept is the opened file's own. */
static struct srv_pkg *srv_pkg_load(int dfd, const char *name, const struct stat *dst,
                                    const uint8_t *pub)
{
    char msg[OTA_MSG_LEN] = "";
    struct stat st;
    struct srv_pkg *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->refs = 1;
    memcpy(p->name, name, strlen(name) + 1);
    p->vendor = srv_name_is_vendor(name);
    srv_pkg_identity(p, dst);
    int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    enum ota_err e = OTA_E_IO;
    if (fd < 0 || fstat(fd, &st) != 0) {
        ota_fail(msg, OTA_E_IO, "open: %s", strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        ota_fail(msg, OTA_E_INVAL, "not a regular file");
    } else {
        srv_pkg_identity(p, &st);
        e = p->vendor ? srv_vendor_verify(p, fd, dfd, msg) : srv_pkg_verify(p, fd, pub, msg);
    }
    if (fd >= 0)
        close(fd);
    if (e == OTA_OK) {
        char etag[2 * SRV_ETAG_LEN + 1];
        ota_hex(p->hash, SRV_ETAG_LEN, etag);
        log_msg(LOG_L_INFO, "index: loaded %s (%s %u->%u, %lld bytes, etag %s)", name,
                pkg_contents_name(p->h.flags), p->h.from_core, p->h.to_core,
                (long long)p->size, etag);
    } else {
        log_msg(LOG_L_WARN, "index: skipping %s: %s", name, msg);
    }
    return p;
}

/* ---- 2. directory scan --------------------------------------------------- */

static int srv_name_wanted(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' && n > 4 && n < SRV_NAME_MAX && !strstr(name, ".tmp.") &&
           (strcmp(name + n - 4, ".pkg") == 0 || srv_name_is_vendor(name));
}

static int srv_name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void srv_names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Sorted names of the candidate files; at most SRV_INDEX_FILES_MAX. */
static enum ota_err srv_list(DIR *d, char ***out, size_t *nout, char *msg)
{
    char **names = calloc(SRV_INDEX_FILES_MAX, sizeof *names);
    size_t n = 0;
    struct dirent *de;
    if (!names)
        return ota_fail(msg, OTA_E_NOMEM, "index: out of memory");
    errno = 0;
    while ((de = readdir(d)) != NULL) {
        if (!srv_name_wanted(de->d_name))
            continue;
        if (n == SRV_INDEX_FILES_MAX) {
            log_msg(LOG_L_WARN, "index: more than %d packages, ignoring the rest",
                    SRV_INDEX_FILES_MAX);
            break;
        }
        if (!(names[n] = strdup(de->d_name))) {
            srv_names_free(names, n);
            return ota_fail(msg, OTA_E_NOMEM, "index: out of memory");
        }
        n++;
    }
    qsort(names, n, sizeof *names, srv_name_cmp);
    *out = names;
    *nout = n;
    return OTA_OK;
}

static struct srv_pkg *srv_find_old(const struct srv_index *x, const char *name)
{
    size_t lo = 0, hi = x->nall;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(x->all[mid]->name, name);
        if (c == 0)
            return x->all[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* Entry for one name: the old one if the file is unchanged, else a new
 * one; *out is NULL if the file vanished since readdir. */
static enum ota_err srv_entry(struct srv_index *x, int dfd, const char *name,
                              struct srv_pkg **out)
{
    struct stat st;
    struct srv_pkg *old = srv_find_old(x, name);
    *out = NULL;
    if (fstatat(dfd, name, &st, 0) != 0)
        return OTA_OK;
    if (old && srv_same_file(old, &st) && (!old->vendor || !old->ok || srv_same_data(old, dfd))) {
        srv_pkg_ref(old);
        *out = old;
        return OTA_OK;
    }
    *out = srv_pkg_load(dfd, name, &st, x->pub);
    if (*out && old) {
        (*out)->sent_blocks = old->sent_blocks;
        (*out)->sent_bytes = old->sent_bytes;
        (*out)->downloads_started = old->downloads_started;
        (*out)->downloads_completed = old->downloads_completed;
    }
    return *out ? OTA_OK : OTA_E_NOMEM;
}

struct srv_scan {
    struct srv_pkg **all, **pkgs;
    const struct pkg_header **hdrs;
    size_t nall, n;
};

static void srv_scan_free(struct srv_scan *s)
{
    for (size_t i = 0; i < s->nall; i++)
        srv_pkg_unref(s->all[i]);
    free(s->all);
    free(s->pkgs);
    free(s->hdrs);
    memset(s, 0, sizeof *s);
}

static enum ota_err srv_scan_build(struct srv_index *x, DIR *d, struct srv_scan *s, char *msg)
{
    char **names = NULL;
    size_t nnames = 0;
    enum ota_err e = srv_list(d, &names, &nnames, msg);
    if (e != OTA_OK)
        return e;
    size_t cap = nnames ? nnames : 1;
    s->all = calloc(cap, sizeof *s->all);
    s->pkgs = calloc(cap, sizeof *s->pkgs);
    s->hdrs = calloc(cap, sizeof *s->hdrs);
    for (size_t i = 0; i < nnames && s->all && s->pkgs && s->hdrs; i++) {
        struct srv_pkg *p;
        if (srv_entry(x, dirfd(d), names[i], &p) != OTA_OK) {
            e = ota_fail(msg, OTA_E_NOMEM, "index: out of memory");
            break;
        }
        if (!p)
            continue;
        s->all[s->nall++] = p;
        if (p->ok) {
            s->pkgs[s->n] = p;
            s->hdrs[s->n++] = &p->h;
        }
    }
    if (e == OTA_OK && (!s->all || !s->pkgs || !s->hdrs))
        e = ota_fail(msg, OTA_E_NOMEM, "index: out of memory");
    srv_names_free(names, nnames);
    return e;
}

/* Log entries of the old index that the new one no longer has. */
static void srv_log_dropped(const struct srv_index *x, const struct srv_scan *s)
{
    for (size_t i = 0; i < x->nall; i++) {
        int kept = 0;
        for (size_t j = 0; j < s->nall && !kept; j++)
            kept = s->all[j] == x->all[i];
        if (!kept && x->all[i]->ok)
            log_msg(LOG_L_INFO, "index: dropped %s", x->all[i]->name);
    }
}

enum ota_err srv_index_rescan(struct srv_index *x, char *msg)
{
    struct srv_scan s;
    memset(&s, 0, sizeof s);
    DIR *d = opendir(x->dir);
    if (!d)
        return ota_fail(msg, OTA_E_IO, "cache directory %s: %s", x->dir, strerror(errno));
    enum ota_err e = srv_scan_build(x, d, &s, msg);
    closedir(d);
    if (e != OTA_OK) {
        srv_scan_free(&s);
        return e;
    }
    srv_log_dropped(x, &s);
    int changed = s.nall != x->nall || s.n != x->n;
    for (size_t i = 0; i < s.nall && !changed; i++)
        changed = s.all[i] != x->all[i];
    struct srv_scan old = {x->all, x->pkgs, x->hdrs, x->nall, x->n};
    x->all = s.all;
    x->pkgs = s.pkgs;
    x->hdrs = s.hdrs;
    x->nall = s.nall;
    x->n = s.n;
    srv_scan_free(&old);
    if (changed || x->gen == 0)
        x->gen++; /* invalidates every remembered selection (memo.h) */
    if (changed)
        log_msg(LOG_L_INFO, "index: %zu package(s) served, %zu skipped, from %s", x->n,
                x->nall - x->n, x->dir);
    return OTA_OK;
}

/* ---- 3. watch and tick --------------------------------------------------- */

static void srv_watch(struct srv_index *x)
{
    uint32_t mask = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE |
                    IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF;
    x->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (x->inotify_fd >= 0 && inotify_add_watch(x->inotify_fd, x->dir, mask) >= 0)
        return;
    log_msg(LOG_L_WARN, "index: inotify unavailable (%s); rescanning every %d ms only",
            strerror(errno), SRV_INDEX_PERIOD_MS);
    if (x->inotify_fd >= 0)
        close(x->inotify_fd);
    x->inotify_fd = -1;
}

enum ota_err srv_index_open(struct srv_index *x, const char *dir,
                            const uint8_t pub[CRYPTO_PUB_LEN], char *msg)
{
    memset(x, 0, sizeof *x);
    x->inotify_fd = -1;
    if (ota_strlcpy(x->dir, dir, sizeof x->dir) != OTA_OK)
        return ota_fail(msg, OTA_E_LIMIT, "cache directory path too long");
    memcpy(x->pub, pub, CRYPTO_PUB_LEN);
    enum ota_err e = srv_index_rescan(x, msg);
    if (e != OTA_OK)
        return e;
    srv_watch(x);
    return OTA_OK;
}

void srv_index_close(struct srv_index *x)
{
    struct srv_scan old = {x->all, x->pkgs, x->hdrs, x->nall, x->n};
    srv_scan_free(&old);
    if (x->inotify_fd >= 0)
        close(x->inotify_fd);
    memset(x, 0, sizeof *x);
    x->inotify_fd = -1;
}

/* Any event at all marks the directory dirty; names are not needed since a
 * rescan of unchanged files costs one stat each. */
static void srv_drain(struct srv_index *x, uint64_t now_ms)
{
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    if (x->inotify_fd < 0)
        return;
    while (read(x->inotify_fd, buf, sizeof buf) > 0) {
        x->dirty = 1;
        x->last_event_ms = now_ms;
    }
}

int srv_index_tick(struct srv_index *x, uint64_t now_ms)
{
    char msg[OTA_MSG_LEN];
    srv_drain(x, now_ms);
    int due = (x->dirty && now_ms - x->last_event_ms >= SRV_INDEX_SETTLE_MS) ||
              now_ms - x->last_scan_ms >= SRV_INDEX_PERIOD_MS;
    if (!due)
        return 0;
    x->dirty = 0;
    x->last_scan_ms = now_ms;
    if (srv_index_rescan(x, msg) != OTA_OK) {
        log_msg(LOG_L_WARN, "index: rescan failed, keeping the previous index: %s", msg);
        return -1;
    }
    return 1;
}
