/* lport.c - the Linux port of the device library (see lport.h).
 *
 * Sections: areas and their files; the odev_port functions (link, flash,
 * journal, install, log); progress; open and close.
 */
#include "lport.h"

#include "dback_host.h"
#include "io.h"
#include "journal/djournal.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define LPORT_AREA_MAX (128u << 20)  /* DOWNLOAD and STAGING: largest package */
#define LPORT_STEP_BYTES (64u << 10) /* staged bytes between two power-cut points */
#define LPORT_COPY 65536

/* --- areas and their files ---------------------------------------------- */

static const enum dev_file lport_area_file[ODEV_AREA__COUNT] = {
    [ODEV_AREA_DOWNLOAD] = DEV_F_PART, [ODEV_AREA_STAGING] = DEV_F_STAGING,
    [ODEV_AREA_CORE] = DEV_F_CORE,     [ODEV_AREA_SCRIPT] = DEV_F_SCRIPT,
};

static int lport_fail(struct lport *p, int err, const char *what, const char *path)
{
    snprintf(p->why, sizeof p->why, "%s %s: %s", what, path, strerror(errno));
    log_msg(LOG_L_DEBUG, "port: %s", p->why);
    return err;
}

static void lport_close_area(struct lport *p, enum odev_area a)
{
    if (p->fd[a] >= 0)
        close(p->fd[a]);
    p->fd[a] = -1;
    if (a == ODEV_AREA_DOWNLOAD && p->fd_pkg >= 0)
        close(p->fd_pkg);
    if (a == ODEV_AREA_DOWNLOAD)
        p->fd_pkg = -1;
}

/* The descriptor for a (writing: created if missing). DOWNLOAD reads come
 * from download.pkg once download.part is gone. -1 with p->why set. */
