/* wardctl check: tenant profiles validated offline, as wardd would load
 * them, optionally against wardd's settings and the host's subordinate
 * ids. Talks to no daemon. */
#include "build-config.h"
#include "cli/wardctl/wardctl.h"
#include "basic/cleanup.h"
#include "model/config.h"
#include "model/profile.h"
#include "model/subid.h"

#include <getopt.h>
#include <stdio.h>

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
	_cleanup_(diag_freep) struct ward_diag diag = {0};
	_cleanup_(tenant_freep) struct ward_tenant *t = NULL;
	struct ward_err err = {0};

	if (profile_load(path, opts, &t, &diag) < 0) {
		diag_print(&diag, stderr);
		return -1;
	}
	if (sub && t->ids.set &&
	    subids_check(sub, "ids: uid range", t->ids.uid, t->ids.count, &err) < 0) {
		fprintf(stderr, "%s: %s\n", path, err.msg);
		return -1;
	}
	printf("%s: ok: tenant %s, %zu service%s%s\n", path, t->name, t->n_services,
	       t->n_services == 1 ? "" : "s", t->sessions.present ? ", sessions" : "");
	return 0;
}

int cmd_check(int argc, char **argv)
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
