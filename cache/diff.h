/* diff.h - standalone delta files: `ota-cache diff` and `ota-cache patch`.
 *
 * A patch file is exactly one delta stream (common/DELTA.md): its header
 * carries the old and new sizes and SHA-256s, so a patch is checked against
 * the old file before anything is written and the result is checked
 * against the new hash before it replaces anything. Both functions write
 * their output atomically (io_atomic_*): on any error the destination is
 * left as it was. They never print; main.c reports msg.
 */
#ifndef CACHE_DIFF_H
#define CACHE_DIFF_H

#include "delta.h"

/* Encode new_path against old_path into patch_path. params may be NULL for
 * the defaults. OTA_E_NOTFOUND/OTA_E_IO for unreadable inputs, OTA_E_LIMIT
 * above DELTA_IMAGE_MAX, OTA_E_INVAL for bad params. */
enum ota_err cache_diff_files(const char *old_path, const char *new_path, const char *patch_path,
                              const struct delta_params *params, char *msg);

/* Apply patch_path to old_path, producing new_path. OTA_E_AUTH when old is
 * not the file the patch was made from or the result's hash differs,
 * OTA_E_CORRUPT for a damaged patch. */
enum ota_err cache_patch_files(const char *old_path, const char *patch_path, const char *new_path,
                               char *msg);

#endif
