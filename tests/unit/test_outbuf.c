/* Unit tests of outbuf.c, the client output buffer: growth and its
 * charges to the owner's totals, room made at the tail only when needed,
 * a drain that stops when the socket is full and goes on later, the
 * descriptors riding on the first bytes only, and a gone peer. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "basic/outbuf.h"

static void test_cap_for(void **state)
{
	(void)state;
	assert_int_equal(outbuf_cap_for(0, 0, 1), 4096);
	assert_int_equal(outbuf_cap_for(4096, 4000, 96), 4096);
	assert_int_equal(outbuf_cap_for(4096, 4000, 97), 8192);
	assert_int_equal(outbuf_cap_for(0, 0, 10000), 16384);
	assert_int_equal(outbuf_cap_for(SIZE_MAX / 2 + 1, SIZE_MAX / 2, SIZE_MAX / 2), SIZE_MAX);
}

static void test_charges(void **state)
{
	size_t total = 0, cls = 0;
	struct outbuf b = {.charge = {&total, &cls}};
	struct outbuf c = {.charge = {&total, NULL}};

	(void)state;
	assert_int_equal(outbuf_append(&b, "hello", 5), 0);
	assert_int_equal(outbuf_append(&c, "x", 1), 0);
	assert_int_equal(total, 8192);
	assert_int_equal(cls, 4096);
	assert_int_equal(outbuf_pending(&b), 5);
	assert_int_equal(outbuf_resize(&b, 8192), 0);
	assert_int_equal(total, 12288);
	assert_int_equal(cls, 8192);
	outbuf_release(&b);
	outbuf_release(&c);
	assert_int_equal(total, 0);
	assert_int_equal(cls, 0);
	assert_null(b.data);
	assert_int_equal(outbuf_pending(&b), 0);
}

static void test_make_room(void **state)
{
	struct outbuf b = {0};

	(void)state;
	assert_int_equal(outbuf_resize(&b, 16), 0);
	outbuf_put(&b, "0123456789", 10);
	b.off = 8;               /* 8 sent */
	outbuf_make_room(&b, 6); /* fits at the tail: nothing moves */
	assert_int_equal(b.off, 8);
	outbuf_make_room(&b, 7); /* does not: the pending bytes go to the front */
	assert_int_equal(b.off, 0);
	assert_int_equal(b.len, 2);
	assert_memory_equal(b.data, "89", 2);
	outbuf_release(&b);
}

static void test_flush_partial(void **state)
{
	struct outbuf b = {0};
	static char big[1 << 20];
	char rd[65536];
	size_t sent = 0, got = 0;
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	memset(big, 'a', sizeof(big));
	assert_int_equal(outbuf_append(&b, big, sizeof(big)), 0);
	/* The peer does not read: some goes, the rest waits, nothing blocks. */
	assert_int_equal(outbuf_flush(&b, sv[0], NULL, 0, &sent), 0);
	assert_true(sent > 0 && sent < sizeof(big));
	assert_int_equal(outbuf_pending(&b), sizeof(big) - sent);
	got = sent;
	while (outbuf_pending(&b)) {
		while (read(sv[1], rd, sizeof(rd)) > 0)
			;
		assert_int_equal(outbuf_flush(&b, sv[0], NULL, 0, &sent), 0);
		got += sent;
	}
	assert_int_equal(got, sizeof(big));
	assert_int_equal(b.off, 0);
	assert_int_equal(b.len, 0);
	/* The peer gone: an error, not a wait. */
	close(sv[1]);
	assert_int_equal(outbuf_append(&b, "x\n", 2), 0);
	assert_int_equal(outbuf_flush(&b, sv[0], NULL, 0, &sent), -1);
	assert_int_equal(errno, EPIPE);
	outbuf_release(&b);
	close(sv[0]);
}

static void test_flush_fds(void **state)
{
	struct outbuf b = {0};
	size_t sent = 0;
	int sv[2], p[2];
	char buf[16];
	union {
		char c[CMSG_SPACE(sizeof(int) * 2)];
		struct cmsghdr align;
	} u;
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
	struct msghdr mh = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.c, .msg_controllen = sizeof(u.c)};
	struct cmsghdr *c;
	ssize_t n;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(outbuf_append(&b, "ok\n", 3), 0);
	assert_int_equal(outbuf_flush(&b, sv[0], p, 2, &sent), 0);
	assert_int_equal(sent, 3);
	n = recvmsg(sv[1], &mh, MSG_DONTWAIT);
	assert_int_equal(n, 3);
	c = CMSG_FIRSTHDR(&mh);
	assert_non_null(c);
	assert_int_equal(c->cmsg_type, SCM_RIGHTS);
	assert_int_equal(c->cmsg_len, CMSG_LEN(2 * sizeof(int)));
	{
		int fds[2];

		memcpy(fds, CMSG_DATA(c), sizeof(fds));
		close(fds[0]);
		close(fds[1]);
	}
	/* Nothing pending: nothing sent, no descriptor either. */
	assert_int_equal(outbuf_flush(&b, sv[0], p, 2, &sent), 0);
	assert_int_equal(sent, 0);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
	outbuf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cap_for),   cmocka_unit_test(test_charges),
	    cmocka_unit_test(test_make_room), cmocka_unit_test(test_flush_partial),
	    cmocka_unit_test(test_flush_fds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
