/* Headless writers: JSON lines parse as JSON objects, CSV rows match the header. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probes/snapshot.h"
#include "tests/harness.h"
#include "tui/output.h"
#include "probes/snapshot_json.h"
#include "tui/metrics.h"
#include "tui/record.h"
#include "tui/http_gate.h"
#include <unistd.h>
#include <jansson.h>

/* The record parses as one JSON object (jansson), and nothing follows it but the newline. */
static const char *json_value(const char *p)
{
	json_error_t je;
	size_t n = strcspn(p, "\n");
	json_t *j = json_loadb(p, n, 0, &je);
	bool ok = j && json_is_object(j);
	json_decref(j);
	return ok ? p + n : NULL;
}

static struct snapshot *sample(void)
{
	static struct snapshot s;
	memset(&s, 0, sizeof(s));
	s.t = 2.0;
	s.dt = 1.0;
	s.seq = 3;
	s.host = HOST_PVM;
	s.cpu_mode = CPU_PARAVIRT;
	s.state = VMM_FAILED;
	s.workload = WL_EXITS;
	s.exit_kind = EK_ALL;
	strcpy(s.reason, "guest said \"no\"\\\n");
	s.rate = 1000;
	for (unsigned k = 0; k < EK_MAX; k++) {
		figure_update(&s.exits[k][SRC_GUEST], 100 + k, 0, 1.0);
		s.exits_src[k] = SRC_GUEST;
		s.cost[k].ops = 100 + k;
		s.cost[k].avg_ns = 1234.5;
	}
	figure_update(&s.exits[EK_HLT][SRC_BPF], 500, 100, 2.0);
	s.exits_src[EK_HLT] = SRC_BPF;
	strcpy(s.stats[0].name, "exits");
	figure_update(&s.stats[0].f, 50, 10, 1.0);
	s.nr_stats = 1;
	strcpy(s.bpf_why, "eBPF probes are off: they need root");
	s.net_on = true;
	s.nic_mode = NIC_MODE_VIRTIO;
	strcpy(s.backend, "tap");
	strcpy(s.netns, "vmscope-1");
	figure_update(&s.pps_tx, 3000, 1000, 1.0);
	s.latency_valid = true;
	s.latency_us[0] = 120.5;
	s.latency_hist[17] = 4;
	s.per_packet[PP_ALL] = (struct per_packet){true, 0.25, "stats"};
	s.per_packet[PP_NIC] = (struct per_packet){true, 0.125, "bpf"};
	strcpy(s.stats[1].name, "blocking");
	s.stats[1].instant = true;
	s.stats[1].f = (struct figure){true, 1, 0};
	s.nr_stats = 2;
	return &s;
}

static char *render(void (*fn)(FILE *, const struct snapshot *), const struct snapshot *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	fn(f, s);
	fclose(f);
	return buf;
}

