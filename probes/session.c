/* The session: owns the VM and the metric sources, reads them every tick and has the readings
 * assembled into one snapshot (assemble.c); the live switch is followed in switch_watch.c. */
#define _GNU_SOURCE
#include "probes/session_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <x86intrin.h>

#include "vmm/clock.h"
#include "vmm/kvm/kvm.h"
#include "vmm/net/net.h"
#include "vmm/work_loop.h"

static double host_work_ns(double ns_per_cycle);

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
	if (!s->opts.no_stats && kstats_open(vmm_vcpu_fd(vm), &s->ks) == 0) {
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
				&s->cap_why)) {
		s->cap = NULL;
	}
}

int session_check(const struct session_opts *opts, const char **why)
{
	/* auto runs the translated CPU where KVM is missing; translated never needs it. */
	int fd = opts->cpu == CPU_AUTO || opts->cpu == CPU_TRANSLATED
		     ? 0
		     : kvm_open(opts->kvm_path ? opts->kvm_path : "/dev/kvm");
	if (fd < 0) {
		*why = kvm_open_strerror(fd);
		return fd;
	}
	if (fd > 0)
		close(fd);
	if (opts->pcap_file && link_check(why))
		return SESSION_NO_PCAP;
	return 0;
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
		*why = s->net && !s->net->have_link ? s->net->why : s->cap_why; /* literals */
		net_close(s->net);
		free(s);
		return SESSION_NO_PCAP;
	}
	r = boot(s, opts->cpu, why);
	/* The capture reads from here on (the kernel kept the guest's first frames), and the
	 * --pcap file is created only now that the run will go ahead. */
	if (!r && s->cap && capture_start(s->cap, opts->pcap_file, &s->cap_why)) {
		r = opts->pcap_file ? SESSION_NO_PCAP : 0;
		*why = s->cap_why;
		if (!r) {
			capture_close(s->cap);
			s->cap = NULL;
		}
	}
	if (r) {
		if (s->vm)
			vmm_destroy(s->vm);
		kstats_close(&s->ks);
		free(s->stat_values);
		capture_close(s->cap);
		net_close(s->net);
		free(s);
		return r;
	}
	if (s->cap_why && s->net)
		vlog(vmm_log(s->vm), "probes: capture off: %s", s->cap_why);
	if (opts->no_bpf)
		s->bpf_why = "eBPF probes are off (--no-bpf)";
	else if (kvmtrace_open(&s->kt, getpid(), opts->verbose ? KT_OPEN_VERBOSE : 0, &s->bpf_why))
		s->kt = NULL;
	if (s->bpf_why)
		vlog(vmm_log(s->vm), "probes: %s", s->bpf_why);
	s->host_work_ns = host_work_ns(1e6 / (double)vmm_tsc_khz(s->vm));
	s->t0 = s->last = mono_s();
	*out = s;
	return 0;
}

