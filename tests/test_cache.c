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
#include "../cache/report.h"

#include <sys/stat.h>

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

/* Build errors that come from the files ota.ini names are flagged as
 * such (ota-cache exits 3 for them, 1 for a failed write). */
static void build_flags_bad_input(void **state)
{
    struct cfg_ota c;
    char msg[OTA_MSG_LEN];
    int bad = 0;
    (void)state;
    load_cfg(&c, 1, "no-such-script.bin", "untouched");
    assert_int_not_equal(cache_build_checked(&c, NULL, NULL, &bad, msg), OTA_OK);
    assert_int_equal(bad, 1);
    load_cfg(&c, 1, "script.bin", "out3");
    assert_int_equal(cache_build_checked(&c, NULL, NULL, &bad, msg), OTA_OK);
    assert_int_equal(bad, 0);
}

/* The psk-secret file: 0600, 64 hex digits and a newline the loader
 * strips, never silently replaced. */
static void psk_secret_file(void **state)
{
    char path[256], msg[OTA_MSG_LEN];
    uint8_t secret[CRYPTO_PSK_SECRET_MAX], first[CRYPTO_PSK_SECRET_MAX];
    size_t len;
    struct stat st;
    (void)state;
    snprintf(path, sizeof path, "%s/psk.secret", dir);
    assert_int_equal(cache_psk_secret_create(path, 0, msg), OTA_OK);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(st.st_size, 65);
    assert_int_equal(crypto_load_psk_secret(path, first, &len, msg), OTA_OK);
    assert_int_equal(len, 64);
    assert_int_equal(cache_psk_secret_create(path, 0, msg), OTA_E_INVAL);
    assert_non_null(strstr(msg, "use -f"));
    assert_int_equal(crypto_load_psk_secret(path, secret, &len, msg), OTA_OK);
    assert_memory_equal(secret, first, 64); /* untouched */
    assert_int_equal(cache_psk_secret_create(path, 1, msg), OTA_OK);
    assert_int_equal(crypto_load_psk_secret(path, secret, &len, msg), OTA_OK);
    assert_memory_not_equal(secret, first, 64);
    /* A readable secret is an "insecure permissions" error, not an auth one. */
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(crypto_load_psk_secret(path, secret, &len, msg), OTA_E_PERM);
    assert_string_equal(ota_strerror(OTA_E_PERM), "insecure permissions");
}

static void public_key_as_hex_or_file(void **state)
{
    char path[256], hex[2 * CRYPTO_PUB_LEN + 1], msg[OTA_MSG_LEN];
    uint8_t a[CRYPTO_PUB_LEN], b[CRYPTO_PUB_LEN];
    (void)state;
    snprintf(path, sizeof path, "%s/key.pub", dir);
    assert_int_equal(cache_public_key_arg(path, a, msg), OTA_OK);
    ota_hex(a, sizeof a, hex);
    assert_int_equal(cache_public_key_arg(hex, b, msg), OTA_OK);
    assert_memory_equal(a, b, sizeof a);
    assert_int_equal(cache_public_key_arg("1234", b, msg), OTA_E_INVAL);
    assert_non_null(strstr(msg, "neither a key file nor 64 hex digits"));
}

struct pruned {
    int removed, would, kept;
};

static void on_prune(void *ctx, const struct cache_entry *e, enum cache_prune_action a)
{
    struct pruned *p = ctx;
    (void)e;
    if (a == CACHE_PRUNE_REMOVED)
        p->removed++;
    else if (a == CACHE_PRUNE_WOULD_REMOVE)
        p->would++;
    else
        p->kept++;
}

/* prune retires what is not the current release; -n touches nothing;
 * junk and other projects' files stay. */
