/* crypto.c - SHA-256, Ed25519ph and key files (see crypto.h).
 *
 * Thin on purpose: libsodium does the cryptography; this file fixes the
 * choices (pre-hashed signatures, hex key files, key ids) in one place.
 */
#include "crypto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum ota_err crypto_init(char *msg)
{
    if (sodium_init() < 0)
        return ota_fail(msg, OTA_E_INVAL, "libsodium initialisation failed");
    return OTA_OK;
}

void crypto_sha256_begin(struct crypto_sha256 *h)
{
    crypto_hash_sha256_init(&h->st);
}

void crypto_sha256_add(struct crypto_sha256 *h, const void *buf, size_t len)
{
    crypto_hash_sha256_update(&h->st, buf, len);
}

void crypto_sha256_end(struct crypto_sha256 *h, uint8_t out[CRYPTO_HASH_LEN])
{
    crypto_hash_sha256_final(&h->st, out);
}

void crypto_sha256(const void *buf, size_t len, uint8_t out[CRYPTO_HASH_LEN])
{
    crypto_hash_sha256(out, buf, len);
}

enum ota_err crypto_sha256_reader(const struct io_reader *r, uint64_t off, uint64_t len,
                                  uint8_t out[CRYPTO_HASH_LEN])
{
    uint8_t buf[4096];
    struct crypto_sha256 h;
    crypto_sha256_begin(&h);
    while (len > 0) {
        size_t n = len < sizeof buf ? (size_t)len : sizeof buf;
        enum ota_err e = io_read_at(r, off, buf, n);
        if (e != OTA_OK)
            return e;
        crypto_sha256_add(&h, buf, n);
        off += n;
        len -= n;
    }
    crypto_sha256_end(&h, out);
    return OTA_OK;
}

void crypto_key_id(const uint8_t pub[CRYPTO_PUB_LEN], uint8_t id[CRYPTO_KEYID_LEN])
{
    uint8_t h[CRYPTO_HASH_LEN];
    crypto_sha256(pub, CRYPTO_PUB_LEN, h);
    memcpy(id, h, CRYPTO_KEYID_LEN);
}

void crypto_sign_begin(struct crypto_signer *s)
{
    crypto_sign_init(&s->st);
}

void crypto_sign_add(struct crypto_signer *s, const void *buf, size_t len)
{
    crypto_sign_update(&s->st, buf, len);
}

void crypto_sign_end(struct crypto_signer *s, const uint8_t sec[CRYPTO_SEC_LEN],
                     uint8_t sig[CRYPTO_SIG_LEN])
{
    crypto_sign_final_create(&s->st, sig, NULL, sec);
}

enum ota_err crypto_verify_end(struct crypto_signer *s, const uint8_t sig[CRYPTO_SIG_LEN],
                               const uint8_t pub[CRYPTO_PUB_LEN])
{
    return crypto_sign_final_verify(&s->st, sig, pub) == 0 ? OTA_OK : OTA_E_AUTH;
}

void crypto_secret_to_public(const uint8_t sec[CRYPTO_SEC_LEN], uint8_t pub[CRYPTO_PUB_LEN])
{
    crypto_sign_ed25519_sk_to_pk(pub, sec);
}

enum ota_err crypto_keygen(const char *keyfile, char *msg)
{
    uint8_t pub[CRYPTO_PUB_LEN], sec[CRYPTO_SEC_LEN];
    char hex[2 * CRYPTO_SEC_LEN + 2], pubpath[1100];
    struct stat st;
    if (stat(keyfile, &st) == 0)
        return ota_fail(msg, OTA_E_INVAL, "%s: already exists; refusing to overwrite a key",
                        keyfile);
    if (snprintf(pubpath, sizeof pubpath, "%s.pub", keyfile) >= (int)sizeof pubpath)
        return ota_fail(msg, OTA_E_LIMIT, "key path too long");
    crypto_sign_keypair(pub, sec);
    ota_hex(sec, CRYPTO_SEC_LEN, hex);
    hex[2 * CRYPTO_SEC_LEN] = '\n';
    enum ota_err e = io_file_write_all(keyfile, hex, 2 * CRYPTO_SEC_LEN + 1, 0600, msg);
    sodium_memzero(sec, sizeof sec);
    sodium_memzero(hex, sizeof hex);
    if (e != OTA_OK)
        return e;
    ota_hex(pub, CRYPTO_PUB_LEN, hex);
    hex[2 * CRYPTO_PUB_LEN] = '\n';
    return io_file_write_all(pubpath, hex, 2 * CRYPTO_PUB_LEN + 1, 0644, msg);
}

/* Read a small hex key file: one line of exactly 2*len hex digits. */
static enum ota_err crypto_load_hex(const char *path, uint8_t *out, size_t len, char *msg)
{
    uint8_t *buf;
    size_t n;
    enum ota_err e = io_file_read_all(path, 4 * len + 16, &buf, &n, msg);
    if (e != OTA_OK)
        return e;
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    e = ota_unhex((const char *)buf, out, len);
    sodium_memzero(buf, n);
    free(buf);
    if (e != OTA_OK)
        return ota_fail(msg, OTA_E_INVAL, "%s: expected %zu hex digits", path, 2 * len);
    return OTA_OK;
}

enum ota_err crypto_load_secret(const char *keyfile, uint8_t sec[CRYPTO_SEC_LEN], char *msg)
{
    return crypto_load_hex(keyfile, sec, CRYPTO_SEC_LEN, msg);
}

enum ota_err crypto_load_public(const char *pubfile, uint8_t pub[CRYPTO_PUB_LEN], char *msg)
{
    return crypto_load_hex(pubfile, pub, CRYPTO_PUB_LEN, msg);
}

void crypto_psk_derive(const uint8_t *secret, size_t secret_len, const char *identity,
                       size_t identity_len, uint8_t out[CRYPTO_PSK_LEN])
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, secret, secret_len);
    crypto_auth_hmacsha256_update(&st, (const uint8_t *)identity, identity_len);
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof st);
}

enum ota_err crypto_load_psk_secret(const char *path, uint8_t out[CRYPTO_PSK_SECRET_MAX],
                                    size_t *len, char *msg)
{
    uint8_t *buf;
    size_t n;
    enum ota_err e = io_file_check_private(path, msg);
    if (e != OTA_OK)
        return e;
    e = io_file_read_all(path, CRYPTO_PSK_SECRET_MAX + 2, &buf, &n, msg);
    if (e != OTA_OK)
        return e;
    if (n > 0 && buf[n - 1] == '\n')
        n--;
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    if (n < CRYPTO_PSK_SECRET_MIN || n > CRYPTO_PSK_SECRET_MAX)
        e = ota_fail(msg, OTA_E_INVAL, "%s: secret is %zu bytes, need %d..%d", path, n,
                     CRYPTO_PSK_SECRET_MIN, CRYPTO_PSK_SECRET_MAX);
    else
        memcpy(out, buf, n);
    *len = n;
    sodium_memzero(buf, n);
    free(buf);
    return e;
}
