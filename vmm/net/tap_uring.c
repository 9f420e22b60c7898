/* The TAP backend on io_uring: the TAP fd and all frame buffers are registered once; one thread
 * (the poller) submits everything; sends are batched into one submit per poll (docs/kvm-hosts.md:
 * 32 per submit with fixed buffers reached ~1.7 Mpps on these machines).
 *
 * Receiving keeps frames in order. Reads left posted on the TAP (the first design, 128 of them)
 * were all woken by every frame and completed out of order (measured: 1-13 frames in 6000 at
 * 10k pps, with a plain ring and with deferred task work alike). So reads are driven by
 * readiness: a batch of RWF_NOWAIT reads runs inline, one after the other, in one submit, and
 * completes in that order (a read that finds the queue empty completes with -EAGAIN instead of
 * waiting). Kernels whose tun refuses RWF_NOWAIT (-EOPNOTSUPP: Debian 12's 6.1) get plain reads
 * on the O_NONBLOCK TAP, which also end in -EAGAIN there, but reach about half the rate here. A
 * batch that comes back full is followed by a larger one at once; one that found the queue empty
 * arms a one-shot poll on the TAP, which completes at once if a frame slipped in meanwhile. Under a
 * flood the reader never polls; the batch adapts to the backlog. A read also goes in behind the
 * writes of a submit while that finds the namespace's answer (it answers inside the write). */
#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "vmm/clock.h"

#define RING_ENTRIES 512
#define NR_RX	     128
#define NR_TX	     256
/* user_data: kind in the top byte; for watches the slot's generation in bits 16..47, the slot
 * below; for the rest the slot */
#define UD_RX	     (1ull << 56)
#define UD_TX	     (2ull << 56)
#define UD_WATCH     (3ull << 56)
#define UD_READY     (4ull << 56) /* the poll on the TAP */
#define UD_CANCEL    (5ull << 56) /* a watch's poll being removed */
#define RX_BATCH_MIN 4

struct tap_uring {
	struct net_backend be;
	struct io_uring ring;
	uint8_t (*bufs)[NET_FRAME_MAX]; /* NR_RX receive buffers, then NR_TX send buffers */
	uint16_t free_tx[NR_TX];
	unsigned nr_free_tx;
	unsigned pending;     /* SQEs prepared but not submitted */
	uint64_t retry_ns;    /* the link failed: no reads before this (mono ns) */
	unsigned rx_batch;    /* reads in the next batch; then in the current one */
	unsigned rx_inflight; /* reads of the current batch not yet completed */
	unsigned rx_filled;   /* of those, how many got a frame */
	bool rx_again;	      /* a batch came back full: more frames are likely waiting */
	bool ready_armed;     /* the poll on the TAP is in place */
	int rw_flags;	      /* RWF_NOWAIT, or 0 where tun refuses it */
	/* A frame went out since the last submit, and a read behind it found a frame the last
	 * time (or the TAP has woken us since): a read goes in after the writes. */
	bool tx_new, rx_behind_tx;
};

static uint64_t watch_ud(const struct net_backend *be, unsigned slot)
{
	return UD_WATCH | (uint64_t)be->watch[slot].gen << 16 | slot;
}

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

/* One batch of n non-blocking reads into buffers 0..n-1, only when the last batch has completed
 * (so every receive buffer is free). */
