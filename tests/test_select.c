/* test_select.c - package selection, Block2 slicing, and the whole GET
 * /fota decision over an in-memory index.
 *
 * The index used here is built by hand from headers (no files, no
 * signatures): selection only ever looks at header fields, which is the
 * point of these tests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "block.h"
#include "fota.h"
#include "select.h"

#define D PKG_F_CORE_DELTA
#define F PKG_F_CORE_FULL
#define S PKG_F_SCRIPT
#define ANY PKG_FROM_ANY

static struct pkg_header hdr(const char *project, const char *chip, uint32_t flags,
                             uint32_t from, uint32_t to, const char *script, uint64_t core_len,
                             uint64_t script_len)
{
    struct pkg_header h;
    memset(&h, 0, sizeof h);
    h.format = PKG_FORMAT_VERSION;
    h.flags = flags;
    snprintf(h.project, sizeof h.project, "%s", project);
    snprintf(h.core_name, sizeof h.core_name, "Luat");
    snprintf(h.chip, sizeof h.chip, "%s", chip);
    h.from_core = from;
    h.to_core = to;
    ver_script_parse(script, &h.script, NULL);
    h.core_len = core_len;
    h.script_len = script_len;
    return h;
}

/* The release every selection test starts from: target 0020 / 1.1.0. */
enum { P_DS17, P_D17, P_DS18, P_S20, P_FS_ANY, P_F_ANY, P_OLD, P_OTHER_PROJ, P_OTHER_CHIP, P_N };

static struct pkg_header rel[P_N];
static const struct pkg_header *relp[P_N];

static void release_init(void)
{
    rel[P_DS17] = hdr("P", "RDA8910", D | S, 17, 20, "1.1.0", 1000, 100);
    rel[P_D17] = hdr("P", "RDA8910", D, 17, 20, "1.1.0", 1000, 0);
    rel[P_DS18] = hdr("P", "RDA8910", D | S, 18, 20, "1.1.0", 1200, 100);
    rel[P_S20] = hdr("P", "RDA8910", S, 20, 20, "1.1.0", 0, 100);
    rel[P_FS_ANY] = hdr("P", "RDA8910", F | S, ANY, 20, "1.1.0", 5000, 100);
    rel[P_F_ANY] = hdr("P", "RDA8910", F, ANY, 20, "1.1.0", 5000, 0);
    rel[P_OLD] = hdr("P", "RDA8910", D | S, 17, 19, "1.0.0", 900, 100);
    rel[P_OTHER_PROJ] = hdr("Q", "RDA8910", D | S, 17, 30, "9.0.0", 10, 10);
    rel[P_OTHER_CHIP] = hdr("P", "EC618", D | S, 17, 25, "9.0.0", 10, 10);
    for (int i = 0; i < P_N; i++)
        relp[i] = &rel[i];
}

static struct srv_selection pick_from(const struct pkg_header *const *p, size_t n,
                                      const char *chip, uint32_t core, const char *script,
                                      int delta)
{
    struct srv_device d;
    struct srv_selection s;
    memset(&d, 0, sizeof d);
    d.project = "P";
    snprintf(d.core.name, sizeof d.core.name, "Luat");
    snprintf(d.core.chip, sizeof d.core.chip, "%s", chip);
    d.core.number = core;
    ver_script_parse(script, &d.script, NULL);
    d.allow_delta = delta;
    srv_select(p, n, &d, &s);
    return s;
}

static struct srv_selection pick(uint32_t core, const char *script)
{
    return pick_from(relp, P_N, "RDA8910", core, script, 1);
}

#define assert_pick(sel, want)                                                                 \
    do {                                                                                       \
        struct srv_selection s_ = (sel);                                                       \
        assert_int_equal(s_.pick, SRV_PICK_PACKAGE);                                           \
        assert_int_equal(s_.index, (want));                                                    \
    } while (0)

static void select_up_to_date(void **state)
{
    (void)state;
    release_init();
    struct srv_selection s = pick(20, "1.1.0");
    assert_int_equal(s.pick, SRV_PICK_UP_TO_DATE);
    assert_int_equal(s.target_core, 20);
    assert_int_equal(s.target_script.minor, 1);
    /* A newer script on the target core is never downgraded. */
    assert_int_equal(pick(20, "1.2.0").pick, SRV_PICK_UP_TO_DATE);
    assert_int_equal(pick(21, "1.0.0").pick, SRV_PICK_DEVICE_NEWER);
    assert_int_equal(pick(9999, "1.1.0").pick, SRV_PICK_DEVICE_NEWER);
}

