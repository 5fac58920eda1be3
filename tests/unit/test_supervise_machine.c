/* Unit tests of the supervisor's state machine, through its launcher seam
 * (supervise.h): a fake launcher records starts and signals, and the tests
 * play the sandbox's part (running, exits). No root, no namespaces, no
 * cgroups: the real loop with short timers. Covered: restart after a
 * crash, backoff growth, the start limit, stop (graceful, then SIGKILL at
 * stop_timeout_s), reload (changed restarted, unchanged kept, removed
 * stopped, added started) and `after` order (start and stop). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/supervise-internal.h"
#include "tmpdir.h"

#define EXITED(code) ((code) << 8)
#define KILLED(sig)  (sig)

/* ---- the fake launcher ---- */

struct run {
	struct sandbox *sb;
	char service[64];
	uint64_t started_ms;
	int signals[8];
	size_t n_signals;
	bool released;
};

static struct {
	struct run runs[128];
	size_t n_runs;
	int cgroups; /* created minus destroyed */
} fake;

static int cg_token; /* what the fake cgroups point at: never read */

static int fake_start(struct sandbox *sb, const struct launch_spec *spec, struct ward_err *err)
{
	struct run *r;

	if (fake.n_runs == sizeof(fake.runs) / sizeof(*fake.runs))
		return ward_err_set(err, 0, "fake: too many runs");
	r = &fake.runs[fake.n_runs++];
	*r = (struct run){.sb = sb, .started_ms = loop_now_ms()};
	(void)snprintf(r->service, sizeof(r->service), "%s", spec->service->name);
	sb->h.pid = (pid_t)(100000 + fake.n_runs);
	return 0;
}

/* cppcheck-suppress constParameter ; the type supervisor_launcher.signal has */
static int fake_signal(struct sandbox *sb, int sig)
{
	for (size_t i = fake.n_runs; i-- > 0;)
		if (fake.runs[i].sb == sb && !fake.runs[i].released) {
			struct run *r = &fake.runs[i];
			if (r->n_signals < sizeof(r->signals) / sizeof(*r->signals))
				r->signals[r->n_signals++] = sig;
			return 0;
		}
	return -1;
}

static void fake_release(struct sandbox *sb)
{
	for (size_t i = 0; i < fake.n_runs; i++)
		if (fake.runs[i].sb == sb)
			fake.runs[i].released = true;
	sb->h.pid = -1;
}

static struct cgroup *fake_cgroup_create(const char *tenant, const char *service,
					 const struct ward_limits *l, struct ward_err *err)
{
	(void)tenant;
	(void)service;
	(void)l;
	(void)err;
	fake.cgroups++;
	return (struct cgroup *)&cg_token;
}

static int fake_cgroup_destroy(struct cgroup *cg, struct ward_err *err)
{
	(void)err;
	assert_ptr_equal(cg, &cg_token);
	fake.cgroups--;
	return 0;
}

static int fake_cgroup_stats(struct cgroup *cg, struct cgroup_stats *st)
{
	(void)cg;
	*st = (struct cgroup_stats){0};
	return 0;
}

static int fake_cgroup_kill(struct cgroup *cg, struct ward_err *err)
{
	(void)cg;
	(void)err;
	return 0;
}

static int fake_tenant_limits(const char *tenant, const struct ward_limits *cap,
			      struct ward_err *err)
{
	(void)tenant;
	(void)cap;
	(void)err;
	return 0;
}

static const struct supervisor_launcher fake_launcher = {
    .start = fake_start,
    .signal = fake_signal,
    .release = fake_release,
    .cgroup_create = fake_cgroup_create,
    .cgroup_destroy = fake_cgroup_destroy,
    .cgroup_stats = fake_cgroup_stats,
    .cgroup_kill = fake_cgroup_kill,
    .tenant_limits = fake_tenant_limits,
};

/* The sandbox's part: its init reports the service running, or its end. */
static void sandbox_running(struct run *r)
{
	struct launch_event ev = {.kind = LAUNCH_EVENT_PID, .pid = r->sb->h.pid + 1};

	r->sb->event(r->sb, &ev);
	ev = (struct launch_event){.kind = LAUNCH_EVENT_RUNNING};
	r->sb->event(r->sb, &ev);
}

