/* test_census.c - the census file (common/census.c), the server's census
 * table (server/census_table.c), on-demand build requests
 * (server/ondemand.c) and the check_interval refund (server/fleet.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "census.h"
#include "census_table.h"
#include "crypto.h"
#include "fleet.h"
#include "io.h"
#include "ondemand.h"
#include "testutil.h"

#include <string.h>
#include <sys/stat.h>

static char dir[256];

static int suite_setup(void **state)
{
    (void)state;
    return test_tmpdir_make(dir, sizeof dir, "test_census") || crypto_init(NULL) != OTA_OK;
}

static int suite_teardown(void **state)
{
    (void)state;
    test_tree_remove(dir);
    return 0;
}

static const char *path_of(const char *name)
{
    static char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return p;
}

static struct census_entry entry(const char *project, const char *core, const char *script,
                                 uint64_t count, int64_t first, int64_t last)
{
    struct census_entry e;
    memset(&e, 0, sizeof e);
    snprintf(e.project, sizeof e.project, "%s", project);
    assert_int_equal(ver_core_parse(core, &e.core, NULL), OTA_OK);
    assert_int_equal(ver_script_parse(script, &e.script, NULL), OTA_OK);
    e.count = count;
    e.first_seen = first;
    e.last_seen = last;
    return e;
}

/* Parse text; return the code, the message in msg. */
static enum ota_err parse(const char *text, char *msg, size_t *n)
{
    struct census_entry *e;
    enum ota_err err = census_parse(text, strlen(text), "c.txt", &e, n, msg);
    census_free(e);
    return err;
}

/* ---- the file ------------------------------------------------------------- */

static void save_load_round_trip(void **state)
{
    (void)state;
    struct census_entry in[3] = {
        entry("ZPROJ", "Luat_V0019_RDA8910", "1.0.0", 7, 100, 200),
        entry("DEMOPROJ", "Luat_V0017_RDA8910", "1.0.0", 18446744073709551615ull, 1, 2),
        entry("DEMOPROJ", "Luat_V0017_RDA8910", "0.9.12", 1, 5, 5),
    };
    struct census_entry *out;
    size_t n;
    char msg[OTA_MSG_LEN];
    assert_int_equal(census_save(path_of("rt.txt"), in, 3, msg), OTA_OK);
    assert_int_equal(census_load(path_of("rt.txt"), &out, &n, msg), OTA_OK);
    assert_int_equal(n, 3);
    /* sorted: project, core, script */
    assert_true(census_same_pair(&out[0], &in[2]));
    assert_true(census_same_pair(&out[1], &in[1]));
    assert_true(census_same_pair(&out[2], &in[0]));
    assert_true(out[1].count == in[1].count);
    assert_int_equal(out[2].first_seen, 100);
    assert_int_equal(out[2].last_seen, 200);
    census_free(out);
}

static void missing_file_is_empty(void **state)
{
    (void)state;
    struct census_entry *e = (void *)1;
    size_t n = 9;
    assert_int_equal(census_load(path_of("none.txt"), &e, &n, NULL), OTA_OK);
    assert_null(e);
    assert_int_equal(n, 0);
}

static void comments_and_blank_lines(void **state)
{
    (void)state;
    size_t n;
    char msg[OTA_MSG_LEN];
    assert_int_equal(parse("# ota census v1\n# saved by hand\n\nP Luat_V0017_RDA8910 1.0.0 3 1 2"
                           "\r\n# end 1\n", msg, &n), OTA_OK);
    assert_int_equal(n, 1);
}

