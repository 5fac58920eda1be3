/* The spawn sequence, top to bottom: one service started in its own
 * namespaces under its policy; and an end-user session joining a running
 * service (launch_join), which sheds its privileges exactly as a service
 * does (exec_sandboxed). This file only orders the facility modules (mounts,
 * caps, seccomp, netlink); see "The spawn sequence" in DESIGN.md.
 *
 *   parent                         sandbox init (pid 1)          service
 *   clone3(new namespaces) ------> wait for "go"
 *   write uid/gid maps, veth,
 *   keep the init off our CPU,
 *   "go" -------------------------> its CPUs back, hostname,
 *                                  lo up, mounts,
 *                                  pivot_root, vfork ---------> setsid, stdio, rlimits,
 *                                  drop own privileges           uid/caps, no_new_privs,
 *                                  report RUNNING/FAILED  <----- close fds, seccomp, execve
 *                                  reap, forward signals,
 *                                  report EXITED
 *
 *   parent                         join child (host pid ns)      session
 *   clone3(into its cgroup) -----> wait for "go", open the
 *   keep it off our CPU,
 *   "go" -------------------------> its CPUs back, host's
 *                                  sources, setns(init
 *                                  pidfd, all), unshare cgroup
 *                                  and mount ns, session view,
 *                                  fork (into the service's ---> pty, setsid, ctty, rlimits,
 *                                  pid ns), drop privileges      uid/caps, no_new_privs,
 *                                  report RUNNING/FAILED  <----- close fds, seccomp, execve
 *                                  reap, forward HUP/TERM,
 *                                  report EXITED
 */
#include "sandbox/launch.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/openat2.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/caps.h"
#include "basic/cleanup.h"
#include "sandbox/mounts.h"
#include "sandbox/loopback.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* Exit codes of a launch that never ran the service, as shells use them. */
enum { EXIT_SETUP = 125, EXIT_NOEXEC = 126, EXIT_NOTFOUND = 127 };

/* Child to parent: RUNNING, FAILED, EXITED, PID. Parent to child, after the
 * one-byte "go": CGROUP, the files to move itself into its cgroup with. */
enum msg_kind { MSG_RUNNING = 1, MSG_FAILED, MSG_EXITED, MSG_PID, MSG_CGROUP };

struct msg {
	int32_t kind;
	int32_t status; /* EXITED: wait status; FAILED: exit code */
	char text[768];
};

/* Parent to child, the one message that releases it: "go", and the CPUs it
 * was born with if the parent narrowed them for the start (cpus_apart). */
struct go {
	char go; /* 'g' */
	bool narrowed;
	cpu_set_t cpus;
};

/* Waits for "go", then puts back the CPUs the child was born with: the
 * service or session inherits them. A failure there (those CPUs went
 * offline meanwhile) leaves a subset of them, which only costs speed.
 * EOF or anything but "go" (the parent died) ends the child. */
static void go_wait(int sync)
{
	struct go go;

	if (read(sync, &go, sizeof(go)) != (ssize_t)sizeof(go) || go.go != 'g')
		_exit(EXIT_SETUP);
	if (go.narrowed)
		(void)sched_setaffinity(0, sizeof(go.cpus), &go.cpus);
}

