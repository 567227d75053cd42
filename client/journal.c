/* journal.c - encode, check and store the update journal (see journal.h).
 *
 * Decoding goes through the cur.h cursor and validates every field before
 * the caller can act on it: the journal decides which files get renamed
 * over the running images, so a bad record must never pass.
 */
#include "journal.h"

#include "crypto.h"
#include "cur.h"
#include "io.h"

#include <stdlib.h>
#include <string.h>

#define DEV_JOURNAL_BODY (DEV_JOURNAL_LEN - 8)

static const char *const dev_jnames[DEV_J__COUNT] = {
    "idle", "downloading", "downloaded", "applying", "committing", "committed",
};

const char *dev_journal_phase_name(enum dev_jphase p)
{
    return (unsigned)p < DEV_J__COUNT ? dev_jnames[p] : "?";
}

void dev_journal_init(struct dev_journal *j)
{
    memset(j, 0, sizeof *j);
    j->phase = DEV_J_IDLE;
}

void dev_journal_encode(const struct dev_journal *j, uint8_t out[DEV_JOURNAL_LEN])
{
    uint8_t sum[CRYPTO_HASH_LEN];
    memset(out, 0, DEV_JOURNAL_LEN);
    memcpy(out, "OTAJ", 4);
    out[4] = DEV_JOURNAL_FORMAT;
    out[5] = (uint8_t)j->phase;
    out[6] = (uint8_t)j->slots;
    out[7] = (uint8_t)j->etag_len;
    cur_put_be16(out + 8, j->block_size);
    memcpy(out + 12, j->etag, DEV_ETAG_MAX);
    cur_put_be64(out + 20, j->offset);
    cur_put_be64(out + 28, j->size);
    memcpy(out + 36, j->core.name, VER_NAME_MAX);
    memcpy(out + 52, j->core.chip, VER_CHIP_MAX);
    cur_put_be32(out + 68, j->core.number);
    cur_put_be32(out + 72, j->script.major);
    cur_put_be32(out + 76, j->script.minor);
    cur_put_be32(out + 80, j->script.patch);
    cur_put_be64(out + 84, j->bitmap);
    crypto_sha256(out, DEV_JOURNAL_BODY, sum);
    memcpy(out + DEV_JOURNAL_BODY, sum, 8);
}

/* A fixed-width text field must hold a NUL and a valid token (or be empty). */
static enum ota_err dev_journal_token(struct cur *c, char *out, size_t n, const char *what,
                                      char *msg)
{
    cur_bytes(c, out, n);
    if (c->err || memchr(out, '\0', n) == NULL)
        return ota_fail(msg, OTA_E_CORRUPT, "journal: %s not terminated", what);
    if (out[0] && ver_token_check(what, out, n, NULL) != OTA_OK)
        return ota_fail(msg, OTA_E_CORRUPT, "journal: bad %s", what);
    return OTA_OK;
}

/* Bits may only name whole blocks inside the package, after the prefix. */
static enum ota_err dev_journal_bitmap_check(const struct dev_journal *j, char *msg)
{
    if (!j->bitmap)
        return OTA_OK;
    uint64_t bs = j->block_size, top = 64 - (uint64_t)__builtin_clzll(j->bitmap);
    if (bs == 0 || (j->bitmap & 1u) || j->offset % bs != 0 || j->phase != DEV_J_DOWNLOADING ||
        j->size <= j->offset || (top - 1) * bs >= j->size - j->offset)
        return ota_fail(msg, OTA_E_CORRUPT, "journal: block bitmap %016llx does not fit offset %llu"
                        " / size %llu / block size %u", (unsigned long long)j->bitmap,
                        (unsigned long long)j->offset, (unsigned long long)j->size,
                        j->block_size);
    return OTA_OK;
}

