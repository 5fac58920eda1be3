/* Per-practice disk quotas through project quotas (ext4, XFS). */
#include "ward/quota.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/quota.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ward/cleanup.h"

#define QUOTA_BLOCK 1024ULL /* QIF_DQBLKSIZE: the unit of dqb_bhardlimit */

static const char *why_unsupported(int e)
{
	switch (e) {
	case ENOTTY:
	case EOPNOTSUPP:
		return "the file system has no project ids (ext4 needs -O project; tmpfs, "
		       "btrfs and others have none)";
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

int quota_apply(const char *dir, uint32_t projid, uint64_t limit_bytes, struct ward_err *err)
{
	_cleanup_close_ int fd = -1;
	struct fsxattr fsx;
	struct if_dqblk q = {0};
	const char *why;

	/* The data directory is wardd's to name: no symlink is followed. */
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return ward_err_set(err, errno, "%s", dir);
	if (ioctl(fd, FS_IOC_FSGETXATTR, &fsx) < 0) {
		int e = errno;

		why = why_unsupported(e);
		return why ? ward_err_set(err, 0, "%s: %s", dir, why)
			   : ward_err_set(err, e, "%s: FS_IOC_FSGETXATTR", dir);
	}
	/* The limit first, then the tag: a tagged directory is never counted
	 * against a project without its limit. */
	q.dqb_bhardlimit = (limit_bytes + QUOTA_BLOCK - 1) / QUOTA_BLOCK;
	q.dqb_bsoftlimit = q.dqb_bhardlimit;
	q.dqb_valid = QIF_BLIMITS;
	if (syscall(SYS_quotactl_fd, fd, QCMD(Q_SETQUOTA, PRJQUOTA), (long)projid, &q) < 0) {
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
