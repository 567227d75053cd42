/* test_server_limit.c - the server's scale and overload pieces: token
 * buckets, the bounded source table (rate, transfer cap, expiry,
 * eviction), admin addresses, /stats JSON, the selection memo, the
 * [server] keys of ota.ini, the report log fsync switch, and the report
 * summary of `ota-cache report` (cache/report.c).
 *
 * Time is passed in explicitly (milliseconds), so expiry and refill are
 * tested exactly, without sleeping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "limit.h"
#include "memo.h"
#include "report.h"
#include "stats.h"
#include "../cache/report.h"
#include "testutil.h"

static void limit_setup(struct srv_limit *l, unsigned sources, unsigned xfers, unsigned rate,
                        unsigned burst)
{
    struct srv_limit_cfg c = {sources, xfers, 10, rate, burst, 7, 0, 0};
    assert_int_equal(srv_limit_init(l, &c, NULL), OTA_OK);
}

static void bucket_refill(void **state)
{
    struct ota_bucket b;
    uint64_t wait = 0;
    (void)state;
    memset(&b, 0, sizeof b);
    for (int i = 0; i < 5; i++)
        assert_true(ota_bucket_take(&b, 10, 5, 1000, &wait)); /* the burst */
    assert_false(ota_bucket_take(&b, 10, 5, 1000, &wait));
    assert_true(wait >= 100 && wait <= 101); /* 10/s: next token in 100 ms */
    assert_false(ota_bucket_take(&b, 10, 5, 1050, &wait));
    assert_true(ota_bucket_take(&b, 10, 5, 1150, &wait));
    assert_true(ota_bucket_take(&b, 0, 0, 1150, &wait)); /* rate 0 = unlimited */
}

static void limit_rate_per_source(void **state)
{
    struct srv_limit l;
    struct srv_src *s;
    unsigned age = 0;
    (void)state;
    limit_setup(&l, 64, 0, 2, 3);
    struct srv_peer_key a = test_peer_key("10.0.0.1", 1000), b = test_peer_key("10.0.0.1", 1001);
    for (int i = 0; i < 3; i++)
        assert_int_equal(srv_limit_request(&l, &a, 5000, &s, &age), SRV_V_OK);
    assert_int_equal(srv_limit_request(&l, &a, 5000, &s, &age), SRV_V_RATE);
    assert_int_equal(age, 1); /* Max-Age: at least one second */
    /* another port of the same address is another source */
    assert_int_equal(srv_limit_request(&l, &b, 5000, &s, &age), SRV_V_OK);
    assert_int_equal(srv_limit_request(&l, &a, 5600, &s, &age), SRV_V_OK);
    assert_int_equal(l.nsrc, 2);
    srv_limit_free(&l);
}

static void limit_transfer_cap(void **state)
{
    struct srv_limit l;
    struct srv_src *s1, *s2, *s3;
    unsigned age = 0;
    const uint8_t e1[8] = "AAAAAAA", e2[8] = "BBBBBBB";
    (void)state;
    limit_setup(&l, 64, 2, 0, 1);
    struct srv_peer_key a = test_peer_key("10.0.0.1", 1), b = test_peer_key("10.0.0.2", 1), c = test_peer_key("10.0.0.3", 1);
    assert_int_equal(srv_limit_request(&l, &a, 100, &s1, &age), SRV_V_OK);
    assert_int_equal(srv_limit_transfer(&l, s1, e1, 0, 0, 100, &age), SRV_V_OK);
    assert_int_equal(srv_limit_request(&l, &b, 100, &s2, &age), SRV_V_OK);
    assert_int_equal(srv_limit_transfer(&l, s2, e1, 0, 0, 100, &age), SRV_V_OK);
    assert_int_equal(l.nxfer, 2);
    /* a third device is refused with the configured retry hint... */
    assert_int_equal(srv_limit_request(&l, &c, 100, &s3, &age), SRV_V_OK);
    assert_int_equal(srv_limit_transfer(&l, s3, e1, 0, 0, 100, &age), SRV_V_TRANSFERS);
    assert_int_equal(age, 7);
    /* ...while running transfers go on */
    assert_int_equal(srv_limit_transfer(&l, s1, e1, 0, 0, 200, &age), SRV_V_OK);
    /* a device switching package (release replaced) keeps its one slot */
    assert_int_equal(srv_limit_transfer(&l, s1, e2, 0, 0, 200, &age), SRV_V_OK);
    assert_int_equal(l.nxfer, 2);
    /* the last block ends a transfer and frees its slot */
    assert_int_equal(srv_limit_transfer(&l, s1, e2, 1, 0, 300, &age), SRV_V_OK);
    assert_int_equal(l.nxfer, 1);
    assert_int_equal(srv_limit_transfer(&l, s3, e1, 0, 0, 300, &age), SRV_V_OK);
    assert_int_equal(l.started, 4);
    srv_limit_free(&l);
}

