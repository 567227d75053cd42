/* test_dpkg.c - the device's verify/apply path (device/pkg, device/delta) against the host's.
 *
 * Every delta format version (1 plain, 2 address transforms, 3 ADRP moves)
 * applied by ddelta with the device inflater (dinfl) gives the bytes the
 * host decoder (the same ddelta over zlib) and the encoder's input give,
 * on the firmware pairs in tests/data and on generated AArch64 code; whole
 * packages (delta, full, script-only) extract through dpkg as through
 * pkg.c; hostile packages (every header byte flipped, truncations, lying
 * re-signed headers, a wrong key, a window the inflater cannot hold) are
 * refused with the right code and nothing past the declared size written.
 * Run from the repository root (paths of tests/data).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "cur.h"
#include "delta.h"
#include "dpkg.h"
#include "odev.h"
#include "pkg.h"

#define FW "tests/data/firmware/"
#define REL "tests/data/release/"

static uint8_t sec[CRYPTO_SEC_LEN], keys[2][CRYPTO_PUB_LEN];
static struct dpkg_work work; /* 36 KiB at window 15: not on the stack */

/* ---- memory behind dio.h ---- */

struct mem {
    const uint8_t *p;
    size_t len;
};

static int mem_read(void *ctx, uint32_t off, void *buf, size_t len)
{
    struct mem *m = ctx;
    if (off > m->len || len > m->len - off)
        return ODEV_E_IO;
    memcpy(buf, m->p + off, len);
    return ODEV_OK;
}

struct sink {
    uint8_t *p;
    size_t cap, len;
};

static int sink_write(void *ctx, const void *buf, size_t len)
{
    struct sink *s = ctx;
    if (len > s->cap - s->len)
        return ODEV_E_IO;
    memcpy(s->p + s->len, buf, len);
    s->len += len;
    return ODEV_OK;
}

static uint8_t *load(const char *path, size_t *len)
{
    uint8_t *p = NULL;
    char msg[OTA_MSG_LEN] = "";
    if (io_file_read_all(path, 1u << 26, &p, len, msg) != OTA_OK)
        fail_msg("%s: %s", path, msg);
    return p;
}

static int setup(void **state)
{
    uint8_t other_sec[CRYPTO_SEC_LEN];
    (void)state;
    if (crypto_init(NULL) != OTA_OK)
        return -1;
    crypto_sign_keypair(keys[1], other_sec);
    crypto_sign_keypair(keys[0], sec);
    return 0;
}

/* ---- delta streams: device decoder vs host decoder vs the encoder's input ---- */

/* ddelta over dinfl with the window dpkg_work holds, in chunks of chunk bytes. */
static int device_decode(const uint8_t *old, size_t ol, const uint8_t *delta, size_t dl,
                         uint8_t *out, size_t cap, size_t *out_len, size_t chunk,
                         uint32_t win_len)
{
    struct mem m = {old, ol};
    struct sink s = {out, cap, 0};
    struct dio_reader r = {mem_read, &m};
    struct dio_writer w = {sink_write, &s};
    struct dback_inflate inf;
    const char *why = NULL;
    struct mem src = {delta, dl};
    struct dio_reader sr = {mem_read, &src};
    struct dback_inflate ctl;
    dback_dinfl_bind(&inf, &work.u.apply.infl, work.u.apply.win, win_len);
    dback_dinfl_bind(&ctl, &work.u.apply.ctl, work.u.apply.ctl_win, sizeof work.u.apply.ctl_win);
    ddelta_init(&work.u.apply.dd, &r, (uint32_t)ol, &w, &inf);
    ddelta_set_source(&work.u.apply.dd, &sr, 0, (uint32_t)dl, &ctl);
    int e = ODEV_OK;
    for (size_t off = 0; e == ODEV_OK && off < dl; off += chunk)
        e = ddelta_feed(&work.u.apply.dd, delta + off, dl - off < chunk ? dl - off : chunk, &why);
    if (e == ODEV_OK)
        e = ddelta_finish(&work.u.apply.dd, &why);
    *out_len = s.len;
    return e;
}

static int versions_seen, split15_seen; /* split15: version 4 at window 15 */

