/* journal.h - the update journal: which phase the device is in, durably.
 *
 * Phases: idle -> downloading(offset, etag, size, block size) -> downloaded
 * -> applying -> committing(new versions, slots) -> committed -> idle.
 * The journal is one fixed 128-byte record, big-endian, written atomically
 * (temp name, fsync, rename) so a reader sees the old or the new record,
 * and it ends with the first 8 bytes of SHA-256 over the rest so that a
 * corrupted record is detected rather than acted on.
 *
 *   0  "OTAJ"     4  format (1)   5  phase    6  slots   7  etag length
 *   8  block size (u16)          10  reserved (0)
 *  12  etag[8]   20  offset (u64) 28  size (u64)
 *  36  new core name[16]  52  new core chip[16]  68  new core number (u32)
 *  72  new script major, minor, patch (3 x u32)
 *  84  bitmap (u64): bit i set = block offset/block_size + i is durable too
 *  92..119 zero
 * 120  check[8] = SHA-256(bytes 0..119)[0..7]
 *
 * offset is the durable contiguous prefix of download.part; the windowed
 * download (dl.c) stores blocks out of order, so the bitmap records which
 * of the DEV_JOURNAL_SPAN blocks after the prefix are durable as well and
 * a resume re-fetches only the holes. Writers before issue 5 left the
 * bitmap zero, and a reader that ignores it just re-fetches more: the
 * format number stays 1.
 *
 * A missing journal means idle. Used by dev.c (phases) and dl.c (offset).
 */
#ifndef JOURNAL_H
#define JOURNAL_H

#include "ver.h"

#define DEV_JOURNAL_LEN 128
#define DEV_JOURNAL_FORMAT 1
#define DEV_ETAG_MAX 8
#define DEV_JOURNAL_SPAN 64 /* bits in the bitmap */

enum dev_jphase {
    DEV_J_IDLE = 0,
    DEV_J_DOWNLOADING, /* download.part holds offset durable bytes of a package with etag */
    DEV_J_DOWNLOADED,  /* download.pkg is complete (size bytes) */
    DEV_J_APPLYING,    /* staging files may be partial: discard them on restart */
    DEV_J_COMMITTING,  /* staging files are complete: install them, save versions */
    DEV_J_COMMITTED,   /* installed; package deletion and report pending */
    DEV_J__COUNT
};

#define DEV_SLOT_CORE 0x1u
#define DEV_SLOT_SCRIPT 0x2u

struct dev_journal {
    enum dev_jphase phase;
    unsigned slots; /* DEV_SLOT_*: what committing installs */
    uint16_t block_size;
    uint8_t etag[DEV_ETAG_MAX];
    size_t etag_len;
    uint64_t offset, size;
    uint64_t bitmap; /* durable blocks after offset (see above); bit 0 is never set */
    struct ver_core core;     /* versions after the commit */
    struct ver_script script;
};

void dev_journal_init(struct dev_journal *j);
void dev_journal_encode(const struct dev_journal *j, uint8_t out[DEV_JOURNAL_LEN]);
/* OTA_E_CORRUPT with the field named for anything out of range. */
enum ota_err dev_journal_decode(const uint8_t *buf, size_t len, struct dev_journal *j, char *msg);
/* A missing file loads as idle. */
enum ota_err dev_journal_load(const char *path, struct dev_journal *j, char *msg);
enum ota_err dev_journal_save(const char *path, const struct dev_journal *j, char *msg);
const char *dev_journal_phase_name(enum dev_jphase p);

#endif
