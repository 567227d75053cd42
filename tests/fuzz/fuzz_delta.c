/* fuzz_delta.c - libFuzzer target: the streaming delta decoder.
 *
 * Input: byte 0 selects how the rest becomes a delta stream, byte 1 the
 * feed chunk size, bytes 2-3 the declared new size, then the body.
 *   mode 0: the body is a whole stream, header included (fuzzes the header);
 *   mode 1: the body is the zlib part; the harness prepends a header that
 *           matches the fixed old image, so records are reached;
 *   mode 2: the body is the uncompressed record payload; the harness
 *           deflates it too, so the fuzzer works on records directly.
 * In modes 1 and 2, byte 0 / 3 % 5 picks the header's transform k and
 * byte 0 / 15 % 2 the newest format: k = 0 gives version 1 (or 3 with no
 * transform), k = 1..4 version 2 (or 3) with address transform k
 * (common/delta_xf.c), so every format's records, the transforms'
 * hold-back paths and version 3's ADRP moves are reached. Byte 0 / 30 % 2
 * makes it version 4 (two streams): in mode 1 the body then starts with
 * the control length; in mode 2 its first two bytes give how many payload
 * bytes are control bytes, the third moves the control length the harness
 * writes by -8..+7 when it is 240 or more, and the harness deflates the
 * control part at window 9 and the rest at 15.
 * Both decoders get the stream as their source for format 4's offsets.
 * The decoder runs through the io.h callbacks with a bounded output sink,
 * then again as the device runs it (ddelta over dinfl, dio callbacks, in
 * other chunks): both must accept or refuse alike, and the bytes both
 * wrote must agree (a refusal may come a buffer later on one side). Seeds
 * live in tests/fuzz/corpus/fuzz_delta/.
 */
#include "delta.h"
#include "cur.h"
#include "odev.h"

#include <stdlib.h>
#include <string.h>

#define FZ_OLD_LEN 4096
#define FZ_OUT_CAP 65536

static uint8_t fz_old[FZ_OLD_LEN];

/* Old image: code-like bytes with repeats, same on every run. */
static void fz_make_old(void)
{
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < FZ_OLD_LEN; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        fz_old[i] = (i % 64) < 16 ? (uint8_t)i : (uint8_t)x;
    }
}

/* A zlib stream of in[0..n) with a window of 2^wbits at out; its length, or
 * 0 when it does not fit. */
static size_t fz_deflate(const uint8_t *in, size_t n, int wbits, uint8_t *out, size_t cap)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 6, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return 0;
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    int zr = deflate(&z, Z_FINISH);
    size_t len = z.total_out;
    deflateEnd(&z);
    return zr == Z_STREAM_END ? len : 0;
}

/* Mode 2 of a version 4 stream: control length, control stream, data stream. */
static size_t fz_build_split(const uint8_t *body, size_t blen, uint8_t *out, size_t cap)
{
    if (blen < 3 || cap < DDELTA_PREFIX_MAX)
        return 0;
    size_t cn = ((size_t)body[0] << 8 | body[1]) % (blen - 2);
    int move = body[2] >= 240 ? body[2] - 248 : 0;
    body += 3;
    blen -= 3;
    size_t at = DDELTA_PREFIX_MAX, n = fz_deflate(body, cn, (int)ddelta_ctl_wbits(15), out + at,
                                                     cap - at);
    if (n == 0)
        return 0;
    cur_put_be32(out + DDELTA_CTL_LEN_AT, (uint32_t)((int64_t)n + move));
    at += n;
    n = fz_deflate(body + cn, blen - cn, 15, out + at, cap - at);
    return n ? at + n : 0;
}