/* Each damage is refused with OTA_E_CORRUPT and a message naming it. */
static void corrupt_files_refused(void **state)
{
    (void)state;
    static const struct {
        const char *text, *why;
    } bad[] = {
        {"", "empty file"},
        {"P Luat_V0017_RDA8910 1.0.0 3 1 2\n# end 1\n", "not a census file"},
        {"# ota census v1\nP Luat_V0017_RDA8910 1.0.0 3 1 2\n", "truncated"},
        {"# ota census v1\nP Luat_V0017_RDA8910 1.0.0 3 1 2", "no newline"},
        {"# ota census v1\nP Luat_V0017_RDA8910 1.0.0 3 1 2\n# end 2\n", "trailer says 2"},
        {"# ota census v1\n# end 0\nP Luat_V0017_RDA8910 1.0.0 3 1 2\n", "after the"},
        {"# ota census v1\nP Luat_V0017_RDA8910 1.0.0 3 1\n# end 1\n", "c.txt:2: expected 6"},
        {"# ota census v1\nP Luat_V0017_RDA8910 1.0.0 3 1 2 9\n# end 1\n", "expected 6"},
        {"# ota census v1\nP Luat_V0017_RDA8910 1.0.0 0 1 2\n# end 1\n", "count"},
        {"# ota census v1\nP Luat_V0017_RDA8910 1.0.0 -3 1 2\n# end 1\n", "count"},
        {"# ota census v1\nP Luat_V0017_RDA8910 1.0.0 3 5 2\n# end 1\n", "first <= last"},
        {"# ota census v1\nP Luat_V0017_RDA8910 1.0.0 3 1 99999999999999999999\n# end 1\n",
         "last_seen"},
        {"# ota census v1\nP Luat_17_RDA8910 1.0.0 3 1 2\n# end 1\n", "c.txt:2"},
        {"# ota census v1\nP Luat_V0017_RDA8910 1.0 3 1 2\n# end 1\n", "c.txt:2"},
        {"# ota census v1\nP/.. Luat_V0017_RDA8910 1.0.0 3 1 2\n# end 1\n", "c.txt:2"},
        {"# ota census v1\nP Luat_V0017_RDA8910 1.0.0 3 1 2\nP Luat_V0017_RDA8910 1.0.0 1 1 1\n"
         "# end 2\n", "listed twice"},
        {"# ota census v1\n# end x\n", "trailer"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char msg[OTA_MSG_LEN] = "";
        size_t n = 7;
        assert_int_equal(parse(bad[i].text, msg, &n), OTA_E_CORRUPT);
        assert_int_equal(n, 0);
        if (!strstr(msg, bad[i].why))
            fail_msg("case %zu: '%s' does not say '%s'", i, msg, bad[i].why);
    }
}

static void nul_and_long_lines_refused(void **state)
{
    (void)state;
    char msg[OTA_MSG_LEN], buf[600];
    struct census_entry *e;
    size_t n;
    static const char nul[] = "# ota census v1\nP Luat_V0017\0RDA8910 1.0.0 3 1 2\n# end 1\n";
    assert_int_equal(census_parse(nul, sizeof nul - 1, "c", &e, &n, msg), OTA_E_CORRUPT);
    assert_non_null(strstr(msg, "NUL"));
    memset(buf, 'x', sizeof buf);
    memcpy(buf, "# ota census v1\n", 16);
    buf[sizeof buf - 1] = '\n';
    assert_int_equal(census_parse(buf, sizeof buf, "c", &e, &n, msg), OTA_E_CORRUPT);
    assert_non_null(strstr(msg, "longer than"));
}

static void core_in_field_rules(void **state)
{
    (void)state;
    const int64_t now = 1000 * CENSUS_DAY_S;
    struct census_entry e[2] = {
        entry("P", "Luat_V0017_RDA8910", "1.0.0", 1, 0, now - 10 * CENSUS_DAY_S),
        entry("Q", "Luat_V0018_RDA8910", "1.0.0", 1, 0, now - 40 * CENSUS_DAY_S),
    };
    struct ver_core c17, c18, c19;
    ver_core_parse("Luat_V0017_RDA8910", &c17, NULL);
    ver_core_parse("Luat_V0018_RDA8910", &c18, NULL);
    ver_core_parse("Luat_V0019_RDA8910", &c19, NULL);
    assert_int_equal(census_core_in_field(e, 2, "P", &c17, now, 30, 0), 1); /* reported */
    assert_int_equal(census_core_in_field(e, 2, "P", &c17, now, 5, 0), 0);  /* too long ago */
    assert_int_equal(census_core_in_field(e, 2, "Q", &c17, now, 30, 0), 0); /* other project */
    assert_int_equal(census_core_in_field(e, 2, "Q", &c18, now, 30, 0), 0); /* 40 days */
    assert_int_equal(census_core_in_field(e, 2, "Q", &c18, now, 41, 0), 1);
    assert_int_equal(census_core_in_field(e, 2, "P", &c19, now, 30, now - CENSUS_DAY_S), 1);
    assert_int_equal(census_core_in_field(e, 2, "P", &c19, now, 30, now - 31 * CENSUS_DAY_S), 0);
    assert_int_equal(census_core_in_field(NULL, 0, "P", &c19, now, 0, 0), 1); /* keep all */
}

/* ---- the server's table ------------------------------------------------------ */

static struct census_entry nth(int i)
{
    char core[32];
    snprintf(core, sizeof core, "Luat_V%04d_RDA8910", i);
    return entry("P", core, "1.0.0", 1, 0, 0);
}

static void table_bounded(void **state)
{
    (void)state;
    struct srv_census c;
    assert_int_equal(srv_census_init(&c, 16, NULL), OTA_OK);
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < 20; i++) {
            struct census_entry e = nth(i);
            struct srv_census_pair *p =
                srv_census_count(&c, e.project, &e.core, &e.script, 1000 + round);
            assert_true((p != NULL) == (i < 16));
        }
    assert_int_equal(c.n, 16);
    assert_int_equal(c.dropped, 3 * 4);
    struct census_entry e = nth(3);
    struct srv_census_pair *p = srv_census_count(&c, "P", &e.core, &e.script, 2000);
    assert_int_equal(p->e.count, 4);
    assert_int_equal(p->e.first_seen, 1000);
    assert_int_equal(p->e.last_seen, 2000);
    srv_census_free(&c);
}

