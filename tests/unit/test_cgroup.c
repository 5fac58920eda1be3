/* Unit tests of the cgroup module (sandbox/cgroup*.c): both backends
 * against a fake cgroupfs tree in a temp dir (cgroup_fake.c; the exact files
 * and values written), and the backend of this
 * machine for real (as root): a child moving itself in as a launch does,
 * accounting, kill of a double-forking tree, a fork bomb at its pids
 * limit, an OOM kill, a cpu quota. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "cgroup_fake.h"
#include "tmpdir.h"

#include <dirent.h>
#include <grp.h>
#include <linux/sched.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/cgroup.h"

#define MiB (1024ull * 1024ull)

static const struct ward_limits NO_LIMITS = {WARD_UNSET, WARD_UNSET, 0, WARD_UNSET, WARD_UNSET};

/* ---- files ---- */

struct fixture {
	char dir[64];
	char parent[64]; /* real tests: ward-test-PID */
};

static const char *fpath(const struct fixture *f, const char *rel)
{
	static char buf[4][512];
	static unsigned i;
	char *b = buf[i++ % 4];

	snprintf(b, sizeof(buf[0]), "%s/%s", f->dir, rel);
	return b;
}

static void put(const char *path, const char *content)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	assert_int_equal(fputs(content, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
}

/* The contents of path; NULL when it does not exist. */
static char *slurp(const char *path)
{
	return test_read_file(path);
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

#define assert_content(f, rel, expected)                                                           \
	do {                                                                                       \
		char *c_ = slurp(fpath((f), (rel)));                                               \
		if (!c_)                                                                           \
			fail_msg("%s: missing", (rel));                                            \
		else if (strcmp(c_, (expected)) != 0)                                              \
			fail_msg("%s: \"%s\", expected \"%s\"", (rel), c_, (expected));            \
		free(c_);                                                                          \
	} while (0)

#define assert_exists(f, rel)  assert_true(exists(fpath((f), (rel))))
#define assert_missing(f, rel) assert_false(exists(fpath((f), (rel))))

/* ---- fake trees ---- */

static void files(const char *dir, const char *const *names)
{
	char p[512];

	for (; *names; names++) {
		snprintf(p, sizeof(p), "%s/%s", dir, *names);
		put(p, "");
	}
}

static void fake_v2(const struct fixture *f, const char *controllers)
{
	static const char *const root[] = {
	    "cgroup.subtree_control",
	    "cgroup.procs",
	    "cgroup.kill",
	    "cgroup.events",
	    "memory.max",
	    "memory.swap.max",
	    "memory.current",
	    "memory.peak",
	    "memory.events",
	    "pids.max",
	    "pids.current",
	    "cpu.max",
	    "cpu.stat",
	    NULL,
	};
	files(f->dir, root);
	put(fpath(f, "cgroup.controllers"), controllers);
}

enum { V1_MEMSW = 1, V1_COMBINED = 2 };

static void fake_v1(const struct fixture *f, int flags)
{
	static const char *const memory[] = {
	    "cgroup.procs",
	    "memory.limit_in_bytes",
	    "memory.usage_in_bytes",
	    "memory.oom_control",
	    "memory.max_usage_in_bytes",
	    "memory.use_hierarchy",
	    "tasks",
	    NULL,
	};
	static const char *const pids[] = {"cgroup.procs", "tasks", "pids.max", "pids.current",
					   NULL};
	static const char *const cpu[] = {"cgroup.procs",     "tasks",      "cpu.cfs_period_us",
					  "cpu.cfs_quota_us", "cpu.shares", NULL};
	static const char *const cpuacct[] = {"cgroup.procs", "tasks", "cpuacct.usage", NULL};
	static const char *const freezer[] = {"cgroup.procs", "tasks", "freezer.state", NULL};

	assert_int_equal(mkdir(fpath(f, "memory"), 0755), 0);
	assert_int_equal(mkdir(fpath(f, "pids"), 0755), 0);
	assert_int_equal(mkdir(fpath(f, "freezer"), 0755), 0);
	assert_int_equal(mkdir(fpath(f, "blkio"), 0755), 0); /* not used */
	files(fpath(f, "memory"), memory);
	if (flags & V1_MEMSW)
		put(fpath(f, "memory/memory.memsw.limit_in_bytes"), "");
	files(fpath(f, "pids"), pids);
	files(fpath(f, "freezer"), freezer);
	if (flags & V1_COMBINED) {
		/* systemd's layout: one hierarchy, two names. */
		assert_int_equal(mkdir(fpath(f, "cpu,cpuacct"), 0755), 0);
		files(fpath(f, "cpu,cpuacct"), cpu);
		files(fpath(f, "cpu,cpuacct"), cpuacct);
		assert_int_equal(symlink("cpu,cpuacct", fpath(f, "cpu")), 0);
		assert_int_equal(symlink("cpu,cpuacct", fpath(f, "cpuacct")), 0);
	} else {
		assert_int_equal(mkdir(fpath(f, "cpu"), 0755), 0);
		assert_int_equal(mkdir(fpath(f, "cpuacct"), 0755), 0);
		files(fpath(f, "cpu"), cpu);
		files(fpath(f, "cpuacct"), cpuacct);
	}
}

/* An empty fake v1 tree again, in the same directory. */
static void fake_v1_reset(struct fixture *f)
{
	test_tmpdir_remove(f->dir);
	assert_int_equal(mkdir(f->dir, 0700), 0);
	fake_v1(f, V1_MEMSW);
}

static int setup_tmp(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	test_tmpdir_make(f->dir, sizeof(f->dir), "cgroup");
	*state = f;
	return 0;
}

static int teardown_tmp(void **state)
{
	struct fixture *f = *state;

	test_tmpdir_remove(f->dir);
	free(f);
	return 0;
}

static struct ward_limits limits(uint64_t memory, uint64_t pids, double cpu)
{
	struct ward_limits l = NO_LIMITS;

	l.memory = memory;
	l.pids = pids;
	l.cpu = cpu;
	return l;
}

/* ---- v2, fake ---- */

static void setup_v2(struct fixture *f)
{
	struct ward_err err = {0};

	fake_v2(f, "cpuset cpu io memory hugetlb pids rdma misc\n");
	if (cgroup_setup_fake(f->dir, "ward", 0, "v2", &err) < 0)
		fail_msg("%s", err.msg);
	assert_string_equal(cgroup_backend_name(), "v2");
}

static void test_v2_limits(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};
	struct ward_limits l = limits(256 * MiB, 64, 0.5);
	struct stat a, b;

	setup_v2(f);
	/* Controllers handed down at every level above a service. */
	assert_content(f, "cgroup.subtree_control", "+memory +pids +cpu");
	assert_content(f, "ward/cgroup.subtree_control", "+memory +pids +cpu");

	struct cgroup *cg = cgroup_create("clinic", "db", &l, &err);
	if (!cg)
		fail_msg("%s", err.msg);
	assert_content(f, "ward/clinic/cgroup.subtree_control", "+memory +pids +cpu");
	assert_content(f, "ward/clinic/db/cgroup.subtree_control", ""); /* a leaf */
	assert_content(f, "ward/clinic/db/memory.max", "268435456");
	assert_content(f, "ward/clinic/db/memory.swap.max", "0");
	assert_content(f, "ward/clinic/db/pids.max", "64");
	assert_content(f, "ward/clinic/db/cpu.max", "50000 100000");
	/* No tenant cap asked for: the tenant's files are untouched. */
	assert_content(f, "ward/clinic/memory.max", "");

	/* The clone fd is the service's directory. */
	int fd = cgroup_clone_fd(cg);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &a), 0);
	assert_int_equal(stat(fpath(f, "ward/clinic/db"), &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	/* Cloned into, so nothing for a child to join by itself. */
	int join[CGROUP_JOIN_MAX];
	assert_true(cgroup_clone_into());
	assert_int_equal(cgroup_join_fds(cg, join, &err), 0);

	if (cgroup_kill(cg, &err) < 0)
		fail_msg("%s", err.msg);
	assert_content(f, "ward/clinic/db/cgroup.kill", "1");

	if (cgroup_destroy(cg, &err) < 0)
		fail_msg("%s", err.msg);
	assert_missing(f, "ward/clinic/db");
	assert_missing(f, "ward/clinic"); /* its last service */
	assert_exists(f, "ward/cgroup.subtree_control");
}

static void test_v2_unset_and_cpu(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};
	static const struct {
		double cpu;
		const char *max;
	} cases[] = {
	    {0, "max 100000"},    {0.001, "1000 100000"}, {0.2, "20000 100000"},
	    {2, "200000 100000"}, {1.5, "150000 100000"},
	};

	setup_v2(f);
	struct cgroup *cg = cgroup_create("clinic", "web", &NO_LIMITS, &err);
	if (!cg)
		fail_msg("%s", err.msg);
	assert_content(f, "ward/clinic/web/memory.max", "max");
	assert_content(f, "ward/clinic/web/memory.swap.max", "max");
	assert_content(f, "ward/clinic/web/pids.max", "max");
	assert_content(f, "ward/clinic/web/cpu.max", "max 100000");
	assert_int_equal(cgroup_destroy(cg, &err), 0);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ward_limits l = limits(WARD_UNSET, WARD_UNSET, cases[i].cpu);
		cg = cgroup_create("clinic", "web", &l, &err);
		assert_non_null(cg);
		assert_content(f, "ward/clinic/web/cpu.max", cases[i].max);
		assert_int_equal(cgroup_destroy(cg, &err), 0);
	}

	struct ward_limits bad = limits(WARD_UNSET, WARD_UNSET, -1);
	assert_null(cgroup_create("clinic", "web", &bad, &err));
	assert_non_null(strstr(err.msg, "cpu -1"));
	assert_missing(f, "ward/clinic/web"); /* nothing half-made left */
}

