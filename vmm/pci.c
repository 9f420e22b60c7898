/* PCI bus: configuration mechanism #1 (PCI 3.0, 3.2.2.3.2), ECAM (PCIe 5.0, 7.2.2), BARs
 * (PCI 3.0, 6.2.5.1), capability lists (6.7) and PCIe extended capabilities (7.6). */
#include "pci.h"

#include <errno.h>
#include <string.h>

static void put(uint8_t *p, uint32_t off, uint32_t v, unsigned len)
{
	for (unsigned i = 0; i < len; i++)
		p[off + i] = (uint8_t)(v >> (8 * i));
}

void pci_dev_init(struct pci_dev *d, const char *name, uint16_t vendor, uint16_t device,
		  uint32_t class_code, uint8_t revision, uint16_t subsys_vendor, uint16_t subsys)
{
	memset(d, 0, sizeof(*d));
	strncpy(d->name, name, sizeof(d->name) - 1);
	put(d->cfg, PCI_VENDOR_ID, vendor, 2);
	put(d->cfg, PCI_VENDOR_ID + 2, device, 2);
	put(d->cfg, PCI_CLASS_REV, class_code << 8 | revision, 4);
	put(d->cfg, PCI_SUBSYS_VENDOR, subsys_vendor, 2);
	put(d->cfg, PCI_SUBSYS_VENDOR + 2, subsys, 2);
	put(d->wmask, PCI_COMMAND, PCI_CMD_IO | PCI_CMD_MEM | PCI_CMD_MASTER | PCI_CMD_INTX_DISABLE, 2);
	put(d->w1c, PCI_STATUS, 0xf900, 2); /* parity, aborts, SERR: write 1 to clear */
	d->wmask[0x3c] = 0xff;               /* interrupt line: scratch for the OS */
	d->cap_end = 0x40;
	d->ext_cap_end = PCI_EXT_CAP_START;
}

int pci_dev_add_bar(struct pci_dev *d, unsigned bar, uint64_t size, bool io)
{
	if (bar >= 6 || !size || (size & (size - 1)) || size < (io ? 4 : 16) ||
	    size > (io ? 256 : (1ull << 30)))
		return -EINVAL;
	d->bar[bar] = (struct pci_bar){.size = size, .io = io, .dev = d, .index = bar};
	put(d->cfg, PCI_BAR0 + 4 * bar, io ? 1 : 0, 4);
	put(d->wmask, PCI_BAR0 + 4 * bar, (uint32_t)~(size - 1) & (io ? ~3u : ~0xfu), 4);
	return 0;
}

