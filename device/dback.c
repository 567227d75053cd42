/* dback.c - the device's default backends: dinfl and ded25519 (dback.h). */
#include "dback.h"

#include "odev.h"

static int dback_dinfl_start(void *ctx, int wbits)
{
    struct dback_dinfl *s = ctx;
    if (wbits < DINFL_WBITS_MIN || wbits > DINFL_WBITS_MAX || s->win_len < (1u << wbits))
        return ODEV_E_LIMIT;
    /* exactly the declared window: a zlib header announcing more is
     * refused, as zlib's inflateInit2(wbits) refuses it on the host */
    return dinfl_init(&s->st, s->win, wbits) == DINFL_MORE ? ODEV_OK : ODEV_E_LIMIT;
}

static int dback_dinfl_run(void *ctx, const uint8_t *in, size_t in_len, size_t *in_used,
                           uint8_t *out, size_t out_cap, size_t *out_made)
{
    struct dback_dinfl *s = ctx;
    return dinfl_run(&s->st, in, in_len, in_used, out, out_cap, out_made);
}

void dback_dinfl_bind(struct dback_inflate *b, struct dback_dinfl *s, uint8_t *win,
                      uint32_t win_len)
{
    s->win = win;
    s->win_len = win_len;
    b->start = dback_dinfl_start;
    b->run = dback_dinfl_run;
    b->ctx = s;
}

static void dback_ded_start(void *ctx)
{
    ded25519_ph_init(ctx);
}

static void dback_ded_update(void *ctx, const void *msg, size_t len)
{
    ded25519_ph_update(ctx, msg, len);
}

static int dback_ded_finish(void *ctx, const uint8_t sig[DED25519_SIG_LEN],
                            const uint8_t pub[DED25519_PUB_LEN])
{
    return ded25519_ph_verify(ctx, sig, pub) == DED25519_OK ? ODEV_OK : ODEV_E_AUTH;
}

void dback_ded25519_bind(struct dback_verify *b, struct ded25519_ph *s)
{
    b->start = dback_ded_start;
    b->update = dback_ded_update;
    b->finish = dback_ded_finish;
    b->ctx = s;
}
