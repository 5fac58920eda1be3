/* A client of the control socket: its requests read (at most
 * CONTROL_MAX_REQUEST a line, READS_PER_TURN per turn), its output queued
 * within its cap and the budgets (counted after escaping) and sent as it
 * takes it, never waiting for it; a client too slow is dropped. A logs
 * reply is streamed chunk by chunk; a follower gets the service's output
 * as it comes. */
#include "daemon/control-internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "basic/cleanup.h"
#include "basic/log.h"
#include "basic/text.h"

static void on_stream_retry(struct loop *l, void *ud);

/* Whether c may grow its buffers by growth bytes: the budget of its kind
 * of output and of its class. Counted before anything is allocated. */
static bool budget_admits(struct client *c, size_t growth, enum qkind kind)
{
	struct control *ctl = c->ctl;

	if (growth == 0 || kind == Q_ERROR)
		return true;
	if (growth > CONTROL_OUTPUT_BUDGET || ctl->out_total > CONTROL_OUTPUT_BUDGET - growth)
		return false;
	if (c->privileged)
		return true;
	return ctl->out_unpriv + growth <=
	       (kind == Q_STREAM ? CONTROL_STREAM_BUDGET : CONTROL_UNPRIV_BUDGET);
}

void control_client_free(struct client *c)
{
	struct control *ctl = c->ctl;

	if (c->prev)
		c->prev->next = c->next;
	else
		ctl->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	ctl->n_clients--;
	userdb_cancel(ctl->udb, c->lookup);
	loop_del_fd(ctl->loop, c->fd);
	close(c->fd);
	loop_timer_cancel(ctl->loop, c->idle);
	loop_timer_cancel(ctl->loop, c->logs.retry);
	log_reader_close(c->logs.reader);
	free(c->in);
	outbuf_release(&c->out);
	outbuf_release(&c->logs.held);
	free(c);
}

/* Drops a client now, or when its own callback ends if it is running. */
static void client_drop(struct client *c)
{
	if (c->busy) {
		c->dead = true;
		c->logs.following = false;
		return;
	}
	control_client_free(c);
}

void control_client_settle(struct client *c)
{
	/* c was busy until here: what dropped it only marked it dead.
	 * clang-analyzer loses the busy flag across the loop's calls and sees
	 * c freed: see on_offboard_done. */
	/* NOLINTBEGIN(clang-analyzer-unix.Malloc) */
	c->busy = false;
	if (c->dead || (c->close_when_drained && !control_client_pending(c) && !c->waiting)) {
		control_client_free(c);
		return;
	}
	control_client_watch(c);
	/* NOLINTEND(clang-analyzer-unix.Malloc) */
}

size_t control_client_pending(const struct client *c)
{
	return outbuf_pending(&c->out);
}

/* What the loop watches for c now. A streamed reply always has a way on:
 * its pending bytes (EPOLLOUT), or a timer (a flush sent everything, or
 * the budget was short). */
void control_client_watch(struct client *c)
{
	uint32_t want = 0;

	/* (Out of memory for the timer: its idle clock, which runs while it
	 * streams, ends it.) */
	if (c->logs.reader && !control_client_pending(c) && !c->logs.retry)
		c->logs.retry = loop_timer_add(c->ctl->loop, 0, on_stream_retry, c);
	if (!c->read_closed && !c->waiting && !c->logs.reader)
		want |= EPOLLIN;
	if (control_client_pending(c))
		want |= EPOLLOUT;
	if (want != c->events && loop_mod_fd(c->ctl->loop, c->fd, want) == 0)
		c->events = want;
}

/* Writes what it can without blocking. -1: the client is gone (dropped). */
int control_client_flush(struct client *c)
{
	size_t moved = 0;

	if (outbuf_flush(&c->out, c->fd, NULL, 0, &moved) < 0) {
		client_drop(c);
		return -1;
	}
	/* A big reply does not keep its buffer for the life of the client. */
	if (!control_client_pending(c) && c->out.cap > 65536)
		outbuf_release(&c->out);
	/* Taking its output counts as activity; a follower with nothing left
	 * to take has no clock. */
	if (moved)
		control_client_arm_idle(c);
	return 0;
}

/* Queues data (a whole reply line, or a piece of a streamed one) behind
 * what is pending. -1: dropped (too slow, or over the budget). */
