/* The supervisor: every tenant's services, each with its state machine and
 * restart policy (systemd's meanings), started in `after` order, stopped in
 * reverse. It knows nothing of namespaces: launch.c builds the sandboxes,
 * this file decides when. Everything runs on the loop; nothing blocks. */
#include "daemon/supervise.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "build-config.h"
#include "sandbox/cgroup.h"
#include "basic/cleanup.h"
#include "sandbox/launch.h"
#include "daemon/logs.h"
#include "net/network.h"
#include "sandbox/quota.h"
#include "sandbox/seccomp.h"
#include "model/subid.h"

enum stop_by { STOP_BY_OPERATOR, STOP_BY_SHUTDOWN, STOP_BY_RELOAD };
enum after_stop { AFTER_STOP_NOTHING, AFTER_STOP_START, AFTER_STOP_REMOVE };

struct tenant_rt;

struct svc {
	struct tenant_rt *tenant;
	const struct ward_service *def; /* in tenant->profile */
	enum service_state state;
	bool want_running;   /* the operator's intent; a restart never overrides a stop */
	uint64_t since_ms;   /* when the current state began */
	uint64_t started_ms; /* when the last start happened */

	struct launch_handle h; /* h.pid > 0 while a sandbox exists */
	pid_t service_pid;      /* host pid of the service, 0 when not running */
	bool exit_seen;
	int exit_status;
	char start_error[768]; /* the step that failed, when the sandbox failed */
	struct seccomp_program prog;
	bool prog_ready;
	struct cgroup *cg; /* from the first start until the service stops */
	bool cg_stale;     /* the definition changed: new limits at next start */
	uint64_t oom_base; /* the cgroup's OOM kills when this run started */

	int out_fd; /* read end of the service's stdout/stderr */
	struct log_sink *log;

	unsigned restarts;    /* restarts since the daemon started (status) */
	unsigned consecutive; /* consecutive restarts, for the delay */
	uint64_t *starts;     /* ring of recent start times, for the start limit */
	size_t n_starts, cap_starts;
	struct loop_timer *timer; /* restart delay or stop timeout */
	enum stop_by stop_by;
	enum after_stop after_stop;
	char last_exit[128];

	/* Network (tenants with a `network` section): the address and host
	 * link of the current (or last) sandbox, whether the firewall has the
	 * service's elements, and whether a start waits for the kernel to
	 * remove the link of the previous sandbox (its name is reused). */
	char ifname[IF_NAMESIZE];
	uint32_t addr;
	bool fw_installed;
	bool link_pending;
	bool killed; /* the stop needed SIGKILL */
};

struct tenant_rt {
	struct supervisor *sup;
	struct ward_tenant *profile;
	struct svc **svcs;
	size_t n_svcs;
	struct loop_timer *kick; /* its first start, one tenant per loop turn */
	struct tenant_net net;   /* addresses, when the profile has a network */
	bool removing;
	/* supervisor_remove_tenant: called once every service is down and
	 * the tenant is gone (rules removed). */
	supervisor_gone_fn gone;
	void *gone_ud;
	struct tenant_rt *next;
};

struct supervisor {
	const struct ward_config *cfg;
	struct loop *loop;
	struct audit *audit;
	struct network *net; /* NULL: networks unavailable, such tenants cannot start */
	struct tenant_rt *tenants;
	int devnull;
	supervisor_output_fn out_fn;
	void *out_ud;
	bool shutting_down;
	void (*shutdown_done)(void *ud);
	void *shutdown_ud;
};

static const char *const state_names[] = {
    [SERVICE_STOPPED] = "stopped",   [SERVICE_STARTING] = "starting", [SERVICE_RUNNING] = "running",
    [SERVICE_STOPPING] = "stopping", [SERVICE_BACKOFF] = "backoff",   [SERVICE_FAILED] = "failed",
};

const char *service_state_to_string(enum service_state s)
{
	return (unsigned)s < sizeof(state_names) / sizeof(*state_names) ? state_names[s]
									: "invalid";
}

/* ---- restart policy: pure functions ---- */

bool exit_is_clean(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st) == 0;
	if (WIFSIGNALED(st)) {
		int sig = WTERMSIG(st);
		return sig == SIGTERM || sig == SIGINT || sig == SIGHUP || sig == SIGPIPE;
	}
	return false;
}

bool restart_wanted(enum restart_on on, int st)
{
	switch (on) {
	case RESTART_ALWAYS:
		return true;
	case RESTART_FAILURE:
		return !exit_is_clean(st);
	case RESTART_NEVER:
		return false;
	}
	return false;
}

uint64_t restart_delay_ms(const struct ward_restart *r, unsigned n)
{
	uint64_t d = r->delay_ms;

	/* Doubling per consecutive restart, capped: systemd's RestartSteps
	 * grows geometrically too; doubling is the simple, documented form. */
	for (unsigned i = 1; i < n && d < r->max_delay_ms; i++)
		d = d > UINT64_MAX / 2 ? UINT64_MAX : d * 2;
	return d < r->max_delay_ms ? d : r->max_delay_ms;
}

void exit_reason(int st, char *buf, size_t len)
{
	if (WIFEXITED(st))
		(void)snprintf(buf, len, "exited %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		(void)snprintf(buf, len, "killed by SIG%s%s",
			       sigabbrev_np(WTERMSIG(st)) ? sigabbrev_np(WTERMSIG(st)) : "?",
			       WCOREDUMP(st) ? " (core dumped)" : "");
	else
		(void)snprintf(buf, len, "status 0x%x", st);
}

/* ---- small helpers ---- */

static void audit_svc(struct svc *v, const char *event, json_t *fields)
{
	if (!fields)
		fields = json_object();
	json_object_set_new(fields, "tenant", json_string(v->tenant->profile->name));
	json_object_set_new(fields, "service", json_string(v->def->name));
	audit_event(v->tenant->sup->audit, event, fields);
}

static void svc_set_state(struct svc *v, enum service_state s)
{
	v->state = s;
	v->since_ms = loop_now_ms();
}

static void svc_cancel_timer(struct svc *v)
{
	if (v->timer) {
		loop_timer_cancel(v->tenant->sup->loop, v->timer);
		v->timer = NULL;
	}
}

static struct svc *tenant_svc(struct tenant_rt *t, const char *name)
{
	for (size_t i = 0; i < t->n_svcs; i++)
		if (strcmp(t->svcs[i]->def->name, name) == 0)
			return t->svcs[i];
	return NULL;
}

static struct tenant_rt *find_tenant(struct supervisor *s, const char *name)
{
	for (struct tenant_rt *t = s->tenants; t; t = t->next)
		if (!t->removing && strcmp(t->profile->name, name) == 0)
			return t;
	return NULL;
}

static bool svc_active(const struct svc *v)
{
	return v->state == SERVICE_STARTING || v->state == SERVICE_RUNNING ||
	       v->state == SERVICE_STOPPING;
}

static void svc_try_start(struct svc *v);
static void svc_stop(struct svc *v, enum stop_by by);
static void tenant_progress(struct tenant_rt *t);
static void supervisor_check_shutdown(struct supervisor *s);

static void svc_drop_cgroup(struct svc *v)
{
	struct ward_err err = {0};

	if (!v->cg)
		return;
	if (cgroup_destroy(v->cg, &err) < 0)
		fprintf(stderr, "wardd: %s/%s: cgroup: %s\n", v->tenant->profile->name,
			v->def->name, err.msg);
	v->cg = NULL;
}

/* ---- network ---- */

static bool tenant_has_net(const struct tenant_rt *t)
{
	return t->profile->network.present;
}

/* Puts the tenant's rules in line with which services are installed (one
 * transaction). */
static int tenant_fw_sync(struct tenant_rt *t, struct ward_err *err)
{
	struct supervisor *s = t->sup;
	bool *installed;
	int r;

	if (!tenant_has_net(t) || !s->net)
		return 0;
	installed = calloc(t->n_svcs + 1, sizeof(*installed));
	if (!installed)
		return ward_err_set(err, ENOMEM, "firewall");
	for (size_t i = 0; i < t->n_svcs; i++)
		installed[i] = t->svcs[i]->fw_installed;
	r = network_tenant_apply(s->net, t->profile, &t->net, installed, err);
	free(installed);
	return r;
}

