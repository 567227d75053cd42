/* limit.c - token buckets and the bounded source table (limit.h).
 *
 * Sections: 1. token bucket, 2. source and address keys, 3. the tables
 * (linear probing, bounded probe window, backward-shift deletion so no
 * tombstones pile up; sources, and running transfers per address), 4. the
 * two admission checks and the sweep.
 */
#include "limit.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#define SRV_LIMIT_SWEEP_MS 1000
#define SRV_LIMIT_SOURCES_MIN 64

/* ---- 2. keys ------------------------------------------------------------ */

enum ota_err srv_peer_key(const struct sockaddr *sa, struct srv_peer_key *k)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    memset(k, 0, sizeof *k);
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        k->b[0] = 4;
        memcpy(k->b + 1, &in->sin_port, 2);
        memcpy(k->b + 3, &in->sin_addr, 4);
        k->len = 7;
        return OTA_OK;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        const uint8_t *a = in6->sin6_addr.s6_addr;
        int v4 = memcmp(a, mapped, sizeof mapped) == 0;
        k->b[0] = v4 ? 4 : 6;
        memcpy(k->b + 1, &in6->sin6_port, 2);
        memcpy(k->b + 3, v4 ? a + 12 : a, v4 ? 4 : 16);
        k->len = v4 ? 7 : 19;
        return OTA_OK;
    }
    return OTA_E_INVAL;
}

static int srv_key_eq(const struct srv_peer_key *a, const struct srv_peer_key *b)
{
    return a->len == b->len && memcmp(a->b, b->b, a->len) == 0;
}

/* The per-address key of a source: no port, and an IPv6 address cut to
 * its /64, the block of one subscriber: a host has 2^64 addresses. */
static struct srv_peer_key srv_addr_key(const struct srv_peer_key *src)
{
    struct srv_peer_key k = *src;
    k.b[1] = k.b[2] = 0;
    if (k.b[0] == 6)
        memset(k.b + 3 + 8, 0, 8);
    return k;
}

/* ---- 3. tables ---------------------------------------------------------- */

/* Both tables are arrays of records that start with their key. */
static struct srv_peer_key *srv_key_at(void *tab, size_t stride, size_t i)
{
    return (struct srv_peer_key *)(void *)((unsigned char *)tab + i * stride);
}

static size_t srv_home(const struct srv_limit *l, const struct srv_peer_key *k)
{
    uint64_t h;
    crypto_shorthash((unsigned char *)&h, k->b, k->len, l->seed);
    return (size_t)h & (l->cap - 1);
}

/* Empty slot i of a table, shifting later members of its run back
 * (Knuth's algorithm R for linear probing), so lookups stay correct. */
static void srv_shift_delete(const struct srv_limit *l, void *tab, size_t stride, size_t i)
{
    size_t mask = l->cap - 1, j = i;
    /* A vacated slot is cleared whole, not only its key: a transfer flag
     * left behind would be ended again when the slot is next filled (the
     * moved entry ends its own), and nxfer would wrap below zero. */
    memset(srv_key_at(tab, stride, i), 0, stride);
    for (;;) {
        j = (j + 1) & mask;
        struct srv_peer_key *kj = srv_key_at(tab, stride, j);
        if (kj->len == 0)
            return;
        size_t home = srv_home(l, kj);
        /* Move j to i unless its home lies cyclically in (i, j]. */
        int stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (stays)
            continue;
        memcpy(srv_key_at(tab, stride, i), kj, stride);
        memset(kj, 0, stride);
        i = j;
    }
}

/* The address entry of k within the probe window, or NULL; with add, an
 * empty slot is claimed for it (NULL if the window is full). */
static struct srv_addr_count *srv_addr_find(struct srv_limit *l, const struct srv_peer_key *k,
                                            int add)
{
    size_t i = srv_home(l, k), mask = l->cap - 1;
    for (size_t n = 0; n < SRV_LIMIT_PROBE && n < l->cap; n++, i = (i + 1) & mask) {
        struct srv_addr_count *a = &l->addrs[i];
        if (a->key.len && srv_key_eq(&a->key, k))
            return a;
        if (!a->key.len) {
            if (!add)
                return NULL;
            a->key = *k;
            a->xfers = 0;
            return a;
        }
    }
    return NULL;
}

static void srv_addr_release(struct srv_limit *l, const struct srv_peer_key *src)
{
    struct srv_peer_key k = srv_addr_key(src);
    struct srv_addr_count *a = srv_addr_find(l, &k, 0);
    if (a && --a->xfers == 0)
        srv_shift_delete(l, l->addrs, sizeof *l->addrs, (size_t)(a - l->addrs));
}

static uint64_t srv_idle_ms(const struct srv_limit *l)
{
    return (uint64_t)(l->c.transfer_idle_s ? l->c.transfer_idle_s : 1) * 1000u;
}

static int srv_expired(const struct srv_limit *l, const struct srv_src *s, uint64_t now)
{
    return now - s->seen_ms > srv_idle_ms(l);
}

