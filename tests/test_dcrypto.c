/* test_dcrypto.c - the device's SHA-256, SHA-512 and Ed25519ph verification
 * (device/crypto) against FIPS 180-4 and RFC 8032 vectors and against libsodium.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ded25519.h"
#include "dsha256.h"
#include "dsha512.h"

static void unhex(const char *h, uint8_t *out)
{
    for (size_t i = 0; h[2 * i]; i++) {
        unsigned v;
        assert_int_equal(sscanf(h + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
}

static void sha256_add(void *ctx, const uint8_t *p, size_t n)
{
    dsha256_update(ctx, p, n);
}

static void sha512_add(void *ctx, const uint8_t *p, size_t n)
{
    dsha512_update(ctx, p, n);
}

/* the message fed in pieces of 1, 2, 3... bytes, to cross block edges */
static void feed_pieces(const void *msg, size_t len, void (*add)(void *, const uint8_t *, size_t),
                        void *ctx)
{
    const uint8_t *p = msg;
    for (size_t k = 1; len > 0; k++) {
        size_t n = k < len ? k : len;
        add(ctx, p, n);
        p += n;
        len -= n;
    }
}

static void sha256_pieces(const void *msg, size_t len, uint8_t out[32])
{
    struct dsha256 c;
    dsha256_init(&c);
    feed_pieces(msg, len, sha256_add, &c);
    dsha256_final(&c, out);
}

static void sha512_pieces(const void *msg, size_t len, uint8_t out[64])
{
    struct dsha512 c;
    dsha512_init(&c);
    feed_pieces(msg, len, sha512_add, &c);
    dsha512_final(&c, out);
}

static void sha_fips_vectors(void **state)
{
    static const struct { const char *msg, *h256, *h512; } v[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
         "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
         "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
         "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
         "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1", NULL},
        {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopq"
         "klmnopqrlmnopqrsmnopqrstnopqrstu", NULL,
         "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018"
         "501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909"},
    };
    uint8_t want[64], got[64];
    (void)state;
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        if (v[i].h256) {
            unhex(v[i].h256, want);
            sha256_pieces(v[i].msg, strlen(v[i].msg), got);
            assert_memory_equal(got, want, 32);
        }
        if (v[i].h512) {
            unhex(v[i].h512, want);
            sha512_pieces(v[i].msg, strlen(v[i].msg), got);
            assert_memory_equal(got, want, 64);
        }
    }
    /* one million 'a' */
    char *a = malloc(1000000);
    assert_non_null(a);
    memset(a, 'a', 1000000);
    unhex("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0", want);
    sha256_pieces(a, 1000000, got);
    assert_memory_equal(got, want, 32);
    unhex("e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973eb"
          "de0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b", want);
    sha512_pieces(a, 1000000, got);
    assert_memory_equal(got, want, 64);
    free(a);
}

static void sha_vs_libsodium(void **state)
{
    uint8_t msg[1200], want[64], got[64];
    (void)state;
    srand(12);
    for (int round = 0; round < 400; round++) {
        size_t len = (size_t)rand() % sizeof msg;
        randombytes_buf(msg, len);
        struct dsha256 c2;
        struct dsha512 c5;
        dsha256_init(&c2);
        dsha512_init(&c5);
        for (size_t off = 0; off < len;) {
            size_t n = (size_t)rand() % 200;
            if (n > len - off)
                n = len - off;
            dsha256_update(&c2, msg + off, n);
            dsha512_update(&c5, msg + off, n);
            off += n;
        }
        dsha256_final(&c2, got);
        crypto_hash_sha256(want, msg, len);
        assert_memory_equal(got, want, 32);
        dsha512_final(&c5, got);
        crypto_hash_sha512(want, msg, len);
        assert_memory_equal(got, want, 64);
    }
}

/* ---- Ed25519ph ---- */

static enum ded25519_result dev_verify(const uint8_t *msg, size_t len, const uint8_t sig[64],
                                       const uint8_t pub[32])
{
    struct ded25519_ph v;
    ded25519_ph_init(&v);
    for (size_t off = 0; off < len;) {
        size_t n = 1 + (size_t)rand() % 97;
        if (n > len - off)
            n = len - off;
        ded25519_ph_update(&v, msg + off, n);
        off += n;
    }
    return ded25519_ph_verify(&v, sig, pub);
}

static int sodium_verify(const uint8_t *msg, size_t len, const uint8_t sig[64], const uint8_t pub[32])
{
    crypto_sign_state st;
    crypto_sign_init(&st);
    crypto_sign_update(&st, msg, len);
    return crypto_sign_final_verify(&st, sig, pub);
}

static void sodium_sign(const uint8_t *msg, size_t len, uint8_t sig[64], const uint8_t sec[64])
{
    crypto_sign_state st;
    crypto_sign_init(&st);
    crypto_sign_update(&st, msg, len);
    crypto_sign_final_create(&st, sig, NULL, sec);
}

