/* test_client_dgram.c - the Linux port's datagram link (client/dgram.c):
 * URL forms, a round trip with a local UDP peer, a bounded wait, ICMP port
 * unreachable ending the run before the first 2.05 and counting as loss
 * after it, and DTLS failing fast on a closed port and within its bound on
 * a silent one; coap:// moving to a new source port after silence (sooner
 * after a move that met silence too); a DTLS-PSK session with an in-process OpenSSL server whose
 * port then closes: the ICMP error is loss and the session survives.
 * ota-server itself is the peer in tests/e2e_security.sh and
 * e2e_gateways.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dgram.h"

static void url_forms(void **state)
{
    char host[64], msg[OTA_MSG_LEN];
    uint16_t port = 0;
    int sec = -1;
    (void)state;
    assert_int_equal(dgram_url("coap://127.0.0.1", host, sizeof host, &port, &sec, msg), OTA_OK);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 5683);
    assert_int_equal(sec, 0);
    assert_int_equal(dgram_url("coaps://gw.example:6000/fota", host, sizeof host, &port, &sec, msg),
                     OTA_OK);
    assert_string_equal(host, "gw.example");
    assert_int_equal(port, 6000);
    assert_int_equal(sec, 1);
    assert_int_equal(dgram_url("coaps://[::1]", host, sizeof host, &port, &sec, msg), OTA_OK);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 5684);
    static const char *const bad[] = {"http://x", "coap://", "coap://h:0", "coap://h:70000",
                                      "coap://h:x", "coap://h/other", "coap://[::1", "coap://h?q"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(dgram_url(bad[i], host, sizeof host, &port, &sec, msg), OTA_E_INVAL);
}

/* A bound UDP socket on 127.0.0.1 playing the server; its port in *port. */
static int peer_open(uint16_t *port)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof a;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static void device_for(struct cfg_device *d, uint16_t port, int secure)
{
    memset(d, 0, sizeof *d);
    snprintf(d->server, sizeof d->server, "%s://127.0.0.1:%u", secure ? "coaps" : "coap",
             (unsigned)port);
    snprintf(d->imei, sizeof d->imei, "861234567890018");
    snprintf(d->project, sizeof d->project, "DEMOPROJ");
    d->has_psk = secure;
}

/* Opens g to 127.0.0.1:port (coaps:// with a PSK when secure), a handshake
 * bounded by hs_limit_ms. */
static void link_open(struct dgram *g, uint16_t port, int secure, uint32_t hs_limit_ms)
{
    struct cfg_device d;
    char msg[OTA_MSG_LEN] = "";
    device_for(&d, port, secure);
    assert_int_equal(dgram_open(g, d.server, &d, hs_limit_ms, msg), OTA_OK);
}

/* The peer answers the datagram it got with a CoAP header of this code. */
static void peer_answer(int fd, uint8_t code)
{
    uint8_t buf[64];
    struct sockaddr_in from;
    socklen_t flen = sizeof from;
    ssize_t n = recvfrom(fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen);
    assert_true(n >= 4);
    buf[1] = code;
    assert_int_equal(sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, flen), n);
}

static const uint8_t get_stats[] = {0x50, 0x01, 0x12, 0x34, 0xB5, 's', 't', 'a', 't', 's'};

/* One GET over plain UDP that the peer on fd answers with 2.05. */
static void udp_get_answered(struct dgram *g, int fd)
{
    char msg[OTA_MSG_LEN] = "";
    uint8_t buf[128];
    size_t len = 0;
    assert_int_equal(dgram_send(g, get_stats, sizeof get_stats, msg), OTA_OK);
    peer_answer(fd, 0x45);
    assert_int_equal(dgram_recv(g, buf, sizeof buf, &len, 1000, msg), OTA_OK);
    assert_int_equal(len, sizeof get_stats);
    assert_int_equal(buf[1], 0x45);
    assert_int_equal(g->answered, 1);
}

