/* main.c - ota-cache: build, sign, verify, list and retire update packages.
 *
 * A thin shell over cache.h, crypto.h and the server's fleet.h: parse the
 * subcommand and its arguments, call one library function, print the
 * result, map the error to an exit code (0 ok, 1 failure, 2 usage,
 * 3 configuration).
 */
#include "cache.h"
#include "census_report.h"
#include "diff.h"
#include "drop.h"
#include "fleet.h"
#include "log.h"
#include "report.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { CACHE_EXIT_OK = 0, CACHE_EXIT_FAIL = 1, CACHE_EXIT_USAGE = 2, CACHE_EXIT_CONFIG = 3,
       CACHE_EXIT_REFUSED = 4 };

static const char usage_text[] =
    "Usage: ota-cache [-q] [-v] COMMAND [ARGS]\n"
    "\n"
    "Build and inspect firmware-update packages for ota-server.\n"
    "\n"
    "Commands:\n"
    "  keygen KEYFILE           create an Ed25519 signing key: KEYFILE (secret, mode 0600)\n"
    "                           and KEYFILE.pub (public key, hex, goes into device.ini);\n"
    "                           prints the key id that packages and `list` show\n"
    "  build -c OTA_INI [-p PROJECT]\n"
    "                           build every package of the release drop that OTA_INI\n"
    "                           describes into its cache directory (atomic writes; packages\n"
    "                           already present with identical inputs are skipped)\n"
    "  diff [-w BITS] OLD NEW PATCH\n"
    "                           write a standalone delta from OLD to NEW (zlib window\n"
    "                           BITS 9..15, default 15; smaller needs less RAM to apply)\n"
    "  patch OLD PATCH NEW      apply PATCH (delta format 1..4) to OLD; OLD and the result\n"
    "                           are checked against the hashes in the patch, NEW is\n"
    "                           written atomically\n"
    "  psk-secret [-f] FILE     create the [project] psk_secret file: 32 random bytes as\n"
    "                           64 hex digits and a newline (one trailing newline is\n"
    "                           stripped when the secret is read), mode 0600, written\n"
    "                           atomically; an existing FILE is kept unless -f\n"
    "  psk -c OTA_INI [-p PROJECT] IMEI\n"
    "                           print the device's DTLS-PSK key (hex) for provisioning:\n"
    "                           HMAC-SHA256 of [project] psk_secret and the IMEI (with\n"
    "                           several psk projects the identity is PROJECT/IMEI)\n"
    "  verify [-k PUB] FILE     check a package: header, signature (with -k: a .pub file\n"
    "                           or the 64 hex digits), section hashes; names the key id;\n"
    "                           a NAME.vendor.ini: NAME.vendor's size and SHA-256\n"
    "  vendor-add -c OTA_INI [-p PROJECT] --from CORE|any --to CORE --script X.Y.Z\n"
    "             [--name NAME] FILE\n"
    "                           publish FILE unchanged as a vendor package (NAME.vendor\n"
    "                           and its manifest NAME.vendor.ini, atomically) for devices\n"
    "                           of a package_format = vendor project\n"
    "  list [-p PROJECT] DIR    table of the packages in a cache directory: file, chip,\n"
    "                           from -> to, script (empty for core-only), size, key id\n"
    "                           (\"vendor\" for vendor packages); -p: one project's only\n"
    "  report LOG               summarise ota-server's report log per release and\n"
    "                           from-version: successes, failures, median update time,\n"
    "                           the last failure's reason\n"
    "  rollout -c OTA_INI [-p PROJECT] IMEI...\n"
    "                           what [fleet] decides for each IMEI: its rollout bucket,\n"
    "                           offered / held back (4.04/27) / refused (4.03/21), and why\n"
    "  prune [-n] -c OTA_INI [-p PROJECT]\n"
    "                           remove packages of this project whose target is not the\n"
    "                           current [release] (unlink only; a running server drops\n"
    "                           them); -n only lists what would go\n"
    "  sync -c OTA_INI DEST...  copy the cache's packages to every gateway with rsync\n"
    "                           (DEST: a directory, or HOST:DIR over ssh), one after the\n"
    "                           other; each package switches atomically, packages no\n"
    "                           longer in the cache are removed after the copy\n"
    "  publish -c OTA_INI DROPDIR\n"
    "                           check a release drop (release.ini or the platform's file\n"
    "                           names), archive it, build and sign its packages from every\n"
    "                           archived core, make it the current release, retire the\n"
    "                           previous one; a bad drop is refused (exit 4), nothing\n"
    "                           half-published\n"
    "  watch -c OTA_INI         service: publish drops settling in [cache] drop_dir (moved\n"
    "                           to .done/ or .rejected/ with REASON) and build the packages\n"
    "                           ota-server requests in [cache] spool_dir\n"
    "  build-pending -c OTA_INI build every request in [cache] spool_dir once (cron, tests)\n"
    "  census [--json] [-p PROJECT] -c OTA_INI\n"
    "                           the server's census ([census] file): per project, core\n"
    "                           and script the checks counted, first and last seen (UTC),\n"
    "                           whether the core is archived, whether the cache holds the\n"
    "                           package such a device is sent, and whether the core is in\n"
    "                           the precompute set (reported or archived within keep_days)\n"
    "  help                     this text\n"
    "\n"
    "Options:\n"
    "  -q, --quiet              only errors\n"
    "  -v, --verbose            debug logging\n"
    "  -h, --help               this text\n"
    "\n"
    "Commands about one project take -p PROJECT when OTA_INI has several ([projects]\n"
    "dir); without -p they stop and list the project names.\n"
    "\n"
    "Exit status: 0 success; 1 failure (message on stderr); 2 usage error (bad\n"
    "command line); 3 configuration error (OTA_INI invalid, or a file it names\n"
    "missing, unreadable or with insecure permissions); 4 release drop refused.\n"
    "See README.md for the ota.ini reference.\n";

