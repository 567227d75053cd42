/* select.c - package selection (rules in select.h).
 *
 * Three linear passes over at most a few thousand headers: find the
 * release (T, V), then the best candidate, then, only when nothing fits,
 * the reason. Kept free of I/O and allocation so it can be unit-tested
 * case by case and fuzzed.
 */
#include "select.h"

#include <string.h>

static int srv_same_kind(const struct pkg_header *h, const struct srv_device *d)
{
    return ((h->flags & PKG_F_VENDOR) != 0) == (d->vendor != 0);
}

static int srv_same_line(const struct pkg_header *h, const struct srv_device *d)
{
    return srv_same_kind(h, d) && strcmp(h->project, d->project) == 0 &&
           strcmp(h->core_name, d->core.name) == 0 &&
           strcmp(h->chip, d->core.chip) == 0;
}

static int srv_has_core(const struct pkg_header *h)
{
    return (h->flags & (PKG_F_CORE_DELTA | PKG_F_CORE_FULL)) != 0;
}

static int srv_has_script(const struct pkg_header *h)
{
    return (h->flags & PKG_F_SCRIPT) != 0;
}

/* Find T and V; returns 0 if no package belongs to the device's line. */
static int srv_find_release(const struct pkg_header *const *pkgs, size_t n,
                            const struct srv_device *d, struct srv_selection *out)
{
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        const struct pkg_header *h = pkgs[i];
        if (!srv_same_line(h, d))
            continue;
        int newer = !found || h->to_core > out->target_core ||
                    (h->to_core == out->target_core &&
                     ver_script_cmp(&h->script, &out->target_script) > 0);
        if (newer) {
            out->target_core = h->to_core;
            out->target_script = h->script;
        }
        found = 1;
    }
    return found;
}

/* Does package h bring the device from its core to the release? */
static int srv_core_fits(const struct pkg_header *h, const struct srv_device *d, uint32_t t)
{
    if (d->core.number == t) /* script-only update */
        return (!srv_has_core(h) && h->from_core == t) ||
               (h->from_core == PKG_FROM_ANY && (h->flags & PKG_F_CORE_FULL));
    if (!srv_has_core(h))
        return 0;
    if (h->from_core == PKG_FROM_ANY)
        return (h->flags & PKG_F_CORE_FULL) != 0;
    if (h->from_core != d->core.number)
        return 0;
    return d->allow_delta || !(h->flags & PKG_F_CORE_DELTA);
}

/* Is the package's script section (or its absence) right for the device? */
static int srv_script_fits(const struct pkg_header *h, int script_cmp)
{
    if (script_cmp < 0)
        return srv_has_script(h);
    if (script_cmp > 0)
        return !srv_has_script(h);
    return 1;
}

static int srv_is_release(const struct pkg_header *h, const struct srv_device *d,
                          const struct srv_selection *s)
{
    return srv_same_line(h, d) && h->to_core == s->target_core &&
           ver_script_cmp(&h->script, &s->target_script) == 0;
}

static int srv_best(const struct pkg_header *const *pkgs, size_t n, const struct srv_device *d,
                    struct srv_selection *s)
{
    int cmp = ver_script_cmp(&d->script, &s->target_script);
    int found = 0;
    uint64_t best = 0;
    for (size_t i = 0; i < n; i++) {
        const struct pkg_header *h = pkgs[i];
        if (!srv_is_release(h, d, s) || !srv_core_fits(h, d, s->target_core) ||
            !srv_script_fits(h, cmp))
            continue;
        uint64_t size = pkg_total_size(h);
        if (!found || size < best) {
            best = size;
            s->index = i;
            found = 1;
        }
    }
    return found;
}

/* Nothing fits: a core path exists but only with a script downgrade? */
static enum srv_pick srv_why_none(const struct pkg_header *const *pkgs, size_t n,
                                  const struct srv_device *d, const struct srv_selection *s)
{
    if (ver_script_cmp(&d->script, &s->target_script) <= 0 || d->core.number == s->target_core)
        return SRV_PICK_NO_BASE;
    for (size_t i = 0; i < n; i++)
        if (srv_is_release(pkgs[i], d, s) && srv_core_fits(pkgs[i], d, s->target_core))
            return SRV_PICK_SCRIPT_DOWNGRADE;
    return SRV_PICK_NO_BASE;
}

static int srv_project_known(const struct pkg_header *const *pkgs, size_t n,
                             const struct srv_device *d)
{
    for (size_t i = 0; i < n; i++)
        if (srv_same_kind(pkgs[i], d) && strcmp(pkgs[i]->project, d->project) == 0)
            return 1;
    return 0;
}

void srv_select(const struct pkg_header *const *pkgs, size_t n, const struct srv_device *d,
                struct srv_selection *out)
{
    memset(out, 0, sizeof *out);
    if (!srv_find_release(pkgs, n, d, out)) {
        out->pick = srv_project_known(pkgs, n, d) ? SRV_PICK_OTHER_LINE
                                                           : SRV_PICK_NO_RELEASE;
        return;
    }
    int cmp = ver_script_cmp(&d->script, &out->target_script);
    if (d->core.number > out->target_core)
        out->pick = SRV_PICK_DEVICE_NEWER;
    else if (d->core.number == out->target_core && cmp >= 0)
        out->pick = SRV_PICK_UP_TO_DATE;
    else if (srv_best(pkgs, n, d, out))
        out->pick = SRV_PICK_PACKAGE;
    else
        out->pick = srv_why_none(pkgs, n, d, out);
}

const char *srv_pick_name(enum srv_pick p)
{
    switch (p) {
    case SRV_PICK_PACKAGE:
        return "package";
    case SRV_PICK_UP_TO_DATE:
        return "up to date";
    case SRV_PICK_DEVICE_NEWER:
        return "device core newer than the release";
    case SRV_PICK_SCRIPT_DOWNGRADE:
        return "device script newer than the release and no core-only package";
    case SRV_PICK_NO_BASE:
        return "no package for this core and no full-core fallback";
    case SRV_PICK_NO_RELEASE:
        return "no release for this project";
    case SRV_PICK_OTHER_LINE:
        return "core name or chip does not match the release";
    }
    return "unknown";
}
