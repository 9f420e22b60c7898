/* The guest's PCI layer, shared by every driver: ECAM configuration access on any bus, the
 * capability walk, BAR addresses, MSI-X vectors and INTx through the IOAPIC. */
#ifndef VMSCOPE_GUEST_PCI_H
#define VMSCOPE_GUEST_PCI_H
#include "../control.h"

#define PCI_BDF(bus, devfn) ((u32)(bus) << 8 | (u32)(devfn))
#define PCI_CAP_MSIX	    0x11
#define GPA_IOAPIC	    0xfec00000ull

u32 pci_read32(u32 bdf, u32 off);
u16 pci_read16(u32 bdf, u32 off);
u8 pci_read8(u32 bdf, u32 off);
void pci_write32(u32 bdf, u32 off, u32 v);
void pci_write16(u32 bdf, u32 off, u16 v);
/* Calls fn for every function on bus 0 and on the buses behind its bridges (secondary bus
 * numbers as firmware set them). */
void pci_scan(void (*fn)(u32 bdf, u32 id, void *arg), void *arg);
/* Offset of the first standard capability with this ID, or 0; the next one after offset after
 * (a function may have several, as virtio's vendor capabilities). */
u32 pci_find_cap(u32 bdf, u8 id);
u32 pci_next_cap(u32 bdf, u8 id, u32 after);
/* Offset of the PCIe extended capability with this ID (PCIe 5.0, 7.6), or 0. */
u32 pci_find_ext_cap(u32 bdf, u16 id);
/* The address BAR n decodes at (memory or I/O), as firmware assigned it. */
u64 pci_bar(u32 bdf, u32 n);
/* Memory decoding and bus mastering (DMA) on. */
void pci_enable(u32 bdf);
/* Points MSI-X entries 0..n-1 at vector vec_base + entry on the boot CPU's LAPIC and enables
 * MSI-X; 1 done, 0 when the function has no usable MSI-X (fewer entries, table not in bar). */
int pci_msix_setup(u32 bdf, u64 bar_addr, u32 bar, u32 n, u32 vec_base);
/* Routes the function's INTx (the pin firmware wrote into Interrupt Line) to vector, level
 * triggered, through the IOAPIC; 1 done, 0 when the line is not connected. */
int pci_intx_setup(u32 bdf, u32 vector);

/* A pci_scan() callback that logs each function (bdf, ids, class) on the console. */
void pci_log_function(u32 bdf, u32 id, void *arg);

#endif
