/* A small epoll reactor: fd callbacks, timers (one timerfd, a min-heap),
 * signals through signalfd. One thread; callbacks must never block. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

struct loop;
struct loop_timer;

typedef void (*loop_fd_fn)(struct loop *l, int fd, uint32_t events, void *ud);
typedef void (*loop_timer_fn)(struct loop *l, void *ud);
typedef void (*loop_signal_fn)(struct loop *l, int sig, void *ud);

struct loop *loop_new(void);
void loop_free(struct loop *l);

/* Watches fd for events (EPOLLIN ...). One registration per fd. */
int loop_add_fd(struct loop *l, int fd, uint32_t events, loop_fd_fn fn, void *ud);
int loop_mod_fd(struct loop *l, int fd, uint32_t events);
/* Forgets fd (does not close it). Safe from inside any callback, also for
 * an fd whose events are pending in the current turn. */
void loop_del_fd(struct loop *l, int fd);

/* Calls fn once, ms milliseconds from now. The handle stays valid until it
 * fires or is cancelled; cancelling inside its own callback is not needed. */
struct loop_timer *loop_timer_add(struct loop *l, uint64_t ms, loop_timer_fn fn, void *ud);
void loop_timer_cancel(struct loop *l, struct loop_timer *t);

/* Blocks sig and delivers it through the loop's signalfd. */
int loop_add_signal(struct loop *l, int sig, loop_signal_fn fn, void *ud);

/* Called once after every batch of events (e.g. to fsync the audit log
 * once per turn). One hook; NULL removes it. */
typedef void (*loop_turn_fn)(struct loop *l, void *ud);
void loop_set_turn_hook(struct loop *l, loop_turn_fn fn, void *ud);

/* CLOCK_MONOTONIC in milliseconds. */
uint64_t loop_now_ms(void);

/* Runs until loop_quit. Returns 0, or -1 if epoll itself failed. */
int loop_run(struct loop *l);
void loop_quit(struct loop *l);
/* Number of callbacks registered (fds, timers): for leak checks in tests. */
size_t loop_count_fds(const struct loop *l);
size_t loop_count_timers(const struct loop *l);
