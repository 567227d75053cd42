/* status.h - request outcomes of ota-server and their CoAP/platform codes.
 *
 * Every handler ends in exactly one srv_status. This is the only place that
 * maps an outcome to a CoAP response code and to the module platform's
 * numeric code carried in the diagnostic payload (DESIGN.md section 4), so
 * the response table in the README can be checked against one array.
 * Pure: no libcoap, no I/O, so tests and fuzzers link it freely.
 */
#ifndef SRV_STATUS_H
#define SRV_STATUS_H

#include <stddef.h>

enum srv_status {
    SRV_ST_CONTENT = 0,  /* 2.05 a block of the package */
    SRV_ST_CHANGED,      /* 2.04 report stored */
    SRV_ST_NO_UPDATE,    /* 4.04 / 27: nothing newer (also device ahead of release) */
    SRV_ST_BAD_FIELD,    /* 4.00 / 3: malformed or missing query field */
    SRV_ST_BAD_VERSION,  /* 4.00 / 26: version field present but not a version */
    SRV_ST_BAD_BLOCK,    /* 4.00 / 3: malformed Block2 option or BERT size */
    SRV_ST_BLOCK_RANGE,  /* 4.02 / 3: Block2 number past the end of the package */
    SRV_ST_FORBIDDEN,    /* 4.03 / 25: wrong product key or project */
    SRV_ST_REFUSED,      /* 4.03 / 21: core name/chip of another product line */
    SRV_ST_NO_BASE,      /* 4.04 / 44: no package for this core and no fallback */
    SRV_ST_TOO_LARGE,    /* 4.13 / 3: report payload over the bound */
    SRV_ST_TOO_MANY,     /* 4.29 / 40: per-device rate limit (issue 6) */
    SRV_ST_UNAVAILABLE,  /* 5.03 / 43: overloaded or not ready (issue 4) */
    SRV_ST_INTERNAL,     /* 5.00 / 0: server-side failure (I/O on the report log) */
    SRV_ST_HELD_BACK,    /* 4.04 / 27: outside the current rollout stage (not "up to date") */
    SRV_ST__COUNT
};

struct srv_status_info {
    unsigned coap;     /* response code as class*100+detail, e.g. 404 */
    int platform;      /* code in the diagnostic payload; 0 = no payload */
    const char *name;  /* short tag for log lines */
};

/* Never NULL; out-of-range values map to SRV_ST_INTERNAL. */
const struct srv_status_info *srv_status_info(enum srv_status st);

/* Diagnostic payload {"code":N,"msg":"..."} into out (n bytes). The message
 * is JSON-escaped and cut to fit; when n leaves no room for a few message
 * characters the payload is {"code":N} alone. Returns the length written
 * (no NUL counted), 0 if the status carries no payload or even the code
 * does not fit. */
size_t srv_status_json(enum srv_status st, const char *msg, char *out, size_t n);

#endif
