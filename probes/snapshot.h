/* One snapshot per tick: every figure the front ends show, each knowing which source made it.
 * This struct is the only contract between probes/ and tui/. */
#ifndef VMSCOPE_SNAPSHOT_H
#define VMSCOPE_SNAPSHOT_H
#include <stdbool.h>
#include <stdint.h>

#include "bpf/kvmtrace.h"
#include "vmm/control.h"
#include "vmm/log.h"
#include "vmm/names.h"

enum source {
	SRC_GUEST, /* the guest's own counters on the control page */
	SRC_VMM,   /* the VMM's exit loop and eventfds */
	SRC_STATS, /* KVM's binary stats fd of the vCPU */
	SRC_BPF,   /* eBPF on KVM tracepoints, this process only */
	SRC_MAX,
};

/* A counter as a total and a per-second rate over the last tick. */
struct figure {
	bool valid; /* the source counts this here */
	uint64_t total;
	double rate;
};

struct named_figure {
	char name[48];
	struct figure f;
	bool instant; /* a value now (instant or peak stat), not a counter: f.total is the value */
};

/* Per packet moved by the NIC (device tx + rx) over the last tick, each part made by the source
 * named beside it; not valid (shown "-") when no packet moved or no source sees it. */
enum per_packet_part {
	PP_ALL,	      /* every exit of the vCPU: stats fd `exits`, or kvm_exit where it fires */
	PP_USERSPACE, /* exits that reached the VMM */
	PP_IN_KERNEL, /* exits KVM handled itself: all - userspace */
	PP_NIC,	      /* exits from touching the NIC's BARs (MMIO, ports, ioeventfd kicks) */
	PP_IRQS,      /* interrupts the device sent the guest */
	/* Host CPU (ns) per packet, by who spent it: where the work went. */
	PP_CPU_CARD,  /* the card's own silicon: the SR-IOV NIC engine's thread; "-" for cards
		       * the VMM emulates */
	PP_CPU_VMM,   /* the VMM: the vCPU thread outside the guest, and the network thread when
		       * it serves an emulated or virtio card */
	PP_CPU_GUEST, /* the guest, as the kernel accounted it (clock ticks) */
	PP_MAX,
};

struct per_packet {
	bool valid;
	double value;
	char source[16]; /* "stats", "bpf", "vmm", "stats-vmm", ... */
};

/* Something that happened, timestamped. */
enum snap_event_kind {
	SEV_NIC_SWITCH,	     /* a live switch of the NIC: from, to are enum nic_mode */
	SEV_GUEST_RESTARTED, /* a new guest booted: from, to are enum cpu_mode */
	SEV_GUEST_FAILED,    /* the guest faulted, shut down or hung: why says how */
	SEV_LINK,	     /* the TAP link changed state: from, to are enum link_state */
	SEV_MAX,
};

struct snap_event {
	double t; /* session seconds when it began */
	enum snap_event_kind kind;
	unsigned from, to;  /* by kind: enum nic_mode or enum cpu_mode */
	bool ok;	    /* false: why says why, and the old card carries on */
	bool refused;	    /* a switch: never begun (why says why; the card stays) */
	double duration_ms; /* asked -> the old card removed (or the switch given up) */
	double probe_ms;    /* guest: the slot's event -> the new card's driver up */
	/* The longest gap in the guest's traffic around the switch: [0] from the capture's
	 * timestamps, [1] the VMM's view (frames the cards moved). Not valid: no traffic to
	 * measure, or that source is off. */
	double blackout_ms[2];
	bool blackout_valid[2];
	uint64_t lost; /* packets lost, from sequence numbers: the guest's pings and rx flood,
			* the capture's view of its tx flood */
	bool lost_valid;
	char why[160];
};
#define SNAP_EVENTS_MAX 32	     /* events a tick carries; more are counted in events_dropped */
#define SNAP_NO_KIND	(EK_ALL + 1) /* exit_kind when the workload is not exits: "-" */
#define SNAP_LOG_MAX	24	     /* log lines a tick carries; more are counted in log_dropped */

