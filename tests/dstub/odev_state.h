/* odev_state.h stand-in for builds of branch i12-dapply before it has
 * i12-dcore's device/odev_state.h: odev.h includes "odev_state.h" from its
 * own folder first, so the real one wins as soon as it exists and this
 * file (found through -Itests/dstub, last on the include path) is unused. */
#ifndef ODEV_STATE_STUB_H
#define ODEV_STATE_STUB_H
struct odev {
    int unused;
};
#endif
