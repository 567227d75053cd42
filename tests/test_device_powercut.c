/* test_device_powercut.c - every power cut of a device update survived.
 *
 * A real update, core 0017 + script 1.0.0 -> core 0020 + script 1.1.0 (the
 * delta + script package built from tests/data/release), runs through the
 * device library against the in-process fake server (tests/devsrv: virtual
 * clock, no sockets) on the power-cutting flash port (tests/devflash: NOR,
 * volatile until sync, torn writes and erases, two-slot journal).
 *
 * One uninterrupted update counts T, the flash operations of a boot that
 * recovers, updates and commits. Then for each cut point N: a fresh device
 * boots with the cut at N and updates until the power goes; the next boot
 * (a new struct odev on the same flash: odev_init + odev_recover) must find
 * the CORE and SCRIPT slots holding the complete old pair or the complete
 * new pair, byte for byte, durable (nothing unsynced), and odev_running()
 * must say which; a mixed pair is a brick. Then an update without cuts must
 * end with the new pair, and no NOR rule may have been broken. For a sample
 * of N that next boot is itself cut at a few M (evenly spread over its
 * recovery and the update after it), and a third boot must satisfy the
 * same.
 *
 * Modes (argv): none = the seeded subset `make test` runs (see
 * every_power_cut: about 70 N, half of them in the commit, about 4 s of
 * CPU under ASan); --all = every N (`make stress-powercut`); --seed S,
 * --stride K change the subset; --shard I/K keeps the N with N % K == I
 * (to split --all over processes; the counts add up); --erase BYTES sets
 * the erase block of every area (default 4096); --write-through makes
 * every write durable at once (plain NOR, no volatile layer). The last
 * line is the count quoted by the closing note:
 *   powercut: T=.. tried=.. bricked=0 old=.. new=.. second_cuts=.. ...
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "devflash.h"
#include "devsrv.h"
#include "io.h"
#include "ota.h"
#include "pkg.h"

#define REL "tests/data/release/"

static struct pc_opts {
    int all;
    uint64_t seed;
    uint32_t stride;
    uint32_t shard, shards; /* --shard I/K: only N with N % K == I */
    uint32_t erase;         /* erase block of every area */
    int write_through;      /* devflash without its volatile layer */
} opts = {0, 12, 0, 0, 1, DEVFLASH_ERASE_DEFAULT, 0};
#define PC_ERASE opts.erase

/* ---- the release: images and the signed package ---------------------- */

struct pc_image {
    uint8_t *buf;
    size_t len;
};

static struct pc_release {
    struct pc_image old_core, new_core, old_script, new_script, pkg;
    uint8_t pub[CRYPTO_PUB_LEN];
} rel;

static void pc_read(struct pc_image *im, const char *path)
{
    char msg[256] = "";
    enum ota_err e = io_file_read_all(path, 1u << 24, &im->buf, &im->len, msg);
    if (e != OTA_OK)
        fail_msg("%s: %s", path, msg);
}

static void pc_release_build(void)
{
    uint8_t sec[CRYPTO_SEC_LEN];
    char msg[256] = "";
    pc_read(&rel.old_core, REL "shipped/Luat_V0017_RDA8910.bin");
    pc_read(&rel.new_core, REL "core_Luat_V0020_RDA8910.bin");
    pc_read(&rel.old_script, REL "script/script_1.0.0.bin");
    pc_read(&rel.new_script, REL "script/script_1.1.0.bin");
    assert_int_equal(crypto_init(NULL), OTA_OK);
    crypto_sign_keypair(rel.pub, sec);
    struct pkg_build_input in;
    memset(&in, 0, sizeof in);
    ota_strlcpy(in.tmpl.project, "MY_PROJ", sizeof in.tmpl.project);
    ota_strlcpy(in.tmpl.core_name, "Luat", sizeof in.tmpl.core_name);
    ota_strlcpy(in.tmpl.chip, "RDA8910", sizeof in.tmpl.chip);
    in.tmpl.flags = PKG_F_CORE_DELTA | PKG_F_SCRIPT;
    in.tmpl.from_core = 17;
    in.tmpl.to_core = 20;
    in.tmpl.script.major = 1;
    in.tmpl.script.minor = 1;
    in.old_core = rel.old_core.buf;
    in.old_core_len = rel.old_core.len;
    in.new_core = rel.new_core.buf;
    in.new_core_len = rel.new_core.len;
    in.script = rel.new_script.buf;
    in.script_len = rel.new_script.len;
    in.window_bits = 9;
    in.secret_key = sec;
    size_t cap = rel.new_core.len + rel.new_script.len + 4096;
    struct io_mem_sink sink = {malloc(cap), cap, 0};
    struct io_writer w;
    struct pkg_header h;
    io_mem_writer(&w, &sink);
    if (pkg_build(&in, &w, &h, msg) != OTA_OK)
        fail_msg("package: %s", msg);
    rel.pkg.buf = sink.buf;
    rel.pkg.len = sink.len;
}

