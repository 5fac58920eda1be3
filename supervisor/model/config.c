/* Daemon settings: defaults, then wardd.json on top, every value checked,
 * the first error named by file, line:column and key path. */
#include "model/config.h"

#include <errno.h>
#include <net/if.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "build-config.h" /* WARD_TEMPLATE_DIR */
#include "basic/cleanup.h"
#include "basic/trusted.h"
#include "basic/jsonpos.h"
#include "basic/text.h"
#include "model/names.h"
#include "model/profile.h"

#define CONFIG_MAX_BYTES (1024 * 1024)
#define LOG_KEEP_MAX     100
#define GROUP_RULE       "[a-z_][a-z0-9_-]{0,31}"

#define NET_POOL_DEFAULT_ADDR   (10u << 24 | 240u << 16) /* 10.240.0.0 */
#define NET_POOL_DEFAULT_PREFIX 16
#define NET_PREFIX_DEFAULT      24
#define NET_PREFIX_MAX          29 /* 8 addresses: gateway and 5 services */
#define NET_IFNAME_MAX          (IF_NAMESIZE - 1)
#define IFNAME_RULE             "[A-Za-z0-9_.-]{1,15}"

/* The uid pool: what a profile's "ids" may hold (profile.c), and enough
 * for 1000 tenants of 65536 uids by default, above the host's accounts and
 * above where Debian's useradd hands out subordinate ids (login.defs:
 * SUB_UID_MIN 100000 .. SUB_UID_MAX 600100000, 65536 a user): a host user
 * with one of those ranges in /etc/subuid can become each of its uids in a
 * user namespace of its own (newuidmap). subid.c checks the files too. */
#define ID_MIN                65536u      /* below: host users and system accounts */
#define ID_MAX                4294967294u /* (uid_t)-1 is "no uid" */
#define ID_COUNT_MAX          (1u << 24)
#define ID_POOL_START_DEFAULT 700000000u
#define ID_COUNT_DEFAULT      65536u
#define ID_POOL_SIZE_DEFAULT  (1000ull * ID_COUNT_DEFAULT)

/* Builds that do not generate it from meson.build (tests/fuzz/build.sh). */
#ifndef WARD_TEMPLATE_DIR
#define WARD_TEMPLATE_DIR "/usr/local/share/ward/templates"
#endif

struct cload {
	const char *file;
	struct jsonpos *pos;
	struct ward_err *err;
};

#define AT(C, obj, k) jsonpos_key((C)->pos, (obj), (k))

static int fail(struct cload *C, const struct jsonpos_entry *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "FILE:LINE:COL: PATH: message" ("FILE:LINE:COL: message" at the root). */
static int fail(struct cload *C, const struct jsonpos_entry *at, const char *fmt, ...)
{
	struct jsonpos_where w = {C->file, 1, 1, 0};
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap); /* a long message may be cut */
	va_end(ap);
	if (!at)
		return ward_err_set(C->err, 0, "%s: %s", C->file, msg);
	jsonpos_locate(at, &w);
	_cleanup_free_ char *path = jsonpos_path(C->pos, at);
	if (!path)
		return ward_err_set(C->err, ENOMEM, "%s", C->file);
	return ward_err_set(C->err, 0, "%s:%u:%u: %s%s%s", w.file, w.line, w.col, path,
			    path[0] ? ": " : "", msg);
}

/* User text in a message: quoted, escaped and cut short, so a settings file
 * cannot write control sequences to an operator's terminal. ASCII only,
 * unlike the profile loader's: a settings file names paths and groups, no
 * text for people. */
#define QUOTE_MAX 96
#define Q(s)      text_quote_value((s), TEXT_QUOTE_ASCII, (char[QUOTE_MAX]){0}, QUOTE_MAX)

static int want(struct cload *C, json_t *v, const struct jsonpos_entry *at, json_type t,
		const char *expected)
{
	if (json_typeof(v) == t)
		return 0;
	return fail(C, at, "expected %s, got %s", expected, jsonpos_type_name(v));
}

