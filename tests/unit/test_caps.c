/* Unit tests of caps.c: capability names, and the drop to a tenant identity
 * checked from /proc/self/status in a forked child (needs root). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <grp.h>
#include <linux/securebits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/caps.h"

#define TENANT_UID 231072

static void test_names(void **state)
{
	(void)state;
	assert_int_equal(caps_from_name("CAP_CHOWN"), 0);
	assert_int_equal(caps_from_name("CAP_NET_BIND_SERVICE"), 10);
	assert_int_equal(caps_from_name("CAP_SYS_ADMIN"), 21);
	assert_int_equal(caps_from_name("CAP_NOPE"), -1);
	assert_int_equal(caps_from_name("cap_chown"), -1); /* one spelling only */
	assert_int_equal(caps_from_name("NET_BIND_SERVICE"), -1);
	assert_int_equal(caps_from_name("10"), -1);
	assert_int_equal(caps_from_name(""), -1);
	assert_int_equal(caps_from_name(NULL), -1);
	assert_true(caps_last_cap() >= 40);
}

static uint64_t status_hex(const char *key)
{
	char line[256];
	FILE *f = fopen("/proc/self/status", "re");
	uint64_t v = UINT64_MAX;

	if (!f)
		return v;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, strlen(key)) == 0 && line[strlen(key)] == ':')
			v = strtoull(line + strlen(key) + 1, NULL, 16);
	fclose(f);
	return v;
}

/* Runs the drop in a child; the child exits 0 only if every check holds,
 * otherwise with the number of the first failed check. */
static int drop_in_child(uint64_t keep)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		const char *step = NULL;
		gid_t extra = 4242;

		if (setgroups(1, &extra) < 0)
			_exit(90);
		if (caps_drop_to(TENANT_UID, TENANT_UID, keep, &step) < 0)
			_exit(91);
		if (getuid() != TENANT_UID || geteuid() != TENANT_UID || getgid() != TENANT_UID)
			_exit(1);
		if (getgroups(0, NULL) != 0)
			_exit(2);
		if (status_hex("CapEff") != keep || status_hex("CapPrm") != keep ||
		    status_hex("CapInh") != keep)
			_exit(3);
		if (status_hex("CapBnd") != keep)
			_exit(4);
		if (status_hex("CapAmb") != keep)
			_exit(5);
		if ((prctl(PR_GET_SECUREBITS) &
		     (SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP_LOCKED |
		      SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED)) !=
		    (SECBIT_NOROOT_LOCKED | SECBIT_NO_SETUID_FIXUP_LOCKED |
		     SECBIT_KEEP_CAPS_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED))
			_exit(6);
		/* Nothing can be regained. */
		if (setuid(0) == 0 || setgroups(1, &extra) == 0)
			_exit(7);
		if (prctl(PR_SET_SECUREBITS, 0, 0, 0, 0) == 0)
			_exit(8);
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void test_drop_all(void **state)
{
	(void)state;
	if (geteuid() != 0)
		fail_msg("this test needs root");
	assert_int_equal(drop_in_child(0), 0);
}

static void test_drop_keep_one(void **state)
{
	(void)state;
	if (geteuid() != 0)
		fail_msg("this test needs root");
	/* Kept through the uid change, in every set including ambient, so
	 * that it survives execve as a non-root uid. */
	assert_int_equal(drop_in_child(UINT64_C(1) << 10), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_drop_all),
	    cmocka_unit_test(test_drop_keep_one),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