static void ed25519ph_rfc8032_vector(void **state)
{
    uint8_t pub[32], sig[64];
    (void)state;
    /* RFC 8032 section 7.3, Ed25519ph, message "abc" */
    unhex("ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf", pub);
    unhex("98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae41"
          "31f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406", sig);
    assert_int_equal(dev_verify((const uint8_t *)"abc", 3, sig, pub), DED25519_OK);
    assert_int_equal(sodium_verify((const uint8_t *)"abc", 3, sig, pub), 0);
    assert_int_equal(dev_verify((const uint8_t *)"abd", 3, sig, pub), DED25519_E_SIG);
    /* and the secret key of the vector signs to the same bytes with libsodium */
    uint8_t seed[32], pk[32], sk[64], again[64];
    unhex("833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42", seed);
    crypto_sign_seed_keypair(pk, sk, seed);
    assert_memory_equal(pk, pub, 32);
    sodium_sign((const uint8_t *)"abc", 3, again, sk);
    assert_memory_equal(again, sig, 64);
}

static void ed25519ph_random_signatures(void **state)
{
    uint8_t pk[32], sk[64], sig[64], msg[3000];
    (void)state;
    for (int round = 0; round < 60; round++) {
        size_t len = (size_t)rand() % sizeof msg;
        crypto_sign_keypair(pk, sk);
        randombytes_buf(msg, len);
        sodium_sign(msg, len, sig, sk);
        assert_int_equal(dev_verify(msg, len, sig, pk), DED25519_OK);
        /* a flipped bit anywhere: refused by both */
        size_t bit = (size_t)rand() % 512;
        sig[bit / 8] ^= (uint8_t)(1u << bit % 8);
        assert_int_not_equal(dev_verify(msg, len, sig, pk), DED25519_OK);
        assert_int_not_equal(sodium_verify(msg, len, sig, pk), 0);
        sig[bit / 8] ^= (uint8_t)(1u << bit % 8);
        if (len > 0) {
            bit = (size_t)rand() % (8 * len);
            msg[bit / 8] ^= (uint8_t)(1u << bit % 8);
            assert_int_equal(dev_verify(msg, len, sig, pk), DED25519_E_SIG);
            msg[bit / 8] ^= (uint8_t)(1u << bit % 8);
        }
        bit = (size_t)rand() % 256;
        pk[bit / 8] ^= (uint8_t)(1u << bit % 8);
        assert_int_not_equal(dev_verify(msg, len, sig, pk), DED25519_OK);
        assert_int_not_equal(sodium_verify(msg, len, sig, pk), 0);
    }
}

/* every single-bit flip of one signature and key: refused, as by libsodium */
static void ed25519ph_every_bit_flip(void **state)
{
    uint8_t pk[32], sk[64], sig[64];
    const uint8_t msg[] = "package bytes";
    (void)state;
    crypto_sign_keypair(pk, sk);
    sodium_sign(msg, sizeof msg, sig, sk);
    for (unsigned bit = 0; bit < 512 + 256; bit++) {
        uint8_t *p = bit < 512 ? sig + bit / 8 : pk + (bit - 512) / 8;
        *p ^= (uint8_t)(1u << bit % 8);
        assert_int_not_equal(dev_verify(msg, sizeof msg, sig, pk), DED25519_OK);
        assert_int_not_equal(sodium_verify(msg, sizeof msg, sig, pk), 0);
        *p ^= (uint8_t)(1u << bit % 8);
    }
    assert_int_equal(dev_verify(msg, sizeof msg, sig, pk), DED25519_OK);
}

static const char order_hex[] = "edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010";

/* s + L encodes the same residue: libsodium refuses it, so must we */
static void ed25519ph_scalar_not_canonical(void **state)
{
    uint8_t pk[32], sk[64], sig[64], l[32];
    const uint8_t msg[] = "x";
    (void)state;
    unhex(order_hex, l);
    crypto_sign_keypair(pk, sk);
    sodium_sign(msg, 1, sig, sk);
    unsigned c = 0;
    for (int i = 0; i < 32; i++) {
        c += sig[32 + i] + l[i];
        sig[32 + i] = (uint8_t)c;
        c >>= 8;
    }
    assert_int_equal(c, 0);
    assert_int_equal(dev_verify(msg, 1, sig, pk), DED25519_E_SCALAR);
    assert_int_not_equal(sodium_verify(msg, 1, sig, pk), 0);
    memcpy(sig + 32, l, 32);   /* s = L */
    assert_int_equal(dev_verify(msg, 1, sig, pk), DED25519_E_SCALAR);
    memset(sig + 32, 0xff, 32);
    assert_int_equal(dev_verify(msg, 1, sig, pk), DED25519_E_SCALAR);
}

