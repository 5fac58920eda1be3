/* The control socket's requests: one JSON object a line, parsed. Pure: no
 * I/O; fuzzed (tests/fuzz/fuzz_control.c). Names are validated here (no
 * "/" or ".."), and so are the display names shown on terminals. */
#include "daemon/control-internal.h"

#include <string.h>

#include "basic/text.h"
#include "model/names.h"
#include "model/profile.h"
#include "model/protocol.h"

enum {
	K_TENANT = 1,
	K_SERVICE = 2,
	K_LINES = 4,
	K_FOLLOW = 8,
	K_TEMPLATE = 16,
	K_DISPLAY_NAME = 32,
	K_ARCHIVE = 64,
	K_PURGE = 128,
	K_SESSION = 256,
};

static const struct cmd_spec {
	const char *name;
	enum control_cmd cmd;
	unsigned allowed; /* keys besides "cmd" */
	unsigned required;
} cmd_specs[] = {
    {"status", CONTROL_STATUS, K_TENANT, 0},
    {"start", CONTROL_START, K_TENANT | K_SERVICE, K_TENANT},
    {"stop", CONTROL_STOP, K_TENANT | K_SERVICE, K_TENANT},
    {"restart", CONTROL_RESTART, K_TENANT | K_SERVICE, K_TENANT},
    {"reset", CONTROL_RESET, K_TENANT | K_SERVICE, K_TENANT},
    {"reload", CONTROL_RELOAD, 0, 0},
    {"logs", CONTROL_LOGS, K_TENANT | K_SERVICE | K_LINES | K_FOLLOW, K_TENANT | K_SERVICE},
    {"net", CONTROL_NET, K_TENANT, K_TENANT},
    {"onboard", CONTROL_ONBOARD, K_TENANT | K_TEMPLATE | K_DISPLAY_NAME, K_TENANT | K_TEMPLATE},
    {"offboard", CONTROL_OFFBOARD, K_TENANT | K_ARCHIVE | K_PURGE, K_TENANT},
    {"sessions", CONTROL_SESSIONS, K_TENANT, 0},
    {"kick", CONTROL_KICK, K_SESSION, K_SESSION},
};

const char *control_cmd_to_string(enum control_cmd c)
{
	for (size_t i = 0; i < ARRAY_SIZE(cmd_specs); i++)
		if (cmd_specs[i].cmd == c)
			return cmd_specs[i].name;
	return "unknown";
}

enum control_right control_cmd_right(enum control_cmd c)
{
	switch (c) {
	case CONTROL_STATUS:
	case CONTROL_LOGS:
	case CONTROL_NET:
	case CONTROL_SESSIONS:
		return RIGHT_READ;
	case CONTROL_START:
	case CONTROL_STOP:
	case CONTROL_RESTART:
	case CONTROL_RESET:
	case CONTROL_RELOAD:
	case CONTROL_KICK:
		return RIGHT_OPERATE;
	case CONTROL_ONBOARD:
	case CONTROL_OFFBOARD:
		return RIGHT_ADMIN;
	}
	return RIGHT_ADMIN; /* a command nobody classified needs the most */
}

static unsigned key_bit(const char *key)
{
	if (strcmp(key, "tenant") == 0)
		return K_TENANT;
	if (strcmp(key, "service") == 0)
		return K_SERVICE;
	if (strcmp(key, "lines") == 0)
		return K_LINES;
	if (strcmp(key, "follow") == 0)
		return K_FOLLOW;
	if (strcmp(key, "template") == 0)
		return K_TEMPLATE;
	if (strcmp(key, "display_name") == 0)
		return K_DISPLAY_NAME;
	if (strcmp(key, "archive") == 0)
		return K_ARCHIVE;
	if (strcmp(key, "purge") == 0)
		return K_PURGE;
	if (strcmp(key, "session") == 0)
		return K_SESSION;
	return 0;
}

static int parse_name(json_t *v, const char *what, char *out, size_t size, struct ward_err *err)
{
	const char *s;
	size_t len;

	if (!json_is_string(v))
		return ward_err_set(err, 0, "%s: must be a string", what);
	s = json_string_value(v);
	len = json_string_length(v);
	if (len != strlen(s) || !ward_name_valid(s) || len >= size) {
		char q[QUOTE_MAX * 4 + 8];

		return ward_err_set(err, 0, "%s: invalid name %s: must match [a-z][a-z0-9-]{0,23}",
				    what, ward_quote(s, len, QUOTE_MAX, q, sizeof(q)));
	}
	memcpy(out, s, len + 1);
	return 0;
}

