/* The daemon's network: a tenant's profile turned into allocated addresses
 * (netalloc.c), per-service veths (netlink.c) and its part of the one
 * ruleset (firewall.c). See "Network model" in DESIGN.md. */
#include "net/network.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "basic/cleanup.h"
#include "basic/log.h"
#include "model/names.h"
#include "net/firewall.h"
#include "net/netalloc.h"

#define FORWARD_PATH "/proc/sys/net/ipv4/ip_forward"

struct network {
	struct loop *loop;
	struct netlink *nl;
	struct firewall *fw;
	struct netalloc *na;
	bool forwarding_was_on;
	network_link_gone_fn gone;
	void *gone_ud;
	size_t links_left; /* network_close: ward links still there */
};

static void on_link_gone(const char *name, void *ud)
{
	struct network *n = ud;

	if (n->links_left && name)
		n->links_left--;
	if (n->gone)
		n->gone(name, n->gone_ud);
}

static void on_monitor(struct loop *l, int fd, uint32_t events, void *ud)
{
	struct network *n = ud;

	(void)l;
	(void)fd;
	(void)events;
	if (netlink_monitor_read(n->nl, on_link_gone, n) < 0)
		log_msg("link notifications: %s", strerror(errno));
}

struct network *network_open(const struct ward_config *cfg, struct loop *loop,
			     network_link_gone_fn gone, void *ud, struct ward_err *err)
{
	struct network *n = calloc(1, sizeof(*n));
	struct firewall_options fo = {.uplink = cfg->net_uplink};
	int left, r;

	if (!n) {
		ward_err_set(err, ENOMEM, "network");
		return NULL;
	}
	n->loop = loop;
	n->gone = gone;
	n->gone_ud = ud;
	if (cfg->net_allocations) {
		n->na = netalloc_open(cfg->net_allocations, &cfg->net_pool, cfg->net_prefix, err);
	} else {
		char path[4096];

		if (snprintf(path, sizeof(path), "%s/network.json", cfg->state_dir) >=
		    (int)sizeof(path)) {
			ward_err_set(err, ENAMETOOLONG, "allocations file");
			goto fail;
		}
		n->na = netalloc_open(path, &cfg->net_pool, cfg->net_prefix, err);
	}
	if (!n->na)
		goto fail;
	n->nl = netlink_open(err);
	if (!n->nl)
		goto fail;
	/* Leftovers of a dead wardd first: their names are ours to reuse. */
	left = netlink_remove_leftovers(n->nl, err);
	if (left < 0)
		goto fail;
	if (left)
		log_msg("removed %d leftover ward links", left);
	if (netlink_enable_forwarding(&n->forwarding_was_on, err) < 0)
		goto fail;
	/* Forwarding was off: it stays off for everything that is not ward's. */
	fo.drop_foreign_forwarding = !n->forwarding_was_on;
	n->fw = firewall_open(&fo, err);
	if (!n->fw)
		goto fail;
	r = loop_add_fd(loop, netlink_monitor_fd(n->nl), EPOLLIN, on_monitor, n);
	if (r < 0) {
		ward_err_set(err, -r, "watching link notifications");
		goto fail;
	}
	return n;
fail:
	ward_err_wrap(err, "network");
	network_close(n, 0);
	return NULL;
}

static void forwarding_restore(struct network *n)
{
	_cleanup_close_ int fd = -1;

	if (n->forwarding_was_on)
		return;
	fd = open(FORWARD_PATH, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, "0", 1) != 1)
		log_msg("%s: %s", FORWARD_PATH, strerror(errno));
}

