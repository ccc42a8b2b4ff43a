#ifndef IMPULSE_CEDITLINE_SHIM_H
#define IMPULSE_CEDITLINE_SHIM_H
#include <stdio.h>
#include <stdlib.h>
#include <editline/readline.h>
#endif