static void limit_expiry(void **state)
{
    struct srv_limit l;
    struct srv_src *s;
    unsigned age;
    const uint8_t e[8] = "AAAAAAA";
    (void)state;
    limit_setup(&l, 64, 1, 0, 1);
    struct srv_peer_key a = test_peer_key("10.0.0.1", 1), b = test_peer_key("10.0.0.2", 1);
    assert_int_equal(srv_limit_request(&l, &a, 1000, &s, &age), SRV_V_OK);
    assert_int_equal(srv_limit_transfer(&l, s, e, 0, 0, 1000, &age), SRV_V_OK);
    srv_limit_tick(&l, 5000); /* idle 4 s of 10: kept */
    assert_int_equal(l.nsrc, 1);
    assert_int_equal(l.nxfer, 1);
    srv_limit_tick(&l, 11500); /* idle 10.5 s: expired, slot freed */
    assert_int_equal(l.nsrc, 0);
    assert_int_equal(l.nxfer, 0);
    assert_int_equal(srv_limit_request(&l, &b, 11600, &s, &age), SRV_V_OK);
    assert_int_equal(srv_limit_transfer(&l, s, e, 0, 0, 11600, &age), SRV_V_OK);
    srv_limit_free(&l);
}

/* Expired sources swept out of a crowded table shift running transfers
 * back along their probe runs; the slots they leave must not keep a
 * transfer that a new source then "ends" a second time (nxfer wrapped
 * below zero and every later transfer got 5.03 until a restart). */
static void limit_moved_transfers_counted_once(void **state)
{
    struct srv_limit l;
    struct srv_src *s;
    unsigned age;
    const uint8_t e[8] = "AAAAAAA";
    (void)state;
    limit_setup(&l, 64, 0, 0, 1);
    for (int i = 0; i < 40; i++) { /* old: seen at 1 s, expired at 11.5 s */
        struct srv_peer_key k = test_peer_key("10.3.0.1", (uint16_t)(3000 + i));
        if (srv_limit_request(&l, &k, 1000, &s, &age) == SRV_V_OK)
            assert_int_equal(srv_limit_transfer(&l, s, e, 0, 0, 1000, &age), SRV_V_OK);
    }
    int running = 0, in[20] = {0};
    for (int i = 0; i < 20; i++) { /* new: still running at 11.5 s (if there is room) */
        struct srv_peer_key k = test_peer_key("10.4.0.1", (uint16_t)(4000 + i));
        if (srv_limit_request(&l, &k, 6000, &s, &age) != SRV_V_OK)
            continue;
        assert_int_equal(srv_limit_transfer(&l, s, e, 0, 0, 6000, &age), SRV_V_OK);
        in[i] = 1;
        running++;
    }
    assert_true(running >= 10);
    srv_limit_tick(&l, 11500);
    assert_int_equal(l.nxfer, (size_t)running);
    for (int i = 0; i < 40; i++) { /* newcomers fill the vacated slots */
        struct srv_peer_key k = test_peer_key("10.5.0.1", (uint16_t)(5000 + i));
        (void)srv_limit_request(&l, &k, 11600, &s, &age);
    }
    assert_int_equal(l.nxfer, (size_t)running);
    for (int i = 0; i < 20; i++) { /* the running ones finish: back to 0 */
        struct srv_peer_key k = test_peer_key("10.4.0.1", (uint16_t)(4000 + i));
        if (!in[i])
            continue;
        assert_int_equal(srv_limit_request(&l, &k, 11700, &s, &age), SRV_V_OK);
        assert_true(s->xfer);
        assert_int_equal(srv_limit_transfer(&l, s, e, 1, 0, 11700, &age), SRV_V_OK);
    }
    assert_int_equal(l.nxfer, 0);
    srv_limit_free(&l);
}

/* Many sources through a small table: memory stays fixed, lookups stay
 * right after deletions, and sources busy with a transfer are never
 * evicted (new ones get SRV_V_SOURCES instead). */
