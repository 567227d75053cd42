/* dev.c - the device's update flow: recover, check, download, verify,
 * apply, commit, report (see dev.h).
 *
 * Order of durable steps, each recorded in the journal before the next:
 *   downloading/downloaded (dl.c) -> applying: staging files are written
 *   (core.new, script.new, each by temp+fsync+rename) -> report.pending
 *   (the success report) -> committing(new versions, slots) -> rename
 *   staging over the slots, save the versions into device.ini -> committed
 *   -> delete download.pkg -> idle -> POST report.pending, delete it.
 * The report survives a power cut and a server that cannot be reached:
 * every later run that has a link sends it first (dev_report_flush).
 * A restart at any point finds either complete old slots (idle .. applying:
 * staging is discarded) or a commit to finish (committing: renames and the
 * version save are idempotent). Any failure before committing deletes the
 * package and leaves the old images in place.
 *
 * Sections: run setup and helpers; recovery; header checks; apply and
 * commit; the link and report; public entry points and the exit-code table.
 */
#include "dev.h"

#include "dl.h"
#include "flash.h"
#include "journal.h"
#include "log.h"
#include "net.h"
#include "pkg.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

struct dev_run {
    const struct dev_opts *o;
    struct cfg_device d; /* reloaded if recovery commits new versions */
    struct dev_result *r;
    struct dev_flash flash;
    struct dev_journal j;
    struct dev_net net;
    int net_open;
    struct dev_fetcher fetcher;
    struct timespec t0, phase_t0;
    enum dev_phase phase;
};

/* --- setup and helpers ------------------------------------------------- */

static double dev_elapsed(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void dev_phase(struct dev_run *run, enum dev_phase p, uint64_t total)
{
    struct dev_progress pr = {p, 0, total, 0.0, 0};
    run->phase = p;
    clock_gettime(CLOCK_MONOTONIC, &run->phase_t0);
    if (run->o->progress && p != DEV_P_DOWNLOAD) /* dl.c reports its own */
        run->o->progress(run->o->progress_ctx, &pr);
}

static enum ota_err dev_save_journal(struct dev_run *run, enum dev_jphase p, char *msg)
{
    dev_flash_step(&run->flash);
    run->j.phase = p;
    return dev_journal_save(dev_flash_path(&run->flash, DEV_F_JOURNAL), &run->j, msg);
}

static enum ota_err dev_begin(struct dev_run *run, const struct dev_opts *o,
                              const struct cfg_device *d, struct dev_result *r, char *msg)
{
    memset(run, 0, sizeof *run);
    memset(r, 0, sizeof *r);
    run->o = o;
    run->d = *d;
    run->r = r;
    run->flash.part_fd = run->flash.lock_fd = -1;
    r->status = DEV_S_LOCAL;
    r->srv_code = -1;
    r->from_core = r->to_core = d->core;
    r->from_script = r->to_script = d->script;
    clock_gettime(CLOCK_MONOTONIC, &run->t0);
    enum ota_err e = crypto_init(msg);
    if (e == OTA_OK)
        e = dev_flash_open(&run->flash, o->state_dir, msg);
    if (e != OTA_OK)
        return e;
    run->flash.step = o->step;
    run->flash.step_ctx = o->step_ctx;
    dev_flash_sweep_temps(&run->flash);
    return OTA_OK;
}

static void dev_end(struct dev_run *run)
{
    if (run->net_open)
        dev_net_close(&run->net);
    run->net_open = 0;
    dev_flash_close(&run->flash);
    run->r->seconds = dev_elapsed(&run->t0);
}

/* Throw away the package and staging files; old slots stay. */
static void dev_discard(struct dev_run *run)
{
    char m[OTA_MSG_LEN];
    static const enum dev_file junk[] = {DEV_F_CORE_NEW, DEV_F_SCRIPT_NEW, DEV_F_PKG, DEV_F_PART};
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++)
        if (dev_flash_remove(&run->flash, junk[i], m) != OTA_OK)
            log_msg(LOG_L_WARN, "cleanup: %s", m);
    dev_journal_init(&run->j);
    if (dev_save_journal(run, DEV_J_IDLE, m) != OTA_OK)
        log_msg(LOG_L_WARN, "cleanup: %s", m);
}

