/* proto.h - the wire details of DESIGN.md section 4, free of any socket.
 *
 * Everything the client puts into or takes out of a CoAP message that can
 * be checked without a network lives here, so it is unit-tested
 * (tests/test_client_proto.c) and shared by net.c and the download driver:
 * Block2 and uint option values (RFC 7959 / 7252), the GET /fota query, the
 * {"code":N,"msg":"..."} diagnostic payload, the response -> status
 * classification, and the POST /report body. Every decoder checks lengths
 * before reading; nothing here allocates.
 */
#ifndef PROTO_H
#define PROTO_H

#include "dev.h"

#define DEV_SZX_MAX 6 /* 1024 bytes; 7 is reserved (BERT, TCP only) */
#define DEV_BLOCK_NUM_MAX 0xFFFFFu /* 20 bits in a 3-byte option */
#define DEV_QUERY_FIELDS 7

/* Block2 value: num<<4 | more<<3 | szx, minimal big-endian (0..3 bytes). */
size_t dev_block2_encode(uint32_t num, int more, unsigned szx, uint8_t out[3]);
/* OTA_E_CORRUPT for > 3 bytes or SZX 7. */
enum ota_err dev_block2_decode(const uint8_t *v, size_t len, uint32_t *num, int *more,
                               unsigned *szx, char *msg);
/* CoAP uint option of at most max bytes (Size2: 4). */
enum ota_err dev_uint_decode(const uint8_t *v, size_t len, size_t max, uint64_t *out);
/* Block size 16..1024, power of two -> SZX. */
enum ota_err dev_szx_from_size(int block_size, unsigned *szx, char *msg);

/* The GET /fota query as separate Uri-Query values ("key=value"). */
struct dev_query {
    char buf[DEV_QUERY_MAX];
    const char *field[DEV_QUERY_FIELDS];
    size_t len[DEV_QUERY_FIELDS];
    int n;
};
enum ota_err dev_query_build(const struct cfg_device *d, struct dev_query *q, char *msg);
/* "a=1&b=2" for logs and tests; OTA_E_LIMIT if out is too small. */
enum ota_err dev_query_join(const struct dev_query *q, char *out, size_t n);

/* Parse {"code":N,"msg":"..."}; other members are skipped. Missing members
 * leave *code = -1 / text = "". OTA_E_CORRUPT if it is not such an object. */
enum ota_err dev_diag_parse(const uint8_t *p, size_t len, int *code, char *text, size_t textlen);

/* Class of a non-2.05 answer: 4.04 + code 27 is "no update", 4.29 and 5.xx
 * are "try later" (network), any other 4.xx is a rejection. */
enum dev_status dev_status_from_response(unsigned coap_code, int srv_code);

/* POST /report body; OTA_E_LIMIT if it does not fit. */
enum ota_err dev_report_json(const struct cfg_device *d, const struct dev_result *r,
                             int result_code, char *out, size_t n, size_t *len);

#endif
