/* cfg.c - load ota.ini and device.ini through inih, validating every value.
 *
 * inih calls one handler per key; each handler looks the key up in a small
 * table for its section and stores a checked value, or records a message
 * and returns 0 so inih reports the line. Only the first error is kept,
 * formatted "file:line: message". After parsing, required keys are checked.
 */
#include "cfg.h"

#include "kv.h"
#include "log.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <ini.h>
#include <libgen.h>
#include <netdb.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cfg_ctx {
    const char *dir;
    char err[OTA_MSG_LEN];
    unsigned seen; /* bit per required key */
    void *out;
};

static int cfg_bad(struct cfg_ctx *x, const char *fmt, const char *a, const char *b)
{
    if (!x->err[0])
        snprintf(x->err, sizeof x->err, fmt, a, b);
    return 0;
}

/* "key: detail", unless the detail already starts with the key's name. */
static int cfg_field_bad(struct cfg_ctx *x, const char *k, const char *detail)
{
    size_t n = strlen(k);
    if (!strncmp(detail, k, n) && detail[n] == ':')
        return cfg_bad(x, "%s%s", "", detail);
    return cfg_bad(x, "%s: %s", k, detail);
}

/* A key in no section, or in a section this file does not have. */
static int cfg_bad_section(struct cfg_ctx *x, const char *section, const char *k,
                           const char *first)
{
    char what[96];
    if (!section[0]) {
        snprintf(what, sizeof what, "before any [section]; the file starts with %s", first);
        return cfg_bad(x, "key '%s' %s", k, what);
    }
    return cfg_bad(x, "unknown section [%s] (key '%s')", section, k);
}

static enum ota_err cfg_path(const char *dir, const char *value, char *out)
{
    int n = value[0] == '/' ? snprintf(out, CFG_PATH_MAX, "%s", value)
                            : snprintf(out, CFG_PATH_MAX, "%s/%s", dir, value);
    return n > 0 && n < CFG_PATH_MAX ? OTA_OK : OTA_E_LIMIT;
}

static int cfg_bool(const char *v, int *out)
{
    if (!strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "on") || !strcmp(v, "1"))
        *out = 1;
    else if (!strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "off") || !strcmp(v, "0"))
        *out = 0;
    else
        return -1;
    return 0;
}

static int cfg_int(const char *v, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end || n < lo || n > hi)
        return -1;
    *out = (int)n;
    return 0;
}

enum ota_err cfg_check_product_key(const char *s, char *msg)
{
    return ver_ident_check("product_key", s, CFG_KEY_MAX, msg) == OTA_OK ? OTA_OK
                                                                         : OTA_E_INVAL;
}

enum ota_err cfg_check_imei(const char *s, char *msg)
{
    size_t n = strlen(s);
    if (n != 15)
        return ota_fail(msg, OTA_E_INVAL, "imei: expected 15 digits, got %zu characters", n);
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i])) {
            char shown[8];
            ver_char_show(s[i], shown);
            return ota_fail(msg, OTA_E_INVAL, "imei: bad character %s at offset %zu (digits "
                            "0-9 only)", shown, i);
        }
    return OTA_OK;
}

enum ota_err cfg_split_hostport(const char *s, char *host, size_t hostlen, uint16_t *port,
                                uint16_t def_port, char *msg)
{
    const char *colon, *h = s;
    size_t hl;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || (close[1] != '\0' && close[1] != ':'))
            return ota_fail(msg, OTA_E_INVAL, "address '%s': unbalanced [", s);
        h = s + 1;
        hl = (size_t)(close - h);
        colon = close[1] == ':' ? close + 1 : NULL;
    } else {
        colon = strrchr(s, ':');
        if (colon && strchr(s, ':') != colon)
            return ota_fail(msg, OTA_E_INVAL, "address '%s': put IPv6 addresses in []", s);
        hl = colon ? (size_t)(colon - s) : strlen(s);
    }
    if (hl == 0 || hl >= hostlen)
        return ota_fail(msg, OTA_E_INVAL, "address '%s': bad host length", s);
    memcpy(host, h, hl);
    host[hl] = '\0';
    int p = def_port;
    if (colon && cfg_int(colon + 1, 1, 65535, &p) != 0)
        return ota_fail(msg, OTA_E_INVAL, "address '%s': port not in 1..65535", s);
    *port = (uint16_t)p;
    return OTA_OK;
}

enum ota_err cfg_resolve(const char *spec, uint16_t def_port, int socktype,
                         struct sockaddr_storage *out, socklen_t *len, char *msg)
{
    char host[CFG_ADDR_MAX], port_s[8];
    uint16_t port;
    struct addrinfo hints, *ai = NULL;
    enum ota_err e = cfg_split_hostport(spec, host, sizeof host, &port, def_port, msg);
    if (e != OTA_OK)
        return e;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = socktype;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(port_s, sizeof port_s, "%u", (unsigned)port);
    int rc = getaddrinfo(host, port_s, &hints, &ai);
    if (rc != 0)
        return ota_fail(msg, OTA_E_NET, "listen %s: %s", spec, gai_strerror(rc));
    memset(out, 0, sizeof *out);
    memcpy(out, ai->ai_addr, ai->ai_addrlen);
    *len = ai->ai_addrlen;
    freeaddrinfo(ai);
    return OTA_OK;
}

/* ---- ota.ini ------------------------------------------------------------ */

enum {
    CFG_REQ_NAME = 1 << 0,
    CFG_REQ_KEY = 1 << 1,
    CFG_REQ_CORE = 1 << 2,
    CFG_REQ_CORE_IMAGE = 1 << 3,
    CFG_REQ_SCRIPT = 1 << 4,
    CFG_REQ_SCRIPT_IMAGE = 1 << 5,
    CFG_REQ_PUBKEY = 1 << 6,
};

/* A comma- or space-separated list of up to CFG_LISTEN_MAX addresses. */
static int cfg_listen_list(char (*out)[CFG_ADDR_MAX], int *count, const char *value,
                           uint16_t def_port, struct cfg_ctx *x)
{
    char list[CFG_LISTEN_MAX * CFG_ADDR_MAX], host[CFG_ADDR_MAX], *save = NULL;
    uint16_t port;
    if (ota_strlcpy(list, value, sizeof list) != OTA_OK)
        return cfg_bad(x, "listen: value too long%s%s", "", "");
    *count = 0;
    for (char *t = strtok_r(list, ", \t", &save); t; t = strtok_r(NULL, ", \t", &save)) {
        char detail[OTA_MSG_LEN];
        if (*count == CFG_LISTEN_MAX)
            return cfg_bad(x, "listen: more than 4 addresses%s%s", "", "");
        if (cfg_split_hostport(t, host, sizeof host, &port, def_port, detail) != OTA_OK)
            return cfg_bad(x, "listen: %s%s", detail, "");
        ota_strlcpy(out[(*count)++], t, CFG_ADDR_MAX);
    }
    return *count ? 1 : cfg_bad(x, "listen: no address given%s%s", "", "");
}

