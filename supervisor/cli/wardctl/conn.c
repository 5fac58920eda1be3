/* wardctl's side of the control protocol: one connection to wardd's
 * socket, JSON requests sent as lines, replies read back as lines (a
 * follow streams more of them). Every failure is said on stderr here. */
#include "basic/text.h"
#include "cli/wardctl/wardctl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define REPLY_MAX (64u << 20) /* a longer reply line is an error */

const char *socket_path = DEFAULT_SOCKET;

void print_error(const char *msg)
{
	fputs("wardctl: ", stderr);
	text_print_clean(stderr, msg);
	fputc('\n', stderr);
}

void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	*c = (struct conn){.fd = -1};
}

int conn_open(struct conn *c)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t n = strlen(socket_path);
	int e;

	*c = (struct conn){.fd = -1};
	if (n >= sizeof(sa.sun_path)) {
		fprintf(stderr, "wardctl: cannot connect to %s: %s\n", socket_path,
			strerror(ENAMETOOLONG));
		return -1;
	}
	memcpy(sa.sun_path, socket_path, n + 1);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd >= 0 && connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return 0;
	e = errno;
	fprintf(stderr, "wardctl: cannot connect to %s: %s\n", socket_path, strerror(e));
	conn_close(c);
	return -1;
}

/* Sends req (the reference is taken) as one line. Returns 0, -1 (said
 * why), or 1 when wardd had already closed the connection: it may have
 * written why first (a refused connection is told, then closed without
 * reading), so the caller reads before it reports the broken pipe. */
static int conn_send(struct conn *c, json_t *req)
{
	char *s = req ? json_dumps(req, JSON_COMPACT) : NULL;
	size_t len, done = 0;
	char *line;

	json_decref(req);
	if (!s) {
		fprintf(stderr, "wardctl: out of memory\n");
		return -1;
	}
	len = strlen(s);
	line = realloc(s, len + 2);
	if (!line) {
		free(s);
		fprintf(stderr, "wardctl: out of memory\n");
		return -1;
	}
	line[len++] = '\n';
	while (done < len) {
		ssize_t n = send(c->fd, line + done, len - done, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
			free(line);
			return 1;
		}
		if (n < 0) {
			fprintf(stderr, "wardctl: sending to %s: %s\n", socket_path,
				strerror(errno));
			free(line);
			return -1;
		}
		done += (size_t)n;
	}
	free(line);
	return 0;
}

/* Takes the next complete line out of the buffer, if there is one.
 * Returns 1 (taken), 0 (none yet) or -1 (it is longer than REPLY_MAX). */
static int conn_take_line(struct conn *c, char **line, size_t *len)
{
	char *nl =
	    c->len > c->scanned ? memchr(c->buf + c->scanned, '\n', c->len - c->scanned) : NULL;

	if (!nl)
		return 0;
	*nl = '\0';
	*line = c->buf + c->off;
	*len = (size_t)(nl - *line);
	c->off = c->scanned = (size_t)(nl - c->buf) + 1;
	return *len > REPLY_MAX ? -1 : 1;
}

/* Moves the unread part to the buffer's start and makes room for at
 * least 64 KiB more. Returns 0, or -1 (said why). */
static int conn_make_room(struct conn *c)
{
	if (c->off) {
		memmove(c->buf, c->buf + c->off, c->len - c->off);
		c->len -= c->off;
		c->scanned -= c->off;
		c->off = 0;
	}
	if (c->cap - c->len < 65536) {
		size_t cap = c->cap ? c->cap * 2 : 131072;
		char *p = realloc(c->buf, cap);

		if (!p) {
			fprintf(stderr, "wardctl: out of memory\n");
			return -1;
		}
		c->buf = p;
		c->cap = cap;
	}
	return 0;
}

/* One line from the daemon, newline stripped, valid until the next call.
 * Returns 1, 0 at a clean end of the stream, or -1 (said why). */
static int conn_read_line(struct conn *c, char **line, size_t *len)
{
	for (;;) {
		int got = conn_take_line(c, line, len);
		ssize_t n;

		if (got > 0)
			return 1;
		if (got < 0)
			break;
		c->scanned = c->len;
		if (c->len - c->off > REPLY_MAX)
			break;
		if (conn_make_room(c) < 0)
			return -1;
		n = read(c->fd, c->buf + c->len, c->cap - c->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "wardctl: reading from %s: %s\n", socket_path,
				strerror(errno));
			return -1;
		}
		if (n == 0) {
			if (c->len == c->off)
				return 0;
			fprintf(stderr,
				"wardctl: wardd closed the connection in the middle of a reply\n");
			return -1;
		}
		c->len += (size_t)n;
	}
	fprintf(stderr, "wardctl: reply from wardd longer than %u MiB\n", REPLY_MAX >> 20);
	return -1;
}

/* The next message as a JSON object; NULL (said why) on failure or at the
 * end of the stream (*eof set then). */
json_t *conn_read_json(struct conn *c, bool *eof)
{
	char *line;
	size_t len;
	json_t *o;
	int r = conn_read_line(c, &line, &len);

	*eof = r == 0;
	if (r <= 0)
		return NULL;
	o = json_loadb(line, len, 0, NULL);
	if (!json_is_object(o)) {
		json_decref(o);
		fprintf(stderr, "wardctl: malformed reply from wardd\n");
		return NULL;
	}
	return o;
}

/* 0 if the reply says ok; else prints its error and returns -1. */
int reply_ok(json_t *reply)
{
	const char *msg;

	if (json_is_true(json_object_get(reply, "ok")))
		return 0;
	msg = json_string_value(json_object_get(reply, "error"));
	print_error(msg ? msg : "request failed");
	return -1;
}

/* Sends req (taken) on c and returns its ok reply, or NULL (said why). */
json_t *conn_request(struct conn *c, json_t *req)
{
	json_t *reply;
	bool eof;
	int sent = conn_send(c, req);

	if (sent < 0)
		return NULL;
	reply = conn_read_json(c, &eof);
	if (!reply) {
		if (eof && sent == 1)
			fprintf(stderr, "wardctl: sending to %s: %s\n", socket_path,
				strerror(EPIPE));
		else if (eof)
			fprintf(stderr, "wardctl: wardd closed the connection without a reply\n");
		return NULL;
	}
	if (reply_ok(reply) < 0) {
		json_decref(reply);
		return NULL;
	}
	return reply;
}

/* One request, one reply, on a connection of its own. */
json_t *request(json_t *req)
{
	struct conn c;
	json_t *reply;

	if (conn_open(&c) < 0) {
		json_decref(req);
		return NULL;
	}
	reply = conn_request(&c, req);
	conn_close(&c);
	return reply;
}

/* {"cmd": cmd} plus tenant and service when given (non-empty). */
json_t *new_request(const char *cmd, const char *tenant, const char *service)
{
	json_t *req = json_object();

	if (!req)
		return NULL;
	json_object_set_new(req, "cmd", json_string(cmd));
	if (tenant && *tenant)
		json_object_set_new(req, "tenant", json_string(tenant));
	if (service && *service)
		json_object_set_new(req, "service", json_string(service));
	return req;
}