static void select_script_only(void **state)
{
    (void)state;
    release_init();
    assert_pick(pick(20, "1.0.0"), P_S20);
    assert_pick(pick(20, "0.0.0"), P_S20);
    /* Without the script-only package: the full core + script fallback. */
    const struct pkg_header *p[] = {relp[P_DS17], relp[P_FS_ANY]};
    assert_pick(pick_from(p, 2, "RDA8910", 20, "1.0.0", 1), 1);
    /* Neither: nothing can bring the script. */
    assert_int_equal(pick_from(p, 1, "RDA8910", 20, "1.0.0", 1).pick, SRV_PICK_NO_BASE);
}

static void select_core_and_script(void **state)
{
    (void)state;
    release_init();
    assert_pick(pick(17, "1.0.0"), P_DS17);
    assert_pick(pick(18, "1.0.0"), P_DS18);
    /* Unknown shipped core: the full-core fallback. */
    assert_pick(pick(16, "1.0.0"), P_FS_ANY);
    assert_pick(pick(0, "1.0.0"), P_FS_ANY);
    /* dfota=0: the device cannot apply a delta. */
    assert_pick(pick_from(relp, P_N, "RDA8910", 17, "1.0.0", 0), P_FS_ANY);
}

static void select_core_only(void **state)
{
    (void)state;
    release_init();
    /* Script already current: the core-only package is smaller. */
    assert_pick(pick(17, "1.1.0"), P_D17);
    /* No core-only from 18: delta+script from 18 beats full from any. */
    assert_pick(pick(18, "1.1.0"), P_DS18);
    /* Script newer than the release: never a package with a script. */
    assert_pick(pick(17, "1.2.0"), P_D17);
    assert_pick(pick(18, "1.2.0"), P_F_ANY);
    const struct pkg_header *p[] = {relp[P_DS18], relp[P_FS_ANY]};
    assert_int_equal(pick_from(p, 2, "RDA8910", 18, "1.2.0", 1).pick,
                     SRV_PICK_SCRIPT_DOWNGRADE);
}

static void select_no_base(void **state)
{
    (void)state;
    release_init();
    const struct pkg_header *p[] = {relp[P_DS17], relp[P_D17], relp[P_S20], relp[P_OLD]};
    struct srv_selection s = pick_from(p, 4, "RDA8910", 16, "1.0.0", 1);
    assert_int_equal(s.pick, SRV_PICK_NO_BASE);
    assert_int_equal(s.target_core, 20);
    /* The old release (to 0019) is never served once 0020 exists. */
    assert_int_equal(pick_from(p, 4, "RDA8910", 18, "1.0.0", 1).pick, SRV_PICK_NO_BASE);
    /* A delta only and dfota=0. */
    assert_int_equal(pick_from(p, 4, "RDA8910", 17, "1.0.0", 0).pick, SRV_PICK_NO_BASE);
}

static void select_lines_and_projects(void **state)
{
    (void)state;
    release_init();
    assert_int_equal(pick_from(relp, P_N, "BK7231", 17, "1.0.0", 1).pick,
                     SRV_PICK_OTHER_LINE);
    /* Other chip of the same project has its own release (0025). */
    struct srv_selection s = pick_from(relp, P_N, "EC618", 17, "1.0.0", 1);
    assert_pick(s, P_OTHER_CHIP);
    assert_int_equal(s.target_core, 25);
    const struct pkg_header *p[] = {relp[P_OTHER_PROJ]};
    assert_int_equal(pick_from(p, 1, "RDA8910", 17, "1.0.0", 1).pick, SRV_PICK_NO_RELEASE);
    assert_int_equal(pick_from(NULL, 0, "RDA8910", 17, "1.0.0", 1).pick, SRV_PICK_NO_RELEASE);
}

