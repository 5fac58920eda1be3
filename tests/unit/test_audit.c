/* Unit tests of the audit log: the exact record format, append-only files,
 * the refusals at open, whole records from concurrent writers, and the
 * reference to the fields taken in every path. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "tmpdir.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon/audit.h"

struct fixture {
	char dir[64];
	char path[128];
};

static int setup(void **state)
{
	struct fixture *f = test_fixture_new(sizeof(*f), "audit");

	test_fixture_path(f->path, sizeof(f->path), f->dir, "audit.jsonl");
	*state = f;
	return 0;
}

static size_t count_lines(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* "2026-11-22T14:05:06.123Z", and within a few seconds of now. */
static void assert_time(const char *t)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
	struct tm tm = {0};

	assert_int_equal(strlen(t), strlen(shape));
	for (size_t i = 0; shape[i]; i++) {
		if (shape[i] == 'd')
			assert_true(t[i] >= '0' && t[i] <= '9');
		else
			assert_int_equal(t[i], shape[i]);
	}
	assert_non_null(strptime(t, "%Y-%m-%dT%H:%M:%S", &tm));
	time_t then = timegm(&tm);
	assert_true(labs((long)(time(NULL) - then)) <= 5);
}

static void test_record_format(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};
	struct audit *a = audit_open(f->path, true, &err);

	assert_non_null(a);
	assert_int_equal(audit_event(a, "control",
				     json_pack("{s:s, s:s, s:i, s:n}", "cmd", "stop", "tenant",
					       "clinic-a", "pid", 42, "service")),
			 0);
	assert_int_equal(audit_event(a, "daemon-stop", NULL), 0);
	audit_close(a);

	char *text = test_slurp(f->path);
	char *second = strchr(text, '\n') + 1;
	assert_int_equal(count_lines(text), 2);
	/* Compact, time first, event second, the fields after in their order. */
	const char *p1 = "{\"time\":\"";
	const char *s1 = "\",\"event\":\"control\",\"cmd\":\"stop\",\"tenant\":\"clinic-a\","
			 "\"pid\":42,\"service\":null}\n";
	assert_memory_equal(text, p1, strlen(p1));
	char t1[25];
	memcpy(t1, text + strlen(p1), 24);
	t1[24] = '\0';
	assert_time(t1);
	assert_memory_equal(text + strlen(p1) + 24, s1, strlen(s1));
	assert_ptr_equal(text + strlen(p1) + 24 + strlen(s1), second);

	const char *s2 = "\",\"event\":\"daemon-stop\"}\n";
	assert_memory_equal(second, p1, strlen(p1));
	assert_string_equal(second + strlen(p1) + 24, s2);

	/* And each line is JSON that parses back. */
	json_error_t e;
	json_t *j = json_loadb(text, (size_t)(second - text), 0, &e);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "tenant")), "clinic-a");
	json_decref(j);
	free(text);
}

/* Fields cannot forge the time or the event. */
static void test_fields_cannot_replace_time(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};
	struct audit *a = audit_open(f->path, false, &err);

	assert_non_null(a);
	assert_int_equal(
	    audit_event(a, "reload",
			json_pack("{s:s, s:s, s:[]}", "time", "1999-01-01T00:00:00.000Z", "event",
				  "forged", "added")),
	    0);
	audit_close(a);
	char *text = test_slurp(f->path);
	json_t *j = json_loads(text, 0, NULL);
	assert_non_null(j);
	assert_time(json_string_value(json_object_get(j, "time")));
	assert_string_equal(json_string_value(json_object_get(j, "event")), "reload");
	assert_true(json_is_array(json_object_get(j, "added")));
	assert_int_equal(json_object_size(j), 3);
	json_decref(j);
	free(text);
}

