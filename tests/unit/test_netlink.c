/* Unit tests of netlink.c against the kernel, in a network namespace of the
 * test's own (unshared first, so nothing touches the host's network): veths
 * into real children's namespaces (links, addresses, routes and UDP both
 * ways), name collisions and failures half-way leaving nothing behind, link
 * removals seen through the monitor (also lost ones), leftovers, names,
 * forwarding. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/inet6.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>

#include "net/netlink.h"
#include "sandbox/loopback.h"

#define UDP_PORT 4242

static struct netlink *nl; /* the one under test, in the test's namespace */
static struct nl_sock *sk; /* the test's own view of that namespace */

/* 10.240.N.2 and gateway 10.240.N.1: each test its own subnet, so that
 * links of an earlier test the kernel is still removing cannot interfere. */
static uint32_t service_addr(unsigned n)
{
	return 0x0af00002u | (n << 8);
}
static uint32_t gateway_addr(unsigned n)
{
	return 0x0af00001u | (n << 8);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- a child in a network namespace of its own ---- */

struct child {
	pid_t pid;
	int pidfd;
	int cmd; /* to the child: struct udp_cmd */
	int res; /* from the child: one byte per command */
};

struct udp_cmd {
	uint32_t from; /* bind to this (host byte order) */
	uint32_t to;   /* send "ping" to to:UDP_PORT, wait for "pong" */
};

/* Sends a datagram from cmd.from to cmd.to and waits up to 5 s for the
 * answer: 'K' if it came, from cmd.to, else 'F'. */
static char child_udp(const struct udp_cmd *c)
{
	struct sockaddr_in me = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(c->from)};
	struct sockaddr_in to = {
	    .sin_family = AF_INET, .sin_port = htons(UDP_PORT), .sin_addr.s_addr = htonl(c->to)};
	struct sockaddr_in from = {0};
	socklen_t fromlen = sizeof(from);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char buf[16];
	ssize_t n;

	if (fd < 0 || bind(fd, (struct sockaddr *)&me, sizeof(me)) < 0 ||
	    sendto(fd, "ping", 4, 0, (struct sockaddr *)&to, sizeof(to)) != 4 ||
	    poll(&p, 1, 5000) != 1)
		return 'F';
	n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fromlen);
	close(fd);
	if (n != 4 || memcmp(buf, "pong", 4) != 0 || from.sin_addr.s_addr != to.sin_addr.s_addr)
		return 'F';
	return 'K';
}

static void child_main(int cmd, int res)
{
	struct udp_cmd c;
	char ok = 'R';

	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (unshare(CLONE_NEWNET) < 0)
		ok = 'E';
	if (write(res, &ok, 1) != 1 || ok != 'R')
		_exit(1);
	/* Until the test closes its end (or the test dies). */
	while (read(cmd, &c, sizeof(c)) == (ssize_t)sizeof(c)) {
		ok = child_udp(&c);
		if (write(res, &ok, 1) != 1)
			_exit(1);
	}
	_exit(0);
}

static void child_start(struct child *c)
{
	int to[2], from[2];
	char ready = 0;

	assert_int_equal(pipe2(to, O_CLOEXEC), 0);
	assert_int_equal(pipe2(from, O_CLOEXEC), 0);
	c->pid = fork();
	assert_true(c->pid >= 0);
	if (c->pid == 0) {
		close(to[1]);
		close(from[0]);
		child_main(to[0], from[1]);
	}
	close(to[0]);
	close(from[1]);
	c->cmd = to[1];
	c->res = from[0];
	assert_int_equal(read(c->res, &ready, 1), 1);
	assert_int_equal(ready, 'R');
	c->pidfd = (int)syscall(SYS_pidfd_open, c->pid, 0);
	assert_true(c->pidfd >= 0);
}

/* Kills the child: its namespace dies, and the kernel takes the veth. */
static void child_stop(struct child *c)
{
	int status;

	if (c->pid <= 0)
		return;
	kill(c->pid, SIGKILL);
	assert_int_equal(waitpid(c->pid, &status, 0), c->pid);
	close(c->cmd);
	close(c->res);
	close(c->pidfd);
	c->pid = -1;
}

/* ---- looking at links, addresses and routes ---- */

/* A libnl socket in pid's network namespace; nothing may fail between the
 * two setns, so the asserts come after. */
