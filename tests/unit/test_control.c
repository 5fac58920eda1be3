/* Unit tests of the control socket (control*.c): the request parser (every
 * form, every error class, random input), the rights of a peer, and the
 * server end to end on a real socket in a temp dir, with a fake supervisor
 * defined here and clients in forked children (some dropped to nobody to be
 * refused). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon/control.h"
#include "daemon/onboard.h"
#include "daemon/session.h"
#include "hung_nss.h"

#include <dlfcn.h>

#define NOBODY 65534

/* A group database that can be made to hang (a hung sssd or LDAP): this
 * definition takes the place of libc's for the code under test, and
 * sleeps hang_group_ms before asking the real one. */
static volatile unsigned hang_group_ms;

int getgrnam_r(const char *name, struct group *grp, char *buf, size_t buflen, struct group **result)
{
	int (*real)(const char *, struct group *, char *, size_t, struct group **);

	if (hang_group_ms)
		usleep(hang_group_ms * 1000u);
	*(void **)&real = dlsym(RTLD_NEXT, "getgrnam_r");
	if (!real)
		return ENOSYS;
	return real(name, grp, buf, buflen, result);
}

/* ======================================================================
 * control_parse_request
 * ====================================================================== */

static int parse(const char *s, struct control_request *req, struct ward_err *err)
{
	memset(err, 0, sizeof(*err));
	return control_parse_request(s, strlen(s), req, err);
}

/* Asserts that s is refused with a message containing want. */
#define assert_refused(s, want)                                                                    \
	do {                                                                                       \
		struct control_request r_;                                                         \
		struct ward_err e_;                                                                \
		assert_int_equal(parse((s), &r_, &e_), -1);                                        \
		if (!strstr(e_.msg, (want)))                                                       \
			fail_msg("%s: got \"%s\", want \"%s\"", (s), e_.msg, (want));              \
	} while (0)

static void test_parse_every_command(void **state)
{
	struct control_request r;
	struct ward_err e;

	(void)state;
	assert_int_equal(parse("{\"cmd\":\"status\"}", &r, &e), 0);
	assert_int_equal(r.cmd, CONTROL_STATUS);
	assert_string_equal(r.tenant, "");
	assert_string_equal(r.service, "");

	assert_int_equal(parse("{\"cmd\":\"status\",\"tenant\":\"acme\"}", &r, &e), 0);
	assert_int_equal(r.cmd, CONTROL_STATUS);
	assert_string_equal(r.tenant, "acme");

	static const struct {
		const char *name;
		enum control_cmd cmd;
	} actions[] = {{"start", CONTROL_START},
		       {"stop", CONTROL_STOP},
		       {"restart", CONTROL_RESTART},
		       {"reset", CONTROL_RESET}};
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
		char buf[128];

		snprintf(buf, sizeof(buf), "{\"cmd\":\"%s\",\"tenant\":\"acme\"}", actions[i].name);
		assert_int_equal(parse(buf, &r, &e), 0);
		assert_int_equal(r.cmd, actions[i].cmd);
		assert_string_equal(r.tenant, "acme");
		assert_string_equal(r.service, "");
		snprintf(buf, sizeof(buf),
			 "{\"service\":\"web-1\",\"cmd\":\"%s\",\"tenant\":\"acme\"}",
			 actions[i].name);
		assert_int_equal(parse(buf, &r, &e), 0);
		assert_int_equal(r.cmd, actions[i].cmd);
		assert_string_equal(r.tenant, "acme");
		assert_string_equal(r.service, "web-1");
		assert_string_equal(control_cmd_to_string(r.cmd), actions[i].name);
	}

	assert_int_equal(parse("{\"cmd\":\"reload\"}", &r, &e), 0);
	assert_int_equal(r.cmd, CONTROL_RELOAD);

	assert_int_equal(parse("{\"cmd\":\"net\",\"tenant\":\"acme\"}", &r, &e), 0);
	assert_int_equal(r.cmd, CONTROL_NET);
	assert_string_equal(r.tenant, "acme");
	/* net is about a tenant: it needs one, and takes no service. */
	assert_int_equal(parse("{\"cmd\":\"net\"}", &r, &e), -1);
	assert_int_equal(parse("{\"cmd\":\"net\",\"tenant\":\"a\",\"service\":\"b\"}", &r, &e), -1);

	assert_int_equal(parse("{\"cmd\":\"logs\",\"tenant\":\"acme\",\"service\":\"db\"}", &r, &e),
			 0);
	assert_int_equal(r.cmd, CONTROL_LOGS);
	assert_string_equal(r.service, "db");
	assert_int_equal(r.lines, 50);
	assert_false(r.follow);

	assert_int_equal(parse("{\"cmd\":\"logs\",\"tenant\":\"acme\",\"service\":\"db\","
			       "\"lines\":100000,\"follow\":true}",
			       &r, &e),
			 0);
	assert_int_equal(r.lines, 100000);
	assert_true(r.follow);
	assert_int_equal(parse("{\"cmd\":\"logs\",\"tenant\":\"a\",\"service\":\"b\",\"lines\":1,"
			       "\"follow\":false}",
			       &r, &e),
			 0);
	assert_int_equal(r.lines, 1);
	assert_false(r.follow);

	/* JSON whitespace around, a CR from a terminal: still one request. */
	assert_int_equal(parse(" \t{ \"cmd\" : \"status\" }\r", &r, &e), 0);
	/* The longest name. */
	assert_int_equal(
	    parse("{\"cmd\":\"stop\",\"tenant\":\"abcdefghijklmnopqrstuvwx\"}", &r, &e), 0);
	assert_string_equal(r.tenant, "abcdefghijklmnopqrstuvwx");
}

static void test_parse_not_json(void **state)
{
	(void)state;
	assert_refused("", "invalid JSON");
	assert_refused("{", "invalid JSON");
	assert_refused("status", "invalid JSON");
	assert_refused("{\"cmd\":\"status\"} {}", "invalid JSON");
	assert_refused("{\"cmd\":\"status\",}", "invalid JSON");
	assert_refused("{'cmd':'status'}", "invalid JSON");
	assert_refused("{\"cmd\":\"sta\xfftus\"}", "invalid JSON");
	/* Nesting deeper than jansson's limit: an error, not a deep recursion. */
	{
		char deep[60001];
		struct control_request r;
		struct ward_err e = {0};

		memset(deep, '[', sizeof(deep) - 1);
		deep[sizeof(deep) - 1] = '\0';
		assert_int_equal(control_parse_request(deep, sizeof(deep) - 1, &r, &e), -1);
		assert_non_null(strstr(e.msg, "invalid JSON"));
	}
	/* \u0000 would cut a name short in C. */
	assert_refused("{\"cmd\":\"stop\",\"tenant\":\"a\\u0000b\"}", "invalid JSON");
}

static void test_parse_not_object(void **state)
{
	(void)state;
	assert_refused("[]", "request must be a JSON object");
	assert_refused("[{\"cmd\":\"status\"}]", "request must be a JSON object");
	assert_refused("\"status\"", "request must be a JSON object");
	assert_refused("42", "request must be a JSON object");
	assert_refused("null", "request must be a JSON object");
}

static void test_parse_cmd(void **state)
{
	(void)state;
	assert_refused("{}", "missing \"cmd\"");
	assert_refused("{\"tenant\":\"acme\"}", "missing \"cmd\"");
	assert_refused("{\"cmd\":1}", "cmd: must be a string");
	assert_refused("{\"cmd\":null}", "cmd: must be a string");
	assert_refused("{\"cmd\":[\"status\"]}", "cmd: must be a string");
	assert_refused("{\"cmd\":\"shutdown\"}", "unknown command \"shutdown\"");
	assert_refused("{\"cmd\":\"STATUS\"}", "unknown command \"STATUS\"");
	assert_refused("{\"cmd\":\"\"}", "unknown command \"\"");
	assert_refused("{\"cmd\":\"check\"}", "unknown command \"check\"");
	/* What the client sent comes back escaped, and cut short. */
	assert_refused("{\"cmd\":\"st\\n\\u00e9\"}", "unknown command \"st\\x0a\\xc3\\xa9\"");
	assert_refused("{\"cmd\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
		       "unknown command \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\"");
}

static void test_parse_unknown_key(void **state)
{
	(void)state;
	assert_refused("{\"cmd\":\"status\",\"x\":1}", "unknown key \"x\" for status");
	assert_refused("{\"cmd\":\"status\",\"tenant\":\"a\",\"service\":\"b\"}",
		       "unknown key \"service\" for status");
	assert_refused("{\"cmd\":\"reload\",\"tenant\":\"a\"}",
		       "unknown key \"tenant\" for reload");
	assert_refused("{\"cmd\":\"start\",\"tenant\":\"a\",\"lines\":5}",
		       "unknown key \"lines\" for start");
	assert_refused("{\"cmd\":\"stop\",\"tenant\":\"a\",\"follow\":true}",
		       "unknown key \"follow\" for stop");
	assert_refused("{\"cmd\":\"logs\",\"tenant\":\"a\",\"service\":\"b\",\"Lines\":5}",
		       "unknown key \"Lines\" for logs");
	assert_refused("{\"cmd\":\"status\",\"\":1}", "unknown key \"\" for status");
}

static void test_parse_types(void **state)
{
	(void)state;
	assert_refused("{\"cmd\":\"status\",\"tenant\":1}", "tenant: must be a string");
	assert_refused("{\"cmd\":\"status\",\"tenant\":null}", "tenant: must be a string");
	assert_refused("{\"cmd\":\"stop\",\"tenant\":\"a\",\"service\":true}",
		       "service: must be a string");
	assert_refused("{\"cmd\":\"stop\",\"tenant\":[\"a\"]}", "tenant: must be a string");
	static const char *const bad_lines[] = {
	    "\"5\"", "5.0", "true", "null", "0", "-1", "100001", "9223372036854775807", "[5]"};
	for (size_t i = 0; i < sizeof(bad_lines) / sizeof(bad_lines[0]); i++) {
		char buf[128];

		snprintf(buf, sizeof(buf),
			 "{\"cmd\":\"logs\",\"tenant\":\"a\",\"service\":\"b\",\"lines\":%s}",
			 bad_lines[i]);
		assert_refused(buf, "lines: must be an integer from 1 to 100000");
	}
	assert_refused("{\"cmd\":\"logs\",\"tenant\":\"a\",\"service\":\"b\",\"follow\":1}",
		       "follow: must be true or false");
	assert_refused("{\"cmd\":\"logs\",\"tenant\":\"a\",\"service\":\"b\",\"follow\":\"true\"}",
		       "follow: must be true or false");
}