static void test_v2_missing_controller(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};

	fake_v2(f, "cpuset cpu io memory\n");
	assert_int_equal(cgroup_setup_fake(f->dir, "ward", 0, "v2", &err), -1);
	assert_non_null(strstr(err.msg, "no pids controller"));
	assert_string_equal(cgroup_backend_name(), "none");
	assert_missing(f, "ward");
	/* Not set up: everything refuses. */
	assert_null(cgroup_create("clinic", "db", &NO_LIMITS, &err));
	assert_int_equal(cgroup_cleanup_stale(&err), -1);
}

/* The fds open in this process. */
static size_t fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	size_t n = 0;

	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void test_v2_stats(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};
	struct cgroup_stats st;

	setup_v2(f);
	struct cgroup *cg = cgroup_create("clinic", "db", &NO_LIMITS, &err);
	assert_non_null(cg);
	put(fpath(f, "ward/clinic/db/memory.current"), "1048576\n");
	put(fpath(f, "ward/clinic/db/memory.peak"), "4194304\n");
	put(fpath(f, "ward/clinic/db/pids.current"), "7\n");
	put(fpath(f, "ward/clinic/db/cpu.stat"),
	    "usage_usec 2500123\nuser_usec 2000000\nsystem_usec 500123\n");
	put(fpath(f, "ward/clinic/db/memory.events"),
	    "low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 0\n");
	assert_int_equal(cgroup_stats(cg, &st), 0);
	assert_int_equal(st.memory_current, 1048576);
	assert_int_equal(st.memory_peak, 4194304);
	assert_int_equal(st.pids_current, 7);
	assert_int_equal(st.cpu_usec, 2500123);
	assert_int_equal(st.oom_kills, 2);

	/* Read again: new values, through the five files kept open since
	 * the first read (an open costs ~8 reads on cgroupfs). */
	size_t open_fds = fd_count();
	put(fpath(f, "ward/clinic/db/memory.current"), "2097152\n");
	put(fpath(f, "ward/clinic/db/memory.events"), "low 0\n");
	assert_int_equal(cgroup_stats(cg, &st), 0);
	assert_int_equal(st.memory_current, 2097152);
	assert_int_equal(st.oom_kills, 0);
	assert_int_equal(fd_count(), open_fds);
	put(fpath(f, "ward/clinic/db/pids.current"), "garbage\n");
	assert_int_equal(cgroup_stats(cg, &st), -1);
	assert_int_equal(cgroup_destroy(cg, &err), 0);
	assert_int_equal(fd_count(), open_fds - 6); /* the stat files and the clone dirfd */

	/* Near the fd limit nothing is kept: read and closed. */
	struct rlimit saved, low;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
	cg = cgroup_create("clinic", "api", &NO_LIMITS, &err);
	assert_non_null(cg);
	put(fpath(f, "ward/clinic/api/memory.current"), "4096\n");
	put(fpath(f, "ward/clinic/api/pids.current"), "2\n");
	put(fpath(f, "ward/clinic/api/cpu.stat"), "usage_usec 1\n");
	open_fds = fd_count();
	int next_fd = dup(0); /* what the next open gets */
	assert_true(next_fd >= 0);
	close(next_fd);
	low = saved;
	low.rlim_cur = 2 * (rlim_t)next_fd; /* half of it: exactly that fd */
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	assert_int_equal(cgroup_stats(cg, &st), 0);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
	assert_int_equal(st.memory_current, 4096);
	assert_int_equal(st.pids_current, 2);
	assert_int_equal(fd_count(), open_fds);
	assert_int_equal(cgroup_destroy(cg, &err), 0);

	/* memory.peak is 5.19+: 0 without it, not an error. */
	cg = cgroup_create("clinic", "web", &NO_LIMITS, &err);
	assert_non_null(cg);
	assert_int_equal(unlink(fpath(f, "ward/clinic/web/memory.peak")), 0);
	put(fpath(f, "ward/clinic/web/memory.current"), "1048576\n");
	put(fpath(f, "ward/clinic/web/pids.current"), "1\n");
	put(fpath(f, "ward/clinic/web/cpu.stat"), "usage_usec 1\n");
	for (int i = 0; i < 2; i++) {
		assert_int_equal(cgroup_stats(cg, &st), 0);
		assert_int_equal(st.memory_peak, 0);
		assert_int_equal(st.memory_current, 1048576);
	}
	assert_int_equal(cgroup_destroy(cg, &err), 0);
}

/* ---- v1, fake ---- */

static void setup_v1(struct fixture *f, int flags)
{
	struct ward_err err = {0};

	fake_v1(f, flags);
	if (cgroup_setup_fake(f->dir, "ward", 0, "v1", &err) < 0)
		fail_msg("%s", err.msg);
	assert_string_equal(cgroup_backend_name(), "v1");
}

static void test_v1_limits(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};
	struct ward_limits l = limits(64 * MiB, 20, 0.5);

	setup_v1(f, V1_MEMSW);
	assert_exists(f, "memory/ward");
	assert_exists(f, "pids/ward");
	assert_exists(f, "cpu/ward");
	assert_exists(f, "cpuacct/ward");
	assert_exists(f, "freezer/ward");
	assert_missing(f, "blkio/ward");

	struct cgroup *cg = cgroup_create("clinic", "db", &l, &err);
	if (!cg)
		fail_msg("%s", err.msg);
	assert_int_equal(cgroup_clone_fd(cg), -1);
	assert_content(f, "memory/ward/clinic/db/memory.limit_in_bytes", "67108864");
	assert_content(f, "memory/ward/clinic/db/memory.memsw.limit_in_bytes", "67108864");
	assert_content(f, "pids/ward/clinic/db/pids.max", "20");
	assert_content(f, "cpu/ward/clinic/db/cpu.cfs_period_us", "100000");
	assert_content(f, "cpu/ward/clinic/db/cpu.cfs_quota_us", "50000");
	assert_exists(f, "cpuacct/ward/clinic/db");
	assert_exists(f, "freezer/ward/clinic/db");
	assert_content(f, "memory/ward/clinic/memory.limit_in_bytes", "");

	static const char *const hier[] = {"memory", "pids", "cpu", "cpuacct", "freezer"};
	char rel[128];

	/* Frozen, nothing listed to kill, thawed. */
	if (cgroup_kill(cg, &err) < 0)
		fail_msg("%s", err.msg);
	assert_content(f, "freezer/ward/clinic/db/freezer.state", "THAWED");

	if (cgroup_destroy(cg, &err) < 0)
		fail_msg("%s", err.msg);
	for (size_t i = 0; i < 5; i++) {
		snprintf(rel, sizeof(rel), "%s/ward/clinic", hier[i]);
		assert_missing(f, rel);
		snprintf(rel, sizeof(rel), "%s/ward", hier[i]);
		assert_exists(f, rel);
	}
}

