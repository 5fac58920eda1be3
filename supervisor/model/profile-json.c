/* The loader's error reporting and its typed access to JSON values: each
 * accessor reports what it expected and found, at the value's position;
 * paths and arrays of strings. */
#include "model/profile.h"
#include "model/profile-internal.h"

#include "basic/jsonpos.h"
#include "basic/text.h"
#include "model/names.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ======================================================================
 * The loader's state and error reporting
 * ====================================================================== */

size_t pl_errors(const struct loader *L)
{
	return L->diag->n - L->first + (L->oom ? 1 : 0);
}

void pl_report(struct loader *L, const struct jsonpos_entry *at, const char *fmt, ...)
{
	/* Only merged built-in values have no position; they are valid by
	 * construction, so this names the profile as the place to look. */
	struct jsonpos_where w = {L->profile, 0, 0, 0};
	char *path = NULL;
	va_list ap;

	if (L->diag->n - L->first >= DIAG_MAX) {
		L->suppressed++;
		return;
	}
	if (at) {
		jsonpos_locate(at, &w);
		path = jsonpos_path(L->pos, at);
		if (!path)
			L->oom = true;
	}
	va_start(ap, fmt);
	if (pl_diag_addv(L->diag, w.file, w.line, w.col, path, fmt, ap) < 0)
		L->oom = true;
	va_end(ap);
	free(path);
}

/* User text in a message: quoted, escaped, cut short, so a profile cannot
 * write control sequences to an operator's terminal. UTF-8 is kept: names
 * in a profile are meant for people, and messages end up in JSON. */
const char *pl_quote(const char *s, char *buf)
{
	return text_quote_value(s, TEXT_QUOTE_JSON, buf, QUOTE_MAX);
}

void *pl_xcalloc(struct loader *L, size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);
	if (!p)
		L->oom = true;
	return p;
}

char *pl_xstrdup(struct loader *L, const char *s)
{
	char *p = strdup(s);
	if (!p)
		L->oom = true;
	return p;
}

/* ======================================================================
 * Typed access to JSON values; each reports what it expected and found
 * ====================================================================== */

bool pl_want(struct loader *L, const json_t *v, const struct jsonpos_entry *at, json_type t,
	     const char *expected)
{
	if (json_typeof(v) == t)
		return true;
	pl_report(L, at, "expected %s, got %s", expected, jsonpos_type_name(v));
	return false;
}

static bool in_list(const char *s, const char *const list[])
{
	for (; list && *list; list++)
		if (strcmp(s, *list) == 0)
			return true;
	return false;
}

/* An object with only `allowed` keys and every `required` one. */
bool pl_check_object(struct loader *L, json_t *v, const struct jsonpos_entry *at,
		     const char *const allowed[], const char *const required[])
{
	const char *k;
	json_t *m;

	if (!pl_want(L, v, at, JSON_OBJECT, "object"))
		return false;
	json_object_foreach(v, k, m) if (!in_list(k, allowed))
	    pl_report(L, AT_KEY(L, v, k), "unknown key");
	for (; required && *required; required++)
		if (!json_object_get(v, *required))
			pl_report(L, at, "missing required key \"%s\"", *required);
	return true;
}

const char *pl_get_string(struct loader *L, json_t *v, const struct jsonpos_entry *at)
{
	if (!pl_want(L, v, at, JSON_STRING, "string"))
		return NULL;
	const char *s = json_string_value(v);
	/* Loaded with JSON_ALLOW_NUL so a NUL gets a position and a path here
	 * instead of a bare syntax error; nothing past the loader sees one. */
	if (strlen(s) != json_string_length(v)) {
		pl_report(L, at, "must not contain NUL characters");
		return NULL;
	}
	return s;
}

char *pl_dup_string(struct loader *L, json_t *v, const struct jsonpos_entry *at)
{
	const char *s = pl_get_string(L, v, at);
	return s ? pl_xstrdup(L, s) : NULL;
}

