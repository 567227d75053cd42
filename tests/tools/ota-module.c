/* ota-module.c - a simulated 4G module updating over HTTP the way the
 * module platform's LuaTask update.lua does (issue 11, item 5).
 *
 * A test tool (tests/tools, built as build/<dir>/ota-module), not part of
 * the product. It asks GET /api/site/firmware_upgrade?project_key=..&
 * imei=..&firmware_name=..&core_version=..&dfota=1&version=.. and:
 * - always sends "Range: bytes=HAVE-" (HAVE = bytes already in its FOTA
 *   area, the output file; 0 at first);
 * - streams a 200 (from byte 0: the area restarts) or a 206 (at HAVE) into
 *   the area until Content-Length bytes are in: that is the update;
 * - follows a 3xx Location (absolute http:// URL), at most 5 in a row;
 * - reads any other status as a JSON body of at most 200 bytes,
 *   {"code":N,"msg":"..."}, msg decoded (\uXXXX escapes to UTF-8); code
 *   43 makes it wait Retry-After (30 s without one) and ask again;
 * - a broken connection (reset, timeout, short body) is retried up to 30
 *   times in all, resuming with Range.
 * With --if-range it also sends the ETag of the bytes it has as If-Range
 * (the platform's modules do not; our own tests use it).
 * Options for tests: --cut-at N (drop the connection once the area holds
 * N bytes; repeatable), --cuts K --seed S (K distinct seeded random cut
 * points), --wait-scale F (multiply every wait), --repeat N (N downloads
 * one after the other on one keep-alive connection, for the benchmark;
 * prints bytes/s).
 * Prints one line "result=... " with key=value pairs on stdout.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MOD_PATH "/api/site/firmware_upgrade"
#define MOD_HEAD_MAX 8192
#define MOD_JSON_MAX 200
#define MOD_BUF (256 * 1024)
#define MOD_CUTS_MAX 256
#define MOD_REDIRECTS_MAX 5
#define MOD_WAIT_DEFAULT_S 30

enum mod_exit {
    MOD_EXIT_OK = 0,
    MOD_EXIT_USAGE = 1,
    MOD_EXIT_REFUSED = 2,
    MOD_EXIT_NET = 3,
    MOD_EXIT_PROTO = 4,
    MOD_EXIT_BUSY = 5,
    MOD_EXIT_IO = 6,
};

static const char mod_usage[] =
    "usage: ota-module -u http://HOST:PORT [options]\n"
    "  -u URL            server base URL (http:// only)\n"
    "  -k KEY            project_key            -i IMEI      imei\n"
    "  -f NAME           firmware_name (PROJECT_CoreName_Chip)\n"
    "  -c NNNN           core_version           -v X.Y.Z     version (script)\n"
    "  -q QUERY          the whole raw query instead of the fields above\n"
    "  -o FILE           the FOTA area (output); /dev/null is allowed\n"
    "  --resume          start from the bytes already in FILE (default: empty it)\n"
    "  --need-oss-url    add need_oss_url=1 (a gateway may redirect to a CDN)\n"
    "  --if-range        send If-Range with the ETag of the bytes held\n"
    "  --cut-at N        drop the connection when the area holds N bytes (repeatable)\n"
    "  --cuts K --seed S K seeded random cut points in 1..size-1\n"
    "  --retries N       broken connections tolerated (default 30)\n"
    "  --waits N         code 43 answers waited out (default 30)\n"
    "  --wait-scale F    multiply every wait by F (tests: 0.01)\n"
    "  --timeout S       socket timeout in seconds (default 10)\n"
    "  --repeat N        N downloads on one keep-alive connection (benchmark)\n"
    "exit: 0 update downloaded, 1 usage, 2 refused (a JSON code), 3 connection\n"
    "      retries exhausted, 4 protocol error (bad answer, JSON over 200 bytes,\n"
    "      a JSON body with 2xx, too many redirects), 5 still code 43 after\n"
    "      --waits, 6 local I/O error\n";

struct mod_opts {
    char host[256], port[8], base_path[256];
    char query[2048];
    const char *out;
    int resume, need_oss, if_range, retries, waits, repeat;
    double wait_scale;
    int timeout_s;
    uint64_t cut[MOD_CUTS_MAX];
    int ncut, nrandom;
    unsigned long long seed;
};

/* One answer's head. */
struct mod_head {
    int status;
    long long clen;                 /* -1 = none */
    long long cr_first, cr_total;   /* Content-Range, -1 = none */
    char etag[128], location[1024];
    long retry_after;               /* -1 = none */
    int close;                      /* Connection: close */
};

