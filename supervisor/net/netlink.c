/* Links, addresses and routes through rtnetlink. Bulk work (veths, addresses,
 * routes) goes through libnl-route-3; the one message every launch sends
 * (lo up, in the child) is built by hand: libnl's allocations and cache
 * setup cost ~0.2 ms, a fifth of a whole launch. */
#include "net/netlink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sched.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/inet6.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>

#include "basic/cleanup.h"
#include "basic/log.h"

/* The name of the service end, inside the service's namespace. */
#define SERVICE_IFNAME "eth0"

/* A libnl socket and the errno of the last error the kernel sent on it:
 * libnl folds errnos into its own codes (EEXIST and ENOTEMPTY both become
 * "Object exists"), and messages should say what the kernel said. */
struct rtnl {
	struct nl_sock *sk;
	int kernel_errno;
};

struct netlink {
	struct rtnl rt;  /* changes in the daemon's namespace */
	int own_netns;   /* where setns returns to after a service's namespace */
	int monitor;     /* RTNLGRP_LINK, filtered down to RTM_DELLINK */
	char buf[32768]; /* one notification: a link message is ~2 KiB */
};

_Static_assert(sizeof(WARD_IFNAME_PREFIX) - 1 + 8 < IF_NAMESIZE, "ward interface names fit");

int netlink_veth_before_go(void *ud, pid_t pid, int pidfd, struct ward_err *err)
{
	const struct netlink_veth_hook *hook = ud;
	struct veth_spec v = hook->spec;

	v.pid = pid;
	v.pidfd = pidfd;
	return netlink_veth_setup(hook->nl, &v, err);
}

void netlink_ifname(uint32_t addr, char buf[IF_NAMESIZE])
{
	/* Cannot be cut: the prefix and 8 hex digits fit (asserted above). */
	(void)snprintf(buf, IF_NAMESIZE, WARD_IFNAME_PREFIX "%08" PRIx32, addr);
}

/* ---- libnl plumbing ---- */

static void nl_addr_putp(struct nl_addr **a)
{
	if (*a)
		nl_addr_put(*a);
}
static void rtnl_link_putp(struct rtnl_link **l)
{
	if (*l)
		rtnl_link_put(*l);
}
static void rtnl_addr_putp(struct rtnl_addr **a)
{
	if (*a)
		rtnl_addr_put(*a);
}
static void rtnl_route_putp(struct rtnl_route **r)
{
	if (*r)
		rtnl_route_put(*r);
}

static int record_errno(struct sockaddr_nl *from, struct nlmsgerr *e, void *arg)
{
	*(int *)arg = -e->error;
	return NL_STOP;
}

/* Allocates r's socket; nl_connect is left to the caller, which picks the
 * namespace the socket belongs to by where it calls it. */
static int rtnl_alloc(struct rtnl *r)
{
	r->kernel_errno = 0;
	r->sk = nl_socket_alloc();
	if (!r->sk)
		return -NLE_NOMEM;
	/* A buffer for the largest reply (a link), so that libnl does not
	 * peek at the size of every message first: one recvmsg, not two. */
	nl_socket_disable_msg_peek(r->sk);
	if (nl_socket_set_msg_buf_size(r->sk, 16384) < 0 ||
	    nl_socket_modify_err_cb(r->sk, NL_CB_CUSTOM, record_errno, &r->kernel_errno) < 0) {
		nl_socket_free(r->sk);
		r->sk = NULL;
		return -NLE_NOMEM;
	}
	return 0;
}

static void rtnl_free(struct rtnl *r)
{
	if (r->sk)
		nl_socket_free(r->sk);
	r->sk = NULL;
}

/* Fills err for a libnl call that returned nlerr on r: with the kernel's
 * errno when the kernel refused, with libnl's words otherwise. */
