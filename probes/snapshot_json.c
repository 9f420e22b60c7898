/* The snapshot's JSON: one walk (walk_snapshot) visits every field once, in the schema's order,
 * and a visitor either writes it (fixed decimals, so records stay stable to compare) or reads
 * it back from jansson's tree. */
#define _GNU_SOURCE
#include "probes/snapshot_json.h"
#include "probes/jv.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/names.h"

static const char *n_host(unsigned i)
{
	return host_kind_name((enum host_kind)i);
}
static const char *n_cpu(unsigned i)
{
	return cpu_mode_name((enum cpu_mode)i);
}
static const char *n_state(unsigned i)
{
	return vmm_state_name((enum vmm_state)i);
}
static const char *n_workload(unsigned i)
{
	return workload_name(i);
}
static const char *n_kind(unsigned i)
{
	return snap_kind_name(i);
}
static const char *n_nic(unsigned i)
{
	return nic_mode_name((enum nic_mode)i);
}
static const char *n_source(unsigned i)
{
	return source_name((enum source)i);
}
static const char *n_link(unsigned i)
{
	return link_state_name((enum link_state)i);
}
static const char *n_event(unsigned i)
{
	return snap_event_name((enum snap_event_kind)i);
}

static const char *n_lat(unsigned i)
{
	static const char *const names[] = {[KT_LAT_EXIT] = "kvm_exit_to_kvm_entry",
					    [KT_LAT_USERSPACE] = "userspace_exit_to_kvm_run",
					    [KT_LAT_KINDS] = "none"};
	return i <= KT_LAT_KINDS ? names[i] : NULL;
}

#define JV_ENUM(v, key, field, names, max)                                                         \
	do {                                                                                       \
		unsigned e_ = (unsigned)(field);                                                   \
		jv_name(v, key, &e_, names, max);                                                  \
		(field) = e_;                                                                      \
	} while (0)

/* A counter: {"per_s": rate, "total": n}, or null where its source does not count it. */
static void jv_fig_fields(struct jv *v, struct figure *f)
{
	jv_f64(v, "per_s", &f->rate, 3);
	jv_u64(v, "total", &f->total);
}

static void jv_fig(struct jv *v, const char *key, struct figure *f)
{
	if (!jv_begin_opt(v, key, &f->valid))
		return;
	jv_fig_fields(v, f);
	jv_end(v, false);
}

/* Named counters in their order: {name: counter, ...}; an instant value (a peak or a level, not
 * a counter) is {"now": value}. */
static void jv_named(struct jv *v, const char *key, struct named_figure *arr, unsigned *nr,
		     unsigned max)
{
	if (!jv_begin(v, key, false))
		return;
	if (!v->rd) {
		for (unsigned i = 0; i < *nr; i++) {
			if (!arr[i].instant) {
				jv_fig(v, arr[i].name, &arr[i].f);
				continue;
			}
			jv_begin(v, arr[i].name, false);
			jv_u64(v, "now", &arr[i].f.total);
			jv_end(v, false);
		}
	} else {
		const char *name;
		json_t *val;
		json_object_foreach(v->at[v->depth], name, val)
		{
			if (*nr >= max) {
				jv_fail(v, NULL, "has more than %u entries", max);
				break;
			}
			struct named_figure *n = &arr[(*nr)++];
			snprintf(n->name, sizeof(n->name), "%s", name);
			n->instant = json_is_object(val) && json_object_get(val, "now");
			if (n->instant) {
				jv_begin(v, name, false);
				jv_u64(v, "now", &n->f.total);
				n->f.valid = true;
				jv_end(v, false);
			} else {
				jv_fig(v, name, &n->f);
			}
		}
	}
	jv_end(v, false);
}

/* Per-packet figures: a number, or null when no packet moved or no source sees it. */
static void jv_pp_value(struct jv *v, const char *key, struct per_packet *p)
{
	jv_opt_f64(v, key, &p->value, &p->valid, 4);
}

static void jv_pp_source(struct jv *v, const char *key, struct per_packet *p)
{
	if (!v->rd && !p->source[0]) {
		jv_key(v, key);
		jv_put_str(v->f, "-");
		return;
	}
	jv_str(v, key, p->source, sizeof(p->source), false);
	if (v->rd && !strcmp(p->source, "-"))
		p->source[0] = 0;
}

/* Parts [first, last) as {part: value, ..., "sources": {part: source}}. */
static void jv_pp_group(struct jv *v, const char *key, struct per_packet *pp, unsigned first,
			unsigned last)
{
	if (!jv_begin(v, key, false))
		return;
	for (unsigned p = first; p < last; p++)
		jv_pp_value(v, per_packet_name(p), &pp[p]);
	if (jv_begin(v, "sources", false)) {
		for (unsigned p = first; p < last; p++)
			jv_pp_source(v, per_packet_name(p), &pp[p]);
		jv_end(v, false);
	}
	jv_end(v, false);
}

static void jv_hist(struct jv *v, const char *key, uint64_t *hist)
{
	_Static_assert(HIST_SLOTS == KT_LAT_SLOTS, "one log2 histogram shape for both");
	if (!jv_begin(v, key, true))
		return;
	unsigned n = v->rd ? jv_len(v, HIST_SLOTS, key) : HIST_SLOTS;
	for (unsigned i = 0; i < n; i++)
		jv_u64(v, NULL, &hist[i]);
	jv_end(v, true);
}

