/* A PCIe root port with a native hot-plug slot: PCIe Base 6.7.3 (the hot-plug events and their
 * interrupt), 7.5.3.9-11 (Slot Capabilities, Control, Status), 7.5.3.6-8 (Data Link Layer Link
 * Active); MSI from PCI 3.0, 6.8.1. */
#include "vmm/pci/pcie_port.h"

#include <errno.h>
#include <string.h>

#include "vmm/irq.h"

#define MSI_CTL	   2 /* in the MSI capability: control, then a 32-bit address and the data */
#define MSI_ADDR   4
#define MSI_DATA   8
#define MSI_ENABLE 0x0001

/* The slot events and the Slot Control bit that enables each (PCIe 7.5.3.10-11). */
static const struct {
	uint16_t status, enable;
} slot_events[] = {
    {PCI_EXP_SLTSTA_ABP, PCI_EXP_SLTCTL_ABPE}, {0x0002, 0x0002} /* power fault */,
    {0x0004, 0x0004} /* MRL sensor changed */, {PCI_EXP_SLTSTA_PDC, PCI_EXP_SLTCTL_PDCE},
    {PCI_EXP_SLTSTA_CC, PCI_EXP_SLTCTL_CCIE},  {PCI_EXP_SLTSTA_DLLSC, PCI_EXP_SLTCTL_DLLSCE},
};

static uint32_t exp_get(const struct pcie_port *p, unsigned off, unsigned len)
{
	return pci_cfg_get(&p->dev, p->exp + off, len);
}

static void exp_set(struct pcie_port *p, unsigned off, uint32_t v, unsigned len)
{
	pci_cfg_set(&p->dev, p->exp + off, v, len);
}

static bool msi_enabled(const struct pcie_port *p)
{
	return pci_cfg_get(&p->dev, p->msi + MSI_CTL, 2) & MSI_ENABLE;
}

bool pcie_port_condition(const struct pcie_port *p)
{
	uint16_t ctl = (uint16_t)exp_get(p, PCI_EXP_SLTCTL, 2),
		 sta = (uint16_t)exp_get(p, PCI_EXP_SLTSTA, 2);
	if (!(ctl & PCI_EXP_SLTCTL_HPIE))
		return false;
	for (unsigned i = 0; i < sizeof(slot_events) / sizeof(slot_events[0]); i++)
		if ((sta & slot_events[i].status) && (ctl & slot_events[i].enable))
			return true;
	return false;
}

/* The edge rule (6.7.3.4): one message when the condition goes from false to true; a guest that
 * clears the events (or masks them) and gets a new one gets a new message. */
static void evaluate(struct pcie_port *p)
{
	bool now = pcie_port_condition(p);
	if (now && !p->pending && msi_enabled(p)) {
		p->interrupts++;
		if (p->irq && p->gsi >= 0)
			irq_raise(p->irq, p->gsi);
	}
	p->pending = now;
}

static void msi_route(struct pcie_port *p)
{
	bool on = msi_enabled(p);
	if (!p->irq)
		return;
	if (on && p->gsi < 0)
		p->gsi = irq_alloc(p->irq);
	if (p->gsi >= 0)
		irq_set_msi(p->irq, p->gsi, pci_cfg_get(&p->dev, p->msi + MSI_ADDR, 4),
			    pci_cfg_get(&p->dev, p->msi + MSI_DATA, 2), on);
}

static bool overlaps(uint32_t off, uint32_t len, uint32_t at, uint32_t size)
{
	return off < at + size && at < off + len;
}

static void cfg_written(struct pci_dev *d, uint32_t off, uint32_t len)
{
	struct pcie_port *p = d->opaque;
	if (overlaps(off, len, p->msi, 10u))
		msi_route(p);
	if (overlaps(off, len, p->exp + PCI_EXP_SLTCTL, 4u) ||
	    overlaps(off, len, p->msi + MSI_CTL, 2u))
		evaluate(p);
}