/* Launches on v1: the child moves itself in by writing "0" to the cgroup's
 * `tasks` in every hierarchy (a thread moving itself takes no global lock;
 * cgroup.procs, or anyone's pid, would wait out an RCU grace period), through
 * fds the launcher opened: write-only, close-on-exec, all closed after. */
static void test_v1_join_fds(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};
	struct ward_limits l = limits(64 * MiB, 20, 0.5);
	static const char *const hier[] = {"memory", "pids", "cpu", "cpuacct", "freezer"};
	int fds[CGROUP_JOIN_MAX], bad[2];
	ino_t want[5];
	char rel[128];
	struct stat st;

	setup_v1(f, V1_MEMSW);
	assert_false(cgroup_clone_into());
	struct cgroup *cg = cgroup_create("clinic", "db", &l, &err);
	if (!cg)
		fail_msg("%s", err.msg);
	for (size_t i = 0; i < 5; i++) {
		snprintf(rel, sizeof(rel), "%s/ward/clinic/db/tasks", hier[i]);
		assert_int_equal(stat(fpath(f, rel), &st), 0);
		want[i] = st.st_ino;
	}
	assert_int_equal(cgroup_join_fds(cg, fds, &err), 5);
	for (size_t i = 0; i < 5; i++) {
		bool found = false;

		assert_int_equal(fstat(fds[i], &st), 0);
		for (size_t j = 0; j < 5; j++)
			if (want[j] == st.st_ino) {
				found = true;
				want[j] = 0; /* each hierarchy once */
			}
		assert_true(found);
		assert_true(fcntl(fds[i], F_GETFD) & FD_CLOEXEC);
		assert_int_equal(fcntl(fds[i], F_GETFL) & O_ACCMODE, O_WRONLY);
	}
	assert_int_equal(cgroup_join_self(fds, 5), 0);
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(fds[i], -1);
		snprintf(rel, sizeof(rel), "%s/ward/clinic/db/tasks", hier[i]);
		assert_content(f, rel, "0");
		snprintf(rel, sizeof(rel), "%s/ward/clinic/db/cgroup.procs", hier[i]);
		assert_content(f, rel, "");
	}

	/* A write that fails is reported, and every fd is closed anyway. */
	bad[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	bad[1] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(bad[0] >= 0 && bad[1] >= 0);
	int keep0 = bad[0], keep1 = bad[1];
	assert_int_equal(cgroup_join_self(bad, 2), -EBADF);
	assert_int_equal(fcntl(keep0, F_GETFD), -1);
	assert_int_equal(fcntl(keep1, F_GETFD), -1);

	/* A hierarchy whose file is gone: an error naming it, nothing left open. */
	assert_int_equal(unlink(fpath(f, "freezer/ward/clinic/db/tasks")), 0);
	int before = open("/dev/null", O_RDONLY | O_CLOEXEC);
	close(before);
	assert_int_equal(cgroup_join_fds(cg, fds, &err), -1);
	assert_non_null(strstr(err.msg, "freezer/ward/clinic/db/tasks"));
	int after = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_int_equal(after, before);
	close(after);
	put(fpath(f, "freezer/ward/clinic/db/tasks"), "");

	if (cgroup_destroy(cg, &err) < 0)
		fail_msg("%s", err.msg);
}

static void test_v1_unset(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};

	setup_v1(f, V1_MEMSW);
	struct cgroup *cg = cgroup_create("clinic", "web", &NO_LIMITS, &err);
	if (!cg)
		fail_msg("%s", err.msg);
	assert_content(f, "memory/ward/clinic/web/memory.limit_in_bytes", "-1");
	assert_content(f, "memory/ward/clinic/web/memory.memsw.limit_in_bytes", "-1");
	assert_content(f, "pids/ward/clinic/web/pids.max", "max");
	assert_content(f, "cpu/ward/clinic/web/cpu.cfs_period_us", "100000");
	assert_content(f, "cpu/ward/clinic/web/cpu.cfs_quota_us", "-1");
	assert_int_equal(cgroup_destroy(cg, &err), 0);

	struct ward_limits tiny = limits(WARD_UNSET, WARD_UNSET, 0.0001);
	cg = cgroup_create("clinic", "web", &tiny, &err);
	assert_non_null(cg);
	assert_content(f, "cpu/ward/clinic/web/cpu.cfs_quota_us", "1000");
	assert_int_equal(cgroup_destroy(cg, &err), 0);
}

/* Without swap accounting there is no memsw file and nothing to cap. */
static void test_v1_no_memsw_combined_cpu(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};
	struct ward_limits l = limits(32 * MiB, 5, 1.25);
	struct cgroup_stats st;

	setup_v1(f, V1_COMBINED);
	struct cgroup *cg = cgroup_create("clinic", "db", &l, &err);
	if (!cg)
		fail_msg("%s", err.msg);
	assert_content(f, "memory/ward/clinic/db/memory.limit_in_bytes", "33554432");
	assert_missing(f, "memory/ward/clinic/db/memory.memsw.limit_in_bytes");
	assert_content(f, "cpu,cpuacct/ward/clinic/db/cpu.cfs_quota_us", "125000");

	put(fpath(f, "memory/ward/clinic/db/memory.usage_in_bytes"), "1000\n");
	put(fpath(f, "memory/ward/clinic/db/memory.max_usage_in_bytes"), "5000\n");
	put(fpath(f, "pids/ward/clinic/db/pids.current"), "3\n");
	put(fpath(f, "cpu,cpuacct/ward/clinic/db/cpuacct.usage"), "7500999\n");
	put(fpath(f, "memory/ward/clinic/db/memory.oom_control"),
	    "oom_kill_disable 0\nunder_oom 0\noom_kill 4\n");
	assert_int_equal(cgroup_stats(cg, &st), 0);
	assert_int_equal(st.memory_current, 1000);
	assert_int_equal(st.memory_peak, 5000);
	assert_int_equal(st.pids_current, 3);
	assert_int_equal(st.cpu_usec, 7500);
	assert_int_equal(st.oom_kills, 4);
	/* Kernels before 4.13 have no oom_kill line. */
	put(fpath(f, "memory/ward/clinic/db/memory.oom_control"),
	    "oom_kill_disable 0\nunder_oom 0\n");
	assert_int_equal(cgroup_stats(cg, &st), 0);
	assert_int_equal(st.oom_kills, 0);

	assert_int_equal(cgroup_destroy(cg, &err), 0);
	assert_missing(f, "cpu,cpuacct/ward/clinic");
	assert_exists(f, "cpu,cpuacct/ward");
}

/* ---- the tenant cap ---- */

static void test_v1_tenant_cap(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};
	struct ward_limits cap = limits(1024 * MiB, 100, 2);
	struct ward_limits greedy = limits(64 * MiB, 10, 4);

	setup_v1(f, V1_MEMSW);
	if (cgroup_tenant_apply("clinic", &cap, &err) < 0)
		fail_msg("%s", err.msg);
	assert_content(f, "memory/ward/clinic/memory.limit_in_bytes", "1073741824");
	assert_content(f, "memory/ward/clinic/memory.memsw.limit_in_bytes", "1073741824");
	assert_content(f, "pids/ward/clinic/pids.max", "100");
	assert_content(f, "cpu/ward/clinic/cpu.cfs_quota_us", "200000");

	/* v1 refuses a child quota above its parent's: the service gets the cap. */
	struct cgroup *cg = cgroup_create("clinic", "db", &greedy, &err);
	if (!cg)
		fail_msg("%s", err.msg);
	assert_content(f, "cpu/ward/clinic/db/cpu.cfs_quota_us", "200000");
	assert_content(f, "memory/ward/clinic/db/memory.limit_in_bytes", "67108864");

	/* A cap lowered below a running service lowers the service first. */
	cap.cpu = 0.25;
	if (cgroup_tenant_apply("clinic", &cap, &err) < 0)
		fail_msg("%s", err.msg);
	assert_content(f, "cpu/ward/clinic/cpu.cfs_quota_us", "25000");
	assert_content(f, "cpu/ward/clinic/db/cpu.cfs_quota_us", "25000");

	/* The last service gone takes the tenant cgroup along; the next
	 * service brings it back with the cap. */
	assert_int_equal(cgroup_destroy(cg, &err), 0);
	assert_missing(f, "memory/ward/clinic");
	cg = cgroup_create("clinic", "db", &NO_LIMITS, &err);
	assert_non_null(cg);
	assert_content(f, "memory/ward/clinic/memory.limit_in_bytes", "1073741824");
	assert_content(f, "cpu/ward/clinic/cpu.cfs_quota_us", "25000");

	/* An update to no cap writes the unlimited values. */
	if (cgroup_tenant_apply("clinic", &NO_LIMITS, &err) < 0)
		fail_msg("%s", err.msg);
	assert_content(f, "memory/ward/clinic/memory.limit_in_bytes", "-1");
	assert_content(f, "pids/ward/clinic/pids.max", "max");
	assert_content(f, "cpu/ward/clinic/cpu.cfs_quota_us", "-1");
	assert_int_equal(cgroup_destroy(cg, &err), 0);
}