/* An object whose keys are all in `allowed`. */
static int check_object(struct cload *C, json_t *v, const struct jsonpos_entry *at,
			const char *const allowed[])
{
	const char *k;
	json_t *m;

	if (want(C, v, at, JSON_OBJECT, "object") < 0)
		return -1;
	json_object_foreach(v, k, m)
	{
		const char *const *a = allowed;
		while (*a && strcmp(*a, k) != 0)
			a++;
		if (!*a)
			return fail(C, AT(C, v, k), "unknown key");
	}
	return 0;
}

static const char *get_string(struct cload *C, json_t *v, const struct jsonpos_entry *at)
{
	if (want(C, v, at, JSON_STRING, "string") < 0)
		return NULL;
	const char *s = json_string_value(v);
	/* Loaded with JSON_ALLOW_NUL so a NUL is reported here, with its key. */
	if (strlen(s) != json_string_length(v))
		return fail(C, at, "must not contain NUL characters"), NULL;
	return s;
}

static int config_setv(struct cload *C, char **slot, const char *value)
{
	if (config_set(slot, value) < 0)
		return ward_err_set(C->err, ENOMEM, "%s", C->file);
	return 0;
}

static int path_read(struct cload *C, json_t *v, const struct jsonpos_entry *at, char **slot)
{
	const char *s = get_string(C, v, at);

	if (!s)
		return -1;
	if (s[0] != '/')
		return fail(C, at, "must be an absolute path, got %s", Q(s));
	if (strlen(s) >= PATH_MAX)
		return fail(C, at, "must not be longer than %d bytes", PATH_MAX - 1);
	return config_setv(C, slot, s);
}

static bool group_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > 32 || !((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		      s[i] == '-'))
			return false;
	return true;
}

/* A group name, or null: no group has that role. */
static int group_read(struct cload *C, json_t *v, const struct jsonpos_entry *at, char **slot)
{
	if (json_is_null(v))
		return config_setv(C, slot, NULL);
	if (!json_is_string(v))
		return fail(C, at, "expected string or null, got %s", jsonpos_type_name(v));
	const char *s = get_string(C, v, at);
	if (!s)
		return -1;
	if (!group_name_valid(s))
		return fail(C, at, "invalid group name %s: must match " GROUP_RULE, Q(s));
	return config_setv(C, slot, s);
}

static int policy_dirs_read(struct cload *C, json_t *v, const struct jsonpos_entry *at,
			    struct ward_config *cfg)
{
	size_t i;
	json_t *item;

	if (want(C, v, at, JSON_ARRAY, "array") < 0)
		return -1;
	if (json_array_size(v) > WARD_MAX_POLICY_DIRS)
		return fail(C, at, "at most %d directories", WARD_MAX_POLICY_DIRS);
	for (i = 0; i < cfg->n_policy_dirs; i++)
		config_set(&cfg->policy_dirs[i], NULL);
	cfg->n_policy_dirs = 0;
	json_array_foreach(v, i, item)
	{
		if (path_read(C, item, jsonpos_index(C->pos, v, i), &cfg->policy_dirs[i]) < 0)
			return -1;
		cfg->n_policy_dirs = i + 1;
	}
	return 0;
}

static int control_read(struct cload *C, json_t *v, const struct jsonpos_entry *at,
			struct ward_config *cfg)
{
	static const char *const keys[] = {"socket_group", "operator_group", "viewer_group",
					   "admin_group", NULL};
	char **slots[] = {&cfg->socket_group, &cfg->operator_group, &cfg->viewer_group,
			  &cfg->admin_group};

	if (check_object(C, v, at, keys) < 0)
		return -1;
	for (size_t i = 0; keys[i]; i++) {
		json_t *m = json_object_get(v, keys[i]);

		if (m && group_read(C, m, AT(C, v, keys[i]), slots[i]) < 0)
			return -1;
	}
	return 0;
}

