/* Unit tests of the session server (session*.c): the request and message
 * parsers (every key, every error class, random input), the pure helpers
 * (session uid, user names, group membership), and the server up to the
 * logon decision on a real socket in a temp dir, with a fake supervisor
 * defined here. What comes after "let in" (the join, the relay) needs real
 * sandboxes: see tests/integration/test_sessions.py. */
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

#include "daemon/session.h"
#include "daemon/session-internal.h"
#include "hung_nss.h"

#include <dlfcn.h>
#include <grp.h>

/* A group database that hangs in the daemon's own process (a hung sssd or
 * LDAP, as the loop would meet it): these take the place of libc's for the
 * code under test and sleep hang_group_ms first, in the test's process
 * only. The userdb helper, a child, asks the real one at once. */
static volatile unsigned hang_group_ms;
static pid_t daemon_pid;

static void maybe_hang(void)
{
	if (hang_group_ms && getpid() == daemon_pid)
		usleep(hang_group_ms * 1000u);
}

int getgrnam_r(const char *name, struct group *grp, char *buf, size_t buflen, struct group **result)
{
	int (*real)(const char *, struct group *, char *, size_t, struct group **);

	maybe_hang();
	*(void **)&real = dlsym(RTLD_NEXT, "getgrnam_r");
	return real ? real(name, grp, buf, buflen, result) : ENOSYS;
}

int getgrgid_r(gid_t gid, struct group *grp, char *buf, size_t buflen, struct group **result)
{
	int (*real)(gid_t, struct group *, char *, size_t, struct group **);

	maybe_hang();
	*(void **)&real = dlsym(RTLD_NEXT, "getgrgid_r");
	return real ? real(gid, grp, buf, buflen, result) : ENOSYS;
}

/* ======================================================================
 * session_parse_request
 * ====================================================================== */

static int parse(const char *s, struct session_request *req, struct ward_err *err)
{
	memset(err, 0, sizeof(*err));
	return session_parse_request(s, strlen(s), req, err);
}

static void assert_ascii(const char *s)
{
	assert_true(*s);
	for (; *s; s++)
		assert_true(*s >= 0x20 && *s < 0x7f);
}

/* Asserts that s is refused with a message containing want, leaving
 * nothing half-parsed. */
#define assert_refused(s, want)                                                                    \
	do {                                                                                       \
		struct session_request r_;                                                         \
		struct ward_err e_;                                                                \
		memset(&r_, 0x5a, sizeof(r_));                                                     \
		assert_int_equal(parse((s), &r_, &e_), -1);                                        \
		if (!strstr(e_.msg, (want)))                                                       \
			fail_msg("%s: got \"%s\", want \"%s\"", (s), e_.msg, (want));              \
		assert_ascii(e_.msg);                                                              \
		assert_false(r_.tty);                                                              \
		assert_int_equal(r_.rows, 0);                                                      \
		assert_int_equal(r_.cols, 0);                                                      \
		assert_string_equal(r_.term, "");                                                  \
		assert_string_equal(r_.remote, "");                                                \
	} while (0)

static void test_parse_good(void **state)
{
	struct session_request r;
	struct ward_err e;

	(void)state;
	assert_int_equal(parse("{}", &r, &e), 0);
	assert_false(r.tty);
	assert_string_equal(r.term, "");
	assert_string_equal(r.remote, "");

	assert_int_equal(parse("{\"tty\":true,\"rows\":24,\"cols\":80,\"term\":\"xterm-256color\","
			       "\"remote\":\"192.0.2.1 51234\"}",
			       &r, &e),
			 0);
	assert_true(r.tty);
	assert_int_equal(r.rows, 24);
	assert_int_equal(r.cols, 80);
	assert_string_equal(r.term, "xterm-256color");
	assert_string_equal(r.remote, "192.0.2.1 51234");

	assert_int_equal(parse(" {\"remote\":\"2001:db8::1 65535\", \"tty\":false} ", &r, &e), 0);
	assert_false(r.tty);
	assert_string_equal(r.remote, "2001:db8::1 65535");
	assert_int_equal(
	    parse("{\"tty\":true,\"rows\":0,\"cols\":10000,\"term\":\"vt100+x.y_z\"}", &r, &e), 0);
	assert_int_equal(r.cols, 10000);
	assert_string_equal(r.term, "vt100+x.y_z");
}

