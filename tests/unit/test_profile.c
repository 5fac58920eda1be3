/* Unit tests of the profile loader: a full profile into the struct, merging
 * of fragments, malformed profiles with the exact file, line, column, path
 * and message of every error, and the small parsers beside it. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <unistd.h>

#include "model/names.h"
#include "model/profile.h"

#define FIXTURES WARD_SOURCE_ROOT "/tests/unit/fixtures"
#define SHIPPED  WARD_SOURCE_ROOT "/profiles/policies"
/* Test profiles are loaded from memory under this name: its ../policies is
 * the fixtures' policy directory. */
#define PROFILE FIXTURES "/profiles/p.json"

static const char *const policy_dirs[] = {FIXTURES "/policies", SHIPPED};
static const struct profile_options opts = {.policy_dirs = policy_dirs, .n_policy_dirs = 2};

/* JSON is written with single quotes here, to read well inside C strings. */
static char *dq(const char *s)
{
	char *d = strdup(s);
	assert_non_null(d);
	for (char *p = d; *p; p++)
		if (*p == '\'')
			*p = '"';
	return d;
}

/* One line per error: "LINE:COL: PATH: MESSAGE", prefixed by the file
 * (relative to the fixtures) when it is not the profile itself. */
static char *render(const struct ward_diag *d)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	assert_non_null(f);
	for (size_t i = 0; i < d->n; i++) {
		const struct ward_diag_entry *e = &d->v[i];
		if (strcmp(e->file, PROFILE) != 0) {
			const char *rel = strncmp(e->file, FIXTURES "/", strlen(FIXTURES "/")) == 0
					      ? e->file + strlen(FIXTURES "/")
					      : e->file;
			fprintf(f, "%s:", rel);
		}
		if (e->line)
			fprintf(f, "%u:%u: ", e->line, e->col);
		if (e->path[0])
			fprintf(f, "%s: ", e->path);
		fprintf(f, "%s\n", e->message);
	}
	assert_int_equal(fclose(f), 0);
	return out;
}

/* Loads raw bytes; returns the rendered errors ("" when it loaded). */
static char *load_raw(const char *data, size_t len, const struct profile_options *o,
		      struct ward_tenant **t)
{
	struct ward_diag d = {0};
	int r = profile_load_buffer(PROFILE, data, len, o, t, &d);
	char *errors = render(&d);

	assert_int_equal(r, d.n ? -1 : 0);
	diag_free(&d);
	return errors;
}

static struct ward_tenant *load_ok(const char *sq)
{
	char *json = dq(sq), *errors;
	struct ward_tenant *t = NULL;

	errors = load_raw(json, strlen(json), &opts, &t);
	assert_string_equal(errors, "");
	assert_non_null(t);
	free(errors);
	free(json);
	return t;
}

static char *load_bad_bytes(const char *data, size_t len)
{
	struct ward_tenant *t = NULL;
	char *errors = load_raw(data, len, &opts, &t);

	assert_null(t);
	assert_string_not_equal(errors, "");
	return errors;
}

static char *load_bad(const char *sq)
{
	char *json = dq(sq);
	char *errors = load_bad_bytes(json, strlen(json));

	free(json);
	return errors;
}

/* ======================================================================
 * Malformed profiles: each with the exact errors it must produce
 * ====================================================================== */

struct bad_case {
	const char *name;
	const char *json;   /* single-quoted */
	const char *errors; /* as render() writes them */
};