bool pl_get_uint(struct loader *L, json_t *v, const struct jsonpos_entry *at, uint64_t min,
		 uint64_t max, uint64_t *out)
{
	if (!pl_want(L, v, at, JSON_INTEGER, "integer"))
		return false;
	json_int_t i = json_integer_value(v);
	if (i >= 0 && (uint64_t)i >= min && (uint64_t)i <= max) {
		*out = (uint64_t)i;
		return true;
	}
	if (max == NO_MAX)
		pl_report(L, at, "must be at least %" PRIu64 ", got %" JSON_INTEGER_FORMAT, min, i);
	else
		pl_report(L, at,
			  "must be between %" PRIu64 " and %" PRIu64 ", got %" JSON_INTEGER_FORMAT,
			  min, max, i);
	return false;
}

bool pl_get_u32(struct loader *L, json_t *v, const struct jsonpos_entry *at, uint32_t min,
		uint32_t max, uint32_t *out)
{
	uint64_t x;
	if (!pl_get_uint(L, v, at, min, max, &x))
		return false;
	*out = (uint32_t)x;
	return true;
}

bool pl_get_port(struct loader *L, json_t *v, const struct jsonpos_entry *at, uint16_t *out)
{
	uint64_t x;
	if (!pl_get_uint(L, v, at, 1, 65535, &x))
		return false;
	*out = (uint16_t)x;
	return true;
}

bool pl_get_bool(struct loader *L, json_t *v, const struct jsonpos_entry *at, bool *out)
{
	if (!json_is_boolean(v)) {
		pl_report(L, at, "expected boolean, got %s", jsonpos_type_name(v));
		return false;
	}
	*out = json_is_true(v);
	return true;
}

/* An integer of bytes, or "256M": binary multiples. */
bool pl_get_size(struct loader *L, json_t *v, const struct jsonpos_entry *at, uint64_t *out)
{
	if (json_is_integer(v))
		return pl_get_uint(L, v, at, 0, NO_MAX, out);
	if (!json_is_string(v)) {
		pl_report(L, at, "expected integer or string, got %s", jsonpos_type_name(v));
		return false;
	}
	const char *s = pl_get_string(L, v, at);
	if (!s)
		return false;
	if (ward_parse_size(s, out) == 0)
		return true;
	if (errno == ERANGE)
		pl_report(L, at, "size %s is too large", Q(s));
	else
		pl_report(L, at, "invalid size %s: use bytes or a number with K, M, G or T", Q(s));
	return false;
}

