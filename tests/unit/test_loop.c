/* Unit tests of loop.c, the epoll reactor: fd callbacks (also removed or
 * replaced in the middle of a turn), timers in deadline order with cancels,
 * signals through signalfd, the turn hook, and the leak counters. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "basic/loop.h"

static void make_pipe(int p[2])
{
	assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
}

static void on_quit_timer(struct loop *l, void *ud)
{
	loop_quit(l);
}

/* ---- fds ---- */

struct fd_log {
	int calls;
	int last_fd;
	uint32_t last_events;
	void *last_ud;
};

static void on_fd_quit(struct loop *l, int fd, uint32_t events, void *ud)
{
	struct fd_log *log = ud;

	log->calls++;
	log->last_fd = fd;
	log->last_events = events;
	log->last_ud = ud;
	loop_quit(l);
}

static void test_fd_callback(void **state)
{
	struct loop *l = loop_new();
	struct fd_log log = {0};
	int p[2];

	(void)state;
	assert_non_null(l);
	make_pipe(p);
	assert_int_equal(loop_count_fds(l), 0);
	assert_int_equal(loop_add_fd(l, p[0], EPOLLIN, on_fd_quit, &log), 0);
	assert_int_equal(loop_count_fds(l), 1);
	assert_int_equal(write(p[1], "x", 1), 1);
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(log.calls, 1);
	assert_int_equal(log.last_fd, p[0]);
	assert_true(log.last_events & EPOLLIN);
	assert_ptr_equal(log.last_ud, &log);

	/* One registration per fd; bad fds and unknown fds are refused. */
	assert_int_equal(loop_add_fd(l, p[0], EPOLLIN, on_fd_quit, &log), -EEXIST);
	assert_int_equal(loop_add_fd(l, -1, EPOLLIN, on_fd_quit, &log), -EBADF);
	assert_int_equal(loop_mod_fd(l, p[1], EPOLLOUT), -ENOENT);
	assert_int_equal(loop_mod_fd(l, 100000, EPOLLOUT), -ENOENT);
	loop_del_fd(l, p[1]); /* not watched: nothing happens */
	assert_int_equal(loop_count_fds(l), 1);

	/* loop_mod_fd changes what is watched: the write end, for EPOLLOUT. */
	assert_int_equal(loop_add_fd(l, p[1], 0, on_fd_quit, &log), 0);
	assert_int_equal(loop_mod_fd(l, p[0], 0), 0);
	assert_int_equal(loop_mod_fd(l, p[1], EPOLLOUT), 0);
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(log.calls, 2);
	assert_int_equal(log.last_fd, p[1]);
	assert_true(log.last_events & EPOLLOUT);

	loop_del_fd(l, p[0]);
	loop_del_fd(l, p[1]);
	assert_int_equal(loop_count_fds(l), 0);
	/* An fd can be watched again once forgotten. */
	assert_int_equal(loop_add_fd(l, p[0], EPOLLIN, on_fd_quit, &log), 0);
	loop_del_fd(l, p[0]);
	close(p[0]);
	close(p[1]);
	loop_free(l);
}

/* Two fds readable in the same turn; whichever callback runs first removes
 * the other fd, and may put a new fd under its number at once. The event
 * already fetched for the removed fd must reach nobody: not its old
 * callback, not the new watch that has its number now. */
struct race {
	int fds[2];
	int calls[2];
	int new_calls;
	int turns;
	bool reuse;
	int keep_open; /* the new pipe's write end */
};

struct race_end {
	struct race *r;
	int idx;
};

static void on_race_new(struct loop *l, int fd, uint32_t events, void *ud)
{
	struct race *r = ud;

	if (r->turns == 0)
		r->new_calls++;
}

static void on_race(struct loop *l, int fd, uint32_t events, void *ud)
{
	struct race_end *e = ud;
	struct race *r = e->r;
	int other = r->fds[1 - e->idx];
	int p[2];

	r->calls[e->idx]++;
	(void)!read(fd, p, 1);
	loop_del_fd(l, other);
	if (!r->reuse)
		return;
	/* Same number, new pipe, nothing to read in it. */
	make_pipe(p);
	assert_int_equal(dup3(p[0], other, O_CLOEXEC), other);
	close(p[0]);
	r->keep_open = p[1];
	assert_int_equal(loop_add_fd(l, other, EPOLLIN, on_race_new, r), 0);
}

static void on_race_turn(struct loop *l, void *ud)
{
	struct race *r = ud;

	r->turns++;
	loop_quit(l);
}

