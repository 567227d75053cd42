/* main.c - ota-server: command line, config, logger, then srv_run.
 *
 * Thin by design (STYLE.md rule 10): everything worth testing is in the
 * server library (the other files of server/). Signals only set flags that srv_run polls.
 * Exit codes (shared with ota-cache): 0 stopped by SIGTERM/SIGINT,
 * 1 runtime failure (cannot listen, address in use, I/O failure while
 * running), 2 usage error (bad command line), 3 configuration error
 * (ota.ini invalid, or a file it names missing, unreadable or with
 * insecure permissions; every such problem is logged before exiting).
 */
#include "server.h"

#include "log.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#define SRV_EXIT_OK 0
#define SRV_EXIT_RUNTIME 1
#define SRV_EXIT_USAGE 2
#define SRV_EXIT_CONFIG 3

static volatile sig_atomic_t srv_stop_flag, srv_hup_flag;

static void srv_on_signal(int sig)
{
    if (sig == SIGHUP)
        srv_hup_flag = 1;
    else
        srv_stop_flag = 1;
}

static const char srv_usage[] =
    "Usage: ota-server -c FILE [-l ADDR]... [-L LEVEL | -v]\n"
    "       ota-server -h\n"
    "\n"
    "Serve firmware update packages to NB-IoT devices over CoAP (RFC 7252) with\n"
    "Block2 (RFC 7959). Runs in the foreground and logs to stderr.\n"
    "\n"
    "Options:\n"
    "  -c, --config FILE     ota.ini to read (required; ota.ini(5), README.md).\n"
    "                        Sections and keys used:\n"
    "                        [project] name, product_key, psk_secret;\n"
    "                        [cache] dir;\n"
    "                        [server] listen, block_size, report_log,\n"
    "                        report_fsync, report_max_bytes, report_interval,\n"
    "                        report_rate, public_key, log_level, log_rate, admin,\n"
    "                        max_transfers, max_transfers_per_address,\n"
    "                        trusted_proxies, verified_reserve, transfer_idle,\n"
    "                        retry_after, rate_limit, rate_burst, max_sources,\n"
    "                        max_sessions, session_timeout;\n"
    "                        [dtls] listen, only, max_handshakes,\n"
    "                        handshakes_per_address (coaps://, needs psk_secret);\n"
    "                        [fleet] allowlist, rollout_percent, check_interval;\n"
    "                        [admin] listen, token_file, timeout,\n"
    "                        max_connections (HTTP metrics and health).\n"
    "                        [http] listen, timeout, max_connections, threads,\n"
    "                        redirect_base (device HTTP API, off without listen).\n"
    "                        [release] and [cache] signing_key are ota-cache's.\n"
    "  -l, --listen ADDR     listen on ADDR instead of the config's listen= list;\n"
    "                        repeatable (up to 4). ADDR is host:port, [v6]:port or\n"
    "                        host (port 5683).\n"
    "  -L, --log-level LEVEL error, warn, info or debug (overrides log_level=).\n"
    "  -v, --verbose         same as --log-level debug.\n"
    "  -h, --help            print this help and exit.\n"
    "\n"
    "Resources:\n"
    "  GET  /fota?project_key=KEY&imei=IMEI&firmware_name=PROJECT_name_chip\n"
    "            &core_version=N&dfota=1&version=x.y.z[&device_key=SN]\n"
    "       the package for the device, one Block2 block per request (2.05,\n"
    "       Content-Format 42, ETag = 8 bytes of the package SHA-256, Size2);\n"
    "       refusals carry {\"code\":N,\"msg\":\"...\"} (application/json).\n"
    "  POST /report   a device's result (imei=...&result=...); appended to\n"
    "       report_log as one JSON line (fsync per report_fsync). 2.04 on success;\n"
    "       4.03 if over coaps:// imei is not the DTLS identity; 4.29 over\n"
    "       report_rate (per address) or report_interval (per IMEI); 5.03 when\n"
    "       the log is at report_max_bytes or cannot be written.\n"
    "  GET  /stats    counters as JSON; only to the addresses in admin=.\n"
    "  GET  /.well-known/core   the resource list.\n"
    "  [http] listen=HOST:PORT: GET /api/site/firmware_upgrade?<the /fota query>\n"
    "       with Range: bytes=N- for the module platform's modules: 200/206 with\n"
    "       the package, or 400/403/404/416/429/503 with {\"code\":N,\"msg\":\"...\"}\n"
    "       (README, \"Device HTTP API\").\n"
    "  [admin] listen=HOST:PORT (token_file, timeout, max_connections): HTTP\n"
    "       GET /metrics (Prometheus), /healthz, /stats; off when unset.\n"
    "\n"
    "Overload: beyond max_transfers concurrent downloads (a new download is\n"
    "refused, running ones go on), max_transfers_per_address from one address\n"
    "(IPv6: one /64; trusted_proxies exempt), the last verified_reserve % of\n"
    "max_transfers for coaps:// devices only, or rate_limit requests/s from one\n"
    "source address and port, the answer is 5.03 with Max-Age and platform\n"
    "code 43. A second server on an address in use exits 1.\n"
    "Answers to plain coap:// requests are at most 3x the request's size\n"
    "(block answers to a full valid query excepted); 5.03 above rate_limit\n"
    "carries no payload.\n"
    "Log: one info line per download start and end, refusal, report and failed\n"
    "DTLS handshake (blocks at debug); at most log_rate lines a second per kind,\n"
    "the excess counted in one \"log suppressed\" line a second.\n"
    "\n"
    "The cache directory is watched: *.pkg files added, replaced (by rename\n"
    "or rewritten in place) or removed are picked up without restart; every\n"
    "package's signature is checked with public_key before it is served, and\n"
    "a replaced package gets a new ETag.\n"
    "\n"
    "Signals: SIGTERM, SIGINT stop cleanly; SIGHUP rereads the config file\n"
    "(all keys but listen; a file with an error is refused and the running\n"
    "config kept), rescans the cache directory and reopens the report log.\n"
    "\n"
    "Under systemd (ota-server.service, Type=notify): READY=1 once the cache is\n"
    "indexed and the sockets are bound, RELOADING=1/READY=1 around SIGHUP,\n"
    "STATUS=, WATCHDOG=1 from the main loop, STOPPING=1; with stderr on the\n"
    "journal (JOURNAL_STREAM) log lines carry <N> priority prefixes.\n"
    "\n"
    "Before listening, every file the config names is checked (cache dir,\n"
    "public_key, report_log writable, allowlist, psk_secret and its mode); all\n"
    "problems are logged, one line each, then the server exits 3.\n"
    "\n"
    "Exit status: 0 stopped by a signal; 1 runtime failure (cannot listen,\n"
    "address in use, I/O failure while running); 2 usage error (bad command\n"
    "line); 3 configuration error (ota.ini invalid, or a file it names\n"
    "missing, unreadable or with insecure permissions).\n";

