/* Daemon settings: /etc/ward/wardd.json, every path overridable by a flag. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ward/error.h"

#define WARD_MAX_POLICY_DIRS 16

struct ward_config {
	char *tenants_dir; /* default /etc/ward/tenants */
	char *policy_dirs[WARD_MAX_POLICY_DIRS];
	size_t n_policy_dirs;
	char *state_dir; /* default /run/ward */
	char *log_dir;   /* default /var/log/ward */
	char *data_dir;  /* default /var/lib/ward/tenants */

	/* control socket and authorization (group names; NULL: none) */
	char *socket_group;   /* group of control.sock (mode 0660); default "ward" */
	char *operator_group; /* may do everything but onboarding; default "ward-operators" */
	char *viewer_group;   /* may read status and logs; default "ward-viewers" */
	char *admin_group;    /* may also onboard/offboard; default "ward-admins" */

	char *cgroup_parent; /* PARENT/TENANT/SERVICE under each hierarchy; default "ward" */

	uint64_t log_max_bytes; /* rotate a service log past this size; default 10M */
	uint32_t log_keep;      /* rotated files kept: SERVICE.log.1 .. .N; default 5 */
	bool audit_fsync_each;  /* fsync after every record (default) or once per loop turn */
};

/* Defaults, then the file (a missing file is fine only when it is the
 * default path). Returns 0 or -1 with err naming file:line:col and key. */
int config_load(const char *path, bool must_exist, struct ward_config *cfg, struct ward_err *err);
void config_free(struct ward_config *cfg);
/* Replaces a string setting (flags win over the file). */
int config_set(char **slot, const char *value);
