/* devflash.c - host NOR flash port with a volatile write layer and a power
 * cut at the N-th write, erase, sync or journal save (see devflash.h for
 * the model).
 *
 * Sections: randomness, bookkeeping (counting, violations, the cut),
 * flash areas, journal slots, setup.
 */
#include "devflash.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- randomness: splitmix64, so a seed replays the same tears ---------- */

static uint64_t flash_mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static uint32_t flash_rand(struct devflash *f, uint32_t below)
{
    f->rng = flash_mix(f->rng);
    return below ? (uint32_t)(f->rng % below) : 0;
}

/* ---- bookkeeping ------------------------------------------------------- */

static int flash_violation(struct devflash *f, const char *what, enum odev_area a, uint32_t off, size_t len)
{
    if (f->st.violations++ == 0)
        snprintf(f->st.violation_msg, sizeof f->st.violation_msg, "%s: area %d off %u len %zu", what, (int)a,
                 (unsigned)off, len);
    return ODEV_E_INVAL;
}

static int flash_range_ok(const struct devflash *f, enum odev_area a, uint32_t off, size_t len)
{
    return (unsigned)a < ODEV_AREA__COUNT && f->area[a].now && off <= f->area[a].size &&
           len <= f->area[a].size - off;
}

static void flash_block_changed(struct devflash *f, enum odev_area a, uint32_t block)
{
    struct devflash_area *ar = &f->area[a];
    if (f->cfg.write_through)
        memcpy(ar->durable + (size_t)block * ar->erase, ar->now + (size_t)block * ar->erase, ar->erase);
    else
        ar->dirty[block] = 1;
}

static void flash_range_changed(struct devflash *f, enum odev_area a, uint32_t off, uint32_t len)
{
    if (len == 0)
        return;
    uint32_t e = f->area[a].erase;
    for (uint32_t b = off / e; b <= (off + len - 1) / e; b++)
        flash_block_changed(f, a, b);
}

/* The power goes: each unsynced block keeps its new content or falls back
 * to its last synced one, except the torn block (keep_area/keep_block),
 * whose tear reached the flash. */
static void flash_cut(struct devflash *f, int keep_area, uint32_t keep_block)
{
    for (int a = 0; a < ODEV_AREA__COUNT; a++) {
        struct devflash_area *ar = &f->area[a];
        for (uint32_t b = 0; ar->dirty && b < ar->size / ar->erase; b++) {
            if (!ar->dirty[b])
                continue;
            size_t at = (size_t)b * ar->erase;
            int keep = (a == keep_area && b == keep_block) || flash_rand(f, 2);
            if (keep) {
                memcpy(ar->durable + at, ar->now + at, ar->erase);
            } else {
                memcpy(ar->now + at, ar->durable + at, ar->erase);
                f->st.lost_blocks++;
            }
            ar->dirty[b] = 0;
        }
    }
    f->dead = 1;
    f->st.cut = 1;
}

/* Count one mutating call: 1 when this is the one the power cut tears
 * (the caller tears it, then calls flash_cut), 0 to go on. */
static int flash_count(struct devflash *f, enum devflash_op op, enum odev_area a, uint32_t off, uint32_t len)
{
    f->st.ops++;
    f->st.by_op[op]++;
    if (f->cut_at == 0 || f->st.ops != f->cut_at)
        return 0;
    f->st.cut_op = op;
    f->st.cut_area = a;
    f->st.cut_off = off;
    f->st.cut_len = len;
    return 1;
}

/* ---- flash areas ------------------------------------------------------- */

int devflash_read(void *ctx, enum odev_area a, uint32_t off, void *buf, size_t len)
{
    struct devflash *f = ctx;
    if (f->dead)
        return ODEV_E_IO;
    if (!flash_range_ok(f, a, off, len))
        return flash_violation(f, "read outside the area", a, off, len);
    memcpy(buf, f->area[a].now + off, len);
    return ODEV_OK;
}

/* Program bytes [off, off+n) of area a (NOR: AND). */
static void flash_program(struct devflash *f, enum odev_area a, uint32_t off, const uint8_t *src, uint32_t n)
{
    uint8_t *p = f->area[a].now + off;
    for (uint32_t i = 0; i < n; i++)
        p[i] &= src[i];
    flash_range_changed(f, a, off, n);
}

