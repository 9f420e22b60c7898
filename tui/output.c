/* Headless record writers. The schema is documented in README.md ("Headless records"). */
#include "output.h"

#include "vmm/nic.h"
#include "vmm/vmm.h"

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* Rates keep three decimals: enough for slow ticks, stable to compare. */
static void json_num(FILE *f, double v) { fprintf(f, "%.3f", v); }

/* A per-packet figure: four decimals, null when no source made it this tick. */
static void json_pp(FILE *f, const struct per_packet *p)
{
	if (p->valid)
		fprintf(f, "%.4f", p->value);
	else
		fputs("null", f);
}

/* Per-packet parts [first, last) as "key":{part: value, ..., "sources":{part: source, ...}}. */
static void json_pp_group(FILE *f, const char *key, const struct per_packet *pp, unsigned first,
			  unsigned last)
{
	fprintf(f, ",\"%s\":{", key);
	for (unsigned p = first; p < last; p++) {
		fprintf(f, "%s\"%s\":", p > first ? "," : "", per_packet_name(p));
		json_pp(f, &pp[p]);
	}
	fputs(",\"sources\":{", f);
	for (unsigned p = first; p < last; p++) {
		fprintf(f, "%s\"%s\":", p > first ? "," : "", per_packet_name(p));
		json_str(f, pp[p].source[0] ? pp[p].source : "-");
	}
	fputs("}}", f);
}

static void json_ms(FILE *f, const char *key, double v, bool valid)
{
	fprintf(f, ",\"%s\":", key);
	if (valid)
		fprintf(f, "%.3f", v);
	else
		fputs("null", f);
}

/* What happened this tick: the live switches that ended, with their measurements. */
static void json_events(FILE *f, const struct snapshot *s)
{
	fputs(",\"events\":[", f);
	for (unsigned i = 0; i < s->nr_events; i++) {
		const struct snap_event *e = &s->events[i];
		fprintf(f, "%s{\"kind\":", i ? "," : "");
		json_str(f, e->kind);
		fprintf(f, ",\"t\":%.3f,\"from\":", e->t);
		json_str(f, e->from);
		fputs(",\"to\":", f);
		json_str(f, e->to);
		fprintf(f, ",\"ok\":%s", e->ok ? "true" : "false");
		json_ms(f, "duration_ms", e->duration_ms, true);
		json_ms(f, "probe_ms", e->probe_ms, e->ok);
		fputs(",\"blackout_ms\":{\"sources\":[\"capture\",\"vmm\"]", f);
		json_ms(f, "capture", e->blackout_ms[0], e->blackout_valid[0]);
		json_ms(f, "vmm", e->blackout_ms[1], e->blackout_valid[1]);
		fputs("}", f);
		if (e->lost_valid)
			fprintf(f, ",\"lost\":%llu", (unsigned long long)e->lost);
		else
			fputs(",\"lost\":null", f);
		if (e->why[0]) {
			fputs(",\"why\":", f);
			json_str(f, e->why);
		}
		fputc('}', f);
	}
	fputc(']', f);
}

/* The compare table: each NIC mode's last figures, null for a mode not measured yet. */
static void json_compare(FILE *f, const struct snapshot *s)
{
	fputs(",\"compare\":{", f);
	for (unsigned m = NIC_MODE_EMULATED; m < NIC_MODE_MAX; m++) {
		const struct mode_figures *c = &s->compare[m];
		fprintf(f, "%s\"%s\":", m > NIC_MODE_EMULATED ? "," : "", nic_mode_name(m));
		if (!c->valid) {
			fputs("null", f);
			continue;
		}
		fprintf(f, "{\"t\":%.3f,\"workload\":", c->t);
		json_str(f, c->workload);
		fputs(",\"tx_pps\":", f);
		json_num(f, c->tx_pps);
		fputs(",\"rx_pps\":", f);
		json_num(f, c->rx_pps);
		json_ms(f, "ping_p50_us", c->ping_p50_us, c->ping_valid);
		json_ms(f, "ping_p99_us", c->ping_p99_us, c->ping_valid);
		const struct {
			const char *key;
			const struct per_packet *pp;
		} parts[] = {{"exits_per_packet", &c->exits_all}, {"nic_exits_per_packet", &c->exits_nic},
			     {"irqs_per_packet", &c->irqs}, {"cpu_ns_per_packet", &c->cpu}};
		for (unsigned i = 0; i < 4; i++) {
			fprintf(f, ",\"%s\":", parts[i].key);
			json_pp(f, parts[i].pp);
		}
		fputc('}', f);
	}
	fputc('}', f);
}