static void pc_release_free(void)
{
    free(rel.old_core.buf);
    free(rel.new_core.buf);
    free(rel.old_script.buf);
    free(rel.new_script.buf);
    free(rel.pkg.buf);
}

/* ---- the board: flash + fake server + the library -------------------- */

static uint32_t pc_round_up(size_t n)
{
    return (uint32_t)((n + PC_ERASE - 1) / PC_ERASE * PC_ERASE);
}

struct pc_board {
    struct devflash flash;
    struct devsrv srv;
    struct odev_port port;
    struct odev_config cfg;
    struct odev dev;
    /* op count at which each journal phase was first saved (0 = never) */
    uint32_t phase_op[DJ__COUNT];
    int lying_sync; /* a control: sync says done and does nothing */
};

static int pc_journal_save(void *ctx, const uint8_t rec[ODEV_JOURNAL_LEN])
{
    struct pc_board *b = ctx;
    struct djournal j;
    const char *why;
    int r = devflash_journal_save(&b->flash, rec);
    if (r == ODEV_OK && djournal_decode(rec, ODEV_JOURNAL_LEN, &j, &why) == ODEV_OK && j.phase < DJ__COUNT &&
        !b->phase_op[j.phase])
        b->phase_op[j.phase] = b->flash.st.ops;
    return r;
}

static int pc_read_port(void *ctx, enum odev_area a, uint32_t off, void *buf, size_t len)
{
    return devflash_read(&((struct pc_board *)ctx)->flash, a, off, buf, len);
}
static int pc_write_port(void *ctx, enum odev_area a, uint32_t off, const void *buf, size_t len)
{
    return devflash_write(&((struct pc_board *)ctx)->flash, a, off, buf, len);
}
static int pc_erase_port(void *ctx, enum odev_area a, uint32_t off, uint32_t len)
{
    return devflash_erase(&((struct pc_board *)ctx)->flash, a, off, len);
}
static int pc_sync_port(void *ctx, enum odev_area a)
{
    struct pc_board *b = ctx;
    return b->lying_sync ? ODEV_OK : devflash_sync(&b->flash, a);
}
static int pc_journal_load(void *ctx, uint8_t rec[ODEV_JOURNAL_LEN])
{
    return devflash_journal_load(&((struct pc_board *)ctx)->flash, rec);
}

/* The link: straight into the fake server, on its virtual clock. */
static int pc_send(void *ctx, const uint8_t *buf, size_t len)
{
    devsrv_input(&((struct pc_board *)ctx)->srv, buf, len);
    return ODEV_OK;
}
static int pc_recv(void *ctx, uint8_t *buf, size_t cap, size_t *len, uint32_t wait_ms)
{
    return devsrv_output(&((struct pc_board *)ctx)->srv, buf, cap, len, wait_ms) ? ODEV_OK : ODEV_E_TIMEOUT;
}
static uint32_t pc_now(void *ctx)
{
    return ((struct pc_board *)ctx)->srv.now;
}

