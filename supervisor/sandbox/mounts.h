/* The filesystem view of a sandbox: a fresh tmpfs root holding only what the
 * policy names, then pivot_root. */
#pragma once

#include <sys/types.h>

#include "basic/error.h"
#include "model/profile.h"

struct mount_plan {
	const struct ward_filesystem *fs;
	const char *data_src; /* host path of the tenant's data dir (fs->data set) */
	/* Who owns what ward creates inside (root tmpfs, mount points). In a
	 * user namespace it must be mapped there: the tenant's uid. */
	uid_t owner;
	/* Ptys the sandbox's own devpts instance may hold (devpts max=): the
	 * kernel's pool (kernel.pty.max, less the host's reserve) is shared by
	 * every instance, and one tenant must not be able to take it all.
	 * 0: no limit of its own. */
	unsigned pty_max;
};

/* In the child, inside its new mount (and pid) namespace: builds the root
 * and pivots into it. Returns 0 or -1 with err naming the step and path. */
int mounts_apply(const struct mount_plan *plan, struct ward_err *err);

/* The view of an end-user session that joined a running service
 * (launch_join): everything the service sees, read-only and nosuid, with the
 * session policy's own entries on top: `ro`/`rw` host paths, `data` (the
 * tenant's data dir, read-only like everything but the home), private
 * `tmpfs` mounts, `hide`; and the user's home, read-write, at `home`. The
 * service's own /home is not part of it. */
struct session_mount_plan {
	const struct ward_filesystem *fs; /* the session policy's */
	const char *data_src;             /* host path of the tenant's data dir (fs->data set) */
	const char *home;                 /* absolute path inside: /home/USER */
	int home_fd;                      /* the home directory on the host */
	uid_t owner;                      /* owns what ward creates inside (mapped) */
};

struct session_mounts;

/* Step 1, in the child before it leaves the host's namespaces: opens and
 * clones every host source (policy binds, data, home). */
int mounts_session_open(const struct session_mount_plan *plan, struct session_mounts **out,
			struct ward_err *err);
/* Step 2, after setns into the service's namespaces and unshare(CLONE_NEWNS):
 * builds the view in a fresh root and pivots into it. Frees sm. */
int mounts_session_apply(struct session_mounts *sm, struct ward_err *err);
void mounts_session_free(struct session_mounts *sm);
