/* Daemon settings: defaults, then wardd.json on top, every value checked,
 * the first error named by file, line:column and key path. */
#include "ward/config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "ward/cleanup.h"
#include "ward/jsonpos.h"
#include "ward/profile.h"

#define CONFIG_MAX_BYTES (1024 * 1024)
#define LOG_KEEP_MAX     100
#define GROUP_RULE       "[a-z_][a-z0-9_-]{0,31}"

struct cload {
	const char *file;
	struct jsonpos *pos;
	struct ward_err *err;
};

#define AT(C, obj, k) jsonpos_key((C)->pos, (obj), (k))

static int fail(struct cload *C, const struct jsonpos_entry *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "FILE:LINE:COL: PATH: message" ("FILE:LINE:COL: message" at the root). */
static int fail(struct cload *C, const struct jsonpos_entry *at, const char *fmt, ...)
{
	struct jsonpos_where w = {C->file, 1, 1, 0};
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap); /* a long message may be cut */
	va_end(ap);
	if (!at)
		return ward_err_set(C->err, 0, "%s: %s", C->file, msg);
	jsonpos_locate(at, &w);
	_cleanup_free_ char *path = jsonpos_path(C->pos, at);
	if (!path)
		return ward_err_set(C->err, ENOMEM, "%s", C->file);
	return ward_err_set(C->err, 0, "%s:%u:%u: %s%s%s", w.file, w.line, w.col, path,
			    path[0] ? ": " : "", msg);
}

/* User text in a message: quoted, escaped and cut short, so a settings file
 * cannot write control sequences to an operator's terminal. */
#define QUOTE_MAX 96
static const char *quote(const char *s, char *buf)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	buf[o++] = '"';
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (o > QUOTE_MAX - 16) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (*p == '"' || *p == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)*p;
		} else if (*p < 0x20 || *p >= 0x7f) {
			memcpy(buf + o, "\\x", 2);
			buf[o + 2] = hex[*p >> 4];
			buf[o + 3] = hex[*p & 15];
			o += 4;
		} else {
			buf[o++] = (char)*p;
		}
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}
#define Q(s) quote((s), (char[QUOTE_MAX]){0})

static int want(struct cload *C, json_t *v, const struct jsonpos_entry *at, json_type t,
		const char *expected)
{
	if (json_typeof(v) == t)
		return 0;
	return fail(C, at, "expected %s, got %s", expected, jsonpos_type_name(v));
}

/* An object whose keys are all in `allowed`. */
static int check_object(struct cload *C, json_t *v, const struct jsonpos_entry *at,
			const char *const allowed[])
{
	const char *k;
	json_t *m;

	if (want(C, v, at, JSON_OBJECT, "object") < 0)
		return -1;
	json_object_foreach(v, k, m)
	{
		const char *const *a = allowed;
		while (*a && strcmp(*a, k) != 0)
			a++;
		if (!*a)
			return fail(C, AT(C, v, k), "unknown key");
	}
	return 0;
}

static const char *get_string(struct cload *C, json_t *v, const struct jsonpos_entry *at)
{
	if (want(C, v, at, JSON_STRING, "string") < 0)
		return NULL;
	const char *s = json_string_value(v);
	/* Loaded with JSON_ALLOW_NUL so a NUL is reported here, with its key. */
	if (strlen(s) != json_string_length(v))
		return fail(C, at, "must not contain NUL characters"), NULL;
	return s;
}

static int config_setv(struct cload *C, char **slot, const char *value)
{
	if (config_set(slot, value) < 0)
		return ward_err_set(C->err, ENOMEM, "%s", C->file);
	return 0;
}

static int path_read(struct cload *C, json_t *v, const struct jsonpos_entry *at, char **slot)
{
	const char *s = get_string(C, v, at);

	if (!s)
		return -1;
	if (s[0] != '/')
		return fail(C, at, "must be an absolute path, got %s", Q(s));
	if (strlen(s) >= PATH_MAX)
		return fail(C, at, "must not be longer than %d bytes", PATH_MAX - 1);
	return config_setv(C, slot, s);
}

static bool group_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > 32 || !((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		      s[i] == '-'))
			return false;
	return true;
}