struct mod_conn {
    int fd;
    char host[256], port[8];
    uint8_t *buf;
    size_t have, off; /* buffered bytes buf[off..have) */
};

struct mod_state {
    int out_fd, regular;
    uint64_t have;       /* bytes in the area */
    uint64_t total;      /* package size, 0 = unknown */
    char etag[128];
    int retries_used, waits_used;
    unsigned long long bytes_rx;
    int next_cut;
};

/* ---- helpers ------------------------------------------------------------ */

static double mod_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void mod_sleep(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (s > 0 && nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static int mod_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* "http://host[:port][/path]" */
static int mod_parse_url(const char *url, char *host, size_t hn, char *port, size_t pn,
                         char *path, size_t pathn)
{
    if (strncmp(url, "http://", 7) != 0)
        return -1;
    const char *h = url + 7, *slash = strchr(h, '/');
    size_t hl = slash ? (size_t)(slash - h) : strlen(h);
    const char *colon = memchr(h, ':', hl);
    size_t namel = colon ? (size_t)(colon - h) : hl;
    if (namel == 0 || namel >= hn)
        return -1;
    memcpy(host, h, namel);
    host[namel] = '\0';
    snprintf(port, pn, "%.*s", colon ? (int)(hl - namel - 1) : 2, colon ? colon + 1 : "80");
    snprintf(path, pathn, "%s", slash ? slash : "/");
    return 0;
}

/* ---- connection ------------------------------------------------------------- */

static void mod_close(struct mod_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->have = c->off = 0;
}

static int mod_connect(struct mod_conn *c, const char *host, const char *port, int timeout_s)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
    struct timeval tv = {timeout_s, 0};
    int one = 1;
    if (c->fd >= 0 && !strcmp(c->host, host) && !strcmp(c->port, port))
        return 0;
    mod_close(c);
    if (getaddrinfo(host, port, &hints, &ai) != 0)
        return -1;
    c->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd >= 0) {
        setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) < 0)
            mod_close(c);
    }
    freeaddrinfo(ai);
    snprintf(c->host, sizeof c->host, "%s", host);
    snprintf(c->port, sizeof c->port, "%s", port);
    return c->fd >= 0 ? 0 : -1;
}

static int mod_send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* More bytes into the buffer; -1 on error or close. */
static int mod_fill(struct mod_conn *c)
{
    if (c->off > 0 && c->off == c->have)
        c->off = c->have = 0;
    if (c->have == MOD_BUF)
        return -1;
    ssize_t k = recv(c->fd, c->buf + c->have, MOD_BUF - c->have, 0);
    if (k <= 0)
        return -1;
    c->have += (size_t)k;
    return 0;
}

/* ---- answer head ---------------------------------------------------------------- */

static const char *mod_hdr_value(const char *line, size_t n, const char *name, size_t *vlen)
{
    size_t k = strlen(name);
    if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':')
        return NULL;
    const char *v = line + k + 1, *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    *vlen = (size_t)(end - v);
    return v;
}

