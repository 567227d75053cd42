/* report.h - summary of the server's device report log (`ota-cache report LOG`).
 *
 * ota-server appends one flat JSON object per line to its report log
 * (server/report.h is the writer and owns the format: string values
 * from_core, from_script, imei, ...; numbers result, bytes, seconds).
 * cache_report_summarise reads such a log once, groups the reports by the
 * version the device came from ("<from_core>/<from_script>"), and gives
 * per group the successes (result 0), failures (any other result) and the
 * median of "seconds" over the successful updates that carry it. Lines
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

#include <stdint.h>

#ifndef CACHE_REPORT_GROUPS_MAX
#define CACHE_REPORT_GROUPS_MAX 4096
#endif
#define CACHE_REPORT_FROM_MAX 104 /* "<from_core>/<from_script>" incl. NUL */
#define CACHE_REPORT_LINE_MAX 4096

struct cache_report_row {
    char from[CACHE_REPORT_FROM_MAX]; /* "-" for a missing field */
    uint64_t ok, failed;
    uint64_t timed;   /* successes with a "seconds" value */
    double median_s;  /* over those; -1 if none */
};

struct cache_report_totals {
    uint64_t lines, skipped; /* lines read, lines not understood */
    struct cache_report_row all; /* every report, from = "total" */
};

typedef void (*cache_report_cb)(void *ctx, const struct cache_report_row *row);

/* Read path, call cb once per from-version (sorted by name), fill *tot.
 * OTA_E_IO if the file cannot be read, OTA_E_NOMEM. */
enum ota_err cache_report_summarise(const char *path, cache_report_cb cb, void *ctx,
                                    struct cache_report_totals *tot, char *msg);

/* One line's fields (exposed for tests): 0 if the line is a report
 * object with a result, filling from[] and *result, *seconds (-1 if
 * absent). */
int cache_report_parse_line(const char *line, char from[CACHE_REPORT_FROM_MAX], long *result,
                            double *seconds);

#endif