/* Round trips in microseconds: p50, p99, p999 and the average, in the current object. */
static void jv_rtt_fields(struct jv *v, double us[3], double *avg)
{
	static const char *const q[3] = {"p50", "p99", "p999"};
	for (unsigned i = 0; i < 3; i++)
		jv_f64(v, q[i], &us[i], 1);
	jv_f64(v, "avg", avg, 1);
}

static void walk_events(struct jv *v, struct snapshot *s)
{
	if (!jv_begin(v, "events", true))
		return;
	unsigned n = v->rd ? jv_len(v, SNAP_EVENTS_MAX, "events") : s->nr_events;
	for (unsigned i = 0; i < n; i++) {
		struct snap_event *e = &s->events[i];
		if (!jv_begin(v, NULL, false))
			continue;
		JV_ENUM(v, "kind", e->kind, n_event, SEV_MAX);
		jv_f64(v, "t", &e->t, 3);
		/* from and to are cards for a switch, CPU modes for a guest's restart or failure.
		 */
		bool nic = e->kind == SEV_NIC_SWITCH, link = e->kind == SEV_LINK;
		const char *(*names)(unsigned) = nic ? n_nic : link ? n_link : n_cpu;
		unsigned max = nic ? NIC_MODE_MAX : link ? LINK_STATE_MAX : CPU_MODE_MAX;
		jv_name(v, "from", &e->from, names, max);
		jv_name(v, "to", &e->to, names, max);
		jv_bool(v, "ok", &e->ok);
		if (nic && (v->rd || e->refused)) { /* written only when true: older lines stay */
			bool was = e->refused;
			if (!v->rd)
				jv_bool(v, "refused", &was);
			else if (json_object_get(v->at[v->depth], "refused"))
				jv_bool(v, "refused", &e->refused);
		}
		if (nic && !e->refused) {
			jv_f64(v, "duration_ms", &e->duration_ms, 3);
			bool probe = e->ok;
			jv_opt_f64(v, "probe_ms", &e->probe_ms, &probe, 3);
			if (jv_begin(v, "blackout_ms", false)) {
				static const char *const src[2] = {"capture", "vmm"};
				if (!v->rd) { /* which source each figure comes from, for the
						 reader's eye */
					jv_key(v, "sources");
					fputs("[\"capture\",\"vmm\"]", v->f);
				}
				for (unsigned b = 0; b < 2; b++)
					jv_opt_f64(v, src[b], &e->blackout_ms[b],
						   &e->blackout_valid[b], 3);
				jv_end(v, false);
			}
			jv_opt_u64(v, "lost", &e->lost, &e->lost_valid);
		}
		jv_str(v, "why", e->why, sizeof(e->why), true);
		jv_end(v, false);
		if (v->rd)
			s->nr_events = i + 1;
	}
	jv_end(v, true);
}

static void walk_compare(struct jv *v, struct snapshot *s)
{
	if (!jv_begin(v, "compare", false))
		return;
	for (unsigned m = NIC_MODE_EMULATED; m < NIC_MODE_MAX; m++) {
		struct mode_figures *c = &s->compare[m];
		if (!jv_begin_opt(v, nic_mode_name(m), &c->valid))
			continue;
		jv_f64(v, "t", &c->t, 3);
		JV_ENUM(v, "workload", c->workload, n_workload, WL_MAX);
		jv_f64(v, "tx_pps", &c->tx_pps, 3);
		jv_f64(v, "rx_pps", &c->rx_pps, 3);
		jv_opt_f64(v, "ping_p50_us", &c->ping_p50_us, &c->ping_valid, 3);
		bool p99 = c->ping_valid;
		jv_opt_f64(v, "ping_p99_us", &c->ping_p99_us, &p99, 3);
		struct {
			const char *key;
			struct per_packet *pp;
		} parts[] = {{"nic_exits_per_packet", &c->exits_nic},
			     {"userspace_exits_per_packet", &c->exits_user},
			     {"exits_per_packet", &c->exits_all},
			     {"irqs_per_packet", &c->irqs},
			     {"host_cpu_ns_per_packet", &c->cpu_host},
			     {"card_cpu_ns_per_packet", &c->cpu_card}};
		const unsigned nr = sizeof(parts) / sizeof(parts[0]);
		for (unsigned i = 0; i < nr; i++)
			jv_pp_value(v, parts[i].key, parts[i].pp);
		if (jv_begin(v, "sources", false)) {
			for (unsigned i = 0; i < nr; i++)
				jv_pp_source(v, parts[i].key, parts[i].pp);
			jv_end(v, false);
		}
		jv_end(v, false);
	}
	jv_end(v, false);
}

/* "files": what the session writes where the user asked (--pcap, --log), and whether it still
 * does: a record says when an output stopped, and why. Absent when none was asked for. */
