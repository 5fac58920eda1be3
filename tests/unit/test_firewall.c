/* Unit tests of firewall.c, run in a network namespace of their own (never
 * the host's): the base table, tenants as elements and their changes, the
 * refusals, drop counters, the helper dying or hanging with a change in
 * flight, and real packets through veths into further namespaces. The
 * element model and the counters view are pure: tested without nft first. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <linux/capability.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <nftables/libnftables.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "net/firewall-model.h"
#include "net/firewall-view.h"
#include "net/firewall.h"

/* The test's own namespace, and a context of its own to look at the table. */
static int home_ns = -1;
static struct nft_ctx *nft_ctx;

/* ---- helpers ---- */

/* Runs nft text in the test's namespace; the output (caller frees), NULL
 * when nft failed. */
static char *nft_run(const char *cmd, bool json)
{
	nft_ctx_output_set_flags(nft_ctx, json ? NFT_CTX_OUTPUT_JSON : 0);
	int rc = nft_run_cmd_from_buffer(nft_ctx, cmd);
	char *out = strdup(nft_ctx_get_output_buffer(nft_ctx));

	(void)nft_ctx_get_error_buffer(nft_ctx); /* rewinds it */
	assert_non_null(out);
	if (rc != 0) {
		free(out);
		return NULL;
	}
	return out;
}

static char *nft_list(const char *what)
{
	char cmd[128];
	char *out;

	snprintf(cmd, sizeof(cmd), "list %s", what);
	out = nft_run(cmd, false);
	if (!out)
		fail_msg("nft %s failed", cmd);
	return out;
}

static bool table_exists(void)
{
	char *out = nft_run("list table inet ward", false);

	free(out);
	return out != NULL;
}

/* Whether the listing of `what` contains s. */
static bool listed(const char *what, const char *s)
{
	char *out = nft_list(what);
	bool r = strstr(out, s) != NULL;

	if (!r && getenv("FW_TEST_VERBOSE"))
		fprintf(stderr, "--- %s lacks %s:\n%s\n", what, s, out);
	free(out);
	return r;
}

/* The number of elements in a set or map. */
static size_t set_size(const char *set)
{
	char cmd[96];
	char *out;
	json_t *root, *item;
	size_t i, n = 0;

	snprintf(cmd, sizeof(cmd), "list set inet ward %s", set);
	out = nft_run(cmd, true);
	if (!out) {
		snprintf(cmd, sizeof(cmd), "list map inet ward %s", set);
		out = nft_run(cmd, true);
	}
	assert_non_null(out);
	root = json_loads(out, 0, NULL);
	assert_non_null(root);
	json_array_foreach(json_object_get(root, "nftables"), i, item)
	{
		json_t *s = json_object_get(item, "set") ? json_object_get(item, "set")
							 : json_object_get(item, "map");
		if (s)
			n = json_array_size(json_object_get(s, "elem"));
	}
	json_decref(root);
	free(out);
	return n;
}

/* The element of set txn (there is one). */
static json_int_t txn_gen(void)
{
	char *out = nft_run("list set inet ward txn", true);
	json_t *root, *item;
	json_int_t gen = -1;
	size_t i;

	assert_non_null(out);
	root = json_loads(out, 0, NULL);
	json_array_foreach(json_object_get(root, "nftables"), i, item)
	{
		json_t *elem = json_object_get(json_object_get(item, "set"), "elem");

		if (elem) {
			assert_int_equal(json_array_size(elem), 1);
			gen = json_integer_value(json_array_get(elem, 0));
		}
	}
	json_decref(root);
	free(out);
	return gen;
}

static void ifname_of(uint32_t addr, char buf[IF_NAMESIZE])
{
	snprintf(buf, IF_NAMESIZE, "wrd%08x", addr);
}

static uint32_t ip4(const char *s)
{
	struct in_addr a;

	assert_int_equal(inet_pton(AF_INET, s, &a), 1);
	return ntohl(a.s_addr);
}

/* A tenant of up to three services web, app, db at base+2.. with the
 * flows web -> app:8080/tcp, app -> db:5432/tcp, egress app ->
 * 0.0.0.0/0:443/tcp and web -> 192.168.10.7/24:53/udp (host bits set on
 * purpose), and ingress host_port -> web:80/tcp (none for host_port 0). */
struct tdef {
	struct fw_service svc[3];
	struct fw_connect con[2];
	struct fw_egress eg[2];
	struct fw_ingress in[1];
	struct fw_tenant t;
};

static void tenant_make(struct tdef *d, const char *name, uint32_t base, size_t n_svc,
			uint16_t host_port)
{
	static const char *const names[] = {"web", "app", "db"};
	size_t i;

	memset(d, 0, sizeof(*d));
	for (i = 0; i < n_svc; i++) {
		d->svc[i].name = names[i];
		d->svc[i].addr = base + 2 + (uint32_t)i;
		ifname_of(d->svc[i].addr, d->svc[i].ifname);
	}
	d->t = (struct fw_tenant){.name = name,
				  .subnet = base,
				  .prefix = 29,
				  .gateway = base + 1,
				  .services = d->svc,
				  .n_services = n_svc};
	if (n_svc >= 2)
		d->con[d->t.n_connect++] =
		    (struct fw_connect){.from = 0, .to = 1, .port = 8080, .proto = IPPROTO_TCP};
	if (n_svc >= 3)
		d->con[d->t.n_connect++] =
		    (struct fw_connect){.from = 1, .to = 2, .port = 5432, .proto = IPPROTO_TCP};
	if (n_svc >= 2)
		d->eg[d->t.n_egress++] = (struct fw_egress){
		    .from = 1, .net = 0, .prefix = 0, .port = 443, .proto = IPPROTO_TCP};
	if (n_svc >= 1)
		d->eg[d->t.n_egress++] = (struct fw_egress){.from = 0,
							    .net = ip4("192.168.10.7"),
							    .prefix = 24,
							    .port = 53,
							    .proto = IPPROTO_UDP};
	if (host_port && n_svc >= 1)
		d->in[d->t.n_ingress++] = (struct fw_ingress){
		    .host_port = host_port, .to = 0, .port = 80, .proto = IPPROTO_TCP};
	d->t.connect = d->con;
	d->t.egress = d->eg;
	d->t.ingress = d->in;
}

