/* drop_parse.c - parsers of what arrives with a release drop (drop.h):
 * release.ini, the platform's file names, vendor.manifest, and ota-server's
 * build requests.
 *
 * All take bytes from outside (an operator's copy, a spool file): every
 * line is bounded, NUL bytes are refused, every value is checked for
 * character set and length before it is stored, and each error names the
 * line. release.ini and requests are INI, read by kv_parse (inih, kv.h);
 * vendor.manifest is whitespace-separated columns, split here.
 * Fuzzed by tests/fuzz/fuzz_drop.c.
 */
#include "drop.h"

#include "kv.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#define DROP_LINE_MAX 512

int drop_core_equal(const struct ver_core *a, const struct ver_core *b)
{
    return ver_core_same_line(a, b) && a->number == b->number;
}

int drop_core_older(const struct ver_core *v, const struct ver_core *line)
{
    return ver_core_same_line(v, line) && v->number < line->number;
}

/* Next vendor.manifest line (no newline, trailing CR and surrounding
 * blanks removed) into line; 0 at the end, -1 if too long or holding a NUL. */
static int drop_next_line(const char *text, size_t len, size_t *pos, char *line)
{
    if (*pos >= len)
        return 0;
    const char *start = text + *pos, *nl = memchr(start, '\n', len - *pos);
    size_t n = nl ? (size_t)(nl - start) : len - *pos;
    *pos += n + (nl != NULL);
    if (n >= DROP_LINE_MAX || memchr(start, '\0', n))
        return -1;
    while (n && isspace((unsigned char)start[n - 1]))
        n--;
    while (n && isspace((unsigned char)*start)) {
        start++;
        n--;
    }
    memcpy(line, start, n);
    line[n] = '\0';
    return 1;
}

/* An image path: 1-2 components of [A-Za-z0-9._-], none starting with '.'
 * (so never "..", never a hidden temp file), no leading '/'. */
static enum ota_err drop_image_path_check(const char *what, const char *s, char *msg)
{
    size_t n = strlen(s);
    int slashes = 0;
    if (n == 0 || n >= DROP_NAME_MAX)
        return ota_fail(msg, OTA_E_INVAL, "%s: length %zu not in 1..%d", what, n,
                        DROP_NAME_MAX - 1);
    for (size_t i = 0; i < n; i++) {
        char ch = s[i], shown[8];
        if (ch == '/' && i > 0 && i + 1 < n && ++slashes == 1)
            continue;
        if ((i == 0 || s[i - 1] == '/') && ch == '.')
            return ota_fail(msg, OTA_E_INVAL, "%s: '%s' starts with '.'", what, s);
        if (!isalnum((unsigned char)ch) && ch != '.' && ch != '_' && ch != '-') {
            ver_char_show(ch, shown);
            return ota_fail(msg, OTA_E_INVAL, "%s: bad character %s at offset %zu", what,
                            shown, i);
        }
    }
    return OTA_OK;
}

static enum ota_err drop_sha_parse(const char *what, const char *v, uint8_t out[CRYPTO_HASH_LEN],
                                   int *has, char *msg)
{
    if (strlen(v) != 2 * CRYPTO_HASH_LEN || ota_unhex(v, out, CRYPTO_HASH_LEN) != OTA_OK)
        return ota_fail(msg, OTA_E_INVAL, "%s: expected 64 hex digits", what);
    *has = 1;
    return OTA_OK;
}

static const char *const drop_release_keys[] = {"project", "core", "script_version",
                                                "script_image", "core_image", "core_sha256",
                                                "script_sha256", NULL};

static enum ota_err drop_release_key(void *user, int key, const char *v, char *msg)
{
    struct drop_release *r = user;
    const char *k = drop_release_keys[key];
    switch (key) {
    case 0:
        if (ver_project_check(v, msg) != OTA_OK)
            return OTA_E_INVAL;
        return ota_strlcpy(r->project, v, sizeof r->project);
    case 1:
        return ver_core_parse(v, &r->core, msg);
    case 2:
        return ver_script_parse(v, &r->script, msg);
    case 3:
        return drop_image_path_check(k, v, msg) ?: ota_strlcpy(r->script_image, v, DROP_NAME_MAX);
    case 4:
        return drop_image_path_check(k, v, msg) ?: ota_strlcpy(r->core_image, v, DROP_NAME_MAX);
    case 5:
        return drop_sha_parse(k, v, r->core_sha256, &r->has_core_sha256, msg);
    default:
        return drop_sha_parse(k, v, r->script_sha256, &r->has_script_sha256, msg);
    }
}

