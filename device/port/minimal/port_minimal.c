/* port_minimal.c - the smallest complete port of the device library (see
 * port_minimal.h): every required hook of struct odev_port over one
 * memory-mapped NOR region, the journal as two sectors, the link and the
 * clock as placeholders. The optional hooks (log, install, installed,
 * backends, random) stay NULL: the library copies STAGING over the slots
 * itself and uses its own inflater and Ed25519ph. Built for Cortex-M4
 * with -Werror by `make device-fw` and run on the host against the fake
 * server by tests/test_device_minimal.c.
 */
#include "port_minimal.h"

#include <string.h>

/* --- PORT: placeholders (weak: define your own to replace them) ---------- */

__attribute__((weak)) int minimal_link_send(const uint8_t *buf, size_t len)
{
    (void)buf;
    (void)len;
    return ODEV_E_NET; /* PORT: hand the datagram to the modem (e.g. AT+NSOST) */
}

__attribute__((weak)) int minimal_link_recv(uint8_t *buf, size_t cap, size_t *len, uint32_t wait_ms)
{
    (void)buf;
    (void)cap;
    (void)len;
    (void)wait_ms;
    return ODEV_E_NET; /* PORT: wait for the modem's datagram (e.g. +NSONMI, AT+NSORF) */
}

__attribute__((weak)) uint32_t minimal_millis(void)
{
    static uint32_t ticks;
    return ticks += 10; /* PORT: a SysTick millisecond counter */
}

/* PORT: the flash controller's program call. NOR rule: bits only clear. */
__attribute__((weak)) int minimal_flash_program(uint8_t *dst, const uint8_t *src, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if ((dst[i] & src[i]) != src[i])
            return ODEV_E_IO; /* would set a bit: not erased */
        dst[i] = src[i];
    }
    return ODEV_OK;
}

/* PORT: the flash controller's sector erase (len is whole sectors). */
__attribute__((weak)) int minimal_flash_erase(uint8_t *sector, uint32_t len)
{
    memset(sector, 0xFF, len);
    return ODEV_OK;
}

/* --- areas ------------------------------------------------------------------ */

static uint8_t *minimal_at(const struct minimal_port *m, enum odev_area a, uint32_t off,
                           size_t len)
{
    if ((unsigned)a >= ODEV_AREA__COUNT || off > m->size[a] || len > m->size[a] - off)
        return NULL;
    return m->base + m->off[a] + off;
}

static int minimal_read(void *ctx, enum odev_area a, uint32_t off, void *buf, size_t len)
{
    const uint8_t *src = minimal_at(ctx, a, off, len);
    if (!src)
        return ODEV_E_LIMIT;
    memcpy(buf, src, len);
    return ODEV_OK;
}

static int minimal_write(void *ctx, enum odev_area a, uint32_t off, const void *buf, size_t len)
{
    uint8_t *dst = minimal_at(ctx, a, off, len);
    return dst ? minimal_flash_program(dst, buf, len) : ODEV_E_LIMIT;
}

static int minimal_erase(void *ctx, enum odev_area a, uint32_t off, uint32_t len)
{
    const struct minimal_port *m = ctx;
    uint8_t *dst = minimal_at(m, a, off, len);
    if (!dst || (off | len) & (m->erase - 1))
        return ODEV_E_INVAL;
    return minimal_flash_erase(dst, len);
}

static int minimal_sync(void *ctx, enum odev_area a)
{
    (void)ctx;
    (void)a;
    return ODEV_OK; /* PORT: wait for the controller's busy flag if writes are posted */
}

/* --- journal: two sectors, the newer complete one wins ----------------------- */

/* A sector: sequence (4), the record (128), FNV-1a of both (4), then the
 * seal written last; a cut before the seal leaves the other sector in
 * charge. */
#define MINIMAL_SEAL 0x4F444556u /* "ODEV" */
#define MINIMAL_J_LEN (4 + ODEV_JOURNAL_LEN + 4)

