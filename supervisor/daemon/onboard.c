/* Onboarding and offboarding: a practice made from a template (a uid range
 * and a subnet from the pools, its data directory, its profile written
 * atomically, started by a reload), or stopped and removed with its data
 * archived or purged. Each step that changes the host is recorded in a job,
 * so a failure undoes exactly what was done. The long steps of offboarding
 * (tar, removing a data tree) run as child processes watched on the loop. */
#include "daemon/onboard.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/cgroup.h"
#include "basic/cleanup.h"
#include "basic/trusted.h"
#include "model/profile.h"
#include "model/subid.h"
#include "sandbox/quota.h"

#define PLACEHOLDER      "{tenant}"
#define PROFILE_SUFFIX   ".json"
#define TMP_SUFFIX       ".json.tmp"
#define ASIDE_SUFFIX     ".json.offboarding" /* not *.json: a reload does not load it */
#define LOGS_KEPT_INFIX  ".offboarded-"
#define TAR_PATH         "/bin/tar"
#define CHILD_ERR_MAX    600 /* bytes of a child's stderr kept for the message */
#define REMOVE_MAX_DEPTH 4096
#define BY_MAX           64
/* The data root is the barrier between the host's users and the tenants'
 * files: a tenant owns its directory and can open its mode to everyone,
 * and leave a setuid-to-itself program in it (nosuid holds inside the
 * sandbox, not on the host). Only root may go through the root. */
#define DATA_ROOT_MODE 0700
#define DATA_DIR_MODE  0700
#define PROFILE_MODE   0644
#define ARCHIVE_MODE   0600

struct offboard;

struct onboarding {
	const struct ward_config *cfg;
	struct loop *loop;
	struct supervisor *sup;
	struct network *net;
	struct audit *audit;
	struct offboard *offboards; /* under way */
};

/* ======================================================================
 * Small helpers
 * ====================================================================== */

static int path_join(char *buf, size_t size, const char *dir, const char *name, const char *suffix)
{
	int n = snprintf(buf, size, "%s/%s%s", dir, name, suffix);

	if (n < 0 || (size_t)n >= size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n > m && strcmp(s + n - m, suffix) == 0;
}

static void cidr_string(const struct ward_cidr *c, char buf[20])
{
	char a[16];

	network_addr_string(c->addr, a);
	(void)snprintf(buf, 20, "%s/%u", a, (unsigned)c->prefix); /* at most 18 bytes */
}

static int fsync_dir(const char *path)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || fsync(fd) < 0)
		return -1;
	return 0;
}

/* Text from files and children in a message: no control bytes. */
static void sanitize(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = *s == '\n' ? ' ' : '?';
}