int devflash_write(void *ctx, enum odev_area a, uint32_t off, const void *buf, size_t len)
{
    struct devflash *f = ctx;
    const uint8_t *src = buf;
    if (f->dead)
        return ODEV_E_IO;
    if (!flash_range_ok(f, a, off, len))
        return flash_violation(f, "write outside the area", a, off, len);
    const uint8_t *old = f->area[a].now + off;
    for (size_t i = 0; i < len; i++)
        if (src[i] & ~old[i]) {
            flash_violation(f, "write sets a bit (no erase before)", a, (uint32_t)(off + i), len - i);
            break;
        }
    if (!flash_count(f, DEVFLASH_OP_WRITE, a, off, (uint32_t)len)) {
        flash_program(f, a, off, src, (uint32_t)len);
        return ODEV_OK;
    }
    /* Torn: a prefix is programmed, the next byte gets some of its bits. */
    uint32_t k = flash_rand(f, (uint32_t)len);
    flash_program(f, a, off, src, k);
    if (len) {
        uint8_t partial = (uint8_t)(src[k] | (uint8_t)flash_rand(f, 256));
        flash_program(f, a, off + k, &partial, 1);
    }
    f->st.tear = k;
    flash_cut(f, a, (off + k) / f->area[a].erase);
    return ODEV_E_IO;
}

int devflash_erase(void *ctx, enum odev_area a, uint32_t off, uint32_t len)
{
    struct devflash *f = ctx;
    if (f->dead)
        return ODEV_E_IO;
    if (!flash_range_ok(f, a, off, len))
        return flash_violation(f, "erase outside the area", a, off, len);
    uint32_t e = f->area[a].erase;
    if (off % e || len % e)
        return flash_violation(f, "erase not on erase blocks", a, off, len);
    uint8_t *p = f->area[a].now;
    if (!flash_count(f, DEVFLASH_OP_ERASE, a, off, len)) {
        memset(p + off, 0xFF, len);
        flash_range_changed(f, a, off, len);
        return ODEV_OK;
    }
    if (len == 0) {
        flash_cut(f, -1, 0);
        return ODEV_E_IO;
    }
    /* Torn: earlier blocks erased, the torn one half erased (either half
     * first: chips differ), later blocks untouched. */
    uint32_t torn = flash_rand(f, len / e), split = e > 1 ? 1 + flash_rand(f, e - 1) : 0;
    memset(p + off, 0xFF, (size_t)torn * e);
    flash_range_changed(f, a, off, torn * e);
    uint32_t at = off + torn * e;
    if (flash_rand(f, 2))
        memset(p + at, 0xFF, split);
    else
        memset(p + at + split, 0xFF, e - split);
    f->st.tear = split;
    flash_block_changed(f, a, at / e);
    flash_cut(f, a, at / e);
    return ODEV_E_IO;
}

int devflash_sync(void *ctx, enum odev_area a)
{
    struct devflash *f = ctx;
    if (f->dead)
        return ODEV_E_IO;
    if ((unsigned)a >= ODEV_AREA__COUNT || !f->area[a].now)
        return flash_violation(f, "sync of no area", a, 0, 0);
    if (flash_count(f, DEVFLASH_OP_SYNC, a, 0, 0)) {
        flash_cut(f, -1, 0); /* a sync in flight: every unsynced block is a coin */
        return ODEV_E_IO;
    }
    struct devflash_area *ar = &f->area[a];
    for (uint32_t b = 0; b < ar->size / ar->erase; b++)
        if (ar->dirty[b]) {
            memcpy(ar->durable + (size_t)b * ar->erase, ar->now + (size_t)b * ar->erase, ar->erase);
            ar->dirty[b] = 0;
        }
    return ODEV_OK;
}

/* ---- journal: the library's two-sector record (journal/djslot.c) ------ */

/* A save is one counted operation (DEVFLASH_OP_JOURNAL). When it is the one
 * the power cut tears, f->jtear names which of djslot's flash steps (0 the
 * erase, 1 the record, 2 the seal) is torn; the later ones find the power
 * gone. The journal sectors are written through (durable at once). */
