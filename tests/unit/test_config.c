/* Unit tests of the daemon settings: defaults, a full file, and every kind
 * of mistake with the exact file, line:column, key path and message. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "tmpdir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build-config.h" /* WARD_TEMPLATE_DIR */
#include "model/config.h"

struct fixture {
	char dir[64];
	char path[128];
};

static int setup(void **state)
{
	struct fixture *f = test_fixture_new(sizeof(*f), "config");

	test_fixture_path(f->path, sizeof(f->path), f->dir, "wardd.json");
	*state = f;
	return 0;
}

/* JSON is written with single quotes here, to read well inside C strings. */
static void write_json(const char *path, const char *json)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	for (const char *p = json; *p; p++)
		fputc(*p == '\'' ? '"' : *p, fp);
	assert_int_equal(fclose(fp), 0);
}

static void assert_defaults(const struct ward_config *c)
{
	assert_string_equal(c->tenants_dir, "/etc/ward/tenants");
	assert_int_equal(c->n_policy_dirs, 0);
	assert_null(c->policy_dirs[0]);
	assert_string_equal(c->state_dir, "/run/ward");
	assert_string_equal(c->log_dir, "/var/log/ward");
	assert_string_equal(c->data_dir, "/var/lib/ward/tenants");
	assert_string_equal(c->templates_dir, WARD_TEMPLATE_DIR);
	assert_int_equal(c->id_pool_start, 700000000);
	assert_int_equal(c->id_pool_size, 65536000);
	assert_int_equal(c->id_count, 65536);
	assert_int_equal(c->data_quota, 0); /* no disk limit unless asked */
	/* Debian's useradd hands out subordinate ids up to SUB_UID_MAX
	 * (600100000, login.defs): the default pool starts above them. */
	assert_true(c->id_pool_start > 600100000u);
	assert_string_equal(c->subuid_file, "/etc/subuid");
	assert_string_equal(c->subgid_file, "/etc/subgid");
	assert_string_equal(c->socket_group, "ward");
	assert_string_equal(c->operator_group, "ward-operators");
	assert_string_equal(c->viewer_group, "ward-viewers");
	assert_string_equal(c->admin_group, "ward-admins");
	assert_int_equal(c->log_max_bytes, 10 * 1024 * 1024);
	assert_int_equal(c->log_keep, 5);
	assert_true(c->audit_fsync_each);
	assert_int_equal(c->audit_max_bytes, 100 * 1024 * 1024);
	assert_int_equal(c->audit_refused_burst, 10);
	assert_int_equal(c->audit_refused_window_s, 60);
	assert_string_equal(c->cgroup_parent, "ward");
	assert_int_equal(c->net_pool.addr, 0x0af00000); /* 10.240.0.0 */
	assert_int_equal(c->net_pool.prefix, 16);
	assert_int_equal(c->net_prefix, 24);
	assert_null(c->net_uplink);
	assert_null(c->net_allocations);
}

static void assert_empty(const struct ward_config *c)
{
	static const struct ward_config zero;
	assert_memory_equal(c, &zero, sizeof(zero));
}

static void test_defaults_missing_file(void **state)
{
	struct fixture *f = *state;
	struct ward_config c;
	struct ward_err err = {0};

	memset(&c, 0xa5, sizeof(c)); /* whatever the caller had is not read */
	assert_int_equal(config_load(f->path, false, &c, &err), 0);
	assert_defaults(&c);
	config_free(&c);
	assert_empty(&c);
}

static void test_missing_file_must_exist(void **state)
{
	struct fixture *f = *state;
	struct ward_config c;
	struct ward_err err = {0};
	char expected[256];

	assert_int_equal(config_load(f->path, true, &c, &err), -1);
	snprintf(expected, sizeof(expected), "%s: cannot open: No such file or directory", f->path);
	assert_string_equal(err.msg, expected);
	assert_int_equal(err.errnum, ENOENT);
	assert_empty(&c);
	config_free(&c);
}

static void test_empty_object_is_defaults(void **state)
{
	struct fixture *f = *state;
	struct ward_config c;
	struct ward_err err = {0};

	write_json(f->path, "{}\n");
	assert_int_equal(config_load(f->path, true, &c, &err), 0);
	assert_defaults(&c);
	config_free(&c);
}

