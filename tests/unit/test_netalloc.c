/* Unit tests of address allocation: subnets from the pool and from profiles,
 * service addresses, what survives a restart, the refusals, and the file
 * (written only on change, atomically, mode 0600, never over a corrupt one). */
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

#include "net/netalloc.h"

#define IP(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))
#define MAX_SVC        16

struct fixture {
	char dir[64];
	char path[128];
	struct ward_cidr pool; /* 10.240.0.0/16 */
};

static int setup(void **state)
{
	struct fixture *f = test_fixture_new(sizeof(*f), "netalloc");

	test_fixture_path(f->path, sizeof(f->path), f->dir, "network.json");
	f->pool = (struct ward_cidr){IP(10, 240, 0, 0), 16};
	*state = f;
	return 0;
}

/* A tenant as profile.c would return it, as far as netalloc looks. */
struct tenant {
	struct ward_tenant t;
	struct ward_service svc[MAX_SVC];
	char names[MAX_SVC][32];
	char name[32];
};

/* services: "db,app,web" (empty: none); subnet: NULL for none. */
static void tenant_set(struct tenant *x, const char *name, const char *subnet, const char *services)
{
	memset(x, 0, sizeof(*x));
	snprintf(x->name, sizeof(x->name), "%s", name);
	x->t.name = x->name;
	x->t.network.present = true;
	if (subnet) {
		assert_int_equal(ward_parse_cidr(subnet, &x->t.network.subnet), 0);
		x->t.network.has_subnet = true;
	}
	x->t.services = x->svc;
	for (const char *p = services; *p;) {
		size_t n = strcspn(p, ",");
		assert_true(x->t.n_services < MAX_SVC && n < sizeof(x->names[0]));
		memcpy(x->names[x->t.n_services], p, n);
		x->svc[x->t.n_services].name = x->names[x->t.n_services];
		x->t.n_services++;
		p += n + (p[n] == ',');
	}
}

struct result {
	struct ward_cidr subnet;
	uint32_t gateway;
	uint32_t addrs[MAX_SVC];
};

static struct result alloc_ok(struct netalloc *na, const char *name, const char *subnet,
			      const char *services)
{
	struct tenant x;
	struct result r;
	struct ward_err err = {0};

	tenant_set(&x, name, subnet, services);
	memset(&r, 0, sizeof(r));
	if (netalloc_tenant(na, &x.t, &r.subnet, &r.gateway, r.addrs, &err) < 0)
		fail_msg("%s: %s", name, err.msg);
	return r;
}

static void alloc_fails(struct netalloc *na, const char *name, const char *subnet,
			const char *services, const char *message)
{
	struct tenant x;
	struct result r = {0};
	struct ward_err err = {0};

	tenant_set(&x, name, subnet, services);
	assert_int_equal(netalloc_tenant(na, &x.t, &r.subnet, &r.gateway, r.addrs, &err), -1);
	assert_string_equal(err.msg, message);
}

static void assert_subnet(const struct result *r, uint32_t addr, uint8_t prefix)
{
	assert_int_equal(r->subnet.addr, addr);
	assert_int_equal(r->subnet.prefix, prefix);
	assert_int_equal(r->gateway, addr + 1);
}

static struct netalloc *open_ok(const struct fixture *f, const struct ward_cidr *pool,
				uint8_t prefix)
{
	struct ward_err err = {0};
	struct netalloc *na = netalloc_open(f->path, pool, prefix, &err);

	if (!na)
		fail_msg("netalloc_open: %s", err.msg);
	return na;
}

/* Who holds any part of subnet: a tenant's name, or "" when nobody does.
 * Asked as a tenant no one else is. */
static const char *taken(struct netalloc *na, const char *subnet)
{
	static char other[32];
	struct tenant x;

	tenant_set(&x, "probe-nobody-else", subnet, "");
	if (!netalloc_conflict(na, &x.t, other, sizeof(other)))
		other[0] = '\0';
	return other;
}

static ino_t inode(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_ino;
}

/* ---- allocation ---- */

