#include <stdio.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include "impulse_rsa.h"

void impulse_sha256(const unsigned char *data, size_t length, unsigned char digest[32]) {
    unsigned int size = 32;
    EVP_Digest(data, length, digest, &size, EVP_sha256(), NULL);
}

long impulse_rsa_sha256_sign(const unsigned char *pem, size_t pem_length, const unsigned char *data, size_t length,
                             unsigned char *signature, size_t capacity, unsigned int *key_bits, char *error,
                             size_t error_capacity) {
    *key_bits = 0;
    if (pem_length > 1 << 20) {
        snprintf(error, error_capacity, "key too large");
        return -1;
    }
    BIO *bio = BIO_new_mem_buf(pem, (int)pem_length);
    if (bio == NULL) {
        snprintf(error, error_capacity, "out of memory");
        return -1;
    }
    EVP_PKEY *key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (key == NULL) {
        snprintf(error, error_capacity, "not a PEM private key");
        return -1;
    }
    long result = -1;
    EVP_MD_CTX *context = NULL;
    if (EVP_PKEY_base_id(key) != EVP_PKEY_RSA) {
        snprintf(error, error_capacity, "not an RSA key (ARC signs with rsa-sha256 only)");
        goto done;
    }
    *key_bits = (unsigned int)EVP_PKEY_bits(key);
    size_t size = (size_t)EVP_PKEY_size(key);
    if (size > capacity) {
        snprintf(error, error_capacity, "key too large");
        goto done;
    }
    context = EVP_MD_CTX_new();
    if (context == NULL || EVP_DigestSignInit(context, NULL, EVP_sha256(), NULL, key) != 1 ||
        EVP_DigestSign(context, signature, &size, data, length) != 1) {
        snprintf(error, error_capacity, "signing failed");
        goto done;
    }
    result = (long)size;
done:
    EVP_MD_CTX_free(context);
    EVP_PKEY_free(key);
    return result;
}

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
