/* End-user sessions: the server. The session socket and its clients'
 * lives, from accept to the last line sent; the audit records of logons
 * and ends; the list and kick of `wardctl sessions`. Who the user is, the
 * logon decision, the start, the running session and the client's bytes
 * live beside it (session-internal.h says which file has what). wardd
 * takes no descriptor from a client and does no I/O on anything a client
 * can reach but the client's socket itself. Nothing here blocks the loop
 * but the short steps a logon takes (the home, the cgroup) and the kill
 * of a session's cgroup; who the user is comes from the name service
 * through userdb, off the loop. */
#include "daemon/session-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "basic/listener.h"
#include "basic/log.h"
#include "basic/text.h"

#define SESSION_BACKLOG          64
#define SESSION_ACCEPTS_PER_TURN 16
#define SESSION_MAX_CONNS        512 /* clients at once: asking, or in a session */
#define SESSION_MAX_PENDING      8   /* clients of one uid that have not asked yet */

const char *session_state_to_string(enum session_state st)
{
	switch (st) {
	case S_REQUEST:
		return "request";
	case S_STARTING:
		return "starting";
	case S_RUNNING:
		return "running";
	case S_ENDING:
		return "ending";
	case S_CLOSING:
		return "closing";
	}
	return "unknown";
}

bool session_counted(const struct session *s)
{
	return s->state == S_STARTING || s->state == S_RUNNING || s->state == S_ENDING;
}

/* Its request not taken yet (not waiting for the name service with one). */
bool session_asking(const struct session *s)
{
	return s->state == S_REQUEST && !s->cl.req_waiting;
}

/* A JSON string of a name the system gave us (a user, a terminal, a remote
 * host): invalid UTF-8 becomes U+FFFD, and one that needed that is cut at
 * SYSTEM_NAME_MAX bytes. */
enum { SYSTEM_NAME_MAX = 255 };

json_t *session_json_str(const char *s)
{
	char buf[3 * SYSTEM_NAME_MAX];
	size_t len, n;
	json_t *j;

	if (!s || !*s)
		return json_null();
	j = json_string(s);
	if (j)
		return j;
	len = strlen(s);
	n = text_utf8_lossy(s, len < SYSTEM_NAME_MAX ? len : SYSTEM_NAME_MAX, buf);
	return json_stringn(buf, text_utf8_cut(buf, n, SYSTEM_NAME_MAX));
}

static void format_time(time_t t, char *buf, size_t size)
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		(void)snprintf(buf, size, "%lld", (long long)t);
}

int session_status_code(const struct session *s)
{
	if (s->join.exit_seen)
		return launch_exit_code(s->join.exit_status);
	return s->join.killed ? 128 + SIGKILL : -1;
}

void session_audit_logon(struct session *s, const char *verdict, const char *reason)
{
	json_t *f = json_object();

	if (!f) {
		log_msg("audit: out of memory");
		return;
	}
	json_object_set_new(f, "verdict", json_string(verdict));
	json_object_set_new(f, "reason", session_json_str(reason));
	json_object_set_new(f, "user", session_json_str(s->peer.user));
	json_object_set_new(f, "uid", json_integer(s->peer.uid));
	json_object_set_new(f, "pid", json_integer(s->peer.pid));
	json_object_set_new(f, "tty", session_json_str(s->tty_name));
	/* What the client said of its SSH connection: a claim, checked for
	 * form only. */
	json_object_set_new(f, "remote", session_json_str(s->req.remote));
	json_object_set_new(f, "tenant", session_json_str(s->tenant));
	json_object_set_new(f, "service", session_json_str(s->service));
	json_object_set_new(f, "session", session_json_str(s->id));
	json_object_set_new(f, "session_uid",
			    s->state == S_RUNNING ? json_integer(s->suid) : json_null());
	/* Any local user can be refused at will: rate limited per uid (a
	 * summary counts the rest). A logon let in is always recorded. */
	if (strcmp(verdict, "refused") == 0)
		audit_refused(s->ss->audit, s->peer.uid, "session-logon", f);
	else
		audit_event(s->ss->audit, "session-logon", f);
}

void session_audit_end(struct session *s)
{
	int code = session_status_code(s);
	uint64_t ms = loop_now_ms() - s->started_ms;

	audit_event(s->ss->audit, "session-end",
		    json_pack("{s:s, s:s, s:o, s:i, s:i, s:I, s:o, s:s}", "session", s->id,
			      "tenant", s->tenant, "user", session_json_str(s->peer.user), "uid",
			      (int)s->peer.uid, "pid", (int)s->join.pid, "duration_s",
			      (json_int_t)(ms / 1000), "status",
			      code >= 0 ? json_integer(code) : json_null(), "reason",
			      s->end_reason ? s->end_reason : "exited"));
}

