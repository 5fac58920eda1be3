/* A small epoll reactor: fd callbacks, timers on one timerfd ordered by a
 * min-heap, signals through one signalfd. One thread; nothing here blocks
 * except epoll_wait itself. */
#include "basic/loop.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

struct watch {
	loop_fd_fn fn;
	void *ud;
	uint32_t gen; /* 0: free slot */
};

struct loop_timer {
	uint64_t deadline;
	loop_timer_fn fn;
	void *ud;
	size_t index; /* in the heap */
};

struct signal_handler {
	loop_signal_fn fn;
	void *ud;
};

struct loop {
	int epfd;
	int timerfd;
	int sigfd;
	sigset_t sigs;
	struct watch *watches; /* indexed by fd */
	size_t n_watches;
	size_t n_active;
	uint32_t next_gen;
	struct loop_timer **heap;
	size_t n_heap, cap_heap;
	struct signal_handler handlers[NSIG];
	loop_turn_fn turn_fn;
	void *turn_ud;
	bool quit;
};

/* epoll's data carries fd and generation: an event queued for an fd that
 * was removed, closed and reused in the same turn is not misdelivered. */
static uint64_t pack(int fd, uint32_t gen)
{
	return (uint64_t)gen << 32 | (uint32_t)fd;
}

uint64_t loop_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct loop *loop_new(void)
{
	struct loop *l = calloc(1, sizeof(*l));
	struct epoll_event ev = {.events = EPOLLIN};

	if (!l)
		return NULL;
	l->timerfd = l->sigfd = -1;
	l->next_gen = 1;
	sigemptyset(&l->sigs);
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	l->sigfd = signalfd(-1, &l->sigs, SFD_NONBLOCK | SFD_CLOEXEC);
	if (l->epfd < 0 || l->timerfd < 0 || l->sigfd < 0)
		goto fail;
	/* The internal fds use generation 0, which no watch ever has. */
	ev.data.u64 = pack(l->timerfd, 0);
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->timerfd, &ev) < 0)
		goto fail;
	ev.data.u64 = pack(l->sigfd, 0);
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->sigfd, &ev) < 0)
		goto fail;
	return l;
fail:
	loop_free(l);
	return NULL;
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n_heap; i++)
		free(l->heap[i]);
	free(l->heap);
	free(l->watches);
	if (l->epfd >= 0)
		close(l->epfd);
	if (l->timerfd >= 0)
		close(l->timerfd);
	if (l->sigfd >= 0)
		close(l->sigfd);
	sigprocmask(SIG_UNBLOCK, &l->sigs, NULL);
	free(l);
}

static int grow_watches(struct loop *l, int fd)
{
	size_t n = l->n_watches ? l->n_watches : 64;
	struct watch *w;

	while (n <= (size_t)fd)
		n *= 2;
	if (n == l->n_watches)
		return 0;
	w = realloc(l->watches, n * sizeof(*w));
	if (!w)
		return -ENOMEM;
	memset(w + l->n_watches, 0, (n - l->n_watches) * sizeof(*w));
	l->watches = w;
	l->n_watches = n;
	return 0;
}

int loop_add_fd(struct loop *l, int fd, uint32_t events, loop_fd_fn fn, void *ud)
{
	struct epoll_event ev = {.events = events};
	uint32_t gen;

	if (fd < 0)
		return -EBADF;
	if (grow_watches(l, fd) < 0)
		return -ENOMEM;
	if (l->watches[fd].gen)
		return -EEXIST;
	gen = l->next_gen++;
	if (l->next_gen == 0)
		l->next_gen = 1;
	ev.data.u64 = pack(fd, gen);
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	l->watches[fd] = (struct watch){.fn = fn, .ud = ud, .gen = gen};
	l->n_active++;
	return 0;
}

