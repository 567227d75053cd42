/* test_cfg.c - ota.ini and device.ini loading: defaults, paths, errors with
 * file:line, and the atomic version rewrite of device.ini.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cfg.h"

static char tmpdir[64];

static int setup(void **state)
{
    (void)state;
    return test_tmpdir_make(tmpdir, sizeof tmpdir, "test_cfg");
}

static int teardown(void **state)
{
    (void)state;
    test_tree_remove(tmpdir);
    return 0;
}

static const char *write_file(const char *name, const char *text)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    return path;
}

static const char good_ota[] = "[project]\n"
                               "name = MY_PROJ\n"
                               "product_key = key-123\n"
                               "[release]\n"
                               "core = Luat_V0020_RDA8910\n"
                               "core_image = rel/core.bin\n"
                               "script_version = 1.2.3\n"
                               "script_image = /abs/script.bin\n"
                               "shipped_dir = rel/shipped\n"
                               "full_core_fallback = yes\n"
                               "[cache]\n"
                               "dir = out\n"
                               "signing_key = keys/k\n"
                               "[server]\n"
                               "listen = 127.0.0.1:5683, [::1]:5684\n"
                               "block_size = 512\n";

static void ota_ok(void **state)
{
    struct cfg_ota c;
    char msg[OTA_MSG_LEN], want[512];
    (void)state;
    const char *path = write_file("ota.ini", good_ota);
    assert_int_equal(cfg_ota_load(path, &c, msg), OTA_OK);
    assert_string_equal(c.project, "MY_PROJ");
    assert_string_equal(c.product_key, "key-123");
    assert_int_equal(c.core.number, 20);
    assert_int_equal(c.script.minor, 2);
    snprintf(want, sizeof want, "%s/rel/core.bin", tmpdir);
    assert_string_equal(c.core_image, want); /* relative to the ini's directory */
    assert_string_equal(c.script_image, "/abs/script.bin");
    assert_int_equal(c.full_core_fallback, 1);
    assert_int_equal(c.core_only, 1); /* default */
    assert_int_equal(c.nlisten, 2);
    assert_string_equal(c.listen[1], "[::1]:5684");
    assert_int_equal(c.block_size, 512);
    snprintf(want, sizeof want, "%s/keys/k.pub", tmpdir);
    assert_string_equal(c.public_key, want); /* default: signing key + .pub */
}

