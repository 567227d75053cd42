/* cfg.h - ota.ini (cache tool and server) and device.ini (device client).
 *
 * Both files are INI, read with inih. Unknown sections or keys and bad
 * values are errors reported as "file:line: message" so an operator can
 * fix the exact line. Relative paths in a file are resolved against the
 * directory that holds the file, so a release drop can be moved as a unit.
 * Every value is checked for character set and length when loaded; the
 * structs hold only validated data. See ota.ini at the top of the
 * repository for the documented sample.
 */
#ifndef CFG_H
#define CFG_H

#include "crypto.h"
#include "ver.h"

#include <stdio.h>
#include <sys/socket.h>

#define CFG_PATH_MAX 1024
#define CFG_KEY_MAX 65      /* product key, incl. NUL: [A-Za-z0-9_-]{1,64} */
#define CFG_IMEI_MAX 17     /* 15 digits (14..16 accepted), incl. NUL */
#define CFG_LISTEN_MAX 4
#define CFG_ADMIN_MAX 8
#define CFG_ADDR_MAX 64     /* "host:port" or "[v6]:port" */
#define CFG_URL_MAX 256
#define CFG_PUBKEYS_MAX 4
#define CFG_BLOCK_MIN 16
#define CFG_BLOCK_MAX 1024
#define CFG_ADMIN_PORT 9683 /* [admin] listen without a port */
#define CFG_PROJECTS_MAX 1024 /* projects in one configuration */

/* [project] package_format: which update engine the project's devices run. */
enum cfg_format { CFG_FORMAT_OTA = 0, CFG_FORMAT_VENDOR = 1 };
#define CFG_HTTP_PORT 8080  /* [http] listen without a port */

