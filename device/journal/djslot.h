/* djslot.h - the journal record kept in two erase sectors of NOR flash,
 * for ports whose journal_load/journal_save sit on raw flash.
 *
 * odev.h asks journal_save to be atomic: after a power cut at any instant,
 * journal_load returns the previous record or the new one, never a mix.
 * This is one way to get that from plain NOR (erase to 0xFF, program only
 * clears bits) without a file system: two sectors, each holding
 *
 *     sequence (4) | record (ODEV_JOURNAL_LEN) | FNV-1a of both (4) | seal (4)
 *
 * little-endian (the minimal port's layout before this module existed,
 * so its sectors stay readable). Save erases the sector that does not hold the newest
 * record, programs sequence, record and checksum, and only then the seal.
 * A cut during the erase or the first program leaves that sector unsealed
 * or failing its checksum; a cut in the seal leaves it unsealed, or sealed
 * and complete. Either way the other sector still holds the previous
 * record. Load takes the sealed, intact sector with the newer sequence
 * number (serial arithmetic: the number may wrap).
 *
 * The port supplies the three flash operations on "sector 0 or 1 of the
 * journal"; each returns ODEV_OK or an odev_err. Writes must be durable
 * when program returns (sync inside it if the flash posts writes).
 * Stack: DJSLOT_LEN bytes plus a few words; no state between calls.
 */
#ifndef DJSLOT_H
#define DJSLOT_H

#include "odev.h"

#define DJSLOT_LEN (4 + ODEV_JOURNAL_LEN + 4 + 4) /* smallest sector that holds one */

struct djslot_flash {
    void *ctx;
    int (*read)(void *ctx, unsigned sector, uint32_t off, void *buf, size_t len);
    int (*program)(void *ctx, unsigned sector, uint32_t off, const void *buf, size_t len);
    int (*erase)(void *ctx, unsigned sector);
};

/* ODEV_OK with rec filled, ODEV_E_NOTFOUND when neither sector holds a
 * record, or the error of a failed read. */
int djslot_load(const struct djslot_flash *f, uint8_t rec[ODEV_JOURNAL_LEN]);
/* ODEV_OK once the new record is sealed, or the error of the operation
 * that failed (then load returns the previous record or this one). */
int djslot_save(const struct djslot_flash *f, const uint8_t rec[ODEV_JOURNAL_LEN]);

#endif
