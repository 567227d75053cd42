/* notify.h - tell systemd (sd_notify) where ota-server stands.
 *
 * ota-server.service is Type=notify with a watchdog: READY=1 once the
 * cache is indexed and every socket is bound, RELOADING=1 then READY=1
 * around a SIGHUP reload, STOPPING=1 on the way out, STATUS= with the
 * package count and running transfers, and WATCHDOG=1 from the main loop
 * so that a loop that hangs is killed and restarted. Without
 * NOTIFY_SOCKET (a terminal, the tests) every call does nothing.
 */
#ifndef SRV_NOTIFY_H
#define SRV_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

struct srv_notify {
    uint64_t watchdog_ms;  /* ping interval (half of WatchdogSec), 0 = none */
    uint64_t last_ping_ms, last_status_ms;
    char status[128];      /* last STATUS= sent, to send only changes */
};

/* Read WATCHDOG_USEC/WATCHDOG_PID once. */
void srv_notify_init(struct srv_notify *n);
void srv_notify_ready(struct srv_notify *n, size_t packages, uint64_t transfers);
void srv_notify_reloading(struct srv_notify *n);
void srv_notify_stopping(struct srv_notify *n);
/* From the main loop (every tick): WATCHDOG=1 when due, and STATUS= at most
 * once a second when it changed. */
void srv_notify_tick(struct srv_notify *n, uint64_t now_ms, size_t packages,
                     uint64_t transfers);

#endif
