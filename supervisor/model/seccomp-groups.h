/* systemd's syscall groups as data, and sets of syscall names built from
 * names and @groups: what seccomp.c compiles from. Internal to seccomp. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct seccomp_group {
	const char *name;           /* "@system-service" */
	const char *help;           /* systemd's one-line description */
	const char *const *members; /* syscall names and nested @groups, NULL-terminated */
};

/* The group called `name` ("@mount"), or NULL. */
const struct seccomp_group *seccomp_group_find(const char *name);

/* A set of syscall names. The strings are not owned: they point into the
 * static group tables or into the caller's policy, which must outlive the set. */
struct syscall_set {
	const char **v;
	size_t n, cap;
	bool sorted; /* v is sorted and without duplicates */
};

void syscall_set_free(struct syscall_set *s);
/* Adds one name. Returns 0, or -1 with errno ENOMEM. */
int syscall_set_add(struct syscall_set *s, const char *name);
/* Adds every syscall of the group, nested groups expanded. Returns 0, or -1
 * with errno ENOMEM (or ELOOP if groups nest absurdly deep). */
int syscall_set_add_group(struct syscall_set *s, const struct seccomp_group *g);
/* Sorts (strcmp order) and removes duplicates; call after the last add. */
void syscall_set_finish(struct syscall_set *s);
/* Binary search once finished, a linear scan before. */
bool syscall_set_contains(const struct syscall_set *s, const char *name);
