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
 * egress CIDRs go to one hash set per prefix length instead). */
#include "net/firewall.h"

#include <dlfcn.h>
#include <errno.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <nftables/libnftables.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/caps.h"
#include "basic/cleanup.h"
#include "basic/helper.h"
#include "net/netlink.h"

#define TABLE              "inet ward"
#define WARD_IF_WILDCARD   "\"" WARD_IFNAME_PREFIX "*\""
#define DEFAULT_TIMEOUT_MS 10000
#define NAME_MAX_LEN       64
/* nft text of one change is a few KiB; a counters listing at thousands of
 * services a few hundred. Anything far beyond is a broken peer. */
#define REQUEST_MAX (16u << 20)
#define REPLY_MAX   (64u << 20)

/* ---- sets and their elements ---- */

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

static void set_name(unsigned set, char buf[SET_NAME_LEN])
{
	static const char *const names[SET_EGRESS] = {"own",     "dropcnt", "masq",
						      "connect", "ingress", "hostports"};

	if (set < SET_EGRESS)
		(void)snprintf(buf, SET_NAME_LEN, "%s", names[set]);
	else
		(void)snprintf(buf, SET_NAME_LEN, "egress_%u", set - SET_EGRESS);
}

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

static void elems_free(struct elems *e)
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
static bool name_ok(const char *s, size_t max)
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
	return memchr(ifname, '\0', IF_NAMESIZE) && name_ok(ifname, IF_NAMESIZE - 1) &&
	       strncmp(ifname, WARD_IFNAME_PREFIX, strlen(WARD_IFNAME_PREFIX)) == 0 &&
	       ifname[strlen(WARD_IFNAME_PREFIX)];
}

/* The uplink is the host's own link: its name is not ward's to choose, so
 * the usual link name characters are allowed; none of them means anything
 * inside an nft string ('*' would: it is not allowed). */
static bool uplink_ok(const char *s)
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

static void ip4_fmt(uint32_t addr, char buf[16])
{
	(void)snprintf(buf, 16, "%u.%u.%u.%u", addr >> 24, (addr >> 16) & 0xff, (addr >> 8) & 0xff,
		       addr & 0xff);
}

static const char *proto_name(int proto)
{
	return proto == IPPROTO_TCP ? "tcp" : proto == IPPROTO_UDP ? "udp" : NULL;
}

/* ---- a tenant as elements ---- */

static int check_service_refs(const struct fw_tenant *t, struct ward_err *err)
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

static int service_elems(const struct fw_service *s, struct elems *e)
{
	char addr[16], key[80];

	ip4_fmt(s->addr, addr);
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

		ip4_fmt(to->addr, addr);
		(void)snprintf(key, sizeof(key), "\"%s\" . \"%s\" . %s . %s . %u",
			       t->services[c->from].ifname, to->ifname, addr, proto_name(c->proto),
			       c->port);
		if (elems_push(e, SET_CONNECT, key, NULL) < 0)
			return -1;
	}
	for (i = 0; i < t->n_egress; i++) {
		const struct fw_egress *g = &t->egress[i];
		uint32_t mask = g->prefix ? ~0u << (32 - g->prefix) : 0;

		ip4_fmt(g->net & mask, addr);
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
		ip4_fmt(to->addr, addr);
		(void)snprintf(key, sizeof(key), "%s . %u", proto_name(in->proto), in->host_port);
		(void)snprintf(val, sizeof(val), "%s . %u", addr, in->port);
		if (elems_push(e, SET_HOSTPORTS, key, val) < 0)
			return -1;
	}
	return 0;
}

