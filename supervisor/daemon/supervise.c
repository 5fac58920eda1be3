/* The supervisor's state machine: every tenant's services, each started in
 * `after` order and stopped in reverse, restarted by its policy (restart.c).
 * It knows nothing of namespaces: the launcher (supervise.h; the real one
 * is supervise-launcher.c) builds the sandboxes, this file decides when.
 * Its neighbours: output.c, supervise-net.c, tenants-dir.c, reload.c,
 * operator.c, status.c. Everything runs on the loop; nothing blocks. */
#include "daemon/supervise.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "basic/log.h"
#include "daemon/logs.h"
#include "daemon/prepare.h"
#include "daemon/supervise-internal.h"
#include "sandbox/quota.h"

/* ---- small helpers ---- */

void audit_svc(struct svc *v, const char *event, json_t *fields)
{
	if (!fields)
		fields = json_object();
	json_object_set_new(fields, "tenant", json_string(v->tenant->profile->name));
	json_object_set_new(fields, "service", json_string(v->def->name));
	audit_event(v->tenant->sup->audit, event, fields);
}

void svc_set_state(struct svc *v, enum service_state s)
{
	v->state = s;
	v->since_ms = loop_now_ms();
}

void svc_cancel_timer(struct svc *v)
{
	if (v->timer) {
		loop_timer_cancel(v->tenant->sup->loop, v->timer);
		v->timer = NULL;
	}
}

struct svc *tenant_svc(struct tenant_rt *t, const char *name)
{
	for (size_t i = 0; i < t->n_svcs; i++)
		if (strcmp(t->svcs[i]->def->name, name) == 0)
			return t->svcs[i];
	return NULL;
}

struct tenant_rt *find_tenant(struct supervisor *s, const char *name)
{
	for (struct tenant_rt *t = s->tenants; t; t = t->next)
		if (!t->removing && strcmp(t->profile->name, name) == 0)
			return t;
	return NULL;
}

bool svc_active(const struct svc *v)
{
	return v->state == SERVICE_STARTING || v->state == SERVICE_RUNNING ||
	       v->state == SERVICE_STOPPING;
}

static void svc_try_start(struct svc *v);
static void supervisor_check_shutdown(struct supervisor *s);

static void svc_drop_cgroup(struct svc *v)
{
	struct ward_err err = {0};

	if (!v->cg)
		return;
	if (v->tenant->sup->launcher->cgroup_destroy(v->cg, &err) < 0)
		log_service(v->tenant->profile->name, v->def->name, "cgroup: %s", err.msg);
	v->cg = NULL;
}

/* ---- the sandbox's events ---- */

static struct svc *svc_of(struct sandbox *sb)
{
	return (struct svc *)((char *)sb - offsetof(struct svc, sb));
}

/* What the sandbox's init says, in order (the launcher reads it). */
static void svc_on_event(struct sandbox *sb, const struct launch_event *ev)
{
	struct svc *v = svc_of(sb);

	switch (ev->kind) {
	case LAUNCH_EVENT_PID:
		v->service_pid = ev->pid;
		break;
	case LAUNCH_EVENT_RUNNING:
		if (v->state == SERVICE_STARTING) {
			svc_set_state(v, SERVICE_RUNNING);
			audit_svc(v, "service-start",
				  json_pack("{s:i}", "pid", (int)v->service_pid));
			tenant_progress(v->tenant);
		}
		break;
	case LAUNCH_EVENT_FAILED:
		(void)snprintf(v->start_error, sizeof(v->start_error), "%s", ev->message);
		break;
	case LAUNCH_EVENT_EXITED:
		v->exit_seen = true;
		v->exit_status = ev->status;
		break;
	case LAUNCH_EVENT_GONE:
		break; /* the launcher stops reading; the init's exit follows */
	}
}

static void svc_schedule_restart(struct svc *v);
static void svc_enter_failed(struct svc *v, const char *reason);

/* After the init's exit: whatever is left in the service's cgroup is
 * killed. Returns the OOM kills in the cgroup during this run. */
