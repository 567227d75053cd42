/* test_client_flash.c - the device's simulated flash (client/flash.c) and
 * its journal (client/journal.c): round trips, every corrupt-journal case
 * with its exact code, the state-directory lock, the resumable download
 * area, staging installs and the sweep of stale temporaries.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"
#include "flash.h"
#include "journal.h"

static char dir[64];

static int mkstate(void **state)
{
    (void)state;
    return test_tmpdir_make(dir, sizeof dir, "test_client_flash");
}

static int rmstate(void **state)
{
    (void)state;
    test_tree_remove(dir);
    return 0;
}

static void put_file(const char *name, const char *text)
{
    char p[DEV_PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *fp = fopen(p, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static long file_size(const char *name)
{
    char p[DEV_PATH_MAX];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

static void sample_journal(struct dev_journal *j)
{
    dev_journal_init(j);
    j->phase = DEV_J_COMMITTING;
    j->slots = DEV_SLOT_CORE | DEV_SLOT_SCRIPT;
    j->block_size = 512;
    j->etag_len = 8;
    memcpy(j->etag, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
    j->offset = 4096;
    j->size = 41234;
    assert_int_equal(ver_core_parse("Luat_V0020_RDA8910", &j->core, NULL), OTA_OK);
    assert_int_equal(ver_script_parse("1.10.200", &j->script, NULL), OTA_OK);
}

static void journal_round_trip(void **state)
{
    struct dev_journal j, k;
    uint8_t buf[DEV_JOURNAL_LEN];
    (void)state;
    sample_journal(&j);
    dev_journal_encode(&j, buf);
    assert_memory_equal(buf, "OTAJ\x01\x04\x03\x08", 8);
    assert_int_equal(dev_journal_decode(buf, sizeof buf, &k, NULL), OTA_OK);
    assert_int_equal(k.phase, DEV_J_COMMITTING);
    assert_int_equal(k.slots, 3);
    assert_int_equal(k.block_size, 512);
    assert_int_equal(k.etag_len, 8);
    assert_memory_equal(k.etag, j.etag, 8);
    assert_int_equal(k.offset, 4096);
    assert_int_equal(k.size, 41234);
    assert_string_equal(k.core.name, "Luat");
    assert_string_equal(k.core.chip, "RDA8910");
    assert_int_equal(k.core.number, 20);
    assert_int_equal(ver_script_cmp(&k.script, &j.script), 0);
}

static void journal_every_bit_flip_detected(void **state)
{
    struct dev_journal j, k;
    uint8_t buf[DEV_JOURNAL_LEN];
    (void)state;
    sample_journal(&j);
    for (size_t bit = 0; bit < DEV_JOURNAL_LEN * 8; bit++) {
        dev_journal_encode(&j, buf);
        buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(dev_journal_decode(buf, sizeof buf, &k, NULL), OTA_E_CORRUPT);
        assert_int_equal(k.phase, DEV_J_IDLE);
    }
}

/* Re-seal a hand-edited record so only the field check can catch it. */
static void reseal(uint8_t buf[DEV_JOURNAL_LEN])
{
    uint8_t sum[CRYPTO_HASH_LEN];
    crypto_sha256(buf, DEV_JOURNAL_LEN - 8, sum);
    memcpy(buf + DEV_JOURNAL_LEN - 8, sum, 8);
}

static void journal_bad_fields(void **state)
{
    static const struct {
        size_t off;
        uint8_t val;
        const char *what;
    } cases[] = {
        {4, 2, "format"},       {5, DEV_J__COUNT, "phase"}, {6, 4, "slots"},
        {7, 9, "etag length"},  {8, 0x08, "block size"},   {9, 0x03, "block size"},
        {36, '/', "core name"}, {52, '-', "core chip"},    {68, 0xff, "version"},
    };
    struct dev_journal j, k;
    uint8_t buf[DEV_JOURNAL_LEN];
    char msg[OTA_MSG_LEN];
    (void)state;
    sample_journal(&j);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dev_journal_encode(&j, buf);
        buf[cases[i].off] = cases[i].val;
        reseal(buf);
        msg[0] = '\0';
        assert_int_equal(dev_journal_decode(buf, sizeof buf, &k, msg), OTA_E_CORRUPT);
        assert_true(msg[0] != '\0');
    }
}

