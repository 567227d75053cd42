/* proto.c - Block2/uint options, the /fota query, diagnostics, reports.
 *
 * See proto.h. The JSON reader is deliberately tiny: it accepts one flat
 * object of strings, numbers and literals (what the server sends) and
 * refuses anything else rather than guessing.
 */
#include "proto.h"

#include <stdio.h>
#include <string.h>

size_t dev_block2_encode(uint32_t num, int more, unsigned szx, uint8_t out[3])
{
    uint32_t v = num << 4 | (more ? 8u : 0u) | (szx & 7u);
    /* Minimal length: a value of 0 is sent as a zero-length option. */
    size_t n = v == 0 ? 0 : v < 0x100 ? 1 : v < 0x10000 ? 2 : 3;
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    return n;
}

enum ota_err dev_block2_decode(const uint8_t *v, size_t len, uint32_t *num, int *more,
                               unsigned *szx, char *msg)
{
    uint64_t x;
    if (dev_uint_decode(v, len, 3, &x) != OTA_OK)
        return ota_fail(msg, OTA_E_CORRUPT, "Block2 option of %zu bytes (max 3)", len);
    if ((x & 7u) == 7u)
        return ota_fail(msg, OTA_E_CORRUPT, "Block2 SZX 7 (reserved) on UDP");
    *num = (uint32_t)(x >> 4);
    *more = (x & 8u) != 0;
    *szx = (unsigned)(x & 7u);
    return OTA_OK;
}

enum ota_err dev_uint_decode(const uint8_t *v, size_t len, size_t max, uint64_t *out)
{
    uint64_t x = 0;
    if (len > max || len > 8)
        return OTA_E_CORRUPT;
    for (size_t i = 0; i < len; i++)
        x = x << 8 | v[i];
    *out = x;
    return OTA_OK;
}

enum ota_err dev_szx_from_size(int block_size, unsigned *szx, char *msg)
{
    for (unsigned s = 0; s <= DEV_SZX_MAX; s++)
        if (16 << s == block_size) {
            *szx = s;
            return OTA_OK;
        }
    return ota_fail(msg, OTA_E_INVAL, "block_size %d: not a power of two in 16..1024",
                    block_size);
}

/* Append "key=value" as the next field; values were validated by cfg. */
static enum ota_err dev_query_add(struct dev_query *q, size_t *used, const char *key,
                                  const char *val, char *msg)
{
    size_t room = sizeof q->buf - *used;
    int n = snprintf(q->buf + *used, room, "%s=%s", key, val);
    if (n < 0 || (size_t)n >= room || q->n >= DEV_QUERY_FIELDS)
        return ota_fail(msg, OTA_E_LIMIT, "query: field %s does not fit in %d bytes", key,
                        DEV_QUERY_MAX);
    q->field[q->n] = q->buf + *used;
    q->len[q->n++] = (size_t)n;
    *used += (size_t)n + 1;
    return OTA_OK;
}

enum ota_err dev_query_build(const struct cfg_device *d, struct dev_query *q, char *msg)
{
    char fw[VER_PROJECT_MAX + VER_NAME_MAX + VER_CHIP_MAX + 2], num[8], script[VER_SCRIPT_STR_MAX];
    size_t used = 0;
    enum ota_err e = OTA_OK;
    q->n = 0;
    snprintf(fw, sizeof fw, "%s_%s_%s", d->project, d->core.name, d->core.chip);
    snprintf(num, sizeof num, "%u", (unsigned)d->core.number);
    ver_script_format(&d->script, script);
    const char *kv[][2] = {
        {"project_key", d->product_key}, {"imei", d->imei}, {"firmware_name", fw},
        {"core_version", num},           {"dfota", "1"},    {"version", script},
        {"device_key", d->device_key},
    };
    for (size_t i = 0; i < sizeof kv / sizeof kv[0] && e == OTA_OK; i++)
        if (kv[i][1][0] != '\0')
            e = dev_query_add(q, &used, kv[i][0], kv[i][1], msg);
    return e;
}

enum ota_err dev_query_join(const struct dev_query *q, char *out, size_t n)
{
    size_t pos = 0;
    if (n == 0)
        return OTA_E_LIMIT;
    out[0] = '\0';
    for (int i = 0; i < q->n; i++) {
        int w = snprintf(out + pos, n - pos, "%s%s", i ? "&" : "", q->field[i]);
        if (w < 0 || (size_t)w >= n - pos)
            return OTA_E_LIMIT;
        pos += (size_t)w;
    }
    return OTA_OK;
}

/* --- minimal JSON object reader -------------------------------------- */

struct dev_js {
    const uint8_t *p;
    size_t len, pos;
};

static void dev_js_ws(struct dev_js *j)
{
    while (j->pos < j->len && (j->p[j->pos] == ' ' || j->p[j->pos] == '\t' ||
                               j->p[j->pos] == '\n' || j->p[j->pos] == '\r'))
        j->pos++;
}

static int dev_js_eat(struct dev_js *j, char c)
{
    dev_js_ws(j);
    if (j->pos < j->len && j->p[j->pos] == c) {
        j->pos++;
        return 1;
    }
    return 0;
}

/* A string into out (truncated, NUL-terminated; out may be NULL). Escapes
 * are reduced to one byte each (a "\u" escape becomes '?'): the text is for humans. */
