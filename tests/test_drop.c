/* test_drop.c - parsers of release drops (cache/drop_parse.c): release.ini,
 * the platform's file names, vendor.manifest, build requests; and the
 * settle rule of the watch service.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "drop.h"
#include "kv.h"

#define SHA_A "3fa29c0e11d2a7b43fa29c0e11d2a7b43fa29c0e11d2a7b43fa29c0e11d2a7b4"

static enum ota_err parse(const char *text, struct drop_release *r, char *msg)
{
    return drop_release_parse(text, strlen(text), r, msg);
}

static void release_ini_ok(void **state)
{
    struct drop_release r, back;
    char msg[OTA_MSG_LEN], text[DROP_INI_MAX];
    (void)state;
    assert_int_equal(parse("; a drop\n[release]\r\nproject = DEMO_PROJ-1\n"
                           "core = Luat_V0020_RDA8910\ncore_image = core.bin   ; first\n"
                           "core_sha256 = " SHA_A "\nscript_version = 1.2.0\n"
                           "script_image = script.bin\n", &r, msg), OTA_OK);
    assert_string_equal(r.project, "DEMO_PROJ-1");
    assert_int_equal(r.core.number, 20);
    assert_string_equal(r.core_image, "core.bin");
    assert_int_equal(r.has_core_sha256, 1);
    assert_int_equal(r.has_script_sha256, 0);
    assert_int_equal(r.script.minor, 2);
    /* script-only: no core_image; archive paths have one directory */
    assert_int_equal(parse("[release]\nproject=P\ncore=Luat_V0020_RDA8910\n"
                           "script_version=1.2.0\nscript_image=script/1.2.0-0123456789abcdef.bin\n",
                           &r, msg), OTA_OK);
    assert_string_equal(r.core_image, "");
    /* format and parse back */
    ota_strlcpy(r.core_image, "core/Luat_V0020_RDA8910-3fa29c0e11d2a7b4.bin", DROP_NAME_MAX);
    r.has_core_sha256 = 1;
    drop_release_format(&r, text, sizeof text);
    assert_int_equal(parse(text, &back, msg), OTA_OK);
    assert_string_equal(back.core_image, r.core_image);
    assert_string_equal(back.script_image, r.script_image);
}

static void release_ini_bad(void **state)
{
    static const char *const bad[] = {
        "",
        "project = P\n",                                          /* no section */
        "[other]\nproject = P\n",
        "[release]\n[release]\n",
        "[release]\nproject = P\ncore = Luat_V0020_RDA8910\nscript_version = 1.2.0\n",
        "[release]\nproject=P\nproject=P\ncore=Luat_V0020_RDA8910\nscript_version=1.2.0\n"
        "script_image=s.bin\n",
        "[release]\nproject=P\ncore=Luat_V20_RDA8910\nscript_version=1.2.0\nscript_image=s\n",
        "[release]\nproject=P\ncore=Luat_V0020_RDA8910\nscript_version=1.2\nscript_image=s\n",
        "[release]\nproject=P\ncore=Luat_V0020_RDA8910\nscript_version=1.2.0\n"
        "script_image=../etc/passwd\n",
        "[release]\nproject=P\ncore=Luat_V0020_RDA8910\nscript_version=1.2.0\n"
        "script_image=/etc/passwd\n",
        "[release]\nproject=P\ncore=Luat_V0020_RDA8910\nscript_version=1.2.0\n"
        "script_image=.hidden\n",
        "[release]\nproject=P\ncore=Luat_V0020_RDA8910\nscript_version=1.2.0\n"
        "script_image=a/b/c\n",
        "[release]\nproject=P\ncore=Luat_V0020_RDA8910\nscript_version=1.2.0\n"
        "script_image=s\nscript_sha256=12\n",
        "[release]\nproject=P\ncore=Luat_V0020_RDA8910\nscript_version=1.2.0\n"
        "script_image=s\ncore_sha256=" SHA_A "\n", /* sha256 of no image */
        "[release]\nproject=P Q\ncore=Luat_V0020_RDA8910\nscript_version=1.2.0\nscript_image=s\n",
        "[release]\nproject=P\ncore=Luat_V0020_RDA8910\nscript_version=1.2.0\nscript_image=s\n"
        "colour = red\n",
        "[release]\njunk line\n",
    };
    struct drop_release r;
    char msg[OTA_MSG_LEN];
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        msg[0] = '\0';
        assert_int_not_equal(parse(bad[i], &r, msg), OTA_OK);
        assert_true(strlen(msg) > 0);
    }
    /* a NUL byte and an oversized file */
    assert_int_equal(drop_release_parse("[release]\nproject=P\0X\n", 22, &r, msg), OTA_E_INVAL);
    char *big = calloc(1, DROP_INI_MAX + 2);
    memset(big, ';', DROP_INI_MAX + 1);
    assert_int_equal(drop_release_parse(big, DROP_INI_MAX + 1, &r, msg), OTA_E_LIMIT);
    free(big);
}