/* Each bad line is reported with its own line number. */
static void ota_errors_name_line(void **state)
{
    static const struct {
        const char *text;
        const char *want;
    } cases[] = {
        {"[project]\nname = P\nproduct_key = k\ncolour = red\n", ":4: unknown key 'colour'"},
        {"[project]\nname = P\n[nonsense]\nx = 1\n", ":4: unknown section [nonsense]"},
        {"[project]\nname = P/../x\n",
         ":2: name: project: bad character '/' at offset 1 (allowed: A-Z a-z 0-9 _ -)"},
        {"name = P\n", ":1: key 'name' before any [section]; the file starts with [project]"},
        {"[project]\nname = P\nproduct_key = k\n[server]\nblock_size = 1000\n",
         ":5: block_size: '1000' is not a power of two"},
        {"[project]\nname = P\nproduct_key = k\n[server]\nlisten = 1.2.3.4:99999\n",
         ":5: listen: address '1.2.3.4:99999': port"},
        {"[project]\nname = P\nproduct_key = k\n[release]\ncore = Luat_17\n",
         ":5: core: core version"},
        {"[project]\nname = P\nproduct_key = k\n[release]\nfull_core_fallback = maybe\n",
         ":5: full_core_fallback: expected yes or no"},
        {"[project]\nname = P\n", "missing required key [project] product_key"},
        {"[project]\nname = P\nproduct_key = k\n[release]\ncore = Luat_V0001_X\n",
         "missing required key [release] core_image"},
        {"this is not ini\n", ":1: syntax error"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct cfg_ota c;
        char msg[OTA_MSG_LEN] = "";
        const char *path = write_file("bad.ini", cases[i].text);
        assert_int_not_equal(cfg_ota_load(path, &c, msg), OTA_OK);
        if (!strstr(msg, cases[i].want))
            fail_msg("case %zu: message '%s' lacks '%s'", i, msg, cases[i].want);
        assert_non_null(strstr(msg, "bad.ini"));
    }
}

static void ota_security_sections(void **state)
{
    struct cfg_ota c;
    char msg[OTA_MSG_LEN] = "";
    (void)state;
    const char *path = write_file("sec.ini", "[project]\nname = P\nproduct_key = k\n"
                                             "psk_secret = keys/psk\n"
                                             "[dtls]\nlisten = 127.0.0.1, [::1]:6000\nonly = yes\n"
                                             "[fleet]\nallowlist = allow.txt\n"
                                             "rollout_percent = 12.5\ncheck_interval = 60\n");
    assert_int_equal(cfg_ota_load(path, &c, msg), OTA_OK);
    assert_int_equal(c.ndtls_listen, 2);
    assert_string_equal(c.dtls_listen[0], "127.0.0.1");
    assert_int_equal(c.dtls_only, 1);
    assert_int_equal(c.rollout_bp, 1250);
    assert_int_equal(c.check_interval, 60);
    assert_non_null(strstr(c.allowlist, "/allow.txt"));
    assert_non_null(strstr(c.psk_secret, "/keys/psk"));
    path = write_file("sec.ini", "[project]\nname = P\nproduct_key = k\n");
    assert_int_equal(cfg_ota_load(path, &c, msg), OTA_OK);
    assert_true(c.rollout_bp > 10000); /* not set */
    static const char *const bad_percent[] = {"101", "100.5", "-1", "1.234", "ten", ""};
    for (size_t i = 0; i < sizeof bad_percent / sizeof bad_percent[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, "[project]\nname = P\nproduct_key = k\n[fleet]\n"
                                    "rollout_percent = %s\n", bad_percent[i]);
        path = write_file("sec.ini", text);
        assert_int_equal(cfg_ota_load(path, &c, msg), OTA_E_INVAL);
        assert_non_null(strstr(msg, ":5:"));
    }
    static const char *const good_percent[] = {"0", "100", "7.5", "0.01"};
    static const uint32_t bp[] = {0, 10000, 750, 1};
    for (size_t i = 0; i < 4; i++) {
        char text[256];
        snprintf(text, sizeof text, "[project]\nname = P\nproduct_key = k\n[fleet]\n"
                                    "rollout_percent = %s\n", good_percent[i]);
        path = write_file("sec.ini", text);
        assert_int_equal(cfg_ota_load(path, &c, msg), OTA_OK);
        assert_int_equal(c.rollout_bp, bp[i]);
    }
}

/* Issue 18: report limits and DTLS admission keys, defaults and ranges. */
static void ota_attack_limits(void **state)
{
    struct cfg_ota c;
    char msg[OTA_MSG_LEN] = "";
    (void)state;
    const char *path = write_file("lim.ini", "[project]\nname = P\nproduct_key = k\n");
    assert_int_equal(cfg_ota_load(path, &c, msg), OTA_OK);
    assert_int_equal(c.report_max_bytes, 1073741824);
    assert_int_equal(c.report_interval, 60);
    assert_int_equal(c.report_rate, 600);
    assert_int_equal(c.dtls_max_handshakes, 1024);
    assert_int_equal(c.dtls_per_address, 8);
    path = write_file("lim.ini", "[project]\nname = P\nproduct_key = k\n[server]\n"
                                 "report_max_bytes = 0\nreport_interval = 0\nreport_rate = 5\n"
                                 "[dtls]\nmax_handshakes = 100\nhandshakes_per_address = 2\n");
    assert_int_equal(cfg_ota_load(path, &c, msg), OTA_OK);
    assert_int_equal(c.report_max_bytes, 0);
    assert_int_equal(c.report_rate, 5);
    assert_int_equal(c.dtls_max_handshakes, 100);
    assert_int_equal(c.dtls_per_address, 2);
    static const char *const bad[] = {"[server]\nreport_max_bytes = -1\n",
                                      "[server]\nreport_interval = 86401\n",
                                      "[dtls]\nmax_handshakes = 0\n",
                                      "[dtls]\nhandshakes_per_address = x\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, "[project]\nname = P\nproduct_key = k\n%s", bad[i]);
        path = write_file("lim.ini", text);
        assert_int_equal(cfg_ota_load(path, &c, msg), OTA_E_INVAL);
        assert_non_null(strstr(msg, ":5:"));
    }
}

/* [admin]: off by default, defaults for timeout and connections, port
 * 9683 when omitted, bad values named with their line. */
static void ota_admin_section(void **state)
{
    struct cfg_ota c;
    char msg[OTA_MSG_LEN] = "";
    (void)state;
    const char *path = write_file("adm.ini", "[project]\nname = P\nproduct_key = k\n");
    assert_int_equal(cfg_ota_load(path, &c, msg), OTA_OK);
    assert_string_equal(c.admin_listen, "");
    assert_string_equal(c.admin_token_file, "");
    assert_int_equal(c.admin_timeout, 10);
    assert_int_equal(c.admin_max_connections, 16);
    path = write_file("adm.ini", "[project]\nname = P\nproduct_key = k\n[admin]\n"
                                 "listen = [::1]\ntoken_file = keys/admin.tokens\n"
                                 "timeout = 3\nmax_connections = 4\n");
    assert_int_equal(cfg_ota_load(path, &c, msg), OTA_OK);
    assert_string_equal(c.admin_listen, "[::1]");
    assert_non_null(strstr(c.admin_token_file, "/keys/admin.tokens"));
    assert_int_equal(c.admin_timeout, 3);
    assert_int_equal(c.admin_max_connections, 4);
    static const char *const bad[] = {"listen = 1.2.3.4:0", "listen = ::1:80", "timeout = 0",
                                      "timeout = 301", "max_connections = 0", "color = red"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, "[project]\nname = P\nproduct_key = k\n[admin]\n%s\n",
                 bad[i]);
        path = write_file("adm.ini", text);
        assert_int_equal(cfg_ota_load(path, &c, msg), OTA_E_INVAL);
        assert_non_null(strstr(msg, ":5:"));
    }
}