static struct nl_sock *sock_in(pid_t pid)
{
	char path[64];
	int own = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	int target, entered, back, connected = -1;
	struct nl_sock *s = nl_socket_alloc();

	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
	target = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(own >= 0 && target >= 0 && s);
	entered = setns(target, CLONE_NEWNET);
	if (entered == 0)
		connected = nl_connect(s, NETLINK_ROUTE);
	back = setns(own, CLONE_NEWNET);
	if (back != 0)
		abort(); /* every later test would run in the child's namespace */
	close(own);
	close(target);
	assert_int_equal(entered, 0);
	assert_int_equal(connected, 0);
	return s;
}

struct link_state {
	bool exists;
	int ifindex;
	unsigned flags;
	uint8_t addr_gen_mode;
};

static struct link_state link_state(struct nl_sock *s, const char *name)
{
	struct link_state st = {0};
	struct rtnl_link *link = NULL;

	if (rtnl_link_get_kernel(s, 0, name, &link) < 0)
		return st;
	st.exists = true;
	st.ifindex = rtnl_link_get_ifindex(link);
	st.flags = rtnl_link_get_flags(link);
	if (rtnl_link_inet6_get_addr_gen_mode(link, &st.addr_gen_mode) < 0)
		st.addr_gen_mode = 0xff;
	rtnl_link_put(link);
	return st;
}

static bool same_ipv4(struct nl_addr *a, uint32_t want)
{
	uint32_t be = htonl(want);

	return a && nl_addr_get_family(a) == AF_INET && nl_addr_get_len(a) == 4 &&
	       memcmp(nl_addr_get_binary_addr(a), &be, 4) == 0;
}

/* How many addresses of family the link has; *found: whether want/32 is
 * one of them (AF_INET). */
static int count_addrs(struct nl_sock *s, int ifindex, int family, uint32_t want, bool *found)
{
	struct nl_cache *cache = NULL;
	int n = 0;

	*found = false;
	assert_int_equal(rtnl_addr_alloc_cache(s, &cache), 0);
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_addr *a = (struct rtnl_addr *)o;

		if (rtnl_addr_get_ifindex(a) != ifindex || rtnl_addr_get_family(a) != family)
			continue;
		n++;
		if (family == AF_INET && rtnl_addr_get_prefixlen(a) == 32 &&
		    same_ipv4(rtnl_addr_get_local(a), want))
			*found = true;
	}
	nl_cache_free(cache);
	return n;
}

struct route_want {
	uint32_t dst;
	int dst_len;
	int ifindex;
	uint32_t gateway; /* 0: none */
	uint8_t scope;
	bool onlink;
};

static bool has_route(struct nl_sock *s, const struct route_want *w)
{
	struct nl_cache *cache = NULL;
	bool found = false;

	assert_int_equal(rtnl_route_alloc_cache(s, AF_INET, 0, &cache), 0);
	for (struct nl_object *o = nl_cache_get_first(cache); o; o = nl_cache_get_next(o)) {
		struct rtnl_route *r = (struct rtnl_route *)o;
		struct nl_addr *dst = rtnl_route_get_dst(r);
		struct rtnl_nexthop *nh;
		struct nl_addr *gw;

		if (rtnl_route_get_table(r) != RT_TABLE_MAIN || !dst ||
		    (int)nl_addr_get_prefixlen(dst) != w->dst_len ||
		    (w->dst_len && !same_ipv4(dst, w->dst)) ||
		    rtnl_route_get_scope(r) != w->scope || rtnl_route_get_nnexthops(r) != 1)
			continue;
		nh = rtnl_route_nexthop_n(r, 0);
		gw = rtnl_route_nh_get_gateway(nh);
		if (rtnl_route_nh_get_ifindex(nh) != w->ifindex)
			continue;
		if (w->gateway ? !same_ipv4(gw, w->gateway) : gw != NULL)
			continue;
		if (w->onlink && !(rtnl_route_nh_get_flags(nh) & RTNH_F_ONLINK))
			continue;
		found = true;
	}
	nl_cache_free(cache);
	return found;
}

/* ---- the monitor ---- */

struct gone_log {
	char names[32][IF_NAMESIZE];
	int n;
	int lost; /* calls with NULL */
};

static void on_gone(const char *name, void *ud)
{
	struct gone_log *log = ud;

	if (!name) {
		log->lost++;
		return;
	}
	if (log->n < 32)
		snprintf(log->names[log->n++], IF_NAMESIZE, "%s", name);
}