static int cfg_ota_listen(struct cfg_ota *c, const char *value, struct cfg_ctx *x)
{
    return cfg_listen_list(c->listen, &c->nlisten, value, 5683, x);
}

/* "12.5" -> 1250 basis points; 0..100 with at most two decimals. */
int cfg_percent_bp(const char *v, uint32_t *out)
{
    uint32_t whole = 0, frac = 0, digits = 0;
    const char *p = v;
    for (; *p >= '0' && *p <= '9' && whole <= 100; p++)
        whole = whole * 10 + (uint32_t)(*p - '0');
    if (p == v)
        return -1;
    if (*p == '.')
        for (p++; *p >= '0' && *p <= '9' && digits < 2; p++, digits++)
            frac = frac * 10 + (uint32_t)(*p - '0');
    if (*p || whole > 100 || (whole == 100 && frac))
        return -1;
    *out = whole * 100 + (digits == 1 ? frac * 10 : frac);
    return 0;
}

static int cfg_ota_dtls(struct cfg_ota *c, const char *k, const char *v, struct cfg_ctx *x)
{
    if (!strcmp(k, "listen"))
        return cfg_listen_list(c->dtls_listen, &c->ndtls_listen, v, 5684, x);
    if (!strcmp(k, "only"))
        return cfg_bool(v, &c->dtls_only) == 0 ? 1 : cfg_bad(x, "only: expected yes or no, "
                                                                "got '%s'%s", v, "");
    if (!strcmp(k, "max_handshakes"))
        return cfg_int(v, 1, 65536, &c->dtls_max_handshakes) == 0
                   ? 1 : cfg_bad(x, "max_handshakes: '%.64s' not in 1..65536%s", v, "");
    if (!strcmp(k, "handshakes_per_address"))
        return cfg_int(v, 1, 65536, &c->dtls_per_address) == 0
                   ? 1 : cfg_bad(x, "handshakes_per_address: '%.64s' not in 1..65536%s", v, "");
    return cfg_bad(x, "unknown key '%s' in [%s]", k, "dtls");
}

/* A path key whose empty value turns the feature off. */
static int cfg_path_or_none(struct cfg_ctx *x, const char *k, const char *v, char *out)
{
    out[0] = '\0';
    return !v[0] || cfg_path(x->dir, v, out) == OTA_OK
               ? 1 : cfg_bad(x, "%s: path too long%s", k, "");
}

static int cfg_ota_fleet(struct cfg_ota *c, const char *k, const char *v, struct cfg_ctx *x)
{
    if (!strcmp(k, "allowlist"))
        return cfg_path(x->dir, v, c->allowlist) == OTA_OK
                   ? 1 : cfg_bad(x, "allowlist: path too long%s%s", "", "");
    if (!strcmp(k, "rollout_percent"))
        return cfg_percent_bp(v, &c->rollout_bp) == 0
                   ? 1 : cfg_bad(x, "rollout_percent: '%s' not a percentage 0..100%s", v, "");
    if (!strcmp(k, "check_interval"))
        return cfg_int(v, 0, 86400, &c->check_interval) == 0
                   ? 1 : cfg_bad(x, "check_interval: '%s' not in 0..86400 seconds%s", v, "");
    if (!strcmp(k, "rollout_file"))
        return cfg_path_or_none(x, k, v, c->rollout_file);
    return cfg_bad(x, "unknown key '%s' in [%s]", k, "fleet");
}

/* [admin] listen is one address: a second listener would be another section. */
static int cfg_ota_admin_http(struct cfg_ota *c, const char *k, const char *v,
                              struct cfg_ctx *x)
{
    char host[CFG_ADDR_MAX], detail[OTA_MSG_LEN];
    uint16_t port;
    if (!strcmp(k, "listen")) {
        if (cfg_split_hostport(v, host, sizeof host, &port, CFG_ADMIN_PORT, detail) != OTA_OK)
            return cfg_bad(x, "listen: %s%s", detail, "");
        return ota_strlcpy(c->admin_listen, v, sizeof c->admin_listen) == OTA_OK
                   ? 1 : cfg_bad(x, "listen: address too long%s%s", "", "");
    }
    if (!strcmp(k, "token_file"))
        return cfg_path(x->dir, v, c->admin_token_file) == OTA_OK
                   ? 1 : cfg_bad(x, "token_file: path too long%s%s", "", "");
    if (!strcmp(k, "timeout"))
        return cfg_int(v, 1, 300, &c->admin_timeout) == 0
                   ? 1 : cfg_bad(x, "timeout: '%s' not in 1..300 seconds%s", v, "");
    if (!strcmp(k, "max_connections"))
        return cfg_int(v, 1, 1024, &c->admin_max_connections) == 0
                   ? 1 : cfg_bad(x, "max_connections: '%s' not in 1..1024%s", v, "");
    if (!strcmp(k, "audit_log"))
        return cfg_path_or_none(x, k, v, c->admin_audit_log);
    if (!strcmp(k, "console_dir"))
        return cfg_path_or_none(x, k, v, c->admin_console_dir);
    if (!strcmp(k, "javascript_dir"))
        return cfg_path_or_none(x, k, v, c->admin_javascript_dir);
    return cfg_bad(x, "unknown key '%s' in [%s]", k, "admin");
}

/* redirect_base: an absolute http(s) URL that a Location header can carry
 * as is (no space, quote, control character or non-ASCII byte). */
static int cfg_url_ok(const char *v)
{
    if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0)
        return 0;
    for (const char *p = v; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || *p == '"' || *p == '\\')
            return 0;
    return 1;
}