/* Stopped for good (not between restarts): its chain and map element go.
 * Not at shutdown: the whole table goes then, in one step. */
static void svc_fw_uninstall(struct svc *v)
{
	struct ward_err err = {0};

	if (!v->fw_installed || v->tenant->removing || v->tenant->sup->shutting_down)
		return;
	v->fw_installed = false;
	if (tenant_fw_sync(v->tenant, &err) < 0)
		fprintf(stderr, "wardd: %s/%s: firewall: %s\n", v->tenant->profile->name,
			v->def->name, err.msg);
}

/* Before its first launch: the tenant's services that are to run get
 * their rules in one transaction, not one each. */
static int svc_fw_install(struct svc *v, struct ward_err *err)
{
	struct tenant_rt *t = v->tenant;

	if (v->fw_installed)
		return 0;
	for (size_t i = 0; i < t->n_svcs; i++)
		if (t->svcs[i]->want_running || t->svcs[i] == v)
			t->svcs[i]->fw_installed = true;
	if (tenant_fw_sync(t, err) < 0) {
		for (size_t i = 0; i < t->n_svcs; i++)
			t->svcs[i]->fw_installed = false;
		return ward_err_wrap(err, "firewall");
	}
	return 0;
}

/* The service's veth for its next sandbox; NULL without a network. */
static int svc_net_prepare(struct svc *v, struct veth_spec *veth, struct ward_err *err)
{
	struct tenant_rt *t = v->tenant;
	size_t i = (size_t)(v->def - t->profile->services);

	if (!t->sup->net)
		return ward_err_set(err, 0,
				    "network unavailable (see wardd's log): the tenant "
				    "has a network section and cannot run without it");
	if (i >= t->net.n)
		return ward_err_set(err, EINVAL, "network: no address for the service");
	v->addr = t->net.addrs[i];
	memcpy(v->ifname, t->net.ifnames[i], IF_NAMESIZE);
	if (svc_fw_install(v, err) < 0)
		return -1;
	*veth =
	    (struct veth_spec){.host_if = v->ifname, .addr = v->addr, .gateway = t->net.gateway};
	return 0;
}

/* The kernel removed a ward link (name NULL: some notifications were
 * lost): services waiting for that name can start. */
void supervisor_link_gone(const char *name, void *ud)
{
	struct supervisor *s = ud;

	for (struct tenant_rt *t = s->tenants, *next; t; t = next) {
		bool woke = false;

		next = t->next;
		for (size_t i = 0; i < t->n_svcs; i++) {
			struct svc *v = t->svcs[i];
			if (v->link_pending && (!name || strcmp(v->ifname, name) == 0)) {
				v->link_pending = false;
				woke = true;
			}
		}
		if (woke)
			tenant_progress(t);
	}
}

/* ---- output capture ---- */

static void svc_close_output(struct svc *v)
{
	if (v->out_fd >= 0) {
		loop_del_fd(v->tenant->sup->loop, v->out_fd);
		close(v->out_fd);
		v->out_fd = -1;
	}
}

/* At most one read per wakeup: a service that writes a lot gets its turn
 * like everyone else and never holds the loop. */
