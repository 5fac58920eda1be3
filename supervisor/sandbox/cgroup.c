/* Resource limits and accounting through cgroups: the v2 and v1 backends
 * behind one table of operations, picked once by cgroup_setup(). */
#include "sandbox/cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "basic/cleanup.h"

#define CPU_PERIOD_US    100000
#define CPU_MIN_QUOTA_US 1000
#define CPU_MAX_CORES    65536.0
/* How long a kill waits for the cgroup to empty. Only teardown paths (stop,
 * destroy, start-up cleanup, reuse of a leftover) kill, so a short blocking
 * wait in small sleeps is acceptable there; the event loop never gets here
 * for a running service. */
#define KILL_WAIT_MS    1000
#define FREEZE_WAIT_MS  250
#define POLL_SLEEP_MS   5
#define STALE_MAX_DEPTH 16
#define NAME_MAX_LEN    64
/* Launchers of one service at the same time that cgroup_claim() serves. */
#define CLAIM_MAX 64

enum role {
	ROLE_MEMORY = 1u << 0,
	ROLE_PIDS = 1u << 1,
	ROLE_CPU = 1u << 2,
	ROLE_CPUACCT = 1u << 3,
	ROLE_FREEZER = 1u << 4,
	ROLE_ALL = (1u << 5) - 1,
};

/* One mounted hierarchy: the v2 root, or one v1 controller's (several
 * roles when controllers are co-mounted, as "cpu,cpuacct"). */
struct hierarchy {
	char path[PATH_MAX];
	unsigned roles;
};

struct cgroup_ops {
	const char *name;
	int (*detect)(const char *root, struct ward_err *err);
	/* Makes rel's limits govern its children (v2: subtree_control). */
	int (*enable)(const char *rel, struct ward_err *err);
	int (*limits)(const char *rel, const struct ward_limits *l, struct ward_err *err);
	int (*kill)(const char *rel, struct ward_err *err);
	int (*stats)(struct cgroup *cg, struct cgroup_stats *st);
	bool clone_into; /* CLONE_INTO_CGROUP works */
};

/* The files cgroup_stats() reads, kept open once read: `wardctl status`
 * reads five per service, and on cgroupfs an open costs ~8 times the read
 * (500 services: ~24 ms of opens, ~4 ms of preads, measured). */
enum stat_file { STAT_MEM, STAT_MEM_PEAK, STAT_PIDS, STAT_CPU, STAT_OOM, N_STAT_FILES };

struct cgroup {
	char *rel;                 /* PARENT/TENANT/NAME under each hierarchy's root */
	char *tenant_rel;          /* PARENT/TENANT */
	int dirfd;                 /* v2: the service cgroup, for clone3; else -1 */
	int lock_fd;               /* cgroup_claim(): holds its flock; else -1 */
	int stat_fd[N_STAT_FILES]; /* -1 until read once */
};

/* The tenant-wide caps given to cgroup_tenant_apply(), so a tenant cgroup
 * that destroy removed with its last service gets its cap back when
 * cgroup_create() makes it again. */
struct tenant_cap {
	char name[NAME_MAX_LEN + 1];
	struct ward_limits cap;
};

static struct {
	const struct cgroup_ops *ops;
	/* A fake tree (tests): the module does what cgroupfs does by itself,
	 * i.e. mkdir fills the new directory with empty interface files (the
	 * regular files of the hierarchy's root) and rmdir removes them. Every
	 * other path is the same as on the kernel's cgroupfs. */
	bool fake;
	bool shared; /* CGROUP_SHARED_PARENT */
	char parent[NAME_MAX_LEN + 1];
	struct hierarchy h[CGROUP_JOIN_MAX]; /* one per role at most */
	size_t n_h;
	struct tenant_cap *caps;
	size_t n_caps;
} ctx;

/* ---- paths and files ---- */

