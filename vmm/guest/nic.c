/* The guest's driver table and the scan that picks a driver. */
#define VMSCOPE_GUEST
#include "nic.h"
#include "pci.h"

/* Each driver's rings and buffers have their own part of GPA_NIC, so two cards can be up at
 * once (the live switch brings the new one up before the old one goes). */
static const struct {
	const struct nic_driver *drv;
	u64 dma;
} drivers[] = {
	{&nic_driver_virtio, GPA_NIC},
	{&nic_driver_e1000, GPA_NIC + 0xc0000},
};

struct pick {
	u32 bdf;
	int index;
};

static void match(u32 bdf, u32 id, void *arg)
{
	struct pick *p = arg;
	if (p->index >= 0)
		return;
	for (u32 i = 0; i < sizeof(drivers) / sizeof(drivers[0]); i++)
		if ((id & 0xffff) == drivers[i].drv->vendor && id >> 16 == drivers[i].drv->device) {
			p->bdf = bdf;
			p->index = (int)i;
			return;
		}
}

int nic_probe_first(struct gnic *n, int want_irq, const struct nic_driver **drv)
{
	struct pick p = {0, -1};
	*drv = 0;
	pci_scan(match, &p);
	if (p.index < 0)
		return -1;
	n->drv = *drv = drivers[p.index].drv;
	n->bdf = p.bdf;
	n->dma = drivers[p.index].dma;
	n->want_irq = want_irq;
	n->irq = 0;
	return n->drv->probe(n);
}
