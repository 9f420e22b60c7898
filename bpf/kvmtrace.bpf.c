/* Counts KVM tracepoint events for one process (the VMM), keyed by event and detail.
 *
 * Each event has two programs. The tp_btf/ one (a BTF raw tracepoint) reads the tracepoint's
 * arguments as they are passed: the kernel builds no trace record for it, and it stands apart
 * from perf's path, so whatever perf or another tracer watches on the same tracepoint sees every
 * event as ever. The classic tp/ one is for kernels without the BTF for it; it returns 1 so the
 * event still goes on to perf (a 0 would hide it from every perf user of the tracepoint on the
 * host). kvm_exit has only the classic one: its exit reason is computed for the record from the
 * vCPU (VMX's and SVM's own structures), not passed. The loader picks one of each pair. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "bpf/kvmtrace.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 target_tgid = 0;	/* 0: every process */
const volatile bool latency_on = false; /* attach: time each exit (kvmtrace.h's kt_lat_kind) */
/* attach where kvm_exit never fires (kvm_pvm): each userspace exit's port or page and vCPU are
 * read from its vCPU's kvm_run as KVM_RUN returns (kvm_userspace_exit), rather than from kvm_pio
 * and kvm_mmio: one run an exit, not two. */
const volatile bool exits_at_run = false;
/* Set by the loader while kvm_fpu's link is on (exits_at_run: exits are timed in windows, a
 * window's starts told from an earlier one's by its number). */
volatile __u32 timing_on = 0, timing_window = 0;

/* A pointer the verifier may not follow made one it may, read-only (kernel 6.2 on); weak: an
 * older kernel loads the object without it as long as exits_at_run is off. */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;
/* Set while loaded (kvmtrace_follow): only this thread's events are ours, the rest of the
 * process's passed over (several VMs in one vmscope: VM1's vCPU). 0: every thread. */
volatile __u32 follow_tid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, KT_MAP_ENTRIES);
	__type(key, struct kt_key);
	__type(value, __u64);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KT_SLOTS);
	__type(key, __u32);
	__type(value, struct kt_slot);
} slots SEC(".maps");

/* Counters by index, per CPU (an array lookup is a few instructions, a hash's is a hash):
 * [KT_FLAT_OTHERS + event] runs for another process, [KT_FLAT_UNCOUNTED + event] ours but
 * counted elsewhere (half of one event), [KT_FLAT_EVENTS + event * KT_FLAT_DETAILS + detail] an
 * event whose detail is small (a KVM_EXIT_* reason, a VMX exit reason, a flag); a larger detail
 * (a port, a page, an SVM exit code) goes to the hash. With counts they add up to the
 * kernel's run_cnt, so the cost figures can be checked, and the share of the runs that are this
 * VMM's is known. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KT_FLAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} flat SEC(".maps");

/* Exit latency: where each vCPU thread left the guest, and why (ts 0: it is back). A slot a
 * thread, by a hash of its id: an array's lookup is a few instructions where a task storage's
 * is a helper call and a walk (each call dear where returns go through a thunk). A thread whose
 * slot another has taken is not timed until it takes it back, on its next exit. */
struct lat_start {
	__u64 ts;
	__u32 tid, kind, reason, vcpu;
	__u32 known;  /* vcpu was learnt (KT_FLAT_LEARNT counts it) */
	__u32 window; /* timing_window when it began */
};

#define __NR_ioctl_    16	   /* x86-64 */
#define REASON_PENDING 0xffffffffu /* KVM_RUN has returned, kvm_userspace_exit is to say why */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KT_THREAD_SLOTS);
	__type(key, __u32);
	__type(value, struct lat_start);
} lat_start SEC(".maps");

/* The current thread's slot: held by it, or taken over when take (NULL: another's). */
static __always_inline struct lat_start *thread_slot(__u32 tid, bool take)
{
	__u32 i = (tid * 2654435761u) >> (32 - KT_THREAD_SLOTS_BITS);
	struct lat_start *s = bpf_map_lookup_elem(&lat_start, &i);
	if (!s || s->tid == tid)
		return s;
	if (!take)
		return NULL;
	*s = (struct lat_start){.tid = tid};
	return s;
}

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, KT_LAT_ENTRIES);
	__type(key, struct kt_lat_key);
	__type(value, struct kt_lat_val);
} lat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, KT_LAT_SLOTS_NR);
	__type(key, __u32);
	__type(value, struct kt_lat_slot);
} lat_slots SEC(".maps");

