/* The profile's small public helpers (names, sizes, CIDRs, the words of its
 * enums) and the freeing of a loaded tenant. */
#include "model/profile.h"
#include "model/profile-internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ======================================================================
 * Small public helpers
 * ====================================================================== */

const char *seccomp_default_to_string(enum seccomp_default d)
{
	switch (d) {
	case SECCOMP_DEFAULT_ERRNO:
		return "errno";
	case SECCOMP_DEFAULT_KILL:
		return "kill";
	case SECCOMP_DEFAULT_LOG:
		return "log";
	}
	return NULL;
}

const char *restart_on_to_string(enum restart_on r)
{
	switch (r) {
	case RESTART_ALWAYS:
		return "always";
	case RESTART_FAILURE:
		return "failure";
	case RESTART_NEVER:
		return "never";
	}
	return NULL;
}

static bool is_lower(char c)
{
	return c >= 'a' && c <= 'z';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

bool ward_name_valid(const char *s)
{
	size_t n = 0;

	if (!s || !is_lower(s[0]))
		return false;
	for (; s[n]; n++)
		if (!is_lower(s[n]) && !is_digit(s[n]) && s[n] != '-')
			return false;
	return n <= WARD_NAME_MAX;
}

bool pl_group_name_valid(const char *s)
{
	size_t n = 0;

	if (!is_lower(s[0]) && s[0] != '_')
		return false;
	for (; s[n]; n++)
		if (!is_lower(s[n]) && !is_digit(s[n]) && s[n] != '_' && s[n] != '-')
			return false;
	return n <= 32;
}

bool pl_env_name_valid(const char *s)
{
	if (!(is_lower(s[0]) || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_'))
		return false;
	for (; *s; s++)
		if (!(is_lower(*s) || (*s >= 'A' && *s <= 'Z') || is_digit(*s) || *s == '_'))
			return false;
	return true;
}

/* A decimal number at s: digits only (no sign, no blanks, no leading zero
 * but "0"), at most max. Sets *end past it. */
int pl_parse_dec(const char *s, const char **end, uint64_t max, uint64_t *out)
{
	char *e;
	unsigned long long v;

	if (!is_digit(s[0]) || (s[0] == '0' && is_digit(s[1])))
		return -1;
	errno = 0;
	v = strtoull(s, &e, 10);
	if (errno == ERANGE || v > max)
		return -1;
	*end = e;
	*out = v;
	return 0;
}

int ward_parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;
	unsigned shift = 0;

	/* strtoull would take blanks and signs; sizes are digits then a unit. */
	if (!s || !is_digit(s[0])) {
		errno = EINVAL;
		return -1;
	}
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE)
		return -1;
	switch (*end) {
	case 'K':
		shift = 10;
		break;
	case 'M':
		shift = 20;
		break;
	case 'G':
		shift = 30;
		break;
	case 'T':
		shift = 40;
		break;
	case '\0':
		*out = v;
		return 0;
	default:
		errno = EINVAL;
		return -1;
	}
	if (end[1] != '\0') {
		errno = EINVAL;
		return -1;
	}
	if (v > (UINT64_MAX >> shift)) {
		errno = ERANGE;
		return -1;
	}
	*out = (uint64_t)v << shift;
	return 0;
}

enum cidr_result pl_cidr_parse(const char *s, struct ward_cidr *out)
{
	uint32_t addr = 0;
	uint64_t v;
	const char *p = s;

	for (int i = 0; i < 4; i++) {
		if (pl_parse_dec(p, &p, 255, &v) < 0 || *p != (i < 3 ? '.' : '/'))
			return CIDR_SYNTAX;
		addr = addr << 8 | (uint32_t)v;
		p++;
	}
	if (pl_parse_dec(p, &p, 32, &v) < 0 || *p)
		return CIDR_SYNTAX;
	uint32_t mask = v ? ~(uint32_t)0 << (32 - v) : 0;
	if (addr & ~mask)
		return CIDR_HOST_BITS;
	out->addr = addr;
	out->prefix = (uint8_t)v;
	return CIDR_OK;
}

int ward_parse_cidr(const char *s, struct ward_cidr *out)
{
	if (!s || pl_cidr_parse(s, out) != CIDR_OK) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/* ======================================================================
 * Freeing the result
 * ====================================================================== */

static void strv_free(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void binds_free(struct ward_bind *b, size_t n)
{
	for (size_t i = 0; b && i < n; i++) {
		free(b[i].src);
		free(b[i].dst);
	}
	free(b);
}

void policy_free(struct ward_policy *p)
{
	struct ward_filesystem *fs = &p->filesystem;

	binds_free(fs->ro, fs->n_ro);
	binds_free(fs->rw, fs->n_rw);
	free(fs->data);
	for (size_t i = 0; fs->tmpfs && i < fs->n_tmpfs; i++)
		free(fs->tmpfs[i].path);
	free(fs->tmpfs);
	strv_free(fs->hide, fs->n_hide);
	strv_free(p->seccomp.allow, p->seccomp.n_allow);
	strv_free(p->seccomp.deny, p->seccomp.n_deny);
	strv_free(p->seccomp.abis, p->seccomp.n_abis);
	strv_free(p->env, p->n_env);
	memset(p, 0, sizeof(*p));
}

static void service_free(struct ward_service *s)
{
	free(s->name);
	strv_free(s->exec, s->n_exec);
	strv_free(s->after, s->n_after);
	for (size_t i = 0; s->connect && i < s->n_connect; i++)
		free(s->connect[i].service);
	free(s->connect);
	policy_free(&s->policy);
	free(s->digest);
	free(s->after_digest);
	free(s->connect_digest);
}

void tenant_free(struct ward_tenant *t)
{
	if (!t)
		return;
	free(t->name);
	free(t->display_name);
	free(t->source);
	for (size_t i = 0; t->network.egress && i < t->network.n_egress; i++) {
		free(t->network.egress[i].tcp);
		free(t->network.egress[i].udp);
		strv_free(t->network.egress[i].from, t->network.egress[i].n_from);
	}
	free(t->network.egress);
	for (size_t i = 0; t->network.ingress && i < t->network.n_ingress; i++)
		free(t->network.ingress[i].service);
	free(t->network.ingress);
	for (size_t i = 0; t->services && i < t->n_services; i++)
		service_free(&t->services[i]);
	free(t->services);
	strv_free(t->sessions.groups, t->sessions.n_groups);
	free(t->sessions.service);
	strv_free(t->sessions.exec, t->sessions.n_exec);
	policy_free(&t->sessions.policy);
	for (size_t i = 0; i < WARD_PART_N; i++)
		free(t->part_digest[i]);
	free(t);
}

const char *ward_part_name(enum ward_part p)
{
	static const char *const names[WARD_PART_N] = {
	    [WARD_PART_DISPLAY_NAME] = "display_name",
	    [WARD_PART_LIMITS] = "limits",
	    [WARD_PART_NETWORK] = "network",
	    [WARD_PART_SESSIONS] = "sessions",
	};
	return p < WARD_PART_N ? names[p] : "?";
}

const struct ward_service *tenant_find_service(const struct ward_tenant *t, const char *name)
{
	for (size_t i = 0; t && name && i < t->n_services; i++)
		if (strcmp(t->services[i].name, name) == 0)
			return &t->services[i];
	return NULL;
}
