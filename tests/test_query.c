/* test_query.c - the server's request parsers: GET /fota query, POST
 * /report payload, and the status table / diagnostic JSON.
 *
 * Every rejection is a named case asserting the exact error code, and
 * where it matters the field the message names (the device log shows it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "query.h"
#include "report.h"
#include "status.h"

#define KEY "project_key=demo-key-01"
#define IMEI "imei=861234567890123"
#define FW "firmware_name=MY_PROJ_Luat_RDA8910"
#define CORE "core_version=17"
#define DF "dfota=1"
#define VER "version=1.0.0"
#define NEW_FORM KEY "&" IMEI "&" FW "&" CORE "&" DF "&" VER

static enum ota_err parse(const char *q, struct srv_query *out, char *msg)
{
    msg[0] = '\0';
    return srv_query_parse((const uint8_t *)q, strlen(q), out, msg);
}

/* Assert q is rejected with code e and a message starting with prefix. */
static void expect_bad(const char *q, enum ota_err e, const char *prefix)
{
    struct srv_query out;
    char msg[OTA_MSG_LEN];
    enum ota_err got = parse(q, &out, msg);
    if (got != e || strncmp(msg, prefix, strlen(prefix)) != 0)
        fail_msg("query '%s': got %d '%s', want %d '%s...'", q, got, msg, e, prefix);
    assert_string_equal(out.imei, ""); /* nothing half-filled */
}

static void query_new_form(void **state)
{
    struct srv_query q;
    char msg[OTA_MSG_LEN];
    (void)state;
    assert_int_equal(parse(NEW_FORM "&device_key=SN-0001", &q, msg), OTA_OK);
    assert_string_equal(q.project_key, "demo-key-01");
    assert_string_equal(q.imei, "861234567890123");
    assert_string_equal(q.project, "MY_PROJ");
    assert_string_equal(q.core.name, "Luat");
    assert_string_equal(q.core.chip, "RDA8910");
    assert_int_equal(q.core.number, 17);
    assert_int_equal(q.old_form, 0);
    assert_int_equal(q.dfota, 1);
    assert_int_equal(q.script.major, 1);
    assert_int_equal(q.script.minor, 0);
    assert_string_equal(q.device_key, "SN-0001");
}

static void query_old_form(void **state)
{
    struct srv_query q;
    char msg[OTA_MSG_LEN];
    (void)state;
    assert_int_equal(parse(KEY "&" IMEI "&firmware_name=MY_PROJ_Luat_V0018_RDA8910&dfota=0&"
                           "version=2.10.3", &q, msg), OTA_OK);
    assert_string_equal(q.project, "MY_PROJ");
    assert_int_equal(q.core.number, 18);
    assert_int_equal(q.old_form, 1);
    assert_int_equal(q.dfota, 0);
    assert_int_equal(q.script.minor, 10);
    /* Both forms together must agree. */
    assert_int_equal(parse(KEY "&" IMEI "&firmware_name=MY_PROJ_Luat_V0018_RDA8910&"
                           "core_version=0018&" DF "&" VER, &q, msg), OTA_OK);
    expect_bad(KEY "&" IMEI "&firmware_name=MY_PROJ_Luat_V0018_RDA8910&core_version=17&" DF
               "&" VER, OTA_E_INVAL, "core_version: 17 disagrees");
}

static void query_order_and_unknown_keys(void **state)
{
    struct srv_query q;
    char msg[OTA_MSG_LEN];
    (void)state;
    assert_int_equal(parse(VER "&" DF "&lang=en&" CORE "&" FW "&" IMEI "&x_1=&" KEY, &q, msg),
                     OTA_OK);
    assert_int_equal(q.core.number, 17);
    assert_int_equal(parse(NEW_FORM "&device_key=", &q, msg), OTA_OK); /* empty = absent */
    assert_string_equal(q.device_key, "");
    expect_bad(NEW_FORM "&lang=e/n", OTA_E_INVAL, "lang: path character");
    expect_bad(NEW_FORM "&lang=e n", OTA_E_INVAL, "lang: bad character");
    expect_bad(NEW_FORM "&la%6eg=en", OTA_E_INVAL, "query: bad character in parameter name");
}

