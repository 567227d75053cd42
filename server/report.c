/* report.c - parse device reports and append them to the report log.
 *
 * Both payload forms are first cut into (key, value) spans by a small
 * tokenizer, then every pair goes through the same field table, so the
 * two forms cannot drift apart in what they accept.
 */
#include "report.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SRV_REPORT_PAIRS_MAX 16

struct srv_kv {
    const uint8_t *k, *v;
    size_t klen, vlen;
};

struct srv_kvs {
    struct srv_kv kv[SRV_REPORT_PAIRS_MAX];
    size_t n;
};

static enum ota_err srv_kv_add(struct srv_kvs *s, const uint8_t *k, size_t kl, const uint8_t *v,
                               size_t vl, char *msg)
{
    if (s->n == SRV_REPORT_PAIRS_MAX)
        return ota_fail(msg, OTA_E_INVAL, "report: more than %d fields", SRV_REPORT_PAIRS_MAX);
    s->kv[s->n++] = (struct srv_kv){k, v, kl, vl};
    return OTA_OK;
}

/* ---- tokenizers ------------------------------------------------------- */

static enum ota_err srv_split_query(const uint8_t *p, size_t len, struct srv_kvs *s, char *msg)
{
    size_t at = 0;
    while (at <= len) {
        const uint8_t *amp = memchr(p + at, '&', len - at);
        size_t n = amp ? (size_t)(amp - (p + at)) : len - at;
        const uint8_t *eq = memchr(p + at, '=', n);
        if (!eq)
            return ota_fail(msg, OTA_E_INVAL, "report: field at offset %zu has no '='", at);
        size_t kl = (size_t)(eq - (p + at));
        enum ota_err e = srv_kv_add(s, p + at, kl, eq + 1, n - kl - 1, msg);
        if (e != OTA_OK)
            return e;
        at += n + 1;
    }
    return OTA_OK;
}

static void srv_ws(const uint8_t *p, size_t len, size_t *at)
{
    while (*at < len && (p[*at] == ' ' || p[*at] == '\t' || p[*at] == '\r' || p[*at] == '\n'))
        (*at)++;
}

/* A JSON string without escapes, or a bare number-like token. */
static int srv_json_token(const uint8_t *p, size_t len, size_t *at, const uint8_t **tok,
                          size_t *tlen, int string_only)
{
    size_t start;
    if (*at < len && p[*at] == '"') {
        start = ++*at;
        while (*at < len && p[*at] != '"' && p[*at] != '\\' && p[*at] >= 0x20)
            (*at)++;
        if (*at >= len || p[*at] != '"')
            return 0;
        *tok = p + start;
        *tlen = (*at)++ - start;
        return 1;
    }
    if (string_only)
        return 0;
    start = *at;
    while (*at < len && strchr("+-.0123456789eE", p[*at]) && p[*at] != '\0')
        (*at)++;
    *tok = p + start;
    *tlen = *at - start;
    return *tlen > 0;
}

static enum ota_err srv_split_json(const uint8_t *p, size_t len, struct srv_kvs *s, char *msg)
{
    size_t at = 1; /* after '{' */
    int closed = 0;
    srv_ws(p, len, &at);
    if (at < len && p[at] == '}') {
        closed = 1;
        at++;
    }
    while (!closed && at < len) {
        const uint8_t *k, *v;
        size_t kl, vl;
        srv_ws(p, len, &at);
        if (!srv_json_token(p, len, &at, &k, &kl, 1))
            return ota_fail(msg, OTA_E_INVAL, "report: expected a key at offset %zu", at);
        srv_ws(p, len, &at);
        if (at >= len || p[at++] != ':')
            return ota_fail(msg, OTA_E_INVAL, "report: expected ':' at offset %zu", at);
        srv_ws(p, len, &at);
        if (!srv_json_token(p, len, &at, &v, &vl, 0))
            return ota_fail(msg, OTA_E_INVAL, "report: expected a value at offset %zu", at);
        enum ota_err e = srv_kv_add(s, k, kl, v, vl, msg);
        if (e != OTA_OK)
            return e;
        srv_ws(p, len, &at);
        if (at >= len || (p[at] != ',' && p[at] != '}'))
            return ota_fail(msg, OTA_E_INVAL, "report: expected ',' or '}' at offset %zu", at);
        closed = p[at++] == '}';
    }
    srv_ws(p, len, &at);
    if (!closed || at != len)
        return ota_fail(msg, OTA_E_INVAL, "report: object not closed or trailing bytes at "
                        "offset %zu", at);
    return OTA_OK;
}

/* ---- fields ------------------------------------------------------------ */

static int srv_all(const uint8_t *v, size_t n, const char *set)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == '\0' || !strchr(set, v[i]))
            return 0;
    return 1;
}