static void test_parse_required(void **state)
{
	(void)state;
	assert_refused("{\"cmd\":\"stop\",\"service\":\"web\"}", "service given without tenant");
	assert_refused("{\"cmd\":\"logs\",\"service\":\"web\"}", "service given without tenant");
	assert_refused("{\"cmd\":\"start\"}", "missing \"tenant\"");
	assert_refused("{\"cmd\":\"reset\"}", "missing \"tenant\"");
	assert_refused("{\"cmd\":\"logs\"}", "missing \"tenant\"");
	assert_refused("{\"cmd\":\"logs\",\"tenant\":\"acme\"}", "missing \"service\"");
}

static void test_parse_names(void **state)
{
	static const char *const bad[] = {
	    "../x",
	    "..",
	    ".",
	    "a/b",
	    "/",
	    "",
	    "A",
	    "acme ",
	    " acme",
	    "1acme",
	    "-acme",
	    "acme_1",
	    "abcdefghijklmnopqrstuvwxy", /* 25 */
	    "a\\nb",
	    "\\u00e9",
	};
	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char buf[256];

		snprintf(buf, sizeof(buf), "{\"cmd\":\"status\",\"tenant\":\"%s\"}", bad[i]);
		assert_refused(buf, "tenant: invalid name");
		snprintf(buf, sizeof(buf), "{\"cmd\":\"logs\",\"tenant\":\"a\",\"service\":\"%s\"}",
			 bad[i]);
		assert_refused(buf, "service: invalid name");
	}
	assert_refused("{\"cmd\":\"status\",\"tenant\":\"../x\"}",
		       "tenant: invalid name \"../x\": must match [a-z][a-z0-9-]{0,23}");
	assert_refused("{\"cmd\":\"stop\",\"tenant\":\"a\",\"service\":\"a/b\"}",
		       "service: invalid name \"a/b\"");
	assert_refused("{\"cmd\":\"status\",\"tenant\":\"\"}", "tenant: invalid name \"\"");
}

static void test_parse_duplicates_nul_length(void **state)
{
	struct control_request r;
	struct ward_err e;
	char *big;

	(void)state;
	assert_refused("{\"cmd\":\"status\",\"cmd\":\"reload\"}", "duplicate");
	assert_refused("{\"cmd\":\"stop\",\"tenant\":\"a\",\"tenant\":\"b\"}", "duplicate");

	static const char nul[] = "{\"cmd\":\"status\"}\0";
	memset(&e, 0, sizeof(e));
	assert_int_equal(control_parse_request(nul, sizeof(nul) - 1, &r, &e), -1);
	assert_string_equal(e.msg, "NUL byte in request");
	static const char nul2[] = "{\"cmd\":\"st\0atus\"}";
	assert_int_equal(control_parse_request(nul2, sizeof(nul2) - 1, &r, &e), -1);
	assert_string_equal(e.msg, "NUL byte in request");

	/* 64 KiB without the newline is one byte too many. */
	big = malloc(CONTROL_MAX_REQUEST + 1);
	assert_non_null(big);
	memset(big, ' ', CONTROL_MAX_REQUEST);
	memcpy(big, "{\"cmd\":\"status\"}", 16);
	assert_int_equal(control_parse_request(big, CONTROL_MAX_REQUEST, &r, &e), -1);
	assert_string_equal(e.msg, "request longer than 65536 bytes (newline included)");
	/* One less (and its newline) is fine. */
	assert_int_equal(control_parse_request(big, CONTROL_MAX_REQUEST - 1, &r, &e), 0);
	assert_int_equal(r.cmd, CONTROL_STATUS);
	free(big);
}

/* onboard, offboard, sessions, kick: every field, every mistake. */
static void test_parse_onboarding(void **state)
{
	struct control_request r;
	struct ward_err e;

	(void)state;
	assert_int_equal(
	    parse("{\"cmd\":\"onboard\",\"tenant\":\"sunrise\",\"template\":\"ehr\"}", &r, &e), 0);
	assert_int_equal(r.cmd, CONTROL_ONBOARD);
	assert_string_equal(r.tenant, "sunrise");
	assert_string_equal(r.tmpl, "ehr");
	assert_string_equal(r.display_name, "");
	assert_string_equal(control_cmd_to_string(r.cmd), "onboard");
	assert_int_equal(
	    parse("{\"cmd\":\"onboard\",\"tenant\":\"a\",\"template\":\"ehr-2\","
		  "\"display_name\":\"Caf\\u00e9 Kinderarztpraxis M\\u00fcller & Co.\"}",
		  &r, &e),
	    0);
	assert_string_equal(r.display_name, "Caf\xc3\xa9 Kinderarztpraxis M\xc3\xbcller & Co.");
	assert_refused("{\"cmd\":\"onboard\",\"tenant\":\"a\"}", "missing \"template\"");
	assert_refused("{\"cmd\":\"onboard\",\"template\":\"ehr\"}", "missing \"tenant\"");
	assert_refused("{\"cmd\":\"onboard\",\"tenant\":\"a\",\"template\":\"../ehr\"}",
		       "template: invalid name \"../ehr\"");
	assert_refused("{\"cmd\":\"onboard\",\"tenant\":\"a\",\"template\":7}",
		       "template: must be a string");
	assert_refused(
	    "{\"cmd\":\"onboard\",\"tenant\":\"a\",\"template\":\"t\",\"service\":\"x\"}",
	    "unknown key \"service\" for onboard");
	assert_refused("{\"cmd\":\"onboard\",\"tenant\":\"a\",\"template\":\"t\",\"purge\":true}",
		       "unknown key \"purge\" for onboard");
	/* Display names: printable, 1..128 characters. */
	static const char *const bad_display[] = {
	    "\"\"",         "\"a\\nb\"",       "\"\\u001b[31mred\"", "\"\\u007f\"",
	    "\"\\u0085\"",  "\"\\u202eevil\"", "\"a\\u2028b\"",      "\"\\u2066x\"",
	    "\"\\ufeffx\"", "\"\\u200fx\"",
	};
	for (size_t i = 0; i < sizeof(bad_display) / sizeof(bad_display[0]); i++) {
		char buf[256];

		snprintf(
		    buf, sizeof(buf),
		    "{\"cmd\":\"onboard\",\"tenant\":\"a\",\"template\":\"t\",\"display_name\":%s}",
		    bad_display[i]);
		assert_refused(buf, "display_name: must");
	}
	assert_refused(
	    "{\"cmd\":\"onboard\",\"tenant\":\"a\",\"template\":\"t\",\"display_name\":1}",
	    "display_name: must be a string");
	{
		char buf[1024];
		int n = snprintf(buf, sizeof(buf),
				 "{\"cmd\":\"onboard\",\"tenant\":\"a\",\"template\":\"t\","
				 "\"display_name\":\"");
		/* 128 four-byte characters: the longest there is. */
		for (int i = 0; i < 128; i++)
			n += snprintf(buf + n, sizeof(buf) - (size_t)n, "\xf0\x9f\x8f\xa5");
		snprintf(buf + n, sizeof(buf) - (size_t)n, "\"}");
		assert_int_equal(parse(buf, &r, &e), 0);
		assert_int_equal(strlen(r.display_name), 512);
		/* One more is too long. */
		snprintf(buf + n, sizeof(buf) - (size_t)n, "x\"}");
		assert_refused(buf, "display_name: must be 1 to 128 characters long");
	}

	/* offboard: exactly one of archive and purge. */
	assert_int_equal(parse("{\"cmd\":\"offboard\",\"tenant\":\"a\",\"purge\":true}", &r, &e),
			 0);
	assert_int_equal(r.cmd, CONTROL_OFFBOARD);
	assert_true(r.purge);
	assert_string_equal(r.archive, "");
	assert_int_equal(
	    parse("{\"cmd\":\"offboard\",\"tenant\":\"a\",\"archive\":\"/srv/a b.tar\","
		  "\"purge\":false}",
		  &r, &e),
	    0);
	assert_false(r.purge);
	assert_string_equal(r.archive, "/srv/a b.tar");
	assert_refused("{\"cmd\":\"offboard\",\"tenant\":\"a\"}",
		       "refusing to offboard without --archive FILE or --purge: the data would be "
		       "lost");
	assert_refused("{\"cmd\":\"offboard\",\"tenant\":\"a\",\"purge\":false}",
		       "refusing to offboard without --archive FILE or --purge");
	assert_refused(
	    "{\"cmd\":\"offboard\",\"tenant\":\"a\",\"archive\":\"/x.tar\",\"purge\":true}",
	    "archive and purge exclude each other");
	assert_refused("{\"cmd\":\"offboard\",\"purge\":true}", "missing \"tenant\"");
	assert_refused("{\"cmd\":\"offboard\",\"tenant\":\"a\",\"purge\":\"yes\"}",
		       "purge: must be true or false");
	static const struct {
		const char *path, *error;
	} bad_archive[] = {
	    {"\"x.tar\"", "archive: must be an absolute path"},
	    {"\"\"", "archive: must be an absolute path"},
	    {"\"./x.tar\"", "archive: must be an absolute path"},
	    {"\"/srv/../etc/x.tar\"", "archive: must not contain \".\" or \"..\" components"},
	    {"\"/srv/./x.tar\"", "archive: must not contain \".\" or \"..\" components"},
	    {"\"/srv/..\"", "archive: must not contain \".\" or \"..\" components"},
	    {"\"/..\"", "archive: must not contain \".\" or \"..\" components"},
	    {"\"/srv/\"", "archive: must name a file, not end in \"/\""},
	    {"\"/\"", "archive: must name a file"},
	    {"\"/srv/a\\nb\"", "archive: must not contain control characters"},
	    {"\"/srv/a\\u0000b\"", "invalid JSON"},
	    {"7", "archive: must be a string"},
	};
	for (size_t i = 0; i < sizeof(bad_archive) / sizeof(bad_archive[0]); i++) {
		char buf[256];

		snprintf(buf, sizeof(buf), "{\"cmd\":\"offboard\",\"tenant\":\"a\",\"archive\":%s}",
			 bad_archive[i].path);
		assert_refused(buf, bad_archive[i].error);
	}
	/* "..." and ".x" are names like any other. */
	assert_int_equal(
	    parse("{\"cmd\":\"offboard\",\"tenant\":\"a\",\"archive\":\"/.../.x/..y\"}", &r, &e),
	    0);
	{
		static char buf[CONTROL_ARCHIVE_MAX + 128];
		int n = snprintf(buf, sizeof(buf),
				 "{\"cmd\":\"offboard\",\"tenant\":\"a\",\"archive\":\"/");

		memset(buf + n, 'x', CONTROL_ARCHIVE_MAX - 2); /* 4095 bytes with the "/" */
		snprintf(buf + n + CONTROL_ARCHIVE_MAX - 2,
			 sizeof(buf) - (size_t)n - CONTROL_ARCHIVE_MAX + 2, "\"}");
		assert_int_equal(parse(buf, &r, &e), 0);
		assert_int_equal(strlen(r.archive), CONTROL_ARCHIVE_MAX - 1);
		snprintf(buf + n + CONTROL_ARCHIVE_MAX - 2,
			 sizeof(buf) - (size_t)n - CONTROL_ARCHIVE_MAX + 2, "y\"}");
		assert_refused(buf, "archive: longer than 4095 bytes");
	}

	/* sessions and kick */
	assert_int_equal(parse("{\"cmd\":\"sessions\"}", &r, &e), 0);
	assert_int_equal(r.cmd, CONTROL_SESSIONS);
	assert_int_equal(parse("{\"cmd\":\"sessions\",\"tenant\":\"acme\"}", &r, &e), 0);
	assert_string_equal(r.tenant, "acme");
	assert_refused("{\"cmd\":\"sessions\",\"tenant\":\"a\",\"service\":\"b\"}",
		       "unknown key \"service\" for sessions");
	assert_int_equal(parse("{\"cmd\":\"kick\",\"session\":\"3f2a9c0d-1\"}", &r, &e), 0);
	assert_int_equal(r.cmd, CONTROL_KICK);
	assert_string_equal(r.session, "3f2a9c0d-1");
	assert_refused("{\"cmd\":\"kick\"}", "missing \"session\"");
	assert_refused("{\"cmd\":\"kick\",\"session\":\"x\",\"tenant\":\"a\"}",
		       "unknown key \"tenant\" for kick");
	static const char *const bad_sessions[] = {"\"\"",    "\".\"",       "\"..\"",    "\"a/b\"",
						   "\"a b\"", "\"\\u00e9\"", "\"a\\nb\"", "5",
						   "\"A1\"",  "\"a_b\""};
	for (size_t i = 0; i < sizeof(bad_sessions) / sizeof(bad_sessions[0]); i++) {
		char buf[128];

		snprintf(buf, sizeof(buf), "{\"cmd\":\"kick\",\"session\":%s}", bad_sessions[i]);
		assert_refused(buf, "session: ");
	}
	assert_refused("{\"cmd\":\"kick\",\"session\":"
		       "\"123456789012345678901234567890123\"}",
		       "session: invalid id");
}

