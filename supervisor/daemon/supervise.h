/* The supervisor: every tenant's services, each with its state machine
 * (stopped -> starting -> running -> stopping, backoff, failed) and restart
 * policy with systemd's meanings. Knows nothing of namespaces: launch.c does
 * the spawning. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "daemon/audit.h"
#include "model/config.h"
#include "basic/error.h"
#include "basic/loop.h"
#include "model/profile.h"
#include "sandbox/cgroup.h"
#include "sandbox/launch.h"

enum service_state {
	SERVICE_STOPPED,
	SERVICE_STARTING, /* launched, waiting for the init's "running" */
	SERVICE_RUNNING,
	SERVICE_STOPPING, /* SIGTERM sent, SIGKILL at stop_timeout_s */
	SERVICE_BACKOFF,  /* exited, restart timer armed */
	SERVICE_FAILED,   /* start limit hit or start impossible: waits for an operator */
};

const char *service_state_to_string(enum service_state s);

/* ---- restart policy, pure functions (unit-tested) ---- */

/* systemd: a clean exit is status 0, or death by SIGTERM/SIGINT/SIGHUP/SIGPIPE. */
bool exit_is_clean(int wait_status);
bool restart_wanted(enum restart_on on, int wait_status);
/* The delay before restart number n (n = 1 for the first restart):
 * delay_ms doubled per consecutive restart, capped at max_delay_ms. */
uint64_t restart_delay_ms(const struct ward_restart *r, unsigned n);
/* "exited 3", "killed by SIGSEGV (core dumped)". */
void exit_reason(int wait_status, char *buf, size_t len);

/* ---- the supervisor ---- */

struct supervisor;

struct supervisor *supervisor_new(const struct ward_config *cfg, struct loop *loop,
				  struct audit *audit);
void supervisor_free(struct supervisor *s);

/* Loads every profile in the tenants dir and starts every service (in
 * `after` order). A profile that does not load is audited and skipped.
 * Returns the number of tenants loaded. */
int supervisor_load_all(struct supervisor *s);
/* Re-reads the tenants dir: starts new tenants, stops removed ones,
 * restarts services whose digest changed, keeps a tenant whose new profile
 * has errors on its old one. Returns a JSON report (new reference):
 * {"added": [...], "removed": [...], "changed": [...], "rejected": [{tenant, errors}]} */
json_t *supervisor_reload(struct supervisor *s);

/* Operator actions. service NULL: every service of the tenant. Return 0,
 * or -1 with err ("no tenant \"x\""). */
int supervisor_start(struct supervisor *s, const char *tenant, const char *service,
		     struct ward_err *err);
int supervisor_stop(struct supervisor *s, const char *tenant, const char *service,
		    struct ward_err *err);
int supervisor_restart(struct supervisor *s, const char *tenant, const char *service,
		       struct ward_err *err);
int supervisor_reset(struct supervisor *s, const char *tenant, const char *service,
		     struct ward_err *err);

/* [{"tenant","service","state","pid","uptime_s","restarts","last_exit"}, ...]
 * for one tenant or all (tenant NULL); NULL with err if there is no such tenant. */
json_t *supervisor_status(struct supervisor *s, const char *tenant, struct ward_err *err);

/* Path of a service's log, if the service exists. */
int supervisor_log_path(struct supervisor *s, const char *tenant, const char *service, char *buf,
			size_t len, struct ward_err *err);

/* Stops every tenant, dependents first, then calls done(ud). */
void supervisor_shutdown(struct supervisor *s, void (*done)(void *ud), void *ud);

/* ---- the launcher: how sandboxes are made (the unit tests' seam) ---- */

/* One service run's sandbox as the supervisor sees it. The supervisor sets
 * loop, event and gone; the launcher fills h and calls event for every
 * word of the sandbox's init (in order; GONE when it vanished), then gone
 * once the init is reaped and the handle released (h.pid -1 then). */