/* The last figures measured in one NIC mode: the compare table. */
struct mode_figures {
	bool valid; /* traffic was measured in that mode */
	double t;   /* session seconds of the measurement */
	enum workload workload;
	double tx_pps, rx_pps; /* vmm: what the card moved */
	bool ping_valid;
	double ping_p50_us, ping_p99_us; /* guest pings while in that mode */
	/* Per packet: the card's exits first (the lesson), those that reached the VMM, every exit;
	 * host CPU is the hypervisor's (PP_CPU_VMM), the card's engine apart (PP_CPU_CARD). */
	struct per_packet exits_nic, exits_user, exits_all, irqs, cpu_host, cpu_card;
};

#define CPU_COMPARE_REASONS 8
/* The CPU modes side by side, per interrupt the guest took in each (added up over every tick in
 * that mode): EOIs it wrote to the LAPIC (each one an exit on KVM without APICv; KVM's PV EOI
 * spares them in the paravirt mode on hardware KVM) and every exit of the vCPU. */
struct cpu_figures {
	bool valid;
	double t; /* session seconds of the last tick counted */
	uint64_t irqs;
	double eoi_lapic_per_irq;
	bool exits_valid;
	double exits_per_irq;
	char exits_source[16];
	/* kvm_exit by hardware reason (bpf), per interrupt: what changed, reason by reason */
	unsigned nr_reasons;
	struct {
		char name[16]; /* the code, hex, as bpf.exit_reasons names it */
		double per_irq;
	} reasons[CPU_COMPARE_REASONS];
};

#define SNAP_STATS_MAX	      64
#define SNAP_VMM_MAX	      16
#define SNAP_REASONS_MAX      16
#define SNAP_DEV_COUNTERS_MAX 32
#define SNAP_DEV_REGS_MAX     56

struct kind_cost {
	uint64_t ops;
	double avg_ns, min_ns, max_ns;
	uint64_t hist[HIST_SLOTS]; /* log2 TSC-cycle slots */
};

/* What ordinary guest code costs in this CPU mode: the guest's timed loop of plain instructions
 * (vmm/work_loop.h), its fastest run so far, beside the same loop run natively on the host. */
struct work_cost {
	bool valid; /* the guest has timed the loop at least once */
	uint64_t loops;
	double ns_per_insn, host_ns_per_insn;
};

#define SNAP_VCPUS_MAX 16
#define SNAP_LAT_MAX   16

/* An exit latency distribution (bpf, kvmtrace.h's kt_lat_*): cumulative since attaching. */
struct snap_latency {
	char reason[24]; /* KVM_EXIT_* or the hardware reason's name, or its code */
	uint64_t count, sum_ns, max_ns;
	uint64_t hist[KT_LAT_SLOTS]; /* log2 ns */
};

/* Another process's KVM VM, watched (vmscope attach): what the host can see of any VM. The
 * built-in VM's own figures (the guest's counters, the VMM's, the card, the switch) are absent. */
struct snap_attached {
	bool on;
	int pid;
	char comm[16], vmm[20], guest[64];
	unsigned vcpus; /* vCPU fds the VMM holds now */
	/* Its vCPUs' binary stats, from the stats fds the VMM holds (duplicated with pidfd_getfd):
	 * each vCPU's exits and halts, and every counter added up over them in snapshot.stats.
	 * nr_vcpu 0: not read, stats_why says why. */
	char stats_why[160];
	/* Where pio/mmio below come from: "kvm_pio, kvm_mmio" (every access, the kernel's devices'
	 * too), or "kvm_userspace_exit" (read from the vCPU's kvm_run: the exits to the VMM only).
	 */
	char io_source[32];
	unsigned nr_vcpu;
	struct snap_vcpu {
		unsigned id;
		struct figure exits, halts;
		bool lat_valid;
		struct snap_latency lat; /* every reason on this vCPU ("all") */
	} vcpu[SNAP_VCPUS_MAX];
	/* bpf: port I/O exits by port, MMIO exits by guest-physical page (its address). */
	unsigned nr_pio, nr_mmio;
	struct named_figure pio[SNAP_REASONS_MAX], mmio[SNAP_REASONS_MAX];
	/* bpf: interrupts the vCPUs' LAPICs accepted, by vector; halts woken, after halt-polling
	 * caught the wakeup (no sleep) or after waiting. */
	unsigned nr_irq;
	struct named_figure irq[SNAP_REASONS_MAX];
	struct figure wake_polled, wake_waited;
	/* Exit latency: lat_kind says which (KT_LAT_EXIT: kvm_exit to kvm_entry; KT_LAT_USERSPACE:
	 * a userspace exit to the next KVM_RUN), KT_LAT_KINDS: none, lat_why says why. */
	unsigned lat_kind;
	uint32_t lat_every; /* 0: every exit timed; N: exits timed for one tick in N */
	char lat_why[192];
	unsigned nr_lat;
	struct snap_latency lat[SNAP_LAT_MAX]; /* by reason, every vCPU, busiest first */
};

