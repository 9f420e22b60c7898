/* The TAP backend on io_uring: the TAP fd and all frame buffers are registered once; one thread
 * (the poller) submits everything; sends are batched into one submit per poll (kvm-hosts.md: 32 per submit with fixed
 * buffers reached ~1.7 Mpps on these machines).
 *
 * Receiving keeps frames in order. Reads left posted on the TAP (the first design, 128 of them)
 * were all woken by every frame and completed out of order (measured: 1-13 frames in 6000 at
 * 10k pps, with a plain ring and with deferred task work alike). So reads are driven by
 * readiness: a batch of RWF_NOWAIT reads runs inline, one after the other, in one submit, and
 * completes in that order (a read that finds the queue empty completes with -EAGAIN instead of
 * waiting). Kernels whose tun refuses RWF_NOWAIT (-EOPNOTSUPP: Debian 12's 6.1) get plain reads
 * on the O_NONBLOCK TAP, which also end in -EAGAIN there, but reach about half the rate here. A batch that comes back full is followed by a larger one at once; one that found
 * the queue empty arms a one-shot poll on the TAP, which completes at once if a frame slipped in
 * meanwhile. Under a flood the reader never polls; the batch adapts to the backlog. */
#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"

#define RING_ENTRIES 512
#define NR_RX 128
#define NR_TX 256
#define NR_WATCH 8
/* user_data: kind in the top byte, slot below */
#define UD_RX (1ull << 56)
#define UD_TX (2ull << 56)
#define UD_WATCH (3ull << 56)
#define UD_READY (4ull << 56) /* the poll on the TAP */
#define RX_BATCH_MIN 4

struct tap_uring {
	struct net_backend be;
	struct io_uring ring;
	uint8_t (*bufs)[NET_FRAME_MAX]; /* NR_RX receive buffers, then NR_TX send buffers */
	uint16_t free_tx[NR_TX];
	unsigned nr_free_tx;
	unsigned pending; /* SQEs prepared but not submitted */
	unsigned rx_batch;     /* reads in the next batch; then in the current one */
	unsigned rx_inflight;  /* reads of the current batch not yet completed */
	unsigned rx_filled;    /* of those, how many got a frame */
	bool rx_again;         /* a batch came back full: more frames are likely waiting */
	bool ready_armed;      /* the poll on the TAP is in place */
	int rw_flags;          /* RWF_NOWAIT, or 0 where tun refuses it */
	struct {
		int fd;
		net_watch_fn fn;
		void *opaque;
	} watch[NR_WATCH];
	unsigned nr_watch;
};

static struct io_uring_sqe *sqe(struct tap_uring *t)
{
	struct io_uring_sqe *s = io_uring_get_sqe(&t->ring);
	if (!s) {
		io_uring_submit(&t->ring);
		t->pending = 0;
		t->be.st.submits++;
		s = io_uring_get_sqe(&t->ring);
	}
	if (s)
		t->pending++;
	return s;
}

/* One batch of non-blocking reads into buffers 0..n-1, only when the last batch has completed
 * (so every receive buffer is free). */
static void post_rx_batch(struct tap_uring *t)
{
	if (t->rx_inflight)
		return;
	t->rx_filled = 0;
	for (unsigned slot = 0; slot < t->rx_batch; slot++) {
		struct io_uring_sqe *s = sqe(t);
		if (!s)
			break;
		io_uring_prep_read_fixed(s, 0, t->bufs[slot], NET_FRAME_MAX, 0, (int)slot);
		s->rw_flags = t->rw_flags;
		s->flags |= IOSQE_FIXED_FILE;
		io_uring_sqe_set_data64(s, UD_RX | slot);
		t->rx_inflight++;
	}
	if (t->rx_inflight)
		t->rx_batch = t->rx_inflight; /* what was posted: a full batch is this many frames */
	else
		t->rx_again = true; /* no room in the ring: the next poll tries again */
}

static void arm_ready(struct tap_uring *t)
{
	struct io_uring_sqe *s = sqe(t);
	if (!s)
		return;
	io_uring_prep_poll_add(s, 0, POLLIN);
	s->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(s, UD_READY);
	t->ready_armed = true;
}

/* A read of the current batch came back. When the batch is done, size the next one. */
static void rx_done(struct tap_uring *t, bool got)
{
	t->rx_filled += got;
	if (--t->rx_inflight)
		return;
	unsigned next = 2 * t->rx_filled;
	t->rx_again |= t->rx_filled == t->rx_batch; /* all full: the queue may hold more */
	t->rx_batch = next < RX_BATCH_MIN ? RX_BATCH_MIN : next > NR_RX ? NR_RX : next;
}

static void post_watch(struct tap_uring *t, unsigned i)
{
	struct io_uring_sqe *s = sqe(t);
	if (!s)
		return;
	io_uring_prep_poll_add(s, t->watch[i].fd, POLLIN);
	io_uring_sqe_set_data64(s, UD_WATCH | i);
}

uint32_t net_gather(uint8_t *buf, uint32_t cap, const struct iovec *iov, unsigned n)
{
	uint32_t len = 0;
	for (unsigned i = 0; i < n; i++) {
		if (iov[i].iov_len > cap - len)
			return 0;
		memcpy(buf + len, iov[i].iov_base, iov[i].iov_len);
		len += (uint32_t)iov[i].iov_len;
	}
	return len;
}