static uint64_t svc_reap_cgroup(struct svc *v)
{
	struct supervisor *s = v->tenant->sup;
	struct cgroup_stats cs = {0};
	struct ward_err err = {0};

	if (!v->cg)
		return 0;
	/* The pid namespace died with the init; the cgroup makes sure. */
	if (s->launcher->cgroup_stats(v->cg, &cs) == 0 && cs.pids_current > 0 &&
	    s->launcher->cgroup_kill(v->cg, &err) < 0)
		log_service(v->tenant->profile->name, v->def->name, "%s", err.msg);
	return cs.oom_kills > v->oom_base ? cs.oom_kills - v->oom_base : 0;
}

/* v->last_exit for a run the OOM killer took part in. */
static void svc_oom_reason(struct svc *v, int st, uint64_t oom_kills)
{
	if (WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) {
		(void)snprintf(v->last_exit, sizeof(v->last_exit),
			       "killed by the OOM killer (memory limit)");
	} else {
		char how[32];

		memcpy(how, v->last_exit, sizeof(how) - 1);
		how[sizeof(how) - 1] = '\0';
		(void)snprintf(v->last_exit, sizeof(v->last_exit),
			       "%s after the OOM killer killed %" PRIu64
			       " of its processes (memory limit)",
			       how, oom_kills);
	}
}

/* Records the exit of a service that ran (last_exit, the audit log).
 * Returns the status to judge it by. */
static int svc_record_exit(struct svc *v, int st, uint64_t oom_kills)
{
	int real = st; /* what the main process did, for the record */

	exit_reason(st, v->last_exit, sizeof(v->last_exit));
	if (oom_kills) {
		svc_oom_reason(v, st, oom_kills);
		/* An OOM kill is a failure whatever the main process did:
		 * the verdict (restart policy, "clean") counts it as a kill,
		 * the record keeps the exit as it was, not a SIGKILL the
		 * main process never got. */
		if (exit_is_clean(st))
			st = SIGKILL;
	}
	audit_svc(v, "service-exit",
		  json_pack("{s:i, s:s, s:o, s:o, s:b, s:b, s:I}", "pid", (int)v->service_pid,
			    "status", v->last_exit, "code",
			    WIFEXITED(real) ? json_integer(WEXITSTATUS(real)) : json_null(),
			    "signal",
			    WIFSIGNALED(real) ? json_integer(WTERMSIG(real)) : json_null(),
			    "core_dumped", WIFSIGNALED(real) && WCOREDUMP(real), "clean",
			    exit_is_clean(st), "oom_kills", (json_int_t)oom_kills));
	if (oom_kills)
		audit_svc(v, "service-oom",
			  json_pack("{s:i, s:I}", "pid", (int)v->service_pid, "oom_kills",
				    (json_int_t)oom_kills));
	return st;
}

/* What comes after the run: stopped, a restart, or failed. */
static void svc_after_run(struct svc *v, bool was_stopping, bool start_failed, int st)
{
	if (was_stopping || !v->want_running) {
		svc_set_state(v, SERVICE_STOPPED);
		if (was_stopping) {
			static const char *const by[] = {"operator", "shutdown", "reload"};
			audit_svc(
			    v, "service-stop",
			    json_pack("{s:s, s:b}", "by", by[v->stop_by], "killed", v->killed));
		}
		v->killed = false;
	} else if (restart_wanted(v->def->policy.restart.on, st) || start_failed) {
		if (start_failed && v->def->policy.restart.on == RESTART_NEVER)
			svc_enter_failed(v, "start failed and restart.on is never");
		else
			svc_schedule_restart(v);
	} else {
		svc_set_state(v, SERVICE_STOPPED);
		v->want_running = false;
	}
}

/* Kept through a backoff; gone once the service is down for good. */
static void svc_release_if_down(struct svc *v)
{
	if (v->state != SERVICE_STOPPED && v->state != SERVICE_FAILED)
		return;
	svc_drop_cgroup(v);
	/* Before its elements can go (here, with its tenant, or with
	 * the table at shutdown): the counter is the evidence. */
	svc_audit_drops(v);
	if ((!v->want_running && v->after_stop != AFTER_STOP_START) || v->state == SERVICE_FAILED)
		svc_fw_uninstall(v);
}

