/* The names a profile may use (capabilities, syscalls, syscall groups,
 * address families) and the names ward gives things on the host. The
 * profile loader checks names here; the sandbox acts on them. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

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

/* ---- display names ---- */

/* The most characters (not bytes: up to 4 each in UTF-8) a display name
 * may have, wherever one comes from: a profile, wardctl, a control
 * request. */
#define DISPLAY_NAME_MAX 128

/* Why display_name_check() refused a name. */
enum display_name_fault {
	DISPLAY_NAME_OK = 0,
	DISPLAY_NAME_NOT_UTF8, /* "must be valid UTF-8" */
	DISPLAY_NAME_CONTROL,  /* "must not contain control characters" */
	DISPLAY_NAME_LENGTH,   /* "must be 1 to 128 characters long" */
};

/* The one rule for a name meant for people, shown on terminals and in
 * logs next to ward's own text: valid UTF-8, no character a terminal acts
 * on (text_control_char(): C0, DEL, C1, line and paragraph separators,
 * bidi controls, the BOM), 1 to DISPLAY_NAME_MAX characters. Checked in
 * that order, one character at a time, so the first fault found is the
 * one named. s need not be NUL-terminated; a NUL byte among the len bytes
 * is a control character.
 *
 * Returns DISPLAY_NAME_OK (0) or the fault. *chars (may be NULL) gets the
 * number of characters when the fault is none or DISPLAY_NAME_LENGTH;
 * *why (may be NULL) gets the fault as a phrase for a message, or NULL. */
enum display_name_fault display_name_check(const char *s, size_t len, size_t *chars,
					   const char **why);
