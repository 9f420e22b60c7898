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
#include "vmm/vsnic/vsnic.h"
#include "vmm/work_loop.h"

static double host_work_ns(double ns_per_cycle);

/* Several VMs: the probes count VM1's vCPU thread's events, every exit of VM1's (the others'
 * exits and the shared network thread's interrupt injections are passed over). Its thread is
 * waited for (it starts with the VM), a second at most; until then they count every thread. */
static void follow_vm1(struct session *s)
{
	if (!s->kt || s->nr_vms <= 1)
		return;
	int tid = 0;
	for (int i = 0; i < 1000 && !(tid = vmm_vcpu_tid(s->vm)); i++)
		usleep(1000);
	kvmtrace_follow(s->kt, tid);
}

/* A neighbour's tx goes out in bursts, NEIGHBOUR_BURSTS_S a second, each at most
 * NEIGHBOUR_BURST_MAX datagrams (three quarters of the e1000's 64-entry tx ring, the drivers'
 * smallest, so that a burst never waits for room): the guest halts between them. A halt and its
 * wake-up cost a kvm_pvm vCPU thread about 250 us of host CPU (schedstat, docs/benchmarks.md), so a
 * neighbour waking a thousand times a second took a quarter of a core whatever its rate: the load
 * on the I/O path is the frames, not the wake-ups. */
#define NEIGHBOUR_BURSTS_S  100
#define NEIGHBOUR_BURST_MAX 48

uint32_t session_neighbour_burst(uint32_t rate)
{
	uint32_t b = rate / NEIGHBOUR_BURSTS_S;
	return b < 1 ? 1 : b > NEIGHBOUR_BURST_MAX ? NEIGHBOUR_BURST_MAX : b;
}

/* What VM i runs: VM1 the session's workload, VM2.. the neighbours'. */
static void apply_workload(struct session *s, unsigned i, struct vmm *vm)
{
	if (i == 0)
		vmm_set_workload(vm, s->opts.workload, s->opts.kind, s->opts.rate);
	else {
		uint32_t r = s->opts.neighbour_rate;
		vmm_set_burst(vm, session_neighbour_burst(r));
		vmm_set_workload(vm, s->opts.neighbours, 0, r);
	}
}

static void free_vm(struct session_vm *sv)
{
	kstats_close(&sv->ks);
	free(sv->stat_values);
	free(sv->asm_state);
	free(sv->snap);
	if (sv->vm)
		vmm_destroy(sv->vm);
	memset(sv, 0, sizeof(*sv));
	sv->ks.fd = -1;
}

static int boot_vm(struct session *s, unsigned i, enum cpu_mode cpu, struct session_vm *sv,
		   const char **why)
{
	struct vmm_opts vo = {
	    .cpu = cpu,
	    .kvm_path = s->opts.kvm_path,
	    .log_path = i ? NULL : s->opts.log_path, /* --log is VM1's */
	    .hang_timeout_ms = s->opts.hang_timeout_ms,
	    .nic = s->opts.nic,
	    .net = s->net,
	    .index = i,
	    .sriov = s->sriov,
	};
	struct vmm *vm;
	memset(sv, 0, sizeof(*sv));
	sv->ks.fd = -1;
	int r = vmm_create(&vm, &vo, why);
	if (r)
		return r;
	vmm_set_packet_size(vm, s->opts.pkt_size);
	apply_workload(s, i, vm);
	vmm_pause(vm, s->paused);
	r = vmm_start(vm);
	if (r) {
		*why = "the vCPU thread could not be started";
		vmm_destroy(vm);
		return r;
	}
	sv->vm = vm;
	if (!s->opts.no_stats && kstats_open(vmm_vcpu_fd(vm), &sv->ks) == 0) {
		sv->stat_values = calloc(sv->ks.nr ? sv->ks.nr : 1, sizeof(uint64_t));
		if (!sv->stat_values)
			kstats_close(&sv->ks);
	}
	if (i) {
		sv->asm_state = calloc(1, sizeof(*sv->asm_state));
		sv->snap = malloc(sizeof(*sv->snap));
		if (!sv->asm_state || !sv->snap) {
			free_vm(sv);
			*why = "out of memory";
			return -ENOMEM;
		}
	}
	return 0;
}