static void msg_send(int fd, enum msg_kind kind, int status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void msg_send(int fd, enum msg_kind kind, int status, const char *fmt, ...)
{
	struct msg m = {.kind = kind, .status = status};

	if (fmt) {
		va_list ap;

		va_start(ap, fmt);
		(void)vsnprintf(m.text, sizeof(m.text), fmt, ap); /* a long message may be cut */
		va_end(ap);
	}
	/* SEQPACKET: one message, all or nothing. Nothing to do on failure:
	 * the parent sees EOF and reports the sandbox as gone. */
	if (send(fd, &m, sizeof(m), MSG_NOSIGNAL) < 0 && errno == ENOTSOCK)
		(void)!write(fd, &m, sizeof(m)); /* the service's error pipe */
}

/* Every failure of a setup step in a child (the init, the join child, the
 * service before its execve): its report as FAILED on fd, then its end with
 * code. Nothing else may run after a step failed. */
static __attribute__((noreturn, format(printf, 3, 4))) void child_exit(int fd, int code,
								       const char *fmt, ...)
{
	char text[sizeof(((struct msg *)0)->text)];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(text, sizeof(text), fmt, ap); /* a long message may be cut */
	va_end(ap);
	msg_send(fd, MSG_FAILED, code, "%s", text);
	_exit(code);
}

/* "step: strerror(e)", the usual report of a failed step. */
static __attribute__((noreturn)) void child_fail(int fd, const char *step, int e)
{
	child_exit(fd, EXIT_SETUP, "%s: %s", step, strerror(e));
}

static unsigned long clone_flags(const struct ward_policy *p)
{
	/* No CLONE_NEWCGROUP here: the child unshares it once it sits in its
	 * own cgroup, so that cgroup is the root of what it can see. */
	unsigned long f =
	    CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_PIDFD;

	if (p->user_namespace)
		f |= CLONE_NEWUSER;
	return f;
}

/* ---- the service, in the grandchild ---- */

static void set_rlimit(int res, uint64_t v, int errfd, const char *name)
{
	struct rlimit rl = {.rlim_cur = v, .rlim_max = v};
	struct rlimit cur;

	if (v == WARD_UNSET)
		return;
	/* Raising a hard limit needs CAP_SYS_RESOURCE on the host, which the
	 * launcher may lack: then the service gets the lower hard limit it
	 * inherited (launch_limits_clamped() lets the caller say so). A
	 * limit is a ceiling: lower is never less safe. */
	if (setrlimit(res, &rl) < 0 && errno == EPERM && getrlimit(res, &cur) == 0 &&
	    cur.rlim_max < v) {
		rl.rlim_cur = rl.rlim_max = cur.rlim_max;
		errno = setrlimit(res, &rl) < 0 ? errno : 0;
	} else {
		errno = 0;
		if (getrlimit(res, &cur) < 0 || cur.rlim_max != v)
			errno = EPERM;
	}
	if (errno)
		child_exit(errfd, EXIT_SETUP, "rlimit %s: %s", name, strerror(errno));
}

static void close_other_fds(int keep)
{
	/* Everything but stdio goes; `keep` is the O_CLOEXEC error pipe that
	 * carries an execve failure back and closes itself on success. */
	if (keep > 3)
		syscall(SYS_close_range, 3, keep - 1, 0);
	syscall(SYS_close_range, keep + 1, ~0U, 0);
}

/* What the last process of a spawn becomes, a service or a session: the one
 * place where a sandboxed process sheds its privileges before execve. */
struct exec_plan {
	const struct ward_policy *policy;
	uid_t uid;
	gid_t gid;
	const char *cwd;
	bool ctty; /* fd 0 is a terminal to take as the controlling one */
	const struct seccomp_program *seccomp;
	char *const *argv;
	char *const *envp;
};

static __attribute__((noreturn)) void exec_sandboxed(const struct exec_plan *x, int errfd)
{
	const struct ward_policy *p = x->policy;
	sigset_t none;
	const char *step = NULL;
	int r;

	/* execve resets handled signals to default but keeps ignored ones
	 * and the mask: give the program a clean slate of both. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int s = 1; s < SIGRTMIN; s++)
		if (s != SIGKILL && s != SIGSTOP)
			(void)signal(s, SIG_DFL); /* glibc refuses its own 32 and 33: fine */

	/* A new session: no controlling terminal, so no TIOCSTI into the
	 * operator's tty even through an inherited fd. */
	if (setsid() < 0)
		child_fail(errfd, "setsid", errno);
	/* A session's own pty, after setsid: only a session leader without a
	 * controlling terminal may take one. */
	if (x->ctty && ioctl(0, TIOCSCTTY, 0) < 0)
		child_fail(errfd, "controlling terminal", errno);
	if (chdir(x->cwd) < 0)
		child_fail(errfd, "chdir", errno);
	set_rlimit(RLIMIT_NOFILE, p->limits.nofile, errfd, "nofile");
	set_rlimit(RLIMIT_CORE, p->limits.core, errfd, "core");
	/* Counted per user namespace: a fork bomb stops here even before the
	 * cgroup's pids.max. */
	set_rlimit(RLIMIT_NPROC, p->limits.pids, errfd, "nproc");

	/* Identity and capabilities after everything that needs privilege. */
	r = caps_drop_to(x->uid, x->gid, p->caps_keep, &step);
	if (r < 0)
		child_fail(errfd, step, -r);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		child_fail(errfd, "no_new_privs", errno);
	close_other_fds(errfd);

	/* Seccomp last: it would block the steps above. */
	if (x->seccomp) {
		r = seccomp_program_load(x->seccomp);
		if (r < 0)
			child_fail(errfd, "seccomp", -r);
	}
	if (strchr(x->argv[0], '/'))
		execve(x->argv[0], x->argv, x->envp);
	else
		execvpe(x->argv[0], x->argv, x->envp);
	r = errno;
	child_exit(errfd, r == ENOENT ? EXIT_NOTFOUND : EXIT_NOEXEC, "exec %s: %s", x->argv[0],
		   strerror(r));
}

static __attribute__((noreturn)) void service_exec(const struct launch_spec *spec,
						   char *const *argv, char *const *envp, int errfd)
{
	const struct exec_plan x = {
	    .policy = spec->policy,
	    .uid = spec->tenant->ids.uid,
	    .gid = spec->tenant->ids.uid,
	    .cwd = spec->policy->filesystem.data ? spec->policy->filesystem.data : "/",
	    .seccomp = spec->seccomp,
	    .argv = argv,
	    .envp = envp,
	};

	exec_sandboxed(&x, errfd);
}

int launch_limits_clamped(const struct ward_policy *p, char *buf, size_t len)
{
	const struct {
		int res;
		uint64_t want;
		const char *name;
	} lim[] = {
	    {RLIMIT_NOFILE, p->limits.nofile, "nofile"},
	    {RLIMIT_CORE, p->limits.core, "core"},
	    {RLIMIT_NPROC, p->limits.pids, "pids"},
	};
	struct rlimit rl;
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2] = {{0}};
	bool can_raise = syscall(SYS_capget, &hdr, data) == 0 &&
			 (data[CAP_SYS_RESOURCE / 32].effective >> (CAP_SYS_RESOURCE % 32) & 1);
	int n = 0;

	if (len)
		buf[0] = '\0';
	for (size_t i = 0; i < sizeof(lim) / sizeof(*lim) && !can_raise; i++) {
		if (lim[i].want == WARD_UNSET || getrlimit(lim[i].res, &rl) < 0 ||
		    rl.rlim_max >= lim[i].want)
			continue;
		if ((size_t)n < len)
			n += snprintf(buf + n, len - (size_t)n,
				      "%slimits.%s %llu above the host's hard limit %llu",
				      n ? "; " : "", lim[i].name, (unsigned long long)lim[i].want,
				      (unsigned long long)rl.rlim_max);
	}
	return n > 0;
}

/* The most fds a message carries: a cgroup's files (MSG_CGROUP). */
#define MSG_MAX_FDS CGROUP_JOIN_MAX

/* One message with n fds (SCM_RIGHTS) and, if uc, credentials. Returns 0,
 * or -1 with errno. */
