/* Assembly: one tick's readings in, one snapshot out (assemble.h). */
#include "probes/assemble.h"

#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/work_loop.h"

/* Which stats-fd counter tracks each exit kind, and whether kvm_pvm keeps it (measured: it
 * leaves hypercalls at 0). A counter serves a kind only when it counts nothing else: io_exits
 * also counts port writes that end at an ioeventfd, and halt_exits the guest's waiting halts,
 * so neither stands for pio_vmm or hlt (halt_exits feeds snapshot.halts instead). */
static const struct {
	const char *stat;
	bool on_pvm;
} stat_for_kind[EK_MAX] = {
    [EK_MMIO_VMM] = {"mmio_exits", true},
    [EK_HYPERCALL] = {"hypercalls", false},
};

/* KVM_STATS_TYPE_* (linux/kvm.h), shifted down: only cumulative stats become rates. */
#define KSTAT_CUMULATIVE 0

static void add_named(struct named_figure *arr, unsigned *nr, unsigned max, const char *name,
		      uint64_t total, const struct named_figure *prev_arr, unsigned prev_nr,
		      double dt)
{
	if (*nr >= max)
		return;
	struct named_figure *n = &arr[(*nr)++];
	const struct named_figure *p = snapshot_find(prev_arr, prev_nr, name);
	snprintf(n->name, sizeof(n->name), "%s", name);
	figure_update(&n->f, total, p ? p->f.total : total, dt);
}

static void fill_guest(struct assembly *a, const struct readings *in, struct snapshot *snap)
{
	const struct ctl_page *ctl = in->ctl;
	double ns_per_cycle = 1e6 / (double)in->tsc_khz;

	snap->heartbeat = ctl->heartbeat;
	figure_update(&snap->idle_halts, ctl->idle_halts, a->prev.idle_halts.total, snap->dt);
	figure_update(&snap->halts[SRC_GUEST], ctl->kind[EK_HLT].ops + ctl->idle_halts,
		      a->prev.halts[SRC_GUEST].total, snap->dt);
	snprintf(snap->irq_mode, sizeof(snap->irq_mode), "%s", in->irqchip ? "lapic" : "none");
	const struct {
		struct figure *f;
		const struct figure *prev;
		unsigned first, n;
	} irqs[] = {
	    {&snap->irq_timer, &a->prev.irq_timer, VEC_TIMER, 1},
	    {&snap->irq_command, &a->prev.irq_command, VEC_COMMAND, 1},
	    {&snap->irq_self, &a->prev.irq_self, VEC_SELF, 1},
	    {&snap->irq_nic, &a->prev.irq_nic, VEC_NET, VEC_INTX - VEC_NET + 1},
	};
	for (unsigned i = 0; i < sizeof(irqs) / sizeof(irqs[0]); i++) {
		uint64_t n = 0;
		for (unsigned v = irqs[i].first; v < irqs[i].first + irqs[i].n; v++)
			n += ctl->irqs[v - VEC_FIRST];
		figure_update(irqs[i].f, n, irqs[i].prev->total, snap->dt);
	}
	for (unsigned k = 0; k < EK_MAX; k++) {
		const struct kind_stats *g = &ctl->kind[k];
		struct kind_cost *c = &snap->cost[k];
		figure_update(&snap->exits[k][SRC_GUEST], g->ops, a->prev.exits[k][SRC_GUEST].total,
			      snap->dt);
		c->ops = g->ops;
		c->avg_ns = g->ops ? (double)g->cycles / (double)g->ops * ns_per_cycle : 0;
		c->min_ns = (double)g->min_cycles * ns_per_cycle;
		c->max_ns = (double)g->max_cycles * ns_per_cycle;
		memcpy(c->hist, g->hist, sizeof(c->hist));
	}
	if (in->irqchip) {
		figure_update(&snap->eoi_lapic, ctl->eoi_lapic, a->prev.eoi_lapic.total, snap->dt);
		figure_update(&snap->eoi_pv, ctl->eoi_pv, a->prev.eoi_pv.total, snap->dt);
	}
	snap->kvm_pv_on = ctl->pv_used != 0;
	if (snap->kvm_pv_on) {
		static const char *const names[] = {"pv-eoi", "kvmclock", "steal-time",
						    "sched-yield"};
		size_t n = 0;
		snap->kvm_features = ctl->kvm_features;
		for (unsigned b = 0; b < 4; b++)
			if (ctl->pv_used & (1u << b))
				n += (size_t)snprintf(snap->kvm_pv_used + n,
						      sizeof(snap->kvm_pv_used) - n, "%s%s",
						      n ? " " : "", names[b]);
		if (ctl->pv_used & PV_STEAL)
			figure_update(&snap->steal_ns, ctl->steal_ns, a->prev.steal_ns.total,
				      snap->dt);
	}
	const struct kind_stats *w = &ctl->work;
	snap->work = (struct work_cost){
	    .valid = w->ops > 0,
	    .loops = w->ops,
	    .ns_per_insn = (double)w->min_cycles * ns_per_cycle / WORK_LOOP_INSNS,
	    .host_ns_per_insn = in->host_work_ns,
	};
}