static void walk_files(struct jv *v, struct snapshot *s)
{
	if ((!v->rd && !s->pcap_on && !s->log_on) || !jv_begin(v, "files", false))
		return;
	if ((v->rd || s->pcap_on) && jv_begin(v, "pcap", false)) {
		s->pcap_on = true;
		jv_u64(v, "packets", &s->pcap_packets);
		jv_str(v, "stopped", s->pcap_stopped, sizeof(s->pcap_stopped), true);
		jv_end(v, false);
	}
	if ((v->rd || s->log_on) && jv_begin(v, "log", false)) {
		s->log_on = true;
		jv_u64(v, "lines", &s->log_lines);
		jv_str(v, "stopped", s->log_stopped, sizeof(s->log_stopped), true);
		jv_end(v, false);
	}
	jv_end(v, false);
}

static void walk_capture(struct jv *v, struct snapshot *s)
{
	if (!jv_begin(v, "capture", false))
		return;
	jv_bool(v, "on", &s->cap_on);
	if (!s->cap_on) {
		jv_str(v, "why", s->cap_why, sizeof(s->cap_why), false);
		jv_end(v, false);
		return;
	}
	jv_fig(v, "from_guest", &s->cap_from_guest);
	jv_fig(v, "to_guest", &s->cap_to_guest);
	bool rtt = s->cap_rtt_samples > 0; /* null: no guest-started round trip crossed the wire */
	if (jv_begin_opt(v, "rtt_us", &rtt)) {
		jv_rtt_fields(v, s->cap_rtt_us, &s->cap_rtt_avg_us);
		jv_u64(v, "samples", &s->cap_rtt_samples);
		jv_end(v, false);
	}
	jv_u64(v, "lost", &s->cap_lost);
	jv_u64(v, "reordered", &s->cap_reordered);
	jv_u64(v, "kernel_drops", &s->cap_drops);
	jv_u64(v, "unread", &s->cap_unread);
	jv_u64(v, "echo_unanswered", &s->cap_echo_unanswered);
	jv_end(v, false);
}

static void walk_device(struct jv *v, struct snapshot *s)
{
	if (!jv_begin(v, "device", false))
		return;
	jv_str(v, "chip", s->nic_chip, sizeof(s->nic_chip), false);
	jv_fig(v, "tx", &s->dev_tx);
	jv_fig(v, "rx", &s->dev_rx);
	jv_fig(v, "interrupts", &s->dev_irqs);
	jv_fig(v, "rx_no_buffer", &s->rx_no_buffer);
	jv_fig(v, "tx_dropped", &s->dev_tx_dropped);
	jv_fig(v, "tx_backpressure", &s->dev_tx_backpressure);
	/* Every counter of the card by name, and the exits per register, busiest first. */
	jv_named(v, "counters", s->dev_counter, &s->nr_dev_counters, SNAP_DEV_COUNTERS_MAX);
	if (jv_begin(v, "registers", true)) {
		unsigned n = v->rd ? jv_len(v, SNAP_DEV_REGS_MAX, "registers") : s->nr_dev_regs;
		for (unsigned i = 0; i < n; i++) {
			struct named_figure *r = &s->dev_reg[i];
			if (!jv_begin(v, NULL, false))
				continue;
			jv_str(v, "name", r->name, sizeof(r->name), false);
			jv_fig_fields(v, &r->f);
			r->f.valid = true;
			jv_end(v, false);
			if (v->rd)
				s->nr_dev_regs = i + 1;
		}
		jv_end(v, true);
	}
	jv_end(v, false);
}

static void walk_net(struct jv *v, struct snapshot *s)
{
	if (!v->rd && !s->net_on)
		return;
	s->net_on = jv_begin(v, "net", false);
	if (!s->net_on)
		return;
	jv_str(v, "backend", s->backend, sizeof(s->backend), false);
	jv_str(v, "netns", s->netns, sizeof(s->netns), false);
	jv_str(v, "why", s->net_why, sizeof(s->net_why), true);
	/* The TAP link's state; absent with the loopback peer (and in older recordings). */
	if ((v->rd || s->link_on) && jv_begin(v, "link", false)) {
		s->link_on = true;
		JV_ENUM(v, "state", s->link_state, n_link, LINK_STATE_MAX);
		jv_u64(v, "faults", &s->link_faults);
		jv_str(v, "why", s->link_why, sizeof(s->link_why), true);
		jv_end(v, false);
	}
	jv_fig(v, "pps_tx", &s->pps_tx);
	jv_fig(v, "pps_rx", &s->pps_rx);
	if (jv_begin_opt(v, "latency_us",
			 &s->latency_valid)) { /* null: the workload sends no pings */
		jv_rtt_fields(v, s->latency_us, &s->latency_avg_us);
		jv_end(v, false);
	}
	/* The ping taken apart where it passes; null: not pinging, or not timed. */
	if (jv_begin_opt(v, "ping_hops_us", &s->hops.valid)) {
		for (unsigned i = 0; i < HOP_MAX; i++)
			jv_f64(v, ping_hop_name(i), &s->hops.us[i], 2);
		jv_opt_f64(v, "wire", &s->hops.wire_us, &s->hops.wire_valid, 2);
		jv_f64(v, "send_call", &s->hops.send_us, 2);
		if (!v->rd && jv_begin(v, "sources", false)) {
			for (unsigned i = 0; i < HOP_MAX; i++) {
				jv_key(v, ping_hop_name(i));
				jv_put_str(v->f, ping_hop_source(i));
			}
			jv_key(v, "wire");
			jv_put_str(v->f, "capture");
			jv_key(v, "send_call");
			jv_put_str(v->f, "guest");
			jv_end(v, false);
		}
		jv_end(v, false);
	}
	jv_hist(v, "ping_hist_log2_cycles", s->latency_hist);
	jv_u64(v, "tsc_khz", &s->tsc_khz);
	jv_fig(v, "ping_lost", &s->ping_lost);
	jv_fig(v, "rx_lost", &s->rx_lost);
	jv_fig(v, "udp_echoed", &s->udp_echoed);
	jv_pp_group(v, "exits_per_packet", s->per_packet, PP_ALL, PP_IRQS);
	jv_pp_group(v, "irqs_per_packet", s->per_packet, PP_IRQS, PP_CPU_CARD);
	jv_pp_group(v, "cpu_ns_per_packet", s->per_packet, PP_CPU_CARD, PP_MAX);
	if (jv_begin(v, "nic_exits", false)) {
		for (unsigned src = 0; src < SRC_MAX; src++)
			jv_fig(v, source_name(src), &s->nic_exits[src]);
		jv_end(v, false);
	}
	/* The card a switch under way goes to, or null. */
	if (jv_present(v, "switching", &s->switching))
		JV_ENUM(v, "switching", s->switch_to, n_nic, NIC_MODE_MAX);
	walk_compare(v, s);
	jv_opt_f64(v, "peer_echo_rtt_us", &s->peer_echo_rtt_us, &s->peer_echo_rtt_valid, 1);
	walk_device(v, s);
	bool peer = s->peer_sink.valid;
	if (jv_begin_opt(v, "peer", &peer)) {
		jv_fig(v, "sink", &s->peer_sink);
		jv_fig(v, "echo", &s->peer_echo);
		jv_fig(v, "sent", &s->peer_sent);
		jv_end(v, false);
	}
	walk_capture(v, s);
	jv_end(v, false);
}