static const struct bad_case bad_cases[] = {
    /* the document, its root keys, names */
    {"root_not_object", "[1]", "1:1: expected object, got array\n"},
    {"root_missing_required", "{'display_name': 'x'}",
     "1:1: missing required key \"tenant\"\n"
     "1:1: missing required key \"services\"\n"},
    {"root_unknown_key",
     "{'tenant': 't', 'tenants': 2, 'services': {'a': {'exec': ['/bin/true']}}}",
     "1:28: tenants: unknown key\n"},
    {"tenant_bad_name", "{'tenant': 'Foo', 'services': {'a': {'exec': ['/bin/true']}}}",
     "1:12: tenant: invalid name \"Foo\": must match [a-z][a-z0-9-]{0,23}\n"},
    {"tenant_name_too_long",
     "{'tenant': 'abcdefghijklmnopqrstuvwxy', 'services': {'a': {'exec': ['/bin/true']}}}",
     "1:12: tenant: invalid name \"abcdefghijklmnopqrstuvwxy\": must match [a-z][a-z0-9-]{0,23}\n"},
    {"tenant_wrong_type", "{'tenant': 7, 'services': {'a': {'exec': ['/bin/true']}}}",
     "1:12: tenant: expected string, got integer\n"},
    {"display_name_control",
     "{'tenant': 't', 'display_name': 'a\\u0007b', 'services': {'a': {'exec': ['/bin/true']}}}",
     "1:33: display_name: must not contain control characters\n"},
    {"display_name_empty",
     "{'tenant': 't', 'display_name': '', 'services': {'a': {'exec': ['/bin/true']}}}",
     "1:33: display_name: must be between 1 and 128 characters long, got 0\n"},
    /* the rule of model/names.h: what a terminal acts on is refused, also
     * beyond C0 and C1 (the loader took these before it shared the rule) */
    {"display_name_bidi_override",
     "{'tenant': 't', 'display_name': 'abc\\u202egpj.exe', 'services': {'a': {'exec': "
     "['/bin/true']}}}",
     "1:33: display_name: must not contain control characters\n"},
    {"display_name_bom",
     "{'tenant': 't', 'display_name': '\\ufeffAcme', 'services': {'a': {'exec': ['/bin/true']}}}",
     "1:33: display_name: must not contain control characters\n"},
    {"display_name_line_separator",
     "{'tenant': 't', 'display_name': 'a\\u2028b', 'services': {'a': {'exec': ['/bin/true']}}}",
     "1:33: display_name: must not contain control characters\n"},
    /* jansson refuses invalid UTF-8 before the loader sees a string; the
     * rule would (test_display_name_check) */
    {"display_name_invalid_utf8",
     "{'tenant': 't', 'display_name': 'a\xff' 'b', 'services': {'a': {'exec': ['/bin/true']}}}",
     "1:34: unable to decode byte 0xff near '\"a'\n"},
    {"columns_count_characters",
     "{'display_name': 'Zürich Ärzte', 'tenant': 'Zü', 'services': {'a': {'exec': ['/bin/true']}}}",
     "1:44: tenant: invalid name \"Zü\": must match [a-z][a-z0-9-]{0,23}\n"},
    /* ids */
    {"ids_missing_count",
     "{'tenant': 't', 'ids': {'uid': 200000}, 'services': {'a': {'exec': ['/bin/true']}}}",
     "1:24: ids: missing required key \"count\"\n"},
    {"ids_uid_low",
     "{'tenant': 't', 'ids': {'uid': 1000, 'count': 65536}, 'services': {'a': {'exec': "
     "['/bin/true']}}}",
     "1:32: ids.uid: must be between 65536 and 4294967294, got 1000\n"},
    {"ids_count_zero",
     "{'tenant': 't', 'ids': {'uid': 200000, 'count': 0}, 'services': {'a': {'exec': "
     "['/bin/true']}}}",
     "1:49: ids.count: must be between 1 and 16777216, got 0\n"},
    {"ids_range_overflow",
     "{'tenant': 't', 'ids': {'uid': 4294967000, 'count': 65536}, 'services': {'a': {'exec': "
     "['/bin/true']}}}",
     "1:53: ids.count: uid + count - 1 must be at most 4294967294, got 4295032535\n"},
    {"ids_uid_string",
     "{'tenant': 't', 'ids': {'uid': '200000', 'count': 1}, 'services': {'a': {'exec': "
     "['/bin/true']}}}",
     "1:32: ids.uid: expected integer, got string\n"},
    {"ids_uid_real",
     "{'tenant': 't', 'ids': {'uid': 200000.5, 'count': 1}, 'services': {'a': {'exec': "
     "['/bin/true']}}}",
     "1:32: ids.uid: expected integer, got number\n"},
    {"ids_negative",
     "{'tenant': 't', 'ids': {'uid': -1, 'count': 1}, 'services': {'a': {'exec': ['/bin/true']}}}",
     "1:32: ids.uid: must be between 65536 and 4294967294, got -1\n"},
    /* network */
    {"subnet_host_bits",
     "{'tenant': 't', 'services': {'a': {'exec': ['/bin/true'],\n"
     "'x': 1}},\n"
     " 'network': {'subnet': '10.0.0.1/24'}}",
     "2:6: services.a.x: unknown key\n"
     "3:24: network.subnet: invalid CIDR \"10.0.0.1/24\": host bits must be zero\n"},
    {"subnet_malformed",
     "{'tenant': 't', 'network': {'subnet': '10.0.0/24'}, 'services': {'a': {'exec': "
     "['/bin/true']}}}",
     "1:39: network.subnet: invalid CIDR \"10.0.0/24\": use a.b.c.d/prefix\n"},
    {"subnet_leading_zero",
     "{'tenant': 't', 'network': {'subnet': '10.0.00.0/24'}, 'services': {'a': {'exec': "
     "['/bin/true']}}}",
     "1:39: network.subnet: invalid CIDR \"10.0.00.0/24\": use a.b.c.d/prefix\n"},
    {"subnet_prefix",
     "{'tenant': 't', 'network': {'subnet': '10.0.0.0/31'}, 'services': {'a': {'exec': "
     "['/bin/true']}}}",
     "1:39: network.subnet: subnet prefix must be between /8 and /30, got /31\n"},
    {"egress_needs_ports",
     "{'tenant': 't', 'network': {'egress': [{'to': '192.0.2.0/24'}]}, 'services': {'a': {'exec': "
     "['/bin/true']}}}",
     "1:40: network.egress[0]: missing required key \"tcp\" or \"udp\"\n"},
    {"egress_bad_ports",
     "{'tenant': 't', 'network': {'egress': [{'to': '0.0.0.0/0', 'tcp': [0, 443, 70000], 'udp': "
     "[]}]}, 'services': {'a': {'exec': ['/bin/true']}}}",
     "1:68: network.egress[0].tcp[0]: must be between 1 and 65535, got 0\n"
     "1:76: network.egress[0].tcp[2]: must be between 1 and 65535, got 70000\n"
     "1:91: network.egress[0].udp: must not be empty\n"},
    {"egress_from",
     "{'tenant': 't', 'network': {'egress': [{'to': '10.0.0.0/8', 'tcp': [1], 'from': ['a', "
     "'b']},\n"
     " {'to': '10.0.0.0/8', 'tcp': [1], 'from': []}]}, 'services': {'a': {'exec': ['/bin/true']}}}",
     "1:87: network.egress[0].from[1]: unknown service \"b\"\n"
     "2:43: network.egress[1].from: must not be empty\n"},
    {"egress_missing_to",
     "{'tenant': 't', 'network': {'egress': [{'tcp': [1], 'port': 2}]}, 'services': {'a': {'exec': "
     "['/bin/true']}}}",
     "1:40: network.egress[0]: missing required key \"to\"\n"
     "1:61: network.egress[0].port: unknown key\n"},
    {"ingress_problems",
     "{'tenant': 't', 'services': {'web': {'exec': ['/bin/true']}}, 'network': {'ingress': [\n"
     " {'host_port': 80, 'service': 'web', 'port': 8080},\n"
     " {'host_port': 80, 'service': 'nope', 'port': 8081},\n"
     " {'host_port': 80, 'service': 'web', 'port': 53, 'proto': 'udp'},\n"
     " {'host_port': 81, 'service': 'web', 'port': 0, 'proto': 'sctp'},\n"
     " {'service': 'web'}]}}",
     "3:16: network.ingress[1].host_port: host_port 80/tcp is already forwarded by ingress[0]\n"
     "3:31: network.ingress[1].service: unknown service \"nope\"\n"
     "5:46: network.ingress[3].port: must be between 1 and 65535, got 0\n"
     "5:58: network.ingress[3].proto: must be \"tcp\" or \"udp\", got \"sctp\"\n"
     "6:2: network.ingress[4]: missing required key \"host_port\"\n"
     "6:2: network.ingress[4]: missing required key \"port\"\n"},
    /* services: exec, after (with cycles), connect */
    {"services_empty", "{'tenant': 't', 'services': {}}", "1:29: services: must not be empty\n"},
    {"services_wrong_type", "{'tenant': 't', 'services': ['a']}",
     "1:29: services: expected object, got array\n"},
    {"service_bad_name", "{'tenant': 't', 'services': {'Web.1': {'exec': ['/bin/true']}}}",
     "1:39: services[\"Web.1\"]: invalid name \"Web.1\": must match [a-z][a-z0-9-]{0,23}\n"},
    {"service_missing_exec", "{'tenant': 't', 'services': {'a': {'policy': []}}}",
     "1:35: services.a: missing required key \"exec\"\n"},
    {"service_unknown_key",
     "{'tenant': 't', 'services': {'a': {'exec': ['/bin/true'],\n"
     "'restart': 'always'}}}",
     "2:12: services.a.restart: unknown key\n"},
    {"exec_empty", "{'tenant': 't', 'services': {'a': {'exec': []}}}",
     "1:44: services.a.exec: must not be empty\n"},
    {"exec_relative", "{'tenant': 't', 'services': {'a': {'exec': ['bin/true']}}}",
     "1:45: services.a.exec[0]: must be an absolute path\n"},
    {"exec_item_type", "{'tenant': 't', 'services': {'a': {'exec': ['/bin/echo', 'hi', 3]}}}",
     "1:64: services.a.exec[2]: expected string, got integer\n"},
    {"exec_nul", "{'tenant': 't', 'services': {'a': {'exec': ['/bin/echo', 'a\\u0000b']}}}",
     "1:58: services.a.exec[1]: must not contain NUL characters\n"},
    {"exec_not_array", "{'tenant': 't', 'services': {'a': {'exec': '/bin/true'}}}",
     "1:44: services.a.exec: expected array, got string\n"},
    {"after_unknown_and_self",
     "{'tenant': 't', 'services': {'a': {'exec': ['/bin/true'],\n"
     "'after': ['a', 'db', 1]}}}",
     "2:11: services.a.after[0]: a service cannot be after itself\n"
     "2:16: services.a.after[1]: unknown service \"db\"\n"
     "2:22: services.a.after[2]: expected string, got integer\n"},
    {"after_cycle",
     "{'tenant': 't', 'services': {\n"
     " 'a': {'exec': ['/bin/true'], 'after': ['c']},\n"
     " 'b': {'exec': ['/bin/true'], 'after': ['a']},\n"
     " 'c': {'exec': ['/bin/true'], 'after': ['b']},\n"
     " 'd': {'exec': ['/bin/true'], 'after': ['a', 'c']}}}",
     "3:41: services.b.after[0]: dependency cycle: a -> c -> b -> a\n"},
    {"connect_problems",
     "{'tenant': 't', 'services': {'a': {'exec': ['/bin/true'],\n"
     "'connect': ['a:80', 'db', 'x:5432', 'a:0', 'a:70000', 'a:53/udp', 'a:53/sctp', 'a:080']}}}",
     "2:21: services.a.connect[1]: invalid connect \"db\": use service:port or service:port/udp\n"
     "2:27: services.a.connect[2]: unknown service \"x\"\n"
     "2:37: services.a.connect[3]: port must be between 1 and 65535, got 0\n"
     "2:44: services.a.connect[4]: invalid connect \"a:70000\": use service:port or "
     "service:port/udp\n"
     "2:67: services.a.connect[6]: invalid connect \"a:53/sctp\": use service:port or "
     "service:port/udp\n"
     "2:80: services.a.connect[7]: invalid connect \"a:080\": use service:port or "
     "service:port/udp\n"},
    /* policy lists and inline fragments */
    {"policy_not_array",
     "{'tenant': 't', 'services': {'a': {'exec': ['/bin/true'],\n"
     "'policy': 'hardened'}}}",
     "2:11: services.a.policy: expected array, got string\n"},
    {"policy_item_type",
     "{'tenant': 't', 'services': {'a': {'exec': ['/bin/true'],\n"
     "'policy': [true, 'nope', '../../etc/passwd', 'Hardened']}}}",
     "2:12: services.a.policy[0]: expected string or object, got boolean\n"
     "2:18: services.a.policy[1]: unknown policy fragment \"nope\"\n"
     "2:26: services.a.policy[2]: invalid name \"../../etc/passwd\": must match "
     "[a-z][a-z0-9-]{0,23}\n"
     "2:46: services.a.policy[3]: invalid name \"Hardened\": must match [a-z][a-z0-9-]{0,23}\n"},
    {"fragment_unknown_keys",
     "{'tenant': 't', 'services': {'a': {'exec': ['/bin/true'],\n"
     "'policy': [{'sandbox': true, 'limits': {'ram': 1}, 'seccomp': {'allowed': []}}]}}}",
     "2:24: services.a.policy[0].sandbox: unknown key\n"
     "2:48: services.a.policy[0].limits.ram: unknown key\n"
     "2:75: services.a.policy[0].seccomp.allowed: unknown key\n"},
    {"fragment_not_object_sections",
     "{'tenant': 't', 'services': {'a': {'exec': ['/bin/true'],\n"
     "'policy': [{'filesystem': [], 'restart': 'always', 'env': ['A=1']}]}}}",
     "2:27: services.a.policy[0].filesystem: expected object, got array\n"
     "2:42: services.a.policy[0].restart: expected object, got string\n"
     "2:59: services.a.policy[0].env: expected object, got array\n"},
    /* filesystem: absolute paths, no ".", "..", "//", targets not "/", /proc, /dev */
    {"fs_bind_paths",
     "{'tenant': 't', 'services': {'a': {'exec': ['/bin/true'],\n"
     "'policy': [{'filesystem': {'ro': ['usr', '/usr/../etc', '/usr//lib', '/usr/./lib', '/usr/', "
     "'/', 7]}}]}}}",
     "2:35: services.a.policy[0].filesystem.ro[0]: must be an absolute path\n"
     "2:42: services.a.policy[0].filesystem.ro[1]: must not contain \"..\" components\n"
     "2:57: services.a.policy[0].filesystem.ro[2]: must not contain \"//\" or end with \"/\"\n"
     "2:70: services.a.policy[0].filesystem.ro[3]: must not contain \".\" components\n"
     "2:84: services.a.policy[0].filesystem.ro[4]: must not contain \"//\" or end with \"/\"\n"
     "2:93: services.a.policy[0].filesystem.ro[5]: must not be \"/\"\n"
     "2:98: services.a.policy[0].filesystem.ro[6]: expected string or object, got integer\n"},
    {"fs_bind_objects",
     "{'tenant': 't', 'services': {'a': {'exec': ['/bin/true'],\n"
     "'policy': [{'filesystem': {'rw': [{'src': '/srv/x'}, {'src': '/', 'dst': '/'}, {'src': 'a', "
     "'dst': '/b', 'mode': 1}]}}]}}}",
     "2:35: services.a.policy[0].filesystem.rw[0]: missing required key \"dst\"\n"
     "2:74: services.a.policy[0].filesystem.rw[1].dst: must not be \"/\"\n"
     "2:88: services.a.policy[0].filesystem.rw[2].src: must be an absolute path\n"
     "2:114: services.a.policy[0].filesystem.rw[2].mode: unknown key\n"},
    {"fs_reserved_targets",
     "{'tenant': 't', 'services': {'a': {'exec': ['/bin/true'],\n"
     "'policy': [{'filesystem': {'rw': ['/proc/sys'], 'data': '/dev/shm', 'tmpfs': {'/proc': "
     "'1M'}, 'hide': ['/proc/kcore', '/']}}]}}}",
     "2:35: services.a.policy[0].filesystem.rw[0]: must not be under /proc or /dev: ward provides "
     "them\n"
     "2:57: services.a.policy[0].filesystem.data: must not be under /proc or /dev: ward provides "
     "them\n"
     "2:88: services.a.policy[0].filesystem.tmpfs[\"/proc\"]: must not be under /proc or /dev: "
     "ward provides them\n"
     "2:119: services.a.policy[0].filesystem.hide[1]: must not be \"/\"\n"},
    {"fs_tmpfs",
     "{'tenant': 't', 'services': {'a': {'exec': ['/bin/true'],\n"
     "'policy': [{'filesystem': {'tmpfs': {'tmp': '1M', '/a': '12Q', '/b': 0, '/c': '0K', '/d': "
     "true, '/e': -1}}}]}}}",
     "2:45: services.a.policy[0].filesystem.tmpfs.tmp: must be an absolute path\n"
     "2:57: services.a.policy[0].filesystem.tmpfs[\"/a\"]: invalid size \"12Q\": use bytes or a "
     "number with K, M, G or T\n"
     "2:70: services.a.policy[0].filesystem.tmpfs[\"/b\"]: must not be 0: a tmpfs of size 0 is "
     "unlimited\n"
     "2:79: services.a.policy[0].filesystem.tmpfs[\"/c\"]: must not be 0: a tmpfs of size 0 is "
     "unlimited\n"
     "2:91: services.a.policy[0].filesystem.tmpfs[\"/d\"]: expected integer or string, got "
     "boolean\n"
     "2:103: services.a.policy[0].filesystem.tmpfs[\"/e\"]: must be at least 0, got -1\n"},
    {"fs_data_and_hide_types",
     "{'tenant': 't', 'services': {'a': {'exec': ['/bin/true'],\n"
     "'policy': [{'filesystem': {'data': ['/data'], 'hide': '/etc'}}]}}}",
     "2:36: services.a.policy[0].filesystem.data: expected string, got array\n"
     "2:55: services.a.policy[0].filesystem.hide: expected array, got string\n"},
    /* seccomp */
    {"seccomp_names",
     "{'tenant': 't', 'services': {'a': {'exec': ['/bin/true'],\n"
     "'policy': [{'seccomp': {'allow': ['read', 'fooo', '@foo', '@system-service'], 'deny': "
     "['@Mount', 'ptrace', '']}}]}}}",
     "2:43: services.a.policy[0].seccomp.allow[1]: unknown syscall \"fooo\"\n"
     "2:51: services.a.policy[0].seccomp.allow[2]: unknown syscall group \"@foo\"\n"
     "2:88: services.a.policy[0].seccomp.deny[0]: unknown syscall group \"@Mount\"\n"
     "2:108: services.a.policy[0].seccomp.deny[2]: unknown syscall \"\"\n"},
    {"seccomp_values",
     "{'tenant': 't', 'services': {'a': {'exec': ['/bin/true'],\n"
     "'policy': [{'seccomp': {'default': 'allow', 'log_denied': 'yes', 'abis': ['x86', "
     "'arm']}}]}}}",
     "2:36: services.a.policy[0].seccomp.default: must be \"errno\", \"kill\" or \"log\", got "
     "\"allow\"\n"
     "2:59: services.a.policy[0].seccomp.log_denied: expected boolean, got string\n"
     "2:82: services.a.policy[0].seccomp.abis[1]: must be \"x86\" or \"x32\", got \"arm\"\n"},
    {"seccomp_families",
     "{'tenant': 't', 'services': {'a': {'exec': ['/bin/true'],\n"
     "'policy': [{'seccomp': {'address_families': ['unix', 'AF_INET', 7, 'any']}}, "
     "{'seccomp': {'address_families': 'unix'}}]}}}",
     "2:45: services.a.policy[0].seccomp.address_families: \"any\" stands alone\n"
     "2:54: services.a.policy[0].seccomp.address_families[1]: unknown address family "
     "\"AF_INET\"\n"
     "2:65: services.a.policy[0].seccomp.address_families[2]: expected string, got integer\n"
     "2:111: services.a.policy[1].seccomp.address_families: expected array, got string\n"},
    {"proc_subset",
     "{'tenant': 't', 'services': {'a': {'exec': ['/bin/true'],\n"
     "'policy': [{'filesystem': {'proc_subset': 'none'}}, {'filesystem': {'proc_subset': 1}}]}}}",
     "2:43: services.a.policy[0].filesystem.proc_subset: must be \"all\" or \"pid\", got "
     "\"none\"\n"
     "2:84: services.a.policy[1].filesystem.proc_subset: expected string, got integer\n"},
    /* capabilities */
    {"capabilities",
     "{'tenant': 't', 'services': {'a': {'exec': ['/bin/true'],\n"
     "'policy': [{'capabilities': {'keep': ['CAP_FOO', 'cap_net_raw', 'CAP_NET_RAW', 12]}}]}}}",
     "2:39: services.a.policy[0].capabilities.keep[0]: unknown capability \"CAP_FOO\"\n"
     "2:50: services.a.policy[0].capabilities.keep[1]: unknown capability \"cap_net_raw\"\n"
     "2:80: services.a.policy[0].capabilities.keep[3]: expected string, got integer\n"},
    {"capabilities_keep_type",
     "{'tenant': 't', 'services': {'a': {'exec': ['/bin/true'],\n"
     "'policy': [{'capabilities': {'keep': 'CAP_NET_RAW'}}]}}}",
     "2:38: services.a.policy[0].capabilities.keep: expected array, got string\n"},
    /* limits and sizes */
    {"limits_sizes",
     "{'tenant': 't', 'services': {'a': {'exec': ['/bin/true'],\n"
     "'policy': [{'limits': {'memory': '12Q', 'core': '1.5G'}}]}}}",
     "2:34: services.a.policy[0].limits.memory: invalid size \"12Q\": use bytes or a number with "
     "K, M, G or T\n"
     "2:49: services.a.policy[0].limits.core: invalid size \"1.5G\": use bytes or a number with K, "
     "M, G or T\n"},
    {"limits_size_overflow",
     "{'tenant': 't', 'services': {'a': {'exec': ['/bin/true'],\n"
     "'policy': [{'limits': {'memory': '99999999999T', 'core': ' 1M'}}]}}}",
     "2:34: services.a.policy[0].limits.memory: size \"99999999999T\" is too large\n"
     "2:58: services.a.policy[0].limits.core: invalid size \" 1M\": use bytes or a number with K, "
     "M, G or T\n"},
    {"limits_ranges",
     "{'tenant': 't', 'services': {'a': {'exec': ['/bin/true'],\n"
     "'policy': [{'limits': {'pids': 0, 'cpu': 0, 'nofile': 1048577}}]}}}",
     "2:32: services.a.policy[0].limits.pids: must be at least 1, got 0\n"
     "2:42: services.a.policy[0].limits.cpu: must be greater than 0 and at most 1024, got 0\n"
     "2:55: services.a.policy[0].limits.nofile: must be between 1 and 1048576, got 1048577\n"},
    {"limits_types",
     "{'tenant': 't', 'services': {'a': {'exec': ['/bin/true'],\n"
     "'policy': [{'limits': {'cpu': '1', 'pids': 1.5, 'memory': null}}]}}}",
     "2:31: services.a.policy[0].limits.cpu: expected number, got string\n"
     "2:44: services.a.policy[0].limits.pids: expected integer, got number\n"
     "2:59: services.a.policy[0].limits.memory: expected integer or string, got null\n"},
    {"limits_cpu_high",
     "{'tenant': 't', 'services': {'a': {'exec': ['/bin/true'],\n"
     "'policy': [{'limits': {'cpu': 1024.5}}]}}}",
     "2:31: services.a.policy[0].limits.cpu: must be greater than 0 and at most 1024, got "
     "1024.5\n"},
    /* restart, stop timeout, env, user namespace */
    {"restart_values",
     "{'tenant': 't', 'services': {'a': {'exec': ['/bin/true'],\n"
     "'policy': [{'restart': {'on': 'sometimes', 'delay_ms': -1, 'max_delay_ms': 86400001, "
     "'burst': 0, 'interval_s': 86401}}]}}}",
     "2:31: services.a.policy[0].restart.on: must be \"always\", \"failure\" or \"never\", got "
     "\"sometimes\"\n"
     "2:56: services.a.policy[0].restart.delay_ms: must be between 0 and 86400000, got -1\n"
     "2:76: services.a.policy[0].restart.max_delay_ms: must be between 0 and 86400000, got "
     "86400001\n"
     "2:95: services.a.policy[0].restart.burst: must be between 1 and 1000, got 0\n"
     "2:112: services.a.policy[0].restart.interval_s: must be between 1 and 86400, got 86401\n"},
    {"restart_delays_same_fragment",
     "{'tenant': 't', 'services': {'a': {'exec': ['/bin/true'],\n"
     "'policy': [{'restart': {'delay_ms': 5000, 'max_delay_ms': 10}}]}}}",
     "2:59: services.a.policy[0].restart.max_delay_ms: max_delay_ms 10 is less than delay_ms "
     "5000\n"},
    {"restart_delay_over_default_max",
     "{'tenant': 't', 'services': {'a': {'exec': ['/bin/true'],\n"
     "'policy': [{'restart': {'delay_ms': 60000}}]}}}",
     "2:37: services.a.policy[0].restart.delay_ms: delay_ms 60000 is greater than max_delay_ms "
     "30000\n"},
    {"stop_timeout",
     "{'tenant': 't', 'services': {'a': {'exec': ['/bin/true'],\n"
     "'policy': [{'stop_timeout_s': 0}, {'stop_timeout_s': 3601}]}}}",
     "2:31: services.a.policy[0].stop_timeout_s: must be between 1 and 3600, got 0\n"
     "2:54: services.a.policy[1].stop_timeout_s: must be between 1 and 3600, got 3601\n"},
    {"env_problems",
     "{'tenant': 't', 'services': {'a': {'exec': ['/bin/true'],\n"
     "'policy': [{'env': {'MY.VAR': 'x', '1X': 'y', 'OK': 3, 'GONE': null, 'NUL': 'a\\u0000'}}]}}}",
     "2:31: services.a.policy[0].env[\"MY.VAR\"]: invalid environment variable name \"MY.VAR\": "
     "must match [A-Za-z_][A-Za-z0-9_]*\n"
     "2:42: services.a.policy[0].env.1X: invalid environment variable name \"1X\": must match "
     "[A-Za-z_][A-Za-z0-9_]*\n"
     "2:53: services.a.policy[0].env.OK: expected string or null, got integer\n"
     "2:77: services.a.policy[0].env.NUL: must not contain NUL characters\n"},
    {"user_namespace",
     "{'tenant': 't', 'services': {'a': {'exec': ['/bin/true'],\n"
     "'policy': [{'user_namespace': 'yes'}]}}}",
     "2:31: services.a.policy[0].user_namespace: expected boolean, got string\n"},
    /* sessions */
    {"sessions_missing",
     "{'tenant': 't', 'services': {'a': {'exec': ['/bin/true'],\n"
     "'policy': []}},\n"
     " 'sessions': {'max': 5}}",
     "3:14: sessions: missing required key \"groups\"\n"
     "3:14: sessions: missing required key \"exec\"\n"},
    {"sessions_values",
     "{'tenant': 't', 'services': {'a': {'exec': ['/bin/true'],\n"
     "'policy': []}},\n"
     " 'sessions': {'groups': ['Staff', 'ok_1'], 'service': 'x', 'exec': ['sh'], 'max': 0, "
     "'idle_timeout_s': 86401, 'tty': true}}",
     "3:26: sessions.groups[0]: invalid group name \"Staff\": must match [a-z_][a-z0-9_-]{0,31}\n"
     "3:55: sessions.service: unknown service \"x\"\n"
     "3:69: sessions.exec[0]: must be an absolute path\n"
     "3:83: sessions.max: must be between 1 and 10000, got 0\n"
     "3:104: sessions.idle_timeout_s: must be between 0 and 86400, got 86401\n"
     "3:118: sessions.tty: unknown key\n"},
    /* a session's /proc is its service's: "pid" where the service has "all"
     * would hide nothing */
    {"sessions_proc_subset",
     "{'tenant': 't', 'services': {'a': {'exec': ['/bin/true']},\n"
     "'b': {'exec': ['/bin/true'], 'policy': ['hardened']}},\n"
     " 'sessions': {'groups': ['staff'], 'exec': ['/bin/sh'], 'service': 'a', "
     "'policy': [{'filesystem': {'proc_subset': 'pid'}}]}}",
     "3:83: sessions.policy: filesystem.proc_subset \"pid\" cannot apply: a session sees the "
     "/proc of its service \"a\", whose policy has \"all\"\n"},
    {"sessions_groups_empty",
     "{'tenant': 't', 'services': {'a': {'exec': ['/bin/true'],\n"
     "'policy': []}},\n"
     " 'sessions': {'groups': [], 'exec': ['/bin/sh'], 'policy': [{'limits': {'pids': 0}}]}}",
     "3:25: sessions.groups: must not be empty\n"
     "3:81: sessions.policy[0].limits.pids: must be at least 1, got 0\n"},
    /* named fragments: errors in the fragment file, paths relative to it,
     * each reported once however many services use it */
    {"named_fragment_errors",
     "{'tenant': 't', 'services': {'a': {'exec': ['/bin/true'],\n"
     "'policy': ['bad-values']},\n"
     " 'b': {'exec': ['/bin/true'], 'policy': ['bad-values']}}}",
     "policies/bad-values.json:3:23: seccomp.allow[1]: unknown syscall \"fooo\"\n"
     "policies/bad-values.json:3:31: seccomp.allow[2]: unknown syscall group \"@foo\"\n"
     "policies/bad-values.json:5:25: limits.memory: invalid size \"12Q\": use bytes or a number "
     "with K, M, G or T\n"
     "policies/bad-values.json:6:13: colour: unknown key\n"},
    {"named_fragment_syntax",
     "{'tenant': 't', 'services': {'a': {'exec': ['/bin/true'],\n"
     "'policy': ['broken-syntax']}}}",
     "policies/broken-syntax.json:2:26: string or '}' expected near '}'\n"},
    {"named_fragment_not_object",
     "{'tenant': 't', 'services': {'a': {'exec': ['/bin/true'],\n"
     "'policy': ['not-object']}}}",
     "policies/not-object.json:1:1: expected object, got array\n"},
    /* after merging: an error points where the value was written */
    {"merged_max_from_named_fragment",
     "{'tenant': 't', 'services': {'a': {'exec': ['/bin/true'],\n"
     "'policy': [{'restart': {'delay_ms': 1000}}, 'quickretry']}}}",
     "policies/quickretry.json:3:21: restart.max_delay_ms: max_delay_ms 500 is less than delay_ms "
     "1000\n"},
    {"merged_max_inline_after_named",
     "{'tenant': 't', 'services': {'a': {'exec': ['/bin/true'],\n"
     "'policy': ['slowstart', {'restart': {'max_delay_ms': 1000}}]}}}",
     "2:54: services.a.policy[1].restart.max_delay_ms: max_delay_ms 1000 is less than delay_ms "
     "60000\n"},
    {"merged_delay_inline_shared_by_services",
     "{'tenant': 't', 'services': {'a': {'exec': ['/bin/true'],\n"
     "'policy': [{'restart': {'delay_ms': 40000}}]},\n"
     " 'b': {'exec': ['/bin/true'], 'policy': ['slowstart', 'quickretry']}}}",
     "2:37: services.a.policy[0].restart.delay_ms: delay_ms 40000 is greater than max_delay_ms "
     "30000\n"
     "policies/quickretry.json:3:21: restart.max_delay_ms: max_delay_ms 500 is less than delay_ms "
     "60000\n"},
    /* errors everywhere: every one is reported, in reading order */
    {"many_errors_all_reported",
     "{'tenant': 'Bad Name',\n"
     " 'ids': {'uid': 10, 'count': 1},\n"
     " 'network': {'subnet': '10.0.0.0/33', 'egress': 5},\n"
     " 'services': {\n"
     "  'web': {'exec': ['nginx'], 'policy': ['nope', {'limits': {'memory': 'lots'}}], 'after': "
     "['db']},\n"
     "  'db': {'exec': ['/usr/bin/db'], 'after': ['web'], 'policy': ['bad-values']}},\n"
     " 'sessions': {'groups': ['staff'], 'exec': ['/bin/sh'], 'service': 'nope'},\n"
     " 'extra': null}",
     "1:12: tenant: invalid name \"Bad Name\": must match [a-z][a-z0-9-]{0,23}\n"
     "2:17: ids.uid: must be between 65536 and 4294967294, got 10\n"
     "3:24: network.subnet: invalid CIDR \"10.0.0.0/33\": use a.b.c.d/prefix\n"
     "3:49: network.egress: expected array, got integer\n"
     "5:20: services.web.exec[0]: must be an absolute path\n"
     "5:41: services.web.policy[0]: unknown policy fragment \"nope\"\n"
     "5:71: services.web.policy[1].limits.memory: invalid size \"lots\": use bytes or a number "
     "with K, M, G or T\n"
     "6:45: services.db.after[0]: dependency cycle: web -> db -> web\n"
     "7:68: sessions.service: unknown service \"nope\"\n"
     "8:11: extra: unknown key\n"
     "policies/bad-values.json:3:23: seccomp.allow[1]: unknown syscall \"fooo\"\n"
     "policies/bad-values.json:3:31: seccomp.allow[2]: unknown syscall group \"@foo\"\n"
     "policies/bad-values.json:5:25: limits.memory: invalid size \"12Q\": use bytes or a number "
     "with K, M, G or T\n"
     "policies/bad-values.json:6:13: colour: unknown key\n"},
    /* syntax: jansson's message and position, path "" */
    {"syntax_trailing_comma",
     "{'tenant': 't',\n"
     " 'services': {},}",
     "2:17: string or '}' expected near '}'\n"},
    {"syntax_duplicate_key",
     "{'tenant': 't',\n"
     " 'tenant': 'u', 'services': {}}",
     "2:9: duplicate object key near '\"tenant\"'\n"},
    {"syntax_duplicate_nested",
     "{'tenant': 't', 'services': {'a': {'exec': ['/bin/true'],\n"
     "'exec': ['/bin/false']}}}",
     "2:6: duplicate object key near '\"exec\"'\n"},
    {"syntax_nul_in_key", "{'tenant': 't', 'a\\u0000b': 1}",
     "1:26: NUL byte in object key not supported near '\"a\\u0000b\"'\n"},
    {"syntax_huge_integer", "{'tenant': 't', 'ids': {'uid': 99999999999999999999, 'count': 1}}",
     "1:51: too big integer near '99999999999999999999'\n"},
    {"syntax_huge_real", "{'tenant': 't', 'ids': {'uid': 1e999}}",
     "1:36: real number overflow near '1e999'\n"},
    {"syntax_raw_control", "{'tenant': 't\tx'}", "1:13: control character 0x9 near '\"t'\n"},
    {"syntax_bad_escape", "{'tenant': '\\x41'}", "1:14: invalid escape near '\"\\x'\n"},
    {"syntax_lone_surrogate", "{'tenant': '\\ud800'}",
     "1:19: invalid Unicode '\\uD800' near '\"\\ud800\"'\n"},
    {"syntax_truncated", "{'tenant': 't', 'services': {",
     "1:29: string or '}' expected near end of file\n"},
    {"syntax_trailing_garbage", "{'tenant': 't'} x", "1:17: end of file expected near 'x'\n"},
    {"syntax_scalar_root", "'just a string'",
     "1:15: '[' or '{' expected near '\"just a string\"'\n"},
};

