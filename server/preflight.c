/* preflight.c - every file ota.ini names is checked before ota-server
 * listens (server.h, srv_preflight).
 *
 * An operator who starts the server wants the whole list of what is wrong
 * in one go, not one problem per restart, and no "listening on" line for
 * a server that cannot serve: so each check logs its own line and the
 * checks go on. Files are only read, never created or changed (the report
 * log is checked by its mode and its directory's).
 */
#include "server.h"

#include "crypto.h"
#include "fleet.h"
#include "log.h"

#include <errno.h>
#include <libgen.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int srv_problem(const char *what, const char *detail)
{
    log_msg(LOG_L_ERROR, "config: %s: %s", what, detail);
    return 1;
}

static int srv_check_cache_dir(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) != 0)
        return srv_problem("[cache] dir", strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return srv_problem("[cache] dir", "not a directory");
    if (access(dir, R_OK | X_OK) != 0)
        return srv_problem("[cache] dir", strerror(errno));
    return 0;
}

/* Appendable: the file if it exists, else its directory (the server
 * creates it). A character device is accepted too: /dev/null discards
 * reports on purpose, and /dev/full is how the tests play a full disk. */
static int srv_check_report_log(const char *path)
{
    char dir[CFG_PATH_MAX];
    struct stat st;
    if (!path[0])
        return 0;
    if (stat(path, &st) == 0) {
        if (!S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode))
            return srv_problem("[server] report_log", "not a regular file");
        return access(path, W_OK) == 0 ? 0 : srv_problem("[server] report_log", strerror(errno));
    }
    if (errno != ENOENT)
        return srv_problem("[server] report_log", strerror(errno));
    if (ota_strlcpy(dir, path, sizeof dir) != OTA_OK)
        return srv_problem("[server] report_log", "path too long");
    if (access(dirname(dir), W_OK | X_OK) != 0)
        return srv_problem("[server] report_log", strerror(errno));
    return 0;
}

static int srv_check_keys(const struct cfg_ota *cfg)
{
    char msg[OTA_MSG_LEN];
    uint8_t pub[CRYPTO_PUB_LEN], secret[CRYPTO_PSK_SECRET_MAX];
    size_t len = 0;
    int n = 0;
    if (crypto_load_public(cfg->public_key, pub, msg) != OTA_OK)
        n += srv_problem("[server] public_key", msg);
    if (cfg->ndtls_listen && !cfg_psk_project_count(cfg))
        n += srv_problem("[dtls] listen", "needs [project] psk_secret");
    for (size_t i = 0; i < cfg_project_count(cfg); i++) {
        const struct cfg_ota *p = cfg_project_at(cfg, i);
        if (p->psk_secret[0] && crypto_load_psk_secret(p->psk_secret, secret, &len, msg) != OTA_OK)
            n += srv_problem("[project] psk_secret", msg);
    }
    sodium_memzero(secret, sizeof secret);
    return n;
}

static int srv_check_allowlist(const struct cfg_ota *cfg)
{
    char msg[OTA_MSG_LEN];
    struct srv_fleet f;
    int n = 0;
    for (size_t i = 0; i < cfg_project_count(cfg); i++) {
        const struct cfg_ota *p = cfg_project_at(cfg, i);
        if (!p->allowlist[0])
            continue;
        enum ota_err e = srv_fleet_init(&f, p->allowlist, p->rollout_bp, msg);
        srv_fleet_free(&f);
        n += e == OTA_OK ? 0 : srv_problem("[fleet] allowlist", msg);
    }
    return n;
}

enum ota_err srv_preflight(const struct cfg_ota *cfg, char *msg)
{
    int n = srv_check_cache_dir(cfg->cache_dir) + srv_check_keys(cfg) +
            srv_check_report_log(cfg->report_log) + srv_check_allowlist(cfg);
    if (n)
        return ota_fail(msg, OTA_E_INVAL, "%d problem(s) with files ota.ini names (logged above)",
                        n);
    return OTA_OK;
}
