/* The profile loader: parses a tenant profile and its policy fragments, merges
 * them over the built-in defaults, checks every field, and returns a complete
 * struct ward_tenant, or every error with file, line:column and JSON path.
 * The only file that touches jansson objects of a profile. */
#include "model/profile.h"

#include "build-config.h"
#include "basic/cleanup.h"
#include "basic/jsonpos.h"
#include "model/names.h"
#include "basic/trusted.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NO_MAX         UINT64_MAX
#define UID_MIN_TENANT 65536u      /* below: host users and system accounts */
#define UID_MAX_TENANT 4294967294u /* (uid_t)-1 is "no uid" */
#define NAME_RULE      "[a-z][a-z0-9-]{0,23}"
#define GROUP_RULE     "[a-z_][a-z0-9_-]{0,31}"
#define ENV_RULE       "[A-Za-z_][A-Za-z0-9_]*"

/* Fail closed: what a process gets before any fragment says otherwise. The
 * schema's descriptions document the same values. */
static const char policy_defaults[] =
    "{\"filesystem\": {\"ro\": [], \"rw\": [], \"tmpfs\": {}, \"hide\": [],"
    "  \"proc_subset\": \"all\", \"noexec\": false},"
    " \"seccomp\": {\"default\": \"errno\", \"allow\": [\"@system-service\"],"
    "  \"deny\": [\"@clock\", \"@cpu-emulation\", \"@debug\", \"@module\", \"@mount\","
    "   \"@obsolete\", \"@privileged\", \"@raw-io\", \"@reboot\", \"@swap\"],"
    "  \"log_denied\": false, \"abis\": [], \"restrict_namespaces\": true,"
    "  \"address_families\": [\"unix\", \"inet\", \"inet6\", \"netlink\"]},"
    " \"capabilities\": {\"keep\": []},"
    " \"limits\": {\"nofile\": 1024, \"core\": 0},"
    " \"restart\": {\"on\": \"failure\", \"delay_ms\": 100, \"max_delay_ms\": 30000,"
    "  \"burst\": 5, \"interval_s\": 60},"
    " \"stop_timeout_s\": 10,"
    " \"env\": {\"PATH\": \"/usr/local/bin:/usr/bin:/bin\"},"
    " \"user_namespace\": true}";

/* ======================================================================
 * Diagnostics
 * ====================================================================== */

void diag_free(struct ward_diag *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++) {
		free(d->v[i].file);
		free(d->v[i].path);
		free(d->v[i].message);
	}
	free(d->v);
	d->v = NULL;
	d->n = d->cap = 0;
}

static int diag_addv(struct ward_diag *d, const char *file, unsigned line, unsigned col,
		     const char *path, const char *fmt, va_list ap)
    __attribute__((format(printf, 6, 0)));

static int diag_addv(struct ward_diag *d, const char *file, unsigned line, unsigned col,
		     const char *path, const char *fmt, va_list ap)
{
	struct ward_diag_entry e = {.line = line, .col = col};

	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 8;
		struct ward_diag_entry *v = reallocarray(d->v, cap, sizeof(*v));
		if (!v)
			return -1;
		d->v = v;
		d->cap = cap;
	}
	if (vasprintf(&e.message, fmt, ap) < 0)
		return -1;
	e.file = strdup(file ? file : "");
	e.path = strdup(path ? path : "");
	if (!e.file || !e.path) {
		free(e.file);
		free(e.path);
		free(e.message);
		return -1;
	}
	d->v[d->n++] = e;
	return 0;
}

int diag_add(struct ward_diag *d, const char *file, unsigned line, unsigned col, const char *path,
	     const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = diag_addv(d, file, line, col, path, fmt, ap);
	va_end(ap);
	return r;
}

void diag_print(const struct ward_diag *d, FILE *out)
{
	for (size_t i = 0; i < d->n; i++) {
		const struct ward_diag_entry *e = &d->v[i];
		fputs(e->file, out);
		if (e->line)
			fprintf(out, ":%u:%u", e->line, e->col);
		fputs(": ", out);
		/* The document itself has no path: "file:1:1: message". */
		if (e->path[0])
			fprintf(out, "%s: ", e->path);
		fprintf(out, "%s\n", e->message);
	}
}

/* ======================================================================
 * Small public helpers
 * ====================================================================== */

const char *seccomp_default_to_string(enum seccomp_default d)
{
	switch (d) {
	case SECCOMP_DEFAULT_ERRNO:
		return "errno";
	case SECCOMP_DEFAULT_KILL:
		return "kill";
	case SECCOMP_DEFAULT_LOG:
		return "log";
	}
	return NULL;
}

const char *restart_on_to_string(enum restart_on r)
{
	switch (r) {
	case RESTART_ALWAYS:
		return "always";
	case RESTART_FAILURE:
		return "failure";
	case RESTART_NEVER:
		return "never";
	}
	return NULL;
}

static bool is_lower(char c)
{
	return c >= 'a' && c <= 'z';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

bool ward_name_valid(const char *s)
{
	size_t n = 0;

	if (!s || !is_lower(s[0]))
		return false;
	for (; s[n]; n++)
		if (!is_lower(s[n]) && !is_digit(s[n]) && s[n] != '-')
			return false;
	return n <= WARD_NAME_MAX;
}

static bool group_name_valid(const char *s)
{
	size_t n = 0;

	if (!is_lower(s[0]) && s[0] != '_')
		return false;
	for (; s[n]; n++)
		if (!is_lower(s[n]) && !is_digit(s[n]) && s[n] != '_' && s[n] != '-')
			return false;
	return n <= 32;
}

static bool env_name_valid(const char *s)
{
	if (!(is_lower(s[0]) || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_'))
		return false;
	for (; *s; s++)
		if (!(is_lower(*s) || (*s >= 'A' && *s <= 'Z') || is_digit(*s) || *s == '_'))
			return false;
	return true;
}

/* A decimal number at s: digits only (no sign, no blanks, no leading zero
 * but "0"), at most max. Sets *end past it. */
static int parse_dec(const char *s, const char **end, uint64_t max, uint64_t *out)
{
	char *e;
	unsigned long long v;

	if (!is_digit(s[0]) || (s[0] == '0' && is_digit(s[1])))
		return -1;
	errno = 0;
	v = strtoull(s, &e, 10);
	if (errno == ERANGE || v > max)
		return -1;
	*end = e;
	*out = v;
	return 0;
}

int ward_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	/* strtoull would take blanks and signs; sizes are digits then a unit. */
	if (!s || !is_digit(s[0])) {
		errno = EINVAL;
		return -1;
	}
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -1;
	switch (*end) {
	case 'K':
		shift = 10;
		break;
	case 'M':
		shift = 20;
		break;
	case 'G':
		shift = 30;
		break;
	case 'T':
		shift = 40;
		break;
	case '\0':
		*out = v;
		return 0;
	default:
		errno = EINVAL;
		return -1;
	}
	if (end[1] != '\0') {
		errno = EINVAL;
		return -1;
	}
	if (v > (UINT64_MAX >> shift)) {
		errno = ERANGE;
		return -1;
	}
	*out = (uint64_t)v << shift;
	return 0;
}

enum cidr_result { CIDR_OK, CIDR_SYNTAX, CIDR_HOST_BITS };

static enum cidr_result cidr_parse(const char *s, struct ward_cidr *out)
{
	uint32_t addr = 0;
	uint64_t v;
	const char *p = s;

	for (int i = 0; i < 4; i++) {
		if (parse_dec(p, &p, 255, &v) < 0 || *p != (i < 3 ? '.' : '/'))
			return CIDR_SYNTAX;
		addr = addr << 8 | (uint32_t)v;
		p++;
	}
	if (parse_dec(p, &p, 32, &v) < 0 || *p)
		return CIDR_SYNTAX;
	uint32_t mask = v ? ~(uint32_t)0 << (32 - v) : 0;
	if (addr & ~mask)
		return CIDR_HOST_BITS;
	out->addr = addr;
	out->prefix = (uint8_t)v;
	return CIDR_OK;
}

int ward_parse_cidr(const char *s, struct ward_cidr *out)
{
	if (!s || cidr_parse(s, out) != CIDR_OK) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/* ======================================================================
 * Freeing the result
 * ====================================================================== */

static void strv_free(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void binds_free(struct ward_bind *b, size_t n)
{
	for (size_t i = 0; b && i < n; i++) {
		free(b[i].src);
		free(b[i].dst);
	}
	free(b);
}

static void policy_free(struct ward_policy *p)
{
	struct ward_filesystem *fs = &p->filesystem;

	binds_free(fs->ro, fs->n_ro);
	binds_free(fs->rw, fs->n_rw);
	free(fs->data);
	for (size_t i = 0; fs->tmpfs && i < fs->n_tmpfs; i++)
		free(fs->tmpfs[i].path);
	free(fs->tmpfs);
	strv_free(fs->hide, fs->n_hide);
	strv_free(p->seccomp.allow, p->seccomp.n_allow);
	strv_free(p->seccomp.deny, p->seccomp.n_deny);
	strv_free(p->seccomp.abis, p->seccomp.n_abis);
	strv_free(p->env, p->n_env);
	memset(p, 0, sizeof(*p));
}

static void service_free(struct ward_service *s)
{
	free(s->name);
	strv_free(s->exec, s->n_exec);
	strv_free(s->after, s->n_after);
	for (size_t i = 0; s->connect && i < s->n_connect; i++)
		free(s->connect[i].service);
	free(s->connect);
	policy_free(&s->policy);
	free(s->digest);
	free(s->after_digest);
	free(s->connect_digest);
}

void tenant_free(struct ward_tenant *t)
{
	if (!t)
		return;
	free(t->name);
	free(t->display_name);
	free(t->source);
	for (size_t i = 0; t->network.egress && i < t->network.n_egress; i++) {
		free(t->network.egress[i].tcp);
		free(t->network.egress[i].udp);
		strv_free(t->network.egress[i].from, t->network.egress[i].n_from);
	}
	free(t->network.egress);
	for (size_t i = 0; t->network.ingress && i < t->network.n_ingress; i++)
		free(t->network.ingress[i].service);
	free(t->network.ingress);
	for (size_t i = 0; t->services && i < t->n_services; i++)
		service_free(&t->services[i]);
	free(t->services);
	strv_free(t->sessions.groups, t->sessions.n_groups);
	free(t->sessions.service);
	strv_free(t->sessions.exec, t->sessions.n_exec);
	policy_free(&t->sessions.policy);
	for (size_t i = 0; i < WARD_PART_N; i++)
		free(t->part_digest[i]);
	free(t);
}

const char *ward_part_name(enum ward_part p)
{
	static const char *const names[WARD_PART_N] = {
	    [WARD_PART_DISPLAY_NAME] = "display_name",
	    [WARD_PART_LIMITS] = "limits",
	    [WARD_PART_NETWORK] = "network",
	    [WARD_PART_SESSIONS] = "sessions",
	};
	return p < WARD_PART_N ? names[p] : "?";
}

const struct ward_service *tenant_find_service(const struct ward_tenant *t, const char *name)
{
	for (size_t i = 0; t && name && i < t->n_services; i++)
		if (strcmp(t->services[i].name, name) == 0)
			return &t->services[i];
	return NULL;
}

/* ======================================================================
 * The loader's state and error reporting
 * ====================================================================== */

/* Why a file could not be read: a phrase, and errno when there is one. */
struct read_error {
	char what[256];
	int errnum;
};

/* "cannot open: No such file or directory" as the arguments of "%s%s%s". */
#define READ_ERROR_ARGS(e) (e).what, (e).errnum ? ": " : "", (e).errnum ? strerror((e).errnum) : ""

_Static_assert(WARD_PROFILE_MAX_BYTES == 4194304, "update the message in file_read()");

struct doc { /* one parsed JSON file */
	struct doc *next;
	char *file;
	json_t *root;
	const struct jsonpos_entry *at; /* the root value */
};

enum frag_state { FRAG_OK, FRAG_BROKEN, FRAG_MISSING, FRAG_UNREADABLE };

struct frag { /* a named fragment: loaded and checked once per profile */
	struct frag *next;
	char *name;
	enum frag_state state;
	struct doc *doc;
	char *path; /* FRAG_UNREADABLE: the file that could not be read, and why */
	struct read_error err;
};

struct loader {
	struct ward_diag *diag;
	size_t first; /* diag entries that were there before this load */
	const char *profile;
	const struct profile_options *opts;
	char *profile_dir;
	struct jsonpos *pos;
	struct doc *docs;
	struct frag *frags;
	json_t *defaults;
	json_t *keep; /* every merged object, alive until the end: positions are keyed by address */
	json_t *services;  /* the profile's services object, for references */
	unsigned seq;      /* merge steps, so a later override can be told from an earlier one */
	size_t suppressed; /* errors past DIAG_MAX, counted, not kept */
	bool oom;
};

/* Enough to fix a profile by; more would only let a hostile file turn a few
 * KiB into gigabytes of messages (a dependency web reports every cycle). */
#define DIAG_MAX 100

#define AT_KEY(L, obj, k) jsonpos_key((L)->pos, (obj), (k))
#define AT_IDX(L, arr, i) jsonpos_index((L)->pos, (arr), (i))

static size_t errors(const struct loader *L)
{
	return L->diag->n - L->first + (L->oom ? 1 : 0);
}

static void report(struct loader *L, const struct jsonpos_entry *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void report(struct loader *L, const struct jsonpos_entry *at, const char *fmt, ...)
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
	if (diag_addv(L->diag, w.file, w.line, w.col, path, fmt, ap) < 0)
		L->oom = true;
	va_end(ap);
	free(path);
}

/* User text in a message: quoted, escaped, cut short, so a profile cannot
 * write control sequences to an operator's terminal. */
#define QUOTE_MAX 96
static const char *quote(const char *s, char *buf)
{
	size_t o = 0;

	buf[o++] = '"';
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p & 0xC0) != 0x80 && o > QUOTE_MAX - 16) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (*p == '"' || *p == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)*p;
		} else if (*p < 0x20 || *p == 0x7f) {
			static const char hex[] = "0123456789abcdef";
			memcpy(buf + o, "\\u00", 4);
			buf[o + 4] = hex[*p >> 4];
			buf[o + 5] = hex[*p & 15];
			o += 6;
		} else {
			buf[o++] = (char)*p;
		}
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}
#define Q(s) quote((s), (char[QUOTE_MAX]){0})

static void *xcalloc(struct loader *L, size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);
	if (!p)
		L->oom = true;
	return p;
}

