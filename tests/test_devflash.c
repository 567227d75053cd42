/* test_devflash.c - the power-cutting flash port (tests/devflash) itself:
 * a torn write leaves a prefix, a torn erase a mix of erased and old, the
 * journal stays atomic across every cut of journal_save, unsynced blocks
 * may be lost but synced ones never, NOR violations are caught, and the
 * counting that the power-cut campaign relies on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "devflash.h"

#define E 4096u
#define SEEDS 200

static void flash_make(struct devflash *f, uint64_t seed, int write_through)
{
    struct devflash_config c;
    memset(&c, 0, sizeof c);
    for (int a = 0; a < ODEV_AREA__COUNT; a++)
        c.area[a].size = 8 * E;
    c.seed = seed;
    c.write_through = write_through;
    assert_int_equal(devflash_init(f, &c), ODEV_OK);
}

static void pattern(uint8_t *p, size_t n, unsigned k)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 7 + k * 13 + 1);
}

static void torn_write_leaves_prefix(void **state)
{
    (void)state;
    uint8_t src[3 * E / 2], got[3 * E / 2];
    pattern(src, sizeof src, 1);
    int partial_seen = 0;
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        struct devflash f;
        flash_make(&f, seed, 1);
        devflash_power_on(&f, 1, 0);
        assert_int_equal(devflash_write(&f, ODEV_AREA_STAGING, 100, src, sizeof src), ODEV_E_IO);
        assert_true(f.st.cut && f.st.cut_op == DEVFLASH_OP_WRITE);
        uint32_t k = f.st.tear;
        assert_true(k < sizeof src);
        /* the power stays off: every call fails, reads too */
        assert_int_equal(devflash_read(&f, ODEV_AREA_STAGING, 0, got, 1), ODEV_E_IO);
        assert_int_equal(devflash_sync(&f, ODEV_AREA_STAGING), ODEV_E_IO);
        devflash_power_on(&f, 0, 0);
        const uint8_t *p = devflash_peek(&f, ODEV_AREA_STAGING);
        assert_memory_equal(p + 100, src, k);
        assert_int_equal(p[100 + k] & src[k], src[k]); /* only some of its bits cleared */
        partial_seen += p[100 + k] != src[k] && p[100 + k] != 0xFF;
        for (size_t i = 100 + k + 1; i < 8 * E; i++)
            assert_int_equal(p[i], 0xFF);
        for (size_t i = 0; i < 100; i++)
            assert_int_equal(p[i], 0xFF);
        assert_int_equal(f.st.violations, 0);
        devflash_free(&f);
    }
    assert_true(partial_seen > 0);
}

static void torn_erase_leaves_mix(void **state)
{
    (void)state;
    static uint8_t zero[8 * E];
    int front = 0, back = 0;
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        struct devflash f;
        flash_make(&f, seed, 1);
        assert_int_equal(devflash_load(&f, ODEV_AREA_CORE, 0, zero, sizeof zero), ODEV_OK);
        devflash_power_on(&f, 1, 0);
        assert_int_equal(devflash_erase(&f, ODEV_AREA_CORE, E, 4 * E), ODEV_E_IO);
        devflash_power_on(&f, 0, 0);
        const uint8_t *p = devflash_peek(&f, ODEV_AREA_CORE);
        uint32_t torn = 0;
        while (torn < 4 && p[E + torn * E] == 0xFF && p[E + torn * E + E - 1] == 0xFF)
            torn++;
        assert_true(torn < 4); /* the torn block is never wholly erased */
        for (uint32_t i = 0; i < E; i++)
            assert_int_equal(p[i], 0); /* before the range */
        for (uint32_t i = E; i < E + torn * E; i++)
            assert_int_equal(p[i], 0xFF);
        const uint8_t *b = p + E + torn * E;
        uint32_t split = f.st.tear;
        (void)split; /* stats restart at power on; recompute from the content */
        uint32_t ff = 0;
        while (ff < E && b[ff] == 0xFF)
            ff++;
        if (ff > 0) { /* erased front, old back */
            front++;
            for (uint32_t i = ff; i < E; i++)
                assert_int_equal(b[i], 0);
        } else { /* old front, erased back */
            uint32_t z = 0;
            while (z < E && b[z] == 0)
                z++;
            back += z < E;
            for (uint32_t i = z; i < E; i++)
                assert_int_equal(b[i], 0xFF);
        }
        for (uint32_t i = E + (torn + 1) * E; i < 8 * E; i++)
            assert_int_equal(p[i], 0); /* later blocks and past the range untouched */
        devflash_free(&f);
    }
    assert_true(front > 0 && back > 0);
}

