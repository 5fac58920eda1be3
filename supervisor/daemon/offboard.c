/* Offboarding: the tenant stopped (by the supervisor), its profile set
 * aside, then its data archived (tar) or purged and its network
 * allocation released, its logs kept or removed, its profile deleted; a
 * failure before any data is removed puts everything back. Each
 * offboarding is a small state machine driven from wardd's loop: the
 * supervisor's callback, a timer, and the child processes of datatree.c. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "basic/cleanup.h"
#include "basic/log.h"
#include "daemon/datatree.h"
#include "daemon/onboard-internal.h"
#include "sandbox/cgroup.h"

#define LOGS_KEPT_INFIX ".offboarded-"
#define ARCHIVE_MODE    0600

/* A message into buf; a long one is cut (it is for people to read). */
static void message_set(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void message_set(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(buf, size, fmt, ap);
	va_end(ap);
}

struct offboard *offboard_find(struct onboarding *ob, const char *name)
{
	for (struct offboard *o = ob->offboards; o; o = o->next)
		if (strcmp(o->name, name) == 0)
			return o;
	return NULL;
}

static void offboard_free(struct offboard *o)
{
	struct onboarding *ob = o->ob;

	for (struct offboard **p = &ob->offboards; *p; p = &(*p)->next)
		if (*p == o) {
			*p = o->next;
			break;
		}
	loop_timer_cancel(ob->loop, o->timer);
	if (o->pidfd >= 0) {
		loop_del_fd(ob->loop, o->pidfd);
		close(o->pidfd);
	}
	if (o->err_fd >= 0) {
		loop_del_fd(ob->loop, o->err_fd);
		close(o->err_fd);
	}
	if (o->archive_fd >= 0)
		close(o->archive_fd);
	json_decref(o->report);
	free(o);
}

static void offboard_warn(struct offboard *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void offboard_warn(struct offboard *o, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_msg("offboard %s: %s", o->name, msg);
	ob_report_warn(o->report, msg);
}

static int aside_paths(struct offboard *o, char *profile, char *aside)
{
	const char *dir = o->ob->cfg->tenants_dir;

	return ob_path_join(profile, PATH_MAX, dir, o->name, PROFILE_SUFFIX) < 0 ||
		       ob_path_join(aside, PATH_MAX, dir, o->name, ASIDE_SUFFIX) < 0
		   ? -1
		   : 0;
}

/* The profile renamed out of the supervisor's sight (kept on disk: what a
 * failure or a crash needs to put the tenant back). */
static int profile_set_aside(struct offboard *o, struct ward_err *err)
{
	char profile[PATH_MAX], aside[PATH_MAX];
	struct stat st;

	if (aside_paths(o, profile, aside) < 0)
		return ward_err_set(err, ENAMETOOLONG, "profile of %s", o->name);
	if (lstat(profile, &st) < 0) {
		if (errno == ENOENT)
			return 0; /* removed by hand, not reloaded yet */
		return ward_err_set(err, errno, "%s", profile);
	}
	if (renameat2(AT_FDCWD, profile, AT_FDCWD, aside, RENAME_NOREPLACE) < 0)
		return ward_err_set(err, errno, "renaming %s to %s", profile, aside);
	o->aside = true;
	(void)ob_fsync_dir(o->ob->cfg->tenants_dir);
	return 0;
}

static int profile_put_back(struct offboard *o, struct ward_err *err)
{
	char profile[PATH_MAX], aside[PATH_MAX];

	if (!o->aside)
		return 0;
	if (aside_paths(o, profile, aside) < 0)
		return ward_err_set(err, ENAMETOOLONG, "profile of %s", o->name);
	if (renameat2(AT_FDCWD, aside, AT_FDCWD, profile, RENAME_NOREPLACE) < 0)
		return ward_err_set(err, errno, "renaming %s back to %s", aside, profile);
	o->aside = false;
	(void)ob_fsync_dir(o->ob->cfg->tenants_dir);
	return 0;
}

static void profile_delete(struct offboard *o)
{
	char profile[PATH_MAX], aside[PATH_MAX];

	if (!o->aside || aside_paths(o, profile, aside) < 0)
		return;
	if (unlink(aside) < 0) {
		offboard_warn(o, "removing %s: %s", aside, strerror(errno));
		return;
	}
	o->aside = false;
	(void)ob_fsync_dir(o->ob->cfg->tenants_dir);
}

/* Removes the archive if it is still the file we created. */
static void archive_discard(struct offboard *o)
{
	struct stat st;

	if (o->archive_fd >= 0) {
		close(o->archive_fd);
		o->archive_fd = -1;
	}
	if (!o->archive[0] || lstat(o->archive, &st) < 0)
		return;
	if (st.st_dev == o->archive_dev && st.st_ino == o->archive_ino)
		(void)unlink(o->archive);
}

/* Whether path is dir or inside it (both resolved). */
static bool path_within(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (strcmp(dir, "/") == 0)
		return true;
	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* The archive: an absolute path of a new file in an existing directory
 * outside the data directory (it would be archived into itself, then
 * deleted with it, or land in another practice's data). Created now, so
 * that a path that cannot be written is refused before anything stops. */
static int archive_create(struct offboard *o, const char *archive, struct ward_err *err)
{
	const char *data = o->ob->cfg->data_dir;
	char dir[PATH_MAX], real_dir[PATH_MAX], real_data[PATH_MAX];
	const char *base;
	struct stat st;
	size_t len = strlen(archive);

	if (archive[0] != '/' || len >= sizeof(o->archive))
		return ward_err_set(
		    err, 0, "archive: must be an absolute path shorter than %d bytes", PATH_MAX);
	base = strrchr(archive, '/') + 1;
	if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
		return ward_err_set(err, 0, "archive: %s does not name a file", archive);
	memcpy(dir, archive, (size_t)(base - archive));
	dir[base - archive] = '\0';
	if (!realpath(dir, real_dir))
		return ward_err_set(err, errno, "archive: directory %s", dir);
	if (realpath(data, real_data) && path_within(real_dir, real_data))
		return ward_err_set(err, 0,
				    "archive: %s is inside the tenants' data directory %s: put it "
				    "elsewhere",
				    archive, data);
	if (lstat(archive, &st) == 0)
		return ward_err_set(err, EEXIST, "archive: %s: not overwriting it", archive);
	o->archive_fd = open(
	    archive, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, ARCHIVE_MODE);
	if (o->archive_fd < 0)
		return ward_err_set(err, errno, "archive: creating %s", archive);
	if (fstat(o->archive_fd, &st) < 0) {
		int e = errno;
		close(o->archive_fd);
		o->archive_fd = -1;
		(void)unlink(archive);
		return ward_err_set(err, e, "archive: %s", archive);
	}
	o->archive_dev = st.st_dev;
	o->archive_ino = st.st_ino;
	memcpy(o->archive, archive, len + 1);
	return 0;
}

struct find_tenant {
	const char *name;
	struct ward_ids ids;
	struct ward_cidr subnet;
	bool found, has_subnet;
};

static int find_tenant_fn(const struct ward_tenant *t, void *ud)
{
	struct find_tenant *f = ud;

	if (strcmp(t->name, f->name) != 0)
		return 0;
	f->found = true;
	f->ids = t->ids;
	f->has_subnet = t->network.present && t->network.has_subnet;
	f->subnet = t->network.subnet;
	return 1;
}

static void offboard_gone(const char *tenant, void *ud);

static int offboard_start(struct onboarding *ob, struct offboard *o, const char *archive,
			  struct ward_err *err)
{
	struct find_tenant f = {.name = o->name};
	char data_dir[PATH_MAX];
	struct stat st;

	if (offboard_find(ob, o->name))
		return ward_err_set(err, 0, "tenant \"%s\" is already being offboarded", o->name);
	if (supervisor_each_tenant(ob->sup, find_tenant_fn, &f) < 0 || !f.found)
		return ward_err_set(err, 0, "no tenant \"%s\"", o->name);
	o->ids = f.ids;
	if (ob_path_join(data_dir, sizeof(data_dir), ob->cfg->data_dir, o->name, "") < 0)
		return ward_err_set(err, ENAMETOOLONG, "data directory of %s", o->name);
	if (lstat(data_dir, &st) < 0) {
		if (errno != ENOENT)
			return ward_err_set(err, errno, "data directory %s", data_dir);
		if (!o->purge)
			return ward_err_set(err, 0,
					    "data directory %s does not exist: nothing to archive "
					    "(use --purge)",
					    data_dir);
	} else if (!S_ISDIR(st.st_mode)) {
		return ward_err_set(err, 0, "data directory %s is not a directory: not touching it",
				    data_dir);
	}
	if (!(o->report =
		  ob_offboard_report(o->name, &f.ids, f.has_subnet ? &f.subnet : NULL, data_dir)))
		return ward_err_set(err, ENOMEM, "offboard");
	if (archive && archive_create(o, archive, err) < 0)
		return -1;
	if (profile_set_aside(o, err) < 0) {
		archive_discard(o);
		return -1;
	}
	/* In the list before the supervisor is called: it may call back at once. */
	o->next = ob->offboards;
	ob->offboards = o;
	if (supervisor_remove_tenant(ob->sup, o->name, offboard_gone, o, err) < 0) {
		struct ward_err e = {0};

		ob->offboards = o->next;
		if (profile_put_back(o, &e) < 0)
			ward_err_wrap(err, "(and %s)", e.msg);
		archive_discard(o);
		return -1;
	}
	return 0;
}

int offboard_tenant(struct onboarding *ob, const char *name, const char *archive, bool purge,
		    const char *by, offboard_done_fn done, void *ud, struct ward_err *err)
{
	struct offboard *o;

	if (!archive == !purge) {
		if (archive)
			ward_err_set(err, 0, "--archive and --purge exclude each other");
		else
			ward_err_set(err, 0, OFFBOARD_NEEDS_ARCHIVE_OR_PURGE);
	} else if (!ward_name_valid(name)) {
		ward_err_set(err, 0, "invalid tenant name: must match [a-z][a-z0-9-]{0,23}");
	} else if (!(o = calloc(1, sizeof(*o)))) {
		ward_err_set(err, ENOMEM, "offboard");
	} else {
		*o = (struct offboard){.ob = ob,
				       .purge = purge,
				       .archive_fd = -1,
				       .pidfd = -1,
				       .err_fd = -1,
				       .child = -1,
				       .done = done,
				       .ud = ud};
		memcpy(o->name, name, strlen(name) + 1);
		(void)snprintf(o->by, sizeof(o->by), "%s", by ? by : "");
		if (offboard_start(ob, o, archive, err) == 0) {
			ob_audit_offboard_start(ob, name, archive, purge, by, NULL);
			return 0;
		}
		json_decref(o->report);
		free(o);
	}
	ob_audit_offboard_start(ob, name && ward_name_valid(name) ? name : "", archive, purge, by,
				err->msg);
	return -1;
}

/* ---- the end of an offboarding ---- */

static void offboard_finish(struct offboard *o, const char *verdict, const char *error)
{
	offboard_done_fn done = o->done;
	void *ud = o->ud;
	json_t *report = error ? NULL : json_incref(o->report);

	if (error)
		log_msg("offboard %s: %s", o->name, error);
	ob_audit_offboard_end(o->ob, o, verdict, error);
	offboard_free(o);
	if (done)
		done(report, error, ud);
	json_decref(report);
}

/* Nothing of the tenant's data was touched: everything is put back and,
 * unless wardd is stopping, the tenant started again. */
static void offboard_undo(struct offboard *o, const char *why, bool restart)
{
	struct ward_err e = {0};
	char msg[sizeof(e.msg) + 512];
	const char *outcome;

	archive_discard(o);
	if (profile_put_back(o, &e) < 0) {
		message_set(msg, sizeof(msg),
			    "%s; nothing was removed, but putting the profile back failed: %s", why,
			    e.msg);
		offboard_finish(o, "failed", msg);
		return;
	}
	if (restart) {
		_cleanup_(json_decrefp) json_t *report = supervisor_reload(o->ob->sup);

		outcome = report && ob_name_listed(json_object_get(report, "added"), o->name)
			      ? "runs again"
			      : "did not start again: see wardd's log";
	} else {
		outcome = "starts again with wardd";
	}
	message_set(msg, sizeof(msg), "%s; nothing was removed: tenant %s %s", why, o->name,
		    outcome);
	offboard_finish(o, "rolled-back", msg);
}

/* The logs: kept beside (archive) or gone with the data (purge, removed by
 * the child). */
static void logs_keep(struct offboard *o)
{
	char path[PATH_MAX], kept[PATH_MAX], stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	struct stat st;

	if (ob_path_join(path, sizeof(path), o->ob->cfg->log_dir, o->name, "") < 0 ||
	    lstat(path, &st) < 0) {
		ob_report_set(o->report, "logs", NULL);
		return;
	}
	if (!gmtime_r(&now, &tm) || !strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm) ||
	    snprintf(kept, sizeof(kept), "%s/%s%s%s", o->ob->cfg->log_dir, o->name, LOGS_KEPT_INFIX,
		     stamp) >= (int)sizeof(kept)) {
		offboard_warn(o, "logs %s kept where they are: no name for them", path);
		ob_report_set(o->report, "logs", path);
		return;
	}
	if (renameat2(AT_FDCWD, path, AT_FDCWD, kept, RENAME_NOREPLACE) < 0) {
		offboard_warn(o, "renaming %s to %s: %s", path, kept, strerror(errno));
		ob_report_set(o->report, "logs", path);
		return;
	}
	ob_report_set(o->report, "logs", kept);
}

static void offboard_complete(struct offboard *o)
{
	profile_delete(o);
	if (o->purge)
		ob_report_set(o->report, "logs", NULL);
	else
		logs_keep(o);
	offboard_finish(o, "done", NULL);
}

/* ---- child processes: tar, and the removal of a tree ---- */

static void on_child_err(struct loop *l, int fd, uint32_t events, void *ud)
{
	struct offboard *o = ud;
	char buf[4096];

	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
				loop_del_fd(l, fd);
				close(fd);
				o->err_fd = -1;
			}
			return;
		}
		/* The first words say what went wrong; the rest is dropped. */
		size_t room = sizeof(o->child_err) - 1 - o->child_err_len;
		size_t take = (size_t)n < room ? (size_t)n : room;
		memcpy(o->child_err + o->child_err_len, buf, take);
		o->child_err_len += take;
		o->child_err[o->child_err_len] = '\0';
	}
}