static void mod_head_line(struct mod_head *h, const char *l, size_t n)
{
    size_t vn;
    const char *v;
    char tmp[1100];
    if ((v = mod_hdr_value(l, n, "Content-Length", &vn)) && vn < 30) {
        snprintf(tmp, sizeof tmp, "%.*s", (int)vn, v);
        h->clen = strtoll(tmp, NULL, 10);
    } else if ((v = mod_hdr_value(l, n, "Content-Range", &vn)) && vn < 100) {
        long long a, b, t;
        snprintf(tmp, sizeof tmp, "%.*s", (int)vn, v);
        if (sscanf(tmp, "bytes %lld-%lld/%lld", &a, &b, &t) == 3) {
            h->cr_first = a;
            h->cr_total = t;
        }
    } else if ((v = mod_hdr_value(l, n, "ETag", &vn)) && vn < sizeof h->etag) {
        snprintf(h->etag, sizeof h->etag, "%.*s", (int)vn, v);
    } else if ((v = mod_hdr_value(l, n, "Location", &vn)) && vn < sizeof h->location) {
        snprintf(h->location, sizeof h->location, "%.*s", (int)vn, v);
    } else if ((v = mod_hdr_value(l, n, "Retry-After", &vn)) && vn < 12) {
        snprintf(tmp, sizeof tmp, "%.*s", (int)vn, v);
        h->retry_after = strtol(tmp, NULL, 10);
    } else if ((v = mod_hdr_value(l, n, "Connection", &vn)) && vn == 5 &&
               !strncasecmp(v, "close", 5)) {
        h->close = 1;
    } else if ((v = mod_hdr_value(l, n, "Transfer-Encoding", &vn))) {
        h->clen = -2; /* chunked: not what a module understands */
    }
}

/* Read and parse the head. 0 ok, -1 connection broken, -2 malformed. */
static int mod_read_head(struct mod_conn *c, struct mod_head *h)
{
    char *end;
    memset(h, 0, sizeof *h);
    h->clen = h->cr_first = h->cr_total = h->retry_after = -1;
    while (!(end = memmem(c->buf + c->off, c->have - c->off, "\r\n\r\n", 4))) {
        if (c->have - c->off > MOD_HEAD_MAX)
            return -2;
        if (mod_fill(c) < 0)
            return -1;
    }
    char *p = (char *)c->buf + c->off;
    if (sscanf(p, "HTTP/1.%*d %d", &h->status) != 1)
        return -2;
    char *line = memchr(p, '\n', (size_t)(end - p));
    while (line && line < end) {
        char *l = line + 1, *nl = memchr(l, '\n', (size_t)(end + 2 - l));
        size_t n = nl ? (size_t)(nl - l) : 0;
        if (n && l[n - 1] == '\r')
            n--;
        mod_head_line(h, l, n);
        line = nl;
    }
    c->off = (size_t)((uint8_t *)end + 4 - c->buf);
    return 0;
}

/* ---- the JSON refusal ---------------------------------------------------------- */

static void mod_utf8(unsigned cp, char *out, size_t *o, size_t n)
{
    if (cp < 0x80 && *o + 1 < n) {
        out[(*o)++] = (char)cp;
    } else if (cp < 0x800 && *o + 2 < n) {
        out[(*o)++] = (char)(0xc0 | cp >> 6);
        out[(*o)++] = (char)(0x80 | (cp & 0x3f));
    } else if (*o + 3 < n) {
        out[(*o)++] = (char)(0xe0 | cp >> 12);
        out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[(*o)++] = (char)(0x80 | (cp & 0x3f));
    }
}

