/* block.h - Block2 (RFC 7959) arithmetic for stateless, manual block serving.
 *
 * The server answers every block request on its own: the request's Block2
 * option (if any) says which block and size the device wants; the answer
 * is a slice of the package at a computed offset. No transfer state is kept
 * between requests, so any block can be served in any order, by any server
 * instance (DESIGN.md section 4). libcoap's own block mode is never used.
 * Pure functions, no libcoap types, so they are unit-tested directly.
 */
#ifndef SRV_BLOCK_H
#define SRV_BLOCK_H

#include "ota.h"

#define SRV_SZX_MAX 6            /* 1024 bytes; szx 7 is BERT (TCP only) */
#define SRV_BLOCK_NUM_MAX 0xFFFFFu /* 20 bits in a 3-byte option */

struct srv_block {
    uint32_t num;
    unsigned szx; /* block size = 16 << szx */
    int more;
};

/* Parse the raw value of a Block2 option (0 to 3 bytes; an empty value is
 * num 0, szx 0). OTA_E_INVAL for a longer value or szx 7 (BERT). */
enum ota_err srv_block_parse(const uint8_t *val, size_t len, struct srv_block *b, char *msg);

/* szx of a power-of-two block size 16..1024; -1 otherwise. */
int srv_block_szx(unsigned size);

/* The slice of a total-byte package to send. req NULL means the request
 * had no Block2 option (block 0 at the server's size). The block size is
 * min(requested, 16 << max_szx); when the server's size is smaller than the
 * requested one, the block number is rescaled so the slice starts at the
 * byte offset the device asked for (RFC 7959 section 2.4).
 * OTA_E_LIMIT if the block starts at or past the end. */
struct srv_slice {
    uint64_t off;
    size_t len;
    struct srv_block blk; /* Block2 option of the response */
};
enum ota_err srv_block_slice(uint64_t total, const struct srv_block *req, unsigned max_szx,
                             struct srv_slice *s, char *msg);

/* Encode a Block2 option value into out[3]; returns its length (1..3). */
size_t srv_block_encode(const struct srv_block *b, uint8_t out[3]);

#endif