void session_free(struct session *s)
{
	struct session_server *ss = s->ss;

	if (s->prev)
		s->prev->next = s->next;
	else
		ss->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	ss->n_conns--;
	userdb_cancel(ss->udb, s->peer.lookup);
	free(s->peer.groups);
	if (s->cl.fd >= 0) {
		loop_del_fd(ss->loop, s->cl.fd);
		close(s->cl.fd);
	}
	session_pass_close(s);
	if (s->join.svc_pidfd >= 0) {
		loop_del_fd(ss->loop, s->join.svc_pidfd);
		close(s->join.svc_pidfd);
	}
	if (s->join.h.sync_fd >= 0)
		loop_del_fd(ss->loop, s->join.h.sync_fd);
	if (s->join.h.pidfd >= 0)
		loop_del_fd(ss->loop, s->join.h.pidfd);
	launch_release(&s->join.h);
	if (s->join.cg) {
		struct ward_err err = {0};

		if (cgroup_destroy(s->join.cg, &err) < 0)
			log_msg("session %s: %s", s->id, err.msg);
	}
	loop_timer_cancel(ss->loop, s->timer);
	loop_timer_cancel(ss->loop, s->idle);
	free(s->cl.in);
	outbuf_release(&s->cl.out);
	free(s);
}

/* After every event: moves a session on, and frees it when it is done.
 * Returns true if it was freed. */
bool session_settle(struct session *s)
{
	if (s->cl.gone && s->state == S_REQUEST && !s->cl.held[0])
		session_refuse_when_known(
		    s, s->cl.req_waiting ? "the client left during the logon"
					 : "malformed request: the client left before its request");
	/* Gone for good: a hung-up socket would otherwise report itself on
	 * every turn until the session is over. */
	if (s->cl.gone && s->cl.fd >= 0) {
		loop_del_fd(s->ss->loop, s->cl.fd);
		close(s->cl.fd);
		s->cl.fd = -1;
		outbuf_clear(&s->cl.out);
	}
	if (s->cl.gone && (s->state == S_RUNNING || s->state == S_STARTING))
		session_terminate(s, "disconnected");
	if (s->state == S_CLOSING) {
		session_sock_flush(s);
		if (!outbuf_pending(&s->cl.out) || s->cl.gone) {
			session_free(s);
			return true;
		}
	}
	session_sock_watch(s);
	return false;
}

static size_t pending_of(const struct session_server *ss, uid_t uid)
{
	size_t n = 0;

	for (const struct session *s = ss->sessions; s; s = s->next)
		n += s->state == S_REQUEST && s->peer.uid == uid;
	return n;
}

static void client_new(struct session_server *ss, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct session *s;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || len != sizeof(cred)) {
		close(fd);
		return;
	}
	/* One user cannot hold every slot by connecting and saying nothing. */
	if (pending_of(ss, cred.uid) >= SESSION_MAX_PENDING) {
		audit_refused(ss->audit, cred.uid, "session-logon",
			      json_pack("{s:s, s:s, s:i, s:i}", "verdict", "refused", "reason",
					"too many logons in progress", "uid", (int)cred.uid, "pid",
					(int)cred.pid));
		close(fd);
		return;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		close(fd);
		return;
	}
	s->ss = ss;
	s->cl.fd = fd;
	s->peer.pid = cred.pid;
	s->peer.uid = cred.uid;
	s->join.svc_pidfd = -1;
	s->join.h = (struct launch_handle){.pid = -1, .pidfd = -1, .sync_fd = -1};
	/* The number until the name service says (and if it cannot). */
	(void)snprintf(s->peer.user, sizeof(s->peer.user), "%u", (unsigned)cred.uid);
	s->peer.lookup = userdb_lookup(ss->udb, cred.uid, true, session_on_user, s);
	if (!s->peer.lookup)
		s->peer.lookup_err = ENOMEM;
	s->next = ss->sessions;
	if (ss->sessions)
		ss->sessions->prev = s;
	ss->sessions = s;
	ss->n_conns++;
	if (loop_add_fd(ss->loop, fd, EPOLLIN, session_on_sock, s) < 0) {
		s->cl.fd = -1;
		close(fd);
		session_free(s);
		return;
	}
	s->cl.events = EPOLLIN;
	s->timer = loop_timer_add(ss->loop, SESSION_REQUEST_MS, session_on_request_timeout, s);
	if (!s->timer)
		session_free(s);
}

/* A new connection (the listener's hook). */
static void on_accept(int cfd, void *ud)
{
	struct session_server *ss = ud;

	if (ss->n_conns >= SESSION_MAX_CONNS) {
		close(cfd);
		if (!ss->warned_full)
			log_msg("sessions: %d clients, refusing more", SESSION_MAX_CONNS);
		ss->warned_full = true;
		return;
	}
	ss->warned_full = false;
	client_new(ss, cfd);
}

