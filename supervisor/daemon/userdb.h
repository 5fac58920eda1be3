/* Who a uid is, by the system's name service (passwd and group through NSS:
 * files, sssd, LDAP...), without the daemon's loop ever waiting for it.
 *
 * A hung sssd or LDAP server blocks getpwuid_r() for minutes (sssd's client
 * gives up after 300 s); called on the loop, that would stall the
 * supervision of every tenant. So lookups run in a helper process, one at a
 * time, each within a deadline: past it the helper is killed, that lookup
 * and every other that has waited as long fail with ETIMEDOUT (a logon is
 * refused, never let in), and the rest get a new helper. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct loop;
struct userdb;
struct userdb_query;

#define USERDB_TIMEOUT_MS 5000
/* More groups than this: the lookup fails with E2BIG (refused). */
#define USERDB_MAX_GROUPS 16384
#define USERDB_NAME_MAX   256
/* The bytes all of a user's group names may take (with their NULs): more is
 * E2BIG, refused. One answer must fit a socket buffer of the default size. */
#define USERDB_GROUP_NAMES_MAX (128 * 1024)

struct userdb_answer {
	uid_t uid;
	/* 0; ENOENT: no such user; ETIMEDOUT: the name service did not answer
	 * in time; E2BIG: too many groups or too long a name; EIO: the
	 * helper failed or died. */
	int err;
	const char *name;    /* with err 0 */
	const gid_t *groups; /* with err 0 and groups asked for: every group, */
	size_t n_groups;     /* the primary one included */
	/* n_groups names, each NUL-terminated, in the order of groups: the
	 * name the name service gives that gid ("" if none). */
	const char *group_names;
};

/* Called once per lookup, from the loop (never from within userdb_lookup);
 * the answer lives until it returns. */
typedef void (*userdb_fn)(const struct userdb_answer *a, void *ud);

/* What the helper runs for a lookup: the name into name (size bytes) and,
 * when groups is not NULL, up to *n groups and their names into names
 * (*names_len bytes; set to the bytes used): one NUL-terminated name per
 * gid, "" for a gid without one. Group names are resolved here, in the
 * helper, so that the daemon matches a user's groups against profiles'
 * group names without a name-service call of its own. Returns 0 or an
 * errno as in userdb_answer. Tests pass their own; NULL is the system's
 * (NSS). */
typedef int (*userdb_resolve_fn)(uid_t uid, char *name, size_t size, gid_t *groups, size_t *n,
				 char *names, size_t *names_len);

/* timeout_ms 0: USERDB_TIMEOUT_MS. The helper starts with the first
 * lookup. */
struct userdb *userdb_new(struct loop *l, unsigned timeout_ms, userdb_resolve_fn resolve);
/* Ends the helper; lookups still waiting get no answer. */
void userdb_free(struct userdb *db);

/* Asks who uid is (and its groups, if want_groups). NULL only when out of
 * memory; any failure after that comes through fn. */
struct userdb_query *userdb_lookup(struct userdb *db, uid_t uid, bool want_groups, userdb_fn fn,
				   void *ud);
/* fn will not be called. q must still be waiting (not answered yet). */
void userdb_cancel(struct userdb *db, struct userdb_query *q);

/* The helper's pid, or -1 if none runs (tests). */
pid_t userdb_helper_pid(const struct userdb *db);
