/* odev.c - the device's update flow: recover, check, download, verify,
 * apply, commit, report (see odev.h). The behaviour of client/dev.c on
 * flash areas instead of files.
 *
 * Durable order, each step recorded in the journal before the next:
 *   downloading/downloaded (ddl) -> applying: STAGING written (core at 0,
 *   script at the next erase-block boundary) and synced -> committing
 *   (new images, slots, the success report pending, "from" versions) ->
 *   install each slot (port->install, or erase + copy STAGING over it)
 *   -> installed hook -> committed -> idle (report still pending) -> POST
 *   /report, then the flag is cleared.
 * A cut anywhere leaves complete old slots (before committing: STAGING is
 * simply rewritten by the next apply) or a commit that recovery redoes
 * from the start (copying is idempotent). A package refused by its header,
 * signature or hashes is dropped (journal idle, its failure report
 * pending); the old images stay.
 *
 * Sections: helpers; area reader/writer for dpkg; recovery and commit;
 * header checks; verify and apply; report; entry points.
 */
#include "odev.h"

#include "crypto/dsha256.h"
#include "dhex.h"

#include <string.h>

/* Result codes of the report, as ota-client's exit codes (client/dev.h). */
enum { ODEV_RC_OK = 0, ODEV_RC_LOCAL, ODEV_RC_NO_UPDATE, ODEV_RC_REJECTED, ODEV_RC_VERIFY,
       ODEV_RC_NET };
#define ODEV_REPORT_MAX 384

/* --- helpers ------------------------------------------------------------- */

static void odev_log(const struct odev *d, enum odev_log_level l, const char *msg)
{
    if (d->port->log)
        d->port->log(d->port->ctx, l, ODEV_EV_TEXT, msg);
}

static enum odev_err odev_fail(struct odev *d, enum odev_err e, const char *why)
{
    if (d->r && (!d->r->reason || !d->r->reason[0]))
        d->r->reason = why;
    return e;
}

static enum odev_err odev_journal_save(struct odev *d, uint8_t phase)
{
    uint8_t rec[ODEV_JOURNAL_LEN];
    d->j.phase = phase;
    djournal_encode(&d->j, rec);
    if (d->port->journal_save(d->port->ctx, rec) != ODEV_OK)
        return odev_fail(d, ODEV_E_IO, "journal save failed");
    return ODEV_OK;
}

static uint32_t odev_erase_size(const struct odev *d, enum odev_area a)
{
    uint32_t e = d->cfg->area[a].erase;
    return e ? e : 1;
}

static uint32_t odev_round_up(uint32_t v, uint32_t e)
{
    return (v + e - 1) & ~(e - 1);
}

static int odev_has_core(const struct dpkg_header *h)
{
    return (h->flags & (DPKG_F_CORE_DELTA | DPKG_F_CORE_FULL)) != 0;
}

/* The idle record: the running images, any report still pending. */
static void odev_idle_record(struct odev *d)
{
    memset(&d->j, 0, offsetof(struct djournal, flags));
    d->j.img = d->running;
    d->j.flags = (uint8_t)((d->j.flags & DJ_F_REPORT) | DJ_F_IMAGES);
}

static enum odev_err odev_discard(struct odev *d)
{
    odev_idle_record(d);
    return odev_journal_save(d, DJ_IDLE);
}

/* --- areas as dpkg readers and writers ----------------------------------- */

struct odev_area_io {
    struct odev *d;
    enum odev_area a;
    uint32_t base, off, erased; /* writer: start, bytes programmed, erased up to (relative) */
    uint32_t cap;
    uint32_t fill; /* writer: bytes waiting in the page buffer */
};

static int odev_area_read(void *ctx, uint32_t off, void *buf, size_t len)
{
    struct odev_area_io *io = ctx;
    if (off > io->cap || len > io->cap - off)
        return ODEV_E_LIMIT;
    return io->d->port->read(io->d->port->ctx, io->a, io->base + off, buf, len);
}

/* The writer's page buffer: the request buffer of the link, idle from the
 * end of the download to the report (and at boot, before any request). */
#define ODEV_PAGE DDL_TX_MAX