static void child_status(int st, const char *what, char *buf, size_t len)
{
	if (WIFEXITED(st))
		(void)snprintf(buf, len, "%s exited with status %d", what, WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		(void)snprintf(buf, len, "%s was killed by signal %d", what, WTERMSIG(st));
	else
		(void)snprintf(buf, len, "%s ended with wait status %d", what, st);
}

static void offboard_child_done(struct offboard *o, int status);

static void on_child_exit(struct loop *l, int fd, uint32_t events, void *ud)
{
	struct offboard *o = ud;
	int st = 0;
	pid_t r;

	do
		r = waitpid(o->child, &st, WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return; /* not yet */
	loop_del_fd(l, fd);
	close(fd);
	o->pidfd = -1;
	o->child = -1;
	if (o->err_fd >= 0)
		on_child_err(l, o->err_fd, EPOLLIN, o); /* what is left in the pipe */
	offboard_child_done(o, r < 0 ? -1 : st);
}

/* The child's exit (its pidfd) on the loop, its stderr pipe made
 * non-blocking: 0, or -errno. */
static int child_watch_exit(struct offboard *o, int pidfd, int err_r)
{
	if (pidfd < 0 || fcntl(err_r, F_SETFL, O_NONBLOCK) < 0)
		return -errno;
	return loop_add_fd(o->ob->loop, pidfd, EPOLLIN, on_child_exit, o);
}

/* Watches the child (pid, the read end of its stderr) on the loop. */
static int child_watch(struct offboard *o, pid_t pid, int err_r, struct ward_err *err)
{
	struct onboarding *ob = o->ob;
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	int r;

	o->child = pid;
	o->child_err_len = 0;
	o->child_err[0] = '\0';
	r = child_watch_exit(o, pidfd, err_r);
	if (r < 0) {
		int e = -r;

		if (pidfd >= 0)
			close(pidfd);
		close(err_r);
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		o->child = -1;
		return ward_err_set(err, e, "watching child %d", (int)pid);
	}
	o->pidfd = pidfd;
	if (loop_add_fd(ob->loop, err_r, EPOLLIN, on_child_err, o) < 0)
		close(err_r); /* its messages are lost, its exit status is not */
	else
		o->err_fd = err_r;
	return 0;
}

/* A child that checks the archive will fit, then becomes /bin/tar writing
 * the data directory to the archive fd. */
static int tar_spawn(struct offboard *o, struct ward_err *err)
{
	int err_r;
	pid_t pid =
	    datatree_archive_spawn(o->ob->cfg->data_dir, o->name, o->archive_fd, &err_r, err);

	return pid < 0 ? -1 : child_watch(o, pid, err_r, err);
}

/* A child removing the data directory (and, on purge, the logs). */
static int remover_spawn(struct offboard *o, struct ward_err *err)
{
	int err_r;
	pid_t pid = datatree_remove_spawn(
	    o->ob->cfg->data_dir, o->purge ? o->ob->cfg->log_dir : NULL, o->name, &err_r, err);

	return pid < 0 ? -1 : child_watch(o, pid, err_r, err);
}

static bool cgroup_of_tenant(const char *tenant, const char *name, void *ud)
{
	(void)name;
	return strcmp(tenant, ud) == 0;
}

/* Network allocation released, then the data removed. */
static void offboard_remove(struct offboard *o)
{
	struct ward_err e = {0};
	char msg[sizeof(e.msg) + 128];

	if (o->ob->net && network_tenant_release(o->ob->net, o->name, &e) < 0) {
		message_set(msg, sizeof(msg), "releasing its network allocation: %s", e.msg);
		offboard_undo(o, msg, true);
		return;
	}
	if (remover_spawn(o, &e) < 0) {
		message_set(msg, sizeof(msg),
			    "removing the data directory: %s; its network allocation is "
			    "released, its data and profile (%s/%s%s) are still there",
			    e.msg, o->ob->cfg->tenants_dir, o->name, ASIDE_SUFFIX);
		offboard_finish(o, "failed", msg);
		return;
	}
	o->step = STEP_REMOVING;
}

static void offboard_child_done(struct offboard *o, int status)
{
	char what[160], msg[CHILD_ERR_MAX + 512];

	ob_sanitize(o->child_err);
	if (status < 0)
		(void)snprintf(what, sizeof(what), "waiting for the child: %s", strerror(errno));
	else
		child_status(status, o->step == STEP_ARCHIVING ? "tar" : "the removal", what,
			     sizeof(what));
	if (o->step == STEP_ARCHIVING) {
		if (status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 3) {
			/* The size check refused (tar's own codes are 0-2): tar never ran. */
			message_set(msg, sizeof(msg), "archiving %s/%s refused: %s",
				    o->ob->cfg->data_dir, o->name, o->child_err);
			offboard_undo(o, msg, true);
			return;
		}
		if (status != 0) {
			message_set(msg, sizeof(msg), "archiving %s/%s failed: %s%s%s",
				    o->ob->cfg->data_dir, o->name, what,
				    o->child_err_len ? ": " : "", o->child_err);
			offboard_undo(o, msg, true);
			return;
		}
		/* On disk before the data it holds is deleted. */
		if (fsync(o->archive_fd) < 0 || close(o->archive_fd) < 0) {
			o->archive_fd = -1;
			message_set(msg, sizeof(msg), "writing the archive %s: %s", o->archive,
				    strerror(errno));
			offboard_undo(o, msg, true);
			return;
		}
		o->archive_fd = -1;
		{
			char dir[PATH_MAX];
			char *slash;

			memcpy(dir, o->archive, strlen(o->archive) + 1);
			slash = strrchr(dir, '/'); /* the path is absolute */
			slash[slash == dir ? 1 : 0] = '\0';
			(void)ob_fsync_dir(dir); /* its name too */
		}
		ob_report_set(o->report, "archive", o->archive);
		offboard_remove(o);
		return;
	}
	if (status != 0) {
		message_set(
		    msg, sizeof(msg),
		    "removing %s/%s failed (%s)%s%s; %s; its profile is kept as %s/%s%s",
		    o->ob->cfg->data_dir, o->name, what, o->child_err_len ? ": " : "", o->child_err,
		    o->purge ? "what is left of it is still there" : "the archive is complete",
		    o->ob->cfg->tenants_dir, o->name, ASIDE_SUFFIX);
		offboard_finish(o, "failed", msg);
		return;
	}
	if (o->purge)
		ob_report_purged(o->report);
	offboard_complete(o);
}

/* The tenant is down (from a timer: never inside the supervisor's call). */
static void offboard_stopped(struct loop *l, void *ud)
{
	struct offboard *o = ud;
	struct ward_err e = {0};
	char msg[sizeof(e.msg) + 64];

	(void)l;
	o->timer = NULL;
	/* Someone put a tenant of that name back meanwhile: its data dir is
	 * in use again. */
	if (supervisor_has_tenant(o->ob->sup, o->name)) {
		char aside[PATH_MAX], profile[PATH_MAX];

		archive_discard(o);
		(void)aside_paths(o, profile, aside);
		message_set(msg, sizeof(msg),
			    "a tenant of that name was started again while it was being "
			    "offboarded: nothing was removed; the old profile is kept as %s",
			    aside);
		offboard_finish(o, "failed", msg);
		return;
	}
	if (cgroup_cleanup_where(o->name, cgroup_of_tenant, o->name, &e) < 0)
		offboard_warn(o, "removing its cgroups: %s", e.msg);
	if (o->purge) {
		offboard_remove(o);
		return;
	}
	if (tar_spawn(o, &e) < 0) {
		message_set(msg, sizeof(msg), "archiving: %s", e.msg);
		offboard_undo(o, msg, true);
		return;
	}
	o->step = STEP_ARCHIVING;
}

static void offboard_gone(const char *tenant, void *ud)
{
	struct offboard *o = ud;

	(void)tenant;
	o->step = STEP_STOPPED;
	o->timer = loop_timer_add(o->ob->loop, 0, offboard_stopped, o);
	if (!o->timer) /* it stays stopped; onboarding_free puts it back */
		log_msg("offboard %s: out of memory: waiting for wardd to stop", o->name);
}

/* ---- wardd stopping ---- */

void offboards_end(struct onboarding *ob)
{
	while (ob->offboards) {
		struct offboard *o = ob->offboards;

		/* Off the list first; finishing it frees it. */
		ob->offboards = o->next;
		o->next = NULL;
		switch (o->step) {
		case STEP_STOPPING:
		case STEP_STOPPED:
			offboard_undo(o, "wardd stopped while the tenant was being offboarded",
				      false);
			break;
		case STEP_ARCHIVING:
			kill(o->child, SIGKILL);
			while (waitpid(o->child, NULL, 0) < 0 && errno == EINTR)
				;
			o->child = -1;
			offboard_undo(o, "wardd stopped while the data was being archived", false);
			break;
		case STEP_REMOVING: {
			/* Half-removed data helps nobody: the removal finishes. */
			int st = 0;
			pid_t r;

			do
				r = waitpid(o->child, &st, 0);
			while (r < 0 && errno == EINTR);
			o->child = -1;
			if (o->err_fd >= 0) {
				(void)fcntl(o->err_fd, F_SETFL, 0);
				on_child_err(ob->loop, o->err_fd, EPOLLIN, o);
			}
			offboard_child_done(o, r < 0 ? -1 : st);
			break;
		}
		}
	}
}