/* [http] the device API: one address, like [admin]. */
static int cfg_ota_http(struct cfg_ota *c, const char *k, const char *v, struct cfg_ctx *x)
{
    char host[CFG_ADDR_MAX], detail[OTA_MSG_LEN];
    uint16_t port;
    if (!strcmp(k, "listen")) {
        if (cfg_split_hostport(v, host, sizeof host, &port, CFG_HTTP_PORT, detail) != OTA_OK)
            return cfg_bad(x, "listen: %s%s", detail, "");
        return ota_strlcpy(c->http_listen, v, sizeof c->http_listen) == OTA_OK
                   ? 1 : cfg_bad(x, "listen: address too long%s%s", "", "");
    }
    if (!strcmp(k, "timeout"))
        return cfg_int(v, 1, 300, &c->http_timeout) == 0
                   ? 1 : cfg_bad(x, "timeout: '%s' not in 1..300 seconds%s", v, "");
    if (!strcmp(k, "max_connections"))
        return cfg_int(v, 1, 65536, &c->http_max_connections) == 0
                   ? 1 : cfg_bad(x, "max_connections: '%s' not in 1..65536%s", v, "");
    if (!strcmp(k, "threads"))
        return cfg_int(v, 1, 16, &c->http_threads) == 0
                   ? 1 : cfg_bad(x, "threads: '%s' not in 1..16%s", v, "");
    if (!strcmp(k, "redirect_base"))
        return cfg_url_ok(v) && ota_strlcpy(c->http_redirect_base, v,
                                            sizeof c->http_redirect_base) == OTA_OK
                   ? 1 : cfg_bad(x, "redirect_base: '%s' not an http(s):// URL of at most "
                                 "255 visible ASCII characters%s", v, "");
    return cfg_bad(x, "unknown key '%s' in [%s]", k, "http");
}

static int cfg_ota_project(struct cfg_ota *c, const char *k, const char *v, struct cfg_ctx *x)
{
    char detail[OTA_MSG_LEN];
    if (!strcmp(k, "name")) {
        if (ver_project_check(v, detail) != OTA_OK)
            return cfg_field_bad(x, "name", detail);
        x->seen |= CFG_REQ_NAME;
        return ota_strlcpy(c->project, v, sizeof c->project) == OTA_OK;
    }
    if (!strcmp(k, "product_key")) {
        if (cfg_check_product_key(v, detail) != OTA_OK)
            return cfg_field_bad(x, "product_key", detail);
        x->seen |= CFG_REQ_KEY;
        return ota_strlcpy(c->product_key, v, sizeof c->product_key) == OTA_OK;
    }
    if (!strcmp(k, "psk_secret"))
        return cfg_path(x->dir, v, c->psk_secret) == OTA_OK
                   ? 1 : cfg_bad(x, "psk_secret: path too long%s%s", "", "");
    if (!strcmp(k, "package_format")) {
        c->package_format = !strcmp(v, "vendor") ? CFG_FORMAT_VENDOR : CFG_FORMAT_OTA;
        return !strcmp(v, "ota") || !strcmp(v, "vendor")
                   ? 1 : cfg_bad(x, "package_format: '%.64s' is not ota or vendor%s", v, "");
    }
    return cfg_bad(x, "unknown key '%s' in [%s]", k, "project");
}

static int cfg_ota_release(struct cfg_ota *c, const char *k, const char *v, struct cfg_ctx *x)
{
    char detail[OTA_MSG_LEN];
    c->has_release = 1;
    if (!strcmp(k, "core")) {
        x->seen |= CFG_REQ_CORE;
        if (ver_core_parse(v, &c->core, detail) != OTA_OK)
            return cfg_field_bad(x, "core", detail);
        return 1;
    }
    if (!strcmp(k, "script_version")) {
        x->seen |= CFG_REQ_SCRIPT;
        if (ver_script_parse(v, &c->script, detail) != OTA_OK)
            return cfg_field_bad(x, "script_version", detail);
        return 1;
    }
    char *path = !strcmp(k, "core_image")     ? c->core_image
                 : !strcmp(k, "script_image") ? c->script_image
                 : !strcmp(k, "shipped_dir")  ? c->shipped_dir
                                              : NULL;
    if (path) {
        x->seen |= path == c->core_image ? CFG_REQ_CORE_IMAGE
                   : path == c->script_image ? CFG_REQ_SCRIPT_IMAGE : 0;
        return cfg_path(x->dir, v, path) == OTA_OK ? 1 : cfg_bad(x, "%s: path too long%s", k, "");
    }
    int *flag = !strcmp(k, "full_core_fallback") ? &c->full_core_fallback
                : !strcmp(k, "core_only")        ? &c->core_only
                : !strcmp(k, "script_only")      ? &c->script_only
                                                 : NULL;
    if (flag)
        return cfg_bool(v, flag) == 0 ? 1 : cfg_bad(x, "%s: expected yes or no, got '%s'", k, v);
    if (!strcmp(k, "window_bits"))
        return cfg_int(v, 9, 15, &c->window_bits) == 0
                   ? 1 : cfg_bad(x, "window_bits: '%s' not in 9..15%s", v, "");
    if (!strcmp(k, "jobs"))
        return cfg_int(v, 0, 64, &c->jobs) == 0 ? 1 : cfg_bad(x, "jobs: '%s' not in 0..64%s", v, "");
    return cfg_bad(x, "unknown key '%s' in [%s]", k, "release");
}

static int cfg_ota_cache(struct cfg_ota *c, const char *k, const char *v, struct cfg_ctx *x)
{
    char *path = !strcmp(k, "dir")           ? c->cache_dir
                 : !strcmp(k, "signing_key") ? c->signing_key
                 : !strcmp(k, "archive_dir") ? c->archive_dir
                 : !strcmp(k, "drop_dir")    ? c->drop_dir
                 : !strcmp(k, "spool_dir")   ? c->spool_dir
                                             : NULL;
    if (!strcmp(k, "drop_settle"))
        return cfg_int(v, 0, 3600, &c->drop_settle) == 0
                   ? 1 : cfg_bad(x, "drop_settle: '%s' not in 0..3600%s", v, "");
    if (!path)
        return cfg_bad(x, "unknown key '%s' in [%s]", k, "cache");
    path[0] = '\0'; /* drop_dir: no watched folder; archive_dir, spool_dir: on-demand builds off */
    if (!v[0] && path != c->cache_dir && path != c->signing_key)
        return 1;
    return cfg_path(x->dir, v, path) == OTA_OK ? 1 : cfg_bad(x, "%s: path too long%s", k, "");
}

static int cfg_block_size(const char *v, int *out)
{
    int n;
    if (cfg_int(v, CFG_BLOCK_MIN, CFG_BLOCK_MAX, &n) != 0 || (n & (n - 1)) != 0)
        return -1;
    *out = n;
    return 0;
}