/* A journal of five saves, cut at each of them under many seeds: load
 * gives the record before the cut or the one being saved, whole. */
static void journal_atomic_every_cut(void **state)
{
    (void)state;
    uint8_t rec[6][ODEV_JOURNAL_LEN], got[ODEV_JOURNAL_LEN];
    for (unsigned i = 0; i < 6; i++)
        pattern(rec[i], ODEV_JOURNAL_LEN, i + 5);
    int old_seen = 0, step_torn[3] = {0, 0, 0};
    for (uint32_t n = 1; n <= 5; n++)
        for (uint64_t seed = 1; seed <= SEEDS; seed++) {
            struct devflash f;
            flash_make(&f, seed, 0);
            devflash_power_on(&f, n, seed);
            uint32_t i = 0;
            while (i < 5 && devflash_journal_save(&f, rec[i]) == ODEV_OK)
                i++;
            assert_int_equal(i, n - 1);
            /* which of djslot's steps was torn: the erase, the record, the seal */
            step_torn[f.st.tear < DEVFLASH_JOURNAL_SLOT                    ? 0
                      : f.st.tear < DEVFLASH_JOURNAL_SLOT + DJSLOT_LEN - 4 ? 1
                                                                           : 2]++;
            devflash_power_on(&f, 0, 0);
            int r = devflash_journal_load(&f, got);
            if (n == 1 && r == ODEV_E_NOTFOUND) {
                old_seen++;
            } else {
                assert_int_equal(r, ODEV_OK);
                int is_old = n > 1 && memcmp(got, rec[n - 2], sizeof got) == 0;
                assert_true(is_old || memcmp(got, rec[n - 1], sizeof got) == 0);
                old_seen += is_old;
            }
            /* and the journal goes on working after the cut */
            assert_int_equal(devflash_journal_save(&f, rec[5]), ODEV_OK);
            assert_int_equal(devflash_journal_load(&f, got), ODEV_OK);
            assert_memory_equal(got, rec[5], sizeof got);
            devflash_power_on(&f, 0, 0);
            assert_int_equal(devflash_journal_load(&f, got), ODEV_OK);
            assert_memory_equal(got, rec[5], sizeof got);
            devflash_free(&f);
        }
    assert_true(old_seen > 0);
    for (int k = 0; k < 3; k++)
        assert_true(step_torn[k] > 0);
}

static void journal_sequence_wraps(void **state)
{
    (void)state;
    struct devflash f;
    uint8_t a[ODEV_JOURNAL_LEN], b[ODEV_JOURNAL_LEN], got[ODEV_JOURNAL_LEN];
    pattern(a, sizeof a, 1);
    pattern(b, sizeof b, 2);
    flash_make(&f, 1, 0);
    assert_int_equal(devflash_journal_load(&f, got), ODEV_E_NOTFOUND);
    /* slot 0 at the top of the sequence space: the next save wraps to 0
     * (djslot.h's layout: sequence, record, FNV-1a of both, seal) */
    assert_int_equal(devflash_journal_save(&f, a), ODEV_OK);
    memset(f.journal[0], 0xFF, 4);
    uint32_t c = 2166136261u;
    for (int i = 0; i < 4 + ODEV_JOURNAL_LEN; i++)
        c = (c ^ f.journal[0][i]) * 16777619u;
    for (int i = 0; i < 4; i++)
        f.journal[0][4 + ODEV_JOURNAL_LEN + i] = (uint8_t)(c >> (8 * i));
    assert_int_equal(devflash_journal_load(&f, got), ODEV_OK);
    assert_memory_equal(got, a, sizeof got);
    assert_int_equal(devflash_journal_save(&f, b), ODEV_OK);
    assert_int_equal(devflash_journal_load(&f, got), ODEV_OK);
    assert_memory_equal(got, b, sizeof got);
    devflash_free(&f);
}

