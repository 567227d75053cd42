/* ded25519.h - Ed25519ph signature verification (RFC 8032, 5.1) for the device.
 *
 * Verification only, of the pre-hashed variant the packaging tool signs
 * with (libsodium's crypto_sign_init/update/final_create: SHA-512 over the
 * package, dom2 with phflag 1 and an empty context). The package is
 * streamed through ded25519_ph_update, never held in memory; the caller
 * owns the 200-byte struct, and ded25519_ph_verify needs about 1 KiB of
 * stack (see scripts/device-size.sh for the measured figure).
 *
 * Accepts exactly what libsodium 1.0.18's crypto_sign_final_verify
 * accepts: s must be below the group order L, the public key must be a
 * canonical encoding of a point that is not of small order, R must be the
 * canonical encoding of [s]B - [k]A and not of small order (the
 * non-cofactored equation). tests/fuzz/fuzz_ded25519.c checks this.
 * Not constant time: it only ever handles public data.
 */
#ifndef DED25519_H
#define DED25519_H

#include <stddef.h>
#include <stdint.h>

#include "dsha512.h"

#define DED25519_SIG_LEN 64
#define DED25519_PUB_LEN 32

enum ded25519_result {
    DED25519_OK = 0,
    DED25519_E_SCALAR = -1,  /* s >= L */
    DED25519_E_KEY = -2,     /* public key not a point, not canonical, or of small order */
    DED25519_E_SIG = -3,     /* the equation does not hold (wrong key, message or R) */
};

struct ded25519_ph {
    struct dsha512 h;   /* SHA-512 of the message so far (the "ph" of Ed25519ph) */
};

void ded25519_ph_init(struct ded25519_ph *v);
void ded25519_ph_update(struct ded25519_ph *v, const void *msg, size_t len);
/* Ends the message and checks sig; v must be initialised again before reuse. */
enum ded25519_result ded25519_ph_verify(struct ded25519_ph *v, const uint8_t sig[DED25519_SIG_LEN],
                                        const uint8_t pub[DED25519_PUB_LEN]);

#endif
