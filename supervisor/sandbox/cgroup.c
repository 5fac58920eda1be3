/* Resource limits and accounting through cgroups: the API (cgroup.h), over
 * the backend cgroup_setup() picks: cgroup-v2.c or cgroup-v1.c, each a table
 * of operations (struct cgroup_ops), on the files of cgroup-fs.c. */
#include "sandbox/cgroup.h"
#include "sandbox/cgroup-internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

/* ---- the API ---- */

struct cgroup_ctx cgroup_ctx;

static void caps_reset(void)
{
	free(cgroup_ctx.caps);
	cgroup_ctx.caps = NULL;
	cgroup_ctx.n_caps = 0;
}

int cgroup_setup_ops(const char *root, const char *parent, unsigned flags,
		     const struct cgroup_ops *ops, const struct cgroup_fake_fs *fake,
		     struct ward_err *err)
{
	struct ward_err scratch = {0};
	err = err ? err : &scratch; /* the backends read err->errnum: never NULL */
	struct statfs sfs;

	caps_reset();
	cgroup_ctx.ops = NULL;
	cgroup_ctx.n_h = 0;
	cgroup_ctx.fake = fake;
	cgroup_ctx.shared = flags & CGROUP_SHARED_PARENT;
	if (!root || !cg_name_valid(parent))
		return ward_err_set(err, EINVAL, "cgroup parent \"%s\": not one directory name",
				    parent ? parent : "");
	memcpy(cgroup_ctx.parent, parent, strlen(parent) + 1);

	/* The backend is the one whose mount this is (a fake tree names its
	 * own: statfs would say tmpfs). */
	if (!ops) {
		static const struct cgroup_ops *const backends[] = {&cgroup_v2_ops, &cgroup_v1_ops};

		if (statfs(root, &sfs) < 0)
			return ward_err_set(err, errno, "statfs %s", root);
		for (size_t i = 0; !ops && i < sizeof(backends) / sizeof(backends[0]); i++)
			if (sfs.f_type == backends[i]->fs_magic)
				ops = backends[i];
		if (!ops)
			return ward_err_set(
			    err, 0, "%s: neither cgroup2 nor a tmpfs of v1 hierarchies", root);
	}

	cgroup_ctx.ops = ops;
	if (ops->detect(root, err) < 0)
		goto fail;
	for (size_t i = 0; i < cgroup_ctx.n_h; i++)
		if (cg_mkdir(&cgroup_ctx.h[i], cgroup_ctx.parent, err) < 0)
			goto fail;
	if (ops->enable(cgroup_ctx.parent, err) < 0)
		goto fail;
	return 0;
fail:
	cgroup_ctx.ops = NULL;
	cgroup_ctx.n_h = 0;
	return ward_err_wrap(err, "cgroup %s setup", ops->name);
}

int cgroup_setup(const char *root, const char *parent, unsigned flags, struct ward_err *err)
{
	return cgroup_setup_ops(root, parent, flags, NULL, NULL, err);
}

const char *cgroup_backend_name(void)
{
	return cgroup_ctx.ops ? cgroup_ctx.ops->name : "none";
}

