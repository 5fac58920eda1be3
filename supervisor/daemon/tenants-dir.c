/* Loading the tenants dir: every TENANT.json, checked (trusted file, name,
 * ids, subordinate ids, overlaps, networks), sorted by name. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "basic/log.h"
#include "daemon/supervise-internal.h"
#include "model/subid.h"

/* The checks a profile file must pass before it is even parsed: the daemon
 * runs what it says as root's delegate. */
static int profile_file_trusted(int dirfd, const char *name, struct ward_err *err)
{
	struct stat st;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return ward_err_set(err, errno, "stat");
	if (!S_ISREG(st.st_mode))
		return ward_err_set(err, 0, "not a regular file%s",
				    S_ISLNK(st.st_mode) ? " (a symlink)" : "");
	if (st.st_uid != 0)
		return ward_err_set(err, 0, "owned by uid %u, must be root's", st.st_uid);
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return ward_err_set(err, 0, "writable by group or others (mode %03o)",
				    st.st_mode & 0777);
	return 0;
}

static void reject(struct supervisor *s, struct loaded *l, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void reject(struct supervisor *s, struct loaded *l, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap); /* a long message may be cut */
	va_end(ap);
	if (!l->errors)
		l->errors = json_array();
	json_array_append_new(l->errors, json_string(msg));
	(void)s;
}

static void diag_to_errors(struct loaded *l, const struct ward_diag *d)
{
	for (size_t i = 0; i < d->n; i++) {
		const struct ward_diag_entry *e = &d->v[i];
		char msg[1536];

		if (e->line)
			(void)snprintf(msg, sizeof(msg), "%s:%u:%u: %s%s%s", e->file, e->line,
				       e->col, e->path, e->path[0] ? ": " : "", e->message);
		else
			(void)snprintf(msg, sizeof(msg), "%s: %s%s%s", e->file, e->path,
				       e->path[0] ? ": " : "", e->message);
		if (!l->errors)
			l->errors = json_array();
		json_array_append_new(l->errors, json_string(msg));
	}
}

static void load_one(struct supervisor *s, int dirfd, const char *file, struct loaded *l)
{
	struct profile_options popts = {.policy_dirs = (const char *const *)s->cfg->policy_dirs,
					.n_policy_dirs = s->cfg->n_policy_dirs,
					.trusted = true};
	struct ward_diag diag = {0};
	struct ward_err err = {0};
	size_t len = strlen(file) - 5;

	memcpy(l->name, file, len);
	l->name[len] = '\0';
	/* A cut path would load another file than the one checked below. */
	if (snprintf(l->path, sizeof(l->path), "%s/%s", s->cfg->tenants_dir, file) >=
	    (int)sizeof(l->path)) {
		reject(s, l, "%s/%s: path too long", s->cfg->tenants_dir, file);
		return;
	}
	if (profile_file_trusted(dirfd, file, &err) < 0) {
		reject(s, l, "%s: %s", l->path, err.msg);
		return;
	}
	if (profile_load(l->path, &popts, &l->profile, &diag) < 0) {
		diag_to_errors(l, &diag);
		diag_free(&diag);
		l->profile = NULL;
		return;
	}
	if (strcmp(l->profile->name, l->name) != 0)
		reject(s, l, "%s: tenant \"%s\" must be in a file named %s.json", l->path,
		       l->profile->name, l->profile->name);
	else if (!l->profile->ids.set)
		reject(s, l, "%s: ids: required (pool allocation comes with onboarding)", l->path);
	if (l->errors) {
		tenant_free(l->profile);
		l->profile = NULL;
	}
}

static int loaded_cmp(const void *a, const void *b)
{
	return strcmp(((const struct loaded *)a)->name, ((const struct loaded *)b)->name);
}

static bool ids_overlap(const struct ward_ids *a, const struct ward_ids *b)
{
	return (uint64_t)a->uid < (uint64_t)b->uid + b->count &&
	       (uint64_t)b->uid < (uint64_t)a->uid + a->count;
}

static void reject_overlap(struct supervisor *s, struct loaded *l, const char *other,
			   const struct ward_ids *b)
{
	reject(s, l, "%s: ids: uid range %u+%u overlaps tenant %s (%u+%u)", l->path,
	       l->profile->ids.uid, l->profile->ids.count, other, b->uid, b->count);
	tenant_free(l->profile);
	l->profile = NULL;
}

/* Overlapping uid ranges would let two tenants share files and signals.
 * A running tenant keeps its ids (also one whose new profile is refused):
 * a profile colliding with another running tenant is the one refused;
 * between two profiles that collide otherwise, the later by name. */
static void reject_overlaps(struct supervisor *s, struct loaded *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (struct tenant_rt *t = s->tenants; t && v[i].profile; t = t->next)
			if (!t->removing && strcmp(t->profile->name, v[i].name) != 0 &&
			    ids_overlap(&v[i].profile->ids, &t->profile->ids))
				reject_overlap(s, &v[i], t->profile->name, &t->profile->ids);
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < i && v[i].profile; j++)
			if (v[j].profile && ids_overlap(&v[i].profile->ids, &v[j].profile->ids))
				reject_overlap(s, &v[i], v[j].name, &v[j].profile->ids);
}

/* A tenant range that shares an id with a host user's subordinate ids
 * (subid.h) is refused: that user could become the tenant's uids in a user
 * namespace of its own. Files that cannot be read refuse every profile
 * (fail closed: the ranges cannot be known). Read once per load. */