static void json_named_rates(FILE *f, const char *key, const struct named_figure *arr, unsigned nr)
{
	fprintf(f, ",\"%s\":{", key);
	bool first = true;
	for (unsigned i = 0; i < nr; i++) {
		if (arr[i].instant)
			continue; /* values, not rates: "stats_now" */
		fprintf(f, "%s", first ? "" : ",");
		first = false;
		json_str(f, arr[i].name);
		fputc(':', f);
		json_num(f, arr[i].f.rate);
	}
	fputc('}', f);
}

void out_jsonl(FILE *f, const struct snapshot *s)
{
	fprintf(f, "{\"t\":%.3f,\"seq\":%llu,\"dt\":%.3f,\"host\":", s->t, (unsigned long long)s->seq,
		s->dt);
	json_str(f, s->host);
	fputs(",\"cpu_mode\":", f);
	json_str(f, s->cpu_mode);
	fputs(",\"state\":", f);
	json_str(f, s->state);
	if (s->reason[0]) {
		fputs(",\"reason\":", f);
		json_str(f, s->reason);
	}
	fputs(",\"workload\":", f);
	json_str(f, s->workload);
	fputs(",\"kind\":", f);
	json_str(f, s->exit_kind);
	fprintf(f, ",\"rate\":%u", s->rate);

	fputs(",\"exits\":{", f);
	for (unsigned k = 0; k < EK_MAX; k++) {
		fprintf(f, "%s\"%s\":", k ? "," : "", exit_kind_name(k));
		json_num(f, s->exits[k][s->exits_src[k]].rate);
	}
	fputs("},\"sources\":{", f);
	for (unsigned k = 0; k < EK_MAX; k++)
		fprintf(f, "%s\"%s\":\"%s\"", k ? "," : "", exit_kind_name(k),
			source_name(s->exits_src[k]));
	fputs("},\"by_source\":{", f);
	for (unsigned src = 0; src < SRC_MAX; src++) {
		fprintf(f, "%s\"%s\":{", src ? "," : "", source_name(src));
		bool first = true;
		for (unsigned k = 0; k < EK_MAX; k++) {
			if (!s->exits[k][src].valid)
				continue;
			fprintf(f, "%s\"%s\":", first ? "" : ",", exit_kind_name(k));
			json_num(f, s->exits[k][src].rate);
			first = false;
		}
		fputc('}', f);
	}
	fputs("},\"guest\":{", f);
	fprintf(f, "\"heartbeat\":%llu,\"idle_halts\":", (unsigned long long)s->heartbeat);
	json_num(f, s->idle_halts.rate);
	fputs(",\"interrupts\":{\"mode\":", f);
	json_str(f, s->irq_mode[0] ? s->irq_mode : "none");
	const struct {
		const char *name;
		const struct figure *f;
	} irqs[] = {{"timer", &s->irq_timer}, {"doorbell", &s->irq_doorbell},
		    {"self_ipi", &s->irq_self}, {"nic", &s->irq_nic}};
	for (unsigned i = 0; i < sizeof(irqs) / sizeof(irqs[0]); i++) {
		fprintf(f, ",\"%s\":", irqs[i].name);
		json_num(f, irqs[i].f->rate);
	}
	fputc('}', f);
	fputs(",\"ops\":{", f);
	for (unsigned k = 0; k < EK_MAX; k++)
		fprintf(f, "%s\"%s\":%llu", k ? "," : "", exit_kind_name(k),
			(unsigned long long)s->cost[k].ops);
	fputs("},\"cost_ns\":{", f);
	for (unsigned k = 0; k < EK_MAX; k++)
		fprintf(f, "%s\"%s\":{\"avg\":%.1f,\"min\":%.1f,\"max\":%.1f}", k ? "," : "",
			exit_kind_name(k), s->cost[k].avg_ns, s->cost[k].min_ns, s->cost[k].max_ns);
	fprintf(f, "},\"boot_ms\":{\"first_insn\":%.3f,\"banner\":%.3f}}", s->boot_first_insn_ms,
		s->boot_banner_ms);

	fputs(",\"nic_mode\":", f);
	json_str(f, s->nic_mode[0] ? s->nic_mode : "none");
	if (s->net_on) {
		fputs(",\"net\":{\"backend\":", f);
		json_str(f, s->backend);
		fputs(",\"netns\":", f);
		json_str(f, s->netns);
		fprintf(f, ",\"pkt_size\":%u,\"pps_tx\":", s->pkt_size);
		json_num(f, s->pps_tx.rate);
		fputs(",\"pps_rx\":", f);
		json_num(f, s->pps_rx.rate);
		if (s->latency_valid) {
			fprintf(f, ",\"latency_us\":{\"p50\":%.1f,\"p99\":%.1f,\"p999\":%.1f,\"avg\":%.1f,"
				   "\"hist_log2_cycles\":[",
				s->latency_us[0], s->latency_us[1], s->latency_us[2], s->latency_avg_us);
			for (unsigned i = 0; i < HIST_SLOTS; i++)
				fprintf(f, "%s%llu", i ? "," : "", (unsigned long long)s->latency_hist[i]);
			fputs("]}", f);
		} else {
			fputs(",\"latency_us\":null", f); /* the workload sends no pings */
		}
		fprintf(f, ",\"lost\":%llu,\"rx_lost\":%llu", (unsigned long long)s->ping_lost.total,
			(unsigned long long)s->rx_lost.total);
		json_pp_group(f, "exits_per_packet", s->per_packet, 0, PP_IRQS);
		fputs(",\"irqs_per_packet\":", f);
		json_pp(f, &s->per_packet[PP_IRQS]);
		json_pp_group(f, "cpu_ns_per_packet", s->per_packet, PP_CPU_CARD, PP_MAX);
		if (s->net_why[0]) {
			fputs(",\"why\":", f);
			json_str(f, s->net_why);
		}
		fputs(",\"switching\":", f);
		if (s->switching)
			json_str(f, s->switch_to);
		else
			fputs("null", f);
		json_compare(f, s);
		fputs(",\"udp_echoed\":", f);
		json_num(f, s->udp_echoed.rate);
		fprintf(f, ",\"peer_echo_rtt_us\":%.1f", s->peer_echo_rtt_us);
		fputs(",\"device\":{\"chip\":", f);
		json_str(f, s->nic_chip);
		fputs(",\"tx\":", f);
		json_num(f, s->dev_tx.rate);
		fputs(",\"rx\":", f);
		json_num(f, s->dev_rx.rate);
		fputs(",\"interrupts\":", f);
		json_num(f, s->dev_irqs.rate);
		fputs(",\"rx_no_buffer\":", f);
		json_num(f, s->rx_no_buffer.rate);
		fputs(",\"tx_dropped\":", f);
		json_num(f, s->dev_tx_dropped.rate);
		fputs(",\"tx_backpressure\":", f);
		json_num(f, s->dev_tx_backpressure.rate);
		fprintf(f, ",\"tx_dropped_total\":%llu", (unsigned long long)s->dev_tx_dropped.total);
		/* Every counter of the card by name (per second and since start), and the registers
		 * that caused exits, busiest first. */
		fputs(",\"counters\":{", f);
		for (unsigned i = 0; i < s->nr_dev_counters; i++) {
			fputs(i ? "," : "", f);
			json_str(f, s->dev_counter[i].name);
			fputs(":{\"per_s\":", f);
			json_num(f, s->dev_counter[i].f.rate);
			fprintf(f, ",\"total\":%llu}", (unsigned long long)s->dev_counter[i].f.total);
		}
		fputs("},\"registers\":[", f);
		for (unsigned i = 0, n = 0; i < s->nr_dev_regs; i++) {
			if (!s->dev_reg[i].f.total)
				continue;
			fputs(n++ ? ",{\"name\":" : "{\"name\":", f);
			json_str(f, s->dev_reg[i].name);
			fputs(",\"exits_per_s\":", f);
			json_num(f, s->dev_reg[i].f.rate);
			fprintf(f, ",\"total\":%llu}", (unsigned long long)s->dev_reg[i].f.total);
		}
		fputs("]}", f);
		if (s->peer_sink.valid) {
			fputs(",\"peer\":{\"sink\":", f);
			json_num(f, s->peer_sink.rate);
			fputs(",\"echo\":", f);
			json_num(f, s->peer_echo.rate);
			fputs("}", f);
		}
		fprintf(f, ",\"capture\":{\"on\":%s", s->cap_on ? "true" : "false");
		if (s->cap_on) {
			fputs(",\"pps_from_guest\":", f);
			json_num(f, s->cap_from_guest.rate);
			fputs(",\"pps_to_guest\":", f);
			json_num(f, s->cap_to_guest.rate);
			fprintf(f, ",\"rtt_us\":{\"p50\":%.1f,\"p99\":%.1f,\"p999\":%.1f,\"avg\":%.1f,"
				   "\"samples\":%llu},\"lost\":%llu,\"reordered\":%llu,\"kernel_drops\":%llu",
				s->cap_rtt_us[0], s->cap_rtt_us[1], s->cap_rtt_us[2], s->cap_rtt_avg_us,
				(unsigned long long)s->cap_rtt_samples, (unsigned long long)s->cap_lost,
				(unsigned long long)s->cap_reordered, (unsigned long long)s->cap_drops);
		} else {
			fputs(",\"why\":", f);
			json_str(f, s->cap_why);
		}
		fputs("}", f);
		fputs(",\"sources\":{\"pps_tx\":\"guest\",\"pps_rx\":\"guest\",\"latency_us\":\"guest\","
		      "\"lost\":\"guest\",\"irqs_per_packet\":\"vmm\",\"device\":\"vmm\",\"peer\":\"peer\",\"capture\":\"capture\"}}",
		      f);
	}

	json_named_rates(f, "vmm", s->vmm, s->nr_vmm);
	json_named_rates(f, "stats", s->stats, s->nr_stats);
	fputs(",\"stats_now\":{", f);
	bool first = true;
	for (unsigned i = 0; i < s->nr_stats; i++) {
		if (!s->stats[i].instant)
			continue;
		fprintf(f, "%s", first ? "" : ",");
		json_str(f, s->stats[i].name);
		fprintf(f, ":%llu", (unsigned long long)s->stats[i].f.total);
		first = false;
	}
	fputs("},\"halts\":{", f);
	first = true;
	for (unsigned src = 0; src < SRC_MAX; src++) {
		if (!s->halts[src].valid)
			continue;
		fprintf(f, "%s\"%s\":", first ? "" : ",", source_name(src));
		json_num(f, s->halts[src].rate);
		first = false;
	}
	fputc('}', f);
	json_events(f, s);
	fprintf(f, ",\"bpf\":{\"on\":%s", s->bpf_on ? "true" : "false");
	if (!s->bpf_on) {
		fputs(",\"why\":", f);
		json_str(f, s->bpf_why);
	} else {
		fputs(",\"events\":{", f);
		bool first = true;
		for (unsigned e = 0; e < KT_MAX; e++) {
			if (!s->bpf_event[e].valid)
				continue;
			fprintf(f, "%s\"%s\":", first ? "" : ",", kt_event_name(e));
			json_num(f, s->bpf_event[e].rate);
			first = false;
		}
		fputc('}', f);
		json_named_rates(f, "userspace_exit_reasons", s->uexit, s->nr_uexit);
		json_named_rates(f, "exit_reasons", s->kexit, s->nr_kexit);
	}
	fputs("}}\n", f);
}

