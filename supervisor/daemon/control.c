/* The control socket: one JSON request a line, the peer checked with
 * SO_PEERCRED/SO_PEERGROUPS, authorized, dispatched to the supervisor, and
 * every request audited with its verdict. Nothing here blocks the loop. */
#include "daemon/control.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "sandbox/caps.h"
#include "basic/cleanup.h"
#include "daemon/logs.h"
#include "daemon/onboard.h"
#include "model/profile.h"
#include "daemon/session.h"
#include "basic/listener.h"
#include "basic/outbuf.h"

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define CONTROL_MAX_CLIENTS 2000
/* The last CONTROL_ADMIN_RESERVE of them are for root and the admin group
 * only, and nobody but root holds more than CONTROL_MAX_PER_UID: a viewer
 * (or any member of the socket's group) cannot take the socket from the
 * people who would stop it. */
#define CONTROL_ADMIN_RESERVE 200
#define CONTROL_MAX_PER_UID   64
#define CONTROL_BACKLOG       256
/* A client is dropped after this long without a request (a follower: not
 * counted), or with output it has not taken any of (anyone, followers
 * too: a follower that does not drain is dropped). */
#define CONTROL_IDLE_MS 10000
/* Output is counted as it is queued, after JSON escaping (a control byte
 * is six), the bytes being queued included: unsent bytes of one client
 * (past this it is too slow and dropped), and the buffers of all of them.
 * Followers and streamed replies of clients other than root and the
 * admin group may hold CONTROL_STREAM_BUDGET, their replies
 * CONTROL_UNPRIV_BUDGET; root and admins the rest of CONTROL_OUTPUT_BUDGET. */
#define CONTROL_MAX_PENDING    (4u << 20)
#define CONTROL_OUTPUT_BUDGET  (64u << 20)
#define CONTROL_UNPRIV_BUDGET  (48u << 20)
#define CONTROL_STREAM_BUDGET  (32u << 20)
#define CONTROL_LOGS_MAX_BYTES (4u << 20)
/* A logs reply is streamed: STREAM_CHUNK bytes of the file are read and
 * escaped whenever less than STREAM_LOW is waiting to be sent. */
#define STREAM_CHUNK          16384
#define STREAM_LOW            65536
#define STREAM_ESC_MAX        ((STREAM_CHUNK + 4) * 6 + 8)
#define STREAM_RETRY_MS       50
#define REFUSED_WARN_MS       10000
#define CONTROL_MAX_LINES     100000
#define CONTROL_DEFAULT_LINES 50
#define INPUT_MIN_CAP         1024
/* Per turn, so one busy client cannot starve the others. */
#define ACCEPTS_PER_TURN 64
#define READS_PER_TURN   16
/* How much of a value given in a request an error message or audit record
 * repeats. */
#define QUOTE_MAX       40
#define AUDIT_VALUE_MAX 64

/* ======================================================================
 * Requests: pure parsing
 * ====================================================================== */

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

static size_t utf8_seq_len(const unsigned char *s, size_t n);

/* The code point of the (valid, as jansson decoded it) UTF-8 sequence at
 * s, and its length. */
static uint32_t utf8_decode(const unsigned char *s, size_t *len)
{
	if (s[0] < 0x80)
		return *len = 1, s[0];
	if (s[0] < 0xe0)
		return *len = 2, (uint32_t)(s[0] & 0x1f) << 6 | (s[1] & 0x3f);
	if (s[0] < 0xf0)
		return *len = 3,
		       (uint32_t)(s[0] & 0x0f) << 12 | (uint32_t)(s[1] & 0x3f) << 6 | (s[2] & 0x3f);
	return *len = 4, (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3f) << 12 |
			     (uint32_t)(s[2] & 0x3f) << 6 | (s[3] & 0x3f);
}

/* Characters that would let a name rewrite what a terminal or log shows
 * around it: C0, DEL, C1, line and paragraph separators, bidi controls. */
static bool display_char_ok(uint32_t cp)
{
	return !(cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x200e || cp == 0x200f ||
		 cp == 0x2028 || cp == 0x2029 || (cp >= 0x202a && cp <= 0x202e) ||
		 (cp >= 0x2066 && cp <= 0x2069) || cp == 0xfeff);
}

