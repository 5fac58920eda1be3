/* The uid pool (ids.pool_start, ids.pool_size, ids.count in wardd.json):
 * the range a new tenant gets is the first one nothing uses, neither a
 * profile file (loaded or not, or being offboarded), a live tenant, an
 * offboarding nor a live process, and the pool never meets a host user's
 * subordinate ids. Also the check that the subnet the network pool gave is
 * named by no profile file. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "basic/cleanup.h"
#include "basic/trusted.h"
#include "daemon/onboard-internal.h"
#include "model/subid.h"

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n > m && strcmp(s + n - m, suffix) == 0;
}

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

static int in_use_add_ids(struct in_use *u, uint32_t uid, uint32_t count)
{
	if (ob_grow((void **)&u->ids, &u->cap_ids, u->n_ids, sizeof(*u->ids)) < 0)
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

	if (ob_path_join(path, sizeof(path), dir, file, "") < 0)
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
			if (ob_grow((void **)&u->subnets, &u->cap_subnets, u->n_subnets,
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
		if (ob_grow((void **)&u->proc_ids, &u->cap_proc_ids, u->n_proc_ids,
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
	_cleanup_closedir_ DIR *d = opendir("/proc");
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
			    proc_ids_line(u, line, lo, hi) < 0)
				return ward_err_set(err, ENOMEM, "/proc");
		}
	}
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

/* The first range of the pool that no profile, live tenant, tenant being
 * offboarded or process uses. */
int idpool_pick(struct onboarding *ob, struct onboard_job *j, struct ward_err *err)
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
int idpool_subnet_unclaimed(struct onboarding *ob, struct onboard_job *j, struct ward_err *err)
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
		ob_cidr_string(&j->subnet, s);
		r = ward_err_set(
		    err, 0,
		    "the pool's next subnet %s is named by %s/%s, which is not loaded: "
		    "fix or remove that profile first",
		    s, ob->cfg->tenants_dir, u.subnets[i].file);
	}
	in_use_free(&u);
	return r;
}