static void test_pool_allocation(void **state)
{
	struct fixture *f = *state;
	struct netalloc *na = open_ok(f, &f->pool, 24);
	struct result r;

	/* Nothing is written before there is something to keep. */
	assert_int_equal(access(f->path, F_OK), -1);

	r = alloc_ok(na, "sunrise", NULL, "db,app,web");
	assert_subnet(&r, IP(10, 240, 0, 0), 24);
	assert_int_equal(r.addrs[0], IP(10, 240, 0, 2));
	assert_int_equal(r.addrs[1], IP(10, 240, 0, 3));
	assert_int_equal(r.addrs[2], IP(10, 240, 0, 4));

	r = alloc_ok(na, "lakeside", NULL, "app");
	assert_subnet(&r, IP(10, 240, 1, 0), 24);
	assert_int_equal(r.addrs[0], IP(10, 240, 1, 2));

	/* Asked again: the same. */
	r = alloc_ok(na, "sunrise", NULL, "db,app,web");
	assert_subnet(&r, IP(10, 240, 0, 0), 24);
	assert_int_equal(r.addrs[2], IP(10, 240, 0, 4));

	/* A tenant with no services still gets its subnet and gateway. */
	r = alloc_ok(na, "empty", NULL, "");
	assert_subnet(&r, IP(10, 240, 2, 0), 24);

	char *text = test_slurp(f->path);
	assert_string_equal(text, "{\n"
				  "  \"tenants\": {\n"
				  "    \"empty\": {\n"
				  "      \"services\": {},\n"
				  "      \"subnet\": \"10.240.2.0/24\"\n"
				  "    },\n"
				  "    \"lakeside\": {\n"
				  "      \"services\": {\n"
				  "        \"app\": \"10.240.1.2\"\n"
				  "      },\n"
				  "      \"subnet\": \"10.240.1.0/24\"\n"
				  "    },\n"
				  "    \"sunrise\": {\n"
				  "      \"services\": {\n"
				  "        \"app\": \"10.240.0.3\",\n"
				  "        \"db\": \"10.240.0.2\",\n"
				  "        \"web\": \"10.240.0.4\"\n"
				  "      },\n"
				  "      \"subnet\": \"10.240.0.0/24\"\n"
				  "    }\n"
				  "  },\n"
				  "  \"version\": 1\n"
				  "}\n");
	free(text);
	netalloc_free(na);
}

/* A new netalloc on the same file: every tenant gets what it had, also with
 * its services listed in another order, and new tenants what is left. */
static void test_stable_across_reopen(void **state)
{
	struct fixture *f = *state;
	struct netalloc *na = open_ok(f, &f->pool, 26);
	struct result a, b, c;

	a = alloc_ok(na, "alpha", NULL, "web,app");
	b = alloc_ok(na, "bravo", NULL, "db,app,web");
	c = alloc_ok(na, "charlie", "192.168.50.0/24", "x");
	assert_subnet(&a, IP(10, 240, 0, 0), 26);
	assert_subnet(&b, IP(10, 240, 0, 64), 26);
	assert_int_equal(b.addrs[2], IP(10, 240, 0, 68));
	assert_int_equal(alloc_ok(na, "bravo", NULL, "db,web").addrs[1], IP(10, 240, 0, 68));
	netalloc_free(na);

	na = open_ok(f, &f->pool, 26);
	/* bravo first this time, its services reordered and app back. */
	struct result b2 = alloc_ok(na, "bravo", NULL, "web,app,db");
	assert_subnet(&b2, IP(10, 240, 0, 64), 26);
	assert_int_equal(b2.addrs[0], IP(10, 240, 0, 68));
	assert_int_equal(b2.addrs[1], IP(10, 240, 0, 67)); /* app's was freed, then reused */
	assert_int_equal(b2.addrs[2], IP(10, 240, 0, 66));
	struct result a2 = alloc_ok(na, "alpha", NULL, "app,web");
	assert_subnet(&a2, IP(10, 240, 0, 0), 26);
	assert_int_equal(a2.addrs[0], a.addrs[1]);
	assert_int_equal(a2.addrs[1], a.addrs[0]);
	/* charlie's profile subnet was recorded too; now it comes from there. */
	struct result c2 = alloc_ok(na, "charlie", NULL, "x");
	assert_subnet(&c2, IP(192, 168, 50, 0), 24);
	assert_int_equal(c2.addrs[0], c.addrs[0]);
	assert_subnet((struct result[]){alloc_ok(na, "delta", NULL, "")}, IP(10, 240, 0, 128), 26);
	netalloc_free(na);

	/* The pool may change between runs: what was held stays held. */
	struct ward_cidr other = {IP(172, 16, 0, 0), 12};
	na = open_ok(f, &other, 24);
	assert_subnet((struct result[]){alloc_ok(na, "alpha", NULL, "app")}, IP(10, 240, 0, 0), 26);
	assert_subnet((struct result[]){alloc_ok(na, "echo", NULL, "")}, IP(172, 16, 0, 0), 24);
	netalloc_free(na);
}