static void ota_census_section(void **state)
{
    struct cfg_ota c;
    char msg[OTA_MSG_LEN] = "";
    (void)state;
    const char *path = write_file("cen.ini", "[project]\nname = P\nproduct_key = k\n");
    assert_int_equal(cfg_ota_load(path, &c, msg), OTA_OK);
    assert_non_null(strstr(c.census_file, "/census.txt"));
    assert_non_null(strstr(c.archive_dir, "/archive"));
    assert_non_null(strstr(c.spool_dir, "/spool"));
    assert_int_equal(c.census_max_pairs, 4096);
    assert_int_equal(c.census_save_interval, 60);
    assert_int_equal(c.census_keep_days, 30);
    path = write_file("cen.ini", "[project]\nname = P\nproduct_key = k\n[census]\nfile =\n"
                                 "max_pairs = 16\nsave_interval = 5\nkeep_days = 0\n"
                                 "[cache]\narchive_dir =\nspool_dir = sp\n");
    assert_int_equal(cfg_ota_load(path, &c, msg), OTA_OK);
    assert_string_equal(c.census_file, "");
    assert_string_equal(c.archive_dir, "");
    assert_non_null(strstr(c.spool_dir, "/sp"));
    assert_int_equal(c.census_max_pairs, 16);
    assert_int_equal(c.census_save_interval, 5);
    assert_int_equal(c.census_keep_days, 0);
    static const char *const bad[] = {"max_pairs = 15", "save_interval = 0", "keep_days = -1",
                                      "colour = 1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, "[project]\nname = P\nproduct_key = k\n[census]\n%s\n",
                 bad[i]);
        path = write_file("cen.ini", text);
        assert_int_equal(cfg_ota_load(path, &c, msg), OTA_E_INVAL);
        assert_non_null(strstr(msg, ":5:"));
    }
}