struct srv_args {
    const char *config;
    const char *listen[CFG_LISTEN_MAX];
    int nlisten;
    int log_level; /* -1 = from the config */
};

static int srv_journal; /* stderr is the journal: "<3>" marks the error line */

static int srv_fail(int code, const char *what, const char *detail)
{
    fprintf(stderr, "%sota-server: error: %s%s%s\n", srv_journal ? "<3>" : "", what,
            detail ? ": " : "", detail ? detail : "");
    if (code == SRV_EXIT_USAGE && !detail)
        fprintf(stderr, "Try 'ota-server --help'.\n");
    return code;
}

/* Returns -1 to go on, else an exit code. */
static int srv_parse_args(int argc, char **argv, struct srv_args *a)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'}, {"listen", required_argument, NULL, 'l'},
        {"log-level", required_argument, NULL, 'L'}, {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c;
    a->log_level = -1;
    while ((c = getopt_long(argc, argv, "c:l:L:vh", longopts, NULL)) != -1) {
        if (c == 'c') {
            a->config = optarg;
        } else if (c == 'l') {
            if (a->nlisten == CFG_LISTEN_MAX)
                return srv_fail(SRV_EXIT_USAGE, "at most 4 -l options", NULL);
            a->listen[a->nlisten++] = optarg;
        } else if (c == 'L') {
            if ((a->log_level = log_level_parse(optarg)) < 0)
                return srv_fail(SRV_EXIT_USAGE, "--log-level must be error, warn, info or debug",
                                NULL);
        } else if (c == 'v') {
            a->log_level = LOG_L_DEBUG;
        } else if (c == 'h') {
            fputs(srv_usage, stdout);
            return SRV_EXIT_OK;
        } else {
            return srv_fail(SRV_EXIT_USAGE, "bad option", NULL);
        }
    }
    if (optind != argc)
        return srv_fail(SRV_EXIT_USAGE, "unexpected argument", argv[optind]);
    if (!a->config)
        return srv_fail(SRV_EXIT_USAGE, "-c FILE is required", NULL);
    return -1;
}

static int srv_apply_args(const struct srv_args *a, struct cfg_ota *cfg)
{
    char msg[OTA_MSG_LEN], host[CFG_ADDR_MAX];
    uint16_t port;
    for (int i = 0; i < a->nlisten; i++) {
        if (cfg_split_hostport(a->listen[i], host, sizeof host, &port, 5683, msg) != OTA_OK ||
            ota_strlcpy(cfg->listen[i], a->listen[i], CFG_ADDR_MAX) != OTA_OK)
            return srv_fail(SRV_EXIT_USAGE, "-l", a->listen[i]);
    }
    if (a->nlisten)
        cfg->nlisten = a->nlisten;
    log_set_level((enum log_level)(a->log_level >= 0 ? a->log_level : cfg->log_level));
    return -1;
}

static void srv_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = srv_on_signal; /* no SA_RESTART: the poll must wake up */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int main(int argc, char **argv)
{
    static struct cfg_ota cfg;
    struct srv_args args;
    char msg[OTA_MSG_LEN] = "";
    memset(&args, 0, sizeof args);
    srv_journal = log_detect_journal();
    int rc = srv_parse_args(argc, argv, &args);
    if (rc >= 0)
        return rc;
    enum ota_err e = cfg_ota_load(args.config, &cfg, msg);
    if (e != OTA_OK)
        return srv_fail(SRV_EXIT_CONFIG, ota_strerror(e), msg);
    if ((rc = srv_apply_args(&args, &cfg)) >= 0)
        return rc;
    if (srv_preflight(&cfg, msg) != OTA_OK)
        return srv_fail(SRV_EXIT_CONFIG, "configuration", msg);
    srv_signals();
    struct srv_ctl ctl = {&srv_stop_flag, &srv_hup_flag, args.config, args.log_level};
    e = srv_run(&cfg, &ctl, msg);
    if (e != OTA_OK)
        return srv_fail(SRV_EXIT_RUNTIME, ota_strerror(e), msg);
    return SRV_EXIT_OK;
}
