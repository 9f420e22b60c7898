/* MSI and INTx routing (KVM_SET_GSI_ROUTING, KVM_IRQFD with KVM_IRQFD_FLAG_RESAMPLE;
 * Documentation/virt/kvm/api.rst 4.52, 4.75). */
#include "vmm/irq.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

int irq_router_init(struct irq_router *r, int vm_fd, bool ioapic)
{
	memset(r, 0, sizeof(*r));
	r->vm_fd = vm_fd;
	r->ioapic = ioapic;
	pthread_mutex_init(&r->lock, NULL);
	for (unsigned i = 0; i < IRQ_MAX; i++)
		r->route[i].efd = -1;
	return 0;
}

static int slot_of(int gsi)
{
	return gsi - IRQ_GSI_BASE;
}

/* KVM takes the whole table at once: rebuild it from every enabled route. */
static int push_table(struct irq_router *r)
{
	struct kvm_irq_routing *t;
	unsigned n = 0;
	int ret = 0;

	r->tables++;
	if (r->vm_fd < 0)
		return 0;
	t = calloc(1, sizeof(*t) + (IRQ_MAX + IRQ_IOAPIC_PINS) * sizeof(t->entries[0]));
	if (!t)
		return -ENOMEM;
	/* The table replaces KVM's default one: keep the IOAPIC's pins where they were. */
	for (unsigned pin = 0; r->ioapic && pin < IRQ_IOAPIC_PINS; pin++) {
		struct kvm_irq_routing_entry *e = &t->entries[n++];
		e->gsi = pin;
		e->type = KVM_IRQ_ROUTING_IRQCHIP;
		e->u.irqchip.irqchip = KVM_IRQCHIP_IOAPIC;
		e->u.irqchip.pin = pin;
	}
	for (unsigned i = 0; i < IRQ_MAX; i++) {
		if (!r->route[i].used || !r->route[i].enabled)
			continue;
		struct kvm_irq_routing_entry *e = &t->entries[n++];
		e->gsi = IRQ_GSI_BASE + i;
		e->type = KVM_IRQ_ROUTING_MSI;
		e->u.msi.address_lo = (uint32_t)r->route[i].addr;
		e->u.msi.address_hi = (uint32_t)(r->route[i].addr >> 32);
		e->u.msi.data = r->route[i].data;
	}
	t->nr = n;
	if (ioctl(r->vm_fd, KVM_SET_GSI_ROUTING, t) < 0) {
		ret = -errno;
		r->errors++;
	}
	free(t);
	return ret;
}

static int irqfd(struct irq_router *r, int gsi, bool assign)
{
	struct kvm_irqfd f = {.fd = (uint32_t)r->route[slot_of(gsi)].efd,
			      .gsi = (uint32_t)gsi,
			      .flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN};
	if (r->vm_fd < 0)
		return 0;
	if (ioctl(r->vm_fd, KVM_IRQFD, &f) < 0) {
		r->errors++;
		return -errno;
	}
	return 0;
}

int irq_alloc(struct irq_router *r)
{
	int gsi = -ENOSPC;
	pthread_mutex_lock(&r->lock);
	for (unsigned i = 0; i < IRQ_MAX; i++) {
		if (r->route[i].used)
			continue;
		int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (efd < 0) {
			gsi = -errno;
			break;
		}
		r->route[i] = (typeof(r->route[i])){.used = true, .efd = efd};
		gsi = IRQ_GSI_BASE + (int)i;
		break;
	}
	pthread_mutex_unlock(&r->lock);
	return gsi;
}

int irq_set_msi(struct irq_router *r, int gsi, uint64_t addr, uint32_t data, bool enabled)
{
	int i = slot_of(gsi), ret;
	if (i < 0 || i >= IRQ_MAX)
		return -EINVAL;
	pthread_mutex_lock(&r->lock);
	bool was = r->route[i].enabled;
	/* KVM's table holds enabled routes only: a disabled one that stays disabled, or an
	 * enabled one written with what it had, changes nothing there. Pushing the table costs an
	 * SRCU grace period, and a guest writes an MSI-X entry a dword at a time. */
	bool same =
	    was == enabled && (!enabled || (r->route[i].addr == addr && r->route[i].data == data));
	r->route[i].addr = addr;
	r->route[i].data = data;
	r->route[i].enabled = enabled;
	ret = same ? 0 : push_table(r);
	if (!ret && enabled != was)
		ret = irqfd(r, gsi, enabled);
	pthread_mutex_unlock(&r->lock);
	return ret;
}

