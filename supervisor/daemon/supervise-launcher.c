/* The real launcher (supervise.h): sandboxes from launch.c, watched on the
 * loop (the init's events on its socket, its exit on its pidfd), cgroups
 * from cgroup.c. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/supervise.h"

static void unwatch(struct sandbox *sb)
{
	if (sb->h.sync_fd >= 0)
		loop_del_fd(sb->loop, sb->h.sync_fd);
	if (sb->h.pidfd >= 0)
		loop_del_fd(sb->loop, sb->h.pidfd);
}

static void read_events(struct sandbox *sb)
{
	struct launch_event ev;

	/* The socket is non-blocking: only what is there now. */
	while (sb->h.sync_fd >= 0 && launch_read_event(&sb->h, &ev) == 0) {
		if (ev.kind == LAUNCH_EVENT_GONE) {
			loop_del_fd(sb->loop, sb->h.sync_fd);
			close(sb->h.sync_fd);
			sb->h.sync_fd = -1;
		}
		sb->event(sb, &ev);
		if (ev.kind == LAUNCH_EVENT_GONE)
			return;
	}
}

static void on_sync(struct loop *l, int fd, uint32_t events, void *ud)
{
	(void)l;
	(void)fd;
	(void)events;
	read_events(ud);
}

static void on_pidfd(struct loop *l, int fd, uint32_t events, void *ud)
{
	struct sandbox *sb = ud;
	int st = 0;
	pid_t r;

	(void)l;
	(void)fd;
	(void)events;
	r = waitpid(sb->h.pid, &st, WNOHANG);
	if (r == 0)
		return;
	if (r < 0 && errno != ECHILD)
		return;
	/* The init's last words may sit in the socket still. */
	read_events(sb);
	unwatch(sb);
	sb->h.pid = -1; /* already reaped */
	launch_release(&sb->h);
	sb->gone(sb, st);
}

/* The init's socket and pidfd on the loop: 0, or -errno. */
static int watch(struct sandbox *sb)
{
	int r;

	if (fcntl(sb->h.sync_fd, F_SETFL, O_NONBLOCK) < 0)
		return -errno;
	r = loop_add_fd(sb->loop, sb->h.sync_fd, EPOLLIN, on_sync, sb);
	if (r < 0)
		return r;
	return loop_add_fd(sb->loop, sb->h.pidfd, EPOLLIN, on_pidfd, sb);
}

static int real_start(struct sandbox *sb, const struct launch_spec *spec, struct ward_err *err)
{
	int r;

	if (launch_start(spec, &sb->h, err) < 0)
		return -1;
	r = watch(sb);
	if (r < 0) {
		/* Without its events the sandbox cannot be supervised. */
		loop_del_fd(sb->loop, sb->h.sync_fd);
		launch_signal(&sb->h, SIGKILL);
		launch_release(&sb->h);
		return ward_err_set(err, -r, "watching the sandbox");
	}
	return 0;
}

static int real_signal(struct sandbox *sb, int sig)
{
	return launch_signal(&sb->h, sig);
}

static void real_release(struct sandbox *sb)
{
	unwatch(sb);
	if (sb->h.pid > 0)
		launch_signal(&sb->h, SIGKILL);
	launch_release(&sb->h);
}

const struct supervisor_launcher supervisor_real_launcher = {
    .start = real_start,
    .signal = real_signal,
    .release = real_release,
    .cgroup_create = cgroup_create,
    .cgroup_destroy = cgroup_destroy,
    .cgroup_stats = cgroup_stats,
    .cgroup_kill = cgroup_kill,
    .tenant_limits = cgroup_tenant_apply,
};