/* A group name, or null: no group has that role. */
static int group_read(struct cload *C, json_t *v, const struct jsonpos_entry *at, char **slot)
{
	if (json_is_null(v))
		return config_setv(C, slot, NULL);
	if (!json_is_string(v))
		return fail(C, at, "expected string or null, got %s", jsonpos_type_name(v));
	const char *s = get_string(C, v, at);
	if (!s)
		return -1;
	if (!group_name_valid(s))
		return fail(C, at, "invalid group name %s: must match " GROUP_RULE, Q(s));
	return config_setv(C, slot, s);
}

static int policy_dirs_read(struct cload *C, json_t *v, const struct jsonpos_entry *at,
			    struct ward_config *cfg)
{
	size_t i;
	json_t *item;

	if (want(C, v, at, JSON_ARRAY, "array") < 0)
		return -1;
	if (json_array_size(v) > WARD_MAX_POLICY_DIRS)
		return fail(C, at, "at most %d directories", WARD_MAX_POLICY_DIRS);
	for (i = 0; i < cfg->n_policy_dirs; i++)
		config_set(&cfg->policy_dirs[i], NULL);
	cfg->n_policy_dirs = 0;
	json_array_foreach(v, i, item)
	{
		if (path_read(C, item, jsonpos_index(C->pos, v, i), &cfg->policy_dirs[i]) < 0)
			return -1;
		cfg->n_policy_dirs = i + 1;
	}
	return 0;
}

static int control_read(struct cload *C, json_t *v, const struct jsonpos_entry *at,
			struct ward_config *cfg)
{
	static const char *const keys[] = {"socket_group", "operator_group", "viewer_group",
					   "admin_group", NULL};
	char **slots[] = {&cfg->socket_group, &cfg->operator_group, &cfg->viewer_group,
			  &cfg->admin_group};

	if (check_object(C, v, at, keys) < 0)
		return -1;
	for (size_t i = 0; keys[i]; i++) {
		json_t *m = json_object_get(v, keys[i]);

		if (m && group_read(C, m, AT(C, v, keys[i]), slots[i]) < 0)
			return -1;
	}
	return 0;
}

/* An integer of bytes, or "10M": binary multiples. */
static int max_bytes_read(struct cload *C, json_t *v, const struct jsonpos_entry *at, uint64_t *out)
{
	uint64_t x;

	if (json_is_integer(v)) {
		if (json_integer_value(v) < 1)
			return fail(C, at, "must be at least 1 byte, got %" JSON_INTEGER_FORMAT,
				    json_integer_value(v));
		*out = (uint64_t)json_integer_value(v);
		return 0;
	}
	if (!json_is_string(v))
		return fail(C, at, "expected integer or string, got %s", jsonpos_type_name(v));
	const char *s = get_string(C, v, at);
	if (!s)
		return -1;
	if (ward_parse_size(s, &x) < 0)
		return errno == ERANGE
			   ? fail(C, at, "size %s is too large", Q(s))
			   : fail(C, at, "invalid size %s: use bytes or a number with K, M, G or T",
				  Q(s));
	if (x < 1)
		return fail(C, at, "must be at least 1 byte, got %s", Q(s));
	*out = x;
	return 0;
}

static int logs_read(struct cload *C, json_t *v, const struct jsonpos_entry *at,
		     struct ward_config *cfg)
{
	static const char *const keys[] = {"max_bytes", "keep", NULL};
	json_t *m;

	if (check_object(C, v, at, keys) < 0)
		return -1;
	if ((m = json_object_get(v, "max_bytes")) &&
	    max_bytes_read(C, m, AT(C, v, "max_bytes"), &cfg->log_max_bytes) < 0)
		return -1;
	if ((m = json_object_get(v, "keep"))) {
		const struct jsonpos_entry *mat = AT(C, v, "keep");
		if (want(C, m, mat, JSON_INTEGER, "integer") < 0)
			return -1;
		json_int_t k = json_integer_value(m);
		if (k < 0 || k > LOG_KEEP_MAX)
			return fail(C, mat, "must be between 0 and %d, got %" JSON_INTEGER_FORMAT,
				    LOG_KEEP_MAX, k);
		cfg->log_keep = (uint32_t)k;
	}
	return 0;
}

