/* What the supervisor's files share (supervise.c, restart.c, output.c,
 * supervise-net.c, tenants-dir.c, reload.c, operator.c, status.c,
 * supervise-launcher.c); not for anyone else: supervise.h is the API.
 * Everything here runs on the loop; no function blocks. */
#pragma once

#include <net/if.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/supervise.h"
#include "net/network.h"
#include "sandbox/launch.h"
#include "sandbox/seccomp.h"

enum stop_by { STOP_BY_OPERATOR, STOP_BY_SHUTDOWN, STOP_BY_RELOAD };
enum after_stop { AFTER_STOP_NOTHING, AFTER_STOP_START, AFTER_STOP_REMOVE };

struct tenant_rt;

/* The restart policy's memory of a service (restart.c). */
struct svc_history {
	unsigned restarts;    /* restarts since the daemon started (status) */
	unsigned consecutive; /* consecutive restarts, for the delay */
	uint64_t *starts;     /* ring of recent start times, for the start limit */
	size_t n, cap;
};

/* Network (tenants with a `network` section): the address and host link
 * of the current (or last) sandbox, whether the firewall has the service's
 * elements, and whether a start waits for the kernel to remove the link of
 * the previous sandbox (its name is reused). */
struct svc_net {
	struct network_veth veth;
	bool fw_installed;
	bool link_pending;
};

struct svc {
	struct tenant_rt *tenant;
	const struct ward_service *def; /* in tenant->profile */
	enum service_state state;
	bool want_running;   /* the operator's intent; a restart never overrides a stop */
	uint64_t since_ms;   /* when the current state began */
	uint64_t started_ms; /* when the last start happened */

	struct sandbox sb; /* sb.h.pid > 0 while a sandbox exists */
	pid_t service_pid; /* host pid of the service, 0 when not running */
	bool exit_seen;
	int exit_status;
	char start_error[768]; /* the step that failed, when the sandbox failed */
	struct seccomp_program prog;
	struct cgroup *cg; /* from the first start until the service stops */
	uint64_t oom_base; /* the cgroup's OOM kills when this run started */
	bool prog_ready;
	bool cg_stale; /* the definition changed: new limits at next start */

	int out_fd; /* read end of the service's stdout/stderr */
	struct log_sink *log;

	struct svc_history hist;
	struct loop_timer *timer; /* restart delay or stop timeout */
	enum stop_by stop_by;
	enum after_stop after_stop;
	char last_exit[128];

	struct svc_net net;
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
	const struct supervisor_launcher *launcher; /* never NULL */
	struct tenant_rt *tenants;
	int devnull;
	supervisor_output_fn out_fn;
	void *out_ud;
	bool shutting_down;
	void (*shutdown_done)(void *ud);
	void *shutdown_ud;
};

/* supervise.c: the state machine. */
void audit_svc(struct svc *v, const char *event, json_t *fields);
void svc_set_state(struct svc *v, enum service_state s);
struct svc *tenant_svc(struct tenant_rt *t, const char *name);
struct tenant_rt *find_tenant(struct supervisor *s, const char *name);
bool svc_active(const struct svc *v);
struct svc *svc_new(struct tenant_rt *t, const struct ward_service *def);
void svc_free(struct svc *v);
void svc_stop(struct svc *v, enum stop_by by);
void svc_cancel_timer(struct svc *v);
void tenant_progress(struct tenant_rt *t);
/* The tenant-wide cap, on PARENT/TENANT above its services' cgroups. */
void tenant_apply_cap(struct supervisor *s, const struct ward_tenant *p);
/* Takes profile and *net. */
void tenant_add(struct supervisor *s, struct ward_tenant *profile, struct tenant_net *net);

/* restart.c: the start limit. */
bool start_limit_hit(struct svc_history *h, const struct ward_restart *r, uint64_t now);
int remember_start(struct svc_history *h, uint64_t now);
void svc_history_forget(struct svc_history *h);

/* output.c: the service's stdout/stderr into its log and the output hook. */
int svc_open_output(struct svc *v, int *write_end, struct ward_err *err);
/* Reads what the pipe holds (up to 64 reads), then closes it. */
void svc_drain_output(struct svc *v);
void svc_close_output(struct svc *v);
int svc_log_path(struct svc *v, char *buf, size_t len);

/* supervise-net.c: the supervisor's side of the tenant networks. */
bool tenant_has_net(const struct tenant_rt *t);
int tenant_fw_sync(struct tenant_rt *t, struct ward_err *err);
void svc_fw_uninstall(struct svc *v);
/* The service's veth for its next sandbox (net.veth). */
int svc_net_prepare(struct svc *v, struct ward_err *err);
/* Whether the host link of the previous sandbox is still there (its name
 * is reused): then the start waits for supervisor_link_gone. */
bool svc_link_pending(struct svc *v);
void svc_audit_drops(struct svc *v);

/* tenants-dir.c: every TENANT.json of the tenants dir, checked. */
struct loaded {
	char name[WARD_NAME_MAX + 1];
	char path[4096];
	struct ward_tenant *profile; /* NULL: rejected */
	json_t *errors;              /* array of strings when rejected */
	struct tenant_net net;       /* allocated addresses, when it has a network */
};
struct loaded *tenants_dir_load(struct supervisor *s, size_t *n_out);
void loaded_audit_rejected(struct supervisor *s, struct loaded *l);
void loaded_free(struct loaded *v, size_t n);

/* reload.c: the diff of what runs against v (sorted by name, as
 * tenants_dir_load returns it): takes the profiles it accepts (v[i].profile
 * NULL then), not v. The unit tests' way in: no tenants dir, no root. */
json_t *supervisor_reload_loaded(struct supervisor *s, struct loaded *v, size_t n);

/* operator.c */
int supervisor_lookup(struct supervisor *s, const char *tenant, const char *service,
		      struct tenant_rt **t, struct svc **v, struct ward_err *err);