static void sandbox_exit(struct run *r, int status)
{
	struct launch_event ev = {.kind = LAUNCH_EVENT_EXITED, .status = status};
	struct sandbox *sb = r->sb;

	assert_false(r->released);
	sb->event(sb, &ev);
	/* As the real launcher: reaped and released before gone. */
	r->released = true;
	sb->h.pid = -1;
	sb->gone(sb, EXITED(0));
}

/* ---- the harness ---- */

struct h {
	char dir[64];
	char log_dir[96], state_dir[96], data_dir[96], audit_path[96];
	struct ward_config cfg;
	struct loop *loop;
	struct audit *audit;
	struct supervisor *s;
};

static int setup(void **state)
{
	struct h *h = calloc(1, sizeof(*h));
	struct ward_err err = {0};

	assert_non_null(h);
	memset(&fake, 0, sizeof(fake));
	test_tmpdir_make(h->dir, sizeof(h->dir), "supervise");
	(void)snprintf(h->log_dir, sizeof(h->log_dir), "%s/log", h->dir);
	(void)snprintf(h->state_dir, sizeof(h->state_dir), "%s/state", h->dir);
	(void)snprintf(h->data_dir, sizeof(h->data_dir), "%s/data", h->dir);
	(void)snprintf(h->audit_path, sizeof(h->audit_path), "%s/audit.log", h->dir);
	assert_int_equal(mkdir(h->log_dir, 0700), 0);
	assert_int_equal(mkdir(h->state_dir, 0700), 0);
	h->cfg = (struct ward_config){.log_dir = h->log_dir,
				      .state_dir = h->state_dir,
				      .data_dir = h->data_dir,
				      .tenants_dir = h->dir,
				      .log_max_bytes = 1 << 20,
				      .log_keep = 1};
	h->loop = loop_new();
	assert_non_null(h->loop);
	h->audit = audit_open(h->audit_path, false, &err);
	assert_non_null(h->audit);
	h->s = supervisor_new(&h->cfg, h->loop, h->audit);
	assert_non_null(h->s);
	supervisor_set_launcher(h->s, &fake_launcher);
	*state = h;
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int teardown(void **state)
{
	struct h *h = *state;

	supervisor_free(h->s);
	audit_close(h->audit);
	loop_free(h->loop);
	/* Every cgroup the supervisor made, it destroyed. */
	assert_int_equal(fake.cgroups, 0);
	(void)nftw(h->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(h);
	return 0;
}

/* "{'tenant': ..." with ' for " (as test_profile.c does). */
static struct ward_tenant *profile(const char *name, const char *services)
{
	char json[4096];
	struct ward_tenant *t = NULL;
	struct ward_diag diag = {0};
	struct profile_options opts = {0};

	(void)snprintf(json, sizeof(json),
		       "{'tenant': '%s', 'ids': {'uid': 900000000, 'count': 65536}, "
		       "'services': {%s}}",
		       name, services);
	for (char *p = json; *p; p++)
		if (*p == '\'')
			*p = '"';
	if (profile_load_buffer("test.json", json, strlen(json), &opts, &t, &diag) < 0) {
		for (size_t i = 0; i < diag.n; i++)
			fprintf(stderr, "%s: %s\n", diag.v[i].path, diag.v[i].message);
		fail_msg("profile did not load");
	}
	diag_free(&diag);
	return t;
}

/* Takes the profiles; as a reload would find them in the tenants dir. */
static json_t *reload(struct h *h, struct ward_tenant *t)
{
	struct loaded l = {.profile = t};
	json_t *report;

	(void)snprintf(l.name, sizeof(l.name), "%s", t->name);
	report = supervisor_reload_loaded(h->s, &l, 1);
	assert_null(l.profile);
	return report;
}

static void add(struct h *h, struct ward_tenant *t)
{
	json_decref(reload(h, t));
}

struct wait {
	struct h *h;
	bool (*pred)(struct h *h, const void *arg);
	const void *arg;
	uint64_t deadline;
	bool met;
};

static void on_poll(struct loop *l, void *ud)
{
	struct wait *w = ud;

	if (w->pred && w->pred(w->h, w->arg))
		w->met = true;
	if (w->met || loop_now_ms() >= w->deadline) {
		loop_quit(l);
		return;
	}
	assert_non_null(loop_timer_add(l, 2, on_poll, w));
}

/* Runs the loop until pred holds or ms pass; whether it held. */
static bool run_until(struct h *h, bool (*pred)(struct h *, const void *), const void *arg,
		      uint64_t ms)
{
	struct wait w = {.h = h, .pred = pred, .arg = arg, .deadline = loop_now_ms() + ms};

	if (pred && pred(h, arg))
		return true;
	assert_non_null(loop_timer_add(h->loop, 2, on_poll, &w));
	assert_int_equal(loop_run(h->loop), 0);
	return w.met;
}

static void run_for(struct h *h, uint64_t ms)
{
	(void)run_until(h, NULL, NULL, ms);
}

static enum service_state svc_state(struct h *h, const char *tenant, const char *service)
{
	struct service_view view;
	struct ward_err err = {0};

	if (supervisor_service_view(h->s, tenant, service, &view, &err) < 0)
		fail_msg("%s", err.msg);
	return view.state;
}

static size_t n_runs_of(const char *service)
{
	size_t n = 0;

	for (size_t i = 0; i < fake.n_runs; i++)
		n += strcmp(fake.runs[i].service, service) == 0;
	return n;
}

/* The latest run of the service, or NULL. */
static struct run *last_run(const char *service)
{
	for (size_t i = fake.n_runs; i-- > 0;)
		if (strcmp(fake.runs[i].service, service) == 0)
			return &fake.runs[i];
	return NULL;
}

static bool has_runs(struct h *h, const void *arg)
{
	const size_t *want = arg;

	(void)h;
	return fake.n_runs >= *want;
}

static bool signalled(struct h *h, const void *arg)
{
	const struct run *r = arg;

	(void)h;
	return r->n_signals > 0 && r->signals[r->n_signals - 1] == SIGKILL;
}

/* The numbers of the audit's "service-restart" records, in order. */
static size_t restart_delays(struct h *h, uint64_t *out, size_t max)
{
	FILE *f = fopen(h->audit_path, "r");
	char line[4096];
	size_t n = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f) && n < max) {
		json_t *o = json_loads(line, 0, NULL);
		const char *ev = json_string_value(json_object_get(o, "event"));
		if (ev && strcmp(ev, "service-restart") == 0)
			out[n++] = (uint64_t)json_integer_value(json_object_get(o, "delay_ms"));
		json_decref(o);
	}
	fclose(f);
	return n;
}

