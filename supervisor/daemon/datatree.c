/* A tenant's data tree, archived (tar) or removed, each in a child process
 * of its own: the long steps of offboarding, which wardd's loop watches
 * (offboard.c) while it goes on serving. */
#include "daemon/datatree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define TAR_PATH         "/bin/tar"
#define REMOVE_MAX_DEPTH 4096

/* ---- archiving ---- */

/* ---- the archive's size, checked against the room it has ---- */

/* What tar writes for one file beyond its data: its header block, and a pax
 * extended header (a header and a data block) for long names, large or
 * precise values and sparse maps. Sparse files add their map's block. */
#define TAR_BLOCK           512ULL
#define TAR_PER_FILE        (3 * TAR_BLOCK)
#define TAR_PER_SPARSE_FILE TAR_BLOCK
#define TAR_END             (20 * TAR_BLOCK) /* two zero blocks, padded to a 10 KiB record */
#define MEASURE_FD_MAX      64

/* nftw has no user pointer: the walk runs in a child of its own. */
static unsigned long long measure_bytes;
static unsigned long long measure_files;

/* The bytes tar --sparse writes for one entry: the blocks a file has
 * allocated, not its apparent size (a tenant's 8 GiB hole costs nothing),
 * but never more than its size rounded up to tar's blocks. */
static int measure_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)path;
	(void)ftw;
	measure_bytes += TAR_PER_FILE;
	measure_files++;
	if (type == FTW_F && S_ISREG(st->st_mode)) {
		unsigned long long size = (unsigned long long)st->st_size;
		unsigned long long whole = (size + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
		unsigned long long alloc = (unsigned long long)st->st_blocks * 512ULL;

		if (alloc < whole)
			measure_bytes += alloc + TAR_PER_SPARSE_FILE;
		else
			measure_bytes += whole;
	}
	return 0;
}

/* Child side: 0 when the archive of root/name fits in the free space of
 * the file system that archive_fd is on, else -1 with the reason on
 * stderr. The walk stays on one file system and follows no symlink, as
 * tar (--one-file-system) does. */
static int archive_fits(const char *root, const char *name, int archive_fd)
{
	char path[PATH_MAX];
	struct statvfs vfs;
	unsigned long long avail;

	if (snprintf(path, sizeof(path), "%s/%s", root, name) >= (int)sizeof(path))
		return dprintf(2, "%s/%s: name too long\n", root, name), -1;
	if (nftw(path, measure_one, MEASURE_FD_MAX, FTW_PHYS | FTW_MOUNT) != 0)
		return dprintf(2, "measuring %s: %s\n", path, strerror(errno)), -1;
	measure_bytes += TAR_END;
	if (fstatvfs(archive_fd, &vfs) < 0)
		return dprintf(2, "free space of the archive's file system: %s\n", strerror(errno)),
		       -1;
	/* f_bavail: what an unprivileged writer may use; wardd is root, but the
	 * reserve is the host's, not the archive's. */
	avail = (unsigned long long)vfs.f_bavail * (unsigned long long)vfs.f_frsize;
	if (measure_bytes > avail)
		return dprintf(2,
			       "the archive needs about %llu bytes (%llu files, allocated size) "
			       "and its file system has %llu bytes free: not starting tar\n",
			       measure_bytes, measure_files, avail),
		       -1;
	return 0;
}

pid_t datatree_archive_spawn(const char *root, const char *name, int archive_fd, int *err_r,
			     struct ward_err *err)
{
	int pipefd[2];
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return ward_err_set(err, errno, "pipe for tar");
	pid = fork();
	if (pid < 0) {
		int e = errno;

		close(pipefd[0]);
		close(pipefd[1]);
		return ward_err_set(err, e, "fork for tar");
	}
	if (pid == 0) {
		sigset_t none;
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
		/* --sparse: holes are stored as holes (GNU tar finds them with
		 * SEEK_DATA/SEEK_HOLE; pax format 1.0 maps), so a tenant's sparse
		 * files cannot blow the archive up to their apparent size. */
		char *argv[] = {(char *)TAR_PATH,
				(char *)"--create",
				(char *)"--file=-",
				(char *)"--format=pax",
				(char *)"--sparse",
				(char *)"--numeric-owner",
				(char *)"--one-file-system",
				(char *)"--directory",
				(char *)root,
				(char *)"--",
				(char *)name,
				NULL};
		char *envp[] = {(char *)"PATH=/usr/bin:/bin", (char *)"LC_ALL=C", NULL};

		/* wardd blocks the signals it takes through signalfd: tar must
		 * not inherit that, nor SIGPIPE ignored. */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		(void)signal(SIGPIPE, SIG_DFL);
		if (null < 0 || dup2(null, 0) < 0 || dup2(archive_fd, 1) < 0 ||
		    dup2(pipefd[1], 2) < 0)
			_exit(2);
		/* Nothing of wardd's (sockets, its lock) stays open in here. */
		closefrom(3);
		/* Before a byte is written: an archive that cannot fit is
		 * refused, not left to fail half-way. */
		if (archive_fits(root, name, 1) < 0)
			_exit(3);
		execve(TAR_PATH, argv, envp);
		dprintf(2, "starting %s: %s\n", TAR_PATH, strerror(errno));
		_exit(126);
	}
	close(pipefd[1]);
	*err_r = pipefd[0];
	return pid;
}