static enum ota_err dev_journal_fields(struct cur *c, struct dev_journal *j, char *msg)
{
    j->phase = (enum dev_jphase)cur_u8(c);
    j->slots = cur_u8(c);
    j->etag_len = cur_u8(c);
    j->block_size = (uint16_t)cur_be16(c);
    (void)cur_be16(c);
    cur_bytes(c, j->etag, DEV_ETAG_MAX);
    j->offset = cur_be64(c);
    j->size = cur_be64(c);
    if ((unsigned)j->phase >= DEV_J__COUNT)
        return ota_fail(msg, OTA_E_CORRUPT, "journal: phase %u unknown", (unsigned)j->phase);
    if (j->slots & ~(DEV_SLOT_CORE | DEV_SLOT_SCRIPT) || j->etag_len > DEV_ETAG_MAX)
        return ota_fail(msg, OTA_E_CORRUPT, "journal: slots %u / etag length %zu", j->slots,
                        j->etag_len);
    if (j->block_size > 1024 || (j->block_size & (j->block_size - 1)))
        return ota_fail(msg, OTA_E_CORRUPT, "journal: block size %u", j->block_size);
    if (j->size && j->offset > j->size)
        return ota_fail(msg, OTA_E_CORRUPT, "journal: offset %llu beyond size %llu",
                        (unsigned long long)j->offset, (unsigned long long)j->size);
    enum ota_err e = dev_journal_token(c, j->core.name, VER_NAME_MAX, "core name", msg);
    if (e == OTA_OK)
        e = dev_journal_token(c, j->core.chip, VER_CHIP_MAX, "core chip", msg);
    j->core.number = cur_be32(c);
    j->script.major = cur_be32(c);
    j->script.minor = cur_be32(c);
    j->script.patch = cur_be32(c);
    if (e == OTA_OK && (j->core.number > VER_CORE_NUMBER_MAX ||
                        j->script.major > VER_SCRIPT_FIELD_MAX ||
                        j->script.minor > VER_SCRIPT_FIELD_MAX ||
                        j->script.patch > VER_SCRIPT_FIELD_MAX))
        e = ota_fail(msg, OTA_E_CORRUPT, "journal: version out of range");
    j->bitmap = cur_be64(c);
    return e == OTA_OK ? dev_journal_bitmap_check(j, msg) : e;
}

enum ota_err dev_journal_decode(const uint8_t *buf, size_t len, struct dev_journal *j, char *msg)
{
    uint8_t sum[CRYPTO_HASH_LEN];
    struct cur c;
    dev_journal_init(j);
    if (len != DEV_JOURNAL_LEN)
        return ota_fail(msg, OTA_E_CORRUPT, "journal: %zu bytes, want %d", len, DEV_JOURNAL_LEN);
    crypto_sha256(buf, DEV_JOURNAL_BODY, sum);
    if (memcmp(sum, buf + DEV_JOURNAL_BODY, 8) != 0)
        return ota_fail(msg, OTA_E_CORRUPT, "journal: checksum mismatch");
    if (memcmp(buf, "OTAJ", 4) != 0 || buf[4] != DEV_JOURNAL_FORMAT)
        return ota_fail(msg, OTA_E_CORRUPT, "journal: bad magic or format %u", buf[4]);
    cur_init(&c, buf + 5, DEV_JOURNAL_BODY - 5);
    enum ota_err e = dev_journal_fields(&c, j, msg);
    if (e == OTA_OK && c.err)
        e = ota_fail(msg, OTA_E_CORRUPT, "journal: truncated");
    if (e == OTA_OK && j->phase == DEV_J_COMMITTING &&
        (j->slots == 0 || !j->core.name[0] || !j->core.chip[0]))
        e = ota_fail(msg, OTA_E_CORRUPT, "journal: committing without slots or core version");
    if (e != OTA_OK)
        dev_journal_init(j);
    return e;
}

enum ota_err dev_journal_load(const char *path, struct dev_journal *j, char *msg)
{
    uint8_t *buf;
    size_t len;
    enum ota_err e = io_file_read_all(path, 4096, &buf, &len, msg);
    if (e == OTA_E_NOTFOUND) {
        dev_journal_init(j);
        return OTA_OK;
    }
    if (e != OTA_OK)
        return e;
    e = dev_journal_decode(buf, len, j, msg);
    free(buf);
    return e;
}

enum ota_err dev_journal_save(const char *path, const struct dev_journal *j, char *msg)
{
    uint8_t buf[DEV_JOURNAL_LEN];
    dev_journal_encode(j, buf);
    return io_file_write_all(path, buf, sizeof buf, 0644, msg);
}