struct cfg_ota {
    char dir[CFG_PATH_MAX]; /* directory of the ini file */
    /* [project] */
    char project[VER_PROJECT_MAX];
    char product_key[CFG_KEY_MAX];
    char psk_secret[CFG_PATH_MAX]; /* product secret for DTLS-PSK keys, "" if unset */
    /* [release] (needed by ota-cache build only) */
    struct ver_core core;        /* target core, e.g. Luat_V0020_RDA8910 */
    char core_image[CFG_PATH_MAX];
    struct ver_script script;    /* target script version */
    char script_image[CFG_PATH_MAX];
    char shipped_dir[CFG_PATH_MAX]; /* old cores, named <core version>.bin */
    int full_core_fallback;     /* also build a full-core package for unknown cores */
    int core_only;              /* also build core-only packages (device already on script) */
    int script_only;            /* also build a script-only package (device on target core) */
    int window_bits;            /* delta/zlib window for packages, 9..15 */
    int jobs;                   /* parallel package builds; 0 = number of CPUs */
    int has_release;
    /* [cache] */
    char cache_dir[CFG_PATH_MAX];
    char signing_key[CFG_PATH_MAX];
    char archive_dir[CFG_PATH_MAX]; /* ARCHIVE/<PROJECT>/core/<core>-<hash>.bin (issue 11) */
    char drop_dir[CFG_PATH_MAX];    /* watched release drops; "" = none */
    char spool_dir[CFG_PATH_MAX];   /* build requests of ota-server for ota-cache watch */
    int drop_settle;                /* s a drop stays unchanged before it is published */
    /* [census] (issue 11; README "Census and on-demand builds") */
    char census_file[CFG_PATH_MAX]; /* "" = census kept in memory only, never saved */
    int census_max_pairs;           /* (project, core, script) pairs in the table */
    int census_save_interval;       /* s between saves of a changed census */
    int census_keep_days;           /* a core unreported this long leaves the precompute set */
    /* [server] */
    char listen[CFG_LISTEN_MAX][CFG_ADDR_MAX];
    int nlisten;
    int block_size;             /* default Block2 size, 16..1024, power of two */
    char report_log[CFG_PATH_MAX];
    char public_key[CFG_PATH_MAX]; /* verifies packages on load; default signing_key.pub */
    int log_level;
    /* [server] scale and overload (issue 4; README "ota.ini reference") */
    int max_transfers;          /* concurrent downloads; 0 = no cap */
    int transfer_idle;          /* s without a request that end a transfer */
    int rate_limit;             /* requests/s per source endpoint; 0 = off */
    int rate_burst;             /* requests a source may send at once */
    int max_sources;            /* slots of the per-source table */
    int retry_after;            /* Max-Age (s) of 5.03 when max_transfers is hit */
    int max_sessions;           /* libcoap idle sessions kept; 0 = libcoap default */
    int session_timeout;        /* s before libcoap frees an idle session */
    int log_rate;               /* request log lines/s; 0 = unlimited */
    int report_fsync;           /* 0 = fsync each report; N = at most every N s */
    int report_max_bytes;       /* report log size past which reports get 5.03; 0 = no cap */
    int report_interval;        /* s between stored reports of one IMEI; 0 = no limit */
    int report_rate;            /* stored reports per minute per address; 0 = no limit */
    char admin[CFG_ADMIN_MAX][CFG_ADDR_MAX]; /* addresses allowed GET /stats */
    int nadmin;
    /* [server] one host's share (issue 18.2) */
    int max_transfers_per_address; /* running transfers per address (IPv6 /64); 0 = no cap */
    char trusted_proxies[CFG_ADMIN_MAX][CFG_ADDR_MAX]; /* exempt from that cap */
    int ntrusted_proxies;
    int verified_reserve;       /* % of max_transfers only coaps:// devices may start */
    int short_grace;            /* s a replaced package stays on /p/<ETag> (issue 13) */
    int short_grace_mib;        /* MiB of replaced packages kept for that */
    /* [dtls] coaps:// with DTLS-PSK (needs [project] psk_secret) */
    char dtls_listen[CFG_LISTEN_MAX][CFG_ADDR_MAX];
    int ndtls_listen;
    int dtls_only;              /* serve coaps:// only: [server] listen is not opened */
    int dtls_max_handshakes;    /* libcoap's cap on handshakes in progress */
    int dtls_per_address;       /* handshakes in progress per source address */
    /* [fleet] who may update now */
    char allowlist[CFG_PATH_MAX]; /* IMEI per line, reloaded on change; "" = none */
    uint32_t rollout_bp;        /* staged rollout in basis points; > 10000 = not set */
    int check_interval;         /* s between checks from one IMEI; 0 = no limit */
    char rollout_file[CFG_PATH_MAX]; /* console's rollout state (server/rollout.h); "" = none */
    /* [admin] HTTP listener: /metrics, /healthz, /stats (server/http.h) */
    char admin_listen[CFG_ADDR_MAX]; /* "host:port"; "" = no listener */
    char admin_token_file[CFG_PATH_MAX]; /* name:token lines (0600); "" = no token */
    int admin_timeout;          /* s of silence before a connection is closed */
    int admin_max_connections;  /* concurrent HTTP connections */
    char admin_audit_log[CFG_PATH_MAX];  /* console changes, JSON lines; "" = not kept */
    char admin_console_dir[CFG_PATH_MAX]; /* the console's page, script, style, icon */
    char admin_javascript_dir[CFG_PATH_MAX]; /* Debian's libjs-* (chart.js) */
    /* Many projects (README "Two projects on one gateway"). Every project is
     * a whole cfg_ota: the server settings of ota.ini with its own
     * [project], [release] and [fleet], so code written for one project
     * works when handed a project's entry. */
    int package_format;         /* [project] package_format, enum cfg_format */
    char projects_dir[CFG_PATH_MAX]; /* [projects] dir; "" = ota.ini's project only */
    char source[CFG_PATH_MAX];  /* the file that defined this project */
    struct cfg_ota *projects;   /* every project sorted by name (owned); NULL = this one */
    size_t nprojects;
    /* [http] the module platform's device API (server/devhttp.h) */
    char http_listen[CFG_ADDR_MAX]; /* "host:port"; "" = no listener */
    int http_timeout;           /* s of silence before a device connection is closed */
    int http_max_connections;   /* concurrent device connections */
    int http_threads;           /* libmicrohttpd threads, each with its own epoll */
    char http_redirect_base[CFG_URL_MAX]; /* need_oss_url=1 -> 302 to base/NAME; "" = off */
};

