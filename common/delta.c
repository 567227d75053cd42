/* delta.c - the delta stream's plain header and memory sizing.
 *
 * Shared by the encoder (delta_enc.c), the decoder (delta_dec.c) and
 * pkg.c, which copies the header's sizes and window into the package
 * header. Layout in common/DELTA.md.
 */
#include "delta.h"

#include "cur.h"

#include <string.h>

void delta_params_default(struct delta_params *p)
{
    p->window_bits = DELTA_WINDOW_BITS_DEFAULT;
    p->level = 9;
    p->xf = DELTA_XF_AUTO;
    p->adj = 1;
    p->passes = DELTA_PASSES_DEFAULT;
    p->threads = DELTA_THREADS_MAX;
}

size_t delta_dec_arena_size(int window_bits)
{
    if (window_bits < DELTA_WINDOW_BITS_MIN || window_bits > DELTA_WINDOW_BITS_MAX)
        return 0;
    /* two blocks, each padded to 16 bytes by the arena allocator */
    return DELTA_ZLIB_STATE_BYTES + ((size_t)1 << window_bits) + 32;
}

uint32_t delta_dec_mem(int window_bits)
{
    size_t a = delta_dec_arena_size(window_bits);
    return a ? (uint32_t)(a + sizeof(struct delta_dec)) : 0;
}

void delta_header_encode(const struct delta_info *info, const uint8_t old_hash[CRYPTO_HASH_LEN],
                         const uint8_t new_hash[CRYPTO_HASH_LEN], uint8_t out[DELTA_HEADER_LEN])
{
    memset(out, 0, DELTA_HEADER_LEN);
    memcpy(out, DELTA_MAGIC, 4);
    out[4] = (uint8_t)(info->version ? info->version : DELTA_FORMAT_VERSION);
    out[5] = (uint8_t)info->window_bits;
    out[6] = (uint8_t)info->xf;
    cur_put_be64(out + 8, info->old_size);
    cur_put_be64(out + 16, info->new_size);
    memcpy(out + 24, old_hash, CRYPTO_HASH_LEN);
    memcpy(out + 56, new_hash, CRYPTO_HASH_LEN);
}

enum ota_err delta_info_parse(const uint8_t *buf, size_t len, struct delta_info *info,
                              uint8_t *old_hash, uint8_t *new_hash, char *msg)
{
    struct cur c;
    uint8_t magic[4], hashes[2][CRYPTO_HASH_LEN];
    cur_init(&c, buf, len);
    cur_bytes(&c, magic, sizeof magic);
    unsigned version = cur_u8(&c), wbits = cur_u8(&c), flags = cur_u8(&c), rsv = cur_u8(&c);
    uint64_t old_size = cur_be64(&c), new_size = cur_be64(&c);
    cur_bytes(&c, hashes, sizeof hashes);
    if (c.err)
        return ota_fail(msg, OTA_E_CORRUPT, "delta header: %zu bytes, need %d", len,
                        DELTA_HEADER_LEN);
    if (memcmp(magic, DELTA_MAGIC, 4) != 0)
        return ota_fail(msg, OTA_E_CORRUPT, "delta header: bad magic at offset 0");
    if (version < DELTA_FORMAT_VERSION || version > DELTA_FORMAT_VERSION_ADJ)
        return ota_fail(msg, OTA_E_VERSION, "delta header: format version %u, expected %d..%d",
                        version, DELTA_FORMAT_VERSION, DELTA_FORMAT_VERSION_ADJ);
    if (wbits < DELTA_WINDOW_BITS_MIN || wbits > DELTA_WINDOW_BITS_MAX)
        return ota_fail(msg, OTA_E_CORRUPT, "delta header: window bits %u out of %d..%d", wbits,
                        DELTA_WINDOW_BITS_MIN, DELTA_WINDOW_BITS_MAX);
    /* versions 2 and 3 keep their transform kind in the flags byte */
    unsigned xf = version >= DELTA_FORMAT_VERSION_XF ? flags : 0;
    if (xf >= DELTA_XF_COUNT || flags != xf || rsv != 0)
        return ota_fail(msg, OTA_E_CORRUPT, "delta header: unknown flags 0x%02x%02x at offset 6",
                        flags, rsv);
    if (old_size > DELTA_IMAGE_MAX || new_size > DELTA_IMAGE_MAX)
        return ota_fail(msg, OTA_E_CORRUPT, "delta header: size %llu/%llu exceeds %llu",
                        (unsigned long long)old_size, (unsigned long long)new_size,
                        (unsigned long long)DELTA_IMAGE_MAX);
    info->old_size = old_size;
    info->new_size = new_size;
    info->window_bits = (int)wbits;
    info->mem = delta_dec_mem((int)wbits);
    info->version = (int)version;
    info->xf = (int)xf;
    if (old_hash)
        memcpy(old_hash, hashes[0], CRYPTO_HASH_LEN);
    if (new_hash)
        memcpy(new_hash, hashes[1], CRYPTO_HASH_LEN);
    return OTA_OK;
}