static int rtnl_fail(struct ward_err *err, const struct rtnl *r, int nlerr, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int rtnl_fail(struct ward_err *err, const struct rtnl *r, int nlerr, const char *fmt, ...)
{
	char what[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (n < 0)
		what[0] = '\0';
	if (r->kernel_errno > 0)
		return ward_err_set(err, r->kernel_errno, "%s", what);
	if (nlerr == -NLE_NOMEM)
		return ward_err_set(err, ENOMEM, "%s", what);
	return ward_err_set(err, 0, "%s: %s", what, nl_geterror(nlerr));
}

/* An IPv4 address (host byte order) as libnl wants it; NULL when out of
 * memory. */
static struct nl_addr *ipv4_addr(uint32_t a, unsigned prefixlen)
{
	uint32_t be = htonl(a);
	struct nl_addr *na = nl_addr_build(AF_INET, &be, sizeof(be));

	if (na)
		nl_addr_set_prefixlen(na, (int)prefixlen);
	return na;
}

/* Turns IPv6 address generation off, so that the link gets no link-local
 * address when it comes up. Its own message, before the up: the kernel
 * refuses the mode at creation, and in a message that also sets IFF_UP it
 * applies the flags first, so a link whose carrier looks up (a new veth's
 * operstate stays "unknown" until linkwatch runs) would already have its
 * address. Where IPv6 is absent altogether (EAFNOSUPPORT), nothing to do. */
static int link_ipv6_addrgen_off(struct rtnl *r, const char *name)
{
	_cleanup_(rtnl_link_putp) struct rtnl_link *orig = rtnl_link_alloc();
	_cleanup_(rtnl_link_putp) struct rtnl_link *change = rtnl_link_alloc();
	int ret;

	if (!orig || !change)
		return -NLE_NOMEM;
	/* By name (ifindex 0): one request fewer than looking it up first. */
	rtnl_link_set_name(change, name);
	ret = rtnl_link_inet6_set_addr_gen_mode(change, IN6_ADDR_GEN_MODE_NONE);
	if (ret < 0)
		return ret;
	r->kernel_errno = 0;
	ret = rtnl_link_change(r->sk, orig, change, 0);
	if (ret < 0 && r->kernel_errno == EAFNOSUPPORT)
		return 0;
	return ret;
}

static int link_up(struct rtnl *r, const char *name)
{
	_cleanup_(rtnl_link_putp) struct rtnl_link *orig = rtnl_link_alloc();
	_cleanup_(rtnl_link_putp) struct rtnl_link *change = rtnl_link_alloc();

	if (!orig || !change)
		return -NLE_NOMEM;
	rtnl_link_set_name(change, name);
	rtnl_link_set_flags(change, IFF_UP);
	r->kernel_errno = 0;
	return rtnl_link_change(r->sk, orig, change, 0);
}

/* SIOCGIFINDEX works on any socket (netdevice(7)) and answers for the
 * socket's namespace, so r's socket asks where r's links are. ~1 us, where
 * an RTM_GETLINK costs 25-50 us: the kernel fills in (and libnl parses)
 * the whole link, stats and all, under the RTNL lock that the link's own
 * carrier events hold right after it comes up. */
static int link_ifindex(struct rtnl *r, const char *name, int *ifindex)
{
	struct ifreq ifr = {0};

	memcpy(ifr.ifr_name, name, strnlen(name, IF_NAMESIZE - 1));
	r->kernel_errno = 0;
	if (ioctl(nl_socket_get_fd(r->sk), SIOCGIFINDEX, &ifr) < 0) {
		r->kernel_errno = errno;
		return -nl_syserr2nlerr(errno);
	}
	*ifindex = ifr.ifr_ifindex;
	return 0;
}

static int addr_add(struct rtnl *r, int ifindex, uint32_t a)
{
	_cleanup_(rtnl_addr_putp) struct rtnl_addr *addr = rtnl_addr_alloc();
	_cleanup_(nl_addr_putp) struct nl_addr *local = ipv4_addr(a, 32);
	int ret;

	if (!addr || !local)
		return -NLE_NOMEM;
	rtnl_addr_set_ifindex(addr, ifindex);
	ret = rtnl_addr_set_local(addr, local);
	if (ret < 0)
		return ret;
	r->kernel_errno = 0;
	return rtnl_addr_add(r->sk, addr, NLM_F_EXCL);
}

struct route_spec {
	uint32_t dst;
	unsigned dst_len;
	int ifindex;
	uint32_t gateway;  /* 0: none (a link-scope route) */
	uint32_t pref_src; /* 0: none */
};

static int route_add(struct rtnl *r, const struct route_spec *rs)
{
	_cleanup_(rtnl_route_putp) struct rtnl_route *route = rtnl_route_alloc();
	_cleanup_(nl_addr_putp) struct nl_addr *dst = ipv4_addr(rs->dst, rs->dst_len);
	_cleanup_(nl_addr_putp) struct nl_addr *gw = NULL;
	_cleanup_(nl_addr_putp) struct nl_addr *src = NULL;
	struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
	int ret;

	if (!route || !dst || !nh) {
		if (nh)
			rtnl_route_nh_free(nh);
		return -NLE_NOMEM;
	}
	rtnl_route_nh_set_ifindex(nh, rs->ifindex);
	rtnl_route_add_nexthop(route, nh); /* the route owns nh from here */
	rtnl_route_set_family(route, AF_INET);
	rtnl_route_set_table(route, RT_TABLE_MAIN);
	ret = rtnl_route_set_dst(route, dst);
	if (ret < 0)
		return ret;
	if (rs->gateway) {
		gw = ipv4_addr(rs->gateway, 32);
		if (!gw)
			return -NLE_NOMEM;
		rtnl_route_nh_set_gateway(nh, gw);
		/* The gateway is reached through the link, whatever the
		 * route table says about its address. */
		rtnl_route_nh_set_flags(nh, RTNH_F_ONLINK);
		rtnl_route_set_scope(route, RT_SCOPE_UNIVERSE);
	} else {
		rtnl_route_set_scope(route, RT_SCOPE_LINK);
	}
	if (rs->pref_src) {
		src = ipv4_addr(rs->pref_src, 32);
		if (!src)
			return -NLE_NOMEM;
		ret = rtnl_route_set_pref_src(route, src);
		if (ret < 0)
			return ret;
	}
	r->kernel_errno = 0;
	return rtnl_route_add(r->sk, route, NLM_F_EXCL);
}

static int link_delete(struct rtnl *r, const char *name)
{
	_cleanup_(rtnl_link_putp) struct rtnl_link *link = rtnl_link_alloc();

	if (!link)
		return -NLE_NOMEM;
	rtnl_link_set_name(link, name);
	r->kernel_errno = 0;
	return rtnl_link_delete(r->sk, link);
}

/* ---- open, close ---- */

/* Only link removals matter, and setting up one service alone makes the
 * kernel announce its links several times (created, up, carrier): a
 * socket filter keeps the rest from waking the loop or filling the buffer.
 * BPF loads halves in network byte order, hence the ntohs. */
static int monitor_filter(int fd)
{
	struct sock_filter code[] = {
	    BPF_STMT(BPF_LD | BPF_H | BPF_ABS, offsetof(struct nlmsghdr, nlmsg_type)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ntohs(RTM_DELLINK), 0, 1),
	    BPF_STMT(BPF_RET | BPF_K, 0xffffffff),
	    BPF_STMT(BPF_RET | BPF_K, 0),
	};
	struct sock_fprog prog = {.len = sizeof(code) / sizeof(code[0]), .filter = code};

	return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog));
}