static void pc_config(struct odev_config *c)
{
    memset(c, 0, sizeof *c);
    ota_strlcpy(c->project, "MY_PROJ", sizeof c->project);
    ota_strlcpy(c->product_key, "pk", sizeof c->product_key);
    ota_strlcpy(c->imei, "860000000000001", sizeof c->imei);
    ota_strlcpy(c->factory.core_name, "Luat", sizeof c->factory.core_name);
    ota_strlcpy(c->factory.chip, "RDA8910", sizeof c->factory.chip);
    c->factory.core = 17;
    c->factory.script[0] = 1;
    c->factory.core_len = (uint32_t)rel.old_core.len;
    c->factory.script_len = (uint32_t)rel.old_script.len;
    memcpy(c->pubkeys[0], rel.pub, ODEV_PUBKEY_LEN);
    c->npubkeys = 1;
    c->szx = 6;
    c->window = 4;
    c->area[ODEV_AREA_DOWNLOAD] = (struct odev_geometry){pc_round_up(rel.pkg.len) + PC_ERASE, PC_ERASE};
    c->area[ODEV_AREA_STAGING] =
        (struct odev_geometry){pc_round_up(rel.new_core.len) + pc_round_up(rel.new_script.len) + PC_ERASE, PC_ERASE};
    c->area[ODEV_AREA_CORE] = (struct odev_geometry){pc_round_up(rel.new_core.len) + PC_ERASE, PC_ERASE};
    c->area[ODEV_AREA_SCRIPT] = (struct odev_geometry){pc_round_up(rel.new_script.len) + PC_ERASE, PC_ERASE};
}

/* A device fresh from the factory: old core and script, no journal. */
static struct pc_board *pc_board_new(uint64_t seed)
{
    struct pc_board *b = calloc(1, sizeof *b);
    assert_non_null(b);
    pc_config(&b->cfg);
    struct devflash_config fc;
    memset(&fc, 0, sizeof fc);
    memcpy(fc.area, b->cfg.area, sizeof fc.area);
    fc.seed = seed;
    fc.write_through = opts.write_through;
    assert_int_equal(devflash_init(&b->flash, &fc), ODEV_OK);
    assert_int_equal(devflash_load(&b->flash, ODEV_AREA_CORE, 0, rel.old_core.buf, rel.old_core.len), ODEV_OK);
    assert_int_equal(devflash_load(&b->flash, ODEV_AREA_SCRIPT, 0, rel.old_script.buf, rel.old_script.len), ODEV_OK);
    devsrv_init(&b->srv, rel.pkg.buf, rel.pkg.len);
    b->port.ctx = b;
    b->port.send = pc_send;
    b->port.recv = pc_recv;
    b->port.now_ms = pc_now;
    b->port.read = pc_read_port;
    b->port.write = pc_write_port;
    b->port.erase = pc_erase_port;
    b->port.sync = pc_sync_port;
    b->port.journal_load = pc_journal_load;
    b->port.journal_save = pc_journal_save;
    return b;
}

/* A second board on a copy of b's flash (same cut state), own server. */
static struct pc_board *pc_board_clone(const struct pc_board *b)
{
    struct pc_board *c = pc_board_new(0);
    devflash_free(&c->flash);
    assert_int_equal(devflash_copy(&c->flash, &b->flash), ODEV_OK);
    return c;
}

static void pc_board_free(struct pc_board *b)
{
    devflash_free(&b->flash);
    free(b);
}

/* Power on with the cut at cut_at (0 = none) and odev_init. */
static enum odev_err pc_power_on(struct pc_board *b, uint32_t cut_at, uint64_t salt)
{
    devflash_power_on(&b->flash, cut_at, salt);
    memset(b->phase_op, 0, sizeof b->phase_op);
    memset(&b->dev, 0, sizeof b->dev);
    return odev_init(&b->dev, &b->cfg, &b->port);
}

/* A boot: power on, init + recover. Returns recover's result (ODEV_E_IO
 * when the power went). */
static enum odev_err pc_boot(struct pc_board *b, uint32_t cut_at, uint64_t salt)
{
    enum odev_err e = pc_power_on(b, cut_at, salt);
    if (e != ODEV_OK && b->flash.dead)
        return e;
    return odev_recover(&b->dev);
}

/* odev_update; the server offers the package to core 0017 only (its
 * selection: nothing newer for 0020). */
