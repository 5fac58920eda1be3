/* The tenant: its services (and the cycles among their `after`), ids,
 * network (egress, ingress), sessions and display name. */
#include "model/profile.h"
#include "model/profile-internal.h"

#include "basic/cleanup.h"
#include "basic/jsonpos.h"
#include "model/names.h"

#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

/* ======================================================================
 * The tenant: services, network, sessions
 * ====================================================================== */

static bool service_exists(struct loader *L, const char *name)
{
	return L->services && json_object_get(L->services, name);
}

static void after_read(struct loader *L, json_t *v, const struct jsonpos_entry *at,
		       struct ward_service *s)
{
	char **items = NULL;
	size_t n;

	if (!pl_array_begin(L, v, at, false, sizeof(char *), (void **)&items, &n))
		return;
	s->after = items;
	for (size_t i = 0; i < n; i++) {
		const struct jsonpos_entry *iat = AT_IDX(L, v, i);
		const char *name = pl_get_string(L, json_array_get(v, i), iat);
		if (!name)
			continue;
		if (!service_exists(L, name))
			pl_report(L, iat, "unknown service %s", Q(name));
		else if (s->name && strcmp(name, s->name) == 0)
			pl_report(L, iat, "a service cannot be after itself");
		else if ((items[s->n_after] = pl_xstrdup(L, name)))
			s->n_after++;
	}
}

/* "db:5432" or "db:5432/udp" (or "/tcp"). */
static void connect_parse(struct loader *L, const char *s, const struct jsonpos_entry *at,
			  struct ward_connect *c)
{
	const char *colon = strchr(s, ':'), *end;
	char name[WARD_NAME_MAX + 1];
	uint64_t port;

	if (!colon || colon == s || (size_t)(colon - s) > WARD_NAME_MAX ||
	    pl_parse_dec(colon + 1, &end, 65535, &port) < 0 ||
	    !(*end == '\0' || strcmp(end, "/tcp") == 0 || strcmp(end, "/udp") == 0)) {
		pl_report(L, at, "invalid connect %s: use service:port or service:port/udp", Q(s));
		return;
	}
	memcpy(name, s, (size_t)(colon - s));
	name[colon - s] = '\0';
	if (port == 0) {
		pl_report(L, at, "port must be between 1 and 65535, got 0");
		return;
	}
	if (!service_exists(L, name)) {
		pl_report(L, at, "unknown service %s", Q(name));
		return;
	}
	c->service = pl_xstrdup(L, name);
	c->port = (uint16_t)port;
	c->proto = strcmp(end, "/udp") == 0 ? IPPROTO_UDP : IPPROTO_TCP;
}

static void connect_read(struct loader *L, json_t *v, const struct jsonpos_entry *at,
			 struct ward_service *s)
{
	struct ward_connect *c = NULL;
	size_t n;

	if (!pl_array_begin(L, v, at, false, sizeof(*c), (void **)&c, &n))
		return;
	s->connect = c;
	for (size_t i = 0; i < n; i++) {
		const struct jsonpos_entry *iat = AT_IDX(L, v, i);
		const char *str = pl_get_string(L, json_array_get(v, i), iat);
		if (!str)
			continue;
		connect_parse(L, str, iat, &c[s->n_connect]);
		if (c[s->n_connect].service)
			s->n_connect++;
	}
}

static void service_read(struct loader *L, const char *name, json_t *v,
			 const struct jsonpos_entry *at, struct ward_service *s)
{
	static const char *const keys[] = {"exec", "policy", "after", "connect", NULL};
	static const char *const required[] = {"exec", NULL};
	json_t *m, *merged;

	if (!ward_name_valid(name))
		pl_report(L, at, "invalid name %s: must match " NAME_RULE, Q(name));
	s->name = pl_xstrdup(L, name);
	policy_init(&s->policy);
	if (!pl_check_object(L, v, at, keys, required))
		return;
	if ((m = json_object_get(v, "exec")))
		pl_exec_read(L, m, AT_KEY(L, v, "exec"), &s->exec, &s->n_exec);
	if ((m = json_object_get(v, "after")))
		after_read(L, m, AT_KEY(L, v, "after"), s);
	if ((m = json_object_get(v, "connect")))
		connect_read(L, m, AT_KEY(L, v, "connect"), s);
	m = json_object_get(v, "policy");
	merged = policy_resolve(L, m, m ? AT_KEY(L, v, "policy") : NULL, &s->policy);
	if (merged)
		s->digest = pl_digest_make(L, json_object_get(v, "exec"), merged);
	s->after_digest = pl_canon(L, json_object_get(v, "after"));
	s->connect_digest = pl_canon(L, json_object_get(v, "connect"));
}

