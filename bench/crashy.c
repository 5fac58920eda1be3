/* crashy: the crashing service of `scripts/bench supervise`.
 *
 *   crashy [LIFE_MS]
 *
 * As its very first act it writes "start NS" on stdout, NS being
 * CLOCK_MONOTONIC in nanoseconds; then it lives LIFE_MS milliseconds
 * (default 5), writes "death NS" and kills itself with SIGSEGV. Each line is
 * one write(2), so nothing waits in a stdio buffer when the process dies.
 *
 * Run under wardd with restart delay 0, the "start" of instance n+1 minus the
 * "death" of instance n is one sample of the restart latency: death to the new
 * process running, as the service itself sees it. CLOCK_MONOTONIC is one
 * clock for the whole machine as long as no time namespace is in between
 * (ward makes none).
 *
 * Build: cc -O2 -static -o crashy crashy.c (a static binary keeps the dynamic
 * loader out of the figure; a dynamic one works too). */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void say(const char *what, int64_t ns)
{
	char buf[64];
	int n = snprintf(buf, sizeof(buf), "%s %lld\n", what, (long long)ns);
	if (n > 0 && write(STDOUT_FILENO, buf, (size_t)n) != n)
		_exit(3); /* stdout gone: nothing to measure */
}

int main(int argc, char **argv)
{
	int64_t start = now_ns();
	long life_ms = 5;

	say("start", start);
	if (argc > 1) {
		char *end;
		life_ms = strtol(argv[1], &end, 10);
		if (*end || life_ms < 0 || life_ms > 60000) {
			fprintf(stderr, "crashy: LIFE_MS: 0..60000, not '%s'\n", argv[1]);
			return 2;
		}
	}
	struct timespec life = {.tv_sec = life_ms / 1000, .tv_nsec = life_ms % 1000 * 1000000};
	while (nanosleep(&life, &life) != 0)
		;
	say("death", now_ns());
	signal(SIGSEGV, SIG_DFL);
	raise(SIGSEGV);
	return 4; /* not reached: SIGSEGV was blocked or refused */
}
