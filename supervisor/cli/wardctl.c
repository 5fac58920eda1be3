/* wardctl: the operator's command line. main() only dispatches to one
 * function per subcommand; `check` validates profiles offline, the others
 * send one request to wardd over its control socket. */
#include "build-config.h"
#include "model/config.h"
#include "model/protocol.h"
#include "model/profile.h"
#include "model/subid.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* Exit codes: 0 all good, 1 refused or failed, 2 bad input or usage. */
enum { EXIT_FAILED = 1, EXIT_INVALID = 2 };

#define DEFAULT_SOCKET "/run/ward/control.sock"
#define REPLY_MAX      (64u << 20) /* a longer reply line is an error */
#define LOG_LINES_MAX  100000
#define NAME_RULE      "[a-z][a-z0-9-]{0,23}"

struct command {
	const char *name;
	const char *args;
	const char *summary;
	int (*run)(int argc, char **argv);
};

static const struct command *commands(void);

/* Where wardd listens: --socket, or --state-dir's control.sock. */
static const char *socket_path = DEFAULT_SOCKET;

static void usage(FILE *out)
{
	fprintf(out, "usage: wardctl [--socket PATH | --state-dir DIR] COMMAND [ARGS]...\n\n"
		     "commands:\n");
	for (const struct command *c = commands(); c->name; c++)
		fprintf(out, "  %-8s %-32s %s\n", c->name, c->args, c->summary);
	fprintf(out,
		"\n"
		"options:\n"
		"  --socket PATH    wardd's control socket (default %s)\n"
		"  --state-dir DIR  wardd's state directory: the socket is DIR/control.sock\n"
		"  -h, --help       show this help\n"
		"  --version        show the version\n"
		"\n"
		"wardctl COMMAND --help shows the options of a command.\n"
		"Exit status: 0 ok, 1 refused or failed, 2 usage error.\n",
		DEFAULT_SOCKET);
}

/* ---- check ---- */

#define MAX_POLICY_DIRS 32

static void check_usage(FILE *out)
{
	fprintf(out,
		"usage: wardctl check [--config FILE] [--policies DIR]... PROFILE...\n"
		"\n"
		"Loads each tenant profile with its policy fragments and checks every\n"
		"field. Prints each error as FILE:LINE:COL: PATH: MESSAGE on stderr.\n"
		"\n"
		"  --config FILE   also check against the daemon's settings (wardd.json):\n"
		"                  the settings themselves, and that neither the uid pool\n"
		"                  nor any profile's ids overlap the host's subordinate ids\n"
		"                  (ids.subuid, ids.subgid: /etc/subuid, /etc/subgid)\n"
		"  --policies DIR  look for policy fragments in DIR first (repeatable);\n"
		"                  then PROFILE_DIR/../policies, then %s\n"
		"  -h, --help      show this help\n"
		"\n"
		"Exit status: 0 when every profile is valid, 2 otherwise.\n",
		WARD_POLICY_DIR);
}

/* sub: the host's subordinate ids when settings were given, else NULL. */
static int check_one(const char *path, const struct profile_options *opts, const struct subids *sub)
{
	struct ward_diag diag = {0};
	struct ward_tenant *t = NULL;
	struct ward_err err = {0};

	if (profile_load(path, opts, &t, &diag) < 0) {
		diag_print(&diag, stderr);
		diag_free(&diag);
		return -1;
	}
	if (sub && t->ids.set &&
	    subids_check(sub, "ids: uid range", t->ids.uid, t->ids.count, &err) < 0) {
		fprintf(stderr, "%s: %s\n", path, err.msg);
		tenant_free(t);
		return -1;
	}
	printf("%s: ok: tenant %s, %zu service%s%s\n", path, t->name, t->n_services,
	       t->n_services == 1 ? "" : "s", t->sessions.present ? ", sessions" : "");
	tenant_free(t);
	diag_free(&diag);
	return 0;
}

static int cmd_check(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"policies", required_argument, NULL, 'P'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *dirs[MAX_POLICY_DIRS];
	struct profile_options opts = {.policy_dirs = dirs};
	const char *config = NULL;
	struct ward_config cfg = {0};
	struct subids sub = {0};
	struct ward_err err = {0};
	int c, failed = 0;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config = optarg;
			break;
		case 'P':
			if (opts.n_policy_dirs == MAX_POLICY_DIRS) {
				fprintf(stderr, "wardctl check: at most %d --policies\n",
					MAX_POLICY_DIRS);
				return EXIT_INVALID;
			}
			dirs[opts.n_policy_dirs++] = optarg;
			break;
		case 'h':
			check_usage(stdout);
			return 0;
		default:
			check_usage(stderr);
			return EXIT_INVALID;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "wardctl check: no profile given\n");
		check_usage(stderr);
		return EXIT_INVALID;
	}
	/* The settings as the daemon reads them, then the host's subordinate
	 * ids as the daemon and onboarding check them (subid.h). */
	if (config) {
		if (config_load(config, true, &cfg, &err) < 0 ||
		    subids_load(cfg.subuid_file, cfg.subgid_file, &sub, &err) < 0) {
			fprintf(stderr, "%s\n", err.msg);
			config_free(&cfg);
			return EXIT_INVALID;
		}
		if (subids_check(&sub, "ids: the uid pool (pool_start+pool_size)",
				 cfg.id_pool_start, cfg.id_pool_size, &err) < 0) {
			fprintf(stderr, "%s: %s\n", config, err.msg);
			failed = 1;
		}
	}
	/* Every profile is checked, so one run shows every error. */
	for (int i = optind; i < argc; i++)
		if (check_one(argv[i], &opts, config ? &sub : NULL) < 0)
			failed = 1;
	subids_free(&sub);
	config_free(&cfg);
	return failed ? EXIT_INVALID : 0;
}

/* ---- talking to wardd ---- */

/* A message from the daemon may hold anything: no control bytes reach the
 * terminal. */
static void print_clean(FILE *out, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		fputc(*p < 0x20 || *p == 0x7f ? '?' : *p, out);
}

static void print_error(const char *msg)
{
	fputs("wardctl: ", stderr);
	print_clean(stderr, msg);
	fputc('\n', stderr);
}

struct conn {
	int fd;
	char *buf; /* what was read and not yet returned as a line */
	size_t off, len, cap, scanned;
};

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->buf);
	*c = (struct conn){.fd = -1};
}

static int conn_open(struct conn *c)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t n = strlen(socket_path);
	int e;

	*c = (struct conn){.fd = -1};
	if (n >= sizeof(sa.sun_path)) {
		fprintf(stderr, "wardctl: cannot connect to %s: %s\n", socket_path,
			strerror(ENAMETOOLONG));
		return -1;
	}
	memcpy(sa.sun_path, socket_path, n + 1);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd >= 0 && connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return 0;
	e = errno;
	fprintf(stderr, "wardctl: cannot connect to %s: %s\n", socket_path, strerror(e));
	conn_close(c);
	return -1;
}

