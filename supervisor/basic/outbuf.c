/* Output buffers (see outbuf.h). */
#include "basic/outbuf.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define OUTBUF_MAX_FDS 16

size_t outbuf_cap_for(size_t cap, size_t used, size_t len)
{
	if (cap - used >= len)
		return cap;
	cap = cap ? cap : 4096;
	while (cap - used < len) {
		if (cap > SIZE_MAX / 2)
			return SIZE_MAX;
		cap *= 2;
	}
	return cap;
}

int outbuf_resize(struct outbuf *b, size_t cap)
{
	char *p = NULL;

	if (cap) {
		p = realloc(b->data, cap);
		if (!p)
			return -1;
	} else {
		free(b->data);
	}
	for (int i = 0; i < 2; i++)
		if (b->charge[i])
			*b->charge[i] = *b->charge[i] - b->cap + cap;
	b->data = p;
	b->cap = cap;
	if (!cap)
		b->off = b->len = 0;
	return 0;
}

void outbuf_make_room(struct outbuf *b, size_t len)
{
	if (b->off && b->cap - b->len < len) {
		memmove(b->data, b->data + b->off, outbuf_pending(b));
		b->len -= b->off;
		b->off = 0;
	}
}

void outbuf_put(struct outbuf *b, const void *data, size_t len)
{
	if (!len || !b->data) /* the caller made room first: data is set */
		return;
	memcpy(b->data + b->len, data, len);
	b->len += len;
}

int outbuf_append(struct outbuf *b, const void *data, size_t len)
{
	size_t cap;

	outbuf_make_room(b, len);
	cap = outbuf_cap_for(b->cap, b->len, len);
	if (cap == SIZE_MAX) {
		errno = ENOMEM;
		return -1;
	}
	if (cap != b->cap && outbuf_resize(b, cap) < 0)
		return -1;
	outbuf_put(b, data, len);
	return 0;
}

void outbuf_clear(struct outbuf *b)
{
	b->off = b->len = 0;
}

void outbuf_release(struct outbuf *b)
{
	(void)outbuf_resize(b, 0);
}

int outbuf_flush(struct outbuf *b, int fd, const int *fds, size_t n_fds, size_t *sent)
{
	*sent = 0;
	if (n_fds > OUTBUF_MAX_FDS) {
		errno = EINVAL;
		return -1;
	}
	while (outbuf_pending(b)) {
		union {
			char buf[CMSG_SPACE(sizeof(int) * OUTBUF_MAX_FDS)];
			struct cmsghdr align;
		} u;
		struct iovec iov = {.iov_base = b->data + b->off, .iov_len = outbuf_pending(b)};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
		ssize_t n;

		if (n_fds && !*sent) {
			struct cmsghdr *c;

			memset(&u, 0, sizeof(u));
			mh.msg_control = u.buf;
			mh.msg_controllen = CMSG_SPACE(n_fds * sizeof(int));
			c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(n_fds * sizeof(int));
			memcpy(CMSG_DATA(c), fds, n_fds * sizeof(int));
		}
		n = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			return -1;
		}
		b->off += (size_t)n;
		*sent += (size_t)n;
	}
	b->off = b->len = 0;
	return 0;
}