/* Arbitrary bytes and mutated requests: no crash, no ambiguous answer, no
 * non-ASCII in a message, and only valid names ever come out. */
static void test_parse_random(void **state)
{
	static const char *const seeds[] = {
	    "{\"cmd\":\"logs\",\"tenant\":\"acme\",\"service\":\"db\",\"lines\":7,\"follow\":true}",
	    "{\"cmd\":\"stop\",\"tenant\":\"acme\",\"service\":\"web\"}",
	    "{\"cmd\":\"status\",\"tenant\":\"acme\"}",
	    "{\"cmd\":\"reload\"}",
	    "{\"cmd\":\"onboard\",\"tenant\":\"a\",\"template\":\"ehr\",\"display_name\":\"A b\"}",
	    "{\"cmd\":\"offboard\",\"tenant\":\"acme\",\"archive\":\"/srv/a/x.tar\"}",
	    "{\"cmd\":\"offboard\",\"tenant\":\"acme\",\"purge\":true}",
	    "{\"cmd\":\"kick\",\"session\":\"s-1\"}",
	};
	const unsigned n_seeds = sizeof(seeds) / sizeof(seeds[0]);
	unsigned seed = 12345;
	char buf[256];

	(void)state;
	for (int i = 0; i < 50000; i++) {
		const char *s = seeds[(unsigned)i % n_seeds];
		size_t len = strlen(s);
		struct control_request r;
		struct ward_err e = {0};
		int rc;

		memcpy(buf, s, len); /* NOLINT(bugprone-not-null-terminated-result): bytes + len */
		if (i % 5 == 0) {
			len = (size_t)(rand_r(&seed) % sizeof(buf));
			for (size_t k = 0; k < len; k++)
				buf[k] = (char)rand_r(&seed);
		} else {
			for (int m = rand_r(&seed) % 3 + 1; m > 0; m--)
				buf[(size_t)rand_r(&seed) % len] =
				    "\"{}[]:,a/.\\\x80\xff\0 09-zT"[rand_r(&seed) % 20];
		}
		rc = control_parse_request(buf, len, &r, &e);
		assert_true(rc == 0 || rc == -1);
		if (rc == 0) {
			assert_true(r.tenant[0] == '\0' || ward_name_valid(r.tenant));
			assert_true(r.service[0] == '\0' || ward_name_valid(r.service));
			assert_true(r.service[0] == '\0' || r.tenant[0] != '\0');
			assert_true(r.lines >= 1 && r.lines <= 100000);
			assert_true(r.tmpl[0] == '\0' || ward_name_valid(r.tmpl));
			assert_true(r.archive[0] == '\0' || r.archive[0] == '/');
			assert_true(r.cmd != CONTROL_OFFBOARD || !r.archive[0] != !r.purge);
			assert_true(r.cmd == CONTROL_OFFBOARD || (!r.archive[0] && !r.purge));
			assert_true(r.cmd == CONTROL_ONBOARD || (!r.tmpl[0] && !r.display_name[0]));
			assert_true(r.cmd == CONTROL_KICK || !r.session[0]);
		} else {
			assert_true(e.msg[0] != '\0');
			for (const char *p = e.msg; *p; p++)
				if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
					fail_msg("non-ASCII byte in \"%s\"", e.msg);
		}
	}
}

static void test_cmd_rights(void **state)
{
	(void)state;
	assert_int_equal(control_cmd_right(CONTROL_STATUS), RIGHT_READ);
	assert_int_equal(control_cmd_right(CONTROL_LOGS), RIGHT_READ);
	assert_int_equal(control_cmd_right(CONTROL_START), RIGHT_OPERATE);
	assert_int_equal(control_cmd_right(CONTROL_STOP), RIGHT_OPERATE);
	assert_int_equal(control_cmd_right(CONTROL_RESTART), RIGHT_OPERATE);
	assert_int_equal(control_cmd_right(CONTROL_RESET), RIGHT_OPERATE);
	assert_int_equal(control_cmd_right(CONTROL_RELOAD), RIGHT_OPERATE);
	assert_int_equal(control_cmd_right(CONTROL_NET), RIGHT_READ);
	assert_string_equal(control_cmd_to_string(CONTROL_NET), "net");
	assert_string_equal(control_cmd_to_string(CONTROL_STATUS), "status");
	assert_string_equal(control_cmd_to_string(CONTROL_RELOAD), "reload");
	assert_string_equal(control_cmd_to_string(CONTROL_LOGS), "logs");
	assert_int_equal(control_cmd_right(CONTROL_ONBOARD), RIGHT_ADMIN);
	assert_int_equal(control_cmd_right(CONTROL_OFFBOARD), RIGHT_ADMIN);
	assert_int_equal(control_cmd_right(CONTROL_SESSIONS), RIGHT_READ);
	assert_int_equal(control_cmd_right(CONTROL_KICK), RIGHT_OPERATE);
	assert_string_equal(control_cmd_to_string(CONTROL_ONBOARD), "onboard");
	assert_string_equal(control_cmd_to_string(CONTROL_OFFBOARD), "offboard");
	assert_string_equal(control_cmd_to_string(CONTROL_SESSIONS), "sessions");
	assert_string_equal(control_cmd_to_string(CONTROL_KICK), "kick");
}

/* ======================================================================
 * control_peer_right
 * ====================================================================== */

/* The gid of a group that exists on every Debian host, or skip. */
static gid_t host_gid(const char *name)
{
	struct group *g = getgrnam(name);

	if (!g) {
		print_message("no group %s on this host\n", name);
		skip();
		return (gid_t)-1; /* not reached: skip() does not return */
	}
	return g->gr_gid;
}

static void test_peer_right(void **state)
{
	gid_t adm = host_gid("daemon"), op = host_gid("bin"), view = host_gid("sys"),
	      other = host_gid("tty");
	struct ward_config cfg = {
	    .admin_group = "daemon", .operator_group = "bin", .viewer_group = "sys"};
	struct ward_config none = {0};
	gid_t groups[3];

	(void)state;
	/* root: everything, with or without groups. */
	assert_int_equal(control_peer_right(&cfg, 0, 0, NULL, 0), RIGHT_ADMIN);
	assert_int_equal(control_peer_right(&none, 0, 12345, NULL, 0), RIGHT_ADMIN);

	/* Each group, as primary gid and as a supplementary one. */
	assert_int_equal(control_peer_right(&cfg, 1000, adm, NULL, 0), RIGHT_ADMIN);
	assert_int_equal(control_peer_right(&cfg, 1000, op, NULL, 0), RIGHT_OPERATE);
	assert_int_equal(control_peer_right(&cfg, 1000, view, NULL, 0), RIGHT_READ);
	groups[0] = other;
	groups[1] = adm;
	assert_int_equal(control_peer_right(&cfg, 1000, 1000, groups, 2), RIGHT_ADMIN);
	groups[1] = op;
	assert_int_equal(control_peer_right(&cfg, 1000, 1000, groups, 2), RIGHT_OPERATE);
	groups[1] = view;
	assert_int_equal(control_peer_right(&cfg, 1000, 1000, groups, 2), RIGHT_READ);
	/* The strongest group counts. */
	groups[0] = view;
	groups[1] = op;
	assert_int_equal(control_peer_right(&cfg, 1000, 1000, groups, 2), RIGHT_OPERATE);
	assert_int_equal(control_peer_right(&cfg, 1000, view, groups + 1, 1), RIGHT_OPERATE);
	/* A supplementary group past the count given is not looked at. */
	groups[0] = other;
	groups[1] = adm;
	assert_int_equal(control_peer_right(&cfg, 1000, 1000, groups, 1), RIGHT_NONE);

	/* nobody, and anyone in none of the groups. */
	assert_int_equal(control_peer_right(&cfg, NOBODY, NOBODY, NULL, 0), RIGHT_NONE);
	groups[0] = other;
	assert_int_equal(control_peer_right(&cfg, 1000, 1000, groups, 1), RIGHT_NONE);
	/* gid 0 is not uid 0. */
	assert_int_equal(control_peer_right(&cfg, 1000, 0, NULL, 0), RIGHT_NONE);
	/* No groups configured, or groups the host does not have: nothing. */
	assert_int_equal(control_peer_right(&none, 1000, adm, groups, 1), RIGHT_NONE);
	struct ward_config missing = {.admin_group = "ward-no-such-admins",
				      .operator_group = "ward-no-such-operators",
				      .viewer_group = ""};
	assert_int_equal(control_peer_right(&missing, 1000, adm, NULL, 0), RIGHT_NONE);
}

/* ======================================================================
 * The server, end to end, with a fake supervisor
 * ====================================================================== */

struct supervisor {
	char last[64]; /* "stop acme/web" */
	int calls;
	supervisor_output_fn hook;
	void *hook_ud;
	char log_path[512];
	struct loop *loop;
};

static int known(const char *tenant, struct ward_err *err)
{
	if (tenant && strcmp(tenant, "acme") != 0)
		return ward_err_set(err, 0, "no tenant \"%s\"", tenant);
	return 0;
}