/* [server] integer keys: name, field offset, range, default. */
static const struct cfg_srv_int {
    const char *key;
    size_t off;
    long lo, hi, def;
} cfg_srv_ints[] = {
    {"max_transfers", offsetof(struct cfg_ota, max_transfers), 0, 1000000, 10000},
    {"transfer_idle", offsetof(struct cfg_ota, transfer_idle), 1, 3600, 60},
    {"rate_limit", offsetof(struct cfg_ota, rate_limit), 0, 1000000, 1000},
    {"rate_burst", offsetof(struct cfg_ota, rate_burst), 1, 1000000, 1000},
    {"max_sources", offsetof(struct cfg_ota, max_sources), 64, 4194304, 65536},
    {"retry_after", offsetof(struct cfg_ota, retry_after), 1, 3600, 30},
    {"max_sessions", offsetof(struct cfg_ota, max_sessions), 0, 1000000, 64},
    {"session_timeout", offsetof(struct cfg_ota, session_timeout), 1, 86400, 60},
    {"log_rate", offsetof(struct cfg_ota, log_rate), 0, 1000000, 20},
    {"report_fsync", offsetof(struct cfg_ota, report_fsync), 0, 3600, 0},
    {"max_transfers_per_address", offsetof(struct cfg_ota, max_transfers_per_address), 0,
     1000000, 256},
    {"verified_reserve", offsetof(struct cfg_ota, verified_reserve), 0, 100, 10},
    {"report_max_bytes", offsetof(struct cfg_ota, report_max_bytes), 0, 2147483647, 1073741824},
    {"report_interval", offsetof(struct cfg_ota, report_interval), 0, 86400, 60},
    {"report_rate", offsetof(struct cfg_ota, report_rate), 0, 1000000, 600},
    {"short_grace", offsetof(struct cfg_ota, short_grace), 0, 86400, 300},
    {"short_grace_mib", offsetof(struct cfg_ota, short_grace_mib), 0, 65536, 64},
};
#define CFG_SRV_NINTS (sizeof cfg_srv_ints / sizeof cfg_srv_ints[0])

static void cfg_ota_server_defaults(struct cfg_ota *c)
{
    for (size_t i = 0; i < CFG_SRV_NINTS; i++)
        *(int *)(void *)((char *)c + cfg_srv_ints[i].off) = (int)cfg_srv_ints[i].def;
    c->dtls_max_handshakes = 1024;
    c->dtls_per_address = 8;
    ota_strlcpy(c->admin[0], "127.0.0.1", CFG_ADDR_MAX);
    ota_strlcpy(c->admin[1], "::1", CFG_ADDR_MAX);
    c->nadmin = 2;
}

/* admin, trusted_proxies = comma-separated IP addresses (no ports);
 * "none" = nobody. */
static int cfg_ota_addrs(char (*out)[CFG_ADDR_MAX], int *n, const char *k, const char *value,
                         struct cfg_ctx *x)
{
    char list[CFG_ADMIN_MAX * CFG_ADDR_MAX], *save = NULL;
    uint8_t bin[16];
    if (ota_strlcpy(list, value, sizeof list) != OTA_OK)
        return cfg_bad(x, "%s: value too long%s", k, "");
    *n = 0;
    if (!strcmp(value, "none"))
        return 1;
    for (char *t = strtok_r(list, ", \t", &save); t; t = strtok_r(NULL, ", \t", &save)) {
        if (*n == CFG_ADMIN_MAX)
            return cfg_bad(x, "%s: more than 8 addresses%s", k, "");
        if (inet_pton(AF_INET, t, bin) != 1 && inet_pton(AF_INET6, t, bin) != 1)
            return cfg_bad(x, "%s: '%s' is not an IP address", k, t);
        ota_strlcpy(out[(*n)++], t, CFG_ADDR_MAX);
    }
    return 1;
}

static int cfg_ota_server_int(struct cfg_ota *c, const char *k, const char *v, struct cfg_ctx *x)
{
    char detail[OTA_MSG_LEN];
    for (size_t i = 0; i < CFG_SRV_NINTS; i++) {
        const struct cfg_srv_int *d = &cfg_srv_ints[i];
        if (strcmp(k, d->key) != 0)
            continue;
        if (cfg_int(v, d->lo, d->hi, (int *)(void *)((char *)c + d->off)) == 0)
            return 1;
        snprintf(detail, sizeof detail, "%s: '%.64s' not in %ld..%ld", k, v, d->lo, d->hi);
        return cfg_bad(x, "%s%s", detail, "");
    }
    return -1;
}

static int cfg_ota_server(struct cfg_ota *c, const char *k, const char *v, struct cfg_ctx *x)
{
    int r = cfg_ota_server_int(c, k, v, x);
    if (r >= 0)
        return r;
    if (!strcmp(k, "admin"))
        return cfg_ota_addrs(c->admin, &c->nadmin, k, v, x);
    if (!strcmp(k, "trusted_proxies"))
        return cfg_ota_addrs(c->trusted_proxies, &c->ntrusted_proxies, k, v, x);
    if (!strcmp(k, "listen"))
        return cfg_ota_listen(c, v, x);
    if (!strcmp(k, "block_size"))
        return cfg_block_size(v, &c->block_size) == 0
                   ? 1 : cfg_bad(x, "block_size: '%s' is not a power of two in 16..1024%s", v, "");
    if (!strcmp(k, "log_level")) {
        c->log_level = log_level_parse(v);
        return c->log_level >= 0 ? 1 : cfg_bad(x, "log_level: '%s' is not error, warn, info or "
                                                  "debug%s", v, "");
    }
    char *path = !strcmp(k, "report_log") ? c->report_log : !strcmp(k, "public_key")
                                                                ? c->public_key : NULL;
    if (!path)
        return cfg_bad(x, "unknown key '%s' in [%s]", k, "server");
    if (path == c->public_key)
        x->seen |= CFG_REQ_PUBKEY;
    return cfg_path(x->dir, v, path) == OTA_OK ? 1 : cfg_bad(x, "%s: path too long%s", k, "");
}

/* [census]: file (empty = not saved) and three integers. */
static int cfg_ota_census(struct cfg_ota *c, const char *k, const char *v, struct cfg_ctx *x)
{
    static const struct {
        const char *key;
        size_t off;
        long lo, hi;
    } ints[] = {
        {"max_pairs", offsetof(struct cfg_ota, census_max_pairs), 16, 1000000},
        {"save_interval", offsetof(struct cfg_ota, census_save_interval), 1, 86400},
        {"keep_days", offsetof(struct cfg_ota, census_keep_days), 0, 36500},
    };
    if (!strcmp(k, "file")) {
        c->census_file[0] = '\0';
        return !v[0] || cfg_path(x->dir, v, c->census_file) == OTA_OK
                   ? 1 : cfg_bad(x, "%s: path too long%s", k, "");
    }
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        if (strcmp(k, ints[i].key) != 0)
            continue;
        if (cfg_int(v, ints[i].lo, ints[i].hi, (int *)(void *)((char *)c + ints[i].off)) == 0)
            return 1;
        char detail[OTA_MSG_LEN];
        snprintf(detail, sizeof detail, "%s: '%.64s' not in %ld..%ld", k, v, ints[i].lo,
                 ints[i].hi);
        return cfg_bad(x, "%s%s", detail, "");
    }
    return cfg_bad(x, "unknown key '%s' in [%s]", k, "census");
}

