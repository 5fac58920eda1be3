/* Captured service output: appending with size-based rotation, and reading
 * the last lines back without loading whole files. */
#include "daemon/logs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/cleanup.h"

struct log_sink {
	char *path;
	int fd;
	uint64_t size;      /* of the current file, as we wrote it */
	uint64_t max_bytes; /* 0: never rotate */
	unsigned keep;
};

/* Creates the missing directories of path's parent, each 0750; the ones
 * that exist are left as they are. */
static int parent_make(const char *path, struct ward_err *err)
{
	char dir[PATH_MAX];
	size_t n = strlen(path);

	if (n >= sizeof(dir))
		return ward_err_set(err, ENAMETOOLONG, "%s", path);
	memcpy(dir, path, n + 1);
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(dir, 0750) < 0 && errno != EEXIST)
			return ward_err_set(err, errno, "mkdir %s", dir);
		*p = c;
		if (!c)
			break;
	}
	struct stat st;
	if (stat(dir, &st) < 0)
		return ward_err_set(err, errno, "stat %s", dir);
	if (!S_ISDIR(st.st_mode))
		return ward_err_set(err, ENOTDIR, "%s", dir);
	return 0;
}

/* O_NOFOLLOW and a regular-file check: what sits at the path is never
 * followed elsewhere; O_NONBLOCK so a FIFO there cannot hang the open. */
static int file_open(const char *path, unsigned mode, uint64_t *size, struct ward_err *err)
{
	struct stat st;
	_cleanup_close_ int fd =
	    open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK,
		 (mode_t)mode);

	*size = 0;
	if (fd < 0)
		return ward_err_set(err, errno, "open %s", path);
	if (fstat(fd, &st) < 0)
		return ward_err_set(err, errno, "stat %s", path);
	if (!S_ISREG(st.st_mode))
		return ward_err_set(err, 0, "%s: not a regular file", path);
	if (fcntl(fd, F_SETFL, O_WRONLY | O_APPEND) < 0)
		return ward_err_set(err, errno, "fcntl %s", path);
	*size = (uint64_t)st.st_size;
	return TAKE_FD(fd);
}

struct log_sink *log_sink_open(const char *path, uint64_t max_bytes, unsigned keep,
			       struct ward_err *err)
{
	uint64_t size;
	int fd;

	if (parent_make(path, err) < 0 || (fd = file_open(path, 0640, &size, err)) < 0)
		return NULL;
	struct log_sink *s = calloc(1, sizeof(*s));
	if (!s || !(s->path = strdup(path))) {
		free(s);
		close(fd);
		return ward_err_set(err, ENOMEM, "%s", path), NULL;
	}
	s->fd = fd;
	s->size = size;
	s->max_bytes = max_bytes;
	s->keep = keep;
	return s;
}

void log_sink_close(struct log_sink *s)
{
	if (!s)
		return;
	close(s->fd);
	free(s->path);
	free(s);
}

static int rotated_name(char *buf, size_t len, const char *path, unsigned n)
{
	int r = snprintf(buf, len, "%s.%u", path, n);
	return r < 0 || (size_t)r >= len ? -1 : 0;
}

int log_swap(const char *path, const char *to, unsigned mode, bool noreplace, int *fd_out,
	     struct ward_err *err)
{
	char fresh[PATH_MAX];
	unsigned flags = noreplace ? RENAME_NOREPLACE : 0;
	bool swapped = false;
	uint64_t size;
	int fd, r, e;

	r = snprintf(fresh, sizeof(fresh), "%s.new", path);
	if (r < 0 || (size_t)r >= sizeof(fresh))
		return ward_err_set(err, ENAMETOOLONG, "rotate %s", path);
	/* A rotation cut short may have left one: it would be appended to. */
	if (unlink(fresh) < 0 && errno != ENOENT)
		return ward_err_set(err, errno, "remove %s", fresh);
	if ((fd = file_open(fresh, mode, &size, err)) < 0)
		return -1;
	if (renameat2(AT_FDCWD, fresh, AT_FDCWD, path, RENAME_EXCHANGE) == 0) {
		swapped = true;
		r = renameat2(AT_FDCWD, fresh, AT_FDCWD, to,
			      flags); /* fresh names the old file now */
	} else if (errno == ENOENT) {
		/* No current file (an earlier rotation got this far). */
		r = rename(fresh, path);
		swapped = r == 0;
	} else if (errno == EINVAL || errno == ENOSYS) {
		/* The file system (or kernel) cannot exchange. */
		r = renameat2(AT_FDCWD, path, AT_FDCWD, to, flags);
		if (r == 0)
			swapped = (r = rename(fresh, path)) == 0;
	} else {
		r = -1;
	}
	e = errno;
	if (!swapped) {
		/* The fresh file never became the log: the current one goes on. */
		unlink(fresh);
		close(fd);
		return ward_err_set(err, e, "rotate %s", path);
	}
	*fd_out = fd;
	/* The log goes on in the fresh file; only the old one's name is off. */
	if (r < 0) {
		ward_err_set(err, e, "rotate %s: rename to %s", path, to);
		return 1;
	}
	return 0;
}

