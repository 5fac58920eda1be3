/* The daemon's network: ties address allocation (netalloc), links
 * (netlink) and the ruleset (firewall) to tenants and services. The
 * supervisor calls it; it knows nothing of service states. */
#pragma once

#include <jansson.h>
#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "model/config.h"
#include "basic/error.h"
#include "basic/loop.h"
#include "net/netlink.h"
#include "model/profile.h"

struct network;

/* A tenant's segment as allocated: addrs[i] and ifnames[i] belong to
 * profile->services[i]. */
struct tenant_net {
	struct ward_cidr subnet;
	uint32_t gateway;
	uint32_t *addrs;
	char (*ifnames)[IF_NAMESIZE];
	size_t n;
};

/* Called for every ward link the kernel has removed (name NULL: some were
 * missed; re-check with network_link_exists). */
typedef void (*network_link_gone_fn)(const char *ifname, void *ud);

/* Turns forwarding on, removes a dead wardd's links and table, creates the
 * table, loads the allocations and watches link removals on the loop. */
struct network *network_open(const struct ward_config *cfg, struct loop *loop,
			     network_link_gone_fn gone, void *ud, struct ward_err *err);
/* Waits (up to timeout_ms) for the kernel to remove every ward link (they
 * go with their namespaces), then deletes the table and puts forwarding
 * back as it was. */
void network_close(struct network *n, uint64_t timeout_ms);

/* Would the tenant's network collide with another tenant's (subnet, or a
 * host port another tenant forwards)? 0, or -1 with err. `others`/`n_others`
 * are the tenants it must not collide with. */
int network_check(struct network *n, const struct ward_tenant *t,
		  const struct ward_tenant *const *others, size_t n_others, struct ward_err *err);

/* Allocates (or finds again) the tenant's subnet and service addresses. */
int network_tenant_prepare(struct network *n, const struct ward_tenant *t, struct tenant_net *out,
			   struct ward_err *err);
void tenant_net_free(struct tenant_net *tn);
/* Around a batch of network_tenant_prepare calls: the allocations file is
 * written once, at the flush (see netalloc_defer). */
void network_alloc_defer(struct network *n);
int network_alloc_flush(struct network *n, struct ward_err *err);

/* Installs the tenant's rules for the services whose installed[i] is true
 * (one atomic transaction). */
int network_tenant_apply(struct network *n, const struct ward_tenant *t,
			 const struct tenant_net *tn, const bool *installed, struct ward_err *err);
int network_tenant_remove(struct network *n, const char *tenant, struct ward_err *err);
/* Offboarding: the tenant's allocation is released too. */
int network_tenant_release(struct network *n, const char *tenant, struct ward_err *err);

/* The host link of a service's next sandbox: the veth's name and address
 * and the launch's before_go hook (netlink_veth_before_go, ud &hook) that
 * builds it. hook.spec.host_if points at ifname: filled where it stays. */
struct network_veth {
	char ifname[IF_NAMESIZE];
	uint32_t addr;
	struct netlink_veth_hook hook;
};
/* Fills *out for the service at index i of the tenant's segment. 0, or -1
 * with err when the segment has no address for it. */
int network_service_veth(struct network *n, const struct tenant_net *tn, size_t i,
			 struct network_veth *out, struct ward_err *err);
/* Whether the host link of service i's next sandbox still exists (the
 * previous sandbox's: names are reused, and the kernel removes a link with
 * its namespace a little later). Its name goes to out->ifname. */
bool network_service_link_busy(struct network *n, const struct tenant_net *tn, size_t i,
			       struct network_veth *out);
/* Service i's entry of a network_drops() object (borrowed), or NULL. */
json_t *network_service_drops(json_t *drops, const struct tenant_net *tn, size_t i);

/* What launch.c needs to build the service's veth. */
struct netlink *network_netlink(struct network *n);
bool network_link_exists(struct network *n, const char *ifname);

/* {"IFNAME": packets dropped, ...} or NULL. New reference. */
json_t *network_drops(struct network *n);
