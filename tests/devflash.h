/* devflash.h - host flash port for the device library that cuts the power.
 *
 * Implements the flash and journal half of struct odev_port (read, write,
 * erase, sync, journal_load, journal_save) over memory with NOR semantics,
 * and cuts the power at the N-th mutating call so tests/test_device_powercut.c
 * can try every cut point of an update. What it models, decided here:
 *
 * - NOR: erase sets whole erase blocks to 0xFF (default 4 KiB), a write can
 *   only clear bits. A write that would set a bit, an unaligned erase or an
 *   access outside an area is a library bug: it is counted in
 *   devflash_stats.violations (the write stores old & new, as real NOR does)
 *   and the first one is described in violation_msg.
 * - Durability: reads see every write and erase at once, but only sync makes
 *   them durable (odev.h: "nothing is durable before sync returns"). At a cut
 *   every erase block changed since its area's last sync independently keeps
 *   its new content or falls back to what it held at that sync (a coin from
 *   the seed), as a page cache or a write-back buffer would. A sync cut in
 *   flight is the same coin per block. cfg.write_through = 1 turns this off
 *   (every write durable at once, sync a counted no-op: plain NOR).
 * - Counted operations: write, erase, sync, journal_save (reads and
 *   journal_load are not). At the cut_at-th one the power goes: the call is
 *   torn and returns ODEV_E_IO, and every later call of the port (reads
 *   too) fails with ODEV_E_IO until devflash_power_on.
 * - Tears (all chosen from the seed, deterministic): a write programs a
 *   prefix of its bytes, the byte at the tear gets a random subset of its
 *   cleared bits; an erase of several blocks erases the ones before the torn
 *   block, the torn block gets an erased part and an old part (either side
 *   first), later blocks stay old; the torn block always reaches the flash.
 * - The journal is the library's own two-sector record (journal/djslot.c,
 *   what the mps2 and minimal ports run) over two erase blocks of their
 *   own, written through. A save counts as one operation; when the cut
 *   falls on it, one of its three flash steps (the erase, the record's
 *   program, the seal's program), chosen from the seed, is torn like an
 *   area's erase or write, so the campaign checks that load then returns
 *   the previous record or the new one, never a mix.
 *
 * Host test code: allocates with calloc, reports through devflash_stats.
 */
#ifndef DEVFLASH_H
#define DEVFLASH_H

#include <stdint.h>
#include <stddef.h>

#include "odev.h"
#include "journal/djslot.h"

#define DEVFLASH_ERASE_DEFAULT 4096u
#define DEVFLASH_JOURNAL_SLOT 256u /* bytes of one journal slot (its erase block) */

enum devflash_op { DEVFLASH_OP_WRITE, DEVFLASH_OP_ERASE, DEVFLASH_OP_SYNC, DEVFLASH_OP_JOURNAL, DEVFLASH_OP__COUNT };

struct devflash_config {
    struct odev_geometry area[ODEV_AREA__COUNT]; /* erase 0 = DEVFLASH_ERASE_DEFAULT */
    uint64_t seed;     /* chooses every tear and every lost block */
    int write_through; /* 1: writes durable at once (no volatile layer) */
};

struct devflash_stats {
    uint32_t ops;                     /* counted calls since power on */
    uint32_t by_op[DEVFLASH_OP__COUNT];
    uint32_t violations;              /* library bugs: NOR set bit, unaligned erase, out of area */
    char violation_msg[160];          /* the first one */
    int cut;                          /* 1 once the power went in this boot */
    enum devflash_op cut_op;          /* which call was torn */
    enum odev_area cut_area;          /* its area (write, erase, sync) */
    uint32_t cut_off, cut_len;        /* and range (write, erase) */
    uint32_t tear;                    /* bytes programmed / erased of the torn block or record */
    uint32_t lost_blocks;             /* unsynced blocks that fell back at the cut */
};

struct devflash_area {
    uint32_t size, erase;
    uint8_t *now;     /* what reads see */
    uint8_t *durable; /* content at the last sync (what survives a cut) */
    uint8_t *dirty;   /* one flag per erase block: changed since the last sync */
};

struct devflash {
    struct devflash_config cfg;
    struct devflash_area area[ODEV_AREA__COUNT];
    uint8_t journal[2][DEVFLASH_JOURNAL_SLOT];
    int jtear, jstep;            /* the save being torn: which djslot step; steps done */
    struct djslot_flash jflash;  /* djslot's view of the two journal sectors */
    uint32_t cut_at; /* 0 = never */
    uint64_t rng;
    int dead;
    struct devflash_stats st;
};

/* Allocate the areas, all erased (0xFF); the journal is empty. ODEV_E_INVAL
 * for an erase size that is not a power of two or does not divide the size. */
int devflash_init(struct devflash *f, const struct devflash_config *cfg);
void devflash_free(struct devflash *f);

/* Fresh boot: the power comes back, counters restart at 0, and the cut_at-th
 * counted call of this boot will cut it again (0 = never). The seed of this
 * boot's tears is cfg.seed mixed with salt. */
void devflash_power_on(struct devflash *f, uint32_t cut_at, uint64_t salt);

/* Factory programming: content durable at once, no counting, no checks
 * (erases the blocks it covers first). */
int devflash_load(struct devflash *f, enum odev_area a, uint32_t off, const void *buf, size_t len);
/* The content a read sees (for checks; valid until devflash_free). */
const uint8_t *devflash_peek(const struct devflash *f, enum odev_area a);

/* Erase blocks of area a changed since its last sync (data a cut may lose). */
uint32_t devflash_unsynced(const struct devflash *f, enum odev_area a);
/* dst becomes a copy of src (areas, journal, power state, counters), to
 * replay several recoveries from one cut; dst is initialised by this call. */
int devflash_copy(struct devflash *dst, const struct devflash *src);

/* The port functions; ctx is the struct devflash. */
int devflash_read(void *ctx, enum odev_area a, uint32_t off, void *buf, size_t len);
int devflash_write(void *ctx, enum odev_area a, uint32_t off, const void *buf, size_t len);
int devflash_erase(void *ctx, enum odev_area a, uint32_t off, uint32_t len);
int devflash_sync(void *ctx, enum odev_area a);
int devflash_journal_load(void *ctx, uint8_t rec[ODEV_JOURNAL_LEN]);
int devflash_journal_save(void *ctx, const uint8_t rec[ODEV_JOURNAL_LEN]);

/* Fill p's flash and journal members with the functions above and ctx = f
 * (a test that shares ctx with a network port forwards to them instead). */
void devflash_port(struct odev_port *p, struct devflash *f);

#endif
