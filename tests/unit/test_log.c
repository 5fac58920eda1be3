/* Unit tests of basic/log.c and basic/fs.c: the line format, control bytes
 * shown, never passed; lines cut, never overflowing; one write per line;
 * mkdir -p. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "basic/fs.h"
#include "basic/log.h"
#include "tmpdir.h"

static void test_format_subjects(void **state)
{
	char b[256];

	(void)state;
	log_format(b, sizeof(b), NULL, NULL, "removed %d leftover ward links", 3);
	assert_string_equal(b, "wardd: removed 3 leftover ward links");
	log_format(b, sizeof(b), "acme", NULL, "firewall: %s", "no table");
	assert_string_equal(b, "wardd: acme: firewall: no table");
	log_format(b, sizeof(b), "acme", "db", "failed: %s", "exit 1");
	assert_string_equal(b, "wardd: acme/db: failed: exit 1");
	log_set_program("wardd-nft");
	log_format(b, sizeof(b), NULL, NULL, "%s", "dlopen");
	assert_string_equal(b, "wardd-nft: dlopen");
	log_set_program(NULL);
	log_format(b, sizeof(b), NULL, NULL, "x");
	assert_string_equal(b, "wardd: x");
}

static void test_control_bytes_are_shown_not_passed(void **state)
{
	char b[256];

	(void)state;
	/* A forged second line and a terminal sequence, in a name and in a
	 * message: both come out as text on one line. */
	log_format(b, sizeof(b), "ac\nwardd: all healthy", "d\x1b[2J", "m\r\x7f%s", "\t");
	assert_string_equal(b, "wardd: ac\\x0awardd: all healthy/d\\x1b[2J: m\\x0d\\x7f\\x09");
	assert_null(strchr(b, '\n'));
	/* Bytes >= 0x80 (UTF-8) pass as they are. */
	log_format(b, sizeof(b), "praxis-müller", NULL, "ok");
	assert_string_equal(b, "wardd: praxis-müller: ok");
}

static void test_long_lines_are_cut(void **state)
{
	char big[3 * LOG_LINE_MAX], b[LOG_LINE_MAX + 64], small[16];

	(void)state;
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memset(b, 'Z', sizeof(b));
	log_format(b, sizeof(b), NULL, NULL, "%s", big);
	assert_int_equal(strlen(b), LOG_LINE_MAX - 1);
	assert_int_equal(b[LOG_LINE_MAX], 'Z'); /* nothing past its limit */
	/* Escapes are whole or not at all. */
	log_format(small, sizeof(small), NULL, NULL, "abcdefg\x01");
	assert_string_equal(small, "wardd: abcdefg");
	log_format(small, sizeof(small), NULL, NULL, "abcdef\x01");
	assert_string_equal(small, "wardd: abcdef");
	log_format(small, sizeof(small), NULL, NULL, "abcd\x01");
	assert_string_equal(small, "wardd: abcd\\x01"); /* 15 bytes and the NUL */
}

/* log_* write whole lines to fd 2, and keep errno. */
static void test_writes_one_line_and_keeps_errno(void **state)
{
	char dir[64], path[128], got[256];
	int fd, saved = dup(2);
	ssize_t n;

	(void)state;
	test_tmpdir_make(dir, sizeof(dir), "log");
	test_fixture_path(path, sizeof(path), dir, "stderr");
	fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0 && saved >= 0);
	assert_int_equal(dup2(fd, 2), 2);
	errno = EPERM;
	log_service("acme", "db", "failed: %s", "exit 1");
	assert_int_equal(errno, EPERM);
	log_tenant(NULL, "no name");
	log_msg("plain");
	assert_int_equal(dup2(saved, 2), 2);
	close(saved);
	n = pread(fd, got, sizeof(got) - 1, 0);
	assert_true(n > 0);
	got[n] = '\0';
	assert_string_equal(got,
			    "wardd: acme/db: failed: exit 1\nwardd: ?: no name\nwardd: plain\n");
	close(fd);
	test_tmpdir_remove(dir);
}

static void test_mkdir_p(void **state)
{
	char root[64], path[PATH_MAX], big[PATH_MAX + 8];
	struct stat st;

	(void)state;
	test_tmpdir_make(root, sizeof(root), "fs");
	(void)snprintf(path, sizeof(path), "%s/a/b/c", root);
	assert_int_equal(fs_mkdir_p(path, 0700), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	(void)snprintf(path, sizeof(path), "%s/a/b", root);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0755 & ~(mode_t)umask(022));
	/* Again: nothing to do, the mode of what exists is kept. */
	(void)snprintf(path, sizeof(path), "%s/a/b/c", root);
	assert_int_equal(fs_mkdir_p(path, 0755), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0700);
	/* A file in the way. */
	(void)snprintf(path, sizeof(path), "%s/f", root);
	close(open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
	(void)snprintf(path, sizeof(path), "%s/f/x", root);
	assert_int_equal(fs_mkdir_p(path, 0700), -1);
	assert_int_equal(errno, ENOTDIR);
	/* Empty and too long. */
	assert_int_equal(fs_mkdir_p("", 0700), -1);
	assert_int_equal(errno, ENAMETOOLONG);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(fs_mkdir_p(big, 0700), -1);
	assert_int_equal(errno, ENAMETOOLONG);
	test_tmpdir_remove(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_format_subjects),
	    cmocka_unit_test(test_control_bytes_are_shown_not_passed),
	    cmocka_unit_test(test_long_lines_are_cut),
	    cmocka_unit_test(test_writes_one_line_and_keeps_errno),
	    cmocka_unit_test(test_mkdir_p),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
