/* The built-in guest: freestanding, no libc; runs the workloads the VMM asks for on the control
 * page. */
#define VMSCOPE_GUEST
#include "../control.h"
#include "lib.h"
#include "../shared/netstack.h"
#include "hotplug.h"
#include "nic.h"
#include "pci.h"
#include "cpu.h"
#include "task.h"
#include "../work_loop.h"

#define GUEST_BANNER "vmscope guest: long mode, ring 0, ready"

static struct ctl_page *const ctl = (struct ctl_page *)GPA_CTL;

/* The network side of the guest: the NICs (the one in use, and during a switch the next one),
 * its stack, and what came in. */
static struct gnic cards[2];
static struct gnic *cur = &cards[0];

void nic_irq_all(void)
{
	for (int i = 0; i < 2; i++)
		if (cards[i].drv && cards[i].drv->irq)
			cards[i].drv->irq(&cards[i]);
}
static struct net_if nif;
static u8 frame[NIC_BUF], reply[NIC_BUF];
static u16 ping_seq, ping_id = PING_ICMP_ID;
static u8 echo_frame[NIC_BUF];
static u64 rx_next_seq;
static int rx_seq_started;

/* The peer's datagrams carry their send time (the host's CLOCK_MONOTONIC ns): a gap's share of a
 * switch's window (net_loss_share) is charged to the switch; losses outside a switch stay the
 * ordinary overflow's. */
static u64 rx_last_sent;

static u64 in_switch_window(u64 lost, u64 a, u64 b)
{
	u64 ws = *(volatile u64 *)&ctl->loss_win_start;
	barrier();
	u64 we = *(volatile u64 *)&ctl->loss_win_end;
	return net_loss_share(lost, a, b, ws, we);
}

/* UDP to the guest: port 7 is echoed back (always: ordinary tools may talk to it), port 9 is a
 * sink whose payloads carry a sequence number (the peer's rx flood). */
static void on_udp(const struct net_rx *rx)
{
	if (rx->dst_port == 7) {
		u32 n = (u32)net_udp(&nif, echo_frame, sizeof(echo_frame), rx->src_ip, 7,
				     rx->src_port, rx->payload, rx->payload_len);
		if (n && nic_send(cur, echo_frame, n) == 0) {
			ctl->net_tx_packets++;
			ctl->udp_echoed++;
		}
	} else if (rx->dst_port == 9 && rx->payload_len >= 8) {
		u64 seq;
		__builtin_memcpy(&seq, rx->payload, 8);
		ctl->rx_sink++;
		if (rx_seq_started && seq < rx_next_seq) {
			ctl->rx_seq_reordered++;
			return;
		}
		u64 sent = rx_last_sent;
		if (rx->payload_len >= 16)
			__builtin_memcpy(&sent, rx->payload + 8, 8);
		if (rx_seq_started && seq > rx_next_seq) {
			ctl->rx_seq_lost += seq - rx_next_seq;
			ctl->rx_win_lost += in_switch_window(seq - rx_next_seq, rx_last_sent, sent);
		}
		rx_seq_started = 1;
		rx_next_seq = seq + 1;
		rx_last_sent = sent;
	}
}
static int ping_answered;
static u64 ping_rtt;

static void on_frame(const u8 *f, u32 len)
{
	struct net_rx rx;
	ctl->net_rx_packets++;
	switch (net_receive(&nif, f, len, reply, sizeof(reply), &rx)) {
	case NET_RX_REPLY: /* ARP or ICMP echo requests from the peer: answer them */
		if (nic_send(cur, reply, (u32)rx.reply_len) == 0) {
			ctl->net_tx_packets++;
			if (reply[12] == 0x08 && reply[13] == 0x06)
				ctl->arp_replies++;
			else
				ctl->icmp_replies++;
		}
		break;
	case NET_RX_UDP: on_udp(&rx); break;
	case NET_RX_ICMP_REPLY:
		if (rx.icmp_id == ping_id && rx.icmp_seq == ping_seq && rx.payload_len >= 8) {
			u64 sent;
			__builtin_memcpy(&sent, rx.payload, 8);
			ping_rtt = rdtsc() - sent;
			ping_answered = 1;
		}
		break;
	default: break;
	}
	ctl->net_rx_bad = nif.rx_bad;
}

