/* devsrv.c - the fake server of the device tests (see devsrv.h). */
#include "devsrv.h"

#include "coap/dcoap.h"

#include <stdio.h>
#include <string.h>

static uint32_t devsrv_rand(struct devsrv *s)
{
    s->seed = s->seed * 1103515245u + 12345u;
    return s->seed >> 8;
}

static void devsrv_etag_of(struct devsrv *s, const uint8_t *pkg, size_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a: any stable function of the bytes will do */
    for (size_t i = 0; i < len; i++)
        h = (h ^ pkg[i]) * 16777619u;
    for (int i = 0; i < ODEV_ETAG_MAX; i++)
        s->etag[i] = (uint8_t)(h >> (8 * (i % 4))) ^ (uint8_t)(len >> (i / 2));
}

void devsrv_init(struct devsrv *s, const uint8_t *pkg, size_t len)
{
    memset(s, 0, sizeof *s);
    s->pkg = pkg;
    s->pkg_len = len;
    s->replace_at = s->drop_after = -1;
    s->szx_max = 6;
    s->delay_ms = 50;
    s->seed = 1;
    if (pkg)
        devsrv_etag_of(s, pkg, len);
}

void devsrv_replace(struct devsrv *s, const uint8_t *pkg, size_t len, long after)
{
    s->pkg2 = pkg;
    s->pkg2_len = len;
    s->replace_at = (long)s->answers + after;
}

static void devsrv_swap(struct devsrv *s)
{
    if (s->replace_at < 0 || (long)s->answers < s->replace_at)
        return;
    s->pkg = s->pkg2;
    s->pkg_len = s->pkg2_len;
    devsrv_etag_of(s, s->pkg, s->pkg_len);
    s->replace_at = -1;
}

static void devsrv_queue(struct devsrv *s, struct dcoap_builder *b)
{
    size_t len;
    if (dcoap_end(b, &len) != ODEV_OK || s->nq >= DEVSRV_QUEUE)
        return;
    s->answers++;
    if ((s->drop_after >= 0 && (long)s->answers > s->drop_after) ||
        (s->loss_pct && (int)(devsrv_rand(s) % 100) < s->loss_pct)) {
        s->lost++;
        return;
    }
    struct devsrv_dgram *g = &s->q[s->nq++];
    g->at = s->now + s->delay_ms;
    if (s->reorder_pct && (int)(devsrv_rand(s) % 100) < s->reorder_pct)
        g->at += s->delay_ms + devsrv_rand(s) % (2 * s->delay_ms + 1);
    g->len = len;
    memcpy(g->buf, b->buf, len);
}

static void devsrv_answer(struct devsrv *s, const struct dcoap_msg *req, struct dcoap_builder *b,
                          uint8_t *buf, size_t cap, uint8_t code)
{
    dcoap_begin(b, buf, cap, DCOAP_NON, code, (uint16_t)devsrv_rand(s), req->token, req->tkl);
}

static void devsrv_diag(struct devsrv *s, const struct dcoap_msg *req, uint8_t code, int pcode,
                        uint32_t max_age)
{
    uint8_t buf[256];
    char body[64];
    struct dcoap_builder b;
    int n = snprintf(body, sizeof body, "{\"code\":%d,\"msg\":\"fake\"}", pcode);
    devsrv_answer(s, req, &b, buf, sizeof buf, code);
    if (max_age)
        dcoap_opt_uint(&b, DCOAP_OPT_MAX_AGE, max_age);
    if (pcode >= 0)
        dcoap_payload(&b, body, (size_t)n);
    devsrv_queue(s, &b);
}

static void devsrv_block(struct devsrv *s, const struct dcoap_msg *req, uint32_t num,
                         unsigned szx)
{
    uint8_t buf[ODEV_DGRAM_MAX];
    struct dcoap_builder b;
    devsrv_swap(s);
    size_t bs = 16u << szx, off = (size_t)num * bs;
    if (off >= s->pkg_len && !(off == 0 && s->pkg_len == 0)) {
        devsrv_diag(s, req, DCOAP_CODE(4, 2), -1, 0);
        return;
    }
    size_t n = s->pkg_len - off < bs ? s->pkg_len - off : bs;
    struct dcoap_block blk = {num, off + n < s->pkg_len, (uint8_t)szx};
    devsrv_answer(s, req, &b, buf, sizeof buf, DCOAP_CODE(2, 5));
    dcoap_opt(&b, DCOAP_OPT_ETAG, s->etag, ODEV_ETAG_MAX);
    dcoap_opt_block(&b, DCOAP_OPT_BLOCK2, &blk);
    dcoap_opt_uint(&b, DCOAP_OPT_SIZE2, (uint32_t)s->pkg_len);
    dcoap_payload(&b, s->pkg + off, n);
    devsrv_queue(s, &b);
}

