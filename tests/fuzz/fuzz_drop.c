/* fuzz_drop.c - libFuzzer target: arbitrary bytes as a drop's release.ini,
 * vendor.manifest, a cache vendor.ini, a build request, and (the first
 * line) a file name in the platform's pattern.
 *
 * Each parser must turn any bytes into a checked struct or an error with
 * a message, never reading past the input; a release.ini that parses must
 * format into text that parses back to the same release.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "drop.h"

static void fuzz_release_roundtrip(const struct drop_release *r)
{
    static char text[DROP_INI_MAX];
    struct drop_release back;
    drop_release_format(r, text, sizeof text);
    if (drop_release_parse(text, strlen(text), &back, NULL) != OTA_OK ||
        strcmp(back.project, r->project) || strcmp(back.script_image, r->script_image) ||
        !drop_core_equal(&back.core, &r->core) || ver_script_cmp(&back.script, &r->script))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct drop_vendor_item items[DROP_VENDOR_MAX];
    struct drop_release r;
    struct drop_request q;
    struct drop_platform_name p;
    char msg[OTA_MSG_LEN], name[DROP_NAME_MAX];
    int n;
    const char *text = (const char *)data;
    if (drop_release_parse(text, size, &r, msg) == OTA_OK)
        fuzz_release_roundtrip(&r);
    (void)drop_vendor_manifest_parse(text, size, items, DROP_VENDOR_MAX, &n, msg);
    (void)drop_request_parse("P+Luat_V0017_RDA8910+1.0.0.req", text, size, &q, msg);
    size_t len = 0;
    while (len < size && len < sizeof name - 1 && data[len] != '\n' && data[len] != '\0')
        len++;
    memcpy(name, data, len);
    name[len] = '\0';
    (void)drop_platform_name_parse(name, &p, msg);
    return 0;
}
