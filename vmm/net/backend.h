/* Network backends behind one small ops table: the TAP link (io_uring) and, without root, an
 * in-process loopback peer. A NIC attaches as a port: received frames reach port.rx, and
 * port.tx_ready says the backend has room again after tx_room() said none. Every op and
 * callback runs on the one thread that polls the backend (vmm/net/net.c).
 *
 * Two ports may be attached at once (a live switch brings the new card up before the old one
 * goes; both have the guest's MAC). The backend is then the switch in front of them and learns
 * as an Ethernet switch does: frames from the link go to the port that sent last, so the guest
 * moves its traffic by sending on the new card (its gratuitous ARP). */
#ifndef VMSCOPE_BACKEND_H
#define VMSCOPE_BACKEND_H
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vmm/gap.h"

#define NET_FRAME_MAX 2048 /* a 1514-byte frame, rounded up */

struct net_backend;
typedef void (*net_rx_fn)(void *opaque, const uint8_t *frame, uint32_t len);
/* count: how many times the eventfd was signalled since the last call (its counter). */
typedef void (*net_watch_fn)(void *opaque, uint64_t count);

/* What a NIC gives the backend. With no port attached received frames are dropped (counted). */
struct net_port {
	net_rx_fn rx;
	void (*tx_ready)(void *opaque); /* room again for sends; may be NULL */
	void *opaque;
	/* A card whose silicon polls (the SR-IOV NIC's engine): called on every turn of the
	 * poller's thread, which then spins instead of sleeping while there is work. Returns the
	 * frames it moved (0: none). May be NULL. */
	unsigned (*poll)(void *opaque);
	/* With poll: the poller found no work for a while. true: the card may sleep until a frame,
	 * a watch or a call wakes the poller (it arranged to be woken, e.g. the VF's WAKE); false:
	 * keep polling. May be NULL (then the poller naps and polls again). */
	bool (*idle)(void *opaque);
};

struct net_backend_stats {
	uint64_t tx_frames, tx_bytes; /* written to the link */
	uint64_t tx_errors;	      /* accepted, but the write to the link failed */
	uint64_t tx_refused;	      /* send() refused: too big, or no room (callers check room) */
	uint64_t rx_frames, rx_bytes, rx_errors;
	uint64_t rx_no_port; /* frames that arrived with no NIC attached */
	uint64_t rx_moves;   /* times frames from the link moved to another port */
	uint64_t submits;    /* batches handed to the kernel */
};

struct net_backend_ops {
	const char *name;
	/* How many frames send() takes right now without refusing one. */
	unsigned (*tx_room)(struct net_backend *be);
	/* Queues one frame gathered from iov; it goes out at the next poll. 0, -EAGAIN (no room)
	 * or -EMSGSIZE. */
	int (*send)(struct net_backend *be, const struct iovec *iov, unsigned n);
	/* Submits queued frames, reaps completions, delivers received frames and fires watches.
	 * Waits up to timeout_us for something to happen when wait is set. */
	int (*poll)(struct net_backend *be, bool wait, int timeout_us);
	/* Calls fn when fd becomes readable (ioeventfds), from poll(); unwatch stops that. */
	int (*watch)(struct net_backend *be, int fd, net_watch_fn fn, void *opaque);
	void (*unwatch)(struct net_backend *be, int fd);
	void (*destroy)(struct net_backend *be);
};

/* The eventfds a backend's poller watches (kicks of the attached NIC, the poller's own wake-up).
 * A slot's generation changes when it is freed, so a late completion of an old watch is
 * recognised and ignored. */
#define NET_WATCH_MAX 16
struct net_watch {
	int fd;
	net_watch_fn fn;
	void *opaque;
	uint32_t gen;
	bool used;
};

#define NET_PORTS 2

struct net_backend {
	const struct net_backend_ops *ops;
	struct net_port port[NET_PORTS]; /* attached while port.opaque is set */
	unsigned rx_port;		 /* the port frames from the link go to */
	bool tx_waiting;       /* a port found no room: call port.tx_ready when there is */
	struct gap_window gap; /* the VMM's view of silences on the link (mono ns) */
	struct net_watch watch[NET_WATCH_MAX];
	struct net_backend_stats st;
};

/* The TAP of a struct link, driven through io_uring. */
int tap_uring_create(struct net_backend **out, int tap_fd);
/* An in-process peer at LINK_PEER_IP: ARP, ICMP echo, UDP echo (7) and sink (9). */
struct link_counters;
int loopback_create(struct net_backend **out);
void loopback_read_counters(struct net_backend *be, struct link_counters *out);

/* Copies a gathered frame into buf; returns its length, or 0 if it exceeds cap. */
uint32_t net_gather(uint8_t *buf, uint32_t cap, const struct iovec *iov, unsigned n);
/* Hands a received frame to the port that receives (counts it, or counts it dropped). */
void net_backend_deliver(struct net_backend *be, const uint8_t *frame, uint32_t len);
/* What a card sends with: ops->send, and on success the link learns that owner's port
 * receives from now on. */
int net_port_send(struct net_backend *be, void *owner, const struct iovec *iov, unsigned n);
/* After completions freed room: wake the port that waited for it. */
void net_backend_room(struct net_backend *be);
/* The watch table: a free slot for fd (or -ENOSPC), the slot watching fd (or -1), and firing
 * one (drains the eventfd, calls its function). */
int net_watch_add(struct net_backend *be, int fd, net_watch_fn fn, void *opaque);
int net_watch_find(const struct net_backend *be, int fd);
void net_watch_fire(struct net_backend *be, unsigned slot);

#endif