int loop_mod_fd(struct loop *l, int fd, uint32_t events)
{
	struct epoll_event ev = {.events = events};

	if (fd < 0 || (size_t)fd >= l->n_watches || !l->watches[fd].gen)
		return -ENOENT;
	ev.data.u64 = pack(fd, l->watches[fd].gen);
	return epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

void loop_del_fd(struct loop *l, int fd)
{
	if (fd < 0 || (size_t)fd >= l->n_watches || !l->watches[fd].gen)
		return;
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
	l->watches[fd].gen = 0;
	l->n_active--;
}

/* ---- timers: a binary min-heap on deadline ---- */

static void heap_swap(struct loop *l, size_t a, size_t b)
{
	struct loop_timer *t = l->heap[a];

	l->heap[a] = l->heap[b];
	l->heap[b] = t;
	l->heap[a]->index = a;
	l->heap[b]->index = b;
}

static void heap_up(struct loop *l, size_t i)
{
	while (i > 0 && l->heap[(i - 1) / 2]->deadline > l->heap[i]->deadline) {
		heap_swap(l, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void heap_down(struct loop *l, size_t i)
{
	for (;;) {
		size_t c = 2 * i + 1, m = i;

		if (c < l->n_heap && l->heap[c]->deadline < l->heap[m]->deadline)
			m = c;
		if (c + 1 < l->n_heap && l->heap[c + 1]->deadline < l->heap[m]->deadline)
			m = c + 1;
		if (m == i)
			return;
		heap_swap(l, i, m);
		i = m;
	}
}

static void heap_remove(struct loop *l, size_t i)
{
	l->n_heap--;
	if (i == l->n_heap)
		return;
	l->heap[i] = l->heap[l->n_heap];
	l->heap[i]->index = i;
	heap_down(l, i);
	heap_up(l, i);
}

static void timer_rearm(struct loop *l)
{
	struct itimerspec its = {0};

	if (l->n_heap) {
		uint64_t d = l->heap[0]->deadline;
		/* An absolute deadline of 0 would disarm: never ask for it. */
		its.it_value.tv_sec = (time_t)(d / 1000);
		its.it_value.tv_nsec = (long)(d % 1000) * 1000000 + 1;
	}
	timerfd_settime(l->timerfd, TFD_TIMER_ABSTIME, &its, NULL);
}

struct loop_timer *loop_timer_add(struct loop *l, uint64_t ms, loop_timer_fn fn, void *ud)
{
	struct loop_timer *t;

	if (l->n_heap == l->cap_heap) {
		size_t cap = l->cap_heap ? 2 * l->cap_heap : 64;
		struct loop_timer **h = realloc(l->heap, cap * sizeof(*h));
		if (!h)
			return NULL;
		l->heap = h;
		l->cap_heap = cap;
	}
	t = malloc(sizeof(*t));
	if (!t)
		return NULL;
	*t = (struct loop_timer){
	    .deadline = loop_now_ms() + ms, .fn = fn, .ud = ud, .index = l->n_heap};
	l->heap[l->n_heap++] = t;
	heap_up(l, t->index);
	if (l->heap[0] == t)
		timer_rearm(l);
	return t;
}

void loop_timer_cancel(struct loop *l, struct loop_timer *t)
{
	if (!t)
		return;
	heap_remove(l, t->index);
	free(t);
	timer_rearm(l);
}

static void timers_fire(struct loop *l)
{
	uint64_t expirations, now = loop_now_ms();

	(void)!read(l->timerfd, &expirations, sizeof(expirations));
	while (l->n_heap && l->heap[0]->deadline <= now) {
		struct loop_timer *t = l->heap[0];

		heap_remove(l, 0);
		t->fn(l, t->ud);
		free(t);
	}
	timer_rearm(l);
}

/* ---- signals ---- */

int loop_add_signal(struct loop *l, int sig, loop_signal_fn fn, void *ud)
{
	sigset_t one;

	if (sig <= 0 || sig >= NSIG)
		return -EINVAL;
	sigemptyset(&one);
	sigaddset(&one, sig);
	if (sigprocmask(SIG_BLOCK, &one, NULL) < 0)
		return -errno;
	sigaddset(&l->sigs, sig);
	if (signalfd(l->sigfd, &l->sigs, SFD_NONBLOCK | SFD_CLOEXEC) < 0)
		return -errno;
	l->handlers[sig] = (struct signal_handler){.fn = fn, .ud = ud};
	return 0;
}

static void signals_dispatch(struct loop *l)
{
	struct signalfd_siginfo si;

	while (read(l->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		int sig = (int)si.ssi_signo;

		if (sig > 0 && sig < NSIG && l->handlers[sig].fn)
			l->handlers[sig].fn(l, sig, l->handlers[sig].ud);
	}
}

/* ---- the loop ---- */

int loop_run(struct loop *l)
{
	struct epoll_event evs[64];

	l->quit = false;
	while (!l->quit) {
		int n = epoll_wait(l->epfd, evs, 64, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		for (int i = 0; i < n && !l->quit; i++) {
			int fd = (int)(uint32_t)evs[i].data.u64;
			uint32_t gen = (uint32_t)(evs[i].data.u64 >> 32);

			if (gen == 0) {
				if (fd == l->timerfd)
					timers_fire(l);
				else if (fd == l->sigfd)
					signals_dispatch(l);
				continue;
			}
			if ((size_t)fd >= l->n_watches || l->watches[fd].gen != gen)
				continue; /* removed earlier in this turn */
			l->watches[fd].fn(l, fd, evs[i].events, l->watches[fd].ud);
		}
		if (l->turn_fn)
			l->turn_fn(l, l->turn_ud);
	}
	return 0;
}

void loop_set_turn_hook(struct loop *l, loop_turn_fn fn, void *ud)
{
	l->turn_fn = fn;
	l->turn_ud = ud;
}

void loop_quit(struct loop *l)
{
	l->quit = true;
}

size_t loop_count_fds(const struct loop *l)
{
	return l->n_active;
}

size_t loop_count_timers(const struct loop *l)
{
	return l->n_heap;
}