static int parse_display_name(json_t *v, char *out, size_t size, struct ward_err *err)
{
	const char *s, *why;
	size_t len;

	if (!json_is_string(v))
		return ward_err_set(err, 0, "display_name: must be a string");
	s = json_string_value(v);
	len = json_string_length(v);
	if (len != strlen(s))
		return ward_err_set(err, 0, "display_name: must not contain NUL characters");
	/* The one rule (model/names): valid UTF-8, nothing that would let a
	 * name rewrite what a terminal or log shows around it (C0, DEL, C1,
	 * line and paragraph separators, bidi controls), 1..128 characters. */
	if (display_name_check(s, len, NULL, &why) != DISPLAY_NAME_OK)
		return ward_err_set(err, 0, "display_name: %s", why);
	if (len >= size) /* cannot be: 128 characters of 4 bytes fit */
		return ward_err_set(err, 0, "display_name: must be 1 to %d characters long",
				    DISPLAY_NAME_MAX);
	memcpy(out, s, len + 1);
	return 0;
}

/* An absolute path naming a file, with no "." or ".." component: what it
 * names does not depend on how it is read. */
static int parse_archive(json_t *v, char *out, size_t size, struct ward_err *err)
{
	const char *s;
	size_t len;

	if (!json_is_string(v))
		return ward_err_set(err, 0, "archive: must be a string");
	s = json_string_value(v);
	len = json_string_length(v);
	if (len != strlen(s))
		return ward_err_set(err, 0, "archive: must not contain NUL characters");
	if (len >= size)
		return ward_err_set(err, 0, "archive: longer than %zu bytes", size - 1);
	if (s[0] != '/')
		return ward_err_set(err, 0, "archive: must be an absolute path");
	if (s[len - 1] == '/')
		return ward_err_set(err, 0, "archive: must name a file, not end in \"/\"");
	if (text_has_control(s, len))
		return ward_err_set(err, 0, "archive: must not contain control characters");
	for (const char *c = s + 1; c; c = strchr(c, '/') ? strchr(c, '/') + 1 : NULL) {
		size_t n = strcspn(c, "/");

		if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return ward_err_set(err, 0,
					    "archive: must not contain \".\" or \"..\" components");
	}
	memcpy(out, s, len + 1);
	return 0;
}

