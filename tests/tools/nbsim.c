/* nbsim.c - NB-IoT link simulator: a UDP proxy on 127.0.0.1 for tests/bench.
 *
 * Sits between ota-client (or any CoAP client) and ota-server:
 *
 *   client -> 127.0.0.1:LISTEN  ==uplink==>   127.0.0.1:SERVER
 *   client <- 127.0.0.1:LISTEN  <=downlink==  127.0.0.1:SERVER
 *
 * Each direction is a serial link: rate limit in bits/s (payload plus
 * --overhead bytes of IP/UDP header per datagram), a drop-tail queue of
 * --queue bytes in front of it, a fixed one-way delay, random loss
 * (Bernoulli) and optional burst loss (Gilbert-Elliott: good->bad with
 * probability P, bad->good with R, every datagram lost while bad). A lost
 * datagram still used its air time. Tests can add duplication and
 * reordering (extra random delay) to exercise the client's receive path.
 *
 * Each client address gets its own upstream socket, so the server sees one
 * peer per client. Everything is seeded (--seed), the process exits by
 * itself after --max-seconds (and on SIGTERM/SIGINT), and prints one line
 * per direction with what it carried and dropped. User space, no root;
 * memory is a fixed pool of datagrams (no allocation after start).
 *
 * Sections: options and profiles; random numbers; the link model; sockets
 * and the event loop; main.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#define NB_POOL 4096   /* datagrams queued or in flight, both directions */
#define NB_MTU 1600    /* largest datagram carried */
#define NB_CLIENTS 64  /* distinct client addresses */

/* --- options and profiles ---------------------------------------------- */

struct nb_dir {
    double rate_bps;    /* bits per second */
    double delay_s;     /* one-way propagation delay */
    double loss;        /* Bernoulli loss probability */
    double burst_p, burst_r; /* Gilbert-Elliott transitions; 0 = off */
    double queue_bytes; /* drop-tail queue in front of the link */
    /* state */
    double t_free;      /* when the link finishes its current backlog */
    int bad;            /* Gilbert-Elliott state */
    /* counters */
    unsigned long long pkts, bytes, lost, qdrop, dups;
};

struct nb_opts {
    int listen_port, server_port;
    const char *profile, *port_file;
    double max_s, overhead, dup, reorder, reorder_s;
    unsigned long long seed;
    int quiet;
    struct nb_dir up, down;
};

struct nb_profile {
    const char *name;
    double down_kbit, up_kbit, delay_ms, loss, queue_down, queue_up;
};

/* The issue-5 profiles; queues are what an eNodeB/modem might buffer. */
static const struct nb_profile nb_profiles[] = {
    {"nb2", 100, 60, 300, 0.01, 24000, 8000},
    {"nb1", 26, 60, 400, 0.01, 12000, 8000},
    {"poor", 20, 20, 1000, 0.05, 4000, 2000},
    {"lan", 100000, 100000, 1, 0, 1000000, 1000000},
};

static const char nb_usage[] =
    "Usage: nbsim -l LISTEN_PORT -s SERVER_PORT [options]\n"
    "UDP proxy on 127.0.0.1 that simulates an NB-IoT link between a client and\n"
    "a server. Options (after -p, which sets the defaults):\n"
    "  -p, --profile NAME     nb2 (100/60 kbit/s, 300 ms, 1%%), nb1 (26/60 kbit/s,\n"
    "                         400 ms, 1%%), poor (20 kbit/s, 1 s, 5%%, small queue),\n"
    "                         lan (fast, for debugging); default nb2\n"
    "  --down-kbit K, --up-kbit K   rate per direction (kbit/s)\n"
    "  --delay-ms MS          one-way delay, both directions\n"
    "  --loss P               random loss probability per datagram, both ways\n"
    "  --burst P,R            Gilbert-Elliott burst loss: good->bad P, bad->good R\n"
    "  --queue-down B, --queue-up B  drop-tail queue bytes\n"
    "  --overhead B           header bytes counted per datagram (default 28)\n"
    "  --dup P                duplicate datagrams with probability P\n"
    "  --reorder P[,S]        delay a datagram by up to S s extra (default 0.3)\n"
    "                         with probability P, so it arrives out of order\n"
    "  --seed N               random seed (default 1)\n"
    "  --max-seconds S        exit after S seconds (default 600)\n"
    "  --port-file F          with -l 0: write the chosen port to F\n"
    "  -q                     no per-event output (default: none anyway)\n"
    "Prints one summary line per direction on exit (stderr).\n";

