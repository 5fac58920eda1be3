/* The firewall's operator view: the JSON that leaves the daemon, built
 * apart from the firewall's logic. Internal to the firewall
 * (net/firewall*.c). */
#pragma once

#include <jansson.h>

#include "basic/error.h"

/* {"IFNAME": {"packets": N, "bytes": N}, ...} out of the JSON output of
 * `list set inet ward dropcnt` (see firewall_counters). New reference, or
 * NULL with err set. */
json_t *fw_counters_view(const char *out, struct ward_err *err);