static int rel_join(char *buf, size_t len, const char *tenant, const char *name)
{
	int n = name ? snprintf(buf, len, "%s/%s/%s", cgroup_ctx.parent, tenant, name)
		     : snprintf(buf, len, "%s/%s", cgroup_ctx.parent, tenant);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

static struct tenant_cap *cap_find(const char *tenant)
{
	for (size_t i = 0; i < cgroup_ctx.n_caps; i++)
		if (strcmp(cgroup_ctx.caps[i].name, tenant) == 0)
			return &cgroup_ctx.caps[i];
	return NULL;
}

/* PARENT/TENANT in every hierarchy, its remembered cap on it if it was made
 * just now, and its controllers handed down to the services. */
static int tenant_ensure(const char *trel, const char *tenant, struct ward_err *err)
{
	bool made = false;

	for (size_t i = 0; i < cgroup_ctx.n_h; i++) {
		int r = cg_mkdir(&cgroup_ctx.h[i], trel, err);
		if (r < 0)
			return -1;
		made = made || r > 0;
	}
	const struct tenant_cap *c = cap_find(tenant);
	if (made && c && cgroup_ctx.ops->limits(trel, &c->cap, err) < 0)
		return -1;
	return cgroup_ctx.ops->enable(trel, err);
}

int cgroup_tenant_apply(const char *tenant, const struct ward_limits *cap, struct ward_err *err)
{
	struct ward_err scratch = {0};
	err = err ? err : &scratch;
	char trel[PATH_MAX];

	if (!cgroup_ctx.ops)
		return ward_err_set(err, EINVAL, "cgroup: not set up");
	if (!cg_name_valid(tenant) || rel_join(trel, sizeof(trel), tenant, NULL) < 0)
		return ward_err_set(err, EINVAL, "cgroup: tenant name \"%s\"",
				    tenant ? tenant : "");

	struct tenant_cap *c = cap_find(tenant);
	if (!c) {
		struct tenant_cap *v =
		    realloc(cgroup_ctx.caps, (cgroup_ctx.n_caps + 1) * sizeof(*v));
		if (!v)
			return ward_err_set(err, ENOMEM, "cgroup %s", trel);
		cgroup_ctx.caps = v;
		c = &cgroup_ctx.caps[cgroup_ctx.n_caps++];
		memcpy(c->name, tenant, strlen(tenant) + 1);
	}
	c->cap = *cap;
	if (tenant_ensure(trel, tenant, err) < 0 || cgroup_ctx.ops->limits(trel, cap, err) < 0)
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
	for (size_t i = cgroup_ctx.n_h; i-- > 0;)
		cg_rmdir(&cgroup_ctx.h[i], rel);
}

struct cgroup *cgroup_create(const char *tenant, const char *name, const struct ward_limits *l,
			     struct ward_err *err)
{
	struct ward_err scratch = {0};
	err = err ? err : &scratch;
	char rel[PATH_MAX], trel[PATH_MAX];
	bool leftover = false;

	if (!cgroup_ctx.ops)
		return ward_err_set(err, EINVAL, "cgroup: not set up"), NULL;
	if (!cg_name_valid(tenant) || !cg_name_valid(name) ||
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
	for (size_t i = 0; i < cgroup_ctx.n_h; i++) {
		int r = cg_mkdir(&cgroup_ctx.h[i], rel, err);
		if (r < 0)
			goto fail_rm;
		leftover = leftover || r == 0;
	}
	/* Whatever a previous run left in there is not the service we start. */
	if (leftover && cgroup_ctx.ops->kill(rel, err) < 0)
		goto fail_rm;
	if (cgroup_ctx.ops->limits(rel, l, err) < 0)
		goto fail_rm;
	if (cgroup_ctx.ops->clone_into) {
		char path[PATH_MAX];
		if (cg_path(path, sizeof(path), &cgroup_ctx.h[0], rel, NULL) < 0) {
			ward_err_set(err, errno, "%s/%s", cgroup_ctx.h[0].path, rel);
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

	for (size_t i = 0; i < cgroup_ctx.n_h; i++)
		if (cg_mkdir(&cgroup_ctx.h[i], cg->rel, err) < 0)
			return -1;
	if (cg_path(path, sizeof(path), &cgroup_ctx.h[0], cg->rel, NULL) < 0)
		return ward_err_set(err, errno, "%s/%s", cgroup_ctx.h[0].path, cg->rel);
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

/* Claims the first of TENANT/BASE, TENANT/BASE-2, ... up to CLAIM_MAX
 * that no other launcher holds. NULL (err set) if none or on error. */
static struct cgroup *claim_free_name(const char *tenant, const char *base, const char *trel,
				      struct ward_err *err)
{
	char name[NAME_MAX_LEN + 1], rel[PATH_MAX];
	struct cgroup *cg = NULL;
	int r = 0;

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
	return cg;
}

struct cgroup *cgroup_claim(const char *tenant, const char *base, const struct ward_limits *l,
			    struct ward_err *err)
{
	struct ward_err scratch = {0};
	err = err ? err : &scratch;
	char trel[PATH_MAX];
	struct cgroup *cg;

	if (!cgroup_ctx.ops || !cgroup_ctx.shared)
		return ward_err_set(err, EINVAL, "cgroup claim: no shared parent set up"), NULL;
	if (!cg_name_valid(tenant) || !cg_name_valid(base) ||
	    rel_join(trel, sizeof(trel), tenant, NULL) < 0)
		return ward_err_set(err, EINVAL, "cgroup: name \"%s/%s\"", tenant ? tenant : "",
				    base ? base : ""),
		       NULL;
	if (tenant_ensure(trel, tenant, err) < 0)
		return ward_err_wrap(err, "cgroup %s", trel), NULL;
	cg = claim_free_name(tenant, base, trel, err);
	if (!cg)
		return NULL;
	/* Ours now. A run that was killed may have left processes that are
	 * still dying; and the limits are this run's, not the last one's. */
	if ((cg_procs_signal_all(cg->rel, 0) != 0 && cgroup_ctx.ops->kill(cg->rel, err) < 0) ||
	    cgroup_ctx.ops->limits(cg->rel, l, err) < 0)
		goto fail;
	if (cgroup_ctx.ops->clone_into)
		cg->dirfd = cg->lock_fd; /* the first hierarchy is the unified one */
	return cg;
fail:
	ward_err_wrap(err, "cgroup %s", cg->rel);
	cgroup_free(cg);
	return NULL;
}

bool cgroup_clone_into(void)
{
	return cgroup_ctx.ops && cgroup_ctx.ops->clone_into;
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
	const char *file;
	int n = 0;

	if (!cgroup_ctx.ops || !cg)
		return ward_err_set(err, EINVAL, "cgroup join: not set up");
	file = cgroup_ctx.ops->join_file;
	if (cg->dirfd >= 0)
		return 0; /* cloned into it */
	for (size_t i = 0; i < cgroup_ctx.n_h; i++) {
		char path[PATH_MAX];

		if (cg_path(path, sizeof(path), &cgroup_ctx.h[i], cg->rel, file) < 0 ||
		    (fds[n] = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
			ward_err_set(err, errno, "open %s/%s/%s", cgroup_ctx.h[i].path, cg->rel,
				     file);
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
	if (!cgroup_ctx.ops || !cg)
		return ward_err_set(err, EINVAL, "cgroup kill: not set up");
	if (cgroup_ctx.ops->kill(cg->rel, err) < 0)
		return ward_err_wrap(err, "cgroup %s: kill", cg->rel);
	return 0;
}

int cgroup_stats(struct cgroup *cg, struct cgroup_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (!cgroup_ctx.ops || !cg) {
		errno = EINVAL;
		return -1;
	}
	return cgroup_ctx.ops->stats(cg, st);
}

int cgroup_destroy(struct cgroup *cg, struct ward_err *err)
{
	struct ward_err scratch = {0};
	err = err ? err : &scratch;
	int r = 0;

	if (!cg)
		return 0;
	if (!cgroup_ctx.ops) {
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
	bool killed = cgroup_ctx.fake != NULL;
	if (cgroup_ctx.fake && cg_procs_signal_all(cg->rel, 0) != 0 &&
	    cgroup_ctx.ops->kill(cg->rel, err) < 0)
		r = ward_err_wrap(err, "cgroup %s", cg->rel);
	for (size_t i = cgroup_ctx.n_h; i-- > 0;) {
		if (cg_rmdir(&cgroup_ctx.h[i], cg->rel) == 0 || errno == ENOENT)
			continue;
		if (!killed && errno == EBUSY) {
			killed = true;
			if (cgroup_ctx.ops->kill(cg->rel, err) < 0 && r == 0)
				r = ward_err_wrap(err, "cgroup %s", cg->rel);
			if (cg_rmdir(&cgroup_ctx.h[i], cg->rel) == 0 || errno == ENOENT)
				continue;
		}
		if (r == 0) {
			char path[PATH_MAX];
			int e = errno;
			cg_path(path, sizeof(path), &cgroup_ctx.h[i], cg->rel, NULL);
			r = ward_err_set(err, e, "rmdir %s", path);
		}
	}
	/* Only if that left it empty: the tenant's other services may still
	 * be in there. A shared PARENT keeps it: another launcher may be
	 * about to make its cgroup in it. */
	if (!cgroup_ctx.shared)
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
		if (cgroup_ctx.ops->kill(child, &e2) < 0) {
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

	if (!cgroup_ctx.ops)
		return ward_err_set(err, EINVAL, "cgroup cleanup: not set up");
	for (size_t i = 0; i < cgroup_ctx.n_h; i++) {
		struct ward_err e2;
		if (stale_walk(&cgroup_ctx.h[i], cgroup_ctx.parent, 0, &e2) < 0 && r == 0)
			r = -1, *err = e2;
	}
	return r < 0 ? ward_err_wrap(err, "cgroup cleanup of %s", cgroup_ctx.parent) : 0;
}

typedef bool cg_dead_fn(const char *tenant, const char *name, void *ud);

/* Kills and removes the TENANT/NAME cgroups in td (trel's directory in h)
 * for which dead() says so. The first failure goes to *r and err. */
static void cleanup_dead_services(const struct hierarchy *h, const char *trel, const char *tenant,
				  DIR *td, cg_dead_fn *dead, void *ud, struct ward_err *err, int *r)
{
	struct dirent *se;

	while ((se = readdir(td))) {
		char srel[PATH_MAX];
		struct ward_err e2;

		if (se->d_name[0] == '.' || se->d_type != DT_DIR || !dead(tenant, se->d_name, ud) ||
		    snprintf(srel, sizeof(srel), "%s/%s", trel, se->d_name) >= (int)sizeof(srel))
			continue;
		if ((stale_walk(h, srel, 0, &e2) < 0 || cgroup_ctx.ops->kill(srel, &e2) < 0) &&
		    *r == 0)
			*r = -1, *err = e2;
		if (cg_rmdir(h, srel) < 0 && errno != ENOENT && *r == 0)
			*r = ward_err_set(err, errno, "rmdir %s", srel);
	}
}

/* cleanup_dead_services for every tenant (or just tenant) in h, then the
 * tenant directories that end up empty. */
static void cleanup_dead_in(const struct hierarchy *h, const char *tenant, cg_dead_fn *dead,
			    void *ud, struct ward_err *err, int *r)
{
	char path[PATH_MAX];
	struct dirent *te;
	DIR *pd;

	if (cg_path(path, sizeof(path), h, cgroup_ctx.parent, NULL) < 0 || !(pd = opendir(path)))
		return;
	while ((te = readdir(pd))) {
		char trel[PATH_MAX];
		DIR *td;

		if (te->d_name[0] == '.' || te->d_type != DT_DIR ||
		    (tenant && strcmp(te->d_name, tenant) != 0) ||
		    snprintf(trel, sizeof(trel), "%s/%s", cgroup_ctx.parent, te->d_name) >=
			(int)sizeof(trel) ||
		    cg_path(path, sizeof(path), h, trel, NULL) < 0 || !(td = opendir(path)))
			continue;
		cleanup_dead_services(h, trel, te->d_name, td, dead, ud, err, r);
		closedir(td);
		if (!cgroup_ctx.shared)
			(void)cg_rmdir(h, trel); /* only if that left it empty */
	}
	closedir(pd);
}

/* Removes the PARENT/TENANT/NAME cgroups (in every hierarchy) for which
 * dead() says so, and the tenant directories that end up empty. */
int cgroup_cleanup_where(const char *tenant,
			 bool (*dead)(const char *tenant, const char *name, void *ud), void *ud,
			 struct ward_err *err)
{
	int r = 0;

	if (!cgroup_ctx.ops)
		return ward_err_set(err, EINVAL, "cgroup cleanup: not set up");
	for (size_t i = 0; i < cgroup_ctx.n_h; i++)
		cleanup_dead_in(&cgroup_ctx.h[i], tenant, dead, ud, err, &r);
	return r;
}

void cgroup_teardown(void)
{
	/* Only an empty PARENT goes: another ward may still use it. */
	if (!cgroup_ctx.ops || cgroup_ctx.shared)
		return;
	for (size_t i = 0; i < cgroup_ctx.n_h; i++)
		(void)cg_rmdir(&cgroup_ctx.h[i], cgroup_ctx.parent);
}
