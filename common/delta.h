/* delta.h - core delta codec: bsdiff-class encoder, streaming bounded-RAM decoder.
 *
 * The cache host encodes (delta_encode, allocates freely); the device decodes
 * (delta_dec_*), reading the old core at offsets through an io_reader and
 * writing the new core sequentially through an io_writer while delta bytes
 * arrive in chunks of any size. The stream layout is versioned and
 * documented in common/DELTA.md: an 88-byte plain header (sizes, window
 * bits, SHA-256 of old and new), then one zlib stream of control records
 * interleaved with diff and literal bytes, so one forward pass applies it.
 *
 * Decoder guarantees: no allocation at all; working memory is sizeof(struct
 * delta_dec) plus a caller-supplied arena for zlib of delta_dec_arena_size(
 * window_bits) bytes (delta_dec_mem gives the sum, <= 64 KiB at window 15,
 * <= 16 KiB at window 9). Every length and offset from the stream is checked
 * before use: reading outside the old image, writing past the declared new
 * size, a truncated or trailing stream, or an output whose SHA-256 differs
 * from the header's are errors, never undefined behaviour. The old image is
 * checked (size and SHA-256) before the first byte is written. Failure is
 * sticky: after the first error every call returns OTA_E_STATE.
 * pkg.c embeds a stream as the core section of a package; cache/diff.c
 * writes one as a standalone patch file.
 */
#ifndef DELTA_H
#define DELTA_H

#include "crypto.h"
#include "dback_host.h"
#include "ddelta.h"
#include "io.h"

#include <zlib.h>

#define DELTA_MAGIC "ODL1"
#define DELTA_FORMAT_VERSION 1    /* records without address transforms */
#define DELTA_FORMAT_VERSION_XF 2 /* header names a transform, records opt in */
#define DELTA_FORMAT_VERSION_ADJ 3 /* records may also move old AArch64 ADRP pages */
#define DELTA_FORMAT_VERSION_SPLIT 4 /* control and data bytes in two zlib streams */
#define DELTA_HEADER_LEN 88

#define DELTA_WINDOW_BITS_MIN 9
#define DELTA_WINDOW_BITS_MAX 15
#define DELTA_WINDOW_BITS_DEFAULT 15

/* Largest old or new image the format accepts (the encoder's suffix array
 * is 32-bit). */
#ifndef DELTA_IMAGE_MAX
#define DELTA_IMAGE_MAX ((uint64_t)1 << 30)
#endif

/* zlib's inflate state without its window; the arena must hold this plus
 * the 1 << window_bits window (common/dback_host.h). */
#define DELTA_ZLIB_STATE_BYTES DBACK_ZLIB_STATE_BYTES

/* Arena that fits every supported window: size a static arena with it. */
#define DELTA_ARENA_MAX (DELTA_ZLIB_STATE_BYTES + (1u << DELTA_WINDOW_BITS_MAX) + 32u)

/* A pair of runs inside a record's diff bytes is one varint
 * (zero_run << DELTA_RUN_BITS | min(literal_run, DELTA_RUN_MAX)), followed
 * by literal_run - DELTA_RUN_MAX as a second varint when the low bits are
 * all ones. Part of the format: changing it needs a new format version. */
#define DELTA_RUN_BITS 2
#define DELTA_RUN_MAX ((1u << DELTA_RUN_BITS) - 1)

/* Executable address transforms (format v2, common/delta_xf.c): relative
 * branch targets made absolute before matching, undone by the decoder. The
 * kind is part of the stream header; records opt in one by one. */
enum delta_xf {
    DELTA_XF_NONE,
    DELTA_XF_X86,   /* E8/E9 rel32 */
    DELTA_XF_ARM,   /* A32 BL */
    DELTA_XF_THUMB, /* Thumb-2 BL */
    DELTA_XF_ARM64, /* AArch64 BL, ADRP */
    DELTA_XF_COUNT
};