/* {reason: per interrupt, ...}, in the order they were first seen. */
static void walk_reasons(struct jv *v, struct cpu_figures *c)
{
	if (!v->rd) {
		for (unsigned r = 0; r < c->nr_reasons; r++)
			jv_f64(v, c->reasons[r].name, &c->reasons[r].per_irq, 4);
		return;
	}
	const char *name;
	json_t *val;
	c->nr_reasons = 0;
	json_object_foreach(v->at[v->depth], name, val)
	{
		if (c->nr_reasons >= CPU_COMPARE_REASONS ||
		    strlen(name) >= sizeof(c->reasons[0].name)) {
			jv_fail(v, NULL, "has more than %u reasons, or one over %zu characters",
				CPU_COMPARE_REASONS, sizeof(c->reasons[0].name) - 1);
			break;
		}
		unsigned r = c->nr_reasons++;
		snprintf(c->reasons[r].name, sizeof(c->reasons[r].name), "%s", name);
		jv_f64(v, name, &c->reasons[r].per_irq, 4);
	}
}

/* "cpu_compare": the CPU modes this session ran, each a row per interrupt (struct cpu_figures). */
static void walk_cpu_compare(struct jv *v, struct snapshot *s)
{
	if (!jv_begin(v, "cpu_compare", false))
		return;
	for (unsigned m = CPU_HARDWARE; m < CPU_MODE_MAX; m++) {
		struct cpu_figures *c = &s->cpu_compare[m];
		if (!jv_begin_opt(v, n_cpu(m), &c->valid))
			continue;
		jv_f64(v, "t", &c->t, 3);
		jv_u64(v, "irqs", &c->irqs);
		jv_f64(v, "eoi_lapic_per_irq", &c->eoi_lapic_per_irq, 4);
		jv_opt_f64(v, "exits_per_irq", &c->exits_per_irq, &c->exits_valid, 4);
		jv_str(v, "exits_source", c->exits_source, sizeof(c->exits_source), true);
		if (jv_begin(v, "exit_reasons_per_irq", false)) {
			walk_reasons(v, c);
			jv_end(v, false);
		}
		jv_end(v, false);
	}
	jv_end(v, false);
}