static void select_newest_release_and_ties(void **state)
{
    (void)state;
    release_init();
    /* Same core, newer script: V is the highest script reaching T. */
    struct pkg_header s12 = hdr("P", "RDA8910", S, 20, 20, "1.2.0", 0, 100);
    struct pkg_header ds12 = hdr("P", "RDA8910", D | S, 17, 20, "1.2.0", 1000, 100);
    const struct pkg_header *p[] = {relp[P_DS17], relp[P_S20], &s12, &ds12};
    struct srv_selection s = pick_from(p, 4, "RDA8910", 17, "1.0.0", 1);
    assert_pick(s, 3);
    assert_int_equal(s.target_script.minor, 2);
    assert_pick(pick_from(p, 4, "RDA8910", 20, "1.1.0", 1), 2);
    /* Two equal candidates: the first in the array wins. */
    const struct pkg_header *t[] = {relp[P_DS17], relp[P_DS17]};
    assert_pick(pick_from(t, 2, "RDA8910", 17, "1.0.0", 1), 0);
}

/* ---- Block2 ------------------------------------------------------------- */

static void block_parse(void **state)
{
    struct srv_block b;
    (void)state;
    assert_int_equal(srv_block_parse(NULL, 0, &b, NULL), OTA_OK);
    assert_int_equal(b.num, 0);
    assert_int_equal(b.szx, 0);
    assert_int_equal(srv_block_parse((const uint8_t *)"\x06", 1, &b, NULL), OTA_OK);
    assert_int_equal(b.num, 0);
    assert_int_equal(b.szx, 6);
    assert_int_equal(srv_block_parse((const uint8_t *)"\x1e", 1, &b, NULL), OTA_OK);
    assert_int_equal(b.num, 1);
    assert_int_equal(b.more, 1);
    assert_int_equal(srv_block_parse((const uint8_t *)"\xff\xff\xf6", 3, &b, NULL), OTA_OK);
    assert_int_equal(b.num, 0xFFFFF);
    assert_int_equal(srv_block_parse((const uint8_t *)"\x01\x02\x03\x06", 4, &b, NULL),
                     OTA_E_INVAL);
    assert_int_equal(srv_block_parse((const uint8_t *)"\x07", 1, &b, NULL), OTA_E_INVAL);
    assert_int_equal(srv_block_parse((const uint8_t *)"\x12\x37", 2, &b, NULL), OTA_E_INVAL);
}

static void block_encode_roundtrip(void **state)
{
    static const uint32_t nums[] = {0, 1, 15, 16, 4095, 4096, 0xFFFFF};
    (void)state;
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++)
        for (unsigned szx = 0; szx <= SRV_SZX_MAX; szx++) {
            struct srv_block in = {nums[i], szx, (int)(i & 1)}, out;
            uint8_t buf[3];
            size_t n = srv_block_encode(&in, buf);
            assert_int_equal(srv_block_parse(buf, n, &out, NULL), OTA_OK);
            assert_int_equal(out.num, in.num);
            assert_int_equal(out.szx, in.szx);
            assert_int_equal(out.more, in.more);
        }
    assert_int_equal(srv_block_szx(1024), 6);
    assert_int_equal(srv_block_szx(16), 0);
    assert_int_equal(srv_block_szx(1000), -1);
    assert_int_equal(srv_block_szx(2048), -1);
}

