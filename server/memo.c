/* memo.c - direct-mapped selection memo (memo.h).
 */
#include "memo.h"

#include <string.h>

void srv_memo_clear(struct srv_memo *m)
{
    memset(m, 0, sizeof *m);
}

static size_t srv_memo_slot(const struct srv_device *d)
{
    /* FNV-1a over the tuple; the table is not exposed to collisions that
     * matter (a collision only costs a recomputation). */
    uint64_t h = 1469598103934665603ull;
    const uint8_t *parts[3] = {(const uint8_t *)d->core.name, (const uint8_t *)d->core.chip,
                               (const uint8_t *)d->project};
    for (int p = 0; p < 3; p++)
        for (const uint8_t *c = parts[p]; *c; c++)
            h = (h ^ *c) * 1099511628211ull;
    uint32_t nums[6] = {d->core.number, d->script.major, d->script.minor, d->script.patch,
                        (uint32_t)d->allow_delta, (uint32_t)d->vendor};
    for (int i = 0; i < 6; i++)
        h = (h ^ nums[i]) * 1099511628211ull;
    return (size_t)(h ^ (h >> 29)) % SRV_MEMO_SLOTS;
}

static int srv_memo_same(const struct srv_memo_ent *e, uint64_t gen, const struct srv_device *d)
{
    return e->gen == gen && e->core.number == d->core.number &&
           e->allow_delta == d->allow_delta && e->vendor == d->vendor &&
           ver_script_cmp(&e->script, &d->script) == 0 &&
           strcmp(e->core.name, d->core.name) == 0 && strcmp(e->core.chip, d->core.chip) == 0 &&
           strcmp(e->project, d->project) == 0;
}

void srv_memo_select(struct srv_memo *m, uint64_t gen, const struct pkg_header *const *pkgs,
                     size_t n, const struct srv_device *d, struct srv_selection *out)
{
    struct srv_memo_ent *e = &m->e[srv_memo_slot(d)];
    if (gen && srv_memo_same(e, gen, d)) {
        m->hits++;
        *out = e->sel;
        return;
    }
    m->misses++;
    srv_select(pkgs, n, d, out);
    if (!gen)
        return;
    e->gen = gen;
    e->core = d->core;
    e->script = d->script;
    e->allow_delta = d->allow_delta;
    e->vendor = d->vendor;
    ota_strlcpy(e->project, d->project, sizeof e->project);
    e->sel = *out;
}