/* Every element the tenant should have, sorted; or -1 with err set. */
static int tenant_elems(const struct fw_tenant *t, struct elems *e, struct ward_err *err)
{
	size_t i;

	if (!t || !name_ok(t->name, NAME_MAX_LEN))
		return ward_err_set(err, EINVAL, "tenant %s: bad name (want [a-z0-9-]{1,%d})",
				    t && t->name ? t->name : "(null)", NAME_MAX_LEN);
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
	int timeout_ms;
	pid_t helper; /* -1: none running */
	int sock;
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

static bool owned_set(unsigned set)
{
	return set == SET_DROPCNT || set == SET_MASQ || set == SET_HOSTPORTS;
}

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
		if (!owned_set(new->v[i].set))
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
		if (!owned_set(old->v[i].set))
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
	elems_free(&ts->elems);
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
	elems_free(&ts->elems);
	ts->elems = *e;
	*e = (struct elems){0};
	return 0;
}

/* "host port tcp . 8443" reads better as "host port tcp/8443". */
static void key_readable(const char *key, char *buf, size_t len)
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

static int check_conflicts(const struct firewall *fw, const char *tenant, const struct elems *e,
			   struct ward_err *err)
{
	static const char *const what[] = {
	    [SET_DROPCNT] = "interface", [SET_MASQ] = "address", [SET_HOSTPORTS] = "host port"};
	size_t i;

	for (i = 0; i < e->n; i++) {
		const struct owner *o;
		char key[sizeof(e->v[i].key)];

		if (!owned_set(e->v[i].set))
			continue;
		o = *owner_link(fw->owners, e->v[i].set, e->v[i].key);
		if (!o || !strcmp(o->tenant->name, tenant))
			continue;
		key_readable(e->v[i].key, key, sizeof(key));
		return ward_err_set(err, EEXIST, "tenant %s: %s %s is already tenant %s's", tenant,
				    what[e->v[i].set], key, o->tenant->name);
	}
	return 0;
}

