/* census.c - census file: parse, save, and the precompute-set rule (census.h).
 *
 * The parser reads line by line out of one bounded buffer; every field is
 * checked for character set and range by the ver_ parsers before it is
 * stored, so a loaded entry is always safe to print or to put in a file
 * name. Entries come back sorted (project, core, script), which is also
 * how duplicates are found.
 */
#include "census.h"

#include "io.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CENSUS_FIELDS 6

/* ---- parsing ------------------------------------------------------------ */

/* Decimal digits only, at most max; no sign, no spaces. */
static int census_u64(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (!*s || strlen(s) > 20)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || __builtin_mul_overflow(v, 10, &v) ||
            __builtin_add_overflow(v, (uint64_t)(*s - '0'), &v))
            return -1;
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

/* Split line (modified in place) at runs of spaces and tabs; the number
 * of fields, or -1 if there are more than max. */
static int census_split(char *line, char *field[], int max)
{
    int n = 0;
    char *p = line;
    while (*p) {
        while (*p == ' ' || *p == '\t')
            *p++ = '\0';
        if (!*p)
            break;
        if (n == max)
            return -1;
        field[n++] = p;
        while (*p && *p != ' ' && *p != '\t')
            p++;
    }
    return n;
}

static enum ota_err census_entry_parse(char *line, struct census_entry *e, char *detail)
{
    char *f[CENSUS_FIELDS];
    uint64_t first, last;
    memset(e, 0, sizeof *e);
    if (census_split(line, f, CENSUS_FIELDS) != CENSUS_FIELDS)
        return ota_fail(detail, OTA_E_CORRUPT, "expected %d fields: PROJECT CORE SCRIPT COUNT "
                        "FIRST_SEEN LAST_SEEN", CENSUS_FIELDS);
    if (ver_project_check(f[0], detail) != OTA_OK)
        return OTA_E_CORRUPT;
    memcpy(e->project, f[0], strlen(f[0]) + 1);
    if (ver_core_parse(f[1], &e->core, detail) != OTA_OK ||
        ver_script_parse(f[2], &e->script, detail) != OTA_OK)
        return OTA_E_CORRUPT;
    if (census_u64(f[3], UINT64_MAX, &e->count) != 0 || e->count == 0)
        return ota_fail(detail, OTA_E_CORRUPT, "count '%.24s' is not a number above 0", f[3]);
    if (census_u64(f[4], INT64_MAX, &first) != 0 || census_u64(f[5], INT64_MAX, &last) != 0 ||
        first > last)
        return ota_fail(detail, OTA_E_CORRUPT, "first_seen '%.24s' / last_seen '%.24s': not "
                        "unix seconds with first <= last", f[4], f[5]);
    e->first_seen = (int64_t)first;
    e->last_seen = (int64_t)last;
    return OTA_OK;
}

struct census_parser {
    const char *name;
    struct census_entry *e;
    size_t n, cap;
    unsigned line;
    int header, ended;
    uint64_t end_count;
};

static enum ota_err census_push(struct census_parser *p, const struct census_entry *e, char *msg)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        if (p->n >= CENSUS_ENTRIES_MAX)
            return ota_fail(msg, OTA_E_LIMIT, "%s:%u: more than %u entries", p->name, p->line,
                            CENSUS_ENTRIES_MAX);
        struct census_entry *ne = realloc(p->e, cap * sizeof *ne);
        if (!ne)
            return ota_fail(msg, OTA_E_NOMEM, "%s: out of memory at %zu entries", p->name,
                            p->n);
        p->e = ne;
        p->cap = cap;
    }
    p->e[p->n++] = *e;
    return OTA_OK;
}

/* A comment: the trailer "# end N" is remembered, others are skipped. */
static enum ota_err census_comment(struct census_parser *p, const char *line, char *msg)
{
    if (strncmp(line, "# end ", 6) != 0)
        return OTA_OK;
    if (census_u64(line + 6, UINT64_MAX, &p->end_count) != 0)
        return ota_fail(msg, OTA_E_CORRUPT, "%s:%u: trailer '%.40s' is not '# end N'", p->name,
                        p->line, line);
    p->ended = 1;
    return OTA_OK;
}

static enum ota_err census_line(struct census_parser *p, char *line, char *msg)
{
    char detail[OTA_MSG_LEN];
    struct census_entry e;
    if (!p->header) {
        if (strcmp(line, CENSUS_HEADER) != 0)
            return ota_fail(msg, OTA_E_CORRUPT, "%s:%u: not a census file (first line must be "
                            "'%s')", p->name, p->line, CENSUS_HEADER);
        p->header = 1;
        return OTA_OK;
    }
    if (p->ended)
        return ota_fail(msg, OTA_E_CORRUPT, "%s:%u: text after the '# end' trailer", p->name,
                        p->line);
    if (line[0] == '#')
        return census_comment(p, line, msg);
    if (line[strspn(line, " \t")] == '\0')
        return OTA_OK;
    if (census_entry_parse(line, &e, detail) != OTA_OK)
        return ota_fail(msg, OTA_E_CORRUPT, "%s:%u: %s", p->name, p->line, detail);
    return census_push(p, &e, msg);
}

static int census_cmp(const void *a, const void *b)
{
    const struct census_entry *x = a, *y = b;
    int c = strcmp(x->project, y->project);
    if (!c)
        c = strcmp(x->core.name, y->core.name);
    if (!c)
        c = strcmp(x->core.chip, y->core.chip);
    if (!c)
        c = (x->core.number > y->core.number) - (x->core.number < y->core.number);
    return c ? c : ver_script_cmp(&x->script, &y->script);
}

