/* ota-load.c - load generator: N simulated devices download a package over
 * CoAP Block2 from one server on 127.0.0.1 and check what they got.
 *
 * A test tool (tests/tools, built as build/<dir>/ota-load), not part of
 * the product: it speaks raw CoAP over UDP (RFC 7252 + 7959 Block2) with
 * its own minimal encoder/parser, so its cost per request is small and
 * the server, not the generator, is what gets measured; the same bytes go
 * to ota-server and to Debian's coap-server (-p path, -q query).
 * Every device has its own socket (its own source port on 127.0.0.1),
 * requests blocks in order with up to -w requests outstanding, hashes the
 * blocks in order (out-of-order arrivals wait in the window's slots) and,
 * at the end, checks the SHA-256 of the whole download: against the
 * expected images (-e FILE, -k DIR of *.pkg) if given, else its first 8
 * bytes against the ETag (ota-server's ETag rule). An ETag change mid-way
 * restarts the device from block 0 (as a real device does), so a device
 * can never end with mixed bytes unless the server mixed them. A 5.03 is
 * honoured by waiting Max-Age (capped by -x) and then resuming.
 * Fairness: devices wait in one FIFO and send one request per turn, and
 * -i caps the requests in flight over all devices, so with many devices
 * every device is mid-download at the same time and the server's socket
 * buffer is not flooded by a burst of thousands of datagrams.
 * Bounded: -n devices, -t seconds overall; retransmits -R times with
 * doubling timeouts from -T ms (times 1 to 1.5 at random per request, as
 * RFC 7252), then the device counts as failed.
 * Prints requests/s, block answers/s, latency percentiles, failures, the
 * longest time a device waited between two answers (stall_max_ms: a
 * failover's cost), retransmissions and the server's peak RSS (VmHWM of
 * -P PID), then one RESULT line of
 * key=value pairs for scripts. Exit 0 if every device finished with a
 * correct image, 1 otherwise, 2 on usage errors.
 */
#include "crypto.h"
#include "rtt.h"
#include "stats.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define LOAD_WINDOW_MAX 32
#define LOAD_DEVICES_MAX 20000
#define LOAD_EXPECT_MAX 64
#define LOAD_PDU_MAX 1400
#define LOAD_HIST_US 1000000 /* latency histogram: 1 us buckets up to 1 s */
#define LOAD_SCAN_US 20000   /* timer scan period */
#define LOAD_HS_MAX 64       /* coaps://: DTLS handshakes in progress at once */
#define LOAD_HS_SECONDS 30   /* a handshake older than this fails the device */
#define LOAD_REMOVE_MIN_MS 500 /* -M: after a move, the shortest wait before the next */
#define LOAD_REMOVES 3       /* -M: moves in a row at the RTO pace, then -M SECONDS again */

enum load_state { LOAD_NEW, LOAD_HS, LOAD_RUN, LOAD_WAIT, LOAD_DONE, LOAD_FAIL };

struct load_slot {
    int used, got;
    uint32_t num, token;
    uint64_t sent_us;
    uint64_t rto_us; /* this request's first timeout, doubled per retransmission */
    int tries;
    uint16_t len;
    uint8_t *data;
};

struct load_dev {
    int fd;
    enum load_state st;
    int queued;
    uint32_t token_seq;
    uint16_t mid;
    uint8_t etag[8];
    int etag_len;
    uint64_t size;   /* Size2, 0 = unknown */
    uint32_t nblocks; /* 0 = unknown */
    uint32_t next_req, next_hash;
    unsigned szx;
    uint64_t wake_us;
    unsigned restarts;
    uint64_t last_us; /* last answer (or first request): stalls are measured from it */
    uint64_t stall_us; /* this device's longest wait between two answers */
    uint64_t moved_us; /* when it last moved to a new source port (-M) */
    int moves_unanswered; /* moves in a row without an answer since */
    struct rtt rtt_us; /* round trips of first tries (Karn), in us */
    int full_path;     /* -Q after a move: /fota until the new port has an answer */
    int rounds; /* downloads completed */
    struct load_slot slot[LOAD_WINDOW_MAX];
    crypto_hash_sha256_state sha;
    char imei[16];
    SSL *ssl;        /* coaps:// (-S): this device's DTLS session */
    uint64_t hs_us;  /* its handshake's start */
};

struct load_opts {
    struct sockaddr_in server;
    int ndev, window, inflight, seconds, rto_ms, retries, max_wait_s, con, repeat;
    int move_s; /* -M: seconds without an answer before a device moves to a new source port */
    int short_res; /* -Q: blocks after the first at /p/<ETag hex> with Q-Block2 (issue 13) */
    unsigned szx;
    const char *path, *query;
    long server_pid;
    uint8_t expect[LOAD_EXPECT_MAX][32];
    int nexpect;
    uint8_t psk_secret[CRYPTO_PSK_SECRET_MAX]; /* -S: coaps:// with keys derived from it */
    size_t psk_secret_len;
};

struct load_totals {
    uint64_t sent, retrans, answers, blocks, busy, restarts, bad_code, stale;
    uint64_t done, failed, wrong, timeouts, images;
    uint64_t hist[LOAD_HIST_US / 10 + 1]; /* 10 us buckets */
    uint64_t lat_max_us, lat_n;
    uint64_t stall_max_us; /* longest time a device waited between two answers */
    uint64_t moves;        /* -M: moves of a device to a new source port */
    uint64_t handshakes, hs_failed, hs_first_us, hs_last_us;
    int hs_running, hs_next;
    unsigned codes[256];
};

static struct load_opts o;
static struct load_totals tot;
static struct load_dev *devs;
static int *fifo, fifo_head, fifo_len;
static int load_epoll = -1;
static int inflight;

