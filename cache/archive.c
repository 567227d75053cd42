/* archive.c - the release archive of drops (drop.h, README "Publishing a
 * release drop").
 *
 * <archive_dir>/<project>/core/<Core>-<16 hex>.bin and script/<x.y.z>-<16
 * hex>.bin hold every released image, named by version and the first 16
 * hex digits of their SHA-256, written once (temp, fsync, rename, mode
 * 0444) and never rewritten: a version that comes again with other bytes
 * is refused. release.ini names the current release. ota-server decides
 * "is this core archived" from the same directory listing.
 */
#include "census.h"
#include "drop.h"

#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum ota_err drop_archive_dir(const struct cfg_ota *c, char out[CFG_PATH_MAX], char *msg)
{
    if (snprintf(out, CFG_PATH_MAX, "%s/%s", c->archive_dir, c->project) >= CFG_PATH_MAX)
        return ota_fail(msg, OTA_E_LIMIT, "archive_dir: path too long");
    return OTA_OK;
}

/* First entry of dir named "<stem>-<16 hex>.bin" into name; 0 if none. */
static int drop_archive_lookup(const char *dir, const char *stem, char name[256])
{
    DIR *d = opendir(dir);
    struct dirent *de;
    size_t n = strlen(stem);
    int found = 0;
    if (!d)
        return 0;
    while (!found && (de = readdir(d)) != NULL)
        if (strlen(de->d_name) == n + 21 && !strncmp(de->d_name, stem, n) &&
            de->d_name[n] == '-' && !strcmp(de->d_name + n + 17, ".bin")) {
            ota_strlcpy(name, de->d_name, 256);
            found = 1;
        }
    closedir(d);
    return found;
}

enum ota_err drop_archive_find_core(const struct cfg_ota *c, const struct ver_core *core,
                                    char out[CFG_PATH_MAX], char *msg)
{
    char dir[CFG_PATH_MAX], name[256], stem[VER_CORE_STR_MAX];
    enum ota_err e = drop_archive_dir(c, dir, msg);
    if (e != OTA_OK)
        return e;
    ver_core_format(core, stem);
    snprintf(dir + strlen(dir), CFG_PATH_MAX - strlen(dir), "/core");
    if (!drop_archive_lookup(dir, stem, name))
        return ota_fail(msg, OTA_E_NOTFOUND, "core %s is not archived for %s", stem, c->project);
    if (snprintf(out, CFG_PATH_MAX, "%s/%s", dir, name) >= CFG_PATH_MAX)
        return ota_fail(msg, OTA_E_LIMIT, "archive path too long");
    return OTA_OK;
}

/* Does the file at path hold exactly these bytes? */
static int drop_archive_same(const char *path, const uint8_t hash[CRYPTO_HASH_LEN])
{
    uint8_t *data;
    size_t len;
    uint8_t h[CRYPTO_HASH_LEN];
    if (io_file_read_all(path, PKG_IMAGE_MAX, &data, &len, NULL) != OTA_OK)
        return 0;
    crypto_sha256(data, len, h);
    free(data);
    return !memcmp(h, hash, sizeof h);
}

enum ota_err drop_archive_put(const struct cfg_ota *c, const char *kind, const char *version,
                              const uint8_t *data, size_t len, char rel[DROP_NAME_MAX],
                              char *msg)
{
    char dir[CFG_PATH_MAX], path[CFG_PATH_MAX + 300], name[256], hex[2 * CRYPTO_HASH_LEN + 1];
    uint8_t hash[CRYPTO_HASH_LEN];
    enum ota_err e = drop_archive_dir(c, dir, msg);
    if (e != OTA_OK)
        return e;
    crypto_sha256(data, len, hash);
    ota_hex(hash, sizeof hash, hex);
    snprintf(dir + strlen(dir), CFG_PATH_MAX - strlen(dir), "/%s", kind);
    if (drop_archive_lookup(dir, version, name)) {
        snprintf(path, sizeof path, "%s/%s", dir, name);
        if (strncmp(name + strlen(version) + 1, hex, 16) != 0 || !drop_archive_same(path, hash))
            return ota_fail(msg, OTA_E_AUTH, "%s %s is archived as %s with other bytes (an "
                            "archived version is never replaced)", kind, version, name);
        snprintf(rel, DROP_NAME_MAX, "%s/%s", kind, name);
        return OTA_OK;
    }
    if ((e = io_mkdirs(dir, 0755, msg)) != OTA_OK)
        return e;
    snprintf(name, sizeof name, "%s-%.16s.bin", version, hex);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if ((e = io_file_write_all(path, data, len, 0444, msg)) != OTA_OK)
        return e;
    log_msg(LOG_L_INFO, "archive: %s/%s stored (%zu bytes)", c->project, name, len);
    snprintf(rel, DROP_NAME_MAX, "%s/%s", kind, name);
    return OTA_OK;
}

/* Insert (number, path) keeping out sorted by number. */
static void drop_old_insert(struct cache_old_core *out, int n, uint32_t num, const char *path)
{
    int i = n;
    for (; i > 0 && out[i - 1].number > num; i--)
        out[i] = out[i - 1];
    out[i].number = num;
    out[i].path = path;
}

