/* main.c - bring-up: provisioning, modem, one CoAP GET /fota over it. */
#include <string.h>

#include "coap/dcoap.h"
#include "mps2.h"
#include "port.h"
#include "prov.h"

static struct mps2_port port;
static struct prov prov;
static uint8_t dgram[ODEV_DGRAM_MAX];

static void qadd(struct dcoap_builder *b, const char *k, const char *v)
{
    char f[96];
    size_t kl = strlen(k), vl = strlen(v);
    memcpy(f, k, kl);
    f[kl] = '=';
    memcpy(f + kl + 1, v, vl);
    dcoap_opt(b, DCOAP_OPT_URI_QUERY, f, kl + 1 + vl);
}

int main(void)
{
    const char *why = "";
    mps2_uart_init();
    mps2_clock_init();
    __asm volatile("cpsie i");
    mps2_puts("boot\n");
    nor_init(&port.nor, (uint8_t *)(uintptr_t)MPS2_FLASH_BASE);
    nor_geometry(prov.cfg.area);
    if (prov_parse((const char *)port.nor.base + NOR_PROV_OFF, NOR_SECTOR, &prov, &why) != ODEV_OK) {
        mps2_puts("provisioning: ");
        mps2_puts(why);
        mps2_puts("\n");
        return 1;
    }
    if (mps2_port_connect(&port, prov.server_ip, prov.server_port) != ODEV_OK) {
        mps2_puts("modem: no socket\n");
        return 5;
    }
    mps2_puts("modem socket ");
    mps2_putu((uint32_t)port.modem.sock);
    mps2_puts("\n");
    struct dcoap_builder b;
    struct dcoap_block blk = {0, 0, 6};
    uint8_t tok[2] = {1, 2};
    size_t len;
    char fw[48];
    dcoap_begin(&b, dgram, sizeof dgram, DCOAP_CON, DCOAP_GET, 0x1234, tok, 2);
    dcoap_opt_str(&b, DCOAP_OPT_URI_PATH, "fota");
    qadd(&b, "project_key", prov.cfg.product_key);
    qadd(&b, "imei", prov.cfg.imei);
    strcpy(fw, prov.cfg.project);
    strcat(fw, "_Luat_RDA8910");
    qadd(&b, "firmware_name", fw);
    qadd(&b, "core_version", "17");
    qadd(&b, "dfota", "1");
    qadd(&b, "version", "1.0.0");
    dcoap_opt_block(&b, DCOAP_OPT_BLOCK2, &blk);
    if (dcoap_end(&b, &len) != ODEV_OK)
        return 1;
    uint32_t t0 = mps2_now_ms();
    for (int tries = 0; tries < 4; tries++) {
        if (bc95_send(&port.modem, dgram, len) != BC95_OK) {
            mps2_puts("send failed\n");
            return 5;
        }
        size_t rlen;
        uint8_t rx[ODEV_DGRAM_MAX];
        enum bc95_err rc = bc95_recv(&port.modem, rx, sizeof rx, &rlen, 3000);
        if (rc == BC95_TIMEOUT)
            continue;
        struct dcoap_msg m;
        if (rc != BC95_OK || dcoap_parse(rx, rlen, &m) != ODEV_OK)
            return 5;
        mps2_puts("answer ");
        mps2_putu(DCOAP_CODE_NUM(m.code));
        mps2_puts(" payload ");
        mps2_putu((uint32_t)m.payload_len);
        mps2_puts(" bytes after ");
        mps2_putu(mps2_now_ms() - t0);
        mps2_puts(" ms\n");
        return DCOAP_CODE_NUM(m.code) == 205 ? 0 : 3;
    }
    mps2_puts("no answer\n");
    return 5;
}
