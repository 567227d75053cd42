/* port_minimal.h - the smallest complete port of the device library, for
 * a bare MCU: copy port_minimal.[ch] into the firmware, set the layout,
 * replace the three link/clock placeholders (and the two flash ones if
 * the flash is not programmed by plain stores). README: "Porting the
 * device library".
 */
#ifndef PORT_MINIMAL_H
#define PORT_MINIMAL_H

#include "odev.h"

/* Where things are in one memory-mapped flash region (offsets from base):
 * every offset and size a multiple of erase; the journal takes two
 * erase sectors (each at least DJSLOT_LEN, 140 bytes). */
struct minimal_port {
    uint8_t *base;  /* PORT: the flash region as the CPU reads it */
    uint32_t erase; /* PORT: erase-sector size, a power of two (e.g. 4096) */
    uint32_t off[ODEV_AREA__COUNT], size[ODEV_AREA__COUNT];
    uint32_t journal_off;
};

/* PORT: the placeholders to replace (weak defaults in port_minimal.c:
 * the link is down, the clock runs on the calls, the flash is RAM with
 * NOR rules). Return enum odev_err values. */
int minimal_link_send(const uint8_t *buf, size_t len);
int minimal_link_recv(uint8_t *buf, size_t cap, size_t *len, uint32_t wait_ms);
uint32_t minimal_millis(void);
int minimal_flash_program(uint8_t *dst, const uint8_t *src, size_t len);
int minimal_flash_erase(uint8_t *sector, uint32_t len);

/* Fill the port struct and the config's area geometry from the layout. */
void minimal_port_bind(struct minimal_port *m, struct odev_port *p, struct odev_config *c);

#endif