static void test_append_only(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};

	for (int i = 0; i < 2; i++) {
		struct audit *a = audit_open(f->path, i == 0, &err);
		assert_non_null(a);
		assert_int_equal(audit_event(a, "daemon-start", json_pack("{s:i}", "run", i)), 0);
		audit_close(a);
	}
	char *text = test_slurp(f->path);
	assert_int_equal(count_lines(text), 2);
	assert_non_null(strstr(text, "\"event\":\"daemon-start\",\"run\":0}\n{\"time\""));
	assert_non_null(strstr(text, "\"event\":\"daemon-start\",\"run\":1}\n"));
	free(text);
}

static void test_mode_0600(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};
	struct stat st;

	umask(0);
	struct audit *a = audit_open(f->path, true, &err);
	umask(022);
	assert_non_null(a);
	audit_close(a);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);

	/* An existing log someone loosened is tightened again. */
	assert_int_equal(chmod(f->path, 0644), 0);
	assert_non_null(a = audit_open(f->path, true, &err));
	audit_close(a);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
}

static void test_refuses_symlink(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};
	char target[160];

	snprintf(target, sizeof(target), "%s/elsewhere", f->dir);
	assert_int_equal(symlink(target, f->path), 0);
	assert_null(audit_open(f->path, true, &err));
	assert_non_null(strstr(err.msg, "symbolic link"));
	assert_int_equal(access(target, F_OK), -1); /* nothing created through it */
}

static void test_refuses_non_regular(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};

	/* A FIFO: refused at once, not waited on for a reader (without one,
	 * the non-blocking open fails; with one, the type check refuses). */
	assert_int_equal(mkfifo(f->path, 0600), 0);
	assert_null(audit_open(f->path, true, &err));
	assert_int_equal(err.errnum, ENXIO);
	int reader = open(f->path, O_RDONLY | O_NONBLOCK);
	assert_true(reader >= 0);
	assert_null(audit_open(f->path, true, &err));
	assert_non_null(strstr(err.msg, "not a regular file"));
	close(reader);
	unlink(f->path);

	assert_int_equal(mkdir(f->path, 0700), 0);
	assert_null(audit_open(f->path, true, &err));
	assert_int_equal(err.errnum, EISDIR);
}

static void test_refuses_foreign_owner(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};

	if (geteuid() != 0)
		skip();
	int fd = open(f->path, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(fchown(fd, 1234, 1234), 0);
	close(fd);
	assert_null(audit_open(f->path, true, &err));
	assert_non_null(strstr(err.msg, "owned by uid 1234"));
}

#define WRITERS 2
#define RECORDS 1000

/* Two processes, each with its own O_APPEND descriptor, records of 3 KiB:
 * every line must come out whole. */