static uint64_t load_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- expectations ------------------------------------------------------- */

static int load_hash_file(const char *path, uint8_t out[32])
{
    FILE *fp = fopen(path, "rb");
    uint8_t buf[65536];
    size_t k;
    crypto_hash_sha256_state st;
    if (!fp)
        return -1;
    crypto_hash_sha256_init(&st);
    while ((k = fread(buf, 1, sizeof buf, fp)) > 0)
        crypto_hash_sha256_update(&st, buf, k);
    fclose(fp);
    crypto_hash_sha256_final(&st, out);
    return 0;
}

static int load_expect_file(const char *path)
{
    if (o.nexpect == LOAD_EXPECT_MAX || load_hash_file(path, o.expect[o.nexpect]) != 0) {
        fprintf(stderr, "ota-load: error: cannot hash %s (or more than %d images)\n", path,
                LOAD_EXPECT_MAX);
        return -1;
    }
    o.nexpect++;
    return 0;
}

static int load_expect_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char path[4096];
    if (!d) {
        fprintf(stderr, "ota-load: error: cannot read %s\n", dir);
        return -1;
    }
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n < 5 || strcmp(de->d_name + n - 4, ".pkg") != 0 || de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (load_expect_file(path) != 0) {
            closedir(d);
            return -1;
        }
    }
    closedir(d);
    return 0;
}

/* ---- CoAP encoding ------------------------------------------------------ */

struct load_pdu {
    uint8_t b[LOAD_PDU_MAX];
    size_t len;
    unsigned last_opt;
};

static void load_opt(struct load_pdu *p, unsigned num, const uint8_t *v, size_t vlen)
{
    unsigned delta = num - p->last_opt;
    uint8_t *h = p->b + p->len++;
    size_t ext = 0;
    uint8_t eb[4];
    unsigned fields[2] = {delta, (unsigned)vlen};
    uint8_t nib[2];
    for (int i = 0; i < 2; i++) {
        if (fields[i] < 13) {
            nib[i] = (uint8_t)fields[i];
        } else if (fields[i] < 269) {
            nib[i] = 13;
            eb[ext++] = (uint8_t)(fields[i] - 13);
        } else {
            nib[i] = 14;
            eb[ext++] = (uint8_t)((fields[i] - 269) >> 8);
            eb[ext++] = (uint8_t)(fields[i] - 269);
        }
    }
    *h = (uint8_t)(nib[0] << 4 | nib[1]);
    memcpy(p->b + p->len, eb, ext);
    p->len += ext;
    memcpy(p->b + p->len, v, vlen);
    p->len += vlen;
    p->last_opt = num;
}

/* GET path?query with Block2 (num, szx) and a 4-byte token. */
static size_t load_request(struct load_dev *d, uint32_t num, uint32_t token, uint8_t *out)
{
    struct load_pdu p;
    const char *q = o.query;
    p.len = 0;
    p.last_opt = 0;
    p.b[p.len++] = (uint8_t)(0x40 | (o.con ? 0x00 : 0x10) | 4); /* ver 1, CON/NON, TKL 4 */
    p.b[p.len++] = 0x01;                                        /* GET */
    d->mid++;
    p.b[p.len++] = (uint8_t)(d->mid >> 8);
    p.b[p.len++] = (uint8_t)d->mid;
    memcpy(p.b + p.len, &token, 4);
    p.len += 4;
    int short_path = o.short_res && d->etag_len == 8 && num > 0 && !d->full_path;
    if (short_path) { /* the short resource: no query */
        char hex[17];
        ota_hex(d->etag, 8, hex);
        load_opt(&p, 11, (const uint8_t *)"p", 1);
        load_opt(&p, 11, (const uint8_t *)hex, 16);
        q = NULL;
    } else {
        load_opt(&p, 11, (const uint8_t *)o.path, strlen(o.path));
    }
    while (q && *q) {
        const char *amp = strchr(q, '&');
        size_t n = amp ? (size_t)(amp - q) : strlen(q);
        char val[256];
        if (n >= 6 && n < sizeof val && memcmp(q, "imei=", 5) == 0 && q[5] == '@') {
            n = (size_t)snprintf(val, sizeof val, "imei=%s", d->imei);
            load_opt(&p, 15, (const uint8_t *)val, n);
        } else if (n > 0) {
            load_opt(&p, 15, (const uint8_t *)q, n);
        }
        q = amp ? amp + 1 : NULL;
    }
    uint32_t v = num << 4 | d->szx;
    uint8_t b2[3];
    size_t bl = v < 0x100 ? 1 : v < 0x10000 ? 2 : 3;
    for (size_t i = 0; i < bl; i++)
        b2[i] = (uint8_t)(v >> (8 * (bl - 1 - i)));
    load_opt(&p, short_path ? 19 : 23, b2, bl);
    memcpy(out, p.b, p.len);
    return p.len;
}

/* ---- CoAP parsing ----------------------------------------------------------- */

struct load_resp {
    uint8_t type, code;
    uint32_t token;
    int tkl;
    const uint8_t *etag;
    size_t etag_len;
    int has_b2;
    uint32_t b2num;
    unsigned b2szx;
    int b2more;
    uint64_t size2;
    int has_size2;
    unsigned max_age;
    const uint8_t *payload;
    size_t plen;
};

static uint32_t load_uint(const uint8_t *v, size_t n)
{
    uint32_t x = 0;
    for (size_t i = 0; i < n && i < 4; i++)
        x = x << 8 | v[i];
    return x;
}

static int load_ext(const uint8_t *b, size_t len, size_t *at, unsigned nib, unsigned *out)
{
    if (nib < 13) {
        *out = nib;
    } else if (nib == 13) {
        if (*at + 1 > len)
            return -1;
        *out = b[(*at)++] + 13u;
    } else if (nib == 14) {
        if (*at + 2 > len)
            return -1;
        *out = ((unsigned)b[*at] << 8 | b[*at + 1]) + 269u;
        *at += 2;
    } else {
        return -1;
    }
    return 0;
}