static int parse_display_name(json_t *v, char *out, size_t size, struct ward_err *err)
{
	const char *s;
	size_t len, chars = 0;

	if (!json_is_string(v))
		return ward_err_set(err, 0, "display_name: must be a string");
	s = json_string_value(v);
	len = json_string_length(v);
	if (len != strlen(s))
		return ward_err_set(err, 0, "display_name: must not contain NUL characters");
	for (size_t i = 0, n; i < len; i += n) {
		if (!utf8_seq_len((const unsigned char *)s + i, len - i))
			return ward_err_set(err, 0, "display_name: must be valid UTF-8");
		if (!display_char_ok(utf8_decode((const unsigned char *)s + i, &n)))
			return ward_err_set(err, 0,
					    "display_name: must not contain control characters");
		chars++;
	}
	if (chars < 1 || chars > CONTROL_DISPLAY_NAME_MAX || len >= size)
		return ward_err_set(err, 0, "display_name: must be 1 to %d characters long",
				    CONTROL_DISPLAY_NAME_MAX);
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
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
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

static int parse_object(json_t *root, struct control_request *req, struct ward_err *err)
{
	char q[QUOTE_MAX * 4 + 8]; /* for ward_quote() */
	const struct cmd_spec *spec = NULL;
	unsigned seen = 0;
	const char *key;
	json_t *v;

	if (!json_is_object(root))
		return ward_err_set(err, 0, "request must be a JSON object");
	v = json_object_get(root, "cmd");
	if (!v)
		return ward_err_set(err, 0, "missing \"cmd\"");
	if (!json_is_string(v))
		return ward_err_set(err, 0, "cmd: must be a string");
	for (size_t i = 0; i < ARRAY_SIZE(cmd_specs); i++)
		if (json_string_length(v) == strlen(cmd_specs[i].name) &&
		    strcmp(json_string_value(v), cmd_specs[i].name) == 0)
			spec = &cmd_specs[i];
	if (!spec)
		return ward_err_set(err, 0, "unknown command %s",
				    ward_quote(json_string_value(v), json_string_length(v),
					       QUOTE_MAX, q, sizeof(q)));
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
		switch (k) {
		case K_TENANT:
			if (parse_name(v, "tenant", req->tenant, sizeof(req->tenant), err) < 0)
				return -1;
			break;
		case K_SERVICE:
			if (parse_name(v, "service", req->service, sizeof(req->service), err) < 0)
				return -1;
			break;
		case K_LINES:
			if (!json_is_integer(v) || json_integer_value(v) < 1 ||
			    json_integer_value(v) > CONTROL_MAX_LINES)
				return ward_err_set(err, 0,
						    "lines: must be an integer from 1 to %d",
						    CONTROL_MAX_LINES);
			req->lines = (unsigned)json_integer_value(v);
			break;
		case K_FOLLOW:
			if (!json_is_boolean(v))
				return ward_err_set(err, 0, "follow: must be true or false");
			req->follow = json_is_true(v);
			break;
		case K_TEMPLATE:
			if (parse_name(v, "template", req->tmpl, sizeof(req->tmpl), err) < 0)
				return -1;
			break;
		case K_DISPLAY_NAME:
			if (parse_display_name(v, req->display_name, sizeof(req->display_name),
					       err) < 0)
				return -1;
			break;
		case K_ARCHIVE:
			if (parse_archive(v, req->archive, sizeof(req->archive), err) < 0)
				return -1;
			break;
		case K_PURGE:
			if (!json_is_boolean(v))
				return ward_err_set(err, 0, "purge: must be true or false");
			req->purge = json_is_true(v);
			break;
		case K_SESSION:
			if (parse_session(v, req->session, sizeof(req->session), err) < 0)
				return -1;
			break;
		}
		seen |= k;
	}
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

/* ======================================================================
 * Authorization
 * ====================================================================== */

static bool peer_in_group(const struct control_gids *g, int which, gid_t gid, const gid_t *groups,
			  size_t n_groups)
{
	if (!g->known[which])
		return false; /* a group that cannot be found grants nothing */
	if (g->gid[which] == gid)
		return true;
	for (size_t i = 0; i < n_groups; i++)
		if (groups[i] == g->gid[which])
			return true;
	return false;
}

void control_resolve_groups(const struct ward_config *cfg, struct control_gids *g)
{
	const char *names[] = {cfg->admin_group, cfg->operator_group, cfg->viewer_group};

	for (int i = 0; i < 3; i++)
		g->known[i] = caps_group_gid(names[i], &g->gid[i]);
}

enum control_right control_gids_right(const struct control_gids *g, uid_t uid, gid_t gid,
				      const gid_t *groups, size_t n_groups)
{
	if (uid == 0)
		return RIGHT_ADMIN;
	if (peer_in_group(g, CONTROL_GID_ADMIN, gid, groups, n_groups))
		return RIGHT_ADMIN;
	if (peer_in_group(g, CONTROL_GID_OPERATOR, gid, groups, n_groups))
		return RIGHT_OPERATE;
	if (peer_in_group(g, CONTROL_GID_VIEWER, gid, groups, n_groups))
		return RIGHT_READ;
	return RIGHT_NONE;
}

enum control_right control_peer_right(const struct ward_config *cfg, uid_t uid, gid_t gid,
				      const gid_t *groups, size_t n_groups)
{
	struct control_gids g;

	control_resolve_groups(cfg, &g);
	return control_gids_right(&g, uid, gid, groups, n_groups);
}

/* ======================================================================
 * JSON strings from arbitrary bytes
 * ====================================================================== */

/* Length of the valid UTF-8 sequence at s (RFC 3629: no overlongs, no
 * surrogates, nothing past U+10FFFF), or 0 if there is none. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	uint32_t cp;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, cp = c & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* A JSON string of any bytes: invalid UTF-8 becomes U+FFFD. */
static json_t *json_string_lossy(const char *s, size_t len)
{
	_cleanup_free_ char *fixed = NULL;
	json_t *j = json_stringn(s ? s : "", s ? len : 0);
	size_t o = 0;

	if (j || !s)
		return j;
	if (len > (SIZE_MAX - 1) / 3)
		return NULL;
	fixed = malloc(len * 3 + 1);
	if (!fixed)
		return NULL;
	for (size_t i = 0; i < len;) {
		size_t n = utf8_seq_len((const unsigned char *)s + i, len - i);

		if (n) {
			memcpy(fixed + o, s + i, n);
			o += n;
			i += n;
		} else {
			static const char replacement[3] = {'\xef', '\xbf', '\xbd'}; /* U+FFFD */

			memcpy(fixed + o, replacement, sizeof(replacement));
			o += sizeof(replacement);
			i++;
		}
	}
	/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): fixed is _cleanup_free_ */
	return json_stringn(fixed, o);
}

/* Whether the n (< 4) bytes at s can begin a UTF-8 character that the
 * next bytes complete. */
