/* A PCI Express root port with a native hot-plug slot (PCIe Base 6.7, 7.5.3.9-11): the way a
 * card comes and goes while the guest runs. A type 1 header with its bus numbers, the PCI
 * Express capability of a root port with Slot Implemented, Slot Capabilities (Hot-Plug Capable
 * and Surprise, No Command Completed Support), Data Link Layer Link Active Reporting, Slot
 * Control and Slot Status (write 1 to clear), and an MSI capability for its hot-plug interrupt,
 * sent on the 0 -> 1 edge of (Slot Status & Slot Control & the events) while HPIE is set. What
 * a Linux guest's pciehp drives; vmscope's guest has a small driver of its own. */
#ifndef VMSCOPE_PCIE_PORT_H
#define VMSCOPE_PCIE_PORT_H
#include <stdbool.h>
#include <stdint.h>

#include "vmm/pci/pci.h"

struct irq_router;

/* Offsets in the PCI Express capability (PCIe 5.0, 7.5.3) and their bits. */
#define PCI_EXP_FLAGS	       0x02
#define PCI_EXP_FLAGS_SLOT     0x0100 /* Slot Implemented */
#define PCI_EXP_LNKCAP	       0x0c
#define PCI_EXP_LNKCAP_DLLLARC 0x00100000u
#define PCI_EXP_LNKSTA	       0x12
#define PCI_EXP_LNKSTA_DLLLA   0x2000
#define PCI_EXP_SLTCAP	       0x14
#define PCI_EXP_SLTCAP_HPS     0x00000020u /* Hot-Plug Surprise */
#define PCI_EXP_SLTCAP_HPC     0x00000040u /* Hot-Plug Capable */
#define PCI_EXP_SLTCAP_NCCS    0x00040000u /* No Command Completed Support */
#define PCI_EXP_SLTCTL	       0x18
#define PCI_EXP_SLTCTL_ABPE    0x0001
#define PCI_EXP_SLTCTL_PDCE    0x0008
#define PCI_EXP_SLTCTL_CCIE    0x0010
#define PCI_EXP_SLTCTL_HPIE    0x0020
#define PCI_EXP_SLTCTL_DLLSCE  0x1000
#define PCI_EXP_SLTSTA	       0x1a
#define PCI_EXP_SLTSTA_ABP     0x0001
#define PCI_EXP_SLTSTA_PDC     0x0008
#define PCI_EXP_SLTSTA_CC      0x0010
#define PCI_EXP_SLTSTA_PDS     0x0040
#define PCI_EXP_SLTSTA_DLLSC   0x0100
#define PCI_CAP_MSI	       0x05

struct pcie_port {
	struct pci_dev dev;
	struct irq_router *irq; /* NULL: no interrupts (unit tests count them only) */
	int gsi;		/* the MSI's route, -1 until the guest enables it */
	uint16_t exp;		/* where the PCI Express capability is */
	uint8_t msi;		/* where the MSI capability is */
	bool pending;		/* the interrupt condition, as last evaluated (the edge rule) */
	uint64_t interrupts;	/* MSIs sent (or that would have been, without a route) */
	uint64_t events;	/* hot-plug events raised: adds and removals */
	struct pci_dev *child;	/* the card in the slot, at device 0 of the secondary bus */
};

/* A root port at slot (its physical slot number too) whose secondary bus is busnr, as firmware
 * numbers the buses. irq may be NULL. -errno. Undone by pcie_port_exit(). */
int pcie_port_init(struct pcie_port *p, const char *name, unsigned slot, unsigned busnr,
		   struct irq_router *irq);
void pcie_port_exit(struct pcie_port *p);
/* Puts d in the empty slot (at device 0 behind the port, BARs assigned as firmware would). With
 * announce, the guest is told: Presence Detect and Link Active set, Presence Detect Changed and
 * DLL State Changed raised (a hot-add); without, the card was there at power-on. -errno. */
int pcie_port_plug(struct pcie_port *p, struct pci_dev *d, bool announce);
/* Takes the card out: it leaves config space, its BARs and memory slots are freed, presence and
 * link clear; with announce the events are raised (a removal), without the VM is going away.
 * The caller then frees the card. */
void pcie_port_unplug(struct pcie_port *p, bool announce);
/* The interrupt condition now: HPIE, and an event that is both set and enabled. */
bool pcie_port_condition(const struct pcie_port *p);

#endif
