/* PCI bus: configuration mechanism #1 (PCI 3.0, 3.2.2.3.2), ECAM (PCIe 5.0, 7.2.2), BARs
 * (PCI 3.0, 6.2.5.1), capability lists (6.7) and PCIe extended capabilities (7.6). */
#include "vmm/pci/pci.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

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
	put(d->wmask, PCI_COMMAND, PCI_CMD_IO | PCI_CMD_MEM | PCI_CMD_MASTER | PCI_CMD_INTX_DISABLE,
	    2);
	put(d->w1c, PCI_STATUS, 0xf900, 2);  /* parity, aborts, SERR: write 1 to clear */
	d->wmask[PCI_INTERRUPT_LINE] = 0xff; /* scratch for the OS */
	d->cap_end = 0x40;
	d->ext_cap_end = PCI_EXT_CAP_START;
	for (unsigned i = 0; i < PCI_BARS; i++)
		d->bar[i].memslot = -1;
}

void pci_vf_init(struct pci_dev *d, const char *name, uint32_t class_code)
{
	pci_dev_init(d, name, 0xffff, 0xffff, class_code, 0, 0, 0);
	put(d->wmask, PCI_COMMAND, PCI_CMD_MASTER, 2);
	d->is_vf = true;
}

int pci_dev_add_window(struct pci_dev *d, unsigned bar, uint16_t reg, uint64_t size, unsigned count)
{
	if (bar < 6 || bar >= PCI_BARS || !size || (size & (size - 1)) || size < 4096 || !count ||
	    size * count > (1ull << 30) || reg + 4 > PCI_CFG_SIZE)
		return -EINVAL;
	d->bar[bar] = (struct pci_bar){.size = size,
				       .span = size * count,
				       .reg = reg,
				       .window = true,
				       .dev = d,
				       .index = bar,
				       .memslot = -1};
	put(d->cfg, reg, 0, 4);
	put(d->wmask, reg, (uint32_t) ~(size - 1) & ~0xfu, 4);
	return 0;
}

int pci_bridge_init(struct pci_dev *d, const char *name, uint16_t vendor, uint16_t device)
{
	/* PCI-to-PCI Bridge 1.2, 3.2: bus numbers, I/O and memory windows, bridge control. */
	pci_dev_init(d, name, vendor, device, 0x060400, 0, 0, 0);
	d->cfg[PCI_HEADER_TYPE] = 1;
	put(d->wmask, PCI_PRIMARY_BUS, 0xffffff, 3);
	put(d->wmask, 0x1c, 0xf0f0, 2);	    /* I/O base and limit */
	put(d->wmask, 0x20, 0xfff0fff0, 4); /* memory base and limit */
	put(d->wmask, 0x24, 0xfff0fff0, 4); /* prefetchable base and limit */
	put(d->wmask, 0x3e, 0x0fff, 2);	    /* bridge control */
	d->below = calloc(256, sizeof(*d->below));
	return d->below ? 0 : -ENOMEM;
}

void pci_dev_exit(struct pci_dev *d)
{
	free(d->below);
	d->below = NULL;
}

int pci_dev_add_bar(struct pci_dev *d, unsigned bar, uint64_t size, bool io)
{
	if (bar >= 6 || !size || (size & (size - 1)) || size < (io ? 4 : 16) ||
	    size > (io ? 256 : (1ull << 30)) || d->below || (d->is_vf && io))
		return -EINVAL;
	d->bar[bar] = (struct pci_bar){
	    .size = size, .span = size, .io = io, .dev = d, .index = bar, .memslot = -1};
	if (d->is_vf)
		return 0; /* no register: the PF's VF BAR says where */
	d->bar[bar].reg = (uint16_t)(PCI_BAR0 + 4 * bar);
	put(d->cfg, PCI_BAR0 + 4 * bar, io ? 1 : 0, 4);
	put(d->wmask, PCI_BAR0 + 4 * bar, (uint32_t) ~(size - 1) & (io ? ~3u : ~0xfu), 4);
	return 0;
}

