/* ota.c - error phrases and tiny string helpers used by every module.
 *
 * Kept free of I/O so that the device build can carry it unchanged.
 */
#include "ota.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const ota_phrases[OTA_E__COUNT] = {
    [OTA_OK] = "success",
    [OTA_E_IO] = "I/O error",
    [OTA_E_CORRUPT] = "corrupt input",
    [OTA_E_LIMIT] = "limit exceeded",
    [OTA_E_NOMEM] = "out of memory",
    [OTA_E_AUTH] = "authentication failed",
    [OTA_E_INVAL] = "invalid argument",
    [OTA_E_NOTFOUND] = "not found",
    [OTA_E_VERSION] = "version error",
    [OTA_E_NET] = "network error",
    [OTA_E_STATE] = "invalid state",
    [OTA_E_PERM] = "insecure permissions",
};

const char *ota_strerror(enum ota_err e)
{
    if ((unsigned)e >= OTA_E__COUNT)
        return "unknown error";
    return ota_phrases[e];
}

enum ota_err ota_fail(char *msg, enum ota_err e, const char *fmt, ...)
{
    if (msg) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, OTA_MSG_LEN, fmt, ap);
        va_end(ap);
        for (char *p = msg; *p; p++)
            if (*p == '\n' || *p == '\r')
                *p = ' ';
    }
    return e;
}

void ota_hex(const uint8_t *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

static int ota_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

enum ota_err ota_unhex(const char *in, uint8_t *out, size_t len)
{
    if (strlen(in) != 2 * len)
        return OTA_E_INVAL;
    for (size_t i = 0; i < len; i++) {
        int hi = ota_hexval(in[2 * i]), lo = ota_hexval(in[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return OTA_E_INVAL;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return OTA_OK;
}

enum ota_err ota_strlcpy(char *dst, const char *src, size_t n)
{
    size_t len = strlen(src);
    if (n == 0)
        return OTA_E_LIMIT;
    if (len >= n) {
        dst[0] = '\0';
        return OTA_E_LIMIT;
    }
    memcpy(dst, src, len + 1);
    return OTA_OK;
}

int ota_bucket_take(struct ota_bucket *b, double rate, double burst, uint64_t now_ms,
                    uint64_t *wait_ms)
{
    if (rate <= 0)
        return 1;
    if (burst < 1)
        burst = 1;
    if (!b->primed) {
        b->primed = 1;
        b->tokens = burst;
    } else if (now_ms > b->last_ms) {
        b->tokens += (double)(now_ms - b->last_ms) * rate / 1000.0;
        if (b->tokens > burst)
            b->tokens = burst;
    }
    b->last_ms = now_ms;
    if (b->tokens >= 1) {
        b->tokens -= 1;
        return 1;
    }
    if (wait_ms)
        *wait_ms = (uint64_t)((1 - b->tokens) * 1000.0 / rate) + 1;
    return 0;
}