static void test_parse_not_a_request(void **state)
{
	char big[SESSION_MAX_REQUEST + 16];

	(void)state;
	assert_refused("", "invalid JSON");
	assert_refused("garbage", "invalid JSON");
	assert_refused("{\"tty\":true", "invalid JSON");
	assert_refused("[]", "must be a JSON object");
	assert_refused("\"tty\"", "must be a JSON object");
	assert_refused("null", "must be a JSON object");
	assert_refused("{\"tty\":true,\"tty\":false}", "invalid JSON");
	{
		static const char nul[] = "{\"term\":\"x\"}\0{}";
		struct session_request r;
		struct ward_err e = {0};

		assert_int_equal(session_parse_request(nul, sizeof(nul) - 1, &r, &e), -1);
		assert_non_null(strstr(e.msg, "NUL"));
	}
	memset(big, ' ', sizeof(big));
	big[0] = '{';
	big[sizeof(big) - 2] = '}';
	big[sizeof(big) - 1] = '\0';
	assert_refused(big, "longer than 4096 bytes");
	/* One byte under the limit (the newline is the last) is fine. */
	big[SESSION_MAX_REQUEST - 2] = '}';
	big[SESSION_MAX_REQUEST - 1] = '\0';
	{
		struct session_request r;
		struct ward_err e;
		assert_int_equal(parse(big, &r, &e), 0);
	}
}

static void test_parse_keys_and_values(void **state)
{
	(void)state;
	/* Identity is never the client's to say. */
	assert_refused("{\"user\":\"root\"}", "unknown key \"user\"");
	assert_refused("{\"uid\":0}", "unknown key \"uid\"");
	assert_refused("{\"tty\":false,\"groups\":[\"wheel\"]}", "unknown key \"groups\"");
	assert_refused("{\"t\\u00e9rm\":1}", "unknown key \"t\\xc3\\xa9rm\"");
	assert_refused("{\"tty\":1}", "tty: must be true or false");
	assert_refused("{\"tty\":\"true\"}", "tty: must be true or false");
	assert_refused("{\"tty\":true,\"rows\":-1}", "rows: must be an integer from 0 to 10000");
	assert_refused("{\"tty\":true,\"rows\":10001}", "rows: must be an integer");
	assert_refused("{\"tty\":true,\"cols\":1.5}", "cols: must be an integer");
	assert_refused("{\"tty\":true,\"cols\":\"80\"}", "cols: must be an integer");
	assert_refused("{\"tty\":true,\"rows\":99999999999999999999}", "invalid JSON");
	assert_refused("{\"rows\":24}", "rows and cols need \"tty\": true");
	assert_refused("{\"tty\":false,\"cols\":80}", "rows and cols need");
	assert_refused("{\"term\":\"\"}", "term: invalid value");
	assert_refused("{\"term\":\"xterm;rm -rf\"}", "term: invalid value \"xterm;rm -rf\"");
	assert_refused("{\"term\":\"x\\u0000y\"}", "is not allowed"); /* jansson's word */
	assert_refused("{\"term\":\"\\u001b[31m\"}", "term: invalid value \"\\x1b[31m\"");
	assert_refused("{\"term\":"
		       "\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}",
		       "term: invalid value");
	assert_refused("{\"term\":7}", "term: must be a string");
	assert_refused("{\"remote\":\"192.0.2.1\"}", "remote: invalid value");
	assert_refused("{\"remote\":\"192.0.2.1 0\"}", "remote: invalid value");
	assert_refused("{\"remote\":\"192.0.2.1 65536\"}", "remote: invalid value");
	assert_refused("{\"remote\":\"192.0.2.1 22a\"}", "remote: invalid value");
	assert_refused("{\"remote\":\"192.0.2.1 22 10.0.0.1 22\"}", "remote: invalid value");
	assert_refused("{\"remote\":\"999.0.2.1 22\"}", "remote: invalid value");
	assert_refused("{\"remote\":\"example.com 22\"}", "remote: invalid value");
	assert_refused("{\"remote\":\" 22\"}", "remote: invalid value");
	assert_refused("{\"remote\":[\"192.0.2.1\",22]}", "remote: must be a string");
}

