/* The dashboard's panels: each is a const entry (name, lines it needs, when it is wanted, how it
 * draws) in one registry, drawn top to bottom while it fits. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tui/dash.h"
#include "tui/tour.h"
#include "tui/units.h"
#include "vmm/names.h"

static const char *cpu_mode_story(enum cpu_mode mode)
{
	if (mode == CPU_HARDWARE)
		return "hardware: VT-x/AMD-V runs the guest; sensitive instructions exit to KVM";
	if (mode == CPU_PARAVIRT)
		return "paravirt (kvm_pvm): guest ring 0 runs natively; privileged work is "
		       "hypercalls";
	if (mode == CPU_TRANSLATED)
		return "translated (no KVM): Unicorn's TCG rewrites the guest's code block by "
		       "block; "
		       "port, MMIO, CPUID, HLT and VMCALL trap to the VMM";
	return "emulated (kvm_pvm, no VIF page): KVM's instruction emulator runs every instruction";
}

static void fmt_rate(char *buf, size_t n, const struct figure *f)
{
	if (!f->valid)
		snprintf(buf, n, "%9s", "-");
	else if (f->rate >= 1e6)
		snprintf(buf, n, "%8.2fM", f->rate / 1e6);
	else
		snprintf(buf, n, "%9.0f", f->rate);
}

/* ns per instruction: fractions natively, hundreds in KVM's emulator. */
static void fmt_insn_ns(char *buf, size_t n, double ns)
{
	snprintf(buf, n, ns < 1 ? "%.2f ns" : ns < 10 ? "%.1f ns" : "%.0f ns", ns);
}

static void fmt_ns(char *buf, size_t n, double ns)
{
	if (ns <= 0)
		snprintf(buf, n, "%8s", "-");
	else
		units_ns(buf, n, ns, UNITS_COLUMN);
}

/* A line of at most COLS - 2 characters: every panel is laid out for 80 columns and cut, never
 * wrapped, below that. */
