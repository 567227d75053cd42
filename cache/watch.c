/* watch.c - `ota-cache watch`: the small service that publishes release
 * drops from [cache] drop_dir and runs the build spool (drop.h).
 *
 * It holds the signing key so ota-server never needs it. Each
 * subdirectory of drop_dir is one drop; files at the top level and dot
 * entries are ignored (.done/ and .rejected/ live there). A drop is
 * published once it is settled (drop_settled): it has its marker (a
 * release.ini, which the operator copies last; a platform script file; or
 * an empty ".done" file), no dot-file (rsync and many copiers write to a
 * hidden temp name and rename), and no entry changed (mtime or ctime, so
 * `cp -p` cannot fake an old file) for [cache] drop_settle seconds. Then it
 * moves to .done/<name>-<UTC time>/, or to .rejected/<name>-<time>/ with
 * a REASON file when refused or when the publish failed.
 * Wake-ups: inotify on drop_dir and spool_dir, a 250 ms poll while a drop
 * settles, and a backstop pass every `backstop` seconds (missed events,
 * network file systems). sd_notify: READY, STATUS after each pass,
 * WATCHDOG each loop.
 */
#include "drop.h"

#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#define DROP_WATCH_SETTLE_POLL_MS 250

static long long drop_stat_newest(const struct stat *st)
{
    long long m = st->st_mtim.tv_sec, c = st->st_ctim.tv_sec;
    return m > c ? m : c;
}

int drop_settled(const char *dir, int settle, long long now)
{
    struct stat st;
    struct dirent *de;
    int marker = 0, busy = 0;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return 0;
    long long newest = drop_stat_newest(&st);
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    while (!busy && (de = readdir(d)) != NULL) {
        char path[CFG_PATH_MAX + 300];
        size_t n = strlen(de->d_name);
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (!strcmp(de->d_name, ".done") || !strcmp(de->d_name, "release.ini") ||
            (n > 11 && !strcmp(de->d_name + n - 11, "_script.bin")))
            marker = 1;
        else if (de->d_name[0] == '.')
            busy = 1;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (lstat(path, &st) == 0 && drop_stat_newest(&st) > newest)
            newest = drop_stat_newest(&st);
    }
    closedir(d);
    return marker && !busy && now - newest >= settle;
}

/* Move drop name out of drop_dir into sub/<name>-<time>[-N]; the new
 * path in out. */
static enum ota_err drop_move_aside(const struct cfg_ota *c, const char *name, const char *sub,
                                    char *out, size_t outlen, char *msg)
{
    char from[CFG_PATH_MAX + 300], stamp[32];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    snprintf(from, sizeof from, "%s/%s", c->drop_dir, name);
    for (int i = 0; i < 100; i++) {
        if (i == 0)
            snprintf(out, outlen, "%s/%s/%s-%s", c->drop_dir, sub, name, stamp);
        else
            snprintf(out, outlen, "%s/%s/%s-%s-%d", c->drop_dir, sub, name, stamp, i);
        if (access(out, F_OK) == 0)
            continue;
        if (rename(from, out) != 0)
            return ota_fail(msg, OTA_E_IO, "move %s to %s: %s", from, out, strerror(errno));
        return io_sync_parent(from, msg);
    }
    return ota_fail(msg, OTA_E_IO, "move %s: no free name in %s", from, sub);
}

static void drop_watch_reject(const struct cfg_ota *c, const char *name, int refused,
                              const char *why)
{
    char to[CFG_PATH_MAX + 400], reason[OTA_MSG_LEN + 128], msg[OTA_MSG_LEN];
    if (drop_move_aside(c, name, ".rejected", to, sizeof to, msg) != OTA_OK) {
        log_msg(LOG_L_ERROR, "watch: %s", msg);
        return;
    }
    snprintf(reason, sizeof reason, "%s: %s\n", refused ? "refused" : "publish failed", why);
    strncat(to, "/REASON", sizeof to - strlen(to) - 1);
    if (io_file_write_all(to, reason, strlen(reason), 0644, msg) != OTA_OK)
        log_msg(LOG_L_ERROR, "watch: %s", msg);
}