static void on_output(struct loop *l, int fd, uint32_t events, void *ud)
{
	struct svc *v = ud;
	char buf[65536];
	ssize_t n = read(fd, buf, sizeof(buf));

	(void)l;
	(void)events;
	if (n > 0) {
		struct ward_err err = {0};
		if (v->log && log_sink_write(v->log, buf, (size_t)n, &err) < 0)
			fprintf(stderr, "wardd: %s/%s: log: %s\n", v->tenant->profile->name,
				v->def->name, err.msg);
		if (v->tenant->sup->out_fn)
			v->tenant->sup->out_fn(v->tenant->profile->name, v->def->name, buf,
					       (size_t)n, v->tenant->sup->out_ud);
		return;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	svc_close_output(v);
}

static int svc_log_path(struct svc *v, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s/%s.log", v->tenant->sup->cfg->log_dir,
			 v->tenant->profile->name, v->def->name);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

static int svc_open_output(struct svc *v, int *write_end, struct ward_err *err)
{
	int p[2];

	if (!v->log) {
		char path[4096];

		if (svc_log_path(v, path, sizeof(path)) < 0)
			return ward_err_set(err, ENAMETOOLONG, "log path");
		v->log = log_sink_open(path, v->tenant->sup->cfg->log_max_bytes,
				       v->tenant->sup->cfg->log_keep, err);
		if (!v->log)
			return -1;
	}
	if (pipe2(p, O_CLOEXEC) < 0)
		return ward_err_set(err, errno, "pipe");
	/* Only our end is non-blocking: the service writes as it likes. */
	if (fcntl(p[0], F_SETFL, O_NONBLOCK) < 0 ||
	    loop_add_fd(v->tenant->sup->loop, p[0], EPOLLIN, on_output, v) < 0) {
		close(p[0]);
		close(p[1]);
		return ward_err_set(err, errno, "output pipe");
	}
	v->out_fd = p[0];
	*write_end = p[1];
	return 0;
}

/* ---- the sandbox's events ---- */

static void svc_read_events(struct svc *v)
{
	struct launch_event ev;

	/* The socket is non-blocking: only what is there now. */
	while (v->h.sync_fd >= 0 && launch_read_event(&v->h, &ev) == 0) {
		switch (ev.kind) {
		case LAUNCH_EVENT_PID:
			v->service_pid = ev.pid;
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
			(void)snprintf(v->start_error, sizeof(v->start_error), "%s", ev.message);
			break;
		case LAUNCH_EVENT_EXITED:
			v->exit_seen = true;
			v->exit_status = ev.status;
			break;
		case LAUNCH_EVENT_GONE:
			loop_del_fd(v->tenant->sup->loop, v->h.sync_fd);
			close(v->h.sync_fd);
			v->h.sync_fd = -1;
			return;
		}
	}
}

static void on_sync(struct loop *l, int fd, uint32_t events, void *ud)
{
	(void)l;
	(void)fd;
	(void)events;
	svc_read_events(ud);
}

static void svc_schedule_restart(struct svc *v);
static void svc_enter_failed(struct svc *v, const char *reason);

/* The service's drop counter, read while its element is still in the
 * table, into the audit log ("service-drops"): its refused connections stay
 * on record once the counter is gone with the service. */
static void svc_audit_drops(struct svc *v)
{
	struct tenant_rt *t = v->tenant;
	size_t i = (size_t)(v->def - t->profile->services);
	_cleanup_(json_decrefp) json_t *drops = NULL;
	json_t *d;
	char a[16];

	if (!v->fw_installed || !t->sup->net || !tenant_has_net(t) || i >= t->net.n)
		return;
	drops = network_drops(t->sup->net);
	d = drops ? json_object_get(drops, t->net.ifnames[i]) : NULL;
	network_addr_string(t->net.addrs[i], a);
	audit_svc(v, "service-drops",
		  json_pack("{s:s, s:s, s:o}", "address", a, "link", t->net.ifnames[i], "drops",
			    d ? json_incref(d) : json_null()));
}

/* The sandbox is gone (its init exited): decide what comes next. */
static void svc_sandbox_gone(struct svc *v, int init_status)
{
	struct supervisor *s = v->tenant->sup;
	int st = v->exit_seen ? v->exit_status : init_status;
	bool start_failed = !v->exit_seen && v->start_error[0];
	bool was_stopping = v->state == SERVICE_STOPPING;
	uint64_t oom_kills = 0; /* OOM kills in the cgroup during this run */

	svc_cancel_timer(v);
	if (v->h.sync_fd >= 0)
		loop_del_fd(s->loop, v->h.sync_fd);
	if (v->h.pidfd >= 0)
		loop_del_fd(s->loop, v->h.pidfd);
	v->h.pid = -1; /* already reaped */
	launch_release(&v->h);
	/* The pid namespace is gone, so is every writer of the pipe: what is
	 * left in it is the last output. */
	for (int i = 0; i < 64 && v->out_fd >= 0; i++)
		on_output(s->loop, v->out_fd, EPOLLIN, v);
	svc_close_output(v);
	if (v->cg) {
		struct cgroup_stats cs = {0};
		struct ward_err err = {0};

		/* The pid namespace died with the init; the cgroup makes sure. */
		if (cgroup_stats(v->cg, &cs) == 0 && cs.pids_current > 0 &&
		    cgroup_kill(v->cg, &err) < 0)
			fprintf(stderr, "wardd: %s/%s: %s\n", v->tenant->profile->name,
				v->def->name, err.msg);
		if (cs.oom_kills > v->oom_base)
			oom_kills = cs.oom_kills - v->oom_base;
	}
	if (start_failed) {
		(void)snprintf(v->last_exit, sizeof(v->last_exit), "start failed");
		audit_svc(v, "service-start-failed", json_pack("{s:s}", "error", v->start_error));
		fprintf(stderr, "wardd: %s/%s: %s\n", v->tenant->profile->name, v->def->name,
			v->start_error);
		st = 0x100; /* as "exited 1": a failed start is a failure */
	} else if (!v->exit_seen && !v->service_pid) {
		/* Killed while its sandbox was being built (a stop during
		 * start): no service ran, so there is no exit to record. */
		(void)snprintf(v->last_exit, sizeof(v->last_exit), "stopped while starting");
	} else {
		int real = st; /* what the main process did, for the record */

		exit_reason(st, v->last_exit, sizeof(v->last_exit));
		if (oom_kills) {
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
			/* An OOM kill is a failure whatever the main process did:
			 * the verdict (restart policy, "clean") counts it as a kill,
			 * the record keeps the exit as it was, not a SIGKILL the
			 * main process never got. */
			if (exit_is_clean(st))
				st = SIGKILL;
		}
		audit_svc(v, "service-exit",
			  json_pack("{s:i, s:s, s:o, s:o, s:b, s:b, s:I}", "pid",
				    (int)v->service_pid, "status", v->last_exit, "code",
				    WIFEXITED(real) ? json_integer(WEXITSTATUS(real)) : json_null(),
				    "signal",
				    WIFSIGNALED(real) ? json_integer(WTERMSIG(real)) : json_null(),
				    "core_dumped", WIFSIGNALED(real) && WCOREDUMP(real), "clean",
				    exit_is_clean(st), "oom_kills", (json_int_t)oom_kills));
		if (oom_kills)
			audit_svc(v, "service-oom",
				  json_pack("{s:i, s:I}", "pid", (int)v->service_pid, "oom_kills",
					    (json_int_t)oom_kills));
	}
	v->service_pid = 0;
	v->exit_seen = false;
	v->start_error[0] = '\0';

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
	/* Kept through a backoff; gone once the service is down for good. */
	if (v->state == SERVICE_STOPPED || v->state == SERVICE_FAILED) {
		svc_drop_cgroup(v);
		/* Before its elements can go (here, with its tenant, or with
		 * the table at shutdown): the counter is the evidence. */
		svc_audit_drops(v);
		if ((!v->want_running && v->after_stop != AFTER_STOP_START) ||
		    v->state == SERVICE_FAILED)
			svc_fw_uninstall(v);
	}
	tenant_progress(v->tenant);
	supervisor_check_shutdown(s);
}

static void on_pidfd(struct loop *l, int fd, uint32_t events, void *ud)
{
	struct svc *v = ud;
	int st = 0;
	pid_t r;

	(void)l;
	(void)fd;
	(void)events;
	r = waitpid(v->h.pid, &st, WNOHANG);
	if (r == 0)
		return;
	if (r < 0 && errno != ECHILD)
		return;
	/* The init's last words may sit in the socket still. */
	svc_read_events(v);
	svc_sandbox_gone(v, st);
}

/* ---- starting ---- */

static bool start_limit_hit(struct svc *v, uint64_t now)
{
	const struct ward_restart *r = &v->def->policy.restart;
	uint64_t window = (uint64_t)r->interval_s * 1000;
	size_t keep = 0;

	/* Drop starts that left the window. */
	for (size_t i = 0; i < v->n_starts; i++)
		if (now - v->starts[i] < window)
			v->starts[keep++] = v->starts[i];
	v->n_starts = keep;
	return v->n_starts >= r->burst;
}

static int remember_start(struct svc *v, uint64_t now)
{
	if (v->n_starts == v->cap_starts) {
		size_t cap = v->cap_starts ? 2 * v->cap_starts : 8;
		uint64_t *n = realloc(v->starts, cap * sizeof(*n));
		if (!n)
			return -1;
		v->starts = n;
		v->cap_starts = cap;
	}
	v->starts[v->n_starts++] = now;
	return 0;
}

static void svc_enter_failed(struct svc *v, const char *reason)
{
	svc_set_state(v, SERVICE_FAILED);
	svc_drop_cgroup(v);
	svc_fw_uninstall(v);
	audit_svc(v, "service-failed", json_pack("{s:s}", "reason", reason));
	fprintf(stderr, "wardd: %s/%s: failed: %s\n", v->tenant->profile->name, v->def->name,
		reason);
}

static int check_data_dir(const char *path, const struct ward_tenant *t, struct ward_err *err)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return ward_err_set(err, errno, "data directory %s", path);
	if (!S_ISDIR(st.st_mode))
		return ward_err_set(err, ENOTDIR, "data directory %s", path);
	if (st.st_uid != t->ids.uid || st.st_gid != t->ids.uid)
		return ward_err_set(err, 0, "data directory %s: owned by %u:%u, must be %u:%u",
				    path, st.st_uid, st.st_gid, t->ids.uid, t->ids.uid);
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return ward_err_set(err, 0, "data directory %s: writable by group or others", path);
	return 0;
}

