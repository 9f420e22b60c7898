/* The exits workload's operations, one exit of a kind each (the lesson's measuring stick), and
 * the faults the tests make the guest take. */
#define VMSCOPE_GUEST
#include "lib.h"
#include "cpu.h"

#define PVM_HC_UNUSED 0x10ff	    /* not a PVM hypercall: KVM answers -ENOSYS in the kernel */
#define WILD_ADDR     0x7f000000ull /* above guest memory, below every MMIO range */

void do_exit_op(u32 kind)
{
	switch (kind) {
	case EK_PIO_VMM: outl(PORT_EXIT_VMM, kind); break;
	case EK_PIO_EVENTFD: outl(PORT_EXIT_EVENTFD, kind); break;
	case EK_MMIO_VMM: mmio_write32(MMIO_EXIT_VMM, kind); break;
	case EK_MMIO_EVENTFD: mmio_write32(MMIO_EXIT_EVENTFD, kind); break;
	case EK_HYPERCALL:
		CTL->hypercall_ret =
		    hypercall(CTL->hypercall_insn == HC_INT1B ? PVM_HC_UNUSED : kvm_hypercall_nr());
		break;
	case EK_CPUID: {
		u32 a = 0, b, c = 0, d;
		__asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
		break;
	}
	case EK_HLT:
		if (have_irqs()) { /* HLT stays in KVM: wake it with an interrupt to ourselves */
			u64 halts = 0;
			do {
				lapic_self_ipi();
				halt_skipped = 0;
				safe_halt(&halts);
			} while (halt_skipped); /* one op is one HALT in KVM's counters */
		} else {
			CTL->halt_is_idle = 0;
			halt();
		}
		break;
	}
}

void do_fault(u32 kind)
{
	switch (kind) {
	case FAULT_UD: __asm__ volatile("ud2"); break;
	case FAULT_TRIPLE:
		memset((void *)GPA_IDT, 0,
		       32 * 16); /* no gate present: #UD -> #NP -> #DF -> shutdown */
		__asm__ volatile("ud2");
		break;
	case FAULT_HANG:
		for (;;)
			cpu_relax();
	case FAULT_WILD: ((void (*)(void))WILD_ADDR)(); break;
	case FAULT_GARBAGE: {
		/* Whatever these bytes do (ports, MMIO, control registers, the VMM's own pages),
		 * the VMM must survive it and say what became of the guest. */
		static u8 code[4096] __attribute__((aligned(4096)));
		u64 x = (u64)CTL->rate * 0x9e3779b97f4a7c15ull + 1;
		for (unsigned i = 0; i < sizeof(code); i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			code[i] = (u8)x;
		}
		((void (*)(void))code)();
		break;
	}
	}
}
