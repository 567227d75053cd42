/* crypto.h - hashing, signing and key files, over libsodium.
 *
 * Packages are signed with Ed25519ph (the pre-hashed variant) so that both
 * the cache tool and a device can sign or verify a package in one
 * sequential pass with a few hundred bytes of state, without holding the
 * package in RAM. Key files are text: the secret key file holds the 64-byte
 * libsodium secret key in hex (mode 0600); KEYFILE.pub holds the 32-byte
 * public key in hex. A key id is the first 8 bytes of SHA-256(public key).
 */
#ifndef CRYPTO_H
#define CRYPTO_H

#include "io.h"

#include <sodium.h>

#define CRYPTO_HASH_LEN 32
#define CRYPTO_PUB_LEN 32
#define CRYPTO_SEC_LEN 64
#define CRYPTO_SIG_LEN 64
#define CRYPTO_KEYID_LEN 8

/* Call once before anything else (safe to call repeatedly). */
enum ota_err crypto_init(char *msg);

struct crypto_sha256 {
    crypto_hash_sha256_state st;
};
void crypto_sha256_begin(struct crypto_sha256 *h);
void crypto_sha256_add(struct crypto_sha256 *h, const void *buf, size_t len);
void crypto_sha256_end(struct crypto_sha256 *h, uint8_t out[CRYPTO_HASH_LEN]);
void crypto_sha256(const void *buf, size_t len, uint8_t out[CRYPTO_HASH_LEN]);
/* Hash len bytes of r starting at off, in fixed-size chunks. */
enum ota_err crypto_sha256_reader(const struct io_reader *r, uint64_t off, uint64_t len,
                                  uint8_t out[CRYPTO_HASH_LEN]);

void crypto_key_id(const uint8_t pub[CRYPTO_PUB_LEN], uint8_t id[CRYPTO_KEYID_LEN]);

/* Streaming Ed25519ph. */
struct crypto_signer {
    crypto_sign_state st;
};
void crypto_sign_begin(struct crypto_signer *s);
void crypto_sign_add(struct crypto_signer *s, const void *buf, size_t len);
void crypto_sign_end(struct crypto_signer *s, const uint8_t sec[CRYPTO_SEC_LEN],
                     uint8_t sig[CRYPTO_SIG_LEN]);
/* OTA_OK if sig is valid for what was added, else OTA_E_AUTH. */
enum ota_err crypto_verify_end(struct crypto_signer *s, const uint8_t sig[CRYPTO_SIG_LEN],
                               const uint8_t pub[CRYPTO_PUB_LEN]);

/* Key files. keygen refuses to overwrite an existing KEYFILE. */
enum ota_err crypto_keygen(const char *keyfile, char *msg);
enum ota_err crypto_load_secret(const char *keyfile, uint8_t sec[CRYPTO_SEC_LEN], char *msg);
enum ota_err crypto_load_public(const char *pubfile, uint8_t pub[CRYPTO_PUB_LEN], char *msg);
/* Public key part of a secret key. */
void crypto_secret_to_public(const uint8_t sec[CRYPTO_SEC_LEN], uint8_t pub[CRYPTO_PUB_LEN]);

/* DTLS-PSK keys: key = HMAC-SHA256(product secret, IMEI), so a server
 * derives any device's key per handshake and keeps no key database. */
#define CRYPTO_PSK_LEN 32
#define CRYPTO_PSK_SECRET_MIN 16
#define CRYPTO_PSK_SECRET_MAX 256
void crypto_psk_derive(const uint8_t *secret, size_t secret_len, const char *identity,
                       size_t identity_len, uint8_t out[CRYPTO_PSK_LEN]);
/* Read the product secret (raw bytes, one trailing newline dropped,
 * CRYPTO_PSK_SECRET_MIN..MAX bytes). Refuses a file that other users can
 * read or write, or that is not a regular file: OTA_E_AUTH, and the
 * message says how to fix it (chmod 600). */
enum ota_err crypto_load_psk_secret(const char *path, uint8_t out[CRYPTO_PSK_SECRET_MAX],
                                    size_t *len, char *msg);

#endif