static int svc_launch(struct svc *v, struct ward_err *err)
{
	struct supervisor *s = v->tenant->sup;
	const struct ward_tenant *t = v->tenant->profile;
	char data_dir[4096], cache_dir[4096];
	struct netlink_veth_hook veth = {0};
	int out_w = -1;
	int r;

	if (snprintf(data_dir, sizeof(data_dir), "%s/%s", s->cfg->data_dir, t->name) >=
		(int)sizeof(data_dir) ||
	    snprintf(cache_dir, sizeof(cache_dir), "%s/cache", s->cfg->state_dir) >=
		(int)sizeof(cache_dir))
		return ward_err_set(err, ENAMETOOLONG, "paths");
	if (v->def->policy.filesystem.data && check_data_dir(data_dir, t, err) < 0)
		return -1;
	/* Compiled once per definition, kept for every restart. */
	if (!v->prog_ready) {
		if (seccomp_compile(&v->def->policy.seccomp, cache_dir, &v->prog, err) < 0)
			return -1;
		v->prog_ready = true;
	}
	if (v->cg && v->cg_stale)
		svc_drop_cgroup(v);
	v->cg_stale = false;
	if (!v->cg) {
		v->cg = cgroup_create(t->name, v->def->name, &v->def->policy.limits, err);
		if (!v->cg)
			return ward_err_wrap(err, "cgroup");
	}
	{
		struct cgroup_stats cs = {0};
		cgroup_stats(v->cg, &cs);
		v->oom_base = cs.oom_kills;
	}
	if (tenant_has_net(v->tenant) && svc_net_prepare(v, &veth.spec, err) < 0)
		return -1;
	veth.nl = s->net ? network_netlink(s->net) : NULL;
	if (svc_open_output(v, &out_w, err) < 0)
		return -1;
	{
		struct launch_spec spec = {
		    .tenant = t,
		    .service = v->def,
		    .policy = &v->def->policy,
		    .data_dir = data_dir,
		    .seccomp = &v->prog,
		    .cgroup = v->cg,
		    .before_go = tenant_has_net(v->tenant) ? netlink_veth_before_go : NULL,
		    .before_go_ud = &veth,
		    .stdio = {s->devnull, out_w, out_w},
		};
		r = launch_start(&spec, &v->h, err);
	}
	close(out_w);
	if (r < 0) {
		svc_close_output(v);
		return -1;
	}
	if (fcntl(v->h.sync_fd, F_SETFL, O_NONBLOCK) < 0 ||
	    loop_add_fd(s->loop, v->h.sync_fd, EPOLLIN, on_sync, v) < 0 ||
	    loop_add_fd(s->loop, v->h.pidfd, EPOLLIN, on_pidfd, v) < 0) {
		/* Without its events the sandbox cannot be supervised. */
		loop_del_fd(s->loop, v->h.sync_fd);
		launch_signal(&v->h, SIGKILL);
		launch_release(&v->h);
		svc_close_output(v);
		return ward_err_set(err, ENOMEM, "watching the sandbox");
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
	if (tenant_has_net(v->tenant) && v->tenant->sup->net) {
		size_t i = (size_t)(v->def - v->tenant->profile->services);
		if (i < v->tenant->net.n)
			memcpy(v->ifname, v->tenant->net.ifnames[i], IF_NAMESIZE);
		v->link_pending = network_link_exists(v->tenant->sup->net, v->ifname);
		if (v->link_pending)
			return;
	}
	svc_cancel_timer(v);
	if (start_limit_hit(v, now)) {
		char reason[128];

		(void)snprintf(reason, sizeof(reason), "start limit: %u starts within %u s",
			       v->def->policy.restart.burst, v->def->policy.restart.interval_s);
		svc_enter_failed(v, reason);
		return;
	}
	remember_start(v, now);
	v->started_ms = now;
	if (svc_launch(v, &err) < 0) {
		(void)snprintf(v->last_exit, sizeof(v->last_exit), "start failed");
		audit_svc(v, "service-start-failed", json_pack("{s:s}", "error", err.msg));
		fprintf(stderr, "wardd: %s/%s: %s\n", v->tenant->profile->name, v->def->name,
			err.msg);
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
		v->consecutive = 0;
	v->consecutive++;
	v->restarts++;
	delay = restart_delay_ms(r, v->consecutive);
	svc_set_state(v, SERVICE_BACKOFF);
	audit_svc(
	    v, "service-restart",
	    json_pack("{s:I, s:i}", "delay_ms", (json_int_t)delay, "restarts", (int)v->restarts));
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
	launch_signal(&v->h, SIGKILL);
}

static void svc_stop(struct svc *v, enum stop_by by)
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
		launch_signal(&v->h, SIGKILL);
		break;
	case SERVICE_RUNNING:
		v->stop_by = by;
		svc_set_state(v, SERVICE_STOPPING);
		launch_signal(&v->h, SIGTERM);
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

static void svc_free(struct svc *v)
{
	struct supervisor *s = v->tenant->sup;

	svc_cancel_timer(v);
	svc_close_output(v);
	if (v->h.sync_fd >= 0)
		loop_del_fd(s->loop, v->h.sync_fd);
	if (v->h.pidfd >= 0)
		loop_del_fd(s->loop, v->h.pidfd);
	if (v->h.pid > 0)
		launch_signal(&v->h, SIGKILL);
	launch_release(&v->h);
	log_sink_close(v->log);
	seccomp_program_free(&v->prog);
	svc_drop_cgroup(v);
	free(v->starts);
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

/* Moves every service of the tenant one step towards what is wanted:
 * services wanting to run start once their `after` services run; services
 * not wanted stop once nothing active depends on them (reverse order). */
static void tenant_progress(struct tenant_rt *t)
{
	bool all_stopped = true;

	for (size_t i = 0; i < t->n_svcs; i++) {
		struct svc *v = t->svcs[i];

		if (v->want_running)
			svc_try_start(v);
		else if ((v->state == SERVICE_RUNNING || v->state == SERVICE_STARTING) &&
			 !has_active_dependents(v))
			svc_stop(v, t->sup->shutting_down ? STOP_BY_SHUTDOWN
				    : t->removing         ? STOP_BY_RELOAD
							  : v->stop_by);
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
	if (t->removing && all_stopped) {
		struct supervisor *s = t->sup;
		struct ward_err err = {0};

		supervisor_unlink_tenant(s, t);
		/* A retiring part of a reloaded tenant leaves the rules to the
		 * live tenant of that name. */
		if (s->net && tenant_has_net(t) && !s->shutting_down &&
		    !find_tenant(s, t->profile->name) &&
		    network_tenant_remove(s->net, t->profile->name, &err) < 0)
			fprintf(stderr, "wardd: %s: firewall: %s\n", t->profile->name, err.msg);
		if (t->gone)
			t->gone(t->profile->name, t->gone_ud);
		tenant_free_rt(t);
	}
}

/* ---- tenants ---- */

static struct svc *svc_new(struct tenant_rt *t, const struct ward_service *def)
{
	struct svc *v = calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	v->tenant = t;
	v->def = def;
	v->out_fd = -1;
	v->h = (struct launch_handle){.pid = -1, .pidfd = -1, .sync_fd = -1};
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

/* The checks a profile file must pass before it is even parsed: the daemon
 * runs what it says as root's delegate. */
static int profile_file_trusted(int dirfd, const char *name, struct ward_err *err)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return ward_err_set(err, errno, "stat");
	if (!S_ISREG(st.st_mode))
		return ward_err_set(err, 0, "not a regular file%s",
				    S_ISLNK(st.st_mode) ? " (a symlink)" : "");
	if (st.st_uid != 0)
		return ward_err_set(err, 0, "owned by uid %u, must be root's", st.st_uid);
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return ward_err_set(err, 0, "writable by group or others (mode %03o)",
				    st.st_mode & 0777);
	return 0;
}

struct loaded {
	char name[WARD_NAME_MAX + 1];
	char path[4096];
	struct ward_tenant *profile; /* NULL: rejected */
	json_t *errors;              /* array of strings when rejected */
	struct tenant_net net;       /* allocated addresses, when it has a network */
};

static void reject(struct supervisor *s, struct loaded *l, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void reject(struct supervisor *s, struct loaded *l, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap); /* a long message may be cut */
	va_end(ap);
	if (!l->errors)
		l->errors = json_array();
	json_array_append_new(l->errors, json_string(msg));
	(void)s;
}

static void diag_to_errors(struct loaded *l, const struct ward_diag *d)
{
	for (size_t i = 0; i < d->n; i++) {
		const struct ward_diag_entry *e = &d->v[i];
		char msg[1536];

		if (e->line)
			(void)snprintf(msg, sizeof(msg), "%s:%u:%u: %s%s%s", e->file, e->line,
				       e->col, e->path, e->path[0] ? ": " : "", e->message);
		else
			(void)snprintf(msg, sizeof(msg), "%s: %s%s%s", e->file, e->path,
				       e->path[0] ? ": " : "", e->message);
		if (!l->errors)
			l->errors = json_array();
		json_array_append_new(l->errors, json_string(msg));
	}
}

static void load_one(struct supervisor *s, int dirfd, const char *file, struct loaded *l)
{
	struct profile_options popts = {.policy_dirs = (const char *const *)s->cfg->policy_dirs,
					.n_policy_dirs = s->cfg->n_policy_dirs,
					.trusted = true};
	struct ward_diag diag = {0};
	struct ward_err err = {0};
	size_t len = strlen(file) - 5;

	memcpy(l->name, file, len);
	l->name[len] = '\0';
	/* A cut path would load another file than the one checked below. */
	if (snprintf(l->path, sizeof(l->path), "%s/%s", s->cfg->tenants_dir, file) >=
	    (int)sizeof(l->path)) {
		reject(s, l, "%s/%s: path too long", s->cfg->tenants_dir, file);
		return;
	}
	if (profile_file_trusted(dirfd, file, &err) < 0) {
		reject(s, l, "%s: %s", l->path, err.msg);
		return;
	}
	if (profile_load(l->path, &popts, &l->profile, &diag) < 0) {
		diag_to_errors(l, &diag);
		diag_free(&diag);
		l->profile = NULL;
		return;
	}
	if (strcmp(l->profile->name, l->name) != 0)
		reject(s, l, "%s: tenant \"%s\" must be in a file named %s.json", l->path,
		       l->profile->name, l->profile->name);
	else if (!l->profile->ids.set)
		reject(s, l, "%s: ids: required (pool allocation comes with onboarding)", l->path);
	if (l->errors) {
		tenant_free(l->profile);
		l->profile = NULL;
	}
}

static int loaded_cmp(const void *a, const void *b)
{
	return strcmp(((const struct loaded *)a)->name, ((const struct loaded *)b)->name);
}

static bool ids_overlap(const struct ward_ids *a, const struct ward_ids *b)
{
	return (uint64_t)a->uid < (uint64_t)b->uid + b->count &&
	       (uint64_t)b->uid < (uint64_t)a->uid + a->count;
}

static void reject_overlap(struct supervisor *s, struct loaded *l, const char *other,
			   const struct ward_ids *b)
{
	reject(s, l, "%s: ids: uid range %u+%u overlaps tenant %s (%u+%u)", l->path,
	       l->profile->ids.uid, l->profile->ids.count, other, b->uid, b->count);
	tenant_free(l->profile);
	l->profile = NULL;
}

/* Overlapping uid ranges would let two tenants share files and signals.
 * A running tenant keeps its ids (also one whose new profile is refused):
 * a profile colliding with another running tenant is the one refused;
 * between two profiles that collide otherwise, the later by name. */
static void reject_overlaps(struct supervisor *s, struct loaded *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (struct tenant_rt *t = s->tenants; t && v[i].profile; t = t->next)
			if (!t->removing && strcmp(t->profile->name, v[i].name) != 0 &&
			    ids_overlap(&v[i].profile->ids, &t->profile->ids))
				reject_overlap(s, &v[i], t->profile->name, &t->profile->ids);
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < i && v[i].profile; j++)
			if (v[j].profile && ids_overlap(&v[i].profile->ids, &v[j].profile->ids))
				reject_overlap(s, &v[i], v[j].name, &v[j].profile->ids);
}

/* A tenant range that shares an id with a host user's subordinate ids
 * (subid.h) is refused: that user could become the tenant's uids in a user
 * namespace of its own. Files that cannot be read refuse every profile
 * (fail closed: the ranges cannot be known). Read once per load. */
static void reject_subids(struct supervisor *s, struct loaded *v, size_t n)
{
	struct subids ids;
	struct ward_err err = {0};
	bool ok = subids_load(s->cfg->subuid_file, s->cfg->subgid_file, &ids, &err) == 0;

	for (size_t i = 0; i < n; i++) {
		struct loaded *l = &v[i];
		struct ward_err why = {0};

		if (!l->profile || (ok && subids_check(&ids, "ids: uid range", l->profile->ids.uid,
						       l->profile->ids.count, &why) == 0))
			continue;
		if (ok)
			reject(s, l, "%s: %s", l->path, why.msg);
		else
			reject(s, l, "%s: ids: cannot check the host's subordinate ids: %s",
			       l->path, err.msg);
		tenant_free(l->profile);
		l->profile = NULL;
	}
	subids_free(&ids);
}

/* Is a running tenant's profile kept (its new file refused), so that the
 * loaded ones must not collide with it? */
static bool keeps_old_profile(const struct loaded *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			return !v[i].profile;
	return false; /* its file is gone: it is being removed */
}

/* Subnets and host ports: checked against the tenants that stay and the
 * profiles accepted before, then addresses allocated. Profiles with their
 * own subnet go first, so the pool never hands out a subnet a profile
 * names. */
static void reject_network(struct supervisor *s, struct loaded *v, size_t n)
{
	const struct ward_tenant **others;
	size_t n_tenants = 0, n_others;

	if (!s->net)
		return;
	for (struct tenant_rt *t = s->tenants; t; t = t->next)
		n_tenants++;
	others = calloc(n_tenants + n + 1, sizeof(*others));
	if (!others)
		return;
	n_others = 0;
	for (struct tenant_rt *t = s->tenants; t; t = t->next)
		if (!t->removing && keeps_old_profile(v, n, t->profile->name))
			others[n_others++] = t->profile;
	network_alloc_defer(s->net);
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < n; i++) {
			struct loaded *l = &v[i];
			struct ward_err err = {0};

			if (!l->profile || !l->profile->network.present ||
			    l->profile->network.has_subnet != (pass == 0))
				continue;
			if (network_check(s->net, l->profile, others, n_others, &err) < 0 ||
			    network_tenant_prepare(s->net, l->profile, &l->net, &err) < 0) {
				reject(s, l, "%s: %s", l->path, err.msg);
				tenant_free(l->profile);
				l->profile = NULL;
				continue;
			}
			others[n_others++] = l->profile;
		}
	{
		struct ward_err err = {0};

		/* Kept in memory: the next flush writes them. */
		if (network_alloc_flush(s->net, &err) < 0)
			fprintf(stderr, "wardd: allocations: %s\n", err.msg);
	}
	free(others);
}

/* Reads every TENANT.json of the tenants dir, sorted by name, refusing
 * uid ranges of the host's subordinate ids (reject_subids), overlapping uid
 * ranges (reject_overlaps) and networks (reject_network). */
static struct loaded *load_dir(struct supervisor *s, size_t *n_out)
{
	DIR *d = opendir(s->cfg->tenants_dir);
	struct loaded *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;

	*n_out = 0;
	if (!d) {
		fprintf(stderr, "wardd: tenants directory %s: %s\n", s->cfg->tenants_dir,
			strerror(errno));
		return NULL;
	}
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		char stem[256];

		if (len <= 5 || strcmp(e->d_name + len - 5, ".json") != 0 || e->d_name[0] == '.')
			continue;
		if (len - 5 >= sizeof(stem))
			continue;
		memcpy(stem, e->d_name, len - 5);
		stem[len - 5] = '\0';
		if (n == cap) {
			struct loaded *nv = realloc(v, (cap ? 2 * cap : 16) * sizeof(*nv));
			if (!nv)
				break;
			v = nv;
			cap = cap ? 2 * cap : 16;
		}
		memset(&v[n], 0, sizeof(v[n]));
		if (!ward_name_valid(stem)) {
			(void)snprintf(v[n].name, sizeof(v[n].name), "%.24s", stem);
			(void)snprintf(v[n].path, sizeof(v[n].path), "%s/%s", s->cfg->tenants_dir,
				       e->d_name);
			reject(s, &v[n], "%s: file name is not a valid tenant name", v[n].path);
			n++;
			continue;
		}
		load_one(s, dirfd(d), e->d_name, &v[n]);
		n++;
	}
	closedir(d);
	if (n > 1) /* v is NULL for an empty directory: not for qsort */
		qsort(v, n, sizeof(*v), loaded_cmp);
	reject_subids(s, v, n);
	reject_overlaps(s, v, n);
	reject_network(s, v, n);
	*n_out = n;
	return v;
}

static void audit_rejected(struct supervisor *s, struct loaded *l)
{
	for (size_t i = 0; i < json_array_size(l->errors); i++)
		fprintf(stderr, "wardd: %s\n", json_string_value(json_array_get(l->errors, i)));
	audit_event(
	    s->audit, "profile-rejected",
	    json_pack("{s:s, s:s, s:O}", "file", l->path, "tenant", l->name, "errors", l->errors));
}

static void loaded_free(struct loaded *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		tenant_free(v[i].profile);
		json_decref(v[i].errors);
		tenant_net_free(&v[i].net);
	}
	free(v);
}

