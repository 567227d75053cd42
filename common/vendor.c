/* vendor.c - vendor package manifests (vendor.h).
 *
 * The manifest is bounded (VENDOR_MANIFEST_MAX) and read by kv_parse
 * (inih, kv.h): "key = value", ';' or '#' comments, blank lines,
 * optionally under [vendor]. Each key at most once; all six required.
 */
#include "vendor.h"

#include "kv.h"

#include <stdio.h>
#include <string.h>

static const char *const vendor_keys[] = {"project", "from_core", "to_core", "script_version",
                                          "sha256", "size", NULL};

static enum ota_err vendor_size_parse(const char *v, uint64_t *out, char *msg)
{
    uint64_t n = 0;
    if (!*v || strlen(v) > 12)
        return ota_fail(msg, OTA_E_INVAL, "'%.32s' is not a byte count", v);
    for (const char *p = v; *p; p++) {
        if (*p < '0' || *p > '9')
            return ota_fail(msg, OTA_E_INVAL, "'%.32s' is not a byte count", v);
        n = n * 10 + (uint64_t)(*p - '0');
    }
    if (n == 0 || n > VENDOR_SIZE_MAX)
        return ota_fail(msg, OTA_E_LIMIT, "%llu not in 1..%llu", (unsigned long long)n,
                        (unsigned long long)VENDOR_SIZE_MAX);
    *out = n;
    return OTA_OK;
}

static enum ota_err vendor_value(void *user, int k, const char *v, char *d)
{
    struct vendor_manifest *m = user;
    switch (k) {
    case 0:
        return ver_project_check(v, d) == OTA_OK
                   ? ota_strlcpy(m->project, v, sizeof m->project) : OTA_E_INVAL;
    case 1:
        m->from_any = !strcmp(v, "any");
        return m->from_any ? OTA_OK : ver_core_parse(v, &m->from_core, d);
    case 2:
        return ver_core_parse(v, &m->to_core, d);
    case 3:
        return ver_script_parse(v, &m->script, d);
    case 4:
        return strlen(v) == 2 * CRYPTO_HASH_LEN && ota_unhex(v, m->sha256, CRYPTO_HASH_LEN) == OTA_OK
                   ? OTA_OK : ota_fail(d, OTA_E_INVAL, "expected %d hex digits", 2 * CRYPTO_HASH_LEN);
    default:
        return vendor_size_parse(v, &m->size, d);
    }
}

static enum ota_err vendor_check(const struct vendor_manifest *m, const char *name, char *msg)
{
    if (!m->from_any && !ver_core_same_line(&m->from_core, &m->to_core))
        return ota_fail(msg, OTA_E_INVAL, "%s: from_core and to_core are not one core line",
                        name);
    if (!m->from_any && m->from_core.number > m->to_core.number)
        return ota_fail(msg, OTA_E_INVAL, "%s: from_core is newer than to_core", name);
    return OTA_OK;
}

enum ota_err vendor_manifest_parse(const char *text, size_t len, const char *name,
                                   struct vendor_manifest *m, char *msg)
{
    const struct kv_spec spec = {.name = name, .max = VENDOR_MANIFEST_MAX, .section = "vendor",
                                 .section_optional = 1, .keys = vendor_keys,
                                 .required = (1u << 6) - 1, .syntax = "syntax error"};
    memset(m, 0, sizeof *m);
    enum ota_err e = kv_parse(text, len, &spec, vendor_value, m, msg);
    return e != OTA_OK ? e : vendor_check(m, name, msg);
}

size_t vendor_manifest_format(const struct vendor_manifest *m, char *out, size_t n)
{
    char from[VER_CORE_STR_MAX] = "any", to[VER_CORE_STR_MAX], script[VER_SCRIPT_STR_MAX];
    char sha[2 * CRYPTO_HASH_LEN + 1];
    if (!m->from_any)
        ver_core_format(&m->from_core, from);
    ver_core_format(&m->to_core, to);
    ver_script_format(&m->script, script);
    ota_hex(m->sha256, CRYPTO_HASH_LEN, sha);
    int k = snprintf(out, n, "# ota vendor package manifest\nproject = %s\nfrom_core = %s\n"
                     "to_core = %s\nscript_version = %s\nsha256 = %s\nsize = %llu\n", m->project,
                     from, to, script, sha, (unsigned long long)m->size);
    return k > 0 && (size_t)k < n ? (size_t)k : 0;
}

void vendor_header(const struct vendor_manifest *m, struct pkg_header *h)
{
    memset(h, 0, sizeof *h);
    h->format = PKG_FORMAT_VERSION;
    ota_strlcpy(h->project, m->project, sizeof h->project);
    ota_strlcpy(h->core_name, m->to_core.name, sizeof h->core_name);
    ota_strlcpy(h->chip, m->to_core.chip, sizeof h->chip);
    h->from_core = m->from_any ? PKG_FROM_ANY : m->from_core.number;
    h->to_core = m->to_core.number;
    h->script = m->script;
    h->flags = PKG_F_VENDOR | PKG_F_SCRIPT;
    if (m->from_any)
        h->flags |= PKG_F_CORE_FULL;
    else if (m->from_core.number != m->to_core.number)
        h->flags |= PKG_F_CORE_DELTA;
    h->core_len = m->size; /* pkg_total_size orders vendor packages by their size */
    memcpy(h->core_hash, m->sha256, CRYPTO_HASH_LEN);
}

void vendor_stem(const struct vendor_manifest *m, char *out, size_t n)
{
    char script[VER_SCRIPT_STR_MAX], from[8] = "any";
    ver_script_format(&m->script, script);
    if (!m->from_any)
        snprintf(from, sizeof from, "%04u", (unsigned)(m->from_core.number % 10000));
    snprintf(out, n, "%s_%s_%s-%04u", m->project, script, from,
             (unsigned)(m->to_core.number % 10000));
}

int vendor_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 200 || s[0] == '.' || strstr(s, ".tmp."))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' || s[i] == '-'))
            return 0;
    return 1;
}