static bool utf8_incomplete(const unsigned char *s, size_t n)
{
	size_t want = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : 2;

	if (s[0] < 0xc2 || s[0] > 0xf4 || n >= want)
		return false;
	for (size_t i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return false;
	return true;
}

/* The body of a JSON string (no quotes) for len bytes of any kind, as
 * json_string_lossy and json_dumps would write it: invalid UTF-8 becomes
 * U+FFFD, '"', '\\' and control characters are escaped. out has room for
 * 6 * len bytes. Unless final, a character cut at the end is left: *used
 * says how many bytes were taken. Returns the bytes written. */
static size_t json_escape_lossy(const char *in, size_t len, bool final, char *out, size_t *used)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)in;
	size_t o = 0, i = 0;

	while (i < len) {
		unsigned char ch = u[i];

		if (ch >= 0x80) {
			size_t n = utf8_seq_len(u + i, len - i);

			if (!n && !final && len - i < 4 && utf8_incomplete(u + i, len - i))
				break;
			if (!n) {
				out[o++] = (char)0xef; /* U+FFFD */
				out[o++] = (char)0xbf;
				out[o++] = (char)0xbd;
				i++;
				continue;
			}
			memcpy(out + o, u + i, n);
			o += n;
			i += n;
			continue;
		}
		i++;
		if (ch >= 0x20 && ch != '"' && ch != '\\') {
			out[o++] = (char)ch;
			continue;
		}
		out[o++] = '\\';
		switch (ch) {
		case '"':
		case '\\':
			out[o++] = (char)ch;
			break;
		case '\b':
			out[o++] = 'b';
			break;
		case '\f':
			out[o++] = 'f';
			break;
		case '\n':
			out[o++] = 'n';
			break;
		case '\r':
			out[o++] = 'r';
			break;
		case '\t':
			out[o++] = 't';
			break;
		default:
			out[o++] = 'u';
			out[o++] = '0';
			out[o++] = '0';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	*used = i;
	return o;
}

/* ======================================================================
 * The server
 * ====================================================================== */

/* Who is on the other end, as the kernel said when it connected. */
struct peer_info {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	char user[64];
};

struct client {
	struct control *ctl;
	struct client *prev, *next;
	int fd;
	uint32_t events; /* what the loop watches for now */
	uint64_t id;     /* never reused: a deferred reply finds its client by it */

	struct peer_info peer;
	enum control_right right;

	char *in; /* a partial request line, at most CONTROL_MAX_REQUEST */
	size_t in_len, in_cap, in_scanned;
	struct outbuf out; /* replies not yet taken by the peer */
	struct loop_timer *idle;

	bool following;
	char follow_tenant[32], follow_service[32];
	/* Root or the admin group: the reserved connections and output. */
	bool privileged;
	/* A logs reply being streamed: the rest of the tail, the bytes of a
	 * UTF-8 character cut at a chunk's end, and (following) the output
	 * that came meanwhile, queued once the reply is complete. Requests
	 * wait unread meanwhile. */
	struct log_reader *stream;
	char carry[4];
	size_t n_carry;
	struct outbuf held;
	struct loop_timer *stream_retry;
	bool read_closed;        /* no more requests: EOF, or a line too long */
	bool close_when_drained; /* ... and nothing more to say after the replies */
	bool busy;               /* its event callback is running */
	bool dead;               /* dropped while busy: freed when the callback ends */
	/* A deferred reply (offboard) is due, or the name service has not
	 * said who the peer is yet (lookup): its next requests wait unread,
	 * and no idle timeout runs. */
	bool waiting;
	struct userdb_query *lookup;
};

/* A request whose reply comes later. Outlives its client (the audit record
 * is written either way) and, orphaned (ctl NULL), the control socket. */
struct pending {
	struct control *ctl;
	struct pending *prev, *next;
	uint64_t client_id;
	struct peer_info peer;
	struct control_request req;
};

struct control {
	const struct ward_config *cfg;
	struct loop *loop;
	struct supervisor *sup;
	struct audit *audit;
	struct userdb *udb;
	struct listener *listener;
	struct client *clients;
	size_t n_clients;
	uint64_t warned_at; /* the last "refusing connections" message */
	/* Output buffers' bytes: every client's, and those of clients not
	 * privileged. */
	size_t out_total, out_unpriv;
	char *scratch; /* STREAM_ESC_MAX bytes, for escaping a chunk */
	uint64_t idle_ms;
	uint64_t next_id;
	struct onboarding *ob;
	struct session_server *ss;
	struct pending *pendings;
	/* The configured groups' gids, looked up once in control_new: never
	 * per connection on the loop (a hung sssd or LDAP would stall every
	 * tenant's supervision). */
	struct control_gids gids;
};

/* ---- output memory ---- */

/* What is queued: a reply; a follower's output or a piece of a streamed
 * reply; a short error line (outside the budgets, so that a refusal is
 * always said). */
enum qkind { Q_REPLY, Q_STREAM, Q_ERROR };

/* Whether c may grow its buffers by growth bytes: the budget of its kind
 * of output and of its class. Counted before anything is allocated. */
static bool budget_admits(struct client *c, size_t growth, enum qkind kind)
{
	struct control *ctl = c->ctl;

	if (growth == 0 || kind == Q_ERROR)
		return true;
	if (growth > CONTROL_OUTPUT_BUDGET || ctl->out_total > CONTROL_OUTPUT_BUDGET - growth)
		return false;
	if (c->privileged)
		return true;
	return ctl->out_unpriv + growth <=
	       (kind == Q_STREAM ? CONTROL_STREAM_BUDGET : CONTROL_UNPRIV_BUDGET);
}

static void client_free(struct client *c)
{
	struct control *ctl = c->ctl;

	if (c->prev)
		c->prev->next = c->next;
	else
		ctl->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	ctl->n_clients--;
	userdb_cancel(ctl->udb, c->lookup);
	loop_del_fd(ctl->loop, c->fd);
	close(c->fd);
	loop_timer_cancel(ctl->loop, c->idle);
	loop_timer_cancel(ctl->loop, c->stream_retry);
	log_reader_close(c->stream);
	free(c->in);
	outbuf_release(&c->out);
	outbuf_release(&c->held);
	free(c);
}

/* Drops a client now, or when its own callback ends if it is running. */
static void client_drop(struct client *c)
{
	if (c->busy) {
		c->dead = true;
		c->following = false;
		return;
	}
	client_free(c);
}

static size_t client_pending(const struct client *c)
{
	return outbuf_pending(&c->out);
}

static void on_stream_retry(struct loop *l, void *ud);

/* What the loop watches for c now. A streamed reply always has a way on:
 * its pending bytes (EPOLLOUT), or a timer (a flush sent everything, or
 * the budget was short). */
static void client_watch(struct client *c)
{
	uint32_t want = 0;

	/* (Out of memory for the timer: its idle clock, which runs while it
	 * streams, ends it.) */
	if (c->stream && !client_pending(c) && !c->stream_retry)
		c->stream_retry = loop_timer_add(c->ctl->loop, 0, on_stream_retry, c);
	if (!c->read_closed && !c->waiting && !c->stream)
		want |= EPOLLIN;
	if (client_pending(c))
		want |= EPOLLOUT;
	if (want != c->events && loop_mod_fd(c->ctl->loop, c->fd, want) == 0)
		c->events = want;
}

static void client_arm_idle(struct client *c);

/* Writes what it can without blocking. -1: the client is gone (dropped). */
static int client_flush(struct client *c)
{
	size_t moved = 0;

	if (outbuf_flush(&c->out, c->fd, NULL, 0, &moved) < 0) {
		client_drop(c);
		return -1;
	}
	/* A big reply does not keep its buffer for the life of the client. */
	if (!client_pending(c) && c->out.cap > 65536)
		outbuf_release(&c->out);
	/* Taking its output counts as activity; a follower with nothing left
	 * to take has no clock. */
	if (moved)
		client_arm_idle(c);
	return 0;
}

/* Queues data (a whole reply line, or a piece of a streamed one) behind
 * what is pending. -1: dropped (too slow, or over the budget). */
static int client_queue(struct client *c, const char *data, size_t len, enum qkind kind)
{
	size_t cap;

	if (c->dead)
		return -1;
	/* The new bytes count: one reply cannot take a client past the cap. */
	if (len > CONTROL_MAX_PENDING ||
	    client_pending(c) + c->held.len > CONTROL_MAX_PENDING - len) {
		client_drop(c); /* too slow: it would make us hold everything */
		return -1;
	}
	if (!client_pending(c)) {
		ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			client_drop(c);
			return -1;
		}
		if (n > 0) {
			data += n;
			len -= (size_t)n;
		}
		outbuf_clear(&c->out);
	}
	if (!len)
		return 0;
	/* Make room at the tail by moving what is pending to the front, only
	 * when the tail is too short: a follower's backlog is not copied for
	 * every chunk. */
	outbuf_make_room(&c->out, len);
	cap = outbuf_cap_for(c->out.cap, c->out.len, len);
	if (cap != c->out.cap && (cap == SIZE_MAX || !budget_admits(c, cap - c->out.cap, kind) ||
				  outbuf_resize(&c->out, cap) < 0)) {
		client_drop(c);
		return -1;
	}
	if (!c->out.data) { /* cannot be: outbuf_cap_for gave room */
		client_drop(c);
		return -1;
	}
	outbuf_put(&c->out, data, len);
	if (!c->busy)
		client_watch(c);
	if (!c->idle)
		client_arm_idle(c); /* a follower's clock starts */
	return 0;
}

