/* test_short.c - the short resource's pure parts (server/short.h): the
 * path and Q-Block2 parser with its named refusals, the burst slices, and
 * the package table that keeps replaced packages for short_grace within
 * short_grace_mib. Time is passed in (milliseconds), nothing sleeps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "short.h"

#define ETAG_HEX "ed05941c1520e6aa"

static struct srv_short_opt seg(const char *s)
{
    return (struct srv_short_opt){11, (const uint8_t *)s, strlen(s)};
}

static struct srv_short_opt qb(unsigned num, unsigned szx, int more, uint8_t buf[3])
{
    uint32_t v = num << 4 | (more ? 8u : 0u) | szx;
    buf[0] = (uint8_t)(v >> 16), buf[1] = (uint8_t)(v >> 8), buf[2] = (uint8_t)v;
    return (struct srv_short_opt){SRV_OPTION_Q_BLOCK2, buf, 3};
}

static void parse_good(void **state)
{
    uint8_t b[3][3];
    struct srv_short_opt o[] = {seg("p"), seg(ETAG_HEX), qb(1, 6, 0, b[0]), qb(2, 6, 0, b[1]),
                                qb(9, 6, 0, b[2])};
    struct srv_short_req r;
    char msg[OTA_MSG_LEN];
    assert_true(srv_short_is_ours(o, 5));
    assert_int_equal(srv_short_parse(o, 5, &r, msg), OTA_OK);
    assert_int_equal(r.n, 3);
    assert_int_equal(r.blk[2].num, 9);
    assert_int_equal(r.etag[0], 0xed);
    assert_int_equal(r.etag[7], 0xaa);
    /* no block option: block 0 */
    assert_int_equal(srv_short_parse(o, 2, &r, msg), OTA_OK);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.blk[0].num, 0);
}

static void parse_refusals(void **state)
{
    uint8_t b[SRV_SHORT_BURST_MAX + 1][3], big[4] = {0, 0, 1, 6};
    struct srv_short_opt o[SRV_SHORT_BURST_MAX + 3];
    struct srv_short_req r;
    char msg[OTA_MSG_LEN];
    o[0] = seg("fota");
    assert_false(srv_short_is_ours(o, 1));
    assert_int_equal(srv_short_parse(o, 1, &r, msg), OTA_E_NOTFOUND);
    o[0] = seg("p"), o[1] = seg("zz05941c1520e6aa");
    assert_int_equal(srv_short_parse(o, 2, &r, msg), OTA_E_NOTFOUND); /* not hex */
    o[1] = seg("ed05");
    assert_int_equal(srv_short_parse(o, 2, &r, msg), OTA_E_NOTFOUND); /* too short */
    o[1] = seg(ETAG_HEX), o[2] = seg("x");
    assert_int_equal(srv_short_parse(o, 3, &r, msg), OTA_E_NOTFOUND); /* three segments */
    o[2] = (struct srv_short_opt){SRV_OPTION_Q_BLOCK2, big, 4};
    assert_int_equal(srv_short_parse(o, 3, &r, msg), OTA_E_INVAL); /* 4-byte option */
    o[2] = qb(1, 7, 0, b[0]);
    assert_int_equal(srv_short_parse(o, 3, &r, msg), OTA_E_INVAL); /* SZX 7 */
    o[2] = qb(1, 6, 0, b[0]), o[3] = qb(2, 5, 0, b[1]);
    assert_int_equal(srv_short_parse(o, 4, &r, msg), OTA_E_INVAL); /* two sizes */
    o[2] = qb(1, 6, 1, b[0]), o[3] = qb(2, 6, 0, b[1]);
    assert_int_equal(srv_short_parse(o, 4, &r, msg), OTA_E_INVAL); /* a block after M */
    for (unsigned i = 0; i <= SRV_SHORT_BURST_MAX; i++)
        o[2 + i] = qb(i, 6, 0, b[i]);
    assert_int_equal(srv_short_parse(o, 2 + SRV_SHORT_BURST_MAX, &r, msg), OTA_OK);
    assert_int_equal(srv_short_parse(o, 3 + SRV_SHORT_BURST_MAX, &r, msg), OTA_E_INVAL);
}

