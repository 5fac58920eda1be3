/* End-user sessions: the session socket, the logon decision (who the user
 * is, which practice, whether it may), the start through launch_join, the
 * hand-over of the session's pty master or pipes to ward-session, idle
 * timeout, kick, and the audit of every attempt and every end. wardd takes
 * no descriptor from a client and does no I/O on anything a client can
 * reach but the client's socket itself. Nothing here blocks the loop but
 * the short steps a logon takes (the home, the cgroup) and the kill of a
 * session's cgroup; who the user is comes from the name service through
 * userdb, off the loop. */
#include "daemon/session.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/openat2.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/cgroup.h"
#include "sandbox/caps.h"
#include "basic/cleanup.h"
#include "sandbox/launch.h"
#include "sandbox/seccomp.h"
#include "daemon/userdb.h"
#include "basic/listener.h"
#include "basic/outbuf.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define SESSION_BACKLOG          64
#define SESSION_ACCEPTS_PER_TURN 16
#define SESSION_MAX_CONNS        512   /* clients at once: asking, or in a session */
#define SESSION_MAX_PENDING      8     /* clients of one uid that have not asked yet */
#define SESSION_REQUEST_MS       5000  /* a client has this long to send its request */
#define SESSION_START_MS         30000 /* from "let in" to the program running */
#define SESSION_GRACE_MS         2000  /* from SIGHUP to SIGKILL */
#define SESSION_ID_LEN           8
#define QUOTE_MAX                40
#define MAX_PASS                 3   /* fds handed to the client: the pty master, or 3 pipe ends */
#define PTS_MAJOR                136 /* UNIX98 pty slaves (all of them, with 20-bit minors) */

/* task->flags bit set as a task starts to exit (the kernel's PF_EXITING,
 * not in the uAPI headers; field 9 of /proc/PID/stat shows the flags). */
#define PF_EXITING_FLAG 0x00000004UL

/* ======================================================================
 * Requests: pure parsing
 * ====================================================================== */

static int parse_dim(json_t *v, const char *what, unsigned short *out, struct ward_err *err)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > SESSION_MAX_DIM)
		return ward_err_set(err, 0, "%s: must be an integer from 0 to %d", what,
				    SESSION_MAX_DIM);
	*out = (unsigned short)json_integer_value(v);
	return 0;
}

static bool term_valid(const char *s, size_t len)
{
	if (len == 0 || len >= sizeof(((struct session_request *)NULL)->term) || strlen(s) != len)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '+' || c == '-'))
			return false;
	}
	return true;
}

/* "ADDR PORT" as sshd writes the start of SSH_CONNECTION: an IPv4 or IPv6
 * address and a port from 1 to 65535. */
static bool remote_valid(const char *s, size_t len)
{
	const char *sp = memchr(s, ' ', len);
	char addr[INET6_ADDRSTRLEN];
	unsigned char bin[sizeof(struct in6_addr)];
	size_t alen, plen;
	unsigned long port = 0;

	if (!sp || len >= sizeof(((struct session_request *)NULL)->remote) || strlen(s) != len)
		return false;
	alen = (size_t)(sp - s);
	plen = len - alen - 1;
	if (alen == 0 || alen >= sizeof(addr) || plen == 0 || plen > 5)
		return false;
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET, addr, bin) != 1 && inet_pton(AF_INET6, addr, bin) != 1)
		return false;
	for (size_t i = 0; i < plen; i++) {
		char c = sp[1 + i];

		if (c < '0' || c > '9')
			return false;
		port = port * 10 + (unsigned long)(c - '0');
	}
	return port >= 1 && port <= 65535;
}

static int parse_string(json_t *v, const char *what, bool (*valid)(const char *, size_t), char *out,
			size_t size, struct ward_err *err)
{
	const char *str = json_string_value(v);
	size_t len = json_string_length(v);

	if (!json_is_string(v))
		return ward_err_set(err, 0, "%s: must be a string", what);
	if (!valid(str, len) || len >= size) {
		char q[QUOTE_MAX * 4 + 8];

		return ward_err_set(err, 0, "%s: invalid value %s", what,
				    ward_quote(str, len, QUOTE_MAX, q, sizeof(q)));
	}
	memcpy(out, str, len + 1);
	return 0;
}

static int parse_request_object(json_t *root, struct session_request *req, struct ward_err *err)
{
	char q[QUOTE_MAX * 4 + 8];
	bool has_dim = false;
	const char *key;
	json_t *v;

	if (!json_is_object(root))
		return ward_err_set(err, 0, "request must be a JSON object");
	json_object_foreach(root, key, v)
	{
		if (strcmp(key, "tty") == 0) {
			if (!json_is_boolean(v))
				return ward_err_set(err, 0, "tty: must be true or false");
			req->tty = json_is_true(v);
		} else if (strcmp(key, "rows") == 0) {
			if (parse_dim(v, "rows", &req->rows, err) < 0)
				return -1;
			has_dim = true;
		} else if (strcmp(key, "cols") == 0) {
			if (parse_dim(v, "cols", &req->cols, err) < 0)
				return -1;
			has_dim = true;
		} else if (strcmp(key, "term") == 0) {
			if (parse_string(v, "term", term_valid, req->term, sizeof(req->term), err) <
			    0)
				return -1;
		} else if (strcmp(key, "remote") == 0) {
			if (parse_string(v, "remote", remote_valid, req->remote,
					 sizeof(req->remote), err) < 0)
				return -1;
		} else {
			/* Who the user is never comes from the client: "user",
			 * "uid" and the like are refused like any other key. */
			return ward_err_set(err, 0, "unknown key %s",
					    ward_quote(key, strlen(key), QUOTE_MAX, q, sizeof(q)));
		}
	}
	if (has_dim && !req->tty)
		return ward_err_set(err, 0, "rows and cols need \"tty\": true");
	return 0;
}

