/* devmem.h - a memory port for the device library tests.
 *
 * Four areas in RAM with flash semantics: a byte is programmed once
 * after an erase (as ECC flash demands, e.g. STM32L4; with rewrite_ok,
 * NOR's rule instead: a write may only clear bits); any other write fails
 * with ODEV_E_IO and counts in bad_writes, which catches a missing erase
 * even when the same bytes are written again; erase takes whole erase
 * blocks and sets them to 0xFF), a journal record, the link to a devsrv
 * fake server and its virtual clock, a log kept in memory.
 */
#ifndef DEVMEM_H
#define DEVMEM_H

#include "devsrv.h"
#include "odev.h"

struct devmem {
    uint8_t *area[ODEV_AREA__COUNT];
    struct odev_geometry geo[ODEV_AREA__COUNT];
    uint8_t journal[ODEV_JOURNAL_LEN];
    int has_journal;
    struct devsrv *srv;
    unsigned long writes, erases, syncs, saves, bad_writes, sends;
    int link_down;                /* send and recv fail with ODEV_E_NET */
    int rewrite_ok;               /* NOR: writes that only clear bits are fine */
    long jsave_limit;             /* journal saves after this many are lost (a cut); -1 = none */
    int installed_calls;
    struct odev_image installed;
    char lastlog[160];
    unsigned long events[ODEV_EV__COUNT]; /* log hook calls per event code */
    const struct odev *dev;       /* when set, the log hook keeps odev_progress at a resume */
    struct odev_progress resume_progress;
};

/* Areas of the given sizes and erase block, all erased (0xFF). */
void devmem_init(struct devmem *m, struct devsrv *srv, const uint32_t size[ODEV_AREA__COUNT],
                 uint32_t erase);
void devmem_free(struct devmem *m);
void devmem_port(struct devmem *m, struct odev_port *p);
/* Put an image into an area as if flashed at manufacture. */
void devmem_load(struct devmem *m, enum odev_area a, const uint8_t *data, size_t len);

#endif
