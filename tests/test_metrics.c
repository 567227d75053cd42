/* test_metrics.c - the [admin] listener's pure parts: Prometheus text
 * rendering (metrics.c), the /healthz decision, token files and the
 * constant-time token match (http.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "http.h"
#include "metrics.h"

static char tmpdir[64];

static int setup(void **state)
{
    (void)state;
    return test_tmpdir_make(tmpdir, sizeof tmpdir, "test_metrics");
}

static int teardown(void **state)
{
    (void)state;
    test_tree_remove(tmpdir);
    return 0;
}

static const struct srv_metrics_proc proc = {10485760, 20971520, 12, 1024, 1700000000.5,
                                             "0.2.0", "4.3.1"};

/* The line "name value" (name may carry labels) is in text. */
static void assert_line(const char *text, const char *line)
{
    char want[512];
    snprintf(want, sizeof want, "\n%s\n", line);
    if (!strstr(text, want))
        fail_msg("missing line: %s", line);
}

static void render_values(void **state)
{
    (void)state;
    struct srv_metrics_snap *m = calloc(1, sizeof *m);
    size_t len;
    assert_non_null(m);
    m->st.blocks = 119;
    m->st.block_bytes = 120953;
    m->st.by_resource[SRV_RES_FOTA][SRV_ST_CONTENT] = 119;
    m->st.by_resource[SRV_RES_FOTA][SRV_ST_NO_UPDATE] = 2;
    m->st.by_resource[SRV_RES_REPORT][SRV_ST_CHANGED] = 1;
    m->st.by_status[SRV_ST_TOO_MANY] = 4;
    m->st.limited_rate = 3;
    m->st.transfers_started = 5;
    m->st.transfers_completed = 4;
    m->st.rescans = 9;
    m->st.rescans_failed = 1;
    m->st.reloads = 2;
    m->st.reloads_failed = 2;
    m->st.reports_success = 6;
    m->st.census_pairs = 11;
    m->st.census_dropped = 12;
    m->st.build_requests = 13;
    m->st.build_waits = 14;
    m->st.short_requests = 15;
    m->st.short_blocks = 16;
    m->st.short_unknown = 17;
    m->st.short_refused = 18;
    m->st.short_bad = 19;
    m->transfers = 1;
    m->sources = 7;
    m->packages = 2;
    m->rejected = 1;
    m->npkg = 2;
    snprintf(m->pkg[0].name, SRV_NAME_MAX, "A_1.1.0_0017-0020.pkg");
    m->pkg[0].blocks = 100;
    m->pkg[0].bytes = 101000;
    snprintf(m->pkg[1].name, SRV_NAME_MAX, "we\"ird\\\n\x01.pkg");
    char *t = srv_metrics_render(m, &proc, &len);
    assert_non_null(t);
    assert_int_equal(strlen(t), len);
    assert_line(t, "ota_requests_total{resource=\"fota\",outcome=\"content\",code=\"2.05\","
                   "platform_code=\"0\"} 119");
    assert_line(t, "ota_requests_total{resource=\"fota\",outcome=\"no-update\",code=\"4.04\","
                   "platform_code=\"27\"} 2");
    assert_line(t, "ota_requests_total{resource=\"report\",outcome=\"changed\",code=\"2.04\","
                   "platform_code=\"0\"} 1");
    assert_line(t, "ota_block_answers_total 119");
    assert_line(t, "ota_block_answer_bytes_total 120953");
    assert_line(t, "ota_package_block_answers_total{package=\"A_1.1.0_0017-0020.pkg\"} 100");
    assert_line(t, "ota_package_block_answer_bytes_total{package=\"A_1.1.0_0017-0020.pkg\"} "
                   "101000");
    assert_line(t, "ota_package_block_answers_total{package=\"we\\\"ird\\\\\\n\\\\x01.pkg\"} 0");
    assert_line(t, "ota_transfers_running 1");
    assert_line(t, "ota_transfers_started_total 5");
    assert_line(t, "ota_transfers_completed_total 4");
    assert_line(t, "ota_overload_responses_total{code=\"5.03\",reason=\"rate_limit\"} 3");
    assert_line(t, "ota_overload_responses_total{code=\"4.29\",reason=\"check_interval\"} 4");
    assert_line(t, "ota_sources_tracked 7");
    assert_line(t, "ota_reports_total{result=\"success\"} 6");
    assert_line(t, "ota_packages{state=\"loaded\"} 2");
    assert_line(t, "ota_packages{state=\"rejected\"} 1");
    assert_line(t, "ota_cache_rescans_total{result=\"ok\"} 8");
    assert_line(t, "ota_cache_rescans_total{result=\"failed\"} 1");
    assert_line(t, "ota_config_reloads_total{result=\"ok\"} 0");
    assert_line(t, "ota_config_reloads_total{result=\"failed\"} 2");
    assert_line(t, "ota_build_info{version=\"0.2.0\",libcoap=\"4.3.1\"} 1");
    assert_line(t, "process_resident_memory_bytes 10485760");
    assert_line(t, "process_open_fds 12");
    assert_line(t, "ota_census_pairs 11");
    assert_line(t, "ota_census_dropped_total 12");
    assert_line(t, "ota_build_requests_total 13");
    assert_line(t, "ota_build_wait_responses_total 14");
    assert_line(t, "ota_short_requests_total 15");
    assert_line(t, "ota_short_block_answers_total 16");
    assert_line(t, "ota_short_refusals_total{reason=\"unknown_etag\"} 17");
    assert_line(t, "ota_short_refusals_total{reason=\"no_transfer\"} 18");
    assert_line(t, "ota_short_refusals_total{reason=\"malformed\"} 19");
    assert_line(t, "process_start_time_seconds 1700000000.500");
    assert_line(t, "# TYPE ota_requests_total counter");
    assert_int_equal(t[len - 1], '\n');
    free(t);
    free(m);
}

