/* bench/latency: closed-loop ping from the guest through virtio-net to the namespace: round
 * trip p50/p99 as the guest sees it (TSC) and as the wire sees it (capture), and exits per
 * packet. */
#define _GNU_SOURCE
#include <stdio.h>
#include <unistd.h>

#include "bench/bench.h"
#include "probes/session.h"

int main(void)
{
	static struct snapshot a, b;
	struct session_opts o = {
	    .nic = NIC_MODE_VIRTIO, .workload = WL_PING, .rate = 0, .no_bpf = true};
	struct session *s;
	const char *why;
	if (session_open(&s, &o, &why)) {
		fprintf(stderr, "bench/latency: %s\n", why);
		return 1;
	}
	sleep(1);
	session_tick(s, &a);
	sleep(3);
	session_tick(s, &b);
	double pings = (double)(b.pps_tx.total - a.pps_tx.total) / b.dt;
	printf("bench/latency: closed-loop ping, 64-byte payload, %s backend, 3 s\n", b.backend);
	printf("  guest RTT (TSC)      p50 %7.1f us  p99 %7.1f us  p999 %7.1f us  avg %.1f us\n",
	       b.latency_us[0], b.latency_us[1], b.latency_us[2], b.latency_avg_us);
	if (b.cap_on)
		printf("  wire RTT (capture)   p50 %7.1f us  p99 %7.1f us  p999 %7.1f us\n",
		       b.cap_rtt_us[0], b.cap_rtt_us[1], b.cap_rtt_us[2]);
	printf("  %.0f pings/s, %llu lost\n", pings, (unsigned long long)b.ping_lost.total);
	print_per_packet("  ", &b);
	session_close(s);
	return 0;
}
