/* A small TCP/UDP echo tool for the network tests: the server runs as a
 * ward service (or in a test's namespace), the client is run by the test
 * inside a service's network namespace (nsenter -n) to act as that service.
 *
 *   netecho serve [--tcp PORT]... [--udp PORT]... [--peers]
 *       echo server on 0.0.0.0 for each port: TCP echoes every byte back
 *       (so lines come back as sent; many clients at once, one poll loop),
 *       UDP echoes each datagram. Prints "ready" once every port is bound.
 *       --peers: also prints "peer tcp|udp PORT ADDR:SRCPORT" for each
 *       accepted connection and each datagram (who the server saw).
 *   netecho connect ADDR PORT [--udp] [--from SRCADDR] [--timeout-ms N]
 *       one request/echo round trip within N ms (default 2000). Prints
 *       exactly one of "ok", "refused", "timeout", "error: ..." on stdout
 *       and exits 0, 1, 2 or 3 respectively. "refused" is any answer from
 *       the network that says no: a TCP reset, or an ICMP port/host/net
 *       unreachable or administratively prohibited (the reason goes to
 *       stderr).
 *       A refusal that is not a reply from the network (no route in
 *       this namespace, say) is an error, not "refused".
 *       --from sends from SRCADDR, an address the namespace need not own
 *       (spoofing): bound with IP_FREEBIND and IP_TRANSPARENT, the latter
 *       needs CAP_NET_ADMIN or CAP_NET_RAW (the tests run it as root
 *       through nsenter -n).
 *   netecho hold ADDR PORT SECONDS
 *       one TCP connection; prints "connected" once it is established, then
 *       sends a line every 100 ms for SECONDS and waits for its echo (1 s
 *       each). Prints "ok N" and exits 0 only if every echo came back on
 *       that same connection; otherwise "error: ..." (exit 3), or the
 *       connect's own verdict (refused 1, timeout 2).
 *
 * Every line on stdout is flushed at once (the tests read it through pipes
 * and ward's log capture). No libraries beyond libc.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PORTS   32
#define MAX_CLIENTS 1000
#define BUF_SIZE    4096

enum verdict { V_OK = 0, V_REFUSED = 1, V_TIMEOUT = 2, V_ERROR = 3 };

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void out(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	fflush(stdout);
}

static __attribute__((noreturn)) void usage(void)
{
	fprintf(stderr, "usage: netecho serve [--tcp PORT]... [--udp PORT]... [--peers]\n"
			"       netecho connect ADDR PORT [--udp] [--from SRCADDR] "
			"[--timeout-ms N]\n"
			"       netecho hold ADDR PORT SECONDS\n");
	exit(V_ERROR);
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long parse_num(const char *s, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi) {
		fprintf(stderr, "netecho: bad number %s (want %ld..%ld)\n", s, lo, hi);
		usage();
	}
	return v;
}

static void parse_addr(const char *s, struct in_addr *a)
{
	if (inet_pton(AF_INET, s, a) != 1) {
		fprintf(stderr, "netecho: bad IPv4 address %s\n", s);
		usage();
	}
}

/* ---- serve ---- */

struct listener {
	int fd;
	int udp;
	unsigned port;
};

static int bind_any(int type, unsigned port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int one = 1;
	int fd = socket(AF_INET, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -1;
	sa.sin_addr.s_addr = htonl(INADDR_ANY);
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 128) < 0)) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static void print_peer(const char *proto, unsigned port, const struct sockaddr_in *peer)
{
	char a[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &peer->sin_addr, a, sizeof(a));
	out("peer %s %u %s:%u", proto, port, a, ntohs(peer->sin_port));
}

