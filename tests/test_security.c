/* test_security.c - the pieces behind issue 18: log budgets per kind
 * (common/log.c), the bounded peer tables (server/tally.c), the DTLS
 * gate's ClientHello test (server/dtls.c), the coap:// screen
 * (server/gate.c) and report field rules
 * (server/report.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "dtls.h"
#include "gate.h"
#include "log.h"
#include "report.h"
#include "tally.h"

static size_t count_lines(FILE *fp, const char *needle)
{
    char line[1200];
    size_t n = 0;
    rewind(fp);
    while (fgets(line, sizeof line, fp))
        n += strstr(line, needle) != NULL;
    return n;
}

/* A flood of one kind is cut to the budget and summarised by kind; another
 * kind still gets its own lines. */
static void log_budget_per_kind(void **state)
{
    (void)state;
    FILE *fp = tmpfile();
    assert_non_null(fp);
    log_set_stream(fp);
    log_set_level(LOG_L_INFO);
    log_set_rate(10);
    uint64_t before = log_suppressed_total();
    for (int i = 0; i < 5000; i++)
        log_kmsg(LOG_K_COAP, LOG_L_ERROR, "got RST for mid=%d", i);
    log_kmsg(LOG_K_REFUSAL, LOG_L_INFO, "wrong product key");
    log_kmsg(LOG_K_REPORT, LOG_L_DEBUG, "filtered by level, not counted");
    log_flush();
    assert_true(count_lines(fp, "got RST") <= 11);
    assert_int_equal(count_lines(fp, "wrong product key"), 1);
    assert_int_equal(count_lines(fp, "coap=49"), 1); /* 4990 or 4989 */
    assert_int_equal(count_lines(fp, "report="), 0);
    assert_true(log_suppressed_total() - before >= 4989);
    log_flush(); /* nothing new: no second summary */
    assert_int_equal(count_lines(fp, "log suppressed"), 1);
    log_set_rate(0);
    log_set_stream(NULL);
    fclose(fp);
}

static struct srv_peer_key key4(uint32_t addr, uint16_t port)
{
    struct sockaddr_in in;
    struct srv_peer_key k;
    memset(&in, 0, sizeof in);
    in.sin_family = AF_INET;
    in.sin_port = htons(port);
    in.sin_addr.s_addr = htonl(addr);
    assert_int_equal(srv_peer_key((const struct sockaddr *)&in, &k), OTA_OK);
    return k;
}

/* Find, get, drop; per-address keys ignore the port; a flood of new keys
 * never fails a get and never grows the table. */
static void tally_bounded(void **state)
{
    (void)state;
    char msg[OTA_MSG_LEN];
    struct srv_tally t;
    assert_int_equal(srv_tally_init(&t, 100, msg), OTA_OK);
    assert_int_equal(t.cap, 128);
    struct srv_peer_key a = key4(0x7f000002, 1000), b = key4(0x7f000002, 2000), ha, hb;
    srv_peer_key_host(&a, &ha);
    srv_peer_key_host(&b, &hb);
    assert_memory_equal(&ha, &hb, sizeof ha);
    assert_null(srv_tally_find(&t, &a));
    struct srv_tally_slot *s = srv_tally_get(&t, &a, 5);
    assert_non_null(s);
    assert_int_equal(s->start_ms, 5);
    s->n = 3;
    assert_ptr_equal(srv_tally_find(&t, &a), s);
    assert_null(srv_tally_find(&t, &b));
    srv_tally_drop(s);
    assert_null(srv_tally_find(&t, &a));
    for (uint32_t i = 0; i < 100000; i++) {
        struct srv_peer_key k = key4(0x0a000000 + i, (uint16_t)i);
        struct srv_tally_slot *x = srv_tally_get(&t, &k, 100 + i);
        assert_non_null(x);
        assert_ptr_equal(srv_tally_find(&t, &k), x);
    }
    assert_int_equal(t.cap, 128);
    srv_tally_free(&t);
}

/* libcoap 4.3.1's test for "this makes a hello session". */
static void dtls_hello_test(void **state)
{
    (void)state;
    uint8_t rec[14] = {22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1};
    assert_true(srv_dtls_is_hello(rec, sizeof rec));
    assert_false(srv_dtls_is_hello(rec, 13));
    rec[13] = 2;
    assert_false(srv_dtls_is_hello(rec, sizeof rec));
    rec[13] = 1;
    rec[0] = 23;
    assert_false(srv_dtls_is_hello(rec, sizeof rec));
}

