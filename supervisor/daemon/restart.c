/* The restart policy with systemd's meanings: pure functions (unit-tested)
 * and the start limit's ring of recent starts. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "daemon/supervise-internal.h"

static const char *const state_names[] = {
    [SERVICE_STOPPED] = "stopped",   [SERVICE_STARTING] = "starting", [SERVICE_RUNNING] = "running",
    [SERVICE_STOPPING] = "stopping", [SERVICE_BACKOFF] = "backoff",   [SERVICE_FAILED] = "failed",
};

const char *service_state_to_string(enum service_state s)
{
	return (unsigned)s < sizeof(state_names) / sizeof(*state_names) ? state_names[s]
									: "invalid";
}

/* ---- restart policy: pure functions ---- */

bool exit_is_clean(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st) == 0;
	if (WIFSIGNALED(st)) {
		int sig = WTERMSIG(st);
		return sig == SIGTERM || sig == SIGINT || sig == SIGHUP || sig == SIGPIPE;
	}
	return false;
}

bool restart_wanted(enum restart_on on, int st)
{
	switch (on) {
	case RESTART_ALWAYS:
		return true;
	case RESTART_FAILURE:
		return !exit_is_clean(st);
	case RESTART_NEVER:
		return false;
	}
	return false;
}

uint64_t restart_delay_ms(const struct ward_restart *r, unsigned n)
{
	uint64_t d = r->delay_ms;

	/* Doubling per consecutive restart, capped: systemd's RestartSteps
	 * grows geometrically too; doubling is the simple, documented form. */
	for (unsigned i = 1; i < n && d < r->max_delay_ms; i++)
		d = d > UINT64_MAX / 2 ? UINT64_MAX : d * 2;
	return d < r->max_delay_ms ? d : r->max_delay_ms;
}

void exit_reason(int st, char *buf, size_t len)
{
	if (WIFEXITED(st))
		(void)snprintf(buf, len, "exited %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		(void)snprintf(buf, len, "killed by SIG%s%s",
			       sigabbrev_np(WTERMSIG(st)) ? sigabbrev_np(WTERMSIG(st)) : "?",
			       WCOREDUMP(st) ? " (core dumped)" : "");
	else
		(void)snprintf(buf, len, "status 0x%x", st);
}

/* Has the service started burst times within the last interval_s? Starts
 * that left the window are dropped on the way. */
bool start_limit_hit(struct svc_history *h, const struct ward_restart *r, uint64_t now)
{
	uint64_t window = (uint64_t)r->interval_s * 1000;
	size_t keep = 0;

	for (size_t i = 0; i < h->n; i++)
		if (now - h->starts[i] < window)
			h->starts[keep++] = h->starts[i];
	h->n = keep;
	return h->n >= r->burst;
}

int remember_start(struct svc_history *h, uint64_t now)
{
	if (h->n == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 8;
		uint64_t *n = realloc(h->starts, cap * sizeof(*n));
		if (!n)
			return -1;
		h->starts = n;
		h->cap = cap;
	}
	h->starts[h->n++] = now;
	return 0;
}

void svc_history_forget(struct svc_history *h)
{
	h->n = 0;
	h->consecutive = 0;
}