static void test_bad_case(void **state)
{
	const struct bad_case *c = *state;
	char *errors = load_bad(c->json);

	if (strcmp(errors, c->errors) != 0)
		print_error("%s: got\n%s", c->name, errors);
	assert_string_equal(errors, c->errors);
	free(errors);
}

/* ---- malformed input that C strings or a table cannot carry well ---- */

/* A hostile file must not turn a few KiB into gigabytes of messages: at most
 * 100 errors are kept, the rest counted in one last line (found by the
 * fuzzer: a web of `after` reported every cycle, cubically many). */
static void test_errors_capped(void **state)
{
	char *json = NULL, *errors;
	size_t len = 0, lines = 0;
	FILE *f = open_memstream(&json, &len);

	(void)state;
	assert_non_null(f);
	fputs("{\"tenant\": \"t\", \"ids\": {\"uid\": 200000, \"count\": 1}, \"services\": {", f);
	for (int i = 0; i < 150; i++)
		fprintf(f, "%s\"s%d\": {\"exec\": [\"relative\"]}", i ? ", " : "", i);
	fputs("}}", f);
	assert_int_equal(fclose(f), 0);
	errors = load_bad_bytes(json, len);
	for (const char *p = errors; *p; p++)
		lines += *p == '\n';
	assert_int_equal(lines, 101);
	assert_non_null(strstr(errors, "\nand 50 more errors not shown\n"));
	free(errors);
	free(json);
}