TEST(jsonl_is_one_valid_object_per_line_with_the_documented_keys)
{
	char *j = render(out_jsonl, sample());
	const char *end = json_value(j);
	REQUIRE(end);
	CHECK(!strcmp(end, "\n"));
	CHECK(strchr(j, '\n') == j + strlen(j) - 1);
	const char *keys[] = {"\"t\":2.000",
			      "\"cpu_mode\":\"paravirt\"",
			      "\"host\":\"pvm\"",
			      "\"workload\":\"exits\"",
			      "\"exits\":{\"pio_vmm\":100.000",
			      "\"sources\":{",
			      "\"hlt\":\"bpf\"",
			      "\"guest\":{",
			      "\"cost_ns\":{",
			      "\"stats\":{\"exits\":{\"per_s\":40.000,\"total\":50}",
			      "\"bpf\":{\"on\":false",
			      "\"reason\":\"guest said \\\"no\\\"\\\\\\u000a\"",
			      "\"nic_mode\":\"virtio\"",
			      "\"pps_tx\":{\"per_s\":2000.000,\"total\":3000}",
			      "\"p50\":120.5",
			      "\"exits_per_packet\":{\"all\":0.2500,\"userspace\":null,",
			      "\"nic\":0.1250,\"sources\":{\"all\":\"stats\"",
			      "\"irqs_per_packet\":{\"irqs\":null",
			      "\"blocking\":{\"now\":1}",
			      "\"backend\":\"tap\""};
	for (unsigned i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		CHECKF(strstr(j, keys[i]), "missing %s in %s", keys[i], j);
	CHECK(strstr(j, "\"hlt\":200.000")); /* 400 over 2 s, from bpf */
	free(j);
}

TEST(csv_rows_have_as_many_columns_as_the_header)
{
	char *h = NULL, *r = render(out_csv, sample());
	size_t len = 0;
	FILE *f = open_memstream(&h, &len);
	out_csv_header(f);
	fclose(f);
	unsigned ch = 0, cr = 0;
	for (char *p = h; *p; p++)
		ch += *p == ',';
	for (char *p = r; *p; p++)
		cr += *p == ',';
	CHECK(ch == cr && ch > 27);
	CHECK(!strncmp(h, "t,host,cpu_mode,state,workload,kind,rate,exits_pio_vmm,", 55));
	CHECK(!strncmp(r, "2.000,pvm,paravirt,failed,exits,all,1000,100.000,guest,", 55));
	free(h);
	free(r);
}

TEST(latency_percentiles_come_from_the_log2_histogram)
{
	uint64_t h[HIST_SLOTS] = {0};
	CHECK(hist_percentile_us(h, HIST_SLOTS, 0.5, 1000000) == 0);
	h[10] = 100; /* 1024..2047 cycles at 1 GHz: 1.024..2.048 us */
	CHECK(hist_percentile_us(h, HIST_SLOTS, 0.5, 1000000) > 1.5 &&
	      hist_percentile_us(h, HIST_SLOTS, 0.5, 1000000) < 1.6);
	h[20] = 1; /* one slow outlier: p99 stays in slot 10, p999 lands in slot 20 */
	CHECK(hist_percentile_us(h, HIST_SLOTS, 0.99, 1000000) < 2.1);
	CHECK(hist_percentile_us(h, HIST_SLOTS, 0.999, 1000000) > 1000);
}

/* The ping's finer histogram: every round trip lands in the slot that holds it, slots are a
 * quarter octave wide, and a p99 a fifth above the median reads as that, not as a factor of 2. */
TEST(ping_percentiles_come_from_quarter_octave_slots)
{
	for (uint64_t c = 1; c < (1ull << 34); c = c * 9 / 8 + 1) {
		unsigned s = rtt_slot(c);
		CHECKF(s < RTT_SLOTS, "%llu cycles: slot %u", (unsigned long long)c, s);
		if (c >= (1ull << RTT_LO) && c < rtt_slot_low(RTT_SLOTS))
			CHECKF(rtt_slot_low(s) <= c && c < rtt_slot_low(s + 1),
			       "%llu cycles in slot %u [%llu, %llu)", (unsigned long long)c, s,
			       (unsigned long long)rtt_slot_low(s),
			       (unsigned long long)rtt_slot_low(s + 1));
	}
	for (unsigned s = 0; s < RTT_SLOTS; s++) {
		double w = (double)rtt_slot_low(s + 1) / (double)rtt_slot_low(s);
		CHECK(w > 1.1 && w <= 1.26);
	}
	uint64_t h[RTT_SLOTS] = {0};
	CHECK(rtt_percentile_us(h, 0.5, 1000000) == 0);
	h[rtt_slot(10000)] = 99; /* 10 us at 1 GHz */
	h[rtt_slot(12000)] += 1; /* a p99 of 12 us: a fifth above */
	double p50 = rtt_percentile_us(h, 0.5, 1000000), p99 = rtt_percentile_us(h, 0.99, 1000000);
	double p999 = rtt_percentile_us(h, 0.999, 1000000);
	CHECKF(p50 > 8 && p50 < 12 && p99 > 8 && p99 < 12 && p999 > 11 && p999 < 14.5,
	       "p50 %.2f, p99 %.2f, p999 %.2f us", p50, p99, p999);
}

TEST(figure_rates_survive_counter_resets)
{
	struct figure f;
	figure_update(&f, 300, 100, 2.0);
	CHECK(f.valid && f.total == 300 && f.rate == 100.0);
	figure_update(&f, 5, 300, 1.0); /* the guest restarted: no negative rate */
	CHECK(f.rate == 0);
	figure_update(&f, 5, 0, 0); /* baseline tick */
	CHECK(f.rate == 0);
}

/* A figure the run does not make is null in JSON and an empty CSV field, never a stale 0 or the
 * last workload's value. */
TEST(figures_the_workload_does_not_make_are_null_not_zero)
{
	static struct snapshot s;
	s = *sample();
	s.latency_valid = false; /* say the workload is tx now */
	char *j = render(out_jsonl, &s), *c = render(out_csv, &s);
	REQUIRE(json_value(j));
	CHECK(strstr(j, "\"latency_us\":null"));
	CHECK(!strstr(j, "120.5"));
	CHECK(!strstr(c, "120.5"));
	/* p50, p99 empty; lost 0; all, -, -, nic, -; no CPU figures */
	CHECK(strstr(c, ",,0,0.2500,,,0.1250,,,,,,\n") != NULL);
	free(j);
	free(c);
}

/* A round trip nobody made has no time: not 0 us. */
TEST(round_trips_without_samples_are_null_not_zero)
{
	static struct snapshot s, back;
	char err[200];
	s = *sample();
	s.net_on = s.cap_on = true;
	s.cap_rtt_samples = 0;
	s.peer_echo_rtt_valid = false;
	size_t n;
	char *j = snapshot_to_json(&s, &n);
	REQUIRE(j);
	CHECK(strstr(j, "\"rtt_us\":null") && strstr(j, "\"peer_echo_rtt_us\":null"));
	CHECK(snapshot_from_json(j, n, &back, err, sizeof(err)) == 0);
	CHECK(back.cap_rtt_samples == 0 && !back.peer_echo_rtt_valid);
	free(j);
}

/* ---- The round trip: snapshot -> JSON -> snapshot, every field. ---- */

/* Values every decimal format of the record holds exactly (halves), different in every field. */
static double val(unsigned *n)
{
	return (double)(++*n) * 0.5 + 1;
}
static uint64_t cnt(unsigned *n)
{
	return ++*n * 7u;
}
static void fig(struct figure *f, unsigned *n)
{
	f->valid = true;
	f->rate = val(n);
	f->total = cnt(n);
}
static void pp(struct per_packet *p, unsigned *n, bool valid)
{
	p->valid = valid;
	p->value = valid ? val(n) : 0;
	snprintf(p->source, sizeof(p->source), "src%u", ++*n);
}

/* Every field of the snapshot set. on: every source on (bpf, capture, network, latency); off:
 * those off, with the fields each leaves out of the record empty. Kept whole (175 lines): it is
 * a list of the snapshot's fields in the schema's order, read against snapshot.h. */
static void fill_every_field(struct snapshot *s, bool on)
{
	unsigned n = 0;
	memset(s, 0, sizeof(*s));
	s->seq = cnt(&n);
	s->t = val(&n);
	s->dt = val(&n);
	s->host = HOST_AMDV;
	s->cpu_mode = CPU_HARDWARE;
	s->state = on ? VMM_RUNNING : VMM_FAILED;
	s->workload = on ? WL_PING : WL_EXITS;
	s->exit_kind = on ? SNAP_NO_KIND : EK_CPUID;
	s->rate = 12345;
	s->pkt_size = 256;
	snprintf(s->reason, sizeof(s->reason), on ? "" : "triple fault \"x\"\n");
	s->boot_first_insn_ms = val(&n);
	s->boot_banner_ms = val(&n);
	for (unsigned k = 0; k < EK_MAX; k++) {
		for (unsigned src = 0; src < SRC_MAX; src++)
			if ((k + src) % 3)
				fig(&s->exits[k][src], &n);
		s->exits_src[k] = (enum source)(k % SRC_MAX);
		s->cost[k].ops = cnt(&n);
		s->cost[k].avg_ns = val(&n) * 8;
		s->cost[k].min_ns = val(&n) * 8;
		s->cost[k].max_ns = val(&n) * 8;
		for (unsigned i = 0; i < HIST_SLOTS; i++)
			s->cost[k].hist[i] = cnt(&n);
	}
	fig(&s->idle_halts, &n);
	fig(&s->halts[SRC_GUEST], &n);
	fig(&s->halts[SRC_STATS], &n);
	snprintf(s->irq_mode, sizeof(s->irq_mode), "lapic");
	fig(&s->irq_timer, &n);
	fig(&s->irq_command, &n);
	fig(&s->irq_self, &n);
	fig(&s->irq_nic, &n);
	fig(&s->eoi_lapic, &n);
	fig(&s->eoi_pv, &n);
	if (on) { /* KVM's PV interfaces, and the CPU modes side by side */
		s->kvm_pv_on = true;
		s->kvm_features = (uint32_t)cnt(&n);
		snprintf(s->kvm_pv_used, sizeof(s->kvm_pv_used), "pv-eoi kvmclock");
		fig(&s->steal_ns, &n);
		for (unsigned m = CPU_HARDWARE; m <= CPU_PARAVIRT; m++) {
			struct cpu_figures *c = &s->cpu_compare[m];
			c->valid = true;
			c->t = val(&n);
			c->irqs = cnt(&n);
			c->eoi_lapic_per_irq = val(&n) / 4;
			c->exits_valid = m == CPU_PARAVIRT;
			c->exits_per_irq = c->exits_valid ? val(&n) : 0;
			snprintf(c->exits_source, sizeof(c->exits_source), "%s",
				 c->exits_valid ? "bpf" : "");
			c->nr_reasons = m == CPU_PARAVIRT ? 2 : 0;
			for (unsigned r = 0; r < c->nr_reasons; r++) {
				snprintf(c->reasons[r].name, sizeof(c->reasons[r].name), "%#x",
					 r ? 0x78u : 0x400u);
				c->reasons[r].per_irq = val(&n) / 4;
			}
		}
	}
	s->heartbeat = cnt(&n);
	s->work = (struct work_cost){.valid = true,
				     .loops = cnt(&n),
				     .ns_per_insn = val(&n) * 8,
				     .host_ns_per_insn = val(&n) / 4};
	s->nr_vmm = 3;
	for (unsigned i = 0; i < s->nr_vmm; i++) {
		snprintf(s->vmm[i].name, sizeof(s->vmm[i].name), "vmm_counter_%u", i);
		fig(&s->vmm[i].f, &n);
	}
	s->nr_stats = 4;
	for (unsigned i = 0; i < s->nr_stats; i++) {
		snprintf(s->stats[i].name, sizeof(s->stats[i].name), "stat_%u", i);
		s->stats[i].instant = i == 1;
		if (s->stats[i].instant) {
			s->stats[i].f.valid = true;
			s->stats[i].f.total = cnt(&n);
		} else
			fig(&s->stats[i].f, &n);
	}
	s->nic_mode = NIC_MODE_VF;
	if (on) {
		s->net_on = true;
		snprintf(s->backend, sizeof(s->backend), "tap");
		snprintf(s->netns, sizeof(s->netns), "vmscope-42");
		snprintf(s->nic_chip, sizeof(s->nic_chip), "Intel 82540EM");
		snprintf(s->net_why, sizeof(s->net_why), "why \\ not");
		fig(&s->pps_tx, &n);
		fig(&s->pps_rx, &n);
		fig(&s->dev_tx, &n);
		fig(&s->dev_rx, &n);
		fig(&s->peer_sink, &n);
		fig(&s->peer_echo, &n);
		fig(&s->ping_lost, &n);
		fig(&s->rx_lost, &n);
		fig(&s->udp_echoed, &n);
		s->peer_echo_rtt_us = 40.5;
		s->peer_echo_rtt_valid = true;
		s->latency_valid = true;
		for (unsigned i = 0; i < 3; i++)
			s->latency_us[i] = 10.5 * (i + 1);
		s->latency_avg_us = 12.5;
		for (unsigned i = 0; i < HIST_SLOTS; i++)
			s->latency_hist[i] = cnt(&n);
		s->tsc_khz = 2400000;
		for (unsigned p = 0; p < PP_MAX; p++)
			pp(&s->per_packet[p], &n, p != PP_CPU_CARD);
		fig(&s->nic_exits[SRC_VMM], &n);
		fig(&s->nic_exits[SRC_BPF], &n);
		fig(&s->dev_irqs, &n);
		fig(&s->rx_no_buffer, &n);
		s->nr_dev_counters = 5;
		for (unsigned i = 0; i < s->nr_dev_counters; i++) {
			snprintf(s->dev_counter[i].name, sizeof(s->dev_counter[i].name), "ctr_%u",
				 i);
			fig(&s->dev_counter[i].f, &n);
		}
		s->nr_dev_regs = 3;
		for (unsigned i = 0; i < s->nr_dev_regs; i++) {
			snprintf(s->dev_reg[i].name, sizeof(s->dev_reg[i].name), "REG%u", i);
			fig(&s->dev_reg[i].f, &n);
		}
		fig(&s->dev_tx_dropped, &n);
		fig(&s->dev_tx_backpressure, &n);
		s->cap_on = true;
		fig(&s->cap_from_guest, &n);
		fig(&s->cap_to_guest, &n);
		for (unsigned i = 0; i < 3; i++)
			s->cap_rtt_us[i] = 20.5 * (i + 1);
		s->cap_rtt_avg_us = 21.5;
		s->cap_rtt_samples = cnt(&n);
		s->cap_lost = cnt(&n);
		s->cap_reordered = cnt(&n);
		s->cap_drops = cnt(&n);
		s->cap_echo_unanswered = cnt(&n);
		s->pcap_on = s->log_on = true;
		s->pcap_packets = cnt(&n);
		strcpy(s->pcap_stopped, "No space left on device");
		s->log_lines = cnt(&n);
		s->switching = true;
		s->switch_to = NIC_MODE_EMULATED;
		for (unsigned m = NIC_MODE_EMULATED; m < NIC_MODE_MAX; m++) {
			struct mode_figures *c = &s->compare[m];
			if (m == NIC_MODE_VIRTIO)
				continue; /* not measured yet */
			c->valid = true;
			c->t = val(&n);
			c->workload = WL_TX;
			c->tx_pps = val(&n);
			c->rx_pps = val(&n);
			c->ping_valid = m == NIC_MODE_VF;
			c->ping_p50_us = c->ping_valid ? val(&n) : 0;
			c->ping_p99_us = c->ping_valid ? val(&n) : 0;
			pp(&c->exits_nic, &n, m == NIC_MODE_VF);
			pp(&c->exits_user, &n, true);
			pp(&c->exits_all, &n, true);
			pp(&c->irqs, &n, true);
			pp(&c->cpu_host, &n, true);
			pp(&c->cpu_card, &n, m == NIC_MODE_VF);
		}
		s->bpf_on = true;
		for (unsigned e = 0; e < KT_MAX; e++)
			if (e % 2)
				fig(&s->bpf_event[e], &n);
		s->nr_uexit = 2;
		s->nr_kexit = 3;
		for (unsigned i = 0; i < 3; i++) {
			snprintf(s->kexit[i].name, sizeof(s->kexit[i].name), "KEXIT%u", i);
			if (i < 2) {
				snprintf(s->uexit[i].name, sizeof(s->uexit[i].name), "UEXIT%u", i);
				fig(&s->uexit[i].f, &n);
			}
			fig(&s->kexit[i].f, &n);
		}
		s->nr_hcall = 1;
		snprintf(s->hcall[0].name, sizeof(s->hcall[0].name), "KVM_HC_SCHED_YIELD");
		fig(&s->hcall[0].f, &n);
		/* Field by field: a compound literal's padding is not zeroed, and the comparison is
		 * of bytes. */
		struct snap_event *e = s->events;
		s->nr_events = 2;
		e[0].t = val(&n), e[0].kind = SEV_NIC_SWITCH, e[0].from = NIC_MODE_VIRTIO;
		e[0].to = NIC_MODE_VF, e[0].ok = true, e[0].duration_ms = val(&n),
		e[0].probe_ms = val(&n);
		e[0].blackout_ms[0] = val(&n), e[0].blackout_valid[0] = true, e[0].lost = 3;
		e[0].lost_valid = true;
		e[1].t = val(&n), e[1].kind = SEV_NIC_SWITCH, e[1].from = NIC_MODE_VF;
		e[1].to = NIC_MODE_EMULATED, e[1].duration_ms = val(&n);
		snprintf(s->events[1].why, sizeof(s->events[1].why), "the guest did not bind it");
	} else {
		snprintf(s->bpf_why, sizeof(s->bpf_why), "eBPF probes are off: they need root");
		struct snap_event *e = s->events;
		s->nr_events = 2;
		e[0].t = val(&n), e[0].kind = SEV_GUEST_RESTARTED, e[0].from = CPU_PARAVIRT;
		e[0].to = CPU_EMULATED, e[0].ok = true;
		e[1].t = val(&n), e[1].kind = SEV_GUEST_FAILED, e[1].from = CPU_EMULATED,
		e[1].to = CPU_EMULATED;
		snprintf(s->events[1].why, sizeof(s->events[1].why), "triple fault");
	}
	if (on) { /* three VMs on the link (--vms) */
		struct snap_vms *m = &s->vms;
		m->nr = 3;
		m->cpus = 2;
		m->neighbours = WL_TX;
		m->neighbour_rate = 20000;
		fig(&m->switched, &n);
		fig(&m->link_tx, &n);
		fig(&m->link_rx, &n);
		fig(&m->peer_sink, &n);
		m->queue_on = true;
		m->queue_now = cnt(&n);
		m->queue_peak = cnt(&n);
		m->queue_slots = 256;
		pp(&m->path_cpu, &n, true);
		for (unsigned c = NIC_MODE_VIRTIO; c < NIC_MODE_MAX; c++)
			for (unsigned l = 0; l < (c == NIC_MODE_VF ? 1u : 2u); l++) {
				m->load[c].valid[l] = true;
				m->load[c].pings[l] = cnt(&n);
				for (unsigned k = 0; k < 3; k++)
					m->load[c].us[l][k] = val(&n);
			}
		for (unsigned i = 0; i < m->nr; i++) {
			struct snap_vm *v = &m->vm[i];
			snprintf(v->name, sizeof(v->name), "vm%u", i + 1);
			snprintf(v->ip, sizeof(v->ip), "10.77.0.%u", i + 2);
			snprintf(v->mac, sizeof(v->mac), "52:54:00:12:%02x:56", 0x34 + i);
			v->neighbour = i > 0;
			v->state = i == 2 ? VMM_FAILED : VMM_RUNNING;
			if (i == 2)
				snprintf(v->reason, sizeof(v->reason), "guest stopped responding");
			v->cpu_mode = CPU_HARDWARE;
			v->workload = i ? WL_TX : WL_PING;
			v->rate = i ? 20000 : 0;
			v->nic_mode = NIC_MODE_EMULATED;
			struct figure *f[] = {&v->pps_tx,    &v->pps_rx,       &v->ping_lost,
					      &v->rx_lost,   &v->dev_tx,       &v->dev_rx,
					      &v->dev_irqs,  &v->rx_no_buffer, &v->dev_tx_dropped,
					      &v->nic_exits, &v->exits};
			for (unsigned k = 0; k < sizeof(f) / sizeof(f[0]); k++)
				fig(f[k], &n);
			v->latency_valid = i == 0;
			for (unsigned k = 0; k < 3 && !i; k++)
				v->latency_us[k] = val(&n);
			v->latency_avg_us = i ? 0 : val(&n);
			for (unsigned p = 0; p < PP_MAX; p++)
				pp(&v->per_packet[p], &n, p != PP_CPU_CARD);
		}
	}
	if (on) {
		s->tour.step = 4;
		s->tour.steps = 6;
		snprintf(s->tour.title, sizeof(s->tour.title), "The emulated NIC");
		snprintf(s->tour.caption, sizeof(s->tour.caption), "Every register access traps.");
		snprintf(s->tour.note, sizeof(s->tour.note), "skipped: no VT-x");
	}
	s->nr_log = 3;
	s->log_dropped = 7;
	for (unsigned i = 0; i < s->nr_log; i++)
		snprintf(s->log[i], sizeof(s->log[i]), "[guest] line %u \"quoted\" \ttab", i);
}

static unsigned first_difference(const void *a, const void *b, size_t n)
{
	const unsigned char *x = a, *y = b;
	for (size_t i = 0; i < n; i++)
		if (x[i] != y[i])
			return (unsigned)i;
	return (unsigned)n;
}

TEST(a_snapshot_survives_json_and_back_in_every_field)
{
	static struct snapshot s, back;
	char err[200];
	for (int on = 0; on < 2; on++) {
		fill_every_field(&s, on);
		size_t n, n2;
		char *j = snapshot_to_json(&s, &n);
		REQUIRE(j);
		CHECK(json_value(j) == j + n - 1);
		int rc = snapshot_from_json(j, n, &back, err, sizeof(err));
		CHECKF(rc == 0, "%s", err);
		unsigned at = first_difference(&s, &back, sizeof(s));
		CHECKF(at == sizeof(s),
		       "sources %s: the snapshot read back differs at byte %u of %zu",
		       on ? "on" : "off", at, sizeof(s));
		char *j2 = snapshot_to_json(&back, &n2);
		CHECK(j2 && n2 == n && !memcmp(j, j2, n)); /* and writes the same bytes again */
		free(j);
		free(j2);
	}
}

/* An attached VM's record (vmscope attach): its own shape, every field of it back as written. */
static void fill_latency(struct snap_latency *l, const char *reason, unsigned *n)
{
	snprintf(l->reason, sizeof(l->reason), "%s", reason);
	for (unsigned i = 0; i < KT_LAT_SLOTS; i++)
		l->count += l->hist[i] = i % 5 ? 0 : cnt(n);
	l->sum_ns = cnt(n);
	l->max_ns = 3000;
}

TEST(an_attached_record_survives_json_and_back)
{
	static struct snapshot s, back;
	char err[200];
	unsigned n = 0;
	memset(&s, 0, sizeof(s));
	s.seq = cnt(&n);
	s.t = val(&n);
	s.dt = val(&n);
	s.host = HOST_VTX;
	s.state = VMM_STOPPED;
	snprintf(s.reason, sizeof(s.reason), "the VM exited (process 42 is gone)");
	struct snap_attached *a = &s.attached;
	a->on = true;
	a->pid = 42;
	snprintf(a->vmm, sizeof(a->vmm), "QEMU");
	snprintf(a->comm, sizeof(a->comm), "qemu-system-x86");
	snprintf(a->guest, sizeof(a->guest), "web \"1\"");
	a->vcpus = 3;
	a->nr_vcpu = 2;
	for (unsigned i = 0; i < 2; i++) {
		a->vcpu[i].id = i * 2;
		fig(&a->vcpu[i].exits, &n);
		fig(&a->vcpu[i].halts, &n);
		a->vcpu[i].lat_valid = i == 1;
		if (i == 1)
			fill_latency(&a->vcpu[i].lat, "", &n); /* every reason: it has no name */
	}
	a->nr_pio = 1;
	snprintf(a->pio[0].name, sizeof(a->pio[0].name), "0x80");
	fig(&a->pio[0].f, &n);
	a->nr_mmio = 1;
	snprintf(a->mmio[0].name, sizeof(a->mmio[0].name), "0xfee00000");
	fig(&a->mmio[0].f, &n);
	a->nr_irq = 1;
	snprintf(a->irq[0].name, sizeof(a->irq[0].name), "0xec");
	fig(&a->irq[0].f, &n);
	fig(&a->wake_polled, &n);
	fig(&a->wake_waited, &n);
	a->lat_kind = KT_LAT_EXIT;
	a->lat_every = 8; /* timed in windows, as on kvm_pvm */
	snprintf(a->io_source, sizeof(a->io_source), "kvm_userspace_exit");
	a->nr_lat = 2;
	fill_latency(&a->lat[0], "IO_INSTRUCTION", &n);
	fill_latency(&a->lat[1], "EPT_VIOLATION", &n);
	s.nr_stats = 2;
	snprintf(s.stats[0].name, sizeof(s.stats[0].name), "exits");
	fig(&s.stats[0].f, &n);
	snprintf(s.stats[1].name, sizeof(s.stats[1].name), "blocking");
	s.stats[1].instant = s.stats[1].f.valid = true;
	s.stats[1].f.total = 1;
	s.bpf_on = true;
	s.bpf_sampled_every = 8; /* attach --sample */
	for (unsigned e = 0; e < KT_MAX; e++)
		fig(&s.bpf_event[e], &n);
	s.nr_log = 1;
	snprintf(s.log[0], sizeof(s.log[0]), "attach: the VMM holds 3 vCPUs now (2 before)");
	size_t len, len2;
	char *j = snapshot_to_json(&s, &len);
	REQUIRE(j);
	CHECK(!strstr(j, "\"cpu_mode\"") && !strstr(j, "\"by_source\"") && strstr(j, "\"absent\""));
	int rc = snapshot_from_json(j, len, &back, err, sizeof(err));
	CHECKF(rc == 0, "%s", err);
	unsigned at = first_difference(&s, &back, sizeof(s));
	CHECKF(at == sizeof(s), "the attached record read back differs at byte %u of %zu", at,
	       sizeof(s));
	char *j2 = snapshot_to_json(&back, &len2);
	CHECK(j2 && len2 == len && !memcmp(j, j2, len));
	free(j);
	free(j2);
}

TEST(a_bad_record_is_refused_with_the_key_that_is_wrong)
{
	static struct snapshot s;
	char err[200];
	/* The keys every record has but those a case is about. */
#define KEYS                                                                                       \
	"\"dt\":1,\"kind\":\"all\",\"rate\":0,\"pkt_size\":64,\"halts\":{},\"nic_mode\":\"none\"," \
	"\"log_dropped\":0,"
	const struct {
		const char *text, *says;
	} bad[] = {
	    {"garbage", "not JSON"},
	    {"[1,2]", "not a JSON object"},
	    {"{\"t\":1}", "no \"seq\""},
	    {"{" KEYS "\"log\":[],\"t\":1,\"seq\":1,\"host\":\"pvm\",\"cpu_mode\":\"paravirt\","
	     "\"state\":\"running\",\"workload\":\"idle\",\"by_source\":{\"vmm\":{\"cpuid\":{\"per_"
	     "s\":"
	     "\"fast\"}}}}",
	     "\"by_source.vmm.cpuid.per_s\" is not a number"},
	    {"{" KEYS
	     "\"log\":[],\"by_source\":{},\"t\":1,\"seq\":1,\"host\":\"mars\",\"cpu_mode\":"
	     "\"paravirt\",\"state\":\"running\",\"workload\":\"idle\"}",
	     "\"host\" is not one of"},
	    {"{" KEYS
	     "\"log\":[],\"by_source\":{},\"t\":1,\"seq\":-1,\"host\":\"pvm\",\"cpu_mode\":"
	     "\"paravirt\",\"state\":\"running\",\"workload\":\"idle\"}",
	     "\"seq\" is not a count"},
	    {"{" KEYS
	     "\"by_source\":{},\"t\":1,\"seq\":1,\"host\":\"pvm\",\"cpu_mode\":\"paravirt\","
	     "\"state\":\"running\",\"workload\":\"idle\",\"log\":[\"a\",\"a\",\"a\",\"a\",\"a\","
	     "\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\","
	     "\"a\",\"a\",\"a\",\"a\",\"a\",\"a\"]}",
	     "at most 24"},
	    /* Valid JSON that lacks what a snapshot needs: refused, not shown as zeros. */
	    {"{\"t\":1,\"seq\":1,\"host\":\"pvm\",\"cpu_mode\":\"paravirt\",\"state\":\"running\","
	     "\"workload\":\"idle\"}",
	     "no \"dt\""},
	};
#undef KEYS
	for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		CHECKF(snapshot_from_json(bad[i].text, strlen(bad[i].text), &s, err, sizeof(err)) ==
			       -1 &&
			   strstr(err, bad[i].says),
		       "record %u: wanted \"%s\", got \"%s\"", i, bad[i].says, err);
	}
}

