/* An attached VM's panels (vmscope attach PID): the VM by its process, its vCPUs, the time each
 * exit keeps a vCPU out of the guest, and its devices' ports and pages. What the built-in VM's
 * panels show of our own guest (its counters, its card, the switch) has no place here. */
#include <stdio.h>
#include <string.h>

#include "tui/dash.h"
#include "vmm/names.h"

static void heading(int y, const char *text)
{
	attron(COLOR_PAIR(C_HEAD) | A_BOLD);
	mvaddnstr(y, 1, text, COLS - 2);
	attroff(COLOR_PAIR(C_HEAD) | A_BOLD);
}

static void fmt_us(char *buf, size_t n, double us)
{
	if (us >= 1000)
		snprintf(buf, n, "%.1f ms", us / 1000);
	else
		snprintf(buf, n, "%.1f us", us);
}

/* The distributions' columns: p50 p99 max exits, from X_CELLS (they end by column 74). */
#define X_CELLS 34

static void cell_labels(int y)
{
	attron(A_BOLD);
	mvprintw(y, X_CELLS, "%9s %9s %9s %9s", "p50", "p99", "max", "timed");
	attroff(A_BOLD);
}

static void latency_cells(int y, const struct snap_latency *l)
{
	char p50[16], p99[16], max[16];
	fmt_us(p50, sizeof(p50), snap_latency_us(l, 0.5));
	fmt_us(p99, sizeof(p99), snap_latency_us(l, 0.99));
	fmt_us(max, sizeof(max), (double)l->max_ns / 1000.0);
	mvprintw(y, X_CELLS, "%9s %9s %9s %9llu", p50, p99, max, (unsigned long long)l->count);
}

int panel_attached_header(struct dash *d, int y, int rows)
{
	const struct snapshot *s = &d->snap;
	const struct snap_attached *a = &s->attached;
	char line[256], guest[80] = "";
	int up = (int)s->t;
	if (a->guest[0])
		snprintf(guest, sizeof(guest), " \"%s\"", a->guest);
	snprintf(line, sizeof(line),
		 " vmscope attach | host %s | PID %d %s%s | %u vCPU%s | %s | up %02d:%02d:%02d | "
		 "bpf %s",
		 host_kind_name(s->host), a->pid, a->vmm, guest, a->vcpus, a->vcpus == 1 ? "" : "s",
		 s->state == VMM_STOPPED ? "exited" : "running", up / 3600, up / 60 % 60, up % 60,
		 s->bpf_on ? "on" : "off");
	attron(COLOR_PAIR(C_TITLE) | A_BOLD);
	mvhline(y, 0, ' ', COLS);
	mvaddnstr(y, 0, line, COLS);
	attroff(COLOR_PAIR(C_TITLE) | A_BOLD);
	y++;
	if (s->state == VMM_STOPPED) {
		attron(COLOR_PAIR(C_BAD) | A_BOLD);
		mvaddnstr(y, 1, s->reason, COLS - 2);
		attroff(COLOR_PAIR(C_BAD) | A_BOLD);
	} else {
		attron(COLOR_PAIR(C_DIM));
		mvaddnstr(y, 1, snap_attached_absent, COLS - 2);
		attroff(COLOR_PAIR(C_DIM));
	}
	return y + 2;
}

int panel_vcpus(struct dash *d, int y, int rows)
{
	const struct snap_attached *a = &d->snap.attached;
	heading(y, "VCPUS      exits/s  halts/s");
	cell_labels(y++);
	if (!a->nr_vcpu) {
		panel_line(y++, "stats fd", a->stats_why);
		return y + 1;
	}
	int room = rows - 2;
	for (unsigned i = 0; i < a->nr_vcpu && room-- > 0; i++) {
		const struct snap_vcpu *v = &a->vcpu[i];
		char ex[16] = "-", ha[16] = "-";
		if (v->exits.valid)
			snprintf(ex, sizeof(ex), "%.0f", v->exits.rate);
		if (v->halts.valid)
			snprintf(ha, sizeof(ha), "%.0f", v->halts.rate);
		mvprintw(y, 1, "vCPU %-3u %10s %8s", v->id, ex, ha);
		if (v->lat_valid)
			latency_cells(y, &v->lat);
		else
			mvprintw(y, X_CELLS, "%9s %9s %9s %9s", "-", "-", "-", "-");
		y++;
	}
	return y + 1;
}

int panel_latency(struct dash *d, int y, int rows)
{
	const struct snap_attached *a = &d->snap.attached;
	const char *what = a->lat_kind == KT_LAT_EXIT	     ? "kvm_exit -> kvm_entry"
			   : a->lat_kind == KT_LAT_USERSPACE ? "userspace exit -> KVM_RUN"
							     : "-";
	char title[160];
	char every[32] = "";
	if (a->lat_every)
		snprintf(every, sizeof(every), ", 1 tick in %u", a->lat_every);
	snprintf(title, sizeof(title), "EXIT LATENCY  %s since attaching (bpf%s)", what, every);
	heading(y++, title);
	if (a->lat_why[0]) {
		attron(COLOR_PAIR(a->lat_kind == KT_LAT_KINDS ? C_WARN : C_DIM));
		mvaddnstr(y++, 1, a->lat_why, COLS - 2);
		attroff(COLOR_PAIR(a->lat_kind == KT_LAT_KINDS ? C_WARN : C_DIM));
	}
	if (a->lat_kind != KT_LAT_KINDS && !a->nr_lat)
		mvaddnstr(y++, 1, "(no exit timed yet)", COLS - 2);
	if (a->nr_lat) {
		attron(A_BOLD);
		mvaddstr(y, 1, "by reason");
		attroff(A_BOLD);
		cell_labels(y++);
	}
	int room = rows - 4;
	for (unsigned i = 0; i < a->nr_lat && room-- > 0; i++) {
		mvprintw(y, 1, "%-24s", a->lat[i].reason);
		latency_cells(y, &a->lat[i]);
		y++;
	}
	return y + 1;
}

int panel_devices(struct dash *d, int y, int rows)
{
	const struct snapshot *s = &d->snap;
	const struct snap_attached *a = &s->attached;
	char title[96];
	if (s->bpf_sampled_every)
		snprintf(title, sizeof(title),
			 "DEVICES /s  exits at its devices, interrupts, halts (bpf, 1 tick in %u)",
			 s->bpf_sampled_every);
	else
		snprintf(title, sizeof(title), "%s",
			 "DEVICES /s  the guest's exits at its devices, its interrupts and halts "
			 "(bpf)");
	heading(y++, title);
	if (!s->bpf_on) {
		panel_line(y++, "bpf", s->bpf_why);
		return y + 1;
	}
	if (!strcmp(a->io_source, "kvm_userspace_exit")) {
		attron(COLOR_PAIR(C_DIM));
		mvaddnstr(
		    y++, 1,
		    "port I/O, MMIO: exits to the VMM (from kvm_run); in-kernel devices not seen",
		    COLS - 2);
		attroff(COLOR_PAIR(C_DIM));
	}
	panel_line_top(y++, "port I/O", a->pio, a->nr_pio);
	panel_line_top(y++, "MMIO page", a->mmio, a->nr_mmio);
	panel_line_top(y++, "irq vector", a->irq, a->nr_irq);
	char line[160] = "-";
	if (a->wake_polled.valid && a->wake_waited.valid)
		snprintf(line, sizeof(line),
			 "%.0f/s after waiting, %.0f/s caught by halt-polling (no sleep)",
			 a->wake_waited.rate, a->wake_polled.rate);
	panel_line(y++, "halts woken", line);
	return y + 1;
}