/* A key in a path is cut like a value in a message (found by the fuzzer:
 * a 60000-byte service name repeated in 30000 messages). */
static void test_long_key_cut_in_path(void **state)
{
	char *json = NULL, *errors, *end;
	size_t len = 0;
	FILE *f = open_memstream(&json, &len);

	(void)state;
	assert_non_null(f);
	fputs("{\"tenant\": \"t\", \"services\": {\"", f);
	for (int i = 0; i < 5000; i++)
		fputc('a', f);
	fputs("\": {\"exec\": [\"relative\"]}}}", f);
	assert_int_equal(fclose(f), 0);
	errors = load_bad_bytes(json, len);
	end = strstr(errors, "...\"]");
	assert_non_null(end);
	assert_true(strlen(errors) < 400);
	free(errors);
	free(json);
}

static void test_bad_non_utf8(void **state)
{
	static const char json[] = "{\"tenant\": \"caf\xe9\"}";
	char *errors = load_bad_bytes(json, sizeof(json) - 1);

	assert_string_equal(errors, "1:15: unable to decode byte 0xe9 near '\"caf'\n");
	free(errors);
}

static void test_bad_raw_nul_byte(void **state)
{
	static const char json[] = "{\"tenant\": \"t\"}\0";
	char *errors = load_bad_bytes(json, sizeof(json));

	assert_string_equal(errors, "1:16: end of file expected near end of file\n");
	free(errors);
}

static void test_bad_empty(void **state)
{
	char *errors = load_bad_bytes("", 0);

	assert_string_equal(errors, "1:0: '[' or '{' expected near end of file\n");
	free(errors);
}

static char *nested(const char *prefix, size_t depth, const char *suffix)
{
	size_t n = strlen(prefix) + 2 * depth + strlen(suffix) + 1;
	char *s = malloc(n), *p = s;

	assert_non_null(s);
	p += sprintf(p, "%s", prefix);
	memset(p, '[', depth);
	memset(p + depth, ']', depth);
	sprintf(p + 2 * depth, "%s", suffix);
	return s;
}

static void test_bad_deep_nesting(void **state)
{
	char *json = nested("{\"tenant\": ", 5000, "}");
	char *errors = load_bad_bytes(json, strlen(json));

	/* jansson stops at its depth limit (2048) before anything else runs. */
	assert_string_equal(errors, "1:2059: maximum parsing depth reached near '['\n");
	free(errors);
	free(json);
}

static void test_bad_deep_but_parsable(void **state)
{
	char *json =
	    nested("{\"tenant\": \"t\", \"services\": {\"a\": {\"exec\": [\"/bin/true\"]}},\n"
		   " \"junk\": ",
		   2000, "}");
	char *errors = load_bad_bytes(json, strlen(json));

	assert_string_equal(errors, "2:10: junk: unknown key\n");
	free(errors);
	free(json);
}

static void test_bad_path_too_long(void **state)
{
	char path[PATH_MAX + 2], *json, *errors;

	path[0] = '/';
	memset(path + 1, 'a', PATH_MAX);
	path[PATH_MAX] = '\0'; /* PATH_MAX bytes: one too many */
	assert_true(asprintf(&json,
			     "{'tenant': 't', 'services': {'a': {'exec': ['/bin/true'], "
			     "'policy': [{'filesystem': {'hide': ['%s']}}]}}}",
			     path) > 0);
	errors = load_bad(json);
	assert_string_equal(errors, "1:95: services.a.policy[0].filesystem.hide[0]: "
				    "must not be longer than 4095 bytes\n");
	free(errors);
	free(json);
	path[PATH_MAX - 1] = '\0'; /* 4095 bytes: fits */
	assert_true(asprintf(&json,
			     "{'tenant': 't', 'services': {'a': {'exec': ['/bin/true'], "
			     "'policy': [{'filesystem': {'hide': ['%s']}}]}}}",
			     path) > 0);
	tenant_free(load_ok(json));
	free(json);
}

