#ifndef IMPULSE_CLIBPQ_SHIM_H
#define IMPULSE_CLIBPQ_SHIM_H
/* libpq (Debian's libpq-dev): the pgsql datasource driver. */
#include <libpq-fe.h>
#endif
