/* A PCI(e) bus: host bridge, configuration space through ports 0xCF8/0xCFC and an ECAM window,
 * BARs mapped on the I/O bus, capability lists. Devices know nothing of the access mechanism. */
#ifndef VMSCOPE_PCI_H
#define VMSCOPE_PCI_H
#include <stdbool.h>
#include <stdint.h>

#include "vmm/accel.h"
#include "vmm/iobus.h"

#define PCI_CFG_SIZE	    4096 /* PCIe: 256 bytes legacy + extended space */
#define PCI_SLOTS	    32
#define PCI_BUSES	    8 /* bus numbers the ECAM window covers (0: the root bus) */
#define PCI_DEVFN(slot, fn) ((unsigned)(slot) << 3 | (unsigned)(fn))
#define PCI_ECAM_BASE	    0xe0000000ull
#define PCI_ECAM_SIZE	    ((uint64_t)PCI_BUSES << 20) /* 1 MiB per bus (PCIe 5.0, 7.2.2) */
#define PCI_MEMSLOTS	    ACCEL_RAM_SLOTS /* RAM-backed BARs mapped at once (vmm/accel.h) */
#define PCI_MMIO_BASE	    0xc0000000ull   /* where BARs are assigned, like firmware would */
#define PCI_MMIO_SIZE	    0x10000000ull
#define PCI_IO_BASE	    0xc000
#define PCI_IO_SIZE	    0x1000

/* Config space offsets (PCI Local Bus 3.0, 6.1; PCIe 5.0, 7.5). */
#define PCI_VENDOR_ID	     0x00
#define PCI_COMMAND	     0x04
#define PCI_STATUS	     0x06
#define PCI_CLASS_REV	     0x08
#define PCI_HEADER_TYPE	     0x0e
#define PCI_HEADER_MULTI     0x80
#define PCI_BAR0	     0x10
#define PCI_PRIMARY_BUS	     0x18 /* type 1 (bridge) header: primary, secondary, subordinate */
#define PCI_SECONDARY_BUS    0x19
#define PCI_SUBORDINATE_BUS  0x1a
#define PCI_SUBSYS_VENDOR    0x2c
#define PCI_CAP_PTR	     0x34
#define PCI_INTERRUPT_LINE   0x3c
#define PCI_INTERRUPT_PIN    0x3d
#define PCI_CMD_IO	     0x1
#define PCI_CMD_MEM	     0x2
#define PCI_CMD_MASTER	     0x4
#define PCI_CMD_INTX_DISABLE 0x400
#define PCI_STATUS_CAP_LIST  0x10
#define PCI_EXT_CAP_START    0x100

struct pci_dev;
/* A BAR access, relative to the BAR's start. */
typedef int (*pci_bar_fn)(struct pci_dev *dev, unsigned bar, uint64_t off, void *data, uint32_t len,
			  bool is_write);
/* Called after the guest wrote config space (MSI-X enable, command register, ...). */
typedef void (*pci_cfg_fn)(struct pci_dev *dev, uint32_t off, uint32_t len);
/* Called when a BAR starts or stops decoding at an address (0: unmapped). */
typedef void (*pci_bar_moved_fn)(struct pci_dev *dev, unsigned bar, uint64_t addr);

/* bar[0..5] are the header's; bar[6..11] an SR-IOV PF's VF BARs (windows, pci_sriov.c). */
#define PCI_BARS 12

struct pci_bar {
	uint64_t size; /* one decoder's size, a power of two; 0: unused */
	uint64_t span; /* the space firmware assigns: size, or size * TotalVFs for a window */
	uint16_t reg;  /* config offset of its address register; 0: a VF's, placed by its PF */
	bool io;
	bool window; /* an SR-IOV VF BAR: the space belongs to the VFs, the PF never decodes it */
	uint64_t placed; /* a VF's BAR: where the PF's window puts it */
	void *ram;	 /* RAM-backed: guest accesses hit this memory through a KVM memory slot and
			  * never exit (a VF's doorbells, as VFIO maps a real BAR); NULL: traps */
	int memslot;	 /* the accel's RAM slot while mapped, else -1 */
	uint64_t mapped_at; /* where it sits on the I/O bus; 0: not mapped */
	uint64_t exits;	    /* accesses that reached the VMM */
	struct pci_dev *dev;
	unsigned index;
};

struct pci_dev {
	char name[16];
	uint8_t cfg[PCI_CFG_SIZE];
	uint8_t wmask[PCI_CFG_SIZE]; /* bits the guest may change */
	uint8_t w1c[PCI_CFG_SIZE];   /* bits a guest write of 1 clears (status) */
	struct pci_bar bar[PCI_BARS];
	bool is_vf;	  /* an SR-IOV virtual function: no BAR registers, decoding set by its PF */
	bool vf_decode;	  /* a VF's memory decoding (its PF's VF MSE) */
	uint8_t last_cap; /* offset of the last standard capability, 0: none */
	uint16_t last_ext_cap; /* offset of the last extended capability, 0: none */
	uint16_t cap_end, ext_cap_end;
	pci_bar_fn bar_access;
	pci_cfg_fn cfg_written;
	pci_bar_moved_fn bar_moved;
	void *opaque;
	uint64_t bar_exits;	/* BAR accesses that reached the VMM (each one a userspace exit) */
	struct pci_bus *bus;	/* set while plugged */
	struct pci_dev *parent; /* the bridge whose secondary bus it sits on; NULL: the root bus */
	uint8_t devfn;
	struct pci_dev *
	    *below; /* a bridge (type 1 header): what sits on its secondary bus, by devfn */
};

