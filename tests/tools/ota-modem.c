/* ota-modem.c - NB-IoT modem simulator for the emulated device (tests).
 *
 * The firmware in device/port/mps2 talks to a "modem" over its UART with a
 * Quectel-BC95-style AT socket dialect. QEMU connects that UART (a TCP
 * chardev) to this program, which answers the AT commands and carries the
 * socket's datagrams as real UDP on 127.0.0.1, normally to nbsim, so the
 * NB-IoT link model applies between the device and ota-server:
 *
 *   firmware --UART--> QEMU chardev --TCP--> ota-modem --UDP--> nbsim --> ota-server
 *
 * We listen (--listen, port 0 + --port-file picks a free one) and QEMU
 * connects (-chardev socket,host=127.0.0.1,port=P): no port race. One
 * connection at a time; when it closes (the emulator exited) every socket
 * is closed, as when a modem is power-cycled, and the next boot may
 * connect. The dialect (also in README "The emulated device"):
 *
 *   commands end with CR (LF and CRLF accepted); no echo; each response
 *   line is sent as "\r\n<line>\r\n", the final one being OK or ERROR.
 *   AT                         -> OK
 *   ATE0                       -> OK (echo is always off)
 *   AT+NSOCR=DGRAM,17,<port>,<rx>  -> <s> OK   bind UDP 127.0.0.1:<port>
 *                                 (0 = any); <rx> 1 = report arrivals with
 *                                 +NSONMI, 0 = discard them. <s> is 0..6.
 *   AT+NSOST=<s>,<ip>,<port>,<len>,<hex> -> <s>,<len> OK   one datagram of
 *                                 <len> bytes (<hex> is 2*<len> digits);
 *                                 <ip> must be 127.0.0.1 (tests stay on
 *                                 loopback); <len> 1..MDM_DGRAM_MAX
 *   +NSONMI:<s>,<len>          unsolicited, once per datagram that arrives
 *   AT+NSORF=<s>,<max>         -> <s>,<ip>,<port>,<len>,<hex>,<remaining> OK
 *                                 the oldest datagram, at most <max> bytes;
 *                                 <remaining> is what is left of it for the
 *                                 next NSORF; just OK when nothing is queued
 *   AT+NSOCL=<s>               -> OK
 *   anything else, or a bad argument -> ERROR
 * A real BC95 caps a datagram at 512 bytes; this one takes MDM_DGRAM_MAX
 * so 1 KiB blocks fit. Each socket queues MDM_QUEUE datagrams; more are
 * dropped (counted), as a modem's buffer would.
 *
 * Bounded: exits after --max-seconds, on SIGTERM/SIGINT, and logs each
 * command (hex shortened) and a summary to --log (default stderr).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ota.h"

#define MDM_SOCKETS 7
#define MDM_DGRAM_MAX 1500
#define MDM_QUEUE 64
#define MDM_LINE_MAX (64 + 2 * MDM_DGRAM_MAX)

struct mdm_dgram {
    size_t len, off; /* off: bytes already read by NSORF */
    struct sockaddr_in from;
    uint8_t data[MDM_DGRAM_MAX];
};

struct mdm_socket {
    int fd;     /* -1 = free */
    int notify; /* +NSONMI on arrival */
    struct mdm_dgram q[MDM_QUEUE];
    unsigned head, count;
};

struct mdm {
    int lfd, ufd; /* listening socket, the UART connection */
    struct mdm_socket s[MDM_SOCKETS];
    char line[MDM_LINE_MAX + 1];
    size_t line_len;
    int line_overflow;
    FILE *log;
    unsigned long cmds, errors, up_pkts, down_pkts, dropped;
    unsigned long long up_bytes, down_bytes;
};

static volatile sig_atomic_t mdm_stop;

static void mdm_on_signal(int sig)
{
    (void)sig;
    mdm_stop = 1;
}

static double mdm_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void mdm_log(struct mdm *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(m->log, "%.3f ", mdm_now());
    vfprintf(m->log, fmt, ap);
    fputc('\n', m->log);
    fflush(m->log);
    va_end(ap);
}

/* --- the UART side --------------------------------------------------- */

/* Write everything to the UART connection, waiting at most 5 s for QEMU
 * to take it (it always does unless the guest is stuck). */
