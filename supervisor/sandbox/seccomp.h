/* Seccomp filters: systemd's syscall groups, compiling a policy to BPF with
 * libseccomp (cached), and loading it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "basic/error.h"
#include "model/names.h"
#include "model/profile.h"

/* A compiled filter, ready to load in a child without libseccomp. */
struct seccomp_program {
	void *insns; /* struct sock_filter[] */
	size_t n_insns;
	unsigned flags; /* SECCOMP_FILTER_FLAG_* to pass at load (LOG) */
	bool cached;    /* read from the cache rather than compiled */
};

/* Compiles the policy. When cache_dir is non-NULL, a program compiled before
 * for the same policy is read from there instead (and a new one stored).
 * cache_dir is created (0700) if missing; a cache directory or entry that is
 * a symlink, not owned by the euid, or writable by group or others is not
 * used, and a damaged entry is replaced: the cache never causes an error.
 * Returns 0 or -1 with err set. */
int seccomp_compile(const struct ward_seccomp *policy, const char *cache_dir,
		    struct seccomp_program *out, struct ward_err *err);
void seccomp_program_free(struct seccomp_program *p);
/* For _cleanup_(seccomp_program_freep) struct seccomp_program p = {0}. */
static inline void seccomp_program_freep(struct seccomp_program *p)
{
	seccomp_program_free(p);
}

/* Installs the filter in the calling thread (no_new_privs must be set).
 * Async-signal-safe: used in the forked child right before execve. Returns 0
 * or -errno. */
int seccomp_program_load(const struct seccomp_program *p);
