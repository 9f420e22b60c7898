/* The live switch: every ordered pair of NIC modes, both ways, under ping, tx and rx; the guest
 * still answers the namespace's real ping afterwards; every switch is an event with its blackout
 * and loss. And a soak: switches at one a second under closed-loop ping, cycling all three
 * cards, that must leak no fd, thread, memory slot, ioeventfd or GSI and lose nothing the
 * capture does not also see lost (VMSCOPE_SOAK_SWITCHES sets how many: 20 in `make test`,
 * 100 in `make soak`, which builds this under ASan). */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "probes/session.h"
#include "tests/harness.h"
#include "tests/integration/need.h"
#include "vmm/nic.h"
#include "vmm/vmm.h"

static uint64_t guest_packets(struct session *s)
{
	struct ctl_page c;
	vmm_read_ctl(session_vmm(s), &c);
	return c.net_tx_packets + c.net_rx_packets;
}

/* Ticks once, waits until the guest has moved n more packets, ticks again: the second tick's
 * figures cover that much traffic on whatever card carried it (false: the traffic stopped). */
static bool carry(struct session *s, struct snapshot *snap, uint64_t n)
{
	session_tick(s, snap);
	uint64_t from = guest_packets(s);
	bool moved = WAIT_UNTIL(guest_packets(s) - from >= n, HANG_BOUND_S);
	session_tick(s, snap);
	return moved;
}

/* The event of a switch in this tick's snapshot, if there is one. */
/* The tick's switch that was begun (a refused one is an event too, counted apart). */
static unsigned refused_events;
static bool switch_event(const struct snapshot *snap, struct snap_event *ev)
{
	for (unsigned e = 0; e < snap->nr_events; e++)
		refused_events += snap->events[e].kind == SEV_NIC_SWITCH && snap->events[e].refused;
	for (unsigned e = 0; e < snap->nr_events; e++)
		if (snap->events[e].kind == SEV_NIC_SWITCH && !snap->events[e].refused) {
			*ev = snap->events[e];
			return true;
		}
	return false;
}

static struct session *open_switch_session(enum workload wl, uint32_t rate)
{
	struct session_opts o = {.cpu = test_cpu(),
				 .workload = wl,
				 .rate = rate,
				 .nic = NIC_MODE_VIRTIO,
				 .no_bpf = true};
	need_kvm();
	need_tap();
	return OPEN_SESSION(&o);
}

/* Switches to `to` and ticks until the switch's event comes: 0 and *ev, or -1 (it never came). */
static int switch_and_wait(struct session *s, enum nic_mode to, struct snapshot *snap,
			   struct snap_event *ev)
{
	const char *why;
	int r = session_switch_nic(s, to, &why);
	if (r) {
		test_fail(__FILE__, __LINE__, "switch to %s refused: %s", nic_mode_name(to), why);
		return -1;
	}
	if (WAIT_UNTIL((test_nap(0.05), session_tick(s, snap), switch_event(snap, ev)),
		       HANG_BOUND_S))
		return 0;
	test_fail(__FILE__, __LINE__, "no event for the switch to %s", nic_mode_name(to));
	return -1;
}