/* A recording read back gives the headless writer the bytes it wrote live. */
TEST(a_recording_replays_to_the_bytes_written_live)
{
	static struct snapshot s[3], back;
	char path[] = "/tmp/vmscope-rec-XXXXXX.jsonl.gz", err[600];
	int fd = mkstemps(path, 9);
	REQUIRE(fd >= 0);
	close(fd);
	struct recorder *rec;
	REQUIRE(recorder_open(&rec, path, 250, err, sizeof(err)) == 0);
	char *live[3];
	for (unsigned i = 0; i < 3; i++) {
		fill_every_field(&s[i], i != 1);
		s[i].seq = i + 2;
		live[i] = render(out_jsonl, &s[i]);
		CHECK(recorder_write(rec, &s[i]) == 0);
	}
	CHECK(recorder_close(rec, err, sizeof(err)) == 0);
	struct replay *r;
	int rc = replay_open(&r, path, err, sizeof(err));
	CHECKF(rc == 0, "%s", err);
	if (rc == 0) {
		CHECK(replay_count(r) == 3 && replay_header(r)->interval_ms == 250 &&
		      !replay_skipped(r));
		CHECK(!strcmp(replay_header(r)->host, "amd-v") &&
		      !strcmp(replay_header(r)->cpu_mode, "hardware"));
		for (unsigned i = 0; i < 3 && replay_next(r, &back); i++) {
			char *again = render(out_jsonl, &back);
			CHECKF(!strcmp(again, live[i]), "record %u differs", i);
			free(again);
		}
		CHECK(!replay_next(r, &back));
		replay_close(r);
	}
	for (unsigned i = 0; i < 3; i++)
		free(live[i]);
	unlink(path);
}