struct cfg_device {
    char project[VER_PROJECT_MAX];
    char product_key[CFG_KEY_MAX];
    char imei[CFG_IMEI_MAX];
    char device_key[CFG_KEY_MAX]; /* optional serial number, "" if unset */
    struct ver_core core;         /* core the device runs */
    struct ver_script script;     /* script the device runs */
    char server[CFG_URL_MAX];     /* coap://host[:port] */
    uint8_t pubkeys[CFG_PUBKEYS_MAX][CRYPTO_PUB_LEN];
    int npubkeys;
    uint8_t psk[CRYPTO_PSK_LEN]; /* DTLS-PSK key for coaps://, from `ota-cache psk` */
    int has_psk;
    int block_size;
    int window;                   /* max blocks in flight, 1 = strict NSTART=1, 0 = client default */
    int psk_identity_project;     /* psk_identity = project: DTLS identity PROJECT/IMEI */
};

/* Defaults first, then the file. Errors name "file:line". */
enum ota_err cfg_ota_load(const char *path, struct cfg_ota *c, char *msg);
enum ota_err cfg_device_load(const char *path, struct cfg_device *d, char *msg);

/* The same from an open stream; name is used in messages and, through its
 * directory, to resolve relative paths (fuzzers and tests use fmemopen). */
enum ota_err cfg_ota_load_stream(FILE *fp, const char *name, struct cfg_ota *c, char *msg);
enum ota_err cfg_device_load_stream(FILE *fp, const char *name, struct cfg_device *d,
                                    char *msg);

/* Projects of a loaded ota.ini: count, i-th (sorted by name), by name
 * (binary search; NULL if unknown). With no [projects] dir the one
 * project is c itself. */
size_t cfg_project_count(const struct cfg_ota *c);
const struct cfg_ota *cfg_project_at(const struct cfg_ota *c, size_t i);
const struct cfg_ota *cfg_project_find(const struct cfg_ota *c, const char *name);
/* Projects with a psk_secret; the DTLS identity is PROJECT/IMEI when
 * there are several, and may be the bare IMEI when there is one. */
size_t cfg_psk_project_count(const struct cfg_ota *c);
/* Narrow c to one project for a command about one project (`ota-cache
 * -p`): name NULL is allowed only when there is a single project; else
 * OTA_E_INVAL with the names in msg. c's project table is freed. */
enum ota_err cfg_ota_pick(struct cfg_ota *c, const char *name, char *msg);
/* Give c its own copy of the project table (after a struct copy). */
enum ota_err cfg_ota_own(struct cfg_ota *c, char *msg);
/* Free the project table (c stays a valid one-project configuration). */
void cfg_ota_free(struct cfg_ota *c);
/* One project file of a [projects] dir read from a stream over base (the
 * parsed ota.ini): only [project], [release] and [fleet] are allowed;
 * paths are relative to the file's directory. For fuzzers and tests. */
enum ota_err cfg_project_load_stream(FILE *fp, const char *name, const struct cfg_ota *base,
                                     struct cfg_ota *out, char *msg);

/* Rewrite the core = and script_version = lines of device.ini in place
 * (other lines and comments kept), atomically. */
enum ota_err cfg_device_save_versions(const char *path, const struct ver_core *core,
                                      const struct ver_script *script, char *msg);

/* Value checks shared with the server's query parser. */
enum ota_err cfg_check_product_key(const char *s, char *msg);
enum ota_err cfg_check_imei(const char *s, char *msg);
/* "12.5" -> 1250 basis points; 0..100 with at most two decimals; 0 or -1. */
int cfg_percent_bp(const char *v, uint32_t *out);
/* "host:port", "[v6addr]:port" or "host" (port defaults to def_port). */
enum ota_err cfg_split_hostport(const char *s, char *host, size_t hostlen, uint16_t *port,
                                uint16_t def_port, char *msg);
/* The same resolved for bind(): the first address getaddrinfo gives for
 * socktype (SOCK_DGRAM, SOCK_STREAM) into *out, its length in *len;
 * OTA_E_NET naming spec if it does not resolve. */
enum ota_err cfg_resolve(const char *spec, uint16_t def_port, int socktype,
                         struct sockaddr_storage *out, socklen_t *len, char *msg);

#endif
