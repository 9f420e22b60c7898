/* The PCI bus: both configuration mechanisms, BAR sizing and placement, capability chains,
 * read-only and write-1-to-clear bits, and bad accesses. */
#include <errno.h>
#include <string.h>

#include "tests/harness.h"
#include "vmm/pci/pci.h"

static struct iobus io;
static struct pci_bus bus;
static struct pci_dev dev;
static uint64_t last_off;
static unsigned last_bar, bar_hits;

static int dev_bar(struct pci_dev *d, unsigned bar, uint64_t off, void *data, uint32_t len,
		   bool is_write)
{
	last_bar = bar;
	last_off = off;
	bar_hits++;
	if (!is_write)
		memset(data, 0x5a, len);
	return 0;
}

static void setup(void)
{
	memset(&io, 0, sizeof(io));
	REQUIRE(pci_bus_init(&bus, &io, NULL) == 0);
	pci_dev_init(&dev, "test", 0x1af4, 0x1041, 0x020000, 1, 0x1af4, 0x0001);
	REQUIRE(pci_dev_add_bar(&dev, 0, 0x1000, false) == 0);
	REQUIRE(pci_dev_add_bar(&dev, 2, 32, true) == 0);
	dev.bar_access = dev_bar;
}

static uint32_t cf8_read(unsigned slot, uint32_t off, uint32_t len)
{
	uint32_t addr = 0x80000000u | slot << 11 | (off & 0xfc), v = 0;
	iobus_dispatch(&io, IO_PIO, 0xcf8, &addr, 4, true);
	iobus_dispatch(&io, IO_PIO, 0xcfc + (off & 3), &v, len, false);
	return v;
}

static uint32_t ecam_read(unsigned slot, uint32_t off, uint32_t len)
{
	uint32_t v = 0;
	iobus_dispatch(&io, IO_MMIO, PCI_ECAM_BASE + (slot << 15) + off, &v, len, false);
	return v;
}

static void ecam_write(unsigned slot, uint32_t off, uint32_t v, uint32_t len)
{
	iobus_dispatch(&io, IO_MMIO, PCI_ECAM_BASE + (slot << 15) + off, &v, len, true);
}

TEST(pci_host_bridge_answers_on_both_mechanisms)
{
	setup();
	CHECK(cf8_read(0, 0, 4) == 0x00081b36);
	CHECK(ecam_read(0, 0, 4) == 0x00081b36);
	CHECK(cf8_read(0, PCI_CLASS_REV, 4) >> 8 == 0x060000);
	CHECK(cf8_read(0, 2, 2) == 0x0008);	/* a word at byte 2 of the dword */
	CHECK(cf8_read(5, 0, 4) == 0xffffffff); /* empty slot: master abort */
	uint32_t off = 0x00000000u, v = 0;	/* enable bit clear */
	iobus_dispatch(&io, IO_PIO, 0xcf8, &off, 4, true);
	iobus_dispatch(&io, IO_PIO, 0xcfc, &v, 4, false);
	CHECK(v == 0xffffffff);
	off = 0x80010000u; /* bus 1: no bridge gives it */
	iobus_dispatch(&io, IO_PIO, 0xcf8, &off, 4, true);
	iobus_dispatch(&io, IO_PIO, 0xcfc, &v, 4, false);
	CHECK(v == 0xffffffff);
}

TEST(pci_plug_assigns_bars_like_firmware_and_maps_them)
{
	uint32_t v;
	setup();
	REQUIRE(pci_bus_plug(&bus, &dev, NULL, PCI_DEVFN(3, 0)) == 0);
	CHECK(ecam_read(3, 0, 4) == 0x10411af4);
	CHECK(ecam_read(3, PCI_BAR0, 4) == PCI_MMIO_BASE);
	CHECK((ecam_read(3, PCI_BAR0 + 8, 4) & ~0xffu) == PCI_IO_BASE &&
	      (ecam_read(3, PCI_BAR0 + 8, 4) & 1));
	CHECK(ecam_read(3, PCI_COMMAND, 2) & PCI_CMD_MEM);
	bar_hits = 0;
	CHECK(iobus_dispatch(&io, IO_MMIO, PCI_MMIO_BASE + 0x24, &v, 4, false) == 0);
	CHECK(bar_hits == 1 && last_bar == 0 && last_off == 0x24 && v == 0x5a5a5a5a);
	CHECK(iobus_dispatch(&io, IO_PIO, PCI_IO_BASE + 4, &v, 2, true) == 0 && last_bar == 2);
	CHECK(pci_bus_plug(&bus, &dev, NULL, PCI_DEVFN(4, 0)) == -EINVAL); /* already plugged */
	static struct pci_dev other;
	pci_dev_init(&other, "other", 0x8086, 0x100e, 0x020000, 0, 0, 0);
	CHECK(pci_bus_plug(&bus, &other, NULL, PCI_DEVFN(3, 0)) == -EBUSY);
}