static struct firewall *open_fw(const struct firewall_options *opts)
{
	struct ward_err err = {0};
	struct firewall *fw = firewall_open(opts, &err);

	if (!fw)
		fail_msg("firewall_open: %s", err.msg);
	return fw;
}

static void set_ok(struct firewall *fw, const struct fw_tenant *t)
{
	struct ward_err err = {0};

	if (firewall_tenant_set(fw, t, &err) != 0)
		fail_msg("firewall_tenant_set %s: %s", t->name, err.msg);
}

/* Gives a service's drop counter a value, as traffic would. */
static void counter_seed(const char *ifname, int packets)
{
	char cmd[256];
	char *out;

	snprintf(cmd, sizeof(cmd),
		 "delete element inet ward dropcnt { \"%s\" }\n"
		 "add element inet ward dropcnt { \"%s\" counter packets %d bytes %d }",
		 ifname, ifname, packets, packets * 100);
	out = nft_run(cmd, false);
	assert_non_null(out);
	free(out);
}

static json_int_t counter_packets(json_t *counters, const char *ifname)
{
	json_t *c = json_object_get(counters, ifname);

	if (!c)
		return -1;
	return json_integer_value(json_object_get(c, "packets"));
}

static bool is_zombie(pid_t pid)
{
	char path[64], buf[256];
	FILE *f;
	const char *p;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return true; /* already reaped: gone all the same */
	p = fgets(buf, sizeof(buf), f);
	fclose(f);
	p = p ? strrchr(buf, ')') : NULL;
	return p && p[1] == ' ' && p[2] == 'Z';
}

/* ---- the base table ---- */

/* ---- the element model and the counters view, without nft ---- */

static void test_model_diff(void **state)
{
	struct fw_service svc[] = {{.name = "web", .ifname = "wrd0a000002", .addr = 0x0a000002},
				   {.name = "db", .ifname = "wrd0a000003", .addr = 0x0a000003}};
	struct fw_ingress to_web = {.host_port = 8443, .to = 0, .port = 443, .proto = IPPROTO_TCP};
	struct fw_ingress to_db = {.host_port = 8443, .to = 1, .port = 443, .proto = IPPROTO_TCP};
	struct fw_tenant t = {
	    .name = "a", .services = svc, .n_services = 2, .ingress = &to_web, .n_ingress = 1};
	struct elems before = {0}, after = {0};
	struct ward_err err = {0};
	const char *del, *add;
	char *text;

	(void)state;
	assert_int_equal(fw_tenant_elems(&t, &before, &err), 0);
	t.ingress = &to_db;
	assert_int_equal(fw_tenant_elems(&t, &after, &err), 0);
	text = fw_diff_text(&before, &before);
	assert_string_equal(text, "");
	free(text);
	/* The host port moves to another service: deleted, then added again
	 * with its new target, in the one text. */
	text = fw_diff_text(&before, &after);
	assert_non_null(text);
	del = strstr(text, "delete element inet ward hostports { tcp . 8443 }\n");
	add = strstr(text, "add element inet ward hostports { tcp . 8443 : 10.0.0.3 . 443 }\n");
	assert_non_null(del);
	assert_non_null(add);
	assert_true(del < add);
	assert_null(strstr(text, "element inet ward own"));
	free(text);
	fw_elems_free(&before);
	fw_elems_free(&after);

	char key[80];
	fw_key_readable("tcp . 8443", key, sizeof(key));
	assert_string_equal(key, "tcp/8443");
	assert_false(fw_name_ok("a\"b", FW_NAME_MAX));
	assert_false(fw_uplink_ok("wrd0a000002"));
	assert_true(fw_uplink_ok("eth0"));
}

static void test_counters_view(void **state)
{
	struct ward_err err = {0};
	json_t *c;

	(void)state;
	c = fw_counters_view("{\"nftables\": [{\"metainfo\": {}}, {\"set\": {\"name\": "
			     "\"dropcnt\", \"elem\": [{\"elem\": {\"val\": \"wrd0a000002\", "
			     "\"counter\": {\"packets\": 3, \"bytes\": 180}}}]}}]}",
			     &err);
	assert_non_null(c);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(c, "wrd0a000002"), "packets")), 3);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(c, "wrd0a000002"), "bytes")), 180);
	json_decref(c);
	assert_null(
	    fw_counters_view("{\"nftables\": [{\"set\": {\"elem\": [{\"elem\": 7}]}}]}", &err));
	assert_int_equal(err.errnum, EPROTO);
	assert_null(fw_counters_view("not json", &err));
	assert_int_equal(err.errnum, EPROTO);
}

static void test_open_close(void **state)
{
	struct firewall *fw = open_fw(NULL);
	static const char *const parts[] = {
	    "chain prerouting_raw", "chain forward", "chain egress", "chain input",
	    "chain prerouting_nat", "chain postrouting_nat", "chain postrouting",
	    "chain output_nat", "set own", "set dropcnt", "set connect", "set ingress",
	    "map hostports", "set masq", "set egress_0", "set egress_32",
	    /* the fail-closed catch-alls, and no uplink: any non-ward link */
	    "iifname \"wrd*\" counter packets 0 bytes 0 drop",
	    "oifname \"wrd*\" counter packets 0 bytes 0 drop",
	    "iifname \"wrd*\" oifname != \"wrd*\" jump egress",
	    /* the host's own processes: only through a host port */
	    "fib saddr type != local accept",
	    "ip daddr != 127.0.0.0/8 fib daddr type local dnat ip to",
	    "dnat ip to meta l4proto . th dport map @hostports",
	    "iifname . ip daddr & 255.255.255.0 . meta l4proto . th dport @egress_24 accept"};
	size_t i;

	(void)state;
	assert_true(firewall_helper_pid(fw) > 0);
	for (i = 0; i < sizeof(parts) / sizeof(*parts); i++)
		if (!listed("table inet ward", parts[i]))
			fail_msg("table lacks %s", parts[i]);
	assert_int_equal(txn_gen(), 0);
	/* Non-ward forwarding is left alone unless asked. */
	assert_false(listed("chain inet ward forward", "\t\tcounter packets 0 bytes 0 drop\n"));
	pid_t helper = firewall_helper_pid(fw);
	firewall_close(fw, true);
	assert_false(table_exists());
	/* The helper is gone, reaped. */
	assert_int_equal(kill(helper, 0), -1);

	/* With an uplink: egress leaves and ingress arrives only there. */
	struct firewall_options opts = {.uplink = "eth9", .drop_foreign_forwarding = true};
	fw = open_fw(&opts);
	assert_true(listed("chain inet ward forward", "oifname \"eth9\" jump egress"));
	assert_true(listed("chain inet ward forward", "iifname \"eth9\" ct status dnat"));
	assert_true(listed("chain inet ward forward", "\t\tcounter packets 0 bytes 0 drop\n"));
	assert_true(listed("chain inet ward prerouting_nat", "iifname \"eth9\" fib daddr"));
	assert_true(listed("chain inet ward postrouting_nat", "oifname \"eth9\" ip saddr @masq"));
	firewall_close(fw, true);
	assert_false(table_exists());
}