/* --- commit and recovery ------------------------------------------------ */

static enum ota_err dev_install_slot(struct dev_run *run, enum dev_file from, enum dev_file to,
                                     char *msg)
{
    enum ota_err e = dev_flash_install(&run->flash, from, to, msg);
    /* Missing staging with the journal saying committing: a previous run
     * renamed it already and was cut off after. */
    if (e == OTA_E_NOTFOUND && dev_flash_exists(&run->flash, to))
        return OTA_OK;
    return e;
}

/* Idempotent: safe to run again after a crash at any instant. */
static enum ota_err dev_commit(struct dev_run *run, char *msg)
{
    enum ota_err e = OTA_OK;
    if (run->j.slots & DEV_SLOT_CORE)
        e = dev_install_slot(run, DEV_F_CORE_NEW, DEV_F_CORE, msg);
    if (e == OTA_OK && (run->j.slots & DEV_SLOT_SCRIPT))
        e = dev_install_slot(run, DEV_F_SCRIPT_NEW, DEV_F_SCRIPT, msg);
    if (e == OTA_OK) {
        dev_flash_step(&run->flash);
        e = cfg_device_save_versions(dev_flash_path(&run->flash, DEV_F_INI), &run->j.core,
                                     &run->j.script, msg);
    }
    if (e == OTA_OK)
        e = dev_save_journal(run, DEV_J_COMMITTED, msg);
    if (e == OTA_OK) {
        run->d.core = run->j.core;
        run->d.script = run->j.script;
    }
    return e;
}

static enum ota_err dev_finish_committed(struct dev_run *run, char *msg)
{
    enum ota_err e = dev_flash_remove(&run->flash, DEV_F_PKG, msg);
    if (e == OTA_OK) {
        dev_journal_init(&run->j);
        e = dev_save_journal(run, DEV_J_IDLE, msg);
    }
    return e;
}

/* A power cut between the rename of download.part to download.pkg and the
 * journal write that says "downloaded": the rename happens only once every
 * block is stored and fsynced, so download.pkg without download.part, of
 * the size the journal names, is that complete package (the verification
 * checks it like any other). */
static int dev_download_renamed(const struct dev_run *run)
{
    struct stat st;
    if (dev_flash_exists(&run->flash, DEV_F_PART) || run->j.size == 0 ||
        stat(dev_flash_path(&run->flash, DEV_F_PKG), &st) != 0 ||
        (uint64_t)st.st_size != run->j.size)
        return 0;
    log_msg(LOG_L_INFO, "recover: download.pkg is complete (%llu bytes), not fetching it again",
            (unsigned long long)run->j.size);
    return 1;
}

