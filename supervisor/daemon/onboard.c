/* Onboarding and offboarding: a practice made from a template (a uid range
 * and a subnet from the pools, its data directory, its profile written
 * atomically, started by a reload), or stopped and removed with its data
 * archived or purged. Each step that changes the host is recorded in a job,
 * so a failure undoes exactly what was done. The long steps of offboarding
 * (tar, removing a data tree) run as child processes watched on the loop.
 *
 * This file onboards, and holds the module. The uid pool is idpool.c, the
 * template template.c, offboarding offboard.c (its child processes
 * datatree.c), the audit records and replies onboard-view.c; what they
 * share is onboard-internal.h. */
#include "daemon/onboard.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/cleanup.h"
#include "basic/fs.h"
#include "basic/log.h"
#include "daemon/onboard-internal.h"
#include "sandbox/quota.h"

#define TMP_SUFFIX ".json.tmp"
/* The data root is the barrier between the host's users and the tenants'
 * files: a tenant owns its directory and can open its mode to everyone,
 * and leave a setuid-to-itself program in it (nosuid holds inside the
 * sandbox, not on the host). Only root may go through the root. */
#define DATA_ROOT_MODE 0700
#define DATA_DIR_MODE  0700
#define PROFILE_MODE   0644

/* ---- the steps that change the host ---- */

/* DATA_DIR/NAME, owned by the tenant's first uid and gid, 0700. */
static int data_dir_make(struct onboarding *ob, struct onboard_job *j, struct ward_err *err)
{
	const char *root = ob->cfg->data_dir;
	_cleanup_close_ int rfd = -1, fd = -1;

	if (fs_mkdir_p(root, DATA_ROOT_MODE) < 0)
		return ward_err_set(err, errno, "data directory %s", root);
	rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rfd < 0)
		return ward_err_set(err, errno, "data directory %s", root);
	/* One made before (by hand, or by an older ward as 0711) is closed
	 * now, when root's: see DATA_ROOT_MODE. */
	{
		struct stat st;

		if (fstat(rfd, &st) < 0)
			return ward_err_set(err, errno, "data directory %s", root);
		if (st.st_uid == 0 && (st.st_mode & 077) && fchmod(rfd, st.st_mode & 07700) < 0)
			return ward_err_set(err, errno, "closing data directory %s", root);
	}
	/* On btrfs a subvolume, so that its disk quota can be applied. */
	if (quota_mkdirat(rfd, j->name, DATA_DIR_MODE) < 0)
		return ward_err_set(err, errno, "creating %s", j->data_path);
	j->data_made = true;
	fd = openat(rfd, j->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return ward_err_set(err, errno, "opening %s", j->data_path);
	/* Owner first: the mode alone never opens it to anyone else. */
	if (fchown(fd, j->ids.uid, j->ids.uid) < 0 || fchmod(fd, DATA_DIR_MODE) < 0)
		return ward_err_set(err, errno, "giving %s to uid %u", j->data_path, j->ids.uid);
	if (fsync(fd) < 0 || fsync(rfd) < 0)
		return ward_err_set(err, errno, "syncing %s", j->data_path);
	return 0;
}

