/* devmem.c - the memory port of the device tests (see devmem.h). */
#include "devmem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void devmem_init(struct devmem *m, struct devsrv *srv, const uint32_t size[ODEV_AREA__COUNT],
                 uint32_t erase)
{
    memset(m, 0, sizeof *m);
    m->srv = srv;
    m->jsave_limit = -1;
    for (int a = 0; a < ODEV_AREA__COUNT; a++) {
        m->geo[a].size = size[a];
        m->geo[a].erase = erase;
        m->area[a] = malloc(size[a] ? size[a] : 1);
        memset(m->area[a], 0xFF, size[a]);
    }
}

void devmem_free(struct devmem *m)
{
    for (int a = 0; a < ODEV_AREA__COUNT; a++)
        free(m->area[a]);
}

void devmem_load(struct devmem *m, enum odev_area a, const uint8_t *data, size_t len)
{
    memcpy(m->area[a], data, len);
}

static int devmem_send(void *ctx, const uint8_t *buf, size_t len)
{
    struct devmem *m = ctx;
    m->sends++;
    if (m->link_down)
        return ODEV_E_NET;
    devsrv_input(m->srv, buf, len);
    return ODEV_OK;
}

static int devmem_recv(void *ctx, uint8_t *buf, size_t cap, size_t *len, uint32_t wait_ms)
{
    struct devmem *m = ctx;
    if (m->link_down)
        return ODEV_E_NET;
    return devsrv_output(m->srv, buf, cap, len, wait_ms) ? ODEV_OK : ODEV_E_TIMEOUT;
}

static uint32_t devmem_now(void *ctx)
{
    return ((struct devmem *)ctx)->srv->now;
}

static int devmem_range(const struct devmem *m, enum odev_area a, uint32_t off, size_t len)
{
    return (unsigned)a < ODEV_AREA__COUNT && off <= m->geo[a].size &&
           len <= m->geo[a].size - off;
}

static int devmem_read(void *ctx, enum odev_area a, uint32_t off, void *buf, size_t len)
{
    struct devmem *m = ctx;
    if (!devmem_range(m, a, off, len))
        return ODEV_E_LIMIT;
    memcpy(buf, m->area[a] + off, len);
    return ODEV_OK;
}

static int devmem_write(void *ctx, enum odev_area a, uint32_t off, const void *buf, size_t len)
{
    struct devmem *m = ctx;
    const uint8_t *p = buf;
    if (!devmem_range(m, a, off, len))
        return ODEV_E_LIMIT;
    m->writes++;
    for (size_t i = 0; i < len; i++)
        if (m->area[a][off + i] != 0xFF && !(m->rewrite_ok && (m->area[a][off + i] & p[i]) == p[i])) {
            m->bad_writes++;
            if (getenv("DEVMEM_LOG"))
                fprintf(stderr, "bad write area %d off %u+%zu at %zu\n", (int)a, (unsigned)off, len, i);
            return ODEV_E_IO;
        }
    memcpy(m->area[a] + off, buf, len);
    return ODEV_OK;
}

static int devmem_erase(void *ctx, enum odev_area a, uint32_t off, uint32_t len)
{
    struct devmem *m = ctx;
    uint32_t e = m->geo[a].erase ? m->geo[a].erase : 1;
    if (!devmem_range(m, a, off, len) || off % e || (len % e && off + len != m->geo[a].size))
        return ODEV_E_INVAL;
    m->erases++;
    if (getenv("DEVMEM_LOG"))
        fprintf(stderr, "erase area %d off %u len %u\n", (int)a, (unsigned)off, (unsigned)len);
    memset(m->area[a] + off, 0xFF, len);
    return ODEV_OK;
}

static int devmem_sync(void *ctx, enum odev_area a)
{
    (void)a;
    ((struct devmem *)ctx)->syncs++;
    return ODEV_OK;
}

static int devmem_jload(void *ctx, uint8_t rec[ODEV_JOURNAL_LEN])
{
    struct devmem *m = ctx;
    if (!m->has_journal)
        return ODEV_E_NOTFOUND;
    memcpy(rec, m->journal, ODEV_JOURNAL_LEN);
    return ODEV_OK;
}

static int devmem_jsave(void *ctx, const uint8_t rec[ODEV_JOURNAL_LEN])
{
    struct devmem *m = ctx;
    if (m->jsave_limit >= 0 && (long)m->saves >= m->jsave_limit)
        return ODEV_OK; /* the power went before it reached the flash */
    memcpy(m->journal, rec, ODEV_JOURNAL_LEN);
    m->has_journal = 1;
    m->saves++;
    return ODEV_OK;
}

static void devmem_log(void *ctx, enum odev_log_level level, const char *msg)
{
    struct devmem *m = ctx;
    snprintf(m->lastlog, sizeof m->lastlog, "%d %s", (int)level, msg);
    if (getenv("DEVMEM_LOG"))
        fprintf(stderr, "[%u ms] %s\n", (unsigned)m->srv->now, m->lastlog);
}

static int devmem_installed(void *ctx, const struct odev_image *now)
{
    struct devmem *m = ctx;
    m->installed_calls++;
    m->installed = *now;
    return ODEV_OK;
}

void devmem_port(struct devmem *m, struct odev_port *p)
{
    *p = (struct odev_port){.ctx = m, .send = devmem_send, .recv = devmem_recv,
                            .now_ms = devmem_now, .read = devmem_read, .write = devmem_write,
                            .erase = devmem_erase, .sync = devmem_sync,
                            .journal_load = devmem_jload, .journal_save = devmem_jsave,
                            .log = devmem_log, .installed = devmem_installed};
}
