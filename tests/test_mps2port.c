/* test_mps2port.c - the portable parts of the mps2 port on the host: NOR
 * rules and the two-sector journal (nor.c), the BC95-style AT dialect
 * against a scripted modem (bc95.c), the provisioning record (prov.c).
 * The firmware itself runs in tests/e2e_device.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "port/mps2/bc95.h"
#include "port/mps2/nor.h"
#include "journal/djslot.h"
#include "port/mps2/prov.h"

static uint8_t flash[NOR_TOTAL];

static struct nor *fresh_flash(void)
{
    static struct nor f;
    memset(flash, 0xff, sizeof flash);
    nor_init(&f, flash);
    return &f;
}

static void nor_writes_only_clear_bits(void **state)
{
    struct nor *f = fresh_flash();
    uint8_t b;
    (void)state;
    assert_int_equal(nor_write(f, ODEV_AREA_STAGING, 10, "\xf0", 1), ODEV_OK);
    assert_int_equal(nor_write(f, ODEV_AREA_STAGING, 10, "\x30", 1), ODEV_OK);
    /* 0x0f would set bits of 0x30: refused, nothing changes */
    assert_int_equal(nor_write(f, ODEV_AREA_STAGING, 9, "\x00\x0f", 2), ODEV_E_IO);
    assert_int_equal(nor_read(f, ODEV_AREA_STAGING, 9, &b, 1), ODEV_OK);
    assert_int_equal(b, 0xff);
    assert_int_equal(nor_read(f, ODEV_AREA_STAGING, 10, &b, 1), ODEV_OK);
    assert_int_equal(b, 0x30);
    assert_int_equal(nor_erase(f, ODEV_AREA_STAGING, 0, NOR_SECTOR), ODEV_OK);
    assert_int_equal(nor_read(f, ODEV_AREA_STAGING, 10, &b, 1), ODEV_OK);
    assert_int_equal(b, 0xff);
    assert_int_equal(nor_erase(f, ODEV_AREA_STAGING, 100, NOR_SECTOR), ODEV_E_INVAL);
    assert_int_equal(nor_write(f, ODEV_AREA_SCRIPT, NOR_SCRIPT_SIZE - 1, "ab", 2), ODEV_E_LIMIT);
    assert_int_equal(nor_read(f, ODEV_AREA__COUNT, 0, &b, 1), ODEV_E_LIMIT);
}

static void journal_keeps_old_record_when_cut(void **state)
{
    struct nor *f = fresh_flash();
    uint8_t a[ODEV_JOURNAL_LEN], b[ODEV_JOURNAL_LEN], got[ODEV_JOURNAL_LEN];
    (void)state;
    memset(a, 'A', sizeof a);
    memset(b, 'B', sizeof b);
    assert_int_equal(nor_journal_load(f, got), ODEV_E_NOTFOUND);
    assert_int_equal(nor_journal_save(f, a), ODEV_OK);
    assert_int_equal(nor_journal_load(f, got), ODEV_OK);
    assert_memory_equal(got, a, sizeof a);
    assert_int_equal(nor_journal_save(f, b), ODEV_OK);
    assert_int_equal(nor_journal_load(f, got), ODEV_OK);
    assert_memory_equal(got, b, sizeof b);
    /* B went to the second sector; a cut before its seal (the last 4
     * bytes of the slot) leaves it erased there: A is what survives */
    memset(flash + NOR_JOURNAL_OFF + NOR_SECTOR + DJSLOT_LEN - 4, 0xff, 4);
    assert_int_equal(nor_journal_load(f, got), ODEV_OK);
    assert_memory_equal(got, a, sizeof a);
    /* a torn record (bits cleared in the payload) fails the checksum */
    assert_int_equal(nor_journal_save(f, b), ODEV_OK);
    flash[NOR_JOURNAL_OFF + NOR_SECTOR + 20] &= 0x0f;
    assert_int_equal(nor_journal_load(f, got), ODEV_OK);
    assert_memory_equal(got, a, sizeof a);
}

static int cuts;
static void count_cut(void *ctx)
{
    (void)ctx;
    cuts++;
}

