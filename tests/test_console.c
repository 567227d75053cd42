/* test_console.c - the console's parsers and the rollout watcher
 * (server/rollout.c, server/jbody.c).
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

#include "jbody.h"
#include "rollout.h"
#include "testutil.h"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    return test_tmpdir_make(dir, sizeof dir, "test_console");
}

static int teardown(void **state)
{
    (void)state;
    test_tree_remove(dir);
    return 0;
}

static enum ota_err parse(const char *text, struct srv_rollout_state *s, char *msg)
{
    return srv_rollout_parse(text, strlen(text), "r.state", s, msg);
}

static void rollout_file_parses_and_round_trips(void **state)
{
    (void)state;
    struct srv_rollout_state s, again;
    char msg[OTA_MSG_LEN], text[256];
    assert_int_equal(parse("# c\n percent = 12.5 \r\npaused = yes\n", &s, msg), OTA_OK);
    assert_int_equal(s.bp, 1250);
    assert_int_equal(s.paused, 1);
    size_t n = srv_rollout_format(&s, text, sizeof text);
    assert_true(n > 0);
    assert_int_equal(srv_rollout_parse(text, n, "x", &again, msg), OTA_OK);
    assert_int_equal(again.bp, 1250);
    assert_int_equal(again.paused, 1);
    assert_int_equal(parse("percent = none\n", &s, msg), OTA_OK);
    assert_int_equal(s.bp, SRV_ROLLOUT_NONE);
    assert_int_equal(s.paused, 0);
}

static void rollout_file_refuses_bad_lines(void **state)
{
    (void)state;
    struct srv_rollout_state s;
    char msg[OTA_MSG_LEN];
    static const char *const bad[] = {"paused = no\n", "percent = 101\n", "percent = 1.234\n",
                                      "percent = 5\npercent = 6\n", "percent = 5\nfoo = 1\n",
                                      "percent 5\n", "percent = 5\npaused = maybe\n", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(parse(bad[i], &s, msg), OTA_E_INVAL);
    assert_int_equal(parse("percent = 5\nfoo = 1\n", &s, msg), OTA_E_INVAL);
    assert_non_null(strstr(msg, "r.state:2"));
    assert_int_equal(srv_rollout_parse("percent = 5\0", 12, "r", &s, msg), OTA_E_INVAL);
}

/* Decided with the shared inih reader (common/kv.h): an inline " ;"
 * comment, "key: value" and CR LF pass; a section header does not. */
static void rollout_file_reader_rules(void **state)
{
    (void)state;
    struct srv_rollout_state s;
    char msg[OTA_MSG_LEN];
    assert_int_equal(parse("percent = 50 ; set by hand\r\npaused: yes\r\n", &s, msg), OTA_OK);
    assert_int_equal(s.bp, 5000);
    assert_int_equal(s.paused, 1);
    assert_int_equal(parse("percent = 5\n[rollout]\n", &s, msg), OTA_E_INVAL);
    assert_string_equal(msg, "r.state:2: a [section] line in a file without sections");
    assert_int_equal(parse("paused = no\n", &s, msg), OTA_E_INVAL);
    assert_string_equal(msg, "r.state: missing key percent");
    assert_int_equal(parse("percent = 5\npaused = maybe\n", &s, msg), OTA_E_INVAL);
    assert_string_equal(msg, "r.state:2: paused: expected yes or no");
}

/* The watcher: the file overrides ota.ini's value, a bad edit keeps the
 * state in force (reported once), removing it goes back to ota.ini. */