static void srv_xfer_end(struct srv_limit *l, struct srv_src *s)
{
    if (s->xfer) {
        s->xfer = 0;
        l->nxfer--;
    }
    if (s->moving) {
        s->moving = 0;
        l->nmoving--;
    }
    if (s->per_addr) {
        s->per_addr = 0;
        srv_addr_release(l, &s->key);
    }
}

/* Count a transfer of s in its address's entry; 0 if the address is at
 * max_per_address (or, rarely, its probe window is full). */
static int srv_addr_take(struct srv_limit *l, struct srv_src *s, unsigned flags)
{
    if (!l->c.max_per_address || (flags & SRV_XF_TRUSTED))
        return 1;
    struct srv_peer_key k = srv_addr_key(&s->key);
    struct srv_addr_count *a = srv_addr_find(l, &k, 1);
    if (!a || a->xfers >= l->c.max_per_address) {
        if (a && a->xfers == 0) /* just claimed: give the slot back */
            srv_shift_delete(l, l->addrs, sizeof *l->addrs, (size_t)(a - l->addrs));
        return 0;
    }
    a->xfers++;
    s->per_addr = 1;
    return 1;
}

static void srv_slot_delete(struct srv_limit *l, size_t i)
{
    srv_xfer_end(l, &l->tab[i]);
    srv_shift_delete(l, l->tab, sizeof *l->tab, i);
    l->nsrc--;
}

static void srv_slot_fill(struct srv_limit *l, struct srv_src *s, const struct srv_peer_key *k,
                          uint64_t now)
{
    srv_xfer_end(l, s);
    memset(s, 0, sizeof *s);
    s->key = *k;
    s->seen_ms = now;
}

/* Find k, or make room for it within the probe window: an empty slot, an
 * expired entry, or else the least recently seen entry without a transfer. */
static struct srv_src *srv_find_or_add(struct srv_limit *l, const struct srv_peer_key *k,
                                       uint64_t now)
{
    size_t i = srv_home(l, k), mask = l->cap - 1;
    struct srv_src *victim = NULL;
    for (size_t n = 0; n < SRV_LIMIT_PROBE && n < l->cap; n++, i = (i + 1) & mask) {
        struct srv_src *s = &l->tab[i];
        if (s->key.len == 0) {
            srv_slot_fill(l, s, k, now);
            l->nsrc++;
            return s;
        }
        if (srv_key_eq(&s->key, k))
            return s;
        int free_ok = srv_expired(l, s, now) || !s->xfer;
        if (free_ok && (!victim || s->seen_ms < victim->seen_ms))
            victim = s;
    }
    /* Entries in the window may be the key's own run, so the key is not
     * anywhere else: reuse the victim in place (its slot stays occupied). */
    if (victim)
        srv_slot_fill(l, victim, k, now);
    return victim;
}

static size_t srv_pow2(unsigned n)
{
    size_t c = SRV_LIMIT_SOURCES_MIN;
    while (c < n && c < ((size_t)1 << 24))
        c <<= 1;
    return c;
}

enum ota_err srv_limit_init(struct srv_limit *l, const struct srv_limit_cfg *c, char *msg)
{
    memset(l, 0, sizeof *l);
    l->c = *c;
    l->cap = srv_pow2(c->max_sources);
    l->tab = calloc(l->cap, sizeof *l->tab);
    l->addrs = calloc(l->cap, sizeof *l->addrs);
    if (!l->tab || !l->addrs) {
        srv_limit_free(l);
        return ota_fail(msg, OTA_E_NOMEM, "limit: cannot allocate %zu source slots",
                        srv_pow2(c->max_sources));
    }
    randombytes_buf(l->seed, sizeof l->seed);
    return OTA_OK;
}

void srv_limit_free(struct srv_limit *l)
{
    free(l->tab);
    free(l->addrs);
    memset(l, 0, sizeof *l);
}

/* Re-insert old entry o into l (a fresh table): an empty slot in its probe
 * window, else it is dropped. Its transfer and address count come along. */
static void srv_limit_carry(struct srv_limit *l, const struct srv_src *o)
{
    size_t i = srv_home(l, &o->key), mask = l->cap - 1;
    for (size_t n = 0; n < SRV_LIMIT_PROBE && n < l->cap; n++, i = (i + 1) & mask) {
        struct srv_src *s = &l->tab[i];
        if (s->key.len)
            continue;
        *s = *o;
        s->per_addr = 0;
        l->nsrc++;
        l->nmoving += s->moving;
        if (s->xfer) {
            l->nxfer++;
            if (o->per_addr)
                srv_addr_take(l, s, 0);
        }
        return;
    }
}

enum ota_err srv_limit_prepare(const struct srv_limit *l, const struct srv_limit_cfg *c,
                               struct srv_limit *out, char *msg)
{
    enum ota_err e = srv_limit_init(out, c, msg);
    if (e != OTA_OK)
        return e;
    /* Two passes: running transfers take the slots first. */
    for (int pass = 1; pass >= 0; pass--)
        for (size_t i = 0; i < l->cap; i++)
            if (l->tab[i].key.len && l->tab[i].xfer == pass)
                srv_limit_carry(out, &l->tab[i]);
    out->started = l->started;
    out->last_sweep_ms = l->last_sweep_ms;
    return OTA_OK;
}