static int mdm_uart_write(struct mdm *m, const char *buf, size_t len)
{
    double end = mdm_now() + 5;
    while (len > 0 && m->ufd >= 0) {
        ssize_t n = send(m->ufd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            buf += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return -1;
        struct pollfd p = {.fd = m->ufd, .events = POLLOUT};
        int wait = (int)((end - mdm_now()) * 1000);
        if (wait <= 0 || poll(&p, 1, wait) < 0)
            return -1;
    }
    return 0;
}

static int mdm_reply(struct mdm *m, const char *text)
{
    char buf[64];
    int n = snprintf(buf, sizeof buf, "\r\n%s\r\n", text);
    return mdm_uart_write(m, buf, (size_t)n);
}

/* --- argument parsing ------------------------------------------------ */

/* Next comma-separated field of *p (NUL-terminated in place). */
static char *mdm_field(char **p)
{
    char *f = *p, *c;
    if (!f)
        return NULL;
    c = strchr(f, ',');
    if (c) {
        *c = '\0';
        *p = c + 1;
    } else {
        *p = NULL;
    }
    return f;
}

static int mdm_num(const char *s, long lo, long hi, long *out)
{
    char *end;
    if (!s || !*s)
        return -1;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static struct mdm_socket *mdm_sock(struct mdm *m, const char *arg, long *id)
{
    if (mdm_num(arg, 0, MDM_SOCKETS - 1, id) != 0 || m->s[*id].fd < 0)
        return NULL;
    return &m->s[*id];
}

/* --- commands -------------------------------------------------------- */

static int mdm_cmd_nsocr(struct mdm *m, char *args)
{
    char *type = mdm_field(&args), *proto = mdm_field(&args), *port = mdm_field(&args);
    char *rx = mdm_field(&args);
    long lport, lrx = 1;
    if (!type || strcmp(type, "DGRAM") != 0 || !proto || strcmp(proto, "17") != 0 ||
        mdm_num(port, 0, 65535, &lport) != 0 || (rx && mdm_num(rx, 0, 1, &lrx) != 0) || args)
        return -1;
    int id;
    for (id = 0; id < MDM_SOCKETS && m->s[id].fd >= 0; id++)
        ;
    if (id == MDM_SOCKETS)
        return -1;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)lport)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    struct mdm_socket *s = &m->s[id];
    s->fd = fd;
    s->notify = (int)lrx;
    s->head = s->count = 0;
    char out[16];
    snprintf(out, sizeof out, "%d", id);
    return mdm_reply(m, out);
}

static int mdm_cmd_nsost(struct mdm *m, char *args)
{
    long id, port, len;
    struct mdm_socket *s = mdm_sock(m, mdm_field(&args), &id);
    char *ip = mdm_field(&args), *sport = mdm_field(&args), *slen = mdm_field(&args);
    char *hex = mdm_field(&args);
    struct sockaddr_in to = {.sin_family = AF_INET};
    if (!s || !ip || inet_pton(AF_INET, ip, &to.sin_addr) != 1 ||
        to.sin_addr.s_addr != htonl(INADDR_LOOPBACK) || mdm_num(sport, 1, 65535, &port) != 0 ||
        mdm_num(slen, 1, MDM_DGRAM_MAX, &len) != 0 || !hex || args)
        return -1;
    uint8_t buf[MDM_DGRAM_MAX];
    if (ota_unhex(hex, buf, (size_t)len) != OTA_OK)
        return -1;
    to.sin_port = htons((uint16_t)port);
    if (sendto(s->fd, buf, (size_t)len, 0, (struct sockaddr *)&to, sizeof to) != len)
        return -1;
    m->up_pkts++;
    m->up_bytes += (unsigned long long)len;
    char out[32];
    snprintf(out, sizeof out, "%ld,%ld", id, len);
    return mdm_reply(m, out);
}

static int mdm_cmd_nsorf(struct mdm *m, char *args)
{
    long id, max;
    struct mdm_socket *s = mdm_sock(m, mdm_field(&args), &id);
    if (!s || mdm_num(mdm_field(&args), 1, MDM_DGRAM_MAX, &max) != 0 || args)
        return -1;
    if (s->count == 0)
        return 0;
    struct mdm_dgram *d = &s->q[s->head];
    size_t n = d->len - d->off;
    if (n > (size_t)max)
        n = (size_t)max;
    char head[64], ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &d->from.sin_addr, ip, sizeof ip);
    char line[MDM_LINE_MAX];
    int k = snprintf(line, sizeof line, "\r\n%ld,%s,%u,%zu,", id, ip, ntohs(d->from.sin_port), n);
    ota_hex(d->data + d->off, n, line + k);
    k += (int)(2 * n);
    d->off += n;
    snprintf(head, sizeof head, ",%zu\r\n", d->len - d->off);
    memcpy(line + k, head, strlen(head));
    k += (int)strlen(head);
    if (d->off == d->len) {
        s->head = (s->head + 1) % MDM_QUEUE;
        s->count--;
    }
    return mdm_uart_write(m, line, (size_t)k);
}