/* ---- dependency cycles among `after` ---- */

struct dep_name {
	const char *name;
	size_t idx;
};

struct dep_graph {
	const char **names; /* by index, profile order */
	json_t **after;     /* each service's after array, or NULL */
	size_t n;
	struct dep_name *sorted; /* for lookups by name */
};

static int dep_name_cmp(const void *a, const void *b)
{
	return strcmp(((const struct dep_name *)a)->name, ((const struct dep_name *)b)->name);
}

static ssize_t dep_index(const struct dep_graph *g, const char *name)
{
	struct dep_name key = {name, 0};
	const struct dep_name *hit = bsearch(&key, g->sorted, g->n, sizeof(key), dep_name_cmp);
	return hit ? (ssize_t)hit->idx : -1;
}

/* The edge u -> after[j] closes a cycle through the nodes on the stack from
 * v on: "dependency cycle: a -> b -> a", reported at that edge. */
static void cycle_report(struct loader *L, const struct dep_graph *g, const size_t *stack,
			 size_t depth, size_t v, const struct jsonpos_entry *at)
{
	size_t from = depth;
	char *msg = NULL;
	size_t len = 0;
	FILE *f;

	while (from > 0 && stack[from - 1] != v)
		from--;
	if (from > 0)
		from--;
	if (!(f = open_memstream(&msg, &len))) {
		L->oom = true;
		return;
	}
	for (size_t i = from; i < depth; i++)
		fprintf(f, "%s -> ", g->names[stack[i]]);
	fputs(g->names[v], f);
	if (fclose(f) != 0 || !msg) {
		L->oom = true;
		free(msg);
		return;
	}
	pl_report(L, at, "dependency cycle: %s", msg);
	free(msg);
}

/* Iterative depth-first search: a long chain of services must not exhaust
 * the stack. */
static void dep_search(struct loader *L, const struct dep_graph *g, size_t root, char *color,
		       size_t *stack, size_t *edge)
{
	size_t depth = 0;

	stack[depth] = root;
	edge[depth++] = 0;
	color[root] = 1;
	while (depth > 0) {
		size_t u = stack[depth - 1], j = edge[depth - 1]++;
		json_t *after = g->after[u];
		if (!after || j >= json_array_size(after)) {
			color[u] = 2;
			depth--;
			continue;
		}
		json_t *item = json_array_get(after, j);
		ssize_t v = json_is_string(item) ? dep_index(g, json_string_value(item)) : -1;
		if (v < 0 || (size_t)v == u)
			continue;
		if (color[v] == 1) {
			cycle_report(L, g, stack, depth, (size_t)v, AT_IDX(L, after, j));
		} else if (color[v] == 0) {
			color[v] = 1;
			stack[depth] = (size_t)v;
			edge[depth++] = 0;
		}
	}
}

static void cycles_check(struct loader *L, json_t *services)
{
	struct dep_graph g = {.n = 0};
	size_t n = json_object_size(services);

	g.names = pl_xcalloc(L, n, sizeof(char *));
	g.sorted = pl_xcalloc(L, n, sizeof(*g.sorted));
	g.after = pl_xcalloc(L, n, sizeof(json_t *));
	_cleanup_free_ char *color = pl_xcalloc(L, n, 1);
	_cleanup_free_ size_t *stack = pl_xcalloc(L, n, sizeof(size_t));
	_cleanup_free_ size_t *edge = pl_xcalloc(L, n, sizeof(size_t));
	if (g.names && g.sorted && g.after && color && stack && edge) {
		const char *k;
		json_t *v;

		json_object_foreach(services, k, v)
		{
			/* Badly named services were reported already; leave them out. */
			if (!ward_name_valid(k))
				continue;
			g.names[g.n] = k;
			g.sorted[g.n] = (struct dep_name){k, g.n};
			json_t *after = json_is_object(v) ? json_object_get(v, "after") : NULL;
			g.after[g.n++] = json_is_array(after) ? after : NULL;
		}
		qsort(g.sorted, g.n, sizeof(*g.sorted), dep_name_cmp);
		for (size_t i = 0; i < g.n; i++)
			if (!color[i])
				dep_search(L, &g, i, color, stack, edge);
	}
	free(g.names);
	free(g.sorted);
	free(g.after);
}

