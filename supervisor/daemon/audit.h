/* The audit log: LOG_DIR/audit.jsonl, append-only, one JSON object a line
 * with time (RFC 3339 UTC, ms), event, and fields. Every control request and
 * logon attempt, allowed or refused, and every lifecycle event.
 *
 * It fails closed: while a record cannot be written (or the room for the
 * next ones cannot be set aside), audit_ready() says no, and the callers
 * refuse whatever changes state (control commands, logons); the records
 * wait in memory and are written, in order, when writing works again. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "basic/error.h"

struct audit;
struct loop;

struct audit_limits {
	uint64_t max_bytes;        /* rotate past this size; 0: never */
	unsigned refused_burst;    /* refusals of one uid recorded one by one per window */
	unsigned refused_window_s; /* the window; the rest are counted in a summary */
};

#define AUDIT_REFUSED_BURST    10
#define AUDIT_REFUSED_WINDOW_S 60

/* Opens (creating it 0600) with O_APPEND. fsync_each: fsync after every
 * record; otherwise audit_flush(), called once per loop turn, does it.
 * Defaults: no rotation, AUDIT_REFUSED_BURST per AUDIT_REFUSED_WINDOW_S. */
struct audit *audit_open(const char *path, bool fsync_each, struct ward_err *err);
/* Sets the limits, and the loop whose timers write the refusal summaries
 * when their window ends and retry a failing log (without one, both wait
 * for the next record). l NULL keeps the limits; loop NULL detaches (before
 * the loop is freed). */
void audit_configure(struct audit *a, struct loop *loop, const struct audit_limits *l);
/* Writes what is pending (summaries, held records) as far as it can. */
void audit_close(struct audit *a);

/* Appends {"time": ..., "event": event, ...fields}. Takes the reference to
 * fields (an object, may be NULL). One write(2) per record, so a record is
 * never interleaved or torn. Returns 0, or -1 when the record could not be
 * written now (it is held in memory and written later, or counted as
 * dropped past the memory budget; reported on stderr once per outage). */
int audit_event(struct audit *a, const char *event, json_t *fields);
/* The same for a refused or abandoned attempt of uid: the first
 * refused_burst of a uid in a window are recorded one by one, the rest
 * counted into one "refused-summary" record when the window ends. Root's
 * (uid 0) are all recorded. */
int audit_refused(struct audit *a, uid_t uid, const char *event, json_t *fields);
/* Before anything that changes state: 0 when the log is writing and has
 * room set aside for the records to come; -1 with err (a message for the
 * client) otherwise. A NULL log is always ready. */
int audit_ready(struct audit *a, struct ward_err *err);
/* {"state": "ok"} or {"state": "failing", "since", "error", "held",
 * "dropped"}, for status. */
json_t *audit_state(const struct audit *a);
void audit_flush(struct audit *a);
