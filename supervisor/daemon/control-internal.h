/* The inside of the control socket (control.h), shared by its files, one
 * concern each:
 *   control-request.c   the request line: pure parsing, the commands' words
 *   control-rights.c    who may do what: the admin, operator, viewer groups
 *   control-client.c    a client: its bytes in, its output queued within
 *                       the caps and budgets, streamed logs, followers
 *   control-commands.c  what a request does: audit, dispatch, deferred replies
 *   control.c           the socket: accepting, admitting, and JSON strings
 *                       of any bytes (the UTF-8 itself is basic/text.h's)
 * A struct client is written by control-client.c but for its peer and
 * rights (set once, at accept, by control.c); struct control by control.c.
 * Not for use outside these files. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "basic/loop.h"
#include "basic/outbuf.h"
#include "daemon/control.h"
#include "daemon/logs.h"

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define CONTROL_MAX_CLIENTS 2000
/* The last CONTROL_ADMIN_RESERVE of them are for root and the admin group
 * only, and nobody but root holds more than CONTROL_MAX_PER_UID: a viewer
 * (or any member of the socket's group) cannot take the socket from the
 * people who would stop it. */
#define CONTROL_ADMIN_RESERVE 200
#define CONTROL_MAX_PER_UID   64
#define CONTROL_BACKLOG       256
/* A client is dropped after this long without a request (a follower: not
 * counted), or with output it has not taken any of (anyone, followers
 * too: a follower that does not drain is dropped). */
#define CONTROL_IDLE_MS 10000
/* Output is counted as it is queued, after JSON escaping (a control byte
 * is six), the bytes being queued included: unsent bytes of one client
 * (past this it is too slow and dropped), and the buffers of all of them.
 * Followers and streamed replies of clients other than root and the
 * admin group may hold CONTROL_STREAM_BUDGET, their replies
 * CONTROL_UNPRIV_BUDGET; root and admins the rest of CONTROL_OUTPUT_BUDGET. */
#define CONTROL_MAX_PENDING    (4u << 20)
#define CONTROL_OUTPUT_BUDGET  (64u << 20)
#define CONTROL_UNPRIV_BUDGET  (48u << 20)
#define CONTROL_STREAM_BUDGET  (32u << 20)
#define CONTROL_LOGS_MAX_BYTES (4u << 20)
/* A logs reply is streamed: STREAM_CHUNK bytes of the file are read and
 * escaped whenever less than STREAM_LOW is waiting to be sent. */
#define STREAM_CHUNK          16384
#define STREAM_LOW            65536
#define STREAM_ESC_MAX        ((STREAM_CHUNK + 4) * 6 + 8)
#define STREAM_RETRY_MS       50
#define REFUSED_WARN_MS       10000
#define CONTROL_MAX_LINES     100000
#define CONTROL_DEFAULT_LINES 50
#define INPUT_MIN_CAP         1024
/* Per turn, so one busy client cannot starve the others. */
#define ACCEPTS_PER_TURN 64
#define READS_PER_TURN   16
/* How much of a value given in a request an error message or audit record
 * repeats. */
#define QUOTE_MAX       40
#define AUDIT_VALUE_MAX 64

/* Who is on the other end, as the kernel said when it connected. */
struct peer_info {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	char user[64];
};

/* A client's logs: the reply being streamed, and the service's output it
 * follows (streamed by control-client.c; started by control-commands.c). */
struct client_logs {
	/* The reply: the rest of the tail, the bytes of a UTF-8 character cut
	 * at a chunk's end, and (following) the output that came meanwhile,
	 * queued once the reply is complete. Requests wait unread meanwhile. */
	struct log_reader *reader;
	char carry[4];
	size_t n_carry;
	struct outbuf held;
	struct loop_timer *retry;
	/* Following: the service whose output it gets. */
	bool following;
	char tenant[32], service[32];
};

struct client {
	struct control *ctl;
	struct client *prev, *next;
	int fd;
	uint32_t events; /* what the loop watches for now */
	uint64_t id;     /* never reused: a deferred reply finds its client by it */

	/* Who, and what they may do: set at accept (control.c), the name
	 * filled in when the name service answers. */
	struct peer_info peer;
	enum control_right right;
	/* Root or the admin group: the reserved connections and output. */
	bool privileged;

