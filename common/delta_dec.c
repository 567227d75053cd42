/* delta_dec.c - the host's delta decoder API over the device decoder.
 *
 * The format is decoded in one place, device/delta/ddelta.c; this file
 * gives it the host's shapes: io.h readers and writers (64-bit offsets,
 * enum ota_err), formatted messages, and zlib inflating from the caller's
 * arena (dback_host.c) instead of the device's inflater. pkg.c feeds the
 * core section of a package through it, cache/diff.c a standalone patch.
 */
#include "delta.h"

#include "odev.h"

#include <stdlib.h>
#include <string.h>

/* The host's code and message for a device result. */
static enum ota_err dec_result(struct delta_dec *d, int e, const char *why, char *msg)
{
    if (e == ODEV_OK)
        return OTA_OK;
    dback_zlib_end(&d->z); /* the arena is the caller's: nothing else to free */
    return ota_fail(msg, dback_err(e, why, d->io_err), "%s (new offset %u of %u)",
                    why ? why : "delta: failed", ddelta_new_pos(&d->dd), d->dd.info.new_size);
}

/* ---- public entry points ---- */

enum ota_err delta_dec_init(struct delta_dec *d, const struct io_reader *old,
                            const struct io_writer *out, void *arena, size_t arena_len,
                            char *msg)
{
    struct dio_reader r;
    struct dio_writer w;
    struct dback_inflate inf;
    memset(d, 0, sizeof *d);
    if (!old || !out || (!arena && arena_len)) {
        d->dd.phase = DDELTA_PH_FAILED;
        d->dd.why = "delta: missing reader, writer or arena";
        return ota_fail(msg, OTA_E_INVAL, "%s", d->dd.why);
    }
    dback_io_reader(&d->old, old, &d->io_err, &r);
    dback_io_writer(&d->out, out, &d->io_err, &w);
    dback_zlib_bind(&inf, &d->z, arena, arena_len);
    /* a larger old image than the format allows can only mismatch */
    ddelta_init(&d->dd, &r, old->size > DELTA_IMAGE_MAX ? UINT32_MAX : (uint32_t)old->size, &w,
                &inf);
    return OTA_OK;
}

/* Format 4's control window comes from the arena once the header names it
 * (delta_dec_arena_size counts it): a window 9 stream's is 512 bytes. */
static int dec_ctl_start(void *ctx, int wbits)
{
    struct delta_dec *d = ctx;
    size_t n = (size_t)1 << wbits;
    void *win = dback_zlib_take(&d->z, n);
    if (!win)
        return ODEV_E_LIMIT;
    dback_dinfl_bind(&d->ctl_bound, &d->ctl, win, n);
    return d->ctl_bound.start(d->ctl_bound.ctx, wbits);
}

static int dec_ctl_run(void *ctx, const uint8_t *in, size_t in_len, size_t *in_used, uint8_t *out,
                       size_t out_cap, size_t *out_made)
{
    struct delta_dec *d = ctx;
    return d->ctl_bound.run(d->ctl_bound.ctx, in, in_len, in_used, out, out_cap, out_made);
}

void delta_dec_set_source(struct delta_dec *d, const struct io_reader *delta)
{
    struct dio_reader r;
    struct dback_inflate ctl = {dec_ctl_start, dec_ctl_run, d};
    dback_io_reader(&d->src, delta, &d->io_err, &r);
    ddelta_set_source(&d->dd, &r, 0, delta->size > UINT32_MAX ? UINT32_MAX : (uint32_t)delta->size,
                      &ctl);
}

enum ota_err delta_dec_feed(struct delta_dec *d, const void *chunk, size_t len, char *msg)
{
    const char *why = NULL;
    int e = ddelta_feed(&d->dd, chunk, len, &why);
    return dec_result(d, e, why, msg);
}

enum ota_err delta_dec_finish(struct delta_dec *d, char *msg)
{
    const char *why = NULL;
    int e = ddelta_finish(&d->dd, &why);
    dback_zlib_end(&d->z);
    return dec_result(d, e, why, msg);
}

size_t delta_dec_arena_peak(const struct delta_dec *d)
{
    return d->z.peak;
}

enum ota_err delta_decode_reader(const uint8_t *delta, size_t delta_len,
                                 const struct io_reader *old, const struct io_writer *out,
                                 char *msg)
{
    struct delta_info info;
    enum ota_err e = delta_info_parse(delta, delta_len, &info, NULL, NULL, msg);
    if (e != OTA_OK)
        return e;
    size_t alen = delta_dec_arena_size(info.window_bits);
    struct delta_dec *d = malloc(sizeof *d);
    void *arena = malloc(alen);
    if (!d || !arena) {
        free(d);
        free(arena);
        return ota_fail(msg, OTA_E_NOMEM, "delta: %zu bytes for the decoder", alen + sizeof *d);
    }
    struct io_reader src;
    io_mem_reader(&src, delta, delta_len);
    e = delta_dec_init(d, old, out, arena, alen, msg);
    if (e == OTA_OK) {
        delta_dec_set_source(d, &src);
        e = delta_dec_feed(d, delta, delta_len, msg);
    }
    if (e == OTA_OK)
        e = delta_dec_finish(d, msg);
    dback_zlib_end(&d->z);
    free(arena);
    free(d);
    return e;
}