/* Saved, reloaded with the same counts; expiry before a save frees room. */
static void table_save_load_expire(void **state)
{
    (void)state;
    struct srv_census c, d;
    char msg[OTA_MSG_LEN];
    const int64_t now = 100 * CENSUS_DAY_S;
    assert_int_equal(srv_census_init(&c, 16, NULL), OTA_OK);
    for (int i = 0; i < 10; i++) {
        struct census_entry e = nth(i);
        for (int k = 0; k <= i; k++)
            srv_census_count(&c, "P", &e.core, &e.script,
                             i < 4 ? now - 50 * CENSUS_DAY_S : now - 9 + i);
    }
    assert_int_equal(srv_census_save(&c, path_of("t.txt"), 30, now, msg), OTA_OK);
    assert_int_equal(c.n, 6); /* 4 unseen for 50 days expired */
    assert_int_equal(c.dirty, 0);
    assert_int_equal(srv_census_init(&d, 4, NULL), OTA_OK);
    assert_int_equal(srv_census_load(&d, path_of("t.txt"), msg), OTA_OK);
    assert_int_equal(d.n, 4); /* over max: the most recently seen kept */
    struct census_entry e = nth(9);
    struct srv_census_pair *p = srv_census_count(&d, "P", &e.core, &e.script, now);
    assert_non_null(p);
    assert_int_equal(p->e.count, 11);
    srv_census_free(&c);
    srv_census_free(&d);
}

/* A corrupt census: the server starts empty and keeps the file as .bad. */
static void corrupt_census_moved_aside(void **state)
{
    (void)state;
    struct cfg_ota *cfg = calloc(1, sizeof *cfg);
    struct srv_census c;
    char msg[OTA_MSG_LEN];
    struct stat st;
    snprintf(cfg->census_file, sizeof cfg->census_file, "%s", path_of("bad.txt"));
    cfg->census_max_pairs = 16;
    assert_int_equal(io_file_write_all(cfg->census_file, "# ota census v1\nP x\n", 20, 0644,
                                       msg), OTA_OK);
    assert_int_equal(srv_census_open(&c, cfg, msg), OTA_OK);
    assert_int_equal(c.n, 0);
    assert_int_equal(stat(path_of("bad.txt.bad"), &st), 0);
    assert_int_not_equal(stat(cfg->census_file, &st), 0);
    srv_census_free(&c);
    free(cfg);
}

