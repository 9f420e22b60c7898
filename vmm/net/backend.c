/* What both network backends share: gathering frames, handing them to the attached port, waking
 * a port that waited for room, and the table of watched eventfds. */
#include "backend.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "vmm/clock.h"
#include "vmm/control.h"
#include "vmm/shared/netstack.h"

#include <x86intrin.h>

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

static bool mac_eq(const uint8_t *a, const uint8_t *b)
{
	return !memcmp(a, b, 6);
}

/* The first want bytes of a gathered frame (fewer if it is shorter). */
static unsigned frame_head(const struct iovec *iov, unsigned n, uint8_t *out, unsigned want)
{
	unsigned got = 0;
	for (unsigned i = 0; i < n && got < want; i++) {
		unsigned take =
		    (unsigned)iov[i].iov_len < want - got ? (unsigned)iov[i].iov_len : want - got;
		memcpy(out + got, iov[i].iov_base, take);
		got += take;
	}
	return got;
}

/* The VMM's clock for blackouts: every frame's time, so the gap that a switch's window opens
 * in is measured from the frame before it. Like the capture's view, it counts the guest's IPv4
 * traffic (gap_mac's, where several guests share the link): an ARP (a switch's own
 * announcement) is not traffic. */
static void gap_seen(struct net_backend *be, const uint8_t *head, unsigned got)
{
	static const uint8_t none[6];
	if (got < 14 || head[12] != 0x08 || head[13] != 0x00)
		return;
	if (!mac_eq(be->gap_mac, none) && !mac_eq(head, be->gap_mac) &&
	    !mac_eq(head + 6, be->gap_mac))
		return;
	gap_frame(&be->gap, mono_ns());
}

/* A guest's ping request going out (a head of the frame; its source MAC names the guest). */
static void hop_out(struct net_backend *be, const uint8_t *head, unsigned got)
{
	struct net_echo e;
	if (!net_echo_peek(head, got, &e) || e.type != 8 || e.id != PING_ICMP_ID || !e.stamped)
		return;
	struct net_hops *h = NULL;
	for (unsigned i = 0; i < NET_HOP_GUESTS && !h; i++)
		if (!be->hops[i].used || mac_eq(be->hops[i].mac, head + 6))
			h = &be->hops[i];
	if (!h)
		return; /* more guests than the table: not timed */
	if (!h->used) {
		memcpy(h->mac, head + 6, 6);
		__atomic_store_n(&h->used, true, __ATOMIC_RELEASE);
	}
	h->seq = e.seq;
	h->stamp = e.stamp;
	h->sent = __rdtsc();
	h->pending = true;
}

/* Where a frame from the link may be the reply to a ping timed going out: its hops, else NULL. */
static struct net_hops *hop_in(struct net_backend *be, const uint8_t *frame, uint32_t len)
{
	struct net_echo e;
	if (!net_echo_peek(frame, len, &e) || e.type != 0 || e.id != PING_ICMP_ID || !e.stamped)
		return NULL;
	for (unsigned i = 0; i < NET_HOP_GUESTS; i++) {
		struct net_hops *h = &be->hops[i];
		if (h->used && h->pending && mac_eq(h->mac, frame) && h->seq == e.seq &&
		    h->stamp == e.stamp)
			return h;
	}
	return NULL;
}

static void hop_done(struct net_hops *h, uint64_t back, uint64_t taken)
{
	h->pending = false;
	__atomic_fetch_add(&h->out_sum, (int64_t)(h->sent - h->stamp), __ATOMIC_RELAXED);
	__atomic_fetch_add(&h->link_sum, back - h->sent, __ATOMIC_RELAXED);
	__atomic_fetch_add(&h->taken_sum, (int64_t)(taken - h->stamp), __ATOMIC_RELAXED);
	__atomic_fetch_add(&h->n, 1, __ATOMIC_RELEASE); /* last: n says the sums are in */
}