/* A sector the minimal port wrote before djslot existed (its own code:
 * sequence, record, FNV-1a of both, native-endian on a little-endian
 * core, then the seal 0x4F444556) still loads, and the next save goes on
 * from its sequence number into the other sector. */
static void journal_reads_minimal_port_sectors(void **state)
{
    (void)state;
    struct devflash f;
    uint8_t a[ODEV_JOURNAL_LEN], b[ODEV_JOURNAL_LEN], got[ODEV_JOURNAL_LEN];
    const uint8_t old_sector[4] = {7, 0, 0, 0}, seal[4] = {0x56, 0x45, 0x44, 0x4F};
    pattern(a, sizeof a, 3);
    pattern(b, sizeof b, 4);
    flash_make(&f, 1, 0);
    uint8_t *s = f.journal[1];
    memcpy(s, old_sector, 4);
    memcpy(s + 4, a, ODEV_JOURNAL_LEN);
    uint32_t h = 2166136261u;
    for (int i = 0; i < 4 + ODEV_JOURNAL_LEN; i++)
        h = (h ^ s[i]) * 16777619u;
    for (int i = 0; i < 4; i++)
        s[4 + ODEV_JOURNAL_LEN + i] = (uint8_t)(h >> (8 * i));
    memcpy(s + 8 + ODEV_JOURNAL_LEN, seal, 4);
    assert_int_equal(devflash_journal_load(&f, got), ODEV_OK);
    assert_memory_equal(got, a, sizeof got);
    assert_int_equal(devflash_journal_save(&f, b), ODEV_OK);
    assert_int_equal(f.journal[0][0], 8); /* sequence 7 + 1, in sector 0 */
    assert_int_equal(devflash_journal_load(&f, got), ODEV_OK);
    assert_memory_equal(got, b, sizeof got);
    devflash_free(&f);
}

/* Unsynced blocks are coins at a cut; synced ones always survive. */
static void unsynced_blocks_may_be_lost(void **state)
{
    (void)state;
    uint8_t src[E];
    pattern(src, sizeof src, 3);
    int kept = 0, lost = 0;
    for (uint64_t seed = 1; seed <= SEEDS; seed++) {
        struct devflash f;
        flash_make(&f, seed, 0);
        devflash_power_on(&f, 6, seed);
        assert_int_equal(devflash_write(&f, ODEV_AREA_DOWNLOAD, 0, src, E), ODEV_OK);
        assert_int_equal(devflash_write(&f, ODEV_AREA_DOWNLOAD, E, src, E), ODEV_OK);
        assert_int_equal(devflash_sync(&f, ODEV_AREA_DOWNLOAD), ODEV_OK);
        assert_int_equal(devflash_write(&f, ODEV_AREA_DOWNLOAD, 2 * E, src, E), ODEV_OK);
        assert_int_equal(devflash_write(&f, ODEV_AREA_DOWNLOAD, 3 * E, src, E), ODEV_OK);
        /* reads see unsynced data */
        uint8_t got[E];
        assert_int_equal(devflash_read(&f, ODEV_AREA_DOWNLOAD, 3 * E, got, E), ODEV_OK);
        assert_memory_equal(got, src, E);
        assert_int_equal(devflash_sync(&f, ODEV_AREA_STAGING), ODEV_E_IO); /* op 6: the cut */
        devflash_power_on(&f, 0, 0);
        const uint8_t *p = devflash_peek(&f, ODEV_AREA_DOWNLOAD);
        assert_memory_equal(p, src, E);
        assert_memory_equal(p + E, src, E);
        for (int b = 2; b < 4; b++) {
            int same = memcmp(p + b * E, src, E) == 0;
            if (!same)
                for (uint32_t i = 0; i < E; i++)
                    assert_int_equal(p[b * E + i], 0xFF);
            kept += same;
            lost += !same;
        }
        devflash_free(&f);
    }
    assert_true(kept > 0 && lost > 0);
}

