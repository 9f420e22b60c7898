/* Interrupt routing for the whole VM. MSI: each device vector gets a GSI whose eventfd is a KVM
 * irqfd, so a device thread interrupts the guest with one write() and no exit (docs/kvm-hosts.md:
 * 12-14 us). INTx: a level-triggered IOAPIC pin driven by a resampling irqfd (KVM lowers the line
 * at the guest's EOI and tells us; a device that still wants service raises it again). */
#ifndef VMSCOPE_IRQ_H
#define VMSCOPE_IRQ_H
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define IRQ_GSI_BASE	  24 /* above the IOAPIC pins */
#define IRQ_MAX		  64
#define IRQ_IOAPIC_PINS	  24
#define IRQ_PCI_PIN_FIRST 16 /* PCI INTx lines use pins 16-23, as on PC chipsets */

/* A level-triggered INTx line of one device function. */
struct irq_line {
	struct irq_router *router;
	int gsi; /* the IOAPIC pin, or -1: not connected (no irqchip: the guest polls) */
	int efd, resample_efd;
	bool level;	 /* what the device wants */
	bool asserted;	 /* raised and not yet resampled by an EOI */
	uint64_t raised; /* assertions sent to KVM */
};

struct irq_router {
	int vm_fd; /* -1: no KVM (the eventfds still count, for tests) */
	pthread_mutex_t lock;
	struct {
		bool used, enabled;
		uint64_t addr;
		uint32_t data;
		int efd;
	} route[IRQ_MAX];
	bool ioapic;	 /* KVM's in-kernel IOAPIC is there: its pins stay routed */
	uint32_t lines;	 /* IOAPIC pins handed out, bit per pin */
	uint64_t errors; /* routes KVM refused */
	uint64_t tables; /* routing tables built for KVM (each push costs an SRCU grace period) */
};

/* ioapic: the VM has KVM_CREATE_IRQCHIP (pins keep their routes in every table we push). */
int irq_router_init(struct irq_router *r, int vm_fd, bool ioapic);
void irq_router_exit(struct irq_router *r);
/* A new GSI with its eventfd, not yet routed. Returns the GSI or -errno. */
int irq_alloc(struct irq_router *r);
void irq_free(struct irq_router *r, int gsi);
/* Points a GSI at an MSI address/data (or disables it) and updates KVM's table and irqfd. */
int irq_set_msi(struct irq_router *r, int gsi, uint64_t addr, uint32_t data, bool enabled);
/* Raises the GSI's interrupt: one eventfd write. */
int irq_raise(struct irq_router *r, int gsi);
int irq_eventfd(struct irq_router *r, int gsi);

/* Connects a level-triggered line to an IOAPIC pin (IRQ_PCI_PIN_FIRST..23). Without an irqchip
 * the line stays unconnected (gsi -1) and every call below only keeps the state. */
int irq_line_init(struct irq_line *l, struct irq_router *r, int pin);
void irq_line_exit(struct irq_line *l);
/* The device's interrupt condition changed (e1000: ICR & IMS). Raises the line on 0 -> 1. */
void irq_line_set(struct irq_line *l, bool level);
/* The resample eventfd fired (the guest's EOI lowered the line): raise it again if the device
 * still wants service. Call with the device's lock held, from whatever thread watches it. */
void irq_line_resampled(struct irq_line *l);

#endif
