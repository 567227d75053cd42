/* block.c - Block2 option parsing, slicing and encoding (block.h).
 *
 * Offsets are computed in 64 bits from a 20-bit block number and a shift
 * of at most 10, so no product can overflow.
 */
#include "block.h"

enum ota_err srv_block_parse(const uint8_t *val, size_t len, struct srv_block *b, char *msg)
{
    uint32_t v = 0;
    if (len > 3)
        return ota_fail(msg, OTA_E_INVAL, "Block2: option length %zu exceeds 3", len);
    for (size_t i = 0; i < len; i++)
        v = v << 8 | val[i];
    b->num = v >> 4;
    b->more = (v >> 3) & 1;
    b->szx = v & 7;
    if (b->szx > SRV_SZX_MAX)
        return ota_fail(msg, OTA_E_INVAL, "Block2: szx 7 (BERT) not supported over UDP");
    return OTA_OK;
}

int srv_block_szx(unsigned size)
{
    for (int szx = 0; szx <= SRV_SZX_MAX; szx++)
        if (size == 16u << szx)
            return szx;
    return -1;
}

enum ota_err srv_block_slice(uint64_t total, const struct srv_block *req, unsigned max_szx,
                             struct srv_slice *s, char *msg)
{
    unsigned szx = max_szx > SRV_SZX_MAX ? SRV_SZX_MAX : max_szx;
    uint64_t off = 0;
    if (req) {
        off = (uint64_t)req->num << (req->szx + 4);
        if (req->szx < szx)
            szx = req->szx;
    }
    if (off >= total)
        return ota_fail(msg, OTA_E_LIMIT, "Block2: block %u of size %u starts at %llu, package "
                        "has %llu bytes", req ? (unsigned)req->num : 0u,
                        req ? 16u << req->szx : 16u << szx, (unsigned long long)off,
                        (unsigned long long)total);
    uint64_t size = 16u << szx;
    /* off is a multiple of size: the requested size is >= the chosen one. */
    uint64_t num = off >> (szx + 4);
    if (num > SRV_BLOCK_NUM_MAX)
        return ota_fail(msg, OTA_E_LIMIT, "Block2: block number %llu needs more than 20 bits",
                        (unsigned long long)num);
    s->off = off;
    s->len = (size_t)(total - off < size ? total - off : size);
    s->blk.num = (uint32_t)num;
    s->blk.szx = szx;
    s->blk.more = off + s->len < total;
    return OTA_OK;
}

size_t srv_block_encode(const struct srv_block *b, uint8_t out[3])
{
    uint32_t v = b->num << 4 | (b->more ? 8u : 0u) | (b->szx & 7u);
    if (v < 0x100) {
        out[0] = (uint8_t)v;
        return 1;
    }
    if (v < 0x10000) {
        out[0] = (uint8_t)(v >> 8);
        out[1] = (uint8_t)v;
        return 2;
    }
    out[0] = (uint8_t)(v >> 16);
    out[1] = (uint8_t)(v >> 8);
    out[2] = (uint8_t)v;
    return 3;
}