void network_close(struct network *n, uint64_t timeout_ms)
{
	struct ward_err err = {0};

	if (!n)
		return;
	if (n->nl) {
		/* The links go with their namespaces, batched by the kernel;
		 * deleting them one by one would cost ~30 ms each. Only what
		 * is still there when the wait ends is deleted by hand. */
		uint64_t end = loop_now_ms() + timeout_ms;

		n->gone = NULL; /* the supervisor is done with its services */
		if (n->fw)
			loop_del_fd(n->loop, netlink_monitor_fd(n->nl));
		while (loop_now_ms() < end && netlink_count_links(n->nl) > 0) {
			struct pollfd p = {.fd = netlink_monitor_fd(n->nl), .events = POLLIN};
			if (poll(&p, 1, 50) > 0)
				netlink_monitor_read(n->nl, on_link_gone, n);
		}
		if (netlink_remove_leftovers(n->nl, &err) < 0)
			log_msg("%s", err.msg);
	}
	if (n->fw) {
		firewall_close(n->fw, true);
		forwarding_restore(n);
	}
	netlink_close(n->nl);
	netalloc_free(n->na);
	free(n);
}

/* ---- tenants ---- */

static bool cidr_overlap(const struct ward_cidr *a, const struct ward_cidr *b)
{
	uint8_t p = a->prefix < b->prefix ? a->prefix : b->prefix;
	uint32_t mask = p ? ~0U << (32 - p) : 0;

	return (a->addr & mask) == (b->addr & mask);
}

int network_check(struct network *n, const struct ward_tenant *t,
		  const struct ward_tenant *const *others, size_t n_others, struct ward_err *err)
{
	char other[WARD_NAME_MAX + 1];

	if (!t->network.present)
		return 0;
	if (netalloc_conflict(n->na, t, other, sizeof(other))) {
		char a[IP4_STRING_MAX];
		ip4_string(t->network.subnet.addr, a);
		return ward_err_set(err, 0,
				    "network.subnet: %s/%u overlaps the subnet of tenant %s", a,
				    t->network.subnet.prefix, other);
	}
	for (size_t k = 0; k < n_others; k++) {
		const struct ward_tenant *o = others[k];

		if (!o->network.present || strcmp(o->name, t->name) == 0)
			continue;
		if (t->network.has_subnet && o->network.has_subnet &&
		    cidr_overlap(&t->network.subnet, &o->network.subnet)) {
			char a[IP4_STRING_MAX];
			ip4_string(t->network.subnet.addr, a);
			return ward_err_set(
			    err, 0, "network.subnet: %s/%u overlaps the subnet of tenant %s", a,
			    t->network.subnet.prefix, o->name);
		}
		/* A host port leads to one service of one tenant. */
		for (size_t i = 0; i < t->network.n_ingress; i++)
			for (size_t j = 0; j < o->network.n_ingress; j++) {
				const struct ward_ingress *x = &t->network.ingress[i];
				const struct ward_ingress *y = &o->network.ingress[j];
				if (x->host_port == y->host_port && x->proto == y->proto)
					return ward_err_set(
					    err, 0,
					    "network.ingress[%zu]: host_port %u/%s is already "
					    "forwarded to tenant %s",
					    i, x->host_port,
					    x->proto == IPPROTO_UDP ? "udp" : "tcp", o->name);
			}
	}
	return 0;
}

void tenant_net_free(struct tenant_net *tn)
{
	free(tn->addrs);
	free(tn->ifnames);
	*tn = (struct tenant_net){0};
}

int network_tenant_prepare(struct network *n, const struct ward_tenant *t, struct tenant_net *out,
			   struct ward_err *err)
{
	struct tenant_net tn = {.n = t->n_services};

	*out = (struct tenant_net){0};
	if (!t->network.present)
		return 0;
	tn.addrs = calloc(t->n_services + 1, sizeof(*tn.addrs));
	tn.ifnames = calloc(t->n_services + 1, sizeof(*tn.ifnames));
	if (!tn.addrs || !tn.ifnames) {
		tenant_net_free(&tn);
		return ward_err_set(err, ENOMEM, "network");
	}
	if (netalloc_tenant(n->na, t, &tn.subnet, &tn.gateway, tn.addrs, err) < 0) {
		tenant_net_free(&tn);
		return -1;
	}
	for (size_t i = 0; i < tn.n; i++)
		netlink_ifname(tn.addrs[i], tn.ifnames[i]);
	*out = tn;
	return 0;
}