/* The line as a JSON document, or NULL with err. */
static json_t *load_line(const char *line, size_t len, size_t max, struct ward_err *err)
{
	json_error_t jerr;
	json_t *root;

	if (len >= max) {
		ward_err_set(err, 0, "longer than %zu bytes (newline included)", max);
		return NULL;
	}
	if (!line)
		line = "";
	if (memchr(line, '\0', len)) {
		ward_err_set(err, 0, "NUL byte in the message");
		return NULL;
	}
	root = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (!root) {
		ward_err_set(err, 0, "invalid JSON at byte %d: %s", jerr.position, jerr.text);
		ward_ascii_clean(err->msg);
	}
	return root;
}

int session_parse_request(const char *line, size_t len, struct session_request *req,
			  struct ward_err *err)
{
	json_t *root;
	int r;

	memset(req, 0, sizeof(*req));
	root = load_line(line, len, SESSION_MAX_REQUEST, err);
	if (!root)
		return -1;
	r = parse_request_object(root, req, err);
	json_decref(root);
	if (r < 0) {
		memset(req, 0, sizeof(*req));
		ward_ascii_clean(err->msg);
	}
	return r;
}

int session_parse_message(const char *line, size_t len, struct ward_err *err)
{
	json_t *root = load_line(line, len, SESSION_MAX_MESSAGE, err);
	int r = 0;

	if (!root)
		return -1;
	if (!json_is_object(root) || json_object_size(root) != 1 ||
	    !json_is_true(json_object_get(root, "input")))
		r = ward_err_set(err, 0, "expected {\"input\":true}");
	json_decref(root);
	return r;
}

/* ======================================================================
 * Identity: pure helpers and the system's user and group database
 * ====================================================================== */

int session_uid_for(const struct ward_ids *ids, uid_t host_uid, uid_t *out)
{
	uint32_t room;

	if (!ids->set || ids->count <= SESSION_UID_OFFSET)
		return -1;
	room = ids->count - SESSION_UID_OFFSET;
	*out = (uid_t)(ids->uid + SESSION_UID_OFFSET + (uint32_t)host_uid % room);
	return 0;
}

bool session_user_name_valid(const char *name)
{
	size_t n = 0;

	if (!name || !*name)
		return false;
	for (; name[n]; n++) {
		char c = name[n];
		bool alnum =
		    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');

		if (!(alnum || c == '_' || (n > 0 && (c == '.' || c == '@' || c == '-'))))
			return false;
	}
	return n <= 64;
}

bool session_in_groups(char *const *names, size_t n_names, const char *user_groups,
		       size_t n_user_groups)
{
	for (size_t i = 0; i < n_names; i++) {
		const char *g = user_groups;

		if (!names[i] || !*names[i])
			continue;
		for (size_t j = 0; j < n_user_groups; j++, g += strlen(g) + 1)
			if (strcmp(g, names[i]) == 0)
				return true;
	}
	return false;
}

/* ======================================================================
 * The server
 * ====================================================================== */

enum state {
	S_REQUEST,  /* waiting for the request */
	S_STARTING, /* let in so far; the join runs, waiting for RUNNING */
	S_RUNNING,  /* the program runs */
	S_ENDING,   /* being ended: waiting for its processes to go */
	S_CLOSING,  /* the last line reaches the client */
};

struct session {
	struct session_server *ss;
	struct session *prev, *next;
	enum state state;
	char id[SESSION_ID_LEN + 1];

	/* the client: who the kernel says it is */
	int sock;
	uint32_t sock_events;
	bool sock_gone;
	bool req_waiting; /* the request came first: it goes on with the answer */
	pid_t peer_pid;
	uid_t peer_uid;
	char user[80];
	/* Who the name service says peer_uid is: asked at connect, answered
	 * off the loop (userdb). Never what the client claims. lookup is
	 * NULL once answered (lookup_err says how). */
	int lookup_err;
	struct userdb_query *lookup;
	/* The names of every group of the user, the primary one included:
	 * n_groups NUL-terminated names, as the userdb helper resolved them. */
	char *groups;
	size_t n_groups;
	char held[128]; /* a refusal that waits for the answer (to name the user) */
	char *in;       /* the request, then messages */
	size_t in_len;
	struct outbuf out; /* reply lines not yet taken */
	/* What ward-session relays between the user and the session, sent
	 * with the "ok" (the first line the client gets) and then closed
	 * here: the pty's master, or the client's ends of the session's
	 * stdin, stdout and stderr pipes. wardd never reads or writes them. */
	int pass[MAX_PASS];
	size_t n_pass;
	struct loop_timer *timer; /* request or start timeout, kill grace, or drain */

	struct session_request req;
	char tty_name[64];
	char tenant[WARD_NAME_MAX + 1];
	char service[WARD_NAME_MAX + 1];
	char display_name[4 * 128 + 8]; /* 128 characters of UTF-8 */
	uid_t suid;

	/* the program */
	struct launch_handle h;
	struct cgroup *cg;
	int svc_pidfd;   /* the service's init: when it goes, so does the session */
	pid_t svc_pid;   /* its pid: our unreaped child while svc_pidfd is unreadable */
	pid_t pid;       /* the program, on the host */
	bool got_master; /* tty: the join sent the pty's master (in pass) */
	bool exit_seen;
	int exit_status;
	bool killed;   /* we sent SIGKILL */
	bool admitted; /* it ran: the logon was audited as allowed */
	char fail[768];
	const char *end_reason;
	uint64_t started_ms;
	time_t started_wall;
	uint64_t last_input_ms;
	uint32_t idle_timeout_s;
	struct loop_timer *idle;
};