static int lport_fd(struct lport *p, enum odev_area a, int writing)
{
    if (a == ODEV_AREA_DOWNLOAD && !writing && p->fd[a] < 0 &&
        !dev_flash_exists(&p->flash, DEV_F_PART)) {
        if (p->fd_pkg < 0)
            p->fd_pkg = open(dev_flash_path(&p->flash, DEV_F_PKG), O_RDONLY | O_CLOEXEC);
        if (p->fd_pkg < 0)
            lport_fail(p, ODEV_E_IO, "open", dev_flash_path(&p->flash, DEV_F_PKG));
        return p->fd_pkg;
    }
    if (p->fd[a] >= 0)
        return p->fd[a];
    int slot = a == ODEV_AREA_CORE || a == ODEV_AREA_SCRIPT;
    const char *path = dev_flash_path(&p->flash, lport_area_file[a]);
    p->fd[a] = open(path, slot ? O_RDONLY | O_CLOEXEC : O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (p->fd[a] < 0)
        lport_fail(p, ODEV_E_IO, "open", path);
    return p->fd[a];
}

/* The whole range: short transfers and EINTR retried; a read past the
 * end of a slot is an error, of DOWNLOAD or STAGING erased flash. */
static int lport_io(struct lport *p, enum odev_area a, uint32_t off, uint8_t *buf, size_t len,
                    int writing)
{
    int fd = lport_fd(p, a, writing);
    if (fd < 0)
        return ODEV_E_IO;
    while (len > 0) {
        ssize_t n = writing ? pwrite(fd, buf, len, (off_t)off) : pread(fd, buf, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0 && !writing && a != ODEV_AREA_CORE && a != ODEV_AREA_SCRIPT) {
            memset(buf, 0xFF, len);
            return ODEV_OK;
        }
        if (n <= 0) {
            if (n == 0)
                errno = writing ? ENOSPC : EIO;
            return lport_fail(p, ODEV_E_IO, writing ? "write" : "read",
                              dev_flash_path(&p->flash, lport_area_file[a]));
        }
        buf += n;
        off += (uint32_t)n;
        len -= (size_t)n;
    }
    return ODEV_OK;
}

/* --- the port: link ----------------------------------------------------- */

static int lport_link(struct lport *p)
{
    if (p->link_open)
        return ODEV_OK;
    if (dgram_open(&p->link, p->url, p->dev, p->hs_limit_ms, p->why) != OTA_OK)
        return ODEV_E_NET;
    p->link_open = 1;
    return ODEV_OK;
}

static int lport_send(void *ctx, const uint8_t *buf, size_t len)
{
    struct lport *p = ctx;
    int e = lport_link(p);
    if (e == ODEV_OK && dgram_send(&p->link, buf, len, p->why) != OTA_OK)
        e = ODEV_E_NET;
    return e;
}

static int lport_recv(void *ctx, uint8_t *buf, size_t cap, size_t *len, uint32_t wait_ms)
{
    struct lport *p = ctx;
    int e = lport_link(p);
    if (e == ODEV_OK && dgram_recv(&p->link, buf, cap, len, wait_ms, p->why) != OTA_OK)
        e = ODEV_E_NET;
    return e != ODEV_OK ? e : *len ? ODEV_OK : ODEV_E_TIMEOUT;
}

static uint32_t lport_now(void *ctx)
{
    (void)ctx;
    return dgram_now_ms();
}

/* --- the port: flash ----------------------------------------------------- */

static int lport_read(void *ctx, enum odev_area a, uint32_t off, void *buf, size_t len)
{
    if ((unsigned)a >= ODEV_AREA__COUNT)
        return ODEV_E_INVAL;
    return lport_io(ctx, a, off, buf, len, 0);
}

static void lport_progress_download(struct lport *p);

static int lport_write(void *ctx, enum odev_area a, uint32_t off, const void *buf, size_t len)
{
    struct lport *p = ctx;
    if (a != ODEV_AREA_DOWNLOAD && a != ODEV_AREA_STAGING)
        return ODEV_E_INVAL; /* slots change only by install */
    if (a == ODEV_AREA_STAGING && (p->staged + len) / LPORT_STEP_BYTES != p->staged / LPORT_STEP_BYTES)
        dev_flash_step(&p->flash);
    int e = lport_io(p, a, off, (uint8_t *)(uintptr_t)buf, len, 1);
    if (a == ODEV_AREA_STAGING)
        p->staged += len;
    if (a == ODEV_AREA_DOWNLOAD && e == ODEV_OK) {
        p->downloaded += len;
        lport_progress_download(p);
    }
    return e;
}

/* Erased bytes read 0xFF: cut the file where the range reaches its end,
 * else write them. */
static int lport_erase(void *ctx, enum odev_area a, uint32_t off, uint32_t len)
{
    static const uint8_t ff[4096] = {[0 ... 4095] = 0xFF};
    struct lport *p = ctx;
    struct stat st;
    if (a != ODEV_AREA_DOWNLOAD && a != ODEV_AREA_STAGING)
        return ODEV_E_INVAL;
    int fd = lport_fd(p, a, 1);
    if (fd < 0 || fstat(fd, &st) != 0)
        return ODEV_E_IO;
    if ((uint64_t)off >= (uint64_t)st.st_size)
        return ODEV_OK;
    if ((uint64_t)off + len >= (uint64_t)st.st_size)
        return ftruncate(fd, (off_t)off) == 0 ? ODEV_OK
               : lport_fail(p, ODEV_E_IO, "truncate", dev_flash_path(&p->flash, lport_area_file[a]));
    for (uint32_t done = 0; done < len;) {
        uint32_t n = len - done < sizeof ff ? len - done : (uint32_t)sizeof ff;
        int e = lport_io(p, a, off + done, (uint8_t *)(uintptr_t)ff, n, 1);
        if (e != ODEV_OK)
            return e;
        done += n;
    }
    return ODEV_OK;
}

static int lport_sync(void *ctx, enum odev_area a)
{
    struct lport *p = ctx;
    if ((unsigned)a >= ODEV_AREA__COUNT)
        return ODEV_E_INVAL;
    if (p->fd[a] < 0)
        return ODEV_OK; /* nothing written through it */
    dev_flash_step(&p->flash);
    if (fsync(p->fd[a]) != 0)
        return lport_fail(p, ODEV_E_IO, "fsync", dev_flash_path(&p->flash, lport_area_file[a]));
    return ODEV_OK;
}

/* --- the port: journal ---------------------------------------------------- */

static uint64_t lport_be64(const uint8_t *b)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | b[i];
    return v;
}

