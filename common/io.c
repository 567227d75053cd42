/* io.c - file and memory implementations of the io.h callback interfaces.
 *
 * The atomic writer is the only way durable files are produced (packages,
 * keys, device state): a reader of the final name sees either the old file
 * or the complete new one, never a prefix.
 */
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum ota_err io_read_at(const struct io_reader *r, uint64_t off, void *buf, size_t len)
{
    if (off > r->size || len > r->size - off)
        return OTA_E_CORRUPT;
    if (len == 0)
        return OTA_OK;
    return r->read_at(r->ctx, off, buf, len);
}

enum ota_err io_write(const struct io_writer *w, const void *buf, size_t len)
{
    if (len == 0)
        return OTA_OK;
    return w->write(w->ctx, buf, len);
}

static enum ota_err io_mem_read_at(void *ctx, uint64_t off, void *buf, size_t len)
{
    memcpy(buf, (const uint8_t *)ctx + off, len);
    return OTA_OK;
}

void io_mem_reader(struct io_reader *r, const void *buf, size_t len)
{
    r->read_at = io_mem_read_at;
    r->size = len;
    r->ctx = (void *)(uintptr_t)buf;
}

static enum ota_err io_mem_write(void *ctx, const void *buf, size_t len)
{
    struct io_mem_sink *s = ctx;
    if (len > s->cap - s->len)
        return OTA_E_LIMIT;
    memcpy(s->buf + s->len, buf, len);
    s->len += len;
    return OTA_OK;
}

void io_mem_writer(struct io_writer *w, struct io_mem_sink *sink)
{
    w->write = io_mem_write;
    w->ctx = sink;
}

static enum ota_err io_file_read_at(void *ctx, uint64_t off, void *buf, size_t len)
{
    int fd = (int)(intptr_t)ctx;
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n == 0 ? OTA_E_CORRUPT : OTA_E_IO;
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return OTA_OK;
}

enum ota_err io_file_reader_open(struct io_reader *r, const char *path, char *msg)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0)
        return ota_fail(msg, errno == ENOENT ? OTA_E_NOTFOUND : OTA_E_IO, "%s: %s", path,
                        strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return ota_fail(msg, OTA_E_IO, "%s: not a regular file", path);
    }
    r->read_at = io_file_read_at;
    r->size = (uint64_t)st.st_size;
    r->ctx = (void *)(intptr_t)fd;
    return OTA_OK;
}

void io_file_reader_close(struct io_reader *r)
{
    if (r->read_at == io_file_read_at)
        close((int)(intptr_t)r->ctx);
    r->read_at = NULL;
}