struct session_server {
	const struct ward_config *cfg;
	struct loop *loop;
	struct supervisor *sup;
	struct audit *audit;
	struct userdb *udb;
	struct listener *listener;
	int devnull;
	struct session *sessions;
	size_t n_conns;
	bool stopping;
	bool warned_full;
};

static void on_sock(struct loop *l, int fd, uint32_t events, void *ud);
static bool settle(struct session *s);
static void terminate(struct session *s, const char *reason);
static void timer_clear(struct session *s);

/* ---- small things ---- */

static bool counted(const struct session *s)
{
	return s->state == S_STARTING || s->state == S_RUNNING || s->state == S_ENDING;
}

/* Its request not taken yet (not waiting for the name service with one). */
static bool asking(const struct session *s)
{
	return s->state == S_REQUEST && !s->req_waiting;
}

/* A JSON string of a name the system gave us: invalid UTF-8 becomes '?'. */
static json_t *json_str(const char *s)
{
	json_t *j;
	char buf[256];
	size_t i;

	if (!s || !*s)
		return json_null();
	j = json_string(s);
	if (j)
		return j;
	for (i = 0; i < sizeof(buf) - 1 && s[i]; i++) {
		buf[i] = s[i];
		if ((unsigned char)s[i] >= 0x80)
			buf[i] = '?';
	}
	buf[i] = '\0';
	return json_string(buf);
}

static void format_time(time_t t, char *buf, size_t size)
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		(void)snprintf(buf, size, "%lld", (long long)t);
}

static int status_code(const struct session *s)
{
	if (s->exit_seen)
		return launch_exit_code(s->exit_status);
	return s->killed ? 128 + SIGKILL : -1;
}

/* ---- audit ---- */

static void audit_logon(struct session *s, const char *verdict, const char *reason)
{
	json_t *f = json_object();

	if (!f) {
		fprintf(stderr, "wardd: audit: out of memory\n");
		return;
	}
	json_object_set_new(f, "verdict", json_string(verdict));
	json_object_set_new(f, "reason", json_str(reason));
	json_object_set_new(f, "user", json_str(s->user));
	json_object_set_new(f, "uid", json_integer(s->peer_uid));
	json_object_set_new(f, "pid", json_integer(s->peer_pid));
	json_object_set_new(f, "tty", json_str(s->tty_name));
	/* What the client said of its SSH connection: a claim, checked for
	 * form only. */
	json_object_set_new(f, "remote", json_str(s->req.remote));
	json_object_set_new(f, "tenant", json_str(s->tenant));
	json_object_set_new(f, "service", json_str(s->service));
	json_object_set_new(f, "session", json_str(s->id));
	json_object_set_new(f, "session_uid",
			    s->state == S_RUNNING ? json_integer(s->suid) : json_null());
	/* Any local user can be refused at will: rate limited per uid (a
	 * summary counts the rest). A logon let in is always recorded. */
	if (strcmp(verdict, "refused") == 0)
		audit_refused(s->ss->audit, s->peer_uid, "session-logon", f);
	else
		audit_event(s->ss->audit, "session-logon", f);
}

static void audit_end(struct session *s)
{
	int code = status_code(s);
	uint64_t ms = loop_now_ms() - s->started_ms;

	audit_event(s->ss->audit, "session-end",
		    json_pack("{s:s, s:s, s:o, s:i, s:i, s:I, s:o, s:s}", "session", s->id,
			      "tenant", s->tenant, "user", json_str(s->user), "uid",
			      (int)s->peer_uid, "pid", (int)s->pid, "duration_s",
			      (json_int_t)(ms / 1000), "status",
			      code >= 0 ? json_integer(code) : json_null(), "reason",
			      s->end_reason ? s->end_reason : "exited"));
}

/* ---- the client socket ---- */

static void sock_watch(struct session *s)
{
	uint32_t want = 0;

	if (s->sock_gone || s->sock < 0)
		return;
	/* Not while the request waits for the name service: what comes
	 * after it waits in the socket (a hang-up is still seen). */
	if (s->state != S_CLOSING && !s->req_waiting)
		want |= EPOLLIN;
	if (outbuf_pending(&s->out))
		want |= EPOLLOUT;
	if (want != s->sock_events && loop_mod_fd(s->ss->loop, s->sock, want) == 0)
		s->sock_events = want;
}

static void pass_close(struct session *s)
{
	for (size_t i = 0; i < s->n_pass; i++)
		close(s->pass[i]);
	s->n_pass = 0;
}

/* Sends what is queued. The fds of s->pass ride on the first bytes, which
 * are the "ok" (nothing is sent to a client before it), and are then the
 * client's alone: our copies are closed at once, so that wardd holds no
 * end of anything the client reads or writes. */
static void sock_flush(struct session *s)
{
	size_t sent = 0;
	int r;

	if (s->sock_gone || s->sock < 0 || !outbuf_pending(&s->out))
		return;
	r = outbuf_flush(&s->out, s->sock, s->pass, s->n_pass, &sent);
	if (sent)
		pass_close(s); /* they went with the first byte */
	if (r < 0)
		s->sock_gone = true;
}

/* Queues one line for the client. Takes the reference. */
static void reply(struct session *s, json_t *obj)
{
	char *line = obj ? json_dumps(obj, JSON_COMPACT) : NULL;

	json_decref(obj);
	if (!line) {
		s->sock_gone = true; /* out of memory: the client would wait for ever */
		return;
	}
	if (outbuf_append(&s->out, line, strlen(line)) < 0 || outbuf_append(&s->out, "\n", 1) < 0)
		s->sock_gone = true;
	free(line);
	sock_flush(s);
}

/* Refuses a logon: audited first, then told to the client. */
static void refuse(struct session *s, const char *reason)
{
	pass_close(s); /* the session's ends go with an "ok" only */
	audit_logon(s, "refused", reason);
	reply(s, json_pack("{s:b, s:s}", "ok", 0, "error", reason));
	s->state = S_CLOSING;
}

