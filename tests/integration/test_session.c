/* The session across guest restarts and to its end: the network side (namespace, TAP, peer,
 * capture, --pcap file) belongs to the session, not to one VM, so it survives any number of
 * restarts; every frame the guest sends is accounted for. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "probes/session.h"
#include "tests/harness.h"
#include "tests/integration/need.h"
#include "vmm/net/link.h"
#include "vmm/nic.h"
#include "vmm/sriov/regs.h"
#include "vmm/vmm.h"

static void nap(double s)
{
	struct timespec ts = {(time_t)s, (long)((s - (time_t)s) * 1e9)};
	nanosleep(&ts, NULL);
}

static struct session *open_card_session(enum nic_mode nic, enum workload wl, uint32_t rate,
					 const char *pcap)
{
	struct session_opts o = {.cpu = CPU_AUTO, .workload = wl, .rate = rate, .nic = nic,
				 .no_bpf = true, .pcap_file = pcap};
	struct session *s;
	const char *why;
	need_kvm();
	if (session_open(&s, &o, &why)) {
		test_fail(__FILE__, __LINE__, "session_open: %s", why);
		return NULL;
	}
	return s;
}

static struct session *open_net_session(enum workload wl, uint32_t rate, const char *pcap)
{
	return open_card_session(NIC_MODE_VIRTIO, wl, rate, pcap);
}

static off_t file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) ? -1 : st.st_size;
}

/* Two ticks a little apart: the second has rates over traffic that flowed meanwhile. */
static void measure(struct session *s, struct snapshot *snap, double seconds)
{
	session_tick(s, snap);
	nap(seconds);
	session_tick(s, snap);
}

TEST(restarts_keep_the_namespace_peer_and_capture)
{
	static struct snapshot snap;
	char pcap[] = "/tmp/vmscope-restart-XXXXXX", cmd[200];
	need_tap();
	int fd = mkstemp(pcap);
	REQUIRE(fd >= 0);
	close(fd);
	struct session *s = open_net_session(WL_TX, 2000, pcap);
	REQUIRE(s);
	measure(s, &snap, 0.5);
	char netns[32];
	snprintf(netns, sizeof(netns), "%s", snap.netns);
	CHECK(snap.cap_on && snap.cap_from_guest.rate > 500);
	uint64_t sink0 = snap.peer_sink.total;
	/* `ip netns exec` must keep working if it worked before (the SVM lane's initramfs cannot
	 * run it at all). */
	snprintf(cmd, sizeof(cmd), "ip netns exec %s true 2>/dev/null", netns);
	bool ipns = system(cmd) == 0;
	if (!ipns)
		printf("    (ip netns exec does not work here: the namespace is checked by its path only)\n");
	for (int round = 1; round <= 2; round++) {
		const char *why;
		off_t before = file_size(pcap);
		REQUIRE(session_restart(s, CPU_AUTO, &why) == 0);
		nap(0.3); /* the new guest boots and resolves the peer again */
		measure(s, &snap, 0.5);
		/* --pcap keeps growing: the capture saw the new guest's traffic. */
		off_t after = file_size(pcap);
		printf("    restart %d: netns %s, capture %s %.0f pps from the guest, sink %llu, pcap %lld -> %lld bytes\n",
		       round, snap.netns, snap.cap_on ? "on" : "off", snap.cap_from_guest.rate,
		       (unsigned long long)snap.peer_sink.total, (long long)before, (long long)after);
		CHECKF(!strcmp(snap.netns, netns), "the namespace changed: %s -> %s", netns, snap.netns);
		snprintf(cmd, sizeof(cmd), LINK_NETNS_DIR "/%s", netns);
		CHECKF(access(cmd, F_OK) == 0, "%s is gone after restart %d", cmd, round);
		snprintf(cmd, sizeof(cmd), "ip netns exec %s true 2>/dev/null", netns);
		if (ipns)
			CHECKF(system(cmd) == 0, "ip netns exec %s fails after restart %d", netns, round);
		CHECKF(snap.cap_on && snap.cap_from_guest.rate > 500, "capture %s at %.0f pps after restart %d",
		       snap.cap_on ? "on" : snap.cap_why, snap.cap_from_guest.rate, round);
		CHECKF(snap.peer_sink.total > sink0, "the peer's sink stopped at %llu", (unsigned long long)sink0);
		sink0 = snap.peer_sink.total;
		CHECKF(after > before + 10000, "the pcap file grew from %lld to %lld bytes only",
		       (long long)before, (long long)after);
	}
	session_close(s);
	snprintf(cmd, sizeof(cmd), LINK_NETNS_DIR "/%s", netns);
	CHECKF(access(cmd, F_OK) != 0, "%s is left behind after close", cmd);
	unlink(pcap);
}

