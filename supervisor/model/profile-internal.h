/* Inside the profile loader (model/profile*.c, model/policy.c): its state,
 * the documents and fragments it read, and the functions its files share.
 * Nothing outside the loader includes this; profile.h is the API. Errors go
 * to the loader (pl_report()), never returned: every reader goes on so that one
 * load reports every error. */
#pragma once

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "basic/jsonpos.h"
#include "model/profile.h"

#define NO_MAX         UINT64_MAX
#define UID_MIN_TENANT 65536u      /* below: host users and system accounts */
#define UID_MAX_TENANT 4294967294u /* (uid_t)-1 is "no uid" */
#define NAME_RULE      "[a-z][a-z0-9-]{0,23}"
#define GROUP_RULE     "[a-z_][a-z0-9_-]{0,31}"
#define ENV_RULE       "[A-Za-z_][A-Za-z0-9_]*"

enum cidr_result { CIDR_OK, CIDR_SYNTAX, CIDR_HOST_BITS };

/* Why a file could not be read: a phrase, and errno when there is one. */
struct read_error {
	char what[256];
	int errnum;
};

/* "cannot open: No such file or directory" as the arguments of "%s%s%s". */
#define READ_ERROR_ARGS(e) (e).what, (e).errnum ? ": " : "", (e).errnum ? strerror((e).errnum) : ""

_Static_assert(WARD_PROFILE_MAX_BYTES == 4194304, "update the message in pl_file_read()");

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

/* User text in a message: quoted, escaped, cut short, so a profile cannot
 * write control sequences to an operator's terminal (pl_quote() in
 * profile-json.c). */
#define QUOTE_MAX 96
const char *pl_quote(const char *s, char *buf);
#define Q(s) pl_quote((s), (char[QUOTE_MAX]){0})

/* A source is read on the host; a target is mounted on inside the sandbox,
 * where "/", /proc and /dev are ward's own; a masked path may be anywhere. */
enum path_use { PATH_SOURCE, PATH_TARGET, PATH_MASK };

typedef char *(*item_fn)(struct loader *L, json_t *v, const struct jsonpos_entry *at);

/* profile-diag.c */
int pl_diag_addv(struct ward_diag *d, const char *file, unsigned line, unsigned col,
		 const char *path, const char *fmt, va_list ap)
    __attribute__((format(printf, 6, 0)));

/* profile-values.c */
bool pl_group_name_valid(const char *s);
bool pl_env_name_valid(const char *s);
int pl_parse_dec(const char *s, const char **end, uint64_t max, uint64_t *out);
enum cidr_result pl_cidr_parse(const char *s, struct ward_cidr *out);
void policy_free(struct ward_policy *p);

/* profile-json.c */
size_t pl_errors(const struct loader *L);
void pl_report(struct loader *L, const struct jsonpos_entry *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void *pl_xcalloc(struct loader *L, size_t n, size_t size);
char *pl_xstrdup(struct loader *L, const char *s);
bool pl_want(struct loader *L, const json_t *v, const struct jsonpos_entry *at, json_type t,
	     const char *expected);
bool pl_check_object(struct loader *L, json_t *v, const struct jsonpos_entry *at,
		     const char *const allowed[], const char *const required[]);
const char *pl_get_string(struct loader *L, json_t *v, const struct jsonpos_entry *at);
char *pl_dup_string(struct loader *L, json_t *v, const struct jsonpos_entry *at);
bool pl_get_uint(struct loader *L, json_t *v, const struct jsonpos_entry *at, uint64_t min,
		 uint64_t max, uint64_t *out);
bool pl_get_u32(struct loader *L, json_t *v, const struct jsonpos_entry *at, uint32_t min,
		uint32_t max, uint32_t *out);
bool pl_get_port(struct loader *L, json_t *v, const struct jsonpos_entry *at, uint16_t *out);
bool pl_get_bool(struct loader *L, json_t *v, const struct jsonpos_entry *at, bool *out);
bool pl_get_size(struct loader *L, json_t *v, const struct jsonpos_entry *at, uint64_t *out);
int pl_get_enum(struct loader *L, json_t *v, const struct jsonpos_entry *at,
		const char *const names[]);
char *pl_get_name(struct loader *L, json_t *v, const struct jsonpos_entry *at);
bool pl_path_ok(struct loader *L, const char *p, const struct jsonpos_entry *at, enum path_use use);
char *pl_get_path(struct loader *L, json_t *v, const struct jsonpos_entry *at, enum path_use use);
bool pl_array_begin(struct loader *L, json_t *v, const struct jsonpos_entry *at, bool nonempty,
		    size_t item_size, void **out, size_t *n);
void pl_strv_read(struct loader *L, json_t *v, const struct jsonpos_entry *at, bool nonempty,
		  item_fn fn, char ***out, size_t *n_out);
char *pl_item_mask(struct loader *L, json_t *v, const struct jsonpos_entry *at);
char *pl_item_syscall(struct loader *L, json_t *v, const struct jsonpos_entry *at);
char *pl_item_abi(struct loader *L, json_t *v, const struct jsonpos_entry *at);
char *pl_item_group(struct loader *L, json_t *v, const struct jsonpos_entry *at);
void pl_exec_read(struct loader *L, json_t *v, const struct jsonpos_entry *at, char ***out,
		  size_t *n_out);

/* profile-sections.c */
void tenant_limits_read(struct loader *L, json_t *v, const struct jsonpos_entry *at,
			struct ward_limits *lim);
void policy_read(struct loader *L, json_t *v, const struct jsonpos_entry *at,
		 struct ward_policy *p);
bool pl_fragment_check(struct loader *L, json_t *v, const struct jsonpos_entry *at);

/* profile-files.c */
char *pl_file_read(const char *path, bool trusted, size_t *len, struct read_error *err);
struct doc *pl_doc_parse(struct loader *L, const char *file, const char *text, size_t len);
json_t *pl_frag_get(struct loader *L, const char *name, const struct jsonpos_entry *at);

/* policy.c */
void policy_init(struct ward_policy *p);
json_t *policy_resolve(struct loader *L, json_t *list, const struct jsonpos_entry *at,
		       struct ward_policy *p);
char *pl_digest_make(struct loader *L, json_t *exec, json_t *merged);
char *pl_canon(struct loader *L, json_t *v);

/* profile-tenant.c */
struct ward_tenant *tenant_read(struct loader *L, const struct doc *d);
