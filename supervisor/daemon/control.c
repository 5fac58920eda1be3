/* The control socket: one JSON request a line, the peer checked with
 * SO_PEERCRED/SO_PEERGROUPS, authorized, dispatched to the supervisor, and
 * every request audited with its verdict. Nothing here blocks the loop.
 * This file makes the socket and admits its clients (control-internal.h
 * says which file has the rest). */
#include "daemon/control-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "basic/cleanup.h"
#include "basic/listener.h"
#include "basic/log.h"
#include "basic/text.h"
#include "sandbox/caps.h"

/* A JSON string of any bytes: invalid UTF-8 becomes U+FFFD (text.h). */
json_t *control_json_string_lossy(const char *s, size_t len)
{
	_cleanup_free_ char *fixed = NULL;
	json_t *j = json_stringn(s ? s : "", s ? len : 0);

	if (j || !s)
		return j;
	if (len > (SIZE_MAX - 1) / 3)
		return NULL;
	fixed = malloc(len * 3 + 1);
	if (!fixed)
		return NULL;
	/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): fixed is _cleanup_free_ */
	return json_stringn(fixed, text_utf8_lossy(s, len, fixed));
}

static gid_t *peer_groups(int fd, size_t *n)
{
	socklen_t size = 64 * sizeof(gid_t);

	*n = 0;
	for (;;) {
		gid_t *g = malloc(size);
		socklen_t len = size;

		if (!g)
			return NULL;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) == 0) {
			*n = len / sizeof(gid_t);
			return g;
		}
		free(g);
		/* ERANGE tells the size needed. Anything else: no supplementary
		 * groups, which can only lower the rights. */
		if (errno != ERANGE || len <= size || len > (1u << 20))
			return NULL;
		size = len;
	}
}

/* The name service's word on who the peer is, for the audit records
 * (its rights come from the kernel: SO_PEERCRED and SO_PEERGROUPS). */
static void on_peer_user(const struct userdb_answer *a, void *ud)
{
	struct client *c = ud;

	c->lookup = NULL;
	/* Else it stays the uid's number. */
	if (!a->err && strlen(a->name) < sizeof(c->peer.user))
		(void)snprintf(c->peer.user, sizeof(c->peer.user), "%s", a->name);
	c->waiting = false;
	c->busy = true; /* what drops it below only marks it dead */
	control_client_arm_idle(c);
	control_client_settle(c);
}

static size_t clients_of(const struct control *ctl, uid_t uid)
{
	size_t n = 0;

	for (const struct client *c = ctl->clients; c; c = c->next)
		n++, n -= c->peer.uid != uid;
	return n;
}

/* Whether a new connection may stay: within the limit of all connections,
 * outside the admins' reserve unless privileged, and within its uid's
 * share unless root. Else it is told why and closed (it is not audited:
 * that would let anyone who may connect write to the audit log at will). */
static bool client_admitted(struct control *ctl, int fd, uid_t uid, bool privileged)
{
	char why[112], line[160];
	int n;

	if (ctl->n_clients >= CONTROL_MAX_CLIENTS)
		(void)snprintf(why, sizeof(why), "too many connections (%d)", CONTROL_MAX_CLIENTS);
	else if (!privileged && ctl->n_clients >= CONTROL_MAX_CLIENTS - CONTROL_ADMIN_RESERVE)
		(void)snprintf(why, sizeof(why),
			       "too many connections: the last %d are kept for root and the admin "
			       "group",
			       CONTROL_ADMIN_RESERVE);
	else if (uid != 0 && clients_of(ctl, uid) >= CONTROL_MAX_PER_UID)
		(void)snprintf(why, sizeof(why), "too many connections from uid %u (at most %d)",
			       (unsigned)uid, CONTROL_MAX_PER_UID);
	else
		return true;
	n = snprintf(line, sizeof(line), "{\"ok\":false,\"error\":\"%s\"}\n", why);
	/* Best effort, never waiting: the peer may not read. */
	if (n > 0 && (size_t)n < sizeof(line))
		(void)send(fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	close(fd);
	if (!ctl->warned_at || loop_now_ms() - ctl->warned_at >= REFUSED_WARN_MS) {
		ctl->warned_at = loop_now_ms();
		log_msg("control: refusing a connection from uid %u: %s", (unsigned)uid, why);
	}
	return false;
}

static void client_new(struct control *ctl, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	_cleanup_free_ gid_t *groups = NULL;
	size_t n_groups = 0;
	enum control_right right;
	struct client *c;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || len != sizeof(cred)) {
		close(fd);
		return;
	}
	groups = peer_groups(fd, &n_groups);
	right = control_gids_right(&ctl->gids, cred.uid, cred.gid, groups, n_groups);
	if (!client_admitted(ctl, fd, cred.uid, right == RIGHT_ADMIN))
		return;
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	*c = (struct client){.ctl = ctl, .fd = fd};
	c->id = ++ctl->next_id;
	c->peer = (struct peer_info){.pid = cred.pid, .uid = cred.uid, .gid = cred.gid};
	(void)snprintf(c->peer.user, sizeof(c->peer.user), "%u", (unsigned)cred.uid);
	c->right = right;
	c->privileged = right == RIGHT_ADMIN;
	/* Every buffer counts in the budget of all output; those of clients
	 * not privileged in theirs too. */
	c->out.charge[0] = c->logs.held.charge[0] = &ctl->out_total;
	if (!c->privileged)
		c->out.charge[1] = c->logs.held.charge[1] = &ctl->out_unpriv;
	/* Its requests wait (unread) for the name: every audit record of
	 * them names the user. Only a hang-up is watched meanwhile. */
	c->lookup = userdb_lookup(ctl->udb, cred.uid, false, on_peer_user, c);
	c->waiting = c->lookup != NULL;
	if (loop_add_fd(ctl->loop, fd, c->waiting ? 0 : EPOLLIN, control_client_event, c) < 0) {
		userdb_cancel(ctl->udb, c->lookup);
		close(fd);
		free(c);
		return;
	}
	c->events = c->waiting ? 0 : EPOLLIN;
	c->next = ctl->clients;
	if (ctl->clients)
		ctl->clients->prev = c;
	ctl->clients = c;
	ctl->n_clients++;
	control_client_arm_idle(c);
}

