/* test_fleet.c - staged rollout and IMEI allowlist (server/fleet.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fleet.h"
#include "testutil.h"
#include "stats.h"

#define NDEV 10000

static char imeis[NDEV][CFG_IMEI_MAX];
static char dir[64];

static int setup(void **state)
{
    (void)state;
    /* Synthetic IMEIs: an 8-digit type allocation code, then a serial. */
    for (int i = 0; i < NDEV; i++)
        snprintf(imeis[i], sizeof imeis[i], "86123456%07d", i * 7919 % 10000000);
    return test_tmpdir_make(dir, sizeof dir, "test_fleet");
}

static int teardown(void **state)
{
    (void)state;
    test_tree_remove(dir);
    return 0;
}

static int count_allowed(const struct srv_fleet *f, uint8_t *mark)
{
    int n = 0;
    for (int i = 0; i < NDEV; i++) {
        int ok = srv_fleet_check(f, imeis[i]) == SRV_FLEET_ALLOWED;
        if (mark)
            mark[i] = (uint8_t)ok;
        n += ok;
    }
    return n;
}

static void rollout_is_proportional_and_monotonic(void **state)
{
    static uint8_t at10[NDEV], at20[NDEV];
    struct srv_fleet f;
    (void)state;
    assert_int_equal(srv_fleet_init(&f, NULL, 1000, NULL), OTA_OK); /* 10 % */
    int n10 = count_allowed(&f, at10);
    assert_in_range(n10, 900, 1100);
    for (int i = 0; i < NDEV; i++) /* refused devices are told "not yet" */
        if (!at10[i])
            assert_int_equal(srv_fleet_check(&f, imeis[i]), SRV_FLEET_NOT_YET);
    assert_int_equal(srv_fleet_init(&f, NULL, 2000, NULL), OTA_OK); /* 20 % */
    int n20 = count_allowed(&f, at20);
    assert_in_range(n20, 1800, 2200);
    for (int i = 0; i < NDEV; i++)
        if (at10[i])
            assert_true(at20[i]); /* raising only adds devices */
    assert_int_equal(srv_fleet_init(&f, NULL, 0, NULL), OTA_OK);
    assert_int_equal(count_allowed(&f, NULL), 0);
    assert_int_equal(srv_fleet_init(&f, NULL, SRV_ROLLOUT_ALL, NULL), OTA_OK);
    assert_int_equal(count_allowed(&f, NULL), NDEV);
}

static void no_control_allows_everyone(void **state)
{
    struct srv_fleet f;
    (void)state;
    assert_int_equal(srv_fleet_init(&f, "", SRV_ROLLOUT_ALL + 1, NULL), OTA_OK);
    assert_int_equal(count_allowed(&f, NULL), NDEV);
}

static const char *write_list(const char *text)
{
    static char path[128];
    snprintf(path, sizeof path, "%s/allow.txt", dir);
    assert_int_equal(io_file_write_all(path, text, strlen(text), 0644, NULL), OTA_OK);
    return path;
}

static void allowlist_and_reload(void **state)
{
    struct srv_fleet f;
    char msg[OTA_MSG_LEN];
    int reloaded;
    (void)state;
    const char *path = write_list("# pilot devices\n861234567890001\n\n  861234567890003  \n");
    assert_int_equal(srv_fleet_init(&f, path, SRV_ROLLOUT_ALL + 1, msg), OTA_OK);
    assert_int_equal(srv_fleet_check(&f, "861234567890001"), SRV_FLEET_ALLOWED);
    assert_int_equal(srv_fleet_check(&f, "861234567890003"), SRV_FLEET_ALLOWED);
    assert_int_equal(srv_fleet_check(&f, "861234567890002"), SRV_FLEET_NOT_ALLOWED);
    assert_int_equal(srv_fleet_refresh(&f, &reloaded, msg), OTA_OK);
    assert_int_equal(reloaded, 0); /* unchanged file: nothing to do */
    usleep(20000);                 /* a new mtime even on coarse clocks */
    write_list("861234567890002\n");
    assert_int_equal(srv_fleet_refresh(&f, &reloaded, msg), OTA_OK);
    assert_int_equal(reloaded, 1);
    assert_int_equal(srv_fleet_check(&f, "861234567890002"), SRV_FLEET_ALLOWED);
    assert_int_equal(srv_fleet_check(&f, "861234567890001"), SRV_FLEET_NOT_ALLOWED);
    /* A bad edit is reported with its line and the old list stays. */
    usleep(20000);
    write_list("861234567890005\n86123456789000x\n");
    assert_int_equal(srv_fleet_refresh(&f, &reloaded, msg), OTA_E_INVAL);
    assert_non_null(strstr(msg, "allow.txt:2:"));
    assert_int_equal(srv_fleet_check(&f, "861234567890002"), SRV_FLEET_ALLOWED);
    assert_int_equal(srv_fleet_check(&f, "861234567890005"), SRV_FLEET_NOT_ALLOWED);
    srv_fleet_free(&f);
}