/* SERVICE.log.(N-1) -> .N, ..., SERVICE.log -> .1, a fresh SERVICE.log
 * swapped in by log_swap. */
static int rotate(struct log_sink *s, struct ward_err *err)
{
	char from[PATH_MAX], to[PATH_MAX];
	int fd = -1, r;

	if (s->keep == 0) {
		if (ftruncate(s->fd, 0) < 0)
			return ward_err_set(err, errno, "truncate %s", s->path);
		s->size = 0;
		return 0;
	}
	for (unsigned i = s->keep - 1; i >= 1; i--) {
		if (rotated_name(from, sizeof(from), s->path, i) < 0 ||
		    rotated_name(to, sizeof(to), s->path, i + 1) < 0)
			return ward_err_set(err, ENAMETOOLONG, "rotate %s", s->path);
		if (rename(from, to) < 0 && errno != ENOENT)
			return ward_err_set(err, errno, "rename %s to %s", from, to);
	}
	if (rotated_name(to, sizeof(to), s->path, 1) < 0)
		return ward_err_set(err, ENAMETOOLONG, "rotate %s", s->path);
	if ((r = log_swap(s->path, to, 0640, false, &fd, err)) < 0)
		return -1;
	close(s->fd);
	s->fd = fd;
	s->size = 0;
	return r > 0 ? -1 : 0;
}

