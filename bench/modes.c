/* bench/modes: one run, one table, a row per NIC mode (the emulated e1000, virtio, ...) beside the
 * raw limit of the same kind of TAP measured in the same run by a host-side io_uring writer and
 * reader (the TAP backend itself): tx and rx packets per second with 64-byte frames, closed-loop
 * ping p50/p99, exits per packet (all, nic), interrupts per packet, and host CPU per packet (the
 * CPU time of the VMM's threads: the vCPU thread, guest time included, and the network poller).
 *
 * Like for like: the mode rows run without the session's libpcap capture, as the raw writer and
 * reader do (a capture on the link costs its writer about a fifth of its rate: the raw+capture
 * row shows it). On two cores the rates move by a tenth or more from run to run, so every rate
 * is the median of ROUNDS rounds, each round measuring raw and every mode back to back. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vmm/shared/netstack.h"
#include "vmm/net/backend.h"
#include "vmm/net/link.h"
#include <dirent.h>
#include <stdlib.h>
#include "vmm/nic.h"
#include "bench/bench.h"
#include "probes/capture.h"
#include "probes/session.h"
#include "vmm/clock.h"
#include "vmm/vmm.h"

#define SECONDS 2.0
#define ROUNDS	3

/* A fresh link with the TAP backend on it, as the raw writer and reader use it, with the
 * session's capture on the link when asked; nif is the host's stand-in for the guest. */
struct raw {
	struct link l;
	struct net_backend *be;
	struct capture *cap;
	struct net_if nif;
};

static int raw_open(struct raw *r, bool capture)
{
	const char *why = "";
	r->cap = NULL;
	if (link_open(&r->l, &why) || tap_uring_create(&r->be, r->l.tap_fd) ||
	    (capture && (capture_open(&r->cap, r->l.netns, LINK_TAP, LINK_GUEST_IP, &why) ||
			 capture_start(r->cap, NULL, &why)))) {
		fprintf(stderr, "bench/modes: %s\n", why);
		return -1;
	}
	r->nif = (struct net_if){.mac = {0x52, 0x54, 0, 0, 0, 9}, .ip = LINK_GUEST_IP};
	memcpy(r->nif.peer_mac, r->l.peer_mac, 6);
	return 0;
}

static void raw_close(struct raw *r)
{
	if (r->cap)
		capture_close(r->cap);
	r->be->ops->destroy(r->be);
	link_close(&r->l);
}

/* The raw limit: 64-byte UDP frames into a fresh link's TAP through the same io_uring backend,
 * 32 per submit, counted at the peer's sink. */
static double raw_writer(bool capture)
{
	static struct raw r;
	struct link_counters c0, c1;
	uint8_t f[128];
	if (raw_open(&r, capture))
		return -1;
	struct net_backend *be = r.be;
	uint8_t payload[22] = {0}; /* 14 + 20 + 8 + 22 = 64 bytes */
	size_t n = net_udp(&r.nif, f, sizeof(f), LINK_PEER_IP, 40000, LINK_PORT_SINK, payload,
			   sizeof(payload));
	struct iovec iov = {f, n};
	link_read_counters(&r.l, &c0);
	double t0 = mono_s(), end = t0 + SECONDS;
	while (mono_s() < end) {
		for (int i = 0; i < 32; i++)
			be->ops->send(be, &iov, 1);
		be->ops->poll(be, false, 0);
	}
	double dt = mono_s() - t0;
	for (int i = 0; i < 20; i++)
		be->ops->poll(be, true, 10000);
	usleep(200000);
	link_read_counters(&r.l, &c1);
	bool wrote = be->st.tx_frames > 0;
	raw_close(&r);
	return wrote ? (double)(c1.sink_rx - c0.sink_rx) / dt : 0;
}

static uint64_t raw_rx_frames;
static void count_rx(void *opaque, const uint8_t *frame, uint32_t len)
{
	(void)opaque, (void)frame, (void)len;
	raw_rx_frames++;
}