/* With both set, the allowlist is the gate and the rollout stages the
 * release within it (README "Fleet control"): a listed device inside the
 * bucket is offered, a listed one outside is held back (4.04/27), an
 * unlisted one is refused (4.03/21) even inside the bucket. */
static void allowlist_gates_rollout(void **state)
{
    struct srv_fleet f;
    char why[OTA_MSG_LEN];
    (void)state;
    int in = -1, out = -1, unlisted_in = -1;
    for (int i = 0; i < NDEV; i++) {
        int inside = srv_fleet_bucket(imeis[i]) < 1000;
        if (inside && in < 0)
            in = i;
        else if (inside && unlisted_in < 0)
            unlisted_in = i;
        else if (!inside && out < 0)
            out = i;
    }
    char text[64];
    snprintf(text, sizeof text, "%s\n%s\n", imeis[in], imeis[out]);
    const char *path = write_list(text);
    assert_int_equal(srv_fleet_init(&f, path, 1000, NULL), OTA_OK);
    assert_int_equal(srv_fleet_check(&f, imeis[in]), SRV_FLEET_ALLOWED);
    assert_int_equal(srv_fleet_check(&f, imeis[out]), SRV_FLEET_NOT_YET);
    assert_int_equal(srv_fleet_check(&f, imeis[unlisted_in]), SRV_FLEET_NOT_ALLOWED);
    assert_int_equal(count_allowed(&f, NULL), 1);
    assert_int_equal(srv_fleet_explain(&f, imeis[out], why, sizeof why), SRV_FLEET_NOT_YET);
    assert_non_null(strstr(why, "in the allowlist, outside the rollout (bucket >= 1000 = 10.00 %)"));
    assert_int_equal(srv_fleet_explain(&f, imeis[unlisted_in], why, sizeof why),
                     SRV_FLEET_NOT_ALLOWED);
    assert_non_null(strstr(why, "not in the allowlist (2 IMEIs)"));
    srv_fleet_describe(&f, why, sizeof why);
    assert_string_equal(why, "allowlist 2 IMEIs, rollout 10.00 %");
    srv_fleet_free(&f);
    assert_int_equal(srv_fleet_init(&f, NULL, SRV_ROLLOUT_ALL + 1, NULL), OTA_OK);
    srv_fleet_describe(&f, why, sizeof why);
    assert_string_equal(why, "no allowlist, no rollout");
}

/* A bad edit is reported once, not at every refresh (once a second in
 * the server); a further change is reported again. */
static void bad_allowlist_is_reported_once(void **state)
{
    struct srv_fleet f;
    char msg[OTA_MSG_LEN];
    int reloaded;
    (void)state;
    const char *path = write_list("861234567890001\n");
    assert_int_equal(srv_fleet_init(&f, path, SRV_ROLLOUT_ALL + 1, msg), OTA_OK);
    usleep(20000);
    write_list("861234567890001\nbad line\n");
    assert_int_equal(srv_fleet_refresh(&f, &reloaded, msg), OTA_E_INVAL);
    assert_int_equal(srv_fleet_refresh(&f, &reloaded, msg), OTA_OK);
    assert_int_equal(reloaded, 0);
    assert_int_equal(srv_fleet_check(&f, "861234567890001"), SRV_FLEET_ALLOWED);
    usleep(20000);
    write_list("861234567890001\nstill bad\n");
    assert_int_equal(srv_fleet_refresh(&f, &reloaded, msg), OTA_E_INVAL);
    usleep(20000);
    write_list("861234567890002\n");
    assert_int_equal(srv_fleet_refresh(&f, &reloaded, msg), OTA_OK);
    assert_int_equal(reloaded, 1);
    srv_fleet_free(&f);
}

/* /stats shows the fleet control in force and counts "held back by the
 * rollout" apart from "up to date" (both are 4.04/27 on the wire). */
static void stats_show_fleet_and_held_back(void **state)
{
    struct srv_stats st;
    struct srv_gauges g = {.uptime_s = 1, .packages = 7, .has_allowlist = 1, .has_rollout = 1,
                           .allowlist_imeis = 3, .rollout_bp = 2550};
    char json[SRV_STATS_JSON_MAX];
    (void)state;
    memset(&st, 0, sizeof st);
    st.by_status[SRV_ST_NO_UPDATE] = 5;
    st.by_status[SRV_ST_HELD_BACK] = 2;
    assert_true(srv_stats_json(&st, &g, json, sizeof json) > 0);
    assert_non_null(strstr(json, "\"allowlist_imeis\":3"));
    assert_non_null(strstr(json, "\"rollout_bp\":2550"));
    assert_non_null(strstr(json, "\"no-update\":5"));
    assert_non_null(strstr(json, "\"held-back\":2"));
    assert_int_equal(srv_status_info(SRV_ST_HELD_BACK)->coap, 404);
    assert_int_equal(srv_status_info(SRV_ST_HELD_BACK)->platform, 27);
    g.has_allowlist = g.has_rollout = 0;
    assert_true(srv_stats_json(&st, &g, json, sizeof json) > 0);
    assert_null(strstr(json, "allowlist_imeis"));
    assert_null(strstr(json, "rollout_bp"));
}

