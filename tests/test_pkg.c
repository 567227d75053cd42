/* test_pkg.c - package format v1: encode/parse round trip, signature,
 * extraction, and hostile packages (truncated, oversized lengths, bit
 * flips, re-signed lies) that must fail with the right code, never crash.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "cur.h"
#include "pkg.h"

static uint8_t sec[CRYPTO_SEC_LEN], pub[CRYPTO_PUB_LEN], other_pub[CRYPTO_PUB_LEN];
static uint8_t core[50000], script[7000];

static int setup(void **state)
{
    uint8_t other_sec[CRYPTO_SEC_LEN];
    (void)state;
    if (crypto_init(NULL) != OTA_OK)
        return -1;
    crypto_sign_keypair(pub, sec);
    crypto_sign_keypair(other_pub, other_sec);
    for (size_t i = 0; i < sizeof core; i++)
        core[i] = (uint8_t)((i * 7) ^ (i >> 5));
    for (size_t i = 0; i < sizeof script; i++)
        script[i] = (uint8_t)"-- lua script\n"[i % 14];
    return 0;
}

struct built {
    uint8_t buf[80000];
    size_t len;
    struct pkg_header h;
};

static void build(struct built *b, uint32_t flags, uint32_t from)
{
    struct pkg_build_input in;
    struct io_mem_sink sink = {b->buf, sizeof b->buf, 0};
    struct io_writer w;
    memset(&in, 0, sizeof in);
    ota_strlcpy(in.tmpl.project, "MY_PROJ", sizeof in.tmpl.project);
    ota_strlcpy(in.tmpl.core_name, "Luat", sizeof in.tmpl.core_name);
    ota_strlcpy(in.tmpl.chip, "RDA8910", sizeof in.tmpl.chip);
    in.tmpl.flags = flags;
    in.tmpl.from_core = from;
    in.tmpl.to_core = flags & (PKG_F_CORE_FULL | PKG_F_CORE_DELTA) ? 20 : from;
    in.tmpl.script.major = 1;
    in.tmpl.script.minor = 1;
    in.new_core = core;
    in.new_core_len = sizeof core;
    in.script = script;
    in.script_len = sizeof script;
    in.secret_key = sec;
    io_mem_writer(&w, &sink);
    assert_int_equal(pkg_build(&in, &w, &b->h, NULL), OTA_OK);
    b->len = sink.len;
}

static enum ota_err verify(const uint8_t *buf, size_t len, struct pkg_header *h)
{
    struct io_reader r;
    io_mem_reader(&r, buf, len);
    return pkg_verify(&r, (const uint8_t(*)[CRYPTO_PUB_LEN])pub, 1, h, NULL);
}

/* Re-sign a tampered package so only the later checks can catch it. */
static void resign(uint8_t *buf, size_t len)
{
    struct crypto_signer s;
    crypto_sign_begin(&s);
    crypto_sign_add(&s, buf, len - PKG_SIG_LEN);
    crypto_sign_end(&s, sec, buf + len - PKG_SIG_LEN);
}

static void header_round_trip(void **state)
{
    static struct built b;
    struct pkg_header h;
    char name[128];
    (void)state;
    build(&b, PKG_F_CORE_FULL | PKG_F_SCRIPT, 17);
    assert_int_equal(pkg_header_parse(b.buf, b.len, b.len, &h, NULL), OTA_OK);
    assert_string_equal(h.project, "MY_PROJ");
    assert_int_equal(h.from_core, 17);
    assert_int_equal(h.to_core, 20);
    assert_int_equal(h.core_size, sizeof core);
    assert_int_equal(h.script_size, sizeof script);
    assert_int_equal(pkg_total_size(&h), b.len);
    uint8_t again[PKG_HEADER_LEN];
    pkg_header_encode(&h, again);
    assert_memory_equal(again, b.buf, PKG_HEADER_LEN);
    pkg_file_name(&h, name, sizeof name);
    assert_string_equal(name, "MY_PROJ_1.1.0_0017-0020.pkg");
    build(&b, PKG_F_SCRIPT, 20);
    pkg_file_name(&b.h, name, sizeof name);
    assert_string_equal(name, "MY_PROJ_1.1.0_0020-0020_script.pkg");
    build(&b, PKG_F_CORE_FULL, PKG_FROM_ANY);
    pkg_file_name(&b.h, name, sizeof name);
    assert_string_equal(name, "MY_PROJ_1.1.0_any-0020_core.pkg");
}