static int usage_error(const char *what)
{
    fprintf(stderr, "ota-cache: error: %s\nTry 'ota-cache --help'.\n", what);
    return CACHE_EXIT_USAGE;
}

static int fail_with(int code, enum ota_err e, const char *detail)
{
    fprintf(stderr, "ota-cache: error: %s: %s\n", ota_strerror(e), detail);
    return code;
}

static int fail(enum ota_err e, const char *detail)
{
    return fail_with(CACHE_EXIT_FAIL, e, detail);
}

static int fail_config(enum ota_err e, const char *detail)
{
    return fail_with(CACHE_EXIT_CONFIG, e, detail);
}

/* -p PROJECT of the command being run (NULL: the only project). */
static const char *cache_project;

/* -c OTA_INI and, when nargs >= 0, exactly nargs operands; else 1 or more.
 * Any option of opts (or longopts) other than c and p sets *flag. */
static int parse_ini_opts(int argc, char **argv, const char *opts,
                          const struct option *longopts, const char **ini, int *flag, int nargs)
{
    int opt;
    optind = 1;
    cache_project = NULL;
    while ((opt = getopt_long(argc, argv, opts, longopts, NULL)) != -1) {
        if (opt == 'c')
            *ini = optarg;
        else if (opt == 'p')
            cache_project = optarg;
        else if (opt != '?' && flag)
            *flag = 1;
        else
            return -1;
    }
    if (!*ini)
        return -1;
    return nargs >= 0 ? (argc - optind == nargs ? 0 : -1) : (argc - optind >= 1 ? 0 : -1);
}

static int parse_ini_opt(int argc, char **argv, const char *opts, const char **ini, int *flag,
                         int nargs)
{
    return parse_ini_opts(argc, argv, opts, NULL, ini, flag, nargs);
}

/* The whole configuration, every project. */
static int load_ini_every(const char *ini, struct cfg_ota *c)
{
    char msg[OTA_MSG_LEN];
    enum ota_err e = cfg_ota_load(ini, c, msg);
    return e == OTA_OK ? CACHE_EXIT_OK : fail_config(e, msg);
}

/* Narrow c to the -p project (the only one without -p; several and no -p
 * is a usage error listing them). */
static int pick_project(struct cfg_ota *c)
{
    char msg[OTA_MSG_LEN];
    if (cfg_ota_pick(c, cache_project, msg) == OTA_OK)
        return CACHE_EXIT_OK;
    cfg_ota_free(c);
    return usage_error(msg);
}

/* The configuration narrowed to the -p project (pick_project). */
static int load_ini(const char *ini, struct cfg_ota *c)
{
    int rc = load_ini_every(ini, c);
    return rc != CACHE_EXIT_OK ? rc : pick_project(c);
}

/* Every project (publish, watch, build-pending and census pick the
 * project from the drop, the request or the census line); -p narrows it
 * to one as for the other commands. */
static int load_ini_all(const char *ini, struct cfg_ota *c)
{
    int rc = load_ini_every(ini, c);
    return rc != CACHE_EXIT_OK || !cache_project ? rc : pick_project(c);
}

/* ---- package rows --------------------------------------------------------- */

struct row_widths {
    int name;
};

