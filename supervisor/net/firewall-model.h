/* The nft objects ward manages in its table, as the firewall's other files
 * share them: the sets and maps a tenant has elements in, one element as
 * nft text, a tenant (struct fw_tenant) turned into its elements, and the
 * nft text that changes one list of elements into another. Pure: no
 * kernel, no helper process, no state beyond what the caller passes.
 * Internal to the firewall (net/firewall*.c); everyone else uses
 * net/firewall.h. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "basic/error.h"
#include "net/firewall.h"
#include "model/names.h"

#define FW_TABLE       "inet ward"
#define FW_IF_WILDCARD "\"" WARD_IFNAME_PREFIX "*\""
#define FW_NAME_MAX    64 /* a tenant's name, [a-z0-9-] */

/* The sets and maps a tenant has elements in. SET_EGRESS + n is the set of
 * egress flows to networks of prefix length n: a CIDR in an interval set
 * would make libnftables fetch the whole set on every deletion (~90 ms at
 * 3000 elements), so the rule masks the destination and looks it up exactly. */
enum {
	SET_OWN,       /* ifname . its address: anti-spoofing */
	SET_DROPCNT,   /* ifname, with a counter: the service's drops */
	SET_MASQ,      /* service addresses, masqueraded on the way out */
	SET_CONNECT,   /* ifname . ifname . addr . proto . port */
	SET_INGRESS,   /* ifname . proto . port, reached through DNAT */
	SET_HOSTPORTS, /* map proto . host port : addr . port */
	SET_EGRESS,    /* ... SET_EGRESS + 32 */
};

#define SET_NAME_LEN 24 /* "egress_" and any unsigned */

void fw_set_name(unsigned set, char buf[SET_NAME_LEN]);

/* One element as nft text. Sizes hold the longest key and value there is:
 * "wrd0af00302" . "wrd0af00303" . 255.255.255.255 . udp . 65535 */
struct elem {
	unsigned set;
	char key[80];
	char val[24]; /* map value ("" for a set) */
};

struct elems {
	struct elem *v;
	size_t n, cap;
};

void fw_elems_free(struct elems *e);

/* Names end up inside nft text: nothing but [a-z0-9-] gets in, at most max
 * bytes. */
bool fw_name_ok(const char *s, size_t max);
/* The uplink is the host's own link: see firewall-model.c. */
bool fw_uplink_ok(const char *s);

/* Every element the tenant should have, sorted, into e (empty on entry);
 * or -1 with err set when the tenant is malformed. */
int fw_tenant_elems(const struct fw_tenant *t, struct elems *e, struct ward_err *err);

/* The sets whose elements belong to one tenant each (interfaces, addresses,
 * host ports): two tenants sharing one would each remove the other's. */
bool fw_owned_set(unsigned set);
/* "host port tcp . 8443" reads better as "host port tcp/8443". */
void fw_key_readable(const char *key, char *buf, size_t len);

/* The change from old to new (both sorted): deletions first, so that a host
 * port whose target changed is deleted and added again in the same
 * transaction. "" when nothing changes; NULL when out of memory. Caller
 * frees. */
char *fw_diff_text(const struct elems *old, const struct elems *new);