static void nic_init(void)
{
	const struct nic_driver *drv;
	int r = nic_probe_first(cur, have_irqs(), &drv);
	if (!drv) {
		ctl->nic_state = NIC_NONE;
		return;
	}
	nic_log(cur, drv, r);
	if (r) {
		cur->drv = 0;
		ctl->nic_state = NIC_FAILED;
		return;
	}
	__builtin_memcpy(nif.mac, cur->mac, 6);
	__builtin_memcpy(ctl->mac, cur->mac, 6);
	nif.ip = ctl->guest_ip;
	nif.peer_ip = ctl->peer_ip;
	ctl->nic_state = NIC_UP;
}

static int nic_up(void)
{
	return ctl->nic_state == NIC_UP;
}

/* Resolves the peer's MAC (ARP), polling for up to 100 ms. */
static int resolve_peer(void)
{
	if (nif.peer_known)
		return 1;
	u32 n = (u32)net_arp_request(&nif, frame, sizeof(frame), ctl->peer_ip);
	if (nic_send(cur, frame, n) == 0)
		ctl->net_tx_packets++;
	for (u64 end = rdtsc() + ctl->tsc_khz * 100; rdtsc() < end && !nif.peer_known;)
		nic_poll(cur, on_frame);
	return nif.peer_known;
}

/* Report and stop: the VMM takes over from the event; we never return. */
#define GUEST_ASSERT(c)                                                                            \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			ctl->assert_line = __LINE__;                                               \
			event(GEV_ASSERT);                                                         \
			for (;;)                                                                   \
				cpu_relax();                                                       \
		}                                                                                  \
	} while (0)

/* The live switch, the guest's half: make before break, in net_failover's order. The VMM
 * hot-adds the new card behind a free root port; the hot-plug driver's event brings it up here
 * with the same MAC and IP while the old card still carries the traffic; then the traffic moves
 * and the old card is let go, and only then does the VMM remove it. Bringing the new card up
 * and letting the old one go are hundreds of trapping accesses (milliseconds on kvm_pvm): they
 * run as the background task, in 100 us turns between the workload's own steps, so the traffic
 * stops only for the move itself (1. and 2. in move_to). */
static struct gnic *spare(void)
{
	return cur == &cards[0] ? &cards[1] : &cards[0];
}

#define DRAIN_MS      10  /* the longest we wait for a card to put its frames on the wire */
#define TASK_SLICE_US 100 /* the background task's turn (task.h) */

/* What the main loop does once the background task has finished (NULL: nothing). */
static void (*task_done)(void);

/* Runs fn(arg) as the background task in TASK_SLICE_US turns, then done (in the main loop); -1
 * if a task is live. */
static int background(void (*fn)(void *), void *arg, void (*done)(void))
{
	if (task_start(fn, arg, ctl->tsc_khz * TASK_SLICE_US / 1000))
		return -1;
	task_done = done;
	return 0;
}

static void wait_tx_done(struct gnic *n)
{
	for (u64 t = rdtsc(); !n->drv->tx_done(n) && rdtsc() - t < ctl->tsc_khz * DRAIN_MS;) {
		task_point();
		cpu_relax();
	}
}

/* 3. and 4., as the background task while the traffic already flows through the new card. */
static void release_task(void *arg)
{
	struct gnic *old = arg;
	/* 3. Once the announcement is on the wire the link sends nothing more to the old card:
	 * take what reached it before (the replies go out the new one) ... */
	wait_tx_done(cur);
	nic_quiet(old);
	int h = task_hold();
	while (nic_poll(old, on_frame))
		;
	task_unhold(h);
	/* 4. ... and let go of it: reset, ready to be unplugged. */
	old->drv->remove(old);
	old->drv = 0;
	ctl->hp_released_bdf = old->slot_bdf;
	event(GEV_NIC_MOVED);
}

static void move_to(struct gnic *n)
{
	struct gnic *old = cur;
	/* 1. What the old card took is on the wire: nothing we sent is lost or overtaken. */
	if (old->drv)
		wait_tx_done(old);
	/* 2. We send on the new card from now on. Its gratuitous ARP (our own address asked for)
	 * teaches the link and the peer where we are: the same MAC and IP, one host throughout. */
	cur = n;
	u32 len = (u32)net_arp_request(&nif, frame, sizeof(frame), ctl->guest_ip);
	if (nic_send(cur, frame, len) == 0)
		ctl->net_tx_packets++;
	ctl->nic_state = NIC_UP;
	if (old->drv) {
		/* The probe's task has ended (we are its finish): the task is free. */
		if (background(release_task, old, 0))
			release_task(old); /* cannot happen; in one go then */
		return;
	}
	ctl->hp_released_bdf = old->slot_bdf;
	event(GEV_NIC_MOVED);
}