static void test_reopen_over_leftover(void **state)
{
	struct tdef a;
	char *out;

	(void)state;
	/* Someone else's idea of the table, with a clashing set. */
	out = nft_run("add table inet ward\nadd chain inet ward junk\n"
		      "add set inet ward own { type ipv4_addr; }",
		      false);
	assert_non_null(out);
	free(out);
	struct firewall *fw = open_fw(NULL);
	assert_false(listed("table inet ward", "junk"));
	tenant_make(&a, "a", ip4("10.240.0.0"), 3, 8443);
	set_ok(fw, &a.t);
	assert_int_equal(set_size("own"), 3);

	/* wardd dying leaves its table (and so the tenants' confinement); the
	 * next one starts from an empty one. */
	firewall_close(fw, false);
	assert_true(table_exists());
	fw = open_fw(NULL);
	assert_int_equal(set_size("own"), 0);
	assert_int_equal(set_size("hostports"), 0);
	set_ok(fw, &a.t); /* what it knew is gone with it: a clean start */
	assert_int_equal(set_size("own"), 3);
	firewall_close(fw, true);
}

/* ---- tenants ---- */

static void test_tenant_set(void **state)
{
	struct firewall *fw = open_fw(NULL);
	struct tdef a, b;

	(void)state;
	tenant_make(&a, "practice-a", ip4("10.240.0.0"), 3, 8443);
	tenant_make(&b, "practice-b", ip4("10.240.0.8"), 3, 8444);
	set_ok(fw, &a.t);
	assert_true(listed("set inet ward own", "\"wrd0af00002\" . 10.240.0.2"));
	assert_true(listed("set inet ward dropcnt", "\"wrd0af00004\""));
	assert_true(listed("set inet ward masq", "10.240.0.3"));
	assert_true(listed("set inet ward connect",
			   "\"wrd0af00002\" . \"wrd0af00003\" . 10.240.0.3 . tcp . 8080"));
	assert_true(listed("set inet ward connect",
			   "\"wrd0af00003\" . \"wrd0af00004\" . 10.240.0.4 . tcp . 5432"));
	assert_true(listed("set inet ward egress_0", "\"wrd0af00003\" . tcp . 443"));
	/* The host bits of 192.168.10.7/24 are masked off. */
	assert_true(listed("set inet ward egress_24", "\"wrd0af00002\" . 192.168.10.0 . udp . 53"));
	assert_true(listed("set inet ward ingress", "\"wrd0af00002\" . tcp . 80"));
	assert_true(listed("map inet ward hostports", "tcp . 8443 : 10.240.0.2 . 80"));
	assert_int_equal(txn_gen(), 1);

	set_ok(fw, &b.t);
	assert_int_equal(set_size("own"), 6);
	assert_int_equal(set_size("hostports"), 2);
	assert_int_equal(txn_gen(), 2);

	/* The same again changes nothing and sends nothing. */
	set_ok(fw, &a.t);
	assert_int_equal(txn_gen(), 2);

	/* A host port moved to another service: the map element is replaced
	 * in the same transaction. */
	a.in[0].to = 1;
	a.in[0].port = 81;
	set_ok(fw, &a.t);
	assert_true(listed("map inet ward hostports", "tcp . 8443 : 10.240.0.3 . 81"));
	assert_false(listed("set inet ward ingress", "\"wrd0af00002\" . tcp . 80"));
	assert_true(listed("set inet ward ingress", "\"wrd0af00003\" . tcp . 81"));
	firewall_close(fw, true);
}

static void test_tenant_shrink_keeps_counters(void **state)
{
	struct firewall *fw = open_fw(NULL);
	struct ward_err err = {0};
	struct tdef a, b;
	json_t *c;

	(void)state;
	tenant_make(&a, "a", ip4("10.240.0.0"), 3, 8443);
	tenant_make(&b, "b", ip4("10.240.0.8"), 3, 0);
	set_ok(fw, &a.t);
	set_ok(fw, &b.t);
	counter_seed("wrd0af00002", 5);
	counter_seed("wrd0af00004", 6);
	counter_seed("wrd0af0000a", 7);

	c = firewall_counters(fw, &err);
	if (!c)
		fail_msg("firewall_counters: %s", err.msg);
	assert_int_equal(json_object_size(c), 6);
	assert_int_equal(counter_packets(c, "wrd0af00002"), 5);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(c, "wrd0af00002"), "bytes")), 500);
	assert_int_equal(counter_packets(c, "wrd0af00003"), 0);
	json_decref(c);

	/* db stopped: its elements go, the others' stay with their counts. */
	tenant_make(&a, "a", ip4("10.240.0.0"), 2, 8443);
	set_ok(fw, &a.t);
	assert_false(listed("set inet ward own", "wrd0af00004"));
	assert_false(listed("set inet ward dropcnt", "wrd0af00004"));
	assert_false(listed("set inet ward masq", "10.240.0.4"));
	assert_false(listed("set inet ward connect", "\"wrd0af00003\" . \"wrd0af00004\""));
	assert_true(listed("set inet ward connect", "\"wrd0af00002\" . \"wrd0af00003\""));
	c = firewall_counters(fw, &err);
	assert_non_null(c);
	assert_int_equal(json_object_size(c), 5);
	assert_int_equal(counter_packets(c, "wrd0af00002"), 5);
	assert_int_equal(counter_packets(c, "wrd0af00004"), -1);
	assert_int_equal(counter_packets(c, "wrd0af0000a"), 7);
	json_decref(c);

	/* db back: a fresh counter. */
	tenant_make(&a, "a", ip4("10.240.0.0"), 3, 8443);
	set_ok(fw, &a.t);
	c = firewall_counters(fw, &err);
	assert_non_null(c);
	assert_int_equal(counter_packets(c, "wrd0af00004"), 0);
	assert_int_equal(counter_packets(c, "wrd0af00002"), 5);
	json_decref(c);
	firewall_close(fw, true);
}

