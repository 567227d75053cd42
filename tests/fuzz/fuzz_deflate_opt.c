/* fuzz_deflate_opt.c - libFuzzer target: the encoder's size-parsing deflate.
 *
 * Not a parser of outside input, but the encoder runs it on every payload
 * and a wrong match (common/delta_deflate.c's binary-tree match finder,
 * the parse's jumps over long matches) would make a stream that inflates
 * to other bytes: every device would fail the update's hash check. Input:
 * byte 0 picks the window bits (9..15) and the passes (1..3), the rest is
 * deflated; zlib must inflate it back, with exactly that window, to the
 * same bytes, else the target aborts. Seeds live in
 * tests/fuzz/corpus/fuzz_deflate_opt/.
 */
#include "delta.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t back[1 << 15];
    char msg[OTA_MSG_LEN];
    uint8_t *z;
    size_t zlen;
    if (size < 1 || size - 1 > sizeof back - 1)
        return 0;
    int wbits = DELTA_WINDOW_BITS_MIN + data[0] % (DELTA_WINDOW_BITS_MAX - DELTA_WINDOW_BITS_MIN + 1);
    int passes = 1 + data[0] / 16 % 3;
    if (delta_deflate_opt(data + 1, size - 1, wbits, passes, &z, &zlen, msg) != OTA_OK)
        return 0; /* out of memory only */
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, wbits) != Z_OK)
        abort();
    zs.next_in = z;
    zs.avail_in = (uInt)zlen;
    zs.next_out = back;
    zs.avail_out = sizeof back;
    int zr = inflate(&zs, Z_FINISH);
    if (zr != Z_STREAM_END || zs.total_out != size - 1 || zs.avail_in != 0 ||
        memcmp(back, data + 1, size - 1) != 0)
        abort();
    inflateEnd(&zs);
    free(z);
    return 0;
}
