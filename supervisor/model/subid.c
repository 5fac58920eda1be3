/* The host's subordinate id ranges (subid.h): read, and tenant ranges
 * checked against them. */
#include "model/subid.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/cleanup.h"
#include "basic/trusted.h"

/* shadow's files hold a line per user: a few MB on the largest hosts. */
#define SUBID_FILE_MAX (64u << 20)
#define ID_LIMIT       (UINT64_C(1) << 32)

/* A number as shadow's getulong takes it (strtoul, base 0), nothing else:
 * no sign, no blank, nothing after it. */
static int number(const char *s, const char *end, uint64_t *out)
{
	char buf[32], *e;
	size_t n = (size_t)(end - s);
	unsigned long long v;

	if (n == 0 || n >= sizeof(buf) || s[0] < '0' || s[0] > '9')
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	errno = 0;
	v = strtoull(buf, &e, 0);
	if (errno || *e || v > ID_LIMIT)
		return -1;
	*out = v;
	return 0;
}

/* "OWNER:START:COUNT"; 1 a range, 0 blank, -1 malformed. */
static int line_parse(const char *s, const char *end, struct subid_range *r)
{
	const char *c1 = memchr(s, ':', (size_t)(end - s));
	const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(end - c1 - 1)) : NULL;
	size_t owner = c1 ? (size_t)(c1 - s) : 0;

	if (s == end)
		return 0;
	if (!c2 || owner == 0 || memchr(c2 + 1, ':', (size_t)(end - c2 - 1)) ||
	    number(c1 + 1, c2, &r->start) < 0 || number(c2 + 1, end, &r->count) < 0)
		return -1;
	if (owner >= sizeof(r->owner))
		owner = sizeof(r->owner) - 1;
	/* Shown unquoted in messages ("FILE:LINE (OWNER: START+COUNT)"), so
	 * stricter than ward_ascii_clean(), which keeps the blank: printable
	 * ASCII without blanks, as shadow's user names and uids are, so the
	 * owner always reads as one word. */
	for (size_t i = 0; i < owner; i++) {
		if (s[i] > 0x20 && s[i] < 0x7f)
			r->owner[i] = s[i];
		else
			r->owner[i] = '?';
	}
	r->owner[owner] = '\0';
	return 1;
}

static int file_load(struct subids *out, const char *path, struct ward_err *err)
{
	struct ward_err e = {0};
	size_t len;
	unsigned line = 0;
	_cleanup_free_ char *text =
	    trusted_file_read(AT_FDCWD, path, path, false, SUBID_FILE_MAX, &len, &e);

	if (!text) {
		if (e.errnum == ENOENT)
			return 0; /* no file: nobody has a range */
		*err = e;
		return -1;
	}
	for (const char *p = text, *end = text + len; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;
		struct subid_range r = {.file = path};
		bool comment = *p == '#';
		int k;

		r.line = ++line;
		k = line_parse(p, eol, &r);

		p = nl ? nl + 1 : end;
		/* shadow knows no comments: a "#..." line that reads as a range
		 * is taken as one (owner "#alice"), any other is skipped. */
		if (k < 0 && comment)
			continue;
		if (k < 0)
			return ward_err_set(err, 0,
					    "%s:%u: not a subordinate id range: expected "
					    "NAME:START:COUNT",
					    path, line);
		if (k == 0)
			continue;
		if (r.start + r.count > ID_LIMIT)
			return ward_err_set(
			    err, 0, "%s:%u: range %" PRIu64 "+%" PRIu64 " goes past the last id",
			    path, line, r.start, r.count);
		if (out->n % 64 == 0) {
			struct subid_range *v = realloc(out->v, (out->n + 64) * sizeof(*v));
			if (!v)
				return ward_err_set(err, ENOMEM, "%s", path);
			out->v = v;
		}
		out->v[out->n++] = r;
	}
	return 0;
}

int subids_load(const char *subuid, const char *subgid, struct subids *out, struct ward_err *err)
{
	*out = (struct subids){0};
	if (!(out->files[0] = strdup(subuid)) || !(out->files[1] = strdup(subgid))) {
		subids_free(out);
		return ward_err_set(err, ENOMEM, "subordinate ids");
	}
	for (int i = 0; i < 2; i++)
		if (file_load(out, out->files[i], err) < 0) {
			subids_free(out);
			return -1;
		}
	return 0;
}

void subids_free(struct subids *s)
{
	if (!s)
		return;
	free(s->files[0]);
	free(s->files[1]);
	free(s->v);
	*s = (struct subids){0};
}

const struct subid_range *subids_overlap(const struct subids *s, uint64_t start, uint64_t count)
{
	for (size_t i = 0; s && i < s->n; i++) {
		const struct subid_range *r = &s->v[i];

		if (r->count && count && r->start < start + count && start < r->start + r->count)
			return r;
	}
	return NULL;
}

void subid_describe(const struct subid_range *r, char *buf, size_t len)
{
	(void)snprintf(buf, len, "%s:%u (%s: %" PRIu64 "+%" PRIu64 ")", r->file, r->line, r->owner,
		       r->start, r->count);
}

int subids_check(const struct subids *s, const char *what, uint64_t start, uint64_t count,
		 struct ward_err *err)
{
	const struct subid_range *r = subids_overlap(s, start, count);
	char where[512];

	if (!r)
		return 0;
	subid_describe(r, where, sizeof(where));
	return ward_err_set(err, 0,
			    "%s %" PRIu64 "+%" PRIu64 " overlaps %s: a host user can map those ids "
			    "into a user namespace of its own (newuidmap, newgidmap)",
			    what, start, count, where);
}
