/* dpkg.h - the update package on the device: header checks, signature, extraction.
 *
 * A package (common/FORMAT.md) is a 256-byte header, the core section (a
 * delta stream, or a zlib stream of the full core), the script section (a
 * zlib stream), and a 64-byte Ed25519ph signature over everything before
 * it. dpkg reads it where it lies (the download area) through a
 * dio_reader and writes what it extracts through a dio_writer, checking
 * the size and SHA-256 of every image it produces. The header parse is the
 * one implementation: the host's pkg_header_parse (common/pkg.c) wraps it.
 *
 * Memory: struct dpkg_work, a union of what each step needs (the
 * signature's SHA-512 state, or the delta decoder with the inflater and
 * its window of 1 << ODEV_WINDOW_BITS_MAX bytes) plus one read buffer;
 * struct odev holds one. Freestanding: no allocation, no libc beyond
 * string.h. Every function returns enum odev_err and, on failure, sets
 * *why to a static English reason.
 */
#ifndef DPKG_H
#define DPKG_H

#include <stddef.h>
#include <stdint.h>

#include "dback.h"
#include "ddelta.h"
#include "dio.h"
#include "dsha256.h"

/* odev.h's default, repeated (both guarded) because odev_state.h includes
 * this header from inside odev.h: -DODEV_WINDOW_BITS_MAX sets both. */
#ifndef ODEV_WINDOW_BITS_MAX
#define ODEV_WINDOW_BITS_MAX 15
#endif
/* The control window a delta of this device's largest window needs
 * (format 4: ddelta_ctl_wbits): 512 bytes on a window 9 device. */
#define DPKG_CTL_WBITS \
    (ODEV_WINDOW_BITS_MAX < DDELTA_CTL_WBITS_MAX ? ODEV_WINDOW_BITS_MAX : DDELTA_CTL_WBITS_MAX)

#define DPKG_MAGIC "OTAP"
#define DPKG_FORMAT_VERSION 1
#define DPKG_HEADER_LEN 256
#define DPKG_SIG_LEN 64
#define DPKG_KEYID_LEN 8 /* first bytes of SHA-256(public key) */

#define DPKG_F_CORE_DELTA 0x1u
#define DPKG_F_CORE_FULL 0x2u
#define DPKG_F_SCRIPT 0x4u
#define DPKG_F_KNOWN (DPKG_F_CORE_DELTA | DPKG_F_CORE_FULL | DPKG_F_SCRIPT)
#define DPKG_FROM_ANY 0xFFFFFFFFu /* from-core of a full core for any older core */

#define DPKG_PROJECT_MAX 32 /* field sizes, NUL included */
#define DPKG_NAME_MAX 16
#define DPKG_CHIP_MAX 16
#define DPKG_CORE_NUMBER_MAX 9999u
#define DPKG_SCRIPT_FIELD_MAX 99999u
#define DPKG_IMAGE_MAX (64u << 20) /* largest core or script image */
#define DPKG_CORE_MEM_MAX (1u << 20)

/* Bytes read from the package per call (the work buffer). */
#ifndef DPKG_CHUNK
#define DPKG_CHUNK 256
#endif

struct dpkg_header {
    uint32_t flags;
    uint32_t from_core, to_core;
    uint32_t script[3];           /* major, minor, patch */
    char project[DPKG_PROJECT_MAX];
    char core_name[DPKG_NAME_MAX];
    char chip[DPKG_CHIP_MAX];
    uint8_t key_id[DPKG_KEYID_LEN];
    uint32_t core_len;            /* bytes of the core section */
    uint32_t core_size;           /* new core image */
    uint32_t old_core_size;       /* old core a delta expects */
    uint32_t script_len;          /* bytes of the script section */
    uint32_t script_size;         /* new script image */
    uint32_t core_mem;            /* host decoder memory (informational here) */
    uint32_t window_bits;         /* 9..15, of both sections */
    uint8_t old_core_hash[DSHA256_LEN], core_hash[DSHA256_LEN], script_hash[DSHA256_LEN];
    uint64_t created;             /* unix seconds, informational */
};

/* Section offsets (the header's lengths are checked against the file). */
static inline uint32_t dpkg_core_offset(const struct dpkg_header *h)
{
    (void)h;
    return DPKG_HEADER_LEN;
}
static inline uint32_t dpkg_script_offset(const struct dpkg_header *h)
{
    return DPKG_HEADER_LEN + h->core_len;
}
static inline uint32_t dpkg_sig_offset(const struct dpkg_header *h)
{
    return DPKG_HEADER_LEN + h->core_len + h->script_len;
}

/* Working memory, part of struct odev. Each step uses one member of the
 * union; in is the package read buffer. inflate and verify are the
 * backends (dback.h): a port that brings its own binds them once into a
 * zeroed struct (after odev_init; the Linux port binds zlib and libsodium),
 * and dpkg_work_init keeps them; an unbound one gets the device default. */
struct dpkg_work {
    struct dback_inflate inflate;
    struct dback_verify verify;
    union {
        struct ded25519_ph sig;
        struct {
            struct ddelta dd;
            struct dback_dinfl infl;
            uint8_t win[1u << ODEV_WINDOW_BITS_MAX];
            struct dback_dinfl ctl; /* a delta's control stream (format 4) */
            uint8_t ctl_win[1u << DPKG_CTL_WBITS];
        } apply;
    } u;
    struct dsha256 sum;           /* of what an extraction produces */
    uint32_t made, limit;         /* bytes produced, bytes the header declares */
    const struct dio_writer *sink;
    uint8_t in[DPKG_CHUNK];
    uint8_t out[DPKG_CHUNK];      /* inflated bytes of a full core or script */
};

/* Reset w for the next package, keeping bound backends and binding the
 * device's dinfl / ded25519 where none is (w must start zeroed). */
void dpkg_work_init(struct dpkg_work *w);

/* Parse and validate the first len bytes (>= DPKG_HEADER_LEN) of a
 * package whose real size is file_size: magic, version, flags, names,
 * numbers, and section lengths summing exactly to file_size. */
int dpkg_header_parse(const uint8_t *buf, size_t len, uint32_t file_size, struct dpkg_header *h,
                      const char **why);
/* The *why of an unknown format version, so a host can tell it apart. */
extern const char dpkg_why_version[];

/* Verify the Ed25519ph signature of the package (h from dpkg_header_parse)
 * with the key among keys[0..nkeys) whose id is the header's key id:
 * ODEV_E_AUTH for an unknown key or a bad signature. */
int dpkg_verify(struct dpkg_work *w, const struct dio_reader *pkg, const struct dpkg_header *h,
                const uint8_t (*keys)[DED25519_PUB_LEN], int nkeys, const char **why);

/* Produce the new core into out: the delta applied to old_core (old_len
 * bytes, the running core; checked against the header's size and hash
 * before the first write) or the full core inflated (old_core unused, may
 * be NULL). ODEV_E_LIMIT if the package's window exceeds
 * ODEV_WINDOW_BITS_MAX. Size and SHA-256 of the output are checked. */
int dpkg_extract_core(struct dpkg_work *w, const struct dio_reader *pkg,
                      const struct dpkg_header *h, const struct dio_reader *old_core,
                      uint32_t old_len, const struct dio_writer *out, const char **why);

/* Inflate the script section into out, checking its size and SHA-256. */
int dpkg_extract_script(struct dpkg_work *w, const struct dio_reader *pkg,
                        const struct dpkg_header *h, const struct dio_writer *out,
                        const char **why);

#endif