void net_backend_hops(const struct net_backend *be, const uint8_t *mac, struct net_hops_sums *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < NET_HOP_GUESTS; i++) {
		const struct net_hops *h = &be->hops[i];
		if (!__atomic_load_n(&h->used, __ATOMIC_ACQUIRE) || !mac_eq(h->mac, mac))
			continue;
		out->n = __atomic_load_n(&h->n, __ATOMIC_ACQUIRE);
		out->out_sum = __atomic_load_n(&h->out_sum, __ATOMIC_RELAXED);
		out->link_sum = __atomic_load_n(&h->link_sum, __ATOMIC_RELAXED);
		out->taken_sum = __atomic_load_n(&h->taken_sum, __ATOMIC_RELAXED);
		return;
	}
}

/* The port receiving mac's frames: the learnt one of the ports with that MAC, else a card that
 * has it among its own; -1: none. */
static int port_of(const struct net_backend *be, const uint8_t *mac)
{
	for (unsigned i = 0; i < NET_PORTS; i++)
		if (be->rx[i] && be->port[i].opaque && mac_eq(be->port[i].mac, mac))
			return (int)i;
	for (unsigned i = 0; i < NET_PORTS; i++)
		if (be->port[i].opaque && be->port[i].has_mac &&
		    be->port[i].has_mac(be->port[i].opaque, mac))
			return (int)i;
	return -1;
}

static void to_port(struct net_backend *be, unsigned i, const uint8_t *frame, uint32_t len)
{
	struct net_port *p = &be->port[i];
	if (p->rx)
		p->rx(p->opaque, frame, len);
}

/* To every MAC's receiving port and every card of several guests, but the sender's (skip: a
 * port, and the MAC whose ports are skipped; NULL: none); false: no port. */
static bool flood(struct net_backend *be, int skip, const uint8_t *skip_mac, const uint8_t *frame,
		  uint32_t len)
{
	bool any = false;
	for (unsigned i = 0; i < NET_PORTS; i++) {
		const struct net_port *p = &be->port[i];
		if (!p->opaque || (int)i == skip || !(be->rx[i] || p->has_mac) ||
		    (skip_mac && be->rx[i] && mac_eq(p->mac, skip_mac)))
			continue;
		any = true;
		to_port(be, i, frame, len);
	}
	return any;
}

void net_backend_deliver(struct net_backend *be, const uint8_t *frame, uint32_t len)
{
	be->st.rx_frames++;
	be->st.rx_bytes += len;
	int to = len >= 14 && !(frame[0] & 1) ? port_of(be, frame) : -1;
	if (len >= 14)
		gap_seen(be, frame, len);
	if (to >= 0) {
		struct net_hops *h = hop_in(be, frame, len);
		uint64_t back = h ? __rdtsc() : 0; /* the clock read for the guest's pings alone */
		to_port(be, (unsigned)to, frame, len);
		if (h)
			hop_done(h, back, __rdtsc());
		return;
	}
	/* A broadcast, or a MAC no port has: every guest's card sees it, as on a hub. */
	if (!flood(be, -1, NULL, frame, len))
		be->st.rx_no_port++;
}

/* A frame from port from with source MAC src: of the ports with that MAC, from receives it from
 * now on (a card of several guests takes it when it has it among its own). A source MAC that is
 * not the port's own teaches nothing: one guest cannot take another's frames by sending as it. */
static void learn(struct net_backend *be, unsigned from, const uint8_t *src)
{
	const struct net_port *p = &be->port[from];
	bool own = mac_eq(p->mac, src);
	if (own ? be->rx[from] : !(p->has_mac && p->has_mac(p->opaque, src)))
		return; /* it receives already, or the MAC is not its own */
	int before = port_of(be, src);
	for (unsigned j = 0; j < NET_PORTS; j++)
		if (j != from && be->rx[j] && mac_eq(be->port[j].mac, src))
			be->rx[j] = false;
	if (own)
		be->rx[from] = true;
	if (before >= 0 && port_of(be, src) != before)
		be->st.rx_moves++;
}