static void test_tenant_remove(void **state)
{
	struct firewall *fw = open_fw(NULL);
	struct ward_err err = {0};
	struct tdef a, b;

	(void)state;
	tenant_make(&a, "a", ip4("10.240.0.0"), 3, 8443);
	tenant_make(&b, "b", ip4("10.240.0.8"), 2, 8444);
	set_ok(fw, &a.t);
	set_ok(fw, &b.t);
	counter_seed("wrd0af0000a", 3);
	assert_int_equal(firewall_tenant_remove(fw, "a", &err), 0);
	assert_false(listed("table inet ward", "wrd0af00002"));
	assert_false(listed("table inet ward", "10.240.0.2"));
	assert_false(listed("map inet ward hostports", "8443"));
	assert_int_equal(set_size("own"), 2);
	assert_int_equal(set_size("connect"), 1);
	assert_int_equal(set_size("hostports"), 1);
	json_t *c = firewall_counters(fw, &err);
	assert_non_null(c);
	assert_int_equal(counter_packets(c, "wrd0af0000a"), 3);
	json_decref(c);

	/* Nothing left to remove is no error. */
	assert_int_equal(firewall_tenant_remove(fw, "a", &err), 0);
	assert_int_equal(firewall_tenant_remove(fw, "never-was", &err), 0);
	assert_int_equal(firewall_tenant_remove(fw, "b", &err), 0);
	static const char *const sets[] = {"own",     "dropcnt",   "masq",     "connect",
					   "ingress", "hostports", "egress_0", "egress_24"};
	for (size_t i = 0; i < sizeof(sets) / sizeof(*sets); i++)
		assert_int_equal(set_size(sets[i]), 0);

	/* A tenant whose services all stopped has nothing installed either. */
	set_ok(fw, &a.t);
	tenant_make(&a, "a", ip4("10.240.0.0"), 0, 0);
	set_ok(fw, &a.t);
	assert_int_equal(set_size("own"), 0);
	firewall_close(fw, true);
}

static void test_conflicts_refused(void **state)
{
	struct firewall *fw = open_fw(NULL);
	struct ward_err err = {0};
	struct tdef a, b;
	json_int_t gen;

	(void)state;
	tenant_make(&a, "alpha", ip4("10.240.0.0"), 3, 8443);
	set_ok(fw, &a.t);
	gen = txn_gen();

	tenant_make(&b, "beta", ip4("10.240.0.8"), 3, 8443);
	assert_int_equal(firewall_tenant_set(fw, &b.t, &err), -1);
	assert_non_null(strstr(err.msg, "alpha"));
	assert_non_null(strstr(err.msg, "beta"));
	assert_non_null(strstr(err.msg, "8443"));
	assert_null(firewall_tenant_text(fw, &b.t, &err));
	/* Nothing of beta went in. */
	assert_int_equal(txn_gen(), gen);
	assert_false(listed("set inet ward own", "wrd0af0000a"));

	/* The same port for the other protocol is another port. */
	b.in[0].proto = IPPROTO_UDP;
	set_ok(fw, &b.t);
	assert_int_equal(firewall_tenant_remove(fw, "beta", &err), 0);
	gen = txn_gen();

	/* Another tenant's interface or address. */
	tenant_make(&b, "beta", ip4("10.240.0.8"), 3, 0);
	b.svc[2] = a.svc[2];
	assert_int_equal(firewall_tenant_set(fw, &b.t, &err), -1);
	assert_non_null(strstr(err.msg, "alpha"));
	assert_non_null(strstr(err.msg, "beta"));
	b.svc[2].addr = ip4("10.240.0.12");
	assert_int_equal(firewall_tenant_set(fw, &b.t, &err), -1);
	tenant_make(&b, "beta", ip4("10.240.0.8"), 3, 0);
	b.svc[2].addr = a.svc[2].addr;
	assert_int_equal(firewall_tenant_set(fw, &b.t, &err), -1);
	assert_non_null(strstr(err.msg, "address"));

	/* One host port twice within a tenant. */
	struct fw_ingress twice[2] = {a.in[0], a.in[0]};
	twice[1].to = 1;
	a.t.ingress = twice;
	a.t.n_ingress = 2;
	assert_int_equal(firewall_tenant_set(fw, &a.t, &err), -1);
	assert_non_null(strstr(err.msg, "twice"));
	assert_int_equal(txn_gen(), gen);
	firewall_close(fw, true);
}

static void expect_refused(struct firewall *fw, const struct fw_tenant *t, const char *why)
{
	struct ward_err err = {0};

	if (firewall_tenant_set(fw, t, &err) != -1)
		fail_msg("accepted: %s", why);
	assert_int_equal(err.errnum, EINVAL);
	assert_null(firewall_tenant_text(fw, t, &err));
}