/* A cut between the rename of download.part and the journal write that
 * says "downloaded": the rename happens only once every block is stored
 * and synced, so download.pkg without download.part, of the size the
 * journal names, is that package (verification checks it like any other). */
static void lport_download_renamed(struct lport *p, uint8_t rec[ODEV_JOURNAL_LEN])
{
    struct djournal j;
    struct stat st;
    const char *why;
    if (djournal_decode(rec, ODEV_JOURNAL_LEN, &j, &why) != ODEV_OK || j.phase != DJ_DOWNLOADING ||
        !j.size || dev_flash_exists(&p->flash, DEV_F_PART) ||
        stat(dev_flash_path(&p->flash, DEV_F_PKG), &st) != 0 || (uint64_t)st.st_size != j.size)
        return;
    log_msg(LOG_L_INFO, "recover: download.pkg is complete (%u bytes), not fetching it again",
            (unsigned)j.size);
    j.phase = DJ_DOWNLOADED;
    djournal_encode(&j, rec);
}

static int lport_installed(void *ctx, const struct odev_image *now);

static uint32_t lport_file_len(const struct lport *p, enum dev_file f)
{
    struct stat st;
    return stat(dev_flash_path(&p->flash, f), &st) == 0 ? (uint32_t)st.st_size : 0;
}

/* A state directory left mid-commit by an ota-client before issue 12: its
 * record (no images in it) says committing, and the new images wait in
 * core.new and script.new, each complete (they appeared by rename), not
 * in staging. Finish that commit as it did: rename each over its slot (a
 * missing one was renamed before the cut), save the versions into
 * device.ini; the library then gets a "committed" record with the images
 * and goes idle. Its success report (report.pending, written before the
 * commit) becomes the journal's pending report, from device.ini's
 * versions. Every step is idempotent: a cut in here redoes it. */
static int lport_old_commit(struct lport *p, uint8_t rec[ODEV_JOURNAL_LEN])
{
    static const enum dev_file staged[2] = {DEV_F_OLD_CORE, DEV_F_OLD_SCRIPT};
    static const enum dev_file slot[2] = {DEV_F_CORE, DEV_F_SCRIPT};
    struct djournal j;
    const char *why;
    if (djournal_decode(rec, ODEV_JOURNAL_LEN, &j, &why) != ODEV_OK || (j.flags & DJ_F_IMAGES) ||
        j.phase != DJ_COMMITTING)
        return ODEV_OK;
    log_msg(LOG_L_INFO, "recover: finishing an older ota-client's commit (core.new, script.new)");
    for (int i = 0; i < 2; i++)
        if ((j.slots & (i ? DJ_SLOT_SCRIPT : DJ_SLOT_CORE)) && dev_flash_exists(&p->flash, staged[i]) &&
            dev_flash_install(&p->flash, staged[i], slot[i], p->why) != OTA_OK)
            return ODEV_E_IO;
    j.img.core_len = lport_file_len(p, DEV_F_CORE);
    j.img.script_len = lport_file_len(p, DEV_F_SCRIPT);
    int e = lport_installed(p, &j.img);
    if (e != ODEV_OK)
        return e;
    if (dev_flash_exists(&p->flash, DEV_F_OLD_REPORT)) {
        j.flags |= DJ_F_REPORT;
        j.report = 0; /* success */
        j.reason = ODEV_R_NONE;
        j.from_core = p->dev->core.number;
        j.from_script[0] = p->dev->script.major;
        j.from_script[1] = p->dev->script.minor;
        j.from_script[2] = p->dev->script.patch;
    }
    j.flags |= DJ_F_IMAGES;
    j.phase = DJ_COMMITTED;
    djournal_encode(&j, rec);
    return ODEV_OK;
}