static void post_rx(struct tap_uring *t, unsigned n)
{
	if (t->rx_inflight)
		return;
	t->rx_filled = 0;
	t->rx_batch = n;
	for (unsigned slot = 0; slot < n; slot++) {
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
		t->rx_batch =
		    t->rx_inflight; /* what was posted: a full batch is this many frames */
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
	io_uring_prep_poll_add(s, t->be.watch[i].fd, POLLIN);
	io_uring_sqe_set_data64(s, watch_ud(&t->be, i));
}

static unsigned tap_tx_room(struct net_backend *be)
{
	return ((struct tap_uring *)be)->nr_free_tx;
}

static int tap_send(struct net_backend *be, const struct iovec *iov, unsigned n)
{
	struct tap_uring *t = (struct tap_uring *)be;
	if (!t->nr_free_tx) {
		be->st.tx_refused++;
		be->tx_waiting = true;
		return -EAGAIN;
	}
	unsigned slot = t->free_tx[--t->nr_free_tx];
	uint32_t len = net_gather(t->bufs[NR_RX + slot], NET_FRAME_MAX, iov, n);
	struct io_uring_sqe *s = len ? sqe(t) : NULL;
	if (!s) {
		t->free_tx[t->nr_free_tx++] = (uint16_t)slot;
		be->st.tx_refused++;
		return len ? -EAGAIN : -EMSGSIZE;
	}
	io_uring_prep_write_fixed(s, 0, t->bufs[NR_RX + slot], len, 0, (int)(NR_RX + slot));
	s->flags |= IOSQE_FIXED_FILE;
	io_uring_sqe_set_data64(s, UD_TX | slot);
	t->tx_new = true;
	be->st.tx_depth = NR_TX - t->nr_free_tx;
	if (be->st.tx_depth > be->st.tx_depth_peak)
		be->st.tx_depth_peak = be->st.tx_depth;
	return 0;
}

/* A read or write failed for the link itself (not an empty queue, not one bad frame): the TAP
 * was removed from under its fd (EBADFD) or set down (EIO). Reads wait a second before they
 * try again: the poller sleeps through a link that is gone instead of spinning on its errors,
 * and the session says what happened (link_health). */
static void link_failed(struct tap_uring *t, int err)
{
	if (err == EBADFD || err == EIO || err == ENODEV || err == ENXIO)
		t->retry_ns = mono_ns() + 1000000000ull;
}

static int tap_poll(struct net_backend *be, bool wait, int timeout_us)
{
	struct tap_uring *t = (struct tap_uring *)be;
	struct io_uring_cqe *cqe;
	struct __kernel_timespec ts = {.tv_sec = timeout_us / 1000000,
				       .tv_nsec = (long long)(timeout_us % 1000000) * 1000};
	int r;

	/* The namespace answers a frame inside the write that takes it to the TAP (ARP, ping, the
	 * echo port when its peer is quick): a read right behind the writes, in the same submit,
	 * finds the answer there, without a wake-up and a poll more. Only while that pays: a read
	 * that finds nothing stops it until the TAP wakes us again (a flood out has no answers). */
	if (t->tx_new && t->rx_behind_tx && !t->rx_inflight && mono_ns() >= t->retry_ns)
		post_rx(t, 1);
	t->tx_new = false;
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
	io_uring_for_each_cqe(&t->ring, head, cqe)
	{
		uint64_t ud = io_uring_cqe_get_data64(cqe);
		unsigned slot = (unsigned)(ud & 0xffffu);
		seen++;
		switch (ud & (0xffull << 56)) {
		case UD_RX:
			if (cqe->res > 0) {
				net_backend_deliver(be, t->bufs[slot], (uint32_t)cqe->res);
			} else if (cqe->res == -EOPNOTSUPP && t->rw_flags) {
				t->rw_flags =
				    0; /* this tun has no RWF_NOWAIT: plain reads from now on */
				t->rx_again = true;
			} else if (cqe->res != -EAGAIN) {
				be->st.rx_errors++;
				link_failed(t, -cqe->res);
			}
			bool behind = t->rx_batch == 1; /* the read behind the writes */
			rx_done(t, cqe->res > 0);
			if (behind) { /* did it pay? More frames: the poll on the TAP says so */
				t->rx_behind_tx = cqe->res > 0;
				t->rx_again = false;
			}
			break;
		case UD_READY:
			t->ready_armed = false;
			t->rx_again = true;
			t->rx_behind_tx = true;
			if (cqe->res > 0 && (cqe->res & (POLLERR | POLLHUP | POLLNVAL)))
				link_failed(t, EBADFD); /* the TAP is gone from under its fd */
			break;
		case UD_TX:
			if (cqe->res > 0) {
				be->st.tx_frames++;
				be->st.tx_bytes += (uint64_t)cqe->res;
			} else {
				be->st.tx_errors++;
				link_failed(t, -cqe->res);
			}
			t->free_tx[t->nr_free_tx++] = (uint16_t)slot;
			be->st.tx_depth = NR_TX - t->nr_free_tx;
			break;
		case UD_WATCH:
			/* A watch removed since (its generation moved on) is not armed again. */
			if (slot >= NET_WATCH_MAX || ud != watch_ud(be, slot) ||
			    !be->watch[slot].used)
				break;
			net_watch_fire(be, slot);
			if (be->watch[slot].used && ud == watch_ud(be, slot))
				post_watch(t, slot);
			break;
		}
	}
	io_uring_cq_advance(&t->ring, seen);
	net_backend_room(be);
	/* Both are submitted by the next poll; a batch's reads complete there without waiting.
	 * A link that failed is tried again a second later, not in a loop: the poller sleeps. */
	if (!t->rx_inflight && mono_ns() >= t->retry_ns) {
		if (t->rx_again) {
			t->rx_again = false;
			post_rx(t, t->rx_batch);
		} else if (!t->ready_armed) {
			arm_ready(t);
		}
	}
	return (int)seen;
}

static int tap_watch(struct net_backend *be, int fd, net_watch_fn fn, void *opaque)
{
	int slot = net_watch_add(be, fd, fn, opaque);
	if (slot >= 0)
		post_watch((struct tap_uring *)be, (unsigned)slot);
	return slot < 0 ? slot : 0;
}

/* The poll on fd is cancelled (its completion, -ECANCELED, is then ignored): the kernel drops
 * its reference to the file, so the caller may close fd. */
static void tap_unwatch(struct net_backend *be, int fd)
{
	struct tap_uring *t = (struct tap_uring *)be;
	int slot = net_watch_find(be, fd);
	if (slot < 0)
		return;
	struct io_uring_sqe *s = sqe(t);
	if (s) {
		io_uring_prep_poll_remove(s, watch_ud(be, (unsigned)slot));
		io_uring_sqe_set_data64(s, UD_CANCEL);
	}
	be->watch[slot].used = false;
	be->watch[slot].gen++;
	io_uring_submit(&t->ring);
	t->pending = 0;
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
    .tx_room = tap_tx_room,
    .send = tap_send,
    .poll = tap_poll,
    .watch = tap_watch,
    .unwatch = tap_unwatch,
    .destroy = tap_destroy,
};

int tap_uring_create(struct net_backend **out, int tap_fd)
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
	t->be.st.tx_slots = NR_TX;
	t->be.ops = &tap_uring_ops;
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
