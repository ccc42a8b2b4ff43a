#ifndef IMPULSE_DKIM_H
#define IMPULSE_DKIM_H
/* Impulse's narrow C face of libopendkim: verifying whole messages (RFC 6376, RFC 8463), with
 * key look-ups answered by the caller. No libopendkim type crosses it. Signing is Impulse's own,
 * with keys decoded once (impulse_signing_key.h). */
#include <stddef.h>

typedef struct impulse_dkim_library impulse_dkim_library;

impulse_dkim_library *impulse_dkim_library_new(char *error, size_t error_capacity);
void impulse_dkim_library_free(impulse_dkim_library *library);

/* A key look-up for verification: copies the TXT record at `name` into `buffer` (NUL-terminated)
 * and returns 0; 1 when there is none (NXDOMAIN, no TXT); 2 on a temporary failure. */
typedef int (*impulse_dkim_key_lookup)(void *context, const char *name, char *buffer, size_t capacity);

/* What one signature came to. */
typedef struct {
    char domain[256];
    char selector[256];
    char identity[320];
    char algorithm[32];
    char error_text[96];
    char headers[1024];     /* the h= tag: the signed header field names, colon-separated */
    int relaxed_header, relaxed_body;
    unsigned int flags;     /* libopendkim's DKIM_SIGFLAG_* bits */
    int body_hash;          /* DKIM_SIGBH_*: -1 untested, 0 match, 1 mismatch */
    int error;              /* DKIM_SIGERROR_* */
    unsigned int key_bits;
    int passed;             /* signature and body hash both good */
    int ignored;            /* past the bound on signatures checked */
    int key_failure;        /* the key look-up failed temporarily */
} impulse_dkim_signature;

/* Verifies the signatures of `message`, at most `max_checked` of them (the rest are reported as
 * ignored), writing up to `capacity` results. Returns libopendkim's overall status. */
int impulse_dkim_verify(impulse_dkim_library *library, const unsigned char *message, size_t length,
                        impulse_dkim_key_lookup lookup, void *context, size_t max_checked,
                        impulse_dkim_signature *results, size_t capacity, size_t *count,
                        char *error, size_t error_capacity);

const char *impulse_dkim_status_text(int status);
#endif