static int msg_send_with(int sock, struct msg *m, const struct ucred *uc, const int *fds, size_t n)
{
	union {
		char buf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int) * MSG_MAX_FDS)];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = {.iov_base = m, .iov_len = sizeof(*m)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.buf};
	struct cmsghdr *c;

	if (n > MSG_MAX_FDS) {
		errno = EINVAL;
		return -1;
	}
	memset(&cbuf, 0, sizeof(cbuf)); /* CMSG_NXTHDR reads the next header */
	mh.msg_controllen =
	    (uc ? CMSG_SPACE(sizeof(*uc)) : 0) + (n ? CMSG_SPACE(sizeof(int) * n) : 0);
	c = CMSG_FIRSTHDR(&mh);
	if (uc) {
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_CREDENTIALS;
		c->cmsg_len = CMSG_LEN(sizeof(*uc));
		memcpy(CMSG_DATA(c), uc, sizeof(*uc));
		c = CMSG_NXTHDR(&mh, c);
	}
	if (n) {
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * n);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
	}
	if (!mh.msg_controllen)
		mh.msg_control = NULL;
	if (sendmsg(sock, &mh, MSG_NOSIGNAL) != (ssize_t)sizeof(*m))
		return errno = errno ? errno : EIO, -1;
	return 0;
}

/* One message, with the fds it brought (close-on-exec, at most MSG_MAX_FDS,
 * *nfds of them in fds) and, if pid, the sender's pid from its credentials.
 * Returns its length (0 at EOF), or -1 with errno. */
static ssize_t msg_recv(int sock, struct msg *m, int *fds, int *nfds, pid_t *pid)
{
	union {
		char buf[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int) * MSG_MAX_FDS)];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = {.iov_base = m, .iov_len = sizeof(*m)};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = cbuf.buf,
			    .msg_controllen = sizeof(cbuf.buf)};
	ssize_t len;

	*nfds = 0;
	do
		len = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (len < 0 && errno == EINTR);
	/* A reset says only that the child exited with a message of ours
	 * unread (the cgroup's files, when it failed a step before it took
	 * them); what it sent before, its report of why, is still queued and
	 * comes next. The kernel reports a reset once. */
	if (len < 0 && errno == ECONNRESET)
		do
			len = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
		while (len < 0 && errno == EINTR);
	if (len < 0)
		return -1;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			for (size_t i = 0; i < n && *nfds < MSG_MAX_FDS; i++)
				memcpy(&fds[(*nfds)++], CMSG_DATA(c) + i * sizeof(int),
				       sizeof(int));
		}
		if (pid && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS &&
		    c->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
			struct ucred uc;

			memcpy(&uc, CMSG_DATA(c), sizeof(uc));
			*pid = uc.pid;
		}
	}
	/* The kernel dropped what did not fit: nothing a sandbox of ours
	 * sends, so a broken message. */
	if (mh.msg_flags & MSG_CTRUNC) {
		while (*nfds > 0)
			close(fds[--*nfds]);
		errno = EMSGSIZE;
		return -1;
	}
	return len;
}

/* The service's first word, before anything can go wrong or end it: its
 * pid, with SCM_CREDENTIALS, which the kernel rewrites into the receiver's
 * pid namespace at send time (the init only knows it as 2, and the service
 * may be dead and reaped before the launcher could look it up). A session
 * with a terminal sends the pty's master along (fd >= 0). */
static void report_pid(int sync, uid_t uid, int fd)
{
	struct msg m = {.kind = MSG_PID};
	/* Our own uid is not mapped yet in a user namespace (the kernel would
	 * refuse it); the tenant's is, and we still hold CAP_SETUID here. */
	struct ucred uc = {.pid = getpid(), .uid = uid, .gid = uid};

	(void)msg_send_with(sync, &m, &uc, &fd, fd >= 0);
}

/* The child's move into its cgroup on v1, where it cannot be cloned into
 * it: the parent sends the cgroup's files (cgroup_join_fds) after "go", and
 * the child writes itself into them (cgroup_join_self), which takes no
 * global lock; the parent's write of the child's pid would wait out an RCU
 * grace period. Blocks until the message is there; EOF (the parent died)
 * ends the child. */
static int join_cgroup(int sync, struct ward_err *err)
{
	struct msg m;
	int fds[MSG_MAX_FDS];
	int n, r;
	ssize_t len = msg_recv(sync, &m, fds, &n, NULL);

	if (len == 0)
		_exit(EXIT_SETUP);
	/* Fail closed: without its cgroup, nothing of the tenant's runs. */
	if (len != (ssize_t)sizeof(m) || m.kind != MSG_CGROUP || n == 0) {
		while (n > 0)
			close(fds[--n]);
		return ward_err_set(err, len < 0 ? errno : EPROTO, "cgroup: no cgroup to join");
	}
	r = cgroup_join_self(fds, n);
	if (r < 0)
		return ward_err_set(err, -r, "cgroup: join");
	return 0;
}

/* ---- the sandbox init, pid 1 of the service's pid namespace ---- */

static int init_take_fds(const int stdio[3], int sync)
{
	int tmp[4];

	/* Through fds >= 10 so that no source is overwritten before use. */
	for (int i = 0; i < 3; i++)
		if ((tmp[i] = fcntl(stdio[i], F_DUPFD_CLOEXEC, 10)) < 0)
			return -1;
	if ((tmp[3] = fcntl(sync, F_DUPFD_CLOEXEC, 10)) < 0)
		return -1;
	for (int i = 0; i < 3; i++)
		if (dup2(tmp[i], i) < 0)
			return -1;
	if (dup3(tmp[3], 3, O_CLOEXEC) < 0)
		return -1;
	syscall(SYS_close_range, 4, ~0U, 0);
	return 3;
}

static void noop_handler(int sig)
{
	(void)sig;
}

static __attribute__((noreturn)) void init_fail(int sync, struct ward_err *err)
{
	child_exit(sync, EXIT_SETUP, "%s", err->msg);
}

