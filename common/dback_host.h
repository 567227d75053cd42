/* dback_host.h - the host's backends for the device library (device/dback.h).
 *
 * zlib inflating from a caller's bump arena (so the decoder's memory stays
 * a fixed, measured figure) and libsodium's Ed25519ph through crypto.h.
 * common/delta_dec.c binds the inflater, common/pkg.c and the Linux port
 * both. Also the host's side of dio.h and of the device's error codes, so
 * each host wrapper of the library keeps the host's API and errors.
 */
#ifndef DBACK_HOST_H
#define DBACK_HOST_H

#include "crypto.h"
#include "dback.h"
#include "dio.h"
#include "io.h"

#include <zlib.h>

/* zlib's inflate state without its window (sizeof(struct inflate_state),
 * about 7.1 KB on 64-bit zlib 1.2.x) plus alignment slack; an arena must
 * hold this plus the 1 << window_bits window. */
#ifndef DBACK_ZLIB_STATE_BYTES
#define DBACK_ZLIB_STATE_BYTES 7424u
#endif
/* Arena bytes for a window of 2^wbits: two blocks, each padded to 16. */
#define DBACK_ZLIB_ARENA(wbits) (DBACK_ZLIB_STATE_BYTES + ((size_t)1 << (wbits)) + 32u)

struct dback_zlib {
    z_stream zs;
    uint8_t *arena;
    size_t len, used, peak; /* peak: high-water mark of the arena */
    int live;
};

/* Bind an inflater over arena[0..len); start refuses (ODEV_E_LIMIT) a
 * window the arena cannot hold. dback_zlib_end frees nothing but zlib's
 * bookkeeping; call it when the stream is abandoned or done. */
void dback_zlib_bind(struct dback_inflate *b, struct dback_zlib *z, void *arena, size_t len);
void dback_zlib_end(struct dback_zlib *z);
/* n more bytes of the arena after what start took (zlib allocates its
 * window later, behind them), or NULL when they do not fit. */
void *dback_zlib_take(struct dback_zlib *z, size_t n);

struct dback_sodium {
    struct crypto_signer s;
};
void dback_sodium_bind(struct dback_verify *b, struct dback_sodium *s);

/* An io.h reader or writer behind a dio.h one (64-bit offsets cannot
 * arise: the library's are 32-bit). A failed call leaves the host's error
 * in *err, so the caller reports it rather than the device's ODEV_E_IO.
 * The io.h struct is copied into io, which must outlive the dio one. */
struct dback_io {
    struct io_reader r;
    struct io_writer w;
    enum ota_err *err;
};
void dback_io_reader(struct dback_io *io, const struct io_reader *r, enum ota_err *err,
                     struct dio_reader *out);
void dback_io_writer(struct dback_io *io, const struct io_writer *w, enum ota_err *err,
                     struct dio_writer *out);

/* The host's code for the library's result e (enum odev_err) with reason
 * why: io_err when a read or write failed (and the failure is not the
 * sticky ODEV_E_STATE), OTA_E_VERSION for an unknown delta or package
 * format version, else the code of the same meaning. */
enum ota_err dback_err(int e, const char *why, enum ota_err io_err);

#endif
