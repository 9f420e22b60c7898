/* MSI-X for any PCI function (PCI 3.0, 6.8.2): the capability, the table and PBA inside one of
 * the function's BARs, per-vector and function masking, pending bits, and delivery through the
 * VM's irq router (one irqfd per vector). The models call it; none has its own. The caller
 * serialises calls (the model's lock). */
#ifndef VMSCOPE_PCI_MSIX_H
#define VMSCOPE_PCI_MSIX_H
#include <stdbool.h>
#include <stdint.h>

#include "vmm/irq.h"
#include "vmm/pci/pci.h"

#define PCI_CAP_MSIX	0x11
#define PCI_MSIX_MAX	32
#define PCI_MSIX_ENABLE 0x8000
#define PCI_MSIX_FMASK	0x4000
#define PCI_MSIX_VMASK	1

struct pci_msix {
	struct pci_dev *pci;
	struct irq_router *irq;
	int cap; /* offset of the capability in config space */
	unsigned nvec;
	unsigned bar;	     /* the BAR holding the table and the PBA */
	uint32_t table, pba; /* their offsets in that BAR */
	struct {
		uint32_t addr_lo, addr_hi, data, ctrl;
	} entry[PCI_MSIX_MAX];
	uint32_t pba_bits;
	int gsi[PCI_MSIX_MAX];
	uint64_t sent;	 /* messages sent */
	uint64_t pended; /* messages held in the PBA while masked */
	uint64_t bad;	 /* table/PBA accesses of the wrong size or place, PBA writes */
};

/* Adds the capability to d and allocates a GSI per vector (all start masked). -errno. */
int pci_msix_init(struct pci_msix *m, struct pci_dev *d, struct irq_router *irq, unsigned nvec,
		  unsigned bar, uint32_t table, uint32_t pba);
void pci_msix_exit(struct pci_msix *m);
/* Is this BAR offset the table's or the PBA's? */
bool pci_msix_claims(const struct pci_msix *m, unsigned bar, uint64_t off);
/* A guest access there (after pci_msix_claims); bad ones are counted, reads of them give 0. */
void pci_msix_access(struct pci_msix *m, uint64_t off, void *data, uint32_t len, bool is_write);
/* From the function's cfg_written hook: enable or function mask may have changed. */
void pci_msix_cfg_written(struct pci_msix *m, uint32_t off, uint32_t len);
/* Signals a vector: sent now, or pending while masked. false: MSI-X off or no such vector. */
bool pci_msix_notify(struct pci_msix *m, unsigned vector);
bool pci_msix_enabled(const struct pci_msix *m);

#endif