/* The sections a project file may have too; -1 for any other section. */
static int cfg_project_section(struct cfg_ota *c, const char *section, const char *k,
                               const char *v, struct cfg_ctx *x)
{
    if (!strcmp(section, "project"))
        return cfg_ota_project(c, k, v, x);
    if (!strcmp(section, "release"))
        return cfg_ota_release(c, k, v, x);
    if (!strcmp(section, "fleet"))
        return cfg_ota_fleet(c, k, v, x);
    return -1;
}

static int cfg_ota_handler(void *user, const char *section, const char *k, const char *v)
{
    struct cfg_ctx *x = user;
    struct cfg_ota *c = x->out;
    int r = cfg_project_section(c, section, k, v, x);
    if (r >= 0)
        return r;
    if (!strcmp(section, "cache"))
        return cfg_ota_cache(c, k, v, x);
    if (!strcmp(section, "server"))
        return cfg_ota_server(c, k, v, x);
    if (!strcmp(section, "dtls"))
        return cfg_ota_dtls(c, k, v, x);
    if (!strcmp(section, "admin"))
        return cfg_ota_admin_http(c, k, v, x);
    if (!strcmp(section, "census"))
        return cfg_ota_census(c, k, v, x);
    if (!strcmp(section, "projects"))
        return strcmp(k, "dir") ? cfg_bad(x, "unknown key '%s' in [%s]", k, "projects")
               : cfg_path(x->dir, v, c->projects_dir) == OTA_OK
                   ? 1 : cfg_bad(x, "dir: path too long%s%s", "", "");
    if (!strcmp(section, "http"))
        return cfg_ota_http(c, k, v, x);
    return cfg_bad_section(x, section, k, "[project]");
}

/* Run inih and turn its result into "file:line: message". */
static enum ota_err cfg_parse(FILE *fp, const char *path, ini_handler h, struct cfg_ctx *x,
                              char *msg)
{
    return kv_result(ini_parse_file(fp, h, x), path, x->err, msg);
}

static void cfg_dir_of(const char *path, char *dir)
{
    char copy[CFG_PATH_MAX];
    if (ota_strlcpy(copy, path, sizeof copy) != OTA_OK)
        copy[0] = '\0';
    ota_strlcpy(dir, dirname(copy), CFG_PATH_MAX);
}

static enum ota_err cfg_missing(const char *path, unsigned seen, unsigned need,
                                const char *const names[], char *msg)
{
    for (int i = 0; names[i]; i++)
        if ((need & (1u << i)) && !(seen & (1u << i)))
            return ota_fail(msg, OTA_E_INVAL, "%s: missing required key %s", path, names[i]);
    return OTA_OK;
}

/* Open path and hand the stream to load(). */
static enum ota_err cfg_open(const char *path, FILE **fp, char *msg)
{
    *fp = fopen(path, "r");
    if (!*fp)
        return ota_fail(msg, errno == ENOENT ? OTA_E_NOTFOUND : OTA_E_IO, "%s: %s", path,
                        strerror(errno));
    return OTA_OK;
}

static enum ota_err cfg_projects_load(struct cfg_ota *c, char *msg);

enum ota_err cfg_ota_load(const char *path, struct cfg_ota *c, char *msg)
{
    FILE *fp;
    enum ota_err e = cfg_open(path, &fp, msg);
    if (e != OTA_OK)
        return e;
    e = cfg_ota_load_stream(fp, path, c, msg);
    fclose(fp);
    if (e == OTA_OK && c->projects_dir[0])
        e = cfg_projects_load(c, msg);
    return e;
}

enum ota_err cfg_device_load(const char *path, struct cfg_device *d, char *msg)
{
    FILE *fp;
    enum ota_err e = cfg_open(path, &fp, msg);
    if (e != OTA_OK)
        return e;
    e = cfg_device_load_stream(fp, path, d, msg);
    fclose(fp);
    return e;
}

static const char *const cfg_ota_req_names[] = {
    "[project] name", "[project] product_key", "[release] core", "[release] core_image",
    "[release] script_version", "[release] script_image", "[server] public_key", NULL};

static unsigned cfg_release_need(const struct cfg_ota *c)
{
    return c->has_release
               ? CFG_REQ_CORE | CFG_REQ_CORE_IMAGE | CFG_REQ_SCRIPT | CFG_REQ_SCRIPT_IMAGE : 0;
}

enum ota_err cfg_ota_load_stream(FILE *fp, const char *path, struct cfg_ota *c, char *msg)
{
    const char *const *names = cfg_ota_req_names;
    struct cfg_ctx x = {.out = c};
    memset(c, 0, sizeof *c);
    cfg_dir_of(path, c->dir);
    x.dir = c->dir;
    c->core_only = c->script_only = 1;
    c->window_bits = 15;
    c->block_size = 1024;
    c->log_level = 2; /* info */
    c->rollout_bp = 10001;    /* no rollout set */
    c->admin_timeout = 10;
    c->admin_max_connections = 16;
    c->http_timeout = 30;
    c->http_max_connections = 1024;
    c->http_threads = 2;
    cfg_ota_server_defaults(c);
    ota_strlcpy(c->listen[0], "127.0.0.1:5683", CFG_ADDR_MAX);
    c->nlisten = 1;
    cfg_path(c->dir, "cache", c->cache_dir);
    cfg_path(c->dir, "archive", c->archive_dir);
    cfg_path(c->dir, "spool", c->spool_dir);
    c->drop_settle = 5;
    cfg_path(c->dir, "reports.jsonl", c->report_log);
    cfg_path(c->dir, "census.txt", c->census_file);
    cfg_path(c->dir, "rollout.state", c->rollout_file);
    cfg_path(c->dir, "audit.log", c->admin_audit_log);
    cfg_path(c->dir, "/usr/share/ota/console", c->admin_console_dir);
    cfg_path(c->dir, "/usr/share/javascript", c->admin_javascript_dir);
    c->census_max_pairs = 4096;
    c->census_save_interval = 60;
    c->census_keep_days = 30;
    ota_strlcpy(c->source, path, sizeof c->source);
    enum ota_err e = cfg_parse(fp, path, cfg_ota_handler, &x, msg);
    if (e != OTA_OK)
        return e;
    /* With a [projects] dir, ota.ini may hold no project of its own. */
    unsigned need = c->projects_dir[0] && !(x.seen & (CFG_REQ_NAME | CFG_REQ_KEY))
                        ? 0 : CFG_REQ_NAME | CFG_REQ_KEY;
    need |= cfg_release_need(c);
    if ((e = cfg_missing(path, x.seen, need, names, msg)) != OTA_OK)
        return e;
    if (!(x.seen & CFG_REQ_PUBKEY) && c->signing_key[0] &&
        snprintf(c->public_key, CFG_PATH_MAX, "%s.pub", c->signing_key) >= CFG_PATH_MAX)
        return ota_fail(msg, OTA_E_LIMIT, "%s: signing_key path too long", path);
    return OTA_OK;
}

