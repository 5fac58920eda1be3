/* Files a privileged step is about to trust (settings, allocations,
 * templates): read whole, only when only root could have written them. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "ward/error.h"

/* Reads name (relative to dirfd, or AT_FDCWD) if it is a regular file, root's
 * (or ours), not writable by group or others, and at most max bytes; a
 * symlink is refused when nofollow. path names the file in messages
 * ("PATH: not a regular file"). Returns the contents, NUL-terminated (len
 * without the NUL), or NULL with err; err->errnum is ENOENT for a missing
 * file. */
char *trusted_file_read(int dirfd, const char *name, const char *path, bool nofollow, size_t max,
			size_t *len, struct ward_err *err);
