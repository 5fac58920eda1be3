/* Policy fragments: each section (filesystem, seccomp, capabilities,
 * limits, restart, env) read into struct ward_policy. */
#include "model/profile.h"
#include "model/profile-internal.h"

#include "basic/jsonpos.h"
#include "model/names.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* ======================================================================
 * Policy fragments: each section read into struct ward_policy
 * ====================================================================== */

static void bind_read(struct loader *L, json_t *v, const struct jsonpos_entry *at,
		      struct ward_bind *b)
{
	static const char *const keys[] = {"src", "dst", NULL};
	json_t *m;

	if (json_is_string(v)) {
		b->src = pl_get_path(L, v, at, PATH_TARGET);
		b->dst = b->src ? pl_xstrdup(L, b->src) : NULL;
		return;
	}
	if (!json_is_object(v)) {
		pl_report(L, at, "expected string or object, got %s", jsonpos_type_name(v));
		return;
	}
	pl_check_object(L, v, at, keys, keys);
	if ((m = json_object_get(v, "src")))
		b->src = pl_get_path(L, m, AT_KEY(L, v, "src"), PATH_SOURCE);
	if ((m = json_object_get(v, "dst")))
		b->dst = pl_get_path(L, m, AT_KEY(L, v, "dst"), PATH_TARGET);
}

static void binds_read(struct loader *L, json_t *v, const struct jsonpos_entry *at,
		       struct ward_bind **out, size_t *n_out)
{
	struct ward_bind *b = NULL;
	size_t n;
	if (!pl_array_begin(L, v, at, false, sizeof(*b), (void **)&b, &n))
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

