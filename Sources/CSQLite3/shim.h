#ifndef IMPULSE_CSQLITE3_SHIM_H
#define IMPULSE_CSQLITE3_SHIM_H
/* SQLite (Debian's libsqlite3-dev): the sqlite datasource driver. */
#include <sqlite3.h>
#endif
