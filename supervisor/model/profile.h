/* A tenant profile as plain C: what profile.c returns once every field of the
 * JSON profile and its policy fragments has been parsed, merged and checked.
 * Nothing downstream re-validates, and no jansson type appears here. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define WARD_NAME_MAX          24         /* [a-z][a-z0-9-]{0,23} */
#define WARD_UNSET             UINT64_MAX /* a limit the policy does not set */
#define WARD_PROFILE_MAX_BYTES (4u << 20)

/* ---- diagnostics: every error of a load, not just the first ---- */

struct ward_diag_entry {
	char *file;    /* the profile or fragment the error is in */
	unsigned line; /* 1-based; 0 when not known */
	unsigned col;  /* 1-based; 0 when not known */
	char *path;    /* JSON path: services.db.seccomp.allow[3]; "" for the document */
	char *message;
};

struct ward_diag {
	struct ward_diag_entry *v;
	size_t n, cap;
};

void diag_free(struct ward_diag *d);
/* For _cleanup_(diag_freep) struct ward_diag d = {0}. */
static inline void diag_freep(struct ward_diag *d)
{
	diag_free(d);
}
/* Appends one entry; strings are copied. Returns -1 only if out of memory. */
int diag_add(struct ward_diag *d, const char *file, unsigned line, unsigned col, const char *path,
	     const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* One line per entry: "file:line:col: path: message". */
void diag_print(const struct ward_diag *d, FILE *out);

/* ---- the resolved policy of one process ---- */

enum seccomp_default { SECCOMP_DEFAULT_ERRNO, SECCOMP_DEFAULT_KILL, SECCOMP_DEFAULT_LOG };
enum restart_on { RESTART_ALWAYS, RESTART_FAILURE, RESTART_NEVER };

const char *seccomp_default_to_string(enum seccomp_default d);
const char *restart_on_to_string(enum restart_on r);

struct ward_bind {
	char *src; /* absolute host path */
	char *dst; /* absolute path inside the sandbox */
};

struct ward_tmpfs {
	char *path;    /* absolute path inside the sandbox */
	uint64_t size; /* bytes */
};

struct ward_filesystem {
	struct ward_bind *ro;
	size_t n_ro;
	struct ward_bind *rw;
	size_t n_rw;
	char *data; /* where the tenant's data dir appears, or NULL: not mounted */
	struct ward_tmpfs *tmpfs;
	size_t n_tmpfs;
	char **hide; /* absolute paths inside the sandbox, masked */
	size_t n_hide;
	/* "proc_subset": "pid" (systemd's ProcSubset=pid): the sandbox's /proc
	 * holds its processes and nothing of the host's kernel; "all" (the
	 * default): all of /proc, with the kernel's sensitive files masked. */
	bool proc_pid_only;
	/* "noexec": true: everything the sandbox can write (tmpfs mounts, rw
	 * binds, the data directory) is mounted noexec, so nothing it writes
	 * can be run, not even through the dynamic loader. /dev/shm and a
	 * session's home always are. Default false. */
	bool noexec;
};

struct ward_seccomp {
	enum seccomp_default default_action;
	char **allow; /* syscall names and @group names, as written */
	size_t n_allow;
	char **deny;
	size_t n_deny;
	bool log_denied;
	char **abis; /* extra ABIs allowed besides the native one: "x86", "x32" */
	size_t n_abis;
	/* systemd's RestrictNamespaces=yes: no unshare/clone with CLONE_NEW*,
	 * no setns, clone3 ENOSYS. Default true. */
	bool restrict_namespaces;
	/* systemd's RestrictAddressFamilies=: socket() and socketpair() only
	 * for the families whose bit (AF_*) is set, EAFNOSUPPORT for the
	 * rest. Not restricted when restrict_families is false ("any").
	 * Default: unix, inet, inet6, netlink. */
	bool restrict_families;
	uint64_t address_families;
};

struct ward_limits {
	uint64_t memory; /* bytes, or WARD_UNSET */
	uint64_t pids;   /* or WARD_UNSET */
	double cpu;      /* cores (0.5 = half a core); 0 = unlimited */
	uint64_t nofile; /* RLIMIT_NOFILE, or WARD_UNSET */
	uint64_t core;   /* RLIMIT_CORE bytes, or WARD_UNSET */
};

struct ward_restart {
	enum restart_on on;
	uint64_t delay_ms;
	uint64_t max_delay_ms;
	uint32_t burst;
	uint32_t interval_s;
};

struct ward_policy {
	struct ward_filesystem filesystem;
	struct ward_seccomp seccomp;
	uint64_t caps_keep; /* bit N set: keep capability N */
	struct ward_limits limits;
	struct ward_restart restart;
	uint32_t stop_timeout_s;
	char **env; /* "NAME=value", sorted by name, NULL-terminated */
	size_t n_env;
	bool user_namespace;
};

/* ---- the tenant ---- */

struct ward_cidr {
	uint32_t addr; /* host byte order, network address (host bits zero) */
	uint8_t prefix;
};

struct ward_egress {
	struct ward_cidr to;
	uint16_t *tcp;
	size_t n_tcp;
	uint16_t *udp;
	size_t n_udp;
	bool has_from; /* else every service of the tenant may use it */
	char **from;   /* service names */
	size_t n_from;
};

struct ward_ingress {
	uint16_t host_port;
	char *service;
	uint16_t port;
	int proto; /* IPPROTO_TCP or IPPROTO_UDP */
};

struct ward_network {
	bool present;    /* the profile has a "network" section */
	bool has_subnet; /* else the daemon allocates one */
	struct ward_cidr subnet;
	struct ward_egress *egress;
	size_t n_egress;
	struct ward_ingress *ingress;
	size_t n_ingress;
};

struct ward_connect {
	char *service;
	uint16_t port;
	int proto; /* IPPROTO_TCP or IPPROTO_UDP */
};

struct ward_ids {
	bool set;       /* else the daemon allocates them */
	uint32_t uid;   /* first host uid of the tenant; also its gid */
	uint32_t count; /* size of the range */
};

struct ward_service {
	char *name;
	char **exec; /* argv, NULL-terminated; exec[0] absolute */
	size_t n_exec;
	char **after;
	size_t n_after;
	struct ward_connect *connect;
	size_t n_connect;
	struct ward_policy policy;
	/* Canonical JSON of everything that defines how the service runs (exec
	 * and resolved policy): equal strings mean nothing changed on reload. */
	char *digest;
	/* The same of its `after` and of its `connect`, which a reload applies
	 * without a restart (and still reports). */
	char *after_digest;
	char *connect_digest;
};

struct ward_sessions {
	bool present;
	char **groups;
	size_t n_groups;
	char *service;
	char **exec; /* NULL-terminated */
	size_t n_exec;
	struct ward_policy policy;
	uint32_t max;
	uint32_t idle_timeout_s;
};

/* The parts of a profile outside its services that a reload applies
 * without a new sandbox (the ids restart every service). */
enum ward_part {
	WARD_PART_DISPLAY_NAME,
	WARD_PART_LIMITS,
	WARD_PART_NETWORK,
	WARD_PART_SESSIONS,
	WARD_PART_N
};
/* "display_name", "limits", "network", "sessions": the profile's keys. */
const char *ward_part_name(enum ward_part p);

struct ward_tenant {
	char *name;
	char *display_name; /* NULL if not given */
	char *source;       /* path of the profile file */
	struct ward_ids ids;
	/* Cap over all services together (memory, pids, cpu; WARD_UNSET / 0:
	 * none), enforced on the tenant's cgroup. */
	struct ward_limits limits;
	struct ward_network network;
	struct ward_service *services; /* in the order of the profile */
	size_t n_services;
	struct ward_sessions sessions;
	/* Canonical JSON of each part as written ("null" when absent; for
	 * sessions with its policy resolved): equal strings mean that part is
	 * the same, so a reload can name every change it makes. */
	char *part_digest[WARD_PART_N];
};

struct profile_options {
	/* Directories searched for a fragment named NAME (NAME.json), in order,
	 * before the `policies` directory beside the profile's own directory
	 * (PROFILE_DIR/../policies) and the shipped WARD_POLICY_DIR. */
	const char *const *policy_dirs;
	size_t n_policy_dirs;
	/* The daemon's loads: the profile and every fragment it names must be
	 * root's (or the caller's), not writable by group or others, and not a
	 * symlink (trusted.h); an untrusted fragment is an error, as a missing
	 * one is. Off for `wardctl check` of local files. */
	bool trusted;
};

/* Loads, merges and validates a profile. Returns 0 and sets *out, or -1 with
 * every problem found appended to diag (*out untouched). */
int profile_load(const char *path, const struct profile_options *opts, struct ward_tenant **out,
		 struct ward_diag *diag);
/* The same, from memory; `name` stands for the file name in messages. */
int profile_load_buffer(const char *name, const char *data, size_t len,
			const struct profile_options *opts, struct ward_tenant **out,
			struct ward_diag *diag);
void tenant_free(struct ward_tenant *t);
/* For _cleanup_(tenant_freep) struct ward_tenant *t = NULL. */
static inline void tenant_freep(struct ward_tenant **t)
{
	tenant_free(*t);
}

const struct ward_service *tenant_find_service(const struct ward_tenant *t, const char *name);

/* Helpers the loader uses, exposed for the unit tests and for other input
 * (control requests carry tenant names too). */
bool ward_name_valid(const char *s);
/* "256M", "1G", "64K", "1024" (bytes): binary multiples. -1 if malformed or
 * overflowing. */
int ward_parse_size(const char *s, uint64_t *out);
/* "10.240.3.0/24": -1 if malformed or host bits are set. */
int ward_parse_cidr(const char *s, struct ward_cidr *out);