/* Sends req (the reference is taken) as one line. Returns 0, -1 (said
 * why), or 1 when wardd had already closed the connection: it may have
 * written why first (a refused connection is told, then closed without
 * reading), so the caller reads before it reports the broken pipe. */
static int conn_send(struct conn *c, json_t *req)
{
	char *s = req ? json_dumps(req, JSON_COMPACT) : NULL;
	size_t len, done = 0;
	char *line;

	json_decref(req);
	if (!s) {
		fprintf(stderr, "wardctl: out of memory\n");
		return -1;
	}
	len = strlen(s);
	line = realloc(s, len + 2);
	if (!line) {
		free(s);
		fprintf(stderr, "wardctl: out of memory\n");
		return -1;
	}
	line[len++] = '\n';
	while (done < len) {
		ssize_t n = send(c->fd, line + done, len - done, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
			free(line);
			return 1;
		}
		if (n < 0) {
			fprintf(stderr, "wardctl: sending to %s: %s\n", socket_path,
				strerror(errno));
			free(line);
			return -1;
		}
		done += (size_t)n;
	}
	free(line);
	return 0;
}

/* One line from the daemon, newline stripped, valid until the next call.
 * Returns 1, 0 at a clean end of the stream, or -1 (said why). */
static int conn_read_line(struct conn *c, char **line, size_t *len)
{
	for (;;) {
		char *nl = c->len > c->scanned
			       ? memchr(c->buf + c->scanned, '\n', c->len - c->scanned)
			       : NULL;
		ssize_t n;

		if (nl) {
			*nl = '\0';
			*line = c->buf + c->off;
			*len = (size_t)(nl - *line);
			c->off = c->scanned = (size_t)(nl - c->buf) + 1;
			if (*len > REPLY_MAX)
				break;
			return 1;
		}
		c->scanned = c->len;
		if (c->len - c->off > REPLY_MAX)
			break;
		if (c->off) {
			memmove(c->buf, c->buf + c->off, c->len - c->off);
			c->len -= c->off;
			c->scanned -= c->off;
			c->off = 0;
		}
		if (c->cap - c->len < 65536) {
			size_t cap = c->cap ? c->cap * 2 : 131072;
			char *p = realloc(c->buf, cap);

			if (!p) {
				fprintf(stderr, "wardctl: out of memory\n");
				return -1;
			}
			c->buf = p;
			c->cap = cap;
		}
		n = read(c->fd, c->buf + c->len, c->cap - c->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "wardctl: reading from %s: %s\n", socket_path,
				strerror(errno));
			return -1;
		}
		if (n == 0) {
			if (c->len == c->off)
				return 0;
			fprintf(stderr,
				"wardctl: wardd closed the connection in the middle of a reply\n");
			return -1;
		}
		c->len += (size_t)n;
	}
	fprintf(stderr, "wardctl: reply from wardd longer than %u MiB\n", REPLY_MAX >> 20);
	return -1;
}

/* The next message as a JSON object; NULL (said why) on failure or at the
 * end of the stream (*eof set then). */
static json_t *conn_read_json(struct conn *c, bool *eof)
{
	char *line;
	size_t len;
	json_t *o;
	int r = conn_read_line(c, &line, &len);

	*eof = r == 0;
	if (r <= 0)
		return NULL;
	o = json_loadb(line, len, 0, NULL);
	if (!json_is_object(o)) {
		json_decref(o);
		fprintf(stderr, "wardctl: malformed reply from wardd\n");
		return NULL;
	}
	return o;
}

/* 0 if the reply says ok; else prints its error and returns -1. */
static int reply_ok(json_t *reply)
{
	const char *msg;

	if (json_is_true(json_object_get(reply, "ok")))
		return 0;
	msg = json_string_value(json_object_get(reply, "error"));
	print_error(msg ? msg : "request failed");
	return -1;
}

/* Sends req (taken) on c and returns its ok reply, or NULL (said why). */
static json_t *conn_request(struct conn *c, json_t *req)
{
	json_t *reply;
	bool eof;
	int sent = conn_send(c, req);

	if (sent < 0)
		return NULL;
	reply = conn_read_json(c, &eof);
	if (!reply) {
		if (eof && sent == 1)
			fprintf(stderr, "wardctl: sending to %s: %s\n", socket_path,
				strerror(EPIPE));
		else if (eof)
			fprintf(stderr, "wardctl: wardd closed the connection without a reply\n");
		return NULL;
	}
	if (reply_ok(reply) < 0) {
		json_decref(reply);
		return NULL;
	}
	return reply;
}

/* One request, one reply, on a connection of its own. */
static json_t *request(json_t *req)
{
	struct conn c;
	json_t *reply;

	if (conn_open(&c) < 0) {
		json_decref(req);
		return NULL;
	}
	reply = conn_request(&c, req);
	conn_close(&c);
	return reply;
}

/* {"cmd": cmd} plus tenant and service when given (non-empty). */
static json_t *new_request(const char *cmd, const char *tenant, const char *service)
{
	json_t *req = json_object();

	if (!req)
		return NULL;
	json_object_set_new(req, "cmd", json_string(cmd));
	if (tenant && *tenant)
		json_object_set_new(req, "tenant", json_string(tenant));
	if (service && *service)
		json_object_set_new(req, "service", json_string(service));
	return req;
}

/* "TENANT" or "TENANT/SERVICE", both names checked before anything is
 * sent. */
static int parse_target(const char *arg, bool need_service, char tenant[32], char service[32])
{
	const char *slash = strchr(arg, '/');
	size_t tlen = slash ? (size_t)(slash - arg) : strlen(arg);

	tenant[0] = service[0] = '\0';
	if (tlen == 0 || tlen > WARD_NAME_MAX)
		return -1;
	memcpy(tenant, arg, tlen);
	tenant[tlen] = '\0';
	if (!ward_name_valid(tenant))
		return -1;
	if (!slash)
		return need_service ? -1 : 0;
	size_t slen = strlen(slash + 1);
	if (slen > WARD_NAME_MAX || !ward_name_valid(slash + 1))
		return -1;
	memcpy(service, slash + 1, slen + 1);
	return 0;
}

/* The options every remote command has (only --help) plus its own. */
static void command_usage(FILE *out, const char *name, const char *args, const char *text)
{
	fprintf(out, "usage: wardctl [--socket PATH | --state-dir DIR] %s %s\n\n%s", name, args,
		text);
}

/* ---- status ---- */

static void status_usage(FILE *out)
{
	command_usage(out, "status", "[TENANT] [--json]",
		      "Shows every service (of TENANT) with its state, pid, address, packets its\n"
		      "firewall dropped, uptime, restarts, memory (current/peak), tasks, CPU\n"
		      "time, OOM kills and the reason of its last exit (from its cgroup while\n"
		      "it runs). ADDRESS and DROPS are \"-\" for a tenant without a network.\n"
		      "\n"
		      "  --json      print wardd's list of services as JSON\n"
		      "  -h, --help  show this help\n");
}

