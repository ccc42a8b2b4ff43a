#ifndef IMPULSE_CUNBOUND_SHIM_H
#define IMPULSE_CUNBOUND_SHIM_H
#include <unbound.h>
#endif
