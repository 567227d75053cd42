/* odev.h - the portable device update library: its one public header.
 *
 * What a device maker links into their firmware: recover, check, download
 * (windowed Block2 over our own CoAP codec, resumable), verify (Ed25519ph),
 * apply (streaming delta or full image into a staging area), commit, and the
 * result report. C11, freestanding: no malloc, no OS, nothing from libc
 * beyond string.h/stdint.h/stddef.h. All state lives in one caller-owned
 * struct odev whose size is fixed at compile time (ODEV_WINDOW_BITS_MAX and
 * ODEV_BLOCK_MAX size its buffers).
 *
 * The device reaches the world through one struct odev_port (below): a
 * datagram link, a millisecond clock, flash areas with erase-block
 * semantics, a journal record and a log hook. DTLS, the modem, the file
 * system and the bootloader are the port's business; ota-client (client/)
 * is the Linux port, device/port/mps2/ the emulated Cortex-M4 one. The
 * porting guide is the README section "Porting the device library".
 *
 * Modules (one prefix each, all under device/):
 *   coap/dcoap     CoAP message codec (RFC 7252, 7959 Block2, 9177 Q-Block2)
 *   dl/ddl         windowed download engine: timers, window, resume bitmap
 *   journal/djournal  the 128-byte durable phase record
 *   pkg/dpkg       package header, signature check, section extraction
 *   delta/ddelta   streaming delta decoder (every format version the server sends)
 *   crypto/, inflate/  SHA-256/512, Ed25519ph verify, RFC 1951 inflater
 *   update/odev    the update flow: this header's entry points
 */
#ifndef ODEV_H
#define ODEV_H

#include <stddef.h>
#include <stdint.h>

/* --- compile-time sizes (override with -D) ------------------------------ */

/* Largest Block2 payload asked for or accepted (SZX 6). */
#ifndef ODEV_BLOCK_MAX
#define ODEV_BLOCK_MAX 1024
#endif
/* Largest deflate window of a package this build applies (9..15); the
 * inflater's window is part of struct odev, so this sets its RAM. */
#ifndef ODEV_WINDOW_BITS_MAX
#define ODEV_WINDOW_BITS_MAX 15
#endif
/* Block requests in flight at most (the adaptive window's ceiling). */
#ifndef ODEV_INFLIGHT_MAX
#define ODEV_INFLIGHT_MAX 16
#endif
/* Largest datagram sent or received (CoAP header, options, one block). */
#ifndef ODEV_DGRAM_MAX
#define ODEV_DGRAM_MAX (ODEV_BLOCK_MAX + 128)
#endif

#define ODEV_JOURNAL_LEN 128 /* the journal record, bytes */
#define ODEV_ETAG_MAX 8
#define ODEV_PUBKEY_LEN 32
#define ODEV_PUBKEYS_MAX 4
#define ODEV_PROJECT_MAX 32 /* project name with its NUL (the server allows 31 bytes) */
#define ODEV_NAME_MAX 16    /* core name, chip, each with its NUL */
#define ODEV_IMEI_MAX 16
#define ODEV_KEY_MAX 64  /* product key, device key */

/* --- errors ------------------------------------------------------------ */

enum odev_err {
    ODEV_OK = 0,
    ODEV_E_IO,       /* a port flash/journal call failed */
    ODEV_E_CORRUPT,  /* malformed input: answer, package, delta, journal */
    ODEV_E_LIMIT,    /* a length exceeds a compile-time bound or an area */
    ODEV_E_AUTH,     /* signature, hash or key mismatch */
    ODEV_E_INVAL,    /* bad argument or configuration */
    ODEV_E_NOTFOUND, /* nothing there (no journal: idle) */
    ODEV_E_TIMEOUT,  /* port recv: nothing arrived within the wait (not an error) */
    ODEV_E_NET,      /* no answer, link failure, protocol violation */
    ODEV_E_STATE     /* not valid now (sticky failure of a decoder) */
};

/* --- identity and running images -------------------------------------- */

struct odev_image {
    char core_name[ODEV_NAME_MAX];
    char chip[ODEV_NAME_MAX];
    uint32_t core;       /* core number, 17 for "0017" */
    uint32_t script[3];  /* major, minor, patch */
    uint32_t core_len;   /* bytes of the running core in ODEV_AREA_CORE */
    uint32_t script_len; /* bytes of the running script in ODEV_AREA_SCRIPT */
};

/* --- the port ---------------------------------------------------------- */

struct dback_inflate;
struct dback_verify;

/* Flash areas. STAGING holds the new core followed by the new script (at
 * the next erase-block boundary); commit copies them over CORE and SCRIPT
 * unless the port installs them itself (install below). */
enum odev_area {
    ODEV_AREA_DOWNLOAD = 0, /* the package as it arrives */
    ODEV_AREA_STAGING,      /* new images before commit */
    ODEV_AREA_CORE,         /* the running core */
    ODEV_AREA_SCRIPT,       /* the running script */
    ODEV_AREA__COUNT
};

