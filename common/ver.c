/* ver.c - version parsing and comparison (see ver.h for the grammar).
 *
 * Strict by design: these strings arrive from devices unencoded, end up in
 * log lines and package file names, and decide which package is served.
 */
#include "ver.h"

#include <stdio.h>
#include <string.h>

static int ver_is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int ver_is_digit(char c)
{
    return c >= '0' && c <= '9';
}

void ver_char_show(char c, char out[8])
{
    unsigned char u = (unsigned char)c;
    if (u >= 0x21 && u < 0x7f && c != '\'')
        snprintf(out, 8, "'%c'", c);
    else
        snprintf(out, 8, "\\x%02x", u);
}

/* 1..max-1 characters of [A-Za-z0-9], plus '_' and '-' if punct. */
static enum ota_err ver_chars_check(const char *what, const char *s, size_t max, int punct,
                                    char *msg)
{
    size_t n = strlen(s);
    if (n == 0 || n >= max)
        return ota_fail(msg, OTA_E_VERSION, "%s: length %zu not in 1..%zu", what, n, max - 1);
    for (size_t i = 0; i < n; i++)
        if (!ver_is_alnum(s[i]) && !(punct && (s[i] == '_' || s[i] == '-'))) {
            char shown[8];
            ver_char_show(s[i], shown);
            return ota_fail(msg, OTA_E_VERSION, "%s: bad character %s at offset %zu (allowed: "
                            "A-Z a-z 0-9%s)", what, shown, i, punct ? " _ -" : "");
        }
    return OTA_OK;
}

enum ota_err ver_token_check(const char *what, const char *s, size_t max, char *msg)
{
    return ver_chars_check(what, s, max, 0, msg);
}

enum ota_err ver_ident_check(const char *what, const char *s, size_t max, char *msg)
{
    return ver_chars_check(what, s, max, 1, msg);
}

enum ota_err ver_project_check(const char *s, char *msg)
{
    return ver_chars_check("project", s, VER_PROJECT_MAX, 1, msg);
}

/* Parse digits [s, end) as a number <= max; no sign, no empty field. */
static int ver_number(const char *s, const char *end, uint32_t max, uint32_t *out)
{
    uint32_t v = 0;
    if (s == end || end - s > 10)
        return -1;
    for (; s < end; s++) {
        if (!ver_is_digit(*s))
            return -1;
        v = v * 10 + (uint32_t)(*s - '0');
        if (v > max)
            return -1;
    }
    *out = v;
    return 0;
}

enum ota_err ver_script_parse(const char *s, struct ver_script *out, char *msg)
{
    uint32_t f[3];
    const char *p = s;
    if (strlen(s) >= VER_SCRIPT_STR_MAX)
        return ota_fail(msg, OTA_E_VERSION, "script version: too long");
    for (int i = 0; i < 3; i++) {
        const char *end = p;
        while (ver_is_digit(*end))
            end++;
        if (ver_number(p, end, VER_SCRIPT_FIELD_MAX, &f[i]) != 0 || (i < 2 && *end != '.') ||
            (i == 2 && *end != '\0'))
            return ota_fail(msg, OTA_E_VERSION, "script version: expected x.y.z with numbers "
                                                "0..%u", VER_SCRIPT_FIELD_MAX);
        p = end + 1;
    }
    out->major = f[0];
    out->minor = f[1];
    out->patch = f[2];
    return OTA_OK;
}

int ver_script_cmp(const struct ver_script *a, const struct ver_script *b)
{
    if (a->major != b->major)
        return a->major < b->major ? -1 : 1;
    if (a->minor != b->minor)
        return a->minor < b->minor ? -1 : 1;
    if (a->patch != b->patch)
        return a->patch < b->patch ? -1 : 1;
    return 0;
}

void ver_script_format(const struct ver_script *v, char out[VER_SCRIPT_STR_MAX])
{
    snprintf(out, VER_SCRIPT_STR_MAX, "%u.%u.%u", (unsigned)(v->major % 100000),
             (unsigned)(v->minor % 100000), (unsigned)(v->patch % 100000));
}

enum ota_err ver_core_number_parse(const char *s, uint32_t *out, char *msg)
{
    if (ver_number(s, s + strlen(s), VER_CORE_NUMBER_MAX, out) != 0)
        return ota_fail(msg, OTA_E_VERSION, "core version: expected a number 0..%u",
                        VER_CORE_NUMBER_MAX);
    return OTA_OK;
}