/* A core "in the field" still gets packages: reported within keep_days,
 * or archived (the file's mtime: archive files are never rewritten) less
 * than keep_days ago. Without a readable census every archived core
 * counts: building a package nobody needs costs less than a device left
 * without one. */
static int drop_core_in_field(const struct cfg_ota *c, const struct census_entry *ce, size_t nce,
                              int have_census, const char *path, const struct ver_core *v)
{
    struct stat st;
    if (!have_census || stat(path, &st) != 0)
        return 1;
    return census_core_in_field(ce, nce, c->project, v, (int64_t)time(NULL),
                                c->census_keep_days, (int64_t)st.st_mtime);
}

enum ota_err drop_archive_old_cores(const struct cfg_ota *c, const struct ver_core *core,
                                    struct cache_old_core *out, int max, int *n, char **block,
                                    char *msg)
{
    char dir[CFG_PATH_MAX];
    struct dirent *de;
    enum ota_err e = drop_archive_dir(c, dir, msg);
    *n = 0;
    *block = NULL;
    if (e != OTA_OK)
        return e;
    snprintf(dir + strlen(dir), CFG_PATH_MAX - strlen(dir), "/core");
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? OTA_OK : ota_fail(msg, OTA_E_IO, "%s: %s", dir, strerror(errno));
    size_t slot = strlen(dir) + 300;
    struct census_entry *ce = NULL;
    size_t nce = 0;
    char cmsg[OTA_MSG_LEN];
    int have_census = c->census_file[0] && census_load(c->census_file, &ce, &nce, cmsg) == OTA_OK;
    if (c->census_file[0] && !have_census)
        log_msg(LOG_L_WARN, "%s; every archived core gets packages", cmsg);
    if (!(*block = calloc((size_t)max, slot)))
        e = ota_fail(msg, OTA_E_NOMEM, "old core list");
    while (e == OTA_OK && (de = readdir(d)) != NULL) {
        struct ver_core v;
        if (!cache_core_file_name(de->d_name, 17, &v) || !drop_core_older(&v, core))
            continue;
        if (*n == max) {
            e = ota_fail(msg, OTA_E_LIMIT, "%s: more than %d old cores", dir, max);
            break;
        }
        char *path = *block + (size_t)*n * slot;
        snprintf(path, slot, "%s/%s", dir, de->d_name);
        if (!drop_core_in_field(c, ce, nce, have_census, path, &v)) {
            log_msg(LOG_L_INFO, "%s: core %s_V%04u_%s not reported for %d days: no package built",
                    c->project, v.name, (unsigned)v.number, v.chip, c->census_keep_days);
            continue;
        }
        drop_old_insert(out, (*n)++, v.number, path);
    }
    census_free(ce);
    closedir(d);
    return e;
}

enum ota_err drop_archive_release(const struct cfg_ota *c, struct drop_release *r, int *found,
                                  char *msg)
{
    char path[CFG_PATH_MAX + 16], detail[OTA_MSG_LEN];
    uint8_t *text;
    size_t len;
    enum ota_err e = drop_archive_dir(c, path, msg);
    *found = 0;
    if (e != OTA_OK)
        return e;
    strncat(path, "/release.ini", sizeof path - strlen(path) - 1);
    if (access(path, F_OK) != 0 && errno == ENOENT)
        return OTA_OK;
    if ((e = io_file_read_all(path, DROP_INI_MAX, &text, &len, detail)) == OTA_OK) {
        e = drop_release_parse((const char *)text, len, r, detail);
        free(text);
    }
    if (e != OTA_OK)
        return ota_fail(msg, e, "%s: %s", path, detail);
    *found = 1;
    return OTA_OK;
}

enum ota_err drop_archive_release_save(const struct cfg_ota *c, const struct drop_release *r,
                                       char *msg)
{
    char path[CFG_PATH_MAX + 16], text[DROP_INI_MAX];
    enum ota_err e = drop_archive_dir(c, path, msg);
    if (e != OTA_OK)
        return e;
    strncat(path, "/release.ini", sizeof path - strlen(path) - 1);
    drop_release_format(r, text, sizeof text);
    return io_file_write_all(path, text, strlen(text), 0644, msg);
}

enum ota_err drop_archive_lock(const struct cfg_ota *c, int *fd, char *msg)
{
    char path[CFG_PATH_MAX + 8];
    enum ota_err e = io_mkdirs(c->archive_dir, 0755, msg);
    if (e != OTA_OK)
        return e;
    snprintf(path, sizeof path, "%s/.lock", c->archive_dir);
    *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (*fd < 0)
        return ota_fail(msg, OTA_E_IO, "%s: %s", path, strerror(errno));
    if (flock(*fd, LOCK_EX) != 0) {
        close(*fd);
        return ota_fail(msg, OTA_E_IO, "lock %s: %s", path, strerror(errno));
    }
    return OTA_OK;
}

void drop_archive_unlock(int fd)
{
    if (fd >= 0)
        close(fd);
}
