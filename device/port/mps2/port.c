/* port.c - struct odev_port for the mps2 firmware: see port.h. */
#include "mps2.h"
#include "port.h"

static int mps2_io_getc(void *ctx, uint32_t deadline_ms)
{
    (void)ctx;
    return mps2_modem_getc(deadline_ms);
}

static void mps2_io_write(void *ctx, const void *buf, size_t len)
{
    (void)ctx;
    mps2_uart_write(MPS2_UART_MODEM, buf, len);
}

static uint32_t mps2_io_now(void *ctx)
{
    (void)ctx;
    return mps2_now_ms();
}

int mps2_port_connect(struct mps2_port *p, const char *ip, uint16_t port)
{
    const struct bc95_io io = {NULL, mps2_io_getc, mps2_io_write, mps2_io_now};
    return bc95_open(&p->modem, &io, ip, port, 0) == BC95_OK ? ODEV_OK : ODEV_E_NET;
}

static int mps2_send(void *ctx, const uint8_t *buf, size_t len)
{
    struct mps2_port *p = ctx;
    return bc95_send(&p->modem, buf, len) == BC95_OK ? ODEV_OK : ODEV_E_NET;
}

static int mps2_recv(void *ctx, uint8_t *buf, size_t cap, size_t *len, uint32_t wait_ms)
{
    struct mps2_port *p = ctx;
    switch (bc95_recv(&p->modem, buf, cap, len, wait_ms)) {
    case BC95_OK:
        return ODEV_OK;
    case BC95_TIMEOUT:
        return ODEV_E_TIMEOUT;
    default:
        return ODEV_E_NET;
    }
}

static uint32_t mps2_now(void *ctx)
{
    (void)ctx;
    return mps2_now_ms();
}

static int mps2_read(void *ctx, enum odev_area a, uint32_t off, void *buf, size_t len)
{
    return nor_read(&((struct mps2_port *)ctx)->nor, a, off, buf, len);
}

static int mps2_write(void *ctx, enum odev_area a, uint32_t off, const void *buf, size_t len)
{
    return nor_write(&((struct mps2_port *)ctx)->nor, a, off, buf, len);
}

static int mps2_erase(void *ctx, enum odev_area a, uint32_t off, uint32_t len)
{
    return nor_erase(&((struct mps2_port *)ctx)->nor, a, off, len);
}

static int mps2_sync(void *ctx, enum odev_area a)
{
    (void)ctx;
    (void)a;
    return ODEV_OK; /* memory: every write is already in place */
}

static int mps2_jload(void *ctx, uint8_t rec[ODEV_JOURNAL_LEN])
{
    return nor_journal_load(&((struct mps2_port *)ctx)->nor, rec);
}

static int mps2_jsave(void *ctx, const uint8_t rec[ODEV_JOURNAL_LEN])
{
    return nor_journal_save(&((struct mps2_port *)ctx)->nor, rec);
}

static void mps2_log(void *ctx, enum odev_log_level level, enum odev_event ev, const char *msg)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    (void)ctx;
    (void)ev;
    mps2_puts("[");
    mps2_putu(mps2_now_ms());
    mps2_puts("] ");
    mps2_puts((unsigned)level < 4 ? names[level] : "?");
    mps2_puts(": ");
    mps2_puts(msg);
    mps2_puts("\n");
}

void mps2_port_bind(struct mps2_port *p, struct odev_port *op)
{
    *op = (struct odev_port){
        .ctx = p,
        .send = mps2_send,
        .recv = mps2_recv,
        .now_ms = mps2_now,
        .read = mps2_read,
        .write = mps2_write,
        .erase = mps2_erase,
        .sync = mps2_sync,
        .journal_load = mps2_jload,
        .journal_save = mps2_jsave,
        .log = mps2_log,
    };
}