static int record(struct supervisor *s, const char *what, const char *tenant, const char *service,
		  struct ward_err *err)
{
	s->calls++;
	snprintf(s->last, sizeof(s->last), "%s %s/%s", what, tenant ? tenant : "-",
		 service ? service : "-");
	return known(tenant, err);
}

int supervisor_start(struct supervisor *s, const char *t, const char *v, struct ward_err *e)
{
	return record(s, "start", t, v, e);
}

int supervisor_stop(struct supervisor *s, const char *t, const char *v, struct ward_err *e)
{
	return record(s, "stop", t, v, e);
}

int supervisor_restart(struct supervisor *s, const char *t, const char *v, struct ward_err *e)
{
	return record(s, "restart", t, v, e);
}

int supervisor_reset(struct supervisor *s, const char *t, const char *v, struct ward_err *e)
{
	return record(s, "reset", t, v, e);
}

json_t *supervisor_status(struct supervisor *s, const char *tenant, struct ward_err *err)
{
	if (record(s, "status", tenant, NULL, err) < 0)
		return NULL;
	return json_pack("[{s:s, s:s, s:s, s:i, s:i, s:i, s:s}]", "tenant", "acme", "service",
			 "web", "state", "running", "pid", 4242, "uptime_s", 61, "restarts", 2,
			 "last_exit", "exited 3");
}

json_t *supervisor_reload(struct supervisor *s)
{
	s->calls++;
	snprintf(s->last, sizeof(s->last), "reload");
	return json_pack("{s:[s], s:[], s:[s], s:[]}", "added", "newco", "removed", "changed",
			 "acme/web", "rejected");
}

json_t *supervisor_net(struct supervisor *s, const char *tenant, struct ward_err *err)
{
	if (record(s, "net", tenant, NULL, err) < 0)
		return NULL;
	return json_pack("{s:s, s:s}", "tenant", tenant, "subnet", "10.240.3.0/24");
}

int supervisor_log_path(struct supervisor *s, const char *tenant, const char *service, char *buf,
			size_t len, struct ward_err *err)
{
	if (record(s, "logs", tenant, service, err) < 0)
		return -1;
	snprintf(buf, len, "%s", s->log_path);
	return 0;
}

void supervisor_set_output_hook(struct supervisor *s, supervisor_output_fn fn, void *ud)
{
	s->hook = fn;
	s->hook_ud = ud;
}

/* A fake onboarding: "acme" and "broken" exist; an offboarding ends
 * delay_ms later (broken's with an error). */
struct onboarding {
	struct loop *loop;
	int calls;
	char last[256];
	uint64_t delay_ms;
	offboard_done_fn done;
	void *ud;
	char name[32];
	int finished;
};

json_t *onboard_tenant(struct onboarding *ob, const char *name, const char *tmpl,
		       const char *display_name, const char *by, struct ward_err *err)
{
	ob->calls++;
	snprintf(ob->last, sizeof(ob->last), "onboard %s %s %s by %s", name, tmpl,
		 display_name ? display_name : "-", by);
	if (strcmp(name, "acme") == 0)
		return ward_err_set(err, 0, "tenant \"acme\" already exists"), NULL;
	return json_pack("{s:s, s:i, s:i, s:s}", "tenant", name, "uid", 1000000, "count", 65536,
			 "subnet", "10.240.0.0/24");
}

static void fake_offboard_end(struct loop *l, void *ud)
{
	struct onboarding *ob = ud;
	offboard_done_fn done = ob->done;

	ob->done = NULL;
	ob->finished++;
	if (strcmp(ob->name, "broken") == 0) {
		done(NULL, "archiving failed: tar exited with status 2; nothing was removed",
		     ob->ud);
	} else {
		json_t *r = json_pack("{s:s, s:b}", "tenant", ob->name, "purged", true);

		done(r, NULL, ob->ud);
		json_decref(r);
	}
}

int offboard_tenant(struct onboarding *ob, const char *name, const char *archive, bool purge,
		    const char *by, offboard_done_fn done, void *ud, struct ward_err *err)
{
	ob->calls++;
	snprintf(ob->last, sizeof(ob->last), "offboard %s %s %s by %s", name,
		 archive ? archive : "-", purge ? "purge" : "-", by);
	if (strcmp(name, "acme") != 0 && strcmp(name, "broken") != 0)
		return ward_err_set(err, 0, "no tenant \"%s\"", name);
	if (ob->done)
		return ward_err_set(err, 0, "busy");
	ob->done = done;
	ob->ud = ud;
	snprintf(ob->name, sizeof(ob->name), "%s", name);
	loop_timer_add(ob->loop, ob->delay_ms, fake_offboard_end, ob);
	return 0;
}

/* A fake session server with one session, "s-1" of acme. */
struct session_server {
	int kicked;
	char last[128];
};

json_t *session_list(struct session_server *ss, const char *tenant, struct ward_err *err)
{
	if (tenant && strcmp(tenant, "acme") != 0)
		return json_array();
	return json_pack("[{s:s, s:s, s:s, s:i}]", "id", "s-1", "tenant", "acme", "user", "alice",
			 "pid", 4343);
}

int session_kick(struct session_server *ss, const char *id, const char *by, struct ward_err *err)
{
	snprintf(ss->last, sizeof(ss->last), "kick %s by %s", id, by);
	if (strcmp(id, "s-1") != 0)
		return ward_err_set(err, 0, "no session \"%s\"", id);
	ss->kicked++;
	return 0;
}

struct fixture {
	char dir[64];
	char sock[sizeof(((struct sockaddr_un *)NULL)->sun_path)];
	char audit_path[128];
	struct ward_config cfg;
	struct loop *loop;
	struct audit *audit;
	struct supervisor sup;
	struct onboarding ob;
	struct session_server ss;
	struct userdb *udb;
	struct control *ctl;
	pid_t child;
	bool timed_out;
	uint64_t deadline;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct ward_err err = {0};
	FILE *log;

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/ward-control-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->sock, sizeof(f->sock), "%s/control.sock", f->dir);
	snprintf(f->audit_path, sizeof(f->audit_path), "%s/audit.jsonl", f->dir);
	snprintf(f->sup.log_path, sizeof(f->sup.log_path), "%s/web.log", f->dir);
	log = fopen(f->sup.log_path, "w");
	assert_non_null(log);
	fputs("one\ntwo\nthree\n", log);
	fclose(log);
	f->cfg.state_dir = f->dir;
	f->cfg.viewer_group = "daemon";
	f->cfg.operator_group = "bin";
	f->loop = loop_new();
	assert_non_null(f->loop);
	f->sup.loop = f->loop;
	f->audit = audit_open(f->audit_path, false, &err);
	if (!f->audit)
		fail_msg("audit_open: %s", err.msg);
	f->udb = userdb_new(f->loop, 0, NULL);
	assert_non_null(f->udb);
	f->ctl = control_new(&f->cfg, f->loop, &f->sup, f->audit, f->udb, &err);
	if (!f->ctl)
		fail_msg("control_new: %s", err.msg);
	f->ob.loop = f->loop;
	f->ob.delay_ms = 300;
	control_set_onboarding(f->ctl, &f->ob);
	control_set_sessions(f->ctl, &f->ss);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	control_free(f->ctl);
	userdb_free(f->udb);
	assert_null(f->sup.hook);
	assert_int_equal(loop_count_fds(f->loop), 0);
	assert_int_equal(loop_count_timers(f->loop), 0);
	assert_int_equal(access(f->sock, F_OK), -1);
	audit_close(f->audit);
	loop_free(f->loop);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

/* ---- the children: plain blocking clients, 0 if every check held ---- */

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "child: %s:%d: check failed: %s\n", __FILE__, __LINE__,    \
				#cond);                                                            \
			return -1;                                                                 \
		}                                                                                  \
	} while (0)

struct cli {
	int fd;
	char buf[1 << 16];
	size_t len;
};

static int cli_connect(struct cli *c, const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	c->len = 0;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -1;
	return 0;
}