static void block_slice(void **state)
{
    struct srv_slice s;
    struct srv_block r;
    (void)state;
    /* No Block2 in the request: block 0 at the server's size. */
    assert_int_equal(srv_block_slice(2500, NULL, 6, &s, NULL), OTA_OK);
    assert_true(s.off == 0 && s.len == 1024 && s.blk.more && s.blk.num == 0 && s.blk.szx == 6);
    /* Last, short block. */
    r = (struct srv_block){2, 6, 0};
    assert_int_equal(srv_block_slice(2500, &r, 6, &s, NULL), OTA_OK);
    assert_true(s.off == 2048 && s.len == 452 && !s.blk.more && s.blk.num == 2);
    /* Past the end. */
    r.num = 3;
    assert_int_equal(srv_block_slice(2500, &r, 6, &s, NULL), OTA_E_LIMIT);
    /* Exact multiple: the last block is full and has no more flag. */
    r.num = 1;
    assert_int_equal(srv_block_slice(2048, &r, 6, &s, NULL), OTA_OK);
    assert_true(s.len == 1024 && !s.blk.more);
    r.num = 2;
    assert_int_equal(srv_block_slice(2048, &r, 6, &s, NULL), OTA_E_LIMIT);
    /* Client asks for less than the server's size: honoured. */
    r = (struct srv_block){5, 4, 0};
    assert_int_equal(srv_block_slice(2500, &r, 6, &s, NULL), OTA_OK);
    assert_true(s.off == 1280 && s.len == 256 && s.blk.num == 5 && s.blk.szx == 4 && s.blk.more);
    /* Client asks for more than the server's size: same offset, rescaled
     * number (RFC 7959 2.4). */
    r = (struct srv_block){2, 6, 0};
    assert_int_equal(srv_block_slice(2500, &r, 4, &s, NULL), OTA_OK);
    assert_true(s.off == 2048 && s.len == 256 && s.blk.num == 8 && s.blk.szx == 4);
    /* Rescaling past 20 bits is refused rather than truncated. */
    r = (struct srv_block){0x80000, 6, 0};
    assert_int_equal(srv_block_slice(1ull << 40, &r, 0, &s, NULL), OTA_E_LIMIT);
    /* Largest block number at 1024 bytes. */
    r = (struct srv_block){0xFFFFF, 6, 0};
    assert_int_equal(srv_block_slice((uint64_t)0x100000 << 10, &r, 6, &s, NULL), OTA_OK);
    assert_true(s.off == (uint64_t)0xFFFFF << 10 && !s.blk.more);
}


/* package_format: a device sees only packages of its kind, whatever their
 * size (the vendor one here is the smallest). */
static void select_vendor_format(void **state)
{
    struct pkg_header h[2] = {hdr("P", "RDA8910", D | S, 17, 20, "1.1.0", 1000, 100),
                              hdr("P", "RDA8910", PKG_F_VENDOR | D | S, 17, 20, "1.1.0", 10, 0)};
    const struct pkg_header *p[2] = {&h[0], &h[1]};
    struct srv_device d;
    struct srv_selection s;
    (void)state;
    memset(&d, 0, sizeof d);
    d.project = "P";
    snprintf(d.core.name, sizeof d.core.name, "Luat");
    snprintf(d.core.chip, sizeof d.core.chip, "RDA8910");
    d.core.number = 17;
    ver_script_parse("1.0.0", &d.script, NULL);
    d.allow_delta = 1;
    srv_select(p, 2, &d, &s);
    assert_pick(s, 0);
    d.vendor = 1;
    srv_select(p, 2, &d, &s);
    assert_pick(s, 1);
    srv_select(p, 1, &d, &s); /* only a signed package: nothing for a vendor device */
    assert_int_equal(s.pick, SRV_PICK_NO_RELEASE);
    d.vendor = 0;
    srv_select(p + 1, 1, &d, &s); /* only a vendor package: nothing for an ota device */
    assert_int_equal(s.pick, SRV_PICK_NO_RELEASE);
}

/* ---- the whole decision ------------------------------------------------- */

static uint8_t fake_map[8192];

static void index_init(struct srv_index *x, struct srv_pkg *pk, const struct pkg_header **hp,
                       struct srv_pkg **pp)
{
    release_init();
    memset(x, 0, sizeof *x);
    for (int i = 0; i < P_N; i++) {
        memset(&pk[i], 0, sizeof pk[i]);
        pk[i].ok = 1;
        pk[i].h = rel[i];
        pk[i].map = fake_map;
        pk[i].len = (size_t)pkg_total_size(&rel[i]);
        snprintf(pk[i].name, sizeof pk[i].name, "pkg%d.pkg", i);
        pp[i] = &pk[i];
        hp[i] = &pk[i].h;
    }
    x->pkgs = pp;
    x->hdrs = hp;
    x->n = P_N;
}

static void cfg_init(struct cfg_ota *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->project, sizeof c->project, "P");
    snprintf(c->product_key, sizeof c->product_key, "key-0001");
    c->block_size = 1024;
}

/* Fleet inputs of the next decide() call (issue 6); reset after it. */
static struct srv_fota_in fleet_in;