/* Several VMs on one link (--vms): each VM's own figures, with the same names and sources as
 * the single-VM record's. */
#define SNAP_VMS_MAX 4
struct snap_vm {
	char name[16]; /* "vm1" */
	char ip[16], mac[18];
	bool neighbour; /* loads the path; VM1 measures */
	enum vmm_state state;
	char reason[160];
	enum cpu_mode cpu_mode;
	enum workload workload;
	uint32_t rate;
	enum nic_mode nic_mode;
	struct figure pps_tx, pps_rx, ping_lost, rx_lost;		      /* guest */
	struct figure dev_tx, dev_rx, dev_irqs, rx_no_buffer, dev_tx_dropped; /* vmm */
	struct figure nic_exits;					      /* vmm */
	struct figure peer_sink, peer_sent; /* the peer: from this VM, and to it */
	struct figure cap_tx, cap_rx;	    /* capture: IPv4 packets on the wire from it, to it */
	struct figure exits;		    /* stats: every exit of its vCPU */
	bool latency_valid;		    /* it pings */
	double latency_us[3], latency_avg_us;
	struct per_packet per_packet[PP_MAX];
};

/* The guest's ping taken apart where it passes (us, averaged over this tick's round trips, on
 * one clock: the guest's TSC set against the host's): the hops add up to its average round
 * trip. valid: it pinged this tick and both clocks could be read. */
enum ping_hop {
	HOP_TO_LINK,  /* from the guest's stamp until its card handed the request to the link */
	HOP_LINK,     /* the link: out through the TAP, the peer's answer, back (vmm) */
	HOP_CARD_IN,  /* the card taking the reply into the guest's ring (vmm) */
	HOP_GUEST_IN, /* the guest finding it there (its poll, or its interrupt) */
	HOP_MAX
};
struct ping_hops {
	bool valid;
	double us[HOP_MAX];
	/* The guest's send call (its kick's exit, or its register writes' exits), timed by the
	 * guest: within HOP_TO_LINK, or longer where the card handed the frame over during the
	 * call (the e1000 does, in the exit of its tail register's write). */
	double send_us;
	bool wire_valid; /* of HOP_LINK, the wire's own round trip (the capture, average) */
	double wire_us;
};

/* What the VMs share: the network side (one thread: the VMM's switch and emulated cards, or
 * the SR-IOV card's engine) and the link. nr 0: one VM, the record as it always was. */
