#ifndef IMPULSE_RSA_H
#define IMPULSE_RSA_H
/* RSA-SHA256 signature checks (RSASSA-PKCS1-v1_5, RFC 8017) through OpenSSL's libcrypto, for
 * ARC (RFC 8617), whose header fields libopendkim cannot verify. Signing: impulse_signing_key.h. */
#include <stddef.h>

/* Verifies `signature` over `data` with the public key in `der` (DKIM's p=: a DER
 * SubjectPublicKeyInfo, or a bare PKCS#1 RSAPublicKey). Returns 1 when it holds, 0 when it does
 * not, -1 when the key is not a usable RSA key. *key_bits gets the key's size. */
int impulse_rsa_sha256_verify(const unsigned char *der, size_t der_length, const unsigned char *data, size_t length,
                              const unsigned char *signature, size_t signature_length, unsigned int *key_bits);
#endif
