/* nor.c - NOR flash rules over a memory region: see nor.h. */
#include <string.h>

#include "nor.h"

#define NOR_JMAGIC 0x4c4e4a4fu /* "OJNL" */
#define NOR_JCOMMIT 0x00000000u

struct nor_jslot {
    uint32_t magic, seq;
    uint8_t rec[ODEV_JOURNAL_LEN];
    uint32_t sum;
    uint32_t commit; /* 0xFFFFFFFF until the rest is written */
};

static const struct {
    uint32_t off, size;
} nor_areas[ODEV_AREA__COUNT] = {
    [ODEV_AREA_DOWNLOAD] = {NOR_DOWNLOAD_OFF, NOR_DOWNLOAD_SIZE},
    [ODEV_AREA_STAGING] = {NOR_STAGING_OFF, NOR_STAGING_SIZE},
    [ODEV_AREA_CORE] = {NOR_CORE_OFF, NOR_CORE_SIZE},
    [ODEV_AREA_SCRIPT] = {NOR_SCRIPT_OFF, NOR_SCRIPT_SIZE},
};

void nor_init(struct nor *f, uint8_t *base)
{
    memset(f, 0, sizeof *f);
    f->base = base;
}

/* Count one operation; at the cut, do the first half of it (a torn
 * program or erase) and lose power. Nonzero = the operation is cut. */
static int nor_cut(struct nor *f, uint8_t *p, const uint8_t *src, size_t len)
{
    if (++f->ops != f->cut_at || !f->cut_at)
        return 0;
    for (size_t i = 0; i < len / 2; i++)
        p[i] = src ? p[i] & src[i] : 0xff;
    if (f->cut)
        f->cut(f->cut_ctx);
    return 1;
}

void nor_geometry(struct odev_geometry g[ODEV_AREA__COUNT])
{
    for (int a = 0; a < ODEV_AREA__COUNT; a++) {
        g[a].size = nor_areas[a].size;
        g[a].erase = NOR_SECTOR;
    }
}

/* Flash address of [off, off+len) in area a, or NULL when outside. */
static uint8_t *nor_at(struct nor *f, enum odev_area a, uint32_t off, size_t len)
{
    if ((unsigned)a >= ODEV_AREA__COUNT || off > nor_areas[a].size || len > nor_areas[a].size - off)
        return NULL;
    return f->base + nor_areas[a].off + off;
}

int nor_read(struct nor *f, enum odev_area a, uint32_t off, void *buf, size_t len)
{
    const uint8_t *p = nor_at(f, a, off, len);
    if (!p)
        return ODEV_E_LIMIT;
    memcpy(buf, p, len);
    return ODEV_OK;
}

/* Program bytes at p: every bit to set must already be 1. */
static int nor_program(struct nor *f, uint8_t *p, const uint8_t *src, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (src[i] & (uint8_t)~p[i])
            return ODEV_E_IO;
    if (nor_cut(f, p, src, len))
        return ODEV_E_IO;
    for (size_t i = 0; i < len; i++)
        p[i] &= src[i];
    f->writes++;
    return ODEV_OK;
}

int nor_write(struct nor *f, enum odev_area a, uint32_t off, const void *buf, size_t len)
{
    uint8_t *p = nor_at(f, a, off, len);
    if (!p)
        return ODEV_E_LIMIT;
    return nor_program(f, p, buf, len);
}

int nor_erase(struct nor *f, enum odev_area a, uint32_t off, uint32_t len)
{
    uint8_t *p = nor_at(f, a, off, len);
    if (!p)
        return ODEV_E_LIMIT;
    if (off % NOR_SECTOR || len % NOR_SECTOR)
        return ODEV_E_INVAL;
    if (nor_cut(f, p, NULL, len))
        return ODEV_E_IO;
    memset(p, 0xff, len);
    f->erases += len / NOR_SECTOR;
    return ODEV_OK;
}

/* FNV-1a over the sequence number and the record. */
static uint32_t nor_jsum(const struct nor_jslot *s)
{
    uint32_t h = 2166136261u;
    const uint8_t *p = (const uint8_t *)&s->seq;
    for (size_t i = 0; i < sizeof s->seq; i++)
        h = (h ^ p[i]) * 16777619u;
    for (size_t i = 0; i < sizeof s->rec; i++)
        h = (h ^ s->rec[i]) * 16777619u;
    return h;
}

static const struct nor_jslot *nor_jslot(struct nor *f, int i)
{
    return (const struct nor_jslot *)(f->base + NOR_JOURNAL_OFF + (uint32_t)i * NOR_SECTOR);
}

static int nor_jvalid(const struct nor_jslot *s)
{
    return s->magic == NOR_JMAGIC && s->commit == NOR_JCOMMIT && s->sum == nor_jsum(s);
}

/* Index of the newest valid slot, -1 when none. */
static int nor_jnewest(struct nor *f)
{
    const struct nor_jslot *a = nor_jslot(f, 0), *b = nor_jslot(f, 1);
    int va = nor_jvalid(a), vb = nor_jvalid(b);
    if (va && vb)
        return (int32_t)(b->seq - a->seq) > 0 ? 1 : 0;
    return va ? 0 : vb ? 1 : -1;
}

int nor_journal_load(struct nor *f, uint8_t rec[ODEV_JOURNAL_LEN])
{
    int i = nor_jnewest(f);
    if (i < 0)
        return ODEV_E_NOTFOUND;
    memcpy(rec, nor_jslot(f, i)->rec, ODEV_JOURNAL_LEN);
    return ODEV_OK;
}

int nor_journal_save(struct nor *f, const uint8_t rec[ODEV_JOURNAL_LEN])
{
    int cur = nor_jnewest(f), next = cur == 0 ? 1 : 0;
    struct nor_jslot s;
    uint8_t *p = f->base + NOR_JOURNAL_OFF + (uint32_t)next * NOR_SECTOR;
    s.magic = NOR_JMAGIC;
    s.seq = cur < 0 ? 1 : nor_jslot(f, cur)->seq + 1;
    memcpy(s.rec, rec, ODEV_JOURNAL_LEN);
    s.sum = nor_jsum(&s);
    s.commit = NOR_JCOMMIT;
    /* Erase, then everything but the commit word, then the commit word:
     * a cut anywhere leaves this slot invalid and the other one intact. */
    if (nor_cut(f, p, NULL, NOR_SECTOR))
        return ODEV_E_IO;
    memset(p, 0xff, NOR_SECTOR);
    f->erases++;
    int rc = nor_program(f, p, (const uint8_t *)&s, offsetof(struct nor_jslot, commit));
    if (rc == ODEV_OK)
        rc = nor_program(f, p + offsetof(struct nor_jslot, commit), (const uint8_t *)&s.commit,
                         sizeof s.commit);
    return rc;
}
