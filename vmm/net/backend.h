/* Network backends behind one small ops table: the TAP link (io_uring) and, without root, an
 * in-process loopback peer. A NIC attaches as a port: received frames reach port.rx, and
 * port.tx_ready says the backend has room again after tx_room() said none. Every op and
 * callback runs on the one thread that polls the backend (vmm/net/net.c).
 *
 * In front of the link the backend is a learning Ethernet switch, as a host bridge is: each
 * port carries its guest's MAC, and of the ports with one MAC (a live switch brings the new card
 * up before the old one goes; both have the guest's MAC) the one that sent last receives, so the
 * guest moves its traffic by sending on the new card (its gratuitous ARP). Frames from the link
 * go to the port of their destination MAC; broadcasts, and unicasts to a MAC no port has, go to
 * every MAC's port (the card's own filter drops what is not its own). Several VMs share the one
 * link this way: a frame from one VM to another's MAC goes from port to port and never reaches
 * the link, a broadcast goes to the link and to every other VM. */
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
	uint8_t mac[6]; /* the guest's MAC on this card: the switch's address for the port */
	/* A card serving several guests (the host's SR-IOV card, a MAC per VF): whether mac is
	 * one of its own now. Called on the poller's thread, also from inside the card's own
	 * send: it takes no lock the card holds then. May be NULL. */
	bool (*has_mac)(void *opaque, const uint8_t *mac);
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
	uint64_t rx_moves;   /* times a MAC's frames moved to another port (a card switch) */
	uint64_t switched;   /* frames one port sent to another's MAC: never on the link */
	/* The queue to the link every card shares: frames handed to the kernel and not yet
	 * written (of tx_slots), and the deepest since the reader last took it (net_queue_peak). */
	uint64_t tx_depth, tx_depth_peak, tx_slots;
	uint64_t submits; /* batches handed to the kernel */
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
#define NET_WATCH_MAX 40
struct net_watch {
	int fd;
	net_watch_fn fn;
	void *opaque;
	uint32_t gen;
	bool used;
};

/* VMs on one link, and two cards each during a live switch. */
#define NET_VMS_MAX 4
#define NET_PORTS   (2 * NET_VMS_MAX)

/* A guest's ping (vmm/control.h: PING_ICMP_ID, the guest's TSC in the payload) timed where its
 * card meets the link, on the host's TSC: when the card handed the request over, when the reply
 * came from the link and when the card had taken it. One a guest MAC; the poller writes, the
 * sums are read from any thread. With the guest's offset of its TSC from the host's these split
 * its round trip into hops (vmm_ping_hops). */
#define NET_HOP_GUESTS NET_VMS_MAX
struct net_hops {
	uint8_t mac[6];
	bool used;
	bool pending; /* a request is out: seq, stamp, sent */
	uint16_t seq;
	uint64_t stamp, sent;
	uint64_t n;	   /* replies timed */
	int64_t out_sum;   /* sent - stamp: TSC cycles, the guest's offset not taken out */
	uint64_t link_sum; /* the reply from the link - sent */
	int64_t taken_sum; /* the card took the reply - stamp: as out_sum */
};
struct net_hops_sums {
	uint64_t n;
	int64_t out_sum, taken_sum;
	uint64_t link_sum;
};

struct net_backend {
	const struct net_backend_ops *ops;
	struct net_port port[NET_PORTS]; /* attached while port.opaque is set */
	bool rx[NET_PORTS]; /* the port receives its MAC's frames (one per MAC: the learnt one) */
	/* The guest whose silences gap measures (a live switch's blackout); all zero: every
	 * frame. */
	uint8_t gap_mac[6];
	bool tx_waiting;       /* a port found no room: call port.tx_ready when there is */
	struct gap_window gap; /* the VMM's view of silences on the link (mono ns) */
	struct net_watch watch[NET_WATCH_MAX];
	struct net_backend_stats st;
	struct net_hops hops[NET_HOP_GUESTS];
};

/* The TAP of a struct link, driven through io_uring. */
int tap_uring_create(struct net_backend **out, int tap_fd);
/* An in-process peer at LINK_PEER_IP: ARP, ICMP echo, UDP echo (7) and sink (9). */
struct link_counters;
int loopback_create(struct net_backend **out);
void loopback_read_counters(struct net_backend *be, struct link_counters *out);

/* The ping hops of the guest with this MAC so far (all zero: none timed). Any thread. */
void net_backend_hops(const struct net_backend *be, const uint8_t *mac, struct net_hops_sums *out);

/* Copies a gathered frame into buf; returns its length, or 0 if it exceeds cap. */
uint32_t net_gather(uint8_t *buf, uint32_t cap, const struct iovec *iov, unsigned n);
/* Hands a frame from the link to the port of its destination (counts it, or counts it dropped). */
void net_backend_deliver(struct net_backend *be, const uint8_t *frame, uint32_t len);
/* What a card sends with: the switch learns that owner's port receives its MAC's frames from
 * now on, then the frame goes to another port's MAC, or to the link (ops->send; a broadcast to
 * both). */
int net_port_send(struct net_backend *be, void *owner, const struct iovec *iov, unsigned n);
/* After completions freed room: wake the port that waited for it. */
void net_backend_room(struct net_backend *be);
/* The watch table: a free slot for fd (or -ENOSPC), the slot watching fd (or -1), and firing
 * one (drains the eventfd, calls its function). */
/* A port is attached, or goes: the switch's table follows (each MAC keeps one port receiving). */
void net_backend_port_added(struct net_backend *be, unsigned i);
void net_backend_port_gone(struct net_backend *be, unsigned i);
int net_watch_add(struct net_backend *be, int fd, net_watch_fn fn, void *opaque);
int net_watch_find(const struct net_backend *be, int fd);
void net_watch_fire(struct net_backend *be, unsigned slot);

#endif
