/* tally.c - bounded per-peer tables (tally.h).
 */
#include "tally.h"

#include <stdlib.h>
#include <string.h>

enum ota_err srv_tally_init(struct srv_tally *t, size_t slots, char *msg)
{
    size_t cap = 64;
    while (cap < slots && cap < ((size_t)1 << 24))
        cap <<= 1;
    t->tab = calloc(cap, sizeof *t->tab);
    if (!t->tab)
        return ota_fail(msg, OTA_E_NOMEM, "cannot allocate %zu peer slots", cap);
    t->cap = cap;
    crypto_shorthash_keygen(t->seed);
    return OTA_OK;
}

void srv_tally_free(struct srv_tally *t)
{
    free(t->tab);
    t->tab = NULL;
    t->cap = 0;
}

static size_t srv_tally_home(const struct srv_tally *t, const struct srv_peer_key *k)
{
    uint64_t h;
    crypto_shorthash((unsigned char *)&h, k->b, k->len, t->seed);
    return (size_t)h & (t->cap - 1);
}

struct srv_tally_slot *srv_tally_find(const struct srv_tally *t, const struct srv_peer_key *k)
{
    if (!t->tab || !k->len)
        return NULL;
    size_t home = srv_tally_home(t, k);
    for (size_t i = 0; i < SRV_TALLY_PROBE; i++) {
        struct srv_tally_slot *s = &t->tab[(home + i) & (t->cap - 1)];
        if (s->key.len == k->len && memcmp(s->key.b, k->b, k->len) == 0)
            return s;
    }
    return NULL;
}

struct srv_tally_slot *srv_tally_get(struct srv_tally *t, const struct srv_peer_key *k,
                                     uint64_t now_ms)
{
    struct srv_tally_slot *s = srv_tally_find(t, k), *victim = NULL;
    if (!s && t->tab) {
        size_t home = srv_tally_home(t, k);
        for (size_t i = 0; i < SRV_TALLY_PROBE; i++) {
            struct srv_tally_slot *c = &t->tab[(home + i) & (t->cap - 1)];
            if (!c->key.len) {
                victim = c;
                break;
            }
            if (!victim || c->seen_ms < victim->seen_ms)
                victim = c;
        }
        memset(victim, 0, sizeof *victim);
        victim->key = *k;
        victim->start_ms = now_ms;
        s = victim;
    }
    if (s)
        s->seen_ms = now_ms;
    return s;
}

void srv_tally_drop(struct srv_tally_slot *s)
{
    memset(s, 0, sizeof *s);
}

void srv_peer_key_host(const struct srv_peer_key *k, struct srv_peer_key *host)
{
    *host = *k;
    if (host->len >= 3)
        host->b[1] = host->b[2] = 0; /* family, port, address: see srv_peer_key */
}