/* The one rule for display names (model/names.h), which the loader,
 * wardctl and the control socket share. */
static void test_display_name_check(void **state)
{
	static const struct {
		const char *s;
		size_t len;
		enum display_name_fault fault;
		size_t chars; /* when OK or LENGTH */
	} cases[] = {
	    {"Acme Clinic", 11, DISPLAY_NAME_OK, 11},
	    {"Z\xc3\xbcrich \xc3\x84rzte", 14, DISPLAY_NAME_OK, 12},
	    {"\xf0\x9f\x8f\xa5 Clinic", 11, DISPLAY_NAME_OK, 8}, /* 4-byte character */
	    {"", 0, DISPLAY_NAME_LENGTH, 0},
	    {"a\x07"
	     "b",
	     3, DISPLAY_NAME_CONTROL, 0},
	    {"a\tb", 3, DISPLAY_NAME_CONTROL, 0},
	    {"a\nb", 3, DISPLAY_NAME_CONTROL, 0},
	    {"a\x7f", 2, DISPLAY_NAME_CONTROL, 0},
	    {"a\0b", 3, DISPLAY_NAME_CONTROL, 0}, /* NUL within len */
	    {"a\xc2\x9b"
	     "31m",
	     6, DISPLAY_NAME_CONTROL, 0}, /* C1 CSI */
	    {"abc\xe2\x80\xae"
	     "exe",
	     9, DISPLAY_NAME_CONTROL, 0}, /* U+202E */
	    {"\xe2\x81\xa6"
	     "x",
	     4, DISPLAY_NAME_CONTROL, 0}, /* U+2066 */
	    {"a\xe2\x80\xa8"
	     "b",
	     5, DISPLAY_NAME_CONTROL, 0}, /* U+2028 */
	    {"\xef\xbb\xbf"
	     "Acme",
	     7, DISPLAY_NAME_CONTROL, 0}, /* BOM */
	    {"a\xff"
	     "b",
	     3, DISPLAY_NAME_NOT_UTF8, 0},
	    {"\xc0\xaf", 2, DISPLAY_NAME_NOT_UTF8, 0},     /* overlong '/' */
	    {"\xed\xa0\x80", 3, DISPLAY_NAME_NOT_UTF8, 0}, /* surrogate */
	    {"ab\xc3", 3, DISPLAY_NAME_NOT_UTF8, 0},       /* cut short */
	    {"\xff\x07", 2, DISPLAY_NAME_NOT_UTF8, 0},     /* the first fault */
	    {"\x07\xff", 2, DISPLAY_NAME_CONTROL, 0},
	};
	char name[129 * 3];
	const char *why;
	size_t chars;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		chars = 99999;
		assert_int_equal(display_name_check(cases[i].s, cases[i].len, &chars, &why),
				 cases[i].fault);
		if (cases[i].fault == DISPLAY_NAME_OK || cases[i].fault == DISPLAY_NAME_LENGTH)
			assert_int_equal(chars, cases[i].chars);
		if (cases[i].fault == DISPLAY_NAME_OK)
			assert_null(why);
		else
			assert_non_null(why);
	}
	assert_int_equal(display_name_check("\xff", 1, NULL, &why), DISPLAY_NAME_NOT_UTF8);
	assert_string_equal(why, "must be valid UTF-8");
	assert_int_equal(display_name_check("\x1b[2J", 4, NULL, &why), DISPLAY_NAME_CONTROL);
	assert_string_equal(why, "must not contain control characters");
	assert_int_equal(display_name_check("", 0, NULL, &why), DISPLAY_NAME_LENGTH);
	assert_string_equal(why, "must be 1 to 128 characters long");
	assert_int_equal(display_name_check("x", 1, NULL, NULL), DISPLAY_NAME_OK);

	/* Characters count, not bytes: 128 of three bytes each pass. */
	for (int i = 0; i < 129; i++) {
		name[3 * i] = '\xe2';
		name[3 * i + 1] = '\x82';
		name[3 * i + 2] = '\xac';
	}
	assert_int_equal(display_name_check(name, 3 * DISPLAY_NAME_MAX, &chars, NULL),
			 DISPLAY_NAME_OK);
	assert_int_equal(chars, DISPLAY_NAME_MAX);
	assert_int_equal(display_name_check(name, 3 * (DISPLAY_NAME_MAX + 1), &chars, NULL),
			 DISPLAY_NAME_LENGTH);
	assert_int_equal(chars, DISPLAY_NAME_MAX + 1);
}

static void test_bad_display_name_length(void **state)
{
	char name[129 * 2 + 1], *json, *errors;

	/* 129 characters of two bytes each: characters count, not bytes. */
	for (int i = 0; i < 129; i++)
		memcpy(name + 2 * i, "\xc3\xa9", 2);
	name[2 * 129] = '\0';
	assert_true(asprintf(&json, "{'tenant': 't', 'display_name': '%s', 'services': {}}", name) >
		    0);
	errors = load_bad(json);
	assert_string_equal(errors, "1:33: display_name: must be between 1 and 128 characters "
				    "long, got 129\n"
				    "1:178: services: must not be empty\n");
	free(errors);
	free(json);
	name[2 * 128] = '\0';
	assert_true(asprintf(&json,
			     "{'tenant': 't', 'display_name': '%s', 'services': {'a': {'exec': "
			     "['/bin/true']}}}",
			     name) > 0);
	struct ward_tenant *t = load_ok(json);
	assert_int_equal(strlen(t->display_name), 256);
	tenant_free(t);
	free(json);
}

static void test_long_dependency_chain(void **state)
{
	/* 20000 services, each after the next, the last after the first: one
	 * cycle through all of them, found without deep recursion. */
	enum { N = 20000 };
	size_t cap = (size_t)N * 80, len = 0;
	char *json = malloc(cap);

	assert_non_null(json);
	len += (size_t)snprintf(json + len, cap - len, "{'tenant': 't', 'services': {");
	for (int i = 0; i < N; i++)
		len += (size_t)snprintf(json + len, cap - len,
					"%s's%d': {'exec': ['/bin/true'], 'after': ['s%d']}",
					i ? ", " : "", i, (i + 1) % N);
	snprintf(json + len, cap - len, "}}");
	char *errors = load_bad(json);
	assert_non_null(
	    strstr(errors, ": services.s19999.after[0]: dependency cycle: s0 -> s1 -> "));
	assert_non_null(strstr(errors, "s19998 -> s19999 -> s0\n"));
	assert_ptr_equal(strchr(errors, '\n'), errors + strlen(errors) - 1); /* one error */
	free(errors);
	free(json);
}

static void test_errors_appended_after_existing(void **state)
{
	struct ward_diag d = {0};
	struct ward_tenant *t = NULL;
	char *a = dq("{'tenant': 'A', 'services': {'a': {'exec': ['/bin/true']}}}");
	char *b = dq("{'tenant': 't', 'services': {'a': {'exec': ['x']}}}");

	assert_int_equal(diag_add(&d, "earlier", 3, 4, "p", "first %d", 1), 0);
	assert_int_equal(profile_load_buffer(PROFILE, a, strlen(a), &opts, &t, &d), -1);
	assert_int_equal(profile_load_buffer(PROFILE, b, strlen(b), &opts, &t, &d), -1);
	assert_null(t);
	char *out = render(&d);
	assert_string_equal(out,
			    "earlier:3:4: p: first 1\n"
			    "1:12: tenant: invalid name \"A\": must match [a-z][a-z0-9-]{0,23}\n"
			    "1:45: services.a.exec[0]: must be an absolute path\n");
	free(out);
	diag_free(&d);
	free(a);
	free(b);
}

/* ---- files ---- */

static char *load_file_errors(const char *path)
{
	struct ward_diag d = {0};
	struct ward_tenant *t = NULL;

	assert_int_equal(profile_load(path, &opts, &t, &d), -1);
	assert_null(t);
	char *out = render(&d);
	diag_free(&d);
	return out;
}

static void test_file_missing(void **state)
{
	char *e = load_file_errors(FIXTURES "/profiles/does-not-exist.json");
	assert_string_equal(
	    e, "profiles/does-not-exist.json:cannot open: No such file or directory\n");
	free(e);
}

static void test_file_not_regular(void **state)
{
	char dir[] = "/tmp/ward-test-XXXXXX", fifo[64];

	assert_non_null(mkdtemp(dir));
	char *e = load_file_errors(dir);
	assert_non_null(strstr(e, ":not a regular file\n"));
	free(e);
	/* A FIFO must be refused, not waited on. */
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	e = load_file_errors(fifo);
	assert_non_null(strstr(e, "/fifo:not a regular file\n"));
	free(e);
	unlink(fifo);
	rmdir(dir);
}

static void test_file_too_large(void **state)
{
	char path[] = "/tmp/ward-test-XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, WARD_PROFILE_MAX_BYTES + 1), 0);
	close(fd);
	char *e = load_file_errors(path);
	assert_non_null(strstr(e, ":larger than 4194304 bytes\n"));
	free(e);
	unlink(path);
}

static void test_file_unreadable_fragment(void **state)
{
	char dir[] = "/tmp/ward-test-XXXXXX", sub[64], *errors, *want;
	struct ward_tenant *t = NULL;
	char *json = dq("{'tenant': 't', 'services': {'a': {'exec': ['/bin/true'], 'policy': "
			"['odd', 'odd']}}}");

	assert_non_null(mkdtemp(dir));
	const char *const dirs[] = {dir};
	const struct profile_options o = {.policy_dirs = dirs, .n_policy_dirs = 1};
	/* A hit that cannot be read ends the search: it is reported, not skipped. */
	assert_true(snprintf(sub, sizeof(sub), "%s/odd.json", dir) < (int)sizeof(sub));
	assert_int_equal(mkdir(sub, 0700), 0);
	errors = load_raw(json, strlen(json), &o, &t);
	assert_null(t);
	assert_true(asprintf(&want,
			     "1:70: services.a.policy[0]: cannot read policy fragment \"odd\": "
			     "%s: not a regular file\n"
			     "1:77: services.a.policy[1]: cannot read policy fragment \"odd\": "
			     "%s: not a regular file\n",
			     sub, sub) > 0);
	assert_string_equal(errors, want);
	free(want);
	free(errors);
	free(json);
	rmdir(sub);
	rmdir(dir);
}

/* The daemon's loads (trusted): a fragment anyone but root could have
 * written decides a service's privileges as much as an untrusted profile
 * would, and is refused as one; `wardctl check` (not trusted) reads it. */
