/* limit.c - token buckets and the bounded source table (limit.h).
 *
 * Sections: 1. token bucket, 2. source keys, 3. the table (linear
 * probing, bounded probe window, backward-shift deletion so no
 * tombstones pile up), 4. the two admission checks and the sweep.
 */
#include "limit.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#define SRV_LIMIT_SWEEP_MS 1000
#define SRV_LIMIT_SOURCES_MIN 64

/* ---- 1. token bucket ---------------------------------------------------- */

int srv_bucket_take(struct srv_bucket *b, double rate, double burst, uint64_t now_ms,
                    uint64_t *wait_ms)
{
    if (rate <= 0)
        return 1;
    if (burst < 1)
        burst = 1;
    if (!b->primed) {
        b->primed = 1;
        b->tokens = burst;
    } else if (now_ms > b->last_ms) {
        b->tokens += (double)(now_ms - b->last_ms) * rate / 1000.0;
        if (b->tokens > burst)
            b->tokens = burst;
    }
    b->last_ms = now_ms;
    if (b->tokens >= 1) {
        b->tokens -= 1;
        return 1;
    }
    if (wait_ms)
        *wait_ms = (uint64_t)((1 - b->tokens) * 1000.0 / rate) + 1;
    return 0;
}

/* ---- 2. keys ------------------------------------------------------------ */

enum ota_err srv_peer_key(const struct sockaddr *sa, struct srv_peer_key *k)
{
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
        k->b[0] = 6;
        memcpy(k->b + 1, &in6->sin6_port, 2);
        memcpy(k->b + 3, &in6->sin6_addr, 16);
        k->len = 19;
        return OTA_OK;
    }
    return OTA_E_INVAL;
}

static int srv_key_eq(const struct srv_peer_key *a, const struct srv_peer_key *b)
{
    return a->len == b->len && memcmp(a->b, b->b, a->len) == 0;
}

/* ---- 3. table ----------------------------------------------------------- */

static size_t srv_home(const struct srv_limit *l, const struct srv_peer_key *k)
{
    uint64_t h;
    crypto_shorthash((unsigned char *)&h, k->b, k->len, l->seed);
    return (size_t)h & (l->cap - 1);
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
}

/* Empty slot i, shifting later members of its run back (Knuth's
 * algorithm R for linear probing), so lookups stay correct. */
static void srv_slot_delete(struct srv_limit *l, size_t i)
{
    size_t mask = l->cap - 1, j = i;
    srv_xfer_end(l, &l->tab[i]);
    l->tab[i].key.len = 0;
    l->nsrc--;
    for (;;) {
        j = (j + 1) & mask;
        if (l->tab[j].key.len == 0)
            return;
        size_t home = srv_home(l, &l->tab[j].key);
        /* Move j to i unless its home lies cyclically in (i, j]. */
        int stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (stays)
            continue;
        l->tab[i] = l->tab[j];
        l->tab[j].key.len = 0;
        i = j;
    }
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
    if (!l->tab)
        return ota_fail(msg, OTA_E_NOMEM, "limit: cannot allocate %zu source slots", l->cap);
    randombytes_buf(l->seed, sizeof l->seed);
    return OTA_OK;
}

void srv_limit_free(struct srv_limit *l)
{
    free(l->tab);
    memset(l, 0, sizeof *l);
}

enum ota_err srv_limit_reconfigure(struct srv_limit *l, const struct srv_limit_cfg *c,
                                   char *msg)
{
    if (srv_pow2(c->max_sources) == l->cap) {
        l->c = *c;
        return OTA_OK;
    }
    struct srv_limit fresh;
    enum ota_err e = srv_limit_init(&fresh, c, msg);
    if (e != OTA_OK)
        return e;
    fresh.started = l->started;
    srv_limit_free(l);
    *l = fresh;
    return OTA_OK;
}

/* ---- 4. admission and sweep --------------------------------------------- */

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
        *max_age = l->c.retry_after_s ? l->c.retry_after_s : 1;
        return SRV_V_SOURCES;
    }
    s->seen_ms = now_ms;
    if (!srv_bucket_take(&s->rate, l->c.rate, l->c.burst, now_ms, &wait)) {
        *max_age = srv_secs(wait);
        return SRV_V_RATE;
    }
    return SRV_V_OK;
}

enum srv_verdict srv_limit_transfer(struct srv_limit *l, struct srv_src *s,
                                    const uint8_t etag[SRV_LIMIT_ETAG_LEN], int last,
                                    uint64_t now_ms, unsigned *max_age)
{
    int same = s->xfer && memcmp(s->etag, etag, SRV_LIMIT_ETAG_LEN) == 0;
    if (!same) {
        srv_xfer_end(l, s); /* a new package: the old transfer is over */
        if (l->c.max_transfers && l->nxfer >= l->c.max_transfers) {
            *max_age = l->c.retry_after_s ? l->c.retry_after_s : 1;
            return SRV_V_TRANSFERS;
        }
        s->xfer = 1;
        memcpy(s->etag, etag, SRV_LIMIT_ETAG_LEN);
        l->nxfer++;
        l->started++;
    }
    s->seen_ms = now_ms;
    if (last)
        srv_xfer_end(l, s);
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
