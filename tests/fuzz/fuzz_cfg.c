/* fuzz_cfg.c - libFuzzer target: arbitrary bytes as ota.ini and device.ini.
 *
 * Both loaders must turn any text into either a validated struct or an
 * error naming file:line, without crashing or overrunning a field.
 */
#include <stdint.h>
#include <stdio.h>

#include "cfg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cfg_ota c;
    struct cfg_device d;
    char msg[OTA_MSG_LEN];
    if (size == 0)
        return 0;
    FILE *fp = fmemopen((void *)(uintptr_t)data, size, "r");
    if (!fp)
        return 0;
    (void)cfg_ota_load_stream(fp, "/fuzz/ota.ini", &c, msg);
    rewind(fp);
    (void)cfg_device_load_stream(fp, "/fuzz/device.ini", &d, msg);
    fclose(fp);
    return 0;
}