static void test_v2_tenant_cap(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};
	struct ward_limits cap = limits(512 * MiB, 200, 1);
	struct ward_limits svc = limits(WARD_UNSET, 10, 4);

	setup_v2(f);
	if (cgroup_tenant_apply("clinic", &cap, &err) < 0)
		fail_msg("%s", err.msg);
	assert_content(f, "ward/clinic/memory.max", "536870912");
	assert_content(f, "ward/clinic/memory.swap.max", "0");
	assert_content(f, "ward/clinic/pids.max", "200");
	assert_content(f, "ward/clinic/cpu.max", "100000 100000");
	assert_content(f, "ward/clinic/cgroup.subtree_control", "+memory +pids +cpu");

	/* v2 takes the smaller of the two by itself: written as asked. */
	struct cgroup *cg = cgroup_create("clinic", "db", &svc, &err);
	assert_non_null(cg);
	assert_content(f, "ward/clinic/db/cpu.max", "400000 100000");
	assert_content(f, "ward/clinic/db/memory.max", "max");
	assert_int_equal(cgroup_destroy(cg, &err), 0);
	assert_missing(f, "ward/clinic");

	assert_int_equal(cgroup_tenant_apply("bad/name", &cap, &err), -1);
	assert_int_equal(cgroup_tenant_apply("..", &cap, &err), -1);
}

/* ---- reuse, names, write errors ---- */

static void test_reuse_leftover(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};
	struct ward_limits a = limits(1 * MiB, 1, 0.1);
	struct ward_limits b = limits(2 * MiB, 2, 0.2);

	setup_v1(f, V1_MEMSW);
	struct cgroup *first = cgroup_create("clinic", "db", &a, &err);
	assert_non_null(first);
	struct cgroup *second = cgroup_create("clinic", "db", &b, &err);
	if (!second)
		fail_msg("%s", err.msg);
	assert_content(f, "memory/ward/clinic/db/memory.limit_in_bytes", "2097152");
	assert_content(f, "pids/ward/clinic/db/pids.max", "2");
	assert_content(f, "cpu/ward/clinic/db/cpu.cfs_quota_us", "20000");
	assert_content(f, "freezer/ward/clinic/db/freezer.state", "THAWED"); /* emptied */
	assert_int_equal(cgroup_destroy(second, &err), 0);
	assert_int_equal(cgroup_destroy(first, &err), 0); /* already gone: fine */
	assert_int_equal(cgroup_destroy(NULL, &err), 0);

	/* Something not a directory in the way is not reused. */
	put(fpath(f, "pids/ward/clinic"), "");
	assert_null(cgroup_create("clinic", "db", &b, &err));
	assert_non_null(strstr(err.msg, "pids/ward/clinic: not a cgroup"));
}

static void test_names(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};
	static const char *const bad[] = {"", ".", "..", "../x", "a/b", ".hidden", "sp ace", "x\n"};

	fake_v2(f, "memory pids cpu");
	assert_int_equal(cgroup_setup_fake(f->dir, "a/b", 0, "v2", &err), -1);
	assert_int_equal(cgroup_setup_fake(f->dir, "..", 0, "v2", &err), -1);
	assert_int_equal(cgroup_setup_fake(f->dir, "ward", 0, "v3", &err), -1);
	assert_non_null(strstr(err.msg, "v3"));
	setup_v2(f);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_null(cgroup_create("clinic", bad[i], &NO_LIMITS, &err));
		assert_int_equal(err.errnum, EINVAL);
		assert_null(cgroup_create(bad[i], "db", &NO_LIMITS, &err));
	}
	assert_null(cgroup_create(NULL, "db", &NO_LIMITS, &err));
	assert_missing(f, "ward/clinic");
}

static void test_write_errors(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};
	struct ward_limits cap = limits(WARD_UNSET, 100, 0);

	setup_v2(f);
	assert_int_equal(cgroup_tenant_apply("clinic", &NO_LIMITS, &err), 0);

	/* A limit file that is a symlink is not followed. */
	put(fpath(f, "outside"), "untouched");
	assert_int_equal(unlink(fpath(f, "ward/clinic/pids.max")), 0);
	assert_int_equal(symlink("../../outside", fpath(f, "ward/clinic/pids.max")), 0);
	assert_int_equal(cgroup_tenant_apply("clinic", &cap, &err), -1);
	assert_int_equal(err.errnum, ELOOP);
	assert_non_null(strstr(err.msg, "ward/clinic/pids.max to write \"100\""));
	assert_content(f, "outside", "untouched");

	/* A write the kernel refuses names the file and the value. */
	if (geteuid() == 0) {
		assert_int_equal(unlink(fpath(f, "ward/clinic/pids.max")), 0);
		assert_int_equal(
		    mknod(fpath(f, "ward/clinic/pids.max"), S_IFCHR | 0600, makedev(1, 7)),
		    0); /* /dev/full */
		assert_int_equal(cgroup_tenant_apply("clinic", &cap, &err), -1);
		assert_int_equal(err.errnum, ENOSPC);
		assert_non_null(strstr(err.msg, "write "));
		assert_non_null(strstr(err.msg, "ward/clinic/pids.max \"100\""));
	}

	/* A missing limit file fails the create, and leaves nothing. */
	assert_int_equal(unlink(fpath(f, "cpu.max")), 0); /* the fake mkdir's template */
	assert_null(cgroup_create("clinic", "web", &NO_LIMITS, &err));
	assert_int_equal(err.errnum, ENOENT);
	assert_non_null(strstr(err.msg, "ward/clinic/web/cpu.max"));
	assert_missing(f, "ward/clinic/web");
}

/* ---- a PARENT shared by launchers (`wardd run`) ---- */

static const char *const v1_hiers[] = {"memory", "pids", "cpu", "cpuacct", "freezer"};

/* rel (under PARENT) exists in every v1 hierarchy, or in none. */
static void v1_expect(const struct fixture *f, const char *parent, const char *rel, bool there)
{
	char path[256];

	for (size_t i = 0; i < sizeof(v1_hiers) / sizeof(*v1_hiers); i++) {
		snprintf(path, sizeof(path), "%s/%s%s%s", v1_hiers[i], parent, *rel ? "/" : "",
			 rel);
		if (there)
			assert_exists(f, path);
		else
			assert_missing(f, path);
	}
}

/* A cgroup some launcher made and never removed (it was killed). */
static void v1_left_behind(const struct fixture *f, const char *parent, const char *rel)
{
	static const char *const v1files[] = {"cgroup.procs", "freezer.state", "pids.max", NULL};
	char path[256];

	for (size_t i = 0; i < sizeof(v1_hiers) / sizeof(*v1_hiers); i++) {
		snprintf(path, sizeof(path), "%s/%s/%s", v1_hiers[i], parent, rel);
		assert_int_equal(mkdir(fpath(f, path), 0755), 0);
		files(fpath(f, path), v1files);
	}
}

struct dead_calls {
	const char *dead_name;
	unsigned calls_other_tenant;
};

static bool dead_by_name(const char *tenant, const char *name, void *ud)
{
	struct dead_calls *d = ud;

	if (strcmp(tenant, "clinic") != 0)
		d->calls_other_tenant++;
	return strcmp(name, d->dead_name) == 0;
}

