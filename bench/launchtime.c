/* launchtime: times start-to-exit of several commands, alternated round by
 * round (A B C A B C ...), so drift of the machine hits every command alike.
 *
 *   launchtime [-n ROUNDS] [-w WARMUP] [-t TIMEOUT_S] [-p PAUSE_US] [-e DIR]
 *              NAME CMD [ARG...] [::: NAME CMD [ARG...]]...
 *
 * Each launch is posix_spawn() of CMD (PATH searched) with stdin and stdout on
 * /dev/null and stderr on /dev/null (or DIR/NAME.stderr with -e), timed with
 * CLOCK_MONOTONIC from just before the spawn to the return of the wait.
 * "{round}" inside an argument is replaced by the round number (warm-up
 * rounds are negative), e.g. to give every launch a fresh, empty cache dir.
 *
 * Prints one line per recorded launch on stdout:
 *     sample ROUND NAME MICROSECONDS STATUS
 * STATUS is "ok", "exit:N", "signal:N" or "timeout". A command that fails in
 * every warm-up round is not launched again (a line "# dropped NAME ..." says
 * so): timing a tool that does not work would measure nothing.
 * Build: cc -O2 -o launchtime launchtime.c */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CMDS    16
#define ROUND_TOKEN "{round}"

extern char **environ;

struct cmd {
	const char *name;
	char **argv; /* as given; may hold ROUND_TOKEN */
	int argc;
	int err_fd; /* the command's stderr */
	bool dropped;
	int warm_fails;
};

static void usage(void)
{
	fprintf(stderr,
		"usage: launchtime [-n ROUNDS] [-w WARMUP] [-t TIMEOUT_S] [-p PAUSE_US] [-e DIR]\n"
		"                  NAME CMD [ARG...] [::: NAME CMD [ARG...]]...\n");
	exit(2);
}

static unsigned long parse_ulong(const char *opt, const char *s, unsigned long max)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v > max) {
		fprintf(stderr, "launchtime: %s: not a number in 0..%lu: '%s'\n", opt, max, s);
		exit(2);
	}
	return (unsigned long)v;
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* argv with every ROUND_TOKEN replaced by the round number; static storage,
 * valid until the next call. */
static char **argv_for_round(const struct cmd *c, long round)
{
	static char *out[256];
	static char buf[16384];
	size_t used = 0;

	if (c->argc >= (int)(sizeof out / sizeof out[0])) {
		fprintf(stderr, "launchtime: %s: too many arguments\n", c->name);
		exit(2);
	}
	for (int i = 0; i < c->argc; i++) {
		const char *a = c->argv[i];
		const char *tok = strstr(a, ROUND_TOKEN);
		if (!tok) {
			out[i] = c->argv[i];
			continue;
		}
		int n = snprintf(buf + used, sizeof buf - used, "%.*s%ld%s", (int)(tok - a), a,
				 round, tok + strlen(ROUND_TOKEN));
		if (n < 0 || (size_t)n >= sizeof buf - used) {
			fprintf(stderr, "launchtime: %s: arguments too long\n", c->name);
			exit(2);
		}
		out[i] = buf + used;
		used += (size_t)n + 1;
	}
	out[c->argc] = NULL;
	return out;
}

static void format_status(int st, char *buf, size_t len)
{
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		snprintf(buf, len, "ok");
	else if (WIFEXITED(st))
		snprintf(buf, len, "exit:%d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "signal:%d", WTERMSIG(st));
	else
		snprintf(buf, len, "status:%d", st);
}

/* One launch. Returns the wait status, or -1 on a timeout (the command's
 * process group has been killed and reaped). *us gets the elapsed time. */
static int launch_once(const struct cmd *c, long round, int null_fd, unsigned timeout_s, double *us)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	char **argv = argv_for_round(c, round);

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, null_fd, 0);
	posix_spawn_file_actions_adddup2(&fa, null_fd, 1);
	posix_spawn_file_actions_adddup2(&fa, c->err_fd, 2);
	posix_spawnattr_init(&attr);
	/* its own process group, so a hung tool can be killed with all it started */
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
	posix_spawnattr_setpgroup(&attr, 0);

	pid_t pid;
	int64_t t0 = now_ns();
	int rc = posix_spawnp(&pid, argv[0], &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	if (rc) {
		*us = 0;
		fprintf(stderr, "launchtime: %s: spawn %s: %s\n", c->name, argv[0], strerror(rc));
		return 127 << 8; /* what a shell reports for a missing command */
	}

	int st;
	if (timeout_s) {
		/* the pidfd is opened after the spawn; not in the timed path's way:
		 * the child is running by then and poll() waits for its exit */
		int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
		if (pfd >= 0) {
			struct pollfd p = {.fd = pfd, .events = POLLIN};
			int n;
			do
				n = poll(&p, 1, (int)(timeout_s * 1000));
			while (n < 0 && errno == EINTR);
			close(pfd);
			if (n == 0) {
				kill(-pid, SIGKILL);
				kill(pid, SIGKILL);
				while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
					;
				*us = (double)(now_ns() - t0) / 1e3;
				return -1;
			}
		}
	}
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR) {
			perror("launchtime: waitpid");
			exit(1);
		}
	}
	*us = (double)(now_ns() - t0) / 1e3;
	return st;
}