static bool logged(const struct gone_log *log, const char *name)
{
	for (int i = 0; i < log->n; i++)
		if (strcmp(log->names[i], name) == 0)
			return true;
	return false;
}

/* Notifications of earlier tests out of the way. */
static void monitor_drain(void)
{
	struct gone_log log = {0};

	assert_int_equal(netlink_monitor_read(nl, on_gone, &log), 0);
}

/* Reads notifications until name is reported gone, up to timeout_s. */
static bool monitor_wait_gone(struct gone_log *log, const char *name, double timeout_s)
{
	double end = now_s() + timeout_s;

	while (!logged(log, name)) {
		struct pollfd p = {.fd = netlink_monitor_fd(nl), .events = POLLIN};
		int left_ms = (int)((end - now_s()) * 1000);

		if (left_ms <= 0 || poll(&p, 1, left_ms) != 1)
			return false;
		assert_int_equal(netlink_monitor_read(nl, on_gone, log), 0);
	}
	return true;
}

/* A stopped child's veth goes with its namespace, asynchronously. */
static void wait_link_gone(const char *name)
{
	struct gone_log log = {0};

	if (netlink_link_exists(nl, name))
		assert_true(monitor_wait_gone(&log, name, 5) || !netlink_link_exists(nl, name));
	assert_false(netlink_link_exists(nl, name));
}

/* ---- tests ---- */

static void test_ifname(void **state)
{
	char buf[IF_NAMESIZE];

	netlink_ifname(0x0af00302, buf);
	assert_string_equal(buf, "wrd0af00302");
	netlink_ifname(0, buf);
	assert_string_equal(buf, "wrd00000000");
	netlink_ifname(0xffffffff, buf);
	assert_string_equal(buf, "wrdffffffff");
	assert_true(strlen(buf) < IF_NAMESIZE);
}

/* The UDP exchange: the child sends from addr to the gateway, the test
 * answers; both ways through the pair. */
static void udp_exchange(struct child *c, uint32_t addr, uint32_t gateway)
{
	struct sockaddr_in me = {
	    .sin_family = AF_INET, .sin_port = htons(UDP_PORT), .sin_addr.s_addr = htonl(gateway)};
	struct sockaddr_in from = {0};
	socklen_t fromlen = sizeof(from);
	struct udp_cmd cmd = {.from = addr, .to = gateway};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct pollfd p = {.fd = fd, .events = POLLIN};
	char buf[16];
	char verdict = 0;

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&me, sizeof(me)), 0);
	assert_int_equal(write(c->cmd, &cmd, sizeof(cmd)), (ssize_t)sizeof(cmd));
	assert_int_equal(poll(&p, 1, 5000), 1);
	assert_int_equal(recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fromlen), 4);
	assert_memory_equal(buf, "ping", 4);
	assert_int_equal(ntohl(from.sin_addr.s_addr), addr);
	assert_int_equal(sendto(fd, "pong", 4, 0, (struct sockaddr *)&from, fromlen), 4);
	assert_int_equal(read(c->res, &verdict, 1), 1);
	assert_int_equal(verdict, 'K');
	close(fd);
}

/* Everything the header promises about a set-up pair, on both ends. */
static void check_pair(struct child *c, const char *host_if, uint32_t addr, uint32_t gateway)
{
	struct nl_sock *in = sock_in(c->pid);
	struct link_state host = link_state(sk, host_if);
	struct link_state eth0 = link_state(in, "eth0");
	bool found;

	assert_true(host.exists);
	assert_true(host.flags & IFF_UP);
	assert_int_equal(host.addr_gen_mode, IN6_ADDR_GEN_MODE_NONE);
	assert_int_equal(count_addrs(sk, host.ifindex, AF_INET, gateway, &found), 1);
	assert_true(found);
	assert_true(has_route(
	    sk, &(struct route_want){
		    .dst = addr, .dst_len = 32, .ifindex = host.ifindex, .scope = RT_SCOPE_LINK}));

	assert_true(eth0.exists);
	assert_true(eth0.flags & IFF_UP);
	assert_int_equal(eth0.addr_gen_mode, IN6_ADDR_GEN_MODE_NONE);
	assert_int_equal(count_addrs(in, eth0.ifindex, AF_INET, addr, &found), 1);
	assert_true(found);
	assert_true(has_route(in, &(struct route_want){.dst = gateway,
						       .dst_len = 32,
						       .ifindex = eth0.ifindex,
						       .scope = RT_SCOPE_LINK}));
	assert_true(has_route(in, &(struct route_want){.dst_len = 0,
						       .ifindex = eth0.ifindex,
						       .gateway = gateway,
						       .scope = RT_SCOPE_UNIVERSE,
						       .onlink = true}));

	udp_exchange(c, addr, gateway);
	/* After traffic, so the carrier has been up for a while: no IPv6
	 * address came with it, on either end. */
	assert_int_equal(count_addrs(sk, host.ifindex, AF_INET6, 0, &found), 0);
	assert_int_equal(count_addrs(in, eth0.ifindex, AF_INET6, 0, &found), 0);
	nl_socket_free(in);
}