/* One reply line: compact JSON and "\n". Takes the reference. */
static char *json_line(json_t *obj, size_t *len)
{
	char *s;
	size_t n;

	if (!obj)
		return NULL;
	s = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	if (!s)
		return NULL;
	n = strlen(s);
	{
		char *p = realloc(s, n + 2);

		if (!p) {
			free(s);
			return NULL;
		}
		s = p;
	}
	s[n++] = '\n';
	s[n] = '\0';
	*len = n;
	return s;
}

static int client_reply_error(struct client *c, const char *msg);

static int client_reply(struct client *c, json_t *obj)
{
	size_t len = 0, cap;
	_cleanup_free_ char *line = json_line(obj, &len);

	if (!line) {
		client_drop(c); /* out of memory: the peer would wait for ever */
		return -1;
	}
	/* A reply that cannot be held is refused, not half sent; the client
	 * stays. */
	if (len > CONTROL_MAX_PENDING / 2)
		/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): line is _cleanup_free_ */
		return client_reply_error(c, "reply too large");
	cap = outbuf_cap_for(c->out.cap, client_pending(c), len);
	if (cap > c->out.cap && !budget_admits(c, cap - c->out.cap, Q_REPLY))
		/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): line is _cleanup_free_ */
		return client_reply_error(c, "wardd is short of output memory: try again");
	/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): line is _cleanup_free_ */
	return client_queue(c, line, len, Q_REPLY);
}

static int client_reply_error(struct client *c, const char *msg)
{
	json_t *o = json_object();
	size_t len = 0;
	_cleanup_free_ char *line = NULL;

	if (o) {
		json_object_set_new(o, "ok", json_false());
		json_object_set_new(o, "error", json_string_lossy(msg, strlen(msg)));
	}
	line = json_line(o, &len);
	if (!line) {
		client_drop(c);
		return -1;
	}
	/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): line is _cleanup_free_ */
	return client_queue(c, line, len, Q_ERROR);
}

static void client_idle(struct loop *l, void *ud)
{
	struct client *c = ud;

	c->idle = NULL; /* the loop frees a timer that fired */
	client_drop(c);
}

/* (Re)starts the client's clock: idle_ms without a request, or without
 * taking any of its output, and it is dropped. No clock while it waits
 * for a deferred reply, or follows with nothing left to take. */
static void client_arm_idle(struct client *c)
{
	loop_timer_cancel(c->ctl->loop, c->idle);
	c->idle = NULL;
	if (c->waiting || c->dead || (c->following && !c->stream && !client_pending(c)))
		return;
	c->idle = loop_timer_add(c->ctl->loop, c->ctl->idle_ms, client_idle, c);
	if (!c->idle)
		client_drop(c);
}

/* ---- audit ---- */

static json_t *json_string_or_null(const char *s)
{
	return s && *s ? json_string_lossy(s, strlen(s)) : json_null();
}

/* One "control" record. Takes cmd, tenant, service and extra (fields of
 * some commands; may be NULL). */
static void audit_control(struct control *ctl, const struct peer_info *p, json_t *cmd,
			  json_t *tenant, json_t *service, json_t *extra, const char *verdict,
			  const char *result)
{
	json_t *peer = json_object();
	json_t *f = json_object();

	if (!peer || !f) {
		json_decref(peer);
		json_decref(f);
		json_decref(cmd);
		json_decref(tenant);
		json_decref(service);
		json_decref(extra);
		fprintf(stderr, "wardd: audit: out of memory\n");
		return;
	}
	json_object_set_new(peer, "pid", json_integer(p->pid));
	json_object_set_new(peer, "uid", json_integer(p->uid));
	json_object_set_new(peer, "gid", json_integer(p->gid));
	json_object_set_new(peer, "user", json_string_lossy(p->user, strlen(p->user)));
	json_object_set_new(f, "peer", peer);
	json_object_set_new(f, "cmd", cmd ? cmd : json_null());
	json_object_set_new(f, "tenant", tenant ? tenant : json_null());
	json_object_set_new(f, "service", service ? service : json_null());
	if (extra)
		json_object_update_missing(f, extra);
	json_decref(extra);
	json_object_set_new(f, "verdict", json_string(verdict));
	json_object_set_new(f, "result", json_string_lossy(result, strlen(result)));
	/* A refusal is what anyone in the socket's group can cause at will:
	 * rate limited per uid, the rest counted in a summary. */
	if (strcmp(verdict, "refused") == 0)
		audit_refused(ctl->audit, p->uid, "control", f);
	else
		audit_event(ctl->audit, "control", f);
}

/* What the newer commands carry besides tenant and service. */
static json_t *request_extra(const struct control_request *req)
{
	switch (req->cmd) {
	case CONTROL_ONBOARD:
		return json_pack("{s:s, s:s?}", "template", req->tmpl, "display_name",
				 req->display_name[0] ? req->display_name : NULL);
	case CONTROL_OFFBOARD:
		return json_pack("{s:s?, s:b}", "archive", req->archive[0] ? req->archive : NULL,
				 "purge", req->purge);
	case CONTROL_KICK:
		return json_pack("{s:s}", "session", req->session);
	default:
		return NULL;
	}
}

static void audit_request_as(struct control *ctl, const struct peer_info *peer,
			     const struct control_request *req, const char *verdict,
			     const char *result)
{
	audit_control(ctl, peer, json_string(control_cmd_to_string(req->cmd)),
		      json_string_or_null(req->tenant), json_string_or_null(req->service),
		      request_extra(req), verdict, result);
}

static void audit_request(struct client *c, const struct control_request *req, const char *verdict,
			  const char *result)
{
	audit_request_as(c->ctl, &c->peer, req, verdict, result);
}

/* What a request that did not parse said it was, for the record: a string
 * field as given (cut short), else null. */
static json_t *raw_field(json_t *root, const char *key)
{
	json_t *v = json_object_get(root, key);
	const char *s;
	size_t n;

	if (!json_is_string(v))
		return json_null();
	s = json_string_value(v);
	n = json_string_length(v);
	if (n > AUDIT_VALUE_MAX) {
		n = AUDIT_VALUE_MAX;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--; /* not in the middle of a character */
	}
	return json_string_lossy(s, n);
}

static void audit_malformed(struct client *c, const char *line, size_t len, const char *result)
{
	json_t *root = NULL;

	if (len < CONTROL_MAX_REQUEST && !memchr(line, '\0', len))
		root = json_loadb(line, len, JSON_DECODE_ANY, NULL);
	if (json_is_object(root))
		audit_control(c->ctl, &c->peer, raw_field(root, "cmd"), raw_field(root, "tenant"),
			      raw_field(root, "service"), NULL, "refused", result);
	else
		audit_control(c->ctl, &c->peer, NULL, NULL, NULL, NULL, "refused", result);
	json_decref(root);
}

