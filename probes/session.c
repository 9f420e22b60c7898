/* The session: owns the VM and the metric sources, and turns them into one snapshot per tick. */
#define _GNU_SOURCE
#include "session.h"
#include "vmm/nic.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#include "probes/capture.h"
#include "probes/kvmtrace.h"
#include "probes/stats_fd.h"
#include "vmm/clock.h"
#include "vmm/net/net.h"
#include "vmm/work_loop.h"

struct session {
	struct session_opts opts;
	struct vmm *vm;
	struct net *net; /* outlives every VM of the session: link, peer and capture stay */
	struct kvmtrace *kt;
	const char *bpf_why;
	struct kstats ks;
	uint64_t *stat_values;
	struct capture *cap;
	const char *cap_why;
	bool paused;
	bool failed_said;  /* this guest's failure is an event already */
	uint64_t log_seq;  /* the next line of the VMM's log a tick carries */
	double t0, last;
	struct snapshot prev;
	uint64_t seq;
	struct vmm_cpu cpu;  /* CPU times at the last tick, of this VM's threads */
	bool cpu_valid;
	/* The switch being followed until its event is complete, and events not yet ticked out. */
	struct {
		bool on, ended;
		uint32_t seq;
		double t_start, t_ended;
		uint64_t real_minus_mono;
		uint64_t lost0, cap_lost0; /* guest_lost() and the capture's seq_lost at the start */
		struct vmm_switch sw;
	} track;
	unsigned nr_events;
	struct snap_event events[SNAP_EVENTS_MAX];
	/* The compare table, and each mode's ping histogram while in it. */
	struct mode_figures compare[NIC_MODE_MAX];
	double switch_end_t; /* when the last switch ended (session seconds) */
	double host_work_ns; /* the work loop on the host: ns per instruction, fastest of its runs */
	uint64_t mode_hist[NIC_MODE_MAX][HIST_SLOTS], last_hist[HIST_SLOTS];
};

static double host_work_ns(double ns_per_cycle);

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

static int boot(struct session *s, enum cpu_mode cpu, const char **why)
{
	struct vmm_opts vo = {
		.cpu = cpu,
		.kvm_path = s->opts.kvm_path,
		.log_path = s->opts.log_path,
		.hang_timeout_ms = s->opts.hang_timeout_ms,
		.nic = s->opts.nic,
		.net = s->net,
	};
	struct vmm *vm;
	int r = vmm_create(&vm, &vo, why);
	if (r)
		return r;
	vmm_set_packet_size(vm, s->opts.pkt_size);
	vmm_set_workload(vm, s->opts.workload, s->opts.kind, s->opts.rate);
	vmm_pause(vm, s->paused);
	r = vmm_start(vm);
	if (r) {
		*why = "the vCPU thread could not be started";
		vmm_destroy(vm);
		return r;
	}
	kstats_close(&s->ks);
	free(s->stat_values);
	s->stat_values = NULL;
	if (kstats_open(vmm_vcpu_fd(vm), &s->ks) == 0) {
		s->stat_values = calloc(s->ks.nr ? s->ks.nr : 1, sizeof(uint64_t));
		if (!s->stat_values)
			kstats_close(&s->ks);
	}
	s->vm = vm;
	return 0;
}

/* Before the first guest boots, so the capture sees its first frame. */
static void open_capture(struct session *s)
{
	s->cap_why = NULL;
	if (!s->net) {
		s->cap_why = "no NIC";
	} else if (s->opts.no_capture) {
		s->cap_why = "the capture is off (--no-capture)";
	} else if (!s->net->have_link) {
		s->cap_why = "no TAP link to capture on (the loopback peer is in-process)";
	} else if (capture_open(&s->cap, s->net->link.netns, LINK_TAP, LINK_GUEST_IP,
				s->opts.pcap_file, &s->cap_why)) {
		s->cap = NULL;
	}
}

int session_open(struct session **out, const struct session_opts *opts, const char **why)
{
	struct session *s = calloc(1, sizeof(*s));
	int r;

	*why = NULL;
	if (!s)
		return -ENOMEM;
	s->opts = *opts;
	if (!s->opts.pkt_size)
		s->opts.pkt_size = 64;
	s->ks.fd = -1;
	if (opts->nic != NIC_MODE_NONE) {
		r = net_open(&s->net, why);
		if (r) {
			free(s);
			return r;
		}
		open_capture(s);
	}
	if (opts->pcap_file && !s->cap) {
		static char buf[192];
		snprintf(buf, sizeof(buf), "--pcap cannot record: %s",
			 s->net && !s->net->have_link ? s->net->why : s->cap_why);
		*why = buf;
		net_close(s->net);
		free(s);
		return -EPERM;
	}
	s->cpu_valid = false;
	r = boot(s, opts->cpu, why);
	if (r) {
		capture_close(s->cap);
		net_close(s->net);
		free(s);
		return r;
	}
	if (s->cap_why && s->net)
		vlog(vmm_log(s->vm), "probes: capture off: %s", s->cap_why);
	if (opts->no_bpf)
		s->bpf_why = "eBPF probes are off (--no-bpf)";
	else if (kvmtrace_open(&s->kt, getpid(), opts->verbose, &s->bpf_why))
		s->kt = NULL;
	if (s->bpf_why)
		vlog(vmm_log(s->vm), "probes: %s", s->bpf_why);
	s->host_work_ns = host_work_ns(1e6 / (double)vmm_tsc_khz(s->vm));
	s->t0 = s->last = mono_s();
	*out = s;
	return 0;
}

