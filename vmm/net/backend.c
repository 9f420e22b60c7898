/* What both network backends share: gathering frames, handing them to the attached port, waking
 * a port that waited for room, and the table of watched eventfds. */
#include "backend.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "vmm/clock.h"

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

/* The VMM's clock for blackouts: every frame's time, so the gap that a switch's window opens
 * in is measured from the frame before it. Like the capture's view, it counts the guest's IPv4
 * traffic: an ARP (a switch's own announcement) is not traffic. */
static void gap_seen(struct net_backend *be, const struct iovec *iov, unsigned n)
{
	uint8_t type[2];
	unsigned got = 0;
	for (unsigned i = 0, at = 0; i < n && got < 2; at += (unsigned)iov[i++].iov_len)
		for (unsigned b = 12 + got; b < 14 && b - at < iov[i].iov_len; b++)
			type[got++] = ((const uint8_t *)iov[i].iov_base)[b - at];
	if (got == 2 && type[0] == 0x08 && type[1] == 0x00)
		gap_frame(&be->gap, mono_ns());
}

void net_backend_deliver(struct net_backend *be, const uint8_t *frame, uint32_t len)
{
	struct net_port *p = &be->port[be->rx_port];
	be->st.rx_frames++;
	be->st.rx_bytes += len;
	if (p->rx) {
		gap_seen(be, &(struct iovec){(void *)frame, len}, 1);
		p->rx(p->opaque, frame, len);
	} else {
		be->st.rx_no_port++;
	}
}

int net_port_send(struct net_backend *be, void *owner, const struct iovec *iov, unsigned n)
{
	int r = be->ops->send(be, iov, n);
	if (r)
		return r;
	gap_seen(be, iov, n);
	if (owner && be->port[be->rx_port].opaque != owner)
		for (unsigned i = 0; i < NET_PORTS; i++)
			if (be->port[i].opaque == owner) {
				be->rx_port = i;
				be->st.rx_moves++;
			}
	return 0;
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