static void fill_vmm(struct assembly *a, const struct readings *in, struct snapshot *snap)
{
	const struct vmm_counters c = in->vmm;
	double dt = snap->dt;

	const struct {
		const char *name;
		uint64_t v;
	} named[] = {
	    {"userspace_exits", c.userspace_exits},
	    {"exit_io", c.exit_reason[KVM_EXIT_IO]},
	    {"exit_mmio", c.exit_reason[KVM_EXIT_MMIO]},
	    {"exit_hlt", c.exit_reason[KVM_EXIT_HLT]},
	    {"ioeventfd_pio", c.pio_eventfd},
	    {"ioeventfd_mmio", c.mmio_eventfd},
	    {"hlt_idle", c.hlt_idle},
	    {"serial_tx_bytes", c.serial_tx_bytes},
	    {"io_unclaimed", c.io_unclaimed},
	    {"io_refused", c.io_refused},
	    {"coalesced_pio", c.coalesced},
	};
	for (unsigned i = 0; i < sizeof(named) / sizeof(named[0]); i++)
		add_named(snap->vmm, &snap->nr_vmm, SNAP_VMM_MAX, named[i].name, named[i].v,
			  a->prev.vmm, a->prev.nr_vmm, dt);
	/* The translated CPU answers what KVM answers in the kernel, and counts its blocks. */
	bool translated = in->cpu_mode == CPU_TRANSLATED;
	const struct {
		const char *name;
		uint64_t v;
	} tcg[] = {
	    {"cpuid", c.cpuid},
	    {"hypercall", c.hypercall},
	    {"tcg_blocks_translated", c.tcg_blocks_translated},
	    {"tcg_blocks_run", c.tcg_blocks_run},
	    {"tcg_insns", c.tcg_insns},
	};
	for (unsigned i = 0; translated && i < sizeof(tcg) / sizeof(tcg[0]); i++)
		add_named(snap->vmm, &snap->nr_vmm, SNAP_VMM_MAX, tcg[i].name, tcg[i].v,
			  a->prev.vmm, a->prev.nr_vmm, dt);

	const uint64_t per_kind[EK_MAX] = {
	    [EK_PIO_VMM] = c.pio_vmm,	[EK_PIO_EVENTFD] = c.pio_eventfd,
	    [EK_MMIO_VMM] = c.mmio_vmm, [EK_MMIO_EVENTFD] = c.mmio_eventfd,
	    [EK_HLT] = c.hlt_op,	[EK_HYPERCALL] = c.hypercall,
	    [EK_CPUID] = c.cpuid,
	};
	if (!in->irqchip)
		figure_update(&snap->halts[SRC_VMM], c.hlt_op + c.hlt_idle,
			      a->prev.halts[SRC_VMM].total, dt);
	for (unsigned k = 0; k < EK_MAX; k++) {
		/* Completed inside KVM, the VMM never sees them: hypercall, cpuid, and HLT when
		 * KVM's LAPIC is in the kernel. The translated CPU sees them all. */
		if ((!translated && (k == EK_HYPERCALL || k == EK_CPUID)) ||
		    (k == EK_HLT && in->irqchip))
			continue;
		figure_update(&snap->exits[k][SRC_VMM], per_kind[k],
			      a->prev.exits[k][SRC_VMM].total, dt);
	}
}

static void fill_stats(struct assembly *a, const struct readings *in, struct snapshot *snap)
{
	bool pvm = in->host == HOST_PVM;

	const struct kstats *ks = in->ks;
	if (!ks || !in->stat_values)
		return;
	for (uint32_t i = 0; i < ks->nr; i++) {
		if (ks->desc[i].size != 1)
			continue;
		add_named(snap->stats, &snap->nr_stats, SNAP_STATS_MAX, ks->desc[i].name,
			  in->stat_values[i], a->prev.stats, a->prev.nr_stats, snap->dt);
		if (ks->desc[i].type != KSTAT_CUMULATIVE && snap->nr_stats) {
			/* instant or peak (blocking, guest_mode, ...): a value, not a rate */
			struct named_figure *n = &snap->stats[snap->nr_stats - 1];
			n->instant = true;
			n->f.rate = 0;
		}
	}
	const struct named_figure *halts = snapshot_find(snap->stats, snap->nr_stats, "halt_exits");
	if (halts)
		snap->halts[SRC_STATS] = halts->f;
	for (unsigned k = 0; k < EK_MAX; k++) {
		const char *name = stat_for_kind[k].stat;
		const struct named_figure *n;
		if (!name || (pvm && !stat_for_kind[k].on_pvm))
			continue;
		n = snapshot_find(snap->stats, snap->nr_stats, name);
		if (n)
			snap->exits[k][SRC_STATS] = n->f;
	}
}

/* What watching costs: the kernel's run time of the probes per run, from its last window of
 * accounting, and this VMM's runs at that cost against the vCPU thread's CPU time over the same
 * tick (the other processes' runs are spent on their threads, not this guest's). */