/* ---- [projects] dir: one ini per project ------------------------------------ */

static int cfg_project_handler(void *user, const char *section, const char *k, const char *v)
{
    struct cfg_ctx *x = user;
    int r = cfg_project_section(x->out, section, k, v, x);
    if (r >= 0)
        return r;
    if (!section[0])
        return cfg_bad_section(x, section, k, "[project]");
    return cfg_bad(x, "[%s] (key '%s') belongs in ota.ini: a project file has only [project], "
                   "[release] and [fleet]", section, k);
}

/* base's server settings with the project's own fields at their defaults. */
#define CFG_UNSET "\001"

/* A project file without [fleet] rollout_file gets rollout-<PROJECT>.state
 * next to ota.ini's rollout file (the service's state folder); none if
 * ota.ini's project has none. */
static void cfg_project_rollout_file(struct cfg_ota *out, const struct cfg_ota *base)
{
    if (strcmp(out->rollout_file, CFG_UNSET) != 0)
        return;
    const char *slash = strrchr(base->rollout_file, '/');
    int n = slash ? (int)(slash - base->rollout_file) : 0;
    if (!base->rollout_file[0] ||
        snprintf(out->rollout_file, sizeof out->rollout_file, "%.*s/rollout-%s.state", n,
                 base->rollout_file, out->project) >= (int)sizeof out->rollout_file)
        out->rollout_file[0] = '\0';
}

static void cfg_project_reset(struct cfg_ota *out, const struct cfg_ota *base)
{
    *out = *base;
    out->project[0] = out->product_key[0] = out->psk_secret[0] = '\0';
    out->package_format = CFG_FORMAT_OTA;
    memset(&out->core, 0, sizeof out->core);
    memset(&out->script, 0, sizeof out->script);
    out->core_image[0] = out->script_image[0] = out->shipped_dir[0] = '\0';
    out->full_core_fallback = out->jobs = out->has_release = 0;
    out->core_only = out->script_only = 1;
    out->window_bits = 15;
    out->allowlist[0] = '\0';
    out->rollout_bp = 10001;
    out->check_interval = 0;
    memcpy(out->rollout_file, CFG_UNSET, sizeof CFG_UNSET); /* default after parsing */
    out->projects_dir[0] = '\0';
    out->projects = NULL;
    out->nprojects = 0;
}

enum ota_err cfg_project_load_stream(FILE *fp, const char *name, const struct cfg_ota *base,
                                     struct cfg_ota *out, char *msg)
{
    struct cfg_ctx x = {.out = out};
    cfg_project_reset(out, base);
    cfg_dir_of(name, out->dir);
    x.dir = out->dir;
    ota_strlcpy(out->source, name, sizeof out->source);
    enum ota_err e = cfg_parse(fp, name, cfg_project_handler, &x, msg);
    if (e != OTA_OK)
        return e;
    cfg_project_rollout_file(out, base);
    return cfg_missing(name, x.seen, CFG_REQ_NAME | CFG_REQ_KEY | cfg_release_need(out),
                       cfg_ota_req_names, msg);
}

static int cfg_project_cmp(const void *a, const void *b)
{
    return strcmp(((const struct cfg_ota *)a)->project, ((const struct cfg_ota *)b)->project);
}

static int cfg_str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cfg_project_file(const char *n)
{
    size_t l = strlen(n);
    return n[0] != '.' && l > 4 && !strcmp(n + l - 4, ".ini") && !strstr(n, ".tmp.");
}

/* Sorted names of the *.ini files in dir (hidden and temporary ones skipped). */
static enum ota_err cfg_project_names(const char *dir, char ***out, size_t *n, char *msg)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char **names = calloc(CFG_PROJECTS_MAX, sizeof *names);
    enum ota_err e = OTA_OK;
    *n = 0;
    if (!d || !names) {
        free(names);
        if (d)
            closedir(d);
        return d ? ota_fail(msg, OTA_E_NOMEM, "[projects] dir: out of memory")
                 : ota_fail(msg, errno == ENOENT ? OTA_E_NOTFOUND : OTA_E_IO,
                            "[projects] dir %s: %s", dir, strerror(errno));
    }
    while (e == OTA_OK && (de = readdir(d)) != NULL) {
        if (!cfg_project_file(de->d_name))
            continue;
        if (*n == CFG_PROJECTS_MAX)
            e = ota_fail(msg, OTA_E_LIMIT, "[projects] dir %s: more than %d projects", dir,
                         CFG_PROJECTS_MAX);
        else if (!(names[*n] = strdup(de->d_name)))
            e = ota_fail(msg, OTA_E_NOMEM, "[projects] dir: out of memory");
        else
            ++*n;
    }
    closedir(d);
    qsort(names, *n, sizeof *names, cfg_str_cmp);
    *out = names;
    return e;
}

static void cfg_names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static enum ota_err cfg_project_file_load(const char *dir, const char *name,
                                          const struct cfg_ota *base, struct cfg_ota *out,
                                          char *msg)
{
    char path[CFG_PATH_MAX];
    FILE *fp;
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path)
        return ota_fail(msg, OTA_E_LIMIT, "%s/%s: path too long", dir, name);
    enum ota_err e = cfg_open(path, &fp, msg);
    if (e != OTA_OK)
        return e;
    e = cfg_project_load_stream(fp, path, base, out, msg);
    fclose(fp);
    return e;
}

/* Names are sorted: a duplicate is a neighbour. Product keys: each
 * project has its own (a copied key would let one product's devices pass
 * another's key check), compared pairwise once at load. */