static u64 slot_seen; /* when the hot-plug driver saw the event */

/* The probe of a hot-added card runs as the background task (task.h): the workload keeps its
 * traffic on the old card meanwhile, so the switch's blackout is the move alone. */
static struct {
	u32 bdf;
	int r;
	const struct nic_driver *drv;
} probe;

static void probe_task(void *arg)
{
	(void)arg;
	struct gnic *n = spare();
	probe.r = nic_probe_at(n, probe.bdf, have_irqs(), &probe.drv);
	if (!probe.drv) {
		puts("hotplug: no driver for the card at ");
		put_bdf(probe.bdf);
		puts("\n");
		return;
	}
	nic_log(n, probe.drv, probe.r);
	if (!probe.r && memcmp(n->mac, nif.mac, 6) && cur->drv) {
		puts("hotplug: the new card has another MAC: not moving to it\n");
		probe.r = -99;
	}
}

/* The probe finished (main loop): the card is taken, or let go. */
static void probe_done(void)
{
	struct gnic *n = spare();
	if (!probe.drv)
		return;
	if (probe.r) {
		if (n->drv && n->drv->remove)
			n->drv->remove(n);
		n->drv = 0;
		return;
	}
	if (!cur->drv) { /* no card before: this one is ours, with its address */
		__builtin_memcpy(nif.mac, n->mac, 6);
		__builtin_memcpy(ctl->mac, n->mac, 6);
		nif.ip = ctl->guest_ip;
		nif.peer_ip = ctl->peer_ip;
	}
	ctl->hp_probe_cycles = rdtsc() - slot_seen;
	ctl->hp_bound_bdf = probe.bdf;
	event(GEV_NIC_BOUND);
	move_to(n);
}

static void on_slot(u32 bdf, int present, void *arg)
{
	(void)arg;
	for (int i = 0; i < 2; i++) {
		struct gnic *n = &cards[i];
		/* Our card in that slot is still there (a link event): nothing to do. A card that
		 * left (the VMM took back one we never moved to, or took ours away) is forgotten.
		 */
		if (!n->drv || n->slot_bdf != bdf)
			continue;
		if (present)
			return;
		n->drv = 0;
		if (n == cur)
			ctl->nic_state = NIC_NONE;
	}
	if (!present)
		return;
	probe.bdf = bdf;
	probe.drv = 0;
	probe.r = 0;
	/* hp_service is not called while a probe is live, and the spare port is the only one a
	 * card can arrive in: a second start cannot happen. */
	if (background(probe_task, 0, probe_done))
		puts("hotplug: a probe is already running\n");
}

/* Called wherever the guest loops: cheap unless the slots have news or a probe is running.
 * The slots are not read while a probe runs; their events wait, latched, until it is done. */
static void hotplug_poll(void)
{
	if (task_live()) {
		if (task_step() == 0 && task_done)
			task_done();
		return;
	}
	u64 now = rdtsc();
	if (!hp_pending(now))
		return;
	slot_seen = now;
	hp_service(on_slot, 0);
}

static void record_stats(struct kind_stats *k, u64 cycles)
{
	int slot = 63 - __builtin_clzll(cycles | 1);
	if (slot >= HIST_SLOTS)
		slot = HIST_SLOTS - 1;
	if (!k->ops || cycles < k->min_cycles)
		k->min_cycles = cycles;
	if (cycles > k->max_cycles)
		k->max_cycles = cycles;
	k->cycles += cycles;
	k->hist[slot]++;
	barrier();
	k->ops++; /* last: the VMM reads ops as the count of completed trips */
}

static u32 seen_seq;

static int command_pending(void)
{
	return *(volatile u32 *)&ctl->cmd_seq != seen_seq;
}

/* One halt that ends by the deadline at the latest (it may end sooner: an interrupt, or the
 * VMM's wake). With interrupts, the NIC's rx interrupt is armed too, so the peer's packets (the
 * namespace's ping) are answered while the guest sleeps. */
static void sleep_until(u64 deadline, u64 now)
{
	u64 ns = (deadline - now) * 1000000ull / ctl->tsc_khz;
	if (task_live())
		return; /* a probe runs in the loops' turns: no sleeping until it is done */
	if (!have_irqs()) {
		ctl->halt_ns = ns;
		ctl->halt_is_idle = 1;
		ctl->idle_halts++;
		halt();
		return;
	}
	if (nic_up() && nic_arm_rx_irq(cur))
		return; /* a packet came in while arming */
	if (command_pending() || hp_irq_pending())
		return;
	/* Armed after the checks (each LAPIC write is an exit): what comes from here on
	 * interrupts, and an interrupt ends the halt. */
	lapic_timer_arm(ns);
	safe_halt(&ctl->idle_halts);
	if (nic_up())
		nic_quiet(cur);
}

