/* wardctl status and wardctl net: what wardd says of every service (state,
 * uptime, memory, CPU, the last exit) as a table, and of a tenant's
 * network (addresses, links, flows, drops). */
#include "cli/wardctl/wardctl.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void status_usage(FILE *out)
{
	command_usage(out, "status", "[TENANT] [--json]",
		      "Shows every service (of TENANT) with its state, pid, address, packets its\n"
		      "firewall dropped, uptime, restarts, memory (current/peak), tasks, CPU\n"
		      "time, OOM kills and the reason of its last exit (from its cgroup while\n"
		      "it runs). ADDRESS and DROPS are \"-\" for a tenant without a network.\n"
		      "\n"
		      "  --json      print wardd's list of services as JSON\n"
		      "  -h, --help  show this help\n");
}

/* "45s", "12m5s", "3h12m", "2d3h". */
static void format_uptime(uint64_t s, char *buf, size_t len)
{
	if (s < 60)
		(void)snprintf(buf, len, "%llus", (unsigned long long)s);
	else if (s < 3600)
		(void)snprintf(buf, len, "%llum%llus", (unsigned long long)(s / 60),
			       (unsigned long long)(s % 60));
	else if (s < 86400)
		(void)snprintf(buf, len, "%lluh%llum", (unsigned long long)(s / 3600),
			       (unsigned long long)(s % 3600 / 60));
	else
		(void)snprintf(buf, len, "%llud%lluh", (unsigned long long)(s / 86400),
			       (unsigned long long)(s % 86400 / 3600));
}

enum {
	COL_TENANT,
	COL_SERVICE,
	COL_STATE,
	COL_PID,
	COL_ADDRESS,
	COL_DROPS,
	COL_UPTIME,
	COL_RESTARTS,
	COL_MEM,
	COL_PIDS,
	COL_CPU,
	COL_OOM,
	COL_LAST_EXIT,
	N_COLS
};

/* 1536 -> "1.5K", 268435456 -> "256M". */
static void format_bytes(uint64_t b, char *buf, size_t len)
{
	static const char units[] = "BKMGT";
	double v = (double)b;
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		(void)snprintf(buf, len, "%lluB", (unsigned long long)b);
	else
		(void)snprintf(buf, len, v < 10 ? "%.1f%c" : "%.0f%c", v, units[u]);
}

struct status_row {
	char cell[N_COLS][128];
};

static void status_row_fill(struct status_row *r, json_t *svc)
{
	const char *state = json_string_value(json_object_get(svc, "state"));
	json_int_t pid = json_integer_value(json_object_get(svc, "pid"));
	json_int_t up = json_integer_value(json_object_get(svc, "uptime_s"));
	char num[32];

	set_cell(r->cell[COL_TENANT], json_string_value(json_object_get(svc, "tenant")));
	set_cell(r->cell[COL_SERVICE], json_string_value(json_object_get(svc, "service")));
	/* Its pid and cgroup are there, but it does nothing: say so. */
	if (state && strcmp(state, "running") == 0 &&
	    json_is_true(json_object_get(svc, "stopped_by_signal")))
		set_cell(r->cell[COL_STATE], "running (stopped by signal)");
	else
		set_cell(r->cell[COL_STATE], state);
	(void)snprintf(num, sizeof(num), "%lld", (long long)pid);
	set_cell(r->cell[COL_PID], pid > 0 ? num : NULL);
	set_cell(r->cell[COL_ADDRESS], json_string_value(json_object_get(svc, "address")));
	(void)snprintf(num, sizeof(num), "%lld",
		       (long long)json_integer_value(json_object_get(svc, "drops")));
	set_cell(r->cell[COL_DROPS], json_is_integer(json_object_get(svc, "drops")) ? num : NULL);
	num[0] = '\0';
	if (state && strcmp(state, "running") == 0)
		format_uptime(up > 0 ? (uint64_t)up : 0, num, sizeof(num));
	set_cell(r->cell[COL_UPTIME], num);
	(void)snprintf(num, sizeof(num), "%lld",
		       (long long)json_integer_value(json_object_get(svc, "restarts")));
	set_cell(r->cell[COL_RESTARTS], num);
	{
		char cur[16], peak[16];
		format_bytes((uint64_t)json_integer_value(json_object_get(svc, "memory_bytes")),
			     cur, sizeof(cur));
		format_bytes(
		    (uint64_t)json_integer_value(json_object_get(svc, "memory_peak_bytes")), peak,
		    sizeof(peak));
		(void)snprintf(num, sizeof(num), "%s/%s", cur, peak);
		set_cell(r->cell[COL_MEM], num);
	}
	(void)snprintf(num, sizeof(num), "%lld",
		       (long long)json_integer_value(json_object_get(svc, "pids")));
	set_cell(r->cell[COL_PIDS], num);
	(void)snprintf(num, sizeof(num), "%.1fs", json_number_value(json_object_get(svc, "cpu_s")));
	set_cell(r->cell[COL_CPU], num);
	(void)snprintf(num, sizeof(num), "%lld",
		       (long long)json_integer_value(json_object_get(svc, "oom_kills")));
	set_cell(r->cell[COL_OOM], num);
	set_cell(r->cell[COL_LAST_EXIT], json_string_value(json_object_get(svc, "last_exit")));
}

