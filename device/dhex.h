/* dhex.h - hex digits both ways, for the library and its ports.
 *
 * The library writes hex twice (the short /p/<ETag> path, a refused key's
 * id in the report) and the mps2 port reads and writes it (AT payloads,
 * provisioned keys). Header-only so a port takes what it uses and the
 * update path links only the writer.
 */
#ifndef DHEX_H
#define DHEX_H

#include <stddef.h>
#include <stdint.h>

/* 0..15, or -1 when c is not a hex digit (either case). */
static inline int dhex_val(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* n bytes as 2n hex digits into out (no NUL); upper selects A-F. */
static inline void dhex_put(char *out, const uint8_t *in, size_t n, int upper)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15u];
    }
}

#endif