/* An integer of bytes, or "10M": binary multiples. */
static int max_bytes_read(struct cload *C, json_t *v, const struct jsonpos_entry *at, uint64_t *out)
{
	uint64_t x;

	if (json_is_integer(v)) {
		if (json_integer_value(v) < 1)
			return fail(C, at, "must be at least 1 byte, got %" JSON_INTEGER_FORMAT,
				    json_integer_value(v));
		*out = (uint64_t)json_integer_value(v);
		return 0;
	}
	if (!json_is_string(v))
		return fail(C, at, "expected integer or string, got %s", jsonpos_type_name(v));
	const char *s = get_string(C, v, at);
	if (!s)
		return -1;
	if (ward_parse_size(s, &x) < 0)
		return errno == ERANGE
			   ? fail(C, at, "size %s is too large", Q(s))
			   : fail(C, at, "invalid size %s: use bytes or a number with K, M, G or T",
				  Q(s));
	if (x < 1)
		return fail(C, at, "must be at least 1 byte, got %s", Q(s));
	*out = x;
	return 0;
}

static int logs_read(struct cload *C, json_t *v, const struct jsonpos_entry *at,
		     struct ward_config *cfg)
{
	static const char *const keys[] = {"max_bytes", "keep", NULL};
	json_t *m;

	if (check_object(C, v, at, keys) < 0)
		return -1;
	if ((m = json_object_get(v, "max_bytes")) &&
	    max_bytes_read(C, m, AT(C, v, "max_bytes"), &cfg->log_max_bytes) < 0)
		return -1;
	if ((m = json_object_get(v, "keep"))) {
		const struct jsonpos_entry *mat = AT(C, v, "keep");
		if (want(C, m, mat, JSON_INTEGER, "integer") < 0)
			return -1;
		json_int_t k = json_integer_value(m);
		if (k < 0 || k > LOG_KEEP_MAX)
			return fail(C, mat, "must be between 0 and %d, got %" JSON_INTEGER_FORMAT,
				    LOG_KEEP_MAX, k);
		cfg->log_keep = (uint32_t)k;
	}
	return 0;
}

/* An integer from lo to hi. */
static int int_in_range(struct cload *C, json_t *v, const struct jsonpos_entry *at, uint32_t lo,
			uint32_t hi, uint32_t *out)
{
	if (want(C, v, at, JSON_INTEGER, "integer") < 0)
		return -1;
	json_int_t k = json_integer_value(v);
	if (k < lo || k > hi)
		return fail(C, at, "must be between %u and %u, got %" JSON_INTEGER_FORMAT, lo, hi,
			    k);
	*out = (uint32_t)k;
	return 0;
}

/* "quota": {"data": SIZE}: each practice's data directory is limited to
 * SIZE (project quota). */
static int quota_read(struct cload *C, json_t *v, const struct jsonpos_entry *at,
		      struct ward_config *cfg)
{
	static const char *const keys[] = {"data", NULL};
	json_t *m;

	if (check_object(C, v, at, keys) < 0)
		return -1;
	if ((m = json_object_get(v, "data")) &&
	    max_bytes_read(C, m, AT(C, v, "data"), &cfg->data_quota) < 0)
		return -1;
	return 0;
}

static int audit_read(struct cload *C, json_t *v, const struct jsonpos_entry *at,
		      struct ward_config *cfg)
{
	static const char *const keys[] = {"fsync", "max_bytes", "refused_burst",
					   "refused_window_s", NULL};
	json_t *m;