static void reject_subids(struct supervisor *s, struct loaded *v, size_t n)
{
	struct subids ids;
	struct ward_err err = {0};
	bool ok = subids_load(s->cfg->subuid_file, s->cfg->subgid_file, &ids, &err) == 0;

	for (size_t i = 0; i < n; i++) {
		struct loaded *l = &v[i];
		struct ward_err why = {0};

		if (!l->profile || (ok && subids_check(&ids, "ids: uid range", l->profile->ids.uid,
						       l->profile->ids.count, &why) == 0))
			continue;
		if (ok)
			reject(s, l, "%s: %s", l->path, why.msg);
		else
			reject(s, l, "%s: ids: cannot check the host's subordinate ids: %s",
			       l->path, err.msg);
		tenant_free(l->profile);
		l->profile = NULL;
	}
	subids_free(&ids);
}

/* Is a running tenant's profile kept (its new file refused), so that the
 * loaded ones must not collide with it? */
static bool keeps_old_profile(const struct loaded *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].name, name) == 0)
			return !v[i].profile;
	return false; /* its file is gone: it is being removed */
}

/* Subnets and host ports: checked against the tenants that stay and the
 * profiles accepted before, then addresses allocated. Profiles with their
 * own subnet go first, so the pool never hands out a subnet a profile
 * names. */
static void reject_network(struct supervisor *s, struct loaded *v, size_t n)
{
	const struct ward_tenant **others;
	size_t n_tenants = 0, n_others;

	if (!s->net)
		return;
	for (struct tenant_rt *t = s->tenants; t; t = t->next)
		n_tenants++;
	others = calloc(n_tenants + n + 1, sizeof(*others));
	if (!others)
		return;
	n_others = 0;
	for (struct tenant_rt *t = s->tenants; t; t = t->next)
		if (!t->removing && keeps_old_profile(v, n, t->profile->name))
			others[n_others++] = t->profile;
	network_alloc_defer(s->net);
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < n; i++) {
			struct loaded *l = &v[i];
			struct ward_err err = {0};

			if (!l->profile || !l->profile->network.present ||
			    l->profile->network.has_subnet != (pass == 0))
				continue;
			if (network_check(s->net, l->profile, others, n_others, &err) < 0 ||
			    network_tenant_prepare(s->net, l->profile, &l->net, &err) < 0) {
				reject(s, l, "%s: %s", l->path, err.msg);
				tenant_free(l->profile);
				l->profile = NULL;
				continue;
			}
			others[n_others++] = l->profile;
		}
	{
		struct ward_err err = {0};

		/* Kept in memory: the next flush writes them. */
		if (network_alloc_flush(s->net, &err) < 0)
			log_msg("allocations: %s", err.msg);
	}
	free(others);
}

/* Reads every TENANT.json of the tenants dir, sorted by name, refusing
 * uid ranges of the host's subordinate ids (reject_subids), overlapping uid
 * ranges (reject_overlaps) and networks (reject_network). */
struct loaded *tenants_dir_load(struct supervisor *s, size_t *n_out)
{
	DIR *d = opendir(s->cfg->tenants_dir);
	struct loaded *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;

	*n_out = 0;
	if (!d) {
		log_msg("tenants directory %s: %s", s->cfg->tenants_dir, strerror(errno));
		return NULL;
	}
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);
		char stem[256];

		if (len <= 5 || strcmp(e->d_name + len - 5, ".json") != 0 || e->d_name[0] == '.')
			continue;
		if (len - 5 >= sizeof(stem))
			continue;
		memcpy(stem, e->d_name, len - 5);
		stem[len - 5] = '\0';
		if (n == cap) {
			struct loaded *nv = realloc(v, (cap ? 2 * cap : 16) * sizeof(*nv));
			if (!nv)
				break;
			v = nv;
			cap = cap ? 2 * cap : 16;
		}
		memset(&v[n], 0, sizeof(v[n]));
		if (!ward_name_valid(stem)) {
			(void)snprintf(v[n].name, sizeof(v[n].name), "%.24s", stem);
			(void)snprintf(v[n].path, sizeof(v[n].path), "%s/%s", s->cfg->tenants_dir,
				       e->d_name);
			reject(s, &v[n], "%s: file name is not a valid tenant name", v[n].path);
			n++;
			continue;
		}
		load_one(s, dirfd(d), e->d_name, &v[n]);
		n++;
	}
	closedir(d);
	if (n > 1) /* v is NULL for an empty directory: not for qsort */
		qsort(v, n, sizeof(*v), loaded_cmp);
	reject_subids(s, v, n);
	reject_overlaps(s, v, n);
	reject_network(s, v, n);
	*n_out = n;
	return v;
}

void loaded_audit_rejected(struct supervisor *s, struct loaded *l)
{
	for (size_t i = 0; i < json_array_size(l->errors); i++)
		log_msg("%s", json_string_value(json_array_get(l->errors, i)));
	audit_event(
	    s->audit, "profile-rejected",
	    json_pack("{s:s, s:s, s:O}", "file", l->path, "tenant", l->name, "errors", l->errors));
}

void loaded_free(struct loaded *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		tenant_free(v[i].profile);
		json_decref(v[i].errors);
		tenant_net_free(&v[i].net);
	}
	free(v);
}
