/* Links, addresses and routes through rtnetlink, with libnl-route-3: the
 * per-service veth and everything on it. (lo in a new sandbox is
 * sandbox/loopback.c's.) */
#pragma once

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "basic/error.h"
#include "model/names.h"

/* The host end's name: "wrd" + the service address as 8 hex digits, e.g.
 * 10.240.3.2 -> "wrd0af00302". Deterministic, <= 15 chars, and distinct for
 * distinct addresses (which never repeat across tenants). */
void netlink_ifname(uint32_t addr, char buf[IF_NAMESIZE]);

struct netlink;

/* A long-lived rtnetlink socket for changes, and a second one subscribed to
 * link notifications (for netlink_monitor_*). */
struct netlink *netlink_open(struct ward_err *err);
void netlink_close(struct netlink *nl);

struct veth_spec {
	const char *host_if; /* netlink_ifname(addr) */
	pid_t pid;           /* a process in the target network namespace */
	int pidfd;           /* its pidfd (used for setns), or -1 to use pid */
	uint32_t addr;       /* the service address, host byte order */
	uint32_t gateway;    /* the tenant's gateway (first host of the subnet) */
};

/* Creates the pair with the service end made directly inside pid's network
 * namespace as "eth0" (never moved there later), then:
 *   host end:    up, gateway/32, route addr/32 dev host_if scope link src
 *                gateway, no IPv6 link-local
 *   service end: up, addr/32, route gateway/32 dev eth0 scope link,
 *                default via gateway onlink, no IPv6 link-local
 * On failure nothing is left (the host end is deleted; a host_if that
 * already existed is another's and left alone). Returns 0 or -1, err naming
 * the step ("veth wrd0af00302: create: File exists"); EINVAL for a host_if
 * without the prefix or too long. Enters the target namespace with setns
 * for a moment, so the daemon must be single-threaded; if it cannot return
 * to its own namespace it aborts. */
int netlink_veth_setup(struct netlink *nl, const struct veth_spec *spec, struct ward_err *err);

/* A launch's before_go (sandbox/launch.h) that sets up spec's veth for the
 * new sandbox: ud is a struct netlink_veth_hook, pid and pidfd are filled
 * in from the sandbox. */
struct netlink_veth_hook {
	struct netlink *nl;
	struct veth_spec spec;
};
int netlink_veth_before_go(void *ud, pid_t pid, int pidfd, struct ward_err *err);

/* Whether a link of that name exists in the daemon's namespace. Only the
 * kernel's "no such device" says no: a failed query counts as existing. */
bool netlink_link_exists(struct netlink *nl, const char *name);

/* Deletes every link whose name starts with WARD_IFNAME_PREFIX (leftovers of
 * a dead wardd); returns how many deletes it made (a pair with both ends
 * here goes in one), or -1. Slow (~30 ms per link): startup only, never on
 * the loop's critical path. */
int netlink_remove_leftovers(struct netlink *nl, struct ward_err *err);

/* How many links whose name starts with WARD_IFNAME_PREFIX exist in the
 * daemon's namespace (one RTM_GETLINK dump), or -1. For a shutdown that
 * waits for the kernel to take them away with their namespaces. */
int netlink_count_links(struct netlink *nl);

/* The fd to watch (EPOLLIN) for link notifications. */
int netlink_monitor_fd(const struct netlink *nl);
/* Reads every pending notification (non-blocking) and calls gone(name, ud)
 * for each ward link the kernel removed (RTM_DELLINK). 0, or -1 on a socket
 * error (errno set); after ENOBUFS (lost notifications) gone() is called
 * once more, last, with NULL: the caller re-checks with netlink_link_exists. */
int netlink_monitor_read(struct netlink *nl, void (*gone)(const char *name, void *ud), void *ud);

/* net.ipv4.ip_forward in the daemon's namespace: sets it to 1; *was_on says
 * whether it already was (firewall.c then keeps non-ward forwarding as the
 * host had it). */
int netlink_enable_forwarding(bool *was_on, struct ward_err *err);
