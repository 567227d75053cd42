/* fuzz_ded25519.c - libFuzzer target: the device's Ed25519ph verification against libsodium.
 *
 * Input: byte 0 picks a mutation, bytes 1-32 a key seed, the rest is the
 * message, which libsodium signs (crypto_sign_final_create). Mutations:
 * 0 none; 1 flip the bit of signature or key numbered by bytes 1-2;
 * 2 signature = the first 64 message bytes; 3 key = the first 32 message
 * bytes; 4 R = the first 32 message bytes; 5 s = the first 32 message
 * bytes; 6 s += L when it fits. ded25519_ph_verify must accept exactly
 * when libsodium's crypto_sign_final_verify does. The message is fed to
 * ours in pieces whose size byte 33 picks.
 */
#include "ded25519.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t fz_order[32] = {
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
};

static void fz_mutate(int op, const uint8_t *seed, const uint8_t *msg, size_t len, uint8_t sig[64],
                      uint8_t pk[32])
{
    unsigned bit = (unsigned)(seed[0] | seed[1] << 8) % 768, c = 0;
    size_t n;
    switch (op) {
    case 1:
        if (bit < 512)
            sig[bit / 8] ^= (uint8_t)(1u << bit % 8);
        else
            pk[(bit - 512) / 8] ^= (uint8_t)(1u << bit % 8);
        break;
    case 2: case 3: case 4: case 5:
        n = op == 2 ? 64 : 32;
        memcpy(op == 3 ? pk : op == 5 ? sig + 32 : sig, msg, len < n ? len : n);
        break;
    case 6:
        for (int i = 0; i < 32; i++) {
            c += sig[32 + i] + fz_order[i];
            sig[32 + i] = (uint8_t)c;
            c >>= 8;
        }
        break;
    default:
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready && sodium_init() < 0)
        abort();
    ready = 1;
    if (size < 34)
        return 0;
    const uint8_t *seed = data + 1, *msg = data + 33;
    size_t len = size - 33, piece = 1 + data[33];
    uint8_t pk[32], sk[64], sig[64];
    crypto_sign_state ss;
    crypto_sign_seed_keypair(pk, sk, seed);
    crypto_sign_init(&ss);
    crypto_sign_update(&ss, msg, len);
    crypto_sign_final_create(&ss, sig, NULL, sk);
    fz_mutate(data[0] % 7, seed, msg, len, sig, pk);

    crypto_sign_init(&ss);
    crypto_sign_update(&ss, msg, len);
    int theirs = crypto_sign_final_verify(&ss, sig, pk) == 0;
    struct ded25519_ph v;
    ded25519_ph_init(&v);
    for (size_t off = 0; off < len; off += piece)
        ded25519_ph_update(&v, msg + off, len - off < piece ? len - off : piece);
    int ours = ded25519_ph_verify(&v, sig, pk) == DED25519_OK;
    if (ours != theirs || (data[0] % 7 == 0 && !ours))
        abort();
    return 0;
}