static int jflash_tears(struct devflash *f)
{
    return f->jtear >= 0 && f->jstep++ == f->jtear;
}

static uint8_t *jflash_at(struct devflash *f, unsigned sector, uint32_t off, size_t len)
{
    if (sector > 1 || off > DEVFLASH_JOURNAL_SLOT || len > DEVFLASH_JOURNAL_SLOT - off) {
        flash_violation(f, "journal access outside its sector", ODEV_AREA__COUNT, off, len);
        return NULL;
    }
    return f->journal[sector] + off;
}

static int jflash_read(void *ctx, unsigned sector, uint32_t off, void *buf, size_t len)
{
    struct devflash *f = ctx;
    const uint8_t *p = f->dead ? NULL : jflash_at(f, sector, off, len);
    if (!p)
        return ODEV_E_IO;
    memcpy(buf, p, len);
    return ODEV_OK;
}

/* Torn: a prefix is programmed, the next byte gets some of its bits. */
static int jflash_program(void *ctx, unsigned sector, uint32_t off, const void *buf, size_t len)
{
    struct devflash *f = ctx;
    const uint8_t *src = buf;
    uint8_t *p = f->dead ? NULL : jflash_at(f, sector, off, len);
    if (!p)
        return ODEV_E_IO;
    for (size_t i = 0; i < len; i++)
        if (src[i] & ~p[i]) {
            flash_violation(f, "journal program sets a bit", ODEV_AREA__COUNT, off, len);
            break;
        }
    size_t n = jflash_tears(f) ? flash_rand(f, (uint32_t)len) : len;
    for (size_t i = 0; i < n; i++)
        p[i] &= src[i];
    if (n == len)
        return ODEV_OK;
    p[n] &= (uint8_t)(src[n] | (uint8_t)flash_rand(f, 256));
    f->st.tear = DEVFLASH_JOURNAL_SLOT + off + (uint32_t)n;
    flash_cut(f, -1, 0);
    return ODEV_E_IO;
}

/* Torn: an erased part and an old part, either side first. */
static int jflash_erase(void *ctx, unsigned sector)
{
    struct devflash *f = ctx;
    uint8_t *p = f->dead ? NULL : jflash_at(f, sector, 0, DEVFLASH_JOURNAL_SLOT);
    if (!p)
        return ODEV_E_IO;
    if (!jflash_tears(f)) {
        memset(p, 0xFF, DEVFLASH_JOURNAL_SLOT);
        return ODEV_OK;
    }
    uint32_t split = 1 + flash_rand(f, DEVFLASH_JOURNAL_SLOT - 1);
    if (flash_rand(f, 2))
        memset(p, 0xFF, split);
    else
        memset(p + split, 0xFF, DEVFLASH_JOURNAL_SLOT - split);
    f->st.tear = split;
    flash_cut(f, -1, 0);
    return ODEV_E_IO;
}

static const struct djslot_flash *jflash(struct devflash *f)
{
    f->jflash = (struct djslot_flash){f, jflash_read, jflash_program, jflash_erase};
    return &f->jflash;
}

int devflash_journal_load(void *ctx, uint8_t rec[ODEV_JOURNAL_LEN])
{
    struct devflash *f = ctx;
    if (f->dead)
        return ODEV_E_IO;
    f->jtear = -1;
    return djslot_load(jflash(f), rec);
}

int devflash_journal_save(void *ctx, const uint8_t rec[ODEV_JOURNAL_LEN])
{
    struct devflash *f = ctx;
    if (f->dead)
        return ODEV_E_IO;
    f->jstep = 0;
    f->jtear = flash_count(f, DEVFLASH_OP_JOURNAL, 0, 0, DJSLOT_LEN) ? (int)flash_rand(f, 3) : -1;
    return djslot_save(jflash(f), rec);
}

/* ---- setup ------------------------------------------------------------- */

void devflash_port(struct odev_port *p, struct devflash *f)
{
    p->ctx = f;
    p->read = devflash_read;
    p->write = devflash_write;
    p->erase = devflash_erase;
    p->sync = devflash_sync;
    p->journal_load = devflash_journal_load;
    p->journal_save = devflash_journal_save;
}