static void on_tenant_kick(struct loop *l, void *ud)
{
	struct tenant_rt *t = ud;

	(void)l;
	t->kick = NULL;
	tenant_progress(t);
}

/* The tenant-wide cap, on PARENT/TENANT above its services' cgroups. */
static void tenant_apply_cap(const struct ward_tenant *p)
{
	struct ward_err err = {0};

	if (cgroup_tenant_apply(p->name, &p->limits, &err) < 0)
		fprintf(stderr, "wardd: %s: tenant limits: %s\n", p->name, err.msg);
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
		fprintf(stderr, "wardd: %s: disk quota not applied, its data is NOT limited: %s\n",
			p->name, err.msg);
	if (s->audit)
		(void)audit_event(s->audit, "tenant-quota",
				  json_pack("{s:s, s:I, s:I, s:s?, s:b, s:s?}", "tenant", p->name,
					    "project", (json_int_t)p->ids.uid, "limit",
					    (json_int_t)s->cfg->data_quota, "backend", backend,
					    "applied", r == 0, "error", r < 0 ? err.msg : NULL));
}

/* Takes profile and *net. */
static void tenant_add(struct supervisor *s, struct ward_tenant *profile, struct tenant_net *net)
{
	struct tenant_rt *t;
	struct tenant_rt **tail = &s->tenants;

	tenant_apply_cap(profile);
	tenant_apply_quota(s, profile);
	t = tenant_rt_new(s, profile);
	if (!t) {
		fprintf(stderr, "wardd: %s: out of memory\n", profile->name);
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
	struct loaded *v = load_dir(s, &n);
	int count = 0;

	for (size_t i = 0; i < n; i++) {
		if (!v[i].profile) {
			audit_rejected(s, &v[i]);
			continue;
		}
		tenant_add(s, v[i].profile, &v[i].net);
		v[i].profile = NULL;
		count++;
	}
	loaded_free(v, n);
	return count;
}

/* ---- reload ---- */

static bool ids_equal(const struct ward_ids *a, const struct ward_ids *b)
{
	return a->set == b->set && a->uid == b->uid && a->count == b->count;
}

/* Swaps in the new profile of a running tenant: services whose definition
 * is unchanged keep running untouched; changed ones restart; removed ones
 * stop and go; new ones start. */
/* The service's address in the new network (0: none). */
static uint32_t net_addr_of(const struct ward_tenant *p, const struct tenant_net *net,
			    const struct ward_service *def)
{
	size_t i = (size_t)(def - p->services);

	return p->network.present && i < net->n ? net->addrs[i] : 0;
}

/* What a reload did, each entry "TENANT" or "TENANT/SERVICE": tenants and
 * services added (started) and removed (stopped), services changed
 * (restarted), and what changed in place without a restart ("TENANT:
 * sessions", "TENANT/SERVICE: connect"). Every change is in one of them:
 * the operator's reply and the audit record say what the reload did. */
struct reload_report {
	json_t *added, *removed, *changed, *updated;
};

static void report_add(json_t *list, const char *tenant, const char *service, const char *part)
{
	char buf[WARD_NAME_MAX * 2 + 64];

	(void)snprintf(buf, sizeof(buf), "%s%s%s%s%s", tenant, service ? "/" : "",
		       service ? service : "", part ? ": " : "", part ? part : "");
	json_array_append_new(list, json_string(buf));
}

static bool digest_differs(const char *a, const char *b)
{
	return !a || !b || strcmp(a, b) != 0;
}

/* The changes a reload applies in place: the tenant's parts, and each kept
 * service's `after` and `connect`. */
static void report_updates(const struct ward_tenant *op, const struct ward_tenant *np,
			   json_t *updated)
{
	if (!ids_equal(&op->ids, &np->ids))
		report_add(updated, np->name, NULL, "ids");
	for (int p = 0; p < WARD_PART_N; p++)
		if (digest_differs(op->part_digest[p], np->part_digest[p]))
			report_add(updated, np->name, NULL, ward_part_name((enum ward_part)p));
	for (size_t i = 0; i < np->n_services; i++) {
		const struct ward_service *d = &np->services[i];
		const struct ward_service *o = tenant_find_service(op, d->name);

		if (!o)
			continue; /* added */
		if (digest_differs(o->after_digest, d->after_digest))
			report_add(updated, np->name, d->name, "after");
		if (digest_differs(o->connect_digest, d->connect_digest))
			report_add(updated, np->name, d->name, "connect");
	}
}

/* Takes np and *net. */
static void tenant_update(struct tenant_rt *t, struct ward_tenant *np, struct tenant_net *net,
			  struct reload_report *rep)
{
	bool ids_changed = !ids_equal(&t->profile->ids, &np->ids);
	/* t->profile may go to a retiring tenant below. */
	bool had_net = t->profile->network.present;
	struct svc **nv = calloc(np->n_services ? np->n_services : 1, sizeof(*nv));

	tenant_apply_cap(np);
	report_updates(t->profile, np, rep->updated);

	if (!nv) {
		tenant_free(np);
		tenant_net_free(net);
		return;
	}
	for (size_t i = 0; i < np->n_services; i++) {
		struct ward_service *def = &np->services[i];
		struct svc *old = tenant_svc(t, def->name);
		bool same;

		if (!old) {
			nv[i] = svc_new(t, def);
			if (nv[i])
				nv[i]->want_running = true;
			report_add(rep->added, np->name, def->name, NULL);
			continue;
		}
		nv[i] = old;
		/* A new address (the subnet changed) needs a new sandbox. */
		same = !ids_changed && strcmp(old->def->digest, def->digest) == 0 &&
		       net_addr_of(t->profile, &t->net, old->def) == net_addr_of(np, net, def);
		old->def = def; /* nothing of the running sandbox points into the profile */
		if (same)
			continue;
		report_add(rep->changed, np->name, def->name, NULL);
		seccomp_program_free(&old->prog);
		old->prog_ready = false;
		old->cg_stale = true;
		if (svc_active(old)) {
			old->after_stop = AFTER_STOP_START;
			svc_stop(old, STOP_BY_RELOAD);
		}
	}
	/* Services the new profile no longer has go to a retiring tenant that
	 * keeps the old profile alive until they have stopped (gracefully, in
	 * reverse `after` order) and is then freed by tenant_progress. */
	{
		struct tenant_rt *ghost = calloc(1, sizeof(*ghost));
		struct svc **gone = calloc(t->n_svcs ? t->n_svcs : 1, sizeof(*gone));
		size_t n_gone = 0;

		for (size_t i = 0; i < t->n_svcs; i++) {
			bool kept = false;
			for (size_t j = 0; j < np->n_services; j++)
				kept |= nv[j] == t->svcs[i];
			if (!kept) {
				gone[n_gone++] = t->svcs[i];
				report_add(rep->removed, np->name, t->svcs[i]->def->name, NULL);
			}
		}
		if (n_gone && ghost && gone) {
			*ghost = (struct tenant_rt){.sup = t->sup,
						    .profile = t->profile,
						    .svcs = gone,
						    .n_svcs = n_gone,
						    .removing = true};
			for (size_t i = 0; i < n_gone; i++) {
				gone[i]->tenant = ghost;
				gone[i]->want_running = false;
				gone[i]->stop_by = STOP_BY_RELOAD;
			}
			ghost->next = t->sup->tenants;
			t->sup->tenants = ghost;
			t->profile = NULL; /* now the ghost's */
			gone = NULL;
			ghost = NULL;
		} else {
			/* Out of memory (or nothing removed): no graceful way. */
			for (size_t i = 0; i < n_gone; i++)
				svc_free(gone[i]);
		}
		free(ghost);
		free(gone);
	}
	free(t->svcs);
	t->svcs = nv;
	t->n_svcs = np->n_services;
	if (had_net && !np->network.present && t->sup->net) {
		struct ward_err err = {0};
		if (network_tenant_remove(t->sup->net, np->name, &err) < 0)
			fprintf(stderr, "wardd: %s: firewall: %s\n", np->name, err.msg);
		for (size_t i = 0; i < t->n_svcs; i++)
			t->svcs[i]->fw_installed = false;
	}
	tenant_free(t->profile);
	t->profile = np;
	tenant_net_free(&t->net);
	t->net = *net;
	*net = (struct tenant_net){0};
	/* New flows apply at once, in one transaction, to the services that
	 * keep running; their connections and counters stay. */
	{
		struct ward_err err = {0};
		bool any = false;

		for (size_t i = 0; i < t->n_svcs; i++)
			any |= t->svcs[i]->fw_installed;
		if (any && tenant_fw_sync(t, &err) < 0)
			fprintf(stderr, "wardd: %s: firewall: %s\n", np->name, err.msg);
	}
	tenant_progress(t);
	for (struct tenant_rt *g = t->sup->tenants, *next; g; g = next) {
		next = g->next;
		if (g->removing && g != t)
			tenant_progress(g);
	}
}

json_t *supervisor_reload(struct supervisor *s)
{
	size_t n;
	struct loaded *v = load_dir(s, &n);
	struct reload_report rep = {json_array(), json_array(), json_array(), json_array()};
	json_t *added = rep.added, *removed = rep.removed, *rejected = json_array(), *report;

	for (size_t i = 0; i < n; i++) {
		struct tenant_rt *t = find_tenant(s, v[i].name);
		if (!v[i].profile) {
			audit_rejected(s, &v[i]);
			json_array_append_new(rejected, json_pack("{s:s, s:O}", "tenant", v[i].name,
								  "errors", v[i].errors));
			continue;
		}
		if (!t) {
			json_array_append_new(added, json_string(v[i].name));
			tenant_add(s, v[i].profile, &v[i].net);
		} else {
			tenant_update(t, v[i].profile, &v[i].net, &rep);
		}
		v[i].profile = NULL;
	}
	/* Tenants whose file is gone (a rejected file keeps its tenant). */
	for (struct tenant_rt *t = s->tenants, *next; t; t = next) {
		bool present = false;
		next = t->next;
		for (size_t i = 0; i < n; i++)
			present |= strcmp(v[i].name, t->profile->name) == 0;
		if (present || t->removing)
			continue;
		json_array_append_new(removed, json_string(t->profile->name));
		t->removing = true;
		for (size_t i = 0; i < t->n_svcs; i++)
			t->svcs[i]->want_running = false;
		tenant_progress(t);
	}
	loaded_free(v, n);
	report = json_pack("{s:o, s:o, s:o, s:o, s:o}", "added", added, "removed", removed,
			   "changed", rep.changed, "updated", rep.updated, "rejected", rejected);
	audit_event(s->audit, "reload", json_deep_copy(report));
	return report;
}

/* ---- operator actions ---- */

static int lookup(struct supervisor *s, const char *tenant, const char *service,
		  struct tenant_rt **t, struct svc **v, struct ward_err *err)
{
	*t = find_tenant(s, tenant);
	*v = NULL;
	if (!*t)
		return ward_err_set(err, 0, "no tenant \"%s\"", tenant);
	if (service) {
		*v = tenant_svc(*t, service);
		if (!*v)
			return ward_err_set(err, 0, "tenant %s has no service \"%s\"", tenant,
					    service);
	}
	return 0;
}

static void svc_operator_start(struct svc *v)
{
	v->want_running = true;
	v->after_stop = AFTER_STOP_NOTHING;
	if (v->state == SERVICE_FAILED) {
		/* An operator's start leaves failed and forgets the history. */
		v->n_starts = 0;
		v->consecutive = 0;
		svc_set_state(v, SERVICE_STOPPED);
	}
	if (v->state == SERVICE_BACKOFF) {
		svc_cancel_timer(v);
		svc_set_state(v, SERVICE_STOPPED);
	}
}

int supervisor_start(struct supervisor *s, const char *tenant, const char *service,
		     struct ward_err *err)
{
	struct tenant_rt *t;
	struct svc *v;

	if (lookup(s, tenant, service, &t, &v, err) < 0)
		return -1;
	for (size_t i = 0; i < t->n_svcs; i++)
		if (!v || t->svcs[i] == v)
			svc_operator_start(t->svcs[i]);
	tenant_progress(t);
	return 0;
}

int supervisor_stop(struct supervisor *s, const char *tenant, const char *service,
		    struct ward_err *err)
{
	struct tenant_rt *t;
	struct svc *v;

	if (lookup(s, tenant, service, &t, &v, err) < 0)
		return -1;
	if (v) {
		v->after_stop = AFTER_STOP_NOTHING;
		svc_stop(v, STOP_BY_OPERATOR);
	} else {
		/* The whole tenant: dependents first, through tenant_progress. */
		for (size_t i = 0; i < t->n_svcs; i++) {
			t->svcs[i]->want_running = false;
			t->svcs[i]->after_stop = AFTER_STOP_NOTHING;
			t->svcs[i]->stop_by = STOP_BY_OPERATOR;
			if (t->svcs[i]->state == SERVICE_BACKOFF ||
			    t->svcs[i]->state == SERVICE_FAILED)
				svc_stop(t->svcs[i], STOP_BY_OPERATOR);
		}
	}
	tenant_progress(t);
	return 0;
}

int supervisor_restart(struct supervisor *s, const char *tenant, const char *service,
		       struct ward_err *err)
{
	struct tenant_rt *t;
	struct svc *v;

	if (lookup(s, tenant, service, &t, &v, err) < 0)
		return -1;
	for (size_t i = 0; i < t->n_svcs; i++) {
		struct svc *x = t->svcs[i];
		if (v && x != v)
			continue;
		svc_operator_start(x);
		if (svc_active(x) && x->state != SERVICE_STOPPING) {
			x->after_stop = AFTER_STOP_START;
			svc_stop(x, STOP_BY_OPERATOR);
		} else if (x->state == SERVICE_STOPPING) {
			x->after_stop = AFTER_STOP_START;
		}
	}
	tenant_progress(t);
	return 0;
}

int supervisor_reset(struct supervisor *s, const char *tenant, const char *service,
		     struct ward_err *err)
{
	struct tenant_rt *t;
	struct svc *v;

	if (lookup(s, tenant, service, &t, &v, err) < 0)
		return -1;
	for (size_t i = 0; i < t->n_svcs; i++) {
		struct svc *x = t->svcs[i];
		if ((v && x != v) || x->state != SERVICE_FAILED)
			continue;
		x->n_starts = 0;
		x->consecutive = 0;
		svc_set_state(x, SERVICE_STOPPED);
		x->want_running = false;
		audit_svc(x, "service-reset", NULL);
	}
	return 0;
}

/* ---- status ---- */

/* The service's address and drop counter: null without a network. */
static void svc_net_status(struct svc *v, json_t *o, json_t *drops)
{
	struct tenant_rt *t = v->tenant;
	size_t i = (size_t)(v->def - t->profile->services);
	json_t *d;
	char a[16];

	if (!tenant_has_net(t) || i >= t->net.n) {
		json_object_set_new(o, "address", json_null());
		json_object_set_new(o, "drops", json_null());
		return;
	}
	network_addr_string(t->net.addrs[i], a);
	json_object_set_new(o, "address", json_string(a));
	d = drops ? json_object_get(drops, t->net.ifnames[i]) : NULL;
	/* No counter: the service is not installed (stopped); nothing dropped. */
	json_object_set_new(o, "drops", d ? json_incref(d) : json_integer(0));
}

/* Whether a process is stopped by a signal (SIGSTOP, SIGTSTP...: state T
 * in /proc/PID/stat) or held by a tracer (t). A stopped service keeps its
 * pid and its cgroup and does nothing: "running" alone would hide that
 * someone froze it. The state follows the last ')' (the name may hold
 * any). */
static bool proc_stopped(pid_t pid)
{
	char path[32], buf[512];
	_cleanup_close_ int fd = -1;
	ssize_t n;
	const char *p;

	if (pid <= 0 ||
	    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid) >= (int)sizeof(path))
		return false;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return false; /* gone: its exit is on its way */
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && (p[2] == 'T' || p[2] == 't');
}