#define SRV_DIGITS "0123456789"
#define SRV_TOKEN "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._+-"

static int srv_is_seconds(const uint8_t *v, size_t n)
{
    const uint8_t *dot = memchr(v, '.', n);
    size_t ip = dot ? (size_t)(dot - v) : n, fp = dot ? n - ip - 1 : 0;
    return ip >= 1 && ip <= 7 && srv_all(v, ip, SRV_DIGITS) &&
           (!dot || (fp >= 1 && fp <= 3 && srv_all(dot + 1, fp, SRV_DIGITS)));
}

static int srv_is_result(const uint8_t *v, size_t n, long *out)
{
    char buf[8];
    size_t d = n > 0 && v[0] == '-';
    if (n - d < 1 || n - d > 5 || !srv_all(v + d, n - d, SRV_DIGITS))
        return 0;
    memcpy(buf, v, n);
    buf[n] = '\0';
    *out = strtol(buf, NULL, 10);
    return 1;
}

/* Numbers must be valid JSON as written: no leading zeros. */
static int srv_number_ok(const uint8_t *v, size_t n)
{
    return n > 0 && !(n > 1 && v[0] == '0' && v[1] != '.');
}

static int srv_set(char *dst, size_t cap, const uint8_t *v, size_t n, size_t min, const char *set)
{
    if (n < min || n >= cap || !srv_all(v, n, set))
        return 0;
    memcpy(dst, v, n);
    dst[n] = '\0';
    return 1;
}

/* Free text, never refused: cut to the bound, odd bytes made '?'. */
static int srv_reason(char *dst, const uint8_t *v, size_t n)
{
    if (n > SRV_REPORT_REASON_MAX - 1)
        n = SRV_REPORT_REASON_MAX - 1;
    for (size_t i = 0; i < n; i++)
        dst[i] = v[i] >= 0x20 && v[i] < 0x7f ? (char)v[i] : '?';
    dst[n] = '\0';
    return 1;
}

static int srv_key(const struct srv_kv *kv, const char *name)
{
    return kv->klen == strlen(name) && memcmp(kv->k, name, kv->klen) == 0;
}

/* 1 = stored, 0 = bad value, -1 = unknown key. */
static int srv_field(const struct srv_kv *kv, struct srv_report *r, int *has_result)
{
    if (srv_key(kv, "imei"))
        return srv_set(r->imei, sizeof r->imei, kv->v, kv->vlen, 14, SRV_DIGITS);
    struct {
        const char *key;
        char *dst;
    } tokens[] = {{"project", r->project},         {"from_core", r->from_core},
                  {"to_core", r->to_core},         {"from_script", r->from_script},
                  {"to_script", r->to_script}};
    for (size_t i = 0; i < sizeof tokens / sizeof tokens[0]; i++)
        if (srv_key(kv, tokens[i].key))
            return srv_set(tokens[i].dst, SRV_REPORT_VER_MAX, kv->v, kv->vlen, 1, SRV_TOKEN);
    if (srv_key(kv, "bytes"))
        return srv_number_ok(kv->v, kv->vlen) &&
               srv_set(r->bytes, sizeof r->bytes, kv->v, kv->vlen, 1, SRV_DIGITS);
    if (srv_key(kv, "etag"))
        return kv->vlen == 16 && srv_set(r->etag, sizeof r->etag, kv->v, 16, 16,
                                         "0123456789abcdefABCDEF");
    if (srv_key(kv, "detail"))
        return srv_set(r->detail, sizeof r->detail, kv->v, kv->vlen, 1, SRV_TOKEN);
    if (srv_key(kv, "reason"))
        return srv_reason(r->reason, kv->v, kv->vlen);
    if (srv_key(kv, "seconds"))
        return srv_is_seconds(kv->v, kv->vlen) && srv_number_ok(kv->v, kv->vlen) &&
               srv_set(r->seconds, sizeof r->seconds, kv->v, kv->vlen, 1, SRV_DIGITS ".");
    if (srv_key(kv, "result"))
        return (*has_result = srv_is_result(kv->v, kv->vlen, &r->result));
    return -1;
}

