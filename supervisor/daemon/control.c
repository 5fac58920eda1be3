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
#include "sandbox/caps.h"

/* ======================================================================
 * JSON strings from arbitrary bytes
 * ====================================================================== */

/* The code point of the (valid, as jansson decoded it) UTF-8 sequence at
 * s, and its length. */
uint32_t control_utf8_decode(const unsigned char *s, size_t *len)
{
	if (s[0] < 0x80)
		return *len = 1, s[0];
	if (s[0] < 0xe0)
		return *len = 2, (uint32_t)(s[0] & 0x1f) << 6 | (s[1] & 0x3f);
	if (s[0] < 0xf0)
		return *len = 3,
		       (uint32_t)(s[0] & 0x0f) << 12 | (uint32_t)(s[1] & 0x3f) << 6 | (s[2] & 0x3f);
	return *len = 4, (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3f) << 12 |
			     (uint32_t)(s[2] & 0x3f) << 6 | (s[3] & 0x3f);
}

/* Length of the valid UTF-8 sequence at s (RFC 3629: no overlongs, no
 * surrogates, nothing past U+10FFFF), or 0 if there is none. */
size_t control_utf8_seq_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, cp = c & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* A JSON string of any bytes: invalid UTF-8 becomes U+FFFD. */
json_t *control_json_string_lossy(const char *s, size_t len)
{
	_cleanup_free_ char *fixed = NULL;
	json_t *j = json_stringn(s ? s : "", s ? len : 0);
	size_t o = 0;

	if (j || !s)
		return j;
	if (len > (SIZE_MAX - 1) / 3)
		return NULL;
	fixed = malloc(len * 3 + 1);
	if (!fixed)
		return NULL;
	for (size_t i = 0; i < len;) {
		size_t n = control_utf8_seq_len((const unsigned char *)s + i, len - i);

		if (n) {
			memcpy(fixed + o, s + i, n);
			o += n;
			i += n;
		} else {
			static const char replacement[3] = {'\xef', '\xbf', '\xbd'}; /* U+FFFD */

			memcpy(fixed + o, replacement, sizeof(replacement));
			o += sizeof(replacement);
			i++;
		}
	}
	/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): fixed is _cleanup_free_ */
	return json_stringn(fixed, o);
}

/* Whether the n (< 4) bytes at s can begin a UTF-8 character that the
 * next bytes complete. */
static bool utf8_incomplete(const unsigned char *s, size_t n)
{
	size_t want = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : 2;

	if (s[0] < 0xc2 || s[0] > 0xf4 || n >= want)
		return false;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return false;
	return true;
}

/* The body of a JSON string (no quotes) for len bytes of any kind, as
 * json_string_lossy and json_dumps would write it: invalid UTF-8 becomes
 * U+FFFD, '"', '\\' and control characters are escaped. out has room for
 * 6 * len bytes. Unless final, a character cut at the end is left: *used
 * says how many bytes were taken. Returns the bytes written. */
size_t control_json_escape_lossy(const char *in, size_t len, bool final, char *out, size_t *used)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)in;
	size_t o = 0, i = 0;

	while (i < len) {
		unsigned char ch = u[i];

		if (ch >= 0x80) {
			size_t n = control_utf8_seq_len(u + i, len - i);

			if (!n && !final && len - i < 4 && utf8_incomplete(u + i, len - i))
				break;
			if (!n) {
				out[o++] = (char)0xef; /* U+FFFD */
				out[o++] = (char)0xbf;
				out[o++] = (char)0xbd;
				i++;
				continue;
			}
			memcpy(out + o, u + i, n);
			o += n;
			i += n;
			continue;
		}
		i++;
		if (ch >= 0x20 && ch != '"' && ch != '\\') {
			out[o++] = (char)ch;
			continue;
		}
		out[o++] = '\\';
		switch (ch) {
		case '"':
		case '\\':
			out[o++] = (char)ch;
			break;
		case '\b':
			out[o++] = 'b';
			break;
		case '\f':
			out[o++] = 'f';
			break;
		case '\n':
			out[o++] = 'n';
			break;
		case '\r':
			out[o++] = 'r';
			break;
		case '\t':
			out[o++] = 't';
			break;
		default:
			out[o++] = 'u';
			out[o++] = '0';
			out[o++] = '0';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	*used = i;
	return o;
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
	/* clang-analyzer loses the busy flag across the loop's calls and sees
	 * c freed: see on_offboard_done. */
	/* NOLINTBEGIN(clang-analyzer-unix.Malloc) */
	c->busy = false;
	if (c->dead) {
		control_client_free(c);
		return;
	}
	control_client_watch(c);
	/* NOLINTEND(clang-analyzer-unix.Malloc) */
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
		fprintf(stderr, "wardd: control: refusing a connection from uid %u: %s\n",
			(unsigned)uid, why);
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
		fprintf(stderr,
			"wardd: warning: socket group \"%s\" does not exist: %s stays "
			"accessible to root only\n",
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
