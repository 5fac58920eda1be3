/* Address allocation: tenant subnets (from the profile, or the first free
 * block of the daemon's pool) and service addresses inside them, kept in one
 * JSON file that is replaced atomically whenever an allocation changes. */
#include "net/netalloc.h"

#include <arpa/inet.h>
#include <errno.h>
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

#include "basic/cleanup.h"
#include "model/names.h"
#include "basic/text.h"
#include "basic/trusted.h"

#define NA_VERSION    1
#define NA_MAX_BYTES  (16u << 20)
#define NA_PREFIX_MAX 30 /* a /31 or /32 has no network, gateway and host apart */

/* Per subnet: network, gateway and broadcast are never a service's. */
#define NA_RESERVED 3

struct na_service {
	char *name;
	uint32_t addr;
};

/* What one tenant holds. Records never overlap one another. */
struct na_tenant {
	char *name;
	struct ward_cidr subnet;
	struct na_service *svc;
	size_t n_svc;
};

struct netalloc {
	char *path;
	bool has_pool;
	struct ward_cidr pool;
	uint8_t prefix;
	struct na_tenant *v;
	size_t n, cap;
	bool deferred; /* netalloc_defer: changes stay in memory until the flush */
	bool dirty;    /* a deferred change is not in the file yet */
};

/* ---- addresses ---- */

static uint64_t cidr_size(const struct ward_cidr *c)
{
	return (uint64_t)1 << (32 - c->prefix);
}

/* One past the last address: 2^32 for a subnet at the top of the space. */
static uint64_t cidr_end(const struct ward_cidr *c)
{
	return c->addr + cidr_size(c);
}

static bool cidr_overlaps(const struct ward_cidr *a, const struct ward_cidr *b)
{
	return a->addr < cidr_end(b) && b->addr < cidr_end(a);
}

/* An address a service may have: not the network, gateway or broadcast. */
static bool host_ok(const struct ward_cidr *c, uint32_t addr)
{
	return addr >= (uint64_t)c->addr + 2 && addr < cidr_end(c) - 1;
}

#define CIDR_STR_MAX sizeof("255.255.255.255/32")

static const char *cidr_str(const struct ward_cidr *c, char *buf)
{
	char a[IP4_STRING_MAX];

	/* Checked, though it cannot be cut: gcc's truncation warning does not
	 * know a prefix is at most 32. */
	if (snprintf(buf, CIDR_STR_MAX, "%s/%u", ip4_string(c->addr, a), c->prefix & 63U) >=
	    (int)CIDR_STR_MAX)
		buf[0] = '\0';
	return buf;
}

#define ADDR(a) ip4_string((a), (char[IP4_STRING_MAX]){0})
#define CIDR(c) cidr_str((c), (char[CIDR_STR_MAX]){0})

static int addr_parse(const char *s, uint32_t *out)
{
	struct in_addr in;

	if (inet_pton(AF_INET, s, &in) != 1)
		return -1;
	*out = ntohl(in.s_addr);
	return 0;
}

/* Text from the file in a message: quoted, escaped and cut short, so a
 * damaged file cannot write control sequences to an operator's terminal. */
#define QUOTE_MAX 40
#define Q(s)      ward_quote((s), strlen(s), QUOTE_MAX, (char[QUOTE_MAX * 4 + 8]){0}, QUOTE_MAX * 4 + 8)

/* ---- records ---- */

static void rec_free(struct na_tenant *r)
{
	for (size_t i = 0; i < r->n_svc; i++)
		free(r->svc[i].name);
	free(r->svc);
	free(r->name);
	*r = (struct na_tenant){0};
}

/* Index of the tenant's record, or na->n. */
static size_t rec_index(const struct netalloc *na, const char *name)
{
	size_t i = 0;

	while (i < na->n && strcmp(na->v[i].name, name) != 0)
		i++;
	return i;
}

static const struct na_service *rec_service(const struct na_tenant *r, const char *name)
{
	for (size_t i = 0; r && i < r->n_svc; i++)
		if (strcmp(r->svc[i].name, name) == 0)
			return &r->svc[i];
	return NULL;
}

