/* The live switch, followed: asked here, done by the VMM (slots.c), measured here until its
 * event (blackout by the capture and the link, loss by the guest and the capture) is complete. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "probes/session_impl.h"
#include "vmm/clock.h"
#include "vmm/net/net.h"

/* A lost ping is known when its reply is a second late (the guest's timeout): the loss count
 * of a switch under ping waits that long after its end. Of the peer's flood, the datagrams sent
 * in the switch's own window count (the guest charges each gap's share of it: rx_win_lost); the
 * ordinary overflow before and after stays in net.rx_lost. */
#define SETTLE_PING_S 1.1
#define SETTLE_S      0.2

static uint64_t guest_lost(const struct ctl_page *c)
{
	return c->ping_lost + c->rx_win_lost;
}

void session_queue_event(struct session *s, const struct snap_event *ev)
{
	if (s->nr_events == SNAP_EVENTS_MAX) { /* keep the newest; the record counts the rest */
		memmove(s->events, s->events + 1, sizeof(s->events[0]) * --s->nr_events);
		s->events_dropped++;
	}
	s->events[s->nr_events++] = *ev;
}

/* The two views of a silence in the guest's traffic, the capture's (its clock is CLOCK_REALTIME:
 * real_minus_mono turns a time on the monotonic clock into one on it) and the link's: a window
 * armed at start, ended at end, each read once a frame came after its end. */
static void gaps_arm(struct session *s, uint64_t start, uint64_t real_minus_mono)
{
	if (s->cap)
		capture_gap_arm(s->cap, start + real_minus_mono);
	if (s->net)
		net_gap_arm(s->net, start);
}

static void gaps_end(struct session *s, uint64_t end, uint64_t real_minus_mono)
{
	if (s->net)
		net_gap_end(s->net, end);
	if (s->cap)
		capture_gap_end(s->cap, end + real_minus_mono);
}

/* ms[0] the capture's, ms[1] the link's longest gap, NAN where that view is off or has not
 * closed; true when every view there is has closed. */
static bool gaps_read(struct session *s, double ms[2])
{
	uint64_t gap;
	ms[0] = ms[1] = NAN;
	if (s->cap && capture_gap_read(s->cap, &gap))
		ms[0] = (double)gap / 1e6;
	if (s->net && net_gap_read(s->net, &gap))
		ms[1] = (double)gap / 1e6;
	return (!s->cap || !isnan(ms[0])) && (!s->net || !isnan(ms[1]));
}

/* The followed switch's event, with whatever its measurements have by now. */
static void switch_ended(struct session *s);

static void finish_switch(struct session *s)
{
	struct ctl_page *ctl = &s->track.ctl;
	const struct vmm_switch *sw = &s->track.sw;
	switch_ended(s);
	struct snap_event ev = {.t = s->track.t_start, .ok = sw->phase == SWITCH_DONE};
	double gap[2];

	ev.kind = SEV_NIC_SWITCH;
	ev.from = sw->from;
	ev.to = sw->to;
	snprintf(ev.why, sizeof(ev.why), "%s", sw->why);
	ev.duration_ms = sw->ns_end > sw->ns_start ? (double)(sw->ns_end - sw->ns_start) / 1e6 : 0;
	ev.probe_ms = (double)sw->probe_ns / 1e6;
	gaps_read(s, gap);
	for (unsigned b = 0; b < 2; b++) { /* [0] the capture's, [1] the link's */
		ev.blackout_valid[b] = !isnan(gap[b]);
		ev.blackout_ms[b] = ev.blackout_valid[b] ? gap[b] : 0;
	}
	vmm_read_ctl(s->vm, ctl);
	ev.lost = guest_lost(ctl) - s->track.lost0;
	if (s->cap) {
		struct capture_counters cc;
		capture_read(s->cap, &cc);
		ev.lost += cc.seq_lost - s->track.cap_lost0;
	}
	ev.lost_valid = true;
	session_queue_event(s, &ev);
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
	gaps_end(s, sw->ns_end, s->track.real_minus_mono);
}

static bool switch_over(const struct session *s)
{
	const struct vmm_switch *sw = &s->track.sw;
	return sw->seq != s->track.seq || sw->phase == SWITCH_DONE || sw->phase == SWITCH_FAILED;
}

/* The neighbours a switch of every VM found mid-switch: asked again until their last one is
 * over. */
static void retry_pending(struct session *s)
{
	for (unsigned i = 1; i < s->nr_vms; i++) {
		struct session_vm *sv = &s->vms[i];
		const char *why;
		if (!sv->switch_pending)
			continue;
		int r = vmm_switch_nic(sv->vm, sv->switch_to, &why);
		if (r == -EBUSY)
			continue;
		sv->switch_pending = false;
		if (!r)
			vlog(vmm_log(s->vm), "vmscope: VM%u moves to the %s card", i + 1,
			     nic_mode_name(sv->switch_to));
		else if (r != -EALREADY)
			vlog(vmm_log(s->vm), "vmscope: VM%u stays on its card: %s", i + 1, why);
	}
}

void switch_watch_follow(struct session *s)
{
	retry_pending(s);
	if (!s->track.on)
		return;
	vmm_switch_read(s->vm, &s->track.sw);
	if (!switch_over(s))
		return;
	switch_ended(s);
	double gap[2], now = mono_s() - s->t0;
	bool measured = gaps_read(s, gap);
	double settle = s->opts.workload == WL_PING ? SETTLE_PING_S : SETTLE_S;
	/* Without traffic nothing closes the windows: the blackout then is "-". A workload that
	 * moves no packets (idle, exits) has nothing to wait for: the event goes out settled. */
	bool traffic = s->opts.workload >= WL_PING;
	if (((measured || !traffic) && now - s->track.t_ended >= settle) ||
	    now - s->track.t_ended >= settle + 2)
		finish_switch(s);
}

