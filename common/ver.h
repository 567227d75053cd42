/* ver.h - core and script version strings: parse, validate, compare, format.
 *
 * Core versions look like "Luat_V0017_RDA8910": <name>_V<4 digits>_<chip>.
 * Name and chip are [A-Za-z0-9] (no underscore, so a firmware_name can be
 * split from the right); the number is 0..9999. Script versions are
 * "x.y.z", each field 0..99999, compared numerically field by field.
 * Project names are [A-Za-z0-9_-], 1..VER_PROJECT_MAX-1 chars.
 * Every parser checks character set and length before anything else, so a
 * parsed value is always safe to log or to put in a file name.
 */
#ifndef VER_H
#define VER_H

#include "ota.h"

#ifndef VER_PROJECT_MAX
#define VER_PROJECT_MAX 32 /* incl. NUL */
/* A character for a message: 'c' if printable, else \xNN (8 bytes). */
void ver_char_show(char c, char out[8]);

#endif
#ifndef VER_NAME_MAX
#define VER_NAME_MAX 16 /* core name, incl. NUL */
#endif
#ifndef VER_CHIP_MAX
#define VER_CHIP_MAX 16 /* incl. NUL */
#endif
#define VER_CORE_NUMBER_MAX 9999u
#define VER_SCRIPT_FIELD_MAX 99999u
#define VER_CORE_STR_MAX (VER_NAME_MAX + VER_CHIP_MAX + 8)
#define VER_SCRIPT_STR_MAX 20

struct ver_script {
    uint32_t major, minor, patch;
};

struct ver_core {
    char name[VER_NAME_MAX];
    char chip[VER_CHIP_MAX];
    uint32_t number;
};

enum ota_err ver_script_parse(const char *s, struct ver_script *out, char *msg);
int ver_script_cmp(const struct ver_script *a, const struct ver_script *b);
void ver_script_format(const struct ver_script *v, char out[VER_SCRIPT_STR_MAX]);

enum ota_err ver_core_parse(const char *s, struct ver_core *out, char *msg);
void ver_core_format(const struct ver_core *v, char out[VER_CORE_STR_MAX]);
/* Same name and chip (so a delta between them can make sense). */
int ver_core_same_line(const struct ver_core *a, const struct ver_core *b);

/* Parse a decimal core number ("17", "0017"), 0..9999, digits only. */
enum ota_err ver_core_number_parse(const char *s, uint32_t *out, char *msg);

enum ota_err ver_project_check(const char *s, char *msg);
/* A single token of [A-Za-z0-9], as used for core name and chip. */
enum ota_err ver_token_check(const char *what, const char *s, size_t max, char *msg);
/* An identifier of [A-Za-z0-9_-] (projects, product keys). */
enum ota_err ver_ident_check(const char *what, const char *s, size_t max, char *msg);

/* Split a device's firmware_name. The new form "<PROJECT>_<name>_<chip>"
 * leaves core->number 0 and sets *has_number = 0; the older form
 * "<PROJECT>_<name>_V<nnnn>_<chip>" fills the number and sets *has_number.
 * The split runs from the right because project names contain underscores. */
enum ota_err ver_firmware_name_split(const char *s, char project[VER_PROJECT_MAX],
                                     struct ver_core *core, int *has_number, char *msg);

#endif
