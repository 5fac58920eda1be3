/* wardd: the ward daemon's entry point. Holds only main() and its command
 * line; `wardd run` starts one service in the foreground. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "build-config.h"
#include "daemon/audit.h"
#include "sandbox/cgroup.h"
#include "basic/cleanup.h"
#include "basic/fs.h"
#include "basic/log.h"
#include "model/config.h"
#include "daemon/control.h"
#include "sandbox/launch.h"
#include "basic/loop.h"
#include "net/network.h"
#include "daemon/onboard.h"
#include "daemon/prepare.h"
#include "model/profile.h"
#include "sandbox/seccomp.h"
#include "daemon/session.h"
#include "model/subid.h"
#include "daemon/supervise.h"
#include "daemon/userdb.h"

/* Exit code of `wardd run` when ward itself failed (profile, sandbox). */
#define EXIT_WARD       125
#define EXIT_USAGE      2
#define MAX_POLICY_DIRS 16
#define CGROUP_ROOT     "/sys/fs/cgroup"
/* `wardd run` keeps its cgroups apart from the daemon's, whose start-up
 * cleanup would otherwise kill a trial run. */
#define CGROUP_RUN_PARENT "ward.run"

struct options {
	const char *config;
	bool config_given;
	const char *tenants_dir;
	const char *policy_dirs[MAX_POLICY_DIRS];
	size_t n_policy_dirs;
	const char *state_dir;
	const char *log_dir;
	const char *data_dir;
	const char *templates_dir;
};

static const struct options default_options = {
    .config = "/etc/ward/wardd.json",
    .tenants_dir = "/etc/ward/tenants",
    .state_dir = "/run/ward",
    .log_dir = "/var/log/ward",
    .data_dir = "/var/lib/ward/tenants",
    .templates_dir = WARD_TEMPLATE_DIR,
};

static void usage(FILE *out)
{
	/* The text as it prints, columns aligned. */
	/* clang-format off */
	fprintf(out,
		"Usage: wardd [OPTIONS]                      run the daemon (in the foreground)\n"
		"       wardd [OPTIONS] run PROFILE SERVICE [-- COMMAND [ARG...]]\n"
		"\n"
		"`run` starts one service of the tenant PROFILE in the foreground, stdio\n"
		"attached, fully sandboxed, and exits with its status (128+N when killed by\n"
		"signal N). A COMMAND replaces the service's exec, to try a program under\n"
		"the service's policy. Exit codes of ward's own failures: 125 (bad profile,\n"
		"a sandbox step failed), 126 (cannot execute), 127 (not found), 2 (usage).\n"
		"\n"
		"The daemon loads every TENANT.json of the tenants directory (root-owned, not\n"
		"group/world writable), keeps their services running, gives tenants with a\n"
		"network section their segment (veths, the nftables table inet ward), serves\n"
		"the control socket STATE_DIR/control.sock (wardctl) and the session socket\n"
		"STATE_DIR/session.sock (ward-session), and appends to LOG_DIR/audit.jsonl.\n"
		"SIGHUP reloads; SIGTERM/SIGINT stop every tenant and exit 0.\n"
		"\n"
		"Options (flags override the settings file):\n"
		"  --config FILE      daemon settings (default /etc/ward/wardd.json): tenants_dir,\n"
		"                     policy_dirs, state_dir, log_dir, data_dir, control.{socket_group,\n"
		"                     operator_group, viewer_group, admin_group}, logs.{max_bytes,\n"
		"                     keep}, audit.{fsync (each|turn), max_bytes, refused_burst,\n"
		"                     refused_window_s}, cgroup.parent, templates_dir,\n"
		"                     ids.{pool_start, pool_size, count}, network.{pool, prefix,\n"
		"                     uplink, allocations}; see README.md\n"
		"  --tenants DIR      tenant profiles (default /etc/ward/tenants)\n"
		"  --policies DIR     look for policy fragments here first (repeatable);\n"
		"                     then PROFILE_DIR/../policies, then %s\n"
		"  --state-dir DIR    runtime state and caches (default /run/ward)\n"
		"  --log-dir DIR      logs and the audit log (default /var/log/ward)\n"
		"  --data-dir DIR     tenant T's data is DIR/T (default /var/lib/ward/tenants)\n"
		"  --templates DIR    onboarding templates (default %s)\n"
		"  -h, --help         this text\n"
		"  --version          print the version\n",
		WARD_POLICY_DIR, WARD_TEMPLATE_DIR);
	/* clang-format on */
}