static void query_missing_fields(void **state)
{
    (void)state;
    expect_bad("", OTA_E_INVAL, "query: missing");
    expect_bad(IMEI "&" FW "&" CORE "&" DF "&" VER, OTA_E_INVAL, "project_key: missing");
    expect_bad(KEY "&" FW "&" CORE "&" DF "&" VER, OTA_E_INVAL, "imei: missing");
    expect_bad(KEY "&" IMEI "&" CORE "&" DF "&" VER, OTA_E_INVAL, "firmware_name: missing");
    expect_bad(KEY "&" IMEI "&" FW "&" DF "&" VER, OTA_E_INVAL, "core_version: missing");
    expect_bad(KEY "&" IMEI "&" FW "&" CORE "&" VER, OTA_E_INVAL, "dfota: missing");
    expect_bad(KEY "&" IMEI "&" FW "&" CORE "&" DF, OTA_E_INVAL, "version: missing");
    expect_bad("project_key=&" IMEI "&" FW "&" CORE "&" DF "&" VER, OTA_E_INVAL,
               "project_key: length 0");
    expect_bad(NEW_FORM "&", OTA_E_INVAL, "query: empty parameter");
    expect_bad("&" NEW_FORM, OTA_E_INVAL, "query: empty parameter");
    expect_bad(NEW_FORM "&&x=1", OTA_E_INVAL, "query: empty parameter");
    expect_bad(NEW_FORM "&imei", OTA_E_INVAL, "query: parameter at offset");
    expect_bad(NEW_FORM "&=1", OTA_E_INVAL, "query: parameter name at offset");
}

static void query_bad_characters(void **state)
{
    (void)state;
    expect_bad(KEY "&imei=86123456789012a&" FW "&" CORE "&" DF "&" VER, OTA_E_INVAL,
               "imei: bad character");
    expect_bad(KEY "&imei=8612345678&" FW "&" CORE "&" DF "&" VER, OTA_E_INVAL,
               "imei: length 10");
    expect_bad("project_key=demo key&" IMEI "&" FW "&" CORE "&" DF "&" VER, OTA_E_INVAL,
               "project_key: bad character");
    expect_bad("project_key=demo\"key&" IMEI "&" FW "&" CORE "&" DF "&" VER, OTA_E_INVAL,
               "project_key: bad character");
    expect_bad(KEY "&" IMEI "&firmware_name=MY_PROJ_Luat_RDA8910;rm&" CORE "&" DF "&" VER,
               OTA_E_INVAL, "firmware_name: bad character");
    expect_bad(KEY "&" IMEI "&" FW "&core_version=-17&" DF "&" VER, OTA_E_INVAL,
               "core_version: bad character");
    expect_bad(KEY "&" IMEI "&" FW "&" CORE "&dfota=2&" VER, OTA_E_INVAL, "dfota: expected");
    expect_bad(KEY "&" IMEI "&" FW "&" CORE "&dfota=yes&" VER, OTA_E_INVAL, "dfota: length");
    /* A NUL byte inside a value. */
    static const char nul[] = KEY "&" IMEI "&" FW "&" CORE "&" DF "&version=1.0\0.0";
    struct srv_query q;
    assert_int_equal(srv_query_parse((const uint8_t *)nul, sizeof nul - 1, &q, NULL),
                     OTA_E_INVAL);
    /* High bytes. */
    expect_bad(KEY "&" IMEI "&firmware_name=MY_PROJ_Lu\xc3\xa4t_RDA8910&" CORE "&" DF "&" VER,
               OTA_E_INVAL, "firmware_name: bad character");
}

static void query_path_tricks(void **state)
{
    (void)state;
    expect_bad(KEY "&" IMEI "&firmware_name=../../etc/passwd&" CORE "&" DF "&" VER, OTA_E_INVAL,
               "firmware_name: '..'");
    expect_bad(KEY "&" IMEI "&firmware_name=/etc/passwd&" CORE "&" DF "&" VER, OTA_E_INVAL,
               "firmware_name: path character");
    expect_bad(KEY "&" IMEI "&firmware_name=MY_PROJ_Luat..RDA8910&" CORE "&" DF "&" VER,
               OTA_E_INVAL, "firmware_name: '..'");
    expect_bad(KEY "&" IMEI "&" FW "&" CORE "&" DF "&version=1..0", OTA_E_INVAL,
               "version: '..'");
    expect_bad(KEY "&" IMEI "&" FW "&" CORE "&" DF "&version=1/0/0", OTA_E_INVAL,
               "version: path character");
    expect_bad(KEY "&" IMEI "&firmware_name=MY_PROJ%2fLuat_RDA8910&" CORE "&" DF "&" VER,
               OTA_E_INVAL, "firmware_name: percent-encoding");
    expect_bad(KEY "&" IMEI "&firmware_name=MY_PROJ\\Luat_RDA8910&" CORE "&" DF "&" VER,
               OTA_E_INVAL, "firmware_name: path character");
    expect_bad("project_key=%2e%2e&" IMEI "&" FW "&" CORE "&" DF "&" VER, OTA_E_INVAL,
               "project_key: percent-encoding");
}