struct odev_geometry {
    uint32_t size;  /* bytes */
    uint32_t erase; /* erase-block size, a power of two; 1 = byte-writable (files) */
};

enum odev_log_level { ODEV_LOG_ERROR, ODEV_LOG_WARN, ODEV_LOG_INFO, ODEV_LOG_DEBUG };

/* What a log line is about, so a port can react or word it its own way
 * without comparing texts; the numbers behind an event are in
 * odev_progress() at the moment the hook runs. */
enum odev_event {
    ODEV_EV_TEXT = 0,        /* nothing more than the text */
    ODEV_EV_RESUME,          /* resuming a download (progress: at, size) */
    ODEV_EV_SMALLER_BLOCKS,  /* the server answers in smaller blocks (block, block_was, at) */
    ODEV_EV_PKG_CHANGED,     /* another ETag or size: the download restarts from 0 */
    ODEV_EV_PROBE_402,       /* a 4.02 past block 0: asking block 0 (block_num) */
    ODEV_EV__COUNT
};

/* Every function returns enum odev_err (as int so ports need not include
 * anything else). Flash semantics are NOR's: write only clears bits of
 * erased (0xFF) bytes, erase sets whole erase blocks to 0xFF, and nothing
 * is durable before sync returns. A power cut may tear the write, erase or
 * sync in flight; the library survives that at every call. */
struct odev_port {
    void *ctx;
    /* One datagram to the server (the port knows its address; DTLS, AT
     * sockets and the like live behind this). ODEV_E_NET = link down. */
    int (*send)(void *ctx, const uint8_t *buf, size_t len);
    /* Wait up to wait_ms for one datagram: ODEV_OK with *len set,
     * ODEV_E_TIMEOUT when nothing came, ODEV_E_NET when the link failed
     * (e.g. ICMP port unreachable, DTLS alert). */
    int (*recv)(void *ctx, uint8_t *buf, size_t cap, size_t *len, uint32_t wait_ms);
    uint32_t (*now_ms)(void *ctx); /* monotonic, wraps after 49 days */
    int (*read)(void *ctx, enum odev_area a, uint32_t off, void *buf, size_t len);
    int (*write)(void *ctx, enum odev_area a, uint32_t off, const void *buf, size_t len);
    int (*erase)(void *ctx, enum odev_area a, uint32_t off, uint32_t len); /* whole blocks */
    int (*sync)(void *ctx, enum odev_area a);
    /* The journal: load ODEV_E_NOTFOUND = none (idle); save must be atomic
     * (the old or the new record survives a cut, e.g. two sectors with a
     * sequence number, or temp file + rename). */
    int (*journal_load)(void *ctx, uint8_t rec[ODEV_JOURNAL_LEN]);
    int (*journal_save)(void *ctx, const uint8_t rec[ODEV_JOURNAL_LEN]);
    /* May be NULL. msg is a short fixed text (no numbers); ev says which
     * event it is (ODEV_EV_TEXT for the rest). */
    void (*log)(void *ctx, enum odev_log_level level, enum odev_event ev, const char *msg);
    /* Optional (NULL = the library copies STAGING over the slots):
     * install the staged image of len bytes at staging offset off into
     * slot (ODEV_AREA_CORE or _SCRIPT) atomically and idempotently; the
     * Linux port renames a file. */
    int (*install)(void *ctx, enum odev_area slot, uint32_t off, uint32_t len);
    /* Optional: persist the running versions after a commit (the Linux
     * port rewrites device.ini); the journal keeps them in any case. */
    int (*installed)(void *ctx, const struct odev_image *now);
    /* Optional (NULL = the library's own dinfl and ded25519): bind the
     * port's inflate and Ed25519ph backends (device/dback.h) before each
     * verify and apply; the Linux port binds zlib and libsodium. */
    void (*backends)(void *ctx, struct dback_inflate *inflate, struct dback_verify *verify);
    /* Optional: fill buf with len unpredictable bytes (a TRNG), ODEV_OK.
     * NULL or a failure: the clock and the IMEI seed the token base and
     * the retransmission jitter. Either way the base also carries a boot
     * counter kept in the journal (saved once per boot, at the first
     * check or update) and the run number within the boot, so two runs
     * never reuse a base even on a clock that starts at the same value
     * at every boot (within 65536 boots x 256 runs). */
    int (*random)(void *ctx, uint8_t *buf, size_t len);
};

/* What the integrator fills once (constants of the product). */
struct odev_config {
    char project[ODEV_PROJECT_MAX];
    char product_key[ODEV_KEY_MAX];
    char imei[ODEV_IMEI_MAX];
    char device_key[ODEV_KEY_MAX];   /* "" if unset */
    struct odev_image factory;       /* images at manufacture (the journal overrides) */
    uint8_t pubkeys[ODEV_PUBKEYS_MAX][ODEV_PUBKEY_LEN];
    int npubkeys;
    unsigned szx;                    /* preferred block size 16<<szx, 0..6 */
    int window;                      /* max blocks in flight; 1 = strict NSTART=1 */
    uint32_t block_timeout_ms;       /* give up on one block after this; 0 = default 93 s */
    uint32_t max_wait_ms;            /* cap on one 5.03 wait; 0 = default 300 s */
    int fota_only;                   /* never use the short /p/<ETag> exchange */
    struct odev_geometry area[ODEV_AREA__COUNT];
};

