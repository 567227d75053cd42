/* lport.h - the Linux port of the device library (odev.h): ota-client's
 * struct odev_port over a state directory and a UDP/DTLS socket.
 *
 *   link      dgram.h: connected UDP for coap://, DTLS 1.2 PSK for coaps://,
 *             opened at the first datagram (recover needs none)
 *   clock     CLOCK_MONOTONIC milliseconds
 *   DOWNLOAD  download.part while the package arrives; renamed to
 *             download.pkg (fsync, rename, directory fsync) just before the
 *             journal that says "downloaded" is written, so a file under
 *             that name is always complete. A journal still saying
 *             "downloading" next to a download.pkg of its size (a cut
 *             between the two) is read as "downloaded": not fetched again.
 *   STAGING   staging: the new core and script back to back, as the
 *             library writes them
 *   CORE, SCRIPT  core.bin, script.bin; install copies the staged range
 *             to a temporary, fsyncs it and renames it over the slot
 *             (atomic; idempotent while staging exists)
 *   geometry  byte-writable files: erase block 1; erase truncates when the
 *             range reaches the end of the file, else writes 0xFF; reads
 *             past the end of DOWNLOAD or STAGING read erased (0xFF)
 *   journal   the 128-byte record in journal (temp, fsync, rename); saving
 *             "idle" first deletes download.*, staging (each durably)
 *   installed rewrites device.ini's core and script_version lines
 *   log       common/log.c
 *   random    getrandom(2)
 *   backends  zlib and libsodium (common/dback_host.h) instead of the
 *             library's own inflater and Ed25519ph
 *
 * Every durable step (fsync, rename, unlink, journal write, every 64 KB
 * staged) first calls the step hook: the power-loss tests cut there.
 * The port also watches what passes through it to draw progress: phase
 * changes in the saved journal, bytes written to DOWNLOAD.
 */
#ifndef LPORT_H
#define LPORT_H

#include "dgram.h"
#include "flash.h"

#include "odev.h"

/* Progress seen by the port (main.c draws it). */
enum lport_phase {
    LPORT_P_RECOVER = 0,
    LPORT_P_CHECK,
    LPORT_P_DOWNLOAD,
    LPORT_P_VERIFY,
    LPORT_P_APPLY,
    LPORT_P_COMMIT,
    LPORT_P_REPORT,
    LPORT_P__COUNT
};

struct lport_progress {
    enum lport_phase phase;
    uint64_t done, total; /* bytes; total 0 = unknown */
    double elapsed;       /* seconds since the phase started */
    int finished;         /* last call of this phase */
};
typedef void (*lport_progress_fn)(void *ctx, const struct lport_progress *p);

struct lport {
    struct odev_port port;
    struct dev_flash flash;
    int fd[ODEV_AREA__COUNT];  /* open area files, -1 = closed */
    int fd_pkg;                /* DOWNLOAD is download.pkg (read only) */
    const struct cfg_device *dev;
    const char *url;
    uint32_t hs_limit_ms;
    struct dgram link;
    int link_open;
    uint64_t staged;           /* bytes written to STAGING this run (64 KB steps) */
    uint64_t downloaded;       /* bytes written to DOWNLOAD this run */
    uint64_t pkg_size;         /* from the last journal seen */
    uint32_t resume_offset;    /* durable prefix of the journal loaded */
    int phase;                 /* enum lport_phase, -1 = none yet */
    uint32_t phase_t0;
    lport_progress_fn progress;
    void *progress_ctx;
    char why[OTA_MSG_LEN];     /* the last failure of a port call */
};

/* Lock the state directory and bind the port; url is the server (coap://
 * or coaps://), hs_limit_ms bounds each DTLS handshake. step is the
 * power-cut hook (NULL = none). */
enum ota_err lport_open(struct lport *p, const char *dir, const struct cfg_device *d,
                        const char *url, uint32_t hs_limit_ms, void (*step)(void *),
                        void *step_ctx, char *msg);
void lport_close(struct lport *p);
/* The port's log hook: the library's lines into common/log.c. */
void lport_log(void *ctx, enum odev_log_level level, enum odev_event ev, const char *msg);
/* The areas' geometry into c: files, byte-writable, up to 128 MiB. */
void lport_geometry(struct odev_config *c);
/* Announce a phase the library does not show through the port (check,
 * verify, report): the progress callback gets it. */
void lport_phase(struct lport *p, enum lport_phase ph, uint64_t total);
const char *lport_phase_name(enum lport_phase ph);

#endif
