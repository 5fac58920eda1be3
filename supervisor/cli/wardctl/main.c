/* wardctl: the operator's command line. main() only dispatches to one
 * function per subcommand (wardctl.h says where each lives); `check`
 * validates profiles offline, the others send one request to wardd over
 * its control socket. */
#include "build-config.h"
#include "cli/wardctl/wardctl.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

struct command {
	const char *name;
	const char *args;
	const char *summary;
	int (*run)(int argc, char **argv);
};

static const struct command *commands(void);

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
