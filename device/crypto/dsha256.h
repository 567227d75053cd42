/* dsha256.h - SHA-256 (FIPS 180-4) for the device library.
 *
 * Streaming and constant memory: the caller owns a 104-byte struct, feeds
 * any number of pieces of any size, then reads the 32-byte digest. No
 * allocation, no libc beyond string.h; the same code runs on the host
 * (tests compare it with libsodium) and on a Cortex-M4.
 */
#ifndef DSHA256_H
#define DSHA256_H

#include <stddef.h>
#include <stdint.h>

#define DSHA256_LEN 32

struct dsha256 {
    uint32_t h[8];
    uint64_t len;     /* bytes fed so far; len % 64 of them wait in buf */
    uint8_t buf[64];
};

void dsha256_init(struct dsha256 *c);
void dsha256_update(struct dsha256 *c, const void *data, size_t len);
/* Writes the digest; the struct must be initialised again before reuse. */
void dsha256_final(struct dsha256 *c, uint8_t out[DSHA256_LEN]);

#endif