/* Program what waits in the page buffer; each erase block is erased
 * before its first byte. Call before syncing the area. */
static int odev_area_flush(struct odev_area_io *io)
{
    const struct odev_port *p = io->d->port;
    uint32_t e = odev_erase_size(io->d, io->a), n = io->fill;
    if (n == 0)
        return ODEV_OK;
    if (io->off + n > io->erased && e > 1) {
        uint32_t end = odev_round_up(io->off + n, e);
        if (p->erase(p->ctx, io->a, io->base + io->erased, end - io->erased) != ODEV_OK)
            return ODEV_E_IO;
        io->erased = end;
    }
    io->fill = 0;
    int rc = p->write(p->ctx, io->a, io->base + io->off, io->d->dl.tx, n);
    io->off += n;
    return rc;
}

/* Sequential writes, gathered into whole pages: the delta decoder emits
 * record-sized pieces (about 10 bytes on average), and a flash program
 * costs its setup time whatever its length. */
static int odev_area_write(void *ctx, const void *buf, size_t len)
{
    struct odev_area_io *io = ctx;
    const uint8_t *src = buf;
    if (len > io->cap - io->off - io->fill)
        return ODEV_E_LIMIT;
    while (len > 0) {
        size_t n = ODEV_PAGE - io->fill < len ? ODEV_PAGE - io->fill : len;
        memcpy(io->d->dl.tx + io->fill, src, n);
        io->fill += (uint32_t)n;
        src += n;
        len -= n;
        int rc = io->fill == ODEV_PAGE ? odev_area_flush(io) : ODEV_OK;
        if (rc != ODEV_OK)
            return rc;
    }
    return ODEV_OK;
}

static void odev_area_open(struct odev_area_io *io, struct odev *d, enum odev_area a,
                           uint32_t base, uint32_t cap)
{
    memset(io, 0, sizeof *io);
    io->d = d;
    io->a = a;
    io->base = base;
    io->cap = cap;
}

/* --- recovery and commit --------------------------------------------------- */

/* Copy len bytes of STAGING at off over slot; the datagram receive buffer
 * is idle during a commit and serves as the copy buffer. */
static enum odev_err odev_copy_slot(struct odev *d, enum odev_area slot, uint32_t off,
                                    uint32_t len)
{
    const struct odev_port *p = d->port;
    struct odev_area_io out;
    uint8_t *buf = d->dl.rx;
    if (len > d->cfg->area[slot].size)
        return odev_fail(d, ODEV_E_LIMIT, "image too large");
    odev_area_open(&out, d, slot, 0, d->cfg->area[slot].size);
    for (uint32_t done = 0; done < len;) {
        uint32_t n = len - done < sizeof d->dl.rx ? len - done : (uint32_t)sizeof d->dl.rx;
        if (p->read(p->ctx, ODEV_AREA_STAGING, off + done, buf, n) != ODEV_OK ||
            odev_area_write(&out, buf, n) != ODEV_OK)
            return odev_fail(d, ODEV_E_IO, "flash write failed");
        done += n;
    }
    if (odev_area_flush(&out) != ODEV_OK)
        return odev_fail(d, ODEV_E_IO, "flash write failed");
    if (p->sync(p->ctx, slot) != ODEV_OK)
        return odev_fail(d, ODEV_E_IO, "sync failed");
    return ODEV_OK;
}

static enum odev_err odev_install_slot(struct odev *d, enum odev_area slot, uint32_t off,
                                       uint32_t len)
{
    if (d->port->install)
        return d->port->install(d->port->ctx, slot, off, len) == ODEV_OK
                   ? ODEV_OK
                   : odev_fail(d, ODEV_E_IO, "install failed");
    return odev_copy_slot(d, slot, off, len);
}

static uint32_t odev_script_offset(const struct odev *d, uint32_t core_len)
{
    return odev_round_up(core_len, odev_erase_size(d, ODEV_AREA_STAGING));
}

