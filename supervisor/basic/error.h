/* Error objects that travel up to the one place that reports them. */
#pragma once

#include <stdarg.h>
#include <stddef.h>

struct ward_err {
	int errnum;     /* errno of the root cause, 0 if none */
	char msg[1024]; /* "context: context: cause: strerror" */
};

/* Sets err to the formatted message, with ": strerror(errnum)" appended when
 * errnum is non-zero. Returns -1 so callers can `return ward_err_set(...)`. */
int ward_err_set(struct ward_err *err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends "context: " to the message already in err. Returns -1. */
int ward_err_wrap(struct ward_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ward_quote() and ward_ascii_clean() moved to text.h; included here for
 * the callers that still find them through this header. */
#include "basic/text.h"
