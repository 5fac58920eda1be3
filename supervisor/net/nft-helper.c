/* The nft helper process (see nft-helper.h): the daemon's side, a framed
 * request and reply over a socket pair with a deadline, and the helper's
 * side, a loop around nft_run_cmd_from_buffer. */
#include "net/nft-helper.h"

#include <dlfcn.h>
#include <errno.h>
#include <linux/capability.h>
#include <nftables/libnftables.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "basic/cleanup.h"
#include "basic/helper.h"
#include "basic/log.h"
#include "basic/loop.h"
#include "sandbox/caps.h"

/* nft text of one change is a few KiB; a counters listing at thousands of
 * services a few hundred. Anything far beyond is a broken peer. */
#define REQUEST_MAX (16u << 20)
#define REPLY_MAX   (64u << 20)

struct request_header {
	uint32_t json; /* output as JSON */
	uint32_t len;
};

struct reply_header {
	int32_t rc;
	uint32_t out_len, err_len;
};

/* Blocking, for the helper's side. 1 done, 0 end of file before anything
 * was read, -1 error or end of file in the middle. */
static int read_all(int fd, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = read(fd, (char *)buf + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0 && done == 0 ? 0 : -1;
		done += (size_t)n;
	}
	return 1;
}

static int send_all(int fd, const void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = send(fd, (const char *)buf + done, len - done, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

/* libnftables is loaded by the helper alone (dlopen), never linked into
 * wardd: `wardd run` starts a fresh wardd per launch, and loading
 * libnftables with its five dependencies (libnftnl, libmnl, libxtables,
 * libgmp, ...) cost every launch ~1 ms of ld.so work for a library it
 * never calls. */
static struct nft_api {
	struct nft_ctx *(*ctx_new)(uint32_t flags);
	int (*buffer_output)(struct nft_ctx *ctx);
	int (*buffer_error)(struct nft_ctx *ctx);
	const char *(*get_output)(struct nft_ctx *ctx);
	const char *(*get_error)(struct nft_ctx *ctx);
	void (*output_set_flags)(struct nft_ctx *ctx, unsigned int flags);
	int (*run)(struct nft_ctx *ctx, const char *buf);
} nft;

static int nft_api_load(void)
{
	void *h = dlopen("libnftables.so.1", RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		log_msg("%s", dlerror());
		return -1;
	}
	/* POSIX: a dlsym result converts to a function pointer. */
	*(void **)&nft.ctx_new = dlsym(h, "nft_ctx_new");
	*(void **)&nft.buffer_output = dlsym(h, "nft_ctx_buffer_output");
	*(void **)&nft.buffer_error = dlsym(h, "nft_ctx_buffer_error");
	*(void **)&nft.get_output = dlsym(h, "nft_ctx_get_output_buffer");
	*(void **)&nft.get_error = dlsym(h, "nft_ctx_get_error_buffer");
	*(void **)&nft.output_set_flags = dlsym(h, "nft_ctx_output_set_flags");
	*(void **)&nft.run = dlsym(h, "nft_run_cmd_from_buffer");
	if (!nft.ctx_new || !nft.buffer_output || !nft.buffer_error || !nft.get_output ||
	    !nft.get_error || !nft.output_set_flags || !nft.run) {
		log_msg("libnftables.so.1 lacks a function ward uses");
		return -1;
	}
	return 0;
}

static int helper_serve(int sock, struct nft_ctx *ctx)
{
	struct request_header req;
	_cleanup_free_ char *text = NULL;
	int r = read_all(sock, &req, sizeof(req));

	if (r <= 0)
		return r;
	if (req.len > REQUEST_MAX || !(text = malloc((size_t)req.len + 1)) ||
	    read_all(sock, text, req.len) != 1)
		return -1;
	text[req.len] = '\0';
	nft.output_set_flags(ctx, req.json ? NFT_CTX_OUTPUT_JSON : 0);

	struct reply_header rep = {.rc = nft.run(ctx, text)};
	/* Each get also rewinds its buffer for the next request. */
	const char *out = nft.get_output(ctx);
	const char *errs = nft.get_error(ctx);

	rep.out_len = (uint32_t)strnlen(out, REPLY_MAX / 2);
	rep.err_len = (uint32_t)strnlen(errs, REPLY_MAX / 2);
	if (send_all(sock, &rep, sizeof(rep)) < 0 || send_all(sock, out, rep.out_len) < 0 ||
	    send_all(sock, errs, rep.err_len) < 0)
		return -1;
	return 1;
}

/* The helper: one nft context for its whole life, one request at a time,
 * gone when the daemon closes its end or dies. */
static __attribute__((noreturn)) void helper_main(void *arg)
{
	struct nft_ctx *ctx;

	(void)arg;
	/* It talks to the kernel's nftables and nothing else: CAP_NET_ADMIN is
	 * all it keeps (root's uid stays, its other capabilities go, from the
	 * bounding set too, and no_new_privs), so a bug in libnftables'
	 * parser is not a root shell. */
	{
		const char *step = NULL;

		if (caps_drop_to(0, 0, UINT64_C(1) << CAP_NET_ADMIN, &step) < 0 ||
		    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
			_exit(1);
	}
	if (nft_api_load() < 0)
		_exit(1);
	ctx = nft.ctx_new(NFT_CTX_DEFAULT);
	if (!ctx || nft.buffer_output(ctx) < 0 || nft.buffer_error(ctx) < 0)
		_exit(1);
	for (;;) {
		int r = helper_serve(3, ctx);

		if (r <= 0)
			_exit(r == 0 ? 0 : 1);
	}
}

static int helper_start(struct nft_helper *h, struct ward_err *err)
{
	pid_t pid = helper_fork(SOCK_STREAM, "wardd-nft", helper_main, NULL, &h->sock);

	if (pid < 0)
		return ward_err_set(err, errno, "nft helper: start");
	h->pid = pid;
	return 0;
}

/* Ends the helper and says how it ended, for the error message. A helper
 * that is already on its way out (it closed the socket by dying) is not
 * changed by the SIGKILL: its status says how it died. Only a child not yet
 * reaped is signalled: its pid cannot have been reused. */
void nft_helper_stop(struct nft_helper *h, char *how, size_t how_len)
{
	int st = 0;
	pid_t r;

	if (h->pid < 0)
		return;
	close(h->sock);
	h->sock = -1;
	r = waitpid(h->pid, &st, WNOHANG);
	if (r == 0) {
		(void)kill(h->pid, SIGKILL);
		do
			r = waitpid(h->pid, &st, 0);
		while (r < 0 && errno == EINTR);
	}
	if (how && r > 0 && WIFSIGNALED(st))
		(void)snprintf(how, how_len, "killed by signal %d", WTERMSIG(st));
	else if (how && r > 0 && WIFEXITED(st))
		(void)snprintf(how, how_len, "exited with status %d", WEXITSTATUS(st));
	else if (how)
		(void)snprintf(how, how_len, "gone");
	h->pid = -1;
}

/* Waits for the socket until the deadline: 1 ready, 0 timed out, -1 error. */
static int sock_wait(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd p = {.fd = fd, .events = events};
		int64_t left = deadline - (int64_t)loop_now_ms();
		int r;

		if (left <= 0)
			return 0;
		r = poll(&p, 1, (int)(left > 60000 ? 60000 : left));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r > 0)
			return 1; /* errors and hang-ups show in the send or recv */
	}
}

/* Both: 0 done; -1 failed (errno; ETIMEDOUT at the deadline, EPIPE at end
 * of file). The socket stays blocking for the helper's sake; each call
 * here is non-blocking and waits in poll(), so the deadline holds. */
static int send_by(int fd, const void *buf, size_t len, int64_t deadline)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n =
		    send(fd, (const char *)buf + done, len - done, MSG_NOSIGNAL | MSG_DONTWAIT);
		int r;

		if (n >= 0) {
			done += (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN || (r = sock_wait(fd, POLLOUT, deadline)) < 0)
			return -1;
		if (r == 0)
			return errno = ETIMEDOUT, -1;
	}
	return 0;
}

