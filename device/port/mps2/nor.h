/* nor.h - the emulated NOR flash of the mps2 port: areas and journal.
 *
 * A memory region (PSRAM at MPS2_FLASH_BASE, filled by QEMU from a file)
 * given NOR's rules: 4 KiB erase sectors, erase sets 0xFF, a write may
 * only clear bits (one that would set a bit fails with ODEV_E_IO and
 * changes nothing), sync has nothing to flush. Layout (byte offsets; the
 * test's flash image builder reads these #defines, keep them one per
 * line):
 */
#ifndef NOR_H
#define NOR_H

#include <stddef.h>
#include <stdint.h>

#include "odev.h"

#define NOR_SECTOR 0x1000
#define NOR_PROV_OFF 0x000000     /* provisioning text (prov.h), one sector */
#define NOR_JOURNAL_OFF 0x001000  /* journal: two sectors, A and B */
#define NOR_CORE_OFF 0x010000     /* running core */
#define NOR_CORE_SIZE 0x100000
#define NOR_SCRIPT_OFF 0x110000   /* running script */
#define NOR_SCRIPT_SIZE 0x020000
#define NOR_DOWNLOAD_OFF 0x130000 /* the package as it arrives */
#define NOR_DOWNLOAD_SIZE 0x100000
#define NOR_STAGING_OFF 0x230000  /* new core, then new script */
#define NOR_STAGING_SIZE 0x120000
#define NOR_TOTAL 0x350000

struct nor {
    uint8_t *base;          /* NOR_TOTAL bytes */
    uint32_t writes, erases; /* counters for the log */
    /* Power-cut test hook: program and erase operations (the journal's
     * included) are counted in ops; operation number cut_at (1-based, 0 =
     * never) is torn (its first half done) and then cut(cut_ctx) is
     * called, which on the board does not return; if it does, the
     * operation fails with ODEV_E_IO. */
    uint32_t ops, cut_at;
    void (*cut)(void *ctx);
    void *cut_ctx;
};

void nor_init(struct nor *f, uint8_t *base);
void nor_geometry(struct odev_geometry g[ODEV_AREA__COUNT]);
int nor_read(struct nor *f, enum odev_area a, uint32_t off, void *buf, size_t len);
int nor_write(struct nor *f, enum odev_area a, uint32_t off, const void *buf, size_t len);
int nor_erase(struct nor *f, enum odev_area a, uint32_t off, uint32_t len);
/* The journal: the library's two-sector record (journal/djslot.h) in
 * the two sectors at NOR_JOURNAL_OFF; its erase and programs count as
 * operations for cut_at like any other. */
int nor_journal_load(struct nor *f, uint8_t rec[ODEV_JOURNAL_LEN]);
int nor_journal_save(struct nor *f, const uint8_t rec[ODEV_JOURNAL_LEN]);

#endif
