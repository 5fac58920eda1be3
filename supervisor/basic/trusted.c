/* Reading the files a privileged step trusts: what they say decides which
 * uids, addresses or programs a tenant gets, so only root may be able to
 * have written them. */
#include "basic/trusted.h"

#include <errno.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/cleanup.h"

int trusted_stat_check(const struct stat *st, struct ward_err *err)
{
	if (!S_ISREG(st->st_mode))
		return ward_err_set(err, 0, "not a regular file");
	if (st->st_uid != 0 && st->st_uid != geteuid())
		return ward_err_set(err, 0, "owned by uid %u, must be owned by root",
				    (unsigned)st->st_uid);
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		return ward_err_set(err, 0, "writable by group or others (mode %03o)",
				    (unsigned)(st->st_mode & 0777));
	return 0;
}

char *trusted_file_read(int dirfd, const char *name, const char *path, bool nofollow, size_t max,
			size_t *len, struct ward_err *err)
{
	/* O_NONBLOCK: a FIFO planted in place of the file cannot hang us. */
	int flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | (nofollow ? O_NOFOLLOW : 0);
	_cleanup_close_ int fd = openat(dirfd, name, flags);
	struct stat st;
	size_t got = 0;

	if (fd < 0)
		return ward_err_set(err, errno, "%s: cannot open%s", path,
				    errno == ELOOP && nofollow ? " (a symlink)" : ""),
		       NULL;
	if (fstat(fd, &st) < 0)
		return ward_err_set(err, errno, "%s: cannot stat", path), NULL;
	if (trusted_stat_check(&st, err) < 0)
		return ward_err_wrap(err, "%s", path), NULL;
	if ((uint64_t)st.st_size > max)
		return ward_err_set(err, 0, "%s: larger than %zu bytes", path, max), NULL;
	_cleanup_free_ char *buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return ward_err_set(err, ENOMEM, "%s", path), NULL;
	/* The size is what fstat saw: a file that grows is read that far. */
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ward_err_set(err, errno, "%s: cannot read", path), NULL;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	*len = got;
	return TAKE_PTR(buf);
}