static void test_concurrent_writers(void **state)
{
	struct fixture *f = *state;
	static char pad[3000];
	pid_t pids[WRITERS];

	memset(pad, 'x', sizeof(pad) - 1);
	for (int w = 0; w < WRITERS; w++) {
		pids[w] = fork();
		assert_true(pids[w] >= 0);
		if (pids[w] == 0) {
			struct ward_err err = {0};
			struct audit *a = audit_open(f->path, false, &err);
			if (!a)
				_exit(1);
			for (int i = 0; i < RECORDS; i++)
				if (audit_event(a, "control",
						json_pack("{s:i, s:i, s:s}", "writer", w, "seq", i,
							  "pad", pad)) < 0)
					_exit(2);
			audit_close(a);
			_exit(0);
		}
	}
	for (int w = 0; w < WRITERS; w++) {
		int status;
		assert_int_equal(waitpid(pids[w], &status, 0), pids[w]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}

	char *text = test_slurp(f->path);
	int next[WRITERS] = {0};
	size_t lines = 0;
	for (char *line = text, *nl; (nl = strchr(line, '\n')); line = nl + 1, lines++) {
		json_error_t e;
		json_t *j = json_loadb(line, (size_t)(nl - line), 0, &e);
		assert_non_null(j);
		json_int_t w = json_integer_value(json_object_get(j, "writer"));
		assert_true(w >= 0 && w < WRITERS);
		assert_int_equal(json_integer_value(json_object_get(j, "seq")), next[w]);
		next[w]++;
		assert_string_equal(json_string_value(json_object_get(j, "pad")), pad);
		json_decref(j);
	}
	assert_int_equal(lines, WRITERS * RECORDS);
	assert_int_equal(text[strlen(text) - 1], '\n'); /* nothing after the last line */
	for (int w = 0; w < WRITERS; w++)
		assert_int_equal(next[w], RECORDS);
	free(text);
}

/* audit_event owns one reference in every path: written, discarded (no
 * log), refused (fields not an object). */
static void test_fields_reference_taken(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};
	struct audit *a = audit_open(f->path, true, &err);
	json_t *fields = json_pack("{s:s}", "tenant", "t");
	json_t *not_object = json_array();

	assert_non_null(a);
	json_incref(fields);
	assert_int_equal(audit_event(a, "service-reset", fields), 0);
	assert_int_equal(fields->refcount, 1);
	json_incref(fields);
	assert_int_equal(audit_event(NULL, "service-reset", fields), 0);
	assert_int_equal(fields->refcount, 1);
	json_incref(not_object);
	assert_int_equal(audit_event(a, "service-reset", not_object), -1);
	assert_int_equal(not_object->refcount, 1);
	json_decref(fields);
	json_decref(not_object);
	audit_close(a);
}

/* A child whose stderr is the write end of pipefd and that lives through
 * going past its file size limit (SIGXFSZ ignored): 0 in the child, its pid
 * in the parent. */
static pid_t fork_for_limits(int pipefd[2])
{
	assert_int_equal(pipe(pipefd), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (dup2(pipefd[1], 2) < 0)
			_exit(10);
		signal(SIGXFSZ, SIG_IGN);
		return 0;
	}
	close(pipefd[1]);
	return pid;
}