	char *in; /* a partial request line, at most CONTROL_MAX_REQUEST */
	size_t in_len, in_cap, in_scanned;
	struct outbuf out; /* replies not yet taken by the peer */
	struct loop_timer *idle;
	struct client_logs logs;

	bool read_closed;        /* no more requests: EOF, or a line too long */
	bool close_when_drained; /* ... and nothing more to say after the replies */
	bool busy;               /* its event callback is running */
	bool dead;               /* dropped while busy: freed when the callback ends */
	/* A deferred reply (offboard) is due, or the name service has not
	 * said who the peer is yet (lookup): its next requests wait unread,
	 * and no idle timeout runs. */
	bool waiting;
	struct userdb_query *lookup;
};

/* A request whose reply comes later. Outlives its client (the audit record
 * is written either way) and, orphaned (ctl NULL), the control socket. */
struct pending {
	struct control *ctl;
	struct pending *prev, *next;
	uint64_t client_id;
	struct peer_info peer;
	struct control_request req;
};

struct control {
	const struct ward_config *cfg;
	struct loop *loop;
	struct supervisor *sup;
	struct audit *audit;
	struct userdb *udb;
	struct listener *listener;
	struct client *clients;
	size_t n_clients;
	uint64_t warned_at; /* the last "refusing connections" message */
	/* Output buffers' bytes: every client's, and those of clients not
	 * privileged. */
	size_t out_total, out_unpriv;
	char *scratch; /* STREAM_ESC_MAX bytes, for escaping a chunk */
	uint64_t idle_ms;
	uint64_t next_id;
	struct onboarding *ob;
	struct session_server *ss;
	struct pending *pendings;
	/* The configured groups' gids, looked up once in control_new: never
	 * per connection on the loop (a hung sssd or LDAP would stall every
	 * tenant's supervision). */
	struct control_gids gids;
};

/* What is queued: a reply; a follower's output or a piece of a streamed
 * reply; a short error line (outside the budgets, so that a refusal is
 * always said). */
enum qkind { Q_REPLY, Q_STREAM, Q_ERROR };

/* control.c: a JSON string of any bytes (invalid UTF-8: U+FFFD, as
 * text_utf8_lossy makes it); NULL when out of memory. */
json_t *control_json_string_lossy(const char *s, size_t len);

/* control-client.c */
/* Frees a client now (not while its callback runs: see client_drop). */
void control_client_free(struct client *c);
/* Bytes queued and not yet taken by the peer. */
size_t control_client_pending(const struct client *c);
/* What the loop watches for c now. */
void control_client_watch(struct client *c);
/* The end of a turn on c, busy until now: a client that died, or that is
 * to close and has nothing left to send or wait for, is freed; any other
 * is watched for what it waits for. c is not to be used after. */
void control_client_settle(struct client *c);
/* Writes what it can without blocking. -1: the client is gone (dropped). */
int control_client_flush(struct client *c);
/* Queues data behind what is pending, within the cap and the budget of
 * its kind. -1: dropped (too slow, or over the budget). */
int control_client_queue(struct client *c, const char *data, size_t len, enum qkind kind);
/* One reply line (takes the reference), or an error line. -1: dropped. */
int control_client_reply(struct client *c, json_t *obj);
int control_client_reply_error(struct client *c, const char *msg);
/* (Re)starts the client's idle clock. */
void control_client_arm_idle(struct client *c);
/* Sends the next pieces of a streamed logs reply while little waits. */
void control_client_stream_fill(struct client *c);
/* The live client with that id, or NULL. */
struct client *control_client_by_id(struct control *ctl, uint64_t id);
/* Handles every complete line in the input buffer. */
void control_client_take_lines(struct client *c);
/* The loop's callback on a client's socket. */
void control_client_event(struct loop *l, int fd, uint32_t events, void *ud);
/* The supervisor's output hook: a service's output to its followers. */
void control_on_output(const char *tenant, const char *service, const char *data, size_t len,
		       void *ud);

/* control-commands.c */
/* One "control" record; takes cmd, tenant, service and extra (may be
 * NULL). A refusal is rate limited per uid. */
void control_audit(struct control *ctl, const struct peer_info *p, json_t *cmd, json_t *tenant,
		   json_t *service, json_t *extra, const char *verdict, const char *result);
/* One request line: parsed, authorized, audited, run, replied to. */
void control_client_handle_line(struct client *c, const char *line, size_t len);
