/* The `inet ward` nftables table: fixed base chains, with every tenant's
 * part held in set and map elements, applied through libnftables in a helper
 * process that owns one long-lived nft context.
 *
 * Why elements and not a chain per service: libnftables 1.0.6 fetches every
 * chain and every named object of the table (its cache) before it evaluates
 * an `add rule` or `add element`, and every commit invalidates that cache.
 * Measured on the development machine (2 vCPU VM) at 1000 tenants of 3
 * services, a tenant added or removed cost 15-30 ms with three chains and a
 * named counter per service, and ~0.3 ms with elements only (the sets are
 * few, and only elements of interval sets would be fetched: there are none,
 * egress CIDRs go to one hash set per prefix length instead).
 *
 * This file holds what is installed (each tenant's elements, and who owns
 * which interface, address and host port), the transactions that change it
 * and the API. The elements are made in firewall-model.c, the base table in
 * firewall-base.c, the nft text runs in the helper of nft-helper.c, and the
 * counters as operators see them come from firewall-view.c. */
#include "net/firewall.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/cleanup.h"
#include "basic/log.h"
#include "net/firewall-base.h"
#include "net/firewall-model.h"
#include "net/firewall-view.h"
#include "net/nft-helper.h"

#define DEFAULT_TIMEOUT_MS 10000

/* ---- what is installed ---- */

struct tenant_state {
	char *name;
	struct elems elems; /* sorted: exactly what the kernel has of this tenant */
};

/* Interfaces, addresses and host ports belong to one tenant each: two
 * tenants sharing one would each remove the other's element. They are
 * hashed, so that checking a change does not grow with the number of
 * tenants (looking through every tenant cost ~0.6 ms a change at 1000). */
#define OWNER_BUCKETS 16384u

struct owner {
	struct owner *next;
	const struct tenant_state *tenant;
	unsigned set;
	char key[sizeof(((struct elem *)NULL)->key)];
};

struct firewall {
	char uplink[IF_NAMESIZE]; /* "" for none */
	bool drop_foreign_forwarding;
	struct nft_helper nft;
	struct tenant_state **tenants;
	size_t n_tenants, cap_tenants;
	struct owner **owners; /* OWNER_BUCKETS chains */
	/* Every change also swaps the one element of set txn from gen to
	 * gen + 1, so that a change whose reply was lost (helper killed or
	 * hung with it in flight) can be told applied or not afterwards: a
	 * transaction is all or nothing, and the marker goes with it. */
	uint32_t gen;
	struct {
		bool active;
		uint32_t gen;
		char *tenant;
		struct elems elems; /* the tenant's elements if it was applied */
	} limbo;
};

/* FNV-1a */
static size_t owner_hash(unsigned set, const char *key)
{
	uint32_t h = 2166136261u ^ set;

	for (; *key; key++)
		h = (h ^ (unsigned char)*key) * 16777619u;
	return h & (OWNER_BUCKETS - 1);
}

static struct owner **owner_link(struct owner **owners, unsigned set, const char *key)
{
	struct owner **o = &owners[owner_hash(set, key)];

	while (*o && ((*o)->set != set || strcmp((*o)->key, key) != 0))
		o = &(*o)->next;
	return o;
}

/* ts now owns what new lists instead of what old listed. All or nothing. */
static int owners_update(struct firewall *fw, const struct tenant_state *ts,
			 const struct elems *old, const struct elems *new)
{
	struct owner *fresh = NULL, *o, **l;
	size_t i;

	for (i = 0; i < new->n; i++) {
		if (!fw_owned_set(new->v[i].set))
			continue;
		if (!(o = calloc(1, sizeof(*o)))) {
			while ((o = fresh)) {
				fresh = o->next;
				free(o);
			}
			return -1;
		}
		o->tenant = ts;
		o->set = new->v[i].set;
		memcpy(o->key, new->v[i].key, sizeof(o->key));
		o->next = fresh;
		fresh = o;
	}
	for (i = 0; i < old->n; i++) {
		if (!fw_owned_set(old->v[i].set))
			continue;
		l = owner_link(fw->owners, old->v[i].set, old->v[i].key);
		if ((o = *l) && o->tenant == ts) {
			*l = o->next;
			free(o);
		}
	}
	while ((o = fresh)) {
		fresh = o->next;
		l = &fw->owners[owner_hash(o->set, o->key)];
		o->next = *l;
		*l = o;
	}
	return 0;
}

