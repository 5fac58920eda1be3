/* The fake tree's side of cgroupfs: what the kernel does by itself at a
 * cgroup's mkdir and rmdir (struct cgroup_fake_fs). */
#include "cgroup_fake.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/cleanup.h"
#include "sandbox/cgroup-internal.h"

/* mkdir fills the new directory with empty interface files: the regular
 * files of the hierarchy's root. */
static int fake_made(const char *root, const char *path, struct ward_err *err)
{
	_cleanup_close_ int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	DIR *tmpl = opendir(root);
	struct dirent *de;
	struct stat st;
	int r = 0;

	if (dfd < 0 || !tmpl) {
		r = ward_err_set(err, errno, "fake cgroup %s", path);
		goto out;
	}
	while ((de = readdir(tmpl))) {
		if (fstatat(dirfd(tmpl), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		int fd = openat(dfd, de->d_name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0) {
			r = ward_err_set(err, errno, "fake cgroup %s/%s", path, de->d_name);
			goto out;
		}
		close(fd);
	}
out:
	if (tmpl)
		closedir(tmpl);
	return r;
}

/* rmdir takes the interface files with it, and refuses while there are
 * child cgroups. */
static int fake_removing(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	struct stat st;

	if (!d)
		return -1;
	while ((de = readdir(d))) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISDIR(st.st_mode)) {
			closedir(d);
			errno = EBUSY;
			return -1;
		}
	}
	rewinddir(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
	return 0;
}

static const struct cgroup_fake_fs fake_fs = {
    .made = fake_made,
    .removing = fake_removing,
};

int cgroup_setup_fake(const char *root, const char *parent, unsigned flags, const char *backend,
		      struct ward_err *err)
{
	const struct cgroup_ops *ops = strcmp(backend, "v2") == 0   ? &cgroup_v2_ops
				       : strcmp(backend, "v1") == 0 ? &cgroup_v1_ops
								    : NULL;

	if (!ops)
		return ward_err_set(err, EINVAL, "cgroup backend \"%s\"", backend);
	return cgroup_setup_ops(root, parent, flags, ops, &fake_fs, err);
}