int log_sink_write(struct log_sink *s, const void *buf, size_t len, struct ward_err *err)
{
	const char *p = buf;

	/* A record bigger than the limit still goes whole into a fresh file. */
	if (s->max_bytes && s->size > 0 && s->size + len > s->max_bytes && rotate(s, err) < 0)
		return -1;
	while (len > 0) {
		ssize_t n = write(s->fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ward_err_set(err, errno, "write %s", s->path);
		p += n;
		len -= (size_t)n;
		s->size += (uint64_t)n;
	}
	return 0;
}

/* ======================================================================
 * Reading the tail: SERVICE.log.1 then SERVICE.log, as one stream
 * ====================================================================== */

#define TAIL_BLOCK 65536

struct tail_file {
	int fd; /* -1: missing, reads as empty */
	uint64_t size;
};

static int tail_file_open(const char *path, struct tail_file *f, struct ward_err *err)
{
	struct stat st;

	f->fd = -1;
	f->size = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT ? 0 : ward_err_set(err, errno, "open %s", path);
	if (fstat(fd, &st) < 0) {
		int e = errno;
		close(fd);
		return ward_err_set(err, e, "stat %s", path);
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return ward_err_set(err, 0, "%s: not a regular file", path);
	}
	f->fd = fd;
	f->size = (uint64_t)st.st_size;
	return 0;
}

/* Reads exactly len bytes at off. The files only grow while the daemon that
 * writes them is busy with this call, so a short read means truncation. */
static int read_at(const struct tail_file *f, char *buf, size_t len, uint64_t off)
{
	while (len > 0) {
		ssize_t n = pread(f->fd, buf, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			errno = n < 0 ? errno : EAGAIN;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* The stream position (0 = start of .1) where the last `lines` lines begin,
 * scanning back from `end` a block at a time and at most `limit` bytes. */
static int tail_start(struct tail_file f[2], uint64_t end, size_t lines, uint64_t limit,
		      uint64_t *start)
{
	_cleanup_free_ char *block = malloc(TAIL_BLOCK);
	uint64_t pos = end, lowest = end > limit ? end - limit : 0;
	bool last = true; /* the stream's final byte: a "\n" there ends the last line */

	if (!block)
		return -1;
	while (pos > lowest) {
		/* A block never straddles the two files. */
		uint64_t in_file = pos > f[0].size ? pos - f[0].size : pos;
		const struct tail_file *cur = pos > f[0].size ? &f[1] : &f[0];
		uint64_t base = pos > f[0].size ? f[0].size : 0;
		size_t n = in_file < TAIL_BLOCK ? (size_t)in_file : TAIL_BLOCK;
		if (pos - n < lowest)
			n = (size_t)(pos - lowest);
		if (read_at(cur, block, n, in_file - n) < 0)
			return -1;
		for (size_t i = n; i-- > 0;) {
			if (block[i] == '\n' && !last && --lines == 0) {
				*start = base + in_file - n + i + 1;
				return 0;
			}
			last = false;
		}
		pos -= n;
	}
	/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): block is _cleanup_free_ */
	*start = lowest;
	return 0;
}

struct log_reader {
	struct tail_file f[2]; /* [0] SERVICE.log.1, [1] SERVICE.log */
	char path[PATH_MAX], old[PATH_MAX];
	uint64_t pos, end; /* stream positions (0 = start of .1) */
};

void log_reader_close(struct log_reader *r)
{
	if (!r)
		return;
	for (int i = 0; i < 2; i++)
		if (r->f[i].fd >= 0)
			close(r->f[i].fd);
	free(r);
}

/* Moves *start past the UTF-8 continuation bytes (at most 3) it points
 * at. Returns 0, or -1 (errno) when a byte cannot be read. */
static int skip_utf8_continuation(const struct log_reader *r, uint64_t *start)
{
	for (int i = 0; i < 3 && *start < r->end; i++) {
		const struct tail_file *f = *start < r->f[0].size ? &r->f[0] : &r->f[1];
		uint64_t off = *start < r->f[0].size ? *start : *start - r->f[0].size;
		char c;

		if (read_at(f, &c, 1, off) < 0)
			return -1;
		if (((unsigned char)c & 0xC0) != 0x80)
			break;
		(*start)++;
	}
	return 0;
}

struct log_reader *log_reader_open(const char *path, size_t lines, uint64_t max_bytes,
				   struct ward_err *err)
{
	struct log_reader *r = calloc(1, sizeof(*r));
	uint64_t start = 0;

	if (!r) {
		ward_err_set(err, ENOMEM, "%s", path);
		return NULL;
	}
	r->f[0].fd = r->f[1].fd = -1;
	if (strlen(path) >= sizeof(r->path) || rotated_name(r->old, sizeof(r->old), path, 1) < 0) {
		free(r);
		ward_err_set(err, ENAMETOOLONG, "%s", path);
		return NULL;
	}
	memcpy(r->path, path, strlen(path) + 1);
	if (tail_file_open(r->old, &r->f[0], err) < 0 || tail_file_open(path, &r->f[1], err) < 0)
		goto fail;
	r->end = r->f[0].size + r->f[1].size;
	if (lines == 0 || max_bytes == 0)
		start = r->end;
	else if (tail_start(r->f, r->end, lines, max_bytes, &start) < 0) {
		ward_err_set(err, errno, "read %s", path);
		goto fail;
	}
	/* Cut by the byte limit: start on a whole UTF-8 character. */
	if (r->end - start == max_bytes && start > 0 && skip_utf8_continuation(r, &start) < 0) {
		ward_err_set(err, errno, "read %s", path);
		goto fail;
	}
	r->pos = start;
	return r;
fail:
	log_reader_close(r);
	return NULL;
}

uint64_t log_reader_left(const struct log_reader *r)
{
	return r->end - r->pos;
}

ssize_t log_reader_read(struct log_reader *r, char *buf, size_t len, struct ward_err *err)
{
	bool in_old = r->pos < r->f[0].size;
	const struct tail_file *f = in_old ? &r->f[0] : &r->f[1];
	uint64_t off = in_old ? r->pos : r->pos - r->f[0].size;
	uint64_t left = (in_old ? r->f[0].size : r->end) - r->pos; /* never across the files */

	if (len > left)
		len = (size_t)left;
	if (len == 0)
		return 0;
	if (read_at(f, buf, len, off) < 0)
		return ward_err_set(err, errno, "read %s", in_old ? r->old : r->path);
	r->pos += len;
	return (ssize_t)len;
}

int log_tail(const char *path, size_t lines, size_t max_bytes, char **out, size_t *len,
	     struct ward_err *err)
{
	struct log_reader *r = log_reader_open(path, lines, max_bytes, err);
	char *buf = NULL;
	size_t got = 0, size;

	*out = NULL;
	*len = 0;
	if (!r)
		return -1;
	/* At most max_bytes: the buffer is bounded by the caller. */
	size = (size_t)log_reader_left(r);
	if (!(buf = malloc(size + 1))) {
		log_reader_close(r);
		return ward_err_set(err, ENOMEM, "%s", path);
	}
	while (got < size) {
		ssize_t n = log_reader_read(r, buf + got, size - got, err);

		if (n <= 0) {
			if (n == 0)
				ward_err_set(err, EIO, "read %s: truncated", path);
			free(buf);
			log_reader_close(r);
			return -1;
		}
		got += (size_t)n;
	}
	log_reader_close(r);
	buf[got] = '\0';
	*out = buf;
	*len = got;
	return 0;
}