/* Encode old -> new with p, decode on both paths, compare all three. */
static void both_paths(const uint8_t *o, size_t ol, const uint8_t *n, size_t nl,
                       const struct delta_params *p)
{
    uint8_t *delta, *dev = malloc(nl + 1), *host = malloc(nl + 1);
    size_t dl, dev_len, host_chunk;
    struct delta_info info;
    struct io_reader r;
    struct io_writer w;
    struct io_mem_sink hs = {host, nl + 1, 0};
    char msg[OTA_MSG_LEN] = "";
    if (delta_encode(o, ol, n, nl, p, &delta, &dl, &info, msg) != OTA_OK)
        fail_msg("encode: %s", msg);
    versions_seen |= 1 << info.version;
    split15_seen |= info.version == DELTA_FORMAT_VERSION_SPLIT && info.window_bits == 15;
    io_mem_reader(&r, o, ol);
    io_mem_writer(&w, &hs);
    assert_int_equal(delta_decode_reader(delta, dl, &r, &w, msg), OTA_OK);
    host_chunk = 1 + dl % 997;
    assert_int_equal(device_decode(o, ol, delta, dl, dev, nl + 1, &dev_len, host_chunk,
                                   sizeof work.u.apply.win),
                     ODEV_OK);
    assert_int_equal(dev_len, nl);
    assert_int_equal(hs.len, nl);
    assert_memory_equal(dev, n, nl);
    assert_memory_equal(host, n, nl);
    /* the last byte of the stream missing: truncated, never accepted */
    assert_int_not_equal(device_decode(o, ol, delta, dl - 1, dev, nl + 1, &dev_len, 4096,
                                       sizeof work.u.apply.win),
                         ODEV_OK);
    free(delta);
    free(dev);
    free(host);
}

static void pair_paths(const char *a, const char *b, int xf, int adj)
{
    size_t ol, nl;
    uint8_t *o = load(a, &ol), *n = load(b, &nl);
    struct delta_params p;
    delta_params_default(&p);
    p.passes = 0; /* zlib's deflate only: the decoder is under test, not the encoder */
    p.xf = xf;
    p.adj = adj;
    for (int wb = DELTA_WINDOW_BITS_MIN; wb <= DELTA_WINDOW_BITS_MAX; wb += 6) {
        p.window_bits = wb;
        p.split = wb == DELTA_WINDOW_BITS_MIN; /* one stream at 15: versions 1-3 */
        both_paths(o, ol, n, nl, &p);
    }
    free(o);
    free(n);
}

static void put_le32(uint8_t *p, uint32_t w)
{
    p[0] = (uint8_t)w;
    p[1] = (uint8_t)(w >> 8);
    p[2] = (uint8_t)(w >> 16);
    p[3] = (uint8_t)(w >> 24);
}

/* Generated AArch64-like code whose ADRPs all move 5 pages: version 3. */
static void adrp_pair(uint8_t *a, uint8_t *b, size_t n)
{
    uint32_t x = 99;
    for (size_t i = 0; i < n; i++)
        a[i] = (uint8_t)((x = x * 1103515245u + 12345u) >> 16);
    for (size_t i = 0; i + 4 <= n; i += 4 * (1 + ((x = x * 1103515245u + 12345u) >> 16) % 20)) {
        uint32_t imm = (x >> 8) % 4096;
        put_le32(a + i, 0x90000000u | (imm & 3u) << 29 | (imm >> 2) << 5 | (uint32_t)(i % 31));
    }
    memcpy(b, a, n);
    for (size_t i = 0; i + 4 <= n; i += 4) {
        uint32_t w = (uint32_t)b[i] | (uint32_t)b[i + 1] << 8 | (uint32_t)b[i + 2] << 16 |
                     (uint32_t)b[i + 3] << 24;
        if ((w & 0x9F000000u) != 0x90000000u)
            continue;
        uint32_t imm = (((w >> 5) & 0x7FFFFu) << 2 | ((w >> 29) & 3u)) + 5;
        put_le32(b + i, (w & 0x9F00001Fu) | (imm & 3u) << 29 | ((imm >> 2) & 0x7FFFFu) << 5);
    }
    for (size_t i = 100; i < n; i += 4099)
        b[i] ^= 0x5A;
}

