/* Sessions: the client's request and its later messages, parsed. Pure:
 * no I/O; fuzzed (tests/fuzz/fuzz_session.c). */
#include "daemon/session-internal.h"

#include <arpa/inet.h>
#include <string.h>

#include "basic/text.h"

static int parse_dim(json_t *v, const char *what, unsigned short *out, struct ward_err *err)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > SESSION_MAX_DIM)
		return ward_err_set(err, 0, "%s: must be an integer from 0 to %d", what,
				    SESSION_MAX_DIM);
	*out = (unsigned short)json_integer_value(v);
	return 0;
}

static bool term_valid(const char *s, size_t len)
{
	if (len == 0 || len >= sizeof(((struct session_request *)NULL)->term) || strlen(s) != len)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '+' || c == '-'))
			return false;
	}
	return true;
}

/* "ADDR PORT" as sshd writes the start of SSH_CONNECTION: an IPv4 or IPv6
 * address and a port from 1 to 65535. */
static bool remote_valid(const char *s, size_t len)
{
	const char *sp = memchr(s, ' ', len);
	char addr[INET6_ADDRSTRLEN];
	unsigned char bin[sizeof(struct in6_addr)];
	size_t alen, plen;
	unsigned long port = 0;

	if (!sp || len >= sizeof(((struct session_request *)NULL)->remote) || strlen(s) != len)
		return false;
	alen = (size_t)(sp - s);
	plen = len - alen - 1;
	if (alen == 0 || alen >= sizeof(addr) || plen == 0 || plen > 5)
		return false;
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET, addr, bin) != 1 && inet_pton(AF_INET6, addr, bin) != 1)
		return false;
	for (size_t i = 0; i < plen; i++) {
		char c = sp[1 + i];

		if (c < '0' || c > '9')
			return false;
		port = port * 10 + (unsigned long)(c - '0');
	}
	return port >= 1 && port <= 65535;
}

static int parse_string(json_t *v, const char *what, bool (*valid)(const char *, size_t), char *out,
			size_t size, struct ward_err *err)
{
	const char *str = json_string_value(v);
	size_t len = json_string_length(v);

	if (!json_is_string(v))
		return ward_err_set(err, 0, "%s: must be a string", what);
	if (!valid(str, len) || len >= size) {
		char q[QUOTE_MAX * 4 + 8];

		return ward_err_set(err, 0, "%s: invalid value %s", what,
				    ward_quote(str, len, QUOTE_MAX, q, sizeof(q)));
	}
	memcpy(out, str, len + 1);
	return 0;
}

/* One key of the request into req; *dim is set when it was a terminal's
 * size. */
static int parse_request_key(const char *key, json_t *v, struct session_request *req, bool *dim,
			     struct ward_err *err)
{
	char q[QUOTE_MAX * 4 + 8];

	if (strcmp(key, "tty") == 0) {
		if (!json_is_boolean(v))
			return ward_err_set(err, 0, "tty: must be true or false");
		req->tty = json_is_true(v);
		return 0;
	}
	if (strcmp(key, "rows") == 0 || strcmp(key, "cols") == 0) {
		*dim = true;
		return parse_dim(v, key, key[0] == 'r' ? &req->rows : &req->cols, err);
	}
	if (strcmp(key, "term") == 0)
		return parse_string(v, "term", term_valid, req->term, sizeof(req->term), err);
	if (strcmp(key, "remote") == 0)
		return parse_string(v, "remote", remote_valid, req->remote, sizeof(req->remote),
				    err);
	/* Who the user is never comes from the client: "user", "uid" and
	 * the like are refused like any other key. */
	return ward_err_set(err, 0, "unknown key %s",
			    ward_quote(key, strlen(key), QUOTE_MAX, q, sizeof(q)));
}

static int parse_request_object(json_t *root, struct session_request *req, struct ward_err *err)
{
	bool has_dim = false;
	const char *key;
	json_t *v;

	if (!json_is_object(root))
		return ward_err_set(err, 0, "request must be a JSON object");
	json_object_foreach(root, key, v)
	{
		if (parse_request_key(key, v, req, &has_dim, err) < 0)
			return -1;
	}
	if (has_dim && !req->tty)
		return ward_err_set(err, 0, "rows and cols need \"tty\": true");
	return 0;
}

/* The line as a JSON document, or NULL with err. */
static json_t *load_line(const char *line, size_t len, size_t max, struct ward_err *err)
{
	json_error_t jerr;
	json_t *root;

	if (len >= max) {
		ward_err_set(err, 0, "longer than %zu bytes (newline included)", max);
		return NULL;
	}
	if (!line)
		line = "";
	if (memchr(line, '\0', len)) {
		ward_err_set(err, 0, "NUL byte in the message");
		return NULL;
	}
	root = json_loadb(line, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (!root) {
		ward_err_set(err, 0, "invalid JSON at byte %d: %s", jerr.position, jerr.text);
		ward_ascii_clean(err->msg);
	}
	return root;
}

int session_parse_request(const char *line, size_t len, struct session_request *req,
			  struct ward_err *err)
{
	json_t *root;
	int r;

	memset(req, 0, sizeof(*req));
	root = load_line(line, len, SESSION_MAX_REQUEST, err);
	if (!root)
		return -1;
	r = parse_request_object(root, req, err);
	json_decref(root);
	if (r < 0) {
		memset(req, 0, sizeof(*req));
		ward_ascii_clean(err->msg);
	}
	return r;
}

int session_parse_message(const char *line, size_t len, struct ward_err *err)
{
	json_t *root = load_line(line, len, SESSION_MAX_MESSAGE, err);
	int r = 0;

	if (!root)
		return -1;
	if (!json_is_object(root) || json_object_size(root) != 1 ||
	    !json_is_true(json_object_get(root, "input")))
		r = ward_err_set(err, 0, "expected {\"input\":true}");
	json_decref(root);
	return r;
}