/* A new connection (the listener's hook). */
static void on_accept(int fd, void *ud)
{
	client_new(ud, fd);
}

/* The gid the socket file gets: the configured group's, else the daemon's
 * own (root only, then). */
static gid_t socket_gid(const char *group, const char *path)
{
	gid_t gid = getegid();

	if (group && *group && !caps_group_gid(group, &gid))
		log_msg("warning: socket group \"%s\" does not exist: %s stays "
			"accessible to root only",
			group, path);
	return gid;
}

struct control *control_new(const struct ward_config *cfg, struct loop *loop,
			    struct supervisor *sup, struct audit *audit, struct userdb *udb,
			    struct ward_err *err)
{
	char path[sizeof(((struct sockaddr_un *)NULL)->sun_path)];
	struct listener_opts opts = {.name = "control",
				     .mode = 0660,
				     .backlog = CONTROL_BACKLOG,
				     .per_turn = ACCEPTS_PER_TURN};
	struct control *ctl;
	int n;

	n = snprintf(path, sizeof(path), "%s/control.sock", cfg->state_dir);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		ward_err_set(err, ENAMETOOLONG, "control socket %s/control.sock", cfg->state_dir);
		return NULL;
	}
	ctl = calloc(1, sizeof(*ctl));
	if (!ctl) {
		ward_err_set(err, ENOMEM, "control");
		return NULL;
	}
	*ctl = (struct control){.cfg = cfg,
				.scratch = malloc(STREAM_ESC_MAX),
				.loop = loop,
				.sup = sup,
				.audit = audit,
				.udb = udb,
				.idle_ms = CONTROL_IDLE_MS};
	if (!ctl->scratch) {
		ward_err_set(err, ENOMEM, "control");
		free(ctl);
		return NULL;
	}
	/* At start, before the loop serves anyone. */
	control_resolve_groups(cfg, &ctl->gids);
	opts.gid = socket_gid(cfg->socket_group, path);
	ctl->listener = listener_new(loop, path, &opts, on_accept, ctl, err);
	if (!ctl->listener) {
		free(ctl->scratch);
		free(ctl);
		return NULL;
	}
	if (sup)
		supervisor_set_output_hook(sup, control_on_output, ctl);
	return ctl;
}

void control_set_onboarding(struct control *c, struct onboarding *ob)
{
	c->ob = ob;
}

void control_set_sessions(struct control *c, struct session_server *ss)
{
	c->ss = ss;
}

void control_set_idle_timeout(struct control *c, uint64_t ms)
{
	c->idle_ms = ms;
}

size_t control_count_clients(const struct control *c)
{
	return c->n_clients;
}

void control_free(struct control *c)
{
	if (!c)
		return;
	if (c->sup)
		supervisor_set_output_hook(c->sup, NULL, NULL);
	/* Their replies come later, if ever: they find no socket then. */
	for (struct pending *p = c->pendings; p; p = p->next)
		p->ctl = NULL;
	for (struct client *cl = c->clients, *next; cl; cl = next) {
		next = cl->next;
		control_client_free(cl);
	}
	listener_free(c->listener);
	free(c->scratch);
	free(c);
}
