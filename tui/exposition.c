/* The exposition: each published snapshot rendered once into Prometheus' text format (version
 * 0.0.4). Counters are kept as the sum of their increments, so a source that starts again from 0
 * (a restarted guest) carries on from where it was. */
#include "tui/exposition.h"

#include <stdlib.h>
#include <string.h>

#include "vmm/names.h"

#ifndef VMSCOPE_VERSION
#define VMSCOPE_VERSION "0.1"
#endif

/* A counter as published: the sum of its increments, so a source that starts again from 0 (a
 * restarted guest) carries on from where it was. */
struct series {
	char key[128];
	uint64_t last, sum;
};

/* Blackout histogram bounds, seconds. */
static const double bo_le[] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2};
#define BO_N	   (sizeof(bo_le) / sizeof(bo_le[0]))
#define SERIES_MAX 2048

struct exposition {
	struct series *ser;
	unsigned nr;
	uint64_t bo_bucket[2][BO_N], bo_count[2]; /* per blackout source: capture, vmm */
	double bo_sum[2];
};

struct exposition *exposition_new(void)
{
	struct exposition *x = calloc(1, sizeof(*x));
	if (x && !(x->ser = calloc(SERIES_MAX, sizeof(*x->ser)))) {
		free(x);
		return NULL;
	}
	return x;
}

void exposition_free(struct exposition *x)
{
	if (x)
		free(x->ser);
	free(x);
}

static struct series *lookup(struct exposition *m, const char *key)
{
	for (unsigned i = 0; i < m->nr; i++)
		if (!strcmp(m->ser[i].key, key))
			return &m->ser[i];
	return NULL;
}

/* The series for key, made at its first use; NULL once SERIES_MAX are in use. */
static struct series *series(struct exposition *m, const char *key)
{
	struct series *s = lookup(m, key);
	if (s || m->nr == SERIES_MAX)
		return s;
	s = &m->ser[m->nr++];
	snprintf(s->key, sizeof(s->key), "%s", key);
	return s;
}

/* Feeds a source's running total: the increment since the last time (all of it when the
 * source started again from 0) is added to the series, which is returned. */
static struct series *feed(struct exposition *m, const char *key, uint64_t total, uint64_t *d)
{
	struct series *s = series(m, key);
	*d = 0;
	if (!s)
		return NULL;
	*d = total >= s->last ? total - s->last : total;
	s->last = total;
	s->sum += *d;
	return s;
}

/* A counter's published value: its sum so far. */
static uint64_t counted(struct exposition *m, const char *key, uint64_t total)
{
	uint64_t d;
	struct series *s = feed(m, key, total, &d);
	return s ? s->sum : 0;
}

/* The increment of a source's running total since the last tick. */
static uint64_t delta(struct exposition *m, const char *key, uint64_t total)
{
	uint64_t d;
	feed(m, key, total, &d);
	return d;
}

/* Adds d to a counter kept here (by NIC mode, say). */
static void add(struct exposition *m, const char *key, uint64_t d)
{
	struct series *s = series(m, key);
	if (s)
		s->sum += d;
}