static size_t service_index(const struct ward_tenant *t, const char *name)
{
	for (size_t i = 0; i < t->n_services; i++)
		if (strcmp(t->services[i].name, name) == 0)
			return i;
	return t->n_services; /* the loader made sure it exists */
}

static bool egress_allowed(const struct ward_egress *e, const char *service)
{
	if (!e->has_from)
		return true;
	for (size_t i = 0; i < e->n_from; i++)
		if (strcmp(e->from[i], service) == 0)
			return true;
	return false;
}

/* The profile's flows, resolved to indexes, for the services installed. */
struct fw_build {
	struct fw_service *svcs;
	size_t *idx; /* profile index -> fw index, or SIZE_MAX */
	struct fw_connect *connect;
	struct fw_egress *egress;
	struct fw_ingress *ingress;
	size_t n_svcs, n_connect, n_egress, n_ingress;
};

static void fw_build_free(struct fw_build *b)
{
	free(b->svcs);
	free(b->idx);
	free(b->connect);
	free(b->egress);
	free(b->ingress);
}

static int fw_build_alloc(struct fw_build *b, const struct ward_tenant *t)
{
	size_t n_conn = 0, n_egr = 0;

	for (size_t i = 0; i < t->n_services; i++)
		n_conn += t->services[i].n_connect;
	for (size_t i = 0; i < t->network.n_egress; i++)
		n_egr += (t->network.egress[i].n_tcp + t->network.egress[i].n_udp) * t->n_services;
	b->svcs = calloc(t->n_services + 1, sizeof(*b->svcs));
	b->idx = calloc(t->n_services + 1, sizeof(*b->idx));
	b->connect = calloc(n_conn + 1, sizeof(*b->connect));
	b->egress = calloc(n_egr + 1, sizeof(*b->egress));
	b->ingress = calloc(t->network.n_ingress + 1, sizeof(*b->ingress));
	return b->svcs && b->idx && b->connect && b->egress && b->ingress ? 0 : -1;
}

static void fw_build_egress(struct fw_build *b, const struct ward_tenant *t, size_t from)
{
	for (size_t e = 0; e < t->network.n_egress; e++) {
		const struct ward_egress *g = &t->network.egress[e];

		if (!egress_allowed(g, t->services[from].name))
			continue;
		for (size_t p = 0; p < g->n_tcp + g->n_udp; p++)
			b->egress[b->n_egress++] = (struct fw_egress){
			    .from = b->idx[from],
			    .net = g->to.addr,
			    .prefix = g->to.prefix,
			    .port = p < g->n_tcp ? g->tcp[p] : g->udp[p - g->n_tcp],
			    .proto = p < g->n_tcp ? IPPROTO_TCP : IPPROTO_UDP,
			};
	}
}

