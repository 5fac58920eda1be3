/* The operator's API: start, stop, restart, reset, and what sessions,
 * onboarding and the control socket ask of the supervisor. */
#include <errno.h>
#include <string.h>

#include "daemon/supervise-internal.h"

int supervisor_lookup(struct supervisor *s, const char *tenant, const char *service,
		      struct tenant_rt **t, struct svc **v, struct ward_err *err)
{
	*t = find_tenant(s, tenant);
	*v = NULL;
	if (!*t)
		return ward_err_set(err, 0, "no tenant \"%s\"", tenant);
	if (service) {
		*v = tenant_svc(*t, service);
		if (!*v)
			return ward_err_set(err, 0, "tenant %s has no service \"%s\"", tenant,
					    service);
	}
	return 0;
}

static void svc_operator_start(struct svc *v)
{
	v->want_running = true;
	v->after_stop = AFTER_STOP_NOTHING;
	if (v->state == SERVICE_FAILED) {
		/* An operator's start leaves failed and forgets the history. */
		v->hist.n = 0;
		v->hist.consecutive = 0;
		svc_set_state(v, SERVICE_STOPPED);
	}
	if (v->state == SERVICE_BACKOFF) {
		svc_cancel_timer(v);
		svc_set_state(v, SERVICE_STOPPED);
	}
}

int supervisor_start(struct supervisor *s, const char *tenant, const char *service,
		     struct ward_err *err)
{
	struct tenant_rt *t;
	struct svc *v;

	if (supervisor_lookup(s, tenant, service, &t, &v, err) < 0)
		return -1;
	for (size_t i = 0; i < t->n_svcs; i++)
		if (!v || t->svcs[i] == v)
			svc_operator_start(t->svcs[i]);
	tenant_progress(t);
	return 0;
}

int supervisor_stop(struct supervisor *s, const char *tenant, const char *service,
		    struct ward_err *err)
{
	struct tenant_rt *t;
	struct svc *v;

	if (supervisor_lookup(s, tenant, service, &t, &v, err) < 0)
		return -1;
	if (v) {
		v->after_stop = AFTER_STOP_NOTHING;
		svc_stop(v, STOP_BY_OPERATOR);
	} else {
		/* The whole tenant: dependents first, through tenant_progress. */
		for (size_t i = 0; i < t->n_svcs; i++) {
			t->svcs[i]->want_running = false;
			t->svcs[i]->after_stop = AFTER_STOP_NOTHING;
			t->svcs[i]->stop_by = STOP_BY_OPERATOR;
			if (t->svcs[i]->state == SERVICE_BACKOFF ||
			    t->svcs[i]->state == SERVICE_FAILED)
				svc_stop(t->svcs[i], STOP_BY_OPERATOR);
		}
	}
	tenant_progress(t);
	return 0;
}

int supervisor_restart(struct supervisor *s, const char *tenant, const char *service,
		       struct ward_err *err)
{
	struct tenant_rt *t;
	struct svc *v;

	if (supervisor_lookup(s, tenant, service, &t, &v, err) < 0)
		return -1;
	for (size_t i = 0; i < t->n_svcs; i++) {
		struct svc *x = t->svcs[i];
		if (v && x != v)
			continue;
		svc_operator_start(x);
		if (svc_active(x) && x->state != SERVICE_STOPPING) {
			x->after_stop = AFTER_STOP_START;
			svc_stop(x, STOP_BY_OPERATOR);
		} else if (x->state == SERVICE_STOPPING) {
			x->after_stop = AFTER_STOP_START;
		}
	}
	tenant_progress(t);
	return 0;
}

int supervisor_reset(struct supervisor *s, const char *tenant, const char *service,
		     struct ward_err *err)
{
	struct tenant_rt *t;
	struct svc *v;

	if (supervisor_lookup(s, tenant, service, &t, &v, err) < 0)
		return -1;
	for (size_t i = 0; i < t->n_svcs; i++) {
		struct svc *x = t->svcs[i];
		if ((v && x != v) || x->state != SERVICE_FAILED)
			continue;
		x->hist.n = 0;
		x->hist.consecutive = 0;
		svc_set_state(x, SERVICE_STOPPED);
		x->want_running = false;
		audit_svc(x, "service-reset", NULL);
	}
	return 0;
}

int supervisor_log_path(struct supervisor *s, const char *tenant, const char *service, char *buf,
			size_t len, struct ward_err *err)
{
	struct tenant_rt *t;
	struct svc *v;

	if (supervisor_lookup(s, tenant, service, &t, &v, err) < 0)
		return -1;
	if (!v)
		return ward_err_set(err, 0, "logs need TENANT/SERVICE");
	if (svc_log_path(v, buf, len) < 0)
		return ward_err_set(err, ENAMETOOLONG, "log path");
	return 0;
}

int supervisor_remove_tenant(struct supervisor *s, const char *tenant, supervisor_gone_fn done,
			     void *ud, struct ward_err *err)
{
	struct tenant_rt *t = find_tenant(s, tenant);

	if (!t)
		return ward_err_set(err, 0, "no tenant \"%s\"", tenant);
	t->removing = true;
	t->gone = done;
	t->gone_ud = ud;
	for (size_t i = 0; i < t->n_svcs; i++) {
		t->svcs[i]->want_running = false;
		t->svcs[i]->after_stop = AFTER_STOP_NOTHING;
		if (t->svcs[i]->state == SERVICE_BACKOFF || t->svcs[i]->state == SERVICE_FAILED)
			svc_stop(t->svcs[i], STOP_BY_OPERATOR);
	}
	tenant_progress(t); /* may call done and free t at once */
	return 0;
}

bool supervisor_has_tenant(struct supervisor *s, const char *tenant)
{
	for (struct tenant_rt *t = s->tenants; t; t = t->next)
		if (strcmp(t->profile->name, tenant) == 0)
			return true; /* also while it is being removed */
	return false;
}

int supervisor_each_tenant(struct supervisor *s, int (*fn)(const struct ward_tenant *t, void *ud),
			   void *ud)
{
	for (struct tenant_rt *t = s->tenants; t; t = t->next) {
		int r;
		if (t->removing)
			continue;
		r = fn(t->profile, ud);
		if (r)
			return r;
	}
	return 0;
}

int supervisor_service_view(struct supervisor *s, const char *tenant, const char *service,
			    struct service_view *out, struct ward_err *err)
{
	struct tenant_rt *t;
	struct svc *v;

	if (supervisor_lookup(s, tenant, service, &t, &v, err) < 0)
		return -1;
	if (!v)
		return ward_err_set(err, 0, "need TENANT/SERVICE");
	*out = (struct service_view){
	    .tenant = t->profile,
	    .service = v->def,
	    .state = v->state,
	    .init_pid = v->sb.h.pid,
	    .init_pidfd = v->sb.h.pidfd,
	    .service_pid = v->service_pid,
	};
	return 0;
}

void supervisor_set_network(struct supervisor *s, struct network *net)
{
	s->net = net;
}

void supervisor_set_output_hook(struct supervisor *s, supervisor_output_fn fn, void *ud)
{
	s->out_fn = fn;
	s->out_ud = ud;
}
