/* dback_host.c - zlib and libsodium behind the device library's backends. */
#include "dback_host.h"

#include "ddelta.h"
#include "dpkg.h"
#include "odev.h"

#include <string.h>

/* a bump pointer over the arena, freed all at once by the next start */
static voidpf dback_zalloc(voidpf opaque, uInt items, uInt size)
{
    struct dback_zlib *z = opaque;
    size_t n;
    if (__builtin_mul_overflow((size_t)items, (size_t)size, &n) || n > SIZE_MAX - 15)
        return Z_NULL;
    n = (n + 15) & ~(size_t)15;
    if (n > z->len - z->used)
        return Z_NULL;
    void *p = z->arena + z->used;
    z->used += n;
    if (z->used > z->peak)
        z->peak = z->used;
    return p;
}

void *dback_zlib_take(struct dback_zlib *z, size_t n)
{
    return dback_zalloc(z, 1, (uInt)n);
}

static void dback_zfree(voidpf opaque, voidpf p)
{
    (void)opaque;
    (void)p;
}

void dback_zlib_end(struct dback_zlib *z)
{
    if (z->live)
        inflateEnd(&z->zs);
    z->live = 0;
}

static int dback_zlib_start(void *ctx, int wbits)
{
    struct dback_zlib *z = ctx;
    dback_zlib_end(z);
    if (wbits < 9 || wbits > 15 || z->len < DBACK_ZLIB_ARENA(wbits))
        return ODEV_E_LIMIT;
    memset(&z->zs, 0, sizeof z->zs);
    z->zs.zalloc = dback_zalloc;
    z->zs.zfree = dback_zfree;
    z->zs.opaque = z;
    z->used = 0;
    if (inflateInit2(&z->zs, wbits) != Z_OK)
        return ODEV_E_LIMIT;
    z->live = 1;
    return ODEV_OK;
}

static int dback_zlib_run(void *ctx, const uint8_t *in, size_t in_len, size_t *in_used,
                          uint8_t *out, size_t out_cap, size_t *out_made)
{
    struct dback_zlib *z = ctx;
    uInt n = in_len > (1u << 30) ? (1u << 30) : (uInt)in_len;
    z->zs.next_in = (Bytef *)(uintptr_t)in;
    z->zs.avail_in = n;
    z->zs.next_out = out;
    z->zs.avail_out = (uInt)out_cap;
    int zr = z->live ? inflate(&z->zs, Z_NO_FLUSH) : Z_STREAM_ERROR;
    *in_used = n - z->zs.avail_in;
    *out_made = out_cap - z->zs.avail_out;
    if (zr == Z_STREAM_END)
        return DINFL_DONE;
    if (zr == Z_OK || zr == Z_BUF_ERROR)
        return DINFL_MORE;
    return zr == Z_NEED_DICT ? DINFL_E_HEADER : DINFL_E_BLOCK;
}

void dback_zlib_bind(struct dback_inflate *b, struct dback_zlib *z, void *arena, size_t len)
{
    memset(z, 0, sizeof *z);
    z->arena = arena;
    z->len = len;
    b->start = dback_zlib_start;
    b->run = dback_zlib_run;
    b->ctx = z;
}

static void dback_sodium_start(void *ctx)
{
    struct dback_sodium *s = ctx;
    crypto_sign_begin(&s->s);
}

static void dback_sodium_update(void *ctx, const void *msg, size_t len)
{
    struct dback_sodium *s = ctx;
    crypto_sign_add(&s->s, msg, len);
}

static int dback_sodium_finish(void *ctx, const uint8_t sig[DED25519_SIG_LEN],
                               const uint8_t pub[DED25519_PUB_LEN])
{
    struct dback_sodium *s = ctx;
    return crypto_verify_end(&s->s, sig, pub) == OTA_OK ? ODEV_OK : ODEV_E_AUTH;
}

void dback_sodium_bind(struct dback_verify *b, struct dback_sodium *s)
{
    b->start = dback_sodium_start;
    b->update = dback_sodium_update;
    b->finish = dback_sodium_finish;
    b->ctx = s;
}

static int dback_io_read(void *ctx, uint32_t off, void *buf, size_t len)
{
    struct dback_io *io = ctx;
    enum ota_err e = io_read_at(&io->r, off, buf, len);
    if (e != OTA_OK)
        *io->err = e;
    return e == OTA_OK ? ODEV_OK : ODEV_E_IO;
}

static int dback_io_write(void *ctx, const void *buf, size_t len)
{
    struct dback_io *io = ctx;
    enum ota_err e = io_write(&io->w, buf, len);
    if (e != OTA_OK)
        *io->err = e;
    return e == OTA_OK ? ODEV_OK : ODEV_E_IO;
}

void dback_io_reader(struct dback_io *io, const struct io_reader *r, enum ota_err *err,
                     struct dio_reader *out)
{
    io->r = *r;
    io->err = err;
    out->read = dback_io_read;
    out->ctx = io;
}

void dback_io_writer(struct dback_io *io, const struct io_writer *w, enum ota_err *err,
                     struct dio_writer *out)
{
    io->w = *w;
    io->err = err;
    out->write = dback_io_write;
    out->ctx = io;
}

enum ota_err dback_err(int e, const char *why, enum ota_err io_err)
{
    static const enum ota_err map[] = {
        [ODEV_E_IO] = OTA_E_IO,       [ODEV_E_CORRUPT] = OTA_E_CORRUPT,
        [ODEV_E_LIMIT] = OTA_E_LIMIT, [ODEV_E_AUTH] = OTA_E_AUTH,
        [ODEV_E_INVAL] = OTA_E_INVAL, [ODEV_E_STATE] = OTA_E_STATE,
    };
    if (e == ODEV_OK)
        return OTA_OK;
    if (e != ODEV_E_STATE && io_err != OTA_OK)
        return io_err;
    if (why == ddelta_why_version || why == dpkg_why_version)
        return OTA_E_VERSION;
    return (size_t)e < sizeof map / sizeof *map && map[e] ? map[e] : OTA_E_CORRUPT;
}
