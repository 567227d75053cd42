/* test_range.c - the Range / If-Range parser of the device HTTP API
 * (server/range.h) and the HTTP refusal JSON it relies on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "range.h"
#include "status.h"

static enum srv_range_kind rng(const char *h, uint64_t total, uint64_t *a, uint64_t *b)
{
    struct srv_range r = {99, 99};
    enum srv_range_kind k = srv_range_parse(h, total, &r);
    *a = r.first;
    *b = r.last;
    return k;
}

static void range_module_forms(void **state)
{
    uint64_t a, b;
    assert_int_equal(rng(NULL, 1000, &a, &b), SRV_RANGE_NONE);
    assert_int_equal(rng("bytes=0-", 1000, &a, &b), SRV_RANGE_OK);
    assert_true(a == 0 && b == 999);
    assert_int_equal(rng("bytes=999-", 1000, &a, &b), SRV_RANGE_OK);
    assert_true(a == 999 && b == 999);
    assert_int_equal(rng("BYTES=10-19", 1000, &a, &b), SRV_RANGE_OK);
    assert_true(a == 10 && b == 19);
    assert_int_equal(rng("  bytes= 10-5000 \t", 1000, &a, &b), SRV_RANGE_OK); /* end cut */
    assert_true(a == 10 && b == 999);
    assert_int_equal(rng("bytes=-100", 1000, &a, &b), SRV_RANGE_OK);
    assert_true(a == 900 && b == 999);
    assert_int_equal(rng("bytes=-5000", 1000, &a, &b), SRV_RANGE_OK);
    assert_true(a == 0 && b == 999);
}

static void range_unsatisfiable(void **state)
{
    uint64_t a, b;
    assert_int_equal(rng("bytes=1000-", 1000, &a, &b), SRV_RANGE_UNSAT);
    assert_int_equal(rng("bytes=5000-6000", 1000, &a, &b), SRV_RANGE_UNSAT);
    assert_int_equal(rng("bytes=-0", 1000, &a, &b), SRV_RANGE_UNSAT);
    assert_int_equal(rng("bytes=999999999999999999-", 1000, &a, &b), SRV_RANGE_UNSAT);
}

static void range_bad_forms(void **state)
{
    static const char *const bad[] = {
        "", "bytes", "bytes=", "bytes=-", "bytes=abc", "bytes=1-abc", "bytes=5-3",
        "bytes=0-1,5-6", "bytes=0-1, 5-6", "items=0-", "bytes 0-", "bytes=+1-", "bytes=1--",
        "bytes=0x10-", "bytes=1 2-", "bytes=9999999999999999999-", "bytes=0-9999999999999999999",
        "bytes=1-\r\nX: y", "bytes=\xff-"};
    uint64_t a, b;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (rng(bad[i], 1000, &a, &b) != SRV_RANGE_BAD)
            fail_msg("'%s' not refused", bad[i]);
    }
}

static void range_if_range(void **state)
{
    const char *etag = "\"0011223344556677\"";
    assert_true(srv_range_if_range(NULL, etag));
    assert_true(srv_range_if_range("\"0011223344556677\"", etag));
    assert_true(srv_range_if_range(" \"0011223344556677\" ", etag));
    assert_false(srv_range_if_range("W/\"0011223344556677\"", etag));
    assert_false(srv_range_if_range("\"0011223344556678\"", etag));
    assert_false(srv_range_if_range("0011223344556677", etag));
    assert_false(srv_range_if_range("Wed, 21 Oct 2015 07:28:00 GMT", etag));
    assert_false(srv_range_if_range("", etag));
}

/* What a module reads: at most 200 bytes, ASCII only, \uXXXX escapes. */
static void refusal_json_fits_the_module(void **state)
{
    char json[201], msg[400];
    memset(msg, 'x', sizeof msg - 1);
    msg[sizeof msg - 1] = '\0';
    msg[3] = (char)0xc3;
    msg[4] = (char)0xa9;
    size_t n = srv_status_json(SRV_ST_UNAVAILABLE, msg, json, sizeof json);
    assert_true(n > 0 && n <= 200);
    assert_int_equal(strlen(json), n);
    assert_memory_equal(json, "{\"code\":43,\"msg\":\"xxx\\u00c3\\u00a9", 33);
    for (size_t i = 0; i < n; i++)
        assert_true((unsigned char)json[i] >= 0x20 && (unsigned char)json[i] < 0x7f);
    assert_string_equal(json + n - 2, "\"}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(range_module_forms), cmocka_unit_test(range_unsatisfiable),
        cmocka_unit_test(range_bad_forms),    cmocka_unit_test(range_if_range),
        cmocka_unit_test(refusal_json_fits_the_module),
    };
    return cmocka_run_group_tests_name("device HTTP range", tests, NULL, NULL);
}
