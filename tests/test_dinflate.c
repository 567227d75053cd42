/* test_dinflate.c - the device inflater (device/inflate) against zlib: every
 * level, strategy and window size, input and output in random pieces,
 * raw deflate, trailing bytes, and corrupt streams refused within bounds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "dinfl.h"

/* zlib-compress src (wbits < 0: raw deflate) into a malloc'd buffer */
static uint8_t *squeeze(const uint8_t *src, size_t n, int level, int wbits, int strategy,
                        size_t *zlen)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    assert_int_equal(deflateInit2(&zs, level, Z_DEFLATED, wbits, 8, strategy), Z_OK);
    size_t cap = deflateBound(&zs, n) + 16;
    uint8_t *z = malloc(cap);
    assert_non_null(z);
    zs.next_in = (Bytef *)(uintptr_t)src;
    zs.avail_in = (uInt)n;
    zs.next_out = z;
    zs.avail_out = (uInt)cap;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    *zlen = zs.total_out;
    deflateEnd(&zs);
    return z;
}

/* Inflates z in random pieces (max_in, max_out; 0-sized pieces included)
 * into out (cap bytes, exactly allocated so ASan sees overruns); the
 * window is malloc'd at exactly 2^|wbits|. */
static int run_pieces(const uint8_t *z, size_t zlen, int wbits, uint8_t *out, size_t cap,
                      size_t max_in, size_t max_out, size_t *made, size_t *used)
{
    uint8_t *win = malloc((size_t)1 << (wbits < 0 ? -wbits : wbits));
    struct dinfl st;
    int r = dinfl_init(&st, win, wbits);
    *made = *used = 0;
    for (int calls = 0; r == DINFL_MORE && calls < 1000000; calls++) {
        size_t in_n = (size_t)rand() % (max_in + 1), out_n = (size_t)rand() % (max_out + 1), iu, om;
        if (in_n > zlen - *used)
            in_n = zlen - *used;
        if (out_n > cap - *made)
            out_n = cap - *made;
        uint8_t *piece = malloc(in_n + 1);   /* the piece alone, so reads past it are caught */
        memcpy(piece, z + *used, in_n);
        r = dinfl_run(&st, piece, in_n, &iu, out + *made, out_n, &om);
        free(piece);
        assert_true(iu <= in_n && om <= out_n);
        *used += iu;
        *made += om;
        if (*used == zlen && *made == cap && r == DINFL_MORE && in_n == 0 && out_n == 0) {
            /* all in, all out: one last call must not find more to do */
            r = dinfl_run(&st, z, 0, &iu, out, 0, &om);
            assert_int_equal(iu + om, 0);
            break;
        }
    }
    free(win);
    return r;
}

static void fill_data(uint8_t *p, size_t n, int kind)
{
    static const char words[] = "firmware core script delta block window ";
    for (size_t i = 0; i < n; i++) {
        switch (kind) {
        case 0: p[i] = (uint8_t)rand(); break;                        /* incompressible */
        case 1: p[i] = (uint8_t)words[(i * 7 + i / 300) % 41]; break;  /* text-like */
        case 2: p[i] = (uint8_t)(i / 500 % 3 ? 0 : rand() % 4); break; /* runs */
        default: p[i] = (uint8_t)(i % 4096 < 2048 ? rand() % 16 : p[i - 2048]); break; /* far repeats */
        }
    }
}

static void matches_zlib_every_setting(void **state)
{
    const size_t n = 8000;
    uint8_t *src = malloc(n), *out = malloc(n);
    (void)state;
    for (int kind = 0; kind < 4; kind++) {
        fill_data(src, n, kind);
        for (int wbits = 9; wbits <= 15; wbits++)
            for (int level = 0; level <= 9; level++)
                for (int strat = Z_DEFAULT_STRATEGY; strat <= Z_FIXED; strat++) {
                    size_t zlen, made, used;
                    uint8_t *z = squeeze(src, n, level, wbits, strat, &zlen);
                    int r = run_pieces(z, zlen, wbits, out, n, 600, 1400, &made, &used);
                    assert_int_equal(r, DINFL_DONE);
                    assert_int_equal(made, n);
                    assert_int_equal(used, zlen);
                    assert_memory_equal(out, src, n);
                    free(z);
                }
    }
    free(src);
    free(out);
}

