/* Resource limits and accounting through cgroups. The backend (v2 unified,
 * or v1 hierarchies memory/pids/cpu/cpuacct/freezer as on hybrid hosts) is
 * picked once by cgroup_setup() from statfs on the cgroup mount; nothing
 * outside the cgroup module (sandbox/cgroup*.c) knows which it got. Layout: PARENT/TENANT/SERVICE
 * under the root of every hierarchy used (PARENT is "ward" unless configured). */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "basic/error.h"
#include "model/profile.h"

struct cgroup;

struct cgroup_stats {
	uint64_t memory_current; /* bytes */
	uint64_t memory_peak;    /* bytes */
	uint64_t pids_current;
	uint64_t cpu_usec;  /* CPU time used */
	uint64_t oom_kills; /* processes the OOM killer took in this cgroup */
};

/* cgroup_setup flags. CGROUP_SHARED_PARENT: PARENT is shared by launchers
 * that run at the same time and know nothing of each other (`wardd run`):
 * PARENT and PARENT/TENANT are made when missing and never removed, so one
 * launcher never removes a directory another is about to make its cgroup
 * in; the launchers' own cgroups are claimed (cgroup_claim) and reused.
 * Without it, PARENT belongs to one wardd: a tenant directory goes with its
 * last service, PARENT at cgroup_teardown(). */
enum { CGROUP_SHARED_PARENT = 1u << 0 };

/* root: the cgroup mount ("/sys/fs/cgroup"; the tests' fake trees go
 * through cgroup_setup_ops() of cgroup-internal.h). parent: the directory
 * ward uses under each hierarchy's root. */
int cgroup_setup(const char *root, const char *parent, unsigned flags, struct ward_err *err);
const char *cgroup_backend_name(void); /* "v2", "v1", or "none" before setup */

/* PARENT/TENANT with the tenant-wide cap (fields WARD_UNSET / 0 = none),
 * creating it if needed, updating it if it exists. */
int cgroup_tenant_apply(const char *tenant, const struct ward_limits *cap, struct ward_err *err);

/* PARENT/TENANT/NAME with the service's limits (memory also caps swap:
 * memory.swap.max 0 / memsw = memory; pids; cpu as quota per 100 ms
 * period). A leftover cgroup of that name is emptied and reused. */
struct cgroup *cgroup_create(const char *tenant, const char *name, const struct ward_limits *l,
			     struct ward_err *err);
/* For a launcher in a shared PARENT (`wardd run`): PARENT/TENANT/BASE, or
 * BASE-2, BASE-3, ... when other launchers hold those, made if missing and
 * kept from launch to launch (on v1 a cgroup mkdir and rmdir cost ~0.1 ms
 * per hierarchy). Held with flock() on its directory until cgroup_destroy()
 * or the launcher's death; emptied if a killed launcher left processes in
 * it; this launch's limits written. */
struct cgroup *cgroup_claim(const char *tenant, const char *base, const struct ward_limits *l,
			    struct ward_err *err);
/* Whether a sandbox is born in its cgroup (clone3 with CLONE_INTO_CGROUP,
 * cgroup_clone_fd()) rather than joining it after its start
 * (cgroup_join_fds()): what launch.c asks to know when a launch needs its
 * cgroup. */
bool cgroup_clone_into(void);
/* v2: an O_DIRECTORY fd for clone3(CLONE_INTO_CGROUP); -1 on v1. */
int cgroup_clone_fd(const struct cgroup *cg);
/* A child that cannot be cloned into the cgroup (cgroup_clone_fd() is -1:
 * v1) moves itself in: the launcher opens the cgroup's files (O_CLOEXEC)
 * into fds and hands them to the child, which calls cgroup_join_self()
 * before it runs anything of the tenant's. Returns how many fds (0: clone
 * into cgroup_clone_fd() instead), or -1. */
#define CGROUP_JOIN_MAX 5
int cgroup_join_fds(const struct cgroup *cg, int fds[CGROUP_JOIN_MAX], struct ward_err *err);
/* In the child: moves the calling thread (v1; on v2 its process) into the
 * cgroup through each fd, and closes them all. Async-signal-safe. 0 or
 * -errno. */
int cgroup_join_self(int *fds, int n);
/* Kills every process in the cgroup: cgroup.kill on v2; on v1 freeze,
 * SIGKILL every pid of cgroup.procs, thaw. Nothing escapes by forking. */
int cgroup_kill(struct cgroup *cg, struct ward_err *err);
/* Reads the cgroup's accounting; its files stay open from the first call on
 * (see stat_read in cgroup-fs.c), closed by cgroup_destroy(). */
int cgroup_stats(struct cgroup *cg, struct cgroup_stats *st);
/* Removes the (empty) cgroup from every hierarchy and frees cg. A cgroup
 * that still has processes is killed first. Its tenant directory goes too
 * if that left it empty, unless PARENT is shared. A claimed cgroup is only
 * released (it stays, for the next launch). */
int cgroup_destroy(struct cgroup *cg, struct ward_err *err);

/* Removes everything under PARENT (killing what runs there, deepest first):
 * what a wardd that died left behind. */
int cgroup_cleanup_stale(struct ward_err *err);
/* Removes PARENT/TENANT/NAME wherever dead(TENANT, NAME) is true, looking
 * only at the given tenant's directory, or at every tenant's when tenant is
 * NULL; and the tenant directories that leaves empty, unless PARENT is
 * shared. `wardd run` uses it for the cgroups of its tenant's earlier runs
 * that were killed before they could clean up; offboarding for all of a
 * tenant's. */
int cgroup_cleanup_where(const char *tenant,
			 bool (*dead)(const char *tenant, const char *name, void *ud), void *ud,
			 struct ward_err *err);
/* Removes PARENT itself if it is empty (at exit); nothing if it is shared. */
void cgroup_teardown(void);