/* Writes all of buf to a non-blocking socket, waiting up to 1 s for room. */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0) {
			struct pollfd p = {.fd = fd, .events = POLLOUT};
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN || poll(&p, 1, 1000) <= 0)
				return -1;
			continue;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int serve(int argc, char **argv)
{
	struct listener ls[MAX_PORTS];
	static struct pollfd pfd[MAX_PORTS + MAX_CLIENTS];
	size_t nl = 0, n;
	int peers = 0;
	char buf[BUF_SIZE];

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--peers") == 0) {
			peers = 1;
			continue;
		}
		if ((strcmp(argv[i], "--tcp") != 0 && strcmp(argv[i], "--udp") != 0) ||
		    i + 1 >= argc || nl >= MAX_PORTS)
			usage();
		ls[nl].udp = argv[i][2] == 'u';
		ls[nl].port = (unsigned)parse_num(argv[i + 1], 1, 65535);
		ls[nl].fd = bind_any(ls[nl].udp ? SOCK_DGRAM : SOCK_STREAM, ls[nl].port);
		if (ls[nl].fd < 0) {
			out("error: bind %s %u: %s", ls[nl].udp ? "udp" : "tcp", ls[nl].port,
			    strerror(errno));
			return V_ERROR;
		}
		nl++;
		i++;
	}
	if (nl == 0)
		usage();
	for (size_t i = 0; i < nl; i++) {
		pfd[i] = (struct pollfd){.fd = ls[i].fd, .events = POLLIN};
	}
	n = nl;
	out("ready");

	for (;;) {
		if (poll(pfd, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			out("error: poll: %s", strerror(errno));
			return V_ERROR;
		}
		for (size_t i = 0; i < nl; i++) {
			struct sockaddr_in peer = {0};
			socklen_t plen = sizeof(peer);

			if (!(pfd[i].revents & POLLIN))
				continue;
			if (ls[i].udp) {
				ssize_t r = recvfrom(ls[i].fd, buf, sizeof(buf), 0,
						     (struct sockaddr *)&peer, &plen);
				if (r < 0)
					continue;
				if (peers)
					print_peer("udp", ls[i].port, &peer);
				sendto(ls[i].fd, buf, (size_t)r, 0, (struct sockaddr *)&peer, plen);
				continue;
			}
			for (;;) {
				int c = accept4(ls[i].fd, (struct sockaddr *)&peer, &plen,
						SOCK_CLOEXEC | SOCK_NONBLOCK);
				if (c < 0)
					break;
				if (n >= MAX_PORTS + MAX_CLIENTS) {
					close(c);
					continue;
				}
				if (peers)
					print_peer("tcp", ls[i].port, &peer);
				pfd[n] = (struct pollfd){.fd = c, .events = POLLIN};
				n++;
				plen = sizeof(peer);
			}
		}
		for (size_t i = nl; i < n; i++) {
			ssize_t r;

			if (!pfd[i].revents)
				continue;
			r = recv(pfd[i].fd, buf, sizeof(buf), 0);
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (r > 0 && write_all(pfd[i].fd, buf, (size_t)r) == 0)
				continue;
			/* EOF, error, or a peer that does not read its echoes. */
			close(pfd[i].fd);
			pfd[i] = pfd[n - 1];
			n--;
			i--;
		}
	}
}

/* ---- connect and hold ---- */

/* The verdict for error e of `what`. remote: the error came back from the
 * network (a reset or an ICMP error reported on the socket), where
 * unreachable and prohibited mean that something refused the packet; a
 * local error (no route in this namespace, say) is an error, never a
 * refusal, so a broken setup does not pass for a firewall at work. */
static enum verdict errno_verdict(int e, const char *what, int remote)
{
	switch (e) {
	case ECONNREFUSED:
	case ECONNRESET:
		break;
	case EHOSTUNREACH:
	case ENETUNREACH:
	case EHOSTDOWN:
	case EACCES:
	case EPERM:
		if (remote)
			break;
		out("error: %s: %s", what, strerror(e));
		return V_ERROR;
	case ETIMEDOUT:
		fprintf(stderr, "netecho: %s: %s\n", what, strerror(e));
		out("timeout");
		return V_TIMEOUT;
	default:
		out("error: %s: %s", what, strerror(e));
		return V_ERROR;
	}
	fprintf(stderr, "netecho: %s: %s\n", what, strerror(e));
	out("refused");
	return V_REFUSED;
}

static int wait_fd(int fd, short events, long long deadline)
{
	struct pollfd p = {.fd = fd, .events = events};

	for (;;) {
		long long left = deadline - now_ms();
		int r;

		if (left <= 0)
			return 0;
		r = poll(&p, 1, (int)(left > 1000000 ? 1000000 : left));
		if (r < 0 && errno == EINTR)
			continue;
		return r;
	}
}

/* A connected socket (TCP established, or UDP connected) in *fd, or the
 * verdict already printed. */