TEST(unpaced_tx_every_frame_is_moved_or_counted_dropped)
{
	static struct snapshot snap;
	need_tap();
	struct session *s = open_net_session(WL_PING, 0, NULL); /* learns the peer's MAC first */
	REQUIRE(s);
	nap(0.2);
	session_set_workload(s, WL_TX, 0, 0); /* as fast as the guest can */
	nap(1.5);
	session_set_workload(s, WL_IDLE, 0, 0);
	nap(0.5);
	session_tick(s, &snap);
	printf("    guest sent %llu, device moved %llu, dropped %llu, backpressure %llu, sink %llu, capture lost %llu\n",
	       (unsigned long long)snap.pps_tx.total, (unsigned long long)snap.dev_tx.total,
	       (unsigned long long)snap.dev_tx_dropped.total,
	       (unsigned long long)snap.dev_tx_backpressure.total,
	       (unsigned long long)snap.peer_sink.total, (unsigned long long)snap.cap_lost);
	CHECK(snap.pps_tx.total > 10000);
	CHECK(snap.pps_tx.total == snap.dev_tx.total + snap.dev_tx_dropped.total);
	CHECK(snap.cap_lost == snap.dev_tx_dropped.total);
	session_close(s);
}

/* Exits per packet count every exit of the vCPU, from a source that sees them all, with the
 * NIC's share (its kicks) inside it; a paced tx pays for its halts and timer too. And the hlt
 * kind counts the hlt workload's halts only: none here. */
TEST(exits_per_packet_count_every_exit_with_the_nic_part_inside)
{
	static struct snapshot snap;
	need_tap();
	struct session *s = open_net_session(WL_TX, 1000, NULL);
	REQUIRE(s);
	nap(0.3);
	measure(s, &snap, 1.0);
	const struct per_packet *pp = snap.per_packet;
	printf("    tx 1000/s: all %.2f (%s), userspace %.2f, in-kernel %.2f, nic %.2f (%s), irqs %.2f; "
	       "hlt %.0f/s, all halts %.0f/s (stats)\n",
	       pp[PP_ALL].value, pp[PP_ALL].source, pp[PP_USERSPACE].value, pp[PP_IN_KERNEL].value,
	       pp[PP_NIC].value, pp[PP_NIC].source, pp[PP_IRQS].value,
	       snap.exits[EK_HLT][snap.exits_src[EK_HLT]].rate, snap.halts[SRC_STATS].rate);
	CHECK(pp[PP_ALL].valid && pp[PP_USERSPACE].valid && pp[PP_IN_KERNEL].valid && pp[PP_NIC].valid);
	/* A packet a millisecond: one kick each, and the guest sleeps between (halt + timer). */
	CHECK(pp[PP_NIC].value > 0.8 && pp[PP_NIC].value < 1.2);
	CHECK(pp[PP_ALL].value > pp[PP_NIC].value + 1);
	CHECK(pp[PP_IN_KERNEL].value > pp[PP_USERSPACE].value);
	CHECK(snap.exits[EK_HLT][snap.exits_src[EK_HLT]].rate == 0);
	CHECK(!snap.halts[SRC_STATS].valid || snap.halts[SRC_STATS].rate > 500);

	/* Instant stats are values: present in the list, never turned into rates. */
	const struct named_figure *blocking = snapshot_find(snap.stats, snap.nr_stats, "blocking");
	if (blocking)
		CHECK(blocking->instant && blocking->f.rate == 0);

	/* Closed-loop ping: still about one kick a packet pair, nothing reaches the VMM. */
	session_set_workload(s, WL_PING, 0, 0);
	nap(0.2);
	measure(s, &snap, 1.0);
	printf("    ping max: all %.2f, userspace %.3f, nic %.2f, irqs %.2f, p50 %.1f us\n",
	       pp[PP_ALL].value, pp[PP_USERSPACE].value, pp[PP_NIC].value, pp[PP_IRQS].value,
	       snap.latency_us[0]);
	CHECK(pp[PP_ALL].valid && pp[PP_ALL].value > 0 && pp[PP_NIC].value > 0);
	CHECK(pp[PP_ALL].value + 0.05 >= pp[PP_NIC].value);
	CHECK(pp[PP_USERSPACE].value < 0.05);
	CHECK(snap.latency_valid);
	session_set_workload(s, WL_TX, 0, 1000);
	measure(s, &snap, 0.3);
	CHECK(!snap.latency_valid); /* tx makes no ping figures: "-", not the last ping's */
	session_close(s);
}