static void print_row_header(const struct row_widths *w)
{
    printf("%-*s %-8s %4s    %4s  %-8s %10s  %-16s  %s\n", w->name, "FILE", "CHIP", "FROM", "TO",
           "SCRIPT", "BYTES", "KEY", "CONTENTS");
}

static void print_header_row(const struct row_widths *w, const struct pkg_header *h,
                             const char *name, uint64_t size)
{
    char from[8], script[VER_SCRIPT_STR_MAX] = "", key[2 * CRYPTO_KEYID_LEN + 1];
    if (h->from_core == PKG_FROM_ANY)
        snprintf(from, sizeof from, "any");
    else
        snprintf(from, sizeof from, "%04u", h->from_core);
    if (h->flags & PKG_F_SCRIPT) /* a core-only package installs no script */
        ver_script_format(&h->script, script);
    ota_hex(h->key_id, sizeof h->key_id, key);
    if (h->flags & PKG_F_VENDOR) /* opaque bytes checked by their manifest, no key of ours */
        snprintf(key, sizeof key, "-");
    printf("%-*s %-8s %4s -> %04u  %-8s %10llu  %-16s  %s%s\n", w->name, name, h->chip, from,
           h->to_core, script, (unsigned long long)size, key,
           h->flags & PKG_F_VENDOR ? "vendor " : "", pkg_contents_name(h->flags));
}

static void on_package(void *ctx, const struct pkg_header *h, const char *path, int skipped)
{
    const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    struct row_widths w = {40};
    (void)ctx;
    printf("%s ", skipped ? "unchanged" : "built    ");
    print_header_row(&w, h, name, pkg_total_size(h));
}

/* ---- commands --------------------------------------------------------------- */

static int cmd_build(int argc, char **argv)
{
    const char *ini = NULL;
    char msg[OTA_MSG_LEN];
    struct cfg_ota c;
    int bad_input = 0;
    if (parse_ini_opt(argc, argv, "c:p:", &ini, NULL, 0) != 0)
        return usage_error("build needs -c OTA_INI [-p PROJECT] and nothing else");
    int rc = load_ini(ini, &c);
    if (rc != CACHE_EXIT_OK)
        return rc;
    enum ota_err e = cache_build_checked(&c, on_package, NULL, &bad_input, msg);
    if (e == OTA_OK)
        return CACHE_EXIT_OK;
    return bad_input ? fail_config(e, msg) : fail(e, msg);
}

/* A vendor package: its manifest, and the bytes' size and SHA-256. */
static int verify_vendor(const char *manifest)
{
    char msg[OTA_MSG_LEN];
    struct vendor_manifest m;
    struct pkg_header h;
    enum ota_err e = cache_vendor_check(manifest, &m, msg);
    if (e != OTA_OK)
        return fail(e, msg);
    struct row_widths w = {(int)strlen(manifest)};
    vendor_header(&m, &h);
    printf("ok ");
    print_header_row(&w, &h, manifest, m.size);
    printf("vendor package: size and SHA-256 match the manifest (no signature of ours)\n");
    return CACHE_EXIT_OK;
}

static int cmd_verify(int argc, char **argv)
{
    const char *keyarg = NULL;
    char msg[OTA_MSG_LEN], key[2 * CRYPTO_KEYID_LEN + 1];
    uint8_t pub[CRYPTO_PUB_LEN];
    struct pkg_header h;
    int opt;
    optind = 1;
    while ((opt = getopt(argc, argv, "k:")) != -1) {
        if (opt != 'k')
            return usage_error("verify: unknown option");
        keyarg = optarg;
    }
    if (optind != argc - 1)
        return usage_error("verify needs exactly one FILE");
    if (keyarg && cache_public_key_arg(keyarg, pub, msg) != OTA_OK)
        return fail(OTA_E_INVAL, msg);
    size_t alen = strlen(argv[optind]), vlen = strlen(VENDOR_MANIFEST_SUFFIX);
    if (alen > vlen && !strcmp(argv[optind] + alen - vlen, VENDOR_MANIFEST_SUFFIX))
        return verify_vendor(argv[optind]);
    enum ota_err e = cache_verify(argv[optind], keyarg ? pub : NULL, &h, msg);
    if (e != OTA_OK)
        return fail(e, msg);
    struct row_widths w = {(int)strlen(argv[optind])};
    printf("ok ");
    print_header_row(&w, &h, argv[optind], pkg_total_size(&h));
    ota_hex(h.key_id, sizeof h.key_id, key);
    if (keyarg)
        printf("signature verified: signed by key %s\n", key);
    else
        printf("note: signature not checked (no -k PUB given); signed by key id %s\n", key);
    return CACHE_EXIT_OK;
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
    return e == OTA_OK ? CACHE_EXIT_OK : fail(e, msg);
}