/* What the shared inih reader (common/kv.h) decided for release.ini:
 * CR LF, inline " ;" comments, "key: value", indented keys and a UTF-8 BOM
 * pass; a line over KV_LINE_MAX, text after "[release]", a key before it
 * and a NUL are refused naming the line. */
#define REL_KEYS "project = P\ncore = Luat_V0020_RDA8910\nscript_version = 1.2.0\n"
static void release_ini_reader_rules(void **state)
{
    struct drop_release r;
    char msg[OTA_MSG_LEN], text[600];
    (void)state;
    assert_int_equal(parse("\xef\xbb\xbf[release]\r\nproject = P ; the project\r\n"
                           "  core: Luat_V0020_RDA8910\r\n\tscript_version = 1.2.0\r\n"
                           "script_image = s.bin\r\n", &r, msg), OTA_OK);
    assert_string_equal(r.project, "P");
    assert_string_equal(r.script_image, "s.bin");
    assert_int_equal(r.core.number, 20);
    /* ';' without a blank before it is part of the value */
    assert_int_equal(parse("[release]\n" REL_KEYS "script_image = s;x\n", &r, msg), OTA_E_INVAL);
    snprintf(text, sizeof text, "[release]\n" REL_KEYS "script_image = s.bin\n; %0*d\n",
             KV_LINE_MAX - 1, 0); /* a comment line of KV_LINE_MAX + 1 bytes */
    assert_int_equal(parse(text, &r, msg), OTA_E_INVAL);
    assert_string_equal(msg, "release.ini:6: line longer than 198 bytes");
    text[strlen(text) - 2] = '\n'; /* KV_LINE_MAX bytes: fits */
    assert_int_equal(parse(text, &r, msg), OTA_OK);
    assert_int_equal(parse("[release] core_image = c.bin\n" REL_KEYS "script_image = s\n", &r,
                           msg), OTA_E_INVAL);
    assert_string_equal(msg, "release.ini:1: text after the [section] header");
    assert_int_equal(parse("[release] ; comment\n" REL_KEYS "script_image = s\n", &r, msg),
                     OTA_OK);
    assert_int_equal(parse("project = P\n[release]\n", &r, msg), OTA_E_INVAL);
    assert_string_equal(msg, "release.ini:1: key 'project' before [release]");
    assert_int_equal(parse("[release]\nproject = P\nproject = Q\n", &r, msg), OTA_E_INVAL);
    assert_string_equal(msg, "release.ini:3: project: given twice");
    assert_int_equal(parse("[release]\n" REL_KEYS, &r, msg), OTA_E_INVAL);
    assert_string_equal(msg, "release.ini: missing key script_image");
    assert_int_equal(drop_release_parse("[release]\nproject=P\0X\n", 22, &r, msg), OTA_E_INVAL);
    assert_string_equal(msg, "release.ini:2: NUL byte");
}

