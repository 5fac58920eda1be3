/* A tenant's data tree, archived or removed in a child process. Each
 * function forks the child and returns its pid, with *err_r the read end
 * (O_CLOEXEC, blocking) of a pipe that carries the child's stderr: the
 * caller watches both and reaps the child. -1 with err when no child was
 * started. The child runs with no signal blocked, SIGPIPE at its default,
 * and none of wardd's descriptors. */
#pragma once

#include <sys/types.h>

#include "basic/error.h"

/* root/name written to archive_fd: first checked to fit, from what its
 * files have allocated, in the free space of archive_fd's file system
 * (exit status 3 and the reason on stderr if not: tar never ran), then
 * /bin/tar (pax format, sparse files as holes, numeric owners, one file
 * system), whose exit status is the child's. */
pid_t datatree_archive_spawn(const char *root, const char *name, int archive_fd, int *err_r,
			     struct ward_err *err);

/* data_root/name removed, and log_root/name too unless log_root is NULL;
 * never following a symlink nor crossing into another mount. Exit status
 * 0, or 1 with what could not be removed on stderr (the rest is removed). */
pid_t datatree_remove_spawn(const char *data_root, const char *log_root, const char *name,
			    int *err_r, struct ward_err *err);
