/* What a control request does: authorized, audited (allowed or refused,
 * before the reply), dispatched to the supervisor, onboarding or sessions;
 * an offboard replied to once it is over. */
#include "daemon/control-internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "basic/log.h"
#include "basic/text.h"
#include "daemon/onboard.h"
#include "daemon/session.h"

static json_t *json_string_or_null(const char *s)
{
	return s && *s ? control_json_string_lossy(s, strlen(s)) : json_null();
}

/* One "control" record. Takes cmd, tenant, service and extra (fields of
 * some commands; may be NULL). */
void control_audit(struct control *ctl, const struct peer_info *p, json_t *cmd, json_t *tenant,
		   json_t *service, json_t *extra, const char *verdict, const char *result)
{
	json_t *peer = json_object();
	json_t *f = json_object();

	if (!peer || !f) {
		json_decref(peer);
		json_decref(f);
		json_decref(cmd);
		json_decref(tenant);
		json_decref(service);
		json_decref(extra);
		log_msg("audit: out of memory");
		return;
	}
	json_object_set_new(peer, "pid", json_integer(p->pid));
	json_object_set_new(peer, "uid", json_integer(p->uid));
	json_object_set_new(peer, "gid", json_integer(p->gid));
	json_object_set_new(peer, "user", control_json_string_lossy(p->user, strlen(p->user)));
	json_object_set_new(f, "peer", peer);
	json_object_set_new(f, "cmd", cmd ? cmd : json_null());
	json_object_set_new(f, "tenant", tenant ? tenant : json_null());
	json_object_set_new(f, "service", service ? service : json_null());
	if (extra)
		json_object_update_missing(f, extra);
	json_decref(extra);
	json_object_set_new(f, "verdict", json_string(verdict));
	json_object_set_new(f, "result", control_json_string_lossy(result, strlen(result)));
	/* A refusal is what anyone in the socket's group can cause at will:
	 * rate limited per uid, the rest counted in a summary. */
	if (strcmp(verdict, "refused") == 0)
		audit_refused(ctl->audit, p->uid, "control", f);
	else
		audit_event(ctl->audit, "control", f);
}

/* What the newer commands carry besides tenant and service. */
static json_t *request_extra(const struct control_request *req)
{
	switch (req->cmd) {
	case CONTROL_ONBOARD:
		return json_pack("{s:s, s:s?}", "template", req->tmpl, "display_name",
				 req->display_name[0] ? req->display_name : NULL);
	case CONTROL_OFFBOARD:
		return json_pack("{s:s?, s:b}", "archive", req->archive[0] ? req->archive : NULL,
				 "purge", req->purge);
	case CONTROL_KICK:
		return json_pack("{s:s}", "session", req->session);
	default:
		return NULL;
	}
}

static void audit_request_as(struct control *ctl, const struct peer_info *peer,
			     const struct control_request *req, const char *verdict,
			     const char *result)
{
	control_audit(ctl, peer, json_string(control_cmd_to_string(req->cmd)),
		      json_string_or_null(req->tenant), json_string_or_null(req->service),
		      request_extra(req), verdict, result);
}

static void audit_request(struct client *c, const struct control_request *req, const char *verdict,
			  const char *result)
{
	audit_request_as(c->ctl, &c->peer, req, verdict, result);
}

/* What a request that did not parse said it was, for the record: a string
 * field as given (cut short), else null. */
static json_t *raw_field(json_t *root, const char *key)
{
	json_t *v = json_object_get(root, key);
	const char *s;
	size_t n;

	if (!json_is_string(v))
		return json_null();
	s = json_string_value(v);
	/* Not cut in the middle of a character. */
	n = text_utf8_cut(s, json_string_length(v), AUDIT_VALUE_MAX);
	return control_json_string_lossy(s, n);
}

static void audit_malformed(struct client *c, const char *line, size_t len, const char *result)
{
	json_t *root = NULL;

	if (len < CONTROL_MAX_REQUEST && !memchr(line, '\0', len))
		root = json_loadb(line, len, JSON_DECODE_ANY, NULL);
	if (json_is_object(root))
		control_audit(c->ctl, &c->peer, raw_field(root, "cmd"), raw_field(root, "tenant"),
			      raw_field(root, "service"), NULL, "refused", result);
	else
		control_audit(c->ctl, &c->peer, NULL, NULL, NULL, NULL, "refused", result);
	json_decref(root);
}