int devflash_init(struct devflash *f, const struct devflash_config *cfg)
{
    memset(f, 0, sizeof *f);
    f->cfg = *cfg;
    memset(f->journal, 0xFF, sizeof f->journal);
    for (int a = 0; a < ODEV_AREA__COUNT; a++) {
        struct devflash_area *ar = &f->area[a];
        ar->size = cfg->area[a].size;
        ar->erase = cfg->area[a].erase ? cfg->area[a].erase : DEVFLASH_ERASE_DEFAULT;
        if ((ar->erase & (ar->erase - 1)) || ar->size % ar->erase) {
            devflash_free(f);
            return ODEV_E_INVAL;
        }
        ar->now = malloc(ar->size ? ar->size : 1);
        ar->durable = malloc(ar->size ? ar->size : 1);
        ar->dirty = calloc(ar->size / ar->erase + 1, 1);
        if (!ar->now || !ar->durable || !ar->dirty) {
            devflash_free(f);
            return ODEV_E_LIMIT;
        }
        memset(ar->now, 0xFF, ar->size);
        memset(ar->durable, 0xFF, ar->size);
    }
    devflash_power_on(f, 0, 0);
    return ODEV_OK;
}

void devflash_free(struct devflash *f)
{
    for (int a = 0; a < ODEV_AREA__COUNT; a++) {
        free(f->area[a].now);
        free(f->area[a].durable);
        free(f->area[a].dirty);
        f->area[a].now = f->area[a].durable = f->area[a].dirty = NULL;
    }
}

void devflash_power_on(struct devflash *f, uint32_t cut_at, uint64_t salt)
{
    if (!f->dead) /* switching off without a cut still loses the volatile layer */
        flash_cut(f, -1, 0);
    uint32_t violations = f->st.violations;
    char msg[sizeof f->st.violation_msg];
    memcpy(msg, f->st.violation_msg, sizeof msg);
    memset(&f->st, 0, sizeof f->st);
    f->st.violations = violations;
    memcpy(f->st.violation_msg, msg, sizeof msg);
    f->dead = 0;
    f->cut_at = cut_at;
    f->rng = flash_mix(f->cfg.seed ^ flash_mix(salt ^ ((uint64_t)cut_at << 32)));
}

int devflash_load(struct devflash *f, enum odev_area a, uint32_t off, const void *buf, size_t len)
{
    if (!flash_range_ok(f, a, off, len))
        return ODEV_E_INVAL;
    struct devflash_area *ar = &f->area[a];
    uint32_t from = off / ar->erase * ar->erase;
    uint32_t to = (uint32_t)((off + len + ar->erase - 1) / ar->erase * ar->erase);
    if (to > ar->size)
        to = ar->size;
    memset(ar->now + from, 0xFF, to - from);
    memcpy(ar->now + off, buf, len);
    memcpy(ar->durable + from, ar->now + from, to - from);
    return ODEV_OK;
}

const uint8_t *devflash_peek(const struct devflash *f, enum odev_area a)
{
    return f->area[a].now;
}

uint32_t devflash_unsynced(const struct devflash *f, enum odev_area a)
{
    uint32_t n = 0;
    for (uint32_t b = 0; b < f->area[a].size / f->area[a].erase; b++)
        n += f->area[a].dirty[b];
    return n;
}

int devflash_copy(struct devflash *dst, const struct devflash *src)
{
    int r = devflash_init(dst, &src->cfg);
    if (r != ODEV_OK)
        return r;
    struct devflash_area keep[ODEV_AREA__COUNT];
    memcpy(keep, dst->area, sizeof keep);
    *dst = *src;
    memcpy(dst->area, keep, sizeof keep);
    for (int a = 0; a < ODEV_AREA__COUNT; a++) {
        const struct devflash_area *s = &src->area[a];
        memcpy(dst->area[a].now, s->now, s->size);
        memcpy(dst->area[a].durable, s->durable, s->size);
        memcpy(dst->area[a].dirty, s->dirty, s->size / s->erase);
    }
    return ODEV_OK;
}