static int cmd_patch(int argc, char **argv)
{
    char msg[OTA_MSG_LEN];
    if (argc != 4)
        return usage_error("patch needs OLD PATCH NEW");
    enum ota_err e = cache_patch_files(argv[1], argv[2], argv[3], msg);
    return e == OTA_OK ? CACHE_EXIT_OK : fail(e, msg);
}

static int cmd_psk(int argc, char **argv)
{
    const char *ini = NULL;
    char msg[OTA_MSG_LEN], hex[2 * CRYPTO_PSK_LEN + 1];
    uint8_t secret[CRYPTO_PSK_SECRET_MAX], key[CRYPTO_PSK_LEN];
    size_t len;
    struct cfg_ota c;
    if (parse_ini_opt(argc, argv, "c:p:", &ini, NULL, 1) != 0)
        return usage_error("psk needs -c OTA_INI [-p PROJECT] and one IMEI");
    if (cfg_check_imei(argv[optind], msg) != OTA_OK)
        return usage_error(msg);
    const char *imei = argv[optind];
    int rc = load_ini_every(ini, &c);
    if (rc != CACHE_EXIT_OK)
        return rc;
    int several_psk = cfg_psk_project_count(&c) > 1;
    if ((rc = pick_project(&c)) != CACHE_EXIT_OK)
        return rc;
    if (!c.psk_secret[0])
        return fail_config(OTA_E_INVAL, "[project] psk_secret is not set (create one with "
                                        "`ota-cache psk-secret FILE`)");
    enum ota_err e = crypto_load_psk_secret(c.psk_secret, secret, &len, msg);
    if (e != OTA_OK)
        return fail_config(e, msg);
    crypto_psk_derive(secret, len, imei, strlen(imei), key);
    ota_hex(key, sizeof key, hex);
    printf("%s\n", hex);
    if (several_psk)
        fprintf(stderr, "ota-cache: identity %s/%s: several projects have psk_secret, so set "
                "psk_identity = project in device.ini\n", c.project, imei);
    sodium_memzero(secret, sizeof secret);
    sodium_memzero(key, sizeof key);
    return CACHE_EXIT_OK;
}

static int cmd_psk_secret(int argc, char **argv)
{
    char msg[OTA_MSG_LEN];
    int opt, force = 0;
    optind = 1;
    while ((opt = getopt(argc, argv, "f")) != -1) {
        if (opt != 'f')
            return usage_error("psk-secret: unknown option");
        force = 1;
    }
    if (optind != argc - 1)
        return usage_error("psk-secret needs exactly one FILE");
    enum ota_err e = cache_psk_secret_create(argv[optind], force, msg);
    if (e != OTA_OK)
        return fail(e, msg);
    printf("wrote %s (mode 0600); set [project] psk_secret = %s\n", argv[optind], argv[optind]);
    return CACHE_EXIT_OK;
}

/* list: rows are collected first so the FILE column fits the longest name. */
struct list_rows {
    struct cache_entry *e;
    size_t n, cap;
    int oom;
};

static void on_entry(void *ctx, const struct cache_entry *e)
{
    struct list_rows *l = ctx;
    if (l->n == l->cap) {
        size_t nc = l->cap ? 2 * l->cap : 32;
        struct cache_entry *p = realloc(l->e, nc * sizeof *p);
        if (!p) {
            l->oom = 1;
            return;
        }
        l->e = p;
        l->cap = nc;
    }
    l->e[l->n++] = *e;
}

static int cmd_list(int argc, char **argv)
{
    char msg[OTA_MSG_LEN];
    struct list_rows l = {NULL, 0, 0, 0};
    struct row_widths w = {4};
    int bad = 0;
    int opt;
    const char *only = NULL;
    optind = 1;
    while ((opt = getopt(argc, argv, "p:")) != -1) {
        if (opt != 'p')
            return usage_error("list: unknown option");
        only = optarg;
    }
    if (optind != argc - 1)
        return usage_error("list needs [-p PROJECT] and exactly one DIR");
    argv += optind - 1;
    enum ota_err e = cache_list(argv[1], on_entry, &l, msg);
    if (e == OTA_OK && l.oom)
        e = ota_fail(msg, OTA_E_NOMEM, "listing %s", argv[1]);
    if (e != OTA_OK) {
        free(l.e);
        return fail(e, msg);
    }
    for (size_t i = 0; i < l.n; i++)
        if ((int)strlen(l.e[i].name) > w.name)
            w.name = (int)strlen(l.e[i].name);
    print_row_header(&w);
    for (size_t i = 0; i < l.n; i++) {
        if (only && (l.e[i].err != OTA_OK || strcmp(l.e[i].h.project, only) != 0))
            continue; /* -p: that project's valid packages */
        if (l.e[i].err != OTA_OK) {
            printf("%-*s INVALID: %s\n", w.name, l.e[i].name, l.e[i].detail);
            bad++;
        } else {
            print_header_row(&w, &l.e[i].h, l.e[i].name, l.e[i].size);
        }
    }
    free(l.e);
    return bad ? CACHE_EXIT_FAIL : CACHE_EXIT_OK;
}

