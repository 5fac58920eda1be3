/* The supervisor's operator views as JSON (`wardctl status`, `wardctl
 * net`): the state machine builds none of it. */
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "basic/cleanup.h"
#include "daemon/supervise-internal.h"
#include "model/names.h"

static void svc_net_status(struct svc *v, json_t *o, json_t *drops)
{
	struct tenant_rt *t = v->tenant;
	size_t i = (size_t)(v->def - t->profile->services);
	json_t *d;
	char a[IP4_STRING_MAX];

	if (!tenant_has_net(t) || i >= t->net.n) {
		json_object_set_new(o, "address", json_null());
		json_object_set_new(o, "drops", json_null());
		return;
	}
	ip4_string(t->net.addrs[i], a);
	json_object_set_new(o, "address", json_string(a));
	d = network_service_drops(drops, &t->net, i);
	/* No counter: the service is not installed (stopped); nothing dropped. */
	json_object_set_new(o, "drops", d ? json_incref(d) : json_integer(0));
}

/* Whether a process is stopped by a signal (SIGSTOP, SIGTSTP...: state T
 * in /proc/PID/stat) or held by a tracer (t). A stopped service keeps its
 * pid and its cgroup and does nothing: "running" alone would hide that
 * someone froze it. The state follows the last ')' (the name may hold
 * any). */
static bool proc_stopped(pid_t pid)
{
	char path[32], buf[512];
	_cleanup_close_ int fd = -1;
	ssize_t n;
	const char *p;

	if (pid <= 0 ||
	    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid) >= (int)sizeof(path))
		return false;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return false; /* gone: its exit is on its way */
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && (p[2] == 'T' || p[2] == 't');
}

static json_t *svc_status(struct svc *v, uint64_t now, json_t *drops)
{
	struct cgroup_stats cs = {0};
	json_t *o;

	if (v->cg)
		v->tenant->sup->launcher->cgroup_stats(v->cg, &cs);
	/* One pack: status of 500 services is ~13k of these keys. */
	o = json_pack(
	    "{s:s, s:s, s:s, s:i, s:I, s:i, s:s, s:I, s:I, s:I, s:f, s:I}", "tenant",
	    v->tenant->profile->name, "service", v->def->name, "state",
	    service_state_to_string(v->state), "pid",
	    v->state == SERVICE_RUNNING || v->state == SERVICE_STOPPING ? (int)v->service_pid : 0,
	    "uptime_s", (json_int_t)(v->state == SERVICE_RUNNING ? (now - v->since_ms) / 1000 : 0),
	    "restarts", (int)v->hist.restarts, "last_exit", v->last_exit, "memory_bytes",
	    (json_int_t)cs.memory_current, "memory_peak_bytes", (json_int_t)cs.memory_peak, "pids",
	    (json_int_t)cs.pids_current, "cpu_s", (double)cs.cpu_usec / 1e6, "oom_kills",
	    (json_int_t)cs.oom_kills);
	svc_net_status(v, o, drops);
	json_object_set_new(
	    o, "stopped_by_signal",
	    json_boolean(v->state == SERVICE_RUNNING && proc_stopped(v->service_pid)));
	return o;
}

json_t *supervisor_status(struct supervisor *s, const char *tenant, struct ward_err *err)
{
	uint64_t now = loop_now_ms();
	json_t *out = json_array();
	_cleanup_(json_decrefp) json_t *drops = s->net ? network_drops(s->net) : NULL;
	bool found = !tenant;

	for (struct tenant_rt *t = s->tenants; t; t = t->next) {
		if (t->removing || (tenant && strcmp(t->profile->name, tenant) != 0))
			continue;
		found = true;
		for (size_t i = 0; i < t->n_svcs; i++)
			json_array_append_new(out, svc_status(t->svcs[i], now, drops));
	}
	if (!found) {
		json_decref(out);
		ward_err_set(err, 0, "no tenant \"%s\"", tenant);
		return NULL;
	}
	return out;
}