static void load_resp_opt(struct load_resp *r, unsigned num, const uint8_t *v, unsigned vl)
{
    if (num == 4) {
        r->etag = v;
        r->etag_len = vl;
    } else if (num == 14) {
        r->max_age = load_uint(v, vl);
    } else if (num == 23 && vl <= 3) {
        uint32_t x = load_uint(v, vl);
        r->has_b2 = 1;
        r->b2num = x >> 4;
        r->b2more = (x >> 3) & 1;
        r->b2szx = x & 7;
    } else if (num == 28) {
        r->size2 = load_uint(v, vl);
        r->has_size2 = 1;
    }
}

static int load_parse(const uint8_t *b, size_t len, struct load_resp *r)
{
    memset(r, 0, sizeof r[0]);
    if (len < 4 || (b[0] >> 6) != 1)
        return -1;
    r->type = (b[0] >> 4) & 3;
    r->tkl = b[0] & 15;
    r->code = b[1];
    if (r->tkl > 8 || 4u + (size_t)r->tkl > len)
        return -1;
    if (r->tkl == 4)
        memcpy(&r->token, b + 4, 4);
    size_t at = 4 + (size_t)r->tkl;
    unsigned num = 0;
    while (at < len && b[at] != 0xff) {
        unsigned delta, vl;
        uint8_t h = b[at++];
        if (load_ext(b, len, &at, h >> 4, &delta) || load_ext(b, len, &at, h & 15, &vl) ||
            at + vl > len)
            return -1;
        num += delta;
        load_resp_opt(r, num, b + at, vl);
        at += vl;
    }
    if (at < len) {
        r->payload = b + at + 1;
        r->plen = len - at - 1;
    }
    return 0;
}

/* ---- devices ---------------------------------------------------------------- */

static void load_enqueue(int i)
{
    if (devs[i].queued)
        return;
    devs[i].queued = 1;
    fifo[(fifo_head + fifo_len++) % o.ndev] = i;
}

static void load_slot_free(struct load_dev *d, struct load_slot *s)
{
    (void)d;
    if (s->used && !s->got)
        inflight--;
    s->used = s->got = 0;
}

static void load_reset(struct load_dev *d)
{
    for (int k = 0; k < o.window; k++)
        load_slot_free(d, &d->slot[k]);
    d->next_req = d->next_hash = 0;
    d->etag_len = 0;
    d->size = 0;
    d->nblocks = 0;
    crypto_hash_sha256_init(&d->sha);
}

static void load_fail(struct load_dev *d, const char *why, int idx)
{
    if (d->st == LOAD_DONE || d->st == LOAD_FAIL)
        return;
    for (int k = 0; k < o.window; k++)
        load_slot_free(d, &d->slot[k]);
    d->st = LOAD_FAIL;
    tot.failed++;
    if (tot.failed <= 5)
        fprintf(stderr, "ota-load: device %d failed: %s\n", idx, why);
}

static void load_send(struct load_dev *d, struct load_slot *s, uint64_t now)
{
    uint8_t pkt[LOAD_PDU_MAX];
    size_t n = load_request(d, s->num, s->token, pkt);
    if (d->ssl) {
        ERR_clear_error();
        if (SSL_write(d->ssl, pkt, (int)n) <= 0)
            return;
    } else if (send(d->fd, pkt, n, 0) < 0 && errno != EAGAIN && errno != ECONNREFUSED) {
        return;
    }
    s->sent_us = now;
    tot.sent++;
}

/* Free slot of d for its next request, or NULL: the window is full, or
 * every block is asked for. While the size is unknown (before the first
 * answer, or a server without Size2) only one request at a time, and only
 * once the previous block is hashed. */
static struct load_slot *load_room(struct load_dev *d)
{
    struct load_slot *free_slot = NULL;
    int used = 0;
    if (d->st != LOAD_RUN)
        return NULL;
    for (int k = 0; k < o.window; k++) {
        if (d->slot[k].used)
            used++;
        else if (!free_slot)
            free_slot = &d->slot[k];
    }
    if (d->nblocks ? d->next_req >= d->nblocks : (used || d->next_req != d->next_hash))
        return NULL;
    return free_slot;
}

/* A request's first timeout: -T times a random factor in [1, 1.5], as
 * RFC 7252's ACK_RANDOM_FACTOR, so that requests sent together (a burst
 * after the generator was descheduled, or a gateway's devices all losing
 * a request at its kill) are not retransmitted in step, every doubling
 * hitting a gateway's socket buffer with the same burst again. */
static uint64_t load_rto_us(void)
{
    uint64_t base_us = (uint64_t)o.rto_ms * 1000u;
    return base_us + base_us * randombytes_uniform(501) / 1000u;
}

/* Issue the next block request of d if its window and the global cap
 * allow. */
static void load_issue(struct load_dev *d, uint64_t now)
{
    struct load_slot *s = inflight < o.inflight ? load_room(d) : NULL;
    if (!s)
        return;
    s->used = 1;
    s->got = 0;
    s->num = d->next_req++;
    s->token = ++d->token_seq;
    s->tries = 1;
    s->rto_us = load_rto_us();
    if (!d->last_us)
        d->last_us = now;
    inflight++;
    load_send(d, s, now);
}

/* Send from the FIFO while the global cap allows: one request per turn. */
static void load_pump(uint64_t now)
{
    while (fifo_len > 0 && inflight < o.inflight) {
        int i = fifo[fifo_head];
        fifo_head = (fifo_head + 1) % o.ndev;
        fifo_len--;
        devs[i].queued = 0;
        load_issue(&devs[i], now);
        if (load_room(&devs[i]))
            load_enqueue(i);
    }
}

