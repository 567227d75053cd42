/* fuzz_cfg.c - libFuzzer target: arbitrary bytes as ota.ini, device.ini
 * and an [admin] token file.
 *
 * The same bytes are also read as one project file of a [projects] dir.
 * Each loader must turn any text into either a validated struct or an
 * error naming file:line, without crashing or overrunning a field; a
 * token set that parses is matched against the whole input.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cfg.h"
#include "http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct cfg_ota c, p; /* large: off the fuzzer's stack */
    struct cfg_device d;
    struct srv_http_tokens t;
    char msg[OTA_MSG_LEN];
    if (size == 0)
        return 0;
    FILE *fp = fmemopen((void *)(uintptr_t)data, size, "r");
    if (!fp)
        return 0;
    (void)cfg_ota_load_stream(fp, "/fuzz/ota.ini", &c, msg);
    rewind(fp);
    if (cfg_ota_load_stream(fp, "/fuzz/ota.ini", &c, msg) != OTA_OK)
        memset(&c, 0, sizeof c);
    rewind(fp);
    (void)cfg_project_load_stream(fp, "/fuzz/projects.d/p.ini", &c, &p, msg);
    rewind(fp);
    (void)cfg_device_load_stream(fp, "/fuzz/device.ini", &d, msg);
    fclose(fp);
    if (srv_http_tokens_parse((const char *)data, size, "/fuzz/tokens", &t, msg) == OTA_OK)
        (void)srv_http_tokens_match(&t, (const char *)data, size);
    return 0;
}