/* A zeroed value to create a histogram from (too large for the stack beside the key). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kt_lat_val);
} lat_zero SEC(".maps");

/* Local views of the tracepoint records: CO-RE matches them to the running kernel's
 * trace_event_raw_* types by name (the ___vs suffix is ignored), in vmlinux or kvm.ko BTF. */
struct trace_event_raw_kvm_userspace_exit___vs {
	__u32 reason;
	int errno;
} __attribute__((preserve_access_index));
struct trace_event_raw_kvm_pio___vs {
	unsigned int port;
} __attribute__((preserve_access_index));
struct trace_event_raw_kvm_mmio___vs {
	__u32 type;
	__u64 gpa;
} __attribute__((preserve_access_index));
struct trace_event_raw_kvm_emulate_insn___vs {
	__u8 failed;
} __attribute__((preserve_access_index));
struct trace_event_raw_kvm_exit___vs {
	unsigned int exit_reason;
	unsigned int vcpu_id;
} __attribute__((preserve_access_index));
struct trace_event_raw_kvm_hypercall___vs {
	unsigned long nr;
} __attribute__((preserve_access_index));
struct trace_event_raw_kvm_cpuid___vs {
	unsigned int function;
} __attribute__((preserve_access_index));
struct trace_event_raw_kvm_apic_accept_irq___vs {
	__u8 vec;
} __attribute__((preserve_access_index));
struct trace_event_raw_kvm_vcpu_wakeup___vs {
	bool waited;
} __attribute__((preserve_access_index));

static __always_inline int bump(__u32 i)
{
	__u64 *v = bpf_map_lookup_elem(&flat, &i);
	if (v)
		*v += 1;
	return 1;
}

/* Another process's event (or, while following one thread, another thread's): counted as passed
 * over, nothing else. */
static __always_inline bool others_id(__u64 id)
{
	__u32 follow = follow_tid;
	return (target_tgid && (id >> 32) != target_tgid) || (follow && (__u32)id != follow);
}

static __always_inline bool others(void)
{
	return others_id(bpf_get_current_pid_tgid());
}

/* The current thread's id. */
static __always_inline __u32 me(void)
{
	return (__u32)bpf_get_current_pid_tgid();
}

/* The vCPU thread leaves the guest (at now; 0: only which vCPU it runs is learnt). vcpu -1:
 * not known here, the thread's last one stands. keep_open: keep a departure already open
 * (kvm_exit's, on a host where it fires, is the earlier and the truer one). */
static __always_inline void lat_begin(__u32 tid, __u64 now, __u32 kind, __u32 reason, int vcpu,
				      bool keep_open)
{
	struct lat_start *s = thread_slot(tid, true);
	if (!s)
		return;
	if (vcpu >= 0) {
		s->vcpu = (__u32)vcpu;
		if (!s->known) {
			s->known = 1;
			bump(KT_FLAT_LEARNT);
		}
	}
	if (!now || (keep_open && s->ts))
		return;
	s->ts = now;
	s->kind = kind;
	s->reason = reason;
	s->window = timing_window;
}

static __always_inline __u32 log2_slot(__u64 v)
{
	__u32 r = 0;
	if (v >> 32) {
		v >>= 32;
		r += 32;
	}
	if (v >> 16) {
		v >>= 16;
		r += 16;
	}
	if (v >> 8) {
		v >>= 8;
		r += 8;
	}
	if (v >> 4) {
		v >>= 4;
		r += 4;
	}
	if (v >> 2) {
		v >>= 2;
		r += 2;
	}
	if (v >> 1)
		r += 1;
	return r < KT_LAT_SLOTS ? r : KT_LAT_SLOTS - 1;
}

/* The vCPU thread is back: the time since it left goes to its reason's histogram. only_kind:
 * KT_LAT_KINDS for any; vcpu: the vCPU's id where the caller knows it, else -1. */
