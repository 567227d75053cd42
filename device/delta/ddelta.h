/* ddelta.h - the streaming delta decoder of the device library.
 *
 * Applies a delta stream (common/DELTA.md, format versions 1 to 4:
 * plain records, address transforms, AArch64 ADRP page moves) in one
 * forward pass: the stream arrives in pieces of any size through
 * ddelta_feed, the old image is read at offsets through a dio_reader, the
 * new image leaves sequentially through a dio_writer. Freestanding: no
 * allocation, nothing from libc beyond string.h. Memory is the caller's:
 * struct ddelta (two DDELTA_BUF buffers and the record state) plus the
 * inflater bound at init (dback.h; the device binds dinfl and a window of
 * 1 << ODEV_WINDOW_BITS_MAX bytes, the host zlib).
 *
 * Guarantees: every length and offset from the stream is checked before
 * use (reading outside the old image, writing past the declared new size,
 * a truncated or trailing stream are ODEV_E_CORRUPT, never undefined
 * behaviour); the old image's size and SHA-256 are checked before the
 * first byte is written (ODEV_E_AUTH); the output's SHA-256 is checked by
 * ddelta_finish (ODEV_E_AUTH). Failure is sticky: after the first error
 * every call returns ODEV_E_STATE. This is the one implementation of the
 * decoder: common/delta_dec.c (the host's delta_dec_* API) wraps it.
 */
#ifndef DDELTA_H
#define DDELTA_H

#include <stddef.h>
#include <stdint.h>

#include "dback.h"
#include "dio.h"
#include "dsha256.h"

#define DDELTA_MAGIC "ODL1"
#define DDELTA_HEADER_LEN 88
#define DDELTA_VERSION_MIN 1
#define DDELTA_VERSION_MAX 4 /* 1 plain, 2 address transforms, 3 ADRP moves, 4 two streams */
#define DDELTA_VERSION_SPLIT 4
#define DDELTA_CTL_WBITS_MAX 11 /* largest window of a version 4 control stream */
#define DDELTA_CTL_LEN_AT DDELTA_HEADER_LEN /* its 4-byte length follows the header */
#define DDELTA_PREFIX_MAX (DDELTA_HEADER_LEN + 4)
#define DDELTA_CTL_BUF 16   /* inflated control bytes per pull */
#define DDELTA_CTL_IN 64    /* compressed control bytes per read (on the stack) */
#define DDELTA_WBITS_MIN 9
#define DDELTA_WBITS_MAX 15
#define DDELTA_IMAGE_MAX ((uint32_t)1 << 30) /* largest old or new image */
#define DDELTA_XF_COUNT 5   /* transform kinds 0 (none) .. 4 (AArch64) */
#define DDELTA_UNIT_MAX 5   /* longest transform unit (x86) */

/* Bytes inflated (and old bytes read) per step; two such buffers live in
 * struct ddelta. Smaller saves RAM, larger calls the reader less often. */
#ifndef DDELTA_BUF
#define DDELTA_BUF 256
#endif
#define DDELTA_HEAD 8 /* spare bytes in front of each buffer (held-back unit) */

/* What a stream's header says (sizes already bounded by DDELTA_IMAGE_MAX). */
struct ddelta_info {
    uint32_t old_size, new_size;
    uint8_t version; /* 1..4 */
    uint8_t wbits;   /* 9..15 */
    uint8_t xf;      /* transform kind of a version 2/3 stream, else 0 */
    uint8_t old_hash[DSHA256_LEN], new_hash[DSHA256_LEN];
};

/* The control stream window of a version 4 stream whose data window is
 * 2^wbits: the same, at most 2^DDELTA_CTL_WBITS_MAX (header byte 7 says
 * exactly this). A larger window than 2^9 pays at window 15 (DELTA.md). */
static inline unsigned ddelta_ctl_wbits(unsigned wbits)
{
    return wbits < DDELTA_CTL_WBITS_MAX ? wbits : DDELTA_CTL_WBITS_MAX;
}

/* Parse the 88-byte header from buf[0..len). ODEV_E_CORRUPT with *why for
 * a short buffer, bad magic, unknown version, window, transform kind,
 * reserved byte or a size above DDELTA_IMAGE_MAX. */
int ddelta_header_parse(const uint8_t *buf, size_t len, struct ddelta_info *info,
                        const char **why);
/* The *why of an unknown format version, so a host can tell it apart. */
extern const char ddelta_why_version[];

