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

#include "basic/text.h"

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

enum display_name_fault display_name_check(const char *s, size_t len, size_t *chars,
					   const char **why)
{
	enum display_name_fault f = DISPLAY_NAME_OK;
	size_t n = 0;

	for (size_t i = 0, step; i < len && !f; i += step, n++) {
		uint32_t cp;

		if (!(step = text_utf8_next(s + i, len - i, &cp)))
			f = DISPLAY_NAME_NOT_UTF8;
		else if (text_control_char(cp))
			f = DISPLAY_NAME_CONTROL;
	}
	if (!f && (n < 1 || n > DISPLAY_NAME_MAX))
		f = DISPLAY_NAME_LENGTH;
	if (chars)
		*chars = n;
	if (why) {
		_Static_assert(DISPLAY_NAME_MAX == 128, "the message below names the limit");
		static const char *const text[] = {
		    [DISPLAY_NAME_OK] = NULL,
		    [DISPLAY_NAME_NOT_UTF8] = "must be valid UTF-8",
		    [DISPLAY_NAME_CONTROL] = "must not contain control characters",
		    [DISPLAY_NAME_LENGTH] = "must be 1 to 128 characters long",
		};
		*why = text[f];
	}
	return f;
}