/* The first tenant other than `self` whose subnet overlaps c. */
static const struct na_tenant *overlap_find(const struct netalloc *na, const struct ward_cidr *c,
					    const char *self)
{
	for (size_t i = 0; i < na->n; i++)
		if (strcmp(na->v[i].name, self) != 0 && cidr_overlaps(&na->v[i].subnet, c))
			return &na->v[i];
	return NULL;
}

static int reserve(struct netalloc *na, size_t want)
{
	if (want <= na->cap)
		return 0;
	size_t cap = na->cap ? na->cap : 16;
	while (cap < want) {
		if (cap > SIZE_MAX / 2 / sizeof(*na->v))
			return -1;
		cap *= 2;
	}
	struct na_tenant *v = realloc(na->v, cap * sizeof(*v));
	if (!v)
		return -1;
	na->v = v;
	na->cap = cap;
	return 0;
}

/* ---- the file ---- */

static int bad(struct ward_err *err, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "PATH: what is wrong": the file is left as it is for the operator. */
static int bad(struct ward_err *err, const char *path, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap); /* a long message may be cut */
	va_end(ap);
	return ward_err_set(err, 0, "%s: %s", path, msg);
}

/* An object whose keys are all in `allowed`; NULL when it is fine, else
 * the first key that is not. */
static const char *unknown_key(json_t *obj, const char *const allowed[])
{
	const char *k;
	json_t *m;

	json_object_foreach(obj, k, m)
	{
		const char *const *a = allowed;
		while (*a && strcmp(*a, k) != 0)
			a++;
		if (!*a)
			return k;
	}
	return NULL;
}

static int services_load(const char *path, const char *tname, json_t *obj, struct na_tenant *r,
			 struct ward_err *err)
{
	const char *k;
	json_t *m;

	if (!json_is_object(obj))
		return bad(err, path, "tenants.%s.services: expected object", tname);
	if (json_object_size(obj) > cidr_size(&r->subnet) - NA_RESERVED)
		return bad(err, path, "tenants.%s.services: more services than %s has room for",
			   tname, CIDR(&r->subnet));
	if (json_object_size(obj) && !(r->svc = calloc(json_object_size(obj), sizeof(*r->svc))))
		return ward_err_set(err, ENOMEM, "%s", path);
	json_object_foreach(obj, k, m)
	{
		uint32_t a;

		if (!ward_name_valid(k))
			return bad(err, path, "tenants.%s.services: invalid service name %s", tname,
				   Q(k));
		if (!json_is_string(m) || addr_parse(json_string_value(m), &a) < 0)
			return bad(err, path, "tenants.%s.services.%s: expected an IPv4 address",
				   tname, k);
		if (!host_ok(&r->subnet, a))
			return bad(err, path,
				   "tenants.%s.services.%s: %s is not a service address of %s",
				   tname, k, ADDR(a), CIDR(&r->subnet));
		for (size_t i = 0; i < r->n_svc; i++)
			if (r->svc[i].addr == a)
				return bad(err, path,
					   "tenants.%s.services.%s: %s is also service %s's", tname,
					   k, ADDR(a), r->svc[i].name);
		if (!(r->svc[r->n_svc].name = strdup(k)))
			return ward_err_set(err, ENOMEM, "%s", path);
		r->svc[r->n_svc++].addr = a;
	}
	return 0;
}

static int tenant_load(struct netalloc *na, const char *name, json_t *obj, struct na_tenant *r,
		       struct ward_err *err)
{
	static const char *const keys[] = {"subnet", "services", NULL};
	const char *path = na->path;
	const char *k;
	json_t *s;

	if (!ward_name_valid(name))
		return bad(err, path, "tenants: invalid tenant name %s", Q(name));
	if (!json_is_object(obj))
		return bad(err, path, "tenants.%s: expected object", name);
	if ((k = unknown_key(obj, keys)))
		return bad(err, path, "tenants.%s: unknown key %s", name, Q(k));
	if (!(r->name = strdup(name)))
		return ward_err_set(err, ENOMEM, "%s", path);
	s = json_object_get(obj, "subnet");
	if (!json_is_string(s) || ward_parse_cidr(json_string_value(s), &r->subnet) < 0 ||
	    r->subnet.prefix > NA_PREFIX_MAX)
		return bad(err, path, "tenants.%s.subnet: expected a subnet of /%d or wider", name,
			   NA_PREFIX_MAX);
	const struct na_tenant *o = overlap_find(na, &r->subnet, name);
	if (o)
		return bad(err, path, "tenants.%s.subnet: %s overlaps tenant %s (%s)", name,
			   CIDR(&r->subnet), o->name, CIDR(&o->subnet));
	return services_load(path, name, json_object_get(obj, "services"), r, err);
}