static int parse_options(int argc, char **argv, struct options *o)
{
	enum {
		OPT_CONFIG = 256,
		OPT_TENANTS,
		OPT_POLICIES,
		OPT_STATE,
		OPT_LOG,
		OPT_DATA,
		OPT_TEMPLATES,
		OPT_VERSION
	};
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, OPT_CONFIG},
	    {"tenants", required_argument, NULL, OPT_TENANTS},
	    {"policies", required_argument, NULL, OPT_POLICIES},
	    {"state-dir", required_argument, NULL, OPT_STATE},
	    {"log-dir", required_argument, NULL, OPT_LOG},
	    {"data-dir", required_argument, NULL, OPT_DATA},
	    {"templates", required_argument, NULL, OPT_TEMPLATES},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, OPT_VERSION},
	    {NULL, 0, NULL, 0},
	};
	int c;

	*o = default_options;
	/* "+": options end at the first non-option (the subcommand). */
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_CONFIG:
			o->config = optarg;
			o->config_given = true;
			break;
		case OPT_TENANTS:
			o->tenants_dir = optarg;
			break;
		case OPT_POLICIES:
			if (o->n_policy_dirs == MAX_POLICY_DIRS) {
				fprintf(stderr, "wardd: at most %d --policies\n", MAX_POLICY_DIRS);
				return -1;
			}
			o->policy_dirs[o->n_policy_dirs++] = optarg;
			break;
		case OPT_STATE:
			o->state_dir = optarg;
			break;
		case OPT_LOG:
			o->log_dir = optarg;
			break;
		case OPT_DATA:
			o->data_dir = optarg;
			break;
		case OPT_TEMPLATES:
			o->templates_dir = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case OPT_VERSION:
			printf("wardd %s\n", WARD_VERSION);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	return 0;
}

/* The operator's terminal as it was before `wardd run`. The service gets it
 * as its stdio: it cannot inject input (no controlling terminal, TIOCSTI
 * refused) nor change the line discipline (TIOCSETD refused), but through
 * that fd it can change the terminal's modes (echo off, raw, exclusive use)
 * and the open file's flags (O_NONBLOCK), which would outlive the run in the
 * operator's shell. Put back once the sandbox is gone. */
struct tty_state {
	int fd; /* the first of 0-2 that is a terminal; -1: none */
	struct termios tio;
	int excl;
	int ldisc; /* -1: unknown */
	/* The status flags (O_NONBLOCK...) of 0-2, -1 for a closed one: they
	 * belong to the open file, which the operator's shell shares. */
	int fl[3];
};

static void tty_save(struct tty_state *s)
{
	s->fd = -1;
	for (int fd = 0; fd <= 2; fd++)
		s->fl[fd] = fcntl(fd, F_GETFL);
	for (int fd = 0; fd <= 2; fd++) {
		if (!isatty(fd) || tcgetattr(fd, &s->tio) < 0)
			continue;
		if (ioctl(fd, TIOCGEXCL, &s->excl) < 0)
			s->excl = 0;
		if (ioctl(fd, TIOCGETD, &s->ldisc) < 0)
			s->ldisc = -1;
		s->fd = fd;
		return;
	}
}

static void tty_restore(const struct tty_state *s)
{
	int ldisc;

	for (int fd = 0; fd <= 2; fd++)
		if (s->fl[fd] >= 0)
			(void)fcntl(fd, F_SETFL, s->fl[fd]);
	if (s->fd < 0)
		return;
	/* The line discipline first: setting one resets the modes. (The
	 * sandbox's seccomp guard refuses TIOCSETD; this is the second line.) */
	if (s->ldisc >= 0 && ioctl(s->fd, TIOCGETD, &ldisc) == 0 && ldisc != s->ldisc)
		(void)ioctl(s->fd, TIOCSETD, &s->ldisc);
	(void)tcsetattr(s->fd, TCSANOW, &s->tio);
	if (!s->excl)
		(void)ioctl(s->fd, TIOCNXCL);
}

