/* Reload: the tenants dir read again and diffed against what runs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/log.h"
#include "daemon/supervise-internal.h"

static bool ids_equal(const struct ward_ids *a, const struct ward_ids *b)
{
	return a->set == b->set && a->uid == b->uid && a->count == b->count;
}

/* Swaps in the new profile of a running tenant: services whose definition
 * is unchanged keep running untouched; changed ones restart; removed ones
 * stop and go; new ones start. */
/* The service's address in the new network (0: none). */
static uint32_t net_addr_of(const struct ward_tenant *p, const struct tenant_net *net,
			    const struct ward_service *def)
{
	size_t i = (size_t)(def - p->services);

	return p->network.present && i < net->n ? net->addrs[i] : 0;
}

/* What a reload did, each entry "TENANT" or "TENANT/SERVICE": tenants and
 * services added (started) and removed (stopped), services changed
 * (restarted), and what changed in place without a restart ("TENANT:
 * sessions", "TENANT/SERVICE: connect"). Every change is in one of them:
 * the operator's reply and the audit record say what the reload did. */
struct reload_report {
	json_t *added, *removed, *changed, *updated;
};

static void report_add(json_t *list, const char *tenant, const char *service, const char *part)
{
	char buf[WARD_NAME_MAX * 2 + 64];

	(void)snprintf(buf, sizeof(buf), "%s%s%s%s%s", tenant, service ? "/" : "",
		       service ? service : "", part ? ": " : "", part ? part : "");
	json_array_append_new(list, json_string(buf));
}

static bool digest_differs(const char *a, const char *b)
{
	return !a || !b || strcmp(a, b) != 0;
}

/* The changes a reload applies in place: the tenant's parts, and each kept
 * service's `after` and `connect`. */
static void report_updates(const struct ward_tenant *op, const struct ward_tenant *np,
			   json_t *updated)
{
	if (!ids_equal(&op->ids, &np->ids))
		report_add(updated, np->name, NULL, "ids");
	for (int p = 0; p < WARD_PART_N; p++)
		if (digest_differs(op->part_digest[p], np->part_digest[p]))
			report_add(updated, np->name, NULL, ward_part_name((enum ward_part)p));
	for (size_t i = 0; i < np->n_services; i++) {
		const struct ward_service *d = &np->services[i];
		const struct ward_service *o = tenant_find_service(op, d->name);

		if (!o)
			continue; /* added */
		if (digest_differs(o->after_digest, d->after_digest))
			report_add(updated, np->name, d->name, "after");
		if (digest_differs(o->connect_digest, d->connect_digest))
			report_add(updated, np->name, d->name, "connect");
	}
}

/* nv[i]: the service of t that goes on as np's i-th (its sandbox kept if
 * nothing it runs with changed, restarted otherwise), or a new one. */
static void match_services(struct tenant_rt *t, struct ward_tenant *np, struct tenant_net *net,
			   bool ids_changed, struct svc **nv, struct reload_report *rep)
{
	for (size_t i = 0; i < np->n_services; i++) {
		struct ward_service *def = &np->services[i];
		struct svc *old = tenant_svc(t, def->name);
		bool same;

		if (!old) {
			nv[i] = svc_new(t, def);
			if (nv[i])
				nv[i]->want_running = true;
			report_add(rep->added, np->name, def->name, NULL);
			continue;
		}
		nv[i] = old;
		/* A new address (the subnet changed) needs a new sandbox. */
		same = !ids_changed && strcmp(old->def->digest, def->digest) == 0 &&
		       net_addr_of(t->profile, &t->net, old->def) == net_addr_of(np, net, def);
		old->def = def; /* nothing of the running sandbox points into the profile */
		if (same)
			continue;
		report_add(rep->changed, np->name, def->name, NULL);
		seccomp_program_free(&old->prog);
		old->prog_ready = false;
		old->cg_stale = true;
		if (svc_active(old)) {
			old->after_stop = AFTER_STOP_START;
			svc_stop(old, STOP_BY_RELOAD);
		}
	}
}

/* Services the new profile no longer has go to a retiring tenant that
 * keeps the old profile alive until they have stopped (gracefully, in
 * reverse `after` order) and is then freed by tenant_progress. */
static void retire_removed(struct tenant_rt *t, const struct ward_tenant *np, struct svc **nv,
			   struct reload_report *rep)
{
	struct tenant_rt *ghost = calloc(1, sizeof(*ghost));
	struct svc **gone = calloc(t->n_svcs ? t->n_svcs : 1, sizeof(*gone));
	size_t n_gone = 0;

