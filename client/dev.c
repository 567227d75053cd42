/* dev.c - ota-client's glue to the device library (see dev.h).
 *
 * One run: lock the state directory (lport_open), fill struct odev_config
 * from device.ini and the options, odev_init (loads the journal), then
 * odev_recover and, for check/update, the entry point; the odev_result
 * becomes a dev_result. The library's state lives in one static struct
 * odev (its size is fixed at compile time; tens of KB at window_bits 15,
 * too much for a stack frame).
 *
 * Sections: configuration; statistics for the log; results; entry points
 * and the exit-code table.
 */
#include "dev.h"

#include "crypto.h"
#include "log.h"

#include <string.h>
#include <sys/stat.h>
#include <time.h>

struct dev_run {
    struct lport port;
    struct odev_config cfg;
    struct timespec t0;
};

static struct odev dev_state;

/* --- configuration --------------------------------------------------------- */

static enum ota_err dev_copy(char *dst, size_t n, const char *src, const char *what, char *msg)
{
    if (ota_strlcpy(dst, src, n) != OTA_OK)
        return ota_fail(msg, OTA_E_LIMIT, "device.ini: %s longer than the device library takes "
                        "(%zu bytes)", what, n - 1);
    return OTA_OK;
}

static uint32_t dev_file_len(const struct lport *p, enum dev_file f)
{
    struct stat st;
    return stat(dev_flash_path(&p->flash, f), &st) == 0 ? (uint32_t)st.st_size : 0;
}

/* block_size 16..1024, a power of two (cfg.c checked it): SZX 0..6. */
static unsigned dev_szx(int block_size)
{
    unsigned szx = 0;
    while (szx < 6 && (16 << szx) < block_size)
        szx++;
    return szx;
}

static int dev_window(const struct dev_opts *o, const struct cfg_device *d)
{
    int w = o->window ? o->window : d->window ? d->window : DEV_WINDOW_DEFAULT;
    return w > ODEV_INFLIGHT_MAX ? ODEV_INFLIGHT_MAX : w;
}

static enum ota_err dev_image(struct odev_image *img, const struct cfg_device *d,
                              const struct lport *p, char *msg)
{
    enum ota_err e = dev_copy(img->core_name, sizeof img->core_name, d->core.name, "core name", msg);
    if (e == OTA_OK)
        e = dev_copy(img->chip, sizeof img->chip, d->core.chip, "core chip", msg);
    img->core = d->core.number;
    img->script[0] = d->script.major;
    img->script[1] = d->script.minor;
    img->script[2] = d->script.patch;
    img->core_len = dev_file_len(p, DEV_F_CORE);
    img->script_len = dev_file_len(p, DEV_F_SCRIPT);
    return e;
}

static enum ota_err dev_config(struct dev_run *run, const struct dev_opts *o,
                               const struct cfg_device *d, char *msg)
{
    struct odev_config *c = &run->cfg;
    memset(c, 0, sizeof *c);
    enum ota_err e = dev_copy(c->project, sizeof c->project, d->project, "project", msg);
    if (e == OTA_OK)
        e = dev_copy(c->product_key, sizeof c->product_key, d->product_key, "product_key", msg);
    if (e == OTA_OK)
        e = dev_copy(c->imei, sizeof c->imei, d->imei, "imei", msg);
    if (e == OTA_OK)
        e = dev_copy(c->device_key, sizeof c->device_key, d->device_key, "device_key", msg);
    if (e == OTA_OK)
        e = dev_image(&c->factory, d, &run->port, msg);
    if (e == OTA_OK && d->npubkeys > ODEV_PUBKEYS_MAX)
        e = ota_fail(msg, OTA_E_LIMIT, "device.ini: %d public keys, the device library takes %d",
                     d->npubkeys, ODEV_PUBKEYS_MAX);
    if (e != OTA_OK)
        return e;
    memcpy(c->pubkeys, d->pubkeys, (size_t)d->npubkeys * ODEV_PUBKEY_LEN);
    c->npubkeys = d->npubkeys;
    c->szx = dev_szx(d->block_size ? d->block_size : DEV_BLOCK_DEFAULT);
    c->window = dev_window(o, d);
    c->block_timeout_ms = (uint32_t)((o->timeout_s > 0 ? o->timeout_s : DEV_TIMEOUT_DEFAULT_S) * 1000);
    c->max_wait_ms = (uint32_t)(o->max_wait_s * 1000);
    c->fota_only = o->fota_only;
    lport_geometry(c);
    return OTA_OK;
}

static enum ota_err dev_lib_err(enum odev_err e, const char *what, const struct lport *p, char *msg)
{
    static const enum ota_err map[] = {
        [ODEV_OK] = OTA_OK,           [ODEV_E_IO] = OTA_E_IO,       [ODEV_E_CORRUPT] = OTA_E_CORRUPT,
        [ODEV_E_LIMIT] = OTA_E_LIMIT, [ODEV_E_AUTH] = OTA_E_AUTH,   [ODEV_E_INVAL] = OTA_E_INVAL,
        [ODEV_E_NOTFOUND] = OTA_E_NOTFOUND, [ODEV_E_TIMEOUT] = OTA_E_NET, [ODEV_E_NET] = OTA_E_NET,
        [ODEV_E_STATE] = OTA_E_STATE,
    };
    if (e == ODEV_OK)
        return OTA_OK;
    /* the port's words are more precise than the library's (which file,
     * which errno, what the link saw) */
    return ota_fail(msg, (unsigned)e <= ODEV_E_STATE ? map[e] : OTA_E_STATE, "%s%s%s", what,
                    p->why[0] ? ": " : "", p->why);
}

