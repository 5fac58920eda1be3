/* The names a profile may use (capabilities, syscalls, syscall groups,
 * address families) and the names ward gives things on the host. The
 * profile loader checks names here; the sandbox acts on them. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* Every host-side interface of ward starts with this; nothing else does. */
#define WARD_IFNAME_PREFIX "wrd"

/* "CAP_NET_BIND_SERVICE" -> 10; -1 for a name this kernel/libcap doesn't know. */
int caps_from_name(const char *name);

/* A syscall name libseccomp knows for some ABI of this architecture. */
bool seccomp_syscall_known(const char *name);
/* "@system-service" etc.: systemd's group names and contents
 * (seccomp-groups.c). */
bool seccomp_group_known(const char *name);
/* Calls fn for every syscall name of the group, nested groups expanded, each
 * name once, in strcmp order. Returns -1 for an unknown group (errno ENOENT)
 * or when out of memory. */
int seccomp_group_foreach(const char *group, void (*fn)(const char *syscall, void *ud), void *ud);
/* NULL-terminated list of all group names, for help and schema checks. */
const char *const *seccomp_group_names(void);
/* An address family by its name without "AF_" in lower case ("unix",
 * "inet6", "vsock"): its AF_* number, or -1. */
int seccomp_family_from_name(const char *name);

/* "10.240.3.2" for an IPv4 address in host byte order; buf holds the
 * longest ("255.255.255.255"). Returns buf. */
#define IP4_STRING_MAX 16
const char *ip4_string(uint32_t addr, char buf[IP4_STRING_MAX]);
