#ifndef IMPULSE_CLIBCRYPTO_SHIM_H
#define IMPULSE_CLIBCRYPTO_SHIM_H
#include <openssl/sha.h>
#endif
