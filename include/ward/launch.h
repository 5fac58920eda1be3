/* The spawn sequence: one service (or session) started in its own namespaces
 * under its policy. launch.c orders the facility modules; see DESIGN.md. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "ward/cgroup.h"
#include "ward/error.h"
#include "ward/profile.h"
#include "ward/seccomp.h"

struct launch_spec {
	const struct ward_tenant *tenant;
	const struct ward_service *service;
	const struct ward_policy *policy; /* usually &service->policy */
	char *const *argv;                /* NULL: service->exec */
	const char *data_dir;             /* host path of the tenant's data dir */
	const struct seccomp_program *seccomp;
	const struct cgroup *cgroup; /* the sandbox's cgroup, or NULL */
	int stdio[3];                /* the service's fds 0, 1 and 2 */
};

/* A started sandbox: `pid` is its init (pid 1 inside), our child. */
struct launch_handle {
	pid_t pid;
	int pidfd;   /* of the init */
	int sync_fd; /* events from the init, see launch_read_event */
};

enum launch_event_kind {
	LAUNCH_EVENT_RUNNING, /* the service was exec'd */
	LAUNCH_EVENT_FAILED,  /* a setup step failed: message says which */
	LAUNCH_EVENT_EXITED,  /* the service ended: status is its wait status */
	LAUNCH_EVENT_GONE,    /* the init vanished without a word */
	LAUNCH_EVENT_PID,     /* pid: the service's pid in the launcher's pid namespace */
};

struct launch_event {
	enum launch_event_kind kind;
	int status;        /* EXITED: wait status of the service */
	pid_t pid;         /* PID */
	char message[768]; /* FAILED: "step: detail: strerror" */
};

/* Clones the sandbox and releases it once the parent's part is done. The
 * service runs (or fails) asynchronously; read sync_fd for what happened.
 * Returns 0 or -1 with err set (nothing left behind). */
int launch_start(const struct launch_spec *spec, struct launch_handle *h, struct ward_err *err);
/* Reads one event; blocks unless sync_fd is readable. Returns 0 or -1. */
int launch_read_event(struct launch_handle *h, struct launch_event *ev);
/* Sends sig to the init, which forwards TERM/INT/HUP to the service. */
int launch_signal(struct launch_handle *h, int sig);
/* Reaps the init and closes the handle's fds. */
void launch_release(struct launch_handle *h);

/* Whether a limit of the policy cannot be granted here (it is above the
 * inherited hard limit and we lack CAP_SYS_RESOURCE to raise it): then the
 * service gets the lower hard limit, and buf says which. */
int launch_limits_clamped(const struct ward_policy *p, char *buf, size_t len);

/* wait status -> exit code the way shells do it: N, or 128+signal. */
int launch_exit_code(int wait_status);
