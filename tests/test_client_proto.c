/* test_client_proto.c - the client's wire helpers (client/proto.c) and the
 * exit-code table (client/dev.c): Block2/uint option values, the GET /fota
 * query, the diagnostic JSON, response classification, the report body.
 * Malformed input has named cases that check the exact error code.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "proto.h"

static void block2_round_trip(void **state)
{
    static const struct {
        uint32_t num;
        int more;
        unsigned szx;
        size_t len;
    } cases[] = {
        {0, 0, 0, 0}, {0, 1, 6, 1}, {15, 0, 6, 1}, {16, 1, 6, 2},
        {4095, 1, 2, 2}, {4096, 0, 6, 3}, {DEV_BLOCK_NUM_MAX, 1, 6, 3},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t v[3];
        uint32_t num;
        int more;
        unsigned szx;
        size_t n = dev_block2_encode(cases[i].num, cases[i].more, cases[i].szx, v);
        assert_int_equal(n, cases[i].len);
        assert_int_equal(dev_block2_decode(v, n, &num, &more, &szx, NULL), OTA_OK);
        assert_int_equal(num, cases[i].num);
        assert_int_equal(more, cases[i].more);
        assert_int_equal(szx, cases[i].szx);
    }
}

static void block2_known_bytes(void **state)
{
    uint8_t v[3];
    (void)state;
    /* num 1, more, szx 6 = 0x1e; num 300 = 0x12c -> 0x12c6 */
    assert_int_equal(dev_block2_encode(1, 1, 6, v), 1);
    assert_int_equal(v[0], 0x1e);
    assert_int_equal(dev_block2_encode(300, 0, 6, v), 2);
    assert_int_equal(v[0], 0x12);
    assert_int_equal(v[1], 0xc6);
}

static void block2_rejects_reserved_szx(void **state)
{
    const uint8_t v[] = {0x17};
    uint32_t num;
    int more;
    unsigned szx;
    char msg[OTA_MSG_LEN];
    (void)state;
    assert_int_equal(dev_block2_decode(v, 1, &num, &more, &szx, msg), OTA_E_CORRUPT);
    assert_non_null(strstr(msg, "SZX 7"));
}

static void block2_rejects_four_bytes(void **state)
{
    const uint8_t v[] = {0, 0, 1, 6};
    uint32_t num;
    int more;
    unsigned szx;
    (void)state;
    assert_int_equal(dev_block2_decode(v, 4, &num, &more, &szx, NULL), OTA_E_CORRUPT);
}

static void uint_option(void **state)
{
    const uint8_t v[] = {0x01, 0x02, 0x03, 0x04, 0x05};
    uint64_t x;
    (void)state;
    assert_int_equal(dev_uint_decode(v, 0, 4, &x), OTA_OK);
    assert_int_equal(x, 0);
    assert_int_equal(dev_uint_decode(v, 4, 4, &x), OTA_OK);
    assert_int_equal(x, 0x01020304);
    assert_int_equal(dev_uint_decode(v, 5, 4, &x), OTA_E_CORRUPT);
}

static void szx_from_size(void **state)
{
    unsigned szx;
    (void)state;
    assert_int_equal(dev_szx_from_size(16, &szx, NULL), OTA_OK);
    assert_int_equal(szx, 0);
    assert_int_equal(dev_szx_from_size(1024, &szx, NULL), OTA_OK);
    assert_int_equal(szx, 6);
    assert_int_equal(dev_szx_from_size(2048, &szx, NULL), OTA_E_INVAL);
    assert_int_equal(dev_szx_from_size(100, &szx, NULL), OTA_E_INVAL);
    assert_int_equal(dev_szx_from_size(8, &szx, NULL), OTA_E_INVAL);
}