	if (check_object(C, v, at, keys) < 0)
		return -1;
	if ((m = json_object_get(v, "max_bytes")) &&
	    max_bytes_read(C, m, AT(C, v, "max_bytes"), &cfg->audit_max_bytes) < 0)
		return -1;
	if ((m = json_object_get(v, "refused_burst")) &&
	    int_in_range(C, m, AT(C, v, "refused_burst"), 1, 10000, &cfg->audit_refused_burst) < 0)
		return -1;
	if ((m = json_object_get(v, "refused_window_s")) &&
	    int_in_range(C, m, AT(C, v, "refused_window_s"), 1, 86400,
			 &cfg->audit_refused_window_s) < 0)
		return -1;
	if ((m = json_object_get(v, "fsync"))) {
		const struct jsonpos_entry *mat = AT(C, v, "fsync");
		const char *s = get_string(C, m, mat);
		if (!s)
			return -1;
		if (strcmp(s, "each") == 0)
			cfg->audit_fsync_each = true;
		else if (strcmp(s, "turn") == 0)
			cfg->audit_fsync_each = false;
		else
			return fail(C, mat, "must be \"each\" or \"turn\", got %s", Q(s));
	}
	return 0;
}

static int cgroup_read(struct cload *C, json_t *v, const struct jsonpos_entry *at,
		       struct ward_config *cfg)
{
	static const char *const keys[] = {"parent", NULL};
	json_t *m;

	if (check_object(C, v, at, keys) < 0)
		return -1;
	if ((m = json_object_get(v, "parent"))) {
		const struct jsonpos_entry *mat = AT(C, v, "parent");
		const char *s = get_string(C, m, mat);
		if (!s)
			return -1;
		/* One directory name under each hierarchy's root, nothing that
		 * could climb out of it. */
		if (!*s || strlen(s) > 64 || strchr(s, '/') || strcmp(s, ".") == 0 ||
		    strcmp(s, "..") == 0)
			return fail(C, mat, "must be one directory name, got %s", Q(s));
		if (config_set(&cfg->cgroup_parent, s) < 0)
			return fail(C, mat, "out of memory");
	}
	return 0;
}

/* What the kernel takes as a link name (IFNAMSIZ - 1 bytes, no '/', ':' or
 * space), narrowed to the characters operators use. */
static bool ifname_valid(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > NET_IFNAME_MAX || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '.' || s[i] == '-'))
			return false;
	return true;
}

/* An interface name, or null: traffic in and out may use any non-ward link. */
static int uplink_read(struct cload *C, json_t *v, const struct jsonpos_entry *at, char **slot)
{
	if (json_is_null(v))
		return config_setv(C, slot, NULL);
	if (!json_is_string(v))
		return fail(C, at, "expected string or null, got %s", jsonpos_type_name(v));
	const char *s = get_string(C, v, at);
	if (!s)
		return -1;
	if (!ifname_valid(s))
		return fail(C, at, "invalid interface name %s: must match " IFNAME_RULE, Q(s));
	/* The firewall tells ward's own links from the host's by this prefix. */
	if (strncmp(s, WARD_IFNAME_PREFIX, strlen(WARD_IFNAME_PREFIX)) == 0)
		return fail(C, at,
			    "interface name %s starts with \"" WARD_IFNAME_PREFIX
			    "\", which is kept for ward's own links",
			    Q(s));
	return config_setv(C, slot, s);
}

static int pool_read(struct cload *C, json_t *v, const struct jsonpos_entry *at,
		     struct ward_cidr *out)
{
	const char *s = get_string(C, v, at);

	if (!s)
		return -1;
	if (ward_parse_cidr(s, out) < 0)
		return fail(C, at,
			    "invalid CIDR %s: must be an IPv4 network address and prefix with "
			    "the host bits zero, such as \"10.240.0.0/16\"",
			    Q(s));
	if (out->prefix > NET_PREFIX_MAX)
		return fail(C, at, "must hold at least one /%d subnet, got %s", NET_PREFIX_MAX,
			    Q(s));
	return 0;
}

static int network_read(struct cload *C, json_t *v, const struct jsonpos_entry *at,
			struct ward_config *cfg)
{
	static const char *const keys[] = {"pool", "prefix", "uplink", "allocations", NULL};
	json_t *m;

