/* seccomp-verdict PID CALL...: what the seccomp filters a running process
 * really holds decide for each CALL, without the process making it.
 *
 * The integration tests use it where the kernel cannot enter an ABI (i386
 * without the int 0x80 gate): it takes the filters from the kernel with
 * PTRACE_SECCOMP_GET_FILTER (root: CAP_SYS_ADMIN, and the tracer itself
 * unfiltered), and runs them with bpf_eval over the seccomp_data such a call
 * would produce. CALL is ARCH,NR[,ARG0[,ARG1[,ARG2]]] with ARCH i386 or
 * x86_64 and numbers in C notation. Prints one JSON object:
 *   {"filters": N, "CALL": {"action": "kill_process", "ret": 2147483648, "errno": 0}, ...}
 * Exit 0, or 1 with a message on stderr. */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bpf_eval.h"

#define MAX_FILTERS 32

static struct sock_filter *progs[MAX_FILTERS];
static size_t lens[MAX_FILTERS];

static int die(const char *what)
{
	fprintf(stderr, "seccomp-verdict: %s: %s\n", what, strerror(errno));
	return 1;
}

/* The filters, newest first as the kernel numbers them. */
static int fetch(pid_t pid, size_t *n)
{
	int status;

	if (ptrace(PTRACE_SEIZE, pid, NULL, NULL) != 0)
		return die("PTRACE_SEIZE");
	if (ptrace(PTRACE_INTERRUPT, pid, NULL, NULL) != 0 || waitpid(pid, &status, __WALL) != pid)
		return die("stopping the process");
	for (*n = 0; *n < MAX_FILTERS; (*n)++) {
		/* ptrace takes the filter's index as its address argument. */
		void *index = (void *)*n; /* NOLINT(performance-no-int-to-ptr) */
		long len = ptrace(PTRACE_SECCOMP_GET_FILTER, pid, index, NULL);

		/* Past the last filter ENOENT; no filter at all EINVAL. */
		if (len < 0 && (errno == ENOENT || errno == EINVAL))
			break;
		if (len <= 0)
			return die("PTRACE_SECCOMP_GET_FILTER");
		progs[*n] = calloc((size_t)len, sizeof(struct sock_filter));
		if (!progs[*n])
			return die("calloc");
		if (ptrace(PTRACE_SECCOMP_GET_FILTER, pid, index, progs[*n]) != len)
			return die("PTRACE_SECCOMP_GET_FILTER");
		lens[*n] = (size_t)len;
	}
	if (ptrace(PTRACE_DETACH, pid, NULL, NULL) != 0)
		return die("PTRACE_DETACH");
	return 0;
}

static int parse_call(const char *call, struct seccomp_data *d)
{
	char *copy = strdup(call), *save = NULL, *tok;
	int field = 0, r = 0;

	*d = (struct seccomp_data){0};
	for (tok = strtok_r(copy, ",", &save); tok && r == 0; tok = strtok_r(NULL, ",", &save)) {
		char *end;

		if (field == 0) {
			if (strcmp(tok, "i386") == 0)
				d->arch = AUDIT_ARCH_I386;
			else if (strcmp(tok, "x86_64") == 0)
				d->arch = AUDIT_ARCH_X86_64;
			else
				r = -1;
		} else {
			unsigned long long v;

			errno = 0;
			v = strtoull(tok, &end, 0);
			if (errno || *end || field > 4)
				r = -1;
			else if (field == 1)
				d->nr = (int)v;
			else
				d->args[field - 2] = v;
		}
		field++;
	}
	free(copy);
	/* i386 registers are 32 bits wide. */
	if (d->arch == AUDIT_ARCH_I386)
		for (int i = 0; i < 6; i++)
			d->args[i] &= 0xffffffffu;
	return field >= 2 ? r : -1;
}

int main(int argc, char **argv)
{
	const struct sock_filter *stack[MAX_FILTERS];
	size_t n = 0;
	pid_t pid;

	if (argc < 3) {
		fprintf(stderr, "usage: seccomp-verdict PID ARCH,NR[,ARG0,ARG1,ARG2]...\n");
		return 2;
	}
	pid = (pid_t)atoi(argv[1]);
	if (fetch(pid, &n) != 0)
		return 1;
	for (size_t i = 0; i < n; i++)
		stack[i] = progs[i];
	printf("{\"filters\": %zu", n);
	for (int i = 2; i < argc; i++) {
		struct seccomp_data d;
		bool bad;
		uint32_t ret;

		if (parse_call(argv[i], &d) != 0) {
			fprintf(stderr, "seccomp-verdict: %s: not ARCH,NR[,ARG...]\n", argv[i]);
			return 2;
		}
		ret = n ? bpf_eval_stack(stack, lens, n, &d, &bad) : SECCOMP_RET_ALLOW;
		if (n && bad) {
			fprintf(stderr, "seccomp-verdict: the filter is not one the kernel runs\n");
			return 1;
		}
		printf(", \"%s\": {\"action\": \"%s\", \"ret\": %u, \"errno\": %u}", argv[i],
		       bpf_action_name(ret), ret,
		       bpf_action(ret) == SECCOMP_RET_ERRNO ? ret & SECCOMP_RET_DATA : 0);
	}
	printf("}\n");
	for (size_t i = 0; i < n; i++)
		free(progs[i]);
	return 0;
}