static void every_version_both_paths(void **state)
{
    enum { N = 48 * 1024 };
    uint8_t *a = malloc(N), *b = malloc(N);
    struct delta_params p;
    (void)state;
    versions_seen = 0;
    pair_paths(FW "simba-shell-cortex-m4/old.bin", FW "simba-shell-cortex-m4/new.bin",
               DELTA_XF_NONE, 0);
    pair_paths(FW "micropython-pybv11/1f5d945af/firmware1.bin",
               FW "micropython-pybv11/1f5d945af-dirty/firmware1.bin", DELTA_XF_THUMB, 0);
    pair_paths(FW "programmer-cortex-m4/0.8.0.bin", FW "programmer-cortex-m4/0.9.0.bin",
               DELTA_XF_AUTO, 1);
    pair_paths(FW "simba-shell-pi3-aarch64/1.bin", FW "simba-shell-pi3-aarch64/2.bin",
               DELTA_XF_ARM64, 1);
    adrp_pair(a, b, N);
    delta_params_default(&p);
    p.passes = 0;
    for (p.window_bits = 9; p.window_bits <= 15; p.window_bits += 6) {
        both_paths(a, N, b, N, &p);
        both_paths(b, N, a, N, &p);
    }
    p.window_bits = 15;
    p.xf = DELTA_XF_X86;
    p.adj = 0; /* page moves need kind none or AArch64 */
    both_paths(a, N, b, N, &p);
    assert_int_equal(versions_seen, 1 << 1 | 1 << 2 | 1 << 3 | 1 << 4);
    assert_true(split15_seen); /* a 2^11 control window, both paths */
    free(a);
    free(b);
}

/* A window-15 stream on a device built with a 512-byte window: ODEV_E_LIMIT
 * before anything is written; a wrong old image: ODEV_E_AUTH, nothing
 * written; after a failure every call is refused (sticky). */
static void limits_and_sticky(void **state)
{
    enum { N = 20000 };
    uint8_t *a = malloc(N), *b = malloc(N), *out = malloc(N), *delta;
    size_t dl, got;
    struct delta_params p;
    char msg[OTA_MSG_LEN];
    const char *why;
    (void)state;
    adrp_pair(a, b, N);
    delta_params_default(&p);
    p.passes = 0;
    assert_int_equal(delta_encode(a, N, b, N, &p, &delta, &dl, NULL, msg), OTA_OK);
    assert_int_equal(device_decode(a, N, delta, dl, out, N, &got, 100, 512), ODEV_E_LIMIT);
    assert_int_equal(got, 0);
    assert_int_equal(ddelta_feed(&work.u.apply.dd, delta, 1, &why), ODEV_E_STATE);
    assert_int_equal(ddelta_finish(&work.u.apply.dd, &why), ODEV_E_STATE);
    assert_int_equal(device_decode(b, N, delta, dl, out, N, &got, 100, 1u << 15), ODEV_E_AUTH);
    assert_int_equal(got, 0);
    assert_int_equal(device_decode(a, N - 1, delta, dl, out, N, &got, 100, 1u << 15),
                     ODEV_E_AUTH);
    assert_int_equal(got, 0);
    free(delta);
    free(a);
    free(b);
    free(out);
}

/* ---- format 4 rules, forged streams on both paths ---- */

static size_t zdeflate(const uint8_t *in, size_t n, int wbits, uint8_t *out, size_t cap)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, wbits, 8, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = (Bytef *)(uintptr_t)in;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t len = z.total_out;
    deflateEnd(&z);
    return len;
}

static const uint8_t v4_old[16] = "0123456789abcdef";
static const uint8_t v4_new[8] = "01234xyz";

/* What a forged version 4 stream holds: the control and data payloads, the
 * control stream's zlib window, pad bytes between the two streams (inside
 * the control length) and, when ctl_len is not 0, a lying control length. */
struct v4_forge {
    const uint8_t *ctl, *dat;
    size_t cn, dn;
    int ctl_wbits, pad;
    uint32_t ctl_len;
};

static size_t v4_build(const struct v4_forge *f, uint8_t *out, size_t cap, uint32_t *real_ctl)
{
    struct delta_info info = {sizeof v4_old, sizeof v4_new, 15, 0, DELTA_FORMAT_VERSION_SPLIT, 0};
    uint8_t oh[CRYPTO_HASH_LEN], nh[CRYPTO_HASH_LEN];
    crypto_sha256(v4_old, sizeof v4_old, oh);
    crypto_sha256(v4_new, sizeof v4_new, nh);
    delta_header_encode(&info, oh, nh, out);
    size_t at = DDELTA_PREFIX_MAX;
    at += zdeflate(f->ctl, f->cn, f->ctl_wbits ? f->ctl_wbits : 9, out + at, cap - at);
    memset(out + at, 0, (size_t)f->pad);
    at += (size_t)f->pad;
    *real_ctl = (uint32_t)(at - DDELTA_PREFIX_MAX);
    cur_put_be32(out + DDELTA_CTL_LEN_AT, f->ctl_len ? f->ctl_len : *real_ctl);
    return at + zdeflate(f->dat, f->dn, 15, out + at, cap - at);
}

/* Decode on the device path (in chunks of 1, 7 and all bytes) and on the
 * host's; both must agree, and neither may write past the declared new
 * size. Returns the device's code. */