static void test_shared_parent_keeps_tenant_dirs(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};
	struct dead_calls dc = {.dead_name = "db.run-2"};
	struct cgroup *cg;

	fake_v1(f, V1_MEMSW);
	if (cgroup_setup_fake(f->dir, "ward.run", CGROUP_SHARED_PARENT, "v1", &err) < 0)
		fail_msg("%s", err.msg);

	/* A run's leaf goes; its tenant directory stays for the next run. */
	cg = cgroup_create("clinic", "db.run-1", &NO_LIMITS, &err);
	if (!cg)
		fail_msg("%s", err.msg);
	v1_expect(f, "ward.run", "clinic/db.run-1", true);
	assert_int_equal(cgroup_destroy(cg, &err), 0);
	v1_expect(f, "ward.run", "clinic/db.run-1", false);
	v1_expect(f, "ward.run", "clinic", true);

	/* Leftovers of killed runs: only the named tenant's are looked at,
	 * only the dead one goes, and the tenant directory stays. */
	v1_left_behind(f, "ward.run", "clinic/db.run-2");
	v1_left_behind(f, "ward.run", "clinic/db.run-3");
	for (size_t i = 0; i < sizeof(v1_hiers) / sizeof(*v1_hiers); i++) {
		char path[64];
		snprintf(path, sizeof(path), "%s/ward.run/other", v1_hiers[i]);
		assert_int_equal(mkdir(fpath(f, path), 0755), 0);
	}
	v1_left_behind(f, "ward.run", "other/db.run-2");
	assert_int_equal(cgroup_cleanup_where("clinic", dead_by_name, &dc, &err), 0);
	assert_int_equal(dc.calls_other_tenant, 0);
	v1_expect(f, "ward.run", "clinic/db.run-2", false);
	v1_expect(f, "ward.run", "clinic/db.run-3", true);
	v1_expect(f, "ward.run", "other/db.run-2", true);
	v1_expect(f, "ward.run", "clinic", true);
	v1_expect(f, "ward.run", "other", true);

	/* And PARENT stays at teardown, for the runs still going. */
	cgroup_teardown();
	v1_expect(f, "ward.run", "", true);
}

static void test_owned_parent_removes_tenant_dirs(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};
	struct dead_calls dc = {.dead_name = "db"};
	struct cgroup *cg;

	setup_v1(f, V1_MEMSW); /* PARENT "ward", not shared */
	cg = cgroup_create("clinic", "web", &NO_LIMITS, &err);
	assert_non_null(cg);
	assert_int_equal(cgroup_destroy(cg, &err), 0);
	v1_expect(f, "ward", "clinic", false);

	for (size_t i = 0; i < sizeof(v1_hiers) / sizeof(*v1_hiers); i++) {
		char path[64];
		snprintf(path, sizeof(path), "%s/ward/clinic", v1_hiers[i]);
		assert_int_equal(mkdir(fpath(f, path), 0755), 0);
		snprintf(path, sizeof(path), "%s/ward/other", v1_hiers[i]);
		assert_int_equal(mkdir(fpath(f, path), 0755), 0);
	}
	v1_left_behind(f, "ward", "clinic/db");
	v1_left_behind(f, "ward", "other/db");
	assert_int_equal(cgroup_cleanup_where(NULL, dead_by_name, &dc, &err), 0);
	/* NULL: every tenant, once per hierarchy */
	assert_int_equal(dc.calls_other_tenant, 5);
	v1_expect(f, "ward", "clinic", false);
	v1_expect(f, "ward", "other", false);
	cgroup_teardown();
	v1_expect(f, "ward", "", false);
}

static void test_claim_reuses_and_holds(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};
	struct ward_limits one = limits(1 * MiB, 10, 0), two = limits(2 * MiB, 20, 0);
	struct cgroup *held[64];

	/* Only a shared PARENT has claims. */
	setup_v1(f, V1_MEMSW);
	assert_null(cgroup_claim("clinic", "db.run", &one, &err));
	assert_int_equal(err.errnum, EINVAL);

	fake_v1_reset(f);
	if (cgroup_setup_fake(f->dir, "ward.run", CGROUP_SHARED_PARENT, "v1", &err) < 0)
		fail_msg("%s", err.msg);
	struct cgroup *a = cgroup_claim("clinic", "db.run", &one, &err);
	if (!a)
		fail_msg("%s", err.msg);
	assert_content(f, "memory/ward.run/clinic/db.run/memory.limit_in_bytes", "1048576");
	/* Held: the next launcher gets the next name, with its own limits. */
	struct cgroup *b = cgroup_claim("clinic", "db.run", &two, &err);
	if (!b)
		fail_msg("%s", err.msg);
	assert_content(f, "memory/ward.run/clinic/db.run-2/memory.limit_in_bytes", "2097152");
	assert_content(f, "pids/ward.run/clinic/db.run-2/pids.max", "20");
	/* Released, it stays, and the next claim reuses it with its limits. */
	assert_int_equal(cgroup_destroy(a, &err), 0);
	v1_expect(f, "ward.run", "clinic/db.run", true);
	a = cgroup_claim("clinic", "db.run", &two, &err);
	assert_non_null(a);
	assert_content(f, "memory/ward.run/clinic/db.run/memory.limit_in_bytes", "2097152");
	assert_content(f, "pids/ward.run/clinic/db.run/pids.max", "20");
	assert_int_equal(cgroup_destroy(a, &err), 0);
	assert_int_equal(cgroup_destroy(b, &err), 0);
	v1_expect(f, "ward.run", "clinic/db.run-2", true);
	v1_expect(f, "ward.run", "clinic/db.run-3", false);

	/* 64 at once, then a clear refusal. */
	for (size_t i = 0; i < 64; i++) {
		held[i] = cgroup_claim("clinic", "db.run", &one, &err);
		if (!held[i])
			fail_msg("claim %zu: %s", i, err.msg);
	}
	assert_null(cgroup_claim("clinic", "db.run", &one, &err));
	assert_int_equal(err.errnum, EBUSY);
	assert_non_null(strstr(err.msg, "64 launches of clinic/db.run are going at once"));
	for (size_t i = 0; i < 64; i++)
		assert_int_equal(cgroup_destroy(held[i], &err), 0);
	assert_non_null(a = cgroup_claim("clinic", "db.run", &one, &err));
	assert_int_equal(cgroup_destroy(a, &err), 0);
}

static void test_claim_v2_clones_into_the_held_cgroup(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};
	struct ward_limits l = limits(1 * MiB, 10, 0);
	struct stat want, got;

	fake_v2(f, "cpuset cpu io memory hugetlb pids rdma misc\n");
	if (cgroup_setup_fake(f->dir, "ward.run", CGROUP_SHARED_PARENT, "v2", &err) < 0)
		fail_msg("%s", err.msg);
	struct cgroup *a = cgroup_claim("clinic", "db.run", &l, &err);
	if (!a)
		fail_msg("%s", err.msg);
	assert_content(f, "ward.run/clinic/db.run/memory.max", "1048576");
	/* CLONE_INTO_CGROUP gets the directory that is held. */
	assert_true(cgroup_clone_fd(a) >= 0);
	assert_int_equal(fstat(cgroup_clone_fd(a), &got), 0);
	assert_int_equal(stat(fpath(f, "ward.run/clinic/db.run"), &want), 0);
	assert_true(got.st_ino == want.st_ino && got.st_dev == want.st_dev);
	struct cgroup *b = cgroup_claim("clinic", "db.run", &l, &err);
	assert_non_null(b);
	assert_int_equal(stat(fpath(f, "ward.run/clinic/db.run-2"), &want), 0);
	assert_int_equal(fstat(cgroup_clone_fd(b), &got), 0);
	assert_true(got.st_ino == want.st_ino);
	assert_int_equal(cgroup_destroy(a, &err), 0);
	assert_int_equal(cgroup_destroy(b, &err), 0);
	assert_exists(f, "ward.run/clinic/db.run/memory.max"); /* kept */
}

/* ---- start-up cleanup of a dead wardd's tree ---- */

static void leftover(const struct fixture *f, const char *hier, const char *const *files_)
{
	static const char *const dirs[] = {"a", "a/x", "a/x/deeper", "a/y", "b", NULL};
	char rel[256];

	for (const char *const *d = dirs; *d; d++) {
		snprintf(rel, sizeof(rel), "%s%sward/%s", hier, *hier ? "/" : "", *d);
		assert_int_equal(mkdir(fpath(f, rel), 0755), 0);
		files(fpath(f, rel), files_);
	}
}

