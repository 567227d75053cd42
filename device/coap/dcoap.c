/* dcoap.c - CoAP message codec (see dcoap.h).
 *
 * Option header nibbles (RFC 7252 3.1): 0..12 literal, 13 = one more byte
 * + 13, 14 = two more bytes + 269, 15 reserved (and 0xFF as a whole byte
 * is the payload marker).
 */
#include "coap/dcoap.h"

#include <string.h>

/* An extended delta or length: *v is the nibble, replaced by its value. */
static int dcoap_ext(const uint8_t *buf, size_t len, size_t *pos, uint32_t *v)
{
    if (*v == 13) {
        if (*pos + 1 > len)
            return -1;
        *v = 13u + buf[(*pos)++];
    } else if (*v == 14) {
        if (*pos + 2 > len)
            return -1;
        *v = 269u + ((uint32_t)buf[*pos] << 8 | buf[*pos + 1]);
        *pos += 2;
    } else if (*v == 15) {
        return -1;
    }
    return 0;
}

static enum odev_err dcoap_parse_options(const uint8_t *buf, size_t len, size_t pos,
                                         struct dcoap_msg *m)
{
    uint32_t num = 0;
    while (pos < len) {
        if (buf[pos] == 0xFF) {
            if (pos + 1 >= len)
                return ODEV_E_CORRUPT; /* a marker must be followed by a payload */
            m->payload = buf + pos + 1;
            m->payload_len = len - pos - 1;
            return ODEV_OK;
        }
        uint32_t delta = buf[pos] >> 4, olen = buf[pos] & 15u;
        pos++;
        if (dcoap_ext(buf, len, &pos, &delta) || dcoap_ext(buf, len, &pos, &olen))
            return ODEV_E_CORRUPT;
        num += delta;
        if (num > 0xFFFFu || olen > len - pos)
            return ODEV_E_CORRUPT;
        if (m->nopt >= DCOAP_OPT_MAX)
            return ODEV_E_LIMIT;
        struct dcoap_opt *o = &m->opt[m->nopt++];
        o->num = (uint16_t)num;
        o->len = (uint16_t)olen;
        o->val = buf + pos;
        pos += olen;
    }
    return ODEV_OK;
}

enum odev_err dcoap_parse(const uint8_t *buf, size_t len, struct dcoap_msg *m)
{
    memset(m, 0, sizeof *m);
    if (len < 4 || (buf[0] >> 6) != 1)
        return ODEV_E_CORRUPT;
    m->type = (buf[0] >> 4) & 3u;
    m->tkl = buf[0] & 15u;
    m->code = buf[1];
    m->mid = (uint16_t)(buf[2] << 8 | buf[3]);
    if (m->tkl > DCOAP_TOKEN_MAX || 4u + m->tkl > len)
        return ODEV_E_CORRUPT;
    memcpy(m->token, buf + 4, m->tkl);
    /* An empty message (code 0.00) is header only (RFC 7252 4.1). */
    if (m->code == 0 && (m->tkl != 0 || len != 4))
        return ODEV_E_CORRUPT;
    return dcoap_parse_options(buf, len, 4u + m->tkl, m);
}

const struct dcoap_opt *dcoap_find(const struct dcoap_msg *m, uint16_t num, unsigned *from)
{
    for (unsigned i = *from; i < m->nopt; i++)
        if (m->opt[i].num == num) {
            *from = i + 1;
            return &m->opt[i];
        }
    *from = m->nopt;
    return NULL;
}

enum odev_err dcoap_uint(const struct dcoap_opt *o, size_t max, uint32_t *v)
{
    uint32_t x = 0;
    if (o->len > max || o->len > 4)
        return ODEV_E_CORRUPT;
    for (unsigned i = 0; i < o->len; i++)
        x = x << 8 | o->val[i];
    *v = x;
    return ODEV_OK;
}

enum odev_err dcoap_block_decode(const struct dcoap_opt *o, struct dcoap_block *b)
{
    uint32_t v;
    if (dcoap_uint(o, 3, &v) != ODEV_OK || (v & 7u) == 7u)
        return ODEV_E_CORRUPT;
    b->num = v >> 4;
    b->more = (v & 8u) != 0;
    b->szx = (uint8_t)(v & 7u);
    return ODEV_OK;
}

