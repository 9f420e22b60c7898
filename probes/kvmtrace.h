/* Loader for bpf/kvmtrace.bpf.c: KVM tracepoint counts for the VMM's own process. */
#ifndef VMSCOPE_PROBES_KVMTRACE_H
#define VMSCOPE_PROBES_KVMTRACE_H
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "bpf/kvmtrace.h"

#define KT_DETAIL_MAX 48

struct kt_detail {
	uint32_t detail;
	uint64_t count;
};

struct kt_counts {
	bool attached[KT_MAX]; /* the tracepoint exists here and the program is attached */
	uint64_t total[KT_MAX];
	unsigned nr_detail[KT_MAX];
	struct kt_detail detail[KT_MAX][KT_DETAIL_MAX]; /* the busiest details first */
	/* Every run of the programs, as they count themselves: total[] of the events attached
	 * added up, and the runs that counted nothing (other processes' events, and halves of one
	 * of ours: an MMIO read's first trace, a KVM_RUN cut short, kvm_emulate_insn's runs while
	 * it learns which vCPU a thread runs). */
	uint64_t run_cnt, others, uncounted;
	/* KT_OPEN_AT_RUN took: ports and pages were read from each vCPU's kvm_run as KVM_RUN
	 * returned (kvm_userspace_exit's runs), kvm_pio and kvm_mmio not attached. */
	bool exits_at_run;
	/* With KT_OPEN_LATENCY: 0, every exit is timed; else exits are timed in one read's
	 * interval in timed_every (at_run: timing each costs the VM two more runs an exit). */
	unsigned timed_every;
	/* KT_OPEN_SAMPLED: KT_TIME_EVERY, every count is of the probes' windows only; 0: all the
	 * time. window_closed: this read closed one (its counts since the last read are a
	 * window's whole). */
	unsigned sampled_every;
	bool window_closed;
	/* What the programs themselves cost, from the kernel's own accounting (BPF_ENABLE_STATS).
	 * While it is on the kernel reads the clock twice around every run of every program (on
	 * kvm_pvm about as much as a probe's own work), so it is on for one read of kvmtrace_read
	 * in KT_COST_EVERY: the window from that read to the next. Its figures: the kernel's
	 * run_cnt and run_time_ns in it, and the runs the programs counted in it (run_cnt's
	 * count; the two agree but for a few runs at its edges), from the last window in which they
	 * ran. cost_on false: the kernel does not account; win_seq 0: no such window yet. */
	bool cost_on;
	uint64_t win_seq, win_runs, win_ns, win_counted;
};

struct kvmtrace;

/* One exit-latency histogram (kvmtrace.h's kt_lat_*): a reason on a vCPU, added up over CPUs. */
struct kt_latency {
	struct kt_lat_key key;
	struct kt_lat_val val;
};

#define KT_OPEN_VERBOSE 1u /* libbpf's warnings on stderr */
#define KT_OPEN_LATENCY 2u /* attach: also time each exit (kt_lat_*), count interrupts, wakeups */
/* With KT_OPEN_LATENCY, where kvm_exit never fires (kvm_pvm): each userspace exit's port or page
 * and vCPU read from its vCPU's kvm_run at kvm_userspace_exit (one probe run an exit, not two),
 * and the exits timed in windows (KT_TIME_EVERY), kvm_fpu's two runs an exit only in them. */
#define KT_OPEN_AT_RUN 4u
/* With KT_OPEN_LATENCY: every probe on for one read's interval in KT_TIME_EVERY only, the same
 * as the kernel's accounting windows: the VM pays for the probes an eighth of the time; what
 * they count is what happened in those intervals (kt_counts.sampled_every). */
#define KT_OPEN_SAMPLED 8u
#define KT_COST_EVERY	8 /* the kernel's accounting is on for one read in 8 */
#define KT_TIME_EVERY	8 /* KT_OPEN_AT_RUN: exits are timed for one read in 8 */

/* The probes on the KVM tracepoints for one process (tgid). 0, or -errno with *why: a sentence
 * saying why the probes are off. */
int kvmtrace_open(struct kvmtrace **out, pid_t tgid, unsigned flags, const char **why);
int kvmtrace_read(struct kvmtrace *kt, struct kt_counts *out);
/* With KT_OPEN_LATENCY: whether each kind can be timed here (its end is attached), and the
 * histograms into out, busiest first: at most max (the map holds KT_LAT_ENTRIES; out with room
 * for that many has them all). -1: not open so. */
int kvmtrace_latency(struct kvmtrace *kt, bool timed[KT_LAT_KINDS], struct kt_latency *out,
		     unsigned max, unsigned *nr);
void kvmtrace_close(struct kvmtrace *kt);
/* Attached from outside (KT_OPEN_LATENCY): how many vCPUs the watched VMM holds now. The
 * program that learns which vCPU each thread runs stays on until that many are known, and comes
 * back when more appear. True while it is on. */
bool kvmtrace_vcpus(struct kvmtrace *kt, unsigned vcpus);
/* out[i]: whether a BTF raw tracepoint program can attach to tracepoints[i] (e.g. "kvm_pio") on
 * this kernel: its arguments are described in the kernel's BTF or the kvm module's. */
void kvmtrace_btf_tracepoints(const char *const *tracepoints, unsigned n, bool *out);
/* Count only thread tid's events from now on (several VMs in one process: VM1's vCPU thread);
 * the process's others are passed over. 0: every thread of the process again. */
void kvmtrace_follow(struct kvmtrace *kt, int tid);

/* The count of one detail (a port, a page, a reason) of an event; 0 when it is not among them. */
static inline uint64_t kt_count(const struct kt_counts *c, unsigned event, uint32_t detail)
{
	for (unsigned i = 0; i < c->nr_detail[event]; i++)
		if (c->detail[event][i].detail == detail)
			return c->detail[event][i].count;
	return 0;
}

#endif