/* Profile subnets are recorded, and the allocator goes around them. */
static void test_explicit_subnets_avoided(void **state)
{
	struct fixture *f = *state;
	struct netalloc *na = open_ok(f, &f->pool, 24);
	struct result r;

	alloc_ok(na, "first", "10.240.0.0/23", "db");
	alloc_ok(na, "third", "10.240.3.128/25", "db");
	r = alloc_ok(na, "pooled", NULL, "app");
	assert_subnet(&r, IP(10, 240, 2, 0), 24);
	r = alloc_ok(na, "next", NULL, "app");
	assert_subnet(&r, IP(10, 240, 4, 0), 24); /* 10.240.3.0/24 is partly third's */
	netalloc_free(na);

	/* Also after a restart, before `first` is seen again. */
	na = open_ok(f, &f->pool, 24);
	r = alloc_ok(na, "later", NULL, "");
	assert_subnet(&r, IP(10, 240, 5, 0), 24);
	netalloc_free(na);
}

/* The profile wins over what the tenant held; addresses still inside the
 * new subnet are kept, the others renumbered. */
static void test_profile_subnet_wins(void **state)
{
	struct fixture *f = *state;
	struct netalloc *na = open_ok(f, &f->pool, 24);
	struct result r;

	alloc_ok(na, "sunrise", NULL, "db,app");
	alloc_ok(na, "sunrise", NULL, "app"); /* db's .2 freed */
	alloc_ok(na, "sunrise", NULL, "db,app");
	r = alloc_ok(na, "sunrise", NULL, "db,app");
	assert_int_equal(r.addrs[0], IP(10, 240, 0, 2));
	assert_int_equal(r.addrs[1], IP(10, 240, 0, 3));

	r = alloc_ok(na, "sunrise", "10.240.0.0/23", "db,app");
	assert_subnet(&r, IP(10, 240, 0, 0), 23);
	assert_int_equal(r.addrs[0], IP(10, 240, 0, 2));
	assert_int_equal(r.addrs[1], IP(10, 240, 0, 3));

	r = alloc_ok(na, "sunrise", "10.250.0.0/24", "db,app");
	assert_subnet(&r, IP(10, 250, 0, 0), 24);
	assert_int_equal(r.addrs[0], IP(10, 250, 0, 2));
	assert_int_equal(r.addrs[1], IP(10, 250, 0, 3));
	netalloc_free(na);

	/* Recorded: without a profile subnet it is the one it holds now, and
	 * the pool block it gave up is free again. */
	na = open_ok(f, &f->pool, 24);
	r = alloc_ok(na, "sunrise", NULL, "db,app");
	assert_subnet(&r, IP(10, 250, 0, 0), 24);
	r = alloc_ok(na, "other", NULL, "");
	assert_subnet(&r, IP(10, 240, 0, 0), 24);
	netalloc_free(na);
}

/* ---- services ---- */

static void test_service_added_in_middle(void **state)
{
	struct fixture *f = *state;
	struct netalloc *na = open_ok(f, &f->pool, 24);
	struct result r;

	alloc_ok(na, "sunrise", NULL, "db,app,web");
	r = alloc_ok(na, "sunrise", NULL, "db,cache,app,web");
	assert_int_equal(r.addrs[0], IP(10, 240, 0, 2));
	assert_int_equal(r.addrs[1], IP(10, 240, 0, 5));
	assert_int_equal(r.addrs[2], IP(10, 240, 0, 3));
	assert_int_equal(r.addrs[3], IP(10, 240, 0, 4));
	netalloc_free(na);
}

static void test_removed_service_reused(void **state)
{
	struct fixture *f = *state;
	struct netalloc *na = open_ok(f, &f->pool, 24);
	struct result r;

	alloc_ok(na, "sunrise", NULL, "db,app,web,mail");
	r = alloc_ok(na, "sunrise", NULL, "db,web,mail");
	assert_int_equal(r.addrs[0], IP(10, 240, 0, 2));
	assert_int_equal(r.addrs[1], IP(10, 240, 0, 4));
	assert_int_equal(r.addrs[2], IP(10, 240, 0, 5));
	/* The lowest free host address: app's old one. */
	r = alloc_ok(na, "sunrise", NULL, "queue,db,web,mail,extra");
	assert_int_equal(r.addrs[0], IP(10, 240, 0, 3));
	assert_int_equal(r.addrs[1], IP(10, 240, 0, 2));
	assert_int_equal(r.addrs[2], IP(10, 240, 0, 4));
	assert_int_equal(r.addrs[3], IP(10, 240, 0, 5));
	assert_int_equal(r.addrs[4], IP(10, 240, 0, 6));
	/* A service removed and added back is a new service: lowest free. */
	alloc_ok(na, "sunrise", NULL, "queue,web,mail,extra");
	r = alloc_ok(na, "sunrise", NULL, "queue,web,mail,extra,db");
	assert_int_equal(r.addrs[4], IP(10, 240, 0, 2));
	netalloc_free(na);
}