/* "add element inet ward own { a, b }" for each run of one set in v[]. */
static int emit_elems(FILE *f, const char *verb, const struct elem *const *v, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned set = v[i]->set;
		char name[SET_NAME_LEN];
		const char *sep = "";

		set_name(set, name);
		fprintf(f, "%s element " TABLE " %s { ", verb, name);
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
static char *diff_text(const struct elems *old, const struct elems *new)
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

/* ---- the helper process ---- */

struct request_header {
	uint32_t json; /* output as JSON */
	uint32_t len;
};

struct reply_header {
	int32_t rc;
	uint32_t out_len, err_len;
};

/* Blocking, for the helper's side. 1 done, 0 end of file before anything
 * was read, -1 error or end of file in the middle. */
static int read_all(int fd, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = read(fd, (char *)buf + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n == 0 && done == 0 ? 0 : -1;
		done += (size_t)n;
	}
	return 1;
}

static int send_all(int fd, const void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = send(fd, (const char *)buf + done, len - done, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

/* libnftables is loaded by the helper alone (dlopen), never linked into
 * wardd: `wardd run` starts a fresh wardd per launch, and loading
 * libnftables with its five dependencies (libnftnl, libmnl, libxtables,
 * libgmp, ...) cost every launch ~1 ms of ld.so work for a library it
 * never calls. */
static struct nft_api {
	struct nft_ctx *(*ctx_new)(uint32_t flags);
	int (*buffer_output)(struct nft_ctx *ctx);
	int (*buffer_error)(struct nft_ctx *ctx);
	const char *(*get_output)(struct nft_ctx *ctx);
	const char *(*get_error)(struct nft_ctx *ctx);
	void (*output_set_flags)(struct nft_ctx *ctx, unsigned int flags);
	int (*run)(struct nft_ctx *ctx, const char *buf);
} nft;

static int nft_api_load(void)
{
	void *h = dlopen("libnftables.so.1", RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		fprintf(stderr, "wardd-nft: %s\n", dlerror());
		return -1;
	}
	/* POSIX: a dlsym result converts to a function pointer. */
	*(void **)&nft.ctx_new = dlsym(h, "nft_ctx_new");
	*(void **)&nft.buffer_output = dlsym(h, "nft_ctx_buffer_output");
	*(void **)&nft.buffer_error = dlsym(h, "nft_ctx_buffer_error");
	*(void **)&nft.get_output = dlsym(h, "nft_ctx_get_output_buffer");
	*(void **)&nft.get_error = dlsym(h, "nft_ctx_get_error_buffer");
	*(void **)&nft.output_set_flags = dlsym(h, "nft_ctx_output_set_flags");
	*(void **)&nft.run = dlsym(h, "nft_run_cmd_from_buffer");
	if (!nft.ctx_new || !nft.buffer_output || !nft.buffer_error || !nft.get_output ||
	    !nft.get_error || !nft.output_set_flags || !nft.run) {
		fprintf(stderr, "wardd-nft: libnftables.so.1 lacks a function ward uses\n");
		return -1;
	}
	return 0;
}

static int helper_serve(int sock, struct nft_ctx *ctx)
{
	struct request_header req;
	_cleanup_free_ char *text = NULL;
	int r = read_all(sock, &req, sizeof(req));

	if (r <= 0)
		return r;
	if (req.len > REQUEST_MAX || !(text = malloc((size_t)req.len + 1)) ||
	    read_all(sock, text, req.len) != 1)
		return -1;
	text[req.len] = '\0';
	nft.output_set_flags(ctx, req.json ? NFT_CTX_OUTPUT_JSON : 0);

	struct reply_header rep = {.rc = nft.run(ctx, text)};
	/* Each get also rewinds its buffer for the next request. */
	const char *out = nft.get_output(ctx);
	const char *errs = nft.get_error(ctx);

	rep.out_len = (uint32_t)strnlen(out, REPLY_MAX / 2);
	rep.err_len = (uint32_t)strnlen(errs, REPLY_MAX / 2);
	if (send_all(sock, &rep, sizeof(rep)) < 0 || send_all(sock, out, rep.out_len) < 0 ||
	    send_all(sock, errs, rep.err_len) < 0)
		return -1;
	return 1;
}

/* The helper: one nft context for its whole life, one request at a time,
 * gone when the daemon closes its end or dies. */
static __attribute__((noreturn)) void helper_main(void *arg)
{
	struct nft_ctx *ctx;

	(void)arg;
	/* It talks to the kernel's nftables and nothing else: CAP_NET_ADMIN is
	 * all it keeps (root's uid stays, its other capabilities go, from the
	 * bounding set too, and no_new_privs), so a bug in libnftables'
	 * parser is not a root shell. */
	{
		const char *step = NULL;

		if (caps_drop_to(0, 0, UINT64_C(1) << CAP_NET_ADMIN, &step) < 0 ||
		    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
			_exit(1);
	}
	if (nft_api_load() < 0)
		_exit(1);
	ctx = nft.ctx_new(NFT_CTX_DEFAULT);
	if (!ctx || nft.buffer_output(ctx) < 0 || nft.buffer_error(ctx) < 0)
		_exit(1);
	for (;;) {
		int r = helper_serve(3, ctx);

		if (r <= 0)
			_exit(r == 0 ? 0 : 1);
	}
}

static int helper_start(struct firewall *fw, struct ward_err *err)
{
	pid_t pid = helper_fork(SOCK_STREAM, "wardd-nft", helper_main, NULL, &fw->sock);

	if (pid < 0)
		return ward_err_set(err, errno, "nft helper: start");
	fw->helper = pid;
	return 0;
}

/* Ends the helper and says how it ended, for the error message. A helper
 * that is already on its way out (it closed the socket by dying) is not
 * changed by the SIGKILL: its status says how it died. Only a child not yet
 * reaped is signalled: its pid cannot have been reused. */
static void helper_stop(struct firewall *fw, char *how, size_t how_len)
{
	int st = 0;
	pid_t r;

	if (fw->helper < 0)
		return;
	close(fw->sock);
	fw->sock = -1;
	r = waitpid(fw->helper, &st, WNOHANG);
	if (r == 0) {
		(void)kill(fw->helper, SIGKILL);
		do
			r = waitpid(fw->helper, &st, 0);
		while (r < 0 && errno == EINTR);
	}
	if (how && r > 0 && WIFSIGNALED(st))
		(void)snprintf(how, how_len, "killed by signal %d", WTERMSIG(st));
	else if (how && r > 0 && WIFEXITED(st))
		(void)snprintf(how, how_len, "exited with status %d", WEXITSTATUS(st));
	else if (how)
		(void)snprintf(how, how_len, "gone");
	fw->helper = -1;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for the socket until the deadline: 1 ready, 0 timed out, -1 error. */
static int sock_wait(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd p = {.fd = fd, .events = events};
		int64_t left = deadline - now_ms();
		int r;

		if (left <= 0)
			return 0;
		r = poll(&p, 1, (int)(left > 60000 ? 60000 : left));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r > 0)
			return 1; /* errors and hang-ups show in the send or recv */
	}
}

/* Both: 0 done; -1 failed (errno; ETIMEDOUT at the deadline, EPIPE at end
 * of file). The socket stays blocking for the helper's sake; each call
 * here is non-blocking and waits in poll(), so the deadline holds. */
static int send_by(int fd, const void *buf, size_t len, int64_t deadline)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n =
		    send(fd, (const char *)buf + done, len - done, MSG_NOSIGNAL | MSG_DONTWAIT);
		int r;

		if (n >= 0) {
			done += (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN || (r = sock_wait(fd, POLLOUT, deadline)) < 0)
			return -1;
		if (r == 0)
			return errno = ETIMEDOUT, -1;
	}
	return 0;
}

static int recv_by(int fd, void *buf, size_t len, int64_t deadline)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = recv(fd, (char *)buf + done, len - done, MSG_DONTWAIT);
		int r;

		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n == 0)
			return errno = EPIPE, -1;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN || (r = sock_wait(fd, POLLIN, deadline)) < 0)
			return -1;
		if (r == 0)
			return errno = ETIMEDOUT, -1;
	}
	return 0;
}

