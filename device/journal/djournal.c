/* djournal.c - encode and check the 128-byte journal record (see djournal.h).
 *
 * The record decides what recovery copies over the running images, so
 * decoding validates every field before the caller may act on it.
 */
#include "journal/djournal.h"

#include "crypto/dsha256.h"

#include <string.h>

#define DJ_BODY (ODEV_JOURNAL_LEN - 8)
#define DJ_CORE_MAX 9999u    /* "0017": four digits */
#define DJ_SCRIPT_MAX 99999u /* each script field */

static const char dj_wide[] = "journal: over 32 bits";

static const char *const djournal_names[DJ__COUNT] = {
    "idle", "downloading", "downloaded", "applying", "committing", "committed",
};

const char *djournal_phase_name(unsigned phase)
{
    return phase < DJ__COUNT ? djournal_names[phase] : "?";
}

void djournal_init(struct djournal *j)
{
    memset(j, 0, sizeof *j);
}

static void dj_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t dj_get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void dj_check(const uint8_t *rec, uint8_t out[DSHA256_LEN])
{
    struct dsha256 c;
    dsha256_init(&c);
    dsha256_update(&c, rec, DJ_BODY);
    dsha256_final(&c, out);
}

static void dj_put_script(uint8_t *p, const uint32_t s[3])
{
    for (int i = 0; i < 3; i++)
        dj_put32(p + 4 * i, s[i]);
}

void djournal_encode(const struct djournal *j, uint8_t out[ODEV_JOURNAL_LEN])
{
    uint8_t sum[DSHA256_LEN];
    memset(out, 0, ODEV_JOURNAL_LEN);
    memcpy(out, "OTAJ", 4);
    out[4] = DJOURNAL_FORMAT;
    out[5] = j->phase;
    out[6] = j->slots;
    out[7] = j->etag_len;
    out[8] = (uint8_t)(j->block_size >> 8);
    out[9] = (uint8_t)j->block_size;
    out[10] = (uint8_t)(j->boots >> 8);
    out[11] = (uint8_t)j->boots;
    memcpy(out + 12, j->etag, ODEV_ETAG_MAX);
    dj_put32(out + 24, j->offset); /* u64 fields: the high word stays 0 */
    dj_put32(out + 32, j->size);
    memcpy(out + 36, j->img.core_name, ODEV_NAME_MAX);
    memcpy(out + 52, j->img.chip, ODEV_NAME_MAX);
    dj_put32(out + 68, j->img.core);
    dj_put_script(out + 72, j->img.script);
    dj_put32(out + 84, (uint32_t)(j->bitmap >> 32));
    dj_put32(out + 88, (uint32_t)j->bitmap);
    dj_put32(out + 92, j->img.core_len);
    dj_put32(out + 96, j->img.script_len);
    out[100] = j->flags;
    out[101] = j->report;
    out[102] = j->reason;
    dj_put32(out + 104, j->from_core);
    dj_put_script(out + 108, j->from_script);
    dj_check(out, sum);
    memcpy(out + DJ_BODY, sum, 8);
}