static void test_veth_setup(void **state)
{
	struct child c;
	char host_if[IF_NAMESIZE];
	struct ward_err err = {0};

	child_start(&c);
	netlink_ifname(service_addr(1), host_if);
	struct veth_spec spec = {.host_if = host_if,
				 .pid = c.pid,
				 .pidfd = c.pidfd,
				 .addr = service_addr(1),
				 .gateway = gateway_addr(1)};
	if (netlink_veth_setup(nl, &spec, &err) < 0)
		fail_msg("%s", err.msg);
	assert_true(netlink_link_exists(nl, host_if));
	check_pair(&c, host_if, spec.addr, spec.gateway);
	child_stop(&c);
	wait_link_gone(host_if);
}

/* Without a pidfd: the namespace through /proc/PID/ns/net. */
static void test_veth_setup_by_pid(void **state)
{
	struct child c;
	char host_if[IF_NAMESIZE];
	struct ward_err err = {0};

	child_start(&c);
	netlink_ifname(service_addr(2), host_if);
	struct veth_spec spec = {.host_if = host_if,
				 .pid = c.pid,
				 .pidfd = -1,
				 .addr = service_addr(2),
				 .gateway = gateway_addr(2)};
	if (netlink_veth_setup(nl, &spec, &err) < 0)
		fail_msg("%s", err.msg);
	check_pair(&c, host_if, spec.addr, spec.gateway);
	child_stop(&c);
	wait_link_gone(host_if);
}

/* Two services of one tenant: the same gateway on both host ends. */
static void test_two_services_one_gateway(void **state)
{
	struct child a, b;
	char if_a[IF_NAMESIZE], if_b[IF_NAMESIZE];
	struct ward_err err = {0};
	uint32_t gw = gateway_addr(3);

	child_start(&a);
	child_start(&b);
	netlink_ifname(service_addr(3), if_a);
	netlink_ifname(service_addr(3) + 1, if_b);
	struct veth_spec sa = {if_a, a.pid, a.pidfd, service_addr(3), gw};
	struct veth_spec sb = {if_b, b.pid, b.pidfd, service_addr(3) + 1, gw};
	if (netlink_veth_setup(nl, &sa, &err) < 0 || netlink_veth_setup(nl, &sb, &err) < 0)
		fail_msg("%s", err.msg);
	check_pair(&a, if_a, sa.addr, gw);
	check_pair(&b, if_b, sb.addr, gw);
	child_stop(&a);
	child_stop(&b);
	wait_link_gone(if_a);
	wait_link_gone(if_b);
}

/* A second pair under a name in use fails at "create" and leaves the first
 * as it was; the second child's namespace gets nothing. */
static void test_name_collision(void **state)
{
	struct child a, b;
	char host_if[IF_NAMESIZE];
	char want[128];
	struct ward_err err = {0};
	struct nl_sock *in;

	child_start(&a);
	child_start(&b);
	netlink_ifname(service_addr(4), host_if);
	struct veth_spec first = {host_if, a.pid, a.pidfd, service_addr(4), gateway_addr(4)};
	struct veth_spec second = {host_if, b.pid, b.pidfd, service_addr(4) + 1, gateway_addr(4)};
	if (netlink_veth_setup(nl, &first, &err) < 0)
		fail_msg("%s", err.msg);

	assert_int_equal(netlink_veth_setup(nl, &second, &err), -1);
	snprintf(want, sizeof(want), "veth %s: create: File exists", host_if);
	assert_string_equal(err.msg, want);
	assert_int_equal(err.errnum, EEXIST);

	in = sock_in(b.pid);
	assert_false(link_state(in, "eth0").exists);
	nl_socket_free(in);
	check_pair(&a, host_if, first.addr, first.gateway);
	child_stop(&a);
	child_stop(&b);
	wait_link_gone(host_if);
}