static bool session_id_valid(const char *s, size_t len)
{
	if (len < 1 || len > CONTROL_SESSION_ID_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

static int parse_session(json_t *v, char *out, size_t size, struct ward_err *err)
{
	const char *s;
	size_t len;

	if (!json_is_string(v))
		return ward_err_set(err, 0, "session: must be a string");
	s = json_string_value(v);
	len = json_string_length(v);
	if (len != strlen(s) || !session_id_valid(s, len) || len >= size) {
		char q[QUOTE_MAX * 4 + 8];

		return ward_err_set(err, 0, "session: invalid id %s: must match [a-z0-9-]{1,%d}",
				    ward_quote(s, len, QUOTE_MAX, q, sizeof(q)),
				    CONTROL_SESSION_ID_MAX);
	}
	memcpy(out, s, len + 1);
	return 0;
}

/* The command the request names (its "cmd"), from cmd_specs. */
static const struct cmd_spec *parse_cmd(json_t *root, struct ward_err *err)
{
	char q[QUOTE_MAX * 4 + 8]; /* for ward_quote() */
	json_t *v = json_object_get(root, "cmd");

	if (!v) {
		ward_err_set(err, 0, "missing \"cmd\"");
		return NULL;
	}
	if (!json_is_string(v)) {
		ward_err_set(err, 0, "cmd: must be a string");
		return NULL;
	}
	for (size_t i = 0; i < ARRAY_SIZE(cmd_specs); i++)
		if (json_string_length(v) == strlen(cmd_specs[i].name) &&
		    strcmp(json_string_value(v), cmd_specs[i].name) == 0)
			return &cmd_specs[i];
	ward_err_set(
	    err, 0, "unknown command %s",
	    ward_quote(json_string_value(v), json_string_length(v), QUOTE_MAX, q, sizeof(q)));
	return NULL;
}

static int parse_bool(json_t *v, const char *what, bool *out, struct ward_err *err)
{
	if (!json_is_boolean(v))
		return ward_err_set(err, 0, "%s: must be true or false", what);
	*out = json_is_true(v);
	return 0;
}

static int parse_lines(json_t *v, unsigned *out, struct ward_err *err)
{
	if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	    json_integer_value(v) > CONTROL_MAX_LINES)
		return ward_err_set(err, 0, "lines: must be an integer from 1 to %d",
				    CONTROL_MAX_LINES);
	*out = (unsigned)json_integer_value(v);
	return 0;
}

/* The value of one key the command allows (k, its bit), into req. */
static int parse_key(unsigned k, json_t *v, struct control_request *req, struct ward_err *err)
{
	switch (k) {
	case K_TENANT:
		return parse_name(v, "tenant", req->tenant, sizeof(req->tenant), err);
	case K_SERVICE:
		return parse_name(v, "service", req->service, sizeof(req->service), err);
	case K_LINES:
		return parse_lines(v, &req->lines, err);
	case K_FOLLOW:
		return parse_bool(v, "follow", &req->follow, err);
	case K_TEMPLATE:
		return parse_name(v, "template", req->tmpl, sizeof(req->tmpl), err);
	case K_DISPLAY_NAME:
		return parse_display_name(v, req->display_name, sizeof(req->display_name), err);
	case K_ARCHIVE:
		return parse_archive(v, req->archive, sizeof(req->archive), err);
	case K_PURGE:
		return parse_bool(v, "purge", &req->purge, err);
	case K_SESSION:
		return parse_session(v, req->session, sizeof(req->session), err);
	}
	return 0;
}

/* What the keys given (seen) must be together for the command. */
static int check_keys(const struct cmd_spec *spec, unsigned seen, const struct control_request *req,
		      struct ward_err *err)
{
	if ((seen & K_SERVICE) && !(seen & K_TENANT))
		return ward_err_set(err, 0, "service given without tenant");
	if ((spec->required & K_TENANT) && !(seen & K_TENANT))
		return ward_err_set(err, 0, "missing \"tenant\"");
	if ((spec->required & K_SERVICE) && !(seen & K_SERVICE))
		return ward_err_set(err, 0, "missing \"service\"");
	if ((spec->required & K_TEMPLATE) && !(seen & K_TEMPLATE))
		return ward_err_set(err, 0, "missing \"template\"");
	if ((spec->required & K_SESSION) && !(seen & K_SESSION))
		return ward_err_set(err, 0, "missing \"session\"");
	if (spec->cmd == CONTROL_OFFBOARD && (seen & K_ARCHIVE) && req->purge)
		return ward_err_set(err, 0, "archive and purge exclude each other");
	if (spec->cmd == CONTROL_OFFBOARD && !(seen & K_ARCHIVE) && !req->purge)
		return ward_err_set(err, 0, OFFBOARD_NEEDS_ARCHIVE_OR_PURGE);
	return 0;
}

static int parse_object(json_t *root, struct control_request *req, struct ward_err *err)
{
	char q[QUOTE_MAX * 4 + 8]; /* for ward_quote() */
	const struct cmd_spec *spec;
	unsigned seen = 0;
	const char *key;
	json_t *v;

	if (!json_is_object(root))
		return ward_err_set(err, 0, "request must be a JSON object");
	spec = parse_cmd(root, err);
	if (!spec)
		return -1;
	req->cmd = spec->cmd;

	json_object_foreach(root, key, v)
	{
		unsigned k = key_bit(key);

		if (strcmp(key, "cmd") == 0)
			continue;
		if (!(k & spec->allowed))
			return ward_err_set(err, 0, "unknown key %s for %s",
					    ward_quote(key, strlen(key), QUOTE_MAX, q, sizeof(q)),
					    spec->name);
		if (parse_key(k, v, req, err) < 0)
			return -1;
		seen |= k;
	}
	return check_keys(spec, seen, req, err);
}

int control_parse_request(const char *line, size_t len, struct control_request *req,
			  struct ward_err *err)
{
	json_error_t jerr;
	json_t *root;
	int r;

	*req = (struct control_request){.lines = CONTROL_DEFAULT_LINES};
	if (len >= CONTROL_MAX_REQUEST)
		return ward_err_set(err, 0, "request longer than %d bytes (newline included)",
				    CONTROL_MAX_REQUEST);
	if (!line)
		line = "";
	if (memchr(line, '\0', len))
		return ward_err_set(err, 0, "NUL byte in request");
	root = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (!root) {
		ward_err_set(err, 0, "invalid JSON at byte %d: %s", jerr.position, jerr.text);
		ward_ascii_clean(err->msg);
		return -1;
	}
	r = parse_object(root, req, err);
	json_decref(root);
	if (r < 0) {
		*req = (struct control_request){.lines = CONTROL_DEFAULT_LINES};
		ward_ascii_clean(err->msg);
	}
	return r;
}