/* "45s", "12m5s", "3h12m", "2d3h". */
static void format_uptime(uint64_t s, char *buf, size_t len)
{
	if (s < 60)
		(void)snprintf(buf, len, "%llus", (unsigned long long)s);
	else if (s < 3600)
		(void)snprintf(buf, len, "%llum%llus", (unsigned long long)(s / 60),
			       (unsigned long long)(s % 60));
	else if (s < 86400)
		(void)snprintf(buf, len, "%lluh%llum", (unsigned long long)(s / 3600),
			       (unsigned long long)(s % 3600 / 60));
	else
		(void)snprintf(buf, len, "%llud%lluh", (unsigned long long)(s / 86400),
			       (unsigned long long)(s % 86400 / 3600));
}

enum {
	COL_TENANT,
	COL_SERVICE,
	COL_STATE,
	COL_PID,
	COL_ADDRESS,
	COL_DROPS,
	COL_UPTIME,
	COL_RESTARTS,
	COL_MEM,
	COL_PIDS,
	COL_CPU,
	COL_OOM,
	COL_LAST_EXIT,
	N_COLS
};

/* 1536 -> "1.5K", 268435456 -> "256M". */
static void format_bytes(uint64_t b, char *buf, size_t len)
{
	static const char units[] = "BKMGT";
	double v = (double)b;
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		(void)snprintf(buf, len, "%lluB", (unsigned long long)b);
	else
		(void)snprintf(buf, len, v < 10 ? "%.1f%c" : "%.0f%c", v, units[u]);
}

struct status_row {
	char cell[N_COLS][128];
};

static void set_cell(char *cell, const char *s)
{
	size_t i = 0;

	if (!s || !*s)
		s = "-";
	for (; i < 127 && s[i]; i++) {
		cell[i] = s[i];
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			cell[i] = '?';
	}
	cell[i] = '\0';
}

static void status_row_fill(struct status_row *r, json_t *svc)
{
	const char *state = json_string_value(json_object_get(svc, "state"));
	json_int_t pid = json_integer_value(json_object_get(svc, "pid"));
	json_int_t up = json_integer_value(json_object_get(svc, "uptime_s"));
	char num[32];

	set_cell(r->cell[COL_TENANT], json_string_value(json_object_get(svc, "tenant")));
	set_cell(r->cell[COL_SERVICE], json_string_value(json_object_get(svc, "service")));
	/* Its pid and cgroup are there, but it does nothing: say so. */
	if (state && strcmp(state, "running") == 0 &&
	    json_is_true(json_object_get(svc, "stopped_by_signal")))
		set_cell(r->cell[COL_STATE], "running (stopped by signal)");
	else
		set_cell(r->cell[COL_STATE], state);
	(void)snprintf(num, sizeof(num), "%lld", (long long)pid);
	set_cell(r->cell[COL_PID], pid > 0 ? num : NULL);
	set_cell(r->cell[COL_ADDRESS], json_string_value(json_object_get(svc, "address")));
	(void)snprintf(num, sizeof(num), "%lld",
		       (long long)json_integer_value(json_object_get(svc, "drops")));
	set_cell(r->cell[COL_DROPS], json_is_integer(json_object_get(svc, "drops")) ? num : NULL);
	num[0] = '\0';
	if (state && strcmp(state, "running") == 0)
		format_uptime(up > 0 ? (uint64_t)up : 0, num, sizeof(num));
	set_cell(r->cell[COL_UPTIME], num);
	(void)snprintf(num, sizeof(num), "%lld",
		       (long long)json_integer_value(json_object_get(svc, "restarts")));
	set_cell(r->cell[COL_RESTARTS], num);
	{
		char cur[16], peak[16];
		format_bytes((uint64_t)json_integer_value(json_object_get(svc, "memory_bytes")),
			     cur, sizeof(cur));
		format_bytes(
		    (uint64_t)json_integer_value(json_object_get(svc, "memory_peak_bytes")), peak,
		    sizeof(peak));
		(void)snprintf(num, sizeof(num), "%s/%s", cur, peak);
		set_cell(r->cell[COL_MEM], num);
	}
	(void)snprintf(num, sizeof(num), "%lld",
		       (long long)json_integer_value(json_object_get(svc, "pids")));
	set_cell(r->cell[COL_PIDS], num);
	(void)snprintf(num, sizeof(num), "%.1fs", json_number_value(json_object_get(svc, "cpu_s")));
	set_cell(r->cell[COL_CPU], num);
	(void)snprintf(num, sizeof(num), "%lld",
		       (long long)json_integer_value(json_object_get(svc, "oom_kills")));
	set_cell(r->cell[COL_OOM], num);
	set_cell(r->cell[COL_LAST_EXIT], json_string_value(json_object_get(svc, "last_exit")));
}

static void print_status_table(json_t *services)
{
	static const char *const header[N_COLS] = {
	    "TENANT",   "SERVICE",  "STATE", "PID", "ADDRESS", "DROPS",    "UPTIME",
	    "RESTARTS", "MEM/PEAK", "PIDS",  "CPU", "OOM",     "LAST-EXIT"};
	size_t n = json_array_size(services), width[N_COLS];
	struct status_row *rows = calloc(n + 1, sizeof(*rows));

	if (!rows) {
		fprintf(stderr, "wardctl: out of memory\n");
		return;
	}
	for (int k = 0; k < N_COLS; k++)
		set_cell(rows[0].cell[k], header[k]);
	for (size_t i = 0; i < n; i++)
		status_row_fill(&rows[i + 1], json_array_get(services, i));
	for (int k = 0; k < N_COLS; k++) {
		width[k] = 0;
		for (size_t i = 0; i <= n; i++)
			if (strlen(rows[i].cell[k]) > width[k])
				width[k] = strlen(rows[i].cell[k]);
	}
	for (size_t i = 0; i <= n; i++) {
		for (int k = 0; k < N_COLS - 1; k++)
			printf("%-*s  ", (int)width[k], rows[i].cell[k]);
		printf("%s\n", rows[i].cell[N_COLS - 1]);
	}
	free(rows);
}

/* The shape of `status`, `net` and `sessions`: [TENANT] [--json], one
 * request, and the reply's `field` printed as JSON or by print(). */
struct view_cmd {
	const char *name;
	void (*usage)(FILE *out);
	bool tenant_required;
	const char *field;
	json_type type; /* of field: JSON_ARRAY or JSON_OBJECT */
	void (*print)(json_t *v);
};

static int print_json(json_t *v);

/* status says whether the audit log is writing; when it is not, the
 * operator hears it on stderr whatever the output format. */
static void warn_audit(json_t *audit)
{
	const char *state = json_string_value(json_object_get(audit, "state"));
	json_t *s = json_object_get(audit, "since"), *e = json_object_get(audit, "error");
	char since[64], error[300];

	if (!state || strcmp(state, "ok") == 0)
		return;
	/* Quoted: whatever the reply holds reaches the terminal as ASCII. */
	fprintf(stderr,
		"wardctl: WARNING: the audit log cannot be written (since %s: %s); wardd refuses "
		"commands that change state and logons until it can (%" JSON_INTEGER_FORMAT
		" record(s) held in memory, %" JSON_INTEGER_FORMAT " lost)\n",
		ward_quote(json_is_string(s) ? json_string_value(s) : "?",
			   json_is_string(s) ? json_string_length(s) : 1, 40, since, sizeof(since)),
		ward_quote(json_is_string(e) ? json_string_value(e) : "?",
			   json_is_string(e) ? json_string_length(e) : 1, 200, error,
			   sizeof(error)),
		json_integer_value(json_object_get(audit, "held")),
		json_integer_value(json_object_get(audit, "dropped")));
}

