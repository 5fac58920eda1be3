/* Sessions: everything between "let in" and the join running: the
 * session's uid and home, its environment, cgroup, stdio and the
 * launch_join; then the watches on the join and the service. Nothing here
 * blocks the loop but the short steps a logon takes (the home, the
 * cgroup). */
#include "daemon/prepare.h"
#include "daemon/session-internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "basic/cleanup.h"
#include "sandbox/seccomp.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static int openat2_fd(int dir, const char *path, uint64_t flags, uint64_t resolve)
{
	struct open_how how = {.flags = flags | O_CLOEXEC, .resolve = resolve};

	return (int)syscall(SYS_openat2, dir, path, &how, sizeof(how));
}

#define NO_LINKS (RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)

/* DATA/home: root's, not writable by anyone else, so that what is in it was
 * put there by wardd. The tenant owns DATA and could swap it: then it is no
 * longer root's, and sessions are refused until an operator looks. */
static int homes_open(const char *data_dir, const struct ward_tenant *t, struct ward_err *err)
{
	_cleanup_close_ int data = -1;
	_cleanup_close_ int home = -1;
	struct stat st;
	bool made;

	data = openat2_fd(AT_FDCWD, data_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, NO_LINKS);
	if (data < 0)
		return ward_err_set(err, errno, "data directory %s", data_dir);
	if (fstat(data, &st) < 0)
		return ward_err_set(err, errno, "data directory %s", data_dir);
	if (st.st_uid != t->ids.uid || (st.st_mode & (S_IWGRP | S_IWOTH)))
		return ward_err_set(err, 0,
				    "data directory %s: must be the tenant's and not writable by "
				    "others",
				    data_dir);
	made = mkdirat(data, "home", 0755) == 0;
	if (!made && errno != EEXIST)
		return ward_err_set(err, errno, "mkdir %s/home", data_dir);
	home = openat2_fd(data, "home", O_RDONLY | O_DIRECTORY | O_NOFOLLOW,
			  RESOLVE_BENEATH | NO_LINKS);
	if (home < 0)
		return ward_err_set(err, errno, "%s/home", data_dir);
	if (made && fchmod(home, 0755) < 0)
		return ward_err_set(err, errno, "chmod %s/home", data_dir);
	if (fstat(home, &st) < 0)
		return ward_err_set(err, errno, "%s/home", data_dir);
	if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)))
		return ward_err_set(err, 0,
				    "%s/home: owned by uid %u, mode %03o: it must be root's and "
				    "not writable by others",
				    data_dir, (unsigned)st.st_uid, (unsigned)(st.st_mode & 0777));
	return TAKE_FD(home);
}

/* The user's home, DATA/home/USER, owned by their session uid: made on the
 * first logon. Refused when its owner is not that uid, or when another home
 * has that owner (two users whose uids collide in the tenant's range).
 * Returns an O_PATH fd of it, or -1 with err. */
static int home_open(const char *data_dir, const struct ward_tenant *t, const char *user,
		     uid_t suid, struct ward_err *err)
{
	_cleanup_close_ int homes = homes_open(data_dir, t, err);
	_cleanup_close_ int fd = -1;
	_cleanup_closedir_ DIR *d = NULL;
	struct dirent *de;
	bool found = false;

	if (homes < 0)
		return -1;
	fd = fcntl(homes, F_DUPFD_CLOEXEC, 3);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d)
		return ward_err_set(err, errno, "%s/home", data_dir);
	fd = -1; /* the DIR has it */
	while ((errno = 0, de = readdir(d))) {
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    fstatat(homes, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (strcmp(de->d_name, user) == 0) {
			found = true;
			if (!S_ISDIR(st.st_mode) || st.st_uid != suid)
				return ward_err_set(err, 0,
						    "home %s/home/%s: owned by uid %u, expected "
						    "%u",
						    data_dir, user, (unsigned)st.st_uid,
						    (unsigned)suid);
		} else if (st.st_uid == suid) {
			return ward_err_set(err, 0,
					    "session uid %u is also the owner of the home of "
					    "\"%s\": the users' uids collide in the tenant's range",
					    (unsigned)suid, de->d_name);
		}
	}
	if (!found) {
		_cleanup_close_ int h = -1;

		if (mkdirat(homes, user, 0700) < 0)
			return ward_err_set(err, errno, "mkdir %s/home/%s", data_dir, user);
		h = openat2_fd(homes, user, O_RDONLY | O_DIRECTORY | O_NOFOLLOW,
			       RESOLVE_BENEATH | NO_LINKS);
		if (h < 0 || fchown(h, suid, t->ids.uid) < 0 || fchmod(h, 0700) < 0)
			return ward_err_set(err, errno, "home %s/home/%s", data_dir, user);
	}
	fd = openat2_fd(homes, user, O_PATH | O_DIRECTORY | O_NOFOLLOW, RESOLVE_BENEATH | NO_LINKS);
	if (fd < 0)
		return ward_err_set(err, errno, "home %s/home/%s", data_dir, user);
	return TAKE_FD(fd);
}