static void on_report_row(void *ctx, const struct cache_report_row *r)
{
    char median[16] = "-";
    (void)ctx;
    if (r->median_s >= 0)
        snprintf(median, sizeof median, "%.1f", r->median_s);
    printf("%-30s %-30s %8llu %8llu %10s  %s\n", r->release, r->from, (unsigned long long)r->ok,
           (unsigned long long)r->failed, median, r->reason[0] ? r->reason : "-");
}

static int cmd_report(int argc, char **argv)
{
    char msg[OTA_MSG_LEN];
    struct cache_report_totals t;
    if (argc != 2)
        return usage_error("report needs exactly one LOG");
    /* Check the file before the table header, so an error comes alone. */
    FILE *fp = fopen(argv[1], "r");
    if (!fp) {
        ota_fail(msg, OTA_E_IO, "%s: %s", argv[1], strerror(errno));
        return fail(OTA_E_IO, msg);
    }
    fclose(fp);
    printf("%-30s %-30s %8s %8s %10s  %s\n", "RELEASE (to core/script)", "FROM (core/script)",
           "OK", "FAILED", "MEDIAN_S", "LAST FAILURE REASON");
    enum ota_err e = cache_report_summarise(argv[1], on_report_row, NULL, &t, msg);
    if (e != OTA_OK)
        return fail(e, msg);
    on_report_row(NULL, &t.all);
    if (t.skipped)
        printf("note: %llu of %llu lines skipped (not a report)\n",
               (unsigned long long)t.skipped, (unsigned long long)t.lines);
    return CACHE_EXIT_OK;
}

static const char *verdict_name(enum srv_fleet_verdict v)
{
    return v == SRV_FLEET_ALLOWED   ? "offered"
           : v == SRV_FLEET_NOT_YET ? "held back (4.04/27)"
                                    : "refused (4.03/21)";
}

static int cmd_rollout(int argc, char **argv)
{
    const char *ini = NULL;
    char msg[OTA_MSG_LEN], why[OTA_MSG_LEN];
    struct cfg_ota c;
    struct srv_fleet f;
    if (parse_ini_opt(argc, argv, "c:p:", &ini, NULL, -1) != 0)
        return usage_error("rollout needs -c OTA_INI [-p PROJECT] and one or more IMEIs");
    for (int i = optind; i < argc; i++)
        if (cfg_check_imei(argv[i], msg) != OTA_OK)
            return usage_error(msg);
    int rc = load_ini(ini, &c);
    if (rc != CACHE_EXIT_OK)
        return rc;
    enum ota_err e = srv_fleet_init(&f, c.allowlist, c.rollout_bp, msg);
    if (e != OTA_OK)
        return fail_config(e, msg);
    srv_fleet_describe(&f, why, sizeof why);
    printf("fleet: %s\n", why);
    printf("%-15s %6s  %-19s  %s\n", "IMEI", "BUCKET", "VERDICT", "WHY");
    for (int i = optind; i < argc; i++) {
        enum srv_fleet_verdict v = srv_fleet_explain(&f, argv[i], why, sizeof why);
        printf("%-15s %6u  %-19s  %s\n", argv[i], (unsigned)srv_fleet_bucket(argv[i]),
               verdict_name(v), why);
    }
    srv_fleet_free(&f);
    return CACHE_EXIT_OK;
}

/* ---- census ---------------------------------------------------------------- */

static void census_time(int64_t t, char out[24])
{
    struct tm tm;
    time_t tt = (time_t)t;
    if (!gmtime_r(&tt, &tm) || !strftime(out, 24, "%Y-%m-%dT%H:%MZ", &tm))
        snprintf(out, 24, "%lld", (long long)t);
}

