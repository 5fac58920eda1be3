/* libFuzzer harness for the session protocol's parsers: the request
 * (session_parse_request) and the later message ({"input":true})
 * (session_parse_message). Any crash, leak or hang ends the run, and so does
 * a broken promise of session.h: an accepted request with a value outside
 * its rules, or a refusal that is empty, not plain ASCII, or leaves
 * something half-parsed behind.
 *
 * Input: the bytes a client sent; like the server, the harness takes them up
 * to the first newline as the one line, and gives that line to both. */
#include "daemon/session.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_session: %s:%d: broken invariant: %s\n", __FILE__,   \
				__LINE__, #cond);                                                  \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static bool term_ok(const char *s)
{
	for (; *s; s++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-",
			    *s))
			return false;
	return true;
}

/* "ADDR PORT": one space, an address inet_pton takes, a port 1..65535. */
static bool remote_ok(const char *s)
{
	const char *sp = strchr(s, ' ');
	char addr[64];
	unsigned char bin[16];
	char *end;
	unsigned long port;

	if (!sp || strchr(sp + 1, ' ') || (size_t)(sp - s) >= sizeof(addr) || sp == s)
		return false;
	memcpy(addr, s, (size_t)(sp - s));
	addr[sp - s] = '\0';
	if (inet_pton(AF_INET, addr, bin) != 1 && inet_pton(AF_INET6, addr, bin) != 1)
		return false;
	if (sp[1] < '0' || sp[1] > '9')
		return false;
	port = strtoul(sp + 1, &end, 10);
	return *end == '\0' && port >= 1 && port <= 65535;
}

static void check_message(const struct ward_err *e)
{
	const char *end = memchr(e->msg, '\0', sizeof(e->msg));

	CHECK(end && end > e->msg);
	for (const char *p = e->msg; p < end; p++)
		CHECK(*p >= 0x20 && *p < 0x7f);
}

static void check_request(const char *line, size_t len)
{
	struct session_request req;
	struct ward_err err;

	memset(&req, 0xa5, sizeof(req));
	memset(&err, 0, sizeof(err));
	if (session_parse_request(line, len, &req, &err) == 0) {
		CHECK(len < SESSION_MAX_REQUEST);
		CHECK(req.rows <= SESSION_MAX_DIM && req.cols <= SESSION_MAX_DIM);
		CHECK(req.tty || (req.rows == 0 && req.cols == 0));
		CHECK(memchr(req.term, '\0', sizeof(req.term)));
		CHECK(memchr(req.remote, '\0', sizeof(req.remote)));
		CHECK(term_ok(req.term));
		CHECK(req.remote[0] == '\0' || remote_ok(req.remote));
		return;
	}
	check_message(&err);
	CHECK(!req.tty && !req.rows && !req.cols && !req.term[0] && !req.remote[0]);
}

static void check_later(const char *line, size_t len)
{
	struct ward_err err;

	memset(&err, 0, sizeof(err));
	if (session_parse_message(line, len, &err) == 0) {
		CHECK(len < SESSION_MAX_MESSAGE);
		return;
	}
	check_message(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t len = nl ? (size_t)(nl - data) : size;
	/* Exactly the line, as the server passes it: an over-read is caught. */
	char *line = malloc(len ? len : 1);

	if (!line)
		return 0;
	memcpy(line, data, len);
	check_request(line, len);
	check_later(line, len);
	free(line);
	return 0;
}
