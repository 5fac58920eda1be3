/* The supervisor's side of the tenant networks (network.c owns them): which
 * services have their rules installed, the veth of a service's next
 * sandbox, waiting for the kernel to free a link's name. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/cleanup.h"
#include "basic/log.h"
#include "daemon/supervise-internal.h"
#include "model/names.h"

bool tenant_has_net(const struct tenant_rt *t)
{
	return t->profile->network.present;
}

/* Puts the tenant's rules in line with which services are installed (one
 * transaction). */
int tenant_fw_sync(struct tenant_rt *t, struct ward_err *err)
{
	struct supervisor *s = t->sup;
	bool *installed;
	int r;

	if (!tenant_has_net(t) || !s->net)
		return 0;
	installed = calloc(t->n_svcs + 1, sizeof(*installed));
	if (!installed)
		return ward_err_set(err, ENOMEM, "firewall");
	for (size_t i = 0; i < t->n_svcs; i++)
		installed[i] = t->svcs[i]->net.fw_installed;
	r = network_tenant_apply(s->net, t->profile, &t->net, installed, err);
	free(installed);
	return r;
}

/* Stopped for good (not between restarts): its chain and map element go.
 * Not at shutdown: the whole table goes then, in one step. */
void svc_fw_uninstall(struct svc *v)
{
	struct ward_err err = {0};

	if (!v->net.fw_installed || v->tenant->removing || v->tenant->sup->shutting_down)
		return;
	v->net.fw_installed = false;
	if (tenant_fw_sync(v->tenant, &err) < 0)
		log_service(v->tenant->profile->name, v->def->name, "firewall: %s", err.msg);
}

/* Before its first launch: the tenant's services that are to run get
 * their rules in one transaction, not one each. */
static int svc_fw_install(struct svc *v, struct ward_err *err)
{
	struct tenant_rt *t = v->tenant;

	if (v->net.fw_installed)
		return 0;
	for (size_t i = 0; i < t->n_svcs; i++)
		if (t->svcs[i]->want_running || t->svcs[i] == v)
			t->svcs[i]->net.fw_installed = true;
	if (tenant_fw_sync(t, err) < 0) {
		for (size_t i = 0; i < t->n_svcs; i++)
			t->svcs[i]->net.fw_installed = false;
		return ward_err_wrap(err, "firewall");
	}
	return 0;
}

static size_t svc_index(const struct svc *v)
{
	return (size_t)(v->def - v->tenant->profile->services);
}

int svc_net_prepare(struct svc *v, struct ward_err *err)
{
	struct tenant_rt *t = v->tenant;

	if (!t->sup->net)
		return ward_err_set(err, 0,
				    "network unavailable (see wardd's log): the tenant "
				    "has a network section and cannot run without it");
	if (network_service_veth(t->sup->net, &t->net, svc_index(v), &v->net.veth, err) < 0)
		return -1;
	return svc_fw_install(v, err);
}

/* The host end of its veth keeps its name: the previous sandbox's link must
 * be gone first. The kernel removes it with the namespace (batched, cheap);
 * supervisor_link_gone starts the service then. */
bool svc_link_pending(struct svc *v)
{
	struct tenant_rt *t = v->tenant;

	if (!tenant_has_net(t) || !t->sup->net)
		return false;
	v->net.link_pending =
	    network_service_link_busy(t->sup->net, &t->net, svc_index(v), &v->net.veth);
	return v->net.link_pending;
}

/* The kernel removed a ward link (name NULL: some notifications were
 * lost): services waiting for that name can start. */
void supervisor_link_gone(const char *name, void *ud)
{
	struct supervisor *s = ud;

	for (struct tenant_rt *t = s->tenants, *next; t; t = next) {
		bool woke = false;

		next = t->next;
		for (size_t i = 0; i < t->n_svcs; i++) {
			struct svc *v = t->svcs[i];
			if (v->net.link_pending &&
			    (!name || strcmp(v->net.veth.ifname, name) == 0)) {
				v->net.link_pending = false;
				woke = true;
			}
		}
		if (woke)
			tenant_progress(t);
	}
}

/* The service's drop counter, read while its element is still in the
 * table, into the audit log ("service-drops"): its refused connections stay
 * on record once the counter is gone with the service. */
void svc_audit_drops(struct svc *v)
{
	struct tenant_rt *t = v->tenant;
	size_t i = svc_index(v);
	_cleanup_(json_decrefp) json_t *drops = NULL;
	json_t *d;
	char a[IP4_STRING_MAX];

	if (!v->net.fw_installed || !t->sup->net || !tenant_has_net(t) || i >= t->net.n)
		return;
	drops = network_drops(t->sup->net);
	d = network_service_drops(drops, &t->net, i);
	ip4_string(t->net.addrs[i], a);
	audit_svc(v, "service-drops",
		  json_pack("{s:s, s:s, s:o}", "address", a, "link", t->net.ifnames[i], "drops",
			    d ? json_incref(d) : json_null()));
}
