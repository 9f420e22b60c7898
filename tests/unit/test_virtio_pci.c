/* The virtio-pci transport, driven the way a driver drives it: through PCI config space and
 * BAR0 on the I/O bus. Interrupts are counted on the router's eventfds (real ones, no KVM). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/harness.h"
#include "vmm/virtio/virtio_pci.h"

#define MEM 0x20000
static uint8_t *ram;
static struct guest_mem mem;
static struct iobus io;
static struct pci_bus bus;
static struct irq_router irq;
static struct virtio_pci vp;
static unsigned activated, resets, notified = ~0u;
static uint64_t active_features;
static uint64_t bar;

static void cfg_read(void *dev, uint32_t off, void *data, uint32_t len)
{
	static const uint8_t config[8] = {0x52, 0x54, 0, 0x12, 0x34, 0x56, 1, 0};
	memcpy(data, config + off, len);
}
static int activate(void *dev, uint64_t f)
{
	activated++;
	active_features = f;
	return 0;
}
static void dev_reset(void *dev)
{
	resets++;
}
static void notify(void *dev, unsigned q)
{
	notified = q;
}

static const struct virtio_device_ops test_ops = {
    .device_id = 1,
    .nr_queues = 2,
    .queue_max = 256,
    .features = 1ull << 5, /* MAC */
    .config_size = 8,
    .read_config = cfg_read,
    .activate = activate,
    .reset = dev_reset,
    .notify = notify,
};

static uint64_t rd(uint64_t off, uint32_t len)
{
	uint64_t v = 0;
	iobus_dispatch(&io, IO_MMIO, bar + off, &v, len, false);
	return v;
}
static void wr(uint64_t off, uint64_t v, uint32_t len)
{
	iobus_dispatch(&io, IO_MMIO, bar + off, &v, len, true);
}
static uint32_t cfg(uint32_t off, uint32_t len)
{
	uint32_t v = 0;
	pci_cfg_read(&bus, 0, PCI_DEVFN(2, 0), off, &v, len);
	return v;
}
static void cfg_wr(uint32_t off, uint32_t v, uint32_t len)
{
	pci_cfg_write(&bus, 0, PCI_DEVFN(2, 0), off, &v, len);
}

static uint64_t irqs(unsigned vector)
{
	uint64_t n = 0;
	if (read(irq_eventfd(&irq, vp.msix.gsi[vector]), &n, 8) != 8)
		n = 0;
	return n;
}

static void setup(void)
{
	free(ram);
	ram = calloc(1, MEM);
	mem = (struct guest_mem){ram, MEM, 0};
	memset(&io, 0, sizeof(io));
	REQUIRE(pci_bus_init(&bus, &io, NULL) == 0);
	irq_router_init(&irq, -1, false);
	REQUIRE(virtio_pci_init(&vp, &test_ops, NULL, &mem, &irq, NULL) == 0);
	REQUIRE(pci_bus_plug(&bus, &vp.pci, NULL, PCI_DEVFN(2, 0)) == 0);
	bar = cfg(PCI_BAR0, 4) & ~0xfu;
	activated = resets = 0;
	notified = ~0u;
}

static void teardown(void)
{
	pci_bus_unplug(&bus, &vp.pci);
	virtio_pci_exit(&vp);
	irq_router_exit(&irq);
}

/* 3.1.1, steps 1-8, with one queue at GPA 0x1000/0x2000/0x3000. */
static void driver_init(uint32_t features_lo, uint32_t features_hi)
{
	wr(VPC_STATUS, 0, 1);
	wr(VPC_STATUS, VIRTIO_STATUS_ACKNOWLEDGE, 1);
	wr(VPC_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, 1);
	wr(VPC_GFSELECT, 0, 4);
	wr(VPC_GF, features_lo, 4);
	wr(VPC_GFSELECT, 1, 4);
	wr(VPC_GF, features_hi, 4);
	wr(VPC_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK,
	   1);
}

static void queue_setup(uint16_t q, uint16_t size, uint64_t desc, uint16_t vector)
{
	wr(VPC_Q_SELECT, q, 2);
	wr(VPC_Q_SIZE, size, 2);
	wr(VPC_Q_DESC, (uint32_t)desc, 4);
	wr(VPC_Q_DESC + 4, desc >> 32, 4);
	wr(VPC_Q_AVAIL, desc + 0x1000, 8);
	wr(VPC_Q_USED, desc + 0x2000, 8);
	wr(VPC_Q_MSIX, vector, 2);
	wr(VPC_Q_ENABLE, 1, 2);
}

