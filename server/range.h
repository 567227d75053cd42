/* range.h - the Range and If-Range headers of the device HTTP API.
 *
 * A module resumes a download with "Range: bytes=N-" (N = bytes it has).
 * One range of the forms "bytes=N-", "bytes=N-M" and "bytes=-S" (the last
 * S bytes) is accepted, the unit case-insensitive, spaces and tabs around
 * the value ignored. Anything else, a list of ranges included, is
 * SRV_RANGE_BAD: a device API is strict where a browser-facing server
 * would ignore the header, because a module that sent a broken Range and
 * got the whole package could append it to what it already has (the
 * README's status table: 400 code 3). A range that starts at or past the
 * end (or "bytes=-0") is SRV_RANGE_UNSAT (416); an end past the package
 * is cut to its last byte (RFC 9110 14.1.2).
 * If-Range carries the ETag of the package the module started on: the
 * Range applies only if it is exactly the current strong ETag; a weak
 * ETag, another one or a date means the package changed: the whole new
 * package is sent (200). Pure functions, fuzzed (tests/fuzz/fuzz_http.c).
 */
#ifndef SRV_RANGE_H
#define SRV_RANGE_H

#include <stddef.h>
#include <stdint.h>

#define SRV_RANGE_DIGITS_MAX 18 /* a longer number is refused before it can overflow */

enum srv_range_kind {
    SRV_RANGE_NONE = 0, /* no Range header: the whole package */
    SRV_RANGE_OK,       /* first..last, inclusive, within the package */
    SRV_RANGE_BAD,      /* malformed or several ranges */
    SRV_RANGE_UNSAT,    /* starts at or past the end */
};

struct srv_range {
    uint64_t first, last; /* inclusive; SRV_RANGE_OK only */
};

/* hdr NULL = no header. total = the package's length (> 0). */
enum srv_range_kind srv_range_parse(const char *hdr, uint64_t total, struct srv_range *out);

/* 1 if a Range may be honoured: no If-Range, or If-Range equal to etag
 * (the quoted strong ETag the server sends). */
int srv_range_if_range(const char *if_range, const char *etag);

#endif