static void strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

static bool env_ours(const char *entry)
{
	static const char *const ours[] = {"HOME=", "USER=", "LOGNAME=", "TERM="};

	for (size_t i = 0; i < ARRAY_SIZE(ours); i++)
		if (strncmp(entry, ours[i], strlen(ours[i])) == 0)
			return true;
	return false;
}

/* The policy's environment with the session's HOME, USER, LOGNAME and TERM. */
static char **session_env(const struct ward_policy *p, const char *user, const char *home,
			  const char *term)
{
	char **env = calloc(p->n_env + 5, sizeof(*env));
	size_t n = 0;

	if (!env)
		return NULL;
	for (size_t i = 0; i < p->n_env; i++)
		if (!env_ours(p->env[i]) && !(env[n++] = strdup(p->env[i])))
			goto fail;
	if (asprintf(&env[n++], "HOME=%s", home) < 0 || asprintf(&env[n++], "USER=%s", user) < 0 ||
	    asprintf(&env[n++], "LOGNAME=%s", user) < 0)
		goto fail;
	if (term && *term && asprintf(&env[n++], "TERM=%s", term) < 0)
		goto fail;
	return env;
fail:
	if (n)
		env[n - 1] = NULL; /* asprintf leaves it undefined on failure */
	strv_free(env);
	return NULL;
}

/* The session's stdio. With a terminal, the pty the join makes (stdio is
 * unused: /dev/null). Without, three fresh pipes: the session gets one end
 * of each, the client the other (sent with the "ok"), and wardd keeps
 * none: it never reads or writes anything a client can reach, so nothing
 * a client does to an open file (clear O_NONBLOCK, stop reading, splice
 * from a FUSE file with the pipe's lock held) can hold up the loop. */
static int stdio_prepare(struct session *s, int stdio[3], struct ward_err *err)
{
	for (int i = 0; i < 3; i++) {
		int p[2];

		stdio[i] = -1;
		if (s->req.tty) {
			stdio[i] = s->ss->devnull;
			continue;
		}
		if (pipe2(p, O_CLOEXEC) < 0)
			return ward_err_set(err, errno, "pipe");
		/* stdin: the client writes, the session reads; stdout and
		 * stderr the other way. */
		s->cl.pass[s->cl.n_pass++] = i == 0 ? p[1] : p[0];
		stdio[i] = i == 0 ? p[0] : p[1];
	}
	return 0;
}

/* The session's ends: the join child has its own copies by now (or failed),
 * and ours would hold the session's stdout open after it is gone. */
static void stdio_close_theirs(struct session *s, const int stdio[3])
{
	for (int i = 0; i < 3; i++)
		if (stdio[i] >= 0 && stdio[i] != s->ss->devnull)
			close(stdio[i]);
}