static enum odev_status pc_update(struct pc_board *b)
{
    struct odev_result r;
    memset(&r, 0, sizeof r);
    if (odev_running(&b->dev)->core == 20) {
        b->srv.pkg = NULL;
        b->srv.pkg_len = 0;
    }
    odev_update(&b->dev, &r);
    return r.status;
}

/* ---- the invariant ----------------------------------------------------- */

enum pc_outcome { PC_OLD, PC_NEW, PC_BRICK };

static int pc_holds(const struct pc_board *b, enum odev_area a, const struct pc_image *im)
{
    return b->flash.area[a].size >= im->len && memcmp(devflash_peek(&b->flash, a), im->buf, im->len) == 0;
}

/* After a recovery: both slots old or both new, durable, and the library
 * saying the same; anything else is a brick (why says what). */
static enum pc_outcome pc_judge(const struct pc_board *b, const char **why)
{
    int core_old = pc_holds(b, ODEV_AREA_CORE, &rel.old_core), core_new = pc_holds(b, ODEV_AREA_CORE, &rel.new_core);
    int script_old = pc_holds(b, ODEV_AREA_SCRIPT, &rel.old_script);
    int script_new = pc_holds(b, ODEV_AREA_SCRIPT, &rel.new_script);
    const struct odev_image *run = odev_running(&b->dev);
    *why = "";
    if (devflash_unsynced(&b->flash, ODEV_AREA_CORE) || devflash_unsynced(&b->flash, ODEV_AREA_SCRIPT)) {
        *why = "recovery left slot data unsynced";
        return PC_BRICK;
    }
    if (core_old && script_old) {
        if (run->core != 17 || run->core_len != rel.old_core.len || run->script_len != rel.old_script.len) {
            *why = "old pair in the slots, odev_running says otherwise";
            return PC_BRICK;
        }
        return PC_OLD;
    }
    if (core_new && script_new) {
        if (run->core != 20 || run->core_len != rel.new_core.len || run->script_len != rel.new_script.len ||
            run->script[1] != 1) {
            *why = "new pair in the slots, odev_running says otherwise";
            return PC_BRICK;
        }
        return PC_NEW;
    }
    *why = core_old || core_new ? (script_old || script_new ? "mixed pair" : "script slot torn") : "core slot torn";
    return PC_BRICK;
}

/* ---- the campaign ------------------------------------------------------ */

struct pc_tally {
    uint32_t T, tried, bricked, old, new_, not_new_after;
    uint32_t rec_tried, rec_bricked, rec_old, rec_new; /* second cuts: recovery boot or its update */
    uint32_t phase_op[DJ__COUNT];
    uint32_t by_op[DEVFLASH_OP__COUNT]; /* of the uncut update */
    uint32_t lost_blocks;
};

static void pc_brick(struct pc_tally *t, uint32_t n, uint32_t m, uint64_t seed, const char *why)
{
    t->bricked++;
    print_message("powercut: BRICK seed=%llu N=%u M=%u: %s\n", (unsigned long long)seed, n, m, why);
}

/* After a recovery: judge, update without cuts, judge again; the first
 * judgement counts in t->old/new_ (m == 0) or t->rec_old/rec_new. */
static void pc_after(struct pc_board *b, struct pc_tally *t, uint32_t n, uint32_t m, uint64_t seed)
{
    const char *why;
    enum pc_outcome o = pc_judge(b, &why);
    if (o == PC_BRICK) {
        pc_brick(t, n, m, seed, why);
        return;
    }
    if (m == 0)
        o == PC_OLD ? t->old++ : t->new_++;
    else
        o == PC_OLD ? t->rec_old++ : t->rec_new++;
    pc_update(b);
    if (pc_judge(b, &why) != PC_NEW) {
        t->not_new_after++;
        pc_brick(t, n, m, seed, *why ? why : "the update after the cut did not install the new pair");
    }
    if (b->flash.st.violations)
        pc_brick(t, n, m, seed, b->flash.st.violation_msg);
}

