/* The filesystem view of a sandbox: a fresh tmpfs root holding only what the
 * policy names, then pivot_root. */
#pragma once

#include <sys/types.h>

#include "ward/error.h"
#include "ward/profile.h"

struct mount_plan {
	const struct ward_filesystem *fs;
	const char *data_src; /* host path of the tenant's data dir (fs->data set) */
	/* Who owns what ward creates inside (root tmpfs, mount points). In a
	 * user namespace it must be mapped there: the tenant's uid. */
	uid_t owner;
};

/* In the child, inside its new mount (and pid) namespace: builds the root
 * and pivots into it. Returns 0 or -1 with err naming the step and path. */
int mounts_apply(const struct mount_plan *plan, struct ward_err *err);