static void test_cleanup_stale(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};
	static const char *const v1files[] = {"cgroup.procs", "freezer.state", "pids.max", NULL};
	static const char *const v2files[] = {"cgroup.procs", "cgroup.kill", "cgroup.events",
					      "memory.max", NULL};
	static const char *const hier[] = {"memory", "pids", "cpu", "cpuacct", "freezer"};
	char rel[128];

	setup_v1(f, V1_MEMSW);
	for (size_t i = 0; i < 5; i++)
		leftover(f, hier[i], v1files);
	if (cgroup_cleanup_stale(&err) < 0)
		fail_msg("%s", err.msg);
	for (size_t i = 0; i < 5; i++) {
		snprintf(rel, sizeof(rel), "%s/ward/a", hier[i]);
		assert_missing(f, rel);
		snprintf(rel, sizeof(rel), "%s/ward/b", hier[i]);
		assert_missing(f, rel);
		snprintf(rel, sizeof(rel), "%s/ward/cgroup.procs", hier[i]);
		assert_exists(f, rel); /* PARENT itself stays */
	}
	assert_content(f, "freezer/ward/cgroup.procs", "");

	teardown_tmp(state);
	setup_tmp(state);
	f = *state;
	setup_v2(f);
	leftover(f, "", v2files);
	if (cgroup_cleanup_stale(&err) < 0)
		fail_msg("%s", err.msg);
	assert_missing(f, "ward/a");
	assert_missing(f, "ward/b");
	assert_exists(f, "ward/cgroup.subtree_control");
	assert_int_equal(cgroup_cleanup_stale(&err), 0); /* nothing left: fine */
}

/* ---- this machine's cgroups, for real ---- */

static int setup_real(void **state)
{
	struct fixture *f;
	struct ward_err err = {0};

	setup_tmp(state);
	f = *state;
	snprintf(f->parent, sizeof(f->parent), "ward-test-%d", (int)getpid());
	if (geteuid() != 0)
		return 0;
	/* Orphaned grandchildren come back to us, to be counted and reaped. */
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	if (cgroup_setup("/sys/fs/cgroup", f->parent, 0, &err) < 0) {
		print_message("real cgroups unusable: %s\n", err.msg);
		f->parent[0] = '\0';
	}
	return 0;
}

/* Reaps our children and the orphans handed to us; bounded, so a teardown
 * after a failed kill cannot hang. */
static void reap_all(void)
{
	for (int i = 0; i < 2000; i++) {
		pid_t p = waitpid(-1, NULL, __WALL | WNOHANG);
		if (p < 0 && errno == ECHILD)
			return;
		if (p <= 0) {
			struct timespec t = {0, 1000 * 1000};
			nanosleep(&t, NULL);
		}
	}
}

/* SIGKILLs whatever is listed in the cgroup.procs files under dir (the
 * test's own processes), whatever the module under test did. */
static void kill_listed(const char *dir, unsigned depth)
{
	char p[1024];
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d || depth > 8) {
		if (d)
			closedir(d);
		return;
	}
	snprintf(p, sizeof(p), "%s/cgroup.procs", dir);
	FILE *fp = fopen(p, "r");
	int pid;
	while (fp && fscanf(fp, "%d", &pid) == 1)
		if (pid > 1)
			kill(pid, SIGKILL);
	if (fp)
		fclose(fp);
	while ((de = readdir(d)))
		if (de->d_type == DT_DIR && de->d_name[0] != '.') {
			snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
			kill_listed(p, depth + 1);
		}
	closedir(d);
}

/* rmdir of dir's subdirectories, deepest first, then of dir. */
static void rmdir_tree(const char *dir, unsigned depth)
{
	char p[1024];
	DIR *d = opendir(dir);
	struct dirent *de;

	while (d && depth <= 8 && (de = readdir(d)))
		if (de->d_type == DT_DIR && de->d_name[0] != '.') {
			snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
			rmdir_tree(p, depth + 1);
		}
	if (d)
		closedir(d);
	rmdir(dir);
}

/* Removes everything the test made, even after a failure: the cgroups
 * below PARENT (what cleanup_stale is for), then PARENT in every
 * hierarchy, whichever backend this is. */
static int teardown_real(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};

	if (geteuid() == 0 && f->parent[0]) {
		char p[512];

		if (cgroup_cleanup_stale(&err) < 0)
			print_message("cleanup: %s\n", err.msg);
		reap_all();
		/* Had the module failed at it: by hand, without it. */
		for (int pass = 0; pass < 2; pass++) {
			DIR *d = opendir("/sys/fs/cgroup");
			struct dirent *de;
			while (d && (de = readdir(d))) {
				snprintf(p, sizeof(p), "/sys/fs/cgroup/%s/%s", de->d_name,
					 f->parent);
				if (pass == 0)
					kill_listed(p, 0);
				else
					rmdir_tree(p, 0);
			}
			if (d)
				closedir(d);
			snprintf(p, sizeof(p), "/sys/fs/cgroup/%s", f->parent);
			if (pass == 0) {
				kill_listed(p, 0);
				reap_all();
			} else {
				rmdir_tree(p, 0);
			}
		}
	}
	prctl(PR_SET_CHILD_SUBREAPER, 0);
	return teardown_tmp(state);
}

#define REAL_OR_SKIP(f)                                                                            \
	do {                                                                                       \
		if (geteuid() != 0 || !(f)->parent[0])                                             \
			skip();                                                                    \
	} while (0)

/* /proc/PID/cgroup names rel in the memory and pids hierarchies (v1) or
 * the unified one (v2). */
static bool proc_in_cgroup(pid_t pid, const char *rel, const char *controller)
{
	char path[64], line[512], want_v2[300];
	bool found = false;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	snprintf(want_v2, sizeof(want_v2), "0::/%s\n", rel);
	FILE *fp = fopen(path, "r");
	if (!fp)
		return false;
	while (fgets(line, sizeof(line), fp)) {
		char *c = strchr(line, ':');
		char *p = c ? strchr(c + 1, ':') : NULL;
		if (strcmp(cgroup_backend_name(), "v2") == 0) {
			found = found || strcmp(line, want_v2) == 0;
			continue;
		}
		if (!p || p[1] != '/' || strncmp(p + 2, rel, strlen(rel)) != 0 ||
		    p[2 + strlen(rel)] != '\n')
			continue;
		*p = '\0';
		/* "4:memory" or a co-mounted "4:cpu,cpuacct" */
		for (char *t = strtok(c + 1, ","); t; t = strtok(NULL, ","))
			found = found || strcmp(t, controller) == 0;
	}
	fclose(fp);
	return found;
}

static bool real_dir_exists(const struct fixture *f, const char *sub)
{
	char p[512];
	bool any = false;
	DIR *d = opendir("/sys/fs/cgroup");
	struct dirent *de;

	while (d && (de = readdir(d))) {
		snprintf(p, sizeof(p), "/sys/fs/cgroup/%s/%s/%s", de->d_name, f->parent, sub);
		any = any || exists(p);
	}
	if (d)
		closedir(d);
	snprintf(p, sizeof(p), "/sys/fs/cgroup/%s/%s", f->parent, sub);
	return any || exists(p);
}

struct child {
	pid_t pid;
	int go, out; /* parent's ends */
};

/* Forks a child into cg the way a launch puts its sandbox there (cloned
 * into it on v2; on v1 it writes itself into the files its parent opened),
 * which then waits for a byte on go[0] and runs body(out), out being the
 * write end of a result pipe. Returns once the child is in: 0, or -1 with
 * errno. No cmocka asserts: a launcher process the test forked calls it.
 * nobody: the child gives up root before it moves itself in, as the
 * sandbox's init has no mapped uid then. */