static enum ota_err dev_recover_run(struct dev_run *run, char *msg)
{
    char m[OTA_MSG_LEN];
    enum ota_err e = dev_journal_load(dev_flash_path(&run->flash, DEV_F_JOURNAL), &run->j, m);
    if (e == OTA_E_CORRUPT) {
        /* Slots are always complete files, so the device still boots;
         * only a half-done transfer is lost. */
        log_msg(LOG_L_WARN, "recover: %s; starting over", m);
        dev_discard(run);
        return OTA_OK;
    }
    if (e != OTA_OK)
        return ota_fail(msg, e, "%s", m);
    switch (run->j.phase) {
    case DEV_J_COMMITTING:
        dev_phase(run, DEV_P_RECOVER, 0);
        log_msg(LOG_L_INFO, "recover: finishing an interrupted commit");
        if ((e = dev_commit(run, msg)) != OTA_OK)
            return e;
        /* fall through */
    case DEV_J_COMMITTED:
        return dev_finish_committed(run, msg);
    case DEV_J_APPLYING:
        log_msg(LOG_L_INFO, "recover: discarding a partial apply");
        dev_flash_remove(&run->flash, DEV_F_CORE_NEW, NULL);
        dev_flash_remove(&run->flash, DEV_F_SCRIPT_NEW, NULL);
        /* Its success report may have been written; the apply is redone. */
        dev_flash_remove(&run->flash, DEV_F_REPORT, NULL);
        if ((e = dev_save_journal(run, DEV_J_DOWNLOADED, msg)) != OTA_OK)
            return e;
        /* fall through */
    case DEV_J_DOWNLOADED:
        if (!dev_flash_exists(&run->flash, DEV_F_PKG))
            dev_discard(run);
        return OTA_OK;
    case DEV_J_DOWNLOADING:
        if (dev_download_renamed(run))
            return dev_save_journal(run, DEV_J_DOWNLOADED, msg);
        /* fall through */
    default:
        dev_flash_remove(&run->flash, DEV_F_CORE_NEW, NULL);
        dev_flash_remove(&run->flash, DEV_F_SCRIPT_NEW, NULL);
        return OTA_OK;
    }
}

/* --- header checks ---------------------------------------------------- */

static int dev_has_core(const struct pkg_header *h)
{
    return (h->flags & (PKG_F_CORE_DELTA | PKG_F_CORE_FULL)) != 0;
}

static int dev_key_known(const struct cfg_device *d, const uint8_t id[CRYPTO_KEYID_LEN])
{
    uint8_t mine[CRYPTO_KEYID_LEN];
    for (int i = 0; i < d->npubkeys; i++) {
        crypto_key_id(d->pubkeys[i], mine);
        if (memcmp(mine, id, sizeof mine) == 0)
            return 1;
    }
    return 0;
}

static enum ota_err dev_check_identity(const struct cfg_device *d, const struct pkg_header *h,
                                       char *msg)
{
    if (strcmp(h->project, d->project) != 0)
        return ota_fail(msg, OTA_E_AUTH, "package is for project %s, device is %s", h->project,
                        d->project);
    if (strcmp(h->core_name, d->core.name) != 0 || strcmp(h->chip, d->core.chip) != 0)
        return ota_fail(msg, OTA_E_AUTH, "package is for core %s/%s, device runs %s/%s",
                        h->core_name, h->chip, d->core.name, d->core.chip);
    if (!dev_has_core(h) && !(h->flags & PKG_F_SCRIPT))
        return ota_fail(msg, OTA_E_AUTH, "package carries neither core nor script");
    return OTA_OK;
}

static enum ota_err dev_check_versions(const struct cfg_device *d, const struct pkg_header *h,
                                       char *msg)
{
    uint32_t cur = d->core.number;
    if (dev_has_core(h)) {
        int any = h->from_core == PKG_FROM_ANY && (h->flags & PKG_F_CORE_FULL);
        if (!any && h->from_core != cur)
            return ota_fail(msg, OTA_E_AUTH, "package updates core %u, device runs core %u",
                            (unsigned)h->from_core, (unsigned)cur);
        if (h->to_core < cur)
            return ota_fail(msg, OTA_E_AUTH, "package would downgrade core %u to %u",
                            (unsigned)cur, (unsigned)h->to_core);
    } else if (h->to_core != cur) {
        return ota_fail(msg, OTA_E_AUTH, "script package for core %u, device runs core %u",
                        (unsigned)h->to_core, (unsigned)cur);
    }
    if ((h->flags & PKG_F_SCRIPT) && ver_script_cmp(&h->script, &d->script) < 0)
        return ota_fail(msg, OTA_E_AUTH, "package would downgrade the script");
    return OTA_OK;
}