/* The raw limit the other way: the peer floods, a host io_uring reader takes frames off the TAP. */
static double raw_reader(bool capture)
{
	static struct raw r;
	static uint8_t f[128];
	if (raw_open(&r, capture))
		return -1;
	struct net_backend *be = r.be;
	be->port[0] = (struct net_port){.rx = count_rx, .opaque = &r};
	net_backend_port_added(be, 0);
	/* The namespace must know the guest's MAC to send: answer its ARP once by hand. */
	size_t n = net_arp_request(&r.nif, f, sizeof(f), LINK_PEER_IP); /* teaches it our MAC */
	struct iovec iov = {f, n};
	be->ops->send(be, &iov, 1);
	be->ops->poll(be, true, 50);
	const pthread_t self = pthread_self(); /* the reader: the VM's side */
	link_drive(&r.l, 0, (struct link_target){LINK_FLOOD, 0, 22, 1}, &self, 1);
	usleep(200000);
	uint64_t r0 = raw_rx_frames;
	double t0 = mono_s(), end = t0 + SECONDS;
	while (mono_s() < end)
		be->ops->poll(be, true, 10);
	double pps = (double)(raw_rx_frames - r0) / (mono_s() - t0);
	link_drive(&r.l, 0, (struct link_target){LINK_QUIET, 0, 0, 1}, &self, 1);
	raw_close(&r);
	return pps;
}

/* CPU time (ns) of this process's threads whose name starts with prefix (schedstat). */
static double threads_cpu_ns(const char *prefix)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	double ns = 0;
	while (d && (de = readdir(d))) {
		char path[300], comm[32] = "";
		unsigned long long run = 0;
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", de->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		if (!fgets(comm, sizeof(comm), f))
			comm[0] = 0;
		fclose(f);
		if (strncmp(comm, prefix, strlen(prefix)))
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/schedstat", de->d_name);
		f = fopen(path, "r");
		if (f && fscanf(f, "%llu", &run) == 1)
			ns += (double)run;
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	return ns;
}

