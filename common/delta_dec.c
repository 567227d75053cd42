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

/* ---- io.h behind dio.h: the host error is kept for the caller ---- */

static int dec_read(void *ctx, uint32_t off, void *buf, size_t len)
{
    struct delta_dec *d = ctx;
    enum ota_err e = io_read_at(&d->old, off, buf, len);
    if (e != OTA_OK)
        d->io_err = e;
    return e == OTA_OK ? ODEV_OK : ODEV_E_IO;
}

static int dec_write(void *ctx, const void *buf, size_t len)
{
    struct delta_dec *d = ctx;
    enum ota_err e = io_write(&d->out, buf, len);
    if (e != OTA_OK)
        d->io_err = e;
    return e == OTA_OK ? ODEV_OK : ODEV_E_IO;
}

/* The host's code and message for a device result; a failed read or
 * write reports the host's own error. */
static enum ota_err dec_result(struct delta_dec *d, int e, const char *why, char *msg)
{
    static const enum ota_err map[] = {
        [ODEV_E_IO] = OTA_E_IO,       [ODEV_E_CORRUPT] = OTA_E_CORRUPT,
        [ODEV_E_LIMIT] = OTA_E_LIMIT, [ODEV_E_AUTH] = OTA_E_AUTH,
        [ODEV_E_INVAL] = OTA_E_INVAL, [ODEV_E_STATE] = OTA_E_STATE,
    };
    if (e == ODEV_OK)
        return OTA_OK;
    dback_zlib_end(&d->z); /* the arena is the caller's: nothing else to free */
    enum ota_err r = (size_t)e < sizeof map / sizeof *map && map[e] ? map[e] : OTA_E_CORRUPT;
    if (e != ODEV_E_STATE && d->io_err != OTA_OK)
        r = d->io_err;
    else if (why == ddelta_why_version)
        r = OTA_E_VERSION;
    return ota_fail(msg, r, "%s (new offset %u of %u)", why ? why : "delta: failed",
                    ddelta_new_pos(&d->dd), d->dd.info.new_size);
}

/* ---- public entry points ---- */

enum ota_err delta_dec_init(struct delta_dec *d, const struct io_reader *old,
                            const struct io_writer *out, void *arena, size_t arena_len,
                            char *msg)
{
    struct dio_reader r = {dec_read, d};
    struct dio_writer w = {dec_write, d};
    struct dback_inflate inf;
    memset(d, 0, sizeof *d);
    if (!old || !out || (!arena && arena_len)) {
        d->dd.phase = DDELTA_PH_FAILED;
        d->dd.why = "delta: missing reader, writer or arena";
        return ota_fail(msg, OTA_E_INVAL, "%s", d->dd.why);
    }
    d->old = *old;
    d->out = *out;
    dback_zlib_bind(&inf, &d->z, arena, arena_len);
    /* a larger old image than the format allows can only mismatch */
    ddelta_init(&d->dd, &r, old->size > DELTA_IMAGE_MAX ? UINT32_MAX : (uint32_t)old->size, &w,
                &inf);
    return OTA_OK;
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
    e = delta_dec_init(d, old, out, arena, alen, msg);
    if (e == OTA_OK)
        e = delta_dec_feed(d, delta, delta_len, msg);
    if (e == OTA_OK)
        e = delta_dec_finish(d, msg);
    dback_zlib_end(&d->z);
    free(arena);
    free(d);
    return e;
}
