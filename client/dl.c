/* dl.c - the Block2 download driver (see dl.h).
 *
 * Sequential stop-and-wait: one block request at a time, written at its
 * offset in download.part. Every DEV_CHECKPOINT_BYTES the data is
 * fsynced and then the journal records the offset, so after a power cut
 * the journal never claims bytes that are not on the flash. A resume asks
 * for the block at the journal's offset and restarts from zero if the ETag
 * (or Size2) differs: the server's package changed.
 */
#include "dl.h"

#include "log.h"
#include "proto.h"

#include <string.h>
#include <time.h>

/* A package that changes under us more often than this is not converging. */
#define DEV_DL_RESTARTS 3

struct dev_run {
    uint64_t off, size; /* bytes written; Size2 (0 = not announced) */
    unsigned szx;
    int first;          /* no block accepted yet in this transfer */
    int resume;         /* first answer must match the journal's ETag */
    int restarts;
    uint64_t since_sync; /* bytes written since the last checkpoint */
    struct timespec t0;
};

static double dev_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Printable copy of a non-JSON diagnostic payload. */
static void dev_copy_text(const uint8_t *p, size_t len, char *out, size_t n)
{
    size_t w = 0;
    for (size_t i = 0; i < len && w + 1 < n; i++)
        out[w++] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
    out[w] = '\0';
}

enum ota_err dev_dl_fail_response(const struct dev_block *b, struct dev_result *r, char *msg)
{
    r->coap_code = b->code;
    if (dev_diag_parse(b->data, b->len, &r->srv_code, r->srv_msg, sizeof r->srv_msg) != OTA_OK) {
        r->srv_code = -1;
        dev_copy_text(b->data, b->len, r->srv_msg, sizeof r->srv_msg);
    }
    r->status = dev_status_from_response(b->code, r->srv_code);
    ota_fail(msg, OTA_E_NET, "server answered %u.%02u, code %d: %s", b->code / 100,
             b->code % 100, r->srv_code, r->srv_msg[0] ? r->srv_msg : "(no message)");
    switch (r->status) {
    case DEV_S_NO_UPDATE:
        return OTA_E_NOTFOUND;
    case DEV_S_REJECTED:
        return b->code == 400 ? OTA_E_INVAL : b->code == 404 ? OTA_E_NOTFOUND : OTA_E_AUTH;
    default:
        return OTA_E_NET;
    }
}

static enum ota_err dev_proto_fail(struct dev_result *r, char *msg, enum ota_err e)
{
    r->status = DEV_S_NET;
    return e;
}

enum ota_err dev_dl_check_first(const struct dev_block *b, struct dev_result *r, char *msg)
{
    if (b->code != 205)
        return dev_dl_fail_response(b, r, msg);
    r->coap_code = 205;
    if (b->truncated)
        return dev_proto_fail(r, msg, ota_fail(msg, OTA_E_CORRUPT,
                                               "block payload larger than %d bytes",
                                               DEV_BLOCK_MAX));
    if (b->has_block2 && b->num != 0)
        return dev_proto_fail(r, msg, ota_fail(msg, OTA_E_CORRUPT,
                                               "asked for block 0, got block %u", b->num));
    if (b->has_size2 && b->size2 > DEV_PKG_MAX)
        return dev_proto_fail(r, msg, ota_fail(msg, OTA_E_LIMIT,
                                               "package of %llu bytes exceeds %u",
                                               (unsigned long long)b->size2, DEV_PKG_MAX));
    r->pkg_size = b->has_size2 ? b->size2 : 0;
    return OTA_OK;
}

static enum ota_err dev_restart(struct dev_dl *d, struct dev_run *run, const char *why,
                                char *msg)
{
    if (++run->restarts > DEV_DL_RESTARTS)
        return ota_fail(msg, OTA_E_NET, "package keeps changing on the server (%s)", why);
    log_msg(LOG_L_INFO, "download: %s, restarting from 0", why);
    run->off = 0;
    run->first = 1;
    run->resume = 0;
    run->since_sync = 0;
    return dev_part_open(d->flash, &run->off, msg);
}

