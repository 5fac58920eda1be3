/* The cgroup files both backends use: paths under a hierarchy, reads and
 * writes of one value, the kept-open stat files, the processes listed in a
 * cgroup, its mkdir and rmdir, and the limit values both write. */
#include "sandbox/cgroup.h"
#include "sandbox/cgroup-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "basic/cleanup.h"

/* ---- paths and files ---- */

bool cg_name_valid(const char *s)
{
	size_t n = 0;

	if (!s || !*s || s[0] == '.')
		return false;
	for (; s[n]; n++) {
		char c = s[n];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return false;
	}
	return n <= NAME_MAX_LEN;
}

/* h/rel/file; rel and file may be "" or NULL. */
int cg_path(char *buf, size_t len, const struct hierarchy *h, const char *rel, const char *file)
{
	int n = snprintf(buf, len, "%s%s%s%s%s", h->path, rel && *rel ? "/" : "", rel ? rel : "",
			 file && *file ? "/" : "", file ? file : "");
	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

const struct hierarchy *cg_hier_for(unsigned role)
{
	for (size_t i = 0; i < cgroup_ctx.n_h; i++)
		if (cgroup_ctx.h[i].roles & role)
			return &cgroup_ctx.h[i];
	return NULL;
}

void cg_sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Writes value in one write(2), as cgroupfs takes one value per write. */
static int write_value(const char *path, const char *value, struct ward_err *err)
{
	size_t len = strlen(value);
	_cleanup_close_ int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return ward_err_set(err, errno, "open %s to write \"%s\"", path, value);
	ssize_t n = write(fd, value, len);
	if (n < 0)
		return ward_err_set(err, errno, "write %s \"%s\"", path, value);
	if ((size_t)n != len)
		return ward_err_set(err, EIO, "write %s \"%s\": short write", path, value);
	return 0;
}

int cg_write(const struct hierarchy *h, const char *rel, const char *file, const char *value,
	     struct ward_err *err)
{
	char path[PATH_MAX];

	if (cg_path(path, sizeof(path), h, rel, file) < 0)
		return ward_err_set(err, errno, "%s/%s/%s", h->path, rel, file);
	return write_value(path, value, err);
}

bool cg_exists(const struct hierarchy *h, const char *rel, const char *file)
{
	char path[PATH_MAX];
	struct stat st;

	return cg_path(path, sizeof(path), h, rel, file) == 0 && lstat(path, &st) == 0;
}

/* The whole of a small file at fd, from its start, NUL-terminated. */
static int pread_all(int fd, char *buf, size_t len)
{
	size_t used = 0;

	while (used < len - 1) {
		ssize_t n = pread(fd, buf + used, len - 1 - used, (off_t)used);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		used += (size_t)n;
	}
	buf[used] = '\0';
	return 0;
}

/* Reads a small file (a value or a few key lines) whole. -1 with errno. */
int cg_read(const struct hierarchy *h, const char *rel, const char *file, char *buf, size_t len)
{
	char path[PATH_MAX];

	if (cg_path(path, sizeof(path), h, rel, file) < 0)
		return -1;
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	return pread_all(fd, buf, len);
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;

	while (*s == ' ')
		s++;
	if (*s < '0' || *s > '9') {
		errno = EINVAL;
		return -1;
	}
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno)
		return -1;
	if (*end != '\0' && *end != '\n' && *end != ' ') {
		errno = EINVAL;
		return -1;
	}
	*out = v;
	return 0;
}

/* The value of "KEY N" in the text of a flat keyed file (cpu.stat,
 * memory.events, memory.oom_control). 1 when the key is not there. */
static int keyed_value(const char *buf, const char *key, uint64_t *out)
{
	size_t klen = strlen(key);

	for (const char *line = buf; line && *line;
	     line = strchr(line, '\n'), line = line ? line + 1 : NULL)
		if (strncmp(line, key, klen) == 0 && line[klen] == ' ')
			return parse_u64(line + klen + 1, out);
	return 1;
}

/* keyed_value of a file. */
int cg_read_key(const struct hierarchy *h, const char *rel, const char *file, const char *key,
		uint64_t *out)
{
	char buf[4096];

	if (!h || cg_read(h, rel, file, buf, sizeof(buf)) < 0)
		return -1;
	return keyed_value(buf, key, out);
}

/* The lowest fd number the stat cache may not keep: half the soft fd
 * limit (asked each time: only a file's first read gets here). */
static int stat_fd_ceiling(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 0;
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur / 2 > INT_MAX)
		return INT_MAX;
	return (int)(rl.rlim_cur / 2);
}

/* cg_read of one of cg's stat files, through an fd kept open. A file that
 * cannot be opened (not on this kernel) fails each time; one whose fd
 * would be above half the fd limit is read and closed: the cache must
 * never leave launches and connections without fds (9 fds a service with
 * it, 4 without). */
