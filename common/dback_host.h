/* dback_host.h - the host's backends for the device library (device/dback.h).
 *
 * zlib inflating from a caller's bump arena (so the decoder's memory stays
 * a fixed, measured figure) and libsodium's Ed25519ph through crypto.h.
 * common/delta_dec.c binds the inflater; the Linux port binds both.
 */
#ifndef DBACK_HOST_H
#define DBACK_HOST_H

#include "crypto.h"
#include "dback.h"

#include <zlib.h>

/* zlib's inflate state without its window (sizeof(struct inflate_state),
 * about 7.1 KB on 64-bit zlib 1.2.x) plus alignment slack; an arena must
 * hold this plus the 1 << window_bits window. */
#ifndef DBACK_ZLIB_STATE_BYTES
#define DBACK_ZLIB_STATE_BYTES 7424u
#endif
/* Arena bytes for a window of 2^wbits: two blocks, each padded to 16. */
#define DBACK_ZLIB_ARENA(wbits) (DBACK_ZLIB_STATE_BYTES + ((size_t)1 << (wbits)) + 32u)

struct dback_zlib {
    z_stream zs;
    uint8_t *arena;
    size_t len, used, peak; /* peak: high-water mark of the arena */
    int live;
};

/* Bind an inflater over arena[0..len); start refuses (ODEV_E_LIMIT) a
 * window the arena cannot hold. dback_zlib_end frees nothing but zlib's
 * bookkeeping; call it when the stream is abandoned or done. */
void dback_zlib_bind(struct dback_inflate *b, struct dback_zlib *z, void *arena, size_t len);
void dback_zlib_end(struct dback_zlib *z);

struct dback_sodium {
    struct crypto_signer s;
};
void dback_sodium_bind(struct dback_verify *b, struct dback_sodium *s);

#endif
