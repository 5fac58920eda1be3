/* ward-session: an end user's entry point, as a login shell or an SSH
 * ForceCommand. Asks wardd for a session in the user's practice, gets the
 * session's pty master (or its stdin, stdout and stderr pipes) back, and
 * relays between those and its own terminal (or stdio) until the session
 * ends, exiting with its status. wardd never touches the user's fds: this
 * process does the relaying, so whatever happens to them holds up only
 * this session. Who the user is, wardd learns from the kernel; this
 * program only sends hints (terminal size, TERM, the SSH client's
 * address). Holds only main() and what it needs. */
#include "basic/loop.h"
#include "basic/text.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_SOCKET   "/run/ward/session.sock"
#define REPLY_TIMEOUT_MS 30000
#define LINE_MAX_BYTES   65536
#define EXIT_FAIL        1
#define EXIT_USAGE       2
#define RELAY_BUF        16384
#define DRAIN_MS         2000 /* after the end, for the last output */
#define INPUT_EVERY_MS   1000 /* {"input":true} at most this often */
#define MAX_FDS          3

static struct {
	bool tty;
	bool raw;
	struct termios saved;
	int flags[3]; /* file status flags of fds 0-2, put back at the end */
} term;

/* Puts the terminal and the fds back as they were (the relay makes 0-2
 * non-blocking: their open files may be the login shell's too): at the
 * end, on a refusal, and before any message. */
static void restore(void)
{
	if (term.raw)
		(void)tcsetattr(0, TCSADRAIN, &term.saved);
	term.raw = false;
	for (int i = 0; i < 3; i++)
		if (term.flags[i] >= 0)
			(void)fcntl(i, F_SETFL, term.flags[i]);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	restore();
	fputs("ward-session: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(EXIT_FAIL);
}

static void usage(FILE *out)
{
	fprintf(out, "Usage: ward-session [--socket PATH]\n"
		     "\n"
		     "Starts your session in your practice (as your login shell or an SSH\n"
		     "ForceCommand) and ends with its exit status. wardd decides who you are and\n"
		     "which practice is yours; you cannot choose the program it runs.\n"
		     "\n"
		     "  --socket PATH   wardd's session socket (default $WARD_SESSION_SOCKET,\n"
		     "                  else " DEFAULT_SOCKET ")\n"
		     "  -h, --help      this text\n");
}

static bool term_ok(const char *s)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-",
			    s[n]))
			return false;
	return n > 0 && n < 64;
}

/* "ADDR PORT" of SSH_CONNECTION ("ADDR PORT SERVER-ADDR SERVER-PORT"). */
static json_t *remote_of(const char *conn)
{
	char buf[128];
	char *sp;

	if (!conn || snprintf(buf, sizeof(buf), "%s", conn) >= (int)sizeof(buf))
		return NULL;
	sp = strchr(buf, ' ');
	if (!sp || !(sp = strchr(sp + 1, ' ')))
		return NULL;
	*sp = '\0';
	return json_string(buf);
}

static char *request_line(void)
{
	json_t *req = json_object();
	const char *t = getenv("TERM");
	json_t *remote = remote_of(getenv("SSH_CONNECTION"));
	char *line;

	if (!req)
		return NULL;
	json_object_set_new(req, "tty", json_boolean(term.tty));
	if (term.tty) {
		struct winsize ws;

		if (ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col &&
		    ws.ws_row <= 10000 && ws.ws_col <= 10000) {
			json_object_set_new(req, "rows", json_integer(ws.ws_row));
			json_object_set_new(req, "cols", json_integer(ws.ws_col));
		}
		if (t && term_ok(t))
			json_object_set_new(req, "term", json_string(t));
	}
	if (remote)
		json_object_set_new(req, "remote", remote);
	line = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	return line;
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	if (snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path) >= (int)sizeof(sa.sun_path))
		die("socket path too long: %s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die("cannot reach wardd: %s", strerror(errno));
	return fd;
}

