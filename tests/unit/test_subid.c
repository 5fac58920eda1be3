/* Unit tests of the host's subordinate id ranges (subid.c): the files as
 * shadow writes and reads them, a missing file, a malformed line named by
 * file and line, and the overlap checks a tenant range and the pool get. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "tmpdir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/subid.h"

struct fixture {
	char dir[64];
	char uid[128], gid[128];
};

static int setup(void **state)
{
	struct fixture *f = test_fixture_new(sizeof(*f), "subid");

	test_fixture_path(f->uid, sizeof(f->uid), f->dir, "subuid");
	test_fixture_path(f->gid, sizeof(f->gid), f->dir, "subgid");
	*state = f;
	return 0;
}

static void write_file(const char *path, const char *text)
{
	test_write_file(path, text);
	assert_int_equal(chmod(path, 0644), 0);
}

/* Debian's useradd: 65536 ids a user from 100000 on. */
static void test_ranges(void **state)
{
	struct fixture *f = *state;
	struct subids s;
	struct ward_err err = {0};
	char buf[256];

	write_file(f->uid, "alice:100000:65536\nbob:165536:65536\n\n1003:0x10000000:0x1000\n");
	write_file(f->gid, "carol:231072:65536");
	assert_int_equal(subids_load(f->uid, f->gid, &s, &err), 0);
	assert_int_equal(s.n, 4);
	assert_int_equal(s.v[2].start, 0x10000000);
	assert_int_equal(s.v[2].count, 0x1000);
	assert_string_equal(s.v[2].owner, "1003");
	assert_int_equal(s.v[2].line, 4);

	/* Overlaps: the first id, the last, one range inside another. */
	assert_ptr_equal(subids_overlap(&s, 100000, 1), &s.v[0]);
	assert_ptr_equal(subids_overlap(&s, 165535, 1), &s.v[0]);
	assert_ptr_equal(subids_overlap(&s, 0, 4294967295u), &s.v[0]);
	assert_ptr_equal(subids_overlap(&s, 165536, 1), &s.v[1]);
	assert_ptr_equal(subids_overlap(&s, 296607, 1), &s.v[3]); /* subgid only */
	assert_null(subids_overlap(&s, 296608, 65536));
	assert_null(subids_overlap(&s, 0, 100000));
	assert_null(subids_overlap(&s, 700000000, 65536000));

	subid_describe(&s.v[1], buf, sizeof(buf));
	assert_true(strstr(buf, "/subuid:2 (bob: 165536+65536)") != NULL);
	assert_int_equal(subids_check(&s, "ids: uid range", 200000, 65536, &err), -1);
	assert_non_null(strstr(err.msg, "ids: uid range 200000+65536 overlaps "));
	assert_non_null(strstr(err.msg, "/subuid:2 (bob: 165536+65536): a host user can map"));
	assert_int_equal(subids_check(&s, "x", 700000000, 65536, &err), 0);
	subids_free(&s);
}

/* No file: nobody has subordinate ids (a host without shadow's tools). */
static void test_missing_files(void **state)
{
	struct fixture *f = *state;
	struct subids s;
	struct ward_err err = {0};

	assert_int_equal(subids_load(f->uid, f->gid, &s, &err), 0);
	assert_int_equal(s.n, 0);
	assert_null(subids_overlap(&s, 100000, 65536));
	subids_free(&s);
}

/* A line that is not a range: which ids it was meant to give cannot be
 * known, so the load fails (the callers refuse), naming file and line. */
static void test_malformed(void **state)
{
	static const char *const bad[] = {
	    "alice:100000\n",        "alice:100000:65536:1\n",
	    ":100000:65536\n",       "alice:-1:65536\n",
	    "alice: 100000:65536\n", "alice:100000:65536x\n",
	    "alice:100000:+65536\n", "alice:4294967295:2\n",
	    "alice::65536\n",        "alice\n",
	};
	struct fixture *f = *state;
	struct subids s;
	struct ward_err err = {0};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[128], want[192];

		snprintf(text, sizeof(text), "ok:300000:10\n%s", bad[i]);
		write_file(f->gid, text);
		memset(&s, 0xa5, sizeof(s));
		assert_int_equal(subids_load(f->uid, f->gid, &s, &err), -1);
		snprintf(want, sizeof(want), "%s:2: ", f->gid);
		if (strncmp(err.msg, want, strlen(want)) != 0)
			fail_msg("%s: got \"%s\"", bad[i], err.msg);
		assert_int_equal(s.n, 0);
		assert_null(s.v);
	}
	/* A comment (shadow has none, but a line that is no range is no
	 * grant); a "#" line that reads as a range still counts. */
	write_file(f->gid, "# ward test\n#x:500000:1\n");
	assert_int_equal(subids_load(f->uid, f->gid, &s, &err), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.v[0].start, 500000);
	subids_free(&s);
}

/* Written by someone other than root: it cannot be trusted either way. */
static void test_untrusted_file(void **state)
{
	struct fixture *f = *state;
	struct subids s;
	struct ward_err err = {0};

	write_file(f->uid, "alice:100000:65536\n");
	assert_int_equal(chmod(f->uid, 0666), 0);
	assert_int_equal(subids_load(f->uid, f->gid, &s, &err), -1);
	assert_non_null(strstr(err.msg, "writable by group or others"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_ranges, setup, test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_missing_files, setup, test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_malformed, setup, test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_untrusted_file, setup, test_fixture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
