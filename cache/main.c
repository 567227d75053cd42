/* main.c - ota-cache: build, sign, verify and list update packages.
 *
 * A thin shell over cache.h and crypto.h: parse the subcommand and its
 * arguments, call one library function, print the result, map the error
 * to an exit code (0 ok, 1 failure, 2 usage).
 */
#include "cache.h"
#include "diff.h"
#include "log.h"
#include "report.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "Usage: ota-cache [-q] [-v] COMMAND [ARGS]\n"
    "\n"
    "Build and inspect firmware-update packages for ota-server.\n"
    "\n"
    "Commands:\n"
    "  keygen KEYFILE           create an Ed25519 signing key: KEYFILE (secret, mode 0600)\n"
    "                           and KEYFILE.pub (public key, hex, goes into device.ini)\n"
    "  build -c OTA_INI         build every package of the release drop that OTA_INI\n"
    "                           describes into its cache directory (atomic writes; packages\n"
    "                           already present with identical inputs are skipped)\n"
    "  diff [-w BITS] OLD NEW PATCH\n"
    "                           write a standalone delta from OLD to NEW (zlib window\n"
    "                           BITS 9..15, default 15; smaller needs less RAM to apply)\n"
    "  patch OLD PATCH NEW      apply PATCH to OLD; OLD and the result are checked against\n"
    "                           the hashes in the patch, NEW is written atomically\n"
    "  psk -c OTA_INI IMEI      print the device's DTLS-PSK key (hex) for provisioning:\n"
    "                           HMAC-SHA256 of [project] psk_secret and the IMEI\n"
    "  verify [-k PUB] FILE     check a package: header, signature (with -k), section hashes\n"
    "  list DIR                 table of the packages in a cache directory\n"
    "  report LOG               summarise ota-server's report log: successes, failures\n"
    "                           and median update time per from-version\n"
    "  help                     this text\n"
    "\n"
    "Options:\n"
    "  -q, --quiet              only errors\n"
    "  -v, --verbose            debug logging\n"
    "  -h, --help               this text\n"
    "\n"
    "Exit status: 0 success, 1 failure (message on stderr), 2 usage error.\n"
    "See README.md for the ota.ini reference.\n";

static int usage_error(const char *what)
{
    fprintf(stderr, "ota-cache: error: %s\nTry 'ota-cache --help'.\n", what);
    return 2;
}

static int fail(enum ota_err e, const char *detail)
{
    fprintf(stderr, "ota-cache: error: %s: %s\n", ota_strerror(e), detail);
    return 1;
}

static void print_header_row(const struct pkg_header *h, const char *name, uint64_t size)
{
    char from[8], script[VER_SCRIPT_STR_MAX];
    if (h->from_core == PKG_FROM_ANY)
        snprintf(from, sizeof from, "any");
    else
        snprintf(from, sizeof from, "%04u", h->from_core);
    ver_script_format(&h->script, script);
    printf("%-40s %4s -> %04u  %-8s %10llu  %s\n", name, from, h->to_core, script,
           (unsigned long long)size, pkg_contents_name(h->flags));
}

static void on_package(void *ctx, const struct pkg_header *h, const char *path, int skipped)
{
    const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    (void)ctx;
    printf("%s ", skipped ? "unchanged" : "built    ");
    print_header_row(h, name, pkg_total_size(h));
}

static int cmd_build(int argc, char **argv)
{
    const char *ini = NULL;
    char msg[OTA_MSG_LEN];
    struct cfg_ota c;
    int opt;
    optind = 1;
    while ((opt = getopt(argc, argv, "c:")) != -1) {
        if (opt != 'c')
            return usage_error("build: unknown option");
        ini = optarg;
    }
    if (!ini || optind != argc)
        return usage_error("build needs -c OTA_INI and nothing else");
    enum ota_err e = cfg_ota_load(ini, &c, msg);
    if (e == OTA_OK)
        e = cache_build(&c, on_package, NULL, msg);
    return e == OTA_OK ? 0 : fail(e, msg);
}