/* A failure before anything exists: a process that is not there. */
static void test_setup_no_such_pid(void **state)
{
	char host_if[IF_NAMESIZE];
	struct ward_err err = {0};

	netlink_ifname(service_addr(5), host_if);
	struct veth_spec spec = {host_if, 0x7ffffff0, -1, service_addr(5), gateway_addr(5)};
	assert_int_equal(netlink_veth_setup(nl, &spec, &err), -1);
	assert_int_equal(err.errnum, ENOENT);
	assert_non_null(strstr(err.msg, host_if));
	assert_false(netlink_link_exists(nl, host_if));
}

/* A failure half-way, after the pair exists: the host's route to the
 * service address is taken (a blackhole route), so "route to the service"
 * fails; the pair is deleted, on both sides, and the blackhole stays. */
static void test_setup_fails_half_way(void **state)
{
	struct child c;
	char host_if[IF_NAMESIZE];
	struct ward_err err = {0};
	struct rtnl_route *bh = rtnl_route_alloc();
	uint32_t be = htonl(service_addr(6));
	struct nl_addr *dst = nl_addr_build(AF_INET, &be, 4);
	struct nl_sock *in;

	assert_non_null(bh);
	assert_non_null(dst);
	rtnl_route_set_family(bh, AF_INET);
	rtnl_route_set_type(bh, RTN_BLACKHOLE);
	assert_int_equal(rtnl_route_set_dst(bh, dst), 0);
	assert_int_equal(rtnl_route_add(sk, bh, NLM_F_EXCL), 0);

	child_start(&c);
	netlink_ifname(service_addr(6), host_if);
	struct veth_spec spec = {host_if, c.pid, c.pidfd, service_addr(6), gateway_addr(6)};
	assert_int_equal(netlink_veth_setup(nl, &spec, &err), -1);
	assert_int_equal(err.errnum, EEXIST);
	assert_non_null(strstr(err.msg, "route to the service"));
	assert_false(netlink_link_exists(nl, host_if));
	in = sock_in(c.pid);
	assert_false(link_state(in, "eth0").exists);
	nl_socket_free(in);

	assert_int_equal(rtnl_route_delete(sk, bh, 0), 0);
	rtnl_route_put(bh);
	nl_addr_put(dst);
	child_stop(&c);
}

static void test_bad_names(void **state)
{
	struct ward_err err = {0};
	struct veth_spec spec = {"eth9", 1, -1, service_addr(7), gateway_addr(7)};

	assert_int_equal(netlink_veth_setup(nl, &spec, &err), -1);
	assert_int_equal(err.errnum, EINVAL);
	spec.host_if = "wrd0123456789abcdef"; /* libnl would cut it */
	assert_int_equal(netlink_veth_setup(nl, &spec, &err), -1);
	assert_int_equal(err.errnum, EINVAL);
	assert_false(netlink_link_exists(nl, "wrd0123456789abcdef"));
	assert_true(netlink_link_exists(nl, "lo"));
}

/* The kernel removes the pair when the namespace dies; the monitor names
 * the host end, and only ward's links. */
static void test_monitor_namespace_death(void **state)
{
	struct child c;
	char host_if[IF_NAMESIZE];
	struct ward_err err = {0};
	struct gone_log log = {0};

	child_start(&c);
	netlink_ifname(service_addr(8), host_if);
	struct veth_spec spec = {host_if, c.pid, c.pidfd, service_addr(8), gateway_addr(8)};
	if (netlink_veth_setup(nl, &spec, &err) < 0)
		fail_msg("%s", err.msg);
	monitor_drain();
	child_stop(&c);
	assert_true(monitor_wait_gone(&log, host_if, 5));
	assert_int_equal(log.lost, 0);
	assert_false(netlink_link_exists(nl, host_if));
}

/* A veth pair made by the test, both ends here. */
static void make_pair(const char *a, const char *b)
{
	assert_int_equal(rtnl_link_veth_add(sk, a, b, getpid()), 0);
}