TEST(pci_bar_sizing_moving_and_decoding)
{
	uint32_t v;
	setup();
	REQUIRE(pci_bus_plug(&bus, &dev, NULL, PCI_DEVFN(3, 0)) == 0);
	ecam_write(3, PCI_BAR0, 0xffffffff, 4); /* sizing */
	CHECK(ecam_read(3, PCI_BAR0, 4) == 0xfffff000);
	CHECK(iobus_dispatch(&io, IO_MMIO, PCI_MMIO_BASE, &v, 4, false) == -ENOENT);
	ecam_write(3, PCI_BAR0, 0xc0100000, 4);
	CHECK(iobus_dispatch(&io, IO_MMIO, 0xc0100ffc, &v, 4, false) == 0);
	ecam_write(3, PCI_COMMAND, 0, 2); /* decoding off */
	CHECK(iobus_dispatch(&io, IO_MMIO, 0xc0100000, &v, 4, false) == -ENOENT);
	ecam_write(3, PCI_COMMAND, PCI_CMD_MEM, 2);
	CHECK(iobus_dispatch(&io, IO_MMIO, 0xc0100000, &v, 4, false) == 0);
	/* Over the ECAM window: refused and counted, the window keeps working. */
	ecam_write(3, PCI_BAR0, (uint32_t)PCI_ECAM_BASE, 4);
	CHECK(bus.bar_conflicts == 1);
	CHECK(ecam_read(0, 0, 4) == 0x00081b36);
	pci_bus_unplug(&bus, &dev);
	CHECK(ecam_read(3, 0, 4) == 0xffffffff);
}