static int v4_both(const uint8_t *stream, size_t len)
{
    uint8_t out[64];
    size_t got, chunks[] = {1, 7, len};
    struct io_reader r;
    struct io_writer w;
    struct io_mem_sink hs = {out, sizeof out, 0};
    int dev = ODEV_OK;
    for (size_t i = 0; i < 3; i++) {
        int e = device_decode(v4_old, sizeof v4_old, stream, len, out, sizeof out, &got,
                              chunks[i] ? chunks[i] : 1, sizeof work.u.apply.win);
        assert_true(got <= sizeof v4_new);
        assert_true(i == 0 || e == dev);
        dev = e;
    }
    io_mem_reader(&r, v4_old, sizeof v4_old);
    io_mem_writer(&w, &hs);
    enum ota_err host = delta_decode_reader(stream, len, &r, &w, NULL);
    assert_true(hs.len <= sizeof v4_new);
    assert_int_equal(host == OTA_OK, dev == ODEV_OK);
    assert_int_equal(host == OTA_E_CORRUPT, dev == ODEV_E_CORRUPT);
    return dev;
}

static int v4_try(const struct v4_forge *f)
{
    uint8_t stream[512];
    uint32_t real;
    return v4_both(stream, v4_build(f, stream, sizeof stream, &real));
}

/* One record (5 bytes as in old, 3 new) in the v3 record layout. */
static const uint8_t v4_ctl[] = {5 << 4, 3, 0, 5 << 2};
static const uint8_t v4_dat[] = {'x', 'y', 'z'};

static void v4_lengths_refused(void **state)
{
    struct v4_forge f = {v4_ctl, v4_dat, sizeof v4_ctl, sizeof v4_dat, 0, 0, 0};
    uint8_t stream[512];
    uint32_t real;
    (void)state;
    assert_int_equal(v4_try(&f), ODEV_OK);
    size_t len = v4_build(&f, stream, sizeof stream, &real);
    /* past the end, exactly to the end (no data stream), near 2^32, zero */
    uint32_t bad[] = {(uint32_t)len, (uint32_t)(len - DDELTA_PREFIX_MAX), 0xFFFFFFFFu,
                      0xFFFFFFFFu - DDELTA_PREFIX_MAX + 1, 0};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cur_put_be32(stream + DDELTA_CTL_LEN_AT, bad[i]);
        assert_int_equal(v4_both(stream, len), ODEV_E_CORRUPT);
    }
    /* overlapping the data stream, or leaving control bytes to the push */
    for (uint32_t d = 1; d <= 3; d++) {
        f.ctl_len = real + d;
        assert_int_equal(v4_try(&f), ODEV_E_CORRUPT);
        f.ctl_len = real - d;
        assert_int_equal(v4_try(&f), ODEV_E_CORRUPT);
    }
    /* pad bytes after the control stream but inside its length */
    f.ctl_len = 0;
    f.pad = 2;
    assert_int_equal(v4_try(&f), ODEV_E_CORRUPT);
}

static void v4_streams_refused(void **state)
{
    static const uint8_t ctl_short[] = {5 << 4, 3, 0};
    static const uint8_t ctl_late[] = {5 << 4, 3, 0, 5 << 2, 0};
    static const uint8_t ctl_record[] = {5 << 4, 3, 0, 5 << 2, 0, 1, 0};
    static const uint8_t dat_late[] = {'x', 'y', 'z', 'q'};
    struct v4_forge f = {v4_ctl, v4_dat, sizeof v4_ctl, sizeof v4_dat, 0, 0, 0};
    (void)state;
    f.cn = sizeof ctl_short; /* control stream ends inside a record */
    f.ctl = ctl_short;
    assert_int_equal(v4_try(&f), ODEV_E_CORRUPT);
    f.cn = sizeof ctl_late; /* one control byte too many */
    f.ctl = ctl_late;
    assert_int_equal(v4_try(&f), ODEV_E_CORRUPT);
    f.cn = sizeof ctl_record; /* a record after the new image is complete */
    f.ctl = ctl_record;
    assert_int_equal(v4_try(&f), ODEV_E_CORRUPT);
    f.cn = sizeof v4_ctl;
    f.ctl = v4_ctl;
    f.dn = sizeof dat_late; /* data after the last record */
    f.dat = dat_late;
    assert_int_equal(v4_try(&f), ODEV_E_CORRUPT);
    f.dn = 2; /* data ends early */
    assert_int_equal(v4_try(&f), ODEV_E_CORRUPT);
    f.dn = sizeof v4_dat;
    f.ctl_wbits = DDELTA_CTL_WBITS_MAX + 1; /* its zlib header asks for more than 2^11 */
    assert_int_equal(v4_try(&f), ODEV_E_CORRUPT);
}

