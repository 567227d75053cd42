/* ota.h - error codes and message helpers shared by every module.
 *
 * Every library function returns an enum ota_err and, on failure, may write
 * one line of detail (no newline) into a caller-supplied buffer of
 * OTA_MSG_LEN bytes; the buffer may be NULL when the caller does not care.
 * ota_strerror() gives the fixed phrase for a code. Only server/ maps codes
 * to CoAP responses; only main.c files map them to exit codes.
 */
#ifndef OTA_H
#define OTA_H

#include <stddef.h>
#include <stdint.h>

#ifndef OTA_MSG_LEN
#define OTA_MSG_LEN 256
#endif

enum ota_err {
    OTA_OK = 0,
    OTA_E_IO,        /* read/write/open failed (errno in the message) */
    OTA_E_CORRUPT,   /* malformed input: package, delta, journal */
    OTA_E_LIMIT,     /* a length or count exceeds a fixed bound */
    OTA_E_NOMEM,     /* allocation failed or arena exhausted */
    OTA_E_AUTH,      /* signature, hash or key mismatch */
    OTA_E_INVAL,     /* bad argument or bad configuration value */
    OTA_E_NOTFOUND,  /* file, key or package does not exist */
    OTA_E_VERSION,   /* version string malformed or versions incompatible */
    OTA_E_NET,       /* network or protocol failure */
    OTA_E_STATE,     /* call not valid in the current state (sticky failure) */
    OTA_E_PERM,      /* a secret file other users may read: insecure permissions */
    OTA_E__COUNT
};

/* Fixed phrase for a code, never NULL. */
const char *ota_strerror(enum ota_err e);

/* printf into msg (if non-NULL, OTA_MSG_LEN bytes) and return e, so error
 * paths read: return ota_fail(msg, OTA_E_CORRUPT, "pkg: size %u", n); */
enum ota_err ota_fail(char *msg, enum ota_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Lowercase hex of len bytes into out (2*len+1 bytes). */
void ota_hex(const uint8_t *in, size_t len, char *out);
/* Parse exactly 2*len hex digits; OTA_E_INVAL otherwise. */
enum ota_err ota_unhex(const char *in, uint8_t *out, size_t len);

/* A token bucket: rate tokens per second, at most burst; full at its
 * first use. Per-source request rates, report rates and log budgets. */
struct ota_bucket {
    double tokens;
    uint64_t last_ms;
    int primed;
};

/* 1 and one token taken, or 0 and (if wait_ms) the milliseconds until the
 * next token. A rate of 0 means no limit. */
int ota_bucket_take(struct ota_bucket *b, double rate, double burst, uint64_t now_ms,
                    uint64_t *wait_ms);

/* Copy a NUL-terminated string into dst of size n; returns OTA_E_LIMIT if it
 * does not fit (dst then holds an empty string). */
enum ota_err ota_strlcpy(char *dst, const char *src, size_t n);

#endif