void session_close(struct session *s)
{
	if (!s)
		return;
	capture_close(s->cap);
	kvmtrace_close(s->kt);
	kstats_close(&s->ks);
	free(s->stat_values);
	vmm_destroy(s->vm);
	net_close(s->net);
	free(s);
}

void session_set_workload(struct session *s, enum workload wl, uint32_t kind, uint32_t rate)
{
	s->opts.workload = wl;
	s->opts.kind = kind;
	s->opts.rate = rate;
	vmm_set_workload(s->vm, wl, kind, rate);
}

void session_set_packet_size(struct session *s, uint32_t bytes)
{
	s->opts.pkt_size = bytes;
	vmm_set_packet_size(s->vm, bytes);
}

void session_pause(struct session *s, bool pause)
{
	s->paused = pause;
	vmm_pause(s->vm, pause);
}

bool session_paused(const struct session *s) { return s->paused; }

const char *session_net_why(struct session *s) { return s->net ? s->net->why : NULL; }

bool session_guest_failed(struct session *s)
{
	struct vmm_status st;
	vmm_status(s->vm, &st);
	return st.state == VMM_FAILED;
}
struct vlog *session_log(struct session *s) { return vmm_log(s->vm); }
struct vmm *session_vmm(struct session *s) { return s->vm; }
enum host_kind session_host(struct session *s) { return vmm_host(s->vm); }
enum cpu_mode session_cpu_mode(struct session *s) { return vmm_cpu_mode(s->vm); }

static void finish_switch(struct session *s);
static void queue_event(struct session *s, const struct snap_event *ev);
static void switch_ended(struct session *s);
static bool switch_over(const struct session *s);

int session_restart(struct session *s, enum cpu_mode cpu, const char **why)
{
	struct vmm *old = s->vm;
	enum cpu_mode was = vmm_cpu_mode(old);
	if (s->track.on) {
		vmm_switch_read(s->vm, &s->track.sw);
		if (!switch_over(s))
			snprintf(s->track.sw.why, sizeof(s->track.sw.why), "the guest was restarted before the switch ended");
		finish_switch(s);
	}
	struct kstats old_ks = s->ks;
	uint64_t *old_values = s->stat_values;

	/* A fault workload is one shot: the restarted guest comes up idle instead of failing again. */
	if (s->opts.workload == WL_FAULT)
		s->opts.workload = WL_IDLE;
	/* Boot the new VM before the old one goes, so a refusal leaves the old one running. */
	s->ks.fd = -1;
	s->ks.desc = NULL;
	s->stat_values = NULL;
	s->cpu_valid = false; /* a new vCPU thread: its clock starts again */
	int r = boot(s, cpu, why);
	if (r) {
		s->ks = old_ks;
		s->stat_values = old_values;
		s->vm = old;
		return r;
	}
	kstats_close(&old_ks);
	free(old_values);
	vmm_destroy(old); /* its card detaches; the link, the peer and the capture stay */
	s->opts.cpu = cpu;
	struct snap_event ev = {.t = mono_s() - s->t0, .kind = SEV_GUEST_RESTARTED, .ok = true,
				.from = was, .to = vmm_cpu_mode(s->vm)};
	queue_event(s, &ev);
	memset(&s->prev, 0, sizeof(s->prev)); /* the new guest's counters start from zero */
	memset(s->last_hist, 0, sizeof(s->last_hist));
	s->log_seq = 0; /* the new VMM's log */
	s->failed_said = false;
	return 0;
}

/* ---- The live switch: asked here, done by the VMM, measured here. ---- */

/* A lost ping is known when its reply is a second late (the guest's timeout): the loss count
 * of a switch under ping waits that long after its end. */
#define SETTLE_PING_S 1.1
#define SETTLE_S 0.2

static uint64_t guest_lost(const struct ctl_page *c) { return c->ping_lost + c->rx_seq_lost; }

static void queue_event(struct session *s, const struct snap_event *ev)
{
	if (s->nr_events == SNAP_EVENTS_MAX) /* nobody ticked: keep the newest */
		memmove(s->events, s->events + 1, sizeof(s->events[0]) * --s->nr_events);
	s->events[s->nr_events++] = *ev;
}