static void walk_guest(struct jv *v, struct snapshot *s)
{
	if (!jv_begin(v, "guest", false))
		return;
	jv_u64(v, "heartbeat", &s->heartbeat);
	jv_fig(v, "idle_halts", &s->idle_halts);
	if (jv_begin(v, "interrupts", false)) {
		jv_str(v, "mode", s->irq_mode, sizeof(s->irq_mode), false);
		jv_fig(v, "timer", &s->irq_timer);
		jv_fig(v, "doorbell", &s->irq_command);
		jv_fig(v, "self_ipi", &s->irq_self);
		jv_fig(v, "nic", &s->irq_nic);
		jv_fig(v, "eoi_lapic", &s->eoi_lapic);
		jv_fig(v, "eoi_pv", &s->eoi_pv);
		jv_end(v, false);
	}
	if (jv_begin_opt(v, "kvm_pv", &s->kvm_pv_on)) {
		jv_u32(v, "features", &s->kvm_features);
		jv_str(v, "used", s->kvm_pv_used, sizeof(s->kvm_pv_used), false);
		jv_fig(v, "steal_ns", &s->steal_ns);
		jv_end(v, false);
	}
	walk_cpu_compare(v, s);
	if (jv_begin(v, "cost_ns", false)) {
		for (unsigned k = 0; k < EK_MAX; k++) {
			struct kind_cost *c = &s->cost[k];
			if (!jv_begin(v, exit_kind_name(k), false))
				continue;
			jv_u64(v, "ops", &c->ops);
			jv_f64(v, "avg", &c->avg_ns, 1);
			jv_f64(v, "min", &c->min_ns, 1);
			jv_f64(v, "max", &c->max_ns, 1);
			jv_hist(v, "hist_log2_cycles", c->hist);
			jv_end(v, false);
		}
		jv_end(v, false);
	}
	if (jv_begin_opt(v, "work", &s->work.valid)) {
		jv_u64(v, "loops", &s->work.loops);
		jv_f64(v, "ns_per_insn", &s->work.ns_per_insn, 6);
		jv_f64(v, "host_ns_per_insn", &s->work.host_ns_per_insn, 6);
		jv_end(v, false);
	}
	if (jv_begin(v, "boot_ms", false)) {
		jv_f64(v, "first_insn", &s->boot_first_insn_ms, 3);
		jv_f64(v, "banner", &s->boot_banner_ms, 3);
		jv_end(v, false);
	}
	jv_end(v, false);
}

static void walk_bpf(struct jv *v, struct snapshot *s)
{
	if (!jv_begin(v, "bpf", false))
		return;
	jv_bool(v, "on", &s->bpf_on);
	if (!s->bpf_on) {
		jv_str(v, "why", s->bpf_why, sizeof(s->bpf_why), false);
	} else {
		/* Written when sampled only (older lines: all the time). */
		bool every = v->rd ? json_object_get(v->at[v->depth], "sampled_every") != NULL
				   : s->bpf_sampled_every > 0;
		if (every)
			jv_u32(v, "sampled_every", &s->bpf_sampled_every);
		if (jv_begin(v, "events", false)) {
			for (unsigned e = 0; e < KT_MAX; e++)
				if (v->rd || s->bpf_event[e].valid)
					jv_fig(v, kt_event_name(e), &s->bpf_event[e]);
			jv_end(v, false);
		}
		jv_named(v, "userspace_exit_reasons", s->uexit, &s->nr_uexit, SNAP_REASONS_MAX);
		jv_named(v, "exit_reasons", s->kexit, &s->nr_kexit, SNAP_REASONS_MAX);
		jv_named(v, "hypercalls", s->hcall, &s->nr_hcall, SNAP_REASONS_MAX);
		/* The observer's own cost (older lines have none: it stays off). */
		bool cost =
		    v->rd ? json_object_get(v->at[v->depth], "cost") != NULL : s->bpf_cost_on;
		if (cost && jv_begin(v, "cost", false)) {
			s->bpf_cost_on = true;
			if (!v->rd) {
				jv_key(v, "source");
				fputs("\"kernel\"",
				      v->f); /* BPF_ENABLE_STATS: run_cnt, run_time_ns */
			}
			jv_u32(v, "sampled_every", &s->bpf_cost_every);
			jv_fig(v, "runs", &s->bpf_runs);
			jv_fig(v, "run_ns", &s->bpf_run_ns);
			jv_fig(v, "other_processes", &s->bpf_others);
			jv_fig(v, "uncounted", &s->bpf_uncounted);
			/* The kernel's last window of accounting: null until one has ended. */
			bool win = v->rd ? true : s->bpf_win_seq > 0;
			if (jv_begin_opt(v, "window", &win)) {
				jv_u64(v, "seq", &s->bpf_win_seq);
				jv_u64(v, "runs", &s->bpf_win_runs);
				jv_u64(v, "run_ns", &s->bpf_win_ns);
				jv_u64(v, "counted", &s->bpf_win_counted);
				jv_end(v, false);
			}
			jv_opt_f64(v, "ns_per_event", &s->bpf_ns_per_run, &s->bpf_ns_per_run_valid,
				   1);
			jv_opt_f64(v, "vcpu_share", &s->bpf_vcpu_share, &s->bpf_vcpu_share_valid,
				   5);
			jv_end(v, false);
		}
	}
	jv_end(v, false);
}

static void walk_log(struct jv *v, struct snapshot *s)
{
	if (jv_begin(v, "log", true)) {
		unsigned n = v->rd ? jv_len(v, SNAP_LOG_MAX, "log") : s->nr_log;
		for (unsigned i = 0; i < n; i++)
			jv_str(v, NULL, s->log[i], sizeof(s->log[i]), false);
		if (v->rd)
			s->nr_log = n;
		jv_end(v, true);
	}
	jv_u32(v, "log_dropped", &s->log_dropped);
}

/* An exit latency distribution: its count and quantiles (written for the reader; read back,
 * they are made again from the histogram), its sum and max, the log2 ns histogram. */
static void walk_latency(struct jv *v, struct snap_latency *l)
{
	double p50 = snap_latency_us(l, 0.5), p99 = snap_latency_us(l, 0.99),
	       max = (double)l->max_ns / 1000.0;
	jv_u64(v, "count", &l->count);
	jv_f64(v, "p50_us", &p50, 2);
	jv_f64(v, "p99_us", &p99, 2);
	jv_f64(v, "max_us", &max, 2);
	jv_u64(v, "sum_ns", &l->sum_ns);
	jv_u64(v, "max_ns", &l->max_ns);
	jv_hist(v, "hist_log2_ns", l->hist);
}