static int nb_profile_apply(struct nb_opts *o, const char *name)
{
    for (size_t i = 0; i < sizeof nb_profiles / sizeof nb_profiles[0]; i++) {
        const struct nb_profile *p = &nb_profiles[i];
        if (strcmp(p->name, name) != 0)
            continue;
        o->profile = p->name;
        o->down.rate_bps = p->down_kbit * 1000;
        o->up.rate_bps = p->up_kbit * 1000;
        o->down.delay_s = o->up.delay_s = p->delay_ms / 1000;
        o->down.loss = o->up.loss = p->loss;
        o->down.queue_bytes = p->queue_down;
        o->up.queue_bytes = p->queue_up;
        return 0;
    }
    return -1;
}

static int nb_num(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

static int nb_pair(const char *s, double *a, double *b, double def_b)
{
    char buf[64], *comma;
    if (strlen(s) >= sizeof buf)
        return -1;
    memcpy(buf, s, strlen(s) + 1);
    comma = strchr(buf, ',');
    if (comma)
        *comma = '\0';
    if (nb_num(buf, 0, 1, a) != 0)
        return -1;
    *b = def_b;
    return comma ? nb_num(comma + 1, 0, 1000, b) : 0;
}

static int nb_bad(const char *what)
{
    fprintf(stderr, "nbsim: error: usage: %s (see nbsim --help)\n", what);
    return 2;
}

/* Returns -1 to go on, else the exit code. */
static int nb_parse(int argc, char **argv, struct nb_opts *o)
{
    double v;
    nb_profile_apply(o, "nb2");
    o->overhead = 28;
    o->max_s = 600;
    o->seed = 1;
    o->reorder_s = 0.3;
    /* The profile comes first so that other options override it. */
    for (int i = 1; i + 1 < argc; i++)
        if ((!strcmp(argv[i], "-p") || !strcmp(argv[i], "--profile")) &&
            nb_profile_apply(o, argv[i + 1]) != 0)
            return nb_bad("unknown profile");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *n = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(nb_usage, stdout);
            return 0;
        }
        if (!strcmp(a, "-q")) {
            o->quiet = 1;
            continue;
        }
        if (!n)
            return nb_bad("option without a value");
        i++;
        if (!strcmp(a, "-p") || !strcmp(a, "--profile"))
            continue;
        else if (!strcmp(a, "-l") && nb_num(n, 0, 65535, &v) == 0)
            o->listen_port = (int)v;
        else if (!strcmp(a, "-s") && nb_num(n, 1, 65535, &v) == 0)
            o->server_port = (int)v;
        else if (!strcmp(a, "--down-kbit") && nb_num(n, 0.1, 1e7, &v) == 0)
            o->down.rate_bps = v * 1000;
        else if (!strcmp(a, "--up-kbit") && nb_num(n, 0.1, 1e7, &v) == 0)
            o->up.rate_bps = v * 1000;
        else if (!strcmp(a, "--delay-ms") && nb_num(n, 0, 60000, &v) == 0)
            o->down.delay_s = o->up.delay_s = v / 1000;
        else if (!strcmp(a, "--loss") && nb_num(n, 0, 1, &v) == 0)
            o->down.loss = o->up.loss = v;
        else if (!strcmp(a, "--burst") && nb_pair(n, &o->down.burst_p, &o->down.burst_r, 0.5) == 0) {
            o->up.burst_p = o->down.burst_p;
            o->up.burst_r = o->down.burst_r;
        } else if (!strcmp(a, "--queue-down") && nb_num(n, 1500, 1e9, &v) == 0)
            o->down.queue_bytes = v;
        else if (!strcmp(a, "--queue-up") && nb_num(n, 1500, 1e9, &v) == 0)
            o->up.queue_bytes = v;
        else if (!strcmp(a, "--overhead") && nb_num(n, 0, 200, &v) == 0)
            o->overhead = v;
        else if (!strcmp(a, "--dup") && nb_num(n, 0, 1, &v) == 0)
            o->dup = v;
        else if (!strcmp(a, "--reorder") && nb_pair(n, &o->reorder, &o->reorder_s, 0.3) == 0)
            continue;
        else if (!strcmp(a, "--seed") && nb_num(n, 0, 1e18, &v) == 0)
            o->seed = (unsigned long long)v;
        else if (!strcmp(a, "--max-seconds") && nb_num(n, 0.1, 86400, &v) == 0)
            o->max_s = v;
        else if (!strcmp(a, "--port-file"))
            o->port_file = n;
        else
            return nb_bad(a);
    }
    if (!o->server_port)
        return nb_bad("-s SERVER_PORT is required");
    return -1;
}

/* --- random numbers ------------------------------------------------------ */

static uint64_t nb_rng_state;