/* {"code":N,"msg":"..."}: code (-1 if absent) and msg decoded. */
static int mod_json(const char *j, int *code, char *msg, size_t n)
{
    const char *c = strstr(j, "\"code\":"), *m = strstr(j, "\"msg\":\"");
    size_t o = 0;
    *code = c ? (int)strtol(c + 7, NULL, 10) : -1;
    msg[0] = '\0';
    if (!c || j[0] != '{')
        return -1;
    for (m = m ? m + 7 : ""; *m && *m != '"'; m++) {
        if (*m != '\\') {
            mod_utf8((unsigned char)*m, msg, &o, n);
            continue;
        }
        m++;
        if (*m == 'u') {
            unsigned cp;
            if (sscanf(m + 1, "%4x", &cp) != 1)
                return -1;
            mod_utf8(cp, msg, &o, n);
            m += 4;
        } else if (*m) {
            mod_utf8((unsigned char)(*m == 'n' ? '\n' : *m == 't' ? '\t' : *m), msg, &o, n);
        } else {
            return -1;
        }
    }
    msg[o] = '\0';
    return 0;
}

/* The body of a non-2xx/3xx answer: at most 200 bytes. */
static int mod_read_small_body(struct mod_conn *c, const struct mod_head *h, char *out)
{
    if (h->clen > MOD_JSON_MAX || h->clen < 0)
        return -2;
    while (c->have - c->off < (size_t)h->clen)
        if (mod_fill(c) < 0)
            return -1;
    memcpy(out, c->buf + c->off, (size_t)h->clen);
    out[h->clen] = '\0';
    c->off += (size_t)h->clen;
    return 0;
}

/* ---- the package body ------------------------------------------------------------ */

static int mod_write(struct mod_state *st, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t k = st->regular ? pwrite(st->out_fd, p, n, (off_t)st->have)
                                : write(st->out_fd, p, n);
        if (k <= 0)
            return -1;
        st->have += (uint64_t)k;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static int mod_restart_area(struct mod_state *st)
{
    st->have = 0;
    return st->regular && ftruncate(st->out_fd, 0) < 0 ? -1 : 0;
}

/* The next cut point above what is held, 0 = none. */
static uint64_t mod_next_cut(struct mod_state *st, const struct mod_opts *o)
{
    while (st->next_cut < o->ncut && o->cut[st->next_cut] <= st->have)
        st->next_cut++;
    return st->next_cut < o->ncut ? o->cut[st->next_cut] : 0;
}

/* Stream clen bytes at st->have. 0 done, -1 broken (or cut), -6 I/O. */
static int mod_stream(struct mod_conn *c, struct mod_state *st, const struct mod_opts *o,
                      uint64_t clen)
{
    uint64_t end = st->have + clen;
    while (st->have < end) {
        if (c->off == c->have && mod_fill(c) < 0)
            return -1;
        size_t n = c->have - c->off;
        uint64_t cut = mod_next_cut(st, o), stop = cut && cut < end ? cut : end;
        if (n > stop - st->have)
            n = (size_t)(stop - st->have);
        if (mod_write(st, c->buf + c->off, n) < 0)
            return -6;
        c->off += n;
        st->bytes_rx += n;
        if (cut && st->have == cut && cut < end) {
            st->next_cut++;
            mod_close(c);
            return -1;
        }
    }
    return 0;
}

/* ---- one request ----------------------------------------------------------------- */

static int mod_request(struct mod_conn *c, const struct mod_opts *o, const struct mod_state *st,
                       const char *path)
{
    char req[4096], ifr[200] = "";
    if (o->if_range && st->have > 0 && st->etag[0])
        snprintf(ifr, sizeof ifr, "If-Range: %s\r\n", st->etag);
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: %s:%s\r\nRange: bytes=%llu-\r\n%s"
                     "User-Agent: ota-module\r\nConnection: keep-alive\r\n\r\n",
                     path, c->host, c->port, (unsigned long long)st->have, ifr);
    if (n < 0 || (size_t)n >= sizeof req)
        return -2;
    return mod_send_all(c->fd, req, (size_t)n);
}

enum mod_step { MOD_DONE, MOD_AGAIN, MOD_BROKEN, MOD_FAIL };

/* A package answer: 200 restarts the area, 206 must start at what is held. */
static void mod_random_cuts(struct mod_opts *o, uint64_t total);