static int monitor_open(struct ward_err *err)
{
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK};
	/* Room for a whole tenant's worth of removals at once (a stopped
	 * tenant's namespaces die together); ENOBUFS still says if not. */
	int rcvbuf = 4 * 1024 * 1024;
	_cleanup_close_ int fd =
	    socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);

	if (fd < 0)
		return ward_err_set(err, errno, "link monitor: socket");
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0 &&
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)) < 0)
		return ward_err_set(err, errno, "link monitor: receive buffer");
	/* The filter before bind: nothing unfiltered is ever queued. */
	if (monitor_filter(fd) < 0)
		return ward_err_set(err, errno, "link monitor: filter");
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return ward_err_set(err, errno, "link monitor: bind");
	return TAKE_FD(fd);
}

struct netlink *netlink_open(struct ward_err *err)
{
	struct netlink *nl = calloc(1, sizeof(*nl));
	int ret;

	if (!nl) {
		ward_err_set(err, ENOMEM, "netlink");
		return NULL;
	}
	nl->own_netns = -1;
	nl->monitor = -1;
	if (rtnl_alloc(&nl->rt) < 0) {
		ward_err_set(err, ENOMEM, "netlink socket");
		goto fail;
	}
	ret = nl_connect(nl->rt.sk, NETLINK_ROUTE);
	if (ret < 0) {
		rtnl_fail(err, &nl->rt, ret, "netlink socket");
		goto fail;
	}
	nl->own_netns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (nl->own_netns < 0) {
		ward_err_set(err, errno, "open /proc/self/ns/net");
		goto fail;
	}
	nl->monitor = monitor_open(err);
	if (nl->monitor < 0)
		goto fail;
	return nl;
fail:
	netlink_close(nl);
	return NULL;
}

