/* Onboarding as operators see it: the audit records ("onboard",
 * "offboard") and the replies of the control socket (the allocation of an
 * onboarding, the report of an offboarding), the only JSON onboarding
 * builds; the logic in the other files says what happened, this file how
 * it reads. */
#include <stdio.h>

#include "daemon/onboard-internal.h"
#include "basic/log.h"

/* {"tenant", "by", "verdict", ...extra}: extra (taken, may be NULL) is merged in. */
static void audit_job(struct onboarding *ob, const char *event, const char *tenant, const char *by,
		      const char *verdict, json_t *extra)
{
	json_t *f =
	    json_pack("{s:s, s:s, s:s}", "tenant", tenant, "by", by ? by : "", "verdict", verdict);

	if (f && extra)
		json_object_update(f, extra);
	json_decref(extra);
	if (!f) {
		log_msg("audit: %s %s: out of memory", event, tenant);
		return;
	}
	audit_event(ob->audit, event, f);
}

void ob_audit_onboard(struct onboarding *ob, const char *name, const char *tmpl, const char *by,
		      json_t *alloc, const char *reason)
{
	if (reason)
		audit_job(ob, "onboard", name, by, "refused",
			  json_pack("{s:s, s:s}", "template", tmpl, "reason", reason));
	else
		audit_job(ob, "onboard", name, by, "done",
			  json_pack("{s:s, s:O}", "template", tmpl, "allocation", alloc));
}

void ob_audit_offboard_start(struct onboarding *ob, const char *name, const char *archive,
			     bool purge, const char *by, const char *reason)
{
	if (reason)
		audit_job(ob, "offboard", name, by, "refused",
			  json_pack("{s:s?, s:b, s:s}", "archive", archive, "purge", purge,
				    "reason", reason));
	else
		audit_job(ob, "offboard", name, by, "started",
			  json_pack("{s:s?, s:b}", "archive", archive, "purge", purge));
}

void ob_audit_offboard_end(struct onboarding *ob, const struct offboard *o, const char *verdict,
			   const char *error)
{
	if (error)
		audit_job(ob, "offboard", o->name, o->by, verdict,
			  json_pack("{s:s, s:O}", "reason", error, "report", o->report));
	else
		audit_job(ob, "offboard", o->name, o->by, verdict,
			  json_pack("{s:O}", "report", o->report));
}

json_t *ob_allocation_json(const struct onboard_job *j)
{
	char s[20];

	if (j->has_net)
		ob_cidr_string(&j->subnet, s);
	return json_pack("{s:s, s:s?, s:s, s:I, s:I, s:s?, s:s, s:s}", "tenant", j->name,
			 "display_name", j->display_name, "template", j->tmpl, "uid",
			 (json_int_t)j->ids.uid, "count", (json_int_t)j->ids.count, "subnet",
			 j->has_net ? s : NULL, "data_dir", j->data_path, "profile",
			 j->profile_path);
}

/* The report as it starts; its result fields are added as the steps run. */
json_t *ob_offboard_report(const char *name, const struct ward_ids *ids,
			   const struct ward_cidr *subnet, const char *data_dir)
{
	char s[20] = "";

	if (subnet)
		ob_cidr_string(subnet, s);
	return json_pack("{s:s, s:I, s:I, s:s?, s:s, s:[]}", "tenant", name, "uid",
			 (json_int_t)ids->uid, "count", (json_int_t)ids->count, "subnet",
			 s[0] ? s : NULL, "data_dir", data_dir, "warnings");
}

void ob_report_set(json_t *report, const char *key, const char *value)
{
	json_object_set_new(report, key, value ? json_string(value) : json_null());
}

void ob_report_purged(json_t *report)
{
	json_object_set_new(report, "purged", json_true());
}

void ob_report_warn(json_t *report, const char *msg)
{
	json_array_append_new(json_object_get(report, "warnings"), json_string(msg));
}
