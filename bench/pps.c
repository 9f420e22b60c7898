/* bench/pps: 64-byte frames from the guest through virtio-net to the TAP link, beside the raw
 * limit of the same kind of TAP measured in the same run by a host-side io_uring writer and
 * reader (the TAP backend itself). Target: guest tx and rx at least 60% of the raw limits. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vmm/guest/netstack.h"
#include "vmm/net/backend.h"
#include "vmm/net/link.h"
#include "vmm/virtio/net.h"
#include "bench/bench.h"
#include "probes/session.h"
#include "vmm/vmm.h"

#define SECONDS 2.0

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The raw limit: 64-byte UDP frames into a fresh link's TAP through the same io_uring backend,
 * 32 per submit, counted at the peer's sink. */
static double raw_writer(void)
{
	static struct link l;
	struct net_backend *be;
	struct link_counters c0, c1;
	const char *why;
	uint8_t f[128];
	struct net_if nif = {.mac = {0x52, 0x54, 0, 0, 0, 9}, .ip = LINK_GUEST_IP};
	if (link_open(&l, &why) || tap_uring_create(&be, l.tap_fd)) {
		fprintf(stderr, "bench/pps: %s\n", why);
		return -1;
	}
	memcpy(nif.peer_mac, l.peer_mac, 6);
	uint8_t payload[22] = {0}; /* 14 + 20 + 8 + 22 = 64 bytes */
	size_t n = net_udp(&nif, f, sizeof(f), LINK_PEER_IP, 40000, LINK_PORT_SINK, payload, sizeof(payload));
	struct iovec iov = {f, n};
	link_read_counters(&l, &c0);
	uint64_t sent = 0;
	double t0 = now_s(), end = t0 + SECONDS;
	while (now_s() < end) {
		for (int i = 0; i < 32; i++)
			if (be->ops->send(be, &iov, 1) == 0)
				sent++;
		be->ops->poll(be, false, 0);
	}
	double dt = now_s() - t0;
	for (int i = 0; i < 20; i++)
		be->ops->poll(be, true, 10);
	usleep(200000);
	link_read_counters(&l, &c1);
	be->ops->destroy(be);
	link_close(&l);
	printf("  raw io_uring writer   %9.0f pps sent, %9.0f pps reached the sink\n", (double)sent / dt,
	       (double)(c1.sink_rx - c0.sink_rx) / dt);
	return (double)be->st.tx_frames > 0 ? (double)(c1.sink_rx - c0.sink_rx) / dt : 0;
}

static uint64_t raw_rx_frames;
static void count_rx(void *opaque, const uint8_t *frame, uint32_t len)
{
	(void)opaque, (void)frame, (void)len;
	raw_rx_frames++;
}

/* The raw limit the other way: the peer floods, a host io_uring reader takes frames off the TAP. */
static double raw_reader(void)
{
	static struct link l;
	struct net_backend *be;
	const char *why;
	if (link_open(&l, &why) || tap_uring_create(&be, l.tap_fd)) {
		fprintf(stderr, "bench/pps: %s\n", why);
		return -1;
	}
	be->port.rx = count_rx;
	/* The namespace must know the guest's MAC to send: answer its ARP once by hand. */
	static uint8_t f[128];
	struct net_if nif = {.mac = {0x52, 0x54, 0, 0, 0, 9}, .ip = LINK_GUEST_IP};
	memcpy(nif.peer_mac, l.peer_mac, 6);
	size_t n = net_arp_request(&nif, f, sizeof(f), LINK_PEER_IP); /* teaches it our MAC */
	struct iovec iov = {f, n};
	be->ops->send(be, &iov, 1);
	be->ops->poll(be, true, 50);
	link_drive(&l, LINK_FLOOD, 0, 22);
	usleep(200000);
	uint64_t r0 = raw_rx_frames;
	double t0 = now_s(), end = t0 + SECONDS;
	while (now_s() < end)
		be->ops->poll(be, true, 10);
	double pps = (double)(raw_rx_frames - r0) / (now_s() - t0);
	link_drive(&l, LINK_QUIET, 0, 0);
	be->ops->destroy(be);
	link_close(&l);
	printf("  raw io_uring reader   %9.0f pps taken off the TAP (the peer flooding)\n", pps);
	return pps;
}

/* A session on its own link: a warm-up, then one measured window of SECONDS. */
static struct session *open_guest(enum workload wl, struct snapshot *a)
{
	struct session_opts o = {.nic = true, .workload = WL_PING, .rate = 0, .pkt_size = 22,
				 .no_bpf = true}; /* 22-byte payloads: 64-byte frames */
	struct session *s;
	const char *why;
	if (session_open(&s, &o, &why)) {
		fprintf(stderr, "bench/pps: %s\n", why);
		return NULL;
	}
	usleep(200000); /* the ping resolves the peer's MAC */
	session_set_workload(s, wl, 0, 0);
	usleep(300000);
	session_tick(s, a);
	return s;
}

static double guest_rx(void)
{
	static struct snapshot a, b;
	struct session *s = open_guest(WL_RX, &a);
	if (!s)
		return -1;
	usleep((useconds_t)(SECONDS * 1e6));
	session_tick(s, &b);
	printf("  guest rx (virtio)     %9.0f pps received, %llu lost to overload\n", b.pps_rx.rate,
	       (unsigned long long)(b.rx_lost.total - a.rx_lost.total));
	print_per_packet("    ", &b);
	session_close(s);
	return b.pps_rx.rate;
}

static double guest_tx(void)
{
	static struct snapshot a, b;
	struct session *s = open_guest(WL_TX, &a);
	if (!s)
		return -1;
	usleep((useconds_t)(SECONDS * 1e6));
	session_tick(s, &b);
	printf("  guest tx (virtio)     %9.0f pps sent, %9.0f pps reached the sink, %.1f packets/kick\n",
	       b.pps_tx.rate, b.peer_sink.rate, b.dev_kicks.rate > 0 ? b.dev_tx.rate / b.dev_kicks.rate : 0);
	print_per_packet("    ", &b);
	session_close(s);
	return b.peer_sink.rate;
}

int main(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "bench/pps: needs root (the TAP link)\n");
		return 1;
	}
	printf("bench/pps: 64-byte frames to the peer's UDP sink, %.0f s each\n", SECONDS);
	double raw = raw_writer(), tx = guest_tx();
	if (raw <= 0 || tx < 0)
		return 1;
	printf("  guest tx / raw writer: %.0f%%   target >= 60%%: %s\n", 100 * tx / raw,
	       tx >= 0.6 * raw ? "met" : "MISSED");
	double rraw = raw_reader(), rx = guest_rx();
	if (rraw <= 0 || rx < 0)
		return 1;
	printf("  guest rx / raw reader: %.0f%%   target >= 60%%: %s\n", 100 * rx / rraw,
	       rx >= 0.6 * rraw ? "met" : "MISSED");
	return 0;
}