/* "Could not process rule: No such file or directory (in: delete element
 * ...)" out of nft's multi-line error text. */
static int nft_error(struct ward_err *err, const char *text)
{
	const char *e = strstr(text, "Error: ");
	const char *end, *cmd, *cmd_end;

	if (!e)
		return ward_err_set(err, 0, "nft failed: %.300s", text[0] ? text : "no message");
	e += strlen("Error: ");
	end = strchrnul(e, '\n');
	cmd = *end ? end + 1 : end;
	cmd_end = strchrnul(cmd, '\n');
	if (cmd_end == cmd)
		return ward_err_set(err, 0, "nft: %.*s", (int)(end - e), e);
	return ward_err_set(err, 0, "nft: %.*s (in: %.*s)", (int)(end - e), e,
			    (int)(cmd_end - cmd > 300 ? 300 : cmd_end - cmd), cmd);
}

enum request_result {
	REQ_OK,
	REQ_FAILED, /* not applied: nft refused it, or it never reached nft */
	REQ_LOST,   /* sent whole, no answer: applied or not, nobody knows */
};

static enum request_result request_lost(struct firewall *fw, int errnum, struct ward_err *err)
{
	char how[64] = "";

	helper_stop(fw, how, sizeof(how));
	if (errnum == ETIMEDOUT)
		return ward_err_set(err, 0, "nft helper did not answer within %d ms",
				    fw->timeout_ms),
		       REQ_LOST;
	/* ECONNRESET: it died with the request unread. */
	if (errnum == EPIPE || errnum == ECONNRESET)
		return ward_err_set(err, 0, "nft helper died with the request (%s)", how), REQ_LOST;
	return ward_err_set(err, errnum, "nft helper: reply"), REQ_LOST;
}

/* Runs text in the helper, starting it first if there is none (or if the
 * one there died while idle: nothing was lost with it). *out, if asked for,
 * gets nft's output. */