/* Transform (undo = 0) or restore (undo = 1) buf[0..n), whose first byte
 * sits at image offset pos, in one forward pass. Returns how many leading
 * bytes are settled: all n when final (a unit that does not fit before n is
 * left alone), else up to the first unit that might run past n; the caller
 * resumes there with more bytes. The device decoder's own functions
 * (device/delta/ddelta_xf.c), so encoder and decoder agree by construction;
 * positions fit 32 bits (images are at most DELTA_IMAGE_MAX). */
static inline size_t delta_xf_run(enum delta_xf kind, uint8_t *buf, size_t n, uint64_t pos,
                                  int undo, int final)
{
    return ddelta_xf_run((unsigned)kind, buf, n, (uint32_t)pos, undo, final);
}
/* The old side of a record in one forward pass: the transform when xf is
 * set, then (adj != 0, format v3, kind none or AArch64 only) adj added to
 * the page immediate of every AArch64 ADRP at a 4-aligned image offset,
 * modulo 2^21. Returns the settled bytes as delta_xf_run does. */
static inline size_t delta_xf_old_run(enum delta_xf kind, int xf, uint32_t adj, uint8_t *buf,
                                      size_t n, uint64_t pos, int final)
{
    return ddelta_xf_old_run((unsigned)kind, xf, adj, buf, n, (uint32_t)pos, final);
}
#define DELTA_ADJ_UNIT 4 /* an ADRP */
#define DELTA_ADJ_MASK 0x1FFFFFu

#define DELTA_XF_UNIT_MAX DDELTA_UNIT_MAX

#define DELTA_XF_AUTO (-1)
#define DELTA_PASSES_DEFAULT 3
#define DELTA_PASSES_MAX 16

struct delta_params {
    int window_bits; /* zlib window of the stream, 9..15 */
    int level;       /* zlib level 0..9 */
    int xf;          /* DELTA_XF_AUTO (the kind that saves most, or none: a
                      * version 1 stream), DELTA_XF_NONE, or a kind to use */
    int adj;         /* 1: records may move old ADRP pages (format v3 when one
                      * does), 0: never */
    int passes;      /* 0: zlib's deflate only; n > 0: also the size-parsing
                      * deflate (delta_deflate_opt) with n passes, keeping
                      * whichever stream is smaller */
    int threads;     /* 1 or 2: the word-width candidates are deflated in two
                      * halves, the second half on a thread of its own when 2;
                      * the output is the same bytes either way */
    int split;       /* 1: also try control and data bytes in two streams
                      * (format v4), kept when smaller; 0: never */
};
#define DELTA_THREADS_MAX 2
void delta_params_default(struct delta_params *p);

/* Deflate in[0..n) into one zlib stream (RFC 1950) whose distances stay
 * within 1 << window_bits, choosing matches by their bit cost over `passes`
 * parses and cutting blocks where new Huffman tables pay (delta_deflate.c).
 * Any inflate reads it. *out is malloc'd; OTA_E_NOMEM on allocation failure. */
enum ota_err delta_deflate_opt(const uint8_t *in, size_t n, int window_bits, int passes,
                               uint8_t **out, size_t *out_len, char *msg);

/* What a delta stream's own header says. */
struct delta_info {
    uint64_t old_size, new_size;
    int window_bits;
    uint32_t mem; /* decoder working memory in bytes for this stream */
    int version;  /* format version, 1, 2 or 3 */
    int xf;       /* enum delta_xf named by a version 2 or 3 header, else 0 */
};

/* Encode: *out is malloc'd, caller frees. info (may be NULL) describes the
 * result. OTA_E_INVAL for bad params, OTA_E_LIMIT above DELTA_IMAGE_MAX,
 * OTA_E_NOMEM. Deterministic: same inputs and params give the same bytes. */
enum ota_err delta_encode(const uint8_t *old, size_t old_len, const uint8_t *new_, size_t new_len,
                          const struct delta_params *p, uint8_t **out, size_t *out_len,
                          struct delta_info *info, char *msg);

