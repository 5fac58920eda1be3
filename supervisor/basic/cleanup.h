/* __attribute__((cleanup)) helpers so every early return releases what it took. */
#pragma once

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline void freep(void *p)
{
	free(*(void **)p);
}
static inline void closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}
static inline void fclosep(FILE **f)
{
	if (*f)
		(void)fclose(*f); /* for readers: a writer checks its own fclose */
}

static inline void closedirp(DIR **d)
{
	if (*d)
		(void)closedir(*d);
}

#define _cleanup_(f)       __attribute__((cleanup(f)))
#define _cleanup_free_     _cleanup_(freep)
#define _cleanup_close_    _cleanup_(closep)
#define _cleanup_fclose_   _cleanup_(fclosep)
#define _cleanup_closedir_ _cleanup_(closedirp)

/* Hands ownership out of a cleanup variable. */
#define TAKE_PTR(p)                                                                                \
	({                                                                                         \
		__typeof__(p) take_ptr_tmp_ = (p);                                                 \
		(p) = NULL;                                                                        \
		take_ptr_tmp_;                                                                     \
	})
/* A function, not a statement expression like TAKE_PTR: cppcheck does not
 * know that the cleanup handler reads fd, and took the `fd = -1` of a
 * statement expression for a dead store. */
static inline int take_fd(int *fd)
{
	int r = *fd;

	*fd = -1;
	return r;
}
#define TAKE_FD(fd) take_fd(&(fd))