static int state_load(struct netalloc *na, const char *text, size_t len, struct ward_err *err)
{
	static const char *const keys[] = {"version", "tenants", NULL};
	json_error_t e;
	_cleanup_(json_decrefp) json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e);
	const char *k;
	json_t *m, *t;

	if (!root) {
		text_clean(e.text); /* jansson quotes the input in its messages */
		return ward_err_set(err, 0, "%s:%d:%d: %s", na->path, e.line, e.column, e.text);
	}
	if (!json_is_object(root))
		return bad(err, na->path, "expected an object");
	if ((k = unknown_key(root, keys)))
		return bad(err, na->path, "unknown key %s", Q(k));
	m = json_object_get(root, "version");
	if (!json_is_integer(m) || json_integer_value(m) != NA_VERSION)
		return bad(err, na->path, "version: expected %d", NA_VERSION);
	m = json_object_get(root, "tenants");
	if (!json_is_object(m))
		return bad(err, na->path, "tenants: expected object");
	if (reserve(na, json_object_size(m)) < 0)
		return ward_err_set(err, ENOMEM, "%s", na->path);
	json_object_foreach(m, k, t)
	{
		/* Counted in before it is filled, so that a failure frees it. */
		struct na_tenant *r = &na->v[na->n++];

		*r = (struct na_tenant){0};
		if (tenant_load(na, k, t, r, err) < 0)
			return -1;
	}
	return 0;
}

static json_t *rec_json(const struct na_tenant *r)
{
	_cleanup_(json_decrefp) json_t *o = json_object();
	json_t *svc;

	/* set_new takes the value, also when it fails. */
	if (!o || json_object_set_new(o, "subnet", json_string(CIDR(&r->subnet))) < 0 ||
	    json_object_set_new(o, "services", json_object()) < 0)
		return NULL;
	svc = json_object_get(o, "services");
	for (size_t i = 0; i < r->n_svc; i++)
		if (json_object_set_new(svc, r->svc[i].name, json_string(ADDR(r->svc[i].addr))) < 0)
			return NULL;
	return TAKE_PTR(o);
}

/* The document of all records, records[at] replaced by rec (rec NULL: left
 * out; at == n: rec added). Keys sorted: the same state, the same bytes. */
static char *state_dump(const struct netalloc *na, size_t at, const struct na_tenant *rec)
{
	_cleanup_(json_decrefp) json_t *root = json_object();
	json_t *tenants;

	if (!root || json_object_set_new(root, "version", json_integer(NA_VERSION)) < 0 ||
	    json_object_set_new(root, "tenants", json_object()) < 0)
		return NULL;
	tenants = json_object_get(root, "tenants");
	for (size_t i = 0; i <= na->n; i++) {
		const struct na_tenant *r = i == at ? rec : i < na->n ? &na->v[i] : NULL;
		if (r && json_object_set_new(tenants, r->name, rec_json(r)) < 0)
			return NULL;
	}
	return json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
}

/* mkdir -p of the file's directory. */
static int dir_make(char *dir, struct ward_err *err)
{
	if (mkdir(dir, 0755) == 0 || errno == EEXIST)
		return 0;
	if (errno != ENOENT)
		return ward_err_set(err, errno, "mkdir %s", dir);
	for (char *p = dir + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return ward_err_set(err, errno, "mkdir %s", dir);
		*p = c;
		if (!c)
			return 0;
	}
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int fsync_dir(const char *dir, struct ward_err *err)
{
	_cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || fsync(fd) < 0)
		return ward_err_set(err, errno, "fsync %s", dir);
	return 0;
}

/* Replaces the file by one holding text: PATH.tmp written and synced, renamed
 * over PATH, the directory synced. -1: nothing changed, the old file stands;
 * -2: replaced, but the directory could not be synced. */
