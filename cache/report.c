/* report.c - group and summarise the JSON-lines report log (report.h).
 *
 * The log is written by ota-server with no escapes and flat values, so a
 * field is found by its quoted key followed by ':'; values are checked
 * (strings: printable, no quote; numbers: strtod/strtol must consume
 * them) before use. Groups live in a growing array searched by binary
 * search on insertion order kept sorted, so a log of millions of lines
 * costs O(lines * log groups).
 */
#include "report.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cache_group {
    struct cache_report_row row;
    double *times;
    size_t ntimes, cap;
};

struct cache_groups {
    struct cache_group *g;
    size_t n, cap;
    double *all_times;
    size_t nall, capall;
};

/* ---- one line ----------------------------------------------------------- */

/* Pointer to the value after "key": in line, or NULL. */
static const char *cache_json_value(const char *line, const char *key)
{
    char pat[40];
    int k = snprintf(pat, sizeof pat, "\"%s\":", key);
    if (k < 0 || (size_t)k >= sizeof pat)
        return NULL;
    const char *p = strstr(line, pat);
    if (!p)
        return NULL;
    p += k;
    while (*p == ' ')
        p++;
    return p;
}

/* A string value into out; 0 on success. The server escapes only '"'
 * and '\\' (in "reason"); control characters are refused. */
int cache_report_json_string(const char *line, const char *key, char *out, size_t n)
{
    const char *p = cache_json_value(line, key);
    size_t k = 0;
    if (!p || *p != '"')
        return -1;
    for (p++; *p != '"'; p++) {
        if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
            p++;
        else if ((unsigned char)*p < 0x20 || *p == '\\')
            return -1;
        if (k + 1 >= n)
            return -1;
        out[k++] = *p;
    }
    out[k] = '\0';
    return 0;
}

int cache_report_json_number(const char *line, const char *key, double *out)
{
    const char *p = cache_json_value(line, key);
    char *end;
    if (!p || !(*p == '-' || (*p >= '0' && *p <= '9')))
        return -1;
    errno = 0;
    *out = strtod(p, &end);
    return errno || (*end != ',' && *end != '}' && *end != ' ') ? -1 : 0;
}

/* "<core>/<script>" from two fields, "-" for a missing one. */
static void cache_pair(const char *line, const char *core_key, const char *script_key,
                       char out[CACHE_REPORT_FROM_MAX])
{
    char core[48], script[48];
    if (cache_report_json_string(line, core_key, core, sizeof core) != 0)
        memcpy(core, "-", 2);
    if (cache_report_json_string(line, script_key, script, sizeof script) != 0)
        memcpy(script, "-", 2);
    snprintf(out, CACHE_REPORT_FROM_MAX, "%s/%s", core, script);
}

int cache_report_parse_line(const char *line, struct cache_report_fields *f)
{
    double r;
    if (line[0] != '{' || cache_report_json_number(line, "result", &r) != 0 ||
        r != (double)(long)r)
        return -1;
    f->result = (long)r;
    cache_pair(line, "from_core", "from_script", f->from);
    cache_pair(line, "to_core", "to_script", f->release);
    if (cache_report_json_string(line, "reason", f->reason, sizeof f->reason) != 0)
        f->reason[0] = '\0';
    if (cache_report_json_number(line, "seconds", &f->seconds) != 0 || f->seconds < 0)
        f->seconds = -1;
    return 0;
}

/* ---- groups --------------------------------------------------------------- */

static int cache_push(double **arr, size_t *n, size_t *cap, double v)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 16;
        double *p = realloc(*arr, nc * sizeof *p);
        if (!p)
            return -1;
        *arr = p;
        *cap = nc;
    }
    (*arr)[(*n)++] = v;
    return 0;
}

static int cache_group_cmp(const struct cache_report_row *a, const char *release,
                           const char *from)
{
    int c = strcmp(a->release, release);
    return c ? c : strcmp(a->from, from);
}