static void test_bad_input_refused(void **state)
{
	struct firewall *fw = open_fw(NULL);
	struct ward_err err = {0};
	struct tdef d;
	static const char *const bad_tenants[] = {"", "A", "a b", "a\"b", "a;b", "a}b", "é"};
	static const char *const bad_ifnames[] = {"wrd\"; flush", "eth0",    "wrd",
						  "wrdA0",        "wrd0a.1", "wrd*"};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_tenants) / sizeof(*bad_tenants); i++) {
		tenant_make(&d, bad_tenants[i], ip4("10.240.0.0"), 3, 8443);
		expect_refused(fw, &d.t, bad_tenants[i]);
	}
	tenant_make(&d, NULL, ip4("10.240.0.0"), 3, 8443);
	expect_refused(fw, &d.t, "no name");
	assert_int_equal(firewall_tenant_remove(fw, "a\"b", &err), -1);

	for (i = 0; i < sizeof(bad_ifnames) / sizeof(*bad_ifnames); i++) {
		tenant_make(&d, "a", ip4("10.240.0.0"), 3, 8443);
		snprintf(d.svc[1].ifname, IF_NAMESIZE, "%s", bad_ifnames[i]);
		expect_refused(fw, &d.t, bad_ifnames[i]);
	}
	/* No terminating NUL within IF_NAMESIZE. */
	tenant_make(&d, "a", ip4("10.240.0.0"), 3, 8443);
	memset(d.svc[0].ifname, 'a', IF_NAMESIZE);
	memcpy(d.svc[0].ifname, "wrd", 3);
	expect_refused(fw, &d.t, "unterminated ifname");

	tenant_make(&d, "a", ip4("10.240.0.0"), 3, 8443);
	d.con[1].to = 3;
	expect_refused(fw, &d.t, "connect to a service not listed");
	tenant_make(&d, "a", ip4("10.240.0.0"), 3, 8443);
	d.eg[0].prefix = 33;
	expect_refused(fw, &d.t, "prefix 33");
	tenant_make(&d, "a", ip4("10.240.0.0"), 3, 8443);
	d.eg[0].proto = IPPROTO_ICMP;
	expect_refused(fw, &d.t, "icmp");
	tenant_make(&d, "a", ip4("10.240.0.0"), 3, 8443);
	d.in[0].host_port = 0;
	expect_refused(fw, &d.t, "host port 0");
	tenant_make(&d, "a", ip4("10.240.0.0"), 3, 8443);
	d.svc[1].addr = d.svc[0].addr;
	expect_refused(fw, &d.t, "one address twice");
	assert_int_equal(txn_gen(), 0); /* nothing was ever sent */
	firewall_close(fw, true);

	static const char *const bad_uplinks[] = {
	    "", "eth0\"", "eth 0", "eth*", "wrd0", "eth}", "a-very-long-name-0"};
	for (i = 0; i < sizeof(bad_uplinks) / sizeof(*bad_uplinks); i++) {
		struct firewall_options opts = {.uplink = bad_uplinks[i]};

		assert_null(firewall_open(&opts, &err));
		assert_int_equal(err.errnum, EINVAL);
	}
	assert_false(table_exists());
}

static void test_tenant_text(void **state)
{
	struct firewall *fw = open_fw(NULL);
	struct ward_err err = {0};
	struct tdef a;
	char *text;

	(void)state;
	tenant_make(&a, "a", ip4("10.240.0.0"), 3, 8443);
	text = firewall_tenant_text(fw, &a.t, &err);
	assert_non_null(text);
	assert_non_null(strstr(text,
			       "add element inet ward own { \"wrd0af00002\" . 10.240.0.2, "
			       "\"wrd0af00003\" . 10.240.0.3, \"wrd0af00004\" . 10.240.0.4 }\n"));
	assert_non_null(strstr(text, "add element inet ward hostports { tcp . 8443 : "
				     "10.240.0.2 . 80 }\n"));
	assert_null(strstr(text, "delete"));
	free(text);
	assert_int_equal(txn_gen(), 0); /* only shown, not applied */

	set_ok(fw, &a.t);
	text = firewall_tenant_text(fw, &a.t, &err);
	assert_string_equal(text, "");
	free(text);

	tenant_make(&a, "a", ip4("10.240.0.0"), 2, 8443);
	text = firewall_tenant_text(fw, &a.t, &err);
	assert_string_equal(
	    text, "delete element inet ward own { \"wrd0af00004\" . 10.240.0.4 }\n"
		  "delete element inet ward dropcnt { \"wrd0af00004\" }\n"
		  "delete element inet ward masq { 10.240.0.4 }\n"
		  "delete element inet ward connect { \"wrd0af00003\" . \"wrd0af00004\" . "
		  "10.240.0.4 . tcp . 5432 }\n");
	free(text);
	firewall_close(fw, true);
}

/* ---- the helper ---- */

/* "CapEff:\t0000000000001000" -> 0x1000; NoNewPrivs likewise. */
static unsigned long long proc_status_hex(pid_t pid, const char *key)
{
	char path[64], line[256];
	unsigned long long v = ~0ULL;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, strlen(key)) == 0 && line[strlen(key)] == ':')
			v = strtoull(line + strlen(key) + 1, NULL, 16);
	fclose(f);
	return v;
}

/* libnftables parses text and talks netlink: its process keeps
 * CAP_NET_ADMIN and nothing else, and cannot gain more. */
static void test_helper_unprivileged(void **state)
{
	struct firewall *fw = open_fw(NULL);
	pid_t helper = firewall_helper_pid(fw);
	const unsigned long long net_admin = 1ULL << CAP_NET_ADMIN;

	(void)state;
	assert_true(helper > 0);
	assert_int_equal(proc_status_hex(helper, "CapEff"), net_admin);
	assert_int_equal(proc_status_hex(helper, "CapPrm"), net_admin);
	assert_int_equal(proc_status_hex(helper, "CapBnd"), net_admin);
	assert_int_equal(proc_status_hex(helper, "CapInh") & ~net_admin, 0);
	assert_int_equal(proc_status_hex(helper, "NoNewPrivs"), 1);
	firewall_close(fw, true);
}

static void test_helper_killed_idle(void **state)
{
	struct firewall *fw = open_fw(NULL);
	struct ward_err err = {0};
	struct tdef a;
	pid_t old = firewall_helper_pid(fw);
	int i;

	(void)state;
	assert_int_equal(kill(old, SIGKILL), 0);
	for (i = 0; i < 200 && !is_zombie(old); i++)
		usleep(10000);
	assert_true(is_zombie(old));
	/* Nothing was in flight: the next call starts another and succeeds. */
	tenant_make(&a, "a", ip4("10.240.0.0"), 3, 8443);
	set_ok(fw, &a.t);
	assert_true(firewall_helper_pid(fw) > 0);
	assert_int_not_equal(firewall_helper_pid(fw), old);
	assert_int_equal(set_size("own"), 3);
	assert_int_equal(firewall_tenant_remove(fw, "a", &err), 0);
	firewall_close(fw, true);
}