static bool audit_has(struct h *h, const char *event, const char *key, json_t *value)
{
	FILE *f = fopen(h->audit_path, "r");
	char line[4096];
	bool found = false;

	assert_non_null(f);
	while (!found && fgets(line, sizeof(line), f)) {
		json_t *o = json_loads(line, 0, NULL);
		const char *ev = json_string_value(json_object_get(o, "event"));
		found = ev && strcmp(ev, event) == 0 &&
			(!key || json_equal(json_object_get(o, key), value));
		json_decref(o);
	}
	fclose(f);
	json_decref(value);
	return found;
}

static bool in_list(json_t *report, const char *key, const char *entry)
{
	json_t *list = json_object_get(report, key);

	for (size_t i = 0; i < json_array_size(list); i++)
		if (strcmp(json_string_value(json_array_get(list, i)), entry) == 0)
			return true;
	return false;
}

#define RESTART(on, delay, max, burst)                                                             \
	"'policy': [{'restart': {'on': '" on "', 'delay_ms': " #delay ", 'max_delay_ms': " #max    \
	", 'burst': " #burst ", 'interval_s': 60}, 'stop_timeout_s': 1}]"

/* ---- the tests ---- */

static void test_restart_after_crash(void **state)
{
	struct h *h = *state;
	size_t two = 2;

	add(h, profile("t", "'a': {'exec': ['/bin/a'], " RESTART("failure", 10, 1000, 5) "}"));
	assert_true(run_until(h, has_runs, &(size_t){1}, 1000));
	assert_int_equal(svc_state(h, "t", "a"), SERVICE_STARTING);
	sandbox_running(last_run("a"));
	assert_int_equal(svc_state(h, "t", "a"), SERVICE_RUNNING);

	sandbox_exit(last_run("a"), KILLED(SIGSEGV));
	assert_int_equal(svc_state(h, "t", "a"), SERVICE_BACKOFF);
	assert_true(run_until(h, has_runs, &two, 1000));
	assert_int_equal(svc_state(h, "t", "a"), SERVICE_STARTING);
	assert_true(last_run("a")->started_ms - fake.runs[0].started_ms >= 10);

	/* on-failure: a clean exit is the end. */
	sandbox_running(last_run("a"));
	sandbox_exit(last_run("a"), EXITED(0));
	assert_int_equal(svc_state(h, "t", "a"), SERVICE_STOPPED);
	run_for(h, 50);
	assert_int_equal(n_runs_of("a"), 2);
}

