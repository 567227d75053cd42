/* port_minimal.c - the smallest complete port of the device library (see
 * port_minimal.h): every required hook of struct odev_port over one
 * memory-mapped NOR region, the journal in two sectors (the library's
 * journal/djslot.c), the link and the clock as placeholders. The
 * optional hooks (log, install, installed, backends, random) stay NULL:
 * the library copies STAGING over the slots itself and uses its own
 * inflater and Ed25519ph. Built for Cortex-M4 with -Werror by `make
 * device-fw` and run on the host against the fake server by
 * tests/test_device_minimal.c.
 */
#include "port_minimal.h"

#include <string.h>

#include "journal/djslot.h"

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

/* --- journal: the library's two-sector record (journal/djslot.h) ---------- */

static uint8_t *minimal_j_at(const struct minimal_port *m, unsigned sector, uint32_t off,
                             size_t len)
{
    if (sector > 1 || off > m->erase || len > m->erase - off)
        return NULL;
    return m->base + m->journal_off + sector * m->erase + off;
}

static int minimal_j_read(void *ctx, unsigned sector, uint32_t off, void *buf, size_t len)
{
    const uint8_t *src = minimal_j_at(ctx, sector, off, len);
    if (!src)
        return ODEV_E_LIMIT;
    memcpy(buf, src, len);
    return ODEV_OK;
}

static int minimal_j_program(void *ctx, unsigned sector, uint32_t off, const void *buf,
                             size_t len)
{
    uint8_t *dst = minimal_j_at(ctx, sector, off, len);
    return dst ? minimal_flash_program(dst, buf, len) : ODEV_E_LIMIT;
}

static int minimal_j_erase(void *ctx, unsigned sector)
{
    const struct minimal_port *m = ctx;
    uint8_t *dst = minimal_j_at(m, sector, 0, m->erase);
    return dst ? minimal_flash_erase(dst, m->erase) : ODEV_E_LIMIT;
}

static int minimal_journal_load(void *ctx, uint8_t rec[ODEV_JOURNAL_LEN])
{
    const struct djslot_flash j = {ctx, minimal_j_read, minimal_j_program, minimal_j_erase};
    return djslot_load(&j, rec);
}

static int minimal_journal_save(void *ctx, const uint8_t rec[ODEV_JOURNAL_LEN])
{
    const struct djslot_flash j = {ctx, minimal_j_read, minimal_j_program, minimal_j_erase};
    return djslot_save(&j, rec);
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