static void query_bad_versions(void **state)
{
    (void)state;
    expect_bad(KEY "&" IMEI "&" FW "&" CORE "&" DF "&version=1.0", OTA_E_VERSION, "version:");
    expect_bad(KEY "&" IMEI "&" FW "&" CORE "&" DF "&version=100000.0.0", OTA_E_VERSION,
               "version:");
    expect_bad(KEY "&" IMEI "&firmware_name=Luat_RDA8910&" CORE "&" DF "&" VER, OTA_E_VERSION,
               "firmware_name:");
    expect_bad(KEY "&" IMEI "&firmware_name=P_Luat_&" CORE "&" DF "&" VER, OTA_E_VERSION,
               "firmware_name:");
    /* "V17" is not the older form's V<4 digits>: read as a core name, so the
     * number must come from core_version. */
    expect_bad(KEY "&" IMEI "&firmware_name=P_Luat_V17_RDA8910&" DF "&" VER, OTA_E_INVAL,
               "core_version: missing");
    expect_bad(KEY "&" IMEI "&firmware_name=P__RDA8910&" CORE "&" DF "&" VER, OTA_E_VERSION,
               "firmware_name:");
}

static void query_lengths(void **state)
{
    char q[2048], big[200];
    (void)state;
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    snprintf(q, sizeof q, "project_key=%.64s&" IMEI "&" FW "&" CORE "&" DF "&" VER, big);
    struct srv_query out;
    assert_int_equal(srv_query_parse((const uint8_t *)q, strlen(q), &out, NULL), OTA_OK);
    snprintf(q, sizeof q, "project_key=%.65s&" IMEI "&" FW "&" CORE "&" DF "&" VER, big);
    expect_bad(q, OTA_E_INVAL, "project_key: length 65");
    snprintf(q, sizeof q, KEY "&" IMEI "&firmware_name=%.81s&" CORE "&" DF "&" VER, big);
    expect_bad(q, OTA_E_INVAL, "firmware_name: length 81");
    expect_bad(KEY "&imei=86123456789012345&" FW "&" CORE "&" DF "&" VER, OTA_E_INVAL,
               "imei: length 17");
    expect_bad(KEY "&" IMEI "&" FW "&core_version=00017&" DF "&" VER, OTA_E_INVAL,
               "core_version: length 5");
    snprintf(q, sizeof q, NEW_FORM "&x=%.65s", big);
    expect_bad(q, OTA_E_INVAL, "x: length 65");
    snprintf(q, sizeof q, NEW_FORM "&%.33s=1", big);
    expect_bad(q, OTA_E_INVAL, "query: parameter name at offset");
    /* Whole query over SRV_QUERY_MAX, and too many parameters. */
    snprintf(q, sizeof q, NEW_FORM "&a=%.64s&b=%.64s&c=%.64s&d=%.64s&e=%.64s&f=%.64s", big, big,
             big, big, big, big);
    expect_bad(q, OTA_E_INVAL, "query: length");
    snprintf(q, sizeof q, NEW_FORM "&a=1&b=1&c=1&d=1&e=1&f=1&g=1&h=1&i=1&j=1&k=1");
    expect_bad(q, OTA_E_INVAL, "query: more than 16");
}

static void query_duplicates(void **state)
{
    (void)state;
    expect_bad(NEW_FORM "&imei=861234567890124", OTA_E_INVAL, "imei: given twice");
    expect_bad(NEW_FORM "&" VER, OTA_E_INVAL, "version: given twice");
    expect_bad(NEW_FORM "&device_key=a&device_key=b", OTA_E_INVAL, "device_key: given twice");
    expect_bad(NEW_FORM "&" KEY, OTA_E_INVAL, "project_key: given twice");
    /* Case matters: Imei is an unknown (ignored) key, not a duplicate. */
    struct srv_query q;
    char msg[OTA_MSG_LEN];
    assert_int_equal(parse(NEW_FORM "&Imei=1", &q, msg), OTA_OK);
}