static uint64_t nb_rand64(void)
{
    /* splitmix64: tiny, seedable, good enough for loss decisions. */
    uint64_t z = (nb_rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static double nb_uniform(void)
{
    return (double)(nb_rand64() >> 11) / 9007199254740992.0;
}

/* --- the link model ------------------------------------------------------ */

struct nb_pkt {
    int used, to_client; /* direction of travel */
    int client;          /* index into the client table */
    double at;           /* delivery time */
    size_t len;
    uint8_t data[NB_MTU];
};

static struct nb_pkt nb_pool[NB_POOL];

static double nb_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static struct nb_pkt *nb_alloc(void)
{
    for (int i = 0; i < NB_POOL; i++)
        if (!nb_pool[i].used)
            return &nb_pool[i];
    return NULL;
}

/* Air loss: burst state first (if enabled), then Bernoulli. */
static int nb_lost(struct nb_dir *d)
{
    if (d->burst_p > 0) {
        double u = nb_uniform();
        if (d->bad ? u < d->burst_r : u < d->burst_p)
            d->bad = !d->bad;
        if (d->bad)
            return 1;
    }
    return d->loss > 0 && nb_uniform() < d->loss;
}

static void nb_schedule(const struct nb_opts *o, int to_client, int client, double at,
                        const uint8_t *buf, size_t len, struct nb_dir *d)
{
    struct nb_pkt *p = nb_alloc();
    if (!p) {
        d->qdrop++;
        return;
    }
    p->used = 1;
    p->to_client = to_client;
    p->client = client;
    p->at = at + (o->reorder > 0 && nb_uniform() < o->reorder ? nb_uniform() * o->reorder_s : 0);
    p->len = len;
    memcpy(p->data, buf, len);
}

/* A datagram enters direction d at time now. */
static void nb_offer(const struct nb_opts *o, struct nb_dir *d, int to_client, int client,
                     double now, const uint8_t *buf, size_t len)
{
    double wire = ((double)len + o->overhead) * 8.0;
    double start = d->t_free > now ? d->t_free : now;
    /* Bytes still waiting for the link: the drop-tail queue's fill. */
    if ((start - now) * d->rate_bps / 8.0 + (double)len > d->queue_bytes) {
        d->qdrop++;
        return;
    }
    d->t_free = start + wire / d->rate_bps;
    if (nb_lost(d)) {
        d->lost++;
        return;
    }
    d->pkts++;
    d->bytes += len;
    double at = d->t_free + d->delay_s;
    nb_schedule(o, to_client, client, at, buf, len, d);
    if (o->dup > 0 && nb_uniform() < o->dup) {
        d->dups++;
        nb_schedule(o, to_client, client, at + 0.001, buf, len, d);
    }
}

/* --- sockets and the event loop --------------------------------------- */

struct nb_client {
    struct sockaddr_in addr;
    int fd; /* connected to the server */
};

static struct nb_client nb_clients[NB_CLIENTS];
static int nb_nclients;
static volatile sig_atomic_t nb_stop;

static void nb_on_signal(int sig)
{
    (void)sig;
    nb_stop = 1;
}

static int nb_udp(uint16_t port, const struct sockaddr_in *connect_to)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    int big = 1 << 20;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        (connect_to && connect(fd, (const struct sockaddr *)connect_to, sizeof *connect_to) != 0)) {
        close(fd);
        return -1;
    }
    return fd;
}

static int nb_client_index(const struct sockaddr_in *from, const struct sockaddr_in *server)
{
    for (int i = 0; i < nb_nclients; i++)
        if (nb_clients[i].addr.sin_port == from->sin_port &&
            nb_clients[i].addr.sin_addr.s_addr == from->sin_addr.s_addr)
            return i;
    if (nb_nclients == NB_CLIENTS)
        return -1;
    int fd = nb_udp(0, server);
    if (fd < 0)
        return -1;
    nb_clients[nb_nclients].addr = *from;
    nb_clients[nb_nclients].fd = fd;
    return nb_nclients++;
}

static void nb_deliver_due(int lfd, double now)
{
    for (int i = 0; i < NB_POOL; i++) {
        struct nb_pkt *p = &nb_pool[i];
        if (!p->used || p->at > now)
            continue;
        const struct nb_client *c = &nb_clients[p->client];
        if (p->to_client)
            sendto(lfd, p->data, p->len, 0, (const struct sockaddr *)&c->addr, sizeof c->addr);
        else
            send(c->fd, p->data, p->len, 0); /* ECONNREFUSED etc.: the server is gone */
        p->used = 0;
    }
}

static double nb_next_due(void)
{
    double t = INFINITY;
    for (int i = 0; i < NB_POOL; i++)
        if (nb_pool[i].used && nb_pool[i].at < t)
            t = nb_pool[i].at;
    return t;
}