static void on_census_row(void *ctx, const struct cache_census_row *r)
{
    const int *json = ctx;
    char core[VER_CORE_STR_MAX], script[VER_SCRIPT_STR_MAX], first[24], last[24];
    static int rows;
    ver_core_format(&r->e.core, core);
    ver_script_format(&r->e.script, script);
    if (*json) {
        printf("%s{\"project\":\"%s\",\"core\":\"%s\",\"script\":\"%s\",\"count\":%llu,"
               "\"first_seen\":%lld,\"last_seen\":%lld,\"archived\":%s,\"package\":%s,"
               "\"in_field\":%s}", rows++ ? ",\n " : "", r->e.project, core, script,
               (unsigned long long)r->e.count, (long long)r->e.first_seen,
               (long long)r->e.last_seen, r->archived ? "true" : "false",
               r->packaged ? "true" : "false", r->in_field ? "true" : "false");
        return;
    }
    census_time(r->e.first_seen, first);
    census_time(r->e.last_seen, last);
    printf("%-16s %-24s %-8s %10llu  %-17s  %-17s  %-8s %-7s %s\n", r->e.project, core, script,
           (unsigned long long)r->e.count, first, last, r->archived ? "yes" : "no",
           r->packaged ? "yes" : "no", r->in_field ? "yes" : "no");
}

static int cmd_census(int argc, char **argv)
{
    static const struct option longopts[] = {{"json", no_argument, NULL, 'j'},
                                             {NULL, 0, NULL, 0}};
    const char *ini = NULL, *project;
    char msg[OTA_MSG_LEN];
    struct cfg_ota c;
    int json = 0;
    if (parse_ini_opts(argc, argv, "c:p:", longopts, &ini, &json, 0) != 0)
        return usage_error("census takes [--json] [-p PROJECT] -c OTA_INI");
    project = cache_project;
    if (project && ver_project_check(project, msg) != OTA_OK)
        return usage_error(msg);
    cache_project = NULL; /* -p filters the census lines, every project stays */
    int rc = load_ini_all(ini, &c);
    if (rc != CACHE_EXIT_OK)
        return rc;
    if (json)
        printf("[");
    else
        printf("%-16s %-24s %-8s %10s  %-17s  %-17s  %-8s %-7s %s\n", "PROJECT", "CORE", "SCRIPT",
               "COUNT", "FIRST_SEEN", "LAST_SEEN", "ARCHIVED", "PACKAGE", "IN_FIELD");
    enum ota_err e = cache_census(&c, project, (int64_t)time(NULL), on_census_row, &json, msg);
    cfg_ota_free(&c);
    if (json)
        printf("]\n");
    return e == OTA_OK ? CACHE_EXIT_OK : fail_with(CACHE_EXIT_FAIL, e, msg);
}

static void on_prune(void *ctx, const struct cache_entry *e, enum cache_prune_action a)
{
    int *n = ctx;
    if (a == CACHE_PRUNE_KEPT)
        return;
    ++*n;
    printf("%s %s\n", a == CACHE_PRUNE_REMOVED ? "removed" : "would remove", e->name);
}

static int cmd_prune(int argc, char **argv)
{
    const char *ini = NULL;
    char msg[OTA_MSG_LEN], script[VER_SCRIPT_STR_MAX];
    struct cfg_ota c;
    int dry_run = 0, n = 0;
    if (parse_ini_opt(argc, argv, "c:np:", &ini, &dry_run, 0) != 0)
        return usage_error("prune needs -c OTA_INI [-p PROJECT] (and -n for a dry run)");
    int rc = load_ini(ini, &c);
    if (rc != CACHE_EXIT_OK)
        return rc;
    enum ota_err e = cache_prune(&c, dry_run, on_prune, &n, msg);
    if (e != OTA_OK)
        return e == OTA_E_INVAL ? fail_config(e, msg) : fail(e, msg);
    ver_script_format(&c.script, script);
    printf("%d package(s) %s; current release: core %s_V%04u_%s, script %s\n", n,
           dry_run ? "would be removed" : "removed", c.core.name, (unsigned)c.core.number,
           c.core.chip, script);
    return CACHE_EXIT_OK;
}

static void on_sync(void *ctx, const char *dest, int status)
{
    (void)ctx;
    if (status == 0)
        log_msg(LOG_L_INFO, "sync: %s up to date", dest);
    else if (status < 0)
        log_msg(LOG_L_ERROR, "sync: %s: cannot run rsync", dest);
    else
        log_msg(LOG_L_ERROR, "sync: %s: rsync exit status %d", dest, status);
}

