/* Output capture: a service's stdout and stderr go through a pipe into its
 * log file (logs.c) and to the output hook (`wardctl logs -f`). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "basic/log.h"
#include "daemon/logs.h"
#include "daemon/supervise-internal.h"

void svc_close_output(struct svc *v)
{
	if (v->out_fd >= 0) {
		loop_del_fd(v->tenant->sup->loop, v->out_fd);
		close(v->out_fd);
		v->out_fd = -1;
	}
}

/* At most one read per wakeup: a service that writes a lot gets its turn
 * like everyone else and never holds the loop. */
static void on_output(struct loop *l, int fd, uint32_t events, void *ud)
{
	struct svc *v = ud;
	char buf[65536];
	ssize_t n = read(fd, buf, sizeof(buf));

	(void)l;
	(void)events;
	if (n > 0) {
		struct ward_err err = {0};
		if (v->log && log_sink_write(v->log, buf, (size_t)n, &err) < 0)
			log_service(v->tenant->profile->name, v->def->name, "log: %s", err.msg);
		if (v->tenant->sup->out_fn)
			v->tenant->sup->out_fn(v->tenant->profile->name, v->def->name, buf,
					       (size_t)n, v->tenant->sup->out_ud);
		return;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	svc_close_output(v);
}

int svc_log_path(struct svc *v, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/%s/%s.log", v->tenant->sup->cfg->log_dir,
			 v->tenant->profile->name, v->def->name);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* Our end of the pipe on the loop: 0, or -errno. */
static int watch_output(struct svc *v, int fd)
{
	/* Only our end is non-blocking: the service writes as it likes. */
	if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
		return -errno;
	return loop_add_fd(v->tenant->sup->loop, fd, EPOLLIN, on_output, v);
}

int svc_open_output(struct svc *v, int *write_end, struct ward_err *err)
{
	int p[2], r;

	if (!v->log) {
		char path[4096];

		if (svc_log_path(v, path, sizeof(path)) < 0)
			return ward_err_set(err, ENAMETOOLONG, "log path");
		v->log = log_sink_open(path, v->tenant->sup->cfg->log_max_bytes,
				       v->tenant->sup->cfg->log_keep, err);
		if (!v->log)
			return -1;
	}
	if (pipe2(p, O_CLOEXEC) < 0)
		return ward_err_set(err, errno, "pipe");
	r = watch_output(v, p[0]);
	if (r < 0) {
		close(p[0]);
		close(p[1]);
		return ward_err_set(err, -r, "output pipe");
	}
	v->out_fd = p[0];
	*write_end = p[1];
	return 0;
}

void svc_drain_output(struct svc *v)
{
	for (int i = 0; i < 64 && v->out_fd >= 0; i++)
		on_output(v->tenant->sup->loop, v->out_fd, EPOLLIN, v);
	svc_close_output(v);
}
