/* libFuzzer: the SR-IOV NIC as a guest drives it. The input is guest memory (rings, descriptors)
 * and a sequence of PF config writes (the SR-IOV capability: NumVFs, VF Enable, VF MSE, the VF
 * BAR windows), PF and VF register accesses, doorbell-page writes, engine turns and received
 * frames. Nothing may touch outside guest memory, hang or crash. */
#include <stdlib.h>

#include "tests/devenv.h"
#include "tests/fuzz/fuzz.h"
#include "vmm/net/net.h"
#include "vmm/vsnic/vsnic.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct net net;
	static struct irq_router irq;
	static struct iobus io;
	static struct pci_bus bus;
	struct fuzz_in in = {data, size};
	struct guest_mem mem = fuzz_mem();
	const struct nic_env env = dev_env(&mem, &irq, &net);
	memset(&io, 0, sizeof(io));
	if (pci_bus_init(&bus, &io, NULL))
		abort();
	struct vsnic *c = calloc(1, sizeof(*c));
	c->nic = (struct nic){&nic_model_vf, &c->pf};
	if (vsnic_init(c, &env) || vsnic_start(c) ||
	    pci_bus_plug(&bus, &c->pf, NULL, PCI_DEVFN(3, 0)))
		abort();
	fuzz_fill(&in, &mem, 8);
	for (unsigned ops = 0; in.n && ops < 512; ops++) {
		uint8_t op = (uint8_t)fuzz_take(&in, 1);
		uint32_t off = (uint32_t)fuzz_take(&in, 2);
		uint64_t v = fuzz_take(&in, 4);
		uint32_t len = 1u << (op >> 6); /* 1, 2, 4, 8 */
		struct vsnic_vf *vf = &c->vf[(off >> 12) % VSNIC_TOTAL_VFS];
		switch (op & 7) {
		case 0: /* the SR-IOV capability, mostly */
			off = (uint32_t)c->sriov.cap + (off % PCI_SRIOV_SIZE);
			/* fallthrough */
		case 1:
			if (len > 4)
				len = 4;
			pci_cfg_write(&bus, 0, PCI_DEVFN(3, 0), (off % PCI_CFG_SIZE) & ~(len - 1),
				      &v, len);
			break;
		case 2: vsnic_pf_mmio(c, off % VSNIC_PF_BAR_SIZE, &v, len, op & 8); break;
		case 3:
			if (vf->present)
				vsnic_vf_mmio(vf, off % VSNIC_VF_BAR2_SIZE, &v, len, op & 8);
			break;
		case 4: /* the doorbell page is the guest's memory: anything, at any time */
			memcpy(vf->db + (off % (VSNIC_DB_SIZE - 8)), &v, 4);
			break;
		case 5: {
			uint8_t frame[2048];
			uint32_t n = fuzz_frame(&in, frame, sizeof(frame));
			vsnic_rx(c, frame, n);
			break;
		}
		case 6: /* a turn of the engine, or its going to sleep (ENGINE_IDLE, the last look)
			 */
			if (op & 8)
				vsnic_idle(c);
			else
				vsnic_engine(c);
			net.be->ops->poll(net.be, false, 0);
			break;
		default: fuzz_fill(&in, &mem, 1);
		}
	}
	pci_bus_unplug(&bus, &c->pf);
	vsnic_exit(c);
	free(c);
	irq_router_exit(&irq);
	return 0;
}
