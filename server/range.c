/* range.c - Range and If-Range of the device HTTP API (range.h). */
#include "range.h"

#include <string.h>
#include <strings.h>

static const char *srv_range_skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* Digits at *p into *v; 0 if there are none or too many. */
static int srv_range_number(const char **p, uint64_t *v)
{
    int n = 0;
    *v = 0;
    while (**p >= '0' && **p <= '9') {
        if (++n > SRV_RANGE_DIGITS_MAX)
            return 0;
        *v = *v * 10 + (uint64_t)(**p - '0');
        (*p)++;
    }
    return n > 0;
}

enum srv_range_kind srv_range_parse(const char *hdr, uint64_t total, struct srv_range *out)
{
    static const char unit[] = "bytes=";
    uint64_t a = 0, b = 0;
    int has_a, has_b;
    if (!hdr)
        return SRV_RANGE_NONE;
    const char *p = srv_range_skip_ws(hdr);
    if (strncasecmp(p, unit, sizeof unit - 1) != 0)
        return SRV_RANGE_BAD;
    p = srv_range_skip_ws(p + sizeof unit - 1);
    has_a = srv_range_number(&p, &a);
    if (!has_a && *p >= '0' && *p <= '9')
        return SRV_RANGE_BAD; /* too many digits */
    if (*p++ != '-')
        return SRV_RANGE_BAD;
    has_b = srv_range_number(&p, &b);
    if ((!has_b && *p >= '0' && *p <= '9') || *srv_range_skip_ws(p) != '\0')
        return SRV_RANGE_BAD;
    if (!has_a && !has_b)
        return SRV_RANGE_BAD;
    if (!has_a) { /* suffix: the last b bytes */
        if (b == 0 || total == 0)
            return SRV_RANGE_UNSAT;
        out->first = b >= total ? 0 : total - b;
        out->last = total - 1;
        return SRV_RANGE_OK;
    }
    if (has_b && b < a)
        return SRV_RANGE_BAD;
    if (a >= total)
        return SRV_RANGE_UNSAT;
    out->first = a;
    out->last = has_b && b < total ? b : total - 1;
    return SRV_RANGE_OK;
}

int srv_range_if_range(const char *if_range, const char *etag)
{
    if (!if_range)
        return 1;
    const char *p = srv_range_skip_ws(if_range);
    size_t n = strlen(p);
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    return n == strlen(etag) && memcmp(p, etag, n) == 0;
}
