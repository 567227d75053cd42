/* stats.c - counters as JSON, and admin addresses (stats.h).
 */
#include "stats.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static const char *const srv_resource_names[SRV_RES__COUNT] = {"fota", "report", "stats"};

const char *srv_resource_name(enum srv_resource r)
{
    return (unsigned)r < SRV_RES__COUNT ? srv_resource_names[r] : NULL;
}

enum srv_resource srv_resource_of(const char *res)
{
    for (int r = 0; r < SRV_RES__COUNT; r++)
        if (!strcmp(res, srv_resource_names[r]))
            return (enum srv_resource)r;
    return SRV_RES__COUNT;
}

void srv_stats_mem_of(long pid, uint64_t *rss, uint64_t *hwm)
{
    char path[64], line[128];
    unsigned long long v;
    if (pid > 0)
        snprintf(path, sizeof path, "/proc/%ld/status", pid);
    else
        snprintf(path, sizeof path, "/proc/self/status");
    FILE *fp = fopen(path, "re");
    *rss = *hwm = 0;
    if (!fp)
        return;
    while (fgets(line, sizeof line, fp)) {
        if (sscanf(line, "VmRSS: %llu", &v) == 1)
            *rss = v;
        else if (sscanf(line, "VmHWM: %llu", &v) == 1)
            *hwm = v;
    }
    fclose(fp);
}

void srv_stats_mem(uint64_t *rss, uint64_t *hwm)
{
    srv_stats_mem_of(0, rss, hwm);
}

struct srv_json {
    char *p;
    size_t n, len;
    int full;
    int skip_zero; /* the compact form: counters at 0 left out */
};

static void srv_json_put(struct srv_json *j, const char *key, uint64_t v)
{
    if (j->full || (j->skip_zero && v == 0))
        return;
    int k = snprintf(j->p + j->len, j->n - j->len, "%s\"%s\":%" PRIu64, j->len > 1 ? "," : "",
                     key, v);
    if (k < 0 || (size_t)k >= j->n - j->len)
        j->full = 1;
    else
        j->len += (size_t)k;
}

static void srv_json_raw(struct srv_json *j, const char *s)
{
    size_t k = strlen(s);
    if (j->full || k >= j->n - j->len) {
        j->full = 1;
        return;
    }
    memcpy(j->p + j->len, s, k + 1);
    j->len += k;
}

static size_t srv_stats_json_form(const struct srv_stats *s, const struct srv_gauges *g,
                                  char *out, size_t n, int skip_zero)
{
    struct srv_json j = {out, n, 0, n == 0, skip_zero};
    srv_json_raw(&j, "{");
    srv_json_put(&j, "uptime_s", g->uptime_s);
    srv_json_put(&j, "requests", s->requests);
    srv_json_put(&j, "blocks", s->blocks);
    srv_json_put(&j, "block_bytes", s->block_bytes);
    srv_json_put(&j, "transfers_started", s->transfers_started);
    srv_json_put(&j, "transfers_completed", s->transfers_completed);
    srv_json_put(&j, "transfers_running", g->transfers);
    srv_json_put(&j, "transfer_slots", g->transfer_slots);
    srv_json_put(&j, "sources_tracked", g->sources);
    srv_json_put(&j, "packages", g->packages);
    srv_json_put(&j, "packages_rejected", g->packages_rejected);
    srv_json_put(&j, "limited_rate", s->limited_rate);
    srv_json_put(&j, "limited_transfers", s->limited_transfers);
    srv_json_put(&j, "limited_sources", s->limited_sources);
    srv_json_put(&j, "limited_address", s->limited_address);
    srv_json_put(&j, "limited_reserved", s->limited_reserved);
    srv_json_put(&j, "reports_stored", s->reports_stored);
    srv_json_put(&j, "reports_success", s->reports_success);
    srv_json_put(&j, "reports_failure", s->reports_failure);
    srv_json_put(&j, "reports_not_stored", s->reports_not_stored);
    srv_json_put(&j, "reports_limited", s->reports_limited);
    srv_json_put(&j, "reports_capped", s->reports_capped);
    srv_json_put(&j, "dtls_handshakes", s->dtls_handshakes);
    srv_json_put(&j, "dtls_refused", s->dtls_refused);
    srv_json_put(&j, "dtls_failed", s->dtls_failed);
    srv_json_put(&j, "dtls_gated", s->dtls_gated);
    srv_json_put(&j, "dtls_pending", s->dtls_pending);
    srv_json_put(&j, "screened", s->screened);
    srv_json_put(&j, "log_suppressed", s->log_suppressed);
    srv_json_put(&j, "rescans", s->rescans);
    srv_json_put(&j, "reloads_ok", s->reloads - s->reloads_failed);
    srv_json_put(&j, "reloads_failed", s->reloads_failed);
    srv_json_put(&j, "census_pairs", s->census_pairs);
    srv_json_put(&j, "census_dropped", s->census_dropped);
    srv_json_put(&j, "build_requests", s->build_requests);
    srv_json_put(&j, "build_waits", s->build_waits);
    srv_json_put(&j, "short_requests", s->short_requests);
    srv_json_put(&j, "short_blocks", s->short_blocks);
    srv_json_put(&j, "short_unknown", s->short_unknown);
    srv_json_put(&j, "short_refused", s->short_refused);
    srv_json_put(&j, "short_bad", s->short_bad);
    srv_json_put(&j, "rss_kib", g->rss_kib);
    srv_json_put(&j, "hwm_kib", g->hwm_kib);
    if (g->has_allowlist)
        srv_json_put(&j, "allowlist_imeis", g->allowlist_imeis);
    if (g->has_rollout)
        srv_json_put(&j, "rollout_bp", g->rollout_bp);
    srv_json_raw(&j, ",\"status\":{");
    size_t mark = j.len;
    for (int st = 0; st < SRV_ST__COUNT; st++) {
        if (!s->by_status[st])
            continue;
        /* "status":{ opens a new list: no comma before its first member */
        int k = snprintf(j.p + j.len, j.full ? 0 : j.n - j.len, "%s\"%s\":%" PRIu64,
                         j.len > mark ? "," : "", srv_status_info(st)->name, s->by_status[st]);
        if (j.full || k < 0 || (size_t)k >= j.n - j.len)
            j.full = 1;
        else
            j.len += (size_t)k;
    }
    srv_json_raw(&j, "}}");
    return j.full ? 0 : j.len;
}