static void platform_names(void **state)
{
    struct drop_platform_name p;
    char msg[OTA_MSG_LEN];
    (void)state;
    assert_int_equal(drop_platform_name_parse("DEMOPROJ_1.2.0_Luat_V0020_RDA8910.bin", &p, msg),
                     OTA_OK);
    assert_string_equal(p.project, "DEMOPROJ");
    assert_int_equal(p.is_script, 0);
    assert_int_equal(p.core.number, 20);
    assert_string_equal(p.core.chip, "RDA8910");
    assert_int_equal(p.script.minor, 2);
    assert_int_equal(drop_platform_name_parse("MY_PROJ_X_10.0.3_script.bin", &p, msg), OTA_OK);
    assert_string_equal(p.project, "MY_PROJ_X");
    assert_int_equal(p.is_script, 1);
    assert_int_equal(p.script.major, 10);
    static const char *const bad[] = {
        "DEMOPROJ_1.2.0_Luat_V0020_RDA8910.bi", "DEMOPROJ_1.2_Luat_V0020_RDA8910.bin",
        "1.2.0_Luat_V0020_RDA8910.bin",         "DEMOPROJ_1.2.0_Luat_V20_RDA8910.bin",
        "DEMOPROJ_1.2.0_script.BIN",            "_1.2.0_script.bin",
        "DEMO PROJ_1.2.0_script.bin",           "DEMOPROJ_1.2.0.dfota.bin",
        "script.bin",                           ".bin",
        "DEMOPROJ_1.2.0__V0020_RDA8910.bin",    "DEMOPROJ_x.y.z_script.bin",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(drop_platform_name_parse(bad[i], &p, msg), OTA_E_INVAL);
}

static void vendor_manifest(void **state)
{
    struct drop_vendor_item it[4];
    char msg[OTA_MSG_LEN];
    int n;
    const char *ok = "# vendor packages\n\nup17.dfota.bin DEMOPROJ Luat_V0017_RDA8910 "
                     "Luat_V0020_RDA8910 1.2.0 " SHA_A "\n"
                     "full.bin\tDEMOPROJ any Luat_V0020_RDA8910 1.2.0 " SHA_A "\n";
    (void)state;
    assert_int_equal(drop_vendor_manifest_parse(ok, strlen(ok), it, 4, &n, msg), OTA_OK);
    assert_int_equal(n, 2);
    assert_int_equal(it[0].from.number, 17);
    assert_int_equal(it[1].from_any, 1);
    assert_int_equal(drop_vendor_manifest_parse(ok, strlen(ok), it, 1, &n, msg), OTA_E_LIMIT);
    static const char *const bad[] = {
        "a.bin DEMOPROJ any Luat_V0020_RDA8910 1.2.0\n",
        "a.bin DEMOPROJ any Luat_V0020_RDA8910 1.2.0 " SHA_A " extra\n",
        "../a.bin DEMOPROJ any Luat_V0020_RDA8910 1.2.0 " SHA_A "\n",
        "d/a.bin DEMOPROJ any Luat_V0020_RDA8910 1.2.0 " SHA_A "\n",
        "a.bin DEMOPROJ Luat_V0021_RDA8910 Luat_V0020_RDA8910 1.2.0 " SHA_A "\n",
        "a.bin DEMOPROJ Luat_V0017_ESP32 Luat_V0020_RDA8910 1.2.0 " SHA_A "\n",
        "a.bin DEMOPROJ any Luat_V0020_RDA8910 1.2.0 xyz\n",
        "a.bin DEMOPROJ any Luat_V0020_RDA8910 1.2.0 " SHA_A "\n"
        "a.bin DEMOPROJ any Luat_V0020_RDA8910 1.2.0 " SHA_A "\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_not_equal(drop_vendor_manifest_parse(bad[i], strlen(bad[i]), it, 4, &n, msg),
                             OTA_OK);
}

static void request_parse(void **state)
{
    struct drop_request q;
    char msg[OTA_MSG_LEN];
    const char *text = "project=DEMOPROJ\ncore=Luat_V0017_RDA8910\nscript=1.0.0\n";
    const char *name = "DEMOPROJ+Luat_V0017_RDA8910+1.0.0.req";
    (void)state;
    assert_int_equal(drop_request_parse(name, text, strlen(text), &q, msg), OTA_OK);
    assert_int_equal(q.core.number, 17);
    /* content and name disagree, a key missing, garbage */
    assert_int_equal(drop_request_parse("DEMOPROJ+Luat_V0018_RDA8910+1.0.0.req", text,
                                        strlen(text), &q, msg), OTA_E_INVAL);
    assert_int_equal(drop_request_parse(name, "project=DEMOPROJ\n", 17, &q, msg), OTA_E_INVAL);
    assert_int_equal(drop_request_parse(name, "\x01\x02", 2, &q, msg), OTA_E_INVAL);
    /* error= lines (a renamed .failed) are skipped however many; a section is not a request */
    const char *failed = "project=DEMOPROJ\ncore=Luat_V0017_RDA8910\nscript=1.0.0\n"
                         "error=no archive: retry; later\nerror=again\n";
    assert_int_equal(drop_request_parse(name, failed, strlen(failed), &q, msg), OTA_OK);
    const char *section = "[request]\nproject=DEMOPROJ\ncore=Luat_V0017_RDA8910\nscript=1.0.0\n";
    assert_int_equal(drop_request_parse(name, section, strlen(section), &q, msg), OTA_E_INVAL);
    assert_string_equal(msg, "request:1: a [section] line in a file without sections");
}

/* The watch service's settle rule on a real folder. */
static void settle_rule(void **state)
{
    char dir[] = "/tmp/test_drop.XXXXXX", path[128];
    long long now = time(NULL);
    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/core.bin", dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fclose(fp);
    assert_int_equal(drop_settled(dir, 0, now + 10), 0); /* no marker yet */
    snprintf(path, sizeof path, "%s/release.ini", dir);
    assert_non_null(fp = fopen(path, "w"));
    fclose(fp);
    assert_int_equal(drop_settled(dir, 5, now), 0);      /* just written */
    assert_int_equal(drop_settled(dir, 5, now + 10), 1);
    snprintf(path, sizeof path, "%s/.core.bin.XyZ12", dir); /* an rsync temp file */
    assert_non_null(fp = fopen(path, "w"));
    fclose(fp);
    assert_int_equal(drop_settled(dir, 5, now + 10), 0);
    unlink(path);
    snprintf(path, sizeof path, "%s/release.ini", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/core.bin", dir);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(release_ini_ok),  cmocka_unit_test(release_ini_bad),
        cmocka_unit_test(release_ini_reader_rules),
        cmocka_unit_test(platform_names),  cmocka_unit_test(vendor_manifest),
        cmocka_unit_test(request_parse),   cmocka_unit_test(settle_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
