/* wardctl logs: the last lines a service wrote, then (with -f) what it
 * writes, streamed by wardd on the one connection. Escaped on a terminal
 * (text_write_escaped): a tenant's output must not drive the operator's
 * terminal. */
#include "basic/text.h"
#include "cli/wardctl/wardctl.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_LINES_MAX 100000

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

/* Prints the "data" of a message; -1 if stdout failed. */
static int print_data(json_t *msg)
{
	json_t *data = json_object_get(msg, "data");
	int r;

	if (!json_is_string(data))
		return 0;
	if (escape_logs)
		r = text_write_escaped(stdout, json_string_value(data), json_string_length(data));
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

int cmd_logs(int argc, char **argv)
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
