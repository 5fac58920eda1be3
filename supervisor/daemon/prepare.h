/* Launch preparation: what every start of a tenant's program needs before
 * launch.c clones it, written once for its three users (the supervisor's
 * services, `wardd run`, sessions): its host paths, its data directory
 * checked, its seccomp filter compiled. Functions return 0, or -1 with err
 * naming what failed; nothing here blocks for long (the filter's compile
 * is cached under the cache dir). */
#pragma once

#include "basic/error.h"
#include "model/profile.h"
#include "sandbox/seccomp.h"

struct launch_paths {
	char data_dir[4096];  /* DATA_ROOT/TENANT: the tenant's data directory */
	char cache_dir[4096]; /* STATE_DIR/cache: compiled filters */
};

int prepare_paths(const char *data_root, const char *state_dir, const char *tenant,
		  struct launch_paths *out, struct ward_err *err);
/* Creates STATE_DIR if it is missing (`wardd run` before any daemon). */
int prepare_state_dir(const char *state_dir, struct ward_err *err);
/* The data directory a policy with `filesystem.data` mounts: a directory
 * (not a symlink) owned by the tenant's first uid and gid, writable by no
 * one else. The check is on the host path; launch.c opens it again. */
int prepare_data_dir(const char *path, const struct ward_tenant *t, struct ward_err *err);
/* The policy's filter; cache_dir NULL: compiled without the cache. The
 * program is the caller's (seccomp_program_free). */
int prepare_seccomp(const struct ward_policy *p, const char *cache_dir, struct seccomp_program *out,
		    struct ward_err *err);