static int cmd_verify(int argc, char **argv)
{
    const char *pubfile = NULL;
    char msg[OTA_MSG_LEN];
    uint8_t pub[CRYPTO_PUB_LEN];
    struct pkg_header h;
    int opt;
    optind = 1;
    while ((opt = getopt(argc, argv, "k:")) != -1) {
        if (opt != 'k')
            return usage_error("verify: unknown option");
        pubfile = optarg;
    }
    if (optind != argc - 1)
        return usage_error("verify needs exactly one FILE");
    if (pubfile && (crypto_load_public(pubfile, pub, msg)) != OTA_OK)
        return fail(OTA_E_INVAL, msg);
    enum ota_err e = cache_verify(argv[optind], pubfile ? pub : NULL, &h, msg);
    if (e != OTA_OK)
        return fail(e, msg);
    printf("ok ");
    print_header_row(&h, argv[optind], pkg_total_size(&h));
    if (!pubfile)
        printf("note: signature not checked (no -k PUBKEY given)\n");
    return 0;
}

static int cmd_diff(int argc, char **argv)
{
    struct delta_params p;
    char msg[OTA_MSG_LEN];
    int opt;
    delta_params_default(&p);
    optind = 1;
    while ((opt = getopt(argc, argv, "w:")) != -1) {
        char *end;
        long bits = opt == 'w' ? strtol(optarg, &end, 10) : 0;
        if (opt != 'w' || *end || bits < DELTA_WINDOW_BITS_MIN || bits > DELTA_WINDOW_BITS_MAX)
            return usage_error("diff: -w takes a window size 9..15");
        p.window_bits = (int)bits;
    }
    if (optind != argc - 3)
        return usage_error("diff needs OLD NEW PATCH");
    enum ota_err e = cache_diff_files(argv[optind], argv[optind + 1], argv[optind + 2], &p, msg);
    return e == OTA_OK ? 0 : fail(e, msg);
}

static int cmd_patch(int argc, char **argv)
{
    char msg[OTA_MSG_LEN];
    if (argc != 4)
        return usage_error("patch needs OLD PATCH NEW");
    enum ota_err e = cache_patch_files(argv[1], argv[2], argv[3], msg);
    return e == OTA_OK ? 0 : fail(e, msg);
}

static int cmd_psk(int argc, char **argv)
{
    const char *ini = NULL;
    char msg[OTA_MSG_LEN], hex[2 * CRYPTO_PSK_LEN + 1];
    uint8_t secret[CRYPTO_PSK_SECRET_MAX], key[CRYPTO_PSK_LEN];
    size_t len;
    struct cfg_ota c;
    int opt;
    optind = 1;
    while ((opt = getopt(argc, argv, "c:")) != -1) {
        if (opt != 'c')
            return usage_error("psk: unknown option");
        ini = optarg;
    }
    if (!ini || optind != argc - 1)
        return usage_error("psk needs -c OTA_INI and one IMEI");
    enum ota_err e = cfg_check_imei(argv[optind], msg);
    if (e == OTA_OK)
        e = cfg_ota_load(ini, &c, msg);
    if (e == OTA_OK && !c.psk_secret[0])
        e = ota_fail(msg, OTA_E_INVAL, "%s: [project] psk_secret is not set", ini);
    if (e == OTA_OK)
        e = crypto_load_psk_secret(c.psk_secret, secret, &len, msg);
    if (e != OTA_OK)
        return fail(e, msg);
    crypto_psk_derive(secret, len, argv[optind], strlen(argv[optind]), key);
    ota_hex(key, sizeof key, hex);
    printf("%s\n", hex);
    sodium_memzero(secret, sizeof secret);
    sodium_memzero(key, sizeof key);
    return 0;
}

static void on_entry(void *ctx, const struct cache_entry *e)
{
    int *bad = ctx;
    if (e->err != OTA_OK) {
        printf("%-40s INVALID: %s\n", e->name, e->detail);
        ++*bad;
        return;
    }
    print_header_row(&e->h, e->name, e->size);
}