static void nb_read_client(const struct nb_opts *o, int lfd, const struct sockaddr_in *server)
{
    uint8_t buf[NB_MTU];
    struct sockaddr_in from;
    for (;;) {
        socklen_t fl = sizeof from;
        ssize_t n = recvfrom(lfd, buf, sizeof buf, MSG_TRUNC, (struct sockaddr *)&from, &fl);
        if (n < 0)
            return;
        int c = nb_client_index(&from, server);
        if (c < 0 || n > NB_MTU) {
            ((struct nb_opts *)o)->up.qdrop++;
            continue;
        }
        nb_offer(o, &((struct nb_opts *)o)->up, 0, c, nb_now(), buf, (size_t)n);
    }
}

static void nb_read_server(struct nb_opts *o, int c)
{
    uint8_t buf[NB_MTU];
    for (;;) {
        ssize_t n = recv(nb_clients[c].fd, buf, sizeof buf, MSG_TRUNC);
        if (n < 0 && errno == ECONNREFUSED)
            continue; /* an ICMP error from a stopped server: the air has none */
        if (n < 0)
            return;
        if (n > NB_MTU) {
            o->down.qdrop++;
            continue;
        }
        nb_offer(o, &o->down, 1, c, nb_now(), buf, (size_t)n);
    }
}

static void nb_loop(struct nb_opts *o, int lfd, const struct sockaddr_in *server)
{
    struct pollfd pf[1 + NB_CLIENTS];
    double end = nb_now() + o->max_s;
    while (!nb_stop) {
        double now = nb_now();
        if (now >= end)
            break;
        nb_deliver_due(lfd, now);
        double next = nb_next_due(), wait = (next < end ? next : end) - now;
        int ms = wait <= 0 ? 0 : wait > 1.0 ? 1000 : (int)ceil(wait * 1000.0);
        pf[0].fd = lfd;
        pf[0].events = POLLIN;
        for (int i = 0; i < nb_nclients; i++) {
            pf[1 + i].fd = nb_clients[i].fd;
            pf[1 + i].events = POLLIN;
        }
        int n = poll(pf, (nfds_t)(1 + nb_nclients), ms);
        if (n <= 0)
            continue;
        int nc = nb_nclients; /* reading the client socket may add one */
        if (pf[0].revents)
            nb_read_client(o, lfd, server);
        for (int i = 0; i < nc; i++)
            if (pf[1 + i].revents)
                nb_read_server(o, i);
    }
}

static void nb_report(const char *name, const struct nb_dir *d)
{
    fprintf(stderr,
            "nbsim: %-4s %.1f kbit/s %.0f ms: carried %llu datagrams %llu bytes; "
            "dropped %llu lost on air, %llu queue full; %llu duplicated\n",
            name, d->rate_bps / 1000, d->delay_s * 1000, d->pkts, d->bytes, d->lost, d->qdrop,
            d->dups);
}

/* --- main --------------------------------------------------------------- */

static int nb_write_port(const char *path, int fd)
{
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    if (getsockname(fd, (struct sockaddr *)&a, &al) != 0)
        return -1;
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    fprintf(f, "%u\n", (unsigned)ntohs(a.sin_port));
    if (fclose(f) != 0)
        return -1;
    return rename(tmp, path);
}

int main(int argc, char **argv)
{
    struct nb_opts o;
    memset(&o, 0, sizeof o);
    int rc = nb_parse(argc, argv, &o);
    if (rc >= 0)
        return rc;
    nb_rng_state = o.seed;
    signal(SIGTERM, nb_on_signal);
    signal(SIGINT, nb_on_signal);
    signal(SIGPIPE, SIG_IGN);
    struct sockaddr_in server;
    memset(&server, 0, sizeof server);
    server.sin_family = AF_INET;
    server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    server.sin_port = htons((uint16_t)o.server_port);
    int lfd = nb_udp((uint16_t)o.listen_port, NULL);
    if (lfd < 0) {
        fprintf(stderr, "nbsim: error: bind 127.0.0.1:%d: %s\n", o.listen_port, strerror(errno));
        return 1;
    }
    if (o.port_file && nb_write_port(o.port_file, lfd) != 0) {
        fprintf(stderr, "nbsim: error: %s: %s\n", o.port_file, strerror(errno));
        return 1;
    }
    fprintf(stderr, "nbsim: profile %s, 127.0.0.1:%d -> 127.0.0.1:%d, seed %llu, max %.0f s\n",
            o.profile, o.listen_port, o.server_port, o.seed, o.max_s);
    nb_loop(&o, lfd, &server);
    nb_report("down", &o.down);
    nb_report("up", &o.up);
    return 0;
}