TEST(pci_capability_chains_standard_and_extended)
{
	uint8_t vendor_cap[10] = {8, 1, 2, 3, 4, 5}, sriov[60] = {0}, aer[40] = {0};
	setup();
	int c1 = pci_dev_add_cap(&dev, 0x09, vendor_cap, 6);
	int c2 = pci_dev_add_cap(&dev, 0x11, vendor_cap, 10);
	int e1 = pci_dev_add_ext_cap(&dev, 0x0010, 1, sriov, sizeof(sriov));
	int e2 = pci_dev_add_ext_cap(&dev, 0x0001, 2, aer, sizeof(aer));
	REQUIRE(pci_bus_plug(&bus, &dev, NULL, PCI_DEVFN(4, 0)) == 0);
	CHECK(c1 == 0x40 && c2 == 0x48 && e1 == 0x100 && e2 == 0x140);
	CHECK(ecam_read(4, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	CHECK(ecam_read(4, PCI_CAP_PTR, 1) == 0x40);
	CHECK(ecam_read(4, 0x40, 2) == (0x48 << 8 | 0x09));
	CHECK(ecam_read(4, 0x48, 2) == 0x11); /* last: next 0 */
	CHECK(ecam_read(4, 0x100, 4) == (0x140u << 20 | 1u << 16 | 0x10));
	CHECK(ecam_read(4, 0x140, 4) == (2u << 16 | 0x01));
	uint8_t big[300] = {0};
	CHECK(pci_dev_add_cap(&dev, 0x09, big, 250) == -ENOSPC);
}

TEST(pci_read_only_and_write_one_to_clear_bits)
{
	setup();
	REQUIRE(pci_bus_plug(&bus, &dev, NULL, PCI_DEVFN(3, 0)) == 0);
	ecam_write(3, 0, 0xdeadbeef, 4);
	CHECK(ecam_read(3, 0, 4) == 0x10411af4);
	ecam_write(3, PCI_COMMAND, 0xffff, 2);
	CHECK(ecam_read(3, PCI_COMMAND, 2) ==
	      (PCI_CMD_IO | PCI_CMD_MEM | PCI_CMD_MASTER | PCI_CMD_INTX_DISABLE));
	dev.cfg[PCI_STATUS + 1] = 0x80; /* pretend a parity error was latched */
	ecam_write(3, PCI_STATUS, 0x8000, 2);
	CHECK(!(ecam_read(3, PCI_STATUS, 2) & 0x8000));
	ecam_write(3, PCI_CLASS_REV, 0, 4);
	CHECK(ecam_read(3, PCI_CLASS_REV, 4) >> 8 == 0x020000);
}

TEST(pci_bad_config_accesses_are_counted_and_read_all_ones)
{
	uint64_t wide = 0;
	setup();
	REQUIRE(pci_bus_plug(&bus, &dev, NULL, PCI_DEVFN(3, 0)) == 0);
	CHECK(ecam_read(3, 2, 4) == 0xffffffff); /* unaligned dword */
	CHECK(bus.bad_accesses == 1);
	iobus_dispatch(&io, IO_MMIO, PCI_ECAM_BASE + (3 << 15), &wide, 8, false);
	CHECK(wide == ~0ull && bus.bad_accesses == 2);
	uint8_t b = 0x12;
	CHECK(iobus_dispatch(&io, IO_PIO, 0xcf8, &b, 1, true) == -EINVAL);
	CHECK(bus.bad_accesses == 3);
	CHECK(ecam_read(3, 0xffc, 4) == 0);	 /* extended space is there, empty */
	CHECK(ecam_read(3, 0, 4) == 0x10411af4); /* and nothing was harmed */
}

TEST(pci_multi_function_devices_answer_per_function)
{
	static struct pci_dev f1;
	setup();
	REQUIRE(pci_bus_plug(&bus, &dev, NULL, PCI_DEVFN(5, 0)) == 0);
	CHECK(!(ecam_read(5, PCI_HEADER_TYPE, 1) & PCI_HEADER_MULTI));
	pci_dev_init(&f1, "fn1", 0x8086, 0x10ca, 0x020000, 1, 0, 0);
	REQUIRE(pci_bus_plug(&bus, &f1, NULL, PCI_DEVFN(5, 3)) == 0);
	CHECK(ecam_read(5, PCI_HEADER_TYPE, 1) & PCI_HEADER_MULTI); /* function 0 says so */
	uint32_t v = 0;
	iobus_dispatch(&io, IO_MMIO, PCI_ECAM_BASE + (5 << 15) + (3 << 12), &v, 4, false);
	CHECK(v == 0x10ca8086);
	pci_bus_unplug(&bus, &f1);
	CHECK(!(ecam_read(5, PCI_HEADER_TYPE, 1) & PCI_HEADER_MULTI));
	iobus_dispatch(&io, IO_MMIO, PCI_ECAM_BASE + (5 << 15) + (3 << 12), &v, 4, false);
	CHECK(v == 0xffffffff);
}

TEST(pci_bridges_give_buses_the_guest_numbers)
{
	static struct pci_dev br, below;
	setup();
	REQUIRE(pci_bridge_init(&br, "port", 0x1b36, 0x000c) == 0);
	REQUIRE(pci_bus_plug(&bus, &br, NULL, PCI_DEVFN(6, 0)) == 0);
	pci_dev_init(&below, "nic", 0x8086, 0x100e, 0x020000, 3, 0, 0);
	REQUIRE(pci_dev_add_bar(&below, 0, 0x20000, false) == 0);
	REQUIRE(pci_bus_plug(&bus, &below, &br, 0) == 0);
	CHECK((ecam_read(6, PCI_HEADER_TYPE, 1) & 0x7f) == 1 &&
	      ecam_read(6, PCI_CLASS_REV, 4) >> 8 == 0x060400);
	uint32_t v = 0;
	/* Unnumbered, the bus behind the bridge is nowhere. */
	iobus_dispatch(&io, IO_MMIO, PCI_ECAM_BASE + (2u << 20), &v, 4, false);
	CHECK(v == 0xffffffff && pci_dev_busnr(&below) == 0);
	ecam_write(6, PCI_PRIMARY_BUS, 0x020200, 4); /* primary 0, secondary 2, subordinate 2 */
	iobus_dispatch(&io, IO_MMIO, PCI_ECAM_BASE + (2u << 20), &v, 4, false);
	CHECK(v == 0x100e8086 && pci_dev_busnr(&below) == 2);
	CHECK(pci_bus_find(&bus, 2, 0) == &below && !pci_bus_find(&bus, 3, 0));
	/* The 0xCF8 mechanism reaches it too. */
	uint32_t addr = 0x80000000u | 2u << 16;
	iobus_dispatch(&io, IO_PIO, 0xcf8, &addr, 4, true);
	iobus_dispatch(&io, IO_PIO, 0xcfc, &v, 4, false);
	CHECK(v == 0x100e8086);
	/* Unplugging the bridge takes what is behind it along. */
	pci_bus_unplug(&bus, &br);
	CHECK(!below.bus && ecam_read(6, 0, 4) == 0xffffffff);
	pci_dev_exit(&br);
}

TEST(pci_bar_space_is_reclaimed_on_unplug)
{
	static struct pci_dev a, b, c;
	setup();
	pci_dev_init(&a, "a", 1, 1, 0, 0, 0, 0);
	pci_dev_init(&b, "b", 1, 2, 0, 0, 0, 0);
	pci_dev_init(&c, "c", 1, 3, 0, 0, 0, 0);
	REQUIRE(pci_dev_add_bar(&a, 0, 0x4000, false) == 0);
	REQUIRE(pci_dev_add_bar(&a, 1, 0x1000, false) == 0);
	REQUIRE(pci_dev_add_bar(&b, 0, 0x4000, false) == 0);
	REQUIRE(pci_dev_add_bar(&c, 0, 0x4000, false) == 0);
	REQUIRE(pci_bus_plug(&bus, &a, NULL, PCI_DEVFN(1, 0)) == 0);
	REQUIRE(pci_bus_plug(&bus, &b, NULL, PCI_DEVFN(2, 0)) == 0);
	uint32_t a0 = ecam_read(1, PCI_BAR0, 4), a1 = ecam_read(1, PCI_BAR0 + 4, 4);
	uint32_t b0 = ecam_read(2, PCI_BAR0, 4);
	CHECK(a0 == PCI_MMIO_BASE && a1 == PCI_MMIO_BASE + 0x4000 && b0 == PCI_MMIO_BASE + 0x8000);
	pci_bus_unplug(&bus, &a);
	uint32_t v;
	CHECK(iobus_dispatch(&io, IO_MMIO, a0, &v, 4, false) == -ENOENT);
	/* The next device gets the freed space, not new space. */
	REQUIRE(pci_bus_plug(&bus, &c, NULL, PCI_DEVFN(1, 0)) == 0);
	CHECK(ecam_read(1, PCI_BAR0, 4) == a0);
	/* Plug and unplug many times: the window never runs out. */
	for (int i = 0; i < 1000; i++) {
		pci_bus_unplug(&bus, &c);
		REQUIRE(pci_bus_plug(&bus, &c, NULL, PCI_DEVFN(1, 0)) == 0);
	}
	CHECK(ecam_read(1, PCI_BAR0, 4) == a0 && io.nr < 10);
}

TEST(pci_ram_backed_bars_follow_the_guest_and_never_call_the_device)
{
	static struct pci_dev d;
	static uint8_t page[8192] __attribute__((aligned(4096)));
	setup();
	pci_dev_init(&d, "vf", 0x8086, 0x10ca, 0x020000, 1, 0, 0);
	CHECK(pci_dev_add_ram_bar(&d, 0, 4096, page + 1) == -EINVAL); /* not page-aligned */
	CHECK(pci_dev_add_ram_bar(&d, 0, 16, page) == -EINVAL);	      /* smaller than a page */
	REQUIRE(pci_dev_add_ram_bar(&d, 0, 8192, page) == 0);
	d.bar_access = dev_bar;
	REQUIRE(pci_bus_plug(&bus, &d, NULL, PCI_DEVFN(7, 0)) == 0);
	uint32_t at = ecam_read(7, PCI_BAR0, 4), v = 0x12345678;
	bar_hits = 0;
	/* Without KVM there is no memory slot: the access reaches us and is served as memory. */
	CHECK(iobus_dispatch(&io, IO_MMIO, at + 0x100, &v, 4, true) == 0);
	CHECK(!memcmp(page + 0x100, &v, 4) && bar_hits == 0 && bus.ram_bar_exits == 1);
	ecam_write(7, PCI_BAR0, 0xc0400000, 4);
	v = 0;
	CHECK(iobus_dispatch(&io, IO_MMIO, 0xc0400100, &v, 4, false) == 0 && v == 0x12345678);
	CHECK(iobus_dispatch(&io, IO_MMIO, 0xc0401ffc + 8, &v, 4, false) == -ENOENT);
	CHECK(bus.memslots == 0 && d.bar[0].memslot == -1);
	pci_bus_unplug(&bus, &d);
}
