/* status.c - the outcome table and the diagnostic JSON payload (status.h).
 *
 * The payload must fit one CoAP datagram next to the options, so messages
 * are cut at SRV_DIAG_MSG_MAX characters; control characters and quotes
 * are escaped because a message may quote parts of a device's request.
 * The caller's n may be a size budget (answers to unverified sources stay
 * within 3x the request, serve.c), so the message is cut to any n and
 * below a few characters only the code is sent.
 */
#include "status.h"

#include <stdio.h>
#include <string.h>

#define SRV_DIAG_MSG_MAX 160
#define SRV_DIAG_MSG_MIN 8 /* shorter than this, a message is noise: send the code only */

static const struct srv_status_info srv_status_table[SRV_ST__COUNT] = {
    [SRV_ST_CONTENT] = {205, 0, "content"},
    [SRV_ST_CHANGED] = {204, 0, "changed"},
    [SRV_ST_NO_UPDATE] = {404, 27, "no-update"},
    [SRV_ST_BAD_FIELD] = {400, 3, "bad-field"},
    [SRV_ST_BAD_VERSION] = {400, 26, "bad-version"},
    [SRV_ST_BAD_BLOCK] = {400, 3, "bad-block"},
    [SRV_ST_BLOCK_RANGE] = {402, 3, "block-range"},
    [SRV_ST_FORBIDDEN] = {403, 25, "forbidden"},
    [SRV_ST_REFUSED] = {403, 21, "refused"},
    [SRV_ST_NO_BASE] = {404, 44, "no-base"},
    [SRV_ST_TOO_LARGE] = {413, 3, "too-large"},
    [SRV_ST_TOO_MANY] = {429, 40, "too-many"},
    [SRV_ST_UNAVAILABLE] = {503, 43, "unavailable"},
    [SRV_ST_INTERNAL] = {500, 0, "internal"},
    [SRV_ST_HELD_BACK] = {404, 27, "held-back"},
};

const struct srv_status_info *srv_status_info(enum srv_status st)
{
    if ((unsigned)st >= SRV_ST__COUNT)
        st = SRV_ST_INTERNAL;
    return &srv_status_table[st];
}

/* Append s JSON-escaped to out[*pos..n-1], leaving room for the tail. */
static void srv_json_escape(const char *s, char *out, size_t n, size_t *pos, size_t tail)
{
    size_t taken = 0;
    for (; *s && taken < SRV_DIAG_MSG_MAX; s++, taken++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        int k;
        if (c == '"' || c == '\\')
            k = snprintf(esc, sizeof esc, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            k = snprintf(esc, sizeof esc, "\\u%04x", c);
        else
            k = snprintf(esc, sizeof esc, "%c", c);
        if ((size_t)k + tail > n - *pos)
            return;
        memcpy(out + *pos, esc, (size_t)k);
        *pos += (size_t)k;
    }
}

size_t srv_status_json(enum srv_status st, const char *msg, char *out, size_t n)
{
    const struct srv_status_info *info = srv_status_info(st);
    static const char tail[] = "\"}";
    char head[32];
    if (info->platform == 0)
        return 0;
    int h = snprintf(head, sizeof head, "{\"code\":%d,\"msg\":\"", info->platform);
    /* Too small for a useful message: the code alone, or nothing. */
    if ((size_t)h + SRV_DIAG_MSG_MIN + sizeof tail > n) {
        int k = snprintf(head, sizeof head, "{\"code\":%d}", info->platform);
        if (k < 0 || (size_t)k >= n)
            return 0;
        memcpy(out, head, (size_t)k + 1);
        return (size_t)k;
    }
    memcpy(out, head, (size_t)h);
    size_t pos = (size_t)h;
    srv_json_escape(msg ? msg : "", out, n, &pos, sizeof tail);
    memcpy(out + pos, tail, sizeof tail);
    return pos + sizeof tail - 1;
}