struct snap_vms {
	unsigned nr;
	unsigned cpus; /* the host's online CPUs: the VMs' vCPUs and the path share them */
	enum workload neighbours; /* what VM2.. run */
	uint32_t neighbour_rate;
	struct figure switched;		/* vmm: frames from one VM to another, never on the link */
	struct figure link_tx, link_rx; /* vmm: frames to and from the link, every VM's */
	struct figure peer_sink;	/* the peer's sink: every VM's datagrams */
	/* The queue to the link every VM's frames share (vmm, the TAP link's): frames in it at the
	 * tick, the deepest it got during the tick, and its size. */
	bool queue_on;
	uint64_t queue_now, queue_peak, queue_slots;
	struct per_packet path_cpu; /* the network thread's ns per packet, every VM's */
	bool path_card;		    /* that thread is the card's engine (vf), not the VMM's */
	/* VM1's round trips on each card, while the neighbours idled [0] and while they loaded
	 * the path [1] (rtt_slot resolution): the seed's "consistent latency under load". */
	struct snap_vm1_load {
		bool valid[2];
		double us[2][3]; /* p50, p99, p999 */
		uint64_t pings[2];
	} load[NIC_MODE_MAX];
	struct snap_vm vm[SNAP_VMS_MAX];
};

struct snapshot {
	uint64_t seq;
	double t;  /* seconds since the session began */
	double dt; /* seconds this tick covers */
	enum host_kind host;
	enum cpu_mode cpu_mode;
	enum vmm_state state;
	enum workload workload;
	uint32_t
	    exit_kind; /* EK_* (EK_ALL: each in turn) under the exits workload, else SNAP_NO_KIND */
	uint32_t rate;
	uint32_t pkt_size;
	char reason[160]; /* why the guest failed, when state is "failed" */
	double boot_first_insn_ms, boot_banner_ms;

	struct figure exits[EK_MAX][SRC_MAX]; /* by exit kind and source */
	enum source exits_src[EK_MAX];	      /* the source "exits" reports for each kind */
	struct figure idle_halts;	      /* halts the guest waited in (guest-counted) */
	/* Every halt, measured and waiting, as each source counts them: the stats fd and kvm_exit
	 * cannot tell the two apart, so they count no "hlt" exits of their own, only these. */
	struct figure halts[SRC_MAX];
	/* Interrupts the guest took (its handlers count them). irq_mode: "lapic" (KVM's in-kernel
	 * LAPIC: HLT stays in KVM, MSI-X through irqfd) or "none" (emulated mode: HLT exits to the
	 * VMM, the NIC is polled). */
	char irq_mode[8];
	struct figure irq_timer, irq_command, irq_self, irq_nic;
	/* EOIs the guest's handlers wrote to the LAPIC (an exit each on hardware KVM without APICv)
	 * and those KVM's PV EOI spared (no exit): null where the guest takes no interrupts. */
	struct figure eoi_lapic, eoi_pv;
	/* KVM's paravirtual interfaces the guest found and uses (the paravirt mode on hardware
	 * KVM, vmm/guest/kvm_pv.c): CPUID 0x40000001's features, their names, steal time (ns). */
	bool kvm_pv_on;
	uint32_t kvm_features;
	char kvm_pv_used[48];
	struct figure steal_ns;
	struct cpu_figures cpu_compare[CPU_MODE_MAX];
	struct kind_cost cost[EK_MAX]; /* the guest's TSC round trips, cumulative */
	struct work_cost work;
	uint64_t heartbeat;

	unsigned nr_vmm;
	/* userspace_exits, io, mmio, hlt, ioeventfd_pio, ...; the translated CPU's cpuid, hypercall
	 * and tcg_* */
	struct named_figure vmm[SNAP_VMM_MAX];
	unsigned nr_stats;
	struct named_figure stats[SNAP_STATS_MAX]; /* every scalar counter of the stats fd */