/* The group (release, from), inserted in sorted position if new. */
static struct cache_group *cache_group_get(struct cache_groups *gs, const char *release,
                                           const char *from)
{
    size_t lo = 0, hi = gs->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cache_group_cmp(&gs->g[mid].row, release, from);
        if (c == 0)
            return &gs->g[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    /* The last slot is kept for "(other)". */
    if (gs->n >= CACHE_REPORT_GROUPS_MAX - 1 && strcmp(from, "(other)") != 0)
        return cache_group_get(gs, "(other)", "(other)");
    if (gs->n == gs->cap) {
        size_t nc = gs->cap ? gs->cap * 2 : 16;
        struct cache_group *p = realloc(gs->g, nc * sizeof *p);
        if (!p)
            return NULL;
        gs->g = p;
        gs->cap = nc;
    }
    memmove(&gs->g[lo + 1], &gs->g[lo], (gs->n - lo) * sizeof *gs->g);
    memset(&gs->g[lo], 0, sizeof *gs->g);
    snprintf(gs->g[lo].row.release, CACHE_REPORT_FROM_MAX, "%s", release);
    snprintf(gs->g[lo].row.from, CACHE_REPORT_FROM_MAX, "%s", from);
    gs->n++;
    return &gs->g[lo];
}

static int cache_account(struct cache_groups *gs, struct cache_report_totals *tot,
                         const struct cache_report_fields *f)
{
    struct cache_group *g = cache_group_get(gs, f->release, f->from);
    if (!g)
        return -1;
    if (f->result != 0) {
        g->row.failed++;
        tot->all.failed++;
        if (f->reason[0]) {
            memcpy(g->row.reason, f->reason, sizeof g->row.reason);
            memcpy(tot->all.reason, f->reason, sizeof tot->all.reason);
        }
        return 0;
    }
    g->row.ok++;
    tot->all.ok++;
    if (f->seconds < 0)
        return 0;
    g->row.timed++;
    tot->all.timed++;
    return cache_push(&g->times, &g->ntimes, &g->cap, f->seconds) ||
           cache_push(&gs->all_times, &gs->nall, &gs->capall, f->seconds);
}

static int cache_dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double cache_median(double *v, size_t n)
{
    if (n == 0)
        return -1;
    qsort(v, n, sizeof *v, cache_dbl_cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void cache_groups_free(struct cache_groups *gs)
{
    for (size_t i = 0; i < gs->n; i++)
        free(gs->g[i].times);
    free(gs->g);
    free(gs->all_times);
}

/* ---- the file ---------------------------------------------------------------- */

static enum ota_err cache_read(FILE *fp, struct cache_groups *gs, struct cache_report_totals *tot,
                               char *msg)
{
    char line[CACHE_REPORT_LINE_MAX];
    struct cache_report_fields f;
    while (fgets(line, sizeof line, fp)) {
        size_t n = strlen(line);
        int whole = n > 0 && line[n - 1] == '\n';
        if (!whole && !feof(fp)) { /* too long: skip the rest of it */
            int c;
            while ((c = fgetc(fp)) != EOF && c != '\n')
                ;
        }
        tot->lines++;
        if (!whole || cache_report_parse_line(line, &f) != 0) {
            tot->skipped++; /* a torn last line counts as skipped too */
            continue;
        }
        if (cache_account(gs, tot, &f) != 0)
            return ota_fail(msg, OTA_E_NOMEM, "report: out of memory at line %llu",
                            (unsigned long long)tot->lines);
    }
    if (ferror(fp))
        return ota_fail(msg, OTA_E_IO, "report: read error at line %llu",
                        (unsigned long long)tot->lines);
    return OTA_OK;
}

enum ota_err cache_report_summarise(const char *path, cache_report_cb cb, void *ctx,
                                    struct cache_report_totals *tot, char *msg)
{
    struct cache_groups gs;
    memset(&gs, 0, sizeof gs);
    memset(tot, 0, sizeof *tot);
    snprintf(tot->all.release, sizeof tot->all.release, "total");
    snprintf(tot->all.from, sizeof tot->all.from, "all");
    FILE *fp = fopen(path, "r");
    if (!fp)
        return ota_fail(msg, OTA_E_IO, "%s: %s", path, strerror(errno));
    enum ota_err e = cache_read(fp, &gs, tot, msg);
    fclose(fp);
    for (size_t i = 0; e == OTA_OK && i < gs.n; i++) {
        gs.g[i].row.median_s = cache_median(gs.g[i].times, gs.g[i].ntimes);
        if (cb)
            cb(ctx, &gs.g[i].row);
    }
    tot->all.median_s = cache_median(gs.all_times, gs.nall);
    cache_groups_free(&gs);
    return e;
}