/* A delta must start from exactly the image the device runs. */
static enum ota_err dev_check_old_core(struct dev_run *run, const struct pkg_header *h,
                                       char *msg)
{
    struct io_reader core;
    uint8_t sum[CRYPTO_HASH_LEN];
    if (!(h->flags & PKG_F_CORE_DELTA))
        return OTA_OK;
    enum ota_err e = io_file_reader_open(&core, dev_flash_path(&run->flash, DEV_F_CORE), msg);
    if (e != OTA_OK)
        return e;
    if (core.size != h->old_core_size)
        e = ota_fail(msg, OTA_E_AUTH, "running core is %llu bytes, the delta expects %llu",
                     (unsigned long long)core.size, (unsigned long long)h->old_core_size);
    else if ((e = crypto_sha256_reader(&core, 0, core.size, sum)) != OTA_OK)
        e = ota_fail(msg, e, "core.bin: read failed");
    else if (memcmp(sum, h->old_core_hash, sizeof sum) != 0)
        e = ota_fail(msg, OTA_E_AUTH, "running core's SHA-256 differs from the delta's base");
    io_file_reader_close(&core);
    return e;
}

/* The header alone, as soon as it has arrived (dev_dl.head_check): a key
 * id the device does not hold, another project or core, a base core that
 * is not ours are certain verification failures, so the rest is not worth
 * fetching. Only what is cheap and certain from the header is checked
 * (not the running core's hash); the whole package is verified at the end
 * anyway. Without Size2 the header cannot be parsed against the total:
 * then nothing is checked early. */
/* What a package header says it leads to (unverified: for `check`'s line
 * and for the report of a package refused at its header, so the failure
 * is counted under the release the device was offered). */
static void dev_result_target(struct dev_result *r, const struct pkg_header *h)
{
    r->target_known = 1;
    if (h->flags & (PKG_F_CORE_DELTA | PKG_F_CORE_FULL))
        r->to_core.number = h->to_core;
    if (h->flags & PKG_F_SCRIPT)
        r->to_script = h->script;
    r->core_changed = r->to_core.number != r->from_core.number;
    r->script_changed = ver_script_cmp(&r->to_script, &r->from_script) != 0;
}

static enum ota_err dev_head_check(void *ctx, const uint8_t *head, size_t len, uint64_t size,
                                   char *msg)
{
    const struct dev_run *run = ctx;
    struct pkg_header h;
    if (size == 0)
        return OTA_OK;
    enum ota_err e = pkg_header_parse(head, len, size, &h, msg);
    if (e == OTA_OK)
        dev_result_target(run->r, &h);
    if (e == OTA_OK && !dev_key_known(&run->d, h.key_id)) {
        char hex[2 * CRYPTO_KEYID_LEN + 1];
        ota_hex(h.key_id, CRYPTO_KEYID_LEN, hex);
        e = ota_fail(msg, OTA_E_AUTH, "package signed by key id %s, which is not among the "
                     "device's %d public key(s)", hex, run->d.npubkeys);
    }
    if (e == OTA_OK)
        e = dev_check_identity(&run->d, &h, msg);
    if (e == OTA_OK)
        e = dev_check_versions(&run->d, &h, msg);
    if (e == OTA_OK)
        log_msg(LOG_L_DEBUG, "download: header accepted (key id, project, core)");
    return e;
}

/* --- verify, apply, commit ---------------------------------------------- */

/* Verification failures are the package's fault (exit 4); read errors ours. */
static enum ota_err dev_verify_fail(struct dev_run *run, enum ota_err e)
{
    run->r->status = e == OTA_E_IO || e == OTA_E_NOMEM ? DEV_S_LOCAL : DEV_S_VERIFY;
    return e;
}

static enum ota_err dev_verify(struct dev_run *run, const struct io_reader *pkg,
                               struct pkg_header *h, char *msg)
{
    dev_phase(run, DEV_P_VERIFY, pkg->size);
    enum ota_err e = pkg_verify(pkg, (const uint8_t(*)[CRYPTO_PUB_LEN])run->d.pubkeys,
                                (size_t)run->d.npubkeys, h, msg);
    if (e == OTA_OK)
        e = dev_check_identity(&run->d, h, msg);
    if (e == OTA_OK)
        e = dev_check_versions(&run->d, h, msg);
    if (e == OTA_OK)
        e = dev_check_old_core(run, h, msg);
    return e == OTA_OK ? OTA_OK : dev_verify_fail(run, e);
}