static int run_view(const struct view_cmd *v, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *tenant = NULL;
	bool as_json = false;
	json_t *reply, *field;
	int c, code;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			as_json = true;
			break;
		case 'h':
			v->usage(stdout);
			return 0;
		default:
			v->usage(stderr);
			return EXIT_INVALID;
		}
	}
	if (argc - optind > 1 || (v->tenant_required && argc - optind != 1)) {
		fprintf(stderr, "wardctl %s: %s\n", v->name,
			argc - optind > 1 ? "too many arguments" : "expected TENANT");
		v->usage(stderr);
		return EXIT_INVALID;
	}
	if (optind < argc) {
		tenant = argv[optind];
		if (!ward_name_valid(tenant)) {
			fprintf(stderr, "wardctl %s: invalid tenant name \"%s\": must match %s\n",
				v->name, tenant, NAME_RULE);
			return EXIT_INVALID;
		}
	}
	reply = request(new_request(v->name, tenant, NULL));
	if (!reply)
		return EXIT_FAILED;
	warn_audit(json_object_get(reply, "audit"));
	field = json_object_get(reply, v->field);
	if (!field || json_typeof(field) != v->type) {
		fprintf(stderr, "wardctl: malformed reply from wardd\n");
		json_decref(reply);
		return EXIT_FAILED;
	}
	if (as_json) {
		code = print_json(field);
	} else {
		v->print(field);
		code = fflush(stdout) == 0 ? 0 : EXIT_FAILED;
	}
	json_decref(reply);
	return code;
}

static int cmd_status(int argc, char **argv)
{
	static const struct view_cmd v = {"status",   status_usage, false,
					  "services", JSON_ARRAY,   print_status_table};

	return run_view(&v, argc, argv);
}

/* ---- net ---- */

static void net_usage(FILE *out)
{
	command_usage(out, "net", "TENANT [--json]",
		      "Shows the tenant's network segment: subnet, gateway and uplink, each\n"
		      "service's address, host link and the packets its firewall dropped, and\n"
		      "the declared flows (connect, egress, ingress). Everything else is dropped.\n"
		      "\n"
		      "  --json      print wardd's answer as JSON\n"
		      "  -h, --help  show this help\n");
}

static const char *jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "-";
}

static void print_ports(json_t *ports, const char *proto)
{
	size_t i;
	json_t *p;

	if (!json_array_size(ports))
		return;
	printf(" %s", proto);
	json_array_foreach(ports, i, p)
	{
		printf("%s%lld", i ? "," : " ", (long long)json_integer_value(p));
	}
}

static void print_net(json_t *net)
{
	json_t *svcs = json_object_get(net, "services"), *flows = json_object_get(net, "flows");
	size_t i;
	json_t *v;

	printf("tenant %s  subnet %s  gateway %s  uplink %s\n", jstr(net, "tenant"),
	       jstr(net, "subnet"), jstr(net, "gateway"), jstr(net, "uplink"));
	if (!json_array_size(svcs)) {
		printf("no network section: every service has loopback only\n");
		return;
	}
	printf("%-24s %-9s %-15s %-15s %s\n", "SERVICE", "STATE", "ADDRESS", "LINK", "DROPS");
	json_array_foreach(svcs, i, v)
	{
		printf("%-24s %-9s %-15s %-15s %lld\n", jstr(v, "service"), jstr(v, "state"),
		       jstr(v, "address"), jstr(v, "ifname"),
		       (long long)json_integer_value(json_object_get(v, "drops")));
	}
	printf("flows (everything else is dropped):\n");
	json_array_foreach(flows, i, v)
	{
		const char *kind = jstr(v, "kind");
		long long port = (long long)json_integer_value(json_object_get(v, "port"));

		if (strcmp(kind, "connect") == 0) {
			printf("  connect  %s -> %s:%lld/%s\n", jstr(v, "from"), jstr(v, "to"),
			       port, jstr(v, "proto"));
		} else if (strcmp(kind, "egress") == 0) {
			json_t *from = json_object_get(v, "from");

			printf("  egress   ");
			if (json_is_array(from)) {
				for (size_t k = 0; k < json_array_size(from); k++)
					printf("%s%s", k ? "," : "",
					       json_string_value(json_array_get(from, k)));
			} else {
				printf("*");
			}
			printf(" -> %s", jstr(v, "to"));
			print_ports(json_object_get(v, "tcp"), "tcp");
			print_ports(json_object_get(v, "udp"), "udp");
			printf("\n");
		} else {
			printf("  ingress  host:%lld/%s -> %s:%lld\n",
			       (long long)json_integer_value(json_object_get(v, "host_port")),
			       jstr(v, "proto"), jstr(v, "to"), port);
		}
	}
}

static int cmd_net(int argc, char **argv)
{
	static const struct view_cmd v = {"net", net_usage, true, "net", JSON_OBJECT, print_net};

	return run_view(&v, argc, argv);
}

/* ---- start, stop, restart, reset ---- */

static int run_action(int argc, char **argv, const char *cmd, bool need_service,
		      const char *summary)
{
	static const struct option longopts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *args = need_service ? "TENANT/SERVICE" : "TENANT[/SERVICE]";
	char tenant[32], service[32];
	json_t *reply;
	int c;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (c == 'h') {
			command_usage(stdout, cmd, args, summary);
			return 0;
		}
		command_usage(stderr, cmd, args, summary);
		return EXIT_INVALID;
	}
	if (argc - optind != 1) {
		fprintf(stderr, "wardctl %s: expected %s\n", cmd, args);
		command_usage(stderr, cmd, args, summary);
		return EXIT_INVALID;
	}
	if (parse_target(argv[optind], need_service, tenant, service) < 0) {
		fprintf(stderr,
			"wardctl %s: invalid target \"%s\": expected %s, names matching %s\n", cmd,
			argv[optind], args, NAME_RULE);
		return EXIT_INVALID;
	}
	reply = request(new_request(cmd, tenant, service));
	if (!reply)
		return EXIT_FAILED;
	json_decref(reply);
	return 0;
}

static int cmd_start(int argc, char **argv)
{
	return run_action(argc, argv, "start", false,
			  "Starts every service of TENANT, or one service. Also takes a\n"
			  "service out of \"failed\".\n");
}

static int cmd_stop(int argc, char **argv)
{
	return run_action(argc, argv, "stop", false,
			  "Stops every service of TENANT, or one service. A stopped service\n"
			  "stays stopped until started: no restart undoes it.\n");
}

static int cmd_restart(int argc, char **argv)
{
	return run_action(argc, argv, "restart", false,
			  "Stops, then starts every service of TENANT, or one service.\n");
}

