#ifndef IMPULSE_COPENDKIM_SHIM_H
#define IMPULSE_COPENDKIM_SHIM_H
/* libopendkim (Debian's libopendkim-dev). Only DKIMShim's C code includes it: its header pulls
 * in <sys/time.h>, which Swift code must not see beside Dispatch's copy. */
#include <opendkim/dkim.h>
#endif