struct row {
	enum nic_mode mode;
	const char *name;
	double tx[ROUNDS], rx[ROUNDS], cpu_tx[ROUNDS], cpu_rx[ROUNDS];
	double p50, p99, exits_all, exits_nic, irqs;
	bool have_exits;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* The median of n values, sorting them in place. */
static double median_sort(double *v, unsigned n)
{
	qsort(v, n, sizeof(double), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double median(const double *v)
{
	double t[ROUNDS];
	memcpy(t, v, sizeof(t));
	return median_sort(t, ROUNDS);
}

/* One workload on a fresh session with card mode: a warm-up, then a window of SECONDS. */
/* A session on that card running wl at rate, past its start: NULL when it cannot open. */
static struct session *bench_session(enum nic_mode mode, enum workload wl, uint32_t rate)
{
	struct session_opts o = {.nic = mode,
				 .workload = WL_PING,
				 .rate = 0,
				 .pkt_size = 22,
				 .no_bpf = true,
				 .no_capture = true}; /* 22-byte payloads: 64-byte frames */
	struct session *s;
	const char *why;
	if (session_open(&s, &o, &why)) {
		fprintf(stderr, "bench/modes: %s\n", why);
		return NULL;
	}
	usleep(200000); /* the ping resolves the peer's MAC */
	session_set_workload(s, wl, 0, rate);
	usleep(300000);
	return s;
}

static int measure(enum nic_mode mode, enum workload wl, struct snapshot *b, double *cpu_per_pkt)
{
	static struct snapshot a;
	struct session *s = bench_session(mode, wl, 0);
	if (!s)
		return -1;
	session_tick(s, &a);
	double c0 = threads_cpu_ns("vmscope-vcpu") + threads_cpu_ns("vmscope-net");
	usleep((useconds_t)(SECONDS * 1e6));
	session_tick(s, b);
	double cpu = threads_cpu_ns("vmscope-vcpu") + threads_cpu_ns("vmscope-net") - c0;
	double pkts = (double)(b->dev_tx.total - a.dev_tx.total + b->dev_rx.total - a.dev_rx.total);
	*cpu_per_pkt = pkts > 0 ? cpu / pkts : 0;
	session_close(s);
	return 0;
}

/* Round k of a mode's rates: its tx and rx floods (and, in round 0, the per-packet figures). */
static int run_rates(enum nic_mode mode, struct row *r, unsigned k)
{
	static struct snapshot b;
	r->mode = mode;
	r->name = nic_mode_name(mode);
	if (measure(mode, WL_TX, &b, &r->cpu_tx[k]))
		return -1;
	r->tx[k] = b.peer_sink.rate;
	if (k == 0) {
		r->have_exits = b.per_packet[PP_ALL].valid && b.per_packet[PP_NIC].valid;
		r->exits_all = b.per_packet[PP_ALL].value;
		r->exits_nic = b.per_packet[PP_NIC].value;
		r->irqs = b.per_packet[PP_IRQS].valid ? b.per_packet[PP_IRQS].value : 0;
	}
	if (measure(mode, WL_RX, &b, &r->cpu_rx[k]))
		return -1;
	r->rx[k] = b.pps_rx.rate;
	return 0;
}

static int run_ping(enum nic_mode mode, struct row *r)
{
	static struct snapshot b;
	double cpu;
	if (measure(mode, WL_PING, &b, &cpu))
		return -1;
	r->p50 = b.latency_us[0];
	r->p99 = b.latency_us[1];
	return 0;
}

/* A rate's range over the rounds, lowest to highest: figures from two machines (or two runs)
 * can be told apart from the noise of one. */
static void spread_line(const char *name, const double *tx, const double *rx)
{
	double t[ROUNDS], r[ROUNDS];
	memcpy(t, tx, sizeof(t));
	memcpy(r, rx, sizeof(r));
	qsort(t, ROUNDS, sizeof(double), cmp_double);
	qsort(r, ROUNDS, sizeof(double), cmp_double);
	printf("  %-11s tx %.0f-%.0f  rx %.0f-%.0f pps\n", name, t[0], t[ROUNDS - 1], r[0],
	       r[ROUNDS - 1]);
}

/* The ratio's median and its range over the rounds (each round against its own raw figure). */
static void ratio_line(const char *mode, const char *dir, const double *v, const double *raw)
{
	double lo = 1e9, hi = 0;
	for (unsigned k = 0; k < ROUNDS; k++) {
		double r = raw[k] > 0 ? v[k] / raw[k] : 0;
		lo = r < lo ? r : lo;
		hi = r > hi ? r : hi;
	}
	printf("ratio %s %s/raw %.2f (medians; the rounds' own ratios %.2f-%.2f)\n", mode, dir,
	       median(v) / median(raw), lo, hi);
}

/* The switch rows: for each pair of cards, 2 * SWITCHES live switches back and forth under
 * closed-loop ping (SWITCHES each way): blackout p50 and max (the capture's view) and pings
 * lost, per ordered pair. */
#define SWITCHES 20

static struct snap_event *switch_once(struct session *s, enum nic_mode to, struct snapshot *snap)
{
	static struct snap_event ev;
	const char *why;
	if (session_switch_nic(s, to, &why)) {
		fprintf(stderr, "bench/modes: switch to %s: %s\n", nic_mode_name(to), why);
		return NULL;
	}
	for (int i = 0; i < 400; i++) {
		usleep(5000);
		session_tick(s, snap);
		for (unsigned e = 0; e < snap->nr_events; e++)
			if (snap->events[e].kind == SEV_NIC_SWITCH) {
				ev = snap->events[e];
				return &ev;
			}
	}
	fprintf(stderr, "bench/modes: no event for the switch to %s\n", nic_mode_name(to));
	return NULL;
}

static int switch_rows(void)
{
	static struct snapshot snap;
	static const enum nic_mode pairs[3][2] = {{NIC_MODE_EMULATED, NIC_MODE_VIRTIO},
						  {NIC_MODE_VIRTIO, NIC_MODE_VF},
						  {NIC_MODE_VF, NIC_MODE_EMULATED}};
	printf("\nlive switches under closed-loop ping, %d each way; blackout = the longest gap in "
	       "the\n"
	       "guest's traffic around a switch (capture timestamps), lost = pings (sequence "
	       "numbers)\n",
	       SWITCHES);
	for (unsigned p = 0; p < 3; p++) {
		struct session_opts o = {
		    .nic = pairs[p][0], .workload = WL_PING, .rate = 0, .no_bpf = true};
		struct session *s;
		const char *why;
		double bo[2][SWITCHES], dur[2 * SWITCHES], quiet[SWITCHES];
		uint64_t lost[2] = {0, 0};
		if (session_open(&s, &o, &why)) {
			fprintf(stderr, "bench/modes: %s\n", why);
			return -1;
		}
		usleep(300000);
		session_tick(s, &snap);
		uint64_t lost0 = snap.ping_lost.total;
		for (int i = 0; i < 2 * SWITCHES; i++) {
			int dir = i % 2;
			struct snap_event *ev = switch_once(s, pairs[p][1 - dir], &snap);
			if (!ev || !ev->ok || !ev->blackout_valid[0]) {
				fprintf(stderr, "bench/modes: switch %s -> %s: %s\n",
					nic_mode_name(pairs[p][dir]),
					nic_mode_name(pairs[p][1 - dir]),
					ev ? (ev->ok ? "no traffic measured" : ev->why) : "failed");
				session_close(s);
				return -1;
			}
			bo[dir][i / 2] = ev->blackout_ms[0];
			dur[i] = ev->duration_ms;
			lost[dir] += ev->lost;
			usleep(50000);
		}
		/* The control: as many windows as long as those switches (their median), no switch,
		 * the same measure: how long the machine alone keeps the traffic silent. */
		double win = median_sort(dur, 2 * SWITCHES);
		unsigned nq = 0;
		for (int i = 0; i < SWITCHES; i++) {
			double g[2];
			usleep(50000);
			session_tick(s, &snap);
			if (!session_quiet_gap(s, win, g) && !isnan(g[0]))
				quiet[nq++] = g[0];
		}
		usleep(1200000); /* a ping lost at the end is known a second later */
		session_tick(s, &snap);
		uint64_t all = snap.ping_lost.total - lost0;
		session_close(s);
		for (int dir = 0; dir < 2; dir++) {
			double p50 = median_sort(bo[dir], SWITCHES);
			char pair[32];
			snprintf(pair, sizeof(pair), "%s -> %s", nic_mode_name(pairs[p][dir]),
				 nic_mode_name(pairs[p][1 - dir]));
			printf("switch %-20s blackout p50 %.2f ms max %.2f ms lost %llu\n", pair,
			       p50, bo[dir][SWITCHES - 1], (unsigned long long)lost[dir]);
		}
		if (all != lost[0] + lost[1])
			printf("  (the guest counted %llu pings lost over those %d switches)\n",
			       (unsigned long long)all, 2 * SWITCHES);
		if (nq) {
			double p50 = median_sort(quiet, nq);
			printf(
			    "  no switch, on %s, %u windows of %.1f ms (those switches' median): "
			    "longest gap p50 %.2f ms max %.2f ms\n",
			    nic_mode_name(pairs[p][0]), nq, win, p50, quiet[nq - 1]);
		}
	}
	return 0;
}

/* The SR-IOV card's engine (vmm/net/net.c, vmm/sriov): its thread's share of a core while the
 * guest idles, pings at 1000/s and floods each way, beside what the guest moved and the
 * wake-ups (the exits) its sleeping cost: a card's silicon should cost in proportion to work. */
static int engine_rows(void)
{
	static const struct {
		const char *name;
		enum workload wl;
		uint32_t rate;
	} load[] = {{"idle", WL_IDLE, 0},
		    {"ping 1000/s", WL_PING, 1000},
		    {"tx flood", WL_TX, 0},
		    {"rx flood", WL_RX, 0}};
	printf("\nthe VF's engine (the card's silicon, a host thread), %.0f s each:\n%-12s %9s "
	       "%10s %10s "
	       "%12s %12s\n",
	       SECONDS, "load", "core %", "tx pps", "rx pps", "wakes/s", "nic/pkt");
	for (unsigned i = 0; i < sizeof(load) / sizeof(load[0]); i++) {
		static struct snapshot a, b;
		struct session *s = bench_session(NIC_MODE_VF, load[i].wl, load[i].rate);
		if (!s)
			return -1;
		session_tick(s, &a);
		double c0 = threads_cpu_ns("vmscope-net"), t0 = mono_s();
		usleep((useconds_t)(SECONDS * 1e6));
		session_tick(s, &b);
		double share = (threads_cpu_ns("vmscope-net") - c0) / ((mono_s() - t0) * 1e9);
		const struct named_figure *wk =
		    snapshot_find(b.dev_counter, b.nr_dev_counters, "engine_wakes");
		char nic[16] = "-";
		if (b.per_packet[PP_NIC].valid)
			snprintf(nic, sizeof(nic), "%.4f", b.per_packet[PP_NIC].value);
		printf("%-12s %8.1f%% %10.0f %10.0f %12.0f %12s\n", load[i].name, 100 * share,
		       b.dev_tx.rate, b.dev_rx.rate, wk ? wk->f.rate : 0, nic);
		session_close(s);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct row rows[NIC_MODE_MAX];
	unsigned n = 0;
	bool only_switches = argc == 2 && !strcmp(argv[1], "switches");
	bool only_engine = argc == 2 && !strcmp(argv[1], "engine");
	if (argc > 2 || (argc == 2 && !only_switches && !only_engine)) {
		fprintf(stderr,
			"usage: bench/modes [switches|engine]: the table, the switch rows and the "
			"engine rows, or one of the last two only\n");
		return 2;
	}
	if (geteuid() != 0) {
		fprintf(stderr, "bench/modes: needs root (the TAP link); run it with sudo\n");
		return 1;
	}
	print_machine();
	if (only_switches)
		return switch_rows() ? 1 : 0;
	if (only_engine)
		return engine_rows() ? 1 : 0;
	printf("bench/modes: 64-byte frames, %.0f s per figure, rates the median of %d rounds; "
	       "exits per\n"
	       "packet from the stats fd (all) and the VMM (nic); host CPU = vCPU thread (guest "
	       "included)\n"
	       "+ network poller; the mode rows without the session's capture, like the raw rows\n",
	       SECONDS, ROUNDS);
	double raw_tx[ROUNDS], raw_rx[ROUNDS], cap_tx[ROUNDS], cap_rx[ROUNDS];
	for (unsigned k = 0; k < ROUNDS; k++) {
		raw_tx[k] = raw_writer(false);
		raw_rx[k] = raw_reader(false);
		cap_tx[k] = raw_writer(true);
		cap_rx[k] = raw_reader(true);
		if (raw_tx[k] <= 0 || raw_rx[k] <= 0 || cap_tx[k] <= 0 || cap_rx[k] <= 0)
			return 1;
		n = 0;
		for (unsigned m = NIC_MODE_EMULATED; m < NIC_MODE_MAX; m++) {
			if (!nic_model_find(m))
				continue;
			if (run_rates(m, &rows[n], k))
				return 1;
			n++;
		}
	}
	for (unsigned i = 0; i < n; i++)
		if (run_ping(rows[i].mode, &rows[i]))
			return 1;
	printf("\n%-11s %10s %10s %9s %9s %10s %10s %9s %12s %12s\n", "mode", "tx pps", "rx pps",
	       "ping p50", "ping p99", "exits/pkt", "nic/pkt", "irqs/pkt", "cpu/pkt tx",
	       "cpu/pkt rx");
	printf("%-11s %10.0f %10.0f %9s %9s %10s %10s %9s %12s %12s\n", "raw", median(raw_tx),
	       median(raw_rx), "-", "-", "-", "-", "-", "-", "-");
	printf("%-11s %10.0f %10.0f %9s %9s %10s %10s %9s %12s %12s\n", "raw+capture",
	       median(cap_tx), median(cap_rx), "-", "-", "-", "-", "-", "-", "-");
	for (unsigned i = 0; i < n; i++) {
		const struct row *r = &rows[i];
		printf("%-11s %10.0f %10.0f %7.1fus %7.1fus ", r->name, median(r->tx),
		       median(r->rx), r->p50, r->p99);
		if (r->have_exits)
			printf("%10.3f %10.3f ", r->exits_all, r->exits_nic);
		else
			printf("%10s %10s ", "-", "-");
		printf("%9.3f %10.0fns %10.0fns\n", r->irqs, median(r->cpu_tx), median(r->cpu_rx));
	}
	printf("\nthe rates' spread over the %d rounds, lowest-highest:\n", ROUNDS);
	spread_line("raw", raw_tx, raw_rx);
	spread_line("raw+capture", cap_tx, cap_rx);
	for (unsigned i = 0; i < n; i++)
		spread_line(rows[i].name, rows[i].tx, rows[i].rx);
	printf("\nthe session's capture costs the raw link %.0f%% of its tx rate and %.0f%% of its "
	       "rx rate\n\n",
	       100 * (1 - median(cap_tx) / median(raw_tx)),
	       100 * (1 - median(cap_rx) / median(raw_rx)));
	for (unsigned i = 0; i < n; i++) {
		ratio_line(rows[i].name, "tx", rows[i].tx, raw_tx);
		ratio_line(rows[i].name, "rx", rows[i].rx, raw_rx);
	}
	return switch_rows() || engine_rows() ? 1 : 0;
}