/* The full object; if it does not fit (a long-running server's counters
 * in one CoAP datagram), the compact one without the zero counters. */
size_t srv_stats_json(const struct srv_stats *s, const struct srv_gauges *g, char *out, size_t n)
{
    size_t len = srv_stats_json_form(s, g, out, n, 0);
    return len ? len : srv_stats_json_form(s, g, out, n, 1);
}

/* An IPv4-mapped entry (::ffff:a.b.c.d) is stored as IPv4, so it matches
 * the address whether it arrives on an IPv4 or a dual-stack socket. */
enum ota_err srv_addrs_parse(const char (*list)[CFG_ADDR_MAX], int n, struct srv_admin *out,
                             char *msg)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    memset(out, 0, sizeof *out);
    for (int i = 0; i < n && i < CFG_ADMIN_MAX; i++) {
        uint8_t *a = out->a[out->n].addr;
        if (inet_pton(AF_INET, list[i], a) == 1) {
            out->a[out->n].family = AF_INET;
        } else if (inet_pton(AF_INET6, list[i], a) == 1) {
            out->a[out->n].family = AF_INET6;
            if (memcmp(a, mapped, sizeof mapped) == 0) {
                memmove(a, a + 12, 4);
                out->a[out->n].family = AF_INET;
            }
        } else {
            return ota_fail(msg, OTA_E_INVAL, "'%s' is not an IP address", list[i]);
        }
        out->n++;
    }
    return OTA_OK;
}

enum ota_err srv_admin_parse(const struct cfg_ota *cfg, struct srv_admin *out, char *msg)
{
    enum ota_err e = srv_addrs_parse((const char(*)[CFG_ADDR_MAX])cfg->admin, cfg->nadmin, out,
                                     msg);
    return e == OTA_OK ? e : ota_fail(msg, e, "admin: '%s' is not an IP address",
                                      cfg->admin[out->n]);
}

int srv_admin_match(const struct srv_admin *adm, const struct sockaddr *sa)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    const uint8_t *v4 = NULL, *v6 = NULL;
    if (sa->sa_family == AF_INET) {
        v4 = (const uint8_t *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr;
    } else if (sa->sa_family == AF_INET6) {
        v6 = (const uint8_t *)&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
        if (memcmp(v6, mapped, sizeof mapped) == 0)
            v4 = v6 + 12;
    }
    for (int i = 0; i < adm->n; i++) {
        if (adm->a[i].family == AF_INET && v4 && memcmp(adm->a[i].addr, v4, 4) == 0)
            return 1;
        if (adm->a[i].family == AF_INET6 && v6 && memcmp(adm->a[i].addr, v6, 16) == 0)
            return 1;
    }
    return 0;
}
