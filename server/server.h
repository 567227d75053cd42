/* server.h - the ota-server library entry point.
 *
 * srv_run serves until *ctl->stop becomes non-zero (main.c sets it from
 * SIGTERM/SIGINT) and returns OTA_OK then; it returns an error only when
 * it cannot start (key, cache directory, listen address) or the event
 * loop fails. *ctl->hup (SIGHUP) forces a cache rescan and reopens the
 * report log (for log rotation). Never prints except through log_msg,
 * never exits.
 */
#ifndef SRV_SERVER_H
#define SRV_SERVER_H

#include "cfg.h"

#include <signal.h>

struct srv_ctl {
    volatile sig_atomic_t *stop;
    volatile sig_atomic_t *hup;
};

enum ota_err srv_run(const struct cfg_ota *cfg, const struct srv_ctl *ctl, char *msg);

#endif