static void fill_bpf_cost(struct assembly *a, const struct readings *in, struct snapshot *snap)
{
	const struct kt_counts *c = in->kt;
	const struct snapshot *p = &a->prev;
	snap->bpf_cost_on = c->cost_on;
	if (!c->cost_on)
		return;
	figure_update(&snap->bpf_runs, c->run_cnt, p->bpf_runs.total, snap->dt);
	figure_update(&snap->bpf_others, c->others, p->bpf_others.total, snap->dt);
	figure_update(&snap->bpf_uncounted, c->uncounted, p->bpf_uncounted.total, snap->dt);
	snap->bpf_cost_every = KT_COST_EVERY;
	snap->bpf_win_seq = c->win_seq;
	snap->bpf_win_runs = c->win_runs;
	snap->bpf_win_ns = c->win_ns;
	snap->bpf_win_counted = c->win_counted;
	snap->bpf_ns_per_run_valid = c->win_seq > 0 && c->win_runs > 0;
	snap->bpf_ns_per_run =
	    snap->bpf_ns_per_run_valid ? (double)c->win_ns / (double)c->win_runs : 0;
	bool was = p->bpf_cost_on && p->bpf_runs.valid && c->run_cnt >= p->bpf_runs.total &&
		   c->others >= p->bpf_others.total;
	uint64_t runs = was ? c->run_cnt - p->bpf_runs.total : 0,
		 others = was ? c->others - p->bpf_others.total : 0;
	uint64_t ns = (uint64_t)((double)runs * snap->bpf_ns_per_run);
	figure_update(&snap->bpf_run_ns, p->bpf_run_ns.total + ns, p->bpf_run_ns.total, snap->dt);
	if (in->cpu_ok && !in->kt_shared) { /* shared: the runs are every VM's, the vCPU one's */
		uint64_t vcpu = in->cpu.vcpu_ns;
		if (was && snap->bpf_ns_per_run_valid && a->bpf_vcpu_valid &&
		    vcpu > a->bpf_vcpu_ns) {
			double ours =
			    runs > others ? (double)(runs - others) * snap->bpf_ns_per_run : 0;
			snap->bpf_vcpu_share_valid = true;
			snap->bpf_vcpu_share = ours / (double)(vcpu - a->bpf_vcpu_ns);
		}
		a->bpf_vcpu_ns = vcpu;
		a->bpf_vcpu_valid = true;
	}
}

/* What the probes see of any VM: every event, userspace exits by reason, kvm_exit by hardware
 * reason, hypercalls by number, and what the probes cost. */
static void fill_bpf_host(struct assembly *a, const struct readings *in, struct snapshot *snap)
{
	double dt = snap->dt;

	snap->bpf_on = in->kt != NULL;
	if (!in->kt) {
		snprintf(snap->bpf_why, sizeof(snap->bpf_why), "%s",
			 in->bpf_why ? in->bpf_why : "");
		return;
	}
	const struct kt_counts *c = in->kt;
	fill_bpf_cost(a, in, snap);
	for (unsigned e = 0; e < KT_MAX; e++)
		if (c->attached[e])
			figure_update(&snap->bpf_event[e], c->total[e], a->prev.bpf_event[e].total,
				      dt);
	for (unsigned i = 0; i < c->nr_detail[KT_USERSPACE_EXIT]; i++)
		add_named(snap->uexit, &snap->nr_uexit, SNAP_REASONS_MAX,
			  kvm_exit_reason_name(c->detail[KT_USERSPACE_EXIT][i].detail),
			  c->detail[KT_USERSPACE_EXIT][i].count, a->prev.uexit, a->prev.nr_uexit,
			  dt);
	for (unsigned i = 0; i < c->nr_detail[KT_HYPERCALL]; i++) {
		char name[32];
		kvm_hypercall_name(c->detail[KT_HYPERCALL][i].detail, name, sizeof(name));
		add_named(snap->hcall, &snap->nr_hcall, SNAP_REASONS_MAX, name,
			  c->detail[KT_HYPERCALL][i].count, a->prev.hcall, a->prev.nr_hcall, dt);
	}
	for (unsigned i = 0; i < c->nr_detail[KT_EXIT]; i++) {
		char name[16];
		snprintf(name, sizeof(name), "%#x", c->detail[KT_EXIT][i].detail);
		add_named(snap->kexit, &snap->nr_kexit, SNAP_REASONS_MAX, name,
			  c->detail[KT_EXIT][i].count, a->prev.kexit, a->prev.nr_kexit, dt);
	}
}