enum ddelta_phase {
    DDELTA_PH_HEADER, /* collecting the plain header */
    DDELTA_PH_CTRL,   /* a record's varints */
    DDELTA_PH_RUNS,   /* a zero-run/literal-run pair of varints */
    DDELTA_PH_ZERO,   /* old bytes (diff byte 0) */
    DDELTA_PH_LIT,    /* old bytes plus literal diff bytes */
    DDELTA_PH_EXTRA,  /* literal new bytes */
    DDELTA_PH_DONE,
    DDELTA_PH_FAILED
};

/* The decoder. Caller-owned, fields private; it must stay at one address
 * from ddelta_init to ddelta_finish. */
struct ddelta {
    struct dio_reader old;
    struct dio_writer out;
    struct dback_inflate inf;
    struct ddelta_info info;
    uint32_t old_len;              /* the old image's real size */
    const char *why;               /* reason of the sticky failure */
    int err;                       /* its code */
    uint8_t phase, z_end, ctrl_idx, ctrl_shift;
    uint8_t width, carry, rec_xf, xo_tail_len, xn_hold_len;
    uint32_t rec_adj;              /* pages the record adds to old ADRPs (v3) */
    uint32_t hdr_len;
    /* version 4: the control stream, read at offsets through src */
    struct dio_reader src;
    struct dback_inflate ctl_inf;
    uint32_t src_base, src_len, ctl_len, ctl_used, skip_left;
    uint8_t ctl_pos, ctl_n, ctl_end;
    uint8_t ctl_buf[DDELTA_CTL_BUF];
    uint32_t old_pos, new_pos, old_end;
    uint32_t diff_left, extra_left, zero_left, lit_left;
    uint64_t ctrl[4];              /* varints of the record being read */
    uint8_t xo_tail[DDELTA_UNIT_MAX]; /* old bytes already transformed */
    uint8_t xn_hold[DDELTA_UNIT_MAX]; /* output not yet restored */
    struct dsha256 hash;           /* of the output */
    uint8_t hdr[DDELTA_PREFIX_MAX];
    uint8_t buf[DDELTA_HEAD + DDELTA_BUF];
    uint8_t oldbuf[DDELTA_HEAD + DDELTA_BUF + DDELTA_HEAD];
};

/* Start a decode of a stream whose old image is old_len bytes at old;
 * out receives exactly the header's new size. The reader, writer and
 * inflater structs are copied; the inflater is started once the header
 * names the window (ODEV_E_LIMIT then if it holds no such window). */
void ddelta_init(struct ddelta *d, const struct dio_reader *old, uint32_t old_len,
                 const struct dio_writer *out, const struct dback_inflate *inf);

/* Version 4 streams (two zlib streams, common/DELTA.md) also need the
 * delta readable at offsets: src reads its len bytes with the first at
 * base, and ctl inflates the control stream (a window of
 * 2^ddelta_ctl_wbits(window bits) bytes, ODEV_E_LIMIT if it holds less). A control length of 0 or past len is
 * ODEV_E_CORRUPT before anything is written. Without this call a version
 * 4 stream fails with ODEV_E_LIMIT. */
void ddelta_set_source(struct ddelta *d, const struct dio_reader *src, uint32_t base,
                       uint32_t len, const struct dback_inflate *ctl);

/* Push the next len bytes of the stream (any split, len may be 0).
 * ODEV_E_CORRUPT malformed, ODEV_E_AUTH wrong old image, ODEV_E_LIMIT
 * window, reader/writer errors passed through; *why says which. */
int ddelta_feed(struct ddelta *d, const void *chunk, size_t len, const char **why);

/* The end of the stream: ODEV_OK only if the stream was complete, exactly
 * new_size bytes were written and their SHA-256 is the header's. */
int ddelta_finish(struct ddelta *d, const char **why);

/* Bytes written so far (for messages). */
static inline uint32_t ddelta_new_pos(const struct ddelta *d)
{
    return d->new_pos;
}

/* Transform kinds (common/DELTA.md "Version 2"): buf[0..n) starts at image
 * offset pos; undo = 0 makes branch targets absolute, 1 restores them.
 * Returns the settled leading bytes: all n when final, else up to the
 * first unit that may run past n. The encoder (common/delta_enc.c) uses
 * the same functions, so both sides agree by construction. */
size_t ddelta_xf_run(unsigned kind, uint8_t *buf, size_t n, uint32_t pos, int undo, int final);
/* The old side of a record: the transform when xf, then adj pages added to
 * every AArch64 ADRP at a 4-aligned image offset (format v3). */
size_t ddelta_xf_old_run(unsigned kind, int xf, uint32_t adj, uint8_t *buf, size_t n,
                         uint32_t pos, int final);
unsigned ddelta_xf_unit_len(unsigned kind);

#endif