bool switch_watch_switching(const struct session *s, enum nic_mode *to)
{
	if (!s->track.on || switch_over(s))
		return false;
	*to = s->track.sw.to;
	return true;
}

void switch_watch_end(struct session *s, const char *why)
{
	if (!s->track.on)
		return;
	vmm_switch_read(s->vm, &s->track.sw);
	if (!switch_over(s))
		snprintf(s->track.sw.why, sizeof(s->track.sw.why), "%s", why);
	finish_switch(s);
}

void session_poll(struct session *s)
{
	switch_watch_follow(s);
}

bool session_settle(struct session *s)
{
	switch_watch_end(s, "the run ended before the switch did");
	return s->nr_events > 0;
}

bool session_guest_booting(struct session *s)
{
	struct vmm_status st;
	for (unsigned i = 0; i < s->nr_vms; i++) { /* a planned switch moves every VM's card */
		vmm_status(s->vms[i].vm, &st);
		if (st.state == VMM_BOOTING)
			return true;
	}
	return false;
}

/* Every switch asked for is one event: a refusal too, with why (the card stays). */
static int refused(struct session *s, enum nic_mode to, const char *why, int r)
{
	struct snap_event ev = {.t = mono_s() - s->t0,
				.kind = SEV_NIC_SWITCH,
				.refused = true,
				.from = vmm_nic_mode(s->vm),
				.to = to};
	snprintf(ev.why, sizeof(ev.why), "%s", why);
	session_queue_event(s, &ev);
	return r;
}

/* VM1's switch, followed to its event; with all, every neighbour's card moves too. */
static int switch_vm1(struct session *s, enum nic_mode to, bool all, const char **why)
{
	struct ctl_page *ctl = &s->track.ctl;
	if (s->track.on) {
		vmm_switch_read(s->vm, &s->track.sw);
		if (!switch_over(s)) {
			*why = "a switch is already under way";
			return refused(s, to, *why, -EBUSY);
		}
		/* The last one's event goes out with what it has measured by now. */
		finish_switch(s);
	}
	int r = vmm_switch_nic(s->vm, to, why);
	if (r) {
		return refused(s, to, *why, r);
	}
	/* The neighbours' cards move with VM1's; the event follows VM1's switch. A neighbour still
	 * finishing its last switch moves once that is over (retry_pending); another refusal is
	 * said in the log (its card carries on). */
	for (unsigned i = 1; all && i < s->nr_vms; i++) {
		const char *nwhy;
		int nr = vmm_switch_nic(s->vms[i].vm, to, &nwhy);
		s->vms[i].switch_pending = nr == -EBUSY;
		s->vms[i].switch_to = to;
		if (nr == -EBUSY)
			vlog(vmm_log(s->vm),
			     "vmscope: VM%u finishes its last switch, then moves to the %s card",
			     i + 1, nic_mode_name(to));
		else if (nr)
			vlog(vmm_log(s->vm), "vmscope: VM%u stays on its card: %s", i + 1, nwhy);
	}
	uint64_t mono = mono_ns(), real = clock_ns(CLOCK_REALTIME);
	vmm_switch_read(s->vm, &s->track.sw);
	vmm_read_ctl(s->vm, ctl);
	s->track.on = true;
	s->track.ended = false;
	s->track.seq = s->track.sw.seq;
	s->track.t_start = mono_s() - s->t0;
	s->track.real_minus_mono = real - mono;
	s->track.lost0 = guest_lost(ctl);
	s->track.cap_lost0 = 0;
	if (s->cap) {
		struct capture_counters cc;
		capture_read(s->cap, &cc);
		s->track.cap_lost0 = cc.seq_lost;
	}
	gaps_arm(s, s->track.sw.ns_start, s->track.real_minus_mono);
	return 0;
}

int session_quiet_gap(struct session *s, double ms, double out_ms[2])
{
	out_ms[0] = out_ms[1] = NAN;
	if (s->track.on)
		return -EBUSY;
	uint64_t mono = mono_ns(), real = clock_ns(CLOCK_REALTIME);
	uint64_t end = mono + (uint64_t)(ms * 1e6);
	gaps_arm(s, mono, real - mono);
	struct timespec ts = {(time_t)(end / 1000000000ull), (long)(end % 1000000000ull)};
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
	gaps_end(s, end, real - mono);
	/* Each closes at its next frame: a second at most under closed-loop traffic. */
	for (int i = 0; i < 200 && !gaps_read(s, out_ms); i++)
		usleep(5000);
	return 0;
}

int session_switch_nic(struct session *s, enum nic_mode to, const char **why)
{
	return switch_vm1(s, to, true, why);
}

int session_switch_vm_nic(struct session *s, unsigned vm, enum nic_mode to, const char **why)
{
	if (vm >= s->nr_vms) {
		*why = "no such VM";
		return -EINVAL;
	}
	if (!vm)
		return switch_vm1(s, to, false, why);
	s->vms[vm].switch_pending = false; /* this one is asked for it alone */
	int r = vmm_switch_nic(s->vms[vm].vm, to, why);
	if (!r)
		vlog(vmm_log(s->vm), "vmscope: VM%u moves to the %s card", vm + 1,
		     nic_mode_name(to));
	return r;
}