static void limit_table_bounded(void **state)
{
    struct srv_limit l;
    struct srv_src *s;
    unsigned age;
    const uint8_t e[8] = "AAAAAAA";
    (void)state;
    limit_setup(&l, 64, 0, 0, 1);
    assert_int_equal(l.cap, 64);
    for (int i = 0; i < 5000; i++) {
        struct srv_peer_key k = test_peer_key("10.1.0.1", (uint16_t)(1000 + i));
        assert_int_equal(srv_limit_request(&l, &k, 1000 + (uint64_t)i, &s, &age), SRV_V_OK);
    }
    assert_true(l.nsrc <= 64);
    srv_limit_tick(&l, 100000);
    assert_int_equal(l.nsrc, 0);
    int busy = 0, refused = 0;
    for (int i = 0; i < 200; i++) {
        struct srv_peer_key k = test_peer_key("10.2.0.1", (uint16_t)(2000 + i));
        enum srv_verdict v = srv_limit_request(&l, &k, 200000, &s, &age);
        if (v == SRV_V_OK) {
            assert_int_equal(srv_limit_transfer(&l, s, e, 0, 0, 200000, &age), SRV_V_OK);
            busy++;
        } else {
            assert_int_equal(v, SRV_V_SOURCES);
            refused++;
        }
    }
    assert_true(busy <= 64 && refused >= 136);
    assert_int_equal(l.nxfer, (size_t)busy);
    /* every admitted source is still found (same entry, no new slot) */
    size_t before = l.nsrc;
    for (int i = 0; i < 200; i++) {
        struct srv_peer_key k = test_peer_key("10.2.0.1", (uint16_t)(2000 + i));
        if (srv_limit_request(&l, &k, 200001, &s, &age) == SRV_V_OK)
            assert_true(s->xfer);
    }
    assert_int_equal(l.nsrc, before);
    srv_limit_free(&l);
}

/* Issue 16.4: a windowed client that lost an earlier answer resends it
 * after the last block; that is the same transfer, not a new one (no 5.03
 * with max_transfers reached, not counted twice in transfers_started). */
static void limit_resend_after_last(void **state)
{
    struct srv_limit l;
    struct srv_src *sa, *sb;
    unsigned age = 0;
    const uint8_t e[8] = "AAAAAAA";
    (void)state;
    limit_setup(&l, 64, 1, 0, 1);
    struct srv_peer_key a = test_peer_key("10.0.0.1", 1), b = test_peer_key("10.0.0.2", 1);
    for (int blk = 0; blk <= 40; blk++) {
        if (blk == 39)
            continue; /* its answer is lost */
        assert_int_equal(srv_limit_request(&l, &a, 100, &sa, &age), SRV_V_OK);
        assert_int_equal(srv_limit_transfer(&l, sa, e, blk == 40, 0, 100, &age), SRV_V_OK);
    }
    assert_int_equal(l.nxfer, 0);
    assert_int_equal(srv_limit_request(&l, &b, 110, &sb, &age), SRV_V_OK);
    assert_int_equal(srv_limit_transfer(&l, sb, e, 0, 0, 110, &age), SRV_V_OK); /* B's block 0 */
    assert_int_equal(srv_limit_request(&l, &a, 120, &sa, &age), SRV_V_OK);
    assert_int_equal(srv_limit_transfer(&l, sa, e, 0, 0, 120, &age), SRV_V_OK); /* A resends 39 */
    assert_int_equal(l.started, 2);
    assert_int_equal(l.nxfer, 1);
    /* block 0 again is a new download (or a new device on a recycled port) */
    assert_int_equal(srv_limit_transfer(&l, sa, e, 0, SRV_XF_FIRST, 130, &age), SRV_V_TRANSFERS);
    srv_limit_free(&l);
}

/* Issue 17.6: an update check (block 0 only) holds a slot until
 * transfer_idle but is not a running download; a download is one from its
 * second block until its last, also across a table resize. */