/* Waits for the service's execve: EOF on the CLOEXEC pipe means it ran. */
static void init_report_exec(int sync, int errpipe, pid_t service)
{
	struct msg m;
	ssize_t n;

	do
		n = read(errpipe, &m, sizeof(m));
	while (n < 0 && errno == EINTR);
	close(errpipe);
	if (n == 0) {
		msg_send(sync, MSG_RUNNING, 0, NULL);
		return;
	}
	if (n != (ssize_t)sizeof(m))
		msg_send(sync, MSG_FAILED, EXIT_SETUP, "service setup: lost its report");
	else
		(void)!send(sync, &m, sizeof(m), MSG_NOSIGNAL);
	waitpid(service, NULL, 0);
	_exit(EXIT_SETUP);
}

static void init_drop_privileges(uid_t uid, gid_t gid, int sync)
{
	const char *step = NULL;
	int r;

	/* The init needs no privilege to reap and forward signals. Not
	 * dumpable: the service (same uid) can neither ptrace it nor read
	 * its memory. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	r = caps_drop_to(uid, gid, 0, &step);
	if (r < 0)
		child_exit(sync, EXIT_SETUP, "init: %s: %s", step, strerror(-r));
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	/* A credential change clears the parent-death signal: arm it again,
	 * then make sure the parent did not die in between. */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	{
		struct pollfd pfd = {.fd = sync, .events = 0};
		if (poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLHUP | POLLERR)))
			_exit(EXIT_SETUP);
	}
}

/* group: forward to the child's process group too (a session's shell and
 * its jobs), not only to the child. */
static __attribute__((noreturn)) void init_loop(int sync, pid_t service, const sigset_t *set,
						bool group)
{
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(set, &si);
		int st;
		pid_t p;

		if (sig < 0)
			continue;
		if (sig != SIGCHLD) {
			if (group)
				kill(-service, sig);
			kill(service, sig);
			continue;
		}
		while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
			if (p != service)
				continue;
			/* Leaving pid 1 makes the kernel kill whatever the
			 * service left behind in the namespace. */
			msg_send(sync, MSG_EXITED, st, NULL);
			_exit(0);
		}
	}
}

/* The service's child of the init, up to its execve: it shares the init's
 * memory (see start_service), so it runs on a stack of its own, far larger
 * than exec_sandboxed needs (execvpe builds each PATH candidate on it). */
#define SERVICE_STACK_SIZE (256u * 1024u)

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED_BUILD 1
#endif
#endif
#ifndef SANITIZED_BUILD
#define SANITIZED_BUILD 0
#endif

struct service_start {
	const struct launch_spec *spec;
	char *const *argv;
	char *const *envp;
	int sync;
	int errpipe[2];
};

static int service_main(void *arg)
{
	const struct service_start *s = arg;

	close(s->errpipe[0]);
	report_pid(s->sync, s->spec->tenant->ids.uid, -1);
	close(s->sync);
	service_exec(s->spec, s->argv, s->envp, s->errpipe[1]);
}

/* Starts the service as a child of the init that shares the init's memory
 * until its execve (CLONE_VM | CLONE_VFORK, as posix_spawn does), so no copy
 * of the init's page tables is made: ~0.2 ms of every launch, measured.
 * Safe because the init is suspended until that execve (or the child's
 * exit), and the child only makes system calls on its own stack, with
 * nothing allocated or locked (exec_sandboxed is written for that). What it
 * changes is its own, not shared with the init: fd table, cwd, signal
 * handlers and mask, session, credentials, capabilities, securebits,
 * no_new_privs, rlimits and seccomp, since neither CLONE_FILES, CLONE_FS,
 * CLONE_SIGHAND nor CLONE_THREAD is given. */