int control_client_queue(struct client *c, const char *data, size_t len, enum qkind kind)
{
	size_t cap;

	if (c->dead)
		return -1;
	/* The new bytes count: one reply cannot take a client past the cap. */
	if (len > CONTROL_MAX_PENDING ||
	    control_client_pending(c) + c->logs.held.len > CONTROL_MAX_PENDING - len) {
		client_drop(c); /* too slow: it would make us hold everything */
		return -1;
	}
	if (!control_client_pending(c)) {
		ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			client_drop(c);
			return -1;
		}
		if (n > 0) {
			data += n;
			len -= (size_t)n;
		}
		outbuf_clear(&c->out);
	}
	if (!len)
		return 0;
	/* Make room at the tail by moving what is pending to the front, only
	 * when the tail is too short: a follower's backlog is not copied for
	 * every chunk. */
	outbuf_make_room(&c->out, len);
	cap = outbuf_cap_for(c->out.cap, c->out.len, len);
	if (cap != c->out.cap && (cap == SIZE_MAX || !budget_admits(c, cap - c->out.cap, kind) ||
				  outbuf_resize(&c->out, cap) < 0)) {
		client_drop(c);
		return -1;
	}
	if (!c->out.data) { /* cannot be: outbuf_cap_for gave room */
		client_drop(c);
		return -1;
	}
	outbuf_put(&c->out, data, len);
	if (!c->busy)
		control_client_watch(c);
	if (!c->idle)
		control_client_arm_idle(c); /* a follower's clock starts */
	return 0;
}

/* One reply line: compact JSON and "\n". Takes the reference. */
static char *json_line(json_t *obj, size_t *len)
{
	char *s;
	size_t n;

	if (!obj)
		return NULL;
	s = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	if (!s)
		return NULL;
	n = strlen(s);
	{
		char *p = realloc(s, n + 2);

		if (!p) {
			free(s);
			return NULL;
		}
		s = p;
	}
	s[n++] = '\n';
	s[n] = '\0';
	*len = n;
	return s;
}

int control_client_reply(struct client *c, json_t *obj)
{
	size_t len = 0, cap;
	_cleanup_free_ char *line = json_line(obj, &len);

	if (!line) {
		client_drop(c); /* out of memory: the peer would wait for ever */
		return -1;
	}
	/* A reply that cannot be held is refused, not half sent; the client
	 * stays. */
	if (len > CONTROL_MAX_PENDING / 2)
		/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): line is _cleanup_free_ */
		return control_client_reply_error(c, "reply too large");
	cap = outbuf_cap_for(c->out.cap, control_client_pending(c), len);
	if (cap > c->out.cap && !budget_admits(c, cap - c->out.cap, Q_REPLY))
		/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): line is _cleanup_free_ */
		return control_client_reply_error(c, "wardd is short of output memory: try again");
	/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): line is _cleanup_free_ */
	return control_client_queue(c, line, len, Q_REPLY);
}

int control_client_reply_error(struct client *c, const char *msg)
{
	json_t *o = json_object();
	size_t len = 0;
	_cleanup_free_ char *line = NULL;

	if (o) {
		json_object_set_new(o, "ok", json_false());
		json_object_set_new(o, "error", control_json_string_lossy(msg, strlen(msg)));
	}
	line = json_line(o, &len);
	if (!line) {
		client_drop(c);
		return -1;
	}
	/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): line is _cleanup_free_ */
	return control_client_queue(c, line, len, Q_ERROR);
}

static void client_idle(struct loop *l, void *ud)
{
	struct client *c = ud;

	c->idle = NULL; /* the loop frees a timer that fired */
	client_drop(c);
}

/* (Re)starts the client's clock: idle_ms without a request, or without
 * taking any of its output, and it is dropped. No clock while it waits
 * for a deferred reply, or follows with nothing left to take. */
void control_client_arm_idle(struct client *c)
{
	loop_timer_cancel(c->ctl->loop, c->idle);
	c->idle = NULL;
	if (c->waiting || c->dead ||
	    (c->logs.following && !c->logs.reader && !control_client_pending(c)))
		return;
	c->idle = loop_timer_add(c->ctl->loop, c->ctl->idle_ms, client_idle, c);
	if (!c->idle)
		client_drop(c);
}

/* Moves what a follower was sent while its history streamed behind it. */
static void client_release_held(struct client *c)
{
	if (c->logs.held.len && !c->dead) {
		/* Already counted in the budget: only this client's cap applies. */
		size_t len = c->logs.held.len;

		outbuf_clear(&c->logs.held); /* the bytes stay until the release below */
		control_client_queue(c, c->logs.held.data, len, Q_ERROR);
	}
	if (!c->dead)
		outbuf_release(&c->logs.held);
}

/* Whether the next piece of a streamed reply fits c's budget. When not, it
 * is tried again shortly (the budget's clock runs), or c is dropped when no
 * timer can be had: the caller stops either way. */
static bool stream_admitted(struct client *c)
{
	size_t cap = outbuf_cap_for(c->out.cap, control_client_pending(c), STREAM_ESC_MAX);

	if (cap <= c->out.cap || budget_admits(c, cap - c->out.cap, Q_STREAM))
		return true;
	if (!c->logs.retry)
		c->logs.retry = loop_timer_add(c->ctl->loop, STREAM_RETRY_MS, on_stream_retry, c);
	if (!c->logs.retry)
		client_drop(c);
	return false;
}