static void nor_violations_detected(void **state)
{
    (void)state;
    struct devflash f;
    uint8_t z[16], ff[16];
    memset(z, 0x0F, sizeof z);
    memset(ff, 0xF0, sizeof ff);
    flash_make(&f, 1, 0);
    assert_int_equal(devflash_write(&f, ODEV_AREA_CORE, 0, z, sizeof z), ODEV_OK);
    assert_int_equal(devflash_write(&f, ODEV_AREA_CORE, 32, z, sizeof z), ODEV_OK);
    assert_int_equal(f.st.violations, 0);
    /* sets bits 0xF0 of bytes that hold 0x0F: NOR keeps the AND and tells */
    assert_int_equal(devflash_write(&f, ODEV_AREA_CORE, 8, ff, sizeof ff), ODEV_OK);
    assert_int_equal(f.st.violations, 1);
    assert_non_null(strstr(f.st.violation_msg, "sets a bit"));
    assert_int_equal(devflash_peek(&f, ODEV_AREA_CORE)[8], 0x00);
    assert_int_equal(devflash_peek(&f, ODEV_AREA_CORE)[20], 0xF0);
    assert_int_equal(devflash_erase(&f, ODEV_AREA_CORE, 100, E), ODEV_E_INVAL);
    assert_int_equal(devflash_erase(&f, ODEV_AREA_CORE, 0, E + 1), ODEV_E_INVAL);
    assert_int_equal(devflash_write(&f, ODEV_AREA_CORE, 8 * E - 4, z, 8), ODEV_E_INVAL);
    assert_int_equal(devflash_read(&f, ODEV_AREA_CORE, 8 * E, z, 1), ODEV_E_INVAL);
    assert_int_equal(f.st.violations, 5);
    /* after an erase the same write is fine; violations stay counted */
    assert_int_equal(devflash_erase(&f, ODEV_AREA_CORE, 0, E), ODEV_OK);
    assert_int_equal(devflash_write(&f, ODEV_AREA_CORE, 8, ff, sizeof ff), ODEV_OK);
    devflash_power_on(&f, 0, 0);
    assert_int_equal(f.st.violations, 5);
    devflash_free(&f);
}

/* Counting and replay: the campaign counts T ops of a run, then cuts at
 * each N; a cut past the end never happens, and a seed replays a tear. */
