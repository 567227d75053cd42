/* test_client_lport.c - the Linux port's flash and journal (client/lport.c)
 * through its struct odev_port: area files, erase semantics, the
 * download.part -> download.pkg rename before a "downloaded" journal and
 * its recovery, idle clearing the package and staging, install by atomic
 * rename, device.ini rewritten by installed, power-cut steps; and the
 * glue's fixed exit-code table (client/dev.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cfg.h"
#include "dev.h"
#include "journal/djournal.h"
#include "lport.h"

static char dir[64];
static long steps;

static void count_step(void *ctx)
{
    (void)ctx;
    steps++;
}

static const char ini[] =
    "[device]\nproject = DEMOPROJ\nproduct_key = demo-product-key-0001\nimei = 861234567890018\n"
    "core = Luat_V0017_RDA8910\nscript_version = 1.0.0\nserver = coap://127.0.0.1:5683\n"
    "public_key = 0000000000000000000000000000000000000000000000000000000000000000\n";

static int setup(void **state)
{
    char p[128];
    *state = NULL;
    if (test_tmpdir_make(dir, sizeof dir, "test_client_lport"))
        return -1;
    snprintf(p, sizeof p, "%s/device.ini", dir);
    FILE *fp = fopen(p, "w");
    fputs(ini, fp);
    fclose(fp);
    snprintf(p, sizeof p, "%s/core.bin", dir);
    fp = fopen(p, "w");
    fputs("old core", fp);
    fclose(fp);
    steps = 0;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    test_tree_remove(dir);
    return 0;
}

static long size_of(const char *name)
{
    char p[128];
    struct stat st;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

static void open_port(struct lport *p, struct cfg_device *d)
{
    char m[OTA_MSG_LEN], path[128];
    snprintf(path, sizeof path, "%s/device.ini", dir);
    if (cfg_device_load(path, d, m) != OTA_OK)
        fail_msg("%s", m);
    assert_int_equal(lport_open(p, dir, d, d->server, 1000, count_step, NULL, m), OTA_OK);
}

static void journal_of(struct djournal *j, unsigned phase, uint32_t size)
{
    djournal_init(j);
    j->phase = (uint8_t)phase;
    j->size = size;
    j->block_size = 16;
    j->etag_len = 8;
    memset(j->etag, 0xA5, 8);
}

static void download_area_and_rename(void **state)
{
    struct lport p;
    struct cfg_device d;
    struct djournal j;
    uint8_t rec[ODEV_JOURNAL_LEN], buf[8];
    (void)state;
    open_port(&p, &d);
    const struct odev_port *o = &p.port;
    assert_int_equal(o->write(o->ctx, ODEV_AREA_DOWNLOAD, 0, "0123456789ABCDEF", 16), ODEV_OK);
    /* erased past the end; erase inside writes 0xFF, up to the end cuts */
    assert_int_equal(o->read(o->ctx, ODEV_AREA_DOWNLOAD, 14, buf, 4), ODEV_OK);
    assert_memory_equal(buf, "EF\xFF\xFF", 4);
    assert_int_equal(o->erase(o->ctx, ODEV_AREA_DOWNLOAD, 2, 2), ODEV_OK);
    assert_int_equal(o->read(o->ctx, ODEV_AREA_DOWNLOAD, 0, buf, 5), ODEV_OK);
    assert_memory_equal(buf, "01\xFF\xFF" "4", 5);
    assert_int_equal(o->erase(o->ctx, ODEV_AREA_DOWNLOAD, 12, 100), ODEV_OK);
    assert_int_equal(size_of("download.part"), 12);
    assert_int_equal(o->write(o->ctx, ODEV_AREA_DOWNLOAD, 12, "CDEFGH", 6), ODEV_OK);
    assert_int_equal(o->sync(o->ctx, ODEV_AREA_DOWNLOAD), ODEV_OK);
    /* "downloaded": the part becomes download.pkg of exactly size bytes */
    journal_of(&j, DJ_DOWNLOADED, 16);
    djournal_encode(&j, rec);
    long before = steps;
    assert_int_equal(o->journal_save(o->ctx, rec), ODEV_OK);
    assert_true(steps >= before + 3); /* sync, rename, journal */
    assert_int_equal(size_of("download.part"), -1);
    assert_int_equal(size_of("download.pkg"), 16);
    assert_int_equal(o->read(o->ctx, ODEV_AREA_DOWNLOAD, 12, buf, 4), ODEV_OK);
    assert_memory_equal(buf, "CDEF", 4);
    lport_close(&p);

    /* a cut after the rename, before the journal: it still says
     * downloading, and loads as downloaded */
    open_port(&p, &d);
    journal_of(&j, DJ_DOWNLOADING, 16);
    djournal_encode(&j, rec);
    char path[128];
    snprintf(path, sizeof path, "%s/journal", dir);
    FILE *fp = fopen(path, "w");
    fwrite(rec, 1, sizeof rec, fp);
    fclose(fp);
    memset(rec, 0, sizeof rec);
    assert_int_equal(p.port.journal_load(p.port.ctx, rec), ODEV_OK);
    const char *why;
    assert_int_equal(djournal_decode(rec, sizeof rec, &j, &why), ODEV_OK);
    assert_int_equal(j.phase, DJ_DOWNLOADED);
    /* idle: package and staging go */
    assert_int_equal(p.port.write(p.port.ctx, ODEV_AREA_STAGING, 0, "x", 1), ODEV_OK);
    djournal_init(&j);
    djournal_encode(&j, rec);
    assert_int_equal(p.port.journal_save(p.port.ctx, rec), ODEV_OK);
    assert_int_equal(size_of("download.pkg"), -1);
    assert_int_equal(size_of("staging"), -1);
    assert_int_equal(size_of("journal"), ODEV_JOURNAL_LEN);
    lport_close(&p);
}

