/* Daemon settings: /etc/ward/wardd.json, every path overridable by a flag. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "basic/error.h"
#include "model/profile.h"

#define WARD_MAX_POLICY_DIRS 16

struct ward_config {
	char *tenants_dir; /* default /etc/ward/tenants */
	char *policy_dirs[WARD_MAX_POLICY_DIRS];
	size_t n_policy_dirs;
	char *state_dir;     /* default /run/ward */
	char *log_dir;       /* default /var/log/ward */
	char *data_dir;      /* default /var/lib/ward/tenants */
	char *templates_dir; /* onboarding templates; default WARD_TEMPLATE_DIR */

	/* control socket and authorization (group names; NULL: none) */
	char *socket_group;   /* group of control.sock (mode 0660); default "ward" */
	char *operator_group; /* may do everything but onboarding; default "ward-operators" */
	char *viewer_group;   /* may read status and logs; default "ward-viewers" */
	char *admin_group;    /* may also onboard/offboard; default "ward-admins" */

	char *cgroup_parent; /* PARENT/TENANT/SERVICE under each hierarchy; default "ward" */

	/* "network": where tenant subnets come from when a profile names none */
	struct ward_cidr net_pool; /* default 10.240.0.0/16 */
	uint8_t net_prefix;        /* size of each allocated subnet, pool's..29; default 24 */
	char *net_uplink;          /* egress/ingress interface; NULL (default): any non-ward link */
	/* The allocations file; NULL (default): STATE_DIR/network.json. Set it
	 * to a persistent path when the state dir is a tmpfs (/run/ward) and
	 * subnets must survive a reboot. */
	char *net_allocations;

	/* "ids": the uid pool onboarding takes tenant ranges from: the ranges
	 * id_pool_start + k * id_count (k = 0, 1, ...) that fit in the pool's
	 * id_pool_size uids. A range is also the tenant's gid range. */
	uint32_t id_pool_start; /* first uid of the pool, >= 65536; default 700000000 */
	uint64_t id_pool_size;  /* uids in the pool; default 65536000 (1000 ranges) */
	uint32_t id_count;      /* uids per tenant; default 65536 */
	/* The host's subordinate ids (subid.h): no tenant range and no part of
	 * the pool may overlap them. Default /etc/subuid and /etc/subgid. */
	char *subuid_file;
	char *subgid_file;

	uint64_t log_max_bytes;   /* rotate a service log past this size; default 10M */
	uint32_t log_keep;        /* rotated files kept: SERVICE.log.1 .. .N; default 5 */
	bool audit_fsync_each;    /* fsync after every record (default) or once per loop turn */
	uint64_t audit_max_bytes; /* rotate the audit log past this size; default 100M */
	/* Refusals of one uid recorded one by one per window (default 10 per
	 * 60 s); the rest counted in one summary record per window. */
	uint32_t audit_refused_burst;
	uint32_t audit_refused_window_s;
	/* "quota": {"data": SIZE}: the project quota of each tenant's data
	 * directory (project id: the tenant's first uid); 0 (default): none. */
	uint64_t data_quota;
};

/* Defaults, then the file (a missing file is fine only when it is the
 * default path). Returns 0 or -1 with err naming file:line:col and key. */
int config_load(const char *path, bool must_exist, struct ward_config *cfg, struct ward_err *err);
void config_free(struct ward_config *cfg);
/* Replaces a string setting (flags win over the file). */
int config_set(char **slot, const char *value);
