/* prov.h - the device's provisioning record (identity, keys, factory
 * images, server), as the factory would write it into the first flash
 * sector: "key=value" lines, ended by the end of the sector, a NUL or an
 * erased (0xFF) byte; '#' starts a comment line. Keys (a later line
 * wins, except pubkey which adds a key; unknown keys are refused so a typo
 * does not go unnoticed):
 *   project, product_key, imei, device_key (optional)
 *   core_name (e.g. Luat), chip (RDA8910), core (17), script (1.0.0)
 *   core_len, script_len  bytes of the factory images in their slots
 *   pubkey                64 hex digits, up to ODEV_PUBKEYS_MAX times
 *   server                127.0.0.1:PORT, where datagrams go
 *   szx, window           block size 16<<szx (default 6), blocks in flight
 *   flash_out             host file (semihosting) the flash is written
 *                         to at power-off; "" = none
 *   cut_at                test hook: power fails during flash operation
 *                         N of this boot (nor.h); 0 = never
 */
#ifndef PROV_H
#define PROV_H

#include <stddef.h>
#include <stdint.h>

#include "odev.h"

#define PROV_PATH_MAX 64

struct prov {
    struct odev_config cfg;
    char server_ip[16];
    uint16_t server_port;
    char flash_out[PROV_PATH_MAX];
    uint32_t cut_at;
};

/* ODEV_OK, or ODEV_E_CORRUPT / ODEV_E_LIMIT with *why naming the problem. */
int prov_parse(const char *text, size_t len, struct prov *p, const char **why);

#endif