static void delete_link(const char *name)
{
	struct rtnl_link *l = rtnl_link_alloc();

	rtnl_link_set_name(l, name);
	assert_int_equal(rtnl_link_delete(sk, l), 0);
	rtnl_link_put(l);
}

static void test_remove_leftovers(void **state)
{
	struct ward_err err = {0};
	struct gone_log log = {0};

	make_pair("wrdleft0", "wrdleft1"); /* both ends ward's: one pair */
	make_pair("other0", "other1");
	monitor_drain();
	assert_int_equal(netlink_count_links(nl), 2);

	/* One delete takes both ends; the second name is already gone. */
	assert_int_equal(netlink_remove_leftovers(nl, &err), 1);
	assert_false(netlink_link_exists(nl, "wrdleft0"));
	assert_false(netlink_link_exists(nl, "wrdleft1"));
	assert_true(netlink_link_exists(nl, "other0"));
	assert_true(netlink_link_exists(nl, "other1"));
	assert_int_equal(netlink_count_links(nl), 0);
	assert_int_equal(netlink_remove_leftovers(nl, &err), 0);

	/* Both ends reported, and nothing else. */
	assert_int_equal(netlink_monitor_read(nl, on_gone, &log), 0);
	assert_true(logged(&log, "wrdleft0"));
	assert_true(logged(&log, "wrdleft1"));
	assert_int_equal(log.n, 2);
	delete_link("other0");
	assert_int_equal(netlink_monitor_read(nl, on_gone, &log), 0);
	assert_int_equal(log.n, 2);
	assert_int_equal(log.lost, 0);
}

/* Notifications the kernel could not queue are reported once, as NULL;
 * what was queued still comes by name. */
static void test_monitor_lost(void **state)
{
	int fd = netlink_monitor_fd(nl);
	int tiny = 0, big = 4 * 1024 * 1024;
	struct gone_log log = {0};

	monitor_drain();
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &tiny, sizeof(tiny)), 0);
	make_pair("wrdlost0", "wrdlost1");
	make_pair("wrdlost2", "wrdlost3");
	make_pair("wrdlost4", "wrdlost5");
	delete_link("wrdlost0");
	delete_link("wrdlost2");
	delete_link("wrdlost4");
	assert_int_equal(netlink_monitor_read(nl, on_gone, &log), 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)), 0);
	assert_int_equal(log.lost, 1);
	assert_true(log.n < 6);
}

static void test_enable_forwarding(void **state)
{
	struct ward_err err = {0};
	bool was_on = true;
	char buf[8] = {0};
	int fd;

	assert_int_equal(netlink_enable_forwarding(&was_on, &err), 0);
	assert_false(was_on);
	fd = open("/proc/sys/net/ipv4/ip_forward", O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_true(read(fd, buf, sizeof(buf) - 1) > 0);
	close(fd);
	assert_string_equal(buf, "1\n");
	assert_int_equal(netlink_enable_forwarding(&was_on, &err), 0);
	assert_true(was_on);
}

static int group_setup(void **state)
{
	struct ward_err err = {0};

	/* Never the host's network: fail, not skip, when that is not
	 * possible. */
	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "test_netlink: unshare(CLONE_NEWNET): %s (run as root)\n",
			strerror(errno));
		return -1;
	}
	if (loopback_up(&err) < 0) {
		fprintf(stderr, "test_netlink: %s\n", err.msg);
		return -1;
	}
	nl = netlink_open(&err);
	if (!nl) {
		fprintf(stderr, "test_netlink: %s\n", err.msg);
		return -1;
	}
	sk = nl_socket_alloc();
	if (!sk || nl_connect(sk, NETLINK_ROUTE) < 0)
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	netlink_close(nl);
	nl_socket_free(sk);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ifname),
	    cmocka_unit_test(test_veth_setup),
	    cmocka_unit_test(test_veth_setup_by_pid),
	    cmocka_unit_test(test_two_services_one_gateway),
	    cmocka_unit_test(test_name_collision),
	    cmocka_unit_test(test_setup_no_such_pid),
	    cmocka_unit_test(test_setup_fails_half_way),
	    cmocka_unit_test(test_bad_names),
	    cmocka_unit_test(test_monitor_namespace_death),
	    cmocka_unit_test(test_remove_leftovers),
	    cmocka_unit_test(test_monitor_lost),
	    cmocka_unit_test(test_enable_forwarding),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