int session_outputs_news(struct session *s, bool final, char *out, size_t n)
{
	if (final)
		capture_finish(s->cap);
	if (s->cap && s->opts.pcap_file && !s->pcap_said) {
		struct capture_counters cc;
		capture_read(s->cap, &cc);
		if (cc.dump_failed) {
			s->pcap_said = true;
			snprintf(
			    out, n,
			    "writing the --pcap file '%s' failed (%s); it holds the first %llu "
			    "packets, each complete",
			    s->opts.pcap_file, strerror(cc.dump_errno),
			    (unsigned long long)cc.dumped);
			return 1;
		}
	}
	uint64_t lines;
	int e = s->vm && s->opts.log_path ? vlog_file_error(vmm_log(s->vm), &lines) : 0;
	if (e && !s->log_said) {
		s->log_said = true;
		snprintf(out, n,
			 "writing the --log file '%s' failed (%s); it holds the first %llu lines",
			 s->opts.log_path, strerror(e), (unsigned long long)lines);
		return 1;
	}
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

bool session_paused(const struct session *s)
{
	return s->paused;
}

const char *session_net_why(struct session *s)
{
	return s->net ? s->net->why : NULL;
}

bool session_guest_failed(struct session *s)
{
	struct vmm_status st;
	vmm_status(s->vm, &st);
	return st.state == VMM_FAILED;
}
struct vlog *session_log(struct session *s)
{
	return vmm_log(s->vm);
}
struct vmm *session_vmm(struct session *s)
{
	return s->vm;
}
enum host_kind session_host(struct session *s)
{
	return vmm_host(s->vm);
}
enum cpu_mode session_cpu_mode(struct session *s)
{
	return vmm_cpu_mode(s->vm);
}

const char *session_cpu_note(struct session *s)
{
	return vmm_cpu_note(s->vm);
}

int session_restart(struct session *s, enum cpu_mode cpu, const char **why)
{
	struct vmm *old = s->vm;
	enum cpu_mode was = vmm_cpu_mode(old);
	switch_watch_end(s, "the guest was restarted before the switch ended");
	struct kstats old_ks = s->ks;
	uint64_t *old_values = s->stat_values;

	/* A fault workload is one shot: the restarted guest comes up idle instead of failing again.
	 */
	if (s->opts.workload == WL_FAULT)
		s->opts.workload = WL_IDLE;
	/* Boot the new VM before the old one goes, so a refusal leaves the old one running. */
	s->ks.fd = -1;
	s->ks.desc = NULL;
	s->stat_values = NULL;
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
	struct snap_event ev = {.t = mono_s() - s->t0,
				.kind = SEV_GUEST_RESTARTED,
				.ok = true,
				.from = was,
				.to = vmm_cpu_mode(s->vm)};
	session_queue_event(s, &ev);
	assembly_new_guest(&s->asm_state); /* its counters start from zero; a new vCPU clock */
	s->log_seq = 0;			   /* the new VMM's log */
	s->failed_said = false;
	return 0;
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

/* Every source, read once: the tick's readings. */
static void read_sources(struct session *s, struct readings *in, struct nic_readout *ro,
			 struct link_counters *peer, struct capture_counters *cc,
			 struct vmm_region *regions)
{
	struct vmm *vm = s->vm;
	vmm_poll(vm);
	vmm_status(vm, &in->status);
	vmm_read_ctl(vm, &s->ctl);
	in->ctl = &s->ctl;
	in->host = vmm_host(vm);
	in->cpu_mode = vmm_cpu_mode(vm);
	in->irqchip = vmm_irqchip(vm);
	in->tsc_khz = vmm_tsc_khz(vm);
	in->host_work_ns = s->host_work_ns;
	in->workload = s->opts.workload;
	in->kind = s->opts.kind;
	in->rate = s->opts.rate;
	in->pkt_size = s->opts.pkt_size;
	vmm_read_counters(vm, &in->vmm);
	if (s->stat_values && !kstats_read(&s->ks, s->stat_values)) {
		in->ks = &s->ks;
		in->stat_values = s->stat_values;
	}
	in->bpf_why = s->bpf_why;
	if (in->cpu_mode == CPU_TRANSLATED) /* the probes stay loaded for a restart into KVM */
		in->bpf_why = "KVM's tracepoints see nothing of a translated CPU (no KVM runs it)";
	else if (s->kt) {
		kvmtrace_read(s->kt, &s->kt_counts);
		in->kt = &s->kt_counts;
	}
	in->nr_regions = vmm_nic_regions(vm, regions);
	in->regions = regions;
	vmm_net_info(vm, &in->net_info);
	in->net_present = in->net_info.present;
	if (in->net_present) {
		in->nic_mode = vmm_nic_mode(vm);
		if (!vmm_read_net(vm, ro, peer)) {
			in->nic = ro;
			in->peer = peer;
		}
	} else {
		in->nic_mode = vmm_nic_mode(vm);
	}
	if (s->cap) {
		capture_read(s->cap, cc);
		in->cap = cc;
	}
	in->cap_why = s->cap_why;
	in->cpu_ok = vmm_read_cpu(vm, &in->cpu) == 0;
	in->log_on = s->opts.log_path != NULL;
	if (in->log_on)
		in->log_errno = vlog_file_error(vmm_log(vm), &in->log_lines);
}

/* The TAP link, looked at once a tick from outside the data path: a change of state is an
 * event whose why is the sentence a user reads (what happened, for how long it was down). */
static void follow_link(struct session *s, struct snapshot *snap)
{
	if (!s->net || !s->net->have_link)
		return;
	char why[160] = "";
	enum link_state st = s->link_state == LINK_GONE
				 ? LINK_GONE /* a removed TAP or name does not come back */
				 : link_health(&s->net->link, why, sizeof(why));
	if (st != s->link_state) {
		struct snap_event ev = {.t = snap->t, .kind = SEV_LINK, .ok = st == LINK_UP};
		ev.from = s->link_state;
		ev.to = st;
		if (st == LINK_UP)
			snprintf(ev.why, sizeof(ev.why), "the link %s is up again after %.1f s",
				 LINK_TAP, snap->t - s->link_since);
		else
			snprintf(ev.why, sizeof(ev.why), "%s", why);
		session_queue_event(s, &ev);
		if (s->link_state == LINK_UP)
			s->link_faults++;
		s->link_state = st;
		s->link_since = snap->t;
		snprintf(s->link_why, sizeof(s->link_why), "%s", why);
	}
	snap->link_on = true;
	snap->link_state = s->link_state;
	snap->link_faults = s->link_faults;
	snprintf(snap->link_why, sizeof(snap->link_why), "%s", s->link_why);
}

bool session_link_gone(const struct session *s)
{
	return s->link_state == LINK_GONE;
}

void session_tick(struct session *s, struct snapshot *snap)
{
	struct readings in = {0};
	struct nic_readout ro;
	struct link_counters peer;
	struct capture_counters cc;
	struct vmm_region regions[VMM_NIC_REGIONS];
	double now = mono_s();

	in.seq = ++s->seq;
	in.t = now - s->t0;
	/* The first tick after a boot is the baseline: rates need two readings. */
	in.dt = s->asm_state.prev.seq ? now - s->last : 0;
	s->last = now;
	read_sources(s, &in, &ro, &peer, &cc, regions);
	switch_watch_follow(s);
	in.switching = switch_watch_switching(s, &in.switch_to);
	in.switch_unsettled = s->track.on && !s->track.ended;
	in.switch_end_t = s->switch_end_t;
	snapshot_assemble(&s->asm_state, &in, snap);

	if (in.status.state == VMM_FAILED && !s->failed_said) { /* once per guest */
		struct snap_event ev = {.t = snap->t, .kind = SEV_GUEST_FAILED, .ok = false};
		ev.from = ev.to = snap->cpu_mode;
		snprintf(ev.why, sizeof(ev.why), "%s", in.status.reason);
		session_queue_event(s, &ev);
		s->failed_said = true;
	}
	follow_link(s, snap);
	snap->nr_log =
	    vlog_since(vmm_log(s->vm), &s->log_seq, snap->log, SNAP_LOG_MAX, &snap->log_dropped);
	snap->boot_first_insn_ms = (double)vmm_ns_first_insn(s->vm) / 1e6;
	snap->boot_banner_ms = (double)vmm_ns_banner(s->vm) / 1e6;
	memcpy(snap->events, s->events, sizeof(s->events[0]) * s->nr_events);
	snap->nr_events = s->nr_events;
	s->nr_events = 0;
	snap->events_dropped = s->events_dropped;
	s->events_dropped = 0;
}

enum nic_mode session_nic_mode(struct session *s)
{
	return vmm_nic_mode(s->vm);
}
