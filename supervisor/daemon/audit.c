/* The audit log: one JSON object a line, appended with one write(2) each, so
 * concurrent writers never interleave or tear a record.
 *
 * Cost of durability, measured on the development machine (2 vCPU AMD EPYC
 * VM, ext4 on virtio; 1000 "control" records of ~200 bytes, median of 5
 * runs; the host may acknowledge flushes early, so real disks cost more):
 *   fsync after every record:       ~125 us a record (p99 ~270 us)
 *   fsync once per loop turn, 10 records a turn: ~5 us a record, ~23 us a
 *     record with the turn's fsync spread over its records
 *   no fsync at all (reference):    ~4 us a record
 * Per record is the default: an audit trail that loses its last entries in a
 * crash is the one nobody can trust, and 125 us is small beside the cost of
 * the control request or lifecycle event being recorded.
 *
 * Failing closed: after every record the next AUDIT_RESERVE bytes past the
 * end are allocated (fallocate, FALLOC_FL_KEEP_SIZE), so that when the
 * volume fills up the log notices while it still has room: the records of
 * what was already let through are still written, and audit_ready() refuses
 * what would change state from then on. Records that cannot be written wait
 * in memory (up to AUDIT_HELD_MAX bytes; past that they are counted) and are
 * written in order, followed by an "audit-resumed" record, as soon as
 * writing works again (tried on every record and every AUDIT_RETRY_MS).
 *
 * Refusals are rate limited per uid (audit_refused): a local user who
 * connects and is turned away thousands of times a second gets the first
 * few recorded one by one and the rest counted in one summary a window.
 *
 * Rotation (max_bytes) loses nothing: the file is fsynced, then a fresh one
 * is swapped in atomically (log_swap) and the old one keeps every record
 * under a name of its own, audit.jsonl.YYYYMMDDTHHMMSS.mmmZ; ward never
 * deletes one. */
#include "daemon/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "basic/cleanup.h"
#include "basic/log.h"
#include "daemon/logs.h"
#include "basic/loop.h"

#define AUDIT_RESERVE     (64u << 10) /* allocated past the end for the records to come */
#define AUDIT_HELD_MAX    (4u << 20)  /* bytes of records held in memory while failing */
#define AUDIT_RETRY_MS    500
#define AUDIT_LIMIT_SLOTS 256 /* uids whose refusals are counted apart */

/* A record that could not be written yet: its line as record_format made it. */
struct held {
	struct held *next;
	size_t len;
	char *line;
};

/* The refusals of one uid in the current window. */
struct refusals {
	bool used;
	bool other; /* the slot of every uid that found the table full */
	uid_t uid;
	uint64_t start_ms;
	unsigned attempts, recorded;
	char first[32], last[32];
};

struct audit {
	int fd;
	bool fsync_each;
	bool dirty;      /* written since the last fsync */
	bool failing;    /* a failure was reported and the log has not resumed since */
	bool torn;       /* the last record was cut short (disk full): end its line */
	bool no_reserve; /* the file system cannot allocate ahead: only write errors count */
	bool rotate_failed;
	char *path;
	uint64_t size; /* of the file, as we wrote it */
	struct audit_limits lim;
	struct loop *loop;
	struct loop_timer *retry, *summary;

	/* while failing */
	char since[32];
	char error[256];
	struct held *held, **held_tail;
	size_t held_bytes;
	uint64_t n_late;    /* records held, since written */
	uint64_t n_dropped; /* records past the memory budget: lost */

	struct refusals slots[AUDIT_LIMIT_SLOTS + 1]; /* the last one: every other uid */
};

static int format_time(char buf[32]);
static void arm_retry(struct audit *a);
static int reserve(struct audit *a);
static void resume(struct audit *a);
static void sweep(struct audit *a, uint64_t now);
static uint64_t held_count(const struct audit *a);

/* Once per outage: a full disk must not turn the daemon's stderr into a copy
 * of the audit log. Recovery is reported too, so the gap is visible. */
