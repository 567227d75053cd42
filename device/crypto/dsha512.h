/* dsha512.h - SHA-512 (FIPS 180-4) for the device library.
 *
 * Streaming and constant memory (a 200-byte struct on the Cortex-M4), the same shape as
 * dsha256.h. Ed25519ph (ded25519.h) hashes the package with it.
 * Messages are limited to 2^64 - 1 bytes, which no device will see.
 */
#ifndef DSHA512_H
#define DSHA512_H

#include <stddef.h>
#include <stdint.h>

#define DSHA512_LEN 64

struct dsha512 {
    uint64_t h[8];
    uint64_t len;     /* bytes fed so far; len % 128 of them wait in buf */
    uint8_t buf[128];
};

void dsha512_init(struct dsha512 *c);
void dsha512_update(struct dsha512 *c, const void *data, size_t len);
/* Writes the digest; the struct must be initialised again before reuse. */
void dsha512_final(struct dsha512 *c, uint8_t out[DSHA512_LEN]);

#endif
