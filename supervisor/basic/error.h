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

/* Text from a client or a file, for a message: "value" in double quotes,
 * every byte but printable ASCII (and '"', '\\') as \xNN, cut with "..."
 * after max input bytes or when buf (size >= 8) is full. A message built
 * from it stays ASCII whatever was sent: no control sequences reach an
 * operator's terminal. Returns buf. */
const char *ward_quote(const char *s, size_t len, size_t max, char *buf, size_t size);
/* The same done in place to a NUL-terminated string: anything but
 * printable ASCII becomes '?' (for jansson's messages, which quote input). */
void ward_ascii_clean(char *s);