static size_t fz_build(const uint8_t *data, size_t size, uint8_t *out, size_t cap)
{
    int mode = data[0] % 3;
    uint64_t new_size = (uint64_t)data[2] << 8 | data[3];
    const uint8_t *body = data + 4;
    size_t blen = size - 4;
    if (mode == 0) {
        size_t n = blen < cap ? blen : cap;
        memcpy(out, body, n);
        return n;
    }
    int xf = data[0] / 3 % DELTA_XF_COUNT, v3 = data[0] / 15 % 2, v4 = data[0] / 30 % 2;
    struct delta_info info = {FZ_OLD_LEN, new_size, 15, 0,
                              v4   ? DELTA_FORMAT_VERSION_SPLIT
                              : v3 ? DELTA_FORMAT_VERSION_ADJ
                              : xf ? DELTA_FORMAT_VERSION_XF
                                   : DELTA_FORMAT_VERSION,
                              xf};
    uint8_t oh[CRYPTO_HASH_LEN], nh[CRYPTO_HASH_LEN] = {0};
    crypto_sha256(fz_old, FZ_OLD_LEN, oh);
    delta_header_encode(&info, oh, nh, out);
    if (mode == 1) {
        size_t n = blen < cap - DELTA_HEADER_LEN ? blen : cap - DELTA_HEADER_LEN;
        memcpy(out + DELTA_HEADER_LEN, body, n);
        return DELTA_HEADER_LEN + n;
    }
    if (v4)
        return fz_build_split(body, blen, out, cap);
    size_t zlen = fz_deflate(body, blen, 15, out + DELTA_HEADER_LEN, cap - DELTA_HEADER_LEN);
    return zlen ? DELTA_HEADER_LEN + zlen : 0;
}

/* The device path over the same stream (ddelta over dinfl; the old image,
 * the stream and the sink reached through the host's dio adapters);
 * returns its result. */
static int fz_device(const uint8_t *stream, size_t len, size_t chunk, struct io_mem_sink *sink)
{
    static struct ddelta dd;
    static struct dback_dinfl infl, ctl_infl;
    static uint8_t win[1 << 15], ctl_win[1 << DDELTA_CTL_WBITS_MAX];
    static struct dback_io old_io, src_io, out_io;
    enum ota_err io_err = OTA_OK;
    struct io_reader old, src;
    struct io_writer out;
    struct dio_reader r, sr;
    struct dio_writer w;
    struct dback_inflate inf, ctl;
    const char *why;
    int e = ODEV_OK;
    io_mem_reader(&old, fz_old, FZ_OLD_LEN);
    io_mem_reader(&src, stream, len);
    io_mem_writer(&out, sink);
    dback_io_reader(&old_io, &old, &io_err, &r);
    dback_io_reader(&src_io, &src, &io_err, &sr);
    dback_io_writer(&out_io, &out, &io_err, &w);
    dback_dinfl_bind(&inf, &infl, win, sizeof win);
    dback_dinfl_bind(&ctl, &ctl_infl, ctl_win, sizeof ctl_win);
    ddelta_init(&dd, &r, FZ_OLD_LEN, &w, &inf);
    ddelta_set_source(&dd, &sr, 0, (uint32_t)len, &ctl);
    for (size_t off = 0; e == ODEV_OK && off < len; off += chunk)
        e = ddelta_feed(&dd, stream + off, len - off < chunk ? len - off : chunk, &why);
    return e == ODEV_OK ? ddelta_finish(&dd, &why) : e;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct delta_dec d;
    static uint8_t arena[1 << 16], stream[1 << 17], out[FZ_OUT_CAP];
    struct io_reader r, src;
    struct io_writer w;
    struct io_mem_sink sink = {out, sizeof out, 0};
    if (size < 4 || size > 60000)
        return 0;
    if (fz_old[1] == 0)
        fz_make_old();
    size_t len = fz_build(data, size, stream, sizeof stream);
    size_t chunk = 1 + data[1] * 17u;
    io_mem_reader(&r, fz_old, FZ_OLD_LEN);
    io_mem_writer(&w, &sink);
    io_mem_reader(&src, stream, len);
    enum ota_err e = delta_dec_init(&d, &r, &w, arena, sizeof arena, NULL);
    delta_dec_set_source(&d, &src);
    for (size_t off = 0; e == OTA_OK && off < len; off += chunk)
        e = delta_dec_feed(&d, stream + off, len - off < chunk ? len - off : chunk, NULL);
    if (e == OTA_OK)
        e = delta_dec_finish(&d, NULL);
    static uint8_t dev_out[FZ_OUT_CAP];
    struct io_mem_sink dev = {dev_out, sizeof dev_out, 0};
    int de = fz_device(stream, len, 1 + (chunk * 7) % 1500, &dev);
    if ((e == OTA_OK) != (de == ODEV_OK) ||
        memcmp(out, dev_out, sink.len < dev.len ? sink.len : dev.len) != 0)
        abort();
    /* nothing past the declared new size, nothing at all without a header */
    struct ddelta_info hi;
    const char *why;
    uint32_t declared = ddelta_header_parse(stream, len, &hi, &why) == ODEV_OK ? hi.new_size : 0;
    if (sink.len > declared || dev.len > declared)
        abort();
    return 0;
}