enum ota_err drop_release_parse(const char *text, size_t len, struct drop_release *r, char *msg)
{
    static const struct kv_spec spec = {
        .name = "release.ini", .max = DROP_INI_MAX, .section = "release",
        .keys = drop_release_keys, .required = 0xf, /* project to script_image */
        .syntax = "expected key = value in [release]"};
    memset(r, 0, sizeof *r);
    enum ota_err e = kv_parse(text, len, &spec, drop_release_key, r, msg);
    if (e == OTA_OK && r->has_core_sha256 && !r->core_image[0])
        return ota_fail(msg, OTA_E_INVAL, "release.ini: core_sha256 without core_image");
    return e;
}

void drop_release_format(const struct drop_release *r, char *out, size_t n)
{
    char core[VER_CORE_STR_MAX], script[VER_SCRIPT_STR_MAX], ch[2 * CRYPTO_HASH_LEN + 1],
        sh[2 * CRYPTO_HASH_LEN + 1];
    ver_core_format(&r->core, core);
    ver_script_format(&r->script, script);
    ota_hex(r->core_sha256, CRYPTO_HASH_LEN, ch);
    ota_hex(r->script_sha256, CRYPTO_HASH_LEN, sh);
    int k = snprintf(out, n, "; written by ota-cache publish; the current release\n[release]\n"
                     "project = %s\ncore = %s\nscript_version = %s\nscript_image = %s\n",
                     r->project, core, script, r->script_image);
    if (k > 0 && (size_t)k < n && r->has_script_sha256)
        k += snprintf(out + k, n - k, "script_sha256 = %s\n", sh);
    if (k > 0 && (size_t)k < n && r->core_image[0])
        k += snprintf(out + k, n - k, "core_image = %s\n", r->core_image);
    if (k > 0 && (size_t)k < n && r->core_image[0] && r->has_core_sha256)
        snprintf(out + k, n - k, "core_sha256 = %s\n", ch);
}

/* Cut the last "_" field of s off into field (s shortened); -1 if none. */
static int drop_cut_last(char *s, char *field, size_t n)
{
    char *u = strrchr(s, '_');
    if (!u || u == s || ota_strlcpy(field, u + 1, n) != OTA_OK)
        return -1;
    *u = '\0';
    return 0;
}

enum ota_err drop_platform_name_parse(const char *name, struct drop_platform_name *out,
                                      char *msg)
{
    char s[DROP_NAME_MAX], chip[VER_CHIP_MAX], num[8], core_name[VER_NAME_MAX], ver[24],
        core[VER_CORE_STR_MAX];
    size_t n = strlen(name);
    memset(out, 0, sizeof *out);
    if (n < 5 || n >= sizeof s || strcmp(name + n - 4, ".bin") != 0)
        return ota_fail(msg, OTA_E_INVAL, "%.60s: not <PROJECT>_<x.y.z>_... .bin", name);
    memcpy(s, name, n - 4);
    s[n - 4] = '\0';
    if (drop_cut_last(s, chip, sizeof chip) != 0)
        return ota_fail(msg, OTA_E_INVAL, "%.60s: no '_' fields", name);
    if (!strcmp(chip, "script")) {
        out->is_script = 1;
    } else if (drop_cut_last(s, num, sizeof num) != 0 ||
               drop_cut_last(s, core_name, sizeof core_name) != 0 ||
               snprintf(core, sizeof core, "%s_%s_%s", core_name, num, chip) >= (int)sizeof core ||
               ver_core_parse(core, &out->core, NULL) != OTA_OK) {
        return ota_fail(msg, OTA_E_INVAL, "%.60s: expected <PROJECT>_<x.y.z>_<Name>_V<nnnn>_"
                        "<Chip>.bin or <PROJECT>_<x.y.z>_script.bin", name);
    }
    if (drop_cut_last(s, ver, sizeof ver) != 0 || ver_script_parse(ver, &out->script, NULL) ||
        ver_project_check(s, NULL) != OTA_OK)
        return ota_fail(msg, OTA_E_INVAL, "%.60s: expected <PROJECT>_<x.y.z>_ at the start",
                        name);
    return ota_strlcpy(out->project, s, sizeof out->project);
}

/* "any" or a full core name. */
static enum ota_err drop_from_core_parse(const char *s, struct drop_vendor_item *it, char *msg)
{
    if (!strcmp(s, "any")) {
        it->from_any = 1;
        return OTA_OK;
    }
    return ver_core_parse(s, &it->from, msg);
}

