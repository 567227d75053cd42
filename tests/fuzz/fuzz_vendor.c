/* fuzz_vendor.c - libFuzzer target: arbitrary bytes as a vendor package
 * manifest (NAME.vendor.ini, common/vendor.h).
 *
 * The parser must turn any text into either a checked manifest or an
 * error naming name:line; a manifest that parses must format back into
 * text that parses to the same manifest, and give a header the selection
 * can use (flag PKG_F_VENDOR).
 */
#include <stdint.h>
#include <string.h>

#include "vendor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vendor_manifest m, again;
    struct pkg_header h;
    char msg[OTA_MSG_LEN], text[VENDOR_MANIFEST_MAX];
    if (vendor_manifest_parse((const char *)data, size, "fuzz.vendor.ini", &m, msg) != OTA_OK)
        return 0;
    size_t n = vendor_manifest_format(&m, text, sizeof text);
    if (n == 0 || vendor_manifest_parse(text, n, "again", &again, msg) != OTA_OK ||
        memcmp(&m, &again, sizeof m) != 0)
        __builtin_trap();
    vendor_header(&m, &h);
    if (!(h.flags & PKG_F_VENDOR) || strcmp(h.project, m.project) != 0)
        __builtin_trap();
    return 0;
}