static int cmd_list(int argc, char **argv)
{
    char msg[OTA_MSG_LEN];
    int bad = 0;
    if (argc != 2)
        return usage_error("list needs exactly one DIR");
    printf("%-40s %4s    %4s  %-8s %10s  %s\n", "FILE", "FROM", "TO", "SCRIPT", "BYTES",
           "CONTENTS");
    enum ota_err e = cache_list(argv[1], on_entry, &bad, msg);
    if (e != OTA_OK)
        return fail(e, msg);
    return bad ? 1 : 0;
}

static void on_report_row(void *ctx, const struct cache_report_row *r)
{
    (void)ctx;
    if (r->median_s < 0)
        printf("%-40s %8llu %8llu %10s\n", r->from, (unsigned long long)r->ok,
               (unsigned long long)r->failed, "-");
    else
        printf("%-40s %8llu %8llu %10.1f\n", r->from, (unsigned long long)r->ok,
               (unsigned long long)r->failed, r->median_s);
}

static int cmd_report(int argc, char **argv)
{
    char msg[OTA_MSG_LEN];
    struct cache_report_totals t;
    if (argc != 2)
        return usage_error("report needs exactly one LOG");
    printf("%-40s %8s %8s %10s\n", "FROM (core/script)", "OK", "FAILED", "MEDIAN_S");
    enum ota_err e = cache_report_summarise(argv[1], on_report_row, NULL, &t, msg);
    if (e != OTA_OK)
        return fail(e, msg);
    on_report_row(NULL, &t.all);
    if (t.skipped)
        printf("note: %llu of %llu lines skipped (not a report)\n",
               (unsigned long long)t.skipped, (unsigned long long)t.lines);
    return 0;
}

static int cmd_keygen(int argc, char **argv)
{
    char msg[OTA_MSG_LEN];
    char dir[CFG_PATH_MAX];
    if (argc != 2)
        return usage_error("keygen needs exactly one KEYFILE");
    /* Create the key's directory (private) for convenience. */
    if (ota_strlcpy(dir, argv[1], sizeof dir) == OTA_OK && strrchr(dir, '/')) {
        *strrchr(dir, '/') = '\0';
        if (dir[0] && io_mkdirs(dir, 0700, msg) != OTA_OK)
            return fail(OTA_E_IO, msg);
    }
    enum ota_err e = crypto_keygen(argv[1], msg);
    if (e != OTA_OK)
        return fail(e, msg);
    printf("wrote %s (secret, mode 0600) and %s.pub\n", argv[1], argv[1]);
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {{"help", no_argument, NULL, 'h'},
                                             {"quiet", no_argument, NULL, 'q'},
                                             {"verbose", no_argument, NULL, 'v'},
                                             {NULL, 0, NULL, 0}};
    char msg[OTA_MSG_LEN];
    int opt;
    while ((opt = getopt_long(argc, argv, "+hqv", longopts, NULL)) != -1) {
        if (opt == 'h') {
            fputs(usage_text, stdout);
            return 0;
        }
        if (opt == 'q' || opt == 'v')
            log_set_level(opt == 'q' ? LOG_L_ERROR : LOG_L_DEBUG);
        else
            return usage_error("unknown option");
    }
    if (optind >= argc)
        return usage_error("no command given");
    if (crypto_init(msg) != OTA_OK)
        return fail(OTA_E_INVAL, msg);
    const char *cmd = argv[optind];
    argc -= optind;
    argv += optind;
    if (!strcmp(cmd, "help")) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (!strcmp(cmd, "keygen"))
        return cmd_keygen(argc, argv);
    if (!strcmp(cmd, "build"))
        return cmd_build(argc, argv);
    if (!strcmp(cmd, "psk"))
        return cmd_psk(argc, argv);
    if (!strcmp(cmd, "diff"))
        return cmd_diff(argc, argv);
    if (!strcmp(cmd, "patch"))
        return cmd_patch(argc, argv);
    if (!strcmp(cmd, "verify"))
        return cmd_verify(argc, argv);
    if (!strcmp(cmd, "list"))
        return cmd_list(argc, argv);
    if (!strcmp(cmd, "report"))
        return cmd_report(argc, argv);
    return usage_error("unknown command");
}