/* The same once the name service has said who the client is, so that the
 * record names the user (on_user refuses; its deadline bounds the wait). */
static void refuse_when_known(struct session *s, const char *reason)
{
	if (!s->lookup) {
		refuse(s, reason);
		return;
	}
	(void)snprintf(s->held, sizeof(s->held), "%s", reason);
	s->req_waiting = true;
	timer_clear(s);
}

/* ---- ending ---- */

static void timer_clear(struct session *s)
{
	loop_timer_cancel(s->ss->loop, s->timer);
	s->timer = NULL;
}

static void kill_all(struct session *s)
{
	struct ward_err err = {0};

	if (!s->cg)
		return;
	s->killed = true;
	if (cgroup_kill(s->cg, &err) < 0)
		fprintf(stderr, "wardd: session %s: %s\n", s->id, err.msg);
}

static void on_grace(struct loop *l, void *ud)
{
	struct session *s = ud;

	(void)l;
	s->timer = NULL;
	kill_all(s);
}

/* Ends a session that was let in: SIGHUP first where a user could still
 * save their work, SIGKILL to the whole cgroup otherwise or after the
 * grace. Its end is audited once its processes are gone (join_gone). */
static void terminate(struct session *s, const char *reason)
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
		launch_signal(&s->h, SIGHUP);
		timer_clear(s); /* the start timeout, if it was still starting */
		s->timer = loop_timer_add(s->ss->loop, SESSION_GRACE_MS, on_grace, s);
		if (s->timer)
			return;
	}
	timer_clear(s);
	kill_all(s);
}

