/* hexdig.h - one hex digit's value, for the port's two text parsers
 * (bc95.c: the modem's hex payloads, prov.c: public keys). */
#ifndef HEXDIG_H
#define HEXDIG_H

/* 0..15, or -1 when c is not a hex digit (either case). */
static inline int hexdig_val(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

#endif
