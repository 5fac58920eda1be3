/* wardd: the ward daemon's entry point. Holds only main() and its command
 * line; `wardd run` starts one service in the foreground. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "ward/cleanup.h"
#include "ward/launch.h"
#include "ward/profile.h"
#include "ward/seccomp.h"

/* Exit code of `wardd run` when ward itself failed (profile, sandbox). */
#define EXIT_WARD 125
#define EXIT_USAGE 2
#define MAX_POLICY_DIRS 16

struct options {
	const char *config;
	const char *tenants_dir;
	const char *policy_dirs[MAX_POLICY_DIRS];
	size_t n_policy_dirs;
	const char *state_dir;
	const char *log_dir;
	const char *data_dir;
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: wardd [OPTIONS]                      run the daemon\n"
		"       wardd [OPTIONS] run PROFILE SERVICE [-- COMMAND [ARG...]]\n"
		"\n"
		"`run` starts one service of the tenant PROFILE in the foreground, stdio\n"
		"attached, fully sandboxed, and exits with its status (128+N when killed by\n"
		"signal N). A COMMAND replaces the service's exec, to try a program under\n"
		"the service's policy. Exit codes of ward's own failures: 125 (bad profile,\n"
		"a sandbox step failed), 126 (cannot execute), 127 (not found), 2 (usage).\n"
		"\n"
		"Options:\n"
		"  --config FILE      daemon settings (default /etc/ward/wardd.json)\n"
		"  --tenants DIR      tenant profiles (default /etc/ward/tenants)\n"
		"  --policies DIR     look for policy fragments here first (repeatable);\n"
		"                     then PROFILE_DIR/../policies, then %s\n"
		"  --state-dir DIR    runtime state and caches (default /run/ward)\n"
		"  --log-dir DIR      logs and the audit log (default /var/log/ward)\n"
		"  --data-dir DIR     tenant T's data is DIR/T (default /var/lib/ward/tenants)\n"
		"  -h, --help         this text\n"
		"  --version          print the version\n",
		WARD_POLICY_DIR);
}

static int parse_options(int argc, char **argv, struct options *o)
{
	enum { OPT_CONFIG = 256, OPT_TENANTS, OPT_POLICIES, OPT_STATE, OPT_LOG, OPT_DATA, OPT_VERSION };
	static const struct option longopts[] = {
		{"config", required_argument, NULL, OPT_CONFIG},
		{"tenants", required_argument, NULL, OPT_TENANTS},
		{"policies", required_argument, NULL, OPT_POLICIES},
		{"state-dir", required_argument, NULL, OPT_STATE},
		{"log-dir", required_argument, NULL, OPT_LOG},
		{"data-dir", required_argument, NULL, OPT_DATA},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, OPT_VERSION},
		{NULL, 0, NULL, 0},
	};
	int c;

	*o = (struct options){
		.config = "/etc/ward/wardd.json",
		.tenants_dir = "/etc/ward/tenants",
		.state_dir = "/run/ward",
		.log_dir = "/var/log/ward",
		.data_dir = "/var/lib/ward/tenants",
	};
	/* "+": options end at the first non-option (the subcommand). */
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_CONFIG: o->config = optarg; break;
		case OPT_TENANTS: o->tenants_dir = optarg; break;
		case OPT_POLICIES:
			if (o->n_policy_dirs == MAX_POLICY_DIRS) {
				fprintf(stderr, "wardd: at most %d --policies\n", MAX_POLICY_DIRS);
				return -1;
			}
			o->policy_dirs[o->n_policy_dirs++] = optarg;
			break;
		case OPT_STATE: o->state_dir = optarg; break;
		case OPT_LOG: o->log_dir = optarg; break;
		case OPT_DATA: o->data_dir = optarg; break;
		case 'h': usage(stdout); exit(0);
		case OPT_VERSION: printf("wardd %s\n", WARD_VERSION); exit(0);
		default: usage(stderr); return -1;
		}
	}
	return 0;
}

/* The data dir must be a real directory (no symlink a tenant could have
 * planted), owned by the tenant, and not writable by anyone else. */
