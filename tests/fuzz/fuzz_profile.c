/* libFuzzer harness for the profile loader (profile_load_buffer): any crash,
 * leak or hang ends the run, and so does a broken promise of profile.h: an
 * accepted profile that is not valid, or a refusal that does not explain
 * itself in terminal-safe text.
 *
 * Input: a whole profile, as `wardd` would read it from a file; or, when the
 * first byte is 'F' (no JSON document starts with it), the rest is a policy
 * fragment, placed after "hardened" in the policy list of a minimal profile
 * so that fragment parsing and merging are fuzzed directly. */
#include "model/profile.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if !defined(WARD_FUZZ_POLICY_DIR) || !defined(WARD_FUZZ_EXTRA_POLICY_DIR)
#error "build with tests/fuzz/build.sh: it defines the policy directories"
#endif

/* Not assert(): it must hold in every build, and name what broke. */
#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_profile: %s:%d: broken invariant: %s\n", __FILE__,   \
				__LINE__, #cond);                                                  \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static const char fragment_head[] =
    "{\"tenant\": \"fuzz\", \"services\": {\"app\": {\"exec\": [\"/bin/true\"],"
    " \"policy\": [\"hardened\", ";
static const char fragment_tail[] = "]}}}";

/* The shipped fragments, then tests/fuzz/policies: broken fragments, so
 * that errors in files other than the profile are reached too. */
static const char *const policy_dirs[] = {WARD_FUZZ_POLICY_DIR, WARD_FUZZ_EXTRA_POLICY_DIR};
static const struct profile_options opts = {.policy_dirs = policy_dirs, .n_policy_dirs = 2};
static FILE *devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	devnull = fopen("/dev/null", "w");
	if (!devnull) {
		perror("fuzz_profile: /dev/null");
		abort();
	}
	return 0;
}

/* ---- what an accepted profile must be (profile.h: nothing downstream
 * re-validates) ---- */