static unsigned count_dir(const char *path)
{
	unsigned n = 0;
	DIR *d = opendir(path);
	if (!d)
		return 0;
	for (struct dirent *e; (e = readdir(d));)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* The namespace's own ping answered by the guest: the peer sees one host throughout. */
static void namespace_pings(const char *netns)
{
	char cmd[200];
	snprintf(cmd, sizeof(cmd), "ip netns exec %s true 2>/dev/null", netns);
	if (system(cmd) != 0) {
		printf(
		    "    (ip netns exec does not work here: the namespace's ping is not tried)\n");
		return;
	}
	snprintf(cmd, sizeof(cmd), "ip netns exec %s ping -c 3 -W 30 10.77.0.2 >/dev/null 2>&1",
		 netns);
	CHECK(system(cmd) == 0);
}

/* virtio -> emulated -> vf -> virtio -> vf -> emulated -> virtio: each ordered pair once. */
static const enum nic_mode tour[] = {NIC_MODE_EMULATED, NIC_MODE_VF,	   NIC_MODE_VIRTIO,
				     NIC_MODE_VF,	NIC_MODE_EMULATED, NIC_MODE_VIRTIO};

static void every_pair(enum workload wl, uint32_t rate)
{
	static struct snapshot snap;
	struct session *s = open_switch_session(wl, rate);
	REQUIRE(s);
	CHECK(carry(s, &snap, 200)); /* the first card carries traffic before the first switch */
	enum nic_mode from = NIC_MODE_VIRTIO;
	for (unsigned i = 0; i < sizeof(tour) / sizeof(tour[0]); i++) {
		struct snap_event ev;
		if (switch_and_wait(s, tour[i], &snap, &ev))
			break;
		printf("    %-8s -> %-8s %s: blackout %.2f ms (capture) %.2f ms (vmm), lost %llu, "
		       "probe %.1f ms, %.1f ms in all\n",
		       nic_mode_name(ev.from), nic_mode_name(ev.to), workload_name(wl),
		       ev.blackout_ms[0], ev.blackout_ms[1], (unsigned long long)ev.lost,
		       ev.probe_ms, ev.duration_ms);
		CHECK(ev.ok);
		CHECK(ev.from == from && ev.to == tour[i]);
		CHECK(session_nic_mode(s) == tour[i]);
		/* Traffic flowed, so both views of the blackout closed; the loss is counted. */
		CHECK(ev.blackout_valid[0] && ev.blackout_valid[1]);
		CHECK(ev.lost_valid);
		if (wl == WL_PING)
			CHECK(ev.lost == 0); /* make before break: not one ping */
		CHECK(ev.probe_ms > 0 && ev.duration_ms >= ev.probe_ms);
		from = tour[i];
		/* The new card carries the traffic: a tick's worth of it, all on the new card. */
		CHECK(carry(s, &snap, 200));
		CHECK(snap.nic_mode == tour[i]);
		CHECK(snap.dev_tx.rate + snap.dev_rx.rate > 0);
	}
	/* Each mode has its row in the compare table. */
	for (unsigned m = NIC_MODE_EMULATED; m < NIC_MODE_MAX; m++)
		CHECK(snap.compare[m].valid);
	namespace_pings(snap.netns);
	session_close(s);
}

TEST(switch_every_pair_both_ways_under_closed_loop_ping)
{
	every_pair(WL_PING, 0);
}

TEST(switch_every_pair_both_ways_under_tx)
{
	every_pair(WL_TX, 20000);
}

TEST(switch_every_pair_both_ways_under_rx)
{
	every_pair(WL_RX, 20000);
}

/* The hardware lane's switch (light: one paced ping, the two trapping cards): the slot's MSI
 * reaches a guest that sleeps with sti; hlt, and both ways lose nothing. */
TEST(switch_virtio_to_emulated_and_back_under_paced_ping)
{
	static struct snapshot snap;
	struct session *s = open_switch_session(WL_PING, 200);
	REQUIRE(s);
	CHECK(carry(s, &snap, 50));
	const enum nic_mode way[] = {NIC_MODE_EMULATED, NIC_MODE_VIRTIO};
	for (unsigned i = 0; i < 2; i++) {
		struct snap_event ev;
		if (switch_and_wait(s, way[i], &snap, &ev))
			break;
		printf("    %s -> %s: blackout %.2f ms (capture) %.2f ms (vmm), lost %llu\n",
		       nic_mode_name(ev.from), nic_mode_name(ev.to), ev.blackout_ms[0],
		       ev.blackout_ms[1], (unsigned long long)ev.lost);
		CHECK(ev.ok && ev.lost_valid && ev.lost == 0);
		CHECK(session_nic_mode(s) == way[i]);
	}
	CHECK(carry(s, &snap, 100)); /* the pings go on, none lost */
	CHECK(snap.ping_lost.total == 0);
	session_close(s);
}

TEST(switch_refusals_say_why_and_change_nothing)
{
	static struct snapshot snap;
	const char *why;
	struct snap_event ev = {0};
	struct session *s = open_switch_session(WL_PING, 100);
	REQUIRE(s);
	refused_events = 0;
	CHECK(carry(s, &snap, 20));
	CHECK(session_switch_nic(s, NIC_MODE_VIRTIO, &why) < 0 && strstr(why, "already"));
	CHECK(session_switch_nic(s, NIC_MODE_VF, &why) == 0);
	CHECK(session_switch_nic(s, NIC_MODE_EMULATED, &why) < 0 && strstr(why, "under way"));
	/* The refused ones changed nothing: the one switch asked for ends on the VF. */
	CHECK(WAIT_UNTIL((test_nap(0.05), session_tick(s, &snap), switch_event(&snap, &ev)),
			 HANG_BOUND_S));
	CHECK(ev.ok && ev.to == NIC_MODE_VF);
	CHECK(session_nic_mode(s) == NIC_MODE_VF);
	CHECK(refused_events == 2); /* each refusal above is one event, with its why */
	session_pause(s, true);
	CHECK(session_switch_nic(s, NIC_MODE_EMULATED, &why) < 0 && strstr(why, "paused"));
	session_close(s);
}

/* A guest that stops answering in the middle of a switch: the new card is taken back after the
 * bound, the event says why, and the old card carries on. */
TEST(switch_that_the_guest_never_completes_fails_and_the_old_card_stays)
{
	static struct snapshot snap;
	const char *why;
	struct session *s = open_switch_session(WL_PING, 200);
	REQUIRE(s);
	CHECK(carry(s, &snap, 50));
	struct vmm_resources before, after;
	vmm_resources(session_vmm(s), &before);
	REQUIRE(session_switch_nic(s, NIC_MODE_EMULATED, &why) == 0);
	session_pause(s, true); /* the vCPU hot-adds first, then the guest sleeps through it */
	struct snap_event ev = {0};
	REQUIRE(WAIT_UNTIL((test_nap(0.05), session_tick(s, &snap), switch_event(&snap, &ev)),
			   HANG_BOUND_S));
	printf("    %s\n", ev.why);
	CHECK(!ev.ok && strstr(ev.why, "did not"));
	session_pause(s, false);
	CHECK(carry(s, &snap, 50)); /* the old card carries the pings again */
	CHECK(session_nic_mode(s) == NIC_MODE_VIRTIO);
	CHECK(snap.nic_mode == NIC_MODE_VIRTIO);
	vmm_resources(session_vmm(s), &after);
	CHECK(after.cards == before.cards && after.memslots == before.memslots &&
	      after.ioeventfds == before.ioeventfds && after.gsis == before.gsis);
	session_close(s);
}

TEST(switch_soak_at_one_a_second_leaks_nothing_and_loses_only_what_the_capture_saw)
{
	static struct snapshot snap;
	const char *env = getenv("VMSCOPE_SOAK_SWITCHES");
	int n = env ? atoi(env) : 20;
	struct session *s = open_switch_session(WL_PING, 0);
	REQUIRE(s);
	CHECK(carry(s, &snap, 200));
	/* What each mode holds the first time it is in use, against every later visit. */
	struct vmm_resources first[NIC_MODE_MAX] = {0}, now;
	unsigned fds[NIC_MODE_MAX] = {0}, threads[NIC_MODE_MAX] = {0};
	bool seen[NIC_MODE_MAX] = {false};
	uint64_t lost = 0;
	int events = 0, leaks = 0;
	enum nic_mode mode = NIC_MODE_VIRTIO;
	for (int i = 0; i <= n; i++) {
		if (i) {
			struct snap_event ev;
			enum nic_mode to = mode == NIC_MODE_EMULATED ? NIC_MODE_VIRTIO
					   : mode == NIC_MODE_VIRTIO ? NIC_MODE_VF
								     : NIC_MODE_EMULATED;
			double t0 = snap.t;
			if (switch_and_wait(s, to, &snap, &ev))
				break;
			events++;
			lost += ev.lost;
			CHECK(ev.ok);
			mode = to;
			/* One a second: the rest of the second under ping. */
			double left = 1.0 - (snap.t - t0);
			if (left > 0)
				test_nap(left);
			session_tick(s, &snap);
		}
		vmm_resources(session_vmm(s), &now);
		unsigned f = count_dir("/proc/self/fd"), t = count_dir("/proc/self/task");
		if (!seen[mode]) {
			seen[mode] = true;
			first[mode] = now;
			fds[mode] = f;
			threads[mode] = t;
		} else if (now.cards != first[mode].cards || now.memslots != first[mode].memslots ||
			   now.ioeventfds != first[mode].ioeventfds ||
			   now.gsis != first[mode].gsis || f != fds[mode] || t != threads[mode]) {
			leaks++;
			printf("    switch %d (%s): cards %u/%u memslots %u/%u ioeventfds %u/%u "
			       "gsis %u/%u fds %u/%u threads %u/%u\n",
			       i, nic_mode_name(mode), now.cards, first[mode].cards, now.memslots,
			       first[mode].memslots, now.ioeventfds, first[mode].ioeventfds,
			       now.gsis, first[mode].gsis, f, fds[mode], t, threads[mode]);
		}
	}
	CHECK(events == n);
	CHECK(leaks == 0);
	/* The guest still answers; the pings the switches lost are the ones the capture saw go
	 * unanswered (after the last ping's reply had time to come). */
	session_set_workload(s, WL_IDLE, 0, 0);
	/* At rest: the last ping's reply has reached the capture too. */
	WAIT_UNTIL((test_nap(0.05), session_tick(s, &snap),
		    snap.cap_echo_unanswered == lost && snap.ping_lost.total == lost),
		   HANG_BOUND_S);
	printf("    %d switches, %llu pings lost by the events' count, %llu unanswered in the "
	       "capture\n",
	       events, (unsigned long long)lost, (unsigned long long)snap.cap_echo_unanswered);
	CHECK(snap.cap_on);
	CHECK(lost == snap.cap_echo_unanswered);
	CHECK(snap.ping_lost.total == lost);
	namespace_pings(snap.netns);
	session_close(s);
}
