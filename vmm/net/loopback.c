/* The in-process loopback backend: without root there is no TAP, so a peer in this process
 * answers in its place, with the same network stack the guest runs (ARP, ICMP echo, UDP echo on
 * port 7, sink on port 9). A product feature for non-root use, not a test double. */
#define _GNU_SOURCE /* ppoll */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "link.h"
#include "vmm/counters.h"
#include "vmm/shared/netstack.h"

#define QUEUE 256

struct loopback {
	struct net_backend be;
	struct net_if peer;
	uint8_t queue[QUEUE][NET_FRAME_MAX]; /* replies waiting for the next poll */
	uint32_t qlen[QUEUE];
	unsigned nq;
	struct link_counters cnt; /* the peer's, as the TAP link's peer counts them */
};

static void enqueue(struct loopback *l, const uint8_t *f, uint32_t len)
{
	if (l->nq == QUEUE) {
		l->be.st.rx_errors++;
		return;
	}
	memcpy(l->queue[l->nq], f, len);
	l->qlen[l->nq++] = len;
}

static int lo_send(struct net_backend *be, const struct iovec *iov, unsigned n)
{
	struct loopback *l = (struct loopback *)be;
	static __thread uint8_t frame[NET_FRAME_MAX], reply[NET_FRAME_MAX];
	struct net_rx rx;
	uint32_t len = net_gather(frame, sizeof(frame), iov, n);

	if (!len) {
		be->st.tx_refused++;
		return -EMSGSIZE;
	}
	be->st.tx_frames++;
	be->st.tx_bytes += len;
	switch (net_receive(&l->peer, frame, len, reply, sizeof(reply), &rx)) {
	case NET_RX_REPLY: enqueue(l, reply, (uint32_t)rx.reply_len); break;
	case NET_RX_UDP:
		if (rx.dst_port == LINK_PORT_ECHO) {
			size_t m = net_udp(&l->peer, reply, sizeof(reply), rx.src_ip,
					   LINK_PORT_ECHO, rx.src_port, rx.payload, rx.payload_len);
			CNT_ADD(l->cnt.echo_rx, 1);
			if (m) {
				enqueue(l, reply, (uint32_t)m);
				CNT_ADD(l->cnt.echo_tx, 1);
			}
		} else if (rx.dst_port == LINK_PORT_SINK) {
			uint32_t vm = rx.src_ip - LINK_GUEST_IP;
			CNT_ADD(l->cnt.sink_rx, 1);
			CNT_ADD(l->cnt.sink_rx_bytes, rx.payload_len);
			if (vm < LINK_VMS)
				CNT_ADD(l->cnt.sink_vm[vm], 1);
		}
		break;
	default: break;
	}
	return 0;
}

/* Replies are queued, never refused: the queue counts its own overflow (rx_errors). */
static unsigned lo_tx_room(struct net_backend *be)
{
	(void)be;
	return QUEUE;
}

static int lo_poll(struct net_backend *be, bool wait, int timeout_us)
{
	struct loopback *l = (struct loopback *)be;
	struct pollfd pfd[NET_WATCH_MAX];
	unsigned slot[NET_WATCH_MAX], nr = 0;
	int seen = 0;

	for (unsigned i = 0; i < l->nq; i++, seen++)
		net_backend_deliver(be, l->queue[i], l->qlen[i]);
	l->nq = 0;
	for (unsigned i = 0; i < NET_WATCH_MAX; i++)
		if (be->watch[i].used) {
			pfd[nr] = (struct pollfd){be->watch[i].fd, POLLIN, 0};
			slot[nr++] = i;
		}
	struct timespec ts = {.tv_sec = timeout_us / 1000000,
			      .tv_nsec = (long)(timeout_us % 1000000) * 1000};
	if (seen || !wait)
		ts = (struct timespec){0, 0};
	if (ppoll(pfd, nr, &ts, NULL) > 0)
		for (unsigned i = 0; i < nr; i++)
			if (pfd[i].revents && be->watch[slot[i]].used) {
				net_watch_fire(be, slot[i]);
				seen++;
			}
	return seen;
}

static int lo_watch(struct net_backend *be, int fd, net_watch_fn fn, void *opaque)
{
	int slot = net_watch_add(be, fd, fn, opaque);
	return slot < 0 ? slot : 0;
}

static void lo_unwatch(struct net_backend *be, int fd)
{
	int slot = net_watch_find(be, fd);
	if (slot >= 0) {
		be->watch[slot].used = false;
		be->watch[slot].gen++;
	}
}

static void lo_destroy(struct net_backend *be)
{
	free(be);
}

static const struct net_backend_ops loopback_ops = {
    .name = "loopback",
    .tx_room = lo_tx_room,
    .send = lo_send,
    .poll = lo_poll,
    .watch = lo_watch,
    .unwatch = lo_unwatch,
    .destroy = lo_destroy,
};

void loopback_read_counters(struct net_backend *be, struct link_counters *out)
{
	counters_copy(out, &((struct loopback *)be)->cnt, sizeof(*out));
}

int loopback_create(struct net_backend **out)
{
	static const uint8_t mac[6] = {0x02, 0x76, 0x6d,
				       0x73, 0x63, 0x70}; /* locally administered */
	struct loopback *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	memcpy(l->peer.mac, mac, 6);
	l->peer.ip = LINK_PEER_IP;
	l->be.ops = &loopback_ops;
	*out = &l->be;
	return 0;
}