static int load_image_ok(const struct load_dev *d, const uint8_t h[32])
{
    if (o.nexpect == 0)
        return d->etag_len == 8 && memcmp(h, d->etag, 8) == 0;
    for (int k = 0; k < o.nexpect; k++)
        if (memcmp(h, o.expect[k], 32) == 0)
            return 1;
    return 0;
}

static void load_advance(struct load_dev *d, int idx)
{
    for (int moved = 1; moved;) {
        moved = 0;
        for (int k = 0; k < o.window; k++) {
            struct load_slot *s = &d->slot[k];
            if (s->used && s->got && s->num == d->next_hash) {
                crypto_hash_sha256_update(&d->sha, s->data, s->len);
                s->used = s->got = 0;
                d->next_hash++;
                moved = 1;
            }
        }
    }
    if (d->nblocks && d->next_hash == d->nblocks) {
        uint8_t h[32];
        crypto_hash_sha256_final(&d->sha, h);
        int ok = load_image_ok(d, h);
        tot.images += (uint64_t)ok;
        if (ok && ++d->rounds < o.repeat) {
            load_reset(d); /* -r: download again */
        } else if (ok) {
            d->st = LOAD_DONE;
            tot.done++;
        } else {
            tot.wrong++;
            load_fail(d, "wrong image (hash matches no expected image)", idx);
        }
    }
}

static void load_latency(uint64_t us)
{
    uint64_t b = us / 10;
    tot.hist[b < LOAD_HIST_US / 10 ? b : LOAD_HIST_US / 10]++;
    if (us > tot.lat_max_us)
        tot.lat_max_us = us;
    tot.lat_n++;
}

static void load_restart(struct load_dev *d)
{
    d->restarts++;
    tot.restarts++;
    load_reset(d);
}

/* A 2.05 block for slot s of device d. */
static void load_block(struct load_dev *d, int idx, struct load_slot *s,
                       const struct load_resp *r)
{
    if (!r->has_b2 || r->b2num != s->num || r->b2szx != d->szx || r->plen > (16u << d->szx)) {
        load_fail(d, "block answer does not match the request", idx);
        return;
    }
    if (d->etag_len == 0) {
        d->etag_len = (int)(r->etag_len <= 8 ? r->etag_len : 8);
        memcpy(d->etag, r->etag, (size_t)d->etag_len);
    } else if ((size_t)d->etag_len != r->etag_len || memcmp(d->etag, r->etag, r->etag_len)) {
        load_restart(d); /* the release changed: start over, never mix */
        return;
    }
    if (!d->nblocks && r->has_size2 && r->size2 > 0) {
        d->size = r->size2;
        d->nblocks = (uint32_t)((r->size2 + (16u << d->szx) - 1) >> (d->szx + 4));
    } else if (!d->nblocks && !r->b2more) {
        d->nblocks = s->num + 1; /* no Size2: the last block says so */
    }
    memcpy(s->data, r->payload, r->plen);
    s->len = (uint16_t)r->plen;
    s->got = 1;
    inflight--;
    tot.blocks++;
    if (!r->b2more && s->num + 1 < d->nblocks) {
        load_fail(d, "last block earlier than Size2 said", idx);
        return;
    }
    load_advance(d, idx);
}

static void load_answer(int idx, const uint8_t *buf, size_t n, uint64_t now)
{
    struct load_dev *d = &devs[idx];
    struct load_resp r;
    if (load_parse(buf, n, &r) != 0 || r.tkl != 4)
        return;
    if (r.type == 2 && r.code == 0)
        return; /* empty ACK */
    struct load_slot *s = NULL;
    for (int k = 0; k < o.window && !s; k++)
        if (d->slot[k].used && !d->slot[k].got && d->slot[k].token == r.token)
            s = &d->slot[k];
    if (!s || d->st != LOAD_RUN) {
        tot.stale++;
        return;
    }
    tot.answers++;
    tot.codes[r.code]++;
    if (now - d->last_us > d->stall_us)
        d->stall_us = now - d->last_us;
    if (d->stall_us > tot.stall_max_us)
        tot.stall_max_us = d->stall_us;
    d->last_us = now;
    d->moves_unanswered = 0;
    if (s->tries == 1)
        rtt_sample(&d->rtt_us, now - s->sent_us);
    load_latency(now - s->sent_us);
    if (r.code == 0x45) { /* 2.05 */
        d->full_path = 0;
        load_block(d, idx, s, &r);
    } else if (r.code == 0xa3) { /* 5.03: wait Max-Age, then resume */
        tot.busy++;
        unsigned wait = r.max_age ? r.max_age : 60;
        if (wait > (unsigned)o.max_wait_s)
            wait = (unsigned)o.max_wait_s;
        for (int k = 0; k < o.window; k++) /* drop the window, ask again later */
            load_slot_free(d, &d->slot[k]);
        d->next_req = d->next_hash;
        d->st = LOAD_WAIT;
        d->wake_us = now + (uint64_t)wait * 1000000u;
    } else if (r.code == 0x82 && d->etag_len) { /* 4.02 past the end: release changed */
        load_restart(d);
    } else {
        char why[64];
        tot.bad_code++;
        snprintf(why, sizeof why, "answer %u.%02u", r.code >> 5, r.code & 31);
        load_fail(d, why, idx);
    }
    if (d->st == LOAD_RUN)
        load_enqueue(idx);
}

/* ---- coaps:// (-S) ------------------------------------------------------------ */

/* identity = the device's IMEI, key = HMAC-SHA256(product secret, IMEI):
 * what ota-server derives (ota-cache psk). */