/* ---- refusals ---- */

static void test_overlap_refused(void **state)
{
	struct fixture *f = *state;
	struct netalloc *na = open_ok(f, &f->pool, 24);
	struct tenant x;
	char other[32] = "";

	alloc_ok(na, "lakeside", "10.240.3.0/25", "db");
	ino_t ino = inode(f->path);
	char *before = test_slurp(f->path);

	alloc_fails(na, "sunrise", "10.240.3.0/24", "db",
		    "subnet 10.240.3.0/24 overlaps tenant lakeside (10.240.3.0/25)");
	alloc_fails(na, "sunrise", "10.0.0.0/8", "db",
		    "subnet 10.0.0.0/8 overlaps tenant lakeside (10.240.3.0/25)");
	alloc_fails(na, "sunrise", "10.240.3.127/32", "",
		    "subnet 10.240.3.127/32 overlaps tenant lakeside (10.240.3.0/25)");

	/* Nothing changed: not in memory, not on disk. */
	assert_int_equal(inode(f->path), ino);
	char *after = test_slurp(f->path);
	assert_string_equal(after, before);
	free(after);
	free(before);
	assert_string_equal(taken(na, "10.240.3.128/25"), "");

	/* conflict: against recorded subnets only, never the tenant's own. */
	tenant_set(&x, "sunrise", "10.240.3.64/26", "");
	assert_true(netalloc_conflict(na, &x.t, other, sizeof(other)));
	assert_string_equal(other, "lakeside");
	tenant_set(&x, "sunrise", "10.240.3.128/25", "");
	assert_false(netalloc_conflict(na, &x.t, other, sizeof(other)));
	tenant_set(&x, "sunrise", NULL, "db");
	assert_false(netalloc_conflict(na, &x.t, other, sizeof(other)));
	tenant_set(&x, "lakeside", NULL, "db");
	assert_false(netalloc_conflict(na, &x.t, other, sizeof(other)));
	tenant_set(&x, "lakeside", "10.240.3.0/24", "db");
	assert_false(netalloc_conflict(na, &x.t, NULL, 0));
	/* A cut buffer gets a cut name. */
	tenant_set(&x, "sunrise", "10.240.3.0/24", "");
	assert_true(netalloc_conflict(na, &x.t, other, 5));
	assert_string_equal(other, "lake");

	/* A tenant holding a pool subnet, whose profile now names another
	 * tenant's: its conflict is the profile's subnet. */
	alloc_ok(na, "pooled", NULL, "");
	tenant_set(&x, "pooled", "10.240.3.0/24", "");
	assert_true(netalloc_conflict(na, &x.t, other, sizeof(other)));
	assert_string_equal(other, "lakeside");
	alloc_fails(na, "pooled", "10.240.3.0/24", "",
		    "subnet 10.240.3.0/24 overlaps tenant lakeside (10.240.3.0/25)");
	assert_subnet((struct result[]){alloc_ok(na, "pooled", NULL, "")}, IP(10, 240, 0, 0), 24);
	netalloc_free(na);
}

static void test_pool_exhausted(void **state)
{
	struct fixture *f = *state;
	struct netalloc *na = open_ok(f, &f->pool, 24);
	char name[32];

	for (unsigned i = 0; i < 256; i++) {
		snprintf(name, sizeof(name), "t%u", i);
		struct result r = alloc_ok(na, name, NULL, "app");
		assert_subnet(&r, IP(10, 240, i, 0), 24);
	}
	ino_t ino = inode(f->path);
	alloc_fails(na, "one-more", NULL, "app",
		    "address pool 10.240.0.0/16 is exhausted: no free /24 subnet left");
	assert_int_equal(inode(f->path), ino);

	/* A released block is the next one given. */
	assert_int_equal(netalloc_release(na, "t77", NULL), 0);
	assert_subnet((struct result[]){alloc_ok(na, "one-more", NULL, "app")}, IP(10, 240, 77, 0),
		      24);
	netalloc_free(na);

	/* A small pool, partly taken by a profile subnet. */
	struct ward_cidr small = {IP(192, 168, 0, 0), 22};
	assert_int_equal(unlink(f->path), 0);
	na = open_ok(f, &small, 24);
	alloc_ok(na, "a", NULL, "");
	alloc_ok(na, "b", "192.168.1.8/29", "");
	assert_subnet((struct result[]){alloc_ok(na, "c", NULL, "")}, IP(192, 168, 2, 0), 24);
	assert_subnet((struct result[]){alloc_ok(na, "d", NULL, "")}, IP(192, 168, 3, 0), 24);
	alloc_fails(na, "e", NULL, "",
		    "address pool 192.168.0.0/22 is exhausted: no free /24 subnet left");
	netalloc_free(na);
}