static enum srv_status decide(const char *query, const char *b2, size_t b2len,
                              struct srv_fota_out *out)
{
    static struct srv_pkg pk[P_N];
    static const struct pkg_header *hp[P_N];
    static struct srv_pkg *pp[P_N];
    struct srv_index x;
    struct cfg_ota c;
    index_init(&x, pk, hp, pp);
    cfg_init(&c);
    struct srv_fota_in in = fleet_in;
    in.query = (const uint8_t *)query;
    in.query_len = strlen(query);
    in.has_block2 = b2 != NULL;
    in.block2 = (const uint8_t *)b2;
    in.block2_len = b2len;
    srv_fota_decide(&c, &x, &in, out);
    memset(&fleet_in, 0, sizeof fleet_in);
    return out->st;
}

#define Q(key, fw, core, ver)                                                                  \
    "project_key=" key "&imei=861234567890123&firmware_name=" fw "&core_version=" core         \
    "&dfota=1&version=" ver

static void fota_decide(void **state)
{
    struct srv_fota_out o;
    (void)state;
    assert_int_equal(decide(Q("key-0001", "P_Luat_RDA8910", "17", "1.0.0"), NULL, 0, &o),
                     SRV_ST_CONTENT);
    assert_string_equal(o.pkg->name, "pkg0.pkg");
    assert_true(o.slice.off == 0 && o.slice.len == 1024 && o.slice.blk.more);
    assert_int_equal(decide(Q("key-0001", "P_Luat_RDA8910", "17", "1.0.0"), "\x16", 1, &o),
                     SRV_ST_CONTENT);
    /* 256 header + 1000 + 100 + 64 signature = 1420 bytes. */
    assert_true(o.slice.off == 1024 && o.slice.len == 1420 - 1024 && !o.slice.blk.more);
    assert_int_equal(decide(Q("key-0001", "P_Luat_RDA8910", "17", "1.0.0"), "\x26", 1, &o),
                     SRV_ST_BLOCK_RANGE);
    assert_int_equal(decide(Q("key-0001", "P_Luat_RDA8910", "17", "1.0.0"), "\x07", 1, &o),
                     SRV_ST_BAD_BLOCK);
    assert_int_equal(decide(Q("key-0001", "P_Luat_RDA8910", "17", "1.0.0"), "\x00\x00\x00\x06",
                            4, &o), SRV_ST_BAD_BLOCK);
}

static void fota_refusals(void **state)
{
    struct srv_fota_out o;
    (void)state;
    assert_int_equal(decide(Q("key-0002", "P_Luat_RDA8910", "17", "1.0.0"), NULL, 0, &o),
                     SRV_ST_FORBIDDEN);
    assert_null(o.pkg);
    assert_int_equal(decide(Q("key-000", "P_Luat_RDA8910", "17", "1.0.0"), NULL, 0, &o),
                     SRV_ST_FORBIDDEN);
    assert_int_equal(decide(Q("key-00011", "P_Luat_RDA8910", "17", "1.0.0"), NULL, 0, &o),
                     SRV_ST_FORBIDDEN);
    assert_int_equal(decide(Q("key-0001", "Q_Luat_RDA8910", "17", "1.0.0"), NULL, 0, &o),
                     SRV_ST_FORBIDDEN);
    assert_int_equal(decide(Q("key-0001", "P_Luat_BK7231", "17", "1.0.0"), NULL, 0, &o),
                     SRV_ST_REFUSED);
    assert_int_equal(decide(Q("key-0001", "P_Luat_RDA8910", "20", "1.1.0"), NULL, 0, &o),
                     SRV_ST_NO_UPDATE);
    assert_int_equal(decide(Q("key-0001", "P_Luat_RDA8910", "21", "1.0.0"), NULL, 0, &o),
                     SRV_ST_NO_UPDATE);
    assert_int_equal(decide(Q("key-0001", "P_Luat_RDA8910", "20", "1.0.x"), NULL, 0, &o),
                     SRV_ST_BAD_FIELD);
    assert_int_equal(decide(Q("key-0001", "P_Luat_RDA8910", "20", "1.0"), NULL, 0, &o),
                     SRV_ST_BAD_VERSION);
    assert_int_equal(decide("imei=861234567890123", NULL, 0, &o), SRV_ST_BAD_FIELD);
    /* The key is checked before the block option: a bad block with a bad
     * key is a 4.03. */
    assert_int_equal(decide(Q("bad", "P_Luat_RDA8910", "17", "1.0.0"), "\x07", 1, &o),
                     SRV_ST_FORBIDDEN);
}

