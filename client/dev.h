/* dev.h - the device client library: `check` and `update`, as main.c calls them.
 *
 * ota-client simulates one NB-IoT module. Its flash is a state directory
 * (flash.h), its update progress a journal (journal.h), its link a "fetch
 * block N" interface (dl.h) implemented over libcoap (net.h). This header
 * holds the compile-time limits of the whole client in one place, the result
 * a run produces, the progress callback main.c draws from, and the fixed
 * mapping from a result to the process exit code.
 *
 * RAM: download and apply use the fixed buffers sized here; nothing is
 * allocated per block. The library never prints or exits: it reports
 * through log_msg(), the progress callback and struct dev_result.
 */
#ifndef DEV_H
#define DEV_H

#include "cfg.h"
#include "ota.h"

/* Largest Block2 payload we ask for or accept (RFC 7959 SZX 6). */
#ifndef DEV_BLOCK_MAX
#define DEV_BLOCK_MAX 1024
#endif
/* Largest package we are willing to store in the download area. */
#ifndef DEV_PKG_MAX
#define DEV_PKG_MAX (128u << 20)
#endif
/* Room for the whole GET /fota query (all fields, NUL-separated). */
#ifndef DEV_QUERY_MAX
#define DEV_QUERY_MAX 512
#endif
/* Initial retransmission timeout of a block request (RFC 7252 ACK_TIMEOUT). */
#ifndef DEV_ACK_TIMEOUT_MS
#define DEV_ACK_TIMEOUT_MS 2000
#endif
/* Retransmissions of one block request before giving up (RFC 7252). */
#ifndef DEV_MAX_RETRANSMIT
#define DEV_MAX_RETRANSMIT 4
#endif
/* Blocks in flight: the adaptive window's ceiling when device.ini has no
 * window (1 = strict NSTART=1), its start, and the largest allowed. */
#ifndef DEV_WINDOW_DEFAULT
#define DEV_WINDOW_DEFAULT 32
#endif
#ifndef DEV_WINDOW_INIT
#define DEV_WINDOW_INIT 4
#endif
#ifndef DEV_WINDOW_MAX
#define DEV_WINDOW_MAX 64
#endif
/* Bounds of the RTT-derived retransmission timeout (RFC 6298 says 1 s
 * minimum for TCP; a CoAP block answer has no delayed ACK, so less). */
#ifndef DEV_RTO_MIN_S
#define DEV_RTO_MIN_S 0.3
#endif
#ifndef DEV_RTO_MAX_S
#define DEV_RTO_MAX_S 32.0
#endif
/* Answers to later requests before an unanswered one counts as lost. */
#ifndef DEV_DUP_THRESH
#define DEV_DUP_THRESH 3
#endif
/* Give up on one block request after this long without an answer. */
#ifndef DEV_NET_TIMEOUT_S
#define DEV_NET_TIMEOUT_S 93.0
#endif
/* Bytes between durable download checkpoints (fsync + journal): bounds
 * what a power cut loses, and the fsync cost per byte whatever the block
 * size. */
#ifndef DEV_CHECKPOINT_BYTES
#define DEV_CHECKPOINT_BYTES 16384u
#endif
/* A 5.03 to the first request of a check or a download (the server is
 * making this core's package: platform code 43, Max-Age 30; or it is
 * overloaded) is waited out: Max-Age seconds (1 if absent), at most
 * DEV_BUSY_WAIT_MAX_S (or --max-wait), then asked again, at most
 * DEV_BUSY_RETRIES times; after that the run ends with exit 5. */
#ifndef DEV_BUSY_WAIT_MAX_S
#define DEV_BUSY_WAIT_MAX_S 300.0
#endif
#ifndef DEV_BUSY_RETRIES
#define DEV_BUSY_RETRIES 20
#endif
/* Largest POST /report body. */
#define DEV_REASON_MAX 121 /* the server keeps 120 bytes of a report's reason */
#ifndef DEV_REPORT_MAX
#define DEV_REPORT_MAX 512
#endif
/* Server diagnostic text kept for the user. */
#ifndef DEV_SRV_MSG_MAX
#define DEV_SRV_MSG_MAX 128
#endif
#ifndef DEV_PATH_MAX
#define DEV_PATH_MAX 1024
#endif