static void limit_checks_are_not_running(void **state)
{
    struct srv_limit l, big;
    struct srv_src *sa, *sb;
    unsigned age = 0;
    const uint8_t e[8] = "AAAAAAA";
    (void)state;
    limit_setup(&l, 64, 10, 0, 1);
    struct srv_peer_key a = test_peer_key("10.0.0.1", 1), b = test_peer_key("10.0.0.2", 1);
    assert_int_equal(srv_limit_request(&l, &a, 100, &sa, &age), SRV_V_OK);
    assert_int_equal(srv_limit_transfer(&l, sa, e, 0, SRV_XF_FIRST, 100, &age), SRV_V_OK);
    assert_int_equal(l.nxfer, 1);
    assert_int_equal(l.nmoving, 0); /* a check so far */
    assert_int_equal(srv_limit_request(&l, &b, 100, &sb, &age), SRV_V_OK);
    assert_int_equal(srv_limit_transfer(&l, sb, e, 0, SRV_XF_FIRST, 100, &age), SRV_V_OK);
    assert_int_equal(srv_limit_transfer(&l, sb, e, 0, 0, 110, &age), SRV_V_OK);
    assert_int_equal(l.nxfer, 2);
    assert_int_equal(l.nmoving, 1);
    struct srv_limit_cfg c = l.c;
    c.max_sources = 256;
    assert_int_equal(srv_limit_prepare(&l, &c, &big, NULL), OTA_OK);
    assert_int_equal(big.nxfer, 2);
    assert_int_equal(big.nmoving, 1);
    srv_limit_free(&big);
    assert_int_equal(srv_limit_transfer(&l, sb, e, 1, 0, 120, &age), SRV_V_OK); /* last */
    assert_int_equal(l.nxfer, 1);
    assert_int_equal(l.nmoving, 0);
    srv_limit_tick(&l, 100000); /* transfer_idle (10 s) passes */
    assert_int_equal(l.nxfer, 0);
    srv_limit_free(&l);
}

/* Issue 16.5: a reload that resizes the source table keeps the running
 * transfers: a newcomer is still refused and admitted devices go on. */
static void limit_resize_keeps_transfers(void **state)
{
    struct srv_limit l;
    struct srv_src *s;
    unsigned age = 0;
    const uint8_t e[8] = "AAAAAAA";
    struct srv_limit_cfg bigger = {1024, 2, 10, 0, 1, 7, 0, 0};
    (void)state;
    limit_setup(&l, 64, 2, 0, 1);
    struct srv_peer_key a = test_peer_key("10.0.0.1", 1), b = test_peer_key("10.0.0.2", 1), c = test_peer_key("10.0.0.3", 1);
    assert_int_equal(srv_limit_request(&l, &a, 100, &s, &age), SRV_V_OK);
    assert_int_equal(srv_limit_transfer(&l, s, e, 0, 0, 100, &age), SRV_V_OK);
    assert_int_equal(srv_limit_request(&l, &b, 100, &s, &age), SRV_V_OK);
    assert_int_equal(srv_limit_transfer(&l, s, e, 0, 0, 100, &age), SRV_V_OK);
    assert_int_equal(srv_limit_reconfigure(&l, &bigger, NULL), OTA_OK);
    assert_int_equal(l.cap, 1024);
    assert_int_equal(l.nxfer, 2);
    assert_int_equal(l.nsrc, 2);
    assert_int_equal(srv_limit_request(&l, &c, 200, &s, &age), SRV_V_OK);
    assert_int_equal(srv_limit_transfer(&l, s, e, 0, 0, 200, &age), SRV_V_TRANSFERS);
    assert_int_equal(srv_limit_request(&l, &a, 200, &s, &age), SRV_V_OK);
    assert_true(s->xfer);
    assert_int_equal(srv_limit_transfer(&l, s, e, 0, 0, 200, &age), SRV_V_OK);
    assert_int_equal(l.started, 2);
    srv_limit_free(&l);
}

/* Start a transfer of e from source k; the verdict. */
static enum srv_verdict start_from(struct srv_limit *l, struct srv_peer_key k, unsigned flags,
                                   uint64_t now)
{
    const uint8_t e[8] = "AAAAAAA";
    struct srv_src *s;
    unsigned age = 0;
    assert_int_equal(srv_limit_request(l, &k, now, &s, &age), SRV_V_OK);
    return srv_limit_transfer(l, s, e, 0, flags, now, &age);
}

/* Issue 18.2: one host changing source ports takes at most
 * max_per_address slots (IPv6: per /64); a trusted proxy is exempt; the
 * reserve goes to verified devices; a finished transfer frees its count. */
