/* The control socket: JSON requests one per line, the peer checked with
 * SO_PEERCRED/SO_PEERGROUPS, authorized, dispatched to the supervisor, and
 * every request audited with its verdict, allowed or refused. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "daemon/audit.h"
#include "model/names.h"
#include "model/config.h"
#include "basic/error.h"
#include "basic/loop.h"
#include "daemon/supervise.h"
#include "daemon/userdb.h"

#define CONTROL_MAX_REQUEST      (64 * 1024)      /* bytes, newline included */
#define CONTROL_DISPLAY_NAME_MAX DISPLAY_NAME_MAX /* characters (model/names.h) */
#define CONTROL_ARCHIVE_MAX      4096             /* bytes of an archive path, NUL included */
#define CONTROL_SESSION_ID_MAX   32               /* bytes of a session id */

enum control_cmd {
	CONTROL_STATUS,
	CONTROL_START,
	CONTROL_STOP,
	CONTROL_RESTART,
	CONTROL_RESET,
	CONTROL_RELOAD,
	CONTROL_LOGS,
	CONTROL_NET,
	CONTROL_ONBOARD,  /* tenant, template, display_name?: RIGHT_ADMIN */
	CONTROL_OFFBOARD, /* tenant, archive | purge: RIGHT_ADMIN; replied when done */
	CONTROL_SESSIONS, /* tenant?: RIGHT_READ */
	CONTROL_KICK,     /* session: RIGHT_OPERATE */
};

/* What a caller may do: each command needs one of these. */
enum control_right { RIGHT_NONE, RIGHT_READ, RIGHT_OPERATE, RIGHT_ADMIN };

struct control_request {
	enum control_cmd cmd;
	char tenant[32];  /* "" when not given; a valid name when given */
	char service[32]; /* "" when not given */
	unsigned lines;   /* logs: how many lines of history (default 50, max 100000) */
	bool follow;      /* logs: keep streaming */
	char tmpl[32];    /* onboard: the template, a valid name */
	/* onboard: "" when not given; else 1..CONTROL_DISPLAY_NAME_MAX characters
	 * of UTF-8 without control, bidi-override or line-separator characters */
	char display_name[CONTROL_DISPLAY_NAME_MAX * 4 + 1];
	/* offboard: an absolute path without "." or ".." components, or "" */
	char archive[CONTROL_ARCHIVE_MAX];
	bool purge; /* offboard: exactly one of archive and purge */
	/* kick: [a-z0-9-]{1,32} (session-launch.c makes 8 hex digits) */
	char session[CONTROL_SESSION_ID_MAX + 1];
};

/* Parses one request line (without its newline). Pure: no I/O. Returns 0,
 * or -1 with err saying what is wrong ("unknown command \"x\"",
 * "tenant: invalid name"). Names are validated here (no "/" or ".."). */
int control_parse_request(const char *line, size_t len, struct control_request *req,
			  struct ward_err *err);
const char *control_cmd_to_string(enum control_cmd c);
enum control_right control_cmd_right(enum control_cmd c);

/* The gids of the admin, operator and viewer groups, as the name service
 * had them when looked up (known false: no such group, which grants
 * nothing). */
enum { CONTROL_GID_ADMIN, CONTROL_GID_OPERATOR, CONTROL_GID_VIEWER };
struct control_gids {
	bool known[3];
	gid_t gid[3];
};
/* Looks the configured group names up (NSS: may block; the daemon does it
 * once, when the socket is made, never per connection). */
void control_resolve_groups(const struct ward_config *cfg, struct control_gids *g);

/* The rights of a peer: root everything; admin group everything;
 * operator group read+operate; viewer group read; else none. */
enum control_right control_gids_right(const struct control_gids *g, uid_t uid, gid_t gid,
				      const gid_t *groups, size_t n_groups);
/* The same, looking the groups up now. */
enum control_right control_peer_right(const struct ward_config *cfg, uid_t uid, gid_t gid,
				      const gid_t *groups, size_t n_groups);

struct control;
struct onboarding;
struct session_server;

/* Creates STATE_DIR/control.sock (0660, group cfg->socket_group) and serves
 * it on the loop. The user names in its audit records come from udb. */
struct control *control_new(const struct ward_config *cfg, struct loop *loop,
			    struct supervisor *sup, struct audit *audit, struct userdb *udb,
			    struct ward_err *err);
/* Closes every client, removes the socket and the supervisor's output
 * hook: call it before supervisor_free, and not from inside a supervisor
 * call that the control socket made. */
void control_free(struct control *c);

/* What onboard/offboard and sessions/kick are served by (NULL, the
 * default: those commands fail with "... not available"). An offboard is
 * replied to once it is over; its client is not timed out meanwhile and its
 * further requests wait. */
void control_set_onboarding(struct control *c, struct onboarding *ob);
void control_set_sessions(struct control *c, struct session_server *ss);

/* For tests: the idle limit (default 10 s) and the number of clients. */
void control_set_idle_timeout(struct control *c, uint64_t ms);
size_t control_count_clients(const struct control *c);