/* Enough of a frame's head for an ICMP echo's stamp behind the longest IPv4 header. */
#define HEAD_MAX (ETH_HLEN + 60 + ICMP_HLEN + 8)

int net_port_send(struct net_backend *be, void *owner, const struct iovec *iov, unsigned n)
{
	uint8_t head[HEAD_MAX];
	unsigned got = frame_head(iov, n, head, ETH_HLEN + 10); /* to IPv4's protocol */
	int from = -1;
	for (unsigned i = 0; owner && i < NET_PORTS; i++)
		if (be->port[i].opaque == owner)
			from = (int)i;
	if (from >= 0 && got >= 12)
		learn(be, (unsigned)from, head + 6);
	int to = got >= 6 && !(head[0] & 1) ? port_of(be, head) : -1;
	if (to >= 0 && from >= 0 && to != from) {
		/* Another guest on this link: port to port, as a bridge does. */
		uint8_t frame[NET_FRAME_MAX];
		uint32_t len = net_gather(frame, sizeof(frame), iov, n);
		if (!len) {
			be->st.tx_refused++;
			return -EMSGSIZE;
		}
		gap_seen(be, head, got);
		be->st.switched++;
		to_port(be, (unsigned)to, frame, len);
		return 0;
	}
	if (got == ETH_HLEN + 10 && head[12] == 0x08 && head[13] == 0x00 && head[ETH_HLEN + 9] == 1)
		got = frame_head(iov, n, head, sizeof(head)); /* ICMP: on to its stamp */
	int r = be->ops->send(be, iov, n);
	if (r)
		return r;
	gap_seen(be, head, got);
	hop_out(be, head, got);
	if (got >= 12 && (head[0] & 1) && from >= 0) { /* and to every other guest */
		uint8_t frame[NET_FRAME_MAX];
		uint32_t len = net_gather(frame, sizeof(frame), iov, n);
		if (len)
			flood(be, from, head + 6, frame, len);
	}
	return 0;
}

void net_backend_port_added(struct net_backend *be, unsigned i)
{
	/* The first card of a MAC receives at once; another one once it sends. */
	be->rx[i] = port_of(be, be->port[i].mac) < 0;
}

void net_backend_port_gone(struct net_backend *be, unsigned i)
{
	bool was = be->rx[i];
	uint8_t mac[6];
	memcpy(mac, be->port[i].mac, 6);
	be->rx[i] = false;
	memset(&be->port[i], 0, sizeof(be->port[i]));
	/* A card that goes while it receives hands its MAC's frames to one that stays. */
	for (unsigned j = 0; was && j < NET_PORTS; j++)
		if (be->port[j].opaque && mac_eq(be->port[j].mac, mac)) {
			be->rx[j] = true;
			break;
		}
}

void net_backend_room(struct net_backend *be)
{
	if (!be->tx_waiting || !be->ops->tx_room(be))
		return;
	be->tx_waiting = false;
	for (unsigned i = 0; i < NET_PORTS; i++)
		if (be->port[i].tx_ready)
			be->port[i].tx_ready(be->port[i].opaque);
}

int net_watch_add(struct net_backend *be, int fd, net_watch_fn fn, void *opaque)
{
	for (unsigned i = 0; i < NET_WATCH_MAX; i++) {
		struct net_watch *w = &be->watch[i];
		if (w->used)
			continue;
		w->fd = fd;
		w->fn = fn;
		w->opaque = opaque;
		w->used = true;
		return (int)i;
	}
	return -ENOSPC;
}

int net_watch_find(const struct net_backend *be, int fd)
{
	for (unsigned i = 0; i < NET_WATCH_MAX; i++)
		if (be->watch[i].used && be->watch[i].fd == fd)
			return (int)i;
	return -1;
}

void net_watch_fire(struct net_backend *be, unsigned slot)
{
	struct net_watch *w = &be->watch[slot];
	uint64_t count = 0;
	if (read(w->fd, &count, sizeof(count)) < 0)
		count = 0; /* spurious wake: nothing to drain */
	w->fn(w->opaque, count);
}
