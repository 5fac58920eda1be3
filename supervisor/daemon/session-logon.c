/* Sessions: the logon decision. Who the user is comes from the kernel
 * (SO_PEERCRED) and the name service (userdb, off the loop); the one
 * practice whose sessions.groups the user is in, its service running,
 * room under its session limit; then the start (session-launch.c).
 * Every refusal is audited (session_refuse). */
#include "daemon/session-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "basic/cleanup.h"

#define PTS_MAJOR 136 /* UNIX98 pty slaves (all of them, with 20-bit minors) */

int session_uid_for(const struct ward_ids *ids, uid_t host_uid, uid_t *out)
{
	uint32_t room;

	if (!ids->set || ids->count <= SESSION_UID_OFFSET)
		return -1;
	room = ids->count - SESSION_UID_OFFSET;
	*out = (uid_t)(ids->uid + SESSION_UID_OFFSET + (uint32_t)host_uid % room);
	return 0;
}

bool session_user_name_valid(const char *name)
{
	size_t n = 0;

	if (!name || !*name)
		return false;
	for (; name[n]; n++) {
		char c = name[n];
		bool alnum =
		    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');

		if (!(alnum || c == '_' || (n > 0 && (c == '.' || c == '@' || c == '-'))))
			return false;
	}
	return n <= 64;
}

bool session_in_groups(char *const *names, size_t n_names, const char *user_groups,
		       size_t n_user_groups)
{
	for (size_t i = 0; i < n_names; i++) {
		const char *g = user_groups;

		if (!names[i] || !*names[i])
			continue;
		for (size_t j = 0; j < n_user_groups; j++, g += strlen(g) + 1)
			if (strcmp(g, names[i]) == 0)
				return true;
	}
	return false;
}

struct match {
	const char *groups;
	size_t n_groups;
	const struct ward_tenant *found;
	size_t n_found;
	char names[256];
};

static int match_tenant(const struct ward_tenant *t, void *ud)
{
	struct match *m = ud;
	size_t len = strlen(m->names);

	if (!t->sessions.present ||
	    !session_in_groups(t->sessions.groups, t->sessions.n_groups, m->groups, m->n_groups))
		return 0;
	if (!m->found)
		m->found = t;
	m->n_found++;
	if (len < sizeof(m->names) - 1)
		(void)snprintf(m->names + len, sizeof(m->names) - len, "%s%s", len ? ", " : "",
			       t->name);
	return 0;
}

static const struct ward_service *session_service(const struct ward_tenant *t)
{
	if (t->sessions.service)
		return tenant_find_service(t, t->sessions.service);
	/* Unnamed: only a tenant of one service leaves no doubt. */
	return t->n_services == 1 ? &t->services[0] : NULL;
}

static size_t tenant_sessions(struct session_server *ss, const char *tenant)
{
	size_t n = 0;

	for (struct session *s = ss->sessions; s; s = s->next)
		if (session_counted(s) && strcmp(s->tenant, tenant) == 0)
			n++;
	return n;
}

/* The user's terminal, for the audit log and `wardctl sessions`: the
 * controlling terminal of the process that connected (SO_PEERCRED), as the
 * kernel reports it in field 7 of /proc/PID/stat: not the client's word,
 * and not through any fd of the client's. "" when it has none. */
static void tty_name_of(struct session *s)
{
	char path[64], buf[512];
	_cleanup_close_ int fd = -1;
	const char *p;
	char *end;
	unsigned long dev;
	ssize_t n;

	s->tty_name[0] = '\0';
	if (!s->req.tty || s->peer.pid <= 0)
		return;
	(void)snprintf(path, sizeof(path), "/proc/%d/stat", (int)s->peer.pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (n <= 0)
		return;
	buf[n] = '\0';
	/* pid (comm) state ppid pgrp session tty_nr: comm may hold anything,
	 * so the fields count from its last ')'. */
	p = strrchr(buf, ')');
	for (int field = 0; p && field < 5; field++)
		p = strchr(p + 1, ' ');
	if (!p)
		return;
	errno = 0;
	dev = strtoul(p + 1, &end, 10);
	if (errno || end == p + 1 || *end != ' ' || dev == 0)
		return;
	if (major(dev) == PTS_MAJOR)
		(void)snprintf(s->tty_name, sizeof(s->tty_name), "/dev/pts/%u", minor(dev));
	else
		(void)snprintf(s->tty_name, sizeof(s->tty_name), "/dev/char/%u:%u", major(dev),
			       minor(dev));
}

void session_handle_request(struct session *s, const char *line, size_t len)
{
	struct session_server *ss = s->ss;
	char reason[sizeof(((struct ward_err *)NULL)->msg) + 64];
	struct match m = {0};
	struct service_view view;
	const struct ward_service *svc;
	struct ward_err err = {0};

	session_timer_clear(s);
	if (session_parse_request(line, len, &s->req, &err) < 0) {
		(void)snprintf(reason, sizeof(reason), "malformed request: %s", err.msg);
		session_refuse(s, reason);
		return;
	}
	tty_name_of(s);
	if (ss->stopping) {
		session_refuse(s, "daemon stopping");
		return;
	}
	/* Fail closed: no logon that could not be recorded. */
	if (audit_ready(ss->audit, &err) < 0) {
		session_refuse(s, err.msg);
		return;
	}
	if (s->peer.lookup_err) {
		if (s->peer.lookup_err == ENOENT)
			session_refuse(s, "unknown user");
		else {
			(void)snprintf(reason, sizeof(reason), "user lookup failed: %s",
				       strerror(s->peer.lookup_err));
			session_refuse(s, reason);
		}
		return;
	}
	m.groups = s->peer.groups;
	m.n_groups = s->peer.n_groups;
	supervisor_each_tenant(ss->sup, match_tenant, &m);
	if (m.n_found == 0) {
		session_refuse(s, "no practice");
		return;
	}
	if (m.n_found > 1) {
		(void)snprintf(reason, sizeof(reason), "more than one practice: %s", m.names);
		session_refuse(s, reason);
		return;
	}
	(void)snprintf(s->tenant, sizeof(s->tenant), "%s", m.found->name);
	(void)snprintf(s->display_name, sizeof(s->display_name), "%s",
		       m.found->display_name ? m.found->display_name : "");
	svc = session_service(m.found);
	if (!svc) {
		session_refuse(
		    s, "policy error: sessions.service not set and the tenant has more than "
		       "one service");
		return;
	}
	(void)snprintf(s->service, sizeof(s->service), "%s", svc->name);
	if (supervisor_service_view(ss->sup, s->tenant, s->service, &view, &err) < 0 ||
	    view.state != SERVICE_RUNNING || view.init_pidfd < 0 || view.init_pid <= 0) {
		session_refuse(s, "practice stopped");
		return;
	}
	if (tenant_sessions(ss, s->tenant) >= m.found->sessions.max) {
		session_refuse(s, "session limit");
		return;
	}
	if (session_start(s, m.found, &view, &err) < 0) {
		(void)snprintf(reason, sizeof(reason), "policy error: %s", err.msg);
		session_refuse(s, reason);
		return;
	}
}
