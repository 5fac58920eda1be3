/* Capabilities and identity: names, and the drop to the tenant's uid/gid
 * with only the kept capabilities left. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "model/names.h"

/* Highest capability number the running kernel knows. */
int caps_last_cap(void);

/* In the child, as the last privileged step before no_new_privs and seccomp:
 * clears supplementary groups, switches to uid/gid, and leaves exactly the
 * capabilities in `keep` in the permitted, effective, inheritable and ambient
 * sets (all others dropped from the bounding set too), with securebits
 * locked so nothing can be regained. Async-signal-safe. Returns 0, or
 * -errno with *step naming what failed. */
int caps_drop_to(uid_t uid, gid_t gid, uint64_t keep, const char **step);

/* The gid of group `name` as the system's group database has it (NSS,
 * getgrnam_r with a growing buffer). false for an unknown group, an empty
 * name or no memory: a group that cannot be found grants nothing. */
bool caps_group_gid(const char *name, gid_t *gid);
