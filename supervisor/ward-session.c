/* ward-session: an end user's entry point, as a login shell or an SSH
 * ForceCommand. Asks wardd for a session in the user's practice, passes it
 * the terminal (or stdin, stdout and stderr), and stays until the session
 * ends, exiting with its status. Who the user is, wardd learns from the
 * kernel; this program only sends hints (terminal size, TERM, the SSH
 * client's address). Holds only main() and what it needs. */
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
#include <unistd.h>

#define DEFAULT_SOCKET   "/run/ward/session.sock"
#define REPLY_TIMEOUT_MS 30000
#define LINE_MAX_BYTES   65536
#define EXIT_FAIL        1
#define EXIT_USAGE       2

static struct {
	bool tty;
	bool raw;
	struct termios saved;
	int flags[3]; /* file status flags of fds 0-2: wardd sets O_NONBLOCK */
} term;

/* Puts the terminal and the fds back as they were: at the end, on a
 * refusal, and before any message (stderr may share fd 0's description). */
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

/* The request, with our fds: the terminal's 0 and 1, or 0, 1 and 2. */
static void send_request(int sock, const char *line)
{
	int fds[3] = {0, 1, 2};
	size_t n_fds = term.tty ? 2 : 3;
	char *buf = NULL;
	int len = asprintf(&buf, "%s\n", line);
	union {
		char cbuf[CMSG_SPACE(sizeof(fds))];
		struct cmsghdr align;
	} u;
	struct iovec iov;
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = u.cbuf,
			    .msg_controllen = CMSG_SPACE(n_fds * sizeof(int))};
	struct cmsghdr *c;
	size_t off = 0;

	if (len < 0)
		die("%s", "out of memory");
	memset(&u, 0, sizeof(u));
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(n_fds * sizeof(int));
	memcpy(CMSG_DATA(c), fds, n_fds * sizeof(int));
	while (off < (size_t)len) {
		ssize_t n;

		iov.iov_base = buf + off;
		iov.iov_len = (size_t)len - off;
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			free(buf);
			die("cannot talk to wardd: %s", strerror(e));
		}
		off += (size_t)n;
		mh.msg_control = NULL; /* the fds went with the first bytes */
		mh.msg_controllen = 0;
	}
	free(buf);
}

struct reader {
	int fd;
	char buf[LINE_MAX_BYTES];
	size_t len;
};

/* The next line from wardd as JSON: NULL at EOF. Blocks up to timeout_ms
 * (-1: for ever) while forwarding signals through sfd. */
static json_t *next_line(struct reader *r, int sfd, int sock, int timeout_ms);

static void on_signal(int sfd, int sock)
{
	struct signalfd_siginfo si;

	if (read(sfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return;
	if (si.ssi_signo == SIGWINCH) {
		struct winsize ws;
		char line[64];
		int n;

		if (!term.tty || ioctl(1, TIOCGWINSZ, &ws) < 0 || !ws.ws_row || !ws.ws_col)
			return;
		n = snprintf(line, sizeof(line), "{\"winch\":[%u,%u]}\n", ws.ws_row, ws.ws_col);
		if (n > 0 && n < (int)sizeof(line))
			(void)!send(sock, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
		return;
	}
	/* Hung up or told to stop: leaving closes the socket, and wardd ends
	 * the session (audited as disconnected). */
	restore();
	exit(128 + (int)si.ssi_signo);
}

static json_t *next_line(struct reader *r, int sfd, int sock, int timeout_ms)
{
	for (;;) {
		char *nl = memchr(r->buf, '\n', r->len);
		struct pollfd p[2] = {{.fd = r->fd, .events = POLLIN},
				      {.fd = sfd, .events = POLLIN}};
		ssize_t n;
		int k;

		if (nl) {
			json_t *j = json_loadb(r->buf, (size_t)(nl - r->buf), 0, NULL);

			r->len -= (size_t)(nl - r->buf) + 1;
			memmove(r->buf, nl + 1, r->len);
			if (j)
				return j;
			continue;
		}
		if (r->len == sizeof(r->buf))
			r->len = 0; /* a line longer than any wardd sends: dropped */
		k = poll(p, 2, timeout_ms);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			die("poll: %s", strerror(errno));
		if (k == 0)
			die("%s", "no answer from wardd");
		if (p[1].revents & POLLIN)
			on_signal(sfd, sock);
		if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		n = read(r->fd, r->buf + r->len, sizeof(r->buf) - r->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return NULL;
		r->len += (size_t)n;
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

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"socket", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *path = getenv("WARD_SESSION_SOCKET");
	static struct reader r;
	sigset_t set;
	json_t *msg;
	char *line;
	int sock, sfd, c;

	for (int i = 0; i < 3; i++)
		term.flags[i] = -1;
	while ((c = getopt_long(argc, argv, "+hc:", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			path = optarg;
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
	if (!path || !*path)
		path = DEFAULT_SOCKET;
	for (int i = 0; i < 3; i++)
		if (fcntl(i, F_GETFD) < 0)
			die("%s", "stdin, stdout and stderr must be open");
	term.tty = isatty(0) && isatty(1);
	for (int i = 0; i < 3; i++)
		term.flags[i] = fcntl(i, F_GETFL);

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

	sock = connect_to(path);
	r.fd = sock;
	line = request_line();
	if (!line)
		die("%s", "out of memory");
	/* Raw before the session can print: the terminal is the session's
	 * from its first byte (wardd relays it; we only wait). */
	enter_raw();
	send_request(sock, line);
	free(line);

	msg = next_line(&r, sfd, sock, REPLY_TIMEOUT_MS);
	if (!msg)
		die("%s", "wardd closed the connection without an answer");
	if (!json_is_true(json_object_get(msg, "ok"))) {
		const char *e = json_string_value(json_object_get(msg, "error"));
		char why[512];

		(void)snprintf(why, sizeof(why), "%s", e ? e : "(no reason given)");
		json_decref(msg);
		die("refused: %s", why);
	}
	json_decref(msg);

	for (;;) {
		const char *ev, *reason;
		json_t *st;
		int code;

		msg = next_line(&r, sfd, sock, -1);
		if (!msg)
			die("%s", "lost the connection to wardd");
		ev = json_string_value(json_object_get(msg, "event"));
		if (!ev || strcmp(ev, "end") != 0) {
			json_decref(msg);
			continue;
		}
		st = json_object_get(msg, "status");
		reason = json_string_value(json_object_get(msg, "reason"));
		code = json_is_integer(st) ? (int)json_integer_value(st) : EXIT_FAIL;
		restore();
		if (reason && strcmp(reason, "exited") != 0) {
			if (term.tty)
				fputs("\r\n", stderr);
			fprintf(stderr, "ward-session: session ended: %s\n", reason);
		}
		json_decref(msg);
		return code >= 0 && code <= 255 ? code : EXIT_FAIL;
	}
}