static json_t *svc_status(struct svc *v, uint64_t now, json_t *drops)
{
	struct cgroup_stats cs = {0};
	json_t *o;

	if (v->cg)
		cgroup_stats(v->cg, &cs);
	/* One pack: status of 500 services is ~13k of these keys. */
	o = json_pack(
	    "{s:s, s:s, s:s, s:i, s:I, s:i, s:s, s:I, s:I, s:I, s:f, s:I}", "tenant",
	    v->tenant->profile->name, "service", v->def->name, "state",
	    service_state_to_string(v->state), "pid",
	    v->state == SERVICE_RUNNING || v->state == SERVICE_STOPPING ? (int)v->service_pid : 0,
	    "uptime_s", (json_int_t)(v->state == SERVICE_RUNNING ? (now - v->since_ms) / 1000 : 0),
	    "restarts", (int)v->restarts, "last_exit", v->last_exit, "memory_bytes",
	    (json_int_t)cs.memory_current, "memory_peak_bytes", (json_int_t)cs.memory_peak, "pids",
	    (json_int_t)cs.pids_current, "cpu_s", (double)cs.cpu_usec / 1e6, "oom_kills",
	    (json_int_t)cs.oom_kills);
	svc_net_status(v, o, drops);
	json_object_set_new(
	    o, "stopped_by_signal",
	    json_boolean(v->state == SERVICE_RUNNING && proc_stopped(v->service_pid)));
	return o;
}

