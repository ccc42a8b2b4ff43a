#ifndef IMPULSE_CPCRE2_SHIM_H
#define IMPULSE_CPCRE2_SHIM_H
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
/// PCRE2_UNSET, which Swift cannot import (a cast expression).
static inline PCRE2_SIZE impulse_pcre2_unset(void) { return PCRE2_UNSET; }
#endif
