/* fuzz_short.c - libFuzzer target: the options of a GET /p/<ETag hex>
 * request (short.h) from arbitrary bytes.
 *
 * The bytes are read as records [kind][len][value...]: kind picks the
 * option number (Uri-Path 11, Q-Block2 19, Block2 23, or the byte
 * itself), len is cut to what is left. The option list goes through
 * srv_short_parse and, if it parses, srv_short_slices against a package
 * size taken from the first bytes; every slice must lie inside the
 * package, there are never more than SRV_SHORT_BURST_MAX, and every
 * outcome is an ota_err.
 */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "short.h"

#define FZ_OPTS 40

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const unsigned kinds[] = {11, 19, 23};
    struct srv_short_opt opts[FZ_OPTS];
    struct srv_short_req r;
    struct srv_slice sl[SRV_SHORT_BURST_MAX];
    size_t n = 0, i = 0;
    uint64_t total = 1;
    char msg[OTA_MSG_LEN];
    unsigned k;
    if (size >= 3) {
        total += (uint64_t)data[0] << 16 | (uint64_t)data[1] << 8 | data[2];
        i = 3;
    }
    while (i + 2 <= size && n < FZ_OPTS) {
        unsigned kind = data[i];
        size_t len = data[i + 1];
        i += 2;
        if (len > size - i)
            len = size - i;
        opts[n++] = (struct srv_short_opt){kind < 3 * 80 ? kinds[kind % 3] : kind, data + i, len};
        i += len;
    }
    (void)srv_short_is_ours(opts, n);
    enum ota_err e = srv_short_parse(opts, n, &r, msg);
    assert(e == OTA_OK || e == OTA_E_NOTFOUND || e == OTA_E_INVAL);
    if (e != OTA_OK)
        return 0;
    assert(r.n >= 1 && r.n <= SRV_SHORT_BURST_MAX);
    e = srv_short_slices(&r, total, data[size - 1] % 8, sl, &k, msg);
    assert(e == OTA_OK || e == OTA_E_LIMIT);
    assert(k <= SRV_SHORT_BURST_MAX);
    for (unsigned j = 0; j < k; j++)
        assert(sl[j].off + sl[j].len <= total && sl[j].len > 0);
    return 0;
}