int pci_dev_add_cap(struct pci_dev *d, uint8_t id, const void *body, unsigned len)
{
	unsigned off = d->cap_end;
	if (off + 2 + len > 0x100)
		return -ENOSPC;
	d->cfg[off] = id;
	d->cfg[off + 1] = 0;
	memcpy(d->cfg + off + 2, body, len);
	if (d->last_cap)
		d->cfg[d->last_cap + 1] = (uint8_t)off;
	else
		d->cfg[PCI_CAP_PTR] = (uint8_t)off;
	d->cfg[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	d->last_cap = (uint8_t)off;
	d->cap_end = (uint16_t)((off + 2 + len + 3) & ~3u);
	return (int)off;
}

int pci_dev_add_ext_cap(struct pci_dev *d, uint16_t id, uint8_t version, const void *body,
			unsigned len)
{
	unsigned off = d->ext_cap_end;
	if (off + 4 + len > PCI_CFG_SIZE)
		return -ENOSPC;
	put(d->cfg, off, id | (uint32_t)(version & 0xf) << 16, 4);
	memcpy(d->cfg + off + 4, body, len);
	if (d->last_ext_cap) {
		uint32_t prev = pci_cfg_get(d, d->last_ext_cap, 4);
		put(d->cfg, d->last_ext_cap, (prev & 0xfffff) | (uint32_t)off << 20, 4);
	}
	d->last_ext_cap = (uint16_t)off;
	d->ext_cap_end = (uint16_t)((off + 4 + len + 3) & ~3u);
	return (int)off;
}

void pci_dev_writable(struct pci_dev *d, uint32_t off, const void *mask, unsigned len)
{
	const uint8_t *m = mask;
	for (unsigned i = 0; i < len && off + i < PCI_CFG_SIZE; i++)
		d->wmask[off + i] |= m[i];
}

static int bar_io(uint64_t addr, void *data, uint32_t len, bool is_write, void *opaque)
{
	struct pci_bar *bar = opaque;
	struct pci_dev *d = bar->dev;
	__atomic_fetch_add(&d->bar_exits, 1, __ATOMIC_RELAXED);
	if (!d->bar_access)
		return -ENOENT;
	return d->bar_access(d, bar->index, addr, data, len, is_write);
}

/* Places each BAR where the guest (or we, as firmware) put it, if decoding is enabled. */
static void update_bars(struct pci_dev *d)
{
	uint16_t cmd = (uint16_t)pci_cfg_get(d, PCI_COMMAND, 2);

	for (unsigned i = 0; i < 6; i++) {
		struct pci_bar *bar = &d->bar[i];
		if (!bar->size)
			continue;
		enum io_space space = bar->io ? IO_PIO : IO_MMIO;
		uint64_t addr = pci_cfg_get(d, PCI_BAR0 + 4 * i, 4) & (bar->io ? ~3u : ~0xfu);
		bool on = cmd & (bar->io ? PCI_CMD_IO : PCI_CMD_MEM);
		/* All ones is the sizing pattern: never decode there. */
		uint64_t want = on && addr && addr != ((uint32_t)~(bar->size - 1) & (bar->io ? ~3u : ~0xfu))
					? addr
					: 0;
		if (want == bar->mapped_at)
			continue;
		if (bar->mapped_at)
			iobus_unregister(d->bus->io, space, bar->mapped_at);
		bar->mapped_at = 0;
		if (want && iobus_register(d->bus->io, space, want, bar->size, bar_io, bar) == 0)
			bar->mapped_at = want;
		else if (want)
			d->bus->bar_conflicts++;
		if (d->bar_moved)
			d->bar_moved(d, i, bar->mapped_at);
	}
}

static struct pci_dev *lookup(struct pci_bus *b, unsigned slot, unsigned fn, uint32_t off,
			      uint32_t len)
{
	if (len != 1 && len != 2 && len != 4)
		goto bad;
	if (off % len || off + len > PCI_CFG_SIZE)
		goto bad;
	if (slot >= PCI_SLOTS || fn)
		return NULL;
	return b->dev[slot];
bad:
	b->bad_accesses++;
	return NULL;
}

void pci_cfg_read(struct pci_bus *b, unsigned slot, unsigned fn, uint32_t off, void *data,
		  uint32_t len)
{
	struct pci_dev *d = lookup(b, slot, fn, off, len);
	if (!d)
		memset(data, 0xff, len > 8 ? 8 : len); /* master abort reads all ones */
	else
		memcpy(data, d->cfg + off, len);
}

void pci_cfg_write(struct pci_bus *b, unsigned slot, unsigned fn, uint32_t off, const void *data,
		   uint32_t len)
{
	struct pci_dev *d = lookup(b, slot, fn, off, len);
	const uint8_t *v = data;
	if (!d)
		return;
	for (uint32_t i = 0; i < len; i++) {
		uint32_t o = off + i;
		d->cfg[o] = (uint8_t)((d->cfg[o] & ~d->wmask[o]) | (v[i] & d->wmask[o]));
		d->cfg[o] &= (uint8_t)~(v[i] & d->w1c[o]);
	}
	if (off < PCI_BAR0 + 24 && off + len > PCI_COMMAND)
		update_bars(d);
	if (d->cfg_written)
		d->cfg_written(d, off, len);
}

/* Mechanism #1: 0xCF8 holds enable, bus, device, function and register; 0xCFC-0xCFF the data. */
static int cf8_io(uint64_t addr, void *data, uint32_t len, bool is_write, void *opaque)
{
	struct pci_bus *b = opaque;
	if (len != 4) {
		b->bad_accesses++;
		if (!is_write)
			memset(data, 0xff, len);
		return -EINVAL;
	}
	if (is_write)
		memcpy(&b->cf8, data, 4);
	else
		memcpy(data, &b->cf8, 4);
	return 0;
}

static int cfc_io(uint64_t addr, void *data, uint32_t len, bool is_write, void *opaque)
{
	struct pci_bus *b = opaque;
	uint32_t a = b->cf8;
	unsigned slot = (a >> 11) & 31, fn = (a >> 8) & 7, bus = (a >> 16) & 0xff;
	uint32_t off = (a & 0xfc) + (uint32_t)addr;

	if (!(a & 0x80000000u) || bus || addr + len > 4) {
		if (!is_write)
			memset(data, 0xff, len > 4 ? 4 : len);
		return 0;
	}
	if (is_write)
		pci_cfg_write(b, slot, fn, off, data, len);
	else
		pci_cfg_read(b, slot, fn, off, data, len);
	return 0;
}

static int ecam_io(uint64_t addr, void *data, uint32_t len, bool is_write, void *opaque)
{
	struct pci_bus *b = opaque;
	unsigned slot = (unsigned)(addr >> 15) & 31, fn = (unsigned)(addr >> 12) & 7;
	uint32_t off = (uint32_t)addr & 0xfff;
	if (is_write)
		pci_cfg_write(b, slot, fn, off, data, len);
	else
		pci_cfg_read(b, slot, fn, off, data, len);
	return 0;
}

int pci_bus_init(struct pci_bus *b, struct iobus *io)
{
	int r;
	memset(b, 0, sizeof(*b));
	b->io = io;
	b->next_mmio = PCI_MMIO_BASE;
	b->next_io = PCI_IO_BASE;
	r = iobus_register(io, IO_PIO, 0xcf8, 4, cf8_io, b);
	if (!r)
		r = iobus_register(io, IO_PIO, 0xcfc, 4, cfc_io, b);
	if (!r)
		r = iobus_register(io, IO_MMIO, PCI_ECAM_BASE, PCI_ECAM_SIZE, ecam_io, b);
	if (r)
		return r;
	/* 00:00.0, the host bridge (class 06/00/00). */
	pci_dev_init(&b->host_bridge, "host-bridge", 0x1b36, 0x0008, 0x060000, 0, 0x1af4, 0x1100);
	return pci_bus_plug(b, &b->host_bridge, 0);
}

int pci_bus_plug(struct pci_bus *b, struct pci_dev *d, unsigned slot)
{
	if (slot >= PCI_SLOTS || b->dev[slot])
		return -EBUSY;
	for (unsigned i = 0; i < 6; i++) {
		struct pci_bar *bar = &d->bar[i];
		if (!bar->size)
			continue;
		uint64_t *next = bar->io ? &b->next_io : &b->next_mmio;
		uint64_t end = bar->io ? PCI_IO_BASE + PCI_IO_SIZE : PCI_MMIO_BASE + PCI_MMIO_SIZE;
		uint64_t at = (*next + bar->size - 1) & ~(bar->size - 1);
		if (at + bar->size > end)
			return -ENOSPC;
		*next = at + bar->size;
		put(d->cfg, PCI_BAR0 + 4 * i, (uint32_t)at | (bar->io ? 1 : 0), 4);
	}
	d->bus = b;
	d->slot = slot;
	d->cfg[PCI_COMMAND] |= PCI_CMD_MEM | PCI_CMD_IO;
	b->dev[slot] = d;
	update_bars(d);
	return 0;
}

void pci_bus_unplug(struct pci_bus *b, unsigned slot)
{
	struct pci_dev *d = slot < PCI_SLOTS ? b->dev[slot] : NULL;
	if (!d)
		return;
	d->cfg[PCI_COMMAND] &= (uint8_t)~(PCI_CMD_MEM | PCI_CMD_IO);
	update_bars(d);
	b->dev[slot] = NULL;
}