	if (!pl_want(L, v, at, JSON_OBJECT, "object"))
		return;
	fs->tmpfs = pl_xcalloc(L, json_object_size(v), sizeof(*fs->tmpfs));
	if (!fs->tmpfs)
		return;
	json_object_foreach(v, k, m)
	{
		const struct jsonpos_entry *mat = AT_KEY(L, v, k);
		uint64_t size;
		bool ok = pl_path_ok(L, k, mat, PATH_TARGET);
		if (!pl_get_size(L, m, mat, &size) || !ok)
			continue;
		if (size == 0) {
			/* tmpfs takes size=0 as "no limit": never what was meant. */
			pl_report(L, mat, "must not be 0: a tmpfs of size 0 is unlimited");
			continue;
		}
		struct ward_tmpfs *t = &fs->tmpfs[fs->n_tmpfs];
		if ((t->path = pl_xstrdup(L, k))) {
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

	if (!pl_check_object(L, v, at, keys, NULL))
		return;
	if ((m = json_object_get(v, "ro")))
		binds_read(L, m, AT_KEY(L, v, "ro"), &fs->ro, &fs->n_ro);
	if ((m = json_object_get(v, "rw")))
		binds_read(L, m, AT_KEY(L, v, "rw"), &fs->rw, &fs->n_rw);
	if ((m = json_object_get(v, "data")))
		fs->data = pl_get_path(L, m, AT_KEY(L, v, "data"), PATH_TARGET);
	if ((m = json_object_get(v, "tmpfs")))
		tmpfs_read(L, m, AT_KEY(L, v, "tmpfs"), fs);
	if ((m = json_object_get(v, "hide")))
		pl_strv_read(L, m, AT_KEY(L, v, "hide"), false, pl_item_mask, &fs->hide,
			     &fs->n_hide);
	if ((m = json_object_get(v, "proc_subset")))
		fs->proc_pid_only = pl_get_enum(L, m, AT_KEY(L, v, "proc_subset"), subsets) == 1;
	if ((m = json_object_get(v, "noexec")))
		pl_get_bool(L, m, AT_KEY(L, v, "noexec"), &fs->noexec);
}

/* ["unix", "inet", ...]: only these; ["any"]: no restriction. */
static void families_read(struct loader *L, json_t *v, const struct jsonpos_entry *at,
			  struct ward_seccomp *sc)
{
	bool any = false;

	if (!pl_want(L, v, at, JSON_ARRAY, "array"))
		return;
	sc->restrict_families = true;
	sc->address_families = 0;
	for (size_t i = 0; i < json_array_size(v); i++) {
		const struct jsonpos_entry *iat = AT_IDX(L, v, i);
		const char *s = pl_get_string(L, json_array_get(v, i), iat);
		int af = s ? seccomp_family_from_name(s) : -1;

		if (s && strcmp(s, "any") == 0)
			any = true;
		else if (s && af < 0)
			pl_report(L, iat, "unknown address family %s", Q(s));
		else if (s)
			sc->address_families |= UINT64_C(1) << af;
	}
	if (any && json_array_size(v) != 1)
		pl_report(L, at, "\"any\" stands alone");
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

	if (!pl_check_object(L, v, at, keys, NULL))
		return;
	if ((m = json_object_get(v, "default")) &&
	    (i = pl_get_enum(L, m, AT_KEY(L, v, "default"), actions)) >= 0)
		sc->default_action = (enum seccomp_default)i;
	if ((m = json_object_get(v, "allow")))
		pl_strv_read(L, m, AT_KEY(L, v, "allow"), false, pl_item_syscall, &sc->allow,
			     &sc->n_allow);
	if ((m = json_object_get(v, "deny")))
		pl_strv_read(L, m, AT_KEY(L, v, "deny"), false, pl_item_syscall, &sc->deny,
			     &sc->n_deny);
	if ((m = json_object_get(v, "log_denied")))
		pl_get_bool(L, m, AT_KEY(L, v, "log_denied"), &sc->log_denied);
	if ((m = json_object_get(v, "abis")))
		pl_strv_read(L, m, AT_KEY(L, v, "abis"), false, pl_item_abi, &sc->abis,
			     &sc->n_abis);
	if ((m = json_object_get(v, "restrict_namespaces")))
		pl_get_bool(L, m, AT_KEY(L, v, "restrict_namespaces"), &sc->restrict_namespaces);
	if ((m = json_object_get(v, "address_families")))
		families_read(L, m, AT_KEY(L, v, "address_families"), sc);
}

static void capabilities_read(struct loader *L, json_t *v, const struct jsonpos_entry *at,
			      uint64_t *keep)
{
	static const char *const keys[] = {"keep", NULL};
	json_t *m;

	if (!pl_check_object(L, v, at, keys, NULL) || !(m = json_object_get(v, "keep")))
		return;
	at = AT_KEY(L, v, "keep");
	if (!pl_want(L, m, at, JSON_ARRAY, "array"))
		return;
	for (size_t i = 0; i < json_array_size(m); i++) {
		const struct jsonpos_entry *iat = AT_IDX(L, m, i);
		const char *s = pl_get_string(L, json_array_get(m, i), iat);
		int cap = s ? caps_from_name(s) : -1;
		if (s && (cap < 0 || cap > 63))
			pl_report(L, iat, "unknown capability %s", Q(s));
		else if (s)
			*keep |= UINT64_C(1) << cap;
	}
}

static void cpu_read(struct loader *L, json_t *v, const struct jsonpos_entry *at, double *cpu)
{
	if (!json_is_number(v)) {
		pl_report(L, at, "expected number, got %s", jsonpos_type_name(v));
		return;
	}
	double x = json_number_value(v);
	if (!(x > 0 && x <= 1024)) {
		pl_report(L, at, "must be greater than 0 and at most 1024, got %g", x);
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

	if (!pl_check_object(L, v, at, keys, NULL))
		return;
	if ((m = json_object_get(v, "memory")))
		pl_get_size(L, m, AT_KEY(L, v, "memory"), &lim->memory);
	if ((m = json_object_get(v, "pids")))
		pl_get_uint(L, m, AT_KEY(L, v, "pids"), 1, NO_MAX, &lim->pids);
	if ((m = json_object_get(v, "cpu")))
		cpu_read(L, m, AT_KEY(L, v, "cpu"), &lim->cpu);
	if ((m = json_object_get(v, "nofile")))
		pl_get_uint(L, m, AT_KEY(L, v, "nofile"), 1, 1048576, &lim->nofile);
	if ((m = json_object_get(v, "core")))
		pl_get_size(L, m, AT_KEY(L, v, "core"), &lim->core);
}

static void limits_read(struct loader *L, json_t *v, const struct jsonpos_entry *at,
			struct ward_limits *lim)
{
	static const char *const keys[] = {"memory", "pids", "cpu", "nofile", "core", NULL};

	limits_read_keys(L, v, at, keys, lim);
}

void tenant_limits_read(struct loader *L, json_t *v, const struct jsonpos_entry *at,
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

	if (!pl_check_object(L, v, at, keys, NULL))
		return;
	if ((m = json_object_get(v, "on")) && (i = pl_get_enum(L, m, AT_KEY(L, v, "on"), ons)) >= 0)
		r->on = (enum restart_on)i;
	if ((m = json_object_get(v, "delay_ms")))
		pl_get_uint(L, m, AT_KEY(L, v, "delay_ms"), 0, 86400000, &r->delay_ms);
	if ((m = json_object_get(v, "max_delay_ms")))
		pl_get_uint(L, m, AT_KEY(L, v, "max_delay_ms"), 0, 86400000, &r->max_delay_ms);
	if ((m = json_object_get(v, "burst")))
		pl_get_u32(L, m, AT_KEY(L, v, "burst"), 1, 1000, &r->burst);
	if ((m = json_object_get(v, "interval_s")))
		pl_get_u32(L, m, AT_KEY(L, v, "interval_s"), 1, 86400, &r->interval_s);
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

	if (!pl_want(L, v, at, JSON_OBJECT, "object"))
		return;
	if (!(p->env = pl_xcalloc(L, json_object_size(v) + 1, sizeof(char *))))
		return;
	json_object_foreach(v, k, m)
	{
		const struct jsonpos_entry *mat = AT_KEY(L, v, k);
		const char *val = NULL;
		if (!pl_env_name_valid(k))
			pl_report(L, mat,
				  "invalid environment variable name %s: must match " ENV_RULE,
				  Q(k));
		if (json_is_null(m))
			continue;
		if (!json_is_string(m))
			pl_report(L, mat, "expected string or null, got %s", jsonpos_type_name(m));
		else
			val = pl_get_string(L, m, mat);
		if (!val || !pl_env_name_valid(k))
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
void policy_read(struct loader *L, json_t *v, const struct jsonpos_entry *at, struct ward_policy *p)
{
	json_t *m;

	if (!pl_check_object(L, v, at, policy_keys, NULL))
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
		pl_get_u32(L, m, AT_KEY(L, v, "stop_timeout_s"), 1, 3600, &p->stop_timeout_s);
	if ((m = json_object_get(v, "env")))
		env_read(L, m, AT_KEY(L, v, "env"), p);
	if ((m = json_object_get(v, "user_namespace")))
		pl_get_bool(L, m, AT_KEY(L, v, "user_namespace"), &p->user_namespace);
}

/* Checks a fragment on its own, where it was written; true when valid. */
bool pl_fragment_check(struct loader *L, json_t *v, const struct jsonpos_entry *at)
{
	struct ward_policy scratch = {0};
	size_t before = pl_errors(L);

	policy_read(L, v, at, &scratch);
	policy_free(&scratch);
	return pl_errors(L) == before;
}
