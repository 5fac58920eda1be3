/* Sessions: the client's socket. Its bytes in (the request, then
 * {"input":true}), never a descriptor; the replies out, the session's
 * ends riding on the "ok". wardd does no I/O on anything a client can
 * reach but this socket, and none that waits. */
#include "daemon/session-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

void session_sock_watch(struct session *s)
{
	uint32_t want = 0;

	if (s->cl.gone || s->cl.fd < 0)
		return;
	/* Not while the request waits for the name service: what comes
	 * after it waits in the socket (a hang-up is still seen). */
	if (s->state != S_CLOSING && !s->cl.req_waiting)
		want |= EPOLLIN;
	if (outbuf_pending(&s->cl.out))
		want |= EPOLLOUT;
	if (want != s->cl.events && loop_mod_fd(s->ss->loop, s->cl.fd, want) == 0)
		s->cl.events = want;
}

void session_pass_close(struct session *s)
{
	for (size_t i = 0; i < s->cl.n_pass; i++)
		close(s->cl.pass[i]);
	s->cl.n_pass = 0;
}

/* Sends what is queued. The fds of s->cl.pass ride on the first bytes, which
 * are the "ok" (nothing is sent to a client before it), and are then the
 * client's alone: our copies are closed at once, so that wardd holds no
 * end of anything the client reads or writes. */
void session_sock_flush(struct session *s)
{
	size_t sent = 0;
	int r;

	if (s->cl.gone || s->cl.fd < 0 || !outbuf_pending(&s->cl.out))
		return;
	r = outbuf_flush(&s->cl.out, s->cl.fd, s->cl.pass, s->cl.n_pass, &sent);
	if (sent)
		session_pass_close(s); /* they went with the first byte */
	if (r < 0)
		s->cl.gone = true;
}

/* Queues one line for the client. Takes the reference. */
void session_reply(struct session *s, json_t *obj)
{
	char *line = obj ? json_dumps(obj, JSON_COMPACT) : NULL;

	json_decref(obj);
	if (!line) {
		s->cl.gone = true; /* out of memory: the client would wait for ever */
		return;
	}
	if (outbuf_append(&s->cl.out, line, strlen(line)) < 0 ||
	    outbuf_append(&s->cl.out, "\n", 1) < 0)
		s->cl.gone = true;
	free(line);
	session_sock_flush(s);
}

/* Refuses a logon: audited first, then told to the client. */
void session_refuse(struct session *s, const char *reason)
{
	session_pass_close(s); /* the session's ends go with an "ok" only */
	session_audit_logon(s, "refused", reason);
	session_reply(s, json_pack("{s:b, s:s}", "ok", 0, "error", reason));
	s->state = S_CLOSING;
}

/* The same once the name service has said who the client is, so that the
 * record names the user (on_user refuses; its deadline bounds the wait). */
void session_refuse_when_known(struct session *s, const char *reason)
{
	if (!s->peer.lookup) {
		session_refuse(s, reason);
		return;
	}
	(void)snprintf(s->cl.held, sizeof(s->cl.held), "%s", reason);
	s->cl.req_waiting = true;
	session_timer_clear(s);
}

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
		char *nl = memchr(s->cl.in + start, '\n', s->cl.in_len - start);

		if (!nl)
			break;
		if (s->state == S_REQUEST && s->peer.lookup) {
			/* Taken when the name service has answered (session_on_user):
			 * every record of it, refusals too, names the user. The
			 * lookup's deadline bounds the wait now. */
			s->cl.req_waiting = true;
			session_timer_clear(s);
			break;
		}
		if (s->state == S_REQUEST)
			session_handle_request(s, s->cl.in + start,
					       (size_t)(nl - (s->cl.in + start)));
		else
			handle_message(s, s->cl.in + start, (size_t)(nl - (s->cl.in + start)));
		start = (size_t)(nl - s->cl.in) + 1;
		if (s->state == S_CLOSING)
			break;
	}
	memmove(s->cl.in, s->cl.in + start, s->cl.in_len - start);
	s->cl.in_len -= start;
}