static void ota_missing_file(void **state)
{
    struct cfg_ota c;
    (void)state;
    assert_int_equal(cfg_ota_load("/nonexistent/ota.ini", &c, NULL), OTA_E_NOTFOUND);
}

static const char good_device[] =
    "; a device\n"
    "[device]\n"
    "project = MY_PROJ\n"
    "product_key = key-123\n"
    "imei = 861234567890123\n"
    "core = Luat_V0017_RDA8910\n"
    "script_version = 1.0.0\n"
    "server = coap://127.0.0.1:5683\n"
    "public_key = 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n";

static void device_ok_and_save(void **state)
{
    struct cfg_device d;
    char msg[OTA_MSG_LEN];
    (void)state;
    const char *path = write_file("device.ini", good_device);
    assert_int_equal(cfg_device_load(path, &d, msg), OTA_OK);
    assert_string_equal(d.imei, "861234567890123");
    assert_int_equal(d.core.number, 17);
    assert_int_equal(d.npubkeys, 1);
    assert_int_equal(d.pubkeys[0][1], 0x11);
    assert_int_equal(d.block_size, 1024);
    d.core.number = 20;
    d.script.minor = 1;
    assert_int_equal(cfg_device_save_versions(path, &d.core, &d.script, msg), OTA_OK);
    struct cfg_device again;
    assert_int_equal(cfg_device_load(path, &again, msg), OTA_OK);
    assert_int_equal(again.core.number, 20);
    assert_int_equal(again.script.minor, 1);
    assert_string_equal(again.imei, d.imei);
    /* The comment survives the rewrite. */
    uint8_t *text;
    size_t len;
    assert_int_equal(io_file_read_all(path, 4096, &text, &len, NULL), OTA_OK);
    assert_non_null(strstr((char *)text, "; a device"));
    assert_non_null(strstr((char *)text, "core = Luat_V0020_RDA8910"));
    free(text);
}

static void device_bad_values(void **state)
{
    static const char *const bad[] = {"imei = 86123\n", "imei = 86123456789012x\n",
                                      "server = http://x\n", "public_key = 0011\n",
                                      "script_version = 1.0\n", "window = 0\n",
                                      "color = blue\n"};
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[1024], msg[OTA_MSG_LEN] = "";
        struct cfg_device d;
        snprintf(text, sizeof text, "%s%s", good_device, bad[i]);
        const char *path = write_file("bad-device.ini", text);
        assert_int_equal(cfg_device_load(path, &d, msg), OTA_E_INVAL);
        assert_non_null(strstr(msg, ":10:")); /* the appended line */
    }
}

/* One message per mistake: the field named once, the bad character shown
 * with the allowed set, a missing [device] header said as such. */
static void device_messages(void **state)
{
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"[device]\nimei = 86123\n", ":2: imei: expected 15 digits, got 5 characters"},
        {"[device]\nimei = 8612345x7890001\n",
         ":2: imei: bad character 'x' at offset 7 (digits 0-9 only)"},
        {"[device]\nproduct_key = a b\n", ":2: product_key: bad character \\x20 at offset 1"},
        {"project = P\n", ":1: key 'project' before any [section]; the file starts with [device]"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char msg[OTA_MSG_LEN] = "";
        struct cfg_device d;
        const char *path = write_file("msg-device.ini", cases[i].text);
        assert_int_equal(cfg_device_load(path, &d, msg), OTA_E_INVAL);
        if (!strstr(msg, cases[i].want) || strstr(msg, "imei: imei"))
            fail_msg("case %zu: message '%s' lacks '%s'", i, msg, cases[i].want);
    }
}

