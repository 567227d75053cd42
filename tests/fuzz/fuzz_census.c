/* fuzz_census.c - libFuzzer target: arbitrary bytes as a census file.
 *
 * census_parse must turn any bytes into either sorted, validated entries
 * or an error naming file:line, without crashing or overrunning a field;
 * entries that parse must survive a save and load unchanged.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "census.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct census_entry *e, *again;
    size_t n, m;
    char msg[OTA_MSG_LEN], path[64];
    if (census_parse((const char *)data, size, "/fuzz/census.txt", &e, &n, msg) != OTA_OK)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (strlen(e[i].project) >= sizeof e[i].project || e[i].count == 0 ||
            e[i].first_seen > e[i].last_seen)
            __builtin_trap();
    snprintf(path, sizeof path, "/tmp/fuzz_census.%ld.txt", (long)getpid());
    if (census_save(path, e, n, msg) == OTA_OK) {
        if (census_load(path, &again, &m, msg) != OTA_OK || m != n)
            __builtin_trap();
        for (size_t i = 0; i < n; i++)
            if (!census_same_pair(&e[i], &again[i]) || e[i].count != again[i].count)
                __builtin_trap();
        census_free(again);
        unlink(path);
    }
    census_free(e);
    return 0;
}