static void services_read(struct loader *L, json_t *v, const struct jsonpos_entry *at,
			  struct ward_tenant *t)
{
	const char *k;
	json_t *m;

	if (!pl_want(L, v, at, JSON_OBJECT, "object"))
		return;
	if (json_object_size(v) == 0) {
		pl_report(L, at, "must not be empty");
		return;
	}
	if (!(t->services = pl_xcalloc(L, json_object_size(v), sizeof(*t->services))))
		return;
	json_object_foreach(v, k, m)
	    service_read(L, k, m, AT_KEY(L, v, k), &t->services[t->n_services++]);
	cycles_check(L, v);
}

static void ids_read(struct loader *L, json_t *v, const struct jsonpos_entry *at,
		     struct ward_ids *ids)
{
	static const char *const keys[] = {"uid", "count", NULL};
	json_t *uid = json_object_get(v, "uid"), *count = json_object_get(v, "count");
	uint32_t u = 0, c = 0;

	if (!pl_check_object(L, v, at, keys, keys))
		return;
	bool ok_u =
	    uid && pl_get_u32(L, uid, AT_KEY(L, v, "uid"), UID_MIN_TENANT, UID_MAX_TENANT, &u);
	bool ok_c = count && pl_get_u32(L, count, AT_KEY(L, v, "count"), 1, 1u << 24, &c);
	if (!ok_u || !ok_c)
		return;
	if ((uint64_t)u + c - 1 > UID_MAX_TENANT) {
		pl_report(L, AT_KEY(L, v, "count"),
			  "uid + count - 1 must be at most %u, got %" PRIu64, UID_MAX_TENANT,
			  (uint64_t)u + c - 1);
		return;
	}
	ids->set = true;
	ids->uid = u;
	ids->count = c;
}

static bool cidr_get(struct loader *L, json_t *v, const struct jsonpos_entry *at,
		     struct ward_cidr *out)
{
	const char *s = pl_get_string(L, v, at);
	if (!s)
		return false;
	switch (pl_cidr_parse(s, out)) {
	case CIDR_OK:
		return true;
	case CIDR_HOST_BITS:
		pl_report(L, at, "invalid CIDR %s: host bits must be zero", Q(s));
		return false;
	default:
		pl_report(L, at, "invalid CIDR %s: use a.b.c.d/prefix", Q(s));
		return false;
	}
}

static void ports_read(struct loader *L, json_t *v, const struct jsonpos_entry *at, uint16_t **out,
		       size_t *n_out)
{
	uint16_t *ports = NULL;
	size_t n;

	if (!pl_array_begin(L, v, at, true, sizeof(*ports), (void **)&ports, &n))
		return;
	*out = ports;
	for (size_t i = 0; i < n; i++)
		if (pl_get_port(L, json_array_get(v, i), AT_IDX(L, v, i), &ports[*n_out]))
			(*n_out)++;
}

static char *item_service(struct loader *L, json_t *v, const struct jsonpos_entry *at)
{
	const char *name = pl_get_string(L, v, at);

	if (!name)
		return NULL;
	if (!service_exists(L, name)) {
		pl_report(L, at, "unknown service %s", Q(name));
		return NULL;
	}
	return pl_xstrdup(L, name);
}

static void egress_read(struct loader *L, json_t *v, const struct jsonpos_entry *at,
			struct ward_egress *e)
{
	static const char *const keys[] = {"to", "tcp", "udp", "from", NULL};
	static const char *const required[] = {"to", NULL};
	json_t *m;

