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

const volatile __u32 target_tgid = 0; /* 0: every process */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, KT_MAP_ENTRIES);
	__type(key, struct kt_key);
	__type(value, __u64);
} counts SEC(".maps");

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
} __attribute__((preserve_access_index));
struct trace_event_raw_kvm_hypercall___vs {
	unsigned long nr;
} __attribute__((preserve_access_index));
struct trace_event_raw_kvm_cpuid___vs {
	unsigned int function;
} __attribute__((preserve_access_index));

static __always_inline int bump(__u32 i)
{
	__u64 *v = bpf_map_lookup_elem(&flat, &i);
	if (v)
		*v += 1;
	return 1;
}

/* Another process's event: counted as passed over, nothing else. */
static __always_inline bool others(void)
{
	return target_tgid && (bpf_get_current_pid_tgid() >> 32) != target_tgid;
}

static __always_inline int count(__u32 event, __u32 detail)
{
	struct kt_key key = {.event = event, .detail = detail};
	__u64 one = 1, *v;

	if (others())
		return bump(KT_FLAT_OTHERS + event);
	if (detail < KT_FLAT_DETAILS)
		return bump(KT_FLAT_EVENTS + event * KT_FLAT_DETAILS + detail);
	/* Per CPU: no atomic, no cache line shared between the vCPU's and the poller's CPUs;
	 * the loader adds the CPUs up. */
	v = bpf_map_lookup_elem(&counts, &key);
	if (v)
		*v += 1;
	else
		bpf_map_update_elem(&counts, &key, &one, BPF_NOEXIST);
	return 1;
}

SEC("tp/kvm/kvm_userspace_exit")
int kvm_userspace_exit(struct trace_event_raw_kvm_userspace_exit___vs *ctx)
{
	/* KVM_RUN ending in -EINTR (a kick) is no exit: its reason is the previous one's. */
	if (BPF_CORE_READ(ctx, errno) < 0)
		return bump(KT_FLAT_UNCOUNTED + KT_USERSPACE_EXIT);
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
	return count(KT_EXIT, BPF_CORE_READ(ctx, exit_reason));
}

SEC("tp/kvm/kvm_entry")
int kvm_entry(void *ctx)
{
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

/* ---- the BTF raw tracepoints: the arguments of each trace_kvm_*() call ---- */

SEC("tp_btf/kvm_userspace_exit")
int BPF_PROG(kvm_userspace_exit_btf, __u32 reason, int err)
{
	if (err < 0)
		return bump(KT_FLAT_UNCOUNTED + KT_USERSPACE_EXIT);
	return count(KT_USERSPACE_EXIT, reason);
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

SEC("tp_btf/kvm_emulate_insn")
int BPF_PROG(kvm_emulate_insn_btf, void *vcpu, __u8 failed)
{
	return count(KT_EMULATE_INSN, failed);
}

SEC("tp_btf/kvm_msi_set_irq")
int BPF_PROG(kvm_msi_set_irq_btf)
{
	return count(KT_MSI_SET_IRQ, 0);
}

SEC("tp_btf/kvm_entry")
int BPF_PROG(kvm_entry_btf)
{
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
