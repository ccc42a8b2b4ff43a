#ifndef IMPULSE_RSA_H
#define IMPULSE_RSA_H
/* RSA-SHA256 signatures (RSASSA-PKCS1-v1_5, RFC 8017) and SHA-256 through OpenSSL's libcrypto,
 * for ARC (RFC 8617), whose header fields libopendkim cannot sign or verify. */
#include <stddef.h>

/* SHA-256 of `data` into `digest` (32 octets). */
void impulse_sha256(const unsigned char *data, size_t length, unsigned char digest[32]);

/* Signs `data` with the RSA private key in `pem` (PEM: PKCS#1 or PKCS#8). Returns the
 * signature's length in `signature` (at most `capacity`), or -1 with the reason in `error`.
 * *key_bits gets the key's size. */
long impulse_rsa_sha256_sign(const unsigned char *pem, size_t pem_length, const unsigned char *data, size_t length,
                             unsigned char *signature, size_t capacity, unsigned int *key_bits, char *error,
                             size_t error_capacity);

/* Verifies `signature` over `data` with the public key in `der` (DKIM's p=: a DER
 * SubjectPublicKeyInfo, or a bare PKCS#1 RSAPublicKey). Returns 1 when it holds, 0 when it does
 * not, -1 when the key is not a usable RSA key. *key_bits gets the key's size. */
int impulse_rsa_sha256_verify(const unsigned char *der, size_t der_length, const unsigned char *data, size_t length,
                              const unsigned char *signature, size_t signature_length, unsigned int *key_bits);
#endif