void netlink_close(struct netlink *nl)
{
	if (!nl)
		return;
	rtnl_free(&nl->rt);
	if (nl->own_netns >= 0)
		close(nl->own_netns);
	if (nl->monitor >= 0)
		close(nl->monitor);
	free(nl);
}

/* ---- the veth of one service ---- */

/* Puts the calling thread back into the daemon's namespace. Not being able
 * to is no error to report: every later link, address and route, and the
 * firewall, would land in a tenant's namespace. So the daemon stops here. */
static void return_to_own_netns(const struct netlink *nl)
{
	if (setns(nl->own_netns, CLONE_NEWNET) == 0)
		return;
	log_msg("cannot return to its own network namespace: %s", strerror(errno));
	abort();
}

/* The namespace of a process without a pidfd, or -1 with err. */
static int open_netns_of(const struct veth_spec *spec, struct ward_err *err)
{
	char path[64];
	int ret = snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)spec->pid);
	int fd;

	if (ret < 0 || (size_t)ret >= sizeof(path))
		return ward_err_set(err, EINVAL, "veth %s: pid %d", spec->host_if, (int)spec->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ward_err_set(err, errno, "veth %s: open %s", spec->host_if, path);
	return fd;
}

/* Connects in->sk inside the service's namespace. A netlink socket stays
 * in the namespace it was made in, so only the socket() needs the setns;
 * setns is per thread, and wardd has one. */
static int connect_inside(struct netlink *nl, const struct veth_spec *spec, struct rtnl *in,
			  struct ward_err *err)
{
	_cleanup_close_ int nsfd = spec->pidfd < 0 ? open_netns_of(spec, err) : -1;
	int target = spec->pidfd < 0 ? nsfd : spec->pidfd;
	int ret;

	if (target < 0)
		return -1;
	if (rtnl_alloc(in) < 0)
		return ward_err_set(err, ENOMEM, "veth %s: netlink socket", spec->host_if);
	if (setns(target, CLONE_NEWNET) < 0) {
		ward_err_set(err, errno, "veth %s: enter the network namespace of pid %d",
			     spec->host_if, (int)spec->pid);
		rtnl_free(in);
		return -1;
	}
	ret = nl_connect(in->sk, NETLINK_ROUTE);
	return_to_own_netns(nl);
	if (ret < 0) {
		rtnl_fail(err, in, ret, "veth %s: netlink socket in pid %d's namespace",
			  spec->host_if, (int)spec->pid);
		rtnl_free(in);
		return -1;
	}
	return 0;
}

/* Made from inside, the pair's first end is eth0 right there, and the peer
 * is put into the daemon's namespace through its namespace fd: no pid is
 * looked up (the pidfd already named the namespace), nothing is moved. */
static int veth_create(struct netlink *nl, struct rtnl *in, const char *host_if)
{
	_cleanup_(rtnl_link_putp) struct rtnl_link *link = rtnl_link_veth_alloc();
	_cleanup_(rtnl_link_putp) struct rtnl_link *peer = NULL;

	if (!link)
		return -NLE_NOMEM;
	peer = rtnl_link_veth_get_peer(link);
	rtnl_link_set_name(link, SERVICE_IFNAME);
	rtnl_link_set_name(peer, host_if);
	/* One queue each way: a veth gets one per possible CPU by default,
	 * each with its sysfs entries, which on a big host makes creating
	 * the pair several times slower, for parallelism that only XDP on
	 * the veth would use. */
	rtnl_link_set_num_tx_queues(link, 1);
	rtnl_link_set_num_rx_queues(link, 1);
	rtnl_link_set_num_tx_queues(peer, 1);
	rtnl_link_set_num_rx_queues(peer, 1);
	rtnl_link_set_ns_fd(peer, nl->own_netns);
	in->kernel_errno = 0;
	return rtnl_link_add(in->sk, link, NLM_F_CREATE | NLM_F_EXCL);
}

