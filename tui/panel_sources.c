/* The SOURCES panel: the busiest counters of every source beside each other (the stats fd,
 * eBPF's events and reasons, the VMM), and what the probes themselves cost. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui/dash.h"
#include "vmm/names.h"

/* A source's line: its title, then the text (what it has, or why it has nothing). */
void panel_line(int y, const char *title, const char *why)
{
	attron(A_BOLD);
	mvprintw(y, 1, "%-12s", title);
	attroff(A_BOLD);
	mvaddnstr(y, 14, why, COLS - 15);
}

/* The busiest entries of a named list, on one line. */
void panel_line_top(int y, const char *title, const struct named_figure *arr, unsigned nr)
{
	char line[512];
	size_t len = 0;
	bool used[64] = {0};

	for (unsigned n = 0; n < 6 && n < nr; n++) {
		int best = -1;
		for (unsigned i = 0; i < nr && i < 64; i++)
			if (!used[i] && arr[i].f.rate > 0 &&
			    (best < 0 || arr[i].f.rate > arr[best].f.rate))
				best = (int)i;
		if (best < 0)
			break;
		used[best] = true;
		len += (size_t)snprintf(line + len, sizeof(line) - len, "%s %.0f  ", arr[best].name,
					arr[best].f.rate);
		if (len >= sizeof(line))
			break;
	}
	panel_line(y, title, len ? line : "(nothing moved this tick)");
}

/* kvm_exit by hardware reason, named as the host's manual names it (the records keep the code). */
static void draw_exit_reasons(int y, const struct snapshot *s)
{
	struct named_figure named[SNAP_REASONS_MAX];
	char buf[40];
	for (unsigned i = 0; i < s->nr_kexit && i < SNAP_REASONS_MAX; i++) {
		named[i] = s->kexit[i];
		unsigned code = (unsigned)strtoul(s->kexit[i].name, NULL, 16);
		if (hw_exit_reason_name(s->host, code, buf, sizeof(buf)))
			snprintf(named[i].name, sizeof(named[i].name), "%s", buf);
	}
	panel_line_top(y, "kvm_exit why", named, s->nr_kexit);
}

/* The CPU modes this session ran, per interrupt: the guest's EOI writes, then kvm_exit's reasons
 * by name (bpf), e.g. "hardware EOI 1.00 NPF 2.00 HLT 1.00 | paravirt EOI 0.01 NPF 1.01". */
static void draw_cpu_compare(int y, const struct snapshot *s)
{
	char line[256] = "", name[40];
	size_t n = 0;
	for (unsigned m = CPU_HARDWARE; m < CPU_MODE_MAX; m++) {
		const struct cpu_figures *c = &s->cpu_compare[m];
		if (!c->valid || n >= sizeof(line))
			continue;
		n += (size_t)snprintf(line + n, sizeof(line) - n, "%s%s EOI %.2f", n ? " | " : "",
				      cpu_mode_name(m), c->eoi_lapic_per_irq);
		for (unsigned r = 0; r < c->nr_reasons && n < sizeof(line); r++) {
			unsigned code = (unsigned)strtoul(c->reasons[r].name, NULL, 16);
			const char *nm = hw_exit_reason_name(s->host, code, name, sizeof(name));
			n += (size_t)snprintf(line + n, sizeof(line) - n, " %s %.2f",
					      nm ? nm : c->reasons[r].name, c->reasons[r].per_irq);
		}
	}
	if (n)
		panel_line(y, "per irq", line);
	else
		panel_line(y, "per irq", "- (no interrupt on KVM's LAPIC yet)");
}

/* What watching costs: the probes' own run time as the kernel accounts it (BPF_ENABLE_STATS),
 * per event they handled and against the vCPU thread's time; "-" where that is not measured. */
static void draw_observer(int y, const struct snapshot *s)
{
	char per[32] = "-", share[32] = "-";
	char line[160];
	if (s->bpf_on && s->bpf_cost_on && s->bpf_ns_per_run_valid)
		snprintf(per, sizeof(per), "%.0f ns", s->bpf_ns_per_run);
	if (s->bpf_on && s->bpf_cost_on && s->bpf_vcpu_share_valid)
		snprintf(share, sizeof(share), "%.2f%%", 100 * s->bpf_vcpu_share);
	if (!s->bpf_on)
		snprintf(line, sizeof(line), "eBPF probes: - (not loaded)");
	else if (!s->bpf_cost_on)
		snprintf(line, sizeof(line),
			 "eBPF probes: - (the kernel does not account their run time)");
	else
		snprintf(
		    line, sizeof(line), "eBPF probes cost %s an event, %s of the %s (kernel%s)",
		    per, share, s->attached.on ? "VMM's CPU time" : "vCPU's time",
		    s->bpf_cost_every > 1 ? ", sampled" : ""); /* older recordings: always on */
	panel_line(y, "observer", line);
}

int panel_sources(struct dash *d, int y, int rows)
{
	const struct snapshot *s = &d->snap;

	attron(COLOR_PAIR(C_HEAD) | A_BOLD);
	mvprintw(y++, 1, "SOURCES (/s)");
	attroff(COLOR_PAIR(C_HEAD) | A_BOLD);
	if (s->nr_stats)
		panel_line_top(y++, "stats fd", s->stats, s->nr_stats);
	else if (s->attached.on)
		panel_line(y++, "stats fd", s->attached.stats_why);
	else if (s->cpu_mode == CPU_TRANSLATED)
		panel_line(y++, "stats fd", "- (no KVM vCPU runs a translated CPU: no stats fd)");
	else
		panel_line(y++, "stats fd",
			   "- (not read: --no-stats, or this KVM has no stats fd)");
	if (!s->bpf_on) {
		attron(A_BOLD);
		mvprintw(y, 1, "%-12s", "bpf");
		attroff(A_BOLD);
		attron(COLOR_PAIR(C_WARN));
		mvaddnstr(y++, 14, s->bpf_why, COLS - 15);
		attroff(COLOR_PAIR(C_WARN));
	} else {
		struct named_figure ev[KT_MAX];
		unsigned n = 0;
		for (unsigned e = 0; e < KT_MAX; e++)
			if (s->bpf_event[e].valid) {
				snprintf(ev[n].name, sizeof(ev[n].name), "%s",
					 kt_event_name(e) + 4);
				ev[n++].f = s->bpf_event[e];
			}
		panel_line_top(y++, "bpf events", ev, n);
		panel_line_top(y++, "uexit why", s->uexit, s->nr_uexit);
		if (s->host == HOST_PVM) /* docs/kvm-hosts.md: kvm_exit never fires there */
			panel_line(y++, "kvm_exit why",
				   "- (kvm_pvm has no kvm_exit tracepoint events)");
		else
			draw_exit_reasons(y++, s);
	}
	if (!s->attached.on) { /* the built-in guest's interrupts and the VMM's own counters */
		draw_cpu_compare(y++, s);
		panel_line_top(y++, "vmm", s->vmm, s->nr_vmm);
	}
	draw_observer(y++, s);
	return y + 1;
}
