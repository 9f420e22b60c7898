/* The SR-IOV capability and the vmscope SR-IOV NIC without KVM: NumVFs and VF Enable as PCIe
 * 9.3.3 gives them, routing IDs for several offsets and strides, VF BARs inside the PF's windows
 * and their moves, the VF's register layout, and the engine facing hostile doorbells, rings and
 * descriptors (guest memory has guard pages on both sides: a stray access faults). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tests/devenv.h"
#include "tests/guarded.h"
#include "tests/harness.h"
#include "vmm/net/link.h"
#include "vmm/net/net.h"
#include "vmm/vsnic/vsnic.h"

#define MEM	(1u << 20)
#define FLOOR	0x4000
#define TXR	0x10000
#define RXR	0x11000
#define TXB	0x20000
#define RXB	0x40000
#define PF_SLOT 3

static uint8_t *region, *ram; /* region: the guarded mapping */
static struct guest_mem mem;
static struct irq_router irq;
static struct net netside;
static struct iobus io;
static struct pci_bus bus;
static struct vsnic *c;

static void setup(void)
{
	mem = guarded_mem(&region, MEM, FLOOR);
	ram = mem.base;
	const struct nic_env env = dev_env(&mem, &irq, &netside);
	memset(&io, 0, sizeof(io));
	REQUIRE(pci_bus_init(&bus, &io, NULL) == 0);
	c = calloc(1, sizeof(*c));
	c->nic = (struct nic){&nic_model_vf, &c->pf};
	REQUIRE(vsnic_init(c, &env) == 0);
	REQUIRE(vsnic_start(c) == 0);
	REQUIRE(pci_bus_plug(&bus, &c->pf, NULL, PCI_DEVFN(PF_SLOT, 0)) == 0);
}

static void teardown(void)
{
	pci_bus_unplug(&bus, &c->pf);
	vsnic_exit(c);
	free(c);
	irq_router_exit(&irq);
}

static uint32_t cfg_rd(unsigned devfn, uint32_t off, uint32_t len)
{
	uint32_t v = 0;
	iobus_dispatch(&io, IO_MMIO, PCI_ECAM_BASE + ((uint64_t)devfn << 12) + off, &v, len, false);
	return v;
}

static void cfg_wr(unsigned devfn, uint32_t off, uint32_t v, uint32_t len)
{
	iobus_dispatch(&io, IO_MMIO, PCI_ECAM_BASE + ((uint64_t)devfn << 12) + off, &v, len, true);
}

static uint32_t sriov(void)
{
	return (uint32_t)c->sriov.cap;
}
static const unsigned pf = PCI_DEVFN(PF_SLOT, 0);

static void enable_vfs(unsigned n)
{
	cfg_wr(pf, sriov() + PCI_SRIOV_NUM_VF, n, 2);
	cfg_wr(pf, sriov() + PCI_SRIOV_CTRL, PCI_SRIOV_CTRL_VFE | PCI_SRIOV_CTRL_MSE, 2);
}

static uint32_t vf_rd(unsigned n, uint32_t off)
{
	uint32_t v = 0;
	vsnic_vf_mmio(&c->vf[n], off, &v, 4, false);
	return v;
}
static void vf_wr(unsigned n, uint32_t off, uint32_t v)
{
	vsnic_vf_mmio(&c->vf[n], off, &v, 4, true);
}
static void db_wr(unsigned n, uint32_t off, uint32_t v)
{
	memcpy(c->vf[n].db + off, &v, 4);
}
static uint32_t db_rd(unsigned n, uint32_t off)
{
	uint32_t v;
	memcpy(&v, c->vf[n].db + off, 4);
	return v;
}

/* The card's totals as its readout gives them: its own and every VF's. */
static struct nic_stats tot(void)
{
	static struct nic_readout ro;
	memset(&ro, 0, sizeof(ro));
	nic_model_vf.read(&c->nic, &ro);
	return ro.total;
}