static void cut_tears_the_operation_in_flight(void **state)
{
    struct nor *f = fresh_flash();
    uint8_t a[ODEV_JOURNAL_LEN], b[ODEV_JOURNAL_LEN], got[ODEV_JOURNAL_LEN], buf[4];
    (void)state;
    memset(a, 'A', sizeof a);
    memset(b, 'B', sizeof b);
    f->cut = count_cut;
    assert_int_equal(nor_journal_save(f, a), ODEV_OK); /* ops 1-3: erase, record, commit */
    assert_int_equal(f->ops, 3);
    /* the 2nd operation of the next save (its record) is cut: A stays */
    f->cut_at = f->ops + 2;
    assert_int_equal(nor_journal_save(f, b), ODEV_E_IO);
    assert_int_equal(cuts, 1);
    assert_int_equal(nor_journal_load(f, got), ODEV_OK);
    assert_memory_equal(got, a, sizeof a);
    /* a cut write programs its first half only */
    f->cut_at = f->ops + 1;
    assert_int_equal(nor_write(f, ODEV_AREA_DOWNLOAD, 0, "\x00\x00\x00\x00", 4), ODEV_E_IO);
    assert_int_equal(nor_read(f, ODEV_AREA_DOWNLOAD, 0, buf, 4), ODEV_OK);
    assert_memory_equal(buf, "\x00\x00\xff\xff", 4);
    /* a cut erase erases its first half only */
    assert_int_equal(nor_write(f, ODEV_AREA_DOWNLOAD, NOR_SECTOR - 1, "\x00", 1), ODEV_OK);
    f->cut_at = f->ops + 1;
    assert_int_equal(nor_erase(f, ODEV_AREA_DOWNLOAD, 0, NOR_SECTOR), ODEV_E_IO);
    assert_int_equal(nor_read(f, ODEV_AREA_DOWNLOAD, 0, buf, 4), ODEV_OK);
    assert_memory_equal(buf, "\xff\xff\xff\xff", 4);
    assert_int_equal(flash[NOR_DOWNLOAD_OFF + NOR_SECTOR - 1], 0x00); /* second half: not erased */
    assert_int_equal(cuts, 3);
}

/* --- a scripted modem: what it "sends" back, what the device wrote --- */

struct script {
    const char *rx;
    size_t pos;
    char tx[4096];
    size_t tx_len;
    uint32_t clock;
};

static int script_getc(void *ctx, uint32_t deadline)
{
    struct script *s = ctx;
    (void)deadline;
    return s->rx[s->pos] ? (uint8_t)s->rx[s->pos++] : -1;
}

static void script_write(void *ctx, const void *buf, size_t len)
{
    struct script *s = ctx;
    if (s->tx_len + len < sizeof s->tx) {
        memcpy(s->tx + s->tx_len, buf, len);
        s->tx_len += len;
        s->tx[s->tx_len] = '\0';
    }
}

static uint32_t script_now(void *ctx)
{
    return ((struct script *)ctx)->clock++;
}

static void modem_open(struct bc95 *m, struct script *s, const char *rx)
{
    const struct bc95_io io = {s, script_getc, script_write, script_now};
    memset(s, 0, sizeof *s);
    s->rx = rx;
    assert_int_equal(bc95_open(m, &io, "127.0.0.1", 5683, 0), BC95_OK);
}

/* The next datagram, read into a buffer of cap bytes (at most 16), is want. */
static void modem_recv_expect(struct bc95 *m, size_t cap, const char *want, size_t n)
{
    uint8_t buf[16];
    size_t len = 0;
    assert_true(cap <= sizeof buf);
    assert_int_equal(bc95_recv(m, buf, cap, &len, 100), BC95_OK);
    assert_int_equal(len, n);
    assert_memory_equal(buf, want, n);
}

/* Nothing arrives within the 100 ms wait. */
static void modem_recv_none(struct bc95 *m)
{
    uint8_t buf[16];
    size_t len = 0;
    assert_int_equal(bc95_recv(m, buf, sizeof buf, &len, 100), BC95_TIMEOUT);
}

#define OPEN_OK "\r\nOK\r\n\r\n1\r\n\r\nOK\r\n"