static void failed(struct audit *a, const char *what, int errnum)
{
	if (a->failing)
		return;
	a->failing = true;
	if (format_time(a->since) < 0)
		(void)snprintf(a->since, sizeof(a->since), "unknown");
	(void)snprintf(a->error, sizeof(a->error), "%s: %s", what, strerror(errnum));
	log_msg("audit log %s: %s: %s: control commands that change state and logons are "
		"refused until it can be written (further failures not reported)",
		a->path, what, strerror(errnum));
	arm_retry(a);
}

/* "2026-11-22T14:05:06.123Z" */
static int format_time(char buf[32])
{
	struct timespec ts;
	struct tm tm;

	if (clock_gettime(CLOCK_REALTIME, &ts) < 0 || !gmtime_r(&ts.tv_sec, &tm))
		return -1;
	if (strftime(buf, 32, "%Y-%m-%dT%H:%M:%S", &tm) != 19)
		return -1;
	int n = snprintf(buf + 19, 32 - 19, ".%03ldZ", ts.tv_nsec / 1000000);
	return n == 5 ? 0 : -1;
}

/* The whole record as one malloc'd line: "\n", then the record with its
 * "\n"; the first byte is written only after a torn record. Keys in order: time,
 * event, then the fields (a field named time or event cannot replace ours). */
static char *record_format(const char *event, json_t *fields, size_t *len)
{
	char now[32];

	if (format_time(now) < 0)
		return NULL;
	_cleanup_(json_decrefp) json_t *rec = json_object();
	if (!rec || json_object_set_new(rec, "time", json_string(now)) < 0 ||
	    json_object_set_new(rec, "event", json_string(event)) < 0)
		return NULL;
	if (fields && json_object_update_missing(rec, fields) < 0)
		return NULL;
	char *line = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!line)
		return NULL;
	size_t n = strlen(line);
	char *out = malloc(n + 3);
	if (out) {
		out[0] = '\n'; /* written only after a torn record */
		memcpy(out + 1, line, n);
		out[n + 1] = '\n';
		out[n + 2] = '\0';
		*len = n + 2;
	}
	free(line);
	return out;
}

struct audit *audit_open(const char *path, bool fsync_each, struct ward_err *err)
{
	struct stat st;

	/* O_NOFOLLOW: a symlink at the path is refused, not followed.
	 * O_NONBLOCK: a FIFO planted there must not hang the open. */
	_cleanup_close_ int fd =
	    open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
	if (fd < 0) {
		if (errno == ELOOP)
			return ward_err_set(err, 0, "open audit log %s: is a symbolic link", path),
			       NULL;
		return ward_err_set(err, errno, "open audit log %s", path), NULL;
	}
	if (fstat(fd, &st) < 0)
		return ward_err_set(err, errno, "stat audit log %s", path), NULL;
	if (!S_ISREG(st.st_mode))
		return ward_err_set(err, 0, "audit log %s: not a regular file", path), NULL;
	if (st.st_uid != geteuid())
		return ward_err_set(err, 0, "audit log %s: owned by uid %u, not by us (%u)", path,
				    (unsigned)st.st_uid, (unsigned)geteuid()),
		       NULL;
	/* An existing log someone loosened is tightened, not trusted. */
	if ((st.st_mode & 07777) != 0600 && fchmod(fd, 0600) < 0)
		return ward_err_set(err, errno, "chmod 0600 audit log %s", path), NULL;
	if (fcntl(fd, F_SETFL, O_WRONLY | O_APPEND) < 0)
		return ward_err_set(err, errno, "audit log %s: fcntl", path), NULL;

	struct audit *a = calloc(1, sizeof(*a));
	if (!a || !(a->path = strdup(path))) {
		free(a);
		return ward_err_set(err, ENOMEM, "audit log %s", path), NULL;
	}
	a->fd = TAKE_FD(fd);
	a->fsync_each = fsync_each;
	a->size = (uint64_t)st.st_size;
	a->held_tail = &a->held;
	a->lim = (struct audit_limits){.refused_burst = AUDIT_REFUSED_BURST,
				       .refused_window_s = AUDIT_REFUSED_WINDOW_S};
	if (reserve(a) < 0)
		failed(a, "allocating room for the next records", errno);
	return a;
}