static void walk_attached(struct jv *v, struct snapshot *s)
{
	struct snap_attached *a = &s->attached;
	if (!jv_begin(v, "attached", false))
		return;
	a->on = true;
	uint32_t pid = (uint32_t)a->pid;
	jv_u32(v, "pid", &pid);
	a->pid = (int)pid;
	jv_str(v, "vmm", a->vmm, sizeof(a->vmm), false);
	jv_str(v, "comm", a->comm, sizeof(a->comm), false);
	jv_str(v, "guest", a->guest, sizeof(a->guest), true);
	jv_u32(v, "vcpus", &a->vcpus);
	if (!v->rd) { /* why the built-in VM's figures are not here: for the reader's eye */
		jv_key(v, "absent");
		jv_put_str(v->f, snap_attached_absent);
	}
	jv_str(v, "stats_why", a->stats_why, sizeof(a->stats_why), true);
	if (jv_begin(v, "per_vcpu", true)) {
		unsigned n = v->rd ? jv_len(v, SNAP_VCPUS_MAX, "per_vcpu") : a->nr_vcpu;
		for (unsigned i = 0; i < n; i++) {
			struct snap_vcpu *c = &a->vcpu[i];
			if (!jv_begin(v, NULL, false))
				continue;
			jv_u32(v, "id", &c->id);
			jv_fig(v, "exits", &c->exits);
			jv_fig(v, "halts", &c->halts);
			if (jv_begin_opt(v, "latency", &c->lat_valid)) {
				walk_latency(v, &c->lat);
				jv_end(v, false);
			}
			jv_end(v, false);
			if (v->rd)
				a->nr_vcpu = i + 1;
		}
		jv_end(v, true);
	}
	jv_str(v, "io_source", a->io_source, sizeof(a->io_source), true);
	jv_named(v, "pio_by_port", a->pio, &a->nr_pio, SNAP_REASONS_MAX);
	jv_named(v, "mmio_by_page", a->mmio, &a->nr_mmio, SNAP_REASONS_MAX);
	jv_named(v, "irq_by_vector", a->irq, &a->nr_irq, SNAP_REASONS_MAX);
	if (jv_begin(v, "halt_wakeups", false)) {
		jv_fig(v, "polled", &a->wake_polled);
		jv_fig(v, "waited", &a->wake_waited);
		jv_end(v, false);
	}
	if (jv_begin(v, "latency", false)) {
		jv_name(v, "what", &a->lat_kind, n_lat, KT_LAT_KINDS + 1);
		jv_str(v, "why", a->lat_why, sizeof(a->lat_why), true);
		/* Written where exits are timed for one tick in N only (older lines: every one). */
		bool every = v->rd ? json_object_get(v->at[v->depth], "sampled_every") != NULL
				   : a->lat_every > 0;
		if (every)
			jv_u32(v, "sampled_every", &a->lat_every);
		if (jv_begin(v, "by_reason", true)) {
			unsigned n = v->rd ? jv_len(v, SNAP_LAT_MAX, "by_reason") : a->nr_lat;
			for (unsigned i = 0; i < n; i++) {
				struct snap_latency *l = &a->lat[i];
				if (!jv_begin(v, NULL, false))
					continue;
				jv_str(v, "reason", l->reason, sizeof(l->reason), false);
				walk_latency(v, l);
				jv_end(v, false);
				if (v->rd)
					a->nr_lat = i + 1;
			}
			jv_end(v, true);
		}
		jv_end(v, false);
	}
	jv_end(v, false);
}

/* --vms: "vms", an object per VM with the single-VM record's keys for its own figures, and
 * "shared", what they share (the network side's thread and the link). Absent with one VM. */
