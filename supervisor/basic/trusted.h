/* Files a privileged step is about to trust (settings, allocations,
 * templates): read whole, only when only root could have written them. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "basic/error.h"

/* The test trusted_file_read makes of a file it opened: a regular file,
 * root's (or ours), not writable by group or others. Returns 0, or -1 with
 * err saying why ("owned by uid 1000, must be owned by root"), without the
 * file's name. */
int trusted_stat_check(const struct stat *st, struct ward_err *err);

/* Reads name (relative to dirfd, or AT_FDCWD) if it is a regular file, root's
 * (or ours), not writable by group or others, and at most max bytes; a
 * symlink is refused when nofollow. path names the file in messages
 * ("PATH: not a regular file"). Returns the contents, NUL-terminated (len
 * without the NUL), or NULL with err; err->errnum is ENOENT for a missing
 * file. */
char *trusted_file_read(int dirfd, const char *name, const char *path, bool nofollow, size_t max,
			size_t *len, struct ward_err *err);
