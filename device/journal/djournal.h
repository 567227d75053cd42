/* djournal.h - the 128-byte durable update record of the device library.
 *
 * Byte-compatible with client/journal.c format 1 (ota-client's journal):
 * big-endian, "OTAJ", SHA-256 check in the last 8 bytes; the library uses
 * the bytes that format leaves zero ("reserved") for what a device without
 * a file system has nowhere else to keep: the running images' lengths and
 * a pending report.
 *
 *   0  "OTAJ"   4  format (1)   5  phase   6  slots   7  etag length
 *   8  block size (u16)        10  boot counter (u16, reserved 0 in client/journal.c)
 *  12  etag[8]  20  offset (u64)  28  size (u64)   (u64 high word 0 here)
 *  36  core name[16]  52  core chip[16]  68  core number (u32)
 *  72  script major, minor, patch (3 x u32)
 *  84  bitmap (u64): bit i set = block offset/block_size + i is durable too
 *  --- reserved in client/journal.c (zero there), used here: ---
 *  92  core length (u32)   96  script length (u32)
 * 100  flags: bit 0 = report pending, bit 1 = images valid (the fields at
 *      36..99 are set; a client record leaves this 0)
 * 101  report result code (the "result" of POST /report, 0 = success)
 * 102  report reason code (enum odev_reason, 0 = none)   103  zero
 * 104  "from" core number (u32)  108  "from" script major, minor, patch
 * 120  check[8] = SHA-256(bytes 0..119)[0..7]
 *
 * The images at 36..99 are what the slots hold once the current phase is
 * done: the running images in idle/downloading/downloaded/applying, the
 * new ones in committing/committed (a cut during the commit finishes it
 * from these). Core name and chip never change in an update (the package
 * header must match them), so "from" needs only the numbers.
 */
#include "odev.h"

#ifndef DJOURNAL_H
#define DJOURNAL_H

#define DJOURNAL_FORMAT 1
#define DJOURNAL_SPAN 64 /* bits in the bitmap */

enum djournal_phase {
    DJ_IDLE = 0,
    DJ_DOWNLOADING, /* DOWNLOAD holds offset durable bytes (+ bitmap) of package etag */
    DJ_DOWNLOADED,  /* DOWNLOAD holds the whole package (size bytes) */
    DJ_APPLYING,    /* STAGING may be partial: discarded on restart */
    DJ_COMMITTING,  /* STAGING is complete: install it (idempotent) */
    DJ_COMMITTED,   /* installed; the journal's images are running */
    DJ__COUNT
};

#define DJ_SLOT_CORE 0x1u
#define DJ_SLOT_SCRIPT 0x2u
#define DJ_F_REPORT 0x1u
#define DJ_F_IMAGES 0x2u

struct djournal {
    uint8_t phase;     /* enum djournal_phase */
    uint8_t slots;     /* DJ_SLOT_* installed by committing */
    uint16_t block_size;
    uint8_t etag_len;
    uint8_t etag[ODEV_ETAG_MAX];
    uint32_t offset, size;
    uint64_t bitmap;
    struct odev_image img;  /* see the layout: running or new images */
    /* from here on: what outlives an update (an idle record keeps it) */
    uint8_t flags;     /* DJ_F_* */
    uint8_t report;    /* pending report's result code */
    uint8_t reason;    /* its reason code (enum odev_reason) */
    uint16_t boots;    /* bumped once per boot: part of the token base */
    uint32_t from_core;
    uint32_t from_script[3];
};

void djournal_init(struct djournal *j);
void djournal_encode(const struct djournal *j, uint8_t out[ODEV_JOURNAL_LEN]);
/* ODEV_E_CORRUPT (with a static reason) for a bad check, magic, format or
 * any field out of range; j is then idle. ODEV_E_LIMIT for offsets beyond
 * 32 bits (a record from a host with a larger package). */
enum odev_err djournal_decode(const uint8_t *buf, size_t len, struct djournal *j,
                              const char **why);
const char *djournal_phase_name(unsigned phase);

#endif
