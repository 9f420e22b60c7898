/* The guest's CPU: hypercalls, halts, the LAPIC and its timer, the IDT and the handlers the
 * stubs in start.S call. */
#define VMSCOPE_GUEST
#include "lib.h"
#include "hotplug.h"

#define PVM_HC_HALT 0x1009
extern const u64 exc_stubs[32], irq_stubs[IRQ_VECTORS];
extern const char irq_spurious[], pvm_halt_window[], pvm_halt_done[], pvm_halt_end[];
void safe_halt_pvm(u64 *count), safe_halt_sti(u64 *count);

/* nr in RAX, its first argument in RBX: 0 (KVM_HC_SCHED_YIELD's APIC ID: this vCPU's own). */
u64 hypercall(u64 nr)
{
	u64 ret = nr, a0 = 0;
	switch (CTL->hypercall_insn) {
	case HC_INT1B:
		__asm__ volatile("int $0x1b" : "+a"(ret), "+b"(a0)::"rcx", "rdx", "memory");
		break;
	case HC_VMCALL:
		__asm__ volatile("vmcall" : "+a"(ret), "+b"(a0)::"rcx", "rdx", "memory");
		break;
	case HC_VMMCALL:
		__asm__ volatile("vmmcall" : "+a"(ret), "+b"(a0)::"rcx", "rdx", "memory");
		break;
	default: ret = (u64)-1;
	}
	return ret;
}

void halt(void)
{
	if (CTL->hypercall_insn == HC_INT1B)
		hypercall(PVM_HC_HALT);
	else
		__asm__ volatile("hlt" ::: "memory");
}

/* Interrupts (control.h, enum irq_mode). The guest runs with them off and opens them only
 * where it sleeps, so handlers never race the main loop: they count and acknowledge. */
#define LAPIC(off)	 (*(volatile u32 *)(GPA_LAPIC + (off)))
#define LAPIC_EOI	 0xb0
#define LAPIC_SVR	 0xf0
#define LAPIC_ICR_LO	 0x300
#define LAPIC_LVT_TIMER	 0x320
#define LAPIC_TIMER_INIT 0x380
#define LAPIC_TIMER_DIV	 0x3e0
#define LVT_MASKED	 0x10000u
#define ICR_SELF	 0x40000u /* destination shorthand 01: self; fixed delivery */

/* Sleeps until an interrupt comes, takes it, and returns with interrupts off; counts the halt
 * in *count. Race-free: interrupts are off while the caller checks for work, and one that
 * arrives between the check and the halt ends the halt at once (start.S). */
void safe_halt(u64 *count)
{
	if (CTL->irq_mode == IRQ_VIF)
		safe_halt_pvm(count);
	else
		safe_halt_sti(count);
}

void lapic_init(void)
{
	LAPIC(LAPIC_SVR) = 0x100 | VEC_SPURIOUS; /* software-enable the LAPIC */
	LAPIC(LAPIC_TIMER_DIV) = 0xb;		 /* divide by 1: KVM's APIC bus ticks in ns */
	LAPIC(LAPIC_LVT_TIMER) = LVT_MASKED | VEC_TIMER;
}

void lapic_timer_arm(u64 ns)
{
	LAPIC(LAPIC_LVT_TIMER) = VEC_TIMER;
	LAPIC(LAPIC_TIMER_INIT) = ns > 0xffffffffull ? 0xffffffffu : ns ? (u32)ns : 1;
}

volatile int halt_skipped;

struct irq_frame {
	u64 rip, cs, rflags, rsp, ss;
};

void guest_irq(u64 vector, struct irq_frame *f)
{
	if (f->rip >= (u64)pvm_halt_window && f->rip < (u64)pvm_halt_done) {
		f->rip = (u64)pvm_halt_end; /* taken on the way into the halt: skip it */
		halt_skipped = 1;
	}
	if (vector >= VEC_FIRST && vector < VEC_FIRST + IRQ_VECTORS)
		CTL->irqs[vector - VEC_FIRST]++;
	/* A level-triggered line: the card must be acknowledged before the EOI. */
	if (vector == VEC_INTX)
		nic_irq_all();
	if (vector == VEC_HOTPLUG)
		hp_irq();
	if (!kvm_pv_eoi_taken()) {
		LAPIC(LAPIC_EOI) = 0;
		CTL->eoi_lapic++;
	}
}

struct exc_frame {
	u64 vector, error, rip, cs, rflags, rsp, ss;
};

void guest_exception(struct exc_frame *f)
{
	u64 cr2 = 0;
	if (f->vector == 14)
		__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
	CTL->exc_vector = (u32)f->vector;
	CTL->exc_error = f->error;
	CTL->exc_rip = f->rip;
	CTL->exc_cr2 = cr2;
	event(GEV_EXCEPTION);
}

static void idt_set(int v, u64 off)
{
	u64 *idt = (u64 *)GPA_IDT;
	/* SDM Vol. 3A 6.14.1: 64-bit interrupt gate, selector 0x08, DPL 0, present. */
	idt[2 * v] =
	    (off & 0xffff) | (0x08ull << 16) | (0x8eull << 40) | ((off >> 16 & 0xffff) << 48);
	idt[2 * v + 1] = off >> 32;
}

void idt_init(void)
{
	for (int v = 0; v < 32; v++)
		idt_set(v, exc_stubs[v]);
	for (int v = 0; v < IRQ_VECTORS; v++)
		idt_set(VEC_FIRST + v, irq_stubs[v]);
	idt_set(VEC_SPURIOUS, (u64)irq_spurious);
}

void lapic_self_ipi(void)
{
	LAPIC(LAPIC_ICR_LO) = ICR_SELF | VEC_SELF;
}