/* Boots every VM of the session into vms: all of them, or none. */
static int boot_all(struct session *s, enum cpu_mode cpu, struct session_vm *vms, const char **why)
{
	for (unsigned i = 0; i < s->nr_vms; i++) {
		int r = boot_vm(s, i, cpu, &vms[i], why);
		if (r) {
			while (i--)
				free_vm(&vms[i]);
			return r;
		}
	}
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
	return session_check_vms(opts, why);
}

int session_check_vms(const struct session_opts *opts, const char **why)
{
	if (opts->vms <= 1)
		return 0;
	if (opts->vms > NET_VMS_MAX) {
		*why = "--vms takes 1 to 4 VMs";
		return -EINVAL;
	}
	if (opts->nic == NIC_MODE_NONE) {
		*why = "several VMs (--vms) share a network link: give them a card (--nic)";
		return -EINVAL;
	}
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
	s->nr_vms = opts->vms > 1 ? opts->vms : 1;
	r = session_check_vms(opts, why);
	if (r) {
		free(s);
		return r;
	}
	if (opts->nic != NIC_MODE_NONE) {
		r = net_open(&s->net, why);
		if (r) {
			free(s);
			return r;
		}
		open_capture(s);
	}
	/* Several VMs: the host owns the SR-IOV card and enables a VF for each. */
	if (s->net && s->nr_vms > 1) {
		r = vsnic_host_open(&s->sriov, s->net, s->nr_vms);
		if (r) {
			*why = "the SR-IOV card for several VMs could not be set up";
			capture_close(s->cap);
			net_close(s->net);
			free(s);
			return r;
		}
	}
	if (opts->pcap_file && !s->cap) {
		*why = s->net && !s->net->have_link ? s->net->why : s->cap_why; /* literals */
		net_close(s->net);
		free(s);
		return SESSION_NO_PCAP;
	}
	r = boot_all(s, opts->cpu, s->vms, why);
	s->vm = s->vms[0].vm;
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
		for (unsigned i = 0; i < s->nr_vms; i++)
			free_vm(&s->vms[i]);
		vsnic_host_close(s->sriov);
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
	follow_vm1(s);
	if (s->kt && s->nr_vms > 1)
		vlog(vmm_log(s->vm), "probes: they count VM1's vCPU thread's events (thread %d)",
		     vmm_vcpu_tid(s->vm));
	s->host_work_ns = host_work_ns(1e6 / (double)vmm_tsc_khz(s->vm));
	if (s->nr_vms > 1) {
		uint8_t mac[6];
		net_guest_mac(0, mac); /* a switch's blackout is VM1's: the others fill its gaps */
		net_gap_watch(s->net, mac);
		vlog(vmm_log(s->vm),
		     "vmscope: %u VMs on one link; VM1 (%s) measures, VM2..VM%u are its neighbours",
		     s->nr_vms, "10.77.0.2", s->nr_vms);
	}
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
	for (unsigned i = 0; i < s->nr_vms; i++)
		free_vm(&s->vms[i]);
	vsnic_host_close(s->sriov);
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
	for (unsigned i = 0; i < s->nr_vms; i++)
		vmm_set_packet_size(s->vms[i].vm, bytes);
}

void session_set_neighbours(struct session *s, enum workload wl, uint32_t rate)
{
	s->opts.neighbours = wl;
	s->opts.neighbour_rate = rate;
	for (unsigned i = 1; i < s->nr_vms; i++)
		apply_workload(s, i, s->vms[i].vm);
}

unsigned session_vms(const struct session *s)
{
	return s->nr_vms;
}

