/* rollout.h - the rollout state file the operator console writes.
 *
 * ota.ini is the operator's and read-only to the service, so a rollout
 * changed from the console ([admin] listener, console.h) lives in a state
 * file of its own, [fleet] rollout_file:
 *   # ota rollout v1
 *   percent = 20.00     (0..100, two decimals; "none" = no staged rollout)
 *   paused = no         (yes: no new offers to anyone, downloads finish)
 * The file, once it exists, overrides [fleet] rollout_percent; a missing
 * file means ota.ini's value and not paused. The HTTP thread writes it
 * atomically (temp name, fsync, rename); the CoAP thread rereads it within
 * a second of a change (stamp = inode, size, mtime, as for the allowlist),
 * so no state is shared between the two threads but the file.
 * A bad file (a hand edit) is reported once per change and the state in
 * force is kept.
 */
#ifndef SRV_ROLLOUT_H
#define SRV_ROLLOUT_H

#include "fleet.h"

#define SRV_ROLLOUT_FILE_MAX 4096
#define SRV_ROLLOUT_NONE 10001u /* no staged rollout: everyone allowed */

struct srv_rollout_state {
    uint32_t bp;  /* basis points 0..10000, or SRV_ROLLOUT_NONE */
    int paused;
};

/* Parse the text (name labels messages); OTA_E_INVAL naming name:line
 * for an unknown key, a bad value, a key given twice or no percent;
 * OTA_E_LIMIT over SRV_ROLLOUT_FILE_MAX bytes. */
enum ota_err srv_rollout_parse(const char *buf, size_t len, const char *name,
                               struct srv_rollout_state *out, char *msg);
/* bp as the file and the console write it: "20.00", or "none" above
 * SRV_ROLLOUT_ALL. */
#define SRV_ROLLOUT_PCT_MAX 16
void srv_rollout_percent(uint32_t bp, char out[SRV_ROLLOUT_PCT_MAX]);
/* The file's text for s into out (n bytes); its length, 0 if too small. */
size_t srv_rollout_format(const struct srv_rollout_state *s, char *out, size_t n);
/* Read and parse path; OTA_E_NOTFOUND if it does not exist. */
enum ota_err srv_rollout_load(const char *path, struct srv_rollout_state *out, char *msg);
/* Write s to path atomically (mode 0644). */
enum ota_err srv_rollout_save(const char *path, const struct srv_rollout_state *s, char *msg);

/* The CoAP thread's view of the file: base = ota.ini's rollout_percent. */
struct srv_rollout_watch {
    char path[CFG_PATH_MAX];          /* "" = no rollout file */
    uint32_t base_bp;                 /* ota.ini's value (SRV_ROLLOUT_NONE if unset) */
    struct srv_fleet_stamp loaded;    /* the file in force; ino 0 = none */
    struct srv_fleet_stamp bad;       /* a bad file already reported */
    int has_loaded, has_bad;
};

void srv_rollout_watch_init(struct srv_rollout_watch *w, const char *path, uint32_t base_bp);
/* Apply the file (or ota.ini's value when it is missing) to f if it
 * changed since the last call; *changed tells. A bad file returns its
 * error once per change, f unchanged. */
enum ota_err srv_rollout_refresh(struct srv_rollout_watch *w, struct srv_fleet *f,
                                 int *changed, char *msg);

#endif