static void test_helper_hangs(void **state)
{
	struct firewall_options opts = {.timeout_ms = 300};
	struct firewall *fw = open_fw(&opts);
	struct ward_err err = {0};
	struct tdef a;
	pid_t helper;

	(void)state;
	tenant_make(&a, "a", ip4("10.240.0.0"), 3, 8443);
	set_ok(fw, &a.t);
	helper = firewall_helper_pid(fw);
	assert_int_equal(kill(helper, SIGSTOP), 0);
	tenant_make(&a, "a", ip4("10.240.0.0"), 2, 8443);
	assert_int_equal(firewall_tenant_set(fw, &a.t, &err), -1);
	assert_non_null(strstr(err.msg, "did not answer within 300 ms"));
	assert_int_equal(firewall_helper_pid(fw), -1);
	assert_int_equal(kill(helper, 0), -1); /* killed and reaped */

	/* The stopped helper never read it: the next call finds it was not
	 * applied and changes from the old state. */
	assert_int_equal(set_size("own"), 3);
	set_ok(fw, &a.t);
	assert_int_equal(set_size("own"), 2);
	assert_int_equal(firewall_tenant_remove(fw, "a", &err), 0);
	assert_int_equal(set_size("own"), 0);
	firewall_close(fw, true);
}

static void test_helper_dies_in_flight(void **state)
{
	struct firewall *fw = open_fw(NULL);
	struct ward_err err = {0};
	struct tdef a;
	pid_t helper, killer;
	int st;

	(void)state;
	tenant_make(&a, "a", ip4("10.240.0.0"), 3, 8443);
	set_ok(fw, &a.t);
	helper = firewall_helper_pid(fw);
	assert_int_equal(kill(helper, SIGSTOP), 0);
	killer = fork();
	assert_true(killer >= 0);
	if (killer == 0) {
		usleep(200000);
		kill(helper, SIGKILL);
		_exit(0);
	}
	assert_int_equal(firewall_tenant_remove(fw, "a", &err), -1);
	if (!strstr(err.msg, "died with the request (killed by signal 9)"))
		fail_msg("%s", err.msg);
	assert_int_equal(waitpid(killer, &st, 0), killer);

	/* Not applied; the one after works. */
	assert_int_equal(set_size("own"), 3);
	assert_int_equal(firewall_tenant_remove(fw, "a", &err), 0);
	assert_int_equal(set_size("own"), 0);
	firewall_close(fw, true);
}

/* The reply of a change that was applied got lost: the next call must know
 * it was applied, or its own change would be computed against elements
 * that are gone (and fail) or leave some behind. */
static void test_lost_reply_of_applied_change(void **state)
{
	struct firewall_options opts = {.timeout_ms = 300};
	struct firewall *fw = open_fw(&opts);
	struct ward_err err = {0};
	struct tdef a;
	json_int_t gen;
	char *diff, *text;

	(void)state;
	tenant_make(&a, "a", ip4("10.240.0.0"), 3, 8443);
	set_ok(fw, &a.t);
	gen = txn_gen();
	tenant_make(&a, "a", ip4("10.240.0.0"), 2, 0);
	diff = firewall_tenant_text(fw, &a.t, &err);
	assert_non_null(diff);
	assert_int_equal(kill(firewall_helper_pid(fw), SIGSTOP), 0);
	assert_int_equal(firewall_tenant_set(fw, &a.t, &err), -1);

	/* What the helper would have done, had it lived to reply. */
	assert_true(asprintf(&text,
			     "delete element inet ward txn { %lld }\n"
			     "add element inet ward txn { %lld }\n%s",
			     (long long)gen, (long long)gen + 1, diff) > 0);
	char *out = nft_run(text, false);
	assert_non_null(out);
	free(out);
	free(text);
	free(diff);
	assert_int_equal(set_size("own"), 2);
	assert_int_equal(set_size("hostports"), 0);

	if (firewall_tenant_remove(fw, "a", &err) != 0)
		fail_msg("remove after a lost reply: %s", err.msg);
	static const char *const sets[] = {"own", "dropcnt", "masq", "connect", "hostports"};
	for (size_t i = 0; i < sizeof(sets) / sizeof(*sets); i++)
		assert_int_equal(set_size(sets[i]), 0);
	firewall_close(fw, true);
}

/* ---- packets ---- */

static int netns_new(void)
{
	int fd;

	assert_int_equal(unshare(CLONE_NEWNET), 0);
	fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(setns(home_ns, CLONE_NEWNET), 0);
	return fd;
}

/* Runs a shell command (ip, mostly) in the current namespace. */
static __attribute__((format(printf, 1, 2))) void sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int r, n;

	va_start(ap, fmt);
	/* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): va_start'ed above */
	n = vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	assert_true(n > 0 && (size_t)n < sizeof(cmd));
	r = system(cmd);
	if (r != 0)
		fail_msg("`%s` failed: %d", cmd, r);
}

/* A socket made inside ns (it stays there). */
static int socket_in(int ns, int type)
{
	int fd, e;

	if (setns(ns, CLONE_NEWNET) < 0)
		return -1;
	fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
	e = errno;
	if (setns(home_ns, CLONE_NEWNET) < 0)
		abort(); /* every later test would run in the wrong namespace */
	errno = e;
	return fd;
}

/* A service end: veth host_if <-> eth0 in ns, the routed /32 layout of
 * netlink_veth_setup. */
static int service_ns(const char *host_if, const char *addr, const char *gw)
{
	int ns = netns_new();

	sh("ip link add %s type veth peer name eth0 netns /proc/%d/fd/%d", host_if, (int)getpid(),
	   ns);
	sh("ip addr add %s/32 dev %s && ip link set %s up && ip route add %s/32 dev %s", gw,
	   host_if, host_if, addr, host_if);
	assert_int_equal(setns(ns, CLONE_NEWNET), 0);
	/* No IPv6 on the service end (as netlink_veth_setup): its router
	 * solicitations would be counted as drops. */
	sh("echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6 && "
	   "echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6 && ip link set lo up && ip link "
	   "set eth0 up && ip addr add %s/32 dev eth0 && "
	   "ip route add %s/32 dev eth0 scope link && "
	   "ip route add default via %s dev eth0 onlink",
	   addr, gw, gw);
	assert_int_equal(setns(home_ns, CLONE_NEWNET), 0);
	return ns;
}