/* Parse the stream's header from its first len bytes (at least
 * DELTA_HEADER_LEN, else OTA_E_CORRUPT). Fills info; old_hash/new_hash
 * (CRYPTO_HASH_LEN bytes each) may be NULL. OTA_E_CORRUPT for a bad magic,
 * window or size, OTA_E_VERSION for an unknown format version. */
enum ota_err delta_info_parse(const uint8_t *buf, size_t len, struct delta_info *info,
                              uint8_t *old_hash, uint8_t *new_hash, char *msg);

/* Arena bytes a stream with this window needs (zlib, and a version 4
 * stream's control window, 2^ddelta_ctl_wbits), and the decoder's whole
 * working memory (state struct + arena). 0 for a window out of range. */
size_t delta_dec_arena_size(int window_bits);
uint32_t delta_dec_mem(int window_bits);

/* Streaming decoder: the device library's ddelta (one implementation of
 * the format) with zlib inflating from the caller's arena. The caller owns
 * the struct and the arena; both must outlive the decode and stay at the
 * same address. Fields are private. */
struct delta_dec {
    struct ddelta dd;
    struct dback_zlib z;
    struct dback_dinfl ctl;         /* a version 4 control stream: dinfl, whose
                                     * state is a seventh of zlib's, with its
                                     * window taken from the arena */
    struct dback_inflate ctl_bound; /* ctl over that window, once known */
    struct dback_io old, out, src;
    enum ota_err io_err; /* the host error behind a failed read or write */
};

/* Start a decode. old is the old image (its size and SHA-256 are checked
 * against the header), out receives exactly new_size bytes. arena of
 * arena_len bytes is zlib's only memory; if it is smaller than
 * delta_dec_arena_size(window bits of the stream), the first feed fails
 * with OTA_E_LIMIT. The reader and writer structs are copied. */
enum ota_err delta_dec_init(struct delta_dec *d, const struct io_reader *old,
                            const struct io_writer *out, void *arena, size_t arena_len,
                            char *msg);

/* Let the decoder read the stream itself at offsets (delta's first byte
 * is the stream's): format version 4 needs it, older ones ignore it; a
 * version 4 stream fails with OTA_E_LIMIT without it. The reader is
 * copied. */
void delta_dec_set_source(struct delta_dec *d, const struct io_reader *delta);

/* Push the next len bytes of the stream (any split, len may be 0). Writes
 * to out as records complete. OTA_E_CORRUPT for malformed data, OTA_E_AUTH
 * if the old image is not the one the stream expects, OTA_E_LIMIT if the
 * arena is too small, errors of the reader/writer are passed through. */
enum ota_err delta_dec_feed(struct delta_dec *d, const void *chunk, size_t len, char *msg);

/* Declare the end of the stream. OTA_OK only if the stream was complete,
 * exactly new_size bytes were written and their SHA-256 matches the header
 * (OTA_E_AUTH if not; OTA_E_CORRUPT for a truncated stream). */
enum ota_err delta_dec_finish(struct delta_dec *d, char *msg);

/* Bytes of the arena zlib actually used so far (the allocator hook's high
 * water mark), for tests and memory reports. */
size_t delta_dec_arena_peak(const struct delta_dec *d);

/* Header bytes for a stream (used by the encoder; exposed for tests that
 * forge streams). */
void delta_header_encode(const struct delta_info *info, const uint8_t old_hash[CRYPTO_HASH_LEN],
                         const uint8_t new_hash[CRYPTO_HASH_LEN], uint8_t out[DELTA_HEADER_LEN]);

/* Convenience for hosts: decode a whole in-memory stream (allocates the
 * arena on the heap). */
enum ota_err delta_decode_reader(const uint8_t *delta, size_t delta_len,
                                 const struct io_reader *old, const struct io_writer *out,
                                 char *msg);

#endif
