/* ded25519.c - Ed25519ph verification (RFC 8032, 5.1.3, 5.1.4, 5.1.7), written for the device.
 *
 * Built for small code, not speed: a field element is eight 32-bit words
 * holding any value below 2^256 congruent mod p = 2^255 - 19 (fully
 * reduced only to encode or compare); products fold the upper half back
 * with 2^256 = 38 (mod p). Points use extended coordinates and one unified
 * addition that also doubles (complete on this curve: d is not a square),
 * inversion and square roots are one exponentiation routine, and the
 * double-scalar product [s]B + [k](-A) is a plain bit-by-bit ladder of
 * 256 doublings. Reduction of k mod L is shift-and-subtract.
 * Sections: field, points, scalars, verification.
 */
#include "ded25519.h"

#include <string.h>

typedef uint32_t fe[8];

struct pt {
    fe x, y, z, t;   /* extended coordinates: x = X/Z, y = Y/Z, x*y = T/Z */
};

/* d = -121665/121666 mod p */
static const uint8_t ded_d[32] = {
    0xa3, 0x78, 0x59, 0x13, 0xca, 0x4d, 0xeb, 0x75, 0xab, 0xd8, 0x41, 0x41, 0x4d, 0x0a, 0x70, 0x00,
    0x98, 0xe8, 0x79, 0x77, 0x79, 0x40, 0xc7, 0x8c, 0x73, 0xfe, 0x6f, 0x2b, 0xee, 0x6c, 0x03, 0x52,
};
/* 2^((p-1)/4) mod p, a square root of -1 */
static const uint8_t ded_sqrtm1[32] = {
    0xb0, 0xa0, 0x0e, 0x4a, 0x27, 0x1b, 0xee, 0xc4, 0x78, 0xe4, 0x2f, 0xad, 0x06, 0x18, 0x43, 0x2f,
    0xa7, 0xd7, 0xfb, 0x3d, 0x99, 0x00, 0x4d, 0x2b, 0x0b, 0xdf, 0xc1, 0x4f, 0x80, 0x24, 0x83, 0x2b,
};
/* L = 2^252 + 27742317777372353535851937790883648493, the group order */
static const uint8_t ded_order[32] = {
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
};
/* the base point B's encoding: y = 4/5, x even */
static const uint8_t ded_base[32] = {
    0x58, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
    0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
};
/* dom2(phflag = 1, context = ""): RFC 8032 section 2 */
static const char ded_dom2[34] = "SigEd25519 no Ed25519 collisions\x01";

/* ---- field: integers mod p in eight little-endian words ---- */

static void fe_load(fe r, const uint8_t s[32])
{
    for (unsigned i = 0; i < 8; i++)
        r[i] = (uint32_t)s[4 * i] | (uint32_t)s[4 * i + 1] << 8 | (uint32_t)s[4 * i + 2] << 16 |
               (uint32_t)s[4 * i + 3] << 24;
}

/* r += c * 2^256, which is c * 38 mod p; c is a small carry or borrow */
static void fe_fold(fe r, int64_t c)
{
    while (c != 0) {
        int64_t acc = c * 38;
        for (unsigned i = 0; i < 8; i++) {
            acc += r[i];
            r[i] = (uint32_t)acc;
            acc >>= 32;   /* arithmetic: a borrow stays -1 */
        }
        c = acc;
    }
}

/* r = a + sign * b */
static void fe_addsub(fe r, const fe a, const fe b, int sign)
{
    int64_t acc = 0;
    for (unsigned i = 0; i < 8; i++) {
        acc += (int64_t)a[i] + sign * (int64_t)b[i];
        r[i] = (uint32_t)acc;
        acc >>= 32;
    }
    fe_fold(r, acc);
}

static void fe_add(fe r, const fe a, const fe b)
{
    fe_addsub(r, a, b, 1);
}

static void fe_sub(fe r, const fe a, const fe b)
{
    fe_addsub(r, a, b, -1);
}

static void fe_mul(fe r, const fe a, const fe b)
{
    uint32_t t[16] = {0};
    for (unsigned i = 0; i < 8; i++) {
        uint64_t c = 0;
        for (unsigned j = 0; j < 8; j++) {
            c += (uint64_t)a[i] * b[j] + t[i + j];
            t[i + j] = (uint32_t)c;
            c >>= 32;
        }
        t[i + 8] = (uint32_t)c;
    }
    uint64_t c = 0;
    for (unsigned i = 0; i < 8; i++) {
        c += (uint64_t)t[i + 8] * 38 + t[i];
        r[i] = (uint32_t)c;
        c >>= 32;
    }
    fe_fold(r, (int64_t)c);
}