/* The request line: nothing else goes with it (wardd takes no fds). */
static void send_request(int sock, const char *line)
{
	char *buf = NULL;
	int len = asprintf(&buf, "%s\n", line);
	size_t off = 0;

	if (len < 0)
		die("%s", "out of memory");
	while (off < (size_t)len) {
		ssize_t n = send(sock, buf + off, (size_t)len - off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			free(buf);
			die("cannot talk to wardd: %s", strerror(e));
		}
		off += (size_t)n;
	}
	free(buf);
}

struct reader {
	int fd;
	char buf[LINE_MAX_BYTES];
	size_t len;
	int fds[MAX_FDS]; /* what came with the lines so far (the "ok") */
	size_t n_fds;
	bool too_many; /* more fds than any reply of wardd's carries */
};

/* One read from wardd's socket, keeping the fds that come with it.
 * Returns what recvmsg did: > 0, 0 at EOF, -1 (errno: EAGAIN...). */
static ssize_t reader_fill(struct reader *r)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct iovec iov;
	struct msghdr mh = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u)};
	ssize_t n;

	if (r->len == sizeof(r->buf))
		r->len = 0; /* a line longer than any wardd sends: dropped */
	iov.iov_base = r->buf + r->len;
	iov.iov_len = sizeof(r->buf) - r->len;
	n = recvmsg(r->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return -1;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		size_t k;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			if (r->n_fds < MAX_FDS)
				r->fds[r->n_fds++] = fd;
			else {
				close(fd);
				r->too_many = true;
			}
		}
	}
	if (mh.msg_flags & MSG_CTRUNC)
		r->too_many = true;
	r->len += (size_t)n;
	return n;
}

/* The next complete line as JSON, or NULL. */
static json_t *reader_pop(struct reader *r)
{
	char *nl;

	while ((nl = memchr(r->buf, '\n', r->len))) {
		json_t *j = json_loadb(r->buf, (size_t)(nl - r->buf), 0, NULL);

		r->len -= (size_t)(nl - r->buf) + 1;
		memmove(r->buf, nl + 1, r->len);
		if (j)
			return j;
	}
	return NULL;
}

/* The user's window size onto the session's pty (the kernel tells the
 * session's foreground with SIGWINCH). */