enum ota_err srv_limit_reconfigure(struct srv_limit *l, const struct srv_limit_cfg *c,
                                   char *msg)
{
    struct srv_limit fresh;
    enum ota_err e = srv_limit_prepare(l, c, &fresh, msg);
    if (e != OTA_OK)
        return e;
    srv_limit_free(l);
    *l = fresh;
    return OTA_OK;
}

/* ---- 4. admission and sweep --------------------------------------------- */

static unsigned srv_retry_after(const struct srv_limit *l)
{
    return l->c.retry_after_s ? l->c.retry_after_s : 1;
}

static unsigned srv_secs(uint64_t ms)
{
    uint64_t s = (ms + 999) / 1000;
    return s < 1 ? 1 : s > 3600 ? 3600 : (unsigned)s;
}

enum srv_verdict srv_limit_request(struct srv_limit *l, const struct srv_peer_key *k,
                                   uint64_t now_ms, struct srv_src **src, unsigned *max_age)
{
    uint64_t wait = 0;
    struct srv_src *s = srv_find_or_add(l, k, now_ms);
    *src = s;
    if (!s) {
        *max_age = srv_retry_after(l);
        return SRV_V_SOURCES;
    }
    s->seen_ms = now_ms;
    if (!ota_bucket_take(&s->rate, l->c.rate, l->c.burst, now_ms, &wait)) {
        *max_age = srv_secs(wait);
        return SRV_V_RATE;
    }
    return SRV_V_OK;
}

/* May source s start a transfer now? */
static enum srv_verdict srv_xfer_admit(struct srv_limit *l, struct srv_src *s, unsigned flags)
{
    unsigned cap = l->c.max_transfers;
    if (cap && l->nxfer >= cap)
        return SRV_V_TRANSFERS;
    if (cap && !(flags & SRV_XF_VERIFIED) && l->c.reserve &&
        l->nxfer + l->c.reserve >= cap)
        return SRV_V_RESERVED;
    return srv_addr_take(l, s, flags) ? SRV_V_OK : SRV_V_ADDRESS;
}

enum srv_verdict srv_limit_transfer(struct srv_limit *l, struct srv_src *s,
                                    const uint8_t etag[SRV_LIMIT_ETAG_LEN], int last,
                                    unsigned flags, uint64_t now_ms, unsigned *max_age)
{
    int same = (s->xfer || s->done) && memcmp(s->etag, etag, SRV_LIMIT_ETAG_LEN) == 0;
    s->seen_ms = now_ms;
    if (same && s->done && !(flags & SRV_XF_FIRST))
        return SRV_V_OK; /* a resend after the last block: the finished transfer */
    if (s->done)
        same = 0;
    if (!same) {
        srv_xfer_end(l, s); /* a new package: the old transfer is over */
        s->done = 0;
        enum srv_verdict v = srv_xfer_admit(l, s, flags);
        if (v != SRV_V_OK) {
            *max_age = srv_retry_after(l);
            return v;
        }
        s->xfer = 1;
        memcpy(s->etag, etag, SRV_LIMIT_ETAG_LEN);
        l->nxfer++;
        l->started++;
    }
    if (!(flags & SRV_XF_FIRST) && !s->moving) {
        s->moving = 1;
        l->nmoving++;
    }
    if (last) {
        srv_xfer_end(l, s);
        s->done = 1;
    }
    return SRV_V_OK;
}

void srv_limit_tick(struct srv_limit *l, uint64_t now_ms)
{
    if (now_ms - l->last_sweep_ms < SRV_LIMIT_SWEEP_MS)
        return;
    l->last_sweep_ms = now_ms;
    for (size_t i = 0; i < l->cap; i++) {
        /* A deletion may shift a later entry into i: look at i again. */
        while (l->tab[i].key.len && srv_expired(l, &l->tab[i], now_ms))
            srv_slot_delete(l, i);
    }
}

void srv_limit_end(struct srv_limit *l, const struct srv_peer_key *k,
                   const uint8_t etag[SRV_LIMIT_ETAG_LEN], uint64_t now_ms)
{
    size_t i = srv_home(l, k), mask = l->cap - 1;
    for (size_t n = 0; n < SRV_LIMIT_PROBE && n < l->cap; n++, i = (i + 1) & mask) {
        struct srv_src *s = &l->tab[i];
        if (s->key.len == 0)
            return; /* expired and swept meanwhile */
        if (!srv_key_eq(&s->key, k))
            continue;
        if (s->xfer && memcmp(s->etag, etag, SRV_LIMIT_ETAG_LEN) == 0) {
            srv_xfer_end(l, s);
            s->done = 0; /* the source's next request starts a new transfer */
            s->seen_ms = now_ms;
        }
        return;
    }
}