/* The lesson of the emulated card: the same workload costs several exits a packet on the e1000
 * (TDT, RDT, ICR, IMS/IMC, each a trap to the VMM) against a fraction of one on virtio. */
TEST(emulated_card_exits_more_per_packet_than_virtio_on_the_same_workload)
{
	static struct snapshot snap;
	const enum workload wls[] = {WL_PING, WL_TX, WL_RX};
	/* Unpaced tx: virtio batches its kicks (EVENT_IDX) while the e1000 writes TDT per frame. At a
	 * paced rate both pay about one doorbell a frame; only where it ends differs (userspace). */
	const uint32_t rates[] = {0, 0, 5000};
	need_tap();
	for (unsigned w = 0; w < 3; w++) {
		double all[2], nic[2], user[2];
		for (unsigned c = 0; c < 2; c++) {
			enum nic_mode m = c ? NIC_MODE_EMULATED : NIC_MODE_VIRTIO;
			struct session *s = open_card_session(m, WL_PING, 0, NULL);
			REQUIRE(s);
			nap(0.2); /* the ping resolves the peer */
			session_set_workload(s, wls[w], 0, rates[w]);
			nap(0.3);
			measure(s, &snap, 1.0);
			const struct per_packet *pp = snap.per_packet;
			CHECK(pp[PP_ALL].valid && pp[PP_NIC].valid && pp[PP_USERSPACE].valid);
			all[c] = pp[PP_ALL].value, nic[c] = pp[PP_NIC].value, user[c] = pp[PP_USERSPACE].value;
			printf("    %-4s %-8s all %.2f nic %.2f userspace %.2f exits/packet; top register %s\n",
			       workload_name(wls[w]), nic_mode_name(m), all[c], nic[c], user[c],
			       snap.nr_dev_regs && snap.dev_reg[0].f.rate > 0 ? snap.dev_reg[0].name : "-");
			if (m == NIC_MODE_EMULATED) {
				CHECK(snap.nr_dev_regs > 0 && snap.dev_reg[0].f.rate > 0);
				/* KVM's mmio_exits counts the card's traps too: no mmio_vmm from it */
				CHECK(!snap.exits[EK_MMIO_VMM][SRC_STATS].valid);
			}
			session_close(s);
		}
		CHECK(nic[1] > nic[0] && all[1] > all[0]);
		CHECK(nic[1] >= 0.9 && user[1] >= 0.9); /* every e1000 register access reached us */
		CHECK(user[0] < 0.1);
	}
}