static void test_full_file(void **state)
{
	struct fixture *f = *state;
	struct ward_config c;
	struct ward_err err = {0};

	write_json(f->path,
		   "{\n"
		   "  'tenants_dir': '/srv/ward/tenants',\n"
		   "  'policy_dirs': ['/srv/ward/policies', '/usr/local/share/ward'],\n"
		   "  'state_dir': '/tmp/ward-run',\n"
		   "  'log_dir': '/srv/ward/log',\n"
		   "  'data_dir': '/srv/ward/data',\n"
		   "  'control': {\n"
		   "    'socket_group': 'wardsock',\n"
		   "    'operator_group': '_ops-1',\n"
		   "    'viewer_group': null,\n"
		   "    'admin_group': 'a234567890123456789012345678901b'\n"
		   "  },\n"
		   "  'logs': {'max_bytes': '64K', 'keep': 0},\n"
		   "  'audit': {'fsync': 'turn', 'max_bytes': '1G', 'refused_burst': 3,\n"
		   "            'refused_window_s': 600},\n"
		   "  'network': {\n"
		   "    'pool': '172.16.0.0/12',\n"
		   "    'prefix': 26,\n"
		   "    'uplink': 'eth0.100',\n"
		   "    'allocations': '/srv/ward/network.json'\n"
		   "  },\n"
		   "  'templates_dir': '/srv/ward/templates',\n"
		   "  'ids': {'pool_start': 2000000, 'pool_size': 1048576, 'count': 4096,\n"
		   "          'subuid': '/srv/ward/subuid', 'subgid': '/srv/ward/subgid'},\n"
		   "  'quota': {'data': '20G'}\n"
		   "}\n");
	assert_int_equal(config_load(f->path, true, &c, &err), 0);
	assert_string_equal(c.tenants_dir, "/srv/ward/tenants");
	assert_int_equal(c.n_policy_dirs, 2);
	assert_string_equal(c.policy_dirs[0], "/srv/ward/policies");
	assert_string_equal(c.policy_dirs[1], "/usr/local/share/ward");
	assert_null(c.policy_dirs[2]);
	assert_string_equal(c.state_dir, "/tmp/ward-run");
	assert_string_equal(c.log_dir, "/srv/ward/log");
	assert_string_equal(c.data_dir, "/srv/ward/data");
	assert_string_equal(c.socket_group, "wardsock");
	assert_string_equal(c.operator_group, "_ops-1");
	assert_null(c.viewer_group);
	assert_string_equal(c.admin_group, "a234567890123456789012345678901b");
	assert_int_equal(c.log_max_bytes, 65536);
	assert_int_equal(c.log_keep, 0);
	assert_false(c.audit_fsync_each);
	assert_int_equal(c.audit_max_bytes, 1024 * 1024 * 1024);
	assert_int_equal(c.audit_refused_burst, 3);
	assert_int_equal(c.audit_refused_window_s, 600);
	assert_int_equal(c.net_pool.addr, 0xac100000); /* 172.16.0.0 */
	assert_int_equal(c.net_pool.prefix, 12);
	assert_int_equal(c.net_prefix, 26);
	assert_string_equal(c.net_uplink, "eth0.100");
	assert_string_equal(c.net_allocations, "/srv/ward/network.json");
	assert_string_equal(c.templates_dir, "/srv/ward/templates");
	assert_int_equal(c.id_pool_start, 2000000);
	assert_int_equal(c.id_pool_size, 1048576);
	assert_int_equal(c.id_count, 4096);
	assert_int_equal(c.data_quota, 20ULL << 30);
	assert_string_equal(c.subuid_file, "/srv/ward/subuid");
	assert_string_equal(c.subgid_file, "/srv/ward/subgid");
	config_free(&c);
	assert_empty(&c);
}

/* Each key of the uid pool alone, and the pool at the edges of what a
 * profile's "ids" may hold. */