static enum ota_err cfg_projects_check(const struct cfg_ota *p, size_t n, char *msg)
{
    for (size_t i = 0; i + 1 < n; i++)
        if (!strcmp(p[i].project, p[i + 1].project))
            return ota_fail(msg, OTA_E_INVAL, "project %s is defined twice: %s and %s",
                            p[i].project, p[i].source, p[i + 1].source);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (!strcmp(p[i].product_key, p[j].product_key))
                return ota_fail(msg, OTA_E_INVAL, "%s: project %s has the product_key of "
                                "project %s (%s); each project needs its own", p[j].source,
                                p[j].project, p[i].project, p[i].source);
    return OTA_OK;
}

static enum ota_err cfg_projects_load(struct cfg_ota *c, char *msg)
{
    char **names = NULL;
    size_t nnames = 0, n = 0;
    int own = c->project[0] != '\0';
    enum ota_err e = cfg_project_names(c->projects_dir, &names, &nnames, msg);
    struct cfg_ota *all = e == OTA_OK ? calloc(nnames + (size_t)own + 1, sizeof *all) : NULL;
    if (e == OTA_OK && !all)
        e = ota_fail(msg, OTA_E_NOMEM, "[projects] dir: out of memory");
    if (all && own) {
        all[n] = *c;
        all[n++].projects_dir[0] = '\0';
    }
    for (size_t i = 0; e == OTA_OK && i < nnames; i++)
        if ((e = cfg_project_file_load(c->projects_dir, names[i], c, &all[n], msg)) == OTA_OK)
            n++;
    cfg_names_free(names, nnames);
    if (e == OTA_OK && n == 0)
        e = ota_fail(msg, OTA_E_INVAL, "%s: no [project] and no *.ini in [projects] dir %s",
                     c->source, c->projects_dir);
    if (e == OTA_OK) {
        qsort(all, n, sizeof *all, cfg_project_cmp);
        e = cfg_projects_check(all, n, msg);
    }
    if (e != OTA_OK) {
        free(all);
        return e;
    }
    if (!own) { /* ota.ini's own fields become the first project's */
        char dir[CFG_PATH_MAX];
        memcpy(dir, c->projects_dir, sizeof dir);
        *c = all[0];
        memcpy(c->projects_dir, dir, sizeof dir);
    }
    c->projects = all;
    c->nprojects = n;
    return OTA_OK;
}

size_t cfg_project_count(const struct cfg_ota *c)
{
    return c->projects ? c->nprojects : 1;
}

const struct cfg_ota *cfg_project_at(const struct cfg_ota *c, size_t i)
{
    return c->projects ? &c->projects[i] : c;
}

static int cfg_project_key_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const struct cfg_ota *)elem)->project);
}

const struct cfg_ota *cfg_project_find(const struct cfg_ota *c, const char *name)
{
    if (!c->projects)
        return strcmp(c->project, name) == 0 ? c : NULL;
    return bsearch(name, c->projects, c->nprojects, sizeof *c->projects, cfg_project_key_cmp);
}

size_t cfg_psk_project_count(const struct cfg_ota *c)
{
    size_t n = 0;
    for (size_t i = 0; i < cfg_project_count(c); i++)
        n += cfg_project_at(c, i)->psk_secret[0] != '\0';
    return n;
}

/* "A, B, C" (cut to fit). */
static void cfg_project_names_list(const struct cfg_ota *c, char *out, size_t n)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < cfg_project_count(c) && used < n; i++) {
        int k = snprintf(out + used, n - used, "%s%s", i ? ", " : "",
                         cfg_project_at(c, i)->project);
        used += k > 0 ? (size_t)k : 0;
    }
}

enum ota_err cfg_ota_pick(struct cfg_ota *c, const char *name, char *msg)
{
    char list[OTA_MSG_LEN / 2];
    const struct cfg_ota *p = name ? cfg_project_find(c, name)
                              : cfg_project_count(c) == 1 ? cfg_project_at(c, 0) : NULL;
    if (!p) {
        cfg_project_names_list(c, list, sizeof list);
        if (name)
            return ota_fail(msg, OTA_E_INVAL, "project %s is not configured (projects: %s)",
                            name, list);
        return ota_fail(msg, OTA_E_INVAL, "%zu projects configured (%s): choose one with -p "
                        "PROJECT", cfg_project_count(c), list);
    }
    struct cfg_ota *all = c->projects;
    if (p != c)
        *c = *p;
    free(all);
    c->projects = NULL;
    c->nprojects = 0;
    return OTA_OK;
}

enum ota_err cfg_ota_own(struct cfg_ota *c, char *msg)
{
    if (!c->projects)
        return OTA_OK;
    struct cfg_ota *copy = malloc(c->nprojects * sizeof *copy);
    if (!copy) {
        c->projects = NULL;
        c->nprojects = 0;
        return ota_fail(msg, OTA_E_NOMEM, "configuration: out of memory");
    }
    memcpy(copy, c->projects, c->nprojects * sizeof *copy);
    c->projects = copy;
    return OTA_OK;
}

void cfg_ota_free(struct cfg_ota *c)
{
    free(c->projects);
    c->projects = NULL;
    c->nprojects = 0;
}

/* ---- device.ini --------------------------------------------------------- */

enum {
    CFG_DREQ_PROJECT = 1 << 0,
    CFG_DREQ_KEY = 1 << 1,
    CFG_DREQ_IMEI = 1 << 2,
    CFG_DREQ_CORE = 1 << 3,
    CFG_DREQ_SCRIPT = 1 << 4,
    CFG_DREQ_SERVER = 1 << 5,
    CFG_DREQ_PUBKEY = 1 << 6,
};

static int cfg_device_pubkeys(struct cfg_device *d, const char *v, struct cfg_ctx *x)
{
    char list[CFG_PUBKEYS_MAX * (2 * CRYPTO_PUB_LEN + 2)], *save = NULL;
    if (ota_strlcpy(list, v, sizeof list) != OTA_OK)
        return cfg_bad(x, "public_key: at most %s keys%s", "4", "");
    d->npubkeys = 0;
    for (char *t = strtok_r(list, ", \t", &save); t; t = strtok_r(NULL, ", \t", &save)) {
        if (d->npubkeys == CFG_PUBKEYS_MAX)
            return cfg_bad(x, "public_key: at most %s keys%s", "4", "");
        if (ota_unhex(t, d->pubkeys[d->npubkeys], CRYPTO_PUB_LEN) != OTA_OK)
            return cfg_bad(x, "public_key: '%s' is not %s hex digits", t, "64");
        d->npubkeys++;
    }
    return d->npubkeys ? 1 : cfg_bad(x, "public_key: empty%s%s", "", "");
}

