/* The network side of a session: the link (or, without root, the loopback peer), its backend,
 * and the thread that moves frames between the backend and whichever NIC is attached. It outlives
 * every device and every VM: a guest restart or a NIC switch detaches one device and attaches
 * another while the namespace, the peer, the capture and the guest's addresses stay. */
#ifndef VMSCOPE_NET_H
#define VMSCOPE_NET_H
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "backend.h"
#include "link.h"

struct net {
	struct link link;
	bool have_link;
	const char *why; /* why there is no link (the loopback peer stands in) */
	struct net_backend *be;
	int wake_fd; /* wakes the poller for a call */
	pthread_t thread;
	bool running, stop;
	/* One call at a time runs on the poller's thread (the backend is not thread-safe). */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int (*call)(struct net *n, void *arg);
	void *call_arg;
	int call_ret;
	bool call_done;
};

/* The guest's identity on the link, whatever card it uses. */
#define NET_GUEST_MAC                                                                              \
	{                                                                                          \
		0x52, 0x54, 0x00, 0x12, 0x34, 0x56                                                 \
	}

/* The TAP link when we may build one (root, /dev/net/tun), else the loopback peer with n->why
 * saying why. 0, or -errno with *why. */
int net_open(struct net **out, const char **why);

/* VM i's identity on the link (i from 0, VM1): NET_GUEST_MAC with 0x34 + i as its fifth byte
 * (a VF's MACs count up in the sixth), and the guest's address + i. */
static inline void net_guest_mac(unsigned i, uint8_t mac[6])
{
	const uint8_t base[6] = NET_GUEST_MAC;
	for (unsigned b = 0; b < 6; b++)
		mac[b] = base[b];
	mac[4] = (uint8_t)(mac[4] + i);
}
static inline uint32_t net_guest_ip(unsigned i)
{
	return LINK_GUEST_IP + i;
}
/* Frames of this MAC only make the VMM's view of a blackout (net_gap_*); NULL: every frame.
 * Where several guests share the link, their traffic fills each other's silences. */
void net_gap_watch(struct net *n, const uint8_t *mac);
void net_close(struct net *n);

/* Runs fn(n, arg) on the poller's thread and returns what it returned (directly when called
 * from that thread, or before the thread runs). */
int net_call(struct net *n, int (*fn)(struct net *n, void *arg), void *arg);
/* Attaches a device's port (at most NET_PORTS at once: -EBUSY). The first receives at once; a
 * second one from its first send (backend.h: the link learns). */
int net_attach(struct net *n, const struct net_port *port);
/* Stops every watch the device registered and, if its port is attached, detaches it. After it
 * returns no callback of the device runs again. */
void net_detach(struct net *n, void *owner);
int net_watch(struct net *n, int fd, net_watch_fn fn, void *opaque);
/* A card's eventfd the poller watches for it (a doorbell, an interrupt's resample). */
struct net_card_watch {
	int fd; /* < 0: none */
	net_watch_fn fn;
};
/* A card comes onto the link: its watches (with port->opaque), then its port. 0, or -errno;
 * whatever was done stays until net_detach(port->opaque), which the card calls in any case. */
int net_attach_card(struct net *n, const struct net_port *port, const struct net_card_watch *w,
		    unsigned nr);

const char *net_backend_name(const struct net *n);
/* CPU time the poller's thread has used (ns): the NIC engine's, while a polling card is
 * attached. 0 before the thread runs. */
uint64_t net_thread_cpu_ns(const struct net *n);
void net_read_peer(struct net *n, struct link_counters *out);
/* The VMM's view of a blackout: silences between frames the cards moved, around a window in
 * CLOCK_MONOTONIC ns (vmm/gap.h). */
static inline void net_gap_arm(struct net *n, uint64_t start)
{
	gap_arm(&n->be->gap, start);
}
static inline void net_gap_end(struct net *n, uint64_t end)
{
	gap_end(&n->be->gap, end);
}
static inline bool net_gap_read(struct net *n, uint64_t *max_ns)
{
	return gap_read(&n->be->gap, max_ns);
}
/* What the peer does on its own towards VM i (rx flood, echo); a no-op for the loopback peer.
 * VM1's vCPU thread (NULL before it runs) and the poller are the VM's side while the peer drives
 * it (link.h). */
void net_drive(struct net *n, unsigned i, struct link_target t, const pthread_t *vcpu);

#endif
