/* The listening unix sockets of the daemon (see listener.h). Nothing here
 * blocks: the socket is non-blocking, and only the daemon's own file is
 * stat'ed, never anything a client hands in. */
#include "basic/listener.h"
#include "basic/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "basic/cleanup.h"

/* Linux 6.16: a receiver that turns it off makes the kernel refuse
 * SCM_RIGHTS sent to it (EPERM to the sender). Not in every libc yet. */
#ifndef SO_PASSRIGHTS
#define SO_PASSRIGHTS 83
#endif

#define ACCEPT_RETRY_MS 100

struct listener {
	struct loop *loop;
	int fd;
	struct listener_opts opts;
	char name[32];
	char path[sizeof(((struct sockaddr_un *)NULL)->sun_path)];
	listener_fn fn;
	void *ud;
	struct loop_timer *accept_retry;
};

int listener_remove_stale(const char *path, struct ward_err *err)
{
	struct stat st;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return ward_err_set(err, errno, "lstat %s", path);
	}
	if (!S_ISSOCK(st.st_mode))
		return ward_err_set(err, 0, "%s exists and is not a socket: not replacing it",
				    path);
	if (unlink(path) < 0 && errno != ENOENT)
		return ward_err_set(err, errno, "remove stale %s", path);
	return 0;
}

static int set_access(const char *path, gid_t gid, mode_t mode, struct ward_err *err)
{
	if (gid != (gid_t)-1 && fchownat(AT_FDCWD, path, (uid_t)-1, gid, AT_SYMLINK_NOFOLLOW) < 0)
		return ward_err_set(err, errno, "chown %s", path);
	/* Only now that the group is right may the group get in. */
	if (fchmodat(AT_FDCWD, path, mode, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOTSUP && errno != EOPNOTSUPP)
			return ward_err_set(err, errno, "chmod %s", path);
		if (chmod(path, mode) < 0) /* no /proc for the no-follow path */
			return ward_err_set(err, errno, "chmod %s", path);
	}
	return 0;
}

/* The bound, listening socket at path, its file final; or -1 with err (no
 * file left behind). */
static int socket_make(const char *path, const struct listener_opts *o, struct ward_err *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	_cleanup_close_ int fd = -1;
	mode_t old_mask;
	int r, e;

	if (strlen(path) >= sizeof(sa.sun_path))
		return ward_err_set(err, ENAMETOOLONG, "%s socket %s", o->name, path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (listener_remove_stale(path, err) < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return ward_err_set(err, errno, "%s socket", o->name);
	/* Clients pass no descriptors. Where the kernel knows SO_PASSRIGHTS
	 * (6.16+; every accepted socket inherits it, also for what a client
	 * sends before we accept), it refuses them to the sender; elsewhere
	 * the reader drops them without installing them. Either way no fd of
	 * a client's ever reaches our table. */
	if (o->no_passrights &&
	    setsockopt(fd, SOL_SOCKET, SO_PASSRIGHTS, &(int){0}, sizeof(int)) < 0 &&
	    errno != ENOPROTOOPT && errno != EINVAL)
		log_msg("%s: SO_PASSRIGHTS: %s", o->name, strerror(errno));
	/* Born 0600: nobody connects before owner and mode are final. */
	old_mask = umask(0177);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	e = errno;
	umask(old_mask);
	if (r < 0)
		return ward_err_set(err, e, "bind %s", path);
	if (set_access(path, o->gid, o->mode, err) < 0) {
		unlink(path);
		return -1;
	}
	if (listen(fd, o->backlog) < 0) {
		ward_err_set(err, errno, "listen %s", path);
		unlink(path);
		return -1;
	}
	return TAKE_FD(fd);
}

static void accept_resume(struct loop *l, void *ud)
{
	struct listener *li = ud;

	li->accept_retry = NULL; /* the loop frees a timer that fired */
	loop_mod_fd(l, li->fd, EPOLLIN);
}

static void on_accept(struct loop *l, int fd, uint32_t events, void *ud)
{
	struct listener *li = ud;

	(void)fd;
	(void)events;
	for (int i = 0; i < li->opts.per_turn && li->fd >= 0; i++) {
		int cfd = accept4(li->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			log_msg("%s: accept: %s", li->name, strerror(errno));
			/* Out of fds or memory: the socket stays readable, so stop
			 * watching it for a moment instead of spinning. */
			if (!li->accept_retry && loop_mod_fd(l, li->fd, 0) == 0) {
				li->accept_retry =
				    loop_timer_add(l, ACCEPT_RETRY_MS, accept_resume, li);
				if (!li->accept_retry)
					loop_mod_fd(l, li->fd, EPOLLIN);
			}
			return;
		}
		li->fn(cfd, li->ud);
	}
}

struct listener *listener_new(struct loop *loop, const char *path, const struct listener_opts *opts,
			      listener_fn fn, void *ud, struct ward_err *err)
{
	_cleanup_close_ int fd = socket_make(path, opts, err);
	struct listener *li;
	int r;

	if (fd < 0)
		return NULL;
	li = calloc(1, sizeof(*li));
	if (!li) {
		unlink(path);
		ward_err_set(err, ENOMEM, "%s", opts->name);
		return NULL;
	}
	*li = (struct listener){.loop = loop, .fd = -1, .opts = *opts, .fn = fn, .ud = ud};
	(void)snprintf(li->name, sizeof(li->name), "%s", opts->name);
	li->opts.name = li->name;
	memcpy(li->path, path, strlen(path) + 1); /* fits: socket_make checked */
	r = loop_add_fd(loop, fd, EPOLLIN, on_accept, li);
	if (r < 0) {
		ward_err_set(err, -r, "%s: watch %s", li->name, li->path);
		unlink(path);
		free(li);
		return NULL;
	}
	li->fd = TAKE_FD(fd);
	return li;
}

void listener_close(struct listener *li)
{
	if (!li || li->fd < 0)
		return;
	loop_timer_cancel(li->loop, li->accept_retry);
	li->accept_retry = NULL;
	loop_del_fd(li->loop, li->fd);
	close(li->fd);
	li->fd = -1;
	unlink(li->path);
}

void listener_free(struct listener *li)
{
	listener_close(li);
	free(li);
}
