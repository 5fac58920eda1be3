/* User and group lookups (NSS) off the daemon's loop: a helper process does
 * them one at a time, the loop hears the answers on a socket, and a lookup
 * the name service sits on fails at its deadline instead of stalling every
 * tenant's supervision. See userdb.h. */
#include "daemon/userdb.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/caps.h"
#include "basic/cleanup.h"
#include "basic/helper.h"
#include "basic/loop.h"

/* The helper's uid and gid: nobody. Any user may ask the name service who
 * a uid is (that is what `id` does), so nothing is lost, and a flaw in an
 * NSS module it loads runs without root's files or capabilities. */
#define HELPER_ID 65534

/* Helpers killed but not reaped yet (one that hung in the kernel goes only
 * when the kernel lets it). */
#define REAP_MAX 8

struct request {
	uint32_t id;
	uint32_t uid;
	uint32_t want_groups;
};

/* After the head: n_groups gids (aligned: the head is 20 bytes, the buffer
 * malloc's), the user's name (name_len bytes, no NUL), then the groups'
 * names (names_len bytes, each NUL-terminated, one per gid). */
struct reply_head {
	uint32_t id;
	int32_t err;
	uint32_t name_len;
	uint32_t n_groups;
	uint32_t names_len;
};

#define REPLY_MAX                                                                                  \
	(sizeof(struct reply_head) + USERDB_MAX_GROUPS * sizeof(gid_t) + USERDB_NAME_MAX +         \
	 USERDB_GROUP_NAMES_MAX)

_Static_assert(sizeof(struct reply_head) % _Alignof(gid_t) == 0, "gids follow the head aligned");

struct userdb_query {
	struct userdb_query *prev, *next;
	uint32_t id;
	uid_t uid;
	bool want_groups;
	uint64_t since_ms;
	userdb_fn fn; /* NULL: cancelled while with the helper */
	void *ud;
};

struct userdb {
	struct loop *loop;
	unsigned timeout_ms;
	userdb_resolve_fn resolve;
	pid_t pid; /* the helper, or -1 */
	int sock;
	/* Set exactly while the head query is with the helper: its deadline. */
	struct loop_timer *deadline;
	struct loop_timer *kick; /* runs pump() from the loop */
	struct userdb_query *head, *tail;
	uint32_t next_id;
	pid_t reap[REAP_MAX];
	size_t n_reap;
	unsigned char *buf; /* REPLY_MAX bytes */
};

/* ---- the helper ---- */

/* getpwuid_r's "not found" (its manual lists these besides 0). */
static bool not_found(int r)
{
	return r == 0 || r == ENOENT || r == ESRCH || r == EBADF || r == EPERM;
}

/* Calls lookup(q, buf, size), one of NSS's *_r functions wrapped, with a
 * buffer grown while it says ERANGE (up to 1 MiB). *buf is the caller's to
 * free. Returns lookup's result, or ENOMEM. */
static int nss_grow(int (*lookup)(void *q, char *buf, size_t size), void *q, char **buf)
{
	for (size_t size = 1024;; size *= 2) {
		char *p = realloc(*buf, size);
		int r;

		if (!p)
			return ENOMEM;
		*buf = p;
		r = lookup(q, p, size);
		if (r != ERANGE || size >= (1u << 20))
			return r;
	}
}

struct pw_query {
	uid_t uid;
	struct passwd pw, *res;
};

static int pw_lookup(void *q, char *buf, size_t size)
{
	struct pw_query *p = q;

	return getpwuid_r(p->uid, &p->pw, buf, size, &p->res);
}

struct gr_query {
	gid_t gid;
	struct group gr, *res;
};

static int gr_lookup(void *q, char *buf, size_t size)
{
	struct gr_query *g = q;

	return getgrgid_r(g->gid, &g->gr, buf, size, &g->res);
}

/* The name of group gid appended to names (used bytes *len of size); a gid
 * without a name gets "". */
