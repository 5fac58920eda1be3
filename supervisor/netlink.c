/* Links, addresses and routes through rtnetlink (libnl-route-3). */
#include "ward/netlink.h"

#include <errno.h>
#include <net/if.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>

#include "ward/cleanup.h"

static void nl_socket_freep(struct nl_sock **sk)
{
	if (*sk)
		nl_socket_free(*sk);
}

static void rtnl_link_putp(struct rtnl_link **l)
{
	if (*l)
		rtnl_link_put(*l);
}

int netlink_loopback_up(struct ward_err *err)
{
	_cleanup_(nl_socket_freep) struct nl_sock *sk = nl_socket_alloc();
	_cleanup_(rtnl_link_putp) struct rtnl_link *lo = rtnl_link_alloc();
	_cleanup_(rtnl_link_putp) struct rtnl_link *change = rtnl_link_alloc();
	int r;

	if (!sk || !lo || !change)
		return ward_err_set(err, ENOMEM, "loopback up");
	r = nl_connect(sk, NETLINK_ROUTE);
	if (r < 0)
		return ward_err_set(err, 0, "loopback up: netlink connect: %s", nl_geterror(r));
	/* A fresh network namespace always has lo as ifindex 1. */
	rtnl_link_set_ifindex(lo, 1);
	rtnl_link_set_flags(change, IFF_UP);
	r = rtnl_link_change(sk, lo, change, 0);
	if (r < 0)
		return ward_err_set(err, 0, "loopback up: %s", nl_geterror(r));
	return 0;
}
