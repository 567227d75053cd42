/* main.c - ota-client: command line of the device simulator.
 *
 * Parses arguments, loads STATEDIR/device.ini, sets up the logger, calls
 * dev_check() or dev_update() (client/dev.c, the glue to the device library), draws progress on stderr,
 * prints one result line and exits with the code of dev_exit_code(). All
 * logic lives in the library so tests can reach it.
 */
#include "dev.h"
#include "log.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char dev_usage[] =
    "Usage: ota-client -d STATEDIR [-s URL] [-t SECONDS] [-w N] [-v] check|update|recover\n"
    "       ota-client --help\n"
    "\n"
    "Simulates one NB-IoT module that updates its firmware over CoAP: asks the\n"
    "update server for a package, downloads it block by block (RFC 7959 Block2),\n"
    "verifies its Ed25519 signature and hashes, installs the new core and/or\n"
    "script atomically, and reports the result to the server.\n"
    "\n"
    "Commands:\n"
    "  check      Ask whether an update exists (one block request; nothing is\n"
    "             stored) and name its target versions, read from the package\n"
    "             header in block 0 (block_size 256 or more). Exit 0 if one is\n"
    "             available, 2 if not.\n"
    "  update     Download, verify, install and report. An interrupted download\n"
    "             resumes where it stopped if the server still offers the same\n"
    "             package (same ETag); an interrupted install is finished or\n"
    "             rolled back on the next run of any command. A package\n"
    "             replaced on the server mid-download (new ETag, or 4.02 past\n"
    "             its new end) restarts the download; a smaller block size\n"
    "             from the server is adopted without losing stored blocks.\n"
    "             The package header is checked as soon as it arrives.\n"
    "  recover    What a boot does: finish or roll back an interrupted install\n"
    "             (no network). Afterwards core.bin and script.bin are exactly\n"
    "             the old or exactly the new images.\n"
    "\n"
    "Options:\n"
    "  -d, --state-dir STATEDIR  the device's simulated flash (required)\n"
    "  -s, --server URL          coap://host[:port] or coaps://host[:port] (DTLS-PSK,\n"
    "                            needs psk in device.ini), overrides device.ini's\n"
    "                            server; default ports 5683 and 5684\n"
    "  -t, --timeout SECONDS     give up on a block request after this long\n"
    "                            without an answer (default 93; retransmission\n"
    "                            timers follow the measured round-trip time).\n"
    "                            Before the first answer an ICMP error (port\n"
    "                            unreachable) or a refused DTLS handshake ends\n"
    "                            the run at once (exit 5); after it they count\n"
    "                            as loss, so a failing-over gateway is waited for\n"
    "  -w, --window N            at most N block requests in flight (1..64); the\n"
    "                            window adapts below that (grows while answers\n"
    "                            come back, shrinks on loss). 1 = strict RFC 7252\n"
    "                            NSTART=1 with its fixed 2 s timers. Default:\n"
    "                            device.ini's window, else 32\n"
    "  -m, --max-wait SECONDS    longest wait for one 5.03 to the first request\n"
    "                            (the server is making this core's package: code\n"
    "                            43, Max-Age 30; or overloaded): Max-Age is waited\n"
    "                            out up to this (default 300), then asked again,\n"
    "                            at most 20 times; then exit 5\n"
    "  --fota-only               every block request on /fota with the full query\n"
    "                            (the exchange of stock RFC 7959 clients); by\n"
    "                            default, after the first answer, blocks are asked\n"
    "                            at /p/<ETag hex>, up to 8 per request (Q-Block2)\n"
    "  -v, --verbose             more log output on stderr (repeat for debug)\n"
    "  -h, --help                this text\n"
    "\n"
    "Files in STATEDIR:\n"
    "  device.ini     identity and state: [device] project, product_key, imei,\n"
    "                 device_key (optional serial), core (e.g. Luat_V0017_RDA8910),\n"
    "                 script_version (x.y.z), server (coap://host:port or\n"
    "                 coaps://host:port), psk (64 hex digits: the DTLS-PSK key\n"
    "                 for coaps://; from `ota-cache psk`), psk_identity (imei,\n"
    "                 the default, or project: identity PROJECT/IMEI, needed when\n"
    "                 the gateway serves several projects over coaps://),\n"
    "                 public_key (hex, comma-separated for several), block_size\n"
    "                 (16..1024, default 1024), window (1..64, as -w). core\n"
    "                 and script_version are rewritten after an update.\n"
    "  core.bin       core slot: the running core image\n"
    "  script.bin     script slot: the running script image\n"
    "  download.part  package being downloaded (resumable)\n"
    "  download.pkg   complete downloaded package, deleted after install\n"
    "  staging        the new core and script back to back while they are\n"
    "                 applied; installed into core.bin/script.bin by temp +\n"
    "                 fsync + rename, deleted once the update is done\n"
    "  journal        update phase (idle, downloading, downloaded, applying,\n"
    "                 committing, committed), written atomically; it also\n"
    "                 keeps the result report until the server took it\n"
    "\n"
    "Output: one result line on stdout; errors as\n"
    "\"ota-client: error: <what>: <detail>\" on stderr; progress on stderr (a bar\n"
    "on a terminal, one line per phase otherwise). The result line of an\n"
    "update gives the block requests sent again (\"resent\").\n"
    "\n"
    "Test hook: OTA_CLIENT_KILL_AT=N (N >= 1) makes the process SIGKILL itself\n"
    "at its N-th durable step (a power cut). OTA_CLIENT_KILL_AT=count runs\n"
    "normally (a real update) and prints the number of durable steps on\n"
    "stderr. Any other value is a usage error (exit 1).\n"
    "\n"
    "Exit status:\n"
    "  0  success: update installed (update) or an update is available (check)\n"
    "  1  usage or local error: bad arguments, bad device.ini, I/O error\n"
    "  2  no update available (server: 4.04 with code 27)\n"
    "  3  rejected by the server (4.00, 4.03, other 4.04 such as code 44);\n"
    "     the server's code and message are printed\n"
    "  4  package verification failed (signature, header, hashes, wrong old\n"
    "     core), or its header (block 0) names a signing key id not among\n"
    "     the device's public keys or another project/core: then the rest\n"
    "     is not downloaded; the old images are kept, the package deleted\n"
    "  5  network error: no answer, server unreachable, protocol violation, or\n"
    "     server busy (4.29, 5.xx); try again later\n";