static int cli_send(struct cli *c, const char *s, size_t len)
{
	while (len) {
		ssize_t n = send(c->fd, s, len, MSG_NOSIGNAL);

		if (n <= 0)
			return -1;
		s += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The next line (without newline) into out; -1 on EOF, error or after 5 s. */
static int cli_line(struct cli *c, char *out, size_t size)
{
	for (;;) {
		char *nl = memchr(c->buf, '\n', c->len);
		struct pollfd p = {.fd = c->fd, .events = POLLIN};
		ssize_t n;

		if (nl) {
			size_t l = (size_t)(nl - c->buf);

			if (l >= size)
				return -1;
			memcpy(out, c->buf, l);
			out[l] = '\0';
			memmove(c->buf, nl + 1, c->len - l - 1);
			c->len -= l + 1;
			return 0;
		}
		if (c->len == sizeof(c->buf) || poll(&p, 1, 5000) != 1)
			return -1;
		n = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
		if (n <= 0)
			return -1;
		c->len += (size_t)n;
	}
}

/* Sends a request line and returns the reply, parsed. */
static json_t *cli_ask(struct cli *c, const char *req)
{
	static char line[1 << 16];

	if (cli_send(c, req, strlen(req)) < 0 || cli_send(c, "\n", 1) < 0 ||
	    cli_line(c, line, sizeof(line)) < 0)
		return NULL;
	return json_loads(line, 0, NULL);
}

/* 1 if the server closed the connection within ms. */
static int cli_closed_within(struct cli *c, int ms)
{
	struct pollfd p = {.fd = c->fd, .events = POLLIN};
	char b[4096];

	for (;;) {
		if (poll(&p, 1, ms) != 1)
			return 0;
		ssize_t n = read(c->fd, b, sizeof(b));
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return 1;
		if (n < 0)
			return 0;
	}
}

static bool reply_ok(json_t *r)
{
	return json_is_true(json_object_get(r, "ok"));
}

static const char *reply_error(json_t *r)
{
	const char *s = json_string_value(json_object_get(r, "error"));

	return s ? s : "";
}

/* ---- the parent: runs the loop until the child exits ---- */

typedef int (*child_fn)(struct fixture *f);

static void on_child_exit(struct loop *l, int fd, uint32_t events, void *ud)
{
	loop_quit(l);
}

static void on_timeout(struct loop *l, void *ud)
{
	struct fixture *f = ud;

	f->timed_out = true;
	if (f->child > 0)
		kill(f->child, SIGKILL);
	loop_quit(l);
}

static void on_poll_clients(struct loop *l, void *ud)
{
	struct fixture *f = ud;

	if (control_count_clients(f->ctl) == 0 || loop_now_ms() > f->deadline)
		loop_quit(l);
	else
		loop_timer_add(l, 5, on_poll_clients, f);
}

/* Runs the loop until the server has seen every client go (at most 2 s):
 * a closed peer is noticed on the next turn. */
static void drain_clients(struct fixture *f)
{
	f->deadline = loop_now_ms() + 2000;
	loop_timer_add(f->loop, 0, on_poll_clients, f);
	loop_run(f->loop);
	assert_int_equal(control_count_clients(f->ctl), 0);
	/* Every client's idle timer went with it. */
	assert_int_equal(loop_count_timers(f->loop), 0);
	/* The socket, and the user lookups' helper once it runs. */
	assert_int_equal(loop_count_fds(f->loop), 1 + (userdb_helper_pid(f->udb) > 0));
}

/* Forks a client running fn (as uid/gid with groups when uid is not 0) and
 * serves it until it exits; asserts that every check in it held. */
static void run_child_as(struct fixture *f, child_fn fn, uid_t uid, gid_t gid, const gid_t *groups,
			 size_t n_groups)
{
	struct loop_timer *t;
	int pidfd, st;

	f->timed_out = false;
	f->child = fork();
	assert_true(f->child >= 0);
	if (f->child == 0) {
		if (uid != 0 &&
		    (setgroups(n_groups, groups) < 0 || setgid(gid) < 0 || setuid(uid) < 0)) {
			perror("child: drop privileges");
			_exit(3);
		}
		_exit(fn(f) == 0 ? 0 : 1);
	}
	pidfd = (int)syscall(SYS_pidfd_open, f->child, 0);
	assert_true(pidfd >= 0);
	assert_int_equal(loop_add_fd(f->loop, pidfd, EPOLLIN, on_child_exit, f), 0);
	t = loop_timer_add(f->loop, 10000, on_timeout, f);
	loop_run(f->loop);
	loop_del_fd(f->loop, pidfd);
	close(pidfd);
	if (!f->timed_out)
		loop_timer_cancel(f->loop, t);
	assert_int_equal(waitpid(f->child, &st, 0), f->child);
	assert_false(f->timed_out);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	drain_clients(f);
}

static void run_child(struct fixture *f, child_fn fn)
{
	run_child_as(f, fn, 0, 0, NULL, 0);
}

static void need_root(void)
{
	if (geteuid() != 0) {
		print_message("needs root (peers with other uids)\n");
		skip();
	}
}

/* Every "control" record of the audit log. */
static json_t *audit_records(struct fixture *f)
{
	json_t *all = json_array();
	char line[8192];
	FILE *in = fopen(f->audit_path, "re");

	assert_non_null(in);
	while (fgets(line, sizeof(line), in)) {
		json_t *o = json_loads(line, 0, NULL);

		assert_non_null(o);
		assert_non_null(json_object_get(o, "time"));
		if (json_is_string(json_object_get(o, "event")) &&
		    strcmp(json_string_value(json_object_get(o, "event")), "control") == 0)
			json_array_append_new(all, o);
		else
			json_decref(o);
	}
	fclose(in);
	return all;
}

static const char *str_or_null(json_t *v)
{
	return json_is_null(v) ? "(null)" : json_string_value(v);
}

/* Asserts record i: cmd, tenant, service, verdict, result ("(null)" for null). */
static void assert_record(json_t *recs, size_t i, const char *cmd, const char *tenant,
			  const char *service, const char *verdict, const char *result)
{
	json_t *r = json_array_get(recs, i);

	if (!r)
		fail_msg("no audit record %zu (%zu records)", i, json_array_size(recs));
	assert_string_equal(str_or_null(json_object_get(r, "cmd")), cmd);
	assert_string_equal(str_or_null(json_object_get(r, "tenant")), tenant);
	assert_string_equal(str_or_null(json_object_get(r, "service")), service);
	assert_string_equal(json_string_value(json_object_get(r, "verdict")), verdict);
	assert_string_equal(json_string_value(json_object_get(r, "result")), result);
	assert_int_equal(json_object_size(r),
			 8); /* time event peer cmd tenant service verdict result */
}

static void assert_peer(json_t *recs, size_t i, uid_t uid, gid_t gid, const char *user)
{
	json_t *p = json_object_get(json_array_get(recs, i), "peer");

	assert_true(json_integer_value(json_object_get(p, "pid")) > 0);
	assert_int_equal(json_integer_value(json_object_get(p, "uid")), uid);
	assert_int_equal(json_integer_value(json_object_get(p, "gid")), gid);
	assert_string_equal(json_string_value(json_object_get(p, "user")), user);
	assert_int_equal(json_object_size(p), 4);
}

/* ---- the socket itself ---- */

static void test_socket_file(void **state)
{
	struct fixture *f = *state;
	struct stat st;

	assert_int_equal(lstat(f->sock, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0660);
	assert_int_equal(st.st_gid, getegid()); /* no socket_group set */
	assert_int_equal(loop_count_fds(f->loop), 1);
}

static void test_socket_group_and_stale(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};
	struct ward_config cfg = f->cfg;
	struct control *c2;
	struct stat st;
	int fd;

	need_root();
	control_free(f->ctl);
	f->ctl = NULL;
	/* A stale socket (the one just freed is gone: make one) is replaced. */
	{
		struct sockaddr_un sa = {.sun_family = AF_UNIX};

		memcpy(sa.sun_path, f->sock, sizeof(sa.sun_path));
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		close(fd);
	}
	cfg.socket_group = "daemon";
	f->ctl = control_new(&cfg, f->loop, &f->sup, f->audit, f->udb, &err);
	if (!f->ctl)
		fail_msg("control_new: %s", err.msg);
	assert_int_equal(lstat(f->sock, &st), 0);
	assert_int_equal(st.st_gid, host_gid("daemon"));
	assert_int_equal(st.st_mode & 07777, 0660);

	/* A second server on the same path would take it over: wardd.lock
	 * prevents that; here, the first one is freed first. A path that is
	 * not a socket is never replaced. */
	control_free(f->ctl);
	f->ctl = NULL;
	fd = open(f->sock, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
	c2 = control_new(&f->cfg, f->loop, &f->sup, f->audit, f->udb, &err);
	assert_null(c2);
	assert_non_null(strstr(err.msg, "not a socket"));
	assert_int_equal(lstat(f->sock, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	unlink(f->sock);

	/* A group the host does not have: root's group, and a warning. */
	cfg.socket_group = "ward-no-such-group";
	f->ctl = control_new(&cfg, f->loop, &f->sup, f->audit, f->udb, &err);
	assert_non_null(f->ctl);
	assert_int_equal(lstat(f->sock, &st), 0);
	assert_int_equal(st.st_gid, getegid());
	assert_int_equal(st.st_mode & 07777, 0660);
}

/* ---- requests ---- */

static int child_status_and_actions(struct fixture *f)
{
	struct cli c;
	json_t *r, *svc;

	CHECK(cli_connect(&c, f->sock) == 0);
	r = cli_ask(&c, "{\"cmd\":\"status\"}");
	CHECK(r && reply_ok(r));
	svc = json_array_get(json_object_get(r, "services"), 0);
	CHECK(json_integer_value(json_object_get(svc, "pid")) == 4242);
	CHECK(strcmp(json_string_value(json_object_get(svc, "state")), "running") == 0);
	json_decref(r);

	r = cli_ask(&c, "{\"cmd\":\"stop\",\"tenant\":\"acme\",\"service\":\"web\"}");
	CHECK(r && reply_ok(r) && json_object_size(r) == 1);
	json_decref(r);
	r = cli_ask(&c, "{\"cmd\":\"restart\",\"tenant\":\"acme\"}");
	CHECK(r && reply_ok(r));
	json_decref(r);
	r = cli_ask(&c, "{\"cmd\":\"start\",\"tenant\":\"nope\"}");
	CHECK(r && !reply_ok(r) && strcmp(reply_error(r), "no tenant \"nope\"") == 0);
	json_decref(r);
	r = cli_ask(&c, "{\"cmd\":\"reload\"}");
	CHECK(r && reply_ok(r));
	CHECK(strcmp(json_string_value(
			 json_array_get(json_object_get(json_object_get(r, "report"), "added"), 0)),
		     "newco") == 0);
	json_decref(r);
	r = cli_ask(&c, "{\"cmd\":\"status\",\"tenant\":\"nope\"}");
	CHECK(r && !reply_ok(r) && strcmp(reply_error(r), "no tenant \"nope\"") == 0);
	json_decref(r);
	close(c.fd);
	return 0;
}

static int child_status_timed(struct fixture *f)
{
	struct cli c;
	json_t *r;
	uint64_t t0 = loop_now_ms();

	CHECK(cli_connect(&c, f->sock) == 0);
	r = cli_ask(&c, "{\"cmd\":\"status\"}");
	CHECK(r && reply_ok(r));
	json_decref(r);
	/* Held until the lookup's deadline (300 ms), then served. */
	CHECK(loop_now_ms() - t0 >= 290);
	close(c.fd);
	return 0;
}

/* The name service hangs: the request waits for the lookup's deadline and
 * is served with the uid's number for a name, and the loop keeps turning
 * meanwhile (it never waits on the name service itself). */
static void test_hung_name_service_never_stalls_the_loop(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};
	struct tick t = {.start = loop_now_ms()};
	json_t *recs;

	control_free(f->ctl);
	userdb_free(f->udb);
	f->udb = userdb_new(f->loop, 300, hung_resolve);
	assert_non_null(f->udb);
	f->ctl = control_new(&f->cfg, f->loop, &f->sup, f->audit, f->udb, &err);
	assert_non_null(f->ctl);
	control_set_onboarding(f->ctl, &f->ob);
	control_set_sessions(f->ctl, &f->ss);
	assert_non_null(loop_timer_add(f->loop, 100, on_tick_once, &t));
	run_child(f, child_status_timed);
	assert_true(t.fired >= 100);
	assert_true(t.fired < 250); /* not after the lookup gave up */
	recs = audit_records(f);
	assert_int_equal(json_array_size(recs), 1);
	assert_record(recs, 0, "status", "(null)", "(null)", "allowed", "ok");
	assert_peer(recs, 0, 0, 0, "0");
	json_decref(recs);
}

static int child_viewer(struct fixture *f);

/* The group database hangs while a viewer connects: its rights come from
 * the gids looked up when the socket was made, and the loop keeps turning
 * (a group lookup per connection on the loop would stall it). */
static void test_hung_group_lookup_never_stalls_the_loop(void **state)
{
	struct fixture *f = *state;
	gid_t viewer = host_gid("daemon"), sock = host_gid("tty");
	struct ward_err err = {0};
	uint64_t start;

	need_root();
	control_free(f->ctl);
	f->cfg.socket_group = "tty";
	f->ctl = control_new(&f->cfg, f->loop, &f->sup, f->audit, f->udb, &err);
	if (!f->ctl)
		fail_msg("control_new: %s", err.msg);
	assert_int_equal(chmod(f->dir, 0755), 0);
	hang_group_ms = 3000;
	start = loop_now_ms();
	run_child_as(f, child_viewer, NOBODY, NOBODY, (gid_t[]){sock, viewer}, 2);
	hang_group_ms = 0;
	/* Served (as a viewer) long before one lookup's sleep would end: the
	 * loop never waited on the group database. */
	assert_true(loop_now_ms() - start < 2500);
}

static void test_requests(void **state)
{
	struct fixture *f = *state;
	json_t *recs;

	run_child(f, child_status_and_actions);
	assert_int_equal(f->sup.calls, 6);
	assert_string_equal(f->sup.last, "status nope/-");
	recs = audit_records(f);
	assert_int_equal(json_array_size(recs), 6);
	assert_record(recs, 0, "status", "(null)", "(null)", "allowed", "ok");
	assert_peer(recs, 0, 0, 0, "root");
	assert_record(recs, 1, "stop", "acme", "web", "allowed", "ok");
	assert_record(recs, 2, "restart", "acme", "(null)", "allowed", "ok");
	assert_record(recs, 3, "start", "nope", "(null)", "allowed", "no tenant \"nope\"");
	assert_record(recs, 4, "reload", "(null)", "(null)", "allowed", "ok");
	assert_record(recs, 5, "status", "nope", "(null)", "allowed", "no tenant \"nope\"");
	json_decref(recs);
}

static int child_malformed(struct fixture *f)
{
	struct cli c;
	json_t *r;

	CHECK(cli_connect(&c, f->sock) == 0);
	r = cli_ask(&c, "garbage");
	CHECK(r && !reply_ok(r));
	CHECK(strncmp(reply_error(r), "malformed request: invalid JSON", 31) == 0);
	json_decref(r);
	/* The connection stays. */
	r = cli_ask(&c, "{\"cmd\":\"stop\",\"tenant\":\"../etc\"}");
	CHECK(r && strcmp(reply_error(r), "malformed request: tenant: invalid name \"../etc\": "
					  "must match [a-z][a-z0-9-]{0,23}") == 0);
	json_decref(r);
	r = cli_ask(&c, "{\"cmd\":\"fly\"}");
	CHECK(r && strcmp(reply_error(r), "malformed request: unknown command \"fly\"") == 0);
	json_decref(r);
	r = cli_ask(&c, "{\"cmd\":\"status\"}");
	CHECK(r && reply_ok(r));
	json_decref(r);
	close(c.fd);
	return 0;
}

static void test_malformed(void **state)
{
	struct fixture *f = *state;
	json_t *recs;

	run_child(f, child_malformed);
	assert_int_equal(f->sup.calls, 1); /* only the good one got through */
	recs = audit_records(f);
	assert_int_equal(json_array_size(recs), 4);
	assert_record(recs, 0, "(null)", "(null)", "(null)", "refused",
		      "malformed request: invalid JSON at byte 7: invalid token near 'garbage'");
	assert_record(recs, 1, "stop", "../etc", "(null)", "refused",
		      "malformed request: tenant: invalid name \"../etc\": must match "
		      "[a-z][a-z0-9-]{0,23}");
	assert_record(recs, 2, "fly", "(null)", "(null)", "refused",
		      "malformed request: unknown command \"fly\"");
	assert_record(recs, 3, "status", "(null)", "(null)", "allowed", "ok");
	json_decref(recs);
}

static int child_viewer(struct fixture *f)
{
	struct cli c;
	json_t *r;

	CHECK(cli_connect(&c, f->sock) == 0);
	r = cli_ask(&c, "{\"cmd\":\"status\"}");
	CHECK(r && reply_ok(r));
	json_decref(r);
	r = cli_ask(&c, "{\"cmd\":\"logs\",\"tenant\":\"acme\",\"service\":\"web\"}");
	CHECK(r && reply_ok(r));
	json_decref(r);
	r = cli_ask(&c, "{\"cmd\":\"stop\",\"tenant\":\"acme\",\"service\":\"web\"}");
	CHECK(r && !reply_ok(r) && strcmp(reply_error(r), "permission denied") == 0);
	json_decref(r);
	r = cli_ask(&c, "{\"cmd\":\"reload\"}");
	CHECK(r && strcmp(reply_error(r), "permission denied") == 0);
	json_decref(r);
	close(c.fd);
	return 0;
}

static int child_operator(struct fixture *f)
{
	struct cli c;
	json_t *r;

	CHECK(cli_connect(&c, f->sock) == 0);
	r = cli_ask(&c, "{\"cmd\":\"stop\",\"tenant\":\"acme\",\"service\":\"web\"}");
	CHECK(r && reply_ok(r));
	json_decref(r);
	close(c.fd);
	return 0;
}

static int child_stranger(struct fixture *f)
{
	struct cli c;
	json_t *r;

	CHECK(cli_connect(&c, f->sock) == 0);
	r = cli_ask(&c, "{\"cmd\":\"status\"}");
	CHECK(r && strcmp(reply_error(r), "permission denied") == 0);
	json_decref(r);
	close(c.fd);
	return 0;
}

static int child_no_access(struct fixture *f)
{
	struct cli c;

	/* Not in the socket's group: the kernel refuses before wardd sees it. */
	CHECK(cli_connect(&c, f->sock) == -1 && errno == EACCES);
	return 0;
}

static void test_authorization(void **state)
{
	struct fixture *f = *state;
	gid_t viewer = host_gid("daemon"), operator= host_gid("bin"), sock = host_gid("tty");
	const char *nobody = getpwuid(NOBODY) ? getpwuid(NOBODY)->pw_name : "65534";
	struct ward_err err = {0};
	json_t *recs;

	need_root();
	/* Everyone here may open the socket (group tty): the rights decide. */
	control_free(f->ctl);
	f->cfg.socket_group = "tty";
	f->ctl = control_new(&f->cfg, f->loop, &f->sup, f->audit, f->udb, &err);
	if (!f->ctl)
		fail_msg("control_new: %s", err.msg);
	assert_int_equal(chmod(f->dir, 0755), 0);
	/* Viewer through a supplementary group, operator through the primary. */
	run_child_as(f, child_viewer, NOBODY, NOBODY, (gid_t[]){sock, viewer}, 2);
	run_child_as(f, child_operator, NOBODY, operator, & sock, 1);
	run_child_as(f, child_stranger, NOBODY, NOBODY, &sock, 1);
	run_child_as(f, child_no_access, NOBODY, NOBODY, &viewer, 1);
	/* More supplementary groups than SO_PEERGROUPS's first buffer holds:
	 * the viewer group, last, still counts. */
	{
		gid_t many[200];

		for (int i = 0; i < 198; i++)
			many[i] = (gid_t)(7000000 + i);
		many[198] = sock;
		many[199] = viewer;
		run_child_as(f, child_viewer, NOBODY, NOBODY, many, 200);
	}
	assert_int_equal(f->sup.calls, 5); /* status, logs, the operator's stop; status, logs */
	assert_string_equal(f->sup.last, "logs acme/web");
	recs = audit_records(f);
	assert_int_equal(json_array_size(recs), 10);
	assert_record(recs, 6, "status", "(null)", "(null)", "allowed", "ok");
	assert_record(recs, 8, "stop", "acme", "web", "refused", "permission denied");
	assert_record(recs, 0, "status", "(null)", "(null)", "allowed", "ok");
	assert_peer(recs, 0, NOBODY, NOBODY, nobody);
	assert_record(recs, 1, "logs", "acme", "web", "allowed", "ok");
	/* Refused requests are recorded exactly like allowed ones. */
	assert_record(recs, 2, "stop", "acme", "web", "refused", "permission denied");
	assert_peer(recs, 2, NOBODY, NOBODY, nobody);
	assert_record(recs, 3, "reload", "(null)", "(null)", "refused", "permission denied");
	assert_record(recs, 4, "stop", "acme", "web", "allowed", "ok");
	assert_peer(recs, 4, NOBODY, operator, nobody);
	assert_record(recs, 5, "status", "(null)", "(null)", "refused", "permission denied");
	json_decref(recs);
}

static int child_too_long(struct fixture *f)
{
	static char big[70000]; /* static: a failed CHECK returns early */
	struct cli c;
	char line[256];
	json_t *r;

	memset(big, 'x', sizeof(big));
	CHECK(cli_connect(&c, f->sock) == 0);
	/* The server may close while this is still being sent. */
	send(c.fd, big, sizeof(big), MSG_NOSIGNAL);
	CHECK(cli_line(&c, line, sizeof(line)) == 0);
	r = json_loads(line, 0, NULL);
	CHECK(r && strcmp(reply_error(r), "malformed request: request longer than 65536 bytes "
					  "(newline included)") == 0);
	json_decref(r);
	CHECK(cli_closed_within(&c, 2000));
	close(c.fd);

	/* Exactly 64 KiB with the newline is fine. */
	memset(big, ' ', CONTROL_MAX_REQUEST);
	memcpy(big, "{\"cmd\":\"status\"}", 16);
	big[CONTROL_MAX_REQUEST - 1] = '\n';
	CHECK(cli_connect(&c, f->sock) == 0);
	CHECK(cli_send(&c, big, CONTROL_MAX_REQUEST) == 0);
	CHECK(cli_line(&c, line, sizeof(line)) == 0);
	r = json_loads(line, 0, NULL);
	CHECK(r && reply_ok(r));
	json_decref(r);
	close(c.fd);
	return 0;
}

static void test_too_long(void **state)
{
	struct fixture *f = *state;
	json_t *recs;

	run_child(f, child_too_long);
	recs = audit_records(f);
	assert_int_equal(json_array_size(recs), 2);
	assert_record(recs, 0, "(null)", "(null)", "(null)", "refused",
		      "malformed request: request longer than 65536 bytes (newline included)");
	assert_record(recs, 1, "status", "(null)", "(null)", "allowed", "ok");
	json_decref(recs);
}

static int child_half_close(struct fixture *f)
{
	struct cli c;
	char line[4096];

	/* The last request without its newline, then EOF: still answered. */
	CHECK(cli_connect(&c, f->sock) == 0);
	static const char two[] = "{\"cmd\":\"reload\"}\n{\"cmd\":\"status\"}";
	CHECK(cli_send(&c, two, sizeof(two) - 1) == 0);
	CHECK(shutdown(c.fd, SHUT_WR) == 0);
	CHECK(cli_line(&c, line, sizeof(line)) == 0);
	CHECK(strstr(line, "\"report\""));
	CHECK(cli_line(&c, line, sizeof(line)) == 0);
	CHECK(strstr(line, "\"services\""));
	CHECK(cli_closed_within(&c, 2000));
	close(c.fd);
	return 0;
}

static void test_half_close(void **state)
{
	struct fixture *f = *state;

	run_child(f, child_half_close);
	assert_int_equal(f->sup.calls, 2);
}

static int child_idle(struct fixture *f)
{
	struct cli c;
	json_t *r;

	/* Silent: closed after the idle limit (200 ms here). */
	CHECK(cli_connect(&c, f->sock) == 0);
	CHECK(cli_closed_within(&c, 3000));
	close(c.fd);
	/* A request resets the clock; a partial line does not count. */
	CHECK(cli_connect(&c, f->sock) == 0);
	usleep(120 * 1000);
	r = cli_ask(&c, "{\"cmd\":\"status\"}");
	CHECK(r && reply_ok(r));
	json_decref(r);
	usleep(120 * 1000);
	CHECK(cli_send(&c, "{\"cmd\":", 7) == 0);
	r = cli_ask(&c, "\"status\"}");
	CHECK(r && reply_ok(r));
	json_decref(r);
	CHECK(cli_send(&c, "{\"cmd\":", 7) == 0);
	CHECK(cli_closed_within(&c, 3000));
	close(c.fd);
	return 0;
}

static void test_idle(void **state)
{
	struct fixture *f = *state;

	control_set_idle_timeout(f->ctl, 200);
	run_child(f, child_idle);
	assert_int_equal(f->sup.calls, 2);
}

/* ---- logs and followers ---- */

static void push_output(struct loop *l, void *ud)
{
	struct fixture *f = ud;

	f->sup.hook("acme", "db", "not for you\n", 12, f->sup.hook_ud);
	f->sup.hook("other", "web", "nor for you\n", 12, f->sup.hook_ud);
	f->sup.hook("acme", "web", "caf\xc3\xa9 \xff\xfe\n", 9, f->sup.hook_ud);
	f->sup.hook("acme", "web", "a\0b\n", 4, f->sup.hook_ud);
}

static int child_logs(struct fixture *f)
{
	struct cli c;
	char line[4096];
	json_t *r;

	CHECK(cli_connect(&c, f->sock) == 0);
	r = cli_ask(&c, "{\"cmd\":\"logs\",\"tenant\":\"acme\",\"service\":\"web\",\"lines\":2}");
	CHECK(r && reply_ok(r));
	CHECK(strcmp(json_string_value(json_object_get(r, "data")), "two\nthree\n") == 0);
	json_decref(r);
	r = cli_ask(&c, "{\"cmd\":\"logs\",\"tenant\":\"acme\",\"service\":\"nope\"}");
	CHECK(r && reply_ok(r)); /* the fake knows every service of acme */
	json_decref(r);
	r = cli_ask(&c, "{\"cmd\":\"logs\",\"tenant\":\"nope\",\"service\":\"web\"}");
	CHECK(r && strcmp(reply_error(r), "no tenant \"nope\"") == 0);
	json_decref(r);
	close(c.fd);

	/* Following: history, then what the service writes, longer than the
	 * idle limit (200 ms here). */
	CHECK(cli_connect(&c, f->sock) == 0);
	r = cli_ask(&c,
		    "{\"cmd\":\"logs\",\"tenant\":\"acme\",\"service\":\"web\",\"follow\":true}");
	CHECK(r && reply_ok(r));
	CHECK(strcmp(json_string_value(json_object_get(r, "data")), "one\ntwo\nthree\n") == 0);
	json_decref(r);
	CHECK(cli_line(&c, line, sizeof(line)) == 0);
	r = json_loads(line, 0, NULL);
	/* Invalid UTF-8 replaced, the rest as written. */
	CHECK(r && json_object_size(r) == 1);
	CHECK(strcmp(json_string_value(json_object_get(r, "data")),
		     "caf\xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd\n") == 0);
	json_decref(r);
	CHECK(cli_line(&c, line, sizeof(line)) == 0);
	CHECK(strcmp(line, "{\"data\":\"a\\u0000b\\n\"}") == 0);
	close(c.fd);
	return 0;
}

static void test_logs_follow(void **state)
{
	struct fixture *f = *state;
	json_t *recs;

	control_set_idle_timeout(f->ctl, 200);
	/* Long enough after the follow request for the idle limit to pass. */
	loop_timer_add(f->loop, 600, push_output, f);
	run_child(f, child_logs);
	recs = audit_records(f);
	assert_int_equal(json_array_size(recs), 4);
	assert_record(recs, 0, "logs", "acme", "web", "allowed", "ok");
	assert_record(recs, 2, "logs", "nope", "web", "allowed", "no tenant \"nope\"");
	assert_record(recs, 3, "logs", "acme", "web", "allowed", "ok");
	json_decref(recs);
}

/* A follower that does not read is dropped once 4 MiB wait for it; the
 * others are not disturbed. Everything in this process: the client socket
 * is simply never read. */
static void on_reply(struct loop *l, int fd, uint32_t events, void *ud)
{
	loop_quit(l);
}

static void test_slow_follower(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	static const char req[] =
	    "{\"cmd\":\"logs\",\"tenant\":\"acme\",\"service\":\"web\",\"follow\":true}\n";
	char *chunk = malloc(1 << 20);
	int fd;

	assert_non_null(chunk);
	memset(chunk, 'x', 1 << 20);
	memcpy(sa.sun_path, f->sock, sizeof(sa.sun_path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(send(fd, req, sizeof(req) - 1, 0), (ssize_t)sizeof(req) - 1);
	/* Serve until the reply is there: the client is following then. */
	assert_int_equal(loop_add_fd(f->loop, fd, EPOLLIN, on_reply, f), 0);
	loop_run(f->loop);
	loop_del_fd(f->loop, fd);
	assert_int_equal(control_count_clients(f->ctl), 1);
	/* Up to 4 MiB may wait: 3 chunks and whatever the socket took. */
	for (int i = 0; i < 4; i++)
		f->sup.hook("acme", "web", chunk, 1 << 20, f->sup.hook_ud);
	assert_int_equal(control_count_clients(f->ctl), 1);
	for (int i = 0; i < 16 && control_count_clients(f->ctl); i++)
		f->sup.hook("acme", "web", chunk, 1 << 20, f->sup.hook_ud);
	assert_int_equal(control_count_clients(f->ctl), 0);
	assert_int_equal(loop_count_fds(f->loop), 2); /* the socket, the lookups' helper */
	assert_int_equal(loop_count_timers(f->loop), 0);
	close(fd);
	free(chunk);
}

/* ---- onboarding, offboarding, sessions ---- */

/* The "control" records of one command. */
static json_t *records_of(struct fixture *f, const char *cmd)
{
	json_t *all = audit_records(f), *out = json_array(), *r;
	size_t i;

	json_array_foreach(all, i, r)
	{
		if (json_is_string(json_object_get(r, "cmd")) &&
		    strcmp(json_string_value(json_object_get(r, "cmd")), cmd) == 0)
			json_array_append(out, r);
	}
	json_decref(all);
	return out;
}

static int child_onboard(struct fixture *f)
{
	struct cli c;
	json_t *r;

	CHECK(cli_connect(&c, f->sock) == 0);
	r = cli_ask(&c, "{\"cmd\":\"onboard\",\"tenant\":\"sunrise\",\"template\":\"ehr\","
			"\"display_name\":\"Sunrise Pediatrics\"}");
	CHECK(r && reply_ok(r));
	CHECK(json_integer_value(json_object_get(json_object_get(r, "allocation"), "uid")) ==
	      1000000);
	json_decref(r);
	r = cli_ask(&c, "{\"cmd\":\"onboard\",\"tenant\":\"acme\",\"template\":\"ehr\"}");
	CHECK(r && strcmp(reply_error(r), "tenant \"acme\" already exists") == 0);
	json_decref(r);
	close(c.fd);
	return 0;
}

static void test_onboard(void **state)
{
	struct fixture *f = *state;
	json_t *recs, *r;

	run_child(f, child_onboard);
	assert_int_equal(f->ob.calls, 2);
	assert_string_equal(f->ob.last, "onboard acme ehr - by root");
	recs = records_of(f, "onboard");
	assert_int_equal(json_array_size(recs), 2);
	r = json_array_get(recs, 0);
	assert_string_equal(json_string_value(json_object_get(r, "template")), "ehr");
	assert_string_equal(json_string_value(json_object_get(r, "display_name")),
			    "Sunrise Pediatrics");
	assert_string_equal(json_string_value(json_object_get(r, "result")), "ok");
	r = json_array_get(recs, 1);
	assert_true(json_is_null(json_object_get(r, "display_name")));
	assert_string_equal(json_string_value(json_object_get(r, "result")),
			    "tenant \"acme\" already exists");
	json_decref(recs);
}

/* An offboard and a status sent together: the offboard's reply comes when
 * it is over (after the idle limit: a waiting client is not dropped), and
 * only then the status's. */
static int child_offboard(struct fixture *f)
{
	static const char two[] =
	    "{\"cmd\":\"offboard\",\"tenant\":\"acme\",\"purge\":true}\n{\"cmd\":\"status\"}\n";
	struct cli c;
	char line[4096];
	json_t *r;
	uint64_t t0 = loop_now_ms();

	CHECK(cli_connect(&c, f->sock) == 0);
	CHECK(cli_send(&c, two, sizeof(two) - 1) == 0);
	CHECK(cli_line(&c, line, sizeof(line)) == 0);
	CHECK(loop_now_ms() - t0 >= 250);
	r = json_loads(line, 0, NULL);
	CHECK(r && reply_ok(r));
	CHECK(json_is_true(json_object_get(json_object_get(r, "report"), "purged")));
	json_decref(r);
	CHECK(cli_line(&c, line, sizeof(line)) == 0);
	CHECK(strstr(line, "\"services\""));
	/* A failed one: its error, and the connection goes on. */
	r = cli_ask(&c, "{\"cmd\":\"offboard\",\"tenant\":\"broken\",\"archive\":\"/srv/b.tar\"}");
	CHECK(r && strcmp(reply_error(r), "archiving failed: tar exited with status 2; nothing "
					  "was removed") == 0);
	json_decref(r);
	/* Refused at once: no tenant. */
	r = cli_ask(&c, "{\"cmd\":\"offboard\",\"tenant\":\"nope\",\"purge\":true}");
	CHECK(r && strcmp(reply_error(r), "no tenant \"nope\"") == 0);
	json_decref(r);
	/* Idle again afterwards: closed. */
	CHECK(cli_closed_within(&c, 3000));
	close(c.fd);
	return 0;
}

static void test_offboard_deferred(void **state)
{
	struct fixture *f = *state;
	json_t *recs, *r;

	control_set_idle_timeout(f->ctl, 100);
	run_child(f, child_offboard);
	assert_int_equal(f->ob.finished, 2);
	assert_string_equal(f->ob.last, "offboard nope - purge by root");
	recs = audit_records(f);
	assert_int_equal(json_array_size(recs), 4);
	/* In the order the replies went out; each before its reply. */
	r = json_array_get(recs, 0);
	assert_string_equal(json_string_value(json_object_get(r, "cmd")), "offboard");
	assert_string_equal(json_string_value(json_object_get(r, "tenant")), "acme");
	assert_true(json_is_true(json_object_get(r, "purge")));
	assert_true(json_is_null(json_object_get(r, "archive")));
	assert_string_equal(json_string_value(json_object_get(r, "result")), "ok");
	assert_peer(recs, 0, 0, 0, "root");
	assert_record(recs, 1, "status", "(null)", "(null)", "allowed", "ok");
	r = json_array_get(recs, 2);
	assert_string_equal(json_string_value(json_object_get(r, "archive")), "/srv/b.tar");
	assert_false(json_is_true(json_object_get(r, "purge")));
	assert_string_equal(json_string_value(json_object_get(r, "result")),
			    "archiving failed: tar exited with status 2; nothing was removed");
	r = json_array_get(recs, 3);
	assert_string_equal(json_string_value(json_object_get(r, "result")), "no tenant \"nope\"");
	json_decref(recs);
}

/* The client goes before the offboarding ends: audited all the same. */
static int child_offboard_and_go(struct fixture *f)
{
	static const char req[] = "{\"cmd\":\"offboard\",\"tenant\":\"acme\",\"purge\":true}\n";
	struct cli c;

	CHECK(cli_connect(&c, f->sock) == 0);
	CHECK(cli_send(&c, req, sizeof(req) - 1) == 0);
	usleep(50 * 1000);
	close(c.fd);
	usleep(600 * 1000); /* the parent's loop ends the offboarding meanwhile */
	return 0;
}

static void test_offboard_client_gone(void **state)
{
	struct fixture *f = *state;
	json_t *recs;

	run_child(f, child_offboard_and_go);
	assert_int_equal(f->ob.finished, 1);
	recs = records_of(f, "offboard");
	assert_int_equal(json_array_size(recs), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(recs, 0), "result")),
			    "ok");
	json_decref(recs);
}

static int child_not_available(struct fixture *f)
{
	struct cli c;
	json_t *r;

	CHECK(cli_connect(&c, f->sock) == 0);
	r = cli_ask(&c, "{\"cmd\":\"onboard\",\"tenant\":\"x\",\"template\":\"ehr\"}");
	CHECK(r && strcmp(reply_error(r), "onboarding is not available") == 0);
	json_decref(r);
	r = cli_ask(&c, "{\"cmd\":\"offboard\",\"tenant\":\"x\",\"purge\":true}");
	CHECK(r && strcmp(reply_error(r), "onboarding is not available") == 0);
	json_decref(r);
	r = cli_ask(&c, "{\"cmd\":\"sessions\"}");
	CHECK(r && strcmp(reply_error(r), "sessions are not available") == 0);
	json_decref(r);
	r = cli_ask(&c, "{\"cmd\":\"kick\",\"session\":\"s-1\"}");
	CHECK(r && strcmp(reply_error(r), "sessions are not available") == 0);
	json_decref(r);
	r = cli_ask(&c, "{\"cmd\":\"status\"}");
	CHECK(r && reply_ok(r));
	json_decref(r);
	close(c.fd);
	return 0;
}

static void test_not_available(void **state)
{
	struct fixture *f = *state;

	control_set_onboarding(f->ctl, NULL);
	control_set_sessions(f->ctl, NULL);
	run_child(f, child_not_available);
	assert_int_equal(f->ob.calls, 0);
}

static int child_sessions_viewer(struct fixture *f)
{
	struct cli c;
	json_t *r;

	CHECK(cli_connect(&c, f->sock) == 0);
	r = cli_ask(&c, "{\"cmd\":\"sessions\"}");
	CHECK(r && reply_ok(r) && json_array_size(json_object_get(r, "sessions")) == 1);
	json_decref(r);
	r = cli_ask(&c, "{\"cmd\":\"sessions\",\"tenant\":\"other\"}");
	CHECK(r && reply_ok(r) && json_array_size(json_object_get(r, "sessions")) == 0);
	json_decref(r);
	r = cli_ask(&c, "{\"cmd\":\"kick\",\"session\":\"s-1\"}");
	CHECK(r && strcmp(reply_error(r), "permission denied") == 0);
	json_decref(r);
	close(c.fd);
	return 0;
}

static int child_sessions_operator(struct fixture *f)
{
	struct cli c;
	json_t *r;

	CHECK(cli_connect(&c, f->sock) == 0);
	r = cli_ask(&c, "{\"cmd\":\"kick\",\"session\":\"s-2\"}");
	CHECK(r && strcmp(reply_error(r), "no session \"s-2\"") == 0);
	json_decref(r);
	r = cli_ask(&c, "{\"cmd\":\"kick\",\"session\":\"s-1\"}");
	CHECK(r && reply_ok(r));
	json_decref(r);
	/* Onboarding is for admins. */
	r = cli_ask(&c, "{\"cmd\":\"onboard\",\"tenant\":\"x\",\"template\":\"ehr\"}");
	CHECK(r && strcmp(reply_error(r), "permission denied") == 0);
	json_decref(r);
	r = cli_ask(&c, "{\"cmd\":\"offboard\",\"tenant\":\"acme\",\"purge\":true}");
	CHECK(r && strcmp(reply_error(r), "permission denied") == 0);
	json_decref(r);
	close(c.fd);
	return 0;
}

static int child_admin(struct fixture *f)
{
	struct cli c;
	json_t *r;

	CHECK(cli_connect(&c, f->sock) == 0);
	r = cli_ask(&c, "{\"cmd\":\"onboard\",\"tenant\":\"x\",\"template\":\"ehr\"}");
	CHECK(r && reply_ok(r));
	json_decref(r);
	close(c.fd);
	return 0;
}

static void test_sessions_and_rights(void **state)
{
	struct fixture *f = *state;
	gid_t viewer = host_gid("daemon"), operator= host_gid("bin"), sock = host_gid("tty");
	gid_t admin = host_gid("adm");
	struct ward_err err = {0};
	const char *nobody = getpwuid(NOBODY) ? getpwuid(NOBODY)->pw_name : "65534";
	json_t *recs, *r;

	need_root();
	control_free(f->ctl);
	f->cfg.socket_group = "tty";
	f->cfg.admin_group = "adm";
	f->ctl = control_new(&f->cfg, f->loop, &f->sup, f->audit, f->udb, &err);
	if (!f->ctl)
		fail_msg("control_new: %s", err.msg);
	control_set_onboarding(f->ctl, &f->ob);
	control_set_sessions(f->ctl, &f->ss);
	assert_int_equal(chmod(f->dir, 0755), 0);
	run_child_as(f, child_sessions_viewer, NOBODY, NOBODY, (gid_t[]){sock, viewer}, 2);
	run_child_as(f, child_sessions_operator, NOBODY, operator, & sock, 1);
	run_child_as(f, child_admin, NOBODY, NOBODY, (gid_t[]){sock, admin}, 2);
	assert_int_equal(f->ss.kicked, 1);
	{
		char want[128];

		snprintf(want, sizeof(want), "kick s-1 by %s", nobody);
		assert_string_equal(f->ss.last, want);
	}
	assert_int_equal(f->ob.calls, 1); /* the admin's; the operator's never got through */
	{
		char want[128];

		snprintf(want, sizeof(want), "onboard x ehr - by %s", nobody);
		assert_string_equal(f->ob.last, want);
	}

	recs = records_of(f, "kick");
	assert_int_equal(json_array_size(recs), 3);
	r = json_array_get(recs, 0);
	assert_string_equal(json_string_value(json_object_get(r, "verdict")), "refused");
	assert_string_equal(json_string_value(json_object_get(r, "session")), "s-1");
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "peer"), "user")),
			    nobody);
	assert_string_equal(json_string_value(json_object_get(json_array_get(recs, 1), "result")),
			    "no session \"s-2\"");
	assert_string_equal(json_string_value(json_object_get(json_array_get(recs, 2), "result")),
			    "ok");
	json_decref(recs);
	recs = records_of(f, "onboard");
	assert_int_equal(json_array_size(recs), 2);
	assert_string_equal(json_string_value(json_object_get(json_array_get(recs, 0), "verdict")),
			    "refused");
	assert_string_equal(json_string_value(json_object_get(json_array_get(recs, 0), "result")),
			    "permission denied");
	assert_string_equal(json_string_value(json_object_get(json_array_get(recs, 1), "verdict")),
			    "allowed");
	json_decref(recs);
	recs = records_of(f, "offboard");
	assert_int_equal(json_array_size(recs), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(recs, 0), "result")),
			    "permission denied");
	json_decref(recs);
}