static void run_race(bool reuse)
{
	struct loop *l = loop_new();
	struct race r = {.reuse = reuse, .keep_open = -1};
	struct race_end ends[2] = {{&r, 0}, {&r, 1}};
	struct loop_timer *safety;
	int a[2], b[2];

	assert_non_null(l);
	make_pipe(a);
	make_pipe(b);
	/* Both readable before the loop runs: one epoll_wait returns both. */
	assert_int_equal(write(a[1], "x", 1), 1);
	assert_int_equal(write(b[1], "x", 1), 1);
	r.fds[0] = a[0];
	r.fds[1] = b[0];
	assert_int_equal(loop_add_fd(l, a[0], EPOLLIN, on_race, &ends[0]), 0);
	assert_int_equal(loop_add_fd(l, b[0], EPOLLIN, on_race, &ends[1]), 0);
	loop_set_turn_hook(l, on_race_turn, &r);
	safety = loop_timer_add(l, 2000, on_quit_timer, NULL); /* if the hook never runs */
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(r.turns, 1);
	loop_timer_cancel(l, safety);
	assert_int_equal(r.calls[0] + r.calls[1], 1);
	assert_int_equal(r.new_calls, 0);
	assert_int_equal(loop_count_fds(l), reuse ? 2 : 1);
	loop_del_fd(l, a[0]);
	loop_del_fd(l, b[0]);
	assert_int_equal(loop_count_fds(l), 0);
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
	if (r.keep_open >= 0)
		close(r.keep_open);
	loop_free(l);
}

static void test_fd_removed_in_turn(void **state)
{
	(void)state;
	run_race(false);
}

static void test_fd_number_reused_in_turn(void **state)
{
	(void)state;
	run_race(true);
}

/* ---- timers ---- */

struct order {
	int seen[16];
	int n;
};

struct tick {
	struct order *o;
	int id;
};

static void on_tick(struct loop *l, void *ud)
{
	struct tick *t = ud;

	t->o->seen[t->o->n++] = t->id;
	if (t->o->n == 3)
		loop_quit(l);
}

static void test_timer_order_and_cancel(void **state)
{
	struct loop *l = loop_new();
	struct order o = {0};
	struct tick t30 = {&o, 30}, t10 = {&o, 10}, t20 = {&o, 20}, t15 = {&o, 15}, t5 = {&o, 5};
	struct loop_timer *c15, *c5;
	uint64_t start = loop_now_ms();

	(void)state;
	assert_non_null(l);
	assert_non_null(loop_timer_add(l, 30, on_tick, &t30));
	assert_non_null(loop_timer_add(l, 10, on_tick, &t10));
	c15 = loop_timer_add(l, 15, on_tick, &t15);
	assert_non_null(loop_timer_add(l, 20, on_tick, &t20));
	c5 = loop_timer_add(l, 5, on_tick, &t5);
	assert_int_equal(loop_count_timers(l), 5);
	loop_timer_cancel(l, c15);
	loop_timer_cancel(l, c5); /* the earliest */
	loop_timer_cancel(l, NULL);
	assert_int_equal(loop_count_timers(l), 3);
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(o.n, 3);
	assert_int_equal(o.seen[0], 10);
	assert_int_equal(o.seen[1], 20);
	assert_int_equal(o.seen[2], 30);
	assert_true(loop_now_ms() - start >= 30); /* never early */
	assert_int_equal(loop_count_timers(l), 0);
	loop_free(l);
}

/* A timer added from a timer callback, with 0 ms, fires too. */
static int chain_left;

static void on_chain(struct loop *l, void *ud)
{
	if (--chain_left == 0)
		loop_quit(l);
	else
		assert_non_null(loop_timer_add(l, 0, on_chain, NULL));
}

static void test_timer_from_timer(void **state)
{
	struct loop *l = loop_new();

	(void)state;
	assert_non_null(l);
	chain_left = 100;
	assert_non_null(loop_timer_add(l, 0, on_chain, NULL));
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(chain_left, 0);
	assert_int_equal(loop_count_timers(l), 0);
	loop_free(l);
}

/* Many timers with random deadlines and random cancels: the heap hands
 * them out in deadline order, cancelled ones never. */
struct heap_check {
	uint64_t last_deadline;
	int fired;
	int out_of_order;
};

struct htimer {
	struct heap_check *h;
	uint64_t deadline; /* as we computed it: the loop's may be 1 ms later */
	bool cancelled;
};

static void on_heap(struct loop *l, void *ud)
{
	struct htimer *t = ud;

	if (t->cancelled || t->deadline + 1 < t->h->last_deadline)
		t->h->out_of_order++;
	if (t->deadline > t->h->last_deadline)
		t->h->last_deadline = t->deadline;
	t->h->fired++;
}

