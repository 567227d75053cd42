/* nor.c - NOR flash rules over a memory region: see nor.h. */
#include <string.h>

#include "nor.h"
#include "journal/djslot.h"

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

/* The journal: djslot over the two sectors at NOR_JOURNAL_OFF. */
static uint8_t *nor_jsector(struct nor *f, unsigned sector, uint32_t off, size_t len)
{
    return sector < 2 && off <= NOR_SECTOR && len <= NOR_SECTOR - off
               ? f->base + NOR_JOURNAL_OFF + sector * NOR_SECTOR + off
               : NULL;
}

static int nor_jread(void *ctx, unsigned sector, uint32_t off, void *buf, size_t len)
{
    const uint8_t *p = nor_jsector(ctx, sector, off, len);
    if (!p)
        return ODEV_E_LIMIT;
    memcpy(buf, p, len);
    return ODEV_OK;
}

static int nor_jprogram(void *ctx, unsigned sector, uint32_t off, const void *buf, size_t len)
{
    uint8_t *p = nor_jsector(ctx, sector, off, len);
    return p ? nor_program(ctx, p, buf, len) : ODEV_E_LIMIT;
}

static int nor_jerase(void *ctx, unsigned sector)
{
    struct nor *f = ctx;
    uint8_t *p = nor_jsector(f, sector, 0, NOR_SECTOR);
    if (!p)
        return ODEV_E_LIMIT;
    if (nor_cut(f, p, NULL, NOR_SECTOR))
        return ODEV_E_IO;
    memset(p, 0xff, NOR_SECTOR);
    f->erases++;
    return ODEV_OK;
}

static struct djslot_flash nor_journal(struct nor *f)
{
    return (struct djslot_flash){f, nor_jread, nor_jprogram, nor_jerase};
}

int nor_journal_load(struct nor *f, uint8_t rec[ODEV_JOURNAL_LEN])
{
    struct djslot_flash j = nor_journal(f);
    return djslot_load(&j, rec);
}

int nor_journal_save(struct nor *f, const uint8_t rec[ODEV_JOURNAL_LEN])
{
    struct djslot_flash j = nor_journal(f);
    return djslot_save(&j, rec);
}
