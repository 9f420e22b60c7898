/* The VM's network cards end to end (each test runs over virtio-net and over the emulated e1000):
 * guest driver, device, backend, link and peer. As root the far end is the real namespace (its
 * kernel and the UDP peer); the counts of the guest, the device and the peer must agree. On
 * virtio the data path must not exit to userspace; on the e1000 every register access does. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "probes/session.h"
#include "tests/harness.h"
#include "tests/integration/need.h"
#include "vmm/net/link.h"
#include "vmm/nic.h"
#include "vmm/vmm.h"

static struct vmm *boot_with_nic(enum nic_mode mode)
{
	struct vmm_opts o = {.nic = mode, .cpu = test_cpu()};
	struct vmm *vm;
	const char *why;
	need_kvm();
	if (vmm_create(&vm, &o, &why)) {
		test_fail(__FILE__, __LINE__, "vmm_create: %s", why);
		return NULL;
	}
	vmm_start(vm);
	if (!WAIT_UNTIL(guest_ctl(vm)->nic_state != NIC_NONE, HANG_BOUND_S))
		test_fail(__FILE__, __LINE__, "the guest found no card");
	return vm;
}

static uint64_t dev_counter(const struct nic_readout *ro, const char *name)
{
	for (unsigned i = 0; i < ro->nr_extra; i++)
		if (!strcmp(ro->extra[i].name, name))
			return ro->extra[i].value;
	test_fail(__FILE__, __LINE__, "the %s card has no counter %s", ro->model, name);
	return 0;
}

/* Each scenario over both cards. */
#define NIC_TEST(name)                                                                             \
	static void name(enum nic_mode m);                                                         \
	TEST(name##_virtio)                                                                        \
	{                                                                                          \
		name(NIC_MODE_VIRTIO);                                                             \
	}                                                                                          \
	TEST(name##_emulated)                                                                      \
	{                                                                                          \
		name(NIC_MODE_EMULATED);                                                           \
	}                                                                                          \
	TEST(name##_vf)                                                                            \
	{                                                                                          \
		name(NIC_MODE_VF);                                                                 \
	}                                                                                          \
	static void name(enum nic_mode m)

/* Idle the guest and wait until it has taken the command: every op it started has finished.
 * Frames still in flight land later; a test waits for the counts that must then agree. */
/* A closed-loop ping until one is answered: the guest and the namespace have resolved each
 * other's MAC, so no later datagram waits in an ARP queue. */
static void resolve_peer(struct vmm *vm)
{
	uint64_t from = guest_ctl(vm)->ping.ops;
	vmm_set_workload(vm, WL_PING, 0, 0);
	CHECK(WAIT_UNTIL(guest_ctl(vm)->ping.ops > from, HANG_BOUND_S));
	guest_settle(vm);
}

/* How much work each scenario drives: enough to mean something, a count, never a time. */
#define PINGS	   200
#define TX_FRAMES  3000
#define RX_PACED   3000
#define RX_UNPACED 20000
#define ECHOES	   200

NIC_TEST(net_guest_pings_the_peer)
{
	need_tap();
	struct vmm *vm = boot_with_nic(m);
	REQUIRE(vm);
	CHECK(guest_ctl(vm)->nic_state == NIC_UP);
	vmm_set_workload(vm, WL_PING, 0, 0); /* closed loop */
	CHECK(WAIT_UNTIL(guest_ctl(vm)->ping.ops >= PINGS, HANG_BOUND_S));
	guest_settle(vm);
	struct ctl_page *c = guest_ctl(vm);
	printf("    ping: %llu sent, %llu answered, %llu lost, avg %.1f us\n",
	       (unsigned long long)c->ping_sent, (unsigned long long)c->ping.ops,
	       (unsigned long long)c->ping_lost,
	       c->ping.ops
		   ? (double)c->ping.cycles / (double)c->ping.ops / ((double)c->tsc_khz / 1e3)
		   : 0);
	CHECK(c->ping.ops >= PINGS);
	CHECK(c->ping_lost == 0 && c->ping.ops == c->ping_sent);
	CHECK(c->net_rx_bad == 0);
	vmm_destroy(vm);
}

NIC_TEST(net_tx_counts_agree_and_only_the_emulated_card_exits)
{
	struct nic_readout ro;
	struct link_counters lc;
	struct vmm_counters a, b;
	need_tap();
	struct vmm *vm = boot_with_nic(m);
	REQUIRE(vm);
	resolve_peer(vm);
	vmm_read_counters(vm, &a);
	uint64_t tx0 = guest_ctl(vm)->net_tx_packets, ip0 = guest_sent_ipv4(guest_ctl(vm));
	vmm_read_net(vm, &ro, &lc);
	uint64_t sink0 = lc.sink_rx, dev0 = ro.total.tx_packets, traps0 = ro.total.reg_traps;
	uint64_t notify0 = ro.total.notify_events,
		 wakes0 = m == NIC_MODE_VF ? dev_counter(&ro, "engine_wakes") : 0;
	vmm_set_workload(vm, WL_TX, 0, 20000);
	CHECK(WAIT_UNTIL(guest_sent_ipv4(guest_ctl(vm)) - ip0 >= TX_FRAMES, HANG_BOUND_S));
	guest_settle(vm);
	uint64_t frames = guest_ctl(vm)->net_tx_packets - tx0,
		 guest = guest_sent_ipv4(guest_ctl(vm)) - ip0;
	uint64_t dev, sink;
	/* What the guest sent, the device moves (every frame) and the peer's sink receives (every
	 * datagram), each once. */
	WAIT_UNTIL((vmm_read_net(vm, &ro, &lc), dev = ro.total.tx_packets - dev0,
		    sink = lc.sink_rx - sink0, dev >= frames && sink >= guest),
		   HANG_BOUND_S);
	vmm_read_counters(vm, &b);
	uint64_t exits = b.userspace_exits - a.userspace_exits, traps = ro.total.reg_traps - traps0;
	printf("    tx (%s): guest %llu, device %llu, peer sink %llu, userspace exits %llu, "
	       "register traps %llu\n",
	       ro.model, (unsigned long long)guest, (unsigned long long)dev,
	       (unsigned long long)sink, (unsigned long long)exits, (unsigned long long)traps);
	CHECK(guest >= TX_FRAMES);
	CHECK(dev == frames);
	CHECK(sink == guest);
	if (m == NIC_MODE_VIRTIO) {
		/* Kicks are ioeventfds: the VMM's loop hears only the guest's idle halts. */
		CHECK(exits < guest / 20);
		CHECK(dev_counter(&ro, "tx_notifications") > 0);
	} else if (m == NIC_MODE_VF) {
		/* Doorbells are memory the engine polls: not one register trap for the flood. What
		 * reached KVM are the engine's wake-ups only (VSNIC_VF_WAKE, after it slept). */
		CHECK(traps == 0 && exits < guest / 20);
		CHECK(ro.total.notify_events - notify0 ==
		      dev_counter(&ro, "engine_wakes") - wakes0);
	} else {
		/* One TDT write per frame at least: each one a trap the VMM served. */
		CHECK(traps >= guest && exits >= traps);
	}
	CHECK(ro.total.tx_malformed == 0 && ro.total.ring_errors == 0);
	vmm_destroy(vm);
}

NIC_TEST(net_the_namespace_pings_the_guest_with_the_real_ping)
{
	struct vmm_net info;
	char cmd[200];
	need_tap();
	struct vmm *vm = boot_with_nic(m);
	REQUIRE(vm);
	vmm_net_info(vm, &info);
	if (strcmp(info.backend, "tap")) {
		test_fail(__FILE__, __LINE__, "no TAP link: %s", info.why ? info.why : "?");
		vmm_destroy(vm);
		return;
	}
	uint64_t before = guest_ctl(vm)->icmp_replies;
	snprintf(cmd, sizeof(cmd), "ip netns exec %s true 2>/dev/null", info.netns);
	if (system(cmd) != 0) {
		vmm_destroy(vm);
		SKIP("this system's ip cannot enter network namespaces");
	}
	/* -W: how long ping waits for a late reply, a hang's bound, not a speed */
	snprintf(cmd, sizeof(cmd), "ip netns exec %s ping -c 3 -W 30 10.77.0.2 >/dev/null 2>&1",
		 info.netns);
	CHECK(system(cmd) == 0);
	WAIT_UNTIL(guest_ctl(vm)->icmp_replies - before >= 3, HANG_BOUND_S);
	CHECK(guest_ctl(vm)->icmp_replies - before == 3);
	CHECK(guest_ctl(vm)->arp_replies >= 1); /* the namespace asked who 10.77.0.2 is */
	vmm_destroy(vm);
}

TEST(net_no_namespace_is_left_after_a_normal_exit)
{
	struct vmm_net info;
	char path[80];
	struct stat sb;
	need_tap();
	struct vmm *vm = boot_with_nic(NIC_MODE_VIRTIO);
	REQUIRE(vm);
	vmm_net_info(vm, &info);
	snprintf(path, sizeof(path), "/run/netns/%s", info.netns);
	CHECK(stat(path, &sb) == 0);
	vmm_destroy(vm);
	CHECK(stat(path, &sb) != 0);
}

TEST(net_without_root_the_loopback_peer_answers)
{
	/* Build the loopback case explicitly: the same device and guest, the in-process peer. */
	pid_t pid = fork();
	if (pid == 0) {
		/* An unprivileged user that may use KVM: a private /dev with a kvm node it can open
		 * (as the kvm group gives on a normal host). It cannot build the TAP link. */
		struct vmm_opts o = {.nic = NIC_MODE_VIRTIO};
		struct vmm *vm;
		const char *why;
		if (geteuid() == 0) {
			if (unshare(CLONE_NEWNS) ||
			    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
			    mount("tmpfs", "/dev", "tmpfs", 0, NULL) ||
			    mknod("/dev/kvm", S_IFCHR | 0666, makedev(10, 232)) ||
			    chmod("/dev/kvm", 0666) || /* past the umask */
			    setgid(65534) || setuid(65534))
				_exit(77);
		}
		if (access("/dev/kvm", R_OK | W_OK))
			_exit(77);
		if (vmm_create(&vm, &o, &why))
			_exit(11);
		vmm_start(vm);
		vmm_set_workload(vm, WL_PING, 0, 0);
		WAIT_UNTIL(guest_ctl(vm)->ping.ops >= PINGS, HANG_BOUND_S);
		guest_settle(vm);
		struct ctl_page c;
		struct vmm_net info;
		vmm_read_ctl(vm, &c);
		vmm_net_info(vm, &info);
		int ok = !strcmp(info.backend, "loopback") && info.why && c.ping.ops >= PINGS &&
			 !c.ping_lost && c.ping.ops == c.ping_sent;
		vmm_destroy(vm);
		_exit(ok ? 0 : 12);
	}
	int st;
	waitpid(pid, &st, 0);
	if (WIFEXITED(st) && WEXITSTATUS(st) == 77)
		SKIP("no private /dev with a usable kvm node could be made for an unprivileged "
		     "user");
	CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", WEXITSTATUS(st));
}

NIC_TEST(net_capture_sees_what_the_guest_sent_and_times_its_round_trips)
{
	static struct snapshot a, b, c;
	struct session_opts o = {.nic = m, .workload = WL_PING, .rate = 0, .cpu = test_cpu()};
	struct session *s;
	const char *why;
	need_tap();
	need_kvm();
	REQUIRE(session_open(&s, &o, &why) == 0);
	struct vmm *vm = session_vmm(s);
	resolve_peer(vm); /* ARP, first pings */
	/* The capture has seen every ping before the window opens (they are all the guest's IPv4).
	 */
	WAIT_UNTIL((session_tick(s, &a), a.cap_from_guest.total >= guest_ctl(vm)->ping_sent),
		   HANG_BOUND_S);
	if (!a.cap_on) {
		test_fail(__FILE__, __LINE__, "capture off: %s", a.cap_why);
		session_close(s);
		return;
	}
	uint64_t tx0 = guest_ctl(vm)->net_tx_packets, ip0 = guest_sent_ipv4(guest_ctl(vm));
	session_set_workload(s, WL_TX, 0, 20000);
	CHECK(WAIT_UNTIL(guest_sent_ipv4(guest_ctl(vm)) - ip0 >= TX_FRAMES, HANG_BOUND_S));
	guest_settle(vm);
	uint64_t frames = guest_ctl(vm)->net_tx_packets - tx0,
		 guest = guest_sent_ipv4(guest_ctl(vm)) - ip0;
	uint64_t wire = 0;
	WAIT_UNTIL((session_tick(s, &b), wire = b.cap_from_guest.total - a.cap_from_guest.total,
		    wire >= guest),
		   HANG_BOUND_S);
	/* the snapshot's count is the guest's, every frame */
	CHECK(b.pps_tx.total - a.pps_tx.total == frames);
	printf("    tx: guest %llu (and %llu ARP replies), capture %llu, lost %llu, kernel drops "
	       "%llu\n",
	       (unsigned long long)guest, (unsigned long long)(frames - guest),
	       (unsigned long long)wire, (unsigned long long)b.cap_lost,
	       (unsigned long long)b.cap_drops);
	CHECK(guest >= TX_FRAMES && wire == guest);
	CHECK(b.cap_lost == 0 && b.cap_reordered == 0);

	struct ctl_page ctl;
	vmm_read_ctl(session_vmm(s), &ctl);
	uint64_t replies0 = ctl.ping.ops;
	session_set_workload(s, WL_PING, 0, 0);
	CHECK(WAIT_UNTIL((vmm_read_ctl(vm, &ctl), ctl.ping.ops - replies0 >= PINGS), HANG_BOUND_S));
	guest_settle(vm);
	vmm_read_ctl(vm, &ctl);
	uint64_t pings = ctl.ping.ops - replies0, timed = 0;
	WAIT_UNTIL(
	    (session_tick(s, &c), timed = c.cap_rtt_samples - b.cap_rtt_samples, timed >= pings),
	    HANG_BOUND_S);
	printf("    ping: guest %llu replies (p50 %.0f us), capture timed %llu (p50 %.1f us)\n",
	       (unsigned long long)pings, c.latency_us[0], (unsigned long long)timed,
	       c.cap_rtt_us[0]);
	CHECK(pings >= PINGS && timed == pings);
	/* The wire sees only the namespace's part of the trip; the guest sees all of it. */
	CHECK(c.cap_rtt_us[0] > 0 && c.cap_rtt_us[0] < c.latency_us[0]);

	/* The round trip taken apart where it passes, over a window of PINGS more: on one clock
	 * (the guest's TSC set against the host's) no hop is negative, and the link's hop holds
	 * the wire's round trip the capture timed (the request reached the wire after the card
	 * handed it over, the reply left it before the card had it). */
	static struct snapshot d;
	session_tick(s, &c);
	vmm_read_ctl(vm, &ctl);
	replies0 = ctl.ping.ops;
	session_set_workload(s, WL_PING, 0, 0);
	CHECK(WAIT_UNTIL((vmm_read_ctl(vm, &ctl), ctl.ping.ops - replies0 >= PINGS), HANG_BOUND_S));
	/* Windows of 200 ms until one holds pings the capture's thread has timed too (it reads
	 * the kernel's ring on a thread of its own, a little behind). */
	for (unsigned w = 0; w < HANG_BOUND_S * 5; w++) {
		usleep(200000);
		session_tick(s, &d);
		if (d.hops.valid && d.hops.wire_valid)
			break;
	}
	const struct ping_hops *h = &d.hops;
	printf("    hops (us): to the link %.1f (send call %.1f), link %.1f (wire %.1f), card in "
	       "%.1f, guest in %.1f\n",
	       h->us[HOP_TO_LINK], h->send_us, h->us[HOP_LINK], h->wire_us, h->us[HOP_CARD_IN],
	       h->us[HOP_GUEST_IN]);
	if (!vmm_guest_tsc_known(vm)) {
		session_close(s);
		SKIP("the rest checked; the ping's hops need KVM's KVM_VCPU_TSC_OFFSET, which "
		     "this KVM lacks");
	}
	CHECK(h->valid && h->wire_valid);
	for (unsigned i = 0; i < HOP_MAX; i++)
		CHECKF(h->us[i] >= 0, "hop %s is %.2f us", ping_hop_name(i), h->us[i]);
	CHECK(h->send_us > 0);
	CHECK(h->us[HOP_LINK] >= h->wire_us);
	session_close(s);
}

/* What a flood from the peer at rate (0: unpaced) did until the guest had counted n datagrams,
 * the card's figures and the guest's as deltas over it; ro and c are the readouts at its end,
 * once what was in flight has landed and every count is at rest (paced: the guest's count is
 * the peer's; unpaced: the card's, and what is missing the peer sent). A count that never comes
 * to agree is read as it is at the bound, and the caller's checks say so. */
struct flood {
	struct nic_readout ro;
	struct ctl_page *c;
	uint64_t sent, delivered, got, dropped, irqs;
};

static void flood(struct vmm *vm, uint32_t rate, uint64_t n, struct flood *f)
{
	struct link_counters a, b;
	/* The guest's ARP first: a flood towards an unresolved neighbour has its first datagrams
	 * held in the namespace's ARP queue and overtaken by the next ones once resolved (the
	 * kernel's doing, seen as "lost 3, reordered 3"). */
	resolve_peer(vm);
	vmm_read_net(vm, &f->ro, &a);
	struct nic_stats t0 = f->ro.total;
	uint64_t sink0 = guest_ctl(vm)->rx_sink;
	vmm_set_workload(vm, WL_RX, 0, rate);
	CHECK(WAIT_UNTIL(guest_ctl(vm)->rx_sink - sink0 >= n, HANG_BOUND_S));
	guest_settle(vm); /* the peer stops flooding */
	WAIT_UNTIL((vmm_read_net(vm, &f->ro, &b), f->c = guest_ctl(vm),
		    f->sent = b.drive_tx[0] - a.drive_tx[0], f->got = f->c->rx_sink - sink0,
		    f->delivered = f->ro.total.rx_packets - t0.rx_packets,
		    rate ? f->got == f->sent
			 : f->got == f->delivered && f->got + f->c->rx_seq_lost <= f->sent),
		   HANG_BOUND_S);
	f->dropped = f->ro.total.rx_no_buffer - t0.rx_no_buffer;
	f->irqs = f->ro.total.interrupts - t0.interrupts;
	printf("    rx (%s, %s): peer sent %llu, device delivered %llu, guest counted %llu, lost "
	       "%llu, "
	       "reordered %llu, dropped %llu\n",
	       f->ro.model, rate ? "paced" : "unpaced", (unsigned long long)f->sent,
	       (unsigned long long)f->delivered, (unsigned long long)f->got,
	       (unsigned long long)f->c->rx_seq_lost, (unsigned long long)f->c->rx_seq_reordered,
	       (unsigned long long)f->dropped);
}

NIC_TEST(net_rx_the_peer_floods_the_guest_and_every_datagram_arrives_in_order)
{
	static struct flood f;
	need_tap();
	struct vmm *vm = boot_with_nic(m);
	REQUIRE(vm);
	/* Paced at a rate any machine of ours keeps up with, the TCG lane too: what must hold is
	 * that all of it arrives in order, not how fast (the unpaced test below loads the card). */
	flood(vm, (uint32_t)(2000 / test_slow), RX_PACED, &f);
	struct ctl_page *c = f.c;
	CHECK(f.sent >= RX_PACED && f.got == f.sent);
	CHECK(c->rx_seq_lost == 0 && c->rx_seq_reordered == 0 && f.dropped == 0);
	if (vmm_irqchip(vm)) {
		/* The guest slept on its rx interrupt: every interrupt the device sent (MSI-X
		 * through irqfd, or the e1000's INTx line) reached the guest's handler (one may
		 * still be on its way). */
		unsigned first = m == NIC_MODE_EMULATED ? VEC_INTX : VEC_NET;
		unsigned last = m == NIC_MODE_EMULATED ? VEC_INTX + 1 : VEC_NET + 3;
		uint64_t taken = 0;
		for (unsigned v = first; v < last; v++)
			taken += c->irqs[v - VEC_FIRST];
		printf("    interrupts: device sent %llu, guest took %llu, idle halts %llu\n",
		       (unsigned long long)f.irqs, (unsigned long long)taken,
		       (unsigned long long)c->idle_halts);
		CHECK(taken > 0);
		CHECK(taken <= f.ro.total.interrupts && taken + 1 >= f.ro.total.interrupts);
	}
	vmm_destroy(vm);
}

/* Unpaced, the peer sends in sendmmsg bursts: still in order, and every datagram the card
 * delivered is one the guest counted; what is missing the card or the TAP's queue dropped. */
NIC_TEST(net_rx_an_unpaced_flood_arrives_in_order)
{
	static struct flood f;
	need_tap();
	struct vmm *vm = boot_with_nic(m);
	REQUIRE(vm);
	flood(vm, 0, RX_UNPACED, &f);
	CHECK(f.got >= RX_UNPACED && f.got == f.delivered && f.got <= f.sent);
	CHECK(f.c->rx_seq_reordered == 0 && f.got + f.c->rx_seq_lost <= f.sent);
	vmm_destroy(vm);
}

/* The CPUs of this process's thread named comm; 0, or -1 when there is none. */
static int task_cpus(const char *comm, cpu_set_t *set)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	int r = -1;
	while (d && r && (de = readdir(d))) {
		char path[300], name[32] = "";
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", de->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(name, sizeof(name), f) && !strncmp(name, comm, strlen(comm)))
			r = sched_getaffinity(atoi(de->d_name), sizeof(*set), set);
		fclose(f);
	}
	if (d)
		closedir(d);
	return r;
}

TEST(net_rx_the_peer_floods_from_a_cpu_the_vcpu_and_the_card_leave_it)
{
	cpu_set_t all, drive, vcpu, card;
	need_tap();
	REQUIRE(sched_getaffinity(0, sizeof(all), &all) == 0);
	if (CPU_COUNT(&all) < 2)
		SKIP("this process may use one CPU, so the peer has none of its own to take");
	struct vmm *vm = boot_with_nic(NIC_MODE_VF);
	REQUIRE(vm);
	vmm_set_workload(vm, WL_RX, 0, 10000);
	REQUIRE(task_cpus("vmscope-drive", &drive) == 0 && task_cpus("vmscope-vcpu", &vcpu) == 0 &&
		task_cpus("vmscope-net", &card) == 0);
	CHECK(CPU_COUNT(&drive) == 1);
	CPU_AND(&vcpu, &vcpu, &drive);
	CPU_AND(&card, &card, &drive);
	CHECK(CPU_COUNT(&vcpu) == 0 && CPU_COUNT(&card) == 0);
	vmm_set_workload(vm, WL_PING, 0, 0);
	REQUIRE(task_cpus("vmscope-drive", &drive) == 0 && task_cpus("vmscope-vcpu", &vcpu) == 0 &&
		task_cpus("vmscope-net", &card) == 0);
	CHECK(CPU_EQUAL(&drive, &all) && CPU_EQUAL(&vcpu, &all) && CPU_EQUAL(&card, &all));
	vmm_destroy(vm);
}

NIC_TEST(net_echo_the_guest_sends_back_what_the_peer_sends)
{
	struct nic_readout ro;
	struct link_counters lc;
	need_tap();
	struct vmm *vm = boot_with_nic(m);
	REQUIRE(vm);
	vmm_set_workload(vm, WL_ECHO, 0, 0); /* closed loop from the peer */
	CHECK(WAIT_UNTIL((vmm_read_net(vm, &ro, &lc), lc.drive_echoes >= ECHOES), HANG_BOUND_S));
	guest_settle(vm);
	/* The echo in flight when the peer stopped comes back too. */
	WAIT_UNTIL((vmm_read_net(vm, &ro, &lc), lc.drive_echoes >= guest_ctl(vm)->udp_echoed),
		   HANG_BOUND_S);
	printf("    echo: guest echoed %llu, peer got back %llu, avg %.0f us\n",
	       (unsigned long long)guest_ctl(vm)->udp_echoed, (unsigned long long)lc.drive_echoes,
	       lc.drive_echoes ? (double)lc.drive_rtt_ns / 1e3 / (double)lc.drive_echoes : 0);
	CHECK(lc.drive_echoes >= ECHOES && lc.drive_echoes == guest_ctl(vm)->udp_echoed);
	vmm_destroy(vm);
}

/* An ordinary client, not written by us. */
TEST(net_echo_answers_socat_in_the_namespace)
{
	struct vmm_net info;
	char cmd[300];
	need_tap();
	if (system("command -v socat >/dev/null && command -v ip >/dev/null") != 0)
		SKIP("socat or iproute2's ip is not installed: the exchange cannot be tried");
	struct vmm *vm = boot_with_nic(NIC_MODE_VIRTIO);
	REQUIRE(vm);
	vmm_net_info(vm, &info);
	snprintf(cmd, sizeof(cmd), "ip netns exec %s true 2>/dev/null", info.netns);
	if (system(cmd) != 0) {
		vmm_destroy(vm);
		SKIP("ip netns exec does not work here");
	}
	snprintf(cmd, sizeof(cmd),
		 "echo vmscope-echo-test | timeout 5 ip netns exec %s socat -T 2 - "
		 "UDP:10.77.0.2:7 | grep -q vmscope-echo-test",
		 info.netns);
	CHECK(system(cmd) == 0);
	vmm_destroy(vm);
}