static void limit_per_address(void **state)
{
    struct srv_limit l;
    struct srv_limit_cfg c = {1024, 10, 10, 0, 1, 7, 3, 2};
    (void)state;
    assert_int_equal(srv_limit_init(&l, &c, NULL), OTA_OK);
    for (uint16_t p = 1; p <= 3; p++)
        assert_int_equal(start_from(&l, test_peer_key("10.0.0.1", p), 0, 100), SRV_V_OK);
    assert_int_equal(start_from(&l, test_peer_key("10.0.0.1", 4), SRV_XF_VERIFIED, 100), SRV_V_ADDRESS);
    /* the same address seen through a dual-stack socket is the same host */
    assert_int_equal(start_from(&l, test_peer_key("::ffff:10.0.0.1", 5), 0, 100), SRV_V_ADDRESS);
    assert_int_equal(start_from(&l, test_peer_key("10.0.0.2", 1), 0, 100), SRV_V_OK);
    /* IPv6: the /64 counts, not the address */
    for (int i = 0; i < 3; i++) {
        char ip[64];
        snprintf(ip, sizeof ip, "2001:db8:1:2::%x", i + 1);
        assert_int_equal(start_from(&l, test_peer_key(ip, 9), 0, 100), SRV_V_OK);
    }
    assert_int_equal(start_from(&l, test_peer_key("2001:db8:1:2:ffff::1", 9), 0, 100), SRV_V_ADDRESS);
    assert_int_equal(l.nxfer, 7);
    /* a trusted proxy (nginx in front) is not capped */
    assert_int_equal(start_from(&l, test_peer_key("10.0.0.1", 6), SRV_XF_TRUSTED, 100), SRV_V_OK);
    /* 8 of 10 running, reserve 2: only verified newcomers now */
    assert_int_equal(start_from(&l, test_peer_key("10.0.0.3", 1), 0, 100), SRV_V_RESERVED);
    assert_int_equal(start_from(&l, test_peer_key("10.0.0.4", 1), SRV_XF_VERIFIED, 100), SRV_V_OK);
    assert_int_equal(start_from(&l, test_peer_key("10.0.0.5", 1), SRV_XF_VERIFIED, 100), SRV_V_OK);
    assert_int_equal(start_from(&l, test_peer_key("10.0.0.6", 1), SRV_XF_VERIFIED, 100),
                     SRV_V_TRANSFERS);
    /* a resize carries the per-address counts */
    struct srv_limit_cfg smaller = c;
    smaller.max_sources = 256;
    smaller.max_transfers = 100;
    assert_int_equal(srv_limit_reconfigure(&l, &smaller, NULL), OTA_OK);
    assert_int_equal(l.nxfer, 10);
    assert_int_equal(start_from(&l, test_peer_key("10.0.0.1", 7), 0, 200), SRV_V_ADDRESS);
    /* idle transfers expire and give the address its slots back */
    srv_limit_tick(&l, 20000);
    assert_int_equal(l.nxfer, 0);
    for (uint16_t p = 10; p < 13; p++)
        assert_int_equal(start_from(&l, test_peer_key("10.0.0.1", p), 0, 20000), SRV_V_OK);
    srv_limit_free(&l);
}