/* A fixed-width name: NUL-terminated, empty or 1..15 of [A-Za-z0-9_-]. */
static int dj_name_ok(const char *s)
{
    size_t n = 0;
    while (n < ODEV_NAME_MAX && s[n]) {
        char c = s[n++];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return n < ODEV_NAME_MAX;
}

static int dj_versions_ok(uint32_t core, const uint32_t s[3])
{
    return core <= DJ_CORE_MAX && s[0] <= DJ_SCRIPT_MAX && s[1] <= DJ_SCRIPT_MAX &&
           s[2] <= DJ_SCRIPT_MAX;
}

static void dj_get_script(const uint8_t *p, uint32_t s[3])
{
    for (int i = 0; i < 3; i++)
        s[i] = dj_get32(p + 4 * i);
}

/* Bits name whole blocks inside the package, after the prefix. */
static int dj_bitmap_ok(const struct djournal *j)
{
    if (!j->bitmap)
        return 1;
    uint32_t bs = j->block_size, top = 0;
    for (uint64_t b = j->bitmap; b; b >>= 1)
        top++;
    return bs != 0 && !(j->bitmap & 1u) && j->offset % bs == 0 && j->phase == DJ_DOWNLOADING &&
           j->size > j->offset && (uint64_t)(top - 1) * bs < (uint64_t)(j->size - j->offset);
}

static const char *dj_fields(const uint8_t *b, struct djournal *j)
{
    j->phase = b[5];
    j->slots = b[6];
    j->etag_len = b[7];
    j->block_size = (uint16_t)(b[8] << 8 | b[9]);
    j->boots = (uint16_t)(b[10] << 8 | b[11]);
    memcpy(j->etag, b + 12, ODEV_ETAG_MAX);
    if (dj_get32(b + 20) || dj_get32(b + 28))
        return dj_wide;
    j->offset = dj_get32(b + 24);
    j->size = dj_get32(b + 32);
    memcpy(j->img.core_name, b + 36, ODEV_NAME_MAX);
    memcpy(j->img.chip, b + 52, ODEV_NAME_MAX);
    j->img.core = dj_get32(b + 68);
    dj_get_script(b + 72, j->img.script);
    j->bitmap = (uint64_t)dj_get32(b + 84) << 32 | dj_get32(b + 88);
    j->img.core_len = dj_get32(b + 92);
    j->img.script_len = dj_get32(b + 96);
    j->flags = b[100];
    j->report = b[101];
    j->reason = b[102];
    j->from_core = dj_get32(b + 104);
    dj_get_script(b + 108, j->from_script);
    if (j->phase >= DJ__COUNT)
        return "journal: bad phase";
    if ((j->slots & ~(DJ_SLOT_CORE | DJ_SLOT_SCRIPT)) || j->etag_len > ODEV_ETAG_MAX)
        return "journal: bad slots";
    if (j->block_size > 1024 || (j->block_size & (j->block_size - 1u)))
        return "journal: bad block size";
    if (j->size && j->offset > j->size)
        return "journal: bad offset";
    if (!dj_name_ok(j->img.core_name) || !dj_name_ok(j->img.chip))
        return "journal: bad name";
    if (!dj_versions_ok(j->img.core, j->img.script) ||
        !dj_versions_ok(j->from_core, j->from_script))
        return "journal: bad version";
    if ((j->flags & ~(DJ_F_REPORT | DJ_F_IMAGES)) || b[103])
        return "journal: bad flags";
    if (!dj_bitmap_ok(j))
        return "journal: bad bitmap";
    if (j->phase == DJ_COMMITTING && (!j->slots || !j->img.core_name[0] || !j->img.chip[0]))
        return "journal: bad commit";
    return NULL;
}

enum odev_err djournal_decode(const uint8_t *buf, size_t len, struct djournal *j,
                              const char **why)
{
    uint8_t sum[DSHA256_LEN];
    djournal_init(j);
    if (len != ODEV_JOURNAL_LEN) {
        *why = "journal: wrong length";
        return ODEV_E_CORRUPT;
    }
    dj_check(buf, sum);
    if (memcmp(sum, buf + DJ_BODY, 8) != 0) {
        *why = "journal: bad check";
        return ODEV_E_CORRUPT;
    }
    if (memcmp(buf, "OTAJ", 4) != 0 || buf[4] != DJOURNAL_FORMAT) {
        *why = "journal: bad magic";
        return ODEV_E_CORRUPT;
    }
    const char *bad = dj_fields(buf, j);
    if (!bad)
        return ODEV_OK;
    *why = bad;
    djournal_init(j);
    return bad == dj_wide ? ODEV_E_LIMIT : ODEV_E_CORRUPT;
}