/* Wait until the TSC passes deadline, serving the NIC: long waits halt, short ones spin. */
static void wait_until(u64 deadline)
{
	u64 spin_limit = ctl->tsc_khz / 5; /* 200 us: a halt round trip costs 25-50 us */
	for (;;) {
		hotplug_poll();
		if (nic_up())
			nic_poll(cur, on_frame);
		u64 now = rdtsc();
		if (now >= deadline || command_pending())
			return;
		if (deadline - now > spin_limit)
			sleep_until(deadline, now);
		else
			cpu_relax();
	}
}

/* One ICMP echo to the peer; waits up to a second for its reply, answering the peer meanwhile. */
static void ping_once(void)
{
	u8 payload[64] = {0};
	u64 t0 = rdtsc();
	__builtin_memcpy(payload, &t0, 8);
	ping_seq++;
	ping_answered = 0;
	u32 len = ctl->pkt_size < 8 ? 8 : ctl->pkt_size > 64 ? 64 : ctl->pkt_size;
	u32 n = (u32)net_icmp_echo(&nif, frame, sizeof(frame), ctl->peer_ip, ping_id, ping_seq,
				   payload, len);
	if (nic_send(cur, frame, n)) {
		ctl->net_tx_full++;
		return;
	}
	u64 sent = rdtsc(); /* the card has it: a kick's exit is behind us */
	ctl->net_tx_packets++;
	ctl->ping_sent++;
	/* Wait for the reply even if a command comes: an abandoned ping is not a lost one. */
	for (u64 end = t0 + ctl->tsc_khz * 1000; !ping_answered && rdtsc() < end;)
		nic_poll(cur, on_frame);
	if (!ping_answered) {
		ctl->ping_lost++;
		return;
	}
	ctl->ping_rtt[rtt_slot(ping_rtt)]++; /* before record_stats counts the trip */
	ctl->ping_send_cycles += sent - t0;  /* first: ping's count says both are in */
	record_stats(&ctl->ping, ping_rtt);
}

/* The tx ring is full. With interrupts the guest sleeps until the card has taken frames, as a
 * driver stops its queue until the tx completion interrupt, and gives its core to the host's
 * side of the link (the card's thread, the peer) instead of spinning on a full ring. At most 1 ms.
 */
static void wait_tx_room(void)
{
	if (!have_irqs() || !cur->irq || !cur->drv->arm_tx_irq || task_live() ||
	    command_pending() || hp_irq_pending())
		return;
	if (!cur->drv->arm_tx_irq(cur)) {
		lapic_timer_arm(1000000);
		safe_halt(&ctl->idle_halts);
	}
	nic_quiet(cur);
}

/* One UDP datagram to the peer's sink, with a sequence number and the TSC. */
static u64 udp_seq; /* consecutive over every datagram the guest sends: gaps on the wire are loss */

static void tx_once(void)
{
	u8 payload[1472] = {0};
	u64 seq = udp_seq, t = rdtsc();
	u32 len = ctl->pkt_size < 16 ? 16 : ctl->pkt_size > 1472 ? 1472 : ctl->pkt_size;
	__builtin_memcpy(payload, &seq, 8);
	__builtin_memcpy(payload + 8, &t, 8);
	u32 n = (u32)net_udp(&nif, frame, sizeof(frame), ctl->peer_ip, 40000, 9, payload, len);
	if (nic_send(cur, frame, n)) {
		ctl->net_tx_full++;
		wait_tx_room();
	} else {
		ctl->net_tx_packets++;
		ctl->tx_sink++;
		udp_seq++;
	}
	nic_poll(cur, on_frame);
}

/* The paced workloads' clock: the next operation's time (n operations on), without a catch-up
 * burst after the guest fell a second behind. */
static void pace_n(u64 *next, u64 now, u32 n)
{
	if (!ctl->rate)
		return;
	u64 period = ctl->tsc_khz * 1000 / ctl->rate;
	*next += (period ? period : 1) * n;
	if (now > *next + ctl->tsc_khz * 1000)
		*next = now;
	wait_until(*next);
}

static void pace(u64 *next, u64 now)
{
	pace_n(next, now, 1);
}

