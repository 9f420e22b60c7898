/* Port I/O and MMIO dispatch. */
#include "vmm/iobus.h"

#include <errno.h>
#include <string.h>

int iobus_register(struct iobus *bus, enum io_space space, uint64_t base, uint64_t len,
		   io_handler_fn fn, void *opaque)
{
	if (!len || base + len < base)
		return -EINVAL;
	for (unsigned i = 0; i < bus->nr; i++) {
		const struct io_range *r = &bus->ranges[i];
		if (r->space == space && base < r->base + r->len && r->base < base + len)
			return -EBUSY;
	}
	if (bus->nr == IOBUS_MAX_RANGES)
		return -ENOSPC;
	bus->ranges[bus->nr++] = (struct io_range){space, base, len, fn, opaque};
	return 0;
}

int iobus_unregister(struct iobus *bus, enum io_space space, uint64_t base)
{
	for (unsigned i = 0; i < bus->nr; i++)
		if (bus->ranges[i].space == space && bus->ranges[i].base == base) {
			bus->ranges[i] = bus->ranges[--bus->nr];
			return 0;
		}
	return -ENOENT;
}

int iobus_dispatch(struct iobus *bus, enum io_space space, uint64_t addr, void *data, uint32_t len,
		   bool is_write)
{
	for (unsigned i = 0; i < bus->nr; i++) {
		const struct io_range *r = &bus->ranges[i];
		if (r->space == space && addr >= r->base && addr - r->base < r->len)
			return r->fn(addr - r->base, data, len, is_write, r->opaque);
	}
	if (!is_write)
		memset(data, 0xff, len);
	return -ENOENT;
}