/* Prometheus counters only go up: a restarted guest's counters start from 0, the series carry on.
 */
TEST(metrics_counters_carry_on_across_a_guest_restart)
{
	static struct snapshot s;
	char err[200];
	struct metrics *m;
	REQUIRE(metrics_open(&m, "127.0.0.1", 0, err, sizeof(err)) == 0);
	CHECK(metrics_port(m) > 0);
	const uint64_t totals[] = {100, 250, 30}; /* a restart before the third */
	char *text = NULL;
	for (unsigned i = 0; i < 3; i++) {
		memset(&s, 0, sizeof(s));
		s.host = HOST_PVM;
		s.cpu_mode = CPU_PARAVIRT;
		s.nic_mode = NIC_MODE_VIRTIO;
		s.exits[EK_CPUID][SRC_GUEST] = (struct figure){.valid = true, .total = totals[i]};
		metrics_publish(m, &s);
	}
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	metrics_write(m, f);
	fclose(f);
	CHECKF(strstr(text, "vmscope_exits_total{kind=\"cpuid\",source=\"guest\"} 280\n"), "%s",
	       text);
	CHECK(strstr(text, "# TYPE vmscope_exits_total counter\n") &&
	      strstr(text, "# HELP vmscope_info "));
	CHECK(!strstr(
	    text, "kind=\"cpuid\",source=\"vmm\"")); /* a source that does not see it: no series */
	free(text);
	metrics_close(m);
}