int census_same_pair(const struct census_entry *a, const struct census_entry *b)
{
    return census_cmp(a, b) == 0;
}

/* Sorted, no duplicate pair, and the trailer's count right. */
static enum ota_err census_finish(struct census_parser *p, char *msg)
{
    char core[VER_CORE_STR_MAX], script[VER_SCRIPT_STR_MAX];
    if (!p->header)
        return ota_fail(msg, OTA_E_CORRUPT, "%s: empty file (no '%s' header)", p->name,
                        CENSUS_HEADER);
    if (!p->ended)
        return ota_fail(msg, OTA_E_CORRUPT, "%s: no '# end N' trailer: the file is truncated",
                        p->name);
    if (p->end_count != p->n)
        return ota_fail(msg, OTA_E_CORRUPT, "%s: trailer says %" PRIu64 " entries, %zu read: "
                        "the file is damaged", p->name, p->end_count, p->n);
    if (p->n)
        qsort(p->e, p->n, sizeof *p->e, census_cmp);
    for (size_t i = 1; i < p->n; i++) {
        if (!census_same_pair(&p->e[i - 1], &p->e[i]))
            continue;
        ver_core_format(&p->e[i].core, core);
        ver_script_format(&p->e[i].script, script);
        return ota_fail(msg, OTA_E_CORRUPT, "%s: pair %s %s %s listed twice", p->name,
                        p->e[i].project, core, script);
    }
    return OTA_OK;
}

/* Walk the lines; each must end in '\n' (a last line without one is a cut
 * write) and hold no NUL. */
static enum ota_err census_lines(struct census_parser *p, const char *buf, size_t len, char *msg)
{
    char line[CENSUS_LINE_MAX];
    size_t pos = 0;
    while (pos < len) {
        const char *nl = memchr(buf + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - (buf + pos)) : len - pos;
        p->line++;
        if (!nl)
            return ota_fail(msg, OTA_E_CORRUPT, "%s:%u: last line has no newline: the file "
                            "is truncated", p->name, p->line);
        if (n >= sizeof line)
            return ota_fail(msg, OTA_E_CORRUPT, "%s:%u: line longer than %d bytes", p->name,
                            p->line, CENSUS_LINE_MAX - 1);
        if (memchr(buf + pos, '\0', n))
            return ota_fail(msg, OTA_E_CORRUPT, "%s:%u: NUL byte in the line", p->name,
                            p->line);
        memcpy(line, buf + pos, n);
        line[n] = '\0';
        if (n && line[n - 1] == '\r')
            line[n - 1] = '\0';
        enum ota_err e = census_line(p, line, msg);
        if (e != OTA_OK)
            return e;
        pos += n + 1;
    }
    return census_finish(p, msg);
}

enum ota_err census_parse(const char *buf, size_t len, const char *name,
                          struct census_entry **out, size_t *n, char *msg)
{
    struct census_parser p = {.name = name ? name : "census"};
    enum ota_err e = census_lines(&p, buf, len, msg);
    if (e != OTA_OK) {
        free(p.e);
        p.e = NULL;
        p.n = 0;
    }
    *out = p.e;
    *n = p.n;
    return e;
}

enum ota_err census_load(const char *path, struct census_entry **out, size_t *n, char *msg)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    *out = NULL;
    *n = 0;
    enum ota_err e = io_file_read_all(path, CENSUS_FILE_MAX, &buf, &len, msg);
    if (e == OTA_E_NOTFOUND)
        return OTA_OK;
    if (e != OTA_OK)
        return e;
    e = census_parse((const char *)buf, len, path, out, n, msg);
    free(buf);
    return e;
}

void census_free(struct census_entry *e)
{
    free(e);
}

/* ---- saving ------------------------------------------------------------- */

enum ota_err census_save(const char *path, const struct census_entry *e, size_t n, char *msg)
{
    char core[VER_CORE_STR_MAX], script[VER_SCRIPT_STR_MAX];
    struct io_atomic a;
    enum ota_err err = io_atomic_open(&a, path, 0644, msg);
    if (err != OTA_OK)
        return err;
    int bad = fprintf(a.fp, "%s\n", CENSUS_HEADER) < 0;
    for (size_t i = 0; i < n && !bad; i++) {
        ver_core_format(&e[i].core, core);
        ver_script_format(&e[i].script, script);
        bad = fprintf(a.fp, "%s %s %s %" PRIu64 " %" PRId64 " %" PRId64 "\n", e[i].project, core,
                      script, e[i].count, e[i].first_seen, e[i].last_seen) < 0;
    }
    if (bad || fprintf(a.fp, "# end %zu\n", n) < 0) {
        io_atomic_abort(&a);
        return ota_fail(msg, OTA_E_IO, "%s: write failed: %s", path, strerror(errno));
    }
    return io_atomic_commit(&a, msg);
}

/* ---- the precompute set -------------------------------------------------- */

int census_core_in_field(const struct census_entry *e, size_t n, const char *project,
                         const struct ver_core *core, int64_t now, int keep_days,
                         int64_t archived_at)
{
    if (keep_days <= 0)
        return 1;
    int64_t since = now - (int64_t)keep_days * CENSUS_DAY_S;
    if (archived_at > 0 && archived_at >= since)
        return 1;
    for (size_t i = 0; i < n; i++)
        if (e[i].last_seen >= since && strcmp(e[i].project, project) == 0 &&
            ver_core_same_line(&e[i].core, core) && e[i].core.number == core->number)
            return 1;
    return 0;
}