static int file_replace(const char *path, const char *text, struct ward_err *err)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int n, r;

	/* "x" -> ".", "/x" -> "/", "/a/x" -> "/a" */
	if (!slash)
		n = snprintf(dir, sizeof(dir), ".");
	else
		n = snprintf(dir, sizeof(dir), "%.*s", (int)(slash == path ? 1 : slash - path),
			     path);
	if (n < 0 || (size_t)n >= sizeof(dir))
		return ward_err_set(err, ENAMETOOLONG, "%s", path);
	n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return ward_err_set(err, ENAMETOOLONG, "%s", path);
	if (dir_make(dir, err) < 0)
		return -1;

	/* A stale temp file of a crashed write is ours to replace. */
	if (unlink(tmp) < 0 && errno != ENOENT)
		return ward_err_set(err, errno, "unlink %s", tmp);
	_cleanup_close_ int fd =
	    open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return ward_err_set(err, errno, "create %s", tmp);
	if (fchmod(fd, 0600) < 0) /* whatever the umask took away */
		r = ward_err_set(err, errno, "chmod %s", tmp);
	else if (write_all(fd, text, strlen(text)) < 0 || write_all(fd, "\n", 1) < 0)
		r = ward_err_set(err, errno, "write %s", tmp);
	else if (fsync(fd) < 0)
		r = ward_err_set(err, errno, "fsync %s", tmp);
	else if (close(TAKE_FD(fd)) < 0)
		r = ward_err_set(err, errno, "close %s", tmp);
	else if (rename(tmp, path) < 0)
		r = ward_err_set(err, errno, "rename %s to %s", tmp, path);
	else
		return fsync_dir(dir, err) < 0 ? -2 : 0;
	(void)unlink(tmp);
	return r;
}

/* As file_replace: -1 nothing written, -2 written but maybe not durable. */
static int state_write(const struct netalloc *na, size_t at, const struct na_tenant *rec,
		       struct ward_err *err)
{
	_cleanup_free_ char *text = state_dump(na, at, rec);

	if (!text)
		return ward_err_set(err, ENOMEM, "%s", na->path);
	/* Never write what netalloc_open would refuse to read. */
	if (strlen(text) >= NA_MAX_BYTES)
		return ward_err_set(err, 0, "%s: would be larger than %u bytes", na->path,
				    NA_MAX_BYTES);
	return file_replace(na->path, text, err);
}

/* ---- the API ---- */

struct netalloc *netalloc_open(const char *path, const struct ward_cidr *pool, uint8_t prefix,
			       struct ward_err *err)
{
	struct ward_err e = {0};
	size_t len;

	if (!path || !*path)
		return ward_err_set(err, EINVAL, "allocations file"), NULL;
	if (pool && (pool->prefix > 32 || prefix < pool->prefix || prefix > NA_PREFIX_MAX ||
		     (pool->prefix < 32 && pool->addr << pool->prefix)))
		return ward_err_set(err, EINVAL, "pool %s in /%u subnets", CIDR(pool),
				    (unsigned)prefix),
		       NULL;
	struct netalloc *na = calloc(1, sizeof(*na));
	if (!na || !(na->path = strdup(path))) {
		free(na);
		return ward_err_set(err, ENOMEM, "%s", path), NULL;
	}
	if (pool) {
		na->has_pool = true;
		na->pool = *pool;
		na->prefix = prefix;
	}
	_cleanup_free_ char *text =
	    trusted_file_read(AT_FDCWD, path, path, true, NA_MAX_BYTES, &len, &e);
	if (!text && e.errnum == ENOENT)
		return na; /* nothing allocated yet */
	if (!text || state_load(na, text, len, &e) < 0) {
		netalloc_free(na);
		if (err)
			*err = e;
		return NULL;
	}
	/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): text is _cleanup_free_ */
	return na;
}

void netalloc_free(struct netalloc *na)
{
	if (!na)
		return;
	for (size_t i = 0; i < na->n; i++)
		rec_free(&na->v[i]);
	free(na->v);
	free(na->path);
	free(na);
}

/* The would-be subnet: the profile's, else the one held. NULL: neither. */
static const struct ward_cidr *subnet_wanted(const struct netalloc *na, const struct ward_tenant *t)
{
	size_t i;

	if (t->network.has_subnet)
		return &t->network.subnet;
	i = rec_index(na, t->name);
	return i < na->n ? &na->v[i].subnet : NULL;
}

