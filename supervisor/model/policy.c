/* Policies: the merge of a policy list's fragments over the defaults, later
 * ones overriding earlier ones key by key, and its digest. */
#include "model/profile.h"
#include "model/profile-internal.h"

#include "basic/jsonpos.h"

#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <string.h>

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
		pl_report(L, m, "max_delay_ms %" PRIu64 " is less than delay_ms %" PRIu64,
			  r->max_delay_ms, r->delay_ms);
	else
		pl_report(L, d, "delay_ms %" PRIu64 " is greater than max_delay_ms %" PRIu64,
			  r->delay_ms, r->max_delay_ms);
}

void policy_init(struct ward_policy *p)
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
		const char *name = pl_get_string(L, item, at);
		if (!name)
			return NULL;
		/* Names only: a fragment reference can never leave the directories. */
		if (!ward_name_valid(name)) {
			pl_report(L, at, "invalid name %s: must match " NAME_RULE, Q(name));
			return NULL;
		}
		return pl_frag_get(L, name, at);
	}
	if (json_is_object(item))
		return pl_fragment_check(L, item, at) ? item : NULL;
	pl_report(L, at, "expected string or object, got %s", jsonpos_type_name(item));
	return NULL;
}

/* Resolves a policy list (NULL: none) into *p. Returns the merged policy
 * (alive until the end of the load), or NULL when something was wrong. */
json_t *policy_resolve(struct loader *L, json_t *list, const struct jsonpos_entry *at,
		       struct ward_policy *p)
{
	size_t n = list ? json_array_size(list) : 0;
	json_t *merged = L->defaults;
	bool ok = true;

	policy_init(p);
	if (list && !pl_want(L, list, at, JSON_ARRAY, "array"))
		return NULL;
	/* Every item is checked, even after a bad one: all errors, not the first. */
	for (size_t i = 0; i < n; i++)
		if (!policy_item(L, json_array_get(list, i), AT_IDX(L, list, i)))
			ok = false;
	for (size_t i = 0; ok && i < n; i++) {
		json_t *item = json_array_get(list, i);
		json_t *frag =
		    json_is_string(item) ? pl_frag_get(L, json_string_value(item), NULL) : item;
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
char *pl_digest_make(struct loader *L, json_t *exec, json_t *merged)
{
	json_t *d = json_pack("{s:O?,s:O}", "exec", exec, "policy", merged);
	char *s = d ? json_dumps(d, JSON_SORT_KEYS | JSON_COMPACT) : NULL;

	json_decref(d);
	if (!s)
		L->oom = true;
	return s;
}

/* Canonical JSON of one value as written; "null" for none. */
char *pl_canon(struct loader *L, json_t *v)
{
	char *s = json_dumps(v ? v : json_null(), JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);

	if (!s)
		L->oom = true;
	return s;
}
