/* Inside the cgroup module (sandbox/cgroup*.c): the state cgroup_setup()
 * sets, the backends' table of operations, and the file helpers they share.
 * Nothing outside the module includes this, but for the tests' fake tree
 * (tests/unit/cgroup_fake.c). */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "basic/error.h"
#include "sandbox/cgroup.h"

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

/* One backend (cgroup-v2.c, cgroup-v1.c): every place where v1 and v2 differ
 * goes through this table, picked once by cgroup_setup(). */
struct cgroup_ops {
	const char *name;
	int (*detect)(const char *root, struct ward_err *err);
	/* Makes rel's limits govern its children (v2: subtree_control). */
	int (*enable)(const char *rel, struct ward_err *err);
	int (*limits)(const char *rel, const struct ward_limits *l, struct ward_err *err);
	int (*kill)(const char *rel, struct ward_err *err);
	int (*stats)(struct cgroup *cg, struct cgroup_stats *st);
	bool clone_into; /* CLONE_INTO_CGROUP works */
	/* The file a thread (v1) or a process (v2) joins a cgroup by. */
	const char *join_file;
	/* statfs f_type of the cgroup mount ("/sys/fs/cgroup") it runs on. */
	long fs_magic;
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

struct cgroup_ctx {
	const struct cgroup_ops *ops;
	/* A fake tree (tests): what it does where the kernel's cgroupfs acts
	 * by itself (struct cgroup_fake_fs below, tests/unit/cgroup_fake.c).
	 * NULL on the kernel's cgroupfs. */
	const struct cgroup_fake_fs *fake;
	bool shared; /* CGROUP_SHARED_PARENT */
	char parent[NAME_MAX_LEN + 1];
	struct hierarchy h[CGROUP_JOIN_MAX]; /* one per role at most */
	size_t n_h;
	struct tenant_cap *caps;
	size_t n_caps;
};

/* What cgroup_setup() set: cgroup.c defines it. */
extern struct cgroup_ctx cgroup_ctx;

/* The backends (cgroup-v2.c, cgroup-v1.c). */
extern const struct cgroup_ops cgroup_v2_ops;
extern const struct cgroup_ops cgroup_v1_ops;

/* What a fake tree (tests) does where the kernel's cgroupfs acts by
 * itself; every other path is the same as on cgroupfs. */
struct cgroup_fake_fs {
	/* After the mkdir of path in the hierarchy at root: cgroupfs fills
	 * the new directory with its interface files. 0 or -1 with err. */
	int (*made)(const char *root, const char *path, struct ward_err *err);
	/* Before the rmdir of path: cgroupfs removes the interface files with
	 * it, and refuses (EBUSY) while there are child cgroups. 0, or -1
	 * with errno: no rmdir. */
	int (*removing)(const char *path);
};

/* cgroup_setup() with the backend given (NULL: the one of root's mount,
 * from statfs) and, for a fake tree, what it does by itself (NULL: the
 * kernel's cgroupfs). */
int cgroup_setup_ops(const char *root, const char *parent, unsigned flags,
		     const struct cgroup_ops *ops, const struct cgroup_fake_fs *fake,
		     struct ward_err *err);

/* cgroup-fs.c */
bool cg_name_valid(const char *s);
int cg_path(char *buf, size_t len, const struct hierarchy *h, const char *rel, const char *file);
const struct hierarchy *cg_hier_for(unsigned role);
void cg_sleep_ms(long ms);
int cg_write(const struct hierarchy *h, const char *rel, const char *file, const char *value,
	     struct ward_err *err);
bool cg_exists(const struct hierarchy *h, const char *rel, const char *file);
int cg_read(const struct hierarchy *h, const char *rel, const char *file, char *buf, size_t len);
int cg_read_key(const struct hierarchy *h, const char *rel, const char *file, const char *key,
		uint64_t *out);
int cg_stat_u64(struct cgroup *cg, enum stat_file which, const struct hierarchy *h,
		const char *file, uint64_t *out);
int cg_stat_key(struct cgroup *cg, enum stat_file which, const struct hierarchy *h,
		const char *file, const char *key, uint64_t *out);
long cg_procs_signal(const struct hierarchy *h, const char *rel, int signo);
long cg_procs_signal_all(const char *rel, int signo);
int cg_mkdir(const struct hierarchy *h, const char *rel, struct ward_err *err);
int cg_rmdir(const struct hierarchy *h, const char *rel);
int cg_cpu_quota(double cpu, uint64_t *quota, struct ward_err *err);
void cg_fmt_u64(char *buf, size_t len, uint64_t v, const char *unset);