static int host_end_configure(struct netlink *nl, const struct veth_spec *spec,
			      struct ward_err *err)
{
	struct rtnl *r = &nl->rt;
	struct route_spec rs = {.dst = spec->addr, .dst_len = 32, .pref_src = spec->gateway};
	int ret;

	ret = link_ipv6_addrgen_off(r, spec->host_if);
	if (ret < 0)
		return rtnl_fail(err, r, ret, "veth %s: no IPv6 link-local", spec->host_if);
	ret = link_up(r, spec->host_if);
	if (ret < 0)
		return rtnl_fail(err, r, ret, "veth %s: up", spec->host_if);
	ret = link_ifindex(r, spec->host_if, &rs.ifindex);
	if (ret < 0)
		return rtnl_fail(err, r, ret, "veth %s: ifindex", spec->host_if);
	ret = addr_add(r, rs.ifindex, spec->gateway);
	if (ret < 0)
		return rtnl_fail(err, r, ret, "veth %s: gateway address", spec->host_if);
	/* pref_src: what the host sends to the service comes from the
	 * gateway, whatever other addresses the host has. */
	ret = route_add(r, &rs);
	if (ret < 0)
		return rtnl_fail(err, r, ret, "veth %s: route to the service", spec->host_if);
	return 0;
}

static int service_end_configure(struct rtnl *in, const struct veth_spec *spec,
				 struct ward_err *err)
{
	struct route_spec to_gw = {.dst = spec->gateway, .dst_len = 32};
	struct route_spec dflt = {.dst = 0, .dst_len = 0, .gateway = spec->gateway};
	int ret;

	ret = link_ipv6_addrgen_off(in, SERVICE_IFNAME);
	if (ret < 0)
		return rtnl_fail(err, in, ret, "veth %s: " SERVICE_IFNAME " no IPv6 link-local",
				 spec->host_if);
	ret = link_up(in, SERVICE_IFNAME);
	if (ret < 0)
		return rtnl_fail(err, in, ret, "veth %s: " SERVICE_IFNAME " up", spec->host_if);
	ret = link_ifindex(in, SERVICE_IFNAME, &to_gw.ifindex);
	if (ret < 0)
		return rtnl_fail(err, in, ret, "veth %s: " SERVICE_IFNAME " ifindex",
				 spec->host_if);
	dflt.ifindex = to_gw.ifindex;
	ret = addr_add(in, to_gw.ifindex, spec->addr);
	if (ret < 0)
		return rtnl_fail(err, in, ret, "veth %s: " SERVICE_IFNAME " address",
				 spec->host_if);
	ret = route_add(in, &to_gw);
	if (ret < 0)
		return rtnl_fail(err, in, ret, "veth %s: route to the gateway", spec->host_if);
	ret = route_add(in, &dflt);
	if (ret < 0)
		return rtnl_fail(err, in, ret, "veth %s: default route", spec->host_if);
	return 0;
}

static bool is_ward_ifname(const char *name)
{
	return strncmp(name, WARD_IFNAME_PREFIX, sizeof(WARD_IFNAME_PREFIX) - 1) == 0;
}

