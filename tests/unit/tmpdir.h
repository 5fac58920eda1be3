/* A temporary directory per test case, for the cmocka fixtures of the unit
 * tests that write files (include after cmocka.h), and the few file helpers
 * those tests share. */
#pragma once

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Makes /tmp/ward-test-NAME-XXXXXX in dir (at least 64 bytes) with a known
 * umask, or fails the test. */
static inline void test_tmpdir_make(char *dir, size_t size, const char *name)
{
	assert_true(snprintf(dir, size, "/tmp/ward-test-%s-XXXXXX", name) < (int)size);
	assert_non_null(mkdtemp(dir));
	umask(022);
}

/* Removes it with everything in it, or fails the test. */
static inline void test_tmpdir_remove(const char *dir)
{
	char cmd[128];

	assert_true(snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir) < (int)sizeof(cmd));
	assert_int_equal(system(cmd), 0);
}

/* A fixture is a struct whose first member is `char dir[64]`: its temporary
 * directory. Allocates one of size bytes, zeroed, and makes the directory
 * (see test_tmpdir_make), or fails the test. */
static inline void *test_fixture_new(size_t size, const char *name)
{
	char *f = calloc(1, size);

	assert_non_null(f);
	test_tmpdir_make(f, 64, name);
	return f;
}

/* The cmocka teardown of such a fixture: the directory is removed and the
 * fixture freed. */
static inline int test_fixture_teardown(void **state)
{
	char *dir = *state;

	test_tmpdir_remove(dir);
	free(dir);
	return 0;
}

/* path = DIR/FILE, or fails the test when it does not fit. */
static inline void test_fixture_path(char *path, size_t size, const char *dir, const char *file)
{
	assert_true(snprintf(path, size, "%s/%s", dir, file) < (int)size);
}

/* The contents of path, NUL-terminated, "" for an empty file; NULL when it
 * cannot be opened. Freed by the caller. */
static inline char *test_read_file(const char *path)
{
	char *buf = NULL;
	size_t cap = 0;
	FILE *fp = fopen(path, "r");

	if (!fp)
		return NULL;
	if (getdelim(&buf, &cap, '\0', fp) < 0) {
		free(buf);
		buf = strdup("");
	}
	fclose(fp);
	return buf;
}

/* The contents of a file that must exist (see test_read_file). */
static inline char *test_slurp(const char *path)
{
	char *buf = test_read_file(path);

	assert_non_null(buf);
	return buf;
}

/* Writes text to path (created or truncated), or fails the test. */
static inline void test_write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	assert_int_equal(fwrite(text, 1, strlen(text), fp), strlen(text));
	assert_int_equal(fclose(fp), 0);
}