#define QOK Q("key-0001", "P_Luat_RDA8910", "17", "1.0.0")

/* coaps://: the query's imei must be the session's PSK identity. */
static void fota_dtls_identity(void **state)
{
    struct srv_fota_out o;
    (void)state;
    fleet_in.dtls_identity = "861234567890123";
    assert_int_equal(decide(QOK, NULL, 0, &o), SRV_ST_CONTENT);
    fleet_in.dtls_identity = "861234567890999";
    assert_int_equal(decide(QOK, NULL, 0, &o), SRV_ST_FORBIDDEN);
    assert_non_null(strstr(o.msg, "identity"));
    assert_int_equal(srv_status_info(o.st)->coap, 403);
}

/* One check per interval per IMEI; later blocks of a download are not
 * checks; the limit lifts when the interval has passed. */
static void fota_check_interval(void **state)
{
    struct srv_checks k;
    struct srv_fota_out o;
    (void)state;
    assert_int_equal(srv_checks_init(&k, 60, NULL), OTA_OK);
    fleet_in.checks = &k;
    fleet_in.now_ms = 1000000;
    assert_int_equal(decide(QOK, NULL, 0, &o), SRV_ST_CONTENT);
    fleet_in.checks = &k;
    fleet_in.now_ms = 1010000;
    assert_int_equal(decide(QOK, "\x16", 1, &o), SRV_ST_CONTENT); /* block 1: not a check */
    fleet_in.checks = &k;
    fleet_in.now_ms = 1010000;
    assert_int_equal(decide(QOK, "\x06", 1, &o), SRV_ST_TOO_MANY); /* block 0 again */
    assert_int_equal(o.max_age, 50);
    assert_int_equal(srv_status_info(o.st)->coap, 429);
    assert_int_equal(srv_status_info(o.st)->platform, 40);
    fleet_in.checks = &k;
    fleet_in.now_ms = 1060000;
    assert_int_equal(decide(QOK, NULL, 0, &o), SRV_ST_CONTENT); /* recovered */
    srv_checks_free(&k);
}

static void fota_allowlist_and_rollout(void **state)
{
    struct srv_fleet f;
    struct srv_fota_out o;
    (void)state;
    assert_int_equal(srv_fleet_init(&f, NULL, 0, NULL), OTA_OK); /* rollout at 0 % */
    fleet_in.fleet = &f;
    /* held back: 4.04/27 on the wire, counted apart from "up to date" */
    assert_int_equal(decide(QOK, NULL, 0, &o), SRV_ST_HELD_BACK);
    assert_int_equal(srv_status_info(o.st)->coap, 404);
    assert_int_equal(srv_status_info(o.st)->platform, 27);
    assert_non_null(strstr(o.msg, "rollout"));
    assert_int_equal(srv_fleet_init(&f, NULL, SRV_ROLLOUT_ALL, NULL), OTA_OK);
    fleet_in.fleet = &f;
    assert_int_equal(decide(QOK, NULL, 0, &o), SRV_ST_CONTENT);
    char path[] = "/tmp/test_select_allow.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "861234567890999\n", 16), 16);
    close(fd);
    assert_int_equal(srv_fleet_init(&f, path, SRV_ROLLOUT_ALL + 1, NULL), OTA_OK);
    fleet_in.fleet = &f;
    assert_int_equal(decide(QOK, NULL, 0, &o), SRV_ST_REFUSED);
    assert_int_equal(srv_status_info(o.st)->platform, 21);
    srv_fleet_free(&f);
    unlink(path);
}


/* Several projects: firmware_name picks the project, whose key applies;
 * an unknown project is a 4.03; PROJECT/IMEI identities name the project. */