/* One uninterrupted update from the factory state: T and the phases. */
static void pc_count(struct pc_tally *t, uint64_t seed)
{
    struct pc_board *b = pc_board_new(seed);
    pc_boot(b, 0, 0);
    assert_int_equal(pc_update(b), ODEV_S_UPDATED);
    t->T = b->flash.st.ops;
    memcpy(t->phase_op, b->phase_op, sizeof t->phase_op);
    memcpy(t->by_op, b->flash.st.by_op, sizeof t->by_op);
    const char *why;
    assert_int_equal(pc_judge(b, &why), PC_NEW);
    assert_int_equal(b->flash.st.violations, 0);
    pc_board_free(b);
}

/* Cut the update at n; then, if rec_max, cut the next boot (its recovery
 * or the update after it) again at up to rec_max of its ops, evenly
 * spread from a seeded offset, and judge the third boot. */
static void pc_cut(struct pc_tally *t, uint32_t n, uint64_t seed, uint32_t rec_max)
{
    struct pc_board *b = pc_board_new(seed);
    if (pc_boot(b, n, 1) == ODEV_OK && !b->flash.dead)
        pc_update(b);
    if (!b->flash.st.cut) { /* the run ended before op n */
        pc_board_free(b);
        return;
    }
    t->tried++;
    t->lost_blocks += b->flash.st.lost_blocks;
    struct pc_board *saved = rec_max ? pc_board_clone(b) : NULL;
    pc_boot(b, 0, 2);
    pc_after(b, t, n, 0, seed);
    uint32_t rec_ops = b->flash.st.ops; /* recovery + the update after it */
    pc_board_free(b);
    if (!saved)
        return;
    uint32_t rec_stride = rec_ops / rec_max + 1;
    for (uint32_t m = 1 + (uint32_t)(seed % rec_stride); m <= rec_ops; m += rec_stride) {
        struct pc_board *r = pc_board_clone(saved);
        if (pc_boot(r, m, 3) == ODEV_OK && !r->flash.dead)
            pc_update(r);
        t->rec_tried++;
        uint32_t before = t->bricked;
        pc_boot(r, 0, 4);
        pc_after(r, t, n, m, seed);
        t->rec_bricked += t->bricked - before;
        pc_board_free(r);
    }
    pc_board_free(saved);
}



static void pc_print(const struct pc_tally *t, double secs)
{
    print_message("powercut: uncut update: writes=%u erases=%u syncs=%u journal_saves=%u; phases (op of the first "
                  "save): downloading=%u downloaded=%u applying=%u committing=%u committed=%u idle=%u\n",
                  t->by_op[DEVFLASH_OP_WRITE], t->by_op[DEVFLASH_OP_ERASE], t->by_op[DEVFLASH_OP_SYNC],
                  t->by_op[DEVFLASH_OP_JOURNAL], t->phase_op[DJ_DOWNLOADING], t->phase_op[DJ_DOWNLOADED],
                  t->phase_op[DJ_APPLYING], t->phase_op[DJ_COMMITTING], t->phase_op[DJ_COMMITTED],
                  t->phase_op[DJ_IDLE]);
    print_message("powercut: T=%u tried=%u bricked=%u old=%u new=%u second_cuts=%u second_bricked=%u "
                  "second_old=%u second_new=%u lost_unsynced_blocks=%u mode=%s seed=%llu erase=%u%s %.1fs\n",
                  t->T, t->tried, t->bricked, t->old, t->new_, t->rec_tried, t->rec_bricked, t->rec_old,
                  t->rec_new, t->lost_blocks, opts.all ? "all" : "seeded", (unsigned long long)opts.seed, opts.erase,
                  opts.write_through ? " write-through" : "", secs);
}