static unsigned load_psk_cb(SSL *ssl, const char *hint, char *identity, unsigned max_identity,
                            unsigned char *psk, unsigned max_psk)
{
    const struct load_dev *d = SSL_get_app_data(ssl);
    (void)hint;
    if (!d || strlen(d->imei) >= max_identity || max_psk < CRYPTO_PSK_LEN)
        return 0;
    memcpy(identity, d->imei, strlen(d->imei) + 1);
    crypto_psk_derive(o.psk_secret, o.psk_secret_len, d->imei, strlen(d->imei), psk);
    return CRYPTO_PSK_LEN;
}

static SSL_CTX *load_ssl_ctx;

static int load_dtls_init(void)
{
    load_ssl_ctx = SSL_CTX_new(DTLS_client_method());
    if (!load_ssl_ctx || !SSL_CTX_set_cipher_list(load_ssl_ctx, "PSK") ||
        !SSL_CTX_set_max_proto_version(load_ssl_ctx, DTLS1_2_VERSION))
        return -1;
    SSL_CTX_set_psk_client_callback(load_ssl_ctx, load_psk_cb);
    return 0;
}

/* Drive device i's handshake; once it is up the device starts downloading. */
static void load_hs_step(int i, uint64_t now)
{
    struct load_dev *d = &devs[i];
    ERR_clear_error();
    int r = SSL_do_handshake(d->ssl);
    if (r == 1) {
        d->st = LOAD_RUN;
        tot.handshakes++;
        tot.hs_last_us = now;
        tot.hs_running--;
        load_enqueue(i);
        return;
    }
    int e = SSL_get_error(d->ssl, r);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
        tot.hs_failed++;
        tot.hs_running--;
        load_fail(d, "DTLS handshake failed", i);
    }
}

/* Start handshakes up to LOAD_HS_MAX in progress; time out stuck ones. */
static void load_hs_scan(uint64_t now)
{
    while (o.psk_secret_len && tot.hs_running < LOAD_HS_MAX && tot.hs_next < o.ndev) {
        struct load_dev *d = &devs[tot.hs_next];
        d->ssl = SSL_new(load_ssl_ctx);
        BIO *bio = d->ssl ? BIO_new_dgram(d->fd, BIO_NOCLOSE) : NULL;
        if (!bio) {
            load_fail(d, "cannot create a DTLS session", tot.hs_next++);
            continue;
        }
        BIO_ctrl(bio, BIO_CTRL_DGRAM_SET_CONNECTED, 0, &o.server);
        SSL_set_bio(d->ssl, bio, bio);
        SSL_set_app_data(d->ssl, d);
        SSL_set_connect_state(d->ssl);
        d->st = LOAD_HS;
        d->hs_us = now;
        if (!tot.hs_first_us)
            tot.hs_first_us = now;
        tot.hs_running++;
        load_hs_step(tot.hs_next++, now);
    }
    for (int i = 0; i < tot.hs_next; i++) {
        struct load_dev *d = &devs[i];
        if (d->st != LOAD_HS)
            continue;
        if (now - d->hs_us > (uint64_t)LOAD_HS_SECONDS * 1000000u) {
            tot.hs_failed++;
            tot.hs_running--;
            load_fail(d, "DTLS handshake timed out", i);
        } else if (DTLSv1_handle_timeout(d->ssl) < 0) {
            load_hs_step(i, now);
        }
    }
}

/* A socket for device i on a new source port of 127.0.0.1, connected to
 * the server and watched by the epoll set; -1 on error (errno set). */