static void test_backoff_grows(void **state)
{
	struct h *h = *state;
	uint64_t delays[8];
	uint64_t gaps[4];

	add(h, profile("t", "'a': {'exec': ['/bin/a'], " RESTART("always", 20, 80, 100) "}"));
	for (size_t i = 1; i <= 5; i++) {
		assert_true(run_until(h, has_runs, &i, 2000));
		sandbox_exit(last_run("a"), EXITED(1));
	}
	/* Doubled per consecutive restart, capped at max_delay_ms. */
	assert_int_equal(restart_delays(h, delays, 8), 5);
	assert_int_equal(delays[0], 20);
	assert_int_equal(delays[1], 40);
	assert_int_equal(delays[2], 80);
	assert_int_equal(delays[3], 80);
	assert_int_equal(delays[4], 80);
	/* And the timers really wait that long. */
	for (size_t i = 0; i < 4; i++) {
		gaps[i] = fake.runs[i + 1].started_ms - fake.runs[i].started_ms;
		assert_true(gaps[i] >= delays[i]);
	}
}

static void test_start_limit(void **state)
{
	struct h *h = *state;
	size_t three = 3;

	add(h, profile("t", "'a': {'exec': ['/bin/a'], " RESTART("always", 1, 1, 3) "}"));
	for (size_t i = 1; i <= 3; i++) {
		assert_true(run_until(h, has_runs, &i, 1000));
		sandbox_running(last_run("a"));
		sandbox_exit(last_run("a"), EXITED(1));
	}
	/* The 4th start would be the 4th within the window: failed, for good. */
	run_for(h, 50);
	assert_int_equal(svc_state(h, "t", "a"), SERVICE_FAILED);
	assert_int_equal(n_runs_of("a"), three);
	assert_true(audit_has(h, "service-failed", "reason",
			      json_string("start limit: 3 starts within 60 s")));

	/* An operator's start forgets the history. */
	assert_int_equal(supervisor_start(h->s, "t", "a", &(struct ward_err){0}), 0);
	assert_true(run_until(h, has_runs, &(size_t){4}, 1000));
	assert_int_equal(svc_state(h, "t", "a"), SERVICE_STARTING);
}

static void test_stop_graceful(void **state)
{
	struct h *h = *state;
	struct run *r;

	add(h, profile("t", "'a': {'exec': ['/bin/a'], " RESTART("always", 1, 1, 5) "}"));
	assert_true(run_until(h, has_runs, &(size_t){1}, 1000));
	r = last_run("a");
	sandbox_running(r);
	assert_int_equal(supervisor_stop(h->s, "t", "a", &(struct ward_err){0}), 0);
	assert_int_equal(svc_state(h, "t", "a"), SERVICE_STOPPING);
	assert_int_equal(r->n_signals, 1);
	assert_int_equal(r->signals[0], SIGTERM);
	sandbox_exit(r, KILLED(SIGTERM));
	assert_int_equal(svc_state(h, "t", "a"), SERVICE_STOPPED);
	/* Stopped by the operator: no restart, and no SIGKILL later. */
	run_for(h, 30);
	assert_int_equal(n_runs_of("a"), 1);
	assert_true(audit_has(h, "service-stop", "killed", json_false()));
}

static void test_stop_kills_after_timeout(void **state)
{
	struct h *h = *state;
	struct run *r;
	uint64_t t0;

	add(h, profile("t", "'a': {'exec': ['/bin/a'], " RESTART("always", 1, 1, 5) "}"));
	assert_true(run_until(h, has_runs, &(size_t){1}, 1000));
	r = last_run("a");
	sandbox_running(r);
	t0 = loop_now_ms();
	assert_int_equal(supervisor_stop(h->s, "t", "a", &(struct ward_err){0}), 0);
	assert_int_equal(r->signals[0], SIGTERM);
	/* The service ignores SIGTERM: SIGKILL at stop_timeout_s (1 s). */
	run_for(h, 300);
	assert_int_equal(r->n_signals, 1);
	assert_true(run_until(h, signalled, r, 3000));
	assert_true(loop_now_ms() - t0 >= 1000);
	assert_int_equal(svc_state(h, "t", "a"), SERVICE_STOPPING);
	sandbox_exit(r, KILLED(SIGKILL));
	assert_int_equal(svc_state(h, "t", "a"), SERVICE_STOPPED);
	assert_true(audit_has(h, "service-stop", "killed", json_true()));
}

