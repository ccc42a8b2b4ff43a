#ifndef IMPULSE_SIGNING_KEY_H
#define IMPULSE_SIGNING_KEY_H
/* A private key decoded once by OpenSSL's libcrypto and kept, for DKIM signatures (RFC 6376:
 * rsa-sha256, rsa-sha1; RFC 8463: ed25519-sha256) and ARC seals (RFC 8617). Decoding a PEM key
 * costs more than an RSA-2048 signature under OpenSSL 3, so a key is decoded when it is loaded,
 * never per message. A loaded key may sign from several threads at once. */
#include <stddef.h>

typedef struct impulse_signing_key impulse_signing_key;

enum {
    IMPULSE_KEY_RSA = 1,
    IMPULSE_KEY_ED25519 = 2
};

enum {
    IMPULSE_SIGN_RSA_SHA1 = 0,
    IMPULSE_SIGN_RSA_SHA256 = 1,
    IMPULSE_SIGN_ED25519_SHA256 = 2
};

/* Decodes the PEM private key (PKCS#1 or PKCS#8 RSA, PKCS#8 Ed25519). NULL, with the reason in
 * `error`, when it is not one; otherwise *kind gets IMPULSE_KEY_* and *bits the key's size. */
impulse_signing_key *impulse_signing_key_load(const unsigned char *pem, size_t length, int *kind, unsigned int *bits,
                                              char *error, size_t error_capacity);
void impulse_signing_key_free(impulse_signing_key *key);

/* Signs `data` with `algorithm` (IMPULSE_SIGN_*): RSASSA-PKCS1-v1_5 over SHA-256 or SHA-1 of
 * the data, or for ed25519-sha256 PureEdDSA over the data's SHA-256 (RFC 8463 §3). Returns the
 * signature's length (at most `capacity`), or -1 with the reason in `error`. */
long impulse_signing_key_sign(const impulse_signing_key *key, int algorithm, const unsigned char *data, size_t length,
                              unsigned char *signature, size_t capacity, char *error, size_t error_capacity);

/* The SHA-256 (or, with `sha1`, SHA-1) of `data` into `digest` (32 octets room); returns its length. */
unsigned int impulse_digest(int sha1, const unsigned char *data, size_t length, unsigned char digest[32]);
#endif