static int cmd_sync(int argc, char **argv)
{
    const char *ini = NULL;
    char msg[OTA_MSG_LEN];
    struct cfg_ota c;
    if (parse_ini_opt(argc, argv, "c:", &ini, NULL, -1) != 0)
        return usage_error("sync needs -c OTA_INI and one or more DEST");
    int rc = load_ini_every(ini, &c);
    if (rc != CACHE_EXIT_OK)
        return rc;
    cfg_ota_free(&c); /* the cache is shared by every project */
    enum ota_err e = cache_sync(c.cache_dir, (const char *const *)argv + optind, argc - optind,
                                on_sync, NULL, msg);
    return e == OTA_OK ? CACHE_EXIT_OK : fail(e, msg);
}

static int cmd_publish(int argc, char **argv)
{
    const char *ini = NULL;
    char msg[OTA_MSG_LEN], core[VER_CORE_STR_MAX], script[VER_SCRIPT_STR_MAX];
    struct cfg_ota c;
    struct drop_result res;
    if (parse_ini_opt(argc, argv, "c:p:", &ini, NULL, 1) != 0)
        return usage_error("publish needs -c OTA_INI [-p PROJECT] and one DROPDIR");
    int rc = load_ini_all(ini, &c);
    if (rc != CACHE_EXIT_OK)
        return rc;
    enum ota_err e = drop_publish(&c, argv[optind], &res, msg);
    cfg_ota_free(&c);
    if (e != OTA_OK) {
        log_msg(LOG_L_ERROR, "publish: drop %s %s: %s", argv[optind],
                res.refused ? "refused" : "not published", msg);
        return fail_with(res.refused ? CACHE_EXIT_REFUSED : CACHE_EXIT_FAIL, e, msg);
    }
    ver_core_format(&res.rel.core, core);
    ver_script_format(&res.rel.script, script);
    printf("published %s core %s script %s: %d built, %d unchanged, %d vendor, %d pruned\n",
           res.rel.project, core, script, res.built, res.unchanged, res.vendor, res.pruned);
    return CACHE_EXIT_OK;
}

static volatile int watch_stop;

static void on_stop_signal(int sig)
{
    (void)sig;
    watch_stop = 1;
}

static int cmd_watch(int argc, char **argv)
{
    const char *ini = NULL;
    char msg[OTA_MSG_LEN];
    struct cfg_ota c;
    struct sigaction sa;
    if (parse_ini_opt(argc, argv, "c:", &ini, NULL, 0) != 0)
        return usage_error("watch needs -c OTA_INI and nothing else");
    int rc = load_ini_all(ini, &c);
    if (rc != CACHE_EXIT_OK)
        return rc;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal; /* no SA_RESTART: poll() returns at once */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    enum ota_err e = drop_watch(&c, &watch_stop, 30, msg);
    cfg_ota_free(&c);
    if (e != OTA_OK)
        return e == OTA_E_INVAL ? fail_config(e, msg) : fail(e, msg);
    return CACHE_EXIT_OK;
}

static int cmd_build_pending(int argc, char **argv)
{
    const char *ini = NULL;
    char msg[OTA_MSG_LEN];
    struct cfg_ota c;
    int done, failed;
    if (parse_ini_opt(argc, argv, "c:", &ini, NULL, 0) != 0)
        return usage_error("build-pending needs -c OTA_INI and nothing else");
    int rc = load_ini_all(ini, &c);
    if (rc != CACHE_EXIT_OK)
        return rc;
    enum ota_err e = drop_spool_run(&c, &done, &failed, msg);
    cfg_ota_free(&c);
    if (e != OTA_OK)
        return fail(e, msg);
    printf("%d request(s) built, %d failed\n", done, failed);
    return failed ? CACHE_EXIT_FAIL : CACHE_EXIT_OK;
}