static void line_at(int y, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void line_at(int y, const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	mvaddnstr(y, 1, buf, COLS - 2);
}

/* The translated CPU's own figures (the vmm source's tcg_*): blocks it translated, blocks and
 * instructions it ran. */
static void draw_translated(const struct snapshot *s, int y)
{
	const struct named_figure *tb = snapshot_find(s->vmm, s->nr_vmm, "tcg_blocks_translated"),
				  *run = snapshot_find(s->vmm, s->nr_vmm, "tcg_blocks_run"),
				  *insn = snapshot_find(s->vmm, s->nr_vmm, "tcg_insns");
	char a[16], b[16], c[16], d[16];
	if (!tb || !run || !insn || !tb->f.valid)
		return;
	units_count(a, sizeof(a), (double)tb->f.total);
	units_count(b, sizeof(b), tb->f.rate);
	units_count(c, sizeof(c), run->f.rate);
	units_count(d, sizeof(d), insn->f.rate);
	line_at(y,
		"translated: %s blocks so far (%s/s new), %s blocks/s run, %s instructions/s (vmm)",
		a, b, c, d);
}

/* Interrupts on KVM's LAPIC: EOIs written (an exit each without APICv) or spared by KVM's PV EOI,
 * the PV interfaces in use, steal time; and the modes this session ran, side by side. */
static void draw_interrupts(const struct snapshot *s, int y)
{
	char line[256], pv[96] = "", cmp[96] = "";
	double irqs = snapshot_irq_rate(s);
	if (!s->eoi_lapic.valid)
		return;
	if (s->kvm_pv_on)
		snprintf(pv, sizeof(pv), "; kvm pv: %s, steal %.1f ms/s", s->kvm_pv_used,
			 s->steal_ns.valid ? s->steal_ns.rate / 1e6 : 0);
	else if (s->host == HOST_VTX || s->host == HOST_AMDV)
		snprintf(pv, sizeof(pv), "; kvm pv: none (an unmodified guest)");
	size_t n = 0;
	for (unsigned m = CPU_HARDWARE; m < CPU_MODE_MAX && n < sizeof(cmp); m++)
		if (s->cpu_compare[m].valid)
			n +=
			    (size_t)snprintf(cmp + n, sizeof(cmp) - n, "%s %s %.2f", n ? "," : " |",
					     cpu_mode_name(m), s->cpu_compare[m].eoi_lapic_per_irq);
	if (irqs > 0)
		snprintf(line, sizeof(line), "EOI writes an interrupt %.2f (guest)%s%s",
			 s->eoi_lapic.rate / irqs, pv, cmp);
	else
		snprintf(line, sizeof(line),
			 "EOI writes an interrupt - (no interrupt this tick)%s%s", pv, cmp);
	line_at(y, "%s", line);
}

static int draw_header(struct dash *d, int y, int rows)
{
	const struct snapshot *s = &d->snap;
	char rate[24], line[256];
	int up = (int)s->t;

	if (s->rate)
		snprintf(rate, sizeof(rate), "%u/s", s->rate);
	else
		snprintf(rate, sizeof(rate), "max");
	snprintf(line, sizeof(line),
		 " vmscope | host %s | cpu %s | %s | %s%s%s @ %s | up %02d:%02d:%02d | bpf %s",
		 host_kind_name(s->host), cpu_mode_name(s->cpu_mode), vmm_state_name(s->state),
		 workload_name(s->workload), s->exit_kind != SNAP_NO_KIND ? ":" : "",
		 s->exit_kind != SNAP_NO_KIND ? exit_kind_name(s->exit_kind) : "", rate, up / 3600,
		 up / 60 % 60, up % 60, s->bpf_on ? "on" : "off");
	attron(COLOR_PAIR(C_TITLE) | A_BOLD);
	mvhline(y, 0, ' ', COLS);
	mvaddnstr(y, 0, line, COLS);
	attroff(COLOR_PAIR(C_TITLE) | A_BOLD);
	y++;
	if (s->state == VMM_FAILED) {
		attron(COLOR_PAIR(C_BAD) | A_BOLD);
		mvprintw(y, 1, "guest failed: %.*s  (r restarts)", COLS - 30, s->reason);
		attroff(COLOR_PAIR(C_BAD) | A_BOLD);
	} else {
		attron(COLOR_PAIR(C_DIM));
		mvaddnstr(y, 1, cpu_mode_story(s->cpu_mode), COLS - 2);
		attroff(COLOR_PAIR(C_DIM));
	}
	y++;
	/* Ordinary instructions, the cost emulation really adds: the guest's against the host's. */
	if (s->work.valid && s->work.host_ns_per_insn > 0) {
		char g[16], h[16];
		fmt_insn_ns(g, sizeof(g), s->work.ns_per_insn);
		fmt_insn_ns(h, sizeof(h), s->work.host_ns_per_insn);
		attron(A_BOLD);
		line_at(y, "work: a plain guest instruction %s, on the host %s: %.0fx", g, h,
			s->work.ns_per_insn / s->work.host_ns_per_insn);
		attroff(A_BOLD);
	} else {
		line_at(y, "work: a plain guest instruction -");
	}
	if (s->cpu_mode == CPU_TRANSLATED)
		draw_translated(s, y + 1);
	else
		draw_interrupts(s, y + 1);
	return y + 2;
}

static int draw_exits(struct dash *d, int y, int rows)
{
	const struct snapshot *s = &d->snap;
	char cell[SRC_MAX][16], avg[16], mn[16], mx[16];

	/* 80 columns hold the sources and avg/min; max comes back on wider terminals. */
	bool wide = COLS >= 88;
	attron(COLOR_PAIR(C_HEAD) | A_BOLD);
	line_at(y++, "%-14s %9s %9s %9s %9s  %8s %8s %8s", "EXITS /s", "guest", "vmm", "stats",
		"bpf", "avg", "min", wide ? "max" : "");
	attroff(COLOR_PAIR(C_HEAD) | A_BOLD);
	for (unsigned k = 0; k < EK_MAX; k++) {
		const struct kind_cost *c = &s->cost[k];
		for (unsigned src = 0; src < SRC_MAX; src++)
			fmt_rate(cell[src], sizeof(cell[src]), &s->exits[k][src]);
		fmt_ns(avg, sizeof(avg), c->avg_ns);
		fmt_ns(mn, sizeof(mn), c->ops ? c->min_ns : 0);
		fmt_ns(mx, sizeof(mx), c->max_ns);
		line_at(y, "%u %-12s %s %s %s %s  %s %s %s", k + 1, exit_kind_name(k), cell[0],
			cell[1], cell[2], cell[3], avg, mn, wide ? mx : "");
		y++;
	}
	fmt_rate(cell[0], sizeof(cell[0]), &s->idle_halts);
	attron(COLOR_PAIR(C_DIM));
	if (!strcmp(s->irq_mode, "lapic")) { /* the session's own word for KVM's in-kernel LAPIC */
		char t[16], d2[16], n[16];
		units_count(t, sizeof(t), s->irq_timer.rate);
		units_count(d2, sizeof(d2), s->irq_command.rate);
		units_count(n, sizeof(n), s->irq_nic.rate);
		line_at(y++, "  %-12s %s  (HLTs the guest waits in, inside KVM)", "hlt (idle)",
			cell[0]);
		line_at(y++, "  %-12s timer %s/s  nic %s/s  doorbell %s/s (LAPIC, MSI-X by irqfd)",
			"irqs taken", t, n, d2);
	} else {
		line_at(y++, "  %-12s %s  (HLTs the guest waits in; no irqchip: the VMM sleeps)",
			"hlt (idle)", cell[0]);
	}
	attroff(COLOR_PAIR(C_DIM));
	return y + 1;
}

/* One line of history: a caption, the last values as a ten-level sparkline, and the peak. */
static void sparkline(int y, const char *caption, const double *values, const char *unit)
{
	static const char levels[] = " .:-=+*#%@";
	double max = 0;
	int w = COLS - 40 < HISTORY ? COLS - 40 : HISTORY;

	for (int i = HISTORY - w; i < HISTORY; i++)
		if (values[i] > max)
			max = values[i];
	attron(A_BOLD);
	mvprintw(y, 1, "%-20s", caption);
	attroff(A_BOLD);
	for (int i = 0; i < w; i++) {
		double v = values[HISTORY - w + i];
		mvaddch(y, 22 + i, (chtype)levels[max > 0 ? (int)(v / max * 9 + 0.5) : 0]);
	}
	mvprintw(y, 23 + w, "peak %.0f %s", max, unit);
}

static int draw_history(struct dash *d, int y, int rows)
{
	attron(COLOR_PAIR(C_HEAD) | A_BOLD);
	mvprintw(y++, 1, "HISTORY (one column a tick)");
	attroff(COLOR_PAIR(C_HEAD) | A_BOLD);
	sparkline(y++, "exits, all kinds", d->history, "/s");
	if (d->snap.net_on) {
		sparkline(y++, "guest tx", d->hist_tx, "pps");
		sparkline(y++, "guest rx", d->hist_rx, "pps");
		sparkline(y++, "ping p50", d->hist_rtt, "us");
		int w = COLS - 40 < HISTORY ? COLS - 40 : HISTORY;
		attron(A_BOLD);
		mvprintw(y, 1, "%-20s", "switches");
		attroff(A_BOLD);
		for (int i = 0; i < w; i++)
			if (d->hist_mark[HISTORY - w + i])
				mvaddch(y, 22 + i, (chtype)d->hist_mark[HISTORY - w + i]);
		y++;
	}
	return y + 1;
}

static void fmt_us(char *buf, size_t n, bool valid, double us)
{
	if (!valid || us <= 0)
		snprintf(buf, n, "-");
	else if (us < 100)
		snprintf(buf, n, "%.1fus", us);
	else
		snprintf(buf, n, "%.0fus", us);
}

static void fmt_pp(char *buf, size_t n, const struct per_packet *p)
{
	if (p->valid)
		snprintf(buf, n, "%.2f", p->value);
	else
		snprintf(buf, n, "-");
}

static void fmt_pp_ns(char *buf, size_t n, const struct per_packet *p)
{
	if (!p->valid)
		snprintf(buf, n, "-");
	else if (p->value <= 0)
		snprintf(buf, n, "%6.0fns", 0.0); /* measured and none: 0, not fmt_ns's "-" */
	else
		fmt_ns(buf, n, p->value);
}

static int draw_net(struct dash *d, int y, int rows)
{
	const struct snapshot *s = &d->snap;
	char a[16], b[16], c[16], e[16], p50[16], p99[16];

	attron(COLOR_PAIR(C_HEAD) | A_BOLD);
	if (!s->net_on) {
		line_at(y++, "NETWORK  no NIC (--nic none)");
		attroff(COLOR_PAIR(C_HEAD) | A_BOLD);
		return y + 1;
	}
	line_at(y++, "NETWORK  %s: %s on %s%s%s  %u B packets", nic_mode_name(s->nic_mode),
		s->nic_chip, s->backend, s->netns[0] ? ", netns " : " (in-process peer)", s->netns,
		s->pkt_size);
	attroff(COLOR_PAIR(C_HEAD) | A_BOLD);
	if (s->link_on && s->link_state != LINK_UP) { /* what the figures below are at */
		attron(COLOR_PAIR(C_BAD) | A_BOLD);
		line_at(y++, " link %s: %s", link_state_name(s->link_state), s->link_why);
		attroff(COLOR_PAIR(C_BAD) | A_BOLD);
	}
	units_count(a, sizeof(a), s->pps_tx.rate);
	units_count(b, sizeof(b), s->pps_rx.rate);
	fmt_us(p50, sizeof(p50), s->latency_valid, s->latency_us[0]);
	fmt_us(p99, sizeof(p99), s->latency_valid, s->latency_us[1]);
	line_at(y++, " guest   tx %7s rx %7s pps  ping p50 %7s p99 %7s  lost %llu", a, b, p50, p99,
		(unsigned long long)s->ping_lost.total);
	if (s->hops.valid) { /* where the ping's average round trip went, on one clock */
		const double *h = s->hops.us;
		char wire[24] = "";
		if (s->hops.wire_valid)
			snprintf(wire, sizeof(wire), " (wire %.1f)", s->hops.wire_us);
		line_at(y++,
			" ping us to link %.1f (send %.1f)  link %.1f%s  card %.1f  guest %.1f",
			h[HOP_TO_LINK], s->hops.send_us, h[HOP_LINK], wire, h[HOP_CARD_IN],
			h[HOP_GUEST_IN]);
	}
	units_count(a, sizeof(a), s->dev_tx.rate);
	units_count(b, sizeof(b), s->dev_rx.rate);
	units_count(c, sizeof(c), s->nic_exits[SRC_VMM].rate);
	units_count(e, sizeof(e), s->dev_irqs.rate);
	line_at(y++, " device  tx %7s rx %7s pps  regs %6s/s irqs %6s/s dropped %llu", a, b, c, e,
		(unsigned long long)s->dev_tx_dropped.total);
	/* Which registers the exits went to (a trapping card): the busiest few. */
	if (s->nr_dev_regs && s->dev_reg[0].f.rate > 0) {
		char line[160];
		int n = snprintf(line, sizeof(line), " exits by register");
		for (unsigned i = 0; i < s->nr_dev_regs && i < 5 && s->dev_reg[i].f.rate > 0; i++) {
			units_count(c, sizeof(c), s->dev_reg[i].f.rate);
			n += snprintf(line + n, sizeof(line) - (size_t)n, "  %s %s/s",
				      s->dev_reg[i].name, c);
			if (n >= (int)sizeof(line))
				break;
		}
		line_at(y++, "%s", line);
	}
	{
		const struct per_packet *pp = s->per_packet;
		char all[12], us[12], nic[12], irq[12];
		fmt_pp(all, sizeof(all), &pp[PP_ALL]);
		fmt_pp(us, sizeof(us), &pp[PP_USERSPACE]);
		fmt_pp(nic, sizeof(nic), &pp[PP_NIC]);
		fmt_pp(irq, sizeof(irq), &pp[PP_IRQS]);
		attron(A_BOLD);
		line_at(y++, " per pkt exits: nic %s %s  user %s  all %s %s  irqs %s", nic,
			pp[PP_NIC].valid ? pp[PP_NIC].source : "", us, all,
			pp[PP_ALL].valid ? pp[PP_ALL].source : "", irq);
		attroff(A_BOLD);
		/* Where the work went: the hypervisor (the host's cost), the guest's own work, and
		 * the card's silicon (a VF's engine), never summed into the host's. */
		char card[16], vmm[16], guest[16];
		fmt_pp_ns(card, sizeof(card), &pp[PP_CPU_CARD]);
		fmt_pp_ns(vmm, sizeof(vmm), &pp[PP_CPU_VMM]);
		fmt_pp_ns(guest, sizeof(guest), &pp[PP_CPU_GUEST]);
		line_at(y++, " per pkt cpu: host %s  guest %s  card %s", vmm, guest, card);
	}
	if (s->peer_sink.valid) {
		units_count(a, sizeof(a), s->peer_sink.rate);
		units_count(b, sizeof(b), s->peer_echo.rate);
		line_at(y++, " peer    sink %7s pps  echo %7s pps  rx lost %llu", a, b,
			(unsigned long long)s->rx_lost.total);
	}
	if (s->cap_on) {
		units_count(a, sizeof(a), s->cap_from_guest.rate);
		units_count(b, sizeof(b), s->cap_to_guest.rate);
		fmt_us(p50, sizeof(p50), s->cap_rtt_samples > 0, s->cap_rtt_us[0]);
		fmt_us(p99, sizeof(p99), s->cap_rtt_samples > 0, s->cap_rtt_us[1]);
		line_at(y++, " capture out %7s in %7s pps  wire p50 %6s p99 %6s lost %llu", a, b,
			p50, p99, (unsigned long long)s->cap_lost);
	} else {
		attron(COLOR_PAIR(C_DIM));
		line_at(y++, " capture off: %s", s->cap_why);
		attroff(COLOR_PAIR(C_DIM));
	}
	return y + 1;
}

/* Several VMs on one link (--vms): a row per VM, what they share, and VM1's round trips with
 * the neighbours idle and loading the path. */
static int draw_vms(struct dash *d, int y, int rows)
{
	const struct snap_vms *m = &d->snap.vms;
	char a[16], b[16], e[16], c[16], p99[16], alone[16], loaded[16];
	char load[48];
	if (m->neighbours == WL_IDLE) {
		snprintf(load, sizeof(load), "idle");
	} else if (!m->neighbour_rate) {
		snprintf(load, sizeof(load), "run %s unpaced", workload_name(m->neighbours));
	} else {
		units_count(a, sizeof(a), m->neighbour_rate);
		snprintf(load, sizeof(load), "run %s at %s/s each", workload_name(m->neighbours),
			 a);
	}
	attron(COLOR_PAIR(C_HEAD) | A_BOLD);
	line_at(y++, "VMS  %u on one link: VM1 measures, VM2..VM%u %s", m->nr, m->nr, load);
	attroff(COLOR_PAIR(C_HEAD) | A_BOLD);
	line_at(y++, " vm   ip          state     tx pps   rx pps  exits/pkt  host/pkt  drops  "
		     "ping p99");
	for (unsigned i = 0; i < m->nr && y < LINES - 4; i++) {
		const struct snap_vm *v = &m->vm[i];
		units_count(a, sizeof(a), v->dev_tx.rate);
		units_count(b, sizeof(b), v->dev_rx.rate);
		fmt_pp(e, sizeof(e), &v->per_packet[PP_ALL]);
		fmt_pp_ns(c, sizeof(c), &v->per_packet[PP_CPU_VMM]);
		fmt_us(p99, sizeof(p99), v->latency_valid, v->latency_us[1]);
		line_at(y++, " %-4s %-11s %-8s %8s %8s %10s %9s %6llu  %s", v->name, v->ip,
			vmm_state_name(v->state), a, b, e, c,
			(unsigned long long)(v->rx_no_buffer.total + v->dev_tx_dropped.total), p99);
	}
	fmt_pp_ns(c, sizeof(c), &m->path_cpu);
	units_count(a, sizeof(a), m->link_tx.rate);
	units_count(b, sizeof(b), m->link_rx.rate);
	units_count(e, sizeof(e), m->switched.rate);
	line_at(y++, " shared  link tx %s rx %s pps, VM to VM %s/s; %s %s a packet", a, b, e,
		m->path_card ? "the card's engine" : "the VMM's network thread",
		c + strspn(c, " "));
	if (m->queue_on)
		line_at(
		    y++,
		    "         queue to the link: %llu frames now, %llu at most this tick, of %llu",
		    (unsigned long long)m->queue_now, (unsigned long long)m->queue_peak,
		    (unsigned long long)m->queue_slots);
	/* VM1's p99 on each card, alone and under its neighbours' load: the seed's claim. */
	char line[160];
	int o = snprintf(line, sizeof(line), " VM1 ping p99 alone/loaded:");
	for (unsigned card = NIC_MODE_EMULATED; card < NIC_MODE_MAX && o < (int)sizeof(line);
	     card++) {
		const struct snap_vm1_load *l = &m->load[card];
		fmt_us(alone, sizeof(alone), l->valid[0], l->us[0][1]);
		fmt_us(loaded, sizeof(loaded), l->valid[1], l->us[1][1]);
		o += snprintf(line + o, sizeof(line) - (size_t)o, "  %s%s %s/%s",
			      card == (unsigned)d->snap.nic_mode ? ">" : "", nic_mode_name(card),
			      alone, loaded);
	}
	attron(A_BOLD);
	line_at(y++, "%s", line);
	attroff(A_BOLD);
	attron(COLOR_PAIR(C_DIM));
	line_at(y++, " %u host CPUs: the VMs' vCPUs and %s share them", m->cpus,
		m->path_card ? "the card's engine (a thread standing for its silicon)"
			     : "the VMM's network thread");
	attroff(COLOR_PAIR(C_DIM));
	return y + 1;
}

/* The lesson at a glance: every card's last figures side by side, the one in use marked. */
static int draw_compare(struct dash *d, int y, int rows)
{
	const struct snapshot *s = &d->snap;
	char tx[16], rx[16], p50[16], all[12], nic[12], user[12], cpu[16], card[16];
	/* The card's exits a packet first: the lesson's order (e1000 > virtio > vf) is read there.
	 */
	attron(COLOR_PAIR(C_HEAD) | A_BOLD);
	line_at(y++, "COMPARE %-8s %5s %5s %5s %7s %7s %7s %8s %8s", "card", "nic", "user", "all",
		"tx pps", "rx pps", "p50", "host cpu", "card cpu");
	attroff(COLOR_PAIR(C_HEAD) | A_BOLD);
	for (unsigned m = NIC_MODE_EMULATED; m < NIC_MODE_MAX; m++) {
		const struct mode_figures *c = &s->compare[m];
		bool here = s->nic_mode == m;
		if (!c->valid) {
			attron(COLOR_PAIR(C_DIM));
			/* The card in use fills its row after a whole tick with traffic; another
			 * one is a key away. */
			if (here)
				line_at(
				    y++,
				    " >      %-9s (in use: measured after a whole tick of traffic)",
				    nic_mode_name(m));
			else if (d->s) /* live: the key moves the guest there */
				line_at(y++, " %c      %-9s (not measured yet: press %c)", ' ',
					nic_mode_name(m), nic_mode_initial(m));
			else /* a replay cannot move the guest */
				line_at(y++, " %c      %-9s (not measured in this recording yet)",
					' ', nic_mode_name(m));
			attroff(COLOR_PAIR(C_DIM));
			continue;
		}
		units_count(tx, sizeof(tx), c->tx_pps);
		units_count(rx, sizeof(rx), c->rx_pps);
		fmt_us(p50, sizeof(p50), c->ping_valid, c->ping_p50_us);
		fmt_pp(nic, sizeof(nic), &c->exits_nic);
		fmt_pp(user, sizeof(user), &c->exits_user);
		fmt_pp(all, sizeof(all), &c->exits_all);
		fmt_pp_ns(cpu, sizeof(cpu), &c->cpu_host);
		fmt_pp_ns(card, sizeof(card), &c->cpu_card);
		if (here)
			attron(A_BOLD | COLOR_PAIR(C_GOOD));
		line_at(y++, " %c      %-8s %5s %5s %5s %7s %7s %7s %8s %8s", here ? '>' : ' ',
			nic_mode_name(m), nic, user, all, tx, rx, p50, cpu, card);
		if (here)
			attroff(A_BOLD | COLOR_PAIR(C_GOOD));
	}
	return y;
}

/* The last switches, newest first, and the one under way. */
static int draw_switches(struct dash *d, int y, int rows)
{
	if (rows > 1 + RECENT)
		rows = 1 + RECENT;
	const struct snapshot *s = &d->snap;
	attron(COLOR_PAIR(C_HEAD) | A_BOLD);
	if (s->switching)
		line_at(y++, "SWITCHES  moving to %s: hot-added, the guest brings it up...",
			nic_mode_name(s->switch_to));
	else
		line_at(y++, "SWITCHES  %s",
			d->nr_recent ? "blackout (capture / vmm), lost, guest probe"
			: d->s	     ? "none yet: E V F move the guest to another card"
				     : "none in this recording yet");
	attroff(COLOR_PAIR(C_HEAD) | A_BOLD);
	for (unsigned i = 0; i < d->nr_recent && (int)i < rows - 1; i++) {
		const struct snap_event *e = &d->recent[i];
		char cap[16], vmm[16];
		if (!e->ok) {
			attron(COLOR_PAIR(C_BAD));
			line_at(y++, " %6.1fs %s -> %s failed: %s", e->t, nic_mode_name(e->from),
				nic_mode_name(e->to), e->why);
			attroff(COLOR_PAIR(C_BAD));
			continue;
		}
		snprintf(cap, sizeof(cap), e->blackout_valid[0] ? "%.2f" : "-", e->blackout_ms[0]);
		snprintf(vmm, sizeof(vmm), e->blackout_valid[1] ? "%.2f" : "-", e->blackout_ms[1]);
		line_at(y++, " %6.1fs %-8s -> %-8s blackout %s / %s ms  lost %llu  probe %.1f ms",
			e->t, nic_mode_name(e->from), nic_mode_name(e->to), cap, vmm,
			(unsigned long long)e->lost, e->probe_ms);
	}
	return y + 1;
}

static int draw_log(struct dash *d, int y, int rows)
{
	if (rows < 2)
		return y;
	attron(COLOR_PAIR(C_HEAD) | A_BOLD);
	mvprintw(y++, 1, "%s",
		 d->snap.attached.on ? "LOG (what attach saw of the VM)"
				     : "LOG (guest console and VMM)");
	attroff(COLOR_PAIR(C_HEAD) | A_BOLD);
	unsigned n = (unsigned)rows - 1 < d->nr_log ? (unsigned)rows - 1 : d->nr_log;
	for (unsigned i = 0; i < n; i++)
		mvaddnstr(y++, 2, d->log[d->nr_log - n + i], COLS - 3);
	return y;
}

/* Where in the recording the replay is, and how it plays. */
static int draw_timeline(struct dash *d, int y, int rows)
{
	unsigned pos = replay_pos(d->replay), n = replay_count(d->replay);
	int w = COLS - 52 > 10 ? COLS - 52 : 10, at = n ? (int)((long)w * pos / n) : 0;
	char bar[256];
	for (int i = 0; i < w && i < (int)sizeof(bar) - 1; i++)
		bar[i] = i < at ? '=' : i == at ? '>' : '-';
	bar[w < (int)sizeof(bar) - 1 ? w : (int)sizeof(bar) - 1] = 0;
	attron(COLOR_PAIR(C_HEAD) | A_BOLD);
	line_at(y++, "REPLAY [%s] %7.1f s  tick %u/%u  x%g %s", bar, d->snap.t, pos, n, d->speed,
		d->playing ? "playing"
		: pos >= n ? "at the end"
			   : "paused");
	attroff(COLOR_PAIR(C_HEAD) | A_BOLD);
	return y + 1;
}

/* Under a network workload the exits-by-kind table (the exits workload's, idle now) can give
 * its lines to the compare table and the switches on a short terminal: one line says so. */
static bool net_workload(const struct dash *d)
{
	return d->snap.net_on && d->snap.workload >= WL_PING;
}

static int draw_exits_brief(struct dash *d, int y, int rows)
{
	attron(COLOR_PAIR(C_HEAD) | A_BOLD);
	line_at(y++, "EXITS    by kind: the exits workload is off (1-7, a); per packet below");
	attroff(COLOR_PAIR(C_HEAD) | A_BOLD);
	return y + 1;
}

/* The tour's caption: the step, what is happening and what to look at, word-wrapped. */
static int draw_caption(struct dash *d, int y, int rows)
{
	const struct snap_tour *t = &d->snap.tour;
	attron(COLOR_PAIR(C_GOOD) | A_BOLD);
	line_at(y++, "TOUR %u/%u  %s", t->step, t->steps, t->title);
	attroff(COLOR_PAIR(C_GOOD) | A_BOLD);
	int width = COLS - 4, left = rows - 2;
	const char *p = t->caption;
	while (*p && left-- > 0) {
		int n = (int)strlen(p);
		if (n > width) { /* cut at the last space that fits */
			n = width;
			while (n > 0 && p[n] != ' ')
				n--;
			if (!n)
				n = width;
		}
		mvaddnstr(y++, 2, p, n);
		p += n;
		while (*p == ' ')
			p++;
	}
	if (t->note[0] && left > 0) {
		attron(COLOR_PAIR(C_WARN));
		line_at(y++, " %s", t->note);
		attroff(COLOR_PAIR(C_WARN));
	}
	return y + 1;
}

static bool attached(const struct dash *d)
{
	return d->snap.attached.on;
}
static bool ours(const struct dash *d)
{
	return !d->snap.attached.on;
}

static bool want_caption(const struct dash *d)
{
	return d->snap.tour.steps > 0;
}
static bool want_timeline(const struct dash *d)
{
	return d->replay;
}
static bool want_exits(const struct dash *d)
{
	return ours(d) && !(net_workload(d) && LINES < 38);
}
static bool want_exits_brief(const struct dash *d)
{
	return ours(d) && !want_exits(d);
}
/* The compare table and the switches: under a network workload, once a switch happened, or on
 * a tall terminal; otherwise the log keeps their lines. */
static bool want_compare(const struct dash *d)
{
	return d->snap.net_on &&
	       (net_workload(d) || d->nr_recent || d->snap.switching || LINES >= 40);
}
/* Several VMs: while a network workload runs, VM1's or its neighbours'. */
static bool want_vms(const struct dash *d)
{
	return d->snap.vms.nr > 1 && (net_workload(d) || d->snap.vms.neighbours != WL_IDLE);
}
static bool want_history(const struct dash *d)
{
	return ours(d) && LINES >= 40;
}

/* The panels, top to bottom: each is drawn when it is wanted and its lines fit. Adding a panel
 * is adding a line here. */
static const struct panel {
	const char *name;
	int min_lines; /* its heading and the lines it needs to say anything */
	bool (*want)(const struct dash *d);
	int (*draw)(struct dash *d, int y, int rows); /* returns the line after it */
} panels[] = {
    {"header", 4, ours, draw_header},
    {"attached", 2, attached, panel_attached_header},
    {"timeline", 2, want_timeline, draw_timeline},
    {"caption", 4, want_caption, draw_caption},
    {"exits", 12, want_exits, draw_exits},
    {"exits (brief)", 2, want_exits_brief, draw_exits_brief},
    {"network", 2, ours, draw_net},
    {"vms", 6, want_vms, draw_vms},
    {"vcpus", 3, attached, panel_vcpus},
    {"latency", 4, attached, panel_latency},
    {"devices", 5, attached, panel_devices},
    {"compare", 6, want_compare, draw_compare},
    {"switches", 1, want_compare, draw_switches},
    {"history", 7, want_history, draw_history},
    {"sources", 8, NULL, panel_sources},
    {"log", 2, NULL, draw_log},
};

void panels_draw(struct dash *d)
{
	int y = 0, bottom = LINES - 1; /* the keys take the last line */
	for (unsigned i = 0; i < sizeof(panels) / sizeof(panels[0]); i++) {
		const struct panel *p = &panels[i];
		if ((p->want && !p->want(d)) || y + p->min_lines > bottom)
			continue;
		y = p->draw(d, y, bottom - y);
	}
}
