/* fuzz_dinflate.c - libFuzzer target: the device inflater against zlib.
 *
 * Input: byte 0 picks the window bits (9 + b % 7) and, with bit 7, raw
 * deflate instead of a zlib stream; byte 1 the input piece size and byte
 * 2 the output piece size for our inflater (1..256 each); byte 3, when
 * below 64, makes the harness deflate the rest with zlib (level, strategy
 * from byte 3) and flip the bit numbered by bytes 4-5, so deep paths are
 * reached; otherwise the rest is the stream itself.
 * zlib inflates with a 1-byte output buffer, so its reach back is the
 * window, like ours. Outcomes must agree: zlib ends the stream exactly when
 * we do, with the same output and input used; when zlib fails we fail;
 * when zlib wants more input we want more with the same output so far, or
 * have already refused (dinfl.h lists the streams we refuse earlier).
 * Output is compared up to 64 KiB. Seeds: tests/fuzz/corpus/fuzz_dinflate/.
 */
#include "dinfl.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define FZ_CAP 65536

enum fz_outcome { FZ_END, FZ_FAIL, FZ_MORE, FZ_FULL };

static uint8_t fz_ours[FZ_CAP], fz_theirs[FZ_CAP], fz_window[1 << 15];

static enum fz_outcome fz_zlib(const uint8_t *in, size_t len, int wbits, size_t *made, size_t *used)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, wbits) != Z_OK)
        abort();
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)len;
    int zr = Z_OK;
    while (zr == Z_OK && zs.total_out < FZ_CAP) {
        zs.next_out = fz_theirs + zs.total_out;
        zs.avail_out = 1;
        zr = inflate(&zs, Z_NO_FLUSH);
    }
    *made = zs.total_out;
    *used = zs.total_in;
    inflateEnd(&zs);
    if (zr == Z_STREAM_END)
        return FZ_END;
    if (zr == Z_OK)
        return FZ_FULL;
    return zr == Z_BUF_ERROR ? FZ_MORE : FZ_FAIL;
}

static enum fz_outcome fz_dinfl(const uint8_t *in, size_t len, int wbits, size_t in_piece,
                                size_t out_piece, size_t *made, size_t *used)
{
    struct dinfl st;
    enum dinfl_status r = dinfl_init(&st, fz_window, wbits);
    *made = *used = 0;
    while (r == DINFL_MORE) {
        size_t in_n = len - *used < in_piece ? len - *used : in_piece;
        size_t out_n = FZ_CAP - *made < out_piece ? FZ_CAP - *made : out_piece;
        size_t iu, om;
        r = dinfl_run(&st, in + *used, in_n, &iu, fz_ours + *made, out_n, &om);
        if (iu > in_n || om > out_n)
            abort();
        *used += iu;
        *made += om;
        if (r == DINFL_MORE && iu == 0 && om == 0)
            return *made == FZ_CAP ? FZ_FULL : FZ_MORE;
    }
    return r == DINFL_DONE ? FZ_END : FZ_FAIL;
}

/* deflate body with zlib and flip one bit of the result; NULL if it does not fit */
static uint8_t *fz_deflate(const uint8_t *body, size_t n, int wbits, int sel, size_t flip,
                           size_t *zlen)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, sel % 10, Z_DEFLATED, wbits, 8, sel / 10 % 5) != Z_OK)
        return NULL;
    size_t cap = deflateBound(&zs, n);
    uint8_t *z = malloc(cap);
    zs.next_in = (Bytef *)(uintptr_t)body;
    zs.avail_in = (uInt)n;
    zs.next_out = z;
    zs.avail_out = (uInt)cap;
    int zr = deflate(&zs, Z_FINISH);
    *zlen = zs.total_out;
    deflateEnd(&zs);
    if (zr != Z_STREAM_END || *zlen == 0) {
        free(z);
        return NULL;
    }
    if (flip < 8 * *zlen)
        z[flip / 8] ^= (uint8_t)(1u << flip % 8);
    return z;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 6)
        return 0;
    int wbits = 9 + data[0] % 7;
    if (data[0] & 0x80)
        wbits = -wbits;
    size_t in_piece = 1 + (size_t)data[1], out_piece = 1 + (size_t)data[2];
    const uint8_t *in = data + 6;
    size_t len = size - 6;
    uint8_t *made_z = NULL;
    if (data[3] < 64) {
        made_z = fz_deflate(data + 6, size - 6, wbits, data[3], (size_t)data[4] << 8 | data[5], &len);
        if (!made_z)
            return 0;
        in = made_z;
    }
    size_t our_made, our_used, their_made, their_used;
    enum fz_outcome ours = fz_dinfl(in, len, wbits, in_piece, out_piece, &our_made, &our_used);
    enum fz_outcome theirs = fz_zlib(in, len, wbits, &their_made, &their_used);
    free(made_z);
    if (ours == FZ_FULL || theirs == FZ_FULL) {
        /* the 64 KiB cap cut one of them short: what both made must agree */
        size_t n = our_made < their_made ? our_made : their_made;
        if ((ours == FZ_FULL) != (theirs == FZ_FULL) && ours != FZ_FAIL && theirs != FZ_FAIL &&
            ours != FZ_MORE && theirs != FZ_MORE)
            abort();
        if (ours != FZ_FAIL && theirs != FZ_FAIL && memcmp(fz_ours, fz_theirs, n) != 0)
            abort();
        return 0;
    }
    if ((ours == FZ_END) != (theirs == FZ_END))
        abort();
    if (theirs == FZ_FAIL && ours != FZ_FAIL)
        abort();
    if (ours == FZ_MORE && theirs != FZ_MORE)
        abort();
    if (ours == FZ_END && our_used != their_used)
        abort();
    if (ours != FZ_FAIL && (our_made != their_made || memcmp(fz_ours, fz_theirs, our_made) != 0))
        abort();
    return 0;
}