void audit_configure(struct audit *a, struct loop *loop, const struct audit_limits *l)
{
	if (!a)
		return;
	if (a->loop) { /* the old loop's timers go with it */
		loop_timer_cancel(a->loop, a->retry);
		loop_timer_cancel(a->loop, a->summary);
		a->retry = a->summary = NULL;
	}
	a->loop = loop;
	if (l)
		a->lim = *l;
	if (a->failing)
		arm_retry(a);
}

/* Gives back the room allocated past the end (a failure only wastes it). */
static void unreserve(int fd)
{
	struct stat st;

	if (fstat(fd, &st) == 0 && ftruncate(fd, st.st_size) < 0)
		return;
}

void audit_close(struct audit *a)
{
	if (!a)
		return;
	sweep(a, UINT64_MAX); /* the windows still open: their summaries */
	if (a->failing)
		resume(a);
	if (a->held || a->n_dropped) {
		uint64_t lost = held_count(a) + a->n_dropped;

		log_msg("audit log %s: %" PRIu64 " record(s) could not be written: lost", a->path,
			lost);
	}
	audit_flush(a);
	unreserve(a->fd); /* a next wardd takes its own */
	close(a->fd);
	while (a->held) {
		struct held *h = a->held;
		a->held = h->next;
		free(h->line);
		free(h);
	}
	if (a->loop) {
		loop_timer_cancel(a->loop, a->retry);
		loop_timer_cancel(a->loop, a->summary);
	}
	free(a->path);
	free(a);
}

/* Allocates AUDIT_RESERVE bytes past the end, keeping the size: the next
 * records land in blocks that already exist, so a volume that fills up is
 * noticed here, one record early, and not by a record that is lost. */
static int reserve(struct audit *a)
{
	int r;

	if (a->no_reserve)
		return 0;
	do
		r = fallocate(a->fd, FALLOC_FL_KEEP_SIZE, (off_t)a->size, AUDIT_RESERVE);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return 0;
	if (errno == EOPNOTSUPP || errno == ENOSYS) {
		a->no_reserve = true;
		return 0;
	}
	return -1;
}

static uint64_t held_count(const struct audit *a)
{
	uint64_t n = 0;

	for (const struct held *h = a->held; h; h = h->next)
		n++;
	return n;
}

/* Takes line. Past the memory budget the record is lost, and counted. */
static void hold(struct audit *a, char *line, size_t len)
{
	struct held *h = a->held_bytes + len <= AUDIT_HELD_MAX ? malloc(sizeof(*h)) : NULL;

	if (!h) {
		free(line);
		a->n_dropped++;
		return;
	}
	*h = (struct held){.len = len, .line = line};
	*a->held_tail = h;
	a->held_tail = &h->next;
	a->held_bytes += len;
}

/* AUDIT.jsonl.20261207T194512.123Z, or with -2, -3 ... when that is taken.
 * Returns 0, or -1 with errno set: the caller reports errno. */
static int rotated_name(const struct audit *a, char *buf, size_t size)
{
	struct timespec ts;
	struct tm tm;
	char stamp[32];
	struct stat st;

	if (clock_gettime(CLOCK_REALTIME, &ts) < 0)
		return -1;
	if (!gmtime_r(&ts.tv_sec, &tm) ||
	    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%S", &tm) == 0) {
		errno = EOVERFLOW;
		return -1;
	}
	for (unsigned i = 1; i < 1000; i++) {
		int n = i == 1 ? snprintf(buf, size, "%s.%s.%03ldZ", a->path, stamp,
					  ts.tv_nsec / 1000000)
			       : snprintf(buf, size, "%s.%s.%03ldZ-%u", a->path, stamp,
					  ts.tv_nsec / 1000000, i);
		if (n < 0 || (size_t)n >= size) {
			errno = ENAMETOOLONG;
			return -1;
		}
		if (lstat(buf, &st) < 0 && errno == ENOENT)
			return 0;
	}
	errno = EEXIST; /* the 999 names of this millisecond are taken */
	return -1;
}

