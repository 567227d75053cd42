/* delta.h - PLACEHOLDER CONTRACT for the core delta codec (issue 3).
 *
 * The delta engine replaces this file; the signatures below are the ones
 * pkg.c calls and must stay (additions are fine).
 */
#ifndef DELTA_H
#define DELTA_H

#include "io.h"

#define DELTA_WINDOW_BITS_MIN 9
#define DELTA_WINDOW_BITS_MAX 15
#define DELTA_WINDOW_BITS_DEFAULT 15

struct delta_params {
    int window_bits; /* zlib window of the stream, 9..15 */
    int level;       /* zlib level 0..9 */
};
void delta_params_default(struct delta_params *p);

/* What a delta stream's own header says. */
struct delta_info {
    uint64_t old_size, new_size;
    int window_bits;
    uint32_t mem; /* decoder working memory in bytes for this stream */
};

/* Encode: *out is malloc'd, caller frees. */
enum ota_err delta_encode(const uint8_t *old, size_t old_len, const uint8_t *new_, size_t new_len,
                          const struct delta_params *p, uint8_t **out, size_t *out_len,
                          struct delta_info *info, char *msg);

/* Decoder: caller owns the state; no allocation after delta_dec_init. */
struct delta_dec;
#endif