/* The main loop's state across its turns. */
struct loop {
	u64 next;	/* the paced workloads' next operation */
	u32 rr;		/* exits of every kind: the next kind in turn */
	u64 idle_since; /* rx and echo: when the ring went empty (0: it is not) */
	u64 rx_spin;	/* ... and how long to spin before sleeping on the rx interrupt */
	u64 next_work;	/* the next work-loop measurement */
};

static void exits_step(struct loop *l)
{
	u32 kind = ctl->exit_kind >= EK_MAX ? l->rr++ % EK_MAX : ctl->exit_kind;
	u64 t0 = rdtsc();
	do_exit_op(kind);
	u64 t1 = rdtsc();
	record_stats(&ctl->kind[kind], t1 - t0);
	pace(&l->next, t1);
}

/* rx and echo: the peer drives them; keep the ring drained and answer what comes. They poll
 * while packets come, like NAPI, and sleep on the rx interrupt once the ring has been empty for
 * rx_spin: an interrupt costs more than a short spin. */
static void rx_step(struct loop *l)
{
	if (!nic_up()) {
		wait_until(rdtsc() + ctl->tsc_khz * 100);
	} else if (nic_poll(cur, on_frame)) {
		l->idle_since = 0;
	} else if (!l->idle_since) {
		l->idle_since = rdtsc();
	} else if (have_irqs() && rdtsc() - l->idle_since > l->rx_spin) {
		sleep_until(rdtsc() + ctl->tsc_khz * 100, rdtsc()); /* the rx irq wakes us */
	} else {
		cpu_relax();
	}
}

static void net_step(struct loop *l)
{
	if (!nic_up() || !resolve_peer()) {
		wait_until(rdtsc() + ctl->tsc_khz * 100);
		return;
	}
	u32 burst = ctl->workload != WL_PING && ctl->rate && ctl->burst > 1 ? ctl->burst : 1;
	if (ctl->workload == WL_PING)
		ping_once();
	else
		for (u32 i = 0; i < burst; i++)
			tx_once();
	pace_n(&l->next, rdtsc(), burst); /* a period per datagram: the rate stays the rate */
}

/* What ordinary instructions cost in this CPU mode, measured between operations. */
static void measure_work(struct loop *l)
{
	if (rdtsc() < l->next_work)
		return;
	u64 t0 = rdtsc();
	work_loop();
	u64 t1 = rdtsc();
	record_stats(&ctl->work, t1 - t0);
	l->next_work = t1 + ctl->tsc_khz * WORK_PERIOD_MS;
}

static void boot(void)
{
	/* .bss is zero: the image lands in memory fresh from the host's kernel (vmm/vm.c maps it
	 * anew for every boot; nothing runs _start twice). Clearing it touched its seven pages
	 * at once, each a first fault into KVM on kvm_pvm: 80 us of the boot (bench/boot). */
	idt_init();
	GUEST_ASSERT(ctl->magic == CTL_MAGIC && ctl->version == CTL_VERSION);
	GUEST_ASSERT(ctl->tsc_khz > 0);
	puts(GUEST_BANNER "\ntsc ");
	put_dec(ctl->tsc_khz);
	puts(" kHz\n");
	if (have_irqs())
		lapic_init();
	kvm_pv_init();
	pci_scan(pci_log_function, 0);
	nic_init();
	int slots = hp_init(have_irqs(), ctl->tsc_khz);
	if (slots) {
		puts("hotplug: ");
		put_dec((u64)slots);
		puts(have_irqs() ? " slots, msi\n" : " slots, polled\n");
	}
	ctl->tsc_ready = rdtsc();
	event(GEV_READY);
}

void guest_main(void)
{
	boot();
	struct loop l = {.next = rdtsc(), .rx_spin = ctl->tsc_khz / 20 /* 50 us */};
	for (;;) {
		ctl->heartbeat++;
		kvm_pv_publish();
		measure_work(&l);
		hotplug_poll();
		if (nic_up())
			nic_poll(cur, on_frame);
		if (command_pending()) {
			seen_seq = *(volatile u32 *)&ctl->cmd_seq;
			barrier();
			ctl->ack_seq = seen_seq;
			l.next = rdtsc();
		}
		switch (ctl->workload) {
		case WL_EXITS: exits_step(&l); break;
		case WL_FAULT: do_fault(ctl->fault_kind); break;
		case WL_RX:
		case WL_ECHO: rx_step(&l); break;
		case WL_PING:
		case WL_TX:
		case WL_BOTH: net_step(&l); break;
		default: wait_until(rdtsc() + ctl->tsc_khz * 100); break;
		}
	}
}
