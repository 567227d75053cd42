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

/* The device's project (by firmware_name) and its product key. An
 * unknown project is refused like a wrong one (4.03). */
static enum srv_status srv_fota_query(const struct cfg_ota *cfg, const struct srv_fota_in *in,
                                      struct srv_fota_out *out, struct srv_project **pr)
{
    enum ota_err e = srv_query_parse(in->query, in->query_len, &out->q, out->msg);
    if (e != OTA_OK)
        return e == OTA_E_VERSION ? SRV_ST_BAD_VERSION : SRV_ST_BAD_FIELD;
    out->parsed = 1;
    *pr = in->projects ? srv_projects_find(in->projects, out->q.project) : NULL;
    const struct cfg_ota *c = *pr ? (*pr)->cfg : cfg;
    if (in->projects && !*pr) {
        snprintf(out->msg, sizeof out->msg, "firmware_name: project %s is not served here",
                 out->q.project);
        return SRV_ST_FORBIDDEN;
    }
    if (!srv_key_equal(c->product_key, out->q.project_key)) {
        snprintf(out->msg, sizeof out->msg, "project_key: wrong product key");
        return SRV_ST_FORBIDDEN;
    }
    if (strcmp(c->project, out->q.project) != 0) {
        snprintf(out->msg, sizeof out->msg, "firmware_name: project %s is not served here",
                 out->q.project);
        return SRV_ST_FORBIDDEN;
    }
    out->project = c;
    return SRV_ST_CONTENT;
}

/* An identity IMEI, or PROJECT/IMEI naming the query's project. */
static int srv_fota_identity_ok(const char *id, const struct srv_query *q)
{
    const char *slash = strchr(id, '/');
    if (!slash)
        return strcmp(id, q->imei) == 0;
    size_t n = (size_t)(slash - id);
    return strlen(q->project) == n && memcmp(id, q->project, n) == 0 &&
           strcmp(slash + 1, q->imei) == 0;
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

static struct srv_check_req srv_fota_checker(const struct srv_fota_in *in,
                                             const struct srv_fota_out *out)
{
    return (struct srv_check_req){out->q.imei, in->dtls_identity != NULL, in->peer, 0};
}

static enum srv_status srv_fota_fleet(const struct srv_fota_in *in, const struct srv_fleet *fleet,
                                      struct srv_checks *checks, struct srv_fota_out *out)
{
    const char *imei = out->q.imei;
    if (in->dtls_identity && !srv_fota_identity_ok(in->dtls_identity, &out->q)) {
        snprintf(out->msg, sizeof out->msg, "imei: %s is not this DTLS session's identity",
                 imei);
        return SRV_ST_FORBIDDEN;
    }
    struct srv_check_req who = srv_fota_checker(in, out);
    if (checks && srv_fota_is_check(in) &&
        (out->max_age = srv_checks_hit(checks, &who, in->now_ms)) != 0) {
        snprintf(out->msg, sizeof out->msg, "imei %s: checks too often, retry in %u s", imei,
                 out->max_age);
        return SRV_ST_TOO_MANY;
    }
    enum srv_fleet_verdict v = fleet ? srv_fleet_check(fleet, imei) : SRV_FLEET_ALLOWED;
    /* Paused: no new offers; a download past block 0 finishes. */
    if (v == SRV_FLEET_ALLOWED && fleet && fleet->paused && srv_fota_is_check(in)) {
        snprintf(out->msg, sizeof out->msg, "imei %s: rollout paused", imei);
        return SRV_ST_HELD_BACK;
    }
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
    struct srv_device d = {out->q.project, out->q.core, out->q.script, out->q.dfota,
                           out->project->package_format == CFG_FORMAT_VENDOR};
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

/* The device's pair, as the census and the build request name it. */
static void srv_fota_pair(const struct srv_fota_out *out, struct census_entry *who)
{
    memset(who, 0, sizeof *who);
    memcpy(who->project, out->q.project, sizeof who->project);
    who->core = out->q.core;
    who->script = out->q.script;
}

/* No package for the core: if it is archived, 5.03 code 43 while it is
 * built, and the check is given back to check_interval (the device is
 * told to come back in Max-Age; that must not cost it its next check). */
static enum srv_status srv_fota_ondemand(const struct srv_fota_in *in,
                                         struct srv_census_pair *pair, struct srv_checks *checks,
                                         struct srv_fota_out *out)
{
    struct census_entry who;
    char why[OTA_MSG_LEN];
    srv_fota_pair(out, &who);
    if (!srv_ondemand_ask(in->ondemand, pair, &who, out->sel.target_core,
                          &out->sel.target_script, in->now_ms, why))
        return SRV_ST_NO_BASE;
    out->building = 1;
    out->max_age = SRV_ONDEMAND_MAX_AGE;
    memcpy(out->msg, why, sizeof out->msg);
    if (checks) {
        struct srv_check_req who_checks = srv_fota_checker(in, out);
        srv_checks_refund(checks, &who_checks, in->now_ms);
    }
    return SRV_ST_UNAVAILABLE;
}

void srv_fota_decide(const struct cfg_ota *cfg, const struct srv_index *idx,
                     const struct srv_fota_in *in, struct srv_fota_out *out)
{
    struct srv_census_pair *pair = NULL;
    struct srv_project *pr = NULL;
    memset(out, 0, sizeof *out);
    out->st = srv_fota_query(cfg, in, out, &pr);
    struct srv_checks *checks = pr ? &pr->checks : in->checks;
    int check = out->st == SRV_ST_CONTENT && srv_fota_is_check(in);
    out->check = check;
    if (check && in->census)
        pair = srv_census_count(in->census, out->q.project, &out->q.core, &out->q.script,
                                in->now_s);
    if (out->st == SRV_ST_CONTENT)
        out->st = srv_fota_fleet(in, pr ? &pr->fleet : in->fleet, checks, out);
    if (out->st == SRV_ST_CONTENT)
        out->st = srv_fota_pick(idx, in, out);
    /* we build only our own packages: a vendor project's devices wait for
     * the vendor's files, not for a build */
    if (out->st == SRV_ST_NO_BASE && check && in->ondemand &&
        !(out->project && out->project->package_format == CFG_FORMAT_VENDOR))
        out->st = srv_fota_ondemand(in, pair, checks, out);
    if (out->st == SRV_ST_CONTENT && !in->no_slice)
        out->st = srv_fota_block(cfg, in, out);
    if (out->st != SRV_ST_CONTENT)
        out->pkg = NULL;
}
