/* test_vendor.c - vendor package manifests (common/vendor.h) and their
 * publication into the cache (cache_vendor_publish, cache_vendor_check).
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

#include "cache.h"
#include "kv.h"
#include "vendor.h"

static char tmpdir[64];

static int setup(void **state)
{
    (void)state;
    return test_tmpdir_make(tmpdir, sizeof tmpdir, "test_vendor");
}

static int teardown(void **state)
{
    (void)state;
    test_tree_remove(tmpdir);
    return 0;
}

#define SHA "3fa29c0e11d2a7b43fa29c0e11d2a7b43fa29c0e11d2a7b43fa29c0e11d2a7b4"
#define GOOD "project = DEMOPROJ\nfrom_core = Luat_V0017_RDA8910\nto_core = Luat_V0020_RDA8910\n" \
             "script_version = 1.2.0\nsha256 = " SHA "\nsize = 12345\n"

static enum ota_err parse(const char *text, struct vendor_manifest *m, char *msg)
{
    return vendor_manifest_parse(text, strlen(text), "m.vendor.ini", m, msg);
}

static void manifest_ok(void **state)
{
    struct vendor_manifest m, again;
    struct pkg_header h;
    char msg[OTA_MSG_LEN], text[VENDOR_MANIFEST_MAX];
    (void)state;
    assert_int_equal(parse("; comment\n" GOOD, &m, msg), OTA_OK);
    assert_string_equal(m.project, "DEMOPROJ");
    assert_int_equal(m.from_core.number, 17);
    assert_int_equal(m.to_core.number, 20);
    assert_int_equal(m.size, 12345);
    size_t n = vendor_manifest_format(&m, text, sizeof text);
    assert_true(n > 0);
    assert_int_equal(vendor_manifest_parse(text, n, "again", &again, msg), OTA_OK);
    assert_memory_equal(&m, &again, sizeof m);
    vendor_header(&m, &h);
    assert_int_equal(h.flags, PKG_F_VENDOR | PKG_F_CORE_DELTA | PKG_F_SCRIPT);
    assert_int_equal(h.from_core, 17);
    assert_string_equal(h.chip, "RDA8910");
    /* from any: a full image; from == to: script only */
    assert_int_equal(parse("project = P\nfrom_core = any\nto_core = Luat_V0020_RDA8910\n"
                           "script_version = 1.0.0\nsha256 = " SHA "\nsize = 1\n", &m, msg),
                     OTA_OK);
    vendor_header(&m, &h);
    assert_int_equal(h.from_core, PKG_FROM_ANY);
    assert_true(h.flags & PKG_F_CORE_FULL);
    assert_int_equal(parse("project = P\nfrom_core = Luat_V0020_RDA8910\nto_core = "
                           "Luat_V0020_RDA8910\nscript_version = 1.0.0\nsha256 = " SHA
                           "\nsize = 1\n", &m, msg), OTA_OK);
    vendor_header(&m, &h);
    assert_int_equal(h.flags, PKG_F_VENDOR | PKG_F_SCRIPT);
}

static void manifest_errors(void **state)
{
    struct vendor_manifest m;
    char msg[OTA_MSG_LEN], big[VENDOR_MANIFEST_MAX + 2];
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"project = P\n", "missing key from_core"},
        {GOOD "size = 1\n", "size: given twice"},
        {GOOD "colour = red\n", "colour: unknown key"},
        {"[other]\n" GOOD, "unknown section"},
        {"project = P\nfrom_core = Luat_V0017_EC618\nto_core = Luat_V0020_RDA8910\n"
         "script_version = 1.2.0\nsha256 = " SHA "\nsize = 1\n", "not one core line"},
        {"project = P\nfrom_core = Luat_V0021_RDA8910\nto_core = Luat_V0020_RDA8910\n"
         "script_version = 1.2.0\nsha256 = " SHA "\nsize = 1\n", "newer than to_core"},
        {"project = P\nsha256 = abc\n", "sha256: expected 64 hex digits"},
        {"project = P\nsize = 0\n", "size: 0 not in"},
        {"project = P\nsize = 12x\n", "not a byte count"},
        {"project = ../x\n", "project"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_not_equal(parse(cases[i].text, &m, msg), OTA_OK);
        if (!strstr(msg, cases[i].want))
            fail_msg("case %zu: '%s' lacks '%s'", i, msg, cases[i].want);
    }
    memset(big, '#', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(parse(big, &m, msg), OTA_E_LIMIT);
    assert_int_equal(vendor_manifest_parse("project\0= P\n", 12, "n", &m, msg), OTA_E_INVAL);
}