/* Idempotent: redone from the start after a cut at any instant. */
static enum odev_err odev_commit(struct odev *d)
{
    const struct odev_image *n = &d->j.img;
    enum odev_err e = ODEV_OK;
    if (d->j.slots & DJ_SLOT_CORE)
        e = odev_install_slot(d, ODEV_AREA_CORE, 0, n->core_len);
    if (e == ODEV_OK && (d->j.slots & DJ_SLOT_SCRIPT))
        /* staged after the new core, or at 0 without one (odev_extract) */
        e = odev_install_slot(d, ODEV_AREA_SCRIPT,
                              odev_script_offset(d, (d->j.slots & DJ_SLOT_CORE) ? n->core_len : 0),
                              n->script_len);
    if (e == ODEV_OK && d->port->installed && d->port->installed(d->port->ctx, n) != ODEV_OK)
        e = odev_fail(d, ODEV_E_IO, "install failed");
    if (e == ODEV_OK)
        e = odev_journal_save(d, DJ_COMMITTED);
    if (e == ODEV_OK)
        d->running = *n;
    return e;
}

enum odev_err odev_recover(struct odev *d)
{
    enum odev_err e;
    if (d->jwhy) {
        odev_log(d, ODEV_LOG_WARN, d->jwhy);
        d->jwhy = NULL;
        return odev_discard(d); /* only a half-done transfer is lost */
    }
    switch (d->j.phase) {
    case DJ_COMMITTING:
        odev_log(d, ODEV_LOG_INFO, "recover: commit");
        if ((e = odev_commit(d)) != ODEV_OK)
            return e;
        /* fall through */
    case DJ_COMMITTED:
        d->running = d->j.img;
        return odev_discard(d);
    case DJ_APPLYING:
        odev_log(d, ODEV_LOG_INFO, "recover: apply");
        return odev_journal_save(d, DJ_DOWNLOADED);
    default:
        return ODEV_OK;
    }
}

/* --- header checks ---------------------------------------------------------- */

static int odev_key_known(struct odev *d, const uint8_t id[DPKG_KEYID_LEN])
{
    uint8_t mine[DSHA256_LEN];
    for (int i = 0; i < d->cfg->npubkeys && i < ODEV_PUBKEYS_MAX; i++) {
        dsha256_init(&d->w.sum);
        dsha256_update(&d->w.sum, d->cfg->pubkeys[i], ODEV_PUBKEY_LEN);
        dsha256_final(&d->w.sum, mine);
        if (memcmp(mine, id, DPKG_KEYID_LEN) == 0)
            return 1;
    }
    return 0;
}

static int odev_script_older(const uint32_t a[3], const uint32_t b[3])
{
    for (int i = 0; i < 3; i++)
        if (a[i] != b[i])
            return a[i] < b[i];
    return 0;
}

/* What a header must say before anything of the package is worth more:
 * our project, core line, a base we run, no downgrade, a known key, a
 * window this build can apply. */
static uint8_t odev_header_refusal(struct odev *d, const struct dpkg_header *h)
{
    const struct odev_image *cur = &d->running;
    if (strcmp(h->project, d->cfg->project) != 0)
        return ODEV_R_PROJECT;
    if (strcmp(h->core_name, cur->core_name) != 0 || strcmp(h->chip, cur->chip) != 0)
        return ODEV_R_CORE;
    if (!odev_key_known(d, h->key_id))
        return ODEV_R_KEY;
    if (h->window_bits > ODEV_WINDOW_BITS_MAX)
        return ODEV_R_WINDOW;
    if (!odev_has_core(h) && !(h->flags & DPKG_F_SCRIPT))
        return ODEV_R_EMPTY;
    if (odev_has_core(h)) {
        int any = h->from_core == DPKG_FROM_ANY && (h->flags & DPKG_F_CORE_FULL);
        if (!any && h->from_core != cur->core)
            return ODEV_R_BASE;
        if (h->to_core < cur->core)
            return ODEV_R_CORE_DOWN;
    } else if (h->to_core != cur->core) {
        return ODEV_R_SCRIPT_CORE;
    }
    if ((h->flags & DPKG_F_SCRIPT) && odev_script_older(h->script, cur->script))
        return ODEV_R_SCRIPT_DOWN;
    return ODEV_R_NONE;
}