static void sample_device(struct cfg_device *d)
{
    memset(d, 0, sizeof *d);
    ota_strlcpy(d->project, "MY_PROJ", sizeof d->project);
    ota_strlcpy(d->product_key, "Key123", sizeof d->product_key);
    ota_strlcpy(d->imei, "860000000000001", sizeof d->imei);
    assert_int_equal(ver_core_parse("Luat_V0017_RDA8910", &d->core, NULL), OTA_OK);
    assert_int_equal(ver_script_parse("1.2.3", &d->script, NULL), OTA_OK);
}

static void query_fields(void **state)
{
    struct cfg_device d;
    struct dev_query q;
    char s[DEV_QUERY_MAX];
    (void)state;
    sample_device(&d);
    assert_int_equal(dev_query_build(&d, &q, NULL), OTA_OK);
    assert_int_equal(q.n, 6);
    assert_int_equal(dev_query_join(&q, s, sizeof s), OTA_OK);
    assert_string_equal(s, "project_key=Key123&imei=860000000000001"
                           "&firmware_name=MY_PROJ_Luat_RDA8910&core_version=17"
                           "&dfota=1&version=1.2.3");
    assert_int_equal(q.len[2], strlen("firmware_name=MY_PROJ_Luat_RDA8910"));
}

static void query_device_key(void **state)
{
    struct cfg_device d;
    struct dev_query q;
    char s[DEV_QUERY_MAX];
    (void)state;
    sample_device(&d);
    ota_strlcpy(d.device_key, "SN0001", sizeof d.device_key);
    assert_int_equal(dev_query_build(&d, &q, NULL), OTA_OK);
    assert_int_equal(q.n, 7);
    assert_int_equal(dev_query_join(&q, s, sizeof s), OTA_OK);
    assert_non_null(strstr(s, "&version=1.2.3&device_key=SN0001"));
    assert_int_equal(dev_query_join(&q, s, 20), OTA_E_LIMIT);
}

static void diag_plain(void **state)
{
    const char *j = "{\"code\":27,\"msg\":\"no newer version\"}";
    int code;
    char text[64];
    (void)state;
    assert_int_equal(dev_diag_parse((const uint8_t *)j, strlen(j), &code, text, sizeof text),
                     OTA_OK);
    assert_int_equal(code, 27);
    assert_string_equal(text, "no newer version");
}

static void diag_extra_members_and_escapes(void **state)
{
    const char *j = " { \"field\" : \"imei\", \"ok\": false, \"msg\":\"bad \\\"x\\\"\\n\\u00e9\","
                    " \"code\" : 3 , \"n\": -1.5e3 } ";
    int code;
    char text[64];
    (void)state;
    assert_int_equal(dev_diag_parse((const uint8_t *)j, strlen(j), &code, text, sizeof text),
                     OTA_OK);
    assert_int_equal(code, 3);
    assert_string_equal(text, "bad \"x\" ?");
}

static void diag_truncates_long_msg(void **state)
{
    const char *j = "{\"msg\":\"abcdefghijklmnop\"}";
    int code;
    char text[8];
    (void)state;
    assert_int_equal(dev_diag_parse((const uint8_t *)j, strlen(j), &code, text, sizeof text),
                     OTA_OK);
    assert_int_equal(code, -1);
    assert_string_equal(text, "abcdefg");
}

static void diag_malformed(void **state)
{
    static const char *const bad[] = {
        "", "Not Found", "{", "{\"code\":27", "{\"code\":27,}", "{\"msg\":\"unterminated}",
        "{\"code\" 27}", "{\"a\":{\"b\":1}}", "{\"msg\":\"x\\", "{\"msg\":\"\\u12\"}",
    };
    int code;
    char text[16];
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(dev_diag_parse((const uint8_t *)bad[i], strlen(bad[i]), &code, text,
                                        sizeof text),
                         OTA_E_CORRUPT);
}