static void send_end(struct session *s)
{
	int code = status_code(s);

	reply(s, json_pack("{s:s, s:o, s:s}", "event", "end", "status",
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
	struct pollfd p = {.fd = s->svc_pidfd, .events = POLLIN};
	char path[64], buf[512];
	unsigned long flags;
	const char *after;
	char *end;
	_cleanup_close_ int fd = -1;
	ssize_t n;

	if (s->svc_pidfd < 0)
		return false;
	if (poll(&p, 1, 0) != 0)
		return true; /* exited, or the pidfd fails: either way not ours */
	(void)snprintf(path, sizeof(path), "/proc/%d/stat", (int)s->svc_pid);
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
static void join_gone(struct session *s)
{
	struct ward_err err = {0};

	read_events(s);
	/* The service stopping killed the program: its end says so, whichever
	 * of the two exits the loop saw first. */
	if (!s->end_reason && (s->state == S_RUNNING || s->state == S_STARTING) &&
	    service_ending(s))
		s->end_reason = "service-stopped";
	if (s->h.sync_fd >= 0)
		loop_del_fd(s->ss->loop, s->h.sync_fd);
	if (s->h.pidfd >= 0)
		loop_del_fd(s->ss->loop, s->h.pidfd);
	launch_release(&s->h);
	if (s->svc_pidfd >= 0) {
		loop_del_fd(s->ss->loop, s->svc_pidfd);
		close(s->svc_pidfd);
		s->svc_pidfd = -1;
	}
	loop_timer_cancel(s->ss->loop, s->idle);
	s->idle = NULL;
	timer_clear(s);
	/* Whatever the program left behind (jobs in the background, orphans
	 * the service's init adopted) goes with its cgroup. */
	if (s->cg) {
		if (cgroup_destroy(s->cg, &err) < 0)
			fprintf(stderr, "wardd: session %s: %s\n", s->id, err.msg);
		s->cg = NULL;
	}
	if (!s->admitted) {
		char reason[sizeof(s->fail) + 32];

		if (s->fail[0])
			(void)snprintf(reason, sizeof(reason), "policy error: %s", s->fail);
		else if (s->end_reason && strcmp(s->end_reason, "service-stopped") == 0)
			(void)snprintf(reason, sizeof(reason), "practice stopped");
		else if (s->end_reason)
			(void)snprintf(reason, sizeof(reason), "ended before it ran: %s",
				       s->end_reason);
		else
			(void)snprintf(reason, sizeof(reason),
				       "policy error: the session ended before it ran");
		refuse(s, reason);
		return;
	}
	audit_end(s);
	/* The session's last output is in the pipes or the pty, which the
	 * client holds: it reads them to their end after this line. */
	send_end(s);
}

/* ---- the join's events ---- */

static void on_idle(struct loop *l, void *ud)
{
	struct session *s = ud;
	uint64_t now = loop_now_ms(), limit = (uint64_t)s->idle_timeout_s * 1000;

	(void)l;
	s->idle = NULL;
	if (now - s->last_input_ms >= limit) {
		terminate(s, "idle");
		settle(s);
		return;
	}
	s->idle = loop_timer_add(s->ss->loop, limit - (now - s->last_input_ms), on_idle, s);
}

static void session_running(struct session *s)
{
	timer_clear(s);
	s->state = S_RUNNING;
	s->admitted = true;
	s->last_input_ms = loop_now_ms();
	audit_logon(s, "allowed", NULL);
	reply(s, json_pack("{s:b, s:s, s:s, s:o}", "ok", 1, "session", s->id, "tenant", s->tenant,
			   "display_name", json_str(s->display_name)));
	if (s->idle_timeout_s)
		s->idle =
		    loop_timer_add(s->ss->loop, (uint64_t)s->idle_timeout_s * 1000, on_idle, s);
}

static void read_events(struct session *s)
{
	struct launch_event ev;

	while (s->h.sync_fd >= 0 && launch_read_event(&s->h, &ev) == 0) {
		switch (ev.kind) {
		case LAUNCH_EVENT_PID:
			s->pid = ev.pid;
			if (ev.fd >= 0 && (!s->req.tty || s->got_master)) {
				close(ev.fd);
			} else if (ev.fd >= 0) {
				/* For the client, with the "ok": wardd itself
				 * never touches it (the client owns its flags). */
				s->pass[s->n_pass++] = ev.fd;
				s->got_master = true;
			}
			break;
		case LAUNCH_EVENT_RUNNING:
			if (s->state == S_STARTING && (!s->req.tty || s->got_master))
				session_running(s);
			break;
		case LAUNCH_EVENT_FAILED:
			(void)snprintf(s->fail, sizeof(s->fail), "%s", ev.message);
			break;
		case LAUNCH_EVENT_EXITED:
			s->exit_seen = true;
			s->exit_status = ev.status;
			break;
		case LAUNCH_EVENT_GONE:
			loop_del_fd(s->ss->loop, s->h.sync_fd);
			close(s->h.sync_fd);
			s->h.sync_fd = -1;
			return;
		}
	}
}

static void on_sync(struct loop *l, int fd, uint32_t events, void *ud)
{
	struct session *s = ud;

	(void)l;
	(void)fd;
	(void)events;
	read_events(s);
	settle(s);
}

static void on_join_exit(struct loop *l, int fd, uint32_t events, void *ud)
{
	struct session *s = ud;
	pid_t r;

	(void)l;
	(void)fd;
	(void)events;
	r = waitpid(s->h.pid, NULL, WNOHANG);
	if (r == 0 || (r < 0 && errno != ECHILD))
		return;
	s->h.pid = -1; /* reaped */
	join_gone(s);
	settle(s);
}

static void on_service_gone(struct loop *l, int fd, uint32_t events, void *ud)
{
	struct session *s = ud;

	(void)l;
	(void)events;
	loop_del_fd(s->ss->loop, fd);
	close(fd);
	s->svc_pidfd = -1;
	/* Its pid namespace took the session along; the cgroup makes sure. */
	terminate(s, "service-stopped");
	settle(s);
}

/* ---- the logon ---- */

struct match {
	const char *groups;
	size_t n_groups;
	const struct ward_tenant *found;
	size_t n_found;
	char names[256];
};

static int match_tenant(const struct ward_tenant *t, void *ud)
{
	struct match *m = ud;
	size_t len = strlen(m->names);

	if (!t->sessions.present ||
	    !session_in_groups(t->sessions.groups, t->sessions.n_groups, m->groups, m->n_groups))
		return 0;
	if (!m->found)
		m->found = t;
	m->n_found++;
	if (len < sizeof(m->names) - 1)
		(void)snprintf(m->names + len, sizeof(m->names) - len, "%s%s", len ? ", " : "",
			       t->name);
	return 0;
}

static const struct ward_service *session_service(const struct ward_tenant *t)
{
	if (t->sessions.service)
		return tenant_find_service(t, t->sessions.service);
	/* Unnamed: only a tenant of one service leaves no doubt. */
	return t->n_services == 1 ? &t->services[0] : NULL;
}

static size_t tenant_sessions(struct session_server *ss, const char *tenant)
{
	size_t n = 0;

	for (struct session *s = ss->sessions; s; s = s->next)
		if (counted(s) && strcmp(s->tenant, tenant) == 0)
			n++;
	return n;
}

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
	DIR *d;
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
			if (!S_ISDIR(st.st_mode) || st.st_uid != suid) {
				closedir(d);
				return ward_err_set(err, 0,
						    "home %s/home/%s: owned by uid %u, expected "
						    "%u",
						    data_dir, user, (unsigned)st.st_uid,
						    (unsigned)suid);
			}
		} else if (st.st_uid == suid) {
			closedir(d);
			return ward_err_set(err, 0,
					    "session uid %u is also the owner of the home of "
					    "\"%s\": the users' uids collide in the tenant's range",
					    (unsigned)suid, de->d_name);
		}
	}
	closedir(d);
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
		s->pass[s->n_pass++] = i == 0 ? p[1] : p[0];
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
	if (session_uid_for(&t->ids, s->peer_uid, &s->suid) < 0)
		return ward_err_set(err, 0, "ids.count %u leaves no uids for sessions (needs > %d)",
				    t->ids.count, SESSION_UID_OFFSET);
	for (struct session *o = s->ss->sessions; o; o = o->next)
		if (o != s && counted(o) && strcmp(o->tenant, t->name) == 0 && o->suid == s->suid &&
		    o->peer_uid != s->peer_uid)
			return ward_err_set(err, 0,
					    "session uid %u is in use by \"%s\": the users' uids "
					    "collide in the tenant's range",
					    (unsigned)s->suid, o->user);
	if (!session_user_name_valid(s->user))
		return ward_err_set(err, 0, "user name \"%s\" cannot name a home directory",
				    s->user);
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

	s->svc_pidfd = fcntl(view->init_pidfd, F_DUPFD_CLOEXEC, 3);
	s->svc_pid = view->init_pid;
	if (fcntl(s->h.sync_fd, F_SETFL, O_NONBLOCK) == 0 && s->svc_pidfd >= 0 &&
	    loop_add_fd(l, s->h.sync_fd, EPOLLIN, on_sync, s) == 0 &&
	    loop_add_fd(l, s->h.pidfd, EPOLLIN, on_join_exit, s) == 0 &&
	    loop_add_fd(l, s->svc_pidfd, EPOLLIN, on_service_gone, s) == 0)
		return 0;
	loop_del_fd(l, s->h.sync_fd);
	loop_del_fd(l, s->h.pidfd);
	launch_signal(&s->h, SIGKILL);
	launch_release(&s->h);
	if (s->svc_pidfd >= 0) {
		loop_del_fd(l, s->svc_pidfd);
		close(s->svc_pidfd);
	}
	s->svc_pidfd = -1;
	return ward_err_set(err, ENOMEM, "watching the session");
}

/* A join that hangs (a host path of the policy on a dead NFS server, say)
 * must not hold a slot for ever: refused as a policy error. */