static char *xstrdup(struct loader *L, const char *s)
{
	char *p = strdup(s);
	if (!p)
		L->oom = true;
	return p;
}

/* ======================================================================
 * Typed access to JSON values; each reports what it expected and found
 * ====================================================================== */

static bool want(struct loader *L, const json_t *v, const struct jsonpos_entry *at, json_type t,
		 const char *expected)
{
	if (json_typeof(v) == t)
		return true;
	report(L, at, "expected %s, got %s", expected, jsonpos_type_name(v));
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
static bool check_object(struct loader *L, json_t *v, const struct jsonpos_entry *at,
			 const char *const allowed[], const char *const required[])
{
	const char *k;
	json_t *m;

	if (!want(L, v, at, JSON_OBJECT, "object"))
		return false;
	json_object_foreach(v, k, m) if (!in_list(k, allowed))
	    report(L, AT_KEY(L, v, k), "unknown key");
	for (; required && *required; required++)
		if (!json_object_get(v, *required))
			report(L, at, "missing required key \"%s\"", *required);
	return true;
}

static const char *get_string(struct loader *L, json_t *v, const struct jsonpos_entry *at)
{
	if (!want(L, v, at, JSON_STRING, "string"))
		return NULL;
	const char *s = json_string_value(v);
	/* Loaded with JSON_ALLOW_NUL so a NUL gets a position and a path here
	 * instead of a bare syntax error; nothing past the loader sees one. */
	if (strlen(s) != json_string_length(v)) {
		report(L, at, "must not contain NUL characters");
		return NULL;
	}
	return s;
}

static char *dup_string(struct loader *L, json_t *v, const struct jsonpos_entry *at)
{
	const char *s = get_string(L, v, at);
	return s ? xstrdup(L, s) : NULL;
}

static bool get_uint(struct loader *L, json_t *v, const struct jsonpos_entry *at, uint64_t min,
		     uint64_t max, uint64_t *out)
{
	if (!want(L, v, at, JSON_INTEGER, "integer"))
		return false;
	json_int_t i = json_integer_value(v);
	if (i >= 0 && (uint64_t)i >= min && (uint64_t)i <= max) {
		*out = (uint64_t)i;
		return true;
	}
	if (max == NO_MAX)
		report(L, at, "must be at least %" PRIu64 ", got %" JSON_INTEGER_FORMAT, min, i);
	else
		report(L, at,
		       "must be between %" PRIu64 " and %" PRIu64 ", got %" JSON_INTEGER_FORMAT,
		       min, max, i);
	return false;
}

static bool get_u32(struct loader *L, json_t *v, const struct jsonpos_entry *at, uint32_t min,
		    uint32_t max, uint32_t *out)
{
	uint64_t x;
	if (!get_uint(L, v, at, min, max, &x))
		return false;
	*out = (uint32_t)x;
	return true;
}

static bool get_port(struct loader *L, json_t *v, const struct jsonpos_entry *at, uint16_t *out)
{
	uint64_t x;
	if (!get_uint(L, v, at, 1, 65535, &x))
		return false;
	*out = (uint16_t)x;
	return true;
}

static bool get_bool(struct loader *L, json_t *v, const struct jsonpos_entry *at, bool *out)
{
	if (!json_is_boolean(v)) {
		report(L, at, "expected boolean, got %s", jsonpos_type_name(v));
		return false;
	}
	*out = json_is_true(v);
	return true;
}

/* An integer of bytes, or "256M": binary multiples. */
static bool get_size(struct loader *L, json_t *v, const struct jsonpos_entry *at, uint64_t *out)
{
	if (json_is_integer(v))
		return get_uint(L, v, at, 0, NO_MAX, out);
	if (!json_is_string(v)) {
		report(L, at, "expected integer or string, got %s", jsonpos_type_name(v));
		return false;
	}
	const char *s = get_string(L, v, at);
	if (!s)
		return false;
	if (ward_parse_size(s, out) == 0)
		return true;
	if (errno == ERANGE)
		report(L, at, "size %s is too large", Q(s));
	else
		report(L, at, "invalid size %s: use bytes or a number with K, M, G or T", Q(s));
	return false;
}

/* One of `names`; returns its index or -1. */
static int get_enum(struct loader *L, json_t *v, const struct jsonpos_entry *at,
		    const char *const names[])
{
	const char *s = get_string(L, v, at);
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
	report(L, at, "must be %s, got %s", list, Q(s));
	return -1;
}

static char *get_name(struct loader *L, json_t *v, const struct jsonpos_entry *at)
{
	const char *s = get_string(L, v, at);
	if (!s)
		return NULL;
	if (!ward_name_valid(s)) {
		report(L, at, "invalid name %s: must match " NAME_RULE, Q(s));
		return NULL;
	}
	return xstrdup(L, s);
}

/* ======================================================================
 * Paths
 * ====================================================================== */

/* A source is read on the host; a target is mounted on inside the sandbox,
 * where "/", /proc and /dev are ward's own; a masked path may be anywhere. */
enum path_use { PATH_SOURCE, PATH_TARGET, PATH_MASK };

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

static bool path_ok(struct loader *L, const char *p, const struct jsonpos_entry *at,
		    enum path_use use)
{
	const char *why = path_problem(p, use);
	if (!why && strlen(p) >= PATH_MAX)
		report(L, at, "must not be longer than %d bytes", PATH_MAX - 1);
	else if (why)
		report(L, at, "%s", why);
	return !why && strlen(p) < PATH_MAX;
}

static char *get_path(struct loader *L, json_t *v, const struct jsonpos_entry *at,
		      enum path_use use)
{
	const char *s = get_string(L, v, at);
	return s && path_ok(L, s, at, use) ? xstrdup(L, s) : NULL;
}

/* ======================================================================
 * Arrays
 * ====================================================================== */

/* Checks that v is an array (non-empty if asked) and allocates room for its
 * *n items plus a NULL. */
static bool array_begin(struct loader *L, json_t *v, const struct jsonpos_entry *at, bool nonempty,
			size_t item_size, void **out, size_t *n)
{
	if (!want(L, v, at, JSON_ARRAY, "array"))
		return false;
	*n = json_array_size(v);
	if (nonempty && *n == 0) {
		report(L, at, "must not be empty");
		return false;
	}
	*out = xcalloc(L, *n + 1, item_size);
	return *out != NULL;
}

typedef char *(*item_fn)(struct loader *L, json_t *v, const struct jsonpos_entry *at);

/* An array of strings, each checked (and copied) by fn; NULL-terminated. */
static void strv_read(struct loader *L, json_t *v, const struct jsonpos_entry *at, bool nonempty,
		      item_fn fn, char ***out, size_t *n_out)
{
	char **items = NULL;
	size_t n;
	if (!array_begin(L, v, at, nonempty, sizeof(char *), (void **)&items, &n))
		return;
	*out = items;
	for (size_t i = 0; i < n; i++) {
		char *s = fn(L, json_array_get(v, i), AT_IDX(L, v, i));
		if (s)
			items[(*n_out)++] = s;
	}
}

static char *item_mask(struct loader *L, json_t *v, const struct jsonpos_entry *at)
{
	return get_path(L, v, at, PATH_MASK);
}

static char *item_syscall(struct loader *L, json_t *v, const struct jsonpos_entry *at)
{
	const char *s = get_string(L, v, at);
	if (!s)
		return NULL;
	if (s[0] == '@' ? !seccomp_group_known(s) : !seccomp_syscall_known(s)) {
		report(L, at, "unknown %s %s", s[0] == '@' ? "syscall group" : "syscall", Q(s));
		return NULL;
	}
	return xstrdup(L, s);
}

static char *item_abi(struct loader *L, json_t *v, const struct jsonpos_entry *at)
{
	static const char *const abis[] = {"x86", "x32", NULL};
	int i = get_enum(L, v, at, abis);
	return i < 0 ? NULL : xstrdup(L, abis[i]);
}

static char *item_group(struct loader *L, json_t *v, const struct jsonpos_entry *at)
{
	const char *s = get_string(L, v, at);
	if (s && !group_name_valid(s)) {
		report(L, at, "invalid group name %s: must match " GROUP_RULE, Q(s));
		return NULL;
	}
	return s ? xstrdup(L, s) : NULL;
}

/* argv: exec[0] is an absolute path; NULL-terminated. */
static void exec_read(struct loader *L, json_t *v, const struct jsonpos_entry *at, char ***out,
		      size_t *n_out)
{
	char **argv = NULL;
	size_t n;

	if (!array_begin(L, v, at, true, sizeof(char *), (void **)&argv, &n))
		return;
	*out = argv;
	for (size_t i = 0; i < n; i++) {
		json_t *item = json_array_get(v, i);
		const struct jsonpos_entry *iat = AT_IDX(L, v, i);
		char *s = i == 0 ? get_path(L, item, iat, PATH_SOURCE) : dup_string(L, item, iat);
		if (s)
			argv[(*n_out)++] = s;
	}
}

/* ======================================================================
 * Policy fragments: each section read into struct ward_policy
 * ====================================================================== */

static void bind_read(struct loader *L, json_t *v, const struct jsonpos_entry *at,
		      struct ward_bind *b)
{
	static const char *const keys[] = {"src", "dst", NULL};
	json_t *m;

	if (json_is_string(v)) {
		b->src = get_path(L, v, at, PATH_TARGET);
		b->dst = b->src ? xstrdup(L, b->src) : NULL;
		return;
	}
	if (!json_is_object(v)) {
		report(L, at, "expected string or object, got %s", jsonpos_type_name(v));
		return;
	}
	check_object(L, v, at, keys, keys);
	if ((m = json_object_get(v, "src")))
		b->src = get_path(L, m, AT_KEY(L, v, "src"), PATH_SOURCE);
	if ((m = json_object_get(v, "dst")))
		b->dst = get_path(L, m, AT_KEY(L, v, "dst"), PATH_TARGET);
}

static void binds_read(struct loader *L, json_t *v, const struct jsonpos_entry *at,
		       struct ward_bind **out, size_t *n_out)
{
	struct ward_bind *b = NULL;
	size_t n;
	if (!array_begin(L, v, at, false, sizeof(*b), (void **)&b, &n))
		return;
	*out = b;
	for (size_t i = 0; i < n; i++) {
		struct ward_bind *x = &b[*n_out];
		bind_read(L, json_array_get(v, i), AT_IDX(L, v, i), x);
		if (x->src && x->dst) {
			(*n_out)++;
		} else {
			free(x->src);
			free(x->dst);
			x->src = x->dst = NULL;
		}
	}
}

static void tmpfs_read(struct loader *L, json_t *v, const struct jsonpos_entry *at,
		       struct ward_filesystem *fs)
{
	const char *k;
	json_t *m;

	if (!want(L, v, at, JSON_OBJECT, "object"))
		return;
	fs->tmpfs = xcalloc(L, json_object_size(v), sizeof(*fs->tmpfs));
	if (!fs->tmpfs)
		return;
	json_object_foreach(v, k, m)
	{
		const struct jsonpos_entry *mat = AT_KEY(L, v, k);
		uint64_t size;
		bool ok = path_ok(L, k, mat, PATH_TARGET);
		if (!get_size(L, m, mat, &size) || !ok)
			continue;
		if (size == 0) {
			/* tmpfs takes size=0 as "no limit": never what was meant. */
			report(L, mat, "must not be 0: a tmpfs of size 0 is unlimited");
			continue;
		}
		struct ward_tmpfs *t = &fs->tmpfs[fs->n_tmpfs];
		if ((t->path = xstrdup(L, k))) {
			t->size = size;
			fs->n_tmpfs++;
		}
	}
}

static void filesystem_read(struct loader *L, json_t *v, const struct jsonpos_entry *at,
			    struct ward_filesystem *fs)
{
	static const char *const keys[] = {"ro",   "rw",          "data",   "tmpfs",
					   "hide", "proc_subset", "noexec", NULL};
	static const char *const subsets[] = {"all", "pid", NULL};
	json_t *m;

	if (!check_object(L, v, at, keys, NULL))
		return;
	if ((m = json_object_get(v, "ro")))
		binds_read(L, m, AT_KEY(L, v, "ro"), &fs->ro, &fs->n_ro);
	if ((m = json_object_get(v, "rw")))
		binds_read(L, m, AT_KEY(L, v, "rw"), &fs->rw, &fs->n_rw);
	if ((m = json_object_get(v, "data")))
		fs->data = get_path(L, m, AT_KEY(L, v, "data"), PATH_TARGET);
	if ((m = json_object_get(v, "tmpfs")))
		tmpfs_read(L, m, AT_KEY(L, v, "tmpfs"), fs);
	if ((m = json_object_get(v, "hide")))
		strv_read(L, m, AT_KEY(L, v, "hide"), false, item_mask, &fs->hide, &fs->n_hide);
	if ((m = json_object_get(v, "proc_subset")))
		fs->proc_pid_only = get_enum(L, m, AT_KEY(L, v, "proc_subset"), subsets) == 1;
	if ((m = json_object_get(v, "noexec")))
		get_bool(L, m, AT_KEY(L, v, "noexec"), &fs->noexec);
}

/* ["unix", "inet", ...]: only these; ["any"]: no restriction. */
static void families_read(struct loader *L, json_t *v, const struct jsonpos_entry *at,
			  struct ward_seccomp *sc)
{
	bool any = false;

	if (!want(L, v, at, JSON_ARRAY, "array"))
		return;
	sc->restrict_families = true;
	sc->address_families = 0;
	for (size_t i = 0; i < json_array_size(v); i++) {
		const struct jsonpos_entry *iat = AT_IDX(L, v, i);
		const char *s = get_string(L, json_array_get(v, i), iat);
		int af = s ? seccomp_family_from_name(s) : -1;

		if (s && strcmp(s, "any") == 0)
			any = true;
		else if (s && af < 0)
			report(L, iat, "unknown address family %s", Q(s));
		else if (s)
			sc->address_families |= UINT64_C(1) << af;
	}
	if (any && json_array_size(v) != 1)
		report(L, at, "\"any\" stands alone");
	else if (any)
		sc->restrict_families = false;
}

static void seccomp_read(struct loader *L, json_t *v, const struct jsonpos_entry *at,
			 struct ward_seccomp *sc)
{
	static const char *const keys[] = {"default",          "allow", "deny",
					   "log_denied",       "abis",  "restrict_namespaces",
					   "address_families", NULL};
	static const char *const actions[] = {"errno", "kill", "log", NULL};
	json_t *m;
	int i;

	if (!check_object(L, v, at, keys, NULL))
		return;
	if ((m = json_object_get(v, "default")) &&
	    (i = get_enum(L, m, AT_KEY(L, v, "default"), actions)) >= 0)
		sc->default_action = (enum seccomp_default)i;
	if ((m = json_object_get(v, "allow")))
		strv_read(L, m, AT_KEY(L, v, "allow"), false, item_syscall, &sc->allow,
			  &sc->n_allow);
	if ((m = json_object_get(v, "deny")))
		strv_read(L, m, AT_KEY(L, v, "deny"), false, item_syscall, &sc->deny, &sc->n_deny);
	if ((m = json_object_get(v, "log_denied")))
		get_bool(L, m, AT_KEY(L, v, "log_denied"), &sc->log_denied);
	if ((m = json_object_get(v, "abis")))
		strv_read(L, m, AT_KEY(L, v, "abis"), false, item_abi, &sc->abis, &sc->n_abis);
	if ((m = json_object_get(v, "restrict_namespaces")))
		get_bool(L, m, AT_KEY(L, v, "restrict_namespaces"), &sc->restrict_namespaces);
	if ((m = json_object_get(v, "address_families")))
		families_read(L, m, AT_KEY(L, v, "address_families"), sc);
}

static void capabilities_read(struct loader *L, json_t *v, const struct jsonpos_entry *at,
			      uint64_t *keep)
{
	static const char *const keys[] = {"keep", NULL};
	json_t *m;

	if (!check_object(L, v, at, keys, NULL) || !(m = json_object_get(v, "keep")))
		return;
	at = AT_KEY(L, v, "keep");
	if (!want(L, m, at, JSON_ARRAY, "array"))
		return;
	for (size_t i = 0; i < json_array_size(m); i++) {
		const struct jsonpos_entry *iat = AT_IDX(L, m, i);
		const char *s = get_string(L, json_array_get(m, i), iat);
		int cap = s ? caps_from_name(s) : -1;
		if (s && (cap < 0 || cap > 63))
			report(L, iat, "unknown capability %s", Q(s));
		else if (s)
			*keep |= UINT64_C(1) << cap;
	}
}

static void cpu_read(struct loader *L, json_t *v, const struct jsonpos_entry *at, double *cpu)
{
	if (!json_is_number(v)) {
		report(L, at, "expected number, got %s", jsonpos_type_name(v));
		return;
	}
	double x = json_number_value(v);
	if (!(x > 0 && x <= 1024)) {
		report(L, at, "must be greater than 0 and at most 1024, got %g", x);
		return;
	}
	*cpu = x;
}

/* A policy's limits; `keys` narrows them for the tenant-wide cap (what a
 * cgroup can cap: memory, pids, cpu). */
static void limits_read_keys(struct loader *L, json_t *v, const struct jsonpos_entry *at,
			     const char *const *keys, struct ward_limits *lim)
{
	json_t *m;

	if (!check_object(L, v, at, keys, NULL))
		return;
	if ((m = json_object_get(v, "memory")))
		get_size(L, m, AT_KEY(L, v, "memory"), &lim->memory);
	if ((m = json_object_get(v, "pids")))
		get_uint(L, m, AT_KEY(L, v, "pids"), 1, NO_MAX, &lim->pids);
	if ((m = json_object_get(v, "cpu")))
		cpu_read(L, m, AT_KEY(L, v, "cpu"), &lim->cpu);
	if ((m = json_object_get(v, "nofile")))
		get_uint(L, m, AT_KEY(L, v, "nofile"), 1, 1048576, &lim->nofile);
	if ((m = json_object_get(v, "core")))
		get_size(L, m, AT_KEY(L, v, "core"), &lim->core);
}

static void limits_read(struct loader *L, json_t *v, const struct jsonpos_entry *at,
			struct ward_limits *lim)
{
	static const char *const keys[] = {"memory", "pids", "cpu", "nofile", "core", NULL};

	limits_read_keys(L, v, at, keys, lim);
}

static void tenant_limits_read(struct loader *L, json_t *v, const struct jsonpos_entry *at,
			       struct ward_limits *lim)
{
	static const char *const keys[] = {"memory", "pids", "cpu", NULL};

	limits_read_keys(L, v, at, keys, lim);
}

static void restart_read(struct loader *L, json_t *v, const struct jsonpos_entry *at,
			 struct ward_restart *r)
{
	static const char *const keys[] = {"on",    "delay_ms",   "max_delay_ms",
					   "burst", "interval_s", NULL};
	static const char *const ons[] = {"always", "failure", "never", NULL};
	json_t *m;
	int i;

	if (!check_object(L, v, at, keys, NULL))
		return;
	if ((m = json_object_get(v, "on")) && (i = get_enum(L, m, AT_KEY(L, v, "on"), ons)) >= 0)
		r->on = (enum restart_on)i;
	if ((m = json_object_get(v, "delay_ms")))
		get_uint(L, m, AT_KEY(L, v, "delay_ms"), 0, 86400000, &r->delay_ms);
	if ((m = json_object_get(v, "max_delay_ms")))
		get_uint(L, m, AT_KEY(L, v, "max_delay_ms"), 0, 86400000, &r->max_delay_ms);
	if ((m = json_object_get(v, "burst")))
		get_u32(L, m, AT_KEY(L, v, "burst"), 1, 1000, &r->burst);
	if ((m = json_object_get(v, "interval_s")))
		get_u32(L, m, AT_KEY(L, v, "interval_s"), 1, 86400, &r->interval_s);
}

static int env_cmp(const void *a, const void *b)
{
	const char *x = *(char *const *)a, *y = *(char *const *)b;
	size_t nx = strcspn(x, "="), ny = strcspn(y, "=");
	int c = memcmp(x, y, nx < ny ? nx : ny);
	return c ? c : (nx > ny) - (nx < ny);
}

/* "NAME=value" sorted by name; a null value (in a fragment) removes a name
 * set by an earlier one and so leaves nothing here. */
static void env_read(struct loader *L, json_t *v, const struct jsonpos_entry *at,
		     struct ward_policy *p)
{
	const char *k;
	json_t *m;

	if (!want(L, v, at, JSON_OBJECT, "object"))
		return;
	if (!(p->env = xcalloc(L, json_object_size(v) + 1, sizeof(char *))))
		return;
	json_object_foreach(v, k, m)
	{
		const struct jsonpos_entry *mat = AT_KEY(L, v, k);
		const char *val = NULL;
		if (!env_name_valid(k))
			report(L, mat, "invalid environment variable name %s: must match " ENV_RULE,
			       Q(k));
		if (json_is_null(m))
			continue;
		if (!json_is_string(m))
			report(L, mat, "expected string or null, got %s", jsonpos_type_name(m));
		else
			val = get_string(L, m, mat);
		if (!val || !env_name_valid(k))
			continue;
		char *kv;
		if (asprintf(&kv, "%s=%s", k, val) < 0) {
			L->oom = true;
			continue;
		}
		p->env[p->n_env++] = kv;
	}
	qsort(p->env, p->n_env, sizeof(char *), env_cmp);
}

static const char *const policy_keys[] = {"filesystem", "seccomp",        "capabilities",
					  "limits",     "restart",        "stop_timeout_s",
					  "env",        "user_namespace", NULL};

/* Reads the keys present in one fragment, or in a merged policy (where the
 * defaults make every key present). */
static void policy_read(struct loader *L, json_t *v, const struct jsonpos_entry *at,
			struct ward_policy *p)
{
	json_t *m;

	if (!check_object(L, v, at, policy_keys, NULL))
		return;
	if ((m = json_object_get(v, "filesystem")))
		filesystem_read(L, m, AT_KEY(L, v, "filesystem"), &p->filesystem);
	if ((m = json_object_get(v, "seccomp")))
		seccomp_read(L, m, AT_KEY(L, v, "seccomp"), &p->seccomp);
	if ((m = json_object_get(v, "capabilities")))
		capabilities_read(L, m, AT_KEY(L, v, "capabilities"), &p->caps_keep);
	if ((m = json_object_get(v, "limits")))
		limits_read(L, m, AT_KEY(L, v, "limits"), &p->limits);
	if ((m = json_object_get(v, "restart")))
		restart_read(L, m, AT_KEY(L, v, "restart"), &p->restart);
	if ((m = json_object_get(v, "stop_timeout_s")))
		get_u32(L, m, AT_KEY(L, v, "stop_timeout_s"), 1, 3600, &p->stop_timeout_s);
	if ((m = json_object_get(v, "env")))
		env_read(L, m, AT_KEY(L, v, "env"), p);
	if ((m = json_object_get(v, "user_namespace")))
		get_bool(L, m, AT_KEY(L, v, "user_namespace"), &p->user_namespace);
}

/* Checks a fragment on its own, where it was written; true when valid. */
static bool fragment_check(struct loader *L, json_t *v, const struct jsonpos_entry *at)
{
	struct ward_policy scratch = {0};
	size_t before = errors(L);

	policy_read(L, v, at, &scratch);
	policy_free(&scratch);
	return errors(L) == before;
}

/* ======================================================================
 * Reading files and documents
 * ====================================================================== */

/* A regular file of at most WARD_PROFILE_MAX_BYTES. Returns its bytes, or
 * NULL with *err saying why. trusted (the daemon's loads): the file must
 * also pass trusted.c's test (root's, not writable by group or others) and
 * not be a symlink, as the daemon requires of profiles: a fragment decides
 * a service's privileges as much as the profile naming it. */
static char *file_read(const char *path, bool trusted, size_t *len, struct read_error *err)
{
	_cleanup_close_ int fd = -1;
	struct stat st;
	char *buf;
	size_t got = 0;

	/* O_NONBLOCK: opening a FIFO must not hang the loader. The owner and
	 * mode are checked on the opened file (fstat), the one that is read. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | (trusted ? O_NOFOLLOW : 0));
	if (fd < 0 && errno == ELOOP && trusted) {
		*err = (struct read_error){"a symlink, not a regular file", 0};
		return NULL;
	}
	if (fd < 0 || fstat(fd, &st) < 0) {
		*err = (struct read_error){"cannot open", errno};
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		*err = (struct read_error){"not a regular file", 0};
		return NULL;
	}
	if (trusted) {
		struct ward_err why = {0};

		if (trusted_stat_check(&st, &why) < 0) {
			*err = (struct read_error){.errnum = 0};
			(void)snprintf(err->what, sizeof(err->what), "%.200s", why.msg);
			return NULL;
		}
	}
	if (st.st_size > (off_t)WARD_PROFILE_MAX_BYTES) {
		*err = (struct read_error){"larger than 4194304 bytes", 0};
		return NULL;
	}
	if (!(buf = malloc((size_t)st.st_size + 1))) {
		*err = (struct read_error){"cannot read", ENOMEM};
		return NULL;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*err = (struct read_error){"cannot read", errno};
			free(buf);
			return NULL;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	*len = got;
	return buf;
}

/* jansson quotes the offending input in its messages; keep control bytes
 * off the terminal. */
static void sanitize(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

/* Parses text as JSON and records the position of every value. */
static struct doc *doc_parse(struct loader *L, const char *file, const char *text, size_t len)
{
	json_error_t e;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &e);
	struct doc *d;

	if (!root) {
		sanitize(e.text);
		if (diag_add(L->diag, file, e.line > 0 ? (unsigned)e.line : 0,
			     e.column > 0 ? (unsigned)e.column : 0, "", "%s", e.text) < 0)
			L->oom = true;
		return NULL;
	}
	if (!(d = xcalloc(L, 1, sizeof(*d))) || !(d->file = xstrdup(L, file))) {
		free(d);
		json_decref(root);
		return NULL;
	}
	d->root = root;
	d->next = L->docs;
	L->docs = d;
	if (!(d->at = jsonpos_scan(L->pos, d->file, text, len, root))) {
		/* EINVAL: the text and the tree disagree, which is a bug here. */
		if (errno == ENOMEM ||
		    diag_add(L->diag, file, 0, 0, "", "internal error: cannot locate values") < 0)
			L->oom = true;
		return NULL;
	}
	return d;
}

/* ======================================================================
 * Named fragments: found by name in the policy directories
 * ====================================================================== */

/* Tries dir/NAME.json: 1 found (f filled), 0 not there, -1 unreadable. */
static int frag_try(struct loader *L, struct frag *f, const char *dir)
{
	char path[PATH_MAX];
	struct read_error err;
	size_t len;
	int n = snprintf(path, sizeof(path), "%s/%s.json", dir, f->name);

	if (n < 0 || (size_t)n >= sizeof(path))
		return 0;
	_cleanup_free_ char *text = file_read(path, L->opts && L->opts->trusted, &len, &err);
	if (!text) {
		if (err.errnum == ENOENT || err.errnum == ENOTDIR)
			return 0;
		f->path = xstrdup(L, path);
		f->err = err;
		f->state = FRAG_UNREADABLE;
		return -1;
	}
	f->doc = doc_parse(L, path, text, len);
	f->state = f->doc && fragment_check(L, f->doc->root, f->doc->at) ? FRAG_OK : FRAG_BROKEN;
	return 1;
}

/* Search order: the caller's directories, the `policies` directory beside
 * the profile's own, then the shipped ones; the first hit wins. */
static void frag_load(struct loader *L, struct frag *f)
{
	const struct profile_options *o = L->opts;
	char sibling[PATH_MAX];
	int n = snprintf(sibling, sizeof(sibling), "%s/../policies", L->profile_dir);

	f->state = FRAG_MISSING;
	for (size_t i = 0; o && i < o->n_policy_dirs; i++)
		if (o->policy_dirs[i] && frag_try(L, f, o->policy_dirs[i]) != 0)
			return;
	if (n > 0 && (size_t)n < sizeof(sibling) && frag_try(L, f, sibling) != 0)
		return;
	frag_try(L, f, WARD_POLICY_DIR);
}

/* The fragment `name`, loaded once; reports a failed lookup at `at`, the
 * place that names it. Returns its root when valid. */
static json_t *frag_get(struct loader *L, const char *name, const struct jsonpos_entry *at)
{
	struct frag *f;

	for (f = L->frags; f && strcmp(f->name, name) != 0; f = f->next)
		;
	if (!f) {
		if (!(f = xcalloc(L, 1, sizeof(*f))) || !(f->name = xstrdup(L, name))) {
			free(f);
			return NULL;
		}
		f->next = L->frags;
		L->frags = f;
		frag_load(L, f);
	}
	if (f->state == FRAG_MISSING)
		report(L, at, "unknown policy fragment %s", Q(name));
	else if (f->state == FRAG_UNREADABLE)
		report(L, at, "cannot read policy fragment %s: %s: %s%s%s", Q(name),
		       f->path ? f->path : "", READ_ERROR_ARGS(f->err));
	return f->state == FRAG_OK ? f->doc->root : NULL;
}

/* ======================================================================
 * Merging: later fragments override earlier ones key by key
 * ====================================================================== */

static void alias(struct loader *L, json_t *obj, const struct jsonpos_entry *origin, unsigned seq)
{
	if (origin && jsonpos_alias(L->pos, obj, jsonpos_entry_key(origin), origin, seq) < 0)
		L->oom = true;
}

/* A new object: base with over applied. Objects merge recursively, anything
 * else (lists too) is replaced, and null removes the key (env). Positions go
 * with the values, so an error in a merged value points where it was written. */
/* NOLINTNEXTLINE(misc-no-recursion): as deep as the parsed fragments (jansson: <= 2048) */
static json_t *merge(struct loader *L, json_t *base, json_t *over, unsigned seq)
{
	json_t *out = json_object(), *v;
	const char *k;

	if (!out || json_array_append(L->keep, out) < 0) {
		L->oom = true;
		json_decref(out);
		return NULL;
	}
	json_object_foreach(base, k, v)
	{
		const struct jsonpos_entry *e = AT_KEY(L, base, k);
		struct jsonpos_where w = {0};
		if (e)
			jsonpos_locate(e, &w);
		if (json_object_set(out, k, v) < 0)
			L->oom = true;
		alias(L, out, e, w.seq);
	}
	json_object_foreach(over, k, v)
	{
		json_t *old = json_object_get(out, k), *nv;
		if (json_is_null(v)) {
			json_object_del(out, k);
			continue;
		}
		if (json_is_object(old) && json_is_object(v))
			nv = merge(L, old, v, seq);
		else
			nv = json_incref(v);
		if (!nv || json_object_set_new(out, k, nv) < 0)
			L->oom = true;
		alias(L, out, AT_KEY(L, over, k), seq);
	}
	return out;
}

/* After merging: the backoff must be able to grow. Reported where the later
 * of the two values was written, the one that broke it. */
static void restart_check(struct loader *L, json_t *merged, const struct ward_restart *r)
{
	json_t *restart = json_object_get(merged, "restart");
	const struct jsonpos_entry *d = AT_KEY(L, restart, "delay_ms");
	const struct jsonpos_entry *m = AT_KEY(L, restart, "max_delay_ms");
	struct jsonpos_where wd = {0}, wm = {0};

	if (r->max_delay_ms >= r->delay_ms)
		return;
	if (d)
		jsonpos_locate(d, &wd);
	if (m)
		jsonpos_locate(m, &wm);
	if (m && (!d || wm.seq >= wd.seq))
		report(L, m, "max_delay_ms %" PRIu64 " is less than delay_ms %" PRIu64,
		       r->max_delay_ms, r->delay_ms);
	else
		report(L, d, "delay_ms %" PRIu64 " is greater than max_delay_ms %" PRIu64,
		       r->delay_ms, r->max_delay_ms);
}

static void policy_init(struct ward_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->limits.memory = WARD_UNSET;
	p->limits.pids = WARD_UNSET;
	p->limits.nofile = WARD_UNSET;
	p->limits.core = WARD_UNSET;
}

/* The fragment an item of a policy list stands for, checked; NULL if bad. */
static json_t *policy_item(struct loader *L, json_t *item, const struct jsonpos_entry *at)
{
	if (json_is_string(item)) {
		const char *name = get_string(L, item, at);
		if (!name)
			return NULL;
		/* Names only: a fragment reference can never leave the directories. */
		if (!ward_name_valid(name)) {
			report(L, at, "invalid name %s: must match " NAME_RULE, Q(name));
			return NULL;
		}
		return frag_get(L, name, at);
	}
	if (json_is_object(item))
		return fragment_check(L, item, at) ? item : NULL;
	report(L, at, "expected string or object, got %s", jsonpos_type_name(item));
	return NULL;
}

/* Resolves a policy list (NULL: none) into *p. Returns the merged policy
 * (alive until the end of the load), or NULL when something was wrong. */
static json_t *policy_resolve(struct loader *L, json_t *list, const struct jsonpos_entry *at,
			      struct ward_policy *p)
{
	size_t n = list ? json_array_size(list) : 0;
	json_t *merged = L->defaults;
	bool ok = true;

	policy_init(p);
	if (list && !want(L, list, at, JSON_ARRAY, "array"))
		return NULL;
	/* Every item is checked, even after a bad one: all errors, not the first. */
	for (size_t i = 0; i < n; i++)
		if (!policy_item(L, json_array_get(list, i), AT_IDX(L, list, i)))
			ok = false;
	for (size_t i = 0; ok && i < n; i++) {
		json_t *item = json_array_get(list, i);
		json_t *frag =
		    json_is_string(item) ? frag_get(L, json_string_value(item), NULL) : item;
		merged = merge(L, merged, frag, ++L->seq);
		json_decref(merged); /* L->keep holds it */
		if (!merged)
			return NULL;
	}
	if (!ok)
		return NULL;
	policy_read(L, merged, NULL, p);
	restart_check(L, merged, &p->restart);
	return merged;
}

/* Canonical JSON of what defines how a service runs: equal strings mean
 * nothing changed on reload. */
static char *digest_make(struct loader *L, json_t *exec, json_t *merged)
{
	json_t *d = json_pack("{s:O?,s:O}", "exec", exec, "policy", merged);
	char *s = d ? json_dumps(d, JSON_SORT_KEYS | JSON_COMPACT) : NULL;

	json_decref(d);
	if (!s)
		L->oom = true;
	return s;
}

/* Canonical JSON of one value as written; "null" for none. */
static char *canon(struct loader *L, json_t *v)
{
	char *s = json_dumps(v ? v : json_null(), JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);

	if (!s)
		L->oom = true;
	return s;
}

/* ======================================================================
 * The tenant: services, network, sessions
 * ====================================================================== */

static bool service_exists(struct loader *L, const char *name)
{
	return L->services && json_object_get(L->services, name);
}

static void after_read(struct loader *L, json_t *v, const struct jsonpos_entry *at,
		       struct ward_service *s)
{
	char **items = NULL;
	size_t n;

	if (!array_begin(L, v, at, false, sizeof(char *), (void **)&items, &n))
		return;
	s->after = items;
	for (size_t i = 0; i < n; i++) {
		const struct jsonpos_entry *iat = AT_IDX(L, v, i);
		const char *name = get_string(L, json_array_get(v, i), iat);
		if (!name)
			continue;
		if (!service_exists(L, name))
			report(L, iat, "unknown service %s", Q(name));
		else if (s->name && strcmp(name, s->name) == 0)
			report(L, iat, "a service cannot be after itself");
		else if ((items[s->n_after] = xstrdup(L, name)))
			s->n_after++;
	}
}

/* "db:5432" or "db:5432/udp" (or "/tcp"). */
static void connect_parse(struct loader *L, const char *s, const struct jsonpos_entry *at,
			  struct ward_connect *c)
{
	const char *colon = strchr(s, ':'), *end;
	char name[WARD_NAME_MAX + 1];
	uint64_t port;

	if (!colon || colon == s || (size_t)(colon - s) > WARD_NAME_MAX ||
	    parse_dec(colon + 1, &end, 65535, &port) < 0 ||
	    !(*end == '\0' || strcmp(end, "/tcp") == 0 || strcmp(end, "/udp") == 0)) {
		report(L, at, "invalid connect %s: use service:port or service:port/udp", Q(s));
		return;
	}
	memcpy(name, s, (size_t)(colon - s));
	name[colon - s] = '\0';
	if (port == 0) {
		report(L, at, "port must be between 1 and 65535, got 0");
		return;
	}
	if (!service_exists(L, name)) {
		report(L, at, "unknown service %s", Q(name));
		return;
	}
	c->service = xstrdup(L, name);
	c->port = (uint16_t)port;
	c->proto = strcmp(end, "/udp") == 0 ? IPPROTO_UDP : IPPROTO_TCP;
}

static void connect_read(struct loader *L, json_t *v, const struct jsonpos_entry *at,
			 struct ward_service *s)
{
	struct ward_connect *c = NULL;
	size_t n;

	if (!array_begin(L, v, at, false, sizeof(*c), (void **)&c, &n))
		return;
	s->connect = c;
	for (size_t i = 0; i < n; i++) {
		const struct jsonpos_entry *iat = AT_IDX(L, v, i);
		const char *str = get_string(L, json_array_get(v, i), iat);
		if (!str)
			continue;
		connect_parse(L, str, iat, &c[s->n_connect]);
		if (c[s->n_connect].service)
			s->n_connect++;
	}
}

static void service_read(struct loader *L, const char *name, json_t *v,
			 const struct jsonpos_entry *at, struct ward_service *s)
{
	static const char *const keys[] = {"exec", "policy", "after", "connect", NULL};
	static const char *const required[] = {"exec", NULL};
	json_t *m, *merged;

	if (!ward_name_valid(name))
		report(L, at, "invalid name %s: must match " NAME_RULE, Q(name));
	s->name = xstrdup(L, name);
	policy_init(&s->policy);
	if (!check_object(L, v, at, keys, required))
		return;
	if ((m = json_object_get(v, "exec")))
		exec_read(L, m, AT_KEY(L, v, "exec"), &s->exec, &s->n_exec);
	if ((m = json_object_get(v, "after")))
		after_read(L, m, AT_KEY(L, v, "after"), s);
	if ((m = json_object_get(v, "connect")))
		connect_read(L, m, AT_KEY(L, v, "connect"), s);
	m = json_object_get(v, "policy");
	merged = policy_resolve(L, m, m ? AT_KEY(L, v, "policy") : NULL, &s->policy);
	if (merged)
		s->digest = digest_make(L, json_object_get(v, "exec"), merged);
	s->after_digest = canon(L, json_object_get(v, "after"));
	s->connect_digest = canon(L, json_object_get(v, "connect"));
}

/* ---- dependency cycles among `after` ---- */

struct dep_name {
	const char *name;
	size_t idx;
};

struct dep_graph {
	const char **names; /* by index, profile order */
	json_t **after;     /* each service's after array, or NULL */
	size_t n;
	struct dep_name *sorted; /* for lookups by name */
};

static int dep_name_cmp(const void *a, const void *b)
{
	return strcmp(((const struct dep_name *)a)->name, ((const struct dep_name *)b)->name);
}

static ssize_t dep_index(const struct dep_graph *g, const char *name)
{
	struct dep_name key = {name, 0};
	const struct dep_name *hit = bsearch(&key, g->sorted, g->n, sizeof(key), dep_name_cmp);
	return hit ? (ssize_t)hit->idx : -1;
}

/* The edge u -> after[j] closes a cycle through the nodes on the stack from
 * v on: "dependency cycle: a -> b -> a", reported at that edge. */
static void cycle_report(struct loader *L, const struct dep_graph *g, const size_t *stack,
			 size_t depth, size_t v, const struct jsonpos_entry *at)
{
	size_t from = depth;
	char *msg = NULL;
	size_t len = 0;
	FILE *f;

	while (from > 0 && stack[from - 1] != v)
		from--;
	if (from > 0)
		from--;
	if (!(f = open_memstream(&msg, &len))) {
		L->oom = true;
		return;
	}
	for (size_t i = from; i < depth; i++)
		fprintf(f, "%s -> ", g->names[stack[i]]);
	fputs(g->names[v], f);
	if (fclose(f) != 0 || !msg) {
		L->oom = true;
		free(msg);
		return;
	}
	report(L, at, "dependency cycle: %s", msg);
	free(msg);
}

/* Iterative depth-first search: a long chain of services must not exhaust
 * the stack. */
static void dep_search(struct loader *L, const struct dep_graph *g, size_t root, char *color,
		       size_t *stack, size_t *edge)
{
	size_t depth = 0;

	stack[depth] = root;
	edge[depth++] = 0;
	color[root] = 1;
	while (depth > 0) {
		size_t u = stack[depth - 1], j = edge[depth - 1]++;
		json_t *after = g->after[u];
		if (!after || j >= json_array_size(after)) {
			color[u] = 2;
			depth--;
			continue;
		}
		json_t *item = json_array_get(after, j);
		ssize_t v = json_is_string(item) ? dep_index(g, json_string_value(item)) : -1;
		if (v < 0 || (size_t)v == u)
			continue;
		if (color[v] == 1) {
			cycle_report(L, g, stack, depth, (size_t)v, AT_IDX(L, after, j));
		} else if (color[v] == 0) {
			color[v] = 1;
			stack[depth] = (size_t)v;
			edge[depth++] = 0;
		}
	}
}

static void cycles_check(struct loader *L, json_t *services)
{
	struct dep_graph g = {.n = 0};
	size_t n = json_object_size(services);

	g.names = xcalloc(L, n, sizeof(char *));
	g.sorted = xcalloc(L, n, sizeof(*g.sorted));
	g.after = xcalloc(L, n, sizeof(json_t *));
	_cleanup_free_ char *color = xcalloc(L, n, 1);
	_cleanup_free_ size_t *stack = xcalloc(L, n, sizeof(size_t));
	_cleanup_free_ size_t *edge = xcalloc(L, n, sizeof(size_t));
	if (g.names && g.sorted && g.after && color && stack && edge) {
		const char *k;
		json_t *v;

		json_object_foreach(services, k, v)
		{
			/* Badly named services were reported already; leave them out. */
			if (!ward_name_valid(k))
				continue;
			g.names[g.n] = k;
			g.sorted[g.n] = (struct dep_name){k, g.n};
			json_t *after = json_is_object(v) ? json_object_get(v, "after") : NULL;
			g.after[g.n++] = json_is_array(after) ? after : NULL;
		}
		qsort(g.sorted, g.n, sizeof(*g.sorted), dep_name_cmp);
		for (size_t i = 0; i < g.n; i++)
			if (!color[i])
				dep_search(L, &g, i, color, stack, edge);
	}
	free(g.names);
	free(g.sorted);
	free(g.after);
}

static void services_read(struct loader *L, json_t *v, const struct jsonpos_entry *at,
			  struct ward_tenant *t)
{
	const char *k;
	json_t *m;

	if (!want(L, v, at, JSON_OBJECT, "object"))
		return;
	if (json_object_size(v) == 0) {
		report(L, at, "must not be empty");
		return;
	}
	if (!(t->services = xcalloc(L, json_object_size(v), sizeof(*t->services))))
		return;
	json_object_foreach(v, k, m)
	    service_read(L, k, m, AT_KEY(L, v, k), &t->services[t->n_services++]);
	cycles_check(L, v);
}

static void ids_read(struct loader *L, json_t *v, const struct jsonpos_entry *at,
		     struct ward_ids *ids)
{
	static const char *const keys[] = {"uid", "count", NULL};
	json_t *uid = json_object_get(v, "uid"), *count = json_object_get(v, "count");
	uint32_t u = 0, c = 0;

	if (!check_object(L, v, at, keys, keys))
		return;
	bool ok_u = uid && get_u32(L, uid, AT_KEY(L, v, "uid"), UID_MIN_TENANT, UID_MAX_TENANT, &u);
	bool ok_c = count && get_u32(L, count, AT_KEY(L, v, "count"), 1, 1u << 24, &c);
	if (!ok_u || !ok_c)
		return;
	if ((uint64_t)u + c - 1 > UID_MAX_TENANT) {
		report(L, AT_KEY(L, v, "count"), "uid + count - 1 must be at most %u, got %" PRIu64,
		       UID_MAX_TENANT, (uint64_t)u + c - 1);
		return;
	}
	ids->set = true;
	ids->uid = u;
	ids->count = c;
}

static bool cidr_get(struct loader *L, json_t *v, const struct jsonpos_entry *at,
		     struct ward_cidr *out)
{
	const char *s = get_string(L, v, at);
	if (!s)
		return false;
	switch (cidr_parse(s, out)) {
	case CIDR_OK:
		return true;
	case CIDR_HOST_BITS:
		report(L, at, "invalid CIDR %s: host bits must be zero", Q(s));
		return false;
	default:
		report(L, at, "invalid CIDR %s: use a.b.c.d/prefix", Q(s));
		return false;
	}
}

static void ports_read(struct loader *L, json_t *v, const struct jsonpos_entry *at, uint16_t **out,
		       size_t *n_out)
{
	uint16_t *ports = NULL;
	size_t n;

	if (!array_begin(L, v, at, true, sizeof(*ports), (void **)&ports, &n))
		return;
	*out = ports;
	for (size_t i = 0; i < n; i++)
		if (get_port(L, json_array_get(v, i), AT_IDX(L, v, i), &ports[*n_out]))
			(*n_out)++;
}

static char *item_service(struct loader *L, json_t *v, const struct jsonpos_entry *at)
{
	const char *name = get_string(L, v, at);

	if (!name)
		return NULL;
	if (!service_exists(L, name)) {
		report(L, at, "unknown service %s", Q(name));
		return NULL;
	}
	return xstrdup(L, name);
}

static void egress_read(struct loader *L, json_t *v, const struct jsonpos_entry *at,
			struct ward_egress *e)
{
	static const char *const keys[] = {"to", "tcp", "udp", "from", NULL};
	static const char *const required[] = {"to", NULL};
	json_t *m;

	if (!check_object(L, v, at, keys, required))
		return;
	/* The services that may use the flow (absent: every service). */
	if ((m = json_object_get(v, "from"))) {
		e->has_from = true;
		strv_read(L, m, AT_KEY(L, v, "from"), true, item_service, &e->from, &e->n_from);
	}
	if ((m = json_object_get(v, "to")))
		cidr_get(L, m, AT_KEY(L, v, "to"), &e->to);
	if (!json_object_get(v, "tcp") && !json_object_get(v, "udp"))
		report(L, at, "missing required key \"tcp\" or \"udp\"");
	if ((m = json_object_get(v, "tcp")))
		ports_read(L, m, AT_KEY(L, v, "tcp"), &e->tcp, &e->n_tcp);
	if ((m = json_object_get(v, "udp")))
		ports_read(L, m, AT_KEY(L, v, "udp"), &e->udp, &e->n_udp);
}

/* Returns whether host_port and proto are valid. */
static bool ingress_read(struct loader *L, json_t *v, const struct jsonpos_entry *at,
			 struct ward_ingress *in)
{
	static const char *const keys[] = {"host_port", "service", "port", "proto", NULL};
	static const char *const required[] = {"host_port", "service", "port", NULL};
	static const char *const protos[] = {"tcp", "udp", NULL};
	bool host_ok = false, proto_ok = true;
	json_t *m;

	in->proto = IPPROTO_TCP;
	if (!check_object(L, v, at, keys, required))
		return false;
	if ((m = json_object_get(v, "host_port")))
		host_ok = get_port(L, m, AT_KEY(L, v, "host_port"), &in->host_port);
	if ((m = json_object_get(v, "port")))
		get_port(L, m, AT_KEY(L, v, "port"), &in->port);
	if ((m = json_object_get(v, "proto"))) {
		int p = get_enum(L, m, AT_KEY(L, v, "proto"), protos);
		proto_ok = p >= 0;
		in->proto = p == 1 ? IPPROTO_UDP : IPPROTO_TCP;
	}
	if ((m = json_object_get(v, "service")) &&
	    (in->service = dup_string(L, m, AT_KEY(L, v, "service"))) &&
	    !service_exists(L, in->service))
		report(L, AT_KEY(L, v, "service"), "unknown service %s", Q(in->service));
	/* Enough to compare host ports, whatever else is wrong with it. */
	return host_ok && proto_ok;
}

struct port_use {
	uint16_t port;
	int proto;
	size_t idx;
};

static int port_use_cmp(const void *a, const void *b)
{
	const struct port_use *x = a, *y = b;
	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	return (x->idx > y->idx) - (x->idx < y->idx);
}

/* A host port can be forwarded to one service only (per protocol). */
static void ingress_unique(struct loader *L, json_t *v, const bool *valid,
			   const struct ward_ingress *in, size_t n)
{
	_cleanup_free_ struct port_use *u = xcalloc(L, n, sizeof(*u));
	size_t m = 0;

	if (!u)
		return;
	for (size_t i = 0; i < n; i++)
		if (valid[i])
			u[m++] = (struct port_use){in[i].host_port, in[i].proto, i};
	qsort(u, m, sizeof(*u), port_use_cmp);
	for (size_t i = 1, first = 0; i < m; i++) {
		if (u[i].port != u[first].port || u[i].proto != u[first].proto) {
			first = i;
			continue;
		}
		json_t *item = json_array_get(v, u[i].idx);
		report(L, AT_KEY(L, item, "host_port"),
		       "host_port %u/%s is already forwarded by ingress[%zu]", u[i].port,
		       u[i].proto == IPPROTO_UDP ? "udp" : "tcp", u[first].idx);
	}
}

static void ingresses_read(struct loader *L, json_t *v, const struct jsonpos_entry *at,
			   struct ward_network *net)
{
	struct ward_ingress *in = NULL;
	size_t n;

	if (!array_begin(L, v, at, false, sizeof(*in), (void **)&in, &n))
		return;
	net->ingress = in;
	net->n_ingress = n;
	_cleanup_free_ bool *valid = xcalloc(L, n, sizeof(bool));
	if (!valid)
		return;
	for (size_t i = 0; i < n; i++)
		valid[i] = ingress_read(L, json_array_get(v, i), AT_IDX(L, v, i), &in[i]);
	ingress_unique(L, v, valid, in, n);
}

static void network_read(struct loader *L, json_t *v, const struct jsonpos_entry *at,
			 struct ward_network *net)
{
	static const char *const keys[] = {"subnet", "egress", "ingress", NULL};
	json_t *m;

	if (!check_object(L, v, at, keys, NULL))
		return;
	net->present = true;
	if ((m = json_object_get(v, "subnet"))) {
		const struct jsonpos_entry *sat = AT_KEY(L, v, "subnet");
		if (cidr_get(L, m, sat, &net->subnet)) {
			/* /31 and /32 leave no room for a gateway and a service. */
			if (net->subnet.prefix < 8 || net->subnet.prefix > 30)
				report(L, sat, "subnet prefix must be between /8 and /30, got /%u",
				       net->subnet.prefix);
			else
				net->has_subnet = true;
		}
	}
	if ((m = json_object_get(v, "egress"))) {
		const struct jsonpos_entry *eat = AT_KEY(L, v, "egress");
		size_t n;
		if (array_begin(L, m, eat, false, sizeof(*net->egress), (void **)&net->egress,
				&n)) {
			net->n_egress = n;
			for (size_t i = 0; i < n; i++)
				egress_read(L, json_array_get(m, i), AT_IDX(L, m, i),
					    &net->egress[i]);
		}
	}
	if ((m = json_object_get(v, "ingress")))
		ingresses_read(L, m, AT_KEY(L, v, "ingress"), net);
}

/* Returns the session policy, resolved (borrowed), or NULL. */
static json_t *sessions_read(struct loader *L, json_t *v, const struct jsonpos_entry *at,
			     struct ward_sessions *s)
{
	static const char *const keys[] = {"groups", "service",        "exec", "policy",
					   "max",    "idle_timeout_s", NULL};
	static const char *const required[] = {"groups", "exec", NULL};
	json_t *m;

	s->max = 10;
	s->idle_timeout_s = 0;
	policy_init(&s->policy);
	if (!check_object(L, v, at, keys, required))
		return NULL;
	s->present = true;
	if ((m = json_object_get(v, "groups")))
		strv_read(L, m, AT_KEY(L, v, "groups"), true, item_group, &s->groups, &s->n_groups);
	if ((m = json_object_get(v, "service")) &&
	    (s->service = dup_string(L, m, AT_KEY(L, v, "service"))) &&
	    !service_exists(L, s->service))
		report(L, AT_KEY(L, v, "service"), "unknown service %s", Q(s->service));
	if ((m = json_object_get(v, "exec")))
		exec_read(L, m, AT_KEY(L, v, "exec"), &s->exec, &s->n_exec);
	if ((m = json_object_get(v, "max")))
		get_u32(L, m, AT_KEY(L, v, "max"), 1, 10000, &s->max);
	if ((m = json_object_get(v, "idle_timeout_s")))
		get_u32(L, m, AT_KEY(L, v, "idle_timeout_s"), 0, 86400, &s->idle_timeout_s);
	m = json_object_get(v, "policy");
	return policy_resolve(L, m, m ? AT_KEY(L, v, "policy") : NULL, &s->policy);
}

/* The sessions block with its policy resolved: a fragment it names that
 * changed changes the sessions. */
static char *sessions_digest(struct loader *L, json_t *v, json_t *merged)
{
	json_t *c;
	char *s;

	if (!v || !json_is_object(v))
		return canon(L, v);
	if (!(c = json_copy(v)) || (merged && json_object_set(c, "policy", merged) < 0)) {
		json_decref(c);
		L->oom = true;
		return NULL;
	}
	s = canon(L, c);
	json_decref(c);
	return s;
}

/* A session's /proc is its service's (its view is a copy of the service's
 * mounts): a session policy cannot hide more of it than the service's does,
 * and must not seem to. */
static void sessions_proc_check(struct loader *L, json_t *v, const struct ward_tenant *t)
{
	const struct ward_sessions *s = &t->sessions;
	const struct ward_service *svc = NULL;
	json_t *policy = json_object_get(v, "policy");

	if (!s->present || !s->policy.filesystem.proc_pid_only)
		return;
	if (s->service)
		svc = tenant_find_service(t, s->service);
	else if (t->n_services == 1)
		svc = &t->services[0];
	if (!svc || svc->policy.filesystem.proc_pid_only)
		return;
	report(L, policy ? AT_KEY(L, v, "policy") : NULL,
	       "filesystem.proc_subset \"pid\" cannot apply: a session sees the /proc of its "
	       "service %s, whose policy has \"all\"",
	       Q(svc->name));
}

static void display_name_read(struct loader *L, json_t *v, const struct jsonpos_entry *at,
			      struct ward_tenant *t)
{
	const char *s = get_string(L, v, at);
	size_t chars = 0;

	if (!s)
		return;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		/* C0, DEL, and C1 (U+0080..U+009F, encoded C2 80..C2 9F). */
		if (*p < 0x20 || *p == 0x7f || (*p == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F)) {
			report(L, at, "must not contain control characters");
			return;
		}
		chars += (*p & 0xC0) != 0x80;
	}
	if (chars < 1 || chars > 128) {
		report(L, at, "must be between 1 and 128 characters long, got %zu", chars);
		return;
	}
	t->display_name = xstrdup(L, s);
}

static struct ward_tenant *tenant_read(struct loader *L, const struct doc *d)
{
	static const char *const keys[] = {"tenant",   "display_name", "ids",    "network",
					   "services", "sessions",     "limits", NULL};
	static const char *const required[] = {"tenant", "services", NULL};
	json_t *root = d->root, *m;
	struct ward_tenant *t;

	if (!check_object(L, root, d->at, keys, required))
		return NULL;
	if (!(t = xcalloc(L, 1, sizeof(*t))))
		return NULL;
	t->source = xstrdup(L, d->file);
	if ((m = json_object_get(root, "tenant")))
		t->name = get_name(L, m, AT_KEY(L, root, "tenant"));
	if ((m = json_object_get(root, "display_name")))
		display_name_read(L, m, AT_KEY(L, root, "display_name"), t);
	if ((m = json_object_get(root, "ids")))
		ids_read(L, m, AT_KEY(L, root, "ids"), &t->ids);
	t->limits = (struct ward_limits){
	    .memory = WARD_UNSET, .pids = WARD_UNSET, .nofile = WARD_UNSET, .core = WARD_UNSET};
	if ((m = json_object_get(root, "limits")))
		tenant_limits_read(L, m, AT_KEY(L, root, "limits"), &t->limits);
	/* Services first: network and sessions refer to them. */
	if ((m = json_object_get(root, "services"))) {
		if (json_is_object(m))
			L->services = m;
		services_read(L, m, AT_KEY(L, root, "services"), t);
	}
	if ((m = json_object_get(root, "network")))
		network_read(L, m, AT_KEY(L, root, "network"), &t->network);
	t->sessions.max = 10;
	if ((m = json_object_get(root, "sessions"))) {
		json_t *merged = sessions_read(L, m, AT_KEY(L, root, "sessions"), &t->sessions);

		sessions_proc_check(L, m, t);
		t->part_digest[WARD_PART_SESSIONS] = sessions_digest(L, m, merged);
	} else {
		t->part_digest[WARD_PART_SESSIONS] = canon(L, NULL);
	}
	t->part_digest[WARD_PART_DISPLAY_NAME] = canon(L, json_object_get(root, "display_name"));
	t->part_digest[WARD_PART_LIMITS] = canon(L, json_object_get(root, "limits"));
	t->part_digest[WARD_PART_NETWORK] = canon(L, json_object_get(root, "network"));
	return t;
}

/* ======================================================================
 * The load: set-up, order of the errors, tear-down
 * ====================================================================== */

static int loader_init(struct loader *L, const char *name)
{
	const char *slash = strrchr(name, '/');
	json_error_t e;

	if (!slash)
		L->profile_dir = strdup(".");
	else if (slash == name)
		L->profile_dir = strdup("/");
	else
		L->profile_dir = strndup(name, (size_t)(slash - name));
	L->pos = jsonpos_new();
	L->defaults = json_loads(policy_defaults, 0, &e);
	L->keep = json_array();
	if (!L->profile_dir || !L->pos || !L->defaults || !L->keep) {
		L->oom = true;
		return -1;
	}
	return 0;
}

static void loader_free(struct loader *L)
{
	while (L->docs) {
		struct doc *d = L->docs;
		L->docs = d->next;
		json_decref(d->root);
		free(d->file);
		free(d);
	}
	while (L->frags) {
		struct frag *f = L->frags;
		L->frags = f->next;
		free(f->name);
		free(f->path);
		free(f);
	}
	json_decref(L->keep);
	json_decref(L->defaults);
	jsonpos_free(L->pos);
	free(L->profile_dir);
}

struct diag_key {
	size_t rank, idx;
	const struct ward_diag_entry *e;
};

static int diag_key_cmp(const void *a, const void *b)
{
	const struct diag_key *x = a, *y = b;
	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	if (x->e->line != y->e->line)
		return x->e->line < y->e->line ? -1 : 1;
	if (x->e->col != y->e->col)
		return x->e->col < y->e->col ? -1 : 1;
	return (x->idx > y->idx) - (x->idx < y->idx);
}

static bool diag_same(const struct ward_diag_entry *a, const struct ward_diag_entry *b)
{
	return a->line == b->line && a->col == b->col && strcmp(a->file, b->file) == 0 &&
	       strcmp(a->path, b->path) == 0 && strcmp(a->message, b->message) == 0;
}

static void diag_entry_free(struct ward_diag_entry *e)
{
	free(e->file);
	free(e->path);
	free(e->message);
}

/* This load's errors in reading order: the profile first, then each other
 * file in the order it first came up, by line and column; a message that a
 * shared fragment caused for several services is kept once. */
static void diag_order(struct loader *L)
{
	struct ward_diag *d = L->diag;
	size_t n = d->n - L->first, out = 0;

	if (n == 0)
		return;
	struct diag_key *k = calloc(n, sizeof(*k));
	struct ward_diag_entry *v = calloc(n, sizeof(*v));
	if (!k || !v) {
		free(k);
		free(v);
		return;
	}
	/* Few files take part in a load; remember each one's rank. */
	const char *files[64];
	size_t n_files = 0;
	for (size_t i = 0; i < n; i++) {
		const struct ward_diag_entry *e = &d->v[L->first + i];
		size_t rank = 0;
		if (strcmp(e->file, L->profile) != 0) {
			while (rank < n_files && strcmp(files[rank], e->file) != 0)
				rank++;
			if (rank == n_files && n_files < 64)
				files[n_files++] = e->file;
			rank++;
		}
		k[i] = (struct diag_key){rank, i, e};
	}
	qsort(k, n, sizeof(*k), diag_key_cmp);
	for (size_t i = 0; i < n; i++) {
		struct ward_diag_entry e = *k[i].e;
		if (out > 0 && diag_same(&v[out - 1], &e))
			diag_entry_free(&e);
		else
			v[out++] = e;
	}
	memcpy(d->v + L->first, v, out * sizeof(*v));
	d->n = L->first + out;
	free(k);
	free(v);
}

int profile_load_buffer(const char *name, const char *data, size_t len,
			const struct profile_options *opts, struct ward_tenant **out,
			struct ward_diag *diag)
{
	struct ward_diag local = {0};
	struct loader L = {.diag = diag ? diag : &local, .profile = name, .opts = opts};
	struct ward_tenant *t = NULL;
	struct doc *d;

	L.first = L.diag->n;
	if (loader_init(&L, name) == 0 && (d = doc_parse(&L, name, data, len)))
		t = tenant_read(&L, d);
	int r = (!t || errors(&L) > 0) ? -1 : 0;
	if (L.oom)
		diag_add(L.diag, name, 0, 0, "", "out of memory");
	diag_order(&L);
	if (L.suppressed)
		diag_add(L.diag, name, 0, 0, "", "and %zu more errors not shown", L.suppressed);
	loader_free(&L);
	diag_free(&local);
	if (r < 0) {
		tenant_free(t);
		return -1;
	}
	*out = t;
	return 0;
}

int profile_load(const char *path, const struct profile_options *opts, struct ward_tenant **out,
		 struct ward_diag *diag)
{
	struct read_error err;
	size_t len;
	_cleanup_free_ char *data = file_read(path, opts && opts->trusted, &len, &err);

	if (!data) {
		if (diag)
			diag_add(diag, path, 0, 0, "", "%s%s%s", READ_ERROR_ARGS(err));
		return -1;
	}
	/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): data is _cleanup_free_ */
	return profile_load_buffer(path, data, len, opts, out, diag);
}
