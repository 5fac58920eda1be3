/* The element model of the `inet ward` table: what a tenant is as set and
 * map elements, and the nft text of a change from one list of elements to
 * another. Nothing here talks to the kernel (firewall.c applies the text,
 * through nft-helper.c). */
#include "net/firewall-model.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- sets and their elements ---- */

void fw_set_name(unsigned set, char buf[SET_NAME_LEN])
{
	static const char *const names[SET_EGRESS] = {"own",     "dropcnt", "masq",
						      "connect", "ingress", "hostports"};

	if (set < SET_EGRESS)
		(void)snprintf(buf, SET_NAME_LEN, "%s", names[set]);
	else
		(void)snprintf(buf, SET_NAME_LEN, "egress_%u", set - SET_EGRESS);
}

static int elem_cmp(const void *a, const void *b)
{
	const struct elem *x = a, *y = b;

	if (x->set != y->set)
		return x->set < y->set ? -1 : 1;
	return strcmp(x->key, y->key);
}

static int elems_push(struct elems *e, unsigned set, const char *key, const char *val)
{
	struct elem *x;

	if (e->n == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 16;
		struct elem *v = reallocarray(e->v, cap, sizeof(*v));

		if (!v)
			return -1;
		e->v = v;
		e->cap = cap;
	}
	x = &e->v[e->n];
	x->set = set;
	if (snprintf(x->key, sizeof(x->key), "%s", key) >= (int)sizeof(x->key) ||
	    snprintf(x->val, sizeof(x->val), "%s", val ? val : "") >= (int)sizeof(x->val))
		return -1; /* cannot happen with the formats below */
	e->n++;
	return 0;
}

void fw_elems_free(struct elems *e)
{
	free(e->v);
	*e = (struct elems){0};
}

/* Sorted, identical elements merged (two flows declared twice are one). */
static void elems_sort(struct elems *e)
{
	size_t i, o = 0;

	if (!e->n)
		return;
	qsort(e->v, e->n, sizeof(*e->v), elem_cmp);
	for (i = 1; i < e->n; i++)
		if (elem_cmp(&e->v[o], &e->v[i]) != 0)
			e->v[++o] = e->v[i];
	e->n = o + 1;
}

/* ---- names and formatting ---- */

/* Names end up inside nft text: nothing but [a-z0-9-] gets in. */
bool fw_name_ok(const char *s, size_t max)
{
	size_t i;

	if (!s || !s[0])
		return false;
	for (i = 0; s[i]; i++) {
		if (i >= max)
			return false;
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	}
	return true;
}

static bool ifname_ok(const char ifname[IF_NAMESIZE])
{
	return memchr(ifname, '\0', IF_NAMESIZE) && fw_name_ok(ifname, IF_NAMESIZE - 1) &&
	       strncmp(ifname, WARD_IFNAME_PREFIX, strlen(WARD_IFNAME_PREFIX)) == 0 &&
	       ifname[strlen(WARD_IFNAME_PREFIX)];
}

/* The uplink is the host's own link: its name is not ward's to choose, so
 * the usual link name characters are allowed; none of them means anything
 * inside an nft string ('*' would: it is not allowed). */