/* The translated CPU's counts are series of their own while the guest runs on it, and carry on
 * across a restart like every counter. */
TEST(metrics_show_the_translated_cpus_blocks_and_instructions)
{
	static struct snapshot s;
	char err[200];
	struct metrics *m;
	REQUIRE(metrics_open(&m, "127.0.0.1", 0, err, sizeof(err)) == 0);
	const uint64_t insns[] = {1000, 5000, 700}; /* a restart before the third */
	for (unsigned i = 0; i < 3; i++) {
		memset(&s, 0, sizeof(s));
		s.host = HOST_NONE;
		s.cpu_mode = CPU_TRANSLATED;
		const struct {
			const char *name;
			uint64_t v;
		} tcg[] = {{"tcg_blocks_translated", 40 + i},
			   {"tcg_blocks_run", 100 * (i + 1)},
			   {"tcg_insns", insns[i]}};
		for (unsigned k = 0; k < 3; k++) {
			snprintf(s.vmm[k].name, sizeof(s.vmm[k].name), "%s", tcg[k].name);
			s.vmm[k].f = (struct figure){.valid = true, .total = tcg[k].v};
		}
		s.nr_vmm = 3;
		metrics_publish(m, &s);
	}
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	metrics_write(m, f);
	fclose(f);
	CHECKF(strstr(text, "vmscope_translated_instructions_total 5700\n") &&
		   strstr(text, "vmscope_translated_blocks_total{what=\"translated\"} 42\n") &&
		   strstr(text, "# TYPE vmscope_translated_blocks_total counter\n") &&
		   strstr(text, "host=\"none\",cpu_mode=\"translated\""),
	       "%s", text);
	free(text);
	metrics_close(m);
}