static void test_reload(void **state)
{
	struct h *h = *state;
	struct run *a, *b, *c;
	json_t *rep;
	struct service_view view;
	struct ward_err err = {0};

	add(h, profile("t", "'a': {'exec': ['/bin/a']}, 'b': {'exec': ['/bin/b']}, "
			    "'c': {'exec': ['/bin/c']}"));
	assert_true(run_until(h, has_runs, &(size_t){3}, 1000));
	a = last_run("a");
	b = last_run("b");
	c = last_run("c");
	sandbox_running(a);
	sandbox_running(b);
	sandbox_running(c);

	rep = reload(h, profile("t", "'a': {'exec': ['/bin/a']}, 'b': {'exec': ['/bin/b2']}, "
				     "'d': {'exec': ['/bin/d']}"));
	assert_true(in_list(rep, "changed", "t/b"));
	assert_true(in_list(rep, "removed", "t/c"));
	assert_true(in_list(rep, "added", "t/d"));
	assert_false(in_list(rep, "changed", "t/a"));
	json_decref(rep);

	/* Unchanged: untouched. Changed and removed: stopped gracefully. */
	assert_int_equal(a->n_signals, 0);
	assert_int_equal(b->n_signals, 1);
	assert_int_equal(b->signals[0], SIGTERM);
	assert_int_equal(c->n_signals, 1);
	assert_int_equal(c->signals[0], SIGTERM);
	assert_true(run_until(h, has_runs, &(size_t){4}, 1000));
	assert_non_null(last_run("d"));

	/* The changed one starts again once down; the removed one goes. */
	sandbox_exit(b, KILLED(SIGTERM));
	sandbox_exit(c, KILLED(SIGTERM));
	assert_true(run_until(h, has_runs, &(size_t){5}, 1000));
	assert_int_equal(n_runs_of("b"), 2);
	assert_ptr_equal(last_run("b")->sb, b->sb);
	assert_int_equal(n_runs_of("c"), 1);
	assert_int_equal(n_runs_of("a"), 1);
	assert_int_equal(supervisor_service_view(h->s, "t", "c", &view, &err), -1);
	assert_int_equal(svc_state(h, "t", "a"), SERVICE_RUNNING);
	assert_int_equal(svc_state(h, "t", "b"), SERVICE_STARTING);
	assert_int_equal(svc_state(h, "t", "d"), SERVICE_STARTING);
}

static void test_after_order(void **state)
{
	struct h *h = *state;
	struct run *db, *app, *web;

	add(h, profile("t", "'web': {'exec': ['/bin/w'], 'after': ['app']}, "
			    "'db': {'exec': ['/bin/d']}, "
			    "'app': {'exec': ['/bin/a'], 'after': ['db']}"));
	/* Only db starts; app waits for it to run, web for app. */
	assert_true(run_until(h, has_runs, &(size_t){1}, 1000));
	run_for(h, 30);
	assert_int_equal(fake.n_runs, 1);
	db = last_run("db");
	assert_non_null(db);
	assert_int_equal(svc_state(h, "t", "app"), SERVICE_STOPPED);
	sandbox_running(db);
	assert_int_equal(fake.n_runs, 2);
	app = last_run("app");
	assert_non_null(app);
	assert_int_equal(svc_state(h, "t", "web"), SERVICE_STOPPED);
	sandbox_running(app);
	web = last_run("web");
	assert_non_null(web);
	sandbox_running(web);

	/* Stopping the tenant: dependents first, each once the one after it
	 * is down. */
	assert_int_equal(supervisor_stop(h->s, "t", NULL, &(struct ward_err){0}), 0);
	assert_int_equal(web->n_signals, 1);
	assert_int_equal(app->n_signals, 0);
	assert_int_equal(db->n_signals, 0);
	sandbox_exit(web, KILLED(SIGTERM));
	assert_int_equal(app->n_signals, 1);
	assert_int_equal(db->n_signals, 0);
	sandbox_exit(app, KILLED(SIGTERM));
	assert_int_equal(db->n_signals, 1);
	sandbox_exit(db, KILLED(SIGTERM));
	assert_int_equal(svc_state(h, "t", "db"), SERVICE_STOPPED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_restart_after_crash, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_backoff_grows, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_start_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stop_graceful, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stop_kills_after_timeout, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_after_order, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