/* Random bytes and mutations of a good request: never a crash, and an
 * accepted request always satisfies what the header promises. */
static void test_parse_random(void **state)
{
	static const char good[] =
	    "{\"tty\":true,\"rows\":24,\"cols\":80,\"term\":\"xterm\",\"remote\":\"10.0.0.1 22\"}";
	unsigned seed = 12345;

	(void)state;
	for (int i = 0; i < 20000; i++) {
		char buf[128];
		size_t len = sizeof(good) - 1;
		struct session_request r;
		struct ward_err e = {0};

		memcpy(buf, good, len);
		for (int k = 0; k < 1 + i % 4; k++) {
			seed = seed * 1103515245 + 12345;
			buf[(seed >> 8) % len] = (char)(seed >> 16);
		}
		if (session_parse_request(buf, len, &r, &e) == 0) {
			assert_true(r.rows <= SESSION_MAX_DIM && r.cols <= SESSION_MAX_DIM);
			assert_non_null(memchr(r.term, '\0', sizeof(r.term)));
			assert_non_null(memchr(r.remote, '\0', sizeof(r.remote)));
			if (!r.tty)
				assert_true(r.rows == 0 && r.cols == 0);
		} else {
			assert_ascii(e.msg);
		}
	}
}

static void test_parse_message(void **state)
{
	struct ward_err e = {0};
	static const char *const bad[] = {
	    "",
	    "{}",
	    "true",
	    "{\"input\":false}",
	    "{\"input\":1}",
	    "{\"input\":true,\"x\":1}",
	    "{\"winch\":[40,120]}",
	    "[{\"input\":true}]",
	};

	(void)state;
	assert_int_equal(session_parse_message("{\"input\":true}", 14, &e), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		memset(&e, 0, sizeof(e));
		assert_int_equal(session_parse_message(bad[i], strlen(bad[i]), &e), -1);
		assert_ascii(e.msg);
	}
	{
		char big[SESSION_MAX_MESSAGE + 8];

		static const char msg[] = "{\"input\":true}";

		memset(big, ' ', sizeof(big));
		memcpy(big, msg, sizeof(msg) - 1); /* followed by blanks past the limit */
		assert_int_equal(session_parse_message(big, sizeof(big), &e), -1);
		assert_non_null(strstr(e.msg, "longer than"));
	}
}

/* ======================================================================
 * Helpers
 * ====================================================================== */

static void test_session_uid(void **state)
{
	struct ward_ids ids = {.set = true, .uid = 200000, .count = 65536};
	uid_t u = 0;

	(void)state;
	assert_int_equal(session_uid_for(&ids, 0, &u), 0);
	assert_int_equal(u, 201000);
	assert_int_equal(session_uid_for(&ids, 1000, &u), 0);
	assert_int_equal(u, 202000);
	/* Stable, never the service's uid, always inside the range. */
	for (uid_t h = 0; h < 300000; h += 7) {
		uid_t again;

		assert_int_equal(session_uid_for(&ids, h, &u), 0);
		assert_int_equal(session_uid_for(&ids, h, &again), 0);
		assert_int_equal(u, again);
		assert_true(u >= ids.uid + SESSION_UID_OFFSET && u < ids.uid + ids.count);
	}
	/* Distinct below count - offset: the usual uids of a host. */
	{
		uid_t a, b;
		assert_int_equal(session_uid_for(&ids, 1000, &a), 0);
		assert_int_equal(session_uid_for(&ids, 1001, &b), 0);
		assert_int_not_equal(a, b);
		assert_int_equal(session_uid_for(&ids, 64535, &a), 0);
		assert_int_equal(a, 200000 + 65535);
	}
	/* The top of the 32-bit range does not overflow. */
	ids = (struct ward_ids){.set = true, .uid = 4294967294u - 65535, .count = 65536};
	assert_int_equal(session_uid_for(&ids, 4294967000u, &u), 0);
	assert_true(u >= ids.uid + SESSION_UID_OFFSET && u <= 4294967294u);
	/* No room, or no ids: no session uid. */
	ids = (struct ward_ids){.set = true, .uid = 200000, .count = 1000};
	assert_int_equal(session_uid_for(&ids, 5, &u), -1);
	ids = (struct ward_ids){.set = true, .uid = 200000, .count = 1001};
	assert_int_equal(session_uid_for(&ids, 5, &u), 0);
	assert_int_equal(u, 201000);
	ids = (struct ward_ids){.set = false, .uid = 200000, .count = 65536};
	assert_int_equal(session_uid_for(&ids, 5, &u), -1);
}