/* The lesson of the SR-IOV VF: nothing the guest touches per packet traps. The NIC part of exits
 * per packet is 0 by the VMM's count and, where the probes run, by eBPF's count of kvm_mmio and
 * kvm_pio inside every BAR of the PF and the VF (the doorbell page included); the card's engine
 * spends the CPU instead, shown apart from the VMM's and the guest's. */
TEST(vf_card_takes_no_exits_on_the_data_path_and_its_engine_does_the_work)
{
	static struct snapshot snap;
	const enum workload wls[] = {WL_TX, WL_RX};
	const uint32_t rates[] = {0, 20000};
	need_tap();
	need_kvm();
	for (unsigned w = 0; w < 2; w++) {
		struct session_opts o = {.cpu = CPU_AUTO, .workload = WL_PING, .nic = NIC_MODE_VF};
		struct session *s;
		const char *why;
		if (session_open(&s, &o, &why)) {
			test_fail(__FILE__, __LINE__, "session_open: %s", why);
			return;
		}
		nap(0.2); /* the ping resolves the peer */
		session_set_workload(s, wls[w], 0, rates[w]);
		nap(0.3);
		measure(s, &snap, 1.0);
		const struct per_packet *pp = snap.per_packet;
		double pkts = snap.dev_tx.rate + snap.dev_rx.rate;
		printf("    %-3s vf: %.0f pps, nic %.3f exits/packet (%s), all %.3f; cpu/packet card %.0f "
		       "vmm %.0f guest %.0f ns\n", workload_name(wls[w]), pkts, pp[PP_NIC].value,
		       pp[PP_NIC].source, pp[PP_ALL].value, pp[PP_CPU_CARD].value, pp[PP_CPU_VMM].value,
		       pp[PP_CPU_GUEST].value);
		CHECK(pkts > 1000);
		CHECK(pp[PP_NIC].valid && pp[PP_NIC].value == 0);
		CHECK(snap.nic_exits[SRC_VMM].valid && snap.nic_exits[SRC_VMM].rate == 0);
		if (snap.nic_exits[SRC_BPF].valid)
			CHECK(!strcmp(pp[PP_NIC].source, "bpf") && snap.nic_exits[SRC_BPF].rate == 0);
		else
			printf("    (no eBPF count here: %s)\n", snap.bpf_why[0] ? snap.bpf_why : "-");
		CHECK(pp[PP_CPU_CARD].valid && pp[PP_CPU_CARD].value > 0);
		CHECK(pp[PP_CPU_VMM].valid && pp[PP_CPU_GUEST].valid);
		/* The doorbell page is a KVM memory slot: the regions the probes watch include it,
		 * and not one access to it reached the VMM. */
		struct vmm_region reg[VMM_NIC_REGIONS];
		unsigned nr = vmm_nic_regions(session_vmm(s), reg), pages = 0;
		for (unsigned i = 0; i < nr; i++)
			pages += reg[i].size == VSNIC_DB_SIZE;
		CHECK(pages == 1);
		const struct named_figure *db = NULL;
		for (unsigned i = 0; i < snap.nr_dev_regs; i++)
			if (!strcmp(snap.dev_reg[i].name, "VF doorbells (no memslot)"))
				db = &snap.dev_reg[i];
		CHECK(db && db->f.total == 0);
		session_close(s);
	}
	/* A card the VMM emulates has no silicon of its own: its CPU figure is "-". */
	struct session *s = open_card_session(NIC_MODE_VIRTIO, WL_TX, 0, NULL);
	REQUIRE(s);
	nap(0.3);
	measure(s, &snap, 0.5);
	CHECK(!snap.per_packet[PP_CPU_CARD].valid && snap.per_packet[PP_CPU_VMM].valid);
	session_close(s);
}
