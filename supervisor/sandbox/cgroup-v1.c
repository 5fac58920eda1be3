/* cgroup v1: one hierarchy per controller (memory, pids, cpu, cpuacct,
 * freezer), as on hybrid hosts. */
#include "sandbox/cgroup.h"
#include "basic/cleanup.h"
#include "basic/loop.h"
#include "sandbox/cgroup-internal.h"

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
#include <sys/stat.h>
#include <sys/statfs.h>

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
	_cleanup_closedir_ DIR *d = opendir(root);
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
			return n < 0 || (size_t)n >= len ? -1 : 0;
		}
	}
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

	cgroup_ctx.n_h = 0;
	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		char path[PATH_MAX];
		struct stat st;
		struct statfs sfs;
		size_t j;

		if (v1_find(root, need[i].name, path, sizeof(path)) < 0 || stat(path, &st) < 0)
			return ward_err_set(err, errno, "%s: no %s hierarchy", root, need[i].name);
		if (!cgroup_ctx.fake) {
			if (statfs(path, &sfs) < 0)
				return ward_err_set(err, errno, "statfs %s", path);
			if (sfs.f_type != CGROUP_SUPER_MAGIC)
				return ward_err_set(err, 0, "%s: not a cgroup v1 mount", path);
		}
		/* cpu and cpuacct may be one hierarchy under two names. */
		for (j = 0; j < cgroup_ctx.n_h; j++)
			if (seen[j].st_dev == st.st_dev && seen[j].st_ino == st.st_ino)
				break;
		if (j == cgroup_ctx.n_h) {
			seen[j] = st;
			memcpy(cgroup_ctx.h[j].path, path, sizeof(path));
			cgroup_ctx.h[j].roles = 0;
			cgroup_ctx.n_h++;
		}
		cgroup_ctx.h[j].roles |= need[i].role;
	}
	return 0;
}

/* Old kernels let a memory cgroup opt out of its parent's limit; the tenant
 * cap only holds if use_hierarchy is on. */
static int v1_enable(const char *rel, struct ward_err *err)
{
	const struct hierarchy *mem = cg_hier_for(ROLE_MEMORY);
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
	const struct hierarchy *mem = cg_hier_for(ROLE_MEMORY);
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

	if (cg_read(cg_hier_for(ROLE_CPU), rel, "cpu.cfs_quota_us", buf, sizeof(buf)) < 0)
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
	const struct hierarchy *cpu = cg_hier_for(ROLE_CPU);
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
	const struct hierarchy *cpu = cg_hier_for(ROLE_CPU);
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

	if (cg_cpu_quota(l->cpu, &quota, err) < 0)
		return -1;
	/* Unset writes the unlimited value, so a reused or updated cgroup
	 * loses a limit the policy no longer has. */
	cg_fmt_u64(v, sizeof(v), l->memory, "-1");
	if (v1_memory(rel, v, err) < 0)
		return -1;
	cg_fmt_u64(v, sizeof(v), l->pids, "max");
	if (cg_write(cg_hier_for(ROLE_PIDS), rel, "pids.max", v, err) < 0)
		return -1;
	return v1_cpu(rel, quota, err);
}

/* FROZEN once every task stopped; FREEZING while some have not (yet). */
static bool v1_freeze(const struct hierarchy *fz, const char *rel)
{
	uint64_t deadline = loop_now_ms() + FREEZE_WAIT_MS;
	char buf[32];

	if (cg_write(fz, rel, "freezer.state", "FROZEN", NULL) < 0)
		return false;
	for (;;) {
		if (cg_read(fz, rel, "freezer.state", buf, sizeof(buf)) == 0 &&
		    strncmp(buf, "FROZEN", 6) == 0)
			return true;
		if (loop_now_ms() >= deadline)
			return true; /* still thaw it; kill what stopped */
		cg_sleep_ms(1);
	}
}

/* Freeze so nothing forks between reading cgroup.procs and the kills, kill
 * every listed pid (a frozen task cannot exit, so its pid cannot be reused
 * in between), thaw so the kills take effect; again until it is empty.
 * Plain kill(2) as crun does: only a task already dying when listed could
 * exit in between, and a pid is reused only after pid_max others. */
static int v1_kill(const char *rel, struct ward_err *err)
{
	const struct hierarchy *fz = cg_hier_for(ROLE_FREEZER);
	uint64_t deadline = loop_now_ms() + KILL_WAIT_MS;
	char path[PATH_MAX];

	if (cg_path(path, sizeof(path), fz, rel, NULL) < 0)
		return ward_err_set(err, errno, "%s/%s", fz->path, rel);
	for (;;) {
		bool frozen = cg_exists(fz, rel, "freezer.state") && v1_freeze(fz, rel);
		long n = cg_procs_signal_all(rel, SIGKILL);
		int saved = errno;
		if (frozen && cg_write(fz, rel, "freezer.state", "THAWED", err) < 0)
			return -1;
		if (n < 0)
			return ward_err_set(err, saved, "kill %s", rel);
		if (n == 0)
			return 0;
		if (loop_now_ms() >= deadline)
			return ward_err_set(err, EBUSY,
					    "%s: %ld processes left %d ms after the kill", rel, n,
					    KILL_WAIT_MS);
		cg_sleep_ms(POLL_SLEEP_MS);
	}
}

static int v1_stats(struct cgroup *cg, struct cgroup_stats *st)
{
	const struct hierarchy *mem = cg_hier_for(ROLE_MEMORY);
	uint64_t ns;
	int r = 0;

	if (cg_stat_u64(cg, STAT_MEM, mem, "memory.usage_in_bytes", &st->memory_current) < 0)
		r = -1;
	if (cg_stat_u64(cg, STAT_MEM_PEAK, mem, "memory.max_usage_in_bytes", &st->memory_peak) < 0)
		r = -1;
	if (cg_stat_u64(cg, STAT_PIDS, cg_hier_for(ROLE_PIDS), "pids.current", &st->pids_current) <
	    0)
		r = -1;
	if (cg_stat_u64(cg, STAT_CPU, cg_hier_for(ROLE_CPUACCT), "cpuacct.usage", &ns) < 0)
		r = -1;
	else
		st->cpu_usec = ns / 1000;
	/* The oom_kill line came with 4.13. */
	if (cg_stat_key(cg, STAT_OOM, mem, "memory.oom_control", "oom_kill", &st->oom_kills) != 0)
		st->oom_kills = 0;
	return r;
}

const struct cgroup_ops cgroup_v1_ops = {
    .name = "v1",
    .detect = v1_detect,
    .enable = v1_enable,
    .limits = v1_limits,
    .kill = v1_kill,
    .stats = v1_stats,
    .clone_into = false,
    .join_file = "tasks",
    .fs_magic = TMPFS_MAGIC, /* v1 hierarchies, each mounted under a tmpfs */
};
