/* A client's output buffer: bytes queued for a non-blocking socket and
 * sent as the peer takes them (on EPOLLOUT), never waiting for it. Its
 * capacity is counted in up to two totals its owner keeps (a budget over
 * all clients, and one over a class of them), so the owner can refuse
 * growth before anything is allocated; what the budgets are, and what to
 * do with a client too slow for them, stays the owner's policy.
 *
 * Ownership: the buffer owns data; outbuf_release frees it and uncounts
 * it. Errors: -1 with errno. Nothing here blocks: every send is
 * MSG_DONTWAIT | MSG_NOSIGNAL. */
#pragma once

#include <stddef.h>

struct outbuf {
	char *data;
	size_t off, len, cap; /* pending: data[off..len) */
	size_t *charge[2];    /* totals its capacity counts in; NULL: none */
};

static inline size_t outbuf_pending(const struct outbuf *b)
{
	return b->len - b->off;
}

/* The capacity a buffer of cap bytes, used bytes, needs for len more:
 * doubled from 4096 as needed; SIZE_MAX when that would overflow. */
size_t outbuf_cap_for(size_t cap, size_t used, size_t len);
/* Sets the capacity (0 frees the data; nothing may be pending past it),
 * keeping the totals. Returns 0, or -1 (ENOMEM: unchanged). */
int outbuf_resize(struct outbuf *b, size_t cap);
/* Makes room at the tail for len bytes by moving what is pending to the
 * front, only when the tail is too short: a follower's backlog is not
 * copied for every chunk. */
void outbuf_make_room(struct outbuf *b, size_t len);
/* Copies len bytes behind what is pending; the room must be there
 * (outbuf_make_room, outbuf_cap_for, outbuf_resize). */
void outbuf_put(struct outbuf *b, const void *data, size_t len);
/* All three: makes room, grows as needed (no budget: for buffers of a few
 * short lines) and copies. Returns 0, or -1 (ENOMEM: unchanged). */
int outbuf_append(struct outbuf *b, const void *data, size_t len);
/* Nothing pending any more (what was is dropped). */
void outbuf_clear(struct outbuf *b);
/* Frees the data, uncounting it. */
void outbuf_release(struct outbuf *b);

/* Sends what is pending until it is all sent or the socket is full. The
 * n_fds descriptors (SCM_RIGHTS; n_fds 0: none) ride on the first bytes
 * sent: when *sent > 0 they went (the caller closes its copies). *sent
 * says how many bytes left. Returns 0, or -1 with errno when the peer is
 * gone (any error but EAGAIN; EINTR is retried). */
int outbuf_flush(struct outbuf *b, int fd, const int *fds, size_t n_fds, size_t *sent);
