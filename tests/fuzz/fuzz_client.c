/* fuzz_client.c - libFuzzer target: what ota-client, the device library's
 * Linux port, reads from outside.
 *
 * The first byte picks the parser, the rest is its input:
 *   0  the journal file's bytes as lport hands them to the library
 *      (djournal_decode); a record that decodes must encode back to a
 *      record that decodes to the same fields
 *   1  a datagram from the server: dcoap_parse, then every option through
 *      the uint and Block2 decoders and the payload through the diagnostic
 *      parser (ddl_diag_code), as the download engine reads an answer
 *   2  a server URL (dgram_url, from device.ini or -s)
 * Nothing may crash or read out of bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "coap/dcoap.h"
#include "dgram.h"
#include "dl/ddl.h"
#include "journal/djournal.h"

static void fuzz_journal(const uint8_t *p, size_t n)
{
    struct djournal j, k;
    uint8_t buf[ODEV_JOURNAL_LEN];
    const char *why;
    if (djournal_decode(p, n, &j, &why) != ODEV_OK)
        return;
    djournal_encode(&j, buf);
    if (djournal_decode(buf, sizeof buf, &k, &why) != ODEV_OK || k.phase != j.phase ||
        k.offset != j.offset || k.size != j.size || k.bitmap != j.bitmap ||
        k.etag_len != j.etag_len || k.flags != j.flags || k.img.core != j.img.core ||
        memcmp(k.img.core_name, j.img.core_name, sizeof k.img.core_name) != 0)
        abort(); /* an accepted record must survive its own round trip */
}

static void fuzz_answer(const uint8_t *p, size_t n)
{
    struct dcoap_msg m;
    if (dcoap_parse(p, n, &m) != ODEV_OK)
        return;
    for (unsigned i = 0; i < m.nopt; i++) {
        struct dcoap_block b;
        uint32_t v;
        (void)dcoap_uint(&m.opt[i], 4, &v);
        (void)dcoap_block_decode(&m.opt[i], &b);
    }
    if (m.payload)
        (void)ddl_diag_code(m.payload, m.payload_len);
}

static void fuzz_url(const uint8_t *p, size_t n)
{
    char url[CFG_URL_MAX], host[CFG_URL_MAX];
    uint16_t port;
    int secure;
    if (n >= sizeof url)
        n = sizeof url - 1;
    memcpy(url, p, n);
    url[n] = '\0';
    if (dgram_url(url, host, sizeof host, &port, &secure, NULL) == OTA_OK &&
        (!memchr(host, '\0', sizeof host) || port == 0))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    switch (data[0] % 3) {
    case 0: fuzz_journal(p, n); break;
    case 1: fuzz_answer(p, n); break;
    default: fuzz_url(p, n); break;
    }
    return 0;
}
