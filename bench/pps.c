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

static double guest_rx(void)
{
	struct vmm_opts o = {.nic = true};
	struct vmm *vm;
	const char *why;
	struct ctl_page a, b;
	if (vmm_create(&vm, &o, &why) || vmm_start(vm)) {
		fprintf(stderr, "bench/pps: %s\n", why ? why : "vmm");
		return -1;
	}
	usleep(300000);
	vmm_set_packet_size(vm, 22);
	vmm_set_workload(vm, WL_RX, 0, 0);
	usleep(300000);
	vmm_read_ctl(vm, &a);
	double t0 = now_s();
	usleep((useconds_t)(SECONDS * 1e6));
	double dt = now_s() - t0;
	vmm_read_ctl(vm, &b);
	double pps = (double)(b.rx_sink - a.rx_sink) / dt;
	printf("  guest rx (virtio)     %9.0f pps received, %llu lost to overload\n", pps,
	       (unsigned long long)(b.rx_seq_lost - a.rx_seq_lost));
	vmm_destroy(vm);
	return pps;
}

static double guest_tx(void)
{
	struct vmm_opts o = {.nic = true};
	struct vmm *vm;
	const char *why;
	struct ctl_page a, b;
	struct virtio_net_stats st;
	struct link_counters p0, p1;
	struct vmm_counters e0, e1;
	if (vmm_create(&vm, &o, &why) || vmm_start(vm)) {
		fprintf(stderr, "bench/pps: %s\n", why ? why : "vmm");
		return -1;
	}
	usleep(300000);
	vmm_set_packet_size(vm, 22); /* 64-byte frames */
	vmm_set_workload(vm, WL_PING, 0, 0); /* ARP first */
	usleep(200000);
	vmm_set_workload(vm, WL_TX, 0, 0);
	usleep(300000);
	vmm_read_ctl(vm, &a);
	vmm_read_net(vm, &st, &p0);
	vmm_read_counters(vm, &e0);
	double t0 = now_s();
	usleep((useconds_t)(SECONDS * 1e6));
	double dt = now_s() - t0;
	vmm_read_ctl(vm, &b);
	vmm_read_net(vm, &st, &p1);
	vmm_read_counters(vm, &e1);
	double pps = (double)(b.net_tx_packets - a.net_tx_packets) / dt;
	double sink = (double)(p1.sink_rx - p0.sink_rx) / dt;
	printf("  guest tx (virtio)     %9.0f pps sent, %9.0f pps reached the sink, %.4f exits/packet, "
	       "%.1f packets/kick\n", pps, sink,
	       (double)(e1.userspace_exits - e0.userspace_exits) / (pps * dt),
	       st.tx_kicks ? (double)st.tx_packets / (double)st.tx_kicks : 0);
	vmm_destroy(vm);
	return sink;
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
