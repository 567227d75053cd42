/* fota.c - the GET /fota decision (fota.h): every refusal in one place.
 */
#include "fota.h"

#include <stdio.h>
#include <string.h>

/* Equal product keys, in time independent of where they differ. */
static int srv_key_equal(const char *configured, const char *given)
{
    char a[CFG_KEY_MAX], b[CFG_KEY_MAX];
    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
    memcpy(a, configured, strnlen(configured, sizeof a - 1));
    memcpy(b, given, strnlen(given, sizeof b - 1));
    return sodium_memcmp(a, b, sizeof a) == 0;
}

static enum srv_status srv_fota_query(const struct cfg_ota *cfg, const struct srv_fota_in *in,
                                      struct srv_fota_out *out)
{
    enum ota_err e = srv_query_parse(in->query, in->query_len, &out->q, out->msg);
    if (e != OTA_OK)
        return e == OTA_E_VERSION ? SRV_ST_BAD_VERSION : SRV_ST_BAD_FIELD;
    out->parsed = 1;
    if (!srv_key_equal(cfg->product_key, out->q.project_key)) {
        snprintf(out->msg, sizeof out->msg, "project_key: wrong product key");
        return SRV_ST_FORBIDDEN;
    }
    if (strcmp(cfg->project, out->q.project) != 0) {
        snprintf(out->msg, sizeof out->msg, "firmware_name: project %s is not served here",
                 out->q.project);
        return SRV_ST_FORBIDDEN;
    }
    return SRV_ST_CONTENT;
}

/* Is this request an update check (the first block, or no Block2)? A
 * malformed Block2 counts as a check; srv_fota_block refuses it later. */
static int srv_fota_is_check(const struct srv_fota_in *in)
{
    struct srv_block b;
    if (in->resume)
        return 0;
    return !in->has_block2 || srv_block_parse(in->block2, in->block2_len, &b, NULL) != OTA_OK ||
           b.num == 0;
}

static enum srv_status srv_fota_fleet(const struct srv_fota_in *in, struct srv_fota_out *out)
{
    const char *imei = out->q.imei;
    if (in->dtls_identity && strcmp(in->dtls_identity, imei) != 0) {
        snprintf(out->msg, sizeof out->msg, "imei: %s is not this DTLS session's identity",
                 imei);
        return SRV_ST_FORBIDDEN;
    }
    struct srv_check_req who = {imei, in->dtls_identity != NULL, in->peer, 0};
    if (in->checks && srv_fota_is_check(in) &&
        (out->max_age = srv_checks_hit(in->checks, &who, in->now_ms)) != 0) {
        snprintf(out->msg, sizeof out->msg, "imei %s: checks too often, retry in %u s", imei,
                 out->max_age);
        return SRV_ST_TOO_MANY;
    }
    enum srv_fleet_verdict v = in->fleet ? srv_fleet_check(in->fleet, imei) : SRV_FLEET_ALLOWED;
    if (v == SRV_FLEET_NOT_ALLOWED) {
        snprintf(out->msg, sizeof out->msg, "imei %s: not in the allowlist", imei);
        return SRV_ST_REFUSED;
    }
    if (v == SRV_FLEET_NOT_YET) {
        snprintf(out->msg, sizeof out->msg, "imei %s: not in this rollout stage yet", imei);
        return SRV_ST_HELD_BACK;
    }
    return SRV_ST_CONTENT;
}

/* The message is only formatted for refusals: a block answer, the hot
 * path, formats nothing. */
static enum srv_status srv_fota_pick(const struct srv_index *idx, const struct srv_fota_in *in,
                                     struct srv_fota_out *out)
{
    char tv[VER_SCRIPT_STR_MAX];
    struct srv_device d = {out->q.project, out->q.core, out->q.script, out->q.dfota};
    if (in->memo)
        srv_memo_select(in->memo, idx->gen, idx->hdrs, idx->n, &d, &out->sel);
    else
        srv_select(idx->hdrs, idx->n, &d, &out->sel);
    if (out->sel.pick == SRV_PICK_PACKAGE && out->sel.index < idx->n) {
        out->pkg = idx->pkgs[out->sel.index];
        return SRV_ST_CONTENT;
    }
    ver_script_format(&out->sel.target_script, tv);
    snprintf(out->msg, sizeof out->msg, "%s (release %04u/%s)", srv_pick_name(out->sel.pick),
             (unsigned)out->sel.target_core, tv);
    switch (out->sel.pick) {
    case SRV_PICK_PACKAGE:
        snprintf(out->msg, sizeof out->msg, "selection out of range");
        return SRV_ST_INTERNAL;
    case SRV_PICK_NO_BASE:
        return SRV_ST_NO_BASE;
    case SRV_PICK_OTHER_LINE:
        snprintf(out->msg, sizeof out->msg, "%s", srv_pick_name(out->sel.pick));
        return SRV_ST_REFUSED;
    case SRV_PICK_NO_RELEASE:
        snprintf(out->msg, sizeof out->msg, "%s", srv_pick_name(out->sel.pick));
        return SRV_ST_NO_UPDATE;
    case SRV_PICK_UP_TO_DATE:
    case SRV_PICK_DEVICE_NEWER:
    case SRV_PICK_SCRIPT_DOWNGRADE:
        break;
    }
    return SRV_ST_NO_UPDATE;
}

static enum srv_status srv_fota_block(const struct cfg_ota *cfg, const struct srv_fota_in *in,
                                      struct srv_fota_out *out)
{
    struct srv_block req;
    int szx = srv_block_szx((unsigned)cfg->block_size);
    if (szx < 0)
        szx = SRV_SZX_MAX;
    if (in->has_block2 && srv_block_parse(in->block2, in->block2_len, &req, out->msg) != OTA_OK)
        return SRV_ST_BAD_BLOCK;
    if (srv_block_slice(out->pkg->len, in->has_block2 ? &req : NULL, (unsigned)szx, &out->slice,
                        out->msg) != OTA_OK)
        return SRV_ST_BLOCK_RANGE;
    out->msg[0] = '\0';
    return SRV_ST_CONTENT;
}

void srv_fota_decide(const struct cfg_ota *cfg, const struct srv_index *idx,
                     const struct srv_fota_in *in, struct srv_fota_out *out)
{
    memset(out, 0, sizeof *out);
    out->st = srv_fota_query(cfg, in, out);
    if (out->st == SRV_ST_CONTENT)
        out->st = srv_fota_fleet(in, out);
    if (out->st == SRV_ST_CONTENT)
        out->st = srv_fota_pick(idx, in, out);
    if (out->st == SRV_ST_CONTENT && !in->no_slice)
        out->st = srv_fota_block(cfg, in, out);
    if (out->st != SRV_ST_CONTENT)
        out->pkg = NULL;
}
