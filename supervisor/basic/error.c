/* The error object: formatting and wrapping of messages. */
#include "basic/error.h"

#include <stdio.h>
#include <string.h>

int ward_err_set(struct ward_err *err, int errnum, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!err)
		return -1;
	va_start(ap, fmt);
	n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		err->msg[0] = '\0';
	err->errnum = errnum;
	if (errnum) {
		size_t len = strlen(err->msg);
		if (len < sizeof(err->msg))
			(void)snprintf(err->msg + len, sizeof(err->msg) - len, ": %s",
				       strerror(errnum)); /* cut if it must be, like the rest */
	}
	return -1;
}

int ward_err_wrap(struct ward_err *err, const char *fmt, ...)
{
	char prefix[512];
	char old[sizeof(err->msg)];
	va_list ap;
	int n;

	if (!err)
		return -1;
	va_start(ap, fmt);
	n = vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	memcpy(old, err->msg, sizeof(old));
	old[sizeof(old) - 1] = '\0';
	/* Truncation only shortens the tail of a message meant for humans. */
	{
		size_t plen = strnlen(prefix, sizeof(prefix) - 1);
		size_t room = sizeof(err->msg) - 1;
		size_t used = 0;

		memcpy(err->msg, prefix, plen < room ? plen : room);
		used = plen < room ? plen : room;
		if (used + 2 <= room) {
			memcpy(err->msg + used, ": ", 2);
			used += 2;
		}
		{
			size_t olen = strlen(old);
			size_t take = olen < room - used ? olen : room - used;
			memcpy(err->msg + used, old, take);
			used += take;
		}
		err->msg[used] = '\0';
	}
	return -1;
}