/* The library's lines are short fixed texts (no formatting on a device).
 * The events an operator (and the e2e tests) read for their numbers are
 * worded here as ota-client always did, with the numbers odev_progress
 * gives at the moment the library logs them; the rest go out as they are. */
static void dev_log(void *ctx, enum odev_log_level level, enum odev_event ev, const char *msg)
{
    struct odev_progress p;
    odev_progress(&dev_state, &p);
    switch (ev) {
    case ODEV_EV_RESUME:
        log_msg(LOG_L_INFO, "download: resuming at byte %lu of %lu", (unsigned long)p.at,
                (unsigned long)p.size);
        break;
    case ODEV_EV_SMALLER_BLOCKS:
        log_msg(LOG_L_INFO, "download: server answers in %lu-byte blocks, not %lu, from byte %lu",
                (unsigned long)p.block, (unsigned long)p.block_was, (unsigned long)p.at);
        break;
    case ODEV_EV_PKG_CHANGED:
        log_msg(LOG_L_INFO, "download: the package changed during the download, restarting "
                "from 0");
        break;
    case ODEV_EV_PROBE_402:
        log_msg(LOG_L_INFO, "download: 4.02 for block %lu: asking block 0 whether the package "
                "changed", (unsigned long)p.block_num);
        break;
    default:
        lport_log(ctx, level, ev, msg);
    }
}

static enum ota_err dev_begin(struct dev_run *run, const struct dev_opts *o,
                              const struct cfg_device *d, int link, char *msg)
{
    const char *url = o->server ? o->server : d->server;
    char host[CFG_URL_MAX];
    uint16_t port;
    int secure;
    double hs = o->timeout_s > 0 ? o->timeout_s : DEV_TIMEOUT_DEFAULT_S;
    clock_gettime(CLOCK_MONOTONIC, &run->t0);
    /* a bad URL is device.ini's fault (exit 1), found before any I/O */
    enum ota_err e = link ? dgram_url(url, host, sizeof host, &port, &secure, msg) : OTA_OK;
    if (e == OTA_OK)
        e = crypto_init(msg); /* libsodium, the port's signature backend */
    if (e == OTA_OK && link && secure && !d->has_psk)
        e = ota_fail(msg, OTA_E_INVAL, "server URL %s: coaps:// needs psk in device.ini", url);
    if (e == OTA_OK)
        e = lport_open(&run->port, o->state_dir, d, url, (uint32_t)(hs * 1000), o->step,
                       o->step_ctx, msg);
    if (e != OTA_OK)
        return e;
    run->port.progress = o->progress;
    run->port.port.log = dev_log;
    run->port.progress_ctx = o->progress_ctx;
    e = dev_config(run, o, d, msg);
    if (e == OTA_OK)
        e = dev_lib_err(odev_init(&dev_state, &run->cfg, &run->port.port), "journal", &run->port,
                        msg);
    if (e != OTA_OK)
        lport_close(&run->port);
    return e;
}

/* --- statistics for the log --------------------------------------------------- */

static void dev_log_download(void)
{
    struct odev_link_stats w;
    odev_link_stats(&dev_state, &w);
    if (!w.sent)
        return;
    log_msg(LOG_L_INFO, "download: window max %d peak %.1f end %.1f, %lu requests, %lu resent "
            "(%lu overtaken, %lu timeouts), %lu cuts, %lu duplicate answers, %lu busy, rtt min "
            "%.0f srtt %.0f ms", w.window_max, w.cwnd_peak / 256.0, w.cwnd / 256.0,
            (unsigned long)w.sent, (unsigned long)w.retx, (unsigned long)w.fast,
            (unsigned long)w.timeouts, (unsigned long)w.cuts, (unsigned long)w.dups,
            (unsigned long)w.busy, w.rtt_min / 8.0, w.srtt / 8.0);
}

/* --- results ------------------------------------------------------------------ */

static void dev_versions(const struct odev_image *img, struct ver_core *c, struct ver_script *s)
{
    memset(c, 0, sizeof *c);
    ota_strlcpy(c->name, img->core_name, sizeof c->name);
    ota_strlcpy(c->chip, img->chip, sizeof c->chip);
    c->number = img->core;
    s->major = img->script[0];
    s->minor = img->script[1];
    s->patch = img->script[2];
}