static void slices_burst(void **state)
{
    uint8_t b[2][3];
    struct srv_short_opt o[] = {seg("p"), seg(ETAG_HEX), qb(3, 6, 0, b[0]), qb(5, 6, 1, b[1])};
    struct srv_short_req r;
    struct srv_slice sl[SRV_SHORT_BURST_MAX];
    unsigned n;
    char msg[OTA_MSG_LEN];
    assert_int_equal(srv_short_parse(o, 4, &r, msg), OTA_OK);
    /* 8.5 blocks: 3, then 5 and what follows it (6, 7, 8: 8 is the last, short) */
    assert_int_equal(srv_short_slices(&r, 8 * 1024 + 512, 6, sl, &n, msg), OTA_OK);
    assert_int_equal(n, 5);
    assert_int_equal(sl[0].blk.num, 3);
    assert_int_equal(sl[4].blk.num, 8);
    assert_int_equal(sl[4].len, 512);
    assert_false(sl[4].blk.more);
    /* the server's smaller block size: the same offset, renumbered */
    assert_int_equal(srv_short_slices(&r, 8 * 1024 + 512, 5, sl, &n, msg), OTA_OK);
    assert_int_equal(sl[0].off, 3 * 1024);
    assert_int_equal(sl[0].len, 512);
    /* all past the end */
    assert_int_equal(srv_short_slices(&r, 1024, 6, sl, &n, msg), OTA_E_LIMIT);
    assert_int_equal(n, 0);
}

static struct srv_pkg *pkg_new(uint8_t tag, size_t len)
{
    struct srv_pkg *p = calloc(1, sizeof *p);
    p->refs = 1;
    p->len = len;
    p->map = malloc(len);
    memset(p->hash, tag, sizeof p->hash);
    return p;
}

static void table_grace_and_bound(void **state)
{
    struct srv_short sh;
    struct srv_index idx;
    char msg[OTA_MSG_LEN];
    struct srv_pkg *a = pkg_new(0xaa, 1000), *b = pkg_new(0xbb, 3000), *c = pkg_new(0xcc, 500);
    struct srv_pkg *cur[1] = {a};
    uint8_t ea[SRV_ETAG_LEN], eb[SRV_ETAG_LEN], ec[SRV_ETAG_LEN];
    memset(ea, 0xaa, sizeof ea), memset(eb, 0xbb, sizeof eb), memset(ec, 0xcc, sizeof ec);
    memset(&idx, 0, sizeof idx);
    idx.pkgs = cur, idx.n = 1, idx.gen = 1;
    assert_int_equal(srv_short_init(&sh, msg), OTA_OK);
    srv_short_sync(&sh, &idx, 1000, 10, 1 << 20);
    assert_ptr_equal(srv_short_find(&sh, &idx, ea), a);
    assert_int_equal(a->refs, 2);
    /* a replaced by b (the index drops its reference): a stays findable */
    cur[0] = b, idx.gen = 2;
    srv_pkg_unref(a);
    srv_short_sync(&sh, &idx, 2000, 10, 1 << 20);
    assert_ptr_equal(srv_short_find(&sh, &idx, ea), a);
    assert_ptr_equal(srv_short_find(&sh, &idx, eb), b);
    assert_int_equal(sh.retired_bytes, 1000);
    /* b replaced by c: b retired too; a byte bound of 3500 drops the oldest (a) */
    cur[0] = c, idx.gen = 3;
    srv_pkg_unref(b);
    srv_short_sync(&sh, &idx, 3000, 10, 3500);
    assert_null(srv_short_find(&sh, &idx, ea));
    assert_ptr_equal(srv_short_find(&sh, &idx, eb), b);
    assert_int_equal(sh.dropped, 1);
    /* the grace: b left at 3000, gone at 13000 */
    srv_short_sync(&sh, &idx, 12999, 10, 3500);
    assert_non_null(srv_short_find(&sh, &idx, eb));
    srv_short_sync(&sh, &idx, 13000, 10, 3500);
    assert_null(srv_short_find(&sh, &idx, eb));
    assert_int_equal(sh.retired_bytes, 0);
    assert_ptr_equal(srv_short_find(&sh, &idx, ec), c);
    srv_short_free(&sh);
    assert_int_equal(c->refs, 1);
    srv_pkg_unref(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_good), cmocka_unit_test(parse_refusals),
        cmocka_unit_test(slices_burst), cmocka_unit_test(table_grace_and_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
