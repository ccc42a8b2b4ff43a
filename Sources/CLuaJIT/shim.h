#ifndef IMPULSE_CLUAJIT_SHIM_H
#define IMPULSE_CLUAJIT_SHIM_H
#include <lua.h>
#include <lualib.h>
#include <lauxlib.h>
#include <luajit.h>
#endif
