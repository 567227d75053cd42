/* kv.c - small "key = value" files read with inih (kv.h).
 *
 * inih reads lines through kv_reader, which serves them from the caller's
 * buffer (no NUL terminator needed), drops leading blanks, counts lines,
 * refuses over-long lines, "[...]" lines in a file without sections and
 * text after a header's "]", and ends the input at the first error so
 * inih stops there.
 * kv_on_key checks section, key and repetition before the caller's
 * handler sees the value. The first error and its line are kept; an error
 * inih finds itself (a line with no '=', ':' or ']') has no message of
 * ours, so spec->syntax is used when inih's line is not the recorded one.
 */
#include "kv.h"

#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct kv_ctx {
    const struct kv_spec *spec;
    kv_handler handler;
    void *user;
    const char *pos, *end;
    int line;     /* lines served to inih so far */
    int err_line; /* line of err, 0 while there is none */
    unsigned seen;
    char err[OTA_MSG_LEN];
};

__attribute__((format(printf, 2, 3))) static void kv_fail(struct kv_ctx *x, const char *fmt, ...)
{
    va_list ap;
    if (x->err_line)
        return;
    x->err_line = x->line;
    va_start(ap, fmt);
    vsnprintf(x->err, sizeof x->err, fmt, ap);
    va_end(ap);
}

/* inih ignores what follows "]" on a header line: allow only blanks and
 * a comment there, so "[release] core_image = x" is not silently lost. */
static int kv_header_tail_ok(const char *p, size_t n)
{
    const char *close = memchr(p, ']', n), *end = p + n;
    if (!close)
        return 1; /* inih reports the line */
    for (p = close + 1; p < end && (*p == ' ' || *p == '\t'); p++)
        ;
    return p == end || *p == ';' || *p == '#';
}

/* inih's fgets: the next line of the buffer with its "\n", blanks before
 * it removed; NULL at the end, after an error, or for a refused line. */
static char *kv_reader(char *str, int num, void *stream)
{
    struct kv_ctx *x = stream;
    if (x->err_line || x->pos >= x->end)
        return NULL;
    const char *p = x->pos, *nl = memchr(p, '\n', (size_t)(x->end - p));
    size_t n = nl ? (size_t)(nl - p) : (size_t)(x->end - p);
    x->pos += n + (nl != NULL);
    x->line++;
    if (n && p[n - 1] == '\r')
        n--;
    if (num < 2 || n > (size_t)num - 2) {
        kv_fail(x, "line longer than %d bytes", num - 2);
        return NULL;
    }
    while (n && (*p == ' ' || *p == '\t'))
        p++, n--;
    if (n && *p == '[' && (!x->spec->section || !kv_header_tail_ok(p, n))) {
        kv_fail(x, x->spec->section ? "text after the [section] header"
                                    : "a [section] line in a file without sections");
        return NULL;
    }
    memcpy(str, p, n);
    str[n] = '\n';
    str[n + 1] = '\0';
    return str;
}

static int kv_index(const char *const *keys, const char *k)
{
    for (int i = 0; keys && keys[i]; i++)
        if (!strcmp(keys[i], k))
            return i;
    return -1;
}

static int kv_section_ok(struct kv_ctx *x, const char *section, const char *k)
{
    const char *want = x->spec->section;
    if (!want) /* kv_reader refused every "[...]" line */
        return 1;
    if (!section[0] && !x->spec->section_optional)
        kv_fail(x, "key '%.40s' before [%s]", k, want);
    else if (section[0] && strcmp(section, want) != 0)
        kv_fail(x, "unknown section [%.40s] (only [%s])", section, want);
    return !x->err_line;
}

/* "key: detail", unless the detail already starts with the key's name. */
static void kv_value_fail(struct kv_ctx *x, const char *k, const char *detail)
{
    size_t n = strlen(k);
    if (!strncmp(detail, k, n) && detail[n] == ':')
        kv_fail(x, "%s", detail);
    else
        kv_fail(x, "%s: %s", k, detail);
}

static int kv_on_key(void *user, const char *section, const char *k, const char *v)
{
    struct kv_ctx *x = user;
    char detail[OTA_MSG_LEN] = "bad value";
    int i = kv_index(x->spec->keys, k);
    if (x->err_line || !kv_section_ok(x, section, k))
        return 0;
    if (i < 0 && kv_index(x->spec->ignore, k) >= 0)
        return 1;
    if (i < 0)
        kv_fail(x, "%.40s: unknown key", k);
    else if (x->seen & (1u << i))
        kv_fail(x, "%s: given twice", k);
    else if (x->seen |= 1u << i, x->handler(x->user, i, v, detail) != OTA_OK)
        kv_value_fail(x, k, detail);
    return !x->err_line;
}

enum ota_err kv_result(int line, const char *name, const char *err, char *msg)
{
    if (line > 0)
        return ota_fail(msg, OTA_E_INVAL, "%s:%d: %s", name, line,
                        err && err[0] ? err : "syntax error");
    if (line < 0)
        return ota_fail(msg, OTA_E_NOMEM, "%s: parser out of memory", name);
    return OTA_OK;
}

enum ota_err kv_parse(const char *text, size_t len, const struct kv_spec *spec, kv_handler h,
                      void *user, char *msg)
{
    struct kv_ctx x = {.spec = spec, .handler = h, .user = user, .pos = text};
    x.end = len ? text + len : text; /* text may be NULL when empty */
    if (len > spec->max)
        return ota_fail(msg, OTA_E_LIMIT, "%s: %zu bytes, at most %zu", spec->name, len,
                        spec->max);
    const char *nul = len ? memchr(text, '\0', len) : NULL;
    if (nul) {
        int line = 1;
        for (const char *p = text; p < nul; p++)
            line += *p == '\n';
        return ota_fail(msg, OTA_E_INVAL, "%s:%d: NUL byte", spec->name, line);
    }
    int line = ini_parse_stream(kv_reader, &x, kv_on_key, &x);
    if (line == 0 && x.err_line)
        line = x.err_line; /* a line the reader refused */
    if (line != 0)
        return kv_result(line, spec->name, line == x.err_line ? x.err : spec->syntax, msg);
    for (int i = 0; spec->keys[i]; i++)
        if ((spec->required & (1u << i)) && !(x.seen & (1u << i)))
            return ota_fail(msg, OTA_E_INVAL, "%s: missing key %s", spec->name, spec->keys[i]);
    return OTA_OK;
}