/* Read and check the header of the package in DOWNLOAD (size bytes). */
static enum odev_err odev_header(struct odev *d, uint32_t size)
{
    const char *why = NULL;
    uint8_t buf[DPKG_HEADER_LEN];
    if (size < DPKG_HEADER_LEN)
        return odev_fail(d, ODEV_E_CORRUPT, "package truncated");
    if (d->port->read(d->port->ctx, ODEV_AREA_DOWNLOAD, 0, buf, sizeof buf) != ODEV_OK)
        return odev_fail(d, ODEV_E_IO, "flash read failed");
    int e = dpkg_header_parse(buf, sizeof buf, size, &d->h, &why);
    if (e != ODEV_OK)
        return odev_fail(d, (enum odev_err)e, why);
    d->r->to = d->running;
    if (odev_has_core(&d->h))
        d->r->to.core = d->h.to_core;
    if (d->h.flags & DPKG_F_SCRIPT)
        memcpy(d->r->to.script, d->h.script, sizeof d->h.script);
    d->r->refusal = d->refusal = odev_header_refusal(d, &d->h);
    if (d->refusal != ODEV_R_NONE)
        return odev_fail(d, ODEV_E_AUTH, odev_reason_phrase(d->refusal));
    return ODEV_OK;
}

/* ddl's early check, once the header is stored. */
static int odev_head_check(void *ctx, uint32_t have, uint32_t size, const char **why)
{
    struct odev *d = ctx;
    (void)have;
    if (size == 0)
        return ODEV_OK; /* without Size2 the header cannot be checked against the total */
    enum odev_err e = odev_header(d, size);
    *why = d->r->reason;
    return e;
}

/* --- verify and apply ---------------------------------------------------- */

static enum odev_err odev_verify_fail(struct odev *d, enum odev_err e)
{
    d->r->status = e == ODEV_E_IO ? ODEV_S_LOCAL : ODEV_S_VERIFY;
    return e;
}

static enum odev_err odev_extract(struct odev *d, const struct dio_reader *pkg)
{
    const struct dpkg_header *h = &d->h;
    uint32_t soff = odev_script_offset(d, h->core_size), cap = d->cfg->area[ODEV_AREA_STAGING].size;
    struct odev_area_io core_in, out;
    struct dio_reader old = {odev_area_read, &core_in};
    struct dio_writer w = {odev_area_write, &out};
    const char *why = "";
    int e = ODEV_OK;
    if ((odev_has_core(h) && h->core_size > cap) ||
        ((h->flags & DPKG_F_SCRIPT) && (soff > cap || h->script_size > cap - soff)))
        return odev_fail(d, ODEV_E_LIMIT, "image too large");
    odev_area_open(&core_in, d, ODEV_AREA_CORE, 0, d->running.core_len);
    if (odev_has_core(h)) {
        odev_area_open(&out, d, ODEV_AREA_STAGING, 0, h->core_size);
        e = dpkg_extract_core(&d->w, pkg, h, &old, d->running.core_len, &w, &why);
        if (e == ODEV_OK && odev_area_flush(&out) != ODEV_OK)
            return odev_fail(d, ODEV_E_IO, "flash write failed");
    }
    if (e == ODEV_OK && (h->flags & DPKG_F_SCRIPT)) {
        odev_area_open(&out, d, ODEV_AREA_STAGING, soff, h->script_size);
        e = dpkg_extract_script(&d->w, pkg, h, &w, &why);
        if (e == ODEV_OK && odev_area_flush(&out) != ODEV_OK)
            return odev_fail(d, ODEV_E_IO, "flash write failed");
    }
    if (e == ODEV_OK && d->port->sync(d->port->ctx, ODEV_AREA_STAGING) != ODEV_OK)
        return odev_fail(d, ODEV_E_IO, "sync failed");
    return e == ODEV_OK ? ODEV_OK : odev_fail(d, (enum odev_err)e, why);
}