/* The sandbox is gone (its init exited and was reaped, the launcher has
 * released it): decide what comes next. */
static void svc_sandbox_gone(struct sandbox *sb, int init_status)
{
	struct svc *v = svc_of(sb);
	struct supervisor *s = v->tenant->sup;
	int st = v->exit_seen ? v->exit_status : init_status;
	bool start_failed = !v->exit_seen && v->start_error[0];
	bool was_stopping = v->state == SERVICE_STOPPING;
	uint64_t oom_kills; /* OOM kills in the cgroup during this run */

	svc_cancel_timer(v);
	/* The pid namespace is gone, so is every writer of the pipe: what is
	 * left in it is the last output. */
	svc_drain_output(v);
	oom_kills = svc_reap_cgroup(v);
	if (start_failed) {
		(void)snprintf(v->last_exit, sizeof(v->last_exit), "start failed");
		audit_svc(v, "service-start-failed", json_pack("{s:s}", "error", v->start_error));
		log_service(v->tenant->profile->name, v->def->name, "%s", v->start_error);
		st = 0x100; /* as "exited 1": a failed start is a failure */
	} else if (!v->exit_seen && !v->service_pid) {
		/* Killed while its sandbox was being built (a stop during
		 * start): no service ran, so there is no exit to record. */
		(void)snprintf(v->last_exit, sizeof(v->last_exit), "stopped while starting");
	} else {
		st = svc_record_exit(v, st, oom_kills);
	}
	v->service_pid = 0;
	v->exit_seen = false;
	v->start_error[0] = '\0';

	svc_after_run(v, was_stopping, start_failed, st);
	svc_release_if_down(v);
	tenant_progress(v->tenant);
	supervisor_check_shutdown(s);
}

/* ---- starting ---- */

static void svc_enter_failed(struct svc *v, const char *reason)
{
	svc_set_state(v, SERVICE_FAILED);
	svc_drop_cgroup(v);
	svc_fw_uninstall(v);
	audit_svc(v, "service-failed", json_pack("{s:s}", "reason", reason));
	log_service(v->tenant->profile->name, v->def->name, "failed: %s", reason);
}

/* Prepares the run (prepare.c) and starts its sandbox through the
 * launcher, which watches it until svc_sandbox_gone. */
static int svc_launch(struct svc *v, struct ward_err *err)
{
	struct supervisor *s = v->tenant->sup;
	const struct supervisor_launcher *L = s->launcher;
	const struct ward_tenant *t = v->tenant->profile;
	struct launch_paths paths;
	bool net = tenant_has_net(v->tenant);
	int out_w = -1;
	int r;

	if (prepare_paths(s->cfg->data_dir, s->cfg->state_dir, t->name, &paths, err) < 0)
		return -1;
	if (v->def->policy.filesystem.data && prepare_data_dir(paths.data_dir, t, err) < 0)
		return -1;
	/* Compiled once per definition, kept for every restart. */
	if (!v->prog_ready) {
		if (prepare_seccomp(&v->def->policy, paths.cache_dir, &v->prog, err) < 0)
			return -1;
		v->prog_ready = true;
	}
	if (v->cg && v->cg_stale)
		svc_drop_cgroup(v);
	v->cg_stale = false;
	if (!v->cg) {
		v->cg = L->cgroup_create(t->name, v->def->name, &v->def->policy.limits, err);
		if (!v->cg)
			return ward_err_wrap(err, "cgroup");
	}
	{
		struct cgroup_stats cs = {0};
		L->cgroup_stats(v->cg, &cs);
		v->oom_base = cs.oom_kills;
	}
	if (net && svc_net_prepare(v, err) < 0)
		return -1;
	if (svc_open_output(v, &out_w, err) < 0)
		return -1;
	{
		struct launch_spec spec = {
		    .tenant = t,
		    .service = v->def,
		    .policy = &v->def->policy,
		    .data_dir = paths.data_dir,
		    .seccomp = &v->prog,
		    .cgroup = v->cg,
		    .before_go = net ? netlink_veth_before_go : NULL,
		    .before_go_ud = &v->net.veth.hook,
		    .stdio = {s->devnull, out_w, out_w},
		};
		r = L->start(&v->sb, &spec, err);
	}
	close(out_w);
	if (r < 0) {
		svc_close_output(v);
		return -1;
	}
	return 0;
}

