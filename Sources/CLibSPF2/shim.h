#ifndef IMPULSE_CLIBSPF2_SHIM_H
#define IMPULSE_CLIBSPF2_SHIM_H
/* libspf2 (Debian's libspf2-dev), linked here; only SPFShim's C code includes its headers, which
 * need the network headers first and would bring them into Swift. */
#include <stddef.h>
#endif