static int write_all(int fd, const char *s, size_t len)
{
	while (len) {
		ssize_t n = write(fd, s, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		s += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Renames from to to within dirfd, never over an existing file. */
static int rename_noreplace(int dirfd, const char *from, const char *to)
{
	if (renameat2(dirfd, from, dirfd, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	/* A filesystem without RENAME_NOREPLACE: link() never replaces either. */
	if (linkat(dirfd, from, dirfd, to, 0) < 0)
		return -1;
	(void)unlinkat(dirfd, from, 0);
	return 0;
}

/* TENANTS/NAME.json.tmp written and synced, renamed to NAME.json (which
 * must not exist), and the directory synced: a crash leaves either no
 * profile or the whole one. */
static int profile_write(struct onboarding *ob, struct onboard_job *j, const char *text, size_t len,
			 struct ward_err *err)
{
	const char *dir = ob->cfg->tenants_dir;
	char tmp[WARD_NAME_MAX + sizeof(TMP_SUFFIX)], final[WARD_NAME_MAX + sizeof(PROFILE_SUFFIX)];
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int fd, r;

	(void)snprintf(tmp, sizeof(tmp), "%s%s", j->name, TMP_SUFFIX);
	(void)snprintf(final, sizeof(final), "%s%s", j->name, PROFILE_SUFFIX);
	if (dfd < 0)
		return ward_err_set(err, errno, "tenants directory %s", dir);
	/* A leftover of an onboarding that crashed: never loaded, ours to replace. */
	if (unlinkat(dfd, tmp, 0) < 0 && errno != ENOENT)
		return ward_err_set(err, errno, "removing %s/%s", dir, tmp);
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, PROFILE_MODE);
	if (fd < 0)
		return ward_err_set(err, errno, "creating %s/%s", dir, tmp);
	r = fchmod(fd, PROFILE_MODE) < 0 || write_all(fd, text, len) < 0 || fsync(fd) < 0 ? -1 : 0;
	if (close(fd) < 0)
		r = -1;
	if (r < 0) {
		int e = errno;
		(void)unlinkat(dfd, tmp, 0);
		return ward_err_set(err, e, "writing %s/%s", dir, tmp);
	}
	if (rename_noreplace(dfd, tmp, final) < 0) {
		int e = errno;
		(void)unlinkat(dfd, tmp, 0);
		return ward_err_set(err, e, "renaming %s/%s to %s", dir, tmp, final);
	}
	j->profile_made = true;
	if (fsync(dfd) < 0)
		return ward_err_set(err, errno, "syncing %s", dir);
	return 0;
}

/* The reload that starts the tenant; -1 unless it was added. */
static int reload_adds(struct onboarding *ob, struct onboard_job *j, struct ward_err *err)
{
	_cleanup_(json_decrefp) json_t *report = supervisor_reload(ob->sup);
	char msg[sizeof(err->msg)];
	size_t i, o = 0;
	json_t *r;

	if (!report)
		return ward_err_set(err, 0, "reload failed");
	if (ob_name_listed(json_object_get(report, "added"), j->name))
		return 0;
	msg[0] = '\0';
	json_array_foreach(json_object_get(report, "rejected"), i, r)
	{
		size_t k;
		json_t *e;

		if (!json_is_string(json_object_get(r, "tenant")) ||
		    strcmp(json_string_value(json_object_get(r, "tenant")), j->name) != 0)
			continue;
		json_array_foreach(json_object_get(r, "errors"), k, e)
		{
			int n = snprintf(msg + o, sizeof(msg) - o, "%s%s", o ? "; " : "",
					 json_is_string(e) ? json_string_value(e) : "?");
			if (n < 0 || (size_t)n >= sizeof(msg) - o)
				break;
			o += (size_t)n;
		}
	}
	return ward_err_set(err, 0, "wardd did not start the new profile: %s",
			    o ? msg : "it was not added");
}

/* Undoes what the job did, newest first; what cannot be undone is added
 * to err's message. */
static void onboard_rollback(struct onboarding *ob, struct onboard_job *j, struct ward_err *err)
{
	struct ward_err e = {0};
	char undo[512] = "";
	size_t o = 0;

#define UNDO_FAILED(...)                                                                           \
	do {                                                                                       \
		int n_ = snprintf(undo + o, sizeof(undo) - o, __VA_ARGS__);                        \
		if (n_ > 0 && (size_t)n_ < sizeof(undo) - o)                                       \
			o += (size_t)n_;                                                           \
	} while (0)

	if (j->profile_made) {
		if (unlink(j->profile_path) < 0)
			UNDO_FAILED("; removing %s: %s", j->profile_path, strerror(errno));
		else
			(void)ob_fsync_dir(ob->cfg->tenants_dir);
	}
	if (j->data_made && rmdir(j->data_path) < 0 && errno != ENOENT)
		UNDO_FAILED("; removing %s: %s", j->data_path, strerror(errno));
	if (j->net_held && ob->net && network_tenant_release(ob->net, j->name, &e) < 0)
		UNDO_FAILED("; releasing its network allocation: %s", e.msg);
#undef UNDO_FAILED
	if (o) {
		log_msg("onboard %s: undoing it failed%s", j->name, undo);
		ward_err_wrap(err, "(and undoing it failed%s)", undo);
	}
}

/* 1 if something is at path, 0 if nothing, -1 with err if it cannot be told. */
static int path_taken(const char *path, struct ward_err *err)
{
	struct stat st;

	if (lstat(path, &st) == 0)
		return 1;
	if (errno == ENOENT)
		return 0;
	return ward_err_set(err, errno, "%s", path);
}

/* The name is free: nothing of a tenant of that name exists. */
static int name_unused(struct onboarding *ob, struct onboard_job *j, struct ward_err *err)
{
	char aside[PATH_MAX], logs[PATH_MAX];
	int r;

	if (offboard_find(ob, j->name))
		return ward_err_set(err, 0, "tenant \"%s\" is being offboarded", j->name);
	if (supervisor_has_tenant(ob->sup, j->name))
		return ward_err_set(err, 0, "tenant \"%s\" already exists", j->name);
	if (ob_path_join(aside, sizeof(aside), ob->cfg->tenants_dir, j->name, ASIDE_SUFFIX) < 0 ||
	    ob_path_join(logs, sizeof(logs), ob->cfg->log_dir, j->name, "") < 0)
		return ward_err_set(err, ENAMETOOLONG, "paths of tenant %s", j->name);
	if ((r = path_taken(j->profile_path, err)) != 0)
		return r < 0 ? -1
			     : ward_err_set(err, 0, "%s already exists: tenant \"%s\" is taken",
					    j->profile_path, j->name);
	if ((r = path_taken(aside, err)) != 0)
		return r < 0 ? -1
			     : ward_err_set(err, 0,
					    "%s exists: an offboarding of \"%s\" did not finish; "
					    "restore or remove it first",
					    aside, j->name);
	if ((r = path_taken(j->data_path, err)) != 0)
		return r < 0 ? -1
			     : ward_err_set(err, 0,
					    "data directory %s already exists (left by an earlier "
					    "tenant?): archive or remove it first",
					    j->data_path);
	if ((r = path_taken(logs, err)) != 0)
		return r < 0 ? -1
			     : ward_err_set(err, 0,
					    "log directory %s already exists (left by an earlier "
					    "tenant?): move or remove it first, so that two "
					    "practices' logs do not mix",
					    logs);
	return 0;
}

/* Tenants the new one must not collide with (network_check). */
struct tenant_list {
	const struct ward_tenant **v;
	size_t n, cap;
};

static int tenant_list_add(const struct ward_tenant *t, void *ud)
{
	struct tenant_list *l = ud;

	if (ob_grow((void **)&l->v, &l->cap, l->n, sizeof(*l->v)) < 0)
		return -1;
	l->v[l->n++] = t;
	return 0;
}

/* A subnet for a tenant with a network: allocated (and recorded in the
 * allocations file) now, written into its profile. */
static int subnet_take(struct onboarding *ob, struct onboard_job *j, const struct ward_tenant *t,
		       struct ward_err *err)
{
	struct tenant_list others = {0};
	struct tenant_net tn = {0};
	int r;

	if (!t->network.present)
		return 0;
	if (!ob->net)
		return ward_err_set(err, 0,
				    "template \"%s\" has a network, and this wardd has none (see "
				    "its start-up messages)",
				    j->tmpl);
	if (supervisor_each_tenant(ob->sup, tenant_list_add, &others) != 0) {
		free(others.v);
		return ward_err_set(err, ENOMEM, "network");
	}
	r = network_check(ob->net, t, others.v, others.n, err);
	free(others.v);
	if (r < 0)
		return -1;
	if (network_tenant_prepare(ob->net, t, &tn, err) < 0)
		return -1;
	j->net_held = true;
	j->has_net = true;
	j->subnet = tn.subnet;
	tenant_net_free(&tn);
	return idpool_subnet_unclaimed(ob, j, err);
}

static int onboard_run(struct onboarding *ob, struct onboard_job *j, json_t **alloc,
		       struct ward_err *err)
{
	_cleanup_(json_decrefp) json_t *tmpl = NULL;
	struct ward_tenant *t = NULL;
	char *text;
	size_t len;
	int r;

	if (!ward_name_valid(j->name))
		return ward_err_set(
		    err, 0, "invalid tenant name \"%s\": must match [a-z][a-z0-9-]{0,23}", j->name);
	if (!ward_name_valid(j->tmpl))
		return ward_err_set(err, 0,
				    "invalid template name: must match [a-z][a-z0-9-]{0,23}");
	if (ob_path_join(j->profile_path, sizeof(j->profile_path), ob->cfg->tenants_dir, j->name,
			 PROFILE_SUFFIX) < 0 ||
	    ob_path_join(j->data_path, sizeof(j->data_path), ob->cfg->data_dir, j->name, "") < 0)
		return ward_err_set(err, ENAMETOOLONG, "paths of tenant %s", j->name);
	if (name_unused(ob, j, err) < 0)
		return -1;
	/* The template alone first: its errors are reported before any pool
	 * is looked at. */
	if (!(tmpl = template_load(ob, j, err)))
		return -1;
	if (!(text = template_profile_make(ob, j, tmpl, false, &len, &t, err)))
		return -1;
	free(text);
	r = idpool_pick(ob, j, err);
	if (r == 0)
		r = subnet_take(ob, j, t, err);
	tenant_free(t);
	if (r < 0)
		return -1;
	/* The exact bytes that will be written, checked once more. */
	if (!(text = template_profile_make(ob, j, tmpl, true, &len, &t, err)))
		return -1;
	r = t->ids.uid == j->ids.uid && t->ids.count == j->ids.count &&
		    t->network.has_subnet == j->has_net
		? 0
		: ward_err_set(err, 0, "the profile made does not hold the allocation");
	tenant_free(t);
	if (r == 0 && !(*alloc = ob_allocation_json(j)))
		r = ward_err_set(err, ENOMEM, "allocation");
	/* Data before profile: a tenant must never start without its data. */
	if (r == 0 && (data_dir_make(ob, j, err) < 0 || profile_write(ob, j, text, len, err) < 0 ||
		       reload_adds(ob, j, err) < 0)) {
		json_decref(*alloc);
		*alloc = NULL;
		r = -1;
	}
	free(text);
	return r;
}

json_t *onboard_tenant(struct onboarding *ob, const char *name, const char *tmpl,
		       const char *display_name, const char *by, struct ward_err *err)
{
	struct onboard_job j = {.name = name, .tmpl = tmpl, .display_name = display_name};
	json_t *alloc = NULL;

	if (onboard_run(ob, &j, &alloc, err) < 0) {
		onboard_rollback(ob, &j, err);
		ob_audit_onboard(ob, name, tmpl, by, NULL, err->msg);
		return NULL;
	}
	ob_audit_onboard(ob, name, tmpl, by, alloc, NULL);
	log_msg("onboarded %s from template %s: uids %u+%u", name, tmpl, j.ids.uid, j.ids.count);
	return alloc;
}

/* ---- the module ---- */

struct onboarding *onboarding_new(const struct ward_config *cfg, struct loop *loop,
				  struct supervisor *sup, struct network *net, struct audit *audit)
{
	struct onboarding *ob = calloc(1, sizeof(*ob));

	if (!ob)
		return NULL;
	*ob = (struct onboarding){.cfg = cfg, .loop = loop, .sup = sup, .net = net, .audit = audit};
	return ob;
}

void onboarding_free(struct onboarding *ob)
{
	if (!ob)
		return;
	offboards_end(ob);
	free(ob);
}