static void owners_free(struct firewall *fw)
{
	size_t i;

	for (i = 0; fw->owners && i < OWNER_BUCKETS; i++)
		while (fw->owners[i]) {
			struct owner *o = fw->owners[i];

			fw->owners[i] = o->next;
			free(o);
		}
	free(fw->owners);
	fw->owners = NULL;
}

static struct tenant_state *tenant_find(const struct firewall *fw, const char *name, size_t *index)
{
	size_t i;

	for (i = 0; i < fw->n_tenants; i++)
		if (!strcmp(fw->tenants[i]->name, name)) {
			if (index)
				*index = i;
			return fw->tenants[i];
		}
	return NULL;
}

static void tenant_drop(struct firewall *fw, size_t i)
{
	static const struct elems none;
	struct tenant_state *ts = fw->tenants[i];

	(void)owners_update(fw, ts, &ts->elems, &none); /* only frees */
	fw_elems_free(&ts->elems);
	free(ts->name);
	free(ts);
	fw->tenants[i] = fw->tenants[--fw->n_tenants];
}

/* Takes e (leaves it empty). An empty element list removes the tenant. */
static int tenant_store(struct firewall *fw, const char *name, struct elems *e)
{
	size_t i;
	struct tenant_state *ts = tenant_find(fw, name, &i);

	if (!ts && e->n) {
		if (fw->n_tenants == fw->cap_tenants) {
			size_t cap = fw->cap_tenants ? fw->cap_tenants * 2 : 16;
			struct tenant_state **v = reallocarray(fw->tenants, cap, sizeof(*v));

			if (!v)
				return -1;
			fw->tenants = v;
			fw->cap_tenants = cap;
		}
		ts = calloc(1, sizeof(*ts));
		if (!ts || !(ts->name = strdup(name))) {
			free(ts);
			return -1;
		}
		i = fw->n_tenants;
		fw->tenants[fw->n_tenants++] = ts;
	}
	if (!ts)
		return 0;
	if (!e->n) {
		tenant_drop(fw, i);
		return 0;
	}
	if (owners_update(fw, ts, &ts->elems, e) < 0) {
		if (!ts->elems.n)
			tenant_drop(fw, i);
		return -1;
	}
	fw_elems_free(&ts->elems);
	ts->elems = *e;
	*e = (struct elems){0};
	return 0;
}

static int check_conflicts(const struct firewall *fw, const char *tenant, const struct elems *e,
			   struct ward_err *err)
{
	static const char *const what[] = {
	    [SET_DROPCNT] = "interface", [SET_MASQ] = "address", [SET_HOSTPORTS] = "host port"};
	size_t i;

	for (i = 0; i < e->n; i++) {
		const struct owner *o;
		char key[sizeof(e->v[i].key)];

		if (!fw_owned_set(e->v[i].set))
			continue;
		o = *owner_link(fw->owners, e->v[i].set, e->v[i].key);
		if (!o || !strcmp(o->tenant->name, tenant))
			continue;
		fw_key_readable(e->v[i].key, key, sizeof(key));
		return ward_err_set(err, EEXIST, "tenant %s: %s %s is already tenant %s's", tenant,
				    what[e->v[i].set], key, o->tenant->name);
	}
	return 0;
}
/* ---- changes ---- */

