/* The guest's PCI layer: ECAM (PCIe 5.0, 7.2.2), capabilities (PCI 3.0, 6.7), MSI-X (6.8.2) and
 * the IOAPIC's redirection table (82093AA datasheet, 3.2.4) for INTx. */
#define VMSCOPE_GUEST
#include "pci.h"
#include "lib.h"
#include "task.h"

#define ECAM(bdf, off) (GPA_PCI_ECAM + ((u64)(bdf) << 12) + (off))

/* Every config access traps: each is a yield point of a background probe (task.h). */
#define CFG(type, bdf, off) REG(type, ECAM(bdf, off))

u32 pci_read32(u32 bdf, u32 off)
{
	return CFG(u32, bdf, off);
}
u16 pci_read16(u32 bdf, u32 off)
{
	return CFG(u16, bdf, off);
}
u8 pci_read8(u32 bdf, u32 off)
{
	return CFG(u8, bdf, off);
}
void pci_write32(u32 bdf, u32 off, u32 v)
{
	CFG(u32, bdf, off) = v;
}
void pci_write16(u32 bdf, u32 off, u16 v)
{
	CFG(u16, bdf, off) = v;
}

static void scan_bus(u32 bus, int depth, void (*fn)(u32, u32, void *), void *arg)
{
	for (u32 devfn = 0; devfn < 256; devfn++) {
		u32 bdf = PCI_BDF(bus, devfn), id = pci_read32(bdf, 0);
		if (id == 0xffffffff) {
			devfn |= !(devfn & 7) ? 7 : 0; /* no function 0: no others */
			continue;
		}
		fn(bdf, id, arg);
		u8 type = pci_read8(bdf, 0x0e);
		u32 sec = pci_read8(bdf, 0x19);
		if ((type & 0x7f) == 1 && sec > bus && depth < 4)
			scan_bus(sec, depth + 1, fn, arg);
		if (!(devfn & 7) && !(type & 0x80))
			devfn |= 7; /* single function */
	}
}

void pci_scan(void (*fn)(u32 bdf, u32 id, void *arg), void *arg)
{
	scan_bus(0, 0, fn, arg);
}

u32 pci_next_cap(u32 bdf, u8 id, u32 after)
{
	if (!(pci_read16(bdf, 0x06) & 0x10))
		return 0;
	/* 48 steps at most: a looping list cannot keep us here. */
	u32 c = pci_read8(bdf, after ? after + 1 : 0x34) & 0xfc;
	for (int n = 0; c && n < 48; n++, c = pci_read8(bdf, c + 1) & 0xfc)
		if (pci_read8(bdf, c) == id)
			return c;
	return 0;
}

u32 pci_find_cap(u32 bdf, u8 id)
{
	return pci_next_cap(bdf, id, 0);
}

u32 pci_find_ext_cap(u32 bdf, u16 id)
{
	u32 c = 0x100;
	for (int n = 0; c >= 0x100 && n < 64; n++) {
		u32 h = pci_read32(bdf, c);
		if (h == 0xffffffff || !h)
			return 0;
		if ((h & 0xffff) == id)
			return c;
		c = (h >> 20) & 0xffc;
	}
	return 0;
}

u64 pci_bar(u32 bdf, u32 n)
{
	u32 v = pci_read32(bdf, 0x10 + 4 * n);
	return v & 1 ? v & ~3u : v & ~0xfu;
}

void pci_enable(u32 bdf)
{
	pci_write16(bdf, 0x04, pci_read16(bdf, 0x04) | 0x7);
}

int pci_msix_setup(u32 bdf, u64 bar_addr, u32 bar, u32 n, u32 vec_base)
{
	u32 cap = pci_find_cap(bdf, PCI_CAP_MSIX);
	if (!cap || (u32)(pci_read16(bdf, cap + 2) & 0x7ff) + 1 < n)
		return 0;
	u32 table = pci_read32(bdf, cap + 4);
	if ((table & 7u) != bar)
		return 0;
	volatile u8 *t = (volatile u8 *)(bar_addr + (table & ~7u));
	for (u32 i = 0; i < n; i++) {
		REG(u32, t + 16 * i) = (u32)GPA_LAPIC; /* destination APIC 0, physical */
		REG(u32, t + 16 * i + 4) = 0;
		REG(u32, t + 16 * i + 8) = vec_base + i; /* fixed delivery, edge */
		REG(u32, t + 16 * i + 12) = 0;		 /* unmasked */
	}
	pci_write16(bdf, cap + 2, 0x8000); /* MSI-X enable, function not masked */
	return 1;
}

int pci_intx_setup(u32 bdf, u32 vector)
{
	u32 pin = pci_read8(bdf, 0x3c);
	if (!pci_read8(bdf, 0x3d) || pin >= 24)
		return 0; /* 0xff: not connected */
	volatile u32 *sel = (volatile u32 *)GPA_IOAPIC, *win = (volatile u32 *)(GPA_IOAPIC + 0x10);
	*sel = 0x11 + 2 * pin;
	*win = 0; /* destination: APIC 0 */
	*sel = 0x10 + 2 * pin;
	*win = vector | 1u << 15; /* fixed, physical, active high, level triggered, unmasked */
	pci_write16(bdf, 0x04, pci_read16(bdf, 0x04) & ~0x400); /* INTx not disabled */
	return 1;
}

/* pci_scan()'s callback that logs each function found, as a kernel would. */
void pci_log_function(u32 bdf, u32 id, void *arg)
{
	(void)arg;
	puts("pci ");
	put_bdf(bdf);
	puts(" ");
	put_hex(id & 0xffff, 4);
	puts(":");
	put_hex(id >> 16, 4);
	puts(" class ");
	put_hex(pci_read32(bdf, 8) >> 8, 6);
	puts("\n");
}