int netlink_veth_setup(struct netlink *nl, const struct veth_spec *spec, struct ward_err *err)
{
	struct rtnl in = {0};
	int ret;

	/* libnl would cut a long name silently, into someone else's. */
	if (!spec->host_if || !is_ward_ifname(spec->host_if) ||
	    strnlen(spec->host_if, IF_NAMESIZE) >= IF_NAMESIZE)
		return ward_err_set(err, EINVAL, "veth %s: bad name",
				    spec->host_if ? spec->host_if : "(null)");
	if (connect_inside(nl, spec, &in, err) < 0)
		return -1;
	ret = veth_create(nl, &in, spec->host_if);
	if (ret < 0) {
		/* Nothing to undo: that host_if may be another service's. */
		rtnl_fail(err, &in, ret, "veth %s: create", spec->host_if);
		rtnl_free(&in);
		return -1;
	}
	if (host_end_configure(nl, spec, err) < 0 || service_end_configure(&in, spec, err) < 0) {
		rtnl_free(&in);
		/* Takes the service end with it. If even that fails, the
		 * pair still dies with the service's namespace, and startup
		 * removes leftovers; err keeps the first cause. */
		(void)link_delete(&nl->rt, spec->host_if);
		return -1;
	}
	rtnl_free(&in);
	return 0;
}

bool netlink_link_exists(struct netlink *nl, const char *name)
{
	_cleanup_(rtnl_link_putp) struct rtnl_link *link = NULL;
	int ret;

	if (strnlen(name, IF_NAMESIZE) >= IF_NAMESIZE)
		return false; /* no link has such a name */
	ret = rtnl_link_get_kernel(nl->rt.sk, 0, name, &link);
	/* Only the kernel's "no such device" makes a name free (libnl says
	 * NODEV, older ones OBJ_NOTFOUND): reusing a name too early fails a
	 * launch, waiting longer does not. */
	return ret != -NLE_NODEV && ret != -NLE_OBJ_NOTFOUND;
}

/* ---- leftovers ---- */

struct names {
	char (*v)[IF_NAMESIZE];
	size_t n, cap;
	bool nomem;
};

static int collect_ward_link(struct nl_msg *msg, void *arg)
{
	struct names *names = arg;
	struct nlattr *a = nlmsg_find_attr(nlmsg_hdr(msg), sizeof(struct ifinfomsg), IFLA_IFNAME);
	const char *name;
	int len;

	if (!a)
		return NL_OK;
	name = nla_data(a);
	len = nla_len(a);
	if (len <= 0 || len > IF_NAMESIZE || !memchr(name, '\0', (size_t)len) ||
	    !is_ward_ifname(name))
		return NL_OK;
	if (names->n == names->cap) {
		size_t cap = names->cap ? names->cap * 2 : 16;
		char(*v)[IF_NAMESIZE] = NULL;

		if (cap < names->cap || cap > SIZE_MAX / IF_NAMESIZE ||
		    !(v = realloc(names->v, cap * IF_NAMESIZE))) {
			names->nomem = true;
			return NL_STOP;
		}
		names->v = v;
		names->cap = cap;
	}
	memcpy(names->v[names->n++], name, (size_t)len);
	return NL_OK;
}

/* The names of all ward links, from one RTM_GETLINK dump. */
static int dump_ward_links(struct rtnl *r, struct names *names, struct ward_err *err)
{
	struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC};
	int ret = -NLE_DUMP_INTR;

	/* A dump that links changed under is redone, a few times. */
	for (int tries = 0; tries < 3 && ret == -NLE_DUMP_INTR; tries++) {
		struct nl_cb *sock_cb = nl_socket_get_cb(r->sk); /* a reference */
		struct nl_cb *cb = nl_cb_clone(sock_cb);

		nl_cb_put(sock_cb);
		names->n = 0;
		names->nomem = false;
		if (!cb)
			return ward_err_set(err, ENOMEM, "links");
		r->kernel_errno = 0;
		ret = nl_send_simple(r->sk, RTM_GETLINK, NLM_F_DUMP, &ifi, sizeof(ifi));
		if (ret >= 0) {
			nl_cb_set(cb, NL_CB_VALID, NL_CB_CUSTOM, collect_ward_link, names);
			ret = nl_recvmsgs(r->sk, cb);
		}
		nl_cb_put(cb);
		if (names->nomem)
			return ward_err_set(err, ENOMEM, "links");
	}
	if (ret < 0)
		return rtnl_fail(err, r, ret, "links");
	return 0;
}

