/* ddelta_xf.c - executable address transforms of delta formats v2 and v3.
 *
 * A call written as "jump N bytes from here" changes wherever code above
 * it or its target moved; written as "jump to absolute A" it changes only
 * when the target moved, and then identically at every call site, which
 * deflate turns into matches. The encoder matches and diffs the transformed
 * images; the decoder transforms old bytes as it reads them and undoes the
 * transform on its output. Each kind keeps the bits that recognise an
 * instruction unchanged and maps the displacement bijectively (modulo its
 * field width), so recognition gives the same answer on either side and the
 * transform inverts exactly whatever the bytes are. Units are recognised
 * in one forward pass from the start of a region: a recognised unit is
 * skipped whole, so overlapping candidates (x86) resolve the same way in
 * both directions. Layouts in common/DELTA.md.
 */
#include "ddelta.h"

#define XF_ADJ_UNIT 4 /* an ADRP */
#define XF_ADJ_MASK 0x1FFFFFu
enum { XF_NONE, XF_X86, XF_ARM, XF_THUMB, XF_ARM64 }; /* common/DELTA.md's kinds */

static uint32_t xf_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void xf_put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* x86 CALL/JMP rel32 (E8/E9) whose displacement fits 25 signed bits (top
 * byte 00 or FF, as near calls inside one binary do): the displacement plus
 * the offset, wrapped to 25 bits, keeps the top byte 00/FF. */
static int xf_x86(uint8_t *p, uint32_t pos, int undo)
{
    if ((p[0] != 0xE8 && p[0] != 0xE9) || (p[4] != 0x00 && p[4] != 0xFF))
        return 0;
    uint32_t v = xf_le32(p + 1) + (1u << 24), k = pos;
    v = (undo ? v - k : v + k) & 0x1FFFFFFu;
    xf_put_le32(p + 1, v - (1u << 24));
    return 1;
}

/* ARM (A32) BL, condition always: imm24 in words. */
static int xf_arm(uint8_t *p, uint32_t pos, int undo)
{
    if (p[3] != 0xEB)
        return 0;
    uint32_t w = xf_le32(p), k = pos >> 2;
    uint32_t v = (undo ? w - k : w + k) & 0xFFFFFFu;
    xf_put_le32(p, (w & 0xFF000000u) | v);
    return 1;
}

/* Thumb-2 BL with J1 = J2 = 1 (targets within +-4 MiB, every BL of a
 * firmware): S:imm10:imm11 in halfwords. Requiring J1 = J2 = 1 also means
 * the second halfword can never start another BL, so units never overlap. */
static int xf_thumb(uint8_t *p, uint32_t pos, int undo)
{
    if ((p[1] & 0xF8) != 0xF0 || (p[3] & 0xF8) != 0xF8)
        return 0;
    uint32_t hi = (uint32_t)p[0] | (uint32_t)p[1] << 8, lo = (uint32_t)p[2] | (uint32_t)p[3] << 8;
    uint32_t v = (hi & 0x7FF) << 11 | (lo & 0x7FF), k = pos >> 1;
    v = (undo ? v - k : v + k) & 0x3FFFFFu;
    hi = 0xF000 | v >> 11;
    lo = 0xF800 | (v & 0x7FF);
    p[0] = (uint8_t)hi;
    p[1] = (uint8_t)(hi >> 8);
    p[2] = (uint8_t)lo;
    p[3] = (uint8_t)(lo >> 8);
    return 1;
}

/* AArch64 BL (imm26 in words) and ADRP (immhi:immlo in 4 KiB pages). */
static int xf_arm64(uint8_t *p, uint32_t pos, int undo)
{
    uint32_t w = xf_le32(p);
    if ((w & 0xFC000000u) == 0x94000000u) {
        uint32_t k = pos >> 2, v = (undo ? w - k : w + k) & 0x3FFFFFFu;
        xf_put_le32(p, 0x94000000u | v);
        return 1;
    }
    if ((w & 0x9F000000u) == 0x90000000u) {
        uint32_t imm = ((w >> 5) & 0x7FFFFu) << 2 | ((w >> 29) & 3u), k = pos >> 12;
        imm = (undo ? imm - k : imm + k) & 0x1FFFFFu;
        xf_put_le32(p, (w & 0x9F00001Fu) | (imm & 3u) << 29 | (imm >> 2) << 5);
        return 1;
    }
    return 0;
}

/* AArch64 ADRP: k more pages, modulo 2^21 (format v3's per-record adjust). */
static void xf_adrp_add(uint8_t *p, uint32_t k)
{
    uint32_t w = xf_le32(p);
    if ((w & 0x9F000000u) != 0x90000000u)
        return;
    uint32_t imm = ((w >> 5) & 0x7FFFFu) << 2 | ((w >> 29) & 3u);
    imm = (imm + k) & XF_ADJ_MASK;
    xf_put_le32(p, (w & 0x9F00001Fu) | (imm & 3u) << 29 | (imm >> 2) << 5);
}

struct xf_kind {
    unsigned len, align;
    int (*apply)(uint8_t *p, uint32_t pos, int undo);
};

static const struct xf_kind xf_kinds[] = {
    [XF_X86] = {5, 1, xf_x86},
    [XF_ARM] = {4, 4, xf_arm},
    [XF_THUMB] = {4, 2, xf_thumb},
    [XF_ARM64] = {4, 4, xf_arm64},
};

unsigned ddelta_xf_unit_len(unsigned kind)
{
    return kind > XF_NONE && kind < DDELTA_XF_COUNT ? xf_kinds[kind].len : 1;
}

size_t ddelta_xf_run(unsigned kind, uint8_t *buf, size_t n, uint32_t pos, int undo, int final)
{
    if (kind <= XF_NONE || kind >= DDELTA_XF_COUNT)
        return n;
    const struct xf_kind *x = &xf_kinds[kind];
    size_t i = (x->align - pos % x->align) % x->align;
    while (i < n) {
        if (n - i < x->len)
            return final ? n : i;
        if (x->apply(buf + i, pos + i, undo))
            i += x->len;
        else
            i += x->align;
    }
    return n < i ? n : i;
}

/* AArch64 units (kind 4) and ADRPs are both 4 bytes at 4-aligned offsets,
 * so the transform and the adjust walk one grid, unit by unit. */
size_t ddelta_xf_old_run(unsigned kind, int xf, uint32_t adj, uint8_t *buf, size_t n,
                         uint32_t pos, int final)
{
    if (adj == 0)
        return xf ? ddelta_xf_run(kind, buf, n, pos, 0, final) : n;
    size_t i = (XF_ADJ_UNIT - pos % XF_ADJ_UNIT) % XF_ADJ_UNIT;
    while (i < n) {
        if (n - i < XF_ADJ_UNIT)
            return final ? n : i;
        if (xf && kind == XF_ARM64)
            xf_arm64(buf + i, pos + i, 0);
        xf_adrp_add(buf + i, adj);
        i += XF_ADJ_UNIT;
    }
    return n < i ? n : i;
}