json_t *supervisor_status(struct supervisor *s, const char *tenant, struct ward_err *err)
{
	uint64_t now = loop_now_ms();
	json_t *out = json_array();
	_cleanup_(json_decrefp) json_t *drops = s->net ? network_drops(s->net) : NULL;
	bool found = !tenant;

	for (struct tenant_rt *t = s->tenants; t; t = t->next) {
		if (t->removing || (tenant && strcmp(t->profile->name, tenant) != 0))
			continue;
		found = true;
		for (size_t i = 0; i < t->n_svcs; i++)
			json_array_append_new(out, svc_status(t->svcs[i], now, drops));
	}
	if (!found) {
		json_decref(out);
		ward_err_set(err, 0, "no tenant \"%s\"", tenant);
		return NULL;
	}
	return out;
}

static const char *proto_name(int proto)
{
	return proto == IPPROTO_UDP ? "udp" : "tcp";
}

static json_t *net_flows(const struct ward_tenant *p)
{
	json_t *flows = json_array();

	for (size_t i = 0; i < p->n_services; i++)
		for (size_t c = 0; c < p->services[i].n_connect; c++) {
			const struct ward_connect *x = &p->services[i].connect[c];
			json_array_append_new(
			    flows, json_pack("{s:s, s:s, s:s, s:i, s:s}", "kind", "connect", "from",
					     p->services[i].name, "to", x->service, "port", x->port,
					     "proto", proto_name(x->proto)));
		}
	for (size_t e = 0; e < p->network.n_egress; e++) {
		const struct ward_egress *g = &p->network.egress[e];
		json_t *from = json_array(), *tcp = json_array(), *udp = json_array();
		char a[16], to[24];

		for (size_t i = 0; i < g->n_from; i++)
			json_array_append_new(from, json_string(g->from[i]));
		for (size_t i = 0; i < g->n_tcp; i++)
			json_array_append_new(tcp, json_integer(g->tcp[i]));
		for (size_t i = 0; i < g->n_udp; i++)
			json_array_append_new(udp, json_integer(g->udp[i]));
		network_addr_string(g->to.addr, a);
		(void)snprintf(to, sizeof(to), "%s/%u", a, g->to.prefix); /* fits: 15 + 3 */
		json_array_append_new(flows,
				      json_pack("{s:s, s:o, s:s, s:o, s:o}", "kind", "egress",
						"from", g->has_from ? from : json_null(), "to", to,
						"tcp", tcp, "udp", udp));
		if (!g->has_from)
			json_decref(from);
	}
	for (size_t i = 0; i < p->network.n_ingress; i++) {
		const struct ward_ingress *g = &p->network.ingress[i];
		json_array_append_new(flows,
				      json_pack("{s:s, s:i, s:s, s:i, s:s}", "kind", "ingress",
						"host_port", g->host_port, "to", g->service, "port",
						g->port, "proto", proto_name(g->proto)));
	}
	return flows;
}