/* ---- report payloads ----------------------------------------------------- */

static enum ota_err report(const char *p, struct srv_report *r)
{
    return srv_report_parse((const uint8_t *)p, strlen(p), r, NULL);
}

static void report_json_and_query(void **state)
{
    struct srv_report r;
    char line[SRV_REPORT_LINE_MAX];
    (void)state;
    assert_int_equal(report("{\"imei\":\"861234567890123\",\"project\":\"DEMOPROJ\","
                            "\"from_core\":\"Luat_V0017_RDA8910\",\"to_core\":"
                            "\"Luat_V0020_RDA8910\",\"from_script\":\"1.0.0\",\"to_script\":"
                            "\"1.1.0\",\"result\":0,\"bytes\":214001,\"seconds\":12.5}", &r),
                     OTA_OK);
    assert_string_equal(r.from_core, "Luat_V0017_RDA8910");
    assert_int_equal(r.result, 0);
    size_t n = srv_report_line(&r, "127.0.0.1:5683", 0, line, sizeof line);
    assert_true(n > 0 && line[n - 1] == '\n');
    assert_string_equal(line, "{\"time\":\"1970-01-01T00:00:00Z\",\"peer\":\"127.0.0.1:5683\","
                              "\"imei\":\"861234567890123\",\"project\":\"DEMOPROJ\","
                              "\"from_core\":\"Luat_V0017_RDA8910\",\"to_core\":"
                              "\"Luat_V0020_RDA8910\",\"from_script\":\"1.0.0\",\"to_script\":"
                              "\"1.1.0\",\"result\":0,\"bytes\":214001,\"seconds\":12.5}\n");
    assert_int_equal(report("imei=861234567890123&result=-3&detail=verify_failed", &r), OTA_OK);
    assert_int_equal(r.result, -3);
    assert_int_equal(report(" { \"imei\" : \"861234567890123\" , \"result\" : 7 } ", &r),
                     OTA_E_INVAL); /* must start with '{' to be JSON */
    assert_int_equal(report("{ \"imei\" : \"861234567890123\" , \"result\" : 7 }\n", &r),
                     OTA_OK);
}

/* The device's reason is free text: kept (bounded, odd bytes as '?'),
 * escaped on output, and the line stays one valid JSON object. */
static void report_reason(void **state)
{
    struct srv_report r;
    char line[SRV_REPORT_LINE_MAX], big[SRV_REPORT_MAX];
    (void)state;
    assert_int_equal(report("{\"imei\":\"861234567890123\",\"result\":4,\"reason\":\"verify: "
                            "running core is 485760 bytes, the delta expects 530880\"}", &r),
                     OTA_OK);
    assert_string_equal(r.reason, "verify: running core is 485760 bytes, the delta expects 530880");
    size_t n = srv_report_line(&r, "127.0.0.1:5683", 0, line, sizeof line);
    assert_true(n > 0);
    assert_non_null(strstr(line, ",\"reason\":\"verify: running core is 485760 bytes, the "
                                 "delta expects 530880\"}\n"));
    /* query form: quotes, backslashes and control bytes cannot break the line */
    assert_int_equal(report("imei=861234567890123&result=4&reason=a\"b\\c\x01" "d", &r), OTA_OK);
    assert_string_equal(r.reason, "a\"b\\c?d");
    n = srv_report_line(&r, "127.0.0.1:5683", 0, line, sizeof line);
    assert_non_null(strstr(line, ",\"reason\":\"a\\\"b\\\\c?d\"}\n"));
    /* the longest reason, all quotes, is cut to 120 bytes and still fits */
    int k = snprintf(big, sizeof big, "imei=861234567890123&result=4&reason=");
    memset(big + k, '"', 300);
    big[k + 300] = '\0';
    assert_int_equal(report(big, &r), OTA_OK);
    assert_int_equal(strlen(r.reason), SRV_REPORT_REASON_MAX - 1);
    assert_true(srv_report_line(&r, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535", 0, line,
                                sizeof line) > 0);
}