/* Opens the tail the reply streams (see control_client_stream_fill). */
static int logs_open(struct client *c, const struct control_request *req, struct ward_err *err)
{
	char path[PATH_MAX];

	if (supervisor_log_path(c->ctl->sup, req->tenant, req->service, path, sizeof(path), err) <
	    0)
		return -1;
	/* A missing file (the service has not written anything yet) reads as
	 * empty. */
	c->logs.reader = log_reader_open(path, req->lines, CONTROL_LOGS_MAX_BYTES, err);
	return c->logs.reader ? 0 : -1;
}

/* The deferred reply of an offboard: audited, then sent if the client is
 * still there, whose waiting requests then go on. */
static void on_offboard_done(json_t *report, const char *error, void *ud)
{
	struct pending *p = ud;
	struct control *ctl = p->ctl;
	struct client *c;
	bool was_busy;

	if (!ctl) { /* the socket is gone; onboard.c audited the outcome */
		free(p);
		return;
	}
	if (p->prev)
		p->prev->next = p->next;
	else
		ctl->pendings = p->next;
	if (p->next)
		p->next->prev = p->prev;
	audit_request_as(ctl, &p->peer, &p->req, "allowed", error ? error : "ok");
	c = control_client_by_id(ctl, p->client_id);
	free(p);
	if (!c)
		return;
	/* Busy while replying: a failed send only marks it dead. */
	was_busy = c->busy;
	c->busy = true;
	c->waiting = false;
	if (error) {
		control_client_reply_error(c, error);
	} else {
		control_client_reply(c, json_pack("{s:b, s:O}", "ok", true, "report", report));
	}
	if (was_busy) /* done came at once: its own callback goes on from here */
		return;
	/* c is busy until below: what drops it only marks it dead (clang-analyzer
	 * loses the busy flag across the loop's calls and sees it freed). */
	/* NOLINTBEGIN(clang-analyzer-unix.Malloc) */
	if (!c->dead)
		control_client_arm_idle(c);
	if (!c->dead)
		control_client_take_lines(c); /* the requests that waited */
	if (!c->dead)
		control_client_flush(c);
	control_client_settle(c);
	/* NOLINTEND(clang-analyzer-unix.Malloc) */
}

/* 1: the reply comes with on_offboard_done. */
static int offboard_defer(struct client *c, const struct control_request *req, struct ward_err *err)
{
	struct control *ctl = c->ctl;
	struct pending *p;

	if (!ctl->ob)
		return ward_err_set(err, 0, "onboarding is not available");
	p = calloc(1, sizeof(*p));
	if (!p)
		return ward_err_set(err, ENOMEM, "offboard");
	p->ctl = ctl;
	p->client_id = c->id;
	p->peer = c->peer;
	p->req = *req;
	p->next = ctl->pendings;
	if (ctl->pendings)
		ctl->pendings->prev = p;
	ctl->pendings = p;
	/* Before the call: done may come before it returns. */
	c->waiting = true;
	control_client_arm_idle(c);
	if (offboard_tenant(ctl->ob, req->tenant, req->archive[0] ? req->archive : NULL, req->purge,
			    c->peer.user, on_offboard_done, p, err) < 0) {
		ctl->pendings = p->next;
		if (p->next)
			p->next->prev = NULL;
		free(p);
		c->waiting = false;
		control_client_arm_idle(c);
		return -1;
	}
	return 1;
}

/* Runs an authorized request; fills reply (the fields beside "ok") or err.
 * Returns 0, -1, or 1 when the reply is deferred. */
static int dispatch(struct client *c, const struct control_request *req, json_t *reply,
		    struct ward_err *err)
{
	struct control *ctl = c->ctl;
	const char *tenant = req->tenant[0] ? req->tenant : NULL;
	const char *service = req->service[0] ? req->service : NULL;
	json_t *v;