static uint32_t minimal_fnv(const uint8_t *p, size_t n)
{
    uint32_t h = 2166136261u;
    while (n--)
        h = (h ^ *p++) * 16777619u;
    return h;
}

/* The sequence number of a sealed, intact sector; 0 = none. */
static uint32_t minimal_j_seq(const uint8_t *s)
{
    uint32_t seq, sum, seal;
    memcpy(&seq, s, 4);
    memcpy(&sum, s + 4 + ODEV_JOURNAL_LEN, 4);
    memcpy(&seal, s + MINIMAL_J_LEN, 4);
    return seal == MINIMAL_SEAL && sum == minimal_fnv(s, 4 + ODEV_JOURNAL_LEN) ? seq : 0;
}

static uint8_t *minimal_j_sector(const struct minimal_port *m, int i)
{
    return m->base + m->journal_off + (uint32_t)i * m->erase;
}

/* Index of the newer valid sector, -1 = none. */
static int minimal_j_newest(const struct minimal_port *m)
{
    uint32_t a = minimal_j_seq(minimal_j_sector(m, 0)), b = minimal_j_seq(minimal_j_sector(m, 1));
    if (!a && !b)
        return -1;
    return (int32_t)(b - a) > 0 || !a ? 1 : 0;
}

static int minimal_journal_load(void *ctx, uint8_t rec[ODEV_JOURNAL_LEN])
{
    int i = minimal_j_newest(ctx);
    if (i < 0)
        return ODEV_E_NOTFOUND;
    memcpy(rec, minimal_j_sector(ctx, i) + 4, ODEV_JOURNAL_LEN);
    return ODEV_OK;
}

static int minimal_journal_save(void *ctx, const uint8_t rec[ODEV_JOURNAL_LEN])
{
    const struct minimal_port *m = ctx;
    int i = minimal_j_newest(m);
    uint32_t seq = i < 0 ? 1 : minimal_j_seq(minimal_j_sector(m, i)) + 1, seal = MINIMAL_SEAL;
    uint8_t buf[MINIMAL_J_LEN];
    uint8_t *s = minimal_j_sector(m, i == 0 ? 1 : 0);
    if (!seq)
        seq = 1; /* 0 means "none" */
    memcpy(buf, &seq, 4);
    memcpy(buf + 4, rec, ODEV_JOURNAL_LEN);
    uint32_t sum = minimal_fnv(buf, 4 + ODEV_JOURNAL_LEN);
    memcpy(buf + 4 + ODEV_JOURNAL_LEN, &sum, 4);
    int e = minimal_flash_erase(s, m->erase);
    if (e == ODEV_OK)
        e = minimal_flash_program(s, buf, sizeof buf);
    if (e == ODEV_OK)
        e = minimal_flash_program(s + MINIMAL_J_LEN, (const uint8_t *)&seal, 4);
    return e;
}

/* --- link and clock -------------------------------------------------------------- */

static int minimal_send(void *ctx, const uint8_t *buf, size_t len)
{
    (void)ctx;
    return minimal_link_send(buf, len);
}

static int minimal_recv(void *ctx, uint8_t *buf, size_t cap, size_t *len, uint32_t wait_ms)
{
    (void)ctx;
    return minimal_link_recv(buf, cap, len, wait_ms);
}

static uint32_t minimal_now(void *ctx)
{
    (void)ctx;
    return minimal_millis();
}

void minimal_port_bind(struct minimal_port *m, struct odev_port *p, struct odev_config *c)
{
    *p = (struct odev_port){
        .ctx = m, .send = minimal_send, .recv = minimal_recv, .now_ms = minimal_now,
        .read = minimal_read, .write = minimal_write, .erase = minimal_erase, .sync = minimal_sync,
        .journal_load = minimal_journal_load, .journal_save = minimal_journal_save,
    };
    for (int a = 0; a < ODEV_AREA__COUNT; a++)
        c->area[a] = (struct odev_geometry){m->size[a], m->erase};
}