static void missing_allowlist_is_an_error(void **state)
{
    struct srv_fleet f;
    char msg[OTA_MSG_LEN];
    (void)state;
    assert_int_equal(srv_fleet_init(&f, "/nonexistent/allow.txt", 0, msg), OTA_E_NOTFOUND);
    assert_non_null(strstr(msg, "/nonexistent/allow.txt"));
}

/* Issue 18.3: unverified (coap://) checks naming a device's IMEI do not
 * spend the verified device's budget, nor that of the IMEI at another
 * address. */
static void checks_budget_per_scheme_and_address(void **state)
{
    struct srv_checks c;
    struct srv_peer_key attacker = test_peer_key("127.0.0.2", 4000), victim = test_peer_key("127.0.0.1", 5000);
    struct srv_check_req forged = {"861234567890123", 0, &attacker, 0};
    struct srv_check_req dtls = {"861234567890123", 1, &victim, 0};
    struct srv_check_req plain = {"861234567890123", 0, &victim, 0};
    (void)state;
    assert_int_equal(srv_checks_init(&c, 60, NULL), OTA_OK);
    for (int i = 0; i < 50; i++) {
        forged.peer = &attacker;
        attacker = test_peer_key("127.0.0.2", (uint16_t)(4000 + i));
        srv_checks_hit(&c, &forged, 1000 + (uint64_t)i * 200);
    }
    assert_int_equal(srv_checks_hit(&c, &dtls, 12000), 0);
    assert_int_equal(srv_checks_hit(&c, &plain, 12000), 0);
    /* each budget still limits its owner */
    struct srv_peer_key later = test_peer_key("127.0.0.1", 5001);
    dtls.peer = &later;
    plain.peer = &later;
    assert_int_equal(srv_checks_hit(&c, &dtls, 13000), 59);
    assert_int_equal(srv_checks_hit(&c, &plain, 13000), 59);
    srv_checks_free(&c);
}

/* The client's own resend of block 0 (same address and port) is not a new
 * check, a bounded number of times; another port is a new check. */
static void checks_resend_is_not_a_check(void **state)
{
    struct srv_checks c;
    struct srv_peer_key p = test_peer_key("10.0.0.1", 7000), q = test_peer_key("10.0.0.1", 7001);
    struct srv_check_req r = {"861234567890123", 0, &p, 0};
    (void)state;
    assert_int_equal(srv_checks_init(&c, 60, NULL), OTA_OK);
    assert_int_equal(srv_checks_hit(&c, &r, 1000), 0);
    for (unsigned i = 0; i < SRV_CHECK_RESENDS; i++)
        assert_int_equal(srv_checks_hit(&c, &r, 2000 + i), 0);
    assert_true(srv_checks_hit(&c, &r, 3000) > 0); /* a loop, not resends */
    r.peer = &q;
    assert_int_equal(srv_checks_hit(&c, &r, 3000), 58);
    assert_int_equal(srv_checks_hit(&c, &r, 61000), 0); /* interval over */
    srv_checks_free(&c);
}

/* Reports: a second one from the same endpoint is a second line, never a
 * resend, while a coap:// report from elsewhere spends another budget. */
static void report_budget_has_no_resends(void **state)
{
    struct srv_checks c;
    struct srv_peer_key p = test_peer_key("10.0.0.1", 7000), q = test_peer_key("10.0.0.2", 7000);
    struct srv_check_req r = {"861234567890123", 0, &p, 1};
    (void)state;
    assert_int_equal(srv_checks_init(&c, 60, NULL), OTA_OK);
    assert_int_equal(srv_checks_hit(&c, &r, 1000), 0);
    assert_int_equal(srv_checks_hit(&c, &r, 1500), 60);
    r.peer = &q;
    assert_int_equal(srv_checks_hit(&c, &r, 1500), 0);
    srv_checks_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rollout_is_proportional_and_monotonic),
        cmocka_unit_test(no_control_allows_everyone),
        cmocka_unit_test(allowlist_and_reload),
        cmocka_unit_test(allowlist_gates_rollout),
        cmocka_unit_test(bad_allowlist_is_reported_once),
        cmocka_unit_test(stats_show_fleet_and_held_back),
        cmocka_unit_test(missing_allowlist_is_an_error),
        cmocka_unit_test(checks_budget_per_scheme_and_address),
        cmocka_unit_test(checks_resend_is_not_a_check),
        cmocka_unit_test(report_budget_has_no_resends),
    };
    return cmocka_run_group_tests_name("fleet", tests, setup, teardown);
}
