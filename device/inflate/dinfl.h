/* dinfl.h - a streaming inflater (RFC 1951 deflate, RFC 1950 zlib wrapper) for the device.
 *
 * The same shape as zlib's inflate(): feed input in pieces of any size,
 * take output in pieces of any size, resume at any byte. Memory is the
 * caller's: a fixed struct dinfl (Huffman tables included, no allocation)
 * and a window of 2^wbits bytes, the largest back-reference the stream
 * may make. Delta streams are zlib streams made with window bits 9..15;
 * the window must be at least as large as the stream header announces,
 * as zlib's inflateInit2(wbits) requires.
 *
 * Differences from zlib, all on streams zlib also refuses: a preset
 * dictionary (FDICT) and an empty code-length code are refused as soon as
 * they are seen, where zlib first reads further. tests/fuzz/fuzz_dinflate.c
 * compares the two on arbitrary input.
 */
#ifndef DINFL_H
#define DINFL_H

#include <stddef.h>
#include <stdint.h>

#define DINFL_WBITS_MIN 9
#define DINFL_WBITS_MAX 15

enum dinfl_status {
    DINFL_MORE = 0,        /* input used up or output full: call again with more of either */
    DINFL_DONE = 1,        /* end of stream, check value matched; *in_used stops right after it */
    DINFL_E_PARAM = -1,    /* bad wbits or window; also returned by dinfl_run on an unset state */
    DINFL_E_HEADER = -2,   /* zlib header: check bits, method, window too large, preset dictionary */
    DINFL_E_BLOCK = -3,    /* block type 3, or a stored block's length check */
    DINFL_E_CODES = -4,    /* a dynamic block's code description is invalid */
    DINFL_E_SYMBOL = -5,   /* a literal/length or distance code that does not exist */
    DINFL_E_DIST = -6,     /* a distance reaching before the start of the data or the window */
    DINFL_E_CHECK = -7,    /* Adler-32 of the output differs from the stream's */
};

struct dinfl {
    uint8_t *win;
    uint32_t wmask, wpos, whave;   /* window size - 1, next write, bytes valid */
    uint32_t bitbuf, adler;
    uint32_t total_in, total_out;  /* for messages; wrap after 4 GiB */
    uint8_t bitcnt, mode, last, wrap, wbits;
    int8_t err;                    /* sticky error once mode is the error mode */
    uint16_t nlen, ndist, ncode, idx;
    uint16_t len, dist;            /* pending copy; len is also a stored block's remainder */
    /* canonical Huffman codes: codes per length (count[0]: how many in
     * all), then the symbols in code order; the code-length code lives in
     * the distance code while a dynamic block's header is read */
    uint16_t lit_count[16], dst_count[16];
    uint16_t lit_sym[288], dst_sym[32];
    uint8_t lens[320];             /* code lengths of the block being set up */
};

/* wbits 9..15: zlib stream (RFC 1950); -15..-9: raw deflate (RFC 1951).
 * window: 2^|wbits| bytes, owned by the caller until the stream ends. */
enum dinfl_status dinfl_init(struct dinfl *st, uint8_t *window, int wbits);

/* Inflates from in[0..in_len) into out[0..out_cap); *in_used and *out_made
 * say how much was taken and written (both may be 0 on DINFL_MORE). After
 * DINFL_DONE or an error, further calls return the same status. */
enum dinfl_status dinfl_run(struct dinfl *st, const uint8_t *in, size_t in_len, size_t *in_used,
                            uint8_t *out, size_t out_cap, size_t *out_made);

/* A short English reason for a status, for logs. */
const char *dinfl_reason(enum dinfl_status s);

#endif