/* Parse "<name>_V<nnnn>_<chip>" held in [s, s+len). */
static enum ota_err ver_core_parse_n(const char *s, size_t len, struct ver_core *out, char *msg)
{
    char buf[VER_CORE_STR_MAX];
    if (len >= sizeof buf)
        return ota_fail(msg, OTA_E_VERSION, "core version: too long");
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *u1 = strchr(buf, '_');
    char *u2 = strrchr(buf, '_');
    if (!u1 || u1 == u2 || u1[1] != 'V' || u2 - (u1 + 2) != 4)
        return ota_fail(msg, OTA_E_VERSION, "core version: expected <name>_V<nnnn>_<chip>");
    *u1 = *u2 = '\0';
    enum ota_err e = ver_token_check("core name", buf, VER_NAME_MAX, msg);
    if (e == OTA_OK)
        e = ver_token_check("chip", u2 + 1, VER_CHIP_MAX, msg);
    if (e != OTA_OK)
        return e;
    if (ver_number(u1 + 2, u2, VER_CORE_NUMBER_MAX, &out->number) != 0)
        return ota_fail(msg, OTA_E_VERSION, "core version: V must be followed by 4 digits");
    memcpy(out->name, buf, strlen(buf) + 1);
    memcpy(out->chip, u2 + 1, strlen(u2 + 1) + 1);
    return OTA_OK;
}

enum ota_err ver_core_parse(const char *s, struct ver_core *out, char *msg)
{
    return ver_core_parse_n(s, strlen(s), out, msg);
}

void ver_core_format(const struct ver_core *v, char out[VER_CORE_STR_MAX])
{
    snprintf(out, VER_CORE_STR_MAX, "%s_V%04u_%s", v->name, (unsigned)(v->number % 10000),
             v->chip);
}

int ver_core_same_line(const struct ver_core *a, const struct ver_core *b)
{
    return strcmp(a->name, b->name) == 0 && strcmp(a->chip, b->chip) == 0;
}

enum ota_err ver_firmware_name_split(const char *s, char project[VER_PROJECT_MAX],
                                     struct ver_core *core, int *has_number, char *msg)
{
    size_t n = strlen(s);
    const char *cut[3] = {NULL, NULL, NULL}; /* underscores from the right */
    int found = 0;
    for (size_t i = n; i-- > 0 && found < 3;)
        if (s[i] == '_')
            cut[found++] = s + i;
    if (found < 2)
        return ota_fail(msg, OTA_E_VERSION, "firmware_name: expected <PROJECT>_<core>_<chip>");
    /* Older form if the middle token is V followed by 4 digits. */
    const char *mid = cut[1] + 1;
    int old_form = found == 3 && cut[0] - mid == 5 && mid[0] == 'V';
    for (int i = 1; old_form && i < 5; i++)
        old_form = ver_is_digit(mid[i]);
    const char *core_start = old_form ? cut[2] + 1 : cut[1] + 1;
    size_t plen = (size_t)(core_start - 1 - s);
    if (plen == 0 || plen >= VER_PROJECT_MAX)
        return ota_fail(msg, OTA_E_VERSION, "firmware_name: project length %zu not in 1..%d",
                        plen, VER_PROJECT_MAX - 1);
    memcpy(project, s, plen);
    project[plen] = '\0';
    enum ota_err e = ver_project_check(project, msg);
    if (e != OTA_OK)
        return e;
    *has_number = old_form;
    if (old_form)
        return ver_core_parse_n(core_start, n - (size_t)(core_start - s), core, msg);
    /* New form: "<name>_<chip>"; parse it as "<name>_V0000_<chip>". */
    size_t nlen = (size_t)(cut[0] - core_start);
    if (nlen == 0 || nlen >= VER_NAME_MAX)
        return ota_fail(msg, OTA_E_VERSION, "firmware_name: core name length %zu not in 1..%d",
                        nlen, VER_NAME_MAX - 1);
    memcpy(core->name, core_start, nlen);
    core->name[nlen] = '\0';
    e = ver_token_check("core name", core->name, VER_NAME_MAX, msg);
    if (e == OTA_OK)
        e = ver_token_check("chip", cut[0] + 1, VER_CHIP_MAX, msg);
    if (e != OTA_OK)
        return e;
    memcpy(core->chip, cut[0] + 1, strlen(cut[0] + 1) + 1);
    core->number = 0;
    return OTA_OK;
}