static enum ota_err dev_extract_core(struct dev_run *run, const struct io_reader *pkg,
                                     const struct pkg_header *h, const struct io_writer *w,
                                     char *msg)
{
    struct io_reader old;
    if (!(h->flags & PKG_F_CORE_DELTA))
        return pkg_core_extract(pkg, h, NULL, w, msg);
    enum ota_err e = io_file_reader_open(&old, dev_flash_path(&run->flash, DEV_F_CORE), msg);
    if (e == OTA_OK) {
        e = pkg_core_extract(pkg, h, &old, w, msg);
        io_file_reader_close(&old);
    }
    return e;
}

/* A writer that announces a durable step every 64 KB, so the power-loss
 * tests can cut the power in the middle of an apply. */
struct dev_step_writer {
    const struct io_writer *inner;
    const struct dev_flash *flash;
    uint64_t written;
};

static enum ota_err dev_step_write(void *ctx, const void *buf, size_t len)
{
    struct dev_step_writer *sw = ctx;
    uint64_t before = sw->written >> 16;
    sw->written += len;
    if (sw->written >> 16 != before)
        dev_flash_step(sw->flash);
    return io_write(sw->inner, buf, len);
}

/* Write one staging file by temp+fsync+rename: it exists only if complete. */
static enum ota_err dev_stage(struct dev_run *run, const struct io_reader *pkg,
                              const struct pkg_header *h, enum dev_file to, char *msg)
{
    struct io_atomic a;
    struct io_writer inner, w;
    struct dev_step_writer sw = {&inner, &run->flash, 0};
    enum ota_err e = io_atomic_open(&a, dev_flash_path(&run->flash, to), 0644, msg);
    if (e != OTA_OK)
        return e;
    io_atomic_writer(&inner, &a);
    w.write = dev_step_write;
    w.ctx = &sw;
    e = to == DEV_F_CORE_NEW ? dev_extract_core(run, pkg, h, &w, msg)
                             : pkg_script_extract(pkg, h, &w, msg);
    if (e != OTA_OK) {
        io_atomic_abort(&a);
        return e;
    }
    if (to == DEV_F_CORE_NEW && (h->flags & PKG_F_CORE_DELTA)) {
        run->r->apply_mem = pkg_apply_mem_peak();
        log_msg(LOG_L_INFO, "apply: delta decoder peak working memory %zu bytes (zlib window "
                "included)", run->r->apply_mem);
    }
    dev_flash_step(&run->flash);
    return io_atomic_commit(&a, msg);
}

static enum ota_err dev_apply(struct dev_run *run, const struct io_reader *pkg,
                              const struct pkg_header *h, char *msg)
{
    enum ota_err e;
    dev_phase(run, DEV_P_APPLY, h->core_size + h->script_size);
    if ((e = dev_save_journal(run, DEV_J_APPLYING, msg)) != OTA_OK)
        return e;
    if (dev_has_core(h) && (e = dev_stage(run, pkg, h, DEV_F_CORE_NEW, msg)) != OTA_OK)
        return dev_verify_fail(run, e);
    if ((h->flags & PKG_F_SCRIPT) && (e = dev_stage(run, pkg, h, DEV_F_SCRIPT_NEW, msg)) != OTA_OK)
        return dev_verify_fail(run, e);
    return OTA_OK;
}

static void dev_plan_commit(struct dev_run *run, const struct pkg_header *h)
{
    struct dev_journal *j = &run->j;
    j->slots = 0;
    j->core = run->d.core;
    j->script = run->d.script;
    if (dev_has_core(h)) {
        j->slots |= DEV_SLOT_CORE;
        j->core.number = h->to_core;
    }
    if (h->flags & PKG_F_SCRIPT) {
        j->slots |= DEV_SLOT_SCRIPT;
        j->script = h->script;
    }
    run->r->to_core = j->core;
    run->r->to_script = j->script;
    run->r->core_changed = dev_has_core(h) && h->to_core != run->d.core.number;
    run->r->script_changed = (h->flags & PKG_F_SCRIPT) && ver_script_cmp(&h->script, &run->d.script);
}