static int child_spawn(const struct cgroup *cg, void (*body)(int out), bool nobody, struct child *c)
{
	int go[2], out[2], join[CGROUP_JOIN_MAX];
	int n = cgroup_join_fds(cg, join, NULL);
	char b;

	if (n < 0 || pipe2(go, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
		return -1;
	struct clone_args args = {.exit_signal = SIGCHLD};
	if (cgroup_clone_fd(cg) >= 0) {
		args.flags = CLONE_INTO_CGROUP;
		args.cgroup = (uint64_t)cgroup_clone_fd(cg);
	}
	c->pid = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
	if (c->pid < 0)
		return -1;
	if (c->pid == 0) {
		close(go[1]);
		close(out[0]);
		if (nobody && (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
			       setresuid(65534, 65534, 65534) < 0))
			_exit(88);
		/* in, and says so before the spawner returns: the tests
		 * look at the cgroup right after */
		b = cgroup_join_self(join, n) == 0 ? 'j' : 'x';
		if (write(out[1], &b, 1) != 1 || b != 'j')
			_exit(89);
		/* Like a sandbox, keeps nothing it inherited: not its
		 * launcher's claim on the cgroup either. */
		int lo = go[0] < out[1] ? go[0] : out[1], hi = go[0] ^ out[1] ^ lo;
		close_range(3, (unsigned)lo - 1, 0);
		close_range((unsigned)lo + 1, (unsigned)hi - 1, 0);
		close_range((unsigned)hi + 1, ~0U, 0);
		if (read(go[0], &b, 1) != 1)
			_exit(90);
		body(out[1]);
		_exit(0);
	}
	for (int i = 0; i < n; i++)
		close(join[i]);
	close(go[0]);
	close(out[1]);
	c->go = go[1];
	c->out = out[0];
	if (read(c->out, &b, 1) != 1 || b != 'j') {
		errno = EIO;
		return -1;
	}
	return 0;
}

static struct child child_start(const struct cgroup *cg, void (*body)(int out))
{
	struct child c;

	if (child_spawn(cg, body, false, &c) < 0)
		fail_msg("starting a child in its cgroup: %s", strerror(errno));
	return c;
}

static void child_go(struct child *c)
{
	assert_int_equal(write(c->go, "g", 1), 1);
}

static void child_close(struct child *c)
{
	close(c->go);
	close(c->out);
}

/* Three children that each double-fork a sleeper, and sleep themselves:
 * what a daemon that "escapes" its parent looks like. */
static void body_double_fork(int out)
{
	for (int i = 0; i < 3; i++) {
		pid_t a = fork();
		if (a == 0) {
			pid_t b = fork();
			if (b == 0) {
				setsid();
				for (;;)
					pause();
			}
			/* Written before the middle one goes (its child is
			 * orphaned), so before the end marker below. */
			_exit(write(out, &b, sizeof(b)) == sizeof(b) ? 0 : 91);
		}
		waitpid(a, NULL, 0);
	}
	pid_t end = 0;
	if (write(out, &end, sizeof(end)) != sizeof(end))
		_exit(92);
	for (;;)
		pause();
}

static void test_real_stats_kill(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};
	struct ward_limits l = limits(64 * MiB, 20, 0);
	struct cgroup_stats st;
	char rel[128];
	pid_t gc[3];
	int st_;

	REAL_OR_SKIP(f);
	struct cgroup *cg = cgroup_create("t", "s", &l, &err);
	if (!cg)
		fail_msg("%s", err.msg);
	assert_true(real_dir_exists(f, "t/s"));

	struct child c = child_start(cg, body_double_fork);
	snprintf(rel, sizeof(rel), "%s/t/s", f->parent);
	assert_true(proc_in_cgroup(c.pid, rel, "memory"));
	assert_true(proc_in_cgroup(c.pid, rel, "pids"));
	child_go(&c);
	for (int i = 0; i < 3; i++)
		assert_int_equal(read(c.out, &gc[i], sizeof(gc[i])), sizeof(gc[i]));
	pid_t end;
	assert_int_equal(read(c.out, &end, sizeof(end)), sizeof(end));
	assert_int_equal(end, 0);
	for (int i = 0; i < 3; i++)
		assert_true(proc_in_cgroup(gc[i], rel, "pids"));

	if (cgroup_stats(cg, &st) < 0)
		fail_msg("stats: %s", strerror(errno));
	assert_int_equal(st.pids_current, 4); /* the child and its three orphans */
	assert_true(st.memory_current > 0);
	assert_true(st.memory_peak >= st.memory_current);
	assert_true(st.cpu_usec > 0);
	assert_int_equal(st.oom_kills, 0);

	if (cgroup_kill(cg, &err) < 0)
		fail_msg("%s", err.msg);
	/* Everything died of SIGKILL: the child, and the orphans that came
	 * back to us (the subreaper). */
	assert_int_equal(waitpid(c.pid, &st_, 0), c.pid);
	assert_true(WIFSIGNALED(st_) && WTERMSIG(st_) == SIGKILL);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(waitpid(gc[i], &st_, 0), gc[i]);
		assert_true(WIFSIGNALED(st_) && WTERMSIG(st_) == SIGKILL);
	}
	assert_int_equal(cgroup_stats(cg, &st), 0);
	assert_int_equal(st.pids_current, 0);
	child_close(&c);

	if (cgroup_destroy(cg, &err) < 0)
		fail_msg("%s", err.msg);
	assert_false(real_dir_exists(f, "t/s"));
	assert_false(real_dir_exists(f, "t"));
	assert_true(real_dir_exists(f, ""));
}

/* Forks until the kernel says no; reports how many it got and the errno. */
static void body_fork_bomb(int out)
{
	int n = 0, e = 0;

	for (;;) {
		pid_t p = fork();
		if (p == 0) {
			for (;;)
				pause();
		}
		if (p < 0) {
			e = errno;
			break;
		}
		if (++n > 1000)
			break;
	}
	int r[2] = {n, e};
	if (write(out, r, sizeof(r)) != sizeof(r))
		_exit(91);
	for (;;)
		pause();
}

static void body_sleep(int out)
{
	(void)out;
	for (;;)
		pause();
}

/* What a launch does on v1, for real: a child moves itself into every
 * hierarchy through the fds its parent opened, after it gave up root, as
 * the sandbox's init does in a user namespace where it has no mapped uid:
 * the kernel checks the credentials the files were opened with. (On v2 it
 * is cloned into the cgroup.) */
static void test_real_join_self(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};
	struct ward_limits l = limits(64 * MiB, 20, 0);
	static const char *const ctrl[] = {"memory", "pids", "cpu", "cpuacct", "freezer"};
	struct child c;
	char rel[128];

	REAL_OR_SKIP(f);
	struct cgroup *cg = cgroup_create("t", "j", &l, &err);
	if (!cg)
		fail_msg("%s", err.msg);
	if (child_spawn(cg, body_sleep, true, &c) < 0)
		fail_msg("a child that gave up root, into its cgroup: %s", strerror(errno));
	snprintf(rel, sizeof(rel), "%s/t/j", f->parent);
	for (size_t i = 0; i < sizeof(ctrl) / sizeof(*ctrl); i++)
		assert_true(proc_in_cgroup(c.pid, rel, ctrl[i]));
	kill(c.pid, SIGKILL);
	assert_int_equal(waitpid(c.pid, NULL, 0), c.pid);
	child_close(&c);
	if (cgroup_destroy(cg, &err) < 0)
		fail_msg("%s", err.msg);
}

static void test_real_fork_bomb(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};
	struct ward_limits l = limits(WARD_UNSET, 20, 0);
	struct cgroup_stats st;
	int r[2];

	REAL_OR_SKIP(f);
	struct cgroup *cg = cgroup_create("t", "bomb", &l, &err);
	if (!cg)
		fail_msg("%s", err.msg);
	struct child c = child_start(cg, body_fork_bomb);
	child_go(&c);
	assert_int_equal(read(c.out, r, sizeof(r)), sizeof(r));
	print_message("fork bomb: %d forks, then %s\n", r[0], strerror(r[1]));
	assert_int_equal(r[1], EAGAIN);
	assert_true(r[0] >= 1 && r[0] + 1 <= 20);
	assert_int_equal(cgroup_stats(cg, &st), 0);
	assert_true(st.pids_current <= 20);
	assert_true(st.pids_current >= (uint64_t)r[0] + 1);

	if (cgroup_kill(cg, &err) < 0)
		fail_msg("%s", err.msg);
	reap_all();
	assert_int_equal(cgroup_stats(cg, &st), 0);
	assert_int_equal(st.pids_current, 0);
	child_close(&c);
	if (cgroup_destroy(cg, &err) < 0)
		fail_msg("%s", err.msg);
	assert_false(real_dir_exists(f, "t"));
}

static void body_memory_hog(int out)
{
	(void)out;
	for (int i = 0; i < 512; i++) {
		char *p = malloc(MiB);
		if (!p)
			_exit(93);
		memset(p, i + 1, MiB);
	}
	_exit(94); /* 512 MiB under a 32 MiB limit: must not get here */
}

