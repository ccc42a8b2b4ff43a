#ifndef IMPULSE_LUA_SHIM_INTERNAL_H
#define IMPULSE_LUA_SHIM_INTERNAL_H

/* What the C files of LuaShim share and Swift does not see. */

#include <lua.h>

/* Charges `steps` units of work done inside one C call (a pattern match, a sort) to the state's
   watchdog, as if that many VM instructions had run; raises "watchdog: script ran too long" once
   the armed budget is spent. Does nothing for a state Impulse did not make. */
void impulse_lua_charge_work(lua_State *L, long steps);

/* Installs the bounded string.find/match/gmatch/gsub (BoundedPatterns.c) into the table on top
   of the stack (the string library). */
void impulse_lua_register_bounded_patterns(lua_State *L);

/* Installs the bounded table.sort (BoundedSort.c) into the table on top of the stack. */
void impulse_lua_register_bounded_sort(lua_State *L);

#endif