static int load_socket(int i)
{
    struct sockaddr_in local;
    memset(&local, 0, sizeof local);
    local.sin_family = AF_INET;
    local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    if (fd >= 0 && (bind(fd, (struct sockaddr *)&local, sizeof local) != 0 ||
                    connect(fd, (struct sockaddr *)&o.server, sizeof o.server) != 0 ||
                    epoll_ctl(load_epoll, EPOLL_CTL_ADD, fd, &ev) != 0)) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* -M: how long device d waits for an answer before it moves: move_s, or
 * right after a move that got no answer (the balancer may have hashed it
 * onto the dead gateway again) one RTO of its own round trips (SRTT + 4
 * RTTVAR, at least LOAD_REMOVE_MIN_MS), LOAD_REMOVES times in a row, as
 * ota-client's link does (client/dgram.h). */
static uint64_t load_move_after_us(const struct load_dev *d)
{
    if (d->moves_unanswered < 1 || d->moves_unanswered > LOAD_REMOVES)
        return (uint64_t)o.move_s * 1000000u;
    uint64_t rto = rtt_rto(&d->rtt_us);
    return rto > LOAD_REMOVE_MIN_MS * 1000u ? rto : LOAD_REMOVE_MIN_MS * 1000u;
}

/* -M: has coap:// device d waited long enough for an answer to an
 * outstanding request, since its last answer and its last move? */
static int load_silent(const struct load_dev *d, uint64_t now)
{
    uint64_t since = d->last_us > d->moved_us ? d->last_us : d->moved_us;
    if (!o.move_s || d->ssl || now - since < load_move_after_us(d))
        return 0;
    for (int k = 0; k < o.window; k++)
        if (d->slot[k].used && !d->slot[k].got)
            return 1;
    return 0;
}

/* Device i moves to a new source port and asks its outstanding blocks
 * again from there, as a device behind a load balancer should after
 * silence: a new port is a new balancer session, hashed afresh, so it
 * leaves a gateway that died (the balancer then has it marked down)
 * even while its old session is still bound to it. */
static void load_move(int i, uint64_t now)
{
    struct load_dev *d = &devs[i];
    int fd = load_socket(i);
    if (fd < 0)
        return; /* keep the old port; its retransmissions go on */
    close(d->fd);
    d->fd = fd;
    d->moved_us = now;
    d->moves_unanswered++;
    d->full_path = 1; /* the gateway knows no transfer of the new port: /p/ would be 4.03 */
    tot.moves++;
    /* A new port is a new path (another gateway behind the balancer): its
     * requests start a fresh retransmission schedule. Counting the moves
     * against the old one failed devices that landed on the dead gateway
     * again before nginx had marked it down (three moves used up
     * o.retries). The run's time limit (-t) still bounds a device that
     * never hears back. */
    for (int k = 0; k < o.window; k++) {
        struct load_slot *s = &d->slot[k];
        if (s->used && !s->got) {
            s->tries = 1;
            tot.retrans++;
            load_send(d, s, now);
        }
    }
}

/* Retransmit timed-out requests, wake waiting devices, fail the hopeless. */
static void load_scan(uint64_t now)
{
    load_hs_scan(now);
    for (int i = 0; i < o.ndev; i++) {
        struct load_dev *d = &devs[i];
        if (d->st == LOAD_WAIT && now >= d->wake_us) {
            d->st = LOAD_RUN;
            load_enqueue(i);
        }
        if (d->st != LOAD_RUN)
            continue;
        if (load_silent(d, now))
            load_move(i, now);
        for (int k = 0; k < o.window; k++) {
            struct load_slot *s = &d->slot[k];
            if (!s->used || s->got || now - s->sent_us < s->rto_us << (s->tries - 1))
                continue;
            if (s->tries > o.retries) {
                tot.timeouts++;
                load_fail(d, "no answer after retransmissions", i);
                break;
            }
            s->tries++;
            tot.retrans++;
            load_send(d, s, now);
        }
    }
}

/* ---- set-up, loop, report ------------------------------------------------------ */

static int load_open_devices(void)
{
    for (int i = 0; i < o.ndev; i++) {
        struct load_dev *d = &devs[i];
        d->fd = load_socket(i);
        if (d->fd < 0) {
            fprintf(stderr, "ota-load: error: socket %d: %s (raise ulimit -n?)\n", i,
                    strerror(errno));
            return -1;
        }
        d->szx = o.szx;
        d->st = o.psk_secret_len ? LOAD_NEW : LOAD_RUN;
        d->token_seq = (uint32_t)i << 20;
        snprintf(d->imei, sizeof d->imei, "86%013d", 1000000 + i);
        for (int k = 0; k < o.window; k++)
            if (!(d->slot[k].data = malloc(16u << o.szx)))
                return -1;
        crypto_hash_sha256_init(&d->sha);
        if (!o.psk_secret_len)
            load_enqueue(i);
    }
    return 0;
}

static int load_finished(void)
{
    return (uint64_t)o.ndev == tot.done + tot.failed;
}

static void load_drain(int fd_idx, uint64_t now)
{
    uint8_t buf[2048];
    struct load_dev *d = &devs[fd_idx];
    for (int k = 0; k < 64; k++) {
        if (d->st == LOAD_HS) {
            load_hs_step(fd_idx, now);
            if (d->st == LOAD_HS)
                return;
            continue;
        }
        ssize_t n;
        if (d->ssl) {
            ERR_clear_error();
            int r = d->st == LOAD_NEW ? -1 : SSL_read(d->ssl, buf, sizeof buf);
            if (r <= 0) {
                if (d->st != LOAD_NEW && SSL_get_error(d->ssl, r) != SSL_ERROR_WANT_READ)
                    (void)recv(d->fd, buf, sizeof buf, 0); /* drop what OpenSSL refused */
                return;
            }
            n = r;
        } else {
            n = recv(d->fd, buf, sizeof buf, 0);
        }
        if (n < 0)
            return;
        load_answer(fd_idx, buf, (size_t)n, now);
    }
}

static double load_loop(int ep)
{
    struct epoll_event evs[256];
    uint64_t t0 = load_now_us(), last_scan = t0, t_end = t0;
    uint64_t deadline = t0 + (uint64_t)o.seconds * 1000000u;
    load_hs_scan(t0);
    load_pump(t0);
    while (!load_finished()) {
        int n = epoll_wait(ep, evs, 256, 10);
        uint64_t now = load_now_us();
        for (int k = 0; k < n; k++)
            load_drain((int)evs[k].data.u32, now);
        if (now - last_scan >= LOAD_SCAN_US) {
            load_scan(now);
            last_scan = now;
        }
        load_pump(now);
        t_end = now;
        if (now >= deadline) {
            for (int i = 0; i < o.ndev; i++)
                if (devs[i].st == LOAD_RUN || devs[i].st == LOAD_WAIT ||
                    devs[i].st == LOAD_HS || devs[i].st == LOAD_NEW) {
                    tot.timeouts++;
                    load_fail(&devs[i], "time limit reached", i);
                }
        }
    }
    return (double)(t_end - t0) / 1e6;
}

static double load_pct(double p)
{
    uint64_t want = (uint64_t)(p * (double)tot.lat_n), acc = 0;
    for (size_t b = 0; b <= LOAD_HIST_US / 10; b++) {
        acc += tot.hist[b];
        if (acc > want || (acc == tot.lat_n && acc > 0))
            return (double)b * 10.0 / 1000.0;
    }
    return 0;
}

static void load_server_mem(long pid, unsigned long long *rss, unsigned long long *hwm)
{
    uint64_t r = 0, h = 0;
    if (pid > 0)
        srv_stats_mem_of(pid, &r, &h);
    *rss = r;
    *hwm = h;
}

/* Devices whose longest stall exceeded 1, 3 and 5 s: a failover's spread
 * (ota-load retransmits after about 1, 3 and 7 s by default), not only its
 * worst case. */
static void load_stalled(unsigned long long over[3])
{
    static const uint64_t limit_us[3] = {1000000u, 3000000u, 5000000u};
    for (int k = 0; k < 3; k++) {
        over[k] = 0;
        for (int i = 0; i < o.ndev; i++)
            over[k] += devs[i].stall_us > limit_us[k];
    }
}

static void load_print(double secs)
{
    unsigned long long rss, hwm, over[3];
    double s = secs > 0 ? secs : 1e-9;
    load_server_mem(o.server_pid, &rss, &hwm);
    load_stalled(over);
    printf("ota-load: %d devices, window %d, block %u, in flight <= %d, %.2f s\n", o.ndev,
           o.window, 16u << o.szx, o.inflight, secs);
    printf("ota-load: verified downloads %llu\n", (unsigned long long)tot.images);
    printf("ota-load: done %llu, failed %llu (wrong image %llu, timed out %llu, refused %llu)\n",
           (unsigned long long)tot.done, (unsigned long long)tot.failed,
           (unsigned long long)tot.wrong, (unsigned long long)tot.timeouts,
           (unsigned long long)tot.bad_code);
    printf("ota-load: requests %llu (%.0f/s), retransmits %llu, answers %llu, blocks %llu "
           "(%.0f/s), 5.03 busy %llu, restarts %llu\n", (unsigned long long)tot.sent,
           (double)tot.sent / s, (unsigned long long)tot.retrans,
           (unsigned long long)tot.answers, (unsigned long long)tot.blocks,
           (double)tot.blocks / s, (unsigned long long)tot.busy,
           (unsigned long long)tot.restarts);
    printf("ota-load: latency ms p50 %.2f p90 %.2f p99 %.2f max %.2f; longest stall of a "
           "device %.0f ms\n", load_pct(0.50), load_pct(0.90), load_pct(0.99),
           (double)tot.lat_max_us / 1000.0, (double)tot.stall_max_us / 1000.0);
    printf("ota-load: devices stalled over 1 s %llu, over 3 s %llu, over 5 s %llu; moved to a "
           "new source port %llu times\n", over[0], over[1], over[2],
           (unsigned long long)tot.moves);
    double hs_s = (double)(tot.hs_last_us - tot.hs_first_us) / 1e6;
    if (o.psk_secret_len)
        printf("ota-load: DTLS handshakes %llu (%.0f/s), failed %llu\n",
               (unsigned long long)tot.handshakes,
               hs_s > 0 ? (double)tot.handshakes / hs_s : 0.0, (unsigned long long)tot.hs_failed);
    if (o.server_pid > 0)
        printf("ota-load: server pid %ld RSS %llu KiB, peak RSS (VmHWM) %llu KiB\n", o.server_pid,
               rss, hwm);
    printf("RESULT images=%llu ", (unsigned long long)tot.images);
    printf("devices=%d done=%llu failed=%llu wrong=%llu busy=%llu restarts=%llu "
           "requests=%llu blocks=%llu seconds=%.3f blocks_per_s=%.0f p50_ms=%.3f p99_ms=%.3f "
           "rss_kib=%llu hwm_kib=%llu retransmits=%llu stall_max_ms=%.0f handshakes=%llu "
           "handshakes_per_s=%.0f stalled_1s=%llu stalled_3s=%llu stalled_5s=%llu moves=%llu\n",
           o.ndev, (unsigned long long)tot.done, (unsigned long long)tot.failed,
           (unsigned long long)tot.wrong, (unsigned long long)tot.busy,
           (unsigned long long)tot.restarts, (unsigned long long)tot.sent,
           (unsigned long long)tot.blocks, secs, (double)tot.blocks / s, load_pct(0.5),
           load_pct(0.99), rss, hwm, (unsigned long long)tot.retrans,
           (double)tot.stall_max_us / 1000.0, (unsigned long long)tot.handshakes,
           hs_s > 0 ? (double)tot.handshakes / hs_s : 0.0, over[0], over[1], over[2],
           (unsigned long long)tot.moves);
}

/* ---- command line ------------------------------------------------------------------ */

static const char load_usage[] =
    "Usage: ota-load [options]\n"
    "Simulated devices download one package each over CoAP Block2 and verify it.\n"
    "  -s HOST:PORT   server (IPv4; default 127.0.0.1:5683)\n"
    "  -n N           devices, each with its own socket/source port (1..20000, default 100)\n"
    "  -w W           block requests outstanding per device (1..32, default 4)\n"
    "  -i N           requests in flight over all devices (default 512; 0 = n*w)\n"
    "  -b SIZE        block size 16..1024 (default 1024)\n"
    "  -t SECONDS     overall time limit; unfinished devices fail (default 120)\n"
    "  -p PATH        Uri-Path (default fota)\n"
    "  -q QUERY       Uri-Query options, '&'-separated; 'imei=@' becomes a per-device IMEI\n"
    "                 (default: the demo project's query for core 17, script 1.0.0)\n"
    "  -e FILE        an expected image (repeatable); -k DIR: every *.pkg in DIR\n"
    "                 (without either, the hash's first 8 bytes must equal the ETag)\n"
    "  -P PID         server process: print its RSS and peak RSS (VmHWM)\n"
    "  -T MS          first retransmission timeout (default 1000; each request's is MS to\n"
    "                 1.5 x MS at random, as RFC 7252, then doubling)\n"
    "  -R N           retransmissions before a device fails (default 4)\n"
    "  -M SECONDS     coap://: a device that has waited SECONDS for an answer moves to a new\n"
    "                 source port and asks its outstanding blocks again (a new session in\n"
    "                 a load balancer; with -Q on /fota until the new port is answered;\n"
    "                 at most once per SECONDS; default 0 = never; after a move that got\n"
    "                 no answer, the next after one RTO of its round trips (>= 500 ms),\n"
    "                 3 times in a row)\n"
    "  -r N           downloads per device, one after the other (default 1)\n"
    "  -x SECONDS     longest 5.03 Max-Age honoured (default 30)\n"
    "  -c             confirmable requests (default non-confirmable, as devices send)\n"
    "  -Q             after the first answer, ask blocks at /p/<ETag hex> with a Q-Block2\n"
    "                 option, no query (the short resource, one block per request)\n"
    "  -S FILE        coaps://: DTLS-PSK per device (identity = its IMEI, key =\n"
    "                 HMAC-SHA256 of the product secret FILE and the IMEI, as the server\n"
    "                 derives it); at most 64 handshakes in progress at once\n"
    "Exit status: 0 all devices verified, 1 a device failed, 2 usage error.\n";

static int load_usage_error(const char *what)
{
    fprintf(stderr, "ota-load: error: %s\n%s", what, load_usage);
    return 2;
}

static int load_int(const char *s, long lo, long hi, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

static int load_server_addr(const char *s)
{
    char host[64];
    const char *colon = strrchr(s, ':');
    int port = 5683;
    size_t hl = colon ? (size_t)(colon - s) : strlen(s);
    if (hl >= sizeof host || (colon && load_int(colon + 1, 1, 65535, &port) != 0))
        return -1;
    memcpy(host, s, hl);
    host[hl] = '\0';
    memset(&o.server, 0, sizeof o.server);
    o.server.sin_family = AF_INET;
    o.server.sin_port = htons((uint16_t)port);
    return inet_pton(AF_INET, host, &o.server.sin_addr) == 1 ? 0 : -1;
}

static int load_psk_secret(const char *path)
{
    char msg[OTA_MSG_LEN];
    if (crypto_load_psk_secret(path, o.psk_secret, &o.psk_secret_len, msg) != OTA_OK) {
        fprintf(stderr, "ota-load: error: %s\n", msg);
        return -2;
    }
    return 0;
}

static int load_args(int argc, char **argv)
{
    int c, bs = 1024, rc = 0;
    o.ndev = 100;
    o.window = 4;
    o.inflight = 512;
    o.seconds = 120;
    o.rto_ms = 1000;
    o.retries = 4;
    o.move_s = 0;
    o.max_wait_s = 30;
    o.repeat = 1;
    o.path = "fota";
    o.query = "project_key=demo-product-key-0001&imei=@&firmware_name=DEMOPROJ_Luat_RDA8910"
              "&core_version=17&dfota=1&version=1.0.0";
    load_server_addr("127.0.0.1:5683");
    while ((c = getopt(argc, argv, "s:n:w:i:b:t:p:q:e:k:P:T:R:M:r:x:cQS:h")) != -1 && rc == 0) {
        switch (c) {
        case 's': rc = load_server_addr(optarg); break;
        case 'n': rc = load_int(optarg, 1, LOAD_DEVICES_MAX, &o.ndev); break;
        case 'w': rc = load_int(optarg, 1, LOAD_WINDOW_MAX, &o.window); break;
        case 'i': rc = load_int(optarg, 0, 1000000, &o.inflight); break;
        case 'b': rc = load_int(optarg, 16, 1024, &bs) || (bs & (bs - 1)); break;
        case 't': rc = load_int(optarg, 1, 3600, &o.seconds); break;
        case 'p': o.path = optarg; break;
        case 'q': o.query = optarg; break;
        case 'e': rc = load_expect_file(optarg) ? -2 : 0; break;
        case 'k': rc = load_expect_dir(optarg) ? -2 : 0; break;
        case 'P': { int pid; rc = load_int(optarg, 1, 1 << 30, &pid); o.server_pid = pid; break; }
        case 'T': rc = load_int(optarg, 10, 60000, &o.rto_ms); break;
        case 'R': rc = load_int(optarg, 0, 20, &o.retries); break;
        case 'M': rc = load_int(optarg, 0, 3600, &o.move_s); break;
        case 'r': rc = load_int(optarg, 1, 1000000, &o.repeat); break;
        case 'x': rc = load_int(optarg, 0, 3600, &o.max_wait_s); break;
        case 'c': o.con = 1; break;
        case 'Q': o.short_res = 1; break;
        case 'S': rc = load_psk_secret(optarg); break;
        case 'h': fputs(load_usage, stdout); return 0;
        default: return 2;
        }
    }
    if (rc == -2)
        return 2;
    if (rc != 0 || optind != argc)
        return load_usage_error("bad option value or extra argument");
    o.szx = 0;
    while ((16u << o.szx) < (unsigned)bs)
        o.szx++;
    if (o.inflight == 0 || o.inflight > o.ndev * o.window)
        o.inflight = o.ndev * o.window;
    return -1;
}

static void load_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char **argv)
{
    int rc = load_args(argc, argv);
    if (rc >= 0)
        return rc;
    if (sodium_init() < 0)
        return 1;
    load_raise_nofile();
    devs = calloc((size_t)o.ndev, sizeof *devs);
    fifo = calloc((size_t)o.ndev, sizeof *fifo);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    load_epoll = ep;
    if (!devs || !fifo || ep < 0 || load_open_devices() != 0 ||
        (o.psk_secret_len && load_dtls_init() != 0))
        return 1;
    double secs = load_loop(ep);
    load_print(secs);
    for (int i = 0; i < o.ndev; i++) {
        SSL_free(devs[i].ssl);
        close(devs[i].fd);
        for (int k = 0; k < o.window; k++)
            free(devs[i].slot[k].data);
    }
    free(devs);
    free(fifo);
    SSL_CTX_free(load_ssl_ctx);
    close(ep);
    return tot.failed == 0 && tot.done == (uint64_t)o.ndev ? 0 : 1;
}