static void test_user_names(void **state)
{
	static const char *const good[] = {"alice", "a.b", "user@example.com", "_svc", "x-y",
					   "A1",    "0day"};
	static const char *const bad[] = {"",  ".hidden", "-x",   "@x",       "a/b", "..",
					  ".", "a b",     "a\nb", "\xc3\xa4", "a:b"};
	char name[80];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++)
		assert_true(session_user_name_valid(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		if (session_user_name_valid(bad[i]))
			fail_msg("\"%s\" accepted", bad[i]);
	assert_false(session_user_name_valid(NULL));
	memset(name, 'a', 64);
	name[64] = '\0';
	assert_true(session_user_name_valid(name));
	name[64] = 'a';
	name[65] = '\0';
	assert_false(session_user_name_valid(name));
}

static void test_groups(void **state)
{
	char *staff[] = {"staff-alpha"};
	char *mixed[] = {"no-such-group-ward-test", NULL, "", "staff-alpha"};
	char *none[] = {"no-such-group-ward-test", "0", "staff"};
	char *empty[] = {""};
	/* As the userdb helper packs them: one name per gid, "" for a gid
	 * without a name. */
	static const char user[] = "alice\0\0staff-alpha\0users";
	static const char other[] = "bob\0staff-alpha-x\0users";

	(void)state;
	assert_true(session_in_groups(staff, 1, user, 4));
	assert_false(session_in_groups(staff, 1, other, 3)); /* whole names only */
	assert_false(session_in_groups(staff, 1, NULL, 0));
	assert_false(session_in_groups(staff, 1, user, 2)); /* only the first two */
	assert_true(session_in_groups(mixed, 4, user, 4));
	/* A group the user is not in matches nothing; a number is a name,
	 * not a gid; a gid without a name is not matched by "". */
	assert_false(session_in_groups(none, 3, user, 4));
	assert_false(session_in_groups(empty, 1, user, 4));
	assert_false(session_in_groups(NULL, 0, user, 4));
}

/* ======================================================================
 * The server up to the decision, with a fake supervisor
 * ====================================================================== */

struct supervisor {
	struct ward_tenant *tenants;
	size_t n;
	enum service_state state;
	int views; /* how often a service view was asked for */
	int walks; /* how often the tenants were walked */
};

int supervisor_each_tenant(struct supervisor *s, int (*fn)(const struct ward_tenant *t, void *ud),
			   void *ud)
{
	s->walks++;
	for (size_t i = 0; i < s->n; i++) {
		int r = fn(&s->tenants[i], ud);
		if (r)
			return r;
	}
	return 0;
}

int supervisor_service_view(struct supervisor *s, const char *tenant, const char *service,
			    struct service_view *out, struct ward_err *err)
{
	s->views++;
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->tenants[i].name, tenant) == 0) {
			*out = (struct service_view){.tenant = &s->tenants[i],
						     .service = &s->tenants[i].services[0],
						     .state = s->state,
						     .init_pid = -1,
						     .init_pidfd = -1};
			return 0;
		}
	return ward_err_set(err, 0, "no tenant \"%s\"", tenant);
}

struct fixture {
	char dir[64];
	char audit_path[128];
	struct ward_config cfg;
	struct loop *loop;
	struct audit *audit;
	struct supervisor sup;
	struct userdb *udb;
	struct session_server *ss;
	char *groups_one[1], *groups_two[1];
	struct ward_service svc[2];
	struct ward_tenant tenants[2];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct ward_err err = {0};