enum ota_err io_sync_parent(const char *path, char *msg)
{
    char copy[1024];
    if (ota_strlcpy(copy, path, sizeof copy) != OTA_OK)
        return ota_fail(msg, OTA_E_LIMIT, "path too long: %s", path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return ota_fail(msg, OTA_E_IO, "%s: %s", path, strerror(errno));
    int rc = fsync(fd);
    close(fd);
    if (rc != 0)
        return ota_fail(msg, OTA_E_IO, "fsync dir of %s: %s", path, strerror(errno));
    return OTA_OK;
}

enum ota_err io_atomic_open(struct io_atomic *a, const char *path, int mode, char *msg)
{
    if (ota_strlcpy(a->path, path, sizeof a->path) != OTA_OK)
        return ota_fail(msg, OTA_E_LIMIT, "path too long: %s", path);
    snprintf(a->tmp, sizeof a->tmp, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(a->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return ota_fail(msg, OTA_E_IO, "%s: %s", a->tmp, strerror(errno));
    a->fp = fdopen(fd, "wb");
    if (!a->fp) {
        close(fd);
        unlink(a->tmp);
        return ota_fail(msg, OTA_E_IO, "%s: %s", a->tmp, strerror(errno));
    }
    return OTA_OK;
}

static enum ota_err io_atomic_write(void *ctx, const void *buf, size_t len)
{
    struct io_atomic *a = ctx;
    return fwrite(buf, 1, len, a->fp) == len ? OTA_OK : OTA_E_IO;
}

void io_atomic_writer(struct io_writer *w, struct io_atomic *a)
{
    w->write = io_atomic_write;
    w->ctx = a;
}

enum ota_err io_atomic_commit(struct io_atomic *a, char *msg)
{
    int bad = fflush(a->fp) != 0 || fsync(fileno(a->fp)) != 0;
    int err = errno;
    if (fclose(a->fp) != 0 && !bad) {
        bad = 1;
        err = errno;
    }
    a->fp = NULL;
    if (bad) {
        unlink(a->tmp);
        return ota_fail(msg, OTA_E_IO, "%s: %s", a->tmp, strerror(err));
    }
    if (rename(a->tmp, a->path) != 0) {
        err = errno;
        unlink(a->tmp);
        return ota_fail(msg, OTA_E_IO, "rename to %s: %s", a->path, strerror(err));
    }
    return io_sync_parent(a->path, msg);
}

void io_atomic_abort(struct io_atomic *a)
{
    if (a->fp)
        fclose(a->fp);
    a->fp = NULL;
    unlink(a->tmp);
}

enum ota_err io_file_write_all(const char *path, const void *buf, size_t len, int mode, char *msg)
{
    struct io_atomic a;
    enum ota_err e = io_atomic_open(&a, path, mode, msg);
    if (e != OTA_OK)
        return e;
    if (len && fwrite(buf, 1, len, a.fp) != len) {
        io_atomic_abort(&a);
        return ota_fail(msg, OTA_E_IO, "%s: write failed", path);
    }
    return io_atomic_commit(&a, msg);
}

enum ota_err io_file_check_private(const char *path, char *msg)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return ota_fail(msg, errno == ENOENT ? OTA_E_NOTFOUND : OTA_E_IO, "%s: %s", path,
                        strerror(errno));
    if (!S_ISREG(st.st_mode))
        return ota_fail(msg, OTA_E_INVAL, "%s: not a regular file", path);
    if (st.st_mode & (S_IRWXG | S_IRWXO))
        return ota_fail(msg, OTA_E_PERM, "%s: mode %03o lets other "
                        "users read it; run: chmod 600 %s", path,
                        (unsigned)(st.st_mode & 0777), path);
    return OTA_OK;
}

enum ota_err io_file_read_all(const char *path, size_t max, uint8_t **out, size_t *len, char *msg)
{
    struct io_reader r;
    enum ota_err e = io_file_reader_open(&r, path, msg);
    if (e != OTA_OK)
        return e;
    if (r.size > max) {
        io_file_reader_close(&r);
        return ota_fail(msg, OTA_E_LIMIT, "%s: %llu bytes exceeds limit %zu", path,
                        (unsigned long long)r.size, max);
    }
    uint8_t *buf = malloc((size_t)r.size + 1);
    if (!buf) {
        io_file_reader_close(&r);
        return ota_fail(msg, OTA_E_NOMEM, "%s: cannot allocate %llu bytes", path,
                        (unsigned long long)r.size);
    }
    e = io_read_at(&r, 0, buf, (size_t)r.size);
    io_file_reader_close(&r);
    if (e != OTA_OK) {
        free(buf);
        return ota_fail(msg, e, "%s: read failed", path);
    }
    buf[r.size] = '\0';
    *out = buf;
    *len = (size_t)r.size;
    return OTA_OK;
}

enum ota_err io_mkdirs(const char *dir, int mode, char *msg)
{
    char path[1024];
    if (ota_strlcpy(path, dir, sizeof path) != OTA_OK)
        return ota_fail(msg, OTA_E_LIMIT, "path too long: %s", dir);
    for (char *p = path + 1; ; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(path, (mode_t)mode) != 0 && errno != EEXIST)
            return ota_fail(msg, OTA_E_IO, "mkdir %s: %s", path, strerror(errno));
        *p = saved;
        if (saved == '\0')
            return OTA_OK;
    }
}