/* Header byte 7 is the control window (11 at window 15) in version 4
 * only; without a
 * source a version 4 stream is ODEV_E_LIMIT on both paths, nothing
 * written; truncated anywhere (the 92-byte prefix byte by byte) it is
 * refused. */
static void v4_header_and_truncation(void **state)
{
    struct v4_forge f = {v4_ctl, v4_dat, sizeof v4_ctl, sizeof v4_dat, 0, 0, 0};
    uint8_t stream[512], out[64];
    uint32_t real;
    static const uint8_t bytes7[] = {0, 8, 9, 10, 12, 15, 0xFF}; /* window 15: 11 */
    (void)state;
    size_t len = v4_build(&f, stream, sizeof stream, &real);
    for (size_t i = 0; i < sizeof bytes7; i++) {
        stream[7] = bytes7[i];
        assert_int_equal(v4_both(stream, len), ODEV_E_CORRUPT);
    }
    stream[7] = (uint8_t)ddelta_ctl_wbits(15);
    for (uint8_t v = 1; v <= 3; v++) { /* older versions keep byte 7 at 0 */
        stream[4] = v;
        assert_int_equal(v4_both(stream, len), ODEV_E_CORRUPT);
    }
    stream[4] = DELTA_FORMAT_VERSION_SPLIT;
    for (size_t cut = 0; cut < len; cut++)
        assert_int_equal(v4_both(stream, cut), ODEV_E_CORRUPT);
    /* no source: the device decoder alone, then the host's */
    struct mem m = {v4_old, sizeof v4_old};
    struct sink s = {out, sizeof out, 0};
    struct dio_reader r = {mem_read, &m};
    struct dio_writer w = {sink_write, &s};
    struct dback_inflate inf;
    const char *why;
    dback_dinfl_bind(&inf, &work.u.apply.infl, work.u.apply.win, sizeof work.u.apply.win);
    ddelta_init(&work.u.apply.dd, &r, sizeof v4_old, &w, &inf);
    assert_int_equal(ddelta_feed(&work.u.apply.dd, stream, len, &why), ODEV_E_LIMIT);
    assert_int_equal(s.len, 0);
    /* a control window of 512 bytes (a window 9 device's) for this window
     * 15 stream, which needs 2^11: refused, nothing written */
    struct mem sm = {stream, len};
    struct dio_reader sr = {mem_read, &sm};
    struct dback_inflate ctl;
    dback_dinfl_bind(&ctl, &work.u.apply.ctl, work.u.apply.ctl_win, 1u << 9);
    ddelta_init(&work.u.apply.dd, &r, sizeof v4_old, &w, &inf);
    ddelta_set_source(&work.u.apply.dd, &sr, 0, (uint32_t)len, &ctl);
    assert_int_equal(ddelta_feed(&work.u.apply.dd, stream, len, &why), ODEV_E_LIMIT);
    assert_int_equal(s.len, 0);
    static struct delta_dec d;
    static uint8_t arena[1 << 16];
    struct io_reader hr;
    struct io_writer hw;
    struct io_mem_sink hs = {out, sizeof out, 0};
    io_mem_reader(&hr, v4_old, sizeof v4_old);
    io_mem_writer(&hw, &hs);
    assert_int_equal(delta_dec_init(&d, &hr, &hw, arena, sizeof arena, NULL), OTA_OK);
    assert_int_equal(delta_dec_feed(&d, stream, len, NULL), OTA_E_LIMIT);
    assert_int_equal(hs.len, 0);
}

/* ---- packages ---- */

struct pkgbuf {
    uint8_t *p;
    size_t len;
    struct pkg_header h;
};