/* r = x^e for e = 2^nbits - 1 with its lowest byte replaced by low: the
 * shape of both exponents needed, p - 2 and (p - 5) / 8. r != x. */
static void fe_pow(fe r, const fe x, unsigned nbits, uint8_t low)
{
    memset(r, 0, sizeof(fe));
    r[0] = 1;
    for (unsigned i = nbits; i-- > 0;) {
        fe_mul(r, r, r);
        if (i >= 8 || (low >> i & 1))
            fe_mul(r, r, x);
    }
}

/* the unique representative below p, little-endian */
static void fe_store(uint8_t s[32], const fe a)
{
    uint32_t t[8], u[8];
    memcpy(t, a, sizeof t);
    for (unsigned k = 0; k < 3; k++) {
        uint64_t c = k < 2 ? 19u * (t[7] >> 31) : 19;   /* 2^255 = 19; last: try t + 19 */
        memcpy(u, t, sizeof u);
        if (k < 2)
            u[7] &= 0x7fffffff;
        for (unsigned i = 0; i < 8; i++) {
            c += u[i];
            u[i] = (uint32_t)c;
            c >>= 32;
        }
        /* t < 2^255 now; t >= p exactly when t + 19 reaches 2^255 */
        if (k < 2 || u[7] >> 31) {
            memcpy(t, u, sizeof t);
            t[7] &= k < 2 ? 0xffffffff : 0x7fffffff;
        }
    }
    for (unsigned i = 0; i < 32; i++)
        s[i] = (uint8_t)(t[i / 4] >> (8 * (i % 4)));
}

static int fe_equal(const fe a, const fe b)
{
    uint8_t sa[32], sb[32];
    fe_store(sa, a);
    fe_store(sb, b);
    return memcmp(sa, sb, 32) == 0;
}

static int fe_is_zero(const fe a)
{
    static const fe zero;
    return fe_equal(a, zero);
}

static int fe_is_odd(const fe a)
{
    uint8_t s[32];
    fe_store(s, a);
    return s[0] & 1;
}

/* ---- points ---- */

/* RFC 8032 5.1.4 with a = -1; r may be p or q */
static void pt_add(struct pt *r, const struct pt *p, const struct pt *q)
{
    fe a, b, c, d, e;
    fe_sub(a, p->y, p->x);
    fe_sub(e, q->y, q->x);
    fe_mul(a, a, e);                /* A */
    fe_add(b, p->y, p->x);
    fe_add(e, q->y, q->x);
    fe_mul(b, b, e);                /* B */
    fe_load(e, ded_d);
    fe_add(e, e, e);
    fe_mul(c, p->t, q->t);
    fe_mul(c, c, e);                /* C = T1 * 2d * T2 */
    fe_mul(d, p->z, q->z);
    fe_add(d, d, d);                /* D */
    fe_sub(e, b, a);                /* E */
    fe_add(b, b, a);                /* H */
    fe_sub(a, d, c);                /* F */
    fe_add(d, d, c);                /* G */
    fe_mul(r->x, e, a);
    fe_mul(r->y, d, b);
    fe_mul(r->t, e, b);
    fe_mul(r->z, a, d);
}

/* RFC 8032 5.1.3; 0 on success, -1 if s encodes no point or a y >= p */
static int pt_decode(struct pt *r, const uint8_t s[32])
{
    uint8_t yb[32], chk[32];
    fe u, v, w, one = {1};
    memcpy(yb, s, 32);
    yb[31] &= 0x7f;
    fe_load(r->y, yb);
    fe_store(chk, r->y);
    if (memcmp(chk, yb, 32) != 0)
        return -1;
    fe_mul(u, r->y, r->y);
    fe_load(v, ded_d);
    fe_mul(v, v, u);
    fe_add(v, v, one);              /* v = d y^2 + 1 */
    fe_sub(u, u, one);              /* u = y^2 - 1 */
    fe_mul(w, v, v);
    fe_mul(w, w, v);                /* v^3 */
    fe_mul(r->t, w, w);
    fe_mul(r->t, r->t, v);
    fe_mul(r->t, r->t, u);          /* u v^7 */
    fe_pow(r->x, r->t, 252, 0xfd);  /* (u v^7)^((p-5)/8) */
    fe_mul(r->x, r->x, w);
    fe_mul(r->x, r->x, u);          /* candidate x = u v^3 (u v^7)^((p-5)/8) */
    fe_mul(w, r->x, r->x);
    fe_mul(w, w, v);                /* v x^2 */
    if (!fe_equal(w, u)) {
        fe_add(w, w, u);
        if (!fe_is_zero(w))
            return -1;
        fe_load(w, ded_sqrtm1);
        fe_mul(r->x, r->x, w);
    }
    int sign = s[31] >> 7;
    if (sign && fe_is_zero(r->x))
        return -1;
    if (fe_is_odd(r->x) != sign) {
        static const fe zero;
        fe_sub(r->x, zero, r->x);
    }
    memset(r->z, 0, sizeof r->z);
    r->z[0] = 1;
    fe_mul(r->t, r->x, r->y);
    return 0;
}

