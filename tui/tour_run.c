/* A tour running on a live session: entering steps, skipping those the host cannot give. */
#include "tour.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vmm/names.h"

/* Why the host cannot give this step, or NULL. */
static const char *unmet(const struct tour_step *st, struct session *s)
{
	enum host_kind h = session_host(s);
	if ((st->need & NEED_HARDWARE) && h != HOST_VTX && h != HOST_AMDV)
		return "this host gives no VT-x or AMD-V to vmscope";
	if ((st->need & NEED_PVM) && h != HOST_PVM)
		return "it needs a kvm_pvm host";
	if ((st->need & NEED_NO_EMULATOR) && h == HOST_PVM)
		return "this host's KVM emulates instructions itself (the step before shows it)";
	if ((st->need & NEED_VMS) && session_vms(s) < 2)
		return "it needs several VMs on the link (vmscope demo boots three)";
	return NULL;
}

static void note(struct tour_run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct tour_run *r, const char *fmt, ...)
{
	size_t n = strlen(r->note);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->note + n, sizeof(r->note) - n, fmt, ap);
	va_end(ap);
}

/* The step's actions, in the order that makes sense: the CPU (a reboot) before the card. */
static void act(struct tour_run *r, const struct tour_step *st, struct session *s)
{
	const char *why;
	for (enum tour_act what = TA_CPU; what <= TA_NEIGHBOURS; what++)
		for (unsigned i = 0; i < st->nr_act; i++) {
			const struct tour_action *a = &st->act[i];
			if (a->what != what)
				continue;
			switch (what) {
			case TA_CPU:
				if (session_cpu_mode(s) != (enum cpu_mode)a->arg &&
				    session_restart(s, (enum cpu_mode)a->arg, &why))
					note(r, "no %s CPU: %s. ", cpu_mode_name(a->arg), why);
				break;
			case TA_NIC:
				if (session_nic_mode(s) != (enum nic_mode)a->arg &&
				    session_switch_nic(s, (enum nic_mode)a->arg, &why))
					note(r, "no switch to %s: %s. ", nic_mode_name(a->arg),
					     why);
				break;
			case TA_WORKLOAD:
				session_set_workload(s, (enum workload)a->arg,
						     a->arg == WL_EXITS ? a->kind : 0, a->rate);
				break;
			case TA_SIZE: session_set_packet_size(s, a->arg); break;
			case TA_NEIGHBOURS:
				if (session_vms(s) > 1)
					session_set_neighbours(s, (enum workload)a->arg, a->rate);
				break;
			}
		}
}

void tour_go(struct tour_run *r, struct session *s, int step, int dir, double now)
{
	r->note[0] = 0;
	for (; step >= 0 && step < (int)r->t->nr; step += dir) {
		const char *why = unmet(&r->t->step[step], s);
		if (!why)
			break;
		note(r, "Skipped \"%s\": %s. ", r->t->step[step].title, why);
	}
	if (step < 0) { /* nothing to go back to: stay */
		r->note[0] = 0;
		return;
	}
	r->cur = step;
	r->entered = now;
	if (step < (int)r->t->nr)
		act(r, &r->t->step[step], s);
}

bool tour_poll(struct tour_run *r, struct session *s, double now)
{
	if (r->cur >= (int)r->t->nr)
		return false;
	if (now - r->entered >= r->t->step[r->cur].seconds)
		tour_go(r, s, r->cur + 1, 1, now);
	return r->cur < (int)r->t->nr;
}

void tour_fill(const struct tour_run *r, struct snapshot *snap)
{
	struct snap_tour *out = &snap->tour;
	memset(out, 0, sizeof(*out));
	if (!r || !r->t)
		return;
	int cur = r->cur < (int)r->t->nr ? r->cur : (int)r->t->nr - 1;
	const struct tour_step *st = &r->t->step[cur];
	out->step = (unsigned)cur + 1;
	out->steps = r->t->nr;
	snprintf(out->title, sizeof(out->title), "%s", st->title);
	tour_caption(st->caption, snap, out->caption, sizeof(out->caption));
	snprintf(out->note, sizeof(out->note), "%s", r->note);
	size_t n = strlen(out->note);
	while (n && out->note[n - 1] == ' ')
		out->note[--n] = 0;
}
