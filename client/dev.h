/* dev.h - ota-client's glue to the device library: `check`, `update` and
 * `recover`, as main.c calls them.
 *
 * ota-client is the Linux port of the device library (device/odev.h): the
 * library owns the update flow, the download, the journal format, the
 * package checks and the apply; client/lport.c is its port (state
 * directory files, UDP/DTLS socket, clock, log), and this glue fills
 * struct odev_config from device.ini, runs one entry point and turns the
 * odev_result into today's result: the exit-code table, the result line,
 * the progress phases and the statistics lines of the log. Nothing here
 * prints or exits: main.c does, from struct dev_result.
 */
#ifndef DEV_H
#define DEV_H

#include "cfg.h"
#include "lport.h"
#include "ota.h"

/* Blocks in flight when neither -w nor device.ini's window says (the
 * library caps it at its ODEV_INFLIGHT_MAX), and the largest -w. */
#define DEV_WINDOW_DEFAULT 32
#define DEV_WINDOW_MAX 64
#define DEV_BLOCK_DEFAULT 1024
#define DEV_TIMEOUT_DEFAULT_S 93.0 /* a block request, and one DTLS handshake */
#define DEV_REASON_MAX 121

/* Fixed exit codes of ota-client; scripts and the demo rely on them. */
enum dev_exit {
    DEV_EXIT_OK = 0,        /* installed; for check: an update is available */
    DEV_EXIT_LOCAL = 1,     /* usage, device.ini, local I/O */
    DEV_EXIT_NO_UPDATE = 2, /* 4.04 with platform code 27 */
    DEV_EXIT_REJECTED = 3,  /* any other 4.xx from the server */
    DEV_EXIT_VERIFY = 4,    /* package failed verification; old images kept */
    DEV_EXIT_NET = 5,       /* no answer, protocol violation, 5.xx/4.29 (retry later) */
};

/* What a run ended with: enum odev_status's values, in its order. */
enum dev_status {
    DEV_S_LOCAL = 0,
    DEV_S_UPDATED,
    DEV_S_AVAILABLE,
    DEV_S_NO_UPDATE,
    DEV_S_REJECTED,
    DEV_S_VERIFY,
    DEV_S_NET,
};

struct dev_opts {
    const char *state_dir;
    const char *server; /* overrides device.ini's server when non-NULL */
    double timeout_s;   /* per block request and DTLS handshake; 0 = default */
    lport_progress_fn progress;
    void *progress_ctx;
    int window; /* max blocks in flight, overrides device.ini; 0 = keep */
    /* Called before every durable step (power-loss tests cut there). */
    void (*step)(void *ctx);
    void *step_ctx;
    double max_wait_s; /* cap on one 5.03 wait; 0 = the library's 300 s */
    int fota_only;     /* never the short /p/<ETag> exchange */
};

struct dev_result {
    enum dev_status status;
    unsigned coap_code;  /* last response, class*100+detail; 0 none */
    int srv_code;        /* platform code of the diagnostic, -1 none */
    struct ver_core from_core, to_core;
    struct ver_script from_script, to_script;
    int core_changed, script_changed;
    int target_known;    /* check: to_* read from block 0's header */
    uint64_t pkg_size;
    uint64_t bytes;      /* payload bytes received in this run */
    double seconds;      /* wall time of the run */
    unsigned long retx;  /* block requests sent again */
};

/* msg gets the failure's text (the link's own words when it failed). */
enum ota_err dev_check(const struct dev_opts *o, const struct cfg_device *d,
                       struct dev_result *r, char *msg);
enum ota_err dev_update(const struct dev_opts *o, const struct cfg_device *d,
                        struct dev_result *r, char *msg);
enum ota_err dev_recover(const struct dev_opts *o, const struct cfg_device *d, char *msg);

int dev_exit_code(enum dev_status s);
const char *dev_status_phrase(enum dev_status s);

#endif