static void test_no_pool(void **state)
{
	struct fixture *f = *state;
	struct netalloc *na = open_ok(f, NULL, 0);

	alloc_fails(na, "sunrise", NULL, "db", "no subnet in the profile and no address pool");
	assert_subnet((struct result[]){alloc_ok(na, "sunrise", "10.1.2.0/24", "db")},
		      IP(10, 1, 2, 0), 24);
	/* Once held, the subnet is the tenant's without the profile naming it. */
	assert_subnet((struct result[]){alloc_ok(na, "sunrise", NULL, "db")}, IP(10, 1, 2, 0), 24);
	netalloc_free(na);
}

static void test_too_small(void **state)
{
	struct fixture *f = *state;
	struct netalloc *na = open_ok(f, &f->pool, 29);
	struct result r;

	/* /30: network, gateway, one service, broadcast. */
	r = alloc_ok(na, "one", "10.9.0.0/30", "db");
	assert_int_equal(r.addrs[0], IP(10, 9, 0, 2));
	alloc_fails(na, "two", "10.9.0.4/30", "db,app",
		    "subnet 10.9.0.4/30 is too small for 2 services: it has room for 1 "
		    "(network, gateway and broadcast excluded)");
	alloc_fails(na, "two", "10.9.0.4/31", "",
		    "subnet 10.9.0.4/31 is too small: a /31 or /32 has no room for a gateway and "
		    "services");
	alloc_fails(na, "two", "10.9.0.4/32", "",
		    "subnet 10.9.0.4/32 is too small: a /31 or /32 has no room for a gateway and "
		    "services");
	/* A pool /29 holds five services, not six. */
	r = alloc_ok(na, "five", NULL, "a,b,c,d,e");
	assert_subnet(&r, IP(10, 240, 0, 0), 29);
	assert_int_equal(r.addrs[4], IP(10, 240, 0, 6));
	alloc_fails(na, "six", NULL, "a,b,c,d,e,f",
		    "subnet 10.240.0.8/29 is too small for 6 services: it has room for 5 "
		    "(network, gateway and broadcast excluded)");
	/* Growing past the subnet it holds is refused, and changes nothing. */
	alloc_fails(na, "five", NULL, "a,b,c,d,e,f",
		    "subnet 10.240.0.0/29 is too small for 6 services: it has room for 5 "
		    "(network, gateway and broadcast excluded)");
	assert_string_equal(taken(na, "10.9.0.4/30"), "");
	assert_string_equal(taken(na, "10.240.0.8/29"), "");
	r = alloc_ok(na, "five", NULL, "a,b,c,d,e");
	assert_int_equal(r.addrs[4], IP(10, 240, 0, 6));
	netalloc_free(na);
}

/* ---- the file ---- */

static void test_release(void **state)
{
	struct fixture *f = *state;
	struct netalloc *na = open_ok(f, &f->pool, 24);
	struct ward_err err = {0};

	alloc_ok(na, "alpha", NULL, "db");
	alloc_ok(na, "bravo", NULL, "db");
	assert_int_equal(netalloc_release(na, "alpha", &err), 0);
	assert_string_equal(taken(na, "10.240.0.0/24"), "");
	assert_string_equal(taken(na, "10.240.1.0/24"), "bravo");

	/* Unknown: nothing to do, nothing written. */
	ino_t ino = inode(f->path);
	assert_int_equal(netalloc_release(na, "nobody", &err), 0);
	assert_int_equal(inode(f->path), ino);
	netalloc_free(na);

	na = open_ok(f, &f->pool, 24);
	assert_string_equal(taken(na, "10.240.0.0/24"), "");
	/* alpha's block and addresses go to the next one. */
	struct result r = alloc_ok(na, "charlie", NULL, "app");
	assert_subnet(&r, IP(10, 240, 0, 0), 24);
	assert_int_equal(netalloc_release(na, "bravo", &err), 0);
	assert_int_equal(netalloc_release(na, "charlie", &err), 0);
	netalloc_free(na);

	char *text = test_slurp(f->path);
	assert_string_equal(text, "{\n  \"tenants\": {},\n  \"version\": 1\n}\n");
	free(text);
}

