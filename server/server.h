/* server.h - the ota-server library entry point.
 *
 * srv_run serves until *ctl->stop becomes non-zero (main.c sets it from
 * SIGTERM/SIGINT) and returns OTA_OK then; it returns an error only when
 * it cannot start (key, cache directory, listen address) or the event
 * loop fails. *ctl->hup (SIGHUP) reloads ctl->config_path (project, key,
 * limits, admin addresses, log level, report log, cache directory and
 * public key; listen addresses need a restart), rescans the cache and
 * reopens the report log (for log rotation). A reload is all or nothing:
 * a config that fails to load, or names a file that fails to open, is
 * logged and the running one kept whole; running transfers survive it.
 * A listen address in use is an error (OTA_E_NET), even though libcoap
 * sets SO_REUSEADDR. Never prints except through log_msg, never exits.
 */
#ifndef SRV_SERVER_H
#define SRV_SERVER_H

#include "cfg.h"

#include <signal.h>

struct srv_ctl {
    volatile sig_atomic_t *stop;
    volatile sig_atomic_t *hup;
    const char *config_path; /* reread on SIGHUP; NULL = rescan only */
    int log_level;           /* from the command line, -1 = from the config */
};

/* Check every file cfg names (cache directory, public key, report log
 * writability, allowlist, psk_secret and its mode) and log one line per
 * problem; OTA_E_INVAL if any. Run before srv_run, so a configuration
 * problem is told apart from a runtime failure (ota-server exit 3 vs 1). */
enum ota_err srv_preflight(const struct cfg_ota *cfg, char *msg);

enum ota_err srv_run(const struct cfg_ota *cfg, const struct srv_ctl *ctl, char *msg);

#endif