/* ---- dispatch ---- */

/* Opens the tail the reply streams (see client_stream_fill). */
static int logs_open(struct client *c, const struct control_request *req, struct ward_err *err)
{
	char path[PATH_MAX];

	if (supervisor_log_path(c->ctl->sup, req->tenant, req->service, path, sizeof(path), err) <
	    0)
		return -1;
	/* A missing file (the service has not written anything yet) reads as
	 * empty. */
	c->stream = log_reader_open(path, req->lines, CONTROL_LOGS_MAX_BYTES, err);
	return c->stream ? 0 : -1;
}

static void client_take_lines(struct client *c);

/* Moves what a follower was sent while its history streamed behind it. */
static void client_release_held(struct client *c)
{
	if (c->held.len && !c->dead) {
		/* Already counted in the budget: only this client's cap applies. */
		size_t len = c->held.len;

		outbuf_clear(&c->held); /* the bytes stay until the release below */
		client_queue(c, c->held.data, len, Q_ERROR);
	}
	if (!c->dead)
		outbuf_release(&c->held);
}

/* Sends the next pieces of a streamed logs reply while little is waiting:
 * at most STREAM_CHUNK bytes of the file are escaped at a time, so a
 * reply of megabytes (six times that, escaped) is never held whole, and
 * a client that does not read holds at most about STREAM_LOW plus a
 * chunk. The reply ends with its closing quote; then its follow starts,
 * and its next requests are read. */
static void client_stream_fill(struct client *c)
{
	struct control *ctl = c->ctl;

	/* Only ever called while c is busy (its callback, or a request it
	 * sent): what drops it only marks it dead. clang-analyzer loses the
	 * busy flag across the calls and sees c freed; see on_offboard_done. */
	/* NOLINTBEGIN(clang-analyzer-unix.Malloc) */
	while (c->stream && !c->dead && client_pending(c) < STREAM_LOW) {
		char raw[STREAM_CHUNK + sizeof(c->carry)];
		struct ward_err err = {0};
		size_t used = 0, n, cap;
		ssize_t got;
		bool final;

		cap = outbuf_cap_for(c->out.cap, client_pending(c), STREAM_ESC_MAX);
		if (cap > c->out.cap && !budget_admits(c, cap - c->out.cap, Q_STREAM)) {
			/* Over the budget: try again shortly (its clock runs). */
			if (!c->stream_retry)
				c->stream_retry =
				    loop_timer_add(ctl->loop, STREAM_RETRY_MS, on_stream_retry, c);
			if (!c->stream_retry)
				client_drop(c);
			return;
		}
		memcpy(raw, c->carry, c->n_carry);
		got = log_reader_read(c->stream, raw + c->n_carry, STREAM_CHUNK, &err);
		if (got < 0) {
			/* The reply cannot be finished: the peer sees the
			 * connection end in the middle of it. */
			fprintf(stderr, "wardd: control: logs: %s\n", err.msg);
			client_drop(c);
			return;
		}
		final = got == 0;
		n = json_escape_lossy(raw, c->n_carry + (size_t)got, final, ctl->scratch, &used);
		c->n_carry = c->n_carry + (size_t)got - used;
		memmove(c->carry, raw + used, c->n_carry);
		if (final) {
			memcpy(ctl->scratch + n, "\"}\n", 3);
			n += 3;
			log_reader_close(c->stream);
			c->stream = NULL;
		}
		if (client_queue(c, ctl->scratch, n, Q_STREAM) < 0)
			return;
		if (final) {
			client_release_held(c);
			if (!c->dead && c->read_closed && !c->following)
				c->close_when_drained = true;
			if (!c->dead)
				client_arm_idle(c);
		}
	}
	/* NOLINTEND(clang-analyzer-unix.Malloc) */
}

static struct client *client_by_id(struct control *ctl, uint64_t id)
{
	for (struct client *c = ctl->clients; c; c = c->next)
		if (c->id == id)
			return c->dead ? NULL : c;
	return NULL;
}

static void client_take_lines(struct client *c);

/* The deferred reply of an offboard: audited, then sent if the client is
 * still there, whose waiting requests then go on. */
static void on_offboard_done(json_t *report, const char *error, void *ud)
{
	struct pending *p = ud;
	struct control *ctl = p->ctl;
	struct client *c;
	bool was_busy;

	if (!ctl) { /* the socket is gone; onboard.c audited the outcome */
		free(p);
		return;
	}
	if (p->prev)
		p->prev->next = p->next;
	else
		ctl->pendings = p->next;
	if (p->next)
		p->next->prev = p->prev;
	audit_request_as(ctl, &p->peer, &p->req, "allowed", error ? error : "ok");
	c = client_by_id(ctl, p->client_id);
	free(p);
	if (!c)
		return;
	/* Busy while replying: a failed send only marks it dead. */
	was_busy = c->busy;
	c->busy = true;
	c->waiting = false;
	if (error) {
		client_reply_error(c, error);
	} else {
		client_reply(c, json_pack("{s:b, s:O}", "ok", true, "report", report));
	}
	if (was_busy) /* done came at once: its own callback goes on from here */
		return;
	/* c is busy until below: what drops it only marks it dead (clang-analyzer
	 * loses the busy flag across the loop's calls and sees it freed). */
	/* NOLINTBEGIN(clang-analyzer-unix.Malloc) */
	if (!c->dead)
		client_arm_idle(c);
	if (!c->dead)
		client_take_lines(c); /* the requests that waited */
	if (!c->dead)
		client_flush(c);
	c->busy = false;
	if (c->dead || (c->close_when_drained && !client_pending(c) && !c->waiting)) {
		client_free(c);
		return;
	}
	client_watch(c);
	/* NOLINTEND(clang-analyzer-unix.Malloc) */
}

/* 1: the reply comes with on_offboard_done. */
static int offboard_defer(struct client *c, const struct control_request *req, struct ward_err *err)
{
	struct control *ctl = c->ctl;
	struct pending *p;

	if (!ctl->ob)
		return ward_err_set(err, 0, "onboarding is not available");
	p = calloc(1, sizeof(*p));
	if (!p)
		return ward_err_set(err, ENOMEM, "offboard");
	p->ctl = ctl;
	p->client_id = c->id;
	p->peer = c->peer;
	p->req = *req;
	p->next = ctl->pendings;
	if (ctl->pendings)
		ctl->pendings->prev = p;
	ctl->pendings = p;
	/* Before the call: done may come before it returns. */
	c->waiting = true;
	client_arm_idle(c);
	if (offboard_tenant(ctl->ob, req->tenant, req->archive[0] ? req->archive : NULL, req->purge,
			    c->peer.user, on_offboard_done, p, err) < 0) {
		ctl->pendings = p->next;
		if (p->next)
			p->next->prev = NULL;
		free(p);
		c->waiting = false;
		client_arm_idle(c);
		return -1;
	}
	return 1;
}