static bool deps_running(struct svc *v)
{
	for (size_t i = 0; i < v->def->n_after; i++) {
		struct svc *d = tenant_svc(v->tenant, v->def->after[i]);
		if (d && d->state != SERVICE_RUNNING)
			return false;
	}
	return true;
}

/* Starts now if its `after` services run; otherwise tenant_progress starts
 * it when they do. */
static void svc_try_start(struct svc *v)
{
	struct ward_err err = {0};
	uint64_t now = loop_now_ms();

	if (v->tenant->sup->shutting_down || v->tenant->removing || !v->want_running)
		return;
	/* Only from stopped: a service in backoff waits for its timer. */
	if (v->state != SERVICE_STOPPED)
		return;
	if (!deps_running(v))
		return;
	/* The host end of its veth keeps its name: the previous sandbox's
	 * link must be gone first. The kernel removes it with the namespace
	 * (batched, cheap); on_link_gone starts the service then. */
	if (svc_link_pending(v))
		return;
	svc_cancel_timer(v);
	if (start_limit_hit(&v->hist, &v->def->policy.restart, now)) {
		char reason[128];

		(void)snprintf(reason, sizeof(reason), "start limit: %u starts within %u s",
			       v->def->policy.restart.burst, v->def->policy.restart.interval_s);
		svc_enter_failed(v, reason);
		return;
	}
	remember_start(&v->hist, now);
	v->started_ms = now;
	if (svc_launch(v, &err) < 0) {
		(void)snprintf(v->last_exit, sizeof(v->last_exit), "start failed");
		audit_svc(v, "service-start-failed", json_pack("{s:s}", "error", err.msg));
		log_service(v->tenant->profile->name, v->def->name, "%s", err.msg);
		/* Treated like a failed run: the restart policy applies, and
		 * the start limit ends a start that can never work. */
		if (v->def->policy.restart.on == RESTART_NEVER)
			svc_enter_failed(v, "start failed and restart.on is never");
		else
			svc_schedule_restart(v);
		return;
	}
	svc_set_state(v, SERVICE_STARTING);
}

static void on_restart_timer(struct loop *l, void *ud)
{
	struct svc *v = ud;

	(void)l;
	v->timer = NULL;
	svc_set_state(v, SERVICE_STOPPED);
	svc_try_start(v);
}

static void svc_schedule_restart(struct svc *v)
{
	const struct ward_restart *r = &v->def->policy.restart;
	uint64_t delay;

	/* A service that stayed up longer than the window starts over. */
	if (v->started_ms && loop_now_ms() - v->started_ms > (uint64_t)r->interval_s * 1000)
		v->hist.consecutive = 0;
	v->hist.consecutive++;
	v->hist.restarts++;
	delay = restart_delay_ms(r, v->hist.consecutive);
	svc_set_state(v, SERVICE_BACKOFF);
	audit_svc(v, "service-restart",
		  json_pack("{s:I, s:i}", "delay_ms", (json_int_t)delay, "restarts",
			    (int)v->hist.restarts));
	v->timer = loop_timer_add(v->tenant->sup->loop, delay, on_restart_timer, v);
	if (!v->timer)
		svc_enter_failed(v, "out of memory for a timer");
}

/* ---- stopping ---- */

static void on_stop_timeout(struct loop *l, void *ud)
{
	struct svc *v = ud;

	(void)l;
	v->timer = NULL;
	/* SIGKILL to the init: the kernel then kills every process of the
	 * pid namespace, grandchildren and double-forkers included. */
	v->killed = true;
	v->tenant->sup->launcher->signal(&v->sb, SIGKILL);
}