static __always_inline void lat_end(__u32 tid, __u32 only_kind, int vcpu)
{
	__u32 zero = 0;
	struct lat_start *s = thread_slot(tid, false);
	if (!s || !s->ts)
		return;
	if (s->reason == REASON_PENDING || s->window != timing_window) {
		s->ts = 0; /* not told why, or begun in an earlier window */
		return;
	}
	if (only_kind < KT_LAT_KINDS && s->kind != only_kind)
		return;
	__u64 d = bpf_ktime_get_ns() - s->ts;
	struct kt_lat_key k = {
	    .kind = s->kind, .reason = s->reason, .vcpu = vcpu >= 0 ? (__u32)vcpu : s->vcpu};
	s->ts = 0;
	struct kt_lat_val *v = NULL;
	__u32 i = kt_lat_slot_of(&k);
	struct kt_lat_slot *sl = bpf_map_lookup_elem(&lat_slots, &i);
	if (sl && !sl->key.pad) {
		sl->key = k;
		sl->key.pad = 1;
	}
	if (sl && sl->key.kind == k.kind && sl->key.reason == k.reason && sl->key.vcpu == k.vcpu)
		v = &sl->val;
	else
		v = bpf_map_lookup_elem(&lat, &k);
	if (!v) {
		struct kt_lat_val *z = bpf_map_lookup_elem(&lat_zero, &zero);
		if (!z)
			return;
		bpf_map_update_elem(&lat, &k, z, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&lat, &k);
		if (!v)
			return;
	}
	v->slot[log2_slot(d)] += 1;
	v->sum_ns += d;
	if (d > v->max_ns)
		v->max_ns = d;
}

/* One of ours: counted by its detail. */
static __always_inline int tally(__u32 event, __u32 detail)
{
	struct kt_key key = {.event = event, .detail = detail};
	__u64 one = 1, *v;

	if (detail < KT_FLAT_DETAILS)
		return bump(KT_FLAT_EVENTS + event * KT_FLAT_DETAILS + detail);
	/* Per CPU: no atomic, no cache line shared between the vCPU's and the poller's CPUs;
	 * the loader adds the CPUs up. The detail's slot first, the hash when another holds it. */
	__u32 i = kt_slot_of(event, detail);
	struct kt_slot *s = bpf_map_lookup_elem(&slots, &i);
	if (s && !s->event) {
		s->event = event + 1;
		s->detail = detail;
	}
	if (s && s->event == event + 1 && s->detail == detail) {
		s->count += 1;
		return 1;
	}
	v = bpf_map_lookup_elem(&counts, &key);
	if (v)
		*v += 1;
	else
		bpf_map_update_elem(&counts, &key, &one, BPF_NOEXIST);
	return 1;
}

static __always_inline int count(__u32 event, __u32 detail)
{
	if (others())
		return bump(KT_FLAT_OTHERS + event);
	return tally(event, detail);
}

SEC("tp/kvm/kvm_userspace_exit")
int kvm_userspace_exit(struct trace_event_raw_kvm_userspace_exit___vs *ctx)
{
	/* KVM_RUN ending in -EINTR (a kick) is no exit: its reason is the previous one's. */
	if (BPF_CORE_READ(ctx, errno) < 0)
		return bump(KT_FLAT_UNCOUNTED + KT_USERSPACE_EXIT);
	if (latency_on && !others())
		lat_begin(me(), bpf_ktime_get_ns(), KT_LAT_USERSPACE, BPF_CORE_READ(ctx, reason),
			  -1, true);
	return count(KT_USERSPACE_EXIT, BPF_CORE_READ(ctx, reason));
}

SEC("tp/kvm/kvm_pio")
int kvm_pio(struct trace_event_raw_kvm_pio___vs *ctx)
{
	return count(KT_PIO, BPF_CORE_READ(ctx, port));
}

SEC("tp/kvm/kvm_mmio")
int kvm_mmio(struct trace_event_raw_kvm_mmio___vs *ctx)
{
	/* A userspace read fires READ_UNSATISFIED (0) and then READ (1): count it once. */
	if (BPF_CORE_READ(ctx, type) == 0)
		return bump(KT_FLAT_UNCOUNTED + KT_MMIO);
	return count(KT_MMIO, (__u32)(BPF_CORE_READ(ctx, gpa) >> 12));
}

SEC("tp/kvm/kvm_emulate_insn")
int kvm_emulate_insn(struct trace_event_raw_kvm_emulate_insn___vs *ctx)
{
	return count(KT_EMULATE_INSN, BPF_CORE_READ(ctx, failed));
}

