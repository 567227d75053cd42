/* fuzz_console.c - libFuzzer target: the operator console's parsers.
 *
 * The same bytes go to the rollout state file parser (rollout.h) and to
 * the JSON request body parser (jbody.h). A rollout state that parses
 * must format and parse back to itself; a body that parses must have
 * in-bounds fields whose array items all lie inside the buffer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jbody.h"
#include "rollout.h"

static void fuzz_rollout(const char *buf, size_t len)
{
    struct srv_rollout_state s, again;
    char msg[OTA_MSG_LEN], text[256];
    if (srv_rollout_parse(buf, len, "/fuzz/rollout.state", &s, msg) != OTA_OK)
        return;
    if (s.bp > SRV_ROLLOUT_ALL && s.bp != SRV_ROLLOUT_NONE)
        __builtin_trap();
    size_t n = srv_rollout_format(&s, text, sizeof text);
    if (n == 0 || srv_rollout_parse(text, n, "again", &again, msg) != OTA_OK ||
        again.bp != s.bp || again.paused != s.paused)
        __builtin_trap();
}

static void fuzz_jbody(const char *buf, size_t len)
{
    struct srv_jbody j;
    char msg[OTA_MSG_LEN];
    if (srv_jbody_parse(buf, len, &j, msg) != OTA_OK)
        return;
    for (int i = 0; i < j.n; i++) {
        const struct srv_jbody_field *f = &j.f[i];
        const char *s;
        size_t n, pos = 0, items = 0;
        if (f->off > len || f->len > len - f->off || srv_jbody_get(&j, f->key) != f)
            __builtin_trap();
        while (srv_jbody_item(&j, f, &pos, &s, &n)) {
            if (s < buf || s + n > buf + len)
                __builtin_trap();
            items++;
        }
        if (f->type == SRV_JB_ARRAY && items != f->nitems)
            __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a private copy, so a read past the end is caught by ASan */
    char *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    fuzz_rollout(buf, size);
    fuzz_jbody(buf, size);
    free(buf);
    return 0;
}