static const char *proto_name(int proto)
{
	return proto == IPPROTO_UDP ? "udp" : "tcp";
}

static json_t *net_flows(const struct ward_tenant *p)
{
	json_t *flows = json_array();

	for (size_t i = 0; i < p->n_services; i++)
		for (size_t c = 0; c < p->services[i].n_connect; c++) {
			const struct ward_connect *x = &p->services[i].connect[c];
			json_array_append_new(
			    flows, json_pack("{s:s, s:s, s:s, s:i, s:s}", "kind", "connect", "from",
					     p->services[i].name, "to", x->service, "port", x->port,
					     "proto", proto_name(x->proto)));
		}
	for (size_t e = 0; e < p->network.n_egress; e++) {
		const struct ward_egress *g = &p->network.egress[e];
		json_t *from = json_array(), *tcp = json_array(), *udp = json_array();
		char a[IP4_STRING_MAX], to[24];

		for (size_t i = 0; i < g->n_from; i++)
			json_array_append_new(from, json_string(g->from[i]));
		for (size_t i = 0; i < g->n_tcp; i++)
			json_array_append_new(tcp, json_integer(g->tcp[i]));
		for (size_t i = 0; i < g->n_udp; i++)
			json_array_append_new(udp, json_integer(g->udp[i]));
		ip4_string(g->to.addr, a);
		(void)snprintf(to, sizeof(to), "%s/%u", a, g->to.prefix); /* fits: 15 + 3 */
		json_array_append_new(flows,
				      json_pack("{s:s, s:o, s:s, s:o, s:o}", "kind", "egress",
						"from", g->has_from ? from : json_null(), "to", to,
						"tcp", tcp, "udp", udp));
		if (!g->has_from)
			json_decref(from);
	}
	for (size_t i = 0; i < p->network.n_ingress; i++) {
		const struct ward_ingress *g = &p->network.ingress[i];
		json_array_append_new(flows,
				      json_pack("{s:s, s:i, s:s, s:i, s:s}", "kind", "ingress",
						"host_port", g->host_port, "to", g->service, "port",
						g->port, "proto", proto_name(g->proto)));
	}
	return flows;
}

json_t *supervisor_net(struct supervisor *s, const char *tenant, struct ward_err *err)
{
	struct tenant_rt *t = find_tenant(s, tenant);
	_cleanup_(json_decrefp) json_t *drops = NULL;
	json_t *svcs;
	char a[IP4_STRING_MAX], g[IP4_STRING_MAX], subnet[24];

	if (!t) {
		ward_err_set(err, 0, "no tenant \"%s\"", tenant);
		return NULL;
	}
	if (!tenant_has_net(t))
		return json_pack("{s:s, s:n, s:n, s:n, s:[], s:[]}", "tenant", tenant, "subnet",
				 "gateway", "uplink", "services", "flows");
	drops = s->net ? network_drops(s->net) : NULL;
	svcs = json_array();
	for (size_t i = 0; i < t->n_svcs; i++) {
		json_t *o = json_pack("{s:s, s:s}", "service", t->svcs[i]->def->name, "state",
				      service_state_to_string(t->svcs[i]->state));
		svc_net_status(t->svcs[i], o, drops);
		json_object_set_new(o, "ifname",
				    i < t->net.n ? json_string(t->net.ifnames[i]) : json_null());
		json_array_append_new(svcs, o);
	}
	ip4_string(t->net.subnet.addr, a);
	ip4_string(t->net.gateway, g);
	(void)snprintf(subnet, sizeof(subnet), "%s/%u", a, t->net.subnet.prefix); /* fits */
	return json_pack("{s:s, s:s, s:s, s:o, s:o, s:o}", "tenant", tenant, "subnet", subnet,
			 "gateway", g, "uplink",
			 s->cfg->net_uplink ? json_string(s->cfg->net_uplink) : json_null(),
			 "services", svcs, "flows", net_flows(t->profile));
}