static void udp_round_trip_then_icmp_is_loss(void **state)
{
    struct dgram g;
    char msg[OTA_MSG_LEN];
    uint8_t buf[128];
    size_t len = 99;
    uint16_t port;
    (void)state;
    int fd = peer_open(&port);
    link_open(&g, port, 0, 1000);
    /* nothing sent: the wait is bounded and says "nothing" */
    uint32_t t0 = dgram_now_ms();
    assert_int_equal(dgram_recv(&g, buf, sizeof buf, &len, 50, msg), OTA_OK);
    assert_int_equal(len, 0);
    assert_true(dgram_now_ms() - t0 >= 50);
    udp_get_answered(&g, fd);
    /* the server goes away after a 2.05: its port unreachable is loss */
    close(fd);
    assert_int_equal(dgram_send(&g, get_stats, sizeof get_stats, msg), OTA_OK);
    assert_int_equal(dgram_recv(&g, buf, sizeof buf, &len, 200, msg), OTA_OK);
    assert_int_equal(len, 0);
    assert_int_equal(dgram_send(&g, get_stats, sizeof get_stats, msg), OTA_OK);
    dgram_close(&g);
}

static void udp_closed_port_fails_fast(void **state)
{
    struct dgram g;
    char msg[OTA_MSG_LEN] = "";
    uint8_t buf[128];
    size_t len;
    uint16_t port;
    (void)state;
    close(peer_open(&port)); /* a port nobody listens on */
    link_open(&g, port, 0, 1000);
    uint32_t t0 = dgram_now_ms();
    assert_int_equal(dgram_send(&g, get_stats, sizeof get_stats, msg), OTA_OK);
    assert_int_equal(dgram_recv(&g, buf, sizeof buf, &len, 5000, msg), OTA_E_NET);
    assert_true(dgram_now_ms() - t0 < 1000);
    assert_non_null(strstr(msg, "server unreachable: connection refused (ICMP port unreachable)"));
    dgram_close(&g);
}

/* A coaps:// GET to port that fails in the handshake, msg saying why:
 * returns how long the failure took. */
static uint32_t dtls_get_fails(uint16_t port, uint32_t hs_limit_ms, const char *why)
{
    struct dgram g;
    char msg[OTA_MSG_LEN] = "";
    link_open(&g, port, 1, hs_limit_ms);
    uint32_t t0 = dgram_now_ms();
    assert_int_equal(dgram_send(&g, get_stats, sizeof get_stats, msg), OTA_E_NET);
    uint32_t ms = dgram_now_ms() - t0;
    assert_non_null(strstr(msg, why));
    dgram_close(&g);
    return ms;
}

static void dtls_closed_port_fails_fast(void **state)
{
    uint16_t port;
    (void)state;
    close(peer_open(&port));
    assert_true(dtls_get_fails(port, 30000, "server unreachable") < 1000);
}

static void dtls_silent_peer_is_bounded(void **state)
{
    uint16_t port;
    (void)state;
    int fd = peer_open(&port); /* takes the ClientHello, never answers */
    uint32_t ms = dtls_get_fails(port, 400, "no answer from the server");
    assert_true(ms >= 400 && ms < 2000);
    close(fd);
}

/* --- an in-process DTLS-PSK server: one handshake, one 2.05 answer --- */

struct psk_server {
    int fd;
    uint16_t port;
    int sessions; /* to serve, one after the other */
    int ok;       /* sessions that answered */
};

static uint16_t local_port(int fd)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    return ntohs(a.sin_port);
}

static const uint8_t test_key[CRYPTO_PSK_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9};

static unsigned psk_server_cb(SSL *ssl, const char *identity, unsigned char *psk, unsigned max)
{
    (void)ssl;
    if (strcmp(identity, "861234567890018") != 0 || max < sizeof test_key)
        return 0;
    memcpy(psk, test_key, sizeof test_key);
    return sizeof test_key;
}

/* One session: the next datagram from a port other than *skip (0 = any)
 * is its ClientHello; one request answered 2.05. */
static int psk_server_session(struct psk_server *sv, uint16_t *skip)
{
    struct sockaddr_in from;
    socklen_t flen = sizeof from;
    uint8_t buf[256];
    for (;;) { /* records of an abandoned session are dropped */
        if (recvfrom(sv->fd, buf, sizeof buf, MSG_PEEK, (struct sockaddr *)&from, &flen) < 0)
            return 0;
        if (ntohs(from.sin_port) != *skip)
            break;
        recv(sv->fd, buf, sizeof buf, 0);
    }
    *skip = ntohs(from.sin_port);
    SSL_CTX *ctx = SSL_CTX_new(DTLS_server_method());
    SSL_CTX_set_cipher_list(ctx, "PSK");
    SSL_CTX_set_psk_server_callback(ctx, psk_server_cb);
    SSL *ssl = SSL_new(ctx);
    BIO *bio = BIO_new_dgram(sv->fd, BIO_NOCLOSE);
    BIO_ctrl(bio, BIO_CTRL_DGRAM_SET_PEER, 0, &from); /* unconnected: sendto this peer */
    SSL_set_bio(ssl, bio, bio);
    int n, ok = 0;
    if (SSL_accept(ssl) == 1 && (n = SSL_read(ssl, buf, sizeof buf)) >= 4) {
        buf[1] = 0x45; /* 2.05 */
        ok = SSL_write(ssl, buf, n) == n;
    }
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    return ok;
}

