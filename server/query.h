/* query.h - parse and validate the GET /fota query of a device.
 *
 * The query is the one the module platform's update.lua sends (DESIGN.md
 * section 4), joined by libcoap from the Uri-Query options with '&':
 *
 *   project_key=KEY&imei=IMEI&firmware_name=PROJECT_name_chip
 *   &core_version=17&dfota=1&version=1.0.0[&device_key=SN]
 *
 * or the older form without core_version, where firmware_name carries the
 * core version (PROJECT_name_Vnnnn_chip). Rules, all checked before any
 * value is used:
 * - the whole query is at most SRV_QUERY_MAX bytes and SRV_QUERY_PAIRS_MAX
 *   parameters; every parameter is key=value, no empty parameter;
 * - keys are [A-Za-z0-9_]{1,32}, case-sensitive; a known key twice is an
 *   error; unknown keys are IGNORED (so newer device firmware can add
 *   fields), but their values must still pass the generic checks;
 * - values are never URL-decoded: '%' anywhere is rejected, as are '/',
 *   '\\' and "..", then each value must match its field's character set
 *   and length: project_key and device_key [A-Za-z0-9_-]{1,64}, imei
 *   [0-9]{14,16}, firmware_name [A-Za-z0-9_-]{1,80}, core_version
 *   [0-9]{1,4}, dfota "0" or "1", version x.y.z; unknown keys'
 *   values [A-Za-z0-9._-]{0,64};
 * - device_key may be empty or absent; all other known keys are required,
 *   except core_version when firmware_name has the older form; if both
 *   carry a core number they must agree.
 * Errors: OTA_E_VERSION for a version-shaped field that does not parse
 * (platform code 26), OTA_E_INVAL for everything else (code 3); msg names
 * the field. Pure function: no allocation, no I/O, no global state.
 */
#ifndef SRV_QUERY_H
#define SRV_QUERY_H

#include "cfg.h"
#include "ver.h"

#ifndef SRV_QUERY_MAX
#define SRV_QUERY_MAX 512
#endif
#ifndef SRV_QUERY_PAIRS_MAX
#define SRV_QUERY_PAIRS_MAX 16
#endif
#define SRV_FWNAME_MAX 81 /* firmware_name incl. NUL */

struct srv_query {
    char project_key[CFG_KEY_MAX];
    char imei[CFG_IMEI_MAX];
    char firmware_name[SRV_FWNAME_MAX];
    char device_key[CFG_KEY_MAX]; /* "" if absent */
    char project[VER_PROJECT_MAX]; /* from firmware_name */
    struct ver_core core;          /* name, chip and number of the device's core */
    struct ver_script script;      /* the device's script version */
    int old_form;                  /* firmware_name carried the core number */
    int dfota;                     /* device can apply a core delta */
};

enum ota_err srv_query_parse(const uint8_t *q, size_t len, struct srv_query *out, char *msg);

#endif