static enum verdict open_conn(const struct sockaddr_in *dst, const struct in_addr *from, int udp,
			      long long deadline, int *fd)
{
	int s = socket(AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int one = 1, err = 0, r;
	socklen_t elen = sizeof(err);

	if (s < 0) {
		out("error: socket: %s", strerror(errno));
		return V_ERROR;
	}
	if (from) {
		struct sockaddr_in src = {.sin_family = AF_INET, .sin_addr = *from};
		/* IP_FREEBIND lets bind() take an address this namespace
		 * does not have; IP_TRANSPARENT lets the route lookup of
		 * connect() and send() accept it as a source (without it
		 * they fail with ENETUNREACH). */
		if (setsockopt(s, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one)) < 0 ||
		    setsockopt(s, IPPROTO_IP, IP_TRANSPARENT, &one, sizeof(one)) < 0 ||
		    bind(s, (struct sockaddr *)&src, sizeof(src)) < 0) {
			int e = errno;
			char a[INET_ADDRSTRLEN];

			out("error: source %s (IP_TRANSPARENT needs CAP_NET_ADMIN or "
			    "CAP_NET_RAW): %s",
			    inet_ntop(AF_INET, from, a, sizeof(a)), strerror(e));
			close(s);
			return V_ERROR;
		}
	}
	if (connect(s, (const struct sockaddr *)dst, sizeof(*dst)) == 0) {
		*fd = s;
		return V_OK;
	}
	if (errno != EINPROGRESS) {
		enum verdict v = errno_verdict(errno, "connect", 0);
		close(s);
		return v;
	}
	r = wait_fd(s, POLLOUT, deadline);
	if (r <= 0) {
		close(s);
		if (r < 0) {
			out("error: poll: %s", strerror(errno));
			return V_ERROR;
		}
		out("timeout");
		return V_TIMEOUT;
	}
	if (getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
		err = errno;
	if (err) {
		enum verdict v = errno_verdict(err, "connect", 1);
		close(s);
		return v;
	}
	*fd = s;
	return V_OK;
}

/* Sends msg and waits for it to come back whole (TCP: the same bytes,
 * possibly in pieces; UDP: one datagram equal to it). */
static enum verdict round_trip(int fd, const char *msg, int udp, long long deadline)
{
	size_t len = strlen(msg), got = 0;
	char buf[BUF_SIZE];

	if (send(fd, msg, len, MSG_NOSIGNAL) != (ssize_t)len)
		return errno_verdict(errno, "send", 0);
	while (got < len) {
		ssize_t r;
		int w = wait_fd(fd, POLLIN, deadline);

		if (w < 0) {
			out("error: poll: %s", strerror(errno));
			return V_ERROR;
		}
		if (w == 0) {
			out("timeout");
			return V_TIMEOUT;
		}
		r = recv(fd, buf + got, sizeof(buf) - got, 0);
		if (r < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			return errno_verdict(errno, "recv", 1);
		}
		if (r == 0) {
			out("error: connection closed before the echo");
			return V_ERROR;
		}
		got += (size_t)r;
		if (udp && got != len) {
			out("error: echo of %zd bytes, sent %zu", r, len);
			return V_ERROR;
		}
	}
	if (got != len || memcmp(buf, msg, len) != 0) {
		out("error: echo differs from what was sent");
		return V_ERROR;
	}
	return V_OK;
}

static int do_connect(int argc, char **argv)
{
	struct sockaddr_in dst = {.sin_family = AF_INET};
	struct in_addr from;
	int have_from = 0, udp = 0, fd = -1;
	long timeout = 2000;
	char msg[128];
	enum verdict v;
	long long deadline;

	if (argc < 2)
		usage();
	parse_addr(argv[0], &dst.sin_addr);
	dst.sin_port = htons((uint16_t)parse_num(argv[1], 1, 65535));
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--udp") == 0) {
			udp = 1;
		} else if (strcmp(argv[i], "--from") == 0 && i + 1 < argc) {
			parse_addr(argv[++i], &from);
			have_from = 1;
		} else if (strcmp(argv[i], "--timeout-ms") == 0 && i + 1 < argc) {
			timeout = parse_num(argv[++i], 1, 600000);
		} else {
			usage();
		}
	}
	deadline = now_ms() + timeout;
	v = open_conn(&dst, have_from ? &from : NULL, udp, deadline, &fd);
	if (v != V_OK)
		return v;
	snprintf(msg, sizeof(msg), "netecho %ld %lld\n", (long)getpid(), now_ms());
	v = round_trip(fd, msg, udp, deadline);
	close(fd);
	if (v == V_OK)
		out("ok");
	return v;
}

static int hold(int argc, char **argv)
{
	struct sockaddr_in dst = {.sin_family = AF_INET};
	long seconds, count = 0;
	long long end;
	int fd = -1;
	enum verdict v;

	if (argc != 3)
		usage();
	parse_addr(argv[0], &dst.sin_addr);
	dst.sin_port = htons((uint16_t)parse_num(argv[1], 1, 65535));
	seconds = parse_num(argv[2], 1, 3600);
	v = open_conn(&dst, NULL, 0, now_ms() + 2000, &fd);
	if (v != V_OK)
		return v;
	out("connected");
	end = now_ms() + seconds * 1000;
	while (now_ms() < end) {
		char msg[64];

		snprintf(msg, sizeof(msg), "hold %ld\n", count);
		v = round_trip(fd, msg, 0, now_ms() + 1000);
		if (v != V_OK) {
			/* round_trip printed why; say where and call it an error. */
			out("error: echo %ld of the held connection failed", count);
			close(fd);
			return V_ERROR;
		}
		count++;
		usleep(100000);
	}
	close(fd);
	out("ok %ld", count);
	return V_OK;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc < 2)
		usage();
	if (strcmp(argv[1], "serve") == 0)
		return serve(argc - 2, argv + 2);
	if (strcmp(argv[1], "connect") == 0)
		return do_connect(argc - 2, argv + 2);
	if (strcmp(argv[1], "hold") == 0)
		return hold(argc - 2, argv + 2);
	usage();
}