static void *psk_server_run(void *arg)
{
    struct psk_server *sv = arg;
    uint16_t skip = 0;
    for (int i = 0; i < sv->sessions; i++)
        sv->ok += psk_server_session(sv, &skip);
    return NULL;
}

/* The server thread for sessions (bounded by a receive timeout), a
 * client opened on it, and the first request answered 2.05 over DTLS. */
static void dtls_start(struct psk_server *sv, int sessions, pthread_t *th, struct dgram *g)
{
    struct cfg_device d;
    char msg[OTA_MSG_LEN] = "";
    uint8_t buf[128];
    size_t len = 0;
    memset(sv, 0, sizeof *sv);
    sv->sessions = sessions;
    sv->fd = peer_open(&sv->port);
    struct timeval tv = {15, 0};
    setsockopt(sv->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    assert_int_equal(pthread_create(th, NULL, psk_server_run, sv), 0);
    device_for(&d, sv->port, 1);
    memcpy(d.psk, test_key, sizeof test_key);
    assert_int_equal(dgram_open(g, d.server, &d, 3000, msg), OTA_OK);
    assert_int_equal(dgram_send(g, get_stats, sizeof get_stats, msg), OTA_OK);
    assert_int_equal(dgram_recv(g, buf, sizeof buf, &len, 3000, msg), OTA_OK);
    assert_int_equal(len, sizeof get_stats);
    assert_int_equal(buf[1], 0x45);
    assert_int_equal(g->answered, 1);
    assert_int_equal(g->handshakes, 1);
}

static void dtls_session_then_icmp_is_loss(void **state)
{
    struct dgram g;
    struct psk_server sv;
    pthread_t th;
    char msg[OTA_MSG_LEN] = "";
    uint8_t buf[128];
    size_t len = 0;
    (void)state;
    dtls_start(&sv, 1, &th, &g);
    pthread_join(th, NULL);
    assert_int_equal(sv.ok, 1);
    /* the gateway dies: its port unreachable is loss, the session stays */
    close(sv.fd);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(dgram_send(&g, get_stats, sizeof get_stats, msg), OTA_OK);
        assert_int_equal(dgram_recv(&g, buf, sizeof buf, &len, 100, msg), OTA_OK);
        assert_int_equal(len, 0);
    }
    assert_int_equal(g.established, 1);
    assert_int_equal(g.failed, 0);
    dgram_close(&g);
}

/* A pause without requests is not silence; a request left unanswered for
 * DGRAM_SILENT_MS (+ 4 round trips) is: a new session from a new port. */
static void dtls_silence_means_new_session(void **state)
{
    struct dgram g;
    struct psk_server sv;
    pthread_t th;
    char msg[OTA_MSG_LEN] = "";
    uint8_t buf[128];
    size_t len = 0;
    (void)state;
    dtls_start(&sv, 2, &th, &g);
    uint16_t first = local_port(g.fd);
    /* nothing asked: however long the wait, the session stays */
    assert_int_equal(dgram_recv(&g, buf, sizeof buf, &len, DGRAM_SILENT_MS + 500, msg), OTA_OK);
    assert_int_equal(g.handshakes, 1);
    /* a request nobody answers: after the silence a new session, new port */
    uint32_t t0 = dgram_now_ms();
    assert_int_equal(dgram_send(&g, get_stats, sizeof get_stats, msg), OTA_OK);
    while (g.handshakes < 2 && dgram_now_ms() - t0 < 10000)
        assert_int_equal(dgram_recv(&g, buf, sizeof buf, &len, 200, msg), OTA_OK);
    assert_int_equal(g.handshakes, 2);
    assert_true(dgram_now_ms() - t0 >= DGRAM_SILENT_MS);
    assert_int_not_equal(local_port(g.fd), first);
    /* the resent request goes out in the new session and is answered */
    assert_int_equal(dgram_send(&g, get_stats, sizeof get_stats, msg), OTA_OK);
    assert_int_equal(dgram_recv(&g, buf, sizeof buf, &len, 3000, msg), OTA_OK);
    assert_int_equal(len, sizeof get_stats);
    pthread_join(th, NULL);
    assert_int_equal(sv.ok, 2);
    dgram_close(&g);
    close(sv.fd);
}

