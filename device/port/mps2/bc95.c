/* bc95.c - UDP socket over a BC95-style AT modem: see bc95.h.
 *
 * Every answer is read as lines; "+NSONMI:" lines may come at any time
 * (even inside another command's answer) and only count a pending
 * datagram. NSORF's data line is parsed as it streams in: the short
 * header into the line buffer, the hex digits straight into the caller's
 * buffer. A line we cannot parse is skipped, a stuck modem is a timeout:
 * the modem is outside input like the network behind it.
 */
#include <string.h>

#include "bc95.h"
#include "dhex.h"

/* Where NSORF's payload goes. */
struct bc95_sink {
    uint8_t *buf;
    size_t cap, len;
    uint32_t remaining;
    int got, overflow;
};

static int bc95_getc(struct bc95 *m, uint32_t deadline)
{
    return m->io.getc(m->io.ctx, deadline);
}

static void bc95_puts(struct bc95 *m, const char *s)
{
    m->io.write(m->io.ctx, s, strlen(s));
}

static void bc95_putu(struct bc95 *m, uint32_t v)
{
    char d[10];
    size_t n = sizeof d;
    do {
        d[--n] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    m->io.write(m->io.ctx, d + n, sizeof d - n);
}

/* Decimal at *p (at least one digit, at most max), then *p past it. */
static int bc95_num(const char **p, uint32_t max, uint32_t *out)
{
    const char *s = *p;
    uint32_t v = 0;
    if (*s < '0' || *s > '9')
        return -1;
    while (*s >= '0' && *s <= '9') {
        v = v * 10u + (uint32_t)(*s++ - '0');
        if (v > max)
            return -1;
    }
    *p = s;
    *out = v;
    return 0;
}

/* "<s>,<len>" style: numbers separated by commas, nothing after. */
static int bc95_pair(const char *s, uint32_t *a, uint32_t max_a, uint32_t *b, uint32_t max_b)
{
    if (bc95_num(&s, max_a, a) != 0 || *s++ != ',' || bc95_num(&s, max_b, b) != 0)
        return -1;
    return *s ? -1 : 0;
}

/* The rest of an NSORF data line, after "<s>,<ip>,<port>,<len>," (in
 * m->line): 2*len hex digits, ",<remaining>", end of line. */
static enum bc95_err bc95_data(struct bc95 *m, uint32_t deadline, struct bc95_sink *k)
{
    const char *p = m->line;
    uint32_t sock, port, len, rem = 0;
    if (bc95_num(&p, 255, &sock) != 0 || *p++ != ',')
        return BC95_ERROR;
    while ((*p >= '0' && *p <= '9') || *p == '.')
        p++;
    if (*p++ != ',' || bc95_num(&p, 65535, &port) != 0 || *p++ != ',' ||
        bc95_num(&p, 65535, &len) != 0 || *p++ != ',' || *p)
        return BC95_ERROR;
    k->len = 0;
    k->overflow = len > k->cap;
    for (uint32_t i = 0; i < len; i++) {
        int hi = bc95_getc(m, deadline), lo = bc95_getc(m, deadline);
        if (hi < 0 || lo < 0)
            return BC95_TIMEOUT;
        if (dhex_val(hi) < 0 || dhex_val(lo) < 0)
            return BC95_ERROR;
        if (i < k->cap)
            k->buf[k->len++] = (uint8_t)(dhex_val(hi) << 4 | dhex_val(lo));
    }
    int c = bc95_getc(m, deadline);
    if (c != ',')
        return c < 0 ? BC95_TIMEOUT : BC95_ERROR;
    for (c = bc95_getc(m, deadline); c >= '0' && c <= '9'; c = bc95_getc(m, deadline))
        rem = rem > 100000u ? rem : rem * 10u + (uint32_t)(c - '0');
    if (c != '\r' && c != '\n')
        return c < 0 ? BC95_TIMEOUT : BC95_ERROR;
    k->remaining = rem;
    k->got = sock == (uint32_t)m->sock;
    return BC95_OK;
}

/* One line into m->line (NUL-terminated; *is_data when it was an NSORF
 * data line, consumed into the sink). Blank lines are skipped. */
static enum bc95_err bc95_line(struct bc95 *m, uint32_t deadline, struct bc95_sink *k, int *is_data)
{
    int c, commas = 0, overflow = 0;
    size_t n = 0;
    *is_data = 0;
    do {
        if ((c = bc95_getc(m, deadline)) < 0)
            return BC95_TIMEOUT;
    } while (c == '\r' || c == '\n');
    while (c != '\r' && c != '\n') {
        if (n < sizeof m->line - 1)
            m->line[n++] = (char)c;
        else
            overflow = 1;
        if (c == ',' && k && !overflow && m->line[0] >= '0' && m->line[0] <= '9' && ++commas == 4) {
            m->line[n] = '\0';
            *is_data = 1;
            return bc95_data(m, deadline, k);
        }
        if ((c = bc95_getc(m, deadline)) < 0)
            return BC95_TIMEOUT;
    }
    m->line[n] = '\0';
    return overflow ? BC95_ERROR : BC95_OK;
}

/* An unsolicited notice? Counts +NSONMI for our socket. */
static int bc95_urc(struct bc95 *m)
{
    uint32_t sock, len;
    if (strncmp(m->line, "+NSONMI:", 8) != 0)
        return 0;
    if (bc95_pair(m->line + 8, &sock, 255, &len, 65535) == 0 && sock == (uint32_t)m->sock) {
        m->pending++;
        m->notices++;
    }
    return 1;
}

/* Read a command's answer up to OK/ERROR; the last other line is copied
 * to info (if given), NSORF data goes to the sink. */
static enum bc95_err bc95_finish(struct bc95 *m, struct bc95_sink *k, char *info, size_t info_cap)
{
    uint32_t deadline = m->io.now_ms(m->io.ctx) + BC95_CMD_TIMEOUT_MS;
    if (info)
        info[0] = '\0';
    for (;;) {
        int is_data;
        enum bc95_err rc = bc95_line(m, deadline, k, &is_data);
        if (rc == BC95_TIMEOUT)
            return rc;
        if (rc != BC95_OK || is_data || bc95_urc(m))
            continue;
        if (!strcmp(m->line, "OK"))
            return BC95_OK;
        if (!strcmp(m->line, "ERROR") || !strncmp(m->line, "+CME ERROR", 10))
            return BC95_ERROR;
        if (info && strlen(m->line) < info_cap)
            memcpy(info, m->line, strlen(m->line) + 1);
    }
}

enum bc95_err bc95_open(struct bc95 *m, const struct bc95_io *io, const char *ip, uint16_t port,
                        uint16_t local_port)
{
    char info[BC95_LINE_MAX];
    enum bc95_err rc = BC95_ERROR;
    uint32_t sock;
    const char *p = info;
    memset(m, 0, sizeof *m);
    m->io = *io;
    m->sock = -1;
    if (strlen(ip) >= sizeof m->ip)
        return BC95_ERROR;
    memcpy(m->ip, ip, strlen(ip) + 1);
    m->port = port;
    /* A modem that just powered up may miss the first command. */
    for (int i = 0; i < 3 && rc != BC95_OK; i++) {
        bc95_puts(m, "AT\r");
        rc = bc95_finish(m, NULL, NULL, 0);
    }
    if (rc != BC95_OK)
        return rc;
    bc95_puts(m, "AT+NSOCR=DGRAM,17,");
    bc95_putu(m, local_port);
    bc95_puts(m, ",1\r");
    if ((rc = bc95_finish(m, NULL, info, sizeof info)) != BC95_OK)
        return rc;
    if (bc95_num(&p, 255, &sock) != 0 || *p)
        return BC95_ERROR;
    m->sock = (int)sock;
    return BC95_OK;
}

enum bc95_err bc95_send(struct bc95 *m, const uint8_t *buf, size_t len)
{
    char info[BC95_LINE_MAX], hex[64];
    uint32_t sock, sent;
    enum bc95_err rc;
    if (m->sock < 0 || len == 0 || len > 65535)
        return BC95_ERROR;
    bc95_puts(m, "AT+NSOST=");
    bc95_putu(m, (uint32_t)m->sock);
    bc95_puts(m, ",");
    bc95_puts(m, m->ip);
    bc95_puts(m, ",");
    bc95_putu(m, m->port);
    bc95_puts(m, ",");
    bc95_putu(m, (uint32_t)len);
    bc95_puts(m, ",");
    for (size_t i = 0; i < len;) {
        size_t n = len - i < sizeof hex / 2 ? len - i : sizeof hex / 2;
        dhex_put(hex, buf + i, n, 1);
        m->io.write(m->io.ctx, hex, 2 * n);
        i += n;
    }
    bc95_puts(m, "\r");
    if ((rc = bc95_finish(m, NULL, info, sizeof info)) != BC95_OK)
        return rc;
    if (bc95_pair(info, &sock, 255, &sent, 65535) != 0 || sock != (uint32_t)m->sock || sent != len)
        return BC95_ERROR;
    return BC95_OK;
}

/* One NSORF into the sink. */
static enum bc95_err bc95_read(struct bc95 *m, struct bc95_sink *k)
{
    k->got = 0;
    k->remaining = 0;
    bc95_puts(m, "AT+NSORF=");
    bc95_putu(m, (uint32_t)m->sock);
    bc95_puts(m, ",");
    bc95_putu(m, (uint32_t)(k->cap < 1 ? 1 : k->cap > 65535 ? 65535 : k->cap));
    bc95_puts(m, "\r");
    m->reads++;
    return bc95_finish(m, k, NULL, 0);
}

enum bc95_err bc95_recv(struct bc95 *m, uint8_t *buf, size_t cap, size_t *len, uint32_t wait_ms)
{
    uint32_t deadline = m->io.now_ms(m->io.ctx) + wait_ms;
    struct bc95_sink k = {.buf = buf, .cap = cap};
    if (m->sock < 0)
        return BC95_ERROR;
    for (;;) {
        while (m->pending > 0) {
            enum bc95_err rc = bc95_read(m, &k);
            if (rc != BC95_OK)
                return rc;
            if (!k.got) { /* the notices overcounted: nothing queued */
                m->pending = 0;
                break;
            }
            /* Larger than any datagram we accept: read the rest, drop it. */
            int whole = !k.overflow && k.remaining == 0;
            while (k.got && k.remaining > 0)
                if ((rc = bc95_read(m, &k)) != BC95_OK)
                    return rc;
            m->pending--;
            if (whole && k.len > 0) {
                *len = k.len;
                return BC95_OK;
            }
            m->drops++;
        }
        int is_data;
        enum bc95_err rc = bc95_line(m, deadline, NULL, &is_data);
        if (rc == BC95_TIMEOUT)
            return rc;
        if (rc == BC95_OK)
            bc95_urc(m); /* anything else outside a command is noise */
    }
}