	if (check_object(C, v, at, keys) < 0)
		return -1;
	if ((m = json_object_get(v, "pool")) &&
	    pool_read(C, m, AT(C, v, "pool"), &cfg->net_pool) < 0)
		return -1;
	if ((m = json_object_get(v, "prefix"))) {
		const struct jsonpos_entry *mat = AT(C, v, "prefix");
		if (want(C, m, mat, JSON_INTEGER, "integer") < 0)
			return -1;
		json_int_t p = json_integer_value(m);
		if (p < cfg->net_pool.prefix || p > NET_PREFIX_MAX)
			return fail(C, mat,
				    "must be between %u (the pool's prefix) and %d, got "
				    "%" JSON_INTEGER_FORMAT,
				    (unsigned)cfg->net_pool.prefix, NET_PREFIX_MAX, p);
		cfg->net_prefix = (uint8_t)p;
	} else if (cfg->net_prefix < cfg->net_pool.prefix) {
		/* Only a pool given without a prefix gets here. */
		return fail(C, AT(C, v, "pool"),
			    "a /%u pool cannot hold the default /%u subnets: set network.prefix",
			    (unsigned)cfg->net_pool.prefix, (unsigned)cfg->net_prefix);
	}
	if ((m = json_object_get(v, "uplink")) &&
	    uplink_read(C, m, AT(C, v, "uplink"), &cfg->net_uplink) < 0)
		return -1;
	if ((m = json_object_get(v, "allocations")) &&
	    path_read(C, m, AT(C, v, "allocations"), &cfg->net_allocations) < 0)
		return -1;
	return 0;
}

static int count_read(struct cload *C, json_t *v, const struct jsonpos_entry *at, uint64_t min,
		      uint64_t max, uint64_t *out)
{
	if (want(C, v, at, JSON_INTEGER, "integer") < 0)
		return -1;
	json_int_t x = json_integer_value(v);
	if (x < 0 || (uint64_t)x < min || (uint64_t)x > max)
		return fail(
		    C, at, "must be between %" PRIu64 " and %" PRIu64 ", got %" JSON_INTEGER_FORMAT,
		    min, max, x);
	*out = (uint64_t)x;
	return 0;
}

/* The uid pool. Two tenants never share a uid: onboarding hands out whole
 * ranges of the pool, and the pool stays inside what a profile may name. */
static int ids_read(struct cload *C, json_t *v, const struct jsonpos_entry *at,
		    struct ward_config *cfg)
{
	static const char *const keys[] = {"pool_start", "pool_size", "count",
					   "subuid",     "subgid",    NULL};
	json_t *start = json_object_get(v, "pool_start"), *size = json_object_get(v, "pool_size");
	json_t *count = json_object_get(v, "count"), *m;
	uint64_t x = 0;

	if (check_object(C, v, at, keys) < 0)
		return -1;
	/* Where the host's subordinate ids are: other paths only for tests
	 * and hosts that keep them elsewhere; never none. */
	if ((m = json_object_get(v, "subuid")) &&
	    path_read(C, m, AT(C, v, "subuid"), &cfg->subuid_file) < 0)
		return -1;
	if ((m = json_object_get(v, "subgid")) &&
	    path_read(C, m, AT(C, v, "subgid"), &cfg->subgid_file) < 0)
		return -1;
	if (start) {
		if (count_read(C, start, AT(C, v, "pool_start"), ID_MIN, ID_MAX, &x) < 0)
			return -1;
		cfg->id_pool_start = (uint32_t)x;
	}
	if (size) {
		if (count_read(C, size, AT(C, v, "pool_size"), 1, (uint64_t)ID_MAX - ID_MIN + 1,
			       &x) < 0)
			return -1;
		cfg->id_pool_size = x;
	}
	if (count) {
		if (count_read(C, count, AT(C, v, "count"), 1, ID_COUNT_MAX, &x) < 0)
			return -1;
		cfg->id_count = (uint32_t)x;
	}
	if (cfg->id_count > cfg->id_pool_size)
		return size ? fail(C, AT(C, v, "pool_size"),
				   "must hold at least one range of %u uids (ids.count), got "
				   "%" PRIu64,
				   cfg->id_count, cfg->id_pool_size)
			    : fail(C, AT(C, v, "count"),
				   "must be at most the pool's %" PRIu64
				   " uids (ids.pool_size), got %u",
				   cfg->id_pool_size, cfg->id_count);
	if ((uint64_t)cfg->id_pool_start + cfg->id_pool_size - 1 > ID_MAX)
		return fail(C, size ? AT(C, v, "pool_size") : AT(C, v, "pool_start"),
			    "the pool ends at uid %" PRIu64 ", past the last tenant uid %u "
			    "(pool_start + pool_size - 1)",
			    (uint64_t)cfg->id_pool_start + cfg->id_pool_size - 1, ID_MAX);
	return 0;
}