static int mdm_cmd_nsocl(struct mdm *m, char *args)
{
    long id;
    struct mdm_socket *s = mdm_sock(m, mdm_field(&args), &id);
    if (!s || args)
        return -1;
    close(s->fd);
    s->fd = -1;
    s->count = 0;
    return 0;
}

/* Run one command line; sends its response lines, then OK or ERROR. */
static void mdm_command(struct mdm *m, char *line)
{
    static const struct {
        const char *prefix;
        int (*run)(struct mdm *, char *);
    } cmds[] = {
        {"AT+NSOCR=", mdm_cmd_nsocr},
        {"AT+NSOST=", mdm_cmd_nsost},
        {"AT+NSORF=", mdm_cmd_nsorf},
        {"AT+NSOCL=", mdm_cmd_nsocl},
    };
    int rc = -1;
    m->cmds++;
    if (!strcmp(line, "AT") || !strcmp(line, "ATE0")) {
        rc = 0;
    } else {
        for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
            size_t n = strlen(cmds[i].prefix);
            if (!strncmp(line, cmds[i].prefix, n)) {
                char shown[80];
                snprintf(shown, sizeof shown, "%s", line);
                rc = cmds[i].run(m, line + n);
                mdm_log(m, "%s%s -> %s", shown, strlen(line + n) + n > 79 ? "..." : "",
                        rc == 0 ? "OK" : "ERROR");
                break;
            }
        }
    }
    if (rc != 0)
        m->errors++;
    mdm_reply(m, rc == 0 ? "OK" : "ERROR");
}

/* Bytes from the UART: split into lines at CR or LF. */
static void mdm_uart_input(struct mdm *m, const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = buf[i];
        if (c == '\r' || c == '\n') {
            if (m->line_overflow) {
                mdm_log(m, "line longer than %d bytes: ERROR", MDM_LINE_MAX);
                m->errors++;
                mdm_reply(m, "ERROR");
            } else if (m->line_len > 0) {
                m->line[m->line_len] = '\0';
                mdm_command(m, m->line);
            }
            m->line_len = 0;
            m->line_overflow = 0;
        } else if (m->line_len < MDM_LINE_MAX) {
            m->line[m->line_len++] = c;
        } else {
            m->line_overflow = 1;
        }
    }
}

/* --- the UDP side ---------------------------------------------------- */

static void mdm_udp_input(struct mdm *m, int id)
{
    struct mdm_socket *s = &m->s[id];
    for (;;) {
        struct mdm_dgram *d = &s->q[(s->head + s->count) % MDM_QUEUE];
        struct mdm_dgram spill;
        int full = s->count == MDM_QUEUE;
        if (full)
            d = &spill;
        socklen_t alen = sizeof d->from;
        ssize_t n = recvfrom(s->fd, d->data, sizeof d->data, 0, (struct sockaddr *)&d->from, &alen);
        if (n < 0)
            return;
        if (full || !s->notify) {
            m->dropped++;
            continue;
        }
        d->len = (size_t)n;
        d->off = 0;
        s->count++;
        m->down_pkts++;
        m->down_bytes += (unsigned long long)n;
        char urc[32];
        snprintf(urc, sizeof urc, "+NSONMI:%d,%zd", id, n);
        mdm_reply(m, urc);
    }
}

static void mdm_close_all(struct mdm *m)
{
    for (int i = 0; i < MDM_SOCKETS; i++) {
        if (m->s[i].fd >= 0)
            close(m->s[i].fd);
        m->s[i].fd = -1;
        m->s[i].count = 0;
    }
    if (m->ufd >= 0)
        close(m->ufd);
    m->ufd = -1;
    m->line_len = 0;
    m->line_overflow = 0;
}

/* --- main ------------------------------------------------------------ */

static const char mdm_usage[] =
    "Usage: ota-modem [options]\n"
    "NB-IoT modem simulator: answers a BC95-style AT socket dialect on a TCP\n"
    "connection (QEMU's UART chardev connects to it) and carries the\n"
    "datagrams as UDP on 127.0.0.1.\n"
    "  --listen PORT       TCP port on 127.0.0.1 for the UART (0 = any; default 0)\n"
    "  --port-file F       write the chosen port to F (temp file + rename)\n"
    "  --log F             log commands and the summary to F (default stderr)\n"
    "  --max-seconds S     exit after S seconds (default 300)\n"
    "Exits 0 on SIGTERM/SIGINT or at the time limit, 1 on a setup error.\n";

