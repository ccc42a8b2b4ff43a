#include <stdio.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include "impulse_rsa.h"

int impulse_rsa_sha256_verify(const unsigned char *der, size_t der_length, const unsigned char *data, size_t length,
                              const unsigned char *signature, size_t signature_length, unsigned int *key_bits) {
    *key_bits = 0;
    const unsigned char *cursor = der;
    EVP_PKEY *key = d2i_PUBKEY(NULL, &cursor, (long)der_length);
    if (key == NULL) {
        cursor = der;
        key = d2i_PublicKey(EVP_PKEY_RSA, NULL, &cursor, (long)der_length);
    }
    if (key == NULL) return -1;
    int result = -1;
    EVP_MD_CTX *context = NULL;
    if (EVP_PKEY_base_id(key) != EVP_PKEY_RSA) goto done;
    *key_bits = (unsigned int)EVP_PKEY_bits(key);
    context = EVP_MD_CTX_new();
    if (context == NULL || EVP_DigestVerifyInit(context, NULL, EVP_sha256(), NULL, key) != 1) goto done;
    result = EVP_DigestVerify(context, signature, signature_length, data, length) == 1 ? 1 : 0;
done:
    EVP_MD_CTX_free(context);
    EVP_PKEY_free(key);
    return result;
}
