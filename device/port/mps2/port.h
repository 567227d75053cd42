/* port.h - the odev_port of the mps2 firmware: datagrams through the
 * BC95-style modem on UART0, the SysTick clock, the emulated NOR flash,
 * log lines on the console UART. */
#ifndef PORT_H
#define PORT_H

#include "bc95.h"
#include "nor.h"
#include "odev.h"

struct mps2_port {
    struct nor nor;
    struct bc95 modem;
};

/* Fill op with the port's functions (ctx = p); p->nor must be set. */
void mps2_port_bind(struct mps2_port *p, struct odev_port *op);
/* Open the modem's socket towards ip:port. */
int mps2_port_connect(struct mps2_port *p, const char *ip, uint16_t port);

#endif