static int root_read(struct cload *C, json_t *root, const struct jsonpos_entry *at,
		     struct ward_config *cfg)
{
	static const char *const keys[] = {
	    "tenants_dir",   "policy_dirs", "state_dir", "log_dir", "data_dir",
	    "templates_dir", "control",     "logs",      "audit",   "cgroup",
	    "network",       "ids",         "quota",     NULL};
	static const char *const path_keys[] = {"tenants_dir", "state_dir", "log_dir", "data_dir",
						"templates_dir"};
	char **path_slots[] = {&cfg->tenants_dir, &cfg->state_dir, &cfg->log_dir, &cfg->data_dir,
			       &cfg->templates_dir};
	json_t *m;

	if (check_object(C, root, at, keys) < 0)
		return -1;
	/* In the order of the file's documentation, so the first error found
	 * is stable whatever order the keys were written in. */
	for (size_t i = 0; i < sizeof(path_keys) / sizeof(path_keys[0]); i++)
		if ((m = json_object_get(root, path_keys[i])) &&
		    path_read(C, m, AT(C, root, path_keys[i]), path_slots[i]) < 0)
			return -1;
	if ((m = json_object_get(root, "policy_dirs")) &&
	    policy_dirs_read(C, m, AT(C, root, "policy_dirs"), cfg) < 0)
		return -1;
	if ((m = json_object_get(root, "control")) &&
	    control_read(C, m, AT(C, root, "control"), cfg) < 0)
		return -1;
	if ((m = json_object_get(root, "logs")) && logs_read(C, m, AT(C, root, "logs"), cfg) < 0)
		return -1;
	if ((m = json_object_get(root, "audit")) && audit_read(C, m, AT(C, root, "audit"), cfg) < 0)
		return -1;
	if ((m = json_object_get(root, "cgroup")) &&
	    cgroup_read(C, m, AT(C, root, "cgroup"), cfg) < 0)
		return -1;
	if ((m = json_object_get(root, "network")) &&
	    network_read(C, m, AT(C, root, "network"), cfg) < 0)
		return -1;
	if ((m = json_object_get(root, "ids")) && ids_read(C, m, AT(C, root, "ids"), cfg) < 0)
		return -1;
	if ((m = json_object_get(root, "quota")) && quota_read(C, m, AT(C, root, "quota"), cfg) < 0)
		return -1;
	return 0;
}

