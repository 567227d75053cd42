/* notify.c - sd_notify messages of ota-server (notify.h).
 */
#include "notify.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

static void srv_notify_status_text(char *out, size_t n, size_t packages, uint64_t transfers)
{
    snprintf(out, n, "serving %zu package(s), %" PRIu64 " transfer(s) running", packages,
             transfers);
}

void srv_notify_init(struct srv_notify *n)
{
    uint64_t usec = 0;
    memset(n, 0, sizeof *n);
    /* > 0 only when WATCHDOG_USEC is set for this very process. */
    if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0)
        n->watchdog_ms = usec / 2000 ? usec / 2000 : 1;
}

void srv_notify_ready(struct srv_notify *n, size_t packages, uint64_t transfers)
{
    srv_notify_status_text(n->status, sizeof n->status, packages, transfers);
    sd_notifyf(0, "READY=1\nSTATUS=%s\nMAINPID=%lu", n->status, (unsigned long)getpid());
}

void srv_notify_reloading(struct srv_notify *n)
{
    (void)n;
    sd_notify(0, "RELOADING=1\nSTATUS=reloading the configuration");
}

void srv_notify_stopping(struct srv_notify *n)
{
    (void)n;
    sd_notify(0, "STOPPING=1\nSTATUS=stopping");
}

void srv_notify_tick(struct srv_notify *n, uint64_t now_ms, size_t packages,
                     uint64_t transfers)
{
    if (n->watchdog_ms && now_ms - n->last_ping_ms >= n->watchdog_ms) {
        n->last_ping_ms = now_ms;
        sd_notify(0, "WATCHDOG=1");
    }
    if (now_ms - n->last_status_ms >= 1000) {
        char text[sizeof n->status];
        n->last_status_ms = now_ms;
        srv_notify_status_text(text, sizeof text, packages, transfers);
        if (strcmp(text, n->status) != 0) {
            memcpy(n->status, text, sizeof text);
            sd_notifyf(0, "STATUS=%s", text);
        }
    }
}
