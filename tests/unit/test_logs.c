/* Unit tests of service logs: rotation at the size limit with the exact file
 * names and contents, the number of files kept, oversized writes, and
 * reading the last lines back across the rotation boundary. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "tmpdir.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/logs.h"

struct fixture {
	char dir[64];
	char path[160]; /* DIR/clinic/db.log: the parent does not exist yet */
};

static int setup(void **state)
{
	struct fixture *f = test_fixture_new(sizeof(*f), "logs");

	test_fixture_path(f->path, sizeof(f->path), f->dir, "clinic/db.log");
	*state = f;
	return 0;
}

/* The contents of PATH or PATH.N (n > 0); NULL when it does not exist. */
static char *contents(const char *path, unsigned n)
{
	char name[200];

	if (n)
		snprintf(name, sizeof(name), "%s.%u", path, n);
	else
		snprintf(name, sizeof(name), "%s", path);
	return test_read_file(name);
}

#define assert_file(path, n, expected)                                                             \
	do {                                                                                       \
		char *c_ = contents((path), (n));                                                  \
		assert_non_null(c_);                                                               \
		assert_string_equal(c_, (expected));                                               \
		free(c_);                                                                          \
	} while (0)

#define assert_no_file(path, n)                                                                    \
	do {                                                                                       \
		char *c_ = contents((path), (n));                                                  \
		assert_null(c_);                                                                   \
		free(c_); /* a no-op; for the analyzer, which thinks assert_null returns */        \
	} while (0)

static void put(struct log_sink *s, const char *text)
{
	struct ward_err err = {0};
	assert_int_equal(log_sink_write(s, text, strlen(text), &err), 0);
}

static void write_file(const char *path, unsigned n, const char *text)
{
	char name[200];

	if (n)
		snprintf(name, sizeof(name), "%s.%u", path, n);
	else
		snprintf(name, sizeof(name), "%s", path);
	test_write_file(name, text);
}

static void make_parent(const struct fixture *f)
{
	char dir[200];

	snprintf(dir, sizeof(dir), "%s/clinic", f->dir);
	assert_int_equal(mkdir(dir, 0750), 0);
}

static char *tail(const char *path, size_t lines, size_t max_bytes)
{
	struct ward_err err = {0};
	char *out = (char *)1;
	size_t len = 99;

	assert_int_equal(log_tail(path, lines, max_bytes, &out, &len, &err), 0);
	assert_non_null(out);
	assert_int_equal(strlen(out), len);
	return out;
}

#define assert_tail(path, lines, max_bytes, expected)                                              \
	do {                                                                                       \
		char *t_ = tail((path), (lines), (max_bytes));                                     \
		assert_string_equal(t_, (expected));                                               \
		free(t_);                                                                          \
	} while (0)