static void print_status_table(json_t *services)
{
	static const char *const header[N_COLS] = {
	    "TENANT",   "SERVICE",  "STATE", "PID", "ADDRESS", "DROPS",    "UPTIME",
	    "RESTARTS", "MEM/PEAK", "PIDS",  "CPU", "OOM",     "LAST-EXIT"};
	size_t n = json_array_size(services), width[N_COLS];
	struct status_row *rows = calloc(n + 1, sizeof(*rows));

	if (!rows) {
		fprintf(stderr, "wardctl: out of memory\n");
		return;
	}
	for (int k = 0; k < N_COLS; k++)
		set_cell(rows[0].cell[k], header[k]);
	for (size_t i = 0; i < n; i++)
		status_row_fill(&rows[i + 1], json_array_get(services, i));
	for (int k = 0; k < N_COLS; k++) {
		width[k] = 0;
		for (size_t i = 0; i <= n; i++)
			if (strlen(rows[i].cell[k]) > width[k])
				width[k] = strlen(rows[i].cell[k]);
	}
	for (size_t i = 0; i <= n; i++) {
		for (int k = 0; k < N_COLS - 1; k++)
			printf("%-*s  ", (int)width[k], rows[i].cell[k]);
		printf("%s\n", rows[i].cell[N_COLS - 1]);
	}
	free(rows);
}

int cmd_status(int argc, char **argv)
{
	static const struct view_cmd v = {"status",   status_usage, false,
					  "services", JSON_ARRAY,   print_status_table};

	return run_view(&v, argc, argv);
}

static void net_usage(FILE *out)
{
	command_usage(out, "net", "TENANT [--json]",
		      "Shows the tenant's network segment: subnet, gateway and uplink, each\n"
		      "service's address, host link and the packets its firewall dropped, and\n"
		      "the declared flows (connect, egress, ingress). Everything else is dropped.\n"
		      "\n"
		      "  --json      print wardd's answer as JSON\n"
		      "  -h, --help  show this help\n");
}

static const char *jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "-";
}

static void print_ports(json_t *ports, const char *proto)
{
	size_t i;
	json_t *p;

	if (!json_array_size(ports))
		return;
	printf(" %s", proto);
	json_array_foreach(ports, i, p)
	{
		printf("%s%lld", i ? "," : " ", (long long)json_integer_value(p));
	}
}

static void print_net(json_t *net)
{
	json_t *svcs = json_object_get(net, "services"), *flows = json_object_get(net, "flows");
	size_t i;
	json_t *v;

	printf("tenant %s  subnet %s  gateway %s  uplink %s\n", jstr(net, "tenant"),
	       jstr(net, "subnet"), jstr(net, "gateway"), jstr(net, "uplink"));
	if (!json_array_size(svcs)) {
		printf("no network section: every service has loopback only\n");
		return;
	}
	printf("%-24s %-9s %-15s %-15s %s\n", "SERVICE", "STATE", "ADDRESS", "LINK", "DROPS");
	json_array_foreach(svcs, i, v)
	{
		printf("%-24s %-9s %-15s %-15s %lld\n", jstr(v, "service"), jstr(v, "state"),
		       jstr(v, "address"), jstr(v, "ifname"),
		       (long long)json_integer_value(json_object_get(v, "drops")));
	}
	printf("flows (everything else is dropped):\n");
	json_array_foreach(flows, i, v)
	{
		const char *kind = jstr(v, "kind");
		long long port = (long long)json_integer_value(json_object_get(v, "port"));

		if (strcmp(kind, "connect") == 0) {
			printf("  connect  %s -> %s:%lld/%s\n", jstr(v, "from"), jstr(v, "to"),
			       port, jstr(v, "proto"));
		} else if (strcmp(kind, "egress") == 0) {
			json_t *from = json_object_get(v, "from");

			printf("  egress   ");
			if (json_is_array(from)) {
				for (size_t k = 0; k < json_array_size(from); k++)
					printf("%s%s", k ? "," : "",
					       json_string_value(json_array_get(from, k)));
			} else {
				printf("*");
			}
			printf(" -> %s", jstr(v, "to"));
			print_ports(json_object_get(v, "tcp"), "tcp");
			print_ports(json_object_get(v, "udp"), "udp");
			printf("\n");
		} else {
			printf("  ingress  host:%lld/%s -> %s:%lld\n",
			       (long long)json_integer_value(json_object_get(v, "host_port")),
			       jstr(v, "proto"), jstr(v, "to"), port);
		}
	}
}

int cmd_net(int argc, char **argv)
{
	static const struct view_cmd v = {"net", net_usage, true, "net", JSON_OBJECT, print_net};

	return run_view(&v, argc, argv);
}