/* The streamed reply is queued whole: its follow starts, and its next
 * requests are read. c is busy (see control_client_stream_fill). */
static void stream_done(struct client *c)
{
	client_release_held(c);
	if (!c->dead && c->read_closed && !c->logs.following)
		c->close_when_drained = true;
	if (!c->dead)
		control_client_arm_idle(c);
}

/* Sends the next pieces of a streamed logs reply while little is waiting:
 * at most STREAM_CHUNK bytes of the file are escaped at a time, so a
 * reply of megabytes (six times that, escaped) is never held whole, and
 * a client that does not read holds at most about STREAM_LOW plus a
 * chunk. The reply ends with its closing quote; then its follow starts,
 * and its next requests are read. */
void control_client_stream_fill(struct client *c)
{
	struct control *ctl = c->ctl;

	/* Only ever called while c is busy (its callback, or a request it
	 * sent): what drops it only marks it dead. clang-analyzer loses the
	 * busy flag across the calls and sees c freed; see on_offboard_done. */
	/* NOLINTBEGIN(clang-analyzer-unix.Malloc) */
	while (c->logs.reader && !c->dead && control_client_pending(c) < STREAM_LOW) {
		char raw[STREAM_CHUNK + sizeof(c->logs.carry)];
		struct ward_err err = {0};
		size_t used = 0, n;
		ssize_t got;
		bool final;

		if (!stream_admitted(c))
			return;
		memcpy(raw, c->logs.carry, c->logs.n_carry);
		got = log_reader_read(c->logs.reader, raw + c->logs.n_carry, STREAM_CHUNK, &err);
		if (got < 0) {
			/* The reply cannot be finished: the peer sees the
			 * connection end in the middle of it. */
			log_msg("control: logs: %s", err.msg);
			client_drop(c);
			return;
		}
		final = got == 0;
		n = text_json_escape_lossy(raw, c->logs.n_carry + (size_t)got, final, ctl->scratch,
					   &used);
		c->logs.n_carry = c->logs.n_carry + (size_t)got - used;
		memmove(c->logs.carry, raw + used, c->logs.n_carry);
		if (final) {
			memcpy(ctl->scratch + n, "\"}\n", 3);
			n += 3;
			log_reader_close(c->logs.reader);
			c->logs.reader = NULL;
		}
		if (control_client_queue(c, ctl->scratch, n, Q_STREAM) < 0)
			return;
		if (final)
			stream_done(c);
	}
	/* NOLINTEND(clang-analyzer-unix.Malloc) */
}

struct client *control_client_by_id(struct control *ctl, uint64_t id)
{
	for (struct client *c = ctl->clients; c; c = c->next)
		if (c->id == id)
			return c->dead ? NULL : c;
	return NULL;
}

static void client_line_too_long(struct client *c)
{
	char msg[128];

	(void)snprintf(msg, sizeof(msg),
		       "malformed request: request longer than %d bytes (newline included)",
		       CONTROL_MAX_REQUEST);
	control_audit(c->ctl, &c->peer, NULL, NULL, NULL, NULL, "refused", msg);
	c->read_closed = true;
	c->close_when_drained = true;
	c->in_len = c->in_scanned = 0;
	control_client_reply_error(c, msg);
}

/* Handles every complete line in the input buffer. */
void control_client_take_lines(struct client *c)
{
	size_t start = 0;

	while (!c->read_closed && !c->dead && !c->waiting && !c->logs.reader) {
		char *nl = memchr(c->in + c->in_scanned, '\n', c->in_len - c->in_scanned);

		if (!nl) {
			c->in_scanned = c->in_len;
			break;
		}
		control_client_handle_line(c, c->in + start, (size_t)(nl - (c->in + start)));
		start = (size_t)(nl - c->in) + 1;
		c->in_scanned = start;
	}
	if (c->dead || c->read_closed)
		return;
	memmove(c->in, c->in + start, c->in_len - start);
	c->in_len -= start;
	c->in_scanned -= start;
	if (c->in_len == CONTROL_MAX_REQUEST)
		client_line_too_long(c);
	else if (c->in_len == 0 && c->in_cap > INPUT_MIN_CAP) {
		/* An idle client holds no request-sized buffer. */
		free(c->in);
		c->in = NULL;
		c->in_cap = 0;
	}
}

static void client_eof(struct client *c)
{
	/* A last request without its newline is still a request. */
	if (c->in_len && !c->dead)
		control_client_handle_line(c, c->in, c->in_len);
	c->in_len = c->in_scanned = 0;
	c->read_closed = true;
	/* Half-closed: a follower keeps following; anyone else gets its replies. */
	if (!c->logs.following)
		c->close_when_drained = true;
}