int pci_dev_add_ram_bar(struct pci_dev *d, unsigned bar, uint64_t size, void *ram)
{
	if (!ram || size < 4096 || ((uintptr_t)ram & 4095))
		return -EINVAL;
	int r = pci_dev_add_bar(d, bar, size, false);
	if (!r)
		d->bar[bar].ram = ram;
	return r;
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

int pci_dev_add_pcie_cap(struct pci_dev *d, unsigned port_type)
{
	uint8_t body[0x3c - 2] = {0};
	body[0] = (uint8_t)(2 | (port_type & 0xf) << 4); /* capability version 2, port type */
	put(body, 0x0c - 2, 0x11, 4);			 /* link capabilities: 2.5 GT/s, x1 */
	put(body, 0x12 - 2, 0x11, 2);			 /* link status: the same, trained */
	put(body, 0x2c - 2, 0x2, 4);			 /* link capabilities 2: 2.5 GT/s */
	int off = pci_dev_add_cap(d, PCI_CAP_EXP, body, sizeof(body));
	if (off >= 0)
		put(d->wmask, (uint32_t)off + 0x08, 0x7fff, 2); /* device control */
	return off;
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
	__atomic_fetch_add(&bar->exits, 1, __ATOMIC_RELAXED);
	if (bar->ram) {
		/* Only without a memory slot: serve it as the memory it is. */
		__atomic_fetch_add(&d->bus->ram_bar_exits, 1, __ATOMIC_RELAXED);
		if (len > 8 || addr + len > bar->size)
			return -EINVAL;
		if (is_write)
			memcpy((uint8_t *)bar->ram + addr, data, len);
		else
			memcpy(data, (uint8_t *)bar->ram + addr, len);
		return 0;
	}
	if (!d->bar_access)
		return -ENOENT;
	return d->bar_access(d, bar->index, addr, data, len, is_write);
}

/* A RAM-backed BAR at gpa (0: gone) as guest RAM the CPU backend maps. Without it the BAR
 * still works, trapping. */
static void ram_bar_map(struct pci_bus *b, struct pci_bar *bar, uint64_t gpa)
{
	if (bar->memslot >= 0) {
		if (accel_map_ram(b->accel, (unsigned)bar->memslot, 0, bar->size, bar->ram))
			b->memslot_errors++;
		b->memslots &= ~(1u << bar->memslot);
		bar->memslot = -1;
	}
	if (!gpa || !b->accel)
		return;
	unsigned n = 0;
	while (n < PCI_MEMSLOTS && (b->memslots & (1u << n)))
		n++;
	if (n == PCI_MEMSLOTS || accel_map_ram(b->accel, n, gpa, bar->size, bar->ram)) {
		b->memslot_errors++;
		return;
	}
	b->memslots |= 1u << n;
	bar->memslot = (int)n;
}

/* Places each BAR where the guest (or we, as firmware) put it, if decoding is enabled. */
static void update_bars(struct pci_dev *d)
{
	uint16_t cmd = (uint16_t)pci_cfg_get(d, PCI_COMMAND, 2);

	for (unsigned i = 0; i < PCI_BARS; i++) {
		struct pci_bar *bar = &d->bar[i];
		if (!bar->size || bar->window)
			continue;
		enum io_space space = bar->io ? IO_PIO : IO_MMIO;
		uint64_t want;
		if (bar->reg) {
			uint64_t addr = pci_cfg_get(d, bar->reg, 4) & (bar->io ? ~3u : ~0xfu);
			bool on = cmd & (bar->io ? PCI_CMD_IO : PCI_CMD_MEM);
			/* All ones is the sizing pattern: never decode there. */
			want =
			    on && addr &&
				    addr != ((uint32_t) ~(bar->size - 1) & (bar->io ? ~3u : ~0xfu))
				? addr
				: 0;
		} else {
			want = d->vf_decode && d->bus ? bar->placed : 0;
		}
		if (want == bar->mapped_at)
			continue;
		if (bar->mapped_at)
			iobus_unregister(d->bus->io, space, bar->mapped_at);
		bar->mapped_at = 0;
		/* The I/O bus range also catches overlaps for RAM-backed BARs. */
		if (want && iobus_register(d->bus->io, space, want, bar->size, bar_io, bar) == 0)
			bar->mapped_at = want;
		else if (want)
			d->bus->bar_conflicts++;
		if (bar->ram)
			ram_bar_map(d->bus, bar, bar->mapped_at);
		if (d->bar_moved)
			d->bar_moved(d, i, bar->mapped_at);
	}
}

void pci_vf_place(struct pci_dev *d, const uint64_t addr[6], bool decode)
{
	for (unsigned i = 0; i < 6; i++)
		d->bar[i].placed = addr[i];
	d->vf_decode = decode;
	if (d->bus)
		update_bars(d);
}

/* Calls fn on every plugged device, bridges before what sits below them; stops at nonzero. */
static int walk(struct pci_dev **table, int (*fn)(struct pci_dev *, void *), void *arg)
{
	for (unsigned i = 0; i < 256; i++) {
		struct pci_dev *d = table[i];
		int r;
		if (!d)
			continue;
		if ((r = fn(d, arg)) || (d->below && (r = walk(d->below, fn, arg))))
			return r;
	}
	return 0;
}

struct range_query {
	bool io;
	uint64_t at, size;
};

static int overlaps(struct pci_dev *d, void *arg)
{
	struct range_query *q = arg;
	for (unsigned i = 0; i < PCI_BARS; i++) {
		const struct pci_bar *bar = &d->bar[i];
		/* A VF's BARs lie inside its PF's window, which already counts. */
		if (!bar->size || !bar->reg || bar->io != q->io)
			continue;
		uint64_t at = pci_cfg_get(d, bar->reg, 4) & (bar->io ? ~3u : ~0xfu);
		if (at && at < q->at + q->size && q->at < at + bar->span)
			return 1;
	}
	return 0;
}

/* Firmware-style assignment: the lowest naturally aligned gap no plugged device uses, so the
 * space of an unplugged device is there for the next one. 0: none. */
static uint64_t alloc_bar(struct pci_bus *b, const struct pci_dev *d, const struct pci_bar *bar)
{
	uint64_t base = bar->io ? PCI_IO_BASE : PCI_MMIO_BASE;
	uint64_t end = base + (bar->io ? PCI_IO_SIZE : PCI_MMIO_SIZE);
	struct range_query q = {.io = bar->io, .size = bar->span};
	for (q.at = (base + bar->size - 1) & ~(bar->size - 1); q.at + bar->span <= end;
	     q.at += bar->size)
		if (!walk(b->root, overlaps, &q) && !overlaps((struct pci_dev *)d, &q))
			return q.at;
	return 0;
}

struct bus_query {
	unsigned busnr;
	struct pci_dev **table;
};

static int find_bus(struct pci_dev *d, void *arg)
{
	struct bus_query *q = arg;
	if (d->below && d->cfg[PCI_SECONDARY_BUS] == q->busnr) {
		q->table = d->below;
		return 1;
	}
	return 0;
}

struct pci_dev *pci_bus_find(struct pci_bus *b, unsigned busnr, unsigned devfn)
{
	struct bus_query q = {.busnr = busnr, .table = busnr ? NULL : b->root};
	if (devfn > 255 || busnr >= PCI_BUSES)
		return NULL;
	if (busnr)
		walk(b->root, find_bus, &q);
	return q.table ? q.table[devfn] : NULL;
}

unsigned pci_dev_busnr(const struct pci_dev *d)
{
	return d->parent ? d->parent->cfg[PCI_SECONDARY_BUS] : 0;
}

static struct pci_dev *lookup(struct pci_bus *b, unsigned busnr, unsigned devfn, uint32_t off,
			      uint32_t len)
{
	if ((len != 1 && len != 2 && len != 4) || off % len || off + len > PCI_CFG_SIZE) {
		b->bad_accesses++;
		return NULL;
	}
	return pci_bus_find(b, busnr, devfn);
}

void pci_cfg_read(struct pci_bus *b, unsigned busnr, unsigned devfn, uint32_t off, void *data,
		  uint32_t len)
{
	struct pci_dev *d = lookup(b, busnr, devfn, off, len);
	if (!d) {
		memset(data, 0xff, len > 8 ? 8 : len); /* master abort reads all ones */
		return;
	}
	memcpy(data, d->cfg + off, len);
	/* Function 0 says whether the slot has others (PCI 3.0, 6.2.1), whatever is plugged. */
	if (!(devfn & 7) && off <= PCI_HEADER_TYPE && off + len > PCI_HEADER_TYPE) {
		/* VFs are not found by scanning (SR-IOV 9.3.4.1): they do not count. */
		for (unsigned fn = 1; fn < 8; fn++) {
			struct pci_dev *f = pci_bus_find(b, busnr, devfn | fn);
			if (f && !f->is_vf)
				((uint8_t *)data)[PCI_HEADER_TYPE - off] |= PCI_HEADER_MULTI;
		}
	}
}

void pci_cfg_write(struct pci_bus *b, unsigned busnr, unsigned devfn, uint32_t off,
		   const void *data, uint32_t len)
{
	struct pci_dev *d = lookup(b, busnr, devfn, off, len);
	const uint8_t *v = data;
	if (!d)
		return;
	for (uint32_t i = 0; i < len; i++) {
		uint32_t o = off + i;
		d->cfg[o] = (uint8_t)((d->cfg[o] & ~d->wmask[o]) | (v[i] & d->wmask[o]));
		d->cfg[o] &= (uint8_t) ~(v[i] & d->w1c[o]);
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
	unsigned devfn = (a >> 8) & 0xff, busnr = (a >> 16) & 0xff;
	uint32_t off = (a & 0xfc) + (uint32_t)addr;

	if (!(a & 0x80000000u) || addr + len > 4) {
		if (!is_write)
			memset(data, 0xff, len > 4 ? 4 : len);
		return 0;
	}
	if (is_write)
		pci_cfg_write(b, busnr, devfn, off, data, len);
	else
		pci_cfg_read(b, busnr, devfn, off, data, len);
	return 0;
}

static int ecam_io(uint64_t addr, void *data, uint32_t len, bool is_write, void *opaque)
{
	struct pci_bus *b = opaque;
	unsigned busnr = (unsigned)(addr >> 20), devfn = (unsigned)(addr >> 12) & 0xff;
	uint32_t off = (uint32_t)addr & 0xfff;
	if (is_write)
		pci_cfg_write(b, busnr, devfn, off, data, len);
	else
		pci_cfg_read(b, busnr, devfn, off, data, len);
	return 0;
}

int pci_bus_init(struct pci_bus *b, struct iobus *io, const struct accel *accel)
{
	int r;
	memset(b, 0, sizeof(*b));
	b->io = io;
	b->accel = accel;
	r = iobus_register(io, IO_PIO, 0xcf8, 4, cf8_io, b);
	if (!r)
		r = iobus_register(io, IO_PIO, 0xcfc, 4, cfc_io, b);
	if (!r)
		r = iobus_register(io, IO_MMIO, PCI_ECAM_BASE, PCI_ECAM_SIZE, ecam_io, b);
	if (r)
		return r;
	/* 00:00.0, the host bridge (class 06/00/00). */
	pci_dev_init(&b->host_bridge, "host-bridge", 0x1b36, 0x0008, 0x060000, 0, 0x1af4, 0x1100);
	return pci_bus_plug(b, &b->host_bridge, NULL, 0);
}

int pci_bus_plug(struct pci_bus *b, struct pci_dev *d, struct pci_dev *bridge, unsigned devfn)
{
	struct pci_dev **table = bridge ? bridge->below : b->root;
	if (!table || devfn > 255 || d->bus || (bridge && bridge->bus != b))
		return -EINVAL;
	if (table[devfn])
		return -EBUSY;
	for (unsigned i = 0; i < PCI_BARS; i++)
		if (d->bar[i].reg)
			put(d->cfg, d->bar[i].reg, d->bar[i].io ? 1 : 0, 4);
	for (unsigned i = 0; i < PCI_BARS; i++) {
		const struct pci_bar *bar = &d->bar[i];
		uint64_t at = bar->reg ? alloc_bar(b, d, bar) : 0;
		if (bar->reg && !at)
			return -ENOSPC;
		/* Claimed at once, so the device's next BAR is placed around it. */
		if (at)
			put(d->cfg, bar->reg, (uint32_t)at | (bar->io ? 1 : 0), 4);
	}
	d->bus = b;
	d->parent = bridge;
	d->devfn = (uint8_t)devfn;
	if (!d->is_vf)
		d->cfg[PCI_COMMAND] |= PCI_CMD_MEM | PCI_CMD_IO;
	table[devfn] = d;
	update_bars(d);
	return 0;
}

static int unplug_one(struct pci_dev *d, void *arg)
{
	pci_bus_unplug(arg, d);
	return 0;
}

void pci_bus_unplug(struct pci_bus *b, struct pci_dev *d)
{
	struct pci_dev **table;
	if (!d || d->bus != b)
		return;
	table = d->parent ? d->parent->below : b->root;
	if (d->below)
		walk(d->below, unplug_one, b);
	d->cfg[PCI_COMMAND] &= (uint8_t) ~(PCI_CMD_MEM | PCI_CMD_IO);
	d->vf_decode = false;
	update_bars(d);
	table[d->devfn] = NULL;
	d->bus = NULL;
	d->parent = NULL;
}