static void one_byte_pieces_and_raw(void **state)
{
    const size_t n = 9000;
    uint8_t *src = malloc(n), *out = malloc(n);
    (void)state;
    fill_data(src, n, 3);
    for (int wbits = -15; wbits <= 15; wbits += 6) {   /* -15 -9 -3(skipped) 3(skipped) 9 15 */
        if (wbits > -9 && wbits < 9)
            continue;
        size_t zlen, made, used;
        uint8_t *z = squeeze(src, n, 6, wbits, Z_DEFAULT_STRATEGY, &zlen);
        assert_int_equal(run_pieces(z, zlen, wbits, out, n, 1, 1, &made, &used), DINFL_DONE);
        assert_int_equal(made, n);
        assert_int_equal(used, zlen);
        assert_memory_equal(out, src, n);
        free(z);
    }
    /* empty input data */
    size_t zlen, made, used;
    uint8_t *z = squeeze(src, 0, 9, 15, Z_DEFAULT_STRATEGY, &zlen);
    assert_int_equal(run_pieces(z, zlen, 15, out, 0, 4, 4, &made, &used), DINFL_DONE);
    assert_int_equal(made, 0);
    free(z);
    free(src);
    free(out);
}

/* bytes after the stream are not taken; DONE stays DONE */
static void trailing_bytes_left(void **state)
{
    uint8_t src[100], out[100], win[512], buf[200];
    size_t zlen, iu, om;
    struct dinfl st;
    (void)state;
    memset(src, 'q', sizeof src);
    uint8_t *z = squeeze(src, sizeof src, 9, 9, Z_DEFAULT_STRATEGY, &zlen);
    memcpy(buf, z, zlen);
    memset(buf + zlen, 0xa5, 10);
    dinfl_init(&st, win, 9);
    assert_int_equal(dinfl_run(&st, buf, zlen + 10, &iu, out, sizeof out, &om), DINFL_DONE);
    assert_int_equal(iu, zlen);
    assert_int_equal(om, sizeof src);
    assert_int_equal(dinfl_run(&st, buf + zlen, 10, &iu, out, sizeof out, &om), DINFL_DONE);
    assert_int_equal(iu, 0);
    assert_int_equal(om, 0);
    free(z);
}

static int inflate_all(const uint8_t *z, size_t zlen, int wbits)
{
    static uint8_t out[1 << 16];
    size_t made, used;
    return run_pieces(z, zlen, wbits, out, sizeof out, 64, 64, &made, &used);
}

