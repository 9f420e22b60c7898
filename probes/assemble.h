/* One tick's readings of every source in, one snapshot out: a pure function (no clock, no VM,
 * no file), so what the dashboard shows is testable without KVM. The session reads the sources;
 * this ranks them, turns totals into rates and fills the per-packet and compare tables. */
#ifndef VMSCOPE_PROBES_ASSEMBLE_H
#define VMSCOPE_PROBES_ASSEMBLE_H
#include <stdbool.h>
#include <stdint.h>

#include "probes/capture.h"
#include "probes/kvmtrace.h"
#include "probes/snapshot.h"
#include "probes/stats_fd.h"
#include "vmm/net/link.h"
#include "vmm/nic.h"
#include "vmm/vmm.h"

/* Everything a tick read. A source that is missing has its pointer NULL (or its flag false). */
struct readings {
	uint64_t seq;
	double t, dt; /* session seconds; dt 0: the first tick after a boot (the baseline) */
	/* the VM */
	enum host_kind host;
	enum cpu_mode cpu_mode;
	bool irqchip;
	uint64_t tsc_khz;
	struct vmm_status status;
	const struct ctl_page *ctl;
	struct vmm_counters vmm;
	double host_work_ns; /* the work loop natively, ns per instruction */
	bool cpu_ok;	     /* cpu holds the threads' CPU times now */
	struct vmm_cpu cpu;
	/* what the session asked for */
	enum workload workload;
	uint32_t kind, rate, pkt_size;
	/* the KVM stats fd: descriptors and values (NULL: not read) */
	const struct kstats *ks;
	const uint64_t *stat_values;
	/* the eBPF probes (NULL: off, bpf_why says why) */
	const struct kt_counts *kt;
	const char *bpf_why;
	/* the network card, the link's peer and the capture */
	bool net_present; /* the VM has a card */
	struct vmm_net net_info;
	enum nic_mode nic_mode;
	const struct nic_readout *nic; /* NULL: no card to read */
	const struct link_counters *peer;
	const struct capture_counters
	    *cap; /* NULL: no capture (cap_why says why, if it is known) */
	const char *cap_why;
	/* --log: the file's state (log_errno: why it stopped, 0 while it goes on) */
	bool log_on;
	int log_errno;
	uint64_t log_lines;
	const struct vmm_region *regions; /* where the card's registers are */
	unsigned nr_regions;
	/* the live switch, as the session follows it */
	bool switching; /* one is under way */
	enum nic_mode switch_to;
	bool switch_unsettled; /* one is followed and has not ended */
	double switch_end_t;   /* when the last one ended (session seconds) */
	/* Other VMs of this process share the network thread and the peer (--vms): the peer's
	 * counts are not this VM's and show "-"; of that thread's CPU this VM's part is net_share
	 * (its packets' share of every VM's this tick). */
	bool shared;
	double net_share;
	unsigned index; /* which VM of them (0: VM1): the peer tells their datagrams apart */
	/* ... and the probes count more than this VM's vCPU: their per-VM figures show "-". */
	bool kt_shared;
	/* the guest's ping timed where its card meets the link (false: not timed) */
	bool hops_ok;
	struct vmm_ping_hops hops;
};

/* The per-packet parts of a compare row: nic, user, all, irqs, host cpu, card cpu. */
#define COMPARE_PARTS 6

/* What assembly keeps from tick to tick. Zeroed: a fresh guest. */
struct assembly {
	struct snapshot prev;
	struct vmm_cpu cpu; /* CPU times at the last tick */
	bool cpu_valid;
	uint64_t
	    bpf_vcpu_ns; /* the vCPU thread's CPU time at the last tick, for the probes' share */
	bool bpf_vcpu_valid;
	struct mode_figures compare[NIC_MODE_MAX];
	/* Each card's row: every clean tick on it under one workload, added up across visits. */
	struct mode_sums {
		enum workload workload;
		double dt, tx, rx; /* seconds, and packets each way */
		double num[COMPARE_PARTS],
		    pkts[COMPARE_PARTS]; /* a part's per-packet value, weighed */
		char src[COMPARE_PARTS][16];
	} sums[NIC_MODE_MAX];
	uint64_t mode_hist[NIC_MODE_MAX][RTT_SLOTS], last_hist[RTT_SLOTS]; /* ping, by rtt_slot */
	/* The ping's sums at the last tick: the guest's, the link's, the capture's. */
	struct hop_sums {
		uint64_t pings, rtt_cycles, send_cycles, cap_samples, cap_ns;
		struct vmm_ping_hops link;
	} hop_prev;
	/* Each CPU mode's row: what its ticks added up to. */
	struct cpu_figures cpu_compare[CPU_MODE_MAX];
	struct cpu_sums {
		double irqs, eoi, exits, exits_irqs, reason_irqs;
		char src[16];
		unsigned nr_reasons;
		char reason[CPU_COMPARE_REASONS][16];
		double reason_sum[CPU_COMPARE_REASONS];
	} cpu_sums[CPU_MODE_MAX];
};

/* The snapshot of this tick (events and log lines are the session's; out gets none). */
void snapshot_assemble(struct assembly *a, const struct readings *in, struct snapshot *out);
/* An attached VM's tick (vmscope attach): only what the host sees of any VM, the stats fd's
 * counters (in->ks, in->stat_values: added up over its vCPUs) and the probes' events, with
 * att (the VM, its vCPUs, its latencies) as the attach source made it. */
void snapshot_assemble_attached(struct assembly *a, const struct readings *in,
				const struct snap_attached *att, struct snapshot *snap);
/* One VM's figures of its snapshot, for the record's vms array (names and state are the
 * caller's). */
void snap_vm_fill(const struct snapshot *s, struct snap_vm *out);
/* A new guest: its counters start from zero (the compare table stays). */
void assembly_new_guest(struct assembly *a);

#endif