static void untrusted_case(const struct profile_options *o, const char *json, const char *frag,
			   const char *why)
{
	struct ward_tenant *t = NULL;
	struct profile_options trusted = *o;
	char *errors, *want;

	trusted.trusted = true;
	errors = load_raw(json, strlen(json), o, &t);
	assert_string_equal(errors, "");
	assert_non_null(t);
	tenant_free(t);
	free(errors);
	t = NULL;
	errors = load_raw(json, strlen(json), &trusted, &t);
	assert_null(t);
	assert_true(asprintf(&want,
			     "1:70: services.a.policy[0]: cannot read policy fragment \"frag\": "
			     "%s: %s\n",
			     frag, why) > 0);
	assert_string_equal(errors, want);
	free(want);
	free(errors);
}

static void test_file_untrusted_fragment(void **state)
{
	char dir[] = "/tmp/ward-test-XXXXXX", frag[64], real[64];
	struct ward_tenant *t = NULL;
	char *json =
	    dq("{'tenant': 't', 'services': {'a': {'exec': ['/bin/true'], 'policy': ['frag']}}}");
	char *errors;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	const char *const dirs[] = {dir};
	const struct profile_options o = {.policy_dirs = dirs, .n_policy_dirs = 1};
	struct profile_options trusted = o;

	trusted.trusted = true;
	assert_true(snprintf(frag, sizeof(frag), "%s/frag.json", dir) < (int)sizeof(frag));
	assert_true(snprintf(real, sizeof(real), "%s/real.json", dir) < (int)sizeof(real));
	assert_non_null(f = fopen(real, "w"));
	fputs("{\"stop_timeout_s\": 7}\n", f);
	fclose(f);
	assert_int_equal(chmod(real, 0644), 0);
	assert_int_equal(link(real, frag), 0);
	/* Root's, 0644: read in both modes. */
	errors = load_raw(json, strlen(json), &trusted, &t);
	assert_string_equal(errors, "");
	assert_int_equal(t->services[0].policy.stop_timeout_s, 7);
	tenant_free(t);
	free(errors);

	assert_int_equal(chmod(real, 0664), 0);
	untrusted_case(&o, json, frag, "writable by group or others (mode 664)");
	assert_int_equal(chmod(real, 0646), 0);
	untrusted_case(&o, json, frag, "writable by group or others (mode 646)");
	assert_int_equal(chmod(real, 0644), 0);
	if (geteuid() == 0) { /* the unit tests run as root in scripts/test */
		assert_int_equal(chown(real, 4242, 4242), 0);
		untrusted_case(&o, json, frag, "owned by uid 4242, must be owned by root");
		assert_int_equal(chown(real, 0, 0), 0);
	}
	/* A symlink is refused, as a profile that is one is. */
	assert_int_equal(unlink(frag), 0);
	assert_int_equal(symlink(real, frag), 0);
	untrusted_case(&o, json, frag, "a symlink, not a regular file");

	free(json);
	unlink(frag);
	unlink(real);
	rmdir(dir);
}

static void test_file_sibling_policies(void **state)
{
	struct ward_diag d = {0};
	struct ward_tenant *t = NULL;

	/* No directories given: fragments come from PROFILE_DIR/../policies. */
	assert_int_equal(profile_load(FIXTURES "/profiles/sibling.json", NULL, &t, &d), 0);
	assert_int_equal(d.n, 0);
	assert_string_equal(t->source, FIXTURES "/profiles/sibling.json");
	assert_int_equal(t->services[0].policy.stop_timeout_s, 11);
	assert_int_equal(t->services[0].policy.seccomp.default_action, SECCOMP_DEFAULT_KILL);
	tenant_free(t);
}

static void test_file_search_order(void **state)
{
	static const char *const alt[] = {FIXTURES "/policies-alt"};
	static const struct profile_options alt_opts = {.policy_dirs = alt, .n_policy_dirs = 1};
	char *json =
	    dq("{'tenant': 't', 'services': {'a': {'exec': ['/bin/true'], 'policy': "
	       "['order']}, 'b': {'exec': ['/bin/true'], 'policy': ['base', 'alt-only']}}}");
	struct ward_tenant *t = NULL;
	char *errors = load_raw(json, strlen(json), &alt_opts, &t);

	/* The caller's directory wins over the profile's sibling directory. */
	assert_string_equal(errors, "");
	assert_int_equal(t->services[0].policy.stop_timeout_s, 22);
	assert_int_equal(t->services[1].policy.stop_timeout_s, 33);
	tenant_free(t);
	free(errors);
	free(json);
}

static void test_file_shipped_examples(void **state)
{
	static const char *const names[] = {"sunrise", "lakeside"};
	struct ward_diag d = {0};

	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
		char path[512];
		struct ward_tenant *t = NULL;
		snprintf(path, sizeof(path), WARD_SOURCE_ROOT "/profiles/examples/%s.json",
			 names[i]);
		if (profile_load(path, NULL, &t, &d) < 0)
			diag_print(&d, stderr);
		assert_int_equal(d.n, 0);
		assert_string_equal(t->name, names[i]);
		assert_true(t->ids.set && t->ids.uid >= 200000 && t->ids.count == 65536);
		assert_true(t->network.has_subnet);
		tenant_free(t);
	}
}

/* ======================================================================
 * A full valid profile, field by field
 * ====================================================================== */

static const char full_profile[] =
    "{'tenant': 'acme', 'display_name': 'Acme Clinic',\n"
    " 'ids': {'uid': 300000, 'count': 65536},\n"
    " 'network': {'subnet': '10.9.8.0/24',\n"
    "   'egress': [{'to': '192.0.2.0/24', 'tcp': [443, 80], 'udp': [53]}],\n"
    "   'ingress': [{'host_port': 8080, 'service': 'web', 'port': 80},\n"
    "               {'host_port': 8080, 'service': 'web', 'port': 80, 'proto': 'udp'}]},\n"
    " 'services': {\n"
    "   'db': {'exec': ['/usr/bin/db', '--data', '/data'], 'policy': ['base']},\n"
    "   'web': {'exec': ['/usr/bin/web'],\n"
    "           'policy': ['base', 'override', {'env': {'EXTRA': 'yes', 'LANG': null},\n"
    "                                            'limits': {'memory': 1024}}],\n"
    "           'after': ['db'], 'connect': ['db:5432', 'db:53/udp']},\n"
    "   'bare': {'exec': ['/bin/true']}},\n"
    " 'sessions': {'groups': ['acme-staff', '_admins'], 'service': 'web',\n"
    "   'exec': ['/bin/sh', '-l'], 'policy': ['session-locked'], 'max': 3, 'idle_timeout_s': 60}}";

static void assert_strv(char *const *v, size_t n, const char *const *want, size_t n_want)
{
	assert_int_equal(n, n_want);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(v[i], want[i]);
}
#define ASSERT_STRV(v, n, ...)                                                                     \
	do {                                                                                       \
		static const char *const want_[] = {__VA_ARGS__};                                  \
		assert_strv((v), (n), want_, sizeof(want_) / sizeof(*want_));                      \
	} while (0)

static void assert_bind(const struct ward_bind *b, const char *src, const char *dst)
{
	assert_string_equal(b->src, src);
	assert_string_equal(b->dst, dst);
}

#define DEFAULT_DENY                                                                               \
	"@clock", "@cpu-emulation", "@debug", "@module", "@mount", "@obsolete", "@privileged",     \
	    "@raw-io", "@reboot", "@swap"
#define DEFAULT_PATH "PATH=/usr/local/bin:/usr/bin:/bin"

static void test_full_tenant(void **state)
{
	struct ward_tenant *t = load_ok(full_profile);

	assert_string_equal(t->name, "acme");
	assert_string_equal(t->display_name, "Acme Clinic");
	assert_string_equal(t->source, PROFILE);
	assert_true(t->ids.set);
	assert_int_equal(t->ids.uid, 300000);
	assert_int_equal(t->ids.count, 65536);
	assert_int_equal(t->n_services, 3);
	assert_string_equal(t->services[0].name, "db");
	assert_string_equal(t->services[1].name, "web");
	assert_string_equal(t->services[2].name, "bare");
	assert_ptr_equal(tenant_find_service(t, "web"), &t->services[1]);
	assert_null(tenant_find_service(t, "nope"));
	tenant_free(t);
}

static void test_full_network(void **state)
{
	struct ward_tenant *t = load_ok(full_profile);
	const struct ward_network *n = &t->network;

	assert_true(n->present && n->has_subnet);
	assert_int_equal(n->subnet.addr, 0x0A090800);
	assert_int_equal(n->subnet.prefix, 24);
	assert_int_equal(n->n_egress, 1);
	assert_int_equal(n->egress[0].to.addr, 0xC0000200);
	assert_int_equal(n->egress[0].to.prefix, 24);
	assert_int_equal(n->egress[0].n_tcp, 2);
	assert_int_equal(n->egress[0].tcp[0], 443);
	assert_int_equal(n->egress[0].tcp[1], 80);
	assert_int_equal(n->egress[0].n_udp, 1);
	assert_int_equal(n->egress[0].udp[0], 53);
	/* The same host port once per protocol is fine. */
	assert_int_equal(n->n_ingress, 2);
	assert_int_equal(n->ingress[0].host_port, 8080);
	assert_string_equal(n->ingress[0].service, "web");
	assert_int_equal(n->ingress[0].port, 80);
	assert_int_equal(n->ingress[0].proto, IPPROTO_TCP);
	assert_int_equal(n->ingress[1].proto, IPPROTO_UDP);
	tenant_free(t);
}

static void test_full_service_from_one_fragment(void **state)
{
	struct ward_tenant *t = load_ok(full_profile);
	const struct ward_service *s = &t->services[0];
	const struct ward_policy *p = &s->policy;

	ASSERT_STRV(s->exec, s->n_exec, "/usr/bin/db", "--data", "/data");
	assert_null(s->exec[s->n_exec]);
	assert_int_equal(s->n_after, 0);
	assert_int_equal(s->n_connect, 0);
	assert_int_equal(p->filesystem.n_ro, 2);
	assert_bind(&p->filesystem.ro[0], "/usr", "/usr");
	assert_bind(&p->filesystem.ro[1], "/opt/app", "/app");
	assert_int_equal(p->filesystem.n_rw, 0);
	assert_string_equal(p->filesystem.data, "/data");
	assert_int_equal(p->filesystem.n_tmpfs, 2);
	assert_string_equal(p->filesystem.tmpfs[0].path, "/tmp");
	assert_int_equal(p->filesystem.tmpfs[0].size, 64 << 20);
	assert_string_equal(p->filesystem.tmpfs[1].path, "/run");
	assert_int_equal(p->filesystem.tmpfs[1].size, 1048576);
	assert_int_equal(p->filesystem.n_hide, 0);
	assert_int_equal(p->seccomp.default_action, SECCOMP_DEFAULT_KILL);
	ASSERT_STRV(p->seccomp.allow, p->seccomp.n_allow, "@system-service", "ioctl");
	ASSERT_STRV(p->seccomp.deny, p->seccomp.n_deny, DEFAULT_DENY);
	assert_true(p->seccomp.log_denied);
	assert_int_equal(p->seccomp.n_abis, 0);
	assert_int_equal(p->caps_keep, UINT64_C(1) << 10); /* CAP_NET_BIND_SERVICE */
	assert_int_equal(p->limits.memory, 256 << 20);
	assert_int_equal(p->limits.pids, 128);
	assert_true(p->limits.cpu == 0.5);
	assert_int_equal(p->limits.nofile, 1024);
	assert_int_equal(p->limits.core, 0);
	assert_int_equal(p->restart.on, RESTART_ALWAYS);
	assert_int_equal(p->restart.delay_ms, 200);
	assert_int_equal(p->restart.max_delay_ms, 30000);
	assert_int_equal(p->restart.burst, 5);
	assert_int_equal(p->restart.interval_s, 60);
	assert_int_equal(p->stop_timeout_s, 10);
	ASSERT_STRV(p->env, p->n_env, "LANG=C.UTF-8", DEFAULT_PATH, "TZ=UTC");
	assert_true(p->user_namespace);
	tenant_free(t);
}