/* ---- on-demand requests ------------------------------------------------------ */

static int count_requests(const char *spool)
{
    DIR *d = opendir(spool);
    int n = 0;
    for (struct dirent *de; d && (de = readdir(d)) != NULL;)
        n += strstr(de->d_name, ".req") != NULL && de->d_name[0] != '.';
    if (d)
        closedir(d);
    return n;
}

static void ondemand_one_request_per_pair(void **state)
{
    (void)state;
    struct cfg_ota *cfg = calloc(1, sizeof *cfg);
    struct srv_ondemand od;
    struct srv_census c;
    char msg[OTA_MSG_LEN], why[OTA_MSG_LEN], req[CFG_PATH_MAX];
    struct ver_script v = {1, 1, 0};
    memset(&od, 0, sizeof od);
    snprintf(cfg->archive_dir, sizeof cfg->archive_dir, "%s", path_of("archive"));
    snprintf(cfg->spool_dir, sizeof cfg->spool_dir, "%s", path_of("spool"));
    srv_ondemand_configure(&od, cfg);
    assert_int_equal(io_mkdirs(path_of("archive/P/core"), 0755, msg), OTA_OK);
    assert_int_equal(io_file_write_all(path_of("archive/P/core/Luat_V0019_RDA8910-0123456789abcdef"
                                               ".bin"), "x", 1, 0644, msg), OTA_OK);
    assert_int_equal(srv_census_init(&c, 16, NULL), OTA_OK);
    struct census_entry e19 = entry("P", "Luat_V0019_RDA8910", "1.0.0", 1, 0, 0);
    struct census_entry e16 = entry("P", "Luat_V0016_RDA8910", "1.0.0", 1, 0, 0);
    struct srv_census_pair *p = srv_census_count(&c, "P", &e19.core, &e19.script, 1);
    uint64_t t = 5000;
    /* not archived: as before */
    assert_int_equal(srv_ondemand_ask(&od, NULL, &e16, 20, &v, t, why), 0);
    /* 200 asks, one file */
    for (int i = 0; i < 200; i++)
        assert_int_equal(srv_ondemand_ask(&od, i % 2 ? p : NULL, &e19, 20, &v, t, why), 1);
    assert_int_equal(count_requests(path_of("spool")), 1);
    assert_int_equal(od.requests, 1);
    assert_non_null(strstr(why, "making the package"));
    assert_int_equal(srv_ondemand_request_path(cfg->spool_dir, &e19, ".req", req), OTA_OK);
    uint8_t *body;
    size_t len;
    assert_int_equal(io_file_read_all(req, 256, &body, &len, msg), OTA_OK);
    assert_string_equal((char *)body, "project=P\ncore=Luat_V0019_RDA8910\nscript=1.0.0\n");
    free(body);
    /* the builder is done: still 43 during the grace time, then 44 */
    unlink(req);
    t += SRV_ONDEMAND_RECHECK_MS;
    assert_int_equal(srv_ondemand_ask(&od, p, &e19, 20, &v, t, why), 1);
    assert_int_equal(p->build, SRV_BUILD_DONE);
    assert_int_equal(srv_ondemand_ask(&od, p, &e19, 20, &v, t + SRV_ONDEMAND_GRACE_MS, why), 0);
    assert_int_equal(count_requests(path_of("spool")), 0);
    /* a new release: asked again; the builder fails it: 44 */
    assert_int_equal(srv_ondemand_ask(&od, p, &e19, 21, &v, t, why), 1);
    assert_int_equal(count_requests(path_of("spool")), 1);
    char failed[CFG_PATH_MAX + 8];
    snprintf(failed, sizeof failed, "%s.failed", req);
    assert_int_equal(rename(req, failed), 0);
    assert_int_equal(srv_ondemand_ask(&od, p, &e19, 21, &v, t + 2 * SRV_ONDEMAND_RECHECK_MS,
                                      why), 0);
    assert_non_null(strstr(why, "failed"));
    unlink(failed);
    srv_census_free(&c);
    srv_ondemand_free(&od);
    free(cfg);
}