static void test_real_oom(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};
	struct ward_limits l = limits(32 * MiB, 20, 0);
	struct cgroup_stats st;
	int st_;

	REAL_OR_SKIP(f);
	struct cgroup *cg = cgroup_create("t", "hog", &l, &err);
	if (!cg)
		fail_msg("%s", err.msg);
	struct child c = child_start(cg, body_memory_hog);
	child_go(&c);
	assert_int_equal(waitpid(c.pid, &st_, 0), c.pid);
	assert_true(WIFSIGNALED(st_));
	assert_int_equal(WTERMSIG(st_), SIGKILL);
	assert_int_equal(cgroup_stats(cg, &st), 0);
	assert_true(st.oom_kills >= 1);
	assert_true(st.memory_peak > 16 * MiB);
	assert_true(st.memory_peak <= 32 * MiB);
	child_close(&c);
	if (cgroup_destroy(cg, &err) < 0)
		fail_msg("%s", err.msg);
}

static void body_busy(int out)
{
	(void)out;
	for (volatile unsigned long i = 0;; i++)
		;
}

static void test_real_cpu_quota(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};
	struct ward_limits l = limits(WARD_UNSET, WARD_UNSET, 0.1);
	struct cgroup_stats st;
	struct timespec t = {0, 800 * 1000 * 1000};

	REAL_OR_SKIP(f);
	struct cgroup *cg = cgroup_create("t", "busy", &l, &err);
	if (!cg)
		fail_msg("%s", err.msg);
	struct child c = child_start(cg, body_busy);
	child_go(&c);
	nanosleep(&t, NULL);
	assert_int_equal(cgroup_stats(cg, &st), 0);
	print_message("busy loop at cpu 0.1: %llu us of cpu in 800 ms\n",
		      (unsigned long long)st.cpu_usec);
	/* 0.1 core for 0.8 s is 80 ms (one period of slack either way). */
	assert_true(st.cpu_usec >= 30000);
	assert_true(st.cpu_usec <= 130000);
	child_close(&c);
	/* destroy kills what is still in there */
	if (cgroup_destroy(cg, &err) < 0)
		fail_msg("%s", err.msg);
	reap_all();
	assert_false(real_dir_exists(f, "t"));
}

static void test_real_cleanup_stale(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};
	int st_;

	REAL_OR_SKIP(f);
	struct cgroup *a = cgroup_create("t1", "a", &NO_LIMITS, &err);
	struct cgroup *b = cgroup_create("t2", "b", &NO_LIMITS, &err);
	assert_non_null(a);
	assert_non_null(b);
	struct child c = child_start(a, body_sleep);
	child_go(&c);

	/* What a wardd that died would leave: cgroups with processes. */
	if (cgroup_cleanup_stale(&err) < 0)
		fail_msg("%s", err.msg);
	assert_int_equal(waitpid(c.pid, &st_, 0), c.pid);
	assert_true(WIFSIGNALED(st_) && WTERMSIG(st_) == SIGKILL);
	assert_false(real_dir_exists(f, "t1"));
	assert_false(real_dir_exists(f, "t2"));
	assert_true(real_dir_exists(f, ""));
	child_close(&c);
	assert_int_equal(cgroup_destroy(a, &err), 0);
	assert_int_equal(cgroup_destroy(b, &err), 0);
}

/* A launcher killed while its sandbox ran: the lock goes with it, the
 * processes may not. The next claim of the cgroup empties it. */
static void test_real_claim_empties_a_killed_launchers(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};
	int st_;

	REAL_OR_SKIP(f);
	if (cgroup_setup("/sys/fs/cgroup", f->parent, CGROUP_SHARED_PARENT, &err) < 0)
		fail_msg("%s", err.msg);
	/* The launcher claims the cgroup, starts its sandbox in it and dies;
	 * the sandbox comes back to us (the subreaper). */
	struct child c;
	int res[2];
	assert_int_equal(pipe2(res, O_CLOEXEC), 0);
	pid_t launcher = fork();
	assert_true(launcher >= 0);
	if (launcher == 0) {
		struct cgroup *cg = cgroup_claim("t1", "svc.run", &NO_LIMITS, &err);
		if (!cg || child_spawn(cg, body_sleep, false, &c) < 0)
			_exit(1);
		if (write(c.go, "g", 1) != 1)
			_exit(3);
		_exit(write(res[1], &c.pid, sizeof(c.pid)) == sizeof(c.pid) ? 0 : 2);
	}
	close(res[1]);
	assert_int_equal(waitpid(launcher, &st_, 0), launcher);
	assert_true(WIFEXITED(st_) && WEXITSTATUS(st_) == 0);
	assert_int_equal(read(res[0], &c.pid, sizeof(c.pid)), sizeof(c.pid));
	close(res[0]);
	char rel[128];
	snprintf(rel, sizeof(rel), "%s/t1/svc.run", f->parent);
	assert_true(proc_in_cgroup(c.pid, rel, "pids"));

	struct cgroup *cg = cgroup_claim("t1", "svc.run", &NO_LIMITS, &err);
	if (!cg)
		fail_msg("%s", err.msg);
	pid_t w = 0;
	for (int i = 0; i < 2000 && w == 0; i++) { /* bounded: a miss must fail, not hang */
		w = waitpid(c.pid, &st_, WNOHANG);
		if (w == 0)
			nanosleep(&(struct timespec){0, 1000 * 1000}, NULL);
	}
	assert_int_equal(w, c.pid);
	assert_true(WIFSIGNALED(st_) && WTERMSIG(st_) == SIGKILL);
	assert_true(real_dir_exists(f, "t1/svc.run")); /* the same one, reused */
	assert_false(real_dir_exists(f, "t1/svc.run-2"));
	assert_int_equal(cgroup_destroy(cg, &err), 0);
	assert_true(real_dir_exists(f, "t1/svc.run")); /* kept for the next */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_v2_limits, setup_tmp, teardown_tmp),
	    cmocka_unit_test_setup_teardown(test_v2_unset_and_cpu, setup_tmp, teardown_tmp),
	    cmocka_unit_test_setup_teardown(test_v2_missing_controller, setup_tmp, teardown_tmp),
	    cmocka_unit_test_setup_teardown(test_v2_stats, setup_tmp, teardown_tmp),
	    cmocka_unit_test_setup_teardown(test_v1_limits, setup_tmp, teardown_tmp),
	    cmocka_unit_test_setup_teardown(test_v1_join_fds, setup_tmp, teardown_tmp),
	    cmocka_unit_test_setup_teardown(test_v1_unset, setup_tmp, teardown_tmp),
	    cmocka_unit_test_setup_teardown(test_v1_no_memsw_combined_cpu, setup_tmp, teardown_tmp),
	    cmocka_unit_test_setup_teardown(test_v1_tenant_cap, setup_tmp, teardown_tmp),
	    cmocka_unit_test_setup_teardown(test_v2_tenant_cap, setup_tmp, teardown_tmp),
	    cmocka_unit_test_setup_teardown(test_reuse_leftover, setup_tmp, teardown_tmp),
	    cmocka_unit_test_setup_teardown(test_names, setup_tmp, teardown_tmp),
	    cmocka_unit_test_setup_teardown(test_write_errors, setup_tmp, teardown_tmp),
	    cmocka_unit_test_setup_teardown(test_cleanup_stale, setup_tmp, teardown_tmp),
	    cmocka_unit_test_setup_teardown(test_shared_parent_keeps_tenant_dirs, setup_tmp,
					    teardown_tmp),
	    cmocka_unit_test_setup_teardown(test_owned_parent_removes_tenant_dirs, setup_tmp,
					    teardown_tmp),
	    cmocka_unit_test_setup_teardown(test_claim_reuses_and_holds, setup_tmp, teardown_tmp),
	    cmocka_unit_test_setup_teardown(test_claim_v2_clones_into_the_held_cgroup, setup_tmp,
					    teardown_tmp),
	    cmocka_unit_test_setup_teardown(test_real_stats_kill, setup_real, teardown_real),
	    cmocka_unit_test_setup_teardown(test_real_join_self, setup_real, teardown_real),
	    cmocka_unit_test_setup_teardown(test_real_fork_bomb, setup_real, teardown_real),
	    cmocka_unit_test_setup_teardown(test_real_oom, setup_real, teardown_real),
	    cmocka_unit_test_setup_teardown(test_real_cpu_quota, setup_real, teardown_real),
	    cmocka_unit_test_setup_teardown(test_real_cleanup_stale, setup_real, teardown_real),
	    cmocka_unit_test_setup_teardown(test_real_claim_empties_a_killed_launchers, setup_real,
					    teardown_real),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