TEST(sriov_capability_numvfs_bounds_and_read_only_while_enabled)
{
	setup();
	uint32_t cap = sriov();
	CHECK(cap >= PCI_EXT_CAP_START && (cfg_rd(pf, cap, 4) & 0xffff) == PCI_EXT_CAP_SRIOV);
	CHECK(cfg_rd(pf, cap + PCI_SRIOV_TOTAL_VF, 2) == VSNIC_TOTAL_VFS);
	CHECK(cfg_rd(pf, cap + PCI_SRIOV_INITIAL_VF, 2) == VSNIC_TOTAL_VFS);
	CHECK(cfg_rd(pf, cap + PCI_SRIOV_VF_OFFSET, 2) != 0 &&
	      cfg_rd(pf, cap + PCI_SRIOV_VF_STRIDE, 2) != 0);
	CHECK(cfg_rd(pf, cap + PCI_SRIOV_VF_DID, 2) == VSNIC_VF_DEVICE);
	CHECK(cfg_rd(pf, cap + PCI_SRIOV_SUP_PGSIZE, 4) == 1 &&
	      cfg_rd(pf, cap + PCI_SRIOV_SYS_PGSIZE, 4) == 1);
	/* Above TotalVFs: refused, the old value stays. */
	cfg_wr(pf, cap + PCI_SRIOV_NUM_VF, VSNIC_TOTAL_VFS + 1, 2);
	CHECK(cfg_rd(pf, cap + PCI_SRIOV_NUM_VF, 2) == 0 && c->sriov.refused == 1);
	cfg_wr(pf, cap + PCI_SRIOV_NUM_VF, 2, 2);
	CHECK(cfg_rd(pf, cap + PCI_SRIOV_NUM_VF, 2) == 2);
	/* Only 4 KiB pages. */
	cfg_wr(pf, cap + PCI_SRIOV_SYS_PGSIZE, 2, 4);
	CHECK(cfg_rd(pf, cap + PCI_SRIOV_SYS_PGSIZE, 4) == 1 && c->sriov.refused == 2);
	cfg_wr(pf, cap + PCI_SRIOV_CTRL, PCI_SRIOV_CTRL_VFE, 2);
	/* Read-only while VF Enable is set. */
	cfg_wr(pf, cap + PCI_SRIOV_NUM_VF, 1, 2);
	CHECK(cfg_rd(pf, cap + PCI_SRIOV_NUM_VF, 2) == 2 && c->sriov.refused == 3);
	cfg_wr(pf, cap + PCI_SRIOV_CTRL, 0, 2);
	cfg_wr(pf, cap + PCI_SRIOV_NUM_VF, 1, 2);
	CHECK(cfg_rd(pf, cap + PCI_SRIOV_NUM_VF, 2) == 1);
	teardown();
}