static void new_id(struct session_server *ss, char id[SESSION_ID_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char r[SESSION_ID_LEN / 2];
	char cand[SESSION_ID_LEN + 1];

	for (;;) {
		bool taken = false;

		if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
			/* Not secret, only unique: the clock will do. */
			uint64_t t = loop_now_ms() ^ (uint64_t)getpid() << 32;
			memcpy(r, &t, sizeof(r));
		}
		for (size_t i = 0; i < sizeof(r); i++) {
			cand[2 * i] = hex[r[i] >> 4];
			cand[2 * i + 1] = hex[r[i] & 15];
		}
		cand[SESSION_ID_LEN] = '\0';
		for (struct session *o = ss->sessions; o; o = o->next)
			taken = taken || strcmp(o->id, cand) == 0;
		if (!taken) {
			memcpy(id, cand, sizeof(cand));
			return;
		}
	}
}

/* The session's uid (see session_uid_for) and name, checked against the
 * other live sessions of the tenant. */
static int session_identity(struct session *s, const struct ward_tenant *t, struct ward_err *err)
{
	if (session_uid_for(&t->ids, s->peer.uid, &s->suid) < 0)
		return ward_err_set(err, 0, "ids.count %u leaves no uids for sessions (needs > %d)",
				    t->ids.count, SESSION_UID_OFFSET);
	for (struct session *o = s->ss->sessions; o; o = o->next)
		if (o != s && session_counted(o) && strcmp(o->tenant, t->name) == 0 &&
		    o->suid == s->suid && o->peer.uid != s->peer.uid)
			return ward_err_set(err, 0,
					    "session uid %u is in use by \"%s\": the users' uids "
					    "collide in the tenant's range",
					    (unsigned)s->suid, o->peer.user);
	if (!session_user_name_valid(s->peer.user))
		return ward_err_set(err, 0, "user name \"%s\" cannot name a home directory",
				    s->peer.user);
	return 0;
}

/* Whether the sandbox has a user namespace of its own: what runs tells, not
 * the profile, which a reload may have changed since. The init is our
 * child, unreaped while its pidfd is in the view: its pid is its own. */
static int has_own_userns(const struct service_view *view, bool *own, struct ward_err *err)
{
	char path[64];
	struct stat a, b;

	(void)snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)view->init_pid);
	if (stat(path, &a) < 0 || stat("/proc/self/ns/user", &b) < 0)
		return ward_err_set(err, errno, "user namespace of %s/%s", view->tenant->name,
				    view->service->name);
	*own = a.st_ino != b.st_ino || a.st_dev != b.st_dev;
	return 0;
}

/* Watches the join and the service: a session whose end could not be seen
 * could not be ended either, so none at all (the caller kills its cgroup). */
static int session_watch(struct session *s, const struct service_view *view, struct ward_err *err)
{
	struct loop *l = s->ss->loop;

	s->join.svc_pidfd = fcntl(view->init_pidfd, F_DUPFD_CLOEXEC, 3);
	s->join.svc_pid = view->init_pid;
	if (fcntl(s->join.h.sync_fd, F_SETFL, O_NONBLOCK) == 0 && s->join.svc_pidfd >= 0 &&
	    loop_add_fd(l, s->join.h.sync_fd, EPOLLIN, session_on_sync, s) == 0 &&
	    loop_add_fd(l, s->join.h.pidfd, EPOLLIN, session_on_join_exit, s) == 0 &&
	    loop_add_fd(l, s->join.svc_pidfd, EPOLLIN, session_on_service_gone, s) == 0)
		return 0;
	loop_del_fd(l, s->join.h.sync_fd);
	loop_del_fd(l, s->join.h.pidfd);
	launch_signal(&s->join.h, SIGKILL);
	launch_release(&s->join.h);
	if (s->join.svc_pidfd >= 0) {
		loop_del_fd(l, s->join.svc_pidfd);
		close(s->join.svc_pidfd);
	}
	s->join.svc_pidfd = -1;
	return ward_err_set(err, ENOMEM, "watching the session");
}

/* A join that hangs (a host path of the policy on a dead NFS server, say)
 * must not hold a slot for ever: refused as a policy error. */
