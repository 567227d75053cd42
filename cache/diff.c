/* diff.c - standalone delta files for `ota-cache diff` / `ota-cache patch`.
 *
 * diff reads both images into memory (the encoder needs random access to
 * both); patch streams the patch file through the same bounded-memory
 * decoder a device uses, reading the old file at offsets, so the host path
 * exercises exactly the device code.
 */
#include "diff.h"

#include <stdlib.h>

#define DIFF_CHUNK 65536

enum ota_err cache_diff_files(const char *old_path, const char *new_path, const char *patch_path,
                              const struct delta_params *params, char *msg)
{
    uint8_t *old = NULL, *nw = NULL, *patch = NULL;
    size_t old_len, new_len, patch_len;
    struct io_atomic a;
    struct io_writer w;
    enum ota_err e = io_file_read_all(old_path, DELTA_IMAGE_MAX, &old, &old_len, msg);
    if (e == OTA_OK)
        e = io_file_read_all(new_path, DELTA_IMAGE_MAX, &nw, &new_len, msg);
    if (e == OTA_OK)
        e = delta_encode(old, old_len, nw, new_len, params, &patch, &patch_len, NULL, msg);
    free(old);
    free(nw);
    if (e == OTA_OK && (e = io_atomic_open(&a, patch_path, 0644, msg)) == OTA_OK) {
        io_atomic_writer(&w, &a);
        e = io_write(&w, patch, patch_len);
        if (e != OTA_OK) {
            io_atomic_abort(&a);
            ota_fail(msg, e, "%s: write failed", patch_path);
        } else {
            e = io_atomic_commit(&a, msg);
        }
    }
    free(patch);
    return e;
}

/* Feed the whole patch file through d in DIFF_CHUNK pieces. */
static enum ota_err patch_stream(struct delta_dec *d, const struct io_reader *patch, uint8_t *buf,
                                 const char *patch_path, char *msg)
{
    for (uint64_t off = 0; off < patch->size;) {
        size_t n = patch->size - off < DIFF_CHUNK ? (size_t)(patch->size - off) : DIFF_CHUNK;
        enum ota_err e = io_read_at(patch, off, buf, n);
        if (e != OTA_OK)
            return ota_fail(msg, e, "%s: read failed at %llu", patch_path,
                            (unsigned long long)off);
        if ((e = delta_dec_feed(d, buf, n, msg)) != OTA_OK)
            return e;
        off += n;
    }
    return delta_dec_finish(d, msg);
}

static enum ota_err patch_run(const struct io_reader *old, const struct io_reader *patch,
                              const char *patch_path, const char *new_path, char *msg)
{
    struct io_atomic a;
    struct io_writer w;
    size_t alen = delta_dec_arena_size(DELTA_WINDOW_BITS_MAX);
    struct delta_dec *d = malloc(sizeof *d);
    uint8_t *arena = malloc(alen), *buf = malloc(DIFF_CHUNK);
    enum ota_err e = OTA_OK;
    if (!d || !arena || !buf)
        e = ota_fail(msg, OTA_E_NOMEM, "patch: decoder buffers");
    if (e == OTA_OK && (e = io_atomic_open(&a, new_path, 0644, msg)) == OTA_OK) {
        io_atomic_writer(&w, &a);
        e = delta_dec_init(d, old, &w, arena, alen, msg);
        if (e == OTA_OK)
            delta_dec_set_source(d, patch); /* format 4 reads its control stream at offsets */
        if (e == OTA_OK)
            e = patch_stream(d, patch, buf, patch_path, msg);
        if (e == OTA_OK)
            e = io_atomic_commit(&a, msg);
        else
            io_atomic_abort(&a);
    }
    free(d);
    free(arena);
    free(buf);
    return e;
}

enum ota_err cache_patch_files(const char *old_path, const char *patch_path, const char *new_path,
                               char *msg)
{
    struct io_reader old, patch;
    enum ota_err e = io_file_reader_open(&old, old_path, msg);
    if (e != OTA_OK)
        return e;
    if ((e = io_file_reader_open(&patch, patch_path, msg)) != OTA_OK) {
        io_file_reader_close(&old);
        return e;
    }
    e = patch_run(&old, &patch, patch_path, new_path, msg);
    io_file_reader_close(&patch);
    io_file_reader_close(&old);
    return e;
}