/* --- results ----------------------------------------------------------- */

enum odev_status {
    ODEV_S_LOCAL = 0,  /* local error (flash, journal, configuration) */
    ODEV_S_UPDATED,    /* installed */
    ODEV_S_AVAILABLE,  /* check: the server offers a package */
    ODEV_S_NO_UPDATE,  /* nothing newer (4.04 platform code 27) */
    ODEV_S_REJECTED,   /* any other 4.xx */
    ODEV_S_VERIFY,     /* the package is not acceptable; old images kept */
    ODEV_S_NET         /* no answer, protocol failure, 5.xx, busy */
};

/* Why a package was refused, in a pending report: stored in the journal
 * with the result code, so a report sent by a later run still says why
 * with a fixed phrase (odev_reason_phrase). */
enum odev_reason {
    ODEV_R_NONE = 0,
    ODEV_R_PROJECT,     /* header: another project */
    ODEV_R_CORE,        /* header: another core name or chip */
    ODEV_R_KEY,         /* header: signed by a key the device does not hold */
    ODEV_R_WINDOW,      /* header: deflate window above ODEV_WINDOW_BITS_MAX */
    ODEV_R_EMPTY,       /* header: neither core nor script */
    ODEV_R_BASE,        /* header: a delta from another core version */
    ODEV_R_CORE_DOWN,   /* header: core downgrade */
    ODEV_R_SCRIPT_CORE, /* header: script package for another core version */
    ODEV_R_SCRIPT_DOWN, /* header: script downgrade */
    ODEV_R_SIGNATURE,   /* signature or hash mismatch (ODEV_E_AUTH) */
    ODEV_R_MALFORMED,   /* malformed package (ODEV_E_CORRUPT and others) */
    ODEV_R_TOO_LARGE,   /* beyond an area or a limit of this build (ODEV_E_LIMIT) */
    ODEV_R__COUNT
};

struct odev_result {
    enum odev_status status;
    unsigned coap_code;        /* last response, class*100+detail; 0 none */
    int srv_code;              /* platform code of the diagnostic, -1 none */
    const char *reason;        /* static text of a failure, "" on success */
    struct odev_image from, to;
    uint32_t pkg_size;
    uint32_t bytes;            /* payload bytes received in this run */
    uint32_t retx;             /* block requests sent again */
    unsigned refusal;          /* enum odev_reason of a refused package, else ODEV_R_NONE */
};

/* The download's numbers, for a port's log (read them in the log hook). */
struct odev_progress {
    uint32_t at;        /* bytes stored contiguously from 0 (the resume point) */
    uint32_t size;      /* package size, 0 while unknown */
    uint32_t block;     /* block size of the last answer, bytes */
    uint32_t block_was; /* block size the transfer used before it, bytes */
    uint32_t block_num; /* block number of the last answer */
};

/* The last download's link figures, for a log line or a field test. */
struct odev_link_stats {
    int window_max;            /* the window's cap, blocks */
    uint32_t cwnd_peak, cwnd;  /* the window at its peak and at the end, 1/256 blocks */
    uint32_t sent, retx;       /* block requests sent; of them sent again */
    uint32_t fast, timeouts;   /* losses found by later answers; by timers */
    uint32_t cuts, dups, busy; /* window cuts; answers already held; 5.03/4.29 waits */
    uint32_t rtt_min, srtt;    /* round trips, 1/8 ms (0 = no sample) */
};

/* --- the state --------------------------------------------------------- */

/* Private: the modules' headers define these; a port sees only the size.
 * device/odev_state.h has the definition (included by the library and by
 * code that declares a struct odev). */
#include "odev_state.h"

/* Bind the config and the port, load the journal (a corrupt record is
 * reported and treated as idle with the factory images). No I/O beyond
 * journal_load and the flash reads recovery needs. */
enum odev_err odev_init(struct odev *d, const struct odev_config *c, const struct odev_port *p);
/* Finish or roll back whatever the journal says was interrupted: after
 * this the slots hold the complete old or the complete new images. Call
 * at every boot before running the core. */
enum odev_err odev_recover(struct odev *d);
/* One block request: is an update offered? */
enum odev_err odev_check(struct odev *d, struct odev_result *r);
/* Download (resuming), verify, apply, commit, report. */
enum odev_err odev_update(struct odev *d, struct odev_result *r);
void odev_progress(const struct odev *d, struct odev_progress *p);
void odev_link_stats(const struct odev *d, struct odev_link_stats *s);
/* The running images (factory, or the journal's after a commit). */
const struct odev_image *odev_running(const struct odev *d);
const char *odev_status_phrase(enum odev_status s);
/* The fixed phrase of an enum odev_reason ("" for none or unknown). */
const char *odev_reason_phrase(unsigned code);

#endif