/* Whether set txn holds gen. -1 on error. */
static int txn_has(struct firewall *fw, uint32_t gen, struct ward_err *err)
{
	_cleanup_free_ char *out = NULL;
	_cleanup_(json_decrefp) json_t *root = NULL;
	json_t *item, *v;
	size_t i, j;

	if (nft_request(&fw->nft, "list set " FW_TABLE " txn", true, &out, err) != NFT_OK)
		return -1;
	root = json_loads(out, 0, NULL);
	/* {"nftables": [{"metainfo": ...}, {"set": {..., "elem": [0, 7]}}]} */
	json_array_foreach(json_object_get(root, "nftables"), i, item)
	{
		json_t *set = json_object_get(item, "set");

		if (!set)
			continue;
		json_array_foreach(json_object_get(set, "elem"), j, v)
		{
			if (json_is_integer(v) && json_integer_value(v) == (json_int_t)gen)
				return 1;
		}
		return 0;
	}
	return ward_err_set(err, EPROTO, "list set " FW_TABLE " txn: unexpected output");
}

static void limbo_clear(struct firewall *fw)
{
	free(fw->limbo.tenant);
	fw_elems_free(&fw->limbo.elems);
	fw->limbo.tenant = NULL;
	fw->limbo.active = false;
}

/* A change whose outcome was lost is looked up before the next one is
 * computed: a diff against the wrong state would fail, or leave elements. */
static int limbo_resolve(struct firewall *fw, struct ward_err *err)
{
	int r;

	if (!fw->limbo.active)
		return 0;
	r = txn_has(fw, fw->limbo.gen, err);
	if (r < 0)
		return ward_err_wrap(err, "check the outcome of a lost change of tenant %s",
				     fw->limbo.tenant);
	if (r) {
		if (tenant_store(fw, fw->limbo.tenant, &fw->limbo.elems) < 0)
			return ward_err_set(err, ENOMEM, "tenant %s", fw->limbo.tenant);
		fw->gen = fw->limbo.gen;
	}
	limbo_clear(fw);
	return 0;
}

/* The change of tenant name to e (taken), marker gen, went out and what
 * became of it is not known here: the next change finds out first. */
static void limbo_enter(struct firewall *fw, const char *name, uint32_t gen, struct elems *e)
{
	fw->limbo.tenant = strdup(name);
	if (!fw->limbo.tenant)
		return; /* out of memory: nothing better to do than forget */
	fw->limbo.active = true;
	fw->limbo.gen = gen;
	fw->limbo.elems = *e;
	*e = (struct elems){0};
}

/* Applies the change from the tenant's installed elements to e (taken). */
static int tenant_apply(struct firewall *fw, const char *name, struct elems *e,
			struct ward_err *err)
{
	static const struct elems none;
	const struct tenant_state *ts = tenant_find(fw, name, NULL);
	_cleanup_free_ char *diff = fw_diff_text(ts ? &ts->elems : &none, e);
	_cleanup_free_ char *text = NULL;
	uint32_t next = fw->gen + 1;

	if (!diff)
		return ward_err_set(err, ENOMEM, "tenant %s", name);
	if (!diff[0])
		return 0; /* the same again: nothing to do */
	if (asprintf(&text,
		     "delete element " FW_TABLE " txn { %u }\nadd element " FW_TABLE
		     " txn { %u }\n%s",
		     fw->gen, next, diff) < 0) {
		text = NULL;
		return ward_err_set(err, ENOMEM, "tenant %s", name);
	}
	switch (nft_request(&fw->nft, text, false, NULL, err)) {
	case NFT_OK:
		fw->gen = next;
		if (tenant_store(fw, name, e) < 0) {
			/* Installed, but not recorded: known to the marker. */
			limbo_enter(fw, name, next, e);
			return ward_err_set(err, ENOMEM, "tenant %s", name);
		}
		return 0;
	case NFT_LOST:
		limbo_enter(fw, name, next, e);
		return ward_err_wrap(err, "tenant %s", name);
	case NFT_FAILED:
	default:
		return ward_err_wrap(err, "tenant %s", name);
	}
}

/* ---- the API ---- */

struct firewall *firewall_open(const struct firewall_options *opts, struct ward_err *err)
{
	_cleanup_free_ char *text = NULL;
	struct firewall *fw;