/* Block2 numbering and size: is this the block we asked for? */
static enum ota_err dev_check_block(const struct dev_block *b, struct dev_run *run, char *msg)
{
    unsigned szx = b->has_block2 ? b->szx : run->szx;
    uint32_t num = b->has_block2 ? b->num : 0;
    int more = b->has_block2 && b->more;
    if (!b->has_block2 && run->off != 0)
        return ota_fail(msg, OTA_E_CORRUPT, "answer at offset %llu has no Block2 option",
                        (unsigned long long)run->off);
    if (szx > run->szx)
        return ota_fail(msg, OTA_E_CORRUPT, "server raised block size from %d to %d",
                        16 << run->szx, 16 << szx);
    if ((uint64_t)num << (szx + 4) != run->off)
        return ota_fail(msg, OTA_E_CORRUPT, "expected the block at offset %llu, got block %u of %d",
                        (unsigned long long)run->off, num, 16 << szx);
    if (b->truncated || (more && b->len != (size_t)16 << szx) || b->len > (size_t)16 << szx)
        return ota_fail(msg, OTA_E_CORRUPT, "block %u: %zu bytes for block size %d%s", num,
                        b->len, 16 << szx, more ? " with More set" : "");
    run->szx = szx;
    return OTA_OK;
}

/* ETag and Size2: is this still the same package? 1 = changed. */
static int dev_same_package(const struct dev_block *b, struct dev_run *run,
                            struct dev_journal *j)
{
    if (run->first) {
        if (run->resume && (b->etag_len != j->etag_len ||
                            memcmp(b->etag, j->etag, b->etag_len) != 0 ||
                            (b->has_size2 && b->size2 != j->size)))
            return 1;
        j->etag_len = b->etag_len;
        memcpy(j->etag, b->etag, b->etag_len);
        run->size = b->has_size2 ? b->size2 : 0;
        return 0;
    }
    return b->etag_len != j->etag_len || memcmp(b->etag, j->etag, b->etag_len) != 0 ||
           (b->has_size2 && b->size2 != run->size);
}

static enum ota_err dev_checkpoint(struct dev_dl *d, struct dev_run *run, struct dev_journal *j,
                                   char *msg)
{
    enum ota_err e = dev_part_sync(d->flash, msg);
    if (e != OTA_OK)
        return e;
    j->phase = DEV_J_DOWNLOADING;
    j->offset = run->off;
    j->size = run->size;
    j->block_size = (uint16_t)(16u << run->szx);
    run->since_sync = 0;
    return dev_journal_save(dev_flash_path(d->flash, DEV_F_JOURNAL), j, msg);
}

static void dev_dl_progress(struct dev_dl *d, const struct dev_run *run, int finished)
{
    struct dev_progress p = {DEV_P_DOWNLOAD, run->off, run->size, dev_since(&run->t0), finished};
    if (d->progress)
        d->progress(d->progress_ctx, &p);
}

/* Store one accepted block; checkpoint now and then. */
static enum ota_err dev_store(struct dev_dl *d, struct dev_run *run, struct dev_journal *j,
                              struct dev_result *r, char *msg)
{
    const struct dev_block *b = &d->blk;
    uint64_t end = run->off + b->len;
    if ((run->size && end > run->size) || end > DEV_PKG_MAX)
        return ota_fail(msg, OTA_E_CORRUPT, "block ends at %llu, beyond Size2 %llu",
                        (unsigned long long)end, (unsigned long long)run->size);
    enum ota_err e = dev_part_write(d->flash, run->off, b->data, b->len, msg);
    if (e != OTA_OK)
        return e;
    int was_first = run->first;
    run->off = end;
    run->first = 0;
    r->bytes += b->len;
    dev_dl_progress(d, run, 0);
    run->since_sync += b->len;
    if (was_first || run->since_sync >= DEV_CHECKPOINT_BYTES)
        return dev_checkpoint(d, run, j, msg);
    return OTA_OK;
}