bool netalloc_conflict(struct netalloc *na, const struct ward_tenant *t, char *other, size_t len)
{
	const struct ward_cidr *s = subnet_wanted(na, t);
	const struct na_tenant *o = s ? overlap_find(na, s, t->name) : NULL;

	if (!o)
		return false;
	if (other && len)
		(void)snprintf(other, len, "%s", o->name); /* a short buffer gets a cut name */
	return true;
}

/* The first block of the pool that no tenant holds any part of. */
static int pool_alloc(const struct netalloc *na, const char *self, struct ward_cidr *out,
		      struct ward_err *err)
{
	if (!na->has_pool)
		return ward_err_set(err, 0, "no subnet in the profile and no address pool");
	uint64_t step = (uint64_t)1 << (32 - na->prefix);
	uint64_t end = cidr_end(&na->pool);

	for (uint64_t a = na->pool.addr; a + step <= end;) {
		struct ward_cidr c = {(uint32_t)a, na->prefix};
		const struct na_tenant *o = overlap_find(na, &c, self);
		if (!o) {
			*out = c;
			return 0;
		}
		/* On to the first block past what that tenant holds. */
		uint64_t next = (cidr_end(&o->subnet) + step - 1) / step * step;
		a = next > a ? next : a + step;
	}
	return ward_err_set(err, 0, "address pool %s is exhausted: no free /%u subnet left",
			    CIDR(&na->pool), (unsigned)na->prefix);
}

static int subnet_check(const struct netalloc *na, const struct ward_tenant *t,
			const struct ward_cidr *s, struct ward_err *err)
{
	const struct na_tenant *o = overlap_find(na, s, t->name);

	if (o)
		return ward_err_set(err, 0, "subnet %s overlaps tenant %s (%s)", CIDR(s), o->name,
				    CIDR(&o->subnet));
	if (s->prefix > NA_PREFIX_MAX)
		return ward_err_set(err, 0,
				    "subnet %s is too small: a /31 or /32 has no room for a "
				    "gateway and services",
				    CIDR(s));
	if (t->n_services > cidr_size(s) - NA_RESERVED)
		return ward_err_set(err, 0,
				    "subnet %s is too small for %zu services: it has room for "
				    "%" PRIu64 " (network, gateway and broadcast excluded)",
				    CIDR(s), t->n_services, cidr_size(s) - NA_RESERVED);
	return 0;
}

static int addr_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* addrs[i] for t->services[i]: the recorded address when it is still a host
 * address of s, else the lowest free one. subnet_check made sure all fit. */
static int services_assign(const struct ward_tenant *t, const struct ward_cidr *s,
			   const struct na_tenant *old, uint32_t *addrs)
{
	_cleanup_free_ uint32_t *kept = calloc(t->n_services + 1, sizeof(*kept));
	size_t n_kept = 0, j = 0;
	uint64_t next = (uint64_t)s->addr + 2;

	if (!kept)
		return -1;
	/* All kept first, so a new service never takes a later one's address. */
	for (size_t i = 0; i < t->n_services; i++) {
		const struct na_service *r = rec_service(old, t->services[i].name);
		addrs[i] = r && host_ok(s, r->addr) ? r->addr : 0;
		if (addrs[i])
			kept[n_kept++] = addrs[i];
	}
	qsort(kept, n_kept, sizeof(*kept), addr_cmp);
	for (size_t i = 0; i < t->n_services; i++) {
		if (addrs[i])
			continue;
		for (;; next++) {
			while (j < n_kept && kept[j] < next)
				j++;
			if (j == n_kept || kept[j] != next)
				break;
		}
		addrs[i] = (uint32_t)next++;
	}
	return 0;
}

static bool rec_same(const struct na_tenant *old, const struct ward_tenant *t,
		     const struct ward_cidr *s, const uint32_t *addrs)
{
	if (old->subnet.addr != s->addr || old->subnet.prefix != s->prefix ||
	    old->n_svc != t->n_services)
		return false;
	for (size_t i = 0; i < t->n_services; i++) {
		const struct na_service *r = rec_service(old, t->services[i].name);
		if (!r || r->addr != addrs[i])
			return false;
	}
	return true;
}

