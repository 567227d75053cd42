/* kv.h - small "key = value" files read with inih from a bounded buffer.
 *
 * Used for a drop's release.ini and the spool's build requests
 * (cache/drop_parse.c), vendor manifests NAME.vendor.ini (vendor.c) and
 * the console's rollout state file (server/rollout.c); cfg.c formats its
 * own inih result with kv_result so every INI error reads the same:
 * "name:line: message".
 *
 * The rules kv_parse enforces for every caller, so no parser repeats them:
 *  - at most spec->max bytes, no NUL byte (both refused, the NUL by line);
 *  - a line holds at most KV_LINE_MAX bytes before its "\n" or "\r\n";
 *    a longer one is refused (inih would cut it into two lines);
 *  - leading blanks are insignificant (no multi-line values: an indented
 *    key is an ordinary key, as in the line splitters this replaced);
 *  - whole-line comments start with ';' or '#', inline comments with
 *    " ;" (inih's rule); "key: value" is read like "key = value";
 *  - sections: spec->section NULL means none (a "[...]" line is refused);
 *    otherwise keys must sit under [section], or may also come before any
 *    header if spec->section_optional; a key in any other section is
 *    refused, and so is text after a header's "]" but a comment (inih
 *    would drop it); a header repeated, or with no key under it, is
 *    harmless and passes (inih does not report headers);
 *  - each key of spec->keys at most once, those in spec->required present,
 *    keys in spec->ignore skipped (any number of times), others refused.
 * Parsing stops at the first error. No allocation; inih's line buffer is
 * on the stack. Thread-safe: inih's process-wide options are not changed.
 */
#ifndef KV_H
#define KV_H

#include "ota.h"

#include <stddef.h>

/* inih's line buffer (Debian's libinih: ini_max_line, 200) minus the
 * "\n" and NUL; kv_parse checks against the size inih actually passes. */
#define KV_LINE_MAX 198

/* Store the value of keys[key]; on a bad value fill msg (OTA_MSG_LEN) and
 * return an error: kv_parse reports "name:line: key: msg". */
typedef enum ota_err (*kv_handler)(void *user, int key, const char *value, char *msg);

struct kv_spec {
    const char *name;             /* in messages */
    size_t max;                   /* bytes of the whole text */
    const char *section;          /* the one section, or NULL for none */
    int section_optional;         /* keys may also precede [section] */
    const char *const *keys;      /* NULL-terminated, at most 32 */
    unsigned required;            /* bit i: keys[i] must be given */
    const char *const *ignore;    /* NULL-terminated keys skipped; may be NULL */
    const char *syntax;           /* message for a line that is no key = value */
};

/* Parse text (len bytes, need not be NUL-terminated) by spec, calling h
 * once per key. OTA_E_LIMIT if too big, OTA_E_INVAL otherwise. */
enum ota_err kv_parse(const char *text, size_t len, const struct kv_spec *spec, kv_handler h,
                      void *user, char *msg);

/* inih's return value (0, a line, or < 0 for out of memory) as an ota_err
 * with "name:line: err" ("syntax error" if err is empty). */
enum ota_err kv_result(int line, const char *name, const char *err, char *msg);

#endif
