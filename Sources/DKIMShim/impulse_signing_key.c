#include <stdio.h>
#include <stdlib.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include "impulse_signing_key.h"

struct impulse_signing_key {
    EVP_PKEY *pkey;
    int kind;
};

impulse_signing_key *impulse_signing_key_load(const unsigned char *pem, size_t length, int *kind, unsigned int *bits,
                                              char *error, size_t error_capacity) {
    *kind = 0;
    *bits = 0;
    if (length > 1 << 20) {
        snprintf(error, error_capacity, "key too large");
        return NULL;
    }
    BIO *bio = BIO_new_mem_buf(pem, (int)length);
    if (bio == NULL) {
        snprintf(error, error_capacity, "out of memory");
        return NULL;
    }
    EVP_PKEY *pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (pkey == NULL) {
        snprintf(error, error_capacity, "not a PEM private key");
        return NULL;
    }
    int type = EVP_PKEY_base_id(pkey);
    if (type != EVP_PKEY_RSA && type != EVP_PKEY_ED25519) {
        snprintf(error, error_capacity, "neither an RSA nor an Ed25519 key");
        EVP_PKEY_free(pkey);
        return NULL;
    }
    impulse_signing_key *key = calloc(1, sizeof(*key));
    if (key == NULL) {
        snprintf(error, error_capacity, "out of memory");
        EVP_PKEY_free(pkey);
        return NULL;
    }
    key->pkey = pkey;
    key->kind = type == EVP_PKEY_RSA ? IMPULSE_KEY_RSA : IMPULSE_KEY_ED25519;
    *kind = key->kind;
    *bits = (unsigned int)EVP_PKEY_bits(pkey);
    return key;
}

void impulse_signing_key_free(impulse_signing_key *key) {
    if (key == NULL) return;
    EVP_PKEY_free(key->pkey);
    free(key);
}

unsigned int impulse_digest(int sha1, const unsigned char *data, size_t length, unsigned char digest[32]) {
    unsigned int size = 32;
    if (EVP_Digest(data, length, digest, &size, sha1 ? EVP_sha1() : EVP_sha256(), NULL) != 1) return 0;
    return size;
}

long impulse_signing_key_sign(const impulse_signing_key *key, int algorithm, const unsigned char *data, size_t length,
                              unsigned char *signature, size_t capacity, char *error, size_t error_capacity) {
    int ed25519 = algorithm == IMPULSE_SIGN_ED25519_SHA256;
    if (ed25519 != (key->kind == IMPULSE_KEY_ED25519)) {
        snprintf(error, error_capacity, "the algorithm does not fit the key");
        return -1;
    }
    size_t size = (size_t)EVP_PKEY_size(key->pkey);
    if (size > capacity) {
        snprintf(error, error_capacity, "key too large");
        return -1;
    }
    unsigned char digest[32];
    const EVP_MD *md = NULL;
    if (ed25519) {
        /* RFC 8463 §3: the Ed25519 signature is over the SHA-256 of the data, not the data. */
        if (impulse_digest(0, data, length, digest) != 32) {
            snprintf(error, error_capacity, "hashing failed");
            return -1;
        }
        data = digest;
        length = sizeof(digest);
    } else {
        md = algorithm == IMPULSE_SIGN_RSA_SHA1 ? EVP_sha1() : EVP_sha256();
    }
    long result = -1;
    EVP_MD_CTX *context = EVP_MD_CTX_new();
    if (context == NULL || EVP_DigestSignInit(context, NULL, md, NULL, key->pkey) != 1 ||
        EVP_DigestSign(context, signature, &size, data, length) != 1) {
        snprintf(error, error_capacity, "signing failed");
    } else {
        result = (long)size;
    }
    EVP_MD_CTX_free(context);
    return result;
}