/* A message into buf; a long one is cut (it is for people to read). */
static void message_set(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void message_set(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(buf, size, fmt, ap);
	va_end(ap);
}

/* ======================================================================
 * Audit
 * ====================================================================== */

/* {"tenant", "by", "verdict", ...extra}: extra (taken, may be NULL) is merged in. */
static void audit_job(struct onboarding *ob, const char *event, const char *tenant, const char *by,
		      const char *verdict, json_t *extra)
{
	json_t *f =
	    json_pack("{s:s, s:s, s:s}", "tenant", tenant, "by", by ? by : "", "verdict", verdict);

	if (f && extra)
		json_object_update(f, extra);
	json_decref(extra);
	if (!f) {
		fprintf(stderr, "wardd: audit: %s %s: out of memory\n", event, tenant);
		return;
	}
	audit_event(ob->audit, event, f);
}

/* ======================================================================
 * Onboarding
 * ====================================================================== */

/* What one onboarding has done so far: the rollback undoes exactly that. */
struct onboard_job {
	const char *name, *tmpl, *display_name;
	char tmpl_path[PATH_MAX];
	char profile_path[PATH_MAX];
	char data_path[PATH_MAX];
	struct ward_ids ids;
	bool has_net;
	struct ward_cidr subnet;

	bool net_held;     /* network_tenant_prepare allocated (or found) a subnet */
	bool data_made;    /* DATA_DIR/NAME was created by us */
	bool profile_made; /* TENANTS/NAME.json was renamed in by us */
};

/* Uid ranges and subnets in use, and by whom. */
struct in_use {
	struct ward_ids *ids;
	size_t n_ids, cap_ids;
	struct named_subnet {
		struct ward_cidr subnet;
		char file[NAME_MAX + 1];
	} * subnets;
	size_t n_subnets, cap_subnets;
	uint32_t *proc_ids; /* uids and gids of live processes inside the pool, sorted */
	size_t n_proc_ids, cap_proc_ids;
};

static void in_use_free(struct in_use *u)
{
	free(u->ids);
	free(u->subnets);
	free(u->proc_ids);
}

static int grow(void **v, size_t *cap, size_t n, size_t size)
{
	size_t c = *cap ? *cap * 2 : 16;
	void *p;

	if (n < *cap)
		return 0;
	if (c > SIZE_MAX / size)
		return -1;
	p = realloc(*v, c * size);
	if (!p)
		return -1;
	*v = p;
	*cap = c;
	return 0;
}

static int in_use_add_ids(struct in_use *u, uint32_t uid, uint32_t count)
{
	if (grow((void **)&u->ids, &u->cap_ids, u->n_ids, sizeof(*u->ids)) < 0)
		return -1;
	u->ids[u->n_ids++] = (struct ward_ids){.set = true, .uid = uid, .count = count};
	return 0;
}

/* The ids and subnet a profile file names, read loosely: a file the
 * supervisor rejects today may be fixed tomorrow, and must not collide then. */
static int in_use_add_file(struct in_use *u, int dirfd, const char *file, const char *dir)
{
	char path[PATH_MAX];
	struct ward_err e = {0};
	size_t len;
	json_t *ids, *subnet;
	int r = 0;

	if (path_join(path, sizeof(path), dir, file, "") < 0)
		return 0;
	_cleanup_free_ char *text =
	    trusted_file_read(dirfd, file, path, true, WARD_PROFILE_MAX_BYTES, &len, &e);
	if (!text)
		return 0; /* the supervisor refuses it too, and says why */
	_cleanup_(json_decrefp) json_t *root = json_loadb(text, len, 0, NULL);
	ids = json_object_get(root, "ids");
	if (json_is_integer(json_object_get(ids, "uid"))) {
		json_int_t uid = json_integer_value(json_object_get(ids, "uid"));
		json_int_t count = json_is_integer(json_object_get(ids, "count"))
				       ? json_integer_value(json_object_get(ids, "count"))
				       : 1;

		if (uid >= 0 && uid <= UINT32_MAX && count > 0 && count <= UINT32_MAX)
			r = in_use_add_ids(u, (uint32_t)uid, (uint32_t)count);
	}
	subnet = json_object_get(json_object_get(root, "network"), "subnet");
	if (r == 0 && json_is_string(subnet)) {
		struct ward_cidr c;

		if (ward_parse_cidr(json_string_value(subnet), &c) == 0) {
			if (grow((void **)&u->subnets, &u->cap_subnets, u->n_subnets,
				 sizeof(*u->subnets)) < 0)
				return -1;
			u->subnets[u->n_subnets].subnet = c;
			(void)snprintf(u->subnets[u->n_subnets].file,
				       sizeof(u->subnets[u->n_subnets].file), "%s", file);
			u->n_subnets++;
		}
	}
	return r;
}

/* Every profile in the tenants directory, also those being offboarded. */
static int in_use_scan_profiles(struct onboarding *ob, struct in_use *u, struct ward_err *err)
{
	const char *dir = ob->cfg->tenants_dir;
	DIR *d = opendir(dir);
	struct dirent *e;
	int r = 0;

	if (!d)
		return ward_err_set(err, errno, "tenants directory %s", dir);
	errno = 0;
	while (r == 0 && (e = readdir(d))) {
		if (e->d_name[0] == '.' ||
		    !(ends_with(e->d_name, PROFILE_SUFFIX) || ends_with(e->d_name, ASIDE_SUFFIX)))
			continue;
		if (in_use_add_file(u, dirfd(d), e->d_name, dir) < 0)
			r = ward_err_set(err, ENOMEM, "tenants directory %s", dir);
	}
	if (r == 0 && errno)
		r = ward_err_set(err, errno, "reading %s", dir);
	closedir(d);
	return r;
}

static int in_use_add_tenant(const struct ward_tenant *t, void *ud)
{
	struct in_use *u = ud;

	if (t->ids.set && in_use_add_ids(u, t->ids.uid, t->ids.count) < 0)
		return -1;
	return 0;
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* "Uid:\tR\tE\tS\tF" of /proc/PID/status: the ids inside the pool. */
static int proc_ids_line(struct in_use *u, const char *line, uint64_t lo, uint64_t hi)
{
	const char *p = strchr(line, ':');

	for (int i = 0; p && i < 4; i++) {
		char *end;
		unsigned long long v;

		p++;
		errno = 0;
		v = strtoull(p, &end, 10);
		if (errno || end == p)
			break;
		p = end;
		if (v < lo || v >= hi)
			continue;
		if (grow((void **)&u->proc_ids, &u->cap_proc_ids, u->n_proc_ids,
			 sizeof(*u->proc_ids)) < 0)
			return -1;
		u->proc_ids[u->n_proc_ids++] = (uint32_t)v;
	}
	return 0;
}

/* The uids and gids of every live process that fall inside the pool: a
 * range a process still uses (a tenant on its way out, something else on
 * the host) is not handed out. */
static int in_use_scan_procs(struct onboarding *ob, struct in_use *u, struct ward_err *err)
{
	uint64_t lo = ob->cfg->id_pool_start, hi = lo + ob->cfg->id_pool_size;
	DIR *d = opendir("/proc");
	struct dirent *e;

	if (!d)
		return ward_err_set(err, errno, "/proc (to see which uids are in use)");
	while ((e = readdir(d))) {
		char path[64], buf[4096];
		_cleanup_close_ int fd = -1;
		ssize_t n;

		if (e->d_name[0] < '1' || e->d_name[0] > '9' ||
		    snprintf(path, sizeof(path), "%s/status", e->d_name) >= (int)sizeof(path))
			continue;
		fd = openat(dirfd(d), path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue; /* gone meanwhile */
		n = read(fd, buf, sizeof(buf) - 1);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		for (char *line = buf, *next; line && *line; line = next) {
			next = strchr(line, '\n');
			if (next)
				*next++ = '\0';
			if ((strncmp(line, "Uid:", 4) == 0 || strncmp(line, "Gid:", 4) == 0) &&
			    proc_ids_line(u, line, lo, hi) < 0) {
				closedir(d);
				return ward_err_set(err, ENOMEM, "/proc");
			}
		}
	}
	closedir(d);
	if (u->n_proc_ids > 1)
		qsort(u->proc_ids, u->n_proc_ids, sizeof(*u->proc_ids), u32_cmp);
	return 0;
}

static bool ids_overlap(uint64_t a, uint64_t an, uint64_t b, uint64_t bn)
{
	return a < b + bn && b < a + an;
}

/* Whether a live process has an id in [lo, lo + n). */
static bool proc_ids_within(const struct in_use *u, uint64_t lo, uint64_t n)
{
	size_t a = 0, b = u->n_proc_ids;

	while (a < b) { /* the first id >= lo */
		size_t m = a + (b - a) / 2;
		if (u->proc_ids[m] < lo)
			a = m + 1;
		else
			b = m;
	}
	return a < u->n_proc_ids && u->proc_ids[a] < lo + n;
}

struct offboard {
	struct onboarding *ob;
	struct offboard *next;
	char name[WARD_NAME_MAX + 1];
	char by[BY_MAX];
	struct ward_ids ids;
	bool purge;
	char archive[PATH_MAX];
	int archive_fd;
	dev_t archive_dev;
	ino_t archive_ino;
	bool aside; /* the profile is TENANTS/NAME.json.offboarding */
	enum offboard_step {
		STEP_STOPPING,  /* the supervisor stops the tenant */
		STEP_STOPPED,   /* it is down; the next step runs from a timer */
		STEP_ARCHIVING, /* tar runs */
		STEP_REMOVING,  /* the data (and on purge the logs) are being removed */
	} step;
	struct loop_timer *timer;
	pid_t child;
	int pidfd, err_fd;
	char child_err[CHILD_ERR_MAX];
	size_t child_err_len;
	json_t *report;
	offboard_done_fn done;
	void *ud;
};

static struct offboard *offboard_find(struct onboarding *ob, const char *name)
{
	for (struct offboard *o = ob->offboards; o; o = o->next)
		if (strcmp(o->name, name) == 0)
			return o;
	return NULL;
}

/* The first range of the pool that no profile, live tenant, tenant being
 * offboarded or process uses. */
static int ids_pick(struct onboarding *ob, struct onboard_job *j, struct ward_err *err)
{
	const struct ward_config *cfg = ob->cfg;
	uint64_t ranges = cfg->id_pool_size / cfg->id_count;
	struct in_use u = {0};
	struct subids sub = {0};
	int r = -1;

	/* No range of a pool that meets a host user's subordinate ids is
	 * handed out: the pool is refused whole, with the line that says so
	 * (the files are read now: useradd may have added one since start). */
	if (subids_load(cfg->subuid_file, cfg->subgid_file, &sub, err) < 0 ||
	    subids_check(&sub, "the uid pool (ids.pool_start, ids.pool_size in wardd.json)",
			 cfg->id_pool_start, cfg->id_pool_size, err) < 0)
		goto out;
	if (in_use_scan_profiles(ob, &u, err) < 0)
		goto out;
	if (supervisor_each_tenant(ob->sup, in_use_add_tenant, &u) != 0) {
		ward_err_set(err, ENOMEM, "uid pool");
		goto out;
	}
	for (struct offboard *o = ob->offboards; o; o = o->next)
		if (in_use_add_ids(&u, o->ids.uid, o->ids.count) < 0) {
			ward_err_set(err, ENOMEM, "uid pool");
			goto out;
		}
	if (in_use_scan_procs(ob, &u, err) < 0)
		goto out;
	for (uint64_t k = 0; k < ranges; k++) {
		uint64_t lo = cfg->id_pool_start + k * cfg->id_count;
		bool used = proc_ids_within(&u, lo, cfg->id_count);

		for (size_t i = 0; i < u.n_ids && !used; i++)
			used = ids_overlap(lo, cfg->id_count, u.ids[i].uid, u.ids[i].count);
		if (used)
			continue;
		j->ids =
		    (struct ward_ids){.set = true, .uid = (uint32_t)lo, .count = cfg->id_count};
		r = 0;
		goto out;
	}
	ward_err_set(err, 0,
		     "uid pool exhausted: all %" PRIu64 " ranges of %u uids from uid %u are in use "
		     "(ids.pool_start, ids.pool_size, ids.count in wardd.json)",
		     ranges, cfg->id_count, cfg->id_pool_start);
out:
	subids_free(&sub);
	in_use_free(&u);
	return r;
}

/* After the pool gave a subnet: no profile file may name it (one that is
 * not loaded, or being offboarded, would collide once it is). */
static int subnet_unclaimed(struct onboarding *ob, struct onboard_job *j, struct ward_err *err)
{
	struct in_use u = {0};
	int r = 0;

	if (in_use_scan_profiles(ob, &u, err) < 0) {
		in_use_free(&u);
		return -1;
	}
	for (size_t i = 0; i < u.n_subnets && r == 0; i++) {
		const struct ward_cidr *a = &u.subnets[i].subnet;
		uint64_t an = (uint64_t)1 << (32 - a->prefix),
			 bn = (uint64_t)1 << (32 - j->subnet.prefix);
		char s[20];

		if (!ids_overlap(a->addr, an, j->subnet.addr, bn))
			continue;
		cidr_string(&j->subnet, s);
		r = ward_err_set(
		    err, 0,
		    "the pool's next subnet %s is named by %s/%s, which is not loaded: "
		    "fix or remove that profile first",
		    s, ob->cfg->tenants_dir, u.subnets[i].file);
	}
	in_use_free(&u);
	return r;
}

/* ---- the template ---- */

/* Every "{tenant}" in s replaced by name; NULL if out of memory. */
static char *placeholder_fill(const char *s, size_t len, const char *name, size_t *out_len)
{
	size_t pl = strlen(PLACEHOLDER), nl = strlen(name), n = 0, o = 0;
	char *out;

	for (const char *p = s; (p = memmem(p, len - (size_t)(p - s), PLACEHOLDER, pl)); p += pl)
		n++;
	if (len > SIZE_MAX / 4) /* names are at most 24 bytes, the placeholder 8 */
		return NULL;
	out = malloc(len + n * nl + 1);
	if (!out)
		return NULL;
	for (size_t i = 0; i < len;) {
		if (len - i >= pl && memcmp(s + i, PLACEHOLDER, pl) == 0) {
			memcpy(out + o, name, nl);
			o += nl;
			i += pl;
		} else {
			out[o++] = s[i++];
		}
	}
	out[o] = '\0';
	*out_len = o;
	return out;
}

/* Fills the placeholder in every string value (not in keys: those are
 * service names and settings). */
/* NOLINTNEXTLINE(misc-no-recursion): as deep as jansson parses (2048) */
static int placeholders_fill(json_t *v, const char *name)
{
	const char *k;
	json_t *m;
	size_t i;

	if (json_is_string(v)) {
		size_t n = 0;
		char *s = placeholder_fill(json_string_value(v), json_string_length(v), name, &n);
		int r = s ? json_string_setn(v, s, n) : -1;

		free(s);
		if (r < 0)
			return -1;
	} else if (json_is_object(v)) {
		json_object_foreach(v, k, m)
		{
			if (placeholders_fill(m, name) < 0)
				return -1;
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, m)
		{
			if (placeholders_fill(m, name) < 0)
				return -1;
		}
	}
	return 0;
}

/* What a template must leave to onboarding. */
static int template_check(const char *path, json_t *root, struct ward_err *err)
{
	static const char *const owned[] = {"tenant", "ids", NULL};
	json_t *net = json_object_get(root, "network");

	if (!json_is_object(root))
		return ward_err_set(err, 0, "%s: a template must be a JSON object", path);
	for (size_t i = 0; owned[i]; i++)
		if (json_object_get(root, owned[i]))
			return ward_err_set(err, 0,
					    "%s: %s: a template must not set it: onboarding does",
					    path, owned[i]);
	if (json_object_get(net, "subnet"))
		return ward_err_set(err, 0,
				    "%s: network.subnet: a template must not set it: onboarding "
				    "allocates one from the pool",
				    path);
	if (json_object_get(net, "ingress"))
		return ward_err_set(err, 0,
				    "%s: network.ingress: a template must not forward host ports: "
				    "every tenant made from it would claim the same ones; add them "
				    "to the tenant's profile after onboarding",
				    path);
	return 0;
}

static json_t *template_load(struct onboarding *ob, struct onboard_job *j, struct ward_err *err)
{
	const char *dir = ob->cfg->templates_dir;
	char file[WARD_NAME_MAX + sizeof(PROFILE_SUFFIX)];
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	json_error_t je;
	size_t len;

	if (dfd < 0)
		return ward_err_set(err, errno, "templates directory %s", dir), NULL;
	if (path_join(j->tmpl_path, sizeof(j->tmpl_path), dir, j->tmpl, PROFILE_SUFFIX) < 0 ||
	    snprintf(file, sizeof(file), "%s%s", j->tmpl, PROFILE_SUFFIX) >= (int)sizeof(file))
		return ward_err_set(err, ENAMETOOLONG, "template %s", j->tmpl), NULL;
	char *text =
	    trusted_file_read(dfd, file, j->tmpl_path, true, WARD_PROFILE_MAX_BYTES, &len, err);
	if (!text) {
		if (err->errnum == ENOENT)
			ward_err_set(err, 0, "no template \"%s\" in %s", j->tmpl, dir);
		return NULL;
	}
	_cleanup_(json_decrefp) json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	free(text);
	if (!root) {
		sanitize(je.text);
		return ward_err_set(err, 0, "%s:%d:%d: %s", j->tmpl_path, je.line, je.column,
				    je.text),
		       NULL;
	}
	if (template_check(j->tmpl_path, root, err) < 0)
		return NULL;
	if (placeholders_fill(root, j->name) < 0)
		return ward_err_set(err, ENOMEM, "%s", j->tmpl_path), NULL;
	return TAKE_PTR(root);
}

/* The profile: tenant, display name, ids and subnet first (the keys an
 * operator looks for), then the template's keys in its order. */
static json_t *profile_doc(struct onboard_job *j, json_t *tmpl, bool with_ids)
{
	json_t *doc = json_object(), *v;
	const char *k;
	int r = 0;

	if (!doc)
		return NULL;
	r |= json_object_set_new(doc, "tenant", json_string(j->name));
	if (j->display_name)
		r |= json_object_set_new(doc, "display_name", json_string(j->display_name));
	else if ((v = json_object_get(tmpl, "display_name")))
		r |= json_object_set(doc, "display_name", v);
	if (with_ids)
		r |= json_object_set_new(doc, "ids",
					 json_pack("{s:I, s:I}", "uid", (json_int_t)j->ids.uid,
						   "count", (json_int_t)j->ids.count));
	json_object_foreach(tmpl, k, v)
	{
		if (strcmp(k, "display_name") == 0)
			continue;
		if (strcmp(k, "network") == 0 && j->has_net && json_is_object(v)) {
			char s[20];
			json_t *net = json_object();

			cidr_string(&j->subnet, s);
			r |= json_object_set_new(net, "subnet", json_string(s));
			r |= json_object_update(net, v);
			r |= json_object_set_new(doc, k, net);
			continue;
		}
		r |= json_object_set(doc, k, v);
	}
	if (r) {
		json_decref(doc);
		return NULL;
	}
	return doc;
}

/* "text of the profile\n", as it will be written. */
static char *doc_text(json_t *doc, size_t *len)
{
	char *s = json_dumps(doc, JSON_INDENT(2));
	size_t n;
	char *p;

	if (!s)
		return NULL;
	n = strlen(s);
	p = realloc(s, n + 2);
	if (!p) {
		free(s);
		return NULL;
	}
	p[n] = '\n';
	p[n + 1] = '\0';
	*len = n + 1;
	return p;
}

/* Loads the profile as the supervisor will (same name, so the same policy
 * directories); errors in it are the template's. */
static int profile_validate(struct onboarding *ob, struct onboard_job *j, const char *text,
			    size_t len, struct ward_tenant **out, struct ward_err *err)
{
	struct profile_options popts = {.policy_dirs = (const char *const *)ob->cfg->policy_dirs,
					.n_policy_dirs = ob->cfg->n_policy_dirs,
					.trusted = true};
	struct ward_diag diag = {0};
	char msg[sizeof(err->msg)];
	size_t o;

	if (profile_load_buffer(j->profile_path, text, len, &popts, out, &diag) == 0) {
		diag_free(&diag);
		return 0;
	}
	o = (size_t)snprintf(msg, sizeof(msg), "template \"%s\" (%s) has errors:", j->tmpl,
			     j->tmpl_path);
	for (size_t i = 0; i < diag.n && o < sizeof(msg); i++) {
		const struct ward_diag_entry *e = &diag.v[i];
		int n;

		if (strcmp(e->file, j->profile_path) == 0) /* positions of a generated text */
			n = snprintf(msg + o, sizeof(msg) - o, " %s%s%s%s", e->path,
				     e->path[0] ? ": " : "", e->message, i + 1 < diag.n ? ";" : "");
		else
			n = snprintf(msg + o, sizeof(msg) - o, " %s:%u:%u: %s%s%s%s", e->file,
				     e->line, e->col, e->path, e->path[0] ? ": " : "", e->message,
				     i + 1 < diag.n ? ";" : "");
		if (n < 0)
			break;
		o += (size_t)n;
	}
	diag_free(&diag);
	return ward_err_set(err, 0, "%s", msg);
}

/* ---- the steps that change the host ---- */

static int mkdir_p(const char *path, mode_t last_mode)
{
	char buf[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(buf))
		return errno = ENAMETOOLONG, -1;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(buf, last_mode) < 0 && errno != EEXIST ? -1 : 0;
}

/* DATA_DIR/NAME, owned by the tenant's first uid and gid, 0700. */
static int data_dir_make(struct onboarding *ob, struct onboard_job *j, struct ward_err *err)
{
	const char *root = ob->cfg->data_dir;
	_cleanup_close_ int rfd = -1, fd = -1;

	if (mkdir_p(root, DATA_ROOT_MODE) < 0)
		return ward_err_set(err, errno, "data directory %s", root);
	rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rfd < 0)
		return ward_err_set(err, errno, "data directory %s", root);
	/* One made before (by hand, or by an older ward as 0711) is closed
	 * now, when root's: see DATA_ROOT_MODE. */
	{
		struct stat st;

		if (fstat(rfd, &st) < 0)
			return ward_err_set(err, errno, "data directory %s", root);
		if (st.st_uid == 0 && (st.st_mode & 077) && fchmod(rfd, st.st_mode & 07700) < 0)
			return ward_err_set(err, errno, "closing data directory %s", root);
	}
	/* On btrfs a subvolume, so that its disk quota can be applied. */
	if (quota_mkdirat(rfd, j->name, DATA_DIR_MODE) < 0)
		return ward_err_set(err, errno, "creating %s", j->data_path);
	j->data_made = true;
	fd = openat(rfd, j->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return ward_err_set(err, errno, "opening %s", j->data_path);
	/* Owner first: the mode alone never opens it to anyone else. */
	if (fchown(fd, j->ids.uid, j->ids.uid) < 0 || fchmod(fd, DATA_DIR_MODE) < 0)
		return ward_err_set(err, errno, "giving %s to uid %u", j->data_path, j->ids.uid);
	if (fsync(fd) < 0 || fsync(rfd) < 0)
		return ward_err_set(err, errno, "syncing %s", j->data_path);
	return 0;
}

static int write_all(int fd, const char *s, size_t len)
{
	while (len) {
		ssize_t n = write(fd, s, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		s += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Renames from to to within dirfd, never over an existing file. */
static int rename_noreplace(int dirfd, const char *from, const char *to)
{
	if (renameat2(dirfd, from, dirfd, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	/* A filesystem without RENAME_NOREPLACE: link() never replaces either. */
	if (linkat(dirfd, from, dirfd, to, 0) < 0)
		return -1;
	(void)unlinkat(dirfd, from, 0);
	return 0;
}

/* TENANTS/NAME.json.tmp written and synced, renamed to NAME.json (which
 * must not exist), and the directory synced: a crash leaves either no
 * profile or the whole one. */
static int profile_write(struct onboarding *ob, struct onboard_job *j, const char *text, size_t len,
			 struct ward_err *err)
{
	const char *dir = ob->cfg->tenants_dir;
	char tmp[WARD_NAME_MAX + sizeof(TMP_SUFFIX)], final[WARD_NAME_MAX + sizeof(PROFILE_SUFFIX)];
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int fd, r;

	(void)snprintf(tmp, sizeof(tmp), "%s%s", j->name, TMP_SUFFIX);
	(void)snprintf(final, sizeof(final), "%s%s", j->name, PROFILE_SUFFIX);
	if (dfd < 0)
		return ward_err_set(err, errno, "tenants directory %s", dir);
	/* A leftover of an onboarding that crashed: never loaded, ours to replace. */
	if (unlinkat(dfd, tmp, 0) < 0 && errno != ENOENT)
		return ward_err_set(err, errno, "removing %s/%s", dir, tmp);
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, PROFILE_MODE);
	if (fd < 0)
		return ward_err_set(err, errno, "creating %s/%s", dir, tmp);
	r = fchmod(fd, PROFILE_MODE) < 0 || write_all(fd, text, len) < 0 || fsync(fd) < 0 ? -1 : 0;
	if (close(fd) < 0)
		r = -1;
	if (r < 0) {
		int e = errno;
		(void)unlinkat(dfd, tmp, 0);
		return ward_err_set(err, e, "writing %s/%s", dir, tmp);
	}
	if (rename_noreplace(dfd, tmp, final) < 0) {
		int e = errno;
		(void)unlinkat(dfd, tmp, 0);
		return ward_err_set(err, e, "renaming %s/%s to %s", dir, tmp, final);
	}
	j->profile_made = true;
	if (fsync(dfd) < 0)
		return ward_err_set(err, errno, "syncing %s", dir);
	return 0;
}

static bool name_listed(json_t *list, const char *name)
{
	size_t i;
	json_t *v;

	json_array_foreach(list, i, v)
	{
		if (json_is_string(v) && strcmp(json_string_value(v), name) == 0)
			return true;
	}
	return false;
}

/* The reload that starts the tenant; -1 unless it was added. */
static int reload_adds(struct onboarding *ob, struct onboard_job *j, struct ward_err *err)
{
	_cleanup_(json_decrefp) json_t *report = supervisor_reload(ob->sup);
	char msg[sizeof(err->msg)];
	size_t i, o = 0;
	json_t *r;

	if (!report)
		return ward_err_set(err, 0, "reload failed");
	if (name_listed(json_object_get(report, "added"), j->name))
		return 0;
	msg[0] = '\0';
	json_array_foreach(json_object_get(report, "rejected"), i, r)
	{
		size_t k;
		json_t *e;

		if (!json_is_string(json_object_get(r, "tenant")) ||
		    strcmp(json_string_value(json_object_get(r, "tenant")), j->name) != 0)
			continue;
		json_array_foreach(json_object_get(r, "errors"), k, e)
		{
			int n = snprintf(msg + o, sizeof(msg) - o, "%s%s", o ? "; " : "",
					 json_is_string(e) ? json_string_value(e) : "?");
			if (n < 0 || (size_t)n >= sizeof(msg) - o)
				break;
			o += (size_t)n;
		}
	}
	return ward_err_set(err, 0, "wardd did not start the new profile: %s",
			    o ? msg : "it was not added");
}

/* Undoes what the job did, newest first; what cannot be undone is added
 * to err's message. */
static void onboard_rollback(struct onboarding *ob, struct onboard_job *j, struct ward_err *err)
{
	struct ward_err e = {0};
	char undo[512] = "";
	size_t o = 0;

#define UNDO_FAILED(...)                                                                           \
	do {                                                                                       \
		int n_ = snprintf(undo + o, sizeof(undo) - o, __VA_ARGS__);                        \
		if (n_ > 0 && (size_t)n_ < sizeof(undo) - o)                                       \
			o += (size_t)n_;                                                           \
	} while (0)

	if (j->profile_made) {
		if (unlink(j->profile_path) < 0)
			UNDO_FAILED("; removing %s: %s", j->profile_path, strerror(errno));
		else
			(void)fsync_dir(ob->cfg->tenants_dir);
	}
	if (j->data_made && rmdir(j->data_path) < 0 && errno != ENOENT)
		UNDO_FAILED("; removing %s: %s", j->data_path, strerror(errno));
	if (j->net_held && ob->net && network_tenant_release(ob->net, j->name, &e) < 0)
		UNDO_FAILED("; releasing its network allocation: %s", e.msg);
#undef UNDO_FAILED
	if (o) {
		fprintf(stderr, "wardd: onboard %s: undoing it failed%s\n", j->name, undo);
		ward_err_wrap(err, "(and undoing it failed%s)", undo);
	}
}

/* 1 if something is at path, 0 if nothing, -1 with err if it cannot be told. */
static int path_taken(const char *path, struct ward_err *err)
{
	struct stat st;

	if (lstat(path, &st) == 0)
		return 1;
	if (errno == ENOENT)
		return 0;
	return ward_err_set(err, errno, "%s", path);
}

/* The name is free: nothing of a tenant of that name exists. */
static int name_unused(struct onboarding *ob, struct onboard_job *j, struct ward_err *err)
{
	char aside[PATH_MAX], logs[PATH_MAX];
	int r;

	if (offboard_find(ob, j->name))
		return ward_err_set(err, 0, "tenant \"%s\" is being offboarded", j->name);
	if (supervisor_has_tenant(ob->sup, j->name))
		return ward_err_set(err, 0, "tenant \"%s\" already exists", j->name);
	if (path_join(aside, sizeof(aside), ob->cfg->tenants_dir, j->name, ASIDE_SUFFIX) < 0 ||
	    path_join(logs, sizeof(logs), ob->cfg->log_dir, j->name, "") < 0)
		return ward_err_set(err, ENAMETOOLONG, "paths of tenant %s", j->name);
	if ((r = path_taken(j->profile_path, err)) != 0)
		return r < 0 ? -1
			     : ward_err_set(err, 0, "%s already exists: tenant \"%s\" is taken",
					    j->profile_path, j->name);
	if ((r = path_taken(aside, err)) != 0)
		return r < 0 ? -1
			     : ward_err_set(err, 0,
					    "%s exists: an offboarding of \"%s\" did not finish; "
					    "restore or remove it first",
					    aside, j->name);
	if ((r = path_taken(j->data_path, err)) != 0)
		return r < 0 ? -1
			     : ward_err_set(err, 0,
					    "data directory %s already exists (left by an earlier "
					    "tenant?): archive or remove it first",
					    j->data_path);
	if ((r = path_taken(logs, err)) != 0)
		return r < 0 ? -1
			     : ward_err_set(err, 0,
					    "log directory %s already exists (left by an earlier "
					    "tenant?): move or remove it first, so that two "
					    "practices' logs do not mix",
					    logs);
	return 0;
}

/* Tenants the new one must not collide with (network_check). */
struct tenant_list {
	const struct ward_tenant **v;
	size_t n, cap;
};

static int tenant_list_add(const struct ward_tenant *t, void *ud)
{
	struct tenant_list *l = ud;

	if (grow((void **)&l->v, &l->cap, l->n, sizeof(*l->v)) < 0)
		return -1;
	l->v[l->n++] = t;
	return 0;
}

/* A subnet for a tenant with a network: allocated (and recorded in the
 * allocations file) now, written into its profile. */
static int subnet_take(struct onboarding *ob, struct onboard_job *j, const struct ward_tenant *t,
		       struct ward_err *err)
{
	struct tenant_list others = {0};
	struct tenant_net tn = {0};
	int r;

	if (!t->network.present)
		return 0;
	if (!ob->net)
		return ward_err_set(err, 0,
				    "template \"%s\" has a network, and this wardd has none (see "
				    "its start-up messages)",
				    j->tmpl);
	if (supervisor_each_tenant(ob->sup, tenant_list_add, &others) != 0) {
		free(others.v);
		return ward_err_set(err, ENOMEM, "network");
	}
	r = network_check(ob->net, t, others.v, others.n, err);
	free(others.v);
	if (r < 0)
		return -1;
	if (network_tenant_prepare(ob->net, t, &tn, err) < 0)
		return -1;
	j->net_held = true;
	j->has_net = true;
	j->subnet = tn.subnet;
	tenant_net_free(&tn);
	return subnet_unclaimed(ob, j, err);
}

static json_t *allocation_json(struct onboarding *ob, struct onboard_job *j)
{
	char s[20];

	if (j->has_net)
		cidr_string(&j->subnet, s);
	return json_pack("{s:s, s:s?, s:s, s:I, s:I, s:s?, s:s, s:s}", "tenant", j->name,
			 "display_name", j->display_name, "template", j->tmpl, "uid",
			 (json_int_t)j->ids.uid, "count", (json_int_t)j->ids.count, "subnet",
			 j->has_net ? s : NULL, "data_dir", j->data_path, "profile",
			 j->profile_path);
}

/* The profile's text (the template and what the job holds), loaded as the
 * supervisor will load it; *t gets the result. NULL with err otherwise. */
static char *profile_make(struct onboarding *ob, struct onboard_job *j, json_t *tmpl, bool with_ids,
			  size_t *len, struct ward_tenant **t, struct ward_err *err)
{
	json_t *doc = profile_doc(j, tmpl, with_ids);
	char *text = doc ? doc_text(doc, len) : NULL;

	json_decref(doc);
	if (!text)
		return ward_err_set(err, ENOMEM, "profile"), NULL;
	if (profile_validate(ob, j, text, *len, t, err) < 0) {
		free(text);
		return NULL;
	}
	return text;
}

static int onboard_run(struct onboarding *ob, struct onboard_job *j, json_t **alloc,
		       struct ward_err *err)
{
	_cleanup_(json_decrefp) json_t *tmpl = NULL;
	struct ward_tenant *t = NULL;
	char *text;
	size_t len;
	int r;

	if (!ward_name_valid(j->name))
		return ward_err_set(
		    err, 0, "invalid tenant name \"%s\": must match [a-z][a-z0-9-]{0,23}", j->name);
	if (!ward_name_valid(j->tmpl))
		return ward_err_set(err, 0,
				    "invalid template name: must match [a-z][a-z0-9-]{0,23}");
	if (path_join(j->profile_path, sizeof(j->profile_path), ob->cfg->tenants_dir, j->name,
		      PROFILE_SUFFIX) < 0 ||
	    path_join(j->data_path, sizeof(j->data_path), ob->cfg->data_dir, j->name, "") < 0)
		return ward_err_set(err, ENAMETOOLONG, "paths of tenant %s", j->name);
	if (name_unused(ob, j, err) < 0)
		return -1;
	/* The template alone first: its errors are reported before any pool
	 * is looked at. */
	if (!(tmpl = template_load(ob, j, err)))
		return -1;
	if (!(text = profile_make(ob, j, tmpl, false, &len, &t, err)))
		return -1;
	free(text);
	r = ids_pick(ob, j, err);
	if (r == 0)
		r = subnet_take(ob, j, t, err);
	tenant_free(t);
	if (r < 0)
		return -1;
	/* The exact bytes that will be written, checked once more. */
	if (!(text = profile_make(ob, j, tmpl, true, &len, &t, err)))
		return -1;
	r = t->ids.uid == j->ids.uid && t->ids.count == j->ids.count &&
		    t->network.has_subnet == j->has_net
		? 0
		: ward_err_set(err, 0, "the profile made does not hold the allocation");
	tenant_free(t);
	if (r == 0 && !(*alloc = allocation_json(ob, j)))
		r = ward_err_set(err, ENOMEM, "allocation");
	/* Data before profile: a tenant must never start without its data. */
	if (r == 0 && (data_dir_make(ob, j, err) < 0 || profile_write(ob, j, text, len, err) < 0 ||
		       reload_adds(ob, j, err) < 0)) {
		json_decref(*alloc);
		*alloc = NULL;
		r = -1;
	}
	free(text);
	return r;
}

json_t *onboard_tenant(struct onboarding *ob, const char *name, const char *tmpl,
		       const char *display_name, const char *by, struct ward_err *err)
{
	struct onboard_job j = {.name = name, .tmpl = tmpl, .display_name = display_name};
	json_t *alloc = NULL;

	if (onboard_run(ob, &j, &alloc, err) < 0) {
		onboard_rollback(ob, &j, err);
		audit_job(ob, "onboard", name, by, "refused",
			  json_pack("{s:s, s:s}", "template", tmpl, "reason", err->msg));
		return NULL;
	}
	audit_job(ob, "onboard", name, by, "done",
		  json_pack("{s:s, s:O}", "template", tmpl, "allocation", alloc));
	fprintf(stderr, "wardd: onboarded %s from template %s: uids %u+%u\n", name, tmpl, j.ids.uid,
		j.ids.count);
	return alloc;
}

/* ======================================================================
 * Offboarding
 * ====================================================================== */

static void offboard_free(struct offboard *o)
{
	struct onboarding *ob = o->ob;

	for (struct offboard **p = &ob->offboards; *p; p = &(*p)->next)
		if (*p == o) {
			*p = o->next;
			break;
		}
	loop_timer_cancel(ob->loop, o->timer);
	if (o->pidfd >= 0) {
		loop_del_fd(ob->loop, o->pidfd);
		close(o->pidfd);
	}
	if (o->err_fd >= 0) {
		loop_del_fd(ob->loop, o->err_fd);
		close(o->err_fd);
	}
	if (o->archive_fd >= 0)
		close(o->archive_fd);
	json_decref(o->report);
	free(o);
}

static void offboard_warn(struct offboard *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void offboard_warn(struct offboard *o, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "wardd: offboard %s: %s\n", o->name, msg);
	json_array_append_new(json_object_get(o->report, "warnings"), json_string(msg));
}

static int aside_paths(struct offboard *o, char *profile, char *aside)
{
	const char *dir = o->ob->cfg->tenants_dir;

	return path_join(profile, PATH_MAX, dir, o->name, PROFILE_SUFFIX) < 0 ||
		       path_join(aside, PATH_MAX, dir, o->name, ASIDE_SUFFIX) < 0
		   ? -1
		   : 0;
}

/* The profile renamed out of the supervisor's sight (kept on disk: what a
 * failure or a crash needs to put the tenant back). */
static int profile_set_aside(struct offboard *o, struct ward_err *err)
{
	char profile[PATH_MAX], aside[PATH_MAX];
	struct stat st;

	if (aside_paths(o, profile, aside) < 0)
		return ward_err_set(err, ENAMETOOLONG, "profile of %s", o->name);
	if (lstat(profile, &st) < 0) {
		if (errno == ENOENT)
			return 0; /* removed by hand, not reloaded yet */
		return ward_err_set(err, errno, "%s", profile);
	}
	if (renameat2(AT_FDCWD, profile, AT_FDCWD, aside, RENAME_NOREPLACE) < 0)
		return ward_err_set(err, errno, "renaming %s to %s", profile, aside);
	o->aside = true;
	(void)fsync_dir(o->ob->cfg->tenants_dir);
	return 0;
}

static int profile_put_back(struct offboard *o, struct ward_err *err)
{
	char profile[PATH_MAX], aside[PATH_MAX];

	if (!o->aside)
		return 0;
	if (aside_paths(o, profile, aside) < 0)
		return ward_err_set(err, ENAMETOOLONG, "profile of %s", o->name);
	if (renameat2(AT_FDCWD, aside, AT_FDCWD, profile, RENAME_NOREPLACE) < 0)
		return ward_err_set(err, errno, "renaming %s back to %s", aside, profile);
	o->aside = false;
	(void)fsync_dir(o->ob->cfg->tenants_dir);
	return 0;
}

static void profile_delete(struct offboard *o)
{
	char profile[PATH_MAX], aside[PATH_MAX];

	if (!o->aside || aside_paths(o, profile, aside) < 0)
		return;
	if (unlink(aside) < 0) {
		offboard_warn(o, "removing %s: %s", aside, strerror(errno));
		return;
	}
	o->aside = false;
	(void)fsync_dir(o->ob->cfg->tenants_dir);
}

/* Removes the archive if it is still the file we created. */
static void archive_discard(struct offboard *o)
{
	struct stat st;

	if (o->archive_fd >= 0) {
		close(o->archive_fd);
		o->archive_fd = -1;
	}
	if (!o->archive[0] || lstat(o->archive, &st) < 0)
		return;
	if (st.st_dev == o->archive_dev && st.st_ino == o->archive_ino)
		(void)unlink(o->archive);
}

/* Whether path is dir or inside it (both resolved). */
static bool path_within(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (strcmp(dir, "/") == 0)
		return true;
	return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* The archive: an absolute path of a new file in an existing directory
 * outside the data directory (it would be archived into itself, then
 * deleted with it, or land in another practice's data). Created now, so
 * that a path that cannot be written is refused before anything stops. */
static int archive_create(struct offboard *o, const char *archive, struct ward_err *err)
{
	const char *data = o->ob->cfg->data_dir;
	char dir[PATH_MAX], real_dir[PATH_MAX], real_data[PATH_MAX];
	const char *base;
	struct stat st;
	size_t len = strlen(archive);

	if (archive[0] != '/' || len >= sizeof(o->archive))
		return ward_err_set(
		    err, 0, "archive: must be an absolute path shorter than %d bytes", PATH_MAX);
	base = strrchr(archive, '/') + 1;
	if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
		return ward_err_set(err, 0, "archive: %s does not name a file", archive);
	memcpy(dir, archive, (size_t)(base - archive));
	dir[base - archive] = '\0';
	if (!realpath(dir, real_dir))
		return ward_err_set(err, errno, "archive: directory %s", dir);
	if (realpath(data, real_data) && path_within(real_dir, real_data))
		return ward_err_set(err, 0,
				    "archive: %s is inside the tenants' data directory %s: put it "
				    "elsewhere",
				    archive, data);
	if (lstat(archive, &st) == 0)
		return ward_err_set(err, EEXIST, "archive: %s: not overwriting it", archive);
	o->archive_fd = open(
	    archive, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, ARCHIVE_MODE);
	if (o->archive_fd < 0)
		return ward_err_set(err, errno, "archive: creating %s", archive);
	if (fstat(o->archive_fd, &st) < 0) {
		int e = errno;
		close(o->archive_fd);
		o->archive_fd = -1;
		(void)unlink(archive);
		return ward_err_set(err, e, "archive: %s", archive);
	}
	o->archive_dev = st.st_dev;
	o->archive_ino = st.st_ino;
	memcpy(o->archive, archive, len + 1);
	return 0;
}

struct find_tenant {
	const char *name;
	struct ward_ids ids;
	struct ward_cidr subnet;
	bool found, has_subnet;
};

static int find_tenant_fn(const struct ward_tenant *t, void *ud)
{
	struct find_tenant *f = ud;

	if (strcmp(t->name, f->name) != 0)
		return 0;
	f->found = true;
	f->ids = t->ids;
	f->has_subnet = t->network.present && t->network.has_subnet;
	f->subnet = t->network.subnet;
	return 1;
}

/* The report as it starts; its result fields are added as the steps run. */
static json_t *offboard_report(struct offboard *o, const struct find_tenant *f,
			       const char *data_dir)
{
	char s[20] = "";

	if (f->has_subnet)
		cidr_string(&f->subnet, s);
	return json_pack("{s:s, s:I, s:I, s:s?, s:s, s:[]}", "tenant", o->name, "uid",
			 (json_int_t)f->ids.uid, "count", (json_int_t)f->ids.count, "subnet",
			 s[0] ? s : NULL, "data_dir", data_dir, "warnings");
}

static void offboard_gone(const char *tenant, void *ud);

static int offboard_start(struct onboarding *ob, struct offboard *o, const char *archive,
			  struct ward_err *err)
{
	struct find_tenant f = {.name = o->name};
	char data_dir[PATH_MAX];
	struct stat st;

	if (offboard_find(ob, o->name))
		return ward_err_set(err, 0, "tenant \"%s\" is already being offboarded", o->name);
	if (supervisor_each_tenant(ob->sup, find_tenant_fn, &f) < 0 || !f.found)
		return ward_err_set(err, 0, "no tenant \"%s\"", o->name);
	o->ids = f.ids;
	if (path_join(data_dir, sizeof(data_dir), ob->cfg->data_dir, o->name, "") < 0)
		return ward_err_set(err, ENAMETOOLONG, "data directory of %s", o->name);
	if (lstat(data_dir, &st) < 0) {
		if (errno != ENOENT)
			return ward_err_set(err, errno, "data directory %s", data_dir);
		if (!o->purge)
			return ward_err_set(err, 0,
					    "data directory %s does not exist: nothing to archive "
					    "(use --purge)",
					    data_dir);
	} else if (!S_ISDIR(st.st_mode)) {
		return ward_err_set(err, 0, "data directory %s is not a directory: not touching it",
				    data_dir);
	}
	if (!(o->report = offboard_report(o, &f, data_dir)))
		return ward_err_set(err, ENOMEM, "offboard");
	if (archive && archive_create(o, archive, err) < 0)
		return -1;
	if (profile_set_aside(o, err) < 0) {
		archive_discard(o);
		return -1;
	}
	/* In the list before the supervisor is called: it may call back at once. */
	o->next = ob->offboards;
	ob->offboards = o;
	if (supervisor_remove_tenant(ob->sup, o->name, offboard_gone, o, err) < 0) {
		struct ward_err e = {0};

		ob->offboards = o->next;
		if (profile_put_back(o, &e) < 0)
			ward_err_wrap(err, "(and %s)", e.msg);
		archive_discard(o);
		return -1;
	}
	return 0;
}

int offboard_tenant(struct onboarding *ob, const char *name, const char *archive, bool purge,
		    const char *by, offboard_done_fn done, void *ud, struct ward_err *err)
{
	struct offboard *o;

	if (!archive == !purge) {
		if (archive)
			ward_err_set(err, 0, "--archive and --purge exclude each other");
		else
			ward_err_set(err, 0, OFFBOARD_NEEDS_ARCHIVE_OR_PURGE);
	} else if (!ward_name_valid(name)) {
		ward_err_set(err, 0, "invalid tenant name: must match [a-z][a-z0-9-]{0,23}");
	} else if (!(o = calloc(1, sizeof(*o)))) {
		ward_err_set(err, ENOMEM, "offboard");
	} else {
		*o = (struct offboard){.ob = ob,
				       .purge = purge,
				       .archive_fd = -1,
				       .pidfd = -1,
				       .err_fd = -1,
				       .child = -1,
				       .done = done,
				       .ud = ud};
		memcpy(o->name, name, strlen(name) + 1);
		(void)snprintf(o->by, sizeof(o->by), "%s", by ? by : "");
		if (offboard_start(ob, o, archive, err) == 0) {
			audit_job(ob, "offboard", name, by, "started",
				  json_pack("{s:s?, s:b}", "archive", archive, "purge", purge));
			return 0;
		}
		json_decref(o->report);
		free(o);
	}
	audit_job(
	    ob, "offboard", name && ward_name_valid(name) ? name : "", by, "refused",
	    json_pack("{s:s?, s:b, s:s}", "archive", archive, "purge", purge, "reason", err->msg));
	return -1;
}

/* ---- the end of an offboarding ---- */

static void offboard_finish(struct offboard *o, const char *verdict, const char *error)
{
	struct onboarding *ob = o->ob;
	offboard_done_fn done = o->done;
	void *ud = o->ud;
	json_t *report = error ? NULL : json_incref(o->report);

	if (error) {
		fprintf(stderr, "wardd: offboard %s: %s\n", o->name, error);
		audit_job(ob, "offboard", o->name, o->by, verdict,
			  json_pack("{s:s, s:O}", "reason", error, "report", o->report));
	} else {
		audit_job(ob, "offboard", o->name, o->by, verdict,
			  json_pack("{s:O}", "report", o->report));
	}
	offboard_free(o);
	if (done)
		done(report, error, ud);
	json_decref(report);
}

/* Nothing of the tenant's data was touched: everything is put back and,
 * unless wardd is stopping, the tenant started again. */
static void offboard_undo(struct offboard *o, const char *why, bool restart)
{
	struct ward_err e = {0};
	char msg[sizeof(e.msg) + 512];
	const char *outcome;

	archive_discard(o);
	if (profile_put_back(o, &e) < 0) {
		message_set(msg, sizeof(msg),
			    "%s; nothing was removed, but putting the profile back failed: %s", why,
			    e.msg);
		offboard_finish(o, "failed", msg);
		return;
	}
	if (restart) {
		_cleanup_(json_decrefp) json_t *report = supervisor_reload(o->ob->sup);

		outcome = report && name_listed(json_object_get(report, "added"), o->name)
			      ? "runs again"
			      : "did not start again: see wardd's log";
	} else {
		outcome = "starts again with wardd";
	}
	message_set(msg, sizeof(msg), "%s; nothing was removed: tenant %s %s", why, o->name,
		    outcome);
	offboard_finish(o, "rolled-back", msg);
}

/* The logs: kept beside (archive) or gone with the data (purge, removed by
 * the child). */
static void logs_keep(struct offboard *o)
{
	char path[PATH_MAX], kept[PATH_MAX], stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	struct stat st;

	if (path_join(path, sizeof(path), o->ob->cfg->log_dir, o->name, "") < 0 ||
	    lstat(path, &st) < 0) {
		json_object_set_new(o->report, "logs", json_null());
		return;
	}
	if (!gmtime_r(&now, &tm) || !strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm) ||
	    snprintf(kept, sizeof(kept), "%s/%s%s%s", o->ob->cfg->log_dir, o->name, LOGS_KEPT_INFIX,
		     stamp) >= (int)sizeof(kept)) {
		offboard_warn(o, "logs %s kept where they are: no name for them", path);
		json_object_set_new(o->report, "logs", json_string(path));
		return;
	}
	if (renameat2(AT_FDCWD, path, AT_FDCWD, kept, RENAME_NOREPLACE) < 0) {
		offboard_warn(o, "renaming %s to %s: %s", path, kept, strerror(errno));
		json_object_set_new(o->report, "logs", json_string(path));
		return;
	}
	json_object_set_new(o->report, "logs", json_string(kept));
}

static void offboard_complete(struct offboard *o)
{
	profile_delete(o);
	if (o->purge)
		json_object_set_new(o->report, "logs", json_null());
	else
		logs_keep(o);
	offboard_finish(o, "done", NULL);
}

/* ---- child processes: tar, and the removal of a tree ---- */

static void on_child_err(struct loop *l, int fd, uint32_t events, void *ud)
{
	struct offboard *o = ud;
	char buf[4096];

	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
				loop_del_fd(l, fd);
				close(fd);
				o->err_fd = -1;
			}
			return;
		}
		/* The first words say what went wrong; the rest is dropped. */
		size_t room = sizeof(o->child_err) - 1 - o->child_err_len;
		size_t take = (size_t)n < room ? (size_t)n : room;
		memcpy(o->child_err + o->child_err_len, buf, take);
		o->child_err_len += take;
		o->child_err[o->child_err_len] = '\0';
	}
}

static void child_status(int st, const char *what, char *buf, size_t len)
{
	if (WIFEXITED(st))
		(void)snprintf(buf, len, "%s exited with status %d", what, WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		(void)snprintf(buf, len, "%s was killed by signal %d", what, WTERMSIG(st));
	else
		(void)snprintf(buf, len, "%s ended with wait status %d", what, st);
}

static void offboard_child_done(struct offboard *o, int status);

static void on_child_exit(struct loop *l, int fd, uint32_t events, void *ud)
{
	struct offboard *o = ud;
	int st = 0;
	pid_t r;

	do
		r = waitpid(o->child, &st, WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return; /* not yet */
	loop_del_fd(l, fd);
	close(fd);
	o->pidfd = -1;
	o->child = -1;
	if (o->err_fd >= 0)
		on_child_err(l, o->err_fd, EPOLLIN, o); /* what is left in the pipe */
	offboard_child_done(o, r < 0 ? -1 : st);
}

/* Watches the child (pid, the read end of its stderr) on the loop. */
static int child_watch(struct offboard *o, pid_t pid, int err_r, struct ward_err *err)
{
	struct onboarding *ob = o->ob;
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);

	o->child = pid;
	o->child_err_len = 0;
	o->child_err[0] = '\0';
	if (pidfd < 0 || fcntl(err_r, F_SETFL, O_NONBLOCK) < 0 ||
	    loop_add_fd(ob->loop, pidfd, EPOLLIN, on_child_exit, o) < 0) {
		int e = errno;

		if (pidfd >= 0)
			close(pidfd);
		close(err_r);
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		o->child = -1;
		return ward_err_set(err, e, "watching child %d", (int)pid);
	}
	o->pidfd = pidfd;
	if (loop_add_fd(ob->loop, err_r, EPOLLIN, on_child_err, o) < 0)
		close(err_r); /* its messages are lost, its exit status is not */
	else
		o->err_fd = err_r;
	return 0;
}

/* ---- the archive's size, checked against the room it has ---- */

/* What tar writes for one file beyond its data: its header block, and a pax
 * extended header (a header and a data block) for long names, large or
 * precise values and sparse maps. Sparse files add their map's block. */
#define TAR_BLOCK           512ULL
#define TAR_PER_FILE        (3 * TAR_BLOCK)
#define TAR_PER_SPARSE_FILE TAR_BLOCK
#define TAR_END             (20 * TAR_BLOCK) /* two zero blocks, padded to a 10 KiB record */
#define MEASURE_FD_MAX      64

/* nftw has no user pointer: the walk runs in a child of its own. */
static unsigned long long measure_bytes;
static unsigned long long measure_files;

/* The bytes tar --sparse writes for one entry: the blocks a file has
 * allocated, not its apparent size (a tenant's 8 GiB hole costs nothing),
 * but never more than its size rounded up to tar's blocks. */
static int measure_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)path;
	(void)ftw;
	measure_bytes += TAR_PER_FILE;
	measure_files++;
	if (type == FTW_F && S_ISREG(st->st_mode)) {
		unsigned long long size = (unsigned long long)st->st_size;
		unsigned long long whole = (size + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
		unsigned long long alloc = (unsigned long long)st->st_blocks * 512ULL;

		if (alloc < whole)
			measure_bytes += alloc + TAR_PER_SPARSE_FILE;
		else
			measure_bytes += whole;
	}
	return 0;
}

/* Child side: 0 when the archive of root/name fits in the free space of
 * the file system that archive_fd is on, else -1 with the reason on
 * stderr. The walk stays on one file system and follows no symlink, as
 * tar (--one-file-system) does. */
static int archive_fits(const char *root, const char *name, int archive_fd)
{
	char path[PATH_MAX];
	struct statvfs vfs;
	unsigned long long avail;

	if (snprintf(path, sizeof(path), "%s/%s", root, name) >= (int)sizeof(path))
		return dprintf(2, "%s/%s: name too long\n", root, name), -1;
	if (nftw(path, measure_one, MEASURE_FD_MAX, FTW_PHYS | FTW_MOUNT) != 0)
		return dprintf(2, "measuring %s: %s\n", path, strerror(errno)), -1;
	measure_bytes += TAR_END;
	if (fstatvfs(archive_fd, &vfs) < 0)
		return dprintf(2, "free space of the archive's file system: %s\n", strerror(errno)),
		       -1;
	/* f_bavail: what an unprivileged writer may use; wardd is root, but the
	 * reserve is the host's, not the archive's. */
	avail = (unsigned long long)vfs.f_bavail * (unsigned long long)vfs.f_frsize;
	if (measure_bytes > avail)
		return dprintf(2,
			       "the archive needs about %llu bytes (%llu files, allocated size) "
			       "and its file system has %llu bytes free: not starting tar\n",
			       measure_bytes, measure_files, avail),
		       -1;
	return 0;
}

/* A child that checks the archive will fit, then becomes /bin/tar writing
 * the data directory to the archive fd. */
static int tar_spawn(struct offboard *o, struct ward_err *err)
{
	const char *root = o->ob->cfg->data_dir;
	int pipefd[2];
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return ward_err_set(err, errno, "pipe for tar");
	pid = fork();
	if (pid < 0) {
		int e = errno;

		close(pipefd[0]);
		close(pipefd[1]);
		return ward_err_set(err, e, "fork for tar");
	}
	if (pid == 0) {
		sigset_t none;
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
		/* --sparse: holes are stored as holes (GNU tar finds them with
		 * SEEK_DATA/SEEK_HOLE; pax format 1.0 maps), so a tenant's sparse
		 * files cannot blow the archive up to their apparent size. */
		char *argv[] = {(char *)TAR_PATH,
				(char *)"--create",
				(char *)"--file=-",
				(char *)"--format=pax",
				(char *)"--sparse",
				(char *)"--numeric-owner",
				(char *)"--one-file-system",
				(char *)"--directory",
				(char *)root,
				(char *)"--",
				o->name,
				NULL};
		char *envp[] = {(char *)"PATH=/usr/bin:/bin", (char *)"LC_ALL=C", NULL};

		/* wardd blocks the signals it takes through signalfd: tar must
		 * not inherit that, nor SIGPIPE ignored. */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		(void)signal(SIGPIPE, SIG_DFL);
		if (null < 0 || dup2(null, 0) < 0 || dup2(o->archive_fd, 1) < 0 ||
		    dup2(pipefd[1], 2) < 0)
			_exit(2);
		/* Nothing of wardd's (sockets, its lock) stays open in here. */
		closefrom(3);
		/* Before a byte is written: an archive that cannot fit is
		 * refused, not left to fail half-way. */
		if (archive_fits(root, o->name, 1) < 0)
			_exit(3);
		execve(TAR_PATH, argv, envp);
		dprintf(2, "starting %s: %s\n", TAR_PATH, strerror(errno));
		_exit(126);
	}
	close(pipefd[1]);
	return child_watch(o, pid, pipefd[0], err);
}

/* Child side: removes name under dirfd, never following a symlink nor
 * entering another mount than mnt_id's (dev when the kernel has no mount
 * ids). Messages go to stderr. */
/* NOLINTNEXTLINE(misc-no-recursion): bounded by REMOVE_MAX_DEPTH */
static int remove_tree(int dirfd, const char *name, const char *shown, uint64_t mnt_id, dev_t dev,
		       int depth)
{
	struct statx stx;
	int fd, r = 0;
	DIR *d;
	struct dirent *e;

	if (statx(dirfd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_TYPE | STATX_MNT_ID,
		  &stx) < 0)
		return dprintf(2, "%s: %s\n", shown, strerror(errno)), -1;
	if (!S_ISDIR(stx.stx_mode)) {
		if (unlinkat(dirfd, name, 0) < 0)
			return dprintf(2, "%s: %s\n", shown, strerror(errno)), -1;
		return 0;
	}
	if ((stx.stx_mask & STATX_MNT_ID) ? stx.stx_mnt_id != mnt_id
					  : makedev(stx.stx_dev_major, stx.stx_dev_minor) != dev)
		return dprintf(2, "%s: a mount point: not removing what is mounted there\n", shown),
		       -1;
	if (depth >= REMOVE_MAX_DEPTH)
		return dprintf(2, "%s: more than %d levels deep\n", shown, REMOVE_MAX_DEPTH), -1;
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		dprintf(2, "%s: %s\n", shown, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	while ((e = readdir(d))) {
		char sub[PATH_MAX];

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		(void)snprintf(sub, sizeof(sub), "%s/%s", shown, e->d_name); /* for messages */
		if (remove_tree(fd, e->d_name, sub, mnt_id, dev, depth + 1) < 0)
			r = -1; /* go on: remove what can be removed, report the rest */
	}
	closedir(d);
	if (r == 0 && unlinkat(dirfd, name, AT_REMOVEDIR) < 0)
		return dprintf(2, "%s: %s\n", shown, strerror(errno)), -1;
	return r;
}

/* Child side: root/name removed, if it exists. 0 or -1. */
static int remove_under(const char *root, const char *name)
{
	char shown[PATH_MAX];
	struct statx stx;
	int rfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	(void)snprintf(shown, sizeof(shown), "%s/%s", root, name);
	if (rfd < 0)
		return dprintf(2, "%s: %s\n", root, strerror(errno)), -1;
	if (statx(rfd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_TYPE | STATX_MNT_ID,
		  &stx) < 0) {
		if (errno == ENOENT)
			return close(rfd), 0;
		return dprintf(2, "%s: %s\n", shown, strerror(errno)), close(rfd), -1;
	}
	/* The top directory's own mount is the one not to leave. */
	int r = remove_tree(rfd, name, shown, stx.stx_mnt_id,
			    makedev(stx.stx_dev_major, stx.stx_dev_minor), 0);
	if (fsync(rfd) < 0)
		r = -1;
	close(rfd);
	return r;
}

/* A child removing the data directory (and, on purge, the logs). */
static int remover_spawn(struct offboard *o, struct ward_err *err)
{
	int pipefd[2];
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return ward_err_set(err, errno, "pipe");
	pid = fork();
	if (pid < 0) {
		int e = errno;
		close(pipefd[0]);
		close(pipefd[1]);
		return ward_err_set(err, e, "fork");
	}
	if (pid == 0) {
		sigset_t none;
		int r;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		(void)signal(SIGPIPE, SIG_DFL);
		/* Nothing of wardd's (sockets, its lock) stays open in here. */
		if (dup2(pipefd[1], 2) < 0)
			_exit(2);
		closefrom(3);
		r = remove_under(o->ob->cfg->data_dir, o->name);
		if (o->purge && remove_under(o->ob->cfg->log_dir, o->name) < 0)
			r = -1;
		_exit(r < 0 ? 1 : 0);
	}
	close(pipefd[1]);
	return child_watch(o, pid, pipefd[0], err);
}

static bool cgroup_of_tenant(const char *tenant, const char *name, void *ud)
{
	(void)name;
	return strcmp(tenant, ud) == 0;
}

/* Network allocation released, then the data removed. */
static void offboard_remove(struct offboard *o)
{
	struct ward_err e = {0};
	char msg[sizeof(e.msg) + 128];

	if (o->ob->net && network_tenant_release(o->ob->net, o->name, &e) < 0) {
		message_set(msg, sizeof(msg), "releasing its network allocation: %s", e.msg);
		offboard_undo(o, msg, true);
		return;
	}
	if (remover_spawn(o, &e) < 0) {
		message_set(msg, sizeof(msg),
			    "removing the data directory: %s; its network allocation is "
			    "released, its data and profile (%s/%s%s) are still there",
			    e.msg, o->ob->cfg->tenants_dir, o->name, ASIDE_SUFFIX);
		offboard_finish(o, "failed", msg);
		return;
	}
	o->step = STEP_REMOVING;
}

static void offboard_child_done(struct offboard *o, int status)
{
	char what[160], msg[CHILD_ERR_MAX + 512];

	sanitize(o->child_err);
	if (status < 0)
		(void)snprintf(what, sizeof(what), "waiting for the child: %s", strerror(errno));
	else
		child_status(status, o->step == STEP_ARCHIVING ? "tar" : "the removal", what,
			     sizeof(what));
	if (o->step == STEP_ARCHIVING) {
		if (status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 3) {
			/* The size check refused (tar's own codes are 0-2): tar never ran. */
			message_set(msg, sizeof(msg), "archiving %s/%s refused: %s",
				    o->ob->cfg->data_dir, o->name, o->child_err);
			offboard_undo(o, msg, true);
			return;
		}
		if (status != 0) {
			message_set(msg, sizeof(msg), "archiving %s/%s failed: %s%s%s",
				    o->ob->cfg->data_dir, o->name, what,
				    o->child_err_len ? ": " : "", o->child_err);
			offboard_undo(o, msg, true);
			return;
		}
		/* On disk before the data it holds is deleted. */
		if (fsync(o->archive_fd) < 0 || close(o->archive_fd) < 0) {
			o->archive_fd = -1;
			message_set(msg, sizeof(msg), "writing the archive %s: %s", o->archive,
				    strerror(errno));
			offboard_undo(o, msg, true);
			return;
		}
		o->archive_fd = -1;
		{
			char dir[PATH_MAX];
			char *slash;

			memcpy(dir, o->archive, strlen(o->archive) + 1);
			slash = strrchr(dir, '/'); /* the path is absolute */
			slash[slash == dir ? 1 : 0] = '\0';
			(void)fsync_dir(dir); /* its name too */
		}
		json_object_set_new(o->report, "archive", json_string(o->archive));
		offboard_remove(o);
		return;
	}
	if (status != 0) {
		message_set(
		    msg, sizeof(msg),
		    "removing %s/%s failed (%s)%s%s; %s; its profile is kept as %s/%s%s",
		    o->ob->cfg->data_dir, o->name, what, o->child_err_len ? ": " : "", o->child_err,
		    o->purge ? "what is left of it is still there" : "the archive is complete",
		    o->ob->cfg->tenants_dir, o->name, ASIDE_SUFFIX);
		offboard_finish(o, "failed", msg);
		return;
	}
	if (o->purge)
		json_object_set_new(o->report, "purged", json_true());
	offboard_complete(o);
}

/* The tenant is down (from a timer: never inside the supervisor's call). */
static void offboard_stopped(struct loop *l, void *ud)
{
	struct offboard *o = ud;
	struct ward_err e = {0};
	char msg[sizeof(e.msg) + 64];

	(void)l;
	o->timer = NULL;
	/* Someone put a tenant of that name back meanwhile: its data dir is
	 * in use again. */
	if (supervisor_has_tenant(o->ob->sup, o->name)) {
		char aside[PATH_MAX], profile[PATH_MAX];

		archive_discard(o);
		(void)aside_paths(o, profile, aside);
		message_set(msg, sizeof(msg),
			    "a tenant of that name was started again while it was being "
			    "offboarded: nothing was removed; the old profile is kept as %s",
			    aside);
		offboard_finish(o, "failed", msg);
		return;
	}
	if (cgroup_cleanup_where(o->name, cgroup_of_tenant, o->name, &e) < 0)
		offboard_warn(o, "removing its cgroups: %s", e.msg);
	if (o->purge) {
		offboard_remove(o);
		return;
	}
	if (tar_spawn(o, &e) < 0) {
		message_set(msg, sizeof(msg), "archiving: %s", e.msg);
		offboard_undo(o, msg, true);
		return;
	}
	o->step = STEP_ARCHIVING;
}

static void offboard_gone(const char *tenant, void *ud)
{
	struct offboard *o = ud;

	(void)tenant;
	o->step = STEP_STOPPED;
	o->timer = loop_timer_add(o->ob->loop, 0, offboard_stopped, o);
	if (!o->timer) /* it stays stopped; onboarding_free puts it back */
		fprintf(stderr, "wardd: offboard %s: out of memory: waiting for wardd to stop\n",
			o->name);
}

/* ======================================================================
 * The module
 * ====================================================================== */

struct onboarding *onboarding_new(const struct ward_config *cfg, struct loop *loop,
				  struct supervisor *sup, struct network *net, struct audit *audit)
{
	struct onboarding *ob = calloc(1, sizeof(*ob));

	if (!ob)
		return NULL;
	*ob = (struct onboarding){.cfg = cfg, .loop = loop, .sup = sup, .net = net, .audit = audit};
	return ob;
}

void onboarding_free(struct onboarding *ob)
{
	if (!ob)
		return;
	while (ob->offboards) {
		struct offboard *o = ob->offboards;

		/* Off the list first; finishing it frees it. */
		ob->offboards = o->next;
		o->next = NULL;
		switch (o->step) {
		case STEP_STOPPING:
		case STEP_STOPPED:
			offboard_undo(o, "wardd stopped while the tenant was being offboarded",
				      false);
			break;
		case STEP_ARCHIVING:
			kill(o->child, SIGKILL);
			while (waitpid(o->child, NULL, 0) < 0 && errno == EINTR)
				;
			o->child = -1;
			offboard_undo(o, "wardd stopped while the data was being archived", false);
			break;
		case STEP_REMOVING: {
			/* Half-removed data helps nobody: the removal finishes. */
			int st = 0;
			pid_t r;

			do
				r = waitpid(o->child, &st, 0);
			while (r < 0 && errno == EINTR);
			o->child = -1;
			if (o->err_fd >= 0) {
				(void)fcntl(o->err_fd, F_SETFL, 0);
				on_child_err(ob->loop, o->err_fd, EPOLLIN, o);
			}
			offboard_child_done(o, r < 0 ? -1 : st);
			break;
		}
		}
	}
	free(ob);
}