static void journal_unterminated_name(void **state)
{
    struct dev_journal j, k;
    uint8_t buf[DEV_JOURNAL_LEN];
    (void)state;
    sample_journal(&j);
    dev_journal_encode(&j, buf);
    memset(buf + 36, 'A', VER_NAME_MAX);
    reseal(buf);
    assert_int_equal(dev_journal_decode(buf, sizeof buf, &k, NULL), OTA_E_CORRUPT);
}

static void journal_offset_beyond_size(void **state)
{
    struct dev_journal j, k;
    uint8_t buf[DEV_JOURNAL_LEN];
    (void)state;
    sample_journal(&j);
    j.phase = DEV_J_DOWNLOADING;
    j.offset = j.size + 1;
    dev_journal_encode(&j, buf);
    assert_int_equal(dev_journal_decode(buf, sizeof buf, &k, NULL), OTA_E_CORRUPT);
}

static void journal_committing_needs_slots(void **state)
{
    struct dev_journal j, k;
    uint8_t buf[DEV_JOURNAL_LEN];
    (void)state;
    sample_journal(&j);
    j.slots = 0;
    dev_journal_encode(&j, buf);
    assert_int_equal(dev_journal_decode(buf, sizeof buf, &k, NULL), OTA_E_CORRUPT);
}

static void journal_wrong_length(void **state)
{
    struct dev_journal j, k;
    uint8_t buf[DEV_JOURNAL_LEN + 1];
    (void)state;
    sample_journal(&j);
    dev_journal_encode(&j, buf);
    assert_int_equal(dev_journal_decode(buf, DEV_JOURNAL_LEN - 1, &k, NULL), OTA_E_CORRUPT);
    assert_int_equal(dev_journal_decode(buf, DEV_JOURNAL_LEN + 1, &k, NULL), OTA_E_CORRUPT);
    assert_int_equal(dev_journal_decode(buf, 0, &k, NULL), OTA_E_CORRUPT);
}

static void journal_file(void **state)
{
    struct dev_journal j, k;
    char p[DEV_PATH_MAX];
    (void)state;
    snprintf(p, sizeof p, "%s/journal", dir);
    assert_int_equal(dev_journal_load(p, &k, NULL), OTA_OK); /* missing = idle */
    assert_int_equal(k.phase, DEV_J_IDLE);
    sample_journal(&j);
    assert_int_equal(dev_journal_save(p, &j, NULL), OTA_OK);
    assert_int_equal(file_size("journal"), DEV_JOURNAL_LEN);
    assert_int_equal(dev_journal_load(p, &k, NULL), OTA_OK);
    assert_int_equal(k.phase, DEV_J_COMMITTING);
    put_file("journal", "garbage");
    assert_int_equal(dev_journal_load(p, &k, NULL), OTA_E_CORRUPT);
}

static void flash_missing_dir(void **state)
{
    struct dev_flash f;
    (void)state;
    assert_int_equal(dev_flash_open(&f, "/nonexistent/state", NULL), OTA_E_NOTFOUND);
    put_file("plain", "x");
    char p[DEV_PATH_MAX];
    snprintf(p, sizeof p, "%s/plain", dir);
    assert_int_equal(dev_flash_open(&f, p, NULL), OTA_E_NOTFOUND);
}

static void flash_lock(void **state)
{
    struct dev_flash a, b;
    (void)state;
    assert_int_equal(dev_flash_open(&a, dir, NULL), OTA_OK);
    assert_int_equal(dev_flash_open(&b, dir, NULL), OTA_E_STATE);
    dev_flash_close(&a);
    assert_int_equal(dev_flash_open(&b, dir, NULL), OTA_OK);
    dev_flash_close(&b);
}