struct pci_bus {
	struct iobus *io;
	const struct accel *accel; /* maps RAM-backed BARs; NULL: they trap (tests) */
	struct pci_dev *root[256]; /* the root bus, by devfn */
	struct pci_dev host_bridge;
	uint32_t cf8;
	uint32_t memslots;	 /* the accel's RAM slots in use, bit n = slot n */
	uint64_t bad_accesses;	 /* unaligned, oversized, or refused config/BAR accesses */
	uint64_t bar_conflicts;	 /* BARs the guest placed over something else: left unmapped */
	uint64_t ram_bar_exits;	 /* accesses to a RAM-backed BAR that still reached us (KVM refused
				  * the memory slot, or no KVM) */
	uint64_t memslot_errors; /* RAM slots the CPU backend refused or we ran out of */
};

void pci_dev_init(struct pci_dev *d, const char *name, uint16_t vendor, uint16_t device,
		  uint32_t class_code, uint8_t revision, uint16_t subsys_vendor, uint16_t subsys);
/* A PCI-to-PCI bridge (type 1 header, class 06/04/00): bus numbers the guest may set, and a
 * secondary bus that devices plug into. -ENOMEM; undone by pci_dev_exit(). */
int pci_bridge_init(struct pci_dev *d, const char *name, uint16_t vendor, uint16_t device);
void pci_dev_exit(struct pci_dev *d);
/* A virtual function's header (SR-IOV 9.3.4): Vendor and Device ID read all ones, BARs and
 * memory/IO enable are read-only zero (its PF places and enables them), bus mastering is its own.
 */
void pci_vf_init(struct pci_dev *d, const char *name, uint32_t class_code);
/* Where a VF's BARs sit and whether they decode, from its PF's SR-IOV capability. */
void pci_vf_place(struct pci_dev *d, const uint64_t addr[6], bool decode);
/* An SR-IOV VF BAR window (bar 6..11): its address register at reg in the PF's capability sizes
 * as one VF's BAR, firmware assigns count copies. */
int pci_dev_add_window(struct pci_dev *d, unsigned bar, uint16_t reg, uint64_t size,
		       unsigned count);
/* A 32-bit memory BAR (or an I/O BAR) of a power-of-two size. */
int pci_dev_add_bar(struct pci_dev *d, unsigned bar, uint64_t size, bool io);
/* A memory BAR backed by host memory (page-aligned, size a power of two >= 4 KiB): mapped into
 * the guest as a KVM memory slot wherever the guest puts it, so accesses never exit. */
int pci_dev_add_ram_bar(struct pci_dev *d, unsigned bar, uint64_t size, void *ram);
/* Appends a capability: id, then body (len bytes, from the byte after the next pointer).
 * Returns its offset in config space, or -ENOSPC. */
int pci_dev_add_cap(struct pci_dev *d, uint8_t id, const void *body, unsigned len);
int pci_dev_add_ext_cap(struct pci_dev *d, uint16_t id, uint8_t version, const void *body,
			unsigned len);
/* The PCI Express capability, version 2 (PCIe 5.0, 7.5.3), for a port_type (0: endpoint, 4: root
 * port): a x1 link at 2.5 GT/s, up. Returns its offset or -ENOSPC. */
#define PCI_CAP_EXP 0x10
int pci_dev_add_pcie_cap(struct pci_dev *d, unsigned port_type);
/* Lets the guest write bits of config space (capability registers). */
void pci_dev_writable(struct pci_dev *d, uint32_t off, const void *mask, unsigned len);

int pci_bus_init(struct pci_bus *b, struct iobus *io, const struct accel *accel);
/* Puts a device at devfn on the root bus (bridge NULL) or on a bridge's secondary bus, assigns
 * its BARs in free space and enables decoding, as firmware would. -EBUSY, -ENOSPC, -EINVAL. */
int pci_bus_plug(struct pci_bus *b, struct pci_dev *d, struct pci_dev *bridge, unsigned devfn);
/* Takes a device off the bus: config space reads all ones, its BARs stop decoding, their
 * address space and memory slots are free for the next device. */
void pci_bus_unplug(struct pci_bus *b, struct pci_dev *d);
/* The device at a bus number and devfn as the guest numbered the bridges, or NULL. */
struct pci_dev *pci_bus_find(struct pci_bus *b, unsigned busnr, unsigned devfn);
/* The bus number the device sits on now (its bridge's secondary bus number; 0: root). */
unsigned pci_dev_busnr(const struct pci_dev *d);
/* Config space as both access mechanisms see it. */
void pci_cfg_read(struct pci_bus *b, unsigned busnr, unsigned devfn, uint32_t off, void *data,
		  uint32_t len);
void pci_cfg_write(struct pci_bus *b, unsigned busnr, unsigned devfn, uint32_t off,
		   const void *data, uint32_t len);

static inline uint32_t pci_cfg_get(const struct pci_dev *d, uint32_t off, unsigned len)
{
	uint32_t v = 0;
	for (unsigned i = 0; i < len; i++)
		v |= (uint32_t)d->cfg[off + i] << (8 * i);
	return v;
}

/* Sets config space as the device (read-only fields, values the model owns). */
static inline void pci_cfg_set(struct pci_dev *d, uint32_t off, uint32_t v, unsigned len)
{
	for (unsigned i = 0; i < len; i++)
		d->cfg[off + i] = (uint8_t)(v >> (8 * i));
}

#endif
