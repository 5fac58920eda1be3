/* The names a profile may use, and the names ward gives things: what the
 * profile loader checks against, below the sandbox that acts on them. */
#include "model/names.h"

#include <seccomp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/socket.h>

int caps_from_name(const char *name)
{
	cap_value_t v;

	/* Only the canonical spelling: "CAP_X" in upper case. libcap also
	 * accepts lower case and numbers; profiles should read one way. */
	if (!name || strncmp(name, "CAP_", 4) != 0)
		return -1;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return -1;
	if (cap_from_name(name, &v) != 0)
		return -1;
	if (v < 0 || v > 63)
		return -1;
	return v;
}

bool seccomp_syscall_known(const char *name)
{
	static const uint32_t arches[] = {SCMP_ARCH_X86_64, SCMP_ARCH_X86, SCMP_ARCH_X32};

	if (!name || !*name)
		return false;
	/* Negative numbers are libseccomp's pseudo-syscalls: names it knows
	 * from some other architecture but which do not exist on this one. */
	for (size_t i = 0; i < sizeof(arches) / sizeof(arches[0]); i++)
		if (seccomp_syscall_resolve_name_arch(arches[i], name) >= 0)
			return true;
	return false;
}

/* ---- address families, by name ---- */

static const struct {
	const char *name;
	int af;
} families[] = {
    {"unix", AF_UNIX},
    {"inet", AF_INET},
    {"inet6", AF_INET6},
    {"netlink", AF_NETLINK},
    {"packet", AF_PACKET},
    {"vsock", AF_VSOCK},
    {"alg", AF_ALG},
    {"key", AF_KEY},
    {"bluetooth", AF_BLUETOOTH},
    {"can", AF_CAN},
    {"tipc", AF_TIPC},
    {"rds", AF_RDS},
    {"llc", AF_LLC},
    {"x25", AF_X25},
    {"ax25", AF_AX25},
    {"appletalk", AF_APPLETALK},
    {"ipx", AF_IPX},
    {"netrom", AF_NETROM},
    {"rose", AF_ROSE},
    {"atmpvc", AF_ATMPVC},
    {"atmsvc", AF_ATMSVC},
    {"phonet", AF_PHONET},
    {"ieee802154", AF_IEEE802154},
    {"caif", AF_CAIF},
    {"nfc", AF_NFC},
    {"kcm", AF_KCM},
    {"qipcrtr", AF_QIPCRTR},
    {"smc", AF_SMC},
    {"xdp", AF_XDP},
    {"mctp", AF_MCTP},
    {"bridge", AF_BRIDGE},
    {"pppox", AF_PPPOX},
    {"rxrpc", AF_RXRPC},
    {"isdn", AF_ISDN},
    {"ib", AF_IB},
    {"mpls", AF_MPLS},
};

int seccomp_family_from_name(const char *name)
{
	for (size_t i = 0; name && i < sizeof(families) / sizeof(*families); i++)
		if (strcmp(families[i].name, name) == 0)
			return families[i].af;
	return -1;
}

const char *ip4_string(uint32_t addr, char buf[IP4_STRING_MAX])
{
	/* Cannot be cut: IP4_STRING_MAX holds the longest. */
	(void)snprintf(buf, IP4_STRING_MAX, "%u.%u.%u.%u", addr >> 24, (addr >> 16) & 255,
		       (addr >> 8) & 255, addr & 255);
	return buf;
}
