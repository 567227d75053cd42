/* flash.h - the simulated flash of one device: a state directory.
 *
 *   device.ini     identity, versions, server, public keys (cfg.h)
 *   core.bin       core slot (the running core image)
 *   script.bin     script slot (the running script image)
 *   download.part  download area while a package is arriving
 *   download.pkg   download area once the package is complete
 *   core.new       staging slot for the new core (complete once it exists)
 *   script.new     staging slot for the new script (complete once it exists)
 *   journal        phase record (journal.h)
 *   report.pending result report not yet delivered to the server (JSON)
 *   staging        the library's staging area (lport.h): new core + script
 *
 * The rule that keeps a device bootable: a file under a final name is
 * always complete. Staging files and download.pkg appear by rename after
 * fsync; download.part is the only file ever written in place, and the
 * journal says how much of it is durable. Slots are installed by renaming
 * a staging file over them, then fsyncing the directory.
 */
#ifndef FLASH_H
#define FLASH_H

#include "dev.h"
#include "io.h"

enum dev_file {
    DEV_F_INI = 0,
    DEV_F_CORE,
    DEV_F_SCRIPT,
    DEV_F_PART,
    DEV_F_PKG,
    DEV_F_CORE_NEW,
    DEV_F_SCRIPT_NEW,
    DEV_F_JOURNAL,
    DEV_F_REPORT,
    DEV_F_STAGING,
    DEV_F__COUNT
};

struct dev_flash {
    char path[DEV_F__COUNT][DEV_PATH_MAX];
    int part_fd; /* download.part while open, else -1 */
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

/* Open download.part keeping exactly the first *keep bytes; if the file is
 * shorter than that, *keep becomes 0 and it starts over. */
enum ota_err dev_part_open(struct dev_flash *f, uint64_t *keep, char *msg);
enum ota_err dev_part_write(struct dev_flash *f, uint64_t off, const void *buf, size_t len,
                            char *msg);
/* Read back len bytes at off (short file = OTA_E_IO). */
enum ota_err dev_part_read(struct dev_flash *f, uint64_t off, void *buf, size_t len, char *msg);
/* Make everything written so far durable (before the journal claims it). */
enum ota_err dev_part_sync(struct dev_flash *f, char *msg);
/* fsync, close, rename download.part -> download.pkg, fsync the directory. */
enum ota_err dev_part_finish(struct dev_flash *f, char *msg);
void dev_part_close(struct dev_flash *f);

/* Remove a file (a missing one is fine) and make the removal durable. */
enum ota_err dev_flash_remove(struct dev_flash *f, enum dev_file which, char *msg);
/* Rename staging over a slot durably; OTA_E_NOTFOUND if from is missing. */
enum ota_err dev_flash_install(struct dev_flash *f, enum dev_file from, enum dev_file to,
                               char *msg);
int dev_flash_exists(const struct dev_flash *f, enum dev_file which);
/* Remove leftovers of writers killed before their rename ("*.tmp.<pid>"). */
void dev_flash_sweep_temps(struct dev_flash *f);

#endif