static bool find(struct exposition *m, const char *key, uint64_t *v)
{
	const struct series *s = lookup(m, key);
	if (s)
		*v = s->sum;
	return s != NULL;
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value, escaped as the exposition format wants. */
static void label(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fprintf(f, "\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
	fputc('"', f);
}

/* The vCPU's exits as the source that sees them all counts them (bpf kvm_exit off kvm_pvm, else
 * the stats fd), and those that reached the VMM. */
static void vcpu_exits(struct exposition *m, FILE *f, const struct snapshot *s)
{
	const struct named_figure *st = snapshot_find(s->stats, s->nr_stats, "exits");
	const struct named_figure *ue = snapshot_find(s->vmm, s->nr_vmm, "userspace_exits");
	const struct figure *all = s->host != HOST_PVM && s->bpf_event[KT_EXIT].valid
				       ? &s->bpf_event[KT_EXIT]
				   : st ? &st->f
					: NULL;
	char key[128];
	uint64_t d_all = all ? delta(m, "vcpu_all", all->total) : 0;
	uint64_t d_user = ue ? delta(m, "vcpu_user", ue->f.total) : 0;
	const char *mode = nic_mode_name(s->nic_mode);
	if (ue) {
		snprintf(key, sizeof(key), "vcpu:userspace:%s", mode);
		add(m, key, d_user);
	}
	if (all && ue) {
		snprintf(key, sizeof(key), "vcpu:in_kernel:%s", mode);
		add(m, key, d_all > d_user ? d_all - d_user : 0);
	}
	family(
	    f, "vmscope_vcpu_exits_total", "counter",
	    "Exits of the vCPU: reached the VMM (userspace) or handled inside KVM (in_kernel), by "
	    "the NIC in use (sources: vmm; stats fd or bpf kvm_exit minus vmm)");
	static const char *const where[] = {"userspace", "in_kernel"};
	for (unsigned w = 0; w < 2; w++)
		for (unsigned nm = 0; nm < NIC_MODE_MAX; nm++) {
			uint64_t v;
			snprintf(key, sizeof(key), "vcpu:%s:%s", where[w], nic_mode_name(nm));
			if (find(m, key, &v))
				fprintf(
				    f,
				    "vmscope_vcpu_exits_total{where=\"%s\",nic_mode=\"%s\"} %llu\n",
				    where[w], nic_mode_name(nm), (unsigned long long)v);
		}
}

/* The translated CPU's own counts, while the guest runs on it (source: vmm). */
static void translated(struct exposition *m, FILE *f, const struct snapshot *s)
{
	const struct named_figure *tb = snapshot_find(s->vmm, s->nr_vmm, "tcg_blocks_translated"),
				  *run = snapshot_find(s->vmm, s->nr_vmm, "tcg_blocks_run"),
				  *insn = snapshot_find(s->vmm, s->nr_vmm, "tcg_insns");
	if (!tb || !run || !insn)
		return;
	family(f, "vmscope_translated_blocks_total", "counter",
	       "Blocks of guest code the translated CPU translated (an address run for the first "
	       "time) and ran (source: vmm)");
	fprintf(f, "vmscope_translated_blocks_total{what=\"translated\"} %llu\n",
		(unsigned long long)counted(m, "tcg:translated", tb->f.total));
	fprintf(f, "vmscope_translated_blocks_total{what=\"run\"} %llu\n",
		(unsigned long long)counted(m, "tcg:run", run->f.total));
	family(f, "vmscope_translated_instructions_total", "counter",
	       "Guest instructions the translated CPU ran (source: vmm)");
	fprintf(f, "vmscope_translated_instructions_total %llu\n",
		(unsigned long long)counted(m, "tcg:insns", insn->f.total));
}

/* Packets each source saw, by direction and the NIC in use when they moved. */
static void packets(struct exposition *m, FILE *f, const struct snapshot *s)
{
	const struct {
		const char *source, *dir;
		const struct figure *fig;
	} src[] = {{"guest", "tx", &s->pps_tx},
		   {"guest", "rx", &s->pps_rx},
		   {"vmm", "tx", &s->dev_tx},
		   {"vmm", "rx", &s->dev_rx},
		   {"capture", "tx", &s->cap_from_guest},
		   {"capture", "rx", &s->cap_to_guest}};
	char key[128];
	for (unsigned i = 0; s->net_on && i < sizeof(src) / sizeof(src[0]); i++) {
		if (!src[i].fig->valid)
			continue;
		snprintf(key, sizeof(key), "pkts:%s:%s", src[i].source, src[i].dir);
		uint64_t d = delta(m, key, src[i].fig->total);
		snprintf(key, sizeof(key), "pkts:%s:%s:%s", src[i].source, src[i].dir,
			 nic_mode_name(s->nic_mode));
		add(m, key, d);
	}
	family(
	    f, "vmscope_packets_total", "counter",
	    "Packets by direction (tx: from the guest), the NIC in use and the source that counted "
	    "them (guest: its driver; vmm: the card model; capture: libpcap on the TAP)");
	for (unsigned i = 0; i < sizeof(src) / sizeof(src[0]); i++)
		for (unsigned nm = 0; nm < NIC_MODE_MAX; nm++) {
			uint64_t v;
			snprintf(key, sizeof(key), "pkts:%s:%s:%s", src[i].source, src[i].dir,
				 nic_mode_name(nm));
			if (find(m, key, &v))
				fprintf(f,
					"vmscope_packets_total{direction=\"%s\",nic_mode=\"%s\","
					"source=\"%s\"} %llu\n",
					src[i].dir, nic_mode_name(nm), src[i].source,
					(unsigned long long)v);
		}
}

/* The guest's ping round trips: its log2 TSC-cycle slots as buckets, bounds in seconds. */
static void ping_histogram(struct exposition *m, FILE *f, const struct snapshot *s)
{
	if (!s->net_on || !s->tsc_khz)
		return;
	family(f, "vmscope_ping_rtt_seconds", "histogram",
	       "Round trips of the guest's pings to the peer, from its TSC (source: guest)");
	uint64_t cum = 0, count = 0, slot[HIST_SLOTS];
	char key[64];
	for (unsigned i = 0; i < HIST_SLOTS; i++) {
		snprintf(key, sizeof(key), "rtt:%u", i);
		count += slot[i] = counted(m, key, s->latency_hist[i]);
	}
	for (unsigned i = 0; i < HIST_SLOTS; i++) {
		cum += slot[i];
		double le =
		    (double)(2ull << i) / ((double)s->tsc_khz * 1e3); /* slot i: [2^i, 2^(i+1)) */
		fprintf(f, "vmscope_ping_rtt_seconds_bucket{le=\"%.9g\"} %llu\n", le,
			(unsigned long long)cum);
	}
	fprintf(f, "vmscope_ping_rtt_seconds_bucket{le=\"+Inf\"} %llu\n",
		(unsigned long long)count);
	/* The sum from the guest's average (its exact total of cycles is not in the snapshot). */
	fprintf(f, "vmscope_ping_rtt_seconds_sum %.9g\n", s->latency_avg_us / 1e6 * (double)count);
	fprintf(f, "vmscope_ping_rtt_seconds_count %llu\n", (unsigned long long)count);
}

static void switches(struct exposition *m, FILE *f, const struct snapshot *s)
{
	char key[128];
	for (unsigned i = 0; i < s->nr_events; i++) {
		const struct snap_event *e = &s->events[i];
		if (e->kind != SEV_NIC_SWITCH)
			continue;
		snprintf(key, sizeof(key), "switch:%s:%s:%s", nic_mode_name(e->from),
			 nic_mode_name(e->to),
			 e->ok	      ? "ok"
			 : e->refused ? "refused"
				      : "failed");
		add(m, key, 1);
		for (unsigned b = 0; e->ok && b < 2; b++) {
			if (!e->blackout_valid[b])
				continue;
			double sec = e->blackout_ms[b] / 1e3;
			for (unsigned j = 0; j < BO_N; j++)
				if (sec <= bo_le[j])
					m->bo_bucket[b][j]++;
			m->bo_count[b]++;
			m->bo_sum[b] += sec;
		}
	}
	add(m, "events_dropped", s->events_dropped);
	uint64_t dropped = 0;
	find(m, "events_dropped", &dropped);
	family(f, "vmscope_events_dropped_total", "counter",
	       "Events (switches, link changes) beyond the 32 a tick carries, not counted below");
	fprintf(f, "vmscope_events_dropped_total %llu\n", (unsigned long long)dropped);
	family(f, "vmscope_nic_switches_total", "counter",
	       "Live switches of the guest's network card, by cards and result");
	static const char *const res[] = {"ok", "failed", "refused"};
	for (unsigned a = NIC_MODE_EMULATED; a < NIC_MODE_MAX; a++)
		for (unsigned b = NIC_MODE_EMULATED; b < NIC_MODE_MAX; b++)
			for (unsigned r = 0; r < 3; r++) {
				uint64_t v;
				snprintf(key, sizeof(key), "switch:%s:%s:%s", nic_mode_name(a),
					 nic_mode_name(b), res[r]);
				if (find(m, key, &v))
					fprintf(f,
						"vmscope_nic_switches_total{from=\"%s\",to=\"%s\","
						"result=\"%s\"} %llu\n",
						nic_mode_name(a), nic_mode_name(b), res[r],
						(unsigned long long)v);
			}
	family(f, "vmscope_nic_switch_blackout_seconds", "histogram",
	       "The longest gap in the guest's traffic around each live switch, as the capture and "
	       "the VMM saw it");
	static const char *const src[2] = {"capture", "vmm"};
	for (unsigned b = 0; b < 2; b++) {
		for (unsigned j = 0; j < BO_N; j++)
			fprintf(f,
				"vmscope_nic_switch_blackout_seconds_bucket{source=\"%s\",le=\"%"
				"g\"} %llu\n",
				src[b], bo_le[j], (unsigned long long)m->bo_bucket[b][j]);
		fprintf(
		    f,
		    "vmscope_nic_switch_blackout_seconds_bucket{source=\"%s\",le=\"+Inf\"} %llu\n",
		    src[b], (unsigned long long)m->bo_count[b]);
		fprintf(f, "vmscope_nic_switch_blackout_seconds_sum{source=\"%s\"} %.9g\n", src[b],
			m->bo_sum[b]);
		fprintf(f, "vmscope_nic_switch_blackout_seconds_count{source=\"%s\"} %llu\n",
			src[b], (unsigned long long)m->bo_count[b]);
	}
}

/* Named counters (exit reasons, ports) as one family, each name a value of the label lbl. */
static void named(struct exposition *m, FILE *f, const char *name, const char *help,
		  const char *lbl, const struct named_figure *arr, unsigned nr, const char *prefix)
{
	char key[128];
	family(f, name, "counter", help);
	for (unsigned i = 0; i < nr; i++) {
		snprintf(key, sizeof(key), "%s:%s", prefix, arr[i].name);
		fprintf(f, "%s{%s=", name, lbl);
		label(f, arr[i].name);
		fprintf(f, "} %llu\n", (unsigned long long)counted(m, key, arr[i].f.total));
	}
}

/* One exit latency distribution as a histogram's samples: log2 ns slots as buckets, bounds in
 * seconds; what (a label, written as is) tells the series apart. */
static void latency_samples(struct exposition *m, FILE *f, const char *name, const char *what,
			    const char *key_prefix, const struct snap_latency *l)
{
	char key[128];
	uint64_t cum = 0, count = 0, slot[KT_LAT_SLOTS];
	for (unsigned i = 0; i < KT_LAT_SLOTS; i++) {
		snprintf(key, sizeof(key), "%s:%u", key_prefix, i);
		count += slot[i] = counted(m, key, l->hist[i]);
	}
	for (unsigned i = 0; i < KT_LAT_SLOTS; i++) {
		cum += slot[i];
		fprintf(f, "%s_bucket{%s,le=\"%.9g\"} %llu\n", name, what,
			(double)(2ull << i) / 1e9, (unsigned long long)cum);
	}
	fprintf(f, "%s_bucket{%s,le=\"+Inf\"} %llu\n", name, what, (unsigned long long)count);
	snprintf(key, sizeof(key), "%s:sum", key_prefix);
	fprintf(f, "%s_sum{%s} %.9g\n", name, what, (double)counted(m, key, l->sum_ns) / 1e9);
	fprintf(f, "%s_count{%s} %llu\n", name, what, (unsigned long long)count);
}

/* An attached VM (vmscope attach): the VMM, its vCPUs' exits and the time each exit kept a vCPU
 * out of the guest, its devices' ports and pages. */
static void attached(struct exposition *m, FILE *f, const struct snapshot *s)
{
	const struct snap_attached *a = &s->attached;
	char key[128], what[160];
	family(f, "vmscope_attached_info", "gauge",
	       "The VM watched: its VMM's process, the VMM and the guest's name where its command "
	       "line gives one");
	fprintf(f, "vmscope_attached_info{pid=\"%d\",vmm=", a->pid);
	label(f, a->vmm);
	fprintf(f, ",guest=");
	label(f, a->guest);
	fprintf(f, "} 1\n");
	family(f, "vmscope_attached_running", "gauge",
	       "Whether the watched VM still runs (0: exited)");
	fprintf(f, "vmscope_attached_running %d\n", s->state != VMM_STOPPED);
	if (a->nr_vcpu) {
		family(f, "vmscope_attached_vcpu_exits_total", "counter",
		       "Exits of each vCPU (source: its stats fd)");
		for (unsigned i = 0; i < a->nr_vcpu; i++) {
			snprintf(key, sizeof(key), "att:exits:%u", a->vcpu[i].id);
			fprintf(f, "vmscope_attached_vcpu_exits_total{vcpu=\"%u\"} %llu\n",
				a->vcpu[i].id,
				(unsigned long long)counted(m, key, a->vcpu[i].exits.total));
		}
	}
	if (a->lat_kind < KT_LAT_KINDS) {
		const char *kind = a->lat_kind == KT_LAT_EXIT ? "kvm_exit_to_kvm_entry"
							      : "userspace_exit_to_kvm_run";
		family(
		    f, "vmscope_exit_latency_seconds", "histogram",
		    "Time a vCPU spent out of the guest per exit, by reason, every vCPU (source: "
		    "bpf; kind: from kvm_exit to kvm_entry, or, where those do not fire, from a "
		    "userspace exit to the next KVM_RUN)");
		for (unsigned i = 0; i < a->nr_lat; i++) {
			char r[24];
			snprintf(r, sizeof(r), "%s", a->lat[i].reason);
			for (char *c = r; *c; c++) /* reason names are [A-Za-z0-9_] already */
				if (*c == '"' || *c == '\\')
					*c = '_';
			snprintf(what, sizeof(what), "reason=\"%s\",kind=\"%s\"", r, kind);
			snprintf(key, sizeof(key), "att:lat:%s", r);
			latency_samples(m, f, "vmscope_exit_latency_seconds", what, key,
					&a->lat[i]);
		}
		family(
		    f, "vmscope_vcpu_exit_latency_seconds", "histogram",
		    "Time a vCPU spent out of the guest per exit, every reason, by vCPU (source: "
		    "bpf)");
		for (unsigned i = 0; i < a->nr_vcpu; i++) {
			if (!a->vcpu[i].lat_valid)
				continue;
			snprintf(what, sizeof(what), "vcpu=\"%u\",kind=\"%s\"", a->vcpu[i].id,
				 kind);
			snprintf(key, sizeof(key), "att:vlat:%u", a->vcpu[i].id);
			latency_samples(m, f, "vmscope_vcpu_exit_latency_seconds", what, key,
					&a->vcpu[i].lat);
		}
	}
	if (s->bpf_on) {
		/* read at kvm_userspace_exit: the exits to the VMM only */
		bool vmm = !strcmp(a->io_source, "kvm_userspace_exit");
		named(
		    m, f, "vmscope_attached_pio_exits_total",
		    vmm ? "Port I/O exits to the VMM by port (source: bpf kvm_userspace_exit, the "
			  "vCPU's kvm_run)"
			: "Port I/O exits by port (source: bpf kvm_pio)",
		    "port", a->pio, a->nr_pio, "att:pio");
		named(m, f, "vmscope_attached_mmio_exits_total",
		      vmm ? "MMIO exits to the VMM by guest-physical page (source: bpf "
			    "kvm_userspace_exit, the vCPU's kvm_run)"
			  : "MMIO exits by guest-physical page (source: bpf kvm_mmio)",
		      "page", a->mmio, a->nr_mmio, "att:mmio");
		named(m, f, "vmscope_attached_interrupts_total",
		      "Interrupts the vCPUs' LAPICs accepted, by vector (source: bpf "
		      "kvm_apic_accept_irq)",
		      "vector", a->irq, a->nr_irq, "att:irq");
		if (a->wake_polled.valid && a->wake_waited.valid) {
			family(f, "vmscope_attached_halt_wakeups_total", "counter",
			       "Halts woken: after waiting, or caught by halt-polling without a "
			       "sleep (source: bpf kvm_vcpu_wakeup)");
			fprintf(f, "vmscope_attached_halt_wakeups_total{how=\"waited\"} %llu\n",
				(unsigned long long)counted(m, "att:woke:w", a->wake_waited.total));
			fprintf(f, "vmscope_attached_halt_wakeups_total{how=\"polled\"} %llu\n",
				(unsigned long long)counted(m, "att:woke:p", a->wake_polled.total));
		}
	}
}

/* What the probes see of any VM, and what they cost: the same families for ours and an attached
 * one. */
static void probes(struct exposition *m, FILE *f, const struct snapshot *s)
{
	if (s->bpf_on) {
		family(
		    f, "vmscope_bpf_sampled_every", "gauge",
		    "1: the eBPF probes count all the time; N (attach --sample): they are on for "
		    "one tick in N, and every bpf counter here is of those ticks");
		fprintf(f, "vmscope_bpf_sampled_every %u\n",
			s->bpf_sampled_every ? s->bpf_sampled_every : 1);
		named(m, f, "vmscope_kvm_exit_reasons_total",
		      "kvm_exit by hardware exit reason (source: bpf; kvm_pvm has no kvm_exit)",
		      "reason", s->kexit, s->nr_kexit, "kexit");
		named(m, f, "vmscope_kvm_userspace_exit_reasons_total",
		      "kvm_userspace_exit by KVM_EXIT_* reason (source: bpf)", "reason", s->uexit,
		      s->nr_uexit, "uexit");
	}
	if (s->bpf_on && s->bpf_cost_on && s->bpf_runs.valid) { /* what watching costs */
		family(f, "vmscope_observer_bpf_runs_total", "counter",
		       "Runs of vmscope's own eBPF probes, as they count themselves (the kernel's "
		       "run_cnt agrees in each window of its accounting)");
		fprintf(f, "vmscope_observer_bpf_runs_total %llu\n",
			(unsigned long long)counted(m, "cost:runs", s->bpf_runs.total));
		family(
		    f, "vmscope_observer_bpf_seconds_total", "counter",
		    "CPU time vmscope's own eBPF probes spent: each tick's runs at the ns a run "
		    "the "
		    "kernel's accounting measured (run_time_ns) in its last window, one tick in 8");
		fprintf(f, "vmscope_observer_bpf_seconds_total %.9f\n",
			(double)counted(m, "cost:ns", s->bpf_run_ns.total) / 1e9);
	}
}

/* Several VMs on one link (--vms): each VM's own figures with a vm label, and what they share. */
static void vms(struct exposition *m, FILE *f, const struct snapshot *s)
{
	const struct snap_vms *v = &s->vms;
	char key[128];
	if (!v->nr)
		return;
	family(f, "vmscope_vm_up", "gauge",
	       "Each VM on the link (--vms): 1 while its guest runs, with its address and role");
	for (unsigned i = 0; i < v->nr; i++)
		fprintf(f, "vmscope_vm_up{vm=\"%s\",ip=\"%s\",role=\"%s\"} %d\n", v->vm[i].name,
			v->vm[i].ip, v->vm[i].neighbour ? "neighbour" : "measures",
			v->vm[i].state == VMM_RUNNING);
	family(f, "vmscope_vm_packets_total", "counter",
	       "Each VM's packets by direction (tx: from the guest) and source (guest: its driver; "
	       "vmm: its card; peer: the far end's sink got them, or it sent them; capture: IPv4 "
	       "on the wire)");
	for (unsigned i = 0; i < v->nr; i++) {
		const struct snap_vm *o = &v->vm[i];
		const struct {
			const char *source, *dir;
			const struct figure *fig;
		} src[] = {{"guest", "tx", &o->pps_tx},	  {"guest", "rx", &o->pps_rx},
			   {"vmm", "tx", &o->dev_tx},	  {"vmm", "rx", &o->dev_rx},
			   {"peer", "tx", &o->peer_sink}, {"peer", "rx", &o->peer_sent},
			   {"capture", "tx", &o->cap_tx}, {"capture", "rx", &o->cap_rx}};
		for (unsigned k = 0; k < sizeof(src) / sizeof(src[0]); k++) {
			if (!src[k].fig->valid)
				continue;
			snprintf(key, sizeof(key), "vm:%s:pkts:%s:%s", o->name, src[k].source,
				 src[k].dir);
			fprintf(
			    f,
			    "vmscope_vm_packets_total{vm=\"%s\",direction=\"%s\",source=\"%s\"} "
			    "%llu\n",
			    o->name, src[k].dir, src[k].source,
			    (unsigned long long)counted(m, key, src[k].fig->total));
		}
	}
	family(f, "vmscope_vm_exits_total", "counter",
	       "Every exit of each VM's vCPU (source: its stats fd)");
	for (unsigned i = 0; i < v->nr; i++) {
		const struct snap_vm *o = &v->vm[i];
		if (!o->exits.valid)
			continue;
		snprintf(key, sizeof(key), "vm:%s:exits", o->name);
		fprintf(f, "vmscope_vm_exits_total{vm=\"%s\"} %llu\n", o->name,
			(unsigned long long)counted(m, key, o->exits.total));
	}
	family(f, "vmscope_vm_dropped_total", "counter",
	       "Each VM's frames its card dropped: no rx buffer posted, or the link refused its tx "
	       "(source: vmm)");
	for (unsigned i = 0; i < v->nr; i++) {
		const struct snap_vm *o = &v->vm[i];
		const struct {
			const char *why;
			const struct figure *fig;
		} d[] = {{"rx_no_buffer", &o->rx_no_buffer}, {"tx_dropped", &o->dev_tx_dropped}};
		for (unsigned k = 0; k < 2; k++) {
			if (!d[k].fig->valid)
				continue;
			snprintf(key, sizeof(key), "vm:%s:drop:%s", o->name, d[k].why);
			fprintf(f, "vmscope_vm_dropped_total{vm=\"%s\",why=\"%s\"} %llu\n", o->name,
				d[k].why, (unsigned long long)counted(m, key, d[k].fig->total));
		}
	}
	static const char *const q[3] = {"p50", "p99", "p999"};
	family(f, "vmscope_vm_ping_rtt_seconds", "gauge",
	       "Each pinging VM's round trips to its peer so far, by percentile (source: guest, "
	       "slots a quarter of an octave wide)");
	for (unsigned i = 0; i < v->nr; i++)
		for (unsigned k = 0; v->vm[i].latency_valid && k < 3; k++)
			fprintf(f,
				"vmscope_vm_ping_rtt_seconds{vm=\"%s\",percentile=\"%s\"} %.9g\n",
				v->vm[i].name, q[k], v->vm[i].latency_us[k] / 1e6);
	family(f, "vmscope_vm1_ping_rtt_seconds", "gauge",
	       "VM1's round trips on each card while its neighbours idled and while they "
	       "loaded the shared path, by percentile (source: guest)");
	for (unsigned c = NIC_MODE_EMULATED; c < NIC_MODE_MAX; c++)
		for (unsigned l = 0; l < 2; l++)
			for (unsigned k = 0; v->load[c].valid[l] && k < 3; k++)
				fprintf(f,
					"vmscope_vm1_ping_rtt_seconds{nic_mode=\"%s\",load=\"%s\","
					"percentile=\"%s\"} %.9g\n",
					nic_mode_name(c), l ? "loaded" : "alone", q[k],
					v->load[c].us[l][k] / 1e6);
	family(f, "vmscope_vms_switched_frames_total", "counter",
	       "Frames from one VM to another that never reached the link (source: vmm)");
	fprintf(f, "vmscope_vms_switched_frames_total %llu\n",
		(unsigned long long)counted(m, "vms:switched", v->switched.total));
	if (v->path_cpu.valid) {
		family(f, "vmscope_vms_path_cpu_seconds_per_packet", "gauge",
		       "CPU of the network thread every VM shares, per packet of all of them, last "
		       "tick: the VMM's path, or the SR-IOV card's engine (source: thread clock)");
		fprintf(f, "vmscope_vms_path_cpu_seconds_per_packet{path=\"%s\"} %.9g\n",
			v->path_card ? "card" : "vmm", v->path_cpu.value / 1e9);
	}
}

void exposition_render(struct exposition *m, FILE *f, const struct snapshot *s)
{
	char key[128];
	if (s->attached.on) {
		family(f, "vmscope_info", "gauge",
		       "What runs: vmscope's version and the host's virtualization");
		fprintf(f, "vmscope_info{version=");
		label(f, VMSCOPE_VERSION);
		fprintf(f, ",host=\"%s\"} 1\n", host_kind_name(s->host));
		attached(m, f, s);
		probes(m, f, s);
		return;
	}
	family(f, "vmscope_info", "gauge",
	       "What runs: vmscope's version, the host's virtualization "
	       "and the guest's CPU mode");
	fprintf(f, "vmscope_info{version=");
	label(f, VMSCOPE_VERSION);
	fprintf(f, ",host=\"%s\",cpu_mode=\"%s\"} 1\n", host_kind_name(s->host),
		cpu_mode_name(s->cpu_mode));

	family(
	    f, "vmscope_exits_total", "counter",
	    "Exits the guest's workload made, by kind and by the source that counted them (guest, "
	    "vmm, stats fd, bpf)");
	for (unsigned k = 0; k < EK_MAX; k++)
		for (unsigned src = 0; src < SRC_MAX; src++) {
			if (!s->exits[k][src].valid)
				continue;
			snprintf(key, sizeof(key), "exits:%u:%u", k, src);
			fprintf(f, "vmscope_exits_total{kind=\"%s\",source=\"%s\"} %llu\n",
				exit_kind_name(k), source_name(src),
				(unsigned long long)counted(m, key, s->exits[k][src].total));
		}
	vcpu_exits(m, f, s);
	translated(m, f, s);
	probes(m, f, s);
	/* Hypercalls from the closest source that counts them. */
	for (unsigned src = 0; src < SRC_MAX; src++) {
		static const enum source order[] = {SRC_BPF, SRC_STATS, SRC_VMM, SRC_GUEST};
		const struct figure *h = &s->exits[EK_HYPERCALL][order[src]];
		if (!h->valid)
			continue;
		family(f, "vmscope_hypercalls_total", "counter", "Hypercalls the guest made");
		snprintf(key, sizeof(key), "exits:%u:%u", EK_HYPERCALL, order[src]);
		fprintf(f, "vmscope_hypercalls_total{source=\"%s\"} %llu\n",
			source_name(order[src]), (unsigned long long)counted(m, key, h->total));
		break;
	}
	if (s->work.valid) {
		family(f, "vmscope_work_seconds_per_instruction", "gauge",
		       "What a plain instruction of the guest's work loop costs, fastest loop so "
		       "far: in "
		       "the guest (this CPU mode) and natively on the host");
		fprintf(f, "vmscope_work_seconds_per_instruction{where=\"guest\"} %.6g\n",
			s->work.ns_per_insn / 1e9);
		fprintf(f, "vmscope_work_seconds_per_instruction{where=\"host\"} %.6g\n",
			s->work.host_ns_per_insn / 1e9);
	}
	if (s->link_on) { /* the TAP link (absent with the in-process peer) */
		family(
		    f, "vmscope_link_up", "gauge",
		    "Whether the TAP link to the peer works (0: set down or removed from outside)");
		fprintf(f, "vmscope_link_up %d\n", s->link_state == LINK_UP);
		family(f, "vmscope_link_faults_total", "counter",
		       "Times the TAP link went down or was removed from outside");
		fprintf(f, "vmscope_link_faults_total %llu\n",
			(unsigned long long)counted(m, "link_faults", s->link_faults));
	}
	packets(m, f, s);
	ping_histogram(m, f, s);
	switches(m, f, s);
	vms(m, f, s);
}
