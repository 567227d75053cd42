/* odev_state.h - the definition of struct odev (see odev.h).
 *
 * Included by odev.h after the port and config types; a port needs it only
 * to declare a struct odev (sizeof is fixed at compile time by
 * ODEV_WINDOW_BITS_MAX, ODEV_BLOCK_MAX and ODEV_INFLIGHT_MAX). Nothing in
 * it is an interface: fields change between versions.
 */
#include "odev.h"

#ifndef ODEV_STATE_H
#define ODEV_STATE_H

#include "coap/dcoap.h"
#include "dl/ddl.h"
#include "journal/djournal.h"
#include "pkg/dpkg.h"

struct odev {
    const struct odev_config *cfg;
    const struct odev_port *port;
    struct djournal j;
    struct odev_image running;
    const char *jwhy;          /* init found a bad record: why (NULL = none) */
    struct odev_result *r;     /* the result of the call in progress */
    uint32_t t0;               /* its start, ms */
    uint8_t refusal;           /* enum odev_reason of a header refusal in this call */
    uint8_t report_fresh;      /* the pending report is this call's (bytes, seconds) */
    uint8_t booted;            /* the boot counter was saved in this boot */
    uint8_t runs;              /* check/update calls since odev_init */
    struct dpkg_header h;
    struct ddl dl;
    struct dpkg_work w;        /* verify / apply memory (the window is here) */
};

#endif
