/* bench/observer's floor: a program that does nothing on each KVM tracepoint an attached
 * vmscope keeps its probes on, attached as they are (BTF raw tracepoints; kvm_exit's classic
 * one). kvm_emulate_insn is not among them: attach learns each vCPU's thread another way. On
 * kvm_pvm the bench leaves kvm_pio, kvm_mmio and kvm_fpu off too: there attach reads ports and
 * pages at kvm_userspace_exit and keeps kvm_fpu on in timing windows only. What the floor costs the
 * guest is what the tracepoints' firing and the programs' dispatch cost on this host before any
 * probe does any work: no observer on these tracepoints can cost less. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

#define NOTHING(tp)                                                                                \
	SEC("tp_btf/" #tp)                                                                         \
	int BPF_PROG(f_##tp)                                                                       \
	{                                                                                          \
		return 0;                                                                          \
	}

NOTHING(kvm_userspace_exit)
NOTHING(kvm_pio)
NOTHING(kvm_mmio)
NOTHING(kvm_msi_set_irq)
NOTHING(kvm_entry)
NOTHING(kvm_hypercall)
NOTHING(kvm_cpuid)
NOTHING(kvm_apic_accept_irq)
NOTHING(kvm_vcpu_wakeup)
NOTHING(kvm_fpu)

SEC("tp/kvm/kvm_exit")
int f_kvm_exit(void *ctx)
{
	return 1; /* on to perf, as kvmtrace.bpf.c's classic programs */
}
