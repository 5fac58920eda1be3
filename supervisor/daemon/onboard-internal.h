/* What the files of onboarding share (onboard.c, offboard.c, idpool.c,
 * template.c, onboard-view.c, onboard-common.c): the module's state, one
 * onboarding's job, one offboarding, and the functions each offers the
 * others. Internal to them; everyone else uses daemon/onboard.h.
 *
 * Conventions as in onboard.h: int functions return 0 or -1 with err set
 * (errno for the ob_ file helpers, which take no err); pointers are new
 * (caller frees) unless said otherwise. */
#pragma once

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "basic/error.h"
#include "basic/loop.h"
#include "daemon/audit.h"
#include "daemon/onboard.h"
#include "daemon/supervise.h"
#include "model/config.h"
#include "model/names.h"
#include "model/profile.h"
#include "net/network.h"

#define PROFILE_SUFFIX ".json"
#define ASIDE_SUFFIX   ".json.offboarding" /* not *.json: a reload does not load it */
#define CHILD_ERR_MAX  600                 /* bytes of a child's stderr kept for the message */
#define BY_MAX         64

struct offboard;

struct onboarding {
	const struct ward_config *cfg;
	struct loop *loop;
	struct supervisor *sup;
	struct network *net;
	struct audit *audit;
	struct offboard *offboards; /* under way */
};

/* What one onboarding has done so far: the rollback undoes exactly that. */
struct onboard_job {
	const char *name, *tmpl, *display_name;
	char tmpl_path[PATH_MAX];
	char profile_path[PATH_MAX];
	char data_path[PATH_MAX];
	struct ward_ids ids;
	bool has_net;
	struct ward_cidr subnet;

	bool net_held;     /* network_tenant_prepare allocated (or found) a subnet */
	bool data_made;    /* DATA_DIR/NAME was created by us */
	bool profile_made; /* TENANTS/NAME.json was renamed in by us */
};

/* One offboarding under way (offboard.c), on ob->offboards. */
struct offboard {
	struct onboarding *ob;
	struct offboard *next;
	char name[WARD_NAME_MAX + 1];
	char by[BY_MAX];
	struct ward_ids ids;
	bool purge;
	char archive[PATH_MAX];
	int archive_fd;
	dev_t archive_dev;
	ino_t archive_ino;
	bool aside; /* the profile is TENANTS/NAME.json.offboarding */
	enum offboard_step {
		STEP_STOPPING,  /* the supervisor stops the tenant */
		STEP_STOPPED,   /* it is down; the next step runs from a timer */
		STEP_ARCHIVING, /* tar runs */
		STEP_REMOVING,  /* the data (and on purge the logs) are being removed */
	} step;
	struct loop_timer *timer;
	pid_t child;
	int pidfd, err_fd;
	char child_err[CHILD_ERR_MAX];
	size_t child_err_len;
	json_t *report;
	offboard_done_fn done;
	void *ud;
};

/* ---- onboard-common.c: small helpers ---- */

/* dir/name+suffix into buf; -1 with errno ENAMETOOLONG if it does not fit. */
int ob_path_join(char *buf, size_t size, const char *dir, const char *name, const char *suffix);
void ob_cidr_string(const struct ward_cidr *c, char buf[20]);
int ob_fsync_dir(const char *path);
/* Text from files and children in a message: no control bytes. */
void ob_sanitize(char *s);
/* Makes room for element n of *v (of *cap, each size bytes). -1 if out of
 * memory, *v unchanged. */
int ob_grow(void **v, size_t *cap, size_t n, size_t size);
/* Whether the JSON array list holds the string name. */
bool ob_name_listed(json_t *list, const char *name);

/* ---- idpool.c: the uid pool ---- */

/* j->ids: the first range of the pool that no profile, live tenant, tenant
 * being offboarded or process uses. */
int idpool_pick(struct onboarding *ob, struct onboard_job *j, struct ward_err *err);
/* After the pool gave j->subnet: no profile file may name it (one that is
 * not loaded, or being offboarded, would collide once it is). */
int idpool_subnet_unclaimed(struct onboarding *ob, struct onboard_job *j, struct ward_err *err);

/* ---- template.c: a profile made from a template ---- */

/* TEMPLATES_DIR/j->tmpl.json, checked to leave to onboarding what is its
 * own, "{tenant}" filled in; sets j->tmpl_path. */
json_t *template_load(struct onboarding *ob, struct onboard_job *j, struct ward_err *err);
/* The profile's text (the template and what the job holds: ids if
 * with_ids, the subnet if j->has_net), loaded as the supervisor will load
 * it; *t gets the result. NULL with err (the template's errors) otherwise. */
char *template_profile_make(struct onboarding *ob, struct onboard_job *j, json_t *tmpl,
			    bool with_ids, size_t *len, struct ward_tenant **t,
			    struct ward_err *err);

/* ---- offboard.c ---- */

struct offboard *offboard_find(struct onboarding *ob, const char *name);
/* Ends every offboarding under way, as onboarding_free says. */
void offboards_end(struct onboarding *ob);

/* ---- onboard-view.c: the audit records and the replies ---- */

void ob_audit_onboard(struct onboarding *ob, const char *name, const char *tmpl, const char *by,
		      json_t *alloc, const char *reason);
void ob_audit_offboard_start(struct onboarding *ob, const char *name, const char *archive,
			     bool purge, const char *by, const char *reason);
void ob_audit_offboard_end(struct onboarding *ob, const struct offboard *o, const char *verdict,
			   const char *error);
/* onboard_tenant's reply. */
json_t *ob_allocation_json(const struct onboard_job *j);
/* offboard_tenant's report as it starts; the steps add to it with the
 * ob_report_ functions (which ignore a failure: the report is what could be
 * said). subnet may be NULL. */
json_t *ob_offboard_report(const char *name, const struct ward_ids *ids,
			   const struct ward_cidr *subnet, const char *data_dir);
/* report[key] = value, or null when value is NULL. */
void ob_report_set(json_t *report, const char *key, const char *value);
void ob_report_purged(json_t *report);
void ob_report_warn(json_t *report, const char *msg);
