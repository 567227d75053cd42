/* fuzz_dcoap.c - libFuzzer target: the device library's parsers.
 *
 * 1. The input as one CoAP datagram: dcoap_parse must accept or refuse it
 *    without reading outside it; whatever it accepts, dcoap's builder
 *    writes back byte for byte (the encoding has one form per message).
 * 2. The first 128 bytes as a journal record: a record that decodes
 *    encodes back to the same bytes.
 * 3. The input as the server's side of a download: pieces ([len:2][bytes])
 *    handed to ddl_download as answers, each carrying the token of the
 *    latest request (so the engine's checks are reached, not just its
 *    token filter), on a virtual clock. It must end (the block timeout)
 *    without writing outside the area or a write the area refuses.
 */
#include <stdint.h>
#include <string.h>

#include "coap/dcoap.h"
#include "dl/ddl.h"
#include "journal/djournal.h"

#define FZ_AREA 16384u

static void fz_codec(const uint8_t *data, size_t size)
{
    static uint8_t out[20000];
    struct dcoap_msg m;
    struct dcoap_builder b;
    size_t len;
    if (dcoap_parse(data, size, &m) != ODEV_OK)
        return;
    dcoap_begin(&b, out, sizeof out, m.type, m.code, m.mid, m.token, m.tkl);
    for (unsigned i = 0; i < m.nopt; i++)
        dcoap_opt(&b, m.opt[i].num, m.opt[i].val, m.opt[i].len);
    if (m.payload)
        dcoap_payload(&b, m.payload, m.payload_len);
    if (dcoap_end(&b, &len) != ODEV_OK || len != size || memcmp(out, data, size) != 0)
        __builtin_trap();
    for (unsigned i = 0; i < m.nopt; i++) {
        struct dcoap_block blk;
        uint32_t v;
        (void)dcoap_block_decode(&m.opt[i], &blk);
        (void)dcoap_uint(&m.opt[i], 4, &v);
    }
    if (m.payload)
        (void)ddl_diag_code(m.payload, m.payload_len);
}

static void fz_journal(const uint8_t *data, size_t size)
{
    struct djournal j;
    uint8_t rec[ODEV_JOURNAL_LEN];
    const char *why;
    if (size < ODEV_JOURNAL_LEN || djournal_decode(data, ODEV_JOURNAL_LEN, &j, &why) != ODEV_OK)
        return;
    djournal_encode(&j, rec);
    if (memcmp(rec, data, sizeof rec) != 0)
        __builtin_trap();
}

struct fz_port {
    const uint8_t *data;
    size_t size, pos;
    uint32_t now;
    uint8_t token[8];
    uint8_t area[FZ_AREA];
};

static int fz_send(void *ctx, const uint8_t *buf, size_t len)
{
    struct fz_port *f = ctx;
    if (len >= 12 && (buf[0] & 15) == 8)
        memcpy(f->token, buf + 4, 8);
    return ODEV_OK;
}

static int fz_recv(void *ctx, uint8_t *buf, size_t cap, size_t *len, uint32_t wait_ms)
{
    struct fz_port *f = ctx;
    if (f->size - f->pos < 2) {
        f->now += wait_ms;
        return ODEV_E_TIMEOUT;
    }
    size_t n = (size_t)f->data[f->pos] << 8 | f->data[f->pos + 1];
    f->pos += 2;
    if (n > f->size - f->pos)
        n = f->size - f->pos;
    if (n > cap)
        n = cap;
    memcpy(buf, f->data + f->pos, n);
    f->pos += n;
    if (n >= 12 && (buf[0] & 15) == 8)
        memcpy(buf + 4, f->token, 8);
    *len = n;
    f->now += 10;
    return ODEV_OK;
}

static uint32_t fz_now(void *ctx)
{
    return ((struct fz_port *)ctx)->now;
}

static int fz_write(void *ctx, enum odev_area a, uint32_t off, const void *buf, size_t len)
{
    struct fz_port *f = ctx;
    if (a != ODEV_AREA_DOWNLOAD || off > FZ_AREA || len > FZ_AREA - off)
        __builtin_trap();
    memcpy(f->area + off, buf, len);
    return ODEV_OK;
}

static int fz_read(void *ctx, enum odev_area a, uint32_t off, void *buf, size_t len)
{
    struct fz_port *f = ctx;
    if (a != ODEV_AREA_DOWNLOAD || off > FZ_AREA || len > FZ_AREA - off)
        __builtin_trap();
    memcpy(buf, f->area + off, len);
    return ODEV_OK;
}

static int fz_erase(void *ctx, enum odev_area a, uint32_t off, uint32_t len)
{
    (void)ctx;
    if (a != ODEV_AREA_DOWNLOAD || off > FZ_AREA || len > FZ_AREA - off || off % 1024)
        __builtin_trap();
    return ODEV_OK;
}

static int fz_sync(void *ctx, enum odev_area a)
{
    (void)ctx;
    (void)a;
    return ODEV_OK;
}

static int fz_jsave(void *ctx, const uint8_t rec[ODEV_JOURNAL_LEN])
{
    (void)ctx;
    (void)rec;
    return ODEV_OK;
}

static void fz_download(const uint8_t *data, size_t size)
{
    static struct fz_port f;
    static struct ddl d;
    struct odev_port p = {.ctx = &f, .send = fz_send, .recv = fz_recv, .now_ms = fz_now,
                          .read = fz_read, .write = fz_write, .erase = fz_erase, .sync = fz_sync,
                          .journal_save = fz_jsave};
    struct odev_config c;
    struct djournal j;
    struct odev_result r;
    const char *why;
    memset(&c, 0, sizeof c);
    memset(&r, 0, sizeof r);
    f.data = data;
    f.size = size;
    f.pos = 0;
    f.now = 0;
    c.szx = 4;
    c.block_timeout_ms = 3000;
    c.area[ODEV_AREA_DOWNLOAD] = (struct odev_geometry){FZ_AREA, 1024};
    djournal_init(&j);
    ddl_init(&d, &p, &c, 0, 0);
    (void)ddl_download(&d, &j, &r, &why);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_codec(data, size);
    fz_journal(data, size);
    fz_download(data, size);
    return 0;
}
