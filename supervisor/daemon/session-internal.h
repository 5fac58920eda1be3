/* The inside of the session server (session.h), shared by its files, one
 * concern each:
 *   session-request.c  the client's request and messages: pure parsing
 *   session-logon.c    the logon decision: who the user is, which practice
 *   session-launch.c   the start through launch_join (home, cgroup, stdio)
 *   session-join.c     the running session: the join's events, idle, ending
 *   session-socket.c   the client's socket: its bytes in, the replies out
 *   session.c          the server: accepting, the sessions' life, audit,
 *                      list, kick
 * A struct session is made of parts, each kept by the file named at it;
 * where another file writes one, its comment there says so (the start
 * puts the session's stdio ends in cl.pass, the join its pty master).
 * Not for use outside these files. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "basic/loop.h"
#include "basic/outbuf.h"
#include "daemon/session.h"
#include "daemon/supervise.h"
#include "daemon/userdb.h"
#include "sandbox/cgroup.h"
#include "sandbox/launch.h"

#define SESSION_REQUEST_MS 5000  /* a client has this long to send its request */
#define SESSION_START_MS   30000 /* from "let in" to the program running */
#define SESSION_GRACE_MS   2000  /* from SIGHUP to SIGKILL */
#define SESSION_ID_LEN     8
#define QUOTE_MAX          40
#define MAX_PASS           3 /* fds handed to the client: the pty master, or 3 pipe ends */

enum session_state {
	S_REQUEST,  /* waiting for the request */
	S_STARTING, /* let in so far; the join runs, waiting for RUNNING */
	S_RUNNING,  /* the program runs */
	S_ENDING,   /* being ended: waiting for its processes to go */
	S_CLOSING,  /* the last line reaches the client */
};

/* Who the client is: the kernel's word (SO_PEERCRED), then the name
 * service's on that uid. Never what the client claims. Set at accept
 * (session.c) and by the name service's answer (session-socket.c); the
 * logon decides on it. */
struct session_peer {
	pid_t pid;
	uid_t uid;
	char user[80];
	/* Asked at connect, answered off the loop (userdb). lookup is NULL
	 * once answered (lookup_err says how). */
	int lookup_err;
	struct userdb_query *lookup;
	/* The names of every group of the user, the primary one included:
	 * n_groups NUL-terminated names, as the userdb helper resolved them. */
	char *groups;
	size_t n_groups;
};

/* The client's socket and what goes over it (session-socket.c). */
struct session_client {
	int fd;
	uint32_t events;
	bool gone;
	bool req_waiting; /* the request came first: it goes on with the answer */
	char held[128];   /* a refusal that waits for the answer (to name the user) */
	char *in;         /* the request, then messages */
	size_t in_len;
	struct outbuf out; /* reply lines not yet taken */
	/* What ward-session relays between the user and the session, sent
	 * with the "ok" (the first line the client gets) and then closed
	 * here: the pty's master, or the client's ends of the session's
	 * stdin, stdout and stderr pipes. wardd never reads or writes them. */
	int pass[MAX_PASS];
	size_t n_pass;
};

/* The program: the join child and what it reports (session-join.c). */
struct session_join {
	struct launch_handle h;
	struct cgroup *cg;
	int svc_pidfd;   /* the service's init: when it goes, so does the session */
	pid_t svc_pid;   /* its pid: our unreaped child while svc_pidfd is unreadable */
	pid_t pid;       /* the program, on the host */
	bool got_master; /* tty: the join sent the pty's master (in pass) */
	bool exit_seen;
	int exit_status;
	bool killed; /* we sent SIGKILL */
	char fail[768];
};

struct session {
	struct session_server *ss;
	struct session *prev, *next;
	enum session_state state;
	char id[SESSION_ID_LEN + 1];
	struct loop_timer *timer; /* request or start timeout, kill grace, or drain */

	struct session_peer peer;
	struct session_client cl;

	/* the logon's decision */
	struct session_request req;
	char tty_name[64];
	char tenant[WARD_NAME_MAX + 1];
	char service[WARD_NAME_MAX + 1];
	char display_name[4 * 128 + 8]; /* 128 characters of UTF-8 */
	uid_t suid;

	struct session_join join;
	bool admitted; /* it ran: the logon was audited as allowed */
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

/* "request", "starting", "running", "ending", "closing". */
const char *session_state_to_string(enum session_state st);

/* session.c */
/* Let in and not ended: starting, running or ending (what a limit counts). */
bool session_counted(const struct session *s);
/* Its request not taken yet (not waiting for the name service with one). */
bool session_asking(const struct session *s);
/* A JSON string of a name the system gave us: invalid UTF-8 becomes '?';
 * null for NULL or "". */
json_t *session_json_str(const char *s);
/* The program's exit code, 128 + SIGKILL when we killed it, or -1. */
int session_status_code(const struct session *s);
/* The "session-logon" record: refusals rate limited per uid. */
void session_audit_logon(struct session *s, const char *verdict, const char *reason);
/* The "session-end" record. */
void session_audit_end(struct session *s);
/* Unlinks and frees a session and everything it holds. */
void session_free(struct session *s);
/* After every event: moves a session on, and frees it when it is done.
 * Returns true if it was freed (s is gone). */
bool session_settle(struct session *s);

/* session-socket.c */
/* What the loop watches on the client's socket now. */
void session_sock_watch(struct session *s);
/* Closes our copies of the session's ends (cl.pass). */
void session_pass_close(struct session *s);
/* Sends what is queued; cl.pass rides on the first bytes, then closed. */
void session_sock_flush(struct session *s);
/* Queues one line for the client. Takes the reference. */
void session_reply(struct session *s, json_t *obj);
/* Refuses a logon: audited first, then told to the client (S_CLOSING). */
void session_refuse(struct session *s, const char *reason);
/* The same once the name service has said who the client is. */
void session_refuse_when_known(struct session *s, const char *reason);
/* The loop's callbacks: the client's socket, its request deadline, and
 * the name service's answer on who it is. */
void session_on_sock(struct loop *l, int fd, uint32_t events, void *ud);
void session_on_request_timeout(struct loop *l, void *ud);
void session_on_user(const struct userdb_answer *a, void *ud);

/* session-join.c */
/* Cancels s->timer. */
void session_timer_clear(struct session *s);
/* SIGKILL to the session's cgroup. */
void session_kill_all(struct session *s);
/* Ends a session that was let in (reason: "idle", "kicked", ...). */
void session_terminate(struct session *s, const char *reason);
/* The join child is gone: audit the end, let the last line through. */
void session_join_gone(struct session *s);
/* The loop's callbacks on the join's events, its exit and the service's. */
void session_on_sync(struct loop *l, int fd, uint32_t events, void *ud);
void session_on_join_exit(struct loop *l, int fd, uint32_t events, void *ud);
void session_on_service_gone(struct loop *l, int fd, uint32_t events, void *ud);

/* session-launch.c: 0 (state S_STARTING) or -1 with err (nothing left behind). */
int session_start(struct session *s, const struct ward_tenant *t, const struct service_view *view,
		  struct ward_err *err);

/* session-logon.c */
/* The request line: the logon decision, refused or started. */
void session_handle_request(struct session *s, const char *line, size_t len);