static int lport_journal_load(void *ctx, uint8_t rec[ODEV_JOURNAL_LEN])
{
    struct lport *p = ctx;
    char m[OTA_MSG_LEN];
    uint8_t *buf = NULL;
    size_t len = 0;
    enum ota_err e = io_file_read_all(dev_flash_path(&p->flash, DEV_F_JOURNAL), 4096, &buf, &len, m);
    if (e == OTA_E_NOTFOUND)
        return ODEV_E_NOTFOUND;
    if (e != OTA_OK && e != OTA_E_LIMIT) {
        snprintf(p->why, sizeof p->why, "%s", m);
        return ODEV_E_IO;
    }
    /* A record of another length fails the library's check as corrupt. */
    memset(rec, 0, ODEV_JOURNAL_LEN);
    if (e == OTA_OK && len == ODEV_JOURNAL_LEN)
        memcpy(rec, buf, len);
    free(buf);
    lport_download_renamed(p, rec);
    int oe = lport_old_commit(p, rec);
    if (oe != ODEV_OK)
        return oe;
    p->pkg_size = lport_be64(rec + 28);
    p->resume_offset = rec[5] == DJ_DOWNLOADING ? (uint32_t)lport_be64(rec + 20) : 0;
    return ODEV_OK;
}

/* A file that is not there changes nothing durable: no power-cut step. */
static int lport_remove(struct lport *p, enum dev_file f)
{
    if (!dev_flash_exists(&p->flash, f))
        return ODEV_OK;
    return dev_flash_remove(&p->flash, f, p->why) == OTA_OK ? ODEV_OK : ODEV_E_IO;
}

/* download.part becomes download.pkg: exactly size bytes, durable. */
static int lport_part_finish(struct lport *p, uint64_t size)
{
    if (!dev_flash_exists(&p->flash, DEV_F_PART))
        return ODEV_OK;
    int fd = lport_fd(p, ODEV_AREA_DOWNLOAD, 1);
    if (fd < 0)
        return ODEV_E_IO;
    dev_flash_step(&p->flash);
    if (ftruncate(fd, (off_t)size) != 0 || fsync(fd) != 0)
        return lport_fail(p, ODEV_E_IO, "truncate", dev_flash_path(&p->flash, DEV_F_PART));
    lport_close_area(p, ODEV_AREA_DOWNLOAD);
    return dev_flash_install(&p->flash, DEV_F_PART, DEV_F_PKG, p->why) == OTA_OK ? ODEV_OK
                                                                                 : ODEV_E_IO;
}

/* Idle: the package and the staging go (old images stay in the slots). */
static int lport_clear(struct lport *p)
{
    lport_close_area(p, ODEV_AREA_DOWNLOAD);
    lport_close_area(p, ODEV_AREA_STAGING);
    int e = lport_remove(p, DEV_F_STAGING);
    if (e == ODEV_OK)
        e = lport_remove(p, DEV_F_PKG);
    if (e == ODEV_OK)
        e = lport_remove(p, DEV_F_PART);
    return e;
}

static void lport_progress_phase(struct lport *p, unsigned jphase);

static int lport_journal_save(void *ctx, const uint8_t rec[ODEV_JOURNAL_LEN])
{
    struct lport *p = ctx;
    int e = ODEV_OK;
    p->pkg_size = lport_be64(rec + 28);
    lport_progress_phase(p, rec[5]);
    if (rec[5] == DJ_DOWNLOADED)
        e = lport_part_finish(p, p->pkg_size);
    else if (rec[5] == DJ_IDLE)
        e = lport_clear(p);
    if (e != ODEV_OK)
        return e;
    dev_flash_step(&p->flash);
    if (io_file_write_all(dev_flash_path(&p->flash, DEV_F_JOURNAL), rec, ODEV_JOURNAL_LEN, 0644,
                          p->why) != OTA_OK)
        return ODEV_E_IO;
    /* an older client's leftovers go once the record that replaces them
     * (its pending report included) is durable */
    for (int f = DEV_F_OLD_CORE; e == ODEV_OK && rec[5] == DJ_IDLE && f <= DEV_F_OLD_REPORT; f++)
        e = lport_remove(p, (enum dev_file)f);
    return e;
}

