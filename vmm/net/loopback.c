/* The in-process loopback backend: without root there is no TAP, so a peer in this process
 * answers in its place, with the same network stack the guest runs (ARP, ICMP echo, UDP echo on
 * port 7, sink on port 9). A product feature for non-root use, not a test double. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "link.h"
#include "vmm/guest/netstack.h"

#define NR_WATCH 8
#define QUEUE 256

struct loopback {
	struct net_backend be;
	struct net_if peer;
	uint8_t queue[QUEUE][NET_FRAME_MAX]; /* replies waiting for the next poll */
	uint32_t qlen[QUEUE];
	unsigned nq;
	struct pollfd pfd[NR_WATCH];
	net_watch_fn fn[NR_WATCH];
	void *opaque[NR_WATCH];
	unsigned nr_watch;
	struct link_counters cnt;
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
		be->st.tx_dropped++;
		return -EMSGSIZE;
	}
	be->st.tx_frames++;
	be->st.tx_bytes += len;
	switch (net_receive(&l->peer, frame, len, reply, sizeof(reply), &rx)) {
	case NET_RX_REPLY:
		enqueue(l, reply, (uint32_t)rx.reply_len);
		break;
	case NET_RX_UDP:
		if (rx.dst_port == LINK_PORT_ECHO) {
			size_t m = net_udp(&l->peer, reply, sizeof(reply), rx.src_ip, LINK_PORT_ECHO,
					   rx.src_port, rx.payload, rx.payload_len);
			l->cnt.echo_rx++;
			if (m) {
				enqueue(l, reply, (uint32_t)m);
				l->cnt.echo_tx++;
			}
		} else if (rx.dst_port == LINK_PORT_SINK) {
			l->cnt.sink_rx++;
			l->cnt.sink_rx_bytes += rx.payload_len;
		}
		break;
	default:
		break;
	}
	return 0;
}

static int lo_poll(struct net_backend *be, bool wait, int timeout_ms)
{
	struct loopback *l = (struct loopback *)be;
	int seen = 0;

	for (unsigned i = 0; i < l->nq; i++) {
		be->st.rx_frames++;
		be->st.rx_bytes += l->qlen[i];
		be->rx(be->rx_opaque, l->queue[i], l->qlen[i]);
		seen++;
	}
	l->nq = 0;
	if (poll(l->pfd, l->nr_watch, seen || !wait ? 0 : timeout_ms) > 0)
		for (unsigned i = 0; i < l->nr_watch; i++)
			if (l->pfd[i].revents) {
				uint64_t drain;
				if (read(l->pfd[i].fd, &drain, sizeof(drain)) < 0) {
					/* spurious wake */
				}
				l->fn[i](l->opaque[i]);
				seen++;
			}
	return seen;
}

static int lo_watch(struct net_backend *be, int fd, net_watch_fn fn, void *opaque)
{
	struct loopback *l = (struct loopback *)be;
	if (l->nr_watch == NR_WATCH)
		return -ENOSPC;
	l->pfd[l->nr_watch] = (struct pollfd){fd, POLLIN, 0};
	l->fn[l->nr_watch] = fn;
	l->opaque[l->nr_watch++] = opaque;
	return 0;
}

static void lo_destroy(struct net_backend *be) { free(be); }

static const struct net_backend_ops loopback_ops = {
	.name = "loopback",
	.send = lo_send,
	.poll = lo_poll,
	.watch = lo_watch,
	.destroy = lo_destroy,
};

int loopback_create(struct net_backend **out, net_rx_fn rx, void *opaque)
{
	static const uint8_t mac[6] = {0x02, 0x76, 0x6d, 0x73, 0x63, 0x70}; /* locally administered */
	struct loopback *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	memcpy(l->peer.mac, mac, 6);
	l->peer.ip = LINK_PEER_IP;
	l->be.ops = &loopback_ops;
	l->be.rx = rx;
	l->be.rx_opaque = opaque;
	*out = &l->be;
	return 0;
}