static void dir_sync(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) : 0;

	if (n == 0 || n >= sizeof(dir))
		return;
	memcpy(dir, path, n);
	dir[n] = '\0';
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

/* A fresh file swapped in, the old one kept whole under a name of its own.
 * Order matters: the old file is fsynced (every record on disk) before it
 * is renamed, and the rename is made durable with its directory. */
static int rotate(struct audit *a, struct ward_err *err)
{
	char to[PATH_MAX], left[PATH_MAX];
	struct stat st;
	int fd = -1, r;

	/* A rotation cut short between its two renames left the old log as
	 * PATH.new: log_swap would remove it, so it gets its own name first. */
	r = snprintf(left, sizeof(left), "%s.new", a->path);
	if (r < 0 || (size_t)r >= sizeof(left))
		return ward_err_set(err, ENAMETOOLONG, "rotate %s", a->path);
	if (lstat(left, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
	    (rotated_name(a, to, sizeof(to)) < 0 ||
	     renameat2(AT_FDCWD, left, AT_FDCWD, to, RENAME_NOREPLACE) < 0))
		return ward_err_set(err, errno, "rotate %s: keeping %s", a->path, left);
	if (rotated_name(a, to, sizeof(to)) < 0)
		return ward_err_set(err, errno, "rotate %s", a->path);
	if (fsync(a->fd) < 0)
		return ward_err_set(err, errno, "rotate %s: fsync", a->path);
	a->dirty = false;
	unreserve(a->fd);
	if ((r = log_swap(a->path, to, 0600, true, &fd, err)) < 0)
		return -1;
	close(a->fd);
	a->fd = fd;
	a->size = 0;
	a->torn = false; /* a fragment, if any, ended the old file */
	dir_sync(a->path);
	return r > 0 ? -1 : 0;
}

/* Writes one formatted line (record_format's, "\n" first). -1: nothing or
 * part of it was written (reported; the caller holds it). */
static int line_write(struct audit *a, const char *line, size_t len)
{
	size_t done;

	if (a->lim.max_bytes && a->size > 0 && a->size + len > a->lim.max_bytes) {
		struct ward_err err = {0};

		/* Never a reason to lose a record: the current file goes on. */
		if (rotate(a, &err) < 0 && !a->rotate_failed) {
			a->rotate_failed = true;
			log_msg("audit log: %s (writing on in the current file)", err.msg);
		} else if (!err.msg[0]) {
			a->rotate_failed = false;
		}
	}
	/* O_APPEND makes each write(2) land whole at the end. A regular file
	 * only writes short on a full disk or a signal; the rest then follows.
	 * After a record was cut short, this one starts with the "\n" that
	 * ends the fragment, so every later record is a line of its own. */
	done = a->torn ? 0 : 1;
	while (done < len) {
		ssize_t n = write(a->fd, line + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			a->torn = a->torn || done > 1;
			failed(a, "write", n < 0 ? errno : EIO);
			return -1;
		}
		done += (size_t)n;
		a->size += (uint64_t)n;
		a->torn = false;
	}
	a->dirty = true;
	if (a->fsync_each) {
		a->dirty = false;
		if (fsync(a->fd) < 0)
			failed(a, "fsync", errno); /* written, maybe not durable: not held */
	}
	return 0;
}

/* Once there is room again: writes what waits, in order, and ends the
 * outage with a record of it. */
static void resume(struct audit *a)
{
	_cleanup_(json_decrefp) json_t *f = NULL;
	char *line;
	size_t len = 0;
	bool written;

	while (a->held) {
		struct held *h = a->held;

		/* Room first, each time: a record is written where it fits whole,
		 * never cut short by a volume that is still full. */
		if (reserve(a) < 0 || line_write(a, h->line, h->len) < 0)
			return;
		a->held = h->next;
		if (!a->held)
			a->held_tail = &a->held;
		a->held_bytes -= h->len;
		a->n_late++;
		free(h->line);
		free(h);
	}
	/* What was written is on disk before the outage is declared over. */
	if (reserve(a) < 0 || fsync(a->fd) < 0)
		return;
	a->dirty = false;
	f = json_pack("{s:s, s:s, s:I, s:I}", "failing_since", a->since, "error", a->error, "held",
		      (json_int_t)a->n_late, "dropped", (json_int_t)a->n_dropped);
	line = f ? record_format("audit-resumed", f, &len) : NULL;
	written = line && line_write(a, line, len) == 0;
	free(line);
	if (!written)
		return;
	log_msg("audit log %s: writing again (failing since %s: %llu held record(s) written late, "
		"%llu lost)",
		a->path, a->since, (unsigned long long)a->n_late, (unsigned long long)a->n_dropped);
	a->failing = false;
	a->n_late = a->n_dropped = 0;
	if (a->loop)
		loop_timer_cancel(a->loop, a->retry);
	a->retry = NULL;
}

static void on_retry(struct loop *l, void *ud)
{
	struct audit *a = ud;

	(void)l;
	a->retry = NULL; /* the loop frees a timer that fired */
	resume(a);
	if (a->failing)
		arm_retry(a);
}

static void arm_retry(struct audit *a)
{
	if (a->loop && !a->retry)
		a->retry = loop_timer_add(a->loop, AUDIT_RETRY_MS, on_retry, a);
}

static int record_write(struct audit *a, const char *event, json_t *fields)
{
	char *line = NULL;
	size_t len = 0;

	if (!event || (fields && !json_is_object(fields))) {
		/* A caller's bug, not an outage: say so every time. */
		log_msg("audit: event %s: fields are not an object", event ? event : "(null)");
		return -1;
	}
	/* Time is taken now: a record held for later still says when. */
	if (!(line = record_format(event, fields, &len))) {
		failed(a, "cannot format a record", ENOMEM);
		a->n_dropped++;
		return -1;
	}
	if (a->failing)
		resume(a);
	/* While failing, records wait in memory rather than fill up what is
	 * left (a record cut short helps nobody); and never before what
	 * waits: the log stays in order. */
	if (a->failing || a->held || line_write(a, line, len) < 0) {
		hold(a, line, len);
		return -1;
	}
	free(line);
	if (!a->failing && reserve(a) < 0)
		failed(a, "allocating room for the next records", errno);
	return 0;
}

/* A NULL log discards: modules can be exercised without one. */
int audit_event(struct audit *a, const char *event, json_t *fields)
{
	int r = a ? record_write(a, event, fields) : 0;

	json_decref(fields);
	return r;
}

int audit_ready(struct audit *a, struct ward_err *err)
{
	if (!a)
		return 0;
	if (a->failing)
		resume(a);
	else if (reserve(a) < 0)
		failed(a, "allocating room for the next records", errno);
	if (!a->failing)
		return 0;
	return ward_err_set(err, 0,
			    "the audit log cannot be written (%s, since %s): refused until it can",
			    a->error, a->since);
}

json_t *audit_state(const struct audit *a)
{
	if (!a || !a->failing)
		return json_pack("{s:s}", "state", "ok");
	return json_pack("{s:s, s:s, s:s, s:I, s:I}", "state", "failing", "since", a->since,
			 "error", a->error, "held", (json_int_t)held_count(a), "dropped",
			 (json_int_t)a->n_dropped);
}

void audit_flush(struct audit *a)
{
	if (!a || !a->dirty)
		return;
	a->dirty = false;
	if (fsync(a->fd) < 0)
		failed(a, "fsync", errno);
}

/* ---- refusals, per uid ---- */

static void arm_summary(struct audit *a, uint64_t now);

/* Closes the windows that ended by now: a summary for each that counted
 * more than it recorded. */
static void sweep(struct audit *a, uint64_t now)
{
	uint64_t window = (uint64_t)a->lim.refused_window_s * 1000;

	for (size_t i = 0; i <= AUDIT_LIMIT_SLOTS; i++) {
		struct refusals *r = &a->slots[i];
		char msg[192];

		if (!r->used || now - r->start_ms < window)
			continue;
		r->used = false;
		if (r->attempts <= r->recorded)
			continue;
		if (r->other)
			(void)snprintf(msg, sizeof(msg),
				       "%u refused attempts from uids without a slot of their own "
				       "in %u s",
				       r->attempts, a->lim.refused_window_s);
		else
			(void)snprintf(msg, sizeof(msg), "%u refused attempts from uid %u in %u s",
				       r->attempts, (unsigned)r->uid, a->lim.refused_window_s);
		audit_event(a, "refused-summary",
			    json_pack("{s:o, s:I, s:I, s:I, s:I, s:s, s:s, s:s}", "uid",
				      r->other ? json_null() : json_integer((json_int_t)r->uid),
				      "attempts", (json_int_t)r->attempts, "recorded",
				      (json_int_t)r->recorded, "not_recorded",
				      (json_int_t)(r->attempts - r->recorded), "window_s",
				      (json_int_t)a->lim.refused_window_s, "first", r->first,
				      "last", r->last, "message", msg));
	}
	if (now != UINT64_MAX)
		arm_summary(a, now);
}

static void on_summary(struct loop *l, void *ud)
{
	struct audit *a = ud;

	(void)l;
	a->summary = NULL;
	sweep(a, loop_now_ms());
}

/* A timer for the earliest window that has something to summarize. */
static void arm_summary(struct audit *a, uint64_t now)
{
	uint64_t window = (uint64_t)a->lim.refused_window_s * 1000, end = UINT64_MAX;

	if (!a->loop || a->summary)
		return;
	for (size_t i = 0; i <= AUDIT_LIMIT_SLOTS; i++)
		if (a->slots[i].used && a->slots[i].attempts > a->slots[i].recorded &&
		    a->slots[i].start_ms + window < end)
			end = a->slots[i].start_ms + window;
	if (end != UINT64_MAX)
		a->summary = loop_timer_add(a->loop, end > now ? end - now : 0, on_summary, a);
}

static struct refusals *slot_of(struct audit *a, uid_t uid, uint64_t now)
{
	struct refusals *r = NULL;

	for (size_t i = 0; i < AUDIT_LIMIT_SLOTS; i++) {
		if (a->slots[i].used && a->slots[i].uid == uid)
			return &a->slots[i];
		if (!a->slots[i].used && !r)
			r = &a->slots[i];
	}
	if (!r) {
		r = &a->slots[AUDIT_LIMIT_SLOTS];
		if (r->used)
			return r;
		r->other = true;
	}
	r->used = true;
	r->uid = uid;
	r->start_ms = now;
	r->attempts = r->recorded = 0;
	if (format_time(r->first) < 0)
		r->first[0] = '\0';
	return r;
}

int audit_refused(struct audit *a, uid_t uid, const char *event, json_t *fields)
{
	struct refusals *r;
	uint64_t now;

	/* Root is not limited: it could write to (or remove) the log itself,
	 * so a limit would protect nothing and only hide its mistakes. */
	if (!a || uid == 0)
		return audit_event(a, event, fields);
	now = loop_now_ms();
	sweep(a, now);
	r = slot_of(a, uid, now);
	r->attempts++;
	if (format_time(r->last) < 0)
		r->last[0] = '\0';
	if (r->recorded < a->lim.refused_burst) {
		r->recorded++;
		return audit_event(a, event, fields);
	}
	/* Counted, and written in the window's summary. */
	json_decref(fields);
	arm_summary(a, now);
	return 0;
}