/* The followed switch's event, with whatever its measurements have by now. */
static void finish_switch(struct session *s)
{
	static struct ctl_page ctl;
	const struct vmm_switch *sw = &s->track.sw;
	switch_ended(s);
	struct snap_event ev = {.t = s->track.t_start, .ok = sw->phase == SWITCH_DONE};
	uint64_t gap;

	ev.kind = SEV_NIC_SWITCH;
	ev.from = sw->from;
	ev.to = sw->to;
	snprintf(ev.why, sizeof(ev.why), "%s", sw->why);
	ev.duration_ms = sw->ns_end > sw->ns_start ? (double)(sw->ns_end - sw->ns_start) / 1e6 : 0;
	ev.probe_ms = (double)sw->probe_ns / 1e6;
	if (s->cap && capture_gap_read(s->cap, &gap)) {
		ev.blackout_ms[0] = (double)gap / 1e6;
		ev.blackout_valid[0] = true;
	}
	if (s->net && net_gap_read(s->net, &gap)) {
		ev.blackout_ms[1] = (double)gap / 1e6;
		ev.blackout_valid[1] = true;
	}
	vmm_read_ctl(s->vm, &ctl);
	ev.lost = guest_lost(&ctl) - s->track.lost0;
	if (s->cap) {
		struct capture_counters cc;
		capture_read(s->cap, &cc);
		ev.lost += cc.seq_lost - s->track.cap_lost0;
	}
	ev.lost_valid = true;
	queue_event(s, &ev);
	s->track.on = false;
}

/* The followed switch ended (the VMM says so): its blackout windows end where it ended, and
 * each closes at the next frame. */
static void switch_ended(struct session *s)
{
	const struct vmm_switch *sw = &s->track.sw;
	if (s->track.ended)
		return;
	s->track.ended = true;
	s->track.t_ended = mono_s() - s->t0;
	s->switch_end_t = (double)sw->ns_end / 1e9 - s->t0;
	/* The new card's row of the compare table starts again with this visit. */
	if (sw->phase == SWITCH_DONE)
		memset(s->mode_hist[sw->to], 0, sizeof(s->mode_hist[sw->to]));
	if (s->net)
		net_gap_end(s->net, sw->ns_end);
	if (s->cap)
		capture_gap_end(s->cap, sw->ns_end + s->track.real_minus_mono);
}

static bool switch_over(const struct session *s)
{
	const struct vmm_switch *sw = &s->track.sw;
	return sw->seq != s->track.seq || sw->phase == SWITCH_DONE || sw->phase == SWITCH_FAILED;
}

/* Each tick: has the followed switch ended, and are its measurements in? */
static void follow_switch(struct session *s, struct snapshot *snap)
{
	if (!s->track.on)
		return;
	vmm_switch_read(s->vm, &s->track.sw);
	if (!switch_over(s)) {
		if (snap) {
			snap->switching = true;
			snap->switch_to = s->track.sw.to;
		}
		return;
	}
	switch_ended(s);
	uint64_t gap;
	double now = mono_s() - s->t0;
	bool measured = (!s->cap || capture_gap_read(s->cap, &gap)) && (!s->net || net_gap_read(s->net, &gap));
	double settle = s->opts.workload == WL_PING ? SETTLE_PING_S : SETTLE_S;
	/* Without traffic nothing closes the windows: the blackout then is "-". */
	if ((measured && now - s->track.t_ended >= settle) || now - s->track.t_ended >= settle + 2)
		finish_switch(s);
}

enum nic_mode session_nic_mode(struct session *s) { return vmm_nic_mode(s->vm); }

void session_poll(struct session *s) { follow_switch(s, NULL); }

int session_switch_nic(struct session *s, enum nic_mode to, const char **why)
{
	static struct ctl_page ctl;
	if (s->track.on) {
		vmm_switch_read(s->vm, &s->track.sw);
		if (!switch_over(s)) {
			*why = "a switch is already under way";
			return -EBUSY;
		}
		/* The last one's event goes out with what it has measured by now. */
		finish_switch(s);
	}
	int r = vmm_switch_nic(s->vm, to, why);
	if (r)
		return r;
	uint64_t mono = mono_ns(), real = clock_ns(CLOCK_REALTIME);
	vmm_switch_read(s->vm, &s->track.sw);
	vmm_read_ctl(s->vm, &ctl);
	s->track.on = true;
	s->track.ended = false;
	s->track.seq = s->track.sw.seq;
	s->track.t_start = mono_s() - s->t0;
	s->track.real_minus_mono = real - mono;
	s->track.lost0 = guest_lost(&ctl);
	s->track.cap_lost0 = 0;
	if (s->cap) {
		struct capture_counters cc;
		capture_read(s->cap, &cc);
		s->track.cap_lost0 = cc.seq_lost;
		capture_gap_arm(s->cap, s->track.sw.ns_start + s->track.real_minus_mono);
	}
	if (s->net)
		net_gap_arm(s->net, s->track.sw.ns_start);
	return 0;
}

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