/* The coap:// screen: proxy and unknown critical options of requests. */
static void gate_screen(void **state)
{
    (void)state;
    /* CON GET, token 1, Uri-Path "fota" */
    uint8_t fota[] = {0x41, 0x01, 0, 1, 0xaa, 0xb4, 'f', 'o', 't', 'a'};
    assert_int_equal(srv_gate_screen(fota, sizeof fota), SRV_GATE_PASS);
    /* + option 13 (unknown, critical), empty: delta 2 after 11 */
    uint8_t crit[] = {0x41, 0x01, 0, 1, 0xaa, 0xb4, 'f', 'o', 't', 'a', 0x20};
    assert_int_equal(srv_gate_screen(crit, sizeof crit), SRV_GATE_BAD_OPTION);
    crit[0] = 0x51; /* NON */
    assert_int_equal(srv_gate_screen(crit, sizeof crit), SRV_GATE_IGNORE);
    /* CON GET with Proxy-Uri "x": delta 35 = 13 + 22 */
    uint8_t proxy[] = {0x40, 0x01, 0, 2, 0xd1, 22, 'x'};
    assert_int_equal(srv_gate_screen(proxy, sizeof proxy), SRV_GATE_NO_PROXY);
    /* elective unknown (option 14): libcoap ignores it */
    uint8_t elect[] = {0x40, 0x01, 0, 3, 0xd0, 1};
    assert_int_equal(srv_gate_screen(elect, sizeof elect), SRV_GATE_PASS);
    /* a response, an empty message, a cut option: not ours */
    uint8_t resp[] = {0x60, 0x45, 0, 4, 0x20};
    assert_int_equal(srv_gate_screen(resp, sizeof resp), SRV_GATE_PASS);
    uint8_t ping[] = {0x40, 0x00, 0, 5};
    assert_int_equal(srv_gate_screen(ping, sizeof ping), SRV_GATE_PASS);
    uint8_t cut[] = {0x40, 0x01, 0, 6, 0xd1};
    assert_int_equal(srv_gate_screen(cut, sizeof cut), SRV_GATE_PASS);
}

/* A field given twice is refused in both forms, never last-wins. */
static void report_duplicate_field(void **state)
{
    (void)state;
    struct srv_report r;
    char msg[OTA_MSG_LEN];
    static const char kv[] = "imei=861234567890001&result=0&imei=999999999999999";
    static const char js[] = "{\"imei\":\"861234567890001\",\"result\":0,\"imei\":\"999999999999999\"}";
    static const char unk[] = "imei=861234567890001&result=0&x=1&x=2";
    assert_int_equal(srv_report_parse((const uint8_t *)kv, sizeof kv - 1, &r, msg), OTA_E_INVAL);
    assert_non_null(strstr(msg, "duplicate field imei"));
    assert_int_equal(srv_report_parse((const uint8_t *)js, sizeof js - 1, &r, msg), OTA_E_INVAL);
    assert_int_equal(srv_report_parse((const uint8_t *)unk, sizeof unk - 1, &r, msg), OTA_E_INVAL);
}

/* The stored line carries the verified identity only when there is one. */
static void report_identity_in_line(void **state)
{
    (void)state;
    struct srv_report r;
    char msg[OTA_MSG_LEN], line[SRV_REPORT_LINE_MAX];
    static const char kv[] = "imei=861234567890001&result=0";
    assert_int_equal(srv_report_parse((const uint8_t *)kv, sizeof kv - 1, &r, msg), OTA_OK);
    assert_true(srv_report_line(&r, "127.0.0.1:1", 0, line, sizeof line) > 0);
    assert_null(strstr(line, "identity"));
    memcpy(r.identity, r.imei, sizeof r.imei);
    assert_true(srv_report_line(&r, "127.0.0.1:1", 0, line, sizeof line) > 0);
    assert_non_null(strstr(line, "\"imei\":\"861234567890001\",\"identity\":\"861234567890001\""));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(log_budget_per_kind),   cmocka_unit_test(tally_bounded),
        cmocka_unit_test(dtls_hello_test),       cmocka_unit_test(report_duplicate_field),
        cmocka_unit_test(report_identity_in_line), cmocka_unit_test(gate_screen),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
