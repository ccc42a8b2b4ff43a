#ifndef IMPULSE_CLIBXCRYPT_SHIM_H
#define IMPULSE_CLIBXCRYPT_SHIM_H
#include <crypt.h>
#include <stdlib.h>
#include <string.h>

/* Whether `password` hashes to `stored` (a crypt(3) hash: yescrypt, bcrypt, SHA-512 …) with the
 * system's libcrypt (libxcrypt). The work area is the caller's thread's own; the comparison does
 * not stop at the first difference. Returns 1 on a match, 0 otherwise, -1 when the hash's method
 * is unknown to libcrypt. */
static inline int impulse_crypt_matches(const char *password, const char *stored) {
    struct crypt_data *data = calloc(1, sizeof(struct crypt_data));
    if (!data) return -1;
    const char *hashed = crypt_r(password, stored, data);
    int result;
    if (!hashed || hashed[0] == '*') {
        result = -1;
    } else {
        size_t length = strlen(stored);
        if (strlen(hashed) != length) {
            result = 0;
        } else {
            unsigned char difference = 0;
            for (size_t index = 0; index < length; index++) difference |= (unsigned char)(hashed[index] ^ stored[index]);
            result = difference == 0;
        }
    }
    explicit_bzero(data, sizeof(struct crypt_data));
    free(data);
    return result;
}
#endif