static void test_ids_values(void **state)
{
	struct fixture *f = *state;
	struct ward_config c;
	struct ward_err err = {0};

	write_json(f->path, "{'ids': {'count': 1}}");
	assert_int_equal(config_load(f->path, true, &c, &err), 0);
	assert_int_equal(c.id_pool_start, 700000000);
	assert_int_equal(c.id_pool_size, 65536000);
	assert_int_equal(c.id_count, 1);
	config_free(&c);

	/* One range: the pool is exactly one tenant's. */
	write_json(f->path, "{'ids': {'pool_start': 65536, 'pool_size': 65536}}");
	assert_int_equal(config_load(f->path, true, &c, &err), 0);
	assert_int_equal(c.id_pool_start, 65536);
	assert_int_equal(c.id_pool_size, 65536);
	assert_int_equal(c.id_count, 65536);
	config_free(&c);

	/* Up to the last uid a tenant may have. */
	write_json(f->path,
		   "{'ids': {'pool_start': 4294901759, 'pool_size': 65536, 'count': 16384}}");
	assert_int_equal(config_load(f->path, true, &c, &err), 0);
	assert_int_equal(c.id_pool_start, 4294901759u);
	assert_int_equal(c.id_pool_size, 65536);
	assert_int_equal(c.id_count, 16384);
	config_free(&c);

	/* The largest range a profile may name. */
	write_json(f->path, "{'ids': {'count': 16777216}}");
	assert_int_equal(config_load(f->path, true, &c, &err), 0);
	assert_int_equal(c.id_count, 16777216);
	config_free(&c);

	write_json(f->path, "{'ids': {}, 'templates_dir': '/t'}");
	assert_int_equal(config_load(f->path, true, &c, &err), 0);
	assert_int_equal(c.id_pool_start, 700000000);
	assert_string_equal(c.templates_dir, "/t");
	config_free(&c);
}

/* Each network key alone; the others keep their defaults. */
static void test_network_values(void **state)
{
	struct fixture *f = *state;
	struct ward_config c;
	struct ward_err err = {0};

	/* A pool as small as one /29, taken as the subnet size too. */
	write_json(f->path, "{'network': {'pool': '192.168.7.8/29', 'prefix': 29}}");
	assert_int_equal(config_load(f->path, true, &c, &err), 0);
	assert_int_equal(c.net_pool.addr, 0xc0a80708);
	assert_int_equal(c.net_pool.prefix, 29);
	assert_int_equal(c.net_prefix, 29);
	assert_null(c.net_uplink);
	assert_null(c.net_allocations);
	config_free(&c);

	/* The prefix may equal the pool's: one subnet, the whole pool. */
	write_json(f->path, "{'network': {'prefix': 16}}");
	assert_int_equal(config_load(f->path, true, &c, &err), 0);
	assert_int_equal(c.net_pool.addr, 0x0af00000);
	assert_int_equal(c.net_prefix, 16);
	config_free(&c);

	/* A wider pool keeps the default /24 subnets. */
	write_json(f->path, "{'network': {'pool': '10.0.0.0/8'}}");
	assert_int_equal(config_load(f->path, true, &c, &err), 0);
	assert_int_equal(c.net_pool.addr, 0x0a000000);
	assert_int_equal(c.net_pool.prefix, 8);
	assert_int_equal(c.net_prefix, 24);
	config_free(&c);

	/* Fifteen characters, every allowed kind; "WRD" is not ward's. */
	write_json(f->path, "{'network': {'uplink': 'WRD_br-0.9aZzz'}}");
	assert_int_equal(config_load(f->path, true, &c, &err), 0);
	assert_string_equal(c.net_uplink, "WRD_br-0.9aZzz");
	config_free(&c);

	write_json(f->path, "{'network': {'uplink': null, 'allocations': '/x/net.json'}}");
	assert_int_equal(config_load(f->path, true, &c, &err), 0);
	assert_null(c.net_uplink);
	assert_string_equal(c.net_allocations, "/x/net.json");
	config_free(&c);

	write_json(f->path, "{'network': {}}");
	assert_int_equal(config_load(f->path, true, &c, &err), 0);
	assert_defaults(&c);
	config_free(&c);
}

/* What the file leaves out keeps its default; null disables a group. */
static void test_partial_file_and_null_group(void **state)
{
	struct fixture *f = *state;
	struct ward_config c;
	struct ward_err err = {0};

	write_json(f->path,
		   "{'control': {'socket_group': null, 'admin_group': null},\n"
		   " 'logs': {'max_bytes': 4096, 'keep': 100}, 'audit': {'fsync': 'each'}}");
	assert_int_equal(config_load(f->path, true, &c, &err), 0);
	assert_null(c.socket_group);
	assert_null(c.admin_group);
	assert_string_equal(c.operator_group, "ward-operators");
	assert_string_equal(c.viewer_group, "ward-viewers");
	assert_string_equal(c.tenants_dir, "/etc/ward/tenants");
	assert_int_equal(c.log_max_bytes, 4096);
	assert_int_equal(c.log_keep, 100);
	assert_true(c.audit_fsync_each);
	config_free(&c);
}