struct sandbox {
	struct launch_handle h; /* h.pid > 0 while a sandbox exists */
	struct loop *loop;
	void (*event)(struct sandbox *sb, const struct launch_event *ev);
	void (*gone)(struct sandbox *sb, int init_status);
};

/* The operations the state machine needs of the system, as crun does for
 * its cgroup managers: the real ones (launch.c, cgroup.c) by default, a
 * fake in the unit tests (no root, no namespaces). */
struct supervisor_launcher {
	/* Starts spec's sandbox into sb->h and watches it on sb->loop. 0, or
	 * -1 with err and nothing left behind. */
	int (*start)(struct sandbox *sb, const struct launch_spec *spec, struct ward_err *err);
	/* To the init: it forwards TERM/INT/HUP to the service. */
	int (*signal)(struct sandbox *sb, int sig);
	/* Stops watching, SIGKILLs a sandbox still there, reaps, closes. */
	void (*release)(struct sandbox *sb);
	/* cgroup.c's, with its meanings. */
	struct cgroup *(*cgroup_create)(const char *tenant, const char *service,
					const struct ward_limits *l, struct ward_err *err);
	int (*cgroup_destroy)(struct cgroup *cg, struct ward_err *err);
	int (*cgroup_stats)(struct cgroup *cg, struct cgroup_stats *st);
	int (*cgroup_kill)(struct cgroup *cg, struct ward_err *err);
	int (*tenant_limits)(const char *tenant, const struct ward_limits *cap,
			     struct ward_err *err);
};
extern const struct supervisor_launcher supervisor_real_launcher;
/* Before supervisor_load_all; NULL: the real one. l must outlive s. */
void supervisor_set_launcher(struct supervisor *s, const struct supervisor_launcher *l);

/* ---- for sessions and onboarding ---- */

typedef void (*supervisor_gone_fn)(const char *tenant, void *ud);
/* Stops every service of the tenant (dependents first) and forgets it;
 * done(tenant, ud) once all of it is down and its rules are gone (maybe
 * before this returns). The profile file is the caller's business: a
 * reload that finds it again adds the tenant anew. */
int supervisor_remove_tenant(struct supervisor *s, const char *tenant, supervisor_gone_fn done,
			     void *ud, struct ward_err *err);
/* Whether a tenant of that name exists, also one still being removed. */
bool supervisor_has_tenant(struct supervisor *s, const char *tenant);
/* fn(profile, ud) for every live tenant until it returns non-zero (which
 * is returned). The profiles stay valid until the loop's next turn. */
int supervisor_each_tenant(struct supervisor *s, int (*fn)(const struct ward_tenant *t, void *ud),
			   void *ud);

/* What a session needs of the service it joins. */
struct service_view {
	const struct ward_tenant *tenant;
	const struct ward_service *service;
	enum service_state state;
	pid_t init_pid; /* the sandbox's init (pid 1 inside), -1 when none */
	int init_pidfd; /* its pidfd (setns into its namespaces), -1 when none */
	pid_t service_pid;
};
int supervisor_service_view(struct supervisor *s, const char *tenant, const char *service,
			    struct service_view *out, struct ward_err *err);

/* Tenant networks (network.c): set before supervisor_load_all; without
 * one, tenants with a `network` section cannot start. */
struct network;
void supervisor_set_network(struct supervisor *s, struct network *net);
/* network.c's link-removal hook (ud: the supervisor): services waiting for
 * the name of their host link to be free start. */
void supervisor_link_gone(const char *ifname, void *ud);
/* {"tenant", "subnet", "gateway", "uplink", "services": [{"service",
 * "address", "ifname", "state", "drops"}], "flows": [...]} or NULL with err. */
json_t *supervisor_net(struct supervisor *s, const char *tenant, struct ward_err *err);

/* Called with every chunk a service writes to stdout/stderr, after it is in
 * the log file (control.c streams it to `wardctl logs -f`). */
typedef void (*supervisor_output_fn)(const char *tenant, const char *service, const char *data,
				     size_t len, void *ud);
void supervisor_set_output_hook(struct supervisor *s, supervisor_output_fn fn, void *ud);