static enum request_result request(struct firewall *fw, const char *text, bool json, char **out,
				   struct ward_err *err)
{
	struct request_header req = {.json = json, .len = (uint32_t)strlen(text)};
	struct reply_header rep;
	_cleanup_free_ char *buf = NULL;
	int64_t deadline;

	if (strlen(text) > REQUEST_MAX)
		return ward_err_set(err, E2BIG, "nft request"), REQ_FAILED;
	if (fw->helper >= 0 && waitpid(fw->helper, NULL, WNOHANG) != 0) {
		fw->helper = -1; /* reaped (or not ours any more) */
		close(fw->sock);
		fw->sock = -1;
	}
	if (fw->helper < 0 && helper_start(fw, err) < 0)
		return REQ_FAILED;
	deadline = now_ms() + fw->timeout_ms;
	/* Until the last byte is sent the helper cannot have run anything. */
	if (send_by(fw->sock, &req, sizeof(req), deadline) < 0 ||
	    send_by(fw->sock, text, req.len, deadline) < 0) {
		int e = errno;
		char how[64] = "";

		helper_stop(fw, how, sizeof(how));
		return ward_err_set(err, e, "nft helper (%s)", how), REQ_FAILED;
	}
	if (recv_by(fw->sock, &rep, sizeof(rep), deadline) < 0)
		return request_lost(fw, errno, err);
	if (rep.out_len > REPLY_MAX || rep.err_len > REPLY_MAX)
		return request_lost(fw, EPROTO, err);
	buf = malloc((size_t)rep.out_len + rep.err_len + 2);
	if (!buf)
		return request_lost(fw, ENOMEM, err);
	/* "out\0err\0" */
	if (recv_by(fw->sock, buf, rep.out_len, deadline) < 0 ||
	    recv_by(fw->sock, buf + rep.out_len + 1, rep.err_len, deadline) < 0)
		return request_lost(fw, errno, err);
	buf[rep.out_len] = '\0';
	buf[rep.out_len + 1 + rep.err_len] = '\0';
	if (rep.rc != 0) {
		/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): buf is _cleanup_free_ */
		return nft_error(err, buf + rep.out_len + 1), REQ_FAILED;
	}
	if (out)
		*out = TAKE_PTR(buf);
	return REQ_OK;
}