static void corrupt_streams_refused(void **state)
{
    uint8_t src[3000], s[64];
    size_t zlen;
    (void)state;
    fill_data(src, sizeof src, 1);
    uint8_t *z = squeeze(src, sizeof src, 9, 15, Z_DEFAULT_STRATEGY, &zlen);
    assert_int_equal(inflate_all(z, zlen, 15), DINFL_DONE);
    /* a window smaller than the header announces */
    assert_int_equal(inflate_all(z, zlen, 14), DINFL_E_HEADER);
    z[1] ^= 1;   /* header check */
    assert_int_equal(inflate_all(z, zlen, 15), DINFL_E_HEADER);
    z[1] ^= 1;
    z[zlen - 1] ^= 0x10;   /* Adler-32 */
    assert_int_equal(inflate_all(z, zlen, 15), DINFL_E_CHECK);
    z[zlen - 1] ^= 0x10;
    /* every truncation wants more, never ends or fails */
    for (size_t cut = 0; cut < zlen; cut++)
        assert_int_equal(inflate_all(z, cut, 15), DINFL_MORE);
    free(z);
    /* method 7; preset dictionary (FDICT, header check kept right) */
    memcpy(s, "\x77\x01", 2);
    s[1] = (uint8_t)(31 - (0x77 << 8) % 31);
    assert_int_equal(inflate_all(s, 2, 15), DINFL_E_HEADER);
    s[0] = 0x78;
    s[1] = 0x20;
    s[1] = (uint8_t)(s[1] + 31 - (0x7820 % 31));
    assert_int_equal(inflate_all(s, 6, 15), DINFL_E_HEADER);
    /* raw blocks: type 3; stored with a bad length check; a distance
     * before the start (fixed block: match length 3, distance 1 first) */
    memcpy(s, "\x07", 1);
    assert_int_equal(inflate_all(s, 1, -15), DINFL_E_BLOCK);
    memcpy(s, "\x01\x05\x00\xfb\xff", 5);
    assert_int_equal(inflate_all(s, 5, -15), DINFL_E_BLOCK);
    memcpy(s, "\x03\x02\x00\x00", 4);   /* BFINAL, fixed; code 257 (0000001), dist 0 (00000) */
    assert_int_equal(inflate_all(s, 4, -15), DINFL_E_DIST);
    /* fixed block with literal/length symbol 286 (11000110) */
    s[0] = 0x03 | 0x18;   /* 1, 01, then bits 1 1 ... */
    s[1] = 0x03;
    assert_true(inflate_all(s, 4, -15) < 0);
    /* a far distance beyond a small window is refused, not read out of bounds */
    uint8_t far[4000];
    fill_data(far, sizeof far, 0);
    memcpy(far + 3000, far, 1000);
    z = squeeze(far, sizeof far, 9, 15, Z_DEFAULT_STRATEGY, &zlen);
    z[0] = 0x18;   /* claim a 512-byte window, fix the check bits */
    z[1] = (uint8_t)((z[1] & 0xe0) + 31 - ((0x18 << 8 | (z[1] & 0xe0)) % 31));
    assert_int_equal(inflate_all(z, zlen, 9), DINFL_E_DIST);
    free(z);
}

/* random bit flips: never out of bounds (ASan), and never an end of stream
 * zlib does not also reach with the same output */
static void bit_flips_against_zlib(void **state)
{
    uint8_t src[5000];
    static uint8_t out[1 << 16], zout[1 << 16];
    size_t zlen, made, used;
    (void)state;
    fill_data(src, sizeof src, 1);
    uint8_t *z = squeeze(src, sizeof src, 6, 12, Z_DEFAULT_STRATEGY, &zlen);
    for (int round = 0; round < 1500; round++) {
        size_t bit = (size_t)rand() % (8 * zlen);
        z[bit / 8] ^= (uint8_t)(1u << bit % 8);
        int r = run_pieces(z, zlen, 12, out, sizeof out, 100, 100, &made, &used);
        z_stream zs;
        memset(&zs, 0, sizeof zs);
        inflateInit2(&zs, 12);
        zs.next_in = z;
        zs.avail_in = (uInt)zlen;
        zs.next_out = zout;
        zs.avail_out = sizeof zout;
        int zr = inflate(&zs, Z_FINISH);
        inflateEnd(&zs);
        assert_int_equal(r == DINFL_DONE, zr == Z_STREAM_END);
        if (r == DINFL_DONE) {
            assert_int_equal(made, zs.total_out);
            assert_memory_equal(out, zout, made);
        }
        z[bit / 8] ^= (uint8_t)(1u << bit % 8);
    }
    free(z);
}

static void bad_parameters(void **state)
{
    struct dinfl st;
    uint8_t win[1 << 9], out[4];
    size_t iu, om;
    (void)state;
    assert_int_equal(dinfl_init(&st, win, 8), DINFL_E_PARAM);
    assert_int_equal(dinfl_run(&st, (const uint8_t *)"x", 1, &iu, out, 4, &om), DINFL_E_PARAM);
    assert_int_equal(dinfl_init(&st, win, 16), DINFL_E_PARAM);
    assert_int_equal(dinfl_init(&st, NULL, 9), DINFL_E_PARAM);
    assert_int_equal(dinfl_init(&st, win, -9), DINFL_MORE);
    assert_string_equal(dinfl_reason(DINFL_E_CHECK), "Adler-32 mismatch");
}

int main(void)
{
    srand(3);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(matches_zlib_every_setting),
        cmocka_unit_test(one_byte_pieces_and_raw),
        cmocka_unit_test(trailing_bytes_left),
        cmocka_unit_test(corrupt_streams_refused),
        cmocka_unit_test(bit_flips_against_zlib),
        cmocka_unit_test(bad_parameters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