void svc_stop(struct svc *v, enum stop_by by)
{
	struct supervisor *s = v->tenant->sup;

	v->want_running = false;
	switch (v->state) {
	case SERVICE_BACKOFF:
	case SERVICE_FAILED:
		svc_cancel_timer(v);
		svc_set_state(v, SERVICE_STOPPED);
		svc_fw_uninstall(v);
		break;
	case SERVICE_STARTING:
		/* The init takes signals only once its handlers are in place:
		 * a sandbox still being built is simply killed. */
		v->stop_by = by;
		svc_set_state(v, SERVICE_STOPPING);
		v->killed = true;
		v->tenant->sup->launcher->signal(&v->sb, SIGKILL);
		break;
	case SERVICE_RUNNING:
		v->stop_by = by;
		svc_set_state(v, SERVICE_STOPPING);
		v->tenant->sup->launcher->signal(&v->sb, SIGTERM);
		svc_cancel_timer(v);
		v->timer = loop_timer_add(s->loop, (uint64_t)v->def->policy.stop_timeout_s * 1000,
					  on_stop_timeout, v);
		if (!v->timer)
			on_stop_timeout(s->loop, v);
		break;
	case SERVICE_STOPPED:
	case SERVICE_STOPPING:
		break;
	}
}

/* Is some service of the tenant that names v in `after` still active? */
static bool has_active_dependents(struct svc *v)
{
	for (size_t i = 0; i < v->tenant->n_svcs; i++) {
		struct svc *o = v->tenant->svcs[i];
		for (size_t j = 0; j < o->def->n_after; j++)
			if (strcmp(o->def->after[j], v->def->name) == 0 && svc_active(o))
				return true;
	}
	return false;
}

void svc_free(struct svc *v)
{
	struct supervisor *s = v->tenant->sup;

	svc_cancel_timer(v);
	svc_close_output(v);
	s->launcher->release(&v->sb);
	log_sink_close(v->log);
	seccomp_program_free(&v->prog);
	svc_drop_cgroup(v);
	free(v->hist.starts);
	free(v);
}

static void tenant_free_rt(struct tenant_rt *t)
{
	if (t->kick)
		loop_timer_cancel(t->sup->loop, t->kick);
	for (size_t i = 0; i < t->n_svcs; i++)
		svc_free(t->svcs[i]);
	free(t->svcs);
	tenant_net_free(&t->net);
	tenant_free(t->profile);
	free(t);
}

static void supervisor_unlink_tenant(struct supervisor *s, struct tenant_rt *t)
{
	for (struct tenant_rt **p = &s->tenants; *p; p = &(*p)->next)
		if (*p == t) {
			*p = t->next;
			return;
		}
}

/* A retiring tenant whose services are all down: unlinked and freed. */
static void tenant_retire(struct tenant_rt *t)
{
	struct supervisor *s = t->sup;
	struct ward_err err = {0};

	supervisor_unlink_tenant(s, t);
	/* A retiring part of a reloaded tenant leaves the rules to the
	 * live tenant of that name. */
	if (s->net && tenant_has_net(t) && !s->shutting_down && !find_tenant(s, t->profile->name) &&
	    network_tenant_remove(s->net, t->profile->name, &err) < 0)
		log_tenant(t->profile->name, "firewall: %s", err.msg);
	if (t->gone)
		t->gone(t->profile->name, t->gone_ud);
	tenant_free_rt(t);
}

/* Who stops a service tenant_progress stops: the shutdown, a reload that
 * retires it, or whoever asked before. */
static enum stop_by progress_stop_by(const struct tenant_rt *t, const struct svc *v)
{
	if (t->sup->shutting_down)
		return STOP_BY_SHUTDOWN;
	if (t->removing)
		return STOP_BY_RELOAD;
	return v->stop_by;
}

/* Moves every service of the tenant one step towards what is wanted:
 * services wanting to run start once their `after` services run; services
 * not wanted stop once nothing active depends on them (reverse order). */