struct session_server *session_server_new(const struct ward_config *cfg, struct loop *loop,
					  struct supervisor *sup, struct audit *audit,
					  struct userdb *udb, struct ward_err *err)
{
	/* Anyone may ask: the answer is decided here, by the kernel's word
	 * on who asks and the system's on their groups. Clients pass no
	 * descriptors (see sock_read). */
	static const struct listener_opts opts = {.name = "sessions",
						  .mode = 0666,
						  .gid = (gid_t)-1,
						  .backlog = SESSION_BACKLOG,
						  .per_turn = SESSION_ACCEPTS_PER_TURN,
						  .no_passrights = true};
	char path[sizeof(((struct sockaddr_un *)NULL)->sun_path)];
	struct session_server *ss;
	int n;

	n = snprintf(path, sizeof(path), "%s/session.sock", cfg->state_dir);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		ward_err_set(err, ENAMETOOLONG, "session socket %s/session.sock", cfg->state_dir);
		return NULL;
	}
	ss = calloc(1, sizeof(*ss));
	if (!ss) {
		ward_err_set(err, ENOMEM, "sessions");
		return NULL;
	}
	*ss = (struct session_server){
	    .cfg = cfg, .loop = loop, .sup = sup, .audit = audit, .udb = udb, .devnull = -1};
	ss->devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (ss->devnull < 0) {
		ward_err_set(err, errno, "sessions: /dev/null");
		free(ss);
		return NULL;
	}
	ss->listener = listener_new(loop, path, &opts, on_accept, ss, err);
	if (!ss->listener) {
		close(ss->devnull);
		free(ss);
		return NULL;
	}
	return ss;
}

/* Ends a session now, without waiting for the loop: the daemon stops. */
static void end_now(struct session *s)
{
	if (s->state == S_REQUEST) {
		session_refuse(s, "daemon stopping");
	} else if (session_counted(s)) {
		session_terminate(s, "daemon-stop");
		/* Killed: the join child goes at once; reap it here. */
		if (s->join.h.pid > 0) {
			while (waitpid(s->join.h.pid, NULL, 0) < 0 && errno == EINTR)
				;
			s->join.h.pid = -1;
		}
		session_join_gone(s);
	}
	session_sock_flush(s);
	if (s->state == S_CLOSING)
		session_free(s);
}

void session_server_shutdown(struct session_server *ss)
{
	if (!ss || ss->stopping)
		return;
	ss->stopping = true;
	listener_close(ss->listener);
	for (struct session *s = ss->sessions, *next; s; s = next) {
		next = s->next;
		end_now(s);
	}
}

void session_server_free(struct session_server *ss)
{
	if (!ss)
		return;
	session_server_shutdown(ss);
	while (ss->sessions)
		session_free(ss->sessions);
	listener_free(ss->listener);
	if (ss->devnull >= 0)
		close(ss->devnull);
	free(ss);
}

json_t *session_list(struct session_server *ss, const char *tenant, struct ward_err *err)
{
	json_t *a = json_array();
	uint64_t now = loop_now_ms();

	if (!a) {
		ward_err_set(err, ENOMEM, "sessions");
		return NULL;
	}
	for (struct session *s = ss->sessions; s; s = s->next) {
		char started[32];

		if (s->state != S_RUNNING && s->state != S_ENDING)
			continue;
		if (tenant && strcmp(s->tenant, tenant) != 0)
			continue;
		format_time(s->started_wall, started, sizeof(started));
		if (json_array_append_new(
			a, json_pack("{s:s, s:s, s:s, s:o, s:i, s:i, s:i, s:o, s:o, s:s, s:I}",
				     "id", s->id, "tenant", s->tenant, "service", s->service,
				     "user", session_json_str(s->peer.user), "uid",
				     (int)s->peer.uid, "session_uid", (int)s->suid, "pid",
				     (int)s->join.pid, "tty", session_json_str(s->tty_name),
				     "remote", session_json_str(s->req.remote), "started", started,
				     "idle_s", (json_int_t)((now - s->last_input_ms) / 1000))) <
		    0) {
			json_decref(a);
			ward_err_set(err, ENOMEM, "sessions");
			return NULL;
		}
	}
	return a;
}

int session_kick(struct session_server *ss, const char *id, const char *by, struct ward_err *err)
{
	for (struct session *s = ss->sessions; s; s = s->next) {
		if (!session_counted(s) || strcmp(s->id, id) != 0)
			continue;
		audit_event(ss->audit, "session-kick",
			    json_pack("{s:s, s:s, s:o, s:i, s:o}", "session", s->id, "tenant",
				      s->tenant, "user", session_json_str(s->peer.user), "uid",
				      (int)s->peer.uid, "by", session_json_str(by)));
		session_terminate(s, "kicked");
		session_settle(s);
		return 0;
	}
	{
		char q[QUOTE_MAX * 4 + 8];
		return ward_err_set(err, 0, "no session %s",
				    ward_quote(id, strlen(id), QUOTE_MAX, q, sizeof(q)));
	}
}

size_t session_count(const struct session_server *ss)
{
	size_t n = 0;

	for (const struct session *s = ss->sessions; s; s = s->next)
		n += session_counted(s);
	return n;
}