/* The built-in guest's exits by kind (its ports and pages), its halts and its card's exits. */
static void fill_bpf(struct assembly *a, const struct readings *in, struct snapshot *snap)
{
	bool pvm = in->host == HOST_PVM;
	double dt = snap->dt;

	fill_bpf_host(a, in, snap);
	if (!in->kt || in->kt_shared) /* they count more VMs than this one together */
		return;
	const struct kt_counts *c = in->kt;

	const struct {
		unsigned event;
		uint32_t detail;
		bool any_detail, on_pvm;
	} map[EK_MAX] = {
	    [EK_PIO_VMM] = {KT_PIO, PORT_EXIT_VMM, false, true},
	    [EK_PIO_EVENTFD] = {KT_PIO, PORT_EXIT_EVENTFD, false, true},
	    [EK_MMIO_VMM] = {KT_MMIO, MMIO_EXIT_VMM >> 12, false, true},
	    [EK_MMIO_EVENTFD] = {KT_MMIO, MMIO_EXIT_EVENTFD >> 12, false, true},
	    [EK_HYPERCALL] = {KT_HYPERCALL, 0, true, false}, /* docs/kvm-hosts.md: never fires */
	    [EK_CPUID] = {KT_CPUID, 0, false, false},	     /* measured: never fires on kvm_pvm */
	};
	for (unsigned k = 0; k < EK_MAX; k++) {
		unsigned e = map[k].event;
		if (!map[k].event && !map[k].detail && !map[k].any_detail)
			continue; /* no tracepoint tells this kind apart (hlt: see halts) */
		if (!c->attached[e] || (pvm && !map[k].on_pvm))
			continue;
		uint64_t n = map[k].any_detail ? c->total[e] : kt_count(c, e, map[k].detail);
		figure_update(&snap->exits[k][SRC_BPF], n, a->prev.exits[k][SRC_BPF].total, dt);
	}

	/* Every halt: inside KVM its hardware exit reason (SDM Vol. 3D C: VMX 12; APM Vol. 2
	 * 15.9: SVM 0x78; kvm_pvm has no kvm_exit), without an irqchip a userspace exit. */
	unsigned he = in->irqchip ? KT_EXIT : KT_USERSPACE_EXIT;
	uint32_t hd = !in->irqchip ? KVM_EXIT_HLT : in->host == HOST_AMDV ? 0x78 : 12;
	if (c->attached[he] && !(pvm && he == KT_EXIT))
		figure_update(&snap->halts[SRC_BPF], kt_count(c, he, hd),
			      a->prev.halts[SRC_BPF].total, dt);

	/* Exits at the NIC's registers: kvm_mmio by page and kvm_pio by port, inside its BARs
	 * (ioeventfd kicks fire kvm_mmio too). */
	const struct vmm_region *reg = in->regions;
	unsigned nr = in->nr_regions;
	if (nr && c->attached[KT_MMIO] && c->attached[KT_PIO]) {
		uint64_t n = 0;
		for (unsigned r = 0; r < nr; r++) {
			unsigned e = reg[r].io ? KT_PIO : KT_MMIO;
			uint64_t lo = reg[r].io ? reg[r].base : reg[r].base >> 12;
			uint64_t hi = reg[r].io ? reg[r].base + reg[r].size
						: (reg[r].base + reg[r].size) >> 12;
			for (unsigned i = 0; i < c->nr_detail[e]; i++)
				if (c->detail[e][i].detail >= lo && c->detail[e][i].detail < hi)
					n += c->detail[e][i].count;
		}
		figure_update(&snap->nic_exits[SRC_BPF], n, a->prev.nic_exits[SRC_BPF].total, dt);
	}
}

static int by_rate(const void *a, const void *b)
{
	const struct named_figure *x = a, *y = b;
	return x->f.rate < y->f.rate ? 1 : x->f.rate > y->f.rate ? -1 : strcmp(x->name, y->name);
}

/* The card's statistics, every one by name: the totals every model keeps, then its own. */
static void fill_device(struct assembly *a, struct snapshot *snap, const struct nic_readout *ro)
{
	struct nic_counter totals[NIC_STATS_NR];
	const struct snapshot *p = &a->prev;
	nic_stats_named(&ro->total, totals);
	for (unsigned i = 0; i < NIC_STATS_NR; i++)
		add_named(snap->dev_counter, &snap->nr_dev_counters, SNAP_DEV_COUNTERS_MAX,
			  totals[i].name, totals[i].value, p->dev_counter, p->nr_dev_counters,
			  snap->dt);
	for (unsigned i = 0; i < ro->nr_extra; i++)
		add_named(snap->dev_counter, &snap->nr_dev_counters, SNAP_DEV_COUNTERS_MAX,
			  ro->extra[i].name, ro->extra[i].value, p->dev_counter, p->nr_dev_counters,
			  snap->dt);
	for (unsigned i = 0; i < ro->nr_regs; i++)
		add_named(snap->dev_reg, &snap->nr_dev_regs, SNAP_DEV_REGS_MAX, ro->regs[i].name,
			  ro->regs[i].value, p->dev_reg, p->nr_dev_regs, snap->dt);
	qsort(snap->dev_reg, snap->nr_dev_regs, sizeof(snap->dev_reg[0]), by_rate);
}

static void per_packet(struct assembly *a, const struct readings *in, struct snapshot *snap,
		       bool engine);

/* The guest's ping taken apart (snapshot.h: ping_hops) over this tick's round trips: the guest's
 * own sums (its round trips, and the sends in them), the link's (its card handing the request
 * over, the reply back, the card having it) and the capture's wire. */
static void ping_hops(struct assembly *a, const struct readings *in, struct snapshot *snap)
{
	const struct ctl_page *ctl = in->ctl;
	struct hop_sums now = {.pings = ctl->ping.ops,
			       .rtt_cycles = ctl->ping.cycles,
			       .send_cycles = ctl->ping_send_cycles,
			       .link = in->hops};
	if (in->cap) {
		now.cap_samples = in->cap->rtt_samples;
		now.cap_ns = in->cap->rtt_ns_sum;
	}
	struct hop_sums was = a->hop_prev;
	a->hop_prev = now;
	struct ping_hops *h = &snap->hops;
	uint64_t pings = now.pings - was.pings, timed = now.link.n - was.link.n;
	/* Both windows from the same tick: the first tick that timed a ping only starts them. */
	if (!snap->latency_valid || !in->hops_ok || !in->dt || !was.link.n || !was.pings ||
	    now.pings < was.pings || now.link.n < was.link.n || !pings || !timed)
		return;
	double us = 1e3 / (double)in->tsc_khz; /* a cycle */
	double rtt = (double)(now.rtt_cycles - was.rtt_cycles) * us / (double)pings;
	double send = (double)(now.send_cycles - was.send_cycles) * us / (double)pings;
	double out = (now.link.out_ns - was.link.out_ns) / 1e3 / (double)timed;
	double link = (now.link.link_ns - was.link.link_ns) / 1e3 / (double)timed;
	double taken = (now.link.taken_ns - was.link.taken_ns) / 1e3 / (double)timed;
	h->valid = true;
	h->send_us = send;
	h->us[HOP_TO_LINK] = out;
	h->us[HOP_LINK] = link;
	h->us[HOP_CARD_IN] = taken - out - link;
	h->us[HOP_GUEST_IN] = rtt - taken;
	h->wire_valid = in->cap && now.cap_samples > was.cap_samples;
	if (h->wire_valid)
		h->wire_us = (double)(now.cap_ns - was.cap_ns) / 1e3 /
			     (double)(now.cap_samples - was.cap_samples);
}