/* The peer's next datagram, waiting for it with the client's receive loop
 * (single thread: the client moves inside dgram_recv); its source port,
 * 0 if none came within limit_ms. */
static uint16_t udp_next_from(struct dgram *g, int fd, uint32_t limit_ms, uint32_t *at)
{
    uint8_t buf[128];
    size_t len;
    char msg[OTA_MSG_LEN];
    uint32_t t0 = dgram_now_ms();
    for (;;) {
        struct sockaddr_in from;
        socklen_t flen = sizeof from;
        ssize_t n = recvfrom(fd, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)&from, &flen);
        if (n > 0) {
            *at = dgram_now_ms();
            assert_int_equal(n, sizeof get_stats);
            return ntohs(from.sin_port);
        }
        if (dgram_now_ms() - t0 >= limit_ms)
            return 0;
        assert_int_equal(dgram_recv(g, buf, sizeof buf, &len, 50, msg), OTA_OK);
        assert_int_equal(len, 0);
    }
}

/* coap:// after a 2.05: a request unanswered for the silence bound moves
 * the link to a new source port (the last request sent again from
 * there); one unanswered there moves again after one RTO; an answer on
 * the new port is taken. */
static void udp_silence_moves_to_new_port(void **state)
{
    struct dgram g;
    char msg[OTA_MSG_LEN];
    uint8_t buf[128];
    size_t len = 0;
    uint16_t port;
    uint32_t sent, at = 0;
    (void)state;
    int fd = peer_open(&port);
    link_open(&g, port, 0, 1000);
    udp_get_answered(&g, fd);
    uint16_t first = local_port(g.fd);
    /* the gateway stops answering: the request it took stays unanswered */
    sent = dgram_now_ms();
    assert_int_equal(dgram_send(&g, get_stats, sizeof get_stats, msg), OTA_OK);
    assert_int_equal(udp_next_from(&g, fd, 100, &at), first);
    uint16_t second = udp_next_from(&g, fd, DGRAM_SILENT_MS + 2000, &at);
    assert_true(second != 0 && second != first);
    assert_true(at - sent >= DGRAM_SILENT_MS && at - sent < DGRAM_SILENT_MS + 1000);
    /* the move landed on a dead gateway again: the next one comes sooner */
    sent = at;
    uint16_t third = udp_next_from(&g, fd, DGRAM_SILENT_MS, &at);
    assert_true(third != 0 && third != second && third != first);
    assert_true(at - sent >= DGRAM_REMOVE_MIN_MS && at - sent < DGRAM_SILENT_MS);
    /* a live gateway there: its answer is taken */
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(third)};
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    uint8_t ans[sizeof get_stats];
    memcpy(ans, get_stats, sizeof ans);
    ans[1] = 0x45;
    assert_int_equal(sendto(fd, ans, sizeof ans, 0, (struct sockaddr *)&to, sizeof to), sizeof ans);
    assert_int_equal(dgram_recv(&g, buf, sizeof buf, &len, 1000, msg), OTA_OK);
    assert_int_equal(len, sizeof ans);
    assert_int_equal(local_port(g.fd), third);
    dgram_close(&g);
    close(fd);
}

static void coaps_needs_psk(void **state)
{
    struct cfg_device d;
    struct dgram g;
    char msg[OTA_MSG_LEN];
    (void)state;
    device_for(&d, 5684, 1);
    d.has_psk = 0;
    assert_int_equal(dgram_open(&g, d.server, &d, 1000, msg), OTA_E_INVAL);
    assert_non_null(strstr(msg, "needs psk"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(url_forms),
        cmocka_unit_test(udp_round_trip_then_icmp_is_loss),
        cmocka_unit_test(udp_closed_port_fails_fast),
        cmocka_unit_test(udp_silence_moves_to_new_port),
        cmocka_unit_test(dtls_closed_port_fails_fast),
        cmocka_unit_test(dtls_silent_peer_is_bounded),
        cmocka_unit_test(dtls_session_then_icmp_is_loss),
        cmocka_unit_test(dtls_silence_means_new_session),
        cmocka_unit_test(coaps_needs_psk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