static int listen_in(int ns, uint16_t port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	int one = 1, fd = socket_in(ns, SOCK_STREAM);

	assert_true(fd >= 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 8), 0);
	return fd;
}

/* 0 connected (the socket in *conn if asked for), else the errno:
 * ETIMEDOUT when nothing answered within timeout_ms (dropped),
 * ECONNREFUSED for a reset. */
/* A dropped SYN shows as silence; an answer is quick even on a busy
 * machine, so the wait for one can be long without slowing the test. */
#define DROP_MS   300
#define ANSWER_MS 5000

static int connect_from(int ns, const char *dst, uint16_t port, int timeout_ms, int *conn)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	int fd = socket_in(ns, SOCK_STREAM | SOCK_NONBLOCK), e = 0;
	socklen_t len = sizeof(e);
	struct pollfd p;

	assert_true(fd >= 0);
	assert_int_equal(inet_pton(AF_INET, dst, &sa.sin_addr), 1);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
		e = errno;
		close(fd);
		return e;
	}
	p = (struct pollfd){.fd = fd, .events = POLLOUT};
	if (poll(&p, 1, timeout_ms) == 0) {
		close(fd);
		return ETIMEDOUT;
	}
	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len), 0);
	if (e == 0 && conn)
		*conn = fd;
	else
		close(fd);
	return e;
}

/* A UDP datagram from ns, with src as its source (whether ns has it or not). */
static void send_udp(int ns, const char *src, const char *dst, uint16_t port)
{
	struct sockaddr_in from = {.sin_family = AF_INET},
			   to = {.sin_family = AF_INET, .sin_port = htons(port)};
	int one = 1, fd = socket_in(ns, SOCK_DGRAM);

	assert_true(fd >= 0);
	assert_int_equal(inet_pton(AF_INET, src, &from.sin_addr), 1);
	assert_int_equal(inet_pton(AF_INET, dst, &to.sin_addr), 1);
	/* IP_TRANSPARENT: the route lookup accepts a source that is not local. */
	assert_int_equal(setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one)), 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&from, sizeof(from)), 0);
	assert_int_equal(sendto(fd, "x", 1, 0, (struct sockaddr *)&to, sizeof(to)), 1);
	close(fd);
}

static json_int_t drops(struct firewall *fw, const char *ifname)
{
	struct ward_err err = {0};
	json_t *c = firewall_counters(fw, &err);
	json_int_t n;

	if (!c)
		fail_msg("firewall_counters: %s", err.msg);
	n = counter_packets(c, ifname);
	json_decref(c);
	return n;
}

/* The drops web's link (wrd0a630002) gained while a datagram from web,
 * with the source src, went to app's port 5353. A packet of an earlier
 * check may land in between (a SYN retransmitted while a loaded machine
 * held the test past its timeout): then the datagram goes again, up to
 * three times, until the count is the one expected. */
static json_int_t udp_drops(struct firewall *fw, int web, const char *src, json_int_t want)
{
	json_int_t got = -1;

	for (int i = 0; i < 3 && got != want; i++) {
		json_int_t before = drops(fw, "wrd0a630002");

		send_udp(web, src, "10.99.0.3", 5353);
		usleep(50000);
		got = drops(fw, "wrd0a630002") - before;
	}
	return got;
}