static int group_name_nss(gid_t gid, char *names, size_t size, size_t *len)
{
	_cleanup_free_ char *buf = NULL;
	struct gr_query q = {.gid = gid};
	/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): buf is _cleanup_free_ */
	int r = nss_grow(gr_lookup, &q, &buf);
	const char *name;
	size_t l;

	if (!q.res && (r == ENOMEM || !not_found(r)))
		return EIO;
	name = q.res && q.res->gr_name ? q.res->gr_name : "";
	l = strlen(name) + 1;
	if (l > USERDB_NAME_MAX || size - *len < l)
		return E2BIG;
	memcpy(names + *len, name, l);
	*len += l;
	return 0;
}

/* pw's groups (at most *n) into groups and *n, their names into names
 * (of size *names_len; *names_len set to the bytes used). */
static int groups_nss(const struct passwd *pw, gid_t *groups, size_t *n, char *names,
		      size_t *names_len)
{
	int want = (int)*n;
	size_t names_size;

	if (!names || !names_len) /* asked for with groups, always */
		return EIO;
	names_size = *names_len;
	if (getgrouplist(pw->pw_name, pw->pw_gid, groups, &want) < 0)
		return want > (int)*n ? E2BIG : EIO;
	*n = (size_t)want;
	*names_len = 0;
	for (size_t i = 0; i < *n; i++) {
		int r = group_name_nss(groups[i], names, names_size, names_len);

		if (r)
			return r;
	}
	return 0;
}

static int resolve_nss(uid_t uid, char *name, size_t size, gid_t *groups, size_t *n, char *names,
		       size_t *names_len)
{
	_cleanup_free_ char *buf = NULL;
	struct pw_query q = {.uid = uid};
	/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): buf is _cleanup_free_ */
	int r = nss_grow(pw_lookup, &q, &buf);
	const struct passwd *res = q.res;

	if (!res || !res->pw_name)
		return r != ENOMEM && not_found(r) ? ENOENT : EIO;
	if (strlen(res->pw_name) >= size)
		return E2BIG;
	memcpy(name, res->pw_name, strlen(res->pw_name) + 1);
	return groups ? groups_nss(res, groups, n, names, names_len) : 0;
}

/* Whether names holds exactly n NUL-terminated names, none longer than
 * USERDB_NAME_MAX, and nothing after them. */
static bool names_valid(const char *names, size_t len, size_t n)
{
	size_t at = 0;

	for (size_t i = 0; i < n; i++) {
		const char *nul = memchr(names + at, '\0', len - at);

		if (!nul || (size_t)(nul - (names + at)) > USERDB_NAME_MAX)
			return false;
		at = (size_t)(nul - names) + 1;
	}
	return at == len;
}

static int helper_serve(int sock, userdb_resolve_fn resolve, unsigned char *out)
{
	static gid_t groups[USERDB_MAX_GROUPS];
	static char names[USERDB_GROUP_NAMES_MAX];
	struct reply_head *h = (struct reply_head *)out;
	char name[USERDB_NAME_MAX + 1];
	struct request rq;
	size_t n = USERDB_MAX_GROUPS, names_len = sizeof(names), len = sizeof(*h);
	ssize_t got;

	got = recv(sock, &rq, sizeof(rq), 0);
	if (got < 0 && errno == EINTR)
		return 1;
	if (got != (ssize_t)sizeof(rq))
		return got == 0 ? 0 : -1;
	*h = (struct reply_head){.id = rq.id};
	name[0] = '\0';
	h->err = resolve((uid_t)rq.uid, name, sizeof(name), rq.want_groups ? groups : NULL, &n,
			 rq.want_groups ? names : NULL, rq.want_groups ? &names_len : NULL);
	/* A resolver's mistake is the helper's failure, not a reply the
	 * daemon would refuse and restart the helper over. */
	if (h->err == 0 && rq.want_groups &&
	    (n > USERDB_MAX_GROUPS || names_len > sizeof(names) ||
	     !names_valid(names, names_len, n)))
		h->err = EIO;
	if (h->err == 0) {
		h->n_groups = rq.want_groups ? (uint32_t)n : 0;
		h->names_len = rq.want_groups ? (uint32_t)names_len : 0;
		h->name_len = (uint32_t)strnlen(name, USERDB_NAME_MAX);
		memcpy(out + len, groups, h->n_groups * sizeof(gid_t));
		len += h->n_groups * sizeof(gid_t);
		memcpy(out + len, name, h->name_len);
		len += h->name_len;
		memcpy(out + len, names, h->names_len);
		len += h->names_len;
	}
	return send(sock, out, len, MSG_NOSIGNAL) == (ssize_t)len ? 1 : -1;
}