static void part_resume_and_finish(void **state)
{
    struct dev_flash f;
    uint64_t keep = 0;
    (void)state;
    assert_int_equal(dev_flash_open(&f, dir, NULL), OTA_OK);
    assert_string_equal(strrchr(dev_flash_path(&f, DEV_F_PART), '/'), "/download.part");
    assert_int_equal(dev_part_open(&f, &keep, NULL), OTA_OK);
    assert_int_equal(dev_part_write(&f, 0, "0123456789", 10, NULL), OTA_OK);
    assert_int_equal(dev_part_sync(&f, NULL), OTA_OK);
    dev_part_close(&f);
    keep = 4; /* keep a prefix, drop the rest */
    assert_int_equal(dev_part_open(&f, &keep, NULL), OTA_OK);
    assert_int_equal(keep, 4);
    assert_int_equal(file_size("download.part"), 4);
    assert_int_equal(dev_part_write(&f, 4, "xy", 2, NULL), OTA_OK);
    assert_false(dev_flash_exists(&f, DEV_F_PKG));
    assert_int_equal(dev_part_finish(&f, NULL), OTA_OK);
    assert_true(dev_flash_exists(&f, DEV_F_PKG));
    assert_false(dev_flash_exists(&f, DEV_F_PART));
    assert_int_equal(file_size("download.pkg"), 6);
    dev_flash_close(&f);
}

static void part_shorter_than_journal_starts_over(void **state)
{
    struct dev_flash f;
    uint64_t keep = 1000;
    (void)state;
    put_file("download.part", "short");
    assert_int_equal(dev_flash_open(&f, dir, NULL), OTA_OK);
    assert_int_equal(dev_part_open(&f, &keep, NULL), OTA_OK);
    assert_int_equal(keep, 0);
    assert_int_equal(file_size("download.part"), 0);
    dev_flash_close(&f);
}

static void install_and_remove(void **state)
{
    struct dev_flash f;
    (void)state;
    put_file("core.bin", "old");
    put_file("core.new", "new!");
    assert_int_equal(dev_flash_open(&f, dir, NULL), OTA_OK);
    assert_int_equal(dev_flash_install(&f, DEV_F_CORE_NEW, DEV_F_CORE, NULL), OTA_OK);
    assert_int_equal(file_size("core.bin"), 4);
    assert_false(dev_flash_exists(&f, DEV_F_CORE_NEW));
    assert_int_equal(dev_flash_install(&f, DEV_F_CORE_NEW, DEV_F_CORE, NULL), OTA_E_NOTFOUND);
    assert_int_equal(dev_flash_remove(&f, DEV_F_CORE, NULL), OTA_OK);
    assert_int_equal(dev_flash_remove(&f, DEV_F_CORE, NULL), OTA_OK); /* already gone */
    dev_flash_close(&f);
}

static void sweep_only_our_temps(void **state)
{
    struct dev_flash f;
    (void)state;
    put_file("core.new.tmp.1234", "partial");
    put_file("journal.tmp.99", "partial");
    put_file("core.new.tmp.", "keep: no pid");
    put_file("notes.tmp.12", "keep: not ours");
    put_file("core.new.tmp.12x", "keep: not a pid");
    assert_int_equal(dev_flash_open(&f, dir, NULL), OTA_OK);
    dev_flash_sweep_temps(&f);
    dev_flash_close(&f);
    assert_int_equal(file_size("core.new.tmp.1234"), -1);
    assert_int_equal(file_size("journal.tmp.99"), -1);
    assert_true(file_size("core.new.tmp.") > 0);
    assert_true(file_size("notes.tmp.12") > 0);
    assert_true(file_size("core.new.tmp.12x") > 0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, mkstate, rmstate)
    const struct CMUnitTest tests[] = {
        T(journal_round_trip),
        T(journal_every_bit_flip_detected),
        T(journal_bad_fields),
        T(journal_unterminated_name),
        T(journal_offset_beyond_size),
        T(journal_committing_needs_slots),
        T(journal_wrong_length),
        T(journal_file),
        T(flash_missing_dir),
        T(flash_lock),
        T(part_resume_and_finish),
        T(part_shorter_than_journal_starts_over),
        T(install_and_remove),
        T(sweep_only_our_temps),
    };
    if (crypto_init(NULL) != OTA_OK)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