/* The new images into the journal record that the commit will act on. */
static void odev_plan_commit(struct odev *d)
{
    const struct dpkg_header *h = &d->h;
    struct djournal *j = &d->j;
    j->img = d->running;
    j->slots = 0;
    j->from_core = d->running.core;
    memcpy(j->from_script, d->running.script, sizeof j->from_script);
    if (odev_has_core(h)) {
        j->slots |= DJ_SLOT_CORE;
        j->img.core = h->to_core;
        j->img.core_len = h->core_size;
    }
    if (h->flags & DPKG_F_SCRIPT) {
        j->slots |= DJ_SLOT_SCRIPT;
        memcpy(j->img.script, h->script, sizeof h->script);
        j->img.script_len = h->script_size;
    }
    j->flags = DJ_F_IMAGES | DJ_F_REPORT; /* the success report, durable with the commit */
    j->report = ODEV_RC_OK;
    j->reason = ODEV_R_NONE;
    d->report_fresh = 1;
    d->r->to = j->img;
}

/* A refusal's report: result code and reason code into the journal. */
static void odev_report_keep(struct odev *d, enum odev_err e)
{
    d->j.flags |= DJ_F_REPORT;
    d->j.report = ODEV_RC_VERIFY;
    d->j.reason = d->refusal      ? d->refusal
                  : e == ODEV_E_AUTH  ? ODEV_R_SIGNATURE
                  : e == ODEV_E_LIMIT ? ODEV_R_TOO_LARGE
                                      : ODEV_R_MALFORMED;
    d->report_fresh = 1;
    d->j.from_core = d->running.core;
    memcpy(d->j.from_script, d->running.script, sizeof d->j.from_script);
}

static enum odev_err odev_install(struct odev *d)
{
    struct odev_area_io pio;
    struct dio_reader pkg = {odev_area_read, &pio};
    const char *why = "";
    d->r->pkg_size = d->j.size;
    odev_area_open(&pio, d, ODEV_AREA_DOWNLOAD, 0, d->j.size);
    dpkg_work_init(&d->w);
    if (d->port->backends)
        d->port->backends(d->port->ctx, &d->w.inflate, &d->w.verify);
    enum odev_err e = odev_header(d, d->j.size);
    if (e == ODEV_OK && (e = (enum odev_err)dpkg_verify(
                             &d->w, &pkg, &d->h, (const uint8_t(*)[DED25519_PUB_LEN])d->cfg->pubkeys,
                             d->cfg->npubkeys, &why)) != ODEV_OK)
        odev_fail(d, e, why);
    if (e == ODEV_OK && (e = odev_journal_save(d, DJ_APPLYING)) != ODEV_OK)
        return e;
    if (e == ODEV_OK)
        e = odev_extract(d, &pkg);
    if (e != ODEV_OK) {
        odev_verify_fail(d, e);
        if (d->r->status == ODEV_S_VERIFY)
            odev_report_keep(d, e);
        odev_discard(d);
        return e;
    }
    odev_plan_commit(d);
    if ((e = odev_journal_save(d, DJ_COMMITTING)) == ODEV_OK && (e = odev_commit(d)) == ODEV_OK)
        e = odev_discard(d);
    return e;
}

/* --- report --------------------------------------------------------------- */

struct odev_text {
    char *p;
    size_t len, cap;
};

static void odev_put(struct odev_text *t, const char *s)
{
    while (*s && t->len + 1 < t->cap)
        t->p[t->len++] = *s++;
    t->p[t->len] = '\0';
}