static int recv_by(int fd, void *buf, size_t len, int64_t deadline)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = recv(fd, (char *)buf + done, len - done, MSG_DONTWAIT);
		int r;

		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n == 0)
			return errno = EPIPE, -1;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN || (r = sock_wait(fd, POLLIN, deadline)) < 0)
			return -1;
		if (r == 0)
			return errno = ETIMEDOUT, -1;
	}
	return 0;
}

/* "Could not process rule: No such file or directory (in: delete element
 * ...)" out of nft's multi-line error text. */
static int nft_error(struct ward_err *err, const char *text)
{
	const char *e = strstr(text, "Error: ");
	const char *end, *cmd, *cmd_end;

	if (!e)
		return ward_err_set(err, 0, "nft failed: %.300s", text[0] ? text : "no message");
	e += strlen("Error: ");
	end = strchrnul(e, '\n');
	cmd = *end ? end + 1 : end;
	cmd_end = strchrnul(cmd, '\n');
	if (cmd_end == cmd)
		return ward_err_set(err, 0, "nft: %.*s", (int)(end - e), e);
	return ward_err_set(err, 0, "nft: %.*s (in: %.*s)", (int)(end - e), e,
			    (int)(cmd_end - cmd > 300 ? 300 : cmd_end - cmd), cmd);
}