static void fill_net(struct assembly *a, const struct readings *in, struct snapshot *snap)
{
	const struct ctl_page *ctl = in->ctl;
	const struct vmm_net info = in->net_info;
	const struct snapshot *p = &a->prev;
	double dt = snap->dt;

	snap->nic_mode = in->net_present ? in->nic_mode : NIC_MODE_NONE;
	if (!in->net_present || !in->nic || !in->peer)
		return;
	const struct link_counters peer = *in->peer;
	const struct nic_stats *st = &in->nic->total;
	snap->net_on = true;
	snprintf(snap->nic_chip, sizeof(snap->nic_chip), "%s", info.chip);
	snprintf(snap->backend, sizeof(snap->backend), "%s", info.backend);
	snprintf(snap->netns, sizeof(snap->netns), "%s", info.netns);
	if (info.why)
		snprintf(snap->net_why, sizeof(snap->net_why), "%s", info.why);
	snap->latency_valid = in->workload == WL_PING;
	figure_update(&snap->pps_tx, ctl->net_tx_packets, p->pps_tx.total, dt);
	figure_update(&snap->pps_rx, ctl->net_rx_packets, p->pps_rx.total, dt);
	figure_update(&snap->dev_tx, st->tx_packets, p->dev_tx.total, dt);
	figure_update(&snap->dev_rx, st->rx_packets, p->dev_rx.total, dt);
	figure_update(&snap->dev_irqs, st->interrupts, p->dev_irqs.total, dt);
	figure_update(&snap->rx_no_buffer, st->rx_no_buffer, p->rx_no_buffer.total, dt);
	figure_update(&snap->dev_tx_dropped, st->tx_dropped, p->dev_tx_dropped.total, dt);
	figure_update(&snap->nic_exits[SRC_VMM], nic_exits(st), p->nic_exits[SRC_VMM].total, dt);
	figure_update(&snap->dev_tx_backpressure, st->tx_backpressure, p->dev_tx_backpressure.total,
		      dt);
	fill_device(a, snap, in->nic);
	/* The peer (the namespace's, or the loopback one) counts across guest restarts. With
	 * several VMs it tells their datagrams apart by address; its echo is every VM's (the
	 * session's shared figures). */
	unsigned vm = in->index < LINK_VMS ? in->index : 0;
	uint64_t sink = in->shared ? peer.sink_vm[vm] : peer.sink_rx;
	figure_update(&snap->peer_sink, sink, p->seq ? p->peer_sink.total : sink, dt);
	figure_update(&snap->peer_sent, peer.drive_tx[vm],
		      p->seq ? p->peer_sent.total : peer.drive_tx[vm], dt);
	if (!in->shared)
		figure_update(&snap->peer_echo, peer.echo_rx,
			      p->seq ? p->peer_echo.total : peer.echo_rx, dt);
	figure_update(&snap->ping_lost, ctl->ping_lost, p->ping_lost.total, dt);
	figure_update(&snap->rx_lost, ctl->rx_seq_lost, p->rx_lost.total, dt);
	figure_update(&snap->udp_echoed, ctl->udp_echoed, p->udp_echoed.total, dt);
	snap->peer_echo_rtt_valid = peer.drive_echoes > 0;
	snap->peer_echo_rtt_us =
	    peer.drive_echoes ? (double)peer.drive_rtt_ns / 1e3 / (double)peer.drive_echoes : 0;
	uint64_t khz = in->tsc_khz;
	snap->tsc_khz = khz;
	memcpy(snap->latency_hist, ctl->ping.hist, sizeof(snap->latency_hist));
	snap->latency_us[0] = rtt_percentile_us(ctl->ping_rtt, 0.50, khz);
	snap->latency_us[1] = rtt_percentile_us(ctl->ping_rtt, 0.99, khz);
	snap->latency_us[2] = rtt_percentile_us(ctl->ping_rtt, 0.999, khz);
	snap->latency_avg_us =
	    ctl->ping.ops ? (double)ctl->ping.cycles / (double)ctl->ping.ops * 1000.0 / (double)khz
			  : 0;
	if (in->cap) {
		const struct capture_counters cc = *in->cap;
		snap->cap_on = true;
		figure_update(&snap->cap_from_guest, cc.from_guest, p->cap_from_guest.total, dt);
		figure_update(&snap->cap_to_guest, cc.to_guest, p->cap_to_guest.total, dt);
		for (int i = 0; i < 3; i++)
			snap->cap_rtt_us[i] =
			    capture_rtt_percentile_us(&cc, (const double[]){0.5, 0.99, 0.999}[i]);
		snap->cap_rtt_avg_us =
		    cc.rtt_samples ? (double)cc.rtt_ns_sum / (double)cc.rtt_samples / 1e3 : 0;
		snap->cap_rtt_samples = cc.rtt_samples;
		snap->cap_lost = cc.seq_lost;
		snap->cap_reordered = cc.seq_reordered;
		snap->cap_drops = cc.kernel_drops;
		snap->cap_unread = cc.kernel_took > cc.frames + cc.kernel_drops
				       ? cc.kernel_took - cc.frames - cc.kernel_drops
				       : 0;
		snap->cap_echo_unanswered = cc.echo_requests - cc.echo_replies;
		snap->pcap_on = cc.dump_on || cc.dump_failed;
		snap->pcap_packets = cc.dumped;
		if (cc.dump_failed)
			snprintf(snap->pcap_stopped, sizeof(snap->pcap_stopped), "%s",
				 strerror(cc.dump_errno));
	} else if (in->cap_why) {
		snprintf(snap->cap_why, sizeof(snap->cap_why), "%s", in->cap_why);
	}
	ping_hops(a, in, snap);
	per_packet(a, in, snap, info.engine);
}

