/* main.c - the mps2-an386 firmware: one boot of an NB-IoT device.
 *
 * Reads the provisioning record from flash, binds the port, lets the
 * library finish whatever a power cut interrupted (odev_recover), opens
 * the modem's socket and runs one update (odev_update). Then it reports
 * on the console UART (result line, running versions, SHA-256 of both
 * slots), writes the whole flash to the host file named by flash_out
 * (semihosting: the flash "persists" across boots because the test loads
 * that file into the next boot) and exits with ota-client's status codes
 * (0 updated, 1 local error, 2 no update, 3 rejected, 4 verification,
 * 5 network; 75 when the cut_at test hook cut the power).
 */
#include <string.h>

#include "crypto/dsha256.h"
#include "mps2.h"
#include "port.h"
#include "prov.h"

#define MPS2_EXIT_POWER_CUT 75

static struct mps2_port port;
static struct prov prov;
static struct odev dev;

static void mps2_say(const char *a, const char *b)
{
    mps2_puts(a);
    mps2_puts(b);
    mps2_puts("\n");
}

/* "name=<sha256 of len bytes of area a>" */
static void mps2_report_hash(const char *name, enum odev_area a, uint32_t len)
{
    struct dsha256 h;
    uint8_t buf[256], out[DSHA256_LEN];
    dsha256_init(&h);
    for (uint32_t off = 0; off < len;) {
        uint32_t n = len - off < sizeof buf ? len - off : (uint32_t)sizeof buf;
        if (nor_read(&port.nor, a, off, buf, n) != ODEV_OK)
            break;
        dsha256_update(&h, buf, n);
        off += n;
    }
    dsha256_final(&h, out);
    mps2_puts(name);
    mps2_puts("=");
    mps2_puthex(out, sizeof out);
    mps2_puts("\n");
}

static void mps2_report(const struct odev_result *r, uint32_t ms)
{
    const struct odev_image *now = odev_running(&dev);
    mps2_puts("result status=");
    mps2_puts(odev_status_phrase(r->status));
    mps2_puts(" coap=");
    mps2_putu(r->coap_code);
    mps2_puts(" bytes=");
    mps2_putu(r->bytes);
    mps2_puts(" retx=");
    mps2_putu(r->retx);
    mps2_puts(" ms=");
    mps2_putu(ms);
    mps2_say(" reason=", r->reason ? r->reason : "");
    mps2_puts("running core=");
    mps2_putu(now->core);
    mps2_puts(" script=");
    for (int i = 0; i < 3; i++) {
        mps2_putu(now->script[i]);
        mps2_puts(i < 2 ? "." : "");
    }
    mps2_puts(" core_len=");
    mps2_putu(now->core_len);
    mps2_puts(" script_len=");
    mps2_putu(now->script_len);
    mps2_puts("\n");
    mps2_report_hash("core_sha256", ODEV_AREA_CORE, now->core_len);
    mps2_report_hash("script_sha256", ODEV_AREA_SCRIPT, now->script_len);
    mps2_puts("port modem_notices=");
    mps2_putu(port.modem.notices);
    mps2_puts(" modem_reads=");
    mps2_putu(port.modem.reads);
    mps2_puts(" uart_overruns=");
    mps2_putu(mps2_modem_overruns());
    mps2_puts(" flash_writes=");
    mps2_putu(port.nor.writes);
    mps2_puts(" flash_erases=");
    mps2_putu(port.nor.erases);
    mps2_puts(" flash_ops=");
    mps2_putu(port.nor.ops);
    mps2_puts("\n");
}

/* Power-off: the flash goes back to the host for the next boot. */
static int mps2_flash_save(void)
{
    if (!prov.flash_out[0])
        return 0;
    int fd = mps2_semi_open(prov.flash_out, 5 /* "wb" */);
    if (fd < 0)
        return -1;
    int rc = mps2_semi_write(fd, port.nor.base, NOR_TOTAL);
    return mps2_semi_close(fd) == 0 && rc == 0 ? 0 : -1;
}

/* The cut_at test hook: the flash operation in flight is torn (nor.c),
 * the flash as it is goes back to the host, the boot ends with 75. */
static void mps2_power_cut(void *ctx)
{
    (void)ctx;
    mps2_puts("power cut at flash operation ");
    mps2_putu(port.nor.ops);
    mps2_puts("\n");
    mps2_semi_exit(mps2_flash_save() == 0 ? MPS2_EXIT_POWER_CUT : 1);
}

static int mps2_exit_status(enum odev_status s)
{
    switch (s) {
    case ODEV_S_UPDATED:
    case ODEV_S_AVAILABLE:
        return 0;
    case ODEV_S_NO_UPDATE:
        return 2;
    case ODEV_S_REJECTED:
        return 3;
    case ODEV_S_VERIFY:
        return 4;
    case ODEV_S_NET:
        return 5;
    default:
        return 1;
    }
}

static int mps2_run(void)
{
    struct odev_port op;
    struct odev_result r;
    const char *why = "";
    memset(&r, 0, sizeof r);
    nor_init(&port.nor, (uint8_t *)(uintptr_t)MPS2_FLASH_BASE);
    nor_geometry(prov.cfg.area);
    prov.cfg.szx = 6;
    /* 8 blocks in flight fill nb2 (100 kbit/s, 600 ms round trip); more
     * only queue in the modem behind the UART's hex and come back as
     * duplicates (measured: window 16 tripled the downlink bytes). */
    prov.cfg.window = 8;
    if (prov_parse((const char *)port.nor.base + NOR_PROV_OFF, NOR_SECTOR, &prov, &why) != ODEV_OK) {
        mps2_say("provisioning: ", why);
        return 1;
    }
    port.nor.cut_at = prov.cut_at;
    port.nor.cut = mps2_power_cut;
    mps2_port_bind(&port, &op);
    if (odev_init(&dev, &prov.cfg, &op) != ODEV_OK || odev_recover(&dev) != ODEV_OK) {
        mps2_say("local error: ", "init or recovery failed");
        return 1;
    }
    if (mps2_port_connect(&port, prov.server_ip, prov.server_port) != ODEV_OK) {
        mps2_say("modem: ", "no socket");
        return 5;
    }
    uint32_t t0 = mps2_now_ms();
    odev_update(&dev, &r);
    mps2_report(&r, mps2_now_ms() - t0);
    return mps2_exit_status(r.status);
}

int main(void)
{
    mps2_uart_init();
    mps2_clock_init();
    __asm volatile("cpsie i");
    mps2_puts("boot ota-mps2\n");
    int status = mps2_run();
    if (mps2_flash_save() != 0) {
        mps2_say("flash_out: ", "semihosting write failed");
        return 1;
    }
    return status;
}