/* The /metrics door: a request line is whole, not yet, or not HTTP/1.x (a 400). */
TEST(http_gate_checks_the_request_line)
{
#define L(s) gate_line_check(s, sizeof(s) - 1)
	CHECK(L("GET /metrics HTTP/1.1\r\n") == GATE_LINE_OK);
	CHECK(L("GET /metrics HTTP/1.0\n") == GATE_LINE_OK);
	CHECK(L("\r\nGET / HTTP/1.1\r\nHost: x\r\n") == GATE_LINE_OK); /* an empty line first */
	CHECK(L("GET /metrics HTTP/9.9\r\n") == GATE_LINE_OK); /* syntax: its 505 is not ours */
	CHECK(L("GET /metr") == GATE_LINE_PARTIAL);
	CHECK(L("") == GATE_LINE_PARTIAL);
	CHECK(L("\r\n\r\n") == GATE_LINE_PARTIAL);
	CHECK(L("HELLO\r\n\r\n") == GATE_LINE_BAD);
	CHECK(L("GET\r\n") == GATE_LINE_BAD);
	CHECK(L("GET /metrics\r\n") == GATE_LINE_BAD); /* HTTP/0.9 */
	CHECK(L("GET  /metrics HTTP/1.1\r\n") == GATE_LINE_BAD);
	CHECK(L("GET /metrics HTTP/1.1 \r\n") == GATE_LINE_BAD);
	CHECK(L("GET /met\x01rics HTTP/1.1\r\n") == GATE_LINE_BAD);
	CHECK(L("G(T /metrics HTTP/1.1\r\n") == GATE_LINE_BAD);
	CHECK(L("\x01\x02garbage\r\n") == GATE_LINE_BAD);
	CHECK(L("GET /metrics HTTP/1.x\r\n") == GATE_LINE_BAD);
#undef L
	static char big[GATE_LINE_MAX + 16];
	memset(big, 'a', sizeof(big));
	CHECK(gate_line_check(big, GATE_LINE_MAX - 1) == GATE_LINE_PARTIAL);
	CHECK(gate_line_check(big, sizeof(big)) == GATE_LINE_BAD); /* no end in sight */
}