TEST(virtio_pci_is_discoverable_through_its_capabilities)
{
	setup();
	CHECK(cfg(0, 4) == 0x10411af4 && (cfg(PCI_CLASS_REV, 4) & 0xff) == 1);
	unsigned seen = 0, msix = 0;
	for (uint32_t c = cfg(PCI_CAP_PTR, 1); c; c = cfg(c + 1, 1)) {
		if (cfg(c, 1) == 0x09) {
			uint32_t type = cfg(c + 3, 1), off = cfg(c + 8, 4), len = cfg(c + 12, 4);
			CHECK(cfg(c + 4, 1) == 0); /* BAR0 */
			seen |= 1u << type;
			if (type == 1)
				CHECK(off == VP_COMMON && len == VPC_SIZE);
			if (type == 2)
				CHECK(off == VP_NOTIFY && cfg(c + 16, 4) == VP_NOTIFY_MULT &&
				      cfg(c + 2, 1) == 20);
			if (type == 3)
				CHECK(off == VP_ISR);
			if (type == 4)
				CHECK(off == VP_DEVICE && len == 8);
		} else if (cfg(c, 1) == 0x11) {
			msix = c;
		}
	}
	CHECK(seen == 0x1e);
	CHECK(msix && (cfg(msix + 2, 2) & 0x7ff) == VP_MSIX_VECTORS - 1);
	CHECK(cfg(msix + 4, 4) == VP_MSIX_TABLE && cfg(msix + 8, 4) == VP_MSIX_PBA);
	teardown();
}

TEST(virtio_pci_driver_initialization_sequence)
{
	setup();
	wr(VPC_DFSELECT, 0, 4);
	uint64_t f = rd(VPC_DF, 4);
	wr(VPC_DFSELECT, 1, 4);
	f |= rd(VPC_DF, 4) << 32;
	CHECK(f == (1ull << 5 | 1ull << VIRTIO_F_EVENT_IDX | 1ull << VIRTIO_F_VERSION_1));
	CHECK(rd(VPC_NUM_QUEUES, 2) == 2);
	driver_init(1u << 5 | 1u << VIRTIO_F_EVENT_IDX, 1);
	CHECK(rd(VPC_STATUS, 1) & VIRTIO_STATUS_FEATURES_OK);
	wr(VPC_Q_SELECT, 0, 2);
	CHECK(rd(VPC_Q_SIZE, 2) == 256 && rd(VPC_Q_NOFF, 2) == 0);
	queue_setup(0, 64, 0x1000, 0);
	queue_setup(1, 64, 0x8000, 1);
	CHECK(rd(VPC_Q_ENABLE, 2) == 1 && rd(VPC_Q_DESC + 4, 4) == 0 &&
	      rd(VPC_Q_USED, 8) == 0xa000);
	CHECK(vp.vq[0].ready && vp.vq[0].size == 64 && vp.vq[0].event_idx);
	wr(VPC_STATUS, 0xf & ~0, 1);
	wr(VPC_STATUS,
	   VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
	       VIRTIO_STATUS_DRIVER_OK,
	   1);
	CHECK(activated == 1 &&
	      active_features == (1ull << 5 | 1ull << VIRTIO_F_EVENT_IDX | 1ull << 32));
	CHECK(rd(VP_DEVICE, 4) == 0x12005452 && rd(VP_DEVICE + 4, 2) == 0x5634);
	/* After DRIVER_OK the rings cannot move. */
	wr(VPC_Q_SELECT, 0, 2);
	wr(VPC_Q_DESC, 0x5000, 8);
	CHECK(rd(VPC_Q_DESC, 8) == 0x1000);
	wr(VP_NOTIFY + VP_NOTIFY_MULT, 1, 2); /* no ioeventfd without KVM: the slow path */
	CHECK(notified == 1 && vp.st.notify_traps == 1);
	wr(VPC_STATUS, 0, 1);
	CHECK(resets >= 1 && rd(VPC_STATUS, 1) == 0 && !vp.vq[0].ready);
	teardown();
}

TEST(virtio_pci_refuses_feature_sets_it_cannot_honour)
{
	setup();
	driver_init(1u << 5, 0); /* no VERSION_1 */
	CHECK(!(rd(VPC_STATUS, 1) & VIRTIO_STATUS_FEATURES_OK));
	driver_init(1u << 5 | 1u << 7, 1); /* bit 7 was never offered */
	CHECK(!(rd(VPC_STATUS, 1) & VIRTIO_STATUS_FEATURES_OK));
	CHECK(vp.st.bad_features == 2);
	/* DRIVER_OK without FEATURES_OK is refused too. */
	wr(VPC_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_DRIVER_OK,
	   1);
	CHECK(activated == 0 && !(rd(VPC_STATUS, 1) & VIRTIO_STATUS_DRIVER_OK));
	teardown();
}