static void admin_and_stats(void **state)
{
    struct cfg_ota c;
    struct srv_admin adm;
    struct sockaddr_in a4;
    struct sockaddr_in6 a6;
    char json[SRV_STATS_JSON_MAX];
    (void)state;
    memset(&c, 0, sizeof c);
    snprintf(c.admin[0], CFG_ADDR_MAX, "127.0.0.1");
    snprintf(c.admin[1], CFG_ADDR_MAX, "::1");
    c.nadmin = 2;
    assert_int_equal(srv_admin_parse(&c, &adm, NULL), OTA_OK);
    memset(&a4, 0, sizeof a4);
    a4.sin_family = AF_INET;
    a4.sin_port = htons(4444);
    inet_pton(AF_INET, "127.0.0.1", &a4.sin_addr);
    assert_true(srv_admin_match(&adm, (struct sockaddr *)&a4));
    inet_pton(AF_INET, "127.0.0.2", &a4.sin_addr);
    assert_false(srv_admin_match(&adm, (struct sockaddr *)&a4));
    memset(&a6, 0, sizeof a6);
    a6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "::ffff:127.0.0.1", &a6.sin6_addr);
    assert_true(srv_admin_match(&adm, (struct sockaddr *)&a6));
    inet_pton(AF_INET6, "::2", &a6.sin6_addr);
    assert_false(srv_admin_match(&adm, (struct sockaddr *)&a6));
    /* an IPv4-mapped admin entry matches the IPv4 form as well */
    snprintf(c.admin[1], CFG_ADDR_MAX, "::ffff:127.0.0.3");
    assert_int_equal(srv_admin_parse(&c, &adm, NULL), OTA_OK);
    inet_pton(AF_INET, "127.0.0.3", &a4.sin_addr);
    assert_true(srv_admin_match(&adm, (struct sockaddr *)&a4));
    inet_pton(AF_INET6, "::ffff:127.0.0.3", &a6.sin6_addr);
    assert_true(srv_admin_match(&adm, (struct sockaddr *)&a6));
    snprintf(c.admin[0], CFG_ADDR_MAX, "localhost");
    assert_int_equal(srv_admin_parse(&c, &adm, NULL), OTA_E_INVAL);

    struct srv_stats st;
    struct srv_gauges g = {.uptime_s = 12, .transfers = 3, .transfer_slots = 5, .sources = 4,
                           .packages = 7, .rss_kib = 100, .hwm_kib = 200};
    memset(&st, 0, sizeof st);
    st.requests = 42;
    st.blocks = 40;
    st.by_status[SRV_ST_CONTENT] = 40;
    st.by_status[SRV_ST_UNAVAILABLE] = 2;
    size_t n = srv_stats_json(&st, &g, json, sizeof json);
    assert_true(n > 0 && n == strlen(json));
    assert_non_null(strstr(json, "\"requests\":42"));
    assert_non_null(strstr(json, "\"transfers_running\":3"));
    assert_non_null(strstr(json, "\"transfer_slots\":5"));
    assert_non_null(strstr(json, "\"status\":{\"content\":40,\"unavailable\":2}}"));
    assert_int_equal(json[0], '{');
    assert_int_equal(srv_stats_json(&st, &g, json, 40), 0); /* too small: nothing */
    /* A long-running server: with many counters at 9 digits the full form
     * does not fit one datagram; the admin listener's buffer holds it, CoAP
     * gets the compact form without the zero counters. */
    char big[SRV_STATS_HTTP_MAX];
    memset(&st, 0, sizeof st);
    for (int i = 0; i < SRV_ST__COUNT; i++)
        st.by_status[i] = 999999999;
    st.requests = st.blocks = st.block_bytes = st.transfers_started = 999999999;
    st.transfers_completed = st.reports_stored = st.reports_success = 999999999;
    st.rescans = st.log_suppressed = st.screened = st.reports_limited = 999999999;
    n = srv_stats_json(&st, &g, big, sizeof big);
    assert_true(n > SRV_STATS_JSON_MAX);
    assert_non_null(strstr(big, "\"dtls_failed\":0"));
    n = srv_stats_json(&st, &g, json, SRV_STATS_JSON_MAX);
    assert_true(n > 0 && n < SRV_STATS_JSON_MAX);
    assert_null(strstr(json, "\"dtls_failed\""));
    assert_non_null(strstr(json, "\"log_suppressed\":999999999"));
}

static struct pkg_header mhdr(uint32_t flags, uint32_t from, uint32_t minor)
{
    struct pkg_header h;
    memset(&h, 0, sizeof h);
    h.flags = flags;
    snprintf(h.project, sizeof h.project, "P");
    snprintf(h.core_name, sizeof h.core_name, "Luat");
    snprintf(h.chip, sizeof h.chip, "RDA8910");
    h.from_core = from;
    h.to_core = 20;
    h.script.major = 1;
    h.script.minor = minor;
    h.core_len = 100;
    h.script_len = flags & PKG_F_SCRIPT ? 10 : 0;
    return h;
}

static void memo_matches_select(void **state)
{
    static struct srv_memo m;
    struct pkg_header h[3] = {mhdr(PKG_F_CORE_DELTA | PKG_F_SCRIPT, 17, 1),
                              mhdr(PKG_F_CORE_DELTA | PKG_F_SCRIPT, 18, 1),
                              mhdr(PKG_F_CORE_DELTA | PKG_F_SCRIPT, 18, 2)};
    const struct pkg_header *p[3] = {&h[0], &h[1], &h[2]};
    struct srv_device d = {"P", {"Luat", "RDA8910", 17}, {1, 0, 0}, 1, 0};
    struct srv_selection a, b;
    (void)state;
    srv_memo_clear(&m);
    srv_memo_select(&m, 1, p, 2, &d, &a);
    srv_memo_select(&m, 1, p, 2, &d, &b);
    assert_int_equal(m.hits, 1);
    assert_int_equal(a.pick, SRV_PICK_PACKAGE);
    assert_int_equal(b.index, a.index);
    d.core.number = 18; /* another device tuple: not a hit */
    srv_memo_select(&m, 1, p, 2, &d, &a);
    assert_int_equal(m.hits, 1);
    assert_int_equal(a.index, 1);
    /* a new index generation (release replaced) is never answered from
     * the memo: 1.2.0 for 18 is now the release */
    srv_memo_select(&m, 2, p, 3, &d, &b);
    assert_int_equal(m.hits, 1);
    assert_int_equal(b.index, 2);
    srv_select(p, 3, &d, &a);
    assert_int_equal(a.index, b.index);
}