static void sock_read(struct session *s)
{
	size_t max = session_asking(s) ? SESSION_MAX_REQUEST : SESSION_MAX_MESSAGE;

	for (int i = 0; i < 4 && !s->cl.gone && s->state != S_CLOSING; i++) {
		struct iovec iov;
		/* No room for control data, on purpose: descriptors a client
		 * attaches are never installed in our table. The kernel drops
		 * them itself and says so with MSG_CTRUNC. Taking them only to
		 * close them would not do: close() calls the file system's
		 * flush, and a FUSE server can hold that for ever. (Where the
		 * kernel has SO_PASSRIGHTS, the client cannot send them.) */
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
		ssize_t n;

		if (!s->cl.in && !(s->cl.in = malloc(SESSION_MAX_REQUEST))) {
			s->cl.gone = true;
			return;
		}
		if (s->cl.in_len >= max) {
			/* No newline within the limit. */
			s->cl.in_len = 0;
			if (session_asking(s)) {
				char reason[128];

				(void)snprintf(reason, sizeof(reason),
					       "malformed request: longer than %d bytes (newline "
					       "included)",
					       SESSION_MAX_REQUEST);
				session_refuse_when_known(s, reason);
				return;
			}
			continue; /* a message that long is dropped */
		}
		iov.iov_base = s->cl.in + s->cl.in_len;
		iov.iov_len = max - s->cl.in_len;
		n = recvmsg(s->cl.fd, &mh, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				s->cl.gone = true;
			return;
		}
		if ((mh.msg_flags & MSG_CTRUNC) && session_asking(s)) {
			session_refuse_when_known(
			    s, "malformed request: file descriptors attached: wardd "
			       "takes none (ward-session relays the terminal itself)");
			return;
		}
		if (n == 0) {
			s->cl.gone = true;
			return;
		}
		s->cl.in_len += (size_t)n;
		take_lines(s);
	}
}

void session_on_sock(struct loop *l, int fd, uint32_t events, void *ud)
{
	struct session *s = ud;

	(void)l;
	(void)fd;
	if (events & EPOLLOUT)
		session_sock_flush(s);
	if (s->cl.req_waiting && (events & (EPOLLHUP | EPOLLERR)))
		s->cl.gone = true; /* all that is watched while the request waits */
	else if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		sock_read(s);
	if (events & EPOLLERR)
		s->cl.gone = true;
	session_settle(s);
}

void session_on_request_timeout(struct loop *l, void *ud)
{
	struct session *s = ud;
	char reason[96];

	(void)l;
	s->timer = NULL;
	(void)snprintf(reason, sizeof(reason), "malformed request: none within %d s",
		       SESSION_REQUEST_MS / 1000);
	session_refuse_when_known(s, reason);
	session_settle(s);
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
void session_on_user(const struct userdb_answer *a, void *ud)
{
	struct session *s = ud;

	s->peer.lookup = NULL;
	s->peer.lookup_err = a->err;
	if (!a->err && strlen(a->name) >= sizeof(s->peer.user))
		s->peer.lookup_err = E2BIG;
	else if (!a->err && a->n_groups &&
		 !(s->peer.groups = malloc(names_size(a->group_names, a->n_groups))))
		s->peer.lookup_err = ENOMEM;
	else if (!a->err) {
		(void)snprintf(s->peer.user, sizeof(s->peer.user), "%s",
			       a->name); /* fits: checked */
		if (a->n_groups)
			memcpy(s->peer.groups, a->group_names,
			       names_size(a->group_names, a->n_groups));
		s->peer.n_groups = a->n_groups;
	}
	if (!s->cl.req_waiting)
		return;
	s->cl.req_waiting = false;
	if (s->cl.held[0])
		session_refuse(s, s->cl.held);
	else
		take_lines(s); /* the request, and what came after it */
	session_settle(s);
}
