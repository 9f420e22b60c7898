/* Loading the built-in guest and preparing its vCPU: shared by the VMM and the bare-loop bench. */
#ifndef VMSCOPE_BOOT_H
#define VMSCOPE_BOOT_H
#include <stddef.h>
#include <stdint.h>

#include "vmm/kvm/kvm.h"

#define GPA_TSS 0x800ull

/* Page tables, GDT, image and control page into guest memory (GUEST_MEM_SIZE bytes). */
int guest_load(uint8_t *mem, enum hypercall_insn hc, uint64_t tsc_khz);
/* The instruction that calls the hypervisor on this host's KVM. */
enum hypercall_insn guest_hypercall_insn(enum host_kind host);
/* CPUID, long-mode registers and, for CPU_PARAVIRT, the kvm_pvm VIF page. *why on failure. */
int guest_vcpu_setup(int kvm_fd, int vcpu_fd, enum host_kind host, enum cpu_mode cpu,
		     const char **why);

#endif