static void test_open_creates_dirs_and_file(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};
	struct stat st;
	char deeper[200];

	snprintf(deeper, sizeof(deeper), "%s/a/b/web.log", f->dir);
	struct log_sink *s = log_sink_open(deeper, 100, 1, &err);
	assert_non_null(s);
	log_sink_close(s);
	assert_int_equal(stat(deeper, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0640);
	*strrchr(deeper, '/') = '\0';
	assert_int_equal(stat(deeper, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0750);
	*strrchr(deeper, '/') = '\0';
	assert_int_equal(stat(deeper, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0750);
	/* The directory that existed is left as it was. */
	assert_int_equal(stat(f->dir, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
}

static void test_open_refuses_symlink(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};
	char target[200], dir[200];

	snprintf(dir, sizeof(dir), "%s/clinic", f->dir);
	snprintf(target, sizeof(target), "%s/elsewhere", f->dir);
	assert_int_equal(mkdir(dir, 0750), 0);
	assert_int_equal(symlink(target, f->path), 0);
	assert_null(log_sink_open(f->path, 100, 1, &err));
	assert_int_equal(err.errnum, ELOOP);
	assert_int_equal(access(target, F_OK), -1);
}

static void test_rotation_at_limit(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};
	struct log_sink *s = log_sink_open(f->path, 10, 3, &err);

	assert_non_null(s);
	put(s, "aaaa\n");
	put(s, "bbbb\n"); /* exactly at the limit: no rotation yet */
	assert_file(f->path, 0, "aaaa\nbbbb\n");
	assert_no_file(f->path, 1);
	put(s, "c\n"); /* would pass it */
	assert_file(f->path, 0, "c\n");
	assert_file(f->path, 1, "aaaa\nbbbb\n");
	assert_no_file(f->path, 2);
	put(s, "dddddddd\n");
	assert_file(f->path, 0, "dddddddd\n");
	assert_file(f->path, 1, "c\n");
	assert_file(f->path, 2, "aaaa\nbbbb\n");
	log_sink_close(s);
}

/* keep=2: the third rotation drops the oldest, and nothing past .2 appears. */
static void test_keep_drops_oldest(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};
	struct log_sink *s = log_sink_open(f->path, 5, 2, &err);

	assert_non_null(s);
	put(s, "one\n");
	put(s, "two\n");
	put(s, "three\n");
	put(s, "four\n");
	assert_file(f->path, 0, "four\n");
	assert_file(f->path, 1, "three\n");
	assert_file(f->path, 2, "two\n");
	assert_no_file(f->path, 3);
	log_sink_close(s);
}

static void test_keep_zero_truncates(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};
	struct log_sink *s = log_sink_open(f->path, 5, 0, &err);

	assert_non_null(s);
	put(s, "one\n");
	put(s, "two\n");
	assert_file(f->path, 0, "two\n");
	assert_no_file(f->path, 1);
	put(s, "z\n");
	assert_file(f->path, 0, "z\n");
	put(s, "y\n"); /* 4 bytes: fits */
	assert_file(f->path, 0, "z\ny\n");
	assert_no_file(f->path, 1);
	log_sink_close(s);
}

static void test_write_bigger_than_limit(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};
	struct log_sink *s = log_sink_open(f->path, 10, 5, &err);
	const char *big = "0123456789abcdefghijklmnopqrstuvwxyz\n";

	assert_non_null(s);
	/* Into an empty file: written whole, no empty .1 left behind. */
	put(s, big);
	assert_file(f->path, 0, big);
	assert_no_file(f->path, 1);
	put(s, "x\n");
	assert_file(f->path, 0, "x\n");
	assert_file(f->path, 1, big);
	/* Into a non-empty one: rotated first, then written whole. */
	put(s, big);
	assert_file(f->path, 0, big);
	assert_file(f->path, 1, "x\n");
	assert_file(f->path, 2, big);
	log_sink_close(s);
}

/* DB.log.new: where a rotation makes the fresh file before swapping it in. */
static void new_name(const struct fixture *f, char *buf, size_t len)
{
	assert_true(snprintf(buf, len, "%s.new", f->path) < (int)len);
}

/* A leftover of a rotation cut short (DB.log.new) is not appended to: the
 * fresh file holds only what came after the rotation, and nothing of that
 * name stays behind. A log removed by hand is started afresh. */
static void test_rotation_ignores_leftovers_and_a_removed_log(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};
	char fresh[200];
	struct log_sink *s = log_sink_open(f->path, 5, 2, &err);

	assert_non_null(s);
	new_name(f, fresh, sizeof(fresh));
	put(s, "one\n");
	write_file(fresh, 0, "stale\n");
	put(s, "two\n");
	assert_file(f->path, 0, "two\n");
	assert_file(f->path, 1, "one\n");
	assert_int_equal(access(fresh, F_OK), -1);

	assert_int_equal(unlink(f->path), 0);
	put(s, "three\n");
	assert_file(f->path, 0, "three\n");
	assert_no_file(f->path, 1); /* "two" went with the removed file */
	assert_file(f->path, 2, "one\n");
	assert_int_equal(access(fresh, F_OK), -1);
	log_sink_close(s);
}

/* Reads FILE whole and compares it with WANT; for a forked child, which
 * must not use cmocka's asserts. */
static bool file_is(const char *path, const char *want)
{
	char buf[64];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf));
	close(fd);
	return n == (ssize_t)strlen(want) && memcmp(buf, want, (size_t)n) == 0;
}

/* A file system that cannot exchange two names (renameat2 answers EINVAL,
 * here by a seccomp filter in a child): the two renames, same result. */