/* Doubles c's input buffer, up to CONTROL_MAX_REQUEST bytes; false (c
 * dropped) when out of memory. */
static bool client_grow_input(struct client *c)
{
	size_t cap = c->in_cap ? c->in_cap * 2 : INPUT_MIN_CAP;
	char *p;

	if (cap > CONTROL_MAX_REQUEST)
		cap = CONTROL_MAX_REQUEST;
	p = realloc(c->in, cap);
	if (!p) {
		client_drop(c);
		return false;
	}
	c->in = p;
	c->in_cap = cap;
	return true;
}

static void client_read(struct client *c)
{
	for (int i = 0;
	     i < READS_PER_TURN && !c->read_closed && !c->dead && !c->waiting && !c->logs.reader;
	     i++) {
		ssize_t n;

		if (c->in_len == CONTROL_MAX_REQUEST) {
			client_line_too_long(c); /* take_lines saw to it; never a 0-byte read */
			return;
		}
		if (c->in_len == c->in_cap && !client_grow_input(c))
			return;
		n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				client_drop(c);
			return;
		}
		if (n == 0) {
			client_eof(c);
			return;
		}
		c->in_len += (size_t)n;
		control_client_take_lines(c);
	}
}

void control_client_event(struct loop *l, int fd, uint32_t events, void *ud)
{
	struct client *c = ud;

	/* While busy, a drop only marks the client dead: it is freed below
	 * (clang-analyzer loses the flag: see on_offboard_done). */
	/* NOLINTBEGIN(clang-analyzer-unix.Malloc) */
	c->busy = true;
	if (events & EPOLLERR)
		c->dead = true;
	if (!c->dead && (events & EPOLLOUT))
		control_client_flush(c);
	if (!c->dead && c->logs.reader)
		control_client_stream_fill(c);
	/* A streamed reply done: the requests that came behind it. */
	if (!c->dead && !c->logs.reader && !c->read_closed && !c->waiting && c->in_len)
		control_client_take_lines(c);
	if (!c->dead && !c->read_closed && (events & (EPOLLIN | EPOLLHUP)))
		client_read(c);
	/* Both directions shut: nobody will read a reply. */
	if (events & EPOLLHUP)
		c->dead = true;
	if (!c->dead)
		control_client_flush(c);
	control_client_settle(c);
	/* NOLINTEND(clang-analyzer-unix.Malloc) */
}

static void on_stream_retry(struct loop *l, void *ud)
{
	struct client *c = ud;

	(void)l;
	c->logs.retry = NULL; /* the loop frees a timer that fired */
	/* Busy as in control_client_event (clang-analyzer loses the flag). */
	/* NOLINTBEGIN(clang-analyzer-unix.Malloc) */
	c->busy = true;
	control_client_stream_fill(c);
	if (!c->dead && !c->logs.reader && !c->read_closed && !c->waiting && c->in_len)
		control_client_take_lines(c);
	if (!c->dead)
		control_client_flush(c);
	control_client_settle(c);
	/* NOLINTEND(clang-analyzer-unix.Malloc) */
}

/* A follower's output while its history still streams: kept for after
 * it, within the same cap and budget as output queued. */
static void client_hold(struct client *c, const char *line, size_t len)
{
	size_t cap;

	if (len > CONTROL_MAX_PENDING ||
	    control_client_pending(c) + c->logs.held.len > CONTROL_MAX_PENDING - len) {
		client_drop(c);
		return;
	}
	cap = outbuf_cap_for(c->logs.held.cap, c->logs.held.len, len);
	if (cap != c->logs.held.cap &&
	    (cap == SIZE_MAX || !budget_admits(c, cap - c->logs.held.cap, Q_STREAM) ||
	     outbuf_resize(&c->logs.held, cap) < 0)) {
		client_drop(c);
		return;
	}
	outbuf_put(&c->logs.held, line, len);
}

void control_on_output(const char *tenant, const char *service, const char *data, size_t len,
		       void *ud)
{
	struct control *ctl = ud;
	_cleanup_free_ char *line = NULL;
	size_t line_len = 0;
	struct client *next;

	for (struct client *c = ctl->clients; c; c = next) {
		next = c->next;
		if (!c->logs.following || c->dead || strcmp(c->logs.tenant, tenant) != 0 ||
		    strcmp(c->logs.service, service) != 0)
			continue;
		if (!line) {
			json_t *o = json_object();

			if (o)
				json_object_set_new(o, "data",
						    control_json_string_lossy(data, len));
			line = json_line(o, &line_len);
			if (!line)
				return;
		}
		if (c->logs.reader)
			client_hold(c, line, line_len);
		else
			control_client_queue(c, line, line_len, Q_STREAM);
	}
	/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): line is _cleanup_free_ */
}