	switch (req->cmd) {
	case CONTROL_STATUS:
		v = supervisor_status(ctl->sup, tenant, err);
		if (!v)
			return -1;
		json_object_set_new(reply, "audit", audit_state(ctl->audit));
		return json_object_set_new(reply, "services", v);
	case CONTROL_START:
		return supervisor_start(ctl->sup, tenant, service, err);
	case CONTROL_STOP:
		return supervisor_stop(ctl->sup, tenant, service, err);
	case CONTROL_RESTART:
		return supervisor_restart(ctl->sup, tenant, service, err);
	case CONTROL_RESET:
		return supervisor_reset(ctl->sup, tenant, service, err);
	case CONTROL_RELOAD:
		v = supervisor_reload(ctl->sup);
		if (!v)
			return ward_err_set(err, 0, "reload failed");
		return json_object_set_new(reply, "report", v);
	case CONTROL_LOGS:
		return logs_open(c, req, err); /* the reply is streamed */
	case CONTROL_NET:
		v = supervisor_net(ctl->sup, tenant, err);
		if (!v)
			return -1;
		return json_object_set_new(reply, "net", v);
	case CONTROL_ONBOARD:
		if (!ctl->ob)
			return ward_err_set(err, 0, "onboarding is not available");
		v = onboard_tenant(ctl->ob, req->tenant, req->tmpl,
				   req->display_name[0] ? req->display_name : NULL, c->peer.user,
				   err);
		if (!v)
			return -1;
		return json_object_set_new(reply, "allocation", v);
	case CONTROL_OFFBOARD:
		return offboard_defer(c, req, err);
	case CONTROL_SESSIONS:
		if (!ctl->ss)
			return ward_err_set(err, 0, "sessions are not available");
		v = session_list(ctl->ss, tenant, err);
		if (!v)
			return -1;
		return json_object_set_new(reply, "sessions", v);
	case CONTROL_KICK:
		if (!ctl->ss)
			return ward_err_set(err, 0, "sessions are not available");
		return session_kick(ctl->ss, req->session, c->peer.user, err);
	}
	return ward_err_set(err, 0, "unknown command");
}

void control_client_handle_line(struct client *c, const char *line, size_t len)
{
	struct control_request req;
	struct ward_err err = {0};
	json_t *reply;
	int r;

	control_client_arm_idle(c);
	if (c->dead)
		return;
	if (control_parse_request(line, len, &req, &err) < 0) {
		char msg[sizeof(err.msg) + 32];

		(void)snprintf(msg, sizeof(msg), "malformed request: %s", err.msg);
		/* Recorded before the reply, so a peer that has the reply finds it
		 * in the log. */
		audit_malformed(c, line, len, msg);
		control_client_reply_error(c, msg);
		return;
	}
	if (c->right < control_cmd_right(req.cmd)) {
		audit_request(c, &req, "refused", "permission denied");
		control_client_reply_error(c, "permission denied");
		return;
	}
	/* Fail closed: nothing changes state unless its record can be
	 * written. What only reads (status above all, which shows the
	 * failure) still answers. */
	if (control_cmd_right(req.cmd) >= RIGHT_OPERATE && audit_ready(c->ctl->audit, &err) < 0) {
		audit_request(c, &req, "refused", err.msg);
		control_client_reply_error(c, err.msg);
		return;
	}
	reply = json_object();
	if (!reply || json_object_set_new(reply, "ok", json_true()) < 0) {
		json_decref(reply);
		ward_err_set(&err, ENOMEM, "%s", control_cmd_to_string(req.cmd));
		reply = NULL;
	} else if ((r = dispatch(c, &req, reply, &err)) < 0) {
		json_decref(reply);
		reply = NULL;
		if (!err.msg[0])
			ward_err_set(&err, 0, "%s failed", control_cmd_to_string(req.cmd));
	} else if (r > 0) {
		json_decref(reply); /* on_offboard_done audits and replies */
		return;
	}
	audit_request(c, &req, "allowed", reply ? "ok" : err.msg);
	if (!reply) {
		control_client_reply_error(c, err.msg);
		return;
	}
	if (req.cmd == CONTROL_LOGS) {
		static const char head[] = "{\"ok\":true,\"data\":\"";

		json_decref(reply);
		/* Following from now: what the service writes after the tail
		 * was opened is held until the reply is complete. */
		if (req.follow) {
			c->logs.following = true;
			memcpy(c->logs.tenant, req.tenant, sizeof(c->logs.tenant));
			memcpy(c->logs.service, req.service, sizeof(c->logs.service));
		}
		if (control_client_queue(c, head, sizeof(head) - 1, Q_STREAM) < 0)
			return;
		control_client_stream_fill(c);
		return;
	}
	control_client_reply(c, reply);
}