/* ---- the base table ---- */

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
static char *base_text(const struct firewall *fw)
{
	char in[48], out[48], name[SET_NAME_LEN];
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);

	if (!f)
		return NULL;
	if (fw->uplink[0]) {
		(void)snprintf(in, sizeof(in), "iifname \"%s\"", fw->uplink);
		(void)snprintf(out, sizeof(out), "oifname \"%s\"", fw->uplink);
	} else {
		(void)snprintf(in, sizeof(in), "iifname != %s", WARD_IF_WILDCARD);
		(void)snprintf(out, sizeof(out), "oifname != %s", WARD_IF_WILDCARD);
	}
	/* add + delete: a leftover table goes, and a missing one is no error. */
	fprintf(f,
		"add table " TABLE "\ndelete table " TABLE "\ntable " TABLE " {\n"
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
		"\t\tiifname != " WARD_IF_WILDCARD " accept\n"
		"\t\tiifname . ip saddr @own accept\n"
		"\t\tiifname @dropcnt drop\n"
		"\t\tcounter drop\n"
		"\t}\n"
		"\tchain forward {\n"
		"\t\ttype filter hook forward priority filter; policy accept;\n"
		"\t\tct state established,related accept\n"
		"\t\tiifname " WARD_IF_WILDCARD " ct state invalid counter drop\n"
		"\t\toifname " WARD_IF_WILDCARD " ct state invalid counter drop\n"
		"\t\tiifname . oifname . ip daddr . meta l4proto . th dport @connect accept\n"
		"\t\tiifname " WARD_IF_WILDCARD " %s jump egress\n"
		"\t\tiifname @dropcnt drop\n"
		"\t\tiifname " WARD_IF_WILDCARD " counter drop\n"
		"\t\t%s ct status dnat oifname . meta l4proto . th dport @ingress accept\n"
		"\t\toifname @dropcnt drop\n"
		"\t\toifname " WARD_IF_WILDCARD " counter drop\n"
		"%s"
		"\t}\n"
		"\tchain egress {\n",
		out, in,
		/* Only non-ward traffic gets this far. */
		fw->drop_foreign_forwarding ? "\t\tcounter drop\n" : "");
	/* Entered by new connections from a ward link to the outside only:
	 * 33 exact lookups, whatever the number of tenants. */
	for (unsigned p = 33; p-- > 0;) {
		uint32_t mask = p ? ~0u << (32 - p) : 0;
		char m[16];

		set_name(SET_EGRESS + p, name);
		ip4_fmt(mask, m);
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
		"\t\tiifname != " WARD_IF_WILDCARD " accept\n"
		"\t\tct state established,related accept\n"
		"\t\tiifname @dropcnt drop\n"
		"\t\tcounter drop\n"
		"\t}\n"
		"\tchain postrouting {\n"
		"\t\ttype filter hook postrouting priority filter; policy accept;\n"
		"\t\toifname != " WARD_IF_WILDCARD " accept\n"
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

/* ---- changes ---- */

/* Whether set txn holds gen. -1 on error. */
static int txn_has(struct firewall *fw, uint32_t gen, struct ward_err *err)
{
	_cleanup_free_ char *out = NULL;
	_cleanup_(json_decrefp) json_t *root = NULL;
	json_t *item, *v;
	size_t i, j;

	if (request(fw, "list set " TABLE " txn", true, &out, err) != REQ_OK)
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
	return ward_err_set(err, EPROTO, "list set " TABLE " txn: unexpected output");
}

static void limbo_clear(struct firewall *fw)
{
	free(fw->limbo.tenant);
	elems_free(&fw->limbo.elems);
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
	_cleanup_free_ char *diff = diff_text(ts ? &ts->elems : &none, e);
	_cleanup_free_ char *text = NULL;
	uint32_t next = fw->gen + 1;

	if (!diff)
		return ward_err_set(err, ENOMEM, "tenant %s", name);
	if (!diff[0])
		return 0; /* the same again: nothing to do */
	if (asprintf(&text,
		     "delete element " TABLE " txn { %u }\nadd element " TABLE " txn { %u }\n%s",
		     fw->gen, next, diff) < 0) {
		text = NULL;
		return ward_err_set(err, ENOMEM, "tenant %s", name);
	}
	switch (request(fw, text, false, NULL, err)) {
	case REQ_OK:
		fw->gen = next;
		if (tenant_store(fw, name, e) < 0) {
			/* Installed, but not recorded: known to the marker. */
			limbo_enter(fw, name, next, e);
			return ward_err_set(err, ENOMEM, "tenant %s", name);
		}
		return 0;
	case REQ_LOST:
		limbo_enter(fw, name, next, e);
		return ward_err_wrap(err, "tenant %s", name);
	case REQ_FAILED:
	default:
		return ward_err_wrap(err, "tenant %s", name);
	}
}

/* ---- the API ---- */

struct firewall *firewall_open(const struct firewall_options *opts, struct ward_err *err)
{
	_cleanup_free_ char *text = NULL;
	struct firewall *fw;

	if (opts && opts->uplink && !uplink_ok(opts->uplink))
		return ward_err_set(err, EINVAL, "firewall: bad uplink name \"%s\"", opts->uplink),
		       NULL;
	fw = calloc(1, sizeof(*fw));
	if (!fw)
		return ward_err_set(err, ENOMEM, "firewall"), NULL;
	fw->helper = -1;
	fw->sock = -1;
	fw->timeout_ms = DEFAULT_TIMEOUT_MS;
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
			fw->timeout_ms = opts->timeout_ms;
	}
	text = base_text(fw);
	if (!text) {
		ward_err_set(err, ENOMEM, "firewall");
		firewall_close(fw, false);
		return NULL;
	}
	if (request(fw, text, false, NULL, err) != REQ_OK) {
		ward_err_wrap(err, "create table " TABLE);
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
	if (delete_table && request(fw, "delete table " TABLE, false, NULL, &err) != REQ_OK)
		fprintf(stderr, "wardd: firewall: delete table " TABLE ": %s\n", err.msg);
	helper_stop(fw, NULL, 0);
	while (fw->n_tenants)
		tenant_drop(fw, fw->n_tenants - 1);
	owners_free(fw);
	free(fw->tenants);
	limbo_clear(fw);
	free(fw);
}

int firewall_tenant_set(struct firewall *fw, const struct fw_tenant *t, struct ward_err *err)
{
	_cleanup_(elems_free) struct elems e = {0};

	if (limbo_resolve(fw, err) < 0 || tenant_elems(t, &e, err) < 0 ||
	    check_conflicts(fw, t->name, &e, err) < 0)
		return -1;
	return tenant_apply(fw, t->name, &e, err);
}

int firewall_tenant_remove(struct firewall *fw, const char *tenant, struct ward_err *err)
{
	_cleanup_(elems_free) struct elems none = {0};

	if (!name_ok(tenant, NAME_MAX_LEN))
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
	_cleanup_(elems_free) struct elems e = {0};
	const struct tenant_state *ts;
	char *text;

	if (tenant_elems(t, &e, err) < 0 || check_conflicts(fw, t->name, &e, err) < 0)
		return NULL;
	ts = tenant_find(fw, t->name, NULL);
	text = diff_text(ts ? &ts->elems : &none, &e);
	if (!text)
		ward_err_set(err, ENOMEM, "tenant %s", t->name);
	return text;
}

json_t *firewall_counters(struct firewall *fw, struct ward_err *err)
{
	_cleanup_free_ char *out = NULL;
	_cleanup_(json_decrefp) json_t *root = NULL;
	_cleanup_(json_decrefp) json_t *res = json_object();
	json_error_t jerr;
	json_t *item, *elem;
	size_t i, j;

	if (!res)
		return ward_err_set(err, ENOMEM, "firewall counters"), NULL;
	if (request(fw, "list set " TABLE " dropcnt", true, &out, err) != REQ_OK)
		return ward_err_wrap(err, "firewall counters"), NULL;
	if (!(root = json_loads(out, 0, &jerr)))
		return ward_err_set(err, EPROTO, "firewall counters: nft output: %s", jerr.text),
		       NULL;
	/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): out is _cleanup_free_ */
	json_array_foreach(json_object_get(root, "nftables"), i, item)
	{
		json_t *set = json_object_get(item, "set");

		/* {"elem": {"val": "wrd...", "counter": {"packets": N, "bytes": N}}} */
		json_array_foreach(json_object_get(set, "elem"), j, elem)
		{
			json_t *e = json_object_get(elem, "elem");
			json_t *c = json_object_get(e, "counter");
			const char *name = json_string_value(json_object_get(e, "val"));
			json_t *pk = json_object_get(c, "packets"),
			       *by = json_object_get(c, "bytes");

			if (!name || !json_is_integer(pk) || !json_is_integer(by))
				return ward_err_set(err, EPROTO,
						    "firewall counters: unexpected element"),
				       NULL;
			if (json_object_set_new(res, name,
						json_pack("{sIsI}", "packets",
							  json_integer_value(pk), "bytes",
							  json_integer_value(by))) < 0)
				return ward_err_set(err, ENOMEM, "firewall counters"), NULL;
		}
	}
	return TAKE_PTR(res);
}

pid_t firewall_helper_pid(const struct firewall *fw)
{
	return fw ? fw->helper : -1;
}