static void wait_exit_0(pid_t pid)
{
	int status;

	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* A write error (here: the file size limit, which also cuts one record
 * short, as a full disk would) fails the record, keeps the reference
 * promise, and is reported on stderr once, not per record; the recovery is
 * reported too, and the next record is a line of its own. */
static void test_write_error_reported_once(void **state)
{
	struct fixture *f = *state;
	int pipefd[2];

	/* stderr into a pipe: a file would be cut by the size limit too. */
	pid_t pid = fork_for_limits(pipefd);
	if (pid == 0) {
		struct ward_err err = {0};
		struct rlimit rl = {200, RLIM_INFINITY};
		struct audit *a = audit_open(f->path, false, &err);
		if (!a || setrlimit(RLIMIT_FSIZE, &rl) < 0)
			_exit(11);
		if (audit_event(a, "first", NULL) < 0) /* about 50 bytes: fits */
			_exit(12);
		for (int i = 0; i < 5; i++) {
			json_t *fields = json_pack("{s:s}", "pad",
						   "0123456789012345678901234567890"
						   "1234567890123456789012345678901"
						   "23456789012345678901234567890");
			json_incref(fields);
			if (audit_event(a, "too-big", fields) != -1)
				_exit(13);
			if (fields->refcount != 1)
				_exit(14);
			json_decref(fields);
		}
		rl.rlim_cur = RLIM_INFINITY;
		if (setrlimit(RLIMIT_FSIZE, &rl) < 0 || audit_event(a, "again", NULL) < 0)
			_exit(15);
		audit_close(a);
		_exit(0);
	}
	wait_exit_0(pid);

	char errors[4096];
	ssize_t n = read(pipefd[0], errors, sizeof(errors) - 1);
	assert_true(n > 0);
	errors[n] = '\0';
	close(pipefd[0]);
	assert_int_equal(count_lines(errors), 2);
	assert_non_null(strstr(errors, "write: File too large"));
	assert_non_null(strstr(errors, "writing again"));
	/* first, the fragment of the record cut short, then the five records
	 * held while failing (nothing lost), the end of the outage, again. */
	char *text = test_slurp(f->path);
	assert_int_equal(count_lines(text), 9);
	char *torn = strchr(text, '\n') + 1, *next = strchr(torn, '\n') + 1;
	assert_int_equal(torn - text + (next - 1 - torn), 200); /* cut at the limit */
	assert_non_null(strstr(text, "\"event\":\"first\"}\n{\"time\""));
	assert_null(json_loadb(torn, (size_t)(next - torn), 0, NULL));
	const char *want[] = {"too-big", "too-big",       "too-big", "too-big",
			      "too-big", "audit-resumed", "again"};
	for (size_t i = 0; i < 7; i++) {
		char *end = strchr(next, '\n');
		json_t *j = json_loadb(next, (size_t)(end - next), 0, NULL);
		assert_non_null(j);
		assert_string_equal(json_string_value(json_object_get(j, "event")), want[i]);
		if (i == 5) {
			assert_int_equal(json_integer_value(json_object_get(j, "held")), 5);
			assert_int_equal(json_integer_value(json_object_get(j, "dropped")), 0);
			assert_non_null(strstr(json_string_value(json_object_get(j, "error")),
					       "File too large"));
		}
		json_decref(j);
		next = end + 1;
	}
	free(text);
}

/* Every complete line of a file, parsed; count in *n. */
static json_t **records_of(const char *path, size_t *n)
{
	char *text = test_slurp(path);
	size_t cap = count_lines(text) + 1;
	json_t **v = calloc(cap, sizeof(*v));
	char *p = text;

	assert_non_null(v);
	*n = 0;
	for (char *end; (end = strchr(p, '\n')); p = end + 1) {
		v[*n] = json_loadb(p, (size_t)(end - p), 0, NULL);
		assert_non_null(v[*n]);
		(*n)++;
	}
	free(text);
	return v;
}

static void records_free(json_t **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		json_decref(v[i]);
	free(v);
}

static const char *event_of(json_t *rec)
{
	return json_string_value(json_object_get(rec, "event"));
}

/* A flood of refusals from one uid: the first `burst` recorded one by one,
 * every one counted in the summary; another uid has its own allowance;
 * ordinary records are never limited. */
static void test_refusals_rate_limited_per_uid(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};
	struct audit *a = audit_open(f->path, false, &err);

	assert_non_null(a);
	audit_configure(a, NULL,
			&(struct audit_limits){.refused_burst = 3, .refused_window_s = 60});
	for (int i = 0; i < 5000; i++)
		assert_int_equal(audit_refused(a, 4242, "control", json_pack("{s:i}", "n", i)), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(audit_refused(a, 7, "session-logon", json_pack("{s:i}", "n", i)),
				 0);
	for (int i = 0; i < 20; i++)
		assert_int_equal(
		    audit_event(a, "control", json_pack("{s:s}", "verdict", "allowed")), 0);
	for (int i = 0; i < 15; i++) /* root: every one */
		assert_int_equal(audit_refused(a, 0, "root-refused", NULL), 0);
	audit_close(a); /* the open windows' summaries */

	size_t n, of4242 = 0, of7 = 0, allowed = 0, summaries = 0, of_root = 0;
	json_t **v = records_of(f->path, &n);
	for (size_t i = 0; i < n; i++) {
		json_t *r = v[i];
		if (strcmp(event_of(r), "refused-summary") == 0) {
			summaries++;
			assert_int_equal(json_integer_value(json_object_get(r, "uid")), 4242);
			assert_int_equal(json_integer_value(json_object_get(r, "attempts")), 5000);
			assert_int_equal(json_integer_value(json_object_get(r, "recorded")), 3);
			assert_int_equal(json_integer_value(json_object_get(r, "not_recorded")),
					 4997);
			assert_int_equal(json_integer_value(json_object_get(r, "window_s")), 60);
			assert_string_equal(json_string_value(json_object_get(r, "message")),
					    "5000 refused attempts from uid 4242 in 60 s");
		} else if (json_object_get(r, "verdict")) {
			allowed++;
		} else if (strcmp(event_of(r), "root-refused") == 0) {
			of_root++;
		} else if (strcmp(event_of(r), "control") == 0) {
			assert_int_equal(json_integer_value(json_object_get(r, "n")), (int)of4242);
			of4242++;
		} else {
			of7++;
		}
	}
	records_free(v, n);
	assert_int_equal(of4242, 3);
	assert_int_equal(of7, 2); /* within its allowance: no summary */
	assert_int_equal(allowed, 20);
	assert_int_equal(summaries, 1);
	assert_int_equal(of_root, 15);
}

/* A window that ends starts a new allowance; the summary of the old one is
 * written when the next refusal (or the loop's timer) sees it ended. */
static void test_refusal_window_ends(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};
	struct audit *a = audit_open(f->path, false, &err);

	assert_non_null(a);
	audit_configure(a, NULL, &(struct audit_limits){.refused_burst = 1, .refused_window_s = 1});
	for (int i = 0; i < 4; i++)
		audit_refused(a, 99, "control", NULL);
	struct timespec ts = {1, 100 * 1000 * 1000};
	nanosleep(&ts, NULL);
	audit_refused(a, 99, "control", NULL); /* a new window: recorded */
	size_t n;
	json_t **v = records_of(f->path, &n);
	assert_int_equal(n, 3);
	assert_string_equal(event_of(v[0]), "control");
	assert_string_equal(event_of(v[1]), "refused-summary");
	assert_int_equal(json_integer_value(json_object_get(v[1], "attempts")), 4);
	assert_string_equal(event_of(v[2]), "control");
	records_free(v, n);
	audit_close(a);
}

