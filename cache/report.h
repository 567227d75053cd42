/* report.h - summary of the server's device report log (`ota-cache report LOG`).
 *
 * ota-server appends one flat JSON object per line to its report log
 * (server/report.h is the writer and owns the format: string values
 * from_core, from_script, imei, ...; numbers result, bytes, seconds).
 * cache_report_summarise reads such a log once, groups the reports by the
 * release they were for ("<to_core>/<to_script>") and the version the
 * device came from ("<from_core>/<from_script>"), and gives per group the
 * successes (result 0), failures (any other result), the median of
 * "seconds" over the successful updates that carry it, and the "reason"
 * of the last failure (the client's own message). Lines
 * that are not such an object (a torn last line after a crash, foreign
 * lines) are counted and skipped, never fatal.
 * Memory: one double per successful report with a time, plus one entry
 * per distinct from-version (at most CACHE_REPORT_GROUPS_MAX; the rest are
 * folded into a group named "(other)"). Never prints: rows come back
 * through a callback in from-version order.
 */
#ifndef CACHE_REPORT_H
#define CACHE_REPORT_H

#include "ota.h"

#include <stddef.h>
#include <stdint.h>

#ifndef CACHE_REPORT_GROUPS_MAX
#define CACHE_REPORT_GROUPS_MAX 4096
#endif
#define CACHE_REPORT_FROM_MAX 104 /* "<from_core>/<from_script>" incl. NUL */
#define CACHE_REPORT_LINE_MAX 4096
#define CACHE_REPORT_REASON_MAX 121 /* as the server stores it */

struct cache_report_row {
    char release[CACHE_REPORT_FROM_MAX]; /* "<to_core>/<to_script>"; "-" for a missing field */
    char from[CACHE_REPORT_FROM_MAX]; /* "-" for a missing field */
    char reason[CACHE_REPORT_REASON_MAX]; /* of the last failure; "" if none */
    uint64_t ok, failed;
    uint64_t timed;   /* successes with a "seconds" value */
    double median_s;  /* over those; -1 if none */
};

struct cache_report_totals {
    uint64_t lines, skipped; /* lines read, lines not understood */
    struct cache_report_row all; /* every report, from = "total" */
};

typedef void (*cache_report_cb)(void *ctx, const struct cache_report_row *row);

/* Read path, call cb once per (release, from-version) (sorted), fill *tot.
 * OTA_E_IO if the file cannot be read, OTA_E_NOMEM. */
enum ota_err cache_report_summarise(const char *path, cache_report_cb cb, void *ctx,
                                    struct cache_report_totals *tot, char *msg);

/* One line's fields (exposed for tests): 0 if the line is a report
 * object with a result. seconds is -1 if absent, reason "" if absent. */
struct cache_report_fields {
    char release[CACHE_REPORT_FROM_MAX], from[CACHE_REPORT_FROM_MAX];
    char reason[CACHE_REPORT_REASON_MAX];
    long result;
    double seconds;
};
int cache_report_parse_line(const char *line, struct cache_report_fields *f);
/* One field of a report line: a string into out (n bytes) or a number;
 * 0 if found and well-formed (also used by ota-server's console). */
int cache_report_json_string(const char *line, const char *key, char *out, size_t n);
int cache_report_json_number(const char *line, const char *key, double *out);

#endif
