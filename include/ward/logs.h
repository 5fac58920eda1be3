/* Captured service output: LOG_DIR/TENANT/SERVICE.log with size-based
 * rotation (SERVICE.log.1 is the newest old one, .N the oldest). */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "ward/error.h"

struct log_sink;

/* Opens (creating dir 0750 and the file 0640) path for appending. */
struct log_sink *log_sink_open(const char *path, uint64_t max_bytes, unsigned keep,
			       struct ward_err *err);
/* Appends; rotates first when the file would grow past max_bytes. */
int log_sink_write(struct log_sink *s, const void *buf, size_t len, struct ward_err *err);
void log_sink_close(struct log_sink *s);

/* The last `lines` lines of the log (looking into SERVICE.log.1 when the
 * current file is short), as a malloc'd string. At most max_bytes returned. */
int log_tail(const char *path, size_t lines, size_t max_bytes, char **out, size_t *len,
	     struct ward_err *err);
