/* The host's subordinate id ranges: /etc/subuid and /etc/subgid, which
 * shadow's setuid newuidmap and newgidmap honour. A host user may map each
 * range it is given into a user namespace of its own, and there be any uid
 * (or gid) of it: one that is also a tenant's would see the tenant's
 * processes, signal them and own its files. A tenant's range, and the pool
 * onboarding takes ranges from, must therefore meet none of them. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "basic/error.h"

struct subid_range {
	const char *file; /* the path it was read from (the subids' own copy) */
	unsigned line;    /* 1-based */
	char owner[64];   /* the line's first field (a user name or uid), cut */
	uint64_t start;
	uint64_t count;
};

struct subids {
	char *files[2]; /* subuid, subgid */
	struct subid_range *v;
	size_t n;
};

/* Reads both files ("NAME:START:COUNT" a line; numbers as shadow takes
 * them: decimal, 0x hex or 0 octal). A missing file holds no range. Returns
 * 0, or -1 with err naming FILE:LINE for a line that is not a range (the
 * ranges cannot be known: fail closed) or the file that cannot be read.
 * On failure *out is empty. */
int subids_load(const char *subuid, const char *subgid, struct subids *out, struct ward_err *err);
void subids_free(struct subids *s);

/* The first range of either file that shares an id with [start, start +
 * count), or NULL. */
const struct subid_range *subids_overlap(const struct subids *s, uint64_t start, uint64_t count);

/* "/etc/subuid:3 (alice: 100000+65536)". */
void subid_describe(const struct subid_range *r, char *buf, size_t len);

/* Whether [start, start + count) is clear of every range: 0, or -1 with err
 * "WHAT START+COUNT overlaps /etc/subuid:3 (alice: 100000+65536): a host
 * user can map those ids into a user namespace of its own (newuidmap)". */
int subids_check(const struct subids *s, const char *what, uint64_t start, uint64_t count,
		 struct ward_err *err);
