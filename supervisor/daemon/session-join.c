/* Sessions: the running session. The join child's events (its pid, the
 * pty's master, running, exit), the idle clock, and the end: SIGHUP then
 * SIGKILL to its cgroup, the end audited once its processes are gone. */
#include "daemon/session-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "basic/cleanup.h"
#include "basic/log.h"

/* task->flags bit set as a task starts to exit (the kernel's PF_EXITING,
 * not in the uAPI headers; field 9 of /proc/PID/stat shows the flags). */
#define PF_EXITING_FLAG 0x00000004UL

void session_timer_clear(struct session *s)
{
	loop_timer_cancel(s->ss->loop, s->timer);
	s->timer = NULL;
}

void session_kill_all(struct session *s)
{
	struct ward_err err = {0};

	if (!s->join.cg)
		return;
	s->join.killed = true;
	if (cgroup_kill(s->join.cg, &err) < 0)
		log_msg("session %s: %s", s->id, err.msg);
}

static void on_grace(struct loop *l, void *ud)
{
	struct session *s = ud;

	(void)l;
	s->timer = NULL;
	session_kill_all(s);
}

/* Ends a session that was let in: SIGHUP first where a user could still
 * save their work, SIGKILL to the whole cgroup otherwise or after the
 * grace. Its end is audited once its processes are gone (session_join_gone). */
void session_terminate(struct session *s, const char *reason)
{
	if (s->state != S_RUNNING && s->state != S_STARTING && s->state != S_ENDING)
		return;
	if (!s->end_reason)
		s->end_reason = reason;
	if (s->state == S_ENDING && strcmp(reason, "kicked") != 0 &&
	    strcmp(reason, "daemon-stop") != 0)
		return;
	s->state = S_ENDING;
	loop_timer_cancel(s->ss->loop, s->idle);
	s->idle = NULL;
	if (strcmp(reason, "idle") == 0 || strcmp(reason, "disconnected") == 0) {
		launch_signal(&s->join.h, SIGHUP);
		session_timer_clear(s); /* the start timeout, if it was still starting */
		s->timer = loop_timer_add(s->ss->loop, SESSION_GRACE_MS, on_grace, s);
		if (s->timer)
			return;
	}
	session_timer_clear(s);
	session_kill_all(s);
}

static void send_end(struct session *s)
{
	int code = session_status_code(s);

	session_reply(s, json_pack("{s:s, s:o, s:s}", "event", "end", "status",
				   code >= 0 ? json_integer(code) : json_null(), "reason",
				   s->end_reason ? s->end_reason : "exited"));
	s->state = S_CLOSING;
}

static void read_events(struct session *s);

/* Whether the service's init is exiting, or gone. Its pidfd turns readable
 * only once the init has waited out every process of its pid namespace,
 * the session's program among them, reaped by the join outside: the join's
 * exit can come first. PF_EXITING is set on the init before it tears its
 * namespace down. The pidfd is asked first: while it is unreadable the init
 * is our unreaped child, so its pid is still its own. */