static int defaults_set(struct ward_config *cfg)
{
	*cfg = (struct ward_config){
	    .log_max_bytes = 10 * 1024 * 1024,
	    .log_keep = 5,
	    .audit_fsync_each = true,
	    .audit_max_bytes = 100 * 1024 * 1024,
	    .audit_refused_burst = 10,
	    .audit_refused_window_s = 60,
	    .net_pool = {.addr = NET_POOL_DEFAULT_ADDR, .prefix = NET_POOL_DEFAULT_PREFIX},
	    .net_prefix = NET_PREFIX_DEFAULT,
	    .id_pool_start = ID_POOL_START_DEFAULT,
	    .id_pool_size = ID_POOL_SIZE_DEFAULT,
	    .id_count = ID_COUNT_DEFAULT,
	};
	if (config_set(&cfg->tenants_dir, "/etc/ward/tenants") < 0 ||
	    config_set(&cfg->state_dir, "/run/ward") < 0 ||
	    config_set(&cfg->log_dir, "/var/log/ward") < 0 ||
	    config_set(&cfg->data_dir, "/var/lib/ward/tenants") < 0 ||
	    config_set(&cfg->templates_dir, WARD_TEMPLATE_DIR) < 0 ||
	    config_set(&cfg->socket_group, "ward") < 0 ||
	    config_set(&cfg->operator_group, "ward-operators") < 0 ||
	    config_set(&cfg->viewer_group, "ward-viewers") < 0 ||
	    config_set(&cfg->admin_group, "ward-admins") < 0 ||
	    config_set(&cfg->cgroup_parent, "ward") < 0 ||
	    config_set(&cfg->subuid_file, "/etc/subuid") < 0 ||
	    config_set(&cfg->subgid_file, "/etc/subgid") < 0)
		return -1;
	return 0;
}

static int file_apply(const char *path, const char *text, size_t len, struct ward_config *cfg,
		      struct ward_err *err)
{
	json_error_t e;
	_cleanup_(json_decrefp) json_t *root =
	    json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &e);
	struct cload C = {path, NULL, err};
	const struct jsonpos_entry *at;
	int r;

	if (!root) {
		text_clean(e.text); /* jansson quotes the input in its messages */
		return ward_err_set(err, 0, "%s:%d:%d: %s", path, e.line, e.column, e.text);
	}
	if (!(C.pos = jsonpos_new()))
		return ward_err_set(err, ENOMEM, "%s", path);
	if (!(at = jsonpos_scan(C.pos, path, text, len, root)))
		r = ward_err_set(err, errno, "%s: cannot locate values", path);
	else
		r = root_read(&C, root, at, cfg);
	jsonpos_free(C.pos);
	return r;
}

/* On failure cfg is left empty (config_free on it does nothing). */
int config_load(const char *path, bool must_exist, struct ward_config *cfg, struct ward_err *err)
{
	struct ward_err e = {0};
	size_t len;

	if (defaults_set(cfg) < 0) {
		config_free(cfg);
		return ward_err_set(err, ENOMEM, "settings");
	}
	_cleanup_free_ char *text =
	    trusted_file_read(AT_FDCWD, path, path, false, CONFIG_MAX_BYTES, &len, &e);
	if (!text && e.errnum == ENOENT && !must_exist)
		return 0;
	if (!text || file_apply(path, text, len, cfg, &e) < 0) {
		config_free(cfg);
		if (err)
			*err = e;
		return -1;
	}
	/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): text is _cleanup_free_ */
	return 0;
}

void config_free(struct ward_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->tenants_dir);
	/* Slots past n_policy_dirs are NULL: every one can be freed. */
	for (size_t i = 0; i < WARD_MAX_POLICY_DIRS; i++)
		free(cfg->policy_dirs[i]);
	free(cfg->state_dir);
	free(cfg->log_dir);
	free(cfg->data_dir);
	free(cfg->templates_dir);
	free(cfg->socket_group);
	free(cfg->operator_group);
	free(cfg->viewer_group);
	free(cfg->admin_group);
	free(cfg->cgroup_parent);
	free(cfg->net_uplink);
	free(cfg->net_allocations);
	free(cfg->subuid_file);
	free(cfg->subgid_file);
	*cfg = (struct ward_config){0};
}

int config_set(char **slot, const char *value)
{
	char *copy = NULL;

	if (value && !(copy = strdup(value)))
		return -1;
	free(*slot);
	*slot = copy;
	return 0;
}
