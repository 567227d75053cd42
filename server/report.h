/* report.h - POST /report: a device's update result, parsed and logged.
 *
 * The payload is small (at most SRV_REPORT_MAX bytes) and comes in either
 * of two flat forms, chosen by its first byte (client/proto.c sends JSON):
 *   {"imei":"...","project":"...","from_core":"Luat_V0017_RDA8910",
 *    "to_core":"...","from_script":"1.0.0","to_script":"1.1.0",
 *    "result":0,"bytes":123,"seconds":12.5}
 *   imei=...&from_core=...&result=0&...
 * (JSON: one object of string or number values, no nesting, no escapes).
 * Keys: imei ([0-9]{14,16}) and result (integer -99999..99999) are
 * required; project, from_core, to_core, from_script, to_script
 * ([A-Za-z0-9._+-]{1,48}), bytes ([0-9]{1,12}), seconds (n[.nnn]), etag
 * (16 hex digits) and detail ([A-Za-z0-9._+-]{1,64}) are optional; unknown
 * keys are ignored after the same character checks. A key given twice is
 * refused (never last-wins: a second imei= must not replace the first). Every stored value has passed
 * its character set, so the JSON line written needs no escaping.
 * The line appended to the report log is one JSON object per line; each
 * append is a single write(2) on an O_APPEND descriptor, so a crash never
 * leaves a half line before a later one. fsync policy ([server]
 * report_fsync): 0 (default) = fsync(2) after every line, before the
 * device gets its 2.04, so an acknowledged report survives a power cut;
 * N > 0 = the server loop fsyncs at most every N seconds (and on SIGHUP
 * and at exit), so a power cut loses at most the last N seconds of
 * acknowledged reports, for fleets that report in bursts.
 * The line format is the contract with `ota-cache report` (cache/report.h):
 * keys time, peer, imei, identity (coaps:// only: the verified DTLS
 * identity, always equal to imei), project, from_core, to_core, from_script,
 * to_script (strings), result, bytes, seconds (numbers), etag, detail.
 */
#ifndef SRV_REPORT_H
#define SRV_REPORT_H

#include "cfg.h"

#include <time.h>

#ifndef SRV_REPORT_MAX
#define SRV_REPORT_MAX 512
#endif
#define SRV_REPORT_LINE_MAX 1024
/* "reason": free text, cut to 120 bytes, bytes outside printable ASCII
 * stored as '?', '"' and '\\' escaped on output: at most 240 bytes of
 * the line, so a full report still fits SRV_REPORT_LINE_MAX. */
#define SRV_REPORT_REASON_MAX 121
#define SRV_REPORT_VER_MAX 49
#define SRV_REPORT_DETAIL_MAX 65

struct srv_report {
    char imei[CFG_IMEI_MAX];
    char identity[CFG_IMEI_MAX + 1]; /* coaps://: the DTLS identity, set by the caller */
    char project[SRV_REPORT_VER_MAX];
    char from_core[SRV_REPORT_VER_MAX], to_core[SRV_REPORT_VER_MAX];
    char from_script[SRV_REPORT_VER_MAX], to_script[SRV_REPORT_VER_MAX];
    char bytes[13];
    char seconds[12];
    char etag[17];
    char detail[SRV_REPORT_DETAIL_MAX];
    char reason[SRV_REPORT_REASON_MAX]; /* the device's words for a failure */
    long result;
};

enum ota_err srv_report_parse(const uint8_t *p, size_t len, struct srv_report *r, char *msg);

/* One JSON line (with its '\n') for the report log; returns its length, 0
 * if it does not fit n bytes. peer is the device's address as libcoap
 * prints it. */
size_t srv_report_line(const struct srv_report *r, const char *peer, time_t now, char *out,
                       size_t n);

/* Append a line with one write; fsync it too if sync. */
enum ota_err srv_report_append(int fd, const char *line, size_t len, int sync, char *msg);

#endif
