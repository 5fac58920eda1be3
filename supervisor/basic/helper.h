/* Helper processes of the daemon: children that do one kind of work the
 * loop must not (nftables through libnftables, name service lookups), and
 * talk to it over one socket. */
#pragma once

#include <sys/types.h>

/* The child's side: the socket is fd 3. Ends the helper with _exit (if it
 * returns, the helper exits 1). */
typedef void (*helper_main_fn)(void *arg);

/* Forks a helper named name (for ps, and what starts its log lines: a
 * literal) with a socketpair of type (SOCK_STREAM, SOCK_SEQPACKET) between
 * it and us. In the child, run(arg) runs with the
 * socket on fd 3 and nothing else of the daemon's open, no signal blocked,
 * and dies with the daemon. Returns its pid with our end (close-on-exec)
 * in *sock, or -1 with errno. */
pid_t helper_fork(int type, const char *name, helper_main_fn run, void *arg, int *sock);