	for (size_t i = 0; i < t->n_svcs; i++) {
		bool kept = false;
		for (size_t j = 0; j < np->n_services; j++)
			kept |= nv[j] == t->svcs[i];
		if (!kept) {
			gone[n_gone++] = t->svcs[i];
			report_add(rep->removed, np->name, t->svcs[i]->def->name, NULL);
		}
	}
	if (n_gone && ghost && gone) {
		*ghost = (struct tenant_rt){.sup = t->sup,
					    .profile = t->profile,
					    .svcs = gone,
					    .n_svcs = n_gone,
					    .removing = true};
		for (size_t i = 0; i < n_gone; i++) {
			gone[i]->tenant = ghost;
			gone[i]->want_running = false;
			gone[i]->stop_by = STOP_BY_RELOAD;
		}
		ghost->next = t->sup->tenants;
		t->sup->tenants = ghost;
		t->profile = NULL; /* now the ghost's */
		gone = NULL;
		ghost = NULL;
	} else {
		/* Out of memory (or nothing removed): no graceful way. */
		for (size_t i = 0; i < n_gone; i++)
			svc_free(gone[i]);
	}
	free(ghost);
	free(gone);
}

/* New flows apply at once, in one transaction, to the services that keep
 * running; their connections and counters stay. */
static void resync_firewall(struct tenant_rt *t)
{
	struct ward_err err = {0};
	bool any = false;

	for (size_t i = 0; i < t->n_svcs; i++)
		any |= t->svcs[i]->net.fw_installed;
	if (any && tenant_fw_sync(t, &err) < 0)
		log_tenant(t->profile->name, "firewall: %s", err.msg);
}

/* Takes np and *net. */
static void tenant_update(struct tenant_rt *t, struct ward_tenant *np, struct tenant_net *net,
			  struct reload_report *rep)
{
	bool ids_changed = !ids_equal(&t->profile->ids, &np->ids);
	/* t->profile may go to a retiring tenant below. */
	bool had_net = t->profile->network.present;
	struct svc **nv = calloc(np->n_services ? np->n_services : 1, sizeof(*nv));

	tenant_apply_cap(t->sup, np);
	report_updates(t->profile, np, rep->updated);

	if (!nv) {
		tenant_free(np);
		tenant_net_free(net);
		return;
	}
	match_services(t, np, net, ids_changed, nv, rep);
	retire_removed(t, np, nv, rep);
	free(t->svcs);
	t->svcs = nv;
	t->n_svcs = np->n_services;
	if (had_net && !np->network.present && t->sup->net) {
		struct ward_err err = {0};
		if (network_tenant_remove(t->sup->net, np->name, &err) < 0)
			log_tenant(np->name, "firewall: %s", err.msg);
		for (size_t i = 0; i < t->n_svcs; i++)
			t->svcs[i]->net.fw_installed = false;
	}
	tenant_free(t->profile);
	t->profile = np;
	tenant_net_free(&t->net);
	t->net = *net;
	*net = (struct tenant_net){0};
	resync_firewall(t);
	tenant_progress(t);
	for (struct tenant_rt *g = t->sup->tenants, *next; g; g = next) {
		next = g->next;
		if (g->removing && g != t)
			tenant_progress(g);
	}
}

json_t *supervisor_reload_loaded(struct supervisor *s, struct loaded *v, size_t n)
{
	struct reload_report rep = {json_array(), json_array(), json_array(), json_array()};
	json_t *added = rep.added, *removed = rep.removed, *rejected = json_array(), *report;

	for (size_t i = 0; i < n; i++) {
		struct tenant_rt *t = find_tenant(s, v[i].name);
		if (!v[i].profile) {
			loaded_audit_rejected(s, &v[i]);
			json_array_append_new(rejected, json_pack("{s:s, s:O}", "tenant", v[i].name,
								  "errors", v[i].errors));
			continue;
		}
		if (!t) {
			json_array_append_new(added, json_string(v[i].name));
			tenant_add(s, v[i].profile, &v[i].net);
		} else {
			tenant_update(t, v[i].profile, &v[i].net, &rep);
		}
		v[i].profile = NULL;
	}
	/* Tenants whose file is gone (a rejected file keeps its tenant). */
	for (struct tenant_rt *t = s->tenants, *next; t; t = next) {
		bool present = false;
		next = t->next;
		for (size_t i = 0; i < n; i++)
			present |= strcmp(v[i].name, t->profile->name) == 0;
		if (present || t->removing)
			continue;
		json_array_append_new(removed, json_string(t->profile->name));
		t->removing = true;
		for (size_t i = 0; i < t->n_svcs; i++)
			t->svcs[i]->want_running = false;
		tenant_progress(t);
	}
	report = json_pack("{s:o, s:o, s:o, s:o, s:o}", "added", added, "removed", removed,
			   "changed", rep.changed, "updated", rep.updated, "rejected", rejected);
	audit_event(s->audit, "reload", json_deep_copy(report));
	return report;
}

json_t *supervisor_reload(struct supervisor *s)
{
	size_t n;
	struct loaded *v = tenants_dir_load(s, &n);
	json_t *report = supervisor_reload_loaded(s, v, n);

	loaded_free(v, n);
	return report;
}
