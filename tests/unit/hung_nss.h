/* For the unit tests of the daemon's sockets: a name service that never
 * answers (a hung sssd), as a userdb resolver, and a one-shot timer that
 * shows whether the loop kept turning meanwhile. */
#pragma once

#include <errno.h>
#include <stdint.h>
#include <sys/types.h>
#include <unistd.h>

#include "basic/loop.h"

/* Runs in the userdb helper. */
static inline int hung_resolve(uid_t uid, char *name, size_t size, gid_t *groups, size_t *n,
			       char *names, size_t *names_len)
{
	(void)uid, (void)name, (void)size, (void)groups, (void)n, (void)names, (void)names_len;
	sleep(60);
	return EIO;
}

/* fired: ms after start when the timer went off (0: not yet). */
struct tick {
	uint64_t start, fired;
};

static inline void on_tick_once(struct loop *l, void *ud)
{
	struct tick *t = ud;

	(void)l;
	t->fired = loop_now_ms() - t->start;
}