static void pt_encode(uint8_t s[32], const struct pt *p)
{
    fe zi, x, y;
    fe_pow(zi, p->z, 255, 0xeb);    /* 1/Z = Z^(p-2) */
    fe_mul(x, p->x, zi);
    fe_mul(y, p->y, zi);
    fe_store(s, y);
    s[31] |= (uint8_t)(fe_is_odd(x) << 7);
}

static void pt_identity(struct pt *r)
{
    memset(r, 0, sizeof *r);
    r->y[0] = r->z[0] = 1;
}

/* order 1, 2, 4 or 8: [8]P is the identity, whose X is 0 */
static int pt_small_order(const struct pt *p)
{
    struct pt q = *p;
    for (unsigned i = 0; i < 3; i++)
        pt_add(&q, &q, &q);
    return fe_is_zero(q.x);
}

/* ---- scalars: 32-byte little-endian integers ---- */

static int sc_bit(const uint8_t *s, unsigned i)
{
    return s[i / 8] >> (i % 8) & 1;
}

static int sc_below_order(const uint8_t s[32])
{
    for (unsigned i = 32; i-- > 0;)
        if (s[i] != ded_order[i])
            return s[i] < ded_order[i];
    return 0;
}

/* r = h mod L for a 64-byte h, one bit at a time: r stays below 2L < 2^254 */
static void sc_reduce(uint8_t r[32], const uint8_t h[64])
{
    uint32_t acc[8] = {0}, l[8];
    fe_load(l, ded_order);
    for (unsigned i = 512; i-- > 0;) {
        for (unsigned w = 7; w > 0; w--)
            acc[w] = acc[w] << 1 | acc[w - 1] >> 31;
        acc[0] = acc[0] << 1 | (uint32_t)sc_bit(h, i);
        unsigned w = 8;
        while (w-- > 0 && acc[w] == l[w])
            ;
        if (w < 8 && acc[w] < l[w])
            continue;
        int64_t c = 0;
        for (w = 0; w < 8; w++) {
            c += (int64_t)acc[w] - l[w];
            acc[w] = (uint32_t)c;
            c >>= 32;
        }
    }
    for (unsigned i = 0; i < 32; i++)
        r[i] = (uint8_t)(acc[i / 4] >> (8 * (i % 4)));
}

/* ---- verification ---- */

void ded25519_ph_init(struct ded25519_ph *v)
{
    dsha512_init(&v->h);
}

void ded25519_ph_update(struct ded25519_ph *v, const void *msg, size_t len)
{
    dsha512_update(&v->h, msg, len);
}

/* r = [s]B + [k]na, most significant bit first */
static void pt_double_mul(struct pt *r, const uint8_t s[32], const uint8_t k[32],
                          const struct pt *na)
{
    struct pt b;
    pt_decode(&b, ded_base);
    pt_identity(r);
    for (unsigned i = 256; i-- > 0;) {
        pt_add(r, r, r);
        if (sc_bit(s, i))
            pt_add(r, r, &b);
        if (sc_bit(k, i))
            pt_add(r, r, na);
    }
}

enum ded25519_result ded25519_ph_verify(struct ded25519_ph *v, const uint8_t sig[DED25519_SIG_LEN],
                                        const uint8_t pub[DED25519_PUB_LEN])
{
    uint8_t digest[DSHA512_LEN], k[32];
    struct pt a, r;
    static const fe zero;

    dsha512_final(&v->h, digest);
    if (!sc_below_order(sig + 32))
        return DED25519_E_SCALAR;
    if (pt_decode(&a, pub) != 0 || pt_small_order(&a))
        return DED25519_E_KEY;
    dsha512_init(&v->h);
    dsha512_update(&v->h, ded_dom2, sizeof ded_dom2);
    dsha512_update(&v->h, sig, 32);
    dsha512_update(&v->h, pub, 32);
    dsha512_update(&v->h, digest, sizeof digest);
    dsha512_final(&v->h, digest);
    sc_reduce(k, digest);
    fe_sub(a.x, zero, a.x);
    fe_sub(a.t, zero, a.t);
    pt_double_mul(&r, sig + 32, k, &a);
    /* a small-order R is refused, as libsodium does */
    if (pt_small_order(&r))
        return DED25519_E_SIG;
    pt_encode(digest, &r);
    return memcmp(digest, sig, 32) == 0 ? DED25519_OK : DED25519_E_SIG;
}