/* --- the port: install, installed, log ------------------------------------ */

static int lport_copy(struct lport *p, uint32_t off, uint32_t len, const struct io_writer *w)
{
    static uint8_t buf[LPORT_COPY];
    while (len > 0) {
        size_t n = len < sizeof buf ? len : sizeof buf;
        int e = lport_io(p, ODEV_AREA_STAGING, off, buf, n, 0);
        if (e != ODEV_OK)
            return e;
        if (io_write(w, buf, n) != OTA_OK) {
            snprintf(p->why, sizeof p->why, "install: write failed");
            return ODEV_E_IO;
        }
        off += (uint32_t)n;
        len -= (uint32_t)n;
    }
    return ODEV_OK;
}

/* The staged range becomes the slot file by temp + fsync + rename: the
 * slot holds the old or the new image whenever the power goes. */
static int lport_install(void *ctx, enum odev_area slot, uint32_t off, uint32_t len)
{
    struct lport *p = ctx;
    struct io_atomic a;
    struct io_writer w;
    if (slot != ODEV_AREA_CORE && slot != ODEV_AREA_SCRIPT)
        return ODEV_E_INVAL;
    lport_close_area(p, slot);
    dev_flash_step(&p->flash);
    if (io_atomic_open(&a, dev_flash_path(&p->flash, lport_area_file[slot]), 0644, p->why) != OTA_OK)
        return ODEV_E_IO;
    io_atomic_writer(&w, &a);
    int e = lport_copy(p, off, len, &w);
    if (e != ODEV_OK) {
        io_atomic_abort(&a);
        return e;
    }
    dev_flash_step(&p->flash);
    return io_atomic_commit(&a, p->why) == OTA_OK ? ODEV_OK : ODEV_E_IO;
}

static int lport_installed(void *ctx, const struct odev_image *now)
{
    struct lport *p = ctx;
    struct ver_core core;
    struct ver_script script = {now->script[0], now->script[1], now->script[2]};
    memset(&core, 0, sizeof core);
    if (ota_strlcpy(core.name, now->core_name, sizeof core.name) != OTA_OK ||
        ota_strlcpy(core.chip, now->chip, sizeof core.chip) != OTA_OK)
        return ODEV_E_LIMIT;
    core.number = now->core;
    dev_flash_step(&p->flash);
    if (cfg_device_save_versions(dev_flash_path(&p->flash, DEV_F_INI), &core, &script, p->why) !=
        OTA_OK)
        return ODEV_E_IO;
    return ODEV_OK;
}

void lport_log(void *ctx, enum odev_log_level level, enum odev_event ev, const char *msg)
{
    static const enum log_level map[] = {LOG_L_ERROR, LOG_L_WARN, LOG_L_INFO, LOG_L_DEBUG};
    (void)ctx;
    (void)ev;
    log_msg((unsigned)level < 4 ? map[level] : LOG_L_DEBUG, "%s", msg);
}

/* The host's backends, as the issue asks of the Linux port: zlib (from a
 * fixed arena sized for the largest window) and libsodium. One run binds
 * them once per verify/apply; they are not reentrant (one port per run). */
static void lport_backends(void *ctx, struct dback_inflate *inflate, struct dback_verify *verify)
{
    static uint8_t arena[DBACK_ZLIB_ARENA(ODEV_WINDOW_BITS_MAX)];
    static struct dback_zlib zlib;
    static struct dback_sodium sodium;
    (void)ctx;
    dback_zlib_bind(inflate, &zlib, arena, sizeof arena);
    dback_sodium_bind(verify, &sodium);
}

