/* jbody.h - the JSON request bodies of the console's write endpoints.
 *
 * One flat object: string keys (at most SRV_JBODY_FIELDS_MAX, each at
 * most SRV_JBODY_KEY_MAX-1 bytes, no key twice) to a string, a number,
 * true, false, null or an array of strings. Strings are printable ASCII
 * without escapes (IMEIs, percentages and names never need one; a
 * backslash or a byte outside 0x20..0x7e is refused). Nesting beyond an
 * array of strings is refused. The parser keeps offsets into the caller's
 * buffer, allocates nothing, and checks every length before reading.
 */
#ifndef SRV_JBODY_H
#define SRV_JBODY_H

#include "ota.h"

#include <stddef.h>

#define SRV_JBODY_FIELDS_MAX 8
#define SRV_JBODY_KEY_MAX 32

enum srv_jbody_type { SRV_JB_STRING, SRV_JB_NUMBER, SRV_JB_TRUE, SRV_JB_FALSE, SRV_JB_NULL,
                      SRV_JB_ARRAY };

struct srv_jbody_field {
    char key[SRV_JBODY_KEY_MAX];
    enum srv_jbody_type type;
    size_t off, len;  /* the value's text (a string without its quotes) */
    double num;       /* SRV_JB_NUMBER */
    size_t nitems;    /* SRV_JB_ARRAY */
};

struct srv_jbody {
    const char *buf;
    size_t len;
    int n;
    struct srv_jbody_field f[SRV_JBODY_FIELDS_MAX];
};

/* Parse buf[0..len-1]; OTA_E_INVAL with the byte offset in msg. */
enum ota_err srv_jbody_parse(const char *buf, size_t len, struct srv_jbody *out, char *msg);
/* The field named key, NULL if absent. */
const struct srv_jbody_field *srv_jbody_get(const struct srv_jbody *j, const char *key);
/* Next string of an array field: start with *pos = 0; 1 and the item in
 * (*s, *n), or 0 at the end. */
int srv_jbody_item(const struct srv_jbody *j, const struct srv_jbody_field *f, size_t *pos,
                   const char **s, size_t *n);

#endif