/* Waits for the service, forwarding TERM/INT/HUP to its init. */
static int supervise_foreground(struct launch_handle *h)
{
	sigset_t set;
	_cleanup_close_ int sfd = -1;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sfd < 0) {
		fprintf(stderr, "wardd: signalfd: %s\n", strerror(errno));
		return EXIT_WARD;
	}
	for (;;) {
		struct pollfd pfd[2] = {{.fd = h->sync_fd, .events = POLLIN},
					{.fd = sfd, .events = POLLIN}};
		struct launch_event ev;

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "wardd: poll: %s\n", strerror(errno));
			return EXIT_WARD;
		}
		if (pfd[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				launch_signal(h, (int)si.ssi_signo);
		}
		if (!(pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		if (launch_read_event(h, &ev) < 0) {
			fprintf(stderr, "wardd: sandbox: %s\n", strerror(errno));
			return EXIT_WARD;
		}
		switch (ev.kind) {
		case LAUNCH_EVENT_RUNNING:
		case LAUNCH_EVENT_PID:
			continue;
		case LAUNCH_EVENT_FAILED:
			fprintf(stderr, "wardd: %s\n", ev.message);
			return ev.status ? ev.status : EXIT_WARD;
		case LAUNCH_EVENT_EXITED:
			return launch_exit_code(ev.status);
		case LAUNCH_EVENT_GONE:
			fprintf(stderr, "wardd: the sandbox ended without reporting\n");
			return EXIT_WARD;
		}
	}
}

/* `wardd run`'s cgroup, claimed when the launch asks for it. */
struct run_cgroup {
	const char *tenant, *name;
	const struct ward_limits *limits;
	struct cgroup *cg;
	bool asked;
};

static const struct cgroup *run_cgroup_get(void *ud, struct ward_err *err)
{
	struct run_cgroup *rc = ud;

	rc->asked = true;
	rc->cg = cgroup_claim(rc->tenant, rc->name, rc->limits, err);
	return rc->cg;
}

/* One `wardd run`: what it starts, and what is undone after it. */
struct run {
	struct ward_tenant *t;
	const struct ward_service *svc;
	char **command; /* replaces the service's exec; NULL: none */
	struct launch_paths paths;
	struct seccomp_program prog;
	char cg_name[WARD_NAME_MAX + 32];
	struct cgroup *cg;
	struct tty_state tty;
	struct launch_handle h;
};

static const struct ward_service *run_find_service(const char *file, const struct ward_tenant *t,
						   const char *name)
{
	const struct ward_service *svc = tenant_find_service(t, name);

	if (!svc) {
		fprintf(stderr, "wardd: %s: tenant %s has no service \"%s\"; it has:", file,
			t->name, name);
		for (size_t i = 0; i < t->n_services; i++)
			fprintf(stderr, " %s", t->services[i].name);
		fputc('\n', stderr);
	}
	return svc;
}

static int run_check_ids(const struct options *o, const char *file, const struct ward_tenant *t)
{
	struct ward_config cfg = {0};
	struct subids sub = {0};
	struct ward_err err = {0};
	bool ok;

	if (!t->ids.set) {
		fprintf(stderr, "wardd: %s: `wardd run` needs \"ids\" in the profile\n", file);
		return -1;
	}
	/* As the daemon does (subid.h): never as uids a host user can map. The
	 * files are the settings' (ids.subuid, ids.subgid) with --config. */
	ok = config_load(o->config, o->config_given, &cfg, &err) == 0 &&
	     subids_load(cfg.subuid_file, cfg.subgid_file, &sub, &err) == 0 &&
	     subids_check(&sub, "ids: uid range", t->ids.uid, t->ids.count, &err) == 0;
	subids_free(&sub);
	config_free(&cfg);
	if (!ok) {
		fprintf(stderr, "wardd: %s: %s\n", file, err.msg);
		return -1;
	}
	return 0;
}

/* The data directory and the seccomp filter, as the daemon prepares them. */
static int run_prepare(const struct options *o, struct run *r)
{
	const struct ward_service *svc = r->svc;
	struct ward_err err = {0};
	char why[512];

	if (prepare_paths(o->data_dir, o->state_dir, r->t->name, &r->paths, &err) < 0 ||
	    (svc->policy.filesystem.data && prepare_data_dir(r->paths.data_dir, r->t, &err) < 0)) {
		fprintf(stderr, "wardd: %s\n", err.msg);
		return -1;
	}
	if (launch_limits_clamped(&svc->policy, why, sizeof(why)))
		fprintf(stderr, "wardd: warning: %s/%s: %s: using the hard limit\n", r->t->name,
			svc->name, why);
	/* Without a state dir the filter is compiled uncached. */
	if (prepare_seccomp(&svc->policy,
			    prepare_state_dir(o->state_dir, &err) == 0 ? r->paths.cache_dir : NULL,
			    &r->prog, &err) < 0) {
		fprintf(stderr, "wardd: seccomp: %s\n", err.msg);
		return -1;
	}
	return 0;
}

/* Starts the sandbox, the operator's terminal saved first (r->tty). */
static int run_start(struct run *r)
{
	const struct ward_service *svc = r->svc;
	struct ward_err err = {0};
	int ret;

	if (snprintf(r->cg_name, sizeof(r->cg_name), "%s.run", svc->name) >=
	    (int)sizeof(r->cg_name)) {
		fprintf(stderr, "wardd: %s: cgroup name too long\n", svc->name);
		return -1;
	}
	/* ward.run/TENANT/SERVICE.run (-2, -3... while other runs of the
	 * service hold those): claimed, and kept for the next run. Fail
	 * closed: without its limits the service does not run. */
	if (cgroup_setup(CGROUP_ROOT, CGROUP_RUN_PARENT, CGROUP_SHARED_PARENT, &err) < 0) {
		fprintf(stderr, "wardd: cgroup: %s\n", err.msg);
		return -1;
	}
	/* Claimed when the launch needs it: where the sandbox joins its
	 * cgroup once its filesystem view is built, the claim runs meanwhile
	 * (~0.4 ms less per launch on v1, measured). */
	struct run_cgroup rc = {
	    .tenant = r->t->name, .name = r->cg_name, .limits = &svc->policy.limits};
	struct launch_spec spec = {
	    .tenant = r->t,
	    .service = svc,
	    .policy = &svc->policy,
	    .argv = r->command,
	    .data_dir = r->paths.data_dir,
	    .seccomp = &r->prog,
	    .cgroup_get = run_cgroup_get,
	    .cgroup_get_ud = &rc,
	    .stdio = {0, 1, 2},
	};
	tty_save(&r->tty);
	ret = launch_start(&spec, &r->h, &err);
	r->cg = rc.cg;
	if (ret < 0) {
		/* No cgroup, no run: launch_start killed the sandbox. */
		if (rc.asked && !r->cg)
			fprintf(stderr, "wardd: cgroup: %s\n", err.msg);
		else
			fprintf(stderr, "wardd: start %s/%s: %s\n", r->t->name, svc->name, err.msg);
		return -1;
	}
	return 0;
}

static int cmd_run(const struct options *o, int argc, char **argv)
{
	struct profile_options popts = {.policy_dirs = o->policy_dirs,
					.n_policy_dirs = o->n_policy_dirs};
	struct ward_diag diag = {0};
	/* No flags saved yet: a run that fails before tty_save restores nothing. */
	struct run r = {.tty = {.fd = -1, .fl = {-1, -1, -1}}};
	struct ward_err err = {0};
	int code = EXIT_WARD;

	if (argc < 2 || (argc > 2 && strcmp(argv[2], "--") != 0) || (argc == 3)) {
		fprintf(stderr,
			"Usage: wardd [OPTIONS] run PROFILE SERVICE [-- COMMAND [ARG...]]\n");
		return EXIT_USAGE;
	}
	if (argc > 3)
		r.command = &argv[3];
	if (geteuid() != 0) {
		fprintf(stderr, "wardd: run: must be started as root\n");
		return EXIT_WARD;
	}
	if (profile_load(argv[0], &popts, &r.t, &diag) < 0) {
		diag_print(&diag, stderr);
		diag_free(&diag);
		return EXIT_WARD;
	}
	r.svc = run_find_service(argv[0], r.t, argv[1]);
	if (r.svc && run_check_ids(o, argv[0], r.t) == 0 && run_prepare(o, &r) == 0 &&
	    run_start(&r) == 0) {
		code = supervise_foreground(&r.h);
		launch_release(&r.h);
	}
	tty_restore(&r.tty); /* the sandbox is gone: nothing can change it again */
	if (r.cg && cgroup_destroy(r.cg, &err) < 0)
		fprintf(stderr, "wardd: cgroup: %s\n", err.msg);
	cgroup_teardown();
	seccomp_program_free(&r.prog);
	tenant_free(r.t);
	return code;
}

/* ---- the daemon ---- */

/* How long wardd's exit waits for the kernel to remove the links of the
 * stopped sandboxes (it batches namespace teardown: ~0.6 ms per tenant). */
#define NETWORK_CLOSE_WAIT_MS 10000

struct daemon {
	struct ward_config cfg;
	struct loop *loop;
	struct audit *audit;
	struct supervisor *sup;
	struct control *ctl;
	struct session_server *ss;
	struct onboarding *ob;
	struct network *net;
	struct userdb *udb;
	int lock_fd;
	const char *stop_reason;
};

static int apply_flags(struct ward_config *cfg, const struct options *o)
{
	/* A flag given on the command line wins over the file. */
	if ((o->tenants_dir != default_options.tenants_dir &&
	     config_set(&cfg->tenants_dir, o->tenants_dir) < 0) ||
	    (o->state_dir != default_options.state_dir &&
	     config_set(&cfg->state_dir, o->state_dir) < 0) ||
	    (o->log_dir != default_options.log_dir && config_set(&cfg->log_dir, o->log_dir) < 0) ||
	    (o->data_dir != default_options.data_dir &&
	     config_set(&cfg->data_dir, o->data_dir) < 0) ||
	    (o->templates_dir != default_options.templates_dir &&
	     config_set(&cfg->templates_dir, o->templates_dir) < 0))
		return -1;
	if (o->n_policy_dirs) {
		for (size_t i = 0; i < cfg->n_policy_dirs; i++)
			free(cfg->policy_dirs[i]);
		cfg->n_policy_dirs = 0;
		for (size_t i = 0; i < o->n_policy_dirs; i++) {
			cfg->policy_dirs[i] = NULL;
			if (config_set(&cfg->policy_dirs[i], o->policy_dirs[i]) < 0)
				return -1;
			cfg->n_policy_dirs++;
		}
	}
	return 0;
}

static void on_stopped(void *ud)
{
	struct daemon *d = ud;

	loop_quit(d->loop);
}

static void on_terminate(struct loop *l, int sig, void *ud)
{
	struct daemon *d = ud;

	(void)l;
	if (d->stop_reason)
		return; /* already stopping */
	d->stop_reason = sig == SIGINT ? "SIGINT" : "SIGTERM";
	log_msg("%s: stopping every tenant", d->stop_reason);
	/* Sessions first: they end as daemon-stop, not with their services. */
	session_server_shutdown(d->ss);
	supervisor_shutdown(d->sup, on_stopped, d);
}

static void on_reload(struct loop *l, int sig, void *ud)
{
	struct daemon *d = ud;

	struct ward_err err = {0};

	(void)l;
	(void)sig;
	/* Fail closed, as wardctl reload is: no change that could not be
	 * recorded. */
	if (audit_ready(d->audit, &err) < 0) {
		log_msg("SIGHUP: reload refused: %s", err.msg);
		return;
	}
	json_decref(supervisor_reload(d->sup));
}

static void on_turn(struct loop *l, void *ud)
{
	struct daemon *d = ud;

	(void)l;
	audit_flush(d->audit);
}

static int daemon_lock(struct daemon *d)
{
	char path[4096];

	if (snprintf(path, sizeof(path), "%s/wardd.lock", d->cfg.state_dir) >= (int)sizeof(path))
		return -1;
	d->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (d->lock_fd < 0) {
		log_msg("%s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(d->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		log_msg("another wardd runs on %s (%s is locked)", d->cfg.state_dir, path);
		return -1;
	}
	return 0;
}

/* A root daemon holds only what it opened. Whatever its parent left open
 * without O_CLOEXEC (a terminal, a socket, another user's file, a
 * directory outside any tenant's reach) would otherwise stay open for
 * wardd's whole life, where every child forked before its exec (helpers,
 * tar) gets it too. wardd receives nothing from its parent but stdio: it
 * has no socket activation (LISTEN_FDS) and every socket it serves it
 * makes itself. So everything from 3 up goes, before anything is opened. */
static void close_inherited(void)
{
	if (close_range(3, ~0U, 0) == 0)
		return;
	/* Kernels before 5.9: one close per possible descriptor. */
	long max = sysconf(_SC_OPEN_MAX);
	for (long fd = 3; fd < (max > 0 ? max : 1024); fd++)
		(void)close((int)fd);
}

/* What the daemon needs of the host before anything starts: its settings
 * with the flags, its directories, the lock, the cgroups. */
static int daemon_host_setup(struct daemon *d, const struct options *o)
{
	struct ward_err err = {0};

	if (apply_flags(&d->cfg, o) < 0) {
		log_msg("out of memory");
		return -1;
	}
	if (fs_mkdir_p(d->cfg.state_dir, 0755) < 0 || fs_mkdir_p(d->cfg.log_dir, 0750) < 0) {
		log_msg("creating %s or %s: %s", d->cfg.state_dir, d->cfg.log_dir, strerror(errno));
		return -1;
	}
	if (daemon_lock(d) < 0)
		return -1;
	/* Before anything starts: limits are not optional, and whatever a
	 * wardd that died left in our cgroups goes now. */
	if (cgroup_setup(CGROUP_ROOT, d->cfg.cgroup_parent, 0, &err) < 0 ||
	    cgroup_cleanup_stale(&err) < 0) {
		log_msg("cgroups: %s", err.msg);
		return -1;
	}
	return 0;
}

/* Four fds per service (sandbox socket, pidfd, output pipe, log) plus
 * clients: the default soft limit of 1024 is 250 services. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* The audit log and the event loop. */
static int daemon_open_core(struct daemon *d)
{
	struct ward_err err = {0};
	char audit_path[4096];

	if (snprintf(audit_path, sizeof(audit_path), "%s/audit.jsonl", d->cfg.log_dir) >=
	    (int)sizeof(audit_path))
		return -1;
	/* A client that goes away mid-reply must not kill the daemon. */
	(void)signal(SIGPIPE, SIG_IGN); /* cannot fail */
	raise_fd_limit();
	d->audit = audit_open(audit_path, d->cfg.audit_fsync_each, &err);
	d->loop = loop_new();
	if (!d->audit || !d->loop) {
		log_msg("%s", d->audit ? "cannot set up the event loop" : err.msg);
		return -1;
	}
	audit_configure(d->audit, d->loop,
			&(struct audit_limits){.max_bytes = d->cfg.audit_max_bytes,
					       .refused_burst = d->cfg.audit_refused_burst,
					       .refused_window_s = d->cfg.audit_refused_window_s});
	return 0;
}

/* The supervisor, the network, and the sockets that serve clients. */
static int daemon_open_modules(struct daemon *d)
{
	struct ward_err err = {0};

	d->sup = supervisor_new(&d->cfg, d->loop, d->audit);
	if (!d->sup)
		return -1;
	/* Without it the daemon still runs the tenants that have no network;
	 * those that have one fail to start, saying why: never unfiltered. */
	d->net = network_open(&d->cfg, d->loop, supervisor_link_gone, d->sup, &err);
	if (d->net) {
		supervisor_set_network(d->sup, d->net);
	} else {
		log_msg("%s", err.msg);
		audit_event(d->audit, "network-unavailable", json_pack("{s:s}", "error", err.msg));
	}
	/* Who the control and session clients are, from the name service,
	 * which may hang: never on the loop (userdb.h). */
	d->udb = userdb_new(d->loop, 0, NULL);
	if (!d->udb) {
		log_msg("user lookups: out of memory");
		return -1;
	}
	d->ctl = control_new(&d->cfg, d->loop, d->sup, d->audit, d->udb, &err);
	if (!d->ctl) {
		log_msg("control socket: %s", err.msg);
		return -1;
	}
	d->ss = session_server_new(&d->cfg, d->loop, d->sup, d->audit, d->udb, &err);
	if (!d->ss) {
		log_msg("session socket: %s", err.msg);
		return -1;
	}
	control_set_sessions(d->ctl, d->ss);
	/* Onboarding takes from the supervisor's tenants and the network's pool. */
	d->ob = onboarding_new(&d->cfg, d->loop, d->sup, d->net, d->audit);
	if (!d->ob) {
		log_msg("onboarding: out of memory");
		return -1;
	}
	control_set_onboarding(d->ctl, d->ob);
	return 0;
}

/* SIGTERM and SIGINT stop, SIGHUP reloads; audit records are flushed once
 * a turn unless each is synced. */
static int daemon_watch_signals(struct daemon *d)
{
	static const struct {
		int sig;
		loop_signal_fn fn;
	} sigs[] = {{SIGTERM, on_terminate}, {SIGINT, on_terminate}, {SIGHUP, on_reload}};

	for (size_t i = 0; i < sizeof(sigs) / sizeof(*sigs); i++) {
		int r = loop_add_signal(d->loop, sigs[i].sig, sigs[i].fn, d);

		if (r < 0) {
			log_msg("watching SIG%s: %s", sigabbrev_np(sigs[i].sig), strerror(-r));
			return -1;
		}
	}
	if (!d->cfg.audit_fsync_each)
		loop_set_turn_hook(d->loop, on_turn, d);
	return 0;
}

/* Onboarding checks the pool against the host's subordinate ids each time
 * (and refuses it); the operator hears of it now too. */
static void daemon_check_pool(struct daemon *d)
{
	struct ward_err err = {0};
	struct subids sub = {0};

	if (subids_load(d->cfg.subuid_file, d->cfg.subgid_file, &sub, &err) < 0 ||
	    subids_check(&sub, "the uid pool (ids.pool_start+ids.pool_size)", d->cfg.id_pool_start,
			 d->cfg.id_pool_size, &err) < 0)
		log_msg("warning: %s: onboarding is refused until it is not", err.msg);
	subids_free(&sub);
}

/* Loads the tenants and serves until a signal stops the daemon. */
static int daemon_run(struct daemon *d)
{
	int n = supervisor_load_all(d->sup);

	audit_event(d->audit, "daemon-start",
		    json_pack("{s:i, s:s, s:i}", "pid", (int)getpid(), "version", WARD_VERSION,
			      "tenants", n));
	log_msg("%d tenant(s) from %s; control socket %s/control.sock", n, d->cfg.tenants_dir,
		d->cfg.state_dir);
	if (loop_run(d->loop) < 0) {
		log_msg("event loop: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* Whatever of the daemon was set up goes, in this order. */
static void daemon_close(struct daemon *d)
{
	if (d->audit)
		audit_event(
		    d->audit, "daemon-stop",
		    json_pack("{s:s}", "reason", d->stop_reason ? d->stop_reason : "error"));
	/* First: an offboarding under way is put back or finished, and its
	 * client answered, while the supervisor and the socket still exist. */
	onboarding_free(d->ob);
	control_free(d->ctl);
	session_server_free(d->ss);
	userdb_free(d->udb);
	supervisor_free(d->sup);
	/* Every sandbox is gone: their links follow with their namespaces. */
	network_close(d->net, NETWORK_CLOSE_WAIT_MS);
	cgroup_teardown();
	audit_configure(d->audit, NULL, NULL); /* its timers are the loop's */
	loop_free(d->loop);
	audit_close(d->audit);
	if (d->lock_fd >= 0)
		close(d->lock_fd);
	config_free(&d->cfg);
}

static int cmd_daemon(const struct options *o)
{
	struct daemon d = {.lock_fd = -1};
	struct ward_err err = {0};
	int code = 1;

	close_inherited();
	if (geteuid() != 0) {
		log_msg("must be started as root");
		return 1;
	}
	if (config_load(o->config, o->config_given, &d.cfg, &err) < 0) {
		log_msg("%s", err.msg);
		return 1;
	}
	if (daemon_host_setup(&d, o) == 0 && daemon_open_core(&d) == 0 &&
	    daemon_open_modules(&d) == 0 && daemon_watch_signals(&d) == 0) {
		daemon_check_pool(&d);
		if (daemon_run(&d) == 0)
			code = 0;
	}
	daemon_close(&d);
	return code;
}

int main(int argc, char **argv)
{
	struct options o;

	if (parse_options(argc, argv, &o) < 0)
		return EXIT_USAGE;
	if (optind < argc && strcmp(argv[optind], "run") == 0)
		return cmd_run(&o, argc - optind - 1, argv + optind + 1);
	if (optind < argc) {
		fprintf(stderr, "wardd: unknown command \"%s\"\n", argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}
	return cmd_daemon(&o);
}