static void journal_missing_and_torn(void **state)
{
    struct lport p;
    struct cfg_device d;
    uint8_t rec[ODEV_JOURNAL_LEN];
    struct djournal j;
    const char *why;
    char path[128];
    (void)state;
    open_port(&p, &d);
    assert_int_equal(p.port.journal_load(p.port.ctx, rec), ODEV_E_NOTFOUND);
    snprintf(path, sizeof path, "%s/journal", dir);
    FILE *fp = fopen(path, "w");
    fputs("OTAJ short", fp);
    fclose(fp);
    assert_int_equal(p.port.journal_load(p.port.ctx, rec), ODEV_OK);
    assert_int_equal(djournal_decode(rec, sizeof rec, &j, &why), ODEV_E_CORRUPT);
    lport_close(&p);
}

static void install_and_installed(void **state)
{
    struct lport p;
    struct cfg_device d, after;
    struct odev_image now;
    char m[OTA_MSG_LEN], path[128];
    uint8_t buf[16];
    (void)state;
    open_port(&p, &d);
    const struct odev_port *o = &p.port;
    assert_int_equal(o->write(o->ctx, ODEV_AREA_STAGING, 0, "NEWCORE!script", 14), ODEV_OK);
    assert_int_equal(o->sync(o->ctx, ODEV_AREA_STAGING), ODEV_OK);
    assert_int_equal(o->install(o->ctx, ODEV_AREA_CORE, 0, 8), ODEV_OK);
    assert_int_equal(o->install(o->ctx, ODEV_AREA_CORE, 0, 8), ODEV_OK); /* idempotent */
    assert_int_equal(o->install(o->ctx, ODEV_AREA_SCRIPT, 8, 6), ODEV_OK);
    assert_int_equal(o->read(o->ctx, ODEV_AREA_CORE, 0, buf, 8), ODEV_OK);
    assert_memory_equal(buf, "NEWCORE!", 8);
    assert_int_equal(size_of("script.bin"), 6);
    assert_int_equal(o->read(o->ctx, ODEV_AREA_CORE, 4, buf, 8), ODEV_E_IO); /* past a slot's end */
    assert_int_equal(o->write(o->ctx, ODEV_AREA_CORE, 0, "x", 1), ODEV_E_INVAL);
    memset(&now, 0, sizeof now);
    memcpy(now.core_name, "Luat", sizeof "Luat");
    memcpy(now.chip, "RDA8910", sizeof "RDA8910");
    now.core = 20;
    now.script[1] = 1;
    now.script[0] = 1;
    assert_int_equal(o->installed(o->ctx, &now), ODEV_OK);
    snprintf(path, sizeof path, "%s/device.ini", dir);
    assert_int_equal(cfg_device_load(path, &after, m), OTA_OK);
    assert_int_equal(after.core.number, 20);
    assert_int_equal(after.script.minor, 1);
    assert_string_equal(after.imei, "861234567890018");
    lport_close(&p);
}

static void locked_directory(void **state)
{
    struct lport p, q;
    struct cfg_device d;
    char m[OTA_MSG_LEN];
    (void)state;
    open_port(&p, &d);
    assert_int_equal(lport_open(&q, dir, &d, d.server, 1000, NULL, NULL, m), OTA_E_STATE);
    assert_non_null(strstr(m, "in use by another ota-client"));
    lport_close(&p);
}

