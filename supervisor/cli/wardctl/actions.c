/* wardctl start, stop, restart, reset (one request about a tenant or a
 * service, nothing printed but a refusal) and reload (which prints what
 * changed). */
#include "basic/text.h"
#include "cli/wardctl/wardctl.h"

#include <getopt.h>

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

int cmd_start(int argc, char **argv)
{
	return run_action(argc, argv, "start", false,
			  "Starts every service of TENANT, or one service. Also takes a\n"
			  "service out of \"failed\".\n");
}

int cmd_stop(int argc, char **argv)
{
	return run_action(argc, argv, "stop", false,
			  "Stops every service of TENANT, or one service. A stopped service\n"
			  "stays stopped until started: no restart undoes it.\n");
}

int cmd_restart(int argc, char **argv)
{
	return run_action(argc, argv, "restart", false,
			  "Stops, then starts every service of TENANT, or one service.\n");
}

int cmd_reset(int argc, char **argv)
{
	return run_action(argc, argv, "reset", true,
			  "Takes a service out of \"failed\" and clears its restart counter,\n"
			  "without starting it.\n");
}

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
		text_print_clean(stdout, json_string_value(v));
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
		text_print_clean(stdout, tenant ? tenant : "?");
		putchar('\n');
		json_array_foreach(json_object_get(r, "errors"), j, e)
		{
			if (!json_is_string(e))
				continue;
			printf("  ");
			text_print_clean(stdout, json_string_value(e));
			putchar('\n');
		}
		n++;
	}
	if (n == 0)
		printf("no changes\n");
}

int cmd_reload(int argc, char **argv)
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