/* Runs an authorized request; fills reply (the fields beside "ok") or err.
 * Returns 0, -1, or 1 when the reply is deferred. */
static int dispatch(struct client *c, const struct control_request *req, json_t *reply,
		    struct ward_err *err)
{
	struct control *ctl = c->ctl;
	const char *tenant = req->tenant[0] ? req->tenant : NULL;
	const char *service = req->service[0] ? req->service : NULL;
	json_t *v;

	switch (req->cmd) {
	case CONTROL_STATUS:
		v = supervisor_status(ctl->sup, tenant, err);
		if (!v)
			return -1;
		json_object_set_new(reply, "audit", audit_state(ctl->audit));
		return json_object_set_new(reply, "services", v);
	case CONTROL_START:
		return supervisor_start(ctl->sup, tenant, service, err);
	case CONTROL_STOP:
		return supervisor_stop(ctl->sup, tenant, service, err);
	case CONTROL_RESTART:
		return supervisor_restart(ctl->sup, tenant, service, err);
	case CONTROL_RESET:
		return supervisor_reset(ctl->sup, tenant, service, err);
	case CONTROL_RELOAD:
		v = supervisor_reload(ctl->sup);
		if (!v)
			return ward_err_set(err, 0, "reload failed");
		return json_object_set_new(reply, "report", v);
	case CONTROL_LOGS:
		return logs_open(c, req, err); /* the reply is streamed */
	case CONTROL_NET:
		v = supervisor_net(ctl->sup, tenant, err);
		if (!v)
			return -1;
		return json_object_set_new(reply, "net", v);
	case CONTROL_ONBOARD:
		if (!ctl->ob)
			return ward_err_set(err, 0, "onboarding is not available");
		v = onboard_tenant(ctl->ob, req->tenant, req->tmpl,
				   req->display_name[0] ? req->display_name : NULL, c->peer.user,
				   err);
		if (!v)
			return -1;
		return json_object_set_new(reply, "allocation", v);
	case CONTROL_OFFBOARD:
		return offboard_defer(c, req, err);
	case CONTROL_SESSIONS:
		if (!ctl->ss)
			return ward_err_set(err, 0, "sessions are not available");
		v = session_list(ctl->ss, tenant, err);
		if (!v)
			return -1;
		return json_object_set_new(reply, "sessions", v);
	case CONTROL_KICK:
		if (!ctl->ss)
			return ward_err_set(err, 0, "sessions are not available");
		return session_kick(ctl->ss, req->session, c->peer.user, err);
	}
	return ward_err_set(err, 0, "unknown command");
}

static void client_handle_line(struct client *c, const char *line, size_t len)
{
	struct control_request req;
	struct ward_err err = {0};
	json_t *reply;
	int r;

	client_arm_idle(c);
	if (c->dead)
		return;
	if (control_parse_request(line, len, &req, &err) < 0) {
		char msg[sizeof(err.msg) + 32];

		(void)snprintf(msg, sizeof(msg), "malformed request: %s", err.msg);
		/* Recorded before the reply, so a peer that has the reply finds it
		 * in the log. */
		audit_malformed(c, line, len, msg);
		client_reply_error(c, msg);
		return;
	}
	if (c->right < control_cmd_right(req.cmd)) {
		audit_request(c, &req, "refused", "permission denied");
		client_reply_error(c, "permission denied");
		return;
	}
	/* Fail closed: nothing changes state unless its record can be
	 * written. What only reads (status above all, which shows the
	 * failure) still answers. */
	if (control_cmd_right(req.cmd) >= RIGHT_OPERATE && audit_ready(c->ctl->audit, &err) < 0) {
		audit_request(c, &req, "refused", err.msg);
		client_reply_error(c, err.msg);
		return;
	}
	reply = json_object();
	if (!reply || json_object_set_new(reply, "ok", json_true()) < 0) {
		json_decref(reply);
		ward_err_set(&err, ENOMEM, "%s", control_cmd_to_string(req.cmd));
		reply = NULL;
	} else if ((r = dispatch(c, &req, reply, &err)) < 0) {
		json_decref(reply);
		reply = NULL;
		if (!err.msg[0])
			ward_err_set(&err, 0, "%s failed", control_cmd_to_string(req.cmd));
	} else if (r > 0) {
		json_decref(reply); /* on_offboard_done audits and replies */
		return;
	}
	audit_request(c, &req, "allowed", reply ? "ok" : err.msg);
	if (!reply) {
		client_reply_error(c, err.msg);
		return;
	}
	if (req.cmd == CONTROL_LOGS) {
		static const char head[] = "{\"ok\":true,\"data\":\"";

		json_decref(reply);
		/* Following from now: what the service writes after the tail
		 * was opened is held until the reply is complete. */
		if (req.follow) {
			c->following = true;
			memcpy(c->follow_tenant, req.tenant, sizeof(c->follow_tenant));
			memcpy(c->follow_service, req.service, sizeof(c->follow_service));
		}
		if (client_queue(c, head, sizeof(head) - 1, Q_STREAM) < 0)
			return;
		client_stream_fill(c);
		return;
	}
	client_reply(c, reply);
}

static void client_line_too_long(struct client *c)
{
	char msg[128];

	(void)snprintf(msg, sizeof(msg),
		       "malformed request: request longer than %d bytes (newline included)",
		       CONTROL_MAX_REQUEST);
	audit_control(c->ctl, &c->peer, NULL, NULL, NULL, NULL, "refused", msg);
	c->read_closed = true;
	c->close_when_drained = true;
	c->in_len = c->in_scanned = 0;
	client_reply_error(c, msg);
}

/* Handles every complete line in the input buffer. */
static void client_take_lines(struct client *c)
{
	size_t start = 0;

	while (!c->read_closed && !c->dead && !c->waiting && !c->stream) {
		char *nl = memchr(c->in + c->in_scanned, '\n', c->in_len - c->in_scanned);

		if (!nl) {
			c->in_scanned = c->in_len;
			break;
		}
		client_handle_line(c, c->in + start, (size_t)(nl - (c->in + start)));
		start = (size_t)(nl - c->in) + 1;
		c->in_scanned = start;
	}
	if (c->dead || c->read_closed)
		return;
	memmove(c->in, c->in + start, c->in_len - start);
	c->in_len -= start;
	c->in_scanned -= start;
	if (c->in_len == CONTROL_MAX_REQUEST)
		client_line_too_long(c);
	else if (c->in_len == 0 && c->in_cap > INPUT_MIN_CAP) {
		/* An idle client holds no request-sized buffer. */
		free(c->in);
		c->in = NULL;
		c->in_cap = 0;
	}
}