static void bc95_dialect_round_trip(void **state)
{
    struct bc95 m;
    struct script s;
    (void)state;
    modem_open(&m, &s,
               OPEN_OK "\r\n1,3\r\n\r\n+NSONMI:1,2\r\n\r\nOK\r\n"          /* NSOST, a notice inside */
               "\r\n1,127.0.0.1,5683,2,0aFf,0\r\n\r\nOK\r\n"               /* NSORF */
               "\r\n+NSONMI:1,3\r\n\r\n1,127.0.0.1,5683,3,414243,0\r\n\r\nOK\r\n");
    assert_int_equal(m.sock, 1);
    assert_string_equal(s.tx, "AT\rAT+NSOCR=DGRAM,17,0,1\r");
    s.tx_len = 0;
    assert_int_equal(bc95_send(&m, (const uint8_t *)"\x01\xab\x00", 3), BC95_OK);
    assert_string_equal(s.tx, "AT+NSOST=1,127.0.0.1,5683,3,01AB00\r");
    assert_int_equal(m.pending, 1);
    modem_recv_expect(&m, 16, "\x0a\xff", 2);
    modem_recv_expect(&m, 16, "ABC", 3);
    modem_recv_none(&m);
}

static void bc95_oversize_datagram_dropped(void **state)
{
    struct bc95 m;
    struct script s;
    (void)state;
    /* 3 bytes for a 2-byte buffer: the modem hands 2 and says 1 remains;
     * the rest is read and the datagram dropped; the next one is whole */
    modem_open(&m, &s,
               OPEN_OK "\r\n+NSONMI:1,3\r\n\r\n1,127.0.0.1,5683,2,4142,1\r\n\r\nOK\r\n"
               "\r\n1,127.0.0.1,5683,1,43,0\r\n\r\nOK\r\n"
               "\r\n+NSONMI:1,1\r\n\r\n1,127.0.0.1,5683,1,44,0\r\n\r\nOK\r\n");
    modem_recv_expect(&m, 2, "D", 1);
    assert_int_equal(m.drops, 1);
}

static void bc95_error_and_silence(void **state)
{
    struct bc95 m;
    struct script s;
    (void)state;
    modem_open(&m, &s, OPEN_OK "\r\nERROR\r\n\r\n+NSONMI:1,1\r\n\r\nOK\r\n");
    assert_int_equal(bc95_send(&m, (const uint8_t *)"x", 1), BC95_ERROR);
    /* a notice, but NSORF finds nothing: the count resets, then timeout */
    modem_recv_none(&m);
    assert_int_equal(m.pending, 0);
}

static void prov_record(void **state)
{
    static struct prov p;
    const char *why = NULL;
    char rec[512];
    (void)state;
    snprintf(rec, sizeof rec,
             "# factory\nproject=DEMO\nproduct_key=k-1\nimei=861234567890417\ncore_name=Luat\n"
             "chip=RDA8910\ncore=17\nscript=1.0.12\ncore_len=1000\nscript_len=20\n"
             "pubkey=%064d\nserver=127.0.0.1:5683\nszx=4\nflash_out=flash.out\n",
             0);
    memset(&p, 0, sizeof p);
    nor_geometry(p.cfg.area);
    assert_int_equal(prov_parse(rec, strlen(rec), &p, &why), ODEV_OK);
    assert_string_equal(p.cfg.project, "DEMO");
    assert_int_equal(p.cfg.factory.core, 17);
    assert_int_equal(p.cfg.factory.script[2], 12);
    assert_int_equal(p.cfg.npubkeys, 1);
    assert_string_equal(p.server_ip, "127.0.0.1");
    assert_int_equal(p.server_port, 5683);
    assert_int_equal(p.cfg.szx, 4);
    snprintf(rec + strlen(rec), sizeof rec - strlen(rec), "colour=blue\n");
    memset(&p, 0, sizeof p);
    nor_geometry(p.cfg.area);
    assert_int_equal(prov_parse(rec, strlen(rec), &p, &why), ODEV_E_CORRUPT);
    assert_string_equal(why, "unknown key");
    memset(&p, 0, sizeof p);
    nor_geometry(p.cfg.area);
    assert_int_equal(prov_parse("project=X\ncore_len=99999999\n", 28, &p, &why), ODEV_E_LIMIT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(nor_writes_only_clear_bits),
        cmocka_unit_test(journal_keeps_old_record_when_cut),
        cmocka_unit_test(cut_tears_the_operation_in_flight),
        cmocka_unit_test(bc95_dialect_round_trip),
        cmocka_unit_test(bc95_oversize_datagram_dropped),
        cmocka_unit_test(bc95_error_and_silence),
        cmocka_unit_test(prov_record),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