struct bad_case {
	const char *name;
	const char *json;  /* single-quoted */
	const char *error; /* after "FILE:" */
};

static const struct bad_case bad_cases[] = {
    {"root_not_object", "[1]", "1:1: expected object, got array"},
    {"unknown_key", "{'tenants_dir': '/t', 'colour': 1}", "1:33: colour: unknown key"},
    {"tenants_dir_type", "{'tenants_dir': 1}", "1:17: tenants_dir: expected string, got integer"},
    {"state_dir_relative", "{'state_dir': 'run/ward'}",
     "1:15: state_dir: must be an absolute path, got \"run/ward\""},
    {"log_dir_type", "{'log_dir': null}", "1:13: log_dir: expected string, got null"},
    {"log_dir_nul", "{'log_dir': '/a\\u0000b'}", "1:13: log_dir: must not contain NUL characters"},
    {"data_dir_type", "{'data_dir': ['/x']}", "1:14: data_dir: expected string, got array"},
    {"data_dir_relative", "{'data_dir': ''}", "1:14: data_dir: must be an absolute path, got \"\""},
    {"policy_dirs_type", "{'policy_dirs': '/p'}", "1:17: policy_dirs: expected array, got string"},
    {"policy_dirs_relative", "{'policy_dirs': ['/a', 'b']}",
     "1:24: policy_dirs[1]: must be an absolute path, got \"b\""},
    {"policy_dirs_item_type", "{\n  'policy_dirs': [\n    '/a',\n    7\n  ]\n}",
     "4:5: policy_dirs[1]: expected string, got integer"},
    {"policy_dirs_too_many",
     "{'policy_dirs': ['/1','/2','/3','/4','/5','/6','/7','/8','/9','/a','/b','/c','/d','/e',"
     "'/f','/g','/h']}",
     "1:17: policy_dirs: at most 16 directories"},
    {"control_type", "{'control': 'ward'}", "1:13: control: expected object, got string"},
    {"control_unknown", "{'control': {'group': 'x'}}", "1:23: control.group: unknown key"},
    {"socket_group_type", "{'control': {'socket_group': 5}}",
     "1:30: control.socket_group: expected string or null, got integer"},
    {"operator_group_bad", "{\n  'control': {\n    'operator_group': 'Ward Ops'\n  }\n}",
     "3:23: control.operator_group: invalid group name \"Ward Ops\": must match "
     "[a-z_][a-z0-9_-]{0,31}"},
    {"viewer_group_too_long", "{'control': {'viewer_group': 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'}}",
     "1:30: control.viewer_group: invalid group name \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\": "
     "must match [a-z_][a-z0-9_-]{0,31}"},
    {"viewer_group_digit_first", "{'control': {'viewer_group': '1ward'}}",
     "1:30: control.viewer_group: invalid group name \"1ward\": must match "
     "[a-z_][a-z0-9_-]{0,31}"},
    {"admin_group_empty", "{'control': {'admin_group': ''}}",
     "1:29: control.admin_group: invalid group name \"\": must match [a-z_][a-z0-9_-]{0,31}"},
    {"admin_group_type", "{'control': {'admin_group': true}}",
     "1:29: control.admin_group: expected string or null, got boolean"},
    {"logs_type", "{'logs': []}", "1:10: logs: expected object, got array"},
    {"quota_unknown", "{'quota': {'disk': '1G'}}", "1:20: quota.disk: unknown key"},
    {"quota_size", "{'quota': {'data': '1X'}}",
     "1:20: quota.data: invalid size \"1X\": use bytes or a number with K, M, G or T"},
    {"logs_unknown", "{'logs': {'max_size': 1}}", "1:23: logs.max_size: unknown key"},
    {"max_bytes_bad", "{'logs': {'max_bytes': '10MB'}}",
     "1:24: logs.max_bytes: invalid size \"10MB\": use bytes or a number with K, M, G or T"},
    {"max_bytes_type", "{'logs': {'max_bytes': 1.5}}",
     "1:24: logs.max_bytes: expected integer or string, got number"},
    {"max_bytes_zero", "{'logs': {'max_bytes': 0}}",
     "1:24: logs.max_bytes: must be at least 1 byte, got 0"},
    {"max_bytes_zero_string", "{'logs': {'max_bytes': '0K'}}",
     "1:24: logs.max_bytes: must be at least 1 byte, got \"0K\""},
    {"max_bytes_huge", "{'logs': {'max_bytes': '99999999T'}}",
     "1:24: logs.max_bytes: size \"99999999T\" is too large"},
    {"keep_type", "{'logs': {'keep': '5'}}", "1:19: logs.keep: expected integer, got string"},
    {"keep_too_many", "{'logs': {'keep': 101}}",
     "1:19: logs.keep: must be between 0 and 100, got 101"},
    {"keep_negative", "{'logs': {'keep': -1}}",
     "1:19: logs.keep: must be between 0 and 100, got -1"},
    {"audit_type", "{'audit': 'each'}", "1:11: audit: expected object, got string"},
    {"fsync_bad", "{'audit': {'fsync': 'always'}}",
     "1:21: audit.fsync: must be \"each\" or \"turn\", got \"always\""},
    {"fsync_type", "{'audit': {'fsync': true}}", "1:21: audit.fsync: expected string, got boolean"},
    {"audit_burst_zero", "{'audit': {'refused_burst': 0}}",
     "1:29: audit.refused_burst: must be between 1 and 10000, got 0"},
    {"audit_window_type", "{'audit': {'refused_window_s': '60'}}",
     "1:32: audit.refused_window_s: expected integer, got string"},
    {"audit_max_bytes_bad", "{'audit': {'max_bytes': '10Q'}}",
     "1:25: audit.max_bytes: invalid size \"10Q\": use bytes or a number with K, M, G or T"},
    {"audit_unknown", "{'audit': {'fsync': 'each', 'path': '/x'}}",
     "1:37: audit.path: unknown key"},
    {"quoted_control_chars", "{'state_dir': 'x\\u001b[31m'}",
     "1:15: state_dir: must be an absolute path, got \"x\\x1b[31m\""},
    {"network_type", "{'network': '10.240.0.0/16'}", "1:13: network: expected object, got string"},
    {"network_unknown", "{'network': {'pool': '10.0.0.0/8', 'subnet': '10.1.0.0/16'}}",
     "1:46: network.subnet: unknown key"},
    {"pool_type", "{'network': {'pool': 10}}", "1:22: network.pool: expected string, got integer"},
    {"pool_null", "{'network': {'pool': null}}", "1:22: network.pool: expected string, got null"},
    {"pool_malformed", "{'network': {'pool': '10.240.0/16'}}",
     "1:22: network.pool: invalid CIDR \"10.240.0/16\": must be an IPv4 network address and "
     "prefix with the host bits zero, such as \"10.240.0.0/16\""},
    {"pool_host_bits", "{'network': {'pool': '10.240.1.0/16'}}",
     "1:22: network.pool: invalid CIDR \"10.240.1.0/16\": must be an IPv4 network address and "
     "prefix with the host bits zero, such as \"10.240.0.0/16\""},
    {"pool_no_prefix", "{'network': {'pool': '10.240.0.0'}}",
     "1:22: network.pool: invalid CIDR \"10.240.0.0\": must be an IPv4 network address and "
     "prefix with the host bits zero, such as \"10.240.0.0/16\""},
    {"pool_too_small", "{'network': {'pool': '10.240.0.0/30', 'prefix': 30}}",
     "1:22: network.pool: must hold at least one /29 subnet, got \"10.240.0.0/30\""},
    {"pool_smaller_than_default_prefix", "{'network': {\n  'pool': '10.240.0.0/25'\n}}",
     "2:11: network.pool: a /25 pool cannot hold the default /24 subnets: set network.prefix"},
    {"prefix_type", "{'network': {'prefix': '24'}}",
     "1:24: network.prefix: expected integer, got string"},
    {"prefix_float", "{'network': {'prefix': 24.0}}",
     "1:24: network.prefix: expected integer, got number"},
    {"prefix_too_long", "{'network': {'prefix': 30}}",
     "1:24: network.prefix: must be between 16 (the pool's prefix) and 29, got 30"},
    {"prefix_wider_than_pool", "{'network': {'pool': '10.240.0.0/20', 'prefix': 19}}",
     "1:49: network.prefix: must be between 20 (the pool's prefix) and 29, got 19"},
    {"prefix_negative", "{'network': {'prefix': -24}}",
     "1:24: network.prefix: must be between 16 (the pool's prefix) and 29, got -24"},
    {"uplink_type", "{'network': {'uplink': 1}}",
     "1:24: network.uplink: expected string or null, got integer"},
    {"uplink_empty", "{'network': {'uplink': ''}}",
     "1:24: network.uplink: invalid interface name \"\": must match [A-Za-z0-9_.-]{1,15}"},
    {"uplink_too_long", "{'network': {'uplink': 'eth0123456789abc'}}",
     "1:24: network.uplink: invalid interface name \"eth0123456789abc\": must match "
     "[A-Za-z0-9_.-]{1,15}"},
    {"uplink_slash", "{'network': {'uplink': 'eth0/1'}}",
     "1:24: network.uplink: invalid interface name \"eth0/1\": must match [A-Za-z0-9_.-]{1,15}"},
    {"uplink_colon", "{'network': {'uplink': 'eth0:1'}}",
     "1:24: network.uplink: invalid interface name \"eth0:1\": must match [A-Za-z0-9_.-]{1,15}"},
    {"uplink_dotdot", "{'network': {'uplink': '..'}}",
     "1:24: network.uplink: invalid interface name \"..\": must match [A-Za-z0-9_.-]{1,15}"},
    {"uplink_ward_link", "{'network': {'uplink': 'wrd0af00302'}}",
     "1:24: network.uplink: interface name \"wrd0af00302\" starts with \"wrd\", which is kept "
     "for ward's own links"},
    {"allocations_relative", "{'network': {'allocations': 'network.json'}}",
     "1:29: network.allocations: must be an absolute path, got \"network.json\""},
    {"allocations_null", "{'network': {'allocations': null}}",
     "1:29: network.allocations: expected string, got null"},
    {"templates_dir_relative", "{'templates_dir': 'templates'}",
     "1:19: templates_dir: must be an absolute path, got \"templates\""},
    {"templates_dir_type", "{'templates_dir': null}",
     "1:19: templates_dir: expected string, got null"},
    {"ids_type", "{'ids': 65536}", "1:9: ids: expected object, got integer"},
    {"ids_unknown", "{'ids': {'uid': 200000}}", "1:17: ids.uid: unknown key"},
    {"pool_start_low", "{'ids': {'pool_start': 65535}}",
     "1:24: ids.pool_start: must be between 65536 and 4294967294, got 65535"},
    {"subuid_relative", "{'ids': {'subuid': 'etc/subuid'}}",
     "1:20: ids.subuid: must be an absolute path, got \"etc/subuid\""},
    {"subgid_null", "{'ids': {'subgid': null}}", "1:20: ids.subgid: expected string, got null"},
    {"pool_start_type", "{'ids': {'pool_start': '1000000'}}",
     "1:24: ids.pool_start: expected integer, got string"},
    {"pool_start_negative", "{'ids': {'pool_start': -1}}",
     "1:24: ids.pool_start: must be between 65536 and 4294967294, got -1"},
    {"pool_start_high", "{'ids': {'pool_start': 4294967295}}",
     "1:24: ids.pool_start: must be between 65536 and 4294967294, got 4294967295"},
    {"pool_size_zero", "{'ids': {'pool_size': 0}}",
     "1:23: ids.pool_size: must be between 1 and 4294901759, got 0"},
    {"pool_size_float", "{'ids': {'pool_size': 1e6}}",
     "1:23: ids.pool_size: expected integer, got number"},
    {"count_zero", "{'ids': {'count': 0}}",
     "1:19: ids.count: must be between 1 and 16777216, got 0"},
    {"count_huge", "{'ids': {'count': 16777217}}",
     "1:19: ids.count: must be between 1 and 16777216, got 16777217"},
    {"pool_smaller_than_count", "{'ids': {'pool_size': 65535}}",
     "1:23: ids.pool_size: must hold at least one range of 65536 uids (ids.count), got 65535"},
    {"count_larger_than_pool", "{'ids': {'count': 1000, 'pool_size': 999}}",
     "1:38: ids.pool_size: must hold at least one range of 1000 uids (ids.count), got 999"},
    {"pool_past_last_uid", "{'ids': {'pool_start': 4294901760, 'pool_size': 65536}}",
     "1:49: ids.pool_size: the pool ends at uid 4294967295, past the last tenant uid "
     "4294967294 (pool_start + pool_size - 1)"},
    {"default_pool_past_last_uid", "{'ids': {'pool_start': 4290000000}}",
     "1:24: ids.pool_start: the pool ends at uid 4355535999, past the last tenant uid "
     "4294967294 (pool_start + pool_size - 1)"},
    /* syntax: jansson's message, at jansson's position */
    {"syntax_trailing_comma", "{'tenants_dir': '/t',\n}", "2:1: string or '}' expected near '}'"},
    {"syntax_duplicate", "{'log_dir': '/a', 'log_dir': '/b'}",
     "1:27: duplicate object key near '\"log_dir\"'"},
    {"syntax_empty", "", "1:0: '[' or '{' expected near end of file"},
};