static void on_start_timeout(struct loop *l, void *ud)
{
	struct session *s = ud;

	(void)l;
	s->timer = NULL;
	(void)snprintf(s->fail, sizeof(s->fail), "the session did not start within %d s",
		       SESSION_START_MS / 1000);
	kill_all(s);
	settle(s);
}

/* Everything that happens between "let in" and the join running: returns
 * 0 (state S_STARTING) or -1 with err (nothing left behind). */
static int session_start(struct session *s, const struct ward_tenant *t,
			 const struct service_view *view, struct ward_err *err)
{
	struct session_server *ss = s->ss;
	const struct ward_sessions *ws = &t->sessions;
	char data_dir[4096], cache_dir[4096], home[128], cgname[64];
	struct seccomp_program prog = {0};
	_cleanup_close_ int home_fd = -1;
	char **env = NULL;
	int stdio[3] = {-1, -1, -1};
	bool join_user = true;
	int r = -1;

	/* What this reads of the profile must not outlive the turn: the
	 * join's child gets its own copy of all of it. */
	if (session_identity(s, t, err) < 0 || has_own_userns(view, &join_user, err) < 0)
		return -1;
	if (snprintf(data_dir, sizeof(data_dir), "%s/%s", ss->cfg->data_dir, t->name) >=
		(int)sizeof(data_dir) ||
	    snprintf(cache_dir, sizeof(cache_dir), "%s/cache", ss->cfg->state_dir) >=
		(int)sizeof(cache_dir) ||
	    snprintf(home, sizeof(home), "/home/%s", s->user) >= (int)sizeof(home))
		return ward_err_set(err, ENAMETOOLONG, "paths");
	home_fd = home_open(data_dir, t, s->user, s->suid, err);
	if (home_fd < 0)
		return -1;
	if (seccomp_compile(&ws->policy.seccomp, cache_dir, &prog, err) < 0)
		return ward_err_wrap(err, "seccomp");
	env = session_env(&ws->policy, s->user, home, s->req.tty ? s->req.term : NULL);
	if (!env) {
		ward_err_set(err, ENOMEM, "environment");
		goto out;
	}
	new_id(ss, s->id);
	(void)snprintf(cgname, sizeof(cgname), "session.%s", s->id);
	/* Fail closed: without its limits the session does not run. */
	s->cg = cgroup_create(t->name, cgname, &ws->policy.limits, err);
	if (!s->cg) {
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
		    .data_dir = data_dir,
		    .seccomp = &prog,
		    .cgroup = s->cg,
		    .tty = s->req.tty,
		    .rows = s->req.rows,
		    .cols = s->req.cols,
		    .stdio = {stdio[0], stdio[1], stdio[2]},
		};
		if (launch_join(&spec, &s->h, err) < 0)
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
	if (r < 0 && s->cg) {
		struct ward_err e2 = {0};

		(void)cgroup_destroy(s->cg, &e2);
		s->cg = NULL;
	}
	if (r < 0)
		s->id[0] = '\0';
	strv_free(env);
	seccomp_program_free(&prog);
	return r;
}

/* The user's terminal, for the audit log and `wardctl sessions`: the
 * controlling terminal of the process that connected (SO_PEERCRED), as the
 * kernel reports it in field 7 of /proc/PID/stat: not the client's word,
 * and not through any fd of the client's. "" when it has none. */