int netlink_remove_leftovers(struct netlink *nl, struct ward_err *err)
{
	struct names names = {0};
	int removed = 0;

	if (dump_ward_links(&nl->rt, &names, err) < 0) {
		free(names.v);
		return -1;
	}
	for (size_t i = 0; i < names.n; i++) {
		int ret = link_delete(&nl->rt, names.v[i]);

		/* ENODEV: gone already, with its peer (both ward-named) or
		 * with its namespace. */
		if (ret < 0 && nl->rt.kernel_errno != ENODEV) {
			rtnl_fail(err, &nl->rt, ret, "remove leftover link %s", names.v[i]);
			free(names.v);
			return -1;
		}
		if (ret == 0)
			removed++;
	}
	free(names.v);
	return removed;
}

int netlink_count_links(struct netlink *nl)
{
	struct names names = {0};
	struct ward_err err;
	int n = -1;

	if (dump_ward_links(&nl->rt, &names, &err) == 0)
		n = names.n > INT_MAX ? INT_MAX : (int)names.n;
	free(names.v);
	return n;
}

/* ---- monitor ---- */

int netlink_monitor_fd(const struct netlink *nl)
{
	return nl->monitor;
}

static void report_removals(void *buf, size_t len, void (*gone)(const char *name, void *ud),
			    void *ud)
{
	int rem = (int)len; /* <= sizeof(nl->buf) */

	for (struct nlmsghdr *nh = buf; nlmsg_ok(nh, rem); nh = nlmsg_next(nh, &rem)) {
		struct nlattr *a;
		const char *name;
		int alen;

		if (nh->nlmsg_type != RTM_DELLINK ||
		    nh->nlmsg_len < NLMSG_LENGTH(sizeof(struct ifinfomsg)))
			continue;
		a = nlmsg_find_attr(nh, sizeof(struct ifinfomsg), IFLA_IFNAME);
		if (!a)
			continue;
		name = nla_data(a);
		alen = nla_len(a);
		if (alen <= 0 || alen > IF_NAMESIZE || !memchr(name, '\0', (size_t)alen))
			continue;
		if (is_ward_ifname(name))
			gone(name, ud);
	}
}

int netlink_monitor_read(struct netlink *nl, void (*gone)(const char *name, void *ud), void *ud)
{
	bool lost = false;

	for (;;) {
		struct sockaddr_nl from = {0};
		struct iovec iov = {.iov_base = nl->buf, .iov_len = sizeof(nl->buf)};
		struct msghdr mh = {.msg_name = &from,
				    .msg_namelen = sizeof(from),
				    .msg_iov = &iov,
				    .msg_iovlen = 1};
		ssize_t n = recvmsg(nl->monitor, &mh, MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			/* The kernel dropped notifications; the socket
			 * goes on, with the next ones. */
			if (errno == ENOBUFS) {
				lost = true;
				continue;
			}
			return -1;
		}
		if (from.nl_pid != 0)
			continue; /* only the kernel speaks for the kernel */
		if (mh.msg_flags & MSG_TRUNC) {
			lost = true;
			continue;
		}
		report_removals(nl->buf, (size_t)n, gone, ud);
	}
	if (lost)
		gone(NULL, ud);
	return 0;
}

/* ---- forwarding ---- */

int netlink_enable_forwarding(bool *was_on, struct ward_err *err)
{
	static const char path[] = "/proc/sys/net/ipv4/ip_forward";
	_cleanup_close_ int fd = open(path, O_RDWR | O_CLOEXEC);
	char buf[32];
	char *end = NULL;
	unsigned long long v;
	ssize_t n;

	if (fd < 0)
		return ward_err_set(err, errno, "open %s", path);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n < 0)
		return ward_err_set(err, errno, "read %s", path);
	buf[n] = '\0';
	errno = 0;
	v = strtoull(buf, &end, 10);
	if (errno || end == buf || (*end != '\n' && *end != '\0'))
		return ward_err_set(err, errno ? errno : EINVAL, "read %s: \"%s\"", path, buf);
	*was_on = v != 0;
	if (*was_on)
		return 0;
	n = pwrite(fd, "1\n", 2, 0);
	if (n < 0)
		return ward_err_set(err, errno, "write %s", path);
	if (n != 2)
		return ward_err_set(err, EIO, "write %s: short write", path);
	return 0;
}
