/* The PCIe root port's hot-plug slot: bus numbers, the slot registers (write 1 to clear, what is
 * read-only), the MSI edge rule, and hot-add and removal on the bus with the card's resources
 * released. */
#include <errno.h>
#include <string.h>

#include "tests/harness.h"
#include "vmm/pci/pcie_port.h"

static struct iobus io;
static struct pci_bus bus;
static struct pcie_port port;
static struct pci_dev card;

#define PORT_SLOT 4
#define PORT_BUS  1

static void setup(void)
{
	memset(&io, 0, sizeof(io));
	REQUIRE(pci_bus_init(&bus, &io, NULL) == 0);
	REQUIRE(pcie_port_init(&port, "port0", PORT_SLOT, PORT_BUS, NULL) == 0);
	REQUIRE(pci_bus_plug(&bus, &port.dev, NULL, PCI_DEVFN(PORT_SLOT, 0)) == 0);
	pci_dev_init(&card, "card", 0x8086, 0x100e, 0x020000, 0, 0, 0);
	REQUIRE(pci_dev_add_bar(&card, 0, 0x20000, false) == 0);
	REQUIRE(pci_dev_add_bar(&card, 1, 64, true) == 0);
}

static void teardown(void)
{
	pcie_port_unplug(&port, true);
	pci_bus_unplug(&bus, &port.dev);
	pcie_port_exit(&port);
}

static uint32_t rd(unsigned busnr, unsigned devfn, uint32_t off, uint32_t len)
{
	uint32_t v = 0;
	pci_cfg_read(&bus, busnr, devfn, off, &v, len);
	return v;
}

static void wr(unsigned busnr, unsigned devfn, uint32_t off, uint32_t v, uint32_t len)
{
	pci_cfg_write(&bus, busnr, devfn, off, &v, len);
}

#define PORT_DEVFN PCI_DEVFN(PORT_SLOT, 0)
#define EXP(off)   (port.exp + (off))
#define SLTSTA()   rd(0, PORT_DEVFN, EXP(PCI_EXP_SLTSTA), 2)

static void enable_msi(void)
{
	wr(0, PORT_DEVFN, port.msi + 4, 0xfee00000u, 4);
	wr(0, PORT_DEVFN, port.msi + 8, 0x35, 2);
	wr(0, PORT_DEVFN, port.msi + 2, 1, 2);
}

TEST(root_port_is_a_bridge_with_a_hotplug_slot_and_its_bus_numbers)
{
	setup();
	CHECK(rd(0, PORT_DEVFN, PCI_HEADER_TYPE, 1) == 1);
	CHECK(rd(0, PORT_DEVFN, PCI_CLASS_REV, 4) >> 8 == 0x060400);
	CHECK(rd(0, PORT_DEVFN, PCI_SECONDARY_BUS, 1) == PORT_BUS);
	CHECK(rd(0, PORT_DEVFN, PCI_SUBORDINATE_BUS, 1) == PORT_BUS);
	uint32_t flags = rd(0, PORT_DEVFN, EXP(PCI_EXP_FLAGS), 2);
	CHECK((flags >> 4 & 0xf) == 4); /* root port */
	CHECK(flags & PCI_EXP_FLAGS_SLOT);
	uint32_t sltcap = rd(0, PORT_DEVFN, EXP(PCI_EXP_SLTCAP), 4);
	CHECK(sltcap & PCI_EXP_SLTCAP_HPC);
	CHECK(sltcap & PCI_EXP_SLTCAP_HPS);
	CHECK(sltcap & PCI_EXP_SLTCAP_NCCS);
	CHECK(sltcap >> 19 == PORT_SLOT);
	CHECK(rd(0, PORT_DEVFN, EXP(PCI_EXP_LNKCAP), 4) & PCI_EXP_LNKCAP_DLLLARC);
	/* Empty: no presence, no link, nothing behind it. */
	CHECK(!(SLTSTA() & PCI_EXP_SLTSTA_PDS));
	CHECK(!(rd(0, PORT_DEVFN, EXP(PCI_EXP_LNKSTA), 2) & PCI_EXP_LNKSTA_DLLLA));
	CHECK(rd(PORT_BUS, 0, 0, 4) == 0xffffffff);
	/* The guest may renumber the bus; the card then answers there. */
	wr(0, PORT_DEVFN, PCI_SECONDARY_BUS, 3, 1);
	wr(0, PORT_DEVFN, PCI_SUBORDINATE_BUS, 3, 1);
	REQUIRE(pcie_port_plug(&port, &card, false) == 0);
	CHECK(rd(3, 0, 0, 4) == 0x100e8086);
	CHECK(rd(PORT_BUS, 0, 0, 4) == 0xffffffff);
	teardown();
}

