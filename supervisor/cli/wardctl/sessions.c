/* wardctl sessions and kick: the live end-user sessions as a table, and
 * one of them ended. */
#include "cli/wardctl/wardctl.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

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

int cmd_sessions(int argc, char **argv)
{
	static const struct view_cmd v = {"sessions", sessions_usage, false,
					  "sessions", JSON_ARRAY,     print_sessions};

	return run_view(&v, argc, argv);
}

static const char kick_help[] = "Ends an end-user session at once (its processes are killed).\n"
				"The session id is the first column of `wardctl sessions`.\n";

int cmd_kick(int argc, char **argv)
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
