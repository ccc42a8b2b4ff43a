#ifndef IMPULSE_COPENDMARC_SHIM_H
#define IMPULSE_COPENDMARC_SHIM_H
/* libopendmarc (Debian's libopendmarc-dev): DMARC record parsing, alignment and the policy to
 * apply (RFC 7489). Impulse looks the records up itself and hands them to the library. */
#include <sys/types.h>
#include <opendmarc/dmarc.h>

/* The organisational domain of `domain` by the public suffix list read at library set-up
 * (RFC 7489 §3.2). Exported by libopendmarc, though its header does not declare it. */
int opendmarc_get_tld(u_char *domain, u_char *tld, size_t tld_len);
#endif