SEC("tp/kvm/kvm_msi_set_irq")
int kvm_msi_set_irq(void *ctx)
{
	return count(KT_MSI_SET_IRQ, 0);
}

SEC("tp/kvm/kvm_exit")
int kvm_exit(struct trace_event_raw_kvm_exit___vs *ctx)
{
	if (latency_on && !others())
		lat_begin(me(), bpf_ktime_get_ns(), KT_LAT_EXIT, BPF_CORE_READ(ctx, exit_reason),
			  (int)BPF_CORE_READ(ctx, vcpu_id), false);
	return count(KT_EXIT, BPF_CORE_READ(ctx, exit_reason));
}

SEC("tp/kvm/kvm_entry")
int kvm_entry(void *ctx)
{
	if (latency_on && !others())
		lat_end(me(), KT_LAT_KINDS, -1);
	return count(KT_ENTRY, 0);
}

SEC("tp/kvm/kvm_hypercall")
int kvm_hypercall(struct trace_event_raw_kvm_hypercall___vs *ctx)
{
	return count(KT_HYPERCALL, (__u32)BPF_CORE_READ(ctx, nr));
}

SEC("tp/kvm/kvm_cpuid")
int kvm_cpuid(struct trace_event_raw_kvm_cpuid___vs *ctx)
{
	return count(KT_CPUID, BPF_CORE_READ(ctx, function));
}

SEC("tp/kvm/kvm_apic_accept_irq")
int kvm_apic_accept_irq(struct trace_event_raw_kvm_apic_accept_irq___vs *ctx)
{
	return count(KT_APIC_ACCEPT_IRQ, BPF_CORE_READ(ctx, vec));
}

SEC("tp/kvm/kvm_vcpu_wakeup")
int kvm_vcpu_wakeup(struct trace_event_raw_kvm_vcpu_wakeup___vs *ctx)
{
	return count(KT_VCPU_WAKEUP, BPF_CORE_READ(ctx, waited));
}

/* ---- the BTF raw tracepoints: the arguments of each trace_kvm_*() call ---- */

static __always_inline void exit_at_run(__u32 tid, __u32 reason, int err);

SEC("tp_btf/kvm_userspace_exit")
int BPF_PROG(kvm_userspace_exit_btf, __u32 reason, int err)
{
	if (exits_at_run) {
		__u64 id = bpf_get_current_pid_tgid();
		if (others_id(id))
			return bump(KT_FLAT_OTHERS + KT_USERSPACE_EXIT);
		exit_at_run((__u32)id, reason, err);
	}
	if (err < 0)
		return bump(KT_FLAT_UNCOUNTED + KT_USERSPACE_EXIT);
	if (latency_on && !exits_at_run && !others())
		lat_begin(me(), bpf_ktime_get_ns(), KT_LAT_USERSPACE, reason, -1, true);
	return exits_at_run ? tally(KT_USERSPACE_EXIT, reason) : count(KT_USERSPACE_EXIT, reason);
}

SEC("tp_btf/kvm_pio")
int BPF_PROG(kvm_pio_btf, int rw, unsigned int port)
{
	return count(KT_PIO, port);
}

SEC("tp_btf/kvm_mmio")
int BPF_PROG(kvm_mmio_btf, int type, int len, __u64 gpa)
{
	if (type == 0) /* KVM_TRACE_MMIO_READ_UNSATISFIED: the read is counted at its READ */
		return bump(KT_FLAT_UNCOUNTED + KT_MMIO);
	return count(KT_MMIO, (__u32)(gpa >> 12));
}

/* Attached from outside (latency_on), it only learns which vCPU each thread runs (kvm_pvm's
 * exits name none) and counts nothing: the loader takes it off once every vCPU's thread is
 * known, as a run an exit is a cost the watched VM would keep paying (kvmtrace_vcpus). */
SEC("tp_btf/kvm_emulate_insn")
int BPF_PROG(kvm_emulate_insn_btf, struct kvm_vcpu *vcpu, __u8 failed)
{
	if (!latency_on)
		return count(KT_EMULATE_INSN, failed);
	if (others())
		return bump(KT_FLAT_OTHERS + KT_EMULATE_INSN);
	lat_begin(me(), 0, 0, 0, (int)vcpu->vcpu_id, false);
	return bump(KT_FLAT_UNCOUNTED + KT_EMULATE_INSN);
}