static void test_full_defaults(void **state)
{
	struct ward_tenant *t = load_ok(full_profile);
	const struct ward_policy *p = &t->services[2].policy;

	/* Fail closed: nothing mounted, the default filter, no capabilities. */
	assert_int_equal(p->filesystem.n_ro + p->filesystem.n_rw + p->filesystem.n_tmpfs +
			     p->filesystem.n_hide,
			 0);
	assert_null(p->filesystem.data);
	assert_false(p->filesystem.proc_pid_only);
	assert_int_equal(p->seccomp.default_action, SECCOMP_DEFAULT_ERRNO);
	ASSERT_STRV(p->seccomp.allow, p->seccomp.n_allow, "@system-service");
	ASSERT_STRV(p->seccomp.deny, p->seccomp.n_deny, DEFAULT_DENY);
	assert_false(p->seccomp.log_denied);
	assert_int_equal(p->seccomp.n_abis, 0);
	assert_true(p->seccomp.restrict_namespaces);
	assert_true(p->seccomp.restrict_families);
	assert_int_equal(p->seccomp.address_families,
			 UINT64_C(1) << AF_UNIX | UINT64_C(1) << AF_INET | UINT64_C(1) << AF_INET6 |
			     UINT64_C(1) << AF_NETLINK);
	assert_int_equal(p->caps_keep, 0);
	assert_int_equal(p->limits.memory, WARD_UNSET);
	assert_int_equal(p->limits.pids, WARD_UNSET);
	assert_true(p->limits.cpu == 0);
	assert_int_equal(p->limits.nofile, 1024);
	assert_int_equal(p->limits.core, 0);
	assert_int_equal(p->restart.on, RESTART_FAILURE);
	assert_int_equal(p->restart.delay_ms, 100);
	assert_int_equal(p->restart.max_delay_ms, 30000);
	assert_int_equal(p->restart.burst, 5);
	assert_int_equal(p->restart.interval_s, 60);
	assert_int_equal(p->stop_timeout_s, 10);
	ASSERT_STRV(p->env, p->n_env, DEFAULT_PATH);
	assert_true(p->user_namespace);
	assert_non_null(t->services[2].digest);
	tenant_free(t);
}

static void test_full_sessions(void **state)
{
	struct ward_tenant *t = load_ok(full_profile);
	const struct ward_sessions *s = &t->sessions;

	assert_true(s->present);
	ASSERT_STRV(s->groups, s->n_groups, "acme-staff", "_admins");
	assert_string_equal(s->service, "web");
	ASSERT_STRV(s->exec, s->n_exec, "/bin/sh", "-l");
	assert_null(s->exec[2]);
	assert_int_equal(s->max, 3);
	assert_int_equal(s->idle_timeout_s, 60);
	/* The shipped session-locked fragment, on its own over the defaults. */
	assert_int_equal(s->policy.restart.on, RESTART_NEVER);
	assert_int_equal(s->policy.caps_keep, 0);
	assert_int_equal(s->policy.limits.memory, 128 << 20);
	assert_int_equal(s->policy.limits.pids, 32);
	assert_int_equal(s->policy.filesystem.n_rw, 0);
	assert_null(s->policy.filesystem.data);
	/* Locked: nothing a session writes can be run. */
	assert_true(s->policy.filesystem.noexec);
	/* and a service's policy without the key: off. */
	assert_false(t->services[0].policy.filesystem.noexec);
	tenant_free(t);
}

static void test_sessions_defaults_and_absence(void **state)
{
	struct ward_tenant *t =
	    load_ok("{'tenant': 't', 'services': {'a': {'exec': ['/bin/true']}}}");

	assert_false(t->sessions.present);
	assert_false(t->network.present);
	assert_false(t->ids.set);
	assert_null(t->display_name);
	tenant_free(t);
	t = load_ok("{'tenant': 't', 'services': {'a': {'exec': ['/bin/true']}},"
		    " 'sessions': {'groups': ['g'], 'exec': ['/bin/sh']}, 'network': {}}");
	assert_true(t->sessions.present);
	assert_int_equal(t->sessions.max, 10);
	assert_int_equal(t->sessions.idle_timeout_s, 0);
	assert_null(t->sessions.service);
	assert_int_equal(t->sessions.policy.stop_timeout_s, 10);
	assert_true(t->network.present);
	assert_false(t->network.has_subnet);
	tenant_free(t);
}

/* ======================================================================
 * Merging fragments
 * ====================================================================== */

static void test_merge_key_by_key(void **state)
{
	struct ward_tenant *t = load_ok(full_profile);
	const struct ward_service *s = &t->services[1];
	const struct ward_policy *p = &s->policy;

	/* Lists are replaced: override's ro, not base's. */
	assert_int_equal(p->filesystem.n_ro, 1);
	assert_bind(&p->filesystem.ro[0], "/srv", "/srv");
	/* Keys an override does not name stay. */
	assert_string_equal(p->filesystem.data, "/data");
	assert_int_equal(p->seccomp.default_action, SECCOMP_DEFAULT_KILL);
	assert_int_equal(p->caps_keep, UINT64_C(1) << 10);
	/* tmpfs merges path by path. */
	assert_int_equal(p->filesystem.n_tmpfs, 2);
	assert_string_equal(p->filesystem.tmpfs[0].path, "/tmp");
	assert_int_equal(p->filesystem.tmpfs[0].size, 64 << 20);
	assert_string_equal(p->filesystem.tmpfs[1].path, "/run");
	assert_int_equal(p->filesystem.tmpfs[1].size, 2 << 20);
	/* limits field by field: inline memory, override pids, base cpu. */
	assert_int_equal(p->limits.memory, 1024);
	assert_int_equal(p->limits.pids, 64);
	assert_true(p->limits.cpu == 0.5);
	assert_false(p->user_namespace);
	ASSERT_STRV(s->after, s->n_after, "db");
	assert_int_equal(s->n_connect, 2);
	assert_string_equal(s->connect[0].service, "db");
	assert_int_equal(s->connect[0].port, 5432);
	assert_int_equal(s->connect[0].proto, IPPROTO_TCP);
	assert_int_equal(s->connect[1].port, 53);
	assert_int_equal(s->connect[1].proto, IPPROTO_UDP);
	tenant_free(t);
}

static void test_merge_env(void **state)
{
	struct ward_tenant *t = load_ok(full_profile);
	const struct ward_policy *p = &t->services[1].policy;

	/* base sets LANG and TZ, override removes TZ and adds APP_MODE, the
	 * inline fragment removes LANG and adds EXTRA; sorted by name. */
	ASSERT_STRV(p->env, p->n_env, "APP_MODE=production", "EXTRA=yes", DEFAULT_PATH);
	assert_null(p->env[p->n_env]);
	tenant_free(t);
	t = load_ok("{'tenant': 't', 'services': {'a': {'exec': ['/bin/true'], 'policy': ["
		    "{'env': {'PATH': null, 'Z': '1', 'A_B': 'x=y', 'A': ''}}]}}}");
	ASSERT_STRV(t->services[0].policy.env, t->services[0].policy.n_env, "A=", "A_B=x=y", "Z=1");
	tenant_free(t);
}

static void test_merge_inline_after_named(void **state)
{
	struct ward_tenant *t = load_ok(
	    "{'tenant': 't', 'services': {"
	    "'a': {'exec': ['/bin/true'], 'policy': ['base', {'seccomp': {'default': 'log'},"
	    " 'filesystem': {'ro': []}}]},"
	    "'b': {'exec': ['/bin/true'], 'policy': [{'seccomp': {'default': 'log'}}, 'base']}}}");
	const struct ward_policy *a = &t->services[0].policy, *b = &t->services[1].policy;

	assert_int_equal(a->seccomp.default_action, SECCOMP_DEFAULT_LOG);
	assert_int_equal(a->filesystem.n_ro, 0);
	/* seccomp merges key by key: base's allow stays under the inline default. */
	ASSERT_STRV(a->seccomp.allow, a->seccomp.n_allow, "@system-service", "ioctl");
	assert_int_equal(b->seccomp.default_action, SECCOMP_DEFAULT_KILL);
	assert_int_equal(b->filesystem.n_ro, 2);
	tenant_free(t);
}

static void test_merge_shipped_fragments(void **state)
{
	struct ward_tenant *t =
	    load_ok("{'tenant': 't', 'services': {"
		    "'w': {'exec': ['/bin/true'], 'policy': ['hardened', 'web']},"
		    "'d': {'exec': ['/bin/true'], 'policy': ['hardened', 'database']}}}");
	const struct ward_policy *w = &t->services[0].policy, *d = &t->services[1].policy;

	assert_int_equal(w->caps_keep, UINT64_C(1) << 10);
	assert_int_equal(w->limits.memory, 512 << 20);
	assert_int_equal(w->limits.nofile, 8192);
	assert_true(w->limits.cpu == 1);
	assert_int_equal(w->restart.on, RESTART_ALWAYS);
	assert_int_equal(w->filesystem.n_tmpfs, 2);
	assert_string_equal(w->filesystem.data, "/data");
	assert_true(w->filesystem.n_ro >= 8);
	/* hardened's /proc holds the processes only; database puts all of it
	 * back (databases size their memory from /proc/meminfo). */
	assert_true(w->filesystem.proc_pid_only);
	assert_false(d->filesystem.proc_pid_only);
	assert_int_equal(d->caps_keep, 0);
	assert_int_equal(d->limits.memory, UINT64_C(2) << 30);
	assert_int_equal(d->limits.nofile, 65536);
	assert_int_equal(d->stop_timeout_s, 90);
	assert_int_equal(d->restart.max_delay_ms, 60000);
	/* profiles/policies/hardened.json's list, as written. */
	ASSERT_STRV(d->seccomp.deny, d->seccomp.n_deny, "@clock", "@cpu-emulation", "@debug",
		    "@keyring", "@module", "@mount", "@obsolete", "@privileged", "@raw-io",
		    "@reboot", "@swap", "io_uring_setup", "io_uring_enter", "io_uring_register",
		    "userfaultfd", "name_to_handle_at");
	tenant_free(t);
}

