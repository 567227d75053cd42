/* prov.c - parse the provisioning record: see prov.h. */
#include <string.h>

#include "prov.h"
#include "dhex.h"

struct prov_val {
    const char *s;
    size_t len;
};

static int prov_str(struct prov_val v, char *out, size_t cap)
{
    if (v.len >= cap)
        return ODEV_E_LIMIT;
    memcpy(out, v.s, v.len);
    out[v.len] = '\0';
    return ODEV_OK;
}

static int prov_u32(struct prov_val v, uint32_t max, uint32_t *out)
{
    uint32_t n = 0;
    if (v.len == 0 || v.len > 10)
        return ODEV_E_CORRUPT;
    for (size_t i = 0; i < v.len; i++) {
        if (v.s[i] < '0' || v.s[i] > '9')
            return ODEV_E_CORRUPT;
        uint64_t w = (uint64_t)n * 10u + (uint32_t)(v.s[i] - '0');
        if (w > max)
            return ODEV_E_LIMIT;
        n = (uint32_t)w;
    }
    *out = n;
    return ODEV_OK;
}

/* "a.b.c" */
static int prov_version(struct prov_val v, uint32_t out[3])
{
    for (int i = 0; i < 3; i++) {
        size_t n = 0;
        while (n < v.len && v.s[n] != '.')
            n++;
        if ((i < 2) != (n < v.len))
            return ODEV_E_CORRUPT;
        if (prov_u32((struct prov_val){v.s, n}, 65535, &out[i]) != ODEV_OK)
            return ODEV_E_CORRUPT;
        v.s += n + (i < 2);
        v.len -= n + (i < 2);
    }
    return ODEV_OK;
}

static int prov_pubkey(struct prov_val v, struct odev_config *c)
{
    if (c->npubkeys >= ODEV_PUBKEYS_MAX)
        return ODEV_E_LIMIT;
    if (v.len != 2 * ODEV_PUBKEY_LEN)
        return ODEV_E_CORRUPT;
    for (size_t i = 0; i < ODEV_PUBKEY_LEN; i++) {
        int hi = dhex_val(v.s[2 * i]), lo = dhex_val(v.s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return ODEV_E_CORRUPT;
        c->pubkeys[c->npubkeys][i] = (uint8_t)(hi << 4 | lo);
    }
    c->npubkeys++;
    return ODEV_OK;
}

/* "127.0.0.1:PORT": the address is kept as text for the modem. */
static int prov_server(struct prov_val v, struct prov *p)
{
    size_t colon = v.len;
    uint32_t port;
    while (colon > 0 && v.s[colon - 1] != ':')
        colon--;
    if (colon < 2 || prov_u32((struct prov_val){v.s + colon, v.len - colon}, 65535, &port) != ODEV_OK ||
        port == 0)
        return ODEV_E_CORRUPT;
    p->server_port = (uint16_t)port;
    return prov_str((struct prov_val){v.s, colon - 1}, p->server_ip, sizeof p->server_ip);
}

static int prov_field(struct prov *p, struct prov_val k, struct prov_val v)
{
    struct odev_config *c = &p->cfg;
    struct odev_image *f = &c->factory;
    uint32_t n = 0;
    int rc;
#define PROV_KEY(name) (k.len == sizeof(name) - 1 && !memcmp(k.s, name, k.len))
    if (PROV_KEY("project"))
        return prov_str(v, c->project, sizeof c->project);
    if (PROV_KEY("product_key"))
        return prov_str(v, c->product_key, sizeof c->product_key);
    if (PROV_KEY("imei"))
        return prov_str(v, c->imei, sizeof c->imei);
    if (PROV_KEY("device_key"))
        return prov_str(v, c->device_key, sizeof c->device_key);
    if (PROV_KEY("core_name"))
        return prov_str(v, f->core_name, sizeof f->core_name);
    if (PROV_KEY("chip"))
        return prov_str(v, f->chip, sizeof f->chip);
    if (PROV_KEY("core"))
        return prov_u32(v, 9999, &f->core);
    if (PROV_KEY("script"))
        return prov_version(v, f->script);
    if (PROV_KEY("core_len"))
        return prov_u32(v, c->area[ODEV_AREA_CORE].size, &f->core_len);
    if (PROV_KEY("script_len"))
        return prov_u32(v, c->area[ODEV_AREA_SCRIPT].size, &f->script_len);
    if (PROV_KEY("pubkey"))
        return prov_pubkey(v, c);
    if (PROV_KEY("server"))
        return prov_server(v, p);
    if (PROV_KEY("flash_out"))
        return prov_str(v, p->flash_out, sizeof p->flash_out);
    if (PROV_KEY("cut_at"))
        return prov_u32(v, UINT32_MAX, &p->cut_at);
    if (PROV_KEY("szx")) {
        if ((rc = prov_u32(v, 6, &n)) == ODEV_OK)
            c->szx = n;
        return rc;
    }
    if (PROV_KEY("window")) {
        if ((rc = prov_u32(v, ODEV_INFLIGHT_MAX, &n)) == ODEV_OK)
            c->window = (int)n;
        return rc;
    }
#undef PROV_KEY
    return ODEV_E_INVAL;
}

/* cfg->area must be filled before (lengths are checked against it). */
int prov_parse(const char *text, size_t len, struct prov *p, const char **why)
{
    static const char *const reasons[] = {
        [ODEV_E_CORRUPT] = "bad value", [ODEV_E_LIMIT] = "value too long or too large",
        [ODEV_E_INVAL] = "unknown key",
    };
    size_t i = 0;
    while (i < len && text[i] != '\0' && text[i] != (char)0xff) {
        size_t end = i, eq = 0;
        while (end < len && text[end] != '\n' && text[end] != '\0' && text[end] != (char)0xff)
            end++;
        for (size_t j = i; j < end && !eq; j++)
            if (text[j] == '=')
                eq = j;
        if (end > i && text[i] != '#') {
            int rc = eq ? prov_field(p, (struct prov_val){text + i, eq - i},
                                     (struct prov_val){text + eq + 1, end - eq - 1})
                        : ODEV_E_CORRUPT;
            if (rc != ODEV_OK) {
                *why = rc == ODEV_E_CORRUPT && !eq ? "line without '='" : reasons[rc];
                return rc == ODEV_E_INVAL ? ODEV_E_CORRUPT : rc;
            }
        }
        i = end + (end < len && text[end] == '\n');
    }
    if (!p->cfg.project[0] || !p->cfg.imei[0] || !p->cfg.npubkeys || !p->server_port ||
        !p->cfg.factory.core_name[0]) {
        *why = "project, imei, pubkey, server and core_name are required";
        return ODEV_E_CORRUPT;
    }
    return ODEV_OK;
}
