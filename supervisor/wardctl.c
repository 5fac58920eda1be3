/* wardctl: the operator's command line. main() only dispatches to one
 * function per subcommand; `check` validates profiles offline. */
#include "config.h"
#include "ward/profile.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Exit codes: 0 all good, 1 an operation failed, 2 bad input or usage. */
enum { EXIT_INVALID = 2 };

struct command {
	const char *name;
	const char *args;
	const char *summary;
	int (*run)(int argc, char **argv);
};

static const struct command *commands(void);

static void usage(FILE *out)
{
	fprintf(out, "usage: wardctl COMMAND [ARGS]...\n\ncommands:\n");
	for (const struct command *c = commands(); c->name; c++)
		fprintf(out, "  %-6s %-34s %s\n", c->name, c->args, c->summary);
	fprintf(out, "\nwardctl COMMAND --help shows the options of a command.\n");
}

/* ---- check ---- */

#define MAX_POLICY_DIRS 32

static void check_usage(FILE *out)
{
	fprintf(out,
		"usage: wardctl check [--policies DIR]... PROFILE...\n"
		"\n"
		"Loads each tenant profile with its policy fragments and checks every\n"
		"field. Prints each error as FILE:LINE:COL: PATH: MESSAGE on stderr.\n"
		"\n"
		"  --policies DIR  look for policy fragments in DIR first (repeatable);\n"
		"                  then PROFILE_DIR/../policies, then %s\n"
		"  -h, --help      show this help\n"
		"\n"
		"Exit status: 0 when every profile is valid, 2 otherwise.\n",
		WARD_POLICY_DIR);
}

static int check_one(const char *path, const struct profile_options *opts)
{
	struct ward_diag diag = {0};
	struct ward_tenant *t = NULL;

	if (profile_load(path, opts, &t, &diag) < 0) {
		diag_print(&diag, stderr);
		diag_free(&diag);
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
	    {"policies", required_argument, NULL, 'P'},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *dirs[MAX_POLICY_DIRS];
	struct profile_options opts = {.policy_dirs = dirs};
	int c, failed = 0;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
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
	/* Every profile is checked, so one run shows every error. */
	for (int i = optind; i < argc; i++)
		if (check_one(argv[i], &opts) < 0)
			failed = 1;
	return failed ? EXIT_INVALID : 0;
}

/* ---- dispatch ---- */

static const struct command command_table[] = {
    {"check", "[--policies DIR]... PROFILE...", "validate tenant profiles offline", cmd_check},
    {0},
};

static const struct command *commands(void)
{
	return command_table;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_INVALID;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("wardctl %s\n", WARD_VERSION);
		return 0;
	}
	for (const struct command *c = commands(); c->name; c++) {
		if (strcmp(argv[1], c->name) == 0) {
			char prog[64];
			int n = snprintf(prog, sizeof(prog), "wardctl %s", c->name);
			/* getopt names argv[0] in its messages: "wardctl check: ...". */
			if (n > 0 && (size_t)n < sizeof(prog))
				argv[1] = prog;
			/* Options of the command start at its own argv[1]. */
			optind = 1;
			return c->run(argc - 1, argv + 1);
		}
	}
	fprintf(stderr, "wardctl: unknown command \"%s\"\n", argv[1]);
	usage(stderr);
	return EXIT_INVALID;
}
