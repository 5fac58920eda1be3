/* Unit tests of listener.c: the socket file made with its mode, a stale
 * socket replaced, anything else at the path refused and left alone, the
 * accept hook called with non-blocking descriptors, and the file removed
 * on close. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "basic/listener.h"
#include "tmpdir.h"

struct fixture {
	char dir[64];
	char path[128];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	test_tmpdir_make(f->dir, sizeof(f->dir), "listener");
	(void)snprintf(f->path, sizeof(f->path), "%s/x.sock", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static const struct listener_opts opts = {
    .name = "test", .mode = 0666, .gid = (gid_t)-1, .backlog = 8, .per_turn = 4};

static int connect_to(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

struct accepted {
	int n;
	bool nonblock;
};

static void on_client(int fd, void *ud)
{
	struct accepted *a = ud;

	a->n++;
	a->nonblock = (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0;
	close(fd);
}

static void on_quit(struct loop *l, void *ud)
{
	(void)ud;
	loop_quit(l);
}

static void test_accepts(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};
	struct accepted a = {0};
	struct loop *l = loop_new();
	struct listener *li;
	struct stat st;
	int c1, c2;

	assert_non_null(l);
	li = listener_new(l, f->path, &opts, on_client, &a, &err);
	assert_non_null(li);
	assert_int_equal(lstat(f->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0666);
	c1 = connect_to(f->path);
	c2 = connect_to(f->path);
	assert_non_null(loop_timer_add(l, 50, on_quit, NULL));
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(a.n, 2);
	assert_true(a.nonblock);
	listener_free(li);
	assert_int_equal(lstat(f->path, &st), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(loop_count_fds(l), 0);
	assert_int_equal(loop_count_timers(l), 0);
	close(c1);
	close(c2);
	loop_free(l);
}

static void test_stale_replaced(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};
	struct loop *l = loop_new();
	struct listener *li;
	struct stat st;

	/* A previous daemon's socket, nobody listening. */
	li = listener_new(l, f->path, &opts, on_client, NULL, &err);
	assert_non_null(li);
	listener_free(li);
	{
		struct sockaddr_un sa = {.sun_family = AF_UNIX};
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);

		memcpy(sa.sun_path, f->path, strlen(f->path) + 1);
		assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		close(fd);
	}
	li = listener_new(l, f->path, &opts, on_client, NULL, &err);
	assert_non_null(li);
	assert_int_equal(lstat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0666);
	listener_close(li);
	listener_close(li); /* idempotent */
	listener_free(li);
	loop_free(l);
}

static void test_not_a_socket(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};
	struct loop *l = loop_new();
	struct stat st;
	int fd = open(f->path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	close(fd);
	assert_null(listener_new(l, f->path, &opts, on_client, NULL, &err));
	assert_non_null(strstr(err.msg, "not a socket"));
	/* Left alone. */
	assert_int_equal(lstat(f->path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(loop_count_fds(l), 0);
	loop_free(l);
}

static void test_path_too_long(void **state)
{
	struct ward_err err = {0};
	struct loop *l = loop_new();
	char path[200];

	(void)state;
	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	assert_null(listener_new(l, path, &opts, on_client, NULL, &err));
	assert_int_equal(err.errnum, ENAMETOOLONG);
	loop_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_accepts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stale_replaced, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_not_a_socket, setup, teardown),
	    cmocka_unit_test(test_path_too_long),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
