/* bench/latency: closed-loop ping from the guest through each card to the namespace: round
 * trip p50/p99 as the guest sees it (TSC) and as the wire sees it (capture), their ratio, the
 * round trip taken apart where it passes (snapshot.h: ping_hops) and exits per packet.
 *
 *   sudo build/bench/latency [emulated|virtio|vf ...]   (default: all three)
 *   LATENCY_SECONDS=n (the window, default 3)
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bench/bench.h"
#include "probes/session.h"
#include "vmm/names.h"

static int one_card(enum nic_mode mode, unsigned seconds)
{
	static struct snapshot a, b;
	struct session_opts o = {.nic = mode, .workload = WL_PING, .rate = 0, .no_bpf = true};
	struct session *s;
	const char *why;
	if (session_open(&s, &o, &why)) {
		fprintf(stderr, "bench/latency: %s\n", why);
		return 1;
	}
	sleep(1);
	session_tick(s, &a); /* the window starts here: the hops are this window's */
	sleep(seconds);
	session_tick(s, &b);
	double pings = (double)(b.pps_tx.total - a.pps_tx.total) / b.dt;
	printf("%s (%s backend, %u s):\n", nic_mode_name(mode), b.backend, seconds);
	printf("  guest RTT (TSC)      p50 %7.1f us  p99 %7.1f us  p999 %7.1f us  avg %.1f us\n",
	       b.latency_us[0], b.latency_us[1], b.latency_us[2], b.latency_avg_us);
	if (b.cap_on && b.cap_rtt_us[0] > 0)
		printf("  wire RTT (capture)   p50 %7.1f us  p99 %7.1f us  p999 %7.1f us  "
		       "guest/wire p50 %.1fx\n",
		       b.cap_rtt_us[0], b.cap_rtt_us[1], b.cap_rtt_us[2],
		       b.latency_us[0] / b.cap_rtt_us[0]);
	const struct ping_hops *h = &b.hops;
	if (h->valid) {
		printf(
		    "  hops (avg us, one clock): to the link %.1f (the guest's send call %.1f) | "
		    "link %.1f",
		    h->us[HOP_TO_LINK], h->send_us, h->us[HOP_LINK]);
		if (h->wire_valid)
			printf(" (the wire %.1f, the VMM's TAP I/O %.1f)", h->wire_us,
			       h->us[HOP_LINK] - h->wire_us);
		printf(" | card in %.1f | guest finds it %.1f\n", h->us[HOP_CARD_IN],
		       h->us[HOP_GUEST_IN]);
	} else {
		printf("  hops: - (the guest's clock could not be set against the host's)\n");
	}
	printf("  %.0f pings/s, %llu lost\n", pings, (unsigned long long)b.ping_lost.total);
	print_per_packet("  ", &b);
	session_close(s);
	return 0;
}

int main(int argc, char **argv)
{
	const char *e = getenv("LATENCY_SECONDS");
	unsigned seconds = e ? (unsigned)atoi(e) : 3;
	if (seconds < 1 || seconds > 600) {
		fprintf(stderr, "bench/latency: LATENCY_SECONDS wants 1 to 600\n");
		return 2;
	}
	enum nic_mode want[8] = {NIC_MODE_EMULATED, NIC_MODE_VIRTIO, NIC_MODE_VF};
	unsigned n = argc > 1 ? 0 : 3;
	for (int i = 1; i < argc; i++) {
		if (n == 8 || nic_mode_parse(argv[i], &want[n]) || want[n] == NIC_MODE_NONE) {
			fprintf(stderr, "usage: bench/latency [emulated|virtio|vf ...]\n");
			return 2;
		}
		n++;
	}
	print_machine();
	printf("bench/latency: closed-loop ping, 64-byte payload, probes off, capture on\n");
	int r = 0;
	for (unsigned i = 0; i < n; i++)
		r |= one_card(want[i], seconds);
	return r;
}
