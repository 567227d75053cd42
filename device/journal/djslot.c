/* djslot.c - the journal record in two NOR sectors: see djslot.h. */
#include <string.h>

#include "djslot.h"

/* The minimal port's seal before djslot existed: sectors it wrote (same
 * layout, little-endian Cortex-M) stay readable after an upgrade. */
#define DJSLOT_SEAL 0x4F444556u /* "ODEV" read as a number */
#define DJSLOT_SUM_AT (4 + ODEV_JOURNAL_LEN)
#define DJSLOT_SEAL_AT (DJSLOT_SUM_AT + 4)

static uint32_t djslot_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void djslot_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* FNV-1a: no table, a multiply per byte; enough against torn programs,
 * which leave bits set that should be clear. */
static uint32_t djslot_fnv(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    while (n--)
        h = (h ^ *p++) * 16777619u;
    return h;
}

/* The sector with the newest sealed, intact record in *which (-1 = none)
 * and its sequence number in *seq. img is scratch. */
static int djslot_newest(const struct djslot_flash *f, uint8_t img[DJSLOT_LEN], int *which,
                         uint32_t *seq)
{
    uint32_t sq[2];
    int ok[2];
    for (unsigned s = 0; s < 2; s++) {
        int e = f->read(f->ctx, s, 0, img, DJSLOT_LEN);
        if (e != ODEV_OK)
            return e;
        sq[s] = djslot_get32(img);
        ok[s] = djslot_get32(img + DJSLOT_SEAL_AT) == DJSLOT_SEAL &&
                djslot_get32(img + DJSLOT_SUM_AT) == djslot_fnv(img, DJSLOT_SUM_AT);
    }
    if (ok[0] && ok[1]) {
        ok[0] = (int32_t)(sq[0] - sq[1]) > 0;
        ok[1] = !ok[0];
    }
    *which = ok[0] ? 0 : ok[1] ? 1 : -1;
    *seq = *which >= 0 ? sq[*which] : 0;
    return ODEV_OK;
}

int djslot_load(const struct djslot_flash *f, uint8_t rec[ODEV_JOURNAL_LEN])
{
    uint8_t img[DJSLOT_LEN];
    uint32_t seq;
    int which, e = djslot_newest(f, img, &which, &seq);
    if (e != ODEV_OK)
        return e;
    if (which < 0)
        return ODEV_E_NOTFOUND;
    return f->read(f->ctx, (unsigned)which, 4, rec, ODEV_JOURNAL_LEN);
}

int djslot_save(const struct djslot_flash *f, const uint8_t rec[ODEV_JOURNAL_LEN])
{
    uint8_t img[DJSLOT_LEN];
    uint32_t seq;
    int which, e = djslot_newest(f, img, &which, &seq);
    if (e != ODEV_OK)
        return e;
    unsigned target = which == 0 ? 1 : 0;
    djslot_put32(img, which < 0 ? 1 : seq + 1);
    memcpy(img + 4, rec, ODEV_JOURNAL_LEN);
    djslot_put32(img + DJSLOT_SUM_AT, djslot_fnv(img, DJSLOT_SUM_AT));
    djslot_put32(img + DJSLOT_SEAL_AT, DJSLOT_SEAL);
    if ((e = f->erase(f->ctx, target)) != ODEV_OK ||
        (e = f->program(f->ctx, target, 0, img, DJSLOT_SEAL_AT)) != ODEV_OK)
        return e;
    return f->program(f->ctx, target, DJSLOT_SEAL_AT, img + DJSLOT_SEAL_AT, 4);
}