void session_pause(struct session *s, bool pause)
{
	s->paused = pause;
	for (unsigned i = 0; i < s->nr_vms; i++)
		vmm_pause(s->vms[i].vm, pause);
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
struct vmm *session_vmm_of(struct session *s, unsigned i)
{
	return i < s->nr_vms ? s->vms[i].vm : NULL;
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
	enum cpu_mode was = vmm_cpu_mode(s->vm);
	struct session_vm fresh[NET_VMS_MAX];
	switch_watch_end(s, "the guest was restarted before the switch ended");

	/* A fault workload is one shot: the restarted guest comes up idle instead of failing again.
	 */
	enum workload wl = s->opts.workload;
	if (s->opts.workload == WL_FAULT)
		s->opts.workload = WL_IDLE;
	/* Boot the new VMs before the old ones go, so a refusal leaves the old ones running, on
	 * the card in use (a switch may have moved them since the start). */
	enum nic_mode nic = s->opts.nic;
	if (vmm_nic_mode(s->vm) != NIC_MODE_NONE)
		s->opts.nic = vmm_nic_mode(s->vm);
	int r = boot_all(s, cpu, fresh, why);
	if (r) {
		s->opts.workload = wl;
		s->opts.nic = nic;
		return r;
	}
	for (unsigned i = 0; i < s->nr_vms; i++) {
		free_vm(
		    &s->vms[i]); /* its card detaches; the link, the peer and the capture stay */
		s->vms[i] = fresh[i];
	}
	s->vm = s->vms[0].vm;
	s->opts.cpu = cpu;
	follow_vm1(s);
	struct snap_event ev = {.t = mono_s() - s->t0,
				.kind = SEV_GUEST_RESTARTED,
				.ok = true,
				.from = was,
				.to = vmm_cpu_mode(s->vm)};
	session_queue_event(s, &ev);
	assembly_new_guest(&s->asm_state); /* its counters start from zero; a new vCPU clock */
	memset(s->vm1_hist, 0, sizeof(s->vm1_hist));
	memset(s->load_hist, 0, sizeof(s->load_hist));
	s->log_seq = 0; /* the new VMM's log */
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

/* Every source of VM i, read once: the tick's readings. The probes, the capture and the log
 * are VM1's (the probes' counts, with several VMs, the session's). */
static void read_sources(struct session *s, unsigned i, struct readings *in, struct nic_readout *ro,
			 struct link_counters *peer, struct capture_counters *cc,
			 struct vmm_region *regions)
{
	struct session_vm *sv = &s->vms[i];
	struct vmm *vm = sv->vm;
	in->shared = s->nr_vms > 1;
	in->index = i;
	in->net_share = sv->path_share;
	vmm_poll(vm);
	vmm_status(vm, &in->status);
	vmm_read_ctl(vm, &sv->ctl);
	in->ctl = &sv->ctl;
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
	if (i) { /* a neighbour: what follows is VM1's, or the session's */
		in->workload = s->opts.neighbours;
		in->kind = 0;
		in->rate = s->opts.neighbour_rate;
	}
	if (sv->stat_values && !kstats_read(&sv->ks, sv->stat_values)) {
		in->ks = &sv->ks;
		in->stat_values = sv->stat_values;
	}
	in->bpf_why = s->bpf_why;
	if (in->cpu_mode == CPU_TRANSLATED) /* the probes stay loaded for a restart into KVM */
		in->bpf_why = "KVM's tracepoints see nothing of a translated CPU (no KVM runs it)";
	else if (i)
		in->bpf_why = "the probes count every VM of the session together (VM1's record)";
	else if (s->kt) {
		kvmtrace_read(s->kt, &s->kt_counts);
		in->kt = &s->kt_counts;
		/* Several VMs: the probes follow VM1's vCPU thread (follow_vm1), which every exit
		 * of VM1's runs on; interrupts are injected from the shared network thread. */
		in->kt_shared = s->nr_vms > 1 && !vmm_vcpu_tid(vm);
		if (s->nr_vms > 1)
			s->kt_counts.attached[KT_MSI_SET_IRQ] = false;
	}
	in->nr_regions = vmm_nic_regions(vm, regions);
	in->regions = regions;
	vmm_net_info(vm, &in->net_info);
	in->net_present = in->net_info.present;
	in->hops_ok = vmm_ping_hops(vm, &in->hops);
	if (in->net_present) {
		in->nic_mode = vmm_nic_mode(vm);
		if (!vmm_read_net(vm, ro, peer)) {
			in->nic = ro;
			in->peer = peer;
		}
	} else {
		in->nic_mode = vmm_nic_mode(vm);
	}
	if (s->cap && !i) { /* it follows VM1's address */
		capture_read(s->cap, cc);
		in->cap = cc;
	}
	in->cap_why = i ? "the capture follows VM1's traffic" : s->cap_why;
	in->cpu_ok = vmm_read_cpu(vm, &in->cpu) == 0;
	in->log_on = !i && s->opts.log_path != NULL;
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

static void vm_identity(unsigned i, struct snap_vm *out)
{
	uint8_t mac[6];
	uint32_t ip = net_guest_ip(i);
	net_guest_mac(i, mac);
	snprintf(out->name, sizeof(out->name), "vm%u", i + 1);
	snprintf(out->ip, sizeof(out->ip), "%u.%u.%u.%u", ip >> 24, ip >> 16 & 255, ip >> 8 & 255,
		 ip & 255);
	snprintf(out->mac, sizeof(out->mac), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1],
		 mac[2], mac[3], mac[4], mac[5]);
	out->neighbour = i > 0;
}

/* VM1's round trips on each card while the neighbours idle [0] and while they load the path [1]:
 * a tick counts when the load and the card were the same all through it. */
static void follow_load(struct session *s, struct snapshot *snap, const struct ctl_page *ctl)
{
	struct snap_vms *v = &snap->vms;
	unsigned loaded = s->opts.neighbours != WL_IDLE, m = snap->nic_mode;
	bool clean = !snap->switching && snap->dt > 0 && s->load_was == s->opts.neighbours &&
		     s->load_mode == snap->nic_mode && m < NIC_MODE_MAX;
	for (unsigned i = 0; i < RTT_SLOTS; i++) {
		uint64_t d =
		    ctl->ping_rtt[i] >= s->vm1_hist[i] ? ctl->ping_rtt[i] - s->vm1_hist[i] : 0;
		if (clean)
			s->load_hist[m][loaded][i] += d;
		s->vm1_hist[i] = ctl->ping_rtt[i];
	}
	s->load_was = s->opts.neighbours;
	s->load_mode = snap->nic_mode;
	static const double q[3] = {0.50, 0.99, 0.999};
	for (unsigned c = 0; c < NIC_MODE_MAX; c++)
		for (unsigned l = 0; l < 2; l++) {
			struct snap_vm1_load *o = &v->load[c];
			const uint64_t *h = s->load_hist[c][l];
			uint64_t n = 0;
			for (unsigned i = 0; i < RTT_SLOTS; i++)
				n += h[i];
			o->pings[l] = n;
			o->valid[l] = n > 0;
			for (unsigned k = 0; k < 3; k++)
				o->us[l][k] = n ? rtt_percentile_us(h, q[k], snap->tsc_khz) : 0;
		}
}

/* Several VMs (--vms): each one's figures (VM1's are the record's own), what they share, and
 * VM1's round trips alone and under load. span: the seconds since the last tick. */
static void tick_vms(struct session *s, struct snapshot *snap, const struct readings *vm1,
		     double span)
{
	struct snap_vms *v = &snap->vms;
	memset(v, 0, sizeof(*v));
	if (s->nr_vms <= 1)
		return;
	v->nr = s->nr_vms;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	v->cpus = cpus > 0 ? (unsigned)cpus : 0;
	v->neighbours = s->opts.neighbours;
	v->neighbour_rate = s->opts.neighbour_rate;
	double pps = 0;
	for (unsigned i = 0; i < s->nr_vms; i++) {
		const struct snapshot *one = snap;
		if (i) {
			struct session_vm *sv = &s->vms[i];
			struct readings in = {0};
			struct nic_readout ro;
			struct link_counters peer;
			struct capture_counters cc;
			struct vmm_region regions[VMM_NIC_REGIONS];
			in.seq = vm1->seq;
			in.t = vm1->t;
			in.dt = sv->asm_state->prev.seq ? span : 0;
			read_sources(s, i, &in, &ro, &peer, &cc, regions);
			in.switching = vm1->switching;
			in.switch_to = vm1->switch_to;
			in.switch_end_t = vm1->switch_end_t;
			snapshot_assemble(sv->asm_state, &in, sv->snap);
			one = sv->snap;
			if (in.status.state == VMM_FAILED && !sv->failed_said) {
				struct snap_event ev = {
				    .t = snap->t, .kind = SEV_GUEST_FAILED, .ok = false};
				ev.from = ev.to = one->cpu_mode;
				int w = snprintf(ev.why, sizeof(ev.why), "VM%u: ", i + 1);
				snprintf(ev.why + w, sizeof(ev.why) - (size_t)w, "%.*s",
					 (int)(sizeof(ev.why) - (size_t)w - 1), in.status.reason);
				session_queue_event(s, &ev);
				sv->failed_said = true;
			}
		}
		snap_vm_fill(one, &v->vm[i]);
		vm_identity(i, &v->vm[i]);
		if (v->vm[i].dev_tx.valid && v->vm[i].dev_rx.valid)
			pps += v->vm[i].dev_tx.rate + v->vm[i].dev_rx.rate;
	}
	/* The shared path: the backend's counts (written by the network thread; a tick's skew)
	 * and that thread's CPU, over every VM's packets. */
	const struct net_backend_stats *st = &s->net->be->st;
	struct link_counters peer;
	net_read_peer(s->net, &peer);
	uint64_t now[5] = {__atomic_load_n(&st->switched, __ATOMIC_RELAXED),
			   __atomic_load_n(&st->tx_frames, __ATOMIC_RELAXED),
			   __atomic_load_n(&st->rx_frames, __ATOMIC_RELAXED),
			   net_thread_cpu_ns(s->net), peer.sink_rx};
	bool was = s->path_prev_ok && snap->dt > 0;
	double dt = was ? span : 0;
	figure_update(&v->switched, now[0], was ? s->path_prev[0] : now[0], dt);
	figure_update(&v->link_tx, now[1], was ? s->path_prev[1] : now[1], dt);
	figure_update(&v->link_rx, now[2], was ? s->path_prev[2] : now[2], dt);
	figure_update(&v->peer_sink, now[4], was ? s->path_prev[4] : now[4], dt);
	v->path_card = snap->nic_mode == NIC_MODE_VF;
	v->path_cpu.valid = was && pps > 0 && now[3] >= s->path_prev[3];
	v->path_cpu.value = v->path_cpu.valid ? (double)(now[3] - s->path_prev[3]) / span / pps : 0;
	snprintf(v->path_cpu.source, sizeof(v->path_cpu.source), "thread");
	memcpy(s->path_prev, now, sizeof(now));
	/* The capture on the link counts each VM's packets by address (VM1's reading has them). */
	if (vm1->cap) {
		for (unsigned i = 0; i < s->nr_vms && i < CAP_VMS; i++) {
			uint64_t c[2] = {vm1->cap->vm_from[i], vm1->cap->vm_to[i]};
			figure_update(&v->vm[i].cap_tx, c[0], was ? s->cap_prev[i][0] : c[0], dt);
			figure_update(&v->vm[i].cap_rx, c[1], was ? s->cap_prev[i][1] : c[1], dt);
			memcpy(s->cap_prev[i], c, sizeof(c));
		}
	}
	s->path_prev_ok = true;
	/* The shared queue: its depth, and its deepest since the last tick (taken, and so begun
	 * again: the poller may raise it meanwhile, a sample at most is lost). */
	v->queue_slots = __atomic_load_n(&st->tx_slots, __ATOMIC_RELAXED);
	v->queue_on = v->queue_slots > 0;
	v->queue_now = __atomic_load_n(&st->tx_depth, __ATOMIC_RELAXED);
	v->queue_peak = __atomic_exchange_n(&s->net->be->st.tx_depth_peak, 0, __ATOMIC_RELAXED);
	follow_load(s, snap, vm1->ctl);
}

/* Several VMs share the network thread: each one's part of its time this tick is its share of
 * the packets every VM's card moved (the thread does a packet's work whoever it is for). */
static void path_shares(struct session *s)
{
	uint64_t d[NET_VMS_MAX] = {0}, sum = 0;
	for (unsigned i = 0; s->nr_vms > 1 && i < s->nr_vms; i++) {
		struct session_vm *sv = &s->vms[i];
		struct nic_readout ro;
		struct link_counters peer;
		if (vmm_read_net(sv->vm, &ro, &peer))
			continue;
		uint64_t p = ro.total.tx_packets + ro.total.rx_packets;
		d[i] = p >= sv->path_pkts ? p - sv->path_pkts : p;
		sv->path_pkts = p;
		sum += d[i];
	}
	for (unsigned i = 0; i < s->nr_vms; i++)
		s->vms[i].path_share = sum ? (double)d[i] / (double)sum : 0;
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
	double span = now - s->last;
	in.dt = s->asm_state.prev.seq ? span : 0;
	s->last = now;
	path_shares(s);
	read_sources(s, 0, &in, &ro, &peer, &cc, regions);
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
	tick_vms(s, snap, &in, span);
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