static int dev_js_string(struct dev_js *j, char *out, size_t n)
{
    size_t w = 0;
    if (!dev_js_eat(j, '"'))
        return 0;
    while (j->pos < j->len && j->p[j->pos] != '"') {
        uint8_t c = j->p[j->pos++];
        if (c == '\\') {
            if (j->pos >= j->len)
                return 0;
            c = j->p[j->pos++];
            if (c == 'u') {
                if (j->len - j->pos < 4)
                    return 0;
                j->pos += 4;
                c = '?';
            } else if (c == 'n' || c == 't' || c == 'r' || c == 'b' || c == 'f') {
                c = ' ';
            }
        }
        if (c < 0x20 || c == 0x7f)
            c = ' ';
        if (out && w + 1 < n)
            out[w++] = (char)c;
    }
    if (out && n)
        out[w] = '\0';
    if (j->pos >= j->len)
        return 0;
    j->pos++; /* the closing quote */
    return 1;
}

/* A number or literal: the run of [-+.0-9a-zA-Z]. Integer value in *v if
 * it is one (else *isint = 0). */
static int dev_js_scalar(struct dev_js *j, long *v, int *isint)
{
    size_t start;
    long x = 0;
    int neg = 0;
    dev_js_ws(j);
    start = j->pos;
    *isint = 1;
    if (j->pos < j->len && j->p[j->pos] == '-') {
        neg = 1;
        j->pos++;
    }
    while (j->pos < j->len) {
        uint8_t c = j->p[j->pos];
        if (c >= '0' && c <= '9') {
            if (x < 100000000L)
                x = x * 10 + (c - '0');
        } else if (c == '.' || c == '+' || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')) {
            *isint = 0;
        } else {
            break;
        }
        j->pos++;
    }
    *v = neg ? -x : x;
    if (j->pos == start + (size_t)neg)
        *isint = 0;
    return j->pos > start;
}

static int dev_js_member(struct dev_js *j, int *code, char *text, size_t textlen)
{
    char key[16];
    long v;
    int isint;
    if (!dev_js_string(j, key, sizeof key) || !dev_js_eat(j, ':'))
        return 0;
    dev_js_ws(j);
    if (j->pos < j->len && j->p[j->pos] == '"')
        return dev_js_string(j, strcmp(key, "msg") == 0 ? text : NULL, textlen);
    if (!dev_js_scalar(j, &v, &isint))
        return 0;
    if (strcmp(key, "code") == 0 && isint)
        *code = (int)v;
    return 1;
}

enum ota_err dev_diag_parse(const uint8_t *p, size_t len, int *code, char *text, size_t textlen)
{
    struct dev_js j = {p, len, 0};
    *code = -1;
    if (textlen)
        text[0] = '\0';
    if (!dev_js_eat(&j, '{'))
        return OTA_E_CORRUPT;
    if (dev_js_eat(&j, '}'))
        return OTA_OK;
    do {
        if (!dev_js_member(&j, code, text, textlen))
            return OTA_E_CORRUPT;
    } while (dev_js_eat(&j, ','));
    return dev_js_eat(&j, '}') ? OTA_OK : OTA_E_CORRUPT;
}

enum dev_status dev_status_from_response(unsigned coap_code, int srv_code)
{
    if (coap_code == 404 && srv_code == 27)
        return DEV_S_NO_UPDATE;
    if (coap_code == 429 || coap_code >= 500)
        return DEV_S_NET;
    if (coap_code >= 400)
        return DEV_S_REJECTED;
    return DEV_S_NET; /* 2.xx other than 2.05, 3.xx: not our protocol */
}

enum ota_err dev_report_json(const struct cfg_device *d, const struct dev_result *r,
                             int result_code, char *out, size_t n, size_t *len)
{
    char fc[VER_CORE_STR_MAX], tc[VER_CORE_STR_MAX], fs[VER_SCRIPT_STR_MAX],
        ts[VER_SCRIPT_STR_MAX];
    ver_core_format(&r->from_core, fc);
    ver_core_format(&r->to_core, tc);
    ver_script_format(&r->from_script, fs);
    ver_script_format(&r->to_script, ts);
    /* Every value is from validated config or our own formatting, so no
     * JSON escaping is needed; the reason is made so (the server's parser
     * takes no escapes). */
    char reason[DEV_REASON_MAX + 16] = "";
    if (r->reason[0]) {
        size_t k = (size_t)snprintf(reason, sizeof reason, ",\"reason\":\"");
        for (const char *c = r->reason; *c && k < sizeof reason - 3; c++)
            reason[k++] = *c == '"' || *c == '\\' ? '\'' : *c < 0x20 || *c > 0x7e ? '?' : *c;
        memcpy(reason + k, "\"", 2);
    }
    int w = snprintf(out, n,
                     "{\"imei\":\"%s\",\"project\":\"%s\",\"from_core\":\"%s\","
                     "\"to_core\":\"%s\",\"from_script\":\"%s\",\"to_script\":\"%s\","
                     "\"result\":%d,\"bytes\":%llu,\"seconds\":%.1f,\"apply_mem\":%zu%s}",
                     d->imei, d->project, fc, tc, fs, ts, result_code,
                     (unsigned long long)r->bytes, r->seconds, r->apply_mem, reason);
    if (w < 0 || (size_t)w >= n)
        return OTA_E_LIMIT;
    *len = (size_t)w;
    return OTA_OK;
}