static int rec_build(const struct ward_tenant *t, const struct ward_cidr *s, const uint32_t *addrs,
		     struct na_tenant *out)
{
	*out = (struct na_tenant){.subnet = *s};
	if (!(out->name = strdup(t->name)))
		return -1;
	if (t->n_services && !(out->svc = calloc(t->n_services, sizeof(*out->svc))))
		return -1;
	for (size_t i = 0; i < t->n_services; i++) {
		if (!(out->svc[i].name = strdup(t->services[i].name)))
			return -1;
		out->svc[i].addr = addrs[i];
		out->n_svc = i + 1;
	}
	return 0;
}

/* Records what the tenant now holds (subnet s, addrs) in place of record i
 * (i == na->n: a new one), file first. */
static int rec_commit(struct netalloc *na, size_t i, const struct ward_tenant *t,
		      const struct ward_cidr *s, const uint32_t *addrs, struct ward_err *err)
{
	struct na_tenant rec;
	int r;

	if (rec_build(t, s, addrs, &rec) < 0) {
		rec_free(&rec);
		return ward_err_set(err, ENOMEM, "%s", na->path);
	}
	if (na->deferred) {
		na->dirty = true;
		r = 0;
	} else {
		r = state_write(na, i, &rec, err);
	}
	if (r == -1) {
		rec_free(&rec);
		return -1;
	}
	/* Also on -2: what is in memory stays what the file says. */
	if (i < na->n)
		rec_free(&na->v[i]);
	else
		na->n++;
	na->v[i] = rec;
	return r < 0 ? -1 : 0;
}

int netalloc_tenant(struct netalloc *na, const struct ward_tenant *t, struct ward_cidr *subnet,
		    uint32_t *gateway, uint32_t *addrs, struct ward_err *err)
{
	size_t i = rec_index(na, t->name);
	bool held = i < na->n;
	struct ward_cidr s = {0};
	uint32_t *a;
	int r = 0;

	/* Room for a new record first: nothing can fail after the write. */
	if (!held && reserve(na, na->n + 1) < 0)
		return ward_err_set(err, ENOMEM, "%s", na->path);
	const struct na_tenant *old = held ? &na->v[i] : NULL;
	if (t->network.has_subnet)
		s = t->network.subnet; /* the profile wins over what was held */
	else if (held)
		s = na->v[i].subnet;
	else if (pool_alloc(na, t->name, &s, err) < 0)
		return -1;
	if (subnet_check(na, t, &s, err) < 0)
		return -1;

	if (!(a = calloc(t->n_services + 1, sizeof(*a))))
		return ward_err_set(err, ENOMEM, "%s", na->path);
	if (services_assign(t, &s, old, a) < 0)
		r = ward_err_set(err, ENOMEM, "%s", na->path);
	/* Only a change is written: a start-up with nothing new writes nothing. */
	else if (!held || !rec_same(old, t, &s, a))
		r = rec_commit(na, i, t, &s, a, err);
	if (r == 0) {
		*subnet = s;
		*gateway = s.addr + 1;
		if (t->n_services)
			memcpy(addrs, a, t->n_services * sizeof(*addrs));
	}
	free(a);
	return r;
}

int netalloc_release(struct netalloc *na, const char *tenant, struct ward_err *err)
{
	size_t i = rec_index(na, tenant);

	if (i == na->n)
		return 0;
	int r = 0;
	if (na->deferred)
		na->dirty = true;
	else
		r = state_write(na, i, NULL, err);
	if (r == -1)
		return -1;
	rec_free(&na->v[i]);
	memmove(&na->v[i], &na->v[i + 1], (na->n - i - 1) * sizeof(*na->v));
	na->n--;
	return r < 0 ? -1 : 0;
}

void netalloc_defer(struct netalloc *na)
{
	na->deferred = true;
}

int netalloc_flush(struct netalloc *na, struct ward_err *err)
{
	int r;

	na->deferred = false;
	if (!na->dirty)
		return 0;
	/* SIZE_MAX: no record replaced, every one written as it is. */
	r = state_write(na, SIZE_MAX, NULL, err);
	if (r == 0)
		na->dirty = false;
	return r < 0 ? -1 : 0;
}