static enum ota_err srv_fields(const struct srv_kvs *s, struct srv_report *r, char *msg)
{
    int has_result = 0;
    for (size_t i = 0; i < s->n; i++) {
        const struct srv_kv *kv = &s->kv[i];
        if (kv->klen == 0 || kv->klen > 32 || !srv_all(kv->k, kv->klen, SRV_TOKEN))
            return ota_fail(msg, OTA_E_INVAL, "report: bad field name (field %zu)", i + 1);
        for (size_t j = 0; j < i; j++)
            if (s->kv[j].klen == kv->klen && memcmp(s->kv[j].k, kv->k, kv->klen) == 0)
                return ota_fail(msg, OTA_E_INVAL, "report: duplicate field %.*s", (int)kv->klen,
                                (const char *)kv->k);
        int ok = srv_field(kv, r, &has_result);
        if (ok < 0)
            ok = kv->vlen <= 64 && srv_all(kv->v, kv->vlen, SRV_TOKEN);
        if (!ok)
            return ota_fail(msg, OTA_E_INVAL, "report: bad value for %.*s", (int)kv->klen,
                            (const char *)kv->k);
    }
    if (!r->imei[0])
        return ota_fail(msg, OTA_E_INVAL, "report: imei missing");
    if (!has_result)
        return ota_fail(msg, OTA_E_INVAL, "report: result missing");
    return OTA_OK;
}

enum ota_err srv_report_parse(const uint8_t *p, size_t len, struct srv_report *r, char *msg)
{
    struct srv_kvs s;
    memset(&s, 0, sizeof s);
    memset(r, 0, sizeof *r);
    if (len == 0)
        return ota_fail(msg, OTA_E_INVAL, "report: empty payload");
    if (len > SRV_REPORT_MAX)
        return ota_fail(msg, OTA_E_LIMIT, "report: %zu bytes exceed %d", len, SRV_REPORT_MAX);
    enum ota_err e = p[0] == '{' ? srv_split_json(p, len, &s, msg)
                                 : srv_split_query(p, len, &s, msg);
    if (e == OTA_OK)
        e = srv_fields(&s, r, msg);
    return e;
}

/* ---- output ------------------------------------------------------------ */

struct srv_out {
    char *p;
    size_t n, len;
    int full;
};

static void srv_put(struct srv_out *o, const char *fmt, const char *key, const char *val)
{
    if (o->full || !val[0])
        return;
    int k = snprintf(o->p + o->len, o->n - o->len, fmt, key, val);
    if (k < 0 || (size_t)k >= o->n - o->len)
        o->full = 1;
    else
        o->len += (size_t)k;
}

/* ,"key":"value" with '"' and '\\' escaped (values hold printable ASCII
 * only, see srv_reason). */
static void srv_put_escaped(struct srv_out *o, const char *key, const char *val)
{
    char esc[2 * SRV_REPORT_REASON_MAX];
    size_t k = 0;
    for (const char *c = val; *c && k + 2 < sizeof esc; c++) {
        if (*c == '"' || *c == '\\')
            esc[k++] = '\\';
        esc[k++] = *c;
    }
    esc[k] = '\0';
    srv_put(o, ",\"%s\":\"%s\"", key, esc);
}

size_t srv_report_line(const struct srv_report *r, const char *peer, time_t now, char *out,
                       size_t n)
{
    char stamp[32], result[16];
    struct tm tm;
    struct srv_out o = {out, n, 0, 0};
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(result, sizeof result, "%ld", r->result);
    srv_put(&o, "{\"%s\":\"%s\"", "time", stamp);
    srv_put(&o, ",\"%s\":\"%s\"", "peer", peer);
    srv_put(&o, ",\"%s\":\"%s\"", "imei", r->imei);
    srv_put(&o, ",\"%s\":\"%s\"", "identity", r->identity);
    srv_put(&o, ",\"%s\":\"%s\"", "project", r->project);
    srv_put(&o, ",\"%s\":\"%s\"", "from_core", r->from_core);
    srv_put(&o, ",\"%s\":\"%s\"", "to_core", r->to_core);
    srv_put(&o, ",\"%s\":\"%s\"", "from_script", r->from_script);
    srv_put(&o, ",\"%s\":\"%s\"", "to_script", r->to_script);
    srv_put(&o, ",\"%s\":%s", "result", result);
    srv_put(&o, ",\"%s\":%s", "bytes", r->bytes);
    srv_put(&o, ",\"%s\":%s", "seconds", r->seconds);
    srv_put(&o, ",\"%s\":\"%s\"", "etag", r->etag);
    srv_put(&o, ",\"%s\":\"%s\"", "detail", r->detail);
    srv_put_escaped(&o, "reason", r->reason);
    srv_put(&o, "%s%s", "}", "\n");
    return o.full ? 0 : o.len;
}

enum ota_err srv_report_append(int fd, const char *line, size_t len, int sync, char *msg)
{
    ssize_t k = write(fd, line, len);
    if (k < 0 || (size_t)k != len)
        return ota_fail(msg, OTA_E_IO, "report log: write: %s",
                        k < 0 ? strerror(errno) : "short write");
    if (sync && fsync(fd) != 0)
        return ota_fail(msg, OTA_E_IO, "report log: fsync: %s", strerror(errno));
    return OTA_OK;
}
