/* fuzz_dpkg.c - libFuzzer target: the device's package header parse and extraction.
 *
 * The input is a package as it lies in the download area. The device's
 * dpkg_header_parse must agree with the host's pkg_header_parse (OK or
 * not); when the header passes, the core and script sections are
 * extracted through dpkg without the signature check (so the fuzzer
 * reaches the extraction paths: delta against a fixed old core, full
 * inflate, script inflate), into bounded sinks. Nothing may be written past
 * a declared size; any outcome but a crash, a sanitizer report or such an
 * overrun is fine.
 */
#include "dpkg.h"
#include "odev.h"
#include "pkg.h"

#include <stdlib.h>
#include <string.h>

#define FZ_OLD_LEN 4096
#define FZ_OUT_CAP 65536

static uint8_t fz_old[FZ_OLD_LEN];

struct fz_mem {
    const uint8_t *p;
    size_t len;
};

static int fz_read(void *ctx, uint32_t off, void *buf, size_t len)
{
    const struct fz_mem *m = ctx;
    if (off > m->len || len > m->len - off)
        abort(); /* dpkg reads only inside the lengths the header checked */
    memcpy(buf, m->p + off, len);
    return ODEV_OK;
}

struct fz_sink {
    uint8_t *p;
    size_t len;
};

static int fz_write(void *ctx, const void *buf, size_t len)
{
    struct fz_sink *s = ctx;
    if (len > FZ_OUT_CAP - s->len)
        return ODEV_E_IO;
    memcpy(s->p + s->len, buf, len);
    s->len += len;
    return ODEV_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct dpkg_work w;
    static uint8_t out[FZ_OUT_CAP];
    struct dpkg_header h;
    struct pkg_header hh;
    const char *why;
    if (size > 200000)
        return 0;
    for (size_t i = 0; i < FZ_OLD_LEN; i++)
        fz_old[i] = (uint8_t)(i * 31 + (i >> 7));
    int dev = dpkg_header_parse(data, size, (uint32_t)size, &h, &why);
    if ((dev == ODEV_OK) != (pkg_header_parse(data, size, size, &hh, NULL) == OTA_OK))
        abort();
    if (dev != ODEV_OK)
        return 0;
    struct fz_mem pm = {data, size}, om = {fz_old, FZ_OLD_LEN};
    struct dio_reader pr = {fz_read, &pm}, orr = {fz_read, &om};
    struct fz_sink s = {out, 0};
    struct dio_writer ow = {fz_write, &s};
    dpkg_work_init(&w);
    if (h.flags & (DPKG_F_CORE_DELTA | DPKG_F_CORE_FULL)) {
        dpkg_extract_core(&w, &pr, &h, &orr, FZ_OLD_LEN, &ow, &why);
        if (s.len > h.core_size)
            abort();
    }
    s.len = 0;
    if (h.flags & DPKG_F_SCRIPT) {
        dpkg_extract_script(&w, &pr, &h, &ow, &why);
        if (s.len > h.script_size)
            abort();
    }
    return 0;
}