static void build(struct pkgbuf *b, uint32_t flags, const uint8_t *old, size_t ol,
                  const uint8_t *core, size_t cl, const uint8_t *script, size_t sl, int wbits)
{
    struct pkg_build_input in;
    struct io_writer w;
    size_t cap = cl + sl + 4096 + cl / 2;
    struct io_mem_sink s = {b->p = malloc(cap), cap, 0};
    char msg[OTA_MSG_LEN] = "";
    memset(&in, 0, sizeof in);
    ota_strlcpy(in.tmpl.project, "DEV_PROJ", sizeof in.tmpl.project);
    ota_strlcpy(in.tmpl.core_name, "Luat", sizeof in.tmpl.core_name);
    ota_strlcpy(in.tmpl.chip, "RDA8910", sizeof in.tmpl.chip);
    in.tmpl.flags = flags;
    in.tmpl.from_core = flags & PKG_F_CORE_DELTA ? 19 : flags & PKG_F_CORE_FULL ? PKG_FROM_ANY : 20;
    in.tmpl.to_core = 20;
    in.tmpl.script = (struct ver_script){1, 1, 0};
    in.old_core = old;
    in.old_core_len = ol;
    in.new_core = core;
    in.new_core_len = cl;
    in.script = script;
    in.script_len = sl;
    in.window_bits = wbits;
    in.secret_key = sec;
    io_mem_writer(&w, &s);
    assert_int_equal(pkg_build(&in, &w, &b->h, msg), OTA_OK);
    b->len = s.len;
}

/* Parse, verify and extract through dpkg; 0 or the first failing step's code. */
static int device_apply(const uint8_t *pkg, size_t len, const uint8_t *old, size_t ol,
                        uint8_t *core, size_t ccap, size_t *clen, uint8_t *script, size_t scap,
                        size_t *slen)
{
    struct dpkg_header h;
    struct mem pm = {pkg, len}, om = {old, ol};
    struct sink cs = {core, ccap, 0}, ss = {script, scap, 0};
    struct dio_reader pr = {mem_read, &pm}, orr = {mem_read, &om};
    struct dio_writer cw = {sink_write, &cs}, sw = {sink_write, &ss};
    const char *why = NULL;
    int e;
    dpkg_work_init(&work);
    if ((e = dpkg_header_parse(pkg, len, (uint32_t)len, &h, &why)) != ODEV_OK ||
        (e = dpkg_verify(&work, &pr, &h, (const uint8_t(*)[32])keys, 1, &why)) != ODEV_OK)
        return e;
    if (h.flags & (DPKG_F_CORE_DELTA | DPKG_F_CORE_FULL))
        e = dpkg_extract_core(&work, &pr, &h, &orr, (uint32_t)ol, &cw, &why);
    if (e == ODEV_OK && h.flags & DPKG_F_SCRIPT)
        e = dpkg_extract_script(&work, &pr, &h, &sw, &why);
    *clen = cs.len;
    *slen = ss.len;
    if (cs.len > h.core_size)
        fail_msg("wrote %zu core bytes past the declared %u", cs.len, h.core_size);
    return e;
}

static void host_extract(const struct pkgbuf *b, const uint8_t *old, size_t ol, uint8_t *core,
                         size_t ccap, uint8_t *script, size_t scap)
{
    struct io_reader pr, orr;
    struct io_writer cw, sw;
    struct io_mem_sink cs = {core, ccap, 0}, ss = {script, scap, 0};
    struct pkg_header h;
    char msg[OTA_MSG_LEN] = "";
    io_mem_reader(&pr, b->p, b->len);
    io_mem_reader(&orr, old, ol);
    io_mem_writer(&cw, &cs);
    io_mem_writer(&sw, &ss);
    assert_int_equal(pkg_verify(&pr, (const uint8_t(*)[32])keys, 1, &h, msg), OTA_OK);
    if (h.flags & (PKG_F_CORE_DELTA | PKG_F_CORE_FULL))
        assert_int_equal(pkg_core_extract(&pr, &h, &orr, &cw, msg), OTA_OK);
    if (h.flags & PKG_F_SCRIPT)
        assert_int_equal(pkg_script_extract(&pr, &h, &sw, msg), OTA_OK);
}

static void packages_both_paths(void **state)
{
    size_t ol, nl, sl, clen, slen;
    uint8_t *old = load(REL "shipped/Luat_V0019_RDA8910.bin", &ol);
    uint8_t *neu = load(REL "core_Luat_V0020_RDA8910.bin", &nl);
    uint8_t *scr = load(REL "script/script_1.1.0.bin", &sl);
    uint8_t *core = malloc(nl), *script = malloc(sl), *hcore = malloc(nl), *hscript = malloc(sl);
    static const uint32_t kinds[] = {PKG_F_CORE_DELTA | PKG_F_SCRIPT, PKG_F_CORE_FULL,
                                     PKG_F_CORE_FULL | PKG_F_SCRIPT, PKG_F_SCRIPT,
                                     PKG_F_CORE_DELTA};
    (void)state;
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++)
        for (int wb = 9; wb <= 15; wb += 6) {
            struct pkgbuf b;
            build(&b, kinds[k], old, ol, neu, nl, scr, sl, wb);
            assert_int_equal(device_apply(b.p, b.len, old, ol, core, nl, &clen, script, sl,
                                          &slen),
                             ODEV_OK);
            host_extract(&b, old, ol, hcore, nl, hscript, sl);
            if (kinds[k] & (PKG_F_CORE_DELTA | PKG_F_CORE_FULL)) {
                assert_int_equal(clen, nl);
                assert_memory_equal(core, neu, nl);
                assert_memory_equal(hcore, neu, nl);
            }
            if (kinds[k] & PKG_F_SCRIPT) {
                assert_int_equal(slen, sl);
                assert_memory_equal(script, scr, sl);
                assert_memory_equal(hscript, scr, sl);
            }
            free(b.p);
        }
    free(old);
    free(neu);
    free(scr);
    free(core);
    free(script);
    free(hcore);
    free(hscript);
}

