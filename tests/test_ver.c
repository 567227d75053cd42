/* test_ver.c - version parsing, comparison and firmware_name splitting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "ver.h"

static void script_parse_ok(void **state)
{
    struct ver_script v;
    char buf[VER_SCRIPT_STR_MAX];
    (void)state;
    assert_int_equal(ver_script_parse("1.2.3", &v, NULL), OTA_OK);
    assert_int_equal(v.major, 1);
    assert_int_equal(v.minor, 2);
    assert_int_equal(v.patch, 3);
    assert_int_equal(ver_script_parse("0.0.0", &v, NULL), OTA_OK);
    assert_int_equal(ver_script_parse("99999.0.12", &v, NULL), OTA_OK);
    ver_script_format(&v, buf);
    assert_string_equal(buf, "99999.0.12");
}

static void script_parse_bad(void **state)
{
    static const char *const bad[] = {"", "1", "1.2", "1.2.3.4", "1..3", ".1.2", "1.2.",
                                      "a.b.c", "1.2.3a", "-1.2.3", "+1.2.3", " 1.2.3",
                                      "100000.0.0", "1.2.99999999999", "1/2/3", "../1.2"};
    struct ver_script v;
    char msg[OTA_MSG_LEN];
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        msg[0] = '\0';
        assert_int_equal(ver_script_parse(bad[i], &v, msg), OTA_E_VERSION);
        assert_true(strlen(msg) > 0);
    }
}

static void script_compare_numeric(void **state)
{
    struct ver_script a, b;
    (void)state;
    ver_script_parse("1.10.0", &a, NULL);
    ver_script_parse("1.9.0", &b, NULL);
    assert_true(ver_script_cmp(&a, &b) > 0); /* numeric, not lexical */
    ver_script_parse("2.0.0", &b, NULL);
    assert_true(ver_script_cmp(&a, &b) < 0);
    ver_script_parse("1.10.0", &b, NULL);
    assert_int_equal(ver_script_cmp(&a, &b), 0);
    ver_script_parse("1.10.1", &b, NULL);
    assert_true(ver_script_cmp(&a, &b) < 0);
}

static void core_parse_ok(void **state)
{
    struct ver_core c;
    char buf[VER_CORE_STR_MAX];
    (void)state;
    assert_int_equal(ver_core_parse("Luat_V0017_RDA8910", &c, NULL), OTA_OK);
    assert_string_equal(c.name, "Luat");
    assert_string_equal(c.chip, "RDA8910");
    assert_int_equal(c.number, 17);
    ver_core_format(&c, buf);
    assert_string_equal(buf, "Luat_V0017_RDA8910");
}

static void core_parse_bad(void **state)
{
    static const char *const bad[] = {"", "Luat", "Luat_V17_RDA8910", "Luat_V00170_RDA8910",
                                      "Luat_0017_RDA8910", "Luat_V0017", "_V0017_RDA8910",
                                      "Luat_V0017_", "Luat_V00a7_RDA8910", "Lu/at_V0017_RDA",
                                      "Luat_V0017_RDA_8910", "Luat_V0017_RD.8910",
                                      "ThisNameIsWayTooLongForIt_V0017_RDA8910"};
    struct ver_core c;
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(ver_core_parse(bad[i], &c, NULL), OTA_E_VERSION);
}

static void core_number(void **state)
{
    uint32_t n;
    (void)state;
    assert_int_equal(ver_core_number_parse("17", &n, NULL), OTA_OK);
    assert_int_equal(n, 17);
    assert_int_equal(ver_core_number_parse("0017", &n, NULL), OTA_OK);
    assert_int_equal(n, 17);
    assert_int_equal(ver_core_number_parse("9999", &n, NULL), OTA_OK);
    assert_int_equal(ver_core_number_parse("10000", &n, NULL), OTA_E_VERSION);
    assert_int_equal(ver_core_number_parse("", &n, NULL), OTA_E_VERSION);
    assert_int_equal(ver_core_number_parse("-1", &n, NULL), OTA_E_VERSION);
    assert_int_equal(ver_core_number_parse("1x", &n, NULL), OTA_E_VERSION);
}

static void firmware_name_new_form(void **state)
{
    char project[VER_PROJECT_MAX];
    struct ver_core c;
    int has;
    (void)state;
    assert_int_equal(ver_firmware_name_split("MYPROJ_Luat_RDA8910", project, &c, &has, NULL),
                     OTA_OK);
    assert_string_equal(project, "MYPROJ");
    assert_string_equal(c.name, "Luat");
    assert_string_equal(c.chip, "RDA8910");
    assert_int_equal(has, 0);
    /* Project names contain underscores: split from the right. */
    assert_int_equal(ver_firmware_name_split("MY_PRO_J_Luat_RDA8910", project, &c, &has, NULL),
                     OTA_OK);
    assert_string_equal(project, "MY_PRO_J");
    assert_string_equal(c.name, "Luat");
}

static void firmware_name_old_form(void **state)
{
    char project[VER_PROJECT_MAX];
    struct ver_core c;
    int has;
    (void)state;
    assert_int_equal(
        ver_firmware_name_split("MY_PROJ_Luat_V0018_RDA8910", project, &c, &has, NULL), OTA_OK);
    assert_string_equal(project, "MY_PROJ");
    assert_string_equal(c.name, "Luat");
    assert_string_equal(c.chip, "RDA8910");
    assert_int_equal(c.number, 18);
    assert_int_equal(has, 1);
}

static void firmware_name_bad(void **state)
{
    static const char *const bad[] = {"", "Luat", "Luat_RDA8910", "_Luat_RDA8910",
                                      "P_Luat_", "P__RDA8910", "P/x_Luat_RDA8910",
                                      "../x_Luat_RDA8910", "P_Lu.at_RDA8910",
                                      "P_Luat_RDA 8910",
                                      "AVeryLongProjectNameThatIsTooLong_Luat_RDA8910"};
    char project[VER_PROJECT_MAX];
    struct ver_core c;
    int has;
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(ver_firmware_name_split(bad[i], project, &c, &has, NULL),
                         OTA_E_VERSION);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(script_parse_ok),        cmocka_unit_test(script_parse_bad),
        cmocka_unit_test(script_compare_numeric), cmocka_unit_test(core_parse_ok),
        cmocka_unit_test(core_parse_bad),         cmocka_unit_test(core_number),
        cmocka_unit_test(firmware_name_new_form), cmocka_unit_test(firmware_name_old_form),
        cmocka_unit_test(firmware_name_bad),
    };
    return cmocka_run_group_tests_name("ver", tests, NULL, NULL);
}