static void counting_and_replay(void **state)
{
    (void)state;
    uint8_t src[64];
    pattern(src, sizeof src, 9);
    uint8_t first[2 * E], rec[ODEV_JOURNAL_LEN];
    pattern(rec, sizeof rec, 4);
    for (int round = 0; round < 2; round++) {
        struct devflash f;
        struct odev_port p;
        memset(&p, 0, sizeof p);
        flash_make(&f, 42, 0);
        devflash_port(&p, &f);
        devflash_power_on(&f, 100, 0);
        assert_int_equal(p.erase(p.ctx, ODEV_AREA_STAGING, 0, 2 * E), ODEV_OK);
        assert_int_equal(p.write(p.ctx, ODEV_AREA_STAGING, 0, src, sizeof src), ODEV_OK);
        assert_int_equal(p.sync(p.ctx, ODEV_AREA_STAGING), ODEV_OK);
        assert_int_equal(p.journal_save(p.ctx, rec), ODEV_OK);
        assert_int_equal(f.st.ops, 4);
        assert_int_equal(f.st.by_op[DEVFLASH_OP_WRITE], 1);
        assert_int_equal(f.st.by_op[DEVFLASH_OP_ERASE], 1);
        assert_int_equal(f.st.by_op[DEVFLASH_OP_SYNC], 1);
        assert_int_equal(f.st.by_op[DEVFLASH_OP_JOURNAL], 1);
        assert_false(f.st.cut);
        devflash_power_on(&f, 2, 7);
        assert_int_equal(devflash_write(&f, ODEV_AREA_STAGING, 100, src, sizeof src), ODEV_OK);
        assert_int_equal(devflash_write(&f, ODEV_AREA_STAGING, E + 100, src, sizeof src), ODEV_E_IO);
        devflash_power_on(&f, 0, 0);
        if (round == 0)
            memcpy(first, devflash_peek(&f, ODEV_AREA_STAGING), sizeof first);
        else
            assert_memory_equal(first, devflash_peek(&f, ODEV_AREA_STAGING), sizeof first);
        devflash_free(&f);
    }
}

/* A copy replays: the same cut on the original and the copy tears alike. */
static void copy_replays(void **state)
{
    (void)state;
    struct devflash f, g;
    uint8_t src[E];
    pattern(src, sizeof src, 5);
    flash_make(&f, 11, 0);
    assert_int_equal(devflash_write(&f, ODEV_AREA_STAGING, 0, src, E), ODEV_OK);
    assert_int_equal(devflash_unsynced(&f, ODEV_AREA_STAGING), 1);
    assert_int_equal(devflash_copy(&g, &f), ODEV_OK);
    assert_int_equal(devflash_unsynced(&g, ODEV_AREA_STAGING), 1);
    devflash_power_on(&f, 2, 3);
    devflash_power_on(&g, 2, 3);
    for (struct devflash *x = &f; x; x = x == &f ? &g : NULL) {
        assert_int_equal(devflash_write(x, ODEV_AREA_STAGING, E, src, E), ODEV_OK);
        assert_int_equal(devflash_sync(x, ODEV_AREA_STAGING), ODEV_E_IO);
        devflash_power_on(x, 0, 0);
        assert_int_equal(devflash_unsynced(x, ODEV_AREA_STAGING), 0);
    }
    assert_memory_equal(devflash_peek(&f, ODEV_AREA_STAGING), devflash_peek(&g, ODEV_AREA_STAGING), 8 * E);
    devflash_free(&f);
    devflash_free(&g);
}

static void bad_geometry(void **state)
{
    (void)state;
    struct devflash f;
    struct devflash_config c;
    memset(&c, 0, sizeof c);
    c.area[ODEV_AREA_CORE].size = 3000;
    assert_int_equal(devflash_init(&f, &c), ODEV_E_INVAL);
    c.area[ODEV_AREA_CORE].size = 3 * 1024;
    c.area[ODEV_AREA_CORE].erase = 3;
    assert_int_equal(devflash_init(&f, &c), ODEV_E_INVAL);
    c.area[ODEV_AREA_CORE].erase = 1024;
    assert_int_equal(devflash_init(&f, &c), ODEV_OK);
    devflash_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(torn_write_leaves_prefix),
        cmocka_unit_test(torn_erase_leaves_mix),
        cmocka_unit_test(journal_atomic_every_cut),
        cmocka_unit_test(journal_sequence_wraps),
        cmocka_unit_test(journal_reads_minimal_port_sectors),
        cmocka_unit_test(unsynced_blocks_may_be_lost),
        cmocka_unit_test(nor_violations_detected),
        cmocka_unit_test(counting_and_replay),
        cmocka_unit_test(copy_replays),
        cmocka_unit_test(bad_geometry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
