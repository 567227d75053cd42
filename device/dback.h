/* dback.h - the inflate and signature backends of the device library.
 *
 * ddelta and dpkg inflate and verify through these two small bound
 * objects (function pointers plus a ctx, like dio.h), so a port chooses its
 * backends by what it binds, at run time (one host process holds both,
 * tests/test_dpkg.c compares them):
 *   - the device default (device/dback.c): device/inflate/dinfl over a
 *     caller window, device/crypto/ded25519 (dpkg_work_init binds them
 *     where the port bound nothing; they stay linked either way);
 *   - the host one (common/dback_host.c): zlib inflating from a bump arena,
 *     libsodium's Ed25519ph; common/delta_dec.c (the host decoder),
 *     common/pkg.c and the Linux port use it;
 *   - a port's own (a ROM inflater, a crypto engine): fill the structs.
 * SHA-256 is not a backend: device/crypto/dsha256 serves both (it is
 * checked against libsodium in tests/test_dcrypto.c).
 */
#ifndef DBACK_H
#define DBACK_H

#include <stddef.h>
#include <stdint.h>

#include "dinfl.h"
#include "ded25519.h"

/* A zlib stream (RFC 1950) inflated in pieces. */
struct dback_inflate {
    /* Begin a stream whose window is at most 2^wbits (9..15): ODEV_OK, or
     * ODEV_E_LIMIT when the backend's memory holds no such window. */
    int (*start)(void *ctx, int wbits);
    /* dinfl_run's contract: DINFL_MORE, DINFL_DONE (the check value
     * matched; *in_used stops right after the stream) or a DINFL_E_*. */
    int (*run)(void *ctx, const uint8_t *in, size_t in_len, size_t *in_used, uint8_t *out,
               size_t out_cap, size_t *out_made);
    void *ctx;
};

/* Ed25519ph (RFC 8032) verification of a message fed in pieces. */
struct dback_verify {
    void (*start)(void *ctx);
    void (*update)(void *ctx, const void *msg, size_t len);
    /* ODEV_OK if sig is pub's signature of the message, else ODEV_E_AUTH */
    int (*finish)(void *ctx, const uint8_t sig[DED25519_SIG_LEN],
                  const uint8_t pub[DED25519_PUB_LEN]);
    void *ctx;
};

/* Device default inflater: dinfl with a window of win_len bytes (a power
 * of two, 2^9..2^15) the caller owns. */
struct dback_dinfl {
    struct dinfl st;
    uint8_t *win;
    uint32_t win_len;
};
void dback_dinfl_bind(struct dback_inflate *b, struct dback_dinfl *s, uint8_t *win,
                      uint32_t win_len);

/* Device default verifier: ded25519 (SHA-512 state only, 200 bytes). */
void dback_ded25519_bind(struct dback_verify *b, struct ded25519_ph *s);

#endif
