/* test_device_minimal.c - the porting guide's minimal port
 * (device/port/minimal) proven on the host: its link and clock
 * placeholders are replaced here by the fake server (tests/devsrv), its
 * flash is a RAM region with NOR rules (the placeholders' defaults). One
 * boot checks (odev_check names the target from block 0), updates (full
 * core + script, window 9) and a second boot finds the new images in the
 * slots and the journal in the port's two sectors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "devsrv.h"
#include "io.h"
#include "pkg.h"
#include "port_minimal.h"

#define MIN_ERASE 4096u
#define MIN_AREA (64u * 1024)

static struct devsrv srv;

/* the integrator's side of the placeholders: here the fake server */
int minimal_link_send(const uint8_t *buf, size_t len)
{
    devsrv_input(&srv, buf, len);
    return ODEV_OK;
}

int minimal_link_recv(uint8_t *buf, size_t cap, size_t *len, uint32_t wait_ms)
{
    return devsrv_output(&srv, buf, cap, len, wait_ms) ? ODEV_OK : ODEV_E_TIMEOUT;
}

uint32_t minimal_millis(void)
{
    return srv.now;
}

struct min_dev {
    uint8_t *flash;
    struct minimal_port m;
    struct odev_port port;
    struct odev_config cfg;
    struct odev d;
    uint8_t core[20000], script[3000], core2[24000], script2[3500];
    uint8_t pub[CRYPTO_PUB_LEN];
    uint8_t *pkg;
    size_t pkg_len;
};

static void min_fill(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)((i * seed) >> 5 ^ (i % 251 < 100 ? seed : 0));
}

/* A full core + script package 0017 -> 0020, 1.0.0 -> 1.1.0. */
static void min_package(struct min_dev *t)
{
    uint8_t sec[CRYPTO_SEC_LEN];
    char msg[256] = "";
    struct pkg_build_input in;
    struct pkg_header h;
    struct io_writer w;
    assert_int_equal(crypto_init(NULL), OTA_OK);
    crypto_sign_keypair(t->pub, sec);
    memset(&in, 0, sizeof in);
    ota_strlcpy(in.tmpl.project, "MINI", sizeof in.tmpl.project);
    ota_strlcpy(in.tmpl.core_name, "Luat", sizeof in.tmpl.core_name);
    ota_strlcpy(in.tmpl.chip, "RDA8910", sizeof in.tmpl.chip);
    in.tmpl.flags = PKG_F_CORE_FULL | PKG_F_SCRIPT;
    in.tmpl.from_core = 17;
    in.tmpl.to_core = 20;
    in.tmpl.script.major = in.tmpl.script.minor = 1;
    in.new_core = t->core2;
    in.new_core_len = sizeof t->core2;
    in.script = t->script2;
    in.script_len = sizeof t->script2;
    in.window_bits = 9;
    in.secret_key = sec;
    struct io_mem_sink sink = {malloc(MIN_AREA), MIN_AREA, 0};
    io_mem_writer(&w, &sink);
    if (pkg_build(&in, &w, &h, msg) != OTA_OK)
        fail_msg("package: %s", msg);
    t->pkg = sink.buf;
    t->pkg_len = sink.len;
}

/* The guide's boot: layout, bind, config, odev_init, odev_recover. */
static void min_boot(struct min_dev *t)
{
    t->m.base = t->flash;
    t->m.erase = MIN_ERASE;
    for (int a = 0; a < ODEV_AREA__COUNT; a++) {
        t->m.off[a] = (uint32_t)a * MIN_AREA;
        t->m.size[a] = MIN_AREA;
    }
    t->m.journal_off = ODEV_AREA__COUNT * MIN_AREA;
    memset(&t->cfg, 0, sizeof t->cfg);
    minimal_port_bind(&t->m, &t->port, &t->cfg);
    memcpy(t->cfg.project, "MINI", sizeof "MINI");
    memcpy(t->cfg.product_key, "mini-key", sizeof "mini-key");
    memcpy(t->cfg.imei, "861234567890099", sizeof "861234567890099");
    memcpy(t->cfg.factory.core_name, "Luat", sizeof "Luat");
    memcpy(t->cfg.factory.chip, "RDA8910", sizeof "RDA8910");
    t->cfg.factory.core = 17;
    t->cfg.factory.script[0] = 1;
    t->cfg.factory.core_len = sizeof t->core;
    t->cfg.factory.script_len = sizeof t->script;
    memcpy(t->cfg.pubkeys[0], t->pub, ODEV_PUBKEY_LEN);
    t->cfg.npubkeys = 1;
    t->cfg.szx = 6;
    t->cfg.window = 4;
    assert_int_equal(odev_init(&t->d, &t->cfg, &t->port), ODEV_OK);
    assert_int_equal(odev_recover(&t->d), ODEV_OK);
}

static void minimal_port_updates(void **state)
{
    (void)state;
    struct min_dev *t = calloc(1, sizeof *t);
    size_t flash_len = ODEV_AREA__COUNT * MIN_AREA + 2 * MIN_ERASE;
    t->flash = malloc(flash_len);
    memset(t->flash, 0xFF, flash_len);
    min_fill(t->core, sizeof t->core, 17);
    min_fill(t->script, sizeof t->script, 100);
    min_fill(t->core2, sizeof t->core2, 20);
    min_fill(t->script2, sizeof t->script2, 110);
    memcpy(t->flash + ODEV_AREA_CORE * MIN_AREA, t->core, sizeof t->core);
    memcpy(t->flash + ODEV_AREA_SCRIPT * MIN_AREA, t->script, sizeof t->script);
    min_package(t);
    devsrv_init(&srv, t->pkg, t->pkg_len);

    struct odev_result r;
    min_boot(t);
    assert_int_equal(odev_check(&t->d, &r), ODEV_OK);
    assert_int_equal(r.status, ODEV_S_AVAILABLE);
    assert_int_equal(r.to.core, 20);
    assert_int_equal(odev_update(&t->d, &r), ODEV_OK);
    assert_int_equal(r.status, ODEV_S_UPDATED);
    assert_int_equal(srv.reports, 1);

    min_boot(t); /* a reboot: the journal comes back from the port's sectors */
    const struct odev_image *run = odev_running(&t->d);
    assert_int_equal(run->core, 20);
    assert_int_equal(run->script[1], 1);
    assert_int_equal(run->core_len, sizeof t->core2);
    assert_memory_equal(t->flash + ODEV_AREA_CORE * MIN_AREA, t->core2, sizeof t->core2);
    assert_memory_equal(t->flash + ODEV_AREA_SCRIPT * MIN_AREA, t->script2, sizeof t->script2);
    uint32_t now = srv.now; /* the device's clock does not go back */
    devsrv_init(&srv, NULL, 0);
    srv.now = now;
    odev_check(&t->d, &r); /* an error code with the status: the run ended there */
    assert_int_equal(r.status, ODEV_S_NO_UPDATE);
    assert_int_equal(r.srv_code, 27);
    free(t->pkg);
    free(t->flash);
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(minimal_port_updates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
