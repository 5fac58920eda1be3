/* Per-practice disk quotas: project quotas (ext4, XFS) or, on btrfs, a
 * qgroup limit on the practice's data subvolume. */
#include "sandbox/quota.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/btrfs.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <linux/quota.h>
#include <stdbool.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "basic/cleanup.h"

#define QUOTA_BLOCK 1024ULL /* QIF_DQBLKSIZE: the unit of dqb_bhardlimit */

static const char *why_unsupported(int e)
{
	switch (e) {
	case ENOTTY:
	case EOPNOTSUPP:
		return "the file system has no project ids and is not btrfs (ext4 needs "
		       "-O project; tmpfs and others have neither)";
	case ESRCH:
		return "project quota is not enabled on it (ext4: -O quota,project or mount "
		       "-o prjquota; XFS: mount -o pquota)";
	case ENOSYS: /* no s_qcop: a file system without quota support */
		return "the file system has no quota support (ext4 with -O quota,project and "
		       "a kernel with CONFIG_QUOTA and CONFIG_QFMT_V2, or XFS with "
		       "CONFIG_XFS_QUOTA, mounted -o pquota)";
	default:
		return NULL;
	}
}

static int project_apply(int fd, const char *dir, uint32_t projid, uint64_t limit_bytes,
			 struct ward_err *err)
{
	struct fsxattr fsx;
	struct if_dqblk q = {0};
	const char *why;

	if (ioctl(fd, FS_IOC_FSGETXATTR, &fsx) < 0) {
		int e = errno;

		why = why_unsupported(e);
		return why ? ward_err_set(err, 0, "%s: %s", dir, why)
			   : ward_err_set(err, e, "%s: FS_IOC_FSGETXATTR", dir);
	}
	/* glibc's QCMD shifts Q_SETQUOTA (0x800008) left in an int, which
	 * overflows (undefined behaviour; UBSan stops wardd): the same
	 * command word, built unsigned. */
	const int setquota = (int)((unsigned)Q_SETQUOTA << SUBCMDSHIFT | (PRJQUOTA & SUBCMDMASK));

	/* The limit first, then the tag: a tagged directory is never counted
	 * against a project without its limit. */
	q.dqb_bhardlimit = (limit_bytes + QUOTA_BLOCK - 1) / QUOTA_BLOCK;
	q.dqb_bsoftlimit = q.dqb_bhardlimit;
	q.dqb_valid = QIF_BLIMITS;
	if (syscall(SYS_quotactl_fd, fd, setquota, (long)projid, &q) < 0) {
		int e = errno;

		why = why_unsupported(e);
		return why ? ward_err_set(err, 0, "%s: %s", dir, why)
			   : ward_err_set(err, e, "%s: setting the quota of project %u", dir,
					  projid);
	}
	fsx.fsx_projid = projid;
	fsx.fsx_xflags |= FS_XFLAG_PROJINHERIT;
	if (ioctl(fd, FS_IOC_FSSETXATTR, &fsx) < 0) {
		int e = errno;

		why = why_unsupported(e);
		return why ? ward_err_set(err, 0, "%s: %s", dir, why)
			   : ward_err_set(err, e, "%s: FS_IOC_FSSETXATTR project %u", dir, projid);
	}
	return 0;
}

/* The root directory of a btrfs subvolume is always this inode. */
#define BTRFS_SUBVOL_ROOT_INO 256 /* BTRFS_FIRST_FREE_OBJECTID */

static bool on_btrfs(int fd)
{
	struct statfs sfs;

	return fstatfs(fd, &sfs) == 0 && sfs.f_type == (typeof(sfs.f_type))BTRFS_SUPER_MAGIC;
}

static int btrfs_apply(int fd, const char *dir, uint64_t limit_bytes, struct ward_err *err)
{
	struct btrfs_ioctl_quota_ctl_args ctl = {.cmd = BTRFS_QUOTA_CTL_ENABLE};
	struct btrfs_ioctl_qgroup_limit_args lim = {0};
	struct stat st;

	if (fstat(fd, &st) < 0)
		return ward_err_set(err, errno, "%s", dir);
	/* Must be checked first: qgroup id 0 below means "the subvolume this
	 * fd is in", which for a plain directory is the subvolume holding it,
	 * the data root itself or more: limiting that would cap every
	 * practice together. A plain directory is said, never limited. */
	if (st.st_ino != BTRFS_SUBVOL_ROOT_INO)
		return ward_err_set(
		    err, 0,
		    "%s: quota not applied: not a subvolume (a plain directory on "
		    "btrfs has no qgroup of its own; move its data into a subvolume "
		    "made with 'btrfs subvolume create', or onboard the practice "
		    "again, which makes one)",
		    dir);
	/* Already enabled is fine (the kernel returns 0); enabling starts a
	 * rescan that creates the qgroups of existing subvolumes. */
	if (ioctl(fd, BTRFS_IOC_QUOTA_CTL, &ctl) < 0)
		return ward_err_set(err, errno, "%s: enabling btrfs quotas (BTRFS_IOC_QUOTA_CTL)",
				    dir);
	lim.qgroupid = 0; /* this subvolume's own qgroup, 0/<subvolume id> */
	lim.lim.flags = BTRFS_QGROUP_LIMIT_MAX_RFER | BTRFS_QGROUP_LIMIT_MAX_EXCL;
	lim.lim.max_rfer = limit_bytes;
	lim.lim.max_excl = limit_bytes;
	if (ioctl(fd, BTRFS_IOC_QGROUP_LIMIT, &lim) < 0)
		return ward_err_set(err, errno,
				    "%s: setting its qgroup limit (BTRFS_IOC_QGROUP_LIMIT)", dir);
	return 0;
}

int quota_apply(const char *dir, uint32_t projid, uint64_t limit_bytes, const char **backend,
		struct ward_err *err)
{
	_cleanup_close_ int fd = -1;

	/* The data directory is wardd's to name: no symlink is followed. */
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return ward_err_set(err, errno, "%s", dir);
	if (on_btrfs(fd)) {
		*backend = "btrfs-qgroup";
		return btrfs_apply(fd, dir, limit_bytes, err);
	}
	*backend = "project";
	return project_apply(fd, dir, projid, limit_bytes, err);
}

int quota_mkdirat(int dirfd, const char *name, mode_t mode)
{
	struct btrfs_ioctl_vol_args args = {0};

	if (!on_btrfs(dirfd))
		return mkdirat(dirfd, name, mode);
	if (strlen(name) > BTRFS_PATH_NAME_MAX || strchr(name, '/'))
		return errno = EINVAL, -1;
	memcpy(args.name, name, strlen(name) + 1);
	/* Fails with EEXIST like mkdirat; the new subvolume's root is root's
	 * and 0755 until the caller gives it to the practice. */
	if (ioctl(dirfd, BTRFS_IOC_SUBVOL_CREATE, &args) < 0)
		return -1;
	return fchmodat(dirfd, name, mode, 0);
}