static enum ota_err dev_report_save(struct dev_run *run, enum ota_err err, const char *why);

/* The package is not for us, or bad: old images stay, it goes, the report
 * of a verification failure is kept for the server. */
static void dev_refuse(struct dev_run *run, enum ota_err e, const char *why)
{
    if (run->r->status == DEV_S_VERIFY)
        dev_report_save(run, e, why);
    dev_discard(run);
}

static enum ota_err dev_install(struct dev_run *run, char *msg)
{
    struct io_reader pkg;
    struct pkg_header h;
    enum ota_err e = io_file_reader_open(&pkg, dev_flash_path(&run->flash, DEV_F_PKG), msg);
    if (e != OTA_OK)
        return e;
    run->r->pkg_size = pkg.size;
    e = dev_verify(run, &pkg, &h, msg);
    if (e == OTA_OK)
        e = dev_apply(run, &pkg, &h, msg);
    io_file_reader_close(&pkg);
    if (e != OTA_OK) {
        dev_refuse(run, e, msg);
        return e;
    }
    dev_plan_commit(run, &h);
    /* The success report is durable before the commit can happen. */
    if ((e = dev_report_save(run, OTA_OK, NULL)) != OTA_OK)
        return ota_fail(msg, e, "cannot store the report");
    dev_phase(run, DEV_P_COMMIT, 0);
    if ((e = dev_save_journal(run, DEV_J_COMMITTING, msg)) == OTA_OK &&
        (e = dev_commit(run, msg)) == OTA_OK)
        e = dev_finish_committed(run, msg);
    return e;
}

/* --- link and report --------------------------------------------------- */

static enum ota_err dev_link(struct dev_run *run, char *msg)
{
    if (run->o->fetcher) {
        run->fetcher = *run->o->fetcher;
        return OTA_OK;
    }
    if (run->net_open)
        return OTA_OK;
    const char *url = run->o->server ? run->o->server : run->d.server;
    enum ota_err e = dev_net_open(&run->net, url, &run->d, msg);
    if (e != OTA_OK) {
        if (e == OTA_E_NET)
            run->r->status = DEV_S_NET;
        return e;
    }
    run->net_open = 1;
    run->net.short_ok = !run->o->fota_only;
    dev_net_fetcher(&run->net, &run->fetcher);
    return OTA_OK;
}

/* Store the result report in report.pending (atomically); a newer report
 * replaces an undelivered older one: the server wants the latest state. */
static enum ota_err dev_report_save(struct dev_run *run, enum ota_err err, const char *why)
{
    char m[OTA_MSG_LEN], body[DEV_REPORT_MAX];
    size_t len;
    ota_strlcpy(run->r->reason, why ? why : "", sizeof run->r->reason);
    run->r->seconds = dev_elapsed(&run->t0);
    int code = err == OTA_OK ? DEV_EXIT_OK : dev_exit_code(run->r->status);
    enum ota_err e = dev_report_json(&run->d, run->r, code, body, sizeof body, &len);
    if (e == OTA_OK) {
        dev_flash_step(&run->flash);
        e = io_file_write_all(dev_flash_path(&run->flash, DEV_F_REPORT), body, len, 0644, m);
    }
    if (e != OTA_OK)
        log_msg(LOG_L_WARN, "report: not stored: %s", ota_strerror(e));
    return e;
}

/* Send report.pending if there is one; delete it once the server took it.
 * Best effort: a failure leaves it for the next run. */