TEST(root_port_hot_add_sets_presence_and_link_and_raises_the_events)
{
	setup();
	REQUIRE(pcie_port_plug(&port, &card, true) == 0);
	uint32_t sta = SLTSTA();
	CHECK(sta & PCI_EXP_SLTSTA_PDS);
	CHECK(sta & PCI_EXP_SLTSTA_PDC);
	CHECK(sta & PCI_EXP_SLTSTA_DLLSC);
	CHECK(rd(0, PORT_DEVFN, EXP(PCI_EXP_LNKSTA), 2) & PCI_EXP_LNKSTA_DLLLA);
	CHECK(rd(PORT_BUS, 0, 0, 4) == 0x100e8086);
	CHECK(port.events == 1);
	/* Only one card per slot. */
	struct pci_dev other;
	pci_dev_init(&other, "other", 1, 2, 0x020000, 0, 0, 0);
	CHECK(pcie_port_plug(&port, &other, true) < 0);
	/* A cold plug (present at power-on) raises nothing. */
	pcie_port_unplug(&port, true);
	wr(0, PORT_DEVFN, EXP(PCI_EXP_SLTSTA), 0xffff, 2);
	REQUIRE(pcie_port_plug(&port, &card, false) == 0);
	CHECK((SLTSTA() & (PCI_EXP_SLTSTA_PDC | PCI_EXP_SLTSTA_DLLSC)) == 0);
	CHECK(SLTSTA() & PCI_EXP_SLTSTA_PDS);
	teardown();
}

TEST(root_port_slot_status_events_clear_on_write_1_and_presence_is_read_only)
{
	setup();
	REQUIRE(pcie_port_plug(&port, &card, true) == 0);
	/* Writing 0 clears nothing; writing 1 to PDS changes nothing. */
	wr(0, PORT_DEVFN, EXP(PCI_EXP_SLTSTA), 0, 2);
	CHECK((SLTSTA() & (PCI_EXP_SLTSTA_PDC | PCI_EXP_SLTSTA_DLLSC)) ==
	      (PCI_EXP_SLTSTA_PDC | PCI_EXP_SLTSTA_DLLSC));
	wr(0, PORT_DEVFN, EXP(PCI_EXP_SLTSTA), PCI_EXP_SLTSTA_PDC, 2);
	CHECK(!(SLTSTA() & PCI_EXP_SLTSTA_PDC));
	CHECK(SLTSTA() & PCI_EXP_SLTSTA_DLLSC);
	wr(0, PORT_DEVFN, EXP(PCI_EXP_SLTSTA), PCI_EXP_SLTSTA_DLLSC | PCI_EXP_SLTSTA_PDS, 2);
	CHECK(SLTSTA() == PCI_EXP_SLTSTA_PDS);
	/* Slot Control keeps what the guest wrote; Slot Capabilities does not move. */
	uint32_t cap = rd(0, PORT_DEVFN, EXP(PCI_EXP_SLTCAP), 4);
	wr(0, PORT_DEVFN, EXP(PCI_EXP_SLTCAP), 0, 4);
	CHECK(rd(0, PORT_DEVFN, EXP(PCI_EXP_SLTCAP), 4) == cap);
	wr(0, PORT_DEVFN, EXP(PCI_EXP_SLTCTL), PCI_EXP_SLTCTL_HPIE | PCI_EXP_SLTCTL_PDCE, 2);
	CHECK(rd(0, PORT_DEVFN, EXP(PCI_EXP_SLTCTL), 2) ==
	      (PCI_EXP_SLTCTL_HPIE | PCI_EXP_SLTCTL_PDCE));
	teardown();
}