/* Every family has HELP and TYPE once; every counter ends in _total. */
static void render_families(void **state)
{
    (void)state;
    struct srv_metrics_snap *m = calloc(1, sizeof *m);
    size_t len;
    char *t = srv_metrics_render(m, &proc, &len);
    assert_non_null(t);
    int types = 0;
    for (char *p = strstr(t, "# TYPE "); p; p = strstr(p + 1, "# TYPE ")) {
        char name[128], type[16];
        assert_int_equal(sscanf(p, "# TYPE %127s %15s", name, type), 2);
        if (!strcmp(type, "counter"))
            assert_string_equal(name + strlen(name) - 6, "_total");
        char help[160];
        snprintf(help, sizeof help, "# HELP %s ", name);
        assert_non_null(strstr(t, help));
        types++;
    }
    assert_int_equal(types, 35);
    free(t);
    free(m);
}

static void health(void **state)
{
    (void)state;
    struct srv_metrics_snap m;
    char why[160];
    memset(&m, 0, offsetof(struct srv_metrics_snap, pkg));
    assert_int_equal(srv_metrics_health(&m, 1000, why, sizeof why), 503);
    assert_string_equal(why, "starting\n");
    m.seq = 1;
    m.published_ms = 1000;
    m.rejected = 3;
    assert_int_equal(srv_metrics_health(&m, 1050, why, sizeof why), 503);
    assert_non_null(strstr(why, "no valid package"));
    m.packages = 2;
    assert_int_equal(srv_metrics_health(&m, 1050, why, sizeof why), 200);
    assert_int_equal(srv_metrics_health(&m, 1000 + SRV_METRICS_STALL_MS + 1, why, sizeof why),
                     503);
    assert_non_null(strstr(why, "stalled"));
    m.stopping = 1;
    assert_int_equal(srv_metrics_health(&m, 1050, why, sizeof why), 503);
    assert_string_equal(why, "shutting down\n");
}