/* ---- removal ---- */

/* Child side: removes name under dirfd, never following a symlink nor
 * entering another mount than mnt_id's (dev when the kernel has no mount
 * ids). Messages go to stderr. */
/* NOLINTNEXTLINE(misc-no-recursion): bounded by REMOVE_MAX_DEPTH */
static int remove_tree(int dirfd, const char *name, const char *shown, uint64_t mnt_id, dev_t dev,
		       int depth)
{
	struct statx stx;
	int fd, r = 0;
	DIR *d;
	struct dirent *e;

	if (statx(dirfd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_TYPE | STATX_MNT_ID,
		  &stx) < 0)
		return dprintf(2, "%s: %s\n", shown, strerror(errno)), -1;
	if (!S_ISDIR(stx.stx_mode)) {
		if (unlinkat(dirfd, name, 0) < 0)
			return dprintf(2, "%s: %s\n", shown, strerror(errno)), -1;
		return 0;
	}
	if ((stx.stx_mask & STATX_MNT_ID) ? stx.stx_mnt_id != mnt_id
					  : makedev(stx.stx_dev_major, stx.stx_dev_minor) != dev)
		return dprintf(2, "%s: a mount point: not removing what is mounted there\n", shown),
		       -1;
	if (depth >= REMOVE_MAX_DEPTH)
		return dprintf(2, "%s: more than %d levels deep\n", shown, REMOVE_MAX_DEPTH), -1;
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		dprintf(2, "%s: %s\n", shown, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while ((e = readdir(d))) {
		char sub[PATH_MAX];

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		(void)snprintf(sub, sizeof(sub), "%s/%s", shown, e->d_name); /* for messages */
		if (remove_tree(fd, e->d_name, sub, mnt_id, dev, depth + 1) < 0)
			r = -1; /* go on: remove what can be removed, report the rest */
	}
	closedir(d);
	if (r == 0 && unlinkat(dirfd, name, AT_REMOVEDIR) < 0)
		return dprintf(2, "%s: %s\n", shown, strerror(errno)), -1;
	return r;
}

/* Child side: root/name removed, if it exists. 0 or -1. */
static int remove_under(const char *root, const char *name)
{
	char shown[PATH_MAX];
	struct statx stx;
	int rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	(void)snprintf(shown, sizeof(shown), "%s/%s", root, name);
	if (rfd < 0)
		return dprintf(2, "%s: %s\n", root, strerror(errno)), -1;
	if (statx(rfd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_TYPE | STATX_MNT_ID,
		  &stx) < 0) {
		if (errno == ENOENT)
			return close(rfd), 0;
		return dprintf(2, "%s: %s\n", shown, strerror(errno)), close(rfd), -1;
	}
	/* The top directory's own mount is the one not to leave. */
	int r = remove_tree(rfd, name, shown, stx.stx_mnt_id,
			    makedev(stx.stx_dev_major, stx.stx_dev_minor), 0);
	if (fsync(rfd) < 0)
		r = -1;
	close(rfd);
	return r;
}

pid_t datatree_remove_spawn(const char *data_root, const char *log_root, const char *name,
			    int *err_r, struct ward_err *err)
{
	int pipefd[2];
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return ward_err_set(err, errno, "pipe");
	pid = fork();
	if (pid < 0) {
		int e = errno;
		close(pipefd[0]);
		close(pipefd[1]);
		return ward_err_set(err, e, "fork");
	}
	if (pid == 0) {
		sigset_t none;
		int r;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		(void)signal(SIGPIPE, SIG_DFL);
		/* Nothing of wardd's (sockets, its lock) stays open in here. */
		if (dup2(pipefd[1], 2) < 0)
			_exit(2);
		closefrom(3);
		r = remove_under(data_root, name);
		if (log_root && remove_under(log_root, name) < 0)
			r = -1;
		_exit(r < 0 ? 1 : 0);
	}
	close(pipefd[1]);
	*err_r = pipefd[0];
	return pid;
}
