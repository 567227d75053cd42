/* query.c - strict parser for the GET /fota query (rules in query.h).
 *
 * Two passes over the raw bytes: the first splits key=value pairs and
 * checks key syntax, duplicates, and every value's character set and
 * length (so nothing unchecked is copied anywhere); the second interprets
 * the known fields with the version parsers of common/ver.c. Values are
 * handled as (pointer, length) spans into the caller's buffer until they
 * have passed their checks, then copied into fixed arrays of the result.
 */
#include "query.h"

#include <string.h>

#define SRV_QKEY_MAX 32   /* parameter names, known or not */
#define SRV_QOTHER_MAX 64 /* values of unknown parameters */

enum srv_qf {
    SRV_QF_PROJECT_KEY,
    SRV_QF_IMEI,
    SRV_QF_FIRMWARE_NAME,
    SRV_QF_CORE_VERSION,
    SRV_QF_DFOTA,
    SRV_QF_VERSION,
    SRV_QF_DEVICE_KEY,
    SRV_QF__COUNT
};

enum srv_charset {
    SRV_CS_KEY,     /* [A-Za-z0-9_-] */
    SRV_CS_DIGITS,  /* [0-9] */
    SRV_CS_VERSION, /* [0-9.] */
    SRV_CS_OTHER,   /* [A-Za-z0-9._-], values of unknown keys */
};

struct srv_qfield {
    const char *key;
    size_t min, max;
    enum srv_charset cs;
    int required;
};

static const struct srv_qfield srv_qfields[SRV_QF__COUNT] = {
    [SRV_QF_PROJECT_KEY] = {"project_key", 1, CFG_KEY_MAX - 1, SRV_CS_KEY, 1},
    [SRV_QF_IMEI] = {"imei", 14, CFG_IMEI_MAX - 1, SRV_CS_DIGITS, 1},
    [SRV_QF_FIRMWARE_NAME] = {"firmware_name", 1, SRV_FWNAME_MAX - 1, SRV_CS_KEY, 1},
    [SRV_QF_CORE_VERSION] = {"core_version", 1, 4, SRV_CS_DIGITS, 0},
    [SRV_QF_DFOTA] = {"dfota", 1, 1, SRV_CS_DIGITS, 1},
    [SRV_QF_VERSION] = {"version", 1, VER_SCRIPT_STR_MAX - 1, SRV_CS_VERSION, 1},
    [SRV_QF_DEVICE_KEY] = {"device_key", 0, CFG_KEY_MAX - 1, SRV_CS_KEY, 0},
};

struct srv_span {
    const uint8_t *p;
    size_t len;
};

struct srv_qscan {
    struct srv_span val[SRV_QF__COUNT];
    int seen[SRV_QF__COUNT];
};

static int srv_in_charset(uint8_t c, enum srv_charset cs)
{
    int digit = c >= '0' && c <= '9';
    int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    switch (cs) {
    case SRV_CS_DIGITS:
        return digit;
    case SRV_CS_VERSION:
        return digit || c == '.';
    case SRV_CS_KEY:
        return digit || alpha || c == '_' || c == '-';
    case SRV_CS_OTHER:
        return digit || alpha || c == '_' || c == '-' || c == '.';
    }
    return 0;
}

/* The checks every value gets first, so that the error names the real
 * problem rather than "bad character". */
static enum ota_err srv_value_generic(const char *name, struct srv_span v, char *msg)
{
    for (size_t i = 0; i < v.len; i++) {
        if (v.p[i] == '%')
            return ota_fail(msg, OTA_E_INVAL, "%s: percent-encoding not accepted", name);
        if (v.p[i] == '/' || v.p[i] == '\\')
            return ota_fail(msg, OTA_E_INVAL, "%s: path character not allowed", name);
        if (v.p[i] == '.' && i + 1 < v.len && v.p[i + 1] == '.')
            return ota_fail(msg, OTA_E_INVAL, "%s: '..' not allowed", name);
    }
    return OTA_OK;
}