static bool component_valid(const char *s)
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
static int cg_path(char *buf, size_t len, const struct hierarchy *h, const char *rel,
		   const char *file)
{
	int n = snprintf(buf, len, "%s%s%s%s%s", h->path, rel && *rel ? "/" : "", rel ? rel : "",
			 file && *file ? "/" : "", file ? file : "");
	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

static const struct hierarchy *hier_for(unsigned role)
{
	for (size_t i = 0; i < ctx.n_h; i++)
		if (ctx.h[i].roles & role)
			return &ctx.h[i];
	return NULL;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
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

static int cg_write(const struct hierarchy *h, const char *rel, const char *file, const char *value,
		    struct ward_err *err)
{
	char path[PATH_MAX];

	if (cg_path(path, sizeof(path), h, rel, file) < 0)
		return ward_err_set(err, errno, "%s/%s/%s", h->path, rel, file);
	return write_value(path, value, err);
}

static bool cg_exists(const struct hierarchy *h, const char *rel, const char *file)
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
static int cg_read(const struct hierarchy *h, const char *rel, const char *file, char *buf,
		   size_t len)
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
static int cg_read_key(const struct hierarchy *h, const char *rel, const char *file,
		       const char *key, uint64_t *out)
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

static int stat_u64(struct cgroup *cg, enum stat_file which, const struct hierarchy *h,
		    const char *file, uint64_t *out)
{
	char buf[64];

	if (stat_read(cg, which, h, file, buf, sizeof(buf)) < 0)
		return -1;
	return parse_u64(buf, out);
}

/* "KEY N" of a flat keyed stat file; 1 when the key is not there. */
static int stat_key(struct cgroup *cg, enum stat_file which, const struct hierarchy *h,
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
static long procs_signal(const struct hierarchy *h, const char *rel, int signo)
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
static long procs_signal_all(const char *rel, int signo)
{
	long total = 0;

	for (size_t i = 0; i < ctx.n_h; i++) {
		long n = procs_signal(&ctx.h[i], rel, signo);
		if (n < 0)
			return -1;
		total += n;
	}
	return total;
}

/* mkdir of a cgroup. 1 if it was made, 0 if a directory was already there.
 * In a fake tree the kernel's interface files are made too (see ctx.fake). */
static int cg_mkdir(const struct hierarchy *h, const char *rel, struct ward_err *err)
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
	if (!ctx.fake)
		return 1;

	_cleanup_close_ int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	DIR *tmpl = opendir(h->path);
	struct dirent *de;
	int r = 1;

	if (dfd < 0 || !tmpl) {
		r = ward_err_set(err, errno, "fake cgroup %s", path);
		goto out;
	}
	while ((de = readdir(tmpl))) {
		if (fstatat(dirfd(tmpl), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		int fd = openat(dfd, de->d_name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
		if (fd < 0) {
			r = ward_err_set(err, errno, "fake cgroup %s/%s", path, de->d_name);
			goto out;
		}
		close(fd);
	}
out:
	if (tmpl)
		closedir(tmpl);
	return r;
}

/* rmdir of a cgroup; -1 with errno (ENOENT when it is not there). In a fake
 * tree the interface files go first, unless it has child cgroups. */
static int cg_rmdir(const struct hierarchy *h, const char *rel)
{
	char path[PATH_MAX];

	if (cg_path(path, sizeof(path), h, rel, NULL) < 0)
		return -1;
	if (ctx.fake) {
		DIR *d = opendir(path);
		struct dirent *de;
		struct stat st;

		if (!d)
			return -1;
		while ((de = readdir(d))) {
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISDIR(st.st_mode)) {
				closedir(d);
				errno = EBUSY;
				return -1;
			}
		}
		rewinddir(d);
		while ((de = readdir(d)))
			if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
				unlinkat(dirfd(d), de->d_name, 0);
		closedir(d);
	}
	return rmdir(path);
}

/* ---- limits shared by both backends ---- */

/* Quota per CPU_PERIOD_US for cpu cores; 0 when cpu is 0 (unlimited). */
static int cpu_quota(double cpu, uint64_t *quota, struct ward_err *err)
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
static void fmt_u64(char *buf, size_t len, uint64_t v, const char *unset)
{
	if (v == WARD_UNSET)
		(void)snprintf(buf, len, "%s", unset);
	else
		(void)snprintf(buf, len, "%" PRIu64, v);
}

/* ---- v2: one unified hierarchy ---- */

static int v2_detect(const char *root, struct ward_err *err)
{
	static const char *const need[] = {"memory", "pids", "cpu"};
	char buf[1024];
	struct hierarchy *h = &ctx.h[0];

	if (snprintf(h->path, sizeof(h->path), "%s", root) >= (int)sizeof(h->path))
		return ward_err_set(err, ENAMETOOLONG, "%s", root);
	h->roles = ROLE_ALL;
	ctx.n_h = 1;
	if (cg_read(h, "", "cgroup.controllers", buf, sizeof(buf)) < 0)
		return ward_err_set(err, errno, "read %s/cgroup.controllers", root);
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		bool found = false;
		char copy[sizeof(buf)], *save = NULL;
		memcpy(copy, buf, sizeof(buf));
		for (char *t = strtok_r(copy, " \n", &save); t; t = strtok_r(NULL, " \n", &save))
			found = found || strcmp(t, need[i]) == 0;
		if (!found)
			return ward_err_set(err, 0, "%s/cgroup.controllers: no %s controller", root,
					    need[i]);
	}
	/* The root too: its children (PARENT) only get what it enables. */
	return ctx.ops->enable("", err);
}

static int v2_enable(const char *rel, struct ward_err *err)
{
	return cg_write(&ctx.h[0], rel, "cgroup.subtree_control", "+memory +pids +cpu", err);
}

static int v2_limits(const char *rel, const struct ward_limits *l, struct ward_err *err)
{
	const struct hierarchy *h = &ctx.h[0];
	char v[64];
	uint64_t quota = 0;

	if (cpu_quota(l->cpu, &quota, err) < 0)
		return -1;
	fmt_u64(v, sizeof(v), l->memory, "max");
	if (cg_write(h, rel, "memory.max", v, err) < 0)
		return -1;
	/* No memory.swap.max: the kernel has no swap (accounting), so there
	 * is none to cap. */
	if (cg_exists(h, rel, "memory.swap.max") &&
	    cg_write(h, rel, "memory.swap.max", l->memory == WARD_UNSET ? "max" : "0", err) < 0)
		return -1;
	fmt_u64(v, sizeof(v), l->pids, "max");
	if (cg_write(h, rel, "pids.max", v, err) < 0)
		return -1;
	if (quota)
		(void)snprintf(v, sizeof(v), "%" PRIu64 " %d", quota, CPU_PERIOD_US);
	else
		(void)snprintf(v, sizeof(v), "max %d", CPU_PERIOD_US);
	return cg_write(h, rel, "cpu.max", v, err);
}

/* 1 if something is still in rel or below, 0 if not, -1 with errno. */
static int v2_populated(const char *rel)
{
	uint64_t v;
	int r = cg_read_key(&ctx.h[0], rel, "cgroup.events", "populated", &v);

	if (r == 0)
		return v != 0;
	if (r < 0 && errno != ENOENT)
		return -1;
	long n = procs_signal(&ctx.h[0], rel, 0);
	return n < 0 ? -1 : n > 0;
}

static int v2_kill(const char *rel, struct ward_err *err)
{
	long long deadline = now_ms() + KILL_WAIT_MS;
	bool has_kill = cg_exists(&ctx.h[0], rel, "cgroup.kill");
	char path[PATH_MAX];

	if (cg_path(path, sizeof(path), &ctx.h[0], rel, NULL) < 0)
		return ward_err_set(err, errno, "%s/%s", ctx.h[0].path, rel);
	/* cgroup.kill (5.14+) takes the whole subtree at once, forks in flight
	 * included; before it, kill what is listed until nothing is. */
	if (has_kill && cg_write(&ctx.h[0], rel, "cgroup.kill", "1", err) < 0)
		return -1;
	for (;;) {
		if (!has_kill && procs_signal(&ctx.h[0], rel, SIGKILL) < 0 && errno != ENOENT)
			return ward_err_set(err, errno, "kill %s", path);
		int p = v2_populated(rel);
		if (p < 0)
			return ward_err_set(err, errno, "%s", path);
		if (p == 0)
			return 0;
		if (now_ms() >= deadline)
			return ward_err_set(err, EBUSY, "%s: still populated %d ms after the kill",
					    path, KILL_WAIT_MS);
		sleep_ms(POLL_SLEEP_MS);
	}
}

static int v2_stats(struct cgroup *cg, struct cgroup_stats *st)
{
	const struct hierarchy *h = &ctx.h[0];
	int r = 0;

	if (stat_u64(cg, STAT_MEM, h, "memory.current", &st->memory_current) < 0)
		r = -1;
	if (stat_u64(cg, STAT_MEM_PEAK, h, "memory.peak", &st->memory_peak) < 0)
		st->memory_peak = 0; /* before 5.19 */
	if (stat_u64(cg, STAT_PIDS, h, "pids.current", &st->pids_current) < 0)
		r = -1;
	if (stat_key(cg, STAT_CPU, h, "cpu.stat", "usage_usec", &st->cpu_usec) != 0)
		r = -1;
	if (stat_key(cg, STAT_OOM, h, "memory.events", "oom_kill", &st->oom_kills) != 0)
		st->oom_kills = 0;
	return r;
}

static const struct cgroup_ops v2_ops = {
    .name = "v2",
    .detect = v2_detect,
    .enable = v2_enable,
    .limits = v2_limits,
    .kill = v2_kill,
    .stats = v2_stats,
    .clone_into = true,
};

/* ---- v1: one hierarchy per controller ---- */

/* ROOT/NAME, or the co-mounted ROOT/A,NAME,B when there is no ROOT/NAME. */
static int v1_find(const char *root, const char *name, char *out, size_t len)
{
	struct stat st;
	struct dirent *de;
	int n = snprintf(out, len, "%s/%s", root, name);

	if (n < 0 || (size_t)n >= len)
		return -1;
	if (stat(out, &st) == 0 && S_ISDIR(st.st_mode))
		return 0;
	DIR *d = opendir(root);
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		char copy[256], *save = NULL;
		bool match = false;
		if (!strchr(de->d_name, ',') ||
		    snprintf(copy, sizeof(copy), "%s", de->d_name) >= (int)sizeof(copy))
			continue;
		for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
			match = match || strcmp(t, name) == 0;
		if (match) {
			n = snprintf(out, len, "%s/%s", root, de->d_name);
			closedir(d);
			return n < 0 || (size_t)n >= len ? -1 : 0;
		}
	}
	closedir(d);
	errno = ENOENT;
	return -1;
}

static int v1_detect(const char *root, struct ward_err *err)
{
	static const struct {
		const char *name;
		unsigned role;
	} need[] = {
	    {"memory", ROLE_MEMORY},   {"pids", ROLE_PIDS},       {"cpu", ROLE_CPU},
	    {"cpuacct", ROLE_CPUACCT}, {"freezer", ROLE_FREEZER},
	};
	struct stat seen[5] = {0};

	ctx.n_h = 0;
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		char path[PATH_MAX];
		struct stat st;
		struct statfs sfs;
		size_t j;

		if (v1_find(root, need[i].name, path, sizeof(path)) < 0 || stat(path, &st) < 0)
			return ward_err_set(err, errno, "%s: no %s hierarchy", root, need[i].name);
		if (!ctx.fake) {
			if (statfs(path, &sfs) < 0)
				return ward_err_set(err, errno, "statfs %s", path);
			if (sfs.f_type != CGROUP_SUPER_MAGIC)
				return ward_err_set(err, 0, "%s: not a cgroup v1 mount", path);
		}
		/* cpu and cpuacct may be one hierarchy under two names. */
		for (j = 0; j < ctx.n_h; j++)
			if (seen[j].st_dev == st.st_dev && seen[j].st_ino == st.st_ino)
				break;
		if (j == ctx.n_h) {
			seen[j] = st;
			memcpy(ctx.h[j].path, path, sizeof(path));
			ctx.h[j].roles = 0;
			ctx.n_h++;
		}
		ctx.h[j].roles |= need[i].role;
	}
	return 0;
}

/* Old kernels let a memory cgroup opt out of its parent's limit; the tenant
 * cap only holds if use_hierarchy is on. */
static int v1_enable(const char *rel, struct ward_err *err)
{
	const struct hierarchy *mem = hier_for(ROLE_MEMORY);
	char buf[16];

	if (cg_read(mem, rel, "memory.use_hierarchy", buf, sizeof(buf)) < 0 || buf[0] != '0')
		return 0;
	return cg_write(mem, rel, "memory.use_hierarchy", "1", err);
}

/* The kernel wants memsw >= limit at every step: raising (or "-1") goes
 * memsw first, lowering limit first. Without memsw (no swap accounting) the
 * kernel does not charge swap to the cgroup, so there is nothing to cap. */
static int v1_memory(const char *rel, const char *v, struct ward_err *err)
{
	const struct hierarchy *mem = hier_for(ROLE_MEMORY);
	bool memsw = cg_exists(mem, rel, "memory.memsw.limit_in_bytes");

	if (cg_write(mem, rel, "memory.limit_in_bytes", v, err) < 0) {
		if (!memsw || err->errnum != EINVAL)
			return -1;
		if (cg_write(mem, rel, "memory.memsw.limit_in_bytes", v, err) < 0)
			return -1;
		return cg_write(mem, rel, "memory.limit_in_bytes", v, err);
	}
	return memsw ? cg_write(mem, rel, "memory.memsw.limit_in_bytes", v, err) : 0;
}

static int v1_quota_read(const char *rel, int64_t *q)
{
	char buf[32], *end;

	if (cg_read(hier_for(ROLE_CPU), rel, "cpu.cfs_quota_us", buf, sizeof(buf)) < 0)
		return -1;
	errno = 0;
	long long v = strtoll(buf, &end, 10);
	if (errno || end == buf || (*end && *end != '\n'))
		return -1;
	*q = v;
	return 0;
}

/* Children of rel above quota come down to it first: v1 refuses a parent
 * quota below a child's. */
static int v1_cpu_lower_children(const char *rel, uint64_t quota, struct ward_err *err)
{
	const struct hierarchy *cpu = hier_for(ROLE_CPU);
	char path[PATH_MAX], v[32];
	struct dirent *de;
	int r = 0;

	if (cg_path(path, sizeof(path), cpu, rel, NULL) < 0)
		return ward_err_set(err, errno, "%s/%s", cpu->path, rel);
	DIR *d = opendir(path);
	if (!d)
		return errno == ENOENT ? 0 : ward_err_set(err, errno, "open %s", path);
	(void)snprintf(v, sizeof(v), "%" PRIu64, quota);
	while (r == 0 && (de = readdir(d))) {
		char child[PATH_MAX];
		int64_t cq;
		if (de->d_type != DT_DIR || de->d_name[0] == '.' ||
		    snprintf(child, sizeof(child), "%s/%s", rel, de->d_name) >= (int)sizeof(child))
			continue;
		if (v1_quota_read(child, &cq) == 0 && (cq < 0 || (uint64_t)cq > quota))
			r = cg_write(cpu, child, "cpu.cfs_quota_us", v, err);
	}
	closedir(d);
	return r;
}

/* v1 refuses a child quota above its parent's (v2 just takes the smaller):
 * a service asking for more than its tenant's cap gets the cap, and a cap
 * lowered below its services lowers them first. 0: unlimited. */
static int v1_cpu(const char *rel, uint64_t quota, struct ward_err *err)
{
	const struct hierarchy *cpu = hier_for(ROLE_CPU);
	char v[32], parent[PATH_MAX];
	int64_t pq;

	if (snprintf(parent, sizeof(parent), "%s", rel) >= (int)sizeof(parent))
		return ward_err_set(err, ENAMETOOLONG, "cgroup %s", rel);
	char *slash = strrchr(parent, '/');
	if (quota && slash) {
		*slash = '\0';
		if (v1_quota_read(parent, &pq) == 0 && pq > 0 && (uint64_t)pq < quota)
			quota = (uint64_t)pq;
	}
	if (quota && v1_cpu_lower_children(rel, quota, err) < 0)
		return -1;
	(void)snprintf(v, sizeof(v), "%d", CPU_PERIOD_US);
	if (cg_write(cpu, rel, "cpu.cfs_period_us", v, err) < 0)
		return -1;
	if (quota)
		(void)snprintf(v, sizeof(v), "%" PRIu64, quota);
	else
		(void)snprintf(v, sizeof(v), "-1");
	return cg_write(cpu, rel, "cpu.cfs_quota_us", v, err);
}

static int v1_limits(const char *rel, const struct ward_limits *l, struct ward_err *err)
{
	char v[64];
	uint64_t quota = 0;

	if (cpu_quota(l->cpu, &quota, err) < 0)
		return -1;
	/* Unset writes the unlimited value, so a reused or updated cgroup
	 * loses a limit the policy no longer has. */
	fmt_u64(v, sizeof(v), l->memory, "-1");
	if (v1_memory(rel, v, err) < 0)
		return -1;
	fmt_u64(v, sizeof(v), l->pids, "max");
	if (cg_write(hier_for(ROLE_PIDS), rel, "pids.max", v, err) < 0)
		return -1;
	return v1_cpu(rel, quota, err);
}

/* FROZEN once every task stopped; FREEZING while some have not (yet). */
static bool v1_freeze(const struct hierarchy *fz, const char *rel)
{
	long long deadline = now_ms() + FREEZE_WAIT_MS;
	char buf[32];

	if (cg_write(fz, rel, "freezer.state", "FROZEN", NULL) < 0)
		return false;
	for (;;) {
		if (cg_read(fz, rel, "freezer.state", buf, sizeof(buf)) == 0 &&
		    strncmp(buf, "FROZEN", 6) == 0)
			return true;
		if (now_ms() >= deadline)
			return true; /* still thaw it; kill what stopped */
		sleep_ms(1);
	}
}

/* Freeze so nothing forks between reading cgroup.procs and the kills, kill
 * every listed pid (a frozen task cannot exit, so its pid cannot be reused
 * in between), thaw so the kills take effect; again until it is empty.
 * Plain kill(2) as crun does: only a task already dying when listed could
 * exit in between, and a pid is reused only after pid_max others. */
static int v1_kill(const char *rel, struct ward_err *err)
{
	const struct hierarchy *fz = hier_for(ROLE_FREEZER);
	long long deadline = now_ms() + KILL_WAIT_MS;
	char path[PATH_MAX];

	if (cg_path(path, sizeof(path), fz, rel, NULL) < 0)
		return ward_err_set(err, errno, "%s/%s", fz->path, rel);
	for (;;) {
		bool frozen = cg_exists(fz, rel, "freezer.state") && v1_freeze(fz, rel);
		long n = procs_signal_all(rel, SIGKILL);
		int saved = errno;
		if (frozen && cg_write(fz, rel, "freezer.state", "THAWED", err) < 0)
			return -1;
		if (n < 0)
			return ward_err_set(err, saved, "kill %s", rel);
		if (n == 0)
			return 0;
		if (now_ms() >= deadline)
			return ward_err_set(err, EBUSY,
					    "%s: %ld processes left %d ms after the kill", rel, n,
					    KILL_WAIT_MS);
		sleep_ms(POLL_SLEEP_MS);
	}
}

static int v1_stats(struct cgroup *cg, struct cgroup_stats *st)
{
	const struct hierarchy *mem = hier_for(ROLE_MEMORY);
	uint64_t ns;
	int r = 0;

	if (stat_u64(cg, STAT_MEM, mem, "memory.usage_in_bytes", &st->memory_current) < 0)
		r = -1;
	if (stat_u64(cg, STAT_MEM_PEAK, mem, "memory.max_usage_in_bytes", &st->memory_peak) < 0)
		r = -1;
	if (stat_u64(cg, STAT_PIDS, hier_for(ROLE_PIDS), "pids.current", &st->pids_current) < 0)
		r = -1;
	if (stat_u64(cg, STAT_CPU, hier_for(ROLE_CPUACCT), "cpuacct.usage", &ns) < 0)
		r = -1;
	else
		st->cpu_usec = ns / 1000;
	/* The oom_kill line came with 4.13. */
	if (stat_key(cg, STAT_OOM, mem, "memory.oom_control", "oom_kill", &st->oom_kills) != 0)
		st->oom_kills = 0;
	return r;
}

static const struct cgroup_ops v1_ops = {
    .name = "v1",
    .detect = v1_detect,
    .enable = v1_enable,
    .limits = v1_limits,
    .kill = v1_kill,
    .stats = v1_stats,
    .clone_into = false,
};

/* ---- the API ---- */

static void caps_reset(void)
{
	free(ctx.caps);
	ctx.caps = NULL;
	ctx.n_caps = 0;
}

int cgroup_setup(const char *root, const char *parent, unsigned flags, const char *fake_backend,
		 struct ward_err *err)
{
	struct ward_err scratch = {0};
	err = err ? err : &scratch; /* the backends read err->errnum: never NULL */
	struct statfs sfs;

	caps_reset();
	ctx.ops = NULL;
	ctx.n_h = 0;
	ctx.fake = fake_backend != NULL;
	ctx.shared = flags & CGROUP_SHARED_PARENT;
	if (!root || !component_valid(parent))
		return ward_err_set(err, EINVAL, "cgroup parent \"%s\": not one directory name",
				    parent ? parent : "");
	memcpy(ctx.parent, parent, strlen(parent) + 1);

	const struct cgroup_ops *ops = NULL;
	if (fake_backend) {
		ops = strcmp(fake_backend, "v2") == 0   ? &v2_ops
		      : strcmp(fake_backend, "v1") == 0 ? &v1_ops
							: NULL;
		if (!ops)
			return ward_err_set(err, EINVAL, "cgroup backend \"%s\"", fake_backend);
	} else {
		if (statfs(root, &sfs) < 0)
			return ward_err_set(err, errno, "statfs %s", root);
		if (sfs.f_type == CGROUP2_SUPER_MAGIC)
			ops = &v2_ops;
		else if (sfs.f_type == TMPFS_MAGIC)
			ops = &v1_ops; /* v1 hierarchies, each mounted under the tmpfs */
		else
			return ward_err_set(
			    err, 0, "%s: neither cgroup2 nor a tmpfs of v1 hierarchies", root);
	}

	ctx.ops = ops;
	if (ops->detect(root, err) < 0)
		goto fail;
	for (size_t i = 0; i < ctx.n_h; i++)
		if (cg_mkdir(&ctx.h[i], ctx.parent, err) < 0)
			goto fail;
	if (ops->enable(ctx.parent, err) < 0)
		goto fail;
	return 0;
fail:
	ctx.ops = NULL;
	ctx.n_h = 0;
	return ward_err_wrap(err, "cgroup %s setup", ops->name);
}

const char *cgroup_backend_name(void)
{
	return ctx.ops ? ctx.ops->name : "none";
}

static int rel_join(char *buf, size_t len, const char *tenant, const char *name)
{
	int n = name ? snprintf(buf, len, "%s/%s/%s", ctx.parent, tenant, name)
		     : snprintf(buf, len, "%s/%s", ctx.parent, tenant);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

static struct tenant_cap *cap_find(const char *tenant)
{
	for (size_t i = 0; i < ctx.n_caps; i++)
		if (strcmp(ctx.caps[i].name, tenant) == 0)
			return &ctx.caps[i];
	return NULL;
}

/* PARENT/TENANT in every hierarchy, its remembered cap on it if it was made
 * just now, and its controllers handed down to the services. */
static int tenant_ensure(const char *trel, const char *tenant, struct ward_err *err)
{
	bool made = false;

	for (size_t i = 0; i < ctx.n_h; i++) {
		int r = cg_mkdir(&ctx.h[i], trel, err);
		if (r < 0)
			return -1;
		made = made || r > 0;
	}
	const struct tenant_cap *c = cap_find(tenant);
	if (made && c && ctx.ops->limits(trel, &c->cap, err) < 0)
		return -1;
	return ctx.ops->enable(trel, err);
}

int cgroup_tenant_apply(const char *tenant, const struct ward_limits *cap, struct ward_err *err)
{
	struct ward_err scratch = {0};
	err = err ? err : &scratch;
	char trel[PATH_MAX];

	if (!ctx.ops)
		return ward_err_set(err, EINVAL, "cgroup: not set up");
	if (!component_valid(tenant) || rel_join(trel, sizeof(trel), tenant, NULL) < 0)
		return ward_err_set(err, EINVAL, "cgroup: tenant name \"%s\"",
				    tenant ? tenant : "");

	struct tenant_cap *c = cap_find(tenant);
	if (!c) {
		struct tenant_cap *v = realloc(ctx.caps, (ctx.n_caps + 1) * sizeof(*v));
		if (!v)
			return ward_err_set(err, ENOMEM, "cgroup %s", trel);
		ctx.caps = v;
		c = &ctx.caps[ctx.n_caps++];
		memcpy(c->name, tenant, strlen(tenant) + 1);
	}
	c->cap = *cap;
	if (tenant_ensure(trel, tenant, err) < 0 || ctx.ops->limits(trel, cap, err) < 0)
		return ward_err_wrap(err, "cgroup %s", trel);
	return 0;
}

static void cgroup_free(struct cgroup *cg);

/* A handle for rel (PARENT/TENANT/NAME) in trel (PARENT/TENANT), no fd
 * open yet; NULL when out of memory. */
static struct cgroup *cgroup_new(const char *rel, const char *trel)
{
	struct cgroup *cg = calloc(1, sizeof(*cg));

	if (!cg)
		return NULL;
	cg->dirfd = cg->lock_fd = -1;
	for (size_t i = 0; i < N_STAT_FILES; i++)
		cg->stat_fd[i] = -1;
	if (!(cg->rel = strdup(rel)) || !(cg->tenant_rel = strdup(trel))) {
		cgroup_free(cg);
		return NULL;
	}
	return cg;
}

static void cgroup_free(struct cgroup *cg)
{
	if (!cg)
		return;
	if (cg->dirfd >= 0)
		close(cg->dirfd);
	if (cg->lock_fd >= 0 && cg->lock_fd != cg->dirfd)
		close(cg->lock_fd);
	for (size_t i = 0; i < N_STAT_FILES; i++)
		if (cg->stat_fd[i] >= 0)
			close(cg->stat_fd[i]);
	free(cg->rel);
	free(cg->tenant_rel);
	free(cg);
}

static void rmdir_all(const char *rel)
{
	for (size_t i = ctx.n_h; i-- > 0;)
		cg_rmdir(&ctx.h[i], rel);
}

struct cgroup *cgroup_create(const char *tenant, const char *name, const struct ward_limits *l,
			     struct ward_err *err)
{
	struct ward_err scratch = {0};
	err = err ? err : &scratch;
	char rel[PATH_MAX], trel[PATH_MAX];
	bool leftover = false;

	if (!ctx.ops)
		return ward_err_set(err, EINVAL, "cgroup: not set up"), NULL;
	if (!component_valid(tenant) || !component_valid(name) ||
	    rel_join(rel, sizeof(rel), tenant, name) < 0 ||
	    rel_join(trel, sizeof(trel), tenant, NULL) < 0)
		return ward_err_set(err, EINVAL, "cgroup: name \"%s/%s\"", tenant ? tenant : "",
				    name ? name : ""),
		       NULL;

	struct cgroup *cg = cgroup_new(rel, trel);
	if (!cg)
		return ward_err_set(err, ENOMEM, "cgroup %s", rel), NULL;

	if (tenant_ensure(trel, tenant, err) < 0)
		goto fail;
	for (size_t i = 0; i < ctx.n_h; i++) {
		int r = cg_mkdir(&ctx.h[i], rel, err);
		if (r < 0)
			goto fail_rm;
		leftover = leftover || r == 0;
	}
	/* Whatever a previous run left in there is not the service we start. */
	if (leftover && ctx.ops->kill(rel, err) < 0)
		goto fail_rm;
	if (ctx.ops->limits(rel, l, err) < 0)
		goto fail_rm;
	if (ctx.ops->clone_into) {
		char path[PATH_MAX];
		if (cg_path(path, sizeof(path), &ctx.h[0], rel, NULL) < 0) {
			ward_err_set(err, errno, "%s/%s", ctx.h[0].path, rel);
			goto fail_rm;
		}
		cg->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (cg->dirfd < 0) {
			ward_err_set(err, errno, "open %s", path);
			goto fail_rm;
		}
	}
	return cg;

fail_rm:
	/* Fail closed, and leave no half-limited cgroup behind. */
	rmdir_all(rel);
fail:
	ward_err_wrap(err, "cgroup %s", rel);
	cgroup_free(cg);
	return NULL;
}

/* The claim of PARENT/TENANT/NAME: made if missing, flocked (the lock is
 * held on an fd of its directory in the first hierarchy: released by the
 * kernel however the launcher ends). 1 if ours, 0 if another launcher
 * holds it, -1 on error. */
static int claim_one(struct cgroup *cg, struct ward_err *err)
{
	char path[PATH_MAX];

	for (size_t i = 0; i < ctx.n_h; i++)
		if (cg_mkdir(&ctx.h[i], cg->rel, err) < 0)
			return -1;
	if (cg_path(path, sizeof(path), &ctx.h[0], cg->rel, NULL) < 0)
		return ward_err_set(err, errno, "%s/%s", ctx.h[0].path, cg->rel);
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return ward_err_set(err, errno, "open %s", path);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		close(fd);
		return e == EWOULDBLOCK ? 0 : ward_err_set(err, e, "lock %s", path);
	}
	cg->lock_fd = fd;
	return 1;
}

struct cgroup *cgroup_claim(const char *tenant, const char *base, const struct ward_limits *l,
			    struct ward_err *err)
{
	struct ward_err scratch = {0};
	err = err ? err : &scratch;
	char name[NAME_MAX_LEN + 1], rel[PATH_MAX], trel[PATH_MAX];
	struct cgroup *cg = NULL;
	int r = 0;

	if (!ctx.ops || !ctx.shared)
		return ward_err_set(err, EINVAL, "cgroup claim: no shared parent set up"), NULL;
	if (!component_valid(tenant) || !component_valid(base) ||
	    rel_join(trel, sizeof(trel), tenant, NULL) < 0)
		return ward_err_set(err, EINVAL, "cgroup: name \"%s/%s\"", tenant ? tenant : "",
				    base ? base : ""),
		       NULL;
	if (tenant_ensure(trel, tenant, err) < 0)
		return ward_err_wrap(err, "cgroup %s", trel), NULL;
	for (unsigned n = 1; n <= CLAIM_MAX && r == 0; n++) {
		int len = n == 1 ? snprintf(name, sizeof(name), "%s", base)
				 : snprintf(name, sizeof(name), "%s-%u", base, n);
		cgroup_free(cg); /* the one another launcher holds */
		cg = NULL;
		if (len < 0 || (size_t)len >= sizeof(name) ||
		    rel_join(rel, sizeof(rel), tenant, name) < 0)
			return ward_err_set(err, ENAMETOOLONG, "cgroup: name \"%s/%s\"", tenant,
					    base),
			       NULL;
		cg = cgroup_new(rel, trel);
		if (!cg)
			return ward_err_set(err, ENOMEM, "cgroup %s", rel), NULL;
		r = claim_one(cg, err);
	}
	if (r <= 0) {
		if (r == 0)
			ward_err_set(err, EBUSY, "%d launches of %s/%s are going at once",
				     CLAIM_MAX, tenant, base);
		cgroup_free(cg);
		return ward_err_wrap(err, "cgroup %s/%s", trel, base), NULL;
	}
	/* Ours now. A run that was killed may have left processes that are
	 * still dying; and the limits are this run's, not the last one's. */
	if ((procs_signal_all(cg->rel, 0) != 0 && ctx.ops->kill(cg->rel, err) < 0) ||
	    ctx.ops->limits(cg->rel, l, err) < 0)
		goto fail;
	if (ctx.ops->clone_into)
		cg->dirfd = cg->lock_fd; /* the first hierarchy is the unified one */
	return cg;
fail:
	ward_err_wrap(err, "cgroup %s", cg->rel);
	cgroup_free(cg);
	return NULL;
}

bool cgroup_clone_into(void)
{
	return ctx.ops && ctx.ops->clone_into;
}

int cgroup_clone_fd(const struct cgroup *cg)
{
	return cg ? cg->dirfd : -1;
}

/* Writing a pid to a v1 cgroup.procs or tasks takes the global threadgroup
 * lock for writing, which waits out an RCU grace period: 7-15 ms on an idle
 * 2-CPU host, measured, and on the daemon's loop. A thread that writes "0"
 * to a v1 `tasks` moves itself and takes no global lock (~20-70 us); so on
 * v1 the child moves itself, through files the launcher opened. The
 * kernel checks the credentials the file was opened with, not the
 * writer's: the child may sit in a user namespace by then. */
int cgroup_join_fds(const struct cgroup *cg, int fds[CGROUP_JOIN_MAX], struct ward_err *err)
{
	struct ward_err scratch = {0};
	err = err ? err : &scratch;
	/* v2 without CLONE_INTO_CGROUP only has cgroup.procs: the whole
	 * process, and the lock, but still off the launcher's loop. */
	const char *file = ctx.ops == &v1_ops ? "tasks" : "cgroup.procs";
	int n = 0;

	if (!ctx.ops || !cg)
		return ward_err_set(err, EINVAL, "cgroup join: not set up");
	if (cg->dirfd >= 0)
		return 0; /* cloned into it */
	for (size_t i = 0; i < ctx.n_h; i++) {
		char path[PATH_MAX];

		if (cg_path(path, sizeof(path), &ctx.h[i], cg->rel, file) < 0 ||
		    (fds[n] = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
			ward_err_set(err, errno, "open %s/%s/%s", ctx.h[i].path, cg->rel, file);
			while (n > 0)
				close(fds[--n]);
			return -1;
		}
		n++;
	}
	return n;
}

int cgroup_join_self(int *fds, int n)
{
	int r = 0;

	for (int i = 0; i < n; i++) {
		if (r == 0 && write(fds[i], "0", 1) != 1)
			r = errno ? -errno : -EIO;
		close(fds[i]);
		fds[i] = -1;
	}
	return r;
}

int cgroup_kill(struct cgroup *cg, struct ward_err *err)
{
	struct ward_err scratch = {0};
	err = err ? err : &scratch;
	if (!ctx.ops || !cg)
		return ward_err_set(err, EINVAL, "cgroup kill: not set up");
	if (ctx.ops->kill(cg->rel, err) < 0)
		return ward_err_wrap(err, "cgroup %s: kill", cg->rel);
	return 0;
}

int cgroup_stats(struct cgroup *cg, struct cgroup_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (!ctx.ops || !cg) {
		errno = EINVAL;
		return -1;
	}
	return ctx.ops->stats(cg, st);
}

int cgroup_destroy(struct cgroup *cg, struct ward_err *err)
{
	struct ward_err scratch = {0};
	err = err ? err : &scratch;
	int r = 0;

	if (!cg)
		return 0;
	if (!ctx.ops) {
		cgroup_free(cg);
		return ward_err_set(err, EINVAL, "cgroup destroy: not set up");
	}
	/* A claimed cgroup stays for the next launch; the next claimer
	 * empties it if it has to (here it is empty: the launcher waited for
	 * the sandbox's init, and its pid namespace took the rest). */
	if (cg->lock_fd >= 0) {
		cgroup_free(cg);
		return 0;
	}
	/* The kernel refuses to remove a cgroup that has processes (EBUSY),
	 * so a plain rmdir proves it empty: only a busy one is killed and
	 * removed again. That spares reading cgroup.procs of every hierarchy
	 * when, as usual, the service's pid namespace took them all with it
	 * (~0.2 ms of a `wardd run` on v1, measured). A fake tree cannot
	 * refuse: there the processes are counted first. */
	bool killed = ctx.fake;
	if (ctx.fake && procs_signal_all(cg->rel, 0) != 0 && ctx.ops->kill(cg->rel, err) < 0)
		r = ward_err_wrap(err, "cgroup %s", cg->rel);
	for (size_t i = ctx.n_h; i-- > 0;) {
		if (cg_rmdir(&ctx.h[i], cg->rel) == 0 || errno == ENOENT)
			continue;
		if (!killed && errno == EBUSY) {
			killed = true;
			if (ctx.ops->kill(cg->rel, err) < 0 && r == 0)
				r = ward_err_wrap(err, "cgroup %s", cg->rel);
			if (cg_rmdir(&ctx.h[i], cg->rel) == 0 || errno == ENOENT)
				continue;
		}
		if (r == 0) {
			char path[PATH_MAX];
			int e = errno;
			cg_path(path, sizeof(path), &ctx.h[i], cg->rel, NULL);
			r = ward_err_set(err, e, "rmdir %s", path);
		}
	}
	/* Only if that left it empty: the tenant's other services may still
	 * be in there. A shared PARENT keeps it: another launcher may be
	 * about to make its cgroup in it. */
	if (!ctx.shared)
		rmdir_all(cg->tenant_rel);
	cgroup_free(cg);
	return r;
}

/* Kills and removes every cgroup below rel in h, deepest first. Goes on
 * past a failure (to remove what it can); the first one is reported. */
/* NOLINTNEXTLINE(misc-no-recursion): at most STALE_MAX_DEPTH (16) levels of ~9.5 KiB */
static int stale_walk(const struct hierarchy *h, const char *rel, unsigned depth,
		      struct ward_err *err)
{
	char path[PATH_MAX];
	struct dirent *de;
	int r = 0;

	if (depth > STALE_MAX_DEPTH)
		return ward_err_set(err, ELOOP, "%s/%s: nested too deep", h->path, rel);
	if (cg_path(path, sizeof(path), h, rel, NULL) < 0)
		return ward_err_set(err, errno, "%s/%s", h->path, rel);
	DIR *d = opendir(path);
	if (!d)
		return errno == ENOENT ? 0 : ward_err_set(err, errno, "open %s", path);
	while ((de = readdir(d))) {
		char child[PATH_MAX];
		struct stat st;
		struct ward_err e2;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISDIR(st.st_mode))
			continue;
		if (snprintf(child, sizeof(child), "%s/%s", rel, de->d_name) >=
		    (int)sizeof(child)) {
			if (r == 0)
				r = ward_err_set(err, ENAMETOOLONG, "%s/%s", path, de->d_name);
			continue;
		}
		/* A subtree that failed still gets its processes killed. */
		if (stale_walk(h, child, depth + 1, &e2) < 0 && r == 0)
			r = -1, *err = e2;
		if (ctx.ops->kill(child, &e2) < 0) {
			if (r == 0)
				r = -1, *err = e2;
			continue;
		}
		if (cg_rmdir(h, child) < 0 && errno != ENOENT && r == 0)
			r = ward_err_set(err, errno, "rmdir %s/%s", path, de->d_name);
	}
	closedir(d);
	return r;
}

int cgroup_cleanup_stale(struct ward_err *err)
{
	struct ward_err scratch = {0};
	err = err ? err : &scratch;
	int r = 0;

	if (!ctx.ops)
		return ward_err_set(err, EINVAL, "cgroup cleanup: not set up");
	for (size_t i = 0; i < ctx.n_h; i++) {
		struct ward_err e2;
		if (stale_walk(&ctx.h[i], ctx.parent, 0, &e2) < 0 && r == 0)
			r = -1, *err = e2;
	}
	return r < 0 ? ward_err_wrap(err, "cgroup cleanup of %s", ctx.parent) : 0;
}

/* Removes the PARENT/TENANT/NAME cgroups (in every hierarchy) for which
 * dead() says so, and the tenant directories that end up empty. */
int cgroup_cleanup_where(const char *tenant,
			 bool (*dead)(const char *tenant, const char *name, void *ud), void *ud,
			 struct ward_err *err)
{
	int r = 0;

	if (!ctx.ops)
		return ward_err_set(err, EINVAL, "cgroup cleanup: not set up");
	for (size_t i = 0; i < ctx.n_h; i++) {
		const struct hierarchy *h = &ctx.h[i];
		char path[PATH_MAX];
		struct dirent *te;
		DIR *pd;

		if (cg_path(path, sizeof(path), h, ctx.parent, NULL) < 0 || !(pd = opendir(path)))
			continue;
		while ((te = readdir(pd))) {
			char trel[PATH_MAX];
			struct dirent *se;
			DIR *td;

			if (te->d_name[0] == '.' || te->d_type != DT_DIR ||
			    (tenant && strcmp(te->d_name, tenant) != 0) ||
			    snprintf(trel, sizeof(trel), "%s/%s", ctx.parent, te->d_name) >=
				(int)sizeof(trel) ||
			    cg_path(path, sizeof(path), h, trel, NULL) < 0 || !(td = opendir(path)))
				continue;
			while ((se = readdir(td))) {
				char srel[PATH_MAX];
				struct ward_err e2;

				if (se->d_name[0] == '.' || se->d_type != DT_DIR ||
				    !dead(te->d_name, se->d_name, ud) ||
				    snprintf(srel, sizeof(srel), "%s/%s", trel, se->d_name) >=
					(int)sizeof(srel))
					continue;
				if ((stale_walk(h, srel, 0, &e2) < 0 ||
				     ctx.ops->kill(srel, &e2) < 0) &&
				    r == 0)
					r = -1, *err = e2;
				if (cg_rmdir(h, srel) < 0 && errno != ENOENT && r == 0)
					r = ward_err_set(err, errno, "rmdir %s", srel);
			}
			closedir(td);
			if (!ctx.shared)
				(void)cg_rmdir(h, trel); /* only if that left it empty */
		}
		closedir(pd);
	}
	return r;
}

void cgroup_teardown(void)
{
	/* Only an empty PARENT goes: another ward may still use it. */
	if (!ctx.ops || ctx.shared)
		return;
	for (size_t i = 0; i < ctx.n_h; i++)
		(void)cg_rmdir(&ctx.h[i], ctx.parent);
}