struct dev_cli {
    const char *dir, *server, *cmd;
    double timeout_s, max_wait_s;
    int verbose, window, fota_only;
};

/* --- progress --------------------------------------------------------- */

struct dev_bar {
    int tty, last_phase;
    double last_draw;
};

static void dev_bar_draw(const struct lport_progress *p)
{
    char bar[31];
    double rate = p->elapsed > 0 ? (double)p->done / p->elapsed : 0.0;
    int fill = p->total ? (int)(30.0 * (double)p->done / (double)p->total) : 0;
    for (int i = 0; i < 30; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[30] = '\0';
    fprintf(stderr, "\r  [%s] %3d%%  %llu/%llu B  %.1f kB/s", bar,
            p->total ? (int)(100 * p->done / p->total) : 0, (unsigned long long)p->done,
            (unsigned long long)p->total, rate / 1000.0);
    if (p->total && rate > 0 && !p->finished)
        fprintf(stderr, "  ETA %.0f s ", (double)(p->total - p->done) / rate);
    else
        fputs("            ", stderr);
    if (p->finished)
        fputc('\n', stderr);
}

static void dev_on_progress(void *ctx, const struct lport_progress *p)
{
    struct dev_bar *b = ctx;
    if ((int)p->phase != b->last_phase) {
        b->last_phase = (int)p->phase;
        fprintf(stderr, "ota-client: %s\n", lport_phase_name(p->phase));
    }
    if (p->phase != LPORT_P_DOWNLOAD)
        return;
    if (b->tty && (p->finished || p->elapsed - b->last_draw >= 0.1)) {
        b->last_draw = p->elapsed;
        dev_bar_draw(p);
    } else if (!b->tty && p->finished) {
        fprintf(stderr, "ota-client: downloaded %llu bytes in %.1f s\n",
                (unsigned long long)p->done, p->elapsed);
    }
}

/* --- result line ------------------------------------------------------- */

static void dev_print_changes(const struct dev_result *r)
{
    char a[VER_CORE_STR_MAX], b[VER_CORE_STR_MAX], sa[VER_SCRIPT_STR_MAX], sb[VER_SCRIPT_STR_MAX];
    ver_core_format(&r->from_core, a);
    ver_core_format(&r->to_core, b);
    ver_script_format(&r->from_script, sa);
    ver_script_format(&r->to_script, sb);
    if (r->core_changed)
        printf(" core %s -> %s%s", a, b, r->script_changed ? "," : "");
    if (r->script_changed)
        printf(" script %s -> %s", sa, sb);
    if (!r->core_changed && !r->script_changed)
        printf(" reinstalled core %s, script %s", b, sb);
}

static void dev_print_result(const struct dev_result *r, const char *msg)
{
    char core[VER_CORE_STR_MAX], script[VER_SCRIPT_STR_MAX];
    ver_core_format(&r->from_core, core);
    ver_script_format(&r->from_script, script);
    switch (r->status) {
    case DEV_S_UPDATED:
        printf("ota-client: updated");
        dev_print_changes(r);
        printf(" (%llu bytes in %.1f s, %lu resent)\n", (unsigned long long)r->bytes, r->seconds,
               r->retx);
        break;
    case DEV_S_AVAILABLE:
        if (r->target_known) {
            printf("ota-client: update available:");
            dev_print_changes(r);
            printf(" (%llu bytes)\n", (unsigned long long)r->pkg_size);
        } else {
            printf("ota-client: update available for core %s, script %s (%llu bytes; target "
                   "not shown: block 0 is smaller than the package header)\n", core, script,
                   (unsigned long long)r->pkg_size);
        }
        break;
    case DEV_S_NO_UPDATE:
        printf("ota-client: no update available for core %s, script %s (code %d)\n", core,
               script, r->srv_code);
        break;
    default:
        fprintf(stderr, "ota-client: error: %s: %s\n", dev_status_phrase(r->status),
                msg[0] ? msg : "(no detail)");
    }
    fflush(stdout);
}

/* --- arguments --------------------------------------------------------- */

static int dev_usage_error(const char *what)
{
    fprintf(stderr, "ota-client: error: usage: %s (see ota-client --help)\n", what);
    return DEV_EXIT_LOCAL;
}

/* Returns -1 to go on, else the exit code. */
static int dev_parse_args(int argc, char **argv, struct dev_cli *c)
{
    static const struct option longopts[] = {
        {"state-dir", required_argument, NULL, 'd'}, {"server", required_argument, NULL, 's'},
        {"timeout", required_argument, NULL, 't'},   {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},            {"window", required_argument, NULL, 'w'},
        {"max-wait", required_argument, NULL, 'm'},  {"fota-only", no_argument, NULL, 'F'},
        {NULL, 0, NULL, 0},
    };
    long w;
    char *end;
    int ch;
    while ((ch = getopt_long(argc, argv, "d:s:t:w:m:vh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'd': c->dir = optarg; break;
        case 's': c->server = optarg; break;
        case 't':
            c->timeout_s = strtod(optarg, &end);
            if (*end || !(c->timeout_s > 0 && c->timeout_s <= 3600))
                return dev_usage_error("-t wants seconds in (0, 3600]");
            break;
        case 'm':
            c->max_wait_s = strtod(optarg, &end);
            if (*end || !(c->max_wait_s > 0 && c->max_wait_s <= 3600))
                return dev_usage_error("-m wants seconds in (0, 3600]");
            break;
        case 'w':
            w = strtol(optarg, &end, 10);
            if (*end || w < 1 || w > DEV_WINDOW_MAX)
                return dev_usage_error("-w wants a window of 1..64 blocks");
            c->window = (int)w;
            break;
        case 'v': c->verbose++; break;
        case 'F': c->fota_only = 1; break;
        case 'h': fputs(dev_usage, stdout); return DEV_EXIT_OK;
        default: return dev_usage_error("unknown option");
        }
    }
    if (!c->dir)
        return dev_usage_error("-d STATEDIR is required");
    if (optind != argc - 1)
        return dev_usage_error("exactly one command, check, update or recover, is required");
    c->cmd = argv[optind];
    if (strcmp(c->cmd, "check") != 0 && strcmp(c->cmd, "update") != 0 &&
        strcmp(c->cmd, "recover") != 0)
        return dev_usage_error("the command must be check, update or recover");
    return -1;
}

/* --- power-cut test hook ------------------------------------------------ */

struct dev_kill {
    long at, count;
};

static void dev_kill_step(void *ctx)
{
    struct dev_kill *k = ctx;
    if (++k->count == k->at) {
        fflush(NULL);
        raise(SIGKILL); /* the power goes out: no cleanup of any kind */
    }
}

/* OTA_CLIENT_KILL_AT=N: die at the N-th durable step; "count" = a real
 * run that counts them (k->at 0). 0 is refused: it used to count and
 * update at once, which read like "kill at once". 1 = hook set, 0 = not
 * set, -1 = bad value. */
static int dev_kill_setup(struct dev_kill *k)
{
    const char *v = getenv("OTA_CLIENT_KILL_AT");
    char *end;
    if (!v || !*v)
        return 0;
    if (!strcmp(v, "count")) {
        k->at = 0;
        return 1;
    }
    k->at = strtol(v, &end, 10);
    return *end == '\0' && k->at >= 1 ? 1 : -1;
}

static int dev_recover_cmd(const struct dev_opts *o, const struct cfg_device *d, char *msg)
{
    if (dev_recover(o, d, msg) != OTA_OK) {
        fprintf(stderr, "ota-client: error: recover: %s\n", msg);
        return DEV_EXIT_LOCAL;
    }
    printf("ota-client: recovered\n");
    return DEV_EXIT_OK;
}

int main(int argc, char **argv)
{
    struct dev_cli cli = {0};
    struct cfg_device dev;
    struct dev_result r;
    struct dev_bar bar = {isatty(STDERR_FILENO), -1, 0.0};
    struct dev_kill kill = {0, 0};
    char msg[OTA_MSG_LEN] = "", ini[DEV_PATH_MAX];
    int rc = dev_parse_args(argc, argv, &cli);
    if (rc >= 0)
        return rc;
    log_set_level(cli.verbose >= 2 ? LOG_L_DEBUG : cli.verbose ? LOG_L_INFO : LOG_L_WARN);
    snprintf(ini, sizeof ini, "%s/device.ini", cli.dir);
    if (cfg_device_load(ini, &dev, msg) != OTA_OK) {
        fprintf(stderr, "ota-client: error: bad device.ini: %s\n", msg);
        return DEV_EXIT_LOCAL;
    }
    struct dev_opts o = {cli.dir, cli.server, cli.timeout_s, dev_on_progress, &bar,
                         cli.window, NULL, NULL, cli.max_wait_s, cli.fota_only};
    int hook = dev_kill_setup(&kill);
    if (hook < 0)
        return dev_usage_error("OTA_CLIENT_KILL_AT must be a step number >= 1 or \"count\"");
    if (hook) {
        o.step = dev_kill_step;
        o.step_ctx = &kill;
    }
    if (strcmp(cli.cmd, "recover") == 0)
        rc = dev_recover_cmd(&o, &dev, msg);
    else {
        if (strcmp(cli.cmd, "check") == 0)
            dev_check(&o, &dev, &r, msg);
        else
            dev_update(&o, &dev, &r, msg);
        dev_print_result(&r, msg);
        rc = dev_exit_code(r.status);
    }
    if (o.step && kill.at == 0)
        fprintf(stderr, "ota-client: %ld durable steps\n", kill.count);
    return rc;
}
