/* Links, addresses and routes through rtnetlink (libnl-route-3). */
#pragma once

#include "ward/error.h"

/* Brings up `lo` in the calling process's network namespace. */
int netlink_loopback_up(struct ward_err *err);