static void hostport(void **state)
{
    char host[64];
    uint16_t port;
    (void)state;
    assert_int_equal(cfg_split_hostport("1.2.3.4:77", host, sizeof host, &port, 5683, NULL),
                     OTA_OK);
    assert_string_equal(host, "1.2.3.4");
    assert_int_equal(port, 77);
    assert_int_equal(cfg_split_hostport("[::1]", host, sizeof host, &port, 5683, NULL), OTA_OK);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 5683);
    assert_int_equal(cfg_split_hostport("::1:5", host, sizeof host, &port, 1, NULL),
                     OTA_E_INVAL);
    assert_int_equal(cfg_split_hostport(":5", host, sizeof host, &port, 1, NULL), OTA_E_INVAL);
    assert_int_equal(cfg_split_hostport("h:0", host, sizeof host, &port, 1, NULL), OTA_E_INVAL);
}


/* ---- many projects ([projects] dir) ---------------------------------------- */

static const char *proj_ini(const char *dir)
{
    static char text[512];
    snprintf(text, sizeof text, "[project]\nname = A\nproduct_key = key-a\n[cache]\ndir = c\n"
             "[server]\nlisten = 127.0.0.1:7000\n[projects]\ndir = %s\n", dir);
    return write_file("proj.ini", text);
}

static void mk(const char *dir)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, dir);
    assert_int_equal(mkdir(path, 0700), 0);
}

static void projects_ok(void **state)
{
    struct cfg_ota c;
    char msg[OTA_MSG_LEN], want[512];
    (void)state;
    mk("pd");
    write_file("pd/b.ini", "[project]\nname = B\nproduct_key = key-b\npsk_secret = b.secret\n"
                           "package_format = vendor\n[fleet]\nrollout_percent = 5\n");
    write_file("pd/.hidden.ini", "garbage");
    write_file("pd/notes.txt", "garbage");
    assert_int_equal(cfg_ota_load(proj_ini("pd"), &c, msg), OTA_OK);
    assert_int_equal(cfg_project_count(&c), 2);
    assert_string_equal(cfg_project_at(&c, 0)->project, "A");
    const struct cfg_ota *b = cfg_project_find(&c, "B");
    assert_non_null(b);
    assert_ptr_equal(b, cfg_project_at(&c, 1));
    assert_null(cfg_project_find(&c, "C"));
    assert_string_equal(b->listen[0], "127.0.0.1:7000"); /* server settings of ota.ini */
    assert_string_equal(b->product_key, "key-b");
    assert_int_equal(b->package_format, CFG_FORMAT_VENDOR);
    assert_int_equal(b->rollout_bp, 500);
    assert_int_equal(cfg_project_at(&c, 0)->rollout_bp, 10001);
    snprintf(want, sizeof want, "%s/pd/b.secret", tmpdir); /* relative to the project file */
    assert_string_equal(b->psk_secret, want);
    assert_int_equal(cfg_psk_project_count(&c), 1);
    /* a command about one project: -p needed, the names listed */
    struct cfg_ota copy = c;
    assert_int_equal(cfg_ota_own(&copy, msg), OTA_OK);
    assert_int_equal(cfg_ota_pick(&copy, NULL, msg), OTA_E_INVAL);
    assert_non_null(strstr(msg, "A, B"));
    assert_int_equal(cfg_ota_pick(&copy, "Z", msg), OTA_E_INVAL);
    assert_non_null(strstr(msg, "project Z is not configured"));
    assert_int_equal(cfg_ota_pick(&copy, "B", msg), OTA_OK);
    assert_string_equal(copy.project, "B");
    assert_int_equal(cfg_project_count(&copy), 1);
    cfg_ota_free(&copy);
    cfg_ota_free(&c);
}