static int stat_read(struct cgroup *cg, enum stat_file which, const struct hierarchy *h,
		     const char *file, char *buf, size_t len)
{
	int *fd = &cg->stat_fd[which];

	if (!h)
		return -1;
	if (*fd < 0) {
		char path[PATH_MAX];

		if (cg_path(path, sizeof(path), h, cg->rel, file) < 0)
			return -1;
		int nfd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (nfd < 0)
			return -1;
		if (nfd >= stat_fd_ceiling()) {
			int r = pread_all(nfd, buf, len);
			close(nfd);
			return r;
		}
		*fd = nfd;
	}
	if (pread_all(*fd, buf, len) < 0) {
		close(*fd);
		*fd = -1;
		return -1;
	}
	return 0;
}

int cg_stat_u64(struct cgroup *cg, enum stat_file which, const struct hierarchy *h,
		const char *file, uint64_t *out)
{
	char buf[64];

	if (stat_read(cg, which, h, file, buf, sizeof(buf)) < 0)
		return -1;
	return parse_u64(buf, out);
}

/* "KEY N" of a flat keyed stat file; 1 when the key is not there. */
int cg_stat_key(struct cgroup *cg, enum stat_file which, const struct hierarchy *h,
		const char *file, const char *key, uint64_t *out)
{
	char buf[4096];

	if (stat_read(cg, which, h, file, buf, sizeof(buf)) < 0)
		return -1;
	return keyed_value(buf, key, out);
}

/* Signals every pid listed in rel's cgroup.procs of h (signo 0: counts
 * only). Returns how many were listed, 0 when rel is not there, -1 with
 * errno. cgroup.procs can be long, hence the stream. */
long cg_procs_signal(const struct hierarchy *h, const char *rel, int signo)
{
	char path[PATH_MAX];
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	long n = 0;

	if (cg_path(path, sizeof(path), h, rel, "cgroup.procs") < 0)
		return -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	_cleanup_fclose_ FILE *f = fdopen(fd, "r");
	if (!f) {
		close(fd);
		return -1;
	}
	while (getline(&line, &cap, f) > 0) {
		uint64_t pid;
		if (parse_u64(line, &pid) < 0 || pid == 0 || pid > INT_MAX)
			continue;
		n++;
		/* ESRCH: it exited between the read and the kill. Never
		 * ourselves: wardd never joins a tenant's cgroup (its children
		 * move themselves in), but a kill must not take down the
		 * supervisor of every tenant if that ever changes. */
		if (signo && (pid_t)pid != getpid())
			kill((pid_t)pid, signo);
	}
	return n;
}

/* Processes in rel across every hierarchy (v1 could have a process in one
 * and not another if its join failed half-way: it dies then, but may not
 * be gone yet). */
long cg_procs_signal_all(const char *rel, int signo)
{
	long total = 0;

	for (size_t i = 0; i < cgroup_ctx.n_h; i++) {
		long n = cg_procs_signal(&cgroup_ctx.h[i], rel, signo);
		if (n < 0)
			return -1;
		total += n;
	}
	return total;
}

/* mkdir of a cgroup. 1 if it was made, 0 if a directory was already there.
 * In a fake tree the kernel's interface files are made too (cgroup_ctx.fake). */
int cg_mkdir(const struct hierarchy *h, const char *rel, struct ward_err *err)
{
	char path[PATH_MAX];
	struct stat st;

	if (cg_path(path, sizeof(path), h, rel, NULL) < 0)
		return ward_err_set(err, errno, "%s/%s", h->path, rel);
	if (mkdir(path, 0755) < 0) {
		if (errno != EEXIST)
			return ward_err_set(err, errno, "mkdir %s", path);
		if (lstat(path, &st) < 0)
			return ward_err_set(err, errno, "stat %s", path);
		if (!S_ISDIR(st.st_mode))
			return ward_err_set(err, EEXIST, "%s: not a cgroup", path);
		return 0;
	}
	if (cgroup_ctx.fake && cgroup_ctx.fake->made(h->path, path, err) < 0)
		return -1;
	return 1;
}

/* rmdir of a cgroup; -1 with errno (ENOENT when it is not there). In a fake
 * tree the interface files go first, unless it has child cgroups. */
int cg_rmdir(const struct hierarchy *h, const char *rel)
{
	char path[PATH_MAX];

	if (cg_path(path, sizeof(path), h, rel, NULL) < 0)
		return -1;
	if (cgroup_ctx.fake && cgroup_ctx.fake->removing(path) < 0)
		return -1;
	return rmdir(path);
}

/* ---- limits shared by both backends ---- */

/* Quota per CPU_PERIOD_US for cpu cores; 0 when cpu is 0 (unlimited). */
int cg_cpu_quota(double cpu, uint64_t *quota, struct ward_err *err)
{
	if (!(cpu >= 0.0) || cpu > CPU_MAX_CORES)
		return ward_err_set(err, EINVAL, "cpu %g: out of range", cpu);
	if (cpu == 0.0) {
		*quota = 0;
		return 0;
	}
	double us = cpu * CPU_PERIOD_US + 0.5;
	*quota = us < CPU_MIN_QUOTA_US ? CPU_MIN_QUOTA_US : (uint64_t)us;
	return 0;
}

/* The callers' 64 bytes always hold a u64 or `unset`. */
void cg_fmt_u64(char *buf, size_t len, uint64_t v, const char *unset)
{
	if (v == WARD_UNSET)
		(void)snprintf(buf, len, "%s", unset);
	else
		(void)snprintf(buf, len, "%" PRIu64, v);
}