static void client_eof(struct client *c)
{
	/* A last request without its newline is still a request. */
	if (c->in_len && !c->dead)
		client_handle_line(c, c->in, c->in_len);
	c->in_len = c->in_scanned = 0;
	c->read_closed = true;
	/* Half-closed: a follower keeps following; anyone else gets its replies. */
	if (!c->following)
		c->close_when_drained = true;
}

static void client_read(struct client *c)
{
	for (int i = 0;
	     i < READS_PER_TURN && !c->read_closed && !c->dead && !c->waiting && !c->stream; i++) {
		ssize_t n;

		if (c->in_len == CONTROL_MAX_REQUEST) {
			client_line_too_long(c); /* take_lines saw to it; never a 0-byte read */
			return;
		}
		if (c->in_len == c->in_cap) {
			size_t cap = c->in_cap ? c->in_cap * 2 : INPUT_MIN_CAP;
			char *p;

			if (cap > CONTROL_MAX_REQUEST)
				cap = CONTROL_MAX_REQUEST;
			p = realloc(c->in, cap);
			if (!p) {
				client_drop(c);
				return;
			}
			c->in = p;
			c->in_cap = cap;
		}
		n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				client_drop(c);
			return;
		}
		if (n == 0) {
			client_eof(c);
			return;
		}
		c->in_len += (size_t)n;
		client_take_lines(c);
	}
}

static void client_event(struct loop *l, int fd, uint32_t events, void *ud)
{
	struct client *c = ud;

	/* While busy, a drop only marks the client dead: it is freed below
	 * (clang-analyzer loses the flag: see on_offboard_done). */
	/* NOLINTBEGIN(clang-analyzer-unix.Malloc) */
	c->busy = true;
	if (events & EPOLLERR)
		c->dead = true;
	if (!c->dead && (events & EPOLLOUT))
		client_flush(c);
	if (!c->dead && c->stream)
		client_stream_fill(c);
	/* A streamed reply done: the requests that came behind it. */
	if (!c->dead && !c->stream && !c->read_closed && !c->waiting && c->in_len)
		client_take_lines(c);
	if (!c->dead && !c->read_closed && (events & (EPOLLIN | EPOLLHUP)))
		client_read(c);
	/* Both directions shut: nobody will read a reply. */
	if (events & EPOLLHUP)
		c->dead = true;
	if (!c->dead)
		client_flush(c);
	c->busy = false;
	if (c->dead) {
		client_free(c);
		return;
	}
	if (c->close_when_drained && !client_pending(c) && !c->waiting) {
		client_free(c);
		return;
	}
	client_watch(c);
	/* NOLINTEND(clang-analyzer-unix.Malloc) */
}

static void on_stream_retry(struct loop *l, void *ud)
{
	struct client *c = ud;

	(void)l;
	c->stream_retry = NULL; /* the loop frees a timer that fired */
	/* Busy as in client_event (clang-analyzer loses the flag). */
	/* NOLINTBEGIN(clang-analyzer-unix.Malloc) */
	c->busy = true;
	client_stream_fill(c);
	if (!c->dead && !c->stream && !c->read_closed && !c->waiting && c->in_len)
		client_take_lines(c);
	if (!c->dead)
		client_flush(c);
	c->busy = false;
	if (c->dead || (c->close_when_drained && !client_pending(c) && !c->waiting)) {
		client_free(c);
		return;
	}
	client_watch(c);
	/* NOLINTEND(clang-analyzer-unix.Malloc) */
}

/* ---- accepting ---- */

static gid_t *peer_groups(int fd, size_t *n)
{
	socklen_t size = 64 * sizeof(gid_t);

	*n = 0;
	for (;;) {
		gid_t *g = malloc(size);
		socklen_t len = size;

		if (!g)
			return NULL;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) == 0) {
			*n = len / sizeof(gid_t);
			return g;
		}
		free(g);
		/* ERANGE tells the size needed. Anything else: no supplementary
		 * groups, which can only lower the rights. */
		if (errno != ERANGE || len <= size || len > (1u << 20))
			return NULL;
		size = len;
	}
}

/* The name service's word on who the peer is, for the audit records
 * (its rights come from the kernel: SO_PEERCRED and SO_PEERGROUPS). */
static void on_peer_user(const struct userdb_answer *a, void *ud)
{
	struct client *c = ud;

	c->lookup = NULL;
	/* Else it stays the uid's number. */
	if (!a->err && strlen(a->name) < sizeof(c->peer.user))
		(void)snprintf(c->peer.user, sizeof(c->peer.user), "%s", a->name);
	c->waiting = false;
	c->busy = true; /* what drops it below only marks it dead */
	client_arm_idle(c);
	/* clang-analyzer loses the busy flag across the loop's calls and sees
	 * c freed: see on_offboard_done. */
	/* NOLINTBEGIN(clang-analyzer-unix.Malloc) */
	c->busy = false;
	if (c->dead) {
		client_free(c);
		return;
	}
	client_watch(c);
	/* NOLINTEND(clang-analyzer-unix.Malloc) */
}

static size_t clients_of(const struct control *ctl, uid_t uid)
{
	size_t n = 0;

	for (const struct client *c = ctl->clients; c; c = c->next)
		n++, n -= c->peer.uid != uid;
	return n;
}

/* Whether a new connection may stay: within the limit of all connections,
 * outside the admins' reserve unless privileged, and within its uid's
 * share unless root. Else it is told why and closed (it is not audited:
 * that would let anyone who may connect write to the audit log at will). */
static bool client_admitted(struct control *ctl, int fd, uid_t uid, bool privileged)
{
	char why[112], line[160];
	int n;

	if (ctl->n_clients >= CONTROL_MAX_CLIENTS)
		(void)snprintf(why, sizeof(why), "too many connections (%d)", CONTROL_MAX_CLIENTS);
	else if (!privileged && ctl->n_clients >= CONTROL_MAX_CLIENTS - CONTROL_ADMIN_RESERVE)
		(void)snprintf(why, sizeof(why),
			       "too many connections: the last %d are kept for root and the admin "
			       "group",
			       CONTROL_ADMIN_RESERVE);
	else if (uid != 0 && clients_of(ctl, uid) >= CONTROL_MAX_PER_UID)
		(void)snprintf(why, sizeof(why), "too many connections from uid %u (at most %d)",
			       (unsigned)uid, CONTROL_MAX_PER_UID);
	else
		return true;
	n = snprintf(line, sizeof(line), "{\"ok\":false,\"error\":\"%s\"}\n", why);
	/* Best effort, never waiting: the peer may not read. */
	if (n > 0 && (size_t)n < sizeof(line))
		(void)send(fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT);
	close(fd);
	if (!ctl->warned_at || loop_now_ms() - ctl->warned_at >= REFUSED_WARN_MS) {
		ctl->warned_at = loop_now_ms();
		fprintf(stderr, "wardd: control: refusing a connection from uid %u: %s\n",
			(unsigned)uid, why);
	}
	return false;
}