static void projects_errors(void **state)
{
    struct cfg_ota c;
    char msg[OTA_MSG_LEN];
    static const struct {
        const char *file, *text, *want;
    } cases[] = {
        {"pe1/a.ini", "[project]\nname = A\nproduct_key = other\n", "project A is defined twice"},
        {"pe2/b.ini", "[project]\nname = B\nproduct_key = key-a\n", "has the product_key of"},
        {"pe3/b.ini", "[project]\nname = B\n", "missing required key [project] product_key"},
        {"pe4/b.ini", "[project]\nname = B\nproduct_key = k\n[server]\nlisten = x:1\n",
         "belongs in ota.ini"},
        {"pe5/b.ini", "[project]\nname = B\nproduct_key = k\npackage_format = dfota\n",
         "is not ota or vendor"},
        {"pe6/b.ini", "[project]\nname = B\nproduct_key = k\n[release]\ncore = x\n", "b.ini:5: core"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char dir[8];
        memcpy(dir, cases[i].file, 3);
        dir[3] = '\0';
        mk(dir);
        write_file(cases[i].file, cases[i].text);
        assert_int_equal(cfg_ota_load(proj_ini(dir), &c, msg), OTA_E_INVAL);
        if (!strstr(msg, cases[i].want))
            fail_msg("case %zu: '%s' lacks '%s'", i, msg, cases[i].want);
        assert_null(c.projects);
    }
    assert_int_equal(cfg_ota_load(proj_ini("no-such-dir"), &c, msg), OTA_E_NOTFOUND);
    assert_non_null(strstr(msg, "[projects] dir"));
    /* no [project] in ota.ini and none in the folder */
    mk("empty");
    const char *path = write_file("none.ini", "[projects]\ndir = empty\n");
    assert_int_equal(cfg_ota_load(path, &c, msg), OTA_E_INVAL);
    assert_non_null(strstr(msg, "no [project]"));
}

/* ota.ini without a project of its own: its fields are the first project's. */
static void projects_only_in_dir(void **state)
{
    struct cfg_ota c;
    char msg[OTA_MSG_LEN];
    (void)state;
    mk("po");
    write_file("po/z.ini", "[project]\nname = Z\nproduct_key = key-z\n");
    write_file("po/m.ini", "[project]\nname = M\nproduct_key = key-m\n");
    const char *path = write_file("only.ini", "[projects]\ndir = po\n");
    assert_int_equal(cfg_ota_load(path, &c, msg), OTA_OK);
    assert_int_equal(cfg_project_count(&c), 2);
    assert_string_equal(c.project, "M");
    assert_string_equal(cfg_project_at(&c, 1)->project, "Z");
    cfg_ota_free(&c);
    /* one project stays a project-table-free configuration */
    assert_int_equal(cfg_ota_load(write_file("one.ini", "[project]\nname = O\nproduct_key = o\n"),
                                  &c, msg), OTA_OK);
    assert_null(c.projects);
    assert_int_equal(cfg_project_count(&c), 1);
    assert_ptr_equal(cfg_project_find(&c, "O"), &c);
    assert_int_equal(cfg_ota_pick(&c, NULL, msg), OTA_OK);
}

static void device_psk_identity(void **state)
{
    struct cfg_device d;
    char msg[OTA_MSG_LEN], text[sizeof good_device + 64];
    (void)state;
    snprintf(text, sizeof text, "%spsk_identity = project\n", good_device);
    assert_int_equal(cfg_device_load(write_file("d1.ini", text), &d, msg), OTA_OK);
    assert_int_equal(d.psk_identity_project, 1);
    snprintf(text, sizeof text, "%spsk_identity = serial\n", good_device);
    assert_int_equal(cfg_device_load(write_file("d2.ini", text), &d, msg), OTA_E_INVAL);
    assert_non_null(strstr(msg, "psk_identity"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ota_ok),           cmocka_unit_test(ota_errors_name_line),
        cmocka_unit_test(ota_security_sections),
        cmocka_unit_test(ota_attack_limits),
        cmocka_unit_test(ota_admin_section),
        cmocka_unit_test(ota_census_section),
        cmocka_unit_test(ota_missing_file), cmocka_unit_test(device_ok_and_save),
        cmocka_unit_test(device_bad_values), cmocka_unit_test(device_messages),
        cmocka_unit_test(hostport),
        cmocka_unit_test(projects_ok),      cmocka_unit_test(projects_errors),
        cmocka_unit_test(projects_only_in_dir),
        cmocka_unit_test(device_psk_identity),
    };
    return cmocka_run_group_tests_name("cfg", tests, setup, teardown);
}