/* The signer's key among others is found by its id; a package signed by a
 * key the device does not hold, or with one bit of it changed, is refused. */
static void keys_checked(void **state)
{
    uint8_t script[3000], out[3000];
    struct pkgbuf b;
    struct dpkg_header h;
    struct mem pm;
    struct dio_reader pr = {mem_read, &pm};
    const char *why;
    (void)state;
    for (size_t i = 0; i < sizeof script; i++)
        script[i] = (uint8_t)"print('hello')\n"[i % 15];
    build(&b, PKG_F_SCRIPT, NULL, 0, NULL, 0, script, sizeof script, 9);
    pm = (struct mem){b.p, b.len};
    dpkg_work_init(&work);
    assert_int_equal(dpkg_header_parse(b.p, b.len, (uint32_t)b.len, &h, &why), ODEV_OK);
    assert_int_equal(dpkg_verify(&work, &pr, &h, (const uint8_t(*)[32])keys, 2, &why), ODEV_OK);
    assert_int_equal(dpkg_verify(&work, &pr, &h, (const uint8_t(*)[32])keys + 1, 1, &why),
                     ODEV_E_AUTH);
    assert_non_null(strstr(why, "unknown key"));
    b.p[b.len - 1] ^= 1;
    assert_int_equal(dpkg_verify(&work, &pr, &h, (const uint8_t(*)[32])keys, 2, &why),
                     ODEV_E_AUTH);
    b.p[b.len - 1] ^= 1;
    b.p[300] ^= 0x10; /* inside the script section */
    assert_int_equal(dpkg_verify(&work, &pr, &h, (const uint8_t(*)[32])keys, 2, &why),
                     ODEV_E_AUTH);
    (void)out;
    free(b.p);
}

/* Every header byte flipped (three ways) is refused by the parse or by the
 * signature, and the host parse agrees with the device's on each; every
 * truncation of the file is refused by the parse. */
static void header_flips_and_truncations(void **state)
{
    uint8_t script[2000], out[4000];
    size_t clen, slen;
    struct pkgbuf b;
    static const uint8_t masks[] = {0x01, 0x80, 0xFF};
    (void)state;
    for (size_t i = 0; i < sizeof script; i++)
        script[i] = (uint8_t)(i * 13);
    build(&b, PKG_F_SCRIPT, NULL, 0, NULL, 0, script, sizeof script, 10);
    for (size_t i = 0; i < DPKG_HEADER_LEN; i++)
        for (size_t m = 0; m < sizeof masks; m++) {
            struct dpkg_header dh;
            struct pkg_header hh;
            const char *why;
            b.p[i] ^= masks[m];
            int dev = dpkg_header_parse(b.p, b.len, (uint32_t)b.len, &dh, &why);
            enum ota_err host = pkg_header_parse(b.p, b.len, b.len, &hh, NULL);
            assert_int_equal(dev == ODEV_OK, host == OTA_OK);
            assert_int_not_equal(device_apply(b.p, b.len, NULL, 0, out, sizeof out, &clen, out,
                                              sizeof out, &slen),
                                 ODEV_OK);
            b.p[i] ^= masks[m];
        }
    for (size_t len = 0; len < b.len; len++)
        assert_int_equal(device_apply(b.p, len, NULL, 0, out, sizeof out, &clen, out,
                                      sizeof out, &slen),
                         ODEV_E_CORRUPT);
    assert_int_equal(device_apply(b.p, b.len, NULL, 0, out, sizeof out, &clen, out, sizeof out,
                                  &slen),
                     ODEV_OK);
    free(b.p);
}

static void resign(uint8_t *p, size_t len)
{
    struct crypto_signer s;
    crypto_sign_begin(&s);
    crypto_sign_add(&s, p, len - PKG_SIG_LEN);
    crypto_sign_end(&s, sec, p + len - PKG_SIG_LEN);
}