/* vendor-add options: the manifest's cores and script, an optional name. */
static int vendor_add_opts(int argc, char **argv, const char **ini, const char **name,
                           struct vendor_manifest *m, char *msg)
{
    static const struct option lo[] = {{"from", required_argument, NULL, 'f'},
                                       {"to", required_argument, NULL, 't'},
                                       {"script", required_argument, NULL, 's'},
                                       {"name", required_argument, NULL, 'n'},
                                       {NULL, 0, NULL, 0}};
    int opt, seen = 0;
    enum ota_err e = OTA_OK;
    optind = 1;
    cache_project = NULL;
    while (e == OTA_OK && (opt = getopt_long(argc, argv, "c:p:f:t:s:n:", lo, NULL)) != -1) {
        if (opt == 'c')
            *ini = optarg;
        else if (opt == 'p')
            cache_project = optarg;
        else if (opt == 'n')
            *name = optarg;
        else if (opt == 'f' && !strcmp(optarg, "any"))
            m->from_any = 1, seen |= 1;
        else if (opt == 'f')
            e = ver_core_parse(optarg, &m->from_core, msg), seen |= 1;
        else if (opt == 't')
            e = ver_core_parse(optarg, &m->to_core, msg), seen |= 2;
        else if (opt == 's')
            e = ver_script_parse(optarg, &m->script, msg), seen |= 4;
        else
            return ota_fail(msg, OTA_E_INVAL, "vendor-add: unknown option"), -1;
    }
    if (e != OTA_OK)
        return -1;
    if (!*ini || seen != 7 || optind != argc - 1)
        return ota_fail(msg, OTA_E_INVAL, "vendor-add needs -c OTA_INI [-p PROJECT] --from "
                        "CORE|any --to CORE --script X.Y.Z [--name NAME] FILE"), -1;
    if (!m->from_any && !ver_core_same_line(&m->from_core, &m->to_core))
        return ota_fail(msg, OTA_E_INVAL, "vendor-add: --from and --to are not one core line"),
               -1;
    return 0;
}

static int cmd_vendor_add(int argc, char **argv)
{
    const char *ini = NULL, *name = NULL;
    char msg[OTA_MSG_LEN], path[CFG_PATH_MAX + 256];
    struct vendor_manifest m;
    struct cfg_ota c;
    memset(&m, 0, sizeof m);
    if (vendor_add_opts(argc, argv, &ini, &name, &m, msg) != 0)
        return usage_error(msg);
    int rc = load_ini(ini, &c);
    if (rc != CACHE_EXIT_OK)
        return rc;
    enum ota_err e = cache_vendor_add(&c, argv[optind], name, &m, path, msg);
    if (e != OTA_OK)
        return fail(e, msg);
    printf("published %s (%llu bytes) for project %s\n", path, (unsigned long long)m.size,
           m.project);
    return CACHE_EXIT_OK;
}

static int cmd_keygen(int argc, char **argv)
{
    char msg[OTA_MSG_LEN], pubpath[CFG_PATH_MAX + 8], id_hex[2 * CRYPTO_KEYID_LEN + 1];
    char dir[CFG_PATH_MAX];
    uint8_t pub[CRYPTO_PUB_LEN], id[CRYPTO_KEYID_LEN];
    if (argc != 2)
        return usage_error("keygen needs exactly one KEYFILE");
    /* Create the key's directory (private) for convenience. */
    if (ota_strlcpy(dir, argv[1], sizeof dir) == OTA_OK && strrchr(dir, '/')) {
        *strrchr(dir, '/') = '\0';
        if (dir[0] && io_mkdirs(dir, 0700, msg) != OTA_OK)
            return fail(OTA_E_IO, msg);
    }
    enum ota_err e = crypto_keygen(argv[1], msg);
    snprintf(pubpath, sizeof pubpath, "%s.pub", argv[1]);
    if (e == OTA_OK)
        e = crypto_load_public(pubpath, pub, msg);
    if (e != OTA_OK)
        return fail(e, msg);
    crypto_key_id(pub, id);
    ota_hex(id, sizeof id, id_hex);
    printf("wrote %s (secret, mode 0600) and %s; key id %s\n", argv[1], pubpath, id_hex);
    return CACHE_EXIT_OK;
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
    if (!strcmp(cmd, "psk-secret"))
        return cmd_psk_secret(argc, argv);
    if (!strcmp(cmd, "rollout"))
        return cmd_rollout(argc, argv);
    if (!strcmp(cmd, "sync"))
        return cmd_sync(argc, argv);
    if (!strcmp(cmd, "census"))
        return cmd_census(argc, argv);
    if (!strcmp(cmd, "prune"))
        return cmd_prune(argc, argv);
    if (!strcmp(cmd, "diff"))
        return cmd_diff(argc, argv);
    if (!strcmp(cmd, "patch"))
        return cmd_patch(argc, argv);
    if (!strcmp(cmd, "verify"))
        return cmd_verify(argc, argv);
    if (!strcmp(cmd, "list"))
        return cmd_list(argc, argv);
    if (!strcmp(cmd, "vendor-add"))
        return cmd_vendor_add(argc, argv);
    if (!strcmp(cmd, "report"))
        return cmd_report(argc, argv);
    if (!strcmp(cmd, "publish"))
        return cmd_publish(argc, argv);
    if (!strcmp(cmd, "watch"))
        return cmd_watch(argc, argv);
    if (!strcmp(cmd, "build-pending"))
        return cmd_build_pending(argc, argv);
    return usage_error("unknown command");
}