static enum ota_err parse(const char *text, struct srv_http_tokens *t, char *msg)
{
    return srv_http_tokens_parse(text, strlen(text), "tok", t, msg);
}

static void tokens_parse(void **state)
{
    (void)state;
    struct srv_http_tokens t;
    char msg[OTA_MSG_LEN] = "";
    assert_int_equal(parse("# admins\n\nprometheus:0123456789abcdef\r\n"
                           "ops.alice:Zz-_~+/=0123456789:x \n", &t, msg), OTA_OK);
    assert_int_equal(t.n, 2);
    assert_string_equal(t.t[0].name, "prometheus");
    assert_string_equal(t.t[1].name, "ops.alice");
    assert_int_equal(srv_http_tokens_match(&t, "0123456789abcdef", 16), 0);
    assert_int_equal(srv_http_tokens_match(&t, "Zz-_~+/=0123456789:x", 20), 1);
    assert_int_equal(srv_http_tokens_match(&t, "0123456789abcde", 15), -1);
    assert_int_equal(srv_http_tokens_match(&t, "0123456789abcdefg", 17), -1);
    assert_int_equal(srv_http_tokens_match(&t, "", 0), -1);
    static const struct {
        const char *text, *line;
    } bad[] = {
        {"", "no name:token"},
        {"# only a comment\n", "no name:token"},
        {"prometheus 0123456789abcdef\n", ":1:"},
        {":0123456789abcdef\n", ":1:"},
        {"a b:0123456789abcdef\n", ":1:"},
        {"ok:0123456789abcdef\nshort:0123456789\n", ":2:"},
        {"sp:0123456789 abcdef\n", ":1:"},
        {"x:0123456789abcdef\nx:fedcba9876543210\n", "duplicate"},
        {"nametoolong_nametoolong_nametoolo:0123456789abcdef\n", ":1:"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        msg[0] = '\0';
        assert_int_equal(parse(bad[i].text, &t, msg), OTA_E_INVAL);
        if (!strstr(msg, bad[i].line))
            fail_msg("case %zu: '%s' lacks '%s'", i, msg, bad[i].line);
        assert_int_equal(t.n, 0);
    }
    /* the embedded NUL case, with its true length */
    static const char nul[] = "n:0123456789abcdef\0\n";
    assert_int_equal(srv_http_tokens_parse(nul, sizeof nul - 1, "tok", &t, msg), OTA_E_INVAL);
    char many[SRV_HTTP_TOKENS_MAX * 40 + 40] = "";
    for (int i = 0; i <= SRV_HTTP_TOKENS_MAX; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "n%d:0123456789abcdef\n", i);
    assert_int_equal(parse(many, &t, msg), OTA_E_INVAL);
    assert_non_null(strstr(msg, "more than"));
}

static void tokens_file_mode(void **state)
{
    (void)state;
    struct srv_http_tokens t;
    char msg[OTA_MSG_LEN] = "", path[128];
    snprintf(path, sizeof path, "%s/admin.tokens", tmpdir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("prometheus:0123456789abcdef\n", fp);
    fclose(fp);
    chmod(path, 0640);
    assert_int_equal(srv_http_tokens_load(path, &t, msg), OTA_E_PERM);
    assert_non_null(strstr(msg, "chmod 600"));
    chmod(path, 0604);
    assert_int_equal(srv_http_tokens_load(path, &t, msg), OTA_E_PERM);
    chmod(path, 0600);
    assert_int_equal(srv_http_tokens_load(path, &t, msg), OTA_OK);
    assert_int_equal(t.n, 1);
    assert_int_equal(srv_http_tokens_load(tmpdir, &t, msg), OTA_E_INVAL);
    snprintf(path, sizeof path, "%s/none", tmpdir);
    assert_int_equal(srv_http_tokens_load(path, &t, msg), OTA_E_NOTFOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(render_values), cmocka_unit_test(render_families),
        cmocka_unit_test(health),        cmocka_unit_test(tokens_parse),
        cmocka_unit_test(tokens_file_mode),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
