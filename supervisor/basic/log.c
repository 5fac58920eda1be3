/* wardd's own messages on stderr, one write per line. See log.h. */
#include "basic/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *program = "wardd";

void log_set_program(const char *name)
{
	program = name && *name ? name : "wardd";
}

/* Appends s (len bytes) to out (at *at of size), control bytes and DEL as
 * \xNN; stops, whole escapes only, when out is full (one byte kept for the
 * NUL). */
static void put_clean(char *out, size_t size, size_t *at, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f) {
			if (*at + 4 >= size)
				return;
			(void)snprintf(out + *at, 5, "\\x%02x", c);
			*at += 4;
		} else {
			if (*at + 1 >= size)
				return;
			out[(*at)++] = (char)c;
		}
	}
}

static void vformat(char *buf, size_t size, const char *tenant, const char *service,
		    const char *fmt, va_list ap)
{
	char msg[LOG_LINE_MAX];
	size_t at = 0;
	int n;

	if (size > LOG_LINE_MAX)
		size = LOG_LINE_MAX;
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (n < 0)
		n = 0;
	put_clean(buf, size, &at, program, strlen(program));
	put_clean(buf, size, &at, ": ", 2);
	if (tenant) {
		put_clean(buf, size, &at, tenant, strlen(tenant));
		if (service) {
			put_clean(buf, size, &at, "/", 1);
			put_clean(buf, size, &at, service, strlen(service));
		}
		put_clean(buf, size, &at, ": ", 2);
	}
	put_clean(buf, size, &at, msg, (size_t)n < sizeof(msg) ? (size_t)n : sizeof(msg) - 1);
	buf[at] = '\0';
}

static void vlog(const char *tenant, const char *service, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX + 1];
	size_t len;
	int saved = errno; /* a caller may log, then report errno */

	vformat(line, LOG_LINE_MAX, tenant, service, fmt, ap);
	len = strlen(line);
	line[len++] = '\n';
	/* One write: whole lines, even from several processes at once. A
	 * failed write has nowhere else to go. */
	(void)!write(STDERR_FILENO, line, len);
	errno = saved;
}

void log_msg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(NULL, NULL, fmt, ap);
	va_end(ap);
}

void log_tenant(const char *tenant, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(tenant ? tenant : "?", NULL, fmt, ap);
	va_end(ap);
}

void log_service(const char *tenant, const char *service, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(tenant ? tenant : "?", service ? service : "?", fmt, ap);
	va_end(ap);
}

void log_format(char *buf, unsigned size, const char *tenant, const char *service, const char *fmt,
		...)
{
	va_list ap;

	if (!size)
		return;
	va_start(ap, fmt);
	vformat(buf, size, tenant, service, fmt, ap);
	va_end(ap);
}
