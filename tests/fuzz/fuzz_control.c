/* libFuzzer harness for the control-protocol request parser
 * (control_parse_request): any crash, leak or hang ends the run, and so does
 * a broken promise of control.h: an accepted request with a bad name or
 * value, or a refusal whose message is empty or not plain ASCII.
 *
 * Input: the bytes a client sent; like the server, the harness takes them up
 * to the first newline as the one request line. */
#include "ward/control.h"

#include "ward/profile.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz_control: %s:%d: broken invariant: %s\n", __FILE__,   \
				__LINE__, #cond);                                                  \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static bool name_field_ok(const char *s, size_t size)
{
	return memchr(s, '\0', size) && (s[0] == '\0' || ward_name_valid(s));
}

static void check_accepted(const struct control_request *r)
{
	CHECK(strcmp(control_cmd_to_string(r->cmd), "unknown") != 0);
	CHECK(control_cmd_right(r->cmd) != RIGHT_ADMIN && control_cmd_right(r->cmd) != RIGHT_NONE);
	CHECK(name_field_ok(r->tenant, sizeof(r->tenant)));
	CHECK(name_field_ok(r->service, sizeof(r->service)));
	CHECK(r->service[0] == '\0' || r->tenant[0] != '\0');
	CHECK(r->lines >= 1 && r->lines <= 100000);
	switch (r->cmd) {
	case CONTROL_START:
	case CONTROL_STOP:
	case CONTROL_RESTART:
	case CONTROL_RESET:
		CHECK(r->tenant[0]);
		break;
	case CONTROL_LOGS:
		CHECK(r->tenant[0] && r->service[0]);
		break;
	case CONTROL_RELOAD:
		CHECK(!r->tenant[0]);
		break;
	case CONTROL_STATUS:
		CHECK(!r->service[0]);
		break;
	}
	if (r->cmd != CONTROL_LOGS)
		CHECK(!r->follow && r->lines == 50);
}

static void check_refused(const struct control_request *r, const struct ward_err *e)
{
	const struct control_request fresh = {.lines = 50};
	const char *end = memchr(e->msg, '\0', sizeof(e->msg));

	CHECK(end && end > e->msg);
	for (const char *p = e->msg; p < end; p++)
		CHECK(*p >= 0x20 && *p < 0x7f);
	/* A refused request leaves nothing half-parsed behind. */
	CHECK(r->cmd == fresh.cmd && r->lines == fresh.lines && r->follow == fresh.follow &&
	      !r->tenant[0] && !r->service[0]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t len = nl ? (size_t)(nl - data) : size;
	/* Exactly the line, as the server passes it: an over-read is caught. */
	char *line = malloc(len ? len : 1);
	struct control_request req;
	struct ward_err err;

	if (!line)
		return 0;
	memcpy(line, data, len);
	memset(&req, 0xa5, sizeof(req));
	memset(&err, 0, sizeof(err));
	if (control_parse_request(line, len, &req, &err) == 0)
		check_accepted(&req);
	else
		check_refused(&req, &err);
	free(line);
	return 0;
}
