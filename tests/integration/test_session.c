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
#include "vmm/vsnic/regs.h"
#include "vmm/vmm.h"

static struct session *open_card_session(enum nic_mode nic, enum workload wl, uint32_t rate,
					 const char *pcap)
{
	struct session_opts o = {.cpu = CPU_AUTO,
				 .workload = wl,
				 .rate = rate,
				 .nic = nic,
				 .no_bpf = true,
				 .pcap_file = pcap};
	need_kvm();
	return OPEN_SESSION(&o);
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

static struct ctl_page *ctl(struct session *s)
{
	static struct ctl_page c;
	vmm_read_ctl(session_vmm(s), &c);
	return &c;
}

static uint64_t guest_packets(struct session *s)
{
	struct ctl_page *c = ctl(s);
	return c->net_tx_packets + c->net_rx_packets;
}

/* Two ticks around n packets the guest sent or received: the second tick's per-packet figures
 * cover that known amount of work, however long this machine took for it. */
static void measure(struct session *s, struct snapshot *snap, uint64_t n)
{
	session_tick(s, snap);
	uint64_t from = guest_packets(s);
	CHECKF(WAIT_UNTIL(guest_packets(s) - from >= n, HANG_BOUND_S),
	       "the guest moved %llu packets of %llu",
	       (unsigned long long)(guest_packets(s) - from), (unsigned long long)n);
	session_tick(s, snap);
}

/* Idle the guest and wait until it has taken the command (every op it started has finished). */
static void settle(struct session *s)
{
	session_set_workload(s, WL_IDLE, 0, 0);
	CHECK(WAIT_UNTIL(ctl(s)->ack_seq == ctl(s)->cmd_seq, HANG_BOUND_S));
}

/* A closed-loop ping until one is answered (the guest and the namespace know each other's
 * MAC), then the workload asked for. */
static void resolve_then(struct session *s, enum workload wl, uint32_t rate)
{
	uint64_t from = ctl(s)->ping.ops;
	session_set_workload(s, WL_PING, 0, 0);
	CHECK(WAIT_UNTIL(ctl(s)->ping.ops > from, HANG_BOUND_S));
	session_set_workload(s, wl, 0, rate);
}

#define WINDOW_PACKETS 2000 /* the work each per-packet figure here is measured over */

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
	/* The capture sees the guest's frames: a known number of them, however long they take. */
	CHECK(WAIT_UNTIL((session_tick(s, &snap), snap.cap_from_guest.total >= 500), HANG_BOUND_S));
	char netns[32];
	snprintf(netns, sizeof(netns), "%s", snap.netns);
	CHECK(snap.cap_on);
	uint64_t sink0 = snap.peer_sink.total;
	/* `ip netns exec` must keep working if it worked before (the SVM lane's initramfs cannot
	 * run it at all). */
	snprintf(cmd, sizeof(cmd), "ip netns exec %s true 2>/dev/null", netns);
	bool ipns = system(cmd) == 0;
	if (!ipns)
		printf("    (ip netns exec does not work here: the namespace is checked by its "
		       "path only)\n");
	for (int round = 1; round <= 2; round++) {
		const char *why;
		session_tick(s, &snap);
		off_t before = file_size(pcap);
		uint64_t cap0 = snap.cap_from_guest.total;
		REQUIRE(session_restart(s, CPU_AUTO, &why) == 0);
		/* The new guest boots, resolves the peer again and sends: 500 more frames captured,
		 * and --pcap keeps growing with them. */
		WAIT_UNTIL((session_tick(s, &snap), snap.cap_from_guest.total >= cap0 + 500 &&
							snap.peer_sink.total > sink0 &&
							file_size(pcap) > before + 10000),
			   HANG_BOUND_S);
		off_t after = file_size(pcap);
		printf("    restart %d: netns %s, capture %s, %llu frames from the guest, sink "
		       "%llu, pcap %lld -> %lld bytes\n",
		       round, snap.netns, snap.cap_on ? "on" : "off",
		       (unsigned long long)(snap.cap_from_guest.total - cap0),
		       (unsigned long long)snap.peer_sink.total, (long long)before,
		       (long long)after);
		CHECKF(!strcmp(snap.netns, netns), "the namespace changed: %s -> %s", netns,
		       snap.netns);
		snprintf(cmd, sizeof(cmd), LINK_NETNS_DIR "/%s", netns);
		CHECKF(access(cmd, F_OK) == 0, "%s is gone after restart %d", cmd, round);
		snprintf(cmd, sizeof(cmd), "ip netns exec %s true 2>/dev/null", netns);
		if (ipns)
			CHECKF(system(cmd) == 0, "ip netns exec %s fails after restart %d", netns,
			       round);
		CHECKF(snap.cap_on && snap.cap_from_guest.total >= cap0 + 500,
		       "capture %s, %llu frames after restart %d",
		       snap.cap_on ? "on" : snap.cap_why,
		       (unsigned long long)(snap.cap_from_guest.total - cap0), round);
		CHECKF(snap.peer_sink.total > sink0, "the peer's sink stopped at %llu",
		       (unsigned long long)sink0);
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
	struct session *s = open_net_session(WL_IDLE, 0, NULL);
	REQUIRE(s);
	resolve_then(s, WL_TX, 0); /* as fast as the guest can */
	uint64_t tx0 = ctl(s)->net_tx_packets;
	CHECK(WAIT_UNTIL(ctl(s)->net_tx_packets - tx0 >= 20000, HANG_BOUND_S));
	settle(s);
	/* Every frame the guest queued is moved or dropped by the card, and the capture misses
	 * exactly the dropped ones. */
	WAIT_UNTIL((session_tick(s, &snap),
		    snap.pps_tx.total == snap.dev_tx.total + snap.dev_tx_dropped.total &&
			snap.cap_lost == snap.dev_tx_dropped.total),
		   HANG_BOUND_S);
	printf("    guest sent %llu, device moved %llu, dropped %llu, backpressure %llu, sink "
	       "%llu, capture lost %llu\n",
	       (unsigned long long)snap.pps_tx.total, (unsigned long long)snap.dev_tx.total,
	       (unsigned long long)snap.dev_tx_dropped.total,
	       (unsigned long long)snap.dev_tx_backpressure.total,
	       (unsigned long long)snap.peer_sink.total, (unsigned long long)snap.cap_lost);
	CHECK(snap.pps_tx.total >= 20000);
	CHECK(snap.pps_tx.total == snap.dev_tx.total + snap.dev_tx_dropped.total);
	CHECK(snap.cap_lost == snap.dev_tx_dropped.total);
	session_close(s);
}

/* Exits per packet count every exit of the vCPU, from a source that sees them all, with the
 * NIC's share (its kicks) inside it. How many more than the NIC's a packet costs (the halts and
 * timer of a guest that sleeps between packets) depends on how fast this machine is: shown, not
 * asserted. And the hlt kind counts the hlt workload's halts only: none here. */
TEST(exits_per_packet_count_every_exit_with_the_nic_part_inside)
{
	static struct snapshot snap;
	need_tap();
	struct session *s = open_net_session(WL_IDLE, 0, NULL);
	REQUIRE(s);
	resolve_then(s, WL_TX, 1000);
	measure(s, &snap, WINDOW_PACKETS);
	const struct per_packet *pp = snap.per_packet;
	printf("    tx 1000/s: all %.2f (%s), userspace %.2f, in-kernel %.2f, nic %.2f (%s), irqs "
	       "%.2f; "
	       "hlt %.0f/s, all halts %.0f/s (stats)\n",
	       pp[PP_ALL].value, pp[PP_ALL].source, pp[PP_USERSPACE].value, pp[PP_IN_KERNEL].value,
	       pp[PP_NIC].value, pp[PP_NIC].source, pp[PP_IRQS].value,
	       snap.exits[EK_HLT][snap.exits_src[EK_HLT]].rate, snap.halts[SRC_STATS].rate);
	CHECK(pp[PP_ALL].valid && pp[PP_USERSPACE].valid && pp[PP_IN_KERNEL].valid &&
	      pp[PP_NIC].valid);
	/* Paced: at most one kick a packet (virtio kicks once a batch, and a batch is a packet or
	 * more), every kick an exit KVM completes itself. */
	CHECK(pp[PP_NIC].value > 0 && pp[PP_NIC].value < 1.2);
	CHECK(pp[PP_ALL].value + 0.05 >= pp[PP_NIC].value);
	CHECK(pp[PP_IN_KERNEL].value > pp[PP_USERSPACE].value);
	CHECK(snap.exits[EK_HLT][snap.exits_src[EK_HLT]].rate == 0); /* none, whatever the window */

	/* Instant stats are values: present in the list, never turned into rates. */
	const struct named_figure *blocking = snapshot_find(snap.stats, snap.nr_stats, "blocking");
	if (blocking)
		CHECK(blocking->instant && blocking->f.rate == 0);

	/* Closed-loop ping: about one kick a packet pair, and the data path never reaches the VMM:
	 * what userspace exits there are come at their own pace (the VMM's own wake-ups), not one
	 * a packet as on the e1000 (see the next test). */
	session_set_workload(s, WL_PING, 0, 0);
	measure(s, &snap, WINDOW_PACKETS);
	printf("    ping max: all %.2f, userspace %.3f, nic %.2f, irqs %.2f, p50 %.1f us\n",
	       pp[PP_ALL].value, pp[PP_USERSPACE].value, pp[PP_NIC].value, pp[PP_IRQS].value,
	       snap.latency_us[0]);
	CHECK(pp[PP_ALL].valid && pp[PP_ALL].value > 0 && pp[PP_NIC].value > 0);
	CHECK(pp[PP_ALL].value + 0.05 >= pp[PP_NIC].value);
	CHECK(pp[PP_USERSPACE].value < pp[PP_NIC].value / 2);
	CHECK(snap.latency_valid);
	session_set_workload(s, WL_TX, 0, 1000);
	measure(s, &snap, 100);
	CHECK(!snap.latency_valid); /* tx makes no ping figures: "-", not the last ping's */
	session_close(s);
}

/* The lesson of the emulated card: the same workload costs several exits a packet on the e1000
 * (TDT, RDT, ICR, IMS/IMC, each a trap to the VMM) against a fraction of one on virtio. */
TEST(emulated_card_exits_more_per_packet_than_virtio_on_the_same_workload)
{
	static struct snapshot snap;
	const enum workload wls[] = {WL_PING, WL_TX, WL_RX};
	/* Unpaced tx: virtio batches its kicks (EVENT_IDX) while the e1000 writes TDT per frame. At
	 * a paced rate both pay about one doorbell a frame; only where it ends differs (userspace).
	 */
	const uint32_t rates[] = {0, 0, 5000};
	need_tap();
	for (unsigned w = 0; w < 3; w++) {
		double all[2], nic[2], user[2];
		for (unsigned c = 0; c < 2; c++) {
			enum nic_mode m = c ? NIC_MODE_EMULATED : NIC_MODE_VIRTIO;
			struct session *s = open_card_session(m, WL_IDLE, 0, NULL);
			REQUIRE(s);
			resolve_then(s, wls[w], rates[w]);
			measure(s, &snap, WINDOW_PACKETS);
			const struct per_packet *pp = snap.per_packet;
			CHECK(pp[PP_ALL].valid && pp[PP_NIC].valid && pp[PP_USERSPACE].valid);
			all[c] = pp[PP_ALL].value, nic[c] = pp[PP_NIC].value,
			user[c] = pp[PP_USERSPACE].value;
			printf("    %-4s %-8s all %.2f nic %.2f userspace %.2f exits/packet; top "
			       "register %s\n",
			       workload_name(wls[w]), nic_mode_name(m), all[c], nic[c], user[c],
			       snap.nr_dev_regs && snap.dev_reg[0].f.rate > 0 ? snap.dev_reg[0].name
									      : "-");
			if (m == NIC_MODE_EMULATED) {
				CHECK(snap.nr_dev_regs > 0 && snap.dev_reg[0].f.rate > 0);
				/* KVM's mmio_exits counts the card's traps too: no mmio_vmm from it
				 */
				CHECK(!snap.exits[EK_MMIO_VMM][SRC_STATS].valid);
			}
			session_close(s);
		}
		/* The cards' own part, a property of their design: the e1000 traps at least once a
		 * packet, each trap served by the VMM; virtio's kicks end in the kernel. What every
		 * exit adds up to ("all": halts, timers, wake-ups of a guest that sleeps between
		 * packets) depends on the machine's speed: printed above, not compared. */
		CHECK(nic[1] > nic[0] && user[1] > user[0]);
		CHECK(user[1] + 0.05 >= nic[1]); /* every e1000 register access reached us */
		if (wls[w] == WL_TX) /* its driver writes TDT for every frame it queues */
			CHECK(nic[1] >= 0.9);
		CHECK(user[0] < user[1] / 4);
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
		struct session *s = OPEN_SESSION(&o);
		if (!s)
			return;
		resolve_then(s, wls[w], rates[w]);
		measure(s, &snap, WINDOW_PACKETS);
		const struct per_packet *pp = snap.per_packet;
		double pkts = snap.dev_tx.rate + snap.dev_rx.rate;
		printf("    %-3s vf: %.0f pps, nic %.3f exits/packet (%s), all %.3f; cpu/packet "
		       "card %.0f "
		       "vmm %.0f guest %.0f ns\n",
		       workload_name(wls[w]), pkts, pp[PP_NIC].value, pp[PP_NIC].source,
		       pp[PP_ALL].value, pp[PP_CPU_CARD].value, pp[PP_CPU_VMM].value,
		       pp[PP_CPU_GUEST].value);
		CHECK(pkts > 0);
		/* The card's own count of its engine's wake-ups (VSNIC_VF_WAKE after a sleep): the
		 * only access of the data path that may exit. rx needs none (buffers are posted in
		 * memory, frames wake the engine from the link). */
		const struct named_figure *wk =
		    snapshot_find(snap.dev_counter, snap.nr_dev_counters, "engine_wakes");
		REQUIRE(wk);
		double wakes = wk->f.rate * snap.dt;
		printf("    %-3s vf: %.0f engine wake-ups in the window (%.4f a packet)\n",
		       workload_name(wls[w]), wakes, pkts > 0 ? wk->f.rate / pkts : 0);
		CHECK(pp[PP_NIC].valid && snap.nic_exits[SRC_VMM].valid);
		if (wls[w] == WL_RX) {
			CHECK(wakes == 0 && pp[PP_NIC].value == 0 &&
			      snap.nic_exits[SRC_VMM].rate == 0);
		}
		if (snap.nic_exits[SRC_BPF].valid) {
			/* What eBPF saw at every BAR of the PF and the VF, doorbell page included,
			 * is those wake-ups and nothing else (two may straddle the ticks' edges).
			 */
			double seen = snap.nic_exits[SRC_BPF].rate * snap.dt;
			CHECKF(!strcmp(pp[PP_NIC].source, "bpf") && seen <= wakes + 2,
			       "bpf saw %.0f NIC exits, the card %.0f wake-ups", seen, wakes);
			if (wls[w] == WL_RX)
				CHECK(seen == 0);
		} else {
			printf("    (no eBPF count here: %s)\n",
			       snap.bpf_why[0] ? snap.bpf_why : "-");
		}
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
	struct session *s = open_card_session(NIC_MODE_VIRTIO, WL_IDLE, 0, NULL);
	REQUIRE(s);
	resolve_then(s, WL_TX, 0);
	measure(s, &snap, WINDOW_PACKETS);
	CHECK(!snap.per_packet[PP_CPU_CARD].valid && snap.per_packet[PP_CPU_VMM].valid);
	session_close(s);
}

/* Three VMs on virtio's shared path, VM1 pinging back to back, VM2 and VM3 running neighbours
 * at rate; NULL (the test failed) if the session does not open with all three. */
static struct session *open_three_vms(enum workload neighbours, uint32_t rate)
{
	struct session_opts o = {.cpu = CPU_AUTO,
				 .workload = WL_PING,
				 .rate = 0,
				 .nic = NIC_MODE_VIRTIO,
				 .no_bpf = true,
				 .vms = 3,
				 .neighbours = neighbours,
				 .neighbour_rate = rate};
	need_kvm();
	need_tap();
	struct session *s = OPEN_SESSION(&o);
	if (!s)
		return NULL;
	if (session_vms(s) != 3) {
		test_fail(__FILE__, __LINE__, "the session has %u VMs, not 3", session_vms(s));
		session_close(s);
		return NULL;
	}
	return s;
}

/* Every VM's last switch is over, its old card let go. */
static bool switches_over(struct session *s)
{
	for (unsigned i = 0; i < session_vms(s); i++) {
		struct vmm_switch sw;
		vmm_switch_read(session_vmm_of(s, i), &sw);
		if (sw.seq && sw.phase != SWITCH_DONE && sw.phase != SWITCH_FAILED)
			return false;
	}
	return true;
}

/* Every VM of the session on card m, after a switch (each VM's vCPU thread hot-plugs its own
 * card at once: on vf they take VFs of the one card together), its old card let go. */
static void all_on(struct session *s, struct snapshot *snap, enum nic_mode m)
{
	const char *why = "";
	CHECK(WAIT_UNTIL(!session_guest_booting(s), HANG_BOUND_S));
	int r = session_switch_nic(s, m, &why);
	CHECKF(r == 0, "no switch to %s: %s", nic_mode_name(m), why);
	if (r)
		return;
	CHECKF(WAIT_UNTIL((session_poll(s), session_tick(s, snap),
			   snap->vms.vm[0].nic_mode == m && snap->vms.vm[1].nic_mode == m &&
			       snap->vms.vm[2].nic_mode == m && !snap->switching),
			  HANG_BOUND_S),
	       "to %s: the VMs are on %s, %s, %s%s", nic_mode_name(m),
	       nic_mode_name(snap->vms.vm[0].nic_mode), nic_mode_name(snap->vms.vm[1].nic_mode),
	       nic_mode_name(snap->vms.vm[2].nic_mode), snap->switching ? ", switching" : "");
	CHECK(WAIT_UNTIL((session_poll(s), switches_over(s)), HANG_BOUND_S));
}

/* Several VMs (--vms) on the host's SR-IOV card: the session's own VMS figures follow each VM,
 * a restart boots every VM again on the card in use (each takes a free VF while the old one
 * still holds its own: make before break), and switches move them all together, to the card
 * and away and back. Known work: pings by VM1, and the neighbours' frames, counted at their
 * cards. */
TEST(session_several_vms_on_the_vf_restart_and_switch_together)
{
	static struct snapshot snap;
	const char *why;
	struct session *s = open_three_vms(WL_TX, 2000);
	REQUIRE(s);
	all_on(s, &snap, NIC_MODE_VF);
	for (int round = 0; round < 2; round++) {
		uint64_t from = ctl(s)->ping.ops;
		CHECK(WAIT_UNTIL(ctl(s)->ping.ops - from >= 200, HANG_BOUND_S));
		session_tick(s, &snap);
		nanosleep(&(struct timespec){0, 200000000}, NULL);
		session_tick(s, &snap);
		REQUIRE(snap.vms.nr == 3);
		for (unsigned i = 0; i < 3; i++) {
			const struct snap_vm *v = &snap.vms.vm[i];
			CHECKF(v->state == VMM_RUNNING && v->nic_mode == NIC_MODE_VF &&
				   v->dev_tx.valid && v->dev_tx.total > 0,
			       "round %d %s: %s on %s, tx %llu", round, v->name,
			       vmm_state_name(v->state), nic_mode_name(v->nic_mode),
			       (unsigned long long)v->dev_tx.total);
		}
		CHECK(snap.vms.vm[1].neighbour && !snap.vms.vm[0].neighbour);
		CHECK(snap.vms.path_card && snap.vms.path_cpu.valid);
		if (!round)
			CHECKF(session_restart(s, session_cpu_mode(s), &why) == 0, "restart: %s",
			       why);
	}
	/* One VM's card alone: VM2 to the e1000, the others stay on their VFs. */
	REQUIRE(session_switch_vm_nic(s, 1, NIC_MODE_EMULATED, &why) == 0);
	CHECK(WAIT_UNTIL((session_tick(s, &snap), snap.vms.vm[1].nic_mode == NIC_MODE_EMULATED),
			 HANG_BOUND_S));
	/* Straight away every VM back to virtio: VM2 may still be letting its VF go, and then
	 * moves once that is over (a switch of them all leaves none behind for that). */
	CHECK(snap.vms.vm[0].nic_mode == NIC_MODE_VF && snap.vms.vm[2].nic_mode == NIC_MODE_VF);
	/* Away from the card (it leaves the link with its last VF) and back onto it. */
	for (int i = 0; i < 2; i++) {
		all_on(s, &snap, i ? NIC_MODE_VF : NIC_MODE_VIRTIO);
		uint64_t from = ctl(s)->ping.ops;
		CHECK(WAIT_UNTIL(ctl(s)->ping.ops - from >= 200, HANG_BOUND_S));
	}
	session_close(s);
}

/* One VM's datagrams at every source that counts them: its guest (what it sent to the peer's
 * sink; what it took of the peer's flood, the gaps its sequence check counted lost and the late
 * ones it counted reordered), its cards (tx the link refused, rx with no buffer posted) and the
 * peer (its sink's count from this VM's address, what it sent this VM). */
struct vm_account {
	uint64_t sent, sink, refused;
	uint64_t peer_sent, got, lost, reordered, no_buffer;
	uint64_t pings, answered, ping_lost;
};

static void account(struct session *s, unsigned i, struct vm_account *a)
{
	struct vmm *vm = session_vmm_of(s, i);
	struct ctl_page c;
	struct nic_readout ro;
	struct link_counters lc;
	memset(a, 0, sizeof(*a));
	vmm_read_ctl(vm, &c);
	if (vmm_read_net(vm, &ro, &lc))
		return;
	*a = (struct vm_account){.sent = c.tx_sink,
				 .sink = lc.sink_vm[i],
				 .refused = ro.total.tx_dropped,
				 .peer_sent = lc.drive_tx[i],
				 .got = c.rx_sink,
				 .lost = c.rx_seq_lost,
				 .reordered = c.rx_seq_reordered,
				 .no_buffer = ro.total.rx_no_buffer,
				 .pings = c.ping_sent,
				 .answered = c.ping.ops,
				 .ping_lost = c.ping_lost};
}

/* b - a, field by field */
static struct vm_account account_delta(const struct vm_account *a, const struct vm_account *b)
{
	struct vm_account d;
	const uint64_t *x = (const uint64_t *)a, *y = (const uint64_t *)b;
	uint64_t *z = (uint64_t *)&d;
	for (size_t k = 0; k < sizeof(d) / sizeof(uint64_t); k++)
		z[k] = y[k] - x[k];
	return d;
}

/* Every datagram is where some source says it is: sent ones at the sink or refused by a card,
 * the peer's taken by the guest or counted lost by its sequence (a late one counted lost, then
 * taken: reordered), every ping answered or counted lost. */
static bool accounted(const struct vm_account *d)
{
	return d->sent == d->sink + d->refused && d->peer_sent == d->got + d->lost - d->reordered &&
	       d->pings == d->answered + d->ping_lost;
}

static bool all_accounted(struct session *s, const struct vm_account *from, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct vm_account now, d;
		account(s, i, &now);
		d = account_delta(&from[i], &now);
		if (!accounted(&d))
			return false;
	}
	return true;
}

/* Each VM's packets the capture saw between two records: [i][0] from VM i, [i][1] to it. */
static void wire_counts(const struct snapshot *a, const struct snapshot *b, unsigned n,
			uint64_t out[][2])
{
	for (unsigned i = 0; i < n; i++) {
		out[i][0] = b->vms.vm[i].cap_tx.total - a->vms.vm[i].cap_tx.total;
		out[i][1] = b->vms.vm[i].cap_rx.total - a->vms.vm[i].cap_rx.total;
	}
}

/* Idle every VM and wait until each guest has taken the command (VM1's ping in flight has
 * come back or been counted lost). */
static void idle_all(struct session *s, unsigned n)
{
	session_set_neighbours(s, WL_IDLE, 0);
	session_set_workload(s, WL_IDLE, 0, 0);
	for (unsigned i = 0; i < n; i++) {
		struct ctl_page c;
		CHECK(WAIT_UNTIL((vmm_read_ctl(session_vmm_of(s, i), &c), c.ack_seq == c.cmd_seq),
				 HANG_BOUND_S));
	}
}

/* Three VMs switched together through every pair of cards while VM1 pings back to back and
 * its neighbours send and take a flood at once (both), paced: afterwards every datagram and
 * ping of each VM is accounted for by the sources above, per VM. A known amount of work: the
 * switches, each after some of everyone's traffic on the new card; nothing waits on a rate. */
TEST(session_several_vms_switched_under_load_lose_nothing_uncounted)
{
	static struct snapshot snap;
	enum { N = 3 };
	const uint32_t rate = (uint32_t)(NEIGHBOUR_RATE_DEFAULT / test_slow);
	struct session *s = open_three_vms(WL_BOTH, rate);
	REQUIRE(s);
	/* Every address learnt both ways (a flood at an unresolved guest waits in the namespace's
	 * ARP queue), then everyone idle: the baseline. */
	struct vm_account from[N], now[N];
	CHECK(WAIT_UNTIL((account(s, 1, &now[1]), account(s, 2, &now[2]),
			  now[1].sink && now[1].got && now[2].sink && now[2].got),
			 HANG_BOUND_S));
	idle_all(s, N);
	for (unsigned i = 0; i < N; i++)
		account(s, i, &from[i]);
	/* The capture's counts by address, on the wire, once it has read every frame the kernel
	 * took for it. */
	static struct snapshot base;
	CHECK(WAIT_UNTIL((session_tick(s, &base), base.cap_on && !base.cap_unread), HANG_BOUND_S));
	session_set_workload(s, WL_PING, 0, 0);
	session_set_neighbours(s, WL_BOTH, rate);
	static const enum nic_mode order[] = {NIC_MODE_VF,     NIC_MODE_EMULATED,
					      NIC_MODE_VIRTIO, NIC_MODE_EMULATED,
					      NIC_MODE_VF,     NIC_MODE_VIRTIO};
	for (unsigned k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
		all_on(s, &snap, order[k]);
		/* Everyone's traffic on the new card: VM1's pings, each neighbour's both ways. */
		struct vm_account at[N];
		for (unsigned i = 0; i < N; i++)
			account(s, i, &at[i]);
		CHECK(WAIT_UNTIL(
		    (account(s, 0, &now[0]), account(s, 1, &now[1]), account(s, 2, &now[2]),
		     now[0].answered >= at[0].answered + 200 && now[1].sink >= at[1].sink + 200 &&
			 now[1].got >= at[1].got + 200 && now[2].sink >= at[2].sink + 200 &&
			 now[2].got >= at[2].got + 200),
		    HANG_BOUND_S));
	}
	idle_all(s, N);
	/* What is in flight lands: the counts come to rest agreeing, or are read at the bound. */
	WAIT_UNTIL(all_accounted(s, from, N), HANG_BOUND_S);
	for (unsigned i = 0; i < N; i++) {
		account(s, i, &now[i]);
		struct vm_account d = account_delta(&from[i], &now[i]);
		printf(
		    "    VM%u: sent %llu = sink %llu + refused %llu; peer sent %llu = got %llu + "
		    "lost %llu - reordered %llu (no rx buffer %llu); pings %llu = answered %llu + "
		    "lost %llu\n",
		    i + 1, (unsigned long long)d.sent, (unsigned long long)d.sink,
		    (unsigned long long)d.refused, (unsigned long long)d.peer_sent,
		    (unsigned long long)d.got, (unsigned long long)d.lost,
		    (unsigned long long)d.reordered, (unsigned long long)d.no_buffer,
		    (unsigned long long)d.pings, (unsigned long long)d.answered,
		    (unsigned long long)d.ping_lost);
		CHECKF(accounted(&d), "VM%u's datagrams are not all accounted for", i + 1);
		CHECK(i ? d.sent > 0 && d.peer_sent > 0 : d.pings > 0);
	}
	/* The record says the same per VM: the peer's counts by address, and the capture's on the
	 * wire (every packet is IPv4 but the ARP: VM1's pings and their replies, the neighbours'
	 * datagrams each way), once it has read what the kernel gave it. */
	session_tick(s, &snap);
	for (unsigned i = 1; i < N; i++)
		CHECK(snap.vms.vm[i].peer_sink.valid &&
		      snap.vms.vm[i].peer_sink.total == now[i].sink &&
		      snap.vms.vm[i].peer_sent.total == now[i].peer_sent);
	uint64_t wire[N][2], want[N][2];
	for (unsigned i = 0; i < N; i++) {
		struct vm_account d = account_delta(&from[i], &now[i]);
		want[i][0] = i ? d.sent : d.pings;
		want[i][1] = i ? d.peer_sent : d.answered;
	}
	CHECK(WAIT_UNTIL((session_tick(s, &snap), !snap.cap_unread), HANG_BOUND_S));
	wire_counts(&base, &snap, N, wire);
	for (unsigned i = 0; i < N; i++) {
		printf("    VM%u on the wire: %llu out, %llu in (capture)\n", i + 1,
		       (unsigned long long)wire[i][0], (unsigned long long)wire[i][1]);
		CHECKF(
		    snap.cap_drops != base.cap_drops ||
			(wire[i][0] == want[i][0] && wire[i][1] == want[i][1]),
		    "VM%u: the capture saw %llu out and %llu in, the guest and the peer %llu and "
		    "%llu",
		    i + 1, (unsigned long long)wire[i][0], (unsigned long long)wire[i][1],
		    (unsigned long long)want[i][0], (unsigned long long)want[i][1]);
	}
	session_close(s);
}