static void set_pp(struct snapshot *snap, enum per_packet_part p, double per_s, const char *src)
{
	double pkts = snap->dev_tx.rate + snap->dev_rx.rate;
	struct per_packet *pp = &snap->per_packet[p];
	pp->valid = pkts > 0;
	pp->value = pkts > 0 && per_s > 0 ? per_s / pkts : 0;
	snprintf(pp->source, sizeof(pp->source), "%s", src);
}

/* Exits per packet moved: the lesson of the NIC modes. Every exit of the vCPU counts (halts and
 * timer interrupts of a paced guest too: they are what that pace costs), from the source that
 * sees them all; then the parts. */
/* Every exit of the vCPU, from the source that sees them all: bpf's kvm_exit off kvm_pvm (it never
 * fires there), else the stats fd's "exits"; NULL where neither runs. */
static const struct figure *vcpu_exits(const struct readings *in, const struct snapshot *snap,
				       const char **src)
{
	const struct named_figure *st = snapshot_find(snap->stats, snap->nr_stats, "exits");
	if (!in->kt_shared && in->host != HOST_PVM && snap->bpf_event[KT_EXIT].valid) {
		*src = "bpf";
		return &snap->bpf_event[KT_EXIT];
	}
	*src = "stats";
	return st ? &st->f : NULL;
}

static void per_packet(struct assembly *a, const struct readings *in, struct snapshot *snap,
		       bool engine)
{
	const struct named_figure *ue = snapshot_find(snap->vmm, snap->nr_vmm, "userspace_exits");
	const char *all_src;
	const struct figure *all = vcpu_exits(in, snap, &all_src);

	if (all) {
		char src[16];
		set_pp(snap, PP_ALL, all->rate, all_src);
		snprintf(src, sizeof(src), "%s-vmm", all_src);
		set_pp(snap, PP_IN_KERNEL, ue ? all->rate - ue->f.rate : all->rate, src);
	}
	if (ue)
		set_pp(snap, PP_USERSPACE, ue->f.rate, "vmm");
	/* The NIC part: bpf where it runs (closest to the exit), else the VMM's own count. */
	enum source nic = snap->nic_exits[SRC_BPF].valid ? SRC_BPF : SRC_VMM;
	if (snap->nic_exits[nic].valid)
		set_pp(snap, PP_NIC, snap->nic_exits[nic].rate, source_name(nic));
	set_pp(snap, PP_IRQS, snap->dev_irqs.rate, "vmm");

	/* Host CPU per packet by who spent it: thread clocks, and the guest's share of the vCPU
	 * thread as the kernel accounted it. */
	if (in->cpu_ok) {
		const struct vmm_cpu c = in->cpu;
		bool ok = a->cpu_valid && snap->dt > 0 && c.vcpu_ns >= a->cpu.vcpu_ns &&
			  c.guest_ns >= a->cpu.guest_ns && c.net_ns >= a->cpu.net_ns;
		double vcpu = (double)(c.vcpu_ns - a->cpu.vcpu_ns),
		       guest = (double)(c.guest_ns - a->cpu.guest_ns);
		double net = (double)(c.net_ns - a->cpu.net_ns),
		       vmm = vcpu > guest ? vcpu - guest : 0;
		/* Shared by several VMs, the network thread's time is split by their packets: this
		 * VM's part is its share of them. */
		const char *src = in->shared ? "thread-share" : "thread";
		if (in->shared)
			net *= in->net_share;
		if (!engine)
			vmm += net;
		if (ok) {
			if (engine)
				set_pp(snap, PP_CPU_CARD, net / snap->dt, src);
			set_pp(snap, PP_CPU_VMM, vmm / snap->dt, src);
			set_pp(snap, PP_CPU_GUEST, guest / snap->dt, "proc");
		}
		a->cpu = c;
		a->cpu_valid = true;
	}
}

/* The compare table: the figures of the tick just made, as its mode's row (a tick that a switch
 * overlaps, or without traffic, changes nothing). */
/* The compare table: a card's row adds up every clean tick spent on it (no switch overlaps it,
 * traffic moved), across visits, while the workload stays the same; a new workload starts the
 * row again. Rates are over those ticks' time, per-packet figures over their packets, ping
 * percentiles over their pings. */