static int audit_read(struct cload *C, json_t *v, const struct jsonpos_entry *at,
		      struct ward_config *cfg)
{
	static const char *const keys[] = {"fsync", NULL};
	json_t *m;

	if (check_object(C, v, at, keys) < 0)
		return -1;
	if ((m = json_object_get(v, "fsync"))) {
		const struct jsonpos_entry *mat = AT(C, v, "fsync");
		const char *s = get_string(C, m, mat);
		if (!s)
			return -1;
		if (strcmp(s, "each") == 0)
			cfg->audit_fsync_each = true;
		else if (strcmp(s, "turn") == 0)
			cfg->audit_fsync_each = false;
		else
			return fail(C, mat, "must be \"each\" or \"turn\", got %s", Q(s));
	}
	return 0;
}

static int cgroup_read(struct cload *C, json_t *v, const struct jsonpos_entry *at,
		       struct ward_config *cfg)
{
	static const char *const keys[] = {"parent", NULL};
	json_t *m;

	if (check_object(C, v, at, keys) < 0)
		return -1;
	if ((m = json_object_get(v, "parent"))) {
		const struct jsonpos_entry *mat = AT(C, v, "parent");
		const char *s = get_string(C, m, mat);
		if (!s)
			return -1;
		/* One directory name under each hierarchy's root, nothing that
		 * could climb out of it. */
		if (!*s || strlen(s) > 64 || strchr(s, '/') || strcmp(s, ".") == 0 ||
		    strcmp(s, "..") == 0)
			return fail(C, mat, "must be one directory name, got %s", Q(s));
		if (config_set(&cfg->cgroup_parent, s) < 0)
			return fail(C, mat, "out of memory");
	}
	return 0;
}

static int root_read(struct cload *C, json_t *root, const struct jsonpos_entry *at,
		     struct ward_config *cfg)
{
	static const char *const keys[] = {"tenants_dir", "policy_dirs", "state_dir", "log_dir",
					   "data_dir",    "control",     "logs",      "audit",
					   "cgroup",      NULL};
	static const char *const path_keys[] = {"tenants_dir", "state_dir", "log_dir", "data_dir"};
	char **path_slots[] = {&cfg->tenants_dir, &cfg->state_dir, &cfg->log_dir, &cfg->data_dir};
	json_t *m;

	if (check_object(C, root, at, keys) < 0)
		return -1;
	/* In the order of the file's documentation, so the first error found
	 * is stable whatever order the keys were written in. */
	for (size_t i = 0; i < sizeof(path_keys) / sizeof(path_keys[0]); i++)
		if ((m = json_object_get(root, path_keys[i])) &&
		    path_read(C, m, AT(C, root, path_keys[i]), path_slots[i]) < 0)
			return -1;
	if ((m = json_object_get(root, "policy_dirs")) &&
	    policy_dirs_read(C, m, AT(C, root, "policy_dirs"), cfg) < 0)
		return -1;
	if ((m = json_object_get(root, "control")) &&
	    control_read(C, m, AT(C, root, "control"), cfg) < 0)
		return -1;
	if ((m = json_object_get(root, "logs")) && logs_read(C, m, AT(C, root, "logs"), cfg) < 0)
		return -1;
	if ((m = json_object_get(root, "audit")) && audit_read(C, m, AT(C, root, "audit"), cfg) < 0)
		return -1;
	if ((m = json_object_get(root, "cgroup")) &&
	    cgroup_read(C, m, AT(C, root, "cgroup"), cfg) < 0)
		return -1;
	return 0;
}

static int defaults_set(struct ward_config *cfg)
{
	*cfg = (struct ward_config){
	    .log_max_bytes = 10 * 1024 * 1024,
	    .log_keep = 5,
	    .audit_fsync_each = true,
	};
	if (config_set(&cfg->tenants_dir, "/etc/ward/tenants") < 0 ||
	    config_set(&cfg->state_dir, "/run/ward") < 0 ||
	    config_set(&cfg->log_dir, "/var/log/ward") < 0 ||
	    config_set(&cfg->data_dir, "/var/lib/ward/tenants") < 0 ||
	    config_set(&cfg->socket_group, "ward") < 0 ||
	    config_set(&cfg->operator_group, "ward-operators") < 0 ||
	    config_set(&cfg->viewer_group, "ward-viewers") < 0 ||
	    config_set(&cfg->admin_group, "ward-admins") < 0 ||
	    config_set(&cfg->cgroup_parent, "ward") < 0)
		return -1;
	return 0;
}