static enum ota_err dev_finish(struct dev_dl *d, struct dev_run *run, struct dev_journal *j,
                               struct dev_result *r, char *msg)
{
    if (run->size && run->off != run->size)
        return ota_fail(msg, OTA_E_CORRUPT, "transfer ended at %llu bytes, Size2 said %llu",
                        (unsigned long long)run->off, (unsigned long long)run->size);
    enum ota_err e = dev_part_finish(d->flash, msg);
    if (e != OTA_OK)
        return e;
    j->phase = DEV_J_DOWNLOADED;
    j->offset = j->size = r->pkg_size = run->off;
    dev_dl_progress(d, run, 1);
    return dev_journal_save(dev_flash_path(d->flash, DEV_F_JOURNAL), j, msg);
}

/* One request/answer round; *done set after the last block. */
static enum ota_err dev_round(struct dev_dl *d, struct dev_run *run, struct dev_journal *j,
                              struct dev_result *r, int *done, char *msg)
{
    struct dev_block *b = &d->blk;
    uint64_t num = run->off >> (run->szx + 4);
    if (num > DEV_BLOCK_NUM_MAX)
        return ota_fail(msg, OTA_E_LIMIT, "block number %llu exceeds Block2 range",
                        (unsigned long long)num);
    enum ota_err e = d->f->fetch(d->f->ctx, (uint32_t)num, run->szx, b, msg);
    if (e != OTA_OK)
        return dev_proto_fail(r, msg, e);
    if (b->code != 205)
        return dev_dl_fail_response(b, r, msg);
    if ((e = dev_check_block(b, run, msg)) != OTA_OK)
        return dev_proto_fail(r, msg, e);
    if (dev_same_package(b, run, j) != 0)
        return dev_restart(d, run, run->first ? "ETag differs from the interrupted download"
                                               : "ETag or Size2 changed during the download",
                           msg);
    if (run->size > DEV_PKG_MAX)
        return ota_fail(msg, OTA_E_LIMIT, "package of %llu bytes exceeds %u",
                        (unsigned long long)run->size, DEV_PKG_MAX);
    if (run->first && run->size)
        r->pkg_size = run->size;
    if ((e = dev_store(d, run, j, r, msg)) != OTA_OK)
        return e;
    *done = !(b->has_block2 && b->more);
    return *done ? dev_finish(d, run, j, r, msg) : OTA_OK;
}

enum ota_err dev_download(struct dev_dl *d, struct dev_journal *j, struct dev_result *r,
                          char *msg)
{
    struct dev_run run = {0};
    int done = 0;
    clock_gettime(CLOCK_MONOTONIC, &run.t0);
    run.szx = d->szx;
    run.first = 1;
    run.resume = j->phase == DEV_J_DOWNLOADING && j->etag_len > 0 && j->offset > 0;
    if (run.resume) {
        run.off = j->offset - j->offset % (16u << run.szx);
        log_msg(LOG_L_INFO, "download: resuming at byte %llu of %llu",
                (unsigned long long)run.off, (unsigned long long)j->size);
    } else {
        dev_journal_init(j);
    }
    enum ota_err e = dev_part_open(d->flash, &run.off, msg);
    if (run.off == 0)
        run.resume = 0;
    while (e == OTA_OK && !done)
        e = dev_round(d, &run, j, r, &done, msg);
    /* Link trouble is not power loss: record what we have so the next run
     * resumes from here rather than from the last periodic checkpoint. */
    if (e != OTA_OK && e != OTA_E_IO && !run.first && run.since_sync > 0) {
        char m[OTA_MSG_LEN];
        if (dev_checkpoint(d, &run, j, m) != OTA_OK)
            log_msg(LOG_L_WARN, "download: %s", m);
    }
    dev_part_close(d->flash);
    /* Anything but local I/O that stops a transfer is the link's or the
     * server's fault: retrying later can help. */
    if (e != OTA_OK && r->status == DEV_S_LOCAL && e != OTA_E_IO && e != OTA_E_STATE)
        r->status = DEV_S_NET;
    return e;
}