static void client_new(struct control *ctl, int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	_cleanup_free_ gid_t *groups = NULL;
	size_t n_groups = 0;
	enum control_right right;
	struct client *c;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || len != sizeof(cred)) {
		close(fd);
		return;
	}
	groups = peer_groups(fd, &n_groups);
	right = control_gids_right(&ctl->gids, cred.uid, cred.gid, groups, n_groups);
	if (!client_admitted(ctl, fd, cred.uid, right == RIGHT_ADMIN))
		return;
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	*c = (struct client){.ctl = ctl, .fd = fd};
	c->id = ++ctl->next_id;
	c->peer = (struct peer_info){.pid = cred.pid, .uid = cred.uid, .gid = cred.gid};
	(void)snprintf(c->peer.user, sizeof(c->peer.user), "%u", (unsigned)cred.uid);
	c->right = right;
	c->privileged = right == RIGHT_ADMIN;
	/* Every buffer counts in the budget of all output; those of clients
	 * not privileged in theirs too. */
	c->out.charge[0] = c->held.charge[0] = &ctl->out_total;
	if (!c->privileged)
		c->out.charge[1] = c->held.charge[1] = &ctl->out_unpriv;
	/* Its requests wait (unread) for the name: every audit record of
	 * them names the user. Only a hang-up is watched meanwhile. */
	c->lookup = userdb_lookup(ctl->udb, cred.uid, false, on_peer_user, c);
	c->waiting = c->lookup != NULL;
	if (loop_add_fd(ctl->loop, fd, c->waiting ? 0 : EPOLLIN, client_event, c) < 0) {
		userdb_cancel(ctl->udb, c->lookup);
		close(fd);
		free(c);
		return;
	}
	c->events = c->waiting ? 0 : EPOLLIN;
	c->next = ctl->clients;
	if (ctl->clients)
		ctl->clients->prev = c;
	ctl->clients = c;
	ctl->n_clients++;
	client_arm_idle(c);
}

/* A new connection (the listener's hook). */
static void on_accept(int fd, void *ud)
{
	client_new(ud, fd);
}

/* ---- followers ---- */

/* A follower's output while its history still streams: kept for after
 * it, within the same cap and budget as output queued. */
static void client_hold(struct client *c, const char *line, size_t len)
{
	size_t cap;

	if (len > CONTROL_MAX_PENDING ||
	    client_pending(c) + c->held.len > CONTROL_MAX_PENDING - len) {
		client_drop(c);
		return;
	}
	cap = outbuf_cap_for(c->held.cap, c->held.len, len);
	if (cap != c->held.cap &&
	    (cap == SIZE_MAX || !budget_admits(c, cap - c->held.cap, Q_STREAM) ||
	     outbuf_resize(&c->held, cap) < 0)) {
		client_drop(c);
		return;
	}
	outbuf_put(&c->held, line, len);
}

static void on_output(const char *tenant, const char *service, const char *data, size_t len,
		      void *ud)
{
	struct control *ctl = ud;
	_cleanup_free_ char *line = NULL;
	size_t line_len = 0;
	struct client *next;

	for (struct client *c = ctl->clients; c; c = next) {
		next = c->next;
		if (!c->following || c->dead || strcmp(c->follow_tenant, tenant) != 0 ||
		    strcmp(c->follow_service, service) != 0)
			continue;
		if (!line) {
			json_t *o = json_object();

			if (o)
				json_object_set_new(o, "data", json_string_lossy(data, len));
			line = json_line(o, &line_len);
			if (!line)
				return;
		}
		if (c->stream)
			client_hold(c, line, line_len);
		else
			client_queue(c, line, line_len, Q_STREAM);
	}
	/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): line is _cleanup_free_ */
}

/* ---- the socket ---- */

/* The gid the socket file gets: the configured group's, else the daemon's
 * own (root only, then). */
static gid_t socket_gid(const char *group, const char *path)
{
	gid_t gid = getegid();

	if (group && *group && !caps_group_gid(group, &gid))
		fprintf(stderr,
			"wardd: warning: socket group \"%s\" does not exist: %s stays "
			"accessible to root only\n",
			group, path);
	return gid;
}

struct control *control_new(const struct ward_config *cfg, struct loop *loop,
			    struct supervisor *sup, struct audit *audit, struct userdb *udb,
			    struct ward_err *err)
{
	char path[sizeof(((struct sockaddr_un *)NULL)->sun_path)];
	struct listener_opts opts = {.name = "control",
				     .mode = 0660,
				     .backlog = CONTROL_BACKLOG,
				     .per_turn = ACCEPTS_PER_TURN};
	struct control *ctl;
	int n;

	n = snprintf(path, sizeof(path), "%s/control.sock", cfg->state_dir);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		ward_err_set(err, ENAMETOOLONG, "control socket %s/control.sock", cfg->state_dir);
		return NULL;
	}
	ctl = calloc(1, sizeof(*ctl));
	if (!ctl) {
		ward_err_set(err, ENOMEM, "control");
		return NULL;
	}
	*ctl = (struct control){.cfg = cfg,
				.scratch = malloc(STREAM_ESC_MAX),
				.loop = loop,
				.sup = sup,
				.audit = audit,
				.udb = udb,
				.idle_ms = CONTROL_IDLE_MS};
	if (!ctl->scratch) {
		ward_err_set(err, ENOMEM, "control");
		free(ctl);
		return NULL;
	}
	/* At start, before the loop serves anyone. */
	control_resolve_groups(cfg, &ctl->gids);
	opts.gid = socket_gid(cfg->socket_group, path);
	ctl->listener = listener_new(loop, path, &opts, on_accept, ctl, err);
	if (!ctl->listener) {
		free(ctl->scratch);
		free(ctl);
		return NULL;
	}
	if (sup)
		supervisor_set_output_hook(sup, on_output, ctl);
	return ctl;
}

void control_set_onboarding(struct control *c, struct onboarding *ob)
{
	c->ob = ob;
}

void control_set_sessions(struct control *c, struct session_server *ss)
{
	c->ss = ss;
}

void control_set_idle_timeout(struct control *c, uint64_t ms)
{
	c->idle_ms = ms;
}

size_t control_count_clients(const struct control *c)
{
	return c->n_clients;
}

void control_free(struct control *c)
{
	if (!c)
		return;
	if (c->sup)
		supervisor_set_output_hook(c->sup, NULL, NULL);
	/* Their replies come later, if ever: they find no socket then. */
	for (struct pending *p = c->pendings; p; p = p->next)
		p->ctl = NULL;
	for (struct client *cl = c->clients, *next; cl; cl = next) {
		next = cl->next;
		client_free(cl);
	}
	listener_free(c->listener);
	free(c->scratch);
	free(c);
}
