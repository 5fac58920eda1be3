/* A listening unix socket on the loop: the socket file made safely (a
 * stale socket replaced, anything else left alone and refused; born 0600
 * and opened up only once its owner and mode are final), and an accept
 * loop that hands each new connection to its owner, a bounded number per
 * turn, and pauses instead of spinning when accept fails for want of fds
 * or memory. Used by the control and the session sockets.
 *
 * Ownership: the listener owns its socket and its file; listener_free
 * closes the one and removes the other. Errors: -1/NULL with a ward_err. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "basic/error.h"
#include "basic/loop.h"

/* Called for each accepted connection: fd is non-blocking and
 * close-on-exec, and the callee's (it closes it when it does not keep it). */
typedef void (*listener_fn)(int fd, void *ud);

struct listener_opts {
	const char *name;   /* for messages: "control", "sessions" */
	mode_t mode;        /* of the socket file once ready: 0660, 0666 */
	gid_t gid;          /* its group; (gid_t)-1: the daemon's own, unchanged */
	int backlog;        /* listen(2)'s */
	int per_turn;       /* connections accepted per loop turn at most */
	bool no_passrights; /* refuse SCM_RIGHTS from clients (SO_PASSRIGHTS off) */
};

struct listener;

/* Creates the socket at path and watches it on the loop. */
struct listener *listener_new(struct loop *loop, const char *path, const struct listener_opts *opts,
			      listener_fn fn, void *ud, struct ward_err *err);
/* Stops accepting: closes the socket and removes its file. Idempotent. */
void listener_close(struct listener *li);
/* listener_close, and frees it. NULL is fine. */
void listener_free(struct listener *li);

/* For the pieces of the socket file's set-up, and tests: removes path if it
 * is a socket (a previous daemon's), refuses anything else. Returns 0, or -1
 * with err. */
int listener_remove_stale(const char *path, struct ward_err *err);