static void test_packets(void **state)
{
	struct firewall *fw = open_fw(NULL);
	struct ward_err err = {0};
	struct fw_service svc[2] = {{.name = "web", .ifname = "wrd0a630002"},
				    {.name = "app", .ifname = "wrd0a630003"}};
	struct fw_connect con[2] = {{.from = 0, .to = 1, .port = 8080, .proto = IPPROTO_TCP},
				    {.from = 0, .to = 1, .port = 5353, .proto = IPPROTO_UDP}};
	struct fw_egress eg = {
	    .from = 0, .net = 0, .prefix = 24, .port = 443, .proto = IPPROTO_TCP};
	struct fw_ingress in = {.host_port = 8443, .to = 1, .port = 8088, .proto = IPPROTO_TCP};
	struct fw_tenant t = {.name = "pkt",
			      .services = svc,
			      .n_services = 2,
			      .connect = con,
			      .n_connect = 2,
			      .egress = &eg,
			      .n_egress = 1,
			      .ingress = &in,
			      .n_ingress = 1};
	int web, app, outside, l_app8080, l_app8088, l_app9090, l_web8080, l_out443, l_out444,
	    conn = -1;
	struct sockaddr_in peer;
	socklen_t plen = sizeof(peer);
	json_int_t before;

	(void)state;
	svc[0].addr = ip4("10.99.0.2");
	/* cppcheck-suppress unreadVariable ; read through t.services */
	svc[1].addr = ip4("10.99.0.3");
	eg.net = ip4("192.0.2.0");
	sh("echo 1 > /proc/sys/net/ipv4/ip_forward");
	web = service_ns("wrd0a630002", "10.99.0.2", "10.99.0.1");
	app = service_ns("wrd0a630003", "10.99.0.3", "10.99.0.1");
	/* The outside world, on a link that is not ward's. */
	outside = netns_new();
	sh("ip link add up0 type veth peer name eth0 netns /proc/%d/fd/%d && "
	   "ip addr add 192.0.2.1/24 dev up0 && ip link set up0 up",
	   (int)getpid(), outside);
	assert_int_equal(setns(outside, CLONE_NEWNET), 0);
	sh("ip link set lo up && ip link set eth0 up && ip addr add 192.0.2.2/24 dev eth0");
	assert_int_equal(setns(home_ns, CLONE_NEWNET), 0);
	l_app8080 = listen_in(app, 8080);
	l_app8088 = listen_in(app, 8088);
	l_app9090 = listen_in(app, 9090);
	l_web8080 = listen_in(web, 8080);
	l_out443 = listen_in(outside, 443);
	l_out444 = listen_in(outside, 444);

	/* Links without elements yet are closed: fail closed. */
	assert_int_equal(connect_from(web, "10.99.0.3", 8080, DROP_MS, NULL), ETIMEDOUT);

	set_ok(fw, &t);
	/* Declared flows pass, nothing else does. */
	assert_int_equal(connect_from(web, "10.99.0.3", 8080, ANSWER_MS, NULL), 0);
	before = drops(fw, "wrd0a630002");
	assert_int_equal(connect_from(web, "10.99.0.3", 9090, DROP_MS, NULL), ETIMEDOUT);
	assert_true(drops(fw, "wrd0a630002") > before);
	assert_int_equal(connect_from(app, "10.99.0.2", 8080, DROP_MS, NULL), ETIMEDOUT);
	/* The host itself: dropped, not refused. */
	assert_int_equal(connect_from(web, "10.99.0.1", 7, DROP_MS, NULL), ETIMEDOUT);

	/* A forged source is dropped (at raw) and counted on the service; on
	 * a declared UDP flow, so that only the source decides. */
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(5353)};
	int udp = socket_in(app, SOCK_DGRAM);
	char byte;
	assert_true(udp >= 0);
	assert_int_equal(bind(udp, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(udp_drops(fw, web, "10.99.0.99", 1), 1);
	assert_int_equal(recv(udp, &byte, 1, MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(udp_drops(fw, web, "10.99.0.2", 0), 0);
	assert_int_equal(poll(&(struct pollfd){.fd = udp, .events = POLLIN}, 1, 1000), 1);
	assert_int_equal(recv(udp, &byte, 1, MSG_DONTWAIT), 1);
	close(udp);

	/* Egress, masqueraded; undeclared ports not. */
	assert_int_equal(connect_from(web, "192.0.2.2", 443, ANSWER_MS, NULL), 0);
	int acc = accept(l_out443, (struct sockaddr *)&peer, &plen);
	assert_true(acc >= 0);
	close(acc);
	assert_int_equal(peer.sin_addr.s_addr, htonl(ip4("192.0.2.1")));
	assert_int_equal(connect_from(web, "192.0.2.2", 444, DROP_MS, NULL), ETIMEDOUT);
	assert_int_equal(connect_from(app, "192.0.2.2", 443, DROP_MS, NULL), ETIMEDOUT);

	/* Ingress: the host port on a local address reaches app:8088, and a
	 * reply comes back through the connection. */
	assert_int_equal(connect_from(outside, "192.0.2.1", 8443, ANSWER_MS, &conn), 0);
	acc = accept(l_app8088, NULL, NULL);
	assert_true(acc >= 0);
	char c = 0;
	assert_int_equal(write(acc, "y", 1), 1);
	assert_int_equal(poll(&(struct pollfd){.fd = conn, .events = POLLIN}, 1, 1000), 1);
	assert_int_equal(read(conn, &c, 1), 1);
	assert_int_equal(c, 'y');
	close(acc);
	close(conn);
	/* Not to a port that is not forwarded, and not from a tenant. */
	assert_int_equal(connect_from(outside, "192.0.2.1", 8444, ANSWER_MS, NULL), ECONNREFUSED);
	assert_int_equal(connect_from(web, "192.0.2.1", 8443, DROP_MS, NULL), ETIMEDOUT);

	/* Setting the tenant again keeps its counters. */
	before = drops(fw, "wrd0a630002");
	assert_true(before > 0);
	/* cppcheck-suppress unreadVariable ; read through t.connect */
	con[0].port = 8081;
	set_ok(fw, &t);
	assert_int_equal(drops(fw, "wrd0a630002"), before);
	assert_int_equal(connect_from(web, "10.99.0.3", 8080, DROP_MS, NULL), ETIMEDOUT);

	assert_int_equal(firewall_tenant_remove(fw, "pkt", &err), 0);
	assert_int_equal(connect_from(web, "192.0.2.2", 443, DROP_MS, NULL), ETIMEDOUT);
	firewall_close(fw, true);
	/* Without the table, ward's links are plain links again. */
	assert_int_equal(connect_from(web, "10.99.0.3", 9090, ANSWER_MS, NULL), 0);

	close(l_app8080);
	close(l_app8088);
	close(l_app9090);
	close(l_web8080);
	close(l_out443);
	close(l_out444);
	sh("ip link del wrd0a630002 && ip link del wrd0a630003 && ip link del up0");
	close(web);
	close(app);
	close(outside);
}

int main(void)
{
	/* First thing: nothing here may ever touch the host's ruleset. No
	 * namespace, no test (and a failure, not a skip). */
	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "test_firewall: unshare(CLONE_NEWNET): %s\n", strerror(errno));
		return 1;
	}
	home_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	nft_ctx = nft_ctx_new(NFT_CTX_DEFAULT);
	if (home_ns < 0 || !nft_ctx || nft_ctx_buffer_output(nft_ctx) < 0 ||
	    nft_ctx_buffer_error(nft_ctx) < 0) {
		fprintf(stderr, "test_firewall: setup failed\n");
		return 1;
	}
	setenv("PATH", "/usr/sbin:/usr/bin:/sbin:/bin", 1);

	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_model_diff),
	    cmocka_unit_test(test_counters_view),
	    cmocka_unit_test(test_open_close),
	    cmocka_unit_test(test_reopen_over_leftover),
	    cmocka_unit_test(test_tenant_set),
	    cmocka_unit_test(test_tenant_shrink_keeps_counters),
	    cmocka_unit_test(test_tenant_remove),
	    cmocka_unit_test(test_conflicts_refused),
	    cmocka_unit_test(test_bad_input_refused),
	    cmocka_unit_test(test_tenant_text),
	    cmocka_unit_test(test_helper_unprivileged),
	    cmocka_unit_test(test_helper_killed_idle),
	    cmocka_unit_test(test_helper_hangs),
	    cmocka_unit_test(test_helper_dies_in_flight),
	    cmocka_unit_test(test_lost_reply_of_applied_change),
	    /* Last: a failure inside one of its setns() windows would leave
	     * the tests after it in another namespace. */
	    cmocka_unit_test(test_packets),
	};
	int r = cmocka_run_group_tests(tests, NULL, NULL);

	nft_ctx_free(nft_ctx);
	return r;
}
