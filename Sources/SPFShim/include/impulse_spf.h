#ifndef IMPULSE_SPF_H
#define IMPULSE_SPF_H
/* Impulse's narrow C face of libspf2: one SPF check (RFC 7208 check_host) with every DNS
 * look-up answered by the caller. No libspf2 type crosses it. */
#include <stddef.h>

/* A DNS look-up for SPF: writes the answers into `buffer` as NUL-terminated strings one after
 * another (A/AAAA as addresses in text, MX and PTR as host names, TXT as the joined strings of
 * one record), sets *count, and returns 0; or 1 for NXDOMAIN, 2 for no record of that type,
 * 3 for a temporary failure. `type` is the record type's number (1 A, 12 PTR, 15 MX, 16 TXT, 28 AAAA). */
typedef int (*impulse_spf_lookup)(void *context, const char *name, int type, char *buffer, size_t capacity,
                                  int *count);

typedef struct {
    int result;                 /* 1 neutral, 2 pass, 3 fail, 4 softfail, 6 none, 7 temperror, 8 permerror */
    char result_text[16];
    char received_spf[1024];    /* the Received-SPF field, name included, without CRLF */
    char comment[512];
    int lookups;                /* DNS look-ups made */
    int void_lookups;           /* of which answered NXDOMAIN or no record, after the first */
} impulse_spf_result;

/* check_host() for `ip` (text), identity `sender` (a mailbox; "postmaster@<helo>" for the HELO
 * identity), the HELO name and the receiving host's name. At most `max_lookups` DNS look-ups and
 * `max_void` void ones (RFC 7208 §4.6.4): past either the result is permerror. Returns 0, or -1
 * when the request itself is invalid (a bad address). */
int impulse_spf_check(const char *ip, const char *sender, const char *helo, const char *receiver,
                      impulse_spf_lookup lookup, void *context, int max_lookups, int max_void,
                      impulse_spf_result *result);
#endif
