/* dcoap.h - the device's CoAP message codec (RFC 7252, 7959, 9177).
 *
 * Symmetric: the device builds requests and parses answers, the test
 * server (tests/devsrv.c) parses requests and builds answers with the
 * same code. No allocation: a parsed message points into the datagram it
 * was parsed from (keep the buffer while the message is used), a built
 * one is written into a caller buffer. Every length is checked against
 * the datagram before anything is read.
 *
 * Building: dcoap_begin, then options in non-decreasing number order
 * (dcoap_opt*; delta and extended lengths are computed here), then an
 * optional payload, then dcoap_end. An error (no room, options out of
 * order) is sticky and reported by dcoap_end, so the calls in between
 * need no checks.
 */
#include "odev.h"

#ifndef DCOAP_H
#define DCOAP_H

#define DCOAP_OPT_MAX 24   /* options kept per parsed message (ODEV_E_LIMIT beyond) */
#define DCOAP_TOKEN_MAX 8

/* Message types. */
#define DCOAP_CON 0
#define DCOAP_NON 1
#define DCOAP_ACK 2
#define DCOAP_RST 3

/* Codes as class*32+detail (the wire byte); DCOAP_CODE(2, 5) = 2.05. */
#define DCOAP_CODE(c, d) ((uint8_t)((c) << 5 | (d)))
#define DCOAP_GET DCOAP_CODE(0, 1)
#define DCOAP_POST DCOAP_CODE(0, 2)
/* The wire byte as class*100+detail (205, 404, ...). */
#define DCOAP_CODE_NUM(b) ((unsigned)((b) >> 5) * 100u + ((b) & 31u))

/* Option numbers used here. */
#define DCOAP_OPT_ETAG 4
#define DCOAP_OPT_URI_PATH 11
#define DCOAP_OPT_CONTENT_FORMAT 12
#define DCOAP_OPT_MAX_AGE 14
#define DCOAP_OPT_URI_QUERY 15
#define DCOAP_OPT_Q_BLOCK2 19
#define DCOAP_OPT_BLOCK2 23
#define DCOAP_OPT_SIZE2 28

#define DCOAP_CF_JSON 50
#define DCOAP_SZX_MAX 6          /* 1024 bytes; 7 is BERT (TCP only) */
#define DCOAP_BLOCK_NUM_MAX 0xFFFFFu /* 20 bits in 3 bytes */

struct dcoap_opt {
    uint16_t num;
    uint16_t len;
    const uint8_t *val;
};

struct dcoap_msg {
    uint8_t type;
    uint8_t code;   /* wire byte */
    uint16_t mid;
    uint8_t tkl;
    uint8_t token[DCOAP_TOKEN_MAX];
    uint8_t nopt;
    struct dcoap_opt opt[DCOAP_OPT_MAX];
    const uint8_t *payload; /* NULL when there is none */
    size_t payload_len;
};

/* A Block2 / Q-Block2 value. */
struct dcoap_block {
    uint32_t num;
    uint8_t more;
    uint8_t szx;
};

/* Parse one datagram. ODEV_E_CORRUPT: not CoAP (version, TKL > 8, option
 * running past the end, reserved nibble 15, payload marker with no
 * payload); ODEV_E_LIMIT: more than DCOAP_OPT_MAX options. */
enum odev_err dcoap_parse(const uint8_t *buf, size_t len, struct dcoap_msg *m);

/* The first option numbered num at index >= *from (start with 0); *from
 * is moved past it. NULL when there is no more. */
const struct dcoap_opt *dcoap_find(const struct dcoap_msg *m, uint16_t num, unsigned *from);
/* An unsigned option of at most max bytes (<= 4): ODEV_E_CORRUPT beyond. */
enum odev_err dcoap_uint(const struct dcoap_opt *o, size_t max, uint32_t *v);
/* Block2 / Q-Block2 value: at most 3 bytes, SZX 7 refused. */
enum odev_err dcoap_block_decode(const struct dcoap_opt *o, struct dcoap_block *b);
/* Minimal big-endian bytes of v into out[4]; returns the count (0 for 0). */
size_t dcoap_uint_encode(uint32_t v, uint8_t out[4]);

struct dcoap_builder {
    uint8_t *buf;
    size_t cap, len;
    uint16_t last;  /* number of the last option written */
    uint8_t err;    /* sticky: ODEV_E_LIMIT or ODEV_E_INVAL */
    uint8_t has_payload;
};

void dcoap_begin(struct dcoap_builder *b, uint8_t *buf, size_t cap, uint8_t type, uint8_t code,
                 uint16_t mid, const uint8_t *token, size_t tkl);
void dcoap_opt(struct dcoap_builder *b, uint16_t num, const void *val, size_t len);
void dcoap_opt_uint(struct dcoap_builder *b, uint16_t num, uint32_t v);
void dcoap_opt_str(struct dcoap_builder *b, uint16_t num, const char *s);
void dcoap_opt_block(struct dcoap_builder *b, uint16_t num, const struct dcoap_block *blk);
void dcoap_payload(struct dcoap_builder *b, const void *p, size_t len);
/* The message length in *len, or the sticky error. */
enum odev_err dcoap_end(struct dcoap_builder *b, size_t *len);

#endif
