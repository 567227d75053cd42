/* fuzz_pkg.c - libFuzzer target: arbitrary bytes as an update package.
 *
 * Drives what a device does with a downloaded file, minus the signature
 * (which a fuzzer cannot forge): header parse, then script and core
 * extraction into a bounded sink. Any crash, leak or sanitizer report is a
 * bug; every outcome must be an ota_err.
 */
#include <stdint.h>
#include <stdlib.h>

#include "pkg.h"

static enum ota_err sink_write(void *ctx, const void *buf, size_t len)
{
    size_t *left = ctx;
    (void)buf;
    if (len > *left)
        return OTA_E_LIMIT;
    *left -= len;
    return OTA_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pkg_header h;
    struct io_reader r;
    char msg[OTA_MSG_LEN];
    if (pkg_header_parse(data, size, size, &h, msg) != OTA_OK)
        return 0;
    io_mem_reader(&r, data, size);
    size_t left = 1u << 22; /* bound the work an input can cause */
    struct io_writer w = {sink_write, &left};
    if (h.flags & PKG_F_SCRIPT)
        (void)pkg_script_extract(&r, &h, &w, msg);
    left = 1u << 22;
    if (h.flags & PKG_F_CORE_FULL)
        (void)pkg_core_extract(&r, &h, NULL, &w, msg);
    return 0;
}
