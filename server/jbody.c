/* jbody.c - flat JSON objects of the console's requests (see jbody.h).
 *
 * A cursor (buffer, end, position) is only ever advanced after checking
 * the byte it looks at is inside the buffer.
 */
#include "jbody.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct srv_jcur {
    const char *b;
    size_t len, pos;
};

static void srv_jws(struct srv_jcur *c)
{
    while (c->pos < c->len && (c->b[c->pos] == ' ' || c->b[c->pos] == '\t' ||
                               c->b[c->pos] == '\n' || c->b[c->pos] == '\r'))
        c->pos++;
}

static int srv_jpeek(const struct srv_jcur *c)
{
    return c->pos < c->len ? (unsigned char)c->b[c->pos] : -1;
}

/* A string: *off and *n span its content; -1 if malformed. */
static int srv_jstring(struct srv_jcur *c, size_t *off, size_t *n)
{
    if (srv_jpeek(c) != '"')
        return -1;
    size_t start = ++c->pos;
    for (; c->pos < c->len; c->pos++) {
        unsigned char ch = (unsigned char)c->b[c->pos];
        if (ch == '"') {
            *off = start;
            *n = c->pos - start;
            c->pos++;
            return 0;
        }
        if (ch < 0x20 || ch > 0x7e || ch == '\\')
            return -1;
    }
    return -1;
}

static int srv_jnumber(struct srv_jcur *c, double *out)
{
    char tmp[32];
    size_t k = 0;
    if (srv_jpeek(c) == '-')
        tmp[k++] = c->b[c->pos++];
    int digits = 0, dot = 0;
    while (c->pos < c->len && k < sizeof tmp - 1) {
        char ch = c->b[c->pos];
        if (ch >= '0' && ch <= '9')
            digits++;
        else if (ch == '.' && !dot && digits)
            dot = 1;
        else
            break;
        tmp[k++] = ch;
        c->pos++;
    }
    tmp[k] = '\0';
    if (!digits || tmp[k - 1] == '.' || k == sizeof tmp - 1)
        return -1;
    char *end;
    errno = 0;
    *out = strtod(tmp, &end);
    return errno || *end ? -1 : 0;
}

static int srv_jword(struct srv_jcur *c, const char *w)
{
    size_t n = strlen(w);
    if (c->len - c->pos < n || memcmp(c->b + c->pos, w, n) != 0)
        return -1;
    c->pos += n;
    return 0;
}

static int srv_jarray(struct srv_jcur *c, size_t *nitems)
{
    size_t off, n;
    c->pos++; /* '[' */
    srv_jws(c);
    *nitems = 0;
    if (srv_jpeek(c) == ']')
        return c->pos++, 0;
    for (;;) {
        srv_jws(c);
        if (srv_jstring(c, &off, &n) != 0)
            return -1;
        (*nitems)++;
        srv_jws(c);
        int ch = srv_jpeek(c);
        c->pos++;
        if (ch == ']')
            return 0;
        if (ch != ',')
            return -1;
    }
}

static int srv_jvalue(struct srv_jcur *c, struct srv_jbody_field *f)
{
    int ch = srv_jpeek(c);
    size_t start = c->pos;
    int r;
    if (ch == '"') {
        f->type = SRV_JB_STRING;
        return srv_jstring(c, &f->off, &f->len);
    }
    if (ch == '[') {
        f->type = SRV_JB_ARRAY;
        r = srv_jarray(c, &f->nitems);
    } else if (ch == '-' || (ch >= '0' && ch <= '9')) {
        f->type = SRV_JB_NUMBER;
        r = srv_jnumber(c, &f->num);
    } else if (ch == 't') {
        f->type = SRV_JB_TRUE;
        r = srv_jword(c, "true");
    } else if (ch == 'f') {
        f->type = SRV_JB_FALSE;
        r = srv_jword(c, "false");
    } else {
        f->type = SRV_JB_NULL;
        r = srv_jword(c, "null");
    }
    f->off = start;
    f->len = c->pos - start;
    return r;
}

/* One "key": value into out->f[out->n]. */
static int srv_jfield(struct srv_jcur *c, struct srv_jbody *out, const char **why)
{
    size_t off, n;
    struct srv_jbody_field *f = &out->f[out->n];
    *why = "expected a \"key\"";
    if (srv_jstring(c, &off, &n) != 0)
        return -1;
    *why = "key too long or empty";
    if (n == 0 || n >= sizeof f->key)
        return -1;
    memset(f, 0, sizeof *f);
    memcpy(f->key, c->b + off, n);
    *why = "key given twice";
    for (int i = 0; i < out->n; i++)
        if (!strcmp(out->f[i].key, f->key))
            return -1;
    srv_jws(c);
    *why = "expected ':'";
    if (srv_jpeek(c) != ':')
        return -1;
    c->pos++;
    srv_jws(c);
    *why = "bad value (string without escapes, number, true, false, null, array of strings)";
    if (srv_jvalue(c, f) != 0)
        return -1;
    out->n++;
    return 0;
}

static int srv_jobject(struct srv_jcur *c, struct srv_jbody *out, const char **why)
{
    srv_jws(c);
    *why = "expected '{'";
    if (srv_jpeek(c) != '{')
        return -1;
    c->pos++;
    srv_jws(c);
    if (srv_jpeek(c) == '}')
        return c->pos++, 0;
    for (;;) {
        srv_jws(c);
        *why = "too many keys";
        if (out->n == SRV_JBODY_FIELDS_MAX || srv_jfield(c, out, why) != 0)
            return -1;
        srv_jws(c);
        int ch = srv_jpeek(c);
        c->pos++;
        if (ch == '}')
            return 0;
        *why = "expected ',' or '}'";
        if (ch != ',')
            return -1;
    }
}

enum ota_err srv_jbody_parse(const char *buf, size_t len, struct srv_jbody *out, char *msg)
{
    struct srv_jcur c = {buf, len, 0};
    const char *why = "";
    memset(out, 0, sizeof *out);
    out->buf = buf;
    out->len = len;
    if (srv_jobject(&c, out, &why) == 0) {
        srv_jws(&c);
        if (c.pos >= len)
            return OTA_OK;
        why = "text after the object";
    }
    size_t at = c.pos < len ? c.pos : len;
    out->n = 0;
    return ota_fail(msg, OTA_E_INVAL, "JSON body, byte %zu: %s", at, why);
}

const struct srv_jbody_field *srv_jbody_get(const struct srv_jbody *j, const char *key)
{
    for (int i = 0; i < j->n; i++)
        if (!strcmp(j->f[i].key, key))
            return &j->f[i];
    return NULL;
}

int srv_jbody_item(const struct srv_jbody *j, const struct srv_jbody_field *f, size_t *pos,
                   const char **s, size_t *n)
{
    if (f->type != SRV_JB_ARRAY)
        return 0;
    /* The array was validated: find the next '"' in it and its closing one. */
    size_t p = *pos ? *pos : f->off + 1, end = f->off + f->len;
    while (p < end && j->buf[p] != '"')
        p++;
    if (p >= end)
        return 0;
    const char *q = memchr(j->buf + p + 1, '"', end - p - 1);
    if (!q)
        return 0;
    *s = j->buf + p + 1;
    *n = (size_t)(q - *s);
    *pos = (size_t)(q - j->buf) + 1;
    return 1;
}