static void on_start_timeout(struct loop *l, void *ud)
{
	struct session *s = ud;

	(void)l;
	s->timer = NULL;
	(void)snprintf(s->join.fail, sizeof(s->join.fail), "the session did not start within %d s",
		       SESSION_START_MS / 1000);
	session_kill_all(s);
	session_settle(s);
}

/* Everything that happens between "let in" and the join running: returns
 * 0 (state S_STARTING) or -1 with err (nothing left behind). */
int session_start(struct session *s, const struct ward_tenant *t, const struct service_view *view,
		  struct ward_err *err)
{
	struct session_server *ss = s->ss;
	const struct ward_sessions *ws = &t->sessions;
	struct launch_paths paths;
	char home[128], cgname[64];
	_cleanup_(seccomp_program_freep) struct seccomp_program prog = {0};
	_cleanup_close_ int home_fd = -1;
	char **env = NULL;
	int stdio[3] = {-1, -1, -1};
	bool join_user = true;
	int r = -1;

	/* What this reads of the profile must not outlive the turn: the
	 * join's child gets its own copy of all of it. */
	if (session_identity(s, t, err) < 0 || has_own_userns(view, &join_user, err) < 0)
		return -1;
	/* The same preparation as the services' (daemon/prepare). */
	if (prepare_paths(ss->cfg->data_dir, ss->cfg->state_dir, t->name, &paths, err) < 0)
		return -1;
	if (snprintf(home, sizeof(home), "/home/%s", s->peer.user) >= (int)sizeof(home))
		return ward_err_set(err, ENAMETOOLONG, "paths");
	home_fd = home_open(paths.data_dir, t, s->peer.user, s->suid, err);
	if (home_fd < 0)
		return -1;
	if (prepare_seccomp(&ws->policy, paths.cache_dir, &prog, err) < 0)
		return ward_err_wrap(err, "seccomp");
	env = session_env(&ws->policy, s->peer.user, home, s->req.tty ? s->req.term : NULL);
	if (!env) {
		ward_err_set(err, ENOMEM, "environment");
		goto out;
	}
	new_id(ss, s->id);
	(void)snprintf(cgname, sizeof(cgname), "session.%s", s->id);
	/* Fail closed: without its limits the session does not run. */
	s->join.cg = cgroup_create(t->name, cgname, &ws->policy.limits, err);
	if (!s->join.cg) {
		ward_err_wrap(err, "cgroup");
		goto out;
	}
	if (stdio_prepare(s, stdio, err) < 0)
		goto out;
	{
		const struct launch_join_spec spec = {
		    .tenant = t,
		    .policy = &ws->policy,
		    .argv = ws->exec,
		    .envp = env,
		    .init_pidfd = view->init_pidfd,
		    .join_user = join_user,
		    .uid = s->suid,
		    .gid = t->ids.uid,
		    .home = home,
		    .home_fd = home_fd,
		    .data_dir = paths.data_dir,
		    .seccomp = &prog,
		    .cgroup = s->join.cg,
		    .tty = s->req.tty,
		    .rows = s->req.rows,
		    .cols = s->req.cols,
		    .stdio = {stdio[0], stdio[1], stdio[2]},
		};
		if (launch_join(&spec, &s->join.h, err) < 0)
			goto out;
	}
	if (session_watch(s, view, err) < 0)
		goto out;
	s->state = S_STARTING;
	s->timer = loop_timer_add(ss->loop, SESSION_START_MS, on_start_timeout, s);
	s->started_ms = loop_now_ms();
	s->started_wall = time(NULL);
	s->idle_timeout_s = ws->idle_timeout_s;
	r = 0;
out:
	stdio_close_theirs(s, stdio);
	if (r < 0 && s->join.cg) {
		struct ward_err e2 = {0};

		(void)cgroup_destroy(s->join.cg, &e2);
		s->join.cg = NULL;
	}
	if (r < 0)
		s->id[0] = '\0';
	strv_free(env);
	return r;
}