static int cfg_device_server(struct cfg_device *d, const char *v, struct cfg_ctx *x)
{
    if (strncmp(v, "coap://", 7) != 0 && strncmp(v, "coaps://", 8) != 0)
        return cfg_bad(x, "server: '%s' is not a coap:// or coaps:// URL%s", v, "");
    return ota_strlcpy(d->server, v, sizeof d->server) == OTA_OK
               ? 1 : cfg_bad(x, "server: URL too long%s%s", "", "");
}

static int cfg_device_ident(struct cfg_device *d, const char *k, const char *v,
                            struct cfg_ctx *x)
{
    char detail[OTA_MSG_LEN];
    enum ota_err e;
    if (!strcmp(k, "project")) {
        x->seen |= CFG_DREQ_PROJECT;
        e = ver_project_check(v, detail);
        if (e == OTA_OK)
            ota_strlcpy(d->project, v, sizeof d->project);
    } else if (!strcmp(k, "product_key") || !strcmp(k, "device_key")) {
        x->seen |= !strcmp(k, "product_key") ? CFG_DREQ_KEY : 0;
        e = cfg_check_product_key(v, detail);
        if (e == OTA_OK)
            ota_strlcpy(k[0] == 'p' ? d->product_key : d->device_key, v, CFG_KEY_MAX);
    } else if (!strcmp(k, "imei")) {
        x->seen |= CFG_DREQ_IMEI;
        e = cfg_check_imei(v, detail);
        if (e == OTA_OK)
            ota_strlcpy(d->imei, v, sizeof d->imei);
    } else if (!strcmp(k, "core")) {
        x->seen |= CFG_DREQ_CORE;
        e = ver_core_parse(v, &d->core, detail);
    } else {
        x->seen |= CFG_DREQ_SCRIPT;
        e = ver_script_parse(v, &d->script, detail);
    }
    return e == OTA_OK ? 1 : cfg_field_bad(x, k, detail);
}

static int cfg_device_handler(void *user, const char *section, const char *k, const char *v)
{
    struct cfg_ctx *x = user;
    struct cfg_device *d = x->out;
    if (strcmp(section, "device") != 0)
        return cfg_bad_section(x, section, k, "[device]");
    if (!strcmp(k, "project") || !strcmp(k, "product_key") || !strcmp(k, "device_key") ||
        !strcmp(k, "imei") || !strcmp(k, "core") || !strcmp(k, "script_version"))
        return cfg_device_ident(d, k, v, x);
    if (!strcmp(k, "server")) {
        x->seen |= CFG_DREQ_SERVER;
        return cfg_device_server(d, v, x);
    }
    if (!strcmp(k, "public_key")) {
        x->seen |= CFG_DREQ_PUBKEY;
        return cfg_device_pubkeys(d, v, x);
    }
    if (!strcmp(k, "block_size"))
        return cfg_block_size(v, &d->block_size) == 0
                   ? 1 : cfg_bad(x, "block_size: '%s' is not a power of two in 16..1024%s", v, "");
    if (!strcmp(k, "psk")) {
        d->has_psk = ota_unhex(v, d->psk, sizeof d->psk) == OTA_OK;
        return d->has_psk ? 1 : cfg_bad(x, "psk: expected %s hex digits%s", "64", "");
    }
    if (!strcmp(k, "psk_identity")) {
        d->psk_identity_project = !strcmp(v, "project");
        return !strcmp(v, "imei") || !strcmp(v, "project")
                   ? 1 : cfg_bad(x, "psk_identity: '%.64s' is not imei or project%s", v, "");
    }
    if (!strcmp(k, "window"))
        return cfg_int(v, 1, 64, &d->window) == 0 ? 1 : cfg_bad(x, "window: '%s' not in 1..64%s",
                                                                v, "");
    return cfg_bad(x, "unknown key '%s' in [%s]", k, "device");
}

enum ota_err cfg_device_load_stream(FILE *fp, const char *path, struct cfg_device *d,
                                    char *msg)
{
    static const char *const names[] = {"project", "product_key", "imei", "core",
                                        "script_version", "server", "public_key", NULL};
    struct cfg_ctx x = {.out = d};
    char dir[CFG_PATH_MAX];
    memset(d, 0, sizeof *d);
    cfg_dir_of(path, dir);
    x.dir = dir;
    d->block_size = 1024;
    d->window = 0; /* unset: the client's default adaptive window (client/dev.h) */
    enum ota_err e = cfg_parse(fp, path, cfg_device_handler, &x, msg);
    if (e != OTA_OK)
        return e;
    return cfg_missing(path, x.seen, 0x7f, names, msg);
}

/* Is line "<spaces>key<spaces>=" ? */
static int cfg_line_is_key(const char *line, const char *key)
{
    while (*line == ' ' || *line == '\t')
        line++;
    size_t n = strlen(key);
    if (strncmp(line, key, n) != 0)
        return 0;
    line += n;
    while (*line == ' ' || *line == '\t')
        line++;
    return *line == '=';
}

enum ota_err cfg_device_save_versions(const char *path, const struct ver_core *core,
                                      const struct ver_script *script, char *msg)
{
    uint8_t *old;
    size_t len, used = 0;
    enum ota_err e = io_file_read_all(path, 64 * 1024, &old, &len, msg);
    if (e != OTA_OK)
        return e;
    char corestr[VER_CORE_STR_MAX], scriptstr[VER_SCRIPT_STR_MAX];
    ver_core_format(core, corestr);
    ver_script_format(script, scriptstr);
    size_t cap = len + 2 * 128;
    char *out = malloc(cap);
    if (!out) {
        free(old);
        return ota_fail(msg, OTA_E_NOMEM, "%s: out of memory", path);
    }
    int found = 0;
    for (char *line = (char *)old, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        const char *val = NULL, *key = NULL;
        if (cfg_line_is_key(line, "core"))
            key = "core", val = corestr, found |= 1;
        else if (cfg_line_is_key(line, "script_version"))
            key = "script_version", val = scriptstr, found |= 2;
        int n = val ? snprintf(out + used, cap - used, "%s = %s\n", key, val)
                    : snprintf(out + used, cap - used, "%s\n", line);
        if (n < 0 || (size_t)n >= cap - used) {
            e = ota_fail(msg, OTA_E_LIMIT, "%s: rewritten file too long", path);
            break;
        }
        used += (size_t)n;
    }
    if (e == OTA_OK && found != 3)
        e = ota_fail(msg, OTA_E_INVAL, "%s: no core or script_version line to update", path);
    if (e == OTA_OK)
        e = io_file_write_all(path, out, used, 0644, msg);
    free(out);
    free(old);
    return e;
}