static void status_classes(void **state)
{
    (void)state;
    assert_int_equal(dev_status_from_response(404, 27), DEV_S_NO_UPDATE);
    assert_int_equal(dev_status_from_response(404, 44), DEV_S_REJECTED);
    assert_int_equal(dev_status_from_response(404, -1), DEV_S_REJECTED);
    assert_int_equal(dev_status_from_response(400, 3), DEV_S_REJECTED);
    assert_int_equal(dev_status_from_response(403, 25), DEV_S_REJECTED);
    assert_int_equal(dev_status_from_response(403, 21), DEV_S_REJECTED);
    assert_int_equal(dev_status_from_response(429, 40), DEV_S_NET);
    assert_int_equal(dev_status_from_response(503, 43), DEV_S_NET);
    assert_int_equal(dev_status_from_response(500, -1), DEV_S_NET);
}

/* The exit codes are a published contract: pin every one. */
static void exit_codes(void **state)
{
    (void)state;
    assert_int_equal(dev_exit_code(DEV_S_UPDATED), 0);
    assert_int_equal(dev_exit_code(DEV_S_AVAILABLE), 0);
    assert_int_equal(dev_exit_code(DEV_S_LOCAL), 1);
    assert_int_equal(dev_exit_code(DEV_S_NO_UPDATE), 2);
    assert_int_equal(dev_exit_code(DEV_S_REJECTED), 3);
    assert_int_equal(dev_exit_code(DEV_S_VERIFY), 4);
    assert_int_equal(dev_exit_code(DEV_S_NET), 5);
    assert_int_equal(dev_exit_code((enum dev_status)99), 1);
    assert_string_equal(dev_status_phrase(DEV_S_REJECTED), "rejected by the server");
}

static void report_body(void **state)
{
    struct cfg_device d;
    struct dev_result r;
    char out[512];
    size_t len;
    (void)state;
    sample_device(&d);
    memset(&r, 0, sizeof r);
    r.from_core = r.to_core = d.core;
    r.to_core.number = 20;
    r.from_script = d.script;
    assert_int_equal(ver_script_parse("1.3.0", &r.to_script, NULL), OTA_OK);
    r.bytes = 41234;
    r.seconds = 0.84;
    assert_int_equal(dev_report_json(&d, &r, 0, out, sizeof out, &len), OTA_OK);
    assert_int_equal(len, strlen(out));
    assert_string_equal(out, "{\"imei\":\"860000000000001\",\"project\":\"MY_PROJ\","
                             "\"from_core\":\"Luat_V0017_RDA8910\",\"to_core\":\"Luat_V0020_RDA8910\","
                             "\"from_script\":\"1.2.3\",\"to_script\":\"1.3.0\",\"result\":0,"
                             "\"bytes\":41234,\"seconds\":0.8,\"apply_mem\":0}");
    assert_int_equal(dev_report_json(&d, &r, 0, out, 40, &len), OTA_E_LIMIT);
    /* A failure carries its reason, made safe for the server's parser. */
    snprintf(r.reason, sizeof r.reason, "running core is 485760 bytes, \"the\" delta expects 530880");
    assert_int_equal(dev_report_json(&d, &r, 4, out, sizeof out, &len), OTA_OK);
    assert_non_null(strstr(out, "\"result\":4,"));
    assert_non_null(strstr(out, ",\"reason\":\"running core is 485760 bytes, 'the' delta expects "
                                "530880\"}"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(block2_round_trip),
        cmocka_unit_test(block2_known_bytes),
        cmocka_unit_test(block2_rejects_reserved_szx),
        cmocka_unit_test(block2_rejects_four_bytes),
        cmocka_unit_test(uint_option),
        cmocka_unit_test(szx_from_size),
        cmocka_unit_test(query_fields),
        cmocka_unit_test(query_device_key),
        cmocka_unit_test(diag_plain),
        cmocka_unit_test(diag_extra_members_and_escapes),
        cmocka_unit_test(diag_truncates_long_msg),
        cmocka_unit_test(diag_malformed),
        cmocka_unit_test(status_classes),
        cmocka_unit_test(exit_codes),
        cmocka_unit_test(report_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