static void walk_vms(struct jv *v, struct snapshot *s)
{
	struct snap_vms *m = &s->vms;
	if (v->rd ? !json_object_get(v->at[v->depth], "vms") : !m->nr)
		return;
	if (jv_begin(v, "vms", true)) {
		unsigned n = v->rd ? jv_len(v, SNAP_VMS_MAX, "vms") : m->nr;
		for (unsigned i = 0; i < n; i++) {
			struct snap_vm *o = &m->vm[i];
			if (!jv_begin(v, NULL, false))
				continue;
			jv_str(v, "vm", o->name, sizeof(o->name), false);
			jv_str(v, "ip", o->ip, sizeof(o->ip), false);
			jv_str(v, "mac", o->mac, sizeof(o->mac), false);
			jv_bool(v, "neighbour", &o->neighbour);
			JV_ENUM(v, "state", o->state, n_state, VMM_STATE_MAX);
			jv_str(v, "reason", o->reason, sizeof(o->reason), true);
			JV_ENUM(v, "cpu_mode", o->cpu_mode, n_cpu, CPU_MODE_MAX);
			JV_ENUM(v, "workload", o->workload, n_workload, WL_MAX);
			jv_u32(v, "rate", &o->rate);
			JV_ENUM(v, "nic_mode", o->nic_mode, n_nic, NIC_MODE_MAX);
			if (jv_begin(v, "exits", false)) { /* every exit of its vCPU */
				jv_fig(v, "stats", &o->exits);
				jv_end(v, false);
			}
			if (jv_begin(v, "net", false)) {
				jv_fig(v, "pps_tx", &o->pps_tx);
				jv_fig(v, "pps_rx", &o->pps_rx);
				if (jv_begin_opt(v, "latency_us", &o->latency_valid)) {
					jv_rtt_fields(v, o->latency_us, &o->latency_avg_us);
					jv_end(v, false);
				}
				jv_fig(v, "ping_lost", &o->ping_lost);
				jv_fig(v, "rx_lost", &o->rx_lost);
				jv_fig(v, "peer_sink", &o->peer_sink); /* from this VM */
				jv_fig(v, "peer_sent", &o->peer_sent); /* to it */
				jv_fig(v, "capture_tx", &o->cap_tx);   /* on the wire */
				jv_fig(v, "capture_rx", &o->cap_rx);
				jv_pp_group(v, "exits_per_packet", o->per_packet, PP_ALL, PP_IRQS);
				jv_pp_group(v, "irqs_per_packet", o->per_packet, PP_IRQS,
					    PP_CPU_CARD);
				jv_pp_group(v, "cpu_ns_per_packet", o->per_packet, PP_CPU_CARD,
					    PP_MAX);
				if (jv_begin(v, "nic_exits", false)) {
					jv_fig(v, "vmm", &o->nic_exits);
					jv_end(v, false);
				}
				if (jv_begin(v, "device", false)) {
					jv_fig(v, "tx", &o->dev_tx);
					jv_fig(v, "rx", &o->dev_rx);
					jv_fig(v, "interrupts", &o->dev_irqs);
					jv_fig(v, "rx_no_buffer", &o->rx_no_buffer);
					jv_fig(v, "tx_dropped", &o->dev_tx_dropped);
					jv_end(v, false);
				}
				jv_end(v, false);
			}
			jv_end(v, false);
			if (v->rd)
				m->nr = i + 1;
		}
		jv_end(v, true);
	}
	if (!jv_begin(v, "shared", false))
		return;
	jv_u32(v, "host_cpus", &m->cpus);
	JV_ENUM(v, "neighbours", m->neighbours, n_workload, WL_MAX);
	jv_u32(v, "neighbour_rate", &m->neighbour_rate);
	jv_fig(v, "switched", &m->switched);
	jv_fig(v, "link_tx", &m->link_tx);
	jv_fig(v, "link_rx", &m->link_rx);
	jv_fig(v, "peer_sink", &m->peer_sink);
	if (jv_begin_opt(v, "link_queue", &m->queue_on)) { /* null: no TAP link (loopback) */
		jv_u64(v, "now", &m->queue_now);
		jv_u64(v, "peak", &m->queue_peak);
		jv_u64(v, "slots", &m->queue_slots);
		jv_end(v, false);
	}
	/* The network thread's ns per packet of every VM: the VMM's path (its switch and the
	 * cards it emulates), or the SR-IOV card's engine (path_is_card). */
	jv_bool(v, "path_is_card", &m->path_card);
	jv_pp_value(v, "path_cpu_ns_per_packet", &m->path_cpu);
	jv_pp_source(v, "path_cpu_source", &m->path_cpu);
	/* By card: null until VM1 pinged on it with its neighbours idle, or loading the path. */
	if (jv_begin(v, "vm1_latency_us", false)) {
		static const char *const q[3] = {"p50", "p99", "p999"}, *const l[2] = {"alone",
										       "loaded"};
		for (unsigned c = NIC_MODE_EMULATED; c < NIC_MODE_MAX; c++) {
			struct snap_vm1_load *o = &m->load[c];
			if (!jv_begin(v, nic_mode_name(c), false))
				continue;
			for (unsigned k = 0; k < 2; k++) {
				if (!jv_begin_opt(v, l[k], &o->valid[k]))
					continue;
				for (unsigned i = 0; i < 3; i++)
					jv_f64(v, q[i], &o->us[k][i], 1);
				jv_u64(v, "pings", &o->pings[k]);
				jv_end(v, false);
			}
			jv_end(v, false);
		}
		jv_end(v, false);
	}
	jv_end(v, false);
}

/* An attached VM's record: what the host sees of it, none of the built-in VM's keys. */
static void walk_attached_snapshot(struct jv *v, struct snapshot *s)
{
	walk_attached(v, s);
	jv_named(v, "stats", s->stats, &s->nr_stats, SNAP_STATS_MAX);
	walk_bpf(v, s);
	walk_events(v, s);
}