static int devsrv_path(const struct dcoap_msg *m, int i, const char *want)
{
    unsigned it = 0;
    const struct dcoap_opt *o = NULL;
    for (int k = 0; k <= i; k++)
        if (!(o = dcoap_find(m, DCOAP_OPT_URI_PATH, &it)))
            return 0;
    return want == NULL || (o->len == strlen(want) && memcmp(o->val, want, o->len) == 0);
}

static void devsrv_fota(struct devsrv *s, const struct dcoap_msg *m)
{
    unsigned it = 0;
    struct dcoap_block blk = {0, 0, 6};
    const struct dcoap_opt *o = dcoap_find(m, DCOAP_OPT_BLOCK2, &it);
    s->fota++;
    if (o && dcoap_block_decode(o, &blk) != ODEV_OK) {
        devsrv_diag(s, m, DCOAP_CODE(4, 0), -1, 0);
        return;
    }
    if (s->busy > 0) {
        s->busy--;
        devsrv_diag(s, m, DCOAP_CODE(5, 3), 43, s->max_age);
        return;
    }
    if (!s->pkg) {
        devsrv_diag(s, m, DCOAP_CODE(4, 4), 27, 0);
        return;
    }
    unsigned szx = blk.szx < s->szx_max ? blk.szx : s->szx_max;
    devsrv_block(s, m, (uint32_t)(((size_t)blk.num << blk.szx) >> szx), szx);
}

static void devsrv_short(struct devsrv *s, const struct dcoap_msg *m)
{
    char hex[2 * ODEV_ETAG_MAX + 1];
    unsigned it = 0;
    const struct dcoap_opt *o;
    s->shorts++;
    for (int i = 0; i < ODEV_ETAG_MAX; i++)
        snprintf(hex + 2 * i, 3, "%02x", s->etag[i]);
    if (s->no_short || !s->pkg || !devsrv_path(m, 1, hex)) {
        devsrv_diag(s, m, DCOAP_CODE(4, 4), -1, 0);
        return;
    }
    while ((o = dcoap_find(m, DCOAP_OPT_Q_BLOCK2, &it)) != NULL) {
        struct dcoap_block blk;
        if (dcoap_block_decode(o, &blk) != ODEV_OK) {
            devsrv_diag(s, m, DCOAP_CODE(4, 0), -1, 0);
            return;
        }
        devsrv_block(s, m, blk.num, blk.szx);
    }
}

void devsrv_input(struct devsrv *s, const uint8_t *buf, size_t len)
{
    struct dcoap_msg m;
    s->requests++;
    if (s->loss_pct && (int)(devsrv_rand(s) % 100) < s->loss_pct) {
        s->lost++;
        return;
    }
    if (dcoap_parse(buf, len, &m) != ODEV_OK)
        return;
    if (m.code == DCOAP_GET && devsrv_path(&m, 0, "fota")) {
        devsrv_fota(s, &m);
    } else if (m.code == DCOAP_GET && devsrv_path(&m, 0, "p")) {
        s->short_bytes += len;
        s->short_tkl = m.tkl;
        if (s->shorts + 1 == s->drop_short) {
            s->shorts++;
            s->lost++;
            return;
        }
        devsrv_short(s, &m);
    } else if (m.code == DCOAP_POST && devsrv_path(&m, 0, "report")) {
        s->reports++;
        s->report_len = m.payload_len < sizeof s->report - 1 ? m.payload_len : sizeof s->report - 1;
        memcpy(s->report, m.payload, s->report_len);
        s->report[s->report_len] = '\0';
        devsrv_diag(s, &m, DCOAP_CODE(2, 4), -1, 0);
    } else {
        devsrv_diag(s, &m, DCOAP_CODE(4, 4), -1, 0);
    }
}

int devsrv_output(struct devsrv *s, uint8_t *buf, size_t cap, size_t *len, uint32_t wait_ms)
{
    int best = -1;
    for (int i = 0; i < s->nq; i++) /* the first of the earliest: FIFO on ties */
        if (best < 0 || (int32_t)(s->q[i].at - s->q[best].at) < 0)
            best = i;
    if (best < 0 || (int32_t)(s->q[best].at - (s->now + wait_ms)) > 0) {
        s->now += wait_ms;
        return 0;
    }
    if ((int32_t)(s->q[best].at - s->now) > 0)
        s->now = s->q[best].at;
    *len = s->q[best].len < cap ? s->q[best].len : cap;
    memcpy(buf, s->q[best].buf, *len);
    memmove(&s->q[best], &s->q[best + 1], (size_t)(--s->nq - best) * sizeof s->q[0]);
    return 1;
}