static void test_no_write_when_unchanged(void **state)
{
	struct fixture *f = *state;
	struct netalloc *na = open_ok(f, &f->pool, 24);
	struct stat a, b;

	alloc_ok(na, "sunrise", NULL, "db,app");
	alloc_ok(na, "lakeside", "10.250.0.0/24", "web");
	assert_int_equal(stat(f->path, &a), 0);
	alloc_ok(na, "sunrise", NULL, "db,app");
	alloc_ok(na, "sunrise", NULL, "app,db");
	alloc_ok(na, "lakeside", "10.250.0.0/24", "web");
	netalloc_free(na);

	/* A restart that finds everything as it was writes nothing. */
	na = open_ok(f, &f->pool, 24);
	alloc_ok(na, "lakeside", "10.250.0.0/24", "web");
	alloc_ok(na, "sunrise", NULL, "app,db");
	alloc_ok(na, "lakeside", NULL, "web");
	assert_int_equal(stat(f->path, &b), 0);
	assert_int_equal(a.st_ino, b.st_ino);
	assert_int_equal(a.st_mtim.tv_sec, b.st_mtim.tv_sec);
	assert_int_equal(a.st_mtim.tv_nsec, b.st_mtim.tv_nsec);

	/* A change is a new file (renamed over the old one). */
	alloc_ok(na, "sunrise", NULL, "app");
	assert_true(inode(f->path) != a.st_ino);
	netalloc_free(na);
}

/* A batch (daemon start, reload) is written once, at the flush, and holds
 * everything allocated during it. */
static void test_deferred_batch(void **state)
{
	struct fixture *f = *state;
	struct netalloc *na = open_ok(f, &f->pool, 24);
	struct ward_err err = {0};
	struct stat st;

	netalloc_defer(na);
	alloc_ok(na, "sunrise", NULL, "db,app");
	alloc_ok(na, "lakeside", NULL, "web");
	assert_int_equal(stat(f->path, &st), -1); /* nothing written yet */
	assert_int_equal(netalloc_flush(na, &err), 0);
	assert_int_equal(stat(f->path, &st), 0);
	ino_t written = st.st_ino;
	/* Nothing pending: a second flush writes nothing. */
	assert_int_equal(netalloc_flush(na, &err), 0);
	assert_true(inode(f->path) == written);
	netalloc_free(na);

	/* Both are in the file: a re-open finds the same subnets, and a third
	 * tenant gets the next block. */
	na = open_ok(f, &f->pool, 24);
	alloc_ok(na, "sunrise", NULL, "db,app");
	alloc_ok(na, "lakeside", NULL, "web");
	assert_true(inode(f->path) == written);
	netalloc_free(na);
}

