/* Loading the built-in guest and preparing its vCPU. */
#include "vmm/kvm/boot.h"

#include <errno.h>
#include <string.h>

#include "vmm/control.h"
#include "vmm/kvm/paging.h"

extern const uint8_t guest_image_start[], guest_image_end[];

enum hypercall_insn guest_hypercall_insn(enum host_kind host)
{
	return host == HOST_PVM	   ? HC_INT1B
	       : host == HOST_VTX  ? HC_VMCALL
	       : host == HOST_AMDV ? HC_VMMCALL
				   : HC_NONE;
}

int guest_load(uint8_t *mem, enum hypercall_insn hc, uint64_t tsc_khz)
{
	size_t image = (size_t)(guest_image_end - guest_image_start);
	long r;

	if (image > GUEST_IMAGE_MAX)
		return -E2BIG;
	r = paging_build_identity(mem, GUEST_MEM_SIZE, GPA_PML4, 4);
	if (r < 0)
		return (int)r;
	r = gdt_build(mem, GUEST_MEM_SIZE, GPA_GDT, GPA_TSS);
	if (r < 0)
		return (int)r;
	memcpy(mem + GPA_IMAGE, guest_image_start, image);

	struct ctl_page *c = (struct ctl_page *)(mem + GPA_CTL);
	memset(c, 0, sizeof(*c));
	c->magic = CTL_MAGIC;
	c->version = CTL_VERSION;
	c->tsc_khz = tsc_khz;
	c->workload = WL_IDLE;
	c->exit_kind = EK_ALL;
	c->hypercall_insn = hc;
	return 0;
}

int guest_vcpu_setup(int kvm_fd, int vcpu_fd, enum host_kind host, enum cpu_mode cpu,
		     const char **why)
{
	/* Hardware KVM needs the CPUID table before EFER.LME is accepted; the hardware mode's guest
	 * is unmodified: KVM's own leaves are hidden from it. kvm_pvm's native mode does not
	 * virtualise CPUID and ignores the table (docs/kvm-hosts.md), and asking KVM for it cost
	 * a third of a millisecond of every boot there (bench/boot): only its emulated mode,
	 * where KVM's emulator answers CPUID, gets one. */
	int r = 0;
	if (host != HOST_PVM || cpu != CPU_PARAVIRT)
		r = kvm_set_supported_cpuid(kvm_fd, vcpu_fd,
					    host == HOST_PVM || cpu == CPU_PARAVIRT);
	if (r && host != HOST_PVM) {
		*why = "KVM refused the guest's CPUID";
		return r;
	}
	r = kvm_setup_long_mode(vcpu_fd, GPA_PML4, GPA_GDT, GPA_IDT, GPA_TSS, GPA_IMAGE,
				GPA_STACK_TOP);
	if (r) {
		*why = "KVM refused the guest's long-mode register state";
		return r;
	}
	if (cpu == CPU_PARAVIRT && host == HOST_PVM) {
		/* docs/kvm-hosts.md: register the VIF page before the first KVM_RUN, or every
		 * ring-0 instruction runs in KVM's emulator. */
		r = kvm_set_msr(vcpu_fd, PVM_MSR_VIF, GPA_VIF | PVM_VIF_ENABLE);
		if (r) {
			*why = "kvm_pvm refused the VIF page registration";
			return r;
		}
	}
	return 0;
}
