/* index.h - the in-memory index of the package cache directory.
 *
 * The cache directory is flat and is the single source of truth
 * (DESIGN.md sections 3 and 8). Every regular file named *.pkg (hidden
 * files and temporaries "*.tmp.*" are ignored) is opened, read into memory,
 * its header parsed and its signature verified with the configured public
 * key, and its SHA-256 computed (the ETag is its first 8 bytes). A file
 * that fails is logged once and skipped until its size, mtime or inode
 * changes, so a file still being copied in is never served, and is picked
 * up as soon as it is complete.
 *
 * A rescan only stats unchanged files (same name, device, inode, size and
 * mtime keep their bytes, hash and verdict), so it is cheap enough to run
 * on every inotify event and every few seconds as a backstop.
 * Packages are reference-counted: the index holds one reference; a user
 * that keeps a package past the current request (the device HTTP API,
 * whose answer streams from the bytes after the request is decided) takes
 * its own, and the bytes are freed when the last reference goes; the
 * count is atomic, the HTTP thread drops its references. Each package's bytes are a
 * private copy read at load time (not a shared mapping), so the bytes
 * served under an ETag are exactly the bytes hashed for it even if the
 * file is rewritten or truncated in place (cp over it): a replaced file
 * is a new package with a new ETag, and a device that was mid-download
 * sees the ETag change on its next block and restarts. The memory cost
 * is the size of the served packages (the cache holds one release).
 * Vendor packages (vendor.h) are indexed by their manifest NAME.vendor.ini:
 * NAME.vendor is read, its size and SHA-256 checked against the manifest
 * (no signature), and a header equivalent flagged PKG_F_VENDOR is built,
 * so selection and Block2 serving treat it like a package; a change of
 * either file reloads it, a mismatch is logged and skipped like a bad
 * package.
 * Single-threaded: call rescan only between requests.
 */
#ifndef SRV_INDEX_H
#define SRV_INDEX_H

#include "pkg.h"

#include <sys/types.h>
#include <time.h>

#ifndef SRV_INDEX_FILES_MAX
#define SRV_INDEX_FILES_MAX 4096 /* entries in the cache directory we look at */
#endif
#define SRV_ETAG_LEN 8
#define SRV_NAME_MAX 256

struct srv_pkg {
    unsigned refs;
    char name[SRV_NAME_MAX];
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    int ok;                /* header and signature verified (vendor: size and hash) */
    int vendor;            /* a vendor package: name is its manifest NAME.vendor.ini */
    dev_t data_dev;        /* vendor: identity of NAME.vendor, the bytes served */
    ino_t data_ino;
    off_t data_size;
    struct timespec data_mtime;
    const uint8_t *map;    /* whole file (private copy); NULL unless ok */
    size_t len;
    struct pkg_header h;
    uint8_t hash[CRYPTO_HASH_LEN]; /* SHA-256 of the whole file */
    /* block answers and their payload bytes (metrics.h); a file replaced
     * under the same name carries them over */
    uint64_t sent_blocks, sent_bytes;
    uint64_t downloads_started, downloads_completed; /* transfers begun, last blocks sent */
};

struct srv_index {
    char dir[1024];
    uint8_t pub[CRYPTO_PUB_LEN];
    struct srv_pkg **all;  /* every *.pkg seen, good or bad, sorted by name */
    size_t nall;
    struct srv_pkg **pkgs; /* the good ones, same order */
    const struct pkg_header **hdrs; /* hdrs[i] == &pkgs[i]->h, for srv_select */
    size_t n;
    int inotify_fd;        /* -1 if unavailable: periodic rescans only */
    int dirty;             /* an inotify event arrived since the last scan */
    uint64_t last_event_ms, last_scan_ms;
    uint64_t gen;          /* bumped whenever the set of packages changes */
};

/* Scan once and start watching. Fails if the directory cannot be read. */
enum ota_err srv_index_open(struct srv_index *x, const char *dir,
                            const uint8_t pub[CRYPTO_PUB_LEN], char *msg);
void srv_index_close(struct srv_index *x);

/* Rescan now; on failure the previous index stays in use. */
enum ota_err srv_index_rescan(struct srv_index *x, char *msg);

/* Called from the server loop with a monotonic clock: drains inotify and
 * rescans when the directory changed (after SRV_INDEX_SETTLE_MS of quiet)
 * or SRV_INDEX_PERIOD_MS passed. Returns 1 if it rescanned, -1 if a
 * rescan failed (the previous index stays), 0 if none was due. */
#define SRV_INDEX_SETTLE_MS 100
#define SRV_INDEX_PERIOD_MS 5000
int srv_index_tick(struct srv_index *x, uint64_t now_ms);

/* Count one block answer of len bytes. The counters are the only part of
 * a served package that changes, and only on the CoAP thread. */
/* One block answer of p: len payload bytes; started = it began a transfer,
 * last = it is the package's last block. */
void srv_pkg_count_block(const struct srv_pkg *p, size_t len, int started, int last);

void srv_pkg_ref(struct srv_pkg *p);
void srv_pkg_unref(struct srv_pkg *p);

#endif