static void verify_and_extract(void **state)
{
    static struct built b;
    static uint8_t out[60000];
    struct io_mem_sink sink = {out, sizeof out, 0};
    struct io_writer w;
    struct io_reader r;
    struct pkg_header h;
    (void)state;
    build(&b, PKG_F_CORE_FULL | PKG_F_SCRIPT, 17);
    assert_int_equal(verify(b.buf, b.len, &h), OTA_OK);
    io_mem_reader(&r, b.buf, b.len);
    io_mem_writer(&w, &sink);
    assert_int_equal(pkg_core_extract(&r, &h, NULL, &w, NULL), OTA_OK);
    assert_int_equal(sink.len, sizeof core);
    assert_memory_equal(out, core, sizeof core);
    sink.len = 0;
    assert_int_equal(pkg_script_extract(&r, &h, &w, NULL), OTA_OK);
    assert_int_equal(sink.len, sizeof script);
    assert_memory_equal(out, script, sizeof script);
}

static void wrong_key_rejected(void **state)
{
    static struct built b;
    struct io_reader r;
    struct pkg_header h;
    char msg[OTA_MSG_LEN];
    (void)state;
    build(&b, PKG_F_SCRIPT, 20);
    io_mem_reader(&r, b.buf, b.len);
    assert_int_equal(pkg_verify(&r, (const uint8_t(*)[CRYPTO_PUB_LEN])other_pub, 1, &h, msg),
                     OTA_E_AUTH);
    assert_non_null(strstr(msg, "unknown key id"));
    /* A key ring with the right key second still verifies. */
    uint8_t ring[2][CRYPTO_PUB_LEN];
    memcpy(ring[0], other_pub, CRYPTO_PUB_LEN);
    memcpy(ring[1], pub, CRYPTO_PUB_LEN);
    assert_int_equal(pkg_verify(&r, (const uint8_t(*)[CRYPTO_PUB_LEN])ring, 2, &h, NULL),
                     OTA_OK);
}

static void truncated_rejected(void **state)
{
    static struct built b;
    struct pkg_header h;
    (void)state;
    build(&b, PKG_F_CORE_FULL | PKG_F_SCRIPT, 18);
    for (size_t len = 0; len < b.len; len += (len < 300 ? 1 : 97))
        assert_int_equal(verify(b.buf, len, &h), OTA_E_CORRUPT);
    assert_int_equal(verify(b.buf, b.len - 1, &h), OTA_E_CORRUPT);
}

static void oversized_lengths_rejected(void **state)
{
    static struct built b;
    static const size_t fields[] = {104, 112, 120, 128, 136};
    static const uint64_t values[] = {UINT64_MAX, UINT64_MAX - 300, 1ull << 40, 0x80000000ull};
    struct pkg_header h;
    char msg[OTA_MSG_LEN];
    (void)state;
    for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++)
        for (size_t v = 0; v < sizeof values / sizeof values[0]; v++) {
            build(&b, PKG_F_CORE_FULL | PKG_F_SCRIPT, 17);
            cur_put_be64(b.buf + fields[f], values[v]);
            assert_int_equal(pkg_header_parse(b.buf, b.len, b.len, &h, msg), OTA_E_CORRUPT);
        }
}

static void header_field_lies_rejected(void **state)
{
    static struct built b;
    struct pkg_header h;
    (void)state;
    build(&b, PKG_F_SCRIPT, 20);
    b.buf[0] = 'X';
    assert_int_equal(pkg_header_parse(b.buf, b.len, b.len, &h, NULL), OTA_E_CORRUPT);
    build(&b, PKG_F_SCRIPT, 20);
    cur_put_be16(b.buf + 4, 2);
    assert_int_equal(pkg_header_parse(b.buf, b.len, b.len, &h, NULL), OTA_E_VERSION);
    build(&b, PKG_F_SCRIPT, 20);
    cur_put_be32(b.buf + 8, 0x80 | PKG_F_SCRIPT); /* unknown flag */
    assert_int_equal(pkg_header_parse(b.buf, b.len, b.len, &h, NULL), OTA_E_CORRUPT);
    build(&b, PKG_F_SCRIPT, 20);
    memcpy(b.buf + 32, "../../etc", 9); /* project with path characters */
    assert_int_equal(pkg_header_parse(b.buf, b.len, b.len, &h, NULL), OTA_E_CORRUPT);
    build(&b, PKG_F_SCRIPT, 20);
    memset(b.buf + 32, 'A', VER_PROJECT_MAX); /* unterminated string */
    assert_int_equal(pkg_header_parse(b.buf, b.len, b.len, &h, NULL), OTA_E_CORRUPT);
    build(&b, PKG_F_CORE_FULL, 17);
    cur_put_be32(b.buf + 12, 20); /* from == to for a core package */
    assert_int_equal(pkg_header_parse(b.buf, b.len, b.len, &h, NULL), OTA_E_CORRUPT);
}

