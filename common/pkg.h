/* pkg.h - the update package: format v1, build, verify, extract.
 *
 * A package is: a fixed 256-byte header, the core section (a delta stream
 * from delta.h, or a zlib stream of the full core), the script section (a
 * zlib stream of the full script image), then a 64-byte Ed25519ph
 * signature over every byte before it. All integers are big-endian. The
 * layout is documented in common/FORMAT.md; the header is authoritative,
 * the file name only a convenience.
 *
 * pkg_header_parse validates every field against the real file size before
 * anything else uses it. Build runs on the cache host (allocates freely);
 * verify and extract run on the device through io.h callbacks with bounded
 * memory, and check the size and SHA-256 of everything they produce: they
 * are the device library's (device/pkg/dpkg.h) with zlib and libsodium,
 * one package at a time per process (a static work area).
 */
#ifndef PKG_H
#define PKG_H

#include "crypto.h"
#include "ver.h"

#define PKG_MAGIC "OTAP"
#define PKG_FORMAT_VERSION 1
#define PKG_HEADER_LEN 256
#define PKG_SIG_LEN CRYPTO_SIG_LEN

#define PKG_F_CORE_DELTA 0x1u /* core section is a delta from from_core */
#define PKG_F_CORE_FULL 0x2u  /* core section is the full new core */
#define PKG_F_SCRIPT 0x4u     /* script section present */
#define PKG_F_KNOWN (PKG_F_CORE_DELTA | PKG_F_CORE_FULL | PKG_F_SCRIPT)
/* Never in a file: marks the header the server builds for a vendor
 * package (common/vendor.h) so selection keeps the two kinds apart. */
#define PKG_F_VENDOR 0x100u

/* from_core of a full-core package usable from any older core. */
#define PKG_FROM_ANY 0xFFFFFFFFu

#ifndef PKG_IMAGE_MAX
#define PKG_IMAGE_MAX (64u << 20) /* largest core or script image, bytes */
#endif

struct pkg_header {
    uint32_t format;
    uint32_t flags;
    char project[VER_PROJECT_MAX];
    char core_name[VER_NAME_MAX];
    char chip[VER_CHIP_MAX];
    uint32_t from_core; /* device core this applies to, or PKG_FROM_ANY */
    uint32_t to_core;   /* core after applying (== from_core if no core section) */
    struct ver_script script; /* the release's script version */
    uint8_t key_id[CRYPTO_KEYID_LEN];
    uint64_t core_len;      /* bytes of the core section */
    uint64_t core_size;     /* size of the new core image */
    uint64_t old_core_size; /* size of the old core a delta expects */
    uint64_t script_len;    /* bytes of the script section */
    uint64_t script_size;   /* size of the new script image */
    uint32_t core_mem;      /* decoder working memory the core section needs */
    uint32_t window_bits;   /* zlib window bits of the core delta stream */
    uint8_t old_core_hash[CRYPTO_HASH_LEN];
    uint8_t core_hash[CRYPTO_HASH_LEN];
    uint8_t script_hash[CRYPTO_HASH_LEN];
    uint64_t created; /* unix seconds, informational */
};

void pkg_header_encode(const struct pkg_header *h, uint8_t out[PKG_HEADER_LEN]);
/* Parse and validate; file_size is the real size of the whole package. */
enum ota_err pkg_header_parse(const uint8_t *buf, size_t len, uint64_t file_size,
                              struct pkg_header *h, char *msg);

static inline uint64_t pkg_core_offset(const struct pkg_header *h)
{
    (void)h;
    return PKG_HEADER_LEN;
}
static inline uint64_t pkg_script_offset(const struct pkg_header *h)
{
    return PKG_HEADER_LEN + h->core_len;
}
static inline uint64_t pkg_sig_offset(const struct pkg_header *h)
{
    return PKG_HEADER_LEN + h->core_len + h->script_len;
}
static inline uint64_t pkg_total_size(const struct pkg_header *h)
{
    return pkg_sig_offset(h) + PKG_SIG_LEN;
}

/* "<PROJECT>_<script>_<from>-<to>[_core|_script].pkg": _core when there is
 * no script section, _script when there is no core section, "any" for
 * PKG_FROM_ANY. Unique per (project, from, to, script, contents). */
void pkg_file_name(const struct pkg_header *h, char *out, size_t n);
/* Human summary of the contents: "delta+script", "full", "script", ... */
const char *pkg_contents_name(uint32_t flags);

/* Build a package. old_core is needed for PKG_F_CORE_DELTA only; new_core
 * for either core flag; script for PKG_F_SCRIPT. The header fields project,
 * core_name, chip, from_core, to_core, script and flags come from tmpl;
 * everything else is computed. The output is written sequentially to w. */
struct pkg_build_input {
    struct pkg_header tmpl;
    const uint8_t *old_core;
    size_t old_core_len;
    const uint8_t *new_core;
    size_t new_core_len;
    const uint8_t *script;
    size_t script_len;
    int window_bits; /* delta/zlib window, 9..15; 0 = default */
    const uint8_t *secret_key; /* CRYPTO_SEC_LEN bytes */
    /* Optional: a core section made earlier by pkg_core_section for the
     * same inputs and flags, so one delta serves several packages. */
    const uint8_t *core_section;
    size_t core_section_len;
    uint32_t core_mem;
};
/* The core section (delta or zlib full image) the inputs call for; *sec is
 * malloc'd, *mem is the working memory a device needs to apply it. */
enum ota_err pkg_core_section(const struct pkg_build_input *in, uint8_t **sec, size_t *sec_len,
                              uint32_t *mem, char *msg);
enum ota_err pkg_build(const struct pkg_build_input *in, const struct io_writer *w,
                       struct pkg_header *out, char *msg);

/* Check header, find the key by key id among npub keys, verify the
 * signature in one pass. keys is an array of CRYPTO_PUB_LEN-byte keys. */
enum ota_err pkg_verify(const struct io_reader *pkg, const uint8_t (*keys)[CRYPTO_PUB_LEN],
                        size_t nkeys, struct pkg_header *h, char *msg);

/* Inflate the script section into out, checking size and hash. */
enum ota_err pkg_script_extract(const struct io_reader *pkg, const struct pkg_header *h,
                                const struct io_writer *out, char *msg);
/* Produce the new core into out (old_core is read for a delta; may be NULL
 * for a full core), checking size and hash. */
enum ota_err pkg_core_extract(const struct io_reader *pkg, const struct pkg_header *h,
                              const struct io_reader *old_core, const struct io_writer *out,
                              char *msg);

/* Working memory (decoder state + package read buffer + zlib arena
 * high-water mark) used by the last delta applied through
 * pkg_core_extract, in bytes. */
size_t pkg_apply_mem_peak(void);

#endif
