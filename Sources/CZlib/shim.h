#ifndef IMPULSE_CZLIB_SHIM_H
#define IMPULSE_CZLIB_SHIM_H
#include <zlib.h>
#endif