static int parse_cmds(int argc, char **argv, struct cmd *cmds)
{
	int n = 0;
	int i = 0;
	while (i < argc) {
		if (n == MAX_CMDS) {
			fprintf(stderr, "launchtime: at most %d commands\n", MAX_CMDS);
			exit(2);
		}
		int j = i;
		while (j < argc && strcmp(argv[j], ":::") != 0)
			j++;
		if (j - i < 2)
			usage(); /* a NAME and a CMD at least */
		cmds[n] = (struct cmd){.name = argv[i], .argv = &argv[i + 1], .argc = j - i - 1};
		argv[j < argc ? j : argc] = NULL; /* terminates this command's argv */
		n++;
		i = j + 1;
	}
	return n;
}

static int open_stderr(const char *dir, const char *name)
{
	char path[PATH_MAX];
	if (!dir)
		return open("/dev/null", O_WRONLY | O_CLOEXEC);
	int n = snprintf(path, sizeof path, "%s/%s.stderr", dir, name);
	if (n < 0 || (size_t)n >= sizeof path) {
		fprintf(stderr, "launchtime: %s: path too long\n", dir);
		exit(2);
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "launchtime: open %s: %s\n", path, strerror(errno));
		exit(1);
	}
	return fd;
}

int main(int argc, char **argv)
{
	unsigned long rounds = 200, warmup = 3, timeout_s = 30, pause_us = 0;
	const char *err_dir = NULL;
	int opt;

	while ((opt = getopt(argc, argv, "+n:w:t:p:e:h")) != -1) {
		switch (opt) {
		case 'n':
			rounds = parse_ulong("-n", optarg, 1000000);
			break;
		case 'w':
			warmup = parse_ulong("-w", optarg, 1000);
			break;
		case 't':
			timeout_s = parse_ulong("-t", optarg, 3600);
			break;
		case 'p':
			pause_us = parse_ulong("-p", optarg, 10000000);
			break;
		case 'e':
			err_dir = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind >= argc || rounds == 0)
		usage();

	struct cmd cmds[MAX_CMDS];
	int ncmds = parse_cmds(argc - optind, argv + optind, cmds);
	int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null_fd < 0) {
		perror("launchtime: /dev/null");
		return 1;
	}
	for (int k = 0; k < ncmds; k++)
		cmds[k].err_fd = open_stderr(err_dir, cmds[k].name);

	printf("# launchtime rounds=%lu warmup=%lu commands=%d order=alternating\n", rounds, warmup,
	       ncmds);
	for (int k = 0; k < ncmds; k++) {
		printf("# cmd %s:", cmds[k].name);
		for (int a = 0; a < cmds[k].argc; a++)
			printf(" %s", cmds[k].argv[a]);
		printf("\n");
	}
	fflush(stdout);

	/* warm-up rounds are numbered -warmup..-1 and not printed */
	for (long r = -(long)warmup; r < (long)rounds; r++) {
		for (int k = 0; k < ncmds; k++) {
			struct cmd *c = &cmds[k];
			if (c->dropped)
				continue;
			double us;
			char status[32];
			int st = launch_once(c, r, null_fd, (unsigned)timeout_s, &us);
			if (st == -1)
				snprintf(status, sizeof status, "timeout");
			else
				format_status(st, status, sizeof status);
			bool ok = !strcmp(status, "ok");
			if (r < 0) {
				c->warm_fails += !ok;
				if (r == -1 && c->warm_fails == (int)warmup) {
					c->dropped = true;
					printf("# dropped %s: failed in every warm-up round (last: "
					       "%s)\n",
					       c->name, status);
				}
			} else {
				printf("sample %ld %s %.1f %s\n", r, c->name, us, status);
			}
			if (pause_us)
				usleep((useconds_t)pause_us);
		}
		if (r >= 0 && (r + 1) % 50 == 0) {
			fprintf(stderr, "launchtime: %ld/%lu rounds\n", r + 1, rounds);
		}
		fflush(stdout);
	}
	return 0;
}
