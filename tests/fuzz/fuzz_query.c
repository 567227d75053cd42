/* fuzz_query.c - libFuzzer target: arbitrary bytes as a GET /fota query,
 * a POST /report payload and a Block2 option.
 *
 * The query goes through srv_query_parse; whatever parses is run through
 * package selection against a small fixed release, and every outcome
 * through the diagnostic JSON encoder, so the path from device bytes to
 * the chosen package is covered end to end. The same bytes are also a
 * report payload and (their first 4 bytes) a Block2 option value that is
 * sliced against a fixed package size. Any crash or sanitizer report is a
 * bug; every outcome must be an ota_err.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "block.h"
#include "query.h"
#include "report.h"
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
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
    if (srv_report_parse(data, size, &r, msg) == OTA_OK &&
        srv_report_line(&r, "127.0.0.1:5683", 0, line, sizeof line) == 0)
        __builtin_trap(); /* a valid report must always fit a line */
    if (srv_block_parse(data, size < 4 ? size : 4, &b, msg) == OTA_OK &&
        srv_block_slice(214001, &b, size & 7, &sl, msg) == OTA_OK &&
        (sl.len == 0 || sl.off + sl.len > 214001))
        __builtin_trap();
    return 0;
}