static void tty_name_of(struct session *s)
{
	char path[64], buf[512];
	_cleanup_close_ int fd = -1;
	const char *p;
	char *end;
	unsigned long dev;
	ssize_t n;

	s->tty_name[0] = '\0';
	if (!s->req.tty || s->peer_pid <= 0)
		return;
	(void)snprintf(path, sizeof(path), "/proc/%d/stat", (int)s->peer_pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (n <= 0)
		return;
	buf[n] = '\0';
	/* pid (comm) state ppid pgrp session tty_nr: comm may hold anything,
	 * so the fields count from its last ')'. */
	p = strrchr(buf, ')');
	for (int field = 0; p && field < 5; field++)
		p = strchr(p + 1, ' ');
	if (!p)
		return;
	errno = 0;
	dev = strtoul(p + 1, &end, 10);
	if (errno || end == p + 1 || *end != ' ' || dev == 0)
		return;
	if (major(dev) == PTS_MAJOR)
		(void)snprintf(s->tty_name, sizeof(s->tty_name), "/dev/pts/%u", minor(dev));
	else
		(void)snprintf(s->tty_name, sizeof(s->tty_name), "/dev/char/%u:%u", major(dev),
			       minor(dev));
}

static void handle_request(struct session *s, const char *line, size_t len)
{
	struct session_server *ss = s->ss;
	char reason[sizeof(((struct ward_err *)NULL)->msg) + 64];
	struct match m = {0};
	struct service_view view;
	const struct ward_service *svc;
	struct ward_err err = {0};

	timer_clear(s);
	if (session_parse_request(line, len, &s->req, &err) < 0) {
		(void)snprintf(reason, sizeof(reason), "malformed request: %s", err.msg);
		refuse(s, reason);
		return;
	}
	tty_name_of(s);
	if (ss->stopping) {
		refuse(s, "daemon stopping");
		return;
	}
	/* Fail closed: no logon that could not be recorded. */
	if (audit_ready(ss->audit, &err) < 0) {
		refuse(s, err.msg);
		return;
	}
	if (s->lookup_err) {
		if (s->lookup_err == ENOENT)
			refuse(s, "unknown user");
		else {
			(void)snprintf(reason, sizeof(reason), "user lookup failed: %s",
				       strerror(s->lookup_err));
			refuse(s, reason);
		}
		return;
	}
	m.groups = s->groups;
	m.n_groups = s->n_groups;
	supervisor_each_tenant(ss->sup, match_tenant, &m);
	if (m.n_found == 0) {
		refuse(s, "no practice");
		return;
	}
	if (m.n_found > 1) {
		(void)snprintf(reason, sizeof(reason), "more than one practice: %s", m.names);
		refuse(s, reason);
		return;
	}
	(void)snprintf(s->tenant, sizeof(s->tenant), "%s", m.found->name);
	(void)snprintf(s->display_name, sizeof(s->display_name), "%s",
		       m.found->display_name ? m.found->display_name : "");
	svc = session_service(m.found);
	if (!svc) {
		refuse(s, "policy error: sessions.service not set and the tenant has more than "
			  "one service");
		return;
	}
	(void)snprintf(s->service, sizeof(s->service), "%s", svc->name);
	if (supervisor_service_view(ss->sup, s->tenant, s->service, &view, &err) < 0 ||
	    view.state != SERVICE_RUNNING || view.init_pidfd < 0 || view.init_pid <= 0) {
		refuse(s, "practice stopped");
		return;
	}
	if (tenant_sessions(ss, s->tenant) >= m.found->sessions.max) {
		refuse(s, "session limit");
		return;
	}
	if (session_start(s, m.found, &view, &err) < 0) {
		(void)snprintf(reason, sizeof(reason), "policy error: %s", err.msg);
		refuse(s, reason);
		return;
	}
}

/* ---- the client's bytes ---- */

/* A line after the request: {"input":true} from a client that forwarded
 * the user's input (the idle clock), or nothing we know (ignored). */
static void handle_message(struct session *s, const char *line, size_t len)
{
	struct ward_err err = {0};

	if (session_parse_message(line, len, &err) == 0 && s->state == S_RUNNING)
		s->last_input_ms = loop_now_ms();
}

static void take_lines(struct session *s)
{
	size_t start = 0;

	for (;;) {
		char *nl = memchr(s->in + start, '\n', s->in_len - start);

		if (!nl)
			break;
		if (s->state == S_REQUEST && s->lookup) {
			/* Taken when the name service has answered (on_user):
			 * every record of it, refusals too, names the user. The
			 * lookup's deadline bounds the wait now. */
			s->req_waiting = true;
			timer_clear(s);
			break;
		}
		if (s->state == S_REQUEST)
			handle_request(s, s->in + start, (size_t)(nl - (s->in + start)));
		else
			handle_message(s, s->in + start, (size_t)(nl - (s->in + start)));
		start = (size_t)(nl - s->in) + 1;
		if (s->state == S_CLOSING)
			break;
	}
	memmove(s->in, s->in + start, s->in_len - start);
	s->in_len -= start;
}

static void sock_read(struct session *s)
{
	size_t max = asking(s) ? SESSION_MAX_REQUEST : SESSION_MAX_MESSAGE;

	for (int i = 0; i < 4 && !s->sock_gone && s->state != S_CLOSING; i++) {
		struct iovec iov;
		/* No room for control data, on purpose: descriptors a client
		 * attaches are never installed in our table. The kernel drops
		 * them itself and says so with MSG_CTRUNC. Taking them only to
		 * close them would not do: close() calls the file system's
		 * flush, and a FUSE server can hold that for ever. (Where the
		 * kernel has SO_PASSRIGHTS, the client cannot send them.) */
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
		ssize_t n;

		if (!s->in && !(s->in = malloc(SESSION_MAX_REQUEST))) {
			s->sock_gone = true;
			return;
		}
		if (s->in_len >= max) {
			/* No newline within the limit. */
			s->in_len = 0;
			if (asking(s)) {
				char reason[128];

				(void)snprintf(reason, sizeof(reason),
					       "malformed request: longer than %d bytes (newline "
					       "included)",
					       SESSION_MAX_REQUEST);
				refuse_when_known(s, reason);
				return;
			}
			continue; /* a message that long is dropped */
		}
		iov.iov_base = s->in + s->in_len;
		iov.iov_len = max - s->in_len;
		n = recvmsg(s->sock, &mh, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				s->sock_gone = true;
			return;
		}
		if ((mh.msg_flags & MSG_CTRUNC) && asking(s)) {
			refuse_when_known(s,
					  "malformed request: file descriptors attached: wardd "
					  "takes none (ward-session relays the terminal itself)");
			return;
		}
		if (n == 0) {
			s->sock_gone = true;
			return;
		}
		s->in_len += (size_t)n;
		take_lines(s);
	}
}

static void on_sock(struct loop *l, int fd, uint32_t events, void *ud)
{
	struct session *s = ud;

	(void)l;
	(void)fd;
	if (events & EPOLLOUT)
		sock_flush(s);
	if (s->req_waiting && (events & (EPOLLHUP | EPOLLERR)))
		s->sock_gone = true; /* all that is watched while the request waits */
	else if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		sock_read(s);
	if (events & EPOLLERR)
		s->sock_gone = true;
	settle(s);
}

static void on_request_timeout(struct loop *l, void *ud)
{
	struct session *s = ud;
	char reason[96];

	(void)l;
	s->timer = NULL;
	(void)snprintf(reason, sizeof(reason), "malformed request: none within %d s",
		       SESSION_REQUEST_MS / 1000);
	refuse_when_known(s, reason);
	settle(s);
}

/* ---- life and death of a session object ---- */

static void session_free(struct session *s)
{
	struct session_server *ss = s->ss;

	if (s->prev)
		s->prev->next = s->next;
	else
		ss->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	ss->n_conns--;
	userdb_cancel(ss->udb, s->lookup);
	free(s->groups);
	if (s->sock >= 0) {
		loop_del_fd(ss->loop, s->sock);
		close(s->sock);
	}
	pass_close(s);
	if (s->svc_pidfd >= 0) {
		loop_del_fd(ss->loop, s->svc_pidfd);
		close(s->svc_pidfd);
	}
	if (s->h.sync_fd >= 0)
		loop_del_fd(ss->loop, s->h.sync_fd);
	if (s->h.pidfd >= 0)
		loop_del_fd(ss->loop, s->h.pidfd);
	launch_release(&s->h);
	if (s->cg) {
		struct ward_err err = {0};

		if (cgroup_destroy(s->cg, &err) < 0)
			fprintf(stderr, "wardd: session %s: %s\n", s->id, err.msg);
	}
	loop_timer_cancel(ss->loop, s->timer);
	loop_timer_cancel(ss->loop, s->idle);
	free(s->in);
	outbuf_release(&s->out);
	free(s);
}

/* After every event: moves a session on, and frees it when it is done.
 * Returns true if it was freed. */
static bool settle(struct session *s)
{
	if (s->sock_gone && s->state == S_REQUEST && !s->held[0])
		refuse_when_known(s, s->req_waiting
					 ? "the client left during the logon"
					 : "malformed request: the client left before its request");
	/* Gone for good: a hung-up socket would otherwise report itself on
	 * every turn until the session is over. */
	if (s->sock_gone && s->sock >= 0) {
		loop_del_fd(s->ss->loop, s->sock);
		close(s->sock);
		s->sock = -1;
		outbuf_clear(&s->out);
	}
	if (s->sock_gone && (s->state == S_RUNNING || s->state == S_STARTING))
		terminate(s, "disconnected");
	if (s->state == S_CLOSING) {
		sock_flush(s);
		if (!outbuf_pending(&s->out) || s->sock_gone) {
			session_free(s);
			return true;
		}
	}
	sock_watch(s);
	return false;
}

static size_t pending_of(const struct session_server *ss, uid_t uid)
{
	size_t n = 0;

	for (const struct session *s = ss->sessions; s; s = s->next)
		n += s->state == S_REQUEST && s->peer_uid == uid;
	return n;
}

/* The bytes of n packed NUL-terminated names. */
static size_t names_size(const char *names, size_t n)
{
	size_t len = 0;

	for (size_t i = 0; i < n; i++)
		len += strlen(names + len) + 1;
	return len;
}

/* The name service's answer on who a client is. */
static void on_user(const struct userdb_answer *a, void *ud)
{
	struct session *s = ud;

	s->lookup = NULL;
	s->lookup_err = a->err;
	if (!a->err && strlen(a->name) >= sizeof(s->user))
		s->lookup_err = E2BIG;
	else if (!a->err && a->n_groups &&
		 !(s->groups = malloc(names_size(a->group_names, a->n_groups))))
		s->lookup_err = ENOMEM;
	else if (!a->err) {
		(void)snprintf(s->user, sizeof(s->user), "%s", a->name); /* fits: checked */
		if (a->n_groups)
			memcpy(s->groups, a->group_names, names_size(a->group_names, a->n_groups));
		s->n_groups = a->n_groups;
	}
	if (!s->req_waiting)
		return;
	s->req_waiting = false;
	if (s->held[0])
		refuse(s, s->held);
	else
		take_lines(s); /* the request, and what came after it */
	settle(s);
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
	s->sock = fd;
	s->peer_pid = cred.pid;
	s->peer_uid = cred.uid;
	s->svc_pidfd = -1;
	s->h = (struct launch_handle){.pid = -1, .pidfd = -1, .sync_fd = -1};
	/* The number until the name service says (and if it cannot). */
	(void)snprintf(s->user, sizeof(s->user), "%u", (unsigned)cred.uid);
	s->lookup = userdb_lookup(ss->udb, cred.uid, true, on_user, s);
	if (!s->lookup)
		s->lookup_err = ENOMEM;
	s->next = ss->sessions;
	if (ss->sessions)
		ss->sessions->prev = s;
	ss->sessions = s;
	ss->n_conns++;
	if (loop_add_fd(ss->loop, fd, EPOLLIN, on_sock, s) < 0) {
		s->sock = -1;
		close(fd);
		session_free(s);
		return;
	}
	s->sock_events = EPOLLIN;
	s->timer = loop_timer_add(ss->loop, SESSION_REQUEST_MS, on_request_timeout, s);
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
			fprintf(stderr, "wardd: sessions: %d clients, refusing more\n",
				SESSION_MAX_CONNS);
		ss->warned_full = true;
		return;
	}
	ss->warned_full = false;
	client_new(ss, cfd);
}