static void dev_report_flush(struct dev_run *run)
{
    char m[OTA_MSG_LEN];
    uint8_t *body = NULL;
    size_t len = 0;
    if (run->o->fetcher || !dev_flash_exists(&run->flash, DEV_F_REPORT))
        return;
    enum dev_phase saved = run->phase;
    dev_phase(run, DEV_P_REPORT, 0);
    enum ota_err e = io_file_read_all(dev_flash_path(&run->flash, DEV_F_REPORT), DEV_REPORT_MAX,
                                      &body, &len, m);
    if (e == OTA_OK && (e = dev_link(run, m)) == OTA_OK &&
        (e = dev_net_report(&run->net, (const char *)body, len, m)) == OTA_OK)
        e = dev_flash_remove(&run->flash, DEV_F_REPORT, m);
    else if (e == OTA_E_LIMIT || e == OTA_E_CORRUPT)
        dev_flash_remove(&run->flash, DEV_F_REPORT, NULL); /* not ours to fix */
    free(body);
    if (e != OTA_OK)
        log_msg(LOG_L_WARN, "report not delivered, kept for the next run: %s", m);
    else
        log_msg(LOG_L_INFO, "report delivered");
    run->phase = saved;
}

/* Deliver this run's report, or an older one, whenever the server answered
 * at all in this run, and only while we hold the state directory: another
 * ota-client in it may be sending or replacing report.pending. */
static int dev_server_answered(const struct dev_run *run)
{
    enum dev_status st = run->r->status;
    return run->flash.lock_fd >= 0 && st != DEV_S_NET && st != DEV_S_LOCAL;
}

static enum ota_err dev_szx(const struct dev_run *run, unsigned *szx, char *msg)
{
    return dev_szx_from_size(run->d.block_size ? run->d.block_size : DEV_BLOCK_MAX, szx, msg);
}

static int dev_window(const struct dev_run *run)
{
    return run->o->window ? run->o->window : run->d.window ? run->d.window : DEV_WINDOW_DEFAULT;
}

static enum ota_err dev_fetch_and_install(struct dev_run *run, char *msg)
{
    struct dev_dl *dl = NULL;
    static struct dev_dl dl_state; /* receive buffer and window, kept off the stack */
    enum ota_err e = OTA_OK;
    if (run->j.phase != DEV_J_DOWNLOADED) {
        dl = &dl_state;
        memset(dl, 0, sizeof *dl);
        if ((e = dev_szx(run, &dl->szx, msg)) != OTA_OK || (e = dev_link(run, msg)) != OTA_OK)
            return e;
        dl->f = &run->fetcher;
        dl->flash = &run->flash;
        dl->window = dev_window(run);
        dl->timeout_s = run->o->timeout_s;
        dl->max_wait_s = run->o->max_wait_s;
        dl->progress = run->o->progress;
        dl->progress_ctx = run->o->progress_ctx;
        dl->head_check = dev_head_check;
        dl->head_ctx = run;
        dl->head_len = PKG_HEADER_LEN;
        dev_phase(run, DEV_P_DOWNLOAD, 0);
        if ((e = dev_download(dl, &run->j, run->r, msg)) != OTA_OK) {
            /* Keep download.part only if the journal can resume it and
             * the server still offers something. */
            if (run->r->status == DEV_S_VERIFY)
                dev_refuse(run, e, msg);
            else if (run->r->status == DEV_S_NO_UPDATE || run->r->status == DEV_S_REJECTED)
                dev_discard(run);
            else if (run->j.phase != DEV_J_DOWNLOADING)
                dev_flash_remove(&run->flash, DEV_F_PART, NULL);
            return e;
        }
    } else {
        log_msg(LOG_L_INFO, "using the package downloaded by an earlier run");
    }
    return dev_install(run, msg);
}

/* --- public entry points ------------------------------------------------ */

enum ota_err dev_recover(const struct dev_opts *o, const struct cfg_device *d, char *msg)
{
    struct dev_run run;
    struct dev_result r;
    enum ota_err e = dev_begin(&run, o, d, &r, msg);
    if (e == OTA_OK)
        e = dev_recover_run(&run, msg);
    dev_end(&run);
    return e;
}

