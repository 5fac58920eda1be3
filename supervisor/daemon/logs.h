/* Captured service output: LOG_DIR/TENANT/SERVICE.log with size-based
 * rotation (SERVICE.log.1 is the newest old one, .N the oldest). */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "basic/error.h"

struct log_sink;

/* Opens (creating dir 0750 and the file 0640) path for appending. */
struct log_sink *log_sink_open(const char *path, uint64_t max_bytes, unsigned keep,
			       struct ward_err *err);
/* Appends; rotates first when the file would grow past max_bytes. */
int log_sink_write(struct log_sink *s, const void *buf, size_t len, struct ward_err *err);
void log_sink_close(struct log_sink *s);

/* Rotation without a gap: a fresh empty file (mode) is made beside path as
 * PATH.new and swapped in with one atomic rename (RENAME_EXCHANGE), so path
 * always names a whole log for whoever opens it; then the old file is
 * renamed to `to` (never over a file there when noreplace). Returns 0 with
 * *fd the fresh file's (the caller closes its old one, which it may still
 * flush: it is the same file under its new name); 1, also with *fd, when
 * only the old file's rename failed (it is left as PATH.new; err says so);
 * -1 with err when the fresh file did not become the log (nothing changed). */
int log_swap(const char *path, const char *to, unsigned mode, bool noreplace, int *fd,
	     struct ward_err *err);

/* The last `lines` lines of the log (looking into SERVICE.log.1 when the
 * current file is short), as a malloc'd string. At most max_bytes returned. */
int log_tail(const char *path, size_t lines, size_t max_bytes, char **out, size_t *len,
	     struct ward_err *err);

/* The same bytes as log_tail, read in pieces (a reply streamed to a slow
 * client holds a piece at a time, not the whole tail): the tail as it is
 * when opened; what the service writes later is not part of it. */
struct log_reader;
struct log_reader *log_reader_open(const char *path, size_t lines, uint64_t max_bytes,
				   struct ward_err *err);
/* Up to len bytes; 0 at the end; -1 with err. */
ssize_t log_reader_read(struct log_reader *r, char *buf, size_t len, struct ward_err *err);
/* Bytes not read yet. */
uint64_t log_reader_left(const struct log_reader *r);
void log_reader_close(struct log_reader *r);
