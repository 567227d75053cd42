/* delta.c - the delta stream's plain header and memory sizing.
 *
 * Shared by the encoder (delta_enc.c), the decoder (delta_dec.c) and
 * pkg.c, which copies the header's sizes and window into the package
 * header. Layout in common/DELTA.md.
 */
#include "delta.h"

#include "cur.h"
#include "odev.h"

#include <string.h>

void delta_params_default(struct delta_params *p)
{
    p->window_bits = DELTA_WINDOW_BITS_DEFAULT;
    p->level = 9;
    p->xf = DELTA_XF_AUTO;
    p->adj = 1;
    p->passes = DELTA_PASSES_DEFAULT;
    p->threads = DELTA_THREADS_MAX;
    p->split = 1;
}

size_t delta_dec_arena_size(int window_bits)
{
    if (window_bits < DELTA_WINDOW_BITS_MIN || window_bits > DELTA_WINDOW_BITS_MAX)
        return 0;
    return DBACK_ZLIB_ARENA(window_bits) + ((size_t)1 << ddelta_ctl_wbits((unsigned)window_bits));
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
    if (info->version == DELTA_FORMAT_VERSION_SPLIT)
        out[7] = (uint8_t)ddelta_ctl_wbits((unsigned)info->window_bits);
    cur_put_be64(out + 8, info->old_size);
    cur_put_be64(out + 16, info->new_size);
    memcpy(out + 24, old_hash, CRYPTO_HASH_LEN);
    memcpy(out + 56, new_hash, CRYPTO_HASH_LEN);
}

/* The device's header parse (one implementation), with the host's
 * OTA_E_VERSION for an unknown format version. */
enum ota_err delta_info_parse(const uint8_t *buf, size_t len, struct delta_info *info,
                              uint8_t *old_hash, uint8_t *new_hash, char *msg)
{
    struct ddelta_info di;
    const char *why;
    if (ddelta_header_parse(buf, len, &di, &why) != ODEV_OK)
        return ota_fail(msg, why == ddelta_why_version ? OTA_E_VERSION : OTA_E_CORRUPT, "%s",
                        why);
    info->old_size = di.old_size;
    info->new_size = di.new_size;
    info->window_bits = di.wbits;
    info->mem = delta_dec_mem(di.wbits);
    info->version = di.version;
    info->xf = di.xf;
    if (old_hash)
        memcpy(old_hash, di.old_hash, CRYPTO_HASH_LEN);
    if (new_hash)
        memcpy(new_hash, di.new_hash, CRYPTO_HASH_LEN);
    return OTA_OK;
}