/* `check` names the target: block 0 starts with the package header
 * (unverified, so only shown, never acted on); a block smaller than the
 * header leaves the target unknown (r->target_known 0). */
static void dev_check_target(const struct dev_block *b, struct dev_result *r)
{
    struct pkg_header h;
    if (b->len < PKG_HEADER_LEN || !r->pkg_size ||
        pkg_header_parse(b->data, PKG_HEADER_LEN, r->pkg_size, &h, NULL) != OTA_OK)
        return;
    dev_result_target(r, &h);
}

enum ota_err dev_check(const struct dev_opts *o, const struct cfg_device *d,
                       struct dev_result *r, char *msg)
{
    struct dev_run run;
    static struct dev_block blk;
    unsigned szx = 0;
    enum ota_err e = dev_begin(&run, o, d, r, msg);
    if (e == OTA_OK)
        e = dev_recover_run(&run, msg);
    if (e == OTA_OK)
        e = dev_szx(&run, &szx, msg);
    if (e == OTA_OK)
        e = dev_link(&run, msg);
    if (e == OTA_OK) {
        dev_phase(&run, DEV_P_CHECK, 0);
        e = dev_fetch_first(&run.fetcher, szx, o->timeout_s, o->max_wait_s, &blk, msg);
        if (e != OTA_OK)
            r->status = DEV_S_NET;
        else if ((e = dev_dl_check_first(&blk, r, msg)) == OTA_OK)
            r->status = DEV_S_AVAILABLE;
        r->bytes = e == OTA_OK ? blk.len : 0;
    }
    if (dev_server_answered(&run))
        dev_report_flush(&run);
    r->from_core = r->to_core = run.d.core;
    r->from_script = r->to_script = run.d.script;
    if (r->status == DEV_S_AVAILABLE)
        dev_check_target(&blk, r);
    dev_end(&run);
    return e;
}

enum ota_err dev_update(const struct dev_opts *o, const struct cfg_device *d,
                        struct dev_result *r, char *msg)
{
    struct dev_run run;
    enum ota_err e = dev_begin(&run, o, d, r, msg);
    if (e == OTA_OK)
        e = dev_recover_run(&run, msg);
    if (e == OTA_OK) {
        r->from_core = r->to_core = run.d.core;
        r->from_script = r->to_script = run.d.script;
        e = dev_fetch_and_install(&run, msg);
    }
    if (e == OTA_OK)
        r->status = DEV_S_UPDATED;
    if (dev_server_answered(&run))
        dev_report_flush(&run);
    dev_end(&run);
    return e;
}

int dev_exit_code(enum dev_status s)
{
    switch (s) {
    case DEV_S_UPDATED:
    case DEV_S_AVAILABLE:
        return DEV_EXIT_OK;
    case DEV_S_NO_UPDATE:
        return DEV_EXIT_NO_UPDATE;
    case DEV_S_REJECTED:
        return DEV_EXIT_REJECTED;
    case DEV_S_VERIFY:
        return DEV_EXIT_VERIFY;
    case DEV_S_NET:
        return DEV_EXIT_NET;
    default:
        return DEV_EXIT_LOCAL;
    }
}

const char *dev_status_phrase(enum dev_status s)
{
    switch (s) {
    case DEV_S_UPDATED:
        return "updated";
    case DEV_S_AVAILABLE:
        return "update available";
    case DEV_S_NO_UPDATE:
        return "no update available";
    case DEV_S_REJECTED:
        return "rejected by the server";
    case DEV_S_VERIFY:
        return "package verification failed";
    case DEV_S_NET:
        return "network error";
    default:
        return "local error";
    }
}

const char *dev_phase_name(enum dev_phase p)
{
    static const char *const names[DEV_P__COUNT] = {
        "recovering", "checking", "downloading", "verifying", "applying", "committing", "reporting",
    };
    return (unsigned)p < DEV_P__COUNT ? names[p] : "?";
}