json_t *supervisor_net(struct supervisor *s, const char *tenant, struct ward_err *err)
{
	struct tenant_rt *t = find_tenant(s, tenant);
	_cleanup_(json_decrefp) json_t *drops = NULL;
	json_t *svcs;
	char a[16], g[16], subnet[24];

	if (!t) {
		ward_err_set(err, 0, "no tenant \"%s\"", tenant);
		return NULL;
	}
	if (!tenant_has_net(t))
		return json_pack("{s:s, s:n, s:n, s:n, s:[], s:[]}", "tenant", tenant, "subnet",
				 "gateway", "uplink", "services", "flows");
	drops = s->net ? network_drops(s->net) : NULL;
	svcs = json_array();
	for (size_t i = 0; i < t->n_svcs; i++) {
		json_t *o = json_pack("{s:s, s:s}", "service", t->svcs[i]->def->name, "state",
				      service_state_to_string(t->svcs[i]->state));
		svc_net_status(t->svcs[i], o, drops);
		json_object_set_new(o, "ifname",
				    i < t->net.n ? json_string(t->net.ifnames[i]) : json_null());
		json_array_append_new(svcs, o);
	}
	network_addr_string(t->net.subnet.addr, a);
	network_addr_string(t->net.gateway, g);
	(void)snprintf(subnet, sizeof(subnet), "%s/%u", a, t->net.subnet.prefix); /* fits */
	return json_pack("{s:s, s:s, s:s, s:o, s:o, s:o}", "tenant", tenant, "subnet", subnet,
			 "gateway", g, "uplink",
			 s->cfg->net_uplink ? json_string(s->cfg->net_uplink) : json_null(),
			 "services", svcs, "flows", net_flows(t->profile));
}

int supervisor_log_path(struct supervisor *s, const char *tenant, const char *service, char *buf,
			size_t len, struct ward_err *err)
{
	struct tenant_rt *t;
	struct svc *v;

	if (lookup(s, tenant, service, &t, &v, err) < 0)
		return -1;
	if (!v)
		return ward_err_set(err, 0, "logs need TENANT/SERVICE");
	if (svc_log_path(v, buf, len) < 0)
		return ward_err_set(err, ENAMETOOLONG, "log path");
	return 0;
}

int supervisor_remove_tenant(struct supervisor *s, const char *tenant, supervisor_gone_fn done,
			     void *ud, struct ward_err *err)
{
	struct tenant_rt *t = find_tenant(s, tenant);

	if (!t)
		return ward_err_set(err, 0, "no tenant \"%s\"", tenant);
	t->removing = true;
	t->gone = done;
	t->gone_ud = ud;
	for (size_t i = 0; i < t->n_svcs; i++) {
		t->svcs[i]->want_running = false;
		t->svcs[i]->after_stop = AFTER_STOP_NOTHING;
		if (t->svcs[i]->state == SERVICE_BACKOFF || t->svcs[i]->state == SERVICE_FAILED)
			svc_stop(t->svcs[i], STOP_BY_OPERATOR);
	}
	tenant_progress(t); /* may call done and free t at once */
	return 0;
}

bool supervisor_has_tenant(struct supervisor *s, const char *tenant)
{
	for (struct tenant_rt *t = s->tenants; t; t = t->next)
		if (strcmp(t->profile->name, tenant) == 0)
			return true; /* also while it is being removed */
	return false;
}

int supervisor_each_tenant(struct supervisor *s, int (*fn)(const struct ward_tenant *t, void *ud),
			   void *ud)
{
	for (struct tenant_rt *t = s->tenants; t; t = t->next) {
		int r;
		if (t->removing)
			continue;
		r = fn(t->profile, ud);
		if (r)
			return r;
	}
	return 0;
}

int supervisor_service_view(struct supervisor *s, const char *tenant, const char *service,
			    struct service_view *out, struct ward_err *err)
{
	struct tenant_rt *t;
	struct svc *v;

	if (lookup(s, tenant, service, &t, &v, err) < 0)
		return -1;
	if (!v)
		return ward_err_set(err, 0, "need TENANT/SERVICE");
	*out = (struct service_view){
	    .tenant = t->profile,
	    .service = v->def,
	    .state = v->state,
	    .init_pid = v->h.pid,
	    .init_pidfd = v->h.pidfd,
	    .service_pid = v->service_pid,
	};
	return 0;
}

void supervisor_set_network(struct supervisor *s, struct network *net)
{
	s->net = net;
}

void supervisor_set_output_hook(struct supervisor *s, supervisor_output_fn fn, void *ud)
{
	s->out_fn = fn;
	s->out_ud = ud;
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