void tenant_progress(struct tenant_rt *t)
{
	bool all_stopped = true;

	for (size_t i = 0; i < t->n_svcs; i++) {
		struct svc *v = t->svcs[i];

		if (v->want_running)
			svc_try_start(v);
		else if ((v->state == SERVICE_RUNNING || v->state == SERVICE_STARTING) &&
			 !has_active_dependents(v))
			svc_stop(v, progress_stop_by(t, v));
	}
	for (size_t i = 0; i < t->n_svcs; i++) {
		struct svc *v = t->svcs[i];
		if (svc_active(v) || v->state == SERVICE_BACKOFF)
			all_stopped = false;
		if (v->state == SERVICE_STOPPED && v->after_stop == AFTER_STOP_START) {
			v->after_stop = AFTER_STOP_NOTHING;
			v->want_running = true;
			svc_try_start(v);
		}
	}
	if (t->removing && all_stopped)
		tenant_retire(t);
}

/* ---- tenants ---- */

struct svc *svc_new(struct tenant_rt *t, const struct ward_service *def)
{
	struct svc *v = calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	v->tenant = t;
	v->def = def;
	v->out_fd = -1;
	v->sb = (struct sandbox){
	    .h = {.pid = -1, .pidfd = -1, .sync_fd = -1},
	    .loop = t->sup->loop,
	    .event = svc_on_event,
	    .gone = svc_sandbox_gone,
	};
	v->since_ms = loop_now_ms();
	return v;
}

static struct tenant_rt *tenant_rt_new(struct supervisor *s, struct ward_tenant *profile)
{
	struct tenant_rt *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->sup = s;
	t->profile = profile;
	t->svcs = calloc(profile->n_services ? profile->n_services : 1, sizeof(*t->svcs));
	if (!t->svcs) {
		free(t);
		return NULL;
	}
	for (size_t i = 0; i < profile->n_services; i++) {
		t->svcs[i] = svc_new(t, &profile->services[i]);
		if (!t->svcs[i]) {
			t->n_svcs = i;
			t->profile = NULL;
			tenant_free_rt(t);
			return NULL;
		}
		t->svcs[i]->want_running = true;
	}
	t->n_svcs = profile->n_services;
	return t;
}

static void on_tenant_kick(struct loop *l, void *ud)
{
	struct tenant_rt *t = ud;

	(void)l;
	t->kick = NULL;
	tenant_progress(t);
}

/* The tenant-wide cap, on PARENT/TENANT above its services' cgroups. */
void tenant_apply_cap(struct supervisor *s, const struct ward_tenant *p)
{
	struct ward_err err = {0};

	if (s->launcher->tenant_limits(p->name, &p->limits, &err) < 0)
		log_tenant(p->name, "tenant limits: %s", err.msg);
}

/* The practice's disk quota (settings "quota.data") on its data directory,
 * project id = its first uid (ranges never overlap, so neither do ids).
 * Said on stderr and in the audit log either way: a data volume without
 * project quotas leaves practices unlimited, and that must not be silent. */
static void tenant_apply_quota(struct supervisor *s, const struct ward_tenant *p)
{
	struct ward_err err = {0};
	const char *backend = NULL;
	char dir[PATH_MAX];
	int r;

	if (!s->cfg->data_quota)
		return;
	if (snprintf(dir, sizeof(dir), "%s/%s", s->cfg->data_dir, p->name) >= (int)sizeof(dir))
		r = ward_err_set(&err, ENAMETOOLONG, "%s/%s", s->cfg->data_dir, p->name);
	else
		r = quota_apply(dir, p->ids.uid, s->cfg->data_quota, &backend, &err);
	if (r < 0)
		log_tenant(p->name, "disk quota not applied, its data is NOT limited: %s", err.msg);
	if (s->audit)
		(void)audit_event(s->audit, "tenant-quota",
				  json_pack("{s:s, s:I, s:I, s:s?, s:b, s:s?}", "tenant", p->name,
					    "project", (json_int_t)p->ids.uid, "limit",
					    (json_int_t)s->cfg->data_quota, "backend", backend,
					    "applied", r == 0, "error", r < 0 ? err.msg : NULL));
}