struct helper_arg {
	userdb_resolve_fn resolve;
	unsigned char *out;
};

static __attribute__((noreturn)) void helper_main(void *arg)
{
	const struct helper_arg *h = arg;

	if (geteuid() == 0) {
		const char *step = NULL;

		if (caps_drop_to(HELPER_ID, HELPER_ID, 0, &step) < 0)
			_exit(1);
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		_exit(1);
	{
		/* The largest answer is one datagram; the default buffer
		 * holds it, a host that lowered it is asked for more. */
		int size = (int)REPLY_MAX + 4096;

		(void)setsockopt(3, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	}
	for (;;) {
		int r = helper_serve(3, h->resolve, h->out);

		if (r <= 0)
			_exit(r == 0 ? 0 : 1);
	}
}

/* ---- the daemon's side ---- */

static void on_reply(struct loop *l, int fd, uint32_t events, void *ud);
static void pump(struct userdb *db);

static int helper_start(struct userdb *db)
{
	struct helper_arg arg = {.resolve = db->resolve, .out = db->buf};
	int sock;
	pid_t pid = helper_fork(SOCK_SEQPACKET, "wardd-userdb", helper_main, &arg, &sock);

	if (pid < 0)
		return -1;
	if (loop_add_fd(db->loop, sock, EPOLLIN, on_reply, db) < 0) {
		close(sock);
		(void)kill(pid, SIGKILL);
		(void)waitpid(pid, NULL, 0); /* just born: goes at once */
		return -1;
	}
	db->pid = pid;
	db->sock = sock;
	return 0;
}

static void reap_some(struct userdb *db)
{
	for (size_t i = 0; i < db->n_reap;) {
		if (waitpid(db->reap[i], NULL, WNOHANG) == 0) {
			i++;
			continue;
		}
		db->reap[i] = db->reap[--db->n_reap];
	}
}

/* Kills and (as far as the kernel lets us now) reaps the helper. Only a
 * child not yet reaped is signalled: its pid cannot have been reused. */
static void helper_stop(struct userdb *db)
{
	if (db->pid < 0)
		return;
	loop_del_fd(db->loop, db->sock);
	close(db->sock);
	db->sock = -1;
	(void)kill(db->pid, SIGKILL);
	if (waitpid(db->pid, NULL, WNOHANG) == 0) {
		if (db->n_reap == REAP_MAX) {
			/* Full of helpers the kernel holds: wait for the oldest. */
			(void)waitpid(db->reap[0], NULL, 0);
			db->reap[0] = db->reap[--db->n_reap];
		}
		db->reap[db->n_reap++] = db->pid;
	}
	db->pid = -1;
	loop_timer_cancel(db->loop, db->deadline);
	db->deadline = NULL;
}

/* The query is with the helper (only ever the head). */
static bool in_flight(const struct userdb *db, const struct userdb_query *q)
{
	return q && q == db->head && db->deadline;
}

static void unlink_query(struct userdb *db, struct userdb_query *q)
{
	/* By identity, not by q->prev/next being NULL: the same thing, but
	 * clang-analyzer sees the head move off a query about to be freed. */
	if (db->head == q)
		db->head = q->next;
	else if (q->prev)
		q->prev->next = q->next;
	if (db->tail == q)
		db->tail = q->prev;
	else if (q->next)
		q->next->prev = q->prev;
	q->prev = q->next = NULL;
}

static void answer(struct userdb *db, struct userdb_query *q, const struct userdb_answer *a)
{
	userdb_fn fn = q->fn;
	void *ud = q->ud;

	unlink_query(db, q);
	free(q);
	if (fn)
		fn(a, ud);
}

static void fail(struct userdb *db, struct userdb_query *q, int err)
{
	struct userdb_answer a = {.uid = q->uid, .err = err};

	answer(db, q, &a);
}

/* Fails the queries up to id (those asked until now) that match: the ones
 * that waited timeout_ms, or all. A callback may ask again (a later id) or
 * cancel others, so the walk starts from the head each time. */
static void fail_through(struct userdb *db, uint32_t id, int err, bool only_expired)
{
	uint64_t now = loop_now_ms();

	for (;;) {
		struct userdb_query *q = db->head;

		while (q && (int32_t)(q->id - id) <= 0 && only_expired &&
		       now - q->since_ms < db->timeout_ms)
			q = q->next;
		if (!q || (int32_t)(q->id - id) > 0)
			return;
		fail(db, q, err);
	}
}

static void on_deadline(struct loop *l, void *ud)
{
	struct userdb *db = ud;
	uint32_t last = db->tail ? db->tail->id : 0;

	(void)l;
	db->deadline = NULL;
	helper_stop(db);
	/* The one with the helper first, then every other that has waited as
	 * long: the name service is not answering. The rest get a new
	 * helper. */
	if (db->head)
		fail(db, db->head, ETIMEDOUT);
	if (db->tail)
		fail_through(db, last, ETIMEDOUT, true);
	pump(db);
}

/* A reply for the head query, checked to the byte; anything else is a
 * helper gone wrong. */
static bool reply_valid(const struct userdb *db, const struct reply_head *h, size_t len)
{
	const struct userdb_query *q = db->head;

	if (!in_flight(db, q) || len < sizeof(*h) || h->id != q->id)
		return false;
	if (h->err != 0)
		return len == sizeof(*h) && h->err > 0;
	if (h->name_len == 0 || h->name_len > USERDB_NAME_MAX || h->n_groups > USERDB_MAX_GROUPS ||
	    h->names_len > USERDB_GROUP_NAMES_MAX || (!q->want_groups && h->n_groups) ||
	    len != sizeof(*h) + h->n_groups * sizeof(gid_t) + h->name_len + h->names_len)
		return false;
	{
		const char *name = (const char *)db->buf + sizeof(*h) + h->n_groups * sizeof(gid_t);

		return !memchr(name, '\0', h->name_len) &&
		       names_valid(name + h->name_len, h->names_len, h->n_groups);
	}
}

static void on_reply(struct loop *l, int fd, uint32_t events, void *ud)
{
	struct userdb *db = ud;
	struct reply_head h = {0};
	ssize_t n;

	(void)l;
	(void)events;
	n = recv(fd, db->buf, REPLY_MAX, MSG_DONTWAIT | MSG_TRUNC);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n > 0)
		memcpy(&h, db->buf, n >= (ssize_t)sizeof(h) ? sizeof(h) : 0);
	if (n <= 0 || (size_t)n > REPLY_MAX || !reply_valid(db, &h, (size_t)n)) {
		/* Died, or said something it should not: the query it had
		 * fails, the others get a new helper. */
		struct userdb_query *q = in_flight(db, db->head) ? db->head : NULL;

		helper_stop(db);
		if (q)
			fail(db, q, EIO);
		pump(db);
		return;
	}
	loop_timer_cancel(db->loop, db->deadline);
	db->deadline = NULL;
	{
		char name[USERDB_NAME_MAX + 1];
		struct userdb_answer a = {.uid = db->head->uid, .err = h.err};

		if (h.err == 0) {
			const unsigned char *at = db->buf + sizeof(h) + h.n_groups * sizeof(gid_t);

			memcpy(name, at, h.name_len);
			name[h.name_len] = '\0';
			a.name = name;
			/* Aligned for gid_t: malloc'd buffer, 20-byte head. */
			a.groups = (const gid_t *)(void *)(db->buf + sizeof(h));
			a.n_groups = h.n_groups;
			a.group_names = (const char *)at + h.name_len;
		}
		answer(db, db->head, &a);
	}
	pump(db);
}

/* Hands the head query to the helper, starting one if none runs. */
static void pump(struct userdb *db)
{
	reap_some(db);
	while (db->head && !in_flight(db, db->head)) {
		struct userdb_query *q = db->head;
		struct request rq = {
		    .id = q->id, .uid = (uint32_t)q->uid, .want_groups = q->want_groups};

		if (db->pid < 0 && helper_start(db) < 0) {
			fail_through(db, db->tail->id, EIO, false);
			return;
		}
		if (send(db->sock, &rq, sizeof(rq), MSG_DONTWAIT | MSG_NOSIGNAL) ==
		    (ssize_t)sizeof(rq)) {
			db->deadline = loop_timer_add(db->loop, db->timeout_ms, on_deadline, db);
			if (db->deadline)
				return;
		}
		/* This one fails; the next tries a new helper. */
		helper_stop(db);
		fail(db, q, EIO);
	}
}

static void on_kick(struct loop *l, void *ud)
{
	struct userdb *db = ud;

	(void)l;
	db->kick = NULL;
	pump(db);
}

struct userdb *userdb_new(struct loop *l, unsigned timeout_ms, userdb_resolve_fn resolve)
{
	struct userdb *db = calloc(1, sizeof(*db));

	if (!db)
		return NULL;
	db->buf = malloc(REPLY_MAX);
	if (!db->buf) {
		free(db);
		return NULL;
	}
	db->loop = l;
	db->timeout_ms = timeout_ms ? timeout_ms : USERDB_TIMEOUT_MS;
	db->resolve = resolve ? resolve : resolve_nss;
	db->pid = -1;
	db->sock = -1;
	return db;
}

void userdb_free(struct userdb *db)
{
	if (!db)
		return;
	loop_timer_cancel(db->loop, db->kick);
	helper_stop(db);
	/* A killed helper goes at once unless the kernel holds it (a hung
	 * network file system): give it a moment, never forever. */
	for (int i = 0; i < 50 && db->n_reap; i++) {
		reap_some(db);
		if (db->n_reap)
			nanosleep(&(struct timespec){.tv_nsec = 2000000}, NULL);
	}
	while (db->head) {
		struct userdb_query *q = db->head;

		unlink_query(db, q);
		free(q);
	}
	free(db->buf);
	free(db);
}

struct userdb_query *userdb_lookup(struct userdb *db, uid_t uid, bool want_groups, userdb_fn fn,
				   void *ud)
{
	struct userdb_query *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	/* Never answered from in here: the caller is in the middle of
	 * something. The loop's next turn pumps. */
	if (!db->kick && !in_flight(db, db->head)) {
		db->kick = loop_timer_add(db->loop, 0, on_kick, db);
		if (!db->kick) {
			free(q);
			return NULL;
		}
	}
	*q = (struct userdb_query){.id = ++db->next_id,
				   .uid = uid,
				   .want_groups = want_groups,
				   .since_ms = loop_now_ms(),
				   .fn = fn,
				   .ud = ud};
	q->prev = db->tail;
	if (db->tail)
		db->tail->next = q;
	else
		db->head = q;
	db->tail = q;
	return q;
}

void userdb_cancel(struct userdb *db, struct userdb_query *q)
{
	if (!db || !q)
		return;
	if (in_flight(db, q)) {
		/* Stays at the head until its answer (or deadline) comes and
		 * is dropped: the helper's next reply is for it. Killing the
		 * helper instead would let a client that connects and leaves
		 * over and over make the daemon fork over and over. */
		q->fn = NULL;
		return;
	}
	unlink_query(db, q);
	free(q);
}

pid_t userdb_helper_pid(const struct userdb *db)
{
	return db ? db->pid : -1;
}
