/* The spawn sequence: one service (or session) started in its own namespaces
 * under its policy. launch.c orders the facility modules; see DESIGN.md. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "sandbox/cgroup.h"
#include "basic/error.h"
#include "model/profile.h"
#include "sandbox/seccomp.h"

struct launch_spec {
	const struct ward_tenant *tenant;
	const struct ward_service *service;
	const struct ward_policy *policy; /* usually &service->policy */
	char *const *argv;                /* NULL: service->exec */
	const char *data_dir;             /* host path of the tenant's data dir */
	const struct seccomp_program *seccomp;
	const struct cgroup *cgroup; /* the sandbox's cgroup, or NULL */
	/* Or, with cgroup NULL: how to get it, asked once, when the launch
	 * needs it; the cgroup module decides when that is (before the clone
	 * where the sandbox is born in its cgroup, else after the start, while
	 * the sandbox builds its filesystem view: it waits for its cgroup
	 * before it runs anything of the tenant's). Returns the cgroup, the
	 * caller's to destroy, or NULL with err set: the launch fails. */
	const struct cgroup *(*cgroup_get)(void *ud, struct ward_err *err);
	void *cgroup_get_ud;
	/* Run in the parent once the sandbox exists (its init's pid and
	 * pidfd), before it may go on: what the service must never run
	 * without, e.g. its network (netlink_veth_before_go: the veth's end is
	 * born inside the new namespace, never moved there). A failure ends
	 * the launch. NULL: nothing (loopback only). */
	int (*before_go)(void *ud, pid_t pid, int pidfd, struct ward_err *err);
	void *before_go_ud;
	int stdio[3]; /* the service's fds 0, 1 and 2 */
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
	int fd;            /* PID of a session with a terminal: the pty's master,
			    * the reader's to close; -1 otherwise */
	char message[768]; /* FAILED: "step: detail: strerror" */
};

/* Clones the sandbox and releases it once the parent's part is done. The
 * service runs (or fails) asynchronously; read sync_fd for what happened.
 * Returns 0 or -1 with err set (nothing left behind). */
int launch_start(const struct launch_spec *spec, struct launch_handle *h, struct ward_err *err);
/* An end-user session joining a running service (session.c): a child that
 * enters every namespace of the service's sandbox through its init's pidfd,
 * takes a mount table of its own built from the service's view (see
 * mounts_session_open), and forks the session program into the service's
 * pid namespace, where it sheds its privileges exactly as a service does.
 * The handle's pid is that child (outside the sandbox's pid namespace): it
 * reports PID (with the pty master when tty), RUNNING or FAILED, then
 * EXITED, and forwards TERM/INT/HUP to the session's process group. */
struct launch_join_spec {
	const struct ward_tenant *tenant;
	const struct ward_policy *policy; /* the session policy */
	char *const *argv;
	char *const *envp;    /* the whole environment */
	int init_pidfd;       /* of the service's sandbox init */
	bool join_user;       /* the sandbox has a user namespace of its own */
	uid_t uid;            /* the session's identity: in the tenant's range, */
	gid_t gid;            /* never the service's uid */
	const char *home;     /* where the home appears inside: /home/USER; the cwd */
	int home_fd;          /* the home directory on the host (O_PATH) */
	const char *data_dir; /* host path of the tenant's data dir (policy data) */
	const struct seccomp_program *seccomp;
	const struct cgroup *cgroup; /* the session's cgroup, or NULL */
	/* true: the session gets a new pty of the service's devpts as its
	 * controlling terminal (rows x cols), its master comes with PID;
	 * stdio is then unused. false: stdio are its fds 0, 1 and 2. */
	bool tty;
	unsigned short rows, cols;
	int stdio[3];
};

/* Starts the join; like launch_start it returns once the child runs, and
 * everything after that is reported on sync_fd. Returns 0 or -1 with err. */
int launch_join(const struct launch_join_spec *spec, struct launch_handle *h, struct ward_err *err);

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
