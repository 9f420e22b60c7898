/* libFuzzer: the virtio-pci transport (common configuration, ISR, device configuration, notify,
 * MSI-X table and PBA) and the PCI configuration space in front of it (ECAM and 0xCF8/0xCFC),
 * with a bridge on the bus so type-1 headers and bus numbers are in reach. */
#include <stdlib.h>

#include "tests/fuzz/fuzz.h"
#include "vmm/iobus.h"
#include "vmm/pci.h"
#include "vmm/virtio/virtio_pci.h"

static void read_config(void *dev, uint32_t off, void *data, uint32_t len) { memset(data, 0x11, len); }
static int activate(void *dev, uint64_t features) { return 0; }

static const struct virtio_device_ops ops = {
	.device_id = 1, .nr_queues = 2, .queue_max = 256, .features = 1ull << 5, .config_size = 8,
	.read_config = read_config, .activate = activate,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct iobus io;
	static struct pci_bus bus;
	static struct irq_router irq;
	static struct virtio_pci vp;
	static struct pci_dev bridge;
	struct fuzz_in in = {data, size};
	struct guest_mem mem = fuzz_mem();
	memset(&io, 0, sizeof(io));
	if (pci_bus_init(&bus, &io, -1) || pci_bridge_init(&bridge, "port", 0x1b36, 0x000c))
		abort();
	irq_router_init(&irq, -1, false);
	if (virtio_pci_init(&vp, &ops, NULL, &mem, &irq, -1) ||
	    pci_bus_plug(&bus, &bridge, NULL, PCI_DEVFN(1, 0)) ||
	    pci_bus_plug(&bus, &vp.pci, NULL, PCI_DEVFN(2, 0)))
		abort();
	fuzz_fill(&in, &mem, 4);
	for (unsigned i = 0; i < 512 && in.n; i++) {
		uint8_t op = (uint8_t)fuzz_take(&in, 1);
		uint64_t v = fuzz_take(&in, 8), addr;
		uint32_t len = 1u << ((op >> 2) & 3);
		bool write = op & 1;
		switch ((op >> 4) & 3) {
		case 0: /* the BAR */
			addr = PCI_MMIO_BASE + fuzz_take(&in, 2) % VP_BAR_SIZE;
			iobus_dispatch(&io, IO_MMIO, addr, &v, len, write);
			break;
		case 1: /* ECAM, any bus */
			addr = PCI_ECAM_BASE + fuzz_take(&in, 3) % PCI_ECAM_SIZE;
			iobus_dispatch(&io, IO_MMIO, addr, &v, len, write);
			break;
		case 2: /* 0xCF8 / 0xCFC */
			addr = (op & 2) ? 0xcfc + (fuzz_take(&in, 1) & 3) : 0xcf8;
			iobus_dispatch(&io, IO_PIO, addr, &v, len, write);
			break;
		default: /* the device side: interrupts the transport may send */
			virtio_pci_notify(&vp, (unsigned)v & 3);
		}
	}
	pci_bus_unplug(&bus, &vp.pci);
	pci_bus_unplug(&bus, &bridge);
	virtio_pci_exit(&vp);
	pci_dev_exit(&bridge);
	irq_router_exit(&irq);
	return 0;
}
