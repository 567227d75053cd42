/* dpkg.c - package header checks, signature check and extraction on the device.
 *
 * Sections: header (every field checked against the real file size before
 * anything uses it, common/FORMAT.md), signature (one pass through the
 * package), extraction (delta or inflate into a writer that counts and
 * hashes, so nothing past the declared size is ever written).
 */
#include "dpkg.h"

#include <string.h>

#include "odev.h"

const char dpkg_why_version[] = "pkg header: unknown format version";

static uint32_t dpkg_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A 64-bit length that must fit 32 bits (the file size does). */
static int dpkg_be64(const uint8_t *p, uint32_t *out)
{
    *out = dpkg_be32(p + 4);
    return dpkg_be32(p) == 0;
}

/* ---- header ---- */

/* A string field: 1..field-1 characters of [A-Za-z0-9] (plus '_' and '-'
 * when punct), NUL-terminated, zero after. */
static int dpkg_name(const uint8_t *p, size_t field, int punct, char *out)
{
    size_t n = 0;
    while (n < field && p[n])
        n++;
    if (n == 0 || n == field)
        return 0;
    for (size_t i = 0; i < field; i++) {
        uint8_t c = p[i];
        int alnum = (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
        if (i < n ? !alnum && !(punct && (c == '_' || c == '-')) : c != 0)
            return 0;
    }
    memcpy(out, p, field);
    return 1;
}

static const char *dpkg_check_core(const struct dpkg_header *h)
{
    uint32_t kind = h->flags & (DPKG_F_CORE_DELTA | DPKG_F_CORE_FULL);
    int any = h->from_core == DPKG_FROM_ANY;
    if (h->to_core > DPKG_CORE_NUMBER_MAX || (h->from_core > DPKG_CORE_NUMBER_MAX && !any))
        return "pkg header: core number above 9999";
    if (kind == 0)
        return h->from_core != h->to_core || h->core_len || h->core_size || h->old_core_size
                   ? "pkg header: core fields set without a core section"
                   : NULL;
    if (kind == (DPKG_F_CORE_DELTA | DPKG_F_CORE_FULL))
        return "pkg header: flags name both delta and full";
    if (any && kind != DPKG_F_CORE_FULL)
        return "pkg header: a delta needs a definite from-core";
    if (!any && h->from_core >= h->to_core)
        return "pkg header: from-core not below to-core";
    if (h->core_len == 0 || h->core_size > DPKG_IMAGE_MAX || h->old_core_size > DPKG_IMAGE_MAX)
        return "pkg header: core section length or image size out of range";
    if (kind == DPKG_F_CORE_FULL && h->old_core_size != 0)
        return "pkg header: full core with an old-core size";
    if (h->window_bits < 9 || h->window_bits > 15 || h->core_mem > DPKG_CORE_MEM_MAX)
        return "pkg header: window bits or decoder memory out of range";
    return NULL;
}

static const char *dpkg_check_rest(const struct dpkg_header *h, uint32_t file_size)
{
    if (h->script[0] > DPKG_SCRIPT_FIELD_MAX || h->script[1] > DPKG_SCRIPT_FIELD_MAX ||
        h->script[2] > DPKG_SCRIPT_FIELD_MAX)
        return "pkg header: script version field above 99999";
    const char *why = dpkg_check_core(h);
    if (why)
        return why;
    if (!(h->flags & (DPKG_F_CORE_DELTA | DPKG_F_CORE_FULL)) && h->window_bits != 0 &&
        (h->window_bits < 9 || h->window_bits > 15))
        return "pkg header: window bits out of range";
    if (h->flags & DPKG_F_SCRIPT) {
        if (h->script_len == 0 || h->script_size > DPKG_IMAGE_MAX)
            return "pkg header: script section length or size out of range";
    } else if (h->script_len || h->script_size) {
        return "pkg header: script fields set without a script section";
    }
    uint64_t total = (uint64_t)h->core_len + h->script_len + DPKG_HEADER_LEN + DPKG_SIG_LEN;
    return total != file_size ? "pkg header: sections do not match the file size" : NULL;
}

/* The fixed fields at their offsets (common/FORMAT.md). */
static const char *dpkg_fields(const uint8_t *b, struct dpkg_header *h)
{
    h->flags = dpkg_be32(b + 8);
    h->from_core = dpkg_be32(b + 12);
    h->to_core = dpkg_be32(b + 16);
    for (int i = 0; i < 3; i++)
        h->script[i] = dpkg_be32(b + 20 + 4 * i);
    if (!dpkg_name(b + 32, DPKG_PROJECT_MAX, 1, h->project) ||
        !dpkg_name(b + 64, DPKG_NAME_MAX, 0, h->core_name) ||
        !dpkg_name(b + 80, DPKG_CHIP_MAX, 0, h->chip))
        return "pkg header: project, core name or chip malformed";
    memcpy(h->key_id, b + 96, DPKG_KEYID_LEN);
    if (!dpkg_be64(b + 104, &h->core_len) || !dpkg_be64(b + 112, &h->core_size) ||
        !dpkg_be64(b + 120, &h->old_core_size) || !dpkg_be64(b + 128, &h->script_len) ||
        !dpkg_be64(b + 136, &h->script_size))
        return "pkg header: a length above 4 GiB";
    h->core_mem = dpkg_be32(b + 144);
    h->window_bits = b[148];
    if (b[149] | b[150] | b[151])
        return "pkg header: reserved bytes not zero";
    memcpy(h->old_core_hash, b + 152, DSHA256_LEN);
    memcpy(h->core_hash, b + 184, DSHA256_LEN);
    memcpy(h->script_hash, b + 216, DSHA256_LEN);
    h->created = (uint64_t)dpkg_be32(b + 248) << 32 | dpkg_be32(b + 252);
    if (h->flags & ~DPKG_F_KNOWN || !(h->flags & DPKG_F_KNOWN))
        return "pkg header: flags invalid";
    return NULL;
}

int dpkg_header_parse(const uint8_t *buf, size_t len, uint32_t file_size, struct dpkg_header *h,
                      const char **why)
{
    memset(h, 0, sizeof *h);
    if (len < DPKG_HEADER_LEN)
        *why = "pkg header: truncated";
    else if (memcmp(buf, DPKG_MAGIC, 4) != 0)
        *why = "pkg header: bad magic (not a package)";
    else if (buf[4] != 0 || buf[5] != DPKG_FORMAT_VERSION)
        *why = dpkg_why_version;
    else if (buf[6] != DPKG_HEADER_LEN >> 8 || buf[7] != (DPKG_HEADER_LEN & 0xFF))
        *why = "pkg header: header length not 256";
    else if (!(*why = dpkg_fields(buf, h)))
        *why = dpkg_check_rest(h, file_size);
    return *why ? ODEV_E_CORRUPT : ODEV_OK;
}

/* ---- signature ---- */

void dpkg_work_init(struct dpkg_work *w)
{
    struct dback_inflate inflate = w->inflate;
    struct dback_verify verify = w->verify;
    /* the defaults keep their state inside w: bound afresh after the clear */
    int port_inflate = inflate.start && inflate.ctx != &w->u.apply.infl;
    int port_verify = verify.start && verify.ctx != &w->u.sig;
    memset(w, 0, sizeof *w);
    if (port_inflate)
        w->inflate = inflate;
    else
        dback_dinfl_bind(&w->inflate, &w->u.apply.infl, w->u.apply.win, sizeof w->u.apply.win);
    if (port_verify)
        w->verify = verify;
    else
        dback_ded25519_bind(&w->verify, &w->u.sig);
}

static const uint8_t *dpkg_key(struct dpkg_work *w, const struct dpkg_header *h,
                               const uint8_t (*keys)[DED25519_PUB_LEN], int nkeys)
{
    uint8_t id[DSHA256_LEN];
    for (int i = 0; i < nkeys; i++) {
        dsha256_init(&w->sum);
        dsha256_update(&w->sum, keys[i], DED25519_PUB_LEN);
        dsha256_final(&w->sum, id);
        if (memcmp(id, h->key_id, DPKG_KEYID_LEN) == 0)
            return keys[i];
    }
    return NULL;
}

int dpkg_verify(struct dpkg_work *w, const struct dio_reader *pkg, const struct dpkg_header *h,
                const uint8_t (*keys)[DED25519_PUB_LEN], int nkeys, const char **why)
{
    const uint8_t *key = dpkg_key(w, h, keys, nkeys);
    uint32_t end = dpkg_sig_offset(h);
    int e;
    *why = "pkg: signed by an unknown key id";
    if (!key)
        return ODEV_E_AUTH;
    w->verify.start(w->verify.ctx);
    for (uint32_t off = 0; off < end; off += DPKG_CHUNK) {
        size_t n = end - off < DPKG_CHUNK ? end - off : DPKG_CHUNK;
        *why = "pkg: reading the package failed";
        if ((e = dio_read(pkg, off, w->in, n)) != ODEV_OK)
            return e;
        w->verify.update(w->verify.ctx, w->in, n);
    }
    if ((e = dio_read(pkg, end, w->in, DPKG_SIG_LEN)) != ODEV_OK)
        return e;
    *why = "pkg: signature does not verify";
    e = w->verify.finish(w->verify.ctx, w->in, key);
    *why = e == ODEV_OK ? NULL : *why;
    return e;
}

/* ---- extraction ---- */

/* The writer between a decoder and the caller's: counts and hashes, and
 * refuses to pass the size the header declared. */
static int dpkg_sink_write(void *ctx, const void *buf, size_t len)
{
    struct dpkg_work *w = ctx;
    if (len > w->limit - w->made)
        return ODEV_E_CORRUPT;
    dsha256_update(&w->sum, buf, len);
    w->made += (uint32_t)len;
    return dio_write(w->sink, buf, len);
}

static void dpkg_sink_open(struct dpkg_work *w, const struct dio_writer *out, uint32_t limit,
                           struct dio_writer *sink)
{
    w->sink = out;
    w->made = 0;
    w->limit = limit;
    dsha256_init(&w->sum);
    sink->write = dpkg_sink_write;
    sink->ctx = w;
}

/* The reasons name the image, so a device's report says which failed. */
static const char *const dpkg_why_short[2] = {
    "pkg: core shorter than the header says", "pkg: script shorter than the header says"};
static const char *const dpkg_why_hash[2] = {
    "pkg: core hash differs from the header's", "pkg: script hash differs from the header's"};

static int dpkg_sink_check(struct dpkg_work *w, const uint8_t hash[DSHA256_LEN], int script,
                           const char **why)
{
    uint8_t got[DSHA256_LEN];
    if (w->made != w->limit) {
        *why = dpkg_why_short[script];
        return ODEV_E_CORRUPT;
    }
    dsha256_final(&w->sum, got);
    if (memcmp(got, hash, DSHA256_LEN) != 0) {
        *why = dpkg_why_hash[script];
        return ODEV_E_AUTH;
    }
    *why = NULL;
    return ODEV_OK;
}

/* Window of a section: script-only packages may leave it 0 (any). */
static int dpkg_window(const struct dpkg_header *h, const char **why)
{
    int bits = h->window_bits ? (int)h->window_bits : 15;
    *why = "pkg: the package's window exceeds this build's ODEV_WINDOW_BITS_MAX";
    return bits > ODEV_WINDOW_BITS_MAX ? -1 : bits;
}

/* Inflate [off, off+len) of the package, a whole zlib stream and nothing
 * after it, into sink. */
static int dpkg_inflate(struct dpkg_work *w, const struct dio_reader *pkg, uint32_t off,
                        uint32_t len, int bits, const struct dio_writer *sink, const char **why)
{
    int e = w->inflate.start(w->inflate.ctx, bits), st = DINFL_MORE;
    *why = "pkg: the section's window exceeds the inflater's";
    if (e != ODEV_OK)
        return e;
    int trailing = 0;
    while (st == DINFL_MORE && len > 0) {
        size_t n = len < DPKG_CHUNK ? len : DPKG_CHUNK, at = 0, used = 0, made = 1;
        *why = "pkg: reading the package failed";
        if ((e = dio_read(pkg, off, w->in, n)) != ODEV_OK)
            return e;
        off += (uint32_t)n;
        len -= (uint32_t)n;
        /* until this piece is used up and nothing more comes out */
        for (; st == DINFL_MORE && (at < n || made); at += used) {
            st = w->inflate.run(w->inflate.ctx, w->in + at, n - at, &used, w->out, DPKG_CHUNK,
                                &made);
            *why = "pkg: image longer than the header says, or its write failed";
            if ((e = dio_write(sink, w->out, made)) != ODEV_OK)
                return e;
        }
        trailing = at < n || len > 0;
    }
    *why = st < 0 ? "pkg: section is not a valid zlib stream"
         : st == DINFL_MORE ? "pkg: section truncated"
         : trailing ? "pkg: bytes after the section's zlib stream" : NULL;
    return *why ? ODEV_E_CORRUPT : ODEV_OK;
}

static int dpkg_delta(struct dpkg_work *w, const struct dio_reader *pkg,
                      const struct dpkg_header *h, const struct dio_reader *old_core,
                      uint32_t old_len, const struct dio_writer *sink, const char **why)
{
    struct ddelta *d = &w->u.apply.dd;
    int e = ODEV_OK;
    if (!old_core || old_len != h->old_core_size) {
        *why = "pkg: the running core is not the delta's base";
        return ODEV_E_AUTH;
    }
    struct dback_inflate ctl;
    ddelta_init(d, old_core, old_len, sink, &w->inflate);
    dback_dinfl_bind(&ctl, &w->u.apply.ctl, w->u.apply.ctl_win, sizeof w->u.apply.ctl_win);
    /* format 4 reads its control stream from the package at offsets */
    ddelta_set_source(d, pkg, dpkg_core_offset(h), h->core_len, &ctl);
    for (uint32_t off = 0; e == ODEV_OK && off < h->core_len; off += DPKG_CHUNK) {
        size_t n = h->core_len - off < DPKG_CHUNK ? h->core_len - off : DPKG_CHUNK;
        *why = "pkg: reading the package failed";
        if ((e = dio_read(pkg, dpkg_core_offset(h) + off, w->in, n)) == ODEV_OK)
            e = ddelta_feed(d, w->in, n, why);
    }
    return e == ODEV_OK ? ddelta_finish(d, why) : e;
}

int dpkg_extract_core(struct dpkg_work *w, const struct dio_reader *pkg,
                      const struct dpkg_header *h, const struct dio_reader *old_core,
                      uint32_t old_len, const struct dio_writer *out, const char **why)
{
    struct dio_writer sink;
    int bits = dpkg_window(h, why), e;
    if (bits < 0)
        return ODEV_E_LIMIT;
    dpkg_sink_open(w, out, h->core_size, &sink);
    if (h->flags & DPKG_F_CORE_FULL)
        e = dpkg_inflate(w, pkg, dpkg_core_offset(h), h->core_len, bits, &sink, why);
    else if (h->flags & DPKG_F_CORE_DELTA)
        e = dpkg_delta(w, pkg, h, old_core, old_len, &sink, why);
    else
        return *why = "pkg: no core section", ODEV_E_INVAL;
    return e != ODEV_OK ? e : dpkg_sink_check(w, h->core_hash, 0, why);
}

int dpkg_extract_script(struct dpkg_work *w, const struct dio_reader *pkg,
                        const struct dpkg_header *h, const struct dio_writer *out,
                        const char **why)
{
    struct dio_writer sink;
    int bits = dpkg_window(h, why), e;
    if (!(h->flags & DPKG_F_SCRIPT))
        return *why = "pkg: no script section", ODEV_E_INVAL;
    if (bits < 0)
        return ODEV_E_LIMIT;
    dpkg_sink_open(w, out, h->script_size, &sink);
    e = dpkg_inflate(w, pkg, dpkg_script_offset(h), h->script_len, bits, &sink, why);
    return e != ODEV_OK ? e : dpkg_sink_check(w, h->script_hash, 1, why);
}