static enum ota_err drop_vendor_line(char *line, struct drop_vendor_item *it, char *msg)
{
    char *f[7], *save = NULL;
    int nf = 0;
    for (char *t = strtok_r(line, " \t", &save); t; t = strtok_r(NULL, " \t", &save))
        if (nf < 7)
            f[nf++] = t;
        else
            return ota_fail(msg, OTA_E_INVAL, "more than 6 fields");
    if (nf != 6)
        return ota_fail(msg, OTA_E_INVAL, "expected FILE PROJECT FROM_CORE TO_CORE SCRIPT "
                        "SHA256, got %d fields", nf);
    if (strchr(f[0], '/'))
        return ota_fail(msg, OTA_E_INVAL, "FILE: a name in the drop folder, no '/'");
    enum ota_err e = drop_image_path_check("FILE", f[0], msg);
    if (e == OTA_OK && (e = ver_project_check(f[1], msg)) == OTA_OK &&
        (e = drop_from_core_parse(f[2], it, msg)) == OTA_OK &&
        (e = ver_core_parse(f[3], &it->to, msg)) == OTA_OK &&
        (e = ver_script_parse(f[4], &it->script, msg)) == OTA_OK) {
        int has;
        e = drop_sha_parse("SHA256", f[5], it->sha256, &has, msg);
    }
    if (e != OTA_OK)
        return e;
    if (!it->from_any && !drop_core_older(&it->from, &it->to))
        return ota_fail(msg, OTA_E_VERSION, "FROM_CORE %s is not an older core of TO_CORE's "
                        "line", f[2]);
    ota_strlcpy(it->project, f[1], sizeof it->project);
    return ota_strlcpy(it->file, f[0], sizeof it->file);
}

enum ota_err drop_vendor_manifest_parse(const char *text, size_t len, struct drop_vendor_item *out,
                                        int max, int *n, char *msg)
{
    char line[DROP_LINE_MAX], detail[OTA_MSG_LEN];
    size_t pos = 0;
    int lineno = 0, got;
    *n = 0;
    if (len > DROP_MANIFEST_MAX)
        return ota_fail(msg, OTA_E_LIMIT, "vendor.manifest: %zu bytes, at most %d", len,
                        DROP_MANIFEST_MAX);
    while ((got = drop_next_line(text, len, &pos, line)) != 0) {
        lineno++;
        if (got < 0)
            return ota_fail(msg, OTA_E_INVAL, "vendor.manifest:%d: line too long or holds a "
                            "NUL", lineno);
        if (!line[0] || line[0] == '#')
            continue;
        if (*n == max)
            return ota_fail(msg, OTA_E_LIMIT, "vendor.manifest:%d: more than %d packages",
                            lineno, max);
        memset(&out[*n], 0, sizeof out[*n]);
        if (drop_vendor_line(line, &out[*n], detail) != OTA_OK)
            return ota_fail(msg, OTA_E_INVAL, "vendor.manifest:%d: %s", lineno, detail);
        for (int i = 0; i < *n; i++)
            if (!strcmp(out[i].file, out[*n].file))
                return ota_fail(msg, OTA_E_INVAL, "vendor.manifest:%d: %s listed twice",
                                lineno, out[i].file);
        ++*n;
    }
    return OTA_OK;
}

static const char *const drop_request_keys[] = {"project", "core", "script", NULL};

static enum ota_err drop_request_key(void *user, int key, const char *v, char *msg)
{
    struct drop_request *r = user;
    if (key == 0)
        return ver_project_check(v, msg) ?: ota_strlcpy(r->project, v, sizeof r->project);
    if (key == 1)
        return ver_core_parse(v, &r->core, msg);
    return ver_script_parse(v, &r->script, msg);
}

enum ota_err drop_request_parse(const char *name, const char *text, size_t len,
                                struct drop_request *out, char *msg)
{
    /* "error=" is the reason ota-cache appends to a .failed request */
    static const char *const ignore[] = {"error", NULL};
    static const struct kv_spec spec = {.name = "request", .max = DROP_INI_MAX,
                                        .keys = drop_request_keys, .required = 7,
                                        .ignore = ignore, .syntax = "expected key=value"};
    char want[DROP_NAME_MAX], core[VER_CORE_STR_MAX], script[VER_SCRIPT_STR_MAX];
    memset(out, 0, sizeof *out);
    enum ota_err e = kv_parse(text, len, &spec, drop_request_key, out, msg);
    if (e != OTA_OK)
        return e;
    ver_core_format(&out->core, core);
    ver_script_format(&out->script, script);
    snprintf(want, sizeof want, "%s+%s+%s.req", out->project, core, script);
    if (strcmp(name, want) != 0)
        return ota_fail(msg, OTA_E_INVAL, "request %.60s: content names %s", name, want);
    return OTA_OK;
}
