/* A misbehaving tenant program for the resource-limit tests: it forks,
 * allocates or spins until a limit stops it, or proves it still answers.
 *
 *   hog forkbomb          fork until fork fails; print "forks N errno E"; hold
 *   hog memory MB         allocate and touch MB MiB, 1 MiB at a time; print
 *                         "allocated N" every 16 MiB (killed by the OOM killer
 *                         when the limit is lower)
 *   hog spin SECONDS      busy loop for SECONDS of wall time, then exit 0
 *   hog heartbeat MS      print "beat <CLOCK_MONOTONIC ms>" every MS ms, forever
 *   hog doublefork        leave a grandchild (its parent exits) sleeping, then
 *                         sleep: a stop must still end both
 *   hog oomchild MB       a child allocates MB MiB (and asks to be the OOM
 *                         killer's first pick); print "child <wait status>"
 *                         once it is gone, then exit 0
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int forkbomb(void)
{
	long long n = 0;

	for (;;) {
		pid_t p = fork();
		if (p == 0) {
			pause();
			_exit(0);
		}
		if (p < 0) {
			dprintf(1, "forks %lld errno %d\n", n, errno);
			break;
		}
		n++;
	}
	for (;;)
		pause();
}

static int memory(long mb)
{
	/* Each MiB is kept, never freed: holding it is the hog's job. */
	/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc) */
	for (long i = 1; i <= mb; i++) {
		char *p = malloc(1 << 20);
		if (!p) {
			dprintf(1, "malloc failed at %ld MiB\n", i);
			return 1;
		}
		memset(p, 0x5a, 1 << 20);
		if (i % 16 == 0)
			dprintf(1, "allocated %ld MiB\n", i);
	}
	dprintf(1, "done %ld MiB\n", mb);
	for (;;)
		pause();
}

static int spin(long seconds)
{
	long long end = now_ms() + seconds * 1000;
	volatile unsigned long x = 0;

	while (now_ms() < end)
		for (int i = 0; i < 100000; i++)
			x += (unsigned long)i;
	return 0;
}

static __attribute__((noreturn)) int heartbeat(long ms)
{
	struct timespec d = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

	for (;;) {
		dprintf(1, "beat %lld\n", now_ms());
		nanosleep(&d, NULL);
	}
}

static int doublefork(void)
{
	pid_t p = fork();

	if (p == 0) {
		if (fork() == 0) {
			signal(SIGTERM, SIG_IGN);
			for (;;)
				pause();
		}
		_exit(0);
	}
	for (;;)
		pause();
}

static int oomchild(long mb)
{
	pid_t p = fork();
	int st = 0;

	if (p < 0)
		return 1;
	if (p == 0) {
		FILE *f = fopen("/proc/self/oom_score_adj", "w");

		if (f) {
			fputs("1000\n", f);
			(void)fclose(f);
		}
		_exit(memory(mb));
	}
	while (waitpid(p, &st, 0) < 0)
		if (errno != EINTR)
			return 1;
	dprintf(1, "child %d\n", st);
	return 0;
}

int main(int argc, char **argv)
{
	long arg = argc > 2 ? strtol(argv[2], NULL, 10) : 0;

	if (argc < 2)
		return 2;
	if (strcmp(argv[1], "forkbomb") == 0)
		return forkbomb();
	if (strcmp(argv[1], "memory") == 0)
		return memory(arg);
	if (strcmp(argv[1], "spin") == 0)
		return spin(arg);
	if (strcmp(argv[1], "heartbeat") == 0)
		return heartbeat(arg);
	if (strcmp(argv[1], "doublefork") == 0)
		return doublefork();
	if (strcmp(argv[1], "oomchild") == 0)
		return oomchild(arg);
	return 2;
}