static void dev_result_from(struct dev_run *run, const struct odev_result *lr, struct dev_result *r)
{
    struct timespec t;
    memset(r, 0, sizeof *r);
    r->status = (enum dev_status)lr->status;
    r->coap_code = lr->coap_code;
    r->srv_code = lr->srv_code;
    dev_versions(&lr->from, &r->from_core, &r->from_script);
    dev_versions(&lr->to, &r->to_core, &r->to_script);
    r->core_changed = lr->to.core != lr->from.core;
    r->script_changed = memcmp(lr->to.script, lr->from.script, sizeof lr->to.script) != 0;
    r->target_known = r->core_changed || r->script_changed;
    r->pkg_size = lr->pkg_size;
    r->bytes = lr->bytes;
    r->retx = lr->retx;
    clock_gettime(CLOCK_MONOTONIC, &t);
    r->seconds = (double)(t.tv_sec - run->t0.tv_sec) + (double)(t.tv_nsec - run->t0.tv_nsec) / 1e9;
}

/* The failure's text: the link's own words for a network failure (which
 * ICMP error, which DTLS step), else the library's reason. */
static enum ota_err dev_outcome(struct dev_run *run, enum odev_err e, const struct odev_result *lr,
                                char *msg)
{
    if (e == ODEV_OK && (lr->status == ODEV_S_UPDATED || lr->status == ODEV_S_AVAILABLE ||
                         lr->status == ODEV_S_NO_UPDATE))
        return OTA_OK;
    if (lr->status == ODEV_S_NET && run->port.why[0])
        return ota_fail(msg, OTA_E_NET, "%s", run->port.why);
    if (lr->status == ODEV_S_LOCAL && run->port.why[0])
        return ota_fail(msg, OTA_E_IO, "%s%s%s", lr->reason ? lr->reason : "",
                        lr->reason && lr->reason[0] ? ": " : "", run->port.why);
    if (lr->status == ODEV_S_VERIFY && lr->refusal == ODEV_R_KEY)
        return ota_fail(msg, OTA_E_AUTH, "package signed by a key that is not among the device's "
                        "%d public key(s)", run->cfg.npubkeys);
    if (lr->coap_code && lr->status == ODEV_S_REJECTED)
        return ota_fail(msg, OTA_E_NET, "server answered %u.%02u (code %d)%s%s", lr->coap_code / 100,
                        lr->coap_code % 100, lr->srv_code, lr->reason && lr->reason[0] ? ": " : "",
                        lr->reason ? lr->reason : "");
    return ota_fail(msg, e == ODEV_OK ? OTA_E_STATE : OTA_E_NET, "%s",
                    lr->reason && lr->reason[0] ? lr->reason : "(no detail)");
}

/* --- entry points --------------------------------------------------------------- */

typedef enum odev_err (*dev_entry)(struct odev *d, struct odev_result *r);

static enum ota_err dev_run_one(const struct dev_opts *o, const struct cfg_device *d,
                                struct dev_result *r, dev_entry entry, enum lport_phase ph,
                                char *msg)
{
    struct dev_run run;
    struct odev_result lr;
    memset(&lr, 0, sizeof lr);
    memset(r, 0, sizeof *r);
    r->srv_code = -1;
    enum ota_err e = dev_begin(&run, o, d, 1, msg);
    if (e != OTA_OK) {
        r->status = e == OTA_E_NET ? DEV_S_NET : DEV_S_LOCAL;
        return e;
    }
    lport_phase(&run.port, ph, 0);
    enum odev_err le = entry(&dev_state, &lr);
    lport_phase(&run.port, LPORT_P_REPORT, 0);
    dev_log_download();
    dev_result_from(&run, &lr, r);
    e = dev_outcome(&run, le, &lr, msg);
    lport_close(&run.port);
    return e;
}

enum ota_err dev_check(const struct dev_opts *o, const struct cfg_device *d,
                       struct dev_result *r, char *msg)
{
    return dev_run_one(o, d, r, odev_check, LPORT_P_CHECK, msg);
}

enum ota_err dev_update(const struct dev_opts *o, const struct cfg_device *d,
                        struct dev_result *r, char *msg)
{
    return dev_run_one(o, d, r, odev_update, LPORT_P_CHECK, msg);
}

enum ota_err dev_recover(const struct dev_opts *o, const struct cfg_device *d, char *msg)
{
    struct dev_run run;
    enum ota_err e = dev_begin(&run, o, d, 0, msg);
    if (e != OTA_OK)
        return e;
    e = dev_lib_err(odev_recover(&dev_state), "recover", &run.port, msg);
    lport_close(&run.port);
    return e;
}

int dev_exit_code(enum dev_status s)
{
    switch (s) {
    case DEV_S_UPDATED:
    case DEV_S_AVAILABLE:
        return DEV_EXIT_OK;
    case DEV_S_NO_UPDATE:
        return DEV_EXIT_NO_UPDATE;
    case DEV_S_REJECTED:
        return DEV_EXIT_REJECTED;
    case DEV_S_VERIFY:
        return DEV_EXIT_VERIFY;
    case DEV_S_NET:
        return DEV_EXIT_NET;
    default:
        return DEV_EXIT_LOCAL;
    }
}

const char *dev_status_phrase(enum dev_status s)
{
    return odev_status_phrase((enum odev_status)s);
}
