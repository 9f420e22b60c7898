/* The `exits` workload's targets: a port and an MMIO page the VMM serves, and one of each that an
 * ioeventfd completes inside KVM (or inside the translated CPU). */
#ifndef VMSCOPE_EXITDEV_H
#define VMSCOPE_EXITDEV_H
#include "vmm/accel.h"
#include "vmm/iobus.h"
#include "vmm/vmm.h"

struct exitdev {
	int pio_efd, mmio_efd;
	struct vmm_counters *cnt;
};

int exitdev_init(struct exitdev *d, const struct accel *accel, struct iobus *bus,
		 struct vmm_counters *cnt);
/* Folds the eventfd counts into the counters (non-blocking). */
void exitdev_poll(struct exitdev *d);
void exitdev_exit(struct exitdev *d, const struct accel *accel);

#endif