bool fw_uplink_ok(const char *s)
{
	size_t i;

	if (!s[0] || strlen(s) >= IF_NAMESIZE ||
	    strncmp(s, WARD_IFNAME_PREFIX, strlen(WARD_IFNAME_PREFIX)) == 0)
		return false;
	for (i = 0; s[i]; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_' || s[i] == '.'))
			return false;
	return true;
}

static const char *proto_name(int proto)
{
	return proto == IPPROTO_TCP ? "tcp" : proto == IPPROTO_UDP ? "udp" : NULL;
}

/* ---- a tenant as elements ---- */

/* Each service: a ward interface name and an address, neither shared. */
static int check_services(const struct fw_tenant *t, struct ward_err *err)
{
	size_t i, j;

	for (i = 0; i < t->n_services; i++) {
		const struct fw_service *s = &t->services[i];

		if (!ifname_ok(s->ifname))
			return ward_err_set(err, EINVAL,
					    "tenant %s: service %s: bad interface name (want %s + "
					    "[a-z0-9-])",
					    t->name, s->name ? s->name : "?", WARD_IFNAME_PREFIX);
		if (!s->addr)
			return ward_err_set(err, EINVAL, "tenant %s: service %s: no address",
					    t->name, s->name ? s->name : "?");
		for (j = 0; j < i; j++)
			if (!strcmp(t->services[j].ifname, s->ifname) ||
			    t->services[j].addr == s->addr)
				return ward_err_set(err, EINVAL,
						    "tenant %s: services %s and %s share an "
						    "interface or address",
						    t->name,
						    t->services[j].name ? t->services[j].name : "?",
						    s->name ? s->name : "?");
	}
	return 0;
}

/* Connect and egress flows: from (and to) a service, a protocol, a port. */
static int check_outbound(const struct fw_tenant *t, struct ward_err *err)
{
	size_t i;

	for (i = 0; i < t->n_connect; i++)
		if (t->connect[i].from >= t->n_services || t->connect[i].to >= t->n_services ||
		    !proto_name(t->connect[i].proto) || !t->connect[i].port)
			return ward_err_set(err, EINVAL, "tenant %s: connect flow %zu is invalid",
					    t->name, i);
	for (i = 0; i < t->n_egress; i++)
		if (t->egress[i].from >= t->n_services || t->egress[i].prefix > 32 ||
		    !proto_name(t->egress[i].proto) || !t->egress[i].port)
			return ward_err_set(err, EINVAL, "tenant %s: egress flow %zu is invalid",
					    t->name, i);
	return 0;
}

/* Ingress flows: to a service, and no host port forwarded twice. */
static int check_ingress(const struct fw_tenant *t, struct ward_err *err)
{
	size_t i, j;

	for (i = 0; i < t->n_ingress; i++) {
		const struct fw_ingress *in = &t->ingress[i];

		if (in->to >= t->n_services || !proto_name(in->proto) || !in->port ||
		    !in->host_port)
			return ward_err_set(err, EINVAL, "tenant %s: ingress flow %zu is invalid",
					    t->name, i);
		for (j = 0; j < i; j++)
			if (t->ingress[j].host_port == in->host_port &&
			    t->ingress[j].proto == in->proto)
				return ward_err_set(err, EINVAL,
						    "tenant %s: host port %s/%u is forwarded twice",
						    t->name, proto_name(in->proto), in->host_port);
	}
	return 0;
}

static int check_service_refs(const struct fw_tenant *t, struct ward_err *err)
{
	if (check_services(t, err) < 0 || check_outbound(t, err) < 0 || check_ingress(t, err) < 0)
		return -1;
	return 0;
}

static int service_elems(const struct fw_service *s, struct elems *e)
{
	char addr[16], key[80];

	(void)ip4_string(s->addr, addr);
	(void)snprintf(key, sizeof(key), "\"%s\" . %s", s->ifname, addr);
	if (elems_push(e, SET_OWN, key, NULL) < 0)
		return -1;
	(void)snprintf(key, sizeof(key), "\"%s\"", s->ifname);
	if (elems_push(e, SET_DROPCNT, key, NULL) < 0)
		return -1;
	return elems_push(e, SET_MASQ, addr, NULL);
}

static int flow_elems(const struct fw_tenant *t, struct elems *e)
{
	char addr[16], key[80], val[24];
	size_t i;

	for (i = 0; i < t->n_connect; i++) {
		const struct fw_connect *c = &t->connect[i];
		const struct fw_service *to = &t->services[c->to];

		(void)ip4_string(to->addr, addr);
		(void)snprintf(key, sizeof(key), "\"%s\" . \"%s\" . %s . %s . %u",
			       t->services[c->from].ifname, to->ifname, addr, proto_name(c->proto),
			       c->port);
		if (elems_push(e, SET_CONNECT, key, NULL) < 0)
			return -1;
	}
	for (i = 0; i < t->n_egress; i++) {
		const struct fw_egress *g = &t->egress[i];
		uint32_t mask = g->prefix ? ~0u << (32 - g->prefix) : 0;

		(void)ip4_string(g->net & mask, addr);
		if (g->prefix)
			(void)snprintf(key, sizeof(key), "\"%s\" . %s . %s . %u",
				       t->services[g->from].ifname, addr, proto_name(g->proto),
				       g->port);
		else
			(void)snprintf(key, sizeof(key), "\"%s\" . %s . %u",
				       t->services[g->from].ifname, proto_name(g->proto), g->port);
		if (elems_push(e, SET_EGRESS + g->prefix, key, NULL) < 0)
			return -1;
	}
	for (i = 0; i < t->n_ingress; i++) {
		const struct fw_ingress *in = &t->ingress[i];
		const struct fw_service *to = &t->services[in->to];

		(void)snprintf(key, sizeof(key), "\"%s\" . %s . %u", to->ifname,
			       proto_name(in->proto), in->port);
		if (elems_push(e, SET_INGRESS, key, NULL) < 0)
			return -1;
		(void)ip4_string(to->addr, addr);
		(void)snprintf(key, sizeof(key), "%s . %u", proto_name(in->proto), in->host_port);
		(void)snprintf(val, sizeof(val), "%s . %u", addr, in->port);
		if (elems_push(e, SET_HOSTPORTS, key, val) < 0)
			return -1;
	}
	return 0;
}

/* Every element the tenant should have, sorted; or -1 with err set. */
int fw_tenant_elems(const struct fw_tenant *t, struct elems *e, struct ward_err *err)
{
	size_t i;

	if (!t || !fw_name_ok(t->name, FW_NAME_MAX))
		return ward_err_set(err, EINVAL, "tenant %s: bad name (want [a-z0-9-]{1,%d})",
				    t && t->name ? t->name : "(null)", FW_NAME_MAX);
	if ((t->n_services && !t->services) || (t->n_connect && !t->connect) ||
	    (t->n_egress && !t->egress) || (t->n_ingress && !t->ingress))
		return ward_err_set(err, EINVAL, "tenant %s: missing array", t->name);
	if (check_service_refs(t, err) < 0)
		return -1;
	for (i = 0; i < t->n_services; i++)
		if (service_elems(&t->services[i], e) < 0)
			return ward_err_set(err, ENOMEM, "tenant %s", t->name);
	if (flow_elems(t, e) < 0)
		return ward_err_set(err, ENOMEM, "tenant %s", t->name);
	elems_sort(e);
	return 0;
}

/* ---- ownership and changes ---- */

bool fw_owned_set(unsigned set)
{
	return set == SET_DROPCNT || set == SET_MASQ || set == SET_HOSTPORTS;
}

/* "host port tcp . 8443" reads better as "host port tcp/8443". */
void fw_key_readable(const char *key, char *buf, size_t len)
{
	size_t o = 0;

	for (; *key && o + 1 < len; key++) {
		if (!strncmp(key, " . ", 3)) {
			buf[o++] = '/';
			key += 2;
		} else {
			buf[o++] = *key;
		}
	}
	buf[o] = '\0';
}

/* "add element inet ward own { a, b }" for each run of one set in v[]. */
static int emit_elems(FILE *f, const char *verb, const struct elem *const *v, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned set = v[i]->set;
		char name[SET_NAME_LEN];
		const char *sep = "";

		fw_set_name(set, name);
		fprintf(f, "%s element " FW_TABLE " %s { ", verb, name);
		for (; i < n && v[i]->set == set; i++, sep = ", ") {
			fprintf(f, "%s%s", sep, v[i]->key);
			if (v[i]->val[0] && verb[0] == 'a')
				fprintf(f, " : %s", v[i]->val);
		}
		fprintf(f, " }\n");
	}
	return ferror(f) ? -1 : 0;
}