static pid_t start_service(struct service_start *s)
{
#if SANITIZED_BUILD
	/* ASan keeps one record of the thread's stack, in the memory the
	 * child would share, and warns of false positives on another stack:
	 * the sanitizer build forks (what this file did before). */
	pid_t child = fork();

	if (child == 0)
		service_main(s);
	return child;
#else
	void *stack = mmap(NULL, SERVICE_STACK_SIZE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	pid_t pid;
	int e;

	if (stack == MAP_FAILED)
		return -1;
	pid = clone(service_main, (char *)stack + SERVICE_STACK_SIZE,
		    CLONE_VM | CLONE_VFORK | SIGCHLD, s);
	e = errno;
	/* The child has exec'd or exited: its stack is ours again. */
	munmap(stack, SERVICE_STACK_SIZE);
	errno = e;
	return pid;
#endif
}

/* The ptys a service's devpts may hold: its own few, and one per session
 * when the tenant's end-user sessions join this service (they take theirs
 * from its devpts). */
#define SERVICE_PTYS 64

static unsigned service_ptys(const struct launch_spec *spec)
{
	const struct ward_sessions *s = &spec->tenant->sessions;

	if (s->present && s->service && strcmp(s->service, spec->service->name) == 0)
		return SERVICE_PTYS + s->max;
	return SERVICE_PTYS;
}

static __attribute__((noreturn)) void sandbox_init(const struct launch_spec *spec,
						   char *const *argv, char *const *envp, int sync,
						   bool join)
{
	static const int forwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGCHLD};
	struct ward_err err = {0};
	struct mount_plan plan = {
	    .fs = &spec->policy->filesystem,
	    .data_src = spec->data_dir,
	    .owner = spec->policy->user_namespace ? spec->tenant->ids.uid : 0,
	    .pty_max = service_ptys(spec),
	};
	char hostname[2 * WARD_NAME_MAX + 2];
	struct service_start start = {.spec = spec, .argv = argv, .envp = envp};
	sigset_t set;
	pid_t service;

	/* Dies with its parent, from the first instruction on; the "go"
	 * read below catches a parent that died before this line. */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	prctl(PR_SET_NAME, "ward-init", 0, 0, 0);
	/* Our fds first: the service's stdio on 0-2, the sync socket on 3,
	 * and nothing else of the daemon's (control socket, other sandboxes'
	 * sockets and pipes) stays open in here. */
	sync = init_take_fds(spec->stdio, sync);
	if (sync < 0)
		_exit(EXIT_SETUP);
	go_wait(sync);

	(void)snprintf(hostname, sizeof(hostname), "%s.%s", spec->service->name,
		       spec->tenant->name);
	if (sethostname(hostname, strlen(hostname)) < 0) {
		ward_err_set(&err, errno, "sethostname %s", hostname);
		init_fail(sync, &err);
	}
	if (loopback_up(&err) < 0)
		init_fail(sync, &err);
	if (mounts_apply(&plan, &err) < 0)
		init_fail(sync, &err);
	/* Into our cgroup (v1) now that the view is built: the parent may
	 * set it up meanwhile (cgroup_get). Up to here only this init's own
	 * code ran, none of the tenant's; it was charged to the launcher's
	 * cgroup. On v2 we were cloned into it. */
	if (join && join_cgroup(sync, &err) < 0)
		init_fail(sync, &err);
	/* Our cgroup becomes the root of our cgroup namespace. */
	if (unshare(CLONE_NEWCGROUP) < 0) {
		ward_err_set(&err, errno, "cgroup namespace");
		init_fail(sync, &err);
	}

	/* Signals blocked before the fork, so none is lost before the loop;
	 * a pid-namespace init only receives signals it has a handler for. */
	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(*forwarded); i++) {
		sigaddset(&set, forwarded[i]);
		(void)signal(forwarded[i], noop_handler); /* cannot fail: valid signals */
	}
	sigprocmask(SIG_BLOCK, &set, NULL);

	if (pipe2(start.errpipe, O_CLOEXEC) < 0) {
		ward_err_set(&err, errno, "pipe");
		init_fail(sync, &err);
	}
	start.sync = sync;
	service = start_service(&start);
	if (service < 0) {
		ward_err_set(&err, errno, "start service");
		init_fail(sync, &err);
	}
	close(start.errpipe[1]);
	/* The service may run by now (the init resumes after its execve).
	 * Until the next line the init keeps the host's uid 0 (unmapped in
	 * the user namespace): the service, with the tenant's uid and no
	 * capability, can neither ptrace it, read its /proc entries nor
	 * signal it; and the init turns non-dumpable before it takes the
	 * tenant's uid, so there is no moment where it could. */
	init_drop_privileges(spec->tenant->ids.uid, spec->tenant->ids.uid, sync);
	init_report_exec(sync, start.errpipe[0], service);
	close_other_fds(sync);
	init_loop(sync, service, &set, false);
}

/* ---- a session joining a running service ---- */

/* The join child's fds: the session's stdio on 0-2, then these; nothing else
 * of the daemon's (its sockets, other sandboxes' pipes) stays open. */
enum { JOIN_SYNC_FD = 3, JOIN_PIDFD = 4, JOIN_HOME_FD = 5, JOIN_N_FDS = 6 };

static int join_take_fds(const struct launch_join_spec *spec, int sync)
{
	const int src[JOIN_N_FDS] = {spec->stdio[0], spec->stdio[1],   spec->stdio[2],
				     sync,           spec->init_pidfd, spec->home_fd};
	int tmp[JOIN_N_FDS];

	/* Through fds >= 10 so that no source is overwritten before use. */
	for (int i = 0; i < JOIN_N_FDS; i++)
		if ((tmp[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 10)) < 0)
			return -1;
	for (int i = 0; i < JOIN_N_FDS; i++)
		if ((i < 3 ? dup2(tmp[i], i) : dup3(tmp[i], i, O_CLOEXEC)) < 0)
			return -1;
	syscall(SYS_close_range, JOIN_N_FDS, ~0U, 0);
	return 0;
}

/* A new pty of the service's own devpts instance, so that the terminal is
 * one the session's view knows (tty(1) and ttyname(3) work), its slave
 * owned by the session's uid like a login's. The slave becomes fds 0-2;
 * the master goes to wardd, which hands it to ward-session to relay. */
static int session_tty(const struct launch_join_spec *spec, int *master, const char **step)
{
	struct open_how how = {.flags = O_RDWR | O_NOCTTY | O_CLOEXEC,
			       .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
	struct winsize ws = {.ws_row = spec->rows, .ws_col = spec->cols};
	struct stat st;
	_cleanup_close_ int m = -1;
	_cleanup_close_ int slave = -1;

	/* devpts gives a new slave the opener's fsuid and fsgid. */
	setfsgid(spec->gid);
	setfsuid(spec->uid);
	m = (int)syscall(SYS_openat2, AT_FDCWD, "/dev/pts/ptmx", &how, sizeof(how));
	if (m < 0)
		return *step = "open /dev/pts/ptmx", -errno;
	if (ioctl(m, TIOCSPTLCK, &(int){0}) < 0)
		return *step = "unlock pty", -errno;
	if ((ws.ws_row || ws.ws_col) && ioctl(m, TIOCSWINSZ, &ws) < 0)
		return *step = "pty window size", -errno;
	/* From the master, not by path: nothing in between can be swapped. */
	slave = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY);
	if (slave < 0)
		return *step = "open pty slave", -errno;
	/* Its group is the tenant's, which the service has too: anything
	 * beyond 0600 would let the service write onto the user's screen
	 * (mounts_apply makes devpts give 0600; a sandbox older than that
	 * may not, and its devpts is read-only here: then no session). */
	if (fstat(slave, &st) < 0)
		return *step = "pty mode", -errno;
	if ((st.st_mode & 077) && fchmod(slave, 0600) < 0)
		return *step = "pty mode 0600", -errno;
	for (int i = 0; i < 3; i++)
		if (dup2(slave, i) < 0)
			return *step = "pty as stdio", -errno;
	*master = TAKE_FD(m);
	return 0;
}