static void walk_snapshot(struct jv *v, struct snapshot *s)
{
	jv_f64(v, "t", &s->t, 3);
	jv_u64(v, "seq", &s->seq);
	jv_f64(v, "dt", &s->dt, 3);
	JV_ENUM(v, "host", s->host, n_host, HOST_KIND_MAX);
	bool attached =
	    v->rd ? json_object_get(v->at[v->depth], "attached") != NULL : s->attached.on;
	if (!attached)
		JV_ENUM(v, "cpu_mode", s->cpu_mode, n_cpu, CPU_MODE_MAX);
	JV_ENUM(v, "state", s->state, n_state, VMM_STATE_MAX);
	jv_str(v, "reason", s->reason, sizeof(s->reason), true);
	if (attached) {
		walk_attached_snapshot(v, s);
		walk_log(v, s);
		return;
	}
	JV_ENUM(v, "workload", s->workload, n_workload, WL_MAX);
	jv_name(v, "kind", &s->exit_kind, n_kind, SNAP_NO_KIND + 1);
	jv_u32(v, "rate", &s->rate);
	jv_u32(v, "pkt_size", &s->pkt_size);

	/* "exits": each kind from the source closest to the event (named in "sources"); every
	 * source's own count is in "by_source". A convenience: the reader takes by_source. */
	if (!v->rd && jv_begin(v, "exits", false)) {
		for (unsigned k = 0; k < EK_MAX; k++)
			jv_f64(v, exit_kind_name(k), &s->exits[k][s->exits_src[k]].rate, 3);
		jv_end(v, false);
	}
	if (jv_begin(v, "sources", false)) {
		for (unsigned k = 0; k < EK_MAX; k++)
			JV_ENUM(v, exit_kind_name(k), s->exits_src[k], n_source, SRC_MAX);
		jv_end(v, false);
	}
	if (jv_begin(v, "by_source", false)) {
		for (unsigned src = 0; src < SRC_MAX; src++) {
			if (!jv_begin(v, source_name(src), false))
				continue;
			for (unsigned k = 0; k < EK_MAX; k++)
				jv_fig(v, exit_kind_name(k), &s->exits[k][src]);
			jv_end(v, false);
		}
		jv_end(v, false);
	}
	if (jv_begin(v, "halts", false)) {
		for (unsigned src = 0; src < SRC_MAX; src++)
			jv_fig(v, source_name(src), &s->halts[src]);
		jv_end(v, false);
	}
	walk_guest(v, s);
	JV_ENUM(v, "nic_mode", s->nic_mode, n_nic, NIC_MODE_MAX);
	walk_net(v, s);
	walk_vms(v, s);
	jv_named(v, "vmm", s->vmm, &s->nr_vmm, SNAP_VMM_MAX);
	jv_named(v, "stats", s->stats, &s->nr_stats, SNAP_STATS_MAX);
	walk_events(v, s);
	/* Written only when some were dropped: older lines stay readable. */
	if (v->rd ? json_object_get(v->at[v->depth], "events_dropped") != NULL
		  : s->events_dropped > 0)
		jv_u32(v, "events_dropped", &s->events_dropped);
	walk_bpf(v, s);
	walk_files(v, s);
	if ((v->rd || s->tour.steps) && jv_begin(v, "tour", false)) {
		jv_u32(v, "step", &s->tour.step);
		jv_u32(v, "steps", &s->tour.steps);
		jv_str(v, "title", s->tour.title, sizeof(s->tour.title), false);
		jv_str(v, "caption", s->tour.caption, sizeof(s->tour.caption), false);
		jv_str(v, "note", s->tour.note, sizeof(s->tour.note), true);
		jv_end(v, false);
	}
	walk_log(v, s);
}

char *snapshot_to_json(const struct snapshot *s, size_t *len)
{
	char *buf = NULL;
	size_t n = 0;
	struct jv v = {.rd = false};
	v.f = open_memstream(&buf, &n);
	if (!v.f)
		return NULL;
	fputc('{', v.f);
	walk_snapshot(&v, (struct snapshot *)s); /* writing reads s only */
	fputs("}\n", v.f);
	if (fclose(v.f)) {
		free(buf);
		return NULL;
	}
	if (len)
		*len = n;
	return buf;
}

int snapshot_from_json(const char *text, size_t len, struct snapshot *s, char *err, size_t errlen)
{
	json_error_t je;
	memset(s, 0, sizeof(*s));
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		snprintf(err, errlen, "not JSON (%s at column %d)", je.text, je.column);
		return -1;
	}
	struct jv v = {.rd = true};
	v.at[0] = root;
	if (!json_is_object(root)) {
		snprintf(err, errlen, "not a JSON object");
		json_decref(root);
		return -1;
	}
	/* Every key the writer always writes: a line without one would show invented zeros. An
	 * attached VM's record has its own (vmscope attach). */
	static const char *const required[] = {
	    "t",    "seq",	"dt",	     "host",  "cpu_mode", "state", "workload",	 "kind",
	    "rate", "pkt_size", "by_source", "halts", "nic_mode", "log",   "log_dropped"};
	static const char *const required_attached[] = {
	    "t", "seq", "dt", "host", "state", "stats", "bpf", "events", "log", "log_dropped"};
	bool att = json_object_get(root, "attached") != NULL;
	const char *const *req = att ? required_attached : required;
	size_t nreq = att ? sizeof(required_attached) / sizeof(required_attached[0])
			  : sizeof(required) / sizeof(required[0]);
	for (size_t i = 0; i < nreq; i++)
		if (!json_object_get(root, req[i])) {
			snprintf(err, errlen, "not a vmscope record (no \"%s\")", req[i]);
			json_decref(root);
			return -1;
		}
	walk_snapshot(&v, s);
	json_decref(root);
	if (v.err[0]) {
		snprintf(err, errlen, "%s", v.err);
		return -1;
	}
	return 0;
}