/* One of `names`; returns its index or -1. */
int pl_get_enum(struct loader *L, json_t *v, const struct jsonpos_entry *at,
		const char *const names[])
{
	const char *s = pl_get_string(L, v, at);
	char list[128];
	size_t o = 0;

	if (!s)
		return -1;
	for (int i = 0; names[i]; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	/* "errno", "kill" or "log" */
	list[0] = '\0';
	for (int i = 0; names[i]; i++) {
		const char *sep = i == 0 ? "" : names[i + 1] ? ", " : " or ";
		int n = snprintf(list + o, sizeof(list) - o, "%s\"%s\"", sep, names[i]);
		if (n < 0 || (size_t)n >= sizeof(list) - o)
			break;
		o += (size_t)n;
	}
	pl_report(L, at, "must be %s, got %s", list, Q(s));
	return -1;
}

char *pl_get_name(struct loader *L, json_t *v, const struct jsonpos_entry *at)
{
	const char *s = pl_get_string(L, v, at);
	if (!s)
		return NULL;
	if (!ward_name_valid(s)) {
		pl_report(L, at, "invalid name %s: must match " NAME_RULE, Q(s));
		return NULL;
	}
	return pl_xstrdup(L, s);
}

/* ======================================================================
 * Paths
 * ====================================================================== */

static bool path_under(const char *p, const char *dir)
{
	size_t n = strlen(dir);
	return strncmp(p, dir, n) == 0 && (p[n] == '\0' || p[n] == '/');
}

static const char *path_problem(const char *p, enum path_use use)
{
	if (p[0] != '/')
		return "must be an absolute path";
	if (strcmp(p, "/") == 0)
		return use == PATH_SOURCE ? NULL : "must not be \"/\"";
	/* No "." or ".." or empty components: the mount code resolves paths
	 * component by component without following anything upwards. */
	for (const char *c = p + 1; c[-1]; c += strcspn(c, "/") + 1) {
		size_t n = strcspn(c, "/");
		if (n == 0)
			return "must not contain \"//\" or end with \"/\"";
		if (n == 1 && c[0] == '.')
			return "must not contain \".\" components";
		if (n == 2 && c[0] == '.' && c[1] == '.')
			return "must not contain \"..\" components";
	}
	if (use == PATH_TARGET && (path_under(p, "/proc") || path_under(p, "/dev")))
		return "must not be under /proc or /dev: ward provides them";
	return NULL;
}

bool pl_path_ok(struct loader *L, const char *p, const struct jsonpos_entry *at, enum path_use use)
{
	const char *why = path_problem(p, use);
	if (!why && strlen(p) >= PATH_MAX)
		pl_report(L, at, "must not be longer than %d bytes", PATH_MAX - 1);
	else if (why)
		pl_report(L, at, "%s", why);
	return !why && strlen(p) < PATH_MAX;
}

char *pl_get_path(struct loader *L, json_t *v, const struct jsonpos_entry *at, enum path_use use)
{
	const char *s = pl_get_string(L, v, at);
	return s && pl_path_ok(L, s, at, use) ? pl_xstrdup(L, s) : NULL;
}

/* ======================================================================
 * Arrays
 * ====================================================================== */

/* Checks that v is an array (non-empty if asked) and allocates room for its
 * *n items plus a NULL. */
bool pl_array_begin(struct loader *L, json_t *v, const struct jsonpos_entry *at, bool nonempty,
		    size_t item_size, void **out, size_t *n)
{
	if (!pl_want(L, v, at, JSON_ARRAY, "array"))
		return false;
	*n = json_array_size(v);
	if (nonempty && *n == 0) {
		pl_report(L, at, "must not be empty");
		return false;
	}
	*out = pl_xcalloc(L, *n + 1, item_size);
	return *out != NULL;
}

/* An array of strings, each checked (and copied) by fn; NULL-terminated. */
void pl_strv_read(struct loader *L, json_t *v, const struct jsonpos_entry *at, bool nonempty,
		  item_fn fn, char ***out, size_t *n_out)
{
	char **items = NULL;
	size_t n;
	if (!pl_array_begin(L, v, at, nonempty, sizeof(char *), (void **)&items, &n))
		return;
	*out = items;
	for (size_t i = 0; i < n; i++) {
		char *s = fn(L, json_array_get(v, i), AT_IDX(L, v, i));
		if (s)
			items[(*n_out)++] = s;
	}
}

char *pl_item_mask(struct loader *L, json_t *v, const struct jsonpos_entry *at)
{
	return pl_get_path(L, v, at, PATH_MASK);
}

char *pl_item_syscall(struct loader *L, json_t *v, const struct jsonpos_entry *at)
{
	const char *s = pl_get_string(L, v, at);
	if (!s)
		return NULL;
	if (s[0] == '@' ? !seccomp_group_known(s) : !seccomp_syscall_known(s)) {
		pl_report(L, at, "unknown %s %s", s[0] == '@' ? "syscall group" : "syscall", Q(s));
		return NULL;
	}
	return pl_xstrdup(L, s);
}

char *pl_item_abi(struct loader *L, json_t *v, const struct jsonpos_entry *at)
{
	static const char *const abis[] = {"x86", "x32", NULL};
	int i = pl_get_enum(L, v, at, abis);
	return i < 0 ? NULL : pl_xstrdup(L, abis[i]);
}

char *pl_item_group(struct loader *L, json_t *v, const struct jsonpos_entry *at)
{
	const char *s = pl_get_string(L, v, at);
	if (s && !pl_group_name_valid(s)) {
		pl_report(L, at, "invalid group name %s: must match " GROUP_RULE, Q(s));
		return NULL;
	}
	return s ? pl_xstrdup(L, s) : NULL;
}

/* argv: exec[0] is an absolute path; NULL-terminated. */
void pl_exec_read(struct loader *L, json_t *v, const struct jsonpos_entry *at, char ***out,
		  size_t *n_out)
{
	char **argv = NULL;
	size_t n;

	if (!pl_array_begin(L, v, at, true, sizeof(char *), (void **)&argv, &n))
		return;
	*out = argv;
	for (size_t i = 0; i < n; i++) {
		json_t *item = json_array_get(v, i);
		const struct jsonpos_entry *iat = AT_IDX(L, v, i);
		char *s =
		    i == 0 ? pl_get_path(L, item, iat, PATH_SOURCE) : pl_dup_string(L, item, iat);
		if (s)
			argv[(*n_out)++] = s;
	}
}