static int tap_send(struct net_backend *be, const struct iovec *iov, unsigned n)
{
	struct tap_uring *t = (struct tap_uring *)be;
	if (!t->nr_free_tx) {
		be->st.tx_dropped++;
		return -EAGAIN;
	}
	unsigned slot = t->free_tx[--t->nr_free_tx];
	uint32_t len = net_gather(t->bufs[NR_RX + slot], NET_FRAME_MAX, iov, n);
	struct io_uring_sqe *s = len ? sqe(t) : NULL;
	if (!s) {
		t->free_tx[t->nr_free_tx++] = (uint16_t)slot;
		be->st.tx_dropped++;
		return len ? -EAGAIN : -EMSGSIZE;
	}
	io_uring_prep_write_fixed(s, 0, t->bufs[NR_RX + slot], len, 0, (int)(NR_RX + slot));
	s->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(s, UD_TX | slot);
	return 0;
}

static int tap_poll(struct net_backend *be, bool wait, int timeout_ms)
{
	struct tap_uring *t = (struct tap_uring *)be;
	struct io_uring_cqe *cqe;
	struct __kernel_timespec ts = {.tv_sec = timeout_ms / 1000,
				       .tv_nsec = (long long)(timeout_ms % 1000) * 1000000};
	int r;

	if (wait)
		r = io_uring_submit_and_wait_timeout(&t->ring, &cqe, 1, &ts, NULL);
	else
		r = io_uring_submit(&t->ring);
	if (t->pending)
		be->st.submits++;
	t->pending = 0;
	if (r < 0 && r != -ETIME && r != -EINTR)
		return r;

	unsigned head, seen = 0;
	io_uring_for_each_cqe(&t->ring, head, cqe) {
		uint64_t ud = io_uring_cqe_get_data64(cqe);
		unsigned slot = (unsigned)(ud & 0xffffffffu);
		seen++;
		switch (ud & (0xffull << 56)) {
		case UD_RX:
			if (cqe->res > 0) {
				be->st.rx_frames++;
				be->st.rx_bytes += (uint64_t)cqe->res;
				be->rx(be->rx_opaque, t->bufs[slot], (uint32_t)cqe->res);
			} else if (cqe->res == -EOPNOTSUPP && t->rw_flags) {
				t->rw_flags = 0; /* this tun has no RWF_NOWAIT: plain reads from now on */
				t->rx_again = true;
			} else if (cqe->res != -EAGAIN) {
				be->st.rx_errors++;
			}
			rx_done(t, cqe->res > 0);
			break;
		case UD_READY:
			t->ready_armed = false;
			t->rx_again = true;
			break;
		case UD_TX:
			if (cqe->res > 0) {
				be->st.tx_frames++;
				be->st.tx_bytes += (uint64_t)cqe->res;
			} else {
				be->st.tx_dropped++;
			}
			t->free_tx[t->nr_free_tx++] = (uint16_t)slot;
			break;
		case UD_WATCH: {
			uint64_t drain;
			if (read(t->watch[slot].fd, &drain, sizeof(drain)) < 0) {
				/* spurious wake: nothing to drain */
			}
			t->watch[slot].fn(t->watch[slot].opaque);
			post_watch(t, slot);
			break;
		}
		}
	}
	io_uring_cq_advance(&t->ring, seen);
	/* Both are submitted by the next poll; a batch's reads complete there without waiting. */
	if (!t->rx_inflight) {
		if (t->rx_again) {
			t->rx_again = false;
			post_rx_batch(t);
		} else if (!t->ready_armed) {
			arm_ready(t);
		}
	}
	return (int)seen;
}

static int tap_watch(struct net_backend *be, int fd, net_watch_fn fn, void *opaque)
{
	struct tap_uring *t = (struct tap_uring *)be;
	if (t->nr_watch == NR_WATCH)
		return -ENOSPC;
	t->watch[t->nr_watch].fd = fd;
	t->watch[t->nr_watch].fn = fn;
	t->watch[t->nr_watch].opaque = opaque;
	post_watch(t, t->nr_watch++);
	return 0;
}

static void tap_destroy(struct net_backend *be)
{
	struct tap_uring *t = (struct tap_uring *)be;
	io_uring_queue_exit(&t->ring);
	free(t->bufs);
	free(t);
}

static const struct net_backend_ops tap_uring_ops = {
	.name = "tap",
	.send = tap_send,
	.poll = tap_poll,
	.watch = tap_watch,
	.destroy = tap_destroy,
};

int tap_uring_create(struct net_backend **out, int tap_fd, net_rx_fn rx, void *opaque)
{
	struct tap_uring *t = calloc(1, sizeof(*t));
	struct iovec iov[NR_RX + NR_TX];
	int r;

	if (!t)
		return -ENOMEM;
	t->bufs = aligned_alloc(4096, (size_t)(NR_RX + NR_TX) * NET_FRAME_MAX);
	if (!t->bufs) {
		free(t);
		return -ENOMEM;
	}
	r = io_uring_queue_init(RING_ENTRIES, &t->ring, 0);
	if (r < 0)
		goto err_free;
	for (unsigned i = 0; i < NR_RX + NR_TX; i++)
		iov[i] = (struct iovec){t->bufs[i], NET_FRAME_MAX};
	r = io_uring_register_buffers(&t->ring, iov, NR_RX + NR_TX);
	if (!r)
		r = io_uring_register_files(&t->ring, &tap_fd, 1);
	if (r < 0)
		goto err_ring;
	for (unsigned i = 0; i < NR_TX; i++)
		t->free_tx[i] = (uint16_t)i;
	t->nr_free_tx = NR_TX;
	t->be.ops = &tap_uring_ops;
	t->be.rx = rx;
	t->be.rx_opaque = opaque;
	t->rx_batch = RX_BATCH_MIN;
	t->rw_flags = RWF_NOWAIT;
	arm_ready(t); /* prepared here, submitted by the first poll (the poller's thread) */
	*out = &t->be;
	return 0;

err_ring:
	io_uring_queue_exit(&t->ring);
err_free:
	free(t->bufs);
	free(t);
	return r;
}