static void prune_old_release(void **state)
{
    struct cfg_ota c;
    struct pruned p = {0, 0, 0};
    char msg[OTA_MSG_LEN];
    (void)state;
    load_cfg(&c, 1, "script.bin", "prune");
    assert_int_equal(cache_build(&c, NULL, NULL, msg), OTA_OK);
    put("prune/P_junk.pkg", (const uint8_t *)"not a package", 13);
    assert_int_equal(cache_prune(&c, 0, on_prune, &p, msg), OTA_OK);
    assert_int_equal(p.removed + p.would, 0); /* all current */
    assert_int_equal(p.kept, 7);
    assert_int_equal(ver_script_parse("2.1.0", &c.script, NULL), OTA_OK); /* a new release */
    memset(&p, 0, sizeof p);
    assert_int_equal(cache_prune(&c, 1, on_prune, &p, msg), OTA_OK);
    assert_int_equal(p.would, 6);
    assert_int_equal(count_files("prune"), 7);
    memset(&p, 0, sizeof p);
    assert_int_equal(cache_prune(&c, 0, on_prune, &p, msg), OTA_OK);
    assert_int_equal(p.removed, 6);
    assert_int_equal(count_files("prune"), 1); /* the junk file */
}

struct report_rows {
    struct cache_report_row r[8];
    int n;
};

static void on_report(void *ctx, const struct cache_report_row *row)
{
    struct report_rows *rs = ctx;
    if (rs->n < 8)
        rs->r[rs->n++] = *row;
}

/* Two releases from the same old version are two rows; a failure's
 * reason (with an escaped quote, as the server writes it) is shown. */
static void report_by_release_with_reason(void **state)
{
    static const char log[] =
        "{\"imei\":\"861234567890001\",\"from_core\":\"C_V0017_X\",\"to_core\":\"C_V0020_X\","
        "\"from_script\":\"1.0.0\",\"to_script\":\"1.1.0\",\"result\":0,\"seconds\":10}\n"
        "{\"imei\":\"861234567890002\",\"from_core\":\"C_V0017_X\",\"to_core\":\"C_V0021_X\","
        "\"from_script\":\"1.0.0\",\"to_script\":\"1.2.0\",\"result\":4,\"reason\":"
        "\"running core is 485760 bytes, the delta expects \\\"530880\\\"\"}\n"
        "{\"imei\":\"861234567890003\",\"from_core\":\"C_V0017_X\",\"to_core\":\"C_V0021_X\","
        "\"from_script\":\"1.0.0\",\"to_script\":\"1.2.0\",\"result\":0,\"seconds\":12}\n";
    struct report_rows rs;
    struct cache_report_totals t;
    char path[256], msg[OTA_MSG_LEN];
    (void)state;
    memset(&rs, 0, sizeof rs);
    put("reports.jsonl", (const uint8_t *)log, strlen(log));
    snprintf(path, sizeof path, "%s/reports.jsonl", dir);
    assert_int_equal(cache_report_summarise(path, on_report, &rs, &t, msg), OTA_OK);
    assert_int_equal(rs.n, 2);
    assert_string_equal(rs.r[0].release, "C_V0020_X/1.1.0");
    assert_int_equal(rs.r[0].ok, 1);
    assert_string_equal(rs.r[1].release, "C_V0021_X/1.2.0");
    assert_string_equal(rs.r[1].from, "C_V0017_X/1.0.0");
    assert_int_equal(rs.r[1].failed, 1);
    assert_string_equal(rs.r[1].reason, "running core is 485760 bytes, the delta expects \"530880\"");
    assert_int_equal(t.all.ok, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(build_package_set),
        cmocka_unit_test(parallel_equals_serial),
        cmocka_unit_test(missing_input_writes_nothing),
        cmocka_unit_test(verify_and_list),
        cmocka_unit_test(list_reports_bad_files),
        cmocka_unit_test(build_flags_bad_input),
        cmocka_unit_test(psk_secret_file),
        cmocka_unit_test(public_key_as_hex_or_file),
        cmocka_unit_test(prune_old_release),
        cmocka_unit_test(report_by_release_with_reason),
    };
    return cmocka_run_group_tests_name("cache", tests, setup, teardown);
}
