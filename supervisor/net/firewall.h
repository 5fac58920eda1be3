/* The one nftables table, `inet ward`, owned by wardd. Fixed base chains do
 * the filtering; what each tenant may do lives only in set and map elements
 * keyed on the host-side interface name (own address, declared flows, host
 * ports), so a tenant change is a handful of element additions and
 * deletions, and neither the per-packet cost nor the cost of a change grows
 * with the number of tenants. Everything from or to a ward interface that no
 * element allows is dropped, counted per service. Built as nft text and
 * applied through libnftables in a helper process (libnftables exit()s when
 * it cannot open its netlink socket; the helper dying costs one failed
 * change, not the daemon). See "Network model" in DESIGN.md. */
#pragma once

#include <jansson.h>
#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "basic/error.h"

/* One service of a tenant as the firewall sees it. */
struct fw_service {
	const char *name;
	char ifname[IF_NAMESIZE]; /* host end, netlink_ifname(addr) */
	uint32_t addr;            /* host byte order */
};

/* A flow inside the tenant: from -> to:port. */
struct fw_connect {
	size_t from, to; /* indexes into fw_tenant.services */
	uint16_t port;
	int proto; /* IPPROTO_TCP or IPPROTO_UDP */
};

struct fw_egress {
	size_t from; /* every service of the tenant may use an egress flow */
	uint32_t net;
	uint8_t prefix;
	uint16_t port;
	int proto;
};

struct fw_ingress {
	uint16_t host_port;
	size_t to;
	uint16_t port;
	int proto;
};

/* Everything the firewall needs of one tenant, resolved to addresses and
 * interface names (firewall.c knows nothing of profiles). Only the services
 * listed are installed: a stopped service has no elements. */
struct fw_tenant {
	const char *name;
	uint32_t subnet;
	uint8_t prefix;
	uint32_t gateway;
	const struct fw_service *services;
	size_t n_services;
	const struct fw_connect *connect;
	size_t n_connect;
	const struct fw_egress *egress;
	size_t n_egress;
	const struct fw_ingress *ingress;
	size_t n_ingress;
};

struct firewall_options {
	const char
	    *uplink; /* egress leaves and ingress arrives only here; NULL: any non-ward link */
	/* The host had forwarding off before wardd turned it on: forwarding
	 * between non-ward interfaces stays refused. */
	bool drop_foreign_forwarding;
	int timeout_ms; /* how long one request to the helper may take; 0: 10 s */
};

struct firewall;

/* Starts the helper, deletes a leftover `inet ward` table and creates the
 * base table (chains, empty sets and maps, catch-all drops) in one
 * transaction. */
struct firewall *firewall_open(const struct firewall_options *opts, struct ward_err *err);
/* Deletes the table (wardd's exit) if asked, and stops the helper. */
void firewall_close(struct firewall *fw, bool delete_table);

/* Installs or replaces one tenant's rules in one atomic transaction: elements
 * of services and flows no longer listed go, new ones come. Other tenants'
 * elements, and established connections, are untouched. Drop counters of
 * services that stay are kept. Refused, with nothing applied, when an
 * interface, address or host port is already another tenant's. */
int firewall_tenant_set(struct firewall *fw, const struct fw_tenant *t, struct ward_err *err);
/* Removes every element (and so every drop counter) of the tenant. An
 * unknown tenant is not an error: there is nothing to remove. */
int firewall_tenant_remove(struct firewall *fw, const char *tenant, struct ward_err *err);

/* {"IFNAME": {"packets": N, "bytes": N}, ...}: the drop counter of every
 * installed service, keyed by host interface name. New reference or NULL. */
json_t *firewall_counters(struct firewall *fw, struct ward_err *err);

/* The nft text firewall_tenant_set would apply now (the element changes
 * against what is installed; "" when nothing would change), without
 * applying it, for the unit tests and for `wardctl net`. NULL, with err set,
 * when firewall_tenant_set would refuse the tenant. Caller frees. */
char *firewall_tenant_text(struct firewall *fw, const struct fw_tenant *t, struct ward_err *err);

/* The helper's pid, or -1 while there is none (it is started again by the
 * next call that needs it). For tests and status output. */
pid_t firewall_helper_pid(const struct firewall *fw);