static bool service_ending(const struct session *s)
{
	struct pollfd p = {.fd = s->join.svc_pidfd, .events = POLLIN};
	char path[64], buf[512];
	unsigned long flags;
	const char *after;
	char *end;
	_cleanup_close_ int fd = -1;
	ssize_t n;

	if (s->join.svc_pidfd < 0)
		return false;
	if (poll(&p, 1, 0) != 0)
		return true; /* exited, or the pidfd fails: either way not ours */
	(void)snprintf(path, sizeof(path), "/proc/%d/stat", (int)s->join.svc_pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return true;
	buf[n] = '\0';
	/* pid (comm) state ppid pgrp session tty_nr tpgid flags: comm may hold
	 * anything, so the fields count from its last ')'. */
	after = strrchr(buf, ')');
	for (int field = 0; after && field < 7; field++)
		after = strchr(after + 1, ' ');
	if (!after)
		return false;
	errno = 0;
	flags = strtoul(after + 1, &end, 10);
	if (errno || end == after + 1 || *end != ' ')
		return false;
	return (flags & PF_EXITING_FLAG) != 0;
}

/* The join child is gone, and with it (cgroup killed) every process of the
 * session: audit the end and let the last output through. */
void session_join_gone(struct session *s)
{
	struct ward_err err = {0};

	read_events(s);
	/* The service stopping killed the program: its end says so, whichever
	 * of the two exits the loop saw first. */
	if (!s->end_reason && (s->state == S_RUNNING || s->state == S_STARTING) &&
	    service_ending(s))
		s->end_reason = "service-stopped";
	if (s->join.h.sync_fd >= 0)
		loop_del_fd(s->ss->loop, s->join.h.sync_fd);
	if (s->join.h.pidfd >= 0)
		loop_del_fd(s->ss->loop, s->join.h.pidfd);
	launch_release(&s->join.h);
	if (s->join.svc_pidfd >= 0) {
		loop_del_fd(s->ss->loop, s->join.svc_pidfd);
		close(s->join.svc_pidfd);
		s->join.svc_pidfd = -1;
	}
	loop_timer_cancel(s->ss->loop, s->idle);
	s->idle = NULL;
	session_timer_clear(s);
	/* Whatever the program left behind (jobs in the background, orphans
	 * the service's init adopted) goes with its cgroup. */
	if (s->join.cg) {
		if (cgroup_destroy(s->join.cg, &err) < 0)
			log_msg("session %s: %s", s->id, err.msg);
		s->join.cg = NULL;
	}
	if (!s->admitted) {
		char reason[sizeof(s->join.fail) + 32];

		if (s->join.fail[0])
			(void)snprintf(reason, sizeof(reason), "policy error: %s", s->join.fail);
		else if (s->end_reason && strcmp(s->end_reason, "service-stopped") == 0)
			(void)snprintf(reason, sizeof(reason), "practice stopped");
		else if (s->end_reason)
			(void)snprintf(reason, sizeof(reason), "ended before it ran: %s",
				       s->end_reason);
		else
			(void)snprintf(reason, sizeof(reason),
				       "policy error: the session ended before it ran");
		session_refuse(s, reason);
		return;
	}
	session_audit_end(s);
	/* The session's last output is in the pipes or the pty, which the
	 * client holds: it reads them to their end after this line. */
	send_end(s);
}

static void on_idle(struct loop *l, void *ud)
{
	struct session *s = ud;
	uint64_t now = loop_now_ms(), limit = (uint64_t)s->idle_timeout_s * 1000;

	(void)l;
	s->idle = NULL;
	if (now - s->last_input_ms >= limit) {
		session_terminate(s, "idle");
		session_settle(s);
		return;
	}
	s->idle = loop_timer_add(s->ss->loop, limit - (now - s->last_input_ms), on_idle, s);
}

static void session_running(struct session *s)
{
	session_timer_clear(s);
	s->state = S_RUNNING;
	s->admitted = true;
	s->last_input_ms = loop_now_ms();
	session_audit_logon(s, "allowed", NULL);
	session_reply(s, json_pack("{s:b, s:s, s:s, s:o}", "ok", 1, "session", s->id, "tenant",
				   s->tenant, "display_name", session_json_str(s->display_name)));
	if (s->idle_timeout_s)
		s->idle =
		    loop_timer_add(s->ss->loop, (uint64_t)s->idle_timeout_s * 1000, on_idle, s);
}

static void read_events(struct session *s)
{
	struct launch_event ev;

	while (s->join.h.sync_fd >= 0 && launch_read_event(&s->join.h, &ev) == 0) {
		switch (ev.kind) {
		case LAUNCH_EVENT_PID:
			s->join.pid = ev.pid;
			if (ev.fd >= 0 && (!s->req.tty || s->join.got_master)) {
				close(ev.fd);
			} else if (ev.fd >= 0) {
				/* For the client, with the "ok": wardd itself
				 * never touches it (the client owns its flags). */
				s->cl.pass[s->cl.n_pass++] = ev.fd;
				s->join.got_master = true;
			}
			break;
		case LAUNCH_EVENT_RUNNING:
			if (s->state == S_STARTING && (!s->req.tty || s->join.got_master))
				session_running(s);
			break;
		case LAUNCH_EVENT_FAILED:
			(void)snprintf(s->join.fail, sizeof(s->join.fail), "%s", ev.message);
			break;
		case LAUNCH_EVENT_EXITED:
			s->join.exit_seen = true;
			s->join.exit_status = ev.status;
			break;
		case LAUNCH_EVENT_GONE:
			loop_del_fd(s->ss->loop, s->join.h.sync_fd);
			close(s->join.h.sync_fd);
			s->join.h.sync_fd = -1;
			return;
		}
	}
}

void session_on_sync(struct loop *l, int fd, uint32_t events, void *ud)
{
	struct session *s = ud;

	(void)l;
	(void)fd;
	(void)events;
	read_events(s);
	session_settle(s);
}

void session_on_join_exit(struct loop *l, int fd, uint32_t events, void *ud)
{
	struct session *s = ud;
	pid_t r;

	(void)l;
	(void)fd;
	(void)events;
	r = waitpid(s->join.h.pid, NULL, WNOHANG);
	if (r == 0 || (r < 0 && errno != ECHILD))
		return;
	s->join.h.pid = -1; /* reaped */
	session_join_gone(s);
	session_settle(s);
}

void session_on_service_gone(struct loop *l, int fd, uint32_t events, void *ud)
{
	struct session *s = ud;

	(void)l;
	(void)events;
	loop_del_fd(s->ss->loop, fd);
	close(fd);
	s->join.svc_pidfd = -1;
	/* Its pid namespace took the session along; the cgroup makes sure. */
	session_terminate(s, "service-stopped");
	session_settle(s);
}
