/* dio.h - the two callbacks the device library's format code does its I/O through.
 *
 * dpkg and ddelta never see flash, files or areas: they read a package or
 * the old image at offsets through a dio_reader and write the new image
 * sequentially through a dio_writer. The update flow (device/update/odev.c)
 * adapts the port's areas to them (its writer erases each erase block
 * before the first write into it and syncs at the end); the host tests
 * adapt memory. Both return enum odev_err as an int (ODEV_OK = 0); the
 * library passes any other value on as the operation's result. Readers are
 * only ever asked for ranges the caller declared valid (sizes are passed
 * next to the reader), so a short read is an error of the port.
 */
#ifndef DIO_H
#define DIO_H

#include <stddef.h>
#include <stdint.h>

struct dio_reader {
    int (*read)(void *ctx, uint32_t off, void *buf, size_t len); /* exactly len bytes */
    void *ctx;
};

struct dio_writer {
    int (*write)(void *ctx, const void *buf, size_t len); /* sequential, all len bytes */
    void *ctx;
};

static inline int dio_read(const struct dio_reader *r, uint32_t off, void *buf, size_t len)
{
    return len ? r->read(r->ctx, off, buf, len) : 0;
}

static inline int dio_write(const struct dio_writer *w, const void *buf, size_t len)
{
    return len ? w->write(w->ctx, buf, len) : 0;
}

#endif