	/* The network (when the VM has a NIC). Sources: the guest (its driver and stack), vmm
	 * (the device model), peer (the UDP peer in the namespace). */
	bool net_on;
	enum nic_mode nic_mode;
	char backend[12], netns[32];
	char nic_chip[32]; /* what the guest sees: "Intel 82540EM", ... */
	char net_why[96];  /* why the loopback peer stands in for the TAP link */
	/* The TAP link (when there is one): up, down or gone, why when not up (a sentence), and
	 * how many times it went down or away in the session. */
	bool link_on;
	enum link_state link_state;
	char link_why[160];
	uint64_t link_faults;
	struct figure pps_tx, pps_rx; /* guest: packets it sent / received */
	struct figure dev_tx, dev_rx; /* vmm: what the device moved */
	/* The peer: what its sink got from this guest, what its echo got, what it sent this guest
	 * (its flood and echo workloads). */
	struct figure peer_sink, peer_echo, peer_sent;
	struct figure ping_lost;  /* guest: echoes that got no reply within a second */
	struct figure rx_lost;	  /* guest: gaps in the sequence of the peer's flood */
	struct figure udp_echoed; /* guest: datagrams it echoed (echo workload, or tools) */
	double peer_echo_rtt_us;  /* peer: average round trip of its echo workload */
	bool peer_echo_rtt_valid; /* the peer has had echoes back */
	bool latency_valid;	  /* the workload pings: latency_* mean something */
	double latency_us[3];	  /* guest ping RTT p50, p99, p999 (rtt_slot resolution) */
	double latency_avg_us;
	uint64_t latency_hist[HIST_SLOTS]; /* RTT TSC cycles, log2 slots, cumulative */
	uint64_t tsc_khz;		   /* the guest's TSC, to turn cycles into time */
	struct ping_hops hops;
	struct per_packet per_packet[PP_MAX];
	struct figure nic_exits[SRC_MAX]; /* exits at the NIC's registers, by source (vmm, bpf) */
	struct figure dev_irqs, rx_no_buffer;
	/* The card's statistics (vmm, vmm/nic.h): every total and the model's own counters by name,
	 * and for a trapping card the exits per register, busiest first. */
	unsigned nr_dev_counters, nr_dev_regs;
	struct named_figure dev_counter[SNAP_DEV_COUNTERS_MAX];
	struct named_figure dev_reg[SNAP_DEV_REGS_MAX];
	struct figure dev_tx_dropped;	   /* vmm: frames the device took but the link refused */
	struct figure dev_tx_backpressure; /* vmm: times tx waited for the link to take frames */
	/* The capture on the TAP (source "capture"): independent of guest and VMM. */
	bool cap_on;
	char cap_why[96];
	struct figure cap_from_guest, cap_to_guest;
	double cap_rtt_us[3], cap_rtt_avg_us; /* p50, p99, p999 of guest-started round trips */
	uint64_t cap_rtt_samples, cap_lost, cap_reordered, cap_drops;
	uint64_t cap_unread; /* frames the kernel took that the analysis had not read yet */
	uint64_t cap_echo_unanswered; /* the guest's ICMP echoes seen without their reply (yet) */
	/* The files the session writes: --pcap (packets it holds, each complete) and --log (lines
	 * it holds); *_stopped: why writing it stopped (the OS's reason), "" while it goes on. */
	bool pcap_on, log_on;
	uint64_t pcap_packets, log_lines;
	char pcap_stopped[64], log_stopped[64];

	/* The live switch: one under way now, the events that ended this tick, and the compare
	 * table (by enum nic_mode). */
	bool switching;
	enum nic_mode switch_to;
	unsigned nr_events;
	struct snap_event events[SNAP_EVENTS_MAX];
	uint32_t events_dropped; /* the oldest of this tick's events beyond SNAP_EVENTS_MAX */
	struct mode_figures compare[NIC_MODE_MAX];

	bool bpf_on;
	char bpf_why[128];
	/* 0: the probes count all the time; N (attach --sample): they are on for one tick in N,
	 * every bpf count is of those ticks and a rate the last of them's. */
	uint32_t bpf_sampled_every;
	struct figure bpf_event[KT_MAX];
	/* The observer's own cost (bpf_cost_on: the kernel accounts it). The probes' runs, as they
	 * count themselves; of them the runs that counted nothing (other processes' events and
	 * halves of ours). The kernel's accounting is on in windows (kvmtrace.h, KT_COST_EVERY):
	 * the last window's runs and run time by the kernel and the runs the probes counted in
	 * it; ns a run is that window's. Run time is each tick's runs at that cost, and the vCPU
	 * share this VMM's runs at it against the vCPU thread's CPU time this tick. */
	bool bpf_cost_on;
	struct figure bpf_runs, bpf_run_ns;
	struct figure bpf_others, bpf_uncounted;
	uint64_t bpf_win_seq, bpf_win_runs, bpf_win_ns, bpf_win_counted;
	uint32_t bpf_cost_every; /* a window every so many ticks */
	double bpf_ns_per_run, bpf_vcpu_share;
	bool bpf_ns_per_run_valid, bpf_vcpu_share_valid;
	unsigned nr_uexit, nr_kexit, nr_hcall;
	struct named_figure uexit[SNAP_REASONS_MAX]; /* kvm_userspace_exit by KVM_EXIT_* reason */
	struct named_figure kexit[SNAP_REASONS_MAX]; /* kvm_exit by hardware reason */
	struct named_figure hcall[SNAP_REASONS_MAX]; /* kvm_hypercall by number (KVM_HC_*) */