/* Fixed exit codes of ota-client; scripts and the demo rely on them. */
enum dev_exit {
    DEV_EXIT_OK = 0,        /* installed; for check: an update is available */
    DEV_EXIT_LOCAL = 1,     /* usage, device.ini, local I/O */
    DEV_EXIT_NO_UPDATE = 2, /* 4.04 with platform code 27 */
    DEV_EXIT_REJECTED = 3,  /* any other 4.xx from the server */
    DEV_EXIT_VERIFY = 4,    /* package failed verification; old images kept */
    DEV_EXIT_NET = 5,       /* no answer, protocol violation, 5.xx/4.29 (retry later) */
};

/* What a run ended with; drives the exit code and the result line. */
enum dev_status {
    DEV_S_LOCAL = 0,  /* local error (the default until something succeeds) */
    DEV_S_UPDATED,    /* update: installed */
    DEV_S_AVAILABLE,  /* check: the server offers a package */
    DEV_S_NO_UPDATE,  /* nothing newer for this device */
    DEV_S_REJECTED,   /* the server refused the request */
    DEV_S_VERIFY,     /* the package is not acceptable for this device */
    DEV_S_NET,        /* network or protocol failure, or server busy */
};

/* Phases reported through the progress callback. */
enum dev_phase {
    DEV_P_RECOVER = 0, /* finishing an interrupted commit */
    DEV_P_CHECK,
    DEV_P_DOWNLOAD,
    DEV_P_VERIFY,
    DEV_P_APPLY,
    DEV_P_COMMIT,
    DEV_P_REPORT,
    DEV_P__COUNT
};

struct dev_progress {
    enum dev_phase phase;
    uint64_t done, total; /* bytes; total 0 = unknown */
    double elapsed;       /* seconds since the phase started */
    int finished;         /* last call of this phase */
};
typedef void (*dev_progress_fn)(void *ctx, const struct dev_progress *p);

struct dev_fetcher; /* dl.h */

struct dev_opts {
    const char *state_dir;
    const char *server; /* overrides device.ini's server when non-NULL */
    double timeout_s;   /* per block request; 0 = DEV_NET_TIMEOUT_S */
    dev_progress_fn progress;
    void *progress_ctx;
    /* Tests: use this instead of libcoap (and skip the report). */
    const struct dev_fetcher *fetcher;
    int window; /* max blocks in flight, overrides device.ini; 0 = keep */
    /* Called before every durable step (fsync, rename, unlink, journal
     * write) and every 64 KB written while applying: the power-loss tests
     * cut the power here. NULL = none. */
    void (*step)(void *ctx);
    void *step_ctx;
    double max_wait_s; /* cap on one 5.03 wait at the first request; 0 = DEV_BUSY_WAIT_MAX_S */
    int fota_only;     /* every block request on /fota with the full query (the
                        * exchange before issue 13), never /p/<ETag> */
};

struct dev_result {
    enum dev_status status;
    unsigned coap_code;            /* last response, class*100+detail (205, 404); 0 none */
    int srv_code;                  /* platform code from the diagnostic, -1 none */
    char srv_msg[DEV_SRV_MSG_MAX]; /* its "msg", or "" */
    struct ver_core from_core, to_core;
    struct ver_script from_script, to_script;
    int core_changed, script_changed;
    uint64_t pkg_size;   /* Size2 of the package */
    uint64_t bytes;      /* payload bytes received over the air in this run */
    double seconds;      /* wall time of the run */
    size_t apply_mem;    /* peak working memory of the apply step, bytes; 0 = none */
    int window;          /* the download's max window (1 = strict) */
    double cwnd_peak;    /* largest window reached */
    unsigned long retx;  /* block requests retransmitted */
    char reason[DEV_REASON_MAX]; /* a failure's message, sent in the report */
    int target_known;    /* check: to_core/to_script read from block 0's header */
};

/* Ask the server whether an update exists (one block request, nothing
 * stored). An interrupted commit is finished first. */
enum ota_err dev_check(const struct dev_opts *o, const struct cfg_device *d,
                       struct dev_result *r, char *msg);

/* Download (resuming by ETag), verify, apply, commit, report. */
enum ota_err dev_update(const struct dev_opts *o, const struct cfg_device *d,
                        struct dev_result *r, char *msg);

/* Finish or roll back whatever the journal says was interrupted. */
enum ota_err dev_recover(const struct dev_opts *o, const struct cfg_device *d, char *msg);

int dev_exit_code(enum dev_status s);
/* Fixed phrase for a status ("no update available", "rejected by server"). */
const char *dev_status_phrase(enum dev_status s);
const char *dev_phase_name(enum dev_phase p);

#endif
