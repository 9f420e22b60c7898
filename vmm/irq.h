/* MSI routing for the whole VM: each device vector gets a GSI whose eventfd is a KVM irqfd, so a
 * device thread interrupts the guest with one write() and no exit (kvm-hosts.md: 12-14 us). */
#ifndef VMSCOPE_IRQ_H
#define VMSCOPE_IRQ_H
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define IRQ_GSI_BASE 24 /* above the IOAPIC pins */
#define IRQ_MAX 64

struct irq_router {
	int vm_fd; /* -1: no KVM (the eventfds still count, for tests) */
	pthread_mutex_t lock;
	struct {
		bool used, enabled;
		uint64_t addr;
		uint32_t data;
		int efd;
	} route[IRQ_MAX];
	uint64_t errors; /* routes KVM refused */
};

int irq_router_init(struct irq_router *r, int vm_fd);
void irq_router_exit(struct irq_router *r);
/* A new GSI with its eventfd, not yet routed. Returns the GSI or -errno. */
int irq_alloc(struct irq_router *r);
void irq_free(struct irq_router *r, int gsi);
/* Points a GSI at an MSI address/data (or disables it) and updates KVM's table and irqfd. */
int irq_set_msi(struct irq_router *r, int gsi, uint64_t addr, uint32_t data, bool enabled);
/* Raises the GSI's interrupt: one eventfd write. */
int irq_raise(struct irq_router *r, int gsi);
int irq_eventfd(struct irq_router *r, int gsi);

#endif