static __attribute__((noreturn)) void session_exec(const struct launch_join_spec *spec, int sync,
						   int errfd)
{
	const struct exec_plan x = {
	    .policy = spec->policy,
	    .uid = spec->uid,
	    .gid = spec->gid,
	    .cwd = spec->home,
	    .ctty = spec->tty,
	    .seccomp = spec->seccomp,
	    .argv = spec->argv,
	    .envp = spec->envp,
	};
	int master = -1;

	if (spec->tty) {
		const char *step = NULL;
		int r = session_tty(spec, &master, &step);

		if (r < 0)
			child_fail(errfd, step, -r);
	}
	report_pid(sync, spec->uid, master);
	if (master >= 0)
		close(master);
	close(sync);
	exec_sandboxed(&x, errfd);
}

static __attribute__((noreturn)) void join_child(const struct launch_join_spec *spec, int sync,
						 bool join)
{
	static const int forwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGCHLD};
	const struct session_mount_plan plan = {
	    .fs = &spec->policy->filesystem,
	    .data_src = spec->data_dir,
	    .home = spec->home,
	    .home_fd = JOIN_HOME_FD,
	    .owner = spec->join_user ? spec->tenant->ids.uid : 0,
	};
	int ns = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID |
		 CLONE_NEWCGROUP | (spec->join_user ? CLONE_NEWUSER : 0);
	struct session_mounts *sm = NULL;
	struct ward_err err = {0};
	int errpipe[2];
	sigset_t set;
	pid_t session;

	/* Dies with wardd, from the first instruction on. */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	prctl(PR_SET_NAME, "ward-join", 0, 0, 0);
	if (join_take_fds(spec, sync) < 0)
		_exit(EXIT_SETUP);
	sync = JOIN_SYNC_FD;
	go_wait(sync);
	/* Into the session's cgroup first (v1): the session is forked from
	 * us, and a kill of the cgroup must find us there. */
	if (join && join_cgroup(sync, &err) < 0)
		init_fail(sync, &err);

	/* Host paths first (policy binds, the home): once we are in the
	 * service's namespaces they are out of reach. */
	if (mounts_session_open(&plan, &sm, &err) < 0)
		init_fail(sync, &err);
	close(JOIN_HOME_FD);
	/* Every namespace of the sandbox in one step, through its init's
	 * pidfd: never a mix of the service's and the host's, and no window
	 * in which the init could be replaced by another process. */
	if (setns(JOIN_PIDFD, ns) < 0) {
		ward_err_set(&err, errno, "join the service's namespaces");
		init_fail(sync, &err);
	}
	close(JOIN_PIDFD);
	/* We sit in the session's cgroup: it becomes the root of what the
	 * session sees, the service's cgroup stays out of sight. */
	if (unshare(CLONE_NEWCGROUP) < 0) {
		ward_err_set(&err, errno, "cgroup namespace");
		init_fail(sync, &err);
	}
	/* A mount table of our own, copied from the service's: nothing from
	 * here on changes what the service sees. */
	if (unshare(CLONE_NEWNS) < 0) {
		ward_err_set(&err, errno, "mount namespace");
		init_fail(sync, &err);
	}
	if (mounts_session_apply(sm, &err) < 0)
		init_fail(sync, &err);

	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(*forwarded); i++) {
		sigaddset(&set, forwarded[i]);
		(void)signal(forwarded[i], noop_handler); /* cannot fail: valid signals */
	}
	sigprocmask(SIG_BLOCK, &set, NULL);
	if (pipe2(errpipe, O_CLOEXEC) < 0) {
		ward_err_set(&err, errno, "pipe");
		init_fail(sync, &err);
	}
	/* A pid namespace applies to the children of whoever joined it: the
	 * session runs inside the service's, as one of its processes. */
	session = fork();
	if (session < 0) {
		ward_err_set(&err, errno, "fork session");
		init_fail(sync, &err);
	}
	if (session == 0) {
		close(errpipe[0]);
		session_exec(spec, sync, errpipe[1]);
	}
	close(errpipe[1]);
	/* The session has its stdio: our copies would hold its pipes open. */
	syscall(SYS_close_range, 0, 2, 0);
	/* We stay outside the service's pid namespace, so the session cannot
	 * name us; as its uid we can still forward its hangup. */
	init_drop_privileges(spec->uid, spec->gid, sync);
	init_report_exec(sync, errpipe[0], session);
	close_other_fds(sync);
	init_loop(sync, session, &set, true);
}

/* ---- the parent's side ---- */

static int write_file(const char *path, const char *text, struct ward_err *err)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	size_t len = strlen(text);

	if (fd < 0)
		return ward_err_set(err, errno, "open %s", path);
	if (write(fd, text, len) != (ssize_t)len)
		return ward_err_set(err, errno, "write %s", path);
	return 0;
}

static int write_id_maps(pid_t pid, const struct ward_ids *ids, struct ward_err *err)
{
	char path[64], map[64];

	/* Identity map of the tenant's range: the tenant's uid is the same
	 * number inside and on the host, and nothing else (root least of
	 * all) is mapped. */
	if (snprintf(map, sizeof(map), "%u %u %u\n", ids->uid, ids->uid, ids->count) >=
	    (int)sizeof(map))
		return ward_err_set(err, EOVERFLOW, "id map");
	(void)snprintf(path, sizeof(path), "/proc/%d/uid_map", pid);
	if (write_file(path, map, err) < 0)
		return -1;
	(void)snprintf(path, sizeof(path), "/proc/%d/gid_map", pid);
	return write_file(path, map, err);
}

/* Keeps a new child off the CPU we run on, so that it does its part of the
 * start (a sandbox's view) while we finish ours (the cgroup claim of `wardd
 * run` on v1, the handover of the cgroup's files): otherwise the scheduler
 * places it beside us about half of the time, and it waits until we block
 * (~0.25 ms of a launch, measured). Only narrows the child's CPUs until
 * "go": *g carries the ones it was born with, which it puts back then
 * (go_wait). */