static int cmd_reset(int argc, char **argv)
{
	return run_action(argc, argv, "reset", true,
			  "Takes a service out of \"failed\" and clears its restart counter,\n"
			  "without starting it.\n");
}

/* ---- reload ---- */

static const char reload_help[] =
    "Makes wardd re-read every profile: new tenants start, removed ones stop,\n"
    "services whose profile changed restart. A profile with errors is rejected\n"
    "and its tenant keeps running on the old one. Prints what changed.\n";

static int print_names(const char *what, json_t *list)
{
	size_t i;
	json_t *v;
	int n = 0;

	json_array_foreach(list, i, v)
	{
		if (!json_is_string(v))
			continue;
		printf("%s: ", what);
		print_clean(stdout, json_string_value(v));
		putchar('\n');
		n++;
	}
	return n;
}

static void print_report(json_t *report)
{
	size_t i;
	json_t *r;
	int n = 0;

	n += print_names("added", json_object_get(report, "added"));
	n += print_names("removed", json_object_get(report, "removed"));
	n += print_names("changed", json_object_get(report, "changed"));
	n += print_names("updated", json_object_get(report, "updated"));
	json_array_foreach(json_object_get(report, "rejected"), i, r)
	{
		const char *tenant = json_string_value(json_object_get(r, "tenant"));
		size_t j;
		json_t *e;

		printf("rejected: ");
		print_clean(stdout, tenant ? tenant : "?");
		putchar('\n');
		json_array_foreach(json_object_get(r, "errors"), j, e)
		{
			if (!json_is_string(e))
				continue;
			printf("  ");
			print_clean(stdout, json_string_value(e));
			putchar('\n');
		}
		n++;
	}
	if (n == 0)
		printf("no changes\n");
}

static int cmd_reload(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	json_t *reply;
	int c;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (c == 'h') {
			command_usage(stdout, "reload", "", reload_help);
			return 0;
		}
		command_usage(stderr, "reload", "", reload_help);
		return EXIT_INVALID;
	}
	if (optind != argc) {
		fprintf(stderr, "wardctl reload: takes no arguments\n");
		command_usage(stderr, "reload", "", reload_help);
		return EXIT_INVALID;
	}
	reply = request(new_request("reload", NULL, NULL));
	if (!reply)
		return EXIT_FAILED;
	if (!json_is_object(json_object_get(reply, "report"))) {
		fprintf(stderr, "wardctl: malformed reply from wardd\n");
		json_decref(reply);
		return EXIT_FAILED;
	}
	print_report(json_object_get(reply, "report"));
	json_decref(reply);
	return fflush(stdout) == 0 ? 0 : EXIT_FAILED;
}

/* ---- logs ---- */

static void logs_usage(FILE *out)
{
	command_usage(out, "logs", "TENANT/SERVICE [-n N] [-f] [--raw]",
		      "Prints the last lines a service wrote to stdout and stderr.\n"
		      "\n"
		      "  -n, --lines N  how many lines (1 to 100000, default 50)\n"
		      "  -f, --follow   then keep printing what the service writes, until\n"
		      "                 interrupted or wardd closes the connection\n"
		      "      --raw      write the bytes as the service wrote them, also to a\n"
		      "                 terminal (by default, control characters and other\n"
		      "                 terminal escapes are shown as \\xNN or \\uNNNN there)\n"
		      "  -h, --help     show this help\n");
}

static int parse_lines(const char *s, unsigned *out)
{
	unsigned long long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < 1 || v > LOG_LINES_MAX)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* Whether log data reaching stdout is shown escaped: a tenant's output
 * must not drive the operator's terminal (retitle it, clear it, move the
 * cursor, or overwrite a line with a forged one after a carriage return).
 * Set by cmd_logs: stdout is a terminal and --raw was not given. */
static bool escape_logs;

/* The code point of the valid UTF-8 sequence at s (n bytes left), and its
 * length; 0 for a byte that starts no valid sequence. */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t len;

	if (s[0] < 0x80)
		return *cp = s[0], 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, *cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, *cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, *cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		*cp = *cp << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && *cp < 0x800) || (len == 4 && *cp < 0x10000) || *cp > 0x10ffff ||
	    (*cp >= 0xd800 && *cp <= 0xdfff))
		return 0;
	return len;
}

/* Characters a terminal acts on rather than shows, besides newline and
 * tab: C0 (ESC, BEL, CR, BS...), DEL, C1 (CSI, OSC as single code points),
 * line and paragraph separators, and bidi controls (which reorder what a
 * line appears to say). */
static bool terminal_control(uint32_t cp)
{
	if (cp == '\n' || cp == '\t')
		return false;
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x200e || cp == 0x200f ||
	       cp == 0x2028 || cp == 0x2029 || (cp >= 0x202a && cp <= 0x202e) ||
	       (cp >= 0x2066 && cp <= 0x2069) || cp == 0xfeff;
}

/* Writes s to stdout with every terminal control shown as text: a byte as
 * \xNN (also any byte that is not valid UTF-8), a code point as \uNNNN,
 * and a backslash as \\, so that nothing the tenant writes looks like
 * an escape wardctl made. */
static int write_escaped(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *)s;

	for (size_t i = 0; i < len;) {
		uint32_t cp = 0;
		size_t n = utf8_next(u + i, len - i, &cp);
		int r;

		if (n == 0)
			r = printf("\\x%02x", u[i]);
		else if (cp == '\\')
			r = fputs("\\\\", stdout);
		else if (cp < 0x80 && terminal_control(cp))
			r = printf("\\x%02x", (unsigned)cp);
		else if (terminal_control(cp))
			r = printf("\\u%04x", (unsigned)cp);
		else
			r = fwrite(u + i, 1, n, stdout) == n ? 0 : EOF;
		if (r < 0)
			return -1;
		i += n ? n : 1;
	}
	return 0;
}

