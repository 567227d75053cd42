/* fleet.h - who may update now: IMEI allowlist and staged rollout.
 *
 * The operator controls a release's reach with two ota.ini knobs: an
 * allowlist file (one IMEI per line, '#' comments; reloaded when the file
 * changes) and a rollout percentage. A device is in the rollout when a
 * stable hash of its IMEI, SHA-256 -> bucket 0..9999, is below the
 * percentage in basis points, so raising the percentage only ever adds
 * devices. The allowlist is a gate and the rollout stages the release
 * within it (the one table is in README.md, "Fleet control"). Verdicts:
 *   allowed      - through the allowlist (if set) and inside the rollout
 *                  (if set); no control set = everyone
 *   not yet      - allowed by the allowlist (or none set) but outside the
 *                  rollout stage: 4.04 code 27, "no update, try later",
 *                  counted apart ("held-back") from "up to date"
 *   not allowed  - an allowlist is set and this IMEI is not in it: 4.03
 *                  code 21, whatever the rollout says
 * The module is pure over its struct; fota.c asks it, server.c refreshes
 * it between requests.
 */
#ifndef SRV_FLEET_H
#define SRV_FLEET_H

#include "cfg.h"
#include "limit.h"

#ifndef SRV_ALLOWLIST_MAX
#define SRV_ALLOWLIST_MAX 1000000 /* IMEIs; 16 bytes each */
#endif
#define SRV_ROLLOUT_ALL 10000u /* basis points */

enum srv_fleet_verdict { SRV_FLEET_ALLOWED = 0, SRV_FLEET_NOT_YET, SRV_FLEET_NOT_ALLOWED };

struct srv_fleet_stamp {
    struct timespec mtime;
    uint64_t ino, size;
};
struct stat;
/* A watched file's identity (inode, size, mtime), as the allowlist and
 * the rollout file (rollout.h) are reloaded when it changes. */
void srv_fleet_stamp_take(struct srv_fleet_stamp *t, const struct stat *st);
int srv_fleet_stamp_same(const struct srv_fleet_stamp *t, const struct stat *st);

struct srv_fleet {
    char (*imeis)[CFG_IMEI_MAX]; /* sorted */
    size_t n;
    int has_allowlist;
    uint32_t rollout_bp;         /* SRV_ROLLOUT_ALL when no rollout is set */
    int has_rollout;
    int paused;                  /* rollout file: no new offers (rollout.h) */
    char path[CFG_PATH_MAX];
    struct srv_fleet_stamp loaded; /* the file in force */
    struct srv_fleet_stamp bad;    /* a bad edit already reported (has_bad) */
    int has_bad, missing_told;     /* so a bad file is warned once per change */
};

/* path may be NULL or "" (no allowlist); rollout_bp > SRV_ROLLOUT_ALL means
 * no rollout. On error f is left empty and msg names file:line. */
enum ota_err srv_fleet_init(struct srv_fleet *f, const char *path, uint32_t rollout_bp,
                            char *msg);
void srv_fleet_free(struct srv_fleet *f);
/* Reload the allowlist if the file changed; on a bad new file the old list
 * stays in force and the error is returned for the log, once per change
 * of the file (the same bad file is not reported again). *reloaded tells. */
enum ota_err srv_fleet_refresh(struct srv_fleet *f, int *reloaded, char *msg);

uint32_t srv_fleet_bucket(const char *imei);
enum srv_fleet_verdict srv_fleet_check(const struct srv_fleet *f, const char *imei);
/* The verdict and, in why (n bytes), the reason for an operator
 * (`ota-cache rollout`). */
enum srv_fleet_verdict srv_fleet_explain(const struct srv_fleet *f, const char *imei,
                                         char *why, size_t n);
/* "allowlist 3 IMEIs, rollout 10.00 %" / "no allowlist, no rollout". */
void srv_fleet_describe(const struct srv_fleet *f, char *out, size_t n);

/* Per-device check rate: at most one update check (a request for block 0)
 * per interval. A fixed table of slots keyed by a keyed hash of the
 * budget's owner; a slot whose interval has passed is free for reuse, and
 * when all probed slots are busy the oldest is overwritten, so the table
 * never grows and a flood of IMEIs cannot lock anyone out for long.
 * Budgets (issue 18.3): a verified request (coaps://, its IMEI is the
 * DTLS identity) spends the IMEI's own budget; an unverified one (coap://,
 * anyone can write any IMEI) spends the budget of that IMEI at that
 * source address, so coap:// traffic naming a device's IMEI cannot lock
 * the device out. The device's own resends of block 0 (a lost first
 * answer, a restart after an ETag change) come from the endpoint (address
 * and port) that made the check and are not new checks, up to
 * SRV_CHECK_RESENDS times per check. */
#ifndef SRV_CHECK_SLOTS
#define SRV_CHECK_SLOTS 65536u /* 32 bytes each */
#endif
#define SRV_CHECK_PROBE 8u
#define SRV_CHECK_RESENDS 8u

struct srv_check_slot {
    uint64_t key; /* keyed hash of the budget's owner; 0 = empty */
    uint64_t last_ms;
    uint64_t endpoint; /* keyed hash of the source address and port of the check */
    uint32_t resends;
};

struct srv_checks {
    struct srv_check_slot *slots;
    uint64_t interval_ms; /* 0 = no limit */
    unsigned char seed[16];
};

/* Who checks: the query's IMEI, whether it is verified, and the source. */
struct srv_check_req {
    const char *imei;
    int verified;
    const struct srv_peer_key *peer; /* NULL = unknown (never a resend) */
    int no_resends; /* every request counts (reports: a resent one would be stored twice) */
};

enum ota_err srv_checks_init(struct srv_checks *c, unsigned interval_s, char *msg);
void srv_checks_free(struct srv_checks *c);
/* 0 if this check is allowed (and is recorded), else the seconds to wait. */
unsigned srv_checks_hit(struct srv_checks *c, const struct srv_check_req *r, uint64_t now_ms);
/* Undo the srv_checks_hit that allowed r at the same now_ms: the check
 * was answered "retry in Max-Age" (a package being built, issue 11.3) and
 * must not count toward check_interval. */
void srv_checks_refund(struct srv_checks *c, const struct srv_check_req *r, uint64_t now_ms);

#endif
