/* test_device.c - the portable device library (device/) on the host.
 *
 * Through the memory port (tests/devmem.c: NOR semantics, a write that
 * would set a bit fails and counts in bad_writes) and the in-process fake
 * server (tests/devsrv.c, virtual clock, seeded loss and reordering):
 * the CoAP codec (round trips, malformed datagrams), the journal (round
 * trip, byte compatibility with ota-client's journal, corruption), the
 * download engine (loss, reordering, replacement, resume after a cut with
 * the journal behind the flash, block size renumbering, 5.03 waits, the
 * short exchange).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "coap/dcoap.h"
#include "devmem.h"
#include "devsrv.h"
#include "dl/ddl.h"
#include "crypto.h"
#include "io.h"
#include "journal/djournal.h"
#include "pkg.h"

#include <stdlib.h>
#include <string.h>

/* --- codec ------------------------------------------------------------ */

static void coap_round_trip(void **state)
{
    (void)state;
    uint8_t buf[1024], big[300];
    static const uint8_t tok[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    struct dcoap_builder b;
    struct dcoap_msg m;
    size_t len;
    memset(big, 0xA5, sizeof big);
    dcoap_begin(&b, buf, sizeof buf, DCOAP_NON, DCOAP_GET, 0x1234, tok, sizeof tok);
    dcoap_opt_str(&b, DCOAP_OPT_URI_PATH, "fota");
    dcoap_opt_str(&b, DCOAP_OPT_URI_QUERY, "a=1");
    dcoap_opt_uint(&b, DCOAP_OPT_Q_BLOCK2, 0);
    dcoap_opt_block(&b, DCOAP_OPT_BLOCK2, &(struct dcoap_block){0xFFFFF, 1, 6});
    dcoap_opt(&b, 300, big, 20);    /* delta 272: two extension bytes */
    dcoap_opt(&b, 3000, big, sizeof big); /* length 300: two extension bytes */
    dcoap_payload(&b, "xyz", 3);
    assert_int_equal(dcoap_end(&b, &len), ODEV_OK);
    assert_int_equal(dcoap_parse(buf, len, &m), ODEV_OK);
    assert_int_equal(m.type, DCOAP_NON);
    assert_int_equal(m.code, DCOAP_GET);
    assert_int_equal(m.mid, 0x1234);
    assert_memory_equal(m.token, tok, 8);
    assert_int_equal(m.nopt, 6);
    assert_int_equal(m.opt[2].num, DCOAP_OPT_Q_BLOCK2);
    assert_int_equal(m.opt[2].len, 0);
    assert_int_equal(m.opt[4].num, 300);
    assert_int_equal(m.opt[5].num, 3000);
    assert_int_equal(m.opt[5].len, 300);
    assert_memory_equal(m.opt[5].val, big, 300);
    unsigned it = 0;
    struct dcoap_block blk;
    assert_int_equal(dcoap_block_decode(dcoap_find(&m, DCOAP_OPT_BLOCK2, &it), &blk), ODEV_OK);
    assert_int_equal(blk.num, 0xFFFFF);
    assert_int_equal(blk.more, 1);
    assert_int_equal(blk.szx, 6);
    assert_int_equal(m.payload_len, 3);
    assert_memory_equal(m.payload, "xyz", 3);
    /* an answer without payload or options */
    dcoap_begin(&b, buf, sizeof buf, DCOAP_ACK, DCOAP_CODE(4, 4), 7, NULL, 0);
    assert_int_equal(dcoap_end(&b, &len), ODEV_OK);
    assert_int_equal(len, 4);
    assert_int_equal(dcoap_parse(buf, len, &m), ODEV_OK);
    assert_int_equal(DCOAP_CODE_NUM(m.code), 404);
    assert_null(m.payload);
}

static void coap_builder_errors(void **state)
{
    (void)state;
    uint8_t buf[16];
    struct dcoap_builder b;
    size_t len;
    dcoap_begin(&b, buf, sizeof buf, DCOAP_NON, DCOAP_GET, 1, NULL, 0);
    dcoap_opt_str(&b, DCOAP_OPT_URI_QUERY, "a");
    dcoap_opt_str(&b, DCOAP_OPT_URI_PATH, "b"); /* out of order */
    assert_int_equal(dcoap_end(&b, &len), ODEV_E_INVAL);
    dcoap_begin(&b, buf, sizeof buf, DCOAP_NON, DCOAP_GET, 1, NULL, 0);
    dcoap_opt_str(&b, DCOAP_OPT_URI_PATH, "0123456789abcdef"); /* no room */
    assert_int_equal(dcoap_end(&b, &len), ODEV_E_LIMIT);
    dcoap_begin(&b, buf, sizeof buf, DCOAP_NON, DCOAP_GET, 1, NULL, 0);
    dcoap_opt_block(&b, DCOAP_OPT_BLOCK2, &(struct dcoap_block){0x100000, 0, 0});
    assert_int_equal(dcoap_end(&b, &len), ODEV_E_INVAL);
}

static void coap_malformed(void **state)
{
    (void)state;
    struct dcoap_msg m;
    static const struct {
        uint8_t b[12];
        size_t len;
        enum odev_err e;
    } bad[] = {
        {{0x50, 0x45, 0, 1}, 3, ODEV_E_CORRUPT},             /* short header */
        {{0x90, 0x45, 0, 1}, 4, ODEV_E_CORRUPT},             /* version 2 */
        {{0x59, 0x45, 0, 1}, 4, ODEV_E_CORRUPT},             /* TKL 9 */
        {{0x52, 0x45, 0, 1, 9}, 5, ODEV_E_CORRUPT},          /* token past the end */
        {{0x50, 0x45, 0, 1, 0xB3, 'a'}, 6, ODEV_E_CORRUPT},  /* value past the end */
        {{0x50, 0x45, 0, 1, 0xD1}, 5, ODEV_E_CORRUPT},       /* delta extension missing */
        {{0x50, 0x45, 0, 1, 0xE1, 0}, 6, ODEV_E_CORRUPT},    /* 2-byte extension cut */
        {{0x50, 0x45, 0, 1, 0xF0}, 5, ODEV_E_CORRUPT},       /* delta nibble 15 */
        {{0x50, 0x45, 0, 1, 0x1F}, 5, ODEV_E_CORRUPT},       /* length nibble 15 */
        {{0x50, 0x45, 0, 1, 0xFF}, 5, ODEV_E_CORRUPT},       /* marker, no payload */
        {{0x51, 0x00, 0, 1, 7}, 5, ODEV_E_CORRUPT},          /* empty message with a token */
        {{0x50, 0x45, 0, 1, 0xE0, 0xFF, 0xFF, 0xE0, 0xFF, 0xFF}, 10, ODEV_E_CORRUPT}, /* num > 65535 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(dcoap_parse(bad[i].b, bad[i].len, &m), bad[i].e);
    uint8_t many[4 + DCOAP_OPT_MAX + 1] = {0x50, 0x45, 0, 1};
    for (size_t i = 4; i < sizeof many; i++)
        many[i] = 0x10; /* zero-length options 1, 2, ... */
    assert_int_equal(dcoap_parse(many, sizeof many, &m), ODEV_E_LIMIT);
    assert_int_equal(dcoap_parse(many, sizeof many - 1, &m), ODEV_OK);
    struct dcoap_opt o = {DCOAP_OPT_BLOCK2, 4, (const uint8_t *)"\1\2\3\4"};
    struct dcoap_block blk;
    assert_int_equal(dcoap_block_decode(&o, &blk), ODEV_E_CORRUPT);
    o.len = 1;
    o.val = (const uint8_t *)"\x07"; /* SZX 7 */
    assert_int_equal(dcoap_block_decode(&o, &blk), ODEV_E_CORRUPT);
}

/* --- journal ---------------------------------------------------------- */

static void journal_sample(struct djournal *j)
{
    djournal_init(j);
    j->phase = DJ_DOWNLOADING;
    j->slots = DJ_SLOT_CORE | DJ_SLOT_SCRIPT;
    j->flags = DJ_F_REPORT | DJ_F_IMAGES;
    j->report = 7;
    j->block_size = 512;
    j->etag_len = 8;
    memcpy(j->etag, "ETAGETAG", 8);
    j->offset = 4096;
    j->size = 100000;
    j->bitmap = 0x8000000000000006ull & ((1ull << 40) - 1);
    memcpy(j->img.core_name, "Luat", sizeof "Luat");
    memcpy(j->img.chip, "RDA8910", sizeof "RDA8910");
    j->img.core = 17;
    j->img.script[0] = 1;
    j->img.script[1] = 2;
    j->img.script[2] = 3;
    j->img.core_len = 123456;
    j->img.script_len = 789;
    j->from_core = 16;
    j->from_script[2] = 9;
}

static void journal_round_trip(void **state)
{
    (void)state;
    struct djournal j, k;
    uint8_t rec[ODEV_JOURNAL_LEN];
    const char *why = NULL;
    journal_sample(&j);
    djournal_encode(&j, rec);
    assert_int_equal(djournal_decode(rec, sizeof rec, &k, &why), ODEV_OK);
    assert_memory_equal(&j, &k, sizeof j);
    /* any flipped bit is caught */
    for (size_t i = 0; i < sizeof rec; i++) {
        rec[i] ^= 0x10;
        assert_int_equal(djournal_decode(rec, sizeof rec, &k, &why), ODEV_E_CORRUPT);
        assert_int_equal(k.phase, DJ_IDLE);
        rec[i] ^= 0x10;
    }
    assert_int_equal(djournal_decode(rec, sizeof rec - 1, &k, &why), ODEV_E_CORRUPT);
}

/* Records written by ota-client's client/journal.c (format 1) before the
 * client became the library's Linux port (issue 12): the sample below,
 * downloading, and the same with a size beyond 32 bits. Frozen bytes, so
 * the compatibility holds now that the client's encoder is gone. */
static const uint8_t client_rec[ODEV_JOURNAL_LEN] = {
    0x4f, 0x54, 0x41, 0x4a, 0x01, 0x01, 0x03, 0x08, 0x02, 0x00, 0x00, 0x00,
    0x45, 0x54, 0x41, 0x47, 0x45, 0x54, 0x41, 0x47, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x86, 0xa0,
    0x4c, 0x75, 0x61, 0x74, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x52, 0x44, 0x41, 0x38, 0x39, 0x31, 0x30, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x11,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x03,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xda, 0x5b, 0xd1, 0x8e, 0x4a, 0xee, 0x0b, 0x77,
};
static const uint8_t client_rec_wide[ODEV_JOURNAL_LEN] = {
    0x4f, 0x54, 0x41, 0x4a, 0x01, 0x01, 0x03, 0x08, 0x02, 0x00, 0x00, 0x00,
    0x45, 0x54, 0x41, 0x47, 0x45, 0x54, 0x41, 0x47, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00,
    0x4c, 0x75, 0x61, 0x74, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x52, 0x44, 0x41, 0x38, 0x39, 0x31, 0x30, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x11,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x03,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0xe8, 0x50, 0x43, 0x6e, 0xb4, 0x68, 0x58, 0xd4,
};

/* The record is ota-client's format 1: djournal reads a client record and
 * writes the same bytes back. */
static void journal_client_compatible(void **state)
{
    (void)state;
    struct djournal j, k;
    uint8_t rec[ODEV_JOURNAL_LEN];
    const char *why = NULL;
    journal_sample(&j);
    j.flags = 0; /* a client record has no image lengths */
    j.report = 0;
    j.img.core_len = j.img.script_len = 0;
    j.from_core = 0;
    j.from_script[2] = 0;
    djournal_encode(&j, rec);
    assert_memory_equal(rec, client_rec, sizeof rec);
    assert_int_equal(djournal_decode(client_rec, sizeof client_rec, &k, &why), ODEV_OK);
    assert_memory_equal(&j, &k, sizeof j);
    /* a host record beyond 32 bits is refused, not truncated */
    assert_int_equal(djournal_decode(client_rec_wide, sizeof client_rec_wide, &k, &why),
                     ODEV_E_LIMIT);
}

/* --- download --------------------------------------------------------- */

#define T_AREA (256u * 1024u)

struct dlenv {
    struct devsrv srv;
    struct devmem mem;
    struct odev_port port;
    struct odev_config cfg;
    struct ddl dl;
    struct djournal j;
    struct odev_result r;
};

static uint8_t *t_blob(size_t len, uint32_t seed)
{
    uint8_t *p = malloc(len);
    for (size_t i = 0; i < len; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (uint8_t)(seed >> 16);
    }
    return p;
}

/* The journal as a reboot finds it in the flash. */
static struct djournal flash_journal(const uint8_t *journal)
{
    struct djournal j;
    const char *why;
    assert_int_equal(djournal_decode(journal, ODEV_JOURNAL_LEN, &j, &why), ODEV_OK);
    return j;
}

static struct dlenv *dl_setup(const uint8_t *pkg, size_t len, uint32_t erase, unsigned szx)
{
    struct dlenv *e = calloc(1, sizeof *e);
    const uint32_t sizes[ODEV_AREA__COUNT] = {T_AREA, T_AREA, T_AREA, T_AREA};
    devsrv_init(&e->srv, pkg, len);
    devmem_init(&e->mem, &e->srv, sizes, erase);
    devmem_port(&e->mem, &e->port);
    memcpy(e->cfg.imei, "861234567890123", sizeof "861234567890123");
    e->cfg.szx = szx;
    e->cfg.area[ODEV_AREA_DOWNLOAD] = e->mem.geo[ODEV_AREA_DOWNLOAD];
    djournal_init(&e->j);
    return e;
}

static enum odev_err dl_run(struct dlenv *e)
{
    const char *why = "";
    memset(&e->r, 0, sizeof e->r);
    e->r.srv_code = -1;
    ddl_init(&e->dl, &e->port, &e->cfg, 0, 0);
    assert_int_equal(ddl_query_add(&e->dl, "imei", e->cfg.imei), ODEV_OK);
    enum odev_err err = ddl_download(&e->dl, &e->j, &e->r, &why);
    if (err != ODEV_OK)
        print_message("download: %d %s\n", err, why);
    return err;
}

/* Runs the download and checks it ends with exactly pkg, in flash and journal. */
static void dl_run_done(struct dlenv *e, const uint8_t *pkg, size_t len)
{
    assert_int_equal(dl_run(e), ODEV_OK);
    assert_int_equal(e->j.phase, DJ_DOWNLOADED);
    assert_int_equal(e->j.size, len);
    assert_int_equal(e->r.pkg_size, len);
    assert_memory_equal(e->mem.area[ODEV_AREA_DOWNLOAD], pkg, len);
    assert_int_equal(e->mem.bad_writes, 0);
    struct djournal k = flash_journal(e->mem.journal);
    assert_int_equal(k.phase, DJ_DOWNLOADED);
}

static void dl_free(struct dlenv *e)
{
    devmem_free(&e->mem);
    free(e);
}

static void dl_clean_link(void **state)
{
    (void)state;
    size_t len = 100000;
    uint8_t *pkg = t_blob(len, 1);
    struct dlenv *e = dl_setup(pkg, len, 4096, 6);
    dl_run_done(e, pkg, len);
    assert_int_equal(e->r.bytes, len);
    assert_true(e->srv.shorts > 0); /* the short exchange carried the blocks after 0 */
    assert_int_equal(e->r.retx, 0);
    /* the short request's token is the run's base and one kind byte */
    assert_int_equal(e->srv.short_tkl, 5);
    /* 4 header + 5 token + "p" 2 + ETag hex 18, and a Q-Block2 per block
     * (3 bytes from block 16 to 4095), each block asked once */
    assert_int_equal(e->srv.short_bytes, e->srv.shorts * 29 + 2 * 15 + 3 * ((len + 1023) / 1024 - 16));
    dl_free(e);
    /* fota_only: every block on /fota */
    e = dl_setup(pkg, len, 4096, 6);
    e->cfg.fota_only = 1;
    dl_run_done(e, pkg, len);
    assert_int_equal(e->srv.shorts, 0);
    assert_true(e->srv.fota >= (len + 1023) / 1024);
    dl_free(e);
    free(pkg);
}

/* A short request lost on the way up, its burst never answered: its
 * blocks go out again at the first answer to a later request, and the
 * window is not cut (the radio lost it; a full queue drops the end of a
 * burst, never a request). */
static void dl_lost_short_request(void **state)
{
    (void)state;
    size_t len = 100000;
    uint8_t *pkg = t_blob(len, 9);
    struct dlenv *e = dl_setup(pkg, len, 4096, 6);
    e->srv.drop_short = 3;
    dl_run_done(e, pkg, len);
    assert_int_equal(e->srv.lost, 1);
    assert_true(e->r.retx > 0);
    assert_int_equal(e->dl.w.timeouts, 0);
    assert_int_equal(e->dl.w.cuts, 0);
    dl_free(e);
    free(pkg);
}

/* 10 % loss both ways, 20 % reordered, over block and erase sizes, the
 * short exchange or not, window 1; DL_SEEDS=N sweeps N seeds (default 6). */
static void dl_loss_and_reorder(void **state)
{
    (void)state;
    size_t len = 150001;
    uint8_t *pkg = t_blob(len, 2);
    for (uint32_t seed = 1; seed <= (getenv("DL_SEEDS") ? (uint32_t)strtoul(getenv("DL_SEEDS"), NULL, 10) : 6u); seed++) {
        struct dlenv *e = dl_setup(pkg, len, seed % 2 ? 4096 : 256, seed % 3 == 0 ? 4 : 6);
        e->srv.seed = seed;
        e->srv.loss_pct = 10;
        e->srv.reorder_pct = 20;
        e->cfg.fota_only = seed == 5;
        e->cfg.window = seed == 6 ? 1 : 0;
        dl_run_done(e, pkg, len);
        assert_true(e->r.retx > 0);
        dl_free(e);
    }
    free(pkg);
}

static void dl_replaced_mid_download(void **state)
{
    (void)state;
    size_t len = 80000, len2 = 50000;
    uint8_t *pkg = t_blob(len, 3), *pkg2 = t_blob(len2, 4);
    for (int fota_only = 0; fota_only <= 1; fota_only++) {
        struct dlenv *e = dl_setup(pkg, len, 4096, 6);
        e->cfg.fota_only = fota_only;
        devsrv_replace(&e->srv, pkg2, len2, 30); /* shorter: 4.02 or a new ETag */
        dl_run_done(e, pkg2, len2);
        dl_free(e);
    }
    free(pkg);
    free(pkg2);
}

/* A cut: the link dies after n answers and the journal lost every save
 * after the first `saves` ones, so the flash holds blocks the journal does
 * not know of. The resume must erase before writing them again (NOR:
 * bad_writes stays 0) and fetch only what it cannot keep. */
static void dl_resume_after_cut(void **state)
{
    (void)state;
    size_t len = 200000;
    uint8_t *pkg = t_blob(len, 5);
    static const struct {
        uint32_t erase;
        unsigned szx;
        long answers, saves;
    } cases[] = {
        {4096, 6, 60, 1}, {4096, 6, 60, 2}, {4096, 4, 300, 3}, {256, 6, 100, 4}, {1, 6, 70, -1}, {65536, 5, 250, 7},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct dlenv *e = dl_setup(pkg, len, cases[i].erase, cases[i].szx);
        e->srv.drop_after = cases[i].answers;
        e->srv.reorder_pct = 30;
        e->cfg.block_timeout_ms = 20000;
        e->mem.jsave_limit = cases[i].saves;
        assert_int_equal(dl_run(e), ODEV_E_NET);
        assert_int_equal(e->r.status, ODEV_S_NET);
        /* what the flash holds, as a device reboot finds it */
        e->j = flash_journal(e->mem.journal);
        assert_int_equal(e->j.phase, DJ_DOWNLOADING);
        uint32_t claimed = e->j.offset;
        assert_memory_equal(e->mem.area[ODEV_AREA_DOWNLOAD], pkg, claimed);
        e->srv.drop_after = -1;
        e->mem.jsave_limit = -1;
        dl_run_done(e, pkg, len);
        assert_true(cases[i].saves == 1 || e->r.bytes < len);
        assert_true(e->r.bytes <= len - claimed + cases[i].erase + (64u << 10));
        dl_free(e);
    }
    free(pkg);
}

/* The server answers in smaller blocks than asked (its block_size). */
static void dl_smaller_blocks(void **state)
{
    (void)state;
    size_t len = 70000;
    uint8_t *pkg = t_blob(len, 6);
    struct dlenv *e = dl_setup(pkg, len, 4096, 6);
    e->srv.szx_max = 4;
    dl_run_done(e, pkg, len);
    assert_int_equal(e->mem.events[ODEV_EV_SMALLER_BLOCKS], 1); /* the port's log is told */
    dl_free(e);
    free(pkg);
}

static void dl_busy_then_ok(void **state)
{
    (void)state;
    size_t len = 5000;
    uint8_t *pkg = t_blob(len, 7);
    struct dlenv *e = dl_setup(pkg, len, 4096, 6);
    e->srv.busy = 2;
    e->srv.max_age = 5;
    dl_run_done(e, pkg, len);
    assert_true(e->srv.now >= 10000);
    dl_free(e);
    free(pkg);
}

static void dl_refusals(void **state)
{
    (void)state;
    size_t len = 5000;
    uint8_t *pkg = t_blob(len, 8);
    struct dlenv *e = dl_setup(NULL, 0, 4096, 6); /* nothing newer: 4.04 code 27 */
    assert_int_equal(dl_run(e), ODEV_E_NOTFOUND);
    assert_int_equal(e->r.status, ODEV_S_NO_UPDATE);
    assert_int_equal(e->r.srv_code, 27);
    dl_free(e);
    e = dl_setup(pkg, len, 4096, 6); /* no server at all */
    e->srv.drop_after = 0;
    e->cfg.block_timeout_ms = 10000;
    assert_int_equal(dl_run(e), ODEV_E_NET);
    assert_int_equal(e->r.status, ODEV_S_NET);
    dl_free(e);
    uint8_t *huge = t_blob(T_AREA + 1, 9); /* larger than the area */
    e = dl_setup(huge, T_AREA + 1, 4096, 6);
    assert_int_equal(dl_run(e), ODEV_E_LIMIT);
    dl_free(e);
    free(huge);
    free(pkg);
}

/* --- the whole update: 0017 -> 0020 with the release's real images ---- */

#define REL "tests/data/release/"
#define U_AREA (512u * 1024u)

static uint8_t sec[CRYPTO_SEC_LEN], pub[CRYPTO_PUB_LEN], other_sec[CRYPTO_SEC_LEN],
    other_pub[CRYPTO_PUB_LEN];

struct blob {
    uint8_t *p;
    size_t len;
};

static struct blob rel_file(const char *path)
{
    struct blob b;
    char msg[OTA_MSG_LEN];
    assert_int_equal(io_file_read_all(path, 4u << 20, &b.p, &b.len, msg), OTA_OK);
    return b;
}

struct uenv {
    struct blob core17, core20, s100, s110, pkg;
    struct devsrv srv;
    struct devmem mem;
    struct odev_port port;
    struct odev_config cfg;
    struct odev d;
    struct odev_result r;
};

/* A delta package 0017 -> 0020 with script 1.0.0 -> 1.1.0, signed by key. */
static struct blob make_pkg(struct uenv *u, const uint8_t *key, const char *project, int wbits)
{
    struct pkg_build_input in;
    struct io_writer w;
    struct pkg_header h;
    size_t cap = u->core20.len + u->s110.len + 65536;
    struct io_mem_sink sink = {malloc(cap), cap, 0};
    char msg[OTA_MSG_LEN] = "";
    memset(&in, 0, sizeof in);
    ota_strlcpy(in.tmpl.project, project, sizeof in.tmpl.project);
    ota_strlcpy(in.tmpl.core_name, "Luat", sizeof in.tmpl.core_name);
    ota_strlcpy(in.tmpl.chip, "RDA8910", sizeof in.tmpl.chip);
    in.tmpl.flags = PKG_F_CORE_DELTA | PKG_F_SCRIPT;
    in.tmpl.from_core = 17;
    in.tmpl.to_core = 20;
    in.tmpl.script = (struct ver_script){1, 1, 0};
    in.old_core = u->core17.p;
    in.old_core_len = u->core17.len;
    in.new_core = u->core20.p;
    in.new_core_len = u->core20.len;
    in.script = u->s110.p;
    in.script_len = u->s110.len;
    in.window_bits = wbits;
    in.secret_key = key;
    io_mem_writer(&w, &sink);
    assert_int_equal(pkg_build(&in, &w, &h, msg), OTA_OK);
    return (struct blob){sink.buf, sink.len};
}

static struct uenv *u_setup(int wbits)
{
    struct uenv *u = calloc(1, sizeof *u);
    const uint32_t sizes[ODEV_AREA__COUNT] = {U_AREA, U_AREA, U_AREA, 64u * 1024u};
    u->core17 = rel_file(REL "shipped/Luat_V0017_RDA8910.bin");
    u->core20 = rel_file(REL "core_Luat_V0020_RDA8910.bin");
    u->s100 = rel_file(REL "script/script_1.0.0.bin");
    u->s110 = rel_file(REL "script/script_1.1.0.bin");
    u->pkg = make_pkg(u, sec, "DEV_PROJ", wbits);
    devsrv_init(&u->srv, u->pkg.p, u->pkg.len);
    devmem_init(&u->mem, &u->srv, sizes, 4096);
    devmem_port(&u->mem, &u->port);
    devmem_load(&u->mem, ODEV_AREA_CORE, u->core17.p, u->core17.len);
    devmem_load(&u->mem, ODEV_AREA_SCRIPT, u->s100.p, u->s100.len);
    struct odev_config *c = &u->cfg;
    memcpy(c->project, "DEV_PROJ", sizeof "DEV_PROJ");
    memcpy(c->product_key, "pk", sizeof "pk");
    memcpy(c->imei, "861234567890123", sizeof "861234567890123");
    memcpy(c->factory.core_name, "Luat", sizeof "Luat");
    memcpy(c->factory.chip, "RDA8910", sizeof "RDA8910");
    c->factory.core = 17;
    c->factory.script[0] = 1;
    c->factory.core_len = (uint32_t)u->core17.len;
    c->factory.script_len = (uint32_t)u->s100.len;
    memcpy(c->pubkeys[0], other_pub, sizeof pub);
    memcpy(c->pubkeys[1], pub, sizeof pub);
    c->npubkeys = 2;
    c->szx = 6;
    for (int a = 0; a < ODEV_AREA__COUNT; a++)
        c->area[a] = u->mem.geo[a];
    return u;
}

static void u_free(struct uenv *u)
{
    free(u->core17.p);
    free(u->core20.p);
    free(u->s100.p);
    free(u->s110.p);
    free(u->pkg.p);
    devmem_free(&u->mem);
    free(u);
}

static enum odev_err u_update(struct uenv *u)
{
    assert_int_equal(odev_init(&u->d, &u->cfg, &u->port), ODEV_OK);
    enum odev_err e = odev_update(&u->d, &u->r);
    if (e != ODEV_OK)
        print_message("update: %d %s: %s\n", e, odev_status_phrase(u->r.status), u->r.reason);
    return e;
}

static void u_check_old(struct uenv *u)
{
    assert_memory_equal(u->mem.area[ODEV_AREA_CORE], u->core17.p, u->core17.len);
    assert_memory_equal(u->mem.area[ODEV_AREA_SCRIPT], u->s100.p, u->s100.len);
    assert_int_equal(odev_running(&u->d)->core, 17);
}

static void u_check_new(struct uenv *u)
{
    assert_memory_equal(u->mem.area[ODEV_AREA_CORE], u->core20.p, u->core20.len);
    assert_memory_equal(u->mem.area[ODEV_AREA_SCRIPT], u->s110.p, u->s110.len);
    const struct odev_image *run = odev_running(&u->d);
    assert_int_equal(run->core, 20);
    assert_int_equal(run->script[1], 1);
    assert_int_equal(run->core_len, u->core20.len);
    assert_int_equal(run->script_len, u->s110.len);
}

static void update_0017_to_0020(void **state)
{
    (void)state;
    for (int wbits = 9; wbits <= ODEV_WINDOW_BITS_MAX; wbits += 6) {
        struct uenv *u = u_setup(wbits);
        assert_int_equal(u_update(u), ODEV_OK);
        assert_int_equal(u->r.status, ODEV_S_UPDATED);
        u_check_new(u);
        assert_int_equal(u->mem.bad_writes, 0);
        assert_int_equal(u->mem.installed_calls, 1);
        assert_int_equal(u->mem.installed.core, 20);
        /* the link figures a port logs: every block asked once on a clean link */
        struct odev_link_stats ls;
        struct odev_progress pr;
        odev_link_stats(&u->d, &ls);
        odev_progress(&u->d, &pr);
        assert_int_equal(ls.sent, (u->pkg.len + pr.block_was - 1) / pr.block_was);
        assert_int_equal(ls.retx, u->r.retx);
        assert_int_equal(ls.retx + ls.cuts + ls.timeouts + ls.busy, 0);
        assert_true(ls.srtt > 0 && ls.rtt_min > 0 && ls.rtt_min <= ls.srtt);
        assert_true(ls.cwnd_peak >= ls.cwnd && ls.window_max > 0);
        /* flash programs: a block each for the download, whole 512-byte
         * pages for the apply and for the commit's copy (not the delta's
         * record-sized pieces: 33,477 programs before) */
        unsigned long pages = (u->core20.len + 511) / 512 + (u->s110.len + 511) / 512;
        assert_true(u->mem.writes <= ls.sent + 2 * pages + 4);
        /* the success report went out and is no longer pending */
        assert_int_equal(u->srv.reports, 1);
        assert_non_null(strstr(u->srv.report, "\"from_core\":\"Luat_V0017_RDA8910\""));
        assert_non_null(strstr(u->srv.report, "\"to_core\":\"Luat_V0020_RDA8910\""));
        assert_non_null(strstr(u->srv.report, "\"to_script\":\"1.1.0\",\"result\":0"));
        struct djournal j = flash_journal(u->mem.journal);
        assert_int_equal(j.phase, DJ_IDLE);
        assert_int_equal(j.flags, DJ_F_IMAGES);
        /* a reboot knows the new images from the journal; nothing newer now */
        devsrv_init(&u->srv, NULL, 0);
        assert_int_equal(odev_init(&u->d, &u->cfg, &u->port), ODEV_OK);
        u_check_new(u);
        assert_int_equal(odev_check(&u->d, &u->r), ODEV_E_NOTFOUND);
        assert_int_equal(u->r.status, ODEV_S_NO_UPDATE);
        assert_true(strstr(u->srv.report, "core_version") == NULL);
        u_free(u);
    }
}

static void update_check_names_target(void **state)
{
    (void)state;
    struct uenv *u = u_setup(15);
    assert_int_equal(odev_init(&u->d, &u->cfg, &u->port), ODEV_OK);
    assert_int_equal(odev_check(&u->d, &u->r), ODEV_OK);
    assert_int_equal(u->r.status, ODEV_S_AVAILABLE);
    assert_int_equal(u->r.to.core, 20);
    assert_int_equal(u->r.pkg_size, u->pkg.len);
    u_check_old(u);
    u_free(u);
}

/* The link dies mid-download; the next run resumes and installs. */
static void update_resumes(void **state)
{
    (void)state;
    struct uenv *u = u_setup(15);
    u->cfg.szx = 4; /* 256-byte blocks: the small delta package takes a few hundred */
    u->srv.drop_after = (long)u->pkg.len / 256 / 2;
    u->cfg.block_timeout_ms = 20000;
    assert_int_equal(u_update(u), ODEV_E_NET);
    assert_int_equal(u->r.status, ODEV_S_NET);
    u_check_old(u);
    u->srv.drop_after = -1;
    u->mem.dev = &u->d;
    assert_int_equal(u_update(u), ODEV_OK);
    assert_true(u->r.bytes < u->pkg.len);
    u_check_new(u);
    /* the resume is an event with its numbers readable in the log hook */
    assert_int_equal(u->mem.events[ODEV_EV_RESUME], 1);
    assert_int_equal(u->mem.resume_progress.size, u->pkg.len);
    assert_true(u->mem.resume_progress.at > 0);
    assert_true(u->mem.resume_progress.at + u->r.bytes >= u->pkg.len);
    u_free(u);
}

/* Refused packages: old images kept, the failure reported. */
static void update_refusals(void **state)
{
    (void)state;
    for (int k = 0; k < 4; k++) {
        struct uenv *u = u_setup(15);
        if (k == 0) { /* signed by a key the device does not hold */
            free(u->pkg.p);
            u->pkg = make_pkg(u, other_sec, "DEV_PROJ", 15);
            u->cfg.npubkeys = 1;
            memcpy(u->cfg.pubkeys[0], pub, sizeof pub);
            u->pkg.p[u->pkg.len - 1] ^= 1; /* and its signature is bad anyway */
        } else if (k == 1) { /* another core line */
            memcpy(u->cfg.factory.core_name, "Other", sizeof "Other");
        } else if (k == 2) { /* truncated: the header no longer fits the size */
            u->pkg.len -= 100;
        } else { /* a flipped byte: the signature fails after the download */
            u->pkg.p[u->pkg.len / 2] ^= 0x40;
        }
        devsrv_init(&u->srv, u->pkg.p, u->pkg.len);
        assert_int_equal(u_update(u), k == 2 ? ODEV_E_CORRUPT : ODEV_E_AUTH);
        assert_int_equal(u->r.status, ODEV_S_VERIFY);
        assert_int_equal(u->r.refusal, k == 0 ? ODEV_R_KEY : k == 1 ? ODEV_R_CORE : ODEV_R_NONE);
        assert_memory_equal(u->mem.area[ODEV_AREA_CORE], u->core17.p, u->core17.len);
        assert_memory_equal(u->mem.area[ODEV_AREA_SCRIPT], u->s100.p, u->s100.len);
        assert_int_equal(u->srv.reports, 1);
        assert_non_null(strstr(u->srv.report, "\"result\":4"));
        assert_non_null(strstr(u->srv.report, "\"bytes\":")); /* this run's report */
        if (k == 0) /* the key that signed it, in hex, for the operator */
            assert_non_null(strstr(u->srv.report, "\"reason\":\"unknown signing key (key id "));
        if (k == 1)
            assert_non_null(strstr(u->srv.report, "\"reason\":\"another core or chip\""));
        if (k < 3) /* refused at the header: the rest was not fetched */
            assert_true(u->r.bytes < u->pkg.len / 2);
        struct djournal j = flash_journal(u->mem.journal);
        assert_int_equal(j.phase, DJ_IDLE);
        assert_int_equal(j.flags & DJ_F_REPORT, 0);
        u_free(u);
    }
}

/* The report waits in the journal while the server cannot take it. */
static void update_report_pending(void **state)
{
    (void)state;
    struct uenv *u = u_setup(15);
    u->pkg.p[u->pkg.len / 2] ^= 0x40;
    devsrv_init(&u->srv, u->pkg.p, u->pkg.len);
    u->srv.drop_after = (long)(u->pkg.len + 1023) / 1024; /* every block, no report answer */
    u->cfg.block_timeout_ms = 20000;
    assert_int_equal(u_update(u), ODEV_E_AUTH);
    assert_int_equal(u->srv.reports, DDL_REPORT_ATTEMPTS);
    struct djournal j = flash_journal(u->mem.journal);
    assert_int_equal(j.flags & DJ_F_REPORT, DJ_F_REPORT);
    assert_int_equal(j.report, 4);
    assert_int_equal(j.reason, ODEV_R_SIGNATURE);
    devsrv_init(&u->srv, NULL, 0); /* next run: nothing newer, but the report goes */
    assert_int_equal(odev_init(&u->d, &u->cfg, &u->port), ODEV_OK);
    assert_int_equal(odev_check(&u->d, &u->r), ODEV_E_NOTFOUND);
    assert_int_equal(u->srv.reports, 1);
    assert_non_null(strstr(u->srv.report, "\"result\":4"));
    /* the earlier run's reason by its code; its bytes, time and target
     * went with it, this run's must not stand in for them */
    assert_non_null(strstr(u->srv.report, "\"reason\":\"bad signature or hash\""));
    assert_null(strstr(u->srv.report, "\"bytes\""));
    assert_null(strstr(u->srv.report, "\"seconds\""));
    assert_null(strstr(u->srv.report, "\"to_core\""));
    j = flash_journal(u->mem.journal);
    assert_int_equal(j.flags & DJ_F_REPORT, 0);
    u_free(u);
}

/* A clock that starts at the same value at every boot: the boot counter
 * in the journal still gives each run its own token base. */
static void update_token_base_per_boot(void **state)
{
    (void)state;
    struct uenv *u = u_setup(15);
    uint8_t base[3][4];
    for (int run = 0; run < 3; run++) {
        devsrv_init(&u->srv, NULL, 0); /* clock back to 0 */
        assert_int_equal(odev_init(&u->d, &u->cfg, &u->port), ODEV_OK);
        assert_int_equal(odev_check(&u->d, &u->r), ODEV_E_NOTFOUND);
        memcpy(base[run], u->d.dl.token_base, 4);
    }
    assert_memory_not_equal(base[0], base[1], 4);
    assert_memory_not_equal(base[1], base[2], 4);
    /* two runs in one boot differ by the run number */
    devsrv_init(&u->srv, NULL, 0);
    assert_int_equal(odev_check(&u->d, &u->r), ODEV_E_NOTFOUND);
    assert_memory_not_equal(base[2], u->d.dl.token_base, 4);
    struct djournal j = flash_journal(u->mem.journal);
    assert_int_equal(j.boots, 3);
    u_free(u);
}

/* A cut during the commit (journal says committing, slots half copied):
 * recovery finishes it from STAGING. */
static void update_commit_recovered(void **state)
{
    (void)state;
    struct uenv *u = u_setup(15);
    assert_int_equal(u_update(u), ODEV_OK);
    /* replay: the committing record, a core slot half overwritten */
    struct djournal j = flash_journal(u->mem.journal);
    j.phase = DJ_COMMITTING;
    j.slots = DJ_SLOT_CORE | DJ_SLOT_SCRIPT;
    j.from_core = 17;
    djournal_encode(&j, u->mem.journal);
    memset(u->mem.area[ODEV_AREA_CORE] + 8192, 0xFF, 4096);
    memcpy(u->mem.area[ODEV_AREA_CORE] + 100000, u->core17.p + 100000, 4096);
    assert_int_equal(odev_init(&u->d, &u->cfg, &u->port), ODEV_OK);
    assert_int_equal(odev_recover(&u->d), ODEV_OK);
    u_check_new(u);
    assert_int_equal(u->mem.bad_writes, 0);
    j = flash_journal(u->mem.journal);
    assert_int_equal(j.phase, DJ_IDLE);
    u_free(u);
}

/* A port that installs staged images itself (the Linux port renames). */
static int port_install(void *ctx, enum odev_area slot, uint32_t off, uint32_t len)
{
    struct devmem *m = ctx;
    memset(m->area[slot], 0xFF, m->geo[slot].size);
    memcpy(m->area[slot], m->area[ODEV_AREA_STAGING] + off, len);
    m->installed_calls += 100;
    return ODEV_OK;
}

static void update_port_installs(void **state)
{
    (void)state;
    struct uenv *u = u_setup(15);
    u->port.install = port_install;
    assert_int_equal(u_update(u), ODEV_OK);
    u_check_new(u);
    assert_int_equal(u->mem.installed_calls, 201); /* core, script, then the hook */
    u_free(u);
}

/* check waits out a 5.03 (Max-Age) and then names the offer. */
static void check_waits_busy(void **state)
{
    (void)state;
    struct uenv *u = u_setup(15);
    u->srv.busy = 2;
    u->srv.max_age = 7;
    assert_int_equal(odev_init(&u->d, &u->cfg, &u->port), ODEV_OK);
    assert_int_equal(odev_check(&u->d, &u->r), ODEV_OK);
    assert_int_equal(u->r.status, ODEV_S_AVAILABLE);
    assert_true(u->srv.now >= 14000);
    u->srv.busy = 1000; /* busy for good: gives up after DDL_BUSY_RETRIES, a network status */
    u->cfg.max_wait_ms = 2000;
    assert_int_equal(odev_init(&u->d, &u->cfg, &u->port), ODEV_OK);
    assert_int_not_equal(odev_check(&u->d, &u->r), ODEV_OK);
    assert_int_equal(u->r.status, ODEV_S_NET);
    assert_int_equal(u->r.coap_code, 503);
    assert_int_equal(u->r.srv_code, 43);
    u_free(u);
}

static void update_state_size(void **state)
{
    (void)state;
    print_message("sizeof(struct odev) = %zu (window bits %d)\n", sizeof(struct odev),
                  ODEV_WINDOW_BITS_MAX);
    assert_true(sizeof(struct odev) < (48u << 10));
}

static int suite_setup(void **state)
{
    (void)state;
    if (crypto_init(NULL) != OTA_OK)
        return -1;
    crypto_sign_keypair(pub, sec);
    crypto_sign_keypair(other_pub, other_sec);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(coap_round_trip),
        cmocka_unit_test(coap_builder_errors),
        cmocka_unit_test(coap_malformed),
        cmocka_unit_test(journal_round_trip),
        cmocka_unit_test(journal_client_compatible),
        cmocka_unit_test(dl_clean_link),
        cmocka_unit_test(dl_lost_short_request),
        cmocka_unit_test(dl_loss_and_reorder),
        cmocka_unit_test(dl_replaced_mid_download),
        cmocka_unit_test(dl_resume_after_cut),
        cmocka_unit_test(dl_smaller_blocks),
        cmocka_unit_test(dl_busy_then_ok),
        cmocka_unit_test(dl_refusals),
        cmocka_unit_test(update_0017_to_0020),
        cmocka_unit_test(update_check_names_target),
        cmocka_unit_test(update_resumes),
        cmocka_unit_test(update_refusals),
        cmocka_unit_test(update_report_pending),
        cmocka_unit_test(update_token_base_per_boot),
        cmocka_unit_test(update_commit_recovered),
        cmocka_unit_test(update_port_installs),
        cmocka_unit_test(check_waits_busy),
        cmocka_unit_test(update_state_size),
    };
    return cmocka_run_group_tests(tests, suite_setup, NULL);
}