/* Publish writes both files; check finds a changed byte; a drop's manifest
 * that does not match the bytes is refused before anything is written. */
/* Decided with the shared inih reader (common/kv.h): an optional [vendor]
 * header (keys before and under it), CR LF and indented keys pass; another
 * section, text after the header and an over-long line do not. */
static void manifest_reader_rules(void **state)
{
    struct vendor_manifest m;
    char msg[OTA_MSG_LEN], text[VENDOR_MANIFEST_MAX];
    (void)state;
    assert_int_equal(parse("project = DEMOPROJ\n[vendor]\nfrom_core = Luat_V0017_RDA8910\n"
                           "  to_core = Luat_V0020_RDA8910\r\nscript_version = 1.2.0\r\n"
                           "sha256 = " SHA "\nsize = 12345 ; bytes\n", &m, msg), OTA_OK);
    assert_int_equal(m.size, 12345);
    assert_int_equal(m.to_core.number, 20);
    assert_int_equal(parse("[vendor]\n[other]\n" GOOD, &m, msg), OTA_E_INVAL);
    assert_string_equal(msg, "m.vendor.ini:3: unknown section [other] (only [vendor])");
    assert_int_equal(parse("[vendor] size = 1\n" GOOD, &m, msg), OTA_E_INVAL);
    assert_string_equal(msg, "m.vendor.ini:1: text after the [section] header");
    snprintf(text, sizeof text, GOOD "# %0*d\n", KV_LINE_MAX, 0);
    assert_int_equal(parse(text, &m, msg), OTA_E_INVAL);
    assert_string_equal(msg, "m.vendor.ini:7: line longer than 198 bytes");
}

static void publish_and_check(void **state)
{
    struct vendor_manifest m, got;
    char msg[OTA_MSG_LEN], path[CFG_PATH_MAX + 256], bytes[] = "opaque vendor bytes";
    (void)state;
    assert_int_equal(parse(GOOD, &m, msg), OTA_OK);
    m.size = 0; /* from vendor-add: size and hash come from the bytes */
    assert_int_equal(cache_vendor_publish(tmpdir, NULL, (const uint8_t *)bytes, sizeof bytes, &m,
                                          path, msg), OTA_OK);
    assert_non_null(strstr(path, "/DEMOPROJ_1.2.0_0017-0020.vendor.ini"));
    assert_int_equal(cache_vendor_check(path, &got, msg), OTA_OK);
    assert_int_equal(got.size, sizeof bytes);
    char data[CFG_PATH_MAX + 256];
    snprintf(data, sizeof data, "%.*s", (int)(strlen(path) - 4), path); /* NAME.vendor */
    FILE *fp = fopen(data, "r+");
    assert_non_null(fp);
    fputc('X', fp);
    fclose(fp);
    assert_int_equal(cache_vendor_check(path, &got, msg), OTA_E_CORRUPT);
    assert_non_null(strstr(msg, "SHA-256"));
    m.sha256[0] ^= 1; /* a drop's manifest, size set: must match */
    assert_int_equal(cache_vendor_publish(tmpdir, "other", (const uint8_t *)bytes, sizeof bytes,
                                          &m, NULL, msg), OTA_E_CORRUPT);
    struct stat st;
    char other[256];
    snprintf(other, sizeof other, "%s/other.vendor", tmpdir);
    assert_int_not_equal(stat(other, &st), 0);
    assert_int_equal(cache_vendor_publish(tmpdir, "../escape", (const uint8_t *)bytes,
                                          sizeof bytes, &m, NULL, msg), OTA_E_CORRUPT);
    m.size = 0;
    assert_int_equal(cache_vendor_publish(tmpdir, "../escape", (const uint8_t *)bytes,
                                          sizeof bytes, &m, NULL, msg), OTA_E_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(manifest_ok),
        cmocka_unit_test(manifest_errors),
        cmocka_unit_test(manifest_reader_rules),
        cmocka_unit_test(publish_and_check),
    };
    return cmocka_run_group_tests_name("vendor", tests, setup, teardown);
}
