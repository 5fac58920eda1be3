/* A temporary directory per test case, for the cmocka fixtures of the unit
 * tests that write files (include after cmocka.h). */
#pragma once

#include <stdio.h>
#include <stdlib.h>
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