/* The change from old to new: deletions first, so that a host port whose
 * target changed is deleted and added again in the same transaction. ""
 * when nothing changes; NULL when out of memory. */
char *fw_diff_text(const struct elems *old, const struct elems *new)
{
	/* Deletions in v[0, old->n), additions in v[old->n, old->n + new->n). */
	const struct elem **v = calloc(old->n + new->n + 1, sizeof(*v));
	size_t i = 0, j = 0, n_del = 0, n_add = 0, len = 0;
	char *text = NULL;
	FILE *f;

	if (!v)
		return NULL;
	const struct elem **add = v + old->n;
	while (i < old->n || j < new->n) {
		int c = i == old->n ? 1 : j == new->n ? -1 : elem_cmp(&old->v[i], &new->v[j]);

		if (c <= 0 && (c < 0 || strcmp(old->v[i].val, new->v[j].val) != 0))
			v[n_del++] = &old->v[i];
		if (c >= 0 && (c > 0 || strcmp(old->v[i].val, new->v[j].val) != 0))
			add[n_add++] = &new->v[j];
		i += c <= 0;
		j += c >= 0;
	}
	f = open_memstream(&text, &len);
	if (f && (emit_elems(f, "delete", v, n_del) < 0 || emit_elems(f, "add", add, n_add) < 0)) {
		(void)fclose(f);
		f = NULL;
	}
	free(v);
	if (!f || fclose(f) != 0) {
		free(text);
		return NULL;
	}
	return text;
}