static void cpus_apart(pid_t pid, struct go *g)
{
	cpu_set_t others;
	int cpu = sched_getcpu();

	g->narrowed = false;
	if (cpu < 0 || sched_getaffinity(pid, sizeof(g->cpus), &g->cpus) < 0 ||
	    CPU_COUNT(&g->cpus) < 2 || !CPU_ISSET(cpu, &g->cpus))
		return;
	others = g->cpus;
	CPU_CLR(cpu, &others);
	g->narrowed = sched_setaffinity(pid, sizeof(others), &others) == 0;
}

/* "go" to the child of h, which waits for it (go_wait). 0, or -1 with errno. */
static int release(struct launch_handle *h)
{
	struct go go = {.go = 'g'};

	cpus_apart(h->pid, &go);
	return write(h->sync_fd, &go, sizeof(go)) == (ssize_t)sizeof(go) ? 0 : -1;
}

static pid_t clone_sandbox(unsigned long flags, int *pidfd, int cgroup_fd)
{
	struct clone_args args = {
	    .flags = flags,
	    .pidfd = (uint64_t)(uintptr_t)pidfd,
	    .exit_signal = SIGCHLD,
	};

	/* cgroup v2: born in its cgroup, so not one instruction runs outside
	 * the limits. */
	if (cgroup_fd >= 0) {
		args.flags |= CLONE_INTO_CGROUP;
		args.cgroup = (uint64_t)cgroup_fd;
	}

	return (pid_t)syscall(SYS_clone3, &args, sizeof(args));
}

static int launch_cgroup(struct launch_handle *h, const struct cgroup *cg, struct ward_err *err);

/* The policy's environment as an execve envp (the strings are the
 * policy's); NULL when out of memory. */
static char **policy_envp(const struct ward_policy *p)
{
	char **envp = calloc(p->n_env + 1, sizeof(*envp));

	if (!envp)
		return NULL;
	for (size_t i = 0; i < p->n_env; i++)
		envp[i] = p->env[i];
	return envp;
}

/* The socket pair between us (sv[0]) and the sandbox or join child (sv[1]). */
static int sync_pair(int sv[2], struct ward_err *err)
{
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return ward_err_set(err, errno, "socketpair");
	/* Our end receives credentials: how the service's pid arrives. */
	if (setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &(int){1}, sizeof(int)) < 0) {
		int e = errno;
		close(sv[0]);
		close(sv[1]);
		return ward_err_set(err, e, "SO_PASSCRED");
	}
	return 0;
}

/* The parent's steps after the clone, in this order: id maps, before_go,
 * "go", then the cgroup (got now if it was to be got later, joined if the
 * sandbox moves itself in). -1 with err set: the caller kills it. */
static int start_sandbox(const struct launch_spec *spec, struct launch_handle *h,
			 const struct cgroup *cg, bool get_later, bool join, struct ward_err *err)
{
	if (spec->policy->user_namespace && write_id_maps(h->pid, &spec->tenant->ids, err) < 0)
		return -1;
	/* Before "go": the service never runs without its network, and its
	 * end of the veth is born inside its namespace, never moved there. */
	if (spec->before_go && spec->before_go(spec->before_go_ud, h->pid, h->pidfd, err) < 0)
		return -1;
	if (release(h) < 0)
		return ward_err_set(err, errno, "release sandbox");
	/* The sandbox, released, builds its view meanwhile; it waits for
	 * its cgroup before anything of the tenant's runs. */
	if (get_later && !(cg = spec->cgroup_get(spec->cgroup_get_ud, err)))
		return -1;
	if (join && launch_cgroup(h, cg, err) < 0)
		return -1;
	return 0;
}

int launch_start(const struct launch_spec *spec, struct launch_handle *h, struct ward_err *err)
{
	char *const *argv = spec->argv ? spec->argv : spec->service->exec;
	const struct ward_policy *p = spec->policy;
	_cleanup_free_ char **envp = NULL;
	int sv[2];
	int pidfd = -1;
	pid_t pid;
	const struct cgroup *cg = spec->cgroup;
	/* A cgroup to get: now if the sandbox is born in it, else after the
	 * start, while the sandbox builds its view (cgroup_clone_into). */
	bool get_later = !cg && spec->cgroup_get && !cgroup_clone_into();
	bool join;

	*h = (struct launch_handle){.pid = -1, .pidfd = -1, .sync_fd = -1};
	if (!spec->tenant->ids.set)
		return ward_err_set(err, 0, "tenant %s has no ids", spec->tenant->name);
	if (!argv || !argv[0])
		return ward_err_set(err, 0, "service %s has nothing to run", spec->service->name);
	if (!cg && spec->cgroup_get && !get_later &&
	    !(cg = spec->cgroup_get(spec->cgroup_get_ud, err)))
		return -1;
	/* v2: born in its cgroup (clone3), so not one instruction runs
	 * outside its limits. v1: it moves itself in (join_cgroup). */
	join = get_later || (cg && cgroup_clone_fd(cg) < 0);
	/* The environment is exactly the policy's: nothing of ours leaks. */
	envp = policy_envp(p);
	if (!envp)
		return ward_err_set(err, ENOMEM, "environment");
	if (sync_pair(sv, err) < 0) {
		/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): envp is _cleanup_free_ */
		return -1;
	}

	pid = clone_sandbox(clone_flags(p), &pidfd, cg ? cgroup_clone_fd(cg) : -1);
	if (pid < 0) {
		int e = errno;
		close(sv[0]);
		close(sv[1]);
		return ward_err_set(err, e, "clone");
	}
	if (pid == 0) {
		close(sv[0]);
		sandbox_init(spec, argv, envp, sv[1], join);
	}
	close(sv[1]);
	h->pid = pid;
	h->pidfd = pidfd;
	h->sync_fd = sv[0];

	if (start_sandbox(spec, h, cg, get_later, join, err) < 0) {
		launch_signal(h, SIGKILL);
		launch_release(h);
		return -1;
	}
	return 0;
}