static bool text_clean(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

/* Absolute, no empty, "." or ".." component, shorter than PATH_MAX. */
static bool path_clean(const char *p)
{
	if (!p || p[0] != '/' || strlen(p) >= PATH_MAX)
		return false;
	if (strcmp(p, "/") == 0)
		return true;
	for (const char *c = p + 1;; c += strcspn(c, "/") + 1) {
		size_t n = strcspn(c, "/");
		if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		if (!c[n])
			return true;
	}
}

static bool under(const char *p, const char *dir)
{
	size_t n = strlen(dir);
	return strncmp(p, dir, n) == 0 && (p[n] == '\0' || p[n] == '/');
}

/* Where something is mounted inside the sandbox. */
static bool target_clean(const char *p)
{
	return path_clean(p) && strcmp(p, "/") != 0 && !under(p, "/proc") && !under(p, "/dev");
}

static bool env_clean(const char *kv)
{
	const char *eq = strchr(kv, '=');
	if (!eq || eq == kv || (kv[0] >= '0' && kv[0] <= '9'))
		return false;
	for (const char *p = kv; p < eq; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	return true;
}

static void check_argv(char **v, size_t n)
{
	CHECK(n >= 1 && v && v[n] == NULL);
	CHECK(path_clean(v[0]));
	for (size_t i = 0; i < n; i++)
		CHECK(v[i] != NULL);
}

static void check_policy(const struct ward_policy *p)
{
	const struct ward_filesystem *fs = &p->filesystem;

	for (size_t i = 0; i < fs->n_ro; i++)
		CHECK(path_clean(fs->ro[i].src) && target_clean(fs->ro[i].dst));
	for (size_t i = 0; i < fs->n_rw; i++)
		CHECK(path_clean(fs->rw[i].src) && target_clean(fs->rw[i].dst));
	CHECK(!fs->data || target_clean(fs->data));
	for (size_t i = 0; i < fs->n_tmpfs; i++)
		CHECK(target_clean(fs->tmpfs[i].path) && fs->tmpfs[i].size > 0);
	for (size_t i = 0; i < fs->n_hide; i++)
		CHECK(path_clean(fs->hide[i]) && strcmp(fs->hide[i], "/") != 0);
	for (size_t i = 0; i < p->seccomp.n_allow; i++)
		CHECK(p->seccomp.allow[i] && p->seccomp.allow[i][0]);
	for (size_t i = 0; i < p->seccomp.n_deny; i++)
		CHECK(p->seccomp.deny[i] && p->seccomp.deny[i][0]);
	for (size_t i = 0; i < p->seccomp.n_abis; i++)
		CHECK(strcmp(p->seccomp.abis[i], "x86") == 0 ||
		      strcmp(p->seccomp.abis[i], "x32") == 0);
	CHECK(p->seccomp.default_action <= SECCOMP_DEFAULT_LOG);
	CHECK(p->limits.cpu == 0 || (p->limits.cpu > 0 && p->limits.cpu <= 1024));
	CHECK(p->limits.pids != 0); /* at least 1, or WARD_UNSET */
	CHECK(p->limits.nofile == WARD_UNSET ||
	      (p->limits.nofile >= 1 && p->limits.nofile <= 1048576));
	CHECK(p->restart.on <= RESTART_NEVER);
	CHECK(p->restart.delay_ms <= p->restart.max_delay_ms &&
	      p->restart.max_delay_ms <= 86400000);
	CHECK(p->restart.burst >= 1 && p->restart.burst <= 1000);
	CHECK(p->restart.interval_s >= 1 && p->restart.interval_s <= 86400);
	CHECK(p->stop_timeout_s >= 1 && p->stop_timeout_s <= 3600);
	CHECK(p->env && p->env[p->n_env] == NULL);
	for (size_t i = 0; i < p->n_env; i++) {
		CHECK(env_clean(p->env[i]));
		if (i > 0) {
			size_t a = strcspn(p->env[i - 1], "="), b = strcspn(p->env[i], "=");
			int c = memcmp(p->env[i - 1], p->env[i], a < b ? a : b);
			CHECK(c < 0 || (c == 0 && a < b)); /* sorted, each name once */
		}
	}
}

static void check_tenant(const struct ward_tenant *t)
{
	CHECK(ward_name_valid(t->name));
	CHECK(t->source && strcmp(t->source, "fuzz.json") == 0);
	CHECK(!t->display_name || (t->display_name[0] && text_clean(t->display_name)));
	if (t->ids.set)
		CHECK(t->ids.uid >= 65536 && t->ids.count >= 1 &&
		      (uint64_t)t->ids.uid + t->ids.count - 1 <= 4294967294u);

	CHECK(t->n_services >= 1 && t->services);
	for (size_t i = 0; i < t->n_services; i++) {
		const struct ward_service *s = &t->services[i];
		CHECK(ward_name_valid(s->name));
		CHECK(tenant_find_service(t, s->name) == s); /* names are unique */
		check_argv(s->exec, s->n_exec);
		for (size_t j = 0; j < s->n_after; j++)
			CHECK(tenant_find_service(t, s->after[j]) &&
			      strcmp(s->after[j], s->name) != 0);
		for (size_t j = 0; j < s->n_connect; j++)
			CHECK(tenant_find_service(t, s->connect[j].service) && s->connect[j].port);
		check_policy(&s->policy);
		CHECK(s->digest && s->digest[0] == '{');
	}

	const struct ward_network *net = &t->network;
	CHECK(!net->has_subnet ||
	      (net->present && net->subnet.prefix >= 8 && net->subnet.prefix <= 30));
	if (net->has_subnet)
		CHECK((net->subnet.addr & (UINT32_MAX >> net->subnet.prefix)) == 0);
	for (size_t i = 0; i < net->n_egress; i++) {
		const struct ward_egress *e = &net->egress[i];
		CHECK(e->to.prefix <= 32 && e->n_tcp + e->n_udp >= 1);
		if (e->to.prefix < 32)
			CHECK((e->to.addr & (UINT32_MAX >> e->to.prefix)) == 0);
		for (size_t j = 0; j < e->n_tcp; j++)
			CHECK(e->tcp[j] != 0);
		for (size_t j = 0; j < e->n_udp; j++)
			CHECK(e->udp[j] != 0);
	}
	for (size_t i = 0; i < net->n_ingress; i++) {
		const struct ward_ingress *in = &net->ingress[i];
		CHECK(in->host_port && in->port && tenant_find_service(t, in->service));
		for (size_t j = 0; j < i; j++)
			CHECK(net->ingress[j].host_port != in->host_port ||
			      net->ingress[j].proto != in->proto);
	}

	const struct ward_sessions *ss = &t->sessions;
	if (ss->present) {
		CHECK(ss->n_groups >= 1);
		for (size_t i = 0; i < ss->n_groups; i++)
			CHECK(ss->groups[i] && ss->groups[i][0] && text_clean(ss->groups[i]));
		CHECK(!ss->service || tenant_find_service(t, ss->service));
		check_argv(ss->exec, ss->n_exec);
		check_policy(&ss->policy);
		CHECK(ss->max >= 1 && ss->max <= 10000 && ss->idle_timeout_s <= 86400);
	}
}

/* A refusal: at least one entry, every one printable on a terminal. */
static void check_diag(const struct ward_diag *d)
{
	CHECK(d->n >= 1);
	for (size_t i = 0; i < d->n; i++) {
		const struct ward_diag_entry *e = &d->v[i];
		CHECK(e->file && e->path && e->message && e->message[0]);
		CHECK(text_clean(e->file) && text_clean(e->path) && text_clean(e->message));
	}
}

static void load(const char *data, size_t len)
{
	struct ward_tenant *t = NULL;
	struct ward_diag diag = {0};

	if (profile_load_buffer("fuzz.json", data, len, &opts, &t, &diag) == 0) {
		CHECK(t != NULL && diag.n == 0);
		check_tenant(t);
	} else {
		CHECK(t == NULL);
		check_diag(&diag);
		diag_print(&diag, devnull);
	}
	tenant_free(t);
	diag_free(&diag);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0 || data[0] != 'F') {
		load((const char *)data, size);
		return 0;
	}

	/* A buffer of exactly the wrapped size, so an over-read past the end is
	 * caught here too. */
	size_t head = sizeof(fragment_head) - 1, tail = sizeof(fragment_tail) - 1;
	size_t len = head + (size - 1) + tail;
	char *doc = malloc(len);
	if (!doc)
		return 0;
	memcpy(doc, fragment_head, head);
	memcpy(doc + head, data + 1, size - 1);
	memcpy(doc + head + size - 1, fragment_tail, tail);
	load(doc, len);
	free(doc);
	return 0;
}