/* "pid" for a session whose service has "pid" too: nothing to refuse. */
static void test_sessions_proc_subset_as_service(void **state)
{
	struct ward_tenant *t =
	    load_ok("{'tenant': 't', 'services': {'a': {'exec': ['/bin/true'], "
		    "'policy': ['hardened']}},"
		    " 'sessions': {'groups': ['staff'], 'exec': ['/bin/sh'], "
		    "'policy': ['session-locked', {'filesystem': {'proc_subset': 'pid'}}]}}");

	assert_true(t->sessions.policy.filesystem.proc_pid_only);
	assert_true(t->services[0].policy.filesystem.proc_pid_only);
	tenant_free(t);
}

static void test_digest(void **state)
{
	struct ward_tenant *t =
	    load_ok("{'tenant': 't', 'services': {"
		    "'a': {'exec': ['/bin/x', '-v'], 'policy': ['base']},"
		    "'b': {'exec': ['/bin/x', '-v'], 'policy': ['base', {}], 'after': ['a']},"
		    "'c': {'exec': ['/bin/x', '-v'], 'policy': ['base', {'limits': {'pids': 5}}]},"
		    "'d': {'exec': ['/bin/x'], 'policy': ['base']}}}");
	const char *a = t->services[0].digest, *b = t->services[1].digest;

	/* Same program and policy: same digest, wherever it came from. */
	assert_string_equal(a, b);
	assert_string_not_equal(a, t->services[2].digest);
	assert_string_not_equal(a, t->services[3].digest);
	/* Canonical: sorted keys, no blanks, defaults filled in. */
	assert_true(strncmp(a, "{\"exec\":[\"/bin/x\",\"-v\"],\"policy\":{\"capabilities\":", 47) ==
		    0);
	assert_non_null(strstr(a, "\"stop_timeout_s\":10,"));
	assert_null(strchr(a, ' '));
	tenant_free(t);
}

/* ======================================================================
 * Helpers
 * ====================================================================== */

static void test_parse_size(void **state)
{
	static const struct {
		const char *s;
		uint64_t v;
	} good[] = {
	    {"0", 0},
	    {"1024", 1024},
	    {"64K", 64 << 10},
	    {"256M", 256 << 20},
	    {"1G", UINT64_C(1) << 30},
	    {"2T", UINT64_C(2) << 40},
	    {"0064M", 64 << 20},
	    {"16777215T", UINT64_C(16777215) << 40},
	    {"18446744073709551615", UINT64_MAX},
	};
	static const char *const bad[] = {"",   "K",   "1k",   "1m",   "1 M", " 1",  "+1",
					  "-1", "1MB", "1.5M", "0x10", "1e3", "12Q", "M1"};
	static const char *const huge[] = {"16777216T", "18446744073709551616",
					   "99999999999999999999999"};
	uint64_t v;

	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
		assert_int_equal(ward_parse_size(good[i].s, &v), 0);
		assert_int_equal(v, good[i].v);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		errno = 0;
		assert_int_equal(ward_parse_size(bad[i], &v), -1);
		assert_int_equal(errno, EINVAL);
	}
	for (size_t i = 0; i < sizeof(huge) / sizeof(*huge); i++) {
		assert_int_equal(ward_parse_size(huge[i], &v), -1);
		assert_int_equal(errno, ERANGE);
	}
	assert_int_equal(ward_parse_size(NULL, &v), -1);
}

static void test_name_valid(void **state)
{
	static const char *const good[] = {"a", "a-1", "web", "a-", "abcdefghijklmnopqrstuvwx"};
	static const char *const bad[] = {"",
					  "1a",
					  "-a",
					  "A",
					  "aB",
					  "a_b",
					  "a.b",
					  "a b",
					  "a/b",
					  "..",
					  "abcdefghijklmnopqrstuvwxy",
					  "\xc3\xa9"};

	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++)
		assert_true(ward_name_valid(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		assert_false(ward_name_valid(bad[i]));
	assert_false(ward_name_valid(NULL));
}

static void test_parse_cidr(void **state)
{
	static const struct {
		const char *s;
		uint32_t addr;
		uint8_t prefix;
	} good[] = {
	    {"10.0.0.0/8", 0x0A000000, 8},          {"0.0.0.0/0", 0, 0},
	    {"255.255.255.255/32", 0xFFFFFFFF, 32}, {"10.240.3.0/24", 0x0AF00300, 24},
	    {"192.0.2.10/32", 0xC000020A, 32},      {"172.16.0.0/12", 0xAC100000, 12},
	};
	static const char *const bad[] = {
	    "10.0.0.1/24", "10.0.0.0/33", "10.0.0/8",     "10.0.0.0.0/8", "10.0.0.256/32",
	    "010.0.0.0/8", "10.0.0.0/08", "10.0.0.0",     "10.0.0.0/",    " 10.0.0.0/8",
	    "10.0.0.0/8 ", "-1.0.0.0/8",  "10.0.0.0/-1",  "a.b.c.d/8",    "",
	    "1.2.3.4/32/", "10..0.0/8",   "4294967306/8", "1.0.0.0/1",
	};
	struct ward_cidr c;

	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++) {
		assert_int_equal(ward_parse_cidr(good[i].s, &c), 0);
		assert_int_equal(c.addr, good[i].addr);
		assert_int_equal(c.prefix, good[i].prefix);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		if (ward_parse_cidr(bad[i], &c) == 0)
			print_error("accepted %s\n", bad[i]);
		assert_int_equal(ward_parse_cidr(bad[i], &c), -1);
	}
	assert_int_equal(ward_parse_cidr(NULL, &c), -1);
}

static void test_to_string(void **state)
{
	assert_string_equal(seccomp_default_to_string(SECCOMP_DEFAULT_ERRNO), "errno");
	assert_string_equal(seccomp_default_to_string(SECCOMP_DEFAULT_KILL), "kill");
	assert_string_equal(seccomp_default_to_string(SECCOMP_DEFAULT_LOG), "log");
	assert_string_equal(restart_on_to_string(RESTART_ALWAYS), "always");
	assert_string_equal(restart_on_to_string(RESTART_FAILURE), "failure");
	assert_string_equal(restart_on_to_string(RESTART_NEVER), "never");
	assert_null(restart_on_to_string((enum restart_on)42));
}

static void test_diag_print(void **state)
{
	struct ward_diag d = {0};
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	assert_int_equal(diag_add(&d, "a.json", 3, 7, "services.db.exec[0]", "must be %s", "x"), 0);
	assert_int_equal(diag_add(&d, "a.json", 1, 1, "", "missing required key \"%s\"", "tenant"),
			 0);
	assert_int_equal(diag_add(&d, "b.json", 0, 0, "", "cannot open: %s", "No such file"), 0);
	diag_print(&d, f);
	fclose(f);
	assert_string_equal(out, "a.json:3:7: services.db.exec[0]: must be x\n"
				 "a.json:1:1: missing required key \"tenant\"\n"
				 "b.json: cannot open: No such file\n");
	free(out);
	diag_free(&d);
	assert_int_equal(d.n, 0);
	diag_free(&d);
	tenant_free(NULL);
}

static void test_hostile_strings_are_quoted(void **state)
{
	char *errors =
	    load_bad("{'tenant': 'a\\u001b[31mb\\\"c', 'services': {'a': {'exec': ['/bin/true']},"
		     " 'x\\u001by': 1}}");

	/* Control characters reach no terminal: escaped in messages and paths. */
	assert_string_equal(errors,
			    "1:12: tenant: invalid name \"a\\u001b[31mb\\\"c\": must match "
			    "[a-z][a-z0-9-]{0,23}\n"
			    "1:86: services[\"x\\u001by\"]: invalid name \"x\\u001by\": must match "
			    "[a-z][a-z0-9-]{0,23}\n"
			    "1:86: services[\"x\\u001by\"]: expected object, got integer\n");
	free(errors);
}

static void test_long_strings_cut_short(void **state)
{
	char name[301], *json, *errors, want[128];

	memset(name, 'a', 300);
	name[300] = '\0';
	assert_true(asprintf(&json, "{'tenant': '%s', 'services': {'a': {'exec': ['/bin/true']}}}",
			     name) > 0);
	errors = load_bad(json);
	/* Quoted user text stops after 80 bytes, so one message stays one line. */
	snprintf(want, sizeof(want), "1:12: tenant: invalid name \"%.80s...\": must match ", name);
	assert_true(strncmp(errors, want, strlen(want)) == 0);
	free(errors);
	free(json);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bad_non_utf8),
	    cmocka_unit_test(test_bad_raw_nul_byte),
	    cmocka_unit_test(test_bad_empty),
	    cmocka_unit_test(test_bad_deep_nesting),
	    cmocka_unit_test(test_bad_deep_but_parsable),
	    cmocka_unit_test(test_bad_path_too_long),
	    cmocka_unit_test(test_display_name_check),
	    cmocka_unit_test(test_bad_display_name_length),
	    cmocka_unit_test(test_long_dependency_chain),
	    cmocka_unit_test(test_errors_appended_after_existing),
	    cmocka_unit_test(test_hostile_strings_are_quoted),
	    cmocka_unit_test(test_long_strings_cut_short),
	    cmocka_unit_test(test_file_missing),
	    cmocka_unit_test(test_file_not_regular),
	    cmocka_unit_test(test_file_too_large),
	    cmocka_unit_test(test_file_unreadable_fragment),
	    cmocka_unit_test(test_file_untrusted_fragment),
	    cmocka_unit_test(test_file_sibling_policies),
	    cmocka_unit_test(test_file_search_order),
	    cmocka_unit_test(test_file_shipped_examples),
	    cmocka_unit_test(test_full_tenant),
	    cmocka_unit_test(test_full_network),
	    cmocka_unit_test(test_full_service_from_one_fragment),
	    cmocka_unit_test(test_full_defaults),
	    cmocka_unit_test(test_full_sessions),
	    cmocka_unit_test(test_sessions_defaults_and_absence),
	    cmocka_unit_test(test_merge_key_by_key),
	    cmocka_unit_test(test_merge_env),
	    cmocka_unit_test(test_merge_inline_after_named),
	    cmocka_unit_test(test_merge_shipped_fragments),
	    cmocka_unit_test(test_sessions_proc_subset_as_service),
	    cmocka_unit_test(test_digest),
	    cmocka_unit_test(test_parse_size),
	    cmocka_unit_test(test_name_valid),
	    cmocka_unit_test(test_parse_cidr),
	    cmocka_unit_test(test_to_string),
	    cmocka_unit_test(test_diag_print),
	    cmocka_unit_test(test_errors_capped),
	    cmocka_unit_test(test_long_key_cut_in_path),
	};
	enum { N_BAD = sizeof(bad_cases) / sizeof(*bad_cases) };
	struct CMUnitTest bad[N_BAD];
	int failed;

	for (size_t i = 0; i < N_BAD; i++)
		bad[i] = (struct CMUnitTest){bad_cases[i].name, test_bad_case, NULL, NULL,
					     (void *)&bad_cases[i]};
	failed = cmocka_run_group_tests_name("profile", tests, NULL, NULL);
	failed += _cmocka_run_group_tests("malformed profiles", bad, N_BAD, NULL, NULL);
	return failed ? 1 : 0;
}