/* A signed header that lies: sections cut short (lengths rewritten, so the
 * parse and the signature pass) or images declared smaller or larger than
 * what the sections hold. Extraction refuses each, never writing past the
 * declared size (device_apply checks that). */
static void lying_sections_refused(void **state)
{
    size_t ol, nl, clen, slen;
    uint8_t *old = load(FW "simba-shell-cortex-m4/old.bin", &ol);
    uint8_t *neu = load(FW "simba-shell-cortex-m4/new.bin", &nl);
    uint8_t *out = malloc(nl + 100), script[500];
    (void)state;
    memset(script, 'x', sizeof script);
    for (int kind = 0; kind < 2; kind++) {
        struct pkgbuf b;
        build(&b, (kind ? PKG_F_CORE_FULL : PKG_F_CORE_DELTA) | PKG_F_SCRIPT, old, ol, neu, nl,
              script, sizeof script, 12);
        uint64_t core_len = b.h.core_len;
        for (uint64_t cut = 1; cut < core_len; cut += 1 + core_len / 23) {
            /* drop `cut` bytes at the end of the core section */
            uint8_t *p = malloc(b.len);
            size_t len = b.len - cut;
            memcpy(p, b.p, 256 + core_len - cut);
            memcpy(p + 256 + core_len - cut, b.p + 256 + core_len, b.len - 256 - core_len);
            cur_put_be64(p + 104, core_len - cut);
            resign(p, len);
            int e = device_apply(p, len, old, ol, out, nl + 100, &clen, script, sizeof script,
                                 &slen);
            assert_true(e == ODEV_E_CORRUPT || e == ODEV_E_AUTH);
            free(p);
        }
        for (int delta = -1; delta <= 1; delta += 2) {
            cur_put_be64(b.p + 112, nl + (uint64_t)(int64_t)delta);
            resign(b.p, b.len);
            int e = device_apply(b.p, b.len, old, ol, out, nl + 100, &clen, script,
                                 sizeof script, &slen);
            assert_true(e == ODEV_E_CORRUPT || e == ODEV_E_AUTH);
        }
        free(b.p);
    }
    free(old);
    free(neu);
    free(out);
}

/* Issue 14's budget for the decoder in the device library: state +
 * inflater + window <= 12 KiB at window 9 and 44 KiB at 15 (common/DELTA.md
 * "Decoder memory"; x86-64 sizes, larger than Cortex-M4's). */
static void decoder_within_budget(void **state)
{
    size_t dec = sizeof(struct ddelta) + sizeof(struct dback_dinfl);
    (void)state;
    assert_true(dec + (1u << 9) <= 12u * 1024);
    assert_true(dec + (1u << 15) <= 44u * 1024);
    assert_true(delta_dec_mem(9) <= 12u * 1024 && delta_dec_mem(15) <= 44u * 1024);
}

/* A port's backends, bound once into the zeroed work (odev_init clears
 * struct odev), survive the dpkg_work_init the update flow calls for each
 * package; unbound ones get the device's. */
static void port_backends_kept(void **state)
{
    static struct dpkg_work w;
    static struct dback_zlib z;
    static struct dback_sodium na;
    static uint8_t arena[DBACK_ZLIB_ARENA(15)];
    (void)state;
    memset(&w, 0, sizeof w);
    dpkg_work_init(&w);
    assert_ptr_equal(w.inflate.ctx, &w.u.apply.infl);
    assert_ptr_equal(w.verify.ctx, &w.u.sig);
    memset(&w, 0, sizeof w);
    dback_zlib_bind(&w.inflate, &z, arena, sizeof arena);
    dpkg_work_init(&w);
    assert_ptr_equal(w.inflate.ctx, &z);
    assert_ptr_equal(w.verify.ctx, &w.u.sig);
    dback_sodium_bind(&w.verify, &na);
    dpkg_work_init(&w);
    assert_ptr_equal(w.inflate.ctx, &z);
    assert_ptr_equal(w.verify.ctx, &na);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_version_both_paths),
        cmocka_unit_test(limits_and_sticky),
        cmocka_unit_test(v4_lengths_refused),
        cmocka_unit_test(v4_streams_refused),
        cmocka_unit_test(v4_header_and_truncation),
        cmocka_unit_test(packages_both_paths),
        cmocka_unit_test(keys_checked),
        cmocka_unit_test(header_flips_and_truncations),
        cmocka_unit_test(lying_sections_refused),
        cmocka_unit_test(decoder_within_budget),
        cmocka_unit_test(port_backends_kept),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
