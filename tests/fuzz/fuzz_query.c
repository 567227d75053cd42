/* fuzz_query.c - libFuzzer target: arbitrary bytes as a whole CoAP
 * request datagram, a GET /fota query, a POST /report payload and a
 * Block2 option.
 *
 * The datagram goes through libcoap's own parser (coap_pdu_parse) and,
 * if it parses, through the same extraction the /fota handler does
 * (Uri-Query joined by coap_get_query, the raw Block2 value) into
 * srv_fota_decide over an in-memory index, with the selection memo on,
 * so the server's request path is covered from raw bytes to the slice it
 * would send; the slice must lie inside the package.
 *
 * The query goes through srv_query_parse; whatever parses is run through
 * package selection against a small fixed release, and every outcome
 * through the diagnostic JSON encoder, so the path from device bytes to
 * the chosen package is covered end to end. The same bytes are also a
 * report payload and (their first 4 bytes) a Block2 option value that is
 * sliced against a fixed package size; the diagnostic encoder also runs
 * with a byte-chosen size budget (the 3x rule for unverified sources; it
 * must never write past it), and the bytes go through the DTLS gate's
 * ClientHello test and the coap:// screen (gate.h). Any crash or sanitizer report is a bug; every outcome
 * must be an ota_err.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <coap3/coap.h>

#include "block.h"
#include "dtls.h"
#include "gate.h"
#include "fota.h"
#include "query.h"
#include "report.h"
#include "../cache/report.h"
#include "select.h"
#include "status.h"

static struct pkg_header fz_hdr(uint32_t flags, uint32_t from, uint32_t to, uint32_t minor)
{
    struct pkg_header h;
    memset(&h, 0, sizeof h);
    h.flags = flags;
    snprintf(h.project, sizeof h.project, "DEMOPROJ");
    snprintf(h.core_name, sizeof h.core_name, "Luat");
    snprintf(h.chip, sizeof h.chip, "RDA8910");
    h.from_core = from;
    h.to_core = to;
    h.script.major = 1;
    h.script.minor = minor;
    h.core_len = flags & (PKG_F_CORE_DELTA | PKG_F_CORE_FULL) ? 1000 : 0;
    h.script_len = flags & PKG_F_SCRIPT ? 100 : 0;
    return h;
}

static void fz_select(const struct srv_query *q)
{
    static struct pkg_header rel[5];
    const struct pkg_header *p[5];
    rel[0] = fz_hdr(PKG_F_CORE_DELTA | PKG_F_SCRIPT, 17, 20, 1);
    rel[1] = fz_hdr(PKG_F_CORE_DELTA, 18, 20, 1);
    rel[2] = fz_hdr(PKG_F_SCRIPT, 20, 20, 1);
    rel[3] = fz_hdr(PKG_F_CORE_FULL, PKG_FROM_ANY, 20, 1);
    rel[4] = fz_hdr(PKG_F_CORE_DELTA | PKG_F_SCRIPT, 16, 19, 0);
    for (int i = 0; i < 5; i++)
        p[i] = &rel[i];
    struct srv_device d = {q->project, q->core, q->script, q->dfota};
    struct srv_selection s;
    srv_select(p, 5, &d, &s);
    if (s.pick == SRV_PICK_PACKAGE && s.index >= 5)
        __builtin_trap();
    (void)srv_pick_name(s.pick);
}

#define FZ_NPKG 4
#define FZ_PKG_LEN 3000

/* Four packages of the fixed release, bytes in memory, as the index
 * holds them. */
static void fz_index(struct srv_index *x)
{
    static struct srv_pkg pk[FZ_NPKG];
    static struct srv_pkg *pp[FZ_NPKG];
    static const struct pkg_header *hp[FZ_NPKG];
    static uint8_t bytes[FZ_PKG_LEN];
    const uint32_t flags[FZ_NPKG] = {PKG_F_CORE_DELTA | PKG_F_SCRIPT, PKG_F_CORE_DELTA,
                                     PKG_F_SCRIPT, PKG_F_CORE_FULL};
    const uint32_t from[FZ_NPKG] = {17, 18, 20, PKG_FROM_ANY};
    memset(x, 0, sizeof *x);
    for (int i = 0; i < FZ_NPKG; i++) {
        pk[i].h = fz_hdr(flags[i], from[i], 20, 1);
        pk[i].ok = 1;
        pk[i].map = bytes;
        pk[i].len = FZ_PKG_LEN - 100u * (unsigned)i;
        snprintf(pk[i].name, sizeof pk[i].name, "p%d.pkg", i);
        pp[i] = &pk[i];
        hp[i] = &pk[i].h;
    }
    x->pkgs = pp;
    x->hdrs = hp;
    x->n = FZ_NPKG;
    x->gen = 1;
    x->inotify_fd = -1;
}