/* The cgroup of a sandbox that joins it (join_cgroup): its files, sent after
 * "go". Returns 0 (also when the sandbox already failed and exited: its
 * report waits on sync_fd), or -1 with err set: then the sandbox still
 * waits, and the caller kills it. */
static int launch_cgroup(struct launch_handle *h, const struct cgroup *cg, struct ward_err *err)
{
	struct msg m = {.kind = MSG_CGROUP};
	int fds[CGROUP_JOIN_MAX];
	int n = cgroup_join_fds(cg, fds, err);
	int r, e;

	if (n < 0)
		return -1;
	/* The child waits for files to move itself with: none would leave it
	 * outside, so a cgroup that must be cloned into is a caller's error. */
	if (n == 0)
		return ward_err_set(err, EINVAL, "cgroup: to be cloned into, not joined");
	r = msg_send_with(h->sync_fd, &m, NULL, fds, (size_t)n);
	e = errno;
	for (int i = 0; i < n; i++)
		close(fds[i]);
	/* The child failed a step and exited before it took them (it runs
	 * beside us, and `wardd run` claims the cgroup meanwhile): its report
	 * of why waits in the socket for the caller, which must show that,
	 * not this. Nothing of it is left to put in a cgroup: the child holds
	 * its end until it exits, and its pid namespace goes with it. */
	if (r < 0 && (e == EPIPE || e == ECONNRESET))
		return 0;
	return r < 0 ? ward_err_set(err, e, "cgroup: hand over") : 0;
}

int launch_join(const struct launch_join_spec *spec, struct launch_handle *h, struct ward_err *err)
{
	int sv[2];
	int pidfd = -1;
	pid_t pid;
	bool join = spec->cgroup && cgroup_clone_fd(spec->cgroup) < 0;

	*h = (struct launch_handle){.pid = -1, .pidfd = -1, .sync_fd = -1};
	if (!spec->tenant->ids.set)
		return ward_err_set(err, 0, "tenant %s has no ids", spec->tenant->name);
	if (!spec->argv || !spec->argv[0])
		return ward_err_set(err, 0, "the session has nothing to run");
	if (spec->init_pidfd < 0 || spec->home_fd < 0)
		return ward_err_set(err, EBADF, "join");
	/* The same pair as a sandbox's: the session's pid arrives as
	 * credentials on our end. */
	if (sync_pair(sv, err) < 0)
		return -1;
	/* No new namespaces: the child joins the service's. Into its cgroup
	 * as launch_start's child: born in it, or joining it (v1). */
	pid = clone_sandbox(CLONE_PIDFD, &pidfd, spec->cgroup ? cgroup_clone_fd(spec->cgroup) : -1);
	if (pid < 0) {
		int e = errno;
		close(sv[0]);
		close(sv[1]);
		return ward_err_set(err, e, "clone");
	}
	if (pid == 0) {
		close(sv[0]);
		join_child(spec, sv[1], join);
	}
	close(sv[1]);
	h->pid = pid;
	h->pidfd = pidfd;
	h->sync_fd = sv[0];
	if (release(h) < 0) {
		ward_err_set(err, errno, "release the session");
		goto fail;
	}
	if (join && launch_cgroup(h, spec->cgroup, err) < 0)
		goto fail;
	return 0;
fail:
	launch_signal(h, SIGKILL);
	launch_release(h);
	return -1;
}

int launch_read_event(struct launch_handle *h, struct launch_event *ev)
{
	struct msg m = {0};
	int fds[MSG_MAX_FDS], nfds;
	ssize_t n;

	memset(ev, 0, sizeof(*ev));
	ev->fd = -1;
	n = msg_recv(h->sync_fd, &m, fds, &nfds, &ev->pid);
	if (n < 0)
		return -1;
	/* A PID event's first fd is kept in ev->fd; any other is closed. */
	for (int i = 0; i < nfds; i++) {
		if (n == (ssize_t)sizeof(m) && m.kind == MSG_PID && ev->fd < 0)
			ev->fd = fds[i];
		else
			close(fds[i]);
	}
	if (n != (ssize_t)sizeof(m)) {
		ev->kind = LAUNCH_EVENT_GONE;
		ev->pid = 0;
		return 0;
	}
	m.text[sizeof(m.text) - 1] = '\0';
	switch (m.kind) {
	case MSG_RUNNING:
		ev->kind = LAUNCH_EVENT_RUNNING;
		break;
	case MSG_FAILED:
		ev->kind = LAUNCH_EVENT_FAILED;
		ev->status = m.status;
		(void)snprintf(ev->message, sizeof(ev->message), "%s", m.text);
		break;
	case MSG_EXITED:
		ev->kind = LAUNCH_EVENT_EXITED;
		ev->status = m.status;
		break;
	case MSG_PID:
		ev->kind = LAUNCH_EVENT_PID;
		break;
	default:
		ev->kind = LAUNCH_EVENT_GONE;
	}
	if (ev->kind != LAUNCH_EVENT_PID)
		ev->pid = 0;
	return 0;
}

int launch_signal(struct launch_handle *h, int sig)
{
	if (h->pidfd >= 0)
		return (int)syscall(SYS_pidfd_send_signal, h->pidfd, sig, NULL, 0);
	return h->pid > 0 ? kill(h->pid, sig) : -1;
}

void launch_release(struct launch_handle *h)
{
	if (h->pid > 0) {
		while (waitpid(h->pid, NULL, 0) < 0 && errno == EINTR)
			;
		h->pid = -1;
	}
	if (h->pidfd >= 0)
		close(h->pidfd);
	if (h->sync_fd >= 0)
		close(h->sync_fd);
	h->pidfd = h->sync_fd = -1;
}

int launch_exit_code(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return 255;
}
