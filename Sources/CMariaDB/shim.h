#ifndef IMPULSE_CMARIADB_SHIM_H
#define IMPULSE_CMARIADB_SHIM_H
/* MariaDB Connector/C (Debian's libmariadb-dev): the mysql datasource driver. */
#include <mysql.h>
#endif
