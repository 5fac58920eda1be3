/* wardctl onboard and offboard: a practice created from a template (what
 * was allocated printed), or stopped and removed (its data archived or
 * purged, what was released printed). */
#include "basic/text.h"
#include "cli/wardctl/wardctl.h"
#include "model/names.h"
#include "model/profile.h"
#include "model/protocol.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

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

/* The daemon's own rule (model/names.h), checked here too so a bad name
 * is refused before anything is asked of wardd. */
static bool display_name_plausible(const char *s, const char **why)
{
	return display_name_check(s, strlen(s), NULL, why) == DISPLAY_NAME_OK;
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

int cmd_onboard(int argc, char **argv)
{
	enum { OPT_DISPLAY = 256, OPT_JSON };
	static const struct option longopts[] = {
	    {"template", required_argument, NULL, 't'},
	    {"display-name", required_argument, NULL, OPT_DISPLAY},
	    {"json", no_argument, NULL, OPT_JSON},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	const char *tmpl = NULL, *display = NULL, *why = NULL;
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
	if (display && !display_name_plausible(display, &why)) {
		fprintf(stderr, "wardctl onboard: --display-name: %s\n", why);
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
		text_print_clean(stdout, json_string_value(w));
		putchar('\n');
	}
}

int cmd_offboard(int argc, char **argv)
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
