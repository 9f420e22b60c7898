/* libFuzzer: the virtio-pci transport (common configuration, ISR, device configuration, notify,
 * MSI-X table and PBA) and the PCI configuration space in front of it (ECAM and 0xCF8/0xCFC),
 * with the card behind a PCIe root port, as the live switch has it: the port's type-1 header,
 * bus numbers, Slot Control and Status (write 1 to clear), its MSI, and the card hot-added and
 * removed under the guest's accesses. */
#include <stdlib.h>

#include "tests/fuzz/fuzz.h"
#include "vmm/iobus.h"
#include "vmm/pci/pci.h"
#include "vmm/pci/pcie_port.h"
#include "vmm/virtio/virtio_pci.h"

static void read_config(void *dev, uint32_t off, void *data, uint32_t len)
{
	memset(data, 0x11, len);
}
static int activate(void *dev, uint64_t features)
{
	return 0;
}

static const struct virtio_device_ops ops = {
    .device_id = 1,
    .nr_queues = 2,
    .queue_max = 256,
    .features = 1ull << 5,
    .config_size = 8,
    .read_config = read_config,
    .activate = activate,
};

#define PORT_SLOT 4
#define PORT_BUS  1

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct iobus io;
	static struct pci_bus bus;
	static struct irq_router irq;
	static struct virtio_pci vp;
	static struct pcie_port port;
	struct fuzz_in in = {data, size};
	struct guest_mem mem = fuzz_mem();
	memset(&io, 0, sizeof(io));
	memset(&vp, 0, sizeof(vp));
	irq_router_init(&irq, -1, false);
	if (pci_bus_init(&bus, &io, NULL) ||
	    pcie_port_init(&port, "port", PORT_SLOT, PORT_BUS, &irq) ||
	    pci_bus_plug(&bus, &port.dev, NULL, PCI_DEVFN(PORT_SLOT, 0)))
		abort();
	if (virtio_pci_init(&vp, &ops, NULL, &mem, &irq, NULL) ||
	    pcie_port_plug(&port, &vp.pci, false))
		abort();
	fuzz_fill(&in, &mem, 4);
	for (unsigned i = 0; i < 512 && in.n; i++) {
		uint8_t op = (uint8_t)fuzz_take(&in, 1);
		uint64_t v = fuzz_take(&in, 8), addr;
		uint32_t len = 1u << ((op >> 2) & 3);
		bool write = op & 1;
		switch ((op >> 4) & 3) {
		case 0: /* the card's BAR where the guest last put it (or near: unmapped space) */
			addr = (vp.pci.bar[0].mapped_at ? vp.pci.bar[0].mapped_at : PCI_MMIO_BASE) +
			       fuzz_take(&in, 3) % (2 * VP_BAR_SIZE);
			iobus_dispatch(&io, IO_MMIO, addr, &v, len, write);
			break;
		case 1: /* ECAM, any bus: the port's header and slot registers, the card's */
			addr = PCI_ECAM_BASE + fuzz_take(&in, 3) % PCI_ECAM_SIZE;
			iobus_dispatch(&io, IO_MMIO, addr, &v, len, write);
			break;
		case 2: /* 0xCF8 / 0xCFC */
			addr = (op & 2) ? 0xcfc + (fuzz_take(&in, 1) & 3) : 0xcf8;
			iobus_dispatch(&io, IO_PIO, addr, &v, len, write);
			break;
		default: /* the host side: interrupts the transport sends, the card leaving and
			    coming */
			switch (v & 3) {
			case 0: virtio_pci_signal(&vp, (unsigned)(v >> 8) & 3); break;
			case 1: pcie_port_unplug(&port, v & 4); break;
			default:
				if (!port.child)
					pcie_port_plug(&port, &vp.pci, v & 4);
			}
		}
	}
	pcie_port_unplug(&port, false);
	pci_bus_unplug(&bus, &port.dev);
	virtio_pci_exit(&vp);
	pcie_port_exit(&port);
	irq_router_exit(&irq);
	return 0;
}
