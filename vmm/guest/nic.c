/* The guest's driver table and the scan that picks a driver. */
#define VMSCOPE_GUEST
#include "nic.h"
#include "lib.h"
#include "pci.h"

static const struct nic_driver *const drivers[] = {&nic_driver_virtio, &nic_driver_e1000,
						   &nic_driver_sriov_pf, &nic_driver_sriov_vf};
#define NR_DRIVERS (sizeof(drivers) / sizeof(drivers[0]))

/* Each driver's rings and buffers have their own part of GPA_NIC, one after the other in table
 * order, so two cards can be up at once (the live switch brings the new one up before the old
 * one goes). */
static u64 dma_base(u32 index)
{
	u64 at = GPA_NIC;
	for (u32 i = 0; i < index; i++)
		at += (drivers[i]->dma_size + 0xffff) & ~0xffffull;
	return at;
}

struct pick {
	u32 bdf;
	int index;
};

static void match(u32 bdf, u32 id, void *arg)
{
	struct pick *p = arg;
	if (p->index >= 0)
		return;
	for (u32 i = 0; i < NR_DRIVERS; i++)
		if ((id & 0xffff) == drivers[i]->vendor && id >> 16 == drivers[i]->device) {
			p->bdf = bdf;
			p->index = (int)i;
			return;
		}
}

int nic_bind(struct gnic *n, const struct nic_driver *drv, u32 bdf)
{
	u32 i = 0;
	while (i < NR_DRIVERS && drivers[i] != drv)
		i++;
	if (i == NR_DRIVERS)
		return -101;
	n->drv = drv;
	n->bdf = bdf;
	n->dma = dma_base(i);
	if (n->dma + n->drv->dma_size > GUEST_MEM_SIZE)
		return -100; /* the table outgrew guest memory */
	n->irq = 0;
	return n->drv->probe(n);
}

int nic_probe_first(struct gnic *n, int want_irq, const struct nic_driver **drv)
{
	struct pick p = {0, -1};
	*drv = 0;
	pci_scan(match, &p);
	if (p.index < 0)
		return -1;
	*drv = drivers[p.index];
	n->want_irq = want_irq;
	n->slot_bdf = p.bdf;
	return nic_bind(n, *drv, p.bdf);
}

int nic_probe_at(struct gnic *n, u32 bdf, int want_irq, const struct nic_driver **drv)
{
	struct pick p = {0, -1};
	*drv = 0;
	match(bdf, pci_read32(bdf, 0), &p);
	if (p.index < 0)
		return -1;
	*drv = drivers[p.index];
	n->want_irq = want_irq;
	n->slot_bdf = bdf;
	return nic_bind(n, *drv, bdf);
}

/* A card's driver came up (r 0) or did not: say so, as a kernel log would. */
void nic_log(const struct gnic *n, const struct nic_driver *drv, int r)
{
	if (r) {
		puts(drv->name);
		puts(": initialisation failed at step ");
		put_dec((u64)-r);
		puts("\n");
		return;
	}
	puts(n->drv->name); /* the PF's driver hands over to its VF's */
	puts(" ");
	put_bdf(n->bdf);
	puts(" up, mac ");
	for (int i = 0; i < 6; i++) {
		put_hex(n->mac[i], 2);
		if (i < 5)
			puts(":");
	}
	puts(", ");
	puts(n->irq ? n->drv->irq_kind : "polled");
	puts("\n");
}