static int mdm_write_port(const char *path, int port)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    int ok = fprintf(f, "%d\n", port) > 0;
    ok = (fclose(f) == 0) && ok;
    return ok && rename(tmp, path) == 0 ? 0 : -1;
}

static int mdm_listen(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 1) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void mdm_loop(struct mdm *m, double end)
{
    while (!mdm_stop && mdm_now() < end) {
        struct pollfd p[2 + MDM_SOCKETS];
        int ids[2 + MDM_SOCKETS], n = 0;
        p[n] = (struct pollfd){.fd = m->ufd >= 0 ? m->ufd : m->lfd, .events = POLLIN};
        ids[n++] = -1;
        for (int i = 0; i < MDM_SOCKETS; i++)
            if (m->s[i].fd >= 0) {
                p[n] = (struct pollfd){.fd = m->s[i].fd, .events = POLLIN};
                ids[n++] = i;
            }
        int wait = (int)((end - mdm_now()) * 1000) + 1;
        if (poll(p, (nfds_t)n, wait > 1000 ? 1000 : wait) <= 0)
            continue;
        for (int k = 1; k < n; k++)
            if (p[k].revents & POLLIN)
                mdm_udp_input(m, ids[k]);
        if (!p[0].revents)
            continue;
        if (m->ufd < 0) {
            m->ufd = accept4(m->lfd, NULL, NULL, SOCK_CLOEXEC);
            if (m->ufd >= 0)
                mdm_log(m, "uart connected");
            continue;
        }
        char buf[4096];
        ssize_t r = recv(m->ufd, buf, sizeof buf, 0);
        if (r > 0) {
            mdm_uart_input(m, buf, (size_t)r);
        } else if (r == 0 || (errno != EINTR && errno != EAGAIN)) {
            mdm_log(m, "uart closed: sockets closed (modem power cycle)");
            mdm_close_all(m);
        }
    }
}

int main(int argc, char **argv)
{
    static struct mdm m;
    long port = 0, max_s = 300;
    const char *port_file = NULL, *log_path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(mdm_usage, stdout);
            return 0;
        }
        int ok = v != NULL;
        if (ok && !strcmp(a, "--listen"))
            ok = mdm_num(v, 0, 65535, &port) == 0;
        else if (ok && !strcmp(a, "--max-seconds"))
            ok = mdm_num(v, 1, 86400, &max_s) == 0;
        else if (ok && !strcmp(a, "--port-file"))
            port_file = v;
        else if (ok && !strcmp(a, "--log"))
            log_path = v;
        else
            ok = 0;
        if (!ok) {
            fprintf(stderr, "ota-modem: error: bad option %s (see --help)\n", a);
            return 1;
        }
        i++;
    }
    m.log = log_path ? fopen(log_path, "a") : stderr;
    if (!m.log) {
        fprintf(stderr, "ota-modem: error: %s: %s\n", log_path, strerror(errno));
        return 1;
    }
    m.ufd = -1;
    for (int i = 0; i < MDM_SOCKETS; i++)
        m.s[i].fd = -1;
    signal(SIGTERM, mdm_on_signal);
    signal(SIGINT, mdm_on_signal);
    signal(SIGPIPE, SIG_IGN);
    m.lfd = mdm_listen((int)port);
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    if (m.lfd < 0 || getsockname(m.lfd, (struct sockaddr *)&a, &alen) != 0 ||
        (port_file && mdm_write_port(port_file, ntohs(a.sin_port)) != 0)) {
        fprintf(stderr, "ota-modem: error: listen on 127.0.0.1:%ld: %s\n", port, strerror(errno));
        return 1;
    }
    mdm_log(&m, "listening on 127.0.0.1:%u for the UART, max %ld s", ntohs(a.sin_port), max_s);
    mdm_loop(&m, mdm_now() + (double)max_s);
    mdm_log(&m, "summary: %lu commands, %lu errors, up %lu datagrams %llu bytes, down %lu datagrams "
                "%llu bytes, dropped %lu",
            m.cmds, m.errors, m.up_pkts, m.up_bytes, m.down_pkts, m.down_bytes, m.dropped);
    mdm_close_all(&m);
    close(m.lfd);
    return 0;
}
