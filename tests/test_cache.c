/* test_cache.c - ota-cache's library: building a release drop (package set,
 * parallel builds, skipping unchanged packages, missing inputs leave the
 * cache untouched), verify and list.
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

#include "cache.h"

static char dir[64];

static void put(const char *name, const uint8_t *buf, size_t len)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_int_equal(io_file_write_all(path, buf, len, 0644, NULL), OTA_OK);
}

/* A small release: shipped cores 7 and 8, target 9, a script. */
static int setup(void **state)
{
    static uint8_t img[3][20000];
    char path[256];
    (void)state;
    if (test_tmpdir_make(dir, sizeof dir, "test_cache") != 0 || crypto_init(NULL) != OTA_OK)
        return -1;
    for (int v = 0; v < 3; v++)
        for (size_t i = 0; i < sizeof img[v]; i++)
            img[v][i] = (uint8_t)(i * 13 + (i > 5000 && i < 5000u + 40u * (unsigned)v ? v : 0));
    snprintf(path, sizeof path, "%s/shipped", dir);
    if (io_mkdirs(path, 0755, NULL) != OTA_OK)
        return -1;
    put("shipped/Core_V0007_CHIP1.bin", img[0], sizeof img[0]);
    put("shipped/Core_V0008_CHIP1.bin", img[1], sizeof img[1]);
    put("shipped/README.txt", (const uint8_t *)"ignored", 7);
    put("core9.bin", img[2], sizeof img[2]);
    put("script.bin", (const uint8_t *)"print('hello')\n", 15);
    snprintf(path, sizeof path, "%s/key", dir);
    return crypto_keygen(path, NULL) == OTA_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    test_tree_remove(dir);
    return 0;
}

static void load_cfg(struct cfg_ota *c, int jobs, const char *script_image, const char *out)
{
    char text[1024], path[256];
    snprintf(text, sizeof text,
             "[project]\nname = P\nproduct_key = k\n[release]\ncore = Core_V0009_CHIP1\n"
             "core_image = core9.bin\nscript_version = 2.0.0\nscript_image = %s\n"
             "shipped_dir = shipped\nfull_core_fallback = yes\njobs = %d\n"
             "[cache]\ndir = %s\nsigning_key = key\n",
             script_image, jobs, out);
    put("ota.ini", (const uint8_t *)text, strlen(text));
    snprintf(path, sizeof path, "%s/ota.ini", dir);
    assert_int_equal(cfg_ota_load(path, c, NULL), OTA_OK);
}

struct seen {
    int built, skipped;
    uint32_t flags[16];
};

static void on_package(void *ctx, const struct pkg_header *h, const char *path, int skipped)
{
    struct seen *s = ctx;
    (void)path;
    if (s->built + s->skipped < 16)
        s->flags[s->built + s->skipped] = h->flags;
    if (skipped)
        s->skipped++;
    else
        s->built++;
}

static int count_files(const char *sub)
{
    char path[256];
    int n = 0;
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    for (struct dirent *de; (de = readdir(d));)
        n += de->d_name[0] != '.';
    closedir(d);
    return n;
}

static void build_package_set(void **state)
{
    struct cfg_ota c;
    struct seen s = {0};
    char msg[OTA_MSG_LEN];
    (void)state;
    load_cfg(&c, 2, "script.bin", "out2");
    assert_int_equal(cache_build(&c, on_package, &s, msg), OTA_OK);
    /* 2 shipped x (core+script, core only) + script only + fallback */
    assert_int_equal(s.built, 6);
    assert_int_equal(count_files("out2"), 6);
    /* Second run: everything is already there. */
    memset(&s, 0, sizeof s);
    assert_int_equal(cache_build(&c, on_package, &s, msg), OTA_OK);
    assert_int_equal(s.built, 0);
    assert_int_equal(s.skipped, 6);
}

/* One thread or two: the same packages, byte for byte apart from the
 * creation time and signature. */