/* Fail closed: once a record cannot be written, audit_ready() says so
 * (for the callers to refuse), records wait in memory, and all of them are
 * written, with the end of the outage, once writing works again. */
static void test_fail_closed_and_resume(void **state)
{
	struct fixture *f = *state;
	int pipefd[2];

	pid_t pid = fork_for_limits(pipefd);
	if (pid == 0) {
		struct ward_err err = {0};
		struct rlimit rl = {100, RLIM_INFINITY};
		struct audit *a = audit_open(f->path, false, &err);
		if (!a || audit_ready(a, &err) < 0 || setrlimit(RLIMIT_FSIZE, &rl) < 0)
			_exit(11);
		if (audit_event(a, "lost-space",
				json_pack("{s:s}", "pad",
					  "xxxxxxxxxxxxxxxxxxxxxx"
					  "xxxxxxxxxxxxxxxxxxxxxx"
					  "xxxxxxxxxxxxxxxxxxxxxx")) != -1)
			_exit(12);
		if (audit_ready(a, &err) != -1 || !strstr(err.msg, "audit log cannot be written"))
			_exit(13);
		json_t *st = audit_state(a);
		if (strcmp(json_string_value(json_object_get(st, "state")), "failing") != 0)
			_exit(14);
		json_decref(st);
		for (int i = 0; i < 10; i++)
			if (audit_event(a, "held", json_pack("{s:i}", "n", i)) != -1)
				_exit(15);
		rl.rlim_cur = RLIM_INFINITY;
		if (setrlimit(RLIMIT_FSIZE, &rl) < 0 || audit_ready(a, &err) < 0)
			_exit(16);
		st = audit_state(a);
		if (strcmp(json_string_value(json_object_get(st, "state")), "ok") != 0)
			_exit(17);
		json_decref(st);
		audit_close(a);
		_exit(0);
	}
	wait_exit_0(pid);
	close(pipefd[0]);

	/* The fragment cut at the limit, then lost-space whole, the ten held
	 * ones in order, and the end of the outage. */
	char *text = test_slurp(f->path);
	char *p = strchr(text, '\n') + 1;
	assert_int_equal(p - 1 - text, 100);
	size_t n = 0;
	for (char *end; (end = strchr(p, '\n')); p = end + 1, n++) {
		json_t *j = json_loadb(p, (size_t)(end - p), 0, NULL);
		assert_non_null(j);
		if (n == 0)
			assert_string_equal(event_of(j), "lost-space");
		else if (n <= 10)
			assert_int_equal(json_integer_value(json_object_get(j, "n")), (int)n - 1);
		else
			assert_string_equal(event_of(j), "audit-resumed");
		json_decref(j);
	}
	assert_int_equal(n, 12);
	free(text);
}