static int check_data_dir(const char *path, const struct ward_tenant *t)
{
	struct stat st;

	if (lstat(path, &st) < 0) {
		fprintf(stderr, "wardd: data directory %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "wardd: data directory %s: not a directory%s\n", path,
			S_ISLNK(st.st_mode) ? " (a symlink)" : "");
		return -1;
	}
	if (st.st_uid != t->ids.uid || st.st_gid != t->ids.uid) {
		fprintf(stderr, "wardd: data directory %s: owned by %u:%u, must be the tenant's %u:%u\n",
			path, st.st_uid, st.st_gid, t->ids.uid, t->ids.uid);
		return -1;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		fprintf(stderr, "wardd: data directory %s: writable by group or others (mode %03o)\n",
			path, st.st_mode & 0777);
		return -1;
	}
	return 0;
}

static int cache_dir_prepare(const char *state_dir, char *buf, size_t len)
{
	if (mkdir(state_dir, 0755) < 0 && errno != EEXIST)
		return -1;
	if (snprintf(buf, len, "%s/cache", state_dir) >= (int)len)
		return -1;
	return 0;
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
		struct pollfd pfd[2] = {{.fd = h->sync_fd, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
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

static int cmd_run(const struct options *o, int argc, char **argv)
{
	struct profile_options popts = {.policy_dirs = o->policy_dirs, .n_policy_dirs = o->n_policy_dirs};
	struct ward_diag diag = {0};
	struct ward_tenant *t = NULL;
	const struct ward_service *svc;
	struct seccomp_program prog = {0};
	struct launch_handle h;
	struct ward_err err = {0};
	char data_dir[4096], cache_dir[4096];
	char **command = NULL;
	int code = EXIT_WARD;

	if (argc < 2 || (argc > 2 && strcmp(argv[2], "--") != 0) || (argc == 3)) {
		fprintf(stderr, "Usage: wardd [OPTIONS] run PROFILE SERVICE [-- COMMAND [ARG...]]\n");
		return EXIT_USAGE;
	}
	if (argc > 3)
		command = &argv[3];
	if (geteuid() != 0) {
		fprintf(stderr, "wardd: run: must be started as root\n");
		return EXIT_WARD;
	}
	if (profile_load(argv[0], &popts, &t, &diag) < 0) {
		diag_print(&diag, stderr);
		diag_free(&diag);
		return EXIT_WARD;
	}
	svc = tenant_find_service(t, argv[1]);
	if (!svc) {
		fprintf(stderr, "wardd: %s: tenant %s has no service \"%s\"; it has:", argv[0], t->name,
			argv[1]);
		for (size_t i = 0; i < t->n_services; i++)
			fprintf(stderr, " %s", t->services[i].name);
		fputc('\n', stderr);
		goto out;
	}
	if (!t->ids.set) {
		fprintf(stderr, "wardd: %s: `wardd run` needs \"ids\" in the profile\n", argv[0]);
		goto out;
	}
	if (snprintf(data_dir, sizeof(data_dir), "%s/%s", o->data_dir, t->name) >= (int)sizeof(data_dir)) {
		fprintf(stderr, "wardd: data directory path too long\n");
		goto out;
	}
	if (svc->policy.filesystem.data && check_data_dir(data_dir, t) < 0)
		goto out;
	{
		char why[512];
		if (launch_limits_clamped(&svc->policy, why, sizeof(why)))
			fprintf(stderr, "wardd: warning: %s/%s: %s: using the hard limit\n", t->name,
				svc->name, why);
	}
	if (seccomp_compile(&svc->policy.seccomp,
			    cache_dir_prepare(o->state_dir, cache_dir, sizeof(cache_dir)) == 0 ? cache_dir : NULL,
			    &prog, &err) < 0) {
		fprintf(stderr, "wardd: seccomp: %s\n", err.msg);
		goto out;
	}
	{
		struct launch_spec spec = {
			.tenant = t,
			.service = svc,
			.policy = &svc->policy,
			.argv = command,
			.data_dir = data_dir,
			.seccomp = &prog,
			.stdio = {0, 1, 2},
		};
		if (launch_start(&spec, &h, &err) < 0) {
			fprintf(stderr, "wardd: start %s/%s: %s\n", t->name, svc->name, err.msg);
			goto out;
		}
	}
	code = supervise_foreground(&h);
	launch_release(&h);
out:
	seccomp_program_free(&prog);
	tenant_free(t);
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
	fprintf(stderr, "wardd: the daemon is not part of this build yet; use `wardd run`\n");
	return 1;
}