static void drop_watch_publish(const struct cfg_ota *c, const char *name)
{
    char dir[CFG_PATH_MAX + 300], to[CFG_PATH_MAX + 400], msg[OTA_MSG_LEN];
    char core[VER_CORE_STR_MAX], script[VER_SCRIPT_STR_MAX];
    struct drop_result res;
    snprintf(dir, sizeof dir, "%s/%s", c->drop_dir, name);
    enum ota_err e = drop_publish(c, dir, &res, msg);
    if (e != OTA_OK) {
        log_msg(LOG_L_ERROR, "watch: drop %s %s: %s", name,
                res.refused ? "refused" : "not published", msg);
        drop_watch_reject(c, name, res.refused, msg);
        return;
    }
    ver_core_format(&res.rel.core, core);
    ver_script_format(&res.rel.script, script);
    log_msg(LOG_L_INFO, "watch: drop %s published: %s core %s script %s (%d built, %d "
            "unchanged, %d vendor, %d pruned)", name, res.rel.project, core, script, res.built,
            res.unchanged, res.vendor, res.pruned);
    sd_notifyf(0, "STATUS=published %s: %s %s", name, core, script);
    if (drop_move_aside(c, name, ".done", to, sizeof to, msg) != OTA_OK)
        log_msg(LOG_L_ERROR, "watch: %s", msg);
}

/* One pass over drop_dir: publish what settled; the count still settling. */
static int drop_watch_drops(const struct cfg_ota *c)
{
    DIR *d = opendir(c->drop_dir);
    struct dirent *de;
    char names[16][256];
    int n = 0, pending = 0;
    long long now = time(NULL);
    if (!d)
        return 0;
    while ((de = readdir(d)) != NULL && n < 16) {
        char path[CFG_PATH_MAX + 300];
        struct stat st;
        if (de->d_name[0] == '.' || strlen(de->d_name) >= 200)
            continue;
        snprintf(path, sizeof path, "%s/%s", c->drop_dir, de->d_name);
        if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
            continue;
        if (drop_settled(path, c->drop_settle, now))
            ota_strlcpy(names[n++], de->d_name, sizeof names[0]);
        else
            pending++;
    }
    closedir(d);
    for (int i = 0; i < n; i++)
        drop_watch_publish(c, names[i]);
    return pending;
}

static enum ota_err drop_watch_setup(const struct cfg_ota *c, int *fd, char *msg)
{
    char sub[CFG_PATH_MAX + 16];
    enum ota_err e;
    if (!c->drop_dir[0])
        return ota_fail(msg, OTA_E_INVAL, "[cache] drop_dir is not set: nothing to watch");
    snprintf(sub, sizeof sub, "%s/.rejected", c->drop_dir);
    if ((e = io_mkdirs(sub, 0755, msg)) != OTA_OK)
        return e;
    snprintf(sub, sizeof sub, "%s/.done", c->drop_dir);
    if ((e = io_mkdirs(sub, 0755, msg)) != OTA_OK || (e = io_mkdirs(c->spool_dir, 0755, msg)))
        return e;
    *fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (*fd < 0)
        return ota_fail(msg, OTA_E_IO, "inotify: %s", strerror(errno));
    uint32_t mask = IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE;
    if (inotify_add_watch(*fd, c->drop_dir, mask) < 0 ||
        inotify_add_watch(*fd, c->spool_dir, mask) < 0) {
        close(*fd);
        return ota_fail(msg, OTA_E_IO, "inotify watch: %s", strerror(errno));
    }
    return OTA_OK;
}

enum ota_err drop_watch(const struct cfg_ota *c, volatile int *stop, int backstop, char *msg)
{
    char events[4096];
    uint64_t wd_usec = 0;
    int fd = -1, done_total = 0, failed_total = 0;
    enum ota_err e = drop_watch_setup(c, &fd, msg);
    if (e != OTA_OK)
        return e;
    int max_ms = backstop * 1000;
    if (sd_watchdog_enabled(0, &wd_usec) > 0 && wd_usec / 2000 < (uint64_t)max_ms)
        max_ms = (int)(wd_usec / 2000);
    log_msg(LOG_L_INFO, "watch: drops in %s, requests in %s (settle %d s)", c->drop_dir,
            c->spool_dir, c->drop_settle);
    sd_notifyf(0, "READY=1\nSTATUS=watching %s\nMAINPID=%lu", c->drop_dir,
               (unsigned long)getpid());
    while (!*stop) {
        int done, failed;
        int pending = drop_watch_drops(c);
        if (drop_spool_run(c, &done, &failed, msg) != OTA_OK)
            log_msg(LOG_L_ERROR, "watch: spool: %s", msg);
        done_total += done;
        failed_total += failed;
        if (done || failed)
            sd_notifyf(0, "STATUS=watching %s; %d build request(s) done, %d failed", c->drop_dir,
                       done_total, failed_total);
        sd_notify(0, "WATCHDOG=1");
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, pending ? DROP_WATCH_SETTLE_POLL_MS : max_ms) > 0)
            while (read(fd, events, sizeof events) > 0)
                ; /* the pass rescans everything: the events only wake us */
    }
    sd_notify(0, "STOPPING=1\nSTATUS=stopping");
    close(fd);
    return OTA_OK;
}
