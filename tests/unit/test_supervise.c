/* Unit tests of the restart policy (restart.c): clean exits, when a
 * restart is wanted, the delay sequence, exit reasons, state names. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <string.h>

#include "daemon/supervise.h"

#define EXITED(code)     ((code) << 8)
#define KILLED(sig)      (sig)
#define KILLED_CORE(sig) ((sig) | 0x80)

static void test_clean_exits(void **state)
{
	(void)state;
	/* systemd's meaning: 0, or death by TERM/INT/HUP/PIPE. */
	assert_true(exit_is_clean(EXITED(0)));
	assert_true(exit_is_clean(KILLED(SIGTERM)));
	assert_true(exit_is_clean(KILLED(SIGINT)));
	assert_true(exit_is_clean(KILLED(SIGHUP)));
	assert_true(exit_is_clean(KILLED(SIGPIPE)));
	assert_false(exit_is_clean(EXITED(1)));
	assert_false(exit_is_clean(EXITED(255)));
	assert_false(exit_is_clean(KILLED(SIGSEGV)));
	assert_false(exit_is_clean(KILLED(SIGKILL)));
	assert_false(exit_is_clean(KILLED_CORE(SIGABRT)));
}

static void test_restart_wanted(void **state)
{
	(void)state;
	assert_true(restart_wanted(RESTART_ALWAYS, EXITED(0)));
	assert_true(restart_wanted(RESTART_ALWAYS, KILLED(SIGTERM)));
	assert_false(restart_wanted(RESTART_FAILURE, EXITED(0)));
	assert_false(restart_wanted(RESTART_FAILURE, KILLED(SIGTERM)));
	assert_true(restart_wanted(RESTART_FAILURE, EXITED(3)));
	assert_true(restart_wanted(RESTART_FAILURE, KILLED(SIGSEGV)));
	assert_false(restart_wanted(RESTART_NEVER, EXITED(3)));
	assert_false(restart_wanted(RESTART_NEVER, KILLED(SIGKILL)));
}

static void test_delay_doubles_and_caps(void **state)
{
	struct ward_restart r = {.on = RESTART_FAILURE,
				 .delay_ms = 100,
				 .max_delay_ms = 1000,
				 .burst = 5,
				 .interval_s = 60};

	(void)state;
	assert_int_equal(restart_delay_ms(&r, 1), 100);
	assert_int_equal(restart_delay_ms(&r, 2), 200);
	assert_int_equal(restart_delay_ms(&r, 3), 400);
	assert_int_equal(restart_delay_ms(&r, 4), 800);
	assert_int_equal(restart_delay_ms(&r, 5), 1000);
	assert_int_equal(restart_delay_ms(&r, 1000000), 1000);
	r.delay_ms = 0;
	assert_int_equal(restart_delay_ms(&r, 7), 0);
	r.delay_ms = 5000; /* above the cap: the cap wins */
	assert_int_equal(restart_delay_ms(&r, 1), 1000);
	r.delay_ms = UINT64_MAX / 2 + 1;
	r.max_delay_ms = UINT64_MAX;
	assert_true(restart_delay_ms(&r, 3) == UINT64_MAX); /* no overflow */
}

static void test_exit_reason(void **state)
{
	char buf[80];

	(void)state;
	exit_reason(EXITED(3), buf, sizeof(buf));
	assert_string_equal(buf, "exited 3");
	exit_reason(KILLED(SIGSEGV), buf, sizeof(buf));
	assert_string_equal(buf, "killed by SIGSEGV");
	exit_reason(KILLED_CORE(SIGABRT), buf, sizeof(buf));
	assert_string_equal(buf, "killed by SIGABRT (core dumped)");
}

static void test_state_names(void **state)
{
	(void)state;
	assert_string_equal(service_state_to_string(SERVICE_STOPPED), "stopped");
	assert_string_equal(service_state_to_string(SERVICE_STARTING), "starting");
	assert_string_equal(service_state_to_string(SERVICE_RUNNING), "running");
	assert_string_equal(service_state_to_string(SERVICE_STOPPING), "stopping");
	assert_string_equal(service_state_to_string(SERVICE_BACKOFF), "backoff");
	assert_string_equal(service_state_to_string(SERVICE_FAILED), "failed");
	assert_string_equal(service_state_to_string((enum service_state)42), "invalid");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_clean_exits),
	    cmocka_unit_test(test_restart_wanted),
	    cmocka_unit_test(test_delay_doubles_and_caps),
	    cmocka_unit_test(test_exit_reason),
	    cmocka_unit_test(test_state_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