static enum ota_err load_ini(const char *text, struct cfg_ota *c, char *msg)
{
    FILE *fp = fmemopen((void *)(uintptr_t)text, strlen(text), "r");
    assert_non_null(fp);
    enum ota_err e = cfg_ota_load_stream(fp, "/tmp/x/ota.ini", c, msg);
    fclose(fp);
    return e;
}

#define INI_HEAD "[project]\nname = P\nproduct_key = k-1\n[server]\n"

static void cfg_server_keys(void **state)
{
    static struct cfg_ota c;
    char msg[OTA_MSG_LEN];
    (void)state;
    assert_int_equal(load_ini(INI_HEAD, &c, msg), OTA_OK);
    assert_int_equal(c.max_transfers, 10000);
    assert_int_equal(c.rate_limit, 1000);
    assert_int_equal(c.max_sessions, 64);
    assert_int_equal(c.report_fsync, 0);
    assert_int_equal(c.nadmin, 2);
    assert_string_equal(c.admin[0], "127.0.0.1");
    assert_int_equal(c.max_transfers_per_address, 256);
    assert_int_equal(c.verified_reserve, 10);
    assert_int_equal(c.ntrusted_proxies, 0);
    assert_int_equal(load_ini(INI_HEAD "max_transfers_per_address = 0\nverified_reserve = 0\n"
                                       "trusted_proxies = 10.0.0.5, ::1\n", &c, msg), OTA_OK);
    assert_int_equal(c.max_transfers_per_address, 0);
    assert_int_equal(c.ntrusted_proxies, 2);
    assert_string_equal(c.trusted_proxies[1], "::1");
    assert_int_equal(load_ini(INI_HEAD "trusted_proxies = nginx\n", &c, msg), OTA_E_INVAL);
    assert_non_null(strstr(msg, "trusted_proxies: 'nginx' is not an IP address"));
    assert_int_equal(load_ini(INI_HEAD "verified_reserve = 101\n", &c, msg), OTA_E_INVAL);
    assert_int_equal(load_ini(INI_HEAD "max_transfers = 5\nrate_limit = 0\nrate_burst = 9\n"
                                       "transfer_idle = 30\nretry_after = 2\nmax_sessions = 8\n"
                                       "session_timeout = 10\nlog_rate = 0\nreport_fsync = 5\n"
                                       "max_sources = 1024\nadmin = 10.0.0.1, fe80::1\n",
                              &c, msg),
                     OTA_OK);
    assert_int_equal(c.max_transfers, 5);
    assert_int_equal(c.rate_limit, 0);
    assert_int_equal(c.rate_burst, 9);
    assert_int_equal(c.report_fsync, 5);
    assert_int_equal(c.nadmin, 2);
    assert_string_equal(c.admin[1], "fe80::1");
    assert_int_equal(load_ini(INI_HEAD "admin = none\n", &c, msg), OTA_OK);
    assert_int_equal(c.nadmin, 0);
    assert_int_equal(load_ini(INI_HEAD "max_transfers = -1\n", &c, msg), OTA_E_INVAL);
    assert_non_null(strstr(msg, "ota.ini:5: max_transfers: '-1' not in 0..1000000"));
    assert_int_equal(load_ini(INI_HEAD "rate_burst = 0\n", &c, msg), OTA_E_INVAL);
    assert_int_equal(load_ini(INI_HEAD "admin = example.com\n", &c, msg), OTA_E_INVAL);
    assert_non_null(strstr(msg, "admin: 'example.com' is not an IP address"));
    assert_int_equal(load_ini(INI_HEAD "max_sources = 12x\n", &c, msg), OTA_E_INVAL);
}