	assert_non_null(f);
	strcpy(f->dir, "/tmp/ward-test-session-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	(void)snprintf(f->audit_path, sizeof(f->audit_path), "%s/audit.jsonl", f->dir);
	f->cfg.state_dir = f->dir;
	f->cfg.data_dir = f->dir;
	f->loop = loop_new();
	f->audit = audit_open(f->audit_path, true, &err);
	assert_non_null(f->loop);
	assert_non_null(f->audit);
	/* Two practices; which one root may enter, the tests decide by their
	 * groups (root is in "root" on every system). */
	f->groups_one[0] = "no-such-group-ward-test";
	f->groups_two[0] = "no-such-group-ward-test";
	for (int i = 0; i < 2; i++) {
		f->svc[i] = (struct ward_service){.name = "web"};
		f->tenants[i] = (struct ward_tenant){
		    .name = i ? "two" : "one",
		    .ids = {.set = true, .uid = 300000 + 65536 * (uint32_t)i, .count = 65536},
		    .services = &f->svc[i],
		    .n_services = 1,
		    .sessions = {.present = true,
				 .groups = i ? f->groups_two : f->groups_one,
				 .n_groups = 1,
				 .service = "web",
				 .max = 1},
		};
	}
	f->sup = (struct supervisor){.tenants = f->tenants, .n = 2, .state = SERVICE_RUNNING};
	f->udb = userdb_new(f->loop, 0, NULL);
	assert_non_null(f->udb);
	f->ss = session_server_new(&f->cfg, f->loop, &f->sup, f->audit, f->udb, &err);
	if (!f->ss)
		fail_msg("session_server_new: %s", err.msg);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char path[160];

	session_server_free(f->ss);
	userdb_free(f->udb);
	audit_close(f->audit);
	loop_free(f->loop);
	(void)snprintf(path, sizeof(path), "%s/session.sock", f->dir);
	unlink(path);
	unlink(f->audit_path);
	rmdir(f->dir);
	free(f);
	return 0;
}

struct exchange {
	int fd;
	char reply[4096];
	size_t len;
	bool done, timed_out;
};

static void on_reply(struct loop *l, int fd, uint32_t events, void *ud)
{
	struct exchange *x = ud;
	ssize_t n = read(fd, x->reply + x->len, sizeof(x->reply) - 1 - x->len);

	if (n > 0)
		x->len += (size_t)n;
	x->reply[x->len] = '\0';
	if (n <= 0 || memchr(x->reply, '\n', x->len)) {
		x->done = true;
		loop_del_fd(l, fd);
		loop_quit(l);
	}
}

static void on_timeout(struct loop *l, void *ud)
{
	struct exchange *x = ud;

	x->timed_out = true;
	loop_quit(l);
}

static int connect_server(struct fixture *f)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	(void)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/session.sock", f->dir);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Runs the loop until the reply line on x.fd (or 10 s). */
static void await_reply(struct fixture *f, struct exchange *x)
{
	struct loop_timer *t;

	assert_int_equal(loop_add_fd(f->loop, x->fd, EPOLLIN, on_reply, x), 0);
	t = loop_timer_add(f->loop, 10000, on_timeout, x);
	loop_run(f->loop);
	assert_false(x->timed_out);
	loop_timer_cancel(f->loop, t);
}

/* Lets the server finish with a client (it is freed after the reply). */
static void settle_server(struct fixture *f)
{
	for (int i = 0; i < 3; i++) {
		struct exchange y = {0};
		struct loop_timer *t2 = loop_timer_add(f->loop, 20, on_timeout, &y);
		loop_run(f->loop);
		(void)t2;
	}
}

/* Sends a request, runs the loop until the reply line. */
static void ask(struct fixture *f, const char *line, char *reply, size_t size)
{
	struct exchange x = {.fd = connect_server(f)};

	assert_int_equal(send(x.fd, line, strlen(line), MSG_NOSIGNAL), (ssize_t)strlen(line));
	await_reply(f, &x);
	close(x.fd);
	(void)snprintf(reply, size, "%s", x.reply);
	settle_server(f);
}

static char *audit_text(struct fixture *f)
{
	static char buf[65536];
	int fd = open(f->audit_path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

#define assert_reply(f, line, want)                                                                \
	do {                                                                                       \
		char r_[4096];                                                                     \
		ask((f), (line), r_, sizeof(r_));                                                  \
		if (!strstr(r_, (want)))                                                           \
			fail_msg("%s: got %s, want %s", (line), r_, (want));                       \
	} while (0)

static void test_socket_is_everyones(void **state)
{
	struct fixture *f = *state;
	char path[160];
	struct stat st;
	struct ward_err err = {0};
	struct session_server *again;

	(void)snprintf(path, sizeof(path), "%s/session.sock", f->dir);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0666);
	/* A stale socket is replaced; anything else is not. */
	session_server_free(f->ss);
	f->ss = NULL;
	assert_int_equal(access(path, F_OK), -1);
	f->ss = session_server_new(&f->cfg, f->loop, &f->sup, f->audit, f->udb, &err);
	assert_non_null(f->ss);
	again = session_server_new(&f->cfg, f->loop, &f->sup, f->audit, f->udb, &err);
	assert_non_null(again); /* the socket of a dead daemon */
	session_server_free(again);
	session_server_free(f->ss);
	f->ss = NULL;
	assert_int_equal(mkdir(path, 0700), 0);
	assert_null(session_server_new(&f->cfg, f->loop, &f->sup, f->audit, f->udb, &err));
	assert_non_null(strstr(err.msg, "is not a socket"));
	rmdir(path);
	f->ss = session_server_new(&f->cfg, f->loop, &f->sup, f->audit, f->udb, &err);
	assert_non_null(f->ss);
}

static void test_malformed_never_reach_the_supervisor(void **state)
{
	struct fixture *f = *state;

	assert_reply(f, "garbage\n", "\"error\":\"malformed request: invalid JSON");
	assert_reply(f, "{\"user\":\"alice\"}\n", "malformed request: unknown key \\\"user\\\"");
	assert_int_equal(f->sup.walks, 0);
	assert_int_equal(f->sup.views, 0);
	{
		const char *a = audit_text(f);
		size_t n = 0;

		for (const char *p = a; (p = strstr(p, "\"event\":\"session-logon\"")); p++)
			n++;
		assert_int_equal(n, 2);
		assert_non_null(strstr(a, "\"verdict\":\"refused\""));
		assert_null(strstr(a, "\"verdict\":\"allowed\""));
		assert_non_null(strstr(a, "\"user\":\"root\""));
	}
	assert_int_equal(session_count(f->ss), 0);
}

/* A client that attaches descriptors is refused, and wardd never installs
 * them (closing one could block in a FUSE server's flush): where the kernel
 * has SO_PASSRIGHTS the send itself fails; elsewhere the kernel drops them
 * and the request is refused. Either way the client's pipe is as it was
 * (blocking), wardd holds no copy of it, and the server goes on. */
static void test_passed_fds_are_refused_untouched(void **state)
{
	struct fixture *f = *state;
	struct exchange x = {.fd = connect_server(f)};
	union {
		char buf[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} u;
	char line[] = "{}\n";
	struct iovec iov = {.iov_base = line, .iov_len = 3};
	struct msghdr mh = {
	    .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u)};
	struct cmsghdr *c;
	int p[2];
	char b;
	ssize_t n;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	memset(&u, 0, sizeof(u));
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(2 * sizeof(int));
	memcpy(CMSG_DATA(c), p, sizeof(p));
	n = sendmsg(x.fd, &mh, MSG_NOSIGNAL);
	if (n < 0) {
		assert_int_equal(errno, EPERM); /* SO_PASSRIGHTS off */
		assert_int_equal(send(x.fd, line, 3, MSG_NOSIGNAL), 3);
		await_reply(f, &x);
		assert_non_null(strstr(x.reply, "\"error\":\"no practice\""));
	} else {
		assert_int_equal(n, 3);
		await_reply(f, &x);
		assert_non_null(strstr(x.reply, "malformed request: file descriptors attached"));
	}
	close(x.fd);
	settle_server(f);
	assert_int_equal(fcntl(p[0], F_GETFL) & O_NONBLOCK, 0);
	assert_int_equal(fcntl(p[1], F_GETFL) & O_NONBLOCK, 0);
	/* No copy of the write end anywhere but here: EOF, not EAGAIN. */
	close(p[1]);
	assert_int_equal(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(read(p[0], &b, 1), 0);
	close(p[0]);
	assert_int_equal(session_count(f->ss), 0);
	assert_int_equal(f->sup.views, 0);
}

/* The logon is refused at the lookup's deadline, saying why, and the loop
 * turns meanwhile; the request is taken only with the answer, so even a
 * malformed one is refused after it (every record names the user). */
static void test_hung_name_service_refuses_without_stalling(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};
	struct tick t = {.start = loop_now_ms()};
	uint64_t t0;

	session_server_free(f->ss);
	userdb_free(f->udb);
	f->udb = userdb_new(f->loop, 300, hung_resolve);
	assert_non_null(f->udb);
	f->ss = session_server_new(&f->cfg, f->loop, &f->sup, f->audit, f->udb, &err);
	assert_non_null(f->ss);
	assert_non_null(loop_timer_add(f->loop, 100, on_tick_once, &t));
	t0 = loop_now_ms();
	assert_reply(f, "{}\n", "\"error\":\"user lookup failed: Connection timed out\"");
	assert_true(loop_now_ms() - t0 >= 300);
	assert_true(t.fired >= 100 && t.fired < 250); /* the loop never waited */
	assert_int_equal(f->sup.walks, 0);            /* no practice was looked at */
	t0 = loop_now_ms();
	assert_reply(f, "garbage\n", "malformed request: invalid JSON");
	assert_true(loop_now_ms() - t0 >= 300);
	{
		const char *a = audit_text(f);

		assert_non_null(
		    strstr(a, "\"reason\":\"user lookup failed: Connection timed out\""));
		assert_non_null(strstr(a, "\"user\":\"0\""));
		assert_null(strstr(a, "\"verdict\":\"allowed\""));
	}
	assert_int_equal(session_count(f->ss), 0);
}

/* The group database hangs while a logon is decided: the user's group
 * names came from the userdb helper, practices' groups are matched by name
 * on the loop without asking the name service, and the answer comes at
 * once (one getgrnam_r per practice's group on the loop would take 3 s
 * each). */
static void test_hung_group_database_never_stalls_a_logon(void **state)
{
	struct fixture *f = *state;
	uint64_t t0;

	f->groups_one[0] = "root"; /* gid 0's name on every system */
	f->sup.state = SERVICE_STOPPED;
	daemon_pid = getpid();
	hang_group_ms = 3000;
	t0 = loop_now_ms();
	assert_reply(f, "{}\n", "{\"ok\":false,\"error\":\"practice stopped\"}");
	hang_group_ms = 0;
	assert_true(loop_now_ms() - t0 < 2500);
	assert_int_equal(f->sup.walks, 1);
}

static void test_which_practice(void **state)
{
	struct fixture *f = *state;

	/* In no practice's groups. */
	assert_reply(f, "{}\n", "{\"ok\":false,\"error\":\"no practice\"}");
	/* In both. */
	f->groups_one[0] = "root";
	f->groups_two[0] = "root";
	assert_reply(f, "{}\n", "{\"ok\":false,\"error\":\"more than one practice: one, two\"}");
	/* In one, which is not running. */
	f->groups_two[0] = "no-such-group-ward-test";
	f->sup.state = SERVICE_STOPPED;
	assert_reply(f, "{}\n", "{\"ok\":false,\"error\":\"practice stopped\"}");
	f->sup.state = SERVICE_BACKOFF;
	assert_reply(f, "{}\n", "practice stopped");
	/* Running, but no sandbox to join (the fake has none). */
	f->sup.state = SERVICE_RUNNING;
	assert_reply(f, "{}\n", "practice stopped");
	/* A tenant without sessions never matches. */
	f->tenants[0].sessions.present = false;
	assert_reply(f, "{}\n", "no practice");
	f->tenants[0].sessions.present = true;
	/* sessions.service unset and more than one service: refused. */
	f->tenants[0].sessions.service = NULL;
	f->tenants[0].n_services = 2;
	f->tenants[0].services = f->svc;
	assert_reply(f, "{}\n", "policy error: sessions.service not set");
	{
		const char *a = audit_text(f);

		assert_non_null(strstr(a, "\"reason\":\"more than one practice: one, two\""));
		assert_non_null(strstr(a, "\"reason\":\"practice stopped\""));
		assert_non_null(strstr(a, "\"tenant\":\"one\""));
	}
	assert_int_equal(session_count(f->ss), 0);
}

static void test_list_and_kick_when_empty(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};
	json_t *l = session_list(f->ss, NULL, &err);

	assert_non_null(l);
	assert_int_equal(json_array_size(l), 0);
	json_decref(l);
	l = session_list(f->ss, "one", &err);
	assert_non_null(l);
	assert_int_equal(json_array_size(l), 0);
	json_decref(l);
	assert_int_equal(session_kick(f->ss, "deadbeef", "root", &err), -1);
	assert_string_equal(err.msg, "no session \"deadbeef\"");
	assert_int_equal(session_kick(f->ss, "\x01x", "root", &err), -1);
	assert_ascii(err.msg);
	session_server_shutdown(f->ss);
	session_server_shutdown(f->ss);
	{
		char path[160];

		(void)snprintf(path, sizeof(path), "%s/session.sock", f->dir);
		assert_int_equal(access(path, F_OK), -1); /* no new logons */
	}
	assert_int_equal(loop_count_fds(f->loop), 0);
}

/* Every state has its name (for messages and debugging). */
static void test_state_names(void **state)
{
	(void)state;
	assert_string_equal(session_state_to_string(S_REQUEST), "request");
	assert_string_equal(session_state_to_string(S_STARTING), "starting");
	assert_string_equal(session_state_to_string(S_RUNNING), "running");
	assert_string_equal(session_state_to_string(S_ENDING), "ending");
	assert_string_equal(session_state_to_string(S_CLOSING), "closing");
	assert_string_equal(session_state_to_string((enum session_state)99), "unknown");
}

/* A name the system gave (a user, a tty, a remote host) reaches JSON
 * whatever its bytes: valid UTF-8 as it is, invalid bytes as U+FFFD, and
 * one that needed that cut at 255 bytes without splitting a character. */
static void test_system_names_in_json(void **state)
{
	char long_name[400];
	json_t *j;

	(void)state;
	assert_true(json_is_null(j = session_json_str(NULL)));
	json_decref(j);
	assert_true(json_is_null(j = session_json_str("")));
	json_decref(j);
	j = session_json_str("caf\xc3\xa9");
	assert_string_equal(json_string_value(j), "caf\xc3\xa9");
	json_decref(j);
	j = session_json_str("caf\xe9 \xc3\xa9");
	assert_string_equal(json_string_value(j), "caf\xef\xbf\xbd \xc3\xa9");
	json_decref(j);

	memset(long_name, '\xff', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	j = session_json_str(long_name);
	assert_non_null(j);
	assert_int_equal(json_string_length(j), 85 * 3); /* whole U+FFFDs only */
	json_decref(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_state_names),
	    cmocka_unit_test(test_system_names_in_json),
	    cmocka_unit_test(test_parse_good),
	    cmocka_unit_test(test_parse_not_a_request),
	    cmocka_unit_test(test_parse_keys_and_values),
	    cmocka_unit_test(test_parse_random),
	    cmocka_unit_test(test_parse_message),
	    cmocka_unit_test(test_session_uid),
	    cmocka_unit_test(test_user_names),
	    cmocka_unit_test(test_groups),
	    cmocka_unit_test_setup_teardown(test_socket_is_everyones, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_malformed_never_reach_the_supervisor, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_passed_fds_are_refused_untouched, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hung_name_service_refuses_without_stalling, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_which_practice, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hung_group_database_never_stalls_a_logon, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_list_and_kick_when_empty, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
