/* bc95.h - UDP socket over a Quectel-BC95-style AT modem (device side).
 *
 * The dialect (tests/tools/ota-modem.c simulates it; README "The emulated
 * device" has the table): commands end with CR, responses come as
 * "\r\n<line>\r\n" ending with OK or ERROR.
 *   AT+NSOCR=DGRAM,17,<port>,1            -> <s> OK
 *   AT+NSOST=<s>,<ip>,<port>,<len>,<hex>  -> <s>,<len> OK
 *   +NSONMI:<s>,<len>                     unsolicited: a datagram arrived
 *   AT+NSORF=<s>,<max>   -> <s>,<ip>,<port>,<len>,<hex>,<remaining> OK
 *                           (just OK when nothing is queued)
 * The hex payload is never buffered: NSOST streams it from the caller's
 * datagram, NSORF decodes it straight into the caller's buffer, so the
 * port's RAM is one short line buffer plus the UART ring.
 *
 * Independent of the board: bytes go through struct bc95_io, so the
 * parser also runs on the host (tests/fuzz/fuzz_bc95.c).
 */
#ifndef BC95_H
#define BC95_H

#include <stddef.h>
#include <stdint.h>

#define BC95_LINE_MAX 48      /* longest line besides NSORF's data line */
#define BC95_CMD_TIMEOUT_MS 5000

enum bc95_err {
    BC95_OK = 0,
    BC95_TIMEOUT, /* nothing (more) within the wait */
    BC95_ERROR,   /* the modem said ERROR, or sent what we cannot parse */
    BC95_LIMIT    /* a datagram larger than the buffer (dropped) */
};

struct bc95_io {
    void *ctx;
    int (*getc)(void *ctx, uint32_t deadline_ms); /* a byte, or -1 past the deadline */
    void (*write)(void *ctx, const void *buf, size_t len);
    uint32_t (*now_ms)(void *ctx);
};

struct bc95 {
    struct bc95_io io;
    int sock;          /* the modem's socket id, -1 before bc95_open */
    uint32_t pending;  /* +NSONMI notices not yet read with NSORF */
    char ip[16];       /* the peer, dotted quad */
    uint16_t port;
    char line[BC95_LINE_MAX];
    uint32_t notices, reads, drops; /* counters for the log */
};

/* Socket bound to local_port (0 = any) talking to ip:port. */
enum bc95_err bc95_open(struct bc95 *m, const struct bc95_io *io, const char *ip, uint16_t port,
                        uint16_t local_port);
enum bc95_err bc95_send(struct bc95 *m, const uint8_t *buf, size_t len);
/* One datagram within wait_ms: BC95_OK with *len, BC95_TIMEOUT, or an error. */
enum bc95_err bc95_recv(struct bc95 *m, uint8_t *buf, size_t cap, size_t *len, uint32_t wait_ms);

#endif
