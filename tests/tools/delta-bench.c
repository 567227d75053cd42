/* delta-bench.c - measure the delta codec on one OLD NEW pair.
 *
 * Used by scripts/bench_delta.sh. Encodes, decodes through the streaming
 * decoder (chunks of 1 KiB, as a device would get them from flash), checks
 * the output, and prints one line of key=value fields:
 *   new=B delta=B enc_s=S enc_cpu_s=S dec_mem=B dec_mbps=X wbits=N version=V xf=K
 * dec_mem is sizeof(struct delta_dec) plus the arena bytes zlib really used;
 * enc_s is the best of three encodes (wall clock), enc_cpu_s the best of
 * their CPU times (all threads): on a machine shared with other work the
 * wall clock measures the others as much as the encoder.
 * Usage: delta-bench [--xf=K] [--passes=N] [--adj=0|1] [--split=0|1] [--threads=1|2] OLD NEW
 *        [WINDOW_BITS [PATCH_OUT]]
 * --xf=K forces the address transform (-1 auto, the default; 0 none, which
 * gives a format version 1 stream; 1..4 a kind of enum delta_xf), so the
 * bench can show what the transforms contribute; --passes=N sets the
 * size-parsing deflate's passes (0: zlib's deflate only), likewise;
 * --adj=0 turns off format v3's ADRP page moves, --split=0 format v4's two
 * streams; --threads=1 keeps the
 * encoder on one thread (default 2: half the width candidates on a second).
 */
#include "delta.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double now(void)
{
    return clock_s(CLOCK_MONOTONIC);
}

/* One streaming decode; returns the arena high-water mark via *peak. */
static enum ota_err decode_once(const uint8_t *old, size_t old_len, const uint8_t *delta,
                                size_t delta_len, uint8_t *out, size_t out_cap,
                                size_t *peak, char *msg)
{
    static struct delta_dec d;
    static uint8_t arena[1 << 16];
    struct io_reader r, src;
    struct io_writer w;
    struct io_mem_sink sink = {out, out_cap, 0};
    io_mem_reader(&r, old, old_len);
    io_mem_reader(&src, delta, delta_len);
    io_mem_writer(&w, &sink);
    enum ota_err e = delta_dec_init(&d, &r, &w, arena, sizeof arena, msg);
    delta_dec_set_source(&d, &src);
    for (size_t off = 0; e == OTA_OK && off < delta_len; off += 1024)
        e = delta_dec_feed(&d, delta + off, delta_len - off < 1024 ? delta_len - off : 1024, msg);
    if (e == OTA_OK)
        e = delta_dec_finish(&d, msg);
    *peak = delta_dec_arena_peak(&d);
    return e;
}

static int fail(const char *what, enum ota_err e, const char *msg)
{
    fprintf(stderr, "delta-bench: error: %s: %s: %s\n", what, ota_strerror(e), msg);
    return 1;
}

int main(int argc, char **argv)
{
    char msg[OTA_MSG_LEN] = "";
    uint8_t *old, *nw, *delta, *out;
    size_t old_len, new_len, delta_len, peak = 0;
    struct delta_params p;
    struct delta_info info;
    enum ota_err e;
    delta_params_default(&p);
    for (; argc > 1 && strncmp(argv[1], "--", 2) == 0; argv++, argc--) {
        if (strncmp(argv[1], "--xf=", 5) == 0)
            p.xf = (int)strtol(argv[1] + 5, NULL, 10);
        else if (strncmp(argv[1], "--passes=", 9) == 0)
            p.passes = (int)strtol(argv[1] + 9, NULL, 10);
        else if (strncmp(argv[1], "--adj=", 6) == 0)
            p.adj = (int)strtol(argv[1] + 6, NULL, 10);
        else if (strncmp(argv[1], "--split=", 8) == 0)
            p.split = (int)strtol(argv[1] + 8, NULL, 10);
        else if (strncmp(argv[1], "--threads=", 10) == 0)
            p.threads = (int)strtol(argv[1] + 10, NULL, 10);
        else
            break;
    }
    if (argc < 3 || argc > 5) {
        fprintf(stderr, "usage: delta-bench [--xf=K] [--passes=N] [--adj=0|1] [--split=0|1] "
                        "[--threads=1|2] OLD NEW "
                        "[WINDOW_BITS [PATCH_OUT]]\n");
        return 2;
    }
    if (argc >= 4)
        p.window_bits = (int)strtol(argv[3], NULL, 10);
    if ((e = io_file_read_all(argv[1], 1u << 30, &old, &old_len, msg)) != OTA_OK ||
        (e = io_file_read_all(argv[2], 1u << 30, &nw, &new_len, msg)) != OTA_OK)
        return fail("read", e, msg);
    double t0, c0, enc_s = 1e9, enc_cpu_s = 1e9;
    for (int rep = 0; rep < 3; rep++) { /* best of three, like the bsdiff timing */
        if (rep > 0)
            free(delta);
        t0 = now();
        c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        if ((e = delta_encode(old, old_len, nw, new_len, &p, &delta, &delta_len, &info, msg)))
            return fail("encode", e, msg);
        if (now() - t0 < enc_s)
            enc_s = now() - t0;
        if (clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0 < enc_cpu_s)
            enc_cpu_s = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    }
    if (argc == 5 && (e = io_file_write_all(argv[4], delta, delta_len, 0644, msg)) != OTA_OK)
        return fail("write", e, msg);
    out = malloc(new_len + 1);
    if (!out)
        return fail("alloc", OTA_E_NOMEM, "output");
    int runs = 0;
    t0 = now();
    do {
        if ((e = decode_once(old, old_len, delta, delta_len, out, new_len, &peak, msg)))
            return fail("decode", e, msg);
        runs++;
    } while (now() - t0 < 0.3);
    double dec_s = (now() - t0) / runs;
    if (memcmp(out, nw, new_len) != 0)
        return fail("verify", OTA_E_AUTH, "output differs");
    printf("new=%zu delta=%zu enc_s=%.3f enc_cpu_s=%.3f dec_mem=%zu dec_mbps=%.1f wbits=%d "
           "version=%d xf=%d threads=%d\n",
           new_len, delta_len, enc_s, enc_cpu_s, sizeof(struct delta_dec) + peak,
           (double)new_len / 1e6 / (dec_s > 0 ? dec_s : 1e-9), info.window_bits, info.version,
           info.xf, p.threads);
    free(old);
    free(nw);
    free(delta);
    free(out);
    return 0;
}