	if (!pl_check_object(L, v, at, keys, required))
		return;
	/* The services that may use the flow (absent: every service). */
	if ((m = json_object_get(v, "from"))) {
		e->has_from = true;
		pl_strv_read(L, m, AT_KEY(L, v, "from"), true, item_service, &e->from, &e->n_from);
	}
	if ((m = json_object_get(v, "to")))
		cidr_get(L, m, AT_KEY(L, v, "to"), &e->to);
	if (!json_object_get(v, "tcp") && !json_object_get(v, "udp"))
		pl_report(L, at, "missing required key \"tcp\" or \"udp\"");
	if ((m = json_object_get(v, "tcp")))
		ports_read(L, m, AT_KEY(L, v, "tcp"), &e->tcp, &e->n_tcp);
	if ((m = json_object_get(v, "udp")))
		ports_read(L, m, AT_KEY(L, v, "udp"), &e->udp, &e->n_udp);
}

/* Returns whether host_port and proto are valid. */
static bool ingress_read(struct loader *L, json_t *v, const struct jsonpos_entry *at,
			 struct ward_ingress *in)
{
	static const char *const keys[] = {"host_port", "service", "port", "proto", NULL};
	static const char *const required[] = {"host_port", "service", "port", NULL};
	static const char *const protos[] = {"tcp", "udp", NULL};
	bool host_ok = false, proto_ok = true;
	json_t *m;

	in->proto = IPPROTO_TCP;
	if (!pl_check_object(L, v, at, keys, required))
		return false;
	if ((m = json_object_get(v, "host_port")))
		host_ok = pl_get_port(L, m, AT_KEY(L, v, "host_port"), &in->host_port);
	if ((m = json_object_get(v, "port")))
		pl_get_port(L, m, AT_KEY(L, v, "port"), &in->port);
	if ((m = json_object_get(v, "proto"))) {
		int p = pl_get_enum(L, m, AT_KEY(L, v, "proto"), protos);
		proto_ok = p >= 0;
		in->proto = p == 1 ? IPPROTO_UDP : IPPROTO_TCP;
	}
	if ((m = json_object_get(v, "service")) &&
	    (in->service = pl_dup_string(L, m, AT_KEY(L, v, "service"))) &&
	    !service_exists(L, in->service))
		pl_report(L, AT_KEY(L, v, "service"), "unknown service %s", Q(in->service));
	/* Enough to compare host ports, whatever else is wrong with it. */
	return host_ok && proto_ok;
}

struct port_use {
	uint16_t port;
	int proto;
	size_t idx;
};

static int port_use_cmp(const void *a, const void *b)
{
	const struct port_use *x = a, *y = b;
	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	return (x->idx > y->idx) - (x->idx < y->idx);
}

/* A host port can be forwarded to one service only (per protocol). */
static void ingress_unique(struct loader *L, json_t *v, const bool *valid,
			   const struct ward_ingress *in, size_t n)
{
	_cleanup_free_ struct port_use *u = pl_xcalloc(L, n, sizeof(*u));
	size_t m = 0;

	if (!u)
		return;
	for (size_t i = 0; i < n; i++)
		if (valid[i])
			u[m++] = (struct port_use){in[i].host_port, in[i].proto, i};
	qsort(u, m, sizeof(*u), port_use_cmp);
	for (size_t i = 1, first = 0; i < m; i++) {
		if (u[i].port != u[first].port || u[i].proto != u[first].proto) {
			first = i;
			continue;
		}
		json_t *item = json_array_get(v, u[i].idx);
		pl_report(L, AT_KEY(L, item, "host_port"),
			  "host_port %u/%s is already forwarded by ingress[%zu]", u[i].port,
			  u[i].proto == IPPROTO_UDP ? "udp" : "tcp", u[first].idx);
	}
}

static void ingresses_read(struct loader *L, json_t *v, const struct jsonpos_entry *at,
			   struct ward_network *net)
{
	struct ward_ingress *in = NULL;
	size_t n;