size_t dcoap_uint_encode(uint32_t v, uint8_t out[4])
{
    size_t n = v == 0 ? 0 : v < 0x100u ? 1 : v < 0x10000u ? 2 : v < 0x1000000u ? 3 : 4;
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
    return n;
}

/* --- building ------------------------------------------------------- */

static void dcoap_put(struct dcoap_builder *b, const void *p, size_t n)
{
    if (b->err)
        return;
    if (n > b->cap - b->len) {
        b->err = ODEV_E_LIMIT;
        return;
    }
    if (n)
        memcpy(b->buf + b->len, p, n);
    b->len += n;
}

void dcoap_begin(struct dcoap_builder *b, uint8_t *buf, size_t cap, uint8_t type, uint8_t code,
                 uint16_t mid, const uint8_t *token, size_t tkl)
{
    uint8_t h[4] = {(uint8_t)(0x40u | (type & 3u) << 4 | (tkl & 15u)), code, (uint8_t)(mid >> 8),
                    (uint8_t)mid};
    memset(b, 0, sizeof *b);
    b->buf = buf;
    b->cap = cap;
    if (tkl > DCOAP_TOKEN_MAX)
        b->err = ODEV_E_INVAL;
    dcoap_put(b, h, sizeof h);
    dcoap_put(b, token, tkl);
}

/* The nibble for v and its extension bytes in ext (returns their count). */
static unsigned dcoap_nibble(uint32_t v, uint8_t *nib, uint8_t ext[2])
{
    if (v < 13) {
        *nib = (uint8_t)v;
        return 0;
    }
    if (v < 269) {
        *nib = 13;
        ext[0] = (uint8_t)(v - 13);
        return 1;
    }
    *nib = 14;
    ext[0] = (uint8_t)((v - 269) >> 8);
    ext[1] = (uint8_t)(v - 269);
    return 2;
}

void dcoap_opt(struct dcoap_builder *b, uint16_t num, const void *val, size_t len)
{
    uint8_t h[5], dn, ln;
    if (num < b->last || b->has_payload || len > 0xFFFFu - 269u) {
        b->err = b->err ? b->err : ODEV_E_INVAL;
        return;
    }
    unsigned nd = dcoap_nibble(num - b->last, &dn, h + 1);
    unsigned nl = dcoap_nibble((uint32_t)len, &ln, h + 1 + nd);
    h[0] = (uint8_t)(dn << 4 | ln);
    dcoap_put(b, h, 1 + nd + nl);
    dcoap_put(b, val, len);
    b->last = num;
}

void dcoap_opt_uint(struct dcoap_builder *b, uint16_t num, uint32_t v)
{
    uint8_t buf[4];
    dcoap_opt(b, num, buf, dcoap_uint_encode(v, buf));
}

void dcoap_opt_str(struct dcoap_builder *b, uint16_t num, const char *s)
{
    dcoap_opt(b, num, s, strlen(s));
}

void dcoap_opt_block(struct dcoap_builder *b, uint16_t num, const struct dcoap_block *blk)
{
    if (blk->num > DCOAP_BLOCK_NUM_MAX || blk->szx > DCOAP_SZX_MAX) {
        b->err = b->err ? b->err : ODEV_E_INVAL;
        return;
    }
    dcoap_opt_uint(b, num, blk->num << 4 | (blk->more ? 8u : 0u) | blk->szx);
}

void dcoap_payload(struct dcoap_builder *b, const void *p, size_t len)
{
    static const uint8_t marker = 0xFF;
    if (len == 0)
        return;
    if (b->has_payload) {
        b->err = b->err ? b->err : ODEV_E_INVAL;
        return;
    }
    b->has_payload = 1;
    dcoap_put(b, &marker, 1);
    dcoap_put(b, p, len);
}

enum odev_err dcoap_end(struct dcoap_builder *b, size_t *len)
{
    *len = b->err ? 0 : b->len;
    return (enum odev_err)b->err;
}