TEST(sriov_vfs_appear_at_their_routing_ids_and_go_with_vf_enable)
{
	setup();
	enable_vfs(3);
	for (unsigned n = 0; n < 3; n++) {
		unsigned devfn = pf + VSNIC_VF_OFFSET + VSNIC_VF_STRIDE * n;
		CHECKF(pci_bus_find(&bus, 0, devfn) == &c->vf[n].pci, "VF %u at devfn %#x", n,
		       devfn);
		/* A VF's IDs read all ones (9.3.4.1.1-2); it has capabilities (MSI-X, PCIe). */
		CHECK(cfg_rd(devfn, 0, 4) == 0xffffffffu);
		CHECK(cfg_rd(devfn, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
		CHECK(cfg_rd(devfn, PCI_BAR0, 4) == 0); /* BARs live in the PF's capability */
		CHECK(c->vf[n].present);
	}
	CHECK(pci_bus_find(&bus, 0, pf + VSNIC_VF_OFFSET + 3 * VSNIC_VF_STRIDE) == NULL);
	/* VFs are not scanned for: the PF's header does not claim more functions. */
	CHECK(!(cfg_rd(pf, PCI_HEADER_TYPE, 1) & PCI_HEADER_MULTI));
	cfg_wr(pf, sriov() + PCI_SRIOV_CTRL, 0, 2);
	for (unsigned n = 0; n < 3; n++) {
		CHECK(pci_bus_find(&bus, 0, pf + VSNIC_VF_OFFSET + n) == NULL);
		CHECK(cfg_rd(pf + VSNIC_VF_OFFSET + n, 0, 4) == 0xffffffffu && !c->vf[n].present);
	}
	/* Again: the VFs come back (their GSIs and BAR space were given back). */
	enable_vfs(VSNIC_TOTAL_VFS);
	for (unsigned n = 0; n < VSNIC_TOTAL_VFS; n++)
		CHECK(c->vf[n].present && c->vf[n].pci.bus == &bus);
	teardown();
}

static struct pci_dev test_pf, test_vfs[PCI_SRIOV_MAX_VFS];

static int test_vf_create(void *opaque, unsigned n, struct pci_dev **out)
{
	pci_vf_init(&test_vfs[n], "vf", 0x020000);
	if (pci_dev_add_bar(&test_vfs[n], 0, 0x1000, false))
		return -1;
	*out = &test_vfs[n];
	return 0;
}

static void test_vf_destroy(void *opaque, unsigned n)
{
	pci_dev_exit(&test_vfs[n]);
}

static const struct pci_sriov_ops test_ops = {.vf_create = test_vf_create,
					      .vf_destroy = test_vf_destroy};

TEST(sriov_routing_id_arithmetic_for_several_offsets_and_strides)
{
	/* VF n (0-based) = PF + offset + stride * n, carrying into the bus number. */
	CHECK(pci_sriov_rid(0, 0x18, 1, 1, 0) == 0x19);
	CHECK(pci_sriov_rid(0, 0x18, 1, 1, 3) == 0x1c);
	CHECK(pci_sriov_rid(0, 0x00, 0x80, 2, 0) == 0x80); /* the 82576's offset and stride */
	CHECK(pci_sriov_rid(0, 0x00, 0x80, 2, 7) == 0x8e);
	CHECK(pci_sriov_rid(2, 0x01, 0x7f, 2, 1) == 0x282);
	CHECK(pci_sriov_rid(0, 0xf8, 4, 4, 2) == 0x104); /* past devfn 255: the next bus */
	CHECK(pci_sriov_rid(0xff, 0xff, 1, 1, 0) == -1);
	/* On a bus: a PF at 00:00.0 with offset 0x80, stride 2 puts its VFs at 0x80, 0x82, ...;
	 * routing IDs on another bus have nowhere to sit here and are counted. */
	static const struct {
		uint16_t offset, stride;
		unsigned pf_devfn, num, placed;
	} cases[] = {{0x80, 2, PCI_DEVFN(4, 0), 4, 4},
		     {8, 8, PCI_DEVFN(5, 0), 4, 4},
		     {1, 1, PCI_DEVFN(6, 0), 4, 4},
		     {0x20, 0x40, PCI_DEVFN(0x1c, 0), 4, 0}};
	for (unsigned k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		setup();
		struct pci_sriov s2;
		const uint64_t bars[6] = {[0] = 0x1000};
		pci_dev_init(&test_pf, "pf", 0x7673, 1, 0x020000, 0, 0, 0);
		REQUIRE(pci_sriov_init(&s2, &test_pf, cases[k].num, cases[k].offset,
				       cases[k].stride, 2, bars, &test_ops, NULL) == 0);
		REQUIRE(pci_bus_plug(&bus, &test_pf, NULL, cases[k].pf_devfn) == 0);
		pci_cfg_write(&bus, 0, cases[k].pf_devfn, (uint32_t)s2.cap + PCI_SRIOV_NUM_VF,
			      &(uint16_t){(uint16_t)cases[k].num}, 2);
		pci_sriov_cfg_written(&s2, (uint32_t)s2.cap + PCI_SRIOV_NUM_VF, 2);
		uint16_t ctl = PCI_SRIOV_CTRL_VFE | PCI_SRIOV_CTRL_MSE;
		pci_cfg_write(&bus, 0, cases[k].pf_devfn, (uint32_t)s2.cap + PCI_SRIOV_CTRL, &ctl,
			      2);
		pci_sriov_cfg_written(&s2, (uint32_t)s2.cap + PCI_SRIOV_CTRL, 2);
		unsigned placed = 0;
		for (unsigned n = 0; n < cases[k].num; n++) {
			int rid = pci_sriov_rid(0, cases[k].pf_devfn, cases[k].offset,
						cases[k].stride, n);
			if (rid >= 0 && rid < 256 &&
			    pci_bus_find(&bus, 0, (unsigned)rid) == &test_vfs[n])
				placed++;
		}
		CHECKF(placed == cases[k].placed, "case %u: %u VFs placed", k, placed);
		CHECK(s2.vf_errors == cases[k].num - cases[k].placed);
		pci_sriov_disable(&s2);
		pci_bus_unplug(&bus, &test_pf);
		teardown();
	}
}

TEST(sriov_vf_bars_sit_in_the_pf_windows_and_move_with_them)
{
	setup();
	uint32_t cap = sriov();
	uint32_t w0 = cfg_rd(pf, cap + PCI_SRIOV_BAR, 4),
		 w2 = cfg_rd(pf, cap + PCI_SRIOV_BAR + 8, 4);
	CHECK(w0 && w2); /* firmware assigned both windows */
	/* A VF BAR sizes as one VF's BAR. */
	cfg_wr(pf, cap + PCI_SRIOV_BAR, 0xffffffff, 4);
	CHECK(cfg_rd(pf, cap + PCI_SRIOV_BAR, 4) == (uint32_t) ~(VSNIC_DB_SIZE - 1));
	cfg_wr(pf, cap + PCI_SRIOV_BAR, w0, 4);
	/* The windows span TotalVFs copies and overlap nothing the PF decodes. */
	uint32_t b0 = cfg_rd(pf, PCI_BAR0, 4) & ~0xfu;
	CHECK(b0 + VSNIC_PF_BAR_SIZE <= w0 || w0 + VSNIC_TOTAL_VFS * VSNIC_DB_SIZE <= b0);
	enable_vfs(VSNIC_TOTAL_VFS);
	for (unsigned n = 0; n < VSNIC_TOTAL_VFS; n++) {
		CHECK(c->vf[n].pci.bar[0].mapped_at == w0 + n * VSNIC_DB_SIZE);
		CHECK(c->vf[n].pci.bar[2].mapped_at == w2 + n * VSNIC_VF_BAR2_SIZE);
	}
	/* VF MSE off: nothing decodes; on: back. */
	cfg_wr(pf, cap + PCI_SRIOV_CTRL, PCI_SRIOV_CTRL_VFE, 2);
	CHECK(c->vf[1].pci.bar[0].mapped_at == 0 && c->vf[1].pci.bar[2].mapped_at == 0);
	cfg_wr(pf, cap + PCI_SRIOV_CTRL, PCI_SRIOV_CTRL_VFE | PCI_SRIOV_CTRL_MSE, 2);
	CHECK(c->vf[1].pci.bar[2].mapped_at == w2 + VSNIC_VF_BAR2_SIZE);
	/* The guest moves a window: every VF's BAR follows, and MMIO reaches the VF there. */
	uint32_t moved = 0xd0000000u;
	cfg_wr(pf, cap + PCI_SRIOV_BAR + 8, moved, 4);
	CHECK(c->vf[3].pci.bar[2].mapped_at == moved + 3 * VSNIC_VF_BAR2_SIZE);
	uint32_t v = 0;
	iobus_dispatch(&io, IO_MMIO, moved + 2 * VSNIC_VF_BAR2_SIZE + VSNIC_VF_STATUS, &v, 4,
		       false);
	CHECK(v & VSNIC_STATUS_LINK_UP);
	/* Without KVM the doorbell page is served as memory and counted as an exit that happened.
	 */
	uint32_t tail = 5;
	iobus_dispatch(&io, IO_MMIO, w0 + VSNIC_DB_TX_TAIL, &tail, 4, true);
	CHECK(db_rd(0, VSNIC_DB_TX_TAIL) == 5 && bus.ram_bar_exits == 1);
	struct nic_readout ro;
	nic_read(&c->nic, &ro);
	CHECK(ro.nr_regs == VSNIC_TRAPS && ro.regs[VSNIC_TRAP_DOORBELL].value == 1);
	teardown();
}

/* Rings as the guest driver sets them: 8 tx and 8 rx descriptors, 2 KiB buffers. */
static void rings_up(unsigned n)
{
	vf_wr(n, VSNIC_VF_TX_BASE_LO, TXR);
	vf_wr(n, VSNIC_VF_TX_BASE_HI, 0);
	vf_wr(n, VSNIC_VF_TX_SIZE, 8);
	vf_wr(n, VSNIC_VF_RX_BASE_LO, RXR);
	vf_wr(n, VSNIC_VF_RX_BASE_HI, 0);
	vf_wr(n, VSNIC_VF_RX_SIZE, 8);
	for (unsigned i = 0; i < 8; i++) {
		uint64_t a = RXB + 2048ull * i;
		memcpy(ram + RXR + 16 * i, &a, 8);
		memcpy(ram + RXR + 16 * i + 8, &(uint16_t){2048}, 2);
	}
	vf_wr(n, VSNIC_VF_CTRL, VSNIC_CTRL_ENABLE);
}

static void tx_desc(unsigned i, uint64_t addr, uint16_t len)
{
	uint8_t *d = ram + TXR + 16 * (i % 8);
	memset(d, 0, 16);
	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 2);
}

static uint16_t desc_flags(uint32_t ring, unsigned i)
{
	uint16_t f;
	memcpy(&f, ram + ring + 16 * (i % 8) + 10, 2);
	return f;
}

static uint32_t frame(uint8_t *f, const uint8_t *dst)
{
	memset(f, 0, 60);
	memcpy(f, dst, 6);
	memcpy(f + 6, "\x02\x00\x00\x00\x00\x01", 6);
	f[12] = 0x08, f[13] = 0x00;
	return 60;
}

TEST(sriov_vf_register_layout_and_setup)
{
	setup();
	enable_vfs(2);
	/* The MAC the PF gave: VF 0 the guest's, VF 1 the next; the PF may change it. */
	CHECK(vf_rd(0, VSNIC_VF_MAC_LO) == 0x12005452u && vf_rd(0, VSNIC_VF_MAC_HI) == 0x5634);
	CHECK(vf_rd(1, VSNIC_VF_MAC_HI) == 0x5734);
	uint32_t v = 0x9934;
	vsnic_pf_mmio(c, VSNIC_PF_VF_MAC_HI(1), &v, 4, true);
	CHECK(vf_rd(1, VSNIC_VF_MAC_HI) == 0x9934);
	v = 0;
	vsnic_pf_mmio(c, VSNIC_PF_ID, &v, 4, false);
	CHECK(v == VSNIC_PF_ID_VALUE);
	/* STATUS and the MAC are read-only; unknown offsets are counted. */
	uint64_t bad = tot().reg_bad;
	vf_wr(0, VSNIC_VF_STATUS, 0xffffffff);
	vf_wr(0, VSNIC_VF_MAC_LO, 0);
	vf_wr(0, 0x100, 1);
	CHECK(tot().reg_bad == bad + 3 && vf_rd(0, VSNIC_VF_MAC_LO) == 0x12005452u);
	/* Bad setups are refused: a size that is no power of two, a ring outside memory or in the
	 * VMM's pages below the DMA floor. */
	static const struct {
		uint32_t base, size;
	} bad_setup[] = {{TXR, 12}, {TXR, 4}, {TXR, 8192}, {MEM - 64, 8}, {0x1000, 8}};
	for (unsigned i = 0; i < sizeof(bad_setup) / sizeof(bad_setup[0]); i++) {
		vf_wr(0, VSNIC_VF_CTRL, 0);
		rings_up(0);
		vf_wr(0, VSNIC_VF_CTRL, 0);
		vf_wr(0, VSNIC_VF_TX_BASE_LO, bad_setup[i].base);
		vf_wr(0, VSNIC_VF_TX_SIZE, bad_setup[i].size);
		vf_wr(0, VSNIC_VF_CTRL, VSNIC_CTRL_ENABLE);
		CHECKF(vf_rd(0, VSNIC_VF_STATUS) & VSNIC_STATUS_SETUP_BAD, "setup %u", i);
		CHECK(!c->vf[0].ready);
	}
	vf_wr(0, VSNIC_VF_CTRL, 0);
	rings_up(0);
	CHECK(vf_rd(0, VSNIC_VF_STATUS) == (VSNIC_STATUS_READY | VSNIC_STATUS_LINK_UP));
	/* The trapping accesses are counted by where they went. */
	CHECK(c->traps[VSNIC_TRAP_VF_SETUP] > 0 && c->traps[VSNIC_TRAP_VF_CTRL] > 0);
	teardown();
}

TEST(sriov_engine_moves_frames_and_writes_completions)
{
	setup();
	enable_vfs(1);
	rings_up(0);
	struct link_counters lc0, lc1;
	loopback_read_counters(netside.be, &lc0);
	uint8_t f[64];
	for (unsigned i = 0; i < 3; i++) {
		frame(ram + TXB + 2048 * i, (const uint8_t *)"\xff\xff\xff\xff\xff\xff");
		tx_desc(i, TXB + 2048 * i, 60);
	}
	db_wr(0, VSNIC_DB_TX_TAIL, 3);
	CHECK(vsnic_engine(c));
	netside.be->ops->poll(netside.be, false, 0);
	loopback_read_counters(netside.be, &lc1);
	CHECK(tot().tx_packets == 3 && db_rd(0, VSNIC_DB_TX_HEAD) == 3);
	CHECK(desc_flags(TXR, 0) == VSNIC_DESC_DONE && desc_flags(TXR, 2) == VSNIC_DESC_DONE);
	CHECK(!vsnic_engine(c)); /* nothing new */
	/* rx: the guest posted 4 buffers; a unicast to VF 0's MAC lands in the first. */
	db_wr(0, VSNIC_DB_RX_TAIL, 4);
	uint32_t len = frame(f, (const uint8_t *)"\x52\x54\x00\x12\x34\x56");
	vsnic_rx(c, f, len);
	CHECK(tot().rx_packets == 1 && db_rd(0, VSNIC_DB_RX_HEAD) == 1);
	CHECK(desc_flags(RXR, 0) == VSNIC_DESC_DONE && !memcmp(ram + RXB, f, len));
	/* Another MAC: the card's switch filters it. */
	vsnic_rx(c, (uint8_t *)memcpy(f, "\x52\x54\x00\x12\x34\x99", 6), len);
	CHECK(tot().rx_filtered == 1);
	/* No buffer left: counted, nothing written. */
	for (unsigned i = 0; i < 4; i++)
		vsnic_rx(c, (uint8_t *)memcpy(f, "\xff\xff\xff\xff\xff\xff", 6), len);
	CHECK(tot().rx_packets == 4 && tot().rx_no_buffer == 1);
	/* IRQ_ARM: the card clears it when it interrupts (MSI-X off here: not counted sent). */
	db_wr(0, VSNIC_DB_RX_TAIL, 8);
	db_wr(0, VSNIC_DB_IRQ_ARM, 1);
	vsnic_rx(c, f, len);
	CHECK(db_rd(0, VSNIC_DB_IRQ_ARM) == 0);
	/* Disabling stops the engine serving the VF. */
	vf_wr(0, VSNIC_VF_CTRL, 0);
	vsnic_rx(c, f, len);
	CHECK(tot().rx_packets == 5 && tot().rx_filtered == 2);
	teardown();
}

/* TX_IRQ_AT: a driver waiting for room asks to be woken once the card's tx head reaches a
 * count (half its ring back), as virtio's used_event; completions before it leave IRQ_ARM set
 * (no interrupt), the one that reaches it clears it. rx completions do not look at it. */
TEST(sriov_tx_interrupt_waits_for_the_head_the_driver_asked_for)
{
	setup();
	enable_vfs(1);
	rings_up(0);
	for (unsigned i = 0; i < 8; i++)
		frame(ram + TXB + 2048 * i, (const uint8_t *)"\xff\xff\xff\xff\xff\xff");
	for (unsigned i = 0; i < 3; i++)
		tx_desc(i, TXB + 2048 * i, 60);
	db_wr(0, VSNIC_DB_TX_IRQ_AT, 6);
	db_wr(0, VSNIC_DB_IRQ_ARM, 1);
	db_wr(0, VSNIC_DB_TX_TAIL, 3);
	CHECK(vsnic_engine(c) == 3);
	CHECK(db_rd(0, VSNIC_DB_TX_HEAD) == 3 && db_rd(0, VSNIC_DB_IRQ_ARM) == 1);
	for (unsigned i = 3; i < 6; i++)
		tx_desc(i, TXB + 2048 * i, 60);
	db_wr(0, VSNIC_DB_TX_TAIL, 6);
	CHECK(vsnic_engine(c) == 3);
	CHECK(db_rd(0, VSNIC_DB_TX_HEAD) == 6 && db_rd(0, VSNIC_DB_IRQ_ARM) == 0);
	/* A count far ahead holds tx completions back, not rx ones. */
	db_wr(0, VSNIC_DB_TX_IRQ_AT, 100);
	db_wr(0, VSNIC_DB_IRQ_ARM, 1);
	tx_desc(6, TXB + 2048 * 6, 60);
	db_wr(0, VSNIC_DB_TX_TAIL, 7);
	CHECK(vsnic_engine(c) == 1 && db_rd(0, VSNIC_DB_IRQ_ARM) == 1);
	uint8_t f[64];
	db_wr(0, VSNIC_DB_RX_TAIL, 4);
	vsnic_rx(c, f, frame(f, (const uint8_t *)"\x52\x54\x00\x12\x34\x56"));
	CHECK(tot().rx_packets == 1 && db_rd(0, VSNIC_DB_IRQ_ARM) == 0);
	teardown();
}

TEST(sriov_hostile_doorbells_rings_and_descriptors_are_counted_and_dropped)
{
	setup();
	enable_vfs(1);
	rings_up(0);
	/* A tail more than a ring ahead: ignored, counted once however long it stays. */
	db_wr(0, VSNIC_DB_TX_TAIL, 9);
	for (int i = 0; i < 100; i++)
		vsnic_engine(c);
	CHECK(c->est.doorbell_bad == 1 && tot().tx_packets == 0 && db_rd(0, VSNIC_DB_TX_HEAD) == 0);
	db_wr(0, VSNIC_DB_TX_TAIL, 0xfffffff0u); /* "behind" the head: as far ahead */
	vsnic_engine(c);
	CHECK(c->est.doorbell_bad == 2);
	/* Descriptors pointing outside memory, below the floor, with bad lengths, wrapping. */
	const struct {
		uint64_t addr;
		uint16_t len;
	} bad[] = {{MEM - 10, 60}, {0x100, 60}, {TXB, 0}, {TXB, 13}, {TXB, 4000}, {~0ull - 20, 60}};
	unsigned nbad = sizeof(bad) / sizeof(bad[0]);
	for (unsigned i = 0; i < nbad; i++)
		tx_desc(i, bad[i].addr, bad[i].len);
	db_wr(0, VSNIC_DB_TX_TAIL, nbad);
	vsnic_engine(c);
	CHECK(c->est.desc_bad == nbad && tot().tx_malformed == nbad && tot().tx_packets == 0);
	for (unsigned i = 0; i < nbad; i++)
		CHECK(desc_flags(TXR, i) == (VSNIC_DESC_DONE | VSNIC_DESC_ERR));
	/* rx buffers outside memory or too small. */
	uint64_t a = MEM - 8;
	memcpy(ram + RXR, &a, 8);
	memcpy(ram + RXR + 16 + 8, &(uint16_t){20}, 2);
	db_wr(0, VSNIC_DB_RX_TAIL, 2);
	uint8_t f[64];
	uint32_t len = frame(f, (const uint8_t *)"\xff\xff\xff\xff\xff\xff");
	vsnic_rx(c, f, len);
	vsnic_rx(c, f, len);
	CHECK(c->est.desc_bad == nbad + 1 && c->est.rx_too_small == 1 && tot().rx_packets == 0);
	CHECK(desc_flags(RXR, 0) == (VSNIC_DESC_DONE | VSNIC_DESC_ERR));
	teardown();
}

static volatile bool scribbling;

static void *scribbler(void *arg)
{
	uint32_t x = 12345, *db = arg;
	while (__atomic_load_n(&scribbling, __ATOMIC_RELAXED)) {
		x = x * 1103515245u + 12345u;
		db[(x >> 8) % 7] = x; /* tails, heads, IRQ_ARM, ENGINE_IDLE, TX_IRQ_AT */
	}
	return NULL;
}

TEST(sriov_engine_survives_a_guest_scribbling_on_the_doorbell_page)
{
	setup();
	enable_vfs(1);
	rings_up(0);
	/* Descriptors full of garbage too. */
	for (unsigned i = 0; i < 8; i++)
		memset(ram + TXR + 16 * i, 0xa5 ^ (int)i, 16);
	pthread_t t;
	scribbling = true;
	REQUIRE(pthread_create(&t, NULL, scribbler, c->vf[0].db) == 0);
	uint8_t f[64];
	uint32_t len = frame(f, (const uint8_t *)"\xff\xff\xff\xff\xff\xff");
	for (int i = 0; i < 200000; i++) {
		vsnic_engine(c);
		if (!(i % 64))
			vsnic_rx(c, f, len);
		if (!(i % 1024))
			netside.be->ops->poll(netside.be, false, 0);
	}
	__atomic_store_n(&scribbling, false, __ATOMIC_RELAXED);
	pthread_join(t, NULL);
	/* It ran, it counted what it refused, and every write stayed inside guest memory (the
	 * guard pages would have faulted). */
	CHECK(c->est.engine_turns == 200000);
	CHECK(c->est.doorbell_bad > 0);
	CHECK(tot().tx_packets + tot().tx_malformed + tot().tx_dropped <= 200000ull * 8);
	teardown();
}

/* The engine sleeps only when no tail moved after it raised ENGINE_IDLE; a driver that posts
 * then sees the flag and rings WAKE, which (without KVM's ioeventfd) traps and is counted as
 * the card's wake-up; a turn of the engine lowers the flag again. */
TEST(sriov_engine_sleeps_only_with_nothing_posted_and_is_woken_by_wake)
{
	setup();
	enable_vfs(1);
	rings_up(0);
	CHECK(c->watching); /* the WAKE eventfd is watched: sleeping is allowed */
	CHECK(vsnic_idle(c) && db_rd(0, VSNIC_DB_ENGINE_IDLE) == 1 && c->est.engine_sleeps == 1);
	/* A tail posted before the last look: no sleep, and the flag is down again. */
	tx_desc(0, TXB, 60);
	db_wr(0, VSNIC_DB_TX_TAIL, 1);
	CHECK(!vsnic_idle(c) && db_rd(0, VSNIC_DB_ENGINE_IDLE) == 0 && c->est.engine_sleeps == 1);
	CHECK(vsnic_engine(c) && db_rd(0, VSNIC_DB_TX_HEAD) == 1);
	/* Asleep, a driver posts, sees the flag and rings: the write traps here (no KVM). */
	CHECK(vsnic_idle(c));
	tx_desc(1, TXB, 60);
	db_wr(0, VSNIC_DB_TX_TAIL, 2);
	CHECK(db_rd(0, VSNIC_DB_ENGINE_IDLE) == 1);
	uint64_t traps = c->traps[VSNIC_TRAP_VF_WAKE];
	vf_wr(0, VSNIC_VF_WAKE, 1);
	CHECK(c->traps[VSNIC_TRAP_VF_WAKE] == traps + 1);
	CHECK(vf_rd(0, VSNIC_VF_WAKE) == 0); /* write-only: reads 0 */
	/* The poller's next turn: the flag comes down and the frame goes out. */
	CHECK(vsnic_engine(c) && db_rd(0, VSNIC_DB_ENGINE_IDLE) == 0 &&
	      db_rd(0, VSNIC_DB_TX_HEAD) == 2);
	/* A trapped wake is no ioeventfd signal: notify_events stays what KVM completed. */
	struct nic_readout ro;
	memset(&ro, 0, sizeof(ro));
	nic_model_vf.read(&c->nic, &ro);
	CHECK(ro.total.notify_events == 0);
	teardown();
}

/* VF n's rings elsewhere than rings_up's: tx at txr, rx at rxr with its buffers at rxb. */
static void rings_at(unsigned n, uint32_t txr, uint32_t rxr, uint32_t rxb, unsigned size)
{
	vf_wr(n, VSNIC_VF_TX_BASE_LO, txr);
	vf_wr(n, VSNIC_VF_TX_BASE_HI, 0);
	vf_wr(n, VSNIC_VF_TX_SIZE, size);
	vf_wr(n, VSNIC_VF_RX_BASE_LO, rxr);
	vf_wr(n, VSNIC_VF_RX_BASE_HI, 0);
	vf_wr(n, VSNIC_VF_RX_SIZE, size);
	for (unsigned i = 0; i < size; i++) {
		uint64_t a = rxb + 2048ull * i;
		memcpy(ram + rxr + 16 * i, &a, 8);
		memcpy(ram + rxr + 16 * i + 8, &(uint16_t){2048}, 2);
	}
	vf_wr(n, VSNIC_VF_CTRL, VSNIC_CTRL_ENABLE);
}

/* The arbiter takes a frame of each VF in turn: VF 0's one frame, posted behind VF 1's burst of
 * six, is the second frame out of the turn, not the seventh. Both send to VF 2 (inside the card,
 * its VEB), whose rx ring shows the order. */
TEST(sriov_engine_takes_a_frame_of_each_vf_in_turn)
{
	setup();
	enable_vfs(3);
	rings_at(0, 0x10000, 0x11000, 0x80000, 8);
	rings_at(1, 0x12000, 0x13000, 0x90000, 8);
	rings_at(2, 0x14000, 0x15000, 0xa0000, 16);
	CHECK(c->vf[0].ready && c->vf[1].ready && c->vf[2].ready);
	db_wr(2, VSNIC_DB_RX_TAIL, 16);
	vsnic_engine(c); /* nothing posted: the next turn starts at VF 1 */
	static const uint8_t vf2[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x58};
	for (unsigned n = 0; n < 2; n++) {
		unsigned frames = n ? 6 : 1;
		uint32_t txr = n ? 0x12000 : 0x10000, buf = n ? 0x30000 : 0x20000;
		for (unsigned i = 0; i < frames; i++) {
			uint8_t *f = ram + buf + 2048 * i;
			frame(f, vf2);
			f[11] = (uint8_t)(0x10 + n); /* the sender, in its source MAC */
			uint64_t a = buf + 2048ull * i;
			memset(ram + txr + 16 * i, 0, 16);
			memcpy(ram + txr + 16 * i, &a, 8);
			memcpy(ram + txr + 16 * i + 8, &(uint16_t){60}, 2);
		}
		db_wr(n, VSNIC_DB_TX_TAIL, frames);
	}
	CHECK(vsnic_engine(c) == 7);
	CHECK(db_rd(0, VSNIC_DB_TX_HEAD) == 1 && db_rd(1, VSNIC_DB_TX_HEAD) == 6);
	CHECK(db_rd(2, VSNIC_DB_RX_HEAD) == 7 && c->est.veb_frames == 7);
	unsigned at = 0;
	for (unsigned i = 0; i < 7; i++)
		if (ram[0xa0000 + 2048 * i + 11] == 0x10)
			at = i + 1;
	CHECKF(at == 2, "VF 0's frame came out %u of 7", at);
	CHECK(ram[0xa0000 + 11] == 0x11); /* the turn began with VF 1 */
	teardown();
}
