/* cgroup v2: one unified hierarchy. */
#include "sandbox/cgroup.h"
#include "basic/loop.h"
#include "sandbox/cgroup-internal.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* ---- v2: one unified hierarchy ---- */

static int v2_detect(const char *root, struct ward_err *err)
{
	static const char *const need[] = {"memory", "pids", "cpu"};
	char buf[1024];
	struct hierarchy *h = &cgroup_ctx.h[0];

	if (snprintf(h->path, sizeof(h->path), "%s", root) >= (int)sizeof(h->path))
		return ward_err_set(err, ENAMETOOLONG, "%s", root);
	h->roles = ROLE_ALL;
	cgroup_ctx.n_h = 1;
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
	return cgroup_ctx.ops->enable("", err);
}

static int v2_enable(const char *rel, struct ward_err *err)
{
	return cg_write(&cgroup_ctx.h[0], rel, "cgroup.subtree_control", "+memory +pids +cpu", err);
}

static int v2_limits(const char *rel, const struct ward_limits *l, struct ward_err *err)
{
	const struct hierarchy *h = &cgroup_ctx.h[0];
	char v[64];
	uint64_t quota = 0;

	if (cg_cpu_quota(l->cpu, &quota, err) < 0)
		return -1;
	cg_fmt_u64(v, sizeof(v), l->memory, "max");
	if (cg_write(h, rel, "memory.max", v, err) < 0)
		return -1;
	/* No memory.swap.max: the kernel has no swap (accounting), so there
	 * is none to cap. */
	if (cg_exists(h, rel, "memory.swap.max") &&
	    cg_write(h, rel, "memory.swap.max", l->memory == WARD_UNSET ? "max" : "0", err) < 0)
		return -1;
	cg_fmt_u64(v, sizeof(v), l->pids, "max");
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
	int r = cg_read_key(&cgroup_ctx.h[0], rel, "cgroup.events", "populated", &v);

	if (r == 0)
		return v != 0;
	if (r < 0 && errno != ENOENT)
		return -1;
	long n = cg_procs_signal(&cgroup_ctx.h[0], rel, 0);
	return n < 0 ? -1 : n > 0;
}

static int v2_kill(const char *rel, struct ward_err *err)
{
	uint64_t deadline = loop_now_ms() + KILL_WAIT_MS;
	bool has_kill = cg_exists(&cgroup_ctx.h[0], rel, "cgroup.kill");
	char path[PATH_MAX];

	if (cg_path(path, sizeof(path), &cgroup_ctx.h[0], rel, NULL) < 0)
		return ward_err_set(err, errno, "%s/%s", cgroup_ctx.h[0].path, rel);
	/* cgroup.kill (5.14+) takes the whole subtree at once, forks in flight
	 * included; before it, kill what is listed until nothing is. */
	if (has_kill && cg_write(&cgroup_ctx.h[0], rel, "cgroup.kill", "1", err) < 0)
		return -1;
	for (;;) {
		if (!has_kill && cg_procs_signal(&cgroup_ctx.h[0], rel, SIGKILL) < 0 &&
		    errno != ENOENT)
			return ward_err_set(err, errno, "kill %s", path);
		int p = v2_populated(rel);
		if (p < 0)
			return ward_err_set(err, errno, "%s", path);
		if (p == 0)
			return 0;
		if (loop_now_ms() >= deadline)
			return ward_err_set(err, EBUSY, "%s: still populated %d ms after the kill",
					    path, KILL_WAIT_MS);
		cg_sleep_ms(POLL_SLEEP_MS);
	}
}

static int v2_stats(struct cgroup *cg, struct cgroup_stats *st)
{
	const struct hierarchy *h = &cgroup_ctx.h[0];
	int r = 0;

	if (cg_stat_u64(cg, STAT_MEM, h, "memory.current", &st->memory_current) < 0)
		r = -1;
	if (cg_stat_u64(cg, STAT_MEM_PEAK, h, "memory.peak", &st->memory_peak) < 0)
		st->memory_peak = 0; /* before 5.19 */
	if (cg_stat_u64(cg, STAT_PIDS, h, "pids.current", &st->pids_current) < 0)
		r = -1;
	if (cg_stat_key(cg, STAT_CPU, h, "cpu.stat", "usage_usec", &st->cpu_usec) != 0)
		r = -1;
	if (cg_stat_key(cg, STAT_OOM, h, "memory.events", "oom_kill", &st->oom_kills) != 0)
		st->oom_kills = 0;
	return r;
}

const struct cgroup_ops cgroup_v2_ops = {
    .name = "v2",
    .detect = v2_detect,
    .enable = v2_enable,
    .limits = v2_limits,
    .kill = v2_kill,
    .stats = v2_stats,
    .clone_into = true,
    /* Without CLONE_INTO_CGROUP, only cgroup.procs: the whole process,
     * and the global lock, but still off the launcher's loop. */
    .join_file = "cgroup.procs",
    .fs_magic = CGROUP2_SUPER_MAGIC,
};
