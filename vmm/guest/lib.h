/* The guest's small library: the C functions the compiler may call, the serial console, port
 * and MMIO writes, and the event port to the VMM (lib.c). */
#ifndef VMSCOPE_GUEST_LIB_H
#define VMSCOPE_GUEST_LIB_H
#include "../control.h"

/* The control page, the VMM's and the guest's (control.h). */
#define CTL ((struct ctl_page *)GPA_CTL)

static inline void outb(u16 port, u8 v)
{
	__asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port));
}
static inline void outl(u16 port, u32 v)
{
	__asm__ volatile("outl %0, %1" ::"a"(v), "Nd"(port));
}
static inline void mmio_write32(u64 gpa, u32 v)
{
	*(volatile u32 *)gpa = v;
}
/* Tells the VMM (GEV_*, control.h). */
static inline void event(u32 ev)
{
	outl(PORT_GUEST_EVENT, ev);
}

void *memset(void *d, int c, unsigned long n);
void *memcpy(void *d, const void *s, unsigned long n);
int memcmp(const void *a, const void *b, unsigned long n);
/* The serial console (the VMM's log). */
void puts(const char *s);
void put_hex(u64 v, int digits);
void put_dec(u64 v);
void put_bdf(u32 bdf); /* bus:device.function */

/* cpu.c: interrupts, the IDT, halts and hypercalls. */
static inline int have_irqs(void)
{
	return CTL->irq_mode != IRQ_NONE;
}
u64 hypercall(u64 nr);
/* Without an irqchip HLT exits to the VMM; on kvm_pvm the instruction is a hypercall. */
void halt(void);
/* Sleeps until an interrupt comes, takes it, and returns with interrupts off; counts the halt
 * in *count. */
void safe_halt(u64 *count);
void lapic_init(void);
/* One-shot LAPIC timer in ns (capped at 4 s; the waits loop until their deadline). */
void lapic_timer_arm(u64 ns);
/* An interrupt to ourselves (the hlt kind's wake-up); HLT in KVM then ends at once. */
void lapic_self_ipi(void);
extern volatile int halt_skipped;
void idt_init(void);
/* The cards' interrupt handlers, for a level-triggered line (net.c's part, main.c). */
void nic_irq_all(void);

/* kvm_pv.c: KVM's paravirtual interfaces (the paravirt mode on hardware KVM). */
void kvm_pv_init(void);
/* True when KVM's PV EOI bit spared this interrupt its EOI write (and clears it). */
int kvm_pv_eoi_taken(void);
/* The hypercall the exits workload makes: a real KVM one where KVM offers it. */
u64 kvm_hypercall_nr(void);
/* kvmclock's time and the steal time into the control page. */
void kvm_pv_publish(void);

/* exits.c: one operation of an exit kind (EK_*), and the faults the tests ask for. */
void do_exit_op(u32 kind);
void do_fault(u32 kind);

#endif