/* Token bases and jitter from the kernel's generator. */
static int lport_random(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    return getrandom(buf, len, 0) == (ssize_t)len ? ODEV_OK : ODEV_E_IO;
}

/* --- progress ------------------------------------------------------------- */

const char *lport_phase_name(enum lport_phase ph)
{
    static const char *const names[LPORT_P__COUNT] = {
        "recovering", "checking", "downloading", "verifying", "applying", "committing", "reporting",
    };
    return (unsigned)ph < LPORT_P__COUNT ? names[ph] : "?";
}

static void lport_tell(struct lport *p, uint64_t done, uint64_t total, int finished)
{
    struct lport_progress pr = {(enum lport_phase)p->phase, done, total,
                                (dgram_now_ms() - p->phase_t0) / 1000.0, finished};
    if (p->progress && p->phase >= 0)
        p->progress(p->progress_ctx, &pr);
}

void lport_phase(struct lport *p, enum lport_phase ph, uint64_t total)
{
    if (p->phase == LPORT_P_DOWNLOAD && ph != LPORT_P_DOWNLOAD)
        lport_tell(p, p->downloaded, p->pkg_size, 1);
    if (p->phase == (int)ph)
        return;
    p->phase = (int)ph;
    p->phase_t0 = dgram_now_ms();
    lport_tell(p, 0, total, 0);
}

static void lport_progress_download(struct lport *p)
{
    if (p->phase != LPORT_P_DOWNLOAD)
        lport_phase(p, LPORT_P_DOWNLOAD, p->pkg_size);
    else
        lport_tell(p, p->downloaded, p->pkg_size, 0);
}

/* The journal's phases, as the user sees them. */
static void lport_progress_phase(struct lport *p, unsigned jphase)
{
    if (jphase == DJ_DOWNLOADING && p->phase != LPORT_P_DOWNLOAD)
        lport_phase(p, LPORT_P_DOWNLOAD, p->pkg_size);
    else if (jphase == DJ_DOWNLOADED)
        lport_phase(p, LPORT_P_VERIFY, p->pkg_size);
    else if (jphase == DJ_APPLYING)
        lport_phase(p, LPORT_P_APPLY, 0);
    else if (jphase == DJ_COMMITTING)
        lport_phase(p, LPORT_P_COMMIT, 0);
}

/* --- open and close ------------------------------------------------------- */

enum ota_err lport_open(struct lport *p, const char *dir, const struct cfg_device *d,
                        const char *url, uint32_t hs_limit_ms, void (*step)(void *),
                        void *step_ctx, char *msg)
{
    memset(p, 0, sizeof *p);
    for (int a = 0; a < ODEV_AREA__COUNT; a++)
        p->fd[a] = -1;
    p->fd_pkg = -1;
    p->phase = -1;
    p->dev = d;
    p->url = url;
    p->hs_limit_ms = hs_limit_ms;
    enum ota_err e = dev_flash_open(&p->flash, dir, msg);
    if (e != OTA_OK)
        return e;
    p->flash.step = step;
    p->flash.step_ctx = step_ctx;
    dev_flash_sweep_temps(&p->flash);
    p->port = (struct odev_port){
        .ctx = p, .send = lport_send, .recv = lport_recv, .now_ms = lport_now,
        .read = lport_read, .write = lport_write, .erase = lport_erase, .sync = lport_sync,
        .journal_load = lport_journal_load, .journal_save = lport_journal_save,
        .log = lport_log, .install = lport_install, .installed = lport_installed,
        .backends = lport_backends, .random = lport_random,
    };
    return OTA_OK;
}

void lport_geometry(struct odev_config *c)
{
    for (int a = 0; a < ODEV_AREA__COUNT; a++)
        c->area[a] = (struct odev_geometry){LPORT_AREA_MAX, 1};
}

void lport_close(struct lport *p)
{
    for (int a = 0; a < ODEV_AREA__COUNT; a++)
        lport_close_area(p, (enum odev_area)a);
    if (p->link_open)
        dgram_close(&p->link);
    p->link_open = 0;
    dev_flash_close(&p->flash);
}
