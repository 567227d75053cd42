/* fuzz_client.c - libFuzzer target: the client's parsers of outside input.
 *
 * The first byte picks the parser, the rest is its input:
 *   0  journal record (client/journal.c): decode; a record that decodes
 *      must encode to the same bytes' meaning (decode(encode(j)) == j)
 *   1  diagnostic payload {"code":N,"msg":"..."} (client/proto.c)
 *   2  Block2 and Size2 option values: decode, re-encode, decode again
 *   3  a whole answer (code, options, payload) through the response
 *      classification and the first-answer checks of client/dl.c
 * Nothing may crash, read out of bounds or leave a field unterminated.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dl.h"
#include "journal.h"
#include "proto.h"

static void fuzz_journal(const uint8_t *p, size_t n)
{
    struct dev_journal j, k;
    uint8_t buf[DEV_JOURNAL_LEN];
    char msg[OTA_MSG_LEN];
    if (dev_journal_decode(p, n, &j, msg) != OTA_OK)
        return;
    dev_journal_encode(&j, buf);
    if (dev_journal_decode(buf, sizeof buf, &k, msg) != OTA_OK || k.phase != j.phase ||
        k.offset != j.offset || k.size != j.size || k.bitmap != j.bitmap ||
        k.etag_len != j.etag_len || memcmp(&k.core, &j.core, sizeof k.core) != 0)
        abort(); /* an accepted record must survive its own round trip */
}

static void fuzz_diag(const uint8_t *p, size_t n)
{
    char text[DEV_SRV_MSG_MAX];
    int code;
    if (dev_diag_parse(p, n, &code, text, sizeof text) == OTA_OK && !memchr(text, '\0', sizeof text))
        abort();
}

static void fuzz_options(const uint8_t *p, size_t n)
{
    uint32_t num, num2;
    int more, more2;
    unsigned szx, szx2;
    uint64_t v;
    uint8_t out[3];
    size_t split = n ? p[0] % 5 : 0;
    if (split > n - (n ? 1 : 0))
        split = 0;
    const uint8_t *b2 = n ? p + 1 : p;
    size_t b2len = split;
    if (dev_block2_decode(b2, b2len, &num, &more, &szx, NULL) == OTA_OK) {
        size_t len = dev_block2_encode(num, more, szx, out);
        if (dev_block2_decode(out, len, &num2, &more2, &szx2, NULL) != OTA_OK || num2 != num ||
            more2 != more || szx2 != szx)
            abort();
    }
    if (n > 1 + split)
        (void)dev_uint_decode(b2 + split, n - 1 - split, 4, &v);
}

/* Bytes -> one dev_block, as net.c would fill it. */
static void fuzz_answer(const uint8_t *p, size_t n)
{
    static struct dev_block b;
    struct dev_result r;
    char msg[OTA_MSG_LEN];
    if (n < 12)
        return;
    memset(&b, 0, sizeof b);
    memset(&r, 0, sizeof r);
    r.srv_code = -1;
    b.code = (unsigned)(p[0] >> 5) * 100 + (p[0] & 31);
    b.has_block2 = p[1] & 1;
    b.more = (p[1] >> 1) & 1;
    b.has_size2 = (p[1] >> 2) & 1;
    b.truncated = (p[1] >> 3) & 1;
    uint64_t v;
    if (dev_uint_decode(p + 2, 3, 3, &v) == OTA_OK) {
        b.num = (uint32_t)(v >> 4);
        b.szx = (unsigned)(v & 7);
    }
    (void)dev_uint_decode(p + 5, 4, 4, &b.size2);
    b.etag_len = p[9] % (DEV_ETAG_MAX + 1);
    memcpy(b.etag, p + 2, b.etag_len);
    b.len = n - 10 > DEV_BLOCK_MAX ? DEV_BLOCK_MAX : n - 10;
    memcpy(b.data, p + 10, b.len);
    (void)dev_status_from_response(b.code, (int)(int8_t)p[1]);
    if (dev_dl_check_first(&b, &r, msg) != OTA_OK && !memchr(r.srv_msg, '\0', sizeof r.srv_msg))
        abort();
    (void)dev_dl_fail_response(&b, &r, msg);
    if (!memchr(r.srv_msg, '\0', sizeof r.srv_msg))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    switch (data[0] % 4) {
    case 0: fuzz_journal(p, n); break;
    case 1: fuzz_diag(p, n); break;
    case 2: fuzz_options(p, n); break;
    default: fuzz_answer(p, n); break;
    }
    return 0;
}
