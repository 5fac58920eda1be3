/* End-user sessions: the session socket (STATE_DIR/session.sock) where
 * `ward-session` asks for a session; wardd identifies the user by
 * SO_PEERCRED, finds the one practice whose `sessions.groups` the user is in,
 * and starts the session program inside that practice's service namespaces
 * under the session policy. Every logon attempt and session end is audited.
 *
 * The protocol, one JSON object a line:
 *   client -> wardd  the request (struct session_request), and nothing
 *                    else: a client that attaches descriptors (SCM_RIGHTS)
 *                    is refused, and the descriptors are never installed
 *   wardd -> client  {"ok":true,"session":ID,"tenant":T,"display_name":D}
 *                    with the session's ends attached (SCM_RIGHTS): the
 *                    master of its pty when "tty" is true, else the write
 *                    end of its stdin and the read ends of its stdout and
 *                    stderr; or {"ok":false,"error":"no practice"}; then
 *                    at the end {"event":"end","status":N,"reason":R} (N
 *                    null when the program's own status is unknown: it
 *                    was killed)
 *   client -> wardd  later, {"input":true} while it forwards the user's
 *                    input (at most about once a second): the idle clock
 * ward-session relays between the user's terminal (or stdio) and those
 * ends, sets the pty's window size itself and puts its terminal back.
 * wardd keeps no copy of them, and never reads, writes, polls or stats a
 * descriptor a client can reach but its own end of the client's socket:
 * whatever a client does to them (clear O_NONBLOCK, stop reading, hand in
 * a FUSE file) stalls only itself. The user's own terminal never reaches
 * the sandbox. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "daemon/audit.h"
#include "model/config.h"
#include "basic/error.h"
#include "basic/loop.h"
#include "model/profile.h"
#include "daemon/supervise.h"
#include "daemon/userdb.h"

#define SESSION_MAX_REQUEST 4096  /* bytes of one request, newline included */
#define SESSION_MAX_MESSAGE 256   /* bytes of a later message ({"input":true}) */
#define SESSION_MAX_DIM     10000 /* rows and cols of a window */
/* A session's uid is ids.uid + SESSION_UID_OFFSET + something: never the
 * service's (ids.uid), so it can neither signal nor ptrace the service. */
#define SESSION_UID_OFFSET 1000

/* What ward-session sends (one JSON line): only hints. Who the user is
 * comes from the kernel (SO_PEERCRED), never from here. Keys: "tty"
 * (boolean, default false), "rows" and "cols" (0..SESSION_MAX_DIM, only with
 * tty), "term", "remote"; any other key is an error. */
struct session_request {
	bool tty;            /* the client relays a terminal: the session gets a pty */
	unsigned short rows; /* its window size, when tty; 0: unknown */
	unsigned short cols;
	char term[64];    /* TERM, [A-Za-z0-9._+-] only; "" when not given */
	char remote[128]; /* SSH_CONNECTION's first two fields ("ADDR PORT"), or "" */
};

/* Parses one request line (without its newline). Pure: no I/O; fuzzed.
 * Returns 0, or -1 with err saying what is wrong (plain ASCII); a refused
 * request leaves *req zeroed. */
int session_parse_request(const char *line, size_t len, struct session_request *req,
			  struct ward_err *err);
/* Parses a later message: {"input":true}, exactly. Pure; fuzzed with the
 * request parser. Returns 0, or -1 with err. */
int session_parse_message(const char *line, size_t len, struct ward_err *err);

/* The uid the sessions of host user host_uid run as in a tenant:
 * ids.uid + SESSION_UID_OFFSET + host_uid mod (ids.count - SESSION_UID_OFFSET).
 * The same user always gets the same uid (their home keeps its owner), and
 * users with different uids below ids.count - SESSION_UID_OFFSET never
 * share one; the rare users whose uids collide above that are refused (the
 * server checks homes and live sessions). Returns 0, or -1 when the range
 * has no room for sessions. */
int session_uid_for(const struct ward_ids *ids, uid_t host_uid, uid_t *out);
/* Whether a user name can name a home directory ([A-Za-z0-9_][A-Za-z0-9_.@-]*,
 * at most 64 bytes). */
bool session_user_name_valid(const char *name);
/* Whether one of the groups (names from a profile) is among the user's
 * groups: n_user_groups NUL-terminated names, packed, as the userdb helper
 * gave them (the name service's name for each of the user's gids). Pure
 * string matching, as sshd's AllowGroups: no name-service call, so it runs
 * on the loop. A gid that has several names is matched by the one the name
 * service gives for it; the others match nothing (refused, never let in). */
bool session_in_groups(char *const *names, size_t n_names, const char *user_groups,
		       size_t n_user_groups);

struct session_server;

/* Creates STATE_DIR/session.sock (mode 0666: any local user may ask; who
 * gets a session is decided here) and serves it on the loop. Who a client
 * is (its name and groups) comes from udb. */
struct session_server *session_server_new(const struct ward_config *cfg, struct loop *loop,
					  struct supervisor *sup, struct audit *audit,
					  struct userdb *udb, struct ward_err *err);
/* The daemon is stopping: refuses new logons and ends every session
 * (killed, audited with reason daemon-stop). Call it before the supervisor
 * stops the services. */
void session_server_shutdown(struct session_server *ss);
/* Ends every session left (audited) and removes the socket. NULL is fine. */
void session_server_free(struct session_server *ss);

/* [{"id", "tenant", "service", "user", "uid", "session_uid", "pid", "tty",
 *   "remote", "started", "idle_s"}, ...] for one tenant or all (tenant
 * NULL): every session that was let in and has not ended. New reference;
 * NULL only when out of memory. */
json_t *session_list(struct session_server *ss, const char *tenant, struct ward_err *err);
/* Ends a session (SIGKILL to its processes), audited with who kicked it.
 * Returns 0, or -1 with err ("no session \"x\""). */
int session_kick(struct session_server *ss, const char *id, const char *by, struct ward_err *err);

/* For tests: live sessions (let in, not ended) and connected clients. */
size_t session_count(const struct session_server *ss);