static void bit_flips_never_verify(void **state)
{
    static struct built b;
    struct pkg_header h;
    (void)state;
    build(&b, PKG_F_CORE_FULL | PKG_F_SCRIPT, 19);
    for (size_t pos = 0; pos < b.len; pos += (pos < PKG_HEADER_LEN ? 1 : 211)) {
        b.buf[pos] ^= (uint8_t)(1u << (pos % 8));
        enum ota_err e = verify(b.buf, b.len, &h);
        assert_true(e == OTA_E_CORRUPT || e == OTA_E_AUTH || e == OTA_E_VERSION);
        b.buf[pos] ^= (uint8_t)(1u << (pos % 8));
    }
    assert_int_equal(verify(b.buf, b.len, &h), OTA_OK);
}

/* Signed but lying: a hash or a section that does not match. Only the
 * extraction checks can catch these, and they must. */
static void resigned_lies_caught_on_extract(void **state)
{
    static struct built b;
    static uint8_t out[60000];
    struct io_mem_sink sink = {out, sizeof out, 0};
    struct io_writer w;
    struct io_reader r;
    struct pkg_header h;
    char msg[OTA_MSG_LEN];
    (void)state;
    io_mem_writer(&w, &sink);
    build(&b, PKG_F_CORE_FULL | PKG_F_SCRIPT, 17);
    b.buf[216] ^= 1; /* script hash */
    resign(b.buf, b.len);
    assert_int_equal(verify(b.buf, b.len, &h), OTA_OK);
    io_mem_reader(&r, b.buf, b.len);
    assert_int_equal(pkg_script_extract(&r, &h, &w, msg), OTA_E_AUTH);
    assert_non_null(strstr(msg, "script hash"));

    build(&b, PKG_F_CORE_FULL | PKG_F_SCRIPT, 17);
    cur_put_be64(b.buf + 112, sizeof core - 1); /* core size one short */
    resign(b.buf, b.len);
    assert_int_equal(verify(b.buf, b.len, &h), OTA_OK);
    sink.len = 0;
    io_mem_reader(&r, b.buf, b.len);
    assert_int_equal(pkg_core_extract(&r, &h, NULL, &w, NULL), OTA_E_CORRUPT);

    build(&b, PKG_F_CORE_FULL | PKG_F_SCRIPT, 17);
    b.buf[PKG_HEADER_LEN + 40] ^= 0x55; /* deflate stream damaged */
    resign(b.buf, b.len);
    assert_int_equal(verify(b.buf, b.len, &h), OTA_OK);
    sink.len = 0;
    io_mem_reader(&r, b.buf, b.len);
    enum ota_err e = pkg_core_extract(&r, &h, NULL, &w, NULL);
    assert_true(e == OTA_E_CORRUPT || e == OTA_E_AUTH);
}

static enum ota_err failing_write(void *ctx, const void *buf, size_t len)
{
    size_t *budget = ctx;
    (void)buf;
    if (len > *budget)
        return OTA_E_IO;
    *budget -= len;
    return OTA_OK;
}

static void writer_failure_reported(void **state)
{
    static struct built b;
    struct io_reader r;
    struct pkg_header h;
    size_t budget = 10000;
    struct io_writer w = {failing_write, &budget};
    (void)state;
    build(&b, PKG_F_CORE_FULL | PKG_F_SCRIPT, 17);
    io_mem_reader(&r, b.buf, b.len);
    assert_int_equal(verify(b.buf, b.len, &h), OTA_OK);
    assert_int_equal(pkg_core_extract(&r, &h, NULL, &w, NULL), OTA_E_IO);
    /* Building into a too-small buffer fails cleanly as well. */
    uint8_t small[100];
    struct io_mem_sink sink = {small, sizeof small, 0};
    struct pkg_build_input in;
    memset(&in, 0, sizeof in);
    in.tmpl = b.h;
    in.new_core = core;
    in.new_core_len = sizeof core;
    in.script = script;
    in.script_len = sizeof script;
    in.secret_key = sec;
    io_mem_writer(&w, &sink);
    assert_int_equal(pkg_build(&in, &w, &h, NULL), OTA_E_IO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(header_round_trip),
        cmocka_unit_test(verify_and_extract),
        cmocka_unit_test(wrong_key_rejected),
        cmocka_unit_test(truncated_rejected),
        cmocka_unit_test(oversized_lengths_rejected),
        cmocka_unit_test(header_field_lies_rejected),
        cmocka_unit_test(bit_flips_never_verify),
        cmocka_unit_test(resigned_lies_caught_on_extract),
        cmocka_unit_test(writer_failure_reported),
    };
    return cmocka_run_group_tests_name("pkg", tests, setup, NULL);
}
