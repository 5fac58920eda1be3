/* The base table: every chain, set and map of `inet ward`, with the
 * catch-all drops, as one nft text applied when wardd starts. What a tenant
 * may do is only ever added as elements (firewall-model.c). */
#include "net/firewall-base.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "net/firewall-model.h"

/* Per hook, in packet order; "outside" is the uplink, or with none any link
 * that is not ward's:
 *  raw prerouting  A packet from a ward link carries that service's own IPv4
 *                  source, or is dropped before conntrack makes state of it.
 *  forward         Established first (their first packet passed the rules
 *                  below; the source was checked at raw). Then declared
 *                  flows; anything else from or to a ward link is dropped,
 *                  counted on the service it came from or went to; links
 *                  without elements yet are dropped by the catch-alls.
 *  input           Nothing from a ward link reaches the host itself.
 *  postrouting     The host's own processes (a local source address) reach
 *                  a ward link only through a host port, or with replies:
 *                  without this any local user (or an end user's `ssh -L`,
 *                  which a ForceCommand does not stop) could connect to
 *                  every tenant's services. Counted on the service it was
 *                  for. At postrouting, not output: there the link of a
 *                  packet that any nat rule redirected is still the one of
 *                  its first route (lo), here it is where it goes.
 *                  Forwarded packets were judged by the forward chain.
 *  nat             Host ports on a local address, arriving from outside or
 *                  from the host itself (not on loopback addresses: the
 *                  kernel routes no 127/8 source out of lo), go to their
 *                  service; egress leaving is masqueraded.
 * Non-ward traffic is left as it was: `accept` here only ends this table's
 * chain, nothing else drops it unless drop_foreign_forwarding says so. */
char *fw_base_text(const char *uplink, bool drop_foreign_forwarding)
{
	char in[48], out[48], name[SET_NAME_LEN];
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	if (uplink[0]) {
		(void)snprintf(in, sizeof(in), "iifname \"%s\"", uplink);
		(void)snprintf(out, sizeof(out), "oifname \"%s\"", uplink);
	} else {
		(void)snprintf(in, sizeof(in), "iifname != %s", FW_IF_WILDCARD);
		(void)snprintf(out, sizeof(out), "oifname != %s", FW_IF_WILDCARD);
	}
	/* add + delete: a leftover table goes, and a missing one is no error. */
	fprintf(f,
		"add table " FW_TABLE "\ndelete table " FW_TABLE "\ntable " FW_TABLE " {\n"
		"\tset own { type ifname . ipv4_addr; }\n"
		"\tset dropcnt { type ifname; counter; }\n"
		"\tset masq { type ipv4_addr; }\n"
		"\tset connect { type ifname . ifname . ipv4_addr . inet_proto . inet_service; }\n"
		"\tset ingress { type ifname . inet_proto . inet_service; }\n"
		"\tmap hostports { type inet_proto . inet_service : ipv4_addr . inet_service; }\n"
		"\tset txn { type mark; elements = { 0 }; }\n"
		"\tset egress_0 { type ifname . inet_proto . inet_service; }\n");
	for (unsigned p = 1; p <= 32; p++)
		fprintf(
		    f, "\tset egress_%u { type ifname . ipv4_addr . inet_proto . inet_service; }\n",
		    p);
	fprintf(f,
		"\tchain prerouting_raw {\n"
		"\t\ttype filter hook prerouting priority raw; policy accept;\n"
		"\t\tiifname != " FW_IF_WILDCARD " accept\n"
		"\t\tiifname . ip saddr @own accept\n"
		"\t\tiifname @dropcnt drop\n"
		"\t\tcounter drop\n"
		"\t}\n"
		"\tchain forward {\n"
		"\t\ttype filter hook forward priority filter; policy accept;\n"
		"\t\tct state established,related accept\n"
		"\t\tiifname " FW_IF_WILDCARD " ct state invalid counter drop\n"
		"\t\toifname " FW_IF_WILDCARD " ct state invalid counter drop\n"
		"\t\tiifname . oifname . ip daddr . meta l4proto . th dport @connect accept\n"
		"\t\tiifname " FW_IF_WILDCARD " %s jump egress\n"
		"\t\tiifname @dropcnt drop\n"
		"\t\tiifname " FW_IF_WILDCARD " counter drop\n"
		"\t\t%s ct status dnat oifname . meta l4proto . th dport @ingress accept\n"
		"\t\toifname @dropcnt drop\n"
		"\t\toifname " FW_IF_WILDCARD " counter drop\n"
		"%s"
		"\t}\n"
		"\tchain egress {\n",
		out, in,
		/* Only non-ward traffic gets this far. */
		drop_foreign_forwarding ? "\t\tcounter drop\n" : "");
	/* Entered by new connections from a ward link to the outside only:
	 * 33 exact lookups, whatever the number of tenants. */
	for (unsigned p = 33; p-- > 0;) {
		uint32_t mask = p ? ~0u << (32 - p) : 0;
		char m[16];

		fw_set_name(SET_EGRESS + p, name);
		(void)ip4_string(mask, m);
		if (p == 32)
			fprintf(f, "\t\tiifname . ip daddr . meta l4proto . th dport @%s accept\n",
				name);
		else if (p)
			fprintf(
			    f, "\t\tiifname . ip daddr & %s . meta l4proto . th dport @%s accept\n",
			    m, name);
		else
			fprintf(f, "\t\tiifname . meta l4proto . th dport @%s accept\n", name);
	}
	fprintf(f,
		"\t}\n"
		"\tchain input {\n"
		"\t\ttype filter hook input priority filter; policy accept;\n"
		"\t\tiifname != " FW_IF_WILDCARD " accept\n"
		"\t\tct state established,related accept\n"
		"\t\tiifname @dropcnt drop\n"
		"\t\tcounter drop\n"
		"\t}\n"
		"\tchain postrouting {\n"
		"\t\ttype filter hook postrouting priority filter; policy accept;\n"
		"\t\toifname != " FW_IF_WILDCARD " accept\n"
		"\t\tct state established,related accept\n"
		"\t\tfib saddr type != local accept\n"
		"\t\tct status dnat oifname . meta l4proto . th dport @ingress accept\n"
		"\t\toifname @dropcnt drop\n"
		"\t\tcounter drop\n"
		"\t}\n"
		"\tchain prerouting_nat {\n"
		"\t\ttype nat hook prerouting priority dstnat; policy accept;\n"
		"\t\tmeta nfproto ipv4 %s fib daddr type local "
		"dnat ip to meta l4proto . th dport map @hostports\n"
		"\t}\n"
		"\tchain output_nat {\n"
		"\t\ttype nat hook output priority -100; policy accept;\n"
		"\t\tmeta nfproto ipv4 ip daddr != 127.0.0.0/8 fib daddr type local "
		"dnat ip to meta l4proto . th dport map @hostports\n"
		"\t}\n"
		"\tchain postrouting_nat {\n"
		"\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
		"\t\tmeta nfproto ipv4 %s ip saddr @masq masquerade\n"
		"\t}\n"
		"}\n",
		in, out);
	if (ferror(f)) {
		(void)fclose(f);
		free(text);
		return NULL;
	}
	if (fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}