void out_csv_header(FILE *f)
{
	fputs("t,host,cpu_mode,state,workload,kind,rate", f);
	for (unsigned k = 0; k < EK_MAX; k++)
		fprintf(f, ",exits_%s,source_%s,cost_avg_ns_%s", exit_kind_name(k), exit_kind_name(k),
			exit_kind_name(k));
	fputs(",idle_halts,bpf,nic_mode,pps_tx,pps_rx,latency_p50_us,latency_p99_us,lost", f);
	for (unsigned p = 0; p < PP_MAX; p++)
		fprintf(f, ",%s_per_packet%s%s", p == PP_IRQS ? "irqs" : p >= PP_CPU_CARD ? "cpu_ns" : "exits",
			p == PP_IRQS || p == PP_ALL ? "" : "_", p == PP_IRQS || p == PP_ALL ? "" : per_packet_name(p));
	fputc('\n', f);
}

void out_csv(FILE *f, const struct snapshot *s)
{
	fprintf(f, "%.3f,%s,%s,%s,%s,%s,%u", s->t, s->host, s->cpu_mode, s->state, s->workload,
		s->exit_kind, s->rate);
	for (unsigned k = 0; k < EK_MAX; k++)
		fprintf(f, ",%.3f,%s,%.1f", s->exits[k][s->exits_src[k]].rate,
			source_name(s->exits_src[k]), s->cost[k].avg_ns);
	fprintf(f, ",%.3f,%s,%s,%.3f,%.3f,", s->idle_halts.rate, s->bpf_on ? "on" : "off",
		s->nic_mode[0] ? s->nic_mode : "none", s->pps_tx.rate, s->pps_rx.rate);
	/* A figure this run does not make is an empty field, never a 0. */
	if (s->latency_valid)
		fprintf(f, "%.1f,%.1f,", s->latency_us[0], s->latency_us[1]);
	else
		fputs(",,", f);
	fprintf(f, "%llu", (unsigned long long)s->ping_lost.total);
	for (unsigned p = 0; p < PP_MAX; p++)
		if (s->per_packet[p].valid)
			fprintf(f, ",%.4f", s->per_packet[p].value);
		else
			fputs(",", f);
	fputc('\n', f);
}
