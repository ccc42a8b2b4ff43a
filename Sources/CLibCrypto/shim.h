#ifndef IMPULSE_CLIBCRYPTO_SHIM_H
#define IMPULSE_CLIBCRYPTO_SHIM_H
#include <openssl/sha.h>
#include <openssl/hmac.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

/* DANE-TA (RFC 7672 section 3.1.2): validates the chain a next hop presented (DER, leaf first)
 * up to the trust anchor a TLSA record named (DER), with the host names the leaf must carry
 * (RFC 6125 rules, no partial wildcards) and the usual validity dates, purpose and signatures.
 * The anchor need not be self-signed (a partial chain is accepted). Returns 0 when the chain is
 * valid, else OpenSSL's verification error code (X509_V_ERR_*; -1 when a certificate could not
 * be read). */
static inline int impulse_verify_dane_ta(const unsigned char *const *chain, const size_t *lengths, int count,
                                         const unsigned char *anchor, size_t anchorLength,
                                         const char *const *names, int nameCount) {
    if (count < 1) return -1;
    int result = -1;
    X509 *leaf = NULL, *trusted = NULL;
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *context = X509_STORE_CTX_new();
    if (!untrusted || !store || !context) goto done;
    const unsigned char *cursor = anchor;
    trusted = d2i_X509(NULL, &cursor, (long)anchorLength);
    if (!trusted || X509_STORE_add_cert(store, trusted) != 1) goto done;
    for (int index = 0; index < count; index++) {
        cursor = chain[index];
        X509 *certificate = d2i_X509(NULL, &cursor, (long)lengths[index]);
        if (!certificate) goto done;
        if (index == 0) {
            leaf = certificate;
        } else if (!sk_X509_push(untrusted, certificate)) {
            X509_free(certificate);
            goto done;
        }
    }
    if (X509_STORE_CTX_init(context, store, leaf, untrusted) != 1) goto done;
    X509_VERIFY_PARAM *parameters = X509_STORE_CTX_get0_param(context);
    X509_VERIFY_PARAM_set_flags(parameters, X509_V_FLAG_PARTIAL_CHAIN);
    X509_VERIFY_PARAM_set_purpose(parameters, X509_PURPOSE_SSL_SERVER);
    X509_VERIFY_PARAM_set_hostflags(parameters, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    for (int index = 0; index < nameCount; index++) {
        int added = index == 0 ? X509_VERIFY_PARAM_set1_host(parameters, names[index], 0)
                               : X509_VERIFY_PARAM_add1_host(parameters, names[index], 0);
        if (added != 1) goto done;
    }
    result = X509_verify_cert(context) == 1 ? 0 : X509_STORE_CTX_get_error(context);
    if (result == 0 && nameCount == 0) result = X509_V_ERR_HOSTNAME_MISMATCH;
done:
    if (context) X509_STORE_CTX_free(context);
    if (store) X509_STORE_free(store);
    if (untrusted) sk_X509_pop_free(untrusted, X509_free);
    if (leaf) X509_free(leaf);
    if (trusted) X509_free(trusted);
    return result;
}

/* CRAM-MD5 (RFC 2195): HMAC-MD5 of `challenge` keyed with `password`, as 32 lower-case hex digits
 * in `hex` (33 octets with the NUL). Returns 1 when computed. */
static inline int impulse_cram_md5(const char *password, size_t passwordLength, const char *challenge,
                                   size_t challengeLength, char *hex) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (!HMAC(EVP_md5(), password, (int)passwordLength, (const unsigned char *)challenge, challengeLength, digest,
              &length) || length != 16) return 0;
    static const char digits[] = "0123456789abcdef";
    for (unsigned int index = 0; index < 16; index++) {
        hex[2 * index] = digits[digest[index] >> 4];
        hex[2 * index + 1] = digits[digest[index] & 15];
    }
    hex[32] = 0;
    return 1;
}

/* OpenSSL's text for a verification error code. */
static inline const char *impulse_verify_error_text(int code) {
    return code < 0 ? "a certificate could not be read" : X509_verify_cert_error_string(code);
}
#endif