static void test_timer_heap(void **state)
{
	struct loop *l = loop_new();
	struct heap_check h = {0};
	struct htimer *ts = calloc(500, sizeof(*ts));
	struct loop_timer **handles = calloc(500, sizeof(*handles));
	unsigned seed = 7;
	int cancelled = 0;

	(void)state;
	assert_non_null(l);
	assert_non_null(ts);
	assert_non_null(handles);
	for (int i = 0; i < 500; i++) {
		uint64_t ms = (uint64_t)(rand_r(&seed) % 60);

		ts[i] = (struct htimer){.h = &h, .deadline = loop_now_ms() + ms};
		handles[i] = loop_timer_add(l, ms, on_heap, &ts[i]);
		assert_non_null(handles[i]);
	}
	for (int i = 0; i < 500; i += 3) {
		loop_timer_cancel(l, handles[i]);
		ts[i].cancelled = true;
		cancelled++;
	}
	assert_int_equal(loop_count_timers(l), 500 - cancelled);
	loop_timer_add(l, 100, on_quit_timer, NULL);
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(h.fired, 500 - cancelled);
	assert_int_equal(h.out_of_order, 0);
	assert_int_equal(loop_count_timers(l), 0);
	free(handles);
	free(ts);
	loop_free(l);
}

/* ---- signals and the turn hook ---- */

static int got_signal;

static void on_signal(struct loop *l, int sig, void *ud)
{
	got_signal = sig;
	*(int *)ud += 1;
	loop_quit(l);
}

static void on_raise(struct loop *l, void *ud)
{
	raise(SIGUSR1);
}

static void test_signal(void **state)
{
	struct loop *l = loop_new();
	int count = 0;
	sigset_t blocked;

	(void)state;
	assert_non_null(l);
	assert_int_equal(loop_add_signal(l, 0, on_signal, &count), -EINVAL);
	assert_int_equal(loop_add_signal(l, SIGUSR1, on_signal, &count), 0);
	/* Blocked now, so a raise before the loop runs is not lost. */
	sigprocmask(SIG_BLOCK, NULL, &blocked);
	assert_true(sigismember(&blocked, SIGUSR1));
	raise(SIGUSR1);
	/* cppcheck-suppress unreachableCode ; blocked, SIGUSR1 waits: raise() returns */
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(got_signal, SIGUSR1);
	assert_int_equal(count, 1);
	/* And from inside the loop. */
	loop_timer_add(l, 1, on_raise, NULL);
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(count, 2);
	loop_free(l);
	/* loop_free gives the signal back. */
	sigprocmask(SIG_BLOCK, NULL, &blocked);
	assert_false(sigismember(&blocked, SIGUSR1));
}

static int turns;

static void on_turn(struct loop *l, void *ud)
{
	turns++;
}

static void on_read_two(struct loop *l, int fd, uint32_t events, void *ud)
{
	char c;

	(void)!read(fd, &c, 1);
	if (++*(int *)ud == 2)
		loop_quit(l);
}

static void test_turn_hook(void **state)
{
	struct loop *l = loop_new();
	int a[2], b[2], reads = 0;

	(void)state;
	assert_non_null(l);
	make_pipe(a);
	make_pipe(b);
	assert_int_equal(write(a[1], "x", 1), 1);
	assert_int_equal(write(b[1], "x", 1), 1);
	loop_add_fd(l, a[0], EPOLLIN, on_read_two, &reads);
	loop_add_fd(l, b[0], EPOLLIN, on_read_two, &reads);
	loop_set_turn_hook(l, on_turn, NULL);
	turns = 0;
	assert_int_equal(loop_run(l), 0);
	/* Both fds in one batch: one turn, one hook call. */
	assert_int_equal(reads, 2);
	assert_int_equal(turns, 1);
	loop_set_turn_hook(l, NULL, NULL);
	loop_timer_add(l, 0, on_quit_timer, NULL);
	assert_int_equal(loop_run(l), 0);
	assert_int_equal(turns, 1);
	loop_del_fd(l, a[0]);
	loop_del_fd(l, b[0]);
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
	loop_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fd_callback),
	    cmocka_unit_test(test_fd_removed_in_turn),
	    cmocka_unit_test(test_fd_number_reused_in_turn),
	    cmocka_unit_test(test_timer_order_and_cancel),
	    cmocka_unit_test(test_timer_from_timer),
	    cmocka_unit_test(test_timer_heap),
	    cmocka_unit_test(test_signal),
	    cmocka_unit_test(test_turn_hook),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