/* Rotation by size: every record is in exactly one file, whole, in order;
 * the rotated files are 0600 and none is removed. */
static void test_rotation_loses_nothing(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};
	struct audit *a = audit_open(f->path, false, &err);
	enum { N = 3000 };

	assert_non_null(a);
	audit_configure(
	    a, NULL,
	    &(struct audit_limits){.max_bytes = 16384, .refused_burst = 1, .refused_window_s = 60});
	for (int i = 0; i < N; i++)
		assert_int_equal(audit_event(a, "seq", json_pack("{s:i}", "n", i)), 0);
	audit_close(a);

	char cmd[256];
	snprintf(cmd, sizeof(cmd), "ls %s | grep -c '^audit.jsonl'", f->dir);
	FILE *ls = popen(cmd, "r");
	int files = 0;
	assert_non_null(ls);
	assert_int_equal(fscanf(ls, "%d", &files), 1);
	pclose(ls);
	assert_true(files > 10);

	/* Oldest first: the rotated names sort by time, the current is last. */
	snprintf(cmd, sizeof(cmd), "cd %s && ls audit.jsonl.2* | sort && echo audit.jsonl", f->dir);
	ls = popen(cmd, "r");
	assert_non_null(ls);
	char name[256], path[512];
	int next = 0;
	while (fgets(name, sizeof(name), ls)) {
		struct stat st;
		name[strcspn(name, "\n")] = '\0';
		snprintf(path, sizeof(path), "%s/%s", f->dir, name);
		assert_int_equal(lstat(path, &st), 0);
		assert_int_equal(st.st_mode & 07777, 0600);
		assert_true(st.st_size <= 16384);
		size_t n;
		json_t **v = records_of(path, &n);
		for (size_t i = 0; i < n; i++)
			assert_int_equal(json_integer_value(json_object_get(v[i], "n")), next++);
		records_free(v, n);
	}
	pclose(ls);
	assert_int_equal(next, N);
}

/* Per-turn mode: records are written at once (readers see them), the fsync
 * is left to audit_flush(). */
static void test_flush_mode(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};
	struct audit *a = audit_open(f->path, false, &err);

	assert_non_null(a);
	audit_flush(a); /* nothing written: nothing to do */
	assert_int_equal(audit_event(a, "one", NULL), 0);
	char *text = test_slurp(f->path);
	assert_int_equal(count_lines(text), 1);
	free(text);
	audit_flush(a);
	audit_flush(a);
	audit_close(a);
	audit_close(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_record_format, setup, test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_fields_cannot_replace_time, setup,
					    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_append_only, setup, test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_mode_0600, setup, test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_refuses_symlink, setup, test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_refuses_non_regular, setup, test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_refuses_foreign_owner, setup,
					    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_concurrent_writers, setup, test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_fields_reference_taken, setup,
					    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_write_error_reported_once, setup,
					    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_flush_mode, setup, test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_refusals_rate_limited_per_uid, setup,
					    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_refusal_window_ends, setup, test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_fail_closed_and_resume, setup,
					    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_rotation_loses_nothing, setup,
					    test_fixture_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