TEST(root_port_sends_its_msi_on_the_rising_edge_only)
{
	setup();
	/* An event with the interrupt off: no message, and none when only the event bit is on. */
	REQUIRE(pcie_port_plug(&port, &card, true) == 0);
	enable_msi();
	CHECK(port.interrupts == 0);
	wr(0, PORT_DEVFN, EXP(PCI_EXP_SLTCTL), PCI_EXP_SLTCTL_PDCE | PCI_EXP_SLTCTL_DLLSCE, 2);
	CHECK(port.interrupts == 0);
	/* HPIE with events pending: the condition rises, one message. */
	wr(0, PORT_DEVFN, EXP(PCI_EXP_SLTCTL),
	   PCI_EXP_SLTCTL_HPIE | PCI_EXP_SLTCTL_PDCE | PCI_EXP_SLTCTL_DLLSCE, 2);
	CHECK(port.interrupts == 1);
	/* Clearing one of two pending events keeps it high: no new message. */
	wr(0, PORT_DEVFN, EXP(PCI_EXP_SLTSTA), PCI_EXP_SLTSTA_PDC, 2);
	CHECK(port.interrupts == 1);
	CHECK(pcie_port_condition(&port));
	/* A removal while DLLSC is still pending: still high, still one. */
	pcie_port_unplug(&port, true);
	CHECK(port.interrupts == 1);
	/* The guest clears everything: low. The next event is a new edge. */
	wr(0, PORT_DEVFN, EXP(PCI_EXP_SLTSTA), 0xffff, 2);
	CHECK(!pcie_port_condition(&port));
	REQUIRE(pcie_port_plug(&port, &card, true) == 0);
	CHECK(port.interrupts == 2);
	/* Events the guest did not enable raise nothing. */
	wr(0, PORT_DEVFN, EXP(PCI_EXP_SLTSTA), 0xffff, 2);
	wr(0, PORT_DEVFN, EXP(PCI_EXP_SLTCTL), PCI_EXP_SLTCTL_HPIE | PCI_EXP_SLTCTL_ABPE, 2);
	pcie_port_unplug(&port, true);
	CHECK(port.interrupts == 2);
	CHECK(!pcie_port_condition(&port));
	teardown();
}

TEST(root_port_removal_releases_the_cards_bus_slot_and_bar_space)
{
	setup();
	REQUIRE(pcie_port_plug(&port, &card, true) == 0);
	uint32_t bar0 = rd(PORT_BUS, 0, PCI_BAR0, 4) & ~0xfu;
	REQUIRE(bar0 != 0);
	CHECK(card.bar[0].mapped_at == bar0);
	pcie_port_unplug(&port, true);
	uint32_t sta = SLTSTA();
	CHECK(!(sta & PCI_EXP_SLTSTA_PDS));
	CHECK(sta & PCI_EXP_SLTSTA_PDC);
	CHECK(sta & PCI_EXP_SLTSTA_DLLSC);
	CHECK(!(rd(0, PORT_DEVFN, EXP(PCI_EXP_LNKSTA), 2) & PCI_EXP_LNKSTA_DLLLA));
	CHECK(port.events == 2);
	/* Gone from config space and from the I/O bus. */
	CHECK(rd(PORT_BUS, 0, 0, 4) == 0xffffffff);
	CHECK(card.bus == NULL);
	CHECK(card.bar[0].mapped_at == 0 && card.bar[1].mapped_at == 0);
	uint32_t v = 0;
	CHECK(iobus_dispatch(&io, IO_MMIO, bar0, &v, 4, false) == -ENOENT);
	/* Its space is there for the next card, which lands where it was. */
	struct pci_dev next;
	pci_dev_init(&next, "next", 0x1af4, 0x1041, 0x020000, 1, 0, 0);
	REQUIRE(pci_dev_add_bar(&next, 0, 0x20000, false) == 0);
	REQUIRE(pcie_port_plug(&port, &next, true) == 0);
	CHECK((rd(PORT_BUS, 0, PCI_BAR0, 4) & ~0xfu) == bar0);
	CHECK(rd(PORT_BUS, 0, 0, 4) == 0x10411af4);
	teardown();
}
