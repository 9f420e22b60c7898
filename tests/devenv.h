/* What a NIC model stands on in unit tests and fuzz targets: an IRQ router without KVM, the
 * network side on the in-process loopback backend (made once, kept across tests and runs), and
 * the nic_env that points the model at them and at the caller's guest memory, with the guest's
 * MAC. Guest memory with guard pages is guarded.h's. */
#ifndef VMSCOPE_TESTS_DEVENV_H
#define VMSCOPE_TESTS_DEVENV_H
#include <stdlib.h>

#include "vmm/irq.h"
#include "vmm/net/net.h"
#include "vmm/nic.h"

static inline struct nic_env dev_env(struct guest_mem *mem, struct irq_router *irq, struct net *net)
{
	irq_router_init(irq, -1, false);
	if (!net->be && loopback_create(&net->be))
		abort();
	return (struct nic_env){.mem = mem,
				.irq = irq,
				.accel = NULL,
				.net = net,
				.mac = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56}};
}

#endif
