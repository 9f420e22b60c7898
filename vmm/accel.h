/* What the devices ask of whatever runs the guest (KVM, or the translated CPU): a guest write
 * completed by signalling an eventfd, with no exit to the VMM's dispatch (KVM_IOEVENTFD), and
 * host memory mapped as guest RAM, so accesses never trap (a memory slot). The backend fills
 * the ops (vmm/cpu.h); a NULL accel (unit tests, fuzzers) has neither: every access traps and
 * the devices serve it themselves. */
#ifndef VMSCOPE_ACCEL_H
#define VMSCOPE_ACCEL_H
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmm/iobus.h"

#define ACCEL_RAM_SLOTS 32 /* RAM mappings besides guest memory (RAM-backed BARs) */

struct accel {
	void *opaque;
	/* Binds fd to guest writes of len bytes at addr in space (assign), or unbinds it: 0 when
	 * done, -errno; an unbind may also give 1: the backend finishes it on a thread of its own
	 * (KVM waits for a grace period, vmm/cpu_kvm.c) and counts it then. */
	int (*ioeventfd)(void *opaque, enum io_space space, uint64_t addr, uint32_t len, int fd,
			 bool assign);
	/* Maps size bytes at host ptr as guest RAM at gpa in slot (< ACCEL_RAM_SLOTS); gpa 0
	 * takes the slot's mapping away. */
	int (*map_ram)(void *opaque, unsigned slot, uint64_t gpa, uint64_t size, void *ptr);
	/* Lets guest writes of len bytes at addr queue up instead of exiting (KVM's coalesced PIO
	 * and MMIO): the device sees them in order, later, at the next exit or poll. */
	int (*coalesce)(void *opaque, enum io_space space, uint64_t addr, uint32_t len);
};

/* The ioeventfds bound now, over every VM of the process (leak checks). */
int accel_ioeventfds_bound(void);
void accel_ioeventfds_count(int delta);

static inline int accel_ioeventfd(const struct accel *a, enum io_space space, uint64_t addr,
				  uint32_t len, int fd, bool assign)
{
	if (!a || !a->ioeventfd)
		return -ENODEV;
	int r = a->ioeventfd(a->opaque, space, addr, len, fd, assign);
	if (!r)
		accel_ioeventfds_count(assign ? 1 : -1);
	return r;
}

static inline int accel_map_ram(const struct accel *a, unsigned slot, uint64_t gpa, uint64_t size,
				void *ptr)
{
	if (!a || !a->map_ram)
		return -ENODEV;
	return a->map_ram(a->opaque, slot, gpa, size, ptr);
}

static inline int accel_coalesce(const struct accel *a, enum io_space space, uint64_t addr,
				 uint32_t len)
{
	if (!a || !a->coalesce)
		return -ENODEV;
	return a->coalesce(a->opaque, space, addr, len);
}

#endif