/* The settings decide who may command the daemon: only root (or whoever
 * runs us) may be able to change them. */
static char *file_read(const char *path, size_t *len, struct ward_err *err)
{
	struct stat st;
	size_t got = 0;
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return ward_err_set(err, errno, "%s: cannot open", path), NULL;
	if (fstat(fd, &st) < 0)
		return ward_err_set(err, errno, "%s: cannot stat", path), NULL;
	if (!S_ISREG(st.st_mode))
		return ward_err_set(err, 0, "%s: not a regular file", path), NULL;
	if (st.st_uid != 0 && st.st_uid != geteuid())
		return ward_err_set(err, 0, "%s: owned by uid %u, must be owned by root", path,
				    (unsigned)st.st_uid),
		       NULL;
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return ward_err_set(err, 0, "%s: writable by group or others (mode %03o)", path,
				    (unsigned)(st.st_mode & 0777)),
		       NULL;
	if (st.st_size > CONFIG_MAX_BYTES)
		return ward_err_set(err, 0, "%s: larger than %d bytes", path, CONFIG_MAX_BYTES),
		       NULL;
	_cleanup_free_ char *buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return ward_err_set(err, ENOMEM, "%s", path), NULL;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return ward_err_set(err, errno, "%s: cannot read", path), NULL;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
	*len = got;
	return TAKE_PTR(buf);
}

/* jansson quotes the offending input in its messages. */
static void sanitize(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

static int file_apply(const char *path, const char *text, size_t len, struct ward_config *cfg,
		      struct ward_err *err)
{
	json_error_t e;
	_cleanup_(json_decrefp) json_t *root =
	    json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &e);
	struct cload C = {path, NULL, err};
	const struct jsonpos_entry *at;
	int r;

	if (!root) {
		sanitize(e.text);
		return ward_err_set(err, 0, "%s:%d:%d: %s", path, e.line, e.column, e.text);
	}
	if (!(C.pos = jsonpos_new()))
		return ward_err_set(err, ENOMEM, "%s", path);
	if (!(at = jsonpos_scan(C.pos, path, text, len, root)))
		r = ward_err_set(err, errno, "%s: cannot locate values", path);
	else
		r = root_read(&C, root, at, cfg);
	jsonpos_free(C.pos);
	return r;
}

/* On failure cfg is left empty (config_free on it does nothing). */
int config_load(const char *path, bool must_exist, struct ward_config *cfg, struct ward_err *err)
{
	struct ward_err e = {0};
	size_t len;

	if (defaults_set(cfg) < 0) {
		config_free(cfg);
		return ward_err_set(err, ENOMEM, "settings");
	}
	_cleanup_free_ char *text = file_read(path, &len, &e);
	if (!text && e.errnum == ENOENT && !must_exist)
		return 0;
	if (!text || file_apply(path, text, len, cfg, &e) < 0) {
		config_free(cfg);
		if (err)
			*err = e;
		return -1;
	}
	/* NOLINTNEXTLINE(clang-analyzer-unix.Malloc): text is _cleanup_free_ */
	return 0;
}

void config_free(struct ward_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->tenants_dir);
	/* Slots past n_policy_dirs are NULL: every one can be freed. */
	for (size_t i = 0; i < WARD_MAX_POLICY_DIRS; i++)
		free(cfg->policy_dirs[i]);
	free(cfg->state_dir);
	free(cfg->log_dir);
	free(cfg->data_dir);
	free(cfg->socket_group);
	free(cfg->operator_group);
	free(cfg->viewer_group);
	free(cfg->admin_group);
	free(cfg->cgroup_parent);
	*cfg = (struct ward_config){0};
}

int config_set(char **slot, const char *value)
{
	char *copy = NULL;

	if (value && !(copy = strdup(value)))
		return -1;
	free(*slot);
	*slot = copy;
	return 0;
}