static enum ota_err srv_value_check(const char *name, struct srv_span v, size_t min, size_t max,
                                    enum srv_charset cs, char *msg)
{
    enum ota_err e = srv_value_generic(name, v, msg);
    if (e != OTA_OK)
        return e;
    if (v.len < min || v.len > max)
        return ota_fail(msg, OTA_E_INVAL, "%s: length %zu not in %zu..%zu", name, v.len, min, max);
    for (size_t i = 0; i < v.len; i++)
        if (!srv_in_charset(v.p[i], cs))
            return ota_fail(msg, OTA_E_INVAL, "%s: bad character at offset %zu", name, i);
    return OTA_OK;
}

static int srv_key_is(struct srv_span k, const char *name)
{
    return k.len == strlen(name) && memcmp(k.p, name, k.len) == 0;
}

static int srv_known_key(struct srv_span k)
{
    for (int f = 0; f < SRV_QF__COUNT; f++)
        if (srv_key_is(k, srv_qfields[f].key))
            return f;
    return -1;
}

static enum ota_err srv_key_check(struct srv_span k, size_t at, char *msg)
{
    if (k.len == 0 || k.len > SRV_QKEY_MAX)
        return ota_fail(msg, OTA_E_INVAL, "query: parameter name at offset %zu has length %zu "
                        "(1..%d)", at, k.len, SRV_QKEY_MAX);
    for (size_t i = 0; i < k.len; i++)
        if (!srv_in_charset(k.p[i], SRV_CS_KEY) || k.p[i] == '-')
            return ota_fail(msg, OTA_E_INVAL, "query: bad character in parameter name at "
                            "offset %zu", at + i);
    return OTA_OK;
}

/* One "key=value" in q[at, at+n). Known keys are recorded, unknown ones
 * only checked. */
static enum ota_err srv_pair(const uint8_t *q, size_t at, size_t n, struct srv_qscan *s, char *msg)
{
    const uint8_t *eq = memchr(q + at, '=', n);
    if (n == 0)
        return ota_fail(msg, OTA_E_INVAL, "query: empty parameter at offset %zu", at);
    if (!eq)
        return ota_fail(msg, OTA_E_INVAL, "query: parameter at offset %zu has no '='", at);
    struct srv_span k = {q + at, (size_t)(eq - (q + at))};
    struct srv_span v = {eq + 1, n - k.len - 1};
    enum ota_err e = srv_key_check(k, at, msg);
    if (e != OTA_OK)
        return e;
    int f = srv_known_key(k);
    if (f < 0) {
        char name[SRV_QKEY_MAX + 1];
        memcpy(name, k.p, k.len);
        name[k.len] = '\0';
        return srv_value_check(name, v, 0, SRV_QOTHER_MAX, SRV_CS_OTHER, msg);
    }
    const struct srv_qfield *fd = &srv_qfields[f];
    if (s->seen[f])
        return ota_fail(msg, OTA_E_INVAL, "%s: given twice", fd->key);
    s->seen[f] = 1;
    s->val[f] = v;
    if (v.len == 0 && !fd->required)
        return OTA_OK;
    return srv_value_check(fd->key, v, fd->min, fd->max, fd->cs, msg);
}

static enum ota_err srv_scan(const uint8_t *q, size_t len, struct srv_qscan *s, char *msg)
{
    size_t at = 0, pairs = 0;
    if (len == 0)
        return ota_fail(msg, OTA_E_INVAL, "query: missing (project_key, imei, firmware_name, "
                        "dfota, version expected)");
    if (len > SRV_QUERY_MAX)
        return ota_fail(msg, OTA_E_INVAL, "query: length %zu exceeds %d", len, SRV_QUERY_MAX);
    while (at <= len) {
        const uint8_t *amp = memchr(q + at, '&', len - at);
        size_t n = amp ? (size_t)(amp - (q + at)) : len - at;
        if (++pairs > SRV_QUERY_PAIRS_MAX)
            return ota_fail(msg, OTA_E_INVAL, "query: more than %d parameters",
                            SRV_QUERY_PAIRS_MAX);
        enum ota_err e = srv_pair(q, at, n, s, msg);
        if (e != OTA_OK)
            return e;
        at += n + 1;
    }
    for (int f = 0; f < SRV_QF__COUNT; f++)
        if (srv_qfields[f].required && !s->seen[f])
            return ota_fail(msg, OTA_E_INVAL, "%s: missing", srv_qfields[f].key);
    return OTA_OK;
}