static void fill_guest(struct session *s, struct snapshot *snap, const struct ctl_page *ctl)
{
	double ns_per_cycle = 1e6 / (double)vmm_tsc_khz(s->vm);

	snap->heartbeat = ctl->heartbeat;
	figure_update(&snap->idle_halts, ctl->idle_halts, s->prev.idle_halts.total, snap->dt);
	figure_update(&snap->halts[SRC_GUEST], ctl->kind[EK_HLT].ops + ctl->idle_halts,
		      s->prev.halts[SRC_GUEST].total, snap->dt);
	snprintf(snap->irq_mode, sizeof(snap->irq_mode), "%s", vmm_irqchip(s->vm) ? "lapic" : "none");
	const struct {
		struct figure *f;
		const struct figure *prev;
		unsigned first, n;
	} irqs[] = {
		{&snap->irq_timer, &s->prev.irq_timer, VEC_TIMER, 1},
		{&snap->irq_doorbell, &s->prev.irq_doorbell, VEC_DOORBELL, 1},
		{&snap->irq_self, &s->prev.irq_self, VEC_SELF, 1},
		{&snap->irq_nic, &s->prev.irq_nic, VEC_NET, VEC_INTX - VEC_NET + 1},
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
		figure_update(&snap->exits[k][SRC_GUEST], g->ops, s->prev.exits[k][SRC_GUEST].total,
			      snap->dt);
		c->ops = g->ops;
		c->avg_ns = g->ops ? (double)g->cycles / (double)g->ops * ns_per_cycle : 0;
		c->min_ns = (double)g->min_cycles * ns_per_cycle;
		c->max_ns = (double)g->max_cycles * ns_per_cycle;
		memcpy(c->hist, g->hist, sizeof(c->hist));
	}
	const struct kind_stats *w = &ctl->work;
	snap->work = (struct work_cost){
		.valid = w->ops > 0,
		.loops = w->ops,
		.ns_per_insn = (double)w->min_cycles * ns_per_cycle / WORK_LOOP_INSNS,
		.host_ns_per_insn = s->host_work_ns,
	};
}

/* The guest's work loop run natively here: the fastest of many runs, as the guest reports its
 * fastest, so that neither figure carries an interrupt or a preemption. */
static double host_work_ns(double ns_per_cycle)
{
	uint64_t best = UINT64_MAX;
	for (int i = 0; i < 2000; i++) {
		uint64_t t0 = __rdtsc();
		work_loop();
		uint64_t t = __rdtsc() - t0;
		if (t < best)
			best = t;
	}
	return (double)best * ns_per_cycle / WORK_LOOP_INSNS;
}

static void fill_vmm(struct session *s, struct snapshot *snap)
{
	struct vmm_counters c;
	double dt = snap->dt;

	vmm_read_counters(s->vm, &c);
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
	};
	for (unsigned i = 0; i < sizeof(named) / sizeof(named[0]); i++)
		add_named(snap->vmm, &snap->nr_vmm, 16, named[i].name, named[i].v, s->prev.vmm,
			  s->prev.nr_vmm, dt);

	const uint64_t per_kind[EK_MAX] = {
		[EK_PIO_VMM] = c.pio_vmm,         [EK_PIO_EVENTFD] = c.pio_eventfd,
		[EK_MMIO_VMM] = c.mmio_vmm,       [EK_MMIO_EVENTFD] = c.mmio_eventfd,
		[EK_HLT] = c.hlt_op,
	};
	if (!vmm_irqchip(s->vm))
		figure_update(&snap->halts[SRC_VMM], c.hlt_op + c.hlt_idle, s->prev.halts[SRC_VMM].total, dt);
	for (unsigned k = 0; k < EK_MAX; k++) {
		/* Completed inside KVM, the VMM never sees them: hypercall, cpuid, and HLT when
		 * KVM's LAPIC is in the kernel. */
		if (k == EK_HYPERCALL || k == EK_CPUID || (k == EK_HLT && vmm_irqchip(s->vm)))
			continue;
		figure_update(&snap->exits[k][SRC_VMM], per_kind[k], s->prev.exits[k][SRC_VMM].total,
			      dt);
	}
}

