/* io.h - the small callback interfaces all format code does its I/O through.
 *
 * Three shapes cover every need: read at an offset (old core, a package in
 * the download area), write sequentially (new core into staging, a package
 * being built), and pull a stream (delta bytes as they come out of a
 * package). Each is a function pointer plus a ctx; a short read is an error.
 * File and memory implementations live in io.c; tests wrap them to inject
 * faults. io_atomic_* gives the "temp name, fsync, rename" file writer that
 * every durable output uses.
 */
#ifndef IO_H
#define IO_H

#include "ota.h"

#include <stdio.h>

/* Random-access reader; size is the total readable length. */
struct io_reader {
    enum ota_err (*read_at)(void *ctx, uint64_t off, void *buf, size_t len);
    uint64_t size;
    void *ctx;
};

/* Sequential writer. */
struct io_writer {
    enum ota_err (*write)(void *ctx, const void *buf, size_t len);
    void *ctx;
};

/* Read exactly len bytes at off; OTA_E_CORRUPT if the range is outside. */
enum ota_err io_read_at(const struct io_reader *r, uint64_t off, void *buf, size_t len);
enum ota_err io_write(const struct io_writer *w, const void *buf, size_t len);

/* Memory reader over a caller-owned buffer. */
void io_mem_reader(struct io_reader *r, const void *buf, size_t len);

/* Memory writer into a caller-owned buffer of fixed capacity. */
struct io_mem_sink {
    uint8_t *buf;
    size_t cap, len;
};
void io_mem_writer(struct io_writer *w, struct io_mem_sink *sink);

/* File reader; io_file_reader_close releases it. */
enum ota_err io_file_reader_open(struct io_reader *r, const char *path, char *msg);
void io_file_reader_close(struct io_reader *r);

/* Atomic file: writes go to "<path>.tmp.<pid>" in the same directory;
 * commit fsyncs the file, renames it over path and fsyncs the directory;
 * abort removes the temporary. Exactly one of commit/abort must follow open. */
struct io_atomic {
    FILE *fp;
    char path[1024];
    char tmp[1100];
};
enum ota_err io_atomic_open(struct io_atomic *a, const char *path, int mode, char *msg);
void io_atomic_writer(struct io_writer *w, struct io_atomic *a);
enum ota_err io_atomic_commit(struct io_atomic *a, char *msg);
void io_atomic_abort(struct io_atomic *a);

/* Whole-file helpers for small files (config, keys): atomic write, and a
 * bounded read that fails with OTA_E_LIMIT above max bytes. *out is malloc'd
 * and NUL-terminated; the caller frees it. */
enum ota_err io_file_write_all(const char *path, const void *buf, size_t len, int mode, char *msg);
enum ota_err io_file_read_all(const char *path, size_t max, uint8_t **out, size_t *len, char *msg);

/* A secret file (PSK secret, admin tokens) is a regular file that neither
 * group nor others may access: OTA_E_NOTFOUND/OTA_E_IO if it cannot be
 * stat'ed, else OTA_E_AUTH ("insecure permissions", with the chmod that
 * fixes it). */
enum ota_err io_file_check_private(const char *path, char *msg);

/* mkdir -p: create dir and any missing parents with mode. */
enum ota_err io_mkdirs(const char *dir, int mode, char *msg);

/* fsync the directory containing path (after a rename or unlink). */
enum ota_err io_sync_parent(const char *path, char *msg);

#endif
