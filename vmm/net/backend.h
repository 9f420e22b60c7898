/* Network backends behind one small ops table: the TAP link (io_uring) and, without root, an
 * in-process loopback peer. A NIC model sends frames and gets received frames through a callback
 * on the thread that polls the backend. */
#ifndef VMSCOPE_BACKEND_H
#define VMSCOPE_BACKEND_H
#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#define NET_FRAME_MAX 2048 /* a 1514-byte frame, rounded up */

struct net_backend;
typedef void (*net_rx_fn)(void *opaque, const uint8_t *frame, uint32_t len);
typedef void (*net_watch_fn)(void *opaque);

struct net_backend_stats {
	uint64_t tx_frames, tx_bytes, tx_dropped; /* dropped: ring full or write failed */
	uint64_t rx_frames, rx_bytes, rx_errors;
	uint64_t submits; /* batches handed to the kernel */
};

struct net_backend_ops {
	const char *name;
	/* Queues one frame gathered from iov; it goes out at the next poll. 0 or -EAGAIN (full). */
	int (*send)(struct net_backend *be, const struct iovec *iov, unsigned n);
	/* Submits queued frames, reaps completions, delivers received frames and fires watches.
	 * Waits up to timeout_ms for something to happen when wait is set. */
	int (*poll)(struct net_backend *be, bool wait, int timeout_ms);
	/* Calls fn when fd becomes readable (ioeventfds), from poll(). */
	int (*watch)(struct net_backend *be, int fd, net_watch_fn fn, void *opaque);
	void (*destroy)(struct net_backend *be);
};

struct net_backend {
	const struct net_backend_ops *ops;
	net_rx_fn rx;
	void *rx_opaque;
	struct net_backend_stats st;
};

/* The TAP of a struct link, driven through io_uring. */
int tap_uring_create(struct net_backend **out, int tap_fd, net_rx_fn rx, void *opaque);
/* An in-process peer at LINK_PEER_IP: ARP, ICMP echo, UDP echo (7) and sink (9). */
int loopback_create(struct net_backend **out, net_rx_fn rx, void *opaque);

/* Copies a gathered frame into buf; returns its length, or 0 if it exceeds cap. */
uint32_t net_gather(uint8_t *buf, uint32_t cap, const struct iovec *iov, unsigned n);

#endif
