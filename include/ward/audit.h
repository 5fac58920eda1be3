/* The audit log: LOG_DIR/audit.jsonl, append-only, one JSON object a line
 * with time (RFC 3339 UTC, ms), event, and fields. Every control request and
 * logon attempt, allowed or refused, and every lifecycle event. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "ward/error.h"

struct audit;

/* Opens (creating it 0600) with O_APPEND. fsync_each: fsync after every
 * record; otherwise audit_flush(), called once per loop turn, does it. */
struct audit *audit_open(const char *path, bool fsync_each, struct ward_err *err);
void audit_close(struct audit *a);

/* Appends {"time": ..., "event": event, ...fields}. Takes the reference to
 * fields (an object, may be NULL). One write(2) per record, so a record is
 * never interleaved or torn. Returns 0 or -1 (also reported on stderr once). */
int audit_event(struct audit *a, const char *event, json_t *fields);
void audit_flush(struct audit *a);