TEST(virtio_pci_bad_queue_configuration_needs_reset)
{
	setup();
	driver_init(0, 1);
	wr(VPC_Q_SELECT, 0, 2);
	wr(VPC_Q_SIZE, 48, 2);	/* not a power of 2: ignored */
	wr(VPC_Q_SIZE, 512, 2); /* above the maximum: ignored */
	CHECK(rd(VPC_Q_SIZE, 2) == 256 && vp.st.bad_access == 2);
	wr(VPC_Q_SELECT, 7, 2); /* no such queue: reads as size 0 */
	CHECK(rd(VPC_Q_SIZE, 2) == 0);
	queue_setup(0, 64, MEM - 0x800, 0); /* rings past the end of guest memory */
	CHECK(rd(VPC_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET);
	CHECK(vp.st.bad_queue == 1 && !vp.vq[0].ready);
	CHECK(rd(VP_ISR, 1) == 2 && rd(VP_ISR, 1) == 0); /* config change, cleared by the read */
	wr(VPC_STATUS, 0, 1);
	CHECK(!(rd(VPC_STATUS, 1) & VIRTIO_STATUS_NEEDS_RESET));
	teardown();
}

TEST(virtio_pci_msix_masking_pending_and_delivery)
{
	setup();
	driver_init(0, 1);
	queue_setup(0, 8, 0x1000, 0);
	wr(VPC_STATUS, 0xf, 1);
	vp.vq[0].ready = true;
	vq_push(&vp.vq[0], 0, 0);
	virtio_pci_signal(&vp, 0); /* MSI-X still disabled: only the ISR */
	CHECK(irqs(0) == 0 && rd(VP_ISR, 1) == 1);

	uint32_t ctl = (uint32_t)vp.msix.cap + 2;
	cfg_wr(ctl, 0x8000, 2); /* enable */
	wr(VP_MSIX_TABLE + 0, 0xfee00000, 4);
	wr(VP_MSIX_TABLE + 8, 0x41, 4);
	CHECK(rd(VP_MSIX_TABLE + 12, 4) == 1); /* still masked */
	vq_push(&vp.vq[0], 0, 0);
	virtio_pci_signal(&vp, 0);
	CHECK(irqs(0) == 0 && rd(VP_MSIX_PBA, 4) == 1);
	wr(VP_MSIX_TABLE + 12, 0, 4); /* unmask: the pending message goes out */
	CHECK(irqs(0) == 1 && rd(VP_MSIX_PBA, 4) == 0);
	vq_push(&vp.vq[0], 0, 0);
	virtio_pci_signal(&vp, 0);
	CHECK(irqs(0) == 1 && vp.msix.sent == 2);
	cfg_wr(ctl, 0xc000, 2); /* function mask */
	vq_push(&vp.vq[0], 0, 0);
	virtio_pci_signal(&vp, 0);
	CHECK(irqs(0) == 0 && rd(VP_MSIX_PBA, 4) == 1);
	cfg_wr(ctl, 0x8000, 2);
	CHECK(irqs(0) == 1);
	wr(VP_MSIX_PBA, 0, 4); /* read-only */
	CHECK(vp.msix.bad == 1);
	teardown();
}

/* A driver writes an MSI-X entry a dword at a time, most often with MSI-X still off: KVM's
 * routing table changes only when a route it holds changes, or joins or leaves it (each push is
 * an SRCU grace period on the vCPU thread, and a live switch's probe would stall on them). */
TEST(virtio_pci_msix_table_writes_push_kvm_routes_only_when_they_change)
{
	setup();
	uint32_t ctl = (uint32_t)vp.msix.cap + 2;
	uint64_t t0 = irq.tables;
	for (unsigned v = 0; v < 3; v++) {
		wr(VP_MSIX_TABLE + 16 * v + 0, 0xfee00000, 4);
		wr(VP_MSIX_TABLE + 16 * v + 4, 0, 4);
		wr(VP_MSIX_TABLE + 16 * v + 8, 0x40 + v, 4);
		wr(VP_MSIX_TABLE + 16 * v + 12, 0, 4);
	}
	CHECK(irq.tables == t0); /* MSI-X off: no route is in KVM's table */
	cfg_wr(ctl, 0x8000, 2);
	CHECK(irq.tables == t0 + 3);	/* three routes join it */
	wr(VP_MSIX_TABLE + 8, 0x40, 4); /* the same message again */
	cfg_wr(ctl, 0x8000, 2);
	CHECK(irq.tables == t0 + 3);
	wr(VP_MSIX_TABLE + 8, 0x50, 4); /* a new one */
	CHECK(irq.tables == t0 + 4);
	teardown();
}

TEST(virtio_pci_survives_garbage_everywhere_in_its_bar)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;
	setup();
	for (int i = 0; i < 200000; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		uint32_t len = 1u << (x & 3), off = (uint32_t)(x >> 8) % VP_BAR_SIZE;
		uint64_t v = x * 0x2545f4914f6cdd1dull;
		if (x & 0x10)
			wr(off, v, len);
		else
			(void)rd(off, len);
		if ((x & 0xff) == 0)
			cfg_wr((uint32_t)(x >> 20) % 256 & ~3u, (uint32_t)v, 4);
	}
	CHECK(vp.st.bad_access > 0);
	CHECK(cfg(0, 4) == 0x10411af4);	    /* identity intact */
	cfg_wr(PCI_BAR0, (uint32_t)bar, 4); /* the storm may have moved or disabled BAR0 */
	cfg_wr(PCI_COMMAND, PCI_CMD_MEM, 2);
	wr(VPC_STATUS, 0, 1);
	CHECK(rd(VPC_STATUS, 1) == 0);
	teardown();
	free(ram);
	ram = NULL;
}
