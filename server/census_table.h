/* census_table.h - ota-server's census: which (core, script) pairs devices run.
 *
 * Every update check that passed the product-key check (fota.c) counts
 * once for its (project, core, script): count, first and last seen. The
 * table is bounded ([census] max_pairs over all projects): a new pair
 * that finds it full is not added and is counted in `dropped`; pairs
 * nobody reported for keep_days are removed before each save, which
 * frees room. The table is loaded from [census] file at start and saved
 * atomically (common/census.h) from the loop tick every save_interval
 * seconds when it changed, at SIGHUP and at a clean stop; never from a
 * request. Each pair also carries the state of its on-demand build
 * (ondemand.h), so "one build request per pair" needs no second table.
 * Lookups are O(1): open addressing over a keyed hash (SipHash) of the
 * pair, so devices cannot aim collisions at one slot. Runs on the CoAP
 * thread only (like the index).
 */
#ifndef SRV_CENSUS_H
#define SRV_CENSUS_H

#include "census.h"
#include "cfg.h"

enum srv_build_state {
    SRV_BUILD_NONE = 0, /* nothing asked */
    SRV_BUILD_ASKED,    /* a request file is in the spool */
    SRV_BUILD_DONE,     /* the builder removed the request: packages should come */
    SRV_BUILD_FAILED,   /* the builder renamed it .failed, or it cannot be written */
};

struct srv_census_pair {
    struct census_entry e;
    uint8_t build;            /* enum srv_build_state */
    uint64_t build_ms;        /* last change or recheck of build */
    uint32_t target_core;     /* the release the build was asked for */
    struct ver_script target_script;
};

struct srv_census {
    struct srv_census_pair *pairs;
    size_t n, max;
    uint32_t *slots;          /* pair index + 1; 0 = empty */
    size_t nslots;            /* power of two, >= 2 * max */
    unsigned char seed[16];
    int dirty;                /* changed since the last save */
    uint64_t dropped;         /* checks of new pairs that found the table full */
    uint64_t saved_ms;        /* last save (monotonic) */
};

enum ota_err srv_census_init(struct srv_census *c, size_t max_pairs, char *msg);
void srv_census_free(struct srv_census *c);

/* Load path into an empty table. A missing file is an empty census. On a
 * corrupt file the table stays empty and the error names path:line. More
 * entries than max: the most recently seen are kept (the rest counted in
 * dropped). */
enum ota_err srv_census_load(struct srv_census *c, const char *path, char *msg);
/* Remove pairs last seen more than keep_days before now_s (0 = keep all),
 * then write the table to path atomically; clears dirty. */
enum ota_err srv_census_save(struct srv_census *c, const char *path, int keep_days,
                             int64_t now_s, char *msg);

/* Count one check; the pair, or NULL if it is new and the table is full. */
struct srv_census_pair *srv_census_count(struct srv_census *c, const char *project,
                                         const struct ver_core *core,
                                         const struct ver_script *script, int64_t now_s);

/* Start-up: a table of cfg->census_max_pairs loaded from cfg->census_file
 * (none: memory only). A corrupt or unreadable file is moved aside to
 * FILE.bad and the census starts empty with a warning: counting from zero
 * is better than a gateway that does not serve. Fails only for memory. */
enum ota_err srv_census_open(struct srv_census *c, const struct cfg_ota *cfg, char *msg);
/* Save if changed and save_interval has passed since the last save, or
 * now if force (SIGHUP, stop). Errors are logged; the table is kept. */
void srv_census_flush(struct srv_census *c, const struct cfg_ota *cfg, uint64_t now_ms,
                      int force);

/* Forget every build state (SIGHUP: the operator may have fixed a build). */
void srv_census_builds_reset(struct srv_census *c);

#endif
