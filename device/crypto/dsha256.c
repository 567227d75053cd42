/* dsha256.c - SHA-256 (FIPS 180-4, section 6.2), written for the device.
 *
 * Size over speed: the 64 rounds are a loop over a 16-word rolling
 * message schedule, so the whole module stays a few hundred bytes of
 * Thumb-2 and the block function needs under 170 bytes of stack.
 */
#include "dsha256.h"

#include <string.h>

/* First 32 bits of the fractional parts of the cube roots of the first 64 primes. */
static const uint32_t dsha256_k[64] = {
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u,
    0x923f82a4u, 0xab1c5ed5u, 0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u,
    0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u, 0xc19bf174u, 0xe49b69c1u, 0xefbe4786u,
    0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu, 0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau,
    0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u, 0xc6e00bf3u, 0xd5a79147u,
    0x06ca6351u, 0x14292967u, 0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu, 0x53380d13u,
    0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u, 0xa2bfe8a1u, 0xa81a664bu,
    0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u,
    0x19a4c116u, 0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au,
    0x5b9cca4fu, 0x682e6ff3u, 0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u,
    0x90befffau, 0xa4506cebu, 0xbef9a3f7u, 0xc67178f2u,
};

/* First 32 bits of the fractional parts of the square roots of the first 8 primes. */
static const uint32_t dsha256_iv[8] = {
    0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
    0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u,
};

static uint32_t dsha256_ror(uint32_t x, unsigned n)
{
    return (x >> n) | (x << (32 - n));
}

static void dsha256_block(uint32_t h[8], const uint8_t *blk)
{
    uint32_t w[16];
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (unsigned i = 0; i < 16; i++)
        w[i] = (uint32_t)blk[4 * i] << 24 | (uint32_t)blk[4 * i + 1] << 16 |
               (uint32_t)blk[4 * i + 2] << 8 | blk[4 * i + 3];
    /* the working variables in locals, not an array shifted by memmove:
     * registers on both targets: 80 bytes more Thumb-2, twice the speed
     * (the decoder hashes the old image and its output) */
    for (unsigned t = 0; t < 64; t++) {
        if (t >= 16) {
            uint32_t x = w[(t + 1) & 15], y = w[(t + 14) & 15];
            w[t & 15] += (dsha256_ror(x, 7) ^ dsha256_ror(x, 18) ^ (x >> 3)) + w[(t + 9) & 15] +
                         (dsha256_ror(y, 17) ^ dsha256_ror(y, 19) ^ (y >> 10));
        }
        uint32_t t1 = k + (dsha256_ror(e, 6) ^ dsha256_ror(e, 11) ^ dsha256_ror(e, 25)) +
                      ((e & f) ^ (~e & g)) + dsha256_k[t] + w[t & 15];
        uint32_t t2 = (dsha256_ror(a, 2) ^ dsha256_ror(a, 13) ^ dsha256_ror(a, 22)) +
                      ((a & b) ^ (a & c) ^ (b & c));
        k = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
    h[5] += f;
    h[6] += g;
    h[7] += k;
}

void dsha256_init(struct dsha256 *c)
{
    memcpy(c->h, dsha256_iv, sizeof c->h);
    c->len = 0;
}

void dsha256_update(struct dsha256 *c, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len > 0) {
        size_t used = (size_t)(c->len & 63), take = 64 - used;
        if (take > len)
            take = len;
        memcpy(c->buf + used, p, take);
        c->len += take;
        p += take;
        len -= take;
        if ((c->len & 63) == 0)
            dsha256_block(c->h, c->buf);
    }
}

void dsha256_final(struct dsha256 *c, uint8_t out[DSHA256_LEN])
{
    uint64_t bits = c->len << 3;
    uint8_t pad = 0x80, tail[8];
    dsha256_update(c, &pad, 1);
    pad = 0;
    while ((c->len & 63) != 56)
        dsha256_update(c, &pad, 1);
    for (unsigned i = 0; i < 8; i++)
        tail[i] = (uint8_t)(bits >> (56 - 8 * i));
    dsha256_update(c, tail, sizeof tail);
    for (unsigned i = 0; i < 32; i++)
        out[i] = (uint8_t)(c->h[i / 4] >> (24 - 8 * (i % 4)));
}