static void update_compare(struct assembly *a, const struct readings *in, struct snapshot *snap)
{
	static const enum per_packet_part parts[COMPARE_PARTS] = {
	    PP_NIC, PP_USERSPACE, PP_ALL, PP_IRQS, PP_CPU_VMM, PP_CPU_CARD};
	const struct ctl_page *ctl = in->ctl;
	enum nic_mode m = in->nic_mode;
	uint64_t d[RTT_SLOTS];
	for (unsigned i = 0; i < RTT_SLOTS; i++) {
		d[i] = ctl->ping_rtt[i] >= a->last_hist[i] ? ctl->ping_rtt[i] - a->last_hist[i] : 0;
		a->last_hist[i] = ctl->ping_rtt[i];
	}
	bool clean =
	    !snap->switching && !in->switch_unsettled && snap->t - snap->dt >= in->switch_end_t;
	double pkts = (snap->dev_tx.rate + snap->dev_rx.rate) * snap->dt;
	if (snap->net_on && clean && m != NIC_MODE_NONE && snap->dt > 0 && pkts > 0) {
		struct mode_sums *sum = &a->sums[m];
		struct mode_figures *f = &a->compare[m];
		if (sum->dt > 0 && sum->workload != snap->workload) { /* another workload: anew */
			memset(sum, 0, sizeof(*sum));
			memset(a->mode_hist[m], 0, sizeof(a->mode_hist[m]));
		}
		uint64_t *h = a->mode_hist[m], n = 0;
		for (unsigned i = 0; i < RTT_SLOTS; i++)
			n += h[i] += d[i];
		sum->workload = snap->workload;
		sum->dt += snap->dt;
		sum->tx += snap->dev_tx.rate * snap->dt;
		sum->rx += snap->dev_rx.rate * snap->dt;
		struct per_packet *row[COMPARE_PARTS] = {&f->exits_nic, &f->exits_user,
							 &f->exits_all, &f->irqs,
							 &f->cpu_host,	&f->cpu_card};
		for (unsigned p = 0; p < COMPARE_PARTS; p++) {
			const struct per_packet *pp = &snap->per_packet[parts[p]];
			if (pp->valid) {
				sum->num[p] += pp->value * pkts;
				sum->pkts[p] += pkts;
				snprintf(sum->src[p], sizeof(sum->src[p]), "%s", pp->source);
			}
			*row[p] = (struct per_packet){
			    .valid = sum->pkts[p] > 0,
			    .value = sum->pkts[p] > 0 ? sum->num[p] / sum->pkts[p] : 0};
			snprintf(row[p]->source, sizeof(row[p]->source), "%s", sum->src[p]);
		}
		f->valid = true;
		f->t = snap->t;
		f->workload = snap->workload;
		f->tx_pps = sum->tx / sum->dt;
		f->rx_pps = sum->rx / sum->dt;
		f->ping_valid = n > 0;
		f->ping_p50_us = n ? rtt_percentile_us(h, 0.50, in->tsc_khz) : 0;
		f->ping_p99_us = n ? rtt_percentile_us(h, 0.99, in->tsc_khz) : 0;
	}
	memcpy(snap->compare, a->compare, sizeof(snap->compare));
}

/* KVM's mmio_exits counts every MMIO exit to userspace: it stands for mmio_vmm only in a tick
 * where no card register trapped (the e1000's do all the time, virtio's at setup). Then each
 * kind's "exits" is the host-side source closest to the event. */
static void rank_sources(struct assembly *a, struct snapshot *snap)
{
	static const enum source order[] = {SRC_BPF, SRC_VMM, SRC_STATS, SRC_GUEST};
	const struct named_figure *traps =
	    snapshot_find(snap->dev_counter, snap->nr_dev_counters, "reg_traps");
	const struct named_figure *traps0 =
	    snapshot_find(a->prev.dev_counter, a->prev.nr_dev_counters, "reg_traps");
	if (traps && (!traps0 || traps->f.total != traps0->f.total))
		snap->exits[EK_MMIO_VMM][SRC_STATS].valid = false;
	for (unsigned k = 0; k < EK_MAX; k++)
		for (unsigned i = 0; i < sizeof(order) / sizeof(order[0]); i++)
			if (snap->exits[k][order[i]].valid) {
				snap->exits_src[k] = order[i];
				break;
			}
}

/* This tick into its CPU mode's row: the interrupts the guest took, its LAPIC EOIs and every
 * exit of the vCPU, per interrupt over every tick in that mode. */