static void test_rotation_without_rename_exchange(void **state)
{
	struct fixture *f = *state;
	struct sock_filter insns[] = {
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_renameat2, 0, 1),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EINVAL),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = sizeof(insns) / sizeof(*insns), .filter = insns};
	char fresh[200], one[200];
	int st = -1;
	pid_t child;

	new_name(f, fresh, sizeof(fresh));
	assert_true(snprintf(one, sizeof(one), "%s.1", f->path) < (int)sizeof(one));
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		struct ward_err err = {0};
		struct log_sink *s = log_sink_open(f->path, 5, 2, &err);

		if (!s || log_sink_write(s, "one\n", 4, &err) < 0)
			_exit(2);
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
		    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
			_exit(3);
		if (renameat2(AT_FDCWD, f->path, AT_FDCWD, one, RENAME_EXCHANGE) == 0 ||
		    errno != EINVAL)
			_exit(4); /* the filter did not take */
		if (log_sink_write(s, "two\n", 4, &err) < 0)
			_exit(5);
		if (!file_is(f->path, "two\n") || !file_is(one, "one\n") ||
		    access(fresh, F_OK) == 0)
			_exit(6);
		log_sink_close(s);
		_exit(0);
	}
	assert_int_equal(waitpid(child, &st, 0), child);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

/* Whoever opens the log while it rotates finds a file, never none (a log
 * shipper or `tail -F` would see it vanish). A reader process opens it in a
 * loop while 3000 rotations run; with the old file renamed away before the
 * fresh one was made, it found none tens of thousands of times here. */
static void test_rotation_never_leaves_the_log_missing(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};
	struct log_sink *s = log_sink_open(f->path, 4, 2, &err);
	int stop[2], result[2];
	long missing = -1;
	char c = 0;
	pid_t reader;

	assert_non_null(s);
	assert_int_equal(pipe(stop), 0);
	assert_int_equal(pipe(result), 0);
	reader = fork();
	assert_true(reader >= 0);
	if (reader == 0) {
		struct pollfd pfd = {.fd = stop[0], .events = POLLIN};
		long n = 0;

		close(stop[1]);
		close(result[0]);
		if (write(result[1], "r", 1) != 1)
			_exit(1);
		/* Until the parent closes its end of stop. */
		while (poll(&pfd, 1, 0) == 0) {
			int fd = open(f->path, O_RDONLY | O_CLOEXEC);

			if (fd >= 0)
				close(fd);
			else if (errno == ENOENT)
				n++;
		}
		_exit(write(result[1], &n, sizeof(n)) == sizeof(n) ? 0 : 1);
	}
	close(stop[0]);
	close(result[1]);
	assert_int_equal(read(result[0], &c, 1), 1);
	for (int i = 0; i < 3000; i++)
		put(s, "abc\n");
	close(stop[1]);
	assert_int_equal(read(result[0], &missing, sizeof(missing)), sizeof(missing));
	close(result[0]);
	assert_int_equal(waitpid(reader, NULL, 0), reader);
	assert_int_equal(missing, 0);
	log_sink_close(s);
}

/* The size of an existing file counts: a restarted daemon rotates in time. */
static void test_reopen_counts_existing_size(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};
	struct log_sink *s = log_sink_open(f->path, 10, 1, &err);

	assert_non_null(s);
	put(s, "12345678\n");
	log_sink_close(s);
	assert_non_null(s = log_sink_open(f->path, 10, 1, &err));
	put(s, "ab\n");
	assert_file(f->path, 0, "ab\n");
	assert_file(f->path, 1, "12345678\n");
	log_sink_close(s);
}

static void test_tail_across_rotation(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};
	struct log_sink *s = log_sink_open(f->path, 10, 1, &err);

	assert_non_null(s);
	put(s, "l1\nl2\nl3\n");
	put(s, "l4\nl5\n");
	log_sink_close(s);
	assert_file(f->path, 1, "l1\nl2\nl3\n");
	assert_tail(f->path, 1, 1000, "l5\n");
	assert_tail(f->path, 2, 1000, "l4\nl5\n");
	assert_tail(f->path, 3, 1000, "l3\nl4\nl5\n");
	assert_tail(f->path, 5, 1000, "l1\nl2\nl3\nl4\nl5\n");
	assert_tail(f->path, 50, 1000, "l1\nl2\nl3\nl4\nl5\n");
	assert_tail(f->path, 0, 1000, "");
}