/* ---- the server ---- */

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
		refuse(s, "daemon stopping");
	} else if (counted(s)) {
		terminate(s, "daemon-stop");
		/* Killed: the join child goes at once; reap it here. */
		if (s->h.pid > 0) {
			while (waitpid(s->h.pid, NULL, 0) < 0 && errno == EINTR)
				;
			s->h.pid = -1;
		}
		join_gone(s);
	}
	sock_flush(s);
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
			a,
			json_pack("{s:s, s:s, s:s, s:o, s:i, s:i, s:i, s:o, s:o, s:s, s:I}", "id",
				  s->id, "tenant", s->tenant, "service", s->service, "user",
				  json_str(s->user), "uid", (int)s->peer_uid, "session_uid",
				  (int)s->suid, "pid", (int)s->pid, "tty", json_str(s->tty_name),
				  "remote", json_str(s->req.remote), "started", started, "idle_s",
				  (json_int_t)((now - s->last_input_ms) / 1000))) < 0) {
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
		if (!counted(s) || strcmp(s->id, id) != 0)
			continue;
		audit_event(ss->audit, "session-kick",
			    json_pack("{s:s, s:s, s:o, s:i, s:o}", "session", s->id, "tenant",
				      s->tenant, "user", json_str(s->user), "uid", (int)s->peer_uid,
				      "by", json_str(by)));
		terminate(s, "kicked");
		settle(s);
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
		n += counted(s);
	return n;
}
