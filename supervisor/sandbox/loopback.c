/* lo up in a new network namespace: the one rtnetlink message every launch
 * sends in the child, built by hand (no libnl in the sandbox's child). */
#include "sandbox/loopback.h"

#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include "basic/cleanup.h"

int loopback_up(struct ward_err *err)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
	} req = {
	    .nh = {.nlmsg_len = sizeof(req),
		   .nlmsg_type = RTM_NEWLINK,
		   .nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK,
		   .nlmsg_seq = 1},
	    /* A fresh network namespace always has lo as ifindex 1. */
	    .ifi = {.ifi_family = AF_UNSPEC,
		    .ifi_index = 1,
		    .ifi_flags = IFF_UP,
		    .ifi_change = IFF_UP},
	};
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	struct {
		struct nlmsghdr nh;
		struct nlmsgerr e;
	} ack;
	_cleanup_close_ int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	ssize_t n;

	if (fd < 0)
		return ward_err_set(err, errno, "loopback up: netlink socket");
	if (sendto(fd, &req, sizeof(req), 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		return ward_err_set(err, errno, "loopback up: send");
	do
		n = recv(fd, &ack, sizeof(ack), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return ward_err_set(err, errno, "loopback up: receive");
	if (n < (ssize_t)sizeof(ack) || ack.nh.nlmsg_type != NLMSG_ERROR)
		return ward_err_set(err, EPROTO, "loopback up: unexpected reply");
	if (ack.e.error)
		return ward_err_set(err, -ack.e.error, "loopback up");
	return 0;
}
