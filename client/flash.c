/* flash.c - file operations of the simulated flash (see flash.h).
 *
 * Every operation that changes which bytes a final name refers to ends with
 * an fsync of the directory, so that after a power cut the journal and the
 * files agree.
 */
#include "flash.h"

#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const dev_file_names[DEV_F__COUNT] = {
    [DEV_F_INI] = "device.ini",    [DEV_F_CORE] = "core.bin",     [DEV_F_SCRIPT] = "script.bin",
    [DEV_F_PART] = "download.part", [DEV_F_PKG] = "download.pkg", [DEV_F_JOURNAL] = "journal",
    [DEV_F_STAGING] = "staging",   [DEV_F_OLD_CORE] = "core.new", [DEV_F_OLD_SCRIPT] = "script.new",
    [DEV_F_OLD_REPORT] = "report.pending",
};

/* One process per device: a second one would sweep the first one's
 * temporaries and interleave journal writes. */
static enum ota_err dev_flash_lock(struct dev_flash *f, const char *dir, char *msg)
{
    f->lock_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (f->lock_fd < 0)
        return ota_fail(msg, OTA_E_IO, "%s: %s", dir, strerror(errno));
    if (flock(f->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        close(f->lock_fd);
        f->lock_fd = -1;
        return ota_fail(msg, OTA_E_STATE, "%s: %s", dir,
                        err == EWOULDBLOCK ? "in use by another ota-client" : strerror(err));
    }
    return OTA_OK;
}

void dev_flash_step(const struct dev_flash *f)
{
    if (f->step)
        f->step(f->step_ctx);
}

enum ota_err dev_flash_open(struct dev_flash *f, const char *dir, char *msg)
{
    struct stat st;
    f->lock_fd = -1;
    f->step = NULL;
    f->step_ctx = NULL;
    errno = 0;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return ota_fail(msg, OTA_E_NOTFOUND, "state directory %s: %s", dir,
                        errno ? strerror(errno) : "not a directory");
    for (int i = 0; i < DEV_F__COUNT; i++) {
        int n = snprintf(f->path[i], DEV_PATH_MAX, "%s/%s", dir, dev_file_names[i]);
        /* Leave room for io_atomic's ".tmp.<pid>" suffix. */
        if (n < 0 || n >= DEV_PATH_MAX - 32)
            return ota_fail(msg, OTA_E_LIMIT, "state directory path too long: %s", dir);
    }
    return dev_flash_lock(f, dir, msg);
}

void dev_flash_close(struct dev_flash *f)
{
    if (f->lock_fd >= 0)
        close(f->lock_fd); /* releases the flock */
    f->lock_fd = -1;
}

const char *dev_flash_path(const struct dev_flash *f, enum dev_file which)
{
    return f->path[which];
}

enum ota_err dev_flash_remove(struct dev_flash *f, enum dev_file which, char *msg)
{
    dev_flash_step(f);
    if (unlink(f->path[which]) != 0) {
        if (errno == ENOENT)
            return OTA_OK;
        return ota_fail(msg, OTA_E_IO, "%s: %s", f->path[which], strerror(errno));
    }
    return io_sync_parent(f->path[which], msg);
}

enum ota_err dev_flash_install(struct dev_flash *f, enum dev_file from, enum dev_file to,
                               char *msg)
{
    dev_flash_step(f);
    if (rename(f->path[from], f->path[to]) != 0)
        return ota_fail(msg, errno == ENOENT ? OTA_E_NOTFOUND : OTA_E_IO, "rename %s -> %s: %s",
                        f->path[from], f->path[to], strerror(errno));
    return io_sync_parent(f->path[to], msg);
}

int dev_flash_exists(const struct dev_flash *f, enum dev_file which)
{
    struct stat st;
    return stat(f->path[which], &st) == 0 && S_ISREG(st.st_mode);
}

/* "<known name>.tmp.<digits>" and nothing else, so user files survive. */
static int dev_is_temp(const char *name)
{
    for (int i = 0; i < DEV_F__COUNT; i++) {
        size_t n = strlen(dev_file_names[i]);
        if (strncmp(name, dev_file_names[i], n) != 0 || strncmp(name + n, ".tmp.", 5) != 0)
            continue;
        const char *d = name + n + 5;
        if (*d == '\0')
            return 0;
        for (; *d; d++)
            if (*d < '0' || *d > '9')
                return 0;
        return 1;
    }
    return 0;
}

void dev_flash_sweep_temps(struct dev_flash *f)
{
    char dir[DEV_PATH_MAX], p[DEV_PATH_MAX + 300];
    const char *slash = strrchr(f->path[DEV_F_INI], '/');
    size_t n = (size_t)(slash - f->path[DEV_F_INI]);
    memcpy(dir, f->path[DEV_F_INI], n);
    dir[n] = '\0';
    DIR *d = opendir(dir);
    if (!d)
        return;
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        if (!dev_is_temp(de->d_name))
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        if (unlink(p) == 0)
            log_msg(LOG_L_DEBUG, "removed stale temporary %s", p);
    }
    closedir(d);
}