/* Takes profile and *net. */
void tenant_add(struct supervisor *s, struct ward_tenant *profile, struct tenant_net *net)
{
	struct tenant_rt *t;
	struct tenant_rt **tail = &s->tenants;

	tenant_apply_cap(s, profile);
	tenant_apply_quota(s, profile);
	t = tenant_rt_new(s, profile);
	if (!t) {
		log_tenant(profile->name, "out of memory");
		tenant_free(profile);
		tenant_net_free(net);
		return;
	}
	t->net = *net;
	*net = (struct tenant_net){0};
	while (*tail)
		tail = &(*tail)->next;
	*tail = t;
	/* Each launch costs a few ms of the loop (clone, id maps): started
	 * from a timer, one tenant per turn, the control socket and signals
	 * are served between tenants, not after all of them. */
	t->kick = loop_timer_add(s->loop, 0, on_tenant_kick, t);
	if (!t->kick)
		tenant_progress(t);
}

int supervisor_load_all(struct supervisor *s)
{
	size_t n;
	struct loaded *v = tenants_dir_load(s, &n);
	int count = 0;

	for (size_t i = 0; i < n; i++) {
		if (!v[i].profile) {
			loaded_audit_rejected(s, &v[i]);
			continue;
		}
		tenant_add(s, v[i].profile, &v[i].net);
		v[i].profile = NULL;
		count++;
	}
	loaded_free(v, n);
	return count;
}

/* ---- life of the supervisor ---- */

struct supervisor *supervisor_new(const struct ward_config *cfg, struct loop *loop,
				  struct audit *audit)
{
	struct supervisor *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->cfg = cfg;
	s->loop = loop;
	s->audit = audit;
	s->launcher = &supervisor_real_launcher;
	s->devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (s->devnull < 0) {
		free(s);
		return NULL;
	}
	return s;
}

static bool everything_stopped(struct supervisor *s)
{
	/* tenant_progress unlinks a tenant from t->sup before it frees it, and
	 * t->sup is s: clang-analyzer cannot tell, and sees a freed one here. */
	for (struct tenant_rt *t = s->tenants; t; t = t->next)
		/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): see above */
		for (size_t i = 0; i < t->n_svcs; i++)
			if (svc_active(t->svcs[i]))
				return false;
	return true;
}

static void supervisor_check_shutdown(struct supervisor *s)
{
	void (*done)(void *) = s->shutdown_done;

	if (!s->shutting_down || !done || !everything_stopped(s))
		return;
	s->shutdown_done = NULL;
	done(s->shutdown_ud);
}

void supervisor_shutdown(struct supervisor *s, void (*done)(void *ud), void *ud)
{
	s->shutting_down = true;
	s->shutdown_done = done;
	s->shutdown_ud = ud;
	/* tenant_progress frees a retiring tenant once all of it is down,
	 * which the svc_stop of its backoff services above can make true. */
	for (struct tenant_rt *t = s->tenants, *next; t; t = next) {
		next = t->next;
		for (size_t i = 0; i < t->n_svcs; i++) {
			struct svc *v = t->svcs[i];
			v->want_running = false;
			v->after_stop = AFTER_STOP_NOTHING;
			v->stop_by = STOP_BY_SHUTDOWN;
			if (v->state == SERVICE_BACKOFF)
				svc_stop(v, STOP_BY_SHUTDOWN);
		}
		tenant_progress(t);
	}
	supervisor_check_shutdown(s);
}

void supervisor_set_launcher(struct supervisor *s, const struct supervisor_launcher *l)
{
	s->launcher = l ? l : &supervisor_real_launcher;
}

void supervisor_free(struct supervisor *s)
{
	if (!s)
		return;
	while (s->tenants) {
		struct tenant_rt *t = s->tenants;
		s->tenants = t->next;
		tenant_free_rt(t);
	}
	if (s->devnull >= 0)
		close(s->devnull);
	free(s);
}