/* Decimal, at least width digits. */
static void odev_put_u32(struct odev_text *t, uint32_t v, int width)
{
    char buf[11];
    int n = 0;
    do {
        buf[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v || n < width);
    while (n > 0 && t->len + 1 < t->cap)
        t->p[t->len++] = buf[--n];
    t->p[t->len] = '\0';
}

static void odev_put_core(struct odev_text *t, const struct odev_image *img, uint32_t core)
{
    odev_put(t, img->core_name);
    odev_put(t, "_V");
    odev_put_u32(t, core % 10000, 4);
    odev_put(t, "_");
    odev_put(t, img->chip);
}

static void odev_put_script(struct odev_text *t, const uint32_t s[3])
{
    for (int i = 0; i < 3; i++) {
        if (i)
            odev_put(t, ".");
        odev_put_u32(t, s[i], 1);
    }
}

static void odev_put_field(struct odev_text *t, const char *key, const char *value)
{
    odev_put(t, ",\"");
    odev_put(t, key);
    odev_put(t, "\":\"");
    odev_put(t, value);
    odev_put(t, "\"");
}

/* The reason, made safe for the server's parser (no escapes); the caller
 * closes the string. */
static void odev_put_reason(struct odev_text *t, const char *r)
{
    odev_put(t, ",\"reason\":\"");
    for (; *r && t->len + 3 < t->cap; r++)
        t->p[t->len++] = *r == '"' || *r == '\\' ? '\'' : *r < 0x20 || *r > 0x7e ? '?' : *r;
}

/* " (key id <hex>)": which key signed a package the device does not
 * trust, so the operator can tell a wrong release from a rotated key. */
static void odev_put_key_id(struct odev_text *t, const uint8_t *id)
{
    char hex[2 * DPKG_KEYID_LEN + 1];
    dhex_put(hex, id, DPKG_KEYID_LEN, 0);
    hex[sizeof hex - 1] = '\0';
    odev_put(t, " (key id ");
    odev_put(t, hex);
    odev_put(t, ")");
}

/* POST /report's body, as client/proto.c dev_report_json writes it. */
static size_t odev_report_json(struct odev *d, char *out, size_t cap)
{
    struct odev_text t = {out, 0, cap};
    const struct djournal *j = &d->j;
    uint32_t tenths = (d->port->now_ms(d->port->ctx) - d->t0) / 100;
    odev_put(&t, "{\"imei\":\"");
    odev_put(&t, d->cfg->imei);
    odev_put(&t, "\"");
    odev_put_field(&t, "project", d->cfg->project);
    odev_put(&t, ",\"from_core\":\"");
    odev_put_core(&t, &j->img, j->from_core);
    odev_put(&t, "\",\"from_script\":\"");
    odev_put_script(&t, j->from_script);
    odev_put(&t, "\"");
    if (j->report == ODEV_RC_OK || d->report_fresh) {
        odev_put(&t, ",\"to_core\":\"");
        odev_put_core(&t, &j->img, j->report == ODEV_RC_OK ? j->img.core : d->r->to.core);
        odev_put(&t, "\",\"to_script\":\"");
        odev_put_script(&t, j->report == ODEV_RC_OK ? j->img.script : d->r->to.script);
        odev_put(&t, "\"");
    }
    odev_put(&t, ",\"result\":");
    odev_put_u32(&t, j->report, 1);
    if (d->report_fresh) {
        odev_put(&t, ",\"bytes\":");
        odev_put_u32(&t, d->r->bytes, 1);
        odev_put(&t, ",\"seconds\":");
        odev_put_u32(&t, tenths / 10, 1);
        odev_put(&t, ".");
        odev_put_u32(&t, tenths % 10, 1);
    }
    odev_put(&t, ",\"apply_mem\":");
    odev_put_u32(&t, (uint32_t)sizeof d->w, 1);
    if (j->report != ODEV_RC_OK) {
        odev_put_reason(&t, d->report_fresh && d->r->reason[0] ? d->r->reason
                                                                 : odev_reason_phrase(j->reason));
        if (d->report_fresh && d->refusal == ODEV_R_KEY)
            odev_put_key_id(&t, d->h.key_id);
        odev_put(&t, "\"");
    }
    odev_put(&t, "}");
    return t.len;
}

/* Send a pending report when the server answered in this run; best
 * effort: kept in the journal for the next run otherwise. */
static void odev_report_flush(struct odev *d)
{
    char body[ODEV_REPORT_MAX];
    const char *why = "";
    unsigned code = 0;
    enum odev_status st = d->r->status;
    if (!(d->j.flags & DJ_F_REPORT) || d->j.phase != DJ_IDLE || st == ODEV_S_NET ||
        st == ODEV_S_LOCAL)
        return;
    size_t len = odev_report_json(d, body, sizeof body);
    if (ddl_report(&d->dl, body, len, &code, &why) != ODEV_OK) {
        odev_log(d, ODEV_LOG_WARN, why);
        if (code / 100 != 4)
            return; /* kept for the next run; a 4.xx refusal is not ours to fix */
    }
    d->j.flags &= (uint8_t)~DJ_F_REPORT;
    if (odev_journal_save(d, DJ_IDLE) != ODEV_OK)
        odev_log(d, ODEV_LOG_WARN, "journal save failed");
}

/* --- entry points ------------------------------------------------------- */

static int odev_config_ok(const struct odev_config *c)
{
    for (int a = 0; a < ODEV_AREA__COUNT; a++) {
        uint32_t e = c->area[a].erase ? c->area[a].erase : 1;
        if ((e & (e - 1)) || c->area[a].size % e)
            return 0;
    }
    return c->npubkeys >= 0 && c->npubkeys <= ODEV_PUBKEYS_MAX && c->szx <= 6 &&
           memchr(c->imei, 0, sizeof c->imei) && memchr(c->project, 0, sizeof c->project);
}

enum odev_err odev_init(struct odev *d, const struct odev_config *c, const struct odev_port *p)
{
    uint8_t rec[ODEV_JOURNAL_LEN];
    memset(d, 0, sizeof *d);
    d->cfg = c;
    d->port = p;
    d->running = c->factory;
    if (!odev_config_ok(c))
        return ODEV_E_INVAL;
    int e = p->journal_load(p->ctx, rec);
    if (e == ODEV_E_NOTFOUND) {
        odev_idle_record(d);
        return ODEV_OK;
    }
    if (e != ODEV_OK)
        return ODEV_E_IO;
    if (djournal_decode(rec, sizeof rec, &d->j, &d->jwhy) != ODEV_OK) {
        odev_idle_record(d);
        return ODEV_OK; /* recover reports it and starts over */
    }
    d->jwhy = NULL;
    if ((d->j.flags & DJ_F_IMAGES) && d->j.phase != DJ_COMMITTING && d->j.phase != DJ_COMMITTED)
        d->running = d->j.img;
    else if (!(d->j.flags & DJ_F_IMAGES)) /* a record without images (ota-client's) */
        d->j.img = d->running;
    return ODEV_OK;
}

const struct odev_image *odev_running(const struct odev *d)
{
    return &d->running;
}

void odev_progress(const struct odev *d, struct odev_progress *p)
{
    const struct ddl_xfer *x = &d->dl.x;
    p->at = x->base << (x->szx + 4);
    p->size = d->j.size;
    p->block = 16u << d->dl.blk.szx;
    p->block_was = 16u << x->szx;
    p->block_num = d->dl.blk.num;
}

void odev_link_stats(const struct odev *d, struct odev_link_stats *s)
{
    const struct ddl_win *w = &d->dl.w;
    *s = (struct odev_link_stats){w->max, w->cwnd_peak, w->cwnd, w->sent, w->retx, w->fast,
                                  w->timeouts, w->cuts, w->dups, w->busy, w->rtt_min, w->srtt};
}

/* Common start of check and update: result, recovery, the link. */
static enum odev_err odev_begin(struct odev *d, struct odev_result *r)
{
    const struct odev_config *c = d->cfg;
    memset(r, 0, sizeof *r);
    r->status = ODEV_S_LOCAL;
    r->srv_code = -1;
    r->reason = "";
    d->r = r;
    d->refusal = ODEV_R_NONE;
    d->report_fresh = 0;
    d->t0 = d->port->now_ms(d->port->ctx);
    enum odev_err e = odev_recover(d);
    r->from = r->to = d->running;
    if (e == ODEV_OK && !d->booted) { /* durable before a token carries it */
        d->j.boots++;
        e = odev_journal_save(d, d->j.phase);
        d->booted = 1;
    }
    if (e != ODEV_OK)
        return e;
    char fw[ODEV_PROJECT_MAX + 2 * ODEV_NAME_MAX + 2], num[11], script[36];
    struct odev_text t = {fw, 0, sizeof fw};
    odev_put(&t, c->project);
    odev_put(&t, "_");
    odev_put(&t, d->running.core_name);
    odev_put(&t, "_");
    odev_put(&t, d->running.chip);
    t = (struct odev_text){num, 0, sizeof num};
    odev_put_u32(&t, d->running.core, 1);
    t = (struct odev_text){script, 0, sizeof script};
    odev_put_script(&t, d->running.script);
    ddl_init(&d->dl, d->port, c, d->j.boots, d->runs++);
    const char *kv[][2] = {
        {"project_key", c->product_key}, {"imei", c->imei}, {"firmware_name", fw},
        {"core_version", num},           {"dfota", "1"},    {"version", script},
        {"device_key", c->device_key},
    };
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        if (ddl_query_add(&d->dl, kv[i][0], kv[i][1]) != ODEV_OK)
            return odev_fail(d, ODEV_E_LIMIT, "query too long");
    return ODEV_OK;
}

enum odev_err odev_check(struct odev *d, struct odev_result *r)
{
    const struct ddl_block *b;
    const char *why = "";
    enum odev_err e = odev_begin(d, r);
    if (e == ODEV_OK) {
        e = ddl_fetch_first(&d->dl, &b, &why);
        if (e != ODEV_OK)
            r->status = ODEV_S_NET;
        else if ((e = ddl_check_first(&d->dl, b, r, &why)) == ODEV_OK)
            r->status = ODEV_S_AVAILABLE;
        r->bytes = e == ODEV_OK ? (uint32_t)b->len : 0;
        if (e == ODEV_OK && b->len >= DPKG_HEADER_LEN && r->pkg_size &&
            dpkg_header_parse(b->data, DPKG_HEADER_LEN, r->pkg_size, &d->h, &why) == ODEV_OK) {
            if (odev_has_core(&d->h))
                r->to.core = d->h.to_core;
            if (d->h.flags & DPKG_F_SCRIPT)
                memcpy(r->to.script, d->h.script, sizeof d->h.script);
        }
        if (e != ODEV_OK)
            odev_fail(d, e, why);
    }
    odev_report_flush(d);
    d->r = NULL;
    return e;
}

static enum odev_err odev_fetch(struct odev *d)
{
    const char *why = "";
    struct odev_result *r = d->r;
    d->dl.head_check = odev_head_check;
    d->dl.head_ctx = d;
    d->dl.head_len = DPKG_HEADER_LEN;
    enum odev_err e = ddl_download(&d->dl, &d->j, r, &why);
    if (e == ODEV_OK)
        return ODEV_OK;
    odev_fail(d, e, why);
    if (r->status == ODEV_S_VERIFY) {
        odev_report_keep(d, e);
        odev_discard(d);
    } else if (r->status == ODEV_S_NO_UPDATE || r->status == ODEV_S_REJECTED) {
        odev_discard(d);
    }
    return e;
}

enum odev_err odev_update(struct odev *d, struct odev_result *r)
{
    enum odev_err e = odev_begin(d, r);
    if (e == ODEV_OK && d->j.phase != DJ_DOWNLOADED)
        e = odev_fetch(d);
    else if (e == ODEV_OK && d->port->log)
        d->port->log(d->port->ctx, ODEV_LOG_INFO, ODEV_EV_RESUME, "resuming");
    if (e == ODEV_OK)
        e = odev_install(d);
    if (e == ODEV_OK) {
        r->status = ODEV_S_UPDATED;
        r->reason = "";
    }
    odev_report_flush(d);
    d->r = NULL;
    return e;
}

/* Phrases of an enum in order, one string each: no pointer table. */
static const char odev_reasons[] = "\0another project\0another core or chip\0unknown signing key\0"
                                   "window too large\0neither core nor script\0another base core\0"
                                   "core downgrade\0script for another core\0script downgrade\0"
                                   "bad signature or hash\0malformed package\0package too large";
static const char odev_statuses[] = "local error\0updated\0update available\0no update available\0"
                                    "rejected by the server\0package verification failed\0"
                                    "network error";

/* The code-th phrase of list (of n; the first one when out of range). */
static const char *odev_phrase(const char *list, unsigned n, unsigned code)
{
    for (code = code < n ? code : 0; code > 0; code--)
        list += strlen(list) + 1;
    return list;
}

const char *odev_reason_phrase(unsigned code)
{
    return odev_phrase(odev_reasons, ODEV_R__COUNT, code);
}

const char *odev_status_phrase(enum odev_status s)
{
    return odev_phrase(odev_statuses, ODEV_S_NET + 1, (unsigned)s);
}
