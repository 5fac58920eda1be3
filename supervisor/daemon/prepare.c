/* Launch preparation, shared by the supervisor, `wardd run` and sessions
 * (prepare.h). */
#include "daemon/prepare.h"

#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>

int prepare_paths(const char *data_root, const char *state_dir, const char *tenant,
		  struct launch_paths *out, struct ward_err *err)
{
	if (snprintf(out->data_dir, sizeof(out->data_dir), "%s/%s", data_root, tenant) >=
		(int)sizeof(out->data_dir) ||
	    snprintf(out->cache_dir, sizeof(out->cache_dir), "%s/cache", state_dir) >=
		(int)sizeof(out->cache_dir))
		return ward_err_set(err, ENAMETOOLONG, "paths");
	return 0;
}

int prepare_state_dir(const char *state_dir, struct ward_err *err)
{
	if (mkdir(state_dir, 0755) < 0 && errno != EEXIST)
		return ward_err_set(err, errno, "state directory %s", state_dir);
	return 0;
}

int prepare_data_dir(const char *path, const struct ward_tenant *t, struct ward_err *err)
{
	struct stat st;

	/* lstat: a symlink is refused, never followed to someone else's. */
	if (lstat(path, &st) < 0)
		return ward_err_set(err, errno, "data directory %s", path);
	if (!S_ISDIR(st.st_mode))
		return ward_err_set(err, 0, "data directory %s: not a directory%s", path,
				    S_ISLNK(st.st_mode) ? " (a symlink)" : "");
	if (st.st_uid != t->ids.uid || st.st_gid != t->ids.uid)
		return ward_err_set(err, 0,
				    "data directory %s: owned by %u:%u, must be the tenant's %u:%u",
				    path, st.st_uid, st.st_gid, t->ids.uid, t->ids.uid);
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return ward_err_set(err, 0,
				    "data directory %s: writable by group or others (mode %03o)",
				    path, st.st_mode & 0777);
	return 0;
}

int prepare_seccomp(const struct ward_policy *p, const char *cache_dir, struct seccomp_program *out,
		    struct ward_err *err)
{
	return seccomp_compile(&p->seccomp, cache_dir, out, err);
}
