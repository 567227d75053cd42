/* test_client_flash.c - the state directory's files (client/flash.c): the
 * lock, durable rename and removal, and the sweep of stale temporaries.
 * The journal record is the device library's (tests/test_device.c covers
 * it, with client format 1 compatibility); the areas over these files are
 * tests/test_client_lport.c's.
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

static void install_and_remove(void **state)
{
    struct dev_flash f;
    (void)state;
    put_file("download.pkg", "old");
    put_file("download.part", "new!");
    assert_int_equal(dev_flash_open(&f, dir, NULL), OTA_OK);
    assert_int_equal(dev_flash_install(&f, DEV_F_PART, DEV_F_PKG, NULL), OTA_OK);
    assert_int_equal(file_size("download.pkg"), 4);
    assert_false(dev_flash_exists(&f, DEV_F_PART));
    assert_int_equal(dev_flash_install(&f, DEV_F_PART, DEV_F_PKG, NULL), OTA_E_NOTFOUND);
    assert_int_equal(dev_flash_remove(&f, DEV_F_PKG, NULL), OTA_OK);
    assert_int_equal(dev_flash_remove(&f, DEV_F_PKG, NULL), OTA_OK); /* already gone */
    dev_flash_close(&f);
}

static void sweep_only_our_temps(void **state)
{
    struct dev_flash f;
    (void)state;
    put_file("core.bin.tmp.1234", "partial");
    put_file("journal.tmp.99", "partial");
    put_file("core.bin.tmp.", "keep: no pid");
    put_file("notes.tmp.12", "keep: not ours");
    put_file("core.bin.tmp.12x", "keep: not a pid");
    assert_int_equal(dev_flash_open(&f, dir, NULL), OTA_OK);
    dev_flash_sweep_temps(&f);
    dev_flash_close(&f);
    assert_int_equal(file_size("core.bin.tmp.1234"), -1);
    assert_int_equal(file_size("journal.tmp.99"), -1);
    assert_true(file_size("core.bin.tmp.") > 0);
    assert_true(file_size("notes.tmp.12") > 0);
    assert_true(file_size("core.bin.tmp.12x") > 0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, mkstate, rmstate)
    const struct CMUnitTest tests[] = {
        T(flash_missing_dir),
        T(flash_lock),
        T(install_and_remove),
        T(sweep_only_our_temps),
    };
    if (crypto_init(NULL) != OTA_OK)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
