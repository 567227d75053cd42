/* cur.h - bounds-checked cursor for parsing outside input.
 *
 * Every parser of bytes that came from outside (package headers, delta
 * streams, journals) reads through a cursor: each read checks the bytes
 * remaining first and sets a sticky error flag instead of overrunning.
 * Callers read a whole record, then test cur->err once.
 */
#ifndef CUR_H
#define CUR_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct cur {
    const uint8_t *p;
    size_t len, pos;
    int err;
};

static inline void cur_init(struct cur *c, const void *p, size_t len)
{
    c->p = p;
    c->len = len;
    c->pos = 0;
    c->err = 0;
}

static inline int cur_need(struct cur *c, size_t n)
{
    if (c->err || n > c->len - c->pos) {
        c->err = 1;
        return 0;
    }
    return 1;
}

static inline uint8_t cur_u8(struct cur *c)
{
    return cur_need(c, 1) ? c->p[c->pos++] : 0;
}

static inline uint32_t cur_be16(struct cur *c)
{
    if (!cur_need(c, 2))
        return 0;
    uint32_t v = (uint32_t)c->p[c->pos] << 8 | c->p[c->pos + 1];
    c->pos += 2;
    return v;
}

static inline uint32_t cur_be32(struct cur *c)
{
    if (!cur_need(c, 4))
        return 0;
    const uint8_t *b = c->p + c->pos;
    c->pos += 4;
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static inline uint64_t cur_be64(struct cur *c)
{
    uint64_t hi = cur_be32(c);
    return hi << 32 | cur_be32(c);
}

static inline void cur_bytes(struct cur *c, void *out, size_t n)
{
    if (cur_need(c, n)) {
        memcpy(out, c->p + c->pos, n);
        c->pos += n;
    } else {
        memset(out, 0, n);
    }
}

/* Big-endian writers for fixed-layout encoders. */
static inline void cur_put_be16(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)(v >> 8);
    b[1] = (uint8_t)v;
}

static inline void cur_put_be32(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)(v >> 24);
    b[1] = (uint8_t)(v >> 16);
    b[2] = (uint8_t)(v >> 8);
    b[3] = (uint8_t)v;
}

static inline void cur_put_be64(uint8_t *b, uint64_t v)
{
    cur_put_be32(b, (uint32_t)(v >> 32));
    cur_put_be32(b + 4, (uint32_t)v);
}

#endif
