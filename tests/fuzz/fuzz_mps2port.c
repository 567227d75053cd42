/* fuzz_mps2port.c - libFuzzer target: the mps2 port's two parsers of
 * outside input, compiled for the host.
 *
 * First byte even: the rest is what the modem sends back on the UART
 * (device/port/mps2/bc95.c): open a socket, send a datagram, then receive
 * until a timeout or error; every datagram handed out must fit the
 * (deliberately small) buffer. First byte odd: the rest is a provisioning
 * sector (prov.c); a record that parses must have its required fields.
 */
#include <stdint.h>
#include <string.h>

#include "port/mps2/bc95.h"
#include "port/mps2/nor.h"
#include "port/mps2/prov.h"

struct fz_stream {
    const uint8_t *p;
    size_t left;
    uint32_t clock;
};

static int fz_getc(void *ctx, uint32_t deadline_ms)
{
    struct fz_stream *s = ctx;
    (void)deadline_ms;
    if (s->left == 0)
        return -1; /* the deadline passes when the input ends */
    s->left--;
    return *s->p++;
}

static void fz_write(void *ctx, const void *buf, size_t len)
{
    (void)ctx;
    (void)buf;
    (void)len;
}

static uint32_t fz_now(void *ctx)
{
    return ((struct fz_stream *)ctx)->clock++;
}

static void fz_modem(const uint8_t *data, size_t size)
{
    struct fz_stream s = {data, size, 0};
    const struct bc95_io io = {&s, fz_getc, fz_write, fz_now};
    struct bc95 m;
    uint8_t buf[64];
    size_t len;
    if (bc95_open(&m, &io, "127.0.0.1", 5683, 0) != BC95_OK)
        return;
    if (bc95_send(&m, (const uint8_t *)"\x40\x01\x00\x01", 4) != BC95_OK)
        return;
    for (int i = 0; i < 64; i++) {
        len = sizeof buf + 1;
        if (bc95_recv(&m, buf, sizeof buf, &len, 10) != BC95_OK)
            return;
        if (len == 0 || len > sizeof buf)
            __builtin_trap();
    }
}

static void fz_prov(const uint8_t *data, size_t size)
{
    static struct prov p;
    const char *why = NULL;
    memset(&p, 0, sizeof p);
    nor_geometry(p.cfg.area);
    if (prov_parse((const char *)data, size, &p, &why) != ODEV_OK) {
        if (!why || !*why)
            __builtin_trap();
        return;
    }
    if (!p.cfg.project[0] || !p.server_port || p.cfg.npubkeys < 1 ||
        p.cfg.npubkeys > ODEV_PUBKEYS_MAX || strlen(p.server_ip) >= sizeof p.server_ip ||
        p.cfg.factory.core_len > NOR_CORE_SIZE)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (data[0] & 1)
        fz_prov(data + 1, size - 1);
    else
        fz_modem(data + 1, size - 1);
    return 0;
}