static void update_cpu_compare(struct assembly *a, const struct readings *in, struct snapshot *snap)
{
	enum cpu_mode m = snap->cpu_mode;
	double irqs = 0;
	const struct figure *f[] = {&snap->irq_timer, &snap->irq_command, &snap->irq_self,
				    &snap->irq_nic};
	for (unsigned i = 0; i < 4; i++)
		irqs += f[i]->valid ? f[i]->rate * snap->dt : 0;
	if ((unsigned)m < CPU_MODE_MAX && snap->dt > 0 && irqs > 0 && snap->eoi_lapic.valid) {
		struct cpu_sums *s = &a->cpu_sums[m];
		const char *src;
		const struct figure *all = vcpu_exits(in, snap, &src);
		s->irqs += irqs;
		s->eoi += snap->eoi_lapic.rate * snap->dt;
		if (all && all->valid) {
			s->exits += all->rate * snap->dt;
			s->exits_irqs += irqs;
			snprintf(s->src, sizeof(s->src), "%s", src);
		}
		/* kvm_exit's reasons where bpf runs: each as its share of the interrupts. */
		if (snap->bpf_on && snap->nr_kexit) {
			s->reason_irqs += irqs;
			for (unsigned i = 0; i < snap->nr_kexit; i++) {
				unsigned r = 0;
				while (r < s->nr_reasons &&
				       strcmp(s->reason[r], snap->kexit[i].name))
					r++;
				if (r == s->nr_reasons) {
					if (r == CPU_COMPARE_REASONS)
						continue; /* the first eight seen keep their place
							   */
					snprintf(s->reason[r], sizeof(s->reason[r]), "%s",
						 snap->kexit[i].name);
					s->nr_reasons++;
				}
				s->reason_sum[r] += snap->kexit[i].f.rate * snap->dt;
			}
		}
		struct cpu_figures *c = &a->cpu_compare[m];
		*c = (struct cpu_figures){.valid = true,
					  .t = snap->t,
					  .irqs = (uint64_t)(s->irqs + 0.5),
					  .eoi_lapic_per_irq = s->eoi / s->irqs,
					  .exits_valid = s->exits_irqs > 0,
					  .exits_per_irq =
					      s->exits_irqs > 0 ? s->exits / s->exits_irqs : 0};
		memcpy(c->exits_source, s->src, sizeof(c->exits_source));
		c->nr_reasons = s->reason_irqs > 0 ? s->nr_reasons : 0;
		for (unsigned r = 0; r < c->nr_reasons; r++) {
			memcpy(c->reasons[r].name, s->reason[r], sizeof(c->reasons[r].name));
			c->reasons[r].per_irq = s->reason_sum[r] / s->reason_irqs;
		}
	}
	memcpy(snap->cpu_compare, a->cpu_compare, sizeof(snap->cpu_compare));
}

/* A tick's snapshot from zero: when, on what host, in what state (and why, when it ended). */
static void begin(const struct readings *in, struct snapshot *snap)
{
	memset(snap, 0, sizeof(*snap));
	snap->seq = in->seq;
	snap->t = in->t;
	snap->dt = in->dt;
	snap->host = in->host;
	snap->cpu_mode = in->cpu_mode;
	snap->state = in->status.state;
	if (in->status.state == VMM_FAILED || in->status.state == VMM_STOPPED)
		snprintf(snap->reason, sizeof(snap->reason), "%s", in->status.reason);
}

void snapshot_assemble(struct assembly *a, const struct readings *in, struct snapshot *snap)
{
	begin(in, snap);
	snap->workload = in->workload;
	snap->exit_kind = in->workload == WL_EXITS ? in->kind : SNAP_NO_KIND;
	snap->pkt_size = in->pkt_size;
	snap->rate = in->rate;
	snap->switching = in->switching;
	if (in->switching)
		snap->switch_to = in->switch_to;

	fill_guest(a, in, snap);
	fill_vmm(a, in, snap);
	fill_stats(a, in, snap);
	fill_bpf(a, in, snap);
	fill_net(a, in, snap);
	snap->log_on = in->log_on;
	snap->log_lines = in->log_lines;
	if (in->log_errno)
		snprintf(snap->log_stopped, sizeof(snap->log_stopped), "%s",
			 strerror(in->log_errno));
	rank_sources(a, snap);
	update_compare(a, in, snap);
	update_cpu_compare(a, in, snap);
	a->prev = *snap;
}

void snapshot_assemble_attached(struct assembly *a, const struct readings *in,
				const struct snap_attached *att, struct snapshot *snap)
{
	begin(in, snap);
	snap->exit_kind = SNAP_NO_KIND;
	snap->attached = *att;
	fill_stats(a, in, snap);
	fill_bpf_host(a, in, snap);
	a->prev = *snap;
}

void assembly_new_guest(struct assembly *a)
{
	memset(&a->prev, 0, sizeof(a->prev));
	memset(a->last_hist, 0, sizeof(a->last_hist));
	a->cpu_valid = false;
	a->bpf_vcpu_valid = false;
}

void snap_vm_fill(const struct snapshot *s, struct snap_vm *out)
{
	out->state = s->state;
	snprintf(out->reason, sizeof(out->reason), "%s", s->reason);
	out->cpu_mode = s->cpu_mode;
	out->workload = s->workload;
	out->rate = s->rate;
	out->nic_mode = s->nic_mode;
	out->pps_tx = s->pps_tx;
	out->pps_rx = s->pps_rx;
	out->ping_lost = s->ping_lost;
	out->rx_lost = s->rx_lost;
	out->dev_tx = s->dev_tx;
	out->dev_rx = s->dev_rx;
	out->dev_irqs = s->dev_irqs;
	out->rx_no_buffer = s->rx_no_buffer;
	out->dev_tx_dropped = s->dev_tx_dropped;
	out->nic_exits = s->nic_exits[SRC_VMM];
	out->peer_sink = s->peer_sink;
	out->peer_sent = s->peer_sent;
	const struct named_figure *ex = snapshot_find(s->stats, s->nr_stats, "exits");
	out->exits = ex ? ex->f : (struct figure){0};
	out->latency_valid = s->latency_valid;
	memcpy(out->latency_us, s->latency_us, sizeof(out->latency_us));
	out->latency_avg_us = s->latency_avg_us;
	memcpy(out->per_packet, s->per_packet, sizeof(out->per_packet));
}