static void rollout_watch_follows_the_file(void **state)
{
    (void)state;
    char path[128], msg[OTA_MSG_LEN];
    struct srv_fleet f;
    struct srv_rollout_watch w;
    int changed;
    snprintf(path, sizeof path, "%s/rollout.state", dir);
    assert_int_equal(srv_fleet_init(&f, NULL, 1000, msg), OTA_OK);
    srv_rollout_watch_init(&w, path, 1000);
    assert_int_equal(srv_rollout_refresh(&w, &f, &changed, msg), OTA_OK);
    assert_int_equal(changed, 0);
    struct srv_rollout_state s = {2000, 1};
    assert_int_equal(srv_rollout_save(path, &s, msg), OTA_OK);
    assert_int_equal(srv_rollout_refresh(&w, &f, &changed, msg), OTA_OK);
    assert_int_equal(changed, 1);
    assert_int_equal(f.rollout_bp, 2000);
    assert_int_equal(f.paused, 1);
    assert_int_equal(srv_rollout_refresh(&w, &f, &changed, msg), OTA_OK);
    assert_int_equal(changed, 0);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("percent = lots\n", fp);
    fclose(fp);
    assert_int_equal(srv_rollout_refresh(&w, &f, &changed, msg), OTA_E_INVAL);
    assert_int_equal(srv_rollout_refresh(&w, &f, &changed, msg), OTA_OK); /* told once */
    assert_int_equal(f.rollout_bp, 2000);
    unlink(path);
    assert_int_equal(srv_rollout_refresh(&w, &f, &changed, msg), OTA_OK);
    assert_int_equal(changed, 1);
    assert_int_equal(f.rollout_bp, 1000);
    assert_int_equal(f.paused, 0);
    srv_fleet_free(&f);
}

static void jbody_parses_flat_objects(void **state)
{
    (void)state;
    struct srv_jbody j;
    char msg[OTA_MSG_LEN];
    const char *body = " {\"percent\": 20.5, \"paused\":true, \"add\":[\"1\", \"22\"], \"n\":null} ";
    assert_int_equal(srv_jbody_parse(body, strlen(body), &j, msg), OTA_OK);
    assert_int_equal(j.n, 4);
    const struct srv_jbody_field *f = srv_jbody_get(&j, "percent");
    assert_non_null(f);
    assert_int_equal(f->type, SRV_JB_NUMBER);
    assert_true(f->num == 20.5);
    assert_int_equal(srv_jbody_get(&j, "paused")->type, SRV_JB_TRUE);
    assert_int_equal(srv_jbody_get(&j, "n")->type, SRV_JB_NULL);
    f = srv_jbody_get(&j, "add");
    assert_int_equal(f->nitems, 2);
    const char *s;
    size_t n, pos = 0;
    assert_int_equal(srv_jbody_item(&j, f, &pos, &s, &n), 1);
    assert_int_equal(n, 1);
    assert_int_equal(srv_jbody_item(&j, f, &pos, &s, &n), 1);
    assert_memory_equal(s, "22", 2);
    assert_int_equal(srv_jbody_item(&j, f, &pos, &s, &n), 0);
    assert_null(srv_jbody_get(&j, "other"));
}

static void jbody_refuses_the_rest(void **state)
{
    (void)state;
    struct srv_jbody j;
    char msg[OTA_MSG_LEN];
    static const char *const bad[] = {
        "", "{", "[]", "{\"a\":}", "{\"a\":1,}", "{\"a\":1 \"b\":2}", "{\"a\":{}}",
        "{\"a\":[1]}", "{\"a\":\"x\\\"y\"}", "{\"a\":1,\"a\":2}", "{\"a\":1} x", "{\"\":1}",
        "{\"a\":-}", "{\"a\":1.}", "{\"a\":tru}", "{\"a\":\"\x01\"}",
        "{\"a\":1,\"b\":1,\"c\":1,\"d\":1,\"e\":1,\"f\":1,\"g\":1,\"h\":1,\"i\":1}",
        "{\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\":1}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(srv_jbody_parse(bad[i], strlen(bad[i]), &j, msg), OTA_E_INVAL);
    assert_int_equal(srv_jbody_parse("{}", 2, &j, msg), OTA_OK);
    assert_int_equal(j.n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rollout_file_parses_and_round_trips),
        cmocka_unit_test(rollout_file_refuses_bad_lines),
        cmocka_unit_test(rollout_file_reader_rules),
        cmocka_unit_test(rollout_watch_follows_the_file),
        cmocka_unit_test(jbody_parses_flat_objects),
        cmocka_unit_test(jbody_refuses_the_rest),
    };
    return cmocka_run_group_tests_name("console", tests, setup, teardown);
}