/* Prints the "data" of a message; -1 if stdout failed. */
static int print_data(json_t *msg)
{
	json_t *data = json_object_get(msg, "data");
	int r;

	if (!json_is_string(data))
		return 0;
	if (escape_logs)
		r = write_escaped(json_string_value(data), json_string_length(data));
	else
		r = fwrite(json_string_value(data), 1, json_string_length(data), stdout) ==
			    json_string_length(data)
			? 0
			: -1;
	if (r < 0 || fflush(stdout) != 0) {
		fprintf(stderr, "wardctl: writing the output: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static int follow_logs(struct conn *c)
{
	for (;;) {
		bool eof;
		json_t *msg = conn_read_json(c, &eof);
		int r;

		if (!msg)
			return eof ? 0 : EXIT_FAILED; /* wardd closed: the end of the stream */
		if (json_object_get(msg, "ok") && reply_ok(msg) < 0) {
			json_decref(msg);
			return EXIT_FAILED;
		}
		r = print_data(msg);
		json_decref(msg);
		if (r < 0)
			return EXIT_FAILED;
	}
}

static int cmd_logs(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"lines", required_argument, NULL, 'n'},
	    {"follow", no_argument, NULL, 'f'},
	    {"raw", no_argument, NULL, 'R'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	char tenant[32], service[32];
	unsigned lines = 50;
	bool follow = false, raw = false;
	struct conn conn;
	json_t *req, *reply;
	int c, code;

	while ((c = getopt_long(argc, argv, "n:fh", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (parse_lines(optarg, &lines) < 0) {
				fprintf(stderr,
					"wardctl logs: -n: \"%s\" is not a number from 1 to %d\n",
					optarg, LOG_LINES_MAX);
				return EXIT_INVALID;
			}
			break;
		case 'f':
			follow = true;
			break;
		case 'R':
			raw = true;
			break;
		case 'h':
			logs_usage(stdout);
			return 0;
		default:
			logs_usage(stderr);
			return EXIT_INVALID;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "wardctl logs: expected TENANT/SERVICE\n");
		logs_usage(stderr);
		return EXIT_INVALID;
	}
	if (parse_target(argv[optind], true, tenant, service) < 0) {
		fprintf(stderr,
			"wardctl logs: invalid target \"%s\": expected TENANT/SERVICE, names "
			"matching %s\n",
			argv[optind], NAME_RULE);
		return EXIT_INVALID;
	}
	/* A pipe or a file gets the bytes as they are (a log shipper, grep); a
	 * terminal gets them escaped unless asked. */
	escape_logs = !raw && isatty(STDOUT_FILENO);
	req = new_request("logs", tenant, service);
	if (req) {
		json_object_set_new(req, "lines", json_integer(lines));
		json_object_set_new(req, "follow", json_boolean(follow));
	}
	if (conn_open(&conn) < 0) {
		json_decref(req);
		return EXIT_FAILED;
	}
	reply = conn_request(&conn, req);
	code = reply ? 0 : EXIT_FAILED;
	if (reply && print_data(reply) < 0)
		code = EXIT_FAILED;
	json_decref(reply);
	if (code == 0 && follow)
		code = follow_logs(&conn);
	conn_close(&conn);
	return code;
}

/* ---- onboard, offboard ---- */

static void onboard_usage(FILE *out)
{
	command_usage(out, "onboard", "NAME --template TEMPLATE [--display-name TEXT] [--json]",
		      "Creates practice NAME from TEMPLATE (wardd's templates directory): a uid\n"
		      "range and a subnet from wardd's pools, its data directory (owned by its\n"
		      "first uid, mode 0700) and its profile, then starts it. Prints what was\n"
		      "allocated. A name in use, an exhausted pool or a template with errors is\n"
		      "refused, and then nothing is left behind. Needs root or the admin group.\n"
		      "\n"
		      "  -t, --template TEMPLATE  the template's name (TEMPLATE.json)\n"
		      "  --display-name TEXT      the practice's name for people\n"
		      "  --json                   print wardd's answer as JSON\n"
		      "  -h, --help               show this help\n");
}

/* Printable text only: the daemon checks the rest. */
static bool display_name_plausible(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > 512)
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

static void print_row(const char *key, const char *value)
{
	printf("%-13s ", key);
	print_clean(stdout, value && *value ? value : "-");
	putchar('\n');
}

static void print_allocation(json_t *a)
{
	json_int_t uid = json_integer_value(json_object_get(a, "uid"));
	json_int_t count = json_integer_value(json_object_get(a, "count"));
	char ids[96];

	(void)snprintf(ids, sizeof(ids), "%lld-%lld (%lld, gids the same)", (long long)uid,
		       (long long)(uid + count - 1), (long long)count);
	print_row("TENANT", json_string_value(json_object_get(a, "tenant")));
	print_row("DISPLAY NAME", json_string_value(json_object_get(a, "display_name")));
	print_row("TEMPLATE", json_string_value(json_object_get(a, "template")));
	print_row("UIDS", ids);
	print_row("SUBNET", json_string_value(json_object_get(a, "subnet")));
	print_row("DATA", json_string_value(json_object_get(a, "data_dir")));
	print_row("PROFILE", json_string_value(json_object_get(a, "profile")));
}

static int print_json(json_t *v)
{
	char *s = json_dumps(v, JSON_INDENT(2));

	if (s)
		printf("%s\n", s);
	free(s);
	return s && fflush(stdout) == 0 ? 0 : EXIT_FAILED;
}

static int cmd_onboard(int argc, char **argv)
{
	enum { OPT_DISPLAY = 256, OPT_JSON };
	static const struct option longopts[] = {
	    {"template", required_argument, NULL, 't'},
	    {"display-name", required_argument, NULL, OPT_DISPLAY},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *tmpl = NULL, *display = NULL;
	bool as_json = false;
	json_t *req, *reply, *alloc;
	int c, code;

	while ((c = getopt_long(argc, argv, "t:h", longopts, NULL)) != -1) {
		switch (c) {
		case 't':
			tmpl = optarg;
			break;
		case OPT_DISPLAY:
			display = optarg;
			break;
		case OPT_JSON:
			as_json = true;
			break;
		case 'h':
			onboard_usage(stdout);
			return 0;
		default:
			onboard_usage(stderr);
			return EXIT_INVALID;
		}
	}
	if (argc - optind != 1 || !tmpl) {
		fprintf(stderr, "wardctl onboard: expected NAME and --template TEMPLATE\n");
		onboard_usage(stderr);
		return EXIT_INVALID;
	}
	if (!ward_name_valid(argv[optind]) || !ward_name_valid(tmpl)) {
		fprintf(stderr, "wardctl onboard: invalid %s name \"%s\": must match %s\n",
			ward_name_valid(argv[optind]) ? "template" : "tenant",
			ward_name_valid(argv[optind]) ? tmpl : argv[optind], NAME_RULE);
		return EXIT_INVALID;
	}
	if (display && !display_name_plausible(display)) {
		fprintf(stderr, "wardctl onboard: --display-name: must be 1 to 128 characters, "
				"without control characters\n");
		return EXIT_INVALID;
	}
	req = new_request("onboard", argv[optind], NULL);
	if (req) {
		json_object_set_new(req, "template", json_string(tmpl));
		if (display)
			json_object_set_new(req, "display_name", json_string(display));
	}
	reply = request(req);
	if (!reply)
		return EXIT_FAILED;
	alloc = json_object_get(reply, "allocation");
	if (!json_is_object(alloc)) {
		fprintf(stderr, "wardctl: malformed reply from wardd\n");
		json_decref(reply);
		return EXIT_FAILED;
	}
	if (as_json) {
		code = print_json(alloc);
	} else {
		print_allocation(alloc);
		code = fflush(stdout) == 0 ? 0 : EXIT_FAILED;
	}
	json_decref(reply);
	return code;
}

static void offboard_usage(FILE *out)
{
	command_usage(
	    out, "offboard", "NAME (--archive FILE | --purge) [--json]",
	    "Stops practice NAME and removes it: its network (links, rules, subnet),\n"
	    "cgroups, profile and uid range. Its data directory is archived to FILE\n"
	    "(tar, owners and modes kept; wardd creates FILE and never overwrites\n"
	    "one) and then removed, or, with --purge, removed without a copy. Its\n"
	    "logs are kept (renamed NAME.offboarded-TIME) with --archive, removed\n"
	    "with --purge. Waits until it is over. If anything fails before data is\n"
	    "removed, everything is put back and the practice runs again. Needs root\n"
	    "or the admin group.\n"
	    "\n"
	    "  -a, --archive FILE  where the data goes (a new file, outside wardd's data\n"
	    "                      directory; relative to the current directory)\n"
	    "  --purge             delete the data: nothing is kept\n"
	    "  --json              print wardd's report as JSON\n"
	    "  -h, --help          show this help\n");
}

/* The archive path as wardd must see it: absolute (its cwd is not ours),
 * its directory resolved (no "..", no symlink to be read differently). */
static int archive_path(const char *arg, char *out, size_t size)
{
	const char *slash = strrchr(arg, '/'), *base = slash ? slash + 1 : arg;
	char dir[PATH_MAX], real[PATH_MAX];
	int n;

	if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
		fprintf(stderr, "wardctl offboard: --archive %s does not name a file\n", arg);
		return -1;
	}
	if (!slash)
		(void)snprintf(dir, sizeof(dir), ".");
	else if (slash == arg)
		(void)snprintf(dir, sizeof(dir), "/");
	else if ((size_t)(slash - arg) >= sizeof(dir)) {
		fprintf(stderr, "wardctl offboard: --archive: path too long\n");
		return -1;
	} else {
		memcpy(dir, arg, (size_t)(slash - arg));
		dir[slash - arg] = '\0';
	}
	if (!realpath(dir, real)) {
		fprintf(stderr, "wardctl offboard: --archive: directory %s: %s\n", dir,
			strerror(errno));
		return -1;
	}
	n = snprintf(out, size, "%s/%s", strcmp(real, "/") == 0 ? "" : real, base);
	if (n < 0 || (size_t)n >= size) {
		fprintf(stderr, "wardctl offboard: --archive: path too long\n");
		return -1;
	}
	return 0;
}

static void print_offboard_report(json_t *r)
{
	json_int_t uid = json_integer_value(json_object_get(r, "uid"));
	json_int_t count = json_integer_value(json_object_get(r, "count"));
	char ids[96];
	size_t i;
	json_t *w;

	(void)snprintf(ids, sizeof(ids), "%lld-%lld (released)", (long long)uid,
		       (long long)(uid + count - 1));
	print_row("OFFBOARDED", json_string_value(json_object_get(r, "tenant")));
	if (json_is_string(json_object_get(r, "archive")))
		print_row("ARCHIVE", json_string_value(json_object_get(r, "archive")));
	else
		print_row("DATA", "purged");
	print_row("UIDS", ids);
	if (json_is_string(json_object_get(r, "subnet"))) {
		char subnet[64];

		(void)snprintf(subnet, sizeof(subnet), "%.32s (released)",
			       json_string_value(json_object_get(r, "subnet")));
		print_row("SUBNET", subnet);
	} else {
		print_row("SUBNET", NULL);
	}
	print_row("LOGS", json_is_string(json_object_get(r, "logs"))
			      ? json_string_value(json_object_get(r, "logs"))
			      : "removed");
	json_array_foreach(json_object_get(r, "warnings"), i, w)
	{
		if (!json_is_string(w))
			continue;
		fputs("warning: ", stdout);
		print_clean(stdout, json_string_value(w));
		putchar('\n');
	}
}

static int cmd_offboard(int argc, char **argv)
{
	enum { OPT_PURGE = 256, OPT_JSON };
	static const struct option longopts[] = {
	    {"archive", required_argument, NULL, 'a'},
	    {"purge", no_argument, NULL, OPT_PURGE},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *archive = NULL;
	char path[PATH_MAX];
	bool purge = false, as_json = false;
	json_t *req, *reply, *report;
	int c, code;

	while ((c = getopt_long(argc, argv, "a:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'a':
			archive = optarg;
			break;
		case OPT_PURGE:
			purge = true;
			break;
		case OPT_JSON:
			as_json = true;
			break;
		case 'h':
			offboard_usage(stdout);
			return 0;
		default:
			offboard_usage(stderr);
			return EXIT_INVALID;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "wardctl offboard: expected NAME\n");
		offboard_usage(stderr);
		return EXIT_INVALID;
	}
	if (!ward_name_valid(argv[optind])) {
		fprintf(stderr, "wardctl offboard: invalid tenant name \"%s\": must match %s\n",
			argv[optind], NAME_RULE);
		return EXIT_INVALID;
	}
	if (!archive == !purge) {
		fprintf(stderr, "wardctl offboard: %s\n",
			archive ? "--archive and --purge exclude each other"
				: OFFBOARD_NEEDS_ARCHIVE_OR_PURGE);
		return EXIT_INVALID;
	}
	if (archive && archive_path(archive, path, sizeof(path)) < 0)
		return EXIT_INVALID;
	req = new_request("offboard", argv[optind], NULL);
	if (req) {
		if (archive)
			json_object_set_new(req, "archive", json_string(path));
		else
			json_object_set_new(req, "purge", json_true());
	}
	reply = request(req);
	if (!reply)
		return EXIT_FAILED;
	report = json_object_get(reply, "report");
	if (!json_is_object(report)) {
		fprintf(stderr, "wardctl: malformed reply from wardd\n");
		json_decref(reply);
		return EXIT_FAILED;
	}
	if (as_json) {
		code = print_json(report);
	} else {
		print_offboard_report(report);
		code = fflush(stdout) == 0 ? 0 : EXIT_FAILED;
	}
	json_decref(reply);
	return code;
}

/* ---- sessions, kick ---- */

static void sessions_usage(FILE *out)
{
	command_usage(out, "sessions", "[TENANT] [--json]",
		      "Lists the live end-user sessions (of TENANT): id, practice, service,\n"
		      "user, pid, terminal, where from, since when, idle time.\n"
		      "\n"
		      "  --json      print wardd's list as JSON\n"
		      "  -h, --help  show this help\n");
}

/* A string, or an integer, of a session entry as text. */
static void session_cell(json_t *s, const char *key, char *buf, size_t len)
{
	json_t *v = json_object_get(s, key);

	if (json_is_string(v))
		set_cell(buf, json_string_value(v));
	else if (json_is_integer(v))
		(void)snprintf(buf, len, "%lld", (long long)json_integer_value(v));
	else if (json_is_boolean(v))
		set_cell(buf, json_is_true(v) ? "yes" : "no");
	else
		set_cell(buf, NULL);
}

static void print_sessions(json_t *list)
{
	static const char *const keys[] = {"id",  "tenant", "service", "user",  "pid",
					   "tty", "remote", "started", "idle_s"};
	static const char *const header[] = {"ID",  "TENANT", "SERVICE", "USER", "PID",
					     "TTY", "REMOTE", "STARTED", "IDLE"};
	enum { N = sizeof(keys) / sizeof(keys[0]) };
	size_t n = json_array_size(list), width[N] = {0};
	char(*cells)[N][128] = calloc(n + 1, sizeof(*cells));

	if (!cells) {
		fprintf(stderr, "wardctl: out of memory\n");
		return;
	}
	for (size_t k = 0; k < N; k++)
		set_cell(cells[0][k], header[k]);
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < N; k++)
			session_cell(json_array_get(list, i), keys[k], cells[i + 1][k], 128);
	for (size_t i = 0; i <= n; i++)
		for (size_t k = 0; k < N; k++)
			if (strlen(cells[i][k]) > width[k])
				width[k] = strlen(cells[i][k]);
	for (size_t i = 0; i <= n; i++) {
		for (size_t k = 0; k + 1 < N; k++)
			printf("%-*s  ", (int)width[k], cells[i][k]);
		printf("%s\n", cells[i][N - 1]);
	}
	free(cells);
}

static int cmd_sessions(int argc, char **argv)
{
	static const struct view_cmd v = {"sessions", sessions_usage, false,
					  "sessions", JSON_ARRAY,     print_sessions};

	return run_view(&v, argc, argv);
}

static const char kick_help[] = "Ends an end-user session at once (its processes are killed).\n"
				"The session id is the first column of `wardctl sessions`.\n";

static int cmd_kick(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	json_t *req, *reply;
	size_t n;
	int c;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		if (c == 'h') {
			command_usage(stdout, "kick", "SESSION", kick_help);
			return 0;
		}
		command_usage(stderr, "kick", "SESSION", kick_help);
		return EXIT_INVALID;
	}
	if (argc - optind != 1) {
		fprintf(stderr, "wardctl kick: expected SESSION\n");
		command_usage(stderr, "kick", "SESSION", kick_help);
		return EXIT_INVALID;
	}
	n = strlen(argv[optind]);
	if (n < 1 || n > 32 || strspn(argv[optind], "abcdefghijklmnopqrstuvwxyz0123456789-") != n) {
		fprintf(stderr, "wardctl kick: invalid session id \"%s\"\n", argv[optind]);
		return EXIT_INVALID;
	}
	req = json_pack("{s:s, s:s}", "cmd", "kick", "session", argv[optind]);
	reply = request(req);
	if (!reply)
		return EXIT_FAILED;
	json_decref(reply);
	return 0;
}

/* ---- dispatch ---- */

static const struct command command_table[] = {
    {"status", "[TENANT] [--json]", "show the state of every service", cmd_status},
    {"start", "TENANT[/SERVICE]", "start a tenant or one of its services", cmd_start},
    {"stop", "TENANT[/SERVICE]", "stop a tenant or one of its services", cmd_stop},
    {"restart", "TENANT[/SERVICE]", "restart a tenant or one of its services", cmd_restart},
    {"reset", "TENANT/SERVICE", "take a service out of \"failed\"", cmd_reset},
    {"reload", "", "re-read every profile, print what changed", cmd_reload},
    {"logs", "TENANT/SERVICE [-n N] [-f] [--raw]", "print (and follow) a service's output",
     cmd_logs},
    {"net", "TENANT [--json]", "show a tenant's addresses, flows and drop counters", cmd_net},
    {"onboard", "NAME --template T [OPTIONS]", "create and start a practice from a template",
     cmd_onboard},
    {"offboard", "NAME (--archive FILE | --purge)", "stop and remove a practice", cmd_offboard},
    {"sessions", "[TENANT] [--json]", "list live end-user sessions", cmd_sessions},
    {"kick", "SESSION", "end an end-user session", cmd_kick},
    {"check", "[--config FILE] [--policies DIR]... PROFILE...", "validate tenant profiles offline",
     cmd_check},
    {0},
};

static const struct command *commands(void)
{
	return command_table;
}

/* "--name VALUE" or "--name=VALUE" at argv[*i]; advances *i past it.
 * Returns 1 if it matched, 0 if not, -1 if the value is missing. */
static int option_value(int argc, char **argv, int *i, const char *name, const char **value)
{
	size_t n = strlen(name);

	if (strncmp(argv[*i], name, n) != 0)
		return 0;
	if (argv[*i][n] == '=') {
		*value = argv[*i] + n + 1;
		(*i)++;
		return 1;
	}
	if (argv[*i][n] != '\0')
		return 0;
	if (*i + 1 >= argc)
		return -1;
	*value = argv[*i + 1];
	*i += 2;
	return 1;
}

static char state_dir_socket[4096];

/* The options before the command. Returns the index of the command, or -1
 * with *code set (help shown, or a usage error). */
static int parse_global_options(int argc, char **argv, int *code)
{
	const char *sock = NULL, *state_dir = NULL;
	int i = 1;

	*code = EXIT_INVALID;
	while (i < argc && argv[i][0] == '-') {
		const char *a = argv[i];
		int r;

		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			*code = 0;
			return -1;
		}
		if (strcmp(a, "--version") == 0) {
			printf("wardctl %s\n", WARD_VERSION);
			*code = 0;
			return -1;
		}
		if ((r = option_value(argc, argv, &i, "--socket", &sock)) != 0 ||
		    (r = option_value(argc, argv, &i, "--state-dir", &state_dir)) != 0) {
			if (r < 0) {
				fprintf(stderr, "wardctl: %s needs a value\n", a);
				usage(stderr);
				return -1;
			}
			continue;
		}
		fprintf(stderr, "wardctl: unknown option \"%s\"\n", a);
		usage(stderr);
		return -1;
	}
	if (sock && state_dir) {
		fprintf(stderr, "wardctl: --socket and --state-dir exclude each other\n");
		usage(stderr);
		return -1;
	}
	if (sock && !*sock) {
		fprintf(stderr, "wardctl: --socket: empty path\n");
		return -1;
	}
	if (sock)
		socket_path = sock;
	if (state_dir) {
		int n = snprintf(state_dir_socket, sizeof(state_dir_socket), "%s/control.sock",
				 state_dir);

		if (!*state_dir || n < 0 || (size_t)n >= sizeof(state_dir_socket)) {
			fprintf(stderr, "wardctl: --state-dir: invalid directory \"%s\"\n",
				state_dir);
			return -1;
		}
		socket_path = state_dir_socket;
	}
	if (i >= argc) {
		fprintf(stderr, "wardctl: no command given\n");
		usage(stderr);
		return -1;
	}
	return i;
}

int main(int argc, char **argv)
{
	int code, i = parse_global_options(argc, argv, &code);

	if (i < 0)
		return code;
	if (strcmp(argv[i], "help") == 0) {
		usage(stdout);
		return 0;
	}
	for (const struct command *c = commands(); c->name; c++) {
		if (strcmp(argv[i], c->name) == 0) {
			char prog[64];
			int n = snprintf(prog, sizeof(prog), "wardctl %s", c->name);
			/* getopt names argv[0] in its messages: "wardctl check: ...". */
			if (n > 0 && (size_t)n < sizeof(prog))
				argv[i] = prog;
			/* Options of the command start at its own argv[1]. */
			optind = 1;
			return c->run(argc - i, argv + i);
		}
	}
	fprintf(stderr, "wardctl: unknown command \"%s\"\n", argv[i]);
	usage(stderr);
	return EXIT_INVALID;
}