/* Many clients at once, each with a request in flight, all answered. */
struct crowd {
	int fds[200];
	int answered;
};

static void on_crowd_reply(struct loop *l, int fd, uint32_t events, void *ud)
{
	struct crowd *c = ud;
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf));

	loop_del_fd(l, fd);
	if (n > 0 && strstr(buf, "\"ok\":true"))
		c->answered++;
	if (c->answered == 200)
		loop_quit(l);
}

static void test_many_clients(void **state)
{
	struct fixture *f = *state;
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct crowd crowd = {.answered = 0};
	struct loop_timer *t;

	memcpy(sa.sun_path, f->sock, sizeof(sa.sun_path));
	/* Connect all before the server accepts any: the backlog holds them. */
	for (int i = 0; i < 200; i++) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		assert_int_equal(send(fd, "{\"cmd\":\"status\"}\n", 17, 0), 17);
		assert_int_equal(loop_add_fd(f->loop, fd, EPOLLIN, on_crowd_reply, &crowd), 0);
		crowd.fds[i] = fd;
	}
	f->timed_out = false;
	f->child = 0;
	t = loop_timer_add(f->loop, 10000, on_timeout, f);
	loop_run(f->loop);
	assert_false(f->timed_out);
	loop_timer_cancel(f->loop, t);
	assert_int_equal(crowd.answered, 200);
	assert_int_equal(control_count_clients(f->ctl), 200);
	for (int i = 0; i < 200; i++)
		close(crowd.fds[i]);
	drain_clients(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_every_command),
	    cmocka_unit_test(test_parse_not_json),
	    cmocka_unit_test(test_parse_not_object),
	    cmocka_unit_test(test_parse_cmd),
	    cmocka_unit_test(test_parse_unknown_key),
	    cmocka_unit_test(test_parse_types),
	    cmocka_unit_test(test_parse_required),
	    cmocka_unit_test(test_parse_names),
	    cmocka_unit_test(test_parse_duplicates_nul_length),
	    cmocka_unit_test(test_parse_onboarding),
	    cmocka_unit_test(test_parse_random),
	    cmocka_unit_test(test_cmd_rights),
	    cmocka_unit_test(test_peer_right),
	    cmocka_unit_test_setup_teardown(test_socket_file, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_socket_group_and_stale, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_requests, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hung_group_lookup_never_stalls_the_loop, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_hung_name_service_never_stalls_the_loop, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_authorization, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_too_long, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_half_close, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_idle, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_logs_follow, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_slow_follower, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_onboard, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_offboard_deferred, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_offboard_client_gone, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_not_available, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_sessions_and_rights, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_many_clients, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
