/* fuzz_http.c - libFuzzer target: the device HTTP API's parsers.
 *
 * The input is split at the first two NUL bytes into a Range header, an
 * If-Range header and a raw query. The Range goes through srv_range_parse
 * against a size taken from the input (the range must lie inside it), the
 * If-Range through srv_range_if_range, and the query through the same
 * decision the HTTP handler makes (srv_fota_decide with no_slice and
 * resume, over an empty index) and the refusal JSON a module reads (at
 * most 200 bytes). Any crash or sanitizer report is a bug.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fota.h"
#include "range.h"
#include "status.h"

static void fz_range(const char *hdr, const char *if_range, uint64_t total)
{
    struct srv_range r;
    enum srv_range_kind k = srv_range_parse(hdr, total, &r);
    if (k == SRV_RANGE_OK && (r.first > r.last || r.last >= total))
        abort();
    srv_range_if_range(if_range, "\"0011223344556677\"");
}

static void fz_decide(const uint8_t *q, size_t n, int resume)
{
    static struct cfg_ota cfg;
    static struct srv_index idx;
    struct srv_fota_in in = {.query = q, .query_len = n, .no_slice = 1, .resume = resume};
    struct srv_fota_out out;
    char json[201];
    snprintf(cfg.project, sizeof cfg.project, "DEMOPROJ");
    snprintf(cfg.product_key, sizeof cfg.product_key, "demo-product-key-0001");
    cfg.block_size = 1024;
    srv_fota_decide(&cfg, &idx, &in, &out);
    if (out.st == SRV_ST_CONTENT)
        abort(); /* nothing to serve from an empty index */
    if (srv_status_json(out.st, out.msg, json, sizeof json) > 200)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 2);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = buf[size + 1] = '\0';
    const char *range = buf, *if_range = buf + strlen(buf) + 1;
    if (if_range > buf + size)
        if_range = buf + size + 1;
    const char *query = if_range + strlen(if_range) + 1;
    if (query > buf + size)
        query = buf + size;
    uint64_t total = size ? 1 + (uint64_t)data[0] * 4099 : 1;
    fz_range(range, if_range, total);
    fz_range(NULL, NULL, total);
    fz_decide((const uint8_t *)query, (size_t)(buf + size - query), size & 1);
    free(buf);
    return 0;
}
