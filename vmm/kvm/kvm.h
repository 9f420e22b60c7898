/* Thin KVM helpers: open the device, detect the host kind, set up a long-mode vCPU. */
#ifndef VMSCOPE_KVM_H
#define VMSCOPE_KVM_H
#include <stdbool.h>
#include <stdint.h>

#include "vmm/names.h"

#define PVM_MSR_VIF	0x4b564d10u
#define PVM_MSR_SIG	0x4b564d11u
#define PVM_MSR_TSC_KHZ 0x4b564d13u
#define PVM_VIF_ENABLE	0x400u

/* Opens path (normally /dev/kvm) and checks the API version: fd or -errno. */
int kvm_open(const char *path);
/* One sentence for a kvm_open() failure, naming what to do. */
const char *kvm_open_strerror(int err);

enum host_kind kvm_detect_host(int vcpu_fd);
/* The host's kind without a vCPU (for the translated CPU's screen): HOST_NONE when path cannot
 * be opened as KVM, kvm_pvm by its module, else the CPU's vendor. */
enum host_kind kvm_host_kind(const char *path);
/* The host's kind where KVM is known to run (another process has a VM): kvm_pvm's module, or
 * the CPU's vendor, without opening the device. */
enum host_kind kvm_host_kind_running(void);
int kvm_get_msr(int vcpu_fd, uint32_t index, uint64_t *value);
/* The guest's TSC less the host's, as KVM keeps it (KVM_VCPU_TSC_OFFSET). 0 or -errno. */
int kvm_tsc_offset(int vcpu_fd, int64_t *out);
int kvm_set_msr(int vcpu_fd, uint32_t index, uint64_t value);
/* Guest TSC frequency in kHz (kvm_pvm MSR or KVM_GET_TSC_KHZ), or 0. */
uint64_t kvm_tsc_khz(int vcpu_fd, enum host_kind host);
/* CPUID as KVM supports it (needed on hardware KVM for EFER.LME to be accepted); without
 * kvm_leaves, KVM's paravirtual leaves (0x40000000-0x400000ff: "KVMKVMKVM" and its features) are
 * left out, so the guest cannot find KVM. */
int kvm_set_supported_cpuid(int kvm_fd, int vcpu_fd, bool kvm_leaves);
/* 64-bit long mode, flat segments, paging rooted at cr3, RIP/RSP as given. */
int kvm_setup_long_mode(int vcpu_fd, uint64_t cr3, uint64_t gdt, uint64_t idt, uint64_t tss,
			uint64_t rip, uint64_t rsp);

/* Binds an eventfd to a guest write of len bytes at addr (port I/O or MMIO): KVM completes the
 * write itself and signals fd, no exit to userspace. The one place KVM_IOEVENTFD is called
 * (devices ask through vmm/accel.h). */
int kvm_ioeventfd(int vm_fd, uint64_t addr, uint32_t len, int fd, bool pio, bool assign);

#endif