int pcie_port_init(struct pcie_port *p, const char *name, unsigned slot, unsigned busnr,
		   struct irq_router *irq)
{
	memset(p, 0, sizeof(*p));
	/* 1b36:000c is QEMU's "PCIe Root port" ID: what a guest expects of a generic one. */
	int r = pci_bridge_init(&p->dev, name, 0x1b36, 0x000c);
	if (r)
		return r;
	p->irq = irq;
	p->gsi = -1;
	p->dev.opaque = p;
	p->dev.cfg_written = cfg_written;
	int exp = pci_dev_add_pcie_cap(&p->dev, 4 /* root port */);
	uint8_t msi_body[8] = {0};
	int msi = exp < 0 ? exp : pci_dev_add_cap(&p->dev, PCI_CAP_MSI, msi_body, sizeof(msi_body));
	if (msi < 0) {
		pci_dev_exit(&p->dev);
		return msi;
	}
	p->exp = (uint16_t)exp;
	p->msi = (uint8_t)msi;
	/* Firmware numbered the buses: the root bus above, its own secondary bus below. */
	p->dev.cfg[PCI_PRIMARY_BUS] = 0;
	p->dev.cfg[PCI_SECONDARY_BUS] = (uint8_t)busnr;
	p->dev.cfg[PCI_SUBORDINATE_BUS] = (uint8_t)busnr;
	exp_set(p, PCI_EXP_FLAGS, exp_get(p, PCI_EXP_FLAGS, 2) | PCI_EXP_FLAGS_SLOT, 2);
	exp_set(p, PCI_EXP_LNKCAP,
		exp_get(p, PCI_EXP_LNKCAP, 4) | PCI_EXP_LNKCAP_DLLLARC | slot << 24, 4);
	exp_set(p, PCI_EXP_LNKSTA, 0, 2); /* no card: no link */
	exp_set(p, PCI_EXP_SLTCAP,
		PCI_EXP_SLTCAP_HPS | PCI_EXP_SLTCAP_HPC | PCI_EXP_SLTCAP_NCCS |
		    (uint32_t)slot << 19,
		4);
	pci_dev_writable(&p->dev, p->exp + PCI_EXP_SLTCTL, (const uint8_t[]){0xff, 0x1f}, 2);
	/* Status: the event bits clear when written 1; presence and the rest are the port's. */
	uint16_t w1c = 0;
	for (unsigned i = 0; i < sizeof(slot_events) / sizeof(slot_events[0]); i++)
		w1c |= slot_events[i].status;
	p->dev.w1c[p->exp + PCI_EXP_SLTSTA] = (uint8_t)w1c;
	p->dev.w1c[p->exp + PCI_EXP_SLTSTA + 1] = (uint8_t)(w1c >> 8);
	pci_dev_writable(&p->dev, p->msi + MSI_CTL, (const uint8_t[]){0x71, 0x00}, 2);
	pci_dev_writable(&p->dev, p->msi + MSI_ADDR, (const uint8_t[]){0xfc, 0xff, 0xff, 0xff}, 4);
	pci_dev_writable(&p->dev, p->msi + MSI_DATA, (const uint8_t[]){0xff, 0xff}, 2);
	return 0;
}

void pcie_port_exit(struct pcie_port *p)
{
	if (p->irq && p->gsi >= 0)
		irq_free(p->irq, p->gsi);
	p->gsi = -1;
	pci_dev_exit(&p->dev);
}

static void slot_changed(struct pcie_port *p, bool present, bool announce)
{
	uint16_t sta = (uint16_t)exp_get(p, PCI_EXP_SLTSTA, 2);
	sta = present ? sta | PCI_EXP_SLTSTA_PDS : sta & ~PCI_EXP_SLTSTA_PDS;
	if (announce) {
		sta |= PCI_EXP_SLTSTA_PDC | PCI_EXP_SLTSTA_DLLSC;
		p->events++;
	}
	exp_set(p, PCI_EXP_SLTSTA, sta, 2);
	/* Trained x1 at 2.5 GT/s with a card, nothing without. */
	exp_set(p, PCI_EXP_LNKSTA, present ? PCI_EXP_LNKSTA_DLLLA | 0x11 : 0, 2);
	evaluate(p);
}

int pcie_port_plug(struct pcie_port *p, struct pci_dev *d, bool announce)
{
	if (p->child)
		return -EBUSY;
	if (!p->dev.bus)
		return -EINVAL;
	int r = pci_bus_plug(p->dev.bus, d, &p->dev, PCI_DEVFN(0, 0));
	if (r)
		return r;
	p->child = d;
	slot_changed(p, true, announce);
	return 0;
}

void pcie_port_unplug(struct pcie_port *p, bool announce)
{
	if (!p->child)
		return;
	/* Everything on the secondary bus goes: the card, and a PF's VFs beside it. */
	for (unsigned devfn = 0; devfn < 256; devfn++)
		if (p->dev.below[devfn])
			pci_bus_unplug(p->dev.bus, p->dev.below[devfn]);
	p->child = NULL;
	slot_changed(p, false, announce);
}