static void every_power_cut(void **state)
{
    (void)state;
    struct pc_tally t;
    memset(&t, 0, sizeof t);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pc_count(&t, opts.seed);
    /* seeded subset: about 30 cut points spread over the run and about 40
     * over the commit (from the COMMITTING save on: the part that touches
     * the slots), each stride from a seeded offset; the next boot (its
     * recovery or the update after it) of every 8th tried N is cut at up
     * to 4 points. --all: every N, and the next boot of every 64th cut at
     * up to 8. */
    uint32_t commit = t.phase_op[DJ_COMMITTING] ? t.phase_op[DJ_COMMITTING] : t.T;
    uint32_t stride = opts.stride ? opts.stride : t.T / 30 + 1;
    uint32_t cstride = opts.stride ? opts.stride : (t.T - commit) / 40 + 1;
    uint32_t off = (uint32_t)(opts.seed % stride), coff = (uint32_t)(opts.seed % cstride), k = 0;
    for (uint32_t n = 1; n <= t.T; n++) {
        if (!opts.all && (n < commit ? n % stride != off : (n - commit) % cstride != coff))
            continue;
        if (n % opts.shards != opts.shard)
            continue;
        uint32_t rec = opts.all ? (k++ % 64 == 0 ? 8 : 0) : (k++ % 8 == 0 ? 4 : 0);
        pc_cut(&t, n, opts.seed + n, rec);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    pc_print(&t, (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    assert_int_equal(t.bricked, 0);
    assert_true(t.tried > 0 && t.old > 0 && t.new_ > 0);
}

/* The judge sees a brick when there is one: a cut in the middle of the
 * core copy, booted without odev_recover, leaves a torn core slot. */
static void judge_sees_a_torn_commit(void **state)
{
    (void)state;
    struct pc_tally t;
    memset(&t, 0, sizeof t);
    pc_count(&t, opts.seed);
    assert_true(t.phase_op[DJ_COMMITTING] > 0 && t.phase_op[DJ_COMMITTED] > t.phase_op[DJ_COMMITTING]);
    uint32_t n = t.phase_op[DJ_COMMITTING] + (t.phase_op[DJ_COMMITTED] - t.phase_op[DJ_COMMITTING]) / 4;
    struct pc_board *b = pc_board_new(opts.seed);
    pc_boot(b, n, 1);
    pc_update(b);
    assert_true(b->flash.st.cut);
    const char *why;
    pc_power_on(b, 0, 2);
    assert_int_equal(pc_judge(b, &why), PC_BRICK);
    assert_string_equal(why, "core slot torn");
    assert_int_equal(odev_recover(&b->dev), ODEV_OK);
    assert_int_equal(pc_judge(b, &why), PC_NEW);
    pc_board_free(b);
}

/* And the volatile layer has teeth: on a port whose sync does nothing, a
 * cut just after the COMMITTED save loses slot blocks the journal counts
 * on, and the next boot finds a brick. */
static void lying_sync_bricks(void **state)
{
    (void)state;
    struct pc_board *b = pc_board_new(opts.seed);
    b->lying_sync = 1;
    pc_boot(b, 0, 0);
    assert_int_equal(pc_update(b), ODEV_S_UPDATED);
    uint32_t n = b->phase_op[DJ_COMMITTED] + 1;
    pc_board_free(b);
    b = pc_board_new(opts.seed);
    b->lying_sync = 1;
    pc_boot(b, n, 1);
    pc_update(b);
    assert_true(b->flash.st.cut && b->flash.st.lost_blocks > 0);
    const char *why;
    pc_boot(b, 0, 2);
    assert_int_equal(pc_judge(b, &why), PC_BRICK);
    pc_board_free(b);
}

static int pc_setup(void **state)
{
    (void)state;
    pc_release_build();
    return 0;
}

static int pc_teardown(void **state)
{
    (void)state;
    pc_release_free();
    return 0;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--all") == 0)
            opts.all = 1;
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
            opts.seed = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--stride") == 0 && i + 1 < argc)
            opts.stride = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--write-through") == 0)
            opts.write_through = 1;
        else if (strcmp(argv[i], "--erase") == 0 && i + 1 < argc)
            opts.erase = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--shard") == 0 && i + 1 < argc &&
                 sscanf(argv[++i], "%u/%u", &opts.shard, &opts.shards) == 2 && opts.shards > 0 &&
                 opts.shard < opts.shards)
            continue;
        else {
            fprintf(stderr, "usage: %s [--all] [--seed S] [--stride K] [--shard I/K] [--erase BYTES] [--write-through]\n", argv[0]);
            return 2;
        }
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(judge_sees_a_torn_commit),
        cmocka_unit_test(lying_sync_bricks),
        cmocka_unit_test(every_power_cut),
    };
    return cmocka_run_group_tests(tests, pc_setup, pc_teardown);
}