/* A core archived after the listing was read is seen on the next stat. */
static void ondemand_archive_listing_refreshes(void **state)
{
    (void)state;
    struct cfg_ota *cfg = calloc(1, sizeof *cfg);
    struct srv_ondemand od;
    char msg[OTA_MSG_LEN];
    struct ver_core c18;
    memset(&od, 0, sizeof od);
    ver_core_parse("Luat_V0018_RDA8910", &c18, NULL);
    snprintf(cfg->archive_dir, sizeof cfg->archive_dir, "%s", path_of("archive2"));
    snprintf(cfg->spool_dir, sizeof cfg->spool_dir, "%s", path_of("spool2"));
    srv_ondemand_configure(&od, cfg);
    assert_int_equal(srv_ondemand_archived(&od, "P", &c18, 1000), 0);
    assert_int_equal(io_mkdirs(path_of("archive2/P/core"), 0755, msg), OTA_OK);
    assert_int_equal(io_file_write_all(path_of("archive2/P/core/Luat_V0018_RDA8910-00000000000000"
                                               "00.bin"), "x", 1, 0644, msg), OTA_OK);
    assert_int_equal(io_file_write_all(path_of("archive2/P/core/Luat_V0017_RDA8910.bin"), "x", 1,
                                       0644, msg), OTA_OK); /* no hash: not an archive name */
    assert_int_equal(srv_ondemand_archived(&od, "P", &c18, 1001), 0); /* cached listing */
    assert_int_equal(srv_ondemand_archived(&od, "P", &c18, 1000 + SRV_ARCHIVE_RECHECK_MS), 1);
    struct ver_core c17;
    ver_core_parse("Luat_V0017_RDA8910", &c17, NULL);
    assert_int_equal(srv_ondemand_archived(&od, "P", &c17, 1000 + SRV_ARCHIVE_RECHECK_MS), 0);
    srv_ondemand_free(&od);
    free(cfg);
}

/* ---- check_interval refund ---------------------------------------------------- */

static void refunded_check_is_not_charged(void **state)
{
    (void)state;
    struct srv_checks k;
    struct srv_check_req who = {"861234567890123", 1, NULL, 0};
    assert_int_equal(srv_checks_init(&k, 600, NULL), OTA_OK);
    assert_int_equal(srv_checks_hit(&k, &who, 1000), 0);
    srv_checks_refund(&k, &who, 1000); /* answered 43 */
    assert_int_equal(srv_checks_hit(&k, &who, 2000), 0); /* asks again: allowed */
    assert_int_not_equal(srv_checks_hit(&k, &who, 3000), 0); /* served check counted */
    srv_checks_free(&k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(save_load_round_trip),
        cmocka_unit_test(missing_file_is_empty),
        cmocka_unit_test(comments_and_blank_lines),
        cmocka_unit_test(corrupt_files_refused),
        cmocka_unit_test(nul_and_long_lines_refused),
        cmocka_unit_test(core_in_field_rules),
        cmocka_unit_test(table_bounded),
        cmocka_unit_test(table_save_load_expire),
        cmocka_unit_test(corrupt_census_moved_aside),
        cmocka_unit_test(ondemand_one_request_per_pair),
        cmocka_unit_test(ondemand_archive_listing_refreshes),
        cmocka_unit_test(refunded_check_is_not_charged),
    };
    return cmocka_run_group_tests(tests, suite_setup, suite_teardown);
}