	struct snap_attached attached;
	struct snap_vms vms;

	/* The guided tour (vmscope demo): the step on screen and what to look at; steps 0: none. */
	struct snap_tour {
		unsigned step, steps; /* step counts from 1 */
		char title[64];
		char caption[480];
		char note[160]; /* a step skipped, or an action refused, and why */
	} tour;

	/* The log lines (guest serial, VMM) written since the last tick, oldest first. */
	unsigned nr_log;
	uint32_t log_dropped; /* lines this tick had beyond SNAP_LOG_MAX */
	char log[SNAP_LOG_MAX][VLOG_LINE_MAX];
};

const char *source_name(enum source s);		     /* "guest", "vmm", "stats", "bpf" */
const char *snap_event_name(enum snap_event_kind k); /* "nic_switch", "guest_restarted", ... */
const char *snap_kind_name(uint32_t exit_kind);	     /* exit_kind_name, or "-" for SNAP_NO_KIND */
const char *per_packet_name(enum per_packet_part p); /* "all", "userspace", ... */
const char *ping_hop_name(enum ping_hop h);	     /* "to_link", "link", ... */
const char *ping_hop_source(enum ping_hop h);	     /* "guest-vmm", "vmm", ... */
const char *kt_event_name(unsigned event);	     /* the tracepoint, e.g. "kvm_pio" */
const char *kvm_exit_reason_name(unsigned reason);   /* KVM_EXIT_* without prefix */
/* A KVM hypercall's number by its name (Documentation/virt/kvm/x86/hypercalls.rst) into buf:
 * "KVM_HC_SCHED_YIELD", or the number where KVM names none. */
const char *kvm_hypercall_name(unsigned nr, char *buf, size_t n);
/* A hardware exit reason's name on this host (VMX basic exit reason, SVM exit code) into buf;
 * NULL when the host has none or the code is not one the manuals name. */
const char *hw_exit_reason_name(enum host_kind host, unsigned code, char *buf, size_t n);
void figure_update(struct figure *f, uint64_t total, uint64_t prev_total, double dt);
/* A percentile (0..1) of a log2 histogram (slot i counts values in [2^i, 2^(i+1))), in the
 * histogram's units; interpolates inside the slot. 0 when empty. */
double log2_hist_percentile(const uint64_t *hist, unsigned slots, double q);
/* The same for a histogram of TSC cycles, in microseconds. */
double hist_percentile_us(const uint64_t *hist, unsigned slots, double q, uint64_t tsc_khz);
/* A percentile of the ping's round trips by rtt_slot (vmm/control.h), in microseconds: linear
 * within the slot it falls in (0 when empty). */
double rtt_percentile_us(const uint64_t *h, double q, uint64_t tsc_khz);
/* Interrupts the guest took this tick, a second: its timer, doorbell, self-IPI and NIC ones. */
double snapshot_irq_rate(const struct snapshot *s);
/* A percentile (0..1) of an exit latency distribution, in microseconds (0 when empty). */
double snap_latency_us(const struct snap_latency *l, double q);
/* Why an attached VM's figures stop at what the host sees: one sentence. */
extern const char snap_attached_absent[];
const struct named_figure *snapshot_find(const struct named_figure *arr, unsigned nr,
					 const char *name);

#endif
