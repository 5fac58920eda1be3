/* libFuzzer harness for the control-protocol request parser
 * (control_parse_request): any crash, leak or hang ends the run, and so does
 * a broken promise of control.h: an accepted request with a bad name or
 * value (an offboard without exactly one of archive and purge, an archive
 * path with "..", a display name with control characters...), or a refusal
 * whose message is empty or not plain ASCII.
 *
 * Input: the bytes a client sent; like the server, the harness takes them up
 * to the first newline as the one request line. */
#include "daemon/control.h"

#include "model/profile.h"

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

/* 1..CONTROL_DISPLAY_NAME_MAX characters, none of them a C0/C1 control
 * (the parser refuses more: bidi controls, line separators). */
static bool display_name_ok(const char *s, size_t size)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t chars = 0;

	if (!memchr(s, '\0', size) || !*s)
		return false;
	for (; *p; p++) {
		if (*p < 0x20 || *p == 0x7f || (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
			return false;
		chars += (*p & 0xc0) != 0x80;
	}
	return chars <= CONTROL_DISPLAY_NAME_MAX;
}

/* Absolute, no control byte, no "." or ".." component, not ending in "/". */
static bool archive_ok(const char *s, size_t size)
{
	size_t len;

	if (!memchr(s, '\0', size))
		return false;
	len = strlen(s);
	if (len < 2 || s[0] != '/' || s[len - 1] == '/')
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return false;
	for (const char *c = s + 1; c; c = strchr(c, '/') ? strchr(c, '/') + 1 : NULL) {
		size_t n = strcspn(c, "/");
		if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
	}
	return true;
}

static bool session_ok(const char *s, size_t size)
{
	size_t len;

	if (!memchr(s, '\0', size))
		return false;
	len = strlen(s);
	if (len < 1 || len > CONTROL_SESSION_ID_MAX)
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == len;
}

static void check_accepted(const struct control_request *r)
{
	CHECK(strcmp(control_cmd_to_string(r->cmd), "unknown") != 0);
	CHECK(control_cmd_right(r->cmd) != RIGHT_NONE);
	/* Only onboarding needs an admin. */
	CHECK((control_cmd_right(r->cmd) == RIGHT_ADMIN) ==
	      (r->cmd == CONTROL_ONBOARD || r->cmd == CONTROL_OFFBOARD));
	CHECK(name_field_ok(r->tenant, sizeof(r->tenant)));
	CHECK(name_field_ok(r->service, sizeof(r->service)));
	CHECK(name_field_ok(r->tmpl, sizeof(r->tmpl)));
	CHECK(r->service[0] == '\0' || r->tenant[0] != '\0');
	CHECK(r->lines >= 1 && r->lines <= 100000);
	/* Fields belong to their command. */
	if (r->cmd != CONTROL_ONBOARD)
		CHECK(!r->tmpl[0] && !r->display_name[0]);
	if (r->cmd != CONTROL_OFFBOARD)
		CHECK(!r->archive[0] && !r->purge);
	if (r->cmd != CONTROL_KICK)
		CHECK(!r->session[0]);
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
	case CONTROL_NET:
		CHECK(r->tenant[0] && !r->service[0]);
		break;
	case CONTROL_ONBOARD:
		CHECK(r->tenant[0] && r->tmpl[0] && !r->service[0]);
		CHECK(!r->display_name[0] ||
		      display_name_ok(r->display_name, sizeof(r->display_name)));
		break;
	case CONTROL_OFFBOARD:
		/* Exactly one of them: no data is lost by accident. */
		CHECK(r->tenant[0] && !r->service[0] && !r->archive[0] != !r->purge);
		CHECK(!r->archive[0] || archive_ok(r->archive, sizeof(r->archive)));
		break;
	case CONTROL_SESSIONS:
		CHECK(!r->service[0]);
		break;
	case CONTROL_KICK:
		CHECK(!r->tenant[0] && session_ok(r->session, sizeof(r->session)));
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
	      !r->tenant[0] && !r->service[0] && !r->tmpl[0] && !r->display_name[0] &&
	      !r->archive[0] && !r->purge && !r->session[0]);
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