static void put_file(const char *name, const char *text)
{
    char p[128];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *fp = fopen(p, "w");
    fputs(text, fp);
    fclose(fp);
}

static void file_is(const char *name, const char *text)
{
    char p[128], buf[64] = {0};
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *fp = fopen(p, "r");
    assert_non_null(fp);
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    assert_int_equal(n, strlen(text));
    assert_string_equal(buf, text);
}

/* An ota-client before issue 12 cut mid-commit: its record (no images)
 * says committing to 0020 + 1.1.0, the new images wait in core.new and
 * script.new (core.new already renamed in the second case). Recovery must
 * install them (not copy a missing staging file over the slots), save the
 * versions, keep its success report pending and leave nothing behind. */
static void old_client_commit(void **state)
{
    (void)state;
    for (int renamed = 0; renamed < 2; renamed++) {
        struct djournal j;
        uint8_t rec[ODEV_JOURNAL_LEN];
        const char *why;
        char m[OTA_MSG_LEN], path[128];
        struct cfg_device d;
        if (renamed)
            put_file("core.bin", "NEW CORE 0020");
        else
            put_file("core.new", "NEW CORE 0020");
        put_file("script.new", "script 1.1.0");
        put_file("script.bin", "script 1.0.0 old");
        put_file("report.pending", "{\"result\":0}");
        djournal_init(&j);
        j.phase = DJ_COMMITTING;
        j.slots = DJ_SLOT_CORE | DJ_SLOT_SCRIPT;
        memcpy(j.img.core_name, "Luat", sizeof "Luat");
        memcpy(j.img.chip, "RDA8910", sizeof "RDA8910");
        j.img.core = 20;
        j.img.script[0] = j.img.script[1] = 1;
        djournal_encode(&j, rec); /* flags 0: a client record, as ota-client wrote it */
        snprintf(path, sizeof path, "%s/journal", dir);
        FILE *fp = fopen(path, "w");
        fwrite(rec, 1, sizeof rec, fp);
        fclose(fp);

        snprintf(path, sizeof path, "%s/device.ini", dir);
        assert_int_equal(cfg_device_load(path, &d, m), OTA_OK);
        struct dev_opts o = {.state_dir = dir};
        if (dev_recover(&o, &d, m) != OTA_OK)
            fail_msg("%s", m);
        file_is("core.bin", "NEW CORE 0020");
        file_is("script.bin", "script 1.1.0");
        assert_int_equal(size_of("core.new"), -1);
        assert_int_equal(size_of("script.new"), -1);
        assert_int_equal(size_of("report.pending"), -1);
        assert_int_equal(cfg_device_load(path, &d, m), OTA_OK);
        assert_int_equal(d.core.number, 20);
        assert_int_equal(d.script.minor, 1);
        /* idle, the new images and lengths recorded, the report pending */
        struct lport p;
        open_port(&p, &d);
        assert_int_equal(p.port.journal_load(p.port.ctx, rec), ODEV_OK);
        lport_close(&p);
        assert_int_equal(djournal_decode(rec, sizeof rec, &j, &why), ODEV_OK);
        assert_int_equal(j.phase, DJ_IDLE);
        assert_true(j.flags & DJ_F_IMAGES);
        assert_int_equal(j.img.core, 20);
        assert_int_equal(j.img.core_len, 13);
        assert_int_equal(j.img.script_len, 12);
        assert_true(j.flags & DJ_F_REPORT);
        assert_int_equal(j.report, 0);
        assert_int_equal(j.from_core, 17); /* device.ini is saved after the renames */
        void *st = NULL;
        teardown(&st);
        setup(&st);
    }
}

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
    /* the glue casts the library's status: same values, same order */
    assert_int_equal((int)ODEV_S_NET, (int)DEV_S_NET);
    assert_int_equal((int)ODEV_S_VERIFY, (int)DEV_S_VERIFY);
    assert_int_equal((int)ODEV_S_UPDATED, (int)DEV_S_UPDATED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(download_area_and_rename, setup, teardown),
        cmocka_unit_test_setup_teardown(journal_missing_and_torn, setup, teardown),
        cmocka_unit_test_setup_teardown(install_and_installed, setup, teardown),
        cmocka_unit_test_setup_teardown(locked_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(old_client_commit, setup, teardown),
        cmocka_unit_test(exit_codes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