/* Copy a checked span; the field limits guarantee it fits. */
static void srv_copy(char *dst, size_t cap, struct srv_span v)
{
    size_t n = v.len < cap ? v.len : cap - 1;
    if (n > 0) /* an absent optional field has no pointer at all */
        memcpy(dst, v.p, n);
    dst[n] = '\0';
}

static enum ota_err srv_firmware(struct srv_query *out, char *msg)
{
    char sub[OTA_MSG_LEN];
    int has_number = 0;
    enum ota_err e = ver_firmware_name_split(out->firmware_name, out->project, &out->core,
                                             &has_number, sub);
    if (e != OTA_OK)
        return ota_fail(msg, OTA_E_VERSION, "%s%s",
                        strncmp(sub, "firmware_name", 13) == 0 ? "" : "firmware_name: ", sub);
    out->old_form = has_number;
    return OTA_OK;
}

static enum ota_err srv_core_number(const struct srv_qscan *s, struct srv_query *out, char *msg)
{
    char num[8];
    uint32_t n;
    struct srv_span v = s->val[SRV_QF_CORE_VERSION];
    if (!s->seen[SRV_QF_CORE_VERSION] || v.len == 0) {
        if (out->old_form)
            return OTA_OK;
        return ota_fail(msg, OTA_E_INVAL, "core_version: missing (firmware_name has no "
                        "_Vnnnn_ part)");
    }
    srv_copy(num, sizeof num, v);
    if (ver_core_number_parse(num, &n, NULL) != OTA_OK)
        return ota_fail(msg, OTA_E_VERSION, "core_version: expected a number 0..9999");
    if (out->old_form && n != out->core.number)
        return ota_fail(msg, OTA_E_INVAL, "core_version: %u disagrees with firmware_name "
                        "V%04u", (unsigned)n, (unsigned)out->core.number);
    out->core.number = n;
    return OTA_OK;
}

static enum ota_err srv_interpret(const struct srv_qscan *s, struct srv_query *out, char *msg)
{
    char ver[VER_SCRIPT_STR_MAX];
    srv_copy(out->project_key, sizeof out->project_key, s->val[SRV_QF_PROJECT_KEY]);
    srv_copy(out->imei, sizeof out->imei, s->val[SRV_QF_IMEI]);
    srv_copy(out->firmware_name, sizeof out->firmware_name, s->val[SRV_QF_FIRMWARE_NAME]);
    srv_copy(out->device_key, sizeof out->device_key, s->val[SRV_QF_DEVICE_KEY]);
    if (s->val[SRV_QF_DFOTA].p[0] > '1')
        return ota_fail(msg, OTA_E_INVAL, "dfota: expected 0 or 1");
    out->dfota = s->val[SRV_QF_DFOTA].p[0] == '1';
    enum ota_err e = srv_firmware(out, msg);
    if (e == OTA_OK)
        e = srv_core_number(s, out, msg);
    if (e != OTA_OK)
        return e;
    srv_copy(ver, sizeof ver, s->val[SRV_QF_VERSION]);
    if (ver_script_parse(ver, &out->script, NULL) != OTA_OK)
        return ota_fail(msg, OTA_E_VERSION, "version: expected x.y.z with numbers 0..%u",
                        VER_SCRIPT_FIELD_MAX);
    return OTA_OK;
}

enum ota_err srv_query_parse(const uint8_t *q, size_t len, struct srv_query *out, char *msg)
{
    struct srv_qscan s;
    memset(&s, 0, sizeof s);
    memset(out, 0, sizeof *out);
    enum ota_err e = srv_scan(q, len, &s, msg);
    if (e == OTA_OK)
        e = srv_interpret(&s, out, msg);
    if (e != OTA_OK)
        memset(out, 0, sizeof *out);
    return e;
}