static void fill_stats(struct session *s, struct snapshot *snap)
{
	bool pvm = vmm_host(s->vm) == HOST_PVM;

	if (!s->stat_values || kstats_read(&s->ks, s->stat_values))
		return;
	for (uint32_t i = 0; i < s->ks.nr; i++) {
		if (s->ks.desc[i].size != 1)
			continue;
		add_named(snap->stats, &snap->nr_stats, SNAP_STATS_MAX, s->ks.desc[i].name,
			  s->stat_values[i], s->prev.stats, s->prev.nr_stats, snap->dt);
		if (s->ks.desc[i].type != KSTAT_CUMULATIVE && snap->nr_stats) {
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

static void fill_bpf(struct session *s, struct snapshot *snap)
{
	static struct kt_counts c; /* large; one session ticks at a time */
	bool pvm = vmm_host(s->vm) == HOST_PVM;
	double dt = snap->dt;

	snap->bpf_on = s->kt != NULL;
	if (!s->kt) {
		snprintf(snap->bpf_why, sizeof(snap->bpf_why), "%s", s->bpf_why);
		return;
	}
	kvmtrace_read(s->kt, &c);
	for (unsigned e = 0; e < KT_MAX; e++)
		if (c.attached[e])
			figure_update(&snap->bpf_event[e], c.total[e], s->prev.bpf_event[e].total, dt);
	for (unsigned i = 0; i < c.nr_detail[KT_USERSPACE_EXIT]; i++)
		add_named(snap->uexit, &snap->nr_uexit, SNAP_REASONS_MAX,
			  kvm_exit_reason_name(c.detail[KT_USERSPACE_EXIT][i].detail),
			  c.detail[KT_USERSPACE_EXIT][i].count, s->prev.uexit, s->prev.nr_uexit, dt);
	for (unsigned i = 0; i < c.nr_detail[KT_EXIT]; i++) {
		char name[16];
		snprintf(name, sizeof(name), "%#x", c.detail[KT_EXIT][i].detail);
		add_named(snap->kexit, &snap->nr_kexit, SNAP_REASONS_MAX, name,
			  c.detail[KT_EXIT][i].count, s->prev.kexit, s->prev.nr_kexit, dt);
	}

	const struct {
		unsigned event;
		uint32_t detail;
		bool any_detail, on_pvm;
	} map[EK_MAX] = {
		[EK_PIO_VMM] = {KT_PIO, PORT_EXIT_VMM, false, true},
		[EK_PIO_EVENTFD] = {KT_PIO, PORT_EXIT_EVENTFD, false, true},
		[EK_MMIO_VMM] = {KT_MMIO, MMIO_EXIT_VMM >> 12, false, true},
		[EK_MMIO_EVENTFD] = {KT_MMIO, MMIO_EXIT_EVENTFD >> 12, false, true},
		[EK_HYPERCALL] = {KT_HYPERCALL, 0, true, false}, /* kvm-hosts.md: never fires */
		[EK_CPUID] = {KT_CPUID, 0, false, false},   /* measured: never fires on kvm_pvm */
	};
	for (unsigned k = 0; k < EK_MAX; k++) {
		unsigned e = map[k].event;
		if (!map[k].event && !map[k].detail && !map[k].any_detail)
			continue; /* no tracepoint tells this kind apart (hlt: see halts) */
		if (!c.attached[e] || (pvm && !map[k].on_pvm))
			continue;
		uint64_t n = map[k].any_detail ? c.total[e] : kt_count(&c, e, map[k].detail);
		figure_update(&snap->exits[k][SRC_BPF], n, s->prev.exits[k][SRC_BPF].total, dt);
	}

	/* Every halt: inside KVM its hardware exit reason (SDM Vol. 3D C: VMX 12; APM Vol. 2
	 * 15.9: SVM 0x78; kvm_pvm has no kvm_exit), without an irqchip a userspace exit. */
	unsigned he = vmm_irqchip(s->vm) ? KT_EXIT : KT_USERSPACE_EXIT;
	uint32_t hd = !vmm_irqchip(s->vm) ? KVM_EXIT_HLT : vmm_host(s->vm) == HOST_AMDV ? 0x78 : 12;
	if (c.attached[he] && !(pvm && he == KT_EXIT))
		figure_update(&snap->halts[SRC_BPF], kt_count(&c, he, hd), s->prev.halts[SRC_BPF].total, dt);

	/* Exits at the NIC's registers: kvm_mmio by page and kvm_pio by port, inside its BARs
	 * (ioeventfd kicks fire kvm_mmio too). */
	struct vmm_region reg[VMM_NIC_REGIONS];
	unsigned nr = vmm_nic_regions(s->vm, reg);
	if (nr && c.attached[KT_MMIO] && c.attached[KT_PIO]) {
		uint64_t n = 0;
		for (unsigned r = 0; r < nr; r++) {
			unsigned e = reg[r].io ? KT_PIO : KT_MMIO;
			uint64_t lo = reg[r].io ? reg[r].base : reg[r].base >> 12;
			uint64_t hi = reg[r].io ? reg[r].base + reg[r].size : (reg[r].base + reg[r].size) >> 12;
			for (unsigned i = 0; i < c.nr_detail[e]; i++)
				if (c.detail[e][i].detail >= lo && c.detail[e][i].detail < hi)
					n += c.detail[e][i].count;
		}
		figure_update(&snap->nic_exits[SRC_BPF], n, s->prev.nic_exits[SRC_BPF].total, dt);
	}
}

static void per_packet(struct session *s, struct snapshot *snap, bool engine);

static int by_rate(const void *a, const void *b)
{
	const struct named_figure *x = a, *y = b;
	return x->f.rate < y->f.rate ? 1 : x->f.rate > y->f.rate ? -1 : strcmp(x->name, y->name);
}

/* The card's statistics, every one by name: the totals every model keeps, then its own. */
static void fill_device(struct session *s, struct snapshot *snap, const struct nic_readout *ro)
{
	const struct nic_stats *t = &ro->total;
	const struct nic_counter totals[] = {
		{"tx_packets", t->tx_packets}, {"tx_bytes", t->tx_bytes},
		{"rx_packets", t->rx_packets}, {"rx_bytes", t->rx_bytes},
		{"tx_dropped", t->tx_dropped}, {"tx_backpressure", t->tx_backpressure},
		{"tx_malformed", t->tx_malformed}, {"rx_no_buffer", t->rx_no_buffer},
		{"rx_filtered", t->rx_filtered}, {"ring_errors", t->ring_errors},
		{"interrupts", t->interrupts}, {"reg_traps", t->reg_traps},
		{"notify_events", t->notify_events}, {"reg_bad", t->reg_bad},
	};
	const struct snapshot *p = &s->prev;
	for (unsigned i = 0; i < sizeof(totals) / sizeof(totals[0]); i++)
		add_named(snap->dev_counter, &snap->nr_dev_counters, SNAP_DEV_COUNTERS_MAX,
			  totals[i].name, totals[i].value, p->dev_counter, p->nr_dev_counters, snap->dt);
	for (unsigned i = 0; i < ro->nr_extra; i++)
		add_named(snap->dev_counter, &snap->nr_dev_counters, SNAP_DEV_COUNTERS_MAX,
			  ro->extra[i].name, ro->extra[i].value, p->dev_counter, p->nr_dev_counters, snap->dt);
	for (unsigned i = 0; i < ro->nr_regs; i++)
		add_named(snap->dev_reg, &snap->nr_dev_regs, SNAP_DEV_REGS_MAX, ro->regs[i].name,
			  ro->regs[i].value, p->dev_reg, p->nr_dev_regs, snap->dt);
	qsort(snap->dev_reg, snap->nr_dev_regs, sizeof(snap->dev_reg[0]), by_rate);
}

static void fill_net(struct session *s, struct snapshot *snap, const struct ctl_page *ctl)
{
	struct vmm_net info;
	struct nic_readout ro;
	struct link_counters peer;
	const struct snapshot *p = &s->prev;
	double dt = snap->dt;

	vmm_net_info(s->vm, &info);
	snap->nic_mode = info.present ? vmm_nic_mode(s->vm) : NIC_MODE_NONE;
	if (!info.present || vmm_read_net(s->vm, &ro, &peer))
		return;
	const struct nic_stats *st = &ro.total;
	snap->net_on = true;
	snprintf(snap->nic_chip, sizeof(snap->nic_chip), "%s", info.chip);
	snprintf(snap->backend, sizeof(snap->backend), "%s", info.backend);
	snprintf(snap->netns, sizeof(snap->netns), "%s", info.netns);
	if (info.why)
		snprintf(snap->net_why, sizeof(snap->net_why), "%s", info.why);
	snap->latency_valid = s->opts.workload == WL_PING;
	figure_update(&snap->pps_tx, ctl->net_tx_packets, p->pps_tx.total, dt);
	figure_update(&snap->pps_rx, ctl->net_rx_packets, p->pps_rx.total, dt);
	figure_update(&snap->dev_tx, st->tx_packets, p->dev_tx.total, dt);
	figure_update(&snap->dev_rx, st->rx_packets, p->dev_rx.total, dt);
	figure_update(&snap->dev_irqs, st->interrupts, p->dev_irqs.total, dt);
	figure_update(&snap->rx_no_buffer, st->rx_no_buffer, p->rx_no_buffer.total, dt);
	figure_update(&snap->dev_tx_dropped, st->tx_dropped, p->dev_tx_dropped.total, dt);
	figure_update(&snap->nic_exits[SRC_VMM], nic_exits(st), p->nic_exits[SRC_VMM].total, dt);
	figure_update(&snap->dev_tx_backpressure, st->tx_backpressure, p->dev_tx_backpressure.total, dt);
	fill_device(s, snap, &ro);
	/* The peer (the namespace's, or the loopback one) counts across guest restarts. */
	figure_update(&snap->peer_sink, peer.sink_rx, p->seq ? p->peer_sink.total : peer.sink_rx, dt);
	figure_update(&snap->peer_echo, peer.echo_rx, p->seq ? p->peer_echo.total : peer.echo_rx, dt);
	figure_update(&snap->ping_lost, ctl->ping_lost, p->ping_lost.total, dt);
	figure_update(&snap->rx_lost, ctl->rx_seq_lost, p->rx_lost.total, dt);
	figure_update(&snap->udp_echoed, ctl->udp_echoed, p->udp_echoed.total, dt);
	snap->peer_echo_rtt_valid = peer.drive_echoes > 0;
	snap->peer_echo_rtt_us = peer.drive_echoes ? (double)peer.drive_rtt_ns / 1e3 / (double)peer.drive_echoes : 0;
	uint64_t khz = vmm_tsc_khz(s->vm);
	snap->tsc_khz = khz;
	memcpy(snap->latency_hist, ctl->ping.hist, sizeof(snap->latency_hist));
	snap->latency_us[0] = hist_percentile_us(ctl->ping.hist, HIST_SLOTS, 0.50, khz);
	snap->latency_us[1] = hist_percentile_us(ctl->ping.hist, HIST_SLOTS, 0.99, khz);
	snap->latency_us[2] = hist_percentile_us(ctl->ping.hist, HIST_SLOTS, 0.999, khz);
	snap->latency_avg_us = ctl->ping.ops ? (double)ctl->ping.cycles / (double)ctl->ping.ops * 1000.0 / (double)khz : 0;
	if (s->cap) {
		struct capture_counters cc;
		capture_read(s->cap, &cc);
		snap->cap_on = true;
		figure_update(&snap->cap_from_guest, cc.from_guest, p->cap_from_guest.total, dt);
		figure_update(&snap->cap_to_guest, cc.to_guest, p->cap_to_guest.total, dt);
		for (int i = 0; i < 3; i++)
			snap->cap_rtt_us[i] = capture_rtt_percentile_us(&cc, (const double[]){0.5, 0.99, 0.999}[i]);
		snap->cap_rtt_avg_us = cc.rtt_samples ? (double)cc.rtt_ns_sum / (double)cc.rtt_samples / 1e3 : 0;
		snap->cap_rtt_samples = cc.rtt_samples;
		snap->cap_lost = cc.seq_lost;
		snap->cap_reordered = cc.seq_reordered;
		snap->cap_drops = cc.kernel_drops;
		snap->cap_echo_unanswered = cc.echo_requests - cc.echo_replies;
	} else if (s->cap_why) {
		snprintf(snap->cap_why, sizeof(snap->cap_why), "%s", s->cap_why);
	}
	per_packet(s, snap, info.engine);
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
static void per_packet(struct session *s, struct snapshot *snap, bool engine)
{
	const struct named_figure *ue = snapshot_find(snap->vmm, snap->nr_vmm, "userspace_exits");
	const struct named_figure *st = snapshot_find(snap->stats, snap->nr_stats, "exits");
	const struct figure *all = NULL;
	const char *all_src = NULL;

	if (vmm_host(s->vm) != HOST_PVM && snap->bpf_event[KT_EXIT].valid) {
		all = &snap->bpf_event[KT_EXIT];
		all_src = "bpf";
	} else if (st) {
		all = &st->f;
		all_src = "stats";
	}
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
	struct vmm_cpu c;
	if (vmm_read_cpu(s->vm, &c) == 0) {
		bool ok = s->cpu_valid && snap->dt > 0 && c.vcpu_ns >= s->cpu.vcpu_ns &&
			  c.guest_ns >= s->cpu.guest_ns && c.net_ns >= s->cpu.net_ns;
		double vcpu = (double)(c.vcpu_ns - s->cpu.vcpu_ns), guest = (double)(c.guest_ns - s->cpu.guest_ns);
		double net = (double)(c.net_ns - s->cpu.net_ns), vmm = vcpu > guest ? vcpu - guest : 0;
		if (!engine)
			vmm += net;
		if (ok) {
			if (engine)
				set_pp(snap, PP_CPU_CARD, net / snap->dt, "thread");
			set_pp(snap, PP_CPU_VMM, vmm / snap->dt, "thread");
			set_pp(snap, PP_CPU_GUEST, guest / snap->dt, "proc");
		}
		s->cpu = c;
		s->cpu_valid = true;
	}
}

/* The compare table: the figures of the tick just made, as its mode's row (a tick that a switch
 * overlaps, or without traffic, changes nothing). */
static void update_compare(struct session *s, struct snapshot *snap, const struct ctl_page *ctl)
{
	enum nic_mode m = vmm_nic_mode(s->vm);
	uint64_t d[HIST_SLOTS];
	for (unsigned i = 0; i < HIST_SLOTS; i++) {
		d[i] = ctl->ping.hist[i] >= s->last_hist[i] ? ctl->ping.hist[i] - s->last_hist[i] : 0;
		s->last_hist[i] = ctl->ping.hist[i];
	}
	bool clean = !snap->switching && !(s->track.on && !s->track.ended) &&
		     snap->t - snap->dt >= s->switch_end_t;
	if (snap->net_on && clean && m != NIC_MODE_NONE && snap->dt > 0) {
		uint64_t *h = s->mode_hist[m], n = 0;
		for (unsigned i = 0; i < HIST_SLOTS; i++)
			n += h[i] += d[i];
		struct mode_figures *f = &s->compare[m];
		if (snap->dev_tx.rate + snap->dev_rx.rate > 0) {
			uint64_t khz = vmm_tsc_khz(s->vm);
			const struct per_packet *pp = snap->per_packet;
			f->valid = true;
			f->t = snap->t;
			f->workload = snap->workload;
			f->tx_pps = snap->dev_tx.rate;
			f->rx_pps = snap->dev_rx.rate;
			f->ping_valid = n > 0;
			f->ping_p50_us = n ? hist_percentile_us(h, HIST_SLOTS, 0.50, khz) : 0;
			f->ping_p99_us = n ? hist_percentile_us(h, HIST_SLOTS, 0.99, khz) : 0;
			f->exits_nic = pp[PP_NIC];
			f->exits_user = pp[PP_USERSPACE];
			f->exits_all = pp[PP_ALL];
			f->irqs = pp[PP_IRQS];
			f->cpu_host = pp[PP_CPU_VMM];
			f->cpu_card = pp[PP_CPU_CARD];
		}
	}
	memcpy(snap->compare, s->compare, sizeof(snap->compare));
}

void session_tick(struct session *s, struct snapshot *snap)
{
	static struct ctl_page ctl;
	struct vmm_status st;
	double now = mono_s();

	memset(snap, 0, sizeof(*snap));
	snap->seq = ++s->seq;
	snap->t = now - s->t0;
	/* The first tick after a boot is the baseline: rates need two readings. */
	snap->dt = s->prev.seq ? now - s->last : 0;
	s->last = now;

	vmm_poll(s->vm);
	vmm_status(s->vm, &st);
	vmm_read_ctl(s->vm, &ctl);
	snap->host = vmm_host(s->vm);
	snap->cpu_mode = vmm_cpu_mode(s->vm);
	snap->state = st.state;
	snap->workload = s->opts.workload;
	snap->exit_kind = s->opts.workload == WL_EXITS ? s->opts.kind : SNAP_NO_KIND;
	snap->pkt_size = s->opts.pkt_size;
	snap->rate = s->opts.rate;
	if (st.state == VMM_FAILED) {
		snprintf(snap->reason, sizeof(snap->reason), "%s", st.reason);
		if (!s->failed_said) { /* once per guest */
			struct snap_event ev = {.t = snap->t, .kind = SEV_GUEST_FAILED, .ok = false};
			ev.from = ev.to = snap->cpu_mode;
			snprintf(ev.why, sizeof(ev.why), "%s", st.reason);
			queue_event(s, &ev);
			s->failed_said = true;
		}
	}
	snap->nr_log = vlog_since(vmm_log(s->vm), &s->log_seq, snap->log, SNAP_LOG_MAX,
				  &snap->log_dropped);
	snap->boot_first_insn_ms = (double)vmm_ns_first_insn(s->vm) / 1e6;
	snap->boot_banner_ms = (double)vmm_ns_banner(s->vm) / 1e6;

	fill_guest(s, snap, &ctl);
	fill_vmm(s, snap);
	fill_stats(s, snap);
	fill_bpf(s, snap);
	fill_net(s, snap, &ctl);
	follow_switch(s, snap);
	memcpy(snap->events, s->events, sizeof(s->events[0]) * s->nr_events);
	snap->nr_events = s->nr_events;
	s->nr_events = 0;
	/* KVM's mmio_exits counts every MMIO exit to userspace: it stands for mmio_vmm only in a
	 * tick where no card register trapped (the e1000's do all the time, virtio's at setup). */
	const struct named_figure *traps = snapshot_find(snap->dev_counter, snap->nr_dev_counters, "reg_traps");
	const struct named_figure *traps0 = snapshot_find(s->prev.dev_counter, s->prev.nr_dev_counters, "reg_traps");
	if (traps && (!traps0 || traps->f.total != traps0->f.total))
		snap->exits[EK_MMIO_VMM][SRC_STATS].valid = false;
	/* "exits" reports the host-side source closest to the event for each kind. */
	for (unsigned k = 0; k < EK_MAX; k++) {
		static const enum source order[] = {SRC_BPF, SRC_VMM, SRC_STATS, SRC_GUEST};
		for (unsigned i = 0; i < 4; i++)
			if (snap->exits[k][order[i]].valid) {
				snap->exits_src[k] = order[i];
				break;
			}
	}
	update_compare(s, snap, &ctl);
	s->prev = *snap;
}