	if (!pl_array_begin(L, v, at, false, sizeof(*in), (void **)&in, &n))
		return;
	net->ingress = in;
	net->n_ingress = n;
	_cleanup_free_ bool *valid = pl_xcalloc(L, n, sizeof(bool));
	if (!valid)
		return;
	for (size_t i = 0; i < n; i++)
		valid[i] = ingress_read(L, json_array_get(v, i), AT_IDX(L, v, i), &in[i]);
	ingress_unique(L, v, valid, in, n);
}

static void network_read(struct loader *L, json_t *v, const struct jsonpos_entry *at,
			 struct ward_network *net)
{
	static const char *const keys[] = {"subnet", "egress", "ingress", NULL};
	json_t *m;

	if (!pl_check_object(L, v, at, keys, NULL))
		return;
	net->present = true;
	if ((m = json_object_get(v, "subnet"))) {
		const struct jsonpos_entry *sat = AT_KEY(L, v, "subnet");
		if (cidr_get(L, m, sat, &net->subnet)) {
			/* /31 and /32 leave no room for a gateway and a service. */
			if (net->subnet.prefix < 8 || net->subnet.prefix > 30)
				pl_report(L, sat,
					  "subnet prefix must be between /8 and /30, got /%u",
					  net->subnet.prefix);
			else
				net->has_subnet = true;
		}
	}
	if ((m = json_object_get(v, "egress"))) {
		const struct jsonpos_entry *eat = AT_KEY(L, v, "egress");
		size_t n;
		if (pl_array_begin(L, m, eat, false, sizeof(*net->egress), (void **)&net->egress,
				   &n)) {
			net->n_egress = n;
			for (size_t i = 0; i < n; i++)
				egress_read(L, json_array_get(m, i), AT_IDX(L, m, i),
					    &net->egress[i]);
		}
	}
	if ((m = json_object_get(v, "ingress")))
		ingresses_read(L, m, AT_KEY(L, v, "ingress"), net);
}

/* Returns the session policy, resolved (borrowed), or NULL. */
static json_t *sessions_read(struct loader *L, json_t *v, const struct jsonpos_entry *at,
			     struct ward_sessions *s)
{
	static const char *const keys[] = {"groups", "service",        "exec", "policy",
					   "max",    "idle_timeout_s", NULL};
	static const char *const required[] = {"groups", "exec", NULL};
	json_t *m;

	s->max = 10;
	s->idle_timeout_s = 0;
	policy_init(&s->policy);
	if (!pl_check_object(L, v, at, keys, required))
		return NULL;
	s->present = true;
	if ((m = json_object_get(v, "groups")))
		pl_strv_read(L, m, AT_KEY(L, v, "groups"), true, pl_item_group, &s->groups,
			     &s->n_groups);
	if ((m = json_object_get(v, "service")) &&
	    (s->service = pl_dup_string(L, m, AT_KEY(L, v, "service"))) &&
	    !service_exists(L, s->service))
		pl_report(L, AT_KEY(L, v, "service"), "unknown service %s", Q(s->service));
	if ((m = json_object_get(v, "exec")))
		pl_exec_read(L, m, AT_KEY(L, v, "exec"), &s->exec, &s->n_exec);
	if ((m = json_object_get(v, "max")))
		pl_get_u32(L, m, AT_KEY(L, v, "max"), 1, 10000, &s->max);
	if ((m = json_object_get(v, "idle_timeout_s")))
		pl_get_u32(L, m, AT_KEY(L, v, "idle_timeout_s"), 0, 86400, &s->idle_timeout_s);
	m = json_object_get(v, "policy");
	return policy_resolve(L, m, m ? AT_KEY(L, v, "policy") : NULL, &s->policy);
}

/* The sessions block with its policy resolved: a fragment it names that
 * changed changes the sessions. */
static char *sessions_digest(struct loader *L, json_t *v, json_t *merged)
{
	json_t *c;
	char *s;

	if (!v || !json_is_object(v))
		return pl_canon(L, v);
	if (!(c = json_copy(v)) || (merged && json_object_set(c, "policy", merged) < 0)) {
		json_decref(c);
		L->oom = true;
		return NULL;
	}
	s = pl_canon(L, c);
	json_decref(c);
	return s;
}

