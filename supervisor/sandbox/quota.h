/* Per-practice disk quotas, so one practice cannot fill the data volume for
 * the others: ext4/XFS project quotas on a tenant's data directory, or on
 * btrfs a qgroup limit on the tenant's data subvolume. */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "basic/error.h"

/* Limits what is stored beneath directory `dir` to `limit_bytes`.
 * On btrfs: `dir` must be a subvolume (else -1, "quota not applied: not a
 * subvolume"); quotas are enabled on the file system if they are not
 * (BTRFS_IOC_QUOTA_CTL) and the subvolume's qgroup gets max_referenced =
 * max_exclusive = limit_bytes (BTRFS_IOC_QGROUP_LIMIT). Elsewhere: sets
 * project `projid`'s block limit (quotactl_fd Q_SETQUOTA PRJQUOTA, soft =
 * hard), then tags `dir` with it (FS_IOC_FSSETXATTR, FS_XFLAG_PROJINHERIT:
 * what is created beneath it from now on is counted to that project).
 * *backend is set to "btrfs-qgroup" or "project" once `dir` is open.
 * Returns 0, or -1 with err saying what the file system lacks (no project
 * ids, project quota not enabled: mkfs.ext4 -O quota,project or tune2fs -O
 * project,quota and mount -o prjquota; XFS: mount -o pquota). */
int quota_apply(const char *dir, uint32_t projid, uint64_t limit_bytes, const char **backend,
		struct ward_err *err);

/* mkdirat(dirfd, name, mode), except that on btrfs `name` is made a
 * subvolume (BTRFS_IOC_SUBVOL_CREATE), so quota_apply can limit it. 0, or
 * -1 with errno (EEXIST if it exists). */
int quota_mkdirat(int dirfd, const char *name, mode_t mode);