static enum nft_result request_lost(struct nft_helper *h, int errnum, struct ward_err *err)
{
	char how[64] = "";

	nft_helper_stop(h, how, sizeof(how));
	if (errnum == ETIMEDOUT)
		return ward_err_set(err, 0, "nft helper did not answer within %d ms",
				    h->timeout_ms),
		       NFT_LOST;
	/* ECONNRESET: it died with the request unread. */
	if (errnum == EPIPE || errnum == ECONNRESET)
		return ward_err_set(err, 0, "nft helper died with the request (%s)", how), NFT_LOST;
	return ward_err_set(err, errnum, "nft helper: reply"), NFT_LOST;
}

/* Runs text in the helper, starting it first if there is none (or if the
 * one there died while idle: nothing was lost with it). *out, if asked for,
 * gets nft's output. */
enum nft_result nft_request(struct nft_helper *h, const char *text, bool json, char **out,
			    struct ward_err *err)
{
	struct request_header req = {.json = json, .len = (uint32_t)strlen(text)};
	struct reply_header rep;
	_cleanup_free_ char *buf = NULL;
	int64_t deadline;

	if (strlen(text) > REQUEST_MAX)
		return ward_err_set(err, E2BIG, "nft request"), NFT_FAILED;
	if (h->pid >= 0 && waitpid(h->pid, NULL, WNOHANG) != 0) {
		h->pid = -1; /* reaped (or not ours any more) */
		close(h->sock);
		h->sock = -1;
	}
	if (h->pid < 0 && helper_start(h, err) < 0)
		return NFT_FAILED;
	deadline = (int64_t)loop_now_ms() + h->timeout_ms;
	/* Until the last byte is sent the helper cannot have run anything. */
	if (send_by(h->sock, &req, sizeof(req), deadline) < 0 ||
	    send_by(h->sock, text, req.len, deadline) < 0) {
		int e = errno;
		char how[64] = "";

		nft_helper_stop(h, how, sizeof(how));
		return ward_err_set(err, e, "nft helper (%s)", how), NFT_FAILED;
	}
	if (recv_by(h->sock, &rep, sizeof(rep), deadline) < 0)
		return request_lost(h, errno, err);
	if (rep.out_len > REPLY_MAX || rep.err_len > REPLY_MAX)
		return request_lost(h, EPROTO, err);
	buf = malloc((size_t)rep.out_len + rep.err_len + 2);
	if (!buf)
		return request_lost(h, ENOMEM, err);
	/* "out\0err\0" */
	if (recv_by(h->sock, buf, rep.out_len, deadline) < 0 ||
	    recv_by(h->sock, buf + rep.out_len + 1, rep.err_len, deadline) < 0)
		return request_lost(h, errno, err);
	buf[rep.out_len] = '\0';
	buf[rep.out_len + 1 + rep.err_len] = '\0';
	if (rep.rc != 0) {
		/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): buf is _cleanup_free_ */
		return nft_error(err, buf + rep.out_len + 1), NFT_FAILED;
	}
	if (out)
		*out = TAKE_PTR(buf);
	/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): buf is _cleanup_free_ */
	return NFT_OK;
}