/* A line the rotation cut in two is one line; an unterminated last line
 * counts as a line. */
static void test_tail_split_line(void **state)
{
	struct fixture *f = *state;

	make_parent(f);
	write_file(f->path, 1, "a\nb");
	write_file(f->path, 0, "c\nd");
	assert_tail(f->path, 1, 1000, "d");
	assert_tail(f->path, 2, 1000, "bc\nd");
	assert_tail(f->path, 3, 1000, "a\nbc\nd");
	write_file(f->path, 0, "\n");
	assert_tail(f->path, 1, 1000, "b\n");
}

/* More than one read block, so the scan crosses block boundaries; and a
 * current file that holds fewer lines than asked. */
static void test_tail_lines_limit(void **state)
{
	struct fixture *f = *state;
	char path1[200];

	snprintf(path1, sizeof(path1), "%s.1", f->path);
	make_parent(f);
	FILE *fp = fopen(path1, "w");
	assert_non_null(fp);
	for (int i = 0; i < 100000; i++)
		fprintf(fp, "old line %06d\n", i);
	assert_int_equal(fclose(fp), 0);
	write_file(f->path, 0, "new 1\nnew 2\n");

	assert_tail(f->path, 2, 1 << 20, "new 1\nnew 2\n");
	assert_tail(f->path, 4, 1 << 20, "old line 099998\nold line 099999\nnew 1\nnew 2\n");
	char *t = tail(f->path, 20000, 1 << 20);
	assert_int_equal(strlen(t), 19998 * 16 + 12);
	assert_memory_equal(t, "old line 080002\n", 16);
	free(t);
}

/* The byte cap keeps the newest bytes, starting on a whole character. */
static void test_tail_max_bytes(void **state)
{
	struct fixture *f = *state;

	make_parent(f);
	write_file(f->path, 1, "first line\nsecond line\n");
	write_file(f->path, 0, "third line\nfourth\n");
	/* The last 3 lines are 30 bytes: the cap wins, across the boundary too. */
	assert_tail(f->path, 3, 10, "ne\nfourth\n");
	assert_tail(f->path, 3, 25, "d line\nthird line\nfourth\n");
	assert_tail(f->path, 3, 30, "second line\nthird line\nfourth\n");
	assert_tail(f->path, 3, 31, "second line\nthird line\nfourth\n");
	assert_tail(f->path, 1, 10, "fourth\n");
	assert_tail(f->path, 5, 0, "");

	/* "é" is two bytes: a cut through it drops its second half. */
	write_file(f->path, 0, "caf\xc3\xa9\n");
	assert_tail(f->path, 1, 2, "\n");
	assert_tail(f->path, 1, 3, "\xc3\xa9\n");
}

static void test_tail_missing_files(void **state)
{
	struct fixture *f = *state;
	char path1[200];

	snprintf(path1, sizeof(path1), "%s.1", f->path);

	assert_tail(f->path, 10, 1000, "");
	make_parent(f);
	write_file(f->path, 1, "only old\n");
	assert_tail(f->path, 10, 1000, "only old\n");
	write_file(f->path, 0, "only new\n");
	assert_int_equal(unlink(path1), 0);
	assert_tail(f->path, 10, 1000, "only new\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_open_creates_dirs_and_file, setup,
					    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_open_refuses_symlink, setup,
					    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_rotation_at_limit, setup, test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_keep_drops_oldest, setup, test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_keep_zero_truncates, setup, test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_write_bigger_than_limit, setup,
					    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_reopen_counts_existing_size, setup,
					    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_rotation_ignores_leftovers_and_a_removed_log,
					    setup, test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_rotation_without_rename_exchange, setup,
					    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_rotation_never_leaves_the_log_missing, setup,
					    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_tail_across_rotation, setup,
					    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_tail_split_line, setup, test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_tail_lines_limit, setup, test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_tail_max_bytes, setup, test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_tail_missing_files, setup, test_fixture_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