static void report_append_modes(void **state)
{
    char path[] = "/tmp/ota-test-report.XXXXXX", buf[64];
    int fd = mkstemp(path);
    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(srv_report_append(fd, "{\"a\":1}\n", 8, 1, NULL), OTA_OK);
    assert_int_equal(srv_report_append(fd, "{\"b\":2}\n", 8, 0, NULL), OTA_OK);
    assert_int_equal(pread(fd, buf, sizeof buf, 0), 16);
    assert_memory_equal(buf, "{\"a\":1}\n{\"b\":2}\n", 16);
    close(fd);
    assert_int_equal(srv_report_append(fd, "x\n", 2, 1, NULL), OTA_E_IO); /* closed fd */
    unlink(path);
}

struct rows {
    int n;
    struct cache_report_row r[8];
};

static void on_row(void *ctx, const struct cache_report_row *row)
{
    struct rows *rs = ctx;
    if (rs->n < 8)
        rs->r[rs->n++] = *row;
}

/* Lines as ota-server writes them (srv_report_line), plus junk. */
static void report_summary(void **state)
{
    char path[] = "/tmp/ota-test-summary.XXXXXX", line[SRV_REPORT_LINE_MAX], msg[OTA_MSG_LEN];
    int fd = mkstemp(path);
    struct srv_report r;
    struct rows rows;
    struct cache_report_totals tot;
    static const char *const payloads[] = {
        "imei=861234567890123&from_core=Luat_V0017_RDA8910&from_script=1.0.0&result=0&seconds=10",
        "imei=861234567890124&from_core=Luat_V0017_RDA8910&from_script=1.0.0&result=0&seconds=30",
        "imei=861234567890125&from_core=Luat_V0017_RDA8910&from_script=1.0.0&result=0&seconds=20.5",
        "imei=861234567890126&from_core=Luat_V0017_RDA8910&from_script=1.0.0&result=4",
        "imei=861234567890127&from_core=Luat_V0018_RDA8910&from_script=1.0.0&result=0&seconds=7",
        "imei=861234567890128&from_core=Luat_V0018_RDA8910&from_script=1.0.0&result=0&seconds=9",
        "imei=861234567890129&result=-3",
    };
    (void)state;
    assert_true(fd >= 0);
    for (size_t i = 0; i < sizeof payloads / sizeof payloads[0]; i++) {
        assert_int_equal(srv_report_parse((const uint8_t *)payloads[i], strlen(payloads[i]), &r,
                                          msg), OTA_OK);
        size_t n = srv_report_line(&r, "127.0.0.1:1", 0, line, sizeof line);
        assert_true(n > 0);
        assert_int_equal(write(fd, line, n), (ssize_t)n);
    }
    assert_int_equal(write(fd, "not json\n{\"result\":0,\"from_cor", 30), 30); /* torn tail */
    close(fd);
    memset(&rows, 0, sizeof rows);
    assert_int_equal(cache_report_summarise(path, on_row, &rows, &tot, msg), OTA_OK);
    assert_int_equal(tot.lines, 9);
    assert_int_equal(tot.skipped, 2);
    assert_int_equal(rows.n, 3);
    assert_string_equal(rows.r[0].from, "-/-");
    assert_int_equal(rows.r[0].failed, 1);
    assert_string_equal(rows.r[1].from, "Luat_V0017_RDA8910/1.0.0");
    assert_int_equal(rows.r[1].ok, 3);
    assert_int_equal(rows.r[1].failed, 1);
    assert_true(rows.r[1].median_s > 20.49 && rows.r[1].median_s < 20.51);
    assert_true(rows.r[2].median_s > 7.99 && rows.r[2].median_s < 8.01); /* (7+9)/2 */
    assert_int_equal(tot.all.ok, 5);
    assert_int_equal(tot.all.failed, 2);
    assert_true(tot.all.median_s > 9.99 && tot.all.median_s < 10.01);
    unlink(path);
    assert_int_equal(cache_report_summarise(path, on_row, &rows, &tot, msg), OTA_E_IO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bucket_refill),       cmocka_unit_test(limit_rate_per_source),
        cmocka_unit_test(limit_transfer_cap),  cmocka_unit_test(limit_expiry),
        cmocka_unit_test(limit_table_bounded),
        cmocka_unit_test(limit_moved_transfers_counted_once), cmocka_unit_test(admin_and_stats),
        cmocka_unit_test(limit_resend_after_last),
        cmocka_unit_test(limit_checks_are_not_running), cmocka_unit_test(limit_resize_keeps_transfers),
        cmocka_unit_test(limit_per_address),
        cmocka_unit_test(memo_matches_select), cmocka_unit_test(cfg_server_keys),
        cmocka_unit_test(report_append_modes), cmocka_unit_test(report_summary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