static void parallel_equals_serial(void **state)
{
    struct cfg_ota c1, c2;
    char msg[OTA_MSG_LEN];
    (void)state;
    load_cfg(&c1, 1, "script.bin", "serial");
    assert_int_equal(cache_build(&c1, NULL, NULL, msg), OTA_OK);
    load_cfg(&c2, 2, "script.bin", "parallel");
    assert_int_equal(cache_build(&c2, NULL, NULL, msg), OTA_OK);
    static const char *const names[] = {"P_2.0.0_0007-0009.pkg", "P_2.0.0_0008-0009_core.pkg",
                                        "P_2.0.0_0009-0009_script.pkg", "P_2.0.0_any-0009.pkg"};
    for (size_t i = 0; i < 4; i++) {
        char a[256], b[256];
        uint8_t *x, *y;
        size_t nx, ny;
        snprintf(a, sizeof a, "%s/serial/%s", dir, names[i]);
        snprintf(b, sizeof b, "%s/parallel/%s", dir, names[i]);
        assert_int_equal(io_file_read_all(a, 1 << 20, &x, &nx, NULL), OTA_OK);
        assert_int_equal(io_file_read_all(b, 1 << 20, &y, &ny, NULL), OTA_OK);
        assert_int_equal(nx, ny);
        assert_memory_equal(x + 256, y + 256, nx - 256 - 64); /* sections */
        assert_memory_equal(x, y, 248);                      /* header up to created */
        free(x);
        free(y);
    }
}

static void missing_input_writes_nothing(void **state)
{
    struct cfg_ota c;
    char msg[OTA_MSG_LEN] = "";
    (void)state;
    load_cfg(&c, 2, "no-such-script.bin", "untouched");
    assert_int_equal(cache_build(&c, NULL, NULL, msg), OTA_E_NOTFOUND);
    assert_non_null(strstr(msg, "no-such-script.bin"));
    assert_int_equal(count_files("untouched"), -1); /* not even created */
}

static void verify_and_list(void **state)
{
    struct cfg_ota c;
    struct pkg_header h;
    uint8_t pub[CRYPTO_PUB_LEN];
    char path[256], msg[OTA_MSG_LEN];
    (void)state;
    load_cfg(&c, 1, "script.bin", "out2");
    snprintf(path, sizeof path, "%s/key.pub", dir);
    assert_int_equal(crypto_load_public(path, pub, NULL), OTA_OK);
    snprintf(path, sizeof path, "%s/out2/P_2.0.0_any-0009.pkg", dir);
    assert_int_equal(cache_verify(path, pub, &h, msg), OTA_OK);
    assert_int_equal(h.from_core, PKG_FROM_ANY);
    /* One flipped byte in the script section: the signature catches it,
     * and without a key the section hash does. */
    uint8_t *buf;
    size_t len;
    assert_int_equal(io_file_read_all(path, 1 << 20, &buf, &len, NULL), OTA_OK);
    buf[len - 70] ^= 1;
    snprintf(path, sizeof path, "%s/out2/P_2.0.0_bad.pkg", dir);
    assert_int_equal(io_file_write_all(path, buf, len, 0644, NULL), OTA_OK);
    free(buf);
    assert_int_equal(cache_verify(path, pub, &h, msg), OTA_E_AUTH);
    enum ota_err e = cache_verify(path, NULL, &h, msg);
    assert_true(e == OTA_E_AUTH || e == OTA_E_CORRUPT);
}

static void on_entry(void *ctx, const struct cache_entry *e)
{
    int *counts = ctx;
    counts[e->err == OTA_OK ? 0 : 1]++;
}

static void list_reports_bad_files(void **state)
{
    int counts[2] = {0, 0};
    char path[256];
    (void)state;
    put("out2/P_junk.pkg", (const uint8_t *)"not a package", 13);
    snprintf(path, sizeof path, "%s/out2", dir);
    assert_int_equal(cache_list(path, on_entry, counts, NULL), OTA_OK);
    assert_int_equal(counts[0], 7); /* 6 built + the flipped one (header intact) */
    assert_int_equal(counts[1], 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(build_package_set),
        cmocka_unit_test(parallel_equals_serial),
        cmocka_unit_test(missing_input_writes_nothing),
        cmocka_unit_test(verify_and_list),
        cmocka_unit_test(list_reports_bad_files),
    };
    return cmocka_run_group_tests_name("cache", tests, setup, teardown);
}
