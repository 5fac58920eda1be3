/* What wardctl's commands share: their usage text, TENANT[/SERVICE]
 * targets, table cells and rows, JSON output, and the shape of the views
 * (status, net, sessions). Whatever wardd sends reaches the terminal
 * without control bytes. */
#include "basic/text.h"
#include "cli/wardctl/wardctl.h"
#include "model/profile.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

int parse_target(const char *arg, bool need_service, char tenant[32], char service[32])
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

void command_usage(FILE *out, const char *name, const char *args, const char *text)
{
	fprintf(out, "usage: wardctl [--socket PATH | --state-dir DIR] %s %s\n\n%s", name, args,
		text);
}

void set_cell(char *cell, const char *s)
{
	text_clean_copy(cell, 128, s && *s ? s : "-");
}

void print_row(const char *key, const char *value)
{
	printf("%-13s ", key);
	text_print_clean(stdout, value && *value ? value : "-");
	putchar('\n');
}

int print_json(json_t *v)
{
	char *s = json_dumps(v, JSON_INDENT(2));

	if (s)
		printf("%s\n", s);
	free(s);
	return s && fflush(stdout) == 0 ? 0 : EXIT_FAILED;
}

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

int run_view(const struct view_cmd *v, int argc, char **argv)
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