	if (opts && opts->uplink && !fw_uplink_ok(opts->uplink))
		return ward_err_set(err, EINVAL, "firewall: bad uplink name \"%s\"", opts->uplink),
		       NULL;
	fw = calloc(1, sizeof(*fw));
	if (!fw)
		return ward_err_set(err, ENOMEM, "firewall"), NULL;
	fw->nft = NFT_HELPER_INIT(DEFAULT_TIMEOUT_MS);
	fw->owners = calloc(OWNER_BUCKETS, sizeof(*fw->owners));
	if (!fw->owners) {
		free(fw);
		return ward_err_set(err, ENOMEM, "firewall"), NULL;
	}
	if (opts) {
		if (opts->uplink)
			(void)snprintf(fw->uplink, sizeof(fw->uplink), "%s", opts->uplink);
		fw->drop_foreign_forwarding = opts->drop_foreign_forwarding;
		if (opts->timeout_ms > 0)
			fw->nft.timeout_ms = opts->timeout_ms;
	}
	text = fw_base_text(fw->uplink, fw->drop_foreign_forwarding);
	if (!text) {
		ward_err_set(err, ENOMEM, "firewall");
		firewall_close(fw, false);
		return NULL;
	}
	if (nft_request(&fw->nft, text, false, NULL, err) != NFT_OK) {
		ward_err_wrap(err, "create table " FW_TABLE);
		firewall_close(fw, false);
		return NULL;
	}
	return fw;
}

void firewall_close(struct firewall *fw, bool delete_table)
{
	struct ward_err err;

	if (!fw)
		return;
	if (delete_table &&
	    nft_request(&fw->nft, "delete table " FW_TABLE, false, NULL, &err) != NFT_OK)
		log_msg("firewall: delete table " FW_TABLE ": %s", err.msg);
	nft_helper_stop(&fw->nft, NULL, 0);
	while (fw->n_tenants)
		tenant_drop(fw, fw->n_tenants - 1);
	owners_free(fw);
	free(fw->tenants);
	limbo_clear(fw);
	free(fw);
}

int firewall_tenant_set(struct firewall *fw, const struct fw_tenant *t, struct ward_err *err)
{
	_cleanup_(fw_elems_free) struct elems e = {0};

	if (limbo_resolve(fw, err) < 0 || fw_tenant_elems(t, &e, err) < 0 ||
	    check_conflicts(fw, t->name, &e, err) < 0)
		return -1;
	return tenant_apply(fw, t->name, &e, err);
}

int firewall_tenant_remove(struct firewall *fw, const char *tenant, struct ward_err *err)
{
	_cleanup_(fw_elems_free) struct elems none = {0};

	if (!fw_name_ok(tenant, FW_NAME_MAX))
		return ward_err_set(err, EINVAL, "tenant %s: bad name", tenant ? tenant : "(null)");
	if (limbo_resolve(fw, err) < 0)
		return -1;
	if (!tenant_find(fw, tenant, NULL))
		return 0;
	return tenant_apply(fw, tenant, &none, err);
}

char *firewall_tenant_text(struct firewall *fw, const struct fw_tenant *t, struct ward_err *err)
{
	static const struct elems none;
	_cleanup_(fw_elems_free) struct elems e = {0};
	const struct tenant_state *ts;
	char *text;

	if (fw_tenant_elems(t, &e, err) < 0 || check_conflicts(fw, t->name, &e, err) < 0)
		return NULL;
	ts = tenant_find(fw, t->name, NULL);
	text = fw_diff_text(ts ? &ts->elems : &none, &e);
	if (!text)
		ward_err_set(err, ENOMEM, "tenant %s", t->name);
	return text;
}

json_t *firewall_counters(struct firewall *fw, struct ward_err *err)
{
	_cleanup_free_ char *out = NULL;

	if (nft_request(&fw->nft, "list set " FW_TABLE " dropcnt", true, &out, err) != NFT_OK)
		return ward_err_wrap(err, "firewall counters"), NULL;
	return fw_counters_view(out, err);
}

pid_t firewall_helper_pid(const struct firewall *fw)
{
	return fw ? fw->nft.pid : -1;
}