static void test_bad_files(void **state)
{
	struct fixture *f = *state;
	int failures = 0;

	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *b = &bad_cases[i];
		struct ward_config c;
		struct ward_err err = {0};
		char expected[1024];

		write_json(f->path, b->json);
		snprintf(expected, sizeof(expected), "%s:%s", f->path, b->error);
		int r = config_load(f->path, true, &c, &err);
		if (r != -1 || strcmp(err.msg, expected) != 0) {
			print_error("%s: got %d \"%s\"\n    want \"%s\"\n", b->name, r, err.msg,
				    expected);
			failures++;
		}
		assert_empty(&c);
	}
	assert_int_equal(failures, 0);
}

/* The settings decide who may command the daemon. */
static void test_refuses_writable_file(void **state)
{
	struct fixture *f = *state;
	struct ward_config c;
	struct ward_err err = {0};
	char expected[256];

	write_json(f->path, "{}");
	assert_int_equal(chmod(f->path, 0664), 0);
	assert_int_equal(config_load(f->path, false, &c, &err), -1);
	snprintf(expected, sizeof(expected), "%s: writable by group or others (mode 664)", f->path);
	assert_string_equal(err.msg, expected);

	assert_int_equal(chmod(f->path, 0646), 0);
	assert_int_equal(config_load(f->path, false, &c, &err), -1);

	if (geteuid() == 0) {
		assert_int_equal(chmod(f->path, 0644), 0);
		assert_int_equal(chown(f->path, 1234, 0), 0);
		assert_int_equal(config_load(f->path, false, &c, &err), -1);
		snprintf(expected, sizeof(expected), "%s: owned by uid 1234, must be owned by root",
			 f->path);
		assert_string_equal(err.msg, expected);
	}
}

