/* flash.h - the files of one device's state directory (the Linux port's
 * flash; lport.h maps the library's areas onto them).
 *
 *   device.ini     identity, versions, server, public keys (cfg.h)
 *   core.bin       core slot (the running core image)
 *   script.bin     script slot (the running script image)
 *   download.part  DOWNLOAD area while a package is arriving
 *   download.pkg   DOWNLOAD area once the package is complete
 *   staging        STAGING area: the new core and script back to back
 *   journal        the device library's 128-byte phase record (djournal.h)
 *   core.new, script.new, report.pending  left by an ota-client before
 *                  issue 12 (its staging files and pending report): read
 *                  once to finish its commit, then deleted (lport.c)
 *
 * The rule that keeps a device bootable: a file under a final name is
 * always complete. download.pkg and the slots appear by rename after
 * fsync; download.part and staging are written in place, and the journal
 * says how much of them counts.
 */
#ifndef FLASH_H
#define FLASH_H

#include "io.h"
#include "ota.h"

#define DEV_PATH_MAX 1024

enum dev_file {
    DEV_F_INI = 0,
    DEV_F_CORE,
    DEV_F_SCRIPT,
    DEV_F_PART,
    DEV_F_PKG,
    DEV_F_JOURNAL,
    DEV_F_STAGING,
    /* an ota-client before issue 12 staged here (lport.c finishes its commit) */
    DEV_F_OLD_CORE,
    DEV_F_OLD_SCRIPT,
    DEV_F_OLD_REPORT,
    DEV_F__COUNT
};

struct dev_flash {
    char path[DEV_F__COUNT][DEV_PATH_MAX];
    int lock_fd; /* the directory, flock'ed while open */
    /* Called before every durable step (tests cut the power there). */
    void (*step)(void *ctx);
    void *step_ctx;
};

/* Announce a durable step to the hook, if any. */
void dev_flash_step(const struct dev_flash *f);

/* Fails with OTA_E_NOTFOUND if dir is not a directory, OTA_E_STATE if
 * another process holds it. dev_flash_close releases it. */
enum ota_err dev_flash_open(struct dev_flash *f, const char *dir, char *msg);
void dev_flash_close(struct dev_flash *f);
const char *dev_flash_path(const struct dev_flash *f, enum dev_file which);

/* Remove a file (a missing one is fine) and make the removal durable. */
enum ota_err dev_flash_remove(struct dev_flash *f, enum dev_file which, char *msg);
/* Rename from over to durably; OTA_E_NOTFOUND if from is missing. */
enum ota_err dev_flash_install(struct dev_flash *f, enum dev_file from, enum dev_file to,
                               char *msg);
int dev_flash_exists(const struct dev_flash *f, enum dev_file which);
/* Remove leftovers of writers killed before their rename ("*.tmp.<pid>"). */
void dev_flash_sweep_temps(struct dev_flash *f);

#endif