static void report_bad(void **state)
{
    static const char *const bad[] = {
        "", "{", "{}", "{\"imei\":\"861234567890123\"}", "{\"result\":0}",
        "{\"imei\":\"861234567890123\",\"result\":0,}",
        "{\"imei\":\"861234567890123\",\"result\":0} x",
        "{\"imei\":\"861234567890123\",\"result\":0,\"x\":{\"a\":1}}",
        "{\"imei\":\"8612345678901\\\"23\",\"result\":0}",
        "{\"imei\":\"861234567890123\",\"result\":\"0\\n\"}",
        "{\"imei\":\"861234567890123\",\"result\":0,\"bytes\":0123}",
        "{\"imei\":\"861234567890123\",\"result\":123456}",
        "{\"imei\":\"861234567890123\",\"result\":0,\"from_core\":\"../x\"}",
        "{\"imei\":\"861234567890123\",\"result\":0,\"detail\":\"a\\\"b\"}",
        "imei=861234567890123&result=0&seconds=1.2.3",
        "imei=861234567890123&result=0&etag=xyz",
        "imei=861234567890123",
        "imei=861234567890123&result",
    };
    struct srv_report r;
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (report(bad[i], &r) == OTA_OK)
            fail_msg("accepted bad report '%s'", bad[i]);
    char big[SRV_REPORT_MAX + 2];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(report(big, &r), OTA_E_LIMIT);
}

/* ---- status table -------------------------------------------------------- */

static void status_table(void **state)
{
    char json[256];
    (void)state;
    assert_int_equal(srv_status_info(SRV_ST_NO_UPDATE)->coap, 404);
    assert_int_equal(srv_status_info(SRV_ST_NO_UPDATE)->platform, 27);
    assert_int_equal(srv_status_info(SRV_ST_FORBIDDEN)->platform, 25);
    assert_int_equal(srv_status_info(SRV_ST_REFUSED)->platform, 21);
    assert_int_equal(srv_status_info(SRV_ST_NO_BASE)->platform, 44);
    assert_int_equal(srv_status_info(SRV_ST_BAD_VERSION)->platform, 26);
    assert_int_equal(srv_status_info(SRV_ST_BLOCK_RANGE)->coap, 402);
    assert_int_equal(srv_status_info((enum srv_status)99)->coap, 500);
    size_t n = srv_status_json(SRV_ST_NO_UPDATE, "up \"to\" date\n", json, sizeof json);
    assert_string_equal(json, "{\"code\":27,\"msg\":\"up \\\"to\\\" date\\u000a\"}");
    assert_int_equal(n, strlen(json));
    assert_int_equal(srv_status_json(SRV_ST_CONTENT, "x", json, sizeof json), 0);
    char lng[600];
    memset(lng, '"', sizeof lng - 1);
    lng[sizeof lng - 1] = '\0';
    n = srv_status_json(SRV_ST_BAD_FIELD, lng, json, 100);
    assert_true(n < 100);
    assert_string_equal(json + n - 2, "\"}");
    /* size budgets for unverified sources (issue 18 item 7) */
    n = srv_status_json(SRV_ST_BAD_FIELD, "imei: missing", json, 22);
    assert_string_equal(json, "{\"code\":3}");
    assert_int_equal(n, 10);
    assert_int_equal(srv_status_json(SRV_ST_BAD_FIELD, "imei: missing", json, 10), 0);
    n = srv_status_json(SRV_ST_BAD_FIELD, "imei: missing", json, 40);
    assert_true(n > 0 && n < 40);
    assert_string_equal(json + n - 2, "\"}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(query_new_form),        cmocka_unit_test(query_old_form),
        cmocka_unit_test(query_order_and_unknown_keys), cmocka_unit_test(query_missing_fields),
        cmocka_unit_test(query_bad_characters),  cmocka_unit_test(query_path_tricks),
        cmocka_unit_test(query_bad_versions),    cmocka_unit_test(query_lengths),
        cmocka_unit_test(query_duplicates),      cmocka_unit_test(report_json_and_query),
        cmocka_unit_test(report_reason),
        cmocka_unit_test(report_bad),            cmocka_unit_test(status_table),
    };
    return cmocka_run_group_tests_name("server query/report", tests, NULL, NULL);
}
