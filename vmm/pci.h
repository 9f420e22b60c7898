/* A PCI(e) bus: host bridge, configuration space through ports 0xCF8/0xCFC and an ECAM window,
 * BARs mapped on the I/O bus, capability lists. Devices know nothing of the access mechanism. */
#ifndef VMSCOPE_PCI_H
#define VMSCOPE_PCI_H
#include <stdbool.h>
#include <stdint.h>

#include "iobus.h"

#define PCI_CFG_SIZE 4096 /* PCIe: 256 bytes legacy + extended space */
#define PCI_SLOTS 32
#define PCI_ECAM_BASE 0xe0000000ull
#define PCI_ECAM_SIZE (PCI_SLOTS * 8 * 4096ull) /* bus 0 only */
#define PCI_MMIO_BASE 0xc0000000ull             /* where BARs are assigned, like firmware would */
#define PCI_MMIO_SIZE 0x10000000ull
#define PCI_IO_BASE 0xc000
#define PCI_IO_SIZE 0x1000

/* Config space offsets (PCI Local Bus 3.0, 6.1; PCIe 5.0, 7.5). */
#define PCI_VENDOR_ID 0x00
#define PCI_COMMAND 0x04
#define PCI_STATUS 0x06
#define PCI_CLASS_REV 0x08
#define PCI_HEADER_TYPE 0x0e
#define PCI_BAR0 0x10
#define PCI_SUBSYS_VENDOR 0x2c
#define PCI_CAP_PTR 0x34
#define PCI_INTERRUPT_PIN 0x3d
#define PCI_CMD_IO 0x1
#define PCI_CMD_MEM 0x2
#define PCI_CMD_MASTER 0x4
#define PCI_CMD_INTX_DISABLE 0x400
#define PCI_STATUS_CAP_LIST 0x10
#define PCI_EXT_CAP_START 0x100

struct pci_dev;
/* A BAR access, relative to the BAR's start. */
typedef int (*pci_bar_fn)(struct pci_dev *dev, unsigned bar, uint64_t off, void *data,
			  uint32_t len, bool is_write);
/* Called after the guest wrote config space (MSI-X enable, command register, ...). */
typedef void (*pci_cfg_fn)(struct pci_dev *dev, uint32_t off, uint32_t len);
/* Called when a BAR starts or stops decoding at an address (0: unmapped). */
typedef void (*pci_bar_moved_fn)(struct pci_dev *dev, unsigned bar, uint64_t addr);

struct pci_bar {
	uint64_t size; /* 0: unused */
	bool io;
	uint64_t mapped_at; /* where it sits on the I/O bus; 0: not mapped */
	struct pci_dev *dev;
	unsigned index;
};

struct pci_dev {
	char name[16];
	uint8_t cfg[PCI_CFG_SIZE];
	uint8_t wmask[PCI_CFG_SIZE]; /* bits the guest may change */
	uint8_t w1c[PCI_CFG_SIZE];   /* bits a guest write of 1 clears (status) */
	struct pci_bar bar[6];
	uint8_t last_cap;       /* offset of the last standard capability, 0: none */
	uint16_t last_ext_cap;  /* offset of the last extended capability, 0: none */
	uint16_t cap_end, ext_cap_end;
	pci_bar_fn bar_access;
	pci_cfg_fn cfg_written;
	pci_bar_moved_fn bar_moved;
	void *opaque;
	uint64_t bar_exits; /* BAR accesses that reached the VMM (each one a userspace exit) */
	struct pci_bus *bus;
	unsigned slot;
};

struct pci_bus {
	struct iobus *io;
	struct pci_dev *dev[PCI_SLOTS];
	struct pci_dev host_bridge;
	uint32_t cf8;
	uint64_t next_mmio, next_io; /* firmware-style BAR allocation */
	uint64_t bad_accesses;       /* unaligned, oversized, or refused config/BAR accesses */
	uint64_t bar_conflicts;      /* BARs the guest placed over something else: left unmapped */
};

void pci_dev_init(struct pci_dev *d, const char *name, uint16_t vendor, uint16_t device,
		  uint32_t class_code, uint8_t revision, uint16_t subsys_vendor, uint16_t subsys);
/* A 32-bit memory BAR (or an I/O BAR) of a power-of-two size. */
int pci_dev_add_bar(struct pci_dev *d, unsigned bar, uint64_t size, bool io);
/* Appends a capability: id, then body (len bytes, from the byte after the next pointer).
 * Returns its offset in config space, or -ENOSPC. */
int pci_dev_add_cap(struct pci_dev *d, uint8_t id, const void *body, unsigned len);
int pci_dev_add_ext_cap(struct pci_dev *d, uint16_t id, uint8_t version, const void *body,
			unsigned len);
/* Lets the guest write bits of config space (capability registers). */
void pci_dev_writable(struct pci_dev *d, uint32_t off, const void *mask, unsigned len);

int pci_bus_init(struct pci_bus *b, struct iobus *io);
/* Puts a device in a slot, assigns its BARs and enables decoding, as firmware would. */
int pci_bus_plug(struct pci_bus *b, struct pci_dev *d, unsigned slot);
void pci_bus_unplug(struct pci_bus *b, unsigned slot);
/* Config space as both access mechanisms see it (bus 0 only). */
void pci_cfg_read(struct pci_bus *b, unsigned slot, unsigned fn, uint32_t off, void *data,
		  uint32_t len);
void pci_cfg_write(struct pci_bus *b, unsigned slot, unsigned fn, uint32_t off, const void *data,
		   uint32_t len);

static inline uint32_t pci_cfg_get(const struct pci_dev *d, uint32_t off, unsigned len)
{
	uint32_t v = 0;
	for (unsigned i = 0; i < len; i++)
		v |= (uint32_t)d->cfg[off + i] << (8 * i);
	return v;
}

#endif