static void test_refuses_directory(void **state)
{
	struct fixture *f = *state;
	struct ward_config c;
	struct ward_err err = {0};
	char expected[256];

	assert_int_equal(mkdir(f->path, 0755), 0);
	assert_int_equal(config_load(f->path, false, &c, &err), -1);
	snprintf(expected, sizeof(expected), "%s: not a regular file", f->path);
	assert_string_equal(err.msg, expected);
}

static void test_config_set(void **state)
{
	struct fixture *f = *state;
	struct ward_config c;
	struct ward_err err = {0};
	char flag[] = "/from/a/flag";

	assert_int_equal(config_load(f->path, false, &c, &err), 0);
	assert_int_equal(config_set(&c.state_dir, flag), 0);
	/* cppcheck-suppress unreadVariable ; the write is the test: config_set copied */
	flag[1] = 'X'; /* a copy, not the caller's buffer */
	assert_string_equal(c.state_dir, "/from/a/flag");
	assert_int_equal(config_set(&c.viewer_group, NULL), 0);
	assert_null(c.viewer_group);
	assert_int_equal(config_set(&c.policy_dirs[c.n_policy_dirs++], "/p"), 0);
	assert_string_equal(c.policy_dirs[0], "/p");
	config_free(&c); /* under valgrind: the old values were freed */
	config_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_defaults_missing_file, setup,
					    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_missing_file_must_exist, setup,
					    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_empty_object_is_defaults, setup,
					    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_full_file, setup, test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_partial_file_and_null_group, setup,
					    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_network_values, setup, test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_ids_values, setup, test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_bad_files, setup, test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_refuses_writable_file, setup,
					    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_refuses_directory, setup, test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_config_set, setup, test_fixture_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
