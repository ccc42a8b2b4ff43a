#ifndef IMPULSE_CHIREDIS_SHIM_H
#define IMPULSE_CHIREDIS_SHIM_H
#include <hiredis/hiredis.h>
#endif