static void test_file_mode_and_directory(void **state)
{
	struct fixture *f = *state;
	char tmp[160];
	struct stat st;

	/* The directory is made when missing, the file is 0600 whatever the
	 * umask lets through, and no temporary file is left behind. */
	snprintf(f->path, sizeof(f->path), "%s/var/lib/ward/network.json", f->dir);
	umask(0);
	struct netalloc *na = open_ok(f, &f->pool, 24);
	alloc_ok(na, "sunrise", NULL, "db");
	umask(022);
	assert_int_equal(stat(f->path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	snprintf(tmp, sizeof(tmp), "%s/var/lib/ward", f->dir);
	assert_int_equal(stat(tmp, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0755);
	snprintf(tmp, sizeof(tmp), "%s.tmp", f->path);
	assert_int_equal(access(tmp, F_OK), -1);

	/* A stale temp file of a crashed write does not stop the next one. */
	test_write_file(tmp, "garbage");
	assert_int_equal(chmod(tmp, 0644), 0);
	alloc_ok(na, "lakeside", NULL, "db");
	assert_int_equal(access(tmp, F_OK), -1);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	netalloc_free(na);
}

/* When the file cannot be written, the allocation is refused and nothing
 * is held in memory either. */
static void test_write_failure_changes_nothing(void **state)
{
	struct fixture *f = *state;
	struct netalloc *na = open_ok(f, &f->pool, 24);
	struct ward_err err = {0};
	char tmp[160], expected[512];
	struct tenant x;
	struct result r;

	alloc_ok(na, "alpha", NULL, "db");
	snprintf(tmp, sizeof(tmp), "%s.tmp", f->path);
	assert_int_equal(mkdir(tmp, 0700), 0); /* in the way of the temp file */

	tenant_set(&x, "bravo", NULL, "db");
	assert_int_equal(netalloc_tenant(na, &x.t, &r.subnet, &r.gateway, r.addrs, &err), -1);
	snprintf(expected, sizeof(expected), "unlink %s: Is a directory", tmp);
	assert_string_equal(err.msg, expected);
	assert_string_equal(taken(na, "10.240.1.0/24"), "");
	tenant_set(&x, "alpha", NULL, "db,app");
	assert_int_equal(netalloc_tenant(na, &x.t, &r.subnet, &r.gateway, r.addrs, &err), -1);
	assert_int_equal(netalloc_release(na, "alpha", &err), -1);
	assert_string_equal(taken(na, "10.240.0.0/24"), "alpha");

	assert_int_equal(rmdir(tmp), 0);
	/* app was not recorded: still new, still the lowest free. */
	r = alloc_ok(na, "alpha", NULL, "app,db");
	assert_int_equal(r.addrs[0], IP(10, 240, 0, 3));
	assert_int_equal(r.addrs[1], IP(10, 240, 0, 2));
	assert_subnet((struct result[]){alloc_ok(na, "bravo", NULL, "db")}, IP(10, 240, 1, 0), 24);
	netalloc_free(na);
}

struct corrupt_case {
	const char *name;
	const char *text;
	const char *error; /* after "PATH" */
};

static const struct corrupt_case corrupt_cases[] = {
    {"syntax", "{\"version\": 1, \"tenants\": {}", ":1:28: '}' expected near end of file"},
    {"empty", "", ":1:0: '[' or '{' expected near end of file"},
    {"not_object", "[]", ": expected an object"},
    {"unknown_key", "{\"version\": 1, \"tenants\": {}, \"pool\": 1}", ": unknown key \"pool\""},
    {"no_version", "{\"tenants\": {}}", ": version: expected 1"},
    {"version_2", "{\"version\": 2, \"tenants\": {}}", ": version: expected 1"},
    {"tenants_type", "{\"version\": 1, \"tenants\": []}", ": tenants: expected object"},
    {"tenant_name", "{\"version\": 1, \"tenants\": {\"Bad\\u001bName\": {}}}",
     ": tenants: invalid tenant name \"Bad\\x1bName\""},
    {"tenant_type", "{\"version\": 1, \"tenants\": {\"a\": 1}}", ": tenants.a: expected object"},
    {"tenant_unknown",
     "{\"version\": 1, \"tenants\": {\"a\": {\"subnet\": \"10.0.0.0/24\", \"services\": {}, "
     "\"uid\": 1}}}",
     ": tenants.a: unknown key \"uid\""},
    {"subnet_missing", "{\"version\": 1, \"tenants\": {\"a\": {\"services\": {}}}}",
     ": tenants.a.subnet: expected a subnet of /30 or wider"},
    {"subnet_host_bits",
     "{\"version\": 1, \"tenants\": {\"a\": {\"subnet\": \"10.0.0.1/24\", \"services\": {}}}}",
     ": tenants.a.subnet: expected a subnet of /30 or wider"},
    {"subnet_31",
     "{\"version\": 1, \"tenants\": {\"a\": {\"subnet\": \"10.0.0.0/31\", \"services\": {}}}}",
     ": tenants.a.subnet: expected a subnet of /30 or wider"},
    {"services_missing", "{\"version\": 1, \"tenants\": {\"a\": {\"subnet\": \"10.0.0.0/24\"}}}",
     ": tenants.a.services: expected object"},
    {"service_name",
     "{\"version\": 1, \"tenants\": {\"a\": {\"subnet\": \"10.0.0.0/24\", \"services\": "
     "{\"DB\": \"10.0.0.2\"}}}}",
     ": tenants.a.services: invalid service name \"DB\""},
    {"service_addr",
     "{\"version\": 1, \"tenants\": {\"a\": {\"subnet\": \"10.0.0.0/24\", \"services\": "
     "{\"db\": \"10.0.0\"}}}}",
     ": tenants.a.services.db: expected an IPv4 address"},
    {"service_outside",
     "{\"version\": 1, \"tenants\": {\"a\": {\"subnet\": \"10.0.0.0/24\", \"services\": "
     "{\"db\": \"10.0.1.2\"}}}}",
     ": tenants.a.services.db: 10.0.1.2 is not a service address of 10.0.0.0/24"},
    {"service_gateway",
     "{\"version\": 1, \"tenants\": {\"a\": {\"subnet\": \"10.0.0.0/24\", \"services\": "
     "{\"db\": \"10.0.0.1\"}}}}",
     ": tenants.a.services.db: 10.0.0.1 is not a service address of 10.0.0.0/24"},
    {"service_broadcast",
     "{\"version\": 1, \"tenants\": {\"a\": {\"subnet\": \"10.0.0.0/24\", \"services\": "
     "{\"db\": \"10.0.0.255\"}}}}",
     ": tenants.a.services.db: 10.0.0.255 is not a service address of 10.0.0.0/24"},
    {"service_twice",
     "{\"version\": 1, \"tenants\": {\"a\": {\"subnet\": \"10.0.0.0/24\", \"services\": "
     "{\"db\": \"10.0.0.2\", \"app\": \"10.0.0.2\"}}}}",
     ": tenants.a.services.app: 10.0.0.2 is also service db's"},
    {"too_many_services",
     "{\"version\": 1, \"tenants\": {\"a\": {\"subnet\": \"10.0.0.0/30\", \"services\": "
     "{\"db\": \"10.0.0.2\", \"app\": \"10.0.0.3\"}}}}",
     ": tenants.a.services: more services than 10.0.0.0/30 has room for"},
    {"overlap",
     "{\"version\": 1, \"tenants\": {\"a\": {\"subnet\": \"10.0.0.0/24\", \"services\": {}}, "
     "\"b\": {\"subnet\": \"10.0.0.128/25\", \"services\": {}}}}",
     ": tenants.b.subnet: 10.0.0.128/25 overlaps tenant a (10.0.0.0/24)"},
    {"duplicate_tenant",
     "{\"version\": 1, \"tenants\": {\"a\": {\"subnet\": \"10.0.0.0/24\", \"services\": {}}, "
     "\"a\": {\"subnet\": \"10.0.1.0/24\", \"services\": {}}}}",
     ":1:78: duplicate object key near '\"a\"'"},
};

/* A damaged file is refused, named, and left for the operator to look at. */
static void test_corrupt_file(void **state)
{
	struct fixture *f = *state;
	int failures = 0;

	for (size_t i = 0; i < sizeof(corrupt_cases) / sizeof(corrupt_cases[0]); i++) {
		const struct corrupt_case *c = &corrupt_cases[i];
		struct ward_err err = {0};
		char expected[1024];

		test_write_file(f->path, c->text);
		snprintf(expected, sizeof(expected), "%s%s", f->path, c->error);
		struct netalloc *na = netalloc_open(f->path, &f->pool, 24, &err);
		if (na || strcmp(err.msg, expected) != 0) {
			print_error("%s: got %p \"%s\"\n    want \"%s\"\n", c->name, (void *)na,
				    err.msg, expected);
			failures++;
		}
		netalloc_free(na);
		char *text = test_slurp(f->path);
		assert_string_equal(text, c->text);
		free(text);
	}
	assert_int_equal(failures, 0);
}

static void test_refused_files(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};
	char expected[256], target[160];

	test_write_file(f->path, "{\"version\": 1, \"tenants\": {}}");
	assert_int_equal(chmod(f->path, 0664), 0);
	assert_null(netalloc_open(f->path, &f->pool, 24, &err));
	snprintf(expected, sizeof(expected), "%s: writable by group or others (mode 664)", f->path);
	assert_string_equal(err.msg, expected);
	assert_int_equal(chmod(f->path, 0600), 0);
	netalloc_free(open_ok(f, &f->pool, 24));

	/* A symlink is not followed. */
	snprintf(target, sizeof(target), "%s/elsewhere.json", f->dir);
	assert_int_equal(rename(f->path, target), 0);
	assert_int_equal(symlink(target, f->path), 0);
	assert_null(netalloc_open(f->path, &f->pool, 24, &err));
	assert_int_equal(err.errnum, ELOOP);
	assert_int_equal(unlink(f->path), 0);

	assert_int_equal(mkdir(f->path, 0700), 0);
	assert_null(netalloc_open(f->path, &f->pool, 24, &err));
	snprintf(expected, sizeof(expected), "%s: not a regular file", f->path);
	assert_string_equal(err.msg, expected);
}

static void test_open_arguments(void **state)
{
	struct fixture *f = *state;
	struct ward_err err = {0};
	struct ward_cidr bad = {IP(10, 240, 0, 1), 16};

	assert_null(netalloc_open(f->path, &f->pool, 15, &err));
	assert_string_equal(err.msg, "pool 10.240.0.0/16 in /15 subnets: Invalid argument");
	assert_null(netalloc_open(f->path, &f->pool, 31, &err));
	assert_null(netalloc_open(f->path, &bad, 24, &err));
	assert_null(netalloc_open(NULL, &f->pool, 24, &err));
	assert_null(netalloc_open("", &f->pool, 24, &err));
	/* The whole pool as one subnet is fine. */
	netalloc_free(open_ok(f, &f->pool, 16));
	netalloc_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_pool_allocation, setup, test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_stable_across_reopen, setup,
					    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_explicit_subnets_avoided, setup,
					    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_profile_subnet_wins, setup, test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_service_added_in_middle, setup,
					    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_removed_service_reused, setup,
					    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_overlap_refused, setup, test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_pool_exhausted, setup, test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_no_pool, setup, test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_too_small, setup, test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_release, setup, test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_no_write_when_unchanged, setup,
					    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_deferred_batch, setup, test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_file_mode_and_directory, setup,
					    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_write_failure_changes_nothing, setup,
					    test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_corrupt_file, setup, test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_refused_files, setup, test_fixture_teardown),
	    cmocka_unit_test_setup_teardown(test_open_arguments, setup, test_fixture_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