/* A session's /proc is its service's (its view is a copy of the service's
 * mounts): a session policy cannot hide more of it than the service's does,
 * and must not seem to. */
static void sessions_proc_check(struct loader *L, json_t *v, const struct ward_tenant *t)
{
	const struct ward_sessions *s = &t->sessions;
	const struct ward_service *svc = NULL;
	json_t *policy = json_object_get(v, "policy");

	if (!s->present || !s->policy.filesystem.proc_pid_only)
		return;
	if (s->service)
		svc = tenant_find_service(t, s->service);
	else if (t->n_services == 1)
		svc = &t->services[0];
	if (!svc || svc->policy.filesystem.proc_pid_only)
		return;
	pl_report(L, policy ? AT_KEY(L, v, "policy") : NULL,
		  "filesystem.proc_subset \"pid\" cannot apply: a session sees the /proc of its "
		  "service %s, whose policy has \"all\"",
		  Q(svc->name));
}

static void display_name_read(struct loader *L, json_t *v, const struct jsonpos_entry *at,
			      struct ward_tenant *t)
{
	const char *s = pl_get_string(L, v, at);
	const char *why;
	size_t chars;

	if (!s)
		return;
	/* One rule for every display name (model/names.h); the loader's own
	 * wording for the length, which names what it found. */
	switch (display_name_check(s, strlen(s), &chars, &why)) {
	case DISPLAY_NAME_OK:
		t->display_name = pl_xstrdup(L, s);
		return;
	case DISPLAY_NAME_LENGTH:
		pl_report(L, at, "must be between 1 and %d characters long, got %zu",
			  DISPLAY_NAME_MAX, chars);
		return;
	default:
		pl_report(L, at, "%s", why);
		return;
	}
}

struct ward_tenant *tenant_read(struct loader *L, const struct doc *d)
{
	static const char *const keys[] = {"tenant",   "display_name", "ids",    "network",
					   "services", "sessions",     "limits", NULL};
	static const char *const required[] = {"tenant", "services", NULL};
	json_t *root = d->root, *m;
	struct ward_tenant *t;

	if (!pl_check_object(L, root, d->at, keys, required))
		return NULL;
	if (!(t = pl_xcalloc(L, 1, sizeof(*t))))
		return NULL;
	t->source = pl_xstrdup(L, d->file);
	if ((m = json_object_get(root, "tenant")))
		t->name = pl_get_name(L, m, AT_KEY(L, root, "tenant"));
	if ((m = json_object_get(root, "display_name")))
		display_name_read(L, m, AT_KEY(L, root, "display_name"), t);
	if ((m = json_object_get(root, "ids")))
		ids_read(L, m, AT_KEY(L, root, "ids"), &t->ids);
	t->limits = (struct ward_limits){
	    .memory = WARD_UNSET, .pids = WARD_UNSET, .nofile = WARD_UNSET, .core = WARD_UNSET};
	if ((m = json_object_get(root, "limits")))
		tenant_limits_read(L, m, AT_KEY(L, root, "limits"), &t->limits);
	/* Services first: network and sessions refer to them. */
	if ((m = json_object_get(root, "services"))) {
		if (json_is_object(m))
			L->services = m;
		services_read(L, m, AT_KEY(L, root, "services"), t);
	}
	if ((m = json_object_get(root, "network")))
		network_read(L, m, AT_KEY(L, root, "network"), &t->network);
	t->sessions.max = 10;
	if ((m = json_object_get(root, "sessions"))) {
		json_t *merged = sessions_read(L, m, AT_KEY(L, root, "sessions"), &t->sessions);

		sessions_proc_check(L, m, t);
		t->part_digest[WARD_PART_SESSIONS] = sessions_digest(L, m, merged);
	} else {
		t->part_digest[WARD_PART_SESSIONS] = pl_canon(L, NULL);
	}
	t->part_digest[WARD_PART_DISPLAY_NAME] = pl_canon(L, json_object_get(root, "display_name"));
	t->part_digest[WARD_PART_LIMITS] = pl_canon(L, json_object_get(root, "limits"));
	t->part_digest[WARD_PART_NETWORK] = pl_canon(L, json_object_get(root, "network"));
	return t;
}