/* keys that are y >= p, not on the curve, or of small order */
static void ed25519ph_bad_keys(void **state)
{
    uint8_t pk[32], sk[64], sig[64], bad[32];
    const uint8_t msg[] = "y";
    static const char *const small[] = {
        "0100000000000000000000000000000000000000000000000000000000000000", /* identity */
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", /* order 2 */
        "0000000000000000000000000000000000000000000000000000000000000000", /* order 4 */
        "0000000000000000000000000000000000000000000000000000000000000080",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", /* order 8 */
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    };
    (void)state;
    crypto_sign_keypair(pk, sk);
    sodium_sign(msg, 1, sig, sk);
    for (unsigned k = 0; k < 19; k++) {   /* y = p + k, both signs */
        unhex("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", bad);
        bad[0] = (uint8_t)(bad[0] + k);
        for (int sign = 0; sign < 2; sign++) {
            bad[31] = (uint8_t)(0x7f | sign << 7);
            assert_int_equal(dev_verify(msg, 1, sig, bad), DED25519_E_KEY);
            assert_int_not_equal(sodium_verify(msg, 1, sig, bad), 0);
        }
    }
    for (size_t i = 0; i < sizeof small / sizeof small[0]; i++) {
        unhex(small[i], bad);
        assert_int_equal(dev_verify(msg, 1, sig, bad), DED25519_E_KEY);
        assert_int_not_equal(sodium_verify(msg, 1, sig, bad), 0);
    }
    unhex("0200000000000000000000000000000000000000000000000000000000000000", bad);
    assert_int_equal(dev_verify(msg, 1, sig, bad), DED25519_E_KEY);   /* y = 2: no x */
}

/* A signature made by hand: R = [r]B, s = r + k a, so the equation holds
 * whatever R and the key are; sec is the libsodium secret (seed || pk). */
static void forge(const uint8_t *msg, size_t len, const uint8_t sec[64], const uint8_t pub[32],
                  const uint8_t r[32], const uint8_t rpt[32], uint8_t sig[64])
{
    static const char dom2[] = "SigEd25519 no Ed25519 collisions\x01";
    uint8_t h[64], a[32], k[64], ka[32];
    crypto_hash_sha512(h, sec, 32);
    h[0] &= 248, h[31] &= 127, h[31] |= 64;
    memset(h + 32, 0, 32);
    crypto_core_ed25519_scalar_reduce(a, h);
    crypto_hash_sha512(h, msg, len);
    crypto_hash_sha512_state st;
    crypto_hash_sha512_init(&st);
    crypto_hash_sha512_update(&st, (const uint8_t *)dom2, 34);
    crypto_hash_sha512_update(&st, rpt, 32);
    crypto_hash_sha512_update(&st, pub, 32);
    crypto_hash_sha512_update(&st, h, 64);
    crypto_hash_sha512_final(&st, k);
    crypto_core_ed25519_scalar_reduce(k, k);
    crypto_core_ed25519_scalar_mul(ka, k, a);
    memcpy(sig, rpt, 32);
    crypto_core_ed25519_scalar_add(sig + 32, r, ka);
}

static void ed25519ph_small_order_r_and_mixed_keys(void **state)
{
    uint8_t pk[32], sk[64], sig[64], r[32], rpt[32], mixed[32], t8[32];
    const uint8_t msg[] = "z";
    (void)state;
    crypto_sign_keypair(pk, sk);
    /* the construction is right: a normal R passes both */
    crypto_core_ed25519_scalar_random(r);
    assert_int_equal(crypto_scalarmult_ed25519_base_noclamp(rpt, r), 0);
    forge(msg, 1, sk, pk, r, rpt, sig);
    assert_int_equal(dev_verify(msg, 1, sig, pk), DED25519_OK);
    assert_int_equal(sodium_verify(msg, 1, sig, pk), 0);
    /* R = identity with s = k a satisfies the equation; both refuse it */
    memset(r, 0, 32);
    memset(rpt, 0, 32);
    rpt[0] = 1;
    forge(msg, 1, sk, pk, r, rpt, sig);
    assert_int_equal(dev_verify(msg, 1, sig, pk), DED25519_E_SIG);
    assert_int_not_equal(sodium_verify(msg, 1, sig, pk), 0);
    /* A + T (T of order 8): valid exactly when 8 divides k; agree with libsodium */
    unhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", t8);
    if (crypto_core_ed25519_add(mixed, pk, t8) != 0)
        skip();
    int accepted = 0;
    for (int round = 0; round < 64; round++) {
        crypto_core_ed25519_scalar_random(r);
        crypto_scalarmult_ed25519_base_noclamp(rpt, r);
        forge(msg, 1, sk, mixed, r, rpt, sig);
        int dev = dev_verify(msg, 1, sig, mixed) == DED25519_OK;
        int sod = sodium_verify(msg, 1, sig, mixed) == 0;
        assert_int_equal(dev, sod);
        accepted += dev;
    }
    assert_true(accepted > 0 && accepted < 64);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    srand(7);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sha_fips_vectors),
        cmocka_unit_test(sha_vs_libsodium),
        cmocka_unit_test(ed25519ph_rfc8032_vector),
        cmocka_unit_test(ed25519ph_random_signatures),
        cmocka_unit_test(ed25519ph_every_bit_flip),
        cmocka_unit_test(ed25519ph_scalar_not_canonical),
        cmocka_unit_test(ed25519ph_bad_keys),
        cmocka_unit_test(ed25519ph_small_order_r_and_mixed_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
