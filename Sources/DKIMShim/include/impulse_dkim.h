#ifndef IMPULSE_DKIM_H
#define IMPULSE_DKIM_H
/* Impulse's narrow C face of libopendkim: signing and verifying whole messages (RFC 6376,
 * RFC 8463), with key look-ups answered by the caller. No libopendkim type crosses it. */
#include <stddef.h>

typedef struct impulse_dkim_library impulse_dkim_library;

/* Library-wide signing settings (libopendkim keeps them per library, not per message). */
typedef struct {
    const char *const *sign_headers;     /* header field names to sign (NULL: libopendkim's default set) */
    size_t sign_header_count;
    const char *const *oversign_headers; /* names signed once more than they occur */
    size_t oversign_header_count;
    const char *const *skip_headers;     /* names never signed */
    size_t skip_header_count;
    unsigned long signature_ttl;         /* seconds for x= (0: no expiry) */
    int body_length_tag;                 /* add l= */
    int copy_headers;                    /* add z= */
} impulse_dkim_settings;

impulse_dkim_library *impulse_dkim_library_new(const impulse_dkim_settings *settings, char *error, size_t error_capacity);
void impulse_dkim_library_free(impulse_dkim_library *library);

/* Signs `message` (header section, empty line, body; CRLF line ends). On success returns 0 and
 * sets *signature to the DKIM-Signature field's value (malloc'd, folded with CRLF + tab, without
 * the field name); otherwise returns libopendkim's status and writes why into `error`. */
int impulse_dkim_sign(impulse_dkim_library *library, const unsigned char *message, size_t length,
                      const unsigned char *key, size_t key_length, const char *selector, const char *domain,
                      const char *identity, int relaxed_header, int relaxed_body, int algorithm,
                      char **signature, char *error, size_t error_capacity);

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