static void fota_projects(void **state)
{
    struct cfg_ota cp, cq;
    struct srv_project v[2];
    struct srv_projects all = {v, 2};
    struct srv_fota_out o;
    (void)state;
    cfg_init(&cp);
    cfg_init(&cq);
    snprintf(cq.project, sizeof cq.project, "Q");
    snprintf(cq.product_key, sizeof cq.product_key, "key-000Q");
    memset(v, 0, sizeof v);
    v[0].cfg = &cp;
    v[1].cfg = &cq;
    fleet_in.projects = &all;
    assert_int_equal(decide(Q("key-000Q", "Q_Luat_RDA8910", "17", "1.0.0"), NULL, 0, &o),
                     SRV_ST_CONTENT);
    assert_string_equal(o.pkg->name, "pkg7.pkg"); /* Q's own package */
    assert_ptr_equal(o.project, &cq);
    fleet_in.projects = &all;
    assert_int_equal(decide(Q("key-0001", "Q_Luat_RDA8910", "17", "1.0.0"), NULL, 0, &o),
                     SRV_ST_FORBIDDEN); /* P's key for a Q device */
    fleet_in.projects = &all;
    assert_int_equal(decide(Q("key-0001", "R_Luat_RDA8910", "17", "1.0.0"), NULL, 0, &o),
                     SRV_ST_FORBIDDEN);
    assert_int_equal(srv_status_info(o.st)->platform, 25);
    fleet_in.projects = &all;
    fleet_in.dtls_identity = "Q/861234567890123";
    assert_int_equal(decide(Q("key-000Q", "Q_Luat_RDA8910", "17", "1.0.0"), NULL, 0, &o),
                     SRV_ST_CONTENT);
    fleet_in.projects = &all;
    fleet_in.dtls_identity = "P/861234567890123";
    assert_int_equal(decide(Q("key-000Q", "Q_Luat_RDA8910", "17", "1.0.0"), NULL, 0, &o),
                     SRV_ST_FORBIDDEN);
    /* a vendor project's device is not offered signed packages */
    cq.package_format = CFG_FORMAT_VENDOR;
    fleet_in.projects = &all;
    assert_int_equal(decide(Q("key-000Q", "Q_Luat_RDA8910", "17", "1.0.0"), NULL, 0, &o),
                     SRV_ST_NO_UPDATE);
}


/* Two projects on one core line: the selection memo keys on the project
 * (and the package kind), so neither gets the other's package. */
static void memo_per_project(void **state)
{
    static struct srv_memo m;
    struct pkg_header h[2] = {hdr("P", "RDA8910", D | S, 17, 20, "1.1.0", 1000, 100),
                              hdr("Q", "RDA8910", D | S, 17, 20, "1.1.0", 1000, 100)};
    const struct pkg_header *p[2] = {&h[0], &h[1]};
    struct srv_device d;
    struct srv_selection s;
    (void)state;
    srv_memo_clear(&m);
    memset(&d, 0, sizeof d);
    snprintf(d.core.name, sizeof d.core.name, "Luat");
    snprintf(d.core.chip, sizeof d.core.chip, "RDA8910");
    d.core.number = 17;
    ver_script_parse("1.0.0", &d.script, NULL);
    d.allow_delta = 1;
    d.project = "P";
    srv_memo_select(&m, 1, p, 2, &d, &s);
    assert_pick(s, 0);
    d.project = "Q";
    srv_memo_select(&m, 1, p, 2, &d, &s);
    assert_pick(s, 1);
    d.vendor = 1;
    srv_memo_select(&m, 1, p, 2, &d, &s);
    assert_int_equal(s.pick, SRV_PICK_NO_RELEASE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(select_up_to_date),      cmocka_unit_test(select_script_only),
        cmocka_unit_test(select_core_and_script), cmocka_unit_test(select_core_only),
        cmocka_unit_test(select_no_base),         cmocka_unit_test(select_lines_and_projects),
        cmocka_unit_test(select_newest_release_and_ties), cmocka_unit_test(block_parse),
        cmocka_unit_test(block_encode_roundtrip), cmocka_unit_test(block_slice),
        cmocka_unit_test(fota_decide),            cmocka_unit_test(fota_refusals),
        cmocka_unit_test(fota_dtls_identity),     cmocka_unit_test(fota_check_interval),
        cmocka_unit_test(fota_allowlist_and_rollout),
        cmocka_unit_test(select_vendor_format),   cmocka_unit_test(fota_projects),
        cmocka_unit_test(memo_per_project),
    };
    return cmocka_run_group_tests_name("server select/block/fota", tests, NULL, NULL);
}