int network_tenant_apply(struct network *n, const struct ward_tenant *t,
			 const struct tenant_net *tn, const bool *installed, struct ward_err *err)
{
	struct fw_build b = {0};
	struct fw_tenant ft;
	int r;

	if (!t->network.present)
		return 0;
	if (fw_build_alloc(&b, t) < 0) {
		fw_build_free(&b);
		return ward_err_set(err, ENOMEM, "network");
	}
	for (size_t i = 0; i < t->n_services; i++) {
		b.idx[i] = SIZE_MAX;
		if (!installed[i])
			continue;
		b.idx[i] = b.n_svcs;
		b.svcs[b.n_svcs] =
		    (struct fw_service){.name = t->services[i].name, .addr = tn->addrs[i]};
		memcpy(b.svcs[b.n_svcs].ifname, tn->ifnames[i], IF_NAMESIZE);
		b.n_svcs++;
	}
	for (size_t i = 0; i < t->n_services; i++) {
		const struct ward_service *s = &t->services[i];

		if (b.idx[i] == SIZE_MAX)
			continue;
		/* A flow to a service that is not installed has nowhere to go:
		 * left out, its packets meet the catch-all drop. */
		for (size_t c = 0; c < s->n_connect; c++) {
			size_t to = service_index(t, s->connect[c].service);
			if (to < t->n_services && b.idx[to] != SIZE_MAX)
				b.connect[b.n_connect++] =
				    (struct fw_connect){.from = b.idx[i],
							.to = b.idx[to],
							.port = s->connect[c].port,
							.proto = s->connect[c].proto};
		}
		fw_build_egress(&b, t, i);
	}
	for (size_t i = 0; i < t->network.n_ingress; i++) {
		const struct ward_ingress *g = &t->network.ingress[i];
		size_t to = service_index(t, g->service);
		if (to < t->n_services && b.idx[to] != SIZE_MAX)
			b.ingress[b.n_ingress++] = (struct fw_ingress){.host_port = g->host_port,
								       .to = b.idx[to],
								       .port = g->port,
								       .proto = g->proto};
	}
	ft = (struct fw_tenant){.name = t->name,
				.subnet = tn->subnet.addr,
				.prefix = tn->subnet.prefix,
				.gateway = tn->gateway,
				.services = b.svcs,
				.n_services = b.n_svcs,
				.connect = b.connect,
				.n_connect = b.n_connect,
				.egress = b.egress,
				.n_egress = b.n_egress,
				.ingress = b.ingress,
				.n_ingress = b.n_ingress};
	r = firewall_tenant_set(n->fw, &ft, err);
	fw_build_free(&b);
	return r;
}

int network_tenant_remove(struct network *n, const char *tenant, struct ward_err *err)
{
	return firewall_tenant_remove(n->fw, tenant, err);
}

int network_tenant_release(struct network *n, const char *tenant, struct ward_err *err)
{
	if (firewall_tenant_remove(n->fw, tenant, err) < 0)
		return -1;
	return netalloc_release(n->na, tenant, err);
}

void network_alloc_defer(struct network *n)
{
	netalloc_defer(n->na);
}

int network_alloc_flush(struct network *n, struct ward_err *err)
{
	return netalloc_flush(n->na, err);
}

struct netlink *network_netlink(struct network *n)
{
	return n->nl;
}

bool network_link_exists(struct network *n, const char *ifname)
{
	return netlink_link_exists(n->nl, ifname);
}

json_t *network_drops(struct network *n)
{
	struct ward_err err = {0};
	json_t *c = firewall_counters(n->fw, &err);
	json_t *out, *v;
	const char *k;

	if (!c)
		return NULL;
	out = json_object();
	json_object_foreach(c, k, v)
	{
		json_object_set_new(
		    out, k, json_integer(json_integer_value(json_object_get(v, "packets"))));
	}
	json_decref(c);
	return out;
}

int network_service_veth(struct network *n, const struct tenant_net *tn, size_t i,
			 struct network_veth *out, struct ward_err *err)
{
	if (i >= tn->n)
		return ward_err_set(err, EINVAL, "network: no address for the service");
	out->addr = tn->addrs[i];
	memcpy(out->ifname, tn->ifnames[i], IF_NAMESIZE);
	out->hook = (struct netlink_veth_hook){
	    .nl = network_netlink(n),
	    .spec = {.host_if = out->ifname, .addr = out->addr, .gateway = tn->gateway},
	};
	return 0;
}

bool network_service_link_busy(struct network *n, const struct tenant_net *tn, size_t i,
			       struct network_veth *out)
{
	if (i < tn->n)
		memcpy(out->ifname, tn->ifnames[i], IF_NAMESIZE);
	return network_link_exists(n, out->ifname);
}

json_t *network_service_drops(json_t *drops, const struct tenant_net *tn, size_t i)
{
	return drops && i < tn->n ? json_object_get(drops, tn->ifnames[i]) : NULL;
}