static void copy_winsize(int master)
{
	struct winsize ws;

	if (master >= 0 && ioctl(1, TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col)
		(void)ioctl(master, TIOCSWINSZ, &ws);
}

static void on_signal(int sfd, int master)
{
	struct signalfd_siginfo si;

	if (read(sfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return;
	if (si.ssi_signo == SIGWINCH) {
		if (term.tty)
			copy_winsize(master);
		return;
	}
	/* Hung up or told to stop: leaving closes the socket, and wardd ends
	 * the session (audited as disconnected). */
	restore();
	exit(128 + (int)si.ssi_signo);
}

/* The first line from wardd (the answer to the request), waiting up to
 * timeout_ms while handling signals. NULL at EOF. */
static json_t *first_line(struct reader *r, int sfd, int timeout_ms)
{
	for (;;) {
		json_t *j = reader_pop(r);
		struct pollfd p[2] = {{.fd = r->fd, .events = POLLIN},
				      {.fd = sfd, .events = POLLIN}};
		ssize_t n;
		int k;

		if (j)
			return j;
		k = poll(p, 2, timeout_ms);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			die("poll: %s", strerror(errno));
		if (k == 0)
			die("%s", "no answer from wardd");
		if (p[1].revents & POLLIN)
			on_signal(sfd, -1);
		if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = reader_fill(r);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return NULL;
	}
}

/* ---- the relay: between the user's fds and the session's ---- */

/* One direction, from one fd to another, through a buffer. */
struct chan {
	int from, to;
	bool input;  /* the user's: to the session */
	bool eof;    /* from is done */
	bool broken; /* to is gone */
	size_t off, len;
	char buf[RELAY_BUF];
};

static struct {
	struct chan ch[3];
	size_t n;
	int master; /* tty: the session's pty */
	int sock;
	bool input_pending; /* input went to the session since the last report */
	uint64_t input_sent_ms;
} rl = {.master = -1};

static void chan_add(int from, int to, bool input)
{
	struct chan *c = &rl.ch[rl.n++];

	c->from = from;
	c->to = to;
	c->input = input;
	(void)fcntl(from, F_SETFL, fcntl(from, F_GETFL) | O_NONBLOCK);
	(void)fcntl(to, F_SETFL, fcntl(to, F_GETFL) | O_NONBLOCK);
}

static bool chan_can_read(const struct chan *c)
{
	return c->from >= 0 && !c->eof && !c->broken && c->len < RELAY_BUF;
}

static bool chan_can_write(const struct chan *c)
{
	return c->to >= 0 && !c->broken && c->len > c->off;
}

/* Reads what fits into c's buffer, moving what is left to its start. */
static bool chan_read_some(struct chan *c)
{
	ssize_t n;

	if (c->off) {
		memmove(c->buf, c->buf + c->off, c->len - c->off);
		c->len -= c->off;
		c->off = 0;
	}
	n = read(c->from, c->buf + c->len, RELAY_BUF - c->len);
	if (n > 0) {
		c->len += (size_t)n;
		return true;
	}
	if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
		/* EOF, or EIO from a pty master whose slave is
		 * closed: nothing more will come. */
		c->eof = true;
	}
	return false;
}

/* Writes what c's buffer holds. Returns whether any went out. */
static bool chan_write_some(struct chan *c)
{
	ssize_t n = write(c->to, c->buf + c->off, c->len - c->off);

	if (n > 0) {
		c->off += (size_t)n;
		if (c->off == c->len)
			c->off = c->len = 0;
		return true;
	}
	if (n < 0 && errno != EAGAIN && errno != EINTR) {
		c->broken = true;
		c->off = c->len = 0;
	}
	return false;
}

/* Without a terminal, ends travel like a pipe's: the user's input
 * ended, so does the session's stdin; nobody reads the session's
 * output any more, so its writes fail with EPIPE. */
static void chan_pass_ends(struct chan *c)
{
	if (c->input && c->eof && c->len == c->off && c->to >= 0) {
		close(c->to);
		c->to = -1;
	}
	if (!c->input && c->broken && c->from >= 0) {
		close(c->from);
		c->from = -1;
	}
}

/* Moves what can move without blocking. Returns whether input went in. */
static bool chan_pump(struct chan *c)
{
	bool went = false;

	for (int round = 0; round < 64; round++) {
		bool moved = false;

		if (chan_can_read(c))
			moved = chan_read_some(c);
		if (chan_can_write(c) && chan_write_some(c)) {
			went = went || c->input;
			moved = true;
		}
		if (!moved)
			break;
	}
	if (!term.tty)
		chan_pass_ends(c);
	return went;
}

static bool outputs_done(void)
{
	for (size_t i = 0; i < rl.n; i++) {
		const struct chan *c = &rl.ch[i];

		if (!c->input && !c->broken && c->from >= 0 && (!c->eof || c->len > c->off))
			return false;
	}
	return true;
}

/* Tells wardd the user typed (its idle clock), at most every
 * INPUT_EVERY_MS; what is held back goes out when that has passed. */
static void report_input(bool force)
{
	static const char line[] = "{\"input\":true}\n";
	uint64_t now = loop_now_ms();

	if (!rl.input_pending || (!force && now - rl.input_sent_ms < INPUT_EVERY_MS))
		return;
	(void)!send(rl.sock, line, sizeof(line) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	rl.input_sent_ms = now;
	rl.input_pending = false;
}

/* The user's terminal is gone: so is the user. Leaving closes the socket,
 * and wardd ends the session (audited as disconnected). */
static void on_hangup(void) __attribute__((noreturn));

static void on_hangup(void)
{
	restore();
	exit(128 + SIGHUP);
}

/* Pumps every channel once; the user's input only while the session
 * runs. A terminal that hung up ends ward-session. */
static void relay_pump_all(bool ended)
{
	for (size_t i = 0; i < rl.n; i++) {
		struct chan *c = &rl.ch[i];

		if (ended && c->input)
			continue; /* typeahead stays for what the user runs next */
		if (chan_pump(c) && c->input)
			rl.input_pending = true;
		if (term.tty && c->input && c->eof)
			on_hangup();
		if (term.tty && !c->input && c->broken)
			on_hangup();
	}
}

/* Fills p: the signalfd first, wardd's socket second (while the session
 * runs), then the channels' fds. Returns how many. */
static nfds_t relay_pollfds(struct pollfd *p, int sfd, int wfd, bool ended)
{
	nfds_t np = 0;

	p[np++] = (struct pollfd){.fd = sfd, .events = POLLIN};
	if (!ended)
		p[np++] = (struct pollfd){.fd = wfd, .events = POLLIN};
	for (size_t i = 0; i < rl.n; i++) {
		const struct chan *c = &rl.ch[i];

		if (ended && c->input)
			continue;
		if (chan_can_read(c))
			p[np++] = (struct pollfd){.fd = c->from, .events = POLLIN};
		if (chan_can_write(c))
			p[np++] = (struct pollfd){.fd = c->to, .events = POLLOUT};
	}
	return np;
}

/* Reads what wardd sent while the session runs. Returns its "end" line
 * (and starts the drain's deadline), or NULL; other lines are dropped. */
static json_t *relay_read_wardd(struct reader *r, uint64_t *deadline)
{
	json_t *end = NULL;

	for (;;) {
		ssize_t n = reader_fill(r);
		json_t *msg;

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			die("%s", "lost the connection to wardd");
		while ((msg = reader_pop(r))) {
			const char *ev = json_string_value(json_object_get(msg, "event"));

			if (!end && ev && strcmp(ev, "end") == 0) {
				end = msg;
				*deadline = loop_now_ms() + DRAIN_MS;
				report_input(true);
			} else {
				json_decref(msg);
			}
		}
		if (n < 0 || end)
			return end;
	}
}

/* Relays until wardd says the session ended, then until the session's
 * last output is through (or DRAIN_MS). Returns the end line. */
static json_t *relay(struct reader *r, int sfd)
{
	json_t *end = NULL;
	uint64_t deadline = 0;

	for (;;) {
		struct pollfd p[2 + 2 * 3];
		nfds_t np;
		int timeout = -1, k;

		relay_pump_all(end != NULL);
		report_input(false);
		if (end && (outputs_done() || loop_now_ms() >= deadline))
			return end;
		if (!end && rl.input_pending)
			timeout = (int)(INPUT_EVERY_MS - (loop_now_ms() - rl.input_sent_ms)) + 1;
		if (end)
			timeout = (int)(deadline - loop_now_ms()) + 1;
		np = relay_pollfds(p, sfd, r->fd, end != NULL);
		k = poll(p, np, timeout < 0 ? -1 : timeout);
		if (k < 0 && errno != EINTR)
			die("poll: %s", strerror(errno));
		if (k <= 0)
			continue;
		if (p[0].revents & POLLIN)
			on_signal(sfd, rl.master);
		if (end || !(p[1].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		end = relay_read_wardd(r, &deadline);
	}
}

static void enter_raw(void)
{
	struct termios raw;

	if (!term.tty || tcgetattr(0, &term.saved) < 0)
		return;
	raw = term.saved;
	cfmakeraw(&raw);
	if (tcsetattr(0, TCSADRAIN, &raw) == 0)
		term.raw = true;
}

/* Reads the options into *path. Returns -1 to go on, or the exit code. */
static int parse_args(int argc, char **argv, const char **path)
{
	static const struct option longopts[] = {
	    {"socket", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c;

	while ((c = getopt_long(argc, argv, "+hc:", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			*path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'c':
			/* As a login shell, `ssh host CMD` arrives as -c CMD. */
			die("%s", "running a command is not allowed: your practice decides "
				  "what a session runs");
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	return -1;
}

/* Checks 0-2 are open and notes how they are, to put them back. */
static void note_stdio(void)
{
	for (int i = 0; i < 3; i++)
		if (fcntl(i, F_GETFD) < 0)
			die("%s", "stdin, stdout and stderr must be open");
	term.tty = isatty(0) && isatty(1);
	for (int i = 0; i < 3; i++)
		term.flags[i] = fcntl(i, F_GETFL);
}

/* Blocks the signals ward-session handles and returns a signalfd for them. */
static int open_signalfd(void)
{
	sigset_t set;
	int sfd;

	sigemptyset(&set);
	sigaddset(&set, SIGWINCH);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGQUIT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sfd < 0)
		die("signalfd: %s", strerror(errno));
	return sfd;
}

/* Dies with wardd's reason unless its answer is "ok"; frees it. */
static void check_answer(json_t *msg)
{
	if (!msg)
		die("%s", "wardd closed the connection without an answer");
	if (!json_is_true(json_object_get(msg, "ok"))) {
		const char *e = json_string_value(json_object_get(msg, "error"));
		char why[512];

		/* wardd's words reach the user's terminal: no control bytes. */
		text_clean_copy(why, sizeof(why), e ? e : "(no reason given)");
		json_decref(msg);
		die("refused: %s", why);
	}
	json_decref(msg);
}

/* The session's ends came with the "ok": its pty's master, or its
 * stdin, stdout and stderr. Sets up the channels between them and ours. */
static void take_session_fds(const struct reader *r)
{
	size_t want = term.tty ? 1 : 3;

	if (r->too_many || r->n_fds != want)
		die("wardd sent %zu descriptors with the answer, expected %zu", r->n_fds, want);
	if (term.tty) {
		rl.master = r->fds[0];
		copy_winsize(rl.master); /* it may have changed since the request */
		chan_add(0, rl.master, true);
		chan_add(rl.master, 1, false);
	} else {
		chan_add(0, r->fds[0], true);
		chan_add(r->fds[1], 1, false);
		chan_add(r->fds[2], 2, false);
	}
}

/* Puts the terminal back, tells why the session ended unless it exited,
 * frees the end line and returns the exit code to leave with. */
static int finish(json_t *msg)
{
	json_t *st = json_object_get(msg, "status");
	const char *reason = json_string_value(json_object_get(msg, "reason"));
	int code = json_is_integer(st) ? (int)json_integer_value(st) : EXIT_FAIL;

	restore();
	if (reason && strcmp(reason, "exited") != 0) {
		if (term.tty)
			fputs("\r\n", stderr);
		fputs("ward-session: session ended: ", stderr);
		text_print_clean(stderr, reason);
		fputc('\n', stderr);
	}
	json_decref(msg);
	return code >= 0 && code <= 255 ? code : EXIT_FAIL;
}

int main(int argc, char **argv)
{
	const char *path = getenv("WARD_SESSION_SOCKET");
	static struct reader r;
	char *line;
	int sock, sfd, code;

	for (int i = 0; i < 3; i++)
		term.flags[i] = -1;
	code = parse_args(argc, argv, &path);
	if (code >= 0)
		return code;
	if (!path || !*path)
		path = DEFAULT_SOCKET;
	note_stdio();
	/* A reader of ours that went away is an error to handle, not a death. */
	(void)signal(SIGPIPE, SIG_IGN);

	sfd = open_signalfd();
	sock = connect_to(path);
	r.fd = rl.sock = sock;
	line = request_line();
	if (!line)
		die("%s", "out of memory");
	/* Raw before the session can print: the terminal is the session's
	 * from its first byte. */
	enter_raw();
	send_request(sock, line);
	free(line);

	check_answer(first_line(&r, sfd, REPLY_TIMEOUT_MS));
	take_session_fds(&r);
	return finish(relay(&r, sfd));
}
