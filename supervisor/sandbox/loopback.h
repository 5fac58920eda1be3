/* lo up in the calling process's (new) network namespace. */
#pragma once

#include "basic/error.h"

/* Brings up `lo` in the calling process's network namespace. */
int loopback_up(struct ward_err *err);
