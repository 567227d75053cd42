/* census.h - the census file: which (core, script) pairs devices report.
 *
 * ota-server counts, per project, the core and script versions devices
 * send in their update checks (server/census.h) and saves the table in
 * this text format; `ota-cache census` prints it and `ota-cache publish`
 * asks census_core_in_field which archived cores still need packages.
 * Format (README, "Census and on-demand builds"):
 *   # ota census v1
 *   <PROJECT> <CoreName_Vnnnn_Chip> <x.y.z> <count> <first_seen> <last_seen>
 *   ...
 *   # end <number of entry lines>
 * first_seen and last_seen are unix seconds. The first line must be the
 * header; the "# end N" trailer must be the last line and N must equal
 * the entries read, so a file cut at a line boundary is refused too.
 * Other '#' lines and empty lines are ignored. A duplicate pair, a field
 * out of range or a line over CENSUS_LINE_MAX bytes is an error naming
 * file:line. Pure parsing (census_parse) is separate from the file so the
 * fuzzer drives it directly. No allocation is kept across calls but the
 * entry array the caller frees.
 */
#ifndef CENSUS_H
#define CENSUS_H

#include "ver.h"

#ifndef CENSUS_FILE_MAX
#define CENSUS_FILE_MAX (64u << 20) /* bytes: far above 1M pairs */
#endif
#ifndef CENSUS_ENTRIES_MAX
#define CENSUS_ENTRIES_MAX 1000000u
#endif
#define CENSUS_LINE_MAX 256
#define CENSUS_HEADER "# ota census v1"
#define CENSUS_DAY_S 86400

struct census_entry {
    char project[VER_PROJECT_MAX];
    struct ver_core core;
    struct ver_script script;
    uint64_t count;
    int64_t first_seen, last_seen; /* unix seconds */
};

/* Read path; a missing file is OTA_OK with *n = 0 (a new server). *out is
 * malloc'd (NULL when empty), free it with census_free. Errors name
 * path:line; on error *out is NULL and *n 0. */
enum ota_err census_load(const char *path, struct census_entry **out, size_t *n, char *msg);
/* The same over a buffer (name only labels messages). */
enum ota_err census_parse(const char *buf, size_t len, const char *name,
                          struct census_entry **out, size_t *n, char *msg);
void census_free(struct census_entry *e);

/* Write the n entries atomically (temp name, fsync, rename, fsync of the
 * directory), mode 0644. */
enum ota_err census_save(const char *path, const struct census_entry *e, size_t n, char *msg);

/* Does core (name, chip and number) of project still need packages? 1 if
 * a device reported it within keep_days of now, or it was archived
 * (archived_at, unix s; 0 = unknown) less than keep_days ago, else 0.
 * keep_days <= 0 keeps every core (nothing ever leaves the set). */
int census_core_in_field(const struct census_entry *e, size_t n, const char *project,
                         const struct ver_core *core, int64_t now, int keep_days,
                         int64_t archived_at);

/* Same project, core (name, chip, number) and script. */
int census_same_pair(const struct census_entry *a, const struct census_entry *b);

#endif
