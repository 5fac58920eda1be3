/* wardd's own messages: one line each on stderr (the journal or the
 * console), "PROGRAM: [SUBJECT: ]MESSAGE". The one idiom for what the
 * daemon's modules have to say about themselves; what they tell a client
 * goes in a reply or the audit log, not here.
 *
 *   log_msg("removed %d leftover ward links", n)  wardd: removed 3 ...
 *   log_tenant(t, "firewall: %s", err.msg)         wardd: acme: firewall: ...
 *   log_service(t, s, "failed: %s", why)           wardd: acme/db: failed: ...
 *
 * A line is written with one write(2), so lines of the daemon and of its
 * helper processes do not interleave mid-line; control bytes from names or
 * messages (which a tenant's profile or files can feed) are shown as \xNN,
 * so nobody forges a line or a terminal sequence through them. Lines longer
 * than LOG_LINE_MAX are cut. */
#pragma once

#define LOG_LINE_MAX 2048

/* What starts each line: "wardd" unless a program or helper process (say
 * "wardd-nft") names itself. name must outlive its use (a literal). */
void log_set_program(const char *name);

void log_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_tenant(const char *tenant, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_service(const char *tenant, const char *service, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The line log_* would write, without the newline, into buf (size bytes,
 * at most LOG_LINE_MAX are used); for tests. */
void log_format(char *buf, unsigned size, const char *tenant, const char *service, const char *fmt,
		...) __attribute__((format(printf, 5, 6)));