static enum mod_step mod_package(struct mod_conn *c, struct mod_state *st, struct mod_opts *o,
                                 const struct mod_head *h, int *rc)
{
    if (h->clen < 0) {
        fprintf(stderr, "ota-module: %d without Content-Length\n", h->status);
        *rc = MOD_EXIT_PROTO;
        return MOD_FAIL;
    }
    if (h->status == 200) {
        if (mod_restart_area(st) < 0) {
            *rc = MOD_EXIT_IO;
            return MOD_FAIL;
        }
        st->total = (uint64_t)h->clen;
    } else if (h->cr_first < 0 || (uint64_t)h->cr_first != st->have || h->cr_total <= 0) {
        fprintf(stderr, "ota-module: 206 at %lld, holding %llu: restarting\n", h->cr_first,
                (unsigned long long)st->have);
        mod_close(c);
        return mod_restart_area(st) < 0 ? (*rc = MOD_EXIT_IO, MOD_FAIL) : MOD_AGAIN;
    } else {
        st->total = (uint64_t)h->cr_total;
    }
    snprintf(st->etag, sizeof st->etag, "%s", h->etag);
    if (o->nrandom)
        mod_random_cuts(o, st->total);
    int r = mod_stream(c, st, o, (uint64_t)h->clen);
    if (r == -6) {
        *rc = MOD_EXIT_IO;
        return MOD_FAIL;
    }
    if (r < 0)
        return MOD_BROKEN;
    if (h->close)
        mod_close(c);
    return st->have == st->total ? MOD_DONE : MOD_AGAIN;
}

/* A refusal: decode; 43 waits. */
static enum mod_step mod_refusal(struct mod_conn *c, struct mod_state *st,
                                 const struct mod_opts *o, const struct mod_head *h, int *rc)
{
    char body[MOD_JSON_MAX + 1], msg[4 * MOD_JSON_MAX];
    int code, r = mod_read_small_body(c, h, body);
    if (r == -1)
        return MOD_BROKEN;
    if (r < 0 || mod_json(body, &code, msg, sizeof msg) < 0) {
        printf("result=protocol status=%d why=\"refusal body is not JSON of at most %d "
               "bytes\"\n", h->status, MOD_JSON_MAX);
        *rc = MOD_EXIT_PROTO;
        return MOD_FAIL;
    }
    if (h->close)
        mod_close(c);
    if (code == 43 && st->waits_used < o->waits) {
        double w = (h->retry_after > 0 ? (double)h->retry_after : MOD_WAIT_DEFAULT_S);
        st->waits_used++;
        fprintf(stderr, "ota-module: code 43 (%s): waiting %.2f s\n", msg, w * o->wait_scale);
        mod_sleep(w * o->wait_scale);
        return MOD_AGAIN;
    }
    printf("result=%s status=%d code=%d retry_after=%ld waits=%d msg=\"%s\"\n",
           code == 43 ? "busy" : "refused", h->status, code, h->retry_after, st->waits_used,
           msg);
    *rc = code == 43 ? MOD_EXIT_BUSY : MOD_EXIT_REFUSED;
    return MOD_FAIL;
}

/* One request and its answer, at url (host, port, path). */
static enum mod_step mod_step(struct mod_conn *c, struct mod_state *st, struct mod_opts *o,
                              char *host, char *port, char *path, int *redirects, int *rc)
{
    struct mod_head h;
    if (mod_connect(c, host, port, o->timeout_s) < 0 || mod_request(c, o, st, path) < 0)
        return MOD_BROKEN;
    int r = mod_read_head(c, &h);
    if (r == -1)
        return MOD_BROKEN;
    if (r < 0) {
        printf("result=protocol why=\"malformed answer head\"\n");
        *rc = MOD_EXIT_PROTO;
        return MOD_FAIL;
    }
    if (h.status == 200 || h.status == 206)
        return mod_package(c, st, o, &h, rc);
    if (h.status >= 300 && h.status < 400) {
        char url[1024];
        snprintf(url, sizeof url, "%s", h.location);
        mod_close(c); /* a redirect's body, if any, is not read */
        if (++*redirects > MOD_REDIRECTS_MAX ||
            mod_parse_url(url, host, 256, port, 8, path, 1024) < 0) {
            printf("result=protocol status=%d why=\"bad or too many redirects\"\n", h.status);
            *rc = MOD_EXIT_PROTO;
            return MOD_FAIL;
        }
        return MOD_AGAIN;
    }
    return mod_refusal(c, st, o, &h, rc);
}