static void fz_decide(const struct srv_fota_in *in)
{
    static struct srv_memo memo;
    static struct srv_index idx;
    static struct cfg_ota cfg;
    struct srv_fota_in in2 = *in;
    struct srv_fota_out out;
    if (!idx.n) {
        fz_index(&idx);
        snprintf(cfg.project, sizeof cfg.project, "DEMOPROJ");
        snprintf(cfg.product_key, sizeof cfg.product_key, "demo-product-key-0001");
        cfg.block_size = 1024;
    }
    in2.memo = &memo;
    srv_fota_decide(&cfg, &idx, &in2, &out);
    if (out.st == SRV_ST_CONTENT &&
        (!out.pkg || out.slice.len == 0 || out.slice.off + out.slice.len > out.pkg->len))
        __builtin_trap();
}

/* The /fota handler's extraction, from a parsed PDU. */
static void fz_datagram(const uint8_t *data, size_t size)
{
    static int started;
    coap_opt_iterator_t it;
    if (!started) {
        coap_startup();
        coap_set_log_level(LOG_EMERG);
        started = 1;
    }
    coap_pdu_t *pdu = coap_pdu_init(0, 0, 0, size < 1500 ? 1500 : size);
    if (!pdu)
        return;
    if (coap_pdu_parse(COAP_PROTO_UDP, data, size, pdu)) {
        coap_string_t *q = coap_get_query(pdu);
        struct srv_fota_in in = {.query = q ? q->s : NULL, .query_len = q ? q->length : 0};
        coap_opt_t *b2 = coap_check_option(pdu, COAP_OPTION_BLOCK2, &it);
        if (b2) {
            in.has_block2 = 1;
            in.block2 = coap_opt_value(b2);
            in.block2_len = coap_opt_length(b2);
        }
        fz_decide(&in);
        coap_delete_string(q);
    }
    coap_delete_pdu(pdu);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct srv_fota_in raw = {data, size, size > 0, data, size < 3 ? size : 3, NULL};
    fz_datagram(data, size);
    fz_decide(&raw);
    struct srv_query q;
    struct srv_report r;
    struct srv_block b;
    struct srv_slice sl;
    char msg[OTA_MSG_LEN], json[256], line[SRV_REPORT_LINE_MAX];
    msg[0] = '\0';
    enum ota_err e = srv_query_parse(data, size, &q, msg);
    if (e == OTA_OK)
        fz_select(&q);
    srv_status_json(e == OTA_OK ? SRV_ST_NO_UPDATE : SRV_ST_BAD_FIELD, msg, json, sizeof json);
    /* the 3x budget for unverified sources: any n, never past it */
    size_t budget = size ? data[0] % sizeof json : 0;
    if (srv_status_json(SRV_ST_BAD_FIELD, (const char *)msg, json, budget) >= (budget ? budget : 1))
        __builtin_trap();
    (void)srv_dtls_is_hello(data, size);
    if (srv_gate_screen(data, size) != SRV_GATE_PASS && (size < 4 || (data[0] & 15) > 8))
        __builtin_trap(); /* an answer is only built for a request with a real token */
    if (srv_report_parse(data, size, &r, msg) == OTA_OK) {
        size_t n = srv_report_line(&r, "127.0.0.1:5683", 0, line, sizeof line);
        struct cache_report_fields f;
        if (n == 0)
            __builtin_trap(); /* a valid report must always fit a line */
        /* ota-cache reads the line back: the device's free-text reason
         * survives the escaping unchanged and ends nothing early. */
        if (cache_report_parse_line(line, &f) != 0 || f.result != r.result ||
            strcmp(f.reason, r.reason) != 0)
            __builtin_trap();
    }
    if (srv_block_parse(data, size < 4 ? size : 4, &b, msg) == OTA_OK &&
        srv_block_slice(214001, &b, size & 7, &sl, msg) == OTA_OK &&
        (sl.len == 0 || sl.off + sl.len > 214001))
        __builtin_trap();
    return 0;
}