SEC("tp_btf/kvm_msi_set_irq")
int BPF_PROG(kvm_msi_set_irq_btf)
{
	return count(KT_MSI_SET_IRQ, 0);
}

SEC("tp_btf/kvm_entry")
int BPF_PROG(kvm_entry_btf)
{
	if (latency_on && !others())
		lat_end(me(), KT_LAT_KINDS, -1);
	return count(KT_ENTRY, 0);
}

SEC("tp_btf/kvm_hypercall")
int BPF_PROG(kvm_hypercall_btf, unsigned long nr)
{
	return count(KT_HYPERCALL, (__u32)nr);
}

SEC("tp_btf/kvm_cpuid")
int BPF_PROG(kvm_cpuid_btf, unsigned int function)
{
	return count(KT_CPUID, function);
}

SEC("tp_btf/kvm_apic_accept_irq")
int BPF_PROG(kvm_apic_accept_irq_btf, __u32 apicid, __u16 dm, __u16 tm, __u8 vec)
{
	return count(KT_APIC_ACCEPT_IRQ, vec);
}

SEC("tp_btf/kvm_vcpu_wakeup")
int BPF_PROG(kvm_vcpu_wakeup_btf, __u64 ns, bool waited, bool valid)
{
	return count(KT_VCPU_WAKEUP, waited);
}

/* ---- exit latency where kvm_entry never fires (kvm_pvm): the vCPU thread's next KVM_RUN ----
 * kvm_fpu(1) fires as KVM_RUN loads the guest's FPU state, kvm_fpu(0) as it puts it back before
 * returning; on every host, so it stands for KVM_RUN's edges where fentry cannot be had (kernels
 * under lockdown refuse fentry, as ours do). With exits_at_run its link is on in windows only
 * (timing_on): the exits are counted, each of them, at kvm_userspace_exit; they are timed in the
 * windows, from kvm_fpu(0) to the next kvm_fpu(1), the reason and vCPU told in between. */

#define KVM_EXIT_IO_   2
#define KVM_EXIT_MMIO_ 6

/* KVM_RUN has returned (kvm_userspace_exit: after its vcpu_put) on the thread tid. Its vCPU is
 * the file the ioctl was made on: the syscall's first argument (pt_regs' di) in the thread's file
 * table, whose private data a vCPU file's is. Its kvm_run tells the port or page; the exit's
 * timing, if one began, is told why. */
static __always_inline void exit_at_run(__u32 tid, __u32 reason, int err)
{
	struct lat_start *s = timing_on ? thread_slot(tid, false) : NULL;
	if (err < 0) { /* a signal or a kick: no exit, nothing to time */
		if (s)
			s->ts = 0;
		return;
	}
	struct task_struct *t = bpf_get_current_task_btf();
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(t);
	struct fdtable *fdt = t->files->fdt;
	unsigned long fd = regs->di;
	if (regs->orig_ax != __NR_ioctl_ || fd >= fdt->max_fds)
		return;
	struct kiocb *slot = bpf_rdonly_cast((void *)fdt->fd + fd * sizeof(void *),
					     bpf_core_type_id_kernel(struct kiocb));
	struct kvm_vcpu *vcpu =
	    bpf_rdonly_cast(slot->ki_filp->private_data, bpf_core_type_id_kernel(struct kvm_vcpu));
	struct kvm_run *run = vcpu->run;
	if (reason == KVM_EXIT_IO_)
		tally(KT_PIO, run->io.port);
	else if (reason == KVM_EXIT_MMIO_)
		tally(KT_MMIO, (__u32)(run->mmio.phys_addr >> 12));
	if (s && s->ts && s->reason == REASON_PENDING) {
		s->reason = reason;
		s->vcpu = (__u32)vcpu->vcpu_id;
	}
}

SEC("tp_btf/kvm_fpu")
int BPF_PROG(kvm_fpu_btf, int load)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (others_id(id))
		return bump(KT_FLAT_OTHERS + KT_RUN);
	if (load)
		lat_end((__u32)id, KT_LAT_USERSPACE, -1);
	else if (exits_at_run)
		lat_begin((__u32)id, bpf_ktime_get_ns(), KT_LAT_USERSPACE, REASON_PENDING, -1,
			  false);
	return tally(KT_RUN, load ? KT_RUN_ENTER : KT_RUN_RETURN);
}