/* Seeded distinct cut points in 1..total-1 (xorshift64*). */
static void mod_random_cuts(struct mod_opts *o, uint64_t total)
{
    unsigned long long x = o->seed ? o->seed : 1;
    for (int i = 0; i < o->nrandom && o->ncut < MOD_CUTS_MAX && total > 2;) {
        x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
        uint64_t cut = 1 + (x * 2685821657736338717ULL) % (total - 1);
        int dup = 0;
        for (int k = 0; k < o->ncut; k++)
            dup |= o->cut[k] == cut;
        if (!dup) {
            o->cut[o->ncut++] = cut;
            i++;
        }
    }
    qsort(o->cut, (size_t)o->ncut, sizeof o->cut[0], mod_cmp_u64);
    o->nrandom = 0;
}

/* One update: ask until the area holds the package or a final answer. */
static int mod_update(struct mod_conn *c, struct mod_state *st, struct mod_opts *o)
{
    char host[256], port[8], path[1024];
    int rc = MOD_EXIT_OK, redirects = 0;
    snprintf(host, sizeof host, "%s", o->host);
    snprintf(port, sizeof port, "%s", o->port);
    snprintf(path, sizeof path, "%s%s?%s", strcmp(o->base_path, "/") ? o->base_path : "",
             MOD_PATH, o->query);
    st->next_cut = 0;
    for (;;) {
        enum mod_step s = mod_step(c, st, o, host, port, path, &redirects, &rc);
        if (s == MOD_DONE || s == MOD_FAIL)
            return rc;
        if (s == MOD_BROKEN) {
            mod_close(c);
            if (++st->retries_used > o->retries) {
                printf("result=net retries=%d have=%llu\n", st->retries_used - 1,
                       (unsigned long long)st->have);
                return MOD_EXIT_NET;
            }
        }
    }
}

/* ---- main -------------------------------------------------------------------------- */

static int mod_query(struct mod_opts *o, const char *k, const char *i, const char *f,
                     const char *core, const char *v)
{
    if (o->query[0])
        return 0;
    if (!k || !i || !f || !core || !v)
        return -1;
    snprintf(o->query, sizeof o->query,
             "project_key=%s&imei=%s&firmware_name=%s&core_version=%s&dfota=1&version=%s%s", k, i,
             f, core, v, o->need_oss ? "&need_oss_url=1" : "");
    return 0;
}

