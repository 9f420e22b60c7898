/* Counts KVM tracepoint events for one process (the VMM), keyed by event and detail. */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

#include "bpf/kvmtrace.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 target_tgid = 0; /* 0: every process */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, KT_MAP_ENTRIES);
	__type(key, struct kt_key);
	__type(value, __u64);
} counts SEC(".maps");

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

static __always_inline int count(__u32 event, __u32 detail)
{
	struct kt_key key = {.event = event, .detail = detail};
	__u64 one = 1, *v;

	if (target_tgid && (bpf_get_current_pid_tgid() >> 32) != target_tgid)
		return 0;
	v = bpf_map_lookup_elem(&counts, &key);
	if (v)
		__sync_fetch_and_add(v, 1);
	else
		bpf_map_update_elem(&counts, &key, &one, BPF_NOEXIST);
	return 0;
}

SEC("tp/kvm/kvm_userspace_exit")
int kvm_userspace_exit(struct trace_event_raw_kvm_userspace_exit___vs *ctx)
{
	/* KVM_RUN ending in -EINTR (a kick) is no exit: its reason is the previous one's. */
	if (BPF_CORE_READ(ctx, errno) < 0)
		return 0;
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
		return 0;
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