void irq_free(struct irq_router *r, int gsi)
{
	int i = slot_of(gsi);
	if (i < 0 || i >= IRQ_MAX || !r->route[i].used)
		return;
	if (r->route[i].enabled)
		irq_set_msi(r, gsi, 0, 0, false);
	pthread_mutex_lock(&r->lock);
	close(r->route[i].efd);
	r->route[i] = (typeof(r->route[i])){.efd = -1};
	pthread_mutex_unlock(&r->lock);
}

int irq_raise(struct irq_router *r, int gsi)
{
	uint64_t one = 1;
	int i = slot_of(gsi);
	if (i < 0 || i >= IRQ_MAX || r->route[i].efd < 0)
		return -EINVAL;
	return write(r->route[i].efd, &one, sizeof(one)) == sizeof(one) ? 0 : -errno;
}

int irq_eventfd(struct irq_router *r, int gsi)
{
	int i = slot_of(gsi);
	return i < 0 || i >= IRQ_MAX ? -1 : r->route[i].efd;
}

int irq_line_init(struct irq_line *l, struct irq_router *r, int pin)
{
	memset(l, 0, sizeof(*l));
	l->router = r;
	l->gsi = l->efd = l->resample_efd = -1;
	if (pin < IRQ_PCI_PIN_FIRST || pin >= IRQ_IOAPIC_PINS)
		return -EINVAL;
	if (!r->ioapic || r->vm_fd < 0)
		return 0; /* no irqchip: nothing to raise, the guest polls */
	pthread_mutex_lock(&r->lock);
	bool taken = r->lines & (1u << pin);
	r->lines |= 1u << pin;
	pthread_mutex_unlock(&r->lock);
	if (taken)
		return -EBUSY;
	l->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	l->resample_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (l->efd < 0 || l->resample_efd < 0)
		goto err;
	struct kvm_irqfd f = {.fd = (uint32_t)l->efd,
			      .gsi = (uint32_t)pin,
			      .flags = KVM_IRQFD_FLAG_RESAMPLE,
			      .resamplefd = (uint32_t)l->resample_efd};
	if (ioctl(r->vm_fd, KVM_IRQFD, &f) < 0)
		goto err;
	l->gsi = pin;
	return 0;
err:
	r->errors++;
	irq_line_exit(l);
	l->router = r;
	return -EIO;
}

void irq_line_exit(struct irq_line *l)
{
	struct irq_router *r = l->router;
	if (l->gsi >= 0 && r) {
		struct kvm_irqfd f = {.fd = (uint32_t)l->efd,
				      .gsi = (uint32_t)l->gsi,
				      .flags = KVM_IRQFD_FLAG_DEASSIGN};
		if (ioctl(r->vm_fd, KVM_IRQFD, &f) < 0)
			r->errors++;
		pthread_mutex_lock(&r->lock);
		r->lines &= ~(1u << l->gsi);
		pthread_mutex_unlock(&r->lock);
	}
	if (l->efd >= 0)
		close(l->efd);
	if (l->resample_efd >= 0)
		close(l->resample_efd);
	l->gsi = l->efd = l->resample_efd = -1;
}

static void line_raise(struct irq_line *l)
{
	uint64_t one = 1;
	l->asserted = true;
	l->raised++;
	if (l->efd >= 0 && write(l->efd, &one, sizeof(one)) < 0) {
		/* counter saturated: the line is up anyway */
	}
}

void irq_line_set(struct irq_line *l, bool level)
{
	/* Lowering waits for the EOI: KVM de-asserts there and tells us through the resampler. */
	if (level && !l->asserted)
		line_raise(l);
	l->level = level;
}

void irq_line_resampled(struct irq_line *l)
{
	l->asserted = false;
	if (l->level)
		line_raise(l);
}

void irq_router_exit(struct irq_router *r)
{
	for (unsigned i = 0; i < IRQ_MAX; i++)
		if (r->route[i].used)
			irq_free(r, IRQ_GSI_BASE + (int)i);
	pthread_mutex_destroy(&r->lock);
}