static int mod_args(int argc, char **argv, struct mod_opts *o)
{
    static const struct option lo[] = {
        {"resume", no_argument, 0, 'R'},      {"need-oss-url", no_argument, 0, 'N'},
        {"if-range", no_argument, 0, 'I'},    {"cut-at", required_argument, 0, 'C'},
        {"cuts", required_argument, 0, 'K'},  {"seed", required_argument, 0, 'S'},
        {"retries", required_argument, 0, 'T'}, {"waits", required_argument, 0, 'W'},
        {"wait-scale", required_argument, 0, 'F'}, {"timeout", required_argument, 0, 'O'},
        {"repeat", required_argument, 0, 'P'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const char *url = NULL, *k = NULL, *i = NULL, *f = NULL, *core = NULL, *v = NULL;
    int ch;
    o->retries = o->waits = 30;
    o->wait_scale = 1;
    o->timeout_s = 10;
    o->repeat = 1;
    while ((ch = getopt_long(argc, argv, "u:k:i:f:c:v:q:o:h", lo, NULL)) != -1) {
        switch (ch) {
        case 'u': url = optarg; break;
        case 'k': k = optarg; break;
        case 'i': i = optarg; break;
        case 'f': f = optarg; break;
        case 'c': core = optarg; break;
        case 'v': v = optarg; break;
        case 'q': snprintf(o->query, sizeof o->query, "%s", optarg); break;
        case 'o': o->out = optarg; break;
        case 'R': o->resume = 1; break;
        case 'N': o->need_oss = 1; break;
        case 'I': o->if_range = 1; break;
        case 'C':
            if (o->ncut < MOD_CUTS_MAX)
                o->cut[o->ncut++] = strtoull(optarg, NULL, 10);
            break;
        case 'K': o->nrandom = (int)strtol(optarg, NULL, 10); break;
        case 'S': o->seed = strtoull(optarg, NULL, 10); break;
        case 'T': o->retries = (int)strtol(optarg, NULL, 10); break;
        case 'W': o->waits = (int)strtol(optarg, NULL, 10); break;
        case 'F': o->wait_scale = atof(optarg); break;
        case 'O': o->timeout_s = (int)strtol(optarg, NULL, 10); break;
        case 'P': o->repeat = (int)strtol(optarg, NULL, 10); break;
        case 'h': fputs(mod_usage, stdout); exit(0);
        default: return -1;
        }
    }
    qsort(o->cut, (size_t)o->ncut, sizeof o->cut[0], mod_cmp_u64);
    if (!url || !o->out || o->repeat < 1 || o->timeout_s < 1 ||
        mod_parse_url(url, o->host, sizeof o->host, o->port, sizeof o->port, o->base_path,
                      sizeof o->base_path) < 0)
        return -1;
    return mod_query(o, k, i, f, core, v);
}

int main(int argc, char **argv)
{
    struct mod_opts o;
    struct mod_state st;
    struct mod_conn c = {.fd = -1};
    struct stat sb;
    memset(&o, 0, sizeof o);
    memset(&st, 0, sizeof st);
    if (mod_args(argc, argv, &o) < 0) {
        fputs(mod_usage, stderr);
        return MOD_EXIT_USAGE;
    }
    st.out_fd = open(o.out, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    c.buf = malloc(MOD_BUF);
    if (st.out_fd < 0 || !c.buf || fstat(st.out_fd, &sb) < 0) {
        fprintf(stderr, "ota-module: %s: %s\n", o.out, strerror(errno));
        return MOD_EXIT_IO;
    }
    st.regular = S_ISREG(sb.st_mode);
    if (st.regular && !o.resume && ftruncate(st.out_fd, 0) < 0)
        return MOD_EXIT_IO;
    st.have = st.regular && o.resume ? (uint64_t)sb.st_size : 0;
    double t0 = mod_now();
    int rc = MOD_EXIT_OK, n;
    for (n = 0; n < o.repeat && rc == MOD_EXIT_OK; n++) {
        if (n > 0 && mod_restart_area(&st) < 0)
            rc = MOD_EXIT_IO;
        if (rc == MOD_EXIT_OK)
            rc = mod_update(&c, &st, &o);
    }
    double dt = mod_now() - t0;
    if (rc == MOD_EXIT_OK)
        printf("result=ok bytes=%llu size=%llu etag=%s downloads=%d retries=%d waits=%d "
               "seconds=%.3f bytes_per_s=%.0f\n", (unsigned long long)st.bytes_rx,
               (unsigned long long)st.total, st.etag[0] ? st.etag : "-", n, st.retries_used,
               st.waits_used, dt, dt > 0 ? (double)st.bytes_rx / dt : 0.0);
    mod_close(&c);
    free(c.buf);
    if (st.regular && fsync(st.out_fd) < 0)
        rc = rc ? rc : MOD_EXIT_IO;
    close(st.out_fd);
    return rc;
}
