/* Per-practice disk quotas: ext4/XFS project quotas on a tenant's data
 * directory, so one practice cannot fill the data volume for the others. */
#pragma once

#include <stdint.h>

#include "ward/error.h"

/* Tags directory `dir` with project `projid` (FS_IOC_FSSETXATTR, with
 * FS_XFLAG_PROJINHERIT: what is created beneath it from now on is counted
 * to that project) and sets the project's block limit to `limit_bytes`
 * (quotactl_fd Q_SETQUOTA PRJQUOTA, soft = hard). Returns 0, or -1 with err
 * saying what the file system lacks (no project ids, project quota not
 * enabled: mkfs.ext4 -O quota,project or tune2fs -O project,quota and
 * mount -o prjquota; XFS: mount -o pquota). */
int quota_apply(const char *dir, uint32_t projid, uint64_t limit_bytes, struct ward_err *err);
